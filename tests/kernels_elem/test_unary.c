/* One-input ops: activations and math (f32), neg/abs (every type), identity,
 * clip, dropout; forward against the reference, gradients by finite
 * differences. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "harness.h"
#include "reference.h"

typedef struct act_case {
    bnn_op op;
    double lo, hi;       /* input range (log and sqrt need x > 0) */
    double alpha, gamma; /* the op's defaults (ONNX) */
} act_case;

static const act_case acts[] = {
    {BNN_OP_RELU, -3, 3, 0, 0},
    {BNN_OP_LEAKY_RELU, -3, 3, 0.01, 0},
    {BNN_OP_ELU, -3, 3, 1.0, 0},
    {BNN_OP_SELU, -3, 3, 1.67326319217681884765625, 1.05070102214813232421875},
    {BNN_OP_SIGMOID, -8, 8, 0, 0},
    {BNN_OP_TANH, -4, 4, 0, 0},
    {BNN_OP_SOFTPLUS, -8, 8, 0, 0},
    {BNN_OP_SOFTSIGN, -4, 4, 0, 0},
    {BNN_OP_EXP, -4, 4, 0, 0},
    {BNN_OP_LOG, 0.1, 5, 0, 0},
    {BNN_OP_SQRT, 0.1, 5, 0, 0},
    {BNN_OP_RECIPROCAL, 0.2, 5, 0, 0},
    {BNN_OP_ABS, -3, 3, 0, 0},
    {BNN_OP_NEG, -3, 3, 0, 0},
    {BNN_OP_IDENTITY, -3, 3, 0, 0},
};
#define N_ACTS (sizeof acts / sizeof acts[0])

static void check_act(const act_case *a, const bnn_shape *shape, uint64_t seed, bool set_attrs)
{
    ke_case *c = ke_create1(a->op, BNN_F32, 1, shape, shape);
    ke_fill(&c->inputs[0], seed, a->lo, a->hi);
    double alpha = a->alpha, gamma = a->gamma;
    if (set_attrs && (a->op == BNN_OP_LEAKY_RELU || a->op == BNN_OP_ELU || a->op == BNN_OP_SELU)) {
        alpha = 0.3;
        ke_set_float(c, "alpha", 0.3f);
        if (a->op == BNN_OP_SELU) {
            gamma = 2.0;
            ke_set_float(c, "gamma", 2.0f);
        }
    }
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t n = bnn_tensor_numel(&c->inputs[0]);
    for (int64_t i = 0; i < n; i++) {
        double x = ke_get(&c->inputs[0], i);
        double want = ref_unary(a->op, x, alpha, gamma), got = ke_get(&c->output, i);
        if (!(fabs(got - want) <= 2e-6 * (1 + fabs(want)))) {
            cr_expect_fail("%s(%g): got %.9g, want %.9g", bnn_op_get(a->op)->name, x, got, want);
            break;
        }
    }
    ke_destroy(c);
}

Test(kernels_elem, activations_forward)
{
    bnn_shape shapes[] = {KE_SCALAR, KE_SHAPE(7), KE_SHAPE(3, 5, 2), KE_SHAPE(0, 4),
                          KE_SHAPE(200, 300) /* threaded */};
    for (size_t k = 0; k < N_ACTS; k++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            check_act(&acts[k], &shapes[s], k * 10 + s, false);
            check_act(&acts[k], &shapes[s], k * 10 + s, true);
        }
}

Test(kernels_elem, activations_extreme_inputs)
{
    /* Stable forms: no overflow to inf/nan for large |x|. */
    bnn_shape s = KE_SHAPE(4);
    float xs[4] = {-100.0f, -30.0f, 30.0f, 100.0f};
    bnn_op ops[] = {BNN_OP_SIGMOID, BNN_OP_SOFTPLUS, BNN_OP_TANH, BNN_OP_SOFTSIGN};
    for (int k = 0; k < 4; k++) {
        ke_case *c = ke_create1(ops[k], BNN_F32, 1, &s, &s);
        memcpy(c->inputs[0].data, xs, sizeof xs);
        cr_assert_eq(ke_forward(c), BNN_OK);
        for (int i = 0; i < 4; i++) {
            double want = ops[k] == BNN_OP_SOFTPLUS ? (xs[i] > 0 ? xs[i] + log1p(exp(-xs[i]))
                                                                  : log1p(exp(xs[i])))
                                                    : ref_unary(ops[k], xs[i], 0, 0);
            double got = ke_get(&c->output, i);
            cr_expect(isfinite(got) && fabs(got - want) <= 1e-6 * (1 + fabs(want)),
                      "%s(%g) = %g, want %g", bnn_op_get(ops[k])->name, xs[i], got, want);
        }
        ke_destroy(c);
    }
}

