/* Shape arithmetic evaluated when a session binds its inputs
 * (runtime/shape_eval.c): a constant_of_shape whose shape is computed from
 * the input's shape, through integer kernels (neg, concat), gets its
 * attribute once the batch is known, and what follows plans and runs. */
#include <criterion/criterion.h>
#include <string.h>

#include "bnn_runtime.h"

static int add_value(bnn_graph *g, const char *name, bnn_dtype dt, int rank, const int64_t *dims)
{
    bnn_shape s = { .rank = rank };
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    int id = bnn_graph_add_value(g, name, dt, &s);
    cr_assert(id >= 0);
    return id;
}

static int add_node(bnn_graph *g, bnn_op op, const char *name, const int *in, int n_in)
{
    int out = bnn_graph_add_value(g, NULL, BNN_UNDEFINED, NULL);
    cr_assert(out >= 0);
    cr_assert(bnn_graph_add_node(g, op, name, in, n_in, &out, 1) >= 0);
    return out;
}

/* x: f32[N,3];  y = x + constant_of_shape(2.5, shape(x)) (f32[N,3]) and
 * z = constant_of_shape(7 as i64, concat(shape(x)[0..1], neg(k))) with k
 * the i64 param [-2]: z is i64[N,2] of 7s. */
static bnn_graph *model(int64_t k_value)
{
    bnn_graph *g = bnn_graph_create("shape_eval");
    int64_t xd[2] = { bnn_graph_symbol(g, "N"), 3 };
    int x = add_value(g, "x", BNN_F32, 2, xd);
    bnn_graph_add_input(g, x);
    bnn_shape scalar = { .rank = 0 }, one = { .rank = 1, .dims = { 1 } };
    float fill = 2.5f;
    int64_t seven = 7, k = k_value;
    int vf = bnn_graph_add_param(g, "fill", BNN_F32, &scalar, &fill, sizeof fill, false);
    int vi = bnn_graph_add_param(g, "seven", BNN_I64, &scalar, &seven, sizeof seven, false);
    int kp = bnn_graph_add_param(g, "k", BNN_I64, &one, &k, sizeof k, false);
    int s = add_node(g, BNN_OP_SHAPE, "shape", &x, 1);
    int c_in[2] = { vf, s };
    int c = add_node(g, BNN_OP_CONSTANT_OF_SHAPE, "fill_like_x", c_in, 2);
    int sum_in[2] = { x, c };
    int y = add_node(g, BNN_OP_ADD, "sum", sum_in, 2);
    int s0 = add_node(g, BNN_OP_SHAPE, "batch", &x, 1);
    bnn_node_set_int(g, g->n_nodes - 1, "end", 1);
    int nk = add_node(g, BNN_OP_NEG, "neg", &kp, 1);
    int cat_in[2] = { s0, nk };
    int cat = add_node(g, BNN_OP_CONCAT, "cat", cat_in, 2);
    bnn_node_set_int(g, g->n_nodes - 1, "axis", 0);
    int z_in[2] = { vi, cat };
    int z = add_node(g, BNN_OP_CONSTANT_OF_SHAPE, "sevens", z_in, 2);
    bnn_graph_add_output(g, y);
    bnn_graph_add_output(g, z);
    bnn_diag diag = { 0 };
    cr_assert_eq(bnn_graph_infer(g, &diag), BNN_OK, "%s", diag.message);
    return g;
}

