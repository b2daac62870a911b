/* to-bnn: replace dense, conv and conv_transpose layers by Bayesian ones.
 *
 *   dense(x, W, b)          -> bnn.dense_reparam(x, P.weight_mu, P.weight_rho, P.bias_mu, P.bias_rho)
 *   conv1d/conv2d(x, W, b)  -> bnn.conv_reparam(...same...), keeping strides, pads,
 *                              dilations and group
 *   conv_transpose(x, W, b) -> bnn.conv_transpose_reparam(...same...), keeping
 *                              output_padding too (1-D and 2-D)
 *
 *   lstm/gru/rnn(x, W, R, B, ...) -> the same node reading
 *                              bnn.weight_reparam(P.W_mu, P.W_rho) for W, and
 *                              likewise for R and B (layers=recurrent, or
 *                              lstm, gru, rnn; never part of "all")
 *
 * The layer types are the ops whose ops.def row names a Bayesian PAIR.  ONNX
 * MatMul and Gemm with a constant 2-D weight are dense layers once
 * canonicalize has run (bnnc convert's pipeline starts with it).  A
 * recurrent layer keeps its node, its kernel and its attributes; each of its
 * constant f32 weights (W, R, B) goes through its own bnn.weight_reparam
 * node, named "NODE/W_sample" (its value P.W_sample, P the node's name, else
 * its first output's), which samples with estimator reparam whatever the
 * estimator option (local and flipout need the layer's product).
 *
 * with attributes prior_mu, prior_sigma and estimator (reparam, flipout or
 * local: how the runtime's kernel draws the noise, runtime/k_bayes*.c; the
 * posterior and the KL term are the same for all three).  P is the weight's name
 * without ".weight" when it ends so ("fc1.weight" -> "fc1"), else the node's
 * name (else the weight's name).  A layer without a bias gets no bias
 * posterior.  The node keeps its name, its place and its result value; mu and
 * rho are new trainable params (added after the existing ones); the old
 * weight and bias stay until dce drops them.  Nothing else is touched.
 * only= and exclude= name layers by node name or, for a weight "fc1.weight",
 * by "fc1".
 *
 * Posterior init (sigma = softplus(rho), rho = log(expm1(sigma))):
 *   init=weights (MOPED): mu = the trained value, sigma = max(delta*|w|, 1e-5)
 *   init=random:          mu ~ N(0, 0.1^2), rho = rho_init; seeded by `seed`,
 *                         one stream per param name.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

/* sigma's floor under init=weights: a zero weight must still get a positive
 * sigma, small enough not to disturb the trained function. */
#define SIGMA_FLOOR 1e-5
#define RANDOM_MU_STD 0.1

static const bnn_pass_option_info to_bnn_options[] = {
    {"layers", "all",
     "layer types to convert: dense, conv, conv_transpose, all (those three), recurrent (lstm, "
     "gru, rnn), or a comma list"},
    {"only", "", "convert only these layers (comma list of node names, or fc1 for fc1.weight)"},
    {"exclude", "", "never convert these layers (names as for only)"},
    {"prior_mu", "0",
     "mean of the Gaussian prior N(prior_mu, prior_sigma^2): a number, or weights (each "
     "element's prior centred on its trained value, kept as the layer's prior input)"},
    {"prior_sigma", BNN_PRIOR_SIGMA_DEFAULT_TEXT, "standard deviation of the prior (> 0)"},
    {"prior_pi", "0",
     "a scale-mixture prior prior_pi N(prior_mu, prior_sigma^2) + (1 - prior_pi) "
     "N(prior_mu, prior_sigma2^2), KL sampled at the weight draw (reparam only); 0: Gaussian"},
    {"prior_sigma2", "0.0025", "the scale mixture's second standard deviation (> 0)"},
    {"init", "weights",
     "posterior init: weights (mu = trained weight, sigma = max(delta*|w|, 1e-5)) "
     "or random (mu ~ N(0, 0.1), rho = rho_init)"},
    {"delta", "0.1", "init=weights: sigma = delta * |w| (>= 0)"},
    {"rho_init", "-3", "init=random: initial rho (sigma = softplus(rho))"},
    {"seed", "0", "init=random: seed of the mu draws"},
    {"estimator", "reparam",
     "gradient estimator: reparam (one weight draw per pass), flipout (random signs per "
     "example) or local (noise on the outputs)"},
};
#define N_OPTIONS ((int)(sizeof to_bnn_options / sizeof to_bnn_options[0]))