/* The branch-free activations (vecmath.h: their own exp, expm1 and tanh)
 * keep their relative accuracy where the result is tiny, where exp(x) - 1
 * or 1 - exp(-2x) would cancel: within 4e-7 of the double reference,
 * relative, on inputs from 1e-7 to 20 of both signs, and NaN stays NaN. */
Test(kernels_elem, activations_relative_accuracy)
{
    enum { N = 2 * 160 + 1 };
    bnn_shape s = KE_SHAPE(N);
    bnn_op ops[] = {BNN_OP_TANH, BNN_OP_ELU, BNN_OP_SELU, BNN_OP_SIGMOID, BNN_OP_LEAKY_RELU};
    const double selu_alpha = 1.67326319217681884765625, selu_gamma = 1.05070102214813232421875;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        ke_case *c = ke_create1(ops[k], BNN_F32, 1, &s, &s);
        float *x = c->inputs[0].data;
        for (int i = 0; i < 160; i++) { /* 1e-7 .. 20, log-spaced, both signs */
            x[2 * i] = (float)(1e-7 * pow(2e8, i / 159.0));
            x[2 * i + 1] = -x[2 * i];
        }
        x[N - 1] = NAN;
        double alpha = ops[k] == BNN_OP_SELU ? selu_alpha : ops[k] == BNN_OP_LEAKY_RELU ? 0.01 : 1;
        double gamma = ops[k] == BNN_OP_SELU ? selu_gamma : 0;
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < N - 1; i++) {
            double want = ref_unary(ops[k], x[i], alpha, gamma), got = ke_get(&c->output, i);
            if (ops[k] == BNN_OP_ELU || ops[k] == BNN_OP_SELU) /* expm1, not exp - 1 */
                want = x[i] > 0 ? (ops[k] == BNN_OP_SELU ? gamma : 1) * x[i]
                                : (ops[k] == BNN_OP_SELU ? gamma : 1) * alpha * expm1(x[i]);
            cr_expect(fabs(got - want) <= 4e-7 * fabs(want) + 1e-30, "%s(%.9g) = %.9g, want %.9g",
                      bnn_op_get(ops[k])->name, x[i], got, want);
        }
        cr_expect(isnan(ke_get(&c->output, N - 1)), "%s(NaN) is not NaN",
                  bnn_op_get(ops[k])->name);
        ke_destroy(c);
    }
}

Test(kernels_elem, neg_abs_every_type)
{
    bnn_dtype dts[] = {BNN_F64, BNN_I8, BNN_I16, BNN_I32, BNN_I64};
    bnn_shape s = KE_SHAPE(3, 5);
    for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++)
        for (int neg = 0; neg < 2; neg++) {
            ke_case *c = ke_create1(neg ? BNN_OP_NEG : BNN_OP_ABS, dts[t], 1, &s, &s);
            ke_fill(&c->inputs[0], t, -100, 100);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            for (int64_t i = 0; i < 15; i++) {
                double x = ke_get(&c->inputs[0], i);
                cr_expect_eq(ke_get(&c->output, i), neg ? -x : fabs(x), "type %d", (int)dts[t]);
            }
            ke_destroy(c);
        }
    /* The most negative value wraps (ONNX, numpy), it does not trap. */
    ke_case *c = ke_create1(BNN_OP_ABS, BNN_I8, 1, &s, &s);
    ((int8_t *)c->inputs[0].data)[0] = INT8_MIN;
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(((int8_t *)c->output.data)[0], INT8_MIN);
    ke_destroy(c);
    /* Unsigned abs is the identity. */
    c = ke_create1(BNN_OP_ABS, BNN_U16, 1, &s, &s);
    ke_fill(&c->inputs[0], 5, 0, 60000);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, 30), 0);
    ke_destroy(c);
}

