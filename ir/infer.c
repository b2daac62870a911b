/* Shape inference: one bnn_infer_<stem> per op row of ops.def, reached through
 * a table expanded from ops.def.
 *
 * Each function reads the node's inputs and attributes (absent attributes take
 * ONNX's defaults) and sets the dtype and shape of the node's one output.
 * Unknown dims (BNN_DIM_UNKNOWN, rank -1) never make inference fail: they
 * propagate, and a symbolic dim such as the batch N survives wherever the
 * result is exactly that symbol.  Known dims that contradict each other fail
 * with BNN_ERR_SHAPE and a message that names the node. */
#include <stdarg.h>
#include <string.h>

#include "infer_impl.h"

/* ---- the schema and type text (shared with verify.c) --------------------- */

static const char *const kind_names[] = {
    [BNN_ATTR_INT] = "int",   [BNN_ATTR_FLOAT] = "float", [BNN_ATTR_STRING] = "string",
    [BNN_ATTR_INTS] = "ints", [BNN_ATTR_FLOATS] = "floats",
};

const char *bnn_attr_kind_name(bnn_attr_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

int bnn_schema_parse(const char *schema, bnn_schema_attr *attrs, int max)
{
    int n = 0;
    const char *p = schema;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            return n;
        const char *colon = strchr(p, ':');
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        if (!colon || colon > end || colon == p || colon - p >= BNN_SCHEMA_MAX_NAME || n >= max)
            return -1;
        bnn_schema_attr *a = &attrs[n];
        memcpy(a->name, p, (size_t)(colon - p));
        a->name[colon - p] = '\0';
        /* "name:kind=default": the default is ops.c's business, but it must
         * not be empty */
        const char *eq = memchr(colon, '=', (size_t)(end - colon));
        if (eq && eq + 1 == end)
            return -1;
        size_t kind_len = (size_t)((eq ? eq : end) - colon - 1);
        int kind = -1;
        for (int k = 0; k < (int)(sizeof kind_names / sizeof kind_names[0]); k++)
            if (strlen(kind_names[k]) == kind_len && strncmp(colon + 1, kind_names[k], kind_len) == 0)
                kind = k;
        if (kind < 0)
            return -1;
        a->kind = (bnn_attr_kind)kind;
        for (int i = 0; i < n; i++)
            if (strcmp(attrs[i].name, a->name) == 0)
                return -1;
        n++;
        p = end;
    }
}

bool bnn_schema_find(const char *schema, const char *name, bnn_attr_kind *kind)
{
    bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
    int n = bnn_schema_parse(schema, attrs, BNN_SCHEMA_MAX_ATTRS);
    for (int i = 0; i < n; i++) {
        if (strcmp(attrs[i].name, name) == 0) {
            *kind = attrs[i].kind;
            return true;
        }
    }
    return false;
}

const char *bnn_type_text(const bnn_graph *g, bnn_dtype dtype, const bnn_shape *shape, char *buf,
                          size_t n)
{
    const char *t = bnn_dtype_name(dtype);
    size_t len = (size_t)snprintf(buf, n, "%s[", t && dtype != BNN_UNDEFINED ? t : "?");
    if (shape->rank < 0 || shape->rank > BNN_MAX_RANK) {
        snprintf(buf + (len < n ? len : n - 1), len < n ? n - len : 1, "*]");
        return buf;
    }
    for (int i = 0; i < shape->rank && len < n; i++) {
        int64_t d = shape->dims[i];
        const char *sep = i ? "," : "";
        if (bnn_dim_is_known(d))
            len += (size_t)snprintf(buf + len, n - len, "%s%lld", sep, (long long)d);
        else if (bnn_dim_is_symbol(d) && bnn_dim_symbol_index(d) < g->n_symbols)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", sep,
                                    g->symbols[bnn_dim_symbol_index(d)]);
        else
            len += (size_t)snprintf(buf + len, n - len, "%s?", sep);
    }
    if (len < n)
        snprintf(buf + len, n - len, "]");
    return buf;
}

/* ---- the inference context (infer_ctx is in infer_impl.h) ------------------ */

/* Input k, or NULL when it is absent (-1 or past the end). */
const bnn_value *infer_input(const infer_ctx *c, int k)
{
    if (k >= c->node->n_inputs || c->node->inputs[k] < 0)
        return NULL;
    return &c->g->values[c->node->inputs[k]];
}

/* "f32[N,300]" for input k. */
const char *infer_type(infer_ctx *c, int k)
{
    const bnn_value *v = infer_input(c, k);
    char *buf = c->text[c->next_text++ % 4];
    return bnn_type_text(c->g, v->dtype, &v->shape, buf, sizeof c->text[0]);
}

