/* Control flow: ONNX If, Loop and Scan, lowered into the flat IR at import.
 *
 * bnnc's runtime plans one static graph, so a subgraph is expanded in place,
 * the way model-local functions are (onnx_function.c), but during the walk:
 * the decision needs what the walk has folded so far (a condition computed
 * from shapes, a trip count from shape arithmetic).
 *
 * - If: a condition that is a constant at import (an initializer, a bound
 *   input, folded shape arithmetic) inlines the branch it picks, and the
 *   other is never read.  A condition computed from the data imports both
 *   branches and selects each output with `where`, which is exact when both
 *   branches can run on the data and give outputs of one type and shape;
 *   otherwise the import fails naming the node, the output and why.
 * - Loop: unrolled when the trip count is a constant at import and the
 *   condition (if any) is a constant in every iteration; the iteration
 *   number and the condition are constants in each copy of the body, so
 *   they fold.  A data-dependent trip count or exit fails, naming the node.
 * - Scan (opset 9 on): unrolled over the scan axis, whose length must be
 *   known at import (give it with --input-shape when the model leaves it
 *   symbolic); each step reads a slice of every scan input and the scan
 *   outputs are stacked (concat of unsqueezed steps), in either direction.
 *
 * Unrolling stops at ONNX_MAX_UNROLLED_NODES copied body nodes per model.
 * A body's names are renamed "NODE/then/x", "NODE/3/x" (iteration 3), so that
 * each copy has its own values; names a body reads from the enclosing graphs
 * resolve through the chain of scopes (ONNX forbids shadowing).  Outputs of
 * the ONNX node are identity nodes over the body's results (aliases, free at
 * run time), so they keep the names the model gives them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

/* Without a trip count, a loop that has not stopped after this many
 * iterations is taken to be data-dependent. */
#define MAX_OPEN_ITERATIONS 10000

struct onnx_cf_store {
    void **blocks; /* malloc'd memory owned here: names, node copies */
    size_t n_blocks, cap_blocks;
    size_t unrolled; /* body nodes copied so far */
};

/* A subgraph's names: local name -> name in the flat graph. */
typedef struct onnx_scope {
    const struct onnx_scope *parent;
    const char **keys, **vals; /* open addressing, cap a power of two */
    size_t cap;
} onnx_scope;

/* ---- owned memory ---------------------------------------------------------- */

static void *own(onnx_ctx *c, void *p)
{
    if (!p)
        return NULL;
    if (!c->cf) {
        c->cf = calloc(1, sizeof *c->cf);
        if (!c->cf) {
            free(p);
            return NULL;
        }
    }
    struct onnx_cf_store *st = c->cf;
    if (st->n_blocks == st->cap_blocks) {
        size_t cap = st->cap_blocks ? 2 * st->cap_blocks : 64;
        void **grown = realloc(st->blocks, cap * sizeof *grown);
        if (!grown) {
            free(p);
            return NULL;
        }
        st->blocks = grown;
        st->cap_blocks = cap;
    }
    st->blocks[st->n_blocks++] = p;
    return p;
}

static char *own_printf(onnx_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *own_printf(onnx_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return own(c, s);
}

void onnx_control_flow_release(onnx_ctx *c)
{
    if (!c->cf)
        return;
    for (size_t i = 0; i < c->cf->n_blocks; i++)
        free(c->cf->blocks[i]);
    free(c->cf->blocks);
    free(c->cf);
    c->cf = NULL;
}

/* ---- scopes ------------------------------------------------------------------ */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool scope_init(onnx_scope *sc, const onnx_scope *parent, size_t names)
{
    size_t cap = 16;
    while (cap < 2 * names + 2)
        cap *= 2;
    sc->parent = parent;
    sc->cap = cap;
    sc->keys = calloc(cap, sizeof *sc->keys);
    sc->vals = calloc(cap, sizeof *sc->vals);
    return sc->keys && sc->vals;
}

static void scope_free(onnx_scope *sc)
{
    free(sc->keys);
    free(sc->vals);
}

/* Maps key (borrowed) to val (borrowed); a second mapping of a key wins. */
static void scope_put(onnx_scope *sc, const char *key, const char *val)
{
    size_t mask = sc->cap - 1;
    for (size_t i = hash_name(key) & mask;; i = (i + 1) & mask)
        if (!sc->keys[i] || strcmp(sc->keys[i], key) == 0) {
            sc->keys[i] = key;
            sc->vals[i] = val;
            return;
        }
}

static bool scope_has(const onnx_scope *sc, const char *key)
{
    size_t mask = sc->cap - 1;
    for (size_t i = hash_name(key) & mask; sc->keys[i]; i = (i + 1) & mask)
        if (strcmp(sc->keys[i], key) == 0)
            return true;
    return false;
}

/* The flat name of a name a subgraph mentions: the innermost scope that
 * defines it decides; a name no scope defines is the top graph's. */
static const char *scope_resolve(const onnx_scope *sc, const char *name)
{
    if (!*name)
        return name;
    for (; sc; sc = sc->parent) {
        size_t mask = sc->cap - 1;
        for (size_t i = hash_name(name) & mask; sc->keys[i]; i = (i + 1) & mask)
            if (strcmp(sc->keys[i], name) == 0)
                return sc->vals[i];
    }
    return name;
}

/* ---- subgraph walks for the import's bookkeeping ------------------------------ */

static size_t graph_names(const Onnx__GraphProto *g);

size_t onnx_subgraph_names(const Onnx__NodeProto *node)
{
    size_t n = 0;
    for (size_t a = 0; a < node->n_attribute; a++) {
        const Onnx__AttributeProto *at = node->attribute[a];
        if (at->g)
            n += graph_names(at->g);
        for (size_t k = 0; k < at->n_graphs; k++)
            n += graph_names(at->graphs[k]);
    }
    return n;
}

static size_t graph_names(const Onnx__GraphProto *g)
{
    size_t n = g->n_input + g->n_output + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++)
        n += g->node[i]->n_input + g->node[i]->n_output + onnx_subgraph_names(g->node[i]);
    return n;
}

