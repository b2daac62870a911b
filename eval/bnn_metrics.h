/* Uncertainty and calibration metrics over predicted class probabilities.
 * Pure functions over plain arrays, so each can be checked by hand.
 * Logarithms are natural (nats).
 */
#ifndef BNN_METRICS_H
#define BNN_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* From S Monte-Carlo samples of class probabilities, probs[s][i][j]
 * (S x n x k, each row summing to 1), per example i:
 *   mean[i][j]        predictive mean (1/S) sum_s probs[s][i][j]
 *   total[i]          predictive entropy H[mean]
 *   aleatoric[i]      expected entropy (1/S) sum_s H[probs[s][i]]
 *   epistemic[i]      mutual information total - aleatoric (clamped at 0)
 * Any output pointer may be NULL except mean. */
void bnn_predictive_stats(const float *probs, int64_t samples, int64_t n, int64_t k, float *mean,
                          float *total, float *aleatoric, float *epistemic);

/* Entropy of one distribution of k probabilities (0 log 0 = 0). */
double bnn_entropy(const float *p, int64_t k);

/* Fraction of rows whose arg-max (first on ties) equals the label. */
double bnn_accuracy(const float *probs, const int64_t *labels, int64_t n, int64_t k);
/* Mean of -log p[label], each p clamped to at least 1e-12. */
double bnn_nll(const float *probs, const int64_t *labels, int64_t n, int64_t k);
/* Mean over rows of sum_j (p_j - onehot_j)^2 (0 best, 2 worst). */
double bnn_brier(const float *probs, const int64_t *labels, int64_t n, int64_t k);

/* Expected calibration error with `bins` equal-width confidence bins:
 * sum_b (n_b/n) |accuracy_b - mean confidence_b|, confidence = max_j p_j,
 * bin b = (b/bins, (b+1)/bins] with 0 in the first bin.  When per-bin arrays
 * are not NULL they receive count, accuracy and mean confidence of each bin
 * (for reliability diagrams). */
double bnn_ece(const float *probs, const int64_t *labels, int64_t n, int64_t k, int bins,
               int64_t *bin_count, double *bin_accuracy, double *bin_confidence);

/* Area under the ROC curve for telling positives (higher score) from
 * negatives: the probability that a random positive scores above a random
 * negative, ties counting one half (the Mann-Whitney statistic). Returns 0.5
 * when either set is empty. */
double bnn_auroc(const float *positive, int64_t n_positive, const float *negative,
                 int64_t n_negative);

/* Temperature scaling of a Monte-Carlo predictive.  Each sample's class
 * log-probabilities log probs[s][i] (S x n x k) act as its logits z (softmax is
 * shift-invariant); the tempered predictive of example i is
 *   p_T[i] = (1/S) sum_s softmax(z_s[i] / T)
 * and bnn_tempered_nll is the mean of -log p_T[i][label] (each clamped to at
 * least 1e-12, as bnn_nll).  S = 1 is ordinary temperature scaling. */
double bnn_tempered_nll(const float *probs, const int64_t *labels, int64_t samples, int64_t n,
                        int64_t k, double temperature);
/* The T in [0.05, 20] that minimises bnn_tempered_nll: a grid over log T, then
 * golden-section refinement around the best grid point (the NLL of a tempered
 * mixture need not be convex in T, the grid keeps the search global). */
double bnn_fit_temperature(const float *probs, const int64_t *labels, int64_t samples, int64_t n,
                           int64_t k);

/* ---- regression ----------------------------------------------------------
 * From S samples of a regressor's outputs, outputs[s][i][j] (S x n x k), the
 * targets y[i][j] and the noise scale sigma[j] (k values, or NULL for a model
 * without one), per element: the predictive mean m = (1/S) sum_s f_s, the
 * epistemic variance (1/S) sum_s (f_s - m)^2, the aleatoric variance sigma^2,
 * and whether y lies in the central 90% and 95% intervals of N(m, total
 * variance).  The log-likelihood of example i is, with mixture and a sigma,
 * that of the S-sample mixture,
 *   log (1/S) sum_s prod_j N(y_ij; f_sij, sigma_j^2)   (by log-sum-exp),
 * else that of the Gaussian N(m, epistemic + aleatoric) of each output,
 * summed over j (a moment predictive's, or a model without a noise scale,
 * whose sample mixture has no density).  An example whose variance is 0 has
 * no finite log-likelihood: it is counted in `degenerate`.  The sums
 * accumulate (start from zeros), so ranks or batches add theirs. */
typedef struct bnn_regression_sums {
    double squared_error;     /* sum over elements of (y - m)^2 */
    double log_likelihood;    /* sum over examples of the finite ones */
    double aleatoric, epistemic; /* sums over elements */
    double inside90, inside95;   /* elements inside the central intervals */
    double examples, elements, degenerate;
} bnn_regression_sums;

typedef struct bnn_regression_metrics {
    double rmse;              /* sqrt of the mean squared error of m, over elements */
    double log_likelihood;    /* mean per example (NaN when any is degenerate) */
    double aleatoric, epistemic; /* mean variances per element */
    double coverage90, coverage95;
} bnn_regression_metrics;

/* Adds n examples to acc; epistemic_out (may be NULL) gets each example's
 * epistemic variance summed over its k outputs. */
void bnn_regression_add(const float *outputs, int64_t samples, int64_t n, int64_t k,
                        const float *targets, const double *sigma, bool mixture,
                        float *epistemic_out, bnn_regression_sums *acc);
bnn_regression_metrics bnn_regression_finish(const bnn_regression_sums *acc);

#ifdef __cplusplus
}
#endif

#endif
