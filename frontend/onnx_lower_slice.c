/* ONNX op -> IR op for the slice family (runtime/kernels/slice.c): Slice,
 * Split (one IR slice per part), Expand and Tile.  Registered in the table
 * of onnx_lower.c.
 *
 * Shape-like operands (starts, ends, axes, steps, split, shape, repeats) must
 * be constants, or shape arithmetic the importer knows; they become
 * attributes.  Slice of known i64 contents (shape arithmetic) folds like
 * Gather and Concat do (onnx_lower_layout.c), so Shape -> Slice -> Concat ->
 * Reshape still ends in a constant shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slice_impl.h"
#include "onnx_impl.h"

/* ---- helpers -------------------------------------------------------------- */

/* A result made of known i64 contents: a constant when every entry is
 * concrete, else node `op` on `in` (attributes set by the caller through
 * *nid, which is -1 when it folded) with the contents recorded for later
 * folding. */
static bnn_status known_result(onnx_ctx *c, int rank, const int64_t *v, int n, uint64_t sym,
                               bnn_op op, const int *in, int n_in, int *nid)
{
    *nid = -1;
    if (!sym)
        return onnx_known_param(c, onnx_known_dtype(c, in[0]), rank, v, n);
    BNN_TRY(onnx_emit_node(c, op, in, n_in, nid));
    return BNN_OK;
}

static bnn_status record_known(onnx_ctx *c, int nid, int rank, const int64_t *v, int n, uint64_t sym)
{
    return onnx_known_set(c, bnn_graph_node(c->g, nid)->outputs[0], rank, v, n, sym);
}

/* ---- slice ---------------------------------------------------------------- */

typedef struct slice_args {
    int n;
    int64_t starts[BNN_MAX_RANK], ends[BNN_MAX_RANK], axes[BNN_MAX_RANK], steps[BNN_MAX_RANK];
    bool has_axes, has_steps;
} slice_args;

/* Copies list entries into out; a symbolic entry is accepted only when it
 * equals the input's dim on that entry's axis (x[a:N] with N the dim), which
 * is the same as "to the end": INT64_MAX.  False for any other symbolic
 * entry: a bound only a session can know. */
static bool slice_bounds(const onnx_known *k, const bnn_shape *xs, const slice_args *a, int64_t *out)
{
    for (int i = 0; i < k->n; i++) {
        out[i] = k->v[i];
        if (!(k->sym >> i & 1))
            continue;
        int64_t axis = a->has_axes ? a->axes[i] : i;
        if (axis < 0 && xs->rank >= 0)
            axis += xs->rank;
        if (xs->rank < 0 || axis < 0 || axis >= xs->rank || xs->dims[axis] != k->v[i] ||
            onnx_known_unknown(k, i))
            return false;
        out[i] = INT64_MAX;
    }
    return true;
}

/* *computed: starts or ends the model computes from run-time sizes (the
 * slice then takes them as inputs, evaluated when a session binds the input
 * shapes); axes and steps must still be constants. */
