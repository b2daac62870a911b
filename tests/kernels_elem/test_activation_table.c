/* The table-driven check behind docs/adding-an-op.md: every op that takes one
 * f32 input and keeps its shape (found by asking shape inference, not by a
 * list) must have a plain reference here, in refs[], or name the test that
 * covers it, in tested_elsewhere[].  So an activation added to ops.def with
 * its inference and kernel but no reference fails this test, naming the op.
 *
 * Each reference is checked against the kernel forward (ONNX's default
 * attributes, then other values), and the kernel's backward against finite
 * differences away from the reference's kinks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

/* ---- the references ------------------------------------------------------ */

typedef double (*ref_fn)(double x, double alpha, double beta, double gamma);

typedef struct activation_ref {
    bnn_op op;
    ref_fn ref;
    double lo, hi;                   /* input range */
    double alpha, beta, gamma;       /* ONNX's defaults (0 where the op has none) */
    double alpha2, beta2, gamma2;    /* other values to set (NAN: not an attribute) */
} activation_ref;

/* ONNX HardSigmoid: max(0, min(1, alpha * x + beta)). */
static double ref_hard_sigmoid(double x, double alpha, double beta, double gamma)
{
    (void)gamma;
    double v = alpha * x + beta;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* ONNX HardSwish: x * max(0, min(1, x / 6 + 0.5)). */
static double ref_hard_swish(double x, double alpha, double beta, double gamma)
{
    (void)alpha;
    (void)beta;
    (void)gamma;
    double v = x / 6 + 0.5;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}

/* ONNX ThresholdedRelu: y = x for x > alpha, y = 0 otherwise. */
static double ref_thresholded_relu(double x, double alpha, double beta, double gamma)
{
    (void)beta;
    (void)gamma;
    return x > alpha ? x : 0;
}

/* ONNX Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). */
static double ref_celu(double x, double alpha, double beta, double gamma)
{
    (void)beta;
    (void)gamma;
    return fmax(0, x) + fmin(0, alpha * (exp(x / alpha) - 1));
}

/* ONNX Gelu, x * Phi(x): exactly (gamma 0, approximate "none"), or with
 * the tanh form of Phi (gamma 1, approximate "tanh"). */
static double ref_gelu(double x, double alpha, double beta, double gamma)
{
    (void)alpha;
    (void)beta;
    if (gamma != 0)
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * erfc(-x / sqrt(2));
}

/* ONNX Mish: x * tanh(softplus(x)). */
static double ref_mish(double x, double alpha, double beta, double gamma)
{
    (void)alpha;
    (void)beta;
    (void)gamma;
    return x * tanh(log1p(exp(x)));
}

/* ONNX Shrink with lambd in alpha and bias in beta. */
static double ref_shrink(double x, double lambd, double bias, double gamma)
{
    (void)gamma;
    return x < -lambd ? x + bias : x > lambd ? x - bias : 0;
}

/* The math functions without attributes: ONNX defines them as the functions
 * of the same name (radians; the hyperbolic ones as usual). */
#define PLAIN_REF(name)                                                            \
    static double ref_##name(double x, double alpha, double beta, double gamma)   \
    {                                                                              \
        (void)alpha;                                                               \
        (void)beta;                                                                \
        (void)gamma;                                                               \
        return name(x);                                                            \
    }
PLAIN_REF(cos)
PLAIN_REF(sin)
PLAIN_REF(tan)
PLAIN_REF(acos)
PLAIN_REF(asin)
PLAIN_REF(atan)
PLAIN_REF(cosh)
PLAIN_REF(sinh)
PLAIN_REF(acosh)
PLAIN_REF(asinh)
PLAIN_REF(atanh)
PLAIN_REF(erf)
PLAIN_REF(ceil)
PLAIN_REF(floor)

/* ONNX Round: the nearest integer, a half to the even one of its two. */
static double ref_round(double x, double alpha, double beta, double gamma)
{
    (void)alpha;
    (void)beta;
    (void)gamma;
    double below = floor(x), frac = x - below;
    if (frac < 0.5)
        return below;
    if (frac > 0.5)
        return below + 1;
    return fmod(below, 2) == 0 ? below : below + 1;
}

/* The input ranges keep to each function's domain (acos, asin: [-1, 1];
 * acosh: [1, inf); atanh: (-1, 1)) and away from its poles (tan: pi/2) and
 * ends, where near_kink would take the steep slope for a kink and step out
 * of the range. */
static const activation_ref refs[] = {
    {BNN_OP_HARD_SIGMOID, ref_hard_sigmoid, -6, 6, 0.2, 0.5, 0, 0.35, -0.25, NAN},
    {BNN_OP_HARD_SWISH, ref_hard_swish, -6, 6, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_THRESHOLDED_RELU, ref_thresholded_relu, -3, 3, 1, 0, 0, -0.5, NAN, NAN},
    {BNN_OP_CELU, ref_celu, -4, 4, 1, 0, 0, 0.4, NAN, NAN},
    {BNN_OP_GELU, ref_gelu, -5, 5, 0, 0, 0, NAN, NAN, 1},
    {BNN_OP_MISH, ref_mish, -6, 6, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_SHRINK, ref_shrink, -4, 4, 0.5, 0, 0, 1.5, 0.75, NAN},
    {BNN_OP_COS, ref_cos, -4, 4, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_SIN, ref_sin, -4, 4, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_TAN, ref_tan, -0.9, 0.9, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ACOS, ref_acos, -0.8, 0.8, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ASIN, ref_asin, -0.8, 0.8, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ATAN, ref_atan, -5, 5, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_COSH, ref_cosh, -3, 3, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_SINH, ref_sinh, -3, 3, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ACOSH, ref_acosh, 1.25, 6, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ASINH, ref_asinh, -5, 5, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ATANH, ref_atanh, -0.7, 0.7, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ERF, ref_erf, -3, 3, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_CEIL, ref_ceil, -4, 4, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_FLOOR, ref_floor, -4, 4, 0, 0, 0, NAN, NAN, NAN},
    {BNN_OP_ROUND, ref_round, -4, 4, 0, 0, 0, NAN, NAN, NAN},
};
#define N_REFS (sizeof refs / sizeof refs[0])

/* One-input, shape-keeping ops whose kernels other tests check. */
static const struct {
    bnn_op op;
    const char *where;
} tested_elsewhere[] = {
    {BNN_OP_RELU, "test_unary.c"},       {BNN_OP_LEAKY_RELU, "test_unary.c"},
    {BNN_OP_ELU, "test_unary.c"},        {BNN_OP_SELU, "test_unary.c"},
    {BNN_OP_SIGMOID, "test_unary.c"},    {BNN_OP_TANH, "test_unary.c"},
    {BNN_OP_SOFTPLUS, "test_unary.c"},   {BNN_OP_SOFTSIGN, "test_unary.c"},
    {BNN_OP_EXP, "test_unary.c"},        {BNN_OP_LOG, "test_unary.c"},
    {BNN_OP_SQRT, "test_unary.c"},       {BNN_OP_RECIPROCAL, "test_unary.c"},
    {BNN_OP_ABS, "test_unary.c"},        {BNN_OP_NEG, "test_unary.c"},
    {BNN_OP_IDENTITY, "test_unary.c"},   {BNN_OP_DROPOUT, "test_unary.c"},
    {BNN_OP_CLIP, "test_unary.c"},       {BNN_OP_SOFTMAX, "test_softmax.c"},
    {BNN_OP_LOG_SOFTMAX, "test_softmax.c"}, {BNN_OP_FLATTEN, "test_layout.c"},
    {BNN_OP_SQUEEZE, "test_layout.c"},   {BNN_OP_RANDOM_NORMAL_LIKE, "test_random.c"},
    {BNN_OP_SIGN, "test_logic.c"},       {BNN_OP_MAX, "test_multiway.c"},
    {BNN_OP_MIN, "test_multiway.c"},     {BNN_OP_SUM, "test_multiway.c"},
    {BNN_OP_MEAN, "test_multiway.c"},     {BNN_OP_TRILU, "test_layout.c"},
    {BNN_OP_EYE_LIKE, "test_layout.c"}, {BNN_OP_HARDMAX, "test_select.c"},
};
#define N_ELSEWHERE (sizeof tested_elsewhere / sizeof tested_elsewhere[0])

/* ---- which ops need one -------------------------------------------------- */

/* Whether shape inference takes a node of op with one input x: f32[2,3] and
 * no attributes, and gives one output f32[2,3]: the ops an activation table
 * must cover. */
static bool keeps_one_f32_input(bnn_op op)
{
    const bnn_op_info *info = bnn_op_get(op);
    if (info->min_inputs != 1 || info->n_outputs != 1)
        return false;
    bnn_graph *g = bnn_graph_create("probe");
    cr_assert_not_null(g);
    bnn_shape s = {.rank = 2, .dims = {2, 3}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &s);
    int y = bnn_graph_add_value(g, "y", BNN_UNDEFINED, &(bnn_shape){.rank = -1});
    cr_assert_eq(bnn_graph_add_input(g, x), BNN_OK);
    cr_assert_geq(bnn_graph_add_node(g, op, "n", &x, 1, &y, 1), 0);
    bnn_diag diag = {0};
    bool keeps = bnn_graph_infer(g, &diag) == BNN_OK && g->values[y].dtype == BNN_F32 &&
                 bnn_shape_equal(&g->values[y].shape, &s);
    bnn_graph_destroy(g);
    return keeps;
}

static const activation_ref *ref_of(bnn_op op)
{
    for (size_t i = 0; i < N_REFS; i++)
        if (refs[i].op == op)
            return &refs[i];
    return NULL;
}

static const char *tested_in(bnn_op op)
{
    for (size_t i = 0; i < N_ELSEWHERE; i++)
        if (tested_elsewhere[i].op == op)
            return tested_elsewhere[i].where;
    return NULL;
}

Test(activation_table, every_shape_keeping_one_input_op_has_a_reference)
{
    int probed = 0;
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        if (!keeps_one_f32_input((bnn_op)op))
            continue;
        probed++;
        cr_expect(ref_of((bnn_op)op) || tested_in((bnn_op)op),
                  "op '%s' takes one f32 input and keeps its shape, but has no reference: add a "
                  "row to refs[] in tests/kernels_elem/test_activation_table.c "
                  "(docs/adding-an-op.md)",
                  bnn_op_get((bnn_op)op)->name);
    }
    /* the probe itself works: relu is found, and so is every reference */
    cr_assert(keeps_one_f32_input(BNN_OP_RELU));
    cr_assert_not(keeps_one_f32_input(BNN_OP_TRANSPOSE));
    for (size_t i = 0; i < N_REFS; i++)
        cr_expect(keeps_one_f32_input(refs[i].op), "%s", bnn_op_get(refs[i].op)->name);
    cr_assert_geq(probed, (int)N_REFS);
}

