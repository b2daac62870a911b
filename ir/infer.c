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
        size_t kind_len = (size_t)(end - colon - 1);
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

/* ---- the inference context ------------------------------------------------ */

typedef struct infer_ctx {
    const bnn_graph *g;
    const bnn_node *node;
    bnn_diag *diag;
    bnn_dtype out_dtype; /* the result, written to the output by the dispatcher */
    bnn_shape out;
    char label[300];
    char text[4][160];   /* type texts for one message, reused round robin */
    int next_text;
} infer_ctx;

/* Input k, or NULL when it is absent (-1 or past the end). */
static const bnn_value *in(const infer_ctx *c, int k)
{
    if (k >= c->node->n_inputs || c->node->inputs[k] < 0)
        return NULL;
    return &c->g->values[c->node->inputs[k]];
}

/* "f32[N,300]" for input k. */
static const char *ty(infer_ctx *c, int k)
{
    const bnn_value *v = in(c, k);
    char *buf = c->text[c->next_text++ % 4];
    return bnn_type_text(c->g, v->dtype, &v->shape, buf, sizeof c->text[0]);
}

static const char *nm(const infer_ctx *c, int k) { return in(c, k)->name; }

static bnn_status fail(infer_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bnn_status fail(infer_ctx *c, const char *fmt, ...)
{
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return bnn_fail(c->diag, BNN_ERR_SHAPE, "%s: %s", c->label, what);
}

static const bnn_shape unknown_shape = {.rank = -1};

/* ---- element types -------------------------------------------------------- */

typedef enum type_class {
    TYPES_ANY,     /* layout ops: every element type */
    TYPES_NUMERIC, /* arithmetic: not string or bool */
    TYPES_FLOAT,   /* f16, bf16, f32, f64 */
    TYPES_F32,     /* the layers bnnc's kernels compute in f32 */
} type_class;

static bool type_fits(bnn_dtype t, type_class cls)
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
static bnn_status check_type(infer_ctx *c, int k, type_class cls, int like)
{
    const bnn_value *v = in(c, k);
    if (!v)
        return BNN_OK;
    if (!type_fits(v->dtype, cls))
        return fail(c, "input '%s' has type %s, expected %s", v->name, ty(c, k), class_text[cls]);
    const bnn_value *w = like >= 0 ? in(c, like) : NULL;
    if (w && v->dtype != BNN_UNDEFINED && w->dtype != BNN_UNDEFINED && v->dtype != w->dtype)
        return fail(c, "input '%s' has type %s but input '%s' has %s", v->name, ty(c, k), w->name,
                    ty(c, like));
    return BNN_OK;
}

/* Every present input of class cls and of input 0's dtype. */
static bnn_status check_types_alike(infer_ctx *c, type_class cls)
{
    for (int k = 0; k < c->node->n_inputs; k++)
        BNN_TRY(check_type(c, k, cls, 0));
    return BNN_OK;
}

/* The output dtype: the first known dtype among the present inputs. */
static bnn_dtype first_dtype(const infer_ctx *c)
{
    for (int k = 0; k < c->node->n_inputs; k++)
        if (in(c, k) && in(c, k)->dtype != BNN_UNDEFINED)
            return in(c, k)->dtype;
    return BNN_UNDEFINED;
}

/* ---- dims ----------------------------------------------------------------- */

static bool dims_conflict(int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; }

/* The dim two dims that must be equal make: the known one, else a symbol. */
static int64_t dim_meet(int64_t a, int64_t b)
{
    if (a >= 0 || a == b)
        return a;
    if (b >= 0)
        return b;
    return bnn_dim_is_symbol(a) ? a : b;
}

static int64_t dim_add(int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r))
        return BNN_DIM_UNKNOWN;
    return r;
}

/* The product of n dims: its value when all are known, the symbol when one
 * dim is a symbol and the rest are 1, 0 when a known dim is 0, else unknown. */
static int64_t dim_product(const int64_t *dims, int n)
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
static bool norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

/* ---- attributes ----------------------------------------------------------- */

#define ATTR_MAX ((int64_t)1 << 31) /* bound on sizes, strides, pads: no overflow below */

/* An int attribute that must be 0 or 1. */
static bnn_status flag_attr(infer_ctx *c, const char *name, int64_t fallback, bool *out)
{
    int64_t v = bnn_node_int(c->node, name, fallback);
    *out = false;
    if (v != 0 && v != 1)
        return fail(c, "attribute '%s' is %lld, expected 0 or 1", name, (long long)v);
    *out = v == 1;
    return BNN_OK;
}

/* An ints attribute of `count` values in [lo, hi], or `fallback` for each
 * when absent. */