const char *infer_name(const infer_ctx *c, int k) { return infer_input(c, k)->name; }

bnn_status infer_fail(infer_ctx *c, const char *fmt, ...)
{
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return bnn_fail(c->diag, BNN_ERR_SHAPE, "%s: %s", c->label, what);
}

const bnn_shape infer_unknown_shape = {.rank = -1};

/* ---- element types -------------------------------------------------------- */

bool infer_type_fits(bnn_dtype t, type_class cls)
{
    bool is_float = t == BNN_F32 || t == BNN_F64 || t == BNN_F16 || t == BNN_BF16;
    if (t == BNN_UNDEFINED)
        return true; /* unknown: nothing contradicts */
    switch (cls) {
    case TYPES_ANY: return true;
    case TYPES_NUMERIC: return t != BNN_STRING && t != BNN_BOOL;
    case TYPES_FLOAT: return is_float;
    case TYPES_F32: return t == BNN_F32;
    }
    return false;
}

static const char *const class_text[] = {"any type", "a numeric type", "a float type", "f32"};

/* Input k, if present, has a type of class cls and (when `like` >= 0 is
 * present and both are known) the same dtype as input `like`. */
bnn_status infer_check_type(infer_ctx *c, int k, type_class cls, int like)
{
    const bnn_value *v = infer_input(c, k);
    if (!v)
        return BNN_OK;
    if (!infer_type_fits(v->dtype, cls))
        return infer_fail(c, "input '%s' has type %s, expected %s", v->name, infer_type(c, k),
                          class_text[cls]);
    const bnn_value *w = like >= 0 ? infer_input(c, like) : NULL;
    if (w && v->dtype != BNN_UNDEFINED && w->dtype != BNN_UNDEFINED && v->dtype != w->dtype)
        return infer_fail(c, "input '%s' has type %s but input '%s' has %s", v->name,
                          infer_type(c, k), w->name, infer_type(c, like));
    return BNN_OK;
}

/* Every present input of class cls and of input 0's dtype. */
bnn_status infer_check_types_alike(infer_ctx *c, type_class cls)
{
    for (int k = 0; k < c->node->n_inputs; k++)
        BNN_TRY(infer_check_type(c, k, cls, 0));
    return BNN_OK;
}

/* The output dtype: the first known dtype among the present inputs. */
bnn_dtype infer_first_dtype(const infer_ctx *c)
{
    for (int k = 0; k < c->node->n_inputs; k++)
        if (infer_input(c, k) && infer_input(c, k)->dtype != BNN_UNDEFINED)
            return infer_input(c, k)->dtype;
    return BNN_UNDEFINED;
}

/* ---- dims ----------------------------------------------------------------- */

bool infer_dims_conflict(int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; }

/* The dim two dims that must be equal make: the known one, else a symbol. */
int64_t infer_dim_meet(int64_t a, int64_t b)
{
    if (a >= 0 || a == b)
        return a;
    if (b >= 0)
        return b;
    return bnn_dim_is_symbol(a) ? a : b;
}

int64_t infer_dim_add(int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r))
        return BNN_DIM_UNKNOWN;
    return r;
}

/* The product of n dims: its value when all are known, the symbol when one
 * dim is a symbol and the rest are 1, 0 when a known dim is 0, else unknown. */
int64_t infer_dim_product(const int64_t *dims, int n)
{
    int64_t known = 1, symbol = 0;
    int other = 0;
    for (int i = 0; i < n; i++) {
        if (dims[i] == 0)
            return 0;
        if (dims[i] > 0) {
            if (__builtin_mul_overflow(known, dims[i], &known))
                other = 2;
        } else {
            other++;
            symbol = dims[i];
        }
    }
    if (other == 0)
        return known;
    return other == 1 && known == 1 && bnn_dim_is_symbol(symbol) ? symbol : BNN_DIM_UNKNOWN;
}

/* Normalises an axis in [-rank, rank-1]; false when out of range. */
bool infer_norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

/* ---- attributes ----------------------------------------------------------- */

/* An int attribute that must be 0 or 1. */
bnn_status infer_flag_attr(infer_ctx *c, const char *name, int64_t fallback, bool *out)
{
    int64_t v = bnn_node_int(c->node, name, fallback);
    *out = false;
    if (v != 0 && v != 1)
        return infer_fail(c, "attribute '%s' is %lld, expected 0 or 1", name, (long long)v);
    *out = v == 1;
    return BNN_OK;
}

