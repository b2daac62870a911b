/* ONNX export: any IR graph as a standard ModelProto.  IR ops map back onto
 * ONNX ops (attributes that ONNX wants as inputs become initializers), params
 * become initializers with raw_data, symbolic dims become dim_param, and the
 * Bayesian layers become domain ai.bnnc (version 1) nodes.  The file is
 * written to a temporary beside the target and renamed into place.
 *
 * Importing what this writes gives the same IR back: the importer reuses a
 * Gemm's weight when transB=1 and alpha=1, and folds the constant inputs
 * written here back into attributes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_file.h"
#include "onnx_impl.h"
#include "resample_impl.h"

typedef struct ex {
    const bnn_graph *g;
    bnn_diag *diag;
    bool oom;
    void **ptrs;          /* everything allocated, freed at the end */
    int n_ptrs, cap_ptrs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    char **extra;         /* names of initializers the export made up */
    int n_extra;
    int64_t opset;
    bool bnnc;
} ex;

#define MAX_NODE_ATTRS 16

static void *ex_alloc(ex *e, size_t size)
{
    if (e->oom)
        return NULL;
    if (e->n_ptrs == e->cap_ptrs) {
        int cap = e->cap_ptrs ? 2 * e->cap_ptrs : 256;
        void **p = realloc(e->ptrs, sizeof *p * (size_t)cap);
        if (!p) {
            e->oom = true;
            return NULL;
        }
        e->ptrs = p;
        e->cap_ptrs = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        e->oom = true;
        return NULL;
    }
    e->ptrs[e->n_ptrs++] = m;
    return m;
}

static char *ex_str(ex *e, const char *s)
{
    char *d = ex_alloc(e, strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

static bool push(ex *e, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (!item)
        return false;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **p = realloc(*arr, sizeof *p * c);
        if (!p) {
            e->oom = true;
            return false;
        }
        *arr = p;
        *cap = c;
    }
    (*arr)[(*n)++] = item;
    return true;
}

/* A name for a made-up initializer: free among the graph's values and the
 * names made up so far. */
static const char *ex_fresh(ex *e, const char *base)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", base);
    for (int k = 1;; k++) {
        bool taken = bnn_graph_find_value(e->g, buf) >= 0;
        for (int i = 0; i < e->n_extra && !taken; i++)
            taken = strcmp(e->extra[i], buf) == 0;
        if (!taken)
            break;
        snprintf(buf, sizeof buf, "%s_%d", base, k);
    }
    char **p = ex_alloc(e, sizeof(char *) * (size_t)(e->n_extra + 1));
    char *s = ex_str(e, buf);
    if (!p || !s)
        return "";
    if (e->n_extra)
        memcpy(p, e->extra, sizeof(char *) * (size_t)e->n_extra);
    p[e->n_extra++] = s;
    e->extra = p;
    return s;
}

/* An initializer of data: copied, or with alias (a graph param's bytes,
 * which outlive the export) pointed at, so a large model is not held twice. */
static Onnx__TensorProto *ex_tensor(ex *e, const char *name, bnn_dtype dt, const bnn_shape *s,
                                    const void *data, size_t nbytes, bool alias)
{
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = ex_str(e, name);
    t->has_data_type = true;
    t->data_type = dt;
    t->n_dims = (size_t)(s->rank > 0 ? s->rank : 0);
    t->dims = ex_alloc(e, sizeof(int64_t) * (t->n_dims + 1));
    if (t->dims)
        for (size_t i = 0; i < t->n_dims; i++)
            t->dims[i] = s->dims[i];
    t->has_raw_data = true;
    t->raw_data.len = nbytes;
    if (alias) {
        t->raw_data.data = (uint8_t *)data; /* only read: packed, never freed here */
        return t;
    }
    t->raw_data.data = ex_alloc(e, nbytes);
    if (t->raw_data.data && nbytes)
        memcpy(t->raw_data.data, data, nbytes);
    return t;
}

static const char *ex_init(ex *e, const char *base, bnn_dtype dt, int rank, const void *data,
                           int n)
{
    const char *name = ex_fresh(e, base);
    bnn_shape s = { .rank = rank, .dims = { n } };
    size_t nb = bnn_dtype_size(dt) * (size_t)n;
    push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits,
         ex_tensor(e, name, dt, &s, data, nb, false));
    return name;
}

/* A node's name and place, sorted by name then place. */
typedef struct named_node {
    const char *name;
    size_t at;
} named_node;

