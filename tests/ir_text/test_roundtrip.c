/* Text -> graph -> text round trips on the canonical fixtures, and what the
 * parser makes of non-canonical but valid texts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* parse(text) prints back as text; parse(print(parse(text))) equals parse(text). */
static void check_fixture(const char *name)
{
    char *text = fixture_read(name);
    bnn_graph *g = parse_or_fail(text, name);
    char *printed = graph_to_text(g);
    cr_assert_str_eq(printed, text, "%s does not print back byte for byte", name);
    bnn_graph *again = parse_or_fail(printed, name);
    char why[256] = "";
    cr_assert(graph_equal(g, again, true, why, sizeof why), "%s: %s", name, why);
    bnn_graph_destroy(again);
    bnn_graph_destroy(g);
    free(printed);
    free(text);
}

Test(ir_text, roundtrip_lenet5) { check_fixture("lenet5.ir"); }
Test(ir_text, roundtrip_features) { check_fixture("features.ir"); }
Test(ir_text, roundtrip_minimal) { check_fixture("minimal.ir"); }

/* The fixture holds what it claims: the parsed graph has the expected contents. */
Test(ir_text, features_content)
{
    char *text = fixture_read("features.ir");
    bnn_graph *g = parse_or_fail(text, "features.ir");
    cr_assert_str_eq(g->name, "feature test");
    cr_assert_eq(g->onnx_opset, 17);
    cr_assert_eq(g->n_inputs, 4);
    cr_assert_eq(g->n_outputs, 3);
    cr_assert_eq(g->outputs[2], g->inputs[0], "an input may also be an output");

    const bnn_value *in = &g->values[g->inputs[1]];
    cr_assert_str_eq(in->name, "in put");
    cr_assert_eq(in->dtype, BNN_I64);
    cr_assert_eq(in->shape.rank, 2);
    cr_assert_eq(in->shape.dims[0], BNN_DIM_UNKNOWN);
    cr_assert(bnn_dim_is_symbol(in->shape.dims[1]));
    cr_assert_str_eq(g->symbols[bnn_dim_symbol_index(in->shape.dims[1])], "batch size");
    cr_assert_eq(g->values[g->inputs[2]].dtype, BNN_UNDEFINED);
    cr_assert_eq(g->values[g->inputs[2]].shape.rank, -1);
    cr_assert_eq(g->values[g->inputs[3]].shape.rank, 0);

    int id = bnn_graph_find_value(g, "onnx::Gemm_12");
    cr_assert_geq(id, 0);
    const float *f = g->values[id].data;
    cr_assert(isinf(f[0]) && f[0] > 0 && isinf(f[1]) && f[1] < 0 && isnan(f[2]));
    cr_assert(f[3] == 0.0f && signbit(f[3]));

    id = bnn_graph_find_value(g, "half");
    const uint16_t *h = g->values[id].data;
    cr_assert_eq(h[0], 0x2e66); /* 0.1 rounded to f16 */
    cr_assert_eq(h[1], 0xfbff); /* -65504 */
    cr_assert_eq(h[2], 0x0001); /* the smallest subnormal */
    cr_assert_eq(h[3], 0x3c00);
    id = bnn_graph_find_value(g, "brain");
    cr_assert_eq(((const uint16_t *)g->values[id].data)[2], 0x3f80);
    id = bnn_graph_find_value(g, "u64");
    cr_assert_eq(((const uint64_t *)g->values[id].data)[1], UINT64_MAX);
    id = bnn_graph_find_value(g, "i8");
    cr_assert_eq(((const int8_t *)g->values[id].data)[0], -128);
    id = bnn_graph_find_value(g, "big");
    cr_assert_eq(g->values[id].nbytes, 17 * 4);
    cr_assert(g->values[id].trainable);
    id = bnn_graph_find_value(g, "scalar");
    cr_assert_eq(g->values[id].shape.rank, 0);
    cr_assert_eq(*(const int64_t *)g->values[id].data, 42);

    int conv = bnn_graph_find_node(g, "conv1");
    cr_assert_geq(conv, 0);
    cr_assert_eq(g->nodes[conv].inputs[2], -1, "_ is an absent input");
    const bnn_attr *a = bnn_node_attr(&g->nodes[conv], "dilations");
    cr_assert(a && a->kind == BNN_ATTR_INTS && a->count == 0);

    int drop = bnn_graph_find_node(g, "/block/Dropout 1");
    cr_assert_geq(drop, 0);
    cr_assert_eq(g->nodes[drop].n_outputs, 2);
    cr_assert_str_eq(g->values[g->nodes[drop].outputs[1]].name, "second out");
    cr_assert_eq(bnn_node_int(&g->nodes[drop], "seed", 0), INT64_MIN);

    int pad = bnn_graph_find_node(g, "pad\n2");
    cr_assert_geq(pad, 0);
    cr_assert_str_eq(bnn_node_string(&g->nodes[pad], "mode", ""), "edge\t\"q\"\\ \x01\x7f \xc3\xa9");
    cr_assert_str_eq(bnn_node_string(&g->nodes[pad], "empty", "x"), "");
    cr_assert(isinf(bnn_node_float(&g->nodes[pad], "value", 0)));

    const bnn_node *lrelu = &g->nodes[drop + 1];
    cr_assert_eq(bnn_node_attr(lrelu, "alpha")->kind, BNN_ATTR_FLOAT);
    cr_assert_eq(bnn_node_attr(lrelu, "odd name")->kind, BNN_ATTR_INT);
    a = bnn_node_attr(lrelu, "none");
    cr_assert(a && a->kind == BNN_ATTR_FLOATS && a->count == 0);
    a = bnn_node_attr(lrelu, "gains");
    cr_assert(a && a->kind == BNN_ATTR_FLOATS && a->count == 7 && isnan(a->floats[4]));

    id = bnn_graph_find_value(g, "u");
    cr_assert_eq(g->values[id].dtype, BNN_UNDEFINED, "an untyped result");
    cr_assert_eq(g->values[id].shape.rank, -1);
    cr_assert_geq(bnn_graph_find_value(g, "%weird\"name"), 0);
    bnn_graph_destroy(g);
    free(text);
}

