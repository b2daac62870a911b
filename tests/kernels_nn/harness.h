/* Test harness for the neural-network kernels: a one-node graph holding the
 * attributes, operand tensors with shapes the test sets (no shape inference),
 * and checks of forward against a double-precision reference and of backward
 * against central differences of that reference. */
#ifndef KN_HARNESS_H
#define KN_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel.h"

#define KN_MAX_IN 5

typedef struct kn_case {
    bnn_graph *graph;      /* owned */
    int node_id;
    bnn_op op;
    int n_inputs;
    bnn_tensor inputs[KN_MAX_IN];      /* owned; an absent input has data NULL */
    bnn_tensor output;                 /* owned */
    bnn_tensor grad_inputs[KN_MAX_IN]; /* owned, after kn_backward */
    bnn_tensor grad_output;            /* owned, after kn_backward */
    void *scratch, *state;             /* owned */
    bool training;                     /* args.training of the runs (false by default) */
    bnn_kernel_args args;
} kn_case;

/* A reference forward: reads shapes and attributes from c, operands as
 * doubles (in[i] NULL for an absent input), writes the output. */
typedef void (*kn_ref_fn)(const kn_case *c, const double *const *in, double *out);

bnn_shape kn_shape(int rank, const int64_t *dims);
#define KN_SHAPE(...) \
    kn_shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
/* An absent optional input. */
bnn_shape kn_absent(void);

/* Inputs filled uniform in [-1, 1) from seed; shapes with rank < 0 are absent. */
kn_case *kn_create(bnn_op op, bnn_dtype dtype, int n_inputs, const bnn_shape *in_shapes,
                   const bnn_shape *out_shape, uint64_t seed);
void kn_destroy(kn_case *c);
void kn_set_int(kn_case *c, const char *name, int64_t v);
void kn_set_float(kn_case *c, const char *name, float v);
void kn_set_ints(kn_case *c, const char *name, const int64_t *v, int count);
#define KN_SET_INTS(c, name, ...) \
    kn_set_ints(c, name, (int64_t[]){__VA_ARGS__}, \
                (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* Runs the kernel's forward (scratch and state allocated as the kernel asks,
 * scratch filled with NaN to catch reads of stale contents). */
bnn_status kn_forward(kn_case *c, bnn_diag *diag);
/* Runs backward after kn_forward: random grad_output; every present input
 * not in no_grad_mask (bit i for input i) wants a gradient, pre-filled with
 * random values to check accumulation; the others get data NULL. */
bnn_status kn_backward(kn_case *c, uint64_t seed, unsigned no_grad_mask, bnn_diag *diag);
/* Criterion-asserts that asking for fewer gradients (inputs in no_grad_mask
 * get none) leaves the others exactly as a full backward computes them. */
void kn_check_partial_backward(kn_case *c, unsigned no_grad_mask);

/* Criterion-asserts forward matches ref within |d| <= tol * (1 + |ref|). */
void kn_check_forward(kn_case *c, kn_ref_fn ref, double tol);
/* Criterion-asserts that backward gives sum(grad_output * ref(inputs))'s
 * gradient, by central differences, for every present input except those in
 * skip_mask (bit i: input i has no gradient and must be left untouched). */
void kn_check_backward(kn_case *c, kn_ref_fn ref, double tol, unsigned skip_mask);

/* Whether this CPU runs a CPU-specific path the library picks at run time
 * (FEATURE as __builtin_cpu_supports names it, e.g. "avx512f").  When it
 * does not, says so on stderr -- "AVX-512 path not available on this CPU
 * (no avx512f): WHAT tested the fallback" -- so that a pass there is not
 * read as a pass of the path. */
#if defined(__x86_64__) || defined(__i386__)
#define KN_CPU_PATH(feature, path_name, what) \
    kn_cpu_path(__builtin_cpu_supports(feature), feature, path_name, what)
#else
#define KN_CPU_PATH(feature, path_name, what) kn_cpu_path(false, feature, path_name, what)
#endif
bool kn_cpu_path(bool available, const char *feature, const char *path_name, const char *what);

/* Small deterministic random numbers for shapes. */
uint64_t kn_rng_next(uint64_t *s);
int64_t kn_rand_int(uint64_t *s, int64_t lo, int64_t hi); /* inclusive */

#endif
