/* ONNX op -> IR op, where the ONNX op's history shows: the broadcasting of
 * binary ops before opset 7 (operand B placed at `axis`) and PRelu's
 * per-channel slope then, both turned into numpy broadcasting by appending
 * unit dims; and the opset-13 spelling of a pre-13 softmax (Flatten ->
 * Softmax -> Reshape, which export writes), fused back into one node.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_impl.h"

/* Appends `trailing` dims of size 1 to input k's value (id), so that numpy
 * broadcasting lines it up where a pre-7 op put it: a param is reshaped (in
 * place when nothing else reads it, the layout being the same), anything else
 * goes through an unsqueeze node. */
static bnn_status append_unit_dims(onnx_ctx *c, int k, int *id, int trailing)
{
    const bnn_value *v = onnx_val(c, *id);
    int rank = v->shape.rank;
    if (rank < 0 || rank + trailing > BNN_MAX_RANK)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input %d: cannot align a rank-%d operand for broadcasting", k, rank);
    char buf[300], base[280];
    if (onnx_is_param(c, *id)) {
        bnn_shape s = v->shape;
        for (int i = 0; i < trailing; i++)
            s.dims[s.rank++] = 1;
        if (onnx_param_sole_use(c, *id, c->node->input[k])) {
            bnn_graph_value(c->g, *id)->shape = s;
            return BNN_OK;
        }
        snprintf(base, sizeof base, "%s.%s", c->node_name, c->node->input[k]);
        int nv = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), v->dtype, &s, v->data,
                                     v->nbytes, false);
        if (nv < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        *id = nv;
        return BNN_OK;
    }
    snprintf(base, sizeof base, "%s.%s", c->node_name, c->node->input[k]);
    int out = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_UNDEFINED, NULL);
    if (out < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    snprintf(base, sizeof base, "%s_unsqueeze", c->node_name);
    int nid = bnn_graph_add_node(c->g, BNN_OP_UNSQUEEZE, base, id, 1, &out, 1);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int64_t axes[BNN_MAX_RANK];
    for (int i = 0; i < trailing; i++)
        axes[i] = rank + i;
    BNN_TRY(onnx_set_ints(c, nid, "axes", axes, trailing));
    BNN_TRY(onnx_infer(c, nid));
    *id = out;
    return BNN_OK;
}

/* Before opset 7 a binary op broadcast only with broadcast=1, and then
 * operand B to A's shape: suffix-aligned (numpy does the same), or starting at
 * `axis`, which numpy gets once B has trailing 1s appended. */
bnn_status onnx_legacy_broadcast(onnx_ctx *c, int *in)
{
    int64_t bcast, axis;
    BNN_TRY(onnx_attr_int(c, "broadcast", 0, &bcast));
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    if (!bcast || !onnx_attr(c, "axis"))
        return BNN_OK;
    int ra = onnx_val(c, in[0])->shape.rank, rb = onnx_val(c, in[1])->shape.rank;
    if (ra < 0 || rb < 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "broadcast=1 with axis needs both operands' ranks");
    if (axis < 0)
        axis += ra;
    if (axis < 0 || axis + rb > ra)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "input 1 of rank %d does not fit into input 0 of rank %d at axis %lld",
                              rb, ra, (long long)axis);
    return axis + rb < ra ? append_unit_dims(c, 1, &in[1], (int)(ra - axis - rb)) : BNN_OK;
}

/* Before opset 7 a slope of C values is per channel (axis 1) of an N-D input;
 * numpy broadcasting needs it as [C, 1, ...]. */
bnn_status onnx_lower_prelu(onnx_ctx *c)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    const bnn_shape *xs = &onnx_val(c, in[0])->shape, *ss = &onnx_val(c, in[1])->shape;
    if (c->opset < 7 && xs->rank > 2 && ss->rank == 1 && ss->dims[0] != 1) {
        if (bnn_dim_is_known(xs->dims[1]) && ss->dims[0] != xs->dims[1])
            return onnx_node_fail(c, BNN_ERR_SHAPE, "slope has %lld values for %lld channels",
                                  (long long)ss->dims[0], (long long)xs->dims[1]);
        BNN_TRY(append_unit_dims(c, 1, &in[1], xs->rank - 2));
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_PRELU, in, 2, &nid));
    return onnx_infer(c, nid);
}

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
    onnx_name_lookup(c, out)->value_id = outv;
    c->fused[sm] = c->fused[rs] = c->fused[sh] = true;
    onnx_name_lookup(c, onnx_str(c->node->output[0]))->uses = 0;
    int rank = onnx_val(c, x)->shape.rank;
    bool coerce = !(axis == -1 || (rank >= 0 && axis == rank - 1));
    if ((*st = onnx_set_int(c, nid, "axis", axis)) == BNN_OK && coerce)
        *st = onnx_set_int(c, nid, "coerce", 1);
    if (*st == BNN_OK)
        *st = onnx_infer(c, nid);
    return true;
}