typedef struct to_bnn_config {
    bool layer[BNN_OP_COUNT]; /* convert nodes of this op (one with a Bayesian pair, or a
                                 recurrent one: its weights through bnn.weight_reparam) */
    bnn_name_list only, exclude;
    double prior_mu, prior_sigma, delta, rho_init, prior_pi, prior_sigma2;
    bool init_random;
    bool prior_weights; /* prior_mu=weights: the trained weights are the prior's means */
    uint64_t seed;
    const char *layers_text;
    const char *estimator; /* the option's text: reparam, flipout or local */
} to_bnn_config;

static void config_free(to_bnn_config *c)
{
    bnn_name_list_free(&c->only);
    bnn_name_list_free(&c->exclude);
}

/* A deterministic layer that has a Bayesian form (ops.def PAIR). */
static bool is_layer_op(bnn_op op)
{
    return op >= 0 && op < BNN_OP_COUNT && !bnn_op_is_bayesian(op) &&
           bnn_op_get(op)->pair != BNN_OP_NONE;
}

static bool is_recurrent_op(bnn_op op)
{
    return op == BNN_OP_LSTM || op == BNN_OP_GRU || op == BNN_OP_RNN;
}

/* "dense, conv, ...": the layer types, for messages. */
static void layer_types(char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int op = 0; op < BNN_OP_COUNT; op++)
        if ((is_layer_op((bnn_op)op) || is_recurrent_op((bnn_op)op)) && len < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                                    bnn_op_get((bnn_op)op)->name);
    if (len < n)
        snprintf(buf + len, n - len, ", recurrent");
}

