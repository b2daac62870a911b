/* Shape inference of layout ops: flatten, reshape, transpose, concat,
 * squeeze, unsqueeze, pad, shape, gather; trilu, eye_like, constant_of_shape,
 * and the index family: gather_elements, scatter_elements, one_hot. */
#include <criterion/criterion.h>

#include "helpers.h"

static bnn_graph *g;
static void setup(void) { g = bnn_graph_create("t"); }
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(infer_layout, .init = setup, .fini = teardown);

static int with_int(int node, const char *name, int64_t v)
{
    cr_assert_eq(bnn_node_set_int(g, node, name, v), BNN_OK);
    return node;
}

Test(infer_layout, flatten_axes)
{
    int x = t_input(g, "x", BNN_F32, "N,16,5,5");
    int y = t_input(g, "y", BNN_I64, "2,3,4");
    int z = t_input(g, "z", BNN_F32, "2,N,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_FLATTEN, "f", x)), "f32[N,400]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_FLATTEN, "f0", y), "axis", 0)), "i64[1,24]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_FLATTEN, "fm", y), "axis", -1)), "i64[6,4]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_FLATTEN, "fr", y), "axis", 3)), "i64[24,1]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_FLATTEN, "f2", x), "axis", 2)), "f32[?,25]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_FLATTEN, "fz", z)), "f32[2,?]");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_FLATTEN, "fbad", y), "axis", 4), "axis 4 is out of range");
}

Test(infer_layout, reshape_keeps_batch_symbol)
{
    int x = t_input(g, "x", BNN_F32, "N,16,5,5");
    int a = T_NODE(g, BNN_OP_RESHAPE, "r1", x);
    T_INTS(g, a, "shape", -1, 400);
    cr_assert_str_eq(t_infer(g, a), "f32[N,400]");
    int b = T_NODE(g, BNN_OP_RESHAPE, "r2", x);
    T_INTS(g, b, "shape", 0, -1);
    cr_assert_str_eq(t_infer(g, b), "f32[N,400]");
    int c = T_NODE(g, BNN_OP_RESHAPE, "r3", x);
    T_INTS(g, c, "shape", 0, 16, 25);
    cr_assert_str_eq(t_infer(g, c), "f32[N,16,25]");
    int d = T_NODE(g, BNN_OP_RESHAPE, "r4", x);
    T_INTS(g, d, "shape", -1);
    cr_assert_str_eq(t_infer(g, d), "f32[?]");
}

Test(infer_layout, reshape_concrete_and_allowzero)
{
    int y = t_input(g, "y", BNN_F32, "2,3,4");
    int a = T_NODE(g, BNN_OP_RESHAPE, "a", y);
    T_INTS(g, a, "shape", 4, -1);
    cr_assert_str_eq(t_infer(g, a), "f32[4,6]");
    int e = t_input(g, "e", BNN_F32, "0,3");
    int z = T_NODE(g, BNN_OP_RESHAPE, "z", e);
    T_INTS(g, z, "shape", 0, 3);
    with_int(z, "allowzero", 1);
    cr_assert_str_eq(t_infer(g, z), "f32[0,3]");
}

Test(infer_layout, reshape_errors)
{
    int y = t_input(g, "y", BNN_F32, "2,3,4");
    int a = T_NODE(g, BNN_OP_RESHAPE, "notmult", y);
    T_INTS(g, a, "shape", 5, -1);
    t_infer_fails(g, a, "not a multiple of the 5");
    int b = T_NODE(g, BNN_OP_RESHAPE, "count", y);
    T_INTS(g, b, "shape", 4, 5);
    t_infer_fails(g, b, "has 24 elements, attribute 'shape' makes 20");
    int c = T_NODE(g, BNN_OP_RESHAPE, "twoinf", y);
    T_INTS(g, c, "shape", -1, -1);
    t_infer_fails(g, c, "more than one -1");
    int d = T_NODE(g, BNN_OP_RESHAPE, "zeroinf", y);
    T_INTS(g, d, "shape", 0, -1);
    with_int(d, "allowzero", 1);
    t_infer_fails(g, d, "both 0 and -1");
    int e = T_NODE(g, BNN_OP_RESHAPE, "copy", y);
    T_INTS(g, e, "shape", 2, 3, 4, 0);
    t_infer_fails(g, e, "copies dim 3");
    t_infer_fails(g, T_NODE(g, BNN_OP_RESHAPE, "noshape", y), "needs attribute 'shape'");
}