static int cmp_named_node(const void *a, const void *b)
{
    const named_node *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

static int cmp_name_key(const void *key, const void *elem)
{
    return strcmp(key, ((const named_node *)elem)->name);
}

/* ONNX Runtime refuses a model in which two nodes share a name, and the
 * passes that add nodes (the moment rules, say) may repeat one: the first
 * in graph order keeps it, later ones become "name#2", "name#3", ... (a
 * suffix no other node has). */
static bnn_status unique_node_names(ex *e)
{
    size_t n = e->n_nodes;
    named_node *sorted = malloc(sizeof *sorted * (n + 1));
    if (!sorted)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = (named_node){e->nodes[i]->name, i};
    qsort(sorted, n, sizeof *sorted, cmp_named_node);
    bnn_status st = BNN_OK;
    size_t k = 2; /* the next suffix to try in the run of equal names */
    for (size_t i = 1, first = 0; i < n && st == BNN_OK; i++) {
        if (!*sorted[i].name || strcmp(sorted[i].name, sorted[first].name) != 0) {
            first = i;
            k = 2;
            continue;
        }
        char buf[600];
        for (;; k++) {
            snprintf(buf, sizeof buf, "%s#%zu", sorted[i].name, k);
            if (!bsearch(buf, sorted, n, sizeof *sorted, cmp_name_key))
                break;
        }
        k++;
        char *fresh = ex_str(e, buf);
        if (!fresh)
            st = bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
        else
            e->nodes[sorted[i].at]->name = fresh;
    }
    free(sorted);
    return st;
}

static const char *vname(ex *e, int id)
{
    return id < 0 ? "" : bnn_graph_value(e->g, id)->name;
}

static Onnx__NodeProto *ex_node(ex *e, const char *op_type, const char *domain, const char *name,
                                const char *const *in, int n_in, const char *const *out, int n_out)
{
    Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = ex_str(e, op_type);
    n->domain = ex_str(e, domain);
    n->name = ex_str(e, name);
    n->input = ex_alloc(e, sizeof(char *) * (size_t)(n_in + 1));
    n->output = ex_alloc(e, sizeof(char *) * (size_t)(n_out + 1));
    n->attribute = ex_alloc(e, sizeof(Onnx__AttributeProto *) * MAX_NODE_ATTRS);
    if (!n->input || !n->output || !n->attribute)
        return NULL;
    /* Trailing absent optional inputs are left out. */
    while (n_in > 0 && !*in[n_in - 1])
        n_in--;
    for (int i = 0; i < n_in; i++)
        n->input[i] = ex_str(e, in[i]);
    for (int i = 0; i < n_out; i++)
        n->output[i] = ex_str(e, out[i]);
    n->n_input = (size_t)n_in;
    n->n_output = (size_t)n_out;
    push(e, (void ***)&e->nodes, &e->n_nodes, &e->cap_nodes, n);
    return n;
}

static Onnx__AttributeProto *ex_attr(ex *e, Onnx__NodeProto *n, const char *name, int type)
{
    if (!n || n->n_attribute >= MAX_NODE_ATTRS) {
        e->oom = true;
        return NULL;
    }
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = ex_str(e, name);
    a->has_type = true;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(ex *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ex_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = true;
        a->i = v;
    }
}

/* Copies an IR attribute (renamed to onnx_name) onto an ONNX node. */
static void copy_attr(ex *e, Onnx__NodeProto *n, const bnn_attr *at, const char *onnx_name)
{
    static const int kinds[] = {
        [BNN_ATTR_INT] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT,
        [BNN_ATTR_FLOAT] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT,
        [BNN_ATTR_STRING] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING,
        [BNN_ATTR_INTS] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS,
        [BNN_ATTR_FLOATS] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS,
    };
    Onnx__AttributeProto *a = ex_attr(e, n, onnx_name, kinds[at->kind]);
    if (!a)
        return;
    switch (at->kind) {
    case BNN_ATTR_INT: a->has_i = true; a->i = at->i; break;
    case BNN_ATTR_FLOAT: a->has_f = true; a->f = at->f; break;
    case BNN_ATTR_STRING:
        a->has_s = true;
        a->s.len = strlen(at->s);
        a->s.data = (uint8_t *)ex_str(e, at->s);
        break;
    case BNN_ATTR_INTS:
        a->n_ints = (size_t)at->count;
        a->ints = ex_alloc(e, sizeof(int64_t) * (size_t)(at->count + 1));
        if (a->ints && at->count)
            memcpy(a->ints, at->ints, sizeof(int64_t) * (size_t)at->count);
        break;
    case BNN_ATTR_FLOATS:
        a->n_floats = (size_t)at->count;
        a->floats = ex_alloc(e, sizeof(float) * (size_t)(at->count + 1));
        if (a->floats && at->count)
            memcpy(a->floats, at->floats, sizeof(float) * (size_t)at->count);
        break;
    }
}

/* Copies every IR attribute except those listed (space-separated, each
 * padded with spaces: " a b "), renaming trans_a/trans_b. */
static void copy_attrs_except(ex *e, Onnx__NodeProto *on, const bnn_node *n, const char *skip)
{
    for (int i = 0; i < n->n_attrs; i++) {
        char key[80];
        snprintf(key, sizeof key, " %s ", n->attrs[i].name);
        if (skip && strstr(skip, key))
            continue;
        const char *name = n->attrs[i].name;
        if (strcmp(name, "trans_a") == 0)
            name = "transA";
        else if (strcmp(name, "trans_b") == 0)
            name = "transB";
        copy_attr(e, on, &n->attrs[i], name);
    }
}

static const char *base_name(const bnn_node *n, const char *outname, const char *suffix, char *buf,
                             size_t size)
{
    snprintf(buf, size, "%s_%s", *n->name ? n->name : outname, suffix);
    return buf;
}

/* ---- one IR node ---------------------------------------------------------- */

/* A dense on an input that is not 2-D goes out as MatMul(x, W^T): its f32
 * weight param, read by no other node, is written transposed under its own
 * name (the importer transposes it back under that name). */
static bool weight_goes_out_transposed(const bnn_graph *g, int nid)
{
    const bnn_node *n = bnn_graph_node(g, nid);
    if (n->dead || n->op != BNN_OP_DENSE || bnn_graph_value(g, n->inputs[0])->shape.rank == 2)
        return false;
    const bnn_value *w = bnn_graph_value(g, n->inputs[1]);
    return w->kind == BNN_VALUE_PARAM && w->dtype == BNN_F32 && w->shape.rank == 2 &&
           bnn_graph_use_count(g, n->inputs[1]) == 1;
}

/* ---- moment ops (bnn-to-moments) as standard ONNX ------------------------ */

/* One node of a moment op's expansion: op_type(a, b[, c]) into a fresh value
 * named after the node's output and `what`; returns its name. */
static const char *mo_op(ex *e, const char *stem, const char *what, const char *type,
                         const char *a, const char *b, const char *c)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", stem, what);
    const char *out = ex_fresh(e, buf);
    const char *in[3] = {a, b ? b : "", c ? c : ""};
    ex_node(e, type, "", out, in, c ? 3 : b ? 2 : 1, &out, 1);
    return out;
}

static const char *mo_const(ex *e, const char *stem, const char *what, float value)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", stem, what);
    return ex_init(e, buf, BNN_F32, 0, &value, 1);
}

/* The normal tail Q = Phi(-a) (a >= 0 or any) and density phi(a), by Erf. */
static void mo_tail_density(ex *e, const char *st, const char *a, const char **tail,
                            const char **density)
{
    const char *abs_a = mo_op(e, st, "abs_a", "Abs", a, NULL, NULL);
    const char *z = mo_op(e, st, "z", "Mul", abs_a, mo_const(e, st, "inv_sqrt2", 0.70710678f), NULL);
    const char *erf = mo_op(e, st, "erf", "Erf", z, NULL, NULL);
    const char *half = mo_const(e, st, "half", 0.5f);
    const char *one_minus = mo_op(e, st, "erfc", "Sub", mo_const(e, st, "one", 1.0f), erf, NULL);
    *tail = mo_op(e, st, "tail", "Mul", one_minus, half, NULL);
    const char *a2 = mo_op(e, st, "a_sq", "Mul", a, a, NULL);
    const char *ex_arg = mo_op(e, st, "gauss_arg", "Mul", a2, mo_const(e, st, "minus_half", -0.5f),
                               NULL);
    const char *gauss = mo_op(e, st, "gauss", "Exp", ex_arg, NULL, NULL);
    *density = mo_op(e, st, "density", "Mul", gauss,
                     mo_const(e, st, "inv_sqrt2pi", 0.39894228f), NULL);
}

