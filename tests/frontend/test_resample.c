/* Import of Resize, Upsample and GroupNormalization in the forms ONNX's
 * backend data lacks: opset 18's axes, keep_aspect_ratio_policy and
 * antialias, Resize-10, Upsample-7's scales attribute, GroupNormalization's
 * per-group (18) and per-channel (21) scale.  One-node models are made here
 * with protobuf-c; their constant inputs are graph inputs the import binds,
 * as the conformance runner binds a case's data. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "helpers.h"
#include "onnx.pb-c.h"

typedef struct attr_spec {
    const char *name;
    int type; /* ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__* */
    int64_t i;
    float f;
    const char *s;
    const int64_t *ints;
    const float *floats;
    int n;
} attr_spec;

#define MAX_IN 4

/* op_type over graph inputs in[0..n) (ONNX element types dts, shapes of
 * ranks[k] dims, an empty name: an absent input) giving a float "y". */
static uint8_t *model_of(const char *op_type, int64_t opset, int n, const char *const *in,
                         const bnn_dtype *dts, const int *ranks, const int64_t (*dims)[4],
                         const attr_spec *attrs, int n_attrs, size_t *len)
{
    Onnx__TypeProto__Tensor tt[MAX_IN + 1];
    Onnx__TypeProto tp[MAX_IN + 1];
    Onnx__TensorShapeProto shape[MAX_IN];
    Onnx__TensorShapeProto__Dimension dim[MAX_IN][4], *dimp[MAX_IN][4];
    Onnx__ValueInfoProto vi[MAX_IN + 1], *ins[MAX_IN], *outs[1];
    int n_graph_in = 0;
    for (int k = 0; k <= n; k++) {
        onnx__type_proto__tensor__init(&tt[k]);
        tt[k].has_elem_type = true;
        tt[k].elem_type = (int32_t)(k < n ? dts[k] : BNN_F32);
        if (k < n) {
            onnx__tensor_shape_proto__init(&shape[k]);
            for (int d = 0; d < ranks[k]; d++) {
                onnx__tensor_shape_proto__dimension__init(&dim[k][d]);
                dim[k][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim[k][d].dim_value = dims[k][d];
                dimp[k][d] = &dim[k][d];
            }
            shape[k].n_dim = (size_t)ranks[k];
            shape[k].dim = dimp[k];
            tt[k].shape = &shape[k];
        }
        onnx__type_proto__init(&tp[k]);
        tp[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        tp[k].tensor_type = &tt[k];
        onnx__value_info_proto__init(&vi[k]);
        vi[k].name = (char *)(k < n ? in[k] : "y");
        vi[k].type = &tp[k];
        if (k < n && in[k][0])
            ins[n_graph_in++] = &vi[k];
    }
    outs[0] = &vi[n];
    Onnx__AttributeProto at[8], *ats[8];
    cr_assert(n_attrs <= 8);
    for (int a = 0; a < n_attrs; a++) {
        onnx__attribute_proto__init(&at[a]);
        at[a].name = (char *)attrs[a].name;
        at[a].has_type = true;
        at[a].type = attrs[a].type;
        switch (attrs[a].type) {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: at[a].has_i = true, at[a].i = attrs[a].i; break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: at[a].has_f = true, at[a].f = attrs[a].f; break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
            at[a].has_s = true;
            at[a].s.data = (uint8_t *)attrs[a].s;
            at[a].s.len = strlen(attrs[a].s);
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
            at[a].n_ints = (size_t)attrs[a].n, at[a].ints = (int64_t *)attrs[a].ints;
            break;
        default: at[a].n_floats = (size_t)attrs[a].n, at[a].floats = (float *)attrs[a].floats; break;
        }
        ats[a] = &at[a];
    }
    Onnx__NodeProto node, *nodes[1] = {&node};
    onnx__node_proto__init(&node);
    node.op_type = (char *)op_type;
    node.name = "r";
    node.n_input = (size_t)n;
    node.input = (char **)in;
    char *out_name = "y";
    node.n_output = 1;
    node.output = &out_name;
    node.n_attribute = (size_t)n_attrs;
    node.attribute = ats;
    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = "g";
    graph.n_node = 1;
    graph.node = nodes;
    graph.n_input = (size_t)n_graph_in;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    Onnx__OperatorSetIdProto os, *opsets[1] = {&os};
    onnx__operator_set_id_proto__init(&os);
    os.domain = "";
    os.has_version = true;
    os.version = opset;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = true;
    m.ir_version = 8;
    m.graph = &graph;
    m.n_opset_import = 1;
    m.opset_import = opsets;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(*len);
    cr_assert_not_null(buf);
    onnx__model_proto__pack(&m, buf);
    return buf;
}

/* Imports the model with inputs 1.. bound to the given 1-D contents (f32
 * from fv or i64 from iv, count values; count -1: not bound). */
static bnn_status import_bound(const uint8_t *model, size_t len, int n, const char *const *in,
                               const bnn_dtype *dts, const float *const *fv,
                               const int64_t *const *iv, const int *count, bnn_graph **g,
                               bnn_diag *diag)
{
    bnn_tensor t[MAX_IN];
    bnn_onnx_binding b[MAX_IN];
    int nb = 0;
    for (int k = 1; k < n; k++) {
        if (count[k] < 0 || !in[k][0])
            continue;
        bnn_shape s = {.rank = 1, .dims = {count[k]}};
        cr_assert_eq(bnn_tensor_alloc(&t[nb], dts[k], &s, diag), BNN_OK);
        if (count[k])
            memcpy(t[nb].data, dts[k] == BNN_F32 ? (const void *)fv[k] : (const void *)iv[k],
                   (size_t)count[k] * (dts[k] == BNN_F32 ? 4 : 8));
        b[nb] = (bnn_onnx_binding){in[k], &t[nb]};
        nb++;
    }
    bnn_onnx_import_options opt = {.bindings = b, .n_bindings = nb};
    bnn_status st = bnn_onnx_import_buffer(model, len, NULL, &opt, g, diag);
    for (int k = 0; k < nb; k++)
        bnn_tensor_free(&t[k]);
    return st;
}

static const bnn_node *only_node(const bnn_graph *g)
{
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_RESIZE);
    return n;
}

static void expect_floats(const bnn_node *n, const char *name, const float *want, int count)
{
    const bnn_attr *a = bnn_node_attr(n, name);
    cr_assert(a, "attribute '%s' is missing", name);
    cr_assert_eq(a->count, count, "'%s' has %d values", name, a->count);
    for (int i = 0; i < count; i++)
        cr_expect_float_eq(a->floats[i], want[i], 1e-6, "'%s'[%d] is %g, want %g", name, i,
                           (double)a->floats[i], (double)want[i]);
}

#define STR(nm, v) {.name = nm, .type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, .s = v}
#define INT(nm, v) {.name = nm, .type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, .i = v}
#define INTS(nm, v, c) {.name = nm, .type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, .ints = v, .n = c}

static const char *const resize_in[4] = {"x", "", "scales", "sizes"};
static const bnn_dtype resize_dts[4] = {BNN_F32, BNN_F32, BNN_F32, BNN_I64};
static const int resize_ranks[4] = {4, 1, 1, 1};

/* Opset 18's axes: scales for the listed axes only, the others kept. */
Test(resample_import, axes_spread_scales_over_every_axis)
{
    int64_t dims[4][4] = {{1, 2, 4, 5}, {0}, {2}, {0}};
    static const int64_t axes[2] = {2, 3};
    attr_spec at[] = {STR("mode", "linear"), INTS("axes", axes, 2), INT("antialias", 1)};
    size_t len;
    uint8_t *m = model_of("Resize", 18, 3, resize_in, resize_dts, resize_ranks, dims, at, 3, &len);
    static const float sc[2] = {2.0f, 0.6f};
    const float *fv[4] = {NULL, NULL, sc, NULL};
    int count[4] = {-1, -1, 2, -1};
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(import_bound(m, len, 3, resize_in, resize_dts, fv, NULL, count, &g, &diag), BNN_OK,
                 "%s", diag.message);
    const bnn_node *n = only_node(g);
    static const float want[4] = {1, 1, 2.0f, 0.6f};
    expect_floats(n, "scales", want, 4);
    cr_expect_eq(bnn_node_int(n, "antialias", 0), 1);
    const bnn_shape *y = &bnn_graph_value(g, n->outputs[0])->shape;
    cr_expect(y->dims[1] == 2 && y->dims[2] == 8 && y->dims[3] == 3, "y is [.., %lld, %lld, %lld]",
              (long long)y->dims[1], (long long)y->dims[2], (long long)y->dims[3]);
    fe_expect_roundtrip(g); /* antialias goes out at opset 18 */
    bnn_graph_destroy(g);
    free(m);
}

/* keep_aspect_ratio_policy: one scale for the axes, min (not_larger) or max
 * (not_smaller) of sizes / in, and sizes rounded from it. */
Test(resample_import, keep_aspect_ratio_policy)
{
    int64_t dims[4][4] = {{1, 1, 4, 3}, {0}, {0}, {2}};
    static const int64_t axes[2] = {2, 3};
    static const int64_t sizes[2] = {6, 6};
    static const struct { const char *policy; float scale; int64_t h, w; } cases[] = {
        {"not_larger", 1.5f, 6, 5}, /* 6/4 < 6/3; 1.5 * 3 = 4.5 rounds to 5 */
        {"not_smaller", 2.0f, 8, 6},
    };
    for (int c = 0; c < 2; c++) {
        attr_spec at[] = {INTS("axes", axes, 2), STR("keep_aspect_ratio_policy", cases[c].policy)};
        size_t len;
        uint8_t *m = model_of("Resize", 18, 4, resize_in, resize_dts, resize_ranks, dims, at, 2, &len);
        const int64_t *iv[4] = {NULL, NULL, NULL, sizes};
        int count[4] = {-1, -1, -1, 2};
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        cr_assert_eq(import_bound(m, len, 4, resize_in, resize_dts, NULL, iv, count, &g, &diag),
                     BNN_OK, "%s", diag.message);
        const bnn_node *n = only_node(g);
        float want[4] = {1, 1, cases[c].scale, cases[c].scale};
        expect_floats(n, "scales", want, 4);
        const bnn_shape *y = &bnn_graph_value(g, n->outputs[0])->shape;
        cr_expect(y->dims[2] == cases[c].h && y->dims[3] == cases[c].w, "%s: y is [.., %lld, %lld]",
                  cases[c].policy, (long long)y->dims[2], (long long)y->dims[3]);
        /* no ONNX form keeps a scale apart from sizes: export says so */
        char path[] = "/tmp/bnnc-resample-test-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        close(fd);
        cr_expect_eq(bnn_onnx_export_file(g, path, &diag), BNN_ERR_UNSUPPORTED);
        cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "keep_aspect_ratio_policy"),
                  "%s", diag.message);
        unlink(path);
        bnn_graph_destroy(g);
        free(m);
    }
}

