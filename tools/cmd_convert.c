/* bnnc convert IN.onnx: replace Dense/Conv layers by Bayesian ones.
 *
 * The flags build the pipeline canonicalize,to-bnn{...},dce (only the options
 * given are written into to-bnn's braces, so its defaults are those of the
 * pass, except the prior's scale for init=weights, below); --passes replaces it
 * whole.  Prints a summary of what changed. */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_file.h"
#include "bnn_onnx.h"
#include "bnn_data.h"
#include "bnn_npy.h"
#include "bnn_passes.h"
#include "bnn_predict.h"
#include "bnn_train.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bnnc convert IN.onnx [-o OUT.onnx] [options]\n\n"
            "Replaces the dense (Gemm, MatMul with a constant weight), conv and\n"
            "conv_transpose layers of a trained model by Bayesian layers\n"
            "(bnn.dense_reparam, bnn.conv_reparam, bnn.conv_transpose_reparam: weights\n"
            "w ~ N(mu, softplus(rho)^2)) and writes the result as ONNX (Bayesian layers in\n"
            "domain ai.bnnc).  Runs the\n"
            "pipeline canonicalize,to-bnn{...},dce built from the options below; see\n"
            "'bnnc passes' for the passes and docs/passes.md for the details.\n\n"
            "options:\n"
            "  -o, --output FILE        output file (default: IN.bnn.onnx; with --emit ir,\n"
            "                           stdout)\n"
            "      --layers L           dense, conv, conv_transpose, all (those three; the\n"
            "                           default), recurrent (lstm, gru, rnn: their W, R, B\n"
            "                           sampled by bnn.weight_reparam), or a comma list\n"
            "      --only N,..          convert only these layers, by ONNX node name or by\n"
            "                           weight name (fc1 for fc1.weight)\n"
            "      --exclude N,..       never convert these layers (names as for --only)\n"
            "      --prior-mu F|weights prior mean (default 0); weights: each element's\n"
            "                           prior centred on its trained value (kept in the file)\n"
            "      --prior-pi F         a scale-mixture prior (Blundell et al. 2015): F N(mu,\n"
            "                           sigma^2) + (1-F) N(mu, sigma2^2), its KL sampled at\n"
            "                           each weight draw (reparam only; default 0: Gaussian)\n"
            "      --prior-sigma2 F     the mixture's second standard deviation (0.0025)\n"
            "      --prior-sigma F      prior standard deviation (default 0.3 with\n"
            "                           init=weights, 0.1 with init=random)\n"
            "      --init weights|random|laplace  posterior init (default weights: mu = the\n"
            "                           trained weights, sigma = max(delta*|w|, 1e-5); laplace:\n"
            "                           mu = the weights, sigma from a diagonal Laplace fit on\n"
            "                           --data or --x, and the prior its marginal likelihood picks)\n"
            "      --data DIR           MNIST IDX files, the training split: init=laplace\n"
            "                           fits on them; with any init, the posterior is\n"
            "                           checked on the last 1,000 and every sigma halved\n"
            "                           (with a note) until 16 draws lose at most half a\n"
            "                           point of accuracy\n"
            "      --x FILE             .npy examples (f32, a row each), as --data; the\n"
            "                           check is then agreement with the trained\n"
            "                           weights' answers\n"
            "      --limit K            init=laplace: the first K examples only\n"
            "      --delta F            init=weights: sigma = delta*|w| (default 0.1)\n"
            "      --rho-init F         init=random: initial rho (default -3)\n"
            "      --seed N             init=random: seed of the mu draws (default 0)\n"
            "      --estimator E        reparam (default: one weight draw per pass), flipout\n"
            "                           (random signs per example) or local (noise on the\n"
            "                           outputs); see docs/uncertainty.md\n"
            "      --passes PIPELINE    run this pipeline instead, e.g.\n"
            "                           'fold-batchnorm,to-bnn{layers=conv},dce'\n"
            "      --print-ir-after-all     print the IR to stderr after every pass\n"
            "      --print-ir-after NAME    print the IR to stderr after pass NAME\n"
            "      --emit onnx|ir       write ONNX (default) or the IR text\n"
            BNNC_INPUT_SHAPE_USAGE
            "  -h, --help               show this help\n");
}

