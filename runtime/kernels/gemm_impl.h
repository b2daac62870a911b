/* The f32 GEMM of the dense and gemm kernels (runtime/gemm_f32.c): an
 * AVX-512 path for few rows against a large matrix, which reads the weight in
 * place instead of packing it on every call as OpenBLAS does, and OpenBLAS
 * (nn_gemm_f32_tiled) for every other shape and CPU.  Internal to runtime/. */
#ifndef BNN_GEMM_IMPL_H
#define BNN_GEMM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of scratch gemm_f32 wants for an m x n x k product (0 when it would
 * not take its own path for that shape). */
size_t gemm_f32_scratch_size(int64_t m, int64_t n, int64_t k);

/* C[m,n] = alpha op(A) op(B) + beta C + bias, row-major; bias is NULL or n
 * values added to every row; beta 0 never reads C.  scratch: 64-byte aligned,
 * gemm_f32_scratch_size() bytes, or NULL (then always OpenBLAS).  Which path
 * runs depends on the shape and the CPU, never on the thread count, and the
 * AVX-512 path's result does not depend on it either (OpenBLAS's: see
 * nn_gemm_f32_tiled). */
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc, const float *bias, void *scratch);

#endif