Test(kernels_elem, unsupported_type_names_node)
{
    bnn_shape s = KE_SHAPE(3);
    ke_case *c = ke_create1(BNN_OP_SIGMOID, BNN_I32, 1, &s, &s);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (sigmoid)") && strstr(c->diag.message, "i32"),
              "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, identity_any_type)
{
    bnn_dtype dts[] = {BNN_F32, BNN_U8, BNN_I64, BNN_F64, BNN_BOOL};
    bnn_shape s = KE_SHAPE(2, 9);
    for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
        ke_case *c = ke_create1(BNN_OP_IDENTITY, dts[t], 1, &s, &s);
        ke_fill(&c->inputs[0], t, 0, 1);
        cr_assert_eq(ke_forward(c), BNN_OK);
        cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, bnn_tensor_nbytes(&c->output)), 0);
        ke_destroy(c);
    }
}

static void expect_clipped(ke_case *c, double lo, double hi)
{
    int64_t n = bnn_tensor_numel(&c->inputs[0]);
    for (int64_t i = 0; i < n; i++) {
        double x = ke_get(&c->inputs[0], i), want = x < lo ? lo : x;
        want = want > hi ? hi : want;
        cr_expect_eq(ke_get(&c->output, i), want, "clip(%g) in [%g, %g]", x, lo, hi);
    }
}

Test(kernels_elem, clip_bounds_from_attrs_and_inputs)
{
    bnn_shape s = KE_SHAPE(4, 6);
    /* attributes */
    ke_case *c = ke_create1(BNN_OP_CLIP, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 1, -3, 3);
    ke_set_float(c, "min", -1.0f);
    ke_set_float(c, "max", 0.5f);
    cr_assert_eq(ke_forward(c), BNN_OK);
    expect_clipped(c, -1.0, 0.5);
    ke_destroy(c);
    /* no bound at all */
    c = ke_create1(BNN_OP_CLIP, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 2, -3, 3);
    cr_assert_eq(ke_forward(c), BNN_OK);
    expect_clipped(c, -INFINITY, INFINITY);
    ke_destroy(c);
    /* inputs: min absent, max present; and both, for several types */
    bnn_dtype dts[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U8, BNN_I32, BNN_I64};
    for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
        bnn_shape in[3] = {s, ke_absent(), KE_SCALAR};
        c = ke_create1(BNN_OP_CLIP, dts[t], 3, in, &s);
        bool u = dts[t] == BNN_U8;
        ke_fill(&c->inputs[0], t, u ? 0 : -50, 50);
        ke_put(&c->inputs[2], 0, 20);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        expect_clipped(c, -INFINITY, 20);
        ke_destroy(c);
        bnn_shape in2[3] = {s, KE_SCALAR, KE_SCALAR};
        c = ke_create1(BNN_OP_CLIP, dts[t], 3, in2, &s);
        ke_fill(&c->inputs[0], t + 7, u ? 0 : -50, 50);
        ke_put(&c->inputs[1], 0, u ? 10 : -10);
        ke_put(&c->inputs[2], 0, 30);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        expect_clipped(c, u ? 10 : -10, 30);
        ke_destroy(c);
    }
}

Test(kernels_elem, activation_gradients)
{
    bnn_shape s = KE_SHAPE(3, 7);
    for (size_t k = 0; k < N_ACTS; k++) {
        ke_case *c = ke_create1(acts[k].op, BNN_F32, 1, &s, &s);
        ke_fill(&c->inputs[0], k, acts[k].lo, acts[k].hi);
        /* away from kinks at 0 */
        float *x = c->inputs[0].data;
        for (int i = 0; i < 21; i++)
            if (fabsf(x[i]) < 0.05f)
                x[i] = 0.3f;
        ke_check_grad(c, 1, 1e-3, 1e-2, 100);
        ke_destroy(c);
    }
}

