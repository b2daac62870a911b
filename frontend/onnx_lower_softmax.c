/* ONNX op -> IR op for Softmax and LogSoftmax (runtime/kernels/softmax.c):
 * the axis default and the pre-13 meaning (flatten to 2-D at axis) resolved
 * into the IR's axis and coerce; and the opset-13 spelling of a pre-13
 * softmax (Flatten -> Softmax -> Reshape, which export writes), fused back
 * into one node when the Flatten is lowered.  Registered in the table of
 * onnx_lower.c.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_impl.h"

bnn_status onnx_lower_softmax_like(onnx_ctx *c, bnn_op op)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", c->opset < 13 ? 1 : -1, &axis));
    int rank = onnx_val(c, x)->shape.rank;
    /* Before 13 the op flattens to 2-D at axis; that equals the 13+ meaning
     * only when axis is the last one. */
    bool coerce = c->opset < 13 && !(axis == -1 || (rank >= 0 && axis == rank - 1));
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    if (coerce)
        BNN_TRY(onnx_set_int(c, nid, "coerce", 1));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_softmax(onnx_ctx *c) { return onnx_lower_softmax_like(c, BNN_OP_SOFTMAX); }
bnn_status onnx_lower_log_softmax(onnx_ctx *c) { return onnx_lower_softmax_like(c, BNN_OP_LOG_SOFTMAX); }

/* The one later node reading `name` (which nothing else reads), or -1; *pos
 * gets the input position. */
static int sole_reader(onnx_ctx *c, const char *name, int *pos)
{
    onnx_name_entry *e = onnx_name_lookup(c, name);
    if (!*name || !e || e->uses != 1)
        return -1;
    for (int i = c->cur + 1; i < c->n_order; i++)
        for (size_t k = 0; k < c->order[i]->n_input; k++)
            if (strcmp(onnx_str(c->order[i]->input[k]), name) == 0) {
                *pos = (int)k;
                return c->fused[i] ? -1 : i;
            }
    return -1;
}

static bool is_plain(const Onnx__NodeProto *nd, const char *op_type, size_t n_in)
{
    const char *dom = onnx_str(nd->domain);
    return strcmp(onnx_str(nd->op_type), op_type) == 0 && (!*dom || strcmp(dom, "ai.onnx") == 0) &&
           nd->n_input == n_in && nd->n_output == 1;
}

/* Flatten(x, axis=a) -> [Log]Softmax over the last axis -> Reshape(., Shape(x))
 * is the pre-13 softmax at axis a, which export writes that way at opset 13
 * and up: read back, it is the one softmax node (coerce) it came from.  The
 * Shape must come after the Flatten and feed only the Reshape, so that all
 * four nodes vanish into one.  Returns whether it fused (*st: the status). */
bool onnx_fuse_pre13_softmax(onnx_ctx *c, int x, int64_t axis, bnn_status *st)
{
    *st = BNN_OK;
    int pos, sm = sole_reader(c, onnx_str(c->node->output[0]), &pos);
    if (sm < 0 || c->node->n_output != 1)
        return false;
    const Onnx__NodeProto *smn = c->order[sm];
    bool log = is_plain(smn, "LogSoftmax", 1);
    if (!log && !is_plain(smn, "Softmax", 1))
        return false;
    for (size_t i = 0; i < smn->n_attribute; i++) {
        const Onnx__AttributeProto *a = smn->attribute[i];
        if (strcmp(onnx_str(a->name), "axis") != 0 || !a->has_i || (a->i != 1 && a->i != -1))
            return false; /* the flattened 2-D tensor's last axis, at any opset */
    }
    int rs = sole_reader(c, onnx_str(smn->output[0]), &pos);
    if (rs < 0 || pos != 0 || !is_plain(c->order[rs], "Reshape", 2))
        return false;
    const Onnx__NodeProto *rsn = c->order[rs];
    const char *shp = onnx_str(rsn->input[1]);
    onnx_name_entry *se = onnx_name_lookup(c, shp);
    if (!se || se->uses != 1)
        return false;
    int sh = -1;
    for (int i = c->cur + 1; i < c->n_order && sh < 0; i++)
        if (c->order[i]->n_output > 0 && strcmp(onnx_str(c->order[i]->output[0]), shp) == 0)
            sh = i;
    if (sh < 0 || c->fused[sh] || !is_plain(c->order[sh], "Shape", 1) || c->order[sh]->n_attribute ||
        strcmp(onnx_str(c->order[sh]->input[0]), onnx_str(c->node->input[0])) != 0)
        return false;
    /* Named after the softmax node, as the IR node that export wrote was. */
    char gen[160];
    const char *name = onnx_str(smn->name);
    if (!*name) {
        snprintf(gen, sizeof gen, "%s_%d", onnx_str(smn->op_type), sm);
        name = gen;
    }
    const char *out = rsn->output[0];
    int outv = bnn_graph_add_value(c->g, out, BNN_UNDEFINED, NULL);
    int nid = outv < 0 ? -1 : bnn_graph_add_node(c->g, log ? BNN_OP_LOG_SOFTMAX : BNN_OP_SOFTMAX, name, &x, 1, &outv, 1);
    if (nid < 0) {
        *st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        return true;
    }
    if ((*st = onnx_bind_name(c, out, outv)) != BNN_OK)
        return true;
    c->fused[sm] = c->fused[rs] = c->fused[sh] = true;
    onnx_name_entry *first = onnx_name_lookup(c, onnx_str(c->node->output[0]));
    if (first) /* a hostile file may name no output at all */
        first->uses = 0;
    int rank = onnx_val(c, x)->shape.rank;
    bool coerce = !(axis == -1 || (rank >= 0 && axis == rank - 1));
    if ((*st = onnx_set_int(c, nid, "axis", axis)) == BNN_OK && coerce)
        *st = onnx_set_int(c, nid, "coerce", 1);
    if (*st == BNN_OK)
        *st = onnx_infer(c, nid);
    return true;
}
