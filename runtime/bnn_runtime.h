/* bnnc's runtime: run a graph from C.
 *
 *     bnn_graph *g;                       // from bnn_onnx_import_file()
 *     bnn_session *s;
 *     bnn_session_options opt = bnn_session_defaults();
 *     bnn_session_create_batch(g, 64, &opt, &s, &diag);
 *     bnn_session_set_input(s, "input", &x, &diag);
 *     bnn_session_run(s, &diag);
 *     const bnn_tensor *y = bnn_session_output(s, 0);
 *     bnn_session_destroy(s);
 *
 * A session is a plan for one graph and one set of concrete input shapes:
 * shapes resolved, buffers laid out in one arena (reused where lifetimes do not
 * overlap), all memory taken at creation; running it allocates nothing.  The
 * graph must outlive the session and must not change while it exists.
 */
#ifndef BNN_RUNTIME_H
#define BNN_RUNTIME_H

#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bnn_session bnn_session;

typedef struct bnn_session_options {
    int threads;     /* OpenBLAS and OpenMP threads; 0 = all cores */
    /* Without it, a session of more than one thread times its runs and
     * falls back to one thread while that is faster (a loaded machine;
     * docs/runtime.md "Threads"); results are the same bits either way.
     * With it, every run uses `threads`. */
    bool fixed_threads;
    uint64_t seed;   /* keys every random draw (Bayesian weights, dropout) */
    bool training;   /* keep activations for backward, dropout active */
    size_t max_memory; /* refuse plans needing more bytes (arena, scratch, state); 0: no cap */
    /* Plan the backward sweep too (implies training): a gradient for every
     * value on a path from a param that gets one to any output, and the
     * params' gradients in one flat buffer (bnn_session_param_grads). */
    bool backward;
    /* With backward: the params that get gradients, by name, NULL-terminated;
     * NULL means every trainable f32 param.  A name that is not an f32 param
     * of the graph fails the creation. */
    const char *const *grad_params;
    /* With backward, for data-parallel training: the rho gradients of
     * reparam Bayesian layers (estimator reparam, mu and rho used by that
     * layer alone) are not computed by the backward sweep but derived from
     * the mu gradients by bnn_session_derive_param_grads, since
     * dL/drho = dL/dmu * eps * sigmoid(rho) with the draw eps of the forward
     * run.  They are laid out last in the flat buffer, so that only its first
     * bnn_session_param_grads_reduced() floats need summing over the ranks:
     * half the traffic for a model whose layers are all Bayesian. */
    bool derive_rho_grads;
} bnn_session_options;

bnn_session_options bnn_session_defaults(void);

/* The max_memory that bnn_session_defaults() gives from now on (0: no cap);
 * for a program that sets one limit for every session it makes. */
void bnn_runtime_set_max_memory(size_t bytes);

/* Sets OpenBLAS's and OpenMP's thread counts for the process (0 = all cores). */
void bnn_runtime_set_threads(int threads);

/* input_shapes: one concrete shape per graph input, in graph order. Symbolic
 * dims are bound from them (a symbol must get one size everywhere). */
bnn_status bnn_session_create(const bnn_graph *graph, const bnn_shape *input_shapes,
                              const bnn_session_options *options, bnn_session **out,
                              bnn_diag *diag);
/* Binds the first dim of every input whose first dim is symbolic to `batch`;
 * every other dim must already be concrete. */
bnn_status bnn_session_create_batch(const bnn_graph *graph, int64_t batch,
                                    const bnn_session_options *options, bnn_session **out,
                                    bnn_diag *diag);
void bnn_session_destroy(bnn_session *session);

int bnn_session_n_inputs(const bnn_session *session);
int bnn_session_n_outputs(const bnn_session *session);
/* The session's own buffers (concrete shapes), valid for its life. */
const bnn_tensor *bnn_session_input(const bnn_session *session, int index);
const bnn_tensor *bnn_session_output(const bnn_session *session, int index);
const char *bnn_session_input_name(const bnn_session *session, int index);
const char *bnn_session_output_name(const bnn_session *session, int index);

/* Copies t into the input called name (NULL: the only input). The dtype and
 * shape must match exactly; an error names the input and the expected shape. */
bnn_status bnn_session_set_input(bnn_session *session, const char *name, const bnn_tensor *t,
                                 bnn_diag *diag);
bnn_status bnn_session_run(bnn_session *session, bnn_diag *diag);

/* Bytes of the planned arena, for reports. */
size_t bnn_session_arena_bytes(const bnn_session *session);
/* Every byte the session planned: arena, scratch, per-node state and, with
 * backward, the activation and param gradients. */
size_t bnn_session_memory_bytes(const bnn_session *session);

/* ---- values, steps, nodes --------------------------------------------------
 *
 * Values are named by their id in bnn_session_graph(), the session's own copy
 * of the graph with every shape concrete; its ids are those of the graph the
 * session was made from, so an id found there (bnn_graph_find_value) works
 * here. */

/* The session's graph: the caller's graph with concrete shapes. */
const bnn_graph *bnn_session_graph(const bnn_session *session);
/* The value's tensor as the last run left it (params: the caller's data);
 * NULL for an id out of range or a value no live node touches.  Without
 * training, buffers are reused: only inputs and outputs are sure to hold
 * their values after a run. */
const bnn_tensor *bnn_session_value(const bnn_session *session, int value_id);

/* The step keys every random draw of the next run (Bayesian weights,
 * dropout): run N of a session draws with step N unless it is set.  Each run
 * adds one. */
uint64_t bnn_session_step(const bnn_session *session);
void bnn_session_set_step(bnn_session *session, uint64_t step);

