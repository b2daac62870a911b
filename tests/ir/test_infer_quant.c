/* Shape inference of the linear quantization family: quantize_linear,
 * dequantize_linear, dynamic_quantize_linear. */
#include <criterion/criterion.h>

#include "helpers.h"

static bnn_graph *g;
static void setup(void) { g = bnn_graph_create("t"); }
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(infer_quant, .init = setup, .fini = teardown);

static int with_int(int node, const char *name, int64_t v)
{
    cr_assert_eq(bnn_node_set_int(g, node, name, v), BNN_OK);
    return node;
}

Test(infer_quant, quantize_types_and_scales)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4");
    int s = t_param(g, "s", BNN_F32, "");
    int s3 = t_param(g, "s3", BNN_F32, "3");
    int s5 = t_param(g, "s5", BNN_F32, "5");
    int zi8 = t_param(g, "zi8", BNN_I8, "");
    int z3 = t_param(g, "z3", BNN_U16, "3");
    int zi32 = t_param(g, "zi32", BNN_I32, "");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "q", x, s)), "u8[N,3,4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qi", x, s, zi8)), "i8[N,3,4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qa", x, s3, z3)), "u16[N,3,4]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qo", x, s), "output_dtype",
                                         BNN_I16)), "i16[N,3,4]");
    t_infer_fails(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "q5", x, s5), "does not fit dim 1");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qx", x, s3), "axis", 3), "out of range");
    t_infer_fails(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qz", x, s3, zi8), "does not match scale");
    t_infer_fails(g, T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "q32", x, s, zi32), "supported: u8");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qb", x, s), "block_size", 2),
                  "blocked quantization");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_QUANTIZE_LINEAR, "qod", x, s, zi8), "output_dtype", BNN_U8),
                  "differs from zero point");
}

Test(infer_quant, dequantize_and_dynamic)
{
    int q = t_input(g, "q", BNN_U8, "2,3");
    int i32 = t_input(g, "i32", BNN_I32, "2,3");
    int f = t_input(g, "f", BNN_F32, "N,7");
    int s = t_param(g, "s", BNN_F32, "");
    int zu8 = t_param(g, "zu8", BNN_U8, "");
    int zi8 = t_param(g, "zi8", BNN_I8, "");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DEQUANTIZE_LINEAR, "d", q, s, zu8)), "f32[2,3]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_DEQUANTIZE_LINEAR, "d32", i32, s)), "f32[2,3]");
    t_infer_fails(g, T_NODE(g, BNN_OP_DEQUANTIZE_LINEAR, "dz", q, s, zi8), "has type i8[] but input 'q'");
    t_infer_fails(g, T_NODE(g, BNN_OP_DEQUANTIZE_LINEAR, "df", f, s), "supported: u8");
    int outs[3];
    for (int k = 0; k < 3; k++)
        outs[k] = bnn_graph_add_value(g, NULL, BNN_UNDEFINED, NULL);
    int dq = bnn_graph_add_node(g, BNN_OP_DYNAMIC_QUANTIZE_LINEAR, "dq", &f, 1, outs, 3);
    cr_assert_str_eq(t_infer(g, dq), "u8[N,7]");
    const bnn_node *n = bnn_graph_node(g, dq);
    cr_expect_eq(bnn_graph_value(g, n->outputs[1])->dtype, BNN_F32);
    cr_expect_eq(bnn_graph_value(g, n->outputs[1])->shape.rank, 0);
    cr_expect_eq(bnn_graph_value(g, n->outputs[2])->dtype, BNN_U8);
    for (int k = 0; k < 3; k++)
        outs[k] = bnn_graph_add_value(g, NULL, BNN_UNDEFINED, NULL);
    t_infer_fails(g, bnn_graph_add_node(g, BNN_OP_DYNAMIC_QUANTIZE_LINEAR, "dqq", &q, 1, outs, 3),
                  "expected");
}

Test(infer_quant, integer_matmuls)
{
    int a = t_input(g, "a", BNN_U8, "N,1,3,4");
    int b = t_input(g, "b", BNN_I8, "5,4,2");
    int a1 = t_input(g, "a1", BNN_U8, "4");
    int bf = t_input(g, "bf", BNN_F32, "4,2");
    int za = t_param(g, "za", BNN_U8, "3");
    int zb = t_param(g, "zb", BNN_I8, "2");
    int zb3 = t_param(g, "zb3", BNN_I8, "3");
    int s = t_param(g, "s", BNN_F32, "");
    int s2 = t_param(g, "s2", BNN_F32, "2");
    int zu = t_param(g, "zu", BNN_U8, "");
    int zi = t_param(g, "zi", BNN_I8, "");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL_INTEGER, "m", a, b, za, zb)), "i32[N,5,3,2]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_MATMUL_INTEGER, "m2", a, b)), "i32[N,5,3,2]");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL_INTEGER, "mz", a, b, za, zb3), "one per row");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL_INTEGER, "m1", a1, b), "fewer than 2 dims");
    t_infer_fails(g, T_NODE(g, BNN_OP_MATMUL_INTEGER, "mf", a, bf), "supported: u8");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_QLINEAR_MATMUL, "q", a, s, zu, b, s, zi, s, zi)),
                     "i8[N,5,3,2]");
    t_infer_fails(g, T_NODE(g, BNN_OP_QLINEAR_MATMUL, "qs", a, s, zu, b, s2, zi, s, zi), "per-tensor");
}
