/* ONNX op -> IR op for comparison, logic and selection: Equal, Greater, Less,
 * GreaterOrEqual, LessOrEqual, And, Or, Xor, Not, Where, Sign, Mod, IsNaN and
 * IsInf.  Registered in the table of onnx_lower.c.
 *
 * Shape arithmetic folds: a comparison of known concrete i64/i32 contents
 * becomes a bool constant, Not of a small bool constant too, and Where with a
 * constant condition over known contents becomes known contents again.  That
 * is what PyTorch's x.expand(-1, k) writes (ConstantOfShape -> Mul -> Equal
 * -> Where -> Expand), so its shape input ends up a constant.
 */
#include <string.h>

#include "onnx_impl.h"

/* A small constant bool param of rank <= 1: its bytes and count. */
static bool known_bool(onnx_ctx *c, int id, const uint8_t **v, int *n, int *rank)
{
    if (!onnx_is_param(c, id))
        return false;
    const bnn_value *val = onnx_val(c, id);
    if (val->dtype != BNN_BOOL || val->shape.rank > 1)
        return false;
    int64_t count = bnn_shape_numel(&val->shape);
    if (count < 0 || count > ONNX_KNOWN_MAX)
        return false;
    *v = val->data;
    *n = (int)count;
    *rank = val->shape.rank;
    return true;
}

/* Broadcast length of 1-D contents (a single entry repeats), -1 if they do
 * not broadcast. */
static int bcast_len(const int *n, int count)
{
    int len = 1;
    for (int k = 0; k < count; k++)
        if (n[k] != 1) {
            if (len != 1 && len != n[k])
                return -1;
            len = n[k];
        }
    for (int k = 0; k < count; k++)
        if (n[k] == 0)
            return -1; /* empty contents: leave it to the runtime */
    return len;
}

/* ---- comparisons ------------------------------------------------------------- */

/* op of two known concrete integer operands of one type: a bool constant. */
static bool fold_compare(onnx_ctx *c, bnn_op op, const int *in, bnn_status *st)
{
    *st = BNN_OK;
    onnx_known a, b;
    bnn_dtype dt = onnx_val(c, in[0])->dtype;
    if ((dt != BNN_I64 && dt != BNN_I32) || onnx_val(c, in[1])->dtype != dt ||
        !onnx_known_get(c, in[0], &a) || a.sym || !onnx_known_get(c, in[1], &b) || b.sym)
        return false;
    int ns[2] = { a.n, b.n };
    int n = bcast_len(ns, 2);
    if (n < 0)
        return false;
    uint8_t v[ONNX_KNOWN_MAX];
    for (int i = 0; i < n; i++) {
        int64_t x = a.v[a.n == 1 ? 0 : i], y = b.v[b.n == 1 ? 0 : i];
        switch (op) {
        case BNN_OP_EQUAL: v[i] = x == y; break;
        case BNN_OP_GREATER: v[i] = x > y; break;
        case BNN_OP_LESS: v[i] = x < y; break;
        case BNN_OP_GREATER_OR_EQUAL: v[i] = x >= y; break;
        default: v[i] = x <= y; break;
        }
    }
    bnn_shape s = { .rank = a.rank > b.rank ? a.rank : b.rank, .dims = { n } };
    *st = onnx_output_param(c, 0, BNN_BOOL, &s, v, (size_t)n);
    return true;
}

/* Two operands, numpy broadcasting (opsets before 7: the legacy
 * broadcast/axis attributes). */
static bnn_status binary(onnx_ctx *c, bnn_op op, bool compare)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    if (c->opset < 7)
        BNN_TRY(onnx_legacy_broadcast(c, in));
    else if (onnx_attr(c, "broadcast") || onnx_attr(c, "axis"))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attributes 'broadcast'/'axis' belong to opsets before 7");
    bnn_status folded;
    if (compare && fold_compare(c, op, in, &folded))
        return folded;
    BNN_TRY(onnx_emit_node(c, op, in, 2, &nid));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_equal(onnx_ctx *c) { return binary(c, BNN_OP_EQUAL, true); }
bnn_status onnx_lower_greater(onnx_ctx *c) { return binary(c, BNN_OP_GREATER, true); }
bnn_status onnx_lower_less(onnx_ctx *c) { return binary(c, BNN_OP_LESS, true); }
bnn_status onnx_lower_greater_or_equal(onnx_ctx *c) { return binary(c, BNN_OP_GREATER_OR_EQUAL, true); }
bnn_status onnx_lower_less_or_equal(onnx_ctx *c) { return binary(c, BNN_OP_LESS_OR_EQUAL, true); }

/* ---- logic ------------------------------------------------------------------- */

