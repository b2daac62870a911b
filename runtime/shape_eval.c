/* Shape arithmetic evaluated once the inputs are bound.
 *
 * The importer folds what it can see statically; a model whose H and W are
 * only known at run time keeps a computed target shape (reshape's or pad's
 * second input: Shape -> Gather -> Concat -> ...).  Inference never reads
 * data, so such an output stays unknown and the plan would fail.  When a
 * session is created, after the input shapes are bound on its clone of the
 * graph, this walks the nodes in order: each is re-inferred, and a reshape,
 * pad, constant_of_shape or expand whose second input is still computed (a
 * slice's starts and ends, a range's bounds) gets that input evaluated (shape nodes from the now concrete shapes, the rest by
 * running their kernels on small integer tensors, constant_of_shape's among
 * them) and turned into its attribute, so everything after it infers
 * concrete shapes.  The nodes that computed it stay in the graph
 * and run as before (a few integer ops).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "shape_eval.h"

/* Integer tensors larger than this are not shape arithmetic. */
#define MAX_EVAL_ELEMS 4096
/* Producer chains deeper than this are not followed. */
#define MAX_EVAL_DEPTH 200

typedef struct eval_ctx {
    bnn_graph *g;
    int *producer;       /* per value: node id, -1 for inputs and params */
    bnn_tensor *vals;    /* per value: evaluated contents (owned when owns_data) */
    signed char *state;  /* per value: 0 not tried, 1 evaluated, -1 cannot */
} eval_ctx;

static bool index_type(bnn_dtype t)
{
    return t == BNN_I64 || t == BNN_I32 || t == BNN_BOOL;
}

static bool eval_value(eval_ctx *e, int v, int depth);

/* Shape's output from its input's concrete shape. */
static bool eval_shape_node(eval_ctx *e, const bnn_node *n, bnn_tensor *out)
{
    const bnn_shape *s = &e->g->values[n->inputs[0]].shape;
    if (s->rank < 0 || !bnn_shape_is_concrete(s))
        return false;
    int64_t lo = bnn_node_int(n, "start", 0), hi = bnn_node_int(n, "end", s->rank);
    if (lo < 0) lo += s->rank;
    if (hi < 0) hi += s->rank;
    lo = lo < 0 ? 0 : lo > s->rank ? s->rank : lo;
    hi = hi < 0 ? 0 : hi > s->rank ? s->rank : hi;
    if (hi < lo)
        hi = lo;
    bnn_shape os = { .rank = 1, .dims = { hi - lo } };
    bnn_diag d = { 0 };
    if (bnn_tensor_alloc(out, BNN_I64, &os, &d) != BNN_OK)
        return false;
    for (int64_t i = lo; i < hi; i++)
        ((int64_t *)out->data)[i - lo] = s->dims[i];
    return true;
}

/* Runs node n's kernel on evaluated inputs; fills e->vals of its outputs. */
static bool eval_by_kernel(eval_ctx *e, int node_id, int depth)
{
    bnn_node *n = &e->g->nodes[node_id];
    const bnn_kernel *k = bnn_kernel_get(n->op);
    if (!k || !k->forward || n->n_inputs > 16 || n->n_outputs > 8)
        return false;
    for (int i = 0; i < n->n_outputs; i++) {
        if (n->outputs[i] < 0)
            continue;
        const bnn_value *o = &e->g->values[n->outputs[i]];
        int64_t numel = bnn_shape_numel(&o->shape);
        if (!(index_type(o->dtype) || o->dtype == BNN_F32 || o->dtype == BNN_F64) ||
            !bnn_shape_is_concrete(&o->shape) || numel < 0 ||
            numel > MAX_EVAL_ELEMS)
            return false;
    }
    bnn_tensor in[16], out[8];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    for (int i = 0; i < n->n_inputs; i++) {
        if (n->inputs[i] < 0)
            continue;
        const bnn_value *iv = &e->g->values[n->inputs[i]];
        int64_t numel = bnn_shape_numel(&iv->shape);
        if (numel < 0 || numel > MAX_EVAL_ELEMS || !eval_value(e, n->inputs[i], depth + 1))
            return false;
        in[i] = e->vals[n->inputs[i]];
        in[i].owns_data = false;
    }
    bnn_diag d = { 0 };
    bool ok = true;
    for (int i = 0; i < n->n_outputs && ok; i++)
        if (n->outputs[i] >= 0)
            ok = bnn_tensor_alloc(&out[i], e->g->values[n->outputs[i]].dtype,
                                  &e->g->values[n->outputs[i]].shape, &d) == BNN_OK;
    bnn_kernel_args args = { .graph = e->g, .node = n, .node_id = node_id, .inputs = in,
                             .n_inputs = n->n_inputs, .outputs = out, .n_outputs = n->n_outputs };
    size_t scratch = ok && k->scratch_size ? k->scratch_size(&args) : 0;
    size_t state = ok && k->state_size ? k->state_size(&args) : 0;
    void *sp = NULL, *st = NULL;
    if (ok && scratch)
        ok = (sp = aligned_alloc(64, (scratch + 63) / 64 * 64)) != NULL;
    if (ok && state)
        ok = (st = aligned_alloc(64, (state + 63) / 64 * 64)) != NULL;
    args.scratch = sp;
    args.state = st;
    if (ok)
        ok = k->forward(&args, &d) == BNN_OK;
    free(sp);
    free(st);
    for (int i = 0; i < n->n_outputs; i++) {
        if (n->outputs[i] < 0)
            continue;
        if (ok) {
            e->vals[n->outputs[i]] = out[i];
            e->state[n->outputs[i]] = 1;
        } else {
            bnn_tensor_free(&out[i]);
        }
    }
    return ok;
}