Test(infer_layout, reshape_with_computed_shape_input)
{
    int x = t_input(g, "x", BNN_F32, "N,4");
    int s = t_input(g, "s", BNN_I64, "3");
    int f = t_input(g, "f", BNN_F32, "3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_RESHAPE, "dyn", x, s)), "f32[?,?,?]");
    t_infer_fails(g, T_NODE(g, BNN_OP_RESHAPE, "dynf", x, f), "expected i64");
    int both = T_NODE(g, BNN_OP_RESHAPE, "both", x, s);
    T_INTS(g, both, "shape", 4, -1);
    t_infer_fails(g, both, "has both");
}

/* Expand to a shape the model computes: rank from the shape's length, x's
 * dims where they are known and not 1 (broadcasting keeps them), the rest
 * open until a session evaluates the shape (tests/runtime: test_shape_eval). */
Test(infer_layout, expand_with_computed_shape_input)
{
    int tok = t_input(g, "tok", BNN_F32, "1,1,8");
    int s3 = t_input(g, "s3", BNN_I64, "3");
    int s4 = t_input(g, "s4", BNN_I64, "4");
    int open = t_input(g, "open", BNN_I64, "?");
    int f = t_input(g, "f", BNN_F32, "3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_EXPAND, "cls", tok, s3)), "f32[?,?,8]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_EXPAND, "up", tok, s4)), "f32[?,?,?,8]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_EXPAND, "len", tok, open)), "f32[*]");
    t_infer_fails(g, T_NODE(g, BNN_OP_EXPAND, "fl", tok, f), "expected i64");
    int both = T_NODE(g, BNN_OP_EXPAND, "both", tok, s3);
    T_INTS(g, both, "shape", 2, 1, 8);
    t_infer_fails(g, both, "has both");
    t_infer_fails(g, T_NODE(g, BNN_OP_EXPAND, "none", tok), "needs attribute 'shape'");
}

/* Slice bounds the model computes (inputs 1 and 2): the sliced axes are open
 * until a session evaluates them, the others keep their dims. */
Test(infer_layout, slice_with_computed_bounds)
{
    int x = t_input(g, "x", BNN_F32, "N,8,8,4");
    int s2 = t_input(g, "s2", BNN_I64, "2");
    int e2 = t_input(g, "e2", BNN_I64, "2");
    int e3 = t_input(g, "e3", BNN_I64, "3");
    int open = t_input(g, "open", BNN_I64, "?");
    int f = t_input(g, "f", BNN_F32, "2");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SLICE, "first2", x, s2, e2)), "f32[?,?,8,4]");
    int ax = T_NODE(g, BNN_OP_SLICE, "hw", x, s2, e2);
    T_INTS(g, ax, "axes", 1, 2);
    cr_assert_str_eq(t_infer(g, ax), "f32[N,?,?,4]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SLICE, "which", x, open, open)), "f32[?,?,?,?]");
    t_infer_fails(g, T_NODE(g, BNN_OP_SLICE, "len", x, s2, e3), "differ in length");
    t_infer_fails(g, T_NODE(g, BNN_OP_SLICE, "fl", x, f, e2), "expected i64 or i32");
    int both = T_NODE(g, BNN_OP_SLICE, "both", x, s2, e2);
    T_INTS(g, both, "starts", 0);
    t_infer_fails(g, both, "has both");
}

Test(infer_layout, transpose)
{
    int x = t_input(g, "x", BNN_F32, "N,3,5");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_TRANSPOSE, "rev", x)), "f32[5,3,N]");
    int p = T_NODE(g, BNN_OP_TRANSPOSE, "perm", x);
    T_INTS(g, p, "perm", 0, 2, 1);
    cr_assert_str_eq(t_infer(g, p), "f32[N,5,3]");
    int d = T_NODE(g, BNN_OP_TRANSPOSE, "dup", x);
    T_INTS(g, d, "perm", 0, 0, 1);
    t_infer_fails(g, d, "not a permutation");
    int l = T_NODE(g, BNN_OP_TRANSPOSE, "len", x);
    T_INTS(g, l, "perm", 1, 0);
    t_infer_fails(g, l, "has 2 values");
}

Test(infer_layout, concat)
{
    int a = t_input(g, "a", BNN_F32, "N,3");
    int b = t_input(g, "b", BNN_F32, "N,5");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_CONCAT, "c", a, b), "axis", 1)), "f32[N,8]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_CONCAT, "cm", a, b, a), "axis", -1)),
                     "f32[N,11]");
    int c = t_input(g, "cc", BNN_F32, "2,3");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_CONCAT, "c0", a, c), "axis", 0)), "f32[?,3]");
}

