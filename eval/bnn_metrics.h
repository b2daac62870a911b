/* Uncertainty and calibration metrics over predicted class probabilities.
 * Pure functions over plain arrays, so each can be checked by hand.
 * Logarithms are natural (nats).
 */
#ifndef BNN_METRICS_H
#define BNN_METRICS_H

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

#ifdef __cplusplus
}
#endif

#endif
