/* The planner: buffer reuse, liveness (nothing live is clobbered), symbol
 * binding, aliasing, training mode, and that running allocates nothing.
 *
 * Most tests plan through the test seam of plan_impl.h with a small shape
 * inference and kernels of their own (relu, add, concat, reshape), so they
 * test the planner whatever state the real kernels are in; the last ones go
 * through the real inference and kernels.
 *
 * Linked with -Wl,--wrap for malloc and friends: every allocation made by
 * bnnc's code (static libraries) is counted while `counting` is set.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "plan_impl.h"

/* ---- allocation counting ------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);

static bool counting;
static int allocations;

void *__wrap_malloc(size_t n) { allocations += counting; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { allocations += counting; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { allocations += counting; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    allocations += counting;
    return __real_aligned_alloc(a, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    allocations += counting;
    return __real_posix_memalign(p, a, n);
}

/* ---- a tiny inference and kernels for the planner's tests --------------- */

static bnn_status fake_infer(bnn_graph *g, bnn_diag *diag)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        bnn_value *in = &g->values[n->inputs[0]], *out = &g->values[n->outputs[0]];
        out->dtype = in->dtype;
        out->shape = in->shape;
        if (n->op == BNN_OP_CONCAT) {
            out->shape.dims[1] = 0;
            for (int k = 0; k < n->n_inputs; k++)
                out->shape.dims[1] += g->values[n->inputs[k]].shape.dims[1];
        } else if (n->op == BNN_OP_RESHAPE) {
            const int64_t *dims;
            int rank = bnn_node_ints(n, "shape", &dims);
            out->shape.rank = rank;
            for (int d = 1; d < rank; d++)
                out->shape.dims[d] = dims[d];
        } else if (n->op == BNN_OP_SHAPE) {
            out->dtype = BNN_I64;
            out->shape.rank = 1;
            out->shape.dims[0] = bnn_graph_symbol(g, "M"); /* never bound */
        }
    }
    (void)diag;
    return BNN_OK;
}

static uint64_t seen_step, seen_seed;
static int forward_calls, misaligned;

static bnn_status fake_forward(const bnn_kernel_args *a, bnn_diag *diag)
{
    (void)diag;
    const bnn_tensor *x = &a->inputs[0];
    bnn_tensor *y = &a->outputs[0];
    float *out = y->data;
    int64_t n = bnn_tensor_numel(y);
    forward_calls++;
    seen_step = a->step;
    seen_seed = a->seed;
    if (!out || (uintptr_t)out % 64 != 0)
        misaligned++;
    switch (a->node->op) {
    case BNN_OP_RELU:
        for (int64_t i = 0; i < n; i++)
            out[i] = ((const float *)x->data)[i] > 0 ? ((const float *)x->data)[i] : 0;
        break;
    case BNN_OP_ADD:
        for (int64_t i = 0; i < n; i++)
            out[i] = ((const float *)x->data)[i] + ((const float *)a->inputs[1].data)[i];
        break;
    case BNN_OP_CONCAT: {
        int64_t rows = y->shape.dims[0], cols = y->shape.dims[1], at = 0;
        for (int k = 0; k < a->n_inputs; k++) {
            int64_t c = a->inputs[k].shape.dims[1];
            for (int64_t r = 0; r < rows; r++)
                memcpy(out + r * cols + at, (const float *)a->inputs[k].data + r * c, (size_t)c * 4);
            at += c;
        }
        break;
    }
    default:
        memcpy(out, x->data, bnn_tensor_nbytes(y));
    }
    return BNN_OK;
}

static const bnn_kernel fake_kernel = {.forward = fake_forward};
static const bnn_kernel *fake_lookup(bnn_op op)
{
    (void)op;
    return &fake_kernel;
}

static const bnn_plan_hooks hooks = {fake_infer, fake_lookup, false};
static const bnn_plan_hooks hooks_no_alias = {fake_infer, fake_lookup, true};

/* ---- graph building ----------------------------------------------------- */

