/* Binary and per-step classifiers (issue 11): the binary cross-entropy loss
 * against hand-computed values and finite differences, Bernoulli
 * uncertainty and AUROC worked out by hand, and how bnn_predict_classes
 * reads [n, 1], [n] and [n, T, C] outputs (eval/predict.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_predict.h"
#include "bnn_train.h"

/* ---- binary cross-entropy --------------------------------------------------- */

Test(outputs, bce_by_hand)
{
    /* p = 0.8 with t = 1: -log 0.8; p = 0.25 with t = 0: -log 0.75; mean */
    float p[2] = {0.8f, 0.25f}, t[2] = {1, 0}, g[2];
    double loss;
    bnn_diag diag;
    cr_assert_eq(bnn_binary_cross_entropy(p, t, 2, false, 1.0f, &loss, g, &diag), BNN_OK);
    cr_expect_float_eq(loss, (-log(0.8f) - log(0.75f)) / 2, 1e-6);
    /* d/dp of -(t log p + (1-t) log(1-p)) / 2 = (p - t) / (p (1 - p)) / 2 */
    cr_expect_float_eq(g[0], (0.8 - 1) / (0.8 * 0.2) / 2, 1e-5);
    cr_expect_float_eq(g[1], 0.25 / (0.25 * 0.75) / 2, 1e-5);
    /* the same from logits: z = log(p / (1 - p)), gradient (p - t) / n */
    float z[2] = {(float)log(0.8 / 0.2), (float)log(0.25 / 0.75)};
    cr_assert_eq(bnn_binary_cross_entropy(z, t, 2, true, 1.0f, &loss, g, &diag), BNN_OK);
    cr_expect_float_eq(loss, (-log(0.8) - log(0.75)) / 2, 1e-6);
    cr_expect_float_eq(g[0], (0.8 - 1) / 2, 1e-6);
    cr_expect_float_eq(g[1], 0.25 / 2, 1e-6);
    /* soft targets: t = 0.3 at p = 0.5 gives log 2 */
    float half = 0.5f, soft = 0.3f;
    cr_assert_eq(bnn_binary_cross_entropy(&half, &soft, 1, false, 1.0f, &loss, NULL, &diag), BNN_OK);
    cr_expect_float_eq(loss, log(2.0), 1e-6);
}

Test(outputs, bce_is_safe_at_the_extremes)
{
    /* logits far out: exact, finite; p at 0 or 1: clamped to 1e-7 */
    float z[4] = {80.0f, -80.0f, 80.0f, -80.0f}, t[4] = {1, 0, 0, 1}, g[4];
    double loss;
    bnn_diag diag;
    cr_assert_eq(bnn_binary_cross_entropy(z, t, 4, true, 1.0f, &loss, g, &diag), BNN_OK);
    cr_expect_float_eq(loss, (80.0 + 80.0) / 4, 1e-6); /* the wrong two cost |z| each */
    cr_expect_float_eq(g[0], 0, 1e-9);
    cr_expect_float_eq(g[2], 0.25, 1e-7);
    cr_expect_float_eq(g[3], -0.25, 1e-7);
    float p[2] = {0.0f, 1.0f}, tt[2] = {1, 1};
    cr_assert_eq(bnn_binary_cross_entropy(p, tt, 2, false, 1.0f, &loss, g, &diag), BNN_OK);
    cr_expect(isfinite(loss) && fabs(loss - (-log(1e-7) - log1p(-1e-7)) / 2) < 1e-4, "%g", loss);
    cr_expect(g[0] == 0 && g[1] == 0, "clamped elements pass no gradient: %g %g", g[0], g[1]);
    float bad = 1.5f;
    cr_expect_eq(bnn_binary_cross_entropy(p, &bad, 1, false, 1.0f, &loss, NULL, &diag),
                 BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "target 1.5 of element 0"), "%s", diag.message);
}

Test(outputs, bce_gradient_matches_finite_differences)
{
    float t[5] = {1, 0, 0.3f, 1, 0};
    for (int logits = 0; logits < 2; logits++) {
        float v[5] = {0.9f, 0.2f, 0.6f, 0.05f, 0.7f};
        if (logits)
            for (int i = 0; i < 5; i++)
                v[i] = (float)(4 * v[i] - 2);
        float g[5];
        double loss, up, down;
        bnn_diag diag;
        cr_assert_eq(bnn_binary_cross_entropy(v, t, 5, logits, 0.5f, &loss, g, &diag), BNN_OK);
        for (int i = 0; i < 5; i++) {
            float keep = v[i], h = 1e-3f;
            v[i] = keep + h;
            bnn_binary_cross_entropy(v, t, 5, logits, 0.5f, &up, NULL, &diag);
            v[i] = keep - h;
            bnn_binary_cross_entropy(v, t, 5, logits, 0.5f, &down, NULL, &diag);
            v[i] = keep;
            double num = 0.5 * (up - down) / (2.0 * h);
            cr_expect(fabs(num - g[i]) <= 2e-3 * (1 + fabs(num)),
                      "%s element %d: analytic %g, numeric %g", logits ? "logits" : "probs", i,
                      g[i], num);
        }
    }
}

/* ---- Bernoulli uncertainty and AUROC ----------------------------------------- */

