/* bnnc eval: accuracy, calibration and uncertainty of a classifier on a data
 * set, optionally under rotation and against out-of-distribution inputs, with
 * the posterior-mean model alongside for comparison. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_comm.h"
#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_passes.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "bnn_data.h"
#include "bnn_train.h"
#include "cli.h"
#include "examples.h"
#include "eval_plot.h"
#include "eval_regress.h"
#include "rng.h"

enum { ECE_BINS = 15 };

static void usage(FILE *out)
{
    fprintf(out,
        "usage: bnnc eval MODEL.onnx (--data DIR | --x X.npy --y Y.npy) [options]\n\n"
        "A regressor (a model with a noise scale, bnnc.noise_log_sigma, as train --loss\n"
        "gaussian leaves it, or --task regress) is evaluated against real-valued targets\n"
        "--y [n, outputs]: RMSE of the predictive mean, the test log-likelihood per example\n"
        "(the S-sample mixture of N(f_s, sigma^2)), the mean aleatoric (sigma^2) and\n"
        "epistemic (variance over samples) variances, and how often the target falls in\n"
        "the central 90%% and 95%% intervals of N(mean, their sum); --ood X.npy adds the\n"
        "epistemic variance there and its AUROC (docs/uncertainty.md, Regression).\n\n"
        "A classifier:\n"
        "Runs a classifier with S weight samples over a test set and reports accuracy,\n"
        "negative log-likelihood, Brier score, expected calibration error (15 equal-width\n"
        "bins) and the mean predictive entropy of right and wrong predictions, for the\n"
        "Bayesian predictive mean and for the posterior-mean (deterministic) model.\n"
        "Outputs: [n, K] logits or softmax; [n, 1] or [n] from a Sigmoid, a binary\n"
        "classifier (labels 0/1; AUROC of p(class 1) too); [n, T, K], a per-step\n"
        "classifier (labels [n, T]; metrics per step, uncertainty per sequence as the\n"
        "mean over its steps).\n\n"
        "options:\n"
        "  --data DIR          MNIST IDX files; the t10k (test) split is evaluated\n"
        "  --x F --y F         .npy inputs and integer labels instead\n"
        "  --x NAME=F          a model with several inputs: one array per input, each\n"
        "                      named (--x ids=I.npy --x mask=M.npy; --ood likewise)\n"
        "  --limit K           the first K examples only\n"
        "  --samples S         weight samples (default 32; 1 for a model with no Bayesian layer);\n"
        "                      with --predictive moments|glm and --logits draws, draws of the\n"
        "                      logits (1: probit)\n"
        "  --predictive mc|moments|glm  Monte-Carlo over weights (default), one moment-\n"
        "                      propagation run, or the linearised network (docs/moments.md)\n"
        "  --logits sigma|draws|probit  with moments|glm, the class probabilities from the\n"
        "                      logits' Gaussian: 2K sigma points (default), S seeded draws,\n"
        "                      or the probit approximation alone (no mutual information)\n"
        "  --batch B           rows per run (default 256)\n"
        "  --shift S           evaluate under a dataset shift of the images: rotate:DEG\n"
        "                      (bilinear, zero fill), translate:DX[,DY] (pixels, zero\n"
        "                      fill), noise:STD (Gaussian, clipped to the data's range;\n"
        "                      drawn from --seed), blur:SIGMA (Gaussian, pixels) or\n"
        "                      contrast:F (each image pulled to its mean)\n"
        "  --ood noise|DIR|X.npy   out-of-distribution inputs: uniform noise images, an\n"
        "                      MNIST-format directory's test split, or an array; reports\n"
        "                      AUROC of predictive entropy and of mutual information\n"
        "  --plot FILE.svg     reliability diagram and entropy histograms\n"
        "  --task classify|regress  what the output is (default: regress for a model with\n"
        "                      a noise scale, else classify)\n"
        "  --seed N            weight samples and noise (default 0)\n"
        "  --threads N         OpenBLAS/OpenMP threads (default: all cores)\n"
        "  --json              one JSON object instead of text\n"
        "Under `mpirun -np K` each rank reads and predicts its own whole batches of the test\n"
        "set and rank 0 prints what one process would (docs/distributed.md).\n"
        BNNC_INPUT_SHAPE_USAGE
        "  -h, --help\n");
}

/* Everything measured for one model over one set. */
typedef struct report {
    double accuracy, nll, brier, ece;
    double auroc; /* a binary classifier's: p(class 1) ranking 1s above 0s; else NaN */
    /* per example (a sequence of `steps` rows for a per-step classifier): the
     * mean over its rows of predictive entropy and mutual information */
    float *seq_total, *seq_epistemic; /* owned, n */
    double entropy_right, entropy_wrong;
    int64_t bins_count[ECE_BINS];
    double bins_accuracy[ECE_BINS], bins_confidence[ECE_BINS];
    float *total, *epistemic; /* owned, per example */
    int64_t n, samples;
} report;

static void report_free(report *r)
{
    free(r->total);
    free(r->epistemic);
    free(r->seq_total);
    free(r->seq_epistemic);
    r->total = r->epistemic = r->seq_total = r->seq_epistemic = NULL;
}

