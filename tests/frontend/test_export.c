/* ONNX export: standard ops and Bayesian ai.bnnc nodes written as a valid
 * ModelProto (opset, initializers with raw_data, dim_param), atomically, and
 * read back into the same IR. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "onnx_impl.h"

static char dir[] = "/tmp/bnnc-export-test-XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/bnnc-export-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int count_entries(const char *d)
{
    DIR *dd = opendir(d);
    cr_assert_not_null(dd);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        n += e->d_name[0] != '.';
    closedir(dd);
    return n;
}

static void teardown(void)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    char p[512];
    while (dd && (e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (dd)
        closedir(dd);
    rmdir(dir);
}

TestSuite(export, .init = setup, .fini = teardown);

static Onnx__ModelProto *read_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, buf);
    cr_assert_not_null(m, "the export does not parse as a ModelProto");
    return m;
}

Test(export, bayesian_model_writes_the_bnnc_domain)
{
    bnn_graph *g = fe_import("bayes.onnx", NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/out.onnx", dir);
    bnn_diag d;
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "%s", d.message);
    Onnx__ModelProto *m = read_model(path);
    bool std = false, bnnc = false;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *dom = onnx_str(m->opset_import[i]->domain);
        if (!*dom) {
            std = true;
            cr_expect_eq(m->opset_import[i]->version, 13);
        } else if (!strcmp(dom, "ai.bnnc")) {
            bnnc = true;
            cr_expect_eq(m->opset_import[i]->version, 1);
        }
    }
    cr_expect(std && bnnc);
    int reparam = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) {
        const Onnx__NodeProto *n = m->graph->node[i];
        if (!strcmp(onnx_str(n->op_type), "DenseReparam") || !strcmp(onnx_str(n->op_type), "ConvReparam")) {
            reparam++;
            cr_expect_str_eq(onnx_str(n->domain), "ai.bnnc");
            cr_expect_eq(n->n_input, 5u);
        }
    }
    cr_expect_eq(reparam, 2);
    cr_expect_eq(m->graph->n_initializer, 8u);
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        cr_expect(m->graph->initializer[i]->has_raw_data);
    /* The batch dimension goes out as dim_param. */
    const Onnx__TensorShapeProto *s = m->graph->input[0]->type->tensor_type->shape;
    cr_assert_not_null(s);
    cr_expect_eq(s->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
    cr_expect_str_eq(s->dim[0]->dim_param, "N");
    onnx__model_proto__free_unpacked(m, NULL);
    cr_expect_eq(count_entries(dir), 1, "no temporary file is left behind");
    bnn_graph_destroy(g);
}

Test(export, replaces_an_existing_file_atomically)
{
    char path[600];
    snprintf(path, sizeof path, "%s/out.onnx", dir);
    FILE *f = fopen(path, "wb");
    fputs("old", f);
    fclose(f);
    bnn_graph *g = fe_import("gemm_dense.onnx", NULL);
    bnn_diag d;
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "%s", d.message);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_gt(st.st_size, 3);
    cr_expect_eq(count_entries(dir), 1);
    bnn_graph_destroy(g);
}