/* An ints attribute of `count` values in [lo, hi], or `fallback` for each
 * when absent. */
bnn_status infer_ints_attr(infer_ctx *c, const char *name, int count, int64_t fallback, int64_t lo,
                           int64_t hi, int64_t *out)
{
    const int64_t *v;
    int n = bnn_node_ints(c->node, name, &v);
    if (!bnn_node_attr(c->node, name)) {
        for (int i = 0; i < count; i++)
            out[i] = fallback;
        return BNN_OK;
    }
    if (n != count)
        return infer_fail(c, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++) {
        if (v[i] < lo && hi == ATTR_MAX)
            return infer_fail(c, "attribute '%s' has %lld at position %d, expected >= %lld", name,
                              (long long)v[i], i, (long long)lo);
        if (v[i] < lo || v[i] > hi)
            return infer_fail(c, "attribute '%s' has %lld at position %d, expected %lld..%lld",
                              name, (long long)v[i], i, (long long)lo, (long long)hi);
        out[i] = v[i];
    }
    return BNN_OK;
}

/* ---- broadcasting --------------------------------------------------------- */

/* numpy broadcasting of the dims a[0..ra) and b[0..rb), aligned at the end,
 * into out (rank max(ra, rb)).  False, with the clashing pair in clash[], when
 * two known dims differ and neither is 1. */
bool infer_broadcast_dims(const int64_t *a, int ra, const int64_t *b, int rb, int64_t *out,
                           int64_t clash[2])
{
    int rank = ra > rb ? ra : rb;
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - ra), ib = i - (rank - rb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else if (da >= 0 && db >= 0) {
            clash[0] = da;
            clash[1] = db;
            return false;
        } else if (da >= 0 || db >= 0)
            out[i] = da >= 0 ? da : db; /* the other must be 1 or equal */
        else
            out[i] = BNN_DIM_UNKNOWN;
    }
    return true;
}

/* numpy broadcasting of inputs ka and kb into c->out. */
bnn_status infer_broadcast_pair(infer_ctx *c, int ka, int kb)
{
    const bnn_shape *a = &infer_input(c, ka)->shape, *b = &infer_input(c, kb)->shape;
    int64_t clash[2];
    if (a->rank < 0 || b->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out.rank = a->rank > b->rank ? a->rank : b->rank;
    if (!infer_broadcast_dims(a->dims, a->rank, b->dims, b->rank, c->out.dims, clash))
        return infer_fail(c, "inputs '%s' %s and '%s' %s do not broadcast (%lld vs %lld)",
                          infer_name(c, ka), infer_type(c, ka), infer_name(c, kb),
                          infer_type(c, kb), (long long)clash[0], (long long)clash[1]);
    return BNN_OK;
}

/* numpy broadcasting of every input into c->out (the variadic ops, where);
 * an unknown rank makes the result unknown.  Known dims that clash name both
 * inputs. */
bnn_status infer_broadcast_all(infer_ctx *c)
{
    int n = c->node->n_inputs, rank = 0;
    for (int k = 0; k < n; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        int r = infer_input(c, k)->shape.rank;
        if (r < 0) {
            c->out = infer_unknown_shape;
            return BNN_OK;
        }
        if (r > rank)
            rank = r;
    }
    c->out.rank = rank;
    int who[BNN_MAX_RANK]; /* the input that fixed out dim i, -1 while it is 1 */
    for (int i = 0; i < rank; i++) {
        c->out.dims[i] = 1;
        who[i] = -1;
    }
    for (int k = 0; k < n; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        for (int j = 0; j < s->rank; j++) {
            int i = j + rank - s->rank;
            int64_t d = s->dims[j], o = c->out.dims[i];
            if (d == 1 || d == o)
                continue;
            if (o == 1) {
                c->out.dims[i] = d;
                who[i] = k;
            } else if (d >= 0 && o >= 0) {
                return infer_fail(c, "inputs '%s' %s and '%s' %s do not broadcast (%lld vs %lld)",
                                  infer_name(c, who[i]), infer_type(c, who[i]), infer_name(c, k),
                                  infer_type(c, k), (long long)o, (long long)d);
            } else if (d >= 0) {
                c->out.dims[i] = d; /* the symbol must be 1 or equal */
                who[i] = k;
            } else if (o < 0) {
                c->out.dims[i] = BNN_DIM_UNKNOWN; /* two different symbols */
            }
        }
    }
    return BNN_OK;
}

/* Input k broadcasts one way onto `target` (ONNX unidirectional). */
bnn_status infer_broadcast_onto(infer_ctx *c, int k, const bnn_shape *target, const char *what)
{
    const bnn_shape *s = &infer_input(c, k)->shape;
    if (s->rank < 0 || target->rank < 0)
        return BNN_OK;
    bool bad = s->rank > target->rank;
    for (int i = 0; i < s->rank && !bad; i++) {
        int64_t d = s->dims[i], t = target->dims[i + target->rank - s->rank];
        bad = d != 1 && infer_dims_conflict(d, t);
    }
    if (bad) {
        char buf[160];
        return infer_fail(c, "input '%s' %s does not broadcast to %s %s", infer_name(c, k),
                          infer_type(c, k), what,
                          bnn_type_text(c->g, infer_input(c, k)->dtype, target, buf, sizeof buf));
    }
    return BNN_OK;
}

/* ---- shared by the families ---------------------------------------------- */

bnn_status infer_unary(infer_ctx *c, type_class cls)
{
    BNN_TRY(infer_check_type(c, 0, cls, -1));
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}

/* ---- dispatch ------------------------------------------------------------- */

typedef bnn_status (*infer_fn)(infer_ctx *c);

static const infer_fn infer_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, ...) [BNN_OP_##id] = bnn_infer_##stem,
#include "ops.def"
};

