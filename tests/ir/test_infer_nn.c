/* Shape inference of convolution, pooling, normalisation and loss ops. */
#include <criterion/criterion.h>

#include "helpers.h"

static bnn_graph *g;
static void setup(void) { g = bnn_graph_create("t"); }
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(infer_nn, .init = setup, .fini = teardown);

Test(infer_nn, conv2d_lenet_first_layer)
{
    int x = t_input(g, "x", BNN_F32, "N,1,28,28");
    int w = t_param(g, "w", BNN_F32, "6,1,5,5");
    int b = t_param(g, "b", BNN_F32, "6");
    int n = T_NODE(g, BNN_OP_CONV, "conv1", x, w, b);
    T_INTS(g, n, "pads", 2, 2, 2, 2);
    cr_assert_str_eq(t_infer(g, n), "f32[N,6,28,28]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV, "nopad", x, w)), "f32[N,6,24,24]");
}

Test(infer_nn, conv2d_strides_dilations_group_asymmetric_pads)
{
    int x = t_input(g, "x", BNN_F32, "1,4,10,10");
    int w = t_param(g, "w", BNN_F32, "8,4,3,3");
    int n = T_NODE(g, BNN_OP_CONV, "sd", x, w);
    T_INTS(g, n, "strides", 2, 2);
    T_INTS(g, n, "dilations", 2, 2);
    cr_assert_str_eq(t_infer(g, n), "f32[1,8,3,3]");
    int wg = t_param(g, "wg", BNN_F32, "8,2,3,3");
    int gr = T_NODE(g, BNN_OP_CONV, "grouped", x, wg);
    cr_assert_eq(bnn_node_set_int(g, gr, "group", 2), BNN_OK);
    cr_assert_str_eq(t_infer(g, gr), "f32[1,8,8,8]");
    int ap = T_NODE(g, BNN_OP_CONV, "asym", x, w);
    T_INTS(g, ap, "pads", 1, 0, 0, 0);
    cr_assert_str_eq(t_infer(g, ap), "f32[1,8,9,8]");
}

Test(infer_nn, conv_unknown_spatial_dims_propagate)
{
    int x = t_input(g, "x", BNN_F32, "N,1,?,H");
    int w = t_param(g, "w", BNN_F32, "6,1,5,5");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV, "c", x, w)), "f32[N,6,?,?]");
    int u = t_input(g, "u", BNN_F32, "*");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV, "cu", u, w)), "f32[?,6,?,?]");
}

Test(infer_nn, conv1d)
{
    int x = t_input(g, "x", BNN_F32, "N,2,10");
    int w = t_param(g, "w", BNN_F32, "4,2,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV, "c1", x, w)), "f32[N,4,8]");
    int x4 = t_input(g, "x4", BNN_F32, "N,2,10,10");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV, "c1bad", x4, w), "expected 4-D");
}

Test(infer_nn, conv_channel_and_group_errors)
{
    int x = t_input(g, "x", BNN_F32, "N,3,8,8");
    int w = t_param(g, "w", BNN_F32, "6,1,3,3");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV, "chan", x, w), "(3 channels)");
    int x8 = t_input(g, "x8", BNN_F32, "N,8,8,8");
    int w2 = t_param(g, "w2", BNN_F32, "6,2,3,3");
    int gm = T_NODE(g, BNN_OP_CONV, "grp", x8, w2);
    cr_assert_eq(bnn_node_set_int(g, gm, "group", 4), BNN_OK);
    t_infer_fails(g, gm, "not a multiple of group 4");
    int g0 = T_NODE(g, BNN_OP_CONV, "g0", x8, w2);
    cr_assert_eq(bnn_node_set_int(g, g0, "group", 0), BNN_OK);
    t_infer_fails(g, g0, "'group' is 0");
}

Test(infer_nn, conv_kernel_bigger_than_padded_input_fails)
{
    int x = t_input(g, "x", BNN_F32, "1,1,2,2");
    int w = t_param(g, "w", BNN_F32, "1,1,3,3");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV, "big", x, w), "bigger than");
    int p = T_NODE(g, BNN_OP_CONV, "padded", x, w);
    T_INTS(g, p, "pads", 1, 1, 0, 0);
    cr_assert_str_eq(t_infer(g, p), "f32[1,1,1,1]");
}

