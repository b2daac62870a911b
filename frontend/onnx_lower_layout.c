/* ONNX op -> IR op for the layout family (runtime/kernels/layout.c): Shape,
 * Gather, Squeeze, Unsqueeze, Concat, Flatten, Reshape, Transpose and Pad.
 * Shape arithmetic folds: Shape of a known rank, and Gather, Squeeze,
 * Unsqueeze and Concat of known contents, give known contents (a constant
 * when every entry is concrete), so Shape -> Gather -> Concat -> Reshape
 * ends in a constant shape.  Registered in the table of onnx_lower.c.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

/* Known contents with every entry concrete (a constant shape-like operand). */
static bool known_concrete(onnx_ctx *c, int id, onnx_known *k)
{
    return onnx_known_get(c, id, k) && k->sym == 0;
}

/* Emits a shape-arithmetic node, or a constant when every entry is concrete;
 * records the contents for later folding either way. */
typedef bnn_status (*attr_fn)(onnx_ctx *c, int nid, const void *arg);

static bnn_status fold_or_emit(onnx_ctx *c, int rank, const int64_t *v, int n, uint64_t sym,
                               bnn_op op, const int *in, int n_in, attr_fn attrs, const void *arg)
{
    if (!sym)
        return onnx_known_param(c, op == BNN_OP_SHAPE ? BNN_I64 : onnx_known_dtype(c, in[0]), rank, v, n);
    int nid;
    BNN_TRY(onnx_emit_node(c, op, in, n_in, &nid));
    if (attrs)
        BNN_TRY(attrs(c, nid, arg));
    BNN_TRY(onnx_infer(c, nid));
    return onnx_known_set(c, bnn_graph_node(c->g, nid)->outputs[0], rank, v, n, sym);
}

typedef struct range_arg { bool has_start, has_end; int64_t start, end; } range_arg;

static bnn_status shape_attrs(onnx_ctx *c, int nid, const void *arg)
{
    const range_arg *r = arg;
    if (r->has_start)
        BNN_TRY(onnx_set_int(c, nid, "start", r->start));
    if (r->has_end)
        BNN_TRY(onnx_set_int(c, nid, "end", r->end));
    return BNN_OK;
}

bnn_status onnx_lower_shape(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    range_arg r = { 0 };
    if (c->opset >= 15) {
        r.has_start = onnx_attr(c, "start") != NULL;
        r.has_end = onnx_attr(c, "end") != NULL;
        BNN_TRY(onnx_attr_int(c, "start", 0, &r.start));
        BNN_TRY(onnx_attr_int(c, "end", 0, &r.end));
    }
    /* A copy: emitting the node below may move the graph's values. */
    const bnn_shape shape = onnx_val(c, x)->shape, *s = &shape;
    /* A known rank is enough: an unknown dim is a symbolic entry too, so a
     * slice or gather that reads only the known dims still folds. */
    if (s->rank >= 0 && s->rank <= ONNX_KNOWN_MAX) {
        int64_t lo = r.has_start ? r.start : 0, hi = r.has_end ? r.end : s->rank;
        if (lo < 0) lo += s->rank;
        if (hi < 0) hi += s->rank;
        lo = lo < 0 ? 0 : lo > s->rank ? s->rank : lo;
        hi = hi < 0 ? 0 : hi > s->rank ? s->rank : hi;
        if (hi < lo) hi = lo;
        uint64_t sym = 0;
        for (int64_t i = lo; i < hi; i++)
            if (!bnn_dim_is_known(s->dims[i]))
                sym |= 1ull << (i - lo);
        return fold_or_emit(c, 1, s->dims + lo, (int)(hi - lo), sym, BNN_OP_SHAPE, &x, 1, shape_attrs, &r);
    }
    int nid;
    BNN_TRY(onnx_emit_node(c, BNN_OP_SHAPE, &x, 1, &nid));
    BNN_TRY(shape_attrs(c, nid, &r));
    return onnx_infer(c, nid);
}

static bnn_status axis_attr(onnx_ctx *c, int nid, const void *arg)
{
    return onnx_set_int(c, nid, "axis", *(const int64_t *)arg);
}

