/* Uncertainty and calibration metrics (see bnn_metrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"

double bnn_entropy(const float *p, int64_t k)
{
    double h = 0;
    for (int64_t j = 0; j < k; j++)
        if (p[j] > 0)
            h -= (double)p[j] * log((double)p[j]);
    return h;
}

void bnn_predictive_stats(const float *probs, int64_t samples, int64_t n, int64_t k, float *mean,
                          float *total, float *aleatoric, float *epistemic)
{
    for (int64_t i = 0; i < n; i++) {
        float *m = mean + i * k;
        double expected = 0;
        for (int64_t j = 0; j < k; j++) {
            double sum = 0;
            for (int64_t s = 0; s < samples; s++)
                sum += probs[(s * n + i) * k + j];
            m[j] = (float)(sum / (double)samples);
        }
        for (int64_t s = 0; s < samples; s++)
            expected += bnn_entropy(probs + (s * n + i) * k, k);
        expected /= (double)samples;
        double h = bnn_entropy(m, k);
        if (total)
            total[i] = (float)h;
        if (aleatoric)
            aleatoric[i] = (float)expected;
        if (epistemic)
            epistemic[i] = (float)(h - expected > 0 ? h - expected : 0);
    }
}

static int64_t argmax(const float *p, int64_t k)
{
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

double bnn_accuracy(const float *probs, const int64_t *labels, int64_t n, int64_t k)
{
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++)
        right += argmax(probs + i * k, k) == labels[i];
    return n ? (double)right / (double)n : 0;
}

double bnn_nll(const float *probs, const int64_t *labels, int64_t n, int64_t k)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = probs[i * k + labels[i]];
        total -= log(p > 1e-12 ? p : 1e-12);
    }
    return n ? total / (double)n : 0;
}

double bnn_brier(const float *probs, const int64_t *labels, int64_t n, int64_t k)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            double d = (double)probs[i * k + j] - (j == labels[i]);
            total += d * d;
        }
    return n ? total / (double)n : 0;
}

double bnn_ece(const float *probs, const int64_t *labels, int64_t n, int64_t k, int bins,
               int64_t *bin_count, double *bin_accuracy, double *bin_confidence)
{
    int64_t *count = calloc((size_t)bins, sizeof(int64_t));
    double *correct = calloc((size_t)bins, sizeof(double));
    double *confidence = calloc((size_t)bins, sizeof(double));
    if (!count || !correct || !confidence) {
        free(count);
        free(correct);
        free(confidence);
        return NAN;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *p = probs + i * k;
        int64_t pred = argmax(p, k);
        double conf = p[pred];
        /* (b/bins, (b+1)/bins]: ceil(conf*bins) - 1, with 0 in the first bin */
        int b = (int)ceil(conf * bins) - 1;
        if (b < 0)
            b = 0;
        if (b >= bins)
            b = bins - 1;
        count[b]++;
        correct[b] += pred == labels[i];
        confidence[b] += conf;
    }
    double ece = 0;
    for (int b = 0; b < bins; b++) {
        double acc = count[b] ? correct[b] / (double)count[b] : 0;
        double conf = count[b] ? confidence[b] / (double)count[b] : 0;
        if (n)
            ece += (double)count[b] / (double)n * fabs(acc - conf);
        if (bin_count)
            bin_count[b] = count[b];
        if (bin_accuracy)
            bin_accuracy[b] = acc;
        if (bin_confidence)
            bin_confidence[b] = conf;
    }
    free(count);
    free(correct);
    free(confidence);
    return ece;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double bnn_auroc(const float *positive, int64_t n_positive, const float *negative,
                 int64_t n_negative)
{
    if (n_positive == 0 || n_negative == 0)
        return 0.5;
    /* Sort the negatives; for each positive count negatives below it and
     * ties, by binary search: O((P + N) log N). */
    float *neg = malloc(sizeof(float) * (size_t)n_negative);
    if (!neg)
        return NAN;
    memcpy(neg, negative, sizeof(float) * (size_t)n_negative);
    qsort(neg, (size_t)n_negative, sizeof(float), compare_float);
    double wins = 0;
    for (int64_t i = 0; i < n_positive; i++) {
        float s = positive[i];
        int64_t lo = 0, hi = n_negative; /* first index with neg >= s */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (neg[mid] < s) lo = mid + 1; else hi = mid;
        }
        int64_t below = lo;
        hi = n_negative; /* first index with neg > s */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (neg[mid] <= s) lo = mid + 1; else hi = mid;
        }
        wins += (double)below + 0.5 * (double)(lo - below);
    }
    free(neg);
    return wins / ((double)n_positive * (double)n_negative);
}

