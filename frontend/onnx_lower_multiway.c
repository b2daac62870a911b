/* ONNX op -> IR op for the many-input elementwise ops
 * (runtime/kernels/multiway.c): Pow (with pre-7 broadcasting), and the
 * variadic Max, Min, Sum and Mean.  Registered in the table of onnx_lower.c.
 */
#include <stdlib.h>

#include "onnx_impl.h"

bnn_status onnx_lower_pow(onnx_ctx *c)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    if (c->opset < 7)
        BNN_TRY(onnx_legacy_broadcast(c, in));
    BNN_TRY(onnx_emit_node(c, BNN_OP_POW, in, 2, &nid));
    return onnx_infer(c, nid);
}

static bnn_status variadic(onnx_ctx *c, bnn_op op)
{
    int n = onnx_n_inputs(c);
    if (n < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no inputs");
    int *in = malloc(sizeof(int) * (size_t)n), nid;
    if (!in)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    bnn_status st = BNN_OK;
    for (int i = 0; i < n && st == BNN_OK; i++) {
        st = onnx_need_input(c, i, &in[i]);
        if (st == BNN_OK && onnx_val(c, in[i])->dtype == BNN_BF16)
            st = onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "bf16 inputs are not supported");
    }
    if (st == BNN_OK)
        st = onnx_emit_node(c, op, in, n, &nid);
    free(in);
    return st == BNN_OK ? onnx_infer(c, nid) : st;
}

bnn_status onnx_lower_max(onnx_ctx *c) { return variadic(c, BNN_OP_MAX); }
bnn_status onnx_lower_min(onnx_ctx *c) { return variadic(c, BNN_OP_MIN); }
bnn_status onnx_lower_sum(onnx_ctx *c) { return variadic(c, BNN_OP_SUM); }
bnn_status onnx_lower_mean(onnx_ctx *c) { return variadic(c, BNN_OP_MEAN); }
