/* The kernel test harness (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd_record.h"

bool kn_cpu_path(bool available, const char *feature, const char *path_name, const char *what)
{
    if (!available)
        fprintf(stderr, "%s path not available on this CPU (no %s): %s tested the fallback\n",
                path_name, feature, what);
    return available;
}

uint64_t kn_rng_next(uint64_t *s)
{
    /* splitmix64: deterministic, seedable with anything */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t kn_rand_int(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(kn_rng_next(s) % (uint64_t)(hi - lo + 1));
}

static double rand_unit(uint64_t *s)
{
    return (double)(kn_rng_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

bnn_shape kn_shape(int rank, const int64_t *dims)
{
    bnn_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    return s;
}

bnn_shape kn_absent(void)
{
    bnn_shape s = {.rank = -1};
    return s;
}

static double load(const bnn_tensor *t, int64_t i)
{
    return t->dtype == BNN_F64 ? ((double *)t->data)[i] : ((float *)t->data)[i];
}

static void store(bnn_tensor *t, int64_t i, double v)
{
    if (t->dtype == BNN_F64)
        ((double *)t->data)[i] = v;
    else
        ((float *)t->data)[i] = (float)v;
}

static void fill_random(bnn_tensor *t, uint64_t *seed)
{
    int64_t n = bnn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        store(t, i, rand_unit(seed));
}

kn_case *kn_create(bnn_op op, bnn_dtype dtype, int n_inputs, const bnn_shape *in_shapes,
                   const bnn_shape *out_shape, uint64_t seed)
{
    cr_assert(n_inputs <= KN_MAX_IN);
    kn_case *c = calloc(1, sizeof *c);
    cr_assert(c);
    c->op = op;
    c->n_inputs = n_inputs;
    c->graph = bnn_graph_create("kernel_test");
    cr_assert(c->graph);
    bnn_diag diag;
    int ids[KN_MAX_IN];
    for (int i = 0; i < n_inputs; i++) {
        if (in_shapes[i].rank < 0) {
            ids[i] = -1;
            c->inputs[i].dtype = dtype;
            c->inputs[i].shape.rank = 0;
            continue;
        }
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        ids[i] = bnn_graph_add_value(c->graph, name, dtype, &in_shapes[i]);
        cr_assert(ids[i] >= 0);
        cr_assert_eq(bnn_tensor_alloc(&c->inputs[i], dtype, &in_shapes[i], &diag), BNN_OK);
        fill_random(&c->inputs[i], &seed);
    }
    int out = bnn_graph_add_value(c->graph, "out", dtype, out_shape);
    cr_assert(out >= 0);
    c->node_id = bnn_graph_add_node(c->graph, op, "n0", ids, n_inputs, &out, 1);
    cr_assert(c->node_id >= 0);
    cr_assert_eq(bnn_tensor_alloc(&c->output, dtype, out_shape, &diag), BNN_OK);
    return c;
}

void kn_destroy(kn_case *c)
{
    for (int i = 0; i < c->n_inputs; i++) {
        bnn_tensor_free(&c->inputs[i]);
        bnn_tensor_free(&c->grad_inputs[i]);
    }
    bnn_tensor_free(&c->output);
    bnn_tensor_free(&c->grad_output);
    free(c->scratch);
    free(c->state);
    bnn_graph_destroy(c->graph);
    free(c);
}

void kn_set_int(kn_case *c, const char *name, int64_t v)
{
    cr_assert_eq(bnn_node_set_int(c->graph, c->node_id, name, v), BNN_OK);
}

void kn_set_float(kn_case *c, const char *name, float v)
{
    cr_assert_eq(bnn_node_set_float(c->graph, c->node_id, name, v), BNN_OK);
}

void kn_set_ints(kn_case *c, const char *name, const int64_t *v, int count)
{
    cr_assert_eq(bnn_node_set_ints(c->graph, c->node_id, name, v, count), BNN_OK);
}

static void *alloc_aligned(size_t n)
{
    size_t rounded = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    cr_assert(p);
    return p;
}

/* The kernels under test, linked from their sources rather than through
 * runtime/kernels.c, so these tests build while other families are mid-edit. */
extern const bnn_kernel bnn_kernel_dense, bnn_kernel_gemm, bnn_kernel_matmul, bnn_kernel_conv,
    bnn_kernel_max_pool, bnn_kernel_avg_pool, bnn_kernel_global_avg_pool,
    bnn_kernel_global_max_pool, bnn_kernel_batch_norm, bnn_kernel_conv_transpose;

static const bnn_kernel *kernel_of(bnn_op op)
{
    switch (op) {
    case BNN_OP_DENSE: return &bnn_kernel_dense;
    case BNN_OP_GEMM: return &bnn_kernel_gemm;
    case BNN_OP_MATMUL: return &bnn_kernel_matmul;
    case BNN_OP_CONV: return &bnn_kernel_conv;
    case BNN_OP_CONV_TRANSPOSE: return &bnn_kernel_conv_transpose;
    case BNN_OP_MAX_POOL: return &bnn_kernel_max_pool;
    case BNN_OP_AVG_POOL: return &bnn_kernel_avg_pool;
    case BNN_OP_GLOBAL_AVG_POOL: return &bnn_kernel_global_avg_pool;
    case BNN_OP_GLOBAL_MAX_POOL: return &bnn_kernel_global_max_pool;
    case BNN_OP_BATCH_NORM: return &bnn_kernel_batch_norm;
    default: return bnn_kernel_get(op); /* the newer families (resample.c) */
    }
}

bnn_status kn_forward(kn_case *c, bnn_diag *diag)
{
    const bnn_kernel *k = kernel_of(c->op);
    bnn_kernel_args *a = &c->args;
    memset(a, 0, sizeof *a);
    a->graph = c->graph;
    a->node = bnn_graph_node(c->graph, c->node_id);
    a->node_id = c->node_id;
    a->n_inputs = c->n_inputs;
    a->n_outputs = 1;
    a->seed = 1;
    a->training = c->training;

    /* sizes are asked with data pointers NULL, as the planner does */
    bnn_tensor bare_in[KN_MAX_IN], bare_out = c->output;
    for (int i = 0; i < c->n_inputs; i++) {
        bare_in[i] = c->inputs[i];
        bare_in[i].data = NULL;
    }
    bare_out.data = NULL;
    a->inputs = bare_in;
    a->outputs = &bare_out;
    size_t scratch = k->scratch_size ? k->scratch_size(a) : 0;
    size_t state = k->state_size ? k->state_size(a) : 0;
    free(c->scratch);
    free(c->state);
    c->scratch = alloc_aligned(scratch);
    c->state = alloc_aligned(state);
    memset(c->scratch, 0xff, scratch); /* NaN: the kernel must not read it first */
    memset(c->state, 0, state);

    a->inputs = c->inputs;
    a->outputs = &c->output;
    a->scratch = c->scratch;
    a->state = c->state;
    return k->forward(a, diag);
}

bnn_status kn_backward(kn_case *c, uint64_t seed, unsigned no_grad_mask, bnn_diag *diag)
{
    const bnn_kernel *k = kernel_of(c->op);
    cr_assert(k->backward, "op has no backward");
    bnn_tensor_free(&c->grad_output);
    cr_assert_eq(bnn_tensor_alloc(&c->grad_output, c->output.dtype, &c->output.shape, diag), BNN_OK);
    fill_random(&c->grad_output, &seed);
    for (int i = 0; i < c->n_inputs; i++) {
        bnn_tensor_free(&c->grad_inputs[i]);
        c->grad_inputs[i].dtype = c->inputs[i].dtype;
        c->grad_inputs[i].shape = c->inputs[i].shape;
        if (!c->inputs[i].data)
            continue;
        cr_assert_eq(bnn_tensor_alloc(&c->grad_inputs[i], c->inputs[i].dtype, &c->inputs[i].shape,
                                      diag), BNN_OK);
        fill_random(&c->grad_inputs[i], &seed); /* drawn even when masked: same start values */
        if (no_grad_mask & (1u << i))
            bnn_tensor_free(&c->grad_inputs[i]);
    }
    bnn_kernel_grads g = {.grad_outputs = &c->grad_output, .grad_inputs = c->grad_inputs};
    return k->backward(&c->args, &g, diag);
}

/* Double copies of the present inputs. */
static double **inputs_as_double(const kn_case *c)
{
    double **in = calloc(KN_MAX_IN, sizeof *in);
    cr_assert(in);
    for (int i = 0; i < c->n_inputs; i++) {
        if (!c->inputs[i].data)
            continue;
        int64_t n = bnn_tensor_numel(&c->inputs[i]);
        in[i] = malloc((size_t)(n ? n : 1) * sizeof(double));
        cr_assert(in[i]);
        for (int64_t j = 0; j < n; j++)
            in[i][j] = load(&c->inputs[i], j);
    }
    return in;
}

static void free_inputs(double **in)
{
    for (int i = 0; i < KN_MAX_IN; i++)
        free(in[i]);
    free(in);
}

void kn_check_forward(kn_case *c, kn_ref_fn ref, double tol)
{
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "forward failed: %s", diag.message);
    double **in = inputs_as_double(c);
    int64_t n = bnn_tensor_numel(&c->output);
    double *want = calloc((size_t)(n ? n : 1), sizeof *want);
    cr_assert(want);
    ref(c, (const double *const *)in, want);
    for (int64_t i = 0; i < n; i++) {
        double got = load(&c->output, i);
        cr_assert(fabs(got - want[i]) <= tol * (1 + fabs(want[i])),
                  "%s: output %lld is %.8g, reference %.8g", bnn_op_get(c->op)->name,
                  (long long)i, got, want[i]);
    }
    free(want);
    free_inputs(in);
}

/* sum(grad_output * ref(in)) */
static double objective(const kn_case *c, kn_ref_fn ref, double **in, double *out, int64_t n_out)
{
    ref(c, (const double *const *)in, out);
    double s = 0;
    for (int64_t i = 0; i < n_out; i++)
        s += load(&c->grad_output, i) * out[i];
    return s;
}

void kn_check_backward(kn_case *c, kn_ref_fn ref, double tol, unsigned skip_mask)
{
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "forward failed: %s", diag.message);
    uint64_t seed = 99;
    cr_assert_eq(kn_backward(c, seed, 0, &diag), BNN_OK, "backward failed: %s", diag.message);
    /* kn_backward's fill is deterministic in seed: replay it for the start values */
    uint64_t replay = seed;
    int64_t n_out = bnn_tensor_numel(&c->output);
    for (int64_t i = 0; i < n_out; i++)
        rand_unit(&replay);
    double **in = inputs_as_double(c);
    double *out = calloc((size_t)(n_out ? n_out : 1), sizeof *out);
    cr_assert(out);
    const double eps = 1e-6;
    long long compared = 0;
    for (int i = 0; i < c->n_inputs; i++) {
        if (!c->inputs[i].data)
            continue;
        int64_t n = bnn_tensor_numel(&c->inputs[i]);
        for (int64_t j = 0; j < n; j++) {
            double start_value = rand_unit(&replay);
            if (c->inputs[i].dtype == BNN_F32)
                start_value = (float)start_value;
            double got = load(&c->grad_inputs[i], j) - start_value;
            if (skip_mask & (1u << i)) {
                cr_assert(got == 0, "%s: input %d has no gradient but element %lld moved by %g",
                          bnn_op_get(c->op)->name, i, (long long)j, got);
                continue;
            }
            double keep = in[i][j];
            in[i][j] = keep + eps;
            double up = objective(c, ref, in, out, n_out);
            in[i][j] = keep - eps;
            double down = objective(c, ref, in, out, n_out);
            in[i][j] = keep;
            double want = (up - down) / (2 * eps);
            cr_assert(fabs(got - want) <= tol * (1 + fabs(want)),
                      "%s: gradient of input %d element %lld is %.8g, finite differences %.8g",
                      bnn_op_get(c->op)->name, i, (long long)j, got, want);
            compared++;
        }
    }
    fd_record(c->op, compared);
    free(out);
    free_inputs(in);
}

void kn_check_partial_backward(kn_case *c, unsigned no_grad_mask)
{
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "forward failed: %s", diag.message);
    cr_assert_eq(kn_backward(c, 5, 0, &diag), BNN_OK, "backward failed: %s", diag.message);
    bnn_tensor full[KN_MAX_IN];
    for (int i = 0; i < c->n_inputs; i++) {
        full[i] = c->grad_inputs[i];
        c->grad_inputs[i].data = NULL; /* keep the full run's buffers */
        c->grad_inputs[i].owns_data = false;
    }
    cr_assert_eq(kn_backward(c, 5, no_grad_mask, &diag), BNN_OK, "backward failed: %s",
                 diag.message);
    for (int i = 0; i < c->n_inputs; i++) {
        if (!c->inputs[i].data)
            continue;
        if (no_grad_mask & (1u << i)) {
            cr_assert_null(c->grad_inputs[i].data);
        } else {
            cr_assert_eq(memcmp(c->grad_inputs[i].data, full[i].data, bnn_tensor_nbytes(&full[i])), 0,
                         "%s: gradient of input %d changed when fewer were asked for",
                         bnn_op_get(c->op)->name, i);
        }
        bnn_tensor_free(&full[i]);
    }
}