static bnn_status read_config(const bnn_pass_args *a, to_bnn_config *c, bnn_diag *diag)
{
    memset(c, 0, sizeof *c);
    bnn_name_list layers;
    BNN_TRY(bnn_pass_arg_list(a, "layers", &layers, diag));
    c->layers_text = bnn_pass_arg(a, "layers");
    if (layers.count == 0)
        return bnn_pass_arg_fail(a, "layers", diag, BNN_ERR_INVALID,
                                 "empty (expected dense, conv, all or a comma list)");
    /* A layer type is the name of an op whose row has a Bayesian PAIR. */
    for (int i = 0; i < layers.count; i++) {
        const char *t = layers.items[i];
        bool all = strcmp(t, "all") == 0, known = all;
        bool recurrent = strcmp(t, "recurrent") == 0;
        for (int op = 0; op < BNN_OP_COUNT; op++) {
            /* "all" is every layer with a Bayesian form; recurrent layers
             * (their weights sampled on their own) only when named */
            bool layer = is_layer_op((bnn_op)op), rec = is_recurrent_op((bnn_op)op);
            if (!layer && !rec)
                continue;
            if ((all && layer) || (recurrent && rec) ||
                strcmp(t, bnn_op_get((bnn_op)op)->name) == 0) {
                c->layer[op] = true;
                known = true;
            }
        }
        if (!known) {
            char types[256];
            layer_types(types, sizeof types);
            bnn_status st = bnn_pass_arg_fail(a, "layers", diag, BNN_ERR_INVALID,
                                              "unknown layer type '%s' (expected %s or all)", t,
                                              types);
            bnn_name_list_free(&layers);
            return st;
        }
    }
    bnn_name_list_free(&layers);

    const char *init = bnn_pass_arg(a, "init");
    if (strcmp(init, "random") == 0)
        c->init_random = true;
    else if (strcmp(init, "weights") != 0)
        return bnn_pass_arg_fail(a, "init", diag, BNN_ERR_INVALID,
                                 "'%s' is not weights or random", init);
    const char *est = bnn_pass_arg(a, "estimator");
    c->estimator = est;
    if (strcmp(est, "reparam") != 0 && strcmp(est, "flipout") != 0 && strcmp(est, "local") != 0)
        return bnn_pass_arg_fail(a, "estimator", diag, BNN_ERR_INVALID,
                                 "'%s' is not reparam, flipout or local", est);

    c->prior_weights = strcmp(bnn_pass_arg(a, "prior_mu"), "weights") == 0;
    if (!c->prior_weights)
        BNN_TRY(bnn_pass_arg_float(a, "prior_mu", &c->prior_mu, diag));
    BNN_TRY(bnn_pass_arg_float(a, "prior_sigma", &c->prior_sigma, diag));
    if (!(c->prior_sigma > 0.0) || (float)c->prior_sigma <= 0.0f)
        return bnn_pass_arg_fail(a, "prior_sigma", diag, BNN_ERR_INVALID,
                                 "%s must be positive", bnn_pass_arg(a, "prior_sigma"));
    BNN_TRY(bnn_pass_arg_float(a, "prior_pi", &c->prior_pi, diag));
    BNN_TRY(bnn_pass_arg_float(a, "prior_sigma2", &c->prior_sigma2, diag));
    if (!(c->prior_pi >= 0.0 && c->prior_pi < 1.0))
        return bnn_pass_arg_fail(a, "prior_pi", diag, BNN_ERR_INVALID,
                                 "%s must be in [0, 1) (0: one Gaussian)", bnn_pass_arg(a, "prior_pi"));
    if (!(c->prior_sigma2 > 0.0) || (float)c->prior_sigma2 <= 0.0f)
        return bnn_pass_arg_fail(a, "prior_sigma2", diag, BNN_ERR_INVALID,
                                 "%s must be positive", bnn_pass_arg(a, "prior_sigma2"));
    if (c->prior_pi > 0 && strcmp(c->estimator, "reparam") != 0)
        return bnn_pass_arg_fail(a, "prior_pi", diag, BNN_ERR_INVALID,
                                 "the scale-mixture prior needs estimator=reparam (its KL is "
                                 "sampled at the layer's weight draw)");
    BNN_TRY(bnn_pass_arg_float(a, "delta", &c->delta, diag));
    if (c->delta < 0.0)
        return bnn_pass_arg_fail(a, "delta", diag, BNN_ERR_INVALID, "%s must not be negative",
                                 bnn_pass_arg(a, "delta"));
    BNN_TRY(bnn_pass_arg_float(a, "rho_init", &c->rho_init, diag));
    BNN_TRY(bnn_pass_arg_u64(a, "seed", &c->seed, diag));
    BNN_TRY(bnn_pass_arg_list(a, "only", &c->only, diag));
    bnn_status st = bnn_pass_arg_list(a, "exclude", &c->exclude, diag);
    if (st != BNN_OK)
        bnn_name_list_free(&c->only);
    return st;
}

static bnn_status check_to_bnn(const bnn_pass_args *a, bnn_diag *diag)
{
    to_bnn_config c;
    BNN_TRY(read_config(a, &c, diag));
    config_free(&c);
    return BNN_OK;
}

/* A layer answers to its node name and, when its weight is called
 * "<layer>.weight" (PyTorch's exports: "fc1.weight" on node "/fc1/Gemm"), to
 * "<layer>" too, so only=fc1 works on models straight from torch.onnx. */