static int value(bnn_graph *g, const char *name, int64_t d0, int64_t d1)
{
    bnn_shape s = {2, {d0, d1}};
    int id = bnn_graph_add_value(g, name, BNN_F32, &s);
    cr_assert(id >= 0);
    return id;
}

static int node(bnn_graph *g, bnn_op op, const int *in, int n_in, int64_t cols)
{
    int out = value(g, NULL, bnn_graph_symbol(g, "N"), cols);
    int id = bnn_graph_add_node(g, op, NULL, in, n_in, &out, 1);
    cr_assert(id >= 0);
    return out;
}

/* x: f32[N,cols] -> relu x n -> output */
static bnn_graph *chain(int n, int64_t cols)
{
    bnn_graph *g = bnn_graph_create("chain");
    int x = value(g, "x", bnn_graph_symbol(g, "N"), cols);
    bnn_graph_add_input(g, x);
    for (int i = 0; i < n; i++)
        x = node(g, BNN_OP_RELU, &x, 1, cols);
    bnn_graph_add_output(g, x);
    return g;
}

static void fill(const bnn_tensor *t, unsigned seed)
{
    float *x = t->data;
    for (int64_t i = 0; i < bnn_tensor_numel(t); i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((int)(seed >> 16) % 2001 - 1000) / 100.0f;
    }
}

/* ---- tests -------------------------------------------------------------- */

Test(plan, reuses_buffers_on_a_chain)
{
    bnn_graph *g = chain(6, 256);
    bnn_shape shape = {2, {4, 256}};
    bnn_session *s;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks, &s, &diag), BNN_OK, "%s",
                 diag.message);
    /* 7 activations of 4 KiB; the input, the output and two alternating
     * buffers for the five in between are enough. */
    cr_assert_eq(s->activation_bytes, (size_t)7 * 4096);
    cr_assert_leq(bnn_session_arena_bytes(s), (size_t)4 * 4096);
    cr_assert_lt(bnn_session_arena_bytes(s), s->activation_bytes);
    fill(bnn_session_input(s, 0), 1);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK);
    const float *x = bnn_session_input(s, 0)->data, *y = bnn_session_output(s, 0)->data;
    for (int i = 0; i < 4 * 256; i++)
        cr_assert_eq(y[i], x[i] > 0 ? x[i] : 0);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

/* Checks the plan's invariant directly: values alive at the same time never
 * share bytes, and inputs/outputs live throughout. */
static void assert_no_overlap(const bnn_session *s)
{
    const bnn_graph *g = s->graph;
    for (int a = 0; a < g->n_values; a++) {
        const plan_value *x = &s->values[a];
        if (x->kind != PLAN_BUF_ARENA)
            continue;
        cr_assert_eq(x->offset % 64, 0);
        cr_assert_leq(x->offset + x->nbytes, s->arena_bytes);
        for (int b = a + 1; b < g->n_values; b++) {
            const plan_value *y = &s->values[b];
            if (y->kind != PLAN_BUF_ARENA || x->nbytes == 0 || y->nbytes == 0)
                continue;
            bool live_together = x->def <= y->last && y->def <= x->last;
            bool share = x->offset < y->offset + y->nbytes && y->offset < x->offset + x->nbytes;
            cr_assert(!(live_together && share), "values %d [%d,%d] and %d [%d,%d] share bytes", a,
                      x->def, x->last, b, y->def, y->last);
        }
    }
    for (int i = 0; i < g->n_inputs; i++)
        cr_assert_eq(s->values[g->inputs[i]].last, s->n_order);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_check_plan(s, &diag), BNN_OK, "%s", diag.message);
}

/* Random DAGs of relu/add/concat with several outputs: the planned run must
 * give what a run with a private buffer per value gives. */
