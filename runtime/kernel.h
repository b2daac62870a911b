/* The contract between the runtime's planner and its kernels.
 *
 * Every op row in ir/ops.def names a STEM; runtime/ defines one
 * `const bnn_kernel bnn_kernel_<STEM>` per stem (one kernel family per file)
 * and runtime/kernels.c expands the op table into an array of them.
 *
 * A kernel gets concrete-shaped tensors whose memory the plan owns: it never
 * allocates.  Memory it needs for one call is `scratch` (size from
 * scratch_size, shared between nodes, contents undefined on entry); memory that
 * must survive from forward to backward (a sampled weight, a dropout mask) is
 * `state` (size from state_size, private to the node for the plan's life).
 *
 * Backward *accumulates* into grad_inputs (+=): a value read by several nodes
 * sums their contributions, and the planner zeroes gradients before a backward
 * sweep.  A grad_inputs entry with data NULL wants no gradient (a constant, an
 * integer input): skip it.
 */
#ifndef BNN_KERNEL_H
#define BNN_KERNEL_H

#include <stdint.h>

#include "bnn_tensor.h"

typedef struct bnn_kernel_args {
    const bnn_graph *graph;
    const bnn_node *node;     /* attributes live here */
    int node_id;
    const bnn_tensor *inputs; /* n_inputs; an absent optional input has data NULL */
    int n_inputs;
    bnn_tensor *outputs;      /* n_outputs, shapes already resolved by the plan */
    int n_outputs;
    void *scratch;            /* 64-byte aligned, scratch_size() bytes */
    void *state;              /* 64-byte aligned, state_size() bytes */
    bool training;            /* dropout drops, Bayesian layers sample */
    uint64_t seed;            /* the session's seed */
    uint64_t step;            /* forward passes so far: keys the random stream */
    int64_t example_offset;   /* the run's first example in a larger batch (a data-parallel
                               * shard): per-example draws start there (bnn_kernel_draw_first) */
} bnn_kernel_args;

/* The stream element where a draw of COUNT numbers for the examples of T
 * (T's first dim counts them; COUNT is a multiple of it) starts, so that an
 * example draws the same numbers whichever shard of the batch it is run in:
 * example_offset times COUNT per example. */
static inline uint64_t bnn_kernel_draw_first(const bnn_kernel_args *args, int64_t count,
                                             const bnn_tensor *t)
{
    int64_t examples = t->shape.rank >= 1 ? t->shape.dims[0] : 1;
    if (args->example_offset <= 0 || examples <= 0)
        return 0;
    return (uint64_t)args->example_offset * (uint64_t)(count / examples);
}

typedef struct bnn_kernel_grads {
    const bnn_tensor *grad_outputs; /* n_outputs, same shapes as outputs */
    bnn_tensor *grad_inputs;        /* n_inputs; data NULL where none is wanted */
} bnn_kernel_grads;

typedef struct bnn_kernel {
    /* Required. Fails only on data it cannot handle (an unsupported dtype, an
     * index out of range), naming the node. */
    bnn_status (*forward)(const bnn_kernel_args *args, bnn_diag *diag);
    /* NULL when the op has no gradient. Called after forward with the same
     * args (inputs, outputs, state as forward left them). */
    bnn_status (*backward)(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                           bnn_diag *diag);
    /* NULL means 0. Called with args whose data pointers are NULL. */
    size_t (*scratch_size)(const bnn_kernel_args *args);
    size_t (*state_size)(const bnn_kernel_args *args);
} bnn_kernel;

/* A kernel's failure, naming the node: "node 'fc1' (dense): WHAT" into diag;
 * returns status (runtime/kernels.c). */
bnn_status bnn_kernel_fail(const bnn_kernel_args *args, bnn_diag *diag, bnn_status status,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* BNN_OK when DT is f32, else the failure of a backward kernel that has
 * gradients for f32 only: "gradients of element type T are not supported",
 * naming the node. */
bnn_status bnn_kernel_need_f32_grad(const bnn_kernel_args *args, bnn_dtype dt, bnn_diag *diag);

/* x seen as lines along `axis` (negative counts from the end; a scalar is
 * one line): [outer, len, inner], len the axis' dim, or with coerce (ONNX's
 * pre-13 softmax and hardmax) every dim from the axis on.  An axis out of
 * range fails naming the node.  Softmax, hardmax, top_k and
 * reverse_sequence walk their tensors this way. */
typedef struct bnn_axis_lines {
    int64_t outer, len, inner;
} bnn_axis_lines;
bnn_status bnn_kernel_axis_lines(const bnn_kernel_args *args, const bnn_tensor *x, int64_t axis,
                                 bool coerce, bnn_axis_lines *l, bnn_diag *diag);

/* The kernel of an op (runtime/kernels.c). */
const bnn_kernel *bnn_kernel_get(bnn_op op);

#endif
