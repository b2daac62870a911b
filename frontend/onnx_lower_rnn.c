/* ONNX LSTM, GRU and RNN -> the IR's lstm, gru and rnn (ops.def): the same
 * operands and outputs.  bnnc's kernels run ONNX's default activations
 * (sigmoid for gates, tanh elsewhere); a model that names them explicitly is
 * fine, other activations and LSTM's input_forget are refused, naming the
 * node.  Outputs the model leaves out get values of their own (the IR ops
 * always have all of them); dce removes nothing a kernel writes.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_impl.h"

static bnn_status check_activations(onnx_ctx *c, const char *const *want, int n_want, int dirs)
{
    const Onnx__AttributeProto *a = onnx_attr(c, "activations");
    if (!a)
        return BNN_OK;
    if (a->n_strings != (size_t)(n_want * dirs))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'activations' has %zu entries, expected %d",
                              a->n_strings, n_want * dirs);
    for (size_t i = 0; i < a->n_strings; i++) {
        const char *got = (const char *)a->strings[i].data;
        size_t len = a->strings[i].len;
        const char *w = want[i % (size_t)n_want];
        if (len != strlen(w) || strncmp(got, w, len) != 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                  "activation %zu is '%.*s'; bnnc runs ONNX's defaults only (%s%s%s)", i,
                                  (int)(len > 40 ? 40 : len), got, want[0], n_want > 1 ? ", " : "",
                                  n_want > 1 ? want[1] : "");
    }
    return BNN_OK;
}

static bnn_status lower_recurrent(onnx_ctx *c, bnn_op op, int gates, int n_out)
{
    static const char *const lstm_acts[] = { "Sigmoid", "Tanh", "Tanh" };
    static const char *const gru_acts[] = { "Sigmoid", "Tanh" };
    static const char *const rnn_acts[] = { "Tanh" };
    (void)gates;
    const char *dir;
    BNN_TRY(onnx_attr_string(c, "direction", "forward", &dir));
    int dirs = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    if (op == BNN_OP_LSTM)
        BNN_TRY(check_activations(c, lstm_acts, 3, dirs));
    else if (op == BNN_OP_GRU)
        BNN_TRY(check_activations(c, gru_acts, 2, dirs));
    else
        BNN_TRY(check_activations(c, rnn_acts, 1, dirs));
    int64_t hidden, layout = 0, input_forget = 0, lbr = 0;
    float clip = 0.0f;
    BNN_TRY(onnx_attr_int(c, "hidden_size", 0, &hidden));
    BNN_TRY(onnx_attr_int(c, "layout", 0, &layout));
    BNN_TRY(onnx_attr_float(c, "clip", 0.0f, &clip));
    if (op == BNN_OP_LSTM)
        BNN_TRY(onnx_attr_int(c, "input_forget", 0, &input_forget));
    if (op == BNN_OP_GRU)
        BNN_TRY(onnx_attr_int(c, "linear_before_reset", 0, &lbr));
    if (input_forget)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input_forget=1 (coupled input and forget gates) is not supported");
    int64_t output_sequence = 0;
    if (c->opset < 7)
        BNN_TRY(onnx_attr_int(c, "output_sequence", 0, &output_sequence));
    int n_in = onnx_n_inputs(c);
    int max_in = op == BNN_OP_LSTM ? 8 : 6;
    if (n_in > max_in)
        n_in = max_in;
    int in[8];
    for (int k = 0; k < n_in; k++)
        in[k] = onnx_input(c, k);
    for (int k = 0; k < 3; k++)
        if (k >= n_in || in[k] < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d (%s) is missing", k, k == 0 ? "X" : k == 1 ? "W" : "R");
    while (n_in > 3 && in[n_in - 1] < 0)
        n_in--;
    int outs[3];
    for (int k = 0; k < n_out; k++) {
        if ((size_t)k < c->node->n_output && *onnx_str(c->node->output[k])) {
            outs[k] = onnx_define_output(c, k);
        } else {
            char base[300], buf[320];
            snprintf(base, sizeof base, "%s_%s", c->node_name, k == 0 ? "Y" : k == 1 ? "Y_h" : "Y_c");
            outs[k] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_UNDEFINED, NULL);
        }
        if (outs[k] < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    int nid = bnn_graph_add_node(c->g, op, c->node_name, in, n_in, outs, n_out);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    if (hidden)
        BNN_TRY(onnx_set_int(c, nid, "hidden_size", hidden));
    if (strcmp(dir, "forward") != 0)
        BNN_TRY(onnx_set_string(c, nid, "direction", dir));
    if (clip > 0)
        BNN_TRY(onnx_set_float(c, nid, "clip", clip));
    if (layout)
        BNN_TRY(onnx_set_int(c, nid, "layout", layout));
    if (lbr)
        BNN_TRY(onnx_set_int(c, nid, "linear_before_reset", lbr));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_lstm(onnx_ctx *c) { return lower_recurrent(c, BNN_OP_LSTM, 4, 3); }
bnn_status onnx_lower_gru(onnx_ctx *c) { return lower_recurrent(c, BNN_OP_GRU, 3, 2); }
bnn_status onnx_lower_rnn(onnx_ctx *c) { return lower_recurrent(c, BNN_OP_RNN, 1, 2); }

/* Readers of `name` from node index `from` on: each an LSTM/GRU/RNN reading
 * it as an initial state, or a Slice/Gather/Identity (as data, input 0) whose
 * result is read that way in turn (PyTorch slices one zero state per layer
 * of a stacked LSTM).  depth bounds the chain. */
static bool state_only(onnx_ctx *c, const char *name, int from, int depth)
{
    onnx_name_entry *e = *name && depth < 8 ? onnx_name_lookup(c, name) : NULL;
    if (!e || e->uses <= 0)
        return false;
    int reads = 0;
    for (int i = from; i < c->n_order; i++) {
        const Onnx__NodeProto *nd = c->order[i];
        const char *op = onnx_str(nd->op_type), *dom = onnx_str(nd->domain);
        bool onnx_dom = !*dom || strcmp(dom, "ai.onnx") == 0;
        bool recurrent = onnx_dom && (strcmp(op, "LSTM") == 0 || strcmp(op, "GRU") == 0 || strcmp(op, "RNN") == 0);
        bool passes = onnx_dom && (strcmp(op, "Slice") == 0 || strcmp(op, "Gather") == 0 ||
                                   strcmp(op, "Identity") == 0);
        for (size_t k = 0; k < nd->n_input; k++) {
            if (strcmp(onnx_str(nd->input[k]), name) != 0)
                continue;
            bool ok = recurrent ? k == 5 || (k == 6 && strcmp(op, "LSTM") == 0)
                                : passes && k == 0 && nd->n_output >= 1 &&
                                      state_only(c, onnx_str(nd->output[0]), i + 1, depth + 1);
            if (!ok)
                return false;
            reads++;
        }
    }
    return reads == e->uses;
}

bool onnx_feeds_rnn_state_only(onnx_ctx *c, const char *name)
{
    return state_only(c, name, c->cur + 1, 0);
}
