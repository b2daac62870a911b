/* Model fixtures of the runtime tests (model_fixtures.h). */
#include "model_fixtures.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_npy.h"
#include "bnn_onnx.h"

void fixture_load(const char *dir, const char *stem, char *model, size_t model_cap,
                  bnn_graph **g, bnn_tensor *x, bnn_tensor *want)
{
    char path[1024];
    bnn_diag diag = {0};
    snprintf(path, sizeof path, "%s/%s.onnx", dir, stem);
    if (model)
        snprintf(model, model_cap, "%s", path);
    cr_assert_eq(bnn_onnx_import_file(path, NULL, g, &diag), BNN_OK, "%s: %s", stem, diag.message);
    snprintf(path, sizeof path, "%s/%s.input.npy", dir, stem);
    cr_assert_eq(bnn_npy_read_file(path, x, &diag), BNN_OK, "%s: %s", path, diag.message);
    snprintf(path, sizeof path, "%s/%s.output.npy", dir, stem);
    cr_assert_eq(bnn_npy_read_file(path, want, &diag), BNN_OK, "%s: %s", path, diag.message);
    cr_assert_eq((*g)->n_inputs, 1, "%s", stem);
}

int fixture_for_each(const char *dir, const char *maker, void (*check)(const char *, const char *))
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0, "%s is missing (%s makes it)", dir, maker);
    int models = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (len > 5 && strcmp(names[i]->d_name + len - 5, ".onnx") == 0) {
            char stem[256];
            snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), names[i]->d_name);
            check(dir, stem);
            models++;
        }
        free(names[i]);
    }
    free(names);
    return models;
}

bnn_session *fixture_run(const char *stem, const char *what, const char *who, bnn_graph *g,
                         const bnn_tensor *x, const bnn_tensor *want)
{
    bnn_diag diag = {0};
    bnn_session *s;
    cr_assert_eq(bnn_session_create(g, &x->shape, NULL, &s, &diag), BNN_OK, "%s (%s): %s", stem,
                 what, diag.message);
    cr_assert_eq(bnn_session_set_input(s, NULL, x, &diag), BNN_OK, "%s: %s", stem, diag.message);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s: %s", stem, diag.message);
    const bnn_tensor *y = bnn_session_output(s, 0);
    char a[128], b[128];
    cr_assert(y->dtype == want->dtype && bnn_shape_equal(&y->shape, &want->shape),
              "%s (%s): output %s, %s gave %s", stem, what,
              bnn_shape_format(&y->shape, y->dtype, a, sizeof a), who,
              bnn_shape_format(&want->shape, want->dtype, b, sizeof b));
    return s;
}