bnn_status onnx_lower_and(onnx_ctx *c) { return binary(c, BNN_OP_AND, false); }
bnn_status onnx_lower_or(onnx_ctx *c) { return binary(c, BNN_OP_OR, false); }
bnn_status onnx_lower_xor(onnx_ctx *c) { return binary(c, BNN_OP_XOR, false); }

static bnn_status unary(onnx_ctx *c, bnn_op op)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    return onnx_infer(c, nid);
}

/* Not of a small bool constant (PyTorch's != is Equal -> Not) folds. */
bnn_status onnx_lower_not(onnx_ctx *c)
{
    int x, n, rank;
    const uint8_t *b;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (known_bool(c, x, &b, &n, &rank)) {
        uint8_t v[ONNX_KNOWN_MAX];
        for (int i = 0; i < n; i++)
            v[i] = b[i] == 0;
        return onnx_output_param(c, 0, BNN_BOOL, &onnx_val(c, x)->shape, v, (size_t)n);
    }
    return unary(c, BNN_OP_NOT);
}

/* ---- where ------------------------------------------------------------------- */

/* A constant condition over known i64/i32 contents (symbolic entries too)
 * picks known contents: a constant when all are concrete, else the node with
 * the contents recorded. */
static bool fold_where(onnx_ctx *c, const int *in, bnn_status *st)
{
    *st = BNN_OK;
    const uint8_t *cond;
    int nc, rc;
    onnx_known a, b;
    bnn_dtype dt = onnx_val(c, in[1])->dtype;
    if ((dt != BNN_I64 && dt != BNN_I32) || onnx_val(c, in[2])->dtype != dt ||
        !known_bool(c, in[0], &cond, &nc, &rc) || !onnx_known_get(c, in[1], &a) ||
        !onnx_known_get(c, in[2], &b))
        return false;
    int ns[3] = { nc, a.n, b.n };
    int n = bcast_len(ns, 3);
    if (n < 0)
        return false;
    int64_t v[ONNX_KNOWN_MAX];
    uint64_t sym = 0;
    for (int i = 0; i < n; i++) {
        bool pick_a = cond[nc == 1 ? 0 : i] != 0;
        const onnx_known *k = pick_a ? &a : &b;
        int j = k->n == 1 ? 0 : i;
        v[i] = k->v[j];
        if (k->sym >> j & 1)
            sym |= 1ull << i;
    }
    int rank = rc > a.rank ? rc : a.rank;
    rank = b.rank > rank ? b.rank : rank;
    if (!sym) {
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
    int nid;
    if ((*st = onnx_emit_node(c, BNN_OP_WHERE, in, 3, &nid)) != BNN_OK ||
        (*st = onnx_infer(c, nid)) != BNN_OK)
        return true;
    *st = onnx_known_set(c, bnn_graph_node(c->g, nid)->outputs[0], rank, v, n, sym);
    return true;
}

bnn_status onnx_lower_where(onnx_ctx *c)
{
    int in[3], nid;
    for (int k = 0; k < 3; k++)
        BNN_TRY(onnx_need_input(c, k, &in[k]));
    bnn_status folded;
    if (fold_where(c, in, &folded))
        return folded;
    BNN_TRY(onnx_emit_node(c, BNN_OP_WHERE, in, 3, &nid));
    return onnx_infer(c, nid);
}

/* ---- sign, mod, is_nan, is_inf ------------------------------------------------- */

bnn_status onnx_lower_sign(onnx_ctx *c) { return unary(c, BNN_OP_SIGN); }
bnn_status onnx_lower_is_nan(onnx_ctx *c) { return unary(c, BNN_OP_IS_NAN); }

bnn_status onnx_lower_mod(onnx_ctx *c)
{
    int in[2], nid;
    int64_t fmod;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    BNN_TRY(onnx_attr_int(c, "fmod", 0, &fmod));
    if (fmod != 0 && fmod != 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'fmod' is %lld, expected 0 or 1", (long long)fmod);
    BNN_TRY(onnx_emit_node(c, BNN_OP_MOD, in, 2, &nid));
    if (fmod)
        BNN_TRY(onnx_set_int(c, nid, "fmod", fmod));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_is_inf(onnx_ctx *c)
{
    int x, nid;
    int64_t neg, pos;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_attr_int(c, "detect_negative", 1, &neg));
    BNN_TRY(onnx_attr_int(c, "detect_positive", 1, &pos));
    BNN_TRY(onnx_emit_node(c, BNN_OP_IS_INF, &x, 1, &nid));
    if (onnx_attr(c, "detect_negative"))
        BNN_TRY(onnx_set_int(c, nid, "detect_negative", neg));
    if (onnx_attr(c, "detect_positive"))
        BNN_TRY(onnx_set_int(c, nid, "detect_positive", pos));
    return onnx_infer(c, nid);
}