/* What every op needs before its own rules: operand counts and ids, present
 * required inputs, ranks in range, attribute kinds as the schema says. */
static bnn_status check_operands(infer_ctx *c)
{
    const bnn_node *n = c->node;
    const bnn_op_info *info = bnn_op_get(n->op);
    bool too_many = info->max_inputs != BNN_VARIADIC && n->n_inputs > info->max_inputs;
    if (n->n_inputs < info->min_inputs || too_many) {
        if (info->max_inputs == BNN_VARIADIC)
            return infer_fail(c, "has %d inputs, expected at least %d", n->n_inputs,
                              info->min_inputs);
        return infer_fail(c, "has %d inputs, expected %d..%d", n->n_inputs, info->min_inputs,
                          info->max_inputs);
    }
    if (n->n_outputs != info->n_outputs)
        return infer_fail(c, "has %d outputs, expected %d", n->n_outputs, info->n_outputs);
    for (int k = 0; k < n->n_inputs; k++) {
        int id = n->inputs[k];
        if (id < -1 || id >= c->g->n_values)
            return infer_fail(c, "input %d refers to value %d, which does not exist", k, id);
        if (id == -1 && k < info->min_inputs)
            return infer_fail(c, "input %d is required but absent", k);
        if (id >= 0 && (c->g->values[id].shape.rank < -1 ||
                        c->g->values[id].shape.rank > BNN_MAX_RANK))
            return infer_fail(c, "input '%s' has rank %d", c->g->values[id].name,
                              c->g->values[id].shape.rank);
    }
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] < 0 || n->outputs[k] >= c->g->n_values)
            return infer_fail(c, "output %d refers to value %d, which does not exist", k,
                              n->outputs[k]);
    for (int i = 0; i < n->n_attrs; i++) {
        bnn_attr_kind kind;
        const bnn_attr *a = &n->attrs[i];
        if (bnn_schema_find(info->attrs, a->name, &kind) && kind != a->kind)
            return infer_fail(c, "attribute '%s' is %s, expected %s", a->name,
                              bnn_attr_kind_name(a->kind), bnn_attr_kind_name(kind));
    }
    return BNN_OK;
}

bnn_status bnn_graph_infer_node(bnn_graph *graph, int node_id, bnn_diag *diag)
{
    BNN_ASSERT(node_id >= 0 && node_id < graph->n_nodes);
    infer_ctx c = {.g = graph, .node = &graph->nodes[node_id], .diag = diag};
    bnn_node_label(graph, node_id, c.label, sizeof c.label);
    BNN_TRY(check_operands(&c));
    BNN_TRY(infer_table[c.node->op](&c));
    for (int k = 0; k < c.node->n_outputs; k++) {
        bnn_value *out = &graph->values[c.node->outputs[k]];
        out->dtype = k > 0 && k <= 3 && c.extra_dtype[k - 1] != BNN_UNDEFINED ? c.extra_dtype[k - 1]
                                                                             : c.out_dtype;
        out->shape = k > 0 && k <= c.n_extra ? c.extra[k - 1] : c.out;
    }
    return BNN_OK;
}

bnn_status bnn_graph_infer(bnn_graph *graph, bnn_diag *diag)
{
    for (int i = 0; i < graph->n_nodes; i++)
        if (!graph->nodes[i].dead)
            BNN_TRY(bnn_graph_infer_node(graph, i, diag));
    return BNN_OK;
}
