/* Shared helpers of the frontend's unit tests (see helpers.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph_compare.h"
#include "helpers.h"

const char *fe_path(const char *sub, const char *name)
{
    static char buf[2048];
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert(root && *root, "BNNC_SOURCE_ROOT is not set");
    snprintf(buf, sizeof buf, "%s/tests/frontend/%s/%s", root, sub, name);
    return buf;
}

bnn_graph *fe_import(const char *name, const bnn_onnx_import_options *opts)
{
    bnn_graph *g = NULL;
    bnn_diag d = { 0 };
    bnn_status s = bnn_onnx_import_file(fe_path("models", name), opts, &g, &d);
    cr_assert_eq(s, BNN_OK, "%s: %s", name, d.message);
    cr_assert_eq(bnn_graph_verify(g, &d), BNN_OK, "%s: verify: %s", name, d.message);
    return g;
}

const char *fe_import_error(const char *sub, const char *name, bnn_status *status)
{
    static bnn_diag d;
    bnn_graph *g = (bnn_graph *)1;
    memset(&d, 0, sizeof d);
    bnn_status s = bnn_onnx_import_file(fe_path(sub, name), NULL, &g, &d);
    cr_assert_neq(s, BNN_OK, "%s imported although it should not", name);
    cr_assert_null(g, "%s: *out must be NULL on failure", name);
    if (status)
        *status = s;
    return d.message;
}

const bnn_node *fe_producer(const bnn_graph *g, const char *out)
{
    int v = bnn_graph_find_value(g, out);
    cr_assert_geq(v, 0, "no value '%s'", out);
    int p = bnn_graph_value(g, v)->producer;
    cr_assert_geq(p, 0, "value '%s' has no producer", out);
    return bnn_graph_node(g, p);
}

int fe_count_op(const bnn_graph *g, bnn_op op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op;
    return n;
}

void fe_expect_ints(const bnn_node *n, const char *attr, const int64_t *want, int count)
{
    const int64_t *v;
    int got = bnn_node_ints(n, attr, &v);
    cr_assert_eq(got, count, "node '%s': %s has %d values, expected %d", n->name, attr, got, count);
    for (int i = 0; i < count; i++)
        cr_expect_eq(v[i], want[i], "node '%s': %s[%d] = %lld, expected %lld", n->name, attr, i,
                     (long long)v[i], (long long)want[i]);
}

const float *fe_param_f32(const bnn_graph *g, const char *name)
{
    int v = bnn_graph_find_value(g, name);
    cr_assert_geq(v, 0, "no value '%s'", name);
    const bnn_value *val = bnn_graph_value(g, v);
    cr_assert_eq(val->kind, BNN_VALUE_PARAM, "'%s' is not a param", name);
    cr_assert_eq(val->dtype, BNN_F32, "'%s' is not f32", name);
    return val->data;
}

void fe_expect_roundtrip(const bnn_graph *g)
{
    char path[] = "/tmp/bnnc-frontend-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    bnn_diag d = { 0 };
    cr_assert_eq(bnn_onnx_export_file(g, path, &d), BNN_OK, "export: %s", d.message);
    bnn_graph *g2 = NULL;
    bnn_status s = bnn_onnx_import_file(path, NULL, &g2, &d);
    unlink(path);
    cr_assert_eq(s, BNN_OK, "re-import: %s", d.message);
    char why[512];
    bool same = graph_compare(g, g2, why, sizeof why) && graph_print_equal(g, g2, why, sizeof why);
    bnn_graph_destroy(g2);
    cr_assert(same, "round trip differs: %s", why);
}