/* x's rows against the model's input: "X.npy: rows are f32[784], the model's
 * input 'input' takes f32[1,28,28]" rather than a planner error. */
bool eval_check_rows(const bnn_graph *g, const bnn_tensor *x, const char *path)
{
    if (g->n_inputs != 1) {
        fprintf(stderr, "bnnc: eval needs a model with one input, not %d\n", g->n_inputs);
        return false;
    }
    const bnn_value *v = &g->values[g->inputs[0]];
    bool ok = x->shape.rank >= 1 && (v->shape.rank < 0 || v->shape.rank == x->shape.rank);
    for (int d = 1; ok && v->shape.rank > 0 && d < x->shape.rank; d++)
        if (bnn_dim_is_known(v->shape.dims[d]) && v->shape.dims[d] != x->shape.dims[d])
            ok = false;
    if (!ok) {
        bnn_shape want = v->shape, got = x->shape;
        char a[256], b[256];
        if (want.rank > 0) {
            want.rank--;
            memmove(want.dims, want.dims + 1, sizeof(int64_t) * (size_t)want.rank);
        }
        if (got.rank > 0) {
            got.rank--;
            memmove(got.dims, got.dims + 1, sizeof(int64_t) * (size_t)got.rank);
        }
        fprintf(stderr, "bnnc: %s: rows are %s, the model's input '%s' takes rows %s\n", path,
                bnn_shape_format(&got, x->dtype, b, sizeof b), v->name,
                bnn_shape_format(&want, v->dtype, a, sizeof a));
    }
    return ok;
}

/* Labels must be whole numbers that name a class of a k-class model; y holds
 * the examples from `first` on. */
static bool check_labels(const bnn_tensor *y, int64_t first, int64_t k, const char *path)
{
    const int64_t *labels = y->data;
    for (int64_t i = 0; i < bnn_tensor_numel(y); i++)
        if (labels[i] < 0 || labels[i] >= k) {
            fprintf(stderr, "bnnc: %s: label %lld of example %lld is not a class of this "
                    "%lld-class model (0..%lld)\n", path, (long long)labels[i], (long long)(first + i),
                    (long long)k, (long long)(k - 1));
            return false;
        }
    return true;
}

/* x holds examples [first, first + rows) of n (all of them in a job of one):
 * this rank predicts those, the per-example results of every rank are put
 * together by an all-reduce (each rank contributes zeros outside its rows, so
 * the sums are exact), and the metrics are computed over all n examples from
 * numbers identical to one process's.  labels: all n, or NULL.
 * A per-step classifier's example is `steps` rows (labels n x steps): the
 * metrics are per step, seq_total and seq_epistemic per example. */
static bnn_status measure(const bnn_graph *graph, const bnn_tensor *x, const int64_t *labels,
                          int64_t first, int64_t n, bnn_comm *comm,
                          const bnn_predict_options *po, report *r, bnn_diag *diag)
{
    memset(r, 0, sizeof *r);
    r->auroc = NAN;
    bnn_predict_options o = *po; /* this rank's rows draw as in the whole set */
    o.first_row = first;
    po = &o;
    int64_t samples, k, rows = x->shape.dims[0], steps;
    bool binary;
    BNN_TRY(bnn_predict_class_layout(graph, po, &steps, &k, &binary, diag));
    int64_t n_examples = n;
    r->seq_total = calloc((size_t)n + 1, sizeof(float));
    r->seq_epistemic = calloc((size_t)n + 1, sizeof(float));
    if (!r->seq_total || !r->seq_epistemic) {
        report_free(r);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    }
    rows *= steps;
    first *= steps;
    n *= steps;
    bnn_status st0 = bnn_predict_classes(graph, x, po, NULL, &samples, &k, diag);
    if (st0 != BNN_OK) {
        report_free(r);
        return st0;
    }
    float *probs = malloc(sizeof(float) * (size_t)(samples * rows * k) + 1);
    float *mean = calloc((size_t)(n * k) + 1, sizeof(float));
    r->total = calloc((size_t)n + 1, sizeof(float));
    r->epistemic = calloc((size_t)n + 1, sizeof(float));
    bnn_status st = probs && mean && r->total && r->epistemic
                        ? BNN_OK : bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    if (st == BNN_OK && rows > 0)
        st = bnn_predict_classes(graph, x, po, probs, &samples, &k, diag);
    if (st == BNN_OK && rows > 0)
        bnn_predictive_stats(probs, samples, rows, k, mean + first * k, r->total + first, NULL,
                             r->epistemic + first);
    if (st == BNN_OK && bnn_comm_size(comm) > 1) {
        st = bnn_comm_allreduce_f32(comm, mean, (size_t)(n * k), diag);
        if (st == BNN_OK)
            st = bnn_comm_allreduce_f32(comm, r->total, (size_t)n, diag);
        if (st == BNN_OK)
            st = bnn_comm_allreduce_f32(comm, r->epistemic, (size_t)n, diag);
    }
    for (int64_t e = 0; st == BNN_OK && e < n_examples; e++) {
        double t = 0, m = 0;
        for (int64_t j = 0; j < steps; j++) {
            t += r->total[e * steps + j];
            m += r->epistemic[e * steps + j];
        }
        r->seq_total[e] = (float)(t / (double)steps);
        r->seq_epistemic[e] = (float)(m / (double)steps);
    }
    if (st == BNN_OK && binary && labels) {
        /* AUROC of p(class 1): the 1s should score above the 0s */
        float *pos = malloc(sizeof(float) * (size_t)n + 1), *neg = malloc(sizeof(float) * (size_t)n + 1);
        int64_t np = 0, nn = 0;
        if (pos && neg) {
            for (int64_t i = 0; i < n; i++) {
                if (labels[i] == 1)
                    pos[np++] = mean[2 * i + 1];
                else
                    neg[nn++] = mean[2 * i + 1];
            }
            r->auroc = np && nn ? bnn_auroc(pos, np, neg, nn) : NAN;
        } else {
            st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        }
        free(pos);
        free(neg);
    }
    if (st == BNN_OK) {
        r->n = n;
        r->samples = samples;
        if (labels) {
            r->accuracy = bnn_accuracy(mean, labels, n, k);
            r->nll = bnn_nll(mean, labels, n, k);
            r->brier = bnn_brier(mean, labels, n, k);
            r->ece = bnn_ece(mean, labels, n, k, ECE_BINS, r->bins_count, r->bins_accuracy,
                             r->bins_confidence);
            double right = 0, wrong = 0;
            int64_t n_right = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *p = mean + i * k;
                int64_t best = 0;
                for (int64_t j = 1; j < k; j++)
                    best = p[j] > p[best] ? j : best;
                if (best == labels[i]) {
                    right += r->total[i];
                    n_right++;
                } else {
                    wrong += r->total[i];
                }
            }
            r->entropy_right = n_right ? right / (double)n_right : NAN;
            r->entropy_wrong = n - n_right ? wrong / (double)(n - n_right) : NAN;
        }
    }
    free(probs);
    free(mean);
    if (st != BNN_OK)
        report_free(r);
    return st;
}