/* Comments, line breaks, spacing, lenient lists: printed canonically. */
Test(ir_text, canonical_form)
{
    const char *text =
        "// a comment before the graph\n"
        "graph   @g ( %x : f32 [ N , 4 ] )->(%y:f32[N,4]){ // header\n"
        "  %y = clip(%x, _, _)\n"
        "       {min=1, max=[1, 2.5], c=[3,4]:floats, d=1.5e3, e=-0, f=[]:ints, g=2E-1}\n"
        "       : f32[N, 4]   @'n'\n"
        "  return %y // done\n"
        "}\n// trailing\n";
    /* @'n' is not valid: single quotes are not strings. */
    bnn_graph *g = NULL;
    bnn_diag d = {0};
    cr_assert_neq(bnn_graph_parse(text, "c.ir", &g, &d), BNN_OK);
    cr_assert_null(g);
    char *fixed = strdup(text);
    char *q = strstr(fixed, "@'n'");
    memcpy(q, "@\"n\"", 4);
    g = parse_or_fail(fixed, "c.ir");
    char *printed = graph_to_text(g);
    cr_assert_str_eq(printed,
                     "graph @g(%x: f32[N,4]) -> (%y: f32[N,4]) {\n"
                     "  %y = clip(%x, _, _) {min=1, max=[1.0, 2.5], c=[3.0, 4.0], d=1500.0, "
                     "e=0, f=[]:ints, g=0.2} : f32[N,4] @n\n"
                     "  return %y\n"
                     "}\n");
    bnn_graph_destroy(g);
    free(printed);
    free(fixed);
}

/* Floats print with the fewest digits that read back to the same bits,
 * always marked as floats. */
Test(ir_text, float_attributes_exact)
{
    const float cases[] = {1.0f, 0.1f, -0.0f, 1e10f, 1.0f / 3.0f, 3.4028235e38f, 1.17549435e-38f,
                           1e-45f, 16777217.0f, -2.5f, 100.0f, 123456792.0f, 1500.0f, 1e-5f, INFINITY,
                           -INFINITY};
    const char *expect[] = {"1.0", "0.1", "-0.0", "1e+10", "0.33333334", "3.4028235e+38",
                            "1.1754944e-38", "1e-45", "16777216.0", "-2.5", "100.0",
                            "1.2345679e+08", "1500.0", "1e-05", "inf", "-inf"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bnn_graph *g = bnn_graph_create("f");
        bnn_shape s = {.rank = 1, .dims = {2}};
        int x = bnn_graph_add_value(g, "x", BNN_F32, &s);
        int y = bnn_graph_add_value(g, "y", BNN_F32, &s);
        bnn_graph_add_input(g, x);
        int n = bnn_graph_add_node(g, BNN_OP_LEAKY_RELU, "", &x, 1, &y, 1);
        bnn_node_set_float(g, n, "alpha", cases[i]);
        bnn_graph_add_output(g, y);
        char *text = graph_to_text(g);
        char want[64];
        snprintf(want, sizeof want, "{alpha=%s}", expect[i]);
        cr_assert(strstr(text, want), "case %zu: expected %s in\n%s", i, want, text);
        bnn_graph *back = parse_or_fail(text, "f.ir");
        float f = back->nodes[0].attrs[0].f;
        cr_assert_eq(memcmp(&f, &cases[i], 4), 0, "case %zu: %s read back differently", i, want);
        bnn_graph_destroy(back);
        bnn_graph_destroy(g);
        free(text);
    }
}

