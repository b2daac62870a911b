/* The moment kernels' element functions (runtime/kernels/moments.c), shared
 * with tests/moments, which checks the fast float forms against the plain
 * double-precision references. */
#ifndef BNN_MOMENTS_IMPL_H
#define BNN_MOMENTS_IMPL_H

#include <stdbool.h>
#include <stdint.h>

/* The widest row of outputs the fast max-pool path takes, and the outputs
 * it gathers at a time. */
#define MOMENTS_MAX_ROW 1024
#define MOMENTS_BLOCK 2048

/* Reference: mean and variance of leaky relu (slope alpha) of N(m, v), in
 * double with libm; linear: the GLM form. */
void moments_relu_reference(double m, double v, double alpha, bool linear, float *om, float *ov);
/* Reference: Clark's Gaussian match of max(N(m1, v1), N(m2, v2)) into m1, v1. */
void moments_clark_reference(double *m1, double *v1, double m2, double v2);

/* Fast: n elements of leaky relu's moments. */
void moments_relu_fast(const float *m, const float *v, int64_t n, float alpha, float *om,
                       float *ov);
/* Fast: one Clark step. */
void moments_clark_fast(float *m1, float *v1, float m2, float v2);
/* Fast: n Clark steps, (m1[i], v1[i]) against (m2[i], v2[i]). */
void moments_clark_arrays(float *m1, float *v1, const float *m2, const float *v2, int64_t n);
/* Fast: one row of out_w max-pool outputs whose windows (kh x kw, stride
 * stride_w along the row) start at m and v (rows `width` apart). */
void moments_max_pool_row(const float *m, const float *v, int64_t width, int64_t out_w,
                          int64_t kh, int64_t kw, int64_t stride_w, float *om, float *ov);

#endif
