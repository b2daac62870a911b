/* Slow, obvious reference implementations of the kernels_elem ops: one
 * output element at a time from its coordinates, in double precision where
 * the op is floating point. */
#ifndef KE_REFERENCE_H
#define KE_REFERENCE_H

#include "bnn_tensor.h"

/* numpy's broadcast of two shapes; false when they do not broadcast. */
bool ref_broadcast_shape(const bnn_shape *a, const bnn_shape *b, bnn_shape *out);

/* op: BNN_OP_ADD, SUB, MUL, DIV, PRELU.  Integers wrap; integer division
 * truncates.  f32 results are computed in float (the kernel must match
 * exactly), f64 in double. */
void ref_binary(bnn_op op, const bnn_tensor *a, const bnn_tensor *b, bnn_tensor *y);

/* Activations and math on f32 input, in double. alpha/gamma as the op's. */
double ref_unary(bnn_op op, double x, double alpha, double gamma);

void ref_softmax(const bnn_tensor *x, int64_t axis, bool coerce, bool log_form, bnn_tensor *y);

/* Layout ops, any type. */
void ref_transpose(const bnn_tensor *x, const int64_t *perm, bnn_tensor *y);
void ref_concat(const bnn_tensor *xs, int n, int64_t axis, bnn_tensor *y);
/* mode 0 constant, 1 reflect, 2 edge */
void ref_pad(const bnn_tensor *x, const int64_t *pads, int mode, double value, bnn_tensor *y);
void ref_gather(const bnn_tensor *x, const bnn_tensor *idx, int64_t axis, bnn_tensor *y);

/* y[m, out] = x[m, in] . w[out, in]^T + b (b may be NULL), doubles. */
void ref_dense(const float *x, const float *w, const float *b, int64_t m, int64_t in,
               int64_t out, double *y);
/* 2-D convolution, x [N,C,H,W], w [M,C/g,kH,kW], y [N,M,OH,OW]. */
void ref_conv2d(const float *x, const int64_t *xd, const float *w, const int64_t *wd,
                const float *b, const int64_t *strides, const int64_t *pads,
                const int64_t *dilations, int64_t group, const int64_t *yd, double *y);

void ref_unravel(int64_t i, const bnn_shape *s, int64_t *coords);
int64_t ref_ravel(const int64_t *coords, const bnn_shape *s);

#endif