static void progress(void *context, int64_t done, int64_t total)
{
    fprintf(stdout, "\r  %s: %lld/%lld", (const char *)context, (long long)done, (long long)total);
    if (done == total)
        fprintf(stdout, "\r%*s\r", 60, "");
    fflush(stdout);
}

static void print_json_number(const char *name, double v, bool comma)
{
    if (isfinite(v))
        printf("\"%s\": %.6g%s", name, v, comma ? ", " : "");
    else
        printf("\"%s\": null%s", name, comma ? ", " : "");
}

static void print_report_json(const char *name, const report *r, bool comma)
{
    printf("\"%s\": {", name);
    print_json_number("accuracy", r->accuracy, true);
    print_json_number("nll", r->nll, true);
    print_json_number("brier", r->brier, true);
    print_json_number("ece", r->ece, true);
    print_json_number("entropy_correct", r->entropy_right, true);
    print_json_number("entropy_wrong", r->entropy_wrong, true);
    if (isfinite(r->auroc))
        print_json_number("auroc", r->auroc, true);
    printf("\"samples\": %lld}%s", (long long)r->samples, comma ? ", " : "");
}

static void print_report_text(const char *name, const report *r)
{
    printf("%-22s accuracy %.4f  NLL %.4f  Brier %.4f  ECE %.4f  entropy right/wrong %.3f/%.3f"
           "  (%lld sample%s)\n",
           name, r->accuracy, r->nll, r->brier, r->ece, r->entropy_right, r->entropy_wrong,
           (long long)r->samples, r->samples == 1 ? "" : "s");
    if (isfinite(r->auroc))
        printf("%-22s AUROC of p(class 1) %.4f\n", "", r->auroc);
}

/* The out-of-distribution inputs, shaped like x with n rows (noise) or as
 * their file has them. */
static int load_ood(bnn_graph *graph, const char *spec, bnnc_examples *oods,
                    const bnnc_examples *xs, const bnn_tensor *x, int64_t n, uint64_t seed,
                    bnn_tensor *out)
{
    bnn_diag diag;
    if (oods->n > 1 || (oods->n == 1 && oods->name[0])) { /* one array per named input */
        int rc = bnnc_examples_read(oods, NULL, 0, out, NULL);
        if (rc == BNNC_EXIT_OK)
            rc = bnnc_examples_bind(oods, graph, xs->path[0], xs);
        if (rc == BNNC_EXIT_OK && !bnnc_examples_fit(oods, graph, out))
            rc = BNNC_EXIT_ERROR;
        return rc;
    }
    if (strcmp(spec, "noise") == 0) {
        if (x->dtype != BNN_F32) {
            fprintf(stderr, "bnnc eval: --ood noise draws float32 images, but the model's input "
                    "takes %s: give --ood X.npy\n", bnn_dtype_name(x->dtype));
            return BNNC_EXIT_USAGE;
        }
        bnn_shape shape = x->shape;
        shape.dims[0] = n;
        if (bnn_tensor_alloc(out, BNN_F32, &shape, &diag) != BNN_OK)
            return bnnc_report("--ood noise", &diag);
        bnn_rng_stream s = bnn_rng_stream_make(seed, 0, 3, 0);
        bnn_rng_uniform(&s, 0, (size_t)bnn_tensor_numel(out), out->data);
        return BNNC_EXIT_OK;
    }
    size_t len = strlen(spec);
    if (len > 4 && strcmp(spec + len - 4, ".npy") == 0) {
        bnn_tensor raw;
        if (bnn_npy_read_file(spec, &raw, &diag) != BNN_OK)
            return bnnc_report(spec, &diag);
        *out = raw;
        return bnnc_match_input_dtype(graph, out, spec) ? BNNC_EXIT_OK : BNNC_EXIT_ERROR;
    }
    bnn_dataset ds;
    if (bnn_mnist_load(spec, BNN_MNIST_TEST, 1.0f / 255, 0, &ds, &diag) != BNN_OK)
        return bnnc_report(NULL, &diag);
    *out = ds.x;
    bnn_tensor_free(&ds.y);
    return BNNC_EXIT_OK;
}

