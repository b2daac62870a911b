/* ONNX op -> IR op: the one lowering table (op type, opset range, function),
 * which also backs bnn_onnx_supported_ops().  Each function reads the current
 * ONNX node through the helpers of onnx_impl.h, resolves the opset-dependent
 * semantics (attributes that became inputs, changed defaults), folds constant
 * operands into attributes and emits IR nodes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

/* ---- helpers -------------------------------------------------------------- */

bnn_status onnx_need_input(onnx_ctx *c, int k, int *id)
{
    *id = onnx_input(c, k);
    if (*id < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input %d is missing", k);
    return BNN_OK;
}

const bnn_value *onnx_val(onnx_ctx *c, int id) { return bnn_graph_value(c->g, id); }

bool onnx_is_param(onnx_ctx *c, int id)
{
    return id >= 0 && onnx_val(c, id)->kind == BNN_VALUE_PARAM;
}

bool onnx_param_sole_use(onnx_ctx *c, int id, const char *name)
{
    onnx_name_entry *e = onnx_name_lookup(c, name);
    return e && e->uses == 1 && e->value_id == id;
}

/* A one-element numeric param as a double. */
static bool param_scalar(onnx_ctx *c, int id, double *out)
{
    if (!onnx_is_param(c, id))
        return false;
    const bnn_value *v = onnx_val(c, id);
    if (bnn_shape_numel(&v->shape) != 1)
        return false;
    switch (v->dtype) {
    case BNN_F32: *out = *(const float *)v->data; return true;
    case BNN_F64: *out = *(const double *)v->data; return true;
    case BNN_I64: *out = (double)*(const int64_t *)v->data; return true;
    case BNN_I32: *out = *(const int32_t *)v->data; return true;
    case BNN_BOOL: case BNN_U8: *out = *(const uint8_t *)v->data; return true;
    default: return false;
    }
}

/* Known contents with every entry concrete (a constant shape-like operand). */
static bool known_concrete(onnx_ctx *c, int id, onnx_known *k)
{
    return onnx_known_get(c, id, k) && k->sym == 0;
}

/* An output nothing may read (Dropout's mask, MaxPool's indices, ...). */
bnn_status onnx_unused_output(onnx_ctx *c, int k, const char *what)
{
    if (onnx_output_used(c, k))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "output %d (%s) is used; only inference is supported", k, what);
    return BNN_OK;
}