Test(infer_nn, conv_attribute_errors)
{
    int x = t_input(g, "x", BNN_F32, "1,1,8,8");
    int w = t_param(g, "w", BNN_F32, "1,1,3,3");
    int b = t_param(g, "b", BNN_F32, "2");
    int s = T_NODE(g, BNN_OP_CONV, "s3", x, w);
    T_INTS(g, s, "strides", 1, 1, 1);
    t_infer_fails(g, s, "'strides' has 3 values, expected 2");
    int z = T_NODE(g, BNN_OP_CONV, "s0", x, w);
    T_INTS(g, z, "strides", 1, 0);
    t_infer_fails(g, z, "'strides' has 0 at position 1");
    int k = T_NODE(g, BNN_OP_CONV, "kind", x, w);
    cr_assert_eq(bnn_node_set_int(g, k, "strides", 1), BNN_OK);
    t_infer_fails(g, k, "attribute 'strides' is int, expected ints");
    int np = T_NODE(g, BNN_OP_CONV, "negpad", x, w);
    T_INTS(g, np, "pads", -1, 0, 0, 0);
    t_infer_fails(g, np, "'pads' has -1");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV, "bias", x, w, b), "bias 'b'");
}

Test(infer_nn, conv_reparam_like_conv)
{
    int x = t_input(g, "x", BNN_F32, "N,1,28,28");
    int mu = t_param(g, "mu", BNN_F32, "6,1,5,5");
    int rho = t_param(g, "rho", BNN_F32, "6,1,5,5");
    int bmu = t_param(g, "bmu", BNN_F32, "6");
    int brho = t_param(g, "brho", BNN_F32, "6");
    int n = T_NODE(g, BNN_OP_CONV_REPARAM, "bconv", x, mu, rho, bmu, brho);
    T_INTS(g, n, "pads", 2, 2, 2, 2);
    cr_assert_str_eq(t_infer(g, n), "f32[N,6,28,28]");
    int x1 = t_input(g, "x1", BNN_F32, "N,6,10");
    int mu1 = t_param(g, "mu1", BNN_F32, "3,6,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV_REPARAM, "b1d", x1, mu1, mu1)), "f32[N,3,8]");
}

Test(infer_nn, conv_reparam_errors)
{
    int x = t_input(g, "x", BNN_F32, "N,1,28,28");
    int mu = t_param(g, "mu", BNN_F32, "6,1,5,5");
    int rho = t_param(g, "rho", BNN_F32, "6,1,3,3");
    int brho = t_param(g, "brho", BNN_F32, "6");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_REPARAM, "rhoshape", x, mu, rho), "expected the shape");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_REPARAM, "halfbias", x, mu, mu, -1, brho), "needs both");
    int x2 = t_input(g, "x2", BNN_F32, "N,28");
    int mu2 = t_param(g, "mu2", BNN_F32, "6,28");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_REPARAM, "flat", x2, mu2, mu2), "expected 3-D to 5-D");
}

Test(infer_nn, conv_transpose_reparam_like_conv_transpose)
{
    int x = t_input(g, "x", BNN_F32, "N,4,3,3");
    int mu = t_param(g, "mu", BNN_F32, "4,3,2,2");
    int bmu = t_param(g, "bmu", BNN_F32, "6");
    int n = T_NODE(g, BNN_OP_CONV_TRANSPOSE_REPARAM, "up", x, mu, mu, bmu, bmu);
    T_INTS(g, n, "strides", 2, 2);
    T_INTS(g, n, "output_padding", 1, 0);
    bnn_node_set_int(g, n, "group", 2);
    /* 2*(3-1) + 2 + output_padding: 7 and 6; M = 3 * group */
    cr_assert_str_eq(t_infer(g, n), "f32[N,6,7,6]");
    int x1 = t_input(g, "x1", BNN_F32, "N,2,5");
    int mu1 = t_param(g, "mu1", BNN_F32, "2,3,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONV_TRANSPOSE_REPARAM, "u1", x1, mu1, mu1)),
                     "f32[N,3,7]");
    /* the bias is input 3, checked against M like conv_transpose's */
    int b4 = t_param(g, "b4", BNN_F32, "4");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_TRANSPOSE_REPARAM, "badbias", x1, mu1, mu1, b4, b4),
                  "bias 'b4'");
    int rho = t_param(g, "rho", BNN_F32, "2,3,2");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_TRANSPOSE_REPARAM, "rhoshape", x1, mu1, rho),
                  "expected the shape");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONV_TRANSPOSE_REPARAM, "halfbias", x1, mu1, mu1, -1, b4),
                  "needs both");
}

/* ---- pools ---- */