Test(shape_eval, constant_of_shape_of_a_computed_shape_runs_at_any_batch)
{
    bnn_graph *g = model(-2);
    /* before binding, the computed shapes are open */
    const bnn_value *z = &g->values[g->outputs[1]];
    cr_assert_eq(z->shape.rank, 2);
    cr_assert_eq(z->shape.dims[1], BNN_DIM_UNKNOWN);
    for (int64_t batch = 1; batch <= 4; batch += 3) {
        bnn_session *s;
        bnn_diag diag = { 0 };
        cr_assert_eq(bnn_session_create_batch(g, batch, NULL, &s, &diag), BNN_OK, "%s", diag.message);
        float *x = bnn_session_input(s, 0)->data;
        for (int64_t i = 0; i < batch * 3; i++)
            x[i] = (float)i - 1.0f;
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
        const bnn_tensor *y = bnn_session_output(s, 0), *t = bnn_session_output(s, 1);
        bnn_shape want_y = { 2, { batch, 3 } }, want_z = { 2, { batch, 2 } };
        cr_assert(bnn_shape_equal(&y->shape, &want_y));
        cr_assert(bnn_shape_equal(&t->shape, &want_z));
        cr_assert_eq(t->dtype, BNN_I64);
        for (int64_t i = 0; i < batch * 3; i++)
            cr_assert_float_eq(((const float *)y->data)[i], (float)i - 1.0f + 2.5f, 0);
        for (int64_t i = 0; i < batch * 2; i++)
            cr_assert_eq(((const int64_t *)t->data)[i], 7);
        bnn_session_destroy(s);
    }
    bnn_graph_destroy(g);
}

Test(shape_eval, a_negative_computed_dim_names_the_node)
{
    bnn_graph *g = model(3); /* neg gives -3 */
    bnn_session *s = NULL;
    bnn_diag diag = { 0 };
    cr_assert_neq(bnn_session_create_batch(g, 2, NULL, &s, &diag), BNN_OK);
    cr_assert(strstr(diag.message, "sevens") && strstr(diag.message, "-3"), "%s", diag.message);
    cr_assert_null(s);
    bnn_graph_destroy(g);
}

/* ViT's class token: tok f32[1,1,2] expanded to concat(shape(x)[0..1], [1, 2])
 * at run time, then y = expand(tok) + x for x f32[N,1,2]; the sum's gradient
 * reaches tok summed over the batch. */
