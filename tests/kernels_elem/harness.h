/* Test harness for the elementwise, softmax, layout and Bayesian kernels: a
 * one-node graph holding the attributes, operand tensors of any type with
 * shapes the test sets (no shape inference), forward and backward runs, and a
 * finite-difference gradient check. */
#ifndef KE_HARNESS_H
#define KE_HARNESS_H

#include <stdint.h>

#include "kernel.h"

#define KE_MAX_IN 9

typedef struct ke_case {
    bnn_graph *graph; /* owned */
    int node_id;
    const bnn_kernel *kernel;
    int n_inputs;
    bnn_tensor inputs[KE_MAX_IN];      /* owned, zero-filled; absent: data NULL */
    bnn_tensor output;                 /* owned */
    int n_outputs;                     /* 1, or more from ke_create_outputs */
    bnn_tensor extra_outputs[3];       /* owned: outputs 1.. */
    bnn_tensor all_outputs[4];         /* views of output and extra_outputs for the kernel */
    bnn_tensor grad_inputs[KE_MAX_IN]; /* owned after ke_backward; data NULL if not wanted */
    bnn_tensor grad_output;            /* owned after ke_backward */
    void *scratch, *state;             /* owned, allocated by the first forward */
    size_t scratch_size, state_size;
    bool training;
    uint64_t seed, step;
    int64_t example_offset; /* bnn_kernel_args.example_offset */
    bnn_kernel_args args; /* as last passed to the kernel */
    bnn_diag diag;
} ke_case;

bnn_shape ke_shape(int rank, const int64_t *dims);
#define KE_SHAPE(...) \
    ke_shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define KE_SCALAR ke_shape(0, NULL)
/* An absent optional input: rank -1. */
bnn_shape ke_absent(void);

/* Input shapes with rank -1 are absent.  Aborts on allocation failure. */
ke_case *ke_create(bnn_op op, int n_inputs, const bnn_dtype *dtypes, const bnn_shape *shapes,
                   bnn_dtype out_dtype, const bnn_shape *out_shape);
/* The same for an op of n_out outputs (at most 4): output is the first,
 * extra_outputs the others. */
ke_case *ke_create_outputs(bnn_op op, int n_inputs, const bnn_dtype *dtypes, const bnn_shape *shapes,
                           int n_out, const bnn_dtype *out_dtypes, const bnn_shape *out_shapes);
/* All inputs of one type. */
ke_case *ke_create1(bnn_op op, bnn_dtype dtype, int n_inputs, const bnn_shape *shapes,
                    const bnn_shape *out_shape);
void ke_destroy(ke_case *c);
/* Gives the op a second output (top_k's indices), passed after `output`. */
void ke_add_output(ke_case *c, bnn_dtype dtype, const bnn_shape *shape);

void ke_set_int(ke_case *c, const char *name, int64_t v);
void ke_set_float(ke_case *c, const char *name, float v);
void ke_set_string(ke_case *c, const char *name, const char *v);
void ke_set_ints(ke_case *c, const char *name, const int64_t *v, int count);
#define KE_SET_INTS(c, name, ...) \
    ke_set_ints(c, name, (int64_t[]){__VA_ARGS__}, \
                (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* A small deterministic generator for test data. */
uint64_t ke_rand_next(uint64_t *s);
double ke_rand_uniform(uint64_t *s, double lo, double hi);
int64_t ke_rand_int(uint64_t *s, int64_t lo, int64_t hi); /* inclusive */
/* Fills an f32 or f64 tensor uniform in [lo, hi), an integer one with
 * integers in [lo, hi]. */
void ke_fill(bnn_tensor *t, uint64_t seed, double lo, double hi);
/* Element i as a double, whatever the type. */
double ke_get(const bnn_tensor *t, int64_t i);
void ke_put(bnn_tensor *t, int64_t i, double v);

/* Runs forward; scratch is filled with NaN bytes before each call. */
bnn_status ke_forward(ke_case *c);
/* Runs backward with grad_output = g (NULL: all ones); inputs whose bit is
 * set in want get a gradient, pre-filled with 0.25 to check accumulation
 * (ke_grad subtracts it). */
bnn_status ke_backward(ke_case *c, const float *g, unsigned want);
/* The accumulated gradient of input k, element i, minus the pre-fill. */
double ke_grad(const ke_case *c, int k, int64_t i);

/* Criterion-asserts that backward matches central differences of
 * L = sum(y * r) (r random) for each f32 input whose bit is set in want,
 * within |num - ana| <= tol * (1 + |num|); checks at most max_elems
 * elements per input (spread over the tensor). */
void ke_check_grad(ke_case *c, unsigned want, double eps, double tol, int max_elems);

#endif
