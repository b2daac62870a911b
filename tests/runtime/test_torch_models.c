/* PyTorch-exported models (tests/fixtures/torch, made by
 * tools/make_torch_fixtures.py) run through import, plan and run, and match
 * torch's own outputs; the same through `bnn_session_create_batch` at a
 * second batch size, to exercise re-planning with a symbolic batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_runtime.h"
#include "model_fixtures.h"

/* float32 sums in another order than torch's: a little room beyond ONNX's
 * backend default. */
#define RTOL 1e-4
#define ATOL 1e-5

static void check_model(const char *dir, const char *stem)
{
    bnn_diag diag = {0};
    bnn_graph *g;
    bnn_tensor x, want;
    fixture_load(dir, stem, NULL, 0, &g, &x, &want);
    bnn_session *s = fixture_run(stem, "as exported", "torch", g, &x, &want);
    const bnn_tensor *y = bnn_session_output(s, 0);
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
    int models = fixture_for_each(dir, "tools/make_torch_fixtures.py", check_model);
    cr_assert_geq(models, 17, "only %d models in %s", models, dir);
}
