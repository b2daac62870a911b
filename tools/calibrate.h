/* Temperature calibration on held-out data, shared by `bnnc calibrate` and
 * `bnnc train` (which calibrates when it holds out validation data). */
#ifndef BNNC_CALIBRATE_H
#define BNNC_CALIBRATE_H

#include <stdint.h>

#include "bnn_diag.h"
#include "bnn_ir.h"
#include "bnn_tensor.h"

typedef struct bnnc_calibration {
    double temperature;          /* the fitted T (the graph's logits are divided by it) */
    double previous_temperature; /* the model's T before (1 when it had none) */
    double nll_before, nll_after; /* mean NLL on the held-out data at the old and new T */
    int64_t samples, examples;
} bnnc_calibration;

/* Fits T on (x, labels) to the Monte-Carlo predictive with `samples` weight
 * samples (seeded; predictive is a bnn_predictive: MC, or the moment / GLM
 * predictive's draws of the logits) and writes it into the graph (bnn_graph_set_temperature).
 * The fit starts from T = 1: a model's earlier temperature is replaced. */
bnn_status bnnc_calibrate_temperature(bnn_graph *graph, const bnn_tensor *x,
                                      const int64_t *labels, int64_t samples, int64_t batch,
                                      uint64_t seed, int threads, int predictive,
                                      bnnc_calibration *result, bnn_diag *diag);

#endif
