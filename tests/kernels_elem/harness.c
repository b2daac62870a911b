/* The kernels_elem test harness (harness.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fd_record.h"
#include "harness.h"

bnn_shape ke_shape(int rank, const int64_t *dims)
{
    bnn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    return s;
}

bnn_shape ke_absent(void)
{
    bnn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = -1;
    return s;
}

static void must(bnn_status st, const bnn_diag *d)
{
    if (st != BNN_OK)
        cr_assert_fail("harness: %s", d ? d->message : "allocation failed");
}

ke_case *ke_create(bnn_op op, int n_inputs, const bnn_dtype *dtypes, const bnn_shape *shapes,
                   bnn_dtype out_dtype, const bnn_shape *out_shape)
{
    return ke_create_outputs(op, n_inputs, dtypes, shapes, 1, &out_dtype, out_shape);
}

ke_case *ke_create_outputs(bnn_op op, int n_inputs, const bnn_dtype *dtypes, const bnn_shape *shapes,
                           int n_out, const bnn_dtype *out_dtypes, const bnn_shape *out_shapes)
{
    cr_assert(n_inputs <= KE_MAX_IN && n_out >= 1 && n_out <= 4);
    ke_case *c = calloc(1, sizeof *c);
    cr_assert(c);
    c->graph = bnn_graph_create("kernel_test");
    cr_assert(c->graph);
    c->kernel = bnn_kernel_get(op);
    c->n_inputs = n_inputs;
    c->seed = 1;
    int ids[KE_MAX_IN];
    bnn_diag d;
    for (int i = 0; i < n_inputs; i++) {
        if (shapes[i].rank < 0) {
            ids[i] = -1;
            continue;
        }
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        ids[i] = bnn_graph_add_value(c->graph, name, dtypes[i], &shapes[i]);
        cr_assert(ids[i] >= 0);
        must(bnn_tensor_alloc(&c->inputs[i], dtypes[i], &shapes[i], &d), &d);
    }
    int outs[4];
    for (int k = 0; k < n_out; k++) {
        char name[16];
        snprintf(name, sizeof name, k ? "out%d" : "out", k);
        outs[k] = bnn_graph_add_value(c->graph, name, out_dtypes[k], &out_shapes[k]);
        cr_assert(outs[k] >= 0);
        must(bnn_tensor_alloc(k ? &c->extra_outputs[k - 1] : &c->output, out_dtypes[k], &out_shapes[k], &d),
             &d);
    }
    c->n_outputs = n_out;
    c->node_id = bnn_graph_add_node(c->graph, op, "n0", ids, n_inputs, outs, n_out);
    cr_assert(c->node_id >= 0);
    return c;
}

ke_case *ke_create1(bnn_op op, bnn_dtype dtype, int n_inputs, const bnn_shape *shapes,
                    const bnn_shape *out_shape)
{
    bnn_dtype dt[KE_MAX_IN];
    for (int i = 0; i < KE_MAX_IN; i++)
        dt[i] = dtype;
    return ke_create(op, n_inputs, dt, shapes, dtype, out_shape);
}

void ke_destroy(ke_case *c)
{
    if (!c)
        return;
    for (int i = 0; i < KE_MAX_IN; i++) {
        bnn_tensor_free(&c->inputs[i]);
        bnn_tensor_free(&c->grad_inputs[i]);
    }
    bnn_tensor_free(&c->output);
    for (int k = 0; k < 3; k++)
        bnn_tensor_free(&c->extra_outputs[k]);
    bnn_tensor_free(&c->grad_output);
    free(c->scratch);
    free(c->state);
    bnn_graph_destroy(c->graph);
    free(c);
}

void ke_add_output(ke_case *c, bnn_dtype dtype, const bnn_shape *shape)
{
    bnn_diag d;
    cr_assert(c->n_outputs < 4);
    must(bnn_tensor_alloc(&c->extra_outputs[c->n_outputs - 1], dtype, shape, &d), &d);
    c->n_outputs++;
}

void ke_set_int(ke_case *c, const char *name, int64_t v)
{
    cr_assert(bnn_node_set_int(c->graph, c->node_id, name, v) == BNN_OK);
}

void ke_set_float(ke_case *c, const char *name, float v)
{
    cr_assert(bnn_node_set_float(c->graph, c->node_id, name, v) == BNN_OK);
}

void ke_set_string(ke_case *c, const char *name, const char *v)
{
    cr_assert(bnn_node_set_string(c->graph, c->node_id, name, v) == BNN_OK);
}

void ke_set_ints(ke_case *c, const char *name, const int64_t *v, int count)
{
    cr_assert(bnn_node_set_ints(c->graph, c->node_id, name, v, count) == BNN_OK);
}

/* ---- test data ---------------------------------------------------------- */

