/* Operands that fold at import when they are known: Range becomes a
 * constant, OneHot's depth an attribute.  The models are made here with protobuf-c (one node, scalar graph
 * inputs the import binds, as a runtime binding the case's data would), and
 * the folded constant is checked against ONNX's definition written plainly:
 * start + i * delta for i = 0 .. max(ceil((limit - start) / delta), 0) - 1. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnn_onnx.h"
#include "helpers.h"
#include "onnx.pb-c.h"

/* A one-node model: op_type on graph inputs names[0..n) (element types
 * dts, shapes given as dim lists of ranks ranks[k], at most 4 dims) giving
 * "y" (element type out_dt), with an int attribute when attr is not NULL.
 * Returns malloc'd bytes. */
static uint8_t *one_node_model(const char *op_type, int n, const char *const *names,
                               const bnn_dtype *dts, const int *ranks, const int64_t (*dims)[4],
                               bnn_dtype out_dt, int64_t opset_version, const char *attr,
                               int64_t attr_value, size_t *len)
{
    Onnx__TypeProto__Tensor tt[5];
    Onnx__TypeProto tp[5];
    Onnx__TensorShapeProto shape[5];
    Onnx__TensorShapeProto__Dimension dim[5][4], *dimp[5][4];
    Onnx__ValueInfoProto vi[5], *ins[4], *outs[1];
    cr_assert(n <= 4);
    for (int k = 0; k <= n; k++) {
        onnx__tensor_shape_proto__init(&shape[k]);
        if (k < n) {
            for (int d = 0; d < ranks[k]; d++) {
                onnx__tensor_shape_proto__dimension__init(&dim[k][d]);
                dim[k][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim[k][d].dim_value = dims[k][d];
                dimp[k][d] = &dim[k][d];
            }
            shape[k].n_dim = (size_t)ranks[k];
            shape[k].dim = dimp[k];
        }
        onnx__type_proto__tensor__init(&tt[k]);
        tt[k].has_elem_type = true;
        tt[k].elem_type = (int32_t)(k < n ? dts[k] : out_dt);
        tt[k].shape = k < n ? &shape[k] : NULL;
        onnx__type_proto__init(&tp[k]);
        tp[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        tp[k].tensor_type = &tt[k];
        onnx__value_info_proto__init(&vi[k]);
        vi[k].name = (char *)(k < n ? names[k] : "y");
        vi[k].type = &tp[k];
        if (k < n)
            ins[k] = &vi[k];
    }
    outs[0] = &vi[n];
    Onnx__AttributeProto at, *ats[1] = {&at};
    onnx__attribute_proto__init(&at);
    at.name = (char *)attr;
    at.has_type = true;
    at.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at.has_i = true;
    at.i = attr_value;
    Onnx__NodeProto node, *nodes[1] = {&node};
    onnx__node_proto__init(&node);
    node.op_type = (char *)op_type;
    node.name = "r";
    node.n_input = (size_t)n;
    node.input = (char **)names;
    char *out_name = "y";
    node.n_output = 1;
    node.output = &out_name;
    if (attr) {
        node.n_attribute = 1;
        node.attribute = ats;
    }
    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = "g";
    graph.n_node = 1;
    graph.node = nodes;
    graph.n_input = (size_t)n;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = true;
    opset.version = opset_version;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = true;
    m.ir_version = 7;
    m.graph = &graph;
    m.n_opset_import = 1;
    m.opset_import = opsets;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(*len);
    cr_assert_not_null(buf);
    onnx__model_proto__pack(&m, buf);
    return buf;
}

/* Range(start, limit, delta) -> y on three scalar graph inputs of type dt. */
static uint8_t *range_model(bnn_dtype dt, size_t *len)
{
    static const char *const names[3] = {"start", "limit", "delta"};
    bnn_dtype dts[3] = {dt, dt, dt};
    int ranks[3] = {0, 0, 0};
    int64_t dims[3][4] = {{0}};
    return one_node_model("Range", 3, names, dts, ranks, dims, dt, 11, NULL, 0, len);
}

static void put(bnn_tensor *t, double v)
{
    switch (t->dtype) {
    case BNN_F32: *(float *)t->data = (float)v; break;
    case BNN_F64: *(double *)t->data = v; break;
    case BNN_I32: *(int32_t *)t->data = (int32_t)v; break;
    default: *(int64_t *)t->data = (int64_t)v; break;
    }
}

static double get(const bnn_value *v, int64_t i)
{
    switch (v->dtype) {
    case BNN_F32: return ((const float *)v->data)[i];
    case BNN_F64: return ((const double *)v->data)[i];
    case BNN_I32: return ((const int32_t *)v->data)[i];
    default: return (double)((const int64_t *)v->data)[i];
    }
}

/* Imports Range(start, limit, delta) with the three bound; returns the
 * status and, on success, the graph in *out. */
static bnn_status import_range(bnn_dtype dt, double start, double limit, double delta,
                               bnn_graph **out, bnn_diag *diag)
{
    size_t len;
    uint8_t *model = range_model(dt, &len);
    bnn_tensor t[3];
    bnn_onnx_binding b[3];
    static const char *const names[3] = {"start", "limit", "delta"};
    double v[3] = {start, limit, delta};
    bnn_shape scalar = {.rank = 0};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(bnn_tensor_alloc(&t[k], dt, &scalar, diag), BNN_OK);
        put(&t[k], v[k]);
        b[k] = (bnn_onnx_binding){names[k], &t[k]};
    }
    bnn_onnx_import_options opt = {.bindings = b, .n_bindings = 3};
    bnn_status s = bnn_onnx_import_buffer(model, len, NULL, &opt, out, diag);
    for (int k = 0; k < 3; k++)
        bnn_tensor_free(&t[k]);
    free(model);
    return s;
}

Test(fold, range_of_known_bounds_is_a_constant)
{
    static const struct { bnn_dtype dt; double start, limit, delta; } cases[] = {
        {BNN_I32, 10, 4, -3},  {BNN_I32, 0, 5, 1},    {BNN_I64, 3, 3, 1},    {BNN_I64, -7, 8, 4},
        {BNN_I64, 5, 1, 2},    {BNN_I64, 1, 5, -1},   {BNN_F32, 1, 5, 2},    {BNN_F32, 0, 1, 0.1},
        {BNN_F64, 2.5, -1, -0.5}, {BNN_F64, 0, 0.95, 0.3}, {BNN_F32, 4, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        bnn_dtype dt = cases[k].dt;
        double s = cases[k].start, l = cases[k].limit, d = cases[k].delta;
        cr_assert_eq(import_range(dt, s, l, d, &g, &diag), BNN_OK, "case %zu: %s", k, diag.message);
        int y = bnn_graph_find_value(g, "y");
        cr_assert_geq(y, 0);
        const bnn_value *v = bnn_graph_value(g, y);
        cr_expect_eq(v->kind, BNN_VALUE_PARAM, "case %zu: y is not a constant", k);
        cr_expect_eq(v->dtype, dt, "case %zu", k);
        /* the count in the element type, as ONNX computes it */
        double q = dt == BNN_F32 ? ceilf(((float)l - (float)s) / (float)d) : ceil((l - s) / d);
        int64_t n = q > 0 ? (int64_t)q : 0;
        cr_assert_eq(v->shape.rank, 1, "case %zu", k);
        cr_assert_eq(v->shape.dims[0], n, "case %zu: %lld elements, expected %lld", k,
                     (long long)v->shape.dims[0], (long long)n);
        for (int64_t i = 0; i < n; i++)
            cr_expect_float_eq(get(v, i), s + (double)i * d, 1e-6 * (1 + fabs(s + (double)i * d)),
                               "case %zu element %lld", k, (long long)i);
        bnn_graph_destroy(g);
    }
}

Test(fold, range_with_zero_delta_or_unknown_bounds_is_refused)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_expect_eq(import_range(BNN_I64, 0, 4, 0, &g, &diag), BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "delta is 0"), "%s", diag.message);
    cr_expect_null(g);
    /* unbound inputs: the size is not known at import */
    size_t len;
    uint8_t *model = range_model(BNN_F32, &len);
    diag = (bnn_diag){0};
    cr_expect_eq(bnn_onnx_import_buffer(model, len, NULL, NULL, &g, &diag), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "values of the data"), "%s",
              diag.message);
    free(model);
}

