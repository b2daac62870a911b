/* bnn-to-moments: rewrite a graph with Bayesian layers into one that carries a
 * mean and a variance for every activation (a diagonal Gaussian: units are
 * taken as independent), so that one forward run gives the predictive
 * distribution that Monte-Carlo sampling estimates with many.
 *
 * Every value x of the original graph gets a mean M(x) and a variance V(x);
 * V(x) is "none" (exactly zero) until the first Bayesian layer, so the part
 * of the graph before it is left as it is.  Each node keeps its place and its
 * output value, which becomes the mean; the variance is built beside it from
 * standard ops wherever possible, so the moment graph exports as plain ONNX:
 *
 *   bnn.dense_reparam / bnn.conv_reparam (any estimator: the output's
 *   marginal is the same), W ~ N(mu, s^2), b ~ N(bmu, bs^2):
 *     M = layer(M(x), mu, bmu)
 *     V = layer(M(x)^2 + V(x), s^2, bs^2) + layer(V(x), mu^2)
 *       = layer([M(x)^2 | V(x)], [s^2 | mu^2 + s^2], bs^2)
 *     the second form (inputs concatenated on axis 1, weights stacked the
 *     same way) is what is emitted for dense layers and one-group convs: one
 *     product instead of two and an add
 *   dense / conv1d / conv2d with a fixed W:  M = layer(M(x), W, b),
 *                                            V = layer(V(x), W^2)
 *   relu, leaky_relu, sigmoid, tanh, max_pool:  moments.* ops (runtime/
 *     kernels/moments.c: exact for relu, quadrature for sigmoid/tanh, Clark's
 *     max for max-pool)
 *   avg_pool: V = avg_pool(V(x)) / count (no padding, or count_include_pad)
 *   global_avg_pool: V = global_avg_pool(V(x)) / (spatial size)
 *   batch_norm: V = V(x) * scale^2 / (running_var + epsilon)
 *   flatten, reshape, transpose, squeeze, unsqueeze, slice, expand, tile,
 *   identity, dropout, pad (variance padded with 0), concat: the same op on
 *   the variance
 *   add / sub: V = V(a) + V(b) (independent operands, also for a residual
 *   add whose branches share an input: an approximation, documented)
 *   mul / div by a fixed operand c: V = V(x) * c^2 (/ c^2); mul of two
 *   random operands: V = Va Vb + Va Mb^2 + Vb Ma^2
 *   neg: V unchanged
 *
 * mode=glm gives the linearised network instead (issue 12): the mean is the
 * network at the posterior mean, nonlinearities pass the variance through
 * their squared derivative there (moments.* with linear=1), and a Bayesian
 * layer drops the second-order term: V = layer(M(x)^2, s^2, bs^2) +
 * layer(V(x), mu^2).
 *
 * Outputs.  A graph output made by softmax or log_softmax is a classifier's
 * head: the softmax is applied with the probit approximation to the logits'
 * Gaussian, softmax(M / sqrt(1 + pi/8 V)) (link=probit also does this to an
 * output of logits); the logits' mean and variance are appended as outputs
 * "<logits>" and "<logits>_var".  Any other output keeps its place as the
 * mean, and its variance "<out>_var" is appended.  So a classifier's moment
 * graph gives (probabilities, logits mean, logits variance), a regressor's
 * (mean, variance).  With covariance=1, when a dense layer makes a
 * classifier's logits from an input with variance, their full covariance
 * W diag(V(x)) W^T + diag(weight noise) follows as a fourth output
 * "<logits>_cov" [N, K, K] (eval/predict_moments.c draws sigma points from
 * it).
 *
 * An op with no rule here fails the pass, naming the node and the op: a
 * silent wrong answer is worse than none.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"
#include "resample_impl.h"

#define NO_VAR (-1)

typedef struct moments_ctx {
    bnn_graph *g;
    bnn_diag *diag;
    int *mean;      /* owned: per original value id, its mean's value id */
    int *var;       /* owned: per original value id, its variance's id or NO_VAR */
    int n_original; /* values at the start: the arrays' size */
    /* Per original value made by a dense layer (else -1), what its output
     * covariance needs: the layer's weight (means), the input's variance and
     * the weight noise's variance term (owned arrays, n_original each). */
    int *dense_weight, *dense_in_var, *dense_noise;
    int *dense_weight_sq; /* the weight means squared, when made */
    bnn_op *original_op;  /* per node at the start, its op (nonlinear() rewrites some) */
    bool glm;
    bool covariance; /* option covariance=1: also the logits' covariance */
    int node_id;    /* the node being rewritten */
    char layer[300];/* its name, or its output's name when it has none */
} moments_ctx;

static bnn_status oom(moments_ctx *c)
{
    char label[300];
    return bnn_fail(c->diag, BNN_ERR_NOMEM, "bnn-to-moments: %s: out of memory",
                    bnn_node_label(c->g, c->node_id, label, sizeof label));
}

static bnn_status unsupported(moments_ctx *c, const char *why)
{
    char label[300];
    return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "bnn-to-moments: %s: %s",
                    bnn_node_label(c->g, c->node_id, label, sizeof label), why);
}

static int mean_of(const moments_ctx *c, int v) { return v < c->n_original ? c->mean[v] : v; }
static int var_of(const moments_ctx *c, int v) { return v >= 0 && v < c->n_original ? c->var[v] : NO_VAR; }

static bnn_status emit_with_int(moments_ctx *c, bnn_op op, const int *inputs, int n_inputs,
                                const char *stem, const char *suffix, const char *name,
                                int64_t value, int *out);

/* Appends op(inputs) as node "<layer>/<suffix>" producing a fresh value named
 * after `stem` + "_" + suffix; copies the attributes of node `attrs_from`
 * (-1: none), sets int list attribute `ints_name` (NULL: none) and infers the
 * output's type. */
static bnn_status emit_with(moments_ctx *c, bnn_op op, const int *inputs, int n_inputs,
                            const char *stem, const char *suffix, int attrs_from,
                            const char *ints_name, const int64_t *ints, int n_ints, int *out)
{
    char want[700], name[700], node_name[700];
    snprintf(want, sizeof want, "%s_%s", stem, suffix);
    const char *fresh = bnn_pass_unique_name(c->g, want, name, sizeof name);
    snprintf(node_name, sizeof node_name, "%s/%s", c->layer, suffix);
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, fresh, BNN_UNDEFINED, &unknown);
    if (v < 0)
        return oom(c);
    int nid = bnn_graph_add_node(c->g, op, node_name, inputs, n_inputs, &v, 1);
    if (nid < 0)
        return oom(c);
    if (attrs_from >= 0 && bnn_node_copy_attrs(c->g, nid, c->g, attrs_from) != BNN_OK)
        return oom(c);
    if (ints_name && bnn_node_set_ints(c->g, nid, ints_name, ints, n_ints) != BNN_OK)
        return oom(c);
    *out = v;
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* emit() with one int attribute set before shape inference. */
static bnn_status emit_with_int(moments_ctx *c, bnn_op op, const int *inputs, int n_inputs,
                                const char *stem, const char *suffix, const char *name,
                                int64_t value, int *out)
{
    char want[700], fresh_name[700], node_name[700];
    snprintf(want, sizeof want, "%s_%s", stem, suffix);
    const char *fresh = bnn_pass_unique_name(c->g, want, fresh_name, sizeof fresh_name);
    snprintf(node_name, sizeof node_name, "%s/%s", c->layer, suffix);
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, fresh, BNN_UNDEFINED, &unknown);
    if (v < 0)
        return oom(c);
    int nid = bnn_graph_add_node(c->g, op, node_name, inputs, n_inputs, &v, 1);
    if (nid < 0 || bnn_node_set_int(c->g, nid, name, value) != BNN_OK)
        return oom(c);
    *out = v;
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

static bnn_status emit(moments_ctx *c, bnn_op op, const int *inputs, int n_inputs,
                       const char *stem, const char *suffix, int attrs_from, int *out)
{
    return emit_with(c, op, inputs, n_inputs, stem, suffix, attrs_from, NULL, NULL, 0, out);
}

/* A constant param from data (copied), named after base. */
static bnn_status constant(moments_ctx *c, const char *base, const bnn_shape *shape,
                           const float *data, int *out)
{
    *out = bnn_pass_add_param(c->g, base, shape, data, false);
    return *out < 0 ? oom(c) : BNN_OK;
}

