/* Slow, obvious reference implementations of the neural-network kernels:
 * direct nested loops in double, reading shapes and attributes (with ONNX
 * defaults) from the test case.  Signatures fit kn_ref_fn. */
#ifndef KN_REFERENCE_H
#define KN_REFERENCE_H

#include "harness.h"

void ref_dense(const kn_case *c, const double *const *in, double *out);
void ref_gemm(const kn_case *c, const double *const *in, double *out);
void ref_matmul(const kn_case *c, const double *const *in, double *out);
void ref_conv(const kn_case *c, const double *const *in, double *out);
void ref_max_pool(const kn_case *c, const double *const *in, double *out);
void ref_avg_pool(const kn_case *c, const double *const *in, double *out);
void ref_global_avg_pool(const kn_case *c, const double *const *in, double *out);
void ref_global_max_pool(const kn_case *c, const double *const *in, double *out);
void ref_batch_norm(const kn_case *c, const double *const *in, double *out);

/* Output sizes as ONNX defines them (ceil_mode with the rule that the last
 * window starts inside the input or the begin pad). */
int64_t ref_conv_out(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d);
int64_t ref_pool_out(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d, int ceil_mode);

#endif