uint64_t ke_rand_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double ke_rand_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(ke_rand_next(s) >> 11) * (1.0 / 9007199254740992.0));
}

int64_t ke_rand_int(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(ke_rand_next(s) % (uint64_t)(hi - lo + 1));
}

double ke_get(const bnn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case BNN_F32: return ((const float *)t->data)[i];
    case BNN_F64: return ((const double *)t->data)[i];
    case BNN_I8: return ((const int8_t *)t->data)[i];
    case BNN_U8: return ((const uint8_t *)t->data)[i];
    case BNN_I16: return ((const int16_t *)t->data)[i];
    case BNN_U16: return ((const uint16_t *)t->data)[i];
    case BNN_I32: return ((const int32_t *)t->data)[i];
    case BNN_U32: return ((const uint32_t *)t->data)[i];
    case BNN_I64: return (double)((const int64_t *)t->data)[i];
    case BNN_U64: return (double)((const uint64_t *)t->data)[i];
    case BNN_BOOL: return ((const uint8_t *)t->data)[i];
    default: cr_assert_fail("ke_get: unsupported type"); return 0;
    }
}

void ke_put(bnn_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case BNN_F32: ((float *)t->data)[i] = (float)v; break;
    case BNN_F64: ((double *)t->data)[i] = v; break;
    case BNN_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case BNN_U8: ((uint8_t *)t->data)[i] = (uint8_t)(int64_t)v; break; /* wraps, as intended */
    case BNN_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case BNN_U16: ((uint16_t *)t->data)[i] = (uint16_t)(int64_t)v; break; /* wraps, as intended */
    case BNN_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case BNN_U32: ((uint32_t *)t->data)[i] = (uint32_t)(int64_t)v; break; /* wraps, as intended */
    case BNN_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case BNN_U64: ((uint64_t *)t->data)[i] = (uint64_t)(int64_t)v; break; /* wraps, as intended */
    case BNN_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: cr_assert_fail("ke_put: unsupported type");
    }
}

void ke_fill(bnn_tensor *t, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed * 7919 + 17;
    int64_t n = bnn_tensor_numel(t);
    bool is_float = t->dtype == BNN_F32 || t->dtype == BNN_F64;
    for (int64_t i = 0; i < n; i++)
        ke_put(t, i, is_float ? ke_rand_uniform(&s, lo, hi)
                              : (double)ke_rand_int(&s, (int64_t)lo, (int64_t)hi));
}

/* ---- running ------------------------------------------------------------ */

static bnn_kernel_args make_args(ke_case *c, bool with_data)
{
    bnn_kernel_args a;
    memset(&a, 0, sizeof a);
    a.graph = c->graph;
    a.node = bnn_graph_node(c->graph, c->node_id);
    a.node_id = c->node_id;
    a.inputs = c->inputs;
    a.n_inputs = c->n_inputs;
    c->all_outputs[0] = c->output;
    for (int k = 1; k < c->n_outputs; k++)
        c->all_outputs[k] = c->extra_outputs[k - 1];
    for (int k = 0; k < c->n_outputs; k++)
        c->all_outputs[k].owns_data = false;
    a.outputs = c->all_outputs;
    a.n_outputs = c->n_outputs;
    a.training = c->training;
    a.seed = c->seed;
    a.step = c->step;
    a.example_offset = c->example_offset;
    if (with_data) {
        a.scratch = c->scratch;
        a.state = c->state;
    }
    return a;
}

static void *alloc64(size_t n)
{
    void *p = aligned_alloc(64, n ? (n + 63) & ~(size_t)63 : 64);
    cr_assert(p);
    return p;
}

bnn_status ke_forward(ke_case *c)
{
    if (!c->scratch) {
        /* Sizes are asked with no data at all, as the planner does. */
        bnn_tensor in_nodata[KE_MAX_IN], out_nodata[4];
        for (int i = 0; i < KE_MAX_IN; i++) {
            in_nodata[i] = c->inputs[i];
            in_nodata[i].data = NULL;
        }
        bnn_kernel_args a = make_args(c, false);
        for (int k = 0; k < c->n_outputs; k++) {
            out_nodata[k] = c->all_outputs[k];
            out_nodata[k].data = NULL;
        }
        a.inputs = in_nodata;
        a.outputs = out_nodata;
        c->scratch_size = c->kernel->scratch_size ? c->kernel->scratch_size(&a) : 0;
        c->state_size = c->kernel->state_size ? c->kernel->state_size(&a) : 0;
        c->scratch = alloc64(c->scratch_size);
        c->state = alloc64(c->state_size);
        memset(c->state, 0, c->state_size);
    }
    memset(c->scratch, 0xff, c->scratch_size); /* NaN in every float */
    c->args = make_args(c, true);
    memset(&c->diag, 0, sizeof c->diag);
    return c->kernel->forward(&c->args, &c->diag);
}