static void count_graph_uses(onnx_ctx *c, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; k < nd->n_input; k++)
            if (*onnx_str(nd->input[k])) {
                onnx_name_entry *e = onnx_name_insert(c, nd->input[k]);
                if (e)
                    e->uses++;
            }
        onnx_count_subgraph_uses(c, nd);
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (*onnx_str(g->output[i]->name)) {
            onnx_name_entry *e = onnx_name_insert(c, g->output[i]->name);
            if (e)
                e->uses++;
        }
}

void onnx_count_subgraph_uses(onnx_ctx *c, const Onnx__NodeProto *node)
{
    for (size_t a = 0; a < node->n_attribute; a++) {
        const Onnx__AttributeProto *at = node->attribute[a];
        if (at->g)
            count_graph_uses(c, at->g);
        for (size_t k = 0; k < at->n_graphs; k++)
            count_graph_uses(c, at->graphs[k]);
    }
}

/* ---- emitting IR around a body ---------------------------------------------- */

/* The subgraph attribute `name` of the current node. */
static bnn_status graph_attr(onnx_ctx *c, const char *name, const Onnx__GraphProto **out)
{
    const Onnx__AttributeProto *a = onnx_attr(c, name);
    if (!a)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' is missing", name);
    if (!a->g)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' is not a graph", name);
    *out = a->g;
    return BNN_OK;
}

/* A node of op over ins whose one output is a new value named after base
 * (fresh), or exactly `exact` when given; *nid and *out get its ids. */