static bool layer_is_named(const bnn_graph *g, const bnn_node *n, const char *name)
{
    if (strcmp(n->name, name) == 0)
        return true;
    if (!is_layer_op(n->op) || n->n_inputs < 2 || n->inputs[1] < 0)
        return false;
    const char *w = bnn_graph_value(g, n->inputs[1])->name;
    size_t len = strlen(w), nlen = strlen(name);
    return len == nlen + 7 && strncmp(w, name, nlen) == 0 && strcmp(w + nlen, ".weight") == 0;
}

static bool layer_in(const bnn_graph *g, const bnn_node *n, const bnn_name_list *list)
{
    for (int i = 0; i < list->count; i++)
        if (layer_is_named(g, n, list->items[i]))
            return true;
    return false;
}

/* Checks that every name in list is a live node (or layer) of a selected type. */
static bnn_status check_names(const bnn_graph *g, const to_bnn_config *c,
                              const bnn_name_list *list, const char *option, bnn_diag *diag)
{
    for (int i = 0; i < list->count; i++) {
        int id = -1;
        for (int k = 0; k < g->n_nodes && id < 0; k++)
            if (!g->nodes[k].dead && layer_is_named(g, &g->nodes[k], list->items[i]))
                id = k;
        if (id < 0)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: no node is named '%s'", option,
                            list->items[i]);
        if (c->layer[bnn_graph_node(g, id)->op])
            continue;
        char label[300];
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: %s is not a layer of the selected types (layers=%s)",
                        option, bnn_node_label(g, id, label, sizeof label), c->layers_text);
    }
    return BNN_OK;
}

/* Adds the mu and rho params for `src` (a weight or bias param), written in
 * place in the graph's arena (no staging copies: a large model's weights are
 * held once more, not three times).  */
static bnn_status add_posterior(bnn_graph *g, const to_bnn_config *c, int src, const char *prefix,
                                const char *what, int *mu_id, int *rho_id)
{
    bnn_shape shape = bnn_graph_value(g, src)->shape;
    const float *w = bnn_graph_value(g, src)->data; /* arena bytes: stay put as values grow */
    int64_t n = bnn_shape_numel(&shape);
    char mu_name[600], rho_name[600], mu_base[600], rho_base[600];
    snprintf(mu_base, sizeof mu_base, "%s.%s_mu", prefix, what);
    snprintf(rho_base, sizeof rho_base, "%s.%s_rho", prefix, what);
    bnn_pass_unique_name(g, mu_base, mu_name, sizeof mu_name);
    bnn_pass_unique_name(g, rho_base, rho_name, sizeof rho_name);
    *mu_id = bnn_pass_add_param(g, mu_name, &shape, NULL, true);
    *rho_id = *mu_id >= 0 ? bnn_pass_add_param(g, rho_name, &shape, NULL, true) : -1;
    if (*mu_id < 0 || *rho_id < 0)
        return BNN_ERR_NOMEM;
    float *mu = bnn_graph_value(g, *mu_id)->data, *rho = bnn_graph_value(g, *rho_id)->data;
    if (c->init_random) {
        bnn_pass_rng rng;
        bnn_pass_rng_seed(&rng, c->seed, mu_name);
        float r = (float)c->rho_init;
        for (int64_t i = 0; i < n; i++) {
            mu[i] = (float)(RANDOM_MU_STD * bnn_pass_rng_normal(&rng));
            rho[i] = r;
        }
    } else {
        /* mu = w, rho = bnn_rho_of_sigma(max(delta |w|, SIGMA_FLOOR)): vectorised */
        bnn_pass_rho_of_weights(w, mu, rho, n, c->delta, SIGMA_FLOOR);
    }
    return BNN_OK;
}

