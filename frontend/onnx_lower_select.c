/* ONNX ops of the select family (runtime/kernels/select.c).  TopK: k (an
 * attribute before opset 10, then an input) decides the outputs' size, so
 * it must be known at import; it becomes the top_k node's attribute.
 * largest and sorted arrived in opset 11 (absent: 1).  Hardmax: the axis
 * default and pre-13 meaning as Softmax's (onnx_lower_softmax.c).
 * Registered in the table of onnx_lower.c. */
#include <math.h>
#include <stdio.h>

#include "onnx_impl.h"

bnn_status onnx_lower_top_k(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t k;
    if (c->opset < 10) {
        if (!onnx_attr(c, "k"))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'k' is missing");
        BNN_TRY(onnx_attr_int(c, "k", 0, &k));
    } else {
        int kid;
        BNN_TRY(onnx_need_input(c, 1, &kid));
        onnx_known kn;
        double f;
        if (onnx_known_get(c, kid, &kn) && kn.n == 1 && !kn.sym)
            k = kn.v[0];
        else if (onnx_param_scalar(c, kid, &f) && f == trunc(f) && fabs(f) < 9e18)
            k = (int64_t)f;
        else
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                  "input 'K' must be a constant: it decides the outputs' size, "
                                  "and bnnc plans sizes before it sees data");
    }
    if (k < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "k is %lld, expected a size", (long long)k);
    int64_t axis, largest, sorted;
    BNN_TRY(onnx_attr_int(c, "axis", -1, &axis));
    BNN_TRY(onnx_attr_int(c, "largest", 1, &largest));
    BNN_TRY(onnx_attr_int(c, "sorted", 1, &sorted));
    int outs[2];
    for (int j = 0; j < 2; j++) {
        if ((size_t)j < c->node->n_output && *onnx_str(c->node->output[j])) {
            outs[j] = onnx_define_output(c, j);
        } else {
            char base[300], buf[320];
            snprintf(base, sizeof base, "%s_%s", c->node_name, j ? "indices" : "values");
            outs[j] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                          BNN_UNDEFINED, NULL);
        }
        if (outs[j] < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    int nid = bnn_graph_add_node(c->g, BNN_OP_TOP_K, c->node_name, &x, 1, outs, 2);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    BNN_TRY(onnx_set_int(c, nid, "k", k));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    BNN_TRY(onnx_set_int(c, nid, "largest", largest));
    BNN_TRY(onnx_set_int(c, nid, "sorted", sorted));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_hardmax(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", c->opset < 13 ? 1 : -1, &axis));
    int rank = onnx_val(c, x)->shape.rank;
    /* Before 13 the op flattens to 2-D at axis: the 13+ meaning only when
     * axis is the last one. */
    bool coerce = c->opset < 13 && !(axis == -1 || (rank >= 0 && axis == rank - 1));
    BNN_TRY(onnx_emit_node(c, BNN_OP_HARDMAX, &x, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    if (coerce)
        BNN_TRY(onnx_set_int(c, nid, "coerce", 1));
    return onnx_infer(c, nid);
}
