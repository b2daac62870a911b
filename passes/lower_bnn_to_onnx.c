/* lower-bnn-to-onnx: write each Bayesian layer's weight sampling with standard
 * ops, so that any ONNX runtime can run a converted model (the file then needs
 * no ai.bnnc domain).
 *
 *   bnn.dense_reparam(x, Wmu, Wrho[, bmu, brho])
 *     ->  W = add(Wmu, mul(softplus(Wrho), random_normal_like(Wmu)))
 *         b = add(bmu, mul(softplus(brho), random_normal_like(bmu)))
 *         dense(x, W, b)
 *   bnn.conv_reparam(...)  -> the same, then conv1d or conv2d (by the weight's
 *                             rank) keeping strides/pads/dilations/group
 *   bnn.conv_transpose_reparam(...) -> the same, then conv_transpose
 *   bnn.weight_reparam(mu, rho) -> add(mu, mul(softplus(rho),
 *                             random_normal_like(mu))), the add keeping the
 *                             node's name and output (an lstm's W, ...)
 *
 * This is the reparameterisation the runtime's Bayesian kernels compute
 * (runtime/kernels/bayes.c): one weight sample per forward pass, shared by the
 * batch, eps ~ N(0, 1).  A layer with estimator=local samples its output
 * instead (see lower_local: "fc.weight_sigma", "fc.weight_var" and, after
 * the output value %y, "y_x2", "y_mean", "y_var", "y_std", "y_eps",
 * "y_noise"; nodes "LAYER/out_mean", ...; the layer's node becomes the final
 * add).  flipout has no lowering: its per-example random signs have no
 * standard op here.  New values are named after the mu param, its "_mu"
 * dropped ("fc1.weight_mu" -> "fc1.weight_eps", "fc1.weight_sigma",
 * "fc1.weight_noise", "fc1.weight_sample"; a mu param named otherwise gives
 * "LAYER.weight_eps", ...), and new nodes after the layer's node:
 * "/fc1/Gemm" -> "/fc1/Gemm/weight_eps", ... (a layer without a node name
 * gives its nodes the values' names).  The prior attributes go (the
 * lowered model only samples; it has no KL term).  The random_normal_like
 * nodes get no seed attribute, so an ONNX runtime draws afresh per session
 * and bnnc keys them by --seed.
 */
#include <string.h>

#include "passes_impl.h"

typedef struct lower_ctx {
    bnn_graph *g;
    bnn_diag *diag;
    int node_id;          /* the Bayesian layer being lowered */
    const char *layer;    /* arena: its node name, "" for none */
    const char *fallback; /* arena: the layer's name when a mu param does not end in _mu */
} lower_ctx;

static bnn_status oom(lower_ctx *c)
{
    char label[300];
    return bnn_fail(c->diag, BNN_ERR_NOMEM, "%s: out of memory",
                    bnn_node_label(c->g, c->node_id, label, sizeof label));
}

/* Appends node `op`(inputs) producing a fresh value named stem + "_" + suffix
 * (made unique), the node named LAYER/what_suffix, and infers its type; *out
 * is the value's id. */
static bnn_status emit(lower_ctx *c, bnn_op op, const int *inputs, int n_inputs, const char *stem,
                       const char *what, const char *suffix, int *out)
{
    char want[600], name[600], node_name[600];
    snprintf(want, sizeof want, "%s_%s", stem, suffix);
    const char *fresh = bnn_pass_unique_name(c->g, want, name, sizeof name);
    if (*c->layer)
        snprintf(node_name, sizeof node_name, "%s/%s_%s", c->layer, what, suffix);
    else
        snprintf(node_name, sizeof node_name, "%s", fresh);
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, fresh, BNN_UNDEFINED, &unknown);
    if (v < 0)
        return oom(c);
    int nid = bnn_graph_add_node(c->g, op, node_name, inputs, n_inputs, &v, 1);
    if (nid < 0)
        return oom(c);
    *out = v;
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* *out = mu + softplus(rho) * random_normal_like(mu); `what` is "weight" or
 * "bias". */
static bnn_status sample(lower_ctx *c, int mu, int rho, const char *what, int *out)
{
    char stem[512];
    const char *mu_name = bnn_graph_value(c->g, mu)->name;
    size_t len = strlen(mu_name);
    if (len > 3 && strcmp(mu_name + len - 3, "_mu") == 0)
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 3), mu_name);
    else
        snprintf(stem, sizeof stem, "%s.%s", c->fallback, what);
    int eps, sigma, noise;
    BNN_TRY(emit(c, BNN_OP_RANDOM_NORMAL_LIKE, &mu, 1, stem, what, "eps", &eps));
    BNN_TRY(emit(c, BNN_OP_SOFTPLUS, &rho, 1, stem, what, "sigma", &sigma));
    int mul_in[2] = {sigma, eps};
    BNN_TRY(emit(c, BNN_OP_MUL, mul_in, 2, stem, what, "noise", &noise));
    int add_in[2] = {mu, noise};
    return emit(c, BNN_OP_ADD, add_in, 2, stem, what, "sample", out);
}