/* OneHot's depth (a float scalar here, as ONNX's backend cases have it) is
 * bound and becomes the one_hot node's attribute; export writes it back as
 * an input and the re-import gives the same IR. */
Test(fold, one_hot_depth_becomes_an_attribute_and_round_trips)
{
    static const char *const names[3] = {"indices", "depth", "values"};
    bnn_dtype dts[3] = {BNN_F32, BNN_F32, BNN_I32};
    int ranks[3] = {2, 0, 1};
    int64_t dims[3][4] = {{2, 3}, {0}, {2}};
    size_t len;
    uint8_t *model = one_node_model("OneHot", 3, names, dts, ranks, dims, BNN_I32, 11, "axis", -2,
                                    &len);
    bnn_diag diag = {0};
    bnn_tensor depth;
    bnn_shape scalar = {.rank = 0};
    cr_assert_eq(bnn_tensor_alloc(&depth, BNN_F32, &scalar, &diag), BNN_OK);
    *(float *)depth.data = 5.9f; /* truncated to 5, as ONNX casts to int64 */
    bnn_onnx_binding b = {"depth", &depth};
    bnn_onnx_import_options opt = {.bindings = &b, .n_bindings = 1};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_onnx_import_buffer(model, len, NULL, &opt, &g, &diag), BNN_OK, "%s",
                 diag.message);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_ONE_HOT);
    cr_expect_eq(bnn_node_int(n, "depth", -1), 5);
    cr_expect_eq(bnn_node_int(n, "axis", 0), -2);
    const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
    cr_expect_eq(y->dtype, BNN_I32);
    cr_assert_eq(y->shape.rank, 3);
    cr_expect(y->shape.dims[0] == 2 && y->shape.dims[1] == 5 && y->shape.dims[2] == 3);
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
    /* unbound, the depth is not known at import */
    g = NULL;
    diag = (bnn_diag){0};
    cr_expect_eq(bnn_onnx_import_buffer(model, len, NULL, NULL, &g, &diag), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "depth"), "%s", diag.message);
    bnn_tensor_free(&depth);
    free(model);
}

