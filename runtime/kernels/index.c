/* Indexing element by element: gather_elements, scatter_elements and
 * one_hot.  gather_elements moves bytes (every element type);
 * scatter_elements too with reduction "none", and computes in the element
 * type for add, mul, max and min (f32, f64, i32, i64).  Every index of those
 * two is checked before anything is written: one out of [-n, n-1] fails
 * naming the node, the index and where it is.  one_hot writes values' bytes
 * (every type) and, as ONNX defines it, turns an index out of range into a
 * line of "off".  gather_elements' gradient (f32) scatter-adds into data;
 * scatter_elements' (f32, reductions none and add) goes to data where no
 * update landed (none) or everywhere (add), and to each update from its
 * place (none: only the update the output holds). */
#include <math.h>
#include <string.h>

#include "index_impl.h"
#include "kernel.h"

/* The common walk: indices of shape `is` over data of shape `ds` (same
 * rank; off the axis no larger), data's element strides and the axis. */
typedef struct elem_walk {
    int rank, axis;
    int64_t n;                       /* data's dim along the axis */
    int64_t count;                   /* elements of indices */
    int64_t idims[BNN_MAX_RANK];     /* the indices' shape */
    int64_t strides[BNN_MAX_RANK];   /* data's, in elements */
} elem_walk;

static int64_t index_at(const bnn_tensor *t, int64_t k)
{
    return t->dtype == BNN_I64 ? ((const int64_t *)t->data)[k] : ((const int32_t *)t->data)[k];
}

/* Checks shapes, types and every index of input 1 against input 0. */
static bnn_status walk_setup(const bnn_kernel_args *args, elem_walk *w, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1];
    int rank = x->shape.rank;
    int64_t axis = bnn_node_int(args->node, "axis", 0);
    if (rank < 1 || axis < -rank || axis >= rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "axis %lld is out of range for rank %d",
                               (long long)axis, rank);
    if (idx->dtype != BNN_I64 && idx->dtype != BNN_I32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "indices must be i32 or i64");
    if (idx->shape.rank != rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "indices have rank %d, data %d",
                               idx->shape.rank, rank);
    w->rank = rank;
    w->axis = (int)(axis < 0 ? axis + rank : axis);
    w->n = x->shape.dims[w->axis];
    w->count = bnn_tensor_numel(idx);
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        w->idims[d] = idx->shape.dims[d];
        w->strides[d] = s;
        s *= x->shape.dims[d];
        if (d != w->axis && w->idims[d] > x->shape.dims[d])
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                                   "indices dim %d is %lld, larger than data's %lld", d,
                                   (long long)w->idims[d], (long long)x->shape.dims[d]);
    }
    for (int64_t k = 0; k < w->count; k++) {
        int64_t i = index_at(idx, k);
        if (i < -w->n || i >= w->n)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                   "index %lld (at position %lld) is out of range for axis %d "
                                   "of size %lld",
                                   (long long)i, (long long)k, w->axis, (long long)w->n);
    }
    return BNN_OK;
}

/* Calls BODY with k (the element of indices) and off (the data element it
 * names) for every element, in order. */
#define WALK(w, idx, BODY)                                                        \
    do {                                                                          \
        int64_t coord_[BNN_MAX_RANK] = {0};                                       \
        int64_t base_ = 0; /* data offset of the coordinates off the axis */      \
        for (int64_t k = 0; k < (w)->count; k++) {                                \
            int64_t i_ = index_at(idx, k);                                        \
            int64_t off = base_ + (i_ < 0 ? i_ + (w)->n : i_) * (w)->strides[(w)->axis]; \
            BODY;                                                                 \
            for (int d_ = (w)->rank - 1; d_ >= 0; d_--) {                         \
                int64_t step_ = d_ == (w)->axis ? 0 : (w)->strides[d_];           \
                if (++coord_[d_] < (w)->idims[d_]) {                              \
                    base_ += step_;                                               \
                    break;                                                        \
                }                                                                 \
                base_ -= step_ * (coord_[d_] - 1);                                \
                coord_[d_] = 0;                                                   \
            }                                                                     \
        }                                                                         \
    } while (0)

