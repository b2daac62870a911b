/* Helpers shared by the neural-network kernel families (dense, conv, pool,
 * norm): operand checks that name the node, and a dtype-generic GEMM.
 * Internal to runtime/. */
#ifndef BNN_NN_IMPL_H
#define BNN_NN_IMPL_H

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernel.h"

/* Fails with BNN_ERR_UNSUPPORTED naming the node when operand `index` (an
 * input, or an output when is_output) has a dtype not in {want, also}; pass
 * BNN_UNDEFINED as `also` when only one dtype is accepted. */
static inline bnn_status nn_check_dtype(const bnn_kernel_args *args, const bnn_tensor *t, int index,
                                        bool is_output, bnn_dtype want, bnn_dtype also,
                                        bnn_diag *diag)
{
    if (t->dtype == want || (also != BNN_UNDEFINED && t->dtype == also))
        return BNN_OK;
    char label[300];
    const char *name = bnn_dtype_name(t->dtype);
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: %s %d has dtype %s, the kernel supports %s%s%s",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label),
                    is_output ? "output" : "input", index, name ? name : "?",
                    bnn_dtype_name(want), also != BNN_UNDEFINED ? " and " : "",
                    also != BNN_UNDEFINED ? bnn_dtype_name(also) : "");
}

static inline bnn_status nn_fail_shape(const bnn_kernel_args *args, const char *what, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_SHAPE, "%s: %s",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label), what);
}

/* C[m,n] = alpha * op(A) op(B) + beta * C, row-major, f32 or f64 operands. */
static inline void nn_gemm(bnn_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                           int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                           int64_t ldb, double beta, void *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* an empty sum: only the beta scaling is left */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                if (dtype == BNN_F64) {
                    double *p = (double *)c + i * ldc + j;
                    *p = beta == 0 ? 0 : beta * *p;
                } else {
                    float *p = (float *)c + i * ldc + j;
                    *p = beta == 0 ? 0 : (float)(beta * *p);
                }
            }
        return;
    }
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    if (dtype == BNN_F64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                    (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, (float)alpha, a,
                    (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc);
}

/* OpenBLAS (0.3) runs a GEMM on the calling thread when m*n*k is at most
 * SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD = 65536 * 4 (interface/
 * gemm.c), with its small-matrix kernel, at ~100 GFLOP/s on one core here. */
#define NN_SERIAL_MNK ((int64_t)65536 * 4)
/* Above this, OpenBLAS's own threads do better than our tiles. */
#define NN_TILED_MAX_MNK (NN_SERIAL_MNK * 64)

/* nn_gemm for f32 that keeps OpenBLAS's threads asleep on medium GEMMs (a
 * LeNet dense layer at batch 64): C is cut into tiles each at most
 * NN_SERIAL_MNK, which run on OpenMP's threads, each as one serial sgemm.
 * Waking OpenBLAS's threads for a 3-MFLOP product costs more than it gives,
 * and they then spin in sched_yield, taking the cores from the OpenMP loops
 * of the next kernels (over half of LeNet's batch-64 time).  The tiling
 * depends only on the shape, so results do not depend on the thread count
 * (they may differ in the last bits from one whole-matrix sgemm). */
static inline void nn_gemm_f32_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                                     double alpha, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, double beta, float *c, int64_t ldc)
{
    int64_t work = m * n * k;
    if (m <= 0 || n <= 0 || k <= 0 || work <= NN_SERIAL_MNK || work > NN_TILED_MAX_MNK) {
        nn_gemm(BNN_F32, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* roughly square tiles, columns in multiples of 16 */
    int64_t tiles = (work + NN_SERIAL_MNK - 1) / NN_SERIAL_MNK;
    int64_t tn = (int64_t)(sqrt((double)tiles * (double)n / (double)m) + 0.5);
    int64_t max_tn = (n + 15) / 16;
    tn = tn < 1 ? 1 : tn > max_tn ? max_tn : tn;
    int64_t cols = ((n + tn - 1) / tn + 15) / 16 * 16;
    if (cols > n)
        cols = n;
    int64_t rows = m;
    while (rows > 1 && rows * cols * k > NN_SERIAL_MNK)
        rows = (rows + 1) / 2;
    while (cols > 16 && rows * cols * k > NN_SERIAL_MNK)
        cols = (cols / 2 + 15) / 16 * 16;
    int64_t n_r = (m + rows - 1) / rows, n_c = (n + cols - 1) / cols, count = n_r * n_c;
    /* the same tiles on one thread, so the result does not depend on it */
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads > count)
        threads = (int)count;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t t = 0; t < count; t++) {
        int64_t i0 = t / n_c * rows, j0 = t % n_c * cols;
        int64_t mi = m - i0 < rows ? m - i0 : rows, nj = n - j0 < cols ? n - j0 : cols;
        nn_gemm(BNN_F32, trans_a, trans_b, mi, nj, k, alpha, trans_a ? a + i0 : a + i0 * lda,
                lda, trans_b ? b + j0 * ldb : b + j0, ldb, beta, c + i0 * ldc + j0, ldc);
    }
}

static inline double nn_load(bnn_dtype dtype, const void *p, int64_t i)
{
    return dtype == BNN_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static inline void nn_store(bnn_dtype dtype, void *p, int64_t i, double v)
{
    if (dtype == BNN_F64)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* Output positions j in [0, out) whose input index j*stride - pad + off lies
 * in [0, size): they form one interval [*lo, *hi).  Lets window loops (conv,
 * pooling) run without a bounds test per element. */
static inline void nn_valid_range(int64_t pad, int64_t off, int64_t stride, int64_t size,
                                  int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t a = pad - off, b = size + pad - off;
    int64_t l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int64_t h = b <= 0 ? 0 : (b + stride - 1) / stride;
    if (h > out)
        h = out;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Work below this many multiply-adds is not worth waking OpenMP's threads. */
#define NN_OMP_MIN_WORK 32768

#endif