Test(infer_nn, max_pool_basic_and_symbolic)
{
    int x = t_input(g, "x", BNN_F32, "N,6,28,28");
    int n = T_NODE(g, BNN_OP_MAX_POOL, "pool1", x);
    T_INTS(g, n, "kernel_shape", 2, 2);
    T_INTS(g, n, "strides", 2, 2);
    cr_assert_str_eq(t_infer(g, n), "f32[N,6,14,14]");
    int d = T_NODE(g, BNN_OP_MAX_POOL, "nostride", x);
    T_INTS(g, d, "kernel_shape", 3, 3);
    cr_assert_str_eq(t_infer(g, d), "f32[N,6,26,26]");
}

Test(infer_nn, pool_ceil_mode_follows_onnx)
{
    int x = t_input(g, "x", BNN_F32, "1,1,4,4");
    int n = T_NODE(g, BNN_OP_MAX_POOL, "ceil", x);
    T_INTS(g, n, "kernel_shape", 3, 3);
    T_INTS(g, n, "strides", 2, 2);
    cr_assert_eq(bnn_node_set_int(g, n, "ceil_mode", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[1,1,2,2]");
    cr_assert_eq(bnn_node_set_int(g, n, "ceil_mode", 0), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[1,1,1,1]");
    /* in 5, k 2, s 2, pads 1+1: a plain ceiling gives 4, but the 4th window
     * would start in the end padding, so ONNX (and PyTorch) give 3. */
    int y = t_input(g, "y", BNN_F32, "1,1,5");
    int m = T_NODE(g, BNN_OP_AVG_POOL, "lastwin", y);
    T_INTS(g, m, "kernel_shape", 2);
    T_INTS(g, m, "strides", 2);
    T_INTS(g, m, "pads", 1, 1);
    cr_assert_eq(bnn_node_set_int(g, m, "ceil_mode", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, m), "f32[1,1,3]");
}

Test(infer_nn, pool_dilations_and_3d)
{
    int x = t_input(g, "x", BNN_F32, "1,1,10");
    int n = T_NODE(g, BNN_OP_MAX_POOL, "dil", x);
    T_INTS(g, n, "kernel_shape", 3);
    T_INTS(g, n, "dilations", 2);
    cr_assert_str_eq(t_infer(g, n), "f32[1,1,6]");
    int v = t_input(g, "v", BNN_F32, "N,2,4,4,4");
    int p = T_NODE(g, BNN_OP_AVG_POOL, "p3", v);
    T_INTS(g, p, "kernel_shape", 2, 2, 2);
    cr_assert_eq(bnn_node_set_int(g, p, "count_include_pad", 1), BNN_OK);
    cr_assert_str_eq(t_infer(g, p), "f32[N,2,3,3,3]");
    int u = t_input(g, "u", BNN_F32, "*");
    int q = T_NODE(g, BNN_OP_MAX_POOL, "unk", u);
    T_INTS(g, q, "kernel_shape", 2, 2);
    cr_assert_str_eq(t_infer(g, q), "f32[?,?,?,?]");
}

Test(infer_nn, pool_errors)
{
    int x = t_input(g, "x", BNN_F32, "1,1,4,4");
    t_infer_fails(g, T_NODE(g, BNN_OP_MAX_POOL, "nokernel", x), "'kernel_shape' is required");
    int r = T_NODE(g, BNN_OP_MAX_POOL, "rank", x);
    T_INTS(g, r, "kernel_shape", 2);
    t_infer_fails(g, r, "kernel_shape expects 3-D");
    int b = T_NODE(g, BNN_OP_AVG_POOL, "big", x);
    T_INTS(g, b, "kernel_shape", 5, 5);
    t_infer_fails(g, b, "bigger than");
    int c = T_NODE(g, BNN_OP_AVG_POOL, "cip", x);
    T_INTS(g, c, "kernel_shape", 2, 2);
    cr_assert_eq(bnn_node_set_int(g, c, "count_include_pad", 3), BNN_OK);
    t_infer_fails(g, c, "count_include_pad");
    int i = t_input(g, "i", BNN_I64, "1,1,4,4");
    int t = T_NODE(g, BNN_OP_MAX_POOL, "ints", i);
    T_INTS(g, t, "kernel_shape", 2, 2);
    t_infer_fails(g, t, "expected a float type");
}

Test(infer_nn, global_pools)
{
    int x = t_input(g, "x", BNN_F32, "N,C,7,7");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_GLOBAL_AVG_POOL, "gap", x)), "f32[N,C,1,1]");
    int y = t_input(g, "y", BNN_F32, "N,3,5");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_GLOBAL_MAX_POOL, "gmp", y)), "f32[N,3,1]");
    int z = t_input(g, "z", BNN_F32, "N,3");
    t_infer_fails(g, T_NODE(g, BNN_OP_GLOBAL_AVG_POOL, "flat", z), "expected [N, C, spatial...]");
}

