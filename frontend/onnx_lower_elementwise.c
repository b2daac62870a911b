/* ONNX op -> IR op for the elementwise family (runtime/kernels/elementwise.c):
 * Add, Sub, Mul and Div (with the broadcasting of opsets before 7: operand B
 * placed at `axis`, turned into numpy broadcasting by appending unit dims,
 * and folding of known i64/i32 contents), PRelu (its pre-7 per-channel
 * slope too), Identity, Dropout and Clip.  The one-input activations map
 * 1:1 through their ops.def rows.  Registered in the table of onnx_lower.c.
 */
#include <math.h>
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

/* Add, Sub, Mul or Div of two i64 (or two i32) operands whose contents are
 * known and concrete (a scalar broadcasts): the result becomes a constant,
 * as PyTorch's chunk and size arithmetic need (Shape -> Gather -> Add -> Div
 * -> Slice).  Integer semantics as the runtime's: wrapping, division
 * truncating toward zero; a zero divisor is left to the runtime's error.
 * Returns whether it folded (*st: the status). */
bool onnx_fold_binary(onnx_ctx *c, bnn_op op, const int *in, bnn_status *st)
{
    *st = BNN_OK;
    onnx_known a, b;
    bnn_dtype dt = onnx_val(c, in[0])->dtype;
    if ((dt != BNN_I64 && dt != BNN_I32) || onnx_val(c, in[1])->dtype != dt ||
        !onnx_known_get(c, in[0], &a) || a.sym || !onnx_known_get(c, in[1], &b) || b.sym)
        return false;
    int n = a.n > b.n ? a.n : b.n;
    if ((a.n != n && a.n != 1) || (b.n != n && b.n != 1))
        return false;
    int64_t v[ONNX_KNOWN_MAX];
    for (int i = 0; i < n; i++) {
        uint64_t x = (uint64_t)a.v[a.n == 1 ? 0 : i], y = (uint64_t)b.v[b.n == 1 ? 0 : i];
        switch (op) {
        case BNN_OP_ADD: v[i] = (int64_t)(x + y); break;
        case BNN_OP_SUB: v[i] = (int64_t)(x - y); break;
        case BNN_OP_MUL: v[i] = (int64_t)(x * y); break;
        case BNN_OP_DIV:
            if (y == 0)
                return false;
            v[i] = (int64_t)y == -1 ? (int64_t)(0 - x) : (int64_t)x / (int64_t)y;
            break;
        default: return false;
        }
        if (dt == BNN_I32)
            v[i] = (int32_t)(uint32_t)(uint64_t)v[i];
    }
    int rank = a.rank > b.rank ? a.rank : b.rank;
    bnn_shape s = { .rank = rank, .dims = { n } };
    if (dt == BNN_I64) {
        *st = onnx_output_param(c, 0, BNN_I64, &s, v, sizeof(int64_t) * (size_t)n);
    } else {
        int32_t w[ONNX_KNOWN_MAX];
        for (int i = 0; i < n; i++)
            w[i] = (int32_t)v[i];
        *st = onnx_output_param(c, 0, BNN_I32, &s, w, sizeof(int32_t) * (size_t)n);
    }
    return true;
}

static bnn_status binary(onnx_ctx *c, bnn_op op)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    if (c->opset < 7)
        BNN_TRY(onnx_legacy_broadcast(c, in));
    else if (onnx_attr(c, "broadcast") || onnx_attr(c, "axis"))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attributes 'broadcast'/'axis' belong to opsets before 7");
    bnn_status folded;
    if (onnx_fold_binary(c, op, in, &folded))
        return folded;
    BNN_TRY(onnx_emit_node(c, op, in, 2, &nid));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_add(onnx_ctx *c) { return binary(c, BNN_OP_ADD); }
bnn_status onnx_lower_sub(onnx_ctx *c) { return binary(c, BNN_OP_SUB); }
bnn_status onnx_lower_mul(onnx_ctx *c) { return binary(c, BNN_OP_MUL); }
bnn_status onnx_lower_div(onnx_ctx *c) { return binary(c, BNN_OP_DIV); }