static bnn_status ints_attr(infer_ctx *c, const char *name, int count, int64_t fallback,
                            int64_t lo, int64_t hi, int64_t *out)
{
    const int64_t *v;
    int n = bnn_node_ints(c->node, name, &v);
    if (!bnn_node_attr(c->node, name)) {
        for (int i = 0; i < count; i++)
            out[i] = fallback;
        return BNN_OK;
    }
    if (n != count)
        return fail(c, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++) {
        if (v[i] < lo && hi == ATTR_MAX)
            return fail(c, "attribute '%s' has %lld at position %d, expected >= %lld", name,
                        (long long)v[i], i, (long long)lo);
        if (v[i] < lo || v[i] > hi)
            return fail(c, "attribute '%s' has %lld at position %d, expected %lld..%lld", name,
                        (long long)v[i], i, (long long)lo, (long long)hi);
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
    const bnn_shape *a = &in(c, ka)->shape, *b = &in(c, kb)->shape;
    int64_t clash[2];
    if (a->rank < 0 || b->rank < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    c->out.rank = a->rank > b->rank ? a->rank : b->rank;
    if (!broadcast_dims(a->dims, a->rank, b->dims, b->rank, c->out.dims, clash))
        return fail(c, "inputs '%s' %s and '%s' %s do not broadcast (%lld vs %lld)", nm(c, ka),
                    ty(c, ka), nm(c, kb), ty(c, kb), (long long)clash[0], (long long)clash[1]);
    return BNN_OK;
}

/* Input k broadcasts one way onto `target` (ONNX unidirectional). */
static bnn_status broadcast_onto(infer_ctx *c, int k, const bnn_shape *target, const char *what)
{
    const bnn_shape *s = &in(c, k)->shape;
    if (s->rank < 0 || target->rank < 0)
        return BNN_OK;
    bool bad = s->rank > target->rank;
    for (int i = 0; i < s->rank && !bad; i++) {
        int64_t d = s->dims[i], t = target->dims[i + target->rank - s->rank];
        bad = d != 1 && dims_conflict(d, t);
    }
    if (bad) {
        char buf[160];
        return fail(c, "input '%s' %s does not broadcast to %s %s", nm(c, k), ty(c, k), what,
                    bnn_type_text(c->g, in(c, k)->dtype, target, buf, sizeof buf));
    }
    return BNN_OK;
}

/* ---- elementwise ---------------------------------------------------------- */

static bnn_status binary(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = first_dtype(c);
    return broadcast(c, 0, 1);
}

static bnn_status unary(infer_ctx *c, type_class cls)
{
    BNN_TRY(check_type(c, 0, cls, -1));
    c->out_dtype = in(c, 0)->dtype;
    c->out = in(c, 0)->shape;
    return BNN_OK;
}

static bnn_status bnn_infer_add(infer_ctx *c) { return binary(c); }
static bnn_status bnn_infer_sub(infer_ctx *c) { return binary(c); }
static bnn_status bnn_infer_mul(infer_ctx *c) { return binary(c); }
static bnn_status bnn_infer_div(infer_ctx *c) { return binary(c); }
static bnn_status bnn_infer_relu(infer_ctx *c) { return unary(c, TYPES_NUMERIC); }
static bnn_status bnn_infer_leaky_relu(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_elu(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_selu(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_sigmoid(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_tanh(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_softplus(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_softsign(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_exp(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_log(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_sqrt(infer_ctx *c) { return unary(c, TYPES_FLOAT); }
static bnn_status bnn_infer_abs(infer_ctx *c) { return unary(c, TYPES_NUMERIC); }
static bnn_status bnn_infer_neg(infer_ctx *c) { return unary(c, TYPES_NUMERIC); }
static bnn_status bnn_infer_identity(infer_ctx *c) { return unary(c, TYPES_ANY); }

static bnn_status bnn_infer_dropout(infer_ctx *c)
{
    float ratio = bnn_node_float(c->node, "ratio", 0.5f);
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return fail(c, "attribute 'ratio' is %g, expected a value in [0, 1)", (double)ratio);
    return unary(c, TYPES_FLOAT);
}

static bnn_status bnn_infer_prelu(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_FLOAT));
    BNN_TRY(broadcast_onto(c, 1, &in(c, 0)->shape, "input"));
    return unary(c, TYPES_FLOAT);
}

static bnn_status bnn_infer_clip(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_NUMERIC));
    for (int k = 1; k < 3; k++)
        if (in(c, k) && in(c, k)->shape.rank > 0)
            return fail(c, "bound '%s' has shape %s, expected a scalar", nm(c, k), ty(c, k));
    return unary(c, TYPES_NUMERIC);
}

static bnn_status softmax_like(infer_ctx *c)
{
    bool coerce;
    BNN_TRY(flag_attr(c, "coerce", 0, &coerce));
    int rank = in(c, 0)->shape.rank, axis;
    int64_t a = bnn_node_int(c->node, "axis", -1);
    if (rank >= 0 && !norm_axis(a, rank, &axis))
        return fail(c, "axis %lld is out of range for input '%s' %s", (long long)a, nm(c, 0),
                    ty(c, 0));
    return unary(c, TYPES_FLOAT);
}

static bnn_status bnn_infer_softmax(infer_ctx *c) { return softmax_like(c); }
static bnn_status bnn_infer_log_softmax(infer_ctx *c) { return softmax_like(c); }

/* ---- linear layers -------------------------------------------------------- */

/* y = x . W^T + b: x [..., in] (input 0), W [out, in] (input w), b [out]. */
static bnn_status dense_like(infer_ctx *c, int w, int b)
{
    const bnn_shape *x = &in(c, 0)->shape, *ws = &in(c, w)->shape;
    if (x->rank == 0)
        return fail(c, "input '%s' %s is a scalar, expected at least 1-D", nm(c, 0), ty(c, 0));
    if (ws->rank >= 0 && ws->rank != 2)
        return fail(c, "weight '%s' has shape %s, expected 2-D [out, in]", nm(c, w), ty(c, w));
    int64_t out_f = ws->rank == 2 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t in_f = ws->rank == 2 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    if (x->rank > 0 && dims_conflict(x->dims[x->rank - 1], in_f))
        return fail(c, "input '%s' has shape %s, weight expects %lld features", nm(c, 0),
                    ty(c, 0), (long long)in_f);
    if (in(c, b)) {
        const bnn_shape *bs = &in(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || dims_conflict(bs->dims[0], out_f)))
            return fail(c, "bias '%s' has shape %s, weight '%s' %s expects [%lld]", nm(c, b),
                        ty(c, b), nm(c, w), ty(c, w), (long long)out_f);
        if (bs->rank == 1)
            out_f = dim_meet(out_f, bs->dims[0]);
    }
    c->out_dtype = first_dtype(c);
    if (x->rank < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    c->out = *x;
    c->out.dims[x->rank - 1] = out_f;
    return BNN_OK;
}

static bnn_status bnn_infer_dense(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_F32));
    return dense_like(c, 1, 2);
}

/* The same shape, for a Bayesian layer's rho beside its mu. */
static bnn_status same_shape(infer_ctx *c, int k, int like)
{
    const bnn_shape *a = &in(c, k)->shape, *b = &in(c, like)->shape;
    bool bad = a->rank >= 0 && b->rank >= 0 && a->rank != b->rank;
    for (int i = 0; !bad && a->rank >= 0 && i < a->rank && i < b->rank; i++)
        bad = dims_conflict(a->dims[i], b->dims[i]);
    if (bad)
        return fail(c, "input '%s' has shape %s, expected the shape of '%s' %s", nm(c, k), ty(c, k),
                    nm(c, like), ty(c, like));
    return BNN_OK;
}

/* Inputs x, w_mu, w_rho, b_mu?, b_rho?: rho beside its mu, both biases or none. */
static bnn_status reparam_inputs(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_F32));
    if (!in(c, 3) != !in(c, 4))
        return fail(c, "has %s but not %s; a Bayesian bias needs both", in(c, 3) ? "bias_mu" : "bias_rho",
                    in(c, 3) ? "bias_rho" : "bias_mu");
    float sigma = bnn_node_float(c->node, "prior_sigma", 1.0f);
    if (!(sigma > 0.0f))
        return fail(c, "attribute 'prior_sigma' is %g, expected > 0", (double)sigma);
    const char *est = bnn_node_string(c->node, "estimator", "reparam");
    if (strcmp(est, "reparam") && strcmp(est, "flipout") && strcmp(est, "local"))
        return fail(c, "attribute 'estimator' is \"%s\", expected reparam, flipout or local", est);
    BNN_TRY(same_shape(c, 2, 1));
    if (in(c, 4))
        BNN_TRY(same_shape(c, 4, 3));
    return BNN_OK;
}

static bnn_status bnn_infer_dense_reparam(infer_ctx *c)
{
    BNN_TRY(reparam_inputs(c));
    return dense_like(c, 1, 3);
}

static bnn_status bnn_infer_gemm(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_NUMERIC));
    bool ta, tb;
    BNN_TRY(flag_attr(c, "trans_a", 0, &ta));
    BNN_TRY(flag_attr(c, "trans_b", 0, &tb));
    int64_t m = BNN_DIM_UNKNOWN, ka = BNN_DIM_UNKNOWN, kb = BNN_DIM_UNKNOWN, n = BNN_DIM_UNKNOWN;
    for (int k = 0; k < 2; k++) {
        const bnn_shape *s = &in(c, k)->shape;
        if (s->rank >= 0 && s->rank != 2)
            return fail(c, "input '%s' has shape %s, expected 2-D", nm(c, k), ty(c, k));
    }
    const bnn_shape *a = &in(c, 0)->shape, *b = &in(c, 1)->shape;
    if (a->rank == 2) {
        m = a->dims[ta ? 1 : 0];
        ka = a->dims[ta ? 0 : 1];
    }
    if (b->rank == 2) {
        kb = b->dims[tb ? 1 : 0];
        n = b->dims[tb ? 0 : 1];
    }
    if (dims_conflict(ka, kb))
        return fail(c, "inputs '%s' %s and '%s' %s do not multiply (trans_a=%d, trans_b=%d)",
                    nm(c, 0), ty(c, 0), nm(c, 1), ty(c, 1), ta, tb);
    c->out_dtype = first_dtype(c);
    c->out.rank = 2;
    c->out.dims[0] = m;
    c->out.dims[1] = n;
    if (in(c, 2))
        BNN_TRY(broadcast_onto(c, 2, &c->out, "the product"));
    return BNN_OK;
}

static bnn_status bnn_infer_matmul(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = first_dtype(c);
    bnn_shape a = in(c, 0)->shape, b = in(c, 1)->shape;
    for (int k = 0; k < 2; k++)
        if (in(c, k)->shape.rank == 0)
            return fail(c, "input '%s' %s is a scalar, expected at least 1-D", nm(c, k), ty(c, k));
    if (a.rank < 0 || b.rank < 0) {
        c->out = unknown_shape;
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
    if (dims_conflict(a.dims[a.rank - 1], b.dims[b.rank - 2]))
        return fail(c, "inputs '%s' %s and '%s' %s do not multiply (%lld vs %lld)", nm(c, 0),
                    ty(c, 0), nm(c, 1), ty(c, 1), (long long)a.dims[a.rank - 1],
                    (long long)b.dims[b.rank - 2]);
    int64_t clash[2];
    c->out.rank = (a.rank > b.rank ? a.rank : b.rank) - 2;
    if (!broadcast_dims(a.dims, a.rank - 2, b.dims, b.rank - 2, c->out.dims, clash))
        return fail(c, "inputs '%s' %s and '%s' %s: batch dims do not broadcast (%lld vs %lld)",
                    nm(c, 0), ty(c, 0), nm(c, 1), ty(c, 1), (long long)clash[0],
                    (long long)clash[1]);
    if (!a_vec)
        c->out.dims[c->out.rank++] = a.dims[a.rank - 2];
    if (!b_vec)
        c->out.dims[c->out.rank++] = b.dims[b.rank - 1];
    return BNN_OK;
}

/* ---- sliding windows ------------------------------------------------------ */

/* Output size of a window along one dim: floor((in + pb + pe - dil*(k-1) - 1)
 * / stride) + 1, or with ceil_mode the ceiling, dropping a last window that
 * would start in the end padding (ONNX, as PyTorch).  Attributes are bounded by
 * ATTR_MAX, so nothing below overflows for dims < 2^61.  False when the window
 * is bigger than the padded input. */
static bool window_out(int64_t in_dim, int64_t k, int64_t stride, int64_t dil, int64_t pb,
                       int64_t pe, bool ceil_mode, int64_t *out)
{
    *out = BNN_DIM_UNKNOWN;
    if (in_dim < 0 || k < 0 || in_dim > ((int64_t)1 << 61) || k > ATTR_MAX)
        return true;
    int64_t span = in_dim + pb + pe - dil * (k - 1) - 1;
    if (span < 0)
        return false;
    int64_t n = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
    if (ceil_mode && (n - 1) * stride >= in_dim + pb)
        n--;
    *out = n;
    return true;
}

/* The output dims of the spatial part, into c->out.dims[2..]. kernel from
 * the weight or the kernel_shape attribute. */
static bnn_status windows(infer_ctx *c, int spatial, const int64_t *kernel, bool ceil_mode,
                          const char *what)
{
    int64_t strides[3], dil[3], pads[6];
    BNN_TRY(ints_attr(c, "strides", spatial, 1, 1, ATTR_MAX, strides));
    BNN_TRY(ints_attr(c, "dilations", spatial, 1, 1, ATTR_MAX, dil));
    BNN_TRY(ints_attr(c, "pads", 2 * spatial, 0, 0, ATTR_MAX, pads));
    const bnn_shape *x = &in(c, 0)->shape;
    for (int i = 0; i < spatial; i++) {
        int64_t d = x->rank >= 0 ? x->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (!window_out(d, kernel[i], strides[i], dil[i], pads[i], pads[spatial + i], ceil_mode,
                        &c->out.dims[2 + i]))
            return fail(c, "%s %lld (dilation %lld) is bigger than spatial dim %d of input '%s' "
                        "%s with pads %lld and %lld", what, (long long)kernel[i], (long long)dil[i], i,
                        nm(c, 0), ty(c, 0), (long long)pads[i], (long long)pads[spatial + i]);
    }
    return BNN_OK;
}

/* Convolution: x [N, C, S...], w [M, C/group, k...], b [M]. spatial is the
 * op's count of spatial dims, 0 to take it from the operands. */
static bnn_status conv_like(infer_ctx *c, int spatial, int w, int b)
{
    const bnn_shape *x = &in(c, 0)->shape, *ws = &in(c, w)->shape;
    if (spatial == 0) {
        int r = x->rank >= 0 ? x->rank : ws->rank;
        if (r < 0) {
            c->out_dtype = first_dtype(c);
            c->out = unknown_shape;
            return BNN_OK;
        }
        spatial = r - 2;
        if (spatial < 1 || spatial > 3)
            return fail(c, "input '%s' has shape %s, expected 3-D to 5-D", nm(c, r == x->rank ? 0 : w),
                        ty(c, r == x->rank ? 0 : w));
    }
    for (int k = 0; k < 2; k++) {
        int idx = k ? w : 0;
        int rank = in(c, idx)->shape.rank;
        if (rank >= 0 && rank != spatial + 2)
            return fail(c, "%s '%s' has shape %s, expected %d-D", k ? "weight" : "input",
                        nm(c, idx), ty(c, idx), spatial + 2);
    }
    int64_t group = bnn_node_int(c->node, "group", 1);
    if (group < 1 || group > ATTR_MAX)
        return fail(c, "attribute 'group' is %lld, expected >= 1", (long long)group);
    int64_t m = ws->rank >= 0 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t cw = ws->rank >= 0 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    int64_t cx = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    int64_t expect;
    if (cx >= 0 && cw >= 0 && (__builtin_mul_overflow(cw, group, &expect) || cx != expect))
        return fail(c, "input '%s' has shape %s (%lld channels), weight '%s' %s with group %lld "
                    "expects %lld per group", nm(c, 0), ty(c, 0), (long long)cx, nm(c, w), ty(c, w),
                    (long long)group, (long long)cw);
    if (m >= 0 && m % group != 0)
        return fail(c, "weight '%s' %s has %lld output channels, not a multiple of group %lld",
                    nm(c, w), ty(c, w), (long long)m, (long long)group);
    if (in(c, b)) {
        const bnn_shape *bs = &in(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || dims_conflict(bs->dims[0], m)))
            return fail(c, "bias '%s' has shape %s, weight '%s' %s expects [%lld]", nm(c, b),
                        ty(c, b), nm(c, w), ty(c, w), (long long)m);
        if (bs->rank == 1)
            m = dim_meet(m, bs->dims[0]);
    }
    int64_t kernel[3];
    for (int i = 0; i < spatial; i++) {
        kernel[i] = ws->rank >= 0 ? ws->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (kernel[i] == 0)
            return fail(c, "weight '%s' %s has an empty kernel", nm(c, w), ty(c, w));
    }
    c->out_dtype = first_dtype(c);
    c->out.rank = 2 + spatial;
    c->out.dims[0] = x->rank >= 0 ? x->dims[0] : BNN_DIM_UNKNOWN;
    c->out.dims[1] = m;
    return windows(c, spatial, kernel, false, "kernel");
}

static bnn_status bnn_infer_conv(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_F32));
    return conv_like(c, c->node->op == BNN_OP_CONV1D ? 1 : 2, 1, 2);
}

