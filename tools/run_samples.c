/* bnnc run --samples S: Monte-Carlo prediction and per-example uncertainty
 * (see run_samples.h and docs/uncertainty.md). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "bnn_train.h"
#include "cli.h"
#include "run_samples.h"

enum { DEFAULT_BAYESIAN_SAMPLES = 32, BATCH = 256, MAX_SAMPLES = 100000 };

bool run_samples_option(int code, const char *arg, run_samples_options *o)
{
    o->given = true;
    switch (code) {
    case RUN_OPT_SAMPLES:
        if (!bnnc_parse_int(arg, 1, MAX_SAMPLES, &o->samples)) {
            bnnc_usage_error("run", "--samples wants a number 1..%d, not '%s'", MAX_SAMPLES, arg);
            return false;
        }
        return true;
    case RUN_OPT_TASK:
        if (strcmp(arg, "classify") == 0) {
            o->task = RUN_TASK_CLASSIFY;
        } else if (strcmp(arg, "regress") == 0) {
            o->task = RUN_TASK_REGRESS;
        } else {
            bnnc_usage_error("run", "--task wants classify or regress, not '%s'", arg);
            return false;
        }
        return true;
    case RUN_OPT_UNCERTAINTY: o->uncertainty = arg; return true;
    case RUN_OPT_DRAWS: o->draws = arg; return true;
    case RUN_OPT_JSON: o->json = true; return true;
    case RUN_OPT_PREDICTIVE: {
        bnn_predictive p;
        if (!bnn_predictive_from_name(arg, &p)) {
            bnnc_usage_error("run", "--predictive wants mc, moments or glm, not '%s'", arg);
            return false;
        }
        o->predictive = (int)p;
        return true;
    }
    case RUN_OPT_LOGITS: {
        bnn_logit_rule r;
        if (!bnn_logit_rule_from_name(arg, &r)) {
            bnnc_usage_error("run", "--logits wants sigma, draws or probit, not '%s'", arg);
            return false;
        }
        o->logits = (int)r;
        return true;
    }
    default: return false;
    }
}

bool run_samples_wanted(const bnn_graph *graph, const run_samples_options *o)
{
    return o->given || bnn_graph_is_bayesian(graph);
}

/* A classifier's output is [N, K >= 2], comes out of a (log-)softmax
 * ([N, T, K] too: a per-step classifier), or is [N, 1] or [N] out of a
 * sigmoid (a binary classifier); anything else is taken for a regressor. */
static bool is_classifier(const bnn_graph *g)
{
    if (bnn_graph_noise_param(g) >= 0) /* a noise scale: train --loss gaussian's regressor */
        return false;
    const bnn_value *out = &g->values[g->outputs[0]];
    int producer = out->producer;
    bnn_op op = producer >= 0 ? g->nodes[producer].op : BNN_OP_NONE;
    const bnn_shape *s = &out->shape;
    if (op == BNN_OP_SOFTMAX || op == BNN_OP_LOG_SOFTMAX)
        return s->rank == 2 || s->rank == 3;
    if (op == BNN_OP_SIGMOID && (s->rank == 1 || (s->rank == 2 && s->dims[1] == 1)))
        return true;
    return s->rank == 2 && bnn_dim_is_known(s->dims[1]) && s->dims[1] >= 2;
}

/* Writes n x width floats as .npy with the given shape (dim 0 = n). */
static int write_npy(const char *path, float *data, const bnn_shape *shape)
{
    bnn_tensor t = {.dtype = BNN_F32, .shape = *shape, .data = data, .owns_data = false};
    bnn_diag diag;
    if (bnn_npy_write_file(path, &t, &diag) != BNN_OK)
        return bnnc_report(path, &diag);
    return BNNC_EXIT_OK;
}

static void print_floats(const float *v, int64_t n)
{
    putchar('[');
    for (int64_t j = 0; j < n; j++)
        printf(isfinite(v[j]) ? "%s%.6g" : "%snull", j ? ", " : "", (double)v[j]);
    putchar(']');
}