static bnn_status emit(onnx_ctx *c, bnn_op op, const int *ins, int n, const char *base,
                       const char *exact, int *nid, int *out)
{
    const char *name = exact;
    if (!name) {
        char buf[512];
        name = own_printf(c, "%s", onnx_fresh_name(c, base, buf, sizeof buf));
        if (!name)
            return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    *out = bnn_graph_add_value(c->g, name, BNN_UNDEFINED, NULL);
    if (*out < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "cannot create value '%s'", name);
    BNN_TRY(onnx_bind_name(c, name, *out));
    /* named after its value: an unrolled body makes many nodes of one ONNX
     * node, and node names stay unique as ONNX wants */
    *nid = bnn_graph_add_node(c->g, op, name, ins, n, out, 1);
    if (*nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

/* ONNX output k of the current node as an identity of value src (keeping
 * known shape-arithmetic contents), when the output is named. */
static bnn_status output_identity(onnx_ctx *c, int k, int src)
{
    if ((size_t)k >= c->node->n_output || !*onnx_str(c->node->output[k]))
        return BNN_OK;
    int nid, out;
    BNN_TRY(emit(c, BNN_OP_IDENTITY, &src, 1, NULL, c->node->output[k], &nid, &out));
    BNN_TRY(onnx_infer(c, nid));
    onnx_known k2;
    if (onnx_known_get(c, src, &k2))
        BNN_TRY(onnx_known_set(c, out, k2.rank, k2.v, k2.n, k2.sym));
    return BNN_OK;
}

/* A one-element constant param as an integer (bool, integer or float),
 * looking through identity and cast nodes. */
static bool const_scalar(onnx_ctx *c, int id, int64_t *out)
{
    for (int hops = 0; id >= 0 && hops < 64; hops++) {
        const bnn_value *v = onnx_val(c, id);
        if (v->kind == BNN_VALUE_PARAM) {
            if (bnn_shape_numel(&v->shape) != 1)
                return false;
            switch (v->dtype) {
            case BNN_BOOL: case BNN_U8: *out = *(const uint8_t *)v->data; return true;
            case BNN_I8: *out = *(const int8_t *)v->data; return true;
            case BNN_I16: *out = *(const int16_t *)v->data; return true;
            case BNN_U16: *out = *(const uint16_t *)v->data; return true;
            case BNN_I32: *out = *(const int32_t *)v->data; return true;
            case BNN_U32: *out = *(const uint32_t *)v->data; return true;
            case BNN_I64: case BNN_U64: *out = *(const int64_t *)v->data; return true;
            case BNN_F32: *out = *(const float *)v->data != 0.0f; return true;
            case BNN_F64: *out = *(const double *)v->data != 0.0; return true;
            default: return false;
            }
        }
        if (v->kind != BNN_VALUE_NODE)
            break;
        const bnn_node *p = bnn_graph_node(c->g, v->producer);
        if (p->op != BNN_OP_IDENTITY && !(p->op == BNN_OP_CAST && onnx_val(c, p->inputs[0])->dtype != BNN_F32))
            break;
        id = p->inputs[0];
    }
    onnx_known k;
    if (onnx_known_get(c, id, &k) && k.n == 1 && !(k.sym & 1)) {
        *out = k.v[0];
        return true;
    }
    return false;
}

/* The name of the value that computes id, for messages. */
static const char *producer_name(onnx_ctx *c, int id)
{
    const bnn_value *v = onnx_val(c, id);
    if (v->kind == BNN_VALUE_INPUT)
        return v->name;
    if (v->kind == BNN_VALUE_NODE && *bnn_graph_node(c->g, v->producer)->name)
        return bnn_graph_node(c->g, v->producer)->name;
    return v->name;
}

/* A constant param named after base. */
static bnn_status const_param(onnx_ctx *c, const char *base, bnn_dtype dt, int64_t v, int *id,
                              const char **name)
{
    char buf[512];
    *name = own_printf(c, "%s", onnx_fresh_name(c, base, buf, sizeof buf));
    if (!*name)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    bnn_shape scalar = { .rank = 0 };
    uint8_t b = v != 0;
    *id = dt == BNN_BOOL ? bnn_graph_add_param(c->g, *name, dt, &scalar, &b, 1, false)
                         : bnn_graph_add_param(c->g, *name, dt, &scalar, &v, sizeof v, false);
    if (*id < 0)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    return onnx_bind_name(c, *name, *id);
}

/* ---- expanding one body ------------------------------------------------------ */

/* Lowers a copy of body into the flat graph: its inputs read the flat names
 * actual[0..n_input-1], every name it defines gets prefix "PREFIX/", and
 * out[k] gets the value id of its output k.  The current node (the If, Loop
 * or Scan) is restored afterwards.  `what` names the body in messages
 * ("then branch", "iteration 3"). */
static bnn_status expand_body(onnx_ctx *c, const Onnx__GraphProto *body, const char *prefix,
                              const char *const *actual, int *out, const char *what)
{
    if (body->n_sparse_initializer)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "%s: sparse initializers are not supported", what);
    if (!c->cf && !own(c, malloc(1)))
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    c->cf->unrolled += body->n_node + 1; /* an empty body still costs an iteration */
    if (c->cf->unrolled > ONNX_MAX_UNROLLED_NODES)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "%s: expanding control flow would copy more than %d body nodes (bnnc unrolls loops at import)",
                              what, ONNX_MAX_UNROLLED_NODES);
    size_t names = body->n_input + body->n_initializer;
    for (size_t i = 0; i < body->n_node; i++)
        names += body->node[i]->n_output;
    onnx_scope sc;
    if (!scope_init(&sc, c->scope, names)) {
        scope_free(&sc);
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    bnn_status s = BNN_OK;
    const Onnx__NodeProto **copies = NULL;
    bool *fused = NULL;
    /* Saved walk state. */
    const Onnx__NodeProto *node = c->node;
    const char *node_name = c->node_name;
    const Onnx__NodeProto **order = c->order;
    int n_order = c->n_order, cur = c->cur;
    bool *saved_fused = c->fused;
    const onnx_scope *saved_scope = c->scope;

    for (size_t i = 0; i < body->n_input; i++)
        scope_put(&sc, onnx_str(body->input[i]->name), actual[i]);
    for (size_t i = 0; i < body->n_initializer && s == BNN_OK; i++) {
        const char *local = onnx_str(body->initializer[i]->name);
        const char *flat = own_printf(c, "%s/%s", prefix, local);
        if (!flat) {
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
            break;
        }
        scope_put(&sc, local, flat);
        s = onnx_add_initializer(c, body->initializer[i], flat);
    }
    for (size_t i = 0; i < body->n_node && s == BNN_OK; i++)
        for (size_t k = 0; k < body->node[i]->n_output && s == BNN_OK; k++) {
            const char *local = onnx_str(body->node[i]->output[k]);
            if (!*local)
                continue;
            if (scope_has(&sc, local)) {
                s = onnx_node_fail(c, BNN_ERR_INVALID, "%s: '%s' is defined twice", what, local);
                break;
            }
            const char *flat = own_printf(c, "%s/%s", prefix, local);
            if (!flat)
                s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
            else
                scope_put(&sc, local, flat);
        }
    /* Renamed copies of the nodes; their subgraphs resolve through sc. */
    size_t nn = body->n_node;
    if (s == BNN_OK) {
        copies = calloc(nn ? nn : 1, sizeof *copies);
        fused = calloc(nn ? nn : 1, sizeof *fused);
        if (!copies || !fused)
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nn && s == BNN_OK; i++) {
        const Onnx__NodeProto *src = body->node[i];
        Onnx__NodeProto *cp = own(c, malloc(sizeof *cp));
        char **ins = own(c, malloc(sizeof(char *) * (src->n_input + 1)));
        char **outs = own(c, malloc(sizeof(char *) * (src->n_output + 1)));
        char *nm = *onnx_str(src->name) ? own_printf(c, "%s/%s", prefix, src->name)
                                        : own_printf(c, "%s/%s_%zu", prefix, onnx_str(src->op_type), i);
        if (!cp || !ins || !outs || !nm) {
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
            break;
        }
        *cp = *src;
        for (size_t k = 0; k < src->n_input; k++) {
            ins[k] = (char *)scope_resolve(&sc, onnx_str(src->input[k]));
            if (*ins[k]) {
                onnx_name_entry *e = onnx_name_insert(c, ins[k]);
                if (!e) {
                    s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
                    break;
                }
                e->uses++;
            }
        }
        for (size_t k = 0; k < src->n_output; k++) {
            outs[k] = (char *)scope_resolve(&sc, onnx_str(src->output[k]));
            if (*outs[k] && !onnx_name_insert(c, outs[k]))
                s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        }
        cp->input = ins;
        cp->output = outs;
        cp->name = nm;
        copies[i] = cp;
    }
    for (size_t i = 0; i < body->n_output && s == BNN_OK; i++) {
        const char *flat = scope_resolve(&sc, onnx_str(body->output[i]->name));
        onnx_name_entry *e = *flat ? onnx_name_insert(c, flat) : NULL;
        if (!e)
            s = *flat ? bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory")
                      : onnx_node_fail(c, BNN_ERR_INVALID, "%s: output %zu has no name", what, i);
        else
            e->uses++;
    }
    if (s == BNN_OK) {
        c->order = copies;
        c->n_order = (int)nn;
        c->fused = fused;
        c->scope = &sc;
        for (size_t i = 0; i < nn && s == BNN_OK; i++) {
            if (fused[i])
                continue;
            c->cur = (int)i;
            c->node = copies[i];
            c->node_name = copies[i]->name;
            s = onnx_lower_current(c);
        }
        c->order = order;
        c->n_order = n_order;
        c->cur = cur;
        c->fused = saved_fused;
        c->scope = saved_scope;
        c->node = node;
        c->node_name = node_name;
    }
    for (size_t i = 0; i < body->n_output && s == BNN_OK; i++) {
        const char *flat = scope_resolve(&sc, onnx_str(body->output[i]->name));
        onnx_name_entry *e = onnx_name_lookup(c, flat);
        out[i] = e ? e->value_id : -1;
        if (out[i] < 0)
            s = onnx_node_fail(c, BNN_ERR_INVALID, "%s: output '%s' is not defined", what,
                               onnx_str(body->output[i]->name));
    }
    free(copies);
    free(fused);
    scope_free(&sc);
    return s;
}

/* A prefix for a body's names that no name of the import uses yet. */
static const char *body_prefix(onnx_ctx *c, const char *tag)
{
    char *p = own_printf(c, "%s/%s", c->node_name, tag);
    for (int k = 1; p && onnx_name_lookup(c, p); k++)
        p = own_printf(c, "%s#%d/%s", c->node_name, k, tag);
    if (p && !onnx_name_insert(c, p)) /* reserve it */
        return NULL;
    return p;
}

/* ---- If ------------------------------------------------------------------------ */

bnn_status onnx_lower_if(onnx_ctx *c)
{
    int cond;
    BNN_TRY(onnx_need_input(c, 0, &cond));
    const Onnx__GraphProto *then_g = NULL, *else_g = NULL; /* for gcc -O3 */
    BNN_TRY(graph_attr(c, "then_branch", &then_g));
    BNN_TRY(graph_attr(c, "else_branch", &else_g));
    size_t n_out = c->node->n_output;
    if (then_g->n_input || else_g->n_input)
        return onnx_node_fail(c, BNN_ERR_INVALID, "a branch has inputs (If branches take none)");
    if (then_g->n_output != n_out || else_g->n_output != n_out)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %zu outputs, but its branches have %zu and %zu",
                              n_out, then_g->n_output, else_g->n_output);
    if (bnn_shape_numel(&onnx_val(c, cond)->shape) > 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "the condition has more than one element");
    int *a = calloc(n_out + 1, sizeof *a), *b = calloc(n_out + 1, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    bnn_status s = BNN_OK;
    int64_t taken;
    if (const_scalar(c, cond, &taken)) {
        const char *prefix = body_prefix(c, taken ? "then" : "else");
        if (!prefix)
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        else
            s = expand_body(c, taken ? then_g : else_g, prefix, NULL, a,
                            taken ? "then branch" : "else branch");
        for (size_t k = 0; k < n_out && s == BNN_OK; k++)
            s = output_identity(c, (int)k, a[k]);
    } else {
        /* The condition is data: both branches run, `where` picks. */
        const char *tp = body_prefix(c, "then"), *ep = body_prefix(c, "else");
        if (!tp || !ep)
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        if (s == BNN_OK)
            s = expand_body(c, then_g, tp, NULL, a, "then branch");
        if (s == BNN_OK)
            s = expand_body(c, else_g, ep, NULL, b, "else branch");
        const bnn_value *cv = onnx_val(c, cond);
        if (s == BNN_OK && cv->dtype != BNN_BOOL)
            s = onnx_node_fail(c, BNN_ERR_INVALID, "the condition is %s, not bool", bnn_dtype_name(cv->dtype));
        for (size_t k = 0; k < n_out && s == BNN_OK; k++) {
            if (!*onnx_str(c->node->output[k]))
                continue;
            const bnn_value *x = onnx_val(c, a[k]), *y = onnx_val(c, b[k]);
            char tx[96], ty[96];
            if (x->dtype != y->dtype || !bnn_shape_equal(&x->shape, &y->shape) || x->shape.rank < 0 ||
                x->shape.rank < cv->shape.rank) {
                s = onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                   "the condition is computed from the input data (by '%s') and output %zu differs between the branches (%s, %s): bnnc needs a condition it can fold at import, or branches of one type and shape",
                                   producer_name(c, cond), k,
                                   bnn_type_text(c->g, x->dtype, &x->shape, tx, sizeof tx),
                                   bnn_type_text(c->g, y->dtype, &y->shape, ty, sizeof ty));
                break;
            }
            int ins[3] = { cond, a[k], b[k] }, nid, out;
            s = emit(c, BNN_OP_WHERE, ins, 3, NULL, c->node->output[k], &nid, &out);
            if (s == BNN_OK)
                s = onnx_infer(c, nid);
        }
    }
    free(a);
    free(b);
    return s;
}

/* ---- Loop ---------------------------------------------------------------------- */

/* Stacks the per-step values vals[0..n-1] along a new axis (reversed when
 * reverse), as ONNX output k of the current node. */
static bnn_status stack_output(onnx_ctx *c, int k, const int *vals, int n, int64_t axis, bool reverse)
{
    if ((size_t)k >= c->node->n_output || !*onnx_str(c->node->output[k]))
        return BNN_OK;
    if (n == 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "runs zero times, so its scan output %d would be empty (not supported)", k);
    int *parts = malloc(sizeof(int) * (size_t)n);
    if (!parts)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    bnn_status s = BNN_OK;
    int64_t ax = axis;
    for (int t = 0; t < n && s == BNN_OK; t++) {
        int src = vals[reverse ? n - 1 - t : t], nid;
        const bnn_value *v = onnx_val(c, src);
        if (v->shape.rank < 0) {
            s = onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "scan output %d has an unknown rank", k);
            break;
        }
        if (axis < 0)
            ax = axis + v->shape.rank + 1;
        if (ax < 0 || ax > v->shape.rank) {
            s = onnx_node_fail(c, BNN_ERR_INVALID, "scan output axis %lld is out of range for rank %d",
                               (long long)axis, v->shape.rank + 1);
            break;
        }
        char base[300];
        snprintf(base, sizeof base, "%s:step%d", onnx_str(c->node->output[k]), t);
        s = emit(c, BNN_OP_UNSQUEEZE, &src, 1, base, n == 1 ? c->node->output[k] : NULL, &nid, &parts[t]);
        if (s == BNN_OK)
            s = onnx_set_ints(c, nid, "axes", &ax, 1);
        if (s == BNN_OK)
            s = onnx_infer(c, nid);
    }
    if (s == BNN_OK && n > 1) {
        int nid, out;
        s = emit(c, BNN_OP_CONCAT, parts, n, NULL, c->node->output[k], &nid, &out);
        if (s == BNN_OK)
            s = onnx_set_int(c, nid, "axis", ax);
        if (s == BNN_OK)
            s = onnx_infer(c, nid);
    }
    free(parts);
    return s;
}