static bnn_status bnn_infer_conv_reparam(infer_ctx *c)
{
    BNN_TRY(reparam_inputs(c));
    return conv_like(c, 0, 1, 3);
}

static bnn_status pool(infer_ctx *c)
{
    BNN_TRY(check_type(c, 0, TYPES_FLOAT, -1));
    const int64_t *kernel;
    int spatial = bnn_node_ints(c->node, "kernel_shape", &kernel);
    int rank = in(c, 0)->shape.rank;
    if (!bnn_node_attr(c->node, "kernel_shape"))
        return fail(c, "attribute 'kernel_shape' is required");
    if (spatial < 1 || spatial > 3)
        return fail(c, "attribute 'kernel_shape' has %d values, expected 1 to 3", spatial);
    if (rank >= 0 && rank != spatial + 2)
        return fail(c, "input '%s' has shape %s, kernel_shape expects %d-D", nm(c, 0), ty(c, 0),
                    spatial + 2);
    for (int i = 0; i < spatial; i++)
        if (kernel[i] < 1 || kernel[i] > ATTR_MAX)
            return fail(c, "attribute 'kernel_shape' has %lld at position %d, expected >= 1",
                        (long long)kernel[i], i);
    bool ceil_mode, include_pad;
    BNN_TRY(flag_attr(c, "ceil_mode", 0, &ceil_mode));
    BNN_TRY(flag_attr(c, "count_include_pad", 0, &include_pad));
    c->out_dtype = in(c, 0)->dtype;
    c->out.rank = 2 + spatial;
    for (int i = 0; i < 2; i++)
        c->out.dims[i] = rank >= 0 ? in(c, 0)->shape.dims[i] : BNN_DIM_UNKNOWN;
    return windows(c, spatial, kernel, ceil_mode, "window");
}

