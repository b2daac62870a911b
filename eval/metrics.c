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
