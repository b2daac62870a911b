/* PyTorch-exported models (tests/fixtures/torch, made by
 * tools/make_torch_fixtures.py) run through import, plan and run, and match
 * torch's own outputs; the same through `bnn_session_create_batch` at a
 * second batch size, to exercise re-planning with a symbolic batch. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_runtime.h"

/* float32 sums in another order than torch's: a little room beyond ONNX's
 * backend default. */
#define RTOL 1e-4
#define ATOL 1e-5

static void check_model(const char *dir, const char *stem)
{
    char path[1024];
    bnn_diag diag = {0};
    bnn_graph *g;
    bnn_tensor x, want;
    snprintf(path, sizeof path, "%s/%s.onnx", dir, stem);
    cr_assert_eq(bnn_onnx_import_file(path, NULL, &g, &diag), BNN_OK, "%s: %s", stem, diag.message);
    snprintf(path, sizeof path, "%s/%s.input.npy", dir, stem);
    cr_assert_eq(bnn_npy_read_file(path, &x, &diag), BNN_OK, "%s: %s", path, diag.message);
    snprintf(path, sizeof path, "%s/%s.output.npy", dir, stem);
    cr_assert_eq(bnn_npy_read_file(path, &want, &diag), BNN_OK, "%s: %s", path, diag.message);
    cr_assert_eq(g->n_inputs, 1, "%s", stem);

    bnn_session *s;
    cr_assert_eq(bnn_session_create(g, &x.shape, NULL, &s, &diag), BNN_OK, "%s: %s", stem,
                 diag.message);
    cr_assert_eq(bnn_session_set_input(s, NULL, &x, &diag), BNN_OK, "%s: %s", stem, diag.message);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s: %s", stem, diag.message);
    const bnn_tensor *y = bnn_session_output(s, 0);
    char a[128], b[128];
    cr_assert(y->dtype == want.dtype && bnn_shape_equal(&y->shape, &want.shape),
              "%s: output %s, torch gave %s", stem, bnn_shape_format(&y->shape, y->dtype, a, 128),
              bnn_shape_format(&want.shape, want.dtype, b, 128));
    const float *got = y->data, *ref = want.data;
    for (int64_t i = 0; i < bnn_tensor_numel(&want); i++)
        cr_assert(fabsf(got[i] - ref[i]) <= ATOL + RTOL * fabsf(ref[i]),
                  "%s: element %lld is %.9g, torch gave %.9g", stem, (long long)i, got[i], ref[i]);

    /* Row 0 alone, planned by batch size, must give torch's row 0. */
    bnn_session *one;
    cr_assert_eq(bnn_session_create_batch(g, 1, NULL, &one, &diag), BNN_OK, "%s: %s", stem,
                 diag.message);
    const bnn_tensor *x1 = bnn_session_input(one, 0);
    memcpy(x1->data, x.data, bnn_tensor_nbytes(x1));
    cr_assert_eq(bnn_session_run(one, &diag), BNN_OK, "%s: %s", stem, diag.message);
    const bnn_tensor *y1 = bnn_session_output(one, 0);
    for (int64_t i = 0; i < bnn_tensor_numel(y1); i++)
        cr_assert(fabsf(((float *)y1->data)[i] - ref[i]) <= ATOL + RTOL * fabsf(ref[i]),
                  "%s: batch 1, element %lld", stem, (long long)i);
    bnn_session_destroy(one);
    bnn_session_destroy(s);
    bnn_tensor_free(&x);
    bnn_tensor_free(&want);
    bnn_graph_destroy(g);
}

Test(torch_models, match_torch)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/torch", root);
    if (getenv("BNNC_TORCH_FIXTURES")) /* a directory made elsewhere, e.g. by --out */
        snprintf(dir, sizeof dir, "%s", getenv("BNNC_TORCH_FIXTURES"));
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s is missing (tools/make_torch_fixtures.py makes it)", dir);
    int models = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (len > 5 && strcmp(names[i]->d_name + len - 5, ".onnx") == 0) {
            char stem[256];
            snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), names[i]->d_name);
            check_model(dir, stem);
            models++;
        }
        free(names[i]);
    }
    free(names);
    cr_assert_geq(models, 17, "only %d models in %s", models, dir);
}
