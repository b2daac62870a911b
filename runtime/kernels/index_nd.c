/* Indexing by tuples: gather_nd and scatter_nd.  indices' last dim k is the
 * tuple length; each tuple names a slice of data (the dims past b + k, b the
 * batch dims, which only gather_nd has).  Every index is checked before
 * anything is written: one out of [-n, n-1] fails naming the node, the
 * index and where it is.  gather_nd moves bytes (every element type), its
 * gradient (f32) adds each slice's gradient back; scatter_nd moves bytes for
 * reduction "none" and computes in the element type (f32, f64, i32, i64)
 * for the others, updates applied in order. */
#include <string.h>

#include "index_impl.h"
#include "kernel.h"

typedef struct tuple_walk {
    int64_t batches;      /* product of the b batch dims */
    int64_t per_batch;    /* tuples per batch */
    int64_t k;            /* tuple length */
    int64_t slice;        /* elements of one slice */
    int64_t block;        /* data elements per batch */
    int64_t dims[BNN_MAX_RANK], strides[BNN_MAX_RANK]; /* of the k indexed dims */
} tuple_walk;

static int64_t index_at(const bnn_tensor *t, int64_t i)
{
    return t->dtype == BNN_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

/* Shapes of data (input 0) and indices (input 1) with b batch dims; with
 * check_values, every index too. */
static bnn_status tuple_setup(const bnn_kernel_args *args, int64_t b, tuple_walk *w,
                              bool check_values, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1];
    int r = x->shape.rank, q = idx->shape.rank;
    if (idx->dtype != BNN_I64 && idx->dtype != BNN_I32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "indices must be i32 or i64");
    if (r < 1 || q < 1 || b < 0 || b >= r || b >= q)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "ranks %d (data) and %d (indices) do not fit batch_dims %lld", r,
                               q, (long long)b);
    w->k = idx->shape.dims[q - 1];
    if (w->k < 1 || w->k > r - b)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "tuples of %lld do not fit data of rank %d",
                               (long long)w->k, r);
    w->batches = 1;
    for (int d = 0; d < b; d++) {
        if (x->shape.dims[d] != idx->shape.dims[d])
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "batch dim %d differs", d);
        w->batches *= x->shape.dims[d];
    }
    w->per_batch = 1;
    for (int d = (int)b; d < q - 1; d++)
        w->per_batch *= idx->shape.dims[d];
    w->slice = 1;
    for (int d = (int)(b + w->k); d < r; d++)
        w->slice *= x->shape.dims[d];
    int64_t s = w->slice;
    for (int j = (int)w->k - 1; j >= 0; j--) {
        w->dims[j] = x->shape.dims[b + j];
        w->strides[j] = s;
        s *= w->dims[j];
    }
    w->block = s;
    int64_t n = w->batches * w->per_batch * w->k;
    for (int64_t i = 0; check_values && i < n; i++) {
        int64_t v = index_at(idx, i), dim = w->dims[i % w->k];
        if (v < -dim || v >= dim)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                   "index %lld (at position %lld) is out of range for dim %lld "
                                   "of size %lld",
                                   (long long)v, (long long)i, (long long)(b + i % w->k),
                                   (long long)dim);
    }
    return BNN_OK;
}

/* The data offset of tuple t (counted over all batches). */
static int64_t tuple_offset(const tuple_walk *w, const bnn_tensor *idx, int64_t t)
{
    int64_t off = (t / w->per_batch) * w->block;
    for (int64_t j = 0; j < w->k; j++) {
        int64_t v = index_at(idx, t * w->k + j);
        off += (v < 0 ? v + w->dims[j] : v) * w->strides[j];
    }
    return off;
}

/* ---- gather_nd ----------------------------------------------------------- */

static bnn_status gather_nd_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    tuple_walk w = {0};
    BNN_TRY(tuple_setup(args, bnn_node_int(args->node, "batch_dims", 0), &w, true, diag));
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1];
    bnn_tensor *y = &args->outputs[0];
    int64_t tuples = w.batches * w.per_batch;
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != tuples * w.slice)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output has the wrong size");
    size_t es = bnn_dtype_size(x->dtype), row = (size_t)w.slice * es;
    for (int64_t t = 0; t < tuples; t++)
        memcpy((unsigned char *)y->data + (size_t)t * row,
               (const unsigned char *)x->data + (size_t)tuple_offset(&w, idx, t) * es, row);
    return BNN_OK;
}

static bnn_status gather_nd_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                     bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    tuple_walk w = {0};
    BNN_TRY(tuple_setup(args, bnn_node_int(args->node, "batch_dims", 0), &w, true, diag));
    const float *g = grads->grad_outputs[0].data;
    int64_t tuples = w.batches * w.per_batch;
    for (int64_t t = 0; t < tuples; t++) {
        float *dst = gx + tuple_offset(&w, &args->inputs[1], t);
        for (int64_t i = 0; i < w.slice; i++)
            dst[i] += g[t * w.slice + i];
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_gather_nd = {.forward = gather_nd_forward,
                                         .backward = gather_nd_backward};

/* ---- scatter_nd ---------------------------------------------------------- */

static bnn_status scatter_nd_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    tuple_walk w = {0};
    BNN_TRY(tuple_setup(args, 0, &w, true, diag));
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1], *u = &args->inputs[2];
    bnn_tensor *y = &args->outputs[0];
    int64_t tuples = w.per_batch;
    if (u->dtype != x->dtype || bnn_tensor_numel(u) != tuples * w.slice)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "updates must be of data's type, shaped indices[:-1] + data[k:]");
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != bnn_tensor_numel(x))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is not shaped like data");
    const char *name = bnn_node_string(args->node, "reduction", "none");
    scatter_reduction r = SC_NONE;
    BNN_TRY(bnn_scatter_reduction(args, name, &r, diag));
    if (r != SC_NONE && x->dtype != BNN_F32 && x->dtype != BNN_F64 && x->dtype != BNN_I32 &&
        x->dtype != BNN_I64)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "reduction '%s' of element type %s is not supported", name,
                               bnn_dtype_name(x->dtype));
    if (y->data != x->data && bnn_tensor_nbytes(x))
        memcpy(y->data, x->data, bnn_tensor_nbytes(x));
    size_t es = bnn_dtype_size(x->dtype);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = tuple_offset(&w, idx, t), from = t * w.slice;
        if (r == SC_NONE) {
            memcpy((unsigned char *)y->data + (size_t)off * es,
                   (const unsigned char *)u->data + (size_t)from * es, (size_t)w.slice * es);
            continue;
        }
        for (int64_t i = 0; i < w.slice; i++)
            switch (x->dtype) {
            case BNN_F32: COMBINE(float, r, ((float *)y->data)[off + i], ((const float *)u->data)[from + i]); break;
            case BNN_F64: COMBINE(double, r, ((double *)y->data)[off + i], ((const double *)u->data)[from + i]); break;
            case BNN_I32: COMBINE_INT(int32_t, uint32_t, r, ((int32_t *)y->data)[off + i], ((const int32_t *)u->data)[from + i]); break;
            default: COMBINE_INT(int64_t, uint64_t, r, ((int64_t *)y->data)[off + i], ((const int64_t *)u->data)[from + i]); break;
            }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_scatter_nd = {.forward = scatter_nd_forward};