static bnn_status read_slice_args(onnx_ctx *c, const bnn_shape *xs, slice_args *a, bool *computed)
{
    memset(a, 0, sizeof *a);
    *computed = false;
    if (c->opset < 10) {
        const int64_t *s, *e, *ax;
        int ns, ne, na;
        BNN_TRY(onnx_attr_ints(c, "starts", &s, &ns));
        BNN_TRY(onnx_attr_ints(c, "ends", &e, &ne));
        BNN_TRY(onnx_attr_ints(c, "axes", &ax, &na));
        if (ns < 0 || ne < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attributes 'starts' and 'ends' are required");
        if (ns != ne || (na >= 0 && na != ns))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attributes 'starts', 'ends' and 'axes' differ in length "
                                  "(%d, %d, %d)", ns, ne, na);
        if (ns > BNN_MAX_RANK)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "slices %d axes, more than rank %d", ns, BNN_MAX_RANK);
        a->n = ns;
        memcpy(a->starts, s, sizeof(int64_t) * (size_t)ns);
        memcpy(a->ends, e, sizeof(int64_t) * (size_t)ns);
        a->has_axes = na >= 0;
        if (na > 0)
            memcpy(a->axes, ax, sizeof(int64_t) * (size_t)na);
        return BNN_OK;
    }
    onnx_known ks, ke, ka, kp;
    if (onnx_input(c, 1) < 0 || onnx_input(c, 2) < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "inputs 'starts' and 'ends' are required");
    bool ks_ok = onnx_known_get(c, onnx_input(c, 1), &ks) && ks.rank == 1 && ks.n <= BNN_MAX_RANK;
    bool ke_ok = onnx_known_get(c, onnx_input(c, 2), &ke) && ke.rank == 1 && ke.n <= BNN_MAX_RANK;
    if (!ks_ok || !ke_ok) {
        *computed = true;
        a->n = ks_ok ? ks.n : ke_ok ? ke.n : -1;
    } else {
        a->n = ks.n;
        if (ke.n != ks.n)
            return onnx_node_fail(c, BNN_ERR_INVALID, "inputs 'starts' and 'ends' differ in length (%d, %d)",
                                  ks.n, ke.n);
    }
    if (onnx_input(c, 3) >= 0) {
        BNN_TRY(onnx_const_list(c, 3, "axes", BNN_MAX_RANK, &ka));
        if (a->n < 0)
            a->n = ka.n;
        if (ka.sym || ka.n != a->n)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'axes' must hold %d constants", a->n);
        a->has_axes = true;
        memcpy(a->axes, ka.v, sizeof(int64_t) * (size_t)ka.n);
    }
    if (onnx_input(c, 4) >= 0) {
        BNN_TRY(onnx_const_list(c, 4, "steps", BNN_MAX_RANK, &kp));
        if (a->n < 0)
            a->n = kp.n;
        if (kp.sym || kp.n != a->n)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'steps' must hold %d constants", a->n);
        a->has_steps = true;
        memcpy(a->steps, kp.v, sizeof(int64_t) * (size_t)kp.n);
        for (int i = 0; i < kp.n; i++)
            if (kp.v[i] == 0)
                return onnx_node_fail(c, BNN_ERR_INVALID, "input 'steps' has a 0 at position %d", i);
    }
    if (!*computed)
        *computed = !slice_bounds(&ks, xs, a, a->starts) || !slice_bounds(&ke, xs, a, a->ends);
    return BNN_OK;
}

static bnn_status set_slice_attrs(onnx_ctx *c, int nid, const slice_args *a)
{
    BNN_TRY(onnx_set_ints(c, nid, "starts", a->starts, a->n));
    BNN_TRY(onnx_set_ints(c, nid, "ends", a->ends, a->n));
    if (a->has_axes)
        BNN_TRY(onnx_set_ints(c, nid, "axes", a->axes, a->n));
    if (a->has_steps)
        BNN_TRY(onnx_set_ints(c, nid, "steps", a->steps, a->n));
    return BNN_OK;
}

bnn_status onnx_lower_slice(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    slice_args a;
    bool computed;
    BNN_TRY(read_slice_args(c, &onnx_val(c, x)->shape, &a, &computed));
    if (computed) {
        int in[3] = { x, onnx_input(c, 1), onnx_input(c, 2) };
        BNN_TRY(onnx_emit_node(c, BNN_OP_SLICE, in, 3, &nid));
        if (a.has_axes)
            BNN_TRY(onnx_set_ints(c, nid, "axes", a.axes, a.n));
        if (a.has_steps)
            BNN_TRY(onnx_set_ints(c, nid, "steps", a.steps, a.n));
        return onnx_infer(c, nid);
    }
    /* Shape arithmetic: a slice of known 1-D contents. */
    onnx_known k;
    bool axis0 = a.n == 1 && (!a.has_axes || a.axes[0] == 0 || a.axes[0] == -1);
    int64_t step = a.has_steps ? a.steps[0] : 1;
    if (axis0 && onnx_known_get(c, x, &k) && k.rank == 1 && step >= -ONNX_KNOWN_MAX &&
        step <= ONNX_KNOWN_MAX) {
        int64_t v[ONNX_KNOWN_MAX], first;
        uint64_t sym = 0;
        int64_t n = bnn_slice_count(k.n, a.starts[0], a.ends[0], step, &first);
        for (int64_t i = 0; i < n; i++) {
            int64_t j = first + i * step;
            v[i] = k.v[j];
            if (k.sym >> j & 1)
                sym |= 1ull << i;
        }
        BNN_TRY(known_result(c, 1, v, (int)n, sym, BNN_OP_SLICE, &x, 1, &nid));
        if (nid < 0)
            return BNN_OK;
        BNN_TRY(set_slice_attrs(c, nid, &a));
        BNN_TRY(onnx_infer(c, nid));
        return record_known(c, nid, 1, v, (int)n, sym);
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_SLICE, &x, 1, &nid));
    BNN_TRY(set_slice_attrs(c, nid, &a));
    return onnx_infer(c, nid);
}