/* The deterministic layer op a Bayesian node becomes. */
static bnn_op layer_op(const bnn_graph *g, const bnn_node *n)
{
    (void)g;
    return bnn_op_get(n->op)->pair;
}

/* *out = layer(inputs) as a new node with the Bayesian node's layer
 * attributes (strides, pads, ...; not the prior's), named like emit(). */
static bnn_status emit_layer(lower_ctx *c, const int *inputs, int n_inputs, const char *stem,
                             const char *suffix, int *out)
{
    char want[600], name[600], node_name[600];
    snprintf(want, sizeof want, "%s_%s", stem, suffix);
    const char *fresh = bnn_pass_unique_name(c->g, want, name, sizeof name);
    if (*c->layer)
        snprintf(node_name, sizeof node_name, "%s/out_%s", c->layer, suffix);
    else
        snprintf(node_name, sizeof node_name, "%s", fresh);
    bnn_shape unknown = {.rank = -1};
    int v = bnn_graph_add_value(c->g, fresh, BNN_UNDEFINED, &unknown);
    if (v < 0)
        return oom(c);
    bnn_op op = layer_op(c->g, bnn_graph_node(c->g, c->node_id));
    int nid = bnn_graph_add_node(c->g, op, node_name, inputs, n_inputs, &v, 1);
    if (nid < 0 || bnn_node_copy_attrs(c->g, nid, c->g, c->node_id) != BNN_OK ||
        bnn_pass_drop_prior_attrs(c->g, nid) != BNN_OK)
        return oom(c);
    *out = v;
    return bnn_graph_infer_node(c->g, nid, c->diag);
}

/* *out = softplus(rho)^2, named after the mu param like sample(). */
static bnn_status variance(lower_ctx *c, int mu, int rho, const char *what, int *out)
{
    char stem[512];
    const char *mu_name = bnn_graph_value(c->g, mu)->name;
    size_t len = strlen(mu_name);
    if (len > 3 && strcmp(mu_name + len - 3, "_mu") == 0)
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 3), mu_name);
    else
        snprintf(stem, sizeof stem, "%s.%s", c->fallback, what);
    int sigma;
    BNN_TRY(emit(c, BNN_OP_SOFTPLUS, &rho, 1, stem, what, "sigma", &sigma));
    int sq[2] = {sigma, sigma};
    return emit(c, BNN_OP_MUL, sq, 2, stem, what, "var", out);
}

/* estimator=local: the layer's output is sampled, not its weights:
 *   mean = layer(x, Wmu, bmu),  var = layer(x*x, softplus(Wrho)^2, softplus(brho)^2)
 *   y = mean + sqrt(var) * random_normal_like(mean)
 * (runtime/kernels/bayes_estimators.c).  The Bayesian node itself becomes the final
 * add, keeping its name and output. */
static bnn_status lower_local(lower_ctx *c, int x, int wmu, int wrho, int bmu, int brho)
{
    const char *y_name = bnn_graph_value(c->g, bnn_graph_node(c->g, c->node_id)->outputs[0])->name;
    char stem[512];
    snprintf(stem, sizeof stem, "%s", y_name);
    int wvar, bvar = -1, x2, mean, var, sd, eps, noise;
    BNN_TRY(variance(c, wmu, wrho, "weight", &wvar));
    if (bmu >= 0 && brho >= 0)
        BNN_TRY(variance(c, bmu, brho, "bias", &bvar));
    int sq[2] = {x, x};
    BNN_TRY(emit(c, BNN_OP_MUL, sq, 2, stem, "out", "x2", &x2));
    int mean_in[3] = {x, wmu, bmu};
    BNN_TRY(emit_layer(c, mean_in, bmu >= 0 ? 3 : 2, stem, "mean", &mean));
    int var_in[3] = {x2, wvar, bvar};
    BNN_TRY(emit_layer(c, var_in, bvar >= 0 ? 3 : 2, stem, "var", &var));
    BNN_TRY(emit(c, BNN_OP_SQRT, &var, 1, stem, "out", "std", &sd));
    BNN_TRY(emit(c, BNN_OP_RANDOM_NORMAL_LIKE, &mean, 1, stem, "out", "eps", &eps));
    int mul_in[2] = {sd, eps};
    BNN_TRY(emit(c, BNN_OP_MUL, mul_in, 2, stem, "out", "noise", &noise));
    bnn_node *m = bnn_graph_node(c->g, c->node_id);
    m->op = BNN_OP_ADD;
    m->n_attrs = 0; /* arena memory: nothing to free */
    m->attrs = NULL;
    if (bnn_pass_resize_inputs(c->g, c->node_id, 2) != BNN_OK)
        return oom(c);
    m = bnn_graph_node(c->g, c->node_id);
    m->inputs[0] = mean;
    m->inputs[1] = noise;
    return BNN_OK;
}