/* The window functions of a bound size fold into constants: ONNX's
 * definitions written plainly, periodic (2 pi n / N) and symmetric
 * (2 pi n / (N - 1)); an unbound size and a bad output_datatype are
 * refused naming the node. */
Test(fold, windows_of_known_size_are_constants)
{
    static const char *const ops[3] = {"HannWindow", "HammingWindow", "BlackmanWindow"};
    static const char *const names[1] = {"size"};
    for (int op = 0; op < 3; op++)
        for (int periodic = 0; periodic < 2; periodic++)
            for (int64_t n = 1; n <= 9; n += 4) {
                bnn_dtype dts[1] = {BNN_I64};
                int ranks[1] = {0};
                int64_t dims[1][4] = {{0}};
                size_t len;
                uint8_t *model = one_node_model(ops[op], 1, names, dts, ranks, dims, BNN_F32, 17,
                                                "periodic", periodic, &len);
                bnn_tensor t;
                bnn_diag diag = {0};
                bnn_shape scalar = {.rank = 0};
                cr_assert_eq(bnn_tensor_alloc(&t, BNN_I64, &scalar, &diag), BNN_OK);
                *(int64_t *)t.data = n;
                bnn_onnx_binding b = {"size", &t};
                bnn_onnx_import_options opt = {.bindings = &b, .n_bindings = 1};
                bnn_graph *g = NULL;
                cr_assert_eq(bnn_onnx_import_buffer(model, len, NULL, &opt, &g, &diag), BNN_OK,
                             "%s: %s", ops[op], diag.message);
                const bnn_value *v = bnn_graph_value(g, bnn_graph_find_value(g, "y"));
                cr_assert_eq(v->kind, BNN_VALUE_PARAM);
                cr_assert_eq(v->shape.rank, 1);
                cr_assert_eq(v->shape.dims[0], n);
                double d = periodic ? (double)n : (double)(n - 1);
                for (int64_t i = 0; i < n; i++) {
                    double x = d > 0 ? 2 * M_PI * (double)i / d : 0, want;
                    if (op == 0)
                        want = 0.5 - 0.5 * cos(x);
                    else if (op == 1)
                        want = 25.0 / 46 - 21.0 / 46 * cos(x);
                    else
                        want = 0.42 - 0.5 * cos(x) + 0.08 * cos(2 * x);
                    cr_expect_float_eq(get(v, i), want, 1e-6, "%s periodic=%d n=%lld at %lld",
                                       ops[op], periodic, (long long)n, (long long)i);
                }
                bnn_graph_destroy(g);
                /* unbound: refused */
                g = NULL;
                diag = (bnn_diag){0};
                cr_expect_eq(bnn_onnx_import_buffer(model, len, NULL, NULL, &g, &diag),
                             BNN_ERR_UNSUPPORTED);
                cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "size"), "%s",
                          diag.message);
                cr_expect_null(g);
                bnn_tensor_free(&t);
                free(model);
            }
}

/* NonZero of a bound input folds into its coordinates; Compress with a
 * bound condition becomes a gather of the kept places (along the axis, or
 * of the flattened input); unbound, both are refused naming the node. */
