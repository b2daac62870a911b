/* Internals shared by the pass manager and the passes: the pass table entry,
 * option access, and graph-rewriting helpers. */
#ifndef BNN_PASSES_IMPL_H
#define BNN_PASSES_IMPL_H

#include <stdint.h>

#include "bnn_passes.h"

#define BNN_PASS_MAX_OPTIONS 16

typedef struct bnn_pass_def bnn_pass_def;

/* The options one pass got in a pipeline: a value per option of the pass, the
 * given one or the default, with the column it was written at (0: default). */
typedef struct bnn_pass_args {
    const bnn_pass_def *pass;
    char *values[BNN_PASS_MAX_OPTIONS]; /* owned (malloc) */
    int columns[BNN_PASS_MAX_OPTIONS];
    bool given[BNN_PASS_MAX_OPTIONS];
} bnn_pass_args;

/* Checks option values that need no graph (called when a pipeline is parsed). */
typedef bnn_status (*bnn_pass_check_fn)(const bnn_pass_args *args, bnn_diag *diag);
/* Rewrites the graph. A pass marks removed nodes dead; the manager drops them. */
typedef bnn_status (*bnn_pass_run_fn)(bnn_graph *graph, const bnn_pass_args *args,
                                      bnn_diag *diag);

struct bnn_pass_def {
    bnn_pass_info info;
    bnn_pass_check_fn check; /* NULL: nothing to check */
    bnn_pass_run_fn run;
};

/* ---- option values (pass_args.c) ------------------------------------------ */

/* The value of option `name` (BNN_ASSERTs that the pass has it). */
const char *bnn_pass_arg(const bnn_pass_args *args, const char *name);
bool bnn_pass_arg_given(const bnn_pass_args *args, const char *name);
/* Typed readers; a bad value fails with "pipeline column C: PASS option NAME: ..."
 * (without the column for a default value). */
bnn_status bnn_pass_arg_float(const bnn_pass_args *args, const char *name, double *out,
                              bnn_diag *diag);
bnn_status bnn_pass_arg_u64(const bnn_pass_args *args, const char *name, uint64_t *out,
                            bnn_diag *diag);
bnn_status bnn_pass_arg_bool(const bnn_pass_args *args, const char *name, bool *out,
                             bnn_diag *diag);
/* An error about option `name`, with its column and pass in front. */
bnn_status bnn_pass_arg_fail(const bnn_pass_args *args, const char *name, bnn_diag *diag,
                             bnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A comma-separated list split into items (owned by the list). */
typedef struct bnn_name_list {
    char *buffer;  /* owned */
    char **items;  /* owned array of pointers into buffer */
    int count;
} bnn_name_list;
/* Empty text gives an empty list; an empty item ("a,,b") is an error. */
bnn_status bnn_pass_arg_list(const bnn_pass_args *args, const char *name, bnn_name_list *out,
                             bnn_diag *diag);
void bnn_name_list_free(bnn_name_list *list);

/* ---- rewriting helpers (pass_util.c) -------------------------------------- */

/* True when value id is a param of dtype f32 with a concrete shape. */
bool bnn_pass_is_f32_param(const bnn_graph *graph, int value_id);
bool bnn_pass_is_graph_output(const bnn_graph *graph, int value_id);
/* `base` if no value has that name, else base_2, base_3, ... written into buf. */
const char *bnn_pass_unique_name(const bnn_graph *graph, const char *base, char *buf, size_t n);
/* Adds a param named after base (made unique); -1 when out of memory. */
int bnn_pass_add_param(bnn_graph *graph, const char *base, const bnn_shape *shape,
                       const float *data, bool trainable);
/* Gives the node a fresh arena copy of its operand list with n entries (new ones -1). */
bnn_status bnn_pass_resize_inputs(bnn_graph *graph, int node_id, int n);
/* Removes a single-input, single-output node that passes its input through
 * (identity, dropout at inference, a no-op reshape).  Keeps the name of a graph
 * output: when the node's output is one, the producer of the input is made to
 * produce it instead.  Returns false (and leaves the graph) when that cannot
 * be done because the input is a graph input, param or output itself. */
bool bnn_pass_bypass_node(bnn_graph *graph, int node_id);
/* Drops a Bayesian layer's prior attributes (prior_mu, prior_sigma,
 * estimator), keeping the layer's own ones in order: for the passes that turn
 * it into a deterministic layer. */
bnn_status bnn_pass_drop_prior_attrs(bnn_graph *graph, int node_id);

/* A small counter-free generator for init=random: splitmix64 seeded per param,
 * Gaussian draws by Box-Muller.  Deterministic across platforms. */
typedef struct bnn_pass_rng {
    uint64_t state;
    bool has_spare;
    double spare;
} bnn_pass_rng;
void bnn_pass_rng_seed(bnn_pass_rng *rng, uint64_t seed, const char *stream_name);
double bnn_pass_rng_normal(bnn_pass_rng *rng);

/* rho[i] = (float)bnn_rho_of_sigma(max(delta |w[i]|, floor)) for i < n, bit
 * for bit, by a vectorised form with a scalar fallback where the two could
 * round apart (to_bnn_rho.c), and mu[i] = w[i] when mu is not NULL; threads
 * over large n.  Returns how many took the scalar path.
 * bnn_pass_rho_fast_error: the vectorised form's double minus libm's at
 * sigma in (0, 1], for the tests. */
int64_t bnn_pass_rho_of_weights(const float *w, float *mu, float *rho, int64_t n, double delta,
                                double floor);
double bnn_pass_rho_fast_error(double sigma);

/* ---- the passes (one file each) ------------------------------------------- */

extern const bnn_pass_def bnn_pass_canonicalize;
extern const bnn_pass_def bnn_pass_dce;
extern const bnn_pass_def bnn_pass_fold_batchnorm;
extern const bnn_pass_def bnn_pass_to_bnn;
extern const bnn_pass_def bnn_pass_bnn_to_mean;
extern const bnn_pass_def bnn_pass_lower_bnn_to_onnx;
extern const bnn_pass_def bnn_pass_bnn_to_moments;

#endif