Test(outputs, bernoulli_entropy_and_mutual_information)
{
    /* one example, two samples of p(class 1): 0.9 and 0.5, as the pairs the
     * predictive writes (1 - p, p): mean p 0.7, entropy H(0.7); expected
     * entropy (H(0.9) + H(0.5)) / 2; their difference the MI */
    float probs[4] = {0.1f, 0.9f, 0.5f, 0.5f};
    float mean[2], total, aleatoric, epistemic;
    bnn_predictive_stats(probs, 2, 1, 2, mean, &total, &aleatoric, &epistemic);
    double h7 = -(0.7 * log(0.7) + 0.3 * log(0.3)), h9 = -(0.9 * log(0.9) + 0.1 * log(0.1));
    cr_expect_float_eq(mean[1], 0.7f, 1e-6);
    cr_expect_float_eq(total, h7, 1e-6);
    cr_expect_float_eq(aleatoric, (h9 + log(2.0)) / 2, 1e-6);
    cr_expect_float_eq(epistemic, h7 - (h9 + log(2.0)) / 2, 1e-6);
}

Test(outputs, binary_auroc_by_hand)
{
    /* p(class 1) of the 1s: 0.9, 0.4, 0.6; of the 0s: 0.3, 0.6, 0.1.  Of the
     * nine (1, 0) pairs, 0.9 beats all three, 0.4 beats 0.3 and 0.1, 0.6
     * beats 0.3 and 0.1 and ties 0.6: (3 + 2 + 2.5) / 9 */
    float pos[3] = {0.9f, 0.4f, 0.6f}, neg[3] = {0.3f, 0.6f, 0.1f};
    cr_expect_float_eq(bnn_auroc(pos, 3, neg, 3), 7.5 / 9, 1e-9);
}

/* ---- how the predictive reads the output ------------------------------------- */

static bnn_graph *parse(const char *text)
{
    bnn_graph *g = NULL;
    bnn_diag diag;
    cr_assert_eq(bnn_graph_parse(text, "test", &g, &diag), BNN_OK, "%s", diag.message);
    return g;
}

Test(outputs, layouts)
{
    bnn_predict_options o = bnn_predict_defaults();
    int64_t steps, k;
    bool binary;
    bnn_diag diag;
    bnn_graph *g = parse("graph @g(%x: f32[N,2]) -> (%y: f32[N,1]) {\n"
                         "  param %w: f32[1,2] = [1.0, -1.0]\n"
                         "  %z = dense(%x, %w) : f32[N,1]\n"
                         "  %y = sigmoid(%z) : f32[N,1]\n"
                         "  return %y\n}\n");
    cr_assert_eq(bnn_predict_class_layout(g, &o, &steps, &k, &binary, &diag), BNN_OK);
    cr_expect(steps == 1 && k == 2 && binary);
    /* x = (2, 0.5): z = 1.5, p = sigmoid(1.5); x = (0, 0): p = 1/2 */
    float xs[4] = {2.0f, 0.5f, 0.0f, 0.0f}, probs[4];
    bnn_tensor x = {.dtype = BNN_F32, .shape = {.rank = 2, .dims = {2, 2}}, .data = xs};
    int64_t samples;
    o.samples = 1;
    cr_assert_eq(bnn_predict_classes(g, &x, &o, probs, &samples, &k, &diag), BNN_OK, "%s",
                 diag.message);
    double p = 1 / (1 + exp(-1.5));
    cr_expect_float_eq(probs[1], p, 1e-6);
    cr_expect_float_eq(probs[0], 1 - p, 1e-6);
    cr_expect_float_eq(probs[3], 0.5, 1e-7);
    bnn_graph_destroy(g);

    /* a per-step classifier: refused unless the caller asks for steps */
    g = parse("graph @g(%x: f32[N,3,2]) -> (%y: f32[N,3,2]) {\n"
              "  %y = softmax(%x) {axis=-1} : f32[N,3,2]\n"
              "  return %y\n}\n");
    cr_expect_eq(bnn_predict_class_layout(g, &o, &steps, &k, &binary, &diag), BNN_ERR_SHAPE);
    cr_expect(strstr(diag.message, "per-step"), "%s", diag.message);
    o.per_step = true;
    cr_assert_eq(bnn_predict_class_layout(g, &o, &steps, &k, &binary, &diag), BNN_OK);
    cr_expect(steps == 3 && k == 2 && !binary);
    float seq[6] = {0.2f, 0.8f, 0.5f, 0.5f, 1.0f, 0.0f}, out[6];
    bnn_tensor xs3 = {.dtype = BNN_F32, .shape = {.rank = 3, .dims = {1, 3, 2}}, .data = seq};
    cr_assert_eq(bnn_predict_classes(g, &xs3, &o, out, &samples, &k, &diag), BNN_OK, "%s",
                 diag.message);
    /* each step's softmax of its two values: rows i*T + t */
    for (int t = 0; t < 3; t++) {
        double e0 = exp(seq[2 * t]), e1 = exp(seq[2 * t + 1]);
        cr_expect_float_eq(out[2 * t], e0 / (e0 + e1), 1e-6, "step %d", t);
    }
    /* the moment predictives do not read these outputs */
    o.predictive = BNN_PREDICTIVE_MOMENTS;
    cr_expect_eq(bnn_predict_classes(g, &xs3, &o, NULL, &samples, &k, &diag),
                 BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(diag.message, "per-step classifier (use mc)"), "%s", diag.message);
    bnn_graph_destroy(g);
}
