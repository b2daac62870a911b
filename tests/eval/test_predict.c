/* Monte-Carlo prediction (runtime/predict.c) on the bundled LeNet-5 and its
 * Bayesian conversion: one network per sample whatever the batch size,
 * seeds reproduce, a deterministic model runs once, probabilities are the
 * softmax of the raw outputs, and the argument checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_predict.h"

static bnn_graph *load(bool bayesian)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/lenet5.onnx", getenv("BNNC_SOURCE_ROOT"));
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_import_file(path, NULL, &g, &diag), BNN_OK, "%s", diag.message);
    if (bayesian)
        cr_assert_eq(bnn_passes_run_text("canonicalize,to-bnn{layers=all init=weights "
                                         "delta=0.5},dce", g, &diag), BNN_OK, "%s", diag.message);
    return g;
}

static bnn_tensor digits(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/digits/batch16.npy", getenv("BNNC_SOURCE_ROOT"));
    bnn_tensor x;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_npy_read_file(path, &x, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(x.shape.dims[0], 16);
    return x;
}

/* S x 16 x 10 probabilities (malloc'ed). */
static float *predict(const bnn_graph *g, const bnn_tensor *x, int64_t samples, int64_t batch,
                      uint64_t seed, int64_t *samples_out)
{
    bnn_predict_options o = bnn_predict_defaults();
    o.samples = samples;
    o.batch = batch;
    o.seed = seed;
    o.threads = 1;
    int64_t k;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_predict_classes(g, x, &o, NULL, samples_out, &k, &diag), BNN_OK);
    cr_assert_eq(k, 10);
    float *p = malloc(sizeof(float) * (size_t)(*samples_out * 16 * 10));
    cr_assert_eq(bnn_predict_classes(g, x, &o, p, samples_out, &k, &diag), BNN_OK, "%s",
                 diag.message);
    return p;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

Test(predict, one_network_per_sample_whatever_the_batch)
{
    bnn_graph *g = load(true);
    bnn_tensor x = digits();
    int64_t s1, s2;
    float *whole = predict(g, &x, 4, 16, 3, &s1);
    float *pieces = predict(g, &x, 4, 5, 3, &s2); /* batches 5, 5, 5, 1 */
    cr_assert_eq(s1, 4);
    cr_assert_eq(s2, 4);
    /* the same weights per sample: equal up to GEMM blocking order */
    cr_assert_lt(max_diff(whole, pieces, 4 * 16 * 10), 1e-5);
    /* and the samples differ from each other */
    cr_assert_gt(max_diff(whole, whole + 160, 160), 1e-4);
    for (int64_t r = 0; r < 4 * 16; r++) {
        double sum = 0;
        for (int j = 0; j < 10; j++)
            sum += whole[r * 10 + j];
        cr_assert_float_eq(sum, 1.0, 1e-5);
    }
    free(whole);
    free(pieces);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}

Test(predict, seeds_reproduce_and_differ)
{
    bnn_graph *g = load(true);
    bnn_tensor x = digits();
    int64_t s;
    float *a = predict(g, &x, 3, 16, 1, &s);
    float *b = predict(g, &x, 3, 16, 1, &s);
    float *c = predict(g, &x, 3, 16, 2, &s);
    cr_assert_eq(memcmp(a, b, sizeof(float) * 3 * 160), 0);
    cr_assert_gt(max_diff(a, c, 3 * 160), 1e-4);
    /* more samples: the first ones are the same draws */
    float *d = predict(g, &x, 5, 16, 1, &s);
    cr_assert_eq(memcmp(a, d, sizeof(float) * 3 * 160), 0);
    /* disagreeing samples give positive mutual information somewhere */
    float mean[160], total[16], aleatoric[16], epistemic[16];
    bnn_predictive_stats(d, 5, 16, 10, mean, total, aleatoric, epistemic);
    float most = 0;
    for (int i = 0; i < 16; i++) {
        cr_assert_geq(epistemic[i], 0);
        cr_assert_float_eq(total[i] - aleatoric[i], epistemic[i], 1e-5);
        most = fmaxf(most, epistemic[i]);
    }
    cr_assert_gt(most, 1e-4);
    free(a);
    free(b);
    free(c);
    free(d);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}

Test(predict, deterministic_runs_once_and_softmaxes_its_logits)
{
    bnn_graph *g = load(false);
    bnn_tensor x = digits();
    cr_assert(!bnn_graph_is_bayesian(g));
    cr_assert(!bnn_graph_outputs_probabilities(g));
    int64_t s;
    float *p = predict(g, &x, 32, 7, 0, &s);
    cr_assert_eq(s, 1);
    bnn_predict_options o = bnn_predict_defaults();
    o.samples = 32;
    o.threads = 1;
    int64_t width, s2;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_predict_outputs(g, &x, &o, NULL, &s2, &width, &diag), BNN_OK);
    cr_assert_eq(width, 10);
    cr_assert_eq(s2, 1);
    float z[160];
    cr_assert_eq(bnn_predict_outputs(g, &x, &o, z, &s2, &width, &diag), BNN_OK);
    for (int i = 0; i < 16; i++) {
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < 10; j++)
            m = fmax(m, z[i * 10 + j]);
        for (int j = 0; j < 10; j++)
            sum += exp(z[i * 10 + j] - m);
        for (int j = 0; j < 10; j++)
            cr_assert_float_eq(p[i * 10 + j], exp(z[i * 10 + j] - m) / sum, 1e-6);
    }
    /* "these are probabilities": copied as they are */
    o.outputs_probabilities = 1;
    int64_t k;
    float q[160];
    cr_assert_eq(bnn_predict_classes(g, &x, &o, q, &s2, &k, &diag), BNN_OK);
    cr_assert_eq(memcmp(q, z, sizeof z), 0);
    free(p);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}

Test(predict, bad_arguments)
{
    bnn_graph *g = load(true);
    bnn_tensor x = digits();
    bnn_predict_options o = bnn_predict_defaults();
    int64_t s, k;
    float p[160];
    bnn_diag diag = {0};
    o.samples = 0;
    cr_assert_eq(bnn_predict_classes(g, &x, &o, NULL, &s, &k, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "samples must be at least 1"), "%s", diag.message);
    o.samples = 1;
    o.batch = 0;
    cr_assert_eq(bnn_predict_classes(g, &x, &o, p, &s, &k, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "batch"), "%s", diag.message);
    /* rows that do not fit the model: the session says which input */
    o.batch = 16;
    bnn_tensor flat = x;
    flat.shape.rank = 2;
    flat.shape.dims[1] = 784;
    flat.owns_data = false;
    cr_assert_neq(bnn_predict_classes(g, &flat, &o, p, &s, &k, &diag), BNN_OK);
    cr_assert(strstr(diag.message, "input"), "%s", diag.message);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}