static bnn_status scalar(moments_ctx *c, const char *base, float value, int *out)
{
    bnn_shape one = {.rank = 1, .dims = {1}};
    return constant(c, base, &one, &value, out);
}

static const char *vname(const moments_ctx *c, int v) { return bnn_graph_value(c->g, v)->name; }

/* The variance of value v as a value: V(v), or zeros shaped like M(v). */
static bnn_status var_or_zeros(moments_ctx *c, int v, int *out)
{
    if (var_of(c, v) != NO_VAR) {
        *out = var_of(c, v);
        return BNN_OK;
    }
    int zero;
    BNN_TRY(scalar(c, "moments.zero", 0.0f, &zero));
    int in[2] = {mean_of(c, v), zero};
    return emit(c, BNN_OP_MUL, in, 2, vname(c, mean_of(c, v)), "zero_var", -1, out);
}

/* x*x of a value: a new param for a param, else a mul node. */
static bnn_status square(moments_ctx *c, int x, const char *suffix, int *out)
{
    const bnn_value *v = bnn_graph_value(c->g, x);
    if (bnn_pass_is_f32_param(c->g, x)) {
        int64_t n = bnn_shape_numel(&v->shape);
        float *sq = malloc(sizeof(float) * (size_t)n + 1);
        if (!sq)
            return oom(c);
        const float *d = v->data;
        for (int64_t i = 0; i < n; i++)
            sq[i] = d[i] * d[i];
        char base[600];
        snprintf(base, sizeof base, "%s_%s", v->name, suffix);
        bnn_shape shape = v->shape;
        bnn_status st = constant(c, base, &shape, sq, out);
        free(sq);
        return st;
    }
    int in[2] = {x, x};
    return emit(c, BNN_OP_MUL, in, 2, v->name, suffix, -1, out);
}

/* softplus(rho)^2 of a rho param, named "<mu without _mu>_var". */
static bnn_status sigma_squared(moments_ctx *c, int rho, int *out)
{
    if (!bnn_pass_is_f32_param(c->g, rho))
        return unsupported(c, "a rho that is not a constant float32 param");
    const bnn_value *v = bnn_graph_value(c->g, rho);
    int64_t n = bnn_shape_numel(&v->shape);
    float *s2 = malloc(sizeof(float) * (size_t)n + 1);
    if (!s2)
        return oom(c);
    const float *r = v->data;
    for (int64_t i = 0; i < n; i++) {
        double sigma = r[i] > 20 ? r[i] : log1p(exp(r[i]));
        s2[i] = (float)(sigma * sigma);
    }
    char base[600];
    size_t len = strlen(v->name);
    if (len > 4 && strcmp(v->name + len - 4, "_rho") == 0)
        snprintf(base, sizeof base, "%.*s_var", (int)(len - 4), v->name);
    else
        snprintf(base, sizeof base, "%s_var", v->name);
    bnn_shape shape = v->shape;
    bnn_status st = constant(c, base, &shape, s2, out);
    free(s2);
    return st;
}

/* The variance's name stem: the node's output. */
static const char *out_stem(const moments_ctx *c)
{
    return vname(c, bnn_graph_node(c->g, c->node_id)->outputs[0]);
}

/* Sets the node's input k to its mean. */
static void use_means(moments_ctx *c)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0)
            n->inputs[k] = mean_of(c, n->inputs[k]);
}

/* The same op as the node, on its inputs with input 0 replaced by `x`. */
static bnn_status same_op(moments_ctx *c, int x, const char *suffix, int *out)
{
    const bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int in[BNN_MAX_RANK + 8];
    int count = n->n_inputs;
    if (count > (int)(sizeof in / sizeof in[0]))
        return unsupported(c, "too many inputs");
    memcpy(in, n->inputs, sizeof(int) * (size_t)count);
    in[0] = x;
    bnn_op op = n->op;
    return emit(c, op, in, count, out_stem(c), suffix, c->node_id, out);
}

/* ---- the rules ------------------------------------------------------------- */

static bnn_op layer_op(const bnn_graph *g, const bnn_node *n)
{
    (void)g;
    return bnn_op_get(n->op)->pair; /* dense, conv or conv_transpose */
}

/* W_cat [rows, 2 * row_len]: row r is [A[r], B[r]] (A, B [rows, row_len]),
 * a param named after `base`.  For a dense weight [out, in] and a conv weight
 * [M, C, kh, kw] alike, this is the weight of the layer applied to the
 * inputs concatenated along axis 1. */
static bnn_status stacked_weight(moments_ctx *c, const char *base, const bnn_value *like,
                                 const float *a, const float *b, int *out)
{
    int64_t n = bnn_shape_numel(&like->shape), rows = like->shape.dims[0];
    int64_t len = rows ? n / rows : 0;
    float *w = malloc(sizeof(float) * (size_t)(2 * n) + 1);
    if (!w)
        return oom(c);
    for (int64_t r = 0; r < rows; r++) {
        memcpy(w + 2 * r * len, a + r * len, sizeof(float) * (size_t)len);
        memcpy(w + (2 * r + 1) * len, b + r * len, sizeof(float) * (size_t)len);
    }
    bnn_shape shape = like->shape;
    shape.dims[1] *= 2;
    bnn_status st = constant(c, base, &shape, w, out);
    free(w);
    return st;
}

static bnn_status bayesian_layer(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int x = n->inputs[0], wmu = n->inputs[1], wrho = n->inputs[2];
    int bmu = n->n_inputs > 3 ? n->inputs[3] : -1, brho = n->n_inputs > 4 ? n->inputs[4] : -1;
    int xm = mean_of(c, x), xv = var_of(c, x);
    if (var_of(c, wmu) != NO_VAR || var_of(c, bmu) != NO_VAR)
        return unsupported(c, "weights computed from random values");
    if (!bnn_pass_is_f32_param(c->g, wmu))
        return unsupported(c, "a weight mean that is not a constant float32 param");
    /* One product for the variance when the inputs stack along axis 1 (every
     * dense layer, a conv with one group): V = layer([M^2 | V(x)], [s^2 |
     * mu^2 + s^2]) (GLM: [s^2 | mu^2]), the same GEMM cost as two products
     * but one pass over the output. */
    bool stack = xv != NO_VAR && (n->op == BNN_OP_DENSE_REPARAM ||
                                  (n->op == BNN_OP_CONV_REPARAM &&
                                   bnn_node_int(n, "group", 1) == 1));
    int wvar, bvar = -1, wmu2 = -1, wcat = -1;
    BNN_TRY(sigma_squared(c, wrho, &wvar));
    if (bmu >= 0 && brho >= 0)
        BNN_TRY(sigma_squared(c, brho, &bvar));
    if (xv != NO_VAR)
        BNN_TRY(square(c, wmu, "sq", &wmu2));
    if (stack) {
        const bnn_value *mu = bnn_graph_value(c->g, wmu);
        const float *s2 = bnn_graph_value(c->g, wvar)->data, *m2 = bnn_graph_value(c->g, wmu2)->data;
        int64_t count = bnn_shape_numel(&mu->shape);
        float *second = malloc(sizeof(float) * (size_t)count + 1);
        if (!second)
            return oom(c);
        for (int64_t i = 0; i < count; i++)
            second[i] = c->glm ? m2[i] : m2[i] + s2[i];
        char base[600];
        snprintf(base, sizeof base, "%s_moments", mu->name);
        bnn_status st = stacked_weight(c, base, bnn_graph_value(c->g, wmu), s2, second, &wcat);
        free(second);
        BNN_TRY(st);
    }
    /* The mean: this node as the deterministic layer at mu. */
    n = bnn_graph_node(c->g, c->node_id);
    n->op = layer_op(c->g, n);
    if (bnn_pass_drop_prior_attrs(c->g, c->node_id) != BNN_OK ||
        bnn_pass_resize_inputs(c->g, c->node_id, bmu >= 0 ? 3 : 2) != BNN_OK)
        return oom(c);
    n = bnn_graph_node(c->g, c->node_id);
    n->inputs[0] = xm;
    n->inputs[1] = wmu;
    if (bmu >= 0)
        n->inputs[2] = bmu;
    bnn_op op = n->op;
    int y = n->outputs[0];
    const char *stem = out_stem(c);
    int xm2;
    int sq[2] = {xm, xm};
    BNN_TRY(emit(c, BNN_OP_MUL, sq, 2, stem, "in_sq", -1, &xm2));
    if (op == BNN_OP_DENSE && y < c->n_original) {
        c->dense_weight[y] = wmu;
        c->dense_weight_sq[y] = wmu2;
        c->dense_in_var[y] = xv;
    }
    if (stack) {
        int cat = -1, in[2] = {xm2, xv};
        BNN_TRY(emit_with_int(c, BNN_OP_CONCAT, in, 2, stem, "in_moments", "axis", 1, &cat));
        int var_in[3] = {cat, wcat, bvar};
        return emit(c, op, var_in, bvar >= 0 ? 3 : 2, stem, "var", c->node_id, var_out);
    }
    int u = xm2;
    if (xv != NO_VAR && !c->glm) {
        int in[2] = {xm2, xv};
        BNN_TRY(emit(c, BNN_OP_ADD, in, 2, stem, "in_second", -1, &u));
    }
    int a;
    int noise_in[3] = {u, wvar, bvar};
    BNN_TRY(emit(c, op, noise_in, bvar >= 0 ? 3 : 2, stem, "weight_noise_var", c->node_id, &a));
    if (op == BNN_OP_DENSE && y < c->n_original)
        c->dense_noise[y] = a;
    if (xv == NO_VAR) {
        *var_out = a;
        return BNN_OK;
    }
    int b;
    int prop_in[2] = {xv, wmu2};
    BNN_TRY(emit(c, op, prop_in, 2, stem, "input_var", c->node_id, &b));
    int sum[2] = {a, b};
    return emit(c, BNN_OP_ADD, sum, 2, stem, "var", -1, var_out);
}

