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
/* The fused max-pool path (windows that do not overlap along the row): at
 * most this many elements per window, outputs per row, outputs per block. */
#define MOMENTS_FUSED_OFFSETS 4
#define MOMENTS_FUSED_ROW 256
#define MOMENTS_FUSED_BLOCK 1024

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
/* Fast: (x[2i], x[2i+1]) for i < n, of mean and variance, into even and odd
 * arrays. */
void moments_split_pairs(const float *m, const float *v, int64_t n, float *me, float *ve,
                         float *mo, float *vo);
/* Fast: n max-pool windows of `offsets` elements, offset o's at m + o * stride
 * (and v): Clark's steps in window order into om, ov. */
void moments_clark_window(const float *m, const float *v, int64_t offsets, int64_t stride,
                          int64_t n, float *om, float *ov);

#endif