static bnn_status convert(bnn_graph *g, const to_bnn_config *c, int node_id)
{
    const bnn_node *n = bnn_graph_node(g, node_id);
    int w = n->inputs[1];
    int b = n->n_inputs > 2 ? n->inputs[2] : -1;
    char prefix[512];
    const char *wname = bnn_graph_value(g, w)->name;
    size_t len = strlen(wname);
    if (len > 7 && strcmp(wname + len - 7, ".weight") == 0)
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 7), wname);
    else
        snprintf(prefix, sizeof prefix, "%s", *n->name ? n->name : wname);
    int wmu, wrho, bmu = -1, brho = -1;
    BNN_TRY(add_posterior(g, c, w, prefix, "weight", &wmu, &wrho));
    if (b >= 0)
        BNN_TRY(add_posterior(g, c, b, prefix, "bias", &bmu, &brho));
    int count = c->prior_weights ? (b >= 0 ? 7 : 6) : (b >= 0 ? 5 : 3);
    BNN_TRY(bnn_pass_resize_inputs(g, node_id, count));
    bnn_node *m = bnn_graph_node(g, node_id);
    m->op = bnn_op_get(m->op)->pair;
    m->inputs[1] = wmu;
    m->inputs[2] = wrho;
    m->inputs[3] = bmu; /* -1 without a bias */
    m->inputs[4] = brho;
    if (c->prior_weights) { /* the trained params stay, as the prior's means */
        m->inputs[5] = w;
        bnn_graph_value(g, w)->trainable = false;
        if (b >= 0) {
            m->inputs[6] = b;
            bnn_graph_value(g, b)->trainable = false;
        }
    }
    BNN_TRY(bnn_node_set_float(g, node_id, "prior_mu", (float)c->prior_mu));
    BNN_TRY(bnn_node_set_float(g, node_id, "prior_sigma", (float)c->prior_sigma));
    if (c->prior_pi > 0) {
        BNN_TRY(bnn_node_set_float(g, node_id, "prior_pi", (float)c->prior_pi));
        BNN_TRY(bnn_node_set_float(g, node_id, "prior_sigma2", (float)c->prior_sigma2));
    }
    BNN_TRY(bnn_node_set_string(g, node_id, "estimator", c->estimator));
    return BNN_OK;
}

/* A recurrent layer: each constant f32 weight among W, R and B (inputs 1-3)
 * read through a new bnn.weight_reparam(mu, rho) node; *count gets how many. */
static bnn_status convert_recurrent(bnn_graph *g, const to_bnn_config *c, int node_id,
                                    int *count, bnn_diag *diag)
{
    static const char *const what[] = {"", "W", "R", "B"};
    char prefix[512], layer[512];
    const bnn_node *n = bnn_graph_node(g, node_id);
    snprintf(layer, sizeof layer, "%s", *n->name ? n->name : bnn_graph_value(g, n->outputs[0])->name);
    snprintf(prefix, sizeof prefix, "%s", layer);
    *count = 0;
    for (int k = 1; k <= 3; k++) {
        n = bnn_graph_node(g, node_id);
        int src = k < n->n_inputs ? n->inputs[k] : -1;
        if (src < 0 || !bnn_pass_is_f32_param(g, src))
            continue;
        int mu, rho;
        BNN_TRY(add_posterior(g, c, src, prefix, what[k], &mu, &rho));
        char want[600], name[600], node_name[600];
        snprintf(want, sizeof want, "%s.%s_sample", prefix, what[k]);
        const char *fresh = bnn_pass_unique_name(g, want, name, sizeof name);
        bnn_shape unknown = {.rank = -1};
        int v = bnn_graph_add_value(g, fresh, BNN_UNDEFINED, &unknown);
        snprintf(node_name, sizeof node_name, "%s/%s_sample", layer, what[k]);
        int in[3] = {mu, rho, src};
        if (c->prior_weights)
            bnn_graph_value(g, src)->trainable = false;
        int nid = v >= 0 ? bnn_graph_add_node(g, BNN_OP_WEIGHT_REPARAM, node_name, in,
                                              c->prior_weights ? 3 : 2, &v, 1)
                         : -1;
        if (nid < 0)
            return BNN_ERR_NOMEM;
        BNN_TRY(bnn_node_set_float(g, nid, "prior_mu", (float)c->prior_mu));
        BNN_TRY(bnn_node_set_float(g, nid, "prior_sigma", (float)c->prior_sigma));
        BNN_TRY(bnn_node_set_string(g, nid, "estimator", "reparam"));
        BNN_TRY(bnn_graph_infer_node(g, nid, diag));
        bnn_graph_node(g, node_id)->inputs[k] = v;
        ++*count;
    }
    return BNN_OK;
}