/* Resize-10 and Upsample: asymmetric coordinates, nearest rounded down when
 * enlarging and up when shrinking; Upsample-7 has its scales as an attribute. */
Test(resample_import, resize10_and_upsample)
{
    int64_t dims[4][4] = {{1, 1, 4, 6}, {4}};
    static const char *const in10[2] = {"x", "scales"};
    static const bnn_dtype dts10[2] = {BNN_F32, BNN_F32};
    static const int ranks10[2] = {4, 1};
    size_t len;
    uint8_t *m = model_of("Resize", 10, 2, in10, dts10, ranks10, dims, NULL, 0, &len);
    static const float down[4] = {1, 1, 0.5f, 0.5f};
    const float *fv[2] = {NULL, down};
    int count[2] = {-1, 4};
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(import_bound(m, len, 2, in10, dts10, fv, NULL, count, &g, &diag), BNN_OK, "%s",
                 diag.message);
    const bnn_node *n = only_node(g);
    cr_expect_str_eq(bnn_node_string(n, "coordinate_transformation_mode", ""), "asymmetric");
    cr_expect_str_eq(bnn_node_string(n, "nearest_mode", ""), "ceil");
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
    free(m);

    static const float up[4] = {1, 1, 2, 3};
    attr_spec at[] = {STR("mode", "linear"),
                      {.name = "scales", .type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS,
                       .floats = up, .n = 4}};
    m = model_of("Upsample", 7, 1, in10, dts10, ranks10, dims, at, 2, &len);
    g = NULL;
    cr_assert_eq(bnn_onnx_import_buffer(m, len, NULL, NULL, &g, &diag), BNN_OK, "%s", diag.message);
    n = only_node(g);
    cr_expect_str_eq(bnn_node_string(n, "mode", ""), "linear");
    cr_expect_str_eq(bnn_node_string(n, "coordinate_transformation_mode", ""), "asymmetric");
    expect_floats(n, "scales", up, 4);
    const bnn_shape *y = &bnn_graph_value(g, n->outputs[0])->shape;
    cr_expect(y->dims[2] == 8 && y->dims[3] == 18);
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
    free(m);
}