static int classify(const char *model, const bnn_graph *g, const bnn_tensor *x,
                    const char *output, bool quiet, const bnn_predict_options *po,
                    const run_samples_options *o)
{
    bnn_diag diag;
    int64_t samples, k, n = x->shape.dims[0], steps = 1;
    bool binary;
    bnn_predict_options step_po = *po;
    step_po.per_step = true; /* [N, T, C]: each example is T rows */
    po = &step_po;
    if (bnn_predict_class_layout(g, po, &steps, &k, &binary, &diag) != BNN_OK ||
        bnn_predict_classes(g, x, po, NULL, &samples, &k, &diag) != BNN_OK)
        return bnnc_report(model, &diag);
    int64_t seqs = n; /* examples; below n counts rows (steps of each example) */
    n *= steps;
    float *probs = malloc(sizeof(float) * (size_t)(samples * n * k) + 1);
    float *mean = malloc(sizeof(float) * (size_t)(n * k) + 1);
    float *measures = malloc(sizeof(float) * (size_t)(n * 3) + 1);
    float *total = malloc(sizeof(float) * (size_t)n + 1);
    float *aleatoric = malloc(sizeof(float) * (size_t)n + 1);
    float *epistemic = malloc(sizeof(float) * (size_t)n + 1);
    int rc = BNNC_EXIT_ERROR;
    if (!probs || !mean || !measures || !total || !aleatoric || !epistemic) {
        fprintf(stderr, "bnnc: %s: out of memory for %lld x %lld x %lld probabilities\n", model,
                (long long)samples, (long long)n, (long long)k);
        goto done;
    }
    if (bnn_predict_classes(g, x, po, probs, &samples, &k, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    bnn_predictive_stats(probs, samples, n, k, mean, total, aleatoric, epistemic);
    for (int64_t i = 0; i < n; i++) {
        measures[3 * i] = total[i];
        measures[3 * i + 1] = aleatoric[i];
        measures[3 * i + 2] = epistemic[i];
    }
    /* a per-step classifier's arrays are [N, T, ...]; its examples' measures
     * below are the means over their steps */
    bnn_shape shape = steps > 1 ? (bnn_shape){.rank = 3, .dims = {seqs, steps, k}}
                                : (bnn_shape){.rank = 2, .dims = {n, k}};
    if (output && (rc = write_npy(output, mean, &shape)) != BNNC_EXIT_OK)
        goto done;
    shape.dims[shape.rank - 1] = 3;
    if (o->uncertainty && (rc = write_npy(o->uncertainty, measures, &shape)) != BNNC_EXIT_OK)
        goto done;
    if (steps > 1) {
        for (int64_t e = 0; e < seqs; e++) {
            double t = 0, a = 0, m = 0;
            for (int64_t j = 0; j < steps; j++) {
                t += total[e * steps + j];
                a += aleatoric[e * steps + j];
                m += epistemic[e * steps + j];
            }
            total[e] = (float)(t / (double)steps);
            aleatoric[e] = (float)(a / (double)steps);
            epistemic[e] = (float)(m / (double)steps);
        }
    }
    rc = BNNC_EXIT_OK;
    if (o->json) {
        printf("{\"model\": ");
        bnnc_print_json_string(model);
        printf(", \"task\": \"%s\", \"samples\": %lld, \"classes\": %lld, ",
               steps > 1 ? "per_step" : binary ? "binary" : "classify", (long long)samples,
               (long long)k);
        if (steps > 1) /* per sequence: the step with the most mass, the means over steps */
            printf("\"steps\": %lld, ", (long long)steps);
        printf("\"examples\": [");
        for (int64_t i = 0; i < seqs; i++) {
            const float *p = mean + i * k * steps;
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                best = p[j] > p[best] ? j : best;
            printf("%s\n  {\"class\": %lld, \"probability\": %.6g, \"entropy\": %.6g, "
                   "\"expected_entropy\": %.6g, \"mutual_information\": %.6g, \"mean\": ",
                   i ? "," : "", (long long)best, (double)p[best], (double)total[i],
                   (double)aleatoric[i], (double)epistemic[i]);
            print_floats(p, k);
            if (steps > 1) {
                printf(", \"step_classes\": [");
                for (int64_t j = 0; j < steps; j++) {
                    const float *q = mean + (i * steps + j) * k;
                    int64_t b = 0;
                    for (int64_t c = 1; c < k; c++)
                        b = q[c] > q[b] ? c : b;
                    printf("%s%lld", j ? ", " : "", (long long)b);
                }
                printf("], \"step_entropy\": [");
                for (int64_t j = 0; j < steps; j++)
                    printf("%s%.6g", j ? ", " : "", (double)measures[3 * (i * steps + j)]);
                printf("], \"step_mutual_information\": [");
                for (int64_t j = 0; j < steps; j++)
                    printf("%s%.6g", j ? ", " : "", (double)measures[3 * (i * steps + j) + 2]);
                putchar(']');
            }
            putchar('}');
        }
        printf("\n]}\n");
    } else if (!quiet && !output) {
        printf("%s: %lld example%s, %lld weight sample%s (%s; entropies in nats)\n",
               model, (long long)seqs, seqs == 1 ? "" : "s", (long long)samples,
               samples == 1 ? "" : "s",
               steps > 1 ? "per-step classifier: step 0's class, means over the steps"
               : binary ? "binary classifier, Bernoulli entropies" : "classifier");
        printf("%6s %6s %9s %11s %11s %11s\n", "row", "class", "p(class)", "predictive",
               "expected", "mutual");
        printf("%6s %6s %9s %11s %11s %11s\n", "", "", "", "entropy", "entropy", "information");
        for (int64_t i = 0; i < seqs; i++) {
            const float *p = mean + i * k * steps;
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                best = p[j] > p[best] ? j : best;
            printf("%6lld %6lld %9.4f %11.4f %11.4f %11.4f\n", (long long)i, (long long)best,
                   (double)p[best], (double)total[i], (double)aleatoric[i],
                   (double)epistemic[i]);
        }
    }
done:
    free(probs);
    free(mean);
    free(measures);
    free(total);
    free(aleatoric);
    free(epistemic);
    return rc;
}

static int regress(const char *model, const bnn_graph *g, const bnn_tensor *x,
                   const char *output, bool quiet, const bnn_predict_options *po,
                   const run_samples_options *o)
{
    bnn_diag diag;
    int64_t samples, width, n = x->shape.dims[0];
    if (bnn_predict_outputs(g, x, po, NULL, &samples, &width, &diag) != BNN_OK)
        return bnnc_report(model, &diag);
    float *ys = malloc(sizeof(float) * (size_t)(samples * n * width) + 1);
    float *mean = malloc(sizeof(float) * (size_t)(n * width) + 1);
    float *split = malloc(sizeof(float) * (size_t)(n * width) * 3 + 1);
    double *sigma = malloc(sizeof(double) * (size_t)width + 1);
    bool noise = bnn_graph_noise_param(g) >= 0;
    int rc = BNNC_EXIT_ERROR;
    if (!ys || !mean || !split || !sigma) {
        fprintf(stderr, "bnnc: %s: out of memory for %lld x %lld x %lld outputs\n", model,
                (long long)samples, (long long)n, (long long)width);
        goto done;
    }
    if (noise && bnn_graph_noise_sigmas(g, width, sigma, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    if (bnn_predict_outputs(g, x, po, ys, &samples, &width, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    /* Mean and variance over the samples (divided by S: the spread of the
     * Monte-Carlo predictive distribution itself), two passes for accuracy:
     * the epistemic variance; the noise scale's sigma^2 the aleatoric one
     * (0 without one); split[e] = (total, aleatoric, epistemic). */
    for (int64_t e = 0; e < n * width; e++) {
        double sum = 0, sq = 0;
        for (int64_t s = 0; s < samples; s++)
            sum += ys[s * n * width + e];
        double m = sum / (double)samples;
        for (int64_t s = 0; s < samples; s++) {
            double d = ys[s * n * width + e] - m;
            sq += d * d;
        }
        double epi = sq / (double)samples, alea = noise ? sigma[e % width] * sigma[e % width] : 0;
        mean[e] = (float)m;
        split[3 * e] = (float)(epi + alea);
        split[3 * e + 1] = (float)alea;
        split[3 * e + 2] = (float)epi;
    }
    bnn_shape shape;
    if (bnn_predict_output_shape(g, x, &shape, &diag) != BNN_OK) {
        rc = bnnc_report(model, &diag);
        goto done;
    }
    if (shape.rank >= BNN_MAX_RANK && (o->draws || o->uncertainty)) {
        fprintf(stderr, "bnnc: %s: the output has rank %d: --draws and --uncertainty add a "
                "dimension, and arrays have at most %d\n", model, shape.rank, BNN_MAX_RANK);
        goto done;
    }
    if (output && (rc = write_npy(output, mean, &shape)) != BNNC_EXIT_OK)
        goto done;
    if (o->draws) {
        bnn_shape all = {.rank = shape.rank + 1, .dims = {samples}};
        memcpy(all.dims + 1, shape.dims, sizeof(int64_t) * (size_t)shape.rank);
        if ((rc = write_npy(o->draws, ys, &all)) != BNNC_EXIT_OK)
            goto done;
    }
    bnn_shape three = shape;
    three.dims[three.rank++] = 3;
    if (o->uncertainty && (rc = write_npy(o->uncertainty, split, &three)) != BNNC_EXIT_OK)
        goto done;
    rc = BNNC_EXIT_OK;
    if (o->json) {
        printf("{\"model\": ");
        bnnc_print_json_string(model);
        printf(", \"task\": \"regress\", \"samples\": %lld, \"outputs\": %lld, \"noise_sigma\": ",
               (long long)samples, (long long)width);
        bnnc_print_json_doubles(noise ? sigma : NULL, width);
        printf(", \"examples\": [");
        float *v = malloc(sizeof(float) * (size_t)width + 1);
        for (int64_t i = 0; v && i < n; i++) {
            printf("%s\n  {\"mean\": ", i ? "," : "");
            print_floats(mean + i * width, width);
            static const char *const names[3] = {"variance", "aleatoric_variance",
                                                 "epistemic_variance"};
            for (int part = 0; part < 3; part++) {
                for (int64_t j = 0; j < width; j++)
                    v[j] = split[3 * (i * width + j) + part];
                printf(", \"%s\": ", names[part]);
                print_floats(v, width);
            }
            putchar('}');
        }
        free(v);
        printf("\n]}\n");
    } else if (!quiet && !output) {
        printf("%s: %lld example%s, %lld weight sample%s (regressor: mean +- standard "
               "deviation per output%s)\n", model, (long long)n, n == 1 ? "" : "s",
               (long long)samples, samples == 1 ? "" : "s",
               noise ? ", then its aleatoric (noise scale) and epistemic (over samples) parts"
                     : "; no noise scale: epistemic only");
        enum { SHOWN = 6 };
        for (int64_t i = 0; i < n; i++) {
            printf("%6lld:", (long long)i);
            for (int64_t j = 0; j < width && j < SHOWN; j++) {
                const float *e = split + 3 * (i * width + j);
                printf("  %.4g +- %.3g", (double)mean[i * width + j], sqrt((double)e[0]));
                if (noise)
                    printf(" (%.3g, %.3g)", sqrt((double)e[1]), sqrt((double)e[2]));
            }
            printf(width > SHOWN ? "  ... (%lld outputs)\n" : "\n", (long long)width);
        }
    }
done:
    free(ys);
    free(mean);
    free(split);
    free(sigma);
    return rc;
}

int run_samples(const char *model, const bnn_graph *g, const bnn_tensor *x, const char *output,
                bool quiet, uint64_t seed, int threads, const run_samples_options *o)
{
    if (g->n_inputs != 1 || g->n_outputs < 1) {
        fprintf(stderr, "bnnc: %s: --samples needs a model with one input (this one has %d)\n",
                model, g->n_inputs);
        return BNNC_EXIT_USAGE;
    }
    if (x->shape.rank < 1) {
        fprintf(stderr, "bnnc: %s: --samples needs an input with a batch dimension\n", model);
        return BNNC_EXIT_ERROR;
    }
    bool bayesian = bnn_graph_is_bayesian(g);
    int64_t samples = o->samples ? o->samples : bayesian ? DEFAULT_BAYESIAN_SAMPLES : 1;
    if (samples > 1 && !bayesian && !quiet && o->predictive == BNN_PREDICTIVE_MC)
        fprintf(stderr, "bnnc: %s: no Bayesian layer, so every sample is the same; running 1\n",
                model);
    bnn_runtime_set_threads(threads);
    bnn_predict_options po = bnn_predict_defaults();
    po.samples = samples;
    po.predictive = (bnn_predictive)o->predictive;
    po.logits = (bnn_logit_rule)o->logits;
    po.batch = BATCH;
    po.seed = seed;
    po.threads = threads;
    bool classifier = o->task == RUN_TASK_CLASSIFY ||
                      (o->task == RUN_TASK_DETECT && is_classifier(g));
    return classifier ? classify(model, g, x, output, quiet, &po, o)
                      : regress(model, g, x, output, quiet, &po, o);
}