/* moments.relu as the kernel computes it (runtime/kernels/moments.c). */
static void mo_relu(ex *e, const bnn_node *n, const char *m, const char *v, const char *om,
                    const char *ov)
{
    const char *st = om;
    float alpha = bnn_node_float(n, "alpha", 0.0f);
    const char *vi = mo_op(e, st, "var_floor", "Max", v, mo_const(e, st, "tiny", 1e-30f), NULL);
    const char *s = mo_op(e, st, "sd", "Sqrt", vi, NULL, NULL);
    const char *a_raw = mo_op(e, st, "a_raw", "Div", m, s, NULL);
    const char *a = mo_op(e, st, "a", "Clip", a_raw, mo_const(e, st, "a_min", -8.0f),
                          mo_const(e, st, "a_max", 8.0f));
    const char *q, *pdf;
    mo_tail_density(e, st, a, &q, &pdf);
    const char *one = mo_const(e, st, "one_", 1.0f);
    const char *pos = mo_op(e, st, "positive", "Greater", a, mo_const(e, st, "zero", 0.0f), NULL);
    const char *cdf = mo_op(e, st, "cdf", "Where", pos, mo_op(e, st, "one_minus_tail", "Sub", one, q,
                                                              NULL), q);
    /* mean: m cdf + s pdf above 0, s (a cdf + pdf) below */
    const char *acdf = mo_op(e, st, "a_cdf", "Mul", a, cdf, NULL);
    const char *ma = mo_op(e, st, "a_cdf_pdf", "Add", acdf, pdf, NULL);
    const char *mean_pos = mo_op(e, st, "mean_pos", "Add", mo_op(e, st, "m_cdf", "Mul", m, cdf, NULL),
                                 mo_op(e, st, "s_pdf", "Mul", s, pdf, NULL), NULL);
    const char *mean_neg = mo_op(e, st, "mean_neg", "Mul", s, ma, NULL);
    const char *mean_r = mo_op(e, st, "mean_relu", "Where", pos, mean_pos, mean_neg);
    /* g_pos = 1 - q + a^2 q (1 - q) - a pdf (1 - 2q) - pdf^2 */
    const char *a2 = mo_op(e, st, "a2", "Mul", a, a, NULL);
    const char *omq = mo_op(e, st, "one_minus_q", "Sub", one, q, NULL);
    const char *t1 = mo_op(e, st, "t1", "Mul", mo_op(e, st, "a2q", "Mul", a2, q, NULL), omq, NULL);
    const char *o2q = mo_op(e, st, "one_minus_2q", "Sub", omq, q, NULL);
    const char *t2 = mo_op(e, st, "t2", "Mul", mo_op(e, st, "apdf", "Mul", a, pdf, NULL), o2q, NULL);
    const char *pdf2 = mo_op(e, st, "pdf2", "Mul", pdf, pdf, NULL);
    const char *g_pos = mo_op(e, st, "g_pos", "Sub",
                              mo_op(e, st, "g_pos_b", "Sub", mo_op(e, st, "g_pos_a", "Add", omq, t1,
                                                                   NULL), t2, NULL), pdf2, NULL);
    /* g_neg = (1 + a^2) cdf + a pdf - ma^2 */
    const char *g_neg = mo_op(e, st, "g_neg", "Sub",
                              mo_op(e, st, "g_neg_b", "Add",
                                    mo_op(e, st, "g_neg_a", "Mul",
                                          mo_op(e, st, "one_a2", "Add", one, a2, NULL), cdf, NULL),
                                    mo_op(e, st, "a_pdf", "Mul", a, pdf, NULL), NULL),
                              mo_op(e, st, "ma2", "Mul", ma, ma, NULL), NULL);
    const char *g = mo_op(e, st, "g_clamped", "Max", mo_op(e, st, "g", "Where", pos, g_pos, g_neg),
                          mo_const(e, st, "zero_", 0.0f), NULL);
    const char *var_r = mo_op(e, st, "var_relu", "Mul", vi, g, NULL);
    if (alpha == 0.0f) {
        const char *in1[1] = {mean_r}, *in2[1] = {var_r};
        ex_node(e, "Identity", "", om, in1, 1, &om, 1);
        ex_node(e, "Identity", "", ov, in2, 1, &ov, 1);
        return;
    }
    /* leaky: mean = alpha m + (1-alpha) mean_r; var = alpha^2 v + (1-alpha)^2 var_r
     * + 2 alpha (1-alpha) v cdf */
    const char *al = mo_const(e, st, "alpha", alpha), *bl = mo_const(e, st, "beta", 1 - alpha);
    const char *mean_in[2] = {mo_op(e, st, "alpha_m", "Mul", al, m, NULL),
                              mo_op(e, st, "beta_mean", "Mul", bl, mean_r, NULL)};
    ex_node(e, "Add", "", om, mean_in, 2, &om, 1);
    const char *v1 = mo_op(e, st, "alpha2_v", "Mul", mo_const(e, st, "alpha2", alpha * alpha), vi,
                           NULL);
    const char *v2 = mo_op(e, st, "beta2_var", "Mul", mo_const(e, st, "beta2", (1 - alpha) * (1 - alpha)),
                           var_r, NULL);
    const char *v3 = mo_op(e, st, "cross", "Mul",
                           mo_op(e, st, "v_cdf", "Mul", vi, cdf, NULL),
                           mo_const(e, st, "two_alpha_beta", 2 * alpha * (1 - alpha)), NULL);
    const char *var_in[2] = {mo_op(e, st, "var_ab", "Add", v1, v2, NULL), v3};
    ex_node(e, "Add", "", ov, var_in, 2, &ov, 1);
}

/* One Clark step, larger mean first: (m1, v1) max (m2, v2). */
static void mo_clark(ex *e, const char *st, const char *m1, const char *v1, const char *m2,
                     const char *v2, const char **om, const char **ov, const char *om_name,
                     const char *ov_name)
{
    const char *swap = mo_op(e, st, "swap", "Greater", m2, m1, NULL);
    const char *hm = mo_op(e, st, "high_mean", "Max", m1, m2, NULL);
    const char *lm = mo_op(e, st, "low_mean", "Min", m1, m2, NULL);
    const char *hv = mo_op(e, st, "high_var", "Where", swap, v2, v1);
    const char *lv = mo_op(e, st, "low_var", "Where", swap, v1, v2);
    const char *th2 = mo_op(e, st, "theta2", "Max", mo_op(e, st, "var_sum", "Add", hv, lv, NULL),
                            mo_const(e, st, "tiny", 1e-30f), NULL);
    const char *th = mo_op(e, st, "theta", "Sqrt", th2, NULL, NULL);
    const char *a = mo_op(e, st, "a", "Min",
                          mo_op(e, st, "a_raw", "Div",
                                mo_op(e, st, "gap", "Sub", hm, lm, NULL), th, NULL),
                          mo_const(e, st, "a_max", 8.0f), NULL);
    const char *q, *pdf;
    mo_tail_density(e, st, a, &q, &pdf);
    const char *t = mo_op(e, st, "t", "Sub", pdf, mo_op(e, st, "aq", "Mul", a, q, NULL), NULL);
    const char *mean_in[2] = {hm, mo_op(e, st, "theta_t", "Mul", th, t, NULL)};
    const char *mean = om_name ? om_name : ex_fresh(e, st);
    ex_node(e, "Add", "", mean, mean_in, 2, &mean, 1);
    /* var = hv + q (lv - hv) + theta2 (a^2 q - a pdf - t^2) */
    const char *inner = mo_op(e, st, "inner", "Sub",
                              mo_op(e, st, "inner_a", "Sub",
                                    mo_op(e, st, "a2q", "Mul",
                                          mo_op(e, st, "a2", "Mul", a, a, NULL), q, NULL),
                                    mo_op(e, st, "apdf", "Mul", a, pdf, NULL), NULL),
                              mo_op(e, st, "t2", "Mul", t, t, NULL), NULL);
    const char *var = mo_op(e, st, "var_raw", "Add",
                            mo_op(e, st, "var_a", "Add", hv,
                                  mo_op(e, st, "q_gap", "Mul", q,
                                        mo_op(e, st, "var_gap", "Sub", lv, hv, NULL), NULL), NULL),
                            mo_op(e, st, "theta2_inner", "Mul", th2, inner, NULL), NULL);
    const char *vin[2] = {var, mo_const(e, st, "zero", 0.0f)};
    const char *vout = ov_name ? ov_name : ex_fresh(e, st);
    ex_node(e, "Max", "", vout, vin, 2, &vout, 1);
    *om = mean;
    *ov = vout;
}

/* moments.max_pool with every window inside the image: per window offset a
 * strided Slice of mean and variance, then Clark steps in window order. */
