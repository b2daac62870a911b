/* End to end on the bundled LeNet-5 (examples/lenet5.onnx): convert with
 * to-bnn{init=weights}, take bnn-to-mean, and check that the mean model's
 * logits on sample digits equal the original model's bit for bit; and that
 * sampled outputs stay near the deterministic ones for a tiny posterior sigma
 * and spread for a large one (seeded).
 *
 * Depends on the ONNX importer (frontend/) and the runtime's session API
 * (runtime/); exits 77 (skipped) while examples/lenet5.onnx does not exist. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_runtime.h"

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, __VA_ARGS__);                   \
            fputc('\n', stderr);                            \
            exit(1);                                        \
        }                                                   \
    } while (0)

/* The logits of graph g on input x (owned copy in out); seed keys the
 * Bayesian layers' weight samples. */
static void run_seeded(const bnn_graph *g, const bnn_tensor *x, uint64_t seed, bnn_tensor *out)
{
    bnn_diag diag = {0};
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = 1;
    opt.seed = seed;
    bnn_session *s = NULL;
    CHECK(bnn_session_create_batch(g, x->shape.dims[0], &opt, &s, &diag) == BNN_OK,
          "session: %s", diag.message);
    CHECK(bnn_session_set_input(s, NULL, x, &diag) == BNN_OK, "input: %s", diag.message);
    CHECK(bnn_session_run(s, &diag) == BNN_OK, "run: %s", diag.message);
    const bnn_tensor *y = bnn_session_output(s, 0);
    CHECK(bnn_tensor_alloc(out, y->dtype, &y->shape, &diag) == BNN_OK, "%s", diag.message);
    memcpy(out->data, y->data, bnn_tensor_nbytes(y));
    bnn_session_destroy(s);
}

static void run(const bnn_graph *g, const bnn_tensor *x, bnn_tensor *out)
{
    run_seeded(g, x, 0, out);
}

/* Mean absolute difference between two logit tensors of the same shape. */
static double mean_abs_diff(const bnn_tensor *a, const bnn_tensor *b)
{
    int64_t n = bnn_tensor_numel(a);
    const float *p = a->data, *q = b->data;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)p[i] - (double)q[i]);
    return sum / (double)n;
}

/* Converts orig with to-bnn{init=weights delta=DELTA} and returns the mean,
 * over 4 seeds, of the mean |sampled logits - deterministic logits|. */
static double spread(const bnn_graph *orig, const bnn_tensor *x, const bnn_tensor *y0,
                     const char *pipeline)
{
    bnn_diag diag = {0};
    bnn_graph *g = bnn_graph_clone(orig);
    CHECK(g && bnn_passes_run_text(pipeline, g, &diag) == BNN_OK, "%s: %s", pipeline, diag.message);
    double total = 0;
    bnn_tensor first, again;
    run_seeded(g, x, 1, &first);
    run_seeded(g, x, 1, &again);
    CHECK(memcmp(first.data, again.data, bnn_tensor_nbytes(&first)) == 0,
          "%s: the same seed gave different samples", pipeline);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        bnn_tensor y;
        run_seeded(g, x, seed, &y);
        CHECK(seed == 1 || memcmp(y.data, first.data, bnn_tensor_nbytes(&y)) != 0,
              "%s: seeds 1 and %llu gave the same samples", pipeline, (unsigned long long)seed);
        total += mean_abs_diff(&y, y0);
        bnn_tensor_free(&y);
    }
    bnn_tensor_free(&first);
    bnn_tensor_free(&again);
    bnn_graph_destroy(g);
    return total / 4;
}

int main(void)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    char model[4096], digits[4096];
    snprintf(model, sizeof model, "%s/examples/lenet5.onnx", root ? root : ".");
    snprintf(digits, sizeof digits, "%s/examples/digits/batch16.npy", root ? root : ".");
    FILE *f = fopen(model, "rb");
    if (!f) {
        fprintf(stderr, "%s missing: skipped\n", model);
        return 77;
    }
    fclose(f);
    bnn_diag diag = {0};
    bnn_graph *orig = NULL;
    CHECK(bnn_onnx_import_file(model, NULL, &orig, &diag) == BNN_OK, "%s: %s", model, diag.message);
    bnn_tensor x;
    CHECK(bnn_npy_read_file(digits, &x, &diag) == BNN_OK, "%s: %s", digits, diag.message);

    bnn_graph *bayes = bnn_graph_clone(orig);
    CHECK(bayes, "out of memory");
    CHECK(bnn_passes_run_text("canonicalize,to-bnn{init=weights},dce", bayes, &diag) == BNN_OK,
          "convert: %s", diag.message);
    int n_bayes = 0;
    for (int i = 0; i < bayes->n_nodes; i++)
        n_bayes += bnn_op_is_bayesian(bayes->nodes[i].op);
    CHECK(n_bayes == 5, "expected 5 Bayesian layers, got %d", n_bayes);
    bnn_graph *mean = bnn_graph_clone(bayes);
    CHECK(bnn_passes_run_text("bnn-to-mean,dce", mean, &diag) == BNN_OK, "mean: %s", diag.message);

    bnn_tensor y0, y1;
    run(orig, &x, &y0);
    run(mean, &x, &y1);
    CHECK(bnn_shape_equal(&y0.shape, &y1.shape), "output shapes differ");
    CHECK(memcmp(y0.data, y1.data, bnn_tensor_nbytes(&y0)) == 0,
          "the mean model's logits differ from the original's");
    printf("lenet5: mean model == original on %lld digits\n", (long long)x.shape.dims[0]);

    /* Sampling: with a tiny posterior sigma the sampled logits stay near the
     * deterministic ones; with a large one they spread.  Seeded, so fixed. */
    double tiny = spread(orig, &x, &y0, "canonicalize,to-bnn{init=weights delta=0.0001},dce");
    double wide = spread(orig, &x, &y0, "canonicalize,to-bnn{init=weights delta=0.5},dce");
    double scale = 0;
    for (int64_t i = 0; i < bnn_tensor_numel(&y0); i++)
        scale += fabs((double)((const float *)y0.data)[i]) / (double)bnn_tensor_numel(&y0);
    printf("lenet5: mean |logit| %.4g; sampled spread %.4g at delta=1e-4, %.4g at delta=0.5\n",
           scale, tiny, wide);
    CHECK(tiny < 0.01 * scale, "delta=1e-4: samples spread %g, more than 1%% of %g", tiny, scale);
    CHECK(wide > 0.05 * scale && wide > 50 * tiny, "delta=0.5: samples spread only %g", wide);

    bnn_tensor_free(&y0);
    bnn_tensor_free(&y1);
    bnn_tensor_free(&x);
    bnn_graph_destroy(mean);
    bnn_graph_destroy(bayes);
    bnn_graph_destroy(orig);
    return 0;
}
