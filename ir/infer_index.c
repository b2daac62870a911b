/* Shape inference for indexing element by element (runtime/kernels/index.c):
 * gather_elements and scatter_elements.  The index values themselves are
 * checked by the kernels (they are data); here only the types, ranks and
 * dims that must agree.  Dispatch and the shared helpers are in infer.c. */

#include <string.h>

#include "infer_impl.h"

/* Indices (input k) against data (input 0): an i32 or i64 tensor of data's
 * rank whose dims off the axis are no larger than data's.  *axis_out gets
 * the axis in [0, rank) (or 0 when the rank is unknown). */
static bnn_status check_indices(infer_ctx *c, int k, int *axis_out)
{
    const bnn_value *x = infer_input(c, 0), *idx = infer_input(c, k);
    if (idx->dtype != BNN_UNDEFINED && idx->dtype != BNN_I32 && idx->dtype != BNN_I64)
        return infer_fail(c, "indices '%s' have type %s, expected i32 or i64", infer_name(c, k),
                          infer_type(c, k));
    *axis_out = 0;
    if (x->shape.rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D", infer_name(c, 0),
                          infer_type(c, 0));
    if (x->shape.rank < 0)
        return BNN_OK;
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    if (!infer_norm_axis(axis, x->shape.rank, axis_out))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                          infer_name(c, 0), infer_type(c, 0));
    if (idx->shape.rank < 0)
        return BNN_OK;
    if (idx->shape.rank != x->shape.rank)
        return infer_fail(c, "indices '%s' %s have rank %d, input '%s' %s has %d",
                          infer_name(c, k), infer_type(c, k), idx->shape.rank, infer_name(c, 0),
                          infer_type(c, 0), x->shape.rank);
    for (int d = 0; d < x->shape.rank; d++) {
        int64_t di = idx->shape.dims[d], dx = x->shape.dims[d];
        if (d != *axis_out && bnn_dim_is_known(di) && bnn_dim_is_known(dx) && di > dx)
            return infer_fail(c, "indices '%s' %s are larger than input '%s' %s at dim %d",
                              infer_name(c, k), infer_type(c, k), infer_name(c, 0),
                              infer_type(c, 0), d);
    }
    return BNN_OK;
}

bnn_status bnn_infer_gather_elements(infer_ctx *c)
{
    int axis;
    BNN_TRY(check_indices(c, 1, &axis));
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out = infer_input(c, 1)->shape;
    return BNN_OK;
}

bnn_status bnn_infer_scatter_elements(infer_ctx *c)
{
    int axis;
    BNN_TRY(check_indices(c, 1, &axis));
    BNN_TRY(infer_check_type(c, 2, TYPES_ANY, 0));
    const bnn_shape *is = &infer_input(c, 1)->shape, *us = &infer_input(c, 2)->shape;
    bool clash = is->rank >= 0 && us->rank >= 0 && is->rank != us->rank;
    for (int d = 0; !clash && is->rank >= 0 && d < is->rank; d++)
        clash = infer_dims_conflict(is->dims[d], us->dims[d]);
    if (clash)
        return infer_fail(c, "updates '%s' %s are not shaped like indices '%s' %s",
                          infer_name(c, 2), infer_type(c, 2), infer_name(c, 1), infer_type(c, 1));
    const char *reduction = bnn_node_string(c->node, "reduction", "none");
    if (strcmp(reduction, "none") != 0 && strcmp(reduction, "add") != 0 &&
        strcmp(reduction, "mul") != 0 && strcmp(reduction, "max") != 0 &&
        strcmp(reduction, "min") != 0)
        return infer_fail(c, "reduction '%s' is not one of none, add, mul, max, min", reduction);
    if (strcmp(reduction, "none") != 0)
        BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}

bnn_status bnn_infer_one_hot(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    const bnn_value *idx = infer_input(c, 0), *vals = infer_input(c, 1);
    if (vals->shape.rank >= 0 && infer_dim_product(vals->shape.dims, vals->shape.rank) >= 0 &&
        (vals->shape.rank > 1 || infer_dim_product(vals->shape.dims, vals->shape.rank) != 2))
        return infer_fail(c, "values '%s' %s must hold two elements (off, on)", infer_name(c, 1),
                          infer_type(c, 1));
    const bnn_attr *depth = bnn_node_attr(c->node, "depth");
    if (!depth)
        return infer_fail(c, "attribute 'depth' is required");
    if (depth->i < 0 || depth->i > ATTR_MAX)
        return infer_fail(c, "attribute 'depth' is %lld, expected 0 to %lld", (long long)depth->i,
                          (long long)ATTR_MAX);
    c->out_dtype = vals->dtype;
    if (idx->shape.rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (idx->shape.rank + 1 > BNN_MAX_RANK)
        return infer_fail(c, "output rank %d exceeds %d", idx->shape.rank + 1, BNN_MAX_RANK);
    int64_t axis = bnn_node_int(c->node, "axis", -1);
    int a;
    if (!infer_norm_axis(axis, idx->shape.rank + 1, &a))
        return infer_fail(c, "axis %lld is out of range for indices '%s' %s", (long long)axis,
                          infer_name(c, 0), infer_type(c, 0));
    c->out.rank = 0;
    for (int d = 0; d <= idx->shape.rank; d++)
        c->out.dims[c->out.rank++] =
            d == a ? depth->i : idx->shape.dims[d < a ? d : d - 1];
    return BNN_OK;
}
