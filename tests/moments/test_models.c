/* The whole-model moment predictive against Monte-Carlo with 1000 weight
 * samples (bnn_predict_classes, the C API behind --predictive and
 * --samples), on the bundled LeNet-5 converted with to-bnn{layers=all} and
 * on an MLP classifier (784-100-50-10, seeded random weights, converted the
 * same way), over the 16 sample digits.
 *
 * Checked, per model: the predicted class agrees with MC on at least 15 of
 * 16 digits; the mean |p_moments - p_mc| over all probabilities <= 0.01 and
 * the largest <= 0.06; the predictive entropy within 0.05 nats on average.
 * Moments with 1000 logit draws, with the probit link and with the 2k
 * sigma points of the logits' full covariance are all checked; the GLM form only for the class agreement (it is a
 * different approximation, not an estimate of the same predictive).  The
 * numbers are printed for docs/uncertainty.md.  Exits 77 (skipped) when
 * examples/ is missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_predict.h"

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, __VA_ARGS__);                   \
            fputc('\n', stderr);                            \
            exit(1);                                        \
        }                                                   \
    } while (0)

static int failures;

/* Predictive mean probabilities [n x k] and entropies [n]. */
static float *predictive(const bnn_graph *g, const bnn_tensor *x, bnn_predictive kind,
                         bnn_logit_rule rule, int64_t samples, float **entropy, int64_t *k_out)
{
    bnn_diag diag = {0};
    bnn_predict_options o = bnn_predict_defaults();
    o.samples = samples;
    o.predictive = kind;
    o.logits = rule;
    o.seed = 3;
    int64_t s, k, n = x->shape.dims[0];
    CHECK(bnn_predict_classes(g, x, &o, NULL, &s, &k, &diag) == BNN_OK, "%s", diag.message);
    float *probs = malloc(sizeof(float) * (size_t)(s * n * k));
    CHECK(bnn_predict_classes(g, x, &o, probs, &s, &k, &diag) == BNN_OK, "%s", diag.message);
    float *mean = malloc(sizeof(float) * (size_t)(n * k));
    *entropy = malloc(sizeof(float) * (size_t)n);
    float *ale = malloc(sizeof(float) * (size_t)n), *epi = malloc(sizeof(float) * (size_t)n);
    bnn_predictive_stats(probs, s, n, k, mean, *entropy, ale, epi);
    free(probs);
    free(ale);
    free(epi);
    *k_out = k;
    return mean;
}

static void compare(const char *model, const bnn_graph *g, const bnn_tensor *x)
{
    int64_t k, n = x->shape.dims[0];
    float *h_mc, *h_m, *h_p, *h_s, *h_g;
    float *mc = predictive(g, x, BNN_PREDICTIVE_MC, BNN_LOGITS_SIGMA, 1000, &h_mc, &k);
    float *mom = predictive(g, x, BNN_PREDICTIVE_MOMENTS, BNN_LOGITS_DRAWS, 1000, &h_m, &k);
    float *probit = predictive(g, x, BNN_PREDICTIVE_MOMENTS, BNN_LOGITS_PROBIT, 1, &h_p, &k);
    float *sigma = predictive(g, x, BNN_PREDICTIVE_MOMENTS, BNN_LOGITS_SIGMA, 1, &h_s, &k);
    float *glm = predictive(g, x, BNN_PREDICTIVE_GLM, BNN_LOGITS_DRAWS, 1000, &h_g, &k);
    const char *names[4] = {"moments (1000 logit draws)", "moments (probit)",
                            "moments (sigma points)", "glm (1000 logit draws)"};
    float *preds[4] = {mom, probit, sigma, glm}, *ents[4] = {h_m, h_p, h_s, h_g};
    for (int m = 0; m < 4; m++) {
        double sum = 0, worst = 0, dh = 0;
        int agree = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t a = 0, b = 0;
            for (int64_t j = 0; j < k; j++) {
                double d = fabs(preds[m][i * k + j] - mc[i * k + j]);
                sum += d;
                worst = d > worst ? d : worst;
                a = preds[m][i * k + j] > preds[m][i * k + a] ? j : a;
                b = mc[i * k + j] > mc[i * k + b] ? j : b;
            }
            agree += a == b;
            dh += fabs(ents[m][i] - h_mc[i]);
        }
        double mean_abs = sum / (double)(n * k), mean_dh = dh / (double)n;
        bool ok = agree >= n - 1;
        if (m < 3)
            ok = ok && mean_abs <= 0.01 && worst <= 0.06 && mean_dh <= 0.05;
        printf("%s, %s vs MC 1000: class agrees %d/%lld, mean |dp| %.4f, max |dp| %.4f, "
               "mean |d entropy| %.4f nats %s\n", model, names[m], agree, (long long)n, mean_abs,
               worst, mean_dh, ok ? "ok" : "FAIL");
        failures += !ok;
    }
    free(mc); free(mom); free(probit); free(sigma); free(glm);
    free(h_mc); free(h_m); free(h_p); free(h_s); free(h_g);
}