static bnn_status mo_max_pool(ex *e, const bnn_node *n, const char *m, const char *v,
                              const char *om, const char *ov)
{
    const bnn_graph *g = e->g;
    const bnn_shape *xs = &bnn_graph_value(g, n->inputs[0])->shape;
    const bnn_shape *ys = &bnn_graph_value(g, n->outputs[0])->shape;
    const int64_t *ks, *strides = NULL, *pads = NULL, *dil = NULL;
    int nk = bnn_node_ints(n, "kernel_shape", &ks), ns = bnn_node_ints(n, "strides", &strides);
    int np = bnn_node_ints(n, "pads", &pads), nd = bnn_node_ints(n, "dilations", &dil);
    bool ok = xs->rank == 4 && ys->rank == 4 && nk == 2;
    for (int i = 0; ok && i < np; i++)
        ok = pads[i] == 0;
    for (int i = 0; ok && i < nd; i++)
        ok = dil[i] == 1;
    for (int i = 0; ok && i < 2; i++)
        ok = bnn_dim_is_known(xs->dims[2 + i]) && bnn_dim_is_known(ys->dims[2 + i]);
    if (!ok)
        return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED,
                        "node '%s' (moments.max_pool): only 2-D windows inside the image (no "
                        "pads, no dilations, fixed spatial size) have a standard ONNX form",
                        n->name);
    int64_t s[2] = {ns ? strides[0] : 1, ns ? strides[1] : 1};
    const char *cm = NULL, *cv = NULL;
    char st[600];
    int64_t count = ks[0] * ks[1];
    for (int64_t off = 0; off < count; off++) {
        int64_t a = off / ks[1], b = off % ks[1];
        int64_t starts[2] = {a, b}, ends[2], axes[2] = {2, 3};
        for (int i = 0; i < 2; i++)
            ends[i] = starts[i] + (ys->dims[2 + i] - 1) * s[i] + 1;
        snprintf(st, sizeof st, "%s/window%lld", om, (long long)off);
        const char *si = ex_init(e, st, BNN_I64, 1, starts, 2);
        const char *ei = ex_init(e, st, BNN_I64, 1, ends, 2);
        const char *ai = ex_init(e, st, BNN_I64, 1, axes, 2);
        const char *pi = ex_init(e, st, BNN_I64, 1, s, 2);
        const char *sm = ex_fresh(e, st), *sv = ex_fresh(e, st);
        const char *in_m[5] = {m, si, ei, ai, pi}, *in_v[5] = {v, si, ei, ai, pi};
        ex_node(e, "Slice", "", sm, in_m, 5, &sm, 1);
        ex_node(e, "Slice", "", sv, in_v, 5, &sv, 1);
        if (off == 0) {
            cm = sm;
            cv = mo_op(e, st, "var", "Max", sv, mo_const(e, st, "zero", 0.0f), NULL);
            continue;
        }
        bool last = off == count - 1;
        mo_clark(e, st, cm, cv, sm, sv, &cm, &cv, last ? om : NULL, last ? ov : NULL);
    }
    if (count == 1) {
        const char *in1[1] = {cm}, *in2[1] = {cv};
        ex_node(e, "Identity", "", om, in1, 1, &om, 1);
        ex_node(e, "Identity", "", ov, in2, 1, &ov, 1);
    }
    return BNN_OK;
}

/* moments.sigmoid / moments.tanh: the kernel's 16-point Gauss-Hermite rule,
 * E[f] = sum_i w_i (f(m + c t_i) + f(m - c t_i)) / sqrt(pi), c = sqrt(2v),
 * and E[f^2] the same way; variance E[f^2] - E[f]^2 (floored at 0). */
static void mo_smooth(ex *e, const bnn_node *n, const char *m, const char *v, const char *om,
                      const char *ov)
{
    static const double nodes[8] = {
        0.27348104613815244, 0.8229514491446559, 1.3802585391988809, 1.9517879909162539,
        2.5462021578474814,  3.176999161979956,  3.8694479048601229, 4.6887389393058188};
    static const double weights[8] = {
        0.50792947901661367,    0.28064745852853368,    0.083810041398985832,
        0.012880311535509989,   0.00093228400862418071, 2.7118600925378892e-05,
        2.3209808448652032e-07, 2.6548074740111673e-10};
    const char *st = om, *type = n->op == BNN_OP_MOMENTS_TANH ? "Tanh" : "Sigmoid";
    const char *vi = mo_op(e, st, "var_floor", "Max", v, mo_const(e, st, "zero", 0.0f), NULL);
    const char *c = mo_op(e, st, "scale", "Sqrt",
                          mo_op(e, st, "two_var", "Mul", vi, mo_const(e, st, "two", 2.0f), NULL),
                          NULL, NULL);
    const char *s1 = NULL, *s2 = NULL;
    for (int i = 0; i < 8; i++) {
        const char *shift = mo_op(e, st, "shift", "Mul", c, mo_const(e, st, "node", (float)nodes[i]),
                                  NULL);
        const char *w = mo_const(e, st, "weight", (float)(weights[i] * 0.56418958354775628695));
        for (int sign = 0; sign < 2; sign++) {
            const char *x = mo_op(e, st, "point", sign ? "Sub" : "Add", m, shift, NULL);
            const char *f = mo_op(e, st, "f", type, x, NULL, NULL);
            const char *wf = mo_op(e, st, "wf", "Mul", f, w, NULL);
            const char *wf2 = mo_op(e, st, "wf2", "Mul", wf, f, NULL);
            s1 = s1 ? mo_op(e, st, "sum1", "Add", s1, wf, NULL) : wf;
            s2 = s2 ? mo_op(e, st, "sum2", "Add", s2, wf2, NULL) : wf2;
        }
    }
    const char *in1[1] = {s1};
    ex_node(e, "Identity", "", om, in1, 1, &om, 1);
    const char *var = mo_op(e, st, "var_raw", "Sub", s2, mo_op(e, st, "mean_sq", "Mul", s1, s1, NULL),
                            NULL);
    const char *vin[2] = {var, mo_const(e, st, "zero_", 0.0f)};
    ex_node(e, "Max", "", ov, vin, 2, &ov, 1);
}

/* The moment ops: each has a standard form. */
static bnn_status export_moments(ex *e, const bnn_node *n)
{
    const char *m = vname(e, n->inputs[0]), *v = vname(e, n->inputs[1]);
    const char *om = vname(e, n->outputs[0]), *ov = vname(e, n->outputs[1]);
    if (bnn_node_int(n, "linear", 0))
        return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED,
                        "node '%s' (%s): the linearised (glm) form has no ONNX export; export "
                        "--mode moments", n->name, bnn_op_get(n->op)->name);
    switch (n->op) {
    case BNN_OP_MOMENTS_RELU: mo_relu(e, n, m, v, om, ov); break;
    case BNN_OP_MOMENTS_MAX_POOL: BNN_TRY(mo_max_pool(e, n, m, v, om, ov)); break;
    case BNN_OP_MOMENTS_SIGMOID: case BNN_OP_MOMENTS_TANH: mo_smooth(e, n, m, v, om, ov); break;
    default:
        return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (%s): no standard ONNX form",
                        n->name, bnn_op_get(n->op)->name);
    }
    if (e->oom)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

static void attr_ints(ex *e, Onnx__NodeProto *n, const char *name, const int64_t *v, int count)
{
    Onnx__AttributeProto *a = ex_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (a && (a->ints = ex_alloc(e, sizeof(int64_t) * (size_t)(count + 1)))) {
        a->n_ints = (size_t)count;
        memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
    }
}

/* max_unpool: the unpooled size goes out through kernel_shape at stride 1
 * (or an end pad when it is smaller than the input): (in - 1) + kernel -
 * pad_end; the indices alone decide where values land.  A larger output
 * becomes output_shape, x's N and C read with Shape so a symbolic batch
 * stays one. */
