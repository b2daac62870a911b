/* bnnc bench --predictive: the moment predictive timed against Monte-Carlo
 * (tools/bench_predictive.c). */
#ifndef BNNC_BENCH_PREDICTIVE_H
#define BNNC_BENCH_PREDICTIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_ir.h"
#include "bnn_predict.h"

typedef struct bench_predictive_options {
    bnn_predictive predictive; /* moments or glm, against mc */
    bnn_logit_rule rule;       /* logits to probabilities */
    int64_t samples;           /* Monte-Carlo samples (and draws for rule draws) */
    int64_t batch, iters, warmup;
    int threads;
    bool json, profile;
} bench_predictive_options;

/* Prints the medians of interleaved rounds and their ratio; returns an exit
 * status. */
int bnnc_bench_predictive(const char *model, const bnn_graph *graph,
                          const bench_predictive_options *options);

#endif