enum {
    OPT_LAYERS = 256, OPT_ONLY, OPT_EXCLUDE, OPT_PRIOR_MU, OPT_PRIOR_SIGMA, OPT_INIT,
    OPT_RHO_INIT, OPT_DELTA, OPT_SEED, OPT_ESTIMATOR, OPT_PASSES, OPT_PRINT_ALL,
    OPT_PRINT_AFTER, OPT_EMIT, OPT_DATA, OPT_X, OPT_LIMIT, OPT_PRIOR_PI, OPT_PRIOR_SIGMA2,
};

/* The to-bnn option each flag sets, in the order they are written. */
static const struct {
    int opt;
    const char *flag, *name;
} to_bnn_flags[] = {
    {OPT_LAYERS, "--layers", "layers"},          {OPT_ONLY, "--only", "only"},
    {OPT_EXCLUDE, "--exclude", "exclude"},       {OPT_PRIOR_MU, "--prior-mu", "prior_mu"},
    {OPT_PRIOR_SIGMA, "--prior-sigma", "prior_sigma"}, {OPT_INIT, "--init", "init"},
    {OPT_DELTA, "--delta", "delta"},             {OPT_RHO_INIT, "--rho-init", "rho_init"},
    {OPT_SEED, "--seed", "seed"},                {OPT_ESTIMATOR, "--estimator", "estimator"},
    {OPT_PRIOR_PI, "--prior-pi", "prior_pi"},    {OPT_PRIOR_SIGMA2, "--prior-sigma2", "prior_sigma2"},
};
#define N_FLAGS (sizeof to_bnn_flags / sizeof to_bnn_flags[0])

/* The prior N(0, 0.3^2) for a trained model (init=weights): measured against
 * N(0, 0.1^2) (to-bnn's and MindSpore's default, kept for init=random) on a
 * LeNet-5 with a held-out split, it keeps the trained weights' accuracy and
 * in-distribution NLL after Bayes by Backprop, where 0.1 pulls the means
 * toward 0 and loses both (docs/uncertainty.md, "bnnc beside the baselines"). */
#define CONVERT_PRIOR_SIGMA_WEIGHTS "0.3"

static int64_t count_params(const bnn_graph *g, bool trainable_only)
{
    int64_t total = 0;
    for (int v = 0; v < g->n_values; v++) {
        const bnn_value *val = &g->values[v];
        if (val->kind == BNN_VALUE_PARAM && (!trainable_only || val->trainable)) {
            int64_t n = bnn_shape_numel(&val->shape);
            total += n > 0 ? n : 0;
        }
    }
    return total;
}

/* Live node ids of a graph sorted by name, for matching nodes by name in
 * O(n log n) (a model of 100,000 nodes: one lookup per node). */
typedef struct named_node {
    const char *name;
    int id;
} named_node;

static int named_node_cmp(const void *a, const void *b)
{
    const named_node *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->id > y->id) - (x->id < y->id); /* the first of equal names first */
}

/* was[i]: the node of `before` named as node i of `after` (the first such),
 * or -1; NULL when out of memory. */
