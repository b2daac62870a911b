/* Monte-Carlo prediction: run a classifier S times with fresh weight samples
 * and collect class probabilities, batch by batch.
 */
#ifndef BNN_PREDICT_H
#define BNN_PREDICT_H

#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the predictive distribution is computed (docs/uncertainty.md). */
typedef enum bnn_predictive {
    BNN_PREDICTIVE_MC = 0,  /* S forward runs with fresh weight samples */
    BNN_PREDICTIVE_MOMENTS, /* one run of the bnn-to-moments graph (eval/predict_moments.c) */
    BNN_PREDICTIVE_GLM,     /* one run of the linearised network (bnn-to-moments{mode=glm}) */
} bnn_predictive;

/* "mc", "moments", "glm"; false for any other name. */
bool bnn_predictive_from_name(const char *name, bnn_predictive *out);
const char *bnn_predictive_name(bnn_predictive predictive);

/* How the moment predictives turn the logits' Gaussian N(m, C) into class
 * probabilities (docs/moments.md).  C is the full k x k covariance when the
 * moment graph gives it (the last layer's input variance correlates the
 * logits), else diagonal. */
typedef enum bnn_logit_rule {
    BNN_LOGITS_SIGMA = 0, /* 2k sigma points m +- sqrt(k) L e_j (C = L L^T), equal weights:
                             deterministic, exact mean and covariance */
    BNN_LOGITS_DRAWS,     /* S seeded draws m + L eps (S <= 1: probit) */
    BNN_LOGITS_PROBIT,    /* one point: softmax(m / sqrt(1 + pi/8 diag C)), no mutual
                             information */
} bnn_logit_rule;

/* "sigma", "draws", "probit"; false for any other name. */
bool bnn_logit_rule_from_name(const char *name, bnn_logit_rule *out);
const char *bnn_logit_rule_name(bnn_logit_rule rule);
/* Probability vectors per row the rule gives for k classes and S samples. */
int64_t bnn_moments_rule_points(bnn_logit_rule rule, int64_t k, int64_t samples);

typedef struct bnn_predict_options {
    /* MC: weight samples (forced to 1 for a model with no Bayesian layer).
     * MOMENTS/GLM (one network run): a classifier's probabilities are the
     * points of `logits` (2k sigma points; S draws, 0 or 1 meaning probit;
     * or probit), so the effective samples bnn_predict_classes reports are
     * bnn_moments_rule_points(); a regressor gets 2 rows, mean -+ standard
     * deviation, whose mean and variance (over S) are the predictive's. */
    int64_t samples;
    bnn_predictive predictive;
    bnn_logit_rule logits; /* MOMENTS/GLM classifiers: from logits to probabilities */
    int64_t batch;     /* rows per run */
    uint64_t seed;
    /* The place of x's first row in a larger set (a data-parallel rank's
     * share): per-row draws (the local and flipout estimators, logit draws)
     * are those of the row there, so K ranks predict what one process does. */
    int64_t first_row;
    int threads;       /* 0 = all cores */
    /* -1: detect (an output made by softmax holds probabilities, anything
     * else logits); 0: logits; 1: probabilities */
    int outputs_probabilities;
    /* Accept a per-step classifier, an output [n, T, C] (C >= 2 classes, or
     * C = 1 for a binary one): each example is then T rows of
     * bnn_predict_classes' output (see bnn_predict_class_layout).  Off by
     * default so a caller that allocates n x k floats never gets n x T x k. */
    bool per_step;
    /* Called after each batch with rows done so far (progress); may be NULL. */
    void (*progress)(void *context, int64_t done, int64_t total);
    void *context;
} bnn_predict_options;

bnn_predict_options bnn_predict_defaults(void);

/* True when some node of the graph is a Bayesian layer. */
bool bnn_graph_is_bayesian(const bnn_graph *graph);
/* True when the graph's first output is made by a softmax. */
bool bnn_graph_outputs_probabilities(const bnn_graph *graph);

/* How the graph's first output reads as a classifier:
 *   [n, K] (K >= 2): K classes, logits (softmax applied) or, made by a
 *     softmax, probabilities;
 *   [n, 1] or [n]: a binary classifier, k = 2: made by a sigmoid it holds
 *     p(class 1), else a logit (the sigmoid applied); each sample gives the
 *     Bernoulli pair (1 - p, p), so entropies and mutual information are the
 *     Bernoulli ones;
 *   [n, T, C] with options->per_step: T steps per example, each a classifier
 *     as above over its last dim (C = 1: binary), rows i*T + t.
 * *steps is T (1 unless per-step), *k the classes per row, *binary whether
 * rows are Bernoulli pairs.  Fails naming the output otherwise. */
bnn_status bnn_predict_class_layout(const bnn_graph *graph, const bnn_predict_options *options,
                                    int64_t *steps, int64_t *k, bool *binary, bnn_diag *diag);

/* x: [n, ...] matching the graph's one input. Writes probs[s][i][j]
 * (samples x n x k floats, which the caller allocates: see *k_out from
 * bnn_predict_classes) — call with probs NULL first to learn k and the
 * effective number of samples.  For a per-step classifier (options->per_step)
 * i runs over n x T rows. */
bnn_status bnn_predict_classes(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *probs,
                               int64_t *samples_out, int64_t *k_out, bnn_diag *diag);

/* The first output as it is, S samples (for a regressor): outputs[s][i][j]
 * with j over the output's non-batch elements (width = their product; call
 * with outputs NULL first to learn width and the effective samples). */
bnn_status bnn_predict_outputs(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *outputs,
                               int64_t *samples_out, int64_t *width_out, bnn_diag *diag);
/* The shape of the first output for x (its first dim x's rows): the graph's
 * own, or, where shape inference left a dim after the batch open (a
 * detector's box count follows the image's size), a session's for x. */
bnn_status bnn_predict_output_shape(const bnn_graph *graph, const bnn_tensor *x, bnn_shape *shape,
                                    bnn_diag *diag);

/* The moment graph of `graph` (a new graph the caller destroys):
 * bnn-to-moments{mode=moments|glm}, with the probit link when classifier. */
bnn_status bnn_moments_graph(const bnn_graph *graph, bnn_predictive predictive, bool classifier,
                             bnn_graph **out, bnn_diag *diag);

/* One run of the moment graph over x, batch by batch: for a classifier,
 * probit probabilities, logits' mean and variance (n x k each; any may be
 * NULL); for a regressor (classifier false) mean and variance of the first
 * output in `mean` and `var` (n x width) and probs unused.  *width_out is k
 * or the width; call with every buffer NULL to learn it. */
bnn_status bnn_predict_moments(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, bool classifier, float *probs,
                               float *mean, float *var, int64_t *width_out, bnn_diag *diag);

/* probs[p][i][j], p < bnn_moments_rule_points(rule, k, samples): class
 * probabilities of n rows from their logits' mean and variance [n x k] and,
 * when cov is not NULL, covariance [n x k x k] (rows of the moment graph's
 * outputs 1, 2 and 3).  Draws use seed as bnn_predict_classes does, row i
 * drawing as row first_row + i of a larger set (bnn_predict_options). */
bnn_status bnn_moments_class_probs(const float *mean, const float *var, const float *cov,
                                   int64_t n, int64_t first_row, int64_t k, bnn_logit_rule rule,
                                   int64_t samples, uint64_t seed, float *probs, bnn_diag *diag);

#ifdef __cplusplus
}
#endif

#endif