Test(activation_table, no_op_is_listed_twice)
{
    for (size_t i = 0; i < N_REFS; i++)
        cr_expect_null(tested_in(refs[i].op), "%s", bnn_op_get(refs[i].op)->name);
}

/* ---- forward and backward against the references ------------------------- */

/* The ops whose attributes are not called alpha, beta, gamma: the names of
 * the three slots, and for a string attribute in gamma's slot, the value
 * its 1 stands for ("none" for 0). */
static const struct {
    bnn_op op;
    const char *names[3];
    const char *gamma_string;
} renamed[] = {
    {BNN_OP_GELU, {"alpha", "beta", "approximate"}, "tanh"},
    {BNN_OP_SHRINK, {"lambd", "bias", "gamma"}, NULL},
};

static void set_if(ke_case *c, const activation_ref *r, int slot, double v)
{
    static const char *const plain[3] = {"alpha", "beta", "gamma"};
    const char *name = plain[slot], *string = NULL;
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        if (renamed[i].op == r->op) {
            name = renamed[i].names[slot];
            string = slot == 2 ? renamed[i].gamma_string : NULL;
        }
    if (isnan(v))
        return;
    if (string)
        ke_set_string(c, name, v != 0 ? string : "none");
    else
        ke_set_float(c, name, (float)v);
}