/* ---- split ---------------------------------------------------------------- */

/* One slice per output: part k takes [offset_k, offset_k + split_k) of axis. */
bnn_status onnx_lower_split(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t axis;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    int parts = (int)c->node->n_output;
    if (parts < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no outputs");
    int64_t num_outputs = 0;
    if (onnx_attr(c, "num_outputs")) {
        if (c->opset < 18)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'num_outputs' belongs to opset 18 on");
        if (onnx_input(c, 1) >= 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "has both input 'split' and attribute 'num_outputs'");
        BNN_TRY(onnx_attr_int(c, "num_outputs", 0, &num_outputs));
        if (num_outputs != parts)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'num_outputs' is %lld, but the node has %d outputs",
                                  (long long)num_outputs, parts);
    }
    const bnn_shape *xs = &onnx_val(c, x)->shape;
    int a = (int)axis;
    if (xs->rank >= 0 && (axis < -xs->rank || axis >= xs->rank))
        return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                              xs->rank);
    if (xs->rank >= 0 && axis < 0)
        a = (int)(axis + xs->rank);
    int64_t dim = xs->rank >= 0 && a >= 0 ? xs->dims[a] : BNN_DIM_UNKNOWN;
    /* The sizes: input 'split' (opset 13 on, and opset 1), else the attribute. */
    const int64_t *sizes = NULL;
    int n_sizes = -1;
    onnx_known k;
    if ((c->opset >= 13 || c->opset < 2) && onnx_input(c, 1) >= 0) {
        BNN_TRY(onnx_const_list(c, 1, "split", ONNX_KNOWN_MAX, &k));
        if (k.sym)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'split' holds a size only known at run time");
        sizes = k.v;
        n_sizes = k.n;
    } else if (c->opset < 13) {
        if (onnx_n_inputs(c) > 1 && *onnx_str(c->node->input[1]))
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'split' belongs to opsets 1 and 13 on");
        BNN_TRY(onnx_attr_ints(c, "split", &sizes, &n_sizes));
    }
    int64_t *len = malloc(sizeof(int64_t) * (size_t)parts);
    if (!len)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    bnn_status st = BNN_OK;
    if (n_sizes >= 0) {
        int64_t total = 0;
        if (n_sizes != parts)
            st = onnx_node_fail(c, BNN_ERR_INVALID, "'split' has %d sizes for %d outputs", n_sizes, parts);
        for (int i = 0; st == BNN_OK && i < parts; i++) {
            if (sizes[i] < 0 || sizes[i] > ((int64_t)1 << 40))
                st = onnx_node_fail(c, BNN_ERR_INVALID, "'split' has a bad size %lld", (long long)sizes[i]);
            len[i] = sizes[i];
            total += sizes[i];
        }
        if (st == BNN_OK && bnn_dim_is_known(dim) && total != dim)
            st = onnx_node_fail(c, BNN_ERR_SHAPE, "'split' sizes add up to %lld, but axis %d has %lld",
                                (long long)total, a, (long long)dim);
    } else if (!bnn_dim_is_known(dim)) {
        st = onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "splitting into equal parts needs axis %lld's size", (long long)axis);
    } else if (num_outputs > 0 && dim % parts != 0) {
        /* Opset 18: parts of ceil(dim / n), the last one smaller. */
        int64_t each = (dim + parts - 1) / parts, left = dim;
        for (int i = 0; i < parts; i++) {
            len[i] = left < each ? left : each;
            left -= len[i];
        }
        if (len[parts - 1] <= 0)
            st = onnx_node_fail(c, BNN_ERR_SHAPE, "axis %d of size %lld does not give %d non-empty parts", a,
                                (long long)dim, parts);
    } else if (dim % parts != 0) {
        st = onnx_node_fail(c, BNN_ERR_SHAPE, "axis %d of size %lld does not split into %d equal parts", a,
                            (long long)dim, parts);
    } else {
        for (int i = 0; i < parts; i++)
            len[i] = dim / parts;
    }
    int64_t at = 0;
    for (int i = 0; st == BNN_OK && i < parts; i++) {
        if (!*onnx_str(c->node->output[i])) {
            at += len[i];
            continue;
        }
        char name[300];
        if (parts == 1)
            snprintf(name, sizeof name, "%s", c->node_name);
        else
            snprintf(name, sizeof name, "%s_%d", c->node_name, i);
        int out = onnx_define_output(c, i);
        int nid = out < 0 ? -1 : bnn_graph_add_node(c->g, BNN_OP_SLICE, name, &x, 1, &out, 1);
        if (nid < 0) {
            st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
            break;
        }
        int64_t s = at, e = at + len[i], ax = axis;
        if ((st = onnx_set_ints(c, nid, "starts", &s, 1)) != BNN_OK ||
            (st = onnx_set_ints(c, nid, "ends", &e, 1)) != BNN_OK ||
            (st = onnx_set_ints(c, nid, "axes", &ax, 1)) != BNN_OK)
            break;
        st = onnx_infer(c, nid);
        at += len[i];
    }
    free(len);
    return st;
}

