/* Shape inference for indexing by tuples (runtime/kernels/index_nd.c):
 * gather_nd and scatter_nd.  The index values are data, checked by the
 * kernels; here the types, ranks and dims that must agree.  Dispatch and the
 * shared helpers are in infer.c. */

#include <string.h>

#include "infer_impl.h"

/* Indices (input 1) against data (input 0) with b batch dims: *k gets the
 * tuple length, or -1 while a rank or the last dim is unknown. */
static bnn_status check_tuples(infer_ctx *c, int64_t b, int64_t *k)
{
    const bnn_value *x = infer_input(c, 0), *idx = infer_input(c, 1);
    *k = -1;
    if (idx->dtype != BNN_UNDEFINED && idx->dtype != BNN_I32 && idx->dtype != BNN_I64)
        return infer_fail(c, "indices '%s' have type %s, expected i32 or i64", infer_name(c, 1),
                          infer_type(c, 1));
    int r = x->shape.rank, q = idx->shape.rank;
    if (r == 0 || q == 0)
        return infer_fail(c, "input '%s' %s and indices '%s' %s must be at least 1-D",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1));
    if (b < 0 || (r > 0 && b >= r) || (q > 0 && b >= q))
        return infer_fail(c, "batch_dims %lld must be below both ranks", (long long)b);
    if (r < 0 || q < 0)
        return BNN_OK;
    for (int d = 0; d < b; d++)
        if (infer_dims_conflict(x->shape.dims[d], idx->shape.dims[d]))
            return infer_fail(c, "indices '%s' %s and input '%s' %s differ in batch dim %d",
                              infer_name(c, 1), infer_type(c, 1), infer_name(c, 0),
                              infer_type(c, 0), d);
    int64_t last = idx->shape.dims[q - 1];
    if (!bnn_dim_is_known(last))
        return BNN_OK;
    if (last < 1 || last > r - b)
        return infer_fail(c, "indices '%s' %s name tuples of %lld, expected 1 to %lld",
                          infer_name(c, 1), infer_type(c, 1), (long long)last,
                          (long long)(r - b));
    *k = last;
    return BNN_OK;
}

bnn_status bnn_infer_gather_nd(infer_ctx *c)
{
    int64_t b = bnn_node_int(c->node, "batch_dims", 0), k;
    BNN_TRY(check_tuples(c, b, &k));
    const bnn_value *x = infer_input(c, 0), *idx = infer_input(c, 1);
    c->out_dtype = x->dtype;
    if (k < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    int q = idx->shape.rank, r = x->shape.rank;
    c->out.rank = 0;
    if ((q - 1) + (r - (int)b - (int)k) > BNN_MAX_RANK)
        return infer_fail(c, "the output's rank exceeds %d", BNN_MAX_RANK);
    for (int d = 0; d < q - 1; d++)
        c->out.dims[c->out.rank++] = d < b ? infer_dim_meet(x->shape.dims[d], idx->shape.dims[d])
                                           : idx->shape.dims[d];
    for (int d = (int)(b + k); d < r; d++)
        c->out.dims[c->out.rank++] = x->shape.dims[d];
    return BNN_OK;
}

bnn_status bnn_infer_scatter_nd(infer_ctx *c)
{
    int64_t k;
    BNN_TRY(check_tuples(c, 0, &k));
    BNN_TRY(infer_check_type(c, 2, TYPES_ANY, 0));
    const char *reduction = bnn_node_string(c->node, "reduction", "none");
    if (strcmp(reduction, "none") != 0 && strcmp(reduction, "add") != 0 &&
        strcmp(reduction, "mul") != 0 && strcmp(reduction, "max") != 0 &&
        strcmp(reduction, "min") != 0)
        return infer_fail(c, "reduction '%s' is not one of none, add, mul, max, min", reduction);
    if (strcmp(reduction, "none") != 0)
        BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    const bnn_value *x = infer_input(c, 0), *idx = infer_input(c, 1), *u = infer_input(c, 2);
    if (k >= 0 && u->shape.rank >= 0) {
        int q = idx->shape.rank, r = x->shape.rank;
        bool clash = u->shape.rank != q - 1 + r - (int)k;
        for (int d = 0; !clash && d < u->shape.rank; d++)
            clash = infer_dims_conflict(u->shape.dims[d], d < q - 1 ? idx->shape.dims[d]
                                                                   : x->shape.dims[d - (q - 1) + k]);
        if (clash)
            return infer_fail(c, "updates '%s' %s are not shaped indices[:-1] + data[%lld:] "
                              "(indices '%s' %s, data '%s' %s)", infer_name(c, 2),
                              infer_type(c, 2), (long long)k, infer_name(c, 1), infer_type(c, 1),
                              infer_name(c, 0), infer_type(c, 0));
    }
    c->out_dtype = x->dtype;
    c->out = x->shape;
    return BNN_OK;
}
