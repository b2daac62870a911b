/* `bnnc run --samples S`: Monte-Carlo prediction of one input with S weight
 * samples, and the uncertainty of each example (see docs/uncertainty.md).
 * Kept apart from cmd_run.c, which calls it for a Bayesian model or when one
 * of the options below is given. */
#ifndef BNNC_RUN_SAMPLES_H
#define BNNC_RUN_SAMPLES_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_ir.h"
#include "bnn_tensor.h"

typedef enum run_task {
    RUN_TASK_DETECT,   /* classifier when the output is [N, K>=2] or ends in a softmax */
    RUN_TASK_CLASSIFY, /* mean of softmax probabilities; entropy, expected entropy, MI */
    RUN_TASK_REGRESS,  /* mean and variance of each output */
} run_task;

typedef struct run_samples_options {
    int64_t samples;          /* 0: 32 for a Bayesian model, 1 otherwise */
    run_task task;
    int predictive;           /* bnn_predictive: --predictive mc|moments|glm */
    int logits;               /* bnn_logit_rule: --logits sigma|draws|probit */
    const char *uncertainty;  /* .npy of the per-example measures, or NULL */
    const char *draws;        /* regressor: .npy of every sample's outputs [S, n, ...], or NULL */
    bool json;
    bool given;               /* one of --samples/--task/--uncertainty/--json was given */
} run_samples_options;

/* The long options cmd_run.c adds to its table; codes above 0x1000. */
enum { RUN_OPT_SAMPLES = 0x1001, RUN_OPT_TASK, RUN_OPT_UNCERTAINTY, RUN_OPT_JSON,
       RUN_OPT_PREDICTIVE, RUN_OPT_LOGITS, RUN_OPT_DRAWS };
#define RUN_SAMPLES_LONG_OPTIONS                                                \
    {"samples", required_argument, NULL, RUN_OPT_SAMPLES},                      \
    {"task", required_argument, NULL, RUN_OPT_TASK},                            \
    {"uncertainty", required_argument, NULL, RUN_OPT_UNCERTAINTY},              \
    {"json", no_argument, NULL, RUN_OPT_JSON},                                  \
    {"predictive", required_argument, NULL, RUN_OPT_PREDICTIVE},                \
    {"logits", required_argument, NULL, RUN_OPT_LOGITS},                        \
    {"draws", required_argument, NULL, RUN_OPT_DRAWS}
/* Help lines for the options above. */
#define RUN_SAMPLES_USAGE                                                                   \
    "  --samples S                weight samples (default 32 for a Bayesian model, else 1)\n" \
    "  --task classify|regress    what the output is (default: detected from the graph;\n" \
    "                             a model with a noise scale is a regressor; [n,1] or [n]\n" \
    "                             from a Sigmoid is a binary classifier, with classify\n" \
    "                             any [n,1] is read as a logit; [n,T,C] from a Softmax a\n" \
    "                             per-step classifier)\n"                                 \
    "  --uncertainty FILE         per-example measures as .npy: [n,3] (predictive entropy,\n" \
    "                             expected entropy, mutual information) for a classifier\n" \
    "                             ([n,T,3] per step); for a regressor the output's shape\n" \
    "                             and 3: the variance of each output (total, aleatoric =\n" \
    "                             the noise scale's sigma^2, epistemic = over samples)\n" \
    "  --draws FILE               regressor: every sample's outputs as .npy [S, n, ...]\n" \
    "  --json                     print the mean and the measures as one JSON object\n"    \
    "  --predictive mc|moments|glm  Monte-Carlo over weights (default), or one run of the\n" \
    "                             moment-propagation / linearised graph (docs/moments.md)\n" \
    "  --logits sigma|draws|probit  with moments|glm: 2K sigma points of the logits'\n"    \
    "                             Gaussian (default), --samples seeded draws of it, or the\n" \
    "                             probit probabilities alone\n"

/* Handles one of the codes above; false (after printing a usage error) on a
 * bad value. */
bool run_samples_option(int code, const char *arg, run_samples_options *o);

/* True when the run should go through run_samples(): a Bayesian model, or
 * any of its options given. */
bool run_samples_wanted(const bnn_graph *graph, const run_samples_options *o);

/* Predicts x (the model's only input) with S samples; writes the predictive
 * mean to `output` (.npy, may be NULL) and the measures to o->uncertainty;
 * prints a table, JSON, or nothing (quiet).  Returns a BNNC_EXIT_* status. */
int run_samples(const char *model, const bnn_graph *graph, const bnn_tensor *x,
                const char *output, bool quiet, uint64_t seed, int threads,
                const run_samples_options *o);

#endif
