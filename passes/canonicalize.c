/* canonicalize: put the graph in the form the other passes expect.
 *
 *  - gemm(A, B, C) with a constant 2-D B, trans_a = 0 and a constant (or no)
 *    bias becomes dense(A, W, b) with W = alpha * B (transposed when
 *    trans_b = 0) and b = beta * C broadcast to [N];
 *  - matmul(x, B) with a constant 2-D B becomes dense(x, B^T), and a following
 *    add of a constant [N] (or [1,N] or one-element) bias is folded into it;
 *  - identity, dropout (an identity at inference; keep_dropout=true keeps
 *    it) and a reshape whose output shape equals its input shape are removed.
 *
 * A weight or bias read only by the rewritten node is rewritten in place and
 * keeps its name; a shared one is copied under a fresh name.
 */
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

static const bnn_pass_option_info canonicalize_options[] = {
    {"keep_dropout", "false", "keep dropout nodes (they are identities at inference)"},
};

/* The value `id` holding `data` with `shape`: overwritten in place when only
 * `users` uses of it exist, else a new param beside it. Returns the id or -1. */
static int rewrite_param(bnn_graph *g, int id, const bnn_shape *shape, const float *data,
                         int users)
{
    bnn_value *v = bnn_graph_value(g, id);
    size_t nbytes = (size_t)bnn_shape_numel(shape) * sizeof(float);
    if (bnn_graph_use_count(g, id) <= users && nbytes <= v->nbytes) {
        memcpy(v->data, data, nbytes);
        v->nbytes = nbytes;
        v->shape = *shape;
        return id;
    }
    char base[512];
    snprintf(base, sizeof base, "%s", v->name);
    return bnn_pass_add_param(g, base, shape, data, v->trainable);
}

/* A bias operand of width n: a param with n elements laid out as [n] or [1,n],
 * or one element to broadcast. */
static bool bias_fits(const bnn_graph *g, int id, int64_t n)
{
    if (!bnn_pass_is_f32_param(g, id))
        return false;
    const bnn_shape *s = &bnn_graph_value(g, id)->shape;
    int64_t numel = bnn_shape_numel(s);
    if (numel == 1)
        return true;
    return numel == n && (s->rank == 1 || (s->rank == 2 && s->dims[0] == 1));
}

/* Makes the [n] bias beta * C from C (id); -1 when out of memory. */
static int make_bias(bnn_graph *g, int id, int64_t n, double beta)
{
    const bnn_value *c = bnn_graph_value(g, id);
    bnn_shape shape = {.rank = 1, .dims = {n}};
    if (c->shape.rank == 1 && c->shape.dims[0] == n && beta == 1.0)
        return id;
    float *b = malloc(sizeof(float) * (size_t)n + 1);
    if (!b)
        return -1;
    const float *src = c->data;
    bool scalar = bnn_shape_numel(&c->shape) == 1;
    for (int64_t i = 0; i < n; i++)
        b[i] = (float)(beta * (double)src[scalar ? 0 : i]);
    int out = rewrite_param(g, id, &shape, b, 1);
    free(b);
    return out;
}

static bnn_status gemm_to_dense(bnn_graph *g, int node_id)
{
    bnn_node *n = bnn_graph_node(g, node_id);
    if (bnn_node_int(n, "trans_a", 0) != 0 || !bnn_pass_is_f32_param(g, n->inputs[1]))
        return BNN_OK;
    const bnn_value *bv = bnn_graph_value(g, n->inputs[1]);
    if (bv->shape.rank != 2)
        return BNN_OK;
    bool trans_b = bnn_node_int(n, "trans_b", 0) != 0;
    double alpha = bnn_node_float(n, "alpha", 1.0f), beta = bnn_node_float(n, "beta", 1.0f);
    int64_t rows = bv->shape.dims[0], cols = bv->shape.dims[1];
    int64_t out_n = trans_b ? rows : cols, in_k = trans_b ? cols : rows;
    int c_id = n->n_inputs > 2 ? n->inputs[2] : -1;
    if (c_id >= 0 && beta != 0.0 && !bias_fits(g, c_id, out_n))
        return BNN_OK;

    int w_id = n->inputs[1];
    if (!trans_b || alpha != 1.0) {
        float *w = malloc(sizeof(float) * (size_t)(out_n * in_k) + 1);
        if (!w)
            return BNN_ERR_NOMEM;
        const float *b = bv->data;
        for (int64_t o = 0; o < out_n; o++)
            for (int64_t k = 0; k < in_k; k++)
                w[o * in_k + k] = (float)(alpha * (double)(trans_b ? b[o * in_k + k]
                                                                   : b[k * out_n + o]));
        bnn_shape shape = {.rank = 2, .dims = {out_n, in_k}};
        w_id = rewrite_param(g, w_id, &shape, w, 1);
        free(w);
        if (w_id < 0)
            return BNN_ERR_NOMEM;
    }
    int b_id = -1;
    if (c_id >= 0 && beta != 0.0 && (b_id = make_bias(g, c_id, out_n, beta)) < 0)
        return BNN_ERR_NOMEM;
    n = bnn_graph_node(g, node_id);
    n->op = BNN_OP_DENSE;
    n->n_attrs = 0;
    n->attrs = NULL;
    BNN_TRY(bnn_pass_resize_inputs(g, node_id, b_id >= 0 ? 3 : 2));
    n->inputs[1] = w_id;
    if (b_id >= 0)
        n->inputs[2] = b_id;
    return BNN_OK;
}