bnn_status onnx_lower_identity(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    onnx_known k;
    bool known = onnx_known_get(c, x, &k);
    BNN_TRY(onnx_emit_node(c, BNN_OP_IDENTITY, &x, 1, &nid));
    BNN_TRY(onnx_infer(c, nid));
    if (known)
        BNN_TRY(onnx_known_set(c, bnn_graph_node(c->g, nid)->outputs[0], k.rank, k.v, k.n, k.sym));
    return BNN_OK;
}

/* Dropout for inference and bnnc's training: it drops only while bnnc
 * trains.  ratio and training_mode (inputs from opset 12) must be known at
 * import (initializers, constants or bound inputs).  training_mode true with
 * ratio 0 keeps everything, so it is the same op; with a ratio above 0 the
 * model asks for random drops at inference, which bnnc does not do (and its
 * generator could not reproduce another runtime's draws anyway): refused.
 * A read mask makes it dropout_masked. */
bnn_status onnx_lower_dropout(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    float ratio = 0.5f;
    /* Before opset 7 is_test=0 meant training; bnnc imports for inference,
     * so is_test is not read. */
    if (c->opset < 12) {
        BNN_TRY(onnx_attr_float(c, "ratio", 0.5f, &ratio));
    } else {
        int r = onnx_input(c, 1), t = onnx_input(c, 2);
        double d, train = 0;
        if (r >= 0) {
            if (!onnx_param_scalar(c, r, &d))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'ratio' must be known at import "
                                      "(an initializer, a constant or a bound input)");
            ratio = (float)d;
        }
        if (t >= 0 && !onnx_param_scalar(c, t, &train))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'training_mode' must be known at "
                                  "import (an initializer, a constant or a bound input)");
        if (train != 0 && ratio != 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "training_mode is true with ratio %g: "
                                  "random drops at inference are not supported (bnnc drops only "
                                  "while it trains, from its own generator)", (double)ratio);
    }
    if (onnx_output_used(c, 1))
        BNN_TRY(onnx_emit_outputs(c, BNN_OP_DROPOUT_MASKED, &x, 1, 2, &nid));
    else
        BNN_TRY(onnx_emit_node(c, BNN_OP_DROPOUT, &x, 1, &nid));
    BNN_TRY(onnx_set_float(c, nid, "ratio", ratio));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_clip(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (c->opset < 11) {
        const Onnx__AttributeProto *amin = onnx_attr(c, "min"), *amax = onnx_attr(c, "max");
        float lo, hi;
        BNN_TRY(onnx_attr_float(c, "min", -INFINITY, &lo));
        BNN_TRY(onnx_attr_float(c, "max", INFINITY, &hi));
        BNN_TRY(onnx_emit_node(c, BNN_OP_CLIP, &x, 1, &nid));
        if (amin)
            BNN_TRY(onnx_set_float(c, nid, "min", lo));
        if (amax)
            BNN_TRY(onnx_set_float(c, nid, "max", hi));
        return onnx_infer(c, nid);
    }
    int lo = onnx_input(c, 1), hi = onnx_input(c, 2);
    double dlo = 0, dhi = 0;
    bool clo = lo >= 0 && onnx_param_scalar(c, lo, &dlo), chi = hi >= 0 && onnx_param_scalar(c, hi, &dhi);
    int in[3] = { x, clo ? -1 : lo, chi ? -1 : hi };
    int n = in[2] >= 0 ? 3 : in[1] >= 0 ? 2 : 1;
    BNN_TRY(onnx_emit_node(c, BNN_OP_CLIP, in, n, &nid));
    if (clo)
        BNN_TRY(onnx_set_float(c, nid, "min", (float)dlo));
    if (chi)
        BNN_TRY(onnx_set_float(c, nid, "max", (float)dhi));
    return onnx_infer(c, nid);
}
