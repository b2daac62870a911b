/* Data losses: softmax cross-entropy over integer labels, mean squared error,
 * binary cross-entropy. */
#include <math.h>
#include <stdbool.h>

#include "bnn_train.h"

bnn_status bnn_softmax_cross_entropy(const float *logits, const int64_t *labels, int64_t n,
                                     int64_t k, float scale, double *loss, float *grad,
                                     bnn_diag *diag)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = logits + i * k;
        int64_t label = labels[i];
        if (label < 0 || label >= k)
            return bnn_fail(diag, BNN_ERR_INVALID, "label %lld of row %lld is outside [0, %lld)",
                            (long long)label, (long long)i, (long long)k);
        float max = row[0];
        for (int64_t j = 1; j < k; j++)
            max = row[j] > max ? row[j] : max;
        double sum = 0;
        for (int64_t j = 0; j < k; j++)
            sum += exp((double)row[j] - max);
        double log_sum = log(sum) + max;
        total += log_sum - row[label];
        if (grad) {
            /* d/dz of mean CE: (softmax - onehot) / n */
            float *g = grad + i * k;
            double f = (double)scale / (double)n;
            for (int64_t j = 0; j < k; j++)
                g[j] = (float)((exp((double)row[j] - log_sum) - (j == label)) * f);
        }
    }
    *loss = n ? total / (double)n : 0;
    return BNN_OK;
}

void bnn_mse(const float *pred, const float *target, int64_t n, int64_t k, float scale,
             double *loss, float *grad)
{
    double total = 0;
    int64_t count = n * k;
    for (int64_t i = 0; i < count; i++) {
        double d = (double)pred[i] - target[i];
        total += d * d;
        if (grad)
            grad[i] = (float)(2.0 * d * scale / (double)count);
    }
    *loss = count ? total / (double)count : 0;
}

bnn_status bnn_binary_cross_entropy(const float *in, const float *target, int64_t n,
                                    bool from_logits, float scale, double *loss, float *grad,
                                    bnn_diag *diag)
{
    const double lo = 1e-7, hi = 1 - 1e-7;
    double total = 0, f = n ? (double)scale / (double)n : 0;
    for (int64_t i = 0; i < n; i++) {
        double t = target[i], v = in[i];
        if (!(t >= 0 && t <= 1))
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "target %g of element %lld is not a probability in [0, 1]", t,
                            (long long)i);
        if (from_logits) {
            /* -(t log s(z) + (1-t) log(1-s(z))) = max(z,0) - z t + log(1 + e^-|z|) */
            total += (v > 0 ? v : 0) - v * t + log1p(exp(-fabs(v)));
            if (grad) {
                double s = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
                grad[i] = (float)((s - t) * f);
            }
        } else {
            bool clamped = !(v > lo && v < hi);
            double p = v > lo ? (v < hi ? v : hi) : lo;
            total -= t * log(p) + (1 - t) * log1p(-p);
            if (grad)
                grad[i] = clamped ? 0.0f : (float)((p - t) / (p * (1 - p)) * f);
        }
    }
    *loss = n ? total / (double)n : 0;
    return BNN_OK;
}