static bnn_status fixed_layer(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int x = n->inputs[0], w = n->inputs[1];
    if (var_of(c, w) != NO_VAR || (n->n_inputs > 2 && var_of(c, n->inputs[2]) != NO_VAR))
        return unsupported(c, "weights computed from random values (only the data input may "
                              "carry variance)");
    int xv = var_of(c, x);
    use_means(c);
    int w2;
    BNN_TRY(square(c, w, "sq", &w2));
    int in[2] = {xv, w2};
    n = bnn_graph_node(c->g, c->node_id);
    if (n->op == BNN_OP_DENSE && n->outputs[0] < c->n_original) {
        c->dense_weight[n->outputs[0]] = w;
        c->dense_in_var[n->outputs[0]] = xv;
    }
    return emit(c, n->op, in, 2, out_stem(c), "var", c->node_id, var_out);
}

/* relu, leaky_relu, sigmoid, tanh, max_pool: the node becomes its moments.*
 * op, with the variance as a second input and output. */
static bnn_status nonlinear(moments_ctx *c, bnn_op op, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int x = n->inputs[0];
    bool leaky = n->op == BNN_OP_LEAKY_RELU;
    float alpha = leaky ? bnn_node_float(n, "alpha", 0.01f) : 0.0f;
    char want[700], name[700];
    snprintf(want, sizeof want, "%s_var", vname(c, n->outputs[0]));
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, bnn_pass_unique_name(c->g, want, name, sizeof name),
                                BNN_UNDEFINED, &unknown);
    int *outs = bnn_arena_alloc(c->g->arena, 2 * sizeof(int), sizeof(int));
    if (v < 0 || !outs || bnn_pass_resize_inputs(c->g, c->node_id, 2) != BNN_OK)
        return oom(c);
    n = bnn_graph_node(c->g, c->node_id);
    outs[0] = n->outputs[0];
    outs[1] = v;
    n->outputs = outs;
    n->n_outputs = 2;
    n->inputs[0] = mean_of(c, x);
    n->inputs[1] = var_of(c, x);
    n->op = op;
    bnn_graph_value(c->g, v)->producer = c->node_id;
    bnn_graph_value(c->g, v)->kind = BNN_VALUE_NODE;
    if (op == BNN_OP_MOMENTS_RELU && leaky && bnn_node_set_float(c->g, c->node_id, "alpha", alpha))
        return oom(c);
    if (c->glm && bnn_node_set_int(c->g, c->node_id, "linear", 1) != BNN_OK)
        return oom(c);
    BNN_TRY(bnn_graph_infer_node(c->g, c->node_id, c->diag));
    *var_out = v;
    return BNN_OK;
}

/* avg_pool and global_avg_pool: the variance of a mean of k independent
 * elements is their mean variance / k. */
static bnn_status average(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int xv = var_of(c, n->inputs[0]);
    double count = 1;
    if (n->op == BNN_OP_AVG_POOL) {
        const int64_t *k, *pads;
        int nk = bnn_node_ints(n, "kernel_shape", &k);
        int np = bnn_node_ints(n, "pads", &pads);
        bool padded = false;
        for (int i = 0; i < np; i++)
            padded |= pads[i] != 0;
        if (padded && !bnn_node_int(n, "count_include_pad", 0))
            return unsupported(c, "avg_pool with pads and count_include_pad=0 (border windows "
                                  "average fewer elements) has no moment rule yet");
        for (int i = 0; i < nk; i++)
            count *= (double)k[i];
    } else {
        const bnn_shape *s = &bnn_graph_value(c->g, mean_of(c, n->inputs[0]))->shape;
        for (int i = 2; i < s->rank; i++) {
            if (!bnn_dim_is_known(s->dims[i]))
                return unsupported(c, "global_avg_pool over spatial dims that are not fixed");
            count *= (double)s->dims[i];
        }
    }
    use_means(c);
    int pooled, inv;
    BNN_TRY(same_op(c, xv, "var_sum", &pooled));
    BNN_TRY(scalar(c, "moments.inverse_count", (float)(1.0 / count), &inv));
    int in[2] = {pooled, inv};
    return emit(c, BNN_OP_MUL, in, 2, out_stem(c), "var", -1, var_out);
}

static bnn_status batch_norm(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int scale = n->inputs[1], rvar = n->inputs[4];
    for (int k = 1; k < 5; k++)
        if (!bnn_pass_is_f32_param(c->g, n->inputs[k]))
            return unsupported(c, "batch_norm whose scale or statistics are not constant params");
    int xv = var_of(c, n->inputs[0]);
    double eps = bnn_node_float(n, "epsilon", 1e-5f);
    const bnn_value *sv = bnn_graph_value(c->g, scale), *vv = bnn_graph_value(c->g, rvar);
    int64_t ch = bnn_shape_numel(&sv->shape);
    int rank = bnn_graph_value(c->g, mean_of(c, n->inputs[0]))->shape.rank;
    if (rank < 2 || bnn_shape_numel(&vv->shape) != ch)
        return unsupported(c, "batch_norm shapes the moment rule does not know");
    float *k = malloc(sizeof(float) * (size_t)ch + 1);
    if (!k)
        return oom(c);
    const float *s = sv->data, *r = vv->data;
    for (int64_t i = 0; i < ch; i++)
        k[i] = (float)((double)s[i] * s[i] / ((double)r[i] + eps));
    bnn_shape shape = {.rank = rank - 1};
    shape.dims[0] = ch;
    for (int i = 1; i < rank - 1; i++)
        shape.dims[i] = 1;
    int kid;
    char base[600];
    snprintf(base, sizeof base, "%s_gain_sq", out_stem(c));
    bnn_status st = constant(c, base, &shape, k, &kid);
    free(k);
    BNN_TRY(st);
    use_means(c);
    int in[2] = {xv, kid};
    return emit(c, BNN_OP_MUL, in, 2, out_stem(c), "var", -1, var_out);
}

/* Layout ops: the same op moves the variance; other inputs must be fixed. */
static bnn_status layout(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    for (int k = 1; k < n->n_inputs; k++)
        if (var_of(c, n->inputs[k]) != NO_VAR)
            return unsupported(c, "a random shape or index operand");
    int xv = var_of(c, n->inputs[0]);
    bnn_op op = n->op;
    use_means(c);
    if (op == BNN_OP_IDENTITY || op == BNN_OP_DROPOUT || op == BNN_OP_NEG) {
        *var_out = xv;
        return BNN_OK;
    }
    BNN_TRY(same_op(c, xv, "var", var_out));
    if (op == BNN_OP_PAD) {
        int nid = bnn_graph_value(c->g, *var_out)->producer;
        if (bnn_node_set_float(c->g, nid, "value", 0.0f) != BNN_OK)
            return oom(c);
    }
    return BNN_OK;
}

/* The resize node's own attributes, with scales or sizes changed so that
 * of a rank-`rank` input only `axis` changes, to `scale` or `size`. */
