/* bnnc run: run a model once on inputs read from .npy files.
 *
 * The batch size is the first dim of the input; the session is planned for
 * exactly the shapes given.  Without --output or --quiet it prints a short
 * summary: each output's shape and, for a 2-D classifier output, the top
 * class per row (with its probability, after a softmax when the output looks
 * like logits).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_npy.h"
#include "bnn_runtime.h"
#include "cli.h"
#include "examples.h"
#include "run_samples.h"

#define RUN_MAX_FILES 64

typedef struct run_file {
    const char *name; /* graph input/output name, NULL when given by position */
    const char *path;
} run_file;

typedef struct run_options {
    const char *model;
    run_file inputs[RUN_MAX_FILES];
    int n_inputs;
    run_file outputs[RUN_MAX_FILES];
    int n_outputs;
    bool quiet;
    int threads;
    uint64_t seed;
    run_samples_options mc; /* --samples, --task, --uncertainty, --json: run_samples.c */
} run_options;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bnnc run MODEL.onnx --input X.npy [--input NAME=Y.npy ...]\n"
            "                [--output OUT.npy | --output NAME=OUT.npy ...] [--quiet]\n"
            "                [--threads N] [--seed N] [--samples S] [--task classify|regress]\n"
            "                [--uncertainty U.npy] [--draws D.npy] [--json]\n\n"
            "Runs the model once on the given inputs.  The batch size is the first\n"
            "dimension of the input.  Inputs given without NAME= fill the model's\n"
            "inputs in order.  Without --output or --quiet, prints each output's shape\n"
            "and, for a classifier, the top class of every row.\n"
            "A model with Bayesian layers (or --samples S) runs S times with fresh weight\n"
            "samples: --output gets the predictive mean (of softmax probabilities for a\n"
            "classifier) and each row's uncertainty is printed (see docs/uncertainty.md).\n\n"
            "options:\n"
            "  -i, --input [NAME=]FILE    a float32/int64/... .npy array for an input\n"
            "  -o, --output [NAME=]FILE   write an output (default: the first) to .npy\n"
            "  -q, --quiet                print nothing on success\n"
            "  -t, --threads N            OpenBLAS/OpenMP threads (default 0: all cores)\n"
            "  -s, --seed N               seed for random draws (default 0)\n"
            RUN_SAMPLES_USAGE
            BNNC_INPUT_SHAPE_USAGE
            "  -h, --help                 show this help\n");
}

/* "f32[N,1,28,28]": the declared shape with its symbol names. */
/* NAME=PATH names a value when NAME is one of `names`; anything else is a path. */
static run_file split_file(const char *arg, const bnn_graph *g, const int *ids, int n_ids)
{
    run_file f = {NULL, arg};
    const char *eq = strchr(arg, '=');
    if (!eq)
        return f;
    for (int i = 0; i < n_ids; i++) {
        const char *name = g->values[ids[i]].name;
        if (strlen(name) == (size_t)(eq - arg) && strncmp(arg, name, (size_t)(eq - arg)) == 0) {
            f.name = name;
            f.path = eq + 1;
        }
    }
    return f;
}

/* Matches files to graph values (by name, then the rest in order); slot[k] is
 * the file index for value k or -1. */
static int match_files(const char *what, run_file *files, int n_files, const bnn_graph *g,
                       const int *ids, int n_ids, int *slot, const char *model)
{
    for (int k = 0; k < n_ids; k++)
        slot[k] = -1;
    for (int f = 0; f < n_files; f++) {
        if (!files[f].name)
            continue;
        for (int k = 0; k < n_ids; k++)
            if (strcmp(files[f].name, g->values[ids[k]].name) == 0) {
                if (slot[k] >= 0) {
                    fprintf(stderr, "bnnc run: %s '%s' given twice\n", what, files[f].name);
                    return BNNC_EXIT_USAGE;
                }
                slot[k] = f;
            }
    }
    int next = 0;
    for (int f = 0; f < n_files; f++) {
        if (files[f].name)
            continue;
        while (next < n_ids && slot[next] >= 0)
            next++;
        if (next == n_ids) {
            fprintf(stderr, "bnnc: %s: the model has %d %s%s; '%s' is one too many\n", model,
                    n_ids, what, n_ids == 1 ? "" : "s", files[f].path);
            return BNNC_EXIT_USAGE;
        }
        slot[next++] = f;
    }
    return BNNC_EXIT_OK;
}