/* Where the examples of the next runs sit in a larger batch: a data-parallel
 * rank that runs rows FIRST .. FIRST + b - 1 of a global batch sets FIRST
 * here, and every per-example draw (dropout masks, the "local" and "flipout"
 * estimators' noise and signs) is then the one that row gets when the whole
 * batch runs in one session.  0 (the default) for a whole batch; a negative
 * FIRST counts as 0. */
int64_t bnn_session_example_offset(const bnn_session *session);
void bnn_session_set_example_offset(bnn_session *session, int64_t first);

/* Nodes in run order, for profiles: position 0 .. n_nodes - 1. */
int bnn_session_n_nodes(const bnn_session *session);
typedef struct bnn_session_node {
    int node_id;                /* in bnn_session_graph() */
    bool skipped;               /* shares its input's bytes: nothing runs */
    const bnn_tensor *outputs;  /* the node's outputs (concrete shapes) */
    int n_outputs;
} bnn_session_node;
bnn_session_node bnn_session_node_at(const bnn_session *session, int position);
/* bnn_session_run that also adds each position's wall time (ms) to
 * node_ms[position] (bnn_session_n_nodes entries). */
bnn_status bnn_session_run_timed(bnn_session *session, double *node_ms, bnn_diag *diag);

/* ---- backward (options.backward) --------------------------------------------
 *
 *     bnn_session_run(s, &diag);                     // forward, keeps activations
 *     bnn_session_zero_grads(s);
 *     bnn_tensor *g = bnn_session_grad(s, loss_input_id);
 *     ... write d(loss)/d(value) into g->data ...      // the seed
 *     bnn_session_backward(s, &diag);
 *     const float *dw = bnn_session_param_grads(s, &n); // flat, see below
 *
 * A value read by several nodes gets the sum of their contributions.  The
 * sweep adds into every gradient buffer, activations' included, so each
 * backward starts from bnn_session_zero_grads() and a fresh seed; to sum
 * params' gradients over several batches, add up copies of the flat buffer. */

/* Zeroes every gradient: activations' and params'. */
void bnn_session_zero_grads(bnn_session *session);
/* The gradient buffer of a value (f32, the value's shape), or NULL when none
 * is planned: no backward, an integer value, or a value no param that gets a
 * gradient flows into.  Params' buffers are views of the flat buffer. */
bnn_tensor *bnn_session_grad(bnn_session *session, int value_id);
/* The backward sweep from the gradients seeded since the last zeroing:
 * every node with a gradient to pass, in reverse run order, with the
 * activations the last run left.  Fails without a plan for backward, or on
 * what a kernel cannot handle (naming the node). */
bnn_status bnn_session_backward(bnn_session *session, bnn_diag *diag);
/* The params' gradients, one flat buffer: each param that gets a gradient,
 * in value-id order, row-major, no gaps; *count (may be NULL) gets its
 * floats.  NULL (and 0) without backward. */
float *bnn_session_param_grads(bnn_session *session, size_t *count);
/* Where param value_id's gradient starts in the flat buffer, or -1 when it
 * gets none. */
int64_t bnn_session_param_grad_offset(const bnn_session *session, int value_id);

/* With options.derive_rho_grads: the floats at the start of the flat buffer
 * that the backward sweep computes (all of them without the option); the
 * derived rho gradients follow.  Sum these over the ranks, then call
 * bnn_session_derive_param_grads. */
size_t bnn_session_param_grads_reduced(const bnn_session *session);
/* Sets each derived rho gradient to dL/dmu * eps * sigmoid(rho) from the
 * layer's (reduced) mu gradient, before anything else (the KL) is added to
 * either.  eps is the last forward run's draw; with REDRAW_STEP not NULL it
 * is drawn again for that step instead (a rank that had no rows this step
 * ran no forward).  Nothing to do without the option. */
bnn_status bnn_session_derive_param_grads(bnn_session *session, const uint64_t *redraw_step,
                                          bnn_diag *diag);
/* bnn_session_derive_param_grads, and the KL term of Bayes by Backprop
 * (bnn_bayes_node_kl for every Bayesian layer, summed in plan order) into
 * *kl with kl_scale times its gradient added to the param gradients: one
 * pass over each reparam layer's mu, rho and eps computes its sigma and
 * sigmoid once for both.  What the trainer calls after the backward sweep
 * (and the all-reduce); the same numbers as deriving, then adding the KL. */
bnn_status bnn_session_finish_param_grads(bnn_session *session, const uint64_t *redraw_step,
                                          float kl_scale, double *kl, bnn_diag *diag);
/* True when the last bnn_session_finish_param_grads (the whole call, since
 * the last backward sweep and zeroing) wrote every param gradient in its KL
 * passes and found them all finite, checked while they were in cache: a
 * caller need not scan them again.  False says nothing: scan. */
bool bnn_session_param_grads_finite(const bnn_session *session);
/* bnn_session_finish_param_grads for one rank's share of the work, when the
 * ranks split it (ZeRO-1 style sharding, docs/distributed.md): [lo, hi) is a
 * slice of the summed front of the flat buffer (0 <= lo <= hi <=
 * bnn_session_param_grads_reduced()), and only its gradients are read and
 * finished: a derived rho gradient with its mu's, so this call also writes the
 * derived rho gradients of the mu gradients in [lo, hi); the KL of those
 * elements goes into *kl (the slices of the ranks add up to the whole KL, in
 * another order of additions).  Slices covering the front once finish every
 * gradient exactly as the whole call does, bit for bit. */
bnn_status bnn_session_finish_param_grads_slice(bnn_session *session,
                                                const uint64_t *redraw_step, float kl_scale,
                                                size_t lo, size_t hi, double *kl,
                                                bnn_diag *diag);

#ifdef __cplusplus
}
#endif

#endif