Test(export, unwritable_path_fails_and_leaves_nothing)
{
    bnn_graph *g = fe_import("gemm_dense.onnx", NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/missing-dir/out.onnx", dir);
    bnn_diag d;
    cr_expect_eq(bnn_onnx_export_file(g, path, &d), BNN_ERR_IO);
    cr_expect(strstr(d.message, "temporary") != NULL, "got: %s", d.message);
    cr_expect_eq(count_entries(dir), 0);
    bnn_graph_destroy(g);
}

/* The pre-13 softmax (flatten to 2-D at axis) has no opset-13 op: it goes out
 * as Flatten -> Softmax(-1) -> Reshape(Shape(x)), which the importer fuses
 * back into the same softmax node. */
Test(export, softmax_with_pre13_meaning_exports_as_flatten_softmax_reshape)
{
    bnn_graph *g = fe_import("softmax_opset11.onnx", NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/out.onnx", dir);
    bnn_diag d;
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "%s", d.message);
    Onnx__ModelProto *m = read_model(path);
    cr_expect_eq(m->opset_import[0]->version, 13);
    cr_assert_eq(m->n_metadata_props, 1u);
    cr_expect_str_eq(m->metadata_props[0]->key, BNN_ONNX_SOURCE_OPSET_KEY);
    cr_expect_str_eq(m->metadata_props[0]->value, "11");
    static const char *const want[] = { "Flatten", "Softmax", "Shape", "Reshape", "LogSoftmax" };
    cr_assert_eq(m->graph->n_node, 5u);
    for (size_t i = 0; i < 5; i++)
        cr_expect_str_eq(onnx_str(m->graph->node[i]->op_type), want[i]);
    onnx__model_proto__free_unpacked(m, NULL);
    bnn_graph *g2;
    cr_assert_eq(bnn_onnx_import_file(path, NULL, &g2, &d), BNN_OK, "%s", d.message);
    const bnn_node *sm = fe_producer(g2, "y");
    cr_assert_eq(sm->op, BNN_OP_SOFTMAX);
    cr_expect_eq(bnn_node_int(sm, "coerce", 0), 1);
    cr_expect_eq(fe_count_op(g2, BNN_OP_FLATTEN), 0);
    cr_expect_eq(g2->onnx_opset, 11);
    bnn_graph_destroy(g2);
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
}

Test(export, every_test_model_round_trips)
{
    static const char *const models[] = {
        "gemm_dense.onnx", "gemm_alpha.onnx", "gemm_dynamic.onnx", "matmul_add.onnx",
        "matmul_shared.onnx", "matmul_batched.onnx", "conv_same_upper.onnx", "conv1d.onnx",
        "pools.onnx", "softmax_opset13.onnx", "clip_opset10.onnx", "clip_opset13.onnx",
        "layout_opset10.onnx", "layout_opset13.onnx", "misc.onnx", "constants.onnx",
        "reshape_input.onnx", "view_manual.onnx", "torch_view.onnx", "external.onnx", "bayes.onnx",
        "softmax_opset11.onnx", "softmax_chain.onnx", "legacy_opset6.onnx", "legacy_opset1.onnx",
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        bnn_graph *g = fe_import(models[i], NULL);
        fe_expect_roundtrip(g);
        bnn_graph_destroy(g);
    }
}

Test(export, dense_on_rank3_input_goes_out_as_matmul_add)
{
    /* Built by hand: x [N,5,4] -> dense(W [3,4], b [3]). */
    bnn_graph *g = bnn_graph_create("rank3");
    bnn_shape xs = { .rank = 3, .dims = { bnn_graph_symbol(g, "N"), 5, 4 } };
    int x = bnn_graph_add_value(g, "x", BNN_F32, &xs);
    bnn_graph_add_input(g, x);
    float w[12], b[3] = { 1, 2, 3 };
    for (int i = 0; i < 12; i++)
        w[i] = (float)i;
    bnn_shape ws = { .rank = 2, .dims = { 3, 4 } }, bs = { .rank = 1, .dims = { 3 } };
    int wid = bnn_graph_add_param(g, "W", BNN_F32, &ws, w, sizeof w, false);
    int bid = bnn_graph_add_param(g, "b", BNN_F32, &bs, b, sizeof b, false);
    int y = bnn_graph_add_value(g, "y", BNN_F32, NULL);
    int in[3] = { x, wid, bid };
    int nid = bnn_graph_add_node(g, BNN_OP_DENSE, "fc", in, 3, &y, 1);
    bnn_diag d;
    cr_assert_eq(bnn_graph_infer_node(g, nid, &d), BNN_OK, "%s", d.message);
    bnn_graph_add_output(g, y);
    g->onnx_opset = 13;
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
}

Test(export, concat_of_many_inputs_keeps_every_input)
{
    /* Twelve inputs: more than the eight slots the exporter once had. */
    enum { N_IN = 12 };
    bnn_graph *g = bnn_graph_create("concat12");
    int ins[N_IN];
    for (int i = 0; i < N_IN; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        bnn_shape s = { .rank = 2, .dims = { 2, i + 1 } };
        ins[i] = bnn_graph_add_value(g, name, BNN_F32, &s);
        bnn_graph_add_input(g, ins[i]);
    }
    int y = bnn_graph_add_value(g, "y", BNN_F32, NULL);
    int nid = bnn_graph_add_node(g, BNN_OP_CONCAT, "cat", ins, N_IN, &y, 1);
    bnn_diag d;
    cr_assert_eq(bnn_node_set_int(g, nid, "axis", 1), BNN_OK);
    cr_assert_eq(bnn_graph_infer_node(g, nid, &d), BNN_OK, "%s", d.message);
    bnn_graph_add_output(g, y);
    g->onnx_opset = 13;
    char path[600];
    snprintf(path, sizeof path, "%s/concat.onnx", dir);
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "%s", d.message);
    Onnx__ModelProto *m = read_model(path);
    cr_assert_eq(m->graph->n_node, 1u);
    cr_assert_eq(m->graph->node[0]->n_input, (size_t)N_IN);
    for (int i = 0; i < N_IN; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        cr_expect_str_eq(m->graph->node[0]->input[i], name);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    fe_expect_roundtrip(g);
    bnn_graph_destroy(g);
}

Test(export, repeated_node_names_become_unique)
{
    /* Three relus named "act" (as a pass adding nodes may leave them) and a
     * fourth named "act#2": ONNX Runtime refuses a model whose nodes share a
     * name, so the later ones are renamed past every name in use. */
    bnn_graph *g = bnn_graph_create("names");
    bnn_shape s = { .rank = 2, .dims = { 2, 3 } };
    int x = bnn_graph_add_value(g, "x", BNN_F32, &s);
    bnn_graph_add_input(g, x);
    static const char *const names[] = { "act", "act#2", "act", "act" };
    int prev = x;
    bnn_diag d;
    for (int i = 0; i < 4; i++) {
        char vn[16];
        snprintf(vn, sizeof vn, "v%d", i);
        int v = bnn_graph_add_value(g, vn, BNN_F32, NULL);
        int nid = bnn_graph_add_node(g, BNN_OP_RELU, names[i], &prev, 1, &v, 1);
        cr_assert_eq(bnn_graph_infer_node(g, nid, &d), BNN_OK, "%s", d.message);
        prev = v;
    }
    bnn_graph_add_output(g, prev);
    g->onnx_opset = 13;
    char path[600];
    snprintf(path, sizeof path, "%s/names.onnx", dir);
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "%s", d.message);
    Onnx__ModelProto *m = read_model(path);
    cr_assert_eq(m->graph->n_node, 4u);
    static const char *const want[] = { "act", "act#2", "act#3", "act#4" };
    for (size_t i = 0; i < 4; i++)
        cr_expect_str_eq(m->graph->node[i]->name, want[i]);
    onnx__model_proto__free_unpacked(m, NULL);
    bnn_graph_destroy(g);
}
