/* ONNX op -> IR op for normalisation (runtime/kernels/norm.c):
 * BatchNormalization (inference form, frozen statistics) onto batch_norm, and
 * LayerNormalization (opset 17) lowered onto ops the IR has, so it runs,
 * trains and exports with no kernel of its own:
 *
 *   mean = reduce_mean(x, axes)          d   = x - mean
 *   var  = reduce_mean(d * d, axes)      inv = reciprocal(sqrt(var + eps))
 *   y    = d * inv * scale [+ bias]
 *
 * axes run from `axis` to the last; mean and inv (keepdims) are the op's
 * optional outputs Mean and InvStdDev.  Computed in f32 (stash_type 1). */
#include <stdio.h>

#include "onnx_impl.h"

/* A node of the expansion: output k of the ONNX node (Y is k 0, always
 * defined; Mean and InvStdDev only when read), otherwise (k < 0 or unread) a
 * fresh value named after the node and `what`. */
static bnn_status step(onnx_ctx *c, bnn_op op, const char *what, int a, int b, int k, int *out)
{
    char buf[300], base[280];
    snprintf(base, sizeof base, "%s_%s", c->node_name, what);
    bool output = k == 0 || (k > 0 && onnx_output_used(c, k));
    int id = output ? onnx_define_output(c, k)
                    : bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                          BNN_UNDEFINED, NULL);
    if (id < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int in[2] = { a, b };
    int nid = bnn_graph_add_node(c->g, op, k == 0 ? c->node_name : base, in, b >= 0 ? 2 : 1, &id, 1);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    *out = id;
    return BNN_OK;
}

static bnn_status reduce_mean(onnx_ctx *c, const char *what, int x, const int64_t *axes,
                              int n_axes, int k, int *out)
{
    BNN_TRY(step(c, BNN_OP_REDUCE_MEAN, what, x, -1, k, out));
    int nid = bnn_graph_value(c->g, *out)->producer;
    BNN_TRY(onnx_set_ints(c, nid, "axes", axes, n_axes));
    BNN_TRY(onnx_set_int(c, nid, "keepdims", 1));
    return onnx_infer(c, nid);
}

/* step + shape inference, for the nodes without attributes */
static bnn_status op2(onnx_ctx *c, bnn_op op, const char *what, int a, int b, int k, int *out)
{
    BNN_TRY(step(c, op, what, a, b, k, out));
    return onnx_infer(c, bnn_graph_value(c->g, *out)->producer);
}

bnn_status onnx_lower_layer_norm(onnx_ctx *c)
{
    int x, scale;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_need_input(c, 1, &scale));
    int bias = onnx_input(c, 2);
    int64_t axis, stash;
    float eps;
    BNN_TRY(onnx_attr_int(c, "axis", -1, &axis));
    BNN_TRY(onnx_attr_float(c, "epsilon", 1e-5f, &eps));
    BNN_TRY(onnx_attr_int(c, "stash_type", 1, &stash));
    const bnn_value *xv = onnx_val(c, x);
    if (xv->dtype != BNN_F32)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input X is %s; bnnc normalizes f32 only",
                              bnn_dtype_name(xv->dtype));
    if (stash != 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "stash_type %lld (only 1, f32, is supported)",
                              (long long)stash);
    int rank = xv->shape.rank;
    if (rank < 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input X needs a known rank of at least 1");
    if (axis < -rank || axis >= rank)
        return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d",
                              (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    int64_t axes[BNN_MAX_RANK];
    int n_axes = 0;
    for (int64_t i = axis; i < rank; i++)
        axes[n_axes++] = i;

    char buf[300], base[280];
    snprintf(base, sizeof base, "%s_epsilon", c->node_name);
    bnn_shape one = { .rank = 0 };
    int eps_id = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_F32, &one,
                                     &eps, sizeof eps, false);
    if (eps_id < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");

    int mean, d, dd, var, ve, sd, inv, n, y;
    BNN_TRY(reduce_mean(c, "mean", x, axes, n_axes, 1, &mean));
    BNN_TRY(op2(c, BNN_OP_SUB, "centred", x, mean, -1, &d));
    BNN_TRY(op2(c, BNN_OP_MUL, "squared", d, d, -1, &dd));
    BNN_TRY(reduce_mean(c, "variance", dd, axes, n_axes, -1, &var));
    BNN_TRY(op2(c, BNN_OP_ADD, "variance_eps", var, eps_id, -1, &ve));
    BNN_TRY(op2(c, BNN_OP_SQRT, "stddev", ve, -1, -1, &sd));
    BNN_TRY(op2(c, BNN_OP_RECIPROCAL, "inv_stddev", sd, -1, 2, &inv));
    BNN_TRY(op2(c, BNN_OP_MUL, "normalized", d, inv, -1, &n));
    if (bias < 0)
        return op2(c, BNN_OP_MUL, "scaled", n, scale, 0, &y);
    int scaled;
    BNN_TRY(op2(c, BNN_OP_MUL, "scaled", n, scale, -1, &scaled));
    return op2(c, BNN_OP_ADD, "y", scaled, bias, 0, &y);
}

bnn_status onnx_lower_batch_norm(onnx_ctx *c)
{
    int in[5], nid;
    for (int i = 0; i < 5; i++)
        BNN_TRY(onnx_need_input(c, i, &in[i]));
    int64_t training = 0, spatial = 1;
    if (c->opset >= 14)
        BNN_TRY(onnx_attr_int(c, "training_mode", 0, &training));
    if (c->opset < 9)
        BNN_TRY(onnx_attr_int(c, "spatial", 1, &spatial));
    /* Before opset 7, is_test=0 asked for batch statistics; ONNX's own
     * version converter refuses an explicit 0 but takes the attribute's
     * absence as inference (what exporters meant). */
    int64_t is_test = 1;
    if (c->opset < 7 && onnx_attr(c, "is_test"))
        BNN_TRY(onnx_attr_int(c, "is_test", 1, &is_test));
    if (!is_test)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "is_test=0 (training mode) is not supported (inference only)");
    if (training)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "training_mode=1 is not supported (inference only)");
    if (!spatial)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "spatial=0 is not supported");
    for (int k = 1; k < 5; k++)
        BNN_TRY(onnx_unused_output(c, k, "training statistics"));
    float eps;
    BNN_TRY(onnx_attr_float(c, "epsilon", 1e-5f, &eps));
    BNN_TRY(onnx_emit_node(c, BNN_OP_BATCH_NORM, in, 5, &nid));
    BNN_TRY(onnx_set_float(c, nid, "epsilon", eps));
    return onnx_infer(c, nid);
}
