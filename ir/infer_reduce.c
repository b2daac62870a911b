/* Shape inference for the reductions (reduce_sum, reduce_mean, ..., the ten
 * reduce_* ops share bnn_infer_reduce) and for arg_max/arg_min
 * (bnn_infer_arg_reduce).  Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

/* Marks the reduced dims of a rank-`rank` input in mark[]: the `axes`
 * attribute (each in [-rank, rank-1], none twice), or every dim when it is
 * absent or empty. */
static bnn_status reduced_axes(infer_ctx *c, int rank, bool *mark)
{
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    for (int i = 0; i < rank; i++)
        mark[i] = n == 0;
    for (int i = 0; i < n; i++) {
        int a;
        if (!infer_norm_axis(axes[i], rank, &a))
            return infer_fail(c, "axis %lld of attribute 'axes' is out of range for input '%s' %s",
                              (long long)axes[i], infer_name(c, 0), infer_type(c, 0));
        if (mark[a])
            return infer_fail(c, "attribute 'axes' repeats axis %lld (dim %d)",
                              (long long)axes[i], a);
        mark[a] = true;
    }
    return BNN_OK;
}

bnn_status bnn_infer_reduce(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    bool keepdims;
    BNN_TRY(infer_flag_attr(c, "keepdims", 1, &keepdims));
    const bnn_shape *x = &infer_input(c, 0)->shape;
    c->out_dtype = infer_input(c, 0)->dtype;
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    bool mark[BNN_MAX_RANK];
    BNN_TRY(reduced_axes(c, x->rank, mark));
    c->out.rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!mark[i])
            c->out.dims[c->out.rank++] = x->dims[i];
        else if (keepdims)
            c->out.dims[c->out.rank++] = 1;
    }
    return BNN_OK;
}

bnn_status bnn_infer_arg_reduce(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    bool keepdims, last;
    BNN_TRY(infer_flag_attr(c, "keepdims", 1, &keepdims));
    BNN_TRY(infer_flag_attr(c, "select_last_index", 0, &last));
    const bnn_shape *x = &infer_input(c, 0)->shape;
    c->out_dtype = BNN_I64;
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (x->rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar: there is no axis to search",
                          infer_name(c, 0), infer_type(c, 0));
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    int a;
    if (!infer_norm_axis(axis, x->rank, &a))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                          infer_name(c, 0), infer_type(c, 0));
    if (x->dims[a] == 0)
        return infer_fail(c, "axis %d of input '%s' %s is empty: there is no index to return", a,
                          infer_name(c, 0), infer_type(c, 0));
    c->out.rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != a)
            c->out.dims[c->out.rank++] = x->dims[i];
        else if (keepdims)
            c->out.dims[c->out.rank++] = 1;
    }
    return BNN_OK;
}

bnn_status bnn_infer_cum_sum(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    bool flag;
    BNN_TRY(infer_flag_attr(c, "exclusive", 0, &flag));
    BNN_TRY(infer_flag_attr(c, "reverse", 0, &flag));
    const bnn_value *x = infer_input(c, 0), *a = infer_input(c, 1);
    if (a->dtype != BNN_UNDEFINED && a->dtype != BNN_I32 && a->dtype != BNN_I64)
        return infer_fail(c, "axis '%s' has type %s, expected i32 or i64", infer_name(c, 1),
                          infer_type(c, 1));
    if (a->shape.rank > 1 || (a->shape.rank == 1 && infer_dims_conflict(a->shape.dims[0], 1)))
        return infer_fail(c, "axis '%s' %s must be a scalar", infer_name(c, 1), infer_type(c, 1));
    if (x->shape.rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar: there is no axis to sum along",
                          infer_name(c, 0), infer_type(c, 0));
    /* A constant axis is checked now; a computed one by the kernel. */
    if (a->kind == BNN_VALUE_PARAM && a->data && x->shape.rank > 0) {
        int64_t axis = a->dtype == BNN_I64 ? *(const int64_t *)a->data : *(const int32_t *)a->data;
        int d;
        if (!infer_norm_axis(axis, x->shape.rank, &d))
            return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                              infer_name(c, 0), infer_type(c, 0));
    }
    c->out_dtype = x->dtype;
    c->out = x->shape;
    return BNN_OK;
}