static bnn_status bnn_infer_max_pool(infer_ctx *c) { return pool(c); }
static bnn_status bnn_infer_avg_pool(infer_ctx *c) { return pool(c); }

static bnn_status global_pool(infer_ctx *c)
{
    BNN_TRY(unary(c, TYPES_FLOAT));
    if (c->out.rank >= 0 && c->out.rank < 3)
        return fail(c, "input '%s' has shape %s, expected [N, C, spatial...]", nm(c, 0), ty(c, 0));
    for (int i = 2; i < c->out.rank; i++)
        c->out.dims[i] = 1;
    return BNN_OK;
}

static bnn_status bnn_infer_global_avg_pool(infer_ctx *c) { return global_pool(c); }
static bnn_status bnn_infer_global_max_pool(infer_ctx *c) { return global_pool(c); }

static bnn_status bnn_infer_batch_norm(infer_ctx *c)
{
    BNN_TRY(check_types_alike(c, TYPES_FLOAT));
    const bnn_shape *x = &in(c, 0)->shape;
    if (x->rank >= 0 && x->rank < 2)
        return fail(c, "input '%s' has shape %s, expected [N, C, ...]", nm(c, 0), ty(c, 0));
    int64_t ch = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    for (int k = 1; k < 5; k++) {
        const bnn_shape *s = &in(c, k)->shape;
        if (s->rank >= 0 && (s->rank != 1 || dims_conflict(s->dims[0], ch)))
            return fail(c, "input '%s' has shape %s, expected [%lld] for input '%s' %s", nm(c, k),
                        ty(c, k), (long long)ch, nm(c, 0), ty(c, 0));
    }
    return unary(c, TYPES_FLOAT);
}

