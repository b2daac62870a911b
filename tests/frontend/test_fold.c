/* Ops that fold into constants at import when their operands are known:
 * Range.  The models are made here with protobuf-c (one node, scalar graph
 * inputs the import binds, as a runtime binding the case's data would), and
 * the folded constant is checked against ONNX's definition written plainly:
 * start + i * delta for i = 0 .. max(ceil((limit - start) / delta), 0) - 1. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnn_onnx.h"
#include "onnx.pb-c.h"

/* A model: Range(start, limit, delta) -> y, the three scalar graph inputs of
 * element type dt, opset 11.  Returns malloc'd bytes. */
static uint8_t *range_model(bnn_dtype dt, size_t *len)
{
    static const char *const names[3] = {"start", "limit", "delta"};
    Onnx__TypeProto__Tensor tt[4];
    Onnx__TypeProto tp[4];
    Onnx__TensorShapeProto shape;
    Onnx__ValueInfoProto vi[4], *ins[3], *outs[1];
    onnx__tensor_shape_proto__init(&shape);
    for (int k = 0; k < 4; k++) {
        onnx__type_proto__tensor__init(&tt[k]);
        tt[k].has_elem_type = true;
        tt[k].elem_type = (int32_t)dt;
        tt[k].shape = k < 3 ? &shape : NULL;
        onnx__type_proto__init(&tp[k]);
        tp[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        tp[k].tensor_type = &tt[k];
        onnx__value_info_proto__init(&vi[k]);
        vi[k].name = (char *)(k < 3 ? names[k] : "y");
        vi[k].type = &tp[k];
        if (k < 3)
            ins[k] = &vi[k];
    }
    outs[0] = &vi[3];
    Onnx__NodeProto node, *nodes[1] = {&node};
    onnx__node_proto__init(&node);
    node.op_type = "Range";
    node.name = "r";
    node.n_input = 3;
    node.input = (char **)names;
    char *out_name = "y";
    node.n_output = 1;
    node.output = &out_name;
    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = "range";
    graph.n_node = 1;
    graph.node = nodes;
    graph.n_input = 3;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = true;
    opset.version = 11;
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
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "constant scalar"), "%s",
              diag.message);
    free(model);
}
