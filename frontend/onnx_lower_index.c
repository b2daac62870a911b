/* ONNX ops of the index family (runtime/kernels/index.c) that need a
 * lowering: OneHot, whose depth decides the output's size and so must be
 * known at import (a constant, a bound input or folded shape arithmetic,
 * of any numeric type); it becomes the one_hot node's attribute.
 * GatherElements and ScatterElements map 1:1 from their ops.def rows;
 * Scatter (opsets 9 and 10) is ScatterElements' old name. */
#include <math.h>

#include "onnx_impl.h"

bnn_status onnx_lower_one_hot(onnx_ctx *c)
{
    int in[3];
    for (int k = 0; k < 3; k++)
        BNN_TRY(onnx_need_input(c, k, &in[k]));
    int64_t depth;
    onnx_known kn;
    double f;
    if (onnx_known_get(c, in[1], &kn) && kn.n == 1 && !kn.sym) {
        depth = kn.v[0];
    } else if (onnx_param_scalar(c, in[1], &f)) {
        if (!(f > -1 && f < 9.2e18))
            return onnx_node_fail(c, BNN_ERR_INVALID, "depth %g is not a size", f);
        depth = (int64_t)trunc(f); /* ONNX casts a float depth to int64 */
    } else {
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "input 'depth' must be a constant scalar: it decides the output's "
                              "size, and bnnc plans sizes before it sees data");
    }
    if (depth < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "depth %lld is negative", (long long)depth);
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", -1, &axis));
    int ops[2] = { in[0], in[2] }, nid;
    BNN_TRY(onnx_emit_node(c, BNN_OP_ONE_HOT, ops, 2, &nid));
    BNN_TRY(onnx_set_int(c, nid, "depth", depth));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    return onnx_infer(c, nid);
}

/* Scatter (opsets 9-10): ScatterElements under its old name, no reduction. */
bnn_status onnx_lower_scatter(onnx_ctx *c)
{
    int in[3], nid;
    for (int k = 0; k < 3; k++)
        BNN_TRY(onnx_need_input(c, k, &in[k]));
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    BNN_TRY(onnx_emit_node(c, BNN_OP_SCATTER_ELEMENTS, in, 3, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    BNN_TRY(onnx_set_string(c, nid, "reduction", "none"));
    return onnx_infer(c, nid);
}