Test(infer_layout, concat_errors)
{
    int a = t_input(g, "a", BNN_F32, "2,3");
    int b = t_input(g, "b", BNN_F32, "4,3");
    int r = t_input(g, "r", BNN_F32, "2");
    int i = t_input(g, "i", BNN_I64, "2,3");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONCAT, "noaxis", a, b), "'axis' is required");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_CONCAT, "dims", a, b), "axis", 1), "differ in dim 0");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_CONCAT, "rank", a, r), "axis", 0), "differ in rank");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_CONCAT, "types", a, i), "axis", 0), "i64[2,3]");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_CONCAT, "range", a, b), "axis", 2), "out of range");
}

Test(infer_layout, squeeze)
{
    int x = t_input(g, "x", BNN_F32, "N,1,3,1");
    int a = T_NODE(g, BNN_OP_SQUEEZE, "s", x);
    T_INTS(g, a, "axes", 1, -1);
    cr_assert_str_eq(t_infer(g, a), "f32[N,3]");
    int y = t_input(g, "y", BNN_F32, "2,1,3");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SQUEEZE, "all", y)), "f32[2,3]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SQUEEZE, "maybe", x)), "f32[*]");
    int b = T_NODE(g, BNN_OP_SQUEEZE, "notone", x);
    T_INTS(g, b, "axes", 2);
    t_infer_fails(g, b, "it is not 1");
    int c = T_NODE(g, BNN_OP_SQUEEZE, "range", x);
    T_INTS(g, c, "axes", 4);
    t_infer_fails(g, c, "out of range");
    int d = T_NODE(g, BNN_OP_SQUEEZE, "rep", x);
    T_INTS(g, d, "axes", 1, 1);
    t_infer_fails(g, d, "repeats");
}

Test(infer_layout, unsqueeze)
{
    int x = t_input(g, "x", BNN_F32, "N,3");
    int a = T_NODE(g, BNN_OP_UNSQUEEZE, "u", x);
    T_INTS(g, a, "axes", 0, 3);
    cr_assert_str_eq(t_infer(g, a), "f32[1,N,3,1]");
    int b = T_NODE(g, BNN_OP_UNSQUEEZE, "neg", x);
    T_INTS(g, b, "axes", -1);
    cr_assert_str_eq(t_infer(g, b), "f32[N,3,1]");
    t_infer_fails(g, T_NODE(g, BNN_OP_UNSQUEEZE, "noaxes", x), "'axes' is required");
    int c = T_NODE(g, BNN_OP_UNSQUEEZE, "range", x);
    T_INTS(g, c, "axes", 3);
    t_infer_fails(g, c, "out of range");
}

Test(infer_layout, pad_with_attribute)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4,4");
    int a = T_NODE(g, BNN_OP_PAD, "p", x);
    T_INTS(g, a, "pads", 0, 0, 1, 2, 0, 0, 3, 4);
    cr_assert_str_eq(t_infer(g, a), "f32[N,3,8,10]");
    int y = t_input(g, "y", BNN_F32, "1,1,4,4");
    int b = T_NODE(g, BNN_OP_PAD, "crop", y);
    T_INTS(g, b, "pads", 0, 0, -1, 0, 0, 0, 0, -1);
    cr_assert_eq(bnn_node_set_string(g, b, "mode", "edge"), BNN_OK);
    cr_assert_str_eq(t_infer(g, b), "f32[1,1,3,3]");
}