/* ---- layout --------------------------------------------------------------- */

static bnn_status bnn_infer_flatten(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape;
    int64_t axis = bnn_node_int(c->node, "axis", 1);
    c->out_dtype = in(c, 0)->dtype;
    c->out.rank = 2;
    if (x->rank < 0) {
        c->out.dims[0] = c->out.dims[1] = BNN_DIM_UNKNOWN;
        if (axis == 0)
            c->out.dims[0] = 1;
        return BNN_OK;
    }
    if (axis < -x->rank || axis > x->rank)
        return fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis, nm(c, 0),
                    ty(c, 0));
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    c->out.dims[0] = dim_product(x->dims, a);
    c->out.dims[1] = dim_product(x->dims + a, x->rank - a);
    return BNN_OK;
}

/* Reshape by the `shape` attribute: 0 copies the input dim (unless
 * allowzero), one -1 takes the rest.  Symbols of the input that the target
 * repeats cancel, so [N,16,5,5] -> [-1,400] gives N. */
static bnn_status reshape_attr(infer_ctx *c, const int64_t *target, int n, bool allowzero)
{
    const bnn_shape *x = &in(c, 0)->shape;
    int infer_at = -1;
    c->out.rank = n;
    for (int i = 0; i < n; i++) {
        int64_t t = target[i];
        if (t < -1)
            return fail(c, "attribute 'shape' has %lld at position %d", (long long)t, i);
        if (t == -1) {
            if (infer_at >= 0)
                return fail(c, "attribute 'shape' has more than one -1");
            infer_at = i;
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        } else if (t == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return fail(c, "attribute 'shape' copies dim %d (0) of input '%s' %s, which has "
                            "no such dim", i, nm(c, 0), ty(c, 0));
            c->out.dims[i] = x->rank >= 0 ? x->dims[i] : BNN_DIM_UNKNOWN;
        } else {
            c->out.dims[i] = t;
        }
    }
    if (allowzero && infer_at >= 0)
        for (int i = 0; i < n; i++)
            if (target[i] == 0)
                return fail(c, "attribute 'shape' has both 0 and -1 with allowzero=1");
    if (x->rank < 0)
        return BNN_OK;
    /* Cancel the symbols the output shares with the input, then compare the
     * products of the known dims. */
    int64_t rest[BNN_MAX_RANK];
    int n_rest = 0;
    int64_t in_known = 1, out_known = 1;
    bool overflow = false, out_opaque = false;
    for (int i = 0; i < x->rank; i++) {
        if (x->dims[i] >= 0)
            overflow |= __builtin_mul_overflow(in_known, x->dims[i], &in_known);
        else
            rest[n_rest++] = x->dims[i];
    }
    for (int i = 0; i < n; i++) {
        int64_t d = c->out.dims[i];
        if (i == infer_at)
            continue;
        if (d >= 0) {
            overflow |= __builtin_mul_overflow(out_known, d, &out_known);
            continue;
        }
        int j = 0;
        while (j < n_rest && !(bnn_dim_is_symbol(d) && rest[j] == d))
            j++;
        if (j == n_rest)
            out_opaque = true;
        else
            rest[j] = rest[--n_rest];
    }
    if (overflow || out_opaque)
        return BNN_OK;
    if (infer_at < 0) {
        if (n_rest == 0 && in_known != out_known)
            return fail(c, "input '%s' %s has %lld elements, attribute 'shape' makes %lld",
                        nm(c, 0), ty(c, 0), (long long)in_known, (long long)out_known);
        return BNN_OK;
    }
    if (n_rest == 0) {
        if (out_known == 0 ? in_known != 0 : in_known % out_known != 0)
            return fail(c, "input '%s' %s has %lld elements, not a multiple of the %lld that "
                        "attribute 'shape' fixes", nm(c, 0), ty(c, 0), (long long)in_known,
                        (long long)out_known);
        c->out.dims[infer_at] = out_known ? in_known / out_known : BNN_DIM_UNKNOWN;
    } else if (n_rest == 1 && bnn_dim_is_symbol(rest[0]) && in_known == out_known) {
        c->out.dims[infer_at] = rest[0];
    }
    return BNN_OK;
}