Test(kernels_elem, clip_gradient)
{
    bnn_shape s = KE_SHAPE(5, 5);
    ke_case *c = ke_create1(BNN_OP_CLIP, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 3, -3, 3);
    float *x = c->inputs[0].data;
    for (int i = 0; i < 25; i++)
        if (fabsf(x[i] + 1) < 0.05f || fabsf(x[i] - 1) < 0.05f)
            x[i] = 0;
    ke_set_float(c, "min", -1.0f);
    ke_set_float(c, "max", 1.0f);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

/* ---- dropout ------------------------------------------------------------ */

Test(kernels_elem, dropout_inference_is_identity)
{
    bnn_shape s = KE_SHAPE(10, 10);
    ke_case *c = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 1, -1, 1);
    ke_set_float(c, "ratio", 0.7f);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, 400), 0);
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK);
    for (int i = 0; i < 100; i++)
        cr_expect_eq(ke_grad(c, 0, i), 1.0);
    ke_destroy(c);
}

Test(kernels_elem, dropout_training)
{
    int64_t n = 100000;
    bnn_shape s = ke_shape(1, &n);
    ke_case *c = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 1, 0.5, 1.5); /* no zeros in x */
    c->training = true;
    c->seed = 42;
    float ratio = 0.3f;
    ke_set_float(c, "ratio", ratio);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    const float *x = c->inputs[0].data, *y = c->output.data;
    int64_t dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == 0) {
            dropped++;
        } else if (fabsf(y[i] - x[i] / (1 - ratio)) > 1e-6f) {
            cr_expect_fail("kept element %lld not scaled by 1/(1-ratio)", (long long)i);
            break;
        }
    }
    /* Binomial(n, 0.3): sd = sqrt(n * 0.21) = 145; allow 5 sd. */
    cr_expect(llabs(dropped - 30000) < 5 * 145, "dropped %lld of %lld", (long long)dropped,
              (long long)n);
    /* Same step: same mask, whatever the thread count; next step: another mask. */
    float *first = malloc((size_t)n * sizeof *first);
    memcpy(first, y, (size_t)n * sizeof *first);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(first, c->output.data, (size_t)n * sizeof *first), 0);
    omp_set_num_threads(4);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(first, c->output.data, (size_t)n * sizeof *first), 0);
    omp_set_num_threads(threads);
    /* Backward passes the gradient through the kept elements only. */
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK);
    for (int64_t i = 0; i < n; i++) {
        double want = y[i] == 0 ? 0 : 1 / (1 - (double)ratio);
        if (fabs(ke_grad(c, 0, i) - want) > 1e-6) {
            cr_expect_fail("grad %lld: %g, want %g", (long long)i, ke_grad(c, 0, i), want);
            break;
        }
    }
    c->step = 1;
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_neq(memcmp(first, c->output.data, (size_t)n * sizeof *first), 0);
    free(first);
    ke_destroy(c);
}

/* Rows 3.. of a batch, run alone with example offset 3, drop what they drop
 * in the whole batch (data-parallel shards, bnn_session_set_example_offset). */
Test(kernels_elem, dropout_shard_drops_as_whole_batch)
{
    bnn_shape ws = KE_SHAPE(5, 7, 3), ps = KE_SHAPE(2, 7, 3);
    ke_case *whole = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &ws, &ws);
    ke_case *part = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &ps, &ps);
    ke_fill(&whole->inputs[0], 3, 0.5, 1.5);
    memcpy(part->inputs[0].data, (float *)whole->inputs[0].data + 3 * 21, 2 * 21 * sizeof(float));
    ke_case *both[2] = {whole, part};
    for (int k = 0; k < 2; k++) {
        both[k]->training = true;
        both[k]->seed = 9;
        both[k]->step = 4;
        ke_set_float(both[k], "ratio", 0.5f);
    }
    part->example_offset = 3;
    cr_assert_eq(ke_forward(whole), BNN_OK, "%s", whole->diag.message);
    cr_assert_eq(ke_forward(part), BNN_OK, "%s", part->diag.message);
    cr_expect_eq(memcmp(part->output.data, (float *)whole->output.data + 3 * 21,
                        2 * 21 * sizeof(float)), 0, "the shard drops other elements");
    part->example_offset = 0;
    cr_assert_eq(ke_forward(part), BNN_OK);
    cr_expect_neq(memcmp(part->output.data, (float *)whole->output.data + 3 * 21,
                         2 * 21 * sizeof(float)), 0, "the offset changes nothing");
    ke_destroy(whole);
    ke_destroy(part);
}

