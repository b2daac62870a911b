/* The softmax family's line kernel, for other kernels that normalise over an
 * axis (the loss family's softmax_cross_entropy_loss). */
#ifndef BNN_SOFTMAX_IMPL_H
#define BNN_SOFTMAX_IMPL_H

#include <stdbool.h>
#include <stdint.h>

/* x and y [outer, len, inner]: the (log-)softmax over len of every line
 * (o, i), elements inner apart; an all -inf line gives NaN, as numpy. */
void bnn_softmax_lines(int64_t outer, int64_t len, int64_t inner, const float *x, float *y,
                       bool log_form);

#endif