Test(infer_layout, pad_errors)
{
    int x = t_input(g, "x", BNN_F32, "1,1,4,4");
    int a = T_NODE(g, BNN_OP_PAD, "count", x);
    T_INTS(g, a, "pads", 1, 1);
    t_infer_fails(g, a, "expected twice the rank");
    int b = T_NODE(g, BNN_OP_PAD, "mode", x);
    T_INTS(g, b, "pads", 0, 0, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(bnn_node_set_string(g, b, "mode", "wrap"), BNN_OK);
    t_infer_fails(g, b, "\"wrap\"");
    int c = T_NODE(g, BNN_OP_PAD, "neg", x);
    T_INTS(g, c, "pads", 0, 0, -3, 0, 0, 0, -3, 0);
    t_infer_fails(g, c, "negative size");
    int d = T_NODE(g, BNN_OP_PAD, "refl", x);
    T_INTS(g, d, "pads", 0, 0, 4, 0, 0, 0, 0, 0);
    cr_assert_eq(bnn_node_set_string(g, d, "mode", "reflect"), BNN_OK);
    t_infer_fails(g, d, "smaller than the dim");
    t_infer_fails(g, T_NODE(g, BNN_OP_PAD, "none", x), "needs attribute 'pads'");
}

Test(infer_layout, pad_with_computed_pads_input)
{
    int x = t_input(g, "x", BNN_F32, "N,3");
    int p = t_input(g, "pads", BNN_I64, "4");
    int q = t_input(g, "q", BNN_I64, "6");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_PAD, "dyn", x, p)), "f32[?,?]");
    t_infer_fails(g, T_NODE(g, BNN_OP_PAD, "dynbad", x, q), "does not fit");
}

Test(infer_layout, shape_slices)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4");
    int u = t_input(g, "u", BNN_F32, "*");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SHAPE, "s", x)), "i64[3]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_SHAPE, "s1", x), "start", 1)), "i64[2]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_SHAPE, "sm", x), "start", -1)), "i64[1]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_SHAPE, "em", x), "end", -1)), "i64[2]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_SHAPE, "s5", x), "start", 5)), "i64[0]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_SHAPE, "su", u)), "i64[?]");
}

Test(infer_layout, gather)
{
    int x = t_input(g, "x", BNN_F32, "5,4,3");
    int i = t_input(g, "i", BNN_I64, "2");
    int s = t_input(g, "s", BNN_I32, "");
    int f = t_input(g, "f", BNN_F32, "2");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_GATHER, "g1", x, i), "axis", 1)), "f32[5,2,3]");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_GATHER, "g0", x, s)), "f32[4,3]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_GATHER, "gm", x, i), "axis", -1)), "f32[5,4,2]");
    t_infer_fails(g, T_NODE(g, BNN_OP_GATHER, "gf", x, f), "expected i32 or i64");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_GATHER, "ga", x, i), "axis", 3), "out of range");
}

Test(infer_layout, trilu_and_eye_like)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4");
    int v = t_input(g, "v", BNN_F32, "4");
    int k = t_param(g, "k", BNN_I64, "");
    int kf = t_param(g, "kf", BNN_F32, "");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_TRILU, "t", x)), "f32[N,3,4]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_TRILU, "tk", x, k), "upper", 0)),
                     "f32[N,3,4]");
    t_infer_fails(g, T_NODE(g, BNN_OP_TRILU, "t1", v), "expected at least 2");
    t_infer_fails(g, T_NODE(g, BNN_OP_TRILU, "tf", x, kf), "expected i32 or i64");
    int m = t_input(g, "m", BNN_I32, "3,5");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_EYE_LIKE, "e", m)), "i32[3,5]");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_EYE_LIKE, "ed", m), "dtype", BNN_F64)),
                     "f64[3,5]");
    t_infer_fails(g, T_NODE(g, BNN_OP_EYE_LIKE, "e3", x), "expected 2");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_EYE_LIKE, "es", m), "dtype", BNN_STRING),
                  "attribute 'dtype'");
}

Test(infer_layout, pad_constant_input)
{
    int x = t_input(g, "x", BNN_F32, "N,3");
    int v = t_input(g, "v", BNN_F32, "");
    int vi = t_input(g, "vi", BNN_I64, "");
    int v2 = t_input(g, "v2", BNN_F32, "2");
    int p = T_NODE(g, BNN_OP_PAD, "p", x, -1, v);
    cr_assert_eq(bnn_node_set_ints(g, p, "pads", (int64_t[]){0, 1, 0, 2}, 4), BNN_OK);
    cr_assert_str_eq(t_infer(g, p), "f32[N,6]");
    int pi = T_NODE(g, BNN_OP_PAD, "pi", x, -1, vi);
    cr_assert_eq(bnn_node_set_ints(g, pi, "pads", (int64_t[]){0, 1, 0, 2}, 4), BNN_OK);
    t_infer_fails(g, pi, "must be one element of input 'x'");
    int p2 = T_NODE(g, BNN_OP_PAD, "p2", x, -1, v2);
    cr_assert_eq(bnn_node_set_ints(g, p2, "pads", (int64_t[]){0, 1, 0, 2}, 4), BNN_OK);
    t_infer_fails(g, p2, "must be one element");
}