static bnn_status lower_layer(bnn_graph *g, int node_id, bnn_diag *diag)
{
    char label[300];
    const bnn_node *n = bnn_graph_node(g, node_id);
    if (n->op == BNN_OP_WEIGHT_REPARAM) {
        /* the node itself becomes the final add, keeping its output:
         * mu + softplus(rho) * random_normal_like(mu) */
        lower_ctx c = {.g = g, .diag = diag, .node_id = node_id, .layer = n->name,
                       .fallback = *n->name ? n->name : bnn_graph_value(g, n->outputs[0])->name};
        int mu = n->inputs[0], rho = n->inputs[1], eps, sigma, noise;
        char stem[512];
        const char *mu_name = bnn_graph_value(g, mu)->name;
        size_t len = strlen(mu_name);
        snprintf(stem, sizeof stem, "%.*s", (int)(len > 3 && !strcmp(mu_name + len - 3, "_mu")
                                                      ? len - 3 : len), mu_name);
        BNN_TRY(emit(&c, BNN_OP_RANDOM_NORMAL_LIKE, &mu, 1, stem, "weight", "eps", &eps));
        BNN_TRY(emit(&c, BNN_OP_SOFTPLUS, &rho, 1, stem, "weight", "sigma", &sigma));
        int mul_in[2] = {sigma, eps};
        BNN_TRY(emit(&c, BNN_OP_MUL, mul_in, 2, stem, "weight", "noise", &noise));
        bnn_node *m = bnn_graph_node(g, node_id);
        m->op = BNN_OP_ADD;
        m->n_attrs = 0; /* arena memory: nothing to free */
        m->attrs = NULL;
        m = bnn_graph_node(g, node_id);
        m->inputs[0] = mu;
        m->inputs[1] = noise;
        return BNN_OK;
    }
    const char *estimator = bnn_node_string(n, "estimator", "reparam");
    bool local = strcmp(estimator, "local") == 0;
    if (strcmp(estimator, "reparam") != 0 && !local)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "%s: estimator '%s' cannot be lowered (reparam and local can; "
                        "bnn-to-mean gives a deterministic model)",
                        bnn_node_label(g, node_id, label, sizeof label), estimator);
    int x = n->inputs[0], wmu = n->inputs[1], wrho = n->inputs[2];
    int bmu = n->n_inputs > 3 ? n->inputs[3] : -1;
    int brho = n->n_inputs > 4 ? n->inputs[4] : -1;
    lower_ctx c = {.g = g, .diag = diag, .node_id = node_id, .layer = n->name,
                   .fallback = *n->name ? n->name : bnn_graph_value(g, n->outputs[0])->name};
    if (local)
        return lower_local(&c, x, wmu, wrho, bmu, brho);
    int w, b = bmu;
    BNN_TRY(sample(&c, wmu, wrho, "weight", &w));
    if (bmu >= 0 && brho >= 0)
        BNN_TRY(sample(&c, bmu, brho, "bias", &b));
    bnn_node *m = bnn_graph_node(g, node_id);
    m->op = layer_op(g, m);
    if (bnn_pass_drop_prior_attrs(g, node_id) != BNN_OK ||
        bnn_pass_resize_inputs(g, node_id, b >= 0 ? 3 : 2) != BNN_OK)
        return oom(&c);
    m = bnn_graph_node(g, node_id);
    m->inputs[0] = x;
    m->inputs[1] = w;
    if (b >= 0)
        m->inputs[2] = b;
    return BNN_OK;
}

static bnn_status run_lower(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    (void)args;
    int n_nodes = g->n_nodes; /* the nodes added here are not Bayesian */
    bool changed = false;
    for (int i = 0; i < n_nodes; i++) {
        if (g->nodes[i].dead || !bnn_op_is_bayesian(g->nodes[i].op))
            continue;
        BNN_TRY(lower_layer(g, i, diag));
        changed = true;
    }
    /* The sampling nodes were appended after their consumers. */
    return changed ? bnn_graph_sort(g, diag) : BNN_OK;
}

const bnn_pass_def bnn_pass_lower_bnn_to_onnx = {
    .info = {"lower-bnn-to-onnx",
             "write each Bayesian layer's sampling with standard ONNX ops (RandomNormalLike, "
             "Softplus, Mul, Add; Sqrt for estimator=local; not flipout)",
             NULL, 0},
    .check = NULL,
    .run = run_lower,
};
