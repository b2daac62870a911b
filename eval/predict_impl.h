/* Internals of eval/: the moment predictives predict.c hands over to
 * (eval/predict_moments.c). */
#ifndef BNN_PREDICT_IMPL_H
#define BNN_PREDICT_IMPL_H

#include "bnn_predict.h"
#include "bnn_runtime.h"

/* x run in batches of options->batch rows: one session planned for the batch
 * and one for the remainder, never one per batch.  predict_batches_set binds
 * rows [start, start + *rows) of x (a view, no copy) to the session it
 * returns in *session. */
typedef struct predict_batches {
    const bnn_tensor *x;
    int64_t n, size[2];
    size_t row_bytes;
    bnn_session *sessions[2];
} predict_batches;
/* Output `index`'s shape for the rows of x: the declared one with x's
 * batch, or, when a dim after the batch is open, the one a plan for x's
 * first row gives. */
bnn_status predict_output_shape_at(const bnn_graph *graph, int index, const bnn_tensor *x,
                                   bnn_shape *shape, bnn_diag *diag);

bnn_status predict_batches_open(predict_batches *pb, const bnn_graph *graph, const bnn_tensor *x,
                                const bnn_predict_options *options, bnn_diag *diag);
bnn_status predict_batches_set(predict_batches *pb, int64_t start, int64_t *rows,
                               bnn_session **session, bnn_diag *diag);
void predict_batches_close(predict_batches *pb);

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
