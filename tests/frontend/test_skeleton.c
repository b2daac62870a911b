/* The import of large raw_data initializers without protobuf-c's copy
 * (frontend/onnx_skeleton.c): the skeleton lifts exactly the large payloads,
 * the graph gets the same weights as from a plain unpack, whatever the order
 * of the fields; a tensor with two raw_data fields (the last wins) and a
 * model cut anywhere inside a payload behave as protobuf-c makes them. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_impl.h"

#define BIG 3000 /* floats: 12,000 bytes, above ONNX_LIFT_MIN */

static float weight(int k, int i) { return (float)(k + 1) * 0.001f * (float)(i % 97) - 0.04f; }

/* A model y = ((x + w0) + w1) + ... + w{n-1}: w{k} of BIG floats when big[k],
 * else of one float (broadcast); x [BIG].  *size gets the byte count;
 * the bytes are malloc'ed. */
static uint8_t *make_model(int n, const bool *big, size_t *size)
{
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops[1] = {&op};
    op.domain = "";
    op.has_version = true;
    op.version = 13;
    m.has_ir_version = true;
    m.ir_version = 8;
    m.n_opset_import = 1;
    m.opset_import = ops;
    m.graph = &g;
    g.name = "skeleton";
    Onnx__TensorProto t[8], *tp[8];
    Onnx__NodeProto nd[8], *ndp[8];
    char names[8][3][16];
    char *ins[8][2], *outs[8][1];
    int64_t dims[8];
    float *data[8];
    cr_assert(n <= 8);
    for (int k = 0; k < n; k++) {
        onnx__tensor_proto__init(&t[k]);
        snprintf(names[k][0], 16, "w%d", k);
        snprintf(names[k][1], 16, k ? "h%d" : "x", k - 1);
        snprintf(names[k][2], 16, k == n - 1 ? "y" : "h%d", k);
        int len = big[k] ? BIG : 1;
        data[k] = malloc(sizeof(float) * BIG);
        for (int i = 0; i < len; i++)
            data[k][i] = weight(k, i);
        dims[k] = len;
        t[k].name = names[k][0];
        t[k].has_data_type = true;
        t[k].data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t[k].n_dims = 1;
        t[k].dims = &dims[k];
        t[k].has_raw_data = true;
        t[k].raw_data.len = sizeof(float) * (size_t)len;
        t[k].raw_data.data = (uint8_t *)data[k];
        tp[k] = &t[k];
        onnx__node_proto__init(&nd[k]);
        nd[k].op_type = "Add";
        ins[k][0] = names[k][1];
        ins[k][1] = names[k][0];
        outs[k][0] = names[k][2];
        nd[k].n_input = 2;
        nd[k].input = ins[k];
        nd[k].n_output = 1;
        nd[k].output = outs[k];
        ndp[k] = &nd[k];
    }
    g.n_initializer = (size_t)n;
    g.initializer = tp;
    g.n_node = (size_t)n;
    g.node = ndp;
    Onnx__TensorShapeProto__Dimension d = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT, *dp[1] = {&d};
    d.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d.dim_value = BIG;
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 1;
    shape.dim = dp;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = true;
    tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tt;
    Onnx__ValueInfoProto vx = ONNX__VALUE_INFO_PROTO__INIT, vy = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *vxp[1] = {&vx}, *vyp[1] = {&vy};
    vx.name = "x";
    vx.type = &type;
    vy.name = "y";
    vy.type = &type;
    g.n_input = 1;
    g.input = vxp;
    g.n_output = 1;
    g.output = vyp;
    *size = onnx__model_proto__get_packed_size(&m);
    uint8_t *bytes = malloc(*size);
    cr_assert(bytes);
    onnx__model_proto__pack(&m, bytes);
    for (int k = 0; k < n; k++)
        free(data[k]);
    return bytes;
}

static void expect_weights(const bnn_graph *g, int n, const bool *big)
{
    for (int k = 0; k < n; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        int id = bnn_graph_find_value(g, name);
        cr_assert(id >= 0, "no %s", name);
        const bnn_value *v = &g->values[id];
        int len = big[k] ? BIG : 1;
        cr_assert_eq(v->kind, BNN_VALUE_PARAM);
        cr_assert_eq(v->nbytes, sizeof(float) * (size_t)len, "%s: %zu bytes", name, v->nbytes);
        for (int i = 0; i < len; i++)
            cr_assert_eq(((const float *)v->data)[i], weight(k, i), "%s[%d]", name, i);
    }
}

