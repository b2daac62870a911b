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

typedef struct bnn_predict_options {
    /* MC: weight samples (forced to 1 for a model with no Bayesian layer).
     * MOMENTS/GLM: a classifier's probabilities are S draws of the logits
     * from their Gaussian (one network run; 0 or 1 means the probit
     * probabilities alone); a regressor gets 2 rows, mean -+ standard
     * deviation, whose mean and variance (over S) are the predictive's. */
    int64_t samples;
    bnn_predictive predictive;
    int64_t batch;     /* rows per run */
    uint64_t seed;
    int threads;       /* 0 = all cores */
    /* -1: detect (an output made by softmax holds probabilities, anything
     * else logits); 0: logits; 1: probabilities */
    int outputs_probabilities;
    /* Called after each batch with rows done so far (progress); may be NULL. */
    void (*progress)(void *context, int64_t done, int64_t total);
    void *context;
} bnn_predict_options;

bnn_predict_options bnn_predict_defaults(void);

/* True when some node of the graph is a Bayesian layer. */
bool bnn_graph_is_bayesian(const bnn_graph *graph);
/* True when the graph's first output is made by a softmax. */
bool bnn_graph_outputs_probabilities(const bnn_graph *graph);

/* x: [n, ...] matching the graph's one input. Writes probs[s][i][j]
 * (samples x n x k floats, which the caller allocates: see *k_out from
 * bnn_predict_classes) — call with probs NULL first to learn k and the
 * effective number of samples. */
bnn_status bnn_predict_classes(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *probs,
                               int64_t *samples_out, int64_t *k_out, bnn_diag *diag);

/* The first output as it is, S samples (for a regressor): outputs[s][i][j]
 * with j over the output's non-batch elements (width = their product; call
 * with outputs NULL first to learn width and the effective samples). */
bnn_status bnn_predict_outputs(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *outputs,
                               int64_t *samples_out, int64_t *width_out, bnn_diag *diag);

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

#ifdef __cplusplus
}
#endif

#endif