/* ---- gather_elements ---------------------------------------------------- */

static bnn_status gather_elements_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    elem_walk w;
    BNN_TRY(walk_setup(args, &w, diag));
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1], *y = &args->outputs[0];
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != w.count)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is not shaped like indices");
    size_t es = bnn_dtype_size(x->dtype);
    const unsigned char *src = x->data;
    unsigned char *dst = y->data;
    WALK(&w, idx, memcpy(dst + (size_t)k * es, src + (size_t)off * es, es));
    return BNN_OK;
}

static bnn_status gather_elements_backward(const bnn_kernel_args *args,
                                           const bnn_kernel_grads *grads, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    elem_walk w;
    BNN_TRY(walk_setup(args, &w, diag));
    const float *g = grads->grad_outputs[0].data;
    WALK(&w, &args->inputs[1], gx[off] += g[k]);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_gather_elements = {.forward = gather_elements_forward,
                                               .backward = gather_elements_backward};

/* ---- scatter_elements --------------------------------------------------- */

static bnn_status scatter_elements_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    elem_walk w;
    BNN_TRY(walk_setup(args, &w, diag));
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1], *u = &args->inputs[2];
    bnn_tensor *y = &args->outputs[0];
    bool same = u->dtype == x->dtype && u->shape.rank == idx->shape.rank;
    for (int d = 0; same && d < u->shape.rank; d++)
        same = u->shape.dims[d] == idx->shape.dims[d];
    if (!same)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "updates must be shaped like indices, of data's type");
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != bnn_tensor_numel(x))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is not shaped like data");
    const char *name = bnn_node_string(args->node, "reduction", "none");
    scatter_reduction r = SC_NONE;
    BNN_TRY(bnn_scatter_reduction(args, name, &r, diag));
    size_t es = bnn_dtype_size(x->dtype);
    if (r != SC_NONE && x->dtype != BNN_F32 && x->dtype != BNN_F64 && x->dtype != BNN_I32 &&
        x->dtype != BNN_I64)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "reduction '%s' of element type %s is not supported", name,
                               bnn_dtype_name(x->dtype));
    if (y->data != x->data && bnn_tensor_nbytes(x))
        memcpy(y->data, x->data, bnn_tensor_nbytes(x));
    unsigned char *dst = y->data;
    const unsigned char *src = u->data;
    if (r == SC_NONE) {
        WALK(&w, idx, memcpy(dst + (size_t)off * es, src + (size_t)k * es, es));
        return BNN_OK;
    }
    switch (x->dtype) {
    case BNN_F32: WALK(&w, idx, COMBINE(float, r, ((float *)y->data)[off], ((const float *)u->data)[k])); break;
    case BNN_F64: WALK(&w, idx, COMBINE(double, r, ((double *)y->data)[off], ((const double *)u->data)[k])); break;
    /* integers wrap on add and mul (two's complement, as numpy's do) */
    case BNN_I32: WALK(&w, idx, COMBINE_INT(int32_t, uint32_t, r, ((int32_t *)y->data)[off], ((const int32_t *)u->data)[k])); break;
    default: WALK(&w, idx, COMBINE_INT(int64_t, uint64_t, r, ((int64_t *)y->data)[off], ((const int64_t *)u->data)[k])); break;
    }
    return BNN_OK;
}

/* Per data element, the update that landed there last (backward). */
static size_t scatter_elements_scratch(const bnn_kernel_args *args)
{
    return (size_t)bnn_tensor_numel(&args->inputs[0]) * sizeof(int64_t) + 1;
}

/* Gradients (f32) for reduction none and add.  none: the update that landed
 * last at a place (the one the output holds) takes its gradient, data keeps
 * the gradient where nothing landed; add: data keeps all of it and each
 * update takes its place's.  mul, max and min have none here. */