static bnn_status resize_one_axis(moments_ctx *c, int x, const bnn_resize_spec *s, int axis,
                                  int64_t size, const char *suffix, int *out)
{
    char want[700], name[700], node_name[700];
    snprintf(want, sizeof want, "%s_%s", out_stem(c), suffix);
    const char *fresh = bnn_pass_unique_name(c->g, want, name, sizeof name);
    snprintf(node_name, sizeof node_name, "%s/%s", c->layer, suffix);
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, fresh, BNN_UNDEFINED, &unknown);
    if (v < 0)
        return oom(c);
    int nid = bnn_graph_add_node(c->g, BNN_OP_RESIZE, node_name, &x, 1, &v, 1);
    if (nid < 0 || bnn_node_copy_attrs(c->g, nid, c->g, c->node_id) != BNN_OK)
        return oom(c);
    bnn_status st;
    if (s->has_scales) {
        float scales[BNN_MAX_RANK];
        for (int d = 0; d < s->rank; d++)
            scales[d] = d == axis ? (float)s->scales[d] : 1.0f;
        st = bnn_node_set_floats(c->g, nid, "scales", scales, s->rank);
    } else {
        int64_t sizes[BNN_MAX_RANK];
        for (int d = 0; d < s->rank; d++)
            sizes[d] = d == axis ? size : -1;
        st = bnn_node_set_ints(c->g, nid, "sizes", sizes, s->rank);
    }
    if (st != BNN_OK)
        return oom(c);
    *out = v;
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* Resizing: nearest picks elements, so the variance goes through the same
 * resize, exactly (a YOLO-style upsampling).  Linear and cubic are separable
 * weighted sums of independent inputs, y = Rh x Rw^T per channel, so
 * V(y) = (Rh o Rh) V(x) (Rw o Rw)^T with o the elementwise square.  Each
 * axis' matrix is the node's own resize, confined to that axis, of an
 * identity matrix [.., in, in] (Rh along the rows, Rw^T along the columns),
 * so coordinate modes, cubic_coeff_a, exclude_outside and antialias are the
 * forward's; standard ops only (resize, mul, matmul).  Only the last two
 * axes may change, with fixed sizes; tf_crop_and_resize's extrapolated
 * constant is not a weighted sum and is refused. */