static bnn_status export_max_unpool(ex *e, const bnn_node *n, const char **in, const char *out)
{
    char buf[600];
    const bnn_shape *xs = &bnn_graph_value(e->g, n->inputs[0])->shape;
    const int64_t *os, *is;
    int nsp = bnn_node_ints(n, "output_shape", &os);
    if (bnn_node_ints(n, "index_shape", &is) != nsp)
        is = os;
    int64_t kernel[BNN_MAX_RANK], pads[2 * BNN_MAX_RANK] = {0};
    bool larger = false;
    for (int i = 0; i < nsp; i++) {
        int64_t d = xs->dims[2 + i];
        if (d < 1)
            return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (max_unpool): spatial dim %d of its "
                            "input is not known; ONNX's MaxUnpool needs it", n->name, i);
        kernel[i] = is[i] >= d ? is[i] - d + 1 : 1;
        pads[nsp + i] = is[i] >= d ? 0 : d - is[i];
        larger |= os[i] != is[i];
    }
    if (larger) {
        const char *shp = ex_fresh(e, base_name(n, out, "x_shape", buf, sizeof buf));
        ex_node(e, "Shape", "", shp, in, 1, &shp, 1);
        int64_t lo = 0, hi = 2;
        const char *sl_in[3] = { shp, NULL, NULL };
        sl_in[1] = ex_init(e, base_name(n, out, "nc_start", buf, sizeof buf), BNN_I64, 1, &lo, 1);
        sl_in[2] = ex_init(e, base_name(n, out, "nc_end", buf, sizeof buf), BNN_I64, 1, &hi, 1);
        const char *nc = ex_fresh(e, base_name(n, out, "nc", buf, sizeof buf));
        ex_node(e, "Slice", "", nc, sl_in, 3, &nc, 1);
        const char *cat_in[2] = { nc, NULL };
        cat_in[1] = ex_init(e, base_name(n, out, "spatial", buf, sizeof buf), BNN_I64, 1, os, nsp);
        const char *full = ex_fresh(e, base_name(n, out, "output_shape", buf, sizeof buf));
        Onnx__NodeProto *cat = ex_node(e, "Concat", "", full, cat_in, 2, &full, 1);
        attr_int(e, cat, "axis", 0);
        in[2] = full;
    }
    Onnx__NodeProto *on = ex_node(e, "MaxUnpool", "", n->name, in, larger ? 3 : 2, &out, 1);
    attr_ints(e, on, "kernel_shape", kernel, nsp);
    attr_ints(e, on, "pads", pads, 2 * nsp);
    if (e->oom || !on)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

/* resize: scales or sizes (and roi) become Resize's inputs again.  Axes
 * whose sizes entry keeps the input's dim (-1: a dim only known at run time)
 * are left out through opset 18's `axes`. */
static bnn_status export_resize(ex *e, const bnn_node *n, const char **in, const char *out)
{
    char buf[600], err[300];
    const bnn_shape *xs = &bnn_graph_value(e->g, n->inputs[0])->shape;
    bnn_resize_spec s;
    if (!bnn_resize_read(n, xs->rank, &s, err, sizeof err))
        return bnn_fail(e->diag, BNN_ERR_INVALID, "node '%s' (resize): %s", n->name, err);
    if (s.coord == BNN_COORD_TF_HALF_PIXEL_FOR_NN)
        return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (resize): tf_half_pixel_for_nn "
                        "has no ONNX form after opset 11", n->name);
    if (s.has_scales && s.has_sizes)
        return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (resize): scales and sizes "
                        "together (keep_aspect_ratio_policy's result) have no ONNX form bnnc writes",
                        n->name);
    int rank = xs->rank, na = 0;
    int64_t axes[BNN_MAX_RANK], sizes[BNN_MAX_RANK];
    float scales[BNN_MAX_RANK], roi[2 * BNN_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        if (s.has_sizes && s.sizes[i] < 0) {
            if (s.coord == BNN_COORD_TF_CROP_AND_RESIZE && (s.roi_start[i] != 0 || s.roi_end[i] != 1))
                return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (resize): axis %d crops "
                                "a dim only known at run time", n->name, i);
            continue;
        }
        axes[na] = i;
        sizes[na] = s.has_sizes ? s.sizes[i] : 0;
        scales[na++] = (float)s.scales[i];
    }
    bool as_scales = !s.has_sizes;
    if (s.has_sizes && na == 0) { /* every dim kept: scales of 1 say the same */
        for (int i = 0; i < rank; i++) {
            axes[i] = i;
            scales[i] = 1.0f;
        }
        na = rank;
        as_scales = true;
    }
    for (int j = 0; j < na; j++) {
        roi[j] = (float)s.roi_start[axes[j]];
        roi[na + j] = (float)s.roi_end[axes[j]];
    }
    if (s.coord == BNN_COORD_TF_CROP_AND_RESIZE)
        in[1] = ex_init(e, base_name(n, out, "roi", buf, sizeof buf), BNN_F32, 1, roi, 2 * na);
    if (as_scales)
        in[2] = ex_init(e, base_name(n, out, "scales", buf, sizeof buf), BNN_F32, 1, scales, na);
    else
        in[3] = ex_init(e, base_name(n, out, "sizes", buf, sizeof buf), BNN_I64, 1, sizes, na);
    Onnx__NodeProto *on = ex_node(e, "Resize", "", n->name, in, 4, &out, 1);
    copy_attrs_except(e, on, n, " scales sizes roi ");
    if (na < rank)
        attr_ints(e, on, "axes", axes, na);
    if (e->oom || !on)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

/* The ONNX opset a resize needs: 18 for antialias and for `axes` (sizes
 * that keep a dim), 19 for half_pixel_symmetric. */
static int64_t resize_opset(const bnn_graph *g, const bnn_node *n)
{
    bnn_resize_spec s;
    char err[8];
    if (!bnn_resize_read(n, bnn_graph_value(g, n->inputs[0])->shape.rank, &s, err, sizeof err))
        return 0;
    int64_t need = s.antialias ? 18 : 0;
    for (int i = 0; s.has_sizes && i < s.rank; i++)
        if (s.sizes[i] < 0)
            need = 18;
    return s.coord == BNN_COORD_HALF_PIXEL_SYMMETRIC ? 19 : need;
}

/* GroupNormalization's scale and bias are per group in opset 18 and per
 * channel from 21: which one a group_norm node holds. */
static bool group_norm_per_channel(const bnn_graph *g, const bnn_node *n)
{
    int64_t groups = bnn_node_int(n, "num_groups", 0);
    return bnn_shape_numel(&bnn_graph_value(g, n->inputs[1])->shape) != groups;
}