/* A second input holding a computed shape or pads: 1-D i64; returns its
 * length, or -1 when unknown. */
static bnn_status shape_operand(infer_ctx *c, int k, int64_t *len)
{
    const bnn_value *v = in(c, k);
    if (v->dtype != BNN_UNDEFINED && v->dtype != BNN_I64)
        return fail(c, "input '%s' has type %s, expected i64", v->name, ty(c, k));
    if (v->shape.rank >= 0 && v->shape.rank != 1)
        return fail(c, "input '%s' has shape %s, expected 1-D", v->name, ty(c, k));
    *len = v->shape.rank == 1 && v->shape.dims[0] >= 0 ? v->shape.dims[0] : BNN_DIM_UNKNOWN;
    return BNN_OK;
}

static bnn_status bnn_infer_reshape(infer_ctx *c)
{
    bool allowzero;
    BNN_TRY(flag_attr(c, "allowzero", 0, &allowzero));
    const int64_t *target;
    int n = bnn_node_ints(c->node, "shape", &target);
    bool has_attr = bnn_node_attr(c->node, "shape") != NULL;
    c->out_dtype = in(c, 0)->dtype;
    if (in(c, 1)) {
        if (has_attr)
            return fail(c, "has both attribute 'shape' and a shape input '%s'", nm(c, 1));
        int64_t len;
        BNN_TRY(shape_operand(c, 1, &len));
        if (len > BNN_MAX_RANK)
            return fail(c, "shape input '%s' %s gives rank %lld, more than %d", nm(c, 1), ty(c, 1),
                        (long long)len, BNN_MAX_RANK);
        c->out.rank = (int)len;
        for (int i = 0; i < c->out.rank; i++)
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        return BNN_OK;
    }
    if (!has_attr)
        return fail(c, "needs attribute 'shape' or a shape input");
    if (n > BNN_MAX_RANK)
        return fail(c, "attribute 'shape' has %d dims, more than %d", n, BNN_MAX_RANK);
    return reshape_attr(c, target, n, allowzero);
}

static bnn_status bnn_infer_transpose(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape;
    const int64_t *perm;
    int n = bnn_node_ints(c->node, "perm", &perm);
    c->out_dtype = in(c, 0)->dtype;
    if (!bnn_node_attr(c->node, "perm")) {
        c->out.rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            c->out.dims[i] = x->dims[x->rank - 1 - i];
        return BNN_OK;
    }
    if (x->rank >= 0 && n != x->rank)
        return fail(c, "attribute 'perm' has %d values for input '%s' %s", n, nm(c, 0), ty(c, 0));
    if (n > BNN_MAX_RANK)
        return fail(c, "attribute 'perm' has %d values, more than %d", n, BNN_MAX_RANK);
    bool seen[BNN_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
            return fail(c, "attribute 'perm' is not a permutation of 0..%d", n - 1);
        seen[perm[i]] = true;
    }
    c->out.rank = n;
    for (int i = 0; i < n; i++)
        c->out.dims[i] = x->rank >= 0 ? x->dims[perm[i]] : BNN_DIM_UNKNOWN;
    return BNN_OK;
}