Test(skeleton, lifts_exactly_the_large_payloads)
{
    const bool big[] = {true, false, true, true, false};
    size_t size;
    uint8_t *bytes = make_model(5, big, &size);
    onnx_skeleton sk;
    cr_assert(onnx_skeleton_build(bytes, size, &sk));
    cr_assert_eq(sk.n_lifted, 3);
    const size_t want[] = {0, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(sk.lifted[i].initializer, want[i]);
        cr_expect_eq(sk.lifted[i].len, sizeof(float) * BIG);
        cr_expect(sk.lifted[i].data > bytes && sk.lifted[i].data + sk.lifted[i].len <= bytes + size);
        float first;
        memcpy(&first, sk.lifted[i].data, sizeof first);
        cr_expect_eq(first, weight((int)want[i], 0));
    }
    /* less the payloads, their tags and lengths, and a byte or two of the
     * lengths around them */
    size_t payloads = 3 * (sizeof(float) * BIG + 3);
    cr_expect(sk.size <= size - payloads && sk.size + 8 >= size - payloads,
              "skeleton of %zu bytes from %zu", sk.size, size);
    /* the skeleton is a valid model without those payloads */
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, sk.size, sk.bytes);
    cr_assert_not_null(m);
    cr_expect_eq(m->graph->n_initializer, 5);
    cr_expect(!m->graph->initializer[0]->has_raw_data);
    cr_expect(m->graph->initializer[1]->has_raw_data);
    cr_expect_str_eq(m->graph->initializer[3]->name, "w3");
    onnx__model_proto__free_unpacked(m, NULL);
    onnx_skeleton_free(&sk);
    /* nothing large: no skeleton */
    const bool small[] = {false, false};
    free(bytes);
    bytes = make_model(2, small, &size);
    cr_expect(!onnx_skeleton_build(bytes, size, &sk));
    free(bytes);
}

Test(skeleton, import_gives_the_same_weights)
{
    const bool big[] = {false, true, true, false, true, true};
    size_t size;
    uint8_t *bytes = make_model(6, big, &size);
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_import_buffer(bytes, size, NULL, NULL, &g, &diag), BNN_OK, "%s",
                 diag.message);
    expect_weights(g, 6, big);
    bnn_graph_destroy(g);
    free(bytes);
}

/* The field (number, LEN) around payload p[0..n) appended to out at *at. */
static void append_len_field(uint8_t *out, size_t *at, unsigned field, const uint8_t *p, size_t n)
{
    uint64_t v = field << 3 | 2;
    for (int pass = 0; pass < 2; pass++, v = n) {
        for (; v >= 0x80; v >>= 7)
            out[(*at)++] = (uint8_t)(v | 0x80);
        out[(*at)++] = (uint8_t)v;
    }
    memcpy(out + *at, p, n);
    *at += n;
}

Test(skeleton, a_second_raw_data_wins_as_in_protobuf)
{
    /* w0's tensor with a second raw_data after the first: protobuf keeps the
     * last; the skeleton gives up and the plain unpack reads it */
    const bool big[] = {true};
    size_t size;
    uint8_t *bytes = make_model(1, big, &size);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, bytes);
    cr_assert_not_null(m);
    Onnx__TensorProto *t = m->graph->initializer[0];
    size_t tsize = onnx__tensor_proto__get_packed_size(t);
    float *second = malloc(sizeof(float) * BIG);
    for (int i = 0; i < BIG; i++)
        second[i] = -weight(0, i);
    uint8_t *tb = malloc(tsize + sizeof(float) * BIG + 16);
    onnx__tensor_proto__pack(t, tb);
    size_t tn = tsize;
    append_len_field(tb, &tn, 9, (const uint8_t *)second, sizeof(float) * BIG);
    /* the graph without its initializer, then the doubled one */
    m->graph->n_initializer = 0;
    size_t gsize = onnx__graph_proto__get_packed_size(m->graph);
    uint8_t *gb = malloc(gsize + tn + 16);
    onnx__graph_proto__pack(m->graph, gb);
    size_t gn = gsize;
    append_len_field(gb, &gn, 5, tb, tn);
    m->graph->n_initializer = 1;
    Onnx__GraphProto *keep = m->graph;
    m->graph = NULL;
    size_t msize = onnx__model_proto__get_packed_size(m);
    uint8_t *mb = malloc(msize + gn + 16);
    onnx__model_proto__pack(m, mb);
    size_t mn = msize;
    append_len_field(mb, &mn, 7, gb, gn);
    m->graph = keep;
    onnx__model_proto__free_unpacked(m, NULL);

    onnx_skeleton sk;
    cr_expect(!onnx_skeleton_build(mb, mn, &sk));
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_import_buffer(mb, mn, NULL, NULL, &g, &diag), BNN_OK, "%s",
                 diag.message);
    const bnn_value *v = &g->values[bnn_graph_find_value(g, "w0")];
    for (int i = 0; i < BIG; i++)
        cr_assert_eq(((const float *)v->data)[i], second[i]);
    bnn_graph_destroy(g);
    free(second);
    free(tb);
    free(gb);
    free(mb);
    free(bytes);
}

Test(skeleton, a_model_cut_anywhere_fails_cleanly)
{
    /* cut inside every part: headers, the payloads, the nodes after them */
    const bool big[] = {true, false, true};
    size_t size;
    uint8_t *bytes = make_model(3, big, &size);
    for (size_t cut = 1; cut < size; cut += cut < 64 || size - cut < 64 ? 1 : 97) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, bytes, cut);
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        bnn_status s = bnn_onnx_import_buffer(copy, cut, NULL, NULL, &g, &diag);
        cr_expect_neq(s, BNN_OK, "a model cut at %zu of %zu bytes imported", cut, size);
        cr_expect_null(g);
        bnn_graph_destroy(g);
        free(copy);
    }
    free(bytes);
}