bnn_status ke_backward(ke_case *c, const float *g, unsigned want)
{
    bnn_diag d;
    cr_assert(c->kernel->backward, "op has no backward");
    bnn_tensor_free(&c->grad_output);
    must(bnn_tensor_alloc(&c->grad_output, BNN_F32, &c->output.shape, &d), &d);
    int64_t n = bnn_tensor_numel(&c->output);
    for (int64_t i = 0; i < n; i++)
        ((float *)c->grad_output.data)[i] = g ? g[i] : 1.0f;
    for (int k = 0; k < c->n_inputs; k++) {
        bnn_tensor_free(&c->grad_inputs[k]);
        if (c->inputs[k].data && (want >> k & 1u)) {
            must(bnn_tensor_alloc(&c->grad_inputs[k], BNN_F32, &c->inputs[k].shape, &d), &d);
            int64_t m = bnn_tensor_numel(&c->inputs[k]);
            for (int64_t i = 0; i < m; i++)
                ((float *)c->grad_inputs[k].data)[i] = 0.25f;
        } else {
            c->grad_inputs[k].shape = c->inputs[k].shape;
            c->grad_inputs[k].dtype = BNN_F32;
        }
    }
    memset(c->scratch, 0xff, c->scratch_size);
    c->args = make_args(c, true);
    bnn_kernel_grads grads = {&c->grad_output, c->grad_inputs};
    memset(&c->diag, 0, sizeof c->diag);
    return c->kernel->backward(&c->args, &grads, &c->diag);
}

double ke_grad(const ke_case *c, int k, int64_t i)
{
    return (double)((const float *)c->grad_inputs[k].data)[i] - 0.25;
}

static double loss(ke_case *c, const double *r)
{
    bnn_status st = ke_forward(c);
    cr_assert_eq(st, BNN_OK, "forward failed: %s", c->diag.message);
    int64_t n = bnn_tensor_numel(&c->output);
    double l = 0;
    for (int64_t i = 0; i < n; i++)
        l += ke_get(&c->output, i) * r[i];
    return l;
}

void ke_check_grad(ke_case *c, unsigned want, double eps, double tol, int max_elems)
{
    int64_t n = bnn_tensor_numel(&c->output);
    double *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    float *rf = malloc((size_t)(n ? n : 1) * sizeof *rf);
    uint64_t s = 99;
    for (int64_t i = 0; i < n; i++) {
        r[i] = ke_rand_uniform(&s, -1, 1);
        rf[i] = (float)r[i];
        r[i] = rf[i];
    }
    cr_assert_eq(ke_forward(c), BNN_OK, "forward failed: %s", c->diag.message);
    cr_assert_eq(ke_backward(c, rf, want), BNN_OK, "backward failed: %s", c->diag.message);
    long long compared = 0;
    for (int k = 0; k < c->n_inputs; k++) {
        if (!(want >> k & 1u) || !c->inputs[k].data)
            continue;
        cr_assert_eq(c->inputs[k].dtype, BNN_F32);
        float *x = c->inputs[k].data;
        int64_t m = bnn_tensor_numel(&c->inputs[k]);
        int64_t step = m > max_elems ? (m + max_elems - 1) / max_elems : 1;
        for (int64_t i = 0; i < m; i += step) {
            float saved = x[i];
            x[i] = (float)(saved + eps);
            double hi_x = x[i];
            double lp = loss(c, r);
            x[i] = (float)(saved - eps);
            double lo_x = x[i];
            double lm = loss(c, r);
            x[i] = saved;
            double num = (lp - lm) / (hi_x - lo_x);
            double ana = ke_grad(c, k, i);
            cr_expect(fabs(num - ana) <= tol * (1 + fabs(num)),
                      "op %s input %d element %lld: backward %.6g, finite differences %.6g",
                      bnn_op_get(bnn_graph_node(c->graph, c->node_id)->op)->name, k,
                      (long long)i, ana, num);
            compared++;
        }
    }
    fd_record(bnn_graph_node(c->graph, c->node_id)->op, compared);
    /* Inputs that want no gradient must stay untouched (data NULL). */
    for (int k = 0; k < c->n_inputs; k++)
        if (!(want >> k & 1u))
            cr_expect_null(c->grad_inputs[k].data);
    free(r);
    free(rf);
}