static bnn_status run_to_bnn(bnn_graph *g, const bnn_pass_args *a, bnn_diag *diag)
{
    to_bnn_config c;
    BNN_TRY(read_config(a, &c, diag));
    bnn_status st = check_names(g, &c, &c.only, "only", diag);
    if (st == BNN_OK)
        st = check_names(g, &c, &c.exclude, "exclude", diag);
    int converted = 0, recurrent = 0;
    int n_nodes = g->n_nodes; /* the weight nodes added here are not layers */
    for (int i = 0; i < n_nodes && st == BNN_OK; i++) {
        const bnn_node *n = bnn_graph_node(g, i);
        if (n->dead || !c.layer[n->op])
            continue;
        if ((c.only.count && !layer_in(g, n, &c.only)) || layer_in(g, n, &c.exclude))
            continue;
        char label[300];
        bnn_node_label(g, i, label, sizeof label);
        if (is_recurrent_op(n->op)) {
            int sampled = 0;
            st = convert_recurrent(g, &c, i, &sampled, diag);
            if (st == BNN_ERR_NOMEM)
                st = bnn_fail(diag, st, "%s: out of memory", label);
            else if (st == BNN_OK && sampled == 0 && c.only.count)
                st = bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                              "%s: none of its weights W, R, B is a constant f32 param", label);
            converted += sampled > 0;
            recurrent += sampled > 0;
            continue;
        }
        bool ok = bnn_pass_is_f32_param(g, n->inputs[1]) &&
                  (n->n_inputs < 3 || n->inputs[2] < 0 || bnn_pass_is_f32_param(g, n->inputs[2]));
        if (!ok) {
            /* A layer whose weights are computed has no trained value to start
             * from: an error when asked for by name, else left as it is. */
            if (c.only.count)
                st = bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                              "%s: its weight or bias is not a constant f32 param", label);
            continue;
        }
        st = convert(g, &c, i);
        if (st != BNN_OK)
            st = bnn_fail(diag, st, "%s: out of memory", label);
        converted++;
    }
    /* the weight nodes were appended after the layers that read them */
    if (st == BNN_OK && recurrent > 0)
        st = bnn_graph_sort(g, diag);
    if (st == BNN_OK && converted == 0) {
        /* MatMul/Gemm with a constant weight are dense layers only after
         * canonicalize: say so when that is why nothing matched */
        bool unfolded = false;
        for (int i = 0; i < g->n_nodes && !unfolded && c.layer[BNN_OP_DENSE]; i++) {
            const bnn_node *n = bnn_graph_node(g, i);
            unfolded = !n->dead && (n->op == BNN_OP_MATMUL || n->op == BNN_OP_GEMM) &&
                       n->n_inputs > 1 && bnn_pass_is_f32_param(g, n->inputs[1]);
        }
        st = bnn_fail(diag, BNN_ERR_INVALID, "no layer matched (layers=%s only=%s exclude=%s)%s",
                      c.layers_text, bnn_pass_arg(a, "only"), bnn_pass_arg(a, "exclude"),
                      unfolded ? "; matmul/gemm nodes with constant weights become dense layers "
                                 "when canonicalize runs first"
                               : "");
    }
    config_free(&c);
    return st;
}

const bnn_pass_def bnn_pass_to_bnn = {
    .info = {"to-bnn",
             "replace dense, conv and conv_transpose layers by Bayesian ones (bnn.*_reparam)",
             to_bnn_options, N_OPTIONS},
    .check = check_to_bnn,
    .run = run_to_bnn,
};