Test(plan, liveness_random_graphs_match_private_buffers)
{
    unsigned seed = 7;
    for (int trial = 0; trial < 40; trial++) {
        bnn_graph *g = bnn_graph_create("dag");
        int ids[64], n = 0;
        ids[n++] = value(g, "x", bnn_graph_symbol(g, "N"), 8);
        bnn_graph_add_input(g, ids[0]);
        int n_nodes = 5 + trial % 20;
        for (int i = 0; i < n_nodes; i++) {
            seed = seed * 1103515245u + 12345u;
            int a = ids[(seed >> 8) % (unsigned)n], b = ids[(seed >> 16) % (unsigned)n];
            int64_t ca = g->values[a].shape.dims[1], cb = g->values[b].shape.dims[1];
            int in[2] = {a, b};
            switch ((seed >> 24) % 3) {
            case 0: ids[n++] = node(g, BNN_OP_RELU, in, 1, ca); break;
            case 1:
                if (ca == cb) {
                    ids[n++] = node(g, BNN_OP_ADD, in, 2, ca);
                    break;
                }
                /* fall through */
            default:
                if (ca + cb <= 64)
                    ids[n++] = node(g, BNN_OP_CONCAT, in, 2, ca + cb);
                else
                    ids[n++] = node(g, BNN_OP_RELU, in, 1, ca);
            }
        }
        /* The last value and a couple of earlier ones are outputs. */
        bnn_graph_add_output(g, ids[n - 1]);
        bnn_graph_add_output(g, ids[1 + trial % (n - 1)]);
        bnn_graph_add_output(g, ids[n / 2]);
        bnn_shape shape = {2, {3, 8}};
        bnn_session *s, *ref;
        bnn_diag diag = {0};
        bnn_session_options train = bnn_session_defaults();
        train.training = true; /* no reuse at all: the reference */
        cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks, &s, &diag), BNN_OK, "%s",
                     diag.message);
        cr_assert_eq(bnn_session_create_hooked(g, &shape, &train, &hooks, &ref, &diag), BNN_OK);
        assert_no_overlap(s);
        cr_assert_eq(ref->arena_bytes, ref->activation_bytes);
        fill(bnn_session_input(s, 0), (unsigned)trial);
        fill(bnn_session_input(ref, 0), (unsigned)trial);
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK);
        cr_assert_eq(bnn_session_run(ref, &diag), BNN_OK);
        for (int k = 0; k < bnn_session_n_outputs(s); k++) {
            const bnn_tensor *y = bnn_session_output(s, k), *r = bnn_session_output(ref, k);
            cr_assert(bnn_shape_equal(&y->shape, &r->shape));
            cr_assert_eq(memcmp(y->data, r->data, bnn_tensor_nbytes(y)), 0,
                         "trial %d: output %d clobbered", trial, k);
        }
        bnn_session_destroy(s);
        bnn_session_destroy(ref);
        bnn_graph_destroy(g);
    }
}

Test(plan, run_allocates_nothing_and_counts_steps)
{
    bnn_graph *g = chain(5, 100);
    bnn_shape shape = {2, {2, 100}};
    bnn_session_options opt = bnn_session_defaults();
    opt.seed = 1234;
    bnn_session *s;
    bnn_diag diag = {0};
    allocations = 0;
    counting = true;
    cr_assert_eq(bnn_session_create_hooked(g, &shape, &opt, &hooks, &s, &diag), BNN_OK);
    counting = false;
    cr_assert_gt(allocations, 0, "the wrapper sees the planner's allocations");
    allocations = 0;
    counting = true;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK);
    counting = false;
    cr_assert_eq(allocations, 0, "bnn_session_run allocated %d times", allocations);
    cr_assert_eq(misaligned, 0, "kernels get 64-byte aligned outputs");
    cr_assert_eq(seen_step, 2, "the step counts runs from 0");
    cr_assert_eq(seen_seed, 1234);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(plan, symbol_bound_twice_is_an_error)
{
    bnn_graph *g = bnn_graph_create("two");
    int x = value(g, "x", bnn_graph_symbol(g, "N"), 4);
    int y = value(g, "y", bnn_graph_symbol(g, "N"), 4);
    bnn_graph_add_input(g, x);
    bnn_graph_add_input(g, y);
    int in[2] = {x, y};
    bnn_graph_add_output(g, node(g, BNN_OP_ADD, in, 2, 4));
    bnn_shape shapes[2] = {{2, {2, 4}}, {2, {3, 4}}};
    bnn_session *s = (bnn_session *)1;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_hooked(g, shapes, NULL, &hooks, &s, &diag), BNN_ERR_SHAPE);
    cr_assert_null(s);
    cr_assert_str_eq(diag.message,
                     "symbol 'N' is 2 from input 'x' but 3 from input 'y' (f32[N,4])");
    shapes[1].dims[0] = 2;
    cr_assert_eq(bnn_session_create_hooked(g, shapes, NULL, &hooks, &s, &diag), BNN_OK);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(plan, wrong_rank_or_dim_names_the_input)
{
    bnn_graph *g = chain(1, 4);
    bnn_session *s;
    bnn_diag diag = {0};
    bnn_shape rank3 = {3, {2, 4, 1}}, dim = {2, {2, 5}}, symbolic = {2, {-2, 4}};
    cr_assert_eq(bnn_session_create_hooked(g, &rank3, NULL, &hooks, &s, &diag), BNN_ERR_SHAPE);
    cr_assert_str_eq(diag.message, "input 'x' expects f32[N,4], got f32[2,4,1]");
    cr_assert_eq(bnn_session_create_hooked(g, &dim, NULL, &hooks, &s, &diag), BNN_ERR_SHAPE);
    cr_assert_str_eq(diag.message, "input 'x' expects f32[N,4], got f32[2,5]");
    cr_assert_eq(bnn_session_create_hooked(g, &symbolic, NULL, &hooks, &s, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "must be concrete"));
    bnn_graph_destroy(g);
}

