/* Helpers shared by the neural-network kernel families (dense, conv, pool,
 * norm): operand checks that name the node; and the one GEMM (gemm_impl.h).
 * Internal to runtime/. */
#ifndef BNN_NN_IMPL_H
#define BNN_NN_IMPL_H

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>

#include "gemm_impl.h"
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