/* The attributes the reference uses: ONNX's defaults, or with SET the
 * row's other values, which are then set on the node too. */
static void use_attrs(ke_case *c, const activation_ref *r, bool set, double *alpha,
                      double *beta, double *gamma)
{
    *alpha = r->alpha;
    *beta = r->beta;
    *gamma = r->gamma;
    if (!set)
        return;
    set_if(c, r, 0, r->alpha2);
    set_if(c, r, 1, r->beta2);
    set_if(c, r, 2, r->gamma2);
    *alpha = isnan(r->alpha2) ? *alpha : r->alpha2;
    *beta = isnan(r->beta2) ? *beta : r->beta2;
    *gamma = isnan(r->gamma2) ? *gamma : r->gamma2;
}

static void check_forward(const activation_ref *r, const bnn_shape *shape, uint64_t seed,
                          bool set_attrs)
{
    ke_case *c = ke_create1(r->op, BNN_F32, 1, shape, shape);
    ke_fill(&c->inputs[0], seed, r->lo, r->hi);
    double alpha, beta, gamma;
    use_attrs(c, r, set_attrs, &alpha, &beta, &gamma);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t n = bnn_tensor_numel(&c->inputs[0]);
    for (int64_t i = 0; i < n; i++) {
        double x = ke_get(&c->inputs[0], i);
        double want = r->ref(x, alpha, beta, gamma), got = ke_get(&c->output, i);
        if (!(fabs(got - want) <= 2e-6 * (1 + fabs(want)))) {
            cr_expect_fail("%s(%g)%s: got %.9g, want %.9g", bnn_op_get(r->op)->name, x,
                           set_attrs ? " with attributes set" : "", got, want);
            break;
        }
    }
    ke_destroy(c);
}

Test(activation_table, forward_matches_the_reference)
{
    bnn_shape shapes[] = {KE_SCALAR, KE_SHAPE(7), KE_SHAPE(3, 5, 2), KE_SHAPE(0, 4),
                          KE_SHAPE(1100, 1000) /* threaded */};
    for (size_t k = 0; k < N_REFS; k++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            check_forward(&refs[k], &shapes[s], k * 10 + s, false);
            check_forward(&refs[k], &shapes[s], k * 10 + s, true);
        }
}