/* Checks a tensor read from `path` against the input's declared type and
 * shape; prints "bnnc: PATH: input 'x' expects f32[N,1,28,28], got ...". */
static bool check_input(const bnn_graph *g, int value_id, const bnn_tensor *t, const char *path)
{
    const bnn_value *v = &g->values[value_id];
    bool ok = t->dtype == v->dtype && (v->shape.rank < 0 || v->shape.rank == t->shape.rank);
    for (int d = 0; ok && v->shape.rank >= 0 && d < t->shape.rank; d++)
        if (bnn_dim_is_known(v->shape.dims[d]) && v->shape.dims[d] != t->shape.dims[d])
            ok = false;
    if (!ok) {
        char want[256], got[256];
        fprintf(stderr, "bnnc: %s: input '%s' expects %s, got %s\n", path, v->name,
                bnn_type_text(g, v->dtype, &v->shape, want, sizeof want),
                bnn_shape_format(&t->shape, t->dtype, got, sizeof got));
    }
    return ok;
}

/* For a 2-D f32 output [rows, classes]: the top class per row, with a
 * probability: as is when rows already are probabilities, exp() of
 * log-probabilities, else a softmax of logits. */
static void print_classes(const bnn_tensor *t)
{
    int64_t rows = t->shape.dims[0], cols = t->shape.dims[1];
    const float *y = t->data;
    bool probs = true, logprobs = true;
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0, esum = 0;
        for (int64_t c = 0; c < cols; c++) {
            float v = y[r * cols + c];
            if (!(v >= 0 && v <= 1))
                probs = false;
            if (!(v <= 0))
                logprobs = false;
            sum += v;
            esum += exp(v);
        }
        if (fabs(sum - 1) > 1e-3)
            probs = false;
        if (fabs(esum - 1) > 1e-3)
            logprobs = false;
    }
    const char *kind = probs ? "probability" : logprobs ? "exp of log-probability"
                                                        : "softmax of the outputs";
    printf("top class per row (%s):\n", kind);
    for (int64_t r = 0; r < rows; r++) {
        const float *row = y + r * cols;
        int64_t best = 0;
        for (int64_t c = 1; c < cols; c++)
            if (row[c] > row[best])
                best = c;
        double p;
        if (probs) {
            p = row[best];
        } else if (logprobs) {
            p = exp(row[best]);
        } else {
            double z = 0;
            for (int64_t c = 0; c < cols; c++)
                z += exp((double)row[c] - row[best]);
            p = 1 / z;
        }
        printf("  %lld: class %lld  p=%.4f\n", (long long)r, (long long)best, p);
    }
}

static int parse_args(int argc, char **argv, run_options *o, const char ***in_args,
                      const char ***out_args)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},   {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},         {"threads", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},    {"help", no_argument, NULL, 'h'},
        RUN_SAMPLES_LONG_OPTIONS,
        BNNC_INPUT_SHAPE_OPTION,
        {NULL, 0, NULL, 0},
    };
    int c;
    int64_t v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:o:qt:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (o->n_inputs == RUN_MAX_FILES)
                return bnnc_usage_error("run", "too many --input files");
            (*in_args)[o->n_inputs++] = optarg;
            break;
        case 'o':
            if (o->n_outputs == RUN_MAX_FILES)
                return bnnc_usage_error("run", "too many --output files");
            (*out_args)[o->n_outputs++] = optarg;
            break;
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("run", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case 'q': o->quiet = true; break;
        case 't':
            if (!bnnc_parse_int(optarg, 0, 4096, &v))
                return bnnc_usage_error("run", "--threads wants a number 0..4096, not '%s'", optarg);
            o->threads = (int)v;
            break;
        case 's':
            if (!bnnc_parse_int(optarg, 0, INT64_MAX, &v))
                return bnnc_usage_error("run", "--seed wants a non-negative integer, not '%s'", optarg);
            o->seed = (uint64_t)v;
            break;
        case RUN_OPT_SAMPLES: case RUN_OPT_TASK: case RUN_OPT_UNCERTAINTY: case RUN_OPT_JSON:
        case RUN_OPT_PREDICTIVE: case RUN_OPT_LOGITS: case RUN_OPT_DRAWS:
            if (!run_samples_option(c, optarg, &o->mc))
                return BNNC_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return -1;
        case ':': return bnnc_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
        default: return bnnc_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bnnc_usage_error("run", "no model given");
    if (optind + 1 < argc)
        return bnnc_usage_error("run", "unexpected argument '%s'", argv[optind + 1]);
    o->model = argv[optind];
    if (o->n_inputs == 0)
        return bnnc_usage_error("run", "no --input given");
    return BNNC_EXIT_OK;
}

