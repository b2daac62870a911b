/* `bnnc eval` of a regressor (tools/eval_regress.c): RMSE, test
 * log-likelihood, aleatoric and epistemic variance and interval coverage
 * (docs/uncertainty.md, "Regression"). */
#ifndef BNNC_EVAL_REGRESS_H
#define BNNC_EVAL_REGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_comm.h"
#include "bnn_ir.h"
#include "bnn_predict.h"

typedef struct eval_regress_args {
    const char *model, *xpath, *ypath, *ood; /* ood: an .npy of inputs, or NULL */
    int64_t limit;                           /* 0: every example */
    bool json;
    bnn_predict_options predict;             /* samples, predictive, batch, seed, threads */
} eval_regress_args;

/* Evaluates graph (loaded from a->model, not taken over) on a->xpath and
 * a->ypath; under mpirun each rank predicts its own batches and rank 0
 * prints.  Returns a BNNC_EXIT_* status. */
int eval_regress(bnn_graph *graph, const eval_regress_args *a, bnn_comm *comm);

/* x's rows against the model's one input (cmd_eval.c): false after a message
 * naming path and both shapes. */
bool eval_check_rows(const bnn_graph *graph, const bnn_tensor *x, const char *path);

#endif
