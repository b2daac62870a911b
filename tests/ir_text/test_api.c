/* Graphs built with the bnn_graph_* API: print -> parse gives an equal graph,
 * and printing that again gives the same text. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static bnn_shape shape_of(int rank, const int64_t *dims)
{
    bnn_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    return s;
}

/* Every feature the text has to carry, built in the printer's order
 * (inputs, params, node results) so that value ids match too. */
static bnn_graph *build_graph(void)
{
    bnn_graph *g = bnn_graph_create("api \"graph\"\n");
    cr_assert(g);
    g->onnx_opset = 11;
    int64_t N = bnn_graph_symbol(g, "N");
    int64_t B = bnn_graph_symbol(g, "batch-size");

    bnn_shape xs = shape_of(4, (int64_t[]){N, 3, 4, 4});
    int x = bnn_graph_add_value(g, "x", BNN_F32, &xs);
    int t = bnn_graph_add_value(g, "onnx::t/0", BNN_I64, NULL); /* unknown rank */
    int64_t E = bnn_graph_symbol(g, ""); /* ONNX allows any dim_param, even "" */
    bnn_shape us = shape_of(3, (int64_t[]){B, BNN_DIM_UNKNOWN, E});
    int u = bnn_graph_add_value(g, "u", BNN_BF16, &us);
    cr_assert(x >= 0 && t >= 0 && u >= 0);
    bnn_graph_add_input(g, x);
    bnn_graph_add_input(g, t);
    bnn_graph_add_input(g, u);

    const float wdata[6] = {0.1f, -1e-30f, 3.4e38f, 1.0f / 3.0f, NAN, -0.0f};
    bnn_shape ws = shape_of(4, (int64_t[]){2, 3, 1, 1});
    int w = bnn_graph_add_param(g, "w", BNN_F32, &ws, wdata, sizeof wdata, true);
    float big[25];
    for (int i = 0; i < 25; i++)
        big[i] = (float)i + 0.5f;
    bnn_shape bs = shape_of(2, (int64_t[]){5, 5});
    int bigp = bnn_graph_add_param(g, "big", BNN_F32, &bs, big, sizeof big, false);
    const int32_t i32[3] = {INT32_MIN, 0, INT32_MAX};
    bnn_shape s3 = shape_of(1, (int64_t[]){3});
    int pi32 = bnn_graph_add_param(g, "i32", BNN_I32, &s3, i32, sizeof i32, false);
    const uint8_t flags[3] = {1, 0, 1};
    int pb = bnn_graph_add_param(g, "flags", BNN_BOOL, &s3, flags, sizeof flags, false);
    const uint16_t half[3] = {0x3555, 0x8001, 0x7bff};
    int ph = bnn_graph_add_param(g, "half", BNN_F16, &s3, half, sizeof half, true);
    const uint16_t brain[3] = {0x3dcd, 0xc2f7, 0x0001};
    int pbf = bnn_graph_add_param(g, "brain", BNN_BF16, &s3, brain, sizeof brain, false);
    const double f64[3] = {0.1, 1e-310, -123456789.125};
    int pd = bnn_graph_add_param(g, "f64", BNN_F64, &s3, f64, sizeof f64, false);
    const uint64_t u64[3] = {0, 1, UINT64_MAX};
    int pu = bnn_graph_add_param(g, "u64", BNN_U64, &s3, u64, sizeof u64, false);
    bnn_shape scalar = {.rank = 0};
    const int64_t one = 1;
    int ps = bnn_graph_add_param(g, "one", BNN_I64, &scalar, &one, sizeof one, false);
    cr_assert(w >= 0 && bigp >= 0 && pi32 >= 0 && pb >= 0 && ph >= 0 && pbf >= 0 && pd >= 0 &&
              pu >= 0 && ps >= 0);

    bnn_shape cs = shape_of(4, (int64_t[]){N, 2, 4, 4});
    int c = bnn_graph_add_value(g, "conv out", BNN_F32, &cs);
    int in1[] = {x, w, -1};
    int n1 = bnn_graph_add_node(g, BNN_OP_CONV, "conv/1", in1, 3, &c, 1);
    cr_assert_geq(n1, 0);
    cr_assert_eq(bnn_node_set_ints(g, n1, "strides", (int64_t[]){1, 1}, 2), BNN_OK);
    cr_assert_eq(bnn_node_set_ints(g, n1, "pads", NULL, 0), BNN_OK);
    cr_assert_eq(bnn_node_set_int(g, n1, "group", INT64_MAX), BNN_OK);
    cr_assert_eq(bnn_node_set_float(g, n1, "scale", 2.0f), BNN_OK);
    cr_assert_eq(bnn_node_set_floats(g, n1, "coeffs", (float[]){0.5f, -1e-20f, 7.0f}, 3), BNN_OK);
    cr_assert_eq(bnn_node_set_floats(g, n1, "no coeffs", NULL, 0), BNN_OK);
    cr_assert_eq(bnn_node_set_string(g, n1, "note", "tab\there \"quoted\" back\\slash \x1b"),
                 BNN_OK);

    int d1 = bnn_graph_add_value(g, "d1", BNN_F32, &cs);
    int d2 = bnn_graph_add_value(g, "2", BNN_F32, &cs);
    int n2 = bnn_graph_add_node(g, BNN_OP_DROPOUT, "", &c, 1, (int[]){d1, d2}, 2);
    cr_assert_geq(n2, 0);
    cr_assert_eq(bnn_node_set_float(g, n2, "ratio", 0.25f), BNN_OK);

    int r = bnn_graph_add_value(g, "r", BNN_UNDEFINED, NULL); /* not inferred yet */
    int n3 = bnn_graph_add_node(g, BNN_OP_RELU, "relu", &d2, 1, &r, 1);
    cr_assert_geq(n3, 0);

    int y = bnn_graph_add_value(g, "y", BNN_F32, &cs);
    int n4 = bnn_graph_add_node(g, BNN_OP_ADD, "", (int[]){d1, r}, 2, &y, 1);
    cr_assert_geq(n4, 0);
    bnn_graph_add_output(g, y);
    bnn_graph_add_output(g, t);
    return g;
}