static bnn_status bnn_infer_concat(infer_ctx *c)
{
    if (!bnn_node_attr(c->node, "axis"))
        return fail(c, "attribute 'axis' is required");
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    int ref = -1;
    for (int k = 0; k < c->node->n_inputs; k++) {
        if (!in(c, k))
            return fail(c, "input %d is absent", k);
        BNN_TRY(check_type(c, k, TYPES_ANY, 0));
        if (ref < 0 && in(c, k)->shape.rank >= 0)
            ref = k;
    }
    c->out_dtype = first_dtype(c);
    if (ref < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    int rank = in(c, ref)->shape.rank, a;
    if (!norm_axis(axis, rank, &a))
        return fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                    nm(c, ref), ty(c, ref));
    c->out = in(c, ref)->shape;
    c->out.dims[a] = 0;
    for (int k = 0; k < c->node->n_inputs; k++) {
        const bnn_shape *s = &in(c, k)->shape;
        if (s->rank < 0) {
            c->out.dims[a] = BNN_DIM_UNKNOWN;
            continue;
        }
        if (s->rank != rank)
            return fail(c, "input '%s' %s and input '%s' %s differ in rank", nm(c, k), ty(c, k),
                        nm(c, ref), ty(c, ref));
        for (int i = 0; i < rank; i++) {
            if (i == a)
                continue;
            if (dims_conflict(s->dims[i], c->out.dims[i]))
                return fail(c, "input '%s' %s and input '%s' %s differ in dim %d", nm(c, k),
                            ty(c, k), nm(c, ref), ty(c, ref), i);
            c->out.dims[i] = dim_meet(c->out.dims[i], s->dims[i]);
        }
        c->out.dims[a] = dim_add(c->out.dims[a], s->dims[a]);
    }
    return BNN_OK;
}

/* Marks the axes of attribute `axes` (each in [-rank, rank-1]) in mark[]. */
static bnn_status axes_attr(infer_ctx *c, int rank, bool *mark)
{
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    for (int i = 0; i < rank; i++)
        mark[i] = false;
    for (int i = 0; i < n; i++) {
        int a;
        if (!norm_axis(axes[i], rank, &a))
            return fail(c, "axis %lld of attribute 'axes' is out of range for rank %d",
                        (long long)axes[i], rank);
        if (mark[a])
            return fail(c, "attribute 'axes' repeats axis %lld", (long long)axes[i]);
        mark[a] = true;
    }
    return BNN_OK;
}