static int *match_nodes(const bnn_graph *before, const bnn_graph *after)
{
    named_node *sorted = malloc(sizeof *sorted * ((size_t)before->n_nodes + 1));
    int *was = malloc(sizeof *was * ((size_t)after->n_nodes + 1));
    if (!sorted || !was) {
        free(sorted);
        free(was);
        return NULL;
    }
    int n = 0;
    for (int i = 0; i < before->n_nodes; i++)
        if (!before->nodes[i].dead)
            sorted[n++] = (named_node){before->nodes[i].name, i};
    qsort(sorted, (size_t)n, sizeof *sorted, named_node_cmp);
    for (int i = 0; i < after->n_nodes; i++) {
        int lo = 0, hi = n; /* the first entry whose name is not below */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (strcmp(sorted[mid].name, after->nodes[i].name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        was[i] = lo < n && strcmp(sorted[lo].name, after->nodes[i].name) == 0 ? sorted[lo].id : -1;
    }
    free(sorted);
    return was;
}

/* Prints the layers that became Bayesian: nodes Bayesian in `after` that were
 * not in `before` (matched by node name). */
static void print_summary(FILE *out, const bnn_graph *before, const bnn_graph *after)
{
    int *was_of = match_nodes(before, after);
    if (!was_of) {
        fprintf(out, "converted:  (no summary: out of memory)\n");
        return;
    }
    /* a recurrent layer stays itself and reads its weights from
     * bnn.weight_reparam nodes: it is counted, they are not */
    int total = 0, recurrent = 0;
    for (int i = 0; i < after->n_nodes; i++) {
        const bnn_node *n = &after->nodes[i];
        int was = was_of[i];
        total += bnn_op_is_bayesian(n->op) && n->op != BNN_OP_WEIGHT_REPARAM &&
                 !(was >= 0 && before->nodes[was].op == n->op);
        bool sampled = false;
        for (int k = 1; !n->dead && k < n->n_inputs && k <= 3; k++) {
            int v = n->inputs[k], p = v >= 0 ? after->values[v].producer : -1;
            sampled |= p >= 0 && after->nodes[p].op == BNN_OP_WEIGHT_REPARAM;
        }
        recurrent += sampled && (n->op == BNN_OP_LSTM || n->op == BNN_OP_GRU || n->op == BNN_OP_RNN);
    }
    total += recurrent;
    fprintf(out, "converted:  %d layer%s\n", total, total == 1 ? "" : "s");
    /* one line per Bayesian op, labelled with its layer's name (ops.def PAIR) */
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        if (!bnn_op_is_bayesian((bnn_op)op) || bnn_op_get((bnn_op)op)->pair == BNN_OP_NONE)
            continue;
        const char *label = bnn_op_get(bnn_op_get((bnn_op)op)->pair)->name;
        int count = 0;
        for (int i = 0; i < after->n_nodes; i++) {
            const bnn_node *n = &after->nodes[i];
            int was = was_of[i];
            count += n->op == (bnn_op)op && !(was >= 0 && before->nodes[was].op == n->op);
        }
        fprintf(out, "  %-14s %3d%s", label, count, count ? "  " : "");
        int printed = 0;
        for (int i = 0; i < after->n_nodes; i++) {
            const bnn_node *n = &after->nodes[i];
            int was = was_of[i];
            if (n->op == (bnn_op)op && !(was >= 0 && before->nodes[was].op == n->op)) {
                fprintf(out, "%s%s", printed++ ? ", " : "", *n->name ? n->name : "(unnamed)");
                /* The layer name only= and exclude= also accept: "fc1" for "fc1.weight". */
                const char *w = was >= 0 && before->nodes[was].n_inputs > 1 &&
                                        before->nodes[was].inputs[1] >= 0
                                    ? before->values[before->nodes[was].inputs[1]].name
                                    : "";
                size_t len = strlen(w);
                if (len > 7 && strcmp(w + len - 7, ".weight") == 0 &&
                    !(strlen(n->name) == len - 7 && strncmp(n->name, w, len - 7) == 0))
                    fprintf(out, " (%.*s)", (int)(len - 7), w);
            }
        }
        fprintf(out, "\n");
    }
    if (recurrent) {
        fprintf(out, "  %-14s %3d  ", "recurrent", recurrent);
        int printed = 0;
        for (int i = 0; i < after->n_nodes; i++) {
            const bnn_node *n = &after->nodes[i];
            bool sampled = false;
            for (int k = 1; !n->dead && k < n->n_inputs && k <= 3; k++) {
                int v = n->inputs[k], p = v >= 0 ? after->values[v].producer : -1;
                sampled |= p >= 0 && after->nodes[p].op == BNN_OP_WEIGHT_REPARAM;
            }
            if (sampled)
                fprintf(out, "%s%s", printed++ ? ", " : "", *n->name ? n->name : "(unnamed)");
        }
        fprintf(out, " (weights W, R, B sampled by bnn.weight_reparam)\n");
    }
    fprintf(out, "parameters: %lld before, %lld after (%lld trainable)\n",
            (long long)count_params(before, false), (long long)count_params(after, false),
            (long long)count_params(after, true));
    free(was_of);
}

static bool print_ir_stdout(const bnn_graph *graph)
{
    if (bnn_graph_print(graph, stdout) != BNN_OK || fflush(stdout) != 0) {
        fprintf(stderr, "bnnc: <stdout>: write failed\n");
        return false;
    }
    return true;
}

/* Prints the IR text into memory, then writes it as the ONNX writer does
 * (bnn_write_file): path is never half-written. */
static bool print_ir_file(const bnn_graph *graph, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool printed = f && bnn_graph_print(graph, f) == BNN_OK;
    if (f)
        printed = fclose(f) == 0 && printed;
    bnn_diag diag = {0};
    bool ok = printed && bnn_write_file(path, text, len, &diag) == BNN_OK;
    if (!printed)
        fprintf(stderr, "bnnc: %s: out of memory printing the IR\n", path);
    else if (!ok)
        bnnc_report(path, &diag);
    free(text);
    return ok;
}

/* IN.onnx -> IN.bnn.onnx (any other name: IN.bnn.onnx too). */
static char *default_output(const char *in, const char *suffix)
{
    size_t len = strlen(in);
    if (len >= 5 && strcmp(in + len - 5, ".onnx") == 0)
        len -= 5;
    char *out = malloc(len + strlen(suffix) + 1);
    if (out) {
        memcpy(out, in, len);
        strcpy(out + len, suffix);
    }
    return out;
}

/* From this many Bayesian layers on, convert without examples says that it
 * did not check the widths. */
#define DEEP_LAYERS 20

/* What each_rho does to one rho array of n floats. */
typedef void rho_fn(float *rho, size_t n, void *ctx);

/* Calls fn on every Bayesian layer's rho params, in node order (a
 * bnn.weight_reparam's rho is its input 1). */
static void each_rho(bnn_graph *g, rho_fn *fn, void *ctx)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead || !bnn_op_is_bayesian(n->op))
            continue;
        bool alone = n->op == BNN_OP_WEIGHT_REPARAM;
        for (int k = alone ? 1 : 2; k <= (alone ? 1 : 4) && k < n->n_inputs; k += 2)
            if (n->inputs[k] >= 0)
                fn(g->values[n->inputs[k]].data,
                   g->values[n->inputs[k]].nbytes / sizeof(float), ctx);
    }
}