Test(ir_text, api_graph_roundtrip)
{
    bnn_graph *g = build_graph();
    char *text = graph_to_text(g);
    bnn_graph *back = parse_or_fail(text, "api.ir");
    char why[256] = "";
    cr_assert(graph_equal(g, back, false, why, sizeof why), "%s\n%s", why, text);
    /* Same order of values, so the ids agree as well. */
    for (int v = 0; v < g->n_values; v++)
        cr_assert_str_eq(g->values[v].name, back->values[v].name);
    char *again = graph_to_text(back);
    cr_assert_str_eq(again, text);
    cr_assert(strstr(text, "%u: bf16[\"batch-size\",?,\"\"]"), "%s", text);
    /* The large param came back zero-filled, with the right size. */
    int big = bnn_graph_find_value(back, "big");
    cr_assert_eq(back->values[big].nbytes, 100);
    cr_assert_eq(((float *)back->values[big].data)[3], 0.0f);
    free(again);
    free(text);
    bnn_graph_destroy(back);
    bnn_graph_destroy(g);
}

/* A clone (which keeps large data) round-trips the same way. */
Test(ir_text, api_graph_clone_prints_same)
{
    bnn_graph *g = build_graph();
    bnn_graph *c = bnn_graph_clone(g);
    cr_assert(c);
    char *a = graph_to_text(g), *b = graph_to_text(c);
    cr_assert_str_eq(a, b);
    char why[256] = "";
    cr_assert(graph_equal(g, c, true, why, sizeof why), "%s", why);
    free(a);
    free(b);
    bnn_graph_destroy(c);
    bnn_graph_destroy(g);
}

/* Dead nodes are not printed; the rest still parses. */
Test(ir_text, dead_nodes_not_printed)
{
    bnn_graph *g = bnn_graph_create("d");
    bnn_shape s = {.rank = 1, .dims = {3}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &s);
    int a = bnn_graph_add_value(g, "a", BNN_F32, &s);
    int b = bnn_graph_add_value(g, "b", BNN_F32, &s);
    bnn_graph_add_input(g, x);
    bnn_graph_add_node(g, BNN_OP_RELU, "keep", &x, 1, &a, 1);
    int dead = bnn_graph_add_node(g, BNN_OP_TANH, "gone", &a, 1, &b, 1);
    g->nodes[dead].dead = true;
    bnn_graph_add_output(g, a);
    char *text = graph_to_text(g);
    cr_assert_null(strstr(text, "gone"), "%s", text);
    cr_assert_str_eq(text, "graph @d(%x: f32[3]) -> (%a: f32[3]) {\n"
                           "  %a = relu(%x) : f32[3] @keep\n"
                           "  return %a\n"
                           "}\n");
    bnn_graph *back = parse_or_fail(text, "d.ir");
    cr_assert_eq(back->n_nodes, 1);
    bnn_graph_destroy(back);
    bnn_graph_destroy(g);
    free(text);
}

/* A failing stream is reported. */
Test(ir_text, print_reports_write_errors)
{
    bnn_graph *g = build_graph();
    FILE *f = fopen("/dev/full", "w");
    if (!f)
        cr_skip_test("no /dev/full");
    setvbuf(f, NULL, _IONBF, 0);
    cr_assert_eq(bnn_graph_print(g, f), BNN_ERR_IO);
    fclose(f);
    bnn_graph_destroy(g);
}
