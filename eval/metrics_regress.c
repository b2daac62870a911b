/* Regression metrics of a Monte-Carlo predictive with a Gaussian likelihood
 * (bnn_metrics.h; docs/uncertainty.md, "Regression"). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"

#define LOG_2PI 1.8378770664093454836

/* log N(y; m, v) */
static double log_normal(double y, double m, double v)
{
    double d = y - m;
    return -0.5 * (d * d / v + log(v) + LOG_2PI);
}

void bnn_regression_add(const float *outputs, int64_t samples, int64_t n, int64_t k,
                        const float *targets, const double *sigma, bool mixture,
                        float *epistemic_out, bnn_regression_sums *acc)
{
    /* central intervals' half-widths in standard deviations: Phi^-1(0.95)
     * and Phi^-1(0.975) */
    const double z90 = 1.6448536269514722, z95 = 1.9599639845400542;
    const int64_t stride = n * k; /* outputs[s][i][j] */
    mixture = mixture && sigma != NULL;
    double logs_buf[64];
    double *logs = mixture && samples > 64 ? malloc(sizeof(double) * (size_t)samples) : logs_buf;
    if (!logs) /* no room for the mixture's terms: the Gaussian of its moments */
        mixture = false, logs = logs_buf;
    for (int64_t i = 0; i < n; i++) {
        double ll_gauss = 0, epi_row = 0;
        for (int64_t j = 0; j < k; j++) {
            int64_t e = i * k + j;
            double sum = 0, sq = 0;
            for (int64_t s = 0; s < samples; s++)
                sum += outputs[s * stride + e];
            double m = sum / (double)samples;
            for (int64_t s = 0; s < samples; s++) {
                double d = outputs[s * stride + e] - m;
                sq += d * d;
            }
            double epi = sq / (double)samples, alea = sigma ? sigma[j] * sigma[j] : 0;
            double v = epi + alea, y = targets[e], d = y - m;
            acc->squared_error += d * d;
            acc->aleatoric += alea;
            acc->epistemic += epi;
            epi_row += epi;
            acc->inside90 += fabs(d) <= z90 * sqrt(v);
            acc->inside95 += fabs(d) <= z95 * sqrt(v);
            ll_gauss += v > 0 ? log_normal(y, m, v) : (d == 0 ? INFINITY : -INFINITY);
        }
        double ll = ll_gauss;
        if (mixture) {
            /* log (1/S) sum_s prod_j N(y_j; f_sj, s_j^2), by log-sum-exp */
            double top = -INFINITY;
            for (int64_t s = 0; s < samples; s++) {
                double l = 0;
                for (int64_t j = 0; j < k; j++)
                    l += log_normal(targets[i * k + j], outputs[s * stride + i * k + j],
                                    sigma[j] * sigma[j]);
                logs[s] = l;
                top = l > top ? l : top;
            }
            double sum = 0;
            for (int64_t s = 0; s < samples; s++)
                sum += exp(logs[s] - top);
            ll = top + log(sum) - log((double)samples);
        }
        if (isfinite(ll))
            acc->log_likelihood += ll;
        else
            acc->degenerate += 1;
        if (epistemic_out)
            epistemic_out[i] = (float)epi_row;
    }
    acc->examples += (double)n;
    acc->elements += (double)(n * k);
    if (logs != logs_buf)
        free(logs);
}

bnn_regression_metrics bnn_regression_finish(const bnn_regression_sums *acc)
{
    bnn_regression_metrics r;
    double e = acc->elements, n = acc->examples;
    r.rmse = e > 0 ? sqrt(acc->squared_error / e) : NAN;
    /* an example at zero variance has no density: no finite mean */
    r.log_likelihood = n > 0 && acc->degenerate == 0 ? acc->log_likelihood / n : NAN;
    r.aleatoric = e > 0 ? acc->aleatoric / e : NAN;
    r.epistemic = e > 0 ? acc->epistemic / e : NAN;
    r.coverage90 = e > 0 ? acc->inside90 / e : NAN;
    r.coverage95 = e > 0 ? acc->inside95 / e : NAN;
    return r;
}