int bnnc_cmd_eval(int argc, char **argv)
{
    enum { OPT_DATA = 256, OPT_X, OPT_Y, OPT_LIMIT, OPT_SAMPLES, OPT_BATCH, OPT_SHIFT, OPT_OOD,
           OPT_PLOT, OPT_SEED, OPT_THREADS, OPT_JSON, OPT_PREDICTIVE, OPT_LOGITS, OPT_TASK };
    static const struct option options[] = {
        {"data", required_argument, NULL, OPT_DATA}, {"x", required_argument, NULL, OPT_X},
        {"y", required_argument, NULL, OPT_Y}, {"limit", required_argument, NULL, OPT_LIMIT},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"shift", required_argument, NULL, OPT_SHIFT}, {"ood", required_argument, NULL, OPT_OOD},
        {"plot", required_argument, NULL, OPT_PLOT}, {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        BNNC_INPUT_SHAPE_OPTION,
        {"json", no_argument, NULL, OPT_JSON}, {"help", no_argument, NULL, 'h'},
        {"predictive", required_argument, NULL, OPT_PREDICTIVE},
        {"logits", required_argument, NULL, OPT_LOGITS},
        {"task", required_argument, NULL, OPT_TASK},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *xpath = NULL, *ypath = NULL, *shift = NULL, *ood = NULL, *plot = NULL;
    static bnnc_examples xs, oods; /* --x and --ood: one array, or one per named input */
    memset(&xs, 0, sizeof xs);
    memset(&oods, 0, sizeof oods);
    int64_t limit = 0, samples = 32, batch = 256, seed = 0, threads = 0;
    bnn_shift shift_spec = { 0 };
    bool json = false;
    int task = 0; /* 0: detect, 1: classify, 2: regress */
    bnn_predictive predictive = BNN_PREDICTIVE_MC;
    bnn_logit_rule logits = BNN_LOGITS_SIGMA;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        bool ok = true;
        switch (c) {
        case 'h': usage(stdout); return BNNC_EXIT_OK;
        case OPT_DATA: data = optarg; break;
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("eval", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case OPT_X:
            if (!bnnc_examples_add(&xs, "eval", "--x", optarg))
                return BNNC_EXIT_USAGE;
            xpath = bnnc_examples_where(&xs);
            break;
        case OPT_Y: ypath = optarg; break;
        case OPT_OOD:
            if (!bnnc_examples_add(&oods, "eval", "--ood", optarg))
                return BNNC_EXIT_USAGE;
            ood = bnnc_examples_where(&oods);
            break;
        case OPT_PLOT: plot = optarg; break;
        case OPT_JSON: json = true; break;
        case OPT_PREDICTIVE: ok = bnn_predictive_from_name(optarg, &predictive); break;
        case OPT_LOGITS: ok = bnn_logit_rule_from_name(optarg, &logits); break;
        case OPT_TASK:
            ok = strcmp(optarg, "classify") == 0 || strcmp(optarg, "regress") == 0;
            task = ok ? (optarg[0] == 'c' ? 1 : 2) : 0;
            break;
        case OPT_LIMIT: ok = bnnc_parse_int(optarg, 1, INT64_MAX, &limit); break;
        case OPT_SAMPLES: ok = bnnc_parse_int(optarg, 1, 100000, &samples); break;
        case OPT_BATCH: ok = bnnc_parse_int(optarg, 1, 1 << 20, &batch); break;
        case OPT_SEED: ok = bnnc_parse_int(optarg, 0, INT64_MAX, &seed); break;
        case OPT_THREADS: ok = bnnc_parse_int(optarg, 0, 1024, &threads); break;
        case OPT_SHIFT:
            shift = optarg;
            ok = bnn_shift_parse(optarg, &shift_spec);
            break;
        default: return bnnc_usage_error("eval", "unknown option");
        }
        if (!ok)
            return bnnc_usage_error("eval", "bad value '%s'%s", optarg,
                                    c == OPT_LOGITS ? " (--logits wants sigma, draws or probit)"
                                    : c == OPT_PREDICTIVE ? " (--predictive wants mc, moments or glm)"
                                    : c == OPT_TASK ? " (--task wants classify or regress)"
                                    : c == OPT_SHIFT ? " (--shift wants rotate:DEG, translate:DX[,DY], "
                                                       "noise:STD, blur:SIGMA or contrast:F)"
                                    : "");
    }
    if (argc - optind != 1)
        return bnnc_usage_error("eval", "expected one model file");
    if (!data == !(xpath && ypath))
        return bnnc_usage_error("eval", "give either --data DIR or both --x and --y");
    const char *model = argv[optind];
    if (task == 2 && data)
        return bnnc_usage_error("eval", "--task regress takes --x and --y (real-valued "
                                "targets), not --data");

    int status = BNNC_EXIT_ERROR;
    bnn_diag diag = {0};
    bnn_dataset test = {0};
    bnn_graph *graph = NULL, *mean_graph = NULL;
    bnn_tensor shifted = {0}, ood_x = {0};
    report bayes = {0}, mean = {0}, out = {0};
    bool have_mean = false, have_out = false;
    bnn_pipeline *pipeline = NULL;
    int64_t *all_labels = NULL;
    bnn_comm *comm = bnnc_comm_start(); /* rank 0 alone prints */
    if (!comm)
        return BNNC_EXIT_ERROR;
    int rank = bnn_comm_rank(comm), ranks = bnn_comm_size(comm);
    if (task != 1 && !data) {
        /* a regressor: --task regress, or a model with a noise scale */
        graph = bnnc_load_model_for_inference(model);
        if (!graph)
            goto done;
        if (task == 2 || bnn_graph_noise_param(graph) >= 0) {
            if (xs.n > 1 || oods.n > 1) {
                fprintf(stderr, "bnnc eval: %s is a regressor: evaluating one with several "
                        "inputs is not supported yet\n", model);
                status = BNNC_EXIT_USAGE;
                goto done;
            }
            if (shift || plot) {
                fprintf(stderr, "bnnc eval: %s is a regressor: --%s is for classifiers\n", model,
                        shift ? "shift" : "plot");
                status = BNNC_EXIT_USAGE;
                goto done;
            }
            bnn_predict_options po = bnn_predict_defaults();
            po.samples = samples;
            po.predictive = predictive;
            po.batch = batch;
            po.seed = (uint64_t)seed;
            po.threads = (int)threads;
            bnn_runtime_set_threads((int)threads);
            eval_regress_args ra = {.model = model, .xpath = xpath, .ypath = ypath, .ood = ood,
                                    .limit = limit, .json = json, .predict = po};
            status = eval_regress(graph, &ra, comm);
            goto done;
        }
    }
    /* This rank's examples [first, first + rows) of n_all: all of them alone
     * (rows -1: to the end), else its share in whole batches, read from the
     * files and nothing more. */
    int64_t first = 0, rows = -1, n_all = 0;
    if (ranks > 1) {
        bnn_dataset probe = {0};
        bnn_tensor none = {0};
        bnn_status st = data ? bnn_mnist_load_rows(data, BNN_MNIST_TEST, 1.0f / 255, 0, 0, 0,
                                                   &probe, &n_all, &diag)
                             : bnn_npy_read_rows(xs.path[0], 0, 0, &none, &n_all, &diag);
        bnn_dataset_free(&probe);
        bnn_tensor_free(&none);
        if (st != BNN_OK) {
            bnnc_report(data ? NULL : xpath, &diag);
            goto done;
        }
        if (limit && limit < n_all)
            n_all = limit;
        bnn_comm_shard(n_all, batch, rank, ranks, &first, &rows);
    }

    if (data) {
        if (bnn_mnist_load_rows(data, BNN_MNIST_TEST, 1.0f / 255, 0, first, rows, &test, NULL,
                                &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
    } else {
        bnn_tensor rx, ry;
        int64_t *list = ranks > 1 ? malloc(sizeof *list * (size_t)(rows + 1)) : NULL;
        if (ranks > 1 && !list) {
            fprintf(stderr, "bnnc: out of memory\n");
            goto done;
        }
        for (int64_t i = 0; list && i < rows; i++)
            list[i] = first + i;
        int xrc = bnnc_examples_read(&xs, list, rows, &rx, NULL);
        free(list);
        if (xrc != BNNC_EXIT_OK)
            goto done;
        if ((ranks > 1 ? bnn_npy_read_rows(ypath, first, rows, &ry, NULL, &diag)
                       : bnn_npy_read_file(ypath, &ry, &diag)) != BNN_OK) {
            bnn_tensor_free(&rx);
            bnnc_report(ypath, &diag);
            goto done;
        }
        /* Float labels are accepted when they are whole numbers: a label
         * of 2.5 is a mistake, not class 2. */
        bnn_tensor yd = {0};
        bnn_status st = bnn_tensor_convert(&ry, BNN_F64, &yd, &diag);
        int64_t bad = -1;
        for (int64_t i = 0; st == BNN_OK && i < bnn_tensor_numel(&yd) && bad < 0; i++) {
            double v = ((const double *)yd.data)[i];
            if (!(v == floor(v) && fabs(v) < 1e15))
                bad = i;
        }
        bnn_tensor_free(&yd);
        if (st == BNN_OK && bad >= 0) {
            bnn_tensor_free(&rx);
            bnn_tensor_free(&ry);
            fprintf(stderr, "bnnc: %s: the label of example %lld is not a whole number (class "
                    "labels are integers)\n", ypath, (long long)(first + bad));
            goto done;
        }
        const char *where = ypath;
        if (st == BNN_OK)
            st = bnn_tensor_convert(&ry, BNN_I64, &test.y, &diag);
        bnn_tensor_free(&ry);
        if (st == BNN_OK)
            test.x = rx; /* made the model input's dtype below */
        else
            bnn_tensor_free(&rx);
        if (st != BNN_OK) {
            bnnc_report(where, &diag);
            goto done;
        }
        if (test.x.shape.rank < 1 || test.y.shape.rank < 1 || test.y.shape.rank > 2 ||
            test.x.shape.dims[0] != test.y.shape.dims[0]) {
            fprintf(stderr, "bnnc: %s: labels must be [n] for the n rows of %s ([n, steps] for "
                    "a per-step classifier)\n", ypath, xpath);
            goto done;
        }
        test.n = test.x.shape.dims[0];
    }
    if (limit && limit < test.n)
        test.n = test.x.shape.dims[0] = test.y.shape.dims[0] = limit;
    if (ranks == 1)
        n_all = test.n;
    if (!graph) /* not loaded above to look for a noise scale */
        graph = bnnc_load_model_for_inference(model);
    if (!graph)
        goto done;
    bnnc_note_fixed_batch(model, test.n < batch ? test.n : batch);
    if (!data) { /* several inputs are packed into one (tools/examples.h) */
        int brc = bnnc_examples_bind(&xs, graph, model, NULL);
        if (brc != BNNC_EXIT_OK) {
            status = brc;
            goto done;
        }
    }
    if (!(data ? bnnc_match_input_dtype(graph, &test.x, data) : bnnc_examples_fit(&xs, graph, &test.x)))
        goto done;
    const bnn_tensor *x = &test.x;
    if (shift) {
        if (test.x.dtype != BNN_F32) {
            fprintf(stderr, "bnnc eval: --shift %s float32 images; %s's input takes %s\n",
                    shift_spec.kind == BNN_SHIFT_ROTATE ? "rotates" : "transforms", model,
                    bnn_dtype_name(test.x.dtype));
            status = BNNC_EXIT_USAGE;
            goto done;
        }
        if (test.x.shape.rank != 4) {
            char buf[256];
            fprintf(stderr, "bnnc: %s: --shift %s needs images [n, channels, height, width], "
                    "not %s\n", data ? data : xpath, bnn_shift_name(shift_spec.kind),
                    bnn_shape_format(&test.x.shape, test.x.dtype, buf, sizeof buf));
            goto done;
        }
        if (bnn_tensor_alloc(&shifted, BNN_F32, &test.x.shape, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        /* noise: standard normals from the seed's data stream (step 1; --ood
         * noise takes step 0) */
        size_t count = (size_t)bnn_tensor_numel(&test.x);
        float *normals = shift_spec.kind == BNN_SHIFT_NOISE ? malloc(sizeof(float) * count + 1)
                                                            : NULL;
        if (normals) {
            bnn_rng_stream s = bnn_rng_stream_make((uint64_t)seed, 0, BNN_RNG_PURPOSE_DATA, 1);
            bnn_rng_normal(&s, 0, count, normals);
        }
        bool done_shift = (shift_spec.kind != BNN_SHIFT_NOISE || normals) &&
                          bnn_shift_images(&test.x, &shift_spec, normals, &shifted);
        free(normals);
        if (!done_shift) {
            fprintf(stderr, "bnnc eval: out of memory for --shift %s\n", shift);
            goto done;
        }
        x = &shifted;
    }

    if (!eval_check_rows(graph, x, data ? data : xpath) ||
        !bnnc_bind_input_dims(graph, x, model))
        goto done;
    const double shift_fields[] = {(double)shift_spec.kind, shift_spec.a, shift_spec.b};
    uint64_t setup[] = {(uint64_t)n_all, (uint64_t)samples, (uint64_t)batch, (uint64_t)seed,
                        (uint64_t)predictive, (uint64_t)(shift != NULL), (uint64_t)(ood != NULL)};
    if (!bnnc_ranks_agree(comm, "model", bnn_graph_fingerprint(graph), model) ||
        !bnnc_ranks_agree(comm, "test data or options",
                     bnn_comm_hash(bnn_comm_hash(BNN_COMM_HASH_SEED, setup, sizeof setup),
                                   shift_fields, sizeof shift_fields), data ? data : xpath))
        goto done;
    bnn_runtime_set_threads((int)threads);
    bnn_predict_options po = bnn_predict_defaults();
    po.samples = samples;
    po.predictive = predictive;
    po.logits = logits;
    po.batch = batch;
    po.seed = (uint64_t)seed;
    po.threads = (int)threads;
    /* mpirun hands rank 0 a pseudo-terminal even when its own output is a file */
    bool terminal = bnnc_stdout_is_terminal() && !json && !bnn_comm_launched(comm);
    if (terminal) {
        po.progress = progress;
        po.context = "Bayesian";
    }
    po.per_step = true; /* [n, T, C]: T steps per example */
    int64_t n_classes = 0, effective_samples = 0, steps = 1;
    bool binary = false;
    if (bnn_predict_class_layout(graph, &po, &steps, &n_classes, &binary, &diag) != BNN_OK ||
        bnn_predict_classes(graph, x, &po, NULL, &effective_samples, &n_classes, &diag) !=
            BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    {
        const bnn_value *out_v = &graph->values[graph->outputs[0]];
        int producer = out_v->producer;
        if (binary && !(producer >= 0 && graph->nodes[producer].op == BNN_OP_SIGMOID)) {
            char buf[128];
            fprintf(stderr, "bnnc: %s: output '%s' %s is one value per %s but not made by a "
                    "Sigmoid: a regressor? (evaluate one with --task regress; a binary "
                    "classifier ends with Sigmoid; a classifier needs at least 2 classes)\n", model,
                    out_v->name, bnn_shape_format(&out_v->shape, out_v->dtype, buf, sizeof buf),
                    steps > 1 ? "step" : "example");
            goto done;
        }
    }
    if ((steps > 1) != (test.y.shape.rank == 2) ||
        (steps > 1 && test.y.shape.dims[1] != steps)) {
        fprintf(stderr, "bnnc: %s: labels must be %s for this model's output (%s)\n",
                data ? data : ypath, steps > 1 ? "[n, steps], one class per step" : "[n]",
                steps > 1 ? "a per-step classifier [n, steps, classes]" : "one class per example");
        goto done;
    }
    if (!check_labels(&test.y, first * steps, n_classes, data ? data : ypath))
        goto done;
    /* every rank gets all labels: each adds its own to zeros elsewhere */
    const int64_t *labels = test.y.data;
    if (ranks > 1) {
        int64_t count = n_all * steps;
        double *sum = calloc((size_t)count + 1, sizeof *sum);
        all_labels = malloc(sizeof *all_labels * ((size_t)count + 1));
        bnn_status st = sum && all_labels ? BNN_OK
                                          : bnn_fail(&diag, BNN_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == BNN_OK && i < test.n * steps; i++)
            sum[first * steps + i] = (double)labels[i];
        if (st == BNN_OK)
            st = bnn_comm_allreduce_f64(comm, sum, (size_t)count, &diag);
        for (int64_t i = 0; st == BNN_OK && i < count; i++)
            all_labels[i] = (int64_t)sum[i];
        free(sum);
        if (st != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        labels = all_labels;
    }
    if (measure(graph, x, labels, first, n_all, comm, &po, &bayes, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    if (bnn_graph_is_bayesian(graph)) {
        mean_graph = bnn_graph_clone(graph);
        if (!mean_graph || bnn_pipeline_parse("bnn-to-mean", &pipeline, &diag) != BNN_OK ||
            bnn_pipeline_run(pipeline, mean_graph, NULL, &diag) != BNN_OK) {
            bnnc_report(model, &diag);
            goto done;
        }
        po.context = "posterior mean";
        po.predictive = BNN_PREDICTIVE_MC; /* a deterministic model: one run either way */
        if (measure(mean_graph, x, labels, first, n_all, comm, &po, &mean, &diag) != BNN_OK) {
            bnnc_report(model, &diag);
            goto done;
        }
        have_mean = true;
    }
    double auroc_entropy = NAN, auroc_mi = NAN;
    if (ood) {
        /* Every rank loads the whole OOD set (noise is drawn for all of it,
         * so it is the same whatever K) and predicts its whole batches. */
        if (load_ood(graph, ood, &oods, &xs, x, n_all, (uint64_t)seed, &ood_x) != BNNC_EXIT_OK ||
            !eval_check_rows(graph, &ood_x, ood))
            goto done;
        po.context = "out of distribution";
        po.predictive = predictive;
        int64_t ood_n = ood_x.shape.dims[0], ood_first, ood_rows;
        bnn_comm_shard(ood_n, batch, rank, ranks, &ood_first, &ood_rows);
        bnn_tensor ood_view = ood_x;
        ood_view.owns_data = false;
        ood_view.shape.dims[0] = ood_rows;
        if (ood_n > 0)
            ood_view.data = (char *)ood_x.data + (size_t)ood_first *
                                                     (bnn_tensor_nbytes(&ood_x) / (size_t)ood_n);
        if (measure(graph, &ood_view, NULL, ood_first, ood_n, comm, &po, &out, &diag) !=
            BNN_OK) {
            bnnc_report(ood, &diag);
            goto done;
        }
        have_out = true;
        /* per example: a per-step classifier's sequences by their mean */
        auroc_entropy = bnn_auroc(out.seq_total, out.n / steps, bayes.seq_total, bayes.n / steps);
        auroc_mi = bnn_auroc(out.seq_epistemic, out.n / steps, bayes.seq_epistemic,
                             bayes.n / steps);
    }
    if (plot && rank == 0) {
        char subtitle[512], ood_part[256] = "";
        if (have_out)
            snprintf(ood_part, sizeof ood_part, "; OOD %s: AUROC entropy %.3f, MI %.3f", ood,
                     auroc_entropy, auroc_mi);
        snprintf(subtitle, sizeof subtitle, "%lld examples%s%s, %lld sample%s: accuracy %.4f, "
                 "NLL %.3f, ECE %.3f%s", (long long)n_all, shift ? ", shift " : "",
                 shift ? shift : "", (long long)bayes.samples, bayes.samples == 1 ? "" : "s", bayes.accuracy, bayes.nll,
                 bayes.ece, ood_part);
        eval_plot p = {
            .subtitle = subtitle, .ece = bayes.ece, .mean_ece = have_mean ? mean.ece : NAN,
            .title = model, .bins = ECE_BINS, .bin_count = bayes.bins_count,
            .bin_accuracy = bayes.bins_accuracy, .bin_confidence = bayes.bins_confidence,
            .mean_bin_count = have_mean ? mean.bins_count : NULL,
            .mean_bin_accuracy = have_mean ? mean.bins_accuracy : NULL,
            .entropy_in = bayes.total, .n_in = bayes.n,
            .entropy_out = have_out ? out.total : NULL, .n_out = have_out ? out.n : 0,
            .max_entropy = log((double)n_classes),
        };
        if (eval_plot_write(plot, &p, &diag) != BNN_OK) {
            bnnc_report(plot, &diag);
            goto done;
        }
    }
    if (json) {
        printf("{\"model\": ");
        bnnc_print_json_string(model);
        printf(", \"examples\": %lld, \"classes\": %lld, \"task\": \"%s\", ", (long long)n_all,
               (long long)n_classes, steps > 1 ? "per_step" : binary ? "binary" : "classify");
        if (steps > 1) {
            double t = 0, m = 0;
            for (int64_t e = 0; e < n_all; e++) {
                t += bayes.seq_total[e];
                m += bayes.seq_epistemic[e];
            }
            printf("\"steps\": %lld, ", (long long)steps);
            print_json_number("sequence_entropy", n_all ? t / (double)n_all : NAN, true);
            print_json_number("sequence_mutual_information", n_all ? m / (double)n_all : NAN,
                              true);
        }
        if (isfinite(bayes.auroc))
            print_json_number("auroc", bayes.auroc, true);
        if (shift) {
            printf("\"shift\": ");
            bnnc_print_json_string(shift);
            printf(", ");
        }
        print_json_number("accuracy", bayes.accuracy, true);
        print_json_number("nll", bayes.nll, true);
        print_json_number("brier", bayes.brier, true);
        print_json_number("ece", bayes.ece, true);
        print_json_number("entropy_correct", bayes.entropy_right, true);
        print_json_number("entropy_wrong", bayes.entropy_wrong, true);
        printf("\"samples\": %lld, \"predictive\": \"%s\"", (long long)bayes.samples,
               bnn_predictive_name(predictive));
        if (have_mean) {
            printf(", ");
            print_report_json("posterior_mean", &mean, false);
        }
        if (have_out) {
            printf(", \"ood\": {\"source\": ");
            bnnc_print_json_string(ood);
            printf(", \"examples\": %lld, ", (long long)out.n);
            print_json_number("auroc_entropy", auroc_entropy, true);
            print_json_number("auroc_mi", auroc_mi, false);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s on %lld examples%s%s%s:\n", model, (long long)n_all, shift ? ", shift " : "",
               shift ? shift : "", steps > 1 ? " (per-step classifier: metrics over every step)"
                                   : binary ? " (binary classifier)" : "");
        print_report_text(have_mean ? "Bayesian (mean of S)" : "model", &bayes);
        if (steps > 1) {
            double t = 0, m = 0;
            for (int64_t e = 0; e < n_all; e++) {
                t += bayes.seq_total[e];
                m += bayes.seq_epistemic[e];
            }
            printf("%-22s per sequence (mean over %lld steps): predictive entropy %.4f, mutual "
                   "information %.4f\n", "", (long long)steps, n_all ? t / (double)n_all : NAN,
                   n_all ? m / (double)n_all : NAN);
        }
        if (have_mean)
            print_report_text("posterior-mean model", &mean);
        if (have_out)
            printf("OOD (%s, %lld examples): AUROC predictive entropy %.4f, mutual information %.4f\n",
                   ood, (long long)out.n, auroc_entropy, auroc_mi);
        if (plot)
            printf("wrote %s\n", plot);
    }
    status = BNNC_EXIT_OK;
done:
    report_free(&bayes);
    if (have_mean)
        report_free(&mean);
    if (have_out)
        report_free(&out);
    bnn_pipeline_destroy(pipeline);
    bnn_graph_destroy(mean_graph);
    bnn_graph_destroy(graph);
    bnn_tensor_free(&shifted);
    bnn_tensor_free(&ood_x);
    bnn_dataset_free(&test);
    free(all_labels);
    if (status != BNNC_EXIT_OK && ranks > 1) {
        /* The other ranks may be waiting in a collective call for this one. */
        fprintf(stderr, "bnnc: rank %d of %d failed; stopping every rank\n", rank, ranks);
        fflush(stderr);
        bnn_comm_abort(comm, status);
    }
    bnn_comm_destroy(comm);
    return status;
}