static bool eval_value(eval_ctx *e, int v, int depth)
{
    if (e->state[v])
        return e->state[v] > 0;
    e->state[v] = -1;
    const bnn_value *val = &e->g->values[v];
    if (depth > MAX_EVAL_DEPTH)
        return false;
    if (val->kind == BNN_VALUE_PARAM) {
        if (!bnn_shape_is_concrete(&val->shape))
            return false;
        e->vals[v] = (bnn_tensor){ .dtype = val->dtype, .shape = val->shape, .data = val->data };
        e->state[v] = 1;
        return true;
    }
    int p = e->producer[v];
    if (p < 0)
        return false;
    const bnn_node *n = &e->g->nodes[p];
    if (n->op == BNN_OP_SHAPE) {
        if (!eval_shape_node(e, n, &e->vals[v]))
            return false;
        e->state[v] = 1;
        return true;
    }
    return eval_by_kernel(e, p, depth) && e->state[v] > 0;
}

/* The evaluated contents of v as int64 (n entries), or false. */
static bool read_ints(eval_ctx *e, int v, int64_t *out, int max, int *n)
{
    if (!eval_value(e, v, 0))
        return false;
    const bnn_tensor *t = &e->vals[v];
    int64_t numel = bnn_tensor_numel(t);
    if (t->shape.rank != 1 || numel > max || (t->dtype != BNN_I64 && t->dtype != BNN_I32))
        return false;
    for (int64_t i = 0; i < numel; i++)
        out[i] = t->dtype == BNN_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    *n = (int)numel;
    return true;
}

/* The ops whose inputs 1 (and 2), while the model computes them, are
 * shape-like attributes: which ones, and how many entries each may have. */
static const struct {
    bnn_op op;
    const char *attr[2]; /* input 1's, input 2's (NULL: input 2 is not one) */
    int max;
} computed_attrs[] = {
    { BNN_OP_RESHAPE, { "shape", NULL }, BNN_MAX_RANK },
    { BNN_OP_PAD, { "pads", NULL }, 2 * BNN_MAX_RANK },
    { BNN_OP_CONSTANT_OF_SHAPE, { "shape", NULL }, BNN_MAX_RANK },
    { BNN_OP_EXPAND, { "shape", NULL }, BNN_MAX_RANK },
    { BNN_OP_SLICE, { "starts", "ends" }, BNN_MAX_RANK },
};

/* Room in e's per-value arrays for values added since they were made. */
static bool grow(eval_ctx *e, int n_values, int *cap)
{
    if (n_values <= *cap)
        return true;
    int want = n_values * 2;
    int *p = realloc(e->producer, sizeof *p * (size_t)(want + 1));
    if (p)
        e->producer = p;
    bnn_tensor *v = p ? realloc(e->vals, sizeof *v * (size_t)(want + 1)) : NULL;
    if (v)
        e->vals = v;
    signed char *s = v ? realloc(e->state, (size_t)want + 1) : NULL;
    if (!s)
        return false;
    e->state = s;
    for (int i = *cap; i < want; i++) {
        e->producer[i] = -1;
        e->vals[i] = (bnn_tensor){ 0 };
        e->state[i] = 0;
    }
    *cap = want;
    return true;
}

/* A range whose bounds the model computes: each bound, evaluated, becomes
 * a param of its own in their place, so inference knows the length. */
