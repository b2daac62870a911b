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
    uint64_t seed;   /* keys every random draw (Bayesian weights, dropout) */
    bool training;   /* keep activations for backward, dropout active */
    size_t max_memory; /* refuse plans needing more bytes (arena, scratch, state); 0: no cap */
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

#ifdef __cplusplus
}
#endif

#endif