static bnn_status export_node(ex *e, int nid)
{
    const bnn_graph *g = e->g;
    const bnn_node *n = bnn_graph_node(g, nid);
    const char *out = vname(e, n->outputs[0]);
    /* every input (concat and the variadic ops take any number), and room
     * for the extra initializer inputs some cases below append */
    int n_slots = n->n_inputs > 8 ? n->n_inputs : 8;
    const char **in = ex_alloc(e, sizeof(char *) * (size_t)n_slots);
    if (!in)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory exporting node '%s'", n->name);
    for (int i = 0; i < n_slots; i++)
        in[i] = i < n->n_inputs ? vname(e, n->inputs[i]) : "";
    char buf[600];
    Onnx__NodeProto *on = NULL;
    switch (n->op) {
    case BNN_OP_AVG_POOL: {
        const int64_t *d;
        int nd = bnn_node_ints(n, "dilations", &d);
        for (int i = 0; i < nd && e->opset < 19; i++)
            if (d[i] != 1)
                return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED,
                                "node '%s' (avg_pool): dilations need ONNX opset 19", n->name);
        on = ex_node(e, "AveragePool", "", n->name, in, 1, &out, 1);
        copy_attrs_except(e, on, n, e->opset >= 19 ? NULL : " dilations ");
        break;
    }
    case BNN_OP_DROPOUT: case BNN_OP_DROPOUT_MASKED: {
        float ratio = bnn_node_float(n, "ratio", 0.5f);
        in[1] = ex_init(e, base_name(n, out, "ratio", buf, sizeof buf), BNN_F32, 0, &ratio, 1);
        const char *outs[2] = { out, n->n_outputs > 1 ? vname(e, n->outputs[1]) : "" };
        on = ex_node(e, "Dropout", "", n->name, in, 2, outs, n->n_outputs);
        break;
    }
    case BNN_OP_CLIP: {
        const bnn_attr *lo = bnn_node_attr(n, "min"), *hi = bnn_node_attr(n, "max");
        if (lo)
            in[1] = ex_init(e, base_name(n, out, "min", buf, sizeof buf), BNN_F32, 0, &lo->f, 1);
        if (hi)
            in[2] = ex_init(e, base_name(n, out, "max", buf, sizeof buf), BNN_F32, 0, &hi->f, 1);
        on = ex_node(e, "Clip", "", n->name, in, 3, &out, 1);
        break;
    }
    case BNN_OP_SOFTMAX: case BNN_OP_LOG_SOFTMAX: case BNN_OP_HARDMAX: {
        const char *type = n->op == BNN_OP_SOFTMAX ? "Softmax"
                         : n->op == BNN_OP_HARDMAX ? "Hardmax" : "LogSoftmax";
        if (!bnn_node_int(n, "coerce", 0)) {
            on = ex_node(e, type, "", n->name, in, 1, &out, 1);
            copy_attrs_except(e, on, n, " coerce ");
            break;
        }
        /* The pre-13 meaning: flatten to 2-D at axis, normalise rows, restore. */
        int64_t axis = bnn_node_int(n, "axis", 1);
        const char *flat = ex_fresh(e, base_name(n, out, "flat", buf, sizeof buf));
        const char *norm = ex_fresh(e, base_name(n, out, "rows", buf, sizeof buf));
        const char *shp = ex_fresh(e, base_name(n, out, "shape", buf, sizeof buf));
        Onnx__NodeProto *f = ex_node(e, "Flatten", "", flat, in, 1, &flat, 1);
        attr_int(e, f, "axis", axis);
        Onnx__NodeProto *s = ex_node(e, type, "", n->name, &flat, 1, &norm, 1);
        attr_int(e, s, "axis", -1);
        ex_node(e, "Shape", "", shp, in, 1, &shp, 1);
        const char *rin[2] = { norm, shp };
        on = ex_node(e, "Reshape", "", out, rin, 2, &out, 1);
        break;
    }
    case BNN_OP_DENSE: {
        int x_rank = bnn_graph_value(g, n->inputs[0])->shape.rank;
        if (x_rank == 2) {
            on = ex_node(e, "Gemm", "", n->name, in, n->n_inputs, &out, 1);
            attr_int(e, on, "transB", 1);
            break;
        }
        /* x [..., in]: MatMul with W^T, then Add of the bias.  W went out
         * transposed under its own name (see weight_goes_out_transposed). */
        const char *wname = in[1];
        if (!weight_goes_out_transposed(g, nid)) {
            /* A shared or computed weight: transpose it in the graph. */
            wname = ex_fresh(e, base_name(n, out, "weight_t", buf, sizeof buf));
            Onnx__NodeProto *t = ex_node(e, "Transpose", "", wname, &in[1], 1, &wname, 1);
            Onnx__AttributeProto *a = ex_attr(e, t, "perm", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
            if (a && (a->ints = ex_alloc(e, 2 * sizeof(int64_t)))) {
                a->n_ints = 2;
                a->ints[0] = 1;
                a->ints[1] = 0;
            }
        }
        const char *mm_in[2] = { in[0], wname };
        if (n->n_inputs < 3 || n->inputs[2] < 0) {
            on = ex_node(e, "MatMul", "", n->name, mm_in, 2, &out, 1);
            break;
        }
        const char *mm = ex_fresh(e, base_name(n, out, "matmul", buf, sizeof buf));
        on = ex_node(e, "MatMul", "", n->name, mm_in, 2, &mm, 1);
        const char *add_in[2] = { mm, in[2] };
        on = ex_node(e, "Add", "", base_name(n, out, "add", buf, sizeof buf), add_in, 2, &out, 1);
        break;
    }
    case BNN_OP_RESHAPE: {
        const int64_t *shape;
        int ns = bnn_node_ints(n, "shape", &shape);
        if (n->n_inputs < 2 || n->inputs[1] < 0)
            in[1] = ex_init(e, base_name(n, out, "shape", buf, sizeof buf), BNN_I64, 1, shape, ns);
        on = ex_node(e, "Reshape", "", n->name, in, 2, &out, 1);
        copy_attrs_except(e, on, n, " shape ");
        break;
    }
    case BNN_OP_SQUEEZE: case BNN_OP_UNSQUEEZE: {
        const int64_t *axes;
        int na = bnn_node_ints(n, "axes", &axes);
        if (bnn_node_attr(n, "axes"))
            in[1] = ex_init(e, base_name(n, out, "axes", buf, sizeof buf), BNN_I64, 1, axes, na);
        on = ex_node(e, n->op == BNN_OP_SQUEEZE ? "Squeeze" : "Unsqueeze", "", n->name, in, 2, &out, 1);
        break;
    }
    case BNN_OP_PAD: {
        const int64_t *pads;
        int np = bnn_node_ints(n, "pads", &pads);
        if (n->n_inputs < 2 || n->inputs[1] < 0)
            in[1] = ex_init(e, base_name(n, out, "pads", buf, sizeof buf), BNN_I64, 1, pads, np);
        float value = bnn_node_float(n, "value", 0);
        if (n->n_inputs < 3 || n->inputs[2] < 0)
            in[2] = ex_init(e, base_name(n, out, "value", buf, sizeof buf), BNN_F32, 0, &value, 1);
        on = ex_node(e, "Pad", "", n->name, in, 3, &out, 1);
        copy_attrs_except(e, on, n, " pads value ");
        break;
    }
    case BNN_OP_SLICE: {
        /* starts, ends, axes, steps as i64 inputs; an absent axes stays ""
         * (ONNX's default) when steps follow, so import gives the same IR. */
        static const char *const names[] = { "starts", "ends", "axes", "steps" };
        for (int k = 0; k < 4; k++) {
            const int64_t *v;
            int nv = bnn_node_ints(n, names[k], &v);
            if (bnn_node_attr(n, names[k]))
                in[1 + k] = ex_init(e, base_name(n, out, names[k], buf, sizeof buf), BNN_I64, 1, v, nv);
        }
        on = ex_node(e, "Slice", "", n->name, in, 5, &out, 1);
        break;
    }
    case BNN_OP_EXPAND: case BNN_OP_TILE: {
        const char *attr = n->op == BNN_OP_EXPAND ? "shape" : "repeats";
        const int64_t *v;
        int nv = bnn_node_ints(n, attr, &v);
        if (n->n_inputs < 2 || n->inputs[1] < 0) /* else an expand's computed shape */
            in[1] = ex_init(e, base_name(n, out, attr, buf, sizeof buf), BNN_I64, 1, v, nv);
        on = ex_node(e, n->op == BNN_OP_EXPAND ? "Expand" : "Tile", "", n->name, in, 2, &out, 1);
        break;
    }
    case BNN_OP_REDUCE_SUM: case BNN_OP_REDUCE_MEAN: case BNN_OP_REDUCE_MAX:
    case BNN_OP_REDUCE_MIN: case BNN_OP_REDUCE_PROD: case BNN_OP_REDUCE_L1: case BNN_OP_REDUCE_L2:
    case BNN_OP_REDUCE_LOG_SUM: case BNN_OP_REDUCE_LOG_SUM_EXP: case BNN_OP_REDUCE_SUM_SQUARE: {
        /* ReduceSum takes axes as input 1 from opset 13, the others from 18
         * (an attribute before).  Empty axes mean all: left out. */
        const int64_t *axes;
        int na = bnn_node_ints(n, "axes", &axes);
        bool sum = n->op == BNN_OP_REDUCE_SUM || e->opset >= 18; /* axes as an input */
        if (sum && na > 0)
            in[1] = ex_init(e, base_name(n, out, "axes", buf, sizeof buf), BNN_I64, 1, axes, na);
        on = ex_node(e, bnn_op_get(n->op)->onnx_name, "", n->name, in, sum ? 2 : 1, &out, 1);
        copy_attrs_except(e, on, n, sum || na == 0 ? " axes " : NULL);
        break;
    }
    case BNN_OP_CONV_TRANSPOSE: case BNN_OP_CONV_TRANSPOSE_REPARAM: {
        /* import leaves only begin pads negative (output_shape larger than
         * the natural size); ONNX's pads are non-negative */
        const int64_t *p;
        int np = bnn_node_ints(n, "pads", &p);
        for (int i = 0; i < np; i++)
            if (p[i] < 0)
                return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED,
                                "node '%s' (%s): negative pads have no ONNX form", n->name,
                                bnn_op_get(n->op)->name);
        bool bayes = n->op == BNN_OP_CONV_TRANSPOSE_REPARAM;
        e->bnnc |= bayes;
        on = ex_node(e, bayes ? "ConvTransposeReparam" : "ConvTranspose", bayes ? "ai.bnnc" : "",
                     n->name, in, n->n_inputs, &out, 1);
        copy_attrs_except(e, on, n, NULL);
        break;
    }
    case BNN_OP_ONE_HOT: {
        /* depth goes back to being an input, an i64 scalar */
        int64_t depth = bnn_node_int(n, "depth", 0);
        const char *oh_in[3] = { in[0], "", in[1] };
        oh_in[1] = ex_init(e, base_name(n, out, "depth", buf, sizeof buf), BNN_I64, 0, &depth, 1);
        on = ex_node(e, "OneHot", "", n->name, oh_in, 3, &out, 1);
        copy_attrs_except(e, on, n, " depth ");
        break;
    }
    case BNN_OP_TOP_K: {
        /* k goes back to being an input (opset 10 on), a 1-D i64 */
        int64_t k = bnn_node_int(n, "k", 0);
        const char *outs[2] = { out, vname(e, n->outputs[1]) };
        in[1] = ex_init(e, base_name(n, out, "k", buf, sizeof buf), BNN_I64, 1, &k, 1);
        on = ex_node(e, "TopK", "", n->name, in, 2, outs, 2);
        copy_attrs_except(e, on, n, " k ");
        break;
    }
    case BNN_OP_RANGE: /* bounds the model computes: start, limit, delta as they are */
        on = ex_node(e, "Range", "", n->name, in, 3, &out, 1);
        break;
    case BNN_OP_CONSTANT_OF_SHAPE: {
        /* the fill value goes back to being attribute 'value', the shape to
         * being input 0 (an initializer once a session evaluated it) */
        const bnn_value *v = bnn_graph_value(g, n->inputs[0]);
        if (v->kind != BNN_VALUE_PARAM || bnn_shape_numel(&v->shape) != 1)
            return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED,
                            "node '%s' (constant_of_shape): the fill value is not a constant", n->name);
        const char *shape_in = n->n_inputs > 1 && n->inputs[1] >= 0 ? in[1] : NULL;
        if (!shape_in) {
            const int64_t *dims;
            int nd = bnn_node_ints(n, "shape", &dims);
            shape_in = ex_init(e, base_name(n, out, "shape", buf, sizeof buf), BNN_I64, 1, dims, nd);
        }
        on = ex_node(e, "ConstantOfShape", "", n->name, &shape_in, 1, &out, 1);
        Onnx__AttributeProto *a = ex_attr(e, on, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
        bnn_shape one = { .rank = 1, .dims = { 1 } };
        if (a)
            a->t = ex_tensor(e, "value", v->dtype, &one, v->data, bnn_dtype_size(v->dtype), false);
        break;
    }
    case BNN_OP_SCATTER_ELEMENTS: case BNN_OP_SCATTER_ND: {
        /* reduction arrived in opset 16 (add, mul) and 18 (max, min); "none"
         * is what its absence means, so it is left out for older readers. */
        bool none = strcmp(bnn_node_string(n, "reduction", "none"), "none") == 0;
        on = ex_node(e, bnn_op_get(n->op)->onnx_name, "", n->name, in, 3, &out, 1);
        copy_attrs_except(e, on, n, none ? " reduction " : NULL);
        break;
    }
    case BNN_OP_RESIZE:
        BNN_TRY(export_resize(e, n, in, out));
        return BNN_OK;
    case BNN_OP_MAX_UNPOOL:
        BNN_TRY(export_max_unpool(e, n, in, out));
        return BNN_OK;
    case BNN_OP_GROUP_NORM: {
        const bnn_shape *xs = &bnn_graph_value(g, n->inputs[0])->shape;
        if (!group_norm_per_channel(g, n) && e->opset >= 21 && xs->rank >= 2 &&
            xs->dims[1] != bnn_node_int(n, "num_groups", 0))
            return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (group_norm): per-group scale "
                            "and bias have no ONNX form at opset %lld (21 made them per channel)",
                            n->name, (long long)e->opset);
        on = ex_node(e, "GroupNormalization", "", n->name, in, 3, &out, 1);
        copy_attrs_except(e, on, n, e->opset >= 21 ? NULL : " stash_type ");
        break;
    }
    case BNN_OP_MOMENTS_RELU: case BNN_OP_MOMENTS_SIGMOID: case BNN_OP_MOMENTS_TANH:
    case BNN_OP_MOMENTS_MAX_POOL:
        return export_moments(e, n);
    case BNN_OP_DENSE_REPARAM: case BNN_OP_CONV_REPARAM: case BNN_OP_WEIGHT_REPARAM:
        e->bnnc = true;
        on = ex_node(e, n->op == BNN_OP_DENSE_REPARAM  ? "DenseReparam"
                        : n->op == BNN_OP_CONV_REPARAM ? "ConvReparam"
                                                       : "WeightReparam",
                     "ai.bnnc", n->name, in, n->n_inputs, &out, 1);
        copy_attrs_except(e, on, n, NULL);
        break;
    default:
        /* The op row's ONNX op (ops.def ONNX / ONNX_AS): inputs as they are,
         * attributes under their own names. */
        if (!bnn_op_get(n->op)->onnx_name)
            return bnn_fail(e->diag, BNN_ERR_UNSUPPORTED, "node '%s' (%s): no ONNX form", n->name,
                            bnn_op_get(n->op)->name);
        if (n->n_outputs > 1) { /* lstm, gru, rnn: Y, Y_h (, Y_c) */
            const char **outs = ex_alloc(e, sizeof(char *) * (size_t)n->n_outputs);
            if (!outs)
                return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory exporting node '%s'", n->name);
            for (int k = 0; k < n->n_outputs; k++)
                outs[k] = vname(e, n->outputs[k]);
            on = ex_node(e, bnn_op_get(n->op)->onnx_name, "", n->name, in, n->n_inputs, outs,
                         n->n_outputs);
        } else {
            on = ex_node(e, bnn_op_get(n->op)->onnx_name, "", n->name, in, n->n_inputs, &out, 1);
        }
        copy_attrs_except(e, on, n, NULL);
        break;
    }
    if (e->oom || !on)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    /* Features of later opsets. */
    if (n->op == BNN_OP_RESHAPE && bnn_node_attr(n, "allowzero") && e->opset < 14)
        e->opset = 14;
    if ((n->op == BNN_OP_LSTM || n->op == BNN_OP_GRU || n->op == BNN_OP_RNN) &&
        bnn_node_attr(n, "layout") && e->opset < 14)
        e->opset = 14;
    if (n->op == BNN_OP_SHAPE && (bnn_node_attr(n, "start") || bnn_node_attr(n, "end")) && e->opset < 15)
        e->opset = 15;
    return BNN_OK;
}

