/* Internals of eval/: the moment predictives predict.c hands over to
 * (eval/predict_moments.c). */
#ifndef BNN_PREDICT_IMPL_H
#define BNN_PREDICT_IMPL_H

#include "bnn_predict.h"

/* probs[s][i][j] for s < samples: softmax of logits drawn from the moment
 * graph's Gaussian; samples 1: the probit probabilities. */
bnn_status bnn_predict_moments_classes(const bnn_graph *graph, const bnn_tensor *x,
                                       const bnn_predict_options *options, int64_t samples,
                                       int64_t k, float *probs, bnn_diag *diag);
/* outputs[2][n][width]: mean - sd, mean + sd. */
bnn_status bnn_predict_moments_outputs(const bnn_graph *graph, const bnn_tensor *x,
                                       const bnn_predict_options *options, int64_t width,
                                       float *outputs, bnn_diag *diag);

#endif
