/* The inside of a session: the plan (resolved shapes, lifetimes, buffer
 * offsets) and what running it needs.  runtime/plan.c builds it; tests and the
 * training code read it.
 *
 * Memory layout.  Every value a live node reads or writes is one of:
 *   - PLAN_BUF_ARENA: a 64-byte aligned slice [offset, offset+nbytes) of the
 *     one activation arena.  Slices of values whose lifetimes [def, last] (in
 *     positions of plan order) do not overlap may share bytes.  Graph inputs
 *     and outputs live for the whole run, so they never share.
 *   - PLAN_BUF_PARAM: a view of the graph param's data (never written).
 *   - PLAN_BUF_ALIAS: the same bytes as value alias_of (a reshape, flatten,
 *     identity, ... whose forward is then skipped).  The root's lifetime is
 *     stretched over every alias, so sharing stays safe.  Inference only.
 * Scratch is one buffer shared by every node (max of scratch_size); state is
 * private per node (state_size) and lives as long as the session.
 *
 * Training (options.training) gives every activation its own bytes (no
 * reuse, no aliases), so all forward values are still intact after the
 * forward sweep; runtime/backward.c then plans the backward sweep when
 * options.backward asks: a gradient slice per value that needs one in a
 * second arena (no reuse either), params' gradients in one flat buffer, and
 * per-position grad_outputs / grad_inputs operands built like node_args.
 */
#ifndef BNN_PLAN_IMPL_H
#define BNN_PLAN_IMPL_H

#include "bnn_runtime.h"
#include "kernel.h"
#include "threads.h"

typedef enum plan_buf_kind {
    PLAN_BUF_NONE = 0, /* not used by any live node */
    PLAN_BUF_ARENA,    /* a slice of the activation arena */
    PLAN_BUF_PARAM,    /* a view of param data */
    PLAN_BUF_ALIAS,    /* the bytes of value alias_of */
} plan_buf_kind;

typedef struct plan_value {
    plan_buf_kind kind;
    int def;          /* position in order of the producer; -1 for inputs and params */
    int last;         /* last position that reads it; n_order for graph outputs/inputs */
    size_t nbytes;    /* exact bytes of the tensor */
    size_t offset;    /* PLAN_BUF_ARENA: byte offset, multiple of 64 */
    int alias_of;     /* PLAN_BUF_ALIAS: the value whose bytes it shares (a root) */
} plan_value;

/* Test seam: replaces shape inference or kernel lookup (NULL: the real ones),
 * so the planner can be tested apart from the kernels and inference. */
typedef struct bnn_plan_hooks {
    bnn_status (*infer)(bnn_graph *graph, bnn_diag *diag);
    const bnn_kernel *(*kernel)(bnn_op op);
    bool no_alias; /* never alias, even where it would be safe */
} bnn_plan_hooks;

struct bnn_session {
    bnn_graph *graph;            /* owned: the clone with concrete shapes */
    thread_governor governor;    /* the thread count each run uses (threads.h) */
    bnn_session_options options;
    int n_order;
    int *order;                  /* owned: live node ids in run order */
    bool *skip;                  /* owned, per position: an alias node, nothing to run */
    const bnn_kernel **kernels;  /* owned, per position */
    bnn_kernel_args *node_args;  /* owned, per position: prebuilt, run only sets seed/step */
    bnn_tensor *node_tensors;    /* owned: inputs then outputs of every node, views */
    plan_value *values;          /* owned, per value id */
    bnn_tensor *tensors;         /* owned, per value id: views of the planned bytes */
    unsigned char *arena;        /* owned, 64-byte aligned */
    size_t arena_bytes;
    size_t activation_bytes;     /* sum of arena values' sizes (64-rounded): no reuse */
    unsigned char *scratch;      /* owned, 64-byte aligned; shared by every node */
    size_t scratch_bytes;
    unsigned char *state;        /* owned, 64-byte aligned; per-node slices */
    size_t state_bytes;
    uint64_t step;               /* forward passes run so far */
    int64_t example_offset;      /* bnn_session_set_example_offset */

    /* Backward (runtime/backward.c); all NULL without options.backward. */
    bool *needs_grad;            /* owned, per value id */
    bnn_tensor *grads;           /* owned, per value id: data NULL where none is planned */
    unsigned char *grad_arena;   /* owned, 64-byte aligned: activations' gradients */
    size_t grad_bytes;
    float *param_grads;          /* owned, 64-byte aligned: params' gradients, flat */
    size_t n_param_grads;        /* floats */
    size_t n_param_grads_reduced; /* the leading floats the sweep computes (derive_rho_grads) */
    bool *rho_derived;           /* owned, per value id: a rho gradient derived after the sweep */
    bool param_grads_finite;     /* the last finish found every param gradient finite */
    int64_t *param_grad_offset;  /* owned, per value id: into param_grads, or -1 */
    bnn_tensor *node_grads;      /* owned: grad_outputs then grad_inputs of every position */
    bnn_kernel_grads *kernel_grads; /* owned, per position */
    bool *wants_backward;        /* owned, per position: some input wants a gradient */
};

/* Plans the backward sweep on a session whose forward plan is done
 * (runtime/backward.c); frees nothing on failure (destroy does). */
bnn_status bnn_session_plan_backward(bnn_session *session, bnn_diag *diag);
/* Frees what bnn_session_plan_backward took. */
void bnn_session_free_backward(bnn_session *session);

bnn_status bnn_session_create_hooked(const bnn_graph *graph, const bnn_shape *input_shapes,
                                     const bnn_session_options *options,
                                     const bnn_plan_hooks *hooks, bnn_session **out,
                                     bnn_diag *diag);

/* Inference plans: marks the activations that the conv before them can
 * apply as its last step (plan_fuse.c). */
bnn_status plan_fuse_epilogues(bnn_graph *graph);

/* Checks the plan's invariants (tests call it on real graphs): arena values
 * lie inside the arena, 64-byte aligned; values alive at the same time share
 * no bytes; inputs and outputs live throughout; aliases point at roots. */
bnn_status bnn_session_check_plan(const bnn_session *session, bnn_diag *diag);

/* Batch shapes for bnn_session_create_batch: writes one shape per graph input. */
bnn_status bnn_session_batch_shapes(const bnn_graph *graph, int64_t batch, bnn_shape *shapes,
                                    bnn_diag *diag);

#endif
