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
static bool broadcast_dims(const int64_t *a, int ra, const int64_t *b, int rb, int64_t *out,
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
static bnn_status broadcast(infer_ctx *c, int ka, int kb)
{
    const bnn_shape *a = &infer_input(c, ka)->shape, *b = &infer_input(c, kb)->shape;
    int64_t clash[2];
    if (a->rank < 0 || b->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out.rank = a->rank > b->rank ? a->rank : b->rank;
    if (!broadcast_dims(a->dims, a->rank, b->dims, b->rank, c->out.dims, clash))
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
static bnn_status broadcast_onto(infer_ctx *c, int k, const bnn_shape *target, const char *what)
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

/* ---- elementwise ---------------------------------------------------------- */

static bnn_status binary(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = infer_first_dtype(c);
    return broadcast(c, 0, 1);
}

bnn_status infer_unary(infer_ctx *c, type_class cls)
{
    BNN_TRY(infer_check_type(c, 0, cls, -1));
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}

bnn_status bnn_infer_add(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_sub(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_mul(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_div(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_relu(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_leaky_relu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_elu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_selu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sigmoid(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_tanh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_softplus(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_softsign(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_exp(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_log(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sqrt(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_reciprocal(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_abs(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_neg(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_identity(infer_ctx *c) { return infer_unary(c, TYPES_ANY); }

bnn_status bnn_infer_dropout(infer_ctx *c)
{
    float ratio = bnn_node_float(c->node, "ratio", 0.5f);
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return infer_fail(c, "attribute 'ratio' is %g, expected a value in [0, 1)", (double)ratio);
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_prelu(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_FLOAT));
    BNN_TRY(broadcast_onto(c, 1, &infer_input(c, 0)->shape, "input"));
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_clip(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    for (int k = 1; k < 3; k++)
        if (infer_input(c, k) && infer_input(c, k)->shape.rank > 0)
            return infer_fail(c, "bound '%s' has shape %s, expected a scalar", infer_name(c, k),
                              infer_type(c, k));
    return infer_unary(c, TYPES_NUMERIC);
}

static bnn_status softmax_like(infer_ctx *c)
{
    bool coerce;
    BNN_TRY(infer_flag_attr(c, "coerce", 0, &coerce));
    int rank = infer_input(c, 0)->shape.rank, axis;
    int64_t a = bnn_node_int(c->node, "axis", -1);
    if (rank >= 0 && !infer_norm_axis(a, rank, &axis))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)a,
                          infer_name(c, 0), infer_type(c, 0));
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_softmax(infer_ctx *c) { return softmax_like(c); }
bnn_status bnn_infer_log_softmax(infer_ctx *c) { return softmax_like(c); }

/* ---- linear layers -------------------------------------------------------- */

/* y = x . W^T + b: x [..., in] (input 0), W [out, in] (input w), b [out]. */
static bnn_status dense_like(infer_ctx *c, int w, int b)
{
    const bnn_shape *x = &infer_input(c, 0)->shape, *ws = &infer_input(c, w)->shape;
    if (x->rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D", infer_name(c, 0),
                          infer_type(c, 0));
    if (ws->rank >= 0 && ws->rank != 2)
        return infer_fail(c, "weight '%s' has shape %s, expected 2-D [out, in]", infer_name(c, w),
                          infer_type(c, w));
    int64_t out_f = ws->rank == 2 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t in_f = ws->rank == 2 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    if (x->rank > 0 && infer_dims_conflict(x->dims[x->rank - 1], in_f))
        return infer_fail(c, "input '%s' has shape %s, weight expects %lld features",
                          infer_name(c, 0), infer_type(c, 0), (long long)in_f);
    if (infer_input(c, b)) {
        const bnn_shape *bs = &infer_input(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || infer_dims_conflict(bs->dims[0], out_f)))
            return infer_fail(c, "bias '%s' has shape %s, weight '%s' %s expects [%lld]",
                              infer_name(c, b), infer_type(c, b), infer_name(c, w),
                              infer_type(c, w), (long long)out_f);
        if (bs->rank == 1)
            out_f = infer_dim_meet(out_f, bs->dims[0]);
    }
    c->out_dtype = infer_first_dtype(c);
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out = *x;
    c->out.dims[x->rank - 1] = out_f;
    return BNN_OK;
}

bnn_status bnn_infer_dense(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    return dense_like(c, 1, 2);
}

/* The same shape, for a Bayesian layer's rho beside its mu. */
static bnn_status same_shape(infer_ctx *c, int k, int like)
{
    const bnn_shape *a = &infer_input(c, k)->shape, *b = &infer_input(c, like)->shape;
    bool bad = a->rank >= 0 && b->rank >= 0 && a->rank != b->rank;
    for (int i = 0; !bad && a->rank >= 0 && i < a->rank && i < b->rank; i++)
        bad = infer_dims_conflict(a->dims[i], b->dims[i]);
    if (bad)
        return infer_fail(c, "input '%s' has shape %s, expected the shape of '%s' %s",
                          infer_name(c, k), infer_type(c, k), infer_name(c, like),
                          infer_type(c, like));
    return BNN_OK;
}

/* Inputs x, w_mu, w_rho, b_mu?, b_rho?: rho beside its mu, both biases or none. */
bnn_status infer_reparam_inputs(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    if (!infer_input(c, 3) != !infer_input(c, 4))
        return infer_fail(c, "has %s but not %s; a Bayesian bias needs both",
                          infer_input(c, 3) ? "bias_mu" : "bias_rho",
                          infer_input(c, 3) ? "bias_rho" : "bias_mu");
    float sigma = bnn_node_float(c->node, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
    if (!(sigma > 0.0f))
        return infer_fail(c, "attribute 'prior_sigma' is %g, expected > 0", (double)sigma);
    const char *est = bnn_node_string(c->node, "estimator", "reparam");
    if (strcmp(est, "reparam") && strcmp(est, "flipout") && strcmp(est, "local"))
        return infer_fail(c, "attribute 'estimator' is \"%s\", expected reparam, flipout or local",
                          est);
    BNN_TRY(same_shape(c, 2, 1));
    if (infer_input(c, 4))
        BNN_TRY(same_shape(c, 4, 3));
    return BNN_OK;
}

bnn_status bnn_infer_dense_reparam(infer_ctx *c)
{
    BNN_TRY(infer_reparam_inputs(c));
    return dense_like(c, 1, 3);
}

bnn_status bnn_infer_gemm(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    bool ta, tb;
    BNN_TRY(infer_flag_attr(c, "trans_a", 0, &ta));
    BNN_TRY(infer_flag_attr(c, "trans_b", 0, &tb));
    int64_t m = BNN_DIM_UNKNOWN, ka = BNN_DIM_UNKNOWN, kb = BNN_DIM_UNKNOWN, n = BNN_DIM_UNKNOWN;
    for (int k = 0; k < 2; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        if (s->rank >= 0 && s->rank != 2)
            return infer_fail(c, "input '%s' has shape %s, expected 2-D", infer_name(c, k),
                              infer_type(c, k));
    }
    const bnn_shape *a = &infer_input(c, 0)->shape, *b = &infer_input(c, 1)->shape;
    if (a->rank == 2) {
        m = a->dims[ta ? 1 : 0];
        ka = a->dims[ta ? 0 : 1];
    }
    if (b->rank == 2) {
        kb = b->dims[tb ? 1 : 0];
        n = b->dims[tb ? 0 : 1];
    }
    if (infer_dims_conflict(ka, kb))
        return infer_fail(c, "inputs '%s' %s and '%s' %s do not multiply (trans_a=%d, trans_b=%d)",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1),
                          ta, tb);
    c->out_dtype = infer_first_dtype(c);
    c->out.rank = 2;
    c->out.dims[0] = m;
    c->out.dims[1] = n;
    if (infer_input(c, 2))
        BNN_TRY(broadcast_onto(c, 2, &c->out, "the product"));
    return BNN_OK;
}

bnn_status bnn_infer_matmul(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = infer_first_dtype(c);
    bnn_shape a = infer_input(c, 0)->shape, b = infer_input(c, 1)->shape;
    for (int k = 0; k < 2; k++)
        if (infer_input(c, k)->shape.rank == 0)
            return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D",
                              infer_name(c, k), infer_type(c, k));
    if (a.rank < 0 || b.rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    /* numpy: a 1-D a is a row [1, K], a 1-D b a column [K, 1]; those dims go. */
    bool a_vec = a.rank == 1, b_vec = b.rank == 1;
    if (a_vec) {
        a.dims[1] = a.dims[0];
        a.dims[0] = 1;
        a.rank = 2;
    }
    if (b_vec) {
        b.dims[1] = 1;
        b.rank = 2;
    }
    if (infer_dims_conflict(a.dims[a.rank - 1], b.dims[b.rank - 2]))
        return infer_fail(c, "inputs '%s' %s and '%s' %s do not multiply (%lld vs %lld)",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1),
                          (long long)a.dims[a.rank - 1], (long long)b.dims[b.rank - 2]);
    int64_t clash[2];
    c->out.rank = (a.rank > b.rank ? a.rank : b.rank) - 2;
    if (!broadcast_dims(a.dims, a.rank - 2, b.dims, b.rank - 2, c->out.dims, clash))
        return infer_fail(c,
                          "inputs '%s' %s and '%s' %s: batch dims do not broadcast (%lld vs %lld)",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1),
                          (long long)clash[0], (long long)clash[1]);
    if (!a_vec)
        c->out.dims[c->out.rank++] = a.dims[a.rank - 2];
    if (!b_vec)
        c->out.dims[c->out.rank++] = b.dims[b.rank - 1];
    return BNN_OK;
}

/* ---- random --------------------------------------------------------------- */

/* The input's shape; the dtype attribute (an ONNX element type, a float one)
 * or else the input's, which must then be a float type. */
bnn_status bnn_infer_random_normal_like(infer_ctx *c)
{
    const bnn_attr *dt = bnn_node_attr(c->node, "dtype");
    bnn_dtype t = infer_input(c, 0)->dtype;
    if (dt) {
        t = (bnn_dtype)dt->i;
        if (dt->i < 0 || dt->i > BNN_BF16 || !bnn_dtype_name(t) || t == BNN_UNDEFINED ||
            !infer_type_fits(t, TYPES_FLOAT))
            return infer_fail(c, "attribute 'dtype' is %lld, expected a float element type",
                              (long long)dt->i);
    } else if (!infer_type_fits(t, TYPES_FLOAT)) {
        return infer_fail(c, "input '%s' has type %s, expected a float type (or a dtype attribute)",
                          infer_name(c, 0), infer_type(c, 0));
    }
    c->out_dtype = t;
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
        out->dtype = c.out_dtype;
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