Test(infer_layout, constant_of_shape)
{
    int v = t_param(g, "v", BNN_I64, "");
    int vf = t_param(g, "vf", BNN_F32, "1");
    int two = t_param(g, "two", BNN_F32, "2");
    int s = t_input(g, "s", BNN_I64, "3");
    int sf = t_input(g, "sf", BNN_F32, "3");
    int s2 = t_input(g, "s2", BNN_I64, "2,2");
    cr_assert_str_eq(t_infer(g, T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "c", v, s)), "i64[?,?,?]");
    int a = T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "ca", vf);
    cr_assert_eq(bnn_node_set_ints(g, a, "shape", (int64_t[]){2, 0, 5}, 3), BNN_OK);
    cr_assert_str_eq(t_infer(g, a), "f32[2,0,5]");
    int neg = T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "cn", vf);
    cr_assert_eq(bnn_node_set_ints(g, neg, "shape", (int64_t[]){2, -1}, 2), BNN_OK);
    t_infer_fails(g, neg, "has dim -1");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "c2", two, s), "must hold one element");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "cf", v, sf), "expected i64");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "cr", v, s2), "expected 1-D");
    t_infer_fails(g, T_NODE(g, BNN_OP_CONSTANT_OF_SHAPE, "cnone", v), "needs attribute 'shape'");
}

Test(infer_layout, gather_and_scatter_elements)
{
    int x = t_input(g, "x", BNN_F32, "N,3,4");
    int i = t_input(g, "i", BNN_I64, "N,5,2");
    int u = t_input(g, "u", BNN_F32, "N,5,2");
    int i2 = t_input(g, "i2", BNN_I32, "5,2");
    int fi = t_input(g, "fi", BNN_F32, "N,5,2");
    int big = t_input(g, "big", BNN_I64, "N,2,5");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_GATHER_ELEMENTS, "ge", x, i), "axis", 1)),
                     "f32[N,5,2]");
    t_infer_fails(g, T_NODE(g, BNN_OP_GATHER_ELEMENTS, "gr", x, i2), "have rank 2");
    t_infer_fails(g, T_NODE(g, BNN_OP_GATHER_ELEMENTS, "gt", x, fi), "expected i32 or i64");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_GATHER_ELEMENTS, "gb", x, big), "axis", 1),
                  "larger than input 'x' f32[N,3,4] at dim 2");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_GATHER_ELEMENTS, "ga", x, i), "axis", 3),
                  "axis 3 is out of range");
    cr_assert_str_eq(
        t_infer(g, with_int(T_NODE(g, BNN_OP_SCATTER_ELEMENTS, "se", x, i, u), "axis", -2)),
        "f32[N,3,4]");
    int bad_u = t_input(g, "bu", BNN_F32, "N,5,3");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_SCATTER_ELEMENTS, "su", x, i, bad_u), "axis", 1),
                  "not shaped like indices");
    int sr = with_int(T_NODE(g, BNN_OP_SCATTER_ELEMENTS, "sr", x, i, u), "axis", 1);
    cr_assert_eq(bnn_node_set_string(g, sr, "reduction", "mean"), BNN_OK);
    t_infer_fails(g, sr, "reduction 'mean'");
}

Test(infer_layout, one_hot_inserts_depth_at_axis)
{
    int i = t_input(g, "i", BNN_F32, "N,3");
    int v = t_input(g, "v", BNN_I32, "2");
    int v3 = t_input(g, "v3", BNN_I32, "3");
    cr_assert_str_eq(t_infer(g, with_int(T_NODE(g, BNN_OP_ONE_HOT, "o", i, v), "depth", 7)),
                     "i32[N,3,7]");
    int a = with_int(T_NODE(g, BNN_OP_ONE_HOT, "oa", i, v), "depth", 7);
    with_int(a, "axis", -3);
    cr_assert_str_eq(t_infer(g, a), "i32[7,N,3]");
    int b = with_int(T_NODE(g, BNN_OP_ONE_HOT, "ob", i, v), "depth", 7);
    with_int(b, "axis", 3);
    t_infer_fails(g, b, "axis 3 is out of range");
    t_infer_fails(g, T_NODE(g, BNN_OP_ONE_HOT, "od", i, v), "attribute 'depth' is required");
    t_infer_fails(g, with_int(T_NODE(g, BNN_OP_ONE_HOT, "ov", i, v3), "depth", 2), "two elements");
}