static bnn_status fix_range(eval_ctx *e, int node_id, int *cap, bnn_diag *diag)
{
    bnn_graph *g = e->g;
    int bounds[3];
    for (int k = 0; k < 3; k++) {
        int v = g->nodes[node_id].inputs[k];
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            bounds[k] = v;
            continue;
        }
        if (!eval_value(e, v, 0) || bnn_tensor_numel(&e->vals[v]) != 1)
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "node '%s' (range): its bounds come from "
                            "the values of the data, not from shapes, and bnnc plans sizes "
                            "before it sees data", g->nodes[node_id].name);
        char name[300];
        snprintf(name, sizeof name, "%s.bound%d", g->nodes[node_id].name, k);
        const bnn_tensor *t = &e->vals[v];
        bnn_shape scalar = { .rank = 0 };
        bounds[k] = bnn_graph_add_param(g, name, t->dtype, &scalar, t->data,
                                        bnn_dtype_size(t->dtype), false);
        if (bounds[k] < 0 || !grow(e, g->n_values, cap))
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory evaluating shapes");
    }
    for (int k = 0; k < 3; k++)
        g->nodes[node_id].inputs[k] = bounds[k];
    return BNN_OK;
}

/* The computed_attrs row node n needs evaluated, or -1. */
static int wants_eval(const bnn_node *n)
{
    if (n->dead || n->n_inputs < 2 || n->inputs[1] < 0)
        return -1;
    for (int i = 0; i < (int)(sizeof computed_attrs / sizeof *computed_attrs); i++)
        if (computed_attrs[i].op == n->op)
            return i;
    return -1;
}

bnn_status bnn_shape_eval(bnn_graph *g, bnn_diag *diag)
{
    bool any = false;
    for (int i = 0; i < g->n_nodes && !any; i++)
        any = wants_eval(&g->nodes[i]) >= 0 || (!g->nodes[i].dead && g->nodes[i].op == BNN_OP_RANGE);
    if (!any)
        return BNN_OK;
    eval_ctx e = { .g = g };
    int cap = g->n_values; /* entries of e's per-value arrays */
    e.producer = malloc(sizeof *e.producer * (size_t)(g->n_values + 1));
    e.vals = calloc((size_t)g->n_values + 1, sizeof *e.vals);
    e.state = calloc((size_t)g->n_values + 1, 1);
    bnn_status st = BNN_OK;
    if (!e.producer || !e.vals || !e.state) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory evaluating shapes");
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        e.producer[v] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            for (int k = 0; k < g->nodes[i].n_outputs; k++)
                if (g->nodes[i].outputs[k] >= 0)
                    e.producer[g->nodes[i].outputs[k]] = i;
    for (int i = 0; i < g->n_nodes && st == BNN_OK; i++) {
        bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->op == BNN_OP_RANGE && !bnn_dim_is_known(g->values[n->outputs[0]].shape.dims[0])) {
            if ((st = fix_range(&e, i, &cap, diag)) != BNN_OK)
                break;
            n = &g->nodes[i];
        }
        if ((st = bnn_graph_infer_node(g, i, diag)) != BNN_OK)
            break;
        int row = wants_eval(n);
        if (row < 0)
            continue;
        int64_t v[2][2 * BNN_MAX_RANK];
        int count[2], k_max = computed_attrs[row].attr[1] ? 2 : 1;
        bool read = true;
        for (int k = 0; k < k_max && read; k++)
            read = n->n_inputs > k + 1 && n->inputs[k + 1] >= 0 &&
                   read_ints(&e, n->inputs[k + 1], v[k], computed_attrs[row].max, &count[k]);
        if (!read)
            continue; /* the planner names the value whose shape stays open */
        for (int k = 0; k < k_max && st == BNN_OK; k++)
            if (bnn_node_set_ints(g, i, computed_attrs[row].attr[k], v[k], count[k]) != BNN_OK)
                st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory evaluating shapes");
        if (st != BNN_OK)
            break;
        n = &g->nodes[i];
        for (int k = 1; k <= k_max; k++)
            n->inputs[k] = -1;
        while (n->n_inputs > 1 && n->inputs[n->n_inputs - 1] < 0) /* a pad's constant stays */
            n->n_inputs--;
        st = bnn_graph_infer_node(g, i, diag);
    }
out:
    for (int v = 0; e.vals && e.state && v < g->n_values && v < cap; v++)
        if (e.state[v] > 0 && e.vals[v].owns_data)
            bnn_tensor_free(&e.vals[v]);
    free(e.producer);
    free(e.vals);
    free(e.state);
    return st;
}