/* Every sigma times *(double *)ctx (rho through softplus). */
static void scale_rho(float *rho, size_t n, void *ctx)
{
    double f = *(const double *)ctx;
    for (size_t j = 0; j < n; j++)
        rho[j] = (float)bnn_rho_of_sigma(f * bnn_sigma_of_rho(rho[j]));
}

static void scale_sigmas(bnn_graph *g, double f)
{
    each_rho(g, scale_rho, &f);
}

/* rho copied out, or back with `back`, through one flat buffer (buf NULL: counts). */
typedef struct rho_copy {
    float *buf;
    size_t at;
    bool back;
} rho_copy;

static void copy_rho(float *rho, size_t n, void *ctx)
{
    rho_copy *c = ctx;
    if (c->buf && c->back)
        memcpy(rho, c->buf + c->at, n * sizeof(float));
    else if (c->buf)
        memcpy(c->buf + c->at, rho, n * sizeof(float));
    c->at += n;
}

/* The share of rows whose arg-max of the mean predictive over `samples`
 * weight draws is the label (labels NULL: the arg-max of one draw at sigma
 * ~ 0, the trained weights' answer); -1 on failure. */
static double predictive_accuracy(bnn_graph *g, const bnn_tensor *x, const int64_t *labels,
                                  const int64_t *reference, int64_t samples, int64_t **argmax_out)
{
    bnn_predict_options o = bnn_predict_defaults();
    o.samples = samples;
    o.batch = 256;
    int64_t s = 0, k = 0, n = x->shape.dims[0];
    bnn_diag diag = {0};
    if (bnn_predict_classes(g, x, &o, NULL, &s, &k, &diag) != BNN_OK || k < 1)
        return -1;
    float *probs = malloc(sizeof(float) * (size_t)(s * n * k) + 1);
    int64_t *argmax = malloc(sizeof(int64_t) * (size_t)n + 1);
    double acc = -1;
    if (probs && argmax && bnn_predict_classes(g, x, &o, probs, &s, &k, &diag) == BNN_OK) {
        int64_t right = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            double best_p = -1;
            for (int64_t c = 0; c < k; c++) {
                double p = 0;
                for (int64_t t = 0; t < s; t++)
                    p += probs[(t * n + i) * k + c];
                if (p > best_p) {
                    best_p = p;
                    best = c;
                }
            }
            argmax[i] = best;
            right += best == (labels ? labels[i] : reference ? reference[i] : best);
        }
        acc = (double)right / (double)n;
    }
    free(probs);
    if (argmax_out && acc >= 0)
        *argmax_out = argmax;
    else
        free(argmax);
    return acc;
}

