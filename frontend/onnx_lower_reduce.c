/* ONNX op -> IR op for the reductions: ReduceSum, ReduceMean, ReduceMax,
 * ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
 * ReduceSumSquare (onto reduce_*), ArgMax and ArgMin (onto arg_max,
 * arg_min).  Registered in the table of onnx_lower.c.
 *
 * The IR keeps `axes` as an attribute whatever the opset: the axes input
 * (ReduceSum from opset 13, the others from 18) must be a constant, and noop_with_empty_axes with
 * empty axes lowers to identity.  keepdims and ArgMax's axis are always
 * written (their ONNX defaults when absent), select_last_index only when set.
 */
#include "onnx_impl.h"

static bnn_status reduce(onnx_ctx *c, bnn_op op, bool axes_input)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t keepdims, noop = 0;
    BNN_TRY(onnx_attr_int(c, "keepdims", 1, &keepdims));
    const int64_t *axes = NULL;
    int n_axes = -1;
    onnx_known known;
    if (axes_input) {
        if (onnx_attr(c, "axes"))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'axes' belongs to opsets before "
                                  "%d; from %d on the axes are input 1", op == BNN_OP_REDUCE_SUM ? 13 : 18,
                                  op == BNN_OP_REDUCE_SUM ? 13 : 18);
        BNN_TRY(onnx_attr_int(c, "noop_with_empty_axes", 0, &noop));
        int ax = onnx_input(c, 1);
        if (ax >= 0) {
            if (!onnx_known_get(c, ax, &known) || known.sym || known.rank != 1)
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'axes' must be a constant 1-D "
                                      "integer tensor (bnnc does not compute it at run time)");
            axes = known.v;
            n_axes = known.n;
        }
    } else {
        BNN_TRY(onnx_attr_ints(c, "axes", &axes, &n_axes));
    }
    if (n_axes > BNN_MAX_RANK)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %d axes, more than any input's rank",
                              n_axes);
    int nid;
    if (noop && n_axes <= 0) {
        /* ReduceSum 13+: empty axes with noop_with_empty_axes=1 reduce nothing. */
        BNN_TRY(onnx_emit_node(c, BNN_OP_IDENTITY, &x, 1, &nid));
        return onnx_infer(c, nid);
    }
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    if (n_axes > 0)
        BNN_TRY(onnx_set_ints(c, nid, "axes", axes, n_axes));
    BNN_TRY(onnx_set_int(c, nid, "keepdims", keepdims));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_reduce_sum(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_SUM, c->opset >= 13); }
bnn_status onnx_lower_reduce_mean(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_MEAN, c->opset >= 18); }
bnn_status onnx_lower_reduce_max(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_MAX, c->opset >= 18); }
bnn_status onnx_lower_reduce_min(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_MIN, c->opset >= 18); }
bnn_status onnx_lower_reduce_prod(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_PROD, c->opset >= 18); }
bnn_status onnx_lower_reduce_l1(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_L1, c->opset >= 18); }
bnn_status onnx_lower_reduce_l2(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_L2, c->opset >= 18); }
bnn_status onnx_lower_reduce_log_sum(onnx_ctx *c) { return reduce(c, BNN_OP_REDUCE_LOG_SUM, c->opset >= 18); }
bnn_status onnx_lower_reduce_log_sum_exp(onnx_ctx *c)
{
    return reduce(c, BNN_OP_REDUCE_LOG_SUM_EXP, c->opset >= 18);
}
bnn_status onnx_lower_reduce_sum_square(onnx_ctx *c)
{
    return reduce(c, BNN_OP_REDUCE_SUM_SQUARE, c->opset >= 18);
}

static bnn_status arg_reduce(onnx_ctx *c, bnn_op op)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t axis, keepdims, last = 0;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    BNN_TRY(onnx_attr_int(c, "keepdims", 1, &keepdims));
    if (c->opset >= 12)
        BNN_TRY(onnx_attr_int(c, "select_last_index", 0, &last));
    else if (onnx_attr(c, "select_last_index"))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'select_last_index' needs opset 12");
    int nid;
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    BNN_TRY(onnx_set_int(c, nid, "keepdims", keepdims));
    if (last)
        BNN_TRY(onnx_set_int(c, nid, "select_last_index", last));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_arg_max(onnx_ctx *c) { return arg_reduce(c, BNN_OP_ARG_MAX); }
bnn_status onnx_lower_arg_min(onnx_ctx *c) { return arg_reduce(c, BNN_OP_ARG_MIN); }

/* Size: the element count of the input as an i64 scalar.  A static shape
 * folds into a constant; otherwise shape then reduce_prod, which run at the
 * cost of a few integer multiplies. */
bnn_status onnx_lower_size(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const bnn_shape *s = &onnx_val(c, x)->shape;
    bool fixed = s->rank >= 0;
    int64_t count = 1;
    for (int i = 0; fixed && i < s->rank; i++) {
        fixed = s->dims[i] >= 0; /* not unknown, not a symbol */
        count *= fixed ? s->dims[i] : 1;
    }
    if (fixed) {
        bnn_shape scalar = { .rank = 0 };
        return onnx_output_param(c, 0, BNN_I64, &scalar, &count, sizeof count);
    }
    char buf[300], base[280];
    snprintf(base, sizeof base, "%s_shape", c->node_name);
    int shape = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_UNDEFINED,
                                    NULL);
    if (shape < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int nid = bnn_graph_add_node(c->g, BNN_OP_SHAPE, base, &x, 1, &shape, 1);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    BNN_TRY(onnx_infer(c, nid));
    BNN_TRY(onnx_emit_node(c, BNN_OP_REDUCE_PROD, &shape, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "keepdims", 0));
    return onnx_infer(c, nid);
}