bnn_status onnx_lower_gather(onnx_ctx *c)
{
    int in[2];
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    onnx_known data, idx;
    if ((axis == 0 || axis == -1) && onnx_known_get(c, in[0], &data) && data.rank == 1 &&
        known_concrete(c, in[1], &idx)) {
        int64_t out[ONNX_KNOWN_MAX];
        uint64_t sym = 0;
        for (int i = 0; i < idx.n; i++) {
            int64_t j = idx.v[i] < 0 ? idx.v[i] + data.n : idx.v[i];
            if (j < 0 || j >= data.n)
                return onnx_node_fail(c, BNN_ERR_INVALID, "index %lld is out of range for %d entries",
                                      (long long)idx.v[i], data.n);
            out[i] = data.v[j];
            if (data.sym >> j & 1)
                sym |= 1ull << i;
        }
        return fold_or_emit(c, idx.rank, out, idx.n, sym, BNN_OP_GATHER, in, 2, axis_attr, &axis);
    }
    int nid;
    BNN_TRY(onnx_emit_node(c, BNN_OP_GATHER, in, 2, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    return onnx_infer(c, nid);
}

typedef struct axes_arg { const int64_t *v; int n; } axes_arg;

static bnn_status axes_attr(onnx_ctx *c, int nid, const void *arg)
{
    const axes_arg *a = arg;
    return a->n >= 0 ? onnx_set_ints(c, nid, "axes", a->v, a->n) : BNN_OK;
}

/* axes: an attribute before opset 13, an input (which must be constant) after. */
static bnn_status read_axes(onnx_ctx *c, axes_arg *a, onnx_known *holder)
{
    if (c->opset < 13)
        return onnx_attr_ints(c, "axes", &a->v, &a->n);
    a->n = -1;
    int ax = onnx_input(c, 1);
    if (ax < 0)
        return BNN_OK;
    if (!known_concrete(c, ax, holder))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'axes' must be a constant");
    a->v = holder->v;
    a->n = holder->n;
    return BNN_OK;
}

static bnn_status squeeze_like(onnx_ctx *c, bnn_op op)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    axes_arg a;
    onnx_known holder, k;
    BNN_TRY(read_axes(c, &a, &holder));
    if (op == BNN_OP_UNSQUEEZE && a.n < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "axes are missing");
    bool single0 = a.n == 1 && (a.v[0] == 0 || a.v[0] == -1);
    if (onnx_known_get(c, x, &k)) {
        if (op == BNN_OP_UNSQUEEZE && k.rank == 0 && single0)
            return fold_or_emit(c, 1, k.v, 1, k.sym, op, &x, 1, axes_attr, &a);
        if (op == BNN_OP_SQUEEZE && k.rank == 1 && k.n == 1 && (a.n < 0 || single0))
            return fold_or_emit(c, 0, k.v, 1, k.sym, op, &x, 1, axes_attr, &a);
    }
    int nid;
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    BNN_TRY(axes_attr(c, nid, &a));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_squeeze(onnx_ctx *c) { return squeeze_like(c, BNN_OP_SQUEEZE); }
bnn_status onnx_lower_unsqueeze(onnx_ctx *c) { return squeeze_like(c, BNN_OP_UNSQUEEZE); }

bnn_status onnx_lower_concat(onnx_ctx *c)
{
    int n = onnx_n_inputs(c);
    if (n < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no inputs");
    int *in = malloc(sizeof(int) * (size_t)n);
    if (!in)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    bnn_status s = BNN_OK;
    int64_t axis = 1;
    /* Before opset 4 axis was optional, defaulting to 1. */
    if (c->opset < 4) {
        if ((s = onnx_attr_int(c, "axis", 1, &axis)) != BNN_OK)
            goto out;
    } else if (!onnx_attr(c, "axis")) {
        s = onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'axis' is missing");
        goto out;
    } else if ((s = onnx_attr_int(c, "axis", 0, &axis)) != BNN_OK)
        goto out;
    bool all_known = axis == 0 || axis == -1;
    int total = 0;
    for (int i = 0; i < n; i++) {
        if ((s = onnx_need_input(c, i, &in[i])) != BNN_OK)
            goto out;
        onnx_known k;
        all_known = all_known && onnx_known_get(c, in[i], &k) && k.rank == 1;
        if (all_known)
            total += k.n;
    }
    if (all_known && total <= ONNX_KNOWN_MAX) {
        int64_t v[ONNX_KNOWN_MAX];
        uint64_t sym = 0;
        int at = 0;
        for (int i = 0; i < n; i++) {
            onnx_known k;
            onnx_known_get(c, in[i], &k);
            memcpy(v + at, k.v, sizeof(int64_t) * (size_t)k.n);
            sym |= k.sym << at;
            at += k.n;
        }
        s = fold_or_emit(c, 1, v, total, sym, BNN_OP_CONCAT, in, n, axis_attr, &axis);
        goto out;
    }
    int nid;
    if ((s = onnx_emit_node(c, BNN_OP_CONCAT, in, n, &nid)) != BNN_OK ||
        (s = onnx_set_int(c, nid, "axis", axis)) != BNN_OK)
        goto out;
    s = onnx_infer(c, nid);
out:
    free(in);
    return s;
}

bnn_status onnx_lower_flatten(onnx_ctx *c)
{
    int x, nid;
    int64_t axis;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_attr_int(c, "axis", 1, &axis));
    bnn_status st;
    if (onnx_fuse_pre13_softmax(c, x, axis, &st))
        return st;
    BNN_TRY(onnx_emit_node(c, BNN_OP_FLATTEN, &x, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    return onnx_infer(c, nid);
}

/* Turns known shape contents into reshape's `shape` attribute: a symbolic
 * entry equal to the input's dim at that position becomes 0 (copy), one other
 * symbolic entry becomes -1 (inferred); anything else stays dynamic. */
static bool shape_to_attr(const onnx_known *k, const bnn_shape *in, int64_t allowzero, int64_t *out)
{
    bool has_infer = false;
    for (int i = 0; i < k->n; i++)
        has_infer |= !(k->sym >> i & 1) && k->v[i] == -1;
    for (int i = 0; i < k->n; i++) {
        int64_t d = k->v[i];
        if (!(k->sym >> i & 1)) {
            out[i] = d;
        } else if (!allowzero && in->rank > i && in->dims[i] == d && !onnx_known_unknown(k, i)) {
            out[i] = 0;
        } else if (!has_infer) {
            out[i] = -1;
            has_infer = true;
        } else {
            return false;
        }
    }
    return true;
}

/* A model exported at batch 1 reshapes to constants that hold that batch:
 * PyTorch traces x.view(1, -1) to Reshape(x, [1, -1]), and an unflatten to
 * [1, 16, 5, 5].  When the import freed the batch (onnx_free_fixed_batch, or
 * --input-shape NAME=N,...) and x's first dim is that batch, a leading 1 in
 * the target is the batch: it becomes 0, a copy of x's first dim (under
 * allowzero, where 0 is a size, -1 when no other entry is).  Sound because
 * the rest of the target must then hold one example's elements, which shape
 * inference checks (a target that does not, or that drops the batch, still
 * fails, and the model is imported as declared). */
static void copy_freed_batch(const onnx_ctx *c, const bnn_shape *in, int64_t allowzero,
                             int64_t *target, int n)
{
    if (!c->batch_of_one || n < 1 || target[0] != 1 || in->rank < 1 ||
        in->dims[0] != c->batch_of_one)
        return;
    bool infers = false;
    for (int i = 1; i < n; i++)
        infers |= target[i] == -1;
    if (!allowzero)
        target[0] = 0;
    else if (!infers) /* a 0 is a size of 0 there: -1 infers the batch instead */
        target[0] = -1;
}

/* Before opset 5 the target shape was the attribute `shape` (same 0 and -1
 * rules). */
static bnn_status reshape_attr_form(onnx_ctx *c, int x)
{
    const int64_t *shape;
    int n, nid;
    BNN_TRY(onnx_attr_ints(c, "shape", &shape, &n));
    if (n < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'shape' is missing");
    if (n > BNN_MAX_RANK)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute 'shape' has %d entries, more than rank %d",
                              n, BNN_MAX_RANK);
    int64_t target[BNN_MAX_RANK];
    memcpy(target, shape, sizeof(int64_t) * (size_t)n);
    copy_freed_batch(c, &onnx_val(c, x)->shape, 0, target, n);
    BNN_TRY(onnx_emit_node(c, BNN_OP_RESHAPE, &x, 1, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "shape", target, n));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_reshape(onnx_ctx *c)
{
    int x, shp, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (c->opset < 5)
        return reshape_attr_form(c, x);
    BNN_TRY(onnx_need_input(c, 1, &shp));
    int64_t allowzero = 0;
    if (c->opset >= 14)
        BNN_TRY(onnx_attr_int(c, "allowzero", 0, &allowzero));
    onnx_known k;
    int64_t dims[64];
    if (onnx_known_get(c, shp, &k) && k.rank == 1 && k.n <= BNN_MAX_RANK &&
        shape_to_attr(&k, &onnx_val(c, x)->shape, allowzero, dims)) {
        if (!(k.sym & 1))
            copy_freed_batch(c, &onnx_val(c, x)->shape, allowzero, dims, k.n);
        BNN_TRY(onnx_emit_node(c, BNN_OP_RESHAPE, &x, 1, &nid));
        BNN_TRY(onnx_set_ints(c, nid, "shape", dims, k.n));
    } else {
        int in[2] = { x, shp };
        BNN_TRY(onnx_emit_node(c, BNN_OP_RESHAPE, in, 2, &nid));
    }
    if (allowzero)
        BNN_TRY(onnx_set_int(c, nid, "allowzero", allowzero));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_transpose(onnx_ctx *c)
{
    int x, nid, n;
    const int64_t *perm;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_attr_ints(c, "perm", &perm, &n));
    BNN_TRY(onnx_emit_node(c, BNN_OP_TRANSPOSE, &x, 1, &nid));
    if (n >= 0)
        BNN_TRY(onnx_set_ints(c, nid, "perm", perm, n));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_pad(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const char *mode;
    BNN_TRY(onnx_attr_string(c, "mode", "constant", &mode));
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    float value = 0;
    int in[3] = { x, -1, -1 };
    const int64_t *pads = NULL;
    int64_t full[2 * BNN_MAX_RANK];
    int npads = -1;
    onnx_known k;
    if (c->opset < 11) {
        /* Opset 1 named the attribute `paddings` (same layout). */
        const char *pads_name = c->opset < 2 ? "paddings" : "pads";
        BNN_TRY(onnx_attr_ints(c, pads_name, &pads, &npads));
        BNN_TRY(onnx_attr_float(c, "value", 0, &value));
        if (npads < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' is missing", pads_name);
    } else {
        int p, cv = onnx_input(c, 2);
        BNN_TRY(onnx_need_input(c, 1, &p));
        if (known_concrete(c, p, &k) && k.n <= 2 * BNN_MAX_RANK) {
            pads = k.v;
            npads = k.n;
        } else {
            in[1] = p;
        }
        double d;
        /* a constant value becomes the attribute; one the model computes
         * (or takes as an input) stays the third input */
        if (cv >= 0 && onnx_param_scalar(c, cv, &d))
            value = (float)d;
        else if (cv >= 0)
            in[2] = cv;
        if (onnx_input(c, 3) >= 0) {
            /* Opset 18: pads name only these axes (begins, then ends). */
            onnx_known ka;
            int rank = onnx_val(c, x)->shape.rank;
            if (!known_concrete(c, onnx_input(c, 3), &ka))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'axes' must be a constant");
            if (!pads || rank < 0)
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'axes' needs constant pads and a known rank");
            if (npads != 2 * ka.n)
                return onnx_node_fail(c, BNN_ERR_INVALID, "has %d pads for %d axes", npads, ka.n);
            for (int i = 0; i < 2 * rank; i++)
                full[i] = 0;
            for (int i = 0; i < ka.n; i++) {
                int64_t a = ka.v[i] < 0 ? ka.v[i] + rank : ka.v[i];
                if (a < 0 || a >= rank)
                    return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d",
                                          (long long)ka.v[i], rank);
                full[a] = pads[i];
                full[rank + a] = pads[ka.n + i];
            }
            pads = full;
            npads = 2 * rank;
        }
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_PAD, in, in[2] >= 0 ? 3 : in[1] >= 0 ? 2 : 1, &nid));
    if (npads >= 0)
        BNN_TRY(onnx_set_ints(c, nid, "pads", pads, npads));
    BNN_TRY(onnx_set_string(c, nid, "mode", mode));
    BNN_TRY(onnx_set_float(c, nid, "value", value));
    return onnx_infer(c, nid);
}