/* run_samples for a model with several inputs: they are packed into one
 * (tools/examples.h), as train and eval take them. */
static int run_samples_packed(const run_options *o, bnn_graph *g, const bnn_tensor *tensors,
                              const int *in_slot, const char *out_path)
{
    if (g->n_inputs > BNNC_MAX_EXAMPLE_INPUTS) {
        fprintf(stderr, "bnnc: %s: sampling a model with more than %d inputs is not supported\n",
                o->model, BNNC_MAX_EXAMPLE_INPUTS);
        return BNNC_EXIT_ERROR;
    }
    static bnnc_examples ex;
    memset(&ex, 0, sizeof ex);
    ex.option = "--input";
    for (int k = 0; k < g->n_inputs; k++) {
        const char *name = g->values[g->inputs[k]].name;
        snprintf(ex.name_buf[k], sizeof ex.name_buf[k], "%s", name);
        ex.name[k] = ex.name_buf[k];
        ex.path[k] = o->inputs[in_slot[k]].path;
        if (strlen(name) >= sizeof ex.name_buf[k]) {
            fprintf(stderr, "bnnc: %s: input name '%.40s...' is too long\n", o->model, name);
            return BNNC_EXIT_ERROR;
        }
    }
    ex.n = g->n_inputs;
    bnn_tensor x = {0};
    int rc = bnnc_examples_pack(&ex, tensors, &x);
    if (rc == BNNC_EXIT_OK)
        rc = bnnc_examples_bind(&ex, g, o->model, NULL);
    if (rc == BNNC_EXIT_OK)
        rc = bnnc_examples_fit(&ex, g, &x) ? BNNC_EXIT_OK : BNNC_EXIT_ERROR;
    if (rc == BNNC_EXIT_OK)
        rc = run_samples(o->model, g, &x, out_path, o->quiet, o->seed, o->threads, &o->mc);
    bnn_tensor_free(&x);
    return rc;
}