/* Random inputs never land on a half or an integer: ceil, floor and round
 * at the values where they differ from each other and from C's roundf, and
 * at those they must return unchanged (the sign of zero included).  The
 * references are checked on the same values. */
Test(activation_table, rounding_at_halves_integers_and_special_values)
{
    static const struct {
        float x, ceil, floor, round;
    } cases[] = {
        {0.5f, 1, 0, 0},         {1.5f, 2, 1, 2},          {2.5f, 3, 2, 2},
        {-0.5f, -0.0f, -1, -0.0f}, {-1.5f, -1, -2, -2},    {-2.5f, -2, -3, -2},
        {-4.5f, -4, -5, -4},     {2.3f, 3, 2, 2},          {0.9f, 1, 0, 1},
        {-0.2f, -0.0f, -1, -0.0f}, {3, 3, 3, 3},           {-7, -7, -7, -7},
        {0.0f, 0.0f, 0.0f, 0.0f}, {-0.0f, -0.0f, -0.0f, -0.0f},
        {8388609.0f, 8388609.0f, 8388609.0f, 8388609.0f}, /* 2^23 + 1 */
        {8388607.5f, 8388608.0f, 8388607.0f, 8388608.0f}, /* the last float half */
        {INFINITY, INFINITY, INFINITY, INFINITY}, {-INFINITY, -INFINITY, -INFINITY, -INFINITY},
        {NAN, NAN, NAN, NAN},
    };
    const int n = (int)(sizeof cases / sizeof cases[0]);
    const bnn_op ops[] = {BNN_OP_CEIL, BNN_OP_FLOOR, BNN_OP_ROUND};
    bnn_shape s = KE_SHAPE(n);
    for (int k = 0; k < 3; k++) {
        const activation_ref *r = ref_of(ops[k]);
        cr_assert_not_null(r);
        ke_case *c = ke_create1(ops[k], BNN_F32, 1, &s, &s);
        for (int i = 0; i < n; i++)
            ke_put(&c->inputs[0], i, cases[i].x);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < n; i++) {
            double want = k == 0 ? cases[i].ceil : k == 1 ? cases[i].floor : cases[i].round;
            double got = ke_get(&c->output, i), ref = r->ref(cases[i].x, 0, 0, 0);
            bool same = isnan(want) ? isnan(got) : got == want && !signbit(got) == !signbit(want);
            cr_expect(same, "%s(%g): got %g, want %g", bnn_op_get(ops[k])->name,
                      (double)cases[i].x, got, want);
            cr_expect(isnan(want) ? isnan(ref) : ref == want, "the reference of %s(%g) is %g, want %g",
                      bnn_op_get(ops[k])->name, (double)cases[i].x, ref, want);
        }
        ke_destroy(c);
    }
}

/* Whether the reference bends sharply near x (a kink such as hard_sigmoid's
 * ends): finite differences there say nothing about the gradient. */
static bool near_kink(const activation_ref *r, double x, double alpha, double beta, double gamma)
{
    const double d = 0.02;
    double left = (r->ref(x, alpha, beta, gamma) - r->ref(x - d, alpha, beta, gamma)) / d;
    double right = (r->ref(x + d, alpha, beta, gamma) - r->ref(x, alpha, beta, gamma)) / d;
    return fabs(right - left) > 0.05 * (1 + fabs(left));
}

/* At ONNX's defaults, then with the other attribute values set: a gradient
 * that ignores an attribute is wrong only away from its default (celu's
 * alpha = 1). */
static void check_gradient(const activation_ref *r, uint64_t seed, bool set_attrs)
{
    bnn_shape s = KE_SHAPE(4, 9);
    ke_case *c = ke_create1(r->op, BNN_F32, 1, &s, &s);
    ke_fill(&c->inputs[0], seed, r->lo, r->hi);
    double alpha, beta, gamma;
    use_attrs(c, r, set_attrs, &alpha, &beta, &gamma);
    float *x = c->inputs[0].data;
    for (int i = 0; i < 36; i++)
        while (near_kink(r, x[i], alpha, beta, gamma))
            x[i] += 0.05f;
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

Test(activation_table, gradients_match_finite_differences)
{
    for (size_t k = 0; k < N_REFS; k++) {
        const activation_ref *r = &refs[k];
        if (!bnn_kernel_get(r->op)->backward)
            continue;
        check_gradient(r, k + 1, false);
        if (!isnan(r->alpha2) || !isnan(r->beta2) || !isnan(r->gamma2))
            check_gradient(r, k + 1, true);
    }
}