bnn_status onnx_lower_loop(onnx_ctx *c)
{
    const Onnx__GraphProto *body = NULL; /* set by graph_attr (gcc -O3 cannot see it) */
    BNN_TRY(graph_attr(c, "body", &body));
    int n_in = onnx_n_inputs(c);
    if (n_in < 2)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %d inputs; Loop takes M, cond and the loop-carried values", n_in);
    size_t n_carried = (size_t)n_in - 2;
    if (body->n_input != n_carried + 2 || body->n_output < n_carried + 1)
        return onnx_node_fail(c, BNN_ERR_INVALID,
                              "its body has %zu inputs and %zu outputs, but %zu loop-carried values need %zu inputs and at least %zu outputs",
                              body->n_input, body->n_output, n_carried, n_carried + 2, n_carried + 1);
    size_t n_scan = body->n_output - 1 - n_carried;
    if (c->node->n_output > n_carried + n_scan)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %zu outputs, more than its body gives (%zu)",
                              c->node->n_output, n_carried + n_scan);
    int m_id = onnx_input(c, 0), cond_id = onnx_input(c, 1);
    int64_t trips = -1, cond = 1;
    if (m_id >= 0 && !const_scalar(c, m_id, &trips))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "the trip count is computed from the input data (by '%s'); bnnc unrolls a Loop at import, so its trip count must fold to a constant",
                              producer_name(c, m_id));
    if (cond_id >= 0 && !const_scalar(c, cond_id, &cond))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "the initial condition is computed from the input data (by '%s'); bnnc unrolls a Loop at import, so it must fold to a constant",
                              producer_name(c, cond_id));
    if (m_id < 0 && cond_id < 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "has neither a trip count nor a condition: it never stops");
    if (trips < 0)
        trips = m_id >= 0 ? 0 : MAX_OPEN_ITERATIONS + 1;
    /* Without a condition every iteration runs: refuse a count that cannot
     * fit the unrolling budget now rather than after copying up to it. */
    size_t done = c->cf ? c->cf->unrolled : 0;
    if (cond_id < 0 && (uint64_t)trips > (ONNX_MAX_UNROLLED_NODES - done) / (body->n_node + 1))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "runs %lld iterations of %zu nodes: unrolling it would copy more than %d body nodes (bnnc unrolls loops at import)",
                              (long long)trips, body->n_node, ONNX_MAX_UNROLLED_NODES);
    size_t n_body_in = body->n_input;
    const char **actual = calloc(n_body_in, sizeof *actual);
    int *outs = calloc(body->n_output, sizeof *outs);
    int *carried = calloc(n_carried + 1, sizeof *carried);
    int *scans = NULL; /* [step][n_scan] */
    size_t cap_steps = 0;
    bnn_status s = BNN_OK;
    if (!actual || !outs || !carried)
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n_carried && s == BNN_OK; k++) {
        carried[k] = onnx_input(c, (int)k + 2);
        if (carried[k] < 0)
            s = onnx_node_fail(c, BNN_ERR_INVALID, "loop-carried input %zu is missing", k);
    }
    int64_t t = 0;
    for (; s == BNN_OK && t < trips && cond; t++) {
        if (m_id < 0 && t >= MAX_OPEN_ITERATIONS) {
            s = onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                               "has no trip count and its condition still holds after %d iterations", MAX_OPEN_ITERATIONS);
            break;
        }
        char tag[32], what[64];
        snprintf(tag, sizeof tag, "%lld", (long long)t);
        snprintf(what, sizeof what, "iteration %lld", (long long)t);
        const char *prefix = body_prefix(c, tag);
        if (!prefix) {
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
            break;
        }
        char base[600];
        int id;
        snprintf(base, sizeof base, "%s:iter", prefix);
        s = const_param(c, base, BNN_I64, t, &id, &actual[0]);
        snprintf(base, sizeof base, "%s:cond", prefix);
        if (s == BNN_OK)
            s = const_param(c, base, BNN_BOOL, 1, &id, &actual[1]);
        for (size_t k = 0; k < n_carried && s == BNN_OK; k++)
            actual[k + 2] = onnx_val(c, carried[k])->name;
        if (s == BNN_OK)
            s = expand_body(c, body, prefix, actual, outs, what);
        if (s != BNN_OK)
            break;
        for (size_t k = 0; k < n_carried; k++)
            carried[k] = outs[k + 1];
        if ((size_t)t >= cap_steps) {
            size_t cap = cap_steps ? 2 * cap_steps : 16;
            int *grown = realloc(scans, sizeof(int) * cap * (n_scan + 1));
            if (!grown) {
                s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
                break;
            }
            scans = grown;
            cap_steps = cap;
        }
        for (size_t k = 0; k < n_scan; k++)
            scans[(size_t)t * n_scan + k] = outs[1 + n_carried + k];
        if (cond_id >= 0 && !const_scalar(c, outs[0], &cond))
            s = onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                               "the condition computed in iteration %lld depends on the input data (by '%s'); bnnc unrolls a Loop at import, so its exit must fold to a constant",
                               (long long)t, producer_name(c, outs[0]));
    }
    for (size_t k = 0; k < n_carried && s == BNN_OK; k++)
        s = output_identity(c, (int)k, carried[k]);
    int *col = malloc(sizeof(int) * ((size_t)t + 1));
    if (s == BNN_OK && !col)
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n_scan && s == BNN_OK; k++) {
        for (int64_t i = 0; i < t; i++)
            col[i] = scans[(size_t)i * n_scan + k];
        s = stack_output(c, (int)(n_carried + k), col, (int)t, 0, false);
    }
    free(col);
    free(scans);
    free(actual);
    free(outs);
    free(carried);
    return s;
}