bnn_status onnx_set_ints(onnx_ctx *c, int nid, const char *name, const int64_t *v, int n)
{
    if (bnn_node_set_ints(c->g, nid, name, v, n) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_int(onnx_ctx *c, int nid, const char *name, int64_t v)
{
    if (bnn_node_set_int(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_float(onnx_ctx *c, int nid, const char *name, float v)
{
    if (bnn_node_set_float(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_string(onnx_ctx *c, int nid, const char *name, const char *v)
{
    if (bnn_node_set_string(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

bnn_status onnx_emit_node(onnx_ctx *c, bnn_op op, const int *in, int n, int *nid)
{
    *nid = onnx_emit(c, op, in, n);
    return *nid < 0 ? c->diag->status : BNN_OK;
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

/* ---- elementwise ---------------------------------------------------------- */

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

/* An op whose ops.def row says ONNX("Type", SINCE): the inputs as they are,
 * each schema attribute read under its own name (of the schema's kind), an
 * absent one written with the schema's default so the IR says what runs. */
static bnn_status lower_from_table(onnx_ctx *c)
{
    bnn_op op = bnn_op_find_onnx(onnx_str(c->node->op_type));
    BNN_ASSERT(op != BNN_OP_COUNT);
    const bnn_op_info *info = bnn_op_get(op);
    int in[8], n = onnx_n_inputs(c), nid;
    BNN_ASSERT(info->max_inputs <= 8);
    if (n > info->max_inputs)
        n = info->max_inputs;
    for (int k = 0; k < n; k++) {
        in[k] = onnx_input(c, k);
        if (in[k] < 0 && k < info->min_inputs)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d is missing", k);
    }
    if (n < info->min_inputs)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %d inputs, expected at least %d", n,
                              info->min_inputs);
    BNN_TRY(onnx_emit_node(c, op, in, n, &nid));
    bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
    int na = bnn_schema_parse(info->attrs, attrs, BNN_SCHEMA_MAX_ATTRS);
    BNN_ASSERT(na >= 0);
    for (int i = 0; i < na; i++) {
        const char *name = attrs[i].name;
        bool given = onnx_attr(c, name) != NULL;
        switch (attrs[i].kind) {
        case BNN_ATTR_FLOAT: {
            float v = 0; /* read as the default even when the attribute is given */
            if (!given && !bnn_op_default_float(op, name, &v))
                break;
            BNN_TRY(onnx_attr_float(c, name, v, &v));
            BNN_TRY(onnx_set_float(c, nid, name, v));
            break;
        }
        case BNN_ATTR_INT: {
            int64_t v = 0; /* read as the default even when the attribute is given */
            if (!given && !bnn_op_default_int(op, name, &v))
                break;
            BNN_TRY(onnx_attr_int(c, name, v, &v));
            BNN_TRY(onnx_set_int(c, nid, name, v));
            break;
        }
        case BNN_ATTR_STRING: {
            char buf[64];
            const char *v = bnn_op_default_text(op, name, buf, sizeof buf);
            if (!given && !v)
                break;
            BNN_TRY(onnx_attr_string(c, name, v ? v : "", &v));
            BNN_TRY(onnx_set_string(c, nid, name, v));
            break;
        }
        case BNN_ATTR_INTS: {
            const int64_t *v;
            int count;
            BNN_TRY(onnx_attr_ints(c, name, &v, &count));
            if (count >= 0)
                BNN_TRY(onnx_set_ints(c, nid, name, v, count));
            break;
        }
        default:
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute '%s': kind not mapped", name);
        }
    }
    return onnx_infer(c, nid);
}

static bnn_status lower_add(onnx_ctx *c) { return binary(c, BNN_OP_ADD); }
static bnn_status lower_sub(onnx_ctx *c) { return binary(c, BNN_OP_SUB); }
static bnn_status lower_mul(onnx_ctx *c) { return binary(c, BNN_OP_MUL); }
static bnn_status lower_div(onnx_ctx *c) { return binary(c, BNN_OP_DIV); }

/* RandomNormalLike: mean and scale always written (ONNX defaults 0 and 1);
 * seed and dtype only when the model gives them. */
static bnn_status lower_random_normal_like(onnx_ctx *c)
{
    int x, nid;
    float mean, scale, seed;
    int64_t dtype;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_attr_float(c, "mean", 0.0f, &mean));
    BNN_TRY(onnx_attr_float(c, "scale", 1.0f, &scale));
    BNN_TRY(onnx_attr_float(c, "seed", 0.0f, &seed));
    BNN_TRY(onnx_attr_int(c, "dtype", 0, &dtype));
    BNN_TRY(onnx_emit_node(c, BNN_OP_RANDOM_NORMAL_LIKE, &x, 1, &nid));
    BNN_TRY(onnx_set_float(c, nid, "mean", mean));
    BNN_TRY(onnx_set_float(c, nid, "scale", scale));
    if (onnx_attr(c, "seed"))
        BNN_TRY(onnx_set_float(c, nid, "seed", seed));
    if (onnx_attr(c, "dtype"))
        BNN_TRY(onnx_set_int(c, nid, "dtype", dtype));
    return onnx_infer(c, nid);
}

static bnn_status lower_identity(onnx_ctx *c)
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

static bnn_status lower_dropout(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_unused_output(c, 1, "mask"));
    float ratio = 0.5f;
    /* Before opset 7 is_test=0 meant training; bnnc imports for inference,
     * so is_test is not read. */
    if (c->opset < 12) {
        BNN_TRY(onnx_attr_float(c, "ratio", 0.5f, &ratio));
    } else {
        int r = onnx_input(c, 1), t = onnx_input(c, 2);
        double d;
        if (r >= 0) {
            if (!param_scalar(c, r, &d))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'ratio' must be a constant");
            ratio = (float)d;
        }
        if (t >= 0 && (!param_scalar(c, t, &d) || d != 0))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "training_mode must be a constant false");
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_DROPOUT, &x, 1, &nid));
    BNN_TRY(onnx_set_float(c, nid, "ratio", ratio));
    return onnx_infer(c, nid);
}

static bnn_status lower_clip(onnx_ctx *c)
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
    bool clo = lo >= 0 && param_scalar(c, lo, &dlo), chi = hi >= 0 && param_scalar(c, hi, &dhi);
    int in[3] = { x, clo ? -1 : lo, chi ? -1 : hi };
    int n = in[2] >= 0 ? 3 : in[1] >= 0 ? 2 : 1;
    BNN_TRY(onnx_emit_node(c, BNN_OP_CLIP, in, n, &nid));
    if (clo)
        BNN_TRY(onnx_set_float(c, nid, "min", (float)dlo));
    if (chi)
        BNN_TRY(onnx_set_float(c, nid, "max", (float)dhi));
    return onnx_infer(c, nid);
}

static bnn_status softmax_like(onnx_ctx *c, bnn_op op)
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
static bnn_status lower_softmax(onnx_ctx *c) { return softmax_like(c, BNN_OP_SOFTMAX); }
static bnn_status lower_log_softmax(onnx_ctx *c) { return softmax_like(c, BNN_OP_LOG_SOFTMAX); }

/* ---- constants and shape arithmetic -------------------------------------- */

static bnn_status lower_constant(onnx_ctx *c)
{
    const char *unsupported[] = { "sparse_value", "value_string", "value_strings" };
    for (int i = 0; i < 3; i++)
        if (onnx_attr(c, unsupported[i]))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute '%s' is not supported", unsupported[i]);
    if (c->node->n_output < 1 || !*onnx_str(c->node->output[0]))
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
    const Onnx__AttributeProto *a;
    if ((a = onnx_attr(c, "value"))) {
        if (!a->t)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'value' has type %s, expected TENSOR",
                                  a->has_type && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT ? "INT" : "other");
        char what[300];
        snprintf(what, sizeof what, "node '%s' (Constant): attribute 'value'", c->node_name);
        onnx_data d;
        BNN_TRY(bnn_onnx_view_tensor(a->t, c->base_dir, what, &d, c->diag));
        bnn_status s = onnx_output_param(c, 0, d.dtype, &d.shape, d.data, d.nbytes);
        onnx_data_release(&d);
        return s;
    }
    bnn_shape scalar = { .rank = 0 };
    if (onnx_attr(c, "value_float")) {
        float f;
        BNN_TRY(onnx_attr_float(c, "value_float", 0, &f));
        return onnx_output_param(c, 0, BNN_F32, &scalar, &f, sizeof f);
    }
    if (onnx_attr(c, "value_int")) {
        int64_t i;
        BNN_TRY(onnx_attr_int(c, "value_int", 0, &i));
        return onnx_output_param(c, 0, BNN_I64, &scalar, &i, sizeof i);
    }
    int n;
    if (onnx_attr(c, "value_floats")) {
        const float *f;
        BNN_TRY(onnx_attr_floats(c, "value_floats", &f, &n));
        bnn_shape s = { .rank = 1, .dims = { n } };
        return onnx_output_param(c, 0, BNN_F32, &s, f, sizeof(float) * (size_t)n);
    }
    if (onnx_attr(c, "value_ints")) {
        const int64_t *v;
        BNN_TRY(onnx_attr_ints(c, "value_ints", &v, &n));
        bnn_shape s = { .rank = 1, .dims = { n } };
        return onnx_output_param(c, 0, BNN_I64, &s, v, sizeof(int64_t) * (size_t)n);
    }
    return onnx_node_fail(c, BNN_ERR_INVALID, "has no value attribute");
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

static bnn_status lower_shape(onnx_ctx *c)
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
    const bnn_shape *s = &onnx_val(c, x)->shape;
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

static bnn_status lower_gather(onnx_ctx *c)
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
static bnn_status lower_squeeze(onnx_ctx *c) { return squeeze_like(c, BNN_OP_SQUEEZE); }
static bnn_status lower_unsqueeze(onnx_ctx *c) { return squeeze_like(c, BNN_OP_UNSQUEEZE); }

static bnn_status lower_concat(onnx_ctx *c)
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

/* ---- layout --------------------------------------------------------------- */

static bnn_status lower_flatten(onnx_ctx *c)
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
    BNN_TRY(onnx_emit_node(c, BNN_OP_RESHAPE, &x, 1, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "shape", shape, n));
    return onnx_infer(c, nid);
}

static bnn_status lower_reshape(onnx_ctx *c)
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

static bnn_status lower_transpose(onnx_ctx *c)
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

static bnn_status lower_pad(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const char *mode;
    BNN_TRY(onnx_attr_string(c, "mode", "constant", &mode));
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    float value = 0;
    int in[2] = { x, -1 };
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
        if (cv >= 0) {
            if (!param_scalar(c, cv, &d))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'constant_value' must be a constant");
            value = (float)d;
        }
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
    BNN_TRY(onnx_emit_node(c, BNN_OP_PAD, in, in[1] >= 0 ? 2 : 1, &nid));
    if (npads >= 0)
        BNN_TRY(onnx_set_ints(c, nid, "pads", pads, npads));
    BNN_TRY(onnx_set_string(c, nid, "mode", mode));
    BNN_TRY(onnx_set_float(c, nid, "value", value));
    return onnx_infer(c, nid);
}

/* ---- the table ------------------------------------------------------------ */

/* One row per ONNX op: domain, op type, opset range, lowering function, and
 * how many inputs the op takes: OLD before opset SINCE, NEW from it on (-1:
 * any number).  Every default-domain op here reads opsets 1 to MAX: the
 * lowerings resolve what changed on the way (legacy broadcasting, attributes
 * that became inputs, renamed attributes, changed defaults).
 * Expanded three times: the public support list, the functions, the arities.
 * Ops that map 1:1 are not here: their ops.def rows (ONNX("Type", SINCE))
 * follow these in the same arrays, lowered by lower_from_table. */
#define MAX BNN_ONNX_MAX_OPSET
#define ONNX_OPS(X) \
    X("", "Add", 1, MAX, lower_add, 2, 0, 2) \
    X("", "And", 1, MAX, onnx_lower_and, 2, 0, 2) \
    X("", "ArgMax", 1, MAX, onnx_lower_arg_max, 1, 0, 1) \
    X("", "ArgMin", 1, MAX, onnx_lower_arg_min, 1, 0, 1) \
    X("", "AveragePool", 1, MAX, onnx_lower_avg_pool, 1, 0, 1) \
    X("", "BatchNormalization", 1, MAX, onnx_lower_batch_norm, 5, 0, 5) \
    X("", "Cast", 1, MAX, onnx_lower_cast, 1, 0, 1) \
    X("", "CastLike", 1, MAX, onnx_lower_cast_like, 2, 0, 2) \
    X("", "Clip", 1, MAX, lower_clip, 1, 11, 3) \
    X("", "Concat", 1, MAX, lower_concat, -1, 0, -1) \
    X("", "Constant", 1, MAX, lower_constant, 0, 0, 0) \
    X("", "ConstantOfShape", 1, MAX, onnx_lower_constant_of_shape, 1, 0, 1) \
    X("", "Conv", 1, MAX, onnx_lower_conv, 3, 0, 3) \
    X("", "ConvTranspose", 1, MAX, onnx_lower_conv_transpose, 3, 0, 3) \
    X("", "Div", 1, MAX, lower_div, 2, 0, 2) \
    X("", "Dropout", 1, MAX, lower_dropout, 1, 12, 3) \
    X("", "Equal", 1, MAX, onnx_lower_equal, 2, 0, 2) \
    X("", "Expand", 1, MAX, onnx_lower_expand, 2, 0, 2) \
    X("", "Flatten", 1, MAX, lower_flatten, 1, 0, 1) \
    X("", "Gather", 1, MAX, lower_gather, 2, 0, 2) \
    X("", "Gemm", 1, MAX, onnx_lower_gemm, 3, 0, 3) \
    X("", "Greater", 1, MAX, onnx_lower_greater, 2, 0, 2) \
    X("", "GRU", 1, MAX, onnx_lower_gru, 6, 0, 6) \
    X("", "GreaterOrEqual", 12, MAX, onnx_lower_greater_or_equal, 2, 0, 2) \
    X("", "Identity", 1, MAX, lower_identity, 1, 0, 1) \
    X("", "If", 1, MAX, onnx_lower_if, 1, 0, 1) \
    X("", "IsInf", 10, MAX, onnx_lower_is_inf, 1, 0, 1) \
    X("", "IsNaN", 9, MAX, onnx_lower_is_nan, 1, 0, 1) \
    X("", "LayerNormalization", 17, MAX, onnx_lower_layer_norm, 3, 0, 3) \
    X("", "Less", 1, MAX, onnx_lower_less, 2, 0, 2) \
    X("", "LessOrEqual", 12, MAX, onnx_lower_less_or_equal, 2, 0, 2) \
    X("", "LogSoftmax", 1, MAX, lower_log_softmax, 1, 0, 1) \
    X("", "Loop", 1, MAX, onnx_lower_loop, -1, 0, -1) \
    X("", "LSTM", 1, MAX, onnx_lower_lstm, 8, 0, 8) \
    X("", "MatMul", 1, MAX, onnx_lower_matmul, 2, 0, 2) \
    X("", "Max", 1, MAX, onnx_lower_max, -1, 0, -1) \
    X("", "MaxPool", 1, MAX, onnx_lower_max_pool, 1, 0, 1) \
    X("", "Mean", 1, MAX, onnx_lower_mean, -1, 0, -1) \
    X("", "Min", 1, MAX, onnx_lower_min, -1, 0, -1) \
    X("", "Mod", 10, MAX, onnx_lower_mod, 2, 0, 2) \
    X("", "Mul", 1, MAX, lower_mul, 2, 0, 2) \
    X("", "Not", 1, MAX, onnx_lower_not, 1, 0, 1) \
    X("", "Or", 1, MAX, onnx_lower_or, 2, 0, 2) \
    X("", "Pad", 1, MAX, lower_pad, 1, 11, 4) \
    X("", "Pow", 1, MAX, onnx_lower_pow, 2, 0, 2) \
    X("", "PRelu", 1, MAX, onnx_lower_prelu, 2, 0, 2) \
    X("", "RandomNormalLike", 1, MAX, lower_random_normal_like, 1, 0, 1) \
    X("", "RNN", 1, MAX, onnx_lower_rnn, 6, 0, 6) \
    X("", "ReduceL1", 1, MAX, onnx_lower_reduce_l1, 1, 18, 2) \
    X("", "ReduceL2", 1, MAX, onnx_lower_reduce_l2, 1, 18, 2) \
    X("", "ReduceLogSum", 1, MAX, onnx_lower_reduce_log_sum, 1, 18, 2) \
    X("", "ReduceLogSumExp", 1, MAX, onnx_lower_reduce_log_sum_exp, 1, 18, 2) \
    X("", "ReduceMax", 1, MAX, onnx_lower_reduce_max, 1, 18, 2) \
    X("", "ReduceMean", 1, MAX, onnx_lower_reduce_mean, 1, 18, 2) \
    X("", "ReduceMin", 1, MAX, onnx_lower_reduce_min, 1, 18, 2) \
    X("", "ReduceProd", 1, MAX, onnx_lower_reduce_prod, 1, 18, 2) \
    X("", "ReduceSum", 1, MAX, onnx_lower_reduce_sum, 1, 13, 2) \
    X("", "ReduceSumSquare", 1, MAX, onnx_lower_reduce_sum_square, 1, 18, 2) \
    X("", "Reshape", 1, MAX, lower_reshape, 1, 5, 2) \
    X("", "Scan", 9, MAX, onnx_lower_scan, -1, 0, -1) \
    X("", "Shape", 1, MAX, lower_shape, 1, 0, 1) \
    X("", "Sign", 9, MAX, onnx_lower_sign, 1, 0, 1) \
    X("", "Size", 1, MAX, onnx_lower_size, 1, 0, 1) \
    X("", "Slice", 1, MAX, onnx_lower_slice, 1, 10, 5) \
    X("", "Softmax", 1, MAX, lower_softmax, 1, 0, 1) \
    X("", "Split", 1, MAX, onnx_lower_split, 2, 0, 2) \
    X("", "Squeeze", 1, MAX, lower_squeeze, 1, 13, 2) \
    X("", "Sub", 1, MAX, lower_sub, 2, 0, 2) \
    X("", "Sum", 1, MAX, onnx_lower_sum, -1, 0, -1) \
    X("", "Tile", 1, MAX, onnx_lower_tile, 3, 6, 2) \
    X("", "Transpose", 1, MAX, lower_transpose, 1, 0, 1) \
    X("", "Unsqueeze", 1, MAX, lower_unsqueeze, 1, 13, 2) \
    X("", "Where", 9, MAX, onnx_lower_where, 3, 0, 3) \
    X("", "Xor", 1, MAX, onnx_lower_xor, 2, 0, 2) \
    X("ai.bnnc", "ConvReparam", 1, 1, onnx_lower_conv_reparam, 5, 0, 5) \
    X("ai.bnnc", "DenseReparam", 1, 1, onnx_lower_dense_reparam, 5, 0, 5)

#define AS_SUPPORT(dom, op, since, until, fn, old, at, new) { dom, op, since, until },
#define AS_FN(dom, op, since, until, fn, old, at, new) fn,
#define AS_ARITY(dom, op, since, until, fn, old, at, new) { old, at, new },
/* The ops.def rows, expanded through their ONNX column: ONNX(...) rows give
 * an entry, ONNX_AS and ONNX_NONE rows nothing. */
#define SUPPORT_ONNX(type, since) { "", type, since, MAX },
#define FN_ONNX(type, since) lower_from_table,
#define ARITY_ONNX(type, since) { -2, 0, -2 },
#define SUPPORT_ONNX_AS(type)
#define FN_ONNX_AS(type)
#define ARITY_ONNX_AS(type)
#define SUPPORT_ONNX_NONE
#define FN_ONNX_NONE
#define ARITY_ONNX_NONE

static const bnn_onnx_op_support support[] = {
    ONNX_OPS(AS_SUPPORT)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) SUPPORT_##onnx
#include "ops.def"
};
static const onnx_lower_fn lowerers[] = {
    ONNX_OPS(AS_FN)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) FN_##onnx
#include "ops.def"
};
/* -2: the op row's MAX_IN. */
static const struct { int old, at, new_; } arity[] = {
    ONNX_OPS(AS_ARITY)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) ARITY_##onnx
#include "ops.def"
};
#define N_TABLE ((int)(sizeof support / sizeof *support))

const bnn_onnx_op_support *onnx_op_lookup(const char *domain, const char *op_type,
                                          onnx_lower_fn *fn)
{
    for (int i = 0; i < N_TABLE; i++)
        if (strcmp(support[i].domain, domain) == 0 && strcmp(support[i].op_type, op_type) == 0) {
            *fn = lowerers[i];
            return &support[i];
        }
    return NULL;
}

int onnx_op_max_inputs(const bnn_onnx_op_support *op, int64_t opset)
{
    int i = (int)(op - support);
    BNN_ASSERT(i >= 0 && i < N_TABLE);
    if (arity[i].new_ == -2) {
        int max = bnn_op_get(bnn_op_find_onnx(op->op_type))->max_inputs;
        return max == BNN_VARIADIC ? -1 : max;
    }
    return opset < arity[i].at ? arity[i].old : arity[i].new_;
}

const bnn_onnx_op_support *bnn_onnx_supported_ops(int *count)
{
    *count = N_TABLE;
    return support;
}