/* The only live node reading value id, or -1. */
static int only_user(const bnn_graph *g, int id)
{
    if (bnn_graph_use_count(g, id) != 1 || bnn_pass_is_graph_output(g, id))
        return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = bnn_graph_node(g, i);
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == id)
                return i;
    }
    return -1;
}

static bnn_status matmul_to_dense(bnn_graph *g, int node_id)
{
    bnn_node *n = bnn_graph_node(g, node_id);
    int x = n->inputs[0], b_in = n->inputs[1], out = n->outputs[0];
    if (!bnn_pass_is_f32_param(g, b_in) || bnn_graph_value(g, b_in)->shape.rank != 2 ||
        bnn_graph_value(g, x)->shape.rank < 2)
        return BNN_OK;
    int64_t in_k = bnn_graph_value(g, b_in)->shape.dims[0];
    int64_t out_n = bnn_graph_value(g, b_in)->shape.dims[1];

    /* A following add of a constant bias that does not broadcast the result. */
    int add = only_user(g, out), c_id = -1;
    if (add >= 0) {
        const bnn_node *a = bnn_graph_node(g, add);
        int other = a->op == BNN_OP_ADD ? (a->inputs[0] == out ? a->inputs[1] : a->inputs[0])
                                        : -1;
        if (other >= 0 && other != out && bias_fits(g, other, out_n) &&
            bnn_shape_equal(&bnn_graph_value(g, a->outputs[0])->shape,
                            &bnn_graph_value(g, out)->shape))
            c_id = other;
        else
            add = -1;
    }

    float *w = malloc(sizeof(float) * (size_t)(out_n * in_k) + 1);
    if (!w)
        return BNN_ERR_NOMEM;
    const float *b = bnn_graph_value(g, b_in)->data;
    for (int64_t o = 0; o < out_n; o++)
        for (int64_t k = 0; k < in_k; k++)
            w[o * in_k + k] = b[k * out_n + o];
    bnn_shape shape = {.rank = 2, .dims = {out_n, in_k}};
    int w_id = rewrite_param(g, b_in, &shape, w, 1);
    free(w);
    if (w_id < 0)
        return BNN_ERR_NOMEM;
    int bias_id = -1;
    if (c_id >= 0 && (bias_id = make_bias(g, c_id, out_n, 1.0)) < 0)
        return BNN_ERR_NOMEM;

    BNN_TRY(bnn_pass_resize_inputs(g, node_id, bias_id >= 0 ? 3 : 2));
    n = bnn_graph_node(g, node_id);
    n->op = BNN_OP_DENSE;
    n->n_attrs = 0;
    n->attrs = NULL;
    n->inputs[1] = w_id;
    if (bias_id >= 0) {
        /* The dense takes over the add's result, so its name survives. */
        bnn_node *a = bnn_graph_node(g, add);
        int sum = a->outputs[0];
        a->dead = true;
        n->inputs[2] = bias_id;
        n->outputs[0] = sum;
        g->values[sum].producer = node_id;
        g->values[out].producer = -1;
    }
    return BNN_OK;
}

static bool is_noop_reshape(const bnn_graph *g, const bnn_node *n)
{
    const bnn_shape *in = &bnn_graph_value(g, n->inputs[0])->shape;
    const bnn_shape *out = &bnn_graph_value(g, n->outputs[0])->shape;
    if (in->rank < 0 || !bnn_shape_equal(in, out))
        return false;
    for (int i = 0; i < in->rank; i++)
        if (in->dims[i] == BNN_DIM_UNKNOWN)
            return false;
    return true;
}

static bnn_status run_canonicalize(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    bool keep_dropout;
    BNN_TRY(bnn_pass_arg_bool(args, "keep_dropout", &keep_dropout, diag));
    for (int i = 0; i < g->n_nodes; i++) {
        bnn_node *n = bnn_graph_node(g, i);
        if (n->dead)
            continue;
        bnn_status st = BNN_OK;
        switch (n->op) {
        case BNN_OP_GEMM: st = gemm_to_dense(g, i); break;
        case BNN_OP_MATMUL: st = matmul_to_dense(g, i); break;
        case BNN_OP_IDENTITY: bnn_pass_bypass_node(g, i); break;
        case BNN_OP_DROPOUT:
            if (!keep_dropout)
                bnn_pass_bypass_node(g, i);
            break;
        case BNN_OP_RESHAPE:
            if (is_noop_reshape(g, n))
                bnn_pass_bypass_node(g, i);
            break;
        default: break;
        }
        if (st != BNN_OK) {
            char label[300];
            return bnn_fail(diag, st, "%s: out of memory",
                            bnn_node_label(g, i, label, sizeof label));
        }
    }
    return BNN_OK;
}

static bnn_status check_canonicalize(const bnn_pass_args *args, bnn_diag *diag)
{
    bool keep;
    return bnn_pass_arg_bool(args, "keep_dropout", &keep, diag);
}

const bnn_pass_def bnn_pass_canonicalize = {
    .info = {"canonicalize",
             "gemm/matmul(+add) with constant weights into dense; drop identity, dropout, "
             "no-op reshape",
             canonicalize_options, 1},
    .check = check_canonicalize,
    .run = run_canonicalize,
};