static bnn_status resize(moments_ctx *c, int *var_out)
{
    const bnn_node *n = bnn_graph_node(c->g, c->node_id);
    const char *mode = bnn_node_string(n, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        return layout(c, var_out);
    const bnn_shape xs = bnn_graph_value(c->g, mean_of(c, n->inputs[0]))->shape;
    const bnn_shape ys = bnn_graph_value(c->g, n->outputs[0])->shape;
    bnn_resize_spec s;
    char err[300];
    if (xs.rank < 1 || ys.rank != xs.rank || !bnn_resize_read(n, xs.rank, &s, err, sizeof err))
        return unsupported(c, "a resize whose shapes are not known");
    if (s.coord == BNN_COORD_TF_CROP_AND_RESIZE)
        return unsupported(c, "resize with coordinate_transformation_mode tf_crop_and_resize "
                              "(its extrapolated constant is not a weighted sum) has no moment rule");
    int cur = var_of(c, n->inputs[0]);
    use_means(c);
    for (int axis = 0; axis < xs.rank; axis++) {
        int64_t in = xs.dims[axis], out = ys.dims[axis];
        if (bnn_resize_axis_identity(&s, axis, in, out))
            continue;
        if (axis < xs.rank - 2)
            return unsupported(c, "a linear or cubic resize of an axis other than the last two "
                                  "has no moment rule");
        if (!bnn_dim_is_known(in) || !bnn_dim_is_known(out) || in > 4096)
            return unsupported(c, "a linear or cubic resize over sizes that are not fixed (at most "
                                  "4096) has no moment rule");
        bnn_shape es = {.rank = xs.rank};
        for (int d = 0; d < es.rank; d++)
            es.dims[d] = d >= es.rank - 2 ? in : 1;
        float *eye = calloc((size_t)(in * in), sizeof(float));
        if (!eye)
            return oom(c);
        for (int64_t i = 0; i < in; i++)
            eye[i * in + i] = 1.0f;
        char base[600];
        snprintf(base, sizeof base, "moments.identity%lld", (long long)in);
        int eid = -1, r = -1, r2 = -1;
        bnn_status st = constant(c, base, &es, eye, &eid);
        free(eye);
        BNN_TRY(st);
        bool rows = axis == xs.rank - 2; /* Rh [.., out, in]; else Rw^T [.., in, out] */
        BNN_TRY(resize_one_axis(c, eid, &s, axis, out, rows ? "var_rows" : "var_cols", &r));
        int sq[2] = {r, r};
        BNN_TRY(emit(c, BNN_OP_MUL, sq, 2, out_stem(c), rows ? "var_rows_sq" : "var_cols_sq", -1,
                     &r2));
        int mm[2] = {rows ? r2 : cur, rows ? cur : r2};
        BNN_TRY(emit(c, BNN_OP_MATMUL, mm, 2, out_stem(c), rows ? "var_h" : "var", -1, &cur));
    }
    if (!bnn_shape_equal(&bnn_graph_value(c->g, cur)->shape, &ys))
        return unsupported(c, "the variance does not take the resize's output shape");
    *var_out = cur;
    return BNN_OK;
}

/* x^2 of a Gaussian x ~ N(m, v): mean m^2 + v, variance 4 m^2 v + 2 v^2
 * (exact; the GLM form keeps the mean m^2 and passes 4 m^2 v).  The node
 * (pow(x, 2) or mul(x, x)) computes m^2 from the mean; the new mean is a
 * value of its own that the node's consumers and outputs read instead. */
static bnn_status square_of_random(moments_ctx *c, int x, int *var_out)
{
    int xv = var_of(c, x);
    int y = bnn_graph_node(c->g, c->node_id)->outputs[0];
    use_means(c);
    const char *stem = out_stem(c);
    int t, k, mean2, s;
    if (c->glm) {
        int a[2] = {y, xv};
        BNN_TRY(emit(c, BNN_OP_MUL, a, 2, stem, "var_m2v", -1, &t));
        BNN_TRY(scalar(c, "moments.four", 4.0f, &k));
        int b[2] = {t, k};
        return emit(c, BNN_OP_MUL, b, 2, stem, "var", -1, var_out);
    }
    int a[2] = {y, xv};
    BNN_TRY(emit(c, BNN_OP_ADD, a, 2, stem, "mean", -1, &mean2));
    int b[2] = {y, mean2}; /* 2 m^2 + v */
    BNN_TRY(emit(c, BNN_OP_ADD, b, 2, stem, "var_half_over_v", -1, &s));
    int d[2] = {s, xv};
    BNN_TRY(emit(c, BNN_OP_MUL, d, 2, stem, "var_half", -1, &t));
    BNN_TRY(scalar(c, "moments.two", 2.0f, &k));
    int e[2] = {t, k};
    BNN_TRY(emit(c, BNN_OP_MUL, e, 2, stem, "var", -1, var_out));
    if (y < c->n_original)
        c->mean[y] = mean2;
    return BNN_OK;
}

/* ---- any smooth elementwise function: Gauss-Hermite quadrature ----------
 *
 * For f applied elementwise to x ~ N(m, v), E[f] and E[f^2] by the 16-point
 * Gauss-Hermite rule at x_i = m + sqrt(2v) t_i (weights w_i / sqrt(pi)),
 * the sixteen points stacked on a new leading axis so that f runs once, as
 * the model's own node (cloned, with its attributes and its other,
 * constant, operands):
 *   X = unsqueeze(M) + sqrt(2 unsqueeze(V)) T      [16, ..]
 *   F = f(X)            (or X f(X): the mul(x, f(x)) of SiLU and Swish)
 *   mean = sum_0(F W),  variance = relu(sum_0(F F W) - mean^2)
 * T and W constants [16, 1, ..]; standard ops only.  The GLM form takes the
 * points m +- h (h = 1e-2) for the slope: mean f(m), variance f'(m)^2 v.
 * Exact for polynomials up to degree 31; a kink (hard_swish, clip) costs
 * accuracy near it (the rule tests state the allowance). */

static const double gh16_nodes[8] = {
    0.27348104613815244, 0.8229514491446559, 1.3802585391988809, 1.9517879909162539,
    2.5462021578474814,  3.176999161979956,  3.8694479048601229, 4.6887389393058188};
static const double gh16_weights[8] = {
    0.50792947901661367,    0.28064745852853368,    0.083810041398985832,
    0.012880311535509989,   0.00093228400862418071, 2.7118600925378892e-05,
    2.3209808448652032e-07, 2.6548074740111673e-10};

/* Whether op is elementwise on its first operand, defined and smooth enough
 * (or piecewise smooth) on the whole line for the rule above.  log, sqrt,
 * reciprocal and the inverse functions are left out: a point past their
 * domain would make the moments NaN. */
static bool quadrature_op(bnn_op op)
{
    switch (op) {
    case BNN_OP_ELU: case BNN_OP_SELU: case BNN_OP_CELU: case BNN_OP_SOFTPLUS:
    case BNN_OP_SOFTSIGN: case BNN_OP_HARD_SIGMOID: case BNN_OP_HARD_SWISH:
    case BNN_OP_GELU: case BNN_OP_MISH: case BNN_OP_EXP: case BNN_OP_ERF: case BNN_OP_ABS:
    case BNN_OP_SIN: case BNN_OP_COS: case BNN_OP_ATAN: case BNN_OP_SINH: case BNN_OP_COSH:
    case BNN_OP_CLIP: case BNN_OP_THRESHOLDED_RELU: case BNN_OP_SHRINK:
    case BNN_OP_SIGMOID: case BNN_OP_TANH:
        return true;
    default:
        return false;
    }
}

/* A constant [count, 1, .., 1] of rank `rank`. */
static bnn_status column_const(moments_ctx *c, const char *base, int rank, const float *data,
                               int count, int *out)
{
    bnn_shape s = {.rank = rank};
    s.dims[0] = count;
    for (int d = 1; d < rank; d++)
        s.dims[d] = 1;
    return constant(c, base, &s, data, out);
}

/* The sum of x over its leading axis (the quadrature points). */
static bnn_status sum_points(moments_ctx *c, int x, const char *suffix, int *out)
{
    const int64_t lead[1] = {0};
    BNN_TRY(emit_with_int(c, BNN_OP_REDUCE_SUM, &x, 1, out_stem(c), suffix, "keepdims", 0, out));
    int nid = bnn_graph_value(c->g, *out)->producer;
    bnn_graph_value(c->g, *out)->shape.rank = -1;
    if (bnn_node_set_ints(c->g, nid, "axes", lead, 1) != BNN_OK)
        return oom(c);
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* f (node f_node's op, attributes and other operands) at x's quadrature
 * points, times the points when times_x: the rule above for value y. */
static bnn_status quadrature(moments_ctx *c, int x, int f_node, bool times_x, int *var_out)
{
    int m = mean_of(c, x), v = var_of(c, x);
    int y = bnn_graph_node(c->g, c->node_id)->outputs[0];
    int rank = bnn_graph_value(c->g, m)->shape.rank;
    if (rank < 0 || rank >= BNN_MAX_RANK)
        return unsupported(c, "an operand whose rank is not known (or is the largest)");
    const bnn_node *f = bnn_graph_node(c->g, f_node);
    for (int k = 1; f->op == c->original_op[f_node] && k < f->n_inputs; k++)
        if (f->inputs[k] >= 0 && var_of(c, f->inputs[k]) != NO_VAR)
            return unsupported(c, "a random operand besides the first");
    use_means(c);
    const char *stem = out_stem(c);
    const int64_t lead[1] = {0};
    int points = c->glm ? 2 : 16;
    float t[16], w[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = (float)gh16_nodes[i];
        t[2 * i + 1] = (float)-gh16_nodes[i];
        w[2 * i] = w[2 * i + 1] = (float)(gh16_weights[i] * 0.56418958354775628695);
    }
    int mu, vu, tc, wc, shift, xs, fx, two, scale, var2;
    BNN_TRY(emit_with(c, BNN_OP_UNSQUEEZE, &m, 1, stem, "points_mean", -1, "axes", lead, 1, &mu));
    if (c->glm) { /* m + h, m - h */
        const float h[2] = {1e-2f, -1e-2f};
        BNN_TRY(column_const(c, "moments.slope_steps", rank + 1, h, 2, &shift));
        int in[2] = {mu, shift};
        BNN_TRY(emit(c, BNN_OP_ADD, in, 2, stem, "points", -1, &xs));
    } else {
        BNN_TRY(emit_with(c, BNN_OP_UNSQUEEZE, &v, 1, stem, "points_var", -1, "axes", lead, 1,
                          &vu));
        BNN_TRY(scalar(c, "moments.two", 2.0f, &two));
        int a[2] = {vu, two};
        BNN_TRY(emit(c, BNN_OP_MUL, a, 2, stem, "points_two_var", -1, &var2));
        BNN_TRY(emit(c, BNN_OP_SQRT, &var2, 1, stem, "points_scale", -1, &scale));
        BNN_TRY(column_const(c, "moments.hermite_nodes", rank + 1, t, points, &tc));
        int b[2] = {scale, tc};
        BNN_TRY(emit(c, BNN_OP_MUL, b, 2, stem, "points_shift", -1, &shift));
        int d[2] = {mu, shift};
        BNN_TRY(emit(c, BNN_OP_ADD, d, 2, stem, "points", -1, &xs));
    }
    /* the model's own op at the points (a sigmoid or tanh already rewritten
     * into its moments op has no operand or attribute to carry) */
    f = bnn_graph_node(c->g, f_node);
    bnn_op op = c->original_op[f_node];
    bool rewritten = f->op != op;
    int fin[8];
    int nf = rewritten ? 1 : f->n_inputs < 8 ? f->n_inputs : 8;
    for (int k = 0; k < nf; k++)
        fin[k] = k == 0 ? xs : f->inputs[k] >= 0 ? mean_of(c, f->inputs[k]) : -1;
    BNN_TRY(emit(c, op, fin, nf, stem, "points_f", rewritten ? -1 : f_node, &fx));
    if (times_x) {
        int in[2] = {fx, xs};
        BNN_TRY(emit(c, BNN_OP_MUL, in, 2, stem, "points_xf", -1, &fx));
    }
    int mean2, sq, e2, msq, diff;
    if (c->glm) { /* slope (f(m + h) - f(m - h)) / 2h from the two points */
        const float diffw[2] = {50.0f, -50.0f};
        int dw, df, slope, s2;
        BNN_TRY(column_const(c, "moments.slope_weights", rank + 1, diffw, 2, &dw));
        int a[2] = {fx, dw};
        BNN_TRY(emit(c, BNN_OP_MUL, a, 2, stem, "slope_terms", -1, &df));
        BNN_TRY(sum_points(c, df, "slope", &slope));
        int b[2] = {slope, slope};
        BNN_TRY(emit(c, BNN_OP_MUL, b, 2, stem, "slope_sq", -1, &s2));
        int d[2] = {s2, v};
        return emit(c, BNN_OP_MUL, d, 2, stem, "var", -1, var_out);
    }
    BNN_TRY(column_const(c, "moments.hermite_weights", rank + 1, w, points, &wc));
    int a[2] = {fx, wc};
    int wf;
    BNN_TRY(emit(c, BNN_OP_MUL, a, 2, stem, "points_wf", -1, &wf));
    BNN_TRY(sum_points(c, wf, "mean", &mean2));
    int b[2] = {wf, fx};
    BNN_TRY(emit(c, BNN_OP_MUL, b, 2, stem, "points_wf2", -1, &sq));
    BNN_TRY(sum_points(c, sq, "second_moment", &e2));
    int d[2] = {mean2, mean2};
    BNN_TRY(emit(c, BNN_OP_MUL, d, 2, stem, "mean_sq", -1, &msq));
    int e[2] = {e2, msq};
    BNN_TRY(emit(c, BNN_OP_SUB, e, 2, stem, "var_raw", -1, &diff));
    BNN_TRY(emit(c, BNN_OP_RELU, &diff, 1, stem, "var", -1, var_out));
    if (y < c->n_original)
        c->mean[y] = mean2;
    return BNN_OK;
}

/* pow(x, p) with a constant p: p = 2 is the square above (a YOLO head's
 * (2 sigmoid)^2), p = 1 is x itself; other exponents have no rule. */
static bnn_status power(moments_ctx *c, int *var_out)
{
    const bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int x = n->inputs[0], p = n->inputs[1];
    if (var_of(c, p) != NO_VAR || !bnn_pass_is_f32_param(c->g, p) || var_of(c, x) == NO_VAR)
        return unsupported(c, "pow with a random exponent has no moment rule");
    const bnn_value *pv = bnn_graph_value(c->g, p);
    const float *e = pv->data;
    int64_t count = bnn_shape_numel(&pv->shape);
    for (int64_t i = 1; i < count; i++)
        if (e[i] != e[0])
            return unsupported(c, "pow with exponents that differ by element has no moment rule");
    if (count < 1 || (e[0] != 2.0f && e[0] != 1.0f)) {
        char why[200];
        snprintf(why, sizeof why, "pow with exponent %g has no moment rule (2 and 1 have)",
                 count < 1 ? 0.0 : (double)e[0]);
        return unsupported(c, why);
    }
    if (!bnn_shape_equal(&bnn_graph_value(c->g, mean_of(c, x))->shape,
                         &bnn_graph_value(c->g, n->outputs[0])->shape))
        return unsupported(c, "pow whose exponent broadcasts the base to a larger shape");
    if (e[0] == 2.0f)
        return square_of_random(c, x, var_out);
    int v = var_of(c, x);
    use_means(c);
    *var_out = v;
    return BNN_OK;
}

static bnn_status concat(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    int count = n->n_inputs;
    int *in = malloc(sizeof(int) * (size_t)count + 1);
    int *orig = malloc(sizeof(int) * (size_t)count + 1);
    if (!in || !orig) {
        free(in);
        free(orig);
        return oom(c);
    }
    memcpy(orig, n->inputs, sizeof(int) * (size_t)count);
    bnn_status st = BNN_OK;
    for (int k = 0; k < count && st == BNN_OK; k++)
        st = var_or_zeros(c, orig[k], &in[k]);
    if (st == BNN_OK) {
        use_means(c);
        st = emit(c, BNN_OP_CONCAT, in, count, out_stem(c), "var", c->node_id, var_out);
    }
    free(in);
    free(orig);
    return st;
}

static bnn_status arithmetic(moments_ctx *c, int *var_out)
{
    bnn_node *n = bnn_graph_node(c->g, c->node_id);
    bnn_op op = n->op;
    int a = n->inputs[0], b = n->inputs[1];
    int am = mean_of(c, a), bm = mean_of(c, b), av = var_of(c, a), bv = var_of(c, b);
    const bnn_shape *ys = &bnn_graph_value(c->g, n->outputs[0])->shape;
    use_means(c);
    const char *stem = out_stem(c);
    if (op == BNN_OP_ADD || op == BNN_OP_SUB) {
        if (a == b) { /* x + x = 2x, variance 4 V; x - x = 0 */
            int k, in[2] = {av, 0};
            BNN_TRY(scalar(c, op == BNN_OP_ADD ? "moments.four" : "moments.zero",
                           op == BNN_OP_ADD ? 4.0f : 0.0f, &k));
            in[1] = k;
            return emit(c, BNN_OP_MUL, in, 2, stem, "var", -1, var_out);
        }
        if (av != NO_VAR && bv != NO_VAR) {
            int in[2] = {av, bv};
            return emit(c, BNN_OP_ADD, in, 2, stem, "var", -1, var_out);
        }
        int v = av != NO_VAR ? av : bv;
        if (!bnn_shape_equal(&bnn_graph_value(c->g, v)->shape, ys))
            return unsupported(c, "a fixed operand broadcasts the random one to a larger shape");
        *var_out = v;
        return BNN_OK;
    }
    if (op == BNN_OP_DIV && bv != NO_VAR)
        return unsupported(c, "division by a random value has no moment rule");
    if (op == BNN_OP_MUL && a == b) /* x * x: one variable, not two independent ones */
        return square_of_random(c, a, var_out);
    if (op == BNN_OP_MUL && av != NO_VAR && bv != NO_VAR) {
        /* x * f(x) (SiLU, Swish): one variable through x f(x), not a product
         * of independent operands */
        for (int k = 0; k < 2; k++) {
            int fx = k ? a : b, x = k ? b : a;
            int p = fx < c->n_original ? bnn_graph_value(c->g, fx)->producer : -1;
            if (p >= 0 && quadrature_op(c->original_op[p]) &&
                mean_of(c, bnn_graph_node(c->g, p)->inputs[0]) == mean_of(c, x))
                return quadrature(c, x, p, true, var_out);
        }
    }
    if (av != NO_VAR && bv != NO_VAR) { /* mul of two random operands */
        int am2, bm2, t1, t2, t3, s;
        BNN_TRY(square(c, am, "sq", &am2));
        BNN_TRY(square(c, bm, "sq", &bm2));
        int p1[2] = {av, bm2}, p2[2] = {bv, am2};
        BNN_TRY(emit(c, BNN_OP_MUL, p1, 2, stem, "var_a", -1, &t1));
        BNN_TRY(emit(c, BNN_OP_MUL, p2, 2, stem, "var_b", -1, &t2));
        int s1[2] = {t1, t2};
        if (c->glm)
            return emit(c, BNN_OP_ADD, s1, 2, stem, "var", -1, var_out);
        BNN_TRY(emit(c, BNN_OP_ADD, s1, 2, stem, "var_ab", -1, &s));
        int p3[2] = {av, bv};
        BNN_TRY(emit(c, BNN_OP_MUL, p3, 2, stem, "var_prod", -1, &t3));
        int s2[2] = {s, t3};
        return emit(c, BNN_OP_ADD, s2, 2, stem, "var", -1, var_out);
    }
    int v = av != NO_VAR ? av : bv, fixed = av != NO_VAR ? bm : am, f2;
    BNN_TRY(square(c, fixed, "sq", &f2));
    int in[2] = {v, f2};
    BNN_TRY(emit(c, op == BNN_OP_DIV ? BNN_OP_DIV : BNN_OP_MUL, in, 2, stem, "var", -1, var_out));
    if (!bnn_shape_equal(&bnn_graph_value(c->g, *var_out)->shape, ys))
        return unsupported(c, "the variance does not take the output's shape");
    return BNN_OK;
}

/* One node; sets V of its output. */
static bnn_status rewrite(moments_ctx *c, int node_id, int *softmax_heads, int *n_heads)
{
    c->node_id = node_id;
    bnn_node *n = bnn_graph_node(c->g, node_id);
    snprintf(c->layer, sizeof c->layer, "%s", *n->name ? n->name : vname(c, n->outputs[0]));
    bool random = bnn_op_is_bayesian(n->op);
    for (int k = 0; k < n->n_inputs; k++)
        random |= var_of(c, n->inputs[k]) != NO_VAR;
    int y = n->outputs[0];
    if (!random)
        return BNN_OK; /* exact: M(y) = y, no variance */
    if (n->n_outputs != 1)
        return unsupported(c, "an op with several outputs has no moment rule");
    int v = NO_VAR;
    switch (n->op) {
    case BNN_OP_DENSE_REPARAM:
    case BNN_OP_CONV_REPARAM:
    case BNN_OP_CONV_TRANSPOSE_REPARAM: BNN_TRY(bayesian_layer(c, &v)); break;
    case BNN_OP_DENSE:
    case BNN_OP_CONV:
    case BNN_OP_CONV_TRANSPOSE: BNN_TRY(fixed_layer(c, &v)); break;
    case BNN_OP_RELU: BNN_TRY(nonlinear(c, BNN_OP_MOMENTS_RELU, &v)); break;
    case BNN_OP_LEAKY_RELU: BNN_TRY(nonlinear(c, BNN_OP_MOMENTS_RELU, &v)); break;
    case BNN_OP_SIGMOID: BNN_TRY(nonlinear(c, BNN_OP_MOMENTS_SIGMOID, &v)); break;
    case BNN_OP_TANH: BNN_TRY(nonlinear(c, BNN_OP_MOMENTS_TANH, &v)); break;
    case BNN_OP_MAX_POOL: BNN_TRY(nonlinear(c, BNN_OP_MOMENTS_MAX_POOL, &v)); break;
    case BNN_OP_AVG_POOL:
    case BNN_OP_GLOBAL_AVG_POOL: BNN_TRY(average(c, &v)); break;
    case BNN_OP_BATCH_NORM: BNN_TRY(batch_norm(c, &v)); break;
    case BNN_OP_FLATTEN:
    case BNN_OP_RESHAPE:
    case BNN_OP_TRANSPOSE:
    case BNN_OP_SQUEEZE:
    case BNN_OP_UNSQUEEZE:
    case BNN_OP_SLICE:
    case BNN_OP_EXPAND:
    case BNN_OP_TILE:
    case BNN_OP_PAD:
    case BNN_OP_IDENTITY:
    case BNN_OP_DROPOUT:
    case BNN_OP_NEG: BNN_TRY(layout(c, &v)); break;
    case BNN_OP_RESIZE: BNN_TRY(resize(c, &v)); break;
    case BNN_OP_POW: BNN_TRY(power(c, &v)); break;
    case BNN_OP_ELU: case BNN_OP_SELU: case BNN_OP_CELU: case BNN_OP_SOFTPLUS:
    case BNN_OP_SOFTSIGN: case BNN_OP_HARD_SIGMOID: case BNN_OP_HARD_SWISH:
    case BNN_OP_GELU: case BNN_OP_MISH: case BNN_OP_EXP: case BNN_OP_ERF: case BNN_OP_ABS:
    case BNN_OP_SIN: case BNN_OP_COS: case BNN_OP_ATAN: case BNN_OP_SINH: case BNN_OP_COSH:
    case BNN_OP_CLIP: case BNN_OP_THRESHOLDED_RELU: case BNN_OP_SHRINK:
        BNN_TRY(quadrature(c, n->inputs[0], node_id, false, &v));
        break;
    case BNN_OP_SHAPE: use_means(c); break; /* a fixed result */
    case BNN_OP_CONCAT: BNN_TRY(concat(c, &v)); break;
    case BNN_OP_ADD:
    case BNN_OP_SUB:
    case BNN_OP_MUL:
    case BNN_OP_DIV: BNN_TRY(arithmetic(c, &v)); break;
    case BNN_OP_SOFTMAX:
    case BNN_OP_LOG_SOFTMAX:
        if (!bnn_pass_is_graph_output(c->g, y))
            return unsupported(c, "a softmax inside the network (only a classifier's final "
                                  "softmax has a rule: the probit link)");
        softmax_heads[(*n_heads)++] = node_id; /* done with the outputs */
        return BNN_OK;
    default: {
        char why[200];
        snprintf(why, sizeof why, "op '%s' has no moment rule (the moment predictive "
                 "supports the ops listed in docs/uncertainty.md)", bnn_op_get(n->op)->name);
        return unsupported(c, why);
    }
    }
    if (y < c->n_original)
        c->var[y] = v;
    return BNN_OK;
}

/* probs = softmax-like node(M / sqrt(1 + pi/8 V)) with node `head`'s op and
 * attributes; when head >= 0 it is rewritten in place, else a softmax is
 * appended and *probs_out is its value. */
static bnn_status probit_head(moments_ctx *c, int head, int logits, int *probs_out)
{
    int lm = mean_of(c, logits), lv, k, one, t, u, r, z;
    BNN_TRY(var_or_zeros(c, logits, &lv));
    const char *stem = vname(c, lm);
    BNN_TRY(scalar(c, "moments.pi_over_8", (float)(M_PI / 8.0), &k));
    BNN_TRY(scalar(c, "moments.one", 1.0f, &one));
    int a[2] = {lv, k};
    BNN_TRY(emit(c, BNN_OP_MUL, a, 2, stem, "probit_scaled_var", -1, &t));
    int b[2] = {t, one};
    BNN_TRY(emit(c, BNN_OP_ADD, b, 2, stem, "probit_denominator_sq", -1, &u));
    BNN_TRY(emit(c, BNN_OP_SQRT, &u, 1, stem, "probit_denominator", -1, &r));
    int d[2] = {lm, r};
    BNN_TRY(emit(c, BNN_OP_DIV, d, 2, stem, "probit_logits", -1, &z));
    if (head >= 0) {
        bnn_graph_node(c->g, head)->inputs[0] = z;
        *probs_out = bnn_graph_node(c->g, head)->outputs[0];
        return BNN_OK;
    }
    BNN_TRY(emit(c, BNN_OP_SOFTMAX, &z, 1, stem, "probit_probabilities", -1, probs_out));
    int nid = bnn_graph_value(c->g, *probs_out)->producer;
    int rank = bnn_graph_value(c->g, z)->shape.rank;
    if (bnn_node_set_int(c->g, nid, "axis", rank > 0 ? rank - 1 : -1) != BNN_OK)
        return oom(c);
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* The logits' full covariance when a dense layer makes them from an input
 * with variance v (diagonal): C = W diag(v) W^T + diag(noise), with the
 * weight noise term independent across outputs.  Its diagonal is the
 * variance the rules give; the off-diagonal is what the input's variance
 * shares between logits, which the probabilities' spread (the mutual
 * information) depends on.  Standard ops only: unsqueeze, mul, matmul, add.
 * *cov_out stays -1 when there is nothing beyond the diagonal. */
static bnn_status logits_covariance(moments_ctx *c, int logits, int *cov_out)
{
    *cov_out = -1;
    if (logits >= c->n_original || c->dense_weight[logits] < 0 ||
        c->dense_in_var[logits] == NO_VAR || !bnn_pass_is_f32_param(c->g, c->dense_weight[logits]))
        return BNN_OK;
    const bnn_value *w = bnn_graph_value(c->g, c->dense_weight[logits]);
    const bnn_shape *vs = &bnn_graph_value(c->g, c->dense_in_var[logits])->shape;
    if (w->shape.rank != 2 || vs->rank != 2)
        return BNN_OK;
    int64_t k = w->shape.dims[0], h = w->shape.dims[1];
    float *wt = malloc(sizeof(float) * (size_t)(k * h) + 1);
    float *eye = malloc(sizeof(float) * (size_t)(k * k) + 1);
    if (!wt || !eye) {
        free(wt);
        free(eye);
        return oom(c);
    }
    const float *wd = w->data;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < h; j++)
            wt[j * k + i] = wd[i * h + j];
    for (int64_t i = 0; i < k * k; i++)
        eye[i] = i % (k + 1) == 0 ? 1.0f : 0.0f;
    char base[600];
    snprintf(base, sizeof base, "%s_transposed", w->name);
    bnn_shape ts = {.rank = 2, .dims = {h, k}}, es = {.rank = 2, .dims = {k, k}};
    int wt_id, eye_id;
    bnn_status st = constant(c, base, &ts, wt, &wt_id);
    if (st == BNN_OK)
        st = constant(c, "moments.identity", &es, eye, &eye_id);
    free(wt);
    free(eye);
    BNN_TRY(st);
    const char *stem = vname(c, mean_of(c, logits));
    int u, scaled, shared;
    const int64_t axis1[1] = {1}, axis2[1] = {2};
    BNN_TRY(emit_with(c, BNN_OP_UNSQUEEZE, &c->dense_in_var[logits], 1, stem, "input_var_rows",
                      -1, "axes", axis1, 1, &u));
    int m1[2] = {u, c->dense_weight[logits]};
    BNN_TRY(emit(c, BNN_OP_MUL, m1, 2, stem, "scaled_weight", -1, &scaled));
    int m2[2] = {scaled, wt_id};
    bool noisy = c->dense_noise[logits] >= 0 || c->dense_weight_sq[logits] >= 0;
    BNN_TRY(emit(c, BNN_OP_MATMUL, m2, 2, stem, noisy ? "shared_cov" : "cov", -1, &shared));
    if (!noisy) {
        *cov_out = shared;
        return BNN_OK;
    }
    int noise = c->dense_noise[logits];
    if (noise < 0) {
        /* the stacked product gave V only: the weight noise's part is V minus
         * the input variance's diagonal, V(x) (mu^2)^T */
        int through, prop[2] = {c->dense_in_var[logits], c->dense_weight_sq[logits]};
        BNN_TRY(emit(c, BNN_OP_DENSE, prop, 2, stem, "shared_var", -1, &through));
        int diff[2] = {var_of(c, logits), through};
        BNN_TRY(emit(c, BNN_OP_SUB, diff, 2, stem, "noise_var", -1, &noise));
    }
    int col, diag;
    BNN_TRY(emit_with(c, BNN_OP_UNSQUEEZE, &noise, 1, stem, "noise_var_column", -1, "axes",
                      axis2, 1, &col));
    int m3[2] = {col, eye_id};
    BNN_TRY(emit(c, BNN_OP_MUL, m3, 2, stem, "noise_cov", -1, &diag));
    int sum[2] = {shared, diag};
    return emit(c, BNN_OP_ADD, sum, 2, stem, "cov", -1, cov_out);
}

static bnn_status finish_outputs(moments_ctx *c, const int *heads, int n_heads, bool probit)
{
    int n_out = c->g->n_outputs;
    int *orig = malloc(sizeof(int) * (size_t)n_out + 1);
    if (!orig)
        return oom(c);
    memcpy(orig, c->g->outputs, sizeof(int) * (size_t)n_out);
    bnn_status st = BNN_OK;
    for (int i = 0; i < n_out && st == BNN_OK; i++) {
        int o = orig[i], head = -1;
        for (int h = 0; h < n_heads; h++)
            if (bnn_graph_node(c->g, heads[h])->outputs[0] == o)
                head = heads[h];
        c->node_id = head >= 0 ? head : bnn_graph_value(c->g, o)->producer;
        if (c->node_id < 0)
            c->node_id = 0;
        snprintf(c->layer, sizeof c->layer, "%s", vname(c, o));
        if (head >= 0 || (probit && i == 0)) {
            int logits = head >= 0 ? bnn_graph_node(c->g, head)->inputs[0] : o, probs, lv;
            int cov = -1;
            st = probit_head(c, head, logits, &probs);
            if (st == BNN_OK)
                st = var_or_zeros(c, logits, &lv);
            if (st == BNN_OK && i == 0 && c->covariance)
                st = logits_covariance(c, logits, &cov);
            if (st == BNN_OK) {
                c->g->outputs[i] = probs;
                if (bnn_graph_add_output(c->g, mean_of(c, logits)) != BNN_OK ||
                    bnn_graph_add_output(c->g, lv) != BNN_OK ||
                    (cov >= 0 && bnn_graph_add_output(c->g, cov) != BNN_OK))
                    st = oom(c);
            }
            continue;
        }
        int v;
        st = var_or_zeros(c, o, &v);
        if (st == BNN_OK) {
            c->g->outputs[i] = mean_of(c, o);
            if (bnn_graph_add_output(c->g, v) != BNN_OK)
                st = oom(c);
        }
    }
    free(orig);
    return st;
}

/* relu (or leaky relu) whose only use is a max_pool becomes max_pool then
 * relu: the two commute exactly (max commutes with any nondecreasing
 * function, and a window never lies wholly in the padding), and the moment
 * rules like the swapped order better.  Clark's match is then applied to the
 * convolution's outputs, which are Gaussian (given independent inputs),
 * rather than to rectified values with a point mass at zero, and the relu
 * moments run on the pooled map (a quarter of the elements for a 2x2 pool).
 * Nodes keep their ids; op, attributes and names trade places, and the
 * middle value takes the pooled shape. */
static bnn_status pool_before_relu(bnn_graph *g, bnn_diag *diag)
{
    int *uses = calloc((size_t)g->n_values + 1, sizeof(int));
    int *user = malloc(sizeof(int) * (size_t)g->n_values + 1);
    if (!uses || !user) {
        free(uses);
        free(user);
        return bnn_fail(diag, BNN_ERR_NOMEM, "bnn-to-moments: out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        for (int k = 0; !n->dead && k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) {
                uses[n->inputs[k]]++;
                user[n->inputs[k]] = i;
            }
    }
    bnn_status st = BNN_OK;
    for (int i = 0; i < g->n_nodes && st == BNN_OK; i++) {
        bnn_node *r = &g->nodes[i];
        if (r->dead || (r->op != BNN_OP_RELU && r->op != BNN_OP_LEAKY_RELU) ||
            r->n_outputs != 1)
            continue;
        int y = r->outputs[0];
        if (uses[y] != 1 || bnn_pass_is_graph_output(g, y))
            continue;
        bnn_node *p = &g->nodes[user[y]];
        if (p->op != BNN_OP_MAX_POOL || p->n_inputs != 1 || p->n_outputs != 1 ||
            p->inputs[0] != y)
            continue;
        bnn_node tmp = *r;
        r->op = p->op;
        r->name = p->name;
        r->n_attrs = p->n_attrs;
        r->attrs = p->attrs;
        p->op = tmp.op;
        p->name = tmp.name;
        p->n_attrs = tmp.n_attrs;
        p->attrs = tmp.attrs;
        bnn_graph_value(g, y)->shape.rank = -1; /* re-inferred: the pooled shape */
        st = bnn_graph_infer_node(g, i, diag);
        if (st == BNN_OK)
            st = bnn_graph_infer_node(g, user[y], diag);
    }
    free(uses);
    free(user);
    return st;
}

static bnn_status check_moments(const bnn_pass_args *args, bnn_diag *diag)
{
    const char *mode = bnn_pass_arg(args, "mode"), *link = bnn_pass_arg(args, "link");
    if (strcmp(mode, "moments") != 0 && strcmp(mode, "glm") != 0)
        return bnn_pass_arg_fail(args, "mode", diag, BNN_ERR_INVALID,
                                 "'%s' is not moments or glm", mode);
    const char *cov = bnn_pass_arg(args, "covariance");
    if (strcmp(cov, "0") != 0 && strcmp(cov, "1") != 0)
        return bnn_pass_arg_fail(args, "covariance", diag, BNN_ERR_INVALID, "'%s' is not 0 or 1",
                                 cov);
    if (strcmp(link, "auto") != 0 && strcmp(link, "probit") != 0)
        return bnn_pass_arg_fail(args, "link", diag, BNN_ERR_INVALID,
                                 "'%s' is not auto or probit", link);
    return BNN_OK;
}

static bnn_status run_moments(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    BNN_TRY(check_moments(args, diag));
    moments_ctx c = {.g = g, .diag = diag, .n_original = g->n_values,
                     .glm = strcmp(bnn_pass_arg(args, "mode"), "glm") == 0,
                     .covariance = strcmp(bnn_pass_arg(args, "covariance"), "1") == 0};
    bool probit = strcmp(bnn_pass_arg(args, "link"), "probit") == 0;
    int n_nodes = g->n_nodes;
    c.mean = malloc(sizeof(int) * (size_t)c.n_original + 1);
    c.var = malloc(sizeof(int) * (size_t)c.n_original + 1);
    int *heads = malloc(sizeof(int) * (size_t)n_nodes + 1);
    c.dense_weight = malloc(sizeof(int) * (size_t)c.n_original + 1);
    c.dense_in_var = malloc(sizeof(int) * (size_t)c.n_original + 1);
    c.dense_noise = malloc(sizeof(int) * (size_t)c.n_original + 1);
    c.dense_weight_sq = malloc(sizeof(int) * (size_t)c.n_original + 1);
    c.original_op = malloc(sizeof(bnn_op) * (size_t)n_nodes + 1);
    bnn_status st = BNN_OK;
    if (!c.mean || !c.var || !heads || !c.dense_weight || !c.dense_in_var || !c.dense_noise ||
        !c.dense_weight_sq || !c.original_op) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "bnn-to-moments: out of memory");
        goto done;
    }
    for (int v = 0; v < c.n_original; v++) {
        c.mean[v] = v;
        c.var[v] = NO_VAR;
        c.dense_weight[v] = c.dense_in_var[v] = c.dense_noise[v] = c.dense_weight_sq[v] = -1;
    }
    int n_heads = 0;
    if (!c.glm)
        st = pool_before_relu(g, diag);
    for (int i = 0; i < n_nodes; i++)
        c.original_op[i] = g->nodes[i].op;
    for (int i = 0; i < n_nodes && st == BNN_OK; i++)
        if (!g->nodes[i].dead)
            st = rewrite(&c, i, heads, &n_heads);
    if (st == BNN_OK)
        st = finish_outputs(&c, heads, n_heads, probit);
    if (st == BNN_OK)
        st = bnn_graph_sort(g, diag);
done:
    free(c.mean);
    free(c.var);
    free(c.dense_weight);
    free(c.dense_in_var);
    free(c.dense_noise);
    free(c.dense_weight_sq);
    free(c.original_op);
    free(heads);
    return st;
}

static const bnn_pass_option_info moments_options[] = {
    {"mode", "moments",
     "moments: propagate means and variances through every op; glm: the network linearised "
     "at the posterior mean"},
    {"link", "auto",
     "auto: the probit link for an output made by softmax; probit: also for an output of "
     "logits"},
    {"covariance", "0",
     "1: when a dense layer makes the classifier's logits, also output their full covariance "
     "[N, K, K] (\"<logits>_cov\", after the variance)"},
};

const bnn_pass_def bnn_pass_bnn_to_moments = {
    .info = {"bnn-to-moments",
             "carry a mean and a variance per activation, for a one-pass (sampling-free) "
             "predictive; outputs (probabilities, logits, logits_var) or (mean, var)",
             moments_options, 3},
    .check = check_moments,
    .run = run_moments,
};