static const char *mlp_text =
    "graph @mlp(%x: f32[N,784]) -> (%logits: f32[N,10]) {\n"
    "  param %fc1.weight: f32[100,784]\n  param %fc1.bias: f32[100]\n"
    "  param %fc2.weight: f32[50,100]\n  param %fc2.bias: f32[50]\n"
    "  param %fc3.weight: f32[10,50]\n  param %fc3.bias: f32[10]\n"
    "  %h1 = dense(%x, %fc1.weight, %fc1.bias) : f32[N,100] @fc1\n"
    "  %r1 = relu(%h1) : f32[N,100] @relu1\n"
    "  %h2 = dense(%r1, %fc2.weight, %fc2.bias) : f32[N,50] @fc2\n"
    "  %r2 = relu(%h2) : f32[N,50] @relu2\n"
    "  %logits = dense(%r2, %fc3.weight, %fc3.bias) : f32[N,10] @fc3\n"
    "  return %logits\n}\n";

int main(void)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    char model[1024], digits[1024];
    snprintf(model, sizeof model, "%s/examples/lenet5.onnx", root ? root : ".");
    snprintf(digits, sizeof digits, "%s/examples/digits/batch16.npy", root ? root : ".");
    FILE *f = fopen(model, "rb");
    if (!f)
        return 77;
    fclose(f);
    bnn_diag diag = {0};
    bnn_graph *lenet = NULL, *mlp = NULL;
    bnn_tensor x;
    CHECK(bnn_onnx_import_file(model, NULL, &lenet, &diag) == BNN_OK, "%s: %s", model, diag.message);
    CHECK(bnn_npy_read_file(digits, &x, &diag) == BNN_OK, "%s: %s", digits, diag.message);
    CHECK(bnn_passes_run_text("canonicalize,to-bnn{layers=all},dce", lenet, &diag) == BNN_OK,
          "%s", diag.message);
    compare("LeNet-5", lenet, &x);

    CHECK(bnn_graph_parse(mlp_text, "mlp", &mlp, &diag) == BNN_OK, "%s", diag.message);
    uint64_t state = 12345;
    for (int v = 0; v < mlp->n_values; v++) {
        bnn_value *val = &mlp->values[v];
        if (val->kind != BNN_VALUE_PARAM)
            continue;
        float *d = val->data;
        int64_t fan_in = val->shape.rank == 2 ? val->shape.dims[1] : 1;
        for (int64_t i = 0; i < bnn_shape_numel(&val->shape); i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            double u = ((state >> 11) + 0.5) / 9007199254740992.0;
            d[i] = (float)((2 * u - 1) * sqrt(6.0 / (double)fan_in)); /* He-uniform */
        }
    }
    CHECK(bnn_passes_run_text("to-bnn{layers=all},dce", mlp, &diag) == BNN_OK, "%s", diag.message);
    bnn_tensor flat = x;
    flat.shape.rank = 2;
    flat.shape.dims[1] = 784;
    flat.owns_data = false;
    compare("MLP 784-100-50-10", mlp, &flat);

    bnn_tensor_free(&x);
    bnn_graph_destroy(lenet);
    bnn_graph_destroy(mlp);
    return failures ? 1 : 0;
}
