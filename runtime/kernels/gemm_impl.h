/* The one GEMM of the kernels (runtime/kernels/gemm.c).  Every kernel calls
 * nn_gemm; it picks the path from the shape, the dtype, the scratch it is
 * given and whether it runs inside an OpenMP parallel region:
 *
 *   GEMM_PATH_AVX512  f32 products of 5 to 256 rows against a large op(B),
 *                     when the caller gives scratch and the CPU has AVX-512:
 *                     op(A) packed transposed, op(B) read in place;
 *   GEMM_PATH_TILES   f32 products above NN_SERIAL_MNK multiply-adds that are
 *                     either inside a parallel region (any size: the kernel
 *                     already splits its work over threads, and OpenBLAS's
 *                     own threads would oversubscribe the cores) or at most
 *                     NN_TILED_MAX_MNK: C cut into tiles of at most
 *                     NN_SERIAL_MNK, each one serial OpenBLAS call, the tiles
 *                     spread over OpenMP's threads outside a parallel region;
 *   GEMM_PATH_BLAS    everything else: one OpenBLAS call (on the calling
 *                     thread for small products, on OpenBLAS's threads for
 *                     large ones), f64 always.
 *
 * The path and the tiles depend on the shape and on the nesting level of the
 * call (omp_get_level, which counts parallel regions of one thread too), never
 * on the thread count, and every element of C is one OpenBLAS dot product or
 * one AVX-512 chain in k order, so results do not depend on the thread count.
 * Internal to runtime/. */
#ifndef BNN_GEMM_IMPL_H
#define BNN_GEMM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bnn_tensor.h"

/* OpenBLAS (0.3) runs a GEMM on the calling thread when m*n*k is at most
 * SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD = 65536 * 4 (interface/
 * gemm.c), with its small-matrix kernel, at ~100 GFLOP/s on one core here. */
#define NN_SERIAL_MNK ((int64_t)65536 * 4)
/* Above this (outside parallel regions), OpenBLAS's own threads do better
 * than our tiles. */
#define NN_TILED_MAX_MNK (NN_SERIAL_MNK * 64)

typedef enum gemm_path {
    GEMM_PATH_BLAS,   /* one OpenBLAS call */
    GEMM_PATH_TILES,  /* tiles of serial OpenBLAS calls */
    GEMM_PATH_AVX512, /* bnnc's own kernel (gemm.c) */
} gemm_path;

/* Bytes of scratch nn_gemm can use for an m x n x k product of dtype (0 when
 * no path wants any for that shape).  Without it nn_gemm still works. */
size_t nn_gemm_scratch_size(bnn_dtype dtype, int64_t m, int64_t n, int64_t k);

/* The path nn_gemm takes for this call from the calling thread's position
 * (inside a parallel region or not); for tests and profiles. */
gemm_path nn_gemm_path(bnn_dtype dtype, int64_t m, int64_t n, int64_t k, bool has_scratch);

/* C[m,n] = alpha op(A) op(B) + beta C + bias, row-major, f32 or f64 (A, B, C
 * and bias of the same dtype); bias is NULL or n values added to every row;
 * beta 0 never reads C.  scratch: 64-byte aligned, nn_gemm_scratch_size()
 * bytes, or NULL. */
void nn_gemm(bnn_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
             void *c, int64_t ldc, const void *bias, void *scratch);

#endif