Test(infer_nn, batch_norm)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4,4");
    int s = t_param(g, "s", BNN_F32, "3");
    int bad = t_param(g, "bad", BNN_F32, "4");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_BATCH_NORM, "bn", x, s, s, s, s)), "f32[N,3,4,4]");
    t_infer_fails(g, T_NODE(g, BNN_OP_BATCH_NORM, "bnbad", x, s, bad, s, s), "input 'bad'");
    int i = t_param(g, "i", BNN_I64, "3");
    t_infer_fails(g, T_NODE(g, BNN_OP_BATCH_NORM, "bnint", x, s, s, i, s), "input 'i'");
}

/* nll_loss: the targets' shape for reduction "none", else a scalar; symbolic
 * dims meet between scores and targets. */
Test(infer_nn, nll_loss_shapes_by_reduction)
{
    int x = t_input(g, "x", BNN_F32, "N,5,6,?");
    int t = t_input(g, "t", BNN_I64, "?,6,7");
    int w = t_param(g, "w", BNN_F32, "5");
    int none = T_NODE(g, BNN_OP_NLL_LOSS, "none", x, t, w);
    cr_assert_eq(bnn_node_set_string(g, none, "reduction", "none"), BNN_OK);
    cr_assert_str_eq(t_infer(g, none), "f32[N,6,7]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_NLL_LOSS, "mean", x, t)), "f32[]");
    int sum = T_NODE(g, BNN_OP_NLL_LOSS, "sum", x, t, w);
    cr_assert_eq(bnn_node_set_string(g, sum, "reduction", "sum"), BNN_OK);
    cr_assert_str_eq(t_infer(g, sum), "f32[]");
    int t32 = t_input(g, "t32", BNN_I32, "N");
    int x2 = t_input(g, "x2", BNN_F32, "N,3");
    int none2 = T_NODE(g, BNN_OP_NLL_LOSS, "none2", x2, t32);
    cr_assert_eq(bnn_node_set_string(g, none2, "reduction", "none"), BNN_OK);
    cr_assert_str_eq(t_infer(g, none2), "f32[N]");
}

Test(infer_nn, nll_loss_errors_name_what_does_not_fit)
{
    int x = t_input(g, "x", BNN_F32, "4,5,6");
    t_infer_fails(g, T_NODE(g, BNN_OP_NLL_LOSS, "rank", x, t_input(g, "t1", BNN_I64, "4")),
                  "expected rank 2");
    t_infer_fails(g, T_NODE(g, BNN_OP_NLL_LOSS, "dims", x, t_input(g, "t2", BNN_I64, "4,7")),
                  "dims other than C");
    int t = t_input(g, "t", BNN_I64, "4,6");
    t_infer_fails(g, T_NODE(g, BNN_OP_NLL_LOSS, "float_target", x, t_input(g, "tf", BNN_F32, "4,6")),
                  "expected i32 or i64");
    t_infer_fails(g, T_NODE(g, BNN_OP_NLL_LOSS, "weight", x, t, t_param(g, "w4", BNN_F32, "4")),
                  "one weight per class");
    t_infer_fails(g, T_NODE(g, BNN_OP_NLL_LOSS, "vector", t_input(g, "v", BNN_F32, "5"), t),
                  "expected rank 2 or more");
    int bad = T_NODE(g, BNN_OP_NLL_LOSS, "reduction", x, t);
    cr_assert_eq(bnn_node_set_string(g, bad, "reduction", "max"), BNN_OK);
    t_infer_fails(g, bad, "not none, sum or mean");
}

/* softmax_cross_entropy_loss: the loss as nll_loss's, log_prob the scores'. */
Test(infer_nn, softmax_cross_entropy_loss_has_log_prob_shaped_like_the_scores)
{
    int in[2] = {t_input(g, "x", BNN_F32, "N,5,3"), t_input(g, "t", BNN_I32, "N,3")};
    bnn_shape unknown = {.rank = -1};
    int out[2] = {bnn_graph_add_value(g, "loss", BNN_UNDEFINED, &unknown),
                  bnn_graph_add_value(g, "log_prob", BNN_UNDEFINED, &unknown)};
    int n = bnn_graph_add_node(g, BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS, "sce", in, 2, out, 2);
    cr_assert_geq(n, 0);
    cr_assert_eq(bnn_node_set_string(g, n, "reduction", "none"), BNN_OK);
    cr_assert_str_eq(t_infer(g, n), "f32[N,3]");
    cr_assert_str_eq(t_type(g, out[1]), "f32[N,5,3]");
}