Test(resample_import, scales_must_be_known_and_one_of_scales_or_sizes)
{
    int64_t dims[4][4] = {{1, 1, 4, 6}, {0}, {4}, {4}};
    size_t len;
    uint8_t *m = model_of("Resize", 13, 3, resize_in, resize_dts, resize_ranks, dims, NULL, 0, &len);
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    /* scales left a graph input: only known at run time */
    cr_expect_eq(bnn_onnx_import_buffer(m, len, NULL, NULL, &g, &diag), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "scales"), "%s", diag.message);
    free(m);
    m = model_of("Resize", 13, 4, resize_in, resize_dts, resize_ranks, dims, NULL, 0, &len);
    static const float sc[4] = {1, 1, 2, 2};
    static const int64_t sz[4] = {1, 1, 8, 12};
    const float *fv[4] = {NULL, NULL, sc, NULL};
    const int64_t *iv[4] = {NULL, NULL, NULL, sz};
    int count[4] = {-1, -1, 4, 4};
    cr_expect_eq(import_bound(m, len, 4, resize_in, resize_dts, fv, iv, count, &g, &diag),
                 BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "exactly one"), "%s", diag.message);
    free(m);
}

/* GroupNormalization: per-group scale and bias at opset 18, per channel at
 * 21; both import as they are and export at their opset. */
