/* Shape inference of elementwise, activation and linear ops. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"

static bnn_graph *g;
static void setup(void) { g = bnn_graph_create("t"); }
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(infer_elem, .init = setup, .fini = teardown);

/* ---- broadcasting binary ops ---- */

Test(infer_elem, binary_ops_broadcast_with_symbolic_batch)
{
    bnn_op ops[] = {BNN_OP_ADD, BNN_OP_SUB, BNN_OP_MUL, BNN_OP_DIV};
    int a = t_input(g, "a", BNN_F32, "N,3,1");
    int b = t_param(g, "b", BNN_F32, "4");
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "op%d", i);
        int n = T_NODE(g, ops[i], name, a, b);
        cr_assert_str_eq(t_infer(g, n), "f32[N,3,4]");
    }
}

Test(infer_elem, add_scalar_and_same_symbol)
{
    int s = t_param(g, "s", BNN_F32, "");
    int x = t_input(g, "x", BNN_F32, "N,5");
    int y = t_input(g, "y", BNN_F32, "N,1");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n1", s, x)), "f32[N,5]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n2", x, y)), "f32[N,5]");
}

Test(infer_elem, add_unknown_dims_take_the_known_side)
{
    int a = t_input(g, "a", BNN_F32, "?,3");
    int b = t_input(g, "b", BNN_F32, "5,1");
    int m = t_input(g, "m", BNN_F32, "M");
    int n = t_input(g, "n", BNN_F32, "N");
    int u = t_input(g, "u", BNN_F32, "*");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n1", a, b)), "f32[5,3]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n2", m, n)), "f32[?]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n3", a, u)), "f32[*]");
}

Test(infer_elem, add_mismatch_fails)
{
    int a = t_input(g, "a", BNN_F32, "2,3");
    int b = t_input(g, "b", BNN_F32, "4");
    t_infer_fails(g, T_NODE(g, BNN_OP_ADD, "plus", a, b), "do not broadcast");
}

Test(infer_elem, add_dtype_mismatch_fails_and_ints_work)
{
    int a = t_input(g, "a", BNN_F32, "3");
    int b = t_input(g, "b", BNN_I64, "3");
    t_infer_fails(g, T_NODE(g, BNN_OP_ADD, "mixed", a, b), "i64[3]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MUL, "ints", b, b)), "i64[3]");
}

Test(infer_elem, unknown_dtype_propagates_without_failing)
{
    int a = t_input(g, "a", BNN_UNDEFINED, "2");
    int b = t_input(g, "b", BNN_F32, "2");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_ADD, "n", a, b)), "f32[2]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_RELU, "r", a)), "?[2]");
}

/* ---- unary ---- */

Test(infer_elem, unary_ops_keep_type_and_shape)
{
    bnn_op ops[] = {BNN_OP_RELU,    BNN_OP_LEAKY_RELU, BNN_OP_ELU,      BNN_OP_SELU,
                    BNN_OP_SIGMOID, BNN_OP_TANH,       BNN_OP_SOFTPLUS, BNN_OP_SOFTSIGN,
                    BNN_OP_EXP,     BNN_OP_LOG,        BNN_OP_SQRT,     BNN_OP_ABS,
                    BNN_OP_NEG,     BNN_OP_IDENTITY,   BNN_OP_DROPOUT,  BNN_OP_CLIP,
                    BNN_OP_SOFTMAX, BNN_OP_LOG_SOFTMAX};
    int x = t_input(g, "x", BNN_F32, "N,3,?");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%zu", i);
        cr_assert_str_eq(t_infer(g, T_NODE(g, ops[i], name, x)), "f32[N,3,?]", "%s",
                         bnn_op_get(ops[i])->name);
    }
}

Test(infer_elem, float_activation_rejects_ints_relu_accepts)
{
    int x = t_input(g, "x", BNN_I64, "4");
    t_infer_fails(g, T_NODE(g, BNN_OP_SIGMOID, "sig", x), "expected a float type");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_RELU, "r", x)), "i64[4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_NEG, "ng", x)), "i64[4]");
    int f = t_input(g, "f", BNN_F64, "4");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_TANH, "t", f)), "f64[4]");
}

Test(infer_elem, wrong_attribute_kind_fails)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int n = T_NODE(g, BNN_OP_LEAKY_RELU, "lrelu", x);
    cr_assert_eq(bnn_node_set_int(g, n, "alpha", 1), BNN_OK);
    t_infer_fails(g, n, "attribute 'alpha' is int, expected float");
}

Test(infer_elem, dropout_ratio_out_of_range_fails)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int n = T_NODE(g, BNN_OP_DROPOUT, "drop", x);
    cr_assert_eq(bnn_node_set_float(g, n, "ratio", 1.5f), BNN_OK);
    t_infer_fails(g, n, "ratio");
}