Test(plan, unresolved_shape_names_the_value)
{
    bnn_graph *g = bnn_graph_create("shape");
    int x = value(g, "x", bnn_graph_symbol(g, "N"), 4);
    bnn_graph_add_input(g, x);
    bnn_shape s1 = {1, {-1}};
    int y = bnn_graph_add_value(g, "dims", BNN_I64, &s1);
    bnn_graph_add_node(g, BNN_OP_SHAPE, "shape0", &x, 1, &y, 1);
    bnn_graph_add_output(g, y);
    bnn_shape shape = {2, {2, 4}};
    bnn_session *s;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks, &s, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "value 'dims' has shape i64[M]"), "%s", diag.message);
    bnn_graph_destroy(g);
}

Test(plan, reshape_aliases_its_input)
{
    bnn_graph *g = bnn_graph_create("alias");
    int x = value(g, "x", bnn_graph_symbol(g, "N"), 16);
    bnn_graph_add_input(g, x);
    int a = node(g, BNN_OP_RELU, &x, 1, 16);
    bnn_shape s3 = {3, {bnn_graph_symbol(g, "N"), 4, 4}};
    int r = bnn_graph_add_value(g, "r", BNN_F32, &s3);
    int rn = bnn_graph_add_node(g, BNN_OP_RESHAPE, "reshape", &a, 1, &r, 1);
    int64_t dims[3] = {0, 4, 4};
    bnn_node_set_ints(g, rn, "shape", dims, 3);
    int y = node(g, BNN_OP_RELU, &r, 1, 16);
    bnn_graph_add_output(g, y);
    bnn_graph_add_output(g, r);
    bnn_shape shape = {2, {3, 16}};
    bnn_session *s, *plain;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks, &s, &diag), BNN_OK, "%s",
                 diag.message);
    cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks_no_alias, &plain, &diag), BNN_OK);
    cr_assert(s->skip[1], "the reshape is skipped");
    cr_assert_eq(s->values[r].kind, PLAN_BUF_ALIAS);
    cr_assert_eq(bnn_session_output(s, 1)->data, s->tensors[a].data);
    cr_assert_eq(bnn_session_output(s, 1)->shape.rank, 3);
    assert_no_overlap(s);
    fill(bnn_session_input(s, 0), 3);
    fill(bnn_session_input(plain, 0), 3);
    forward_calls = 0;
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK);
    cr_assert_eq(forward_calls, 2);
    cr_assert_eq(bnn_session_run(plain, &diag), BNN_OK);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(memcmp(bnn_session_output(s, k)->data, bnn_session_output(plain, k)->data,
                            bnn_tensor_nbytes(bnn_session_output(s, k))), 0);
    bnn_session_destroy(s);
    bnn_session_destroy(plain);
    bnn_graph_destroy(g);
}

