/* Shape inference for selection along an axis (runtime/kernels/select.c):
 * top_k, hardmax and reverse_sequence.  Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

/* values: x's shape with the axis' dim k; indices: the same shape, i64. */
bnn_status bnn_infer_top_k(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    if (!bnn_node_attr(c->node, "k"))
        return infer_fail(c, "attribute 'k' is missing");
    int64_t k = bnn_node_int(c->node, "k", 0);
    bool largest, sorted;
    BNN_TRY(infer_flag_attr(c, "largest", 1, &largest));
    BNN_TRY(infer_flag_attr(c, "sorted", 1, &sorted));
    if (k < 0 || k > ATTR_MAX)
        return infer_fail(c, "k is %lld, expected a size", (long long)k);
    const bnn_value *x = infer_input(c, 0);
    c->out_dtype = x->dtype;
    c->out = x->shape;
    if (x->shape.rank >= 0) {
        int64_t a = bnn_node_int(c->node, "axis", -1);
        int axis;
        if (x->shape.rank == 0 || !infer_norm_axis(a, x->shape.rank, &axis))
            return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)a,
                              infer_name(c, 0), infer_type(c, 0));
        int64_t n = x->shape.dims[axis];
        if (bnn_dim_is_known(n) && k > n)
            return infer_fail(c, "k is %lld, larger than dim %d of input '%s' %s", (long long)k,
                              axis, infer_name(c, 0), infer_type(c, 0));
        c->out.dims[axis] = k;
    }
    c->extra[0] = c->out;
    c->extra_dtype[0] = BNN_I64;
    c->n_extra = 1;
    return BNN_OK;
}

bnn_status bnn_infer_hardmax(infer_ctx *c)
{
    bool coerce;
    BNN_TRY(infer_flag_attr(c, "coerce", 0, &coerce));
    int rank = infer_input(c, 0)->shape.rank, axis;
    int64_t a = bnn_node_int(c->node, "axis", coerce ? 1 : -1);
    if (rank >= 0 && !infer_norm_axis(a, rank > 0 ? rank : 1, &axis))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)a,
                          infer_name(c, 0), infer_type(c, 0));
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_reverse_sequence(infer_ctx *c)
{
    int64_t ba = bnn_node_int(c->node, "batch_axis", 1), ta = bnn_node_int(c->node, "time_axis", 0);
    if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
        return infer_fail(c, "batch_axis %lld and time_axis %lld must be 0 and 1 in some order",
                          (long long)ba, (long long)ta);
    const bnn_value *x = infer_input(c, 0), *lens = infer_input(c, 1);
    if (lens->dtype != BNN_UNDEFINED && lens->dtype != BNN_I32 && lens->dtype != BNN_I64)
        return infer_fail(c, "sequence_lens '%s' have type %s, expected i32 or i64",
                          infer_name(c, 1), infer_type(c, 1));
    if (x->shape.rank >= 0 && x->shape.rank < 2)
        return infer_fail(c, "input '%s' %s must be at least 2-D", infer_name(c, 0),
                          infer_type(c, 0));
    if (x->shape.rank >= 0 && lens->shape.rank >= 0 &&
        (lens->shape.rank != 1 || infer_dims_conflict(lens->shape.dims[0], x->shape.dims[ba])))
        return infer_fail(c, "sequence_lens '%s' %s must be 1-D of the batch size of '%s' %s",
                          infer_name(c, 1), infer_type(c, 1), infer_name(c, 0), infer_type(c, 0));
    c->out_dtype = x->dtype;
    c->out = x->shape;
    return BNN_OK;
}