/* Value ids follow the text: inputs, then params, then results in order. */
Test(ir_text, value_ids_in_order_of_appearance)
{
    const char *text = "graph @g(%b: f32[2], %a: f32[2]) -> (%z: f32[2]) {\n"
                       "  param %p: f32[2]\n"
                       "  %z = add(%a, %p) : f32[2]\n"
                       "  %m, %n = identity(%b)\n"
                       "  return %z\n"
                       "}\n";
    bnn_graph *g = parse_or_fail(text, "o.ir");
    const char *names[] = {"b", "a", "p", "z", "m", "n"};
    cr_assert_eq(g->n_values, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(g->values[i].name, names[i]);
    cr_assert_eq(g->values[2].kind, BNN_VALUE_PARAM);
    cr_assert_eq(g->values[3].producer, 0);
    cr_assert_eq(g->values[5].producer, 1);
    cr_assert_eq(g->nodes[0].inputs[0], 1);
    bnn_graph_destroy(g);
}

/* Params without data parse zero-filled, of the right size. */
Test(ir_text, large_param_zero_filled)
{
    const char *text = "graph @g() -> () {\n"
                       "  param %w: f32[300,7] trainable\n"
                       "  param %k: i64[3]\n"
                       "  return\n"
                       "}\n";
    bnn_graph *g = parse_or_fail(text, "z.ir");
    const bnn_value *w = &g->values[0];
    cr_assert_eq(w->nbytes, 300 * 7 * 4);
    cr_assert(w->trainable);
    for (size_t i = 0; i < w->nbytes; i++)
        cr_assert_eq(((const unsigned char *)w->data)[i], 0);
    cr_assert_eq(g->values[1].nbytes, 24);
    char *printed = graph_to_text(g);
    cr_assert(strstr(printed, "param %k: i64[3] = [0, 0, 0]\n"), "small params print their data");
    cr_assert(strstr(printed, "param %w: f32[300,7] trainable\n"));
    free(printed);
    bnn_graph_destroy(g);
}

/* Shapes are what the text says: no inference, no arity or schema checks. */
Test(ir_text, no_inference_no_schema)
{
    const char *text = "graph @g(%x: f32[2,3]) -> (%y: i64[7]) {\n"
                       "  %y = relu(%x, %x, _) {bogus=\"yes\"} : i64[7]\n"
                       "  return %y\n"
                       "}\n";
    bnn_graph *g = parse_or_fail(text, "n.ir");
    cr_assert_eq(g->values[1].dtype, BNN_I64);
    cr_assert_eq(g->values[1].shape.dims[0], 7);
    cr_assert_eq(g->nodes[0].n_inputs, 3);
    char *printed = graph_to_text(g);
    cr_assert_str_eq(printed, text);
    free(printed);
    bnn_graph_destroy(g);
}

/* One symbol name is one symbol, however often it appears. */
Test(ir_text, symbols_shared)
{
    const char *text = "graph @g(%x: f32[N,\"N\",M]) -> (%y: f32[N,M]) {\n"
                       "  %y = identity(%x) : f32[N,M]\n"
                       "  return %y\n"
                       "}\n";
    bnn_graph *g = parse_or_fail(text, "s.ir");
    cr_assert_eq(g->n_symbols, 2, "\"N\" and N are the same symbol");
    cr_assert_eq(g->values[0].shape.dims[0], g->values[0].shape.dims[1]);
    cr_assert_eq(g->values[1].shape.dims[1], g->values[0].shape.dims[2]);
    char *printed = graph_to_text(g);
    cr_assert(strstr(printed, "f32[N,N,M]"), "%s", printed);
    free(printed);
    bnn_graph_destroy(g);
}