Test(kernels_elem, dropout_gradient)
{
    bnn_shape s = KE_SHAPE(4, 8);
    ke_case *c = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], 1, -1, 1);
    c->training = true;
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

/* dropout_masked: dropout's y, and its mask as a second (bool) output. */
static ke_case *masked_case(int64_t n)
{
    bnn_shape s = ke_shape(1, &n), outs[2] = {s, s};
    bnn_dtype in_dt[1] = {BNN_F32}, out_dt[2] = {BNN_F32, BNN_BOOL};
    ke_case *c = ke_create_outputs(BNN_OP_DROPOUT_MASKED, 1, in_dt, &s, 2, out_dt, outs);
    ke_fill(&c->inputs[0], 5, 0.5, 1.5); /* no zeros in x */
    return c;
}

Test(kernels_elem, dropout_masked_inference_keeps_all)
{
    ke_case *c = masked_case(64);
    ke_set_float(c, "ratio", 0.9f);
    memset(c->extra_outputs[0].data, 0, 64);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, 64 * sizeof(float)), 0);
    for (int i = 0; i < 64; i++)
        cr_expect_eq(((const uint8_t *)c->extra_outputs[0].data)[i], 1, "mask %d", i);
    ke_destroy(c);
}

Test(kernels_elem, dropout_masked_training_mask_matches_drops)
{
    int64_t n = 5000;
    ke_case *c = masked_case(n);
    c->training = true;
    c->seed = 7;
    ke_set_float(c, "ratio", 0.4f);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    const float *x = c->inputs[0].data, *y = c->output.data;
    const uint8_t *m = c->extra_outputs[0].data;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        cr_assert(m[i] == 0 || m[i] == 1);
        kept += m[i];
        double want = m[i] ? x[i] / (1 - 0.4) : 0;
        if (fabs(y[i] - want) > 1e-5 * (1 + fabs(want))) {
            cr_expect_fail("element %lld: y %g, mask %d, x %g", (long long)i, y[i], m[i], x[i]);
            break;
        }
    }
    /* Binomial(5000, 0.6): sd 35; allow 5 sd. */
    cr_expect(llabs(kept - 3000) < 5 * 35, "kept %lld of %lld", (long long)kept, (long long)n);
    /* the same draws as dropout's own kernel */
    bnn_shape s = ke_shape(1, &n);
    ke_case *d = ke_create1(BNN_OP_DROPOUT, BNN_F32, 1, &s, &s);
    memcpy(d->inputs[0].data, x, (size_t)n * sizeof(float));
    d->training = true;
    d->seed = 7;
    d->node_id = c->node_id;
    ke_set_float(d, "ratio", 0.4f);
    cr_assert_eq(ke_forward(d), BNN_OK, "%s", d->diag.message);
    cr_expect_eq(memcmp(d->output.data, y, (size_t)n * sizeof(float)), 0);
    ke_destroy(d);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

Test(kernels_elem, clip_gradient_to_bound_inputs)
{
    bnn_shape s = KE_SHAPE(4, 5);
    bnn_shape in[3] = {s, KE_SCALAR, KE_SCALAR};
    ke_case *c = ke_create1(BNN_OP_CLIP, BNN_F32, 3, in, &s);
    ke_fill(&c->inputs[0], 8, -3, 3);
    float *x = c->inputs[0].data;
    for (int i = 0; i < 20; i++)
        if (fabsf(x[i] + 1) < 0.05f || fabsf(x[i] - 1.5f) < 0.05f)
            x[i] = 0;
    ke_put(&c->inputs[1], 0, -1);
    ke_put(&c->inputs[2], 0, 1.5);
    ke_check_grad(c, 7, 1e-3, 1e-2, 100);
    ke_destroy(c);
}