Test(resample_import, group_normalization_18_and_21)
{
    static const char *const in[3] = {"x", "scale", "bias"};
    static const bnn_dtype dts[3] = {BNN_F32, BNN_F32, BNN_F32};
    static const int ranks[3] = {3, 1, 1};
    static const float v[4] = {0.5f, 2.0f, -1.0f, 3.0f};
    for (int opset = 18; opset <= 21; opset += 3) {
        int per = opset == 18 ? 2 : 4;
        int64_t dims[3][4] = {{1, 4, 3}, {per}, {per}};
        attr_spec at[] = {INT("num_groups", 2)};
        size_t len;
        uint8_t *m = model_of("GroupNormalization", opset, 3, in, dts, ranks, dims, at, 1, &len);
        const float *fv[3] = {NULL, v, v};
        int count[3] = {-1, per, per};
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        cr_assert_eq(import_bound(m, len, 3, in, dts, fv, NULL, count, &g, &diag), BNN_OK, "%s",
                     diag.message);
        const bnn_node *n = fe_producer(g, "y");
        cr_assert_eq(n->op, BNN_OP_GROUP_NORM);
        cr_expect_eq(bnn_node_int(n, "num_groups", 0), 2);
        fe_expect_roundtrip(g);
        bnn_graph_destroy(g);
        free(m);
    }
}

/* Fixed sizes over spatial dims known only at run time are kept (their scale
 * is size / dim then); over a batch the user made symbolic they would pin
 * it, and are refused naming the node. */
Test(resample_import, fixed_sizes_over_run_time_dims)
{
    int64_t dims[4][4] = {{1, 1, 4, 6}, {0}, {0}, {4}};
    size_t len;
    uint8_t *m = model_of("Resize", 13, 4, resize_in, resize_dts, resize_ranks, dims, NULL, 0, &len);
    static const int64_t sz[4] = {1, 1, 6, 6};
    static const char *const specs[2] = {"x=1,1,H,W", "x=N,1,H,W"};
    for (int k = 0; k < 2; k++) {
        char text[32];
        snprintf(text, sizeof text, "%s", specs[k]);
        bnn_onnx_input_shape is;
        bnn_diag diag = {0};
        cr_assert_eq(bnn_onnx_parse_input_shape(text, &is, &diag), BNN_OK, "%s", diag.message);
        bnn_tensor t;
        bnn_shape s4 = {.rank = 1, .dims = {4}};
        cr_assert_eq(bnn_tensor_alloc(&t, BNN_I64, &s4, &diag), BNN_OK);
        memcpy(t.data, sz, sizeof sz);
        bnn_onnx_binding b = {"sizes", &t};
        bnn_onnx_import_options opt = {.bindings = &b, .n_bindings = 1, .input_shapes = &is,
                                       .n_input_shapes = 1};
        bnn_graph *g = NULL;
        bnn_status st = bnn_onnx_import_buffer(m, len, NULL, &opt, &g, &diag);
        if (k == 0) {
            cr_assert_eq(st, BNN_OK, "%s", diag.message);
            const bnn_node *n = only_node(g);
            fe_expect_ints(n, "sizes", sz, 4);
            const bnn_shape *y = &bnn_graph_value(g, n->outputs[0])->shape;
            cr_expect(y->dims[2] == 6 && y->dims[3] == 6);
            bnn_graph_destroy(g);
        } else {
            cr_expect_eq(st, BNN_ERR_UNSUPPORTED);
            cr_expect(strstr(diag.message, "'r'") && strstr(diag.message, "axis 0"), "%s", diag.message);
        }
        bnn_tensor_free(&t);
    }
    free(m);
}