/* A file whose arithmetic pins the batch of 1 (a Reshape to the constant
 * [64], which drops it; a leading 1 would be taken for the batch): the
 * importer tries it with a free batch, fails, and imports it again from the
 * same mapped bytes as declared; the lifted weight survives both tries. */
Test(skeleton, a_pinned_batch_imports_again_from_the_same_bytes)
{
    enum { N = 64 };
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops[1] = {&op};
    op.domain = "";
    op.has_version = true;
    op.version = 13;
    m.has_ir_version = true;
    m.ir_version = 8;
    m.n_opset_import = 1;
    m.opset_import = ops;
    m.graph = &g;
    g.name = "pinned";
    static float w[N * N];
    for (int i = 0; i < N * N; i++)
        w[i] = weight(1, i);
    int64_t wdims[2] = {N, N}, sdims[1] = {1}, shape_data[1] = {N};
    Onnx__TensorProto tw = ONNX__TENSOR_PROTO__INIT, ts = ONNX__TENSOR_PROTO__INIT;
    Onnx__TensorProto *inits[2] = {&tw, &ts};
    tw.name = "w";
    tw.has_data_type = true;
    tw.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tw.n_dims = 2;
    tw.dims = wdims;
    tw.has_raw_data = true;
    tw.raw_data.len = sizeof w; /* 16 KiB: lifted */
    tw.raw_data.data = (uint8_t *)w;
    ts.name = "shape";
    ts.has_data_type = true;
    ts.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    ts.n_dims = 1;
    ts.dims = sdims;
    ts.n_int64_data = 1;
    ts.int64_data = shape_data;
    g.n_initializer = 2;
    g.initializer = inits;
    Onnx__AttributeProto trans = ONNX__ATTRIBUTE_PROTO__INIT, *attrs[1] = {&trans};
    trans.name = "transB";
    trans.has_type = true;
    trans.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    trans.has_i = true;
    trans.i = 1;
    Onnx__NodeProto gemm = ONNX__NODE_PROTO__INIT, reshape = ONNX__NODE_PROTO__INIT;
    Onnx__NodeProto *nodes[2] = {&gemm, &reshape};
    char *gemm_in[2] = {"x", "w"}, *gemm_out[1] = {"h"}, *rs_in[2] = {"h", "shape"},
         *rs_out[1] = {"y"};
    gemm.op_type = "Gemm";
    gemm.n_input = 2;
    gemm.input = gemm_in;
    gemm.n_output = 1;
    gemm.output = gemm_out;
    gemm.n_attribute = 1;
    gemm.attribute = attrs;
    reshape.op_type = "Reshape";
    reshape.n_input = 2;
    reshape.input = rs_in;
    reshape.n_output = 1;
    reshape.output = rs_out;
    g.n_node = 2;
    g.node = nodes;
    Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT,
                                      d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    Onnx__TensorShapeProto__Dimension *dp[2] = {&d0, &d1};
    d0.value_case = d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d0.dim_value = 1;
    d1.dim_value = N;
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 2;
    shape.dim = dp;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = true;
    tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tt;
    Onnx__ValueInfoProto vx = ONNX__VALUE_INFO_PROTO__INIT, vy = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *vxp[1] = {&vx}, *vyp[1] = {&vy};
    vx.name = "x";
    vx.type = &type;
    vy.name = "y";
    vy.type = &type;
    g.n_input = 1;
    g.input = vxp;
    g.n_output = 1;
    g.output = vyp;
    size_t size = onnx__model_proto__get_packed_size(&m);
    uint8_t *bytes = malloc(size);
    cr_assert(bytes);
    onnx__model_proto__pack(&m, bytes);
    char path[] = "/tmp/bnnc-skeleton-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    cr_assert(f && fwrite(bytes, 1, size, f) == size && fclose(f) == 0);
    free(bytes);
    bnn_graph *out = NULL;
    bnn_diag diag = {0}, reason = {.status = BNN_OK};
    bnn_onnx_import_options opt = {.fixed_batch_reason = &reason};
    bnn_status s = bnn_onnx_import_file(path, &opt, &out, &diag);
    unlink(path);
    cr_assert_eq(s, BNN_OK, "%s", diag.message);
    const bnn_value *x = &out->values[bnn_graph_find_value(out, "x")];
    cr_expect_eq(x->shape.rank, 2);
    cr_expect_eq(x->shape.dims[0], 1, "the batch stays 1 as declared");
    /* and the options say why */
    cr_expect_neq(reason.status, BNN_OK);
    cr_expect(strstr(reason.message, "to the fixed f32[64]") != NULL, "reason: %s", reason.message);
    const bnn_value *wv = &out->values[bnn_graph_find_value(out, "w")];
    cr_assert_eq(wv->nbytes, sizeof w);
    cr_expect(memcmp(wv->data, w, sizeof w) == 0);
    bnn_graph_destroy(out);
}