/* The guard on any posterior init: the mean predictive of 16 draws
 * may not lose more than half a point of accuracy (with --x: agreement with
 * the trained weights' answers) against the trained weights on the last (up
 * to) 1,000 examples, or every sigma is halved until it does not (at most 12
 * times), with a note.  `what` prefixes the notes. */
static int guard_sigmas(bnn_graph *graph, const bnn_tensor *x, const int64_t *all_labels,
                        const char *where, const char *what)
{
    int64_t n = x->shape.dims[0], m = n < 1000 ? n : 1000;
    bnn_tensor tail = *x;
    tail.owns_data = false;
    tail.shape.dims[0] = m;
    tail.data = (char *)x->data + (size_t)(n - m) * (bnn_tensor_nbytes(x) / (size_t)n);
    const int64_t *labels = all_labels ? all_labels + (n - m) : NULL;
    /* the trained weights' answers: every sigma ~0 for one run, the rho put
     * back exactly afterwards */
    int64_t *trained = NULL;
    rho_copy saved = {0};
    each_rho(graph, copy_rho, &saved); /* counts */
    if (saved.at == 0) {
        fprintf(stderr, "%-11s no Bayesian layer: nothing to check\n", what);
        return BNNC_EXIT_OK;
    }
    saved.buf = malloc(sizeof(float) * saved.at + 1);
    double base = -1;
    if (saved.buf) {
        saved.at = 0;
        each_rho(graph, copy_rho, &saved);
        scale_sigmas(graph, 1e-12);
        base = predictive_accuracy(graph, &tail, labels, NULL, 1, &trained);
        saved.at = 0;
        saved.back = true;
        each_rho(graph, copy_rho, &saved);
        free(saved.buf);
    }
    double acc = base < 0 ? -1 : predictive_accuracy(graph, &tail, labels, trained, 16, NULL);
    int halvings = 0;
    while (acc >= 0 && acc < base - 0.005 && halvings < 12) {
        scale_sigmas(graph, 0.5);
        halvings++;
        acc = predictive_accuracy(graph, &tail, labels, trained, 16, NULL);
    }
    free(trained);
    if (acc < 0 || base < 0) {
        fprintf(stderr, "bnnc: %s: the accuracy check of the posterior failed (is the model a "
                "classifier of these examples?)\n", where);
        return BNNC_EXIT_ERROR;
    }
    if (halvings)
        fprintf(stderr, "%-11s sigma halved %d time%s (x %.4g): the 16-draw predictive's "
                "%s on the last %lld examples is now %.4f against %.4f at the trained weights\n",
                what, halvings, halvings == 1 ? "" : "s", pow(0.5, halvings),
                labels ? "accuracy" : "agreement", (long long)m, acc, base);
    else
        fprintf(stderr, "%-11s the 16-draw predictive's %s on the last %lld examples: "
                "%.4f against %.4f at the trained weights\n", what,
                labels ? "accuracy" : "agreement", (long long)m, acc, base);
    return BNNC_EXIT_OK;
}