static bnn_status scatter_elements_backward(const bnn_kernel_args *args,
                                            const bnn_kernel_grads *grads, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data, *gu = grads->grad_inputs[2].data;
    if (!gx && !gu)
        return BNN_OK;
    const char *name = bnn_node_string(args->node, "reduction", "none");
    bool add = strcmp(name, "add") == 0;
    if (!add && strcmp(name, "none") != 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "gradients of reduction '%s' are not supported", name);
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    elem_walk w;
    BNN_TRY(walk_setup(args, &w, diag));
    const float *g = grads->grad_outputs[0].data;
    const bnn_tensor *idx = &args->inputs[1];
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    if (add) {
        for (int64_t e = 0; gx && e < n; e++)
            gx[e] += g[e];
        if (gu)
            WALK(&w, idx, gu[k] += g[off]);
        return BNN_OK;
    }
    int64_t *last = args->scratch;
    for (int64_t e = 0; e < n; e++)
        last[e] = -1;
    WALK(&w, idx, last[off] = k);
    for (int64_t e = 0; gx && e < n; e++)
        if (last[e] < 0)
            gx[e] += g[e];
    if (gu)
        WALK(&w, idx, if (last[off] == k) gu[k] += g[off]);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_scatter_elements = {.forward = scatter_elements_forward,
                                                .backward = scatter_elements_backward,
                                                .scratch_size = scatter_elements_scratch};

/* ---- one_hot ------------------------------------------------------------ */

/* Index k of a numeric tensor as an integer: float types truncate toward
 * zero (ONNX casts them to int64); NaN and values past int64 give -1 - depth,
 * which is out of range whatever the depth. */
static int64_t one_hot_index(const bnn_tensor *t, int64_t k, int64_t depth)
{
    double f;
    switch (t->dtype) {
    case BNN_I64: return ((const int64_t *)t->data)[k];
    case BNN_I32: return ((const int32_t *)t->data)[k];
    case BNN_I16: return ((const int16_t *)t->data)[k];
    case BNN_I8: return ((const int8_t *)t->data)[k];
    case BNN_U8: return ((const uint8_t *)t->data)[k];
    case BNN_U16: return ((const uint16_t *)t->data)[k];
    case BNN_U32: return ((const uint32_t *)t->data)[k];
    case BNN_U64: {
        uint64_t u = ((const uint64_t *)t->data)[k];
        return u > (uint64_t)INT64_MAX ? -1 - depth : (int64_t)u;
    }
    case BNN_F32: f = ((const float *)t->data)[k]; break;
    case BNN_F64: f = ((const double *)t->data)[k]; break;
    default: return -1 - depth;
    }
    if (!(f > -9.2e18 && f < 9.2e18))
        return -1 - depth;
    return (int64_t)trunc(f);
}

static bnn_status one_hot_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *idx = &args->inputs[0], *vals = &args->inputs[1];
    bnn_tensor *y = &args->outputs[0];
    int r = idx->shape.rank;
    int64_t depth = bnn_node_int(args->node, "depth", -1);
    int64_t axis = bnn_node_int(args->node, "axis", -1);
    if (axis < -r - 1 || axis > r || depth < 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "axis %lld or depth %lld is out of range for indices of rank %d",
                               (long long)axis, (long long)depth, r);
    if (axis < 0)
        axis += r + 1;
    if (bnn_tensor_numel(vals) != 2 || vals->dtype != y->dtype || bnn_dtype_size(y->dtype) == 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "values must hold two elements of the output's type");
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < r; d++) {
        if (d < axis) outer *= idx->shape.dims[d];
        else inner *= idx->shape.dims[d];
    }
    if (bnn_tensor_numel(y) != outer * depth * inner || y->shape.rank != r + 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "output is not indices' shape with depth %lld inserted at %lld",
                               (long long)depth, (long long)axis);
    size_t es = bnn_dtype_size(y->dtype);
    const unsigned char *off = vals->data, *on = off + es;
    unsigned char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = one_hot_index(idx, o * inner + i, depth);
            if (k < 0)
                k += depth;
            for (int64_t d = 0; d < depth; d++)
                memcpy(dst + (size_t)((o * depth + d) * inner + i) * es, d == k ? on : off, es);
        }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_one_hot = {.forward = one_hot_forward};