/* ---- graph ---------------------------------------------------------------- */

static Onnx__ValueInfoProto *value_info(ex *e, int id)
{
    const bnn_value *v = bnn_graph_value(e->g, id);
    Onnx__ValueInfoProto *vi = ex_alloc(e, sizeof *vi);
    Onnx__TypeProto *tp = ex_alloc(e, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(e, sizeof *tt);
    if (!vi || !tp || !tt)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = ex_str(e, v->name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = true;
    tt->elem_type = v->dtype;
    if (v->shape.rank < 0)
        return vi;
    Onnx__TensorShapeProto *sp = ex_alloc(e, sizeof *sp);
    if (!sp)
        return NULL;
    onnx__tensor_shape_proto__init(sp);
    tt->shape = sp;
    sp->n_dim = (size_t)v->shape.rank;
    sp->dim = ex_alloc(e, sizeof *sp->dim * (sp->n_dim + 1));
    if (!sp->dim)
        return NULL;
    for (int i = 0; i < v->shape.rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = ex_alloc(e, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        int64_t dim = v->shape.dims[i];
        if (bnn_dim_is_known(dim)) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dim;
        } else if (bnn_dim_is_symbol(dim)) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ex_str(e, e->g->symbols[bnn_dim_symbol_index(dim)]);
        }
        sp->dim[i] = d;
    }
    return vi;
}

static bnn_status build_model(ex *e, Onnx__ModelProto *m, Onnx__GraphProto *gp)
{
    const bnn_graph *g = e->g;
    e->opset = g->onnx_opset >= 13 ? g->onnx_opset : 13;
    /* Features of later opsets that change how other nodes are written
     * (reductions take axes as an input from 18): decided before any node. */
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = bnn_graph_node(g, i);
        if (!n->dead && n->op == BNN_OP_RESIZE && e->opset < resize_opset(g, n))
            e->opset = resize_opset(g, n);
        if (!n->dead && n->op == BNN_OP_GROUP_NORM && group_norm_per_channel(g, n) && e->opset < 21)
            e->opset = 21;
        if (n->dead || (n->op != BNN_OP_SCATTER_ELEMENTS && n->op != BNN_OP_SCATTER_ND))
            continue;
        const char *r = bnn_node_string(n, "reduction", "none");
        int64_t need = strcmp(r, "add") == 0 || strcmp(r, "mul") == 0 ? 16
                       : strcmp(r, "none") == 0                         ? 0
                                                                        : 18;
        if (e->opset < need)
            e->opset = need;
    }
    bool *transposed = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!transposed)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    /* constant_of_shape's fill value goes out as the node's attribute: a
     * param nothing else reads is no initializer (import makes it again) */
    bool *in_node = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!in_node) {
        free(transposed);
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = bnn_graph_node(g, i);
        if (weight_goes_out_transposed(g, i))
            transposed[n->inputs[1]] = true;
        if (!n->dead && n->op == BNN_OP_CONSTANT_OF_SHAPE && bnn_graph_use_count(g, n->inputs[0]) == 1)
            in_node[n->inputs[0]] = true;
    }
    for (int v = 0; v < g->n_values; v++) {
        const bnn_value *val = bnn_graph_value(g, v);
        if (val->kind != BNN_VALUE_PARAM || in_node[v])
            continue;
        if (!transposed[v]) {
            push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits,
                 ex_tensor(e, val->name, val->dtype, &val->shape, val->data, val->nbytes, true));
            continue;
        }
        int64_t rows = val->shape.dims[0], cols = val->shape.dims[1];
        float *wt = ex_alloc(e, val->nbytes);
        if (!wt)
            break;
        const float *src = val->data;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                wt[j * rows + i] = src[i * cols + j];
        bnn_shape ts = { .rank = 2, .dims = { cols, rows } };
        push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits,
             ex_tensor(e, val->name, BNN_F32, &ts, wt, val->nbytes, true));
    }
    free(transposed);
    free(in_node);
    for (int i = 0; i < g->n_nodes; i++)
        if (!bnn_graph_node(g, i)->dead)
            BNN_TRY(export_node(e, i));
    BNN_TRY(unique_node_names(e));
    if (e->opset > BNN_ONNX_MAX_OPSET)
        e->opset = BNN_ONNX_MAX_OPSET;
    onnx__graph_proto__init(gp);
    gp->name = ex_str(e, g->name ? g->name : "model");
    gp->node = e->nodes;
    gp->n_node = e->n_nodes;
    gp->initializer = e->inits;
    gp->n_initializer = e->n_inits;
    gp->n_input = (size_t)g->n_inputs;
    gp->input = ex_alloc(e, sizeof *gp->input * (gp->n_input + 1));
    gp->n_output = (size_t)g->n_outputs;
    gp->output = ex_alloc(e, sizeof *gp->output * (gp->n_output + 1));
    if (!gp->input || !gp->output)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_inputs; i++)
        gp->input[i] = value_info(e, g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++)
        gp->output[i] = value_info(e, g->outputs[i]);
    onnx__model_proto__init(m);
    m->has_ir_version = true;
    m->ir_version = 8;
    m->producer_name = ex_str(e, "bnnc");
    m->graph = gp;
    /* The IR remembers the opset its model was first read at (its semantics
     * are resolved into attributes already); keep that across the rewrite. */
    if (g->onnx_opset != e->opset) {
        Onnx__StringStringEntryProto *kv = ex_alloc(e, sizeof *kv);
        m->metadata_props = ex_alloc(e, sizeof *m->metadata_props);
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)g->onnx_opset);
        if (kv && m->metadata_props) {
            onnx__string_string_entry_proto__init(kv);
            kv->key = ex_str(e, BNN_ONNX_SOURCE_OPSET_KEY);
            kv->value = ex_str(e, num);
            m->metadata_props[0] = kv;
            m->n_metadata_props = 1;
        }
    }
    m->n_opset_import = e->bnnc ? 2 : 1;
    m->opset_import = ex_alloc(e, sizeof *m->opset_import * 2);
    if (!m->opset_import)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n_opset_import; i++) {
        Onnx__OperatorSetIdProto *o = ex_alloc(e, sizeof *o);
        if (!o)
            return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
        onnx__operator_set_id_proto__init(o);
        o->domain = ex_str(e, i == 0 ? "" : "ai.bnnc");
        o->has_version = true;
        o->version = i == 0 ? e->opset : 1;
        m->opset_import[i] = o;
    }
    if (e->oom)
        return bnn_fail(e->diag, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

/* protobuf-c's output buffer, appending to a file writer. */
typedef struct file_buffer {
    ProtobufCBuffer base;
    bnn_file_writer *writer;
} file_buffer;

static void file_buffer_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    bnn_file_writer_append(((file_buffer *)buffer)->writer, data, len);
}

bnn_status bnn_onnx_export_file(const bnn_graph *graph, const char *path, bnn_diag *diag)
{
    ex e = { .g = graph, .diag = diag };
    Onnx__ModelProto m;
    Onnx__GraphProto gp;
    bnn_status s = build_model(&e, &m, &gp);
    if (s == BNN_OK) {
        /* packed straight into the file: no second copy of the weights */
        file_buffer out = {.base = {.append = file_buffer_append}};
        s = bnn_file_writer_open(path, &out.writer, diag);
        if (s == BNN_OK) {
            onnx__model_proto__pack_to_buffer(&m, &out.base);
            s = bnn_file_writer_commit(out.writer, diag);
        }
    }
    for (int i = 0; i < e.n_ptrs; i++)
        free(e.ptrs[i]);
    free(e.ptrs);
    free(e.nodes);
    free(e.inits);
    return s;
}