/* The examples of --data (the training split) or --x, as f32. */
static int load_examples(const char *data, const char *xpath, bnn_dataset *ds, bnn_tensor *x)
{
    bnn_diag diag = {0};
    const char *where = data ? data : xpath;
    if (data ? bnn_mnist_load(data, BNN_MNIST_TRAIN, 1.0f / 255, 0, ds, &diag)
             : bnn_npy_read_file(xpath, &ds->x, &diag))
        return bnnc_report(where, &diag);
    if (bnn_tensor_convert(&ds->x, BNN_F32, x, &diag) != BNN_OK)
        return bnnc_report(where, &diag);
    if (x->shape.rank < 1 || x->shape.dims[0] < 1) {
        fprintf(stderr, "bnnc: %s: no examples\n", where);
        return BNNC_EXIT_ERROR;
    }
    return BNNC_EXIT_OK;
}

/* --init laplace: sigma and the prior from a Laplace fit on the examples
 * (train/laplace.c), with a note of what it chose; any other init only
 * checks the posterior it made; then the guard. */
static int fit_and_guard(bnn_graph *graph, bool laplace, const char *data, const char *xpath,
                         int64_t limit)
{
    bnn_dataset ds = {0};
    bnn_tensor x = {0};
    const char *where = data ? data : xpath;
    int rc = load_examples(data, xpath, &ds, &x);
    if (rc == BNNC_EXIT_OK && laplace) {
        bnn_diag diag = {0};
        bnn_laplace_result r;
        bnn_laplace_options o = {.max_examples = limit, .seed = 0, .threads = 0};
        if (bnn_laplace_init(graph, &x, &o, &r, &diag) != BNN_OK)
            rc = bnnc_report(where, &diag);
        else
            fprintf(stderr, "laplace:    %lld examples, %lld weights: prior N(0, %.4g^2) "
                    "(precision %.4g, by marginal likelihood), mean sigma %.4g\n",
                    (long long)r.examples, (long long)r.params, r.prior_sigma,
                    r.prior_precision, r.mean_sigma);
    }
    if (rc == BNNC_EXIT_OK)
        rc = guard_sigmas(graph, &x, data ? (const int64_t *)ds.y.data : NULL, where,
                          laplace ? "laplace:" : "check:");
    bnn_tensor_free(&x);
    bnn_dataset_free(&ds);
    return rc;
}

