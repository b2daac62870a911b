/* Monte-Carlo prediction: run a classifier S times with fresh weight samples
 * and collect class probabilities, batch by batch.
 */
#ifndef BNN_PREDICT_H
#define BNN_PREDICT_H

#include "bnn_tensor.h"

typedef struct bnn_predict_options {
    int64_t samples;   /* weight samples; forced to 1 for a model with no Bayesian layer */
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

#endif