/* Log-probabilities below this are treated as this: float softmax underflows
 * to 0 for logit gaps beyond ~87, and log 0 would poison every T. */
#define TEMPER_LOG_FLOOR -80.0

double bnn_tempered_nll(const float *probs, const int64_t *labels, int64_t samples, int64_t n,
                        int64_t k, double temperature)
{
    double total = 0, inv_t = 1.0 / temperature;
    for (int64_t i = 0; i < n; i++) {
        double p_label = 0;
        for (int64_t s = 0; s < samples; s++) {
            const float *p = probs + ((size_t)s * (size_t)n + (size_t)i) * (size_t)k;
            /* softmax(log p / T) with the row's maximum subtracted */
            double zmax = -INFINITY, denom = 0, z_label = 0;
            for (int64_t j = 0; j < k; j++) {
                double z = p[j] > 0 ? fmax(log(p[j]), TEMPER_LOG_FLOOR) : TEMPER_LOG_FLOOR;
                zmax = fmax(zmax, z);
            }
            for (int64_t j = 0; j < k; j++) {
                double z = p[j] > 0 ? fmax(log(p[j]), TEMPER_LOG_FLOOR) : TEMPER_LOG_FLOOR;
                double e = exp((z - zmax) * inv_t);
                denom += e;
                if (j == labels[i])
                    z_label = e;
            }
            p_label += z_label / denom;
        }
        total += -log(fmax(p_label / (double)samples, 1e-12));
    }
    return n ? total / (double)n : 0.0;
}

double bnn_fit_temperature(const float *probs, const int64_t *labels, int64_t samples, int64_t n,
                           int64_t k)
{
    enum { GRID = 41 };
    const double lo = log(0.05), hi = log(20.0), step = (hi - lo) / (GRID - 1);
    int best = 0;
    double best_nll = INFINITY;
    for (int g = 0; g < GRID; g++) {
        double nll = bnn_tempered_nll(probs, labels, samples, n, k, exp(lo + step * g));
        if (nll < best_nll) {
            best_nll = nll;
            best = g;
        }
    }
    /* golden section on log T over the grid cell either side of the best point */
    const double ratio = 0.6180339887498949;
    double a = lo + step * (best > 0 ? best - 1 : 0);
    double b = lo + step * (best < GRID - 1 ? best + 1 : GRID - 1);
    double c = b - ratio * (b - a), d = a + ratio * (b - a);
    double fc = bnn_tempered_nll(probs, labels, samples, n, k, exp(c));
    double fd = bnn_tempered_nll(probs, labels, samples, n, k, exp(d));
    for (int it = 0; it < 30; it++) {
        if (fc < fd) {
            b = d; d = c; fd = fc;
            c = b - ratio * (b - a);
            fc = bnn_tempered_nll(probs, labels, samples, n, k, exp(c));
        } else {
            a = c; c = d; fc = fd;
            d = a + ratio * (b - a);
            fd = bnn_tempered_nll(probs, labels, samples, n, k, exp(d));
        }
    }
    double t = exp(0.5 * (a + b));
    /* never worse than the best grid point */
    return bnn_tempered_nll(probs, labels, samples, n, k, t) <= best_nll ? t
                                                                         : exp(lo + step * best);
}