/* ---- expand, tile --------------------------------------------------------- */

/* Expand to a shape known at import becomes the attribute; one the model
 * computes from run-time sizes (ViT's class token expanded to the batch,
 * Swin's attention masks) stays input 1, evaluated when a session binds the
 * input shapes (runtime/shape_eval.c). */
bnn_status onnx_lower_expand(onnx_ctx *c)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    onnx_known k;
    const bnn_shape xs = onnx_val(c, in[0])->shape; /* a copy: emitting may move values */
    int64_t shape[BNN_MAX_RANK];
    bool known = onnx_known_get(c, in[1], &k) && k.rank == 1;
    if (known && k.n > BNN_MAX_RANK)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'shape' has %d entries, more than %d",
                              k.n, BNN_MAX_RANK);
    for (int i = 0; known && i < k.n; i++) {
        shape[i] = k.v[i];
        if (!(k.sym >> i & 1))
            continue;
        /* A symbolic entry equal to the input's dim there broadcasts like 1. */
        int ix = i - (k.n - xs.rank);
        if ((xs.rank < 0 || ix < 0 || xs.dims[ix] != k.v[i] || onnx_known_unknown(&k, i)) &&
            !onnx_feeds_rnn_state_only(c, onnx_str(c->node->output[0])))
            known = false;
        shape[i] = 1;
    }
    if (!known) {
        BNN_TRY(onnx_emit_node(c, BNN_OP_EXPAND, in, 2, &nid));
        return onnx_infer(c, nid);
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_EXPAND, in, 1, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "shape", shape, k.n));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_tile(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t rep[BNN_MAX_RANK];
    int n;
    onnx_known k;
    if (c->opset < 6) {
        /* Tile-1: `tiles` copies along `axis`, both scalar inputs. */
        onnx_known kt, ka;
        BNN_TRY(onnx_const_list(c, 1, "tiles", 1, &kt));
        BNN_TRY(onnx_const_list(c, 2, "axis", 1, &ka));
        int rank = onnx_val(c, x)->shape.rank;
        if (kt.sym || ka.sym || kt.n != 1 || ka.n != 1 || rank < 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "needs constant scalar 'tiles' and 'axis' and a known rank");
        int64_t axis = ka.v[0] < 0 ? ka.v[0] + rank : ka.v[0];
        if (axis < 0 || axis >= rank)
            return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)ka.v[0], rank);
        n = rank;
        for (int i = 0; i < n; i++)
            rep[i] = i == axis ? kt.v[0] : 1;
    } else {
        BNN_TRY(onnx_const_list(c, 1, "repeats", BNN_MAX_RANK, &k));
        if (k.sym)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'repeats' holds a count only known at run time");
        n = k.n;
        memcpy(rep, k.v, sizeof(int64_t) * (size_t)n);
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_TILE, &x, 1, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "repeats", rep, n));
    return onnx_infer(c, nid);
}
