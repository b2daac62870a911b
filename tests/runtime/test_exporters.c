/* Exporter idioms (tests/fixtures/exporters, made by
 * tools/make_exporter_fixtures.py with ONNX Runtime's outputs): every model
 * imports, plans for the input's own shape (dynamic H and W included), runs
 * and matches ONNX Runtime within 1e-4 of the output's largest magnitude.
 * The fixed-batch ones, imported with their batch freed (--input-shape's
 * import option), plan at batch 64 and give ONNX Runtime's row at batch 1. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"
#include "bnn_runtime.h"
#include "model_fixtures.h"

#define RTOL 1e-4

/* The fixed-batch fixtures and the shape that frees their batch. */
static const struct { const char *stem, *shape; } freed[] = {
    { "tf2onnx_nhwc", "input_1=N,8,8,3" },
    { "torch_cnn_op11", "input=N,1,12,12" },
    { "torch_cnn_op17", "input=N,1,12,12" },
    { "onnx18_ops", "x=N,4,5" },
};

static void compare(const char *stem, const char *what, const bnn_tensor *y, const bnn_tensor *want,
                    int64_t count)
{
    const float *got = y->data, *ref = want->data;
    float scale = 0;
    for (int64_t i = 0; i < bnn_tensor_numel(want); i++)
        scale = fmaxf(scale, fabsf(ref[i]));
    for (int64_t i = 0; i < count; i++)
        cr_assert(fabsf(got[i] - ref[i]) <= RTOL * scale, "%s (%s): element %lld is %.9g, ONNX Runtime gave %.9g",
                  stem, what, (long long)i, got[i], ref[i]);
}

static void run_once(const char *stem, const char *what, bnn_graph *g, const bnn_tensor *x,
                     const bnn_tensor *want)
{
    bnn_session *s = fixture_run(stem, what, "ONNX Runtime", g, x, want);
    compare(stem, what, bnn_session_output(s, 0), want, bnn_tensor_numel(want));
    bnn_session_destroy(s);
}

static void check_freed_batch(const char *path, const char *stem, const bnn_tensor *x,
                              const bnn_tensor *want)
{
    const char *spec = NULL;
    for (size_t i = 0; i < sizeof freed / sizeof *freed; i++)
        if (strcmp(freed[i].stem, stem) == 0)
            spec = freed[i].shape;
    if (!spec)
        return;
    char text[128];
    snprintf(text, sizeof text, "%s", spec);
    bnn_onnx_input_shape is;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_parse_input_shape(text, &is, &diag), BNN_OK, "%s", diag.message);
    bnn_onnx_import_options opt = { .input_shapes = &is, .n_input_shapes = 1 };
    bnn_graph *g;
    cr_assert_eq(bnn_onnx_import_file(path, &opt, &g, &diag), BNN_OK, "%s with %s: %s", stem, spec,
                 diag.message);
    cr_assert(bnn_dim_is_symbol(g->values[g->inputs[0]].shape.dims[0]), "%s: batch still fixed", stem);
    run_once(stem, spec, g, x, want);
    bnn_session *big;
    cr_assert_eq(bnn_session_create_batch(g, 64, NULL, &big, &diag), BNN_OK, "%s at batch 64: %s", stem,
                 diag.message);
    cr_assert_eq(bnn_session_output(big, 0)->shape.dims[0], 64, "%s", stem);
    bnn_session_destroy(big);
    bnn_graph_destroy(g);
}

static void check_model(const char *dir, const char *stem)
{
    char model[1024];
    bnn_graph *g;
    bnn_tensor x, want;
    fixture_load(dir, stem, model, sizeof model, &g, &x, &want);
    run_once(stem, "as exported", g, &x, &want);
    /* Shape arithmetic that folded away leaves no integer node behind. */
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        bool ints = true;
        for (int k = 0; k < n->n_outputs; k++)
            ints = ints && g->values[n->outputs[k]].dtype == BNN_I64;
        cr_assert(!(ints && bnn_graph_use_count(g, n->outputs[0]) == 0), "%s: dead node '%s' kept", stem,
                  n->name);
    }
    check_freed_batch(model, stem, &x, &want);
    bnn_tensor_free(&x);
    bnn_tensor_free(&want);
    bnn_graph_destroy(g);
}

Test(exporters, match_onnx_runtime)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/exporters", root);
    int models = fixture_for_each(dir, "tools/make_exporter_fixtures.py", check_model);
    cr_assert_geq(models, 7, "only %d models in %s", models, dir);
}

Test(exporters, pinned_batch_names_the_node)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root);
    char path[1024], text[] = "x=N,4";
    snprintf(path, sizeof path, "%s/tests/fixtures/exporters/bad/pinned_batch.onnx", root);
    bnn_onnx_input_shape is;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_parse_input_shape(text, &is, &diag), BNN_OK);
    bnn_onnx_import_options opt = { .input_shapes = &is, .n_input_shapes = 1 };
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_onnx_import_file(path, &opt, &g, &diag), BNN_ERR_SHAPE, "%s", diag.message);
    cr_assert(strncmp(diag.message, "node 'pin' (reshape): ", 22) == 0, "got: %s", diag.message);
    cr_assert_null(g);
}

Test(exporters, input_shape_text)
{
    bnn_onnx_input_shape is;
    bnn_diag diag = {0};
    char ok[] = "onnx::Flatten_0=N,25,96";
    cr_assert_eq(bnn_onnx_parse_input_shape(ok, &is, &diag), BNN_OK, "%s", diag.message);
    cr_assert_str_eq(is.name, "onnx::Flatten_0");
    cr_assert_eq(is.rank, 3);
    cr_assert_str_eq(is.symbols[0], "N");
    cr_assert_eq(is.dims[1], 25);
    cr_assert_eq(is.dims[2], 96);
    const char *bad[] = { "x", "=1,2", "x=", "x=1,,2", "x=1,2x", "x=-1", "x=1,2,3,4,5,6,7,8,9", "x=a.b" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char t[64];
        snprintf(t, sizeof t, "%s", bad[i]);
        cr_expect_eq(bnn_onnx_parse_input_shape(t, &is, &diag), BNN_ERR_INVALID, "'%s' parsed", bad[i]);
        cr_expect(strstr(diag.message, bad[i]) != NULL, "'%s': message %s", bad[i], diag.message);
    }
}