Test(fold, non_zero_and_compress_of_known_inputs)
{
    static const char *const nz_names[1] = {"x"};
    bnn_dtype nz_dt[1] = {BNN_I64};
    int nz_rank[1] = {2};
    int64_t nz_dims[1][4] = {{2, 3}};
    size_t len;
    uint8_t *model = one_node_model("NonZero", 1, nz_names, nz_dt, nz_rank, nz_dims, BNN_I64, 13,
                                    NULL, 0, &len);
    bnn_diag diag = {0};
    bnn_tensor t;
    bnn_shape s23 = {.rank = 2, .dims = {2, 3}};
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_I64, &s23, &diag), BNN_OK);
    const int64_t x[6] = {0, 7, 0, -1, 0, 2};
    memcpy(t.data, x, sizeof x);
    bnn_onnx_binding b = {"x", &t};
    bnn_onnx_import_options opt = {.bindings = &b, .n_bindings = 1};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_onnx_import_buffer(model, len, NULL, &opt, &g, &diag), BNN_OK, "%s",
                 diag.message);
    const bnn_value *v = bnn_graph_value(g, bnn_graph_find_value(g, "y"));
    cr_assert_eq(v->kind, BNN_VALUE_PARAM);
    cr_assert(v->shape.rank == 2 && v->shape.dims[0] == 2 && v->shape.dims[1] == 3);
    const int64_t want[6] = {0, 1, 1, /* rows */ 1, 0, 2 /* cols */};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(((const int64_t *)v->data)[i], want[i], "at %d", i);
    bnn_graph_destroy(g);
    g = NULL;
    diag = (bnn_diag){0};
    cr_expect_eq(bnn_onnx_import_buffer(model, len, NULL, NULL, &g, &diag), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(diag.message, "'r'"), "%s", diag.message);
    bnn_tensor_free(&t);
    free(model);

    static const char *const c_names[2] = {"x", "cond"};
    bnn_dtype c_dt[2] = {BNN_F32, BNN_BOOL};
    int c_rank[2] = {2, 1};
    int64_t c_dims[2][4] = {{3, 2}, {3}};
    for (int flat = 0; flat < 2; flat++) {
        model = one_node_model("Compress", 2, c_names, c_dt, c_rank, c_dims, BNN_F32, 11,
                               flat ? NULL : "axis", 0, &len);
        bnn_shape s3 = {.rank = 1, .dims = {3}};
        cr_assert_eq(bnn_tensor_alloc(&t, BNN_BOOL, &s3, &diag), BNN_OK);
        const uint8_t cond[3] = {1, 0, 1};
        memcpy(t.data, cond, sizeof cond);
        b = (bnn_onnx_binding){"cond", &t};
        g = NULL;
        cr_assert_eq(bnn_onnx_import_buffer(model, len, NULL, &opt, &g, &diag), BNN_OK, "%s",
                     diag.message);
        const bnn_node *n = fe_producer(g, "y");
        cr_assert_eq(n->op, BNN_OP_GATHER);
        const bnn_value *places = bnn_graph_value(g, n->inputs[1]);
        cr_assert_eq(places->kind, BNN_VALUE_PARAM);
        cr_assert_eq(places->shape.dims[0], 2);
        cr_expect_eq(((const int64_t *)places->data)[0], 0);
        cr_expect_eq(((const int64_t *)places->data)[1], 2);
        const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
        cr_expect_eq(y->shape.rank, flat ? 1 : 2);
        cr_expect_eq(y->shape.dims[0], 2);
        if (flat)
            cr_expect_eq(bnn_graph_node(g, bnn_graph_value(g, n->inputs[0])->producer)->op,
                         BNN_OP_RESHAPE);
        bnn_graph_destroy(g);
        bnn_tensor_free(&t);
        free(model);
    }
}

/* Unique of a bound input folds: sorted, or in order of first appearance. */
Test(fold, unique_of_a_known_input)
{
    static const char *const names[1] = {"x"};
    bnn_dtype dt[1] = {BNN_F32};
    int rank[1] = {1};
    int64_t dims[1][4] = {{6}};
    const float x[6] = {2, 1, 1, 3, 4, 3};
    const float want[2][4] = {{2, 1, 3, 4}, {1, 2, 3, 4}};
    for (int sorted = 0; sorted < 2; sorted++) {
        size_t len;
        uint8_t *model = one_node_model("Unique", 1, names, dt, rank, dims, BNN_F32, 11, "sorted",
                                        sorted, &len);
        bnn_diag diag = {0};
        bnn_tensor t;
        bnn_shape s6 = {.rank = 1, .dims = {6}};
        cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &s6, &diag), BNN_OK);
        memcpy(t.data, x, sizeof x);
        bnn_onnx_binding b = {"x", &t};
        bnn_onnx_import_options opt = {.bindings = &b, .n_bindings = 1};
        bnn_graph *g = NULL;
        cr_assert_eq(bnn_onnx_import_buffer(model, len, NULL, &opt, &g, &diag), BNN_OK, "%s",
                     diag.message);
        const bnn_value *v = bnn_graph_value(g, bnn_graph_find_value(g, "y"));
        cr_assert_eq(v->kind, BNN_VALUE_PARAM);
        cr_assert_eq(v->shape.dims[0], 4);
        for (int i = 0; i < 4; i++)
            cr_expect_eq(((const float *)v->data)[i], want[sorted][i], "sorted=%d at %d", sorted, i);
        bnn_graph_destroy(g);
        bnn_tensor_free(&t);
        free(model);
    }
}