int bnnc_cmd_run(int argc, char **argv)
{
    run_options o = {0};
    const char *in_buf[RUN_MAX_FILES], *out_buf[RUN_MAX_FILES];
    const char **in_args = in_buf, **out_args = out_buf;
    int rc = parse_args(argc, argv, &o, &in_args, &out_args);
    if (rc < 0)
        return BNNC_EXIT_OK;
    if (rc != BNNC_EXIT_OK)
        return rc;

    bnn_graph *g = bnnc_load_model_for_inference(o.model);
    if (!g)
        return BNNC_EXIT_ERROR;
    const int n_model_inputs = g->n_inputs; /* run --samples may pack them into one */
    bnn_tensor *tensors = calloc((size_t)g->n_inputs + 1, sizeof *tensors);
    bnn_shape *shapes = calloc((size_t)g->n_inputs + 1, sizeof *shapes);
    int *in_slot = calloc((size_t)g->n_inputs + 1, sizeof *in_slot);
    int *out_slot = calloc((size_t)g->n_outputs + 1, sizeof *out_slot);
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    rc = BNNC_EXIT_ERROR;
    if (!tensors || !shapes || !in_slot || !out_slot) {
        fprintf(stderr, "bnnc run: out of memory\n");
        goto done;
    }
    for (int i = 0; i < o.n_inputs; i++)
        o.inputs[i] = split_file(in_args[i], g, g->inputs, g->n_inputs);
    for (int i = 0; i < o.n_outputs; i++)
        o.outputs[i] = split_file(out_args[i], g, g->outputs, g->n_outputs);
    rc = match_files("input", o.inputs, o.n_inputs, g, g->inputs, g->n_inputs, in_slot, o.model);
    if (rc == BNNC_EXIT_OK)
        rc = match_files("output", o.outputs, o.n_outputs, g, g->outputs, g->n_outputs, out_slot,
                         o.model);
    if (rc != BNNC_EXIT_OK)
        goto done;
    rc = BNNC_EXIT_ERROR;
    for (int i = 0; i < o.n_outputs; i++) {
        const char *ins[RUN_MAX_FILES + 1];
        ins[0] = o.model;
        for (int k = 0; k < o.n_inputs; k++)
            ins[k + 1] = o.inputs[k].path;
        if (bnnc_output_is_input("run", o.outputs[i].path, ins, o.n_inputs + 1))
            goto done;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        if (in_slot[k] < 0) {
            fprintf(stderr, "bnnc: %s: no --input for the model's input '%s'\n", o.model,
                    g->values[g->inputs[k]].name);
            rc = BNNC_EXIT_USAGE;
            goto done;
        }
        const char *path = o.inputs[in_slot[k]].path;
        if (bnn_npy_read_file(path, &tensors[k], &diag) != BNN_OK) {
            const char *eq = strchr(path, '=');
            if (diag.status == BNN_ERR_IO && eq && !o.inputs[in_slot[k]].name) {
                /* NAME=FILE whose NAME is no input: say so rather than "cannot open" */
                fprintf(stderr, "bnnc: %s: the model has no input '%.*s'; its inputs are:",
                        o.model, (int)(eq - path), path);
                for (int j = 0; j < g->n_inputs; j++)
                    fprintf(stderr, " '%s'", g->values[g->inputs[j]].name);
                fprintf(stderr, "\n");
                rc = BNNC_EXIT_USAGE;
                goto done;
            }
            bnnc_report(path, &diag);
            goto done;
        }
        if (k == 0 && tensors[0].shape.rank > 0)
            bnnc_note_fixed_batch(o.model, tensors[0].shape.dims[0]);
        if (!check_input(g, g->inputs[k], &tensors[k], path))
            goto done;
        shapes[k] = tensors[k].shape;
    }
    if (run_samples_wanted(g, &o.mc)) {
        /* A Bayesian model, or --samples and friends: the mean of S weight
         * samples and each example's uncertainty (run_samples.c). */
        const char *out_path = g->n_outputs > 0 && out_slot[0] >= 0 ? o.outputs[out_slot[0]].path
                                                                     : NULL;
        if (g->n_inputs > 1) {
            rc = run_samples_packed(&o, g, tensors, in_slot, out_path);
            goto done;
        }
        if (!bnnc_bind_input_dims(g, &tensors[0], o.model))
            goto done;
        rc = run_samples(o.model, g, &tensors[0], out_path, o.quiet, o.seed, o.threads, &o.mc);
        goto done;
    }
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = o.threads;
    opt.seed = o.seed;
    if (bnn_session_create(g, shapes, &opt, &s, &diag) != BNN_OK) {
        bnnc_report(o.model, &diag);
        goto done;
    }
    for (int k = 0; k < g->n_inputs; k++)
        if (bnn_session_set_input(s, bnn_session_input_name(s, k), &tensors[k], &diag) != BNN_OK) {
            bnnc_report(o.inputs[in_slot[k]].path, &diag);
            goto done;
        }
    if (bnn_session_run(s, &diag) != BNN_OK) {
        bnnc_report(o.model, &diag);
        goto done;
    }
    for (int k = 0; k < g->n_outputs; k++) {
        if (out_slot[k] < 0)
            continue;
        const char *path = o.outputs[out_slot[k]].path;
        if (bnn_npy_write_file(path, bnn_session_output(s, k), &diag) != BNN_OK) {
            bnnc_report(path, &diag);
            goto done;
        }
    }
    if (!o.quiet && o.n_outputs == 0) {
        for (int k = 0; k < bnn_session_n_outputs(s); k++) {
            const bnn_tensor *y = bnn_session_output(s, k);
            char buf[256];
            printf("output '%s': %s\n", bnn_session_output_name(s, k),
                   bnn_shape_format(&y->shape, y->dtype, buf, sizeof buf));
            if (y->dtype == BNN_F32 && y->shape.rank == 2 && y->shape.dims[1] >= 2)
                print_classes(y);
        }
    }
    rc = BNNC_EXIT_OK;
done:
    bnn_session_destroy(s);
    for (int k = 0; tensors && k < n_model_inputs; k++)
        bnn_tensor_free(&tensors[k]);
    free(tensors);
    free(shapes);
    free(in_slot);
    free(out_slot);
    bnn_graph_destroy(g);
    return rc;
}