Test(infer_elem, celu_alpha_zero_fails)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int n = T_NODE(g, BNN_OP_CELU, "celu", x);
    cr_assert_str_eq(t_infer(g, n), "f32[4]");
    cr_assert_eq(bnn_node_set_float(g, n, "alpha", -0.5f), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[4]");
    cr_assert_eq(bnn_node_set_float(g, n, "alpha", 0.0f), BNN_OK);
    t_infer_fails(g, n, "attribute 'alpha' is 0, expected a finite nonzero value");
    cr_assert_eq(bnn_node_set_float(g, n, "alpha", INFINITY), BNN_OK);
    t_infer_fails(g, n, "attribute 'alpha' is inf");
}

Test(infer_elem, prelu_slope_broadcasts_onto_x)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4,4");
    int s = t_param(g, "s", BNN_F32, "3,1,1");
    int bad = t_param(g, "bad", BNN_F32, "5");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_PRELU, "p", x, s)), "f32[N,3,4,4]");
    t_infer_fails(g, T_NODE(g, BNN_OP_PRELU, "pbad", x, bad), "does not broadcast");
}

Test(infer_elem, clip_bounds_must_be_scalars)
{
    int x = t_input(g, "x", BNN_F32, "N,3");
    int lo = t_param(g, "lo", BNN_F32, "");
    int hi = t_param(g, "hi", BNN_F32, "2");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CLIP, "c1", x, lo, -1)), "f32[N,3]");
    t_infer_fails(g, T_NODE(g, BNN_OP_CLIP, "c2", x, lo, hi), "expected a scalar");
}

Test(infer_elem, softmax_axis_checks)
{
    int x = t_input(g, "x", BNN_F32, "N,10");
    int a = T_NODE(g, BNN_OP_SOFTMAX, "sm", x);
    cr_assert_eq(bnn_node_set_int(g, a, "axis", -2), BNN_OK);
    cr_assert_str_eq(t_infer(g, a), "f32[N,10]");
    int b = T_NODE(g, BNN_OP_LOG_SOFTMAX, "lsm", x);
    cr_assert_eq(bnn_node_set_int(g, b, "axis", 2), BNN_OK);
    t_infer_fails(g, b, "axis 2 is out of range");
    int c = T_NODE(g, BNN_OP_SOFTMAX, "coerced", x);
    cr_assert_eq(bnn_node_set_int(g, c, "coerce", 1), BNN_OK);
    cr_assert_eq(bnn_node_set_int(g, c, "axis", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, c), "f32[N,10]");
    cr_assert_eq(bnn_node_set_int(g, c, "coerce", 2), BNN_OK);
    t_infer_fails(g, c, "coerce");
}

/* ---- common operand checks ---- */

Test(infer_elem, arity_and_absent_required_input_fail)
{
    int x = t_input(g, "x", BNN_F32, "4");
    t_infer_fails(g, T_NODE(g, BNN_OP_ADD, "three", x, x, x), "has 3 inputs, expected 2..2");
    t_infer_fails(g, T_NODE(g, BNN_OP_ADD, "absent", x, -1), "input 1 is required but absent");
    t_infer_fails(g, T_NODE(g, BNN_OP_RELU, "dangling", 77), "does not exist");
}

/* ---- dense, gemm, matmul ---- */

Test(infer_elem, dense_symbolic_batch)
{
    int x = t_input(g, "x", BNN_F32, "N,400");
    int w = t_param(g, "w", BNN_F32, "120,400");
    int b = t_param(g, "b", BNN_F32, "120");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DENSE, "fc", x, w, b)), "f32[N,120]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DENSE, "nobias", x, w, -1)), "f32[N,120]");
    int x3 = t_input(g, "x3", BNN_F32, "N,T,400");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DENSE, "seq", x3, w)), "f32[N,T,120]");
}

Test(infer_elem, dense_in_features_mismatch_fails)
{
    int x = t_input(g, "x", BNN_F32, "N,300");
    int w = t_param(g, "w", BNN_F32, "120,400");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE, "fc1", x, w),
                  "input 'x' has shape f32[N,300], weight expects 400 features");
}

Test(infer_elem, dense_bad_bias_weight_and_type_fail)
{
    int x = t_input(g, "x", BNN_F32, "N,400");
    int w = t_param(g, "w", BNN_F32, "120,400");
    int b = t_param(g, "b", BNN_F32, "100");
    int w3 = t_param(g, "w3", BNN_F32, "1,120,400");
    int xd = t_input(g, "xd", BNN_F64, "N,400");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE, "fcb", x, w, b), "bias 'b'");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE, "fcw", x, w3), "expected 2-D");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE, "fcd", xd, w), "expected f32");
}

