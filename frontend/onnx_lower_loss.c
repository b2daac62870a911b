/* ONNX op -> IR op for SoftmaxCrossEntropyLoss (runtime/kernels/loss.c):
 * scores, labels and the optional weights as they are, reduction and
 * ignore_index under their own names.  The IR op always has its second
 * output, log_prob (the kernel computes it on the way to the loss); when the
 * ONNX node leaves it out it gets a fresh name nothing reads.
 * NegativeLogLikelihoodLoss needs no lowering: its ops.def row maps 1:1.
 * Registered in the table of onnx_lower.c. */
#include <stdio.h>

#include "onnx_impl.h"

bnn_status onnx_lower_softmax_cross_entropy_loss(onnx_ctx *c)
{
    int in[3] = {-1, -1, -1}, outs[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    in[2] = onnx_input(c, 2);
    int n_in = in[2] >= 0 ? 3 : 2;
    const char *reduction;
    BNN_TRY(onnx_attr_string(c, "reduction", "mean", &reduction));
    int64_t ignore_index = 0;
    bool has_ignore = onnx_attr(c, "ignore_index") != NULL;
    if (has_ignore)
        BNN_TRY(onnx_attr_int(c, "ignore_index", 0, &ignore_index));
    if (c->node->n_output < 1 || !*onnx_str(c->node->output[0]))
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
    for (int k = 0; k < 2; k++) {
        if ((size_t)k < c->node->n_output && *onnx_str(c->node->output[k])) {
            outs[k] = onnx_define_output(c, k);
        } else {
            char base[300], buf[320];
            snprintf(base, sizeof base, "%s_log_prob", c->node_name);
            outs[k] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                          BNN_UNDEFINED, NULL);
        }
        if (outs[k] < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    nid = bnn_graph_add_node(c->g, BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS, c->node_name, in, n_in, outs, 2);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    BNN_TRY(onnx_set_string(c, nid, "reduction", reduction));
    if (has_ignore)
        BNN_TRY(onnx_set_int(c, nid, "ignore_index", ignore_index));
    return onnx_infer(c, nid);
}