Test(plan, set_input_checks_type_and_shape)
{
    bnn_graph *g = chain(2, 4);
    bnn_session *s;
    bnn_diag diag = {0};
    bnn_shape shape;
    cr_assert_eq(bnn_session_batch_shapes(g, 2, &shape, &diag), BNN_OK);
    cr_assert_eq(bnn_session_create_hooked(g, &shape, NULL, &hooks, &s, &diag), BNN_OK);
    bnn_tensor t;
    bnn_shape bad = {2, {3, 4}};
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &bad, &diag), BNN_OK);
    cr_assert_eq(bnn_session_set_input(s, "x", &t, &diag), BNN_ERR_SHAPE);
    cr_assert_str_eq(diag.message, "input 'x' expects f32[2,4], got f32[3,4]");
    cr_assert_eq(bnn_session_set_input(s, "nope", &t, &diag), BNN_ERR_INVALID);
    bnn_tensor_free(&t);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(plan, batch_shapes)
{
    bnn_graph *g = bnn_graph_create("b");
    bnn_shape img = {4, {bnn_graph_symbol(g, "N"), 1, 28, 28}};
    bnn_shape odd = {2, {bnn_graph_symbol(g, "N"), -1}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &img);
    int y = bnn_graph_add_value(g, "y", BNN_F32, &odd);
    bnn_graph_add_input(g, x);
    bnn_shape out[2];
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_batch_shapes(g, 5, out, &diag), BNN_OK);
    bnn_shape want = {4, {5, 1, 28, 28}};
    cr_assert(bnn_shape_equal(&out[0], &want));
    cr_assert_eq(bnn_session_batch_shapes(g, 0, out, &diag), BNN_ERR_INVALID);
    bnn_graph_add_input(g, y);
    cr_assert_eq(bnn_session_batch_shapes(g, 5, out, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "input 'y' is f32[N,?]"), "%s", diag.message);
    bnn_graph_destroy(g);
}

/* Through the real inference and kernels (relu, dense). */
Test(plan, real_kernels_relu_dense)
{
    bnn_graph *g = bnn_graph_create("mlp");
    int x = value(g, "x", bnn_graph_symbol(g, "N"), 3);
    bnn_graph_add_input(g, x);
    float w[6] = {1, -2, 0.5f, 3, 0, -1}, b[2] = {0.25f, -0.5f};
    bnn_shape ws = {2, {2, 3}}, bs = {1, {2}};
    int wi = bnn_graph_add_param(g, "w", BNN_F32, &ws, w, sizeof w, false);
    int bi = bnn_graph_add_param(g, "b", BNN_F32, &bs, b, sizeof b, false);
    int in[3] = {x, wi, bi};
    int d = node(g, BNN_OP_DENSE, in, 3, 2);
    int y = node(g, BNN_OP_RELU, &d, 1, 2);
    bnn_graph_add_output(g, y);
    bnn_session *s;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_batch(g, 2, NULL, &s, &diag), BNN_OK, "%s", diag.message);
    float xs[6] = {1, 2, 3, -1, 0, 1};
    memcpy(bnn_session_input(s, 0)->data, xs, sizeof xs);
    allocations = 0;
    counting = true;
    bnn_status st = bnn_session_run(s, &diag);
    counting = false;
    cr_assert_eq(st, BNN_OK, "%s", diag.message);
    cr_assert_eq(allocations, 0, "the kernels allocated %d times", allocations);
    const float *out = bnn_session_output(s, 0)->data;
    for (int r = 0; r < 2; r++)
        for (int o = 0; o < 2; o++) {
            float z = b[o];
            for (int i = 0; i < 3; i++)
                z += xs[r * 3 + i] * w[o * 3 + i];
            cr_assert_float_eq(out[r * 2 + o], z > 0 ? z : 0, 1e-5);
        }
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}