int bnnc_cmd_convert(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"layers", required_argument, NULL, OPT_LAYERS},
        {"only", required_argument, NULL, OPT_ONLY},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"prior-mu", required_argument, NULL, OPT_PRIOR_MU},
        {"prior-sigma", required_argument, NULL, OPT_PRIOR_SIGMA},
        {"prior-pi", required_argument, NULL, OPT_PRIOR_PI},
        {"prior-sigma2", required_argument, NULL, OPT_PRIOR_SIGMA2},
        {"init", required_argument, NULL, OPT_INIT},
        {"rho-init", required_argument, NULL, OPT_RHO_INIT},
        {"delta", required_argument, NULL, OPT_DELTA},
        {"seed", required_argument, NULL, OPT_SEED},
        {"estimator", required_argument, NULL, OPT_ESTIMATOR},
        {"passes", required_argument, NULL, OPT_PASSES},
        {"print-ir-after-all", no_argument, NULL, OPT_PRINT_ALL},
        {"print-ir-after", required_argument, NULL, OPT_PRINT_AFTER},
        {"emit", required_argument, NULL, OPT_EMIT},
        {"data", required_argument, NULL, OPT_DATA},
        {"x", required_argument, NULL, OPT_X},
        {"limit", required_argument, NULL, OPT_LIMIT},
        BNNC_INPUT_SHAPE_OPTION,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL, *passes = NULL, *emit = "onnx", *data = NULL, *xpath = NULL;
    int64_t limit = 0;
    const char *values[N_FLAGS] = {0};
    bnn_pipeline_run_options run = bnn_pipeline_run_defaults();
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "ho:", options, NULL)) != -1;) {
        size_t k;
        for (k = 0; k < N_FLAGS && to_bnn_flags[k].opt != c; k++)
            ;
        if (k < N_FLAGS) {
            /* The value goes into a pipeline, where spaces and braces end it. */
            if (!*optarg || strpbrk(optarg, " \t\n{}"))
                return bnnc_usage_error("convert", "%s: '%s' is empty or has a space or brace",
                                        to_bnn_flags[k].flag, optarg);
            values[k] = optarg;
            continue;
        }
        switch (c) {
        case 'h': usage(stdout); return BNNC_EXIT_OK;
        case 'o': output = optarg; break;
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("convert", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case OPT_PASSES: passes = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_X: xpath = optarg; break;
        case OPT_LIMIT:
            if (!bnnc_parse_int(optarg, 1, INT64_MAX, &limit))
                return bnnc_usage_error("convert", "--limit wants a positive integer, not '%s'",
                                        optarg);
            break;
        case OPT_PRINT_ALL: run.print_after_all = true; break;
        case OPT_PRINT_AFTER: run.print_after = optarg; break;
        case OPT_EMIT:
            if (strcmp(optarg, "onnx") != 0 && strcmp(optarg, "ir") != 0)
                return bnnc_usage_error("convert", "--emit: '%s' is not onnx or ir", optarg);
            emit = optarg;
            break;
        default: return bnnc_usage_error("convert", "unknown option");
        }
    }
    if (argc - optind != 1)
        return bnnc_usage_error("convert", "expected one input model");
    const char *in = argv[optind];
    bool emit_ir = strcmp(emit, "ir") == 0;

    size_t prior_k = 0, init_k = 0;
    for (size_t k = 0; k < N_FLAGS; k++) {
        if (to_bnn_flags[k].opt == OPT_PRIOR_SIGMA)
            prior_k = k;
        if (to_bnn_flags[k].opt == OPT_INIT)
            init_k = k;
    }
    /* laplace: to-bnn starts from the weights, then the fit sets sigma and the prior */
    bool laplace = values[init_k] && strcmp(values[init_k], "laplace") == 0;
    if (laplace) {
        values[init_k] = "weights";
        if (!data == !xpath)
            return bnnc_usage_error("convert", "--init laplace needs the training examples: "
                                    "--data DIR or --x FILE");
    } else if (limit) {
        return bnnc_usage_error("convert", "--limit is for --init laplace");
    } else if (data && xpath) {
        return bnnc_usage_error("convert", "give --data DIR or --x FILE, not both");
    }
    if (!passes && !values[prior_k] && (!values[init_k] || strcmp(values[init_k], "weights") == 0))
        values[prior_k] = CONVERT_PRIOR_SIGMA_WEIGHTS;

    char pipeline_text[4096];
    if (passes) {
        for (size_t k = 0; k < N_FLAGS; k++)
            if (values[k])
                return bnnc_usage_error("convert",
                                        "%s cannot be combined with --passes: write it as to-bnn's "
                                        "option %s= in the pipeline",
                                        to_bnn_flags[k].flag, to_bnn_flags[k].name);
        snprintf(pipeline_text, sizeof pipeline_text, "%s", passes);
    } else {
        size_t used = (size_t)snprintf(pipeline_text, sizeof pipeline_text, "canonicalize,to-bnn");
        const char *sep = "{";
        for (size_t k = 0; k < N_FLAGS; k++) {
            if (!values[k])
                continue;
            used += (size_t)snprintf(pipeline_text + used, sizeof pipeline_text - used, "%s%s=%s",
                                     sep, to_bnn_flags[k].name, values[k]);
            sep = " ";
            if (used >= sizeof pipeline_text)
                return bnnc_usage_error("convert", "options too long");
        }
        snprintf(pipeline_text + used, sizeof pipeline_text - used, "%s,dce",
                 *sep == ' ' ? "}" : "");
    }
    bnn_diag diag = {0};
    bnn_pipeline *pipeline;
    if (bnn_pipeline_parse(pipeline_text, &pipeline, &diag) != BNN_OK) {
        if (passes)
            return bnnc_usage_error("convert", "--passes: %s", diag.message);
        return bnnc_usage_error("convert", "%s (in the pipeline '%s' built from the options)",
                                diag.message, pipeline_text);
    }

    if (run.print_after) {
        bool found = false;
        for (int i = 0; i < bnn_pipeline_length(pipeline); i++)
            found |= strcmp(bnn_pipeline_pass_name(pipeline, i), run.print_after) == 0;
        if (!found) {
            bnn_pipeline_destroy(pipeline);
            return bnnc_usage_error("convert", "--print-ir-after: %s '%s' is not in the pipeline",
                                    bnn_pass_find(run.print_after) ? "pass" : "unknown pass",
                                    run.print_after);
        }
    }

    char *default_out = NULL;
    if (!output && !emit_ir)
        output = default_out = default_output(in, ".bnn.onnx");
    if (bnnc_output_is_input("convert", output, &in, 1)) {
        free(default_out);
        bnn_pipeline_destroy(pipeline);
        return BNNC_EXIT_ERROR;
    }
    bnn_graph *graph = bnnc_load_model(in);
    /* The summary needs the model's names, ops and shapes before the passes,
     * not its weights: a borrowing clone, cut loose from the data the passes
     * will replace, so a large model is not held twice. */
    bnn_graph *before = graph ? bnn_graph_clone_borrowing(graph) : NULL;
    for (int v = 0; before && v < before->n_values; v++)
        before->values[v].data = NULL;
    int status = BNNC_EXIT_ERROR;
    if (!graph || !before || (!output && !emit_ir)) {
        if (graph && !before)
            fprintf(stderr, "bnnc: out of memory\n");
        goto done;
    }
    run.ir_out = stderr;
    if (bnn_pipeline_run(pipeline, graph, &run, &diag) != BNN_OK) {
        bnnc_report(in, &diag);
        goto done;
    }
    if ((laplace || data || xpath) && graph->n_inputs != 1) {
        /* the examples are one array; a model of several inputs takes one per input */
        fprintf(stderr, "bnnc: %s: %s checks the posterior on one array of examples, and the "
                "model has %d inputs; convert without it (widths unchecked) and calibrate or "
                "evaluate with NAME=FILE arrays\n", in,
                laplace ? "--init laplace" : data ? "--data" : "--x", graph->n_inputs);
        goto done;
    }
    if ((laplace || data || xpath) &&
        fit_and_guard(graph, laplace, data, xpath, limit) != BNNC_EXIT_OK)
        goto done;
    /* The IR may go to stdout; the summary then goes to stderr. */
    FILE *summary = stdout;
    if (emit_ir) {
        bool to_stdout = !output || strcmp(output, "-") == 0;
        if (to_stdout ? !print_ir_stdout(graph) : !print_ir_file(graph, output))
            goto done;
        if (to_stdout)
            summary = stderr;
    } else if (bnn_onnx_export_file(graph, output, &diag) != BNN_OK) {
        bnnc_report(output, &diag);
        goto done;
    }
    char canonical[4096];
    fprintf(summary, "input:      %s\n", in);
    fprintf(summary, "output:     %s (%s)\n", output ? output : "<stdout>", emit_ir ? "IR text" : "ONNX");
    fprintf(summary, "pipeline:   %s\n", bnn_pipeline_format(pipeline, canonical, sizeof canonical));
    print_summary(summary, before, graph);
    /* Deep networks: a width that suits LeNet-5 can wreck them, and without
     * examples nothing checked it (docs/uncertainty.md). */
    int bayesian = 0;
    for (int i = 0; i < graph->n_nodes; i++)
        bayesian += !graph->nodes[i].dead && bnn_op_is_bayesian(graph->nodes[i].op);
    if (bayesian >= DEEP_LAYERS && !data && !xpath)
        fprintf(stderr, "note:       %d Bayesian layers and no --data or --x: their widths were "
                "not checked against examples; deep networks often lose accuracy at delta 0.1 "
                "(give examples, or a smaller --delta)\n", bayesian);
    status = BNNC_EXIT_OK;
done:
    bnn_graph_destroy(before);
    bnn_graph_destroy(graph);
    bnn_pipeline_destroy(pipeline);
    free(default_out);
    return status;
}