Test(infer_elem, gemm_transposes_and_bias)
{
    int a = t_input(g, "a", BNN_F32, "4,3");
    int b = t_input(g, "b", BNN_F32, "5,3");
    int c = t_param(g, "c", BNN_F32, "5");
    int n = T_NODE(g, BNN_OP_GEMM, "gm", a, b, c);
    cr_assert_eq(bnn_node_set_int(g, n, "trans_b", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[4,5]");
    int at = t_input(g, "at", BNN_F32, "3,N");
    int m = T_NODE(g, BNN_OP_GEMM, "gt", at, b, -1);
    cr_assert_eq(bnn_node_set_int(g, m, "trans_a", 1), BNN_OK);
    cr_assert_eq(bnn_node_set_int(g, m, "trans_b", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, m), "f32[N,5]");
}

Test(infer_elem, gemm_errors)
{
    int a = t_input(g, "a", BNN_F32, "4,3");
    int b = t_input(g, "b", BNN_F32, "5,3");
    int c = t_param(g, "c", BNN_F32, "3,5");
    int a3 = t_input(g, "a3", BNN_F32, "1,4,3");
    t_infer_fails(g, T_NODE(g, BNN_OP_GEMM, "k", a, b), "do not multiply");
    int n = T_NODE(g, BNN_OP_GEMM, "cb", a, b, c);
    cr_assert_eq(bnn_node_set_int(g, n, "trans_b", 1), BNN_OK);
    t_infer_fails(g, n, "does not broadcast to the product");
    int f = T_NODE(g, BNN_OP_GEMM, "flag", a, b);
    cr_assert_eq(bnn_node_set_int(g, f, "trans_b", 2), BNN_OK);
    t_infer_fails(g, f, "'trans_b' is 2");
    t_infer_fails(g, T_NODE(g, BNN_OP_GEMM, "r3", a3, b), "expected 2-D");
}

Test(infer_elem, matmul_numpy_cases)
{
    int m23 = t_input(g, "m23", BNN_F32, "2,3");
    int m34 = t_input(g, "m34", BNN_F32, "3,4");
    int v3 = t_input(g, "v3", BNN_F32, "3");
    int b4 = t_input(g, "b4", BNN_F32, "5,1,2,3");
    int b3 = t_input(g, "b3", BNN_F32, "4,3,6");
    int n3 = t_input(g, "n3", BNN_F32, "N,2,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "mm", m23, m34)), "f32[2,4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "vm", v3, m34)), "f32[4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "mv", m23, v3)), "f32[2]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "vv", v3, v3)), "f32[]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "bb", b4, b3)), "f32[5,4,2,6]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL, "nb", n3, m34)), "f32[N,2,4]");
}

Test(infer_elem, matmul_errors)
{
    int m23 = t_input(g, "m23", BNN_F32, "2,3");
    int b1 = t_input(g, "b1", BNN_F32, "2,3,4");
    int b2 = t_input(g, "b2", BNN_F32, "5,4,1");
    int s = t_input(g, "s", BNN_F32, "");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL, "k", m23, m23), "do not multiply");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL, "batch", b1, b2), "batch dims do not broadcast");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL, "scalar", s, m23), "is a scalar");
}

/* ---- Bayesian dense ---- */

Test(infer_elem, dense_reparam_like_dense)
{
    int x = t_input(g, "x", BNN_F32, "N,400");
    int mu = t_param(g, "mu", BNN_F32, "120,400");
    int rho = t_param(g, "rho", BNN_F32, "120,400");
    int bmu = t_param(g, "bmu", BNN_F32, "120");
    int brho = t_param(g, "brho", BNN_F32, "120");
    int n = T_NODE(g, BNN_OP_DENSE_REPARAM, "bfc", x, mu, rho, bmu, brho);
    cr_assert_eq(bnn_node_set_float(g, n, "prior_sigma", 0.1f), BNN_OK);
    cr_assert_eq(bnn_node_set_string(g, n, "estimator", "flipout"), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[N,120]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DENSE_REPARAM, "nob", x, mu, rho)), "f32[N,120]");
}

Test(infer_elem, dense_reparam_errors)
{
    int x = t_input(g, "x", BNN_F32, "N,400");
    int mu = t_param(g, "mu", BNN_F32, "120,400");
    int rho = t_param(g, "rho", BNN_F32, "120,300");
    int bmu = t_param(g, "bmu", BNN_F32, "120");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE_REPARAM, "rhobad", x, mu, rho), "expected the shape of 'mu'");
    t_infer_fails(g, T_NODE(g, BNN_OP_DENSE_REPARAM, "half", x, mu, mu, bmu), "needs both");
    int e = T_NODE(g, BNN_OP_DENSE_REPARAM, "est", x, mu, mu);
    cr_assert_eq(bnn_node_set_string(g, e, "estimator", "magic"), BNN_OK);
    t_infer_fails(g, e, "estimator");
    int s = T_NODE(g, BNN_OP_DENSE_REPARAM, "sigma", x, mu, mu);
    cr_assert_eq(bnn_node_set_float(g, s, "prior_sigma", -1.0f), BNN_OK);
    t_infer_fails(g, s, "prior_sigma");
}
