/* Data losses: softmax cross-entropy over integer labels, mean squared error. */
#include <math.h>

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