Test(shape_eval, expand_to_a_computed_batch_runs_and_trains)
{
    bnn_graph *g = bnn_graph_create("cls");
    int64_t xd[3] = { bnn_graph_symbol(g, "N"), 1, 2 };
    int x = add_value(g, "x", BNN_F32, 3, xd);
    bnn_graph_add_input(g, x);
    bnn_shape ts = { .rank = 3, .dims = { 1, 1, 2 } }, two = { .rank = 1, .dims = { 2 } };
    float tokv[2] = { 0.5f, -1.5f };
    int64_t rest[2] = { 1, 2 };
    int tok = bnn_graph_add_param(g, "tok", BNN_F32, &ts, tokv, sizeof tokv, true);
    int tail = bnn_graph_add_param(g, "tail", BNN_I64, &two, rest, sizeof rest, false);
    int s0 = add_node(g, BNN_OP_SHAPE, "batch", &x, 1);
    bnn_node_set_int(g, g->n_nodes - 1, "end", 1);
    int cat_in[2] = { s0, tail };
    int cat = add_node(g, BNN_OP_CONCAT, "cat", cat_in, 2);
    bnn_node_set_int(g, g->n_nodes - 1, "axis", 0);
    int e_in[2] = { tok, cat };
    int e = add_node(g, BNN_OP_EXPAND, "cls", e_in, 2);
    int sum_in[2] = { e, x };
    int y = add_node(g, BNN_OP_ADD, "sum", sum_in, 2);
    bnn_graph_add_output(g, y);
    bnn_diag diag = { 0 };
    cr_assert_eq(bnn_graph_infer(g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(g->values[e].shape.dims[0], BNN_DIM_UNKNOWN, "open before binding");
    for (int64_t batch = 1; batch <= 3; batch += 2) {
        bnn_session_options o = bnn_session_defaults();
        o.backward = true;
        bnn_session *s;
        cr_assert_eq(bnn_session_create_batch(g, batch, &o, &s, &diag), BNN_OK, "%s", diag.message);
        float *xv = bnn_session_input(s, 0)->data;
        for (int64_t i = 0; i < batch * 2; i++)
            xv[i] = (float)i;
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
        const bnn_tensor *out = bnn_session_output(s, 0);
        bnn_shape want = { 3, { batch, 1, 2 } };
        cr_assert(bnn_shape_equal(&out->shape, &want));
        for (int64_t i = 0; i < batch * 2; i++)
            cr_assert_float_eq(((const float *)out->data)[i], (float)i + tokv[i % 2], 0);
        bnn_session_zero_grads(s);
        float *gy = bnn_session_grad(s, y)->data;
        for (int64_t i = 0; i < batch * 2; i++)
            gy[i] = 1.0f + (float)(i % 2);
        cr_assert_eq(bnn_session_backward(s, &diag), BNN_OK, "%s", diag.message);
        const float *gt = bnn_session_grad(s, tok)->data;
        cr_assert_float_eq(gt[0], (float)batch, 0, "d/d tok[0] = %g at batch %lld", gt[0], (long long)batch);
        cr_assert_float_eq(gt[1], 2.0f * (float)batch, 0);
        bnn_session_destroy(s);
    }
    bnn_graph_destroy(g);
}

/* Swin's window masks: range(0, shape(x)[0] * 2, 3) as i64 and a float
 * range(0.5, cast(shape(x)[1]), 1) are open until a session binds x, then
 * have their ONNX lengths and values at every batch. */
Test(shape_eval, range_over_computed_bounds_gets_its_length_at_binding)
{
    bnn_graph *g = bnn_graph_create("ranges");
    int64_t xd[2] = { bnn_graph_symbol(g, "N"), 5 };
    int x = add_value(g, "x", BNN_F32, 2, xd);
    bnn_graph_add_input(g, x);
    bnn_shape scalar = { .rank = 0 };
    int64_t zero = 0, two = 2, three = 3;
    float half = 0.5f, onef = 1.0f;
    int z = bnn_graph_add_param(g, "zero", BNN_I64, &scalar, &zero, sizeof zero, false);
    int t2 = bnn_graph_add_param(g, "two", BNN_I64, &scalar, &two, sizeof two, false);
    int t3 = bnn_graph_add_param(g, "three", BNN_I64, &scalar, &three, sizeof three, false);
    int fh = bnn_graph_add_param(g, "half", BNN_F32, &scalar, &half, sizeof half, false);
    int f1 = bnn_graph_add_param(g, "onef", BNN_F32, &scalar, &onef, sizeof onef, false);
    int sh = add_node(g, BNN_OP_SHAPE, "shape", &x, 1);
    int idx0 = bnn_graph_add_param(g, "i0", BNN_I64, &scalar, &zero, sizeof zero, false);
    int64_t one_v = 1;
    int idx1 = bnn_graph_add_param(g, "i1", BNN_I64, &scalar, &one_v, sizeof one_v, false);
    int g0_in[2] = { sh, idx0 }, g1_in[2] = { sh, idx1 };
    int n0 = add_node(g, BNN_OP_GATHER, "batch", g0_in, 2);
    int n1 = add_node(g, BNN_OP_GATHER, "width", g1_in, 2);
    int m_in[2] = { n0, t2 };
    int lim = add_node(g, BNN_OP_MUL, "twice", m_in, 2);
    int r_in[3] = { z, lim, t3 };
    int r = add_node(g, BNN_OP_RANGE, "steps", r_in, 3);
    int wf = add_node(g, BNN_OP_CAST, "width_f", &n1, 1);
    bnn_node_set_int(g, g->n_nodes - 1, "to", BNN_F32);
    int rf_in[3] = { fh, wf, f1 };
    int rf = add_node(g, BNN_OP_RANGE, "halves", rf_in, 3);
    bnn_graph_add_output(g, r);
    bnn_graph_add_output(g, rf);
    bnn_diag diag = { 0 };
    cr_assert_eq(bnn_graph_infer(g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(g->values[r].shape.dims[0], BNN_DIM_UNKNOWN, "open before binding");
    for (int64_t batch = 1; batch <= 4; batch += 3) {
        bnn_session *s;
        cr_assert_eq(bnn_session_create_batch(g, batch, NULL, &s, &diag), BNN_OK, "%s", diag.message);
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
        const bnn_tensor *a = bnn_session_output(s, 0), *b = bnn_session_output(s, 1);
        int64_t want = (2 * batch + 2) / 3; /* ceil(2 batch / 3) */
        cr_assert_eq(a->shape.rank, 1);
        cr_assert_eq(a->shape.dims[0], want, "batch %lld: %lld steps", (long long)batch,
                     (long long)a->shape.dims[0]);
        for (int64_t i = 0; i < want; i++)
            cr_assert_eq(((const int64_t *)a->data)[i], 3 * i);
        cr_assert_eq(b->shape.dims[0], 5, "ceil(5 - 0.5) elements");
        for (int64_t i = 0; i < 5; i++)
            cr_assert_float_eq(((const float *)b->data)[i], 0.5f + (float)i, 0);
        bnn_session_destroy(s);
    }
    bnn_graph_destroy(g);
}

/* x[:, k:] with k = shape(x)[1] - 2 computed (Swin's window shift): the
 * slice's starts and ends are inputs until a session binds x, then its
 * attributes, and the slice runs at every width. */
Test(shape_eval, slice_with_computed_bounds_runs_at_every_width)
{
    bnn_graph *g = bnn_graph_create("shift");
    int64_t xd[2] = { 2, bnn_graph_symbol(g, "W") };
    int x = add_value(g, "x", BNN_F32, 2, xd);
    bnn_graph_add_input(g, x);
    bnn_shape one = { .rank = 1, .dims = { 1 } };
    int64_t two = 2, big = INT64_MAX;
    int t2 = bnn_graph_add_param(g, "two", BNN_I64, &one, &two, sizeof two, false);
    int end = bnn_graph_add_param(g, "end", BNN_I64, &one, &big, sizeof big, false);
    int w = add_node(g, BNN_OP_SHAPE, "width", &x, 1);
    bnn_node_set_int(g, g->n_nodes - 1, "start", 1);
    int sub_in[2] = { w, t2 };
    int k = add_node(g, BNN_OP_SUB, "k", sub_in, 2);
    int s_in[3] = { x, k, end };
    int y = add_node(g, BNN_OP_SLICE, "tail", s_in, 3);
    int64_t axis = 1;
    bnn_node_set_ints(g, g->n_nodes - 1, "axes", &axis, 1);
    bnn_graph_add_output(g, y);
    bnn_diag diag = { 0 };
    cr_assert_eq(bnn_graph_infer(g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(g->values[y].shape.dims[0], 2);
    cr_assert_eq(g->values[y].shape.dims[1], BNN_DIM_UNKNOWN, "open before binding");
    for (int64_t width = 3; width <= 6; width += 3) {
        bnn_shape xs = { 2, { 2, width } };
        bnn_session *s;
        cr_assert_eq(bnn_session_create(g, &xs, NULL, &s, &diag), BNN_OK, "%s", diag.message);
        float *xv = bnn_session_input(s, 0)->data;
        for (int64_t i = 0; i < 2 * width; i++)
            xv[i] = (float)i;
        cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
        const bnn_tensor *out = bnn_session_output(s, 0);
        bnn_shape want = { 2, { 2, 2 } };
        cr_assert(bnn_shape_equal(&out->shape, &want), "width %lld", (long long)width);
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 2; j++)
                cr_assert_float_eq(((const float *)out->data)[r * 2 + j],
                                   (float)(r * width + width - 2 + j), 0);
        bnn_session_destroy(s);
    }
    bnn_graph_destroy(g);
}