/* ---- Scan ------------------------------------------------------------------------ */

/* attribute `name` entry i, or 0 when absent. */
static bnn_status int_list_at(onnx_ctx *c, const char *name, size_t n, size_t i, int64_t *out)
{
    const int64_t *v;
    int count;
    BNN_TRY(onnx_attr_ints(c, name, &v, &count));
    *out = 0;
    if (count < 0)
        return BNN_OK;
    if ((size_t)count != n)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %d entries, expected %zu", name, count, n);
    *out = v[i];
    return BNN_OK;
}

bnn_status onnx_lower_scan(onnx_ctx *c)
{
    if (c->opset < 9)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "Scan before opset 9 (batched, with sequence_lens) is not supported");
    const Onnx__GraphProto *body = NULL; /* set by graph_attr (gcc -O3 cannot see it) */
    BNN_TRY(graph_attr(c, "body", &body));
    int64_t n_scan_in;
    BNN_TRY(onnx_attr_int(c, "num_scan_inputs", -1, &n_scan_in));
    int n_in = onnx_n_inputs(c);
    if (n_scan_in < 1 || n_scan_in > n_in)
        return onnx_node_fail(c, BNN_ERR_INVALID, "num_scan_inputs %lld is out of range (the node has %d inputs)",
                              (long long)n_scan_in, n_in);
    size_t n_state = (size_t)(n_in - n_scan_in);
    if (body->n_input != (size_t)n_in || body->n_output < n_state)
        return onnx_node_fail(c, BNN_ERR_INVALID, "its body has %zu inputs and %zu outputs; %d inputs need as many",
                              body->n_input, body->n_output, n_in);
    size_t n_scan_out = body->n_output - n_state;
    /* The sequence length, and each scan input's axis and direction. */
    int64_t T = -1;
    int64_t axes[64], dirs[64];
    if (n_scan_in > 64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "more than 64 scan inputs");
    int xs[64];
    for (int64_t j = 0; j < n_scan_in; j++) {
        BNN_TRY(onnx_need_input(c, (int)(n_state + (size_t)j), &xs[j]));
        BNN_TRY(int_list_at(c, "scan_input_axes", (size_t)n_scan_in, (size_t)j, &axes[j]));
        BNN_TRY(int_list_at(c, "scan_input_directions", (size_t)n_scan_in, (size_t)j, &dirs[j]));
        const bnn_value *x = onnx_val(c, xs[j]);
        if (x->shape.rank < 1)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "scan input %lld has %s rank", (long long)j,
                                  x->shape.rank < 0 ? "an unknown" : "zero");
        if (axes[j] < 0)
            axes[j] += x->shape.rank;
        if (axes[j] < 0 || axes[j] >= x->shape.rank)
            return onnx_node_fail(c, BNN_ERR_INVALID, "scan input %lld: axis out of range", (long long)j);
        int64_t len = x->shape.dims[axes[j]];
        if (!bnn_dim_is_known(len))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                  "scan input '%s' has no fixed length along axis %lld; bnnc unrolls Scan at import (fix it with --input-shape)",
                                  x->name, (long long)axes[j]);
        if (T >= 0 && len != T)
            return onnx_node_fail(c, BNN_ERR_INVALID, "scan inputs have different lengths (%lld, %lld)",
                                  (long long)T, (long long)len);
        T = len;
    }
    const char **actual = calloc((size_t)n_in, sizeof *actual);
    int *outs = calloc(body->n_output, sizeof *outs);
    int *state = calloc(n_state + 1, sizeof *state);
    int *scans = malloc(sizeof(int) * ((size_t)T * n_scan_out + 1));
    bnn_status s = BNN_OK;
    if (!actual || !outs || !state || !scans)
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n_state && s == BNN_OK; k++)
        s = onnx_need_input(c, (int)k, &state[k]);
    for (int64_t t = 0; t < T && s == BNN_OK; t++) {
        char tag[32], what[64];
        snprintf(tag, sizeof tag, "%lld", (long long)t);
        snprintf(what, sizeof what, "step %lld", (long long)t);
        const char *prefix = body_prefix(c, tag);
        if (!prefix) {
            s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < n_state; k++)
            actual[k] = onnx_val(c, state[k])->name;
        for (int64_t j = 0; j < n_scan_in && s == BNN_OK; j++) {
            int64_t at = dirs[j] ? T - 1 - t : t, end = at + 1, one = 1;
            char base[600];
            snprintf(base, sizeof base, "%s:in%lld", prefix, (long long)j);
            int nid, sl, sq;
            s = emit(c, BNN_OP_SLICE, &xs[j], 1, base, NULL, &nid, &sl);
            if (s == BNN_OK)
                s = onnx_set_ints(c, nid, "starts", &at, 1);
            if (s == BNN_OK)
                s = onnx_set_ints(c, nid, "ends", &end, 1);
            if (s == BNN_OK)
                s = onnx_set_ints(c, nid, "axes", &axes[j], 1);
            if (s == BNN_OK)
                s = onnx_set_ints(c, nid, "steps", &one, 1);
            if (s == BNN_OK)
                s = onnx_infer(c, nid);
            if (s == BNN_OK)
                s = emit(c, BNN_OP_SQUEEZE, &sl, 1, base, NULL, &nid, &sq);
            if (s == BNN_OK)
                s = onnx_set_ints(c, nid, "axes", &axes[j], 1);
            if (s == BNN_OK)
                s = onnx_infer(c, nid);
            if (s == BNN_OK)
                actual[n_state + (size_t)j] = onnx_val(c, sq)->name;
        }
        if (s == BNN_OK)
            s = expand_body(c, body, prefix, actual, outs, what);
        if (s != BNN_OK)
            break;
        for (size_t k = 0; k < n_state; k++)
            state[k] = outs[k];
        for (size_t k = 0; k < n_scan_out; k++)
            scans[(size_t)t * n_scan_out + k] = outs[n_state + k];
    }
    for (size_t k = 0; k < n_state && s == BNN_OK; k++)
        s = output_identity(c, (int)k, state[k]);
    int *col = malloc(sizeof(int) * ((size_t)T + 1));
    if (s == BNN_OK && !col)
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n_scan_out && s == BNN_OK; k++) {
        int64_t axis, dir;
        s = int_list_at(c, "scan_output_axes", n_scan_out, k, &axis);
        if (s == BNN_OK)
            s = int_list_at(c, "scan_output_directions", n_scan_out, k, &dir);
        for (int64_t i = 0; i < T && s == BNN_OK; i++)
            col[i] = scans[(size_t)i * n_scan_out + k];
        if (s == BNN_OK)
            s = stack_output(c, (int)(n_state + k), col, (int)T, axis, dir != 0);
    }
    free(col);
    free(scans);
    free(actual);
    free(outs);
    free(state);
    return s;
}
