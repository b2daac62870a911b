/* max_pool_indices: ONNX MaxPool with its Indices output, or over i8/u8.
 * Each window's real taps (padding is skipped) are compared in double
 * (exact for these types); the first maximum wins, a NaN beats any number.
 * The index is the place in x flattened row-major, planes included
 * (storage_order=1: column-major within the plane).  The spatial dims are
 * seen as 3 (leading ones of size 1). */
#include <math.h>
#include <string.h>

#include "kernel.h"

static double value_at(const bnn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case BNN_F32: return ((const float *)t->data)[i];
    case BNN_F64: return ((const double *)t->data)[i];
    case BNN_I8: return ((const int8_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i];
    }
}

static void store_at(bnn_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case BNN_F32: ((float *)t->data)[i] = (float)v; break;
    case BNN_F64: ((double *)t->data)[i] = v; break;
    case BNN_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    default: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    }
}

/* The taps [*lo, *hi) of a window starting at `start` (stride and pad
 * applied) with k taps d apart that land inside [0, n): only these are
 * walked, so a huge kernel over padding costs nothing. */
static void real_taps(int64_t start, int64_t k, int64_t d, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = start >= 0 ? 0 : (-start + d - 1) / d;
    *hi = start > n - 1 ? 0 : (n - 1 - start) / d + 1;
    if (*hi > k)
        *hi = k;
    if (*lo > *hi)
        *lo = *hi;
}

static bnn_status max_pool_indices_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0], *ind = &args->outputs[1];
    int rank = x->shape.rank, sd = rank - 2;
    if (x->dtype != BNN_F32 && x->dtype != BNN_F64 && x->dtype != BNN_I8 && x->dtype != BNN_U8)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(x->dtype));
    if (rank < 3 || rank > 5 || y->shape.rank != rank || args->n_outputs < 2 ||
        ind->dtype != BNN_I64 || y->dtype != x->dtype)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "expected x and y [N, C, spatial...] of one type and i64 indices");
    const int64_t *ks, *st = NULL, *pads = NULL, *dil = NULL;
    int nk = bnn_node_ints(args->node, "kernel_shape", &ks);
    int ns = bnn_node_ints(args->node, "strides", &st);
    int np = bnn_node_ints(args->node, "pads", &pads);
    int nd = bnn_node_ints(args->node, "dilations", &dil);
    if (nk != sd || (ns && ns != sd) || (np && np != 2 * sd) || (nd && nd != sd))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "window attributes do not fit %d-D", sd);
    bool column_major = bnn_node_int(args->node, "storage_order", 0) != 0;
    /* 3 spatial dims, leading ones of size 1 */
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1},
            pb[3] = {0, 0, 0}, d[3] = {1, 1, 1};
    for (int i = 0; i < sd; i++) {
        int j = 3 - sd + i;
        in[j] = x->shape.dims[2 + i];
        out[j] = y->shape.dims[2 + i];
        k[j] = ks[i];
        s[j] = ns ? st[i] : 1;
        pb[j] = np ? pads[i] : 0;
        d[j] = nd ? dil[i] : 1;
    }
    int64_t planes = x->shape.dims[0] * x->shape.dims[1], in_size = in[0] * in[1] * in[2];
    int64_t at = 0;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o0 = 0; o0 < out[0]; o0++)
            for (int64_t o1 = 0; o1 < out[1]; o1++)
                for (int64_t o2 = 0; o2 < out[2]; o2++, at++) {
                    int64_t best = -1, best_pos = 0;
                    double bv = 0;
                    int64_t st0 = o0 * s[0] - pb[0], st1 = o1 * s[1] - pb[1],
                            st2 = o2 * s[2] - pb[2], lo[3], hi[3];
                    real_taps(st0, k[0], d[0], in[0], &lo[0], &hi[0]);
                    real_taps(st1, k[1], d[1], in[1], &lo[1], &hi[1]);
                    real_taps(st2, k[2], d[2], in[2], &lo[2], &hi[2]);
                    for (int64_t a = lo[0]; a < hi[0]; a++) {
                        int64_t i0 = st0 + a * d[0];
                        for (int64_t b = lo[1]; b < hi[1]; b++) {
                            int64_t i1 = st1 + b * d[1];
                            for (int64_t c = lo[2]; c < hi[2]; c++) {
                                int64_t i2 = st2 + c * d[2];
                                int64_t off = p * in_size + (i0 * in[1] + i1) * in[2] + i2;
                                double v = value_at(x, off);
                                if (best < 0 || v > bv || (isnan(v) && !isnan(bv))) {
                                    best = off;
                                    bv = v;
                                    /* column-major: the first spatial dim fastest
                                     * (dims of size 1 in front change nothing) */
                                    best_pos = column_major ? i0 + in[0] * (i1 + in[1] * i2)
                                                            : (i0 * in[1] + i1) * in[2] + i2;
                                }
                            }
                        }
                    }
                    if (best < 0)
                        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                                               "output %lld's window reads only padding",
                                               (long long)at);
                    store_at(y, at, bv);
                    ((int64_t *)ind->data)[at] = p * in_size + best_pos;
                }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_max_pool_indices = {.forward = max_pool_indices_forward};