static bnn_status bnn_infer_squeeze(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape;
    c->out_dtype = in(c, 0)->dtype;
    c->out.rank = 0;
    if (x->rank < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    bool mark[BNN_MAX_RANK];
    if (bnn_node_attr(c->node, "axes")) {
        BNN_TRY(axes_attr(c, x->rank, mark));
    } else {
        /* All the 1-dims; a dim that might be 1 leaves even the rank unknown. */
        for (int i = 0; i < x->rank; i++) {
            if (x->dims[i] < 0) {
                c->out = unknown_shape;
                return BNN_OK;
            }
            mark[i] = x->dims[i] == 1;
        }
    }
    for (int i = 0; i < x->rank; i++) {
        if (mark[i] && x->dims[i] >= 0 && x->dims[i] != 1)
            return fail(c, "cannot squeeze axis %d of input '%s' %s: it is not 1", i, nm(c, 0),
                        ty(c, 0));
        if (!mark[i])
            c->out.dims[c->out.rank++] = x->dims[i];
    }
    return BNN_OK;
}

static bnn_status bnn_infer_unsqueeze(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape;
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    c->out_dtype = in(c, 0)->dtype;
    if (!bnn_node_attr(c->node, "axes"))
        return fail(c, "attribute 'axes' is required");
    if (x->rank < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    if (x->rank + n > BNN_MAX_RANK)
        return fail(c, "unsqueezing input '%s' %s by %d axes exceeds rank %d", nm(c, 0), ty(c, 0),
                    n, BNN_MAX_RANK);
    bool mark[BNN_MAX_RANK];
    c->out.rank = x->rank + n;
    BNN_TRY(axes_attr(c, c->out.rank, mark));
    for (int i = 0, j = 0; i < c->out.rank; i++)
        c->out.dims[i] = mark[i] ? 1 : x->dims[j++];
    return BNN_OK;
}

static bnn_status bnn_infer_pad(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape;
    const char *mode = bnn_node_string(c->node, "mode", "constant");
    bool reflect = strcmp(mode, "reflect") == 0;
    if (strcmp(mode, "constant") && !reflect && strcmp(mode, "edge"))
        return fail(c, "attribute 'mode' is \"%s\", expected constant, reflect or edge", mode);
    const int64_t *pads;
    int n = bnn_node_ints(c->node, "pads", &pads);
    bool has_attr = bnn_node_attr(c->node, "pads") != NULL;
    c->out_dtype = in(c, 0)->dtype;
    if (in(c, 1)) {
        if (has_attr)
            return fail(c, "has both attribute 'pads' and a pads input '%s'", nm(c, 1));
        int64_t len;
        BNN_TRY(shape_operand(c, 1, &len));
        if (len >= 0 && x->rank >= 0 && len != 2 * x->rank)
            return fail(c, "pads input '%s' %s does not fit input '%s' %s", nm(c, 1), ty(c, 1),
                        nm(c, 0), ty(c, 0));
        c->out.rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        return BNN_OK;
    }
    if (!has_attr)
        return fail(c, "needs attribute 'pads' or a pads input");
    if (n % 2 != 0 || n > 2 * BNN_MAX_RANK || (x->rank >= 0 && n != 2 * x->rank))
        return fail(c, "attribute 'pads' has %d values for input '%s' %s, expected twice the rank",
                    n, nm(c, 0), ty(c, 0));
    c->out.rank = n / 2;
    for (int i = 0; i < n / 2; i++) {
        int64_t pb = pads[i], pe = pads[n / 2 + i];
        int64_t d = x->rank >= 0 ? x->dims[i] : BNN_DIM_UNKNOWN;
        if (pb < -ATTR_MAX || pb > ATTR_MAX || pe < -ATTR_MAX || pe > ATTR_MAX)
            return fail(c, "attribute 'pads' is out of range at dim %d", i);
        if (d < 0 || d > ((int64_t)1 << 61)) {
            c->out.dims[i] = pb == 0 && pe == 0 ? d : BNN_DIM_UNKNOWN;
            continue;
        }
        if (d + pb + pe < 0)
            return fail(c, "pads %lld and %lld on dim %d of input '%s' %s leave a negative size",
                        (long long)pb, (long long)pe, i, nm(c, 0), ty(c, 0));
        if (reflect && (pb >= d || pe >= d) && (pb > 0 || pe > 0))
            return fail(c, "reflect pads %lld and %lld on dim %d of input '%s' %s must be smaller "
                        "than the dim", (long long)pb, (long long)pe, i, nm(c, 0), ty(c, 0));
        c->out.dims[i] = d + pb + pe;
    }
    return BNN_OK;
}

static bnn_status bnn_infer_shape(infer_ctx *c)
{
    int rank = in(c, 0)->shape.rank;
    c->out_dtype = BNN_I64;
    c->out.rank = 1;
    c->out.dims[0] = BNN_DIM_UNKNOWN;
    if (rank < 0)
        return BNN_OK;
    /* ONNX: negative bounds count from the end, then both clamp to [0, rank]. */
    int64_t start = bnn_node_int(c->node, "start", 0), end = bnn_node_int(c->node, "end", rank);
    if (start < 0)
        start += rank;
    if (end < 0)
        end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    c->out.dims[0] = end > start ? end - start : 0;
    return BNN_OK;
}

static bnn_status bnn_infer_gather(infer_ctx *c)
{
    const bnn_shape *x = &in(c, 0)->shape, *idx = &in(c, 1)->shape;
    bnn_dtype it = in(c, 1)->dtype;
    if (it != BNN_UNDEFINED && it != BNN_I32 && it != BNN_I64)
        return fail(c, "indices '%s' have type %s, expected i32 or i64", nm(c, 1), ty(c, 1));
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    int a = 0;
    c->out_dtype = in(c, 0)->dtype;
    if (x->rank == 0)
        return fail(c, "input '%s' %s is a scalar, expected at least 1-D", nm(c, 0), ty(c, 0));
    if (x->rank >= 0 && !norm_axis(axis, x->rank, &a))
        return fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis, nm(c, 0),
                    ty(c, 0));
    if (x->rank < 0 || idx->rank < 0) {
        c->out = unknown_shape;
        return BNN_OK;
    }
    if (x->rank - 1 + idx->rank > BNN_MAX_RANK)
        return fail(c, "output rank %d exceeds %d", x->rank - 1 + idx->rank, BNN_MAX_RANK);
    c->out.rank = 0;
    for (int i = 0; i < a; i++)
        c->out.dims[c->out.rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        c->out.dims[c->out.rank++] = idx->dims[i];
    for (int i = a + 1; i < x->rank; i++)
        c->out.dims[c->out.rank++] = x->dims[i];
    return BNN_OK;
}

/* ---- random --------------------------------------------------------------- */

/* The input's shape; the dtype attribute (an ONNX element type, a float one)
 * or else the input's, which must then be a float type. */
static bnn_status bnn_infer_random_normal_like(infer_ctx *c)
{
    const bnn_attr *dt = bnn_node_attr(c->node, "dtype");
    bnn_dtype t = in(c, 0)->dtype;
    if (dt) {
        t = (bnn_dtype)dt->i;
        if (dt->i < 0 || dt->i > BNN_BF16 || !bnn_dtype_name(t) || t == BNN_UNDEFINED ||
            !type_fits(t, TYPES_FLOAT))
            return fail(c, "attribute 'dtype' is %lld, expected a float element type",
                        (long long)dt->i);
    } else if (!type_fits(t, TYPES_FLOAT)) {
        return fail(c, "input '%s' has type %s, expected a float type (or a dtype attribute)",
                    nm(c, 0), ty(c, 0));
    }
    c->out_dtype = t;
    c->out = in(c, 0)->shape;
    return BNN_OK;
}

/* ---- dispatch ------------------------------------------------------------- */

typedef bnn_status (*infer_fn)(infer_ctx *c);

static const infer_fn infer_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem) [BNN_OP_##id] = bnn_infer_##stem,
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
            return fail(c, "has %d inputs, expected at least %d", n->n_inputs, info->min_inputs);
        return fail(c, "has %d inputs, expected %d..%d", n->n_inputs, info->min_inputs,
                    info->max_inputs);
    }
    if (n->n_outputs != info->n_outputs)
        return fail(c, "has %d outputs, expected %d", n->n_outputs, info->n_outputs);
    for (int k = 0; k < n->n_inputs; k++) {
        int id = n->inputs[k];
        if (id < -1 || id >= c->g->n_values)
            return fail(c, "input %d refers to value %d, which does not exist", k, id);
        if (id == -1 && k < info->min_inputs)
            return fail(c, "input %d is required but absent", k);
        if (id >= 0 && (c->g->values[id].shape.rank < -1 ||
                        c->g->values[id].shape.rank > BNN_MAX_RANK))
            return fail(c, "input '%s' has rank %d", c->g->values[id].name,
                        c->g->values[id].shape.rank);
    }
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] < 0 || n->outputs[k] >= c->g->n_values)
            return fail(c, "output %d refers to value %d, which does not exist", k, n->outputs[k]);
    for (int i = 0; i < n->n_attrs; i++) {
        bnn_attr_kind kind;
        const bnn_attr *a = &n->attrs[i];
        if (bnn_schema_find(info->attrs, a->name, &kind) && kind != a->kind)
            return fail(c, "attribute '%s' is %s, expected %s", a->name, bnn_attr_kind_name(a->kind),
                        bnn_attr_kind_name(kind));
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
        out->shape = c.out;
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
