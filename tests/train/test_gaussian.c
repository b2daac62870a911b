/* Regression with a learned noise scale (issue 12 item 7): the Gaussian
 * likelihood bnn_gaussian_nll against hand-computed values and finite
 * differences (outputs and log sigma, per output and shared), its errors;
 * the trainer's gradient of the whole loss with respect to the noise param
 * and a weight by finite differences, and its step; the regression metrics
 * of eval/metrics_regress.c worked out by hand (the mixture log-likelihood,
 * log-sum-exp where exp underflows, coverage); graph compaction keeping the
 * bnnc.* params no node reads. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bnn_ir.h"
#include "bnn_metrics.h"
#include "bnn_train.h"
#include "train_impl.h"

#define LOG_2PI 1.8378770664093454836

/* ---- the loss ------------------------------------------------------------- */

Test(gaussian, loss_by_hand)
{
    /* rows (f, t): (1, 1.5) (2, 1) and (0.5, 0) (-1, -1); sigmas 0.5 and 2 */
    float f[4] = {1.0f, 2.0f, 0.5f, -1.0f}, t[4] = {1.5f, 1.0f, 0.0f, -1.0f}, g[4];
    float r[2] = {(float)log(0.5), (float)log(2.0)};
    double loss, gr[2];
    bnn_diag diag;
    cr_assert_eq(bnn_gaussian_nll(f, t, 2, 2, r, 2, 1.0f, &loss, g, gr, &diag), BNN_OK);
    /* d^2/s^2: 1, 1/4, 1, 0 (sum 2.25); log(2 pi s^2) per row: 2 log 2pi +
     * log(0.25 * 4) = 2 log 2pi; mean over 2 rows of half the sum */
    cr_expect_float_eq(loss, 0.5625 + LOG_2PI, 1e-6, "%.9g", loss);
    /* -(t - f) / s^2 / n */
    cr_expect_float_eq(g[0], -1.0, 1e-6);
    cr_expect_float_eq(g[1], 0.125, 1e-6);
    cr_expect_float_eq(g[2], 1.0, 1e-6);
    cr_expect_float_eq(g[3], 0.0, 1e-7);
    /* sum over rows of (1 - d^2/s^2) / n: output 0 fits its sigma exactly,
     * output 1's sigma is too wide */
    cr_expect_float_eq(gr[0], 0.0, 1e-6);
    cr_expect_float_eq(gr[1], 0.875, 1e-6);
    /* one shared sigma of 1: 0.5 (sum d^2 + 4 log 2pi) / 2 */
    float zero = 0;
    cr_assert_eq(bnn_gaussian_nll(f, t, 2, 2, &zero, 1, 1.0f, &loss, NULL, gr, &diag), BNN_OK);
    cr_expect_float_eq(loss, 0.25 * (0.25 + 1 + 0.25 + 0) + LOG_2PI, 1e-6);
    cr_expect_float_eq(gr[0], (4 - 1.5) / 2, 1e-6);
}

/* The loss as a function of f and log sigma, in double, for finite differences. */
static double loss_at(const float *f, const float *t, int n, int k, const float *r, int ns,
                      float scale)
{
    double loss;
    bnn_diag diag;
    cr_assert_eq(bnn_gaussian_nll(f, t, n, k, r, ns, scale, &loss, NULL, NULL, &diag), BNN_OK);
    return loss * scale;
}

static void check_fd(int ns)
{
    enum { N = 5, K = 3 };
    float f[N * K], t[N * K], g[N * K], r[K];
    double gr[K];
    for (int i = 0; i < N * K; i++) {
        f[i] = (float)sin(1.3 * i);
        t[i] = (float)cos(0.7 * i) * 1.5f;
    }
    for (int j = 0; j < ns; j++)
        r[j] = -0.4f + 0.3f * (float)j;
    const float scale = 0.7f;
    double loss;
    bnn_diag diag;
    cr_assert_eq(bnn_gaussian_nll(f, t, N, K, r, ns, scale, &loss, g, gr, &diag), BNN_OK);
    const float h = 1e-2f;
    for (int i = 0; i < N * K; i++) {
        float keep = f[i];
        f[i] = keep + h;
        double up = loss_at(f, t, N, K, r, ns, scale);
        f[i] = keep - h;
        double down = loss_at(f, t, N, K, r, ns, scale);
        f[i] = keep;
        double fd = (up - down) / (2.0 * h);
        cr_expect(fabs(fd - g[i]) <= 1e-4 + 1e-3 * fabs(fd), "d/df[%d]: %g vs %g", i, g[i], fd);
    }
    for (int j = 0; j < ns; j++) {
        float keep = r[j];
        r[j] = keep + h;
        double up = loss_at(f, t, N, K, r, ns, scale);
        r[j] = keep - h;
        double down = loss_at(f, t, N, K, r, ns, scale);
        r[j] = keep;
        double fd = (up - down) / (2.0 * h);
        cr_expect(fabs(fd - gr[j]) <= 1e-4 + 1e-3 * fabs(fd), "d/dr[%d]: %g vs %g", j, gr[j], fd);
    }
}

Test(gaussian, gradient_matches_finite_differences_per_output) { check_fd(3); }
Test(gaussian, gradient_matches_finite_differences_shared) { check_fd(1); }

Test(gaussian, bad_input_fails)
{
    float f[2] = {0, 0}, t[2] = {1, NAN}, r[3] = {0, 0, 0};
    double loss;
    bnn_diag diag;
    cr_expect_eq(bnn_gaussian_nll(f, t, 1, 2, r, 2, 1.0f, &loss, NULL, NULL, &diag),
                 BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "target 1 of row 0 is NaN"), "%s", diag.message);
    t[1] = 0;
    cr_expect_eq(bnn_gaussian_nll(f, t, 1, 2, r, 3, 1.0f, &loss, NULL, NULL, &diag),
                 BNN_ERR_SHAPE);
    cr_expect(strstr(diag.message, "3 values for 2 outputs"), "%s", diag.message);
    r[0] = INFINITY;
    cr_expect_eq(bnn_gaussian_nll(f, t, 1, 2, r, 1, 1.0f, &loss, NULL, NULL, &diag),
                 BNN_ERR_NUMERIC);
}

/* ---- the trainer ------------------------------------------------------------ */

static const char *regressor =
    "graph @reg(%x: f32[N,3]) -> (%y: f32[N,2]) {\n"
    "  param %w: f32[2,3] trainable\n"
    "  param %b: f32[2] trainable\n"
    "  param %bnnc.noise_log_sigma: f32[2]\n"
    "  %y = dense(%x, %w, %b) : f32[N,2] @fc\n"
    "  return %y\n"
    "}\n";

static bnn_graph *parse_regressor(void)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(regressor, "test", &g, &diag), BNN_OK, "%s", diag.message);
    float *w = g->values[bnn_graph_find_value(g, "w")].data;
    for (int i = 0; i < 6; i++)
        w[i] = 0.2f * (float)(i % 4) - 0.3f;
    double sigma[2] = {0.7, 1.6};
    cr_assert_eq(bnn_graph_set_noise_sigmas(g, sigma, 2, &diag), BNN_OK, "%s", diag.message);
    return g;
}

static void batch(bnn_tensor *x, bnn_tensor *y)
{
    bnn_diag diag;
    bnn_shape xs = {2, {4, 3}}, ys = {2, {4, 2}};
    cr_assert_eq(bnn_tensor_alloc(x, BNN_F32, &xs, &diag), BNN_OK);
    cr_assert_eq(bnn_tensor_alloc(y, BNN_F32, &ys, &diag), BNN_OK);
    for (int i = 0; i < 12; i++)
        ((float *)x->data)[i] = (float)sin(0.9 * i + 0.3);
    for (int i = 0; i < 8; i++)
        ((float *)y->data)[i] = (float)cos(1.1 * i);
}

Test(gaussian, trainer_gradients_match_finite_differences)
{
    bnn_graph *g = parse_regressor();
    bnn_train_options o = bnn_train_defaults();
    o.loss = BNN_LOSS_GAUSSIAN;
    o.batch = 4;
    o.threads = 1;
    o.dnn_factor = 0.8;
    bnn_trainer *t = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_trainer_create(g, &o, &t, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor x = {0}, y = {0};
    batch(&x, &y);
    bnn_step_result res;
    cr_assert_eq(bnn_trainer_gradients(t, &x, &y, &res, &diag), BNN_OK, "%s", diag.message);
    int noise = bnn_graph_noise_param(g), w = bnn_graph_find_value(g, "w");
    cr_assert_geq(noise, 0);
    float gn[2], gw[6];
    memcpy(gn, bnn_trainer_param_grad(t, noise), sizeof gn);
    memcpy(gw, bnn_trainer_param_grad(t, w), sizeof gw);
    const float h = 1e-2f;
    for (int pass = 0; pass < 2; pass++) {
        float *p = g->values[pass ? w : noise].data, *grad = pass ? gw : gn;
        for (int i = 0; i < (pass ? 6 : 2); i++) {
            float keep = p[i];
            p[i] = keep + h;
            bnn_step_result up, down;
            cr_assert_eq(bnn_trainer_gradients(t, &x, &y, &up, &diag), BNN_OK);
            p[i] = keep - h;
            cr_assert_eq(bnn_trainer_gradients(t, &x, &y, &down, &diag), BNN_OK);
            p[i] = keep;
            double fd = (up.loss - down.loss) / (2.0 * h);
            cr_expect(fabs(fd - grad[i]) <= 1e-3 + 1e-2 * fabs(fd), "%s[%d]: %g vs %g",
                      pass ? "w" : "log sigma", i, grad[i], fd);
        }
    }
    /* a step moves log sigma against its gradient, by Adam's first step: lr */
    float before[2];
    memcpy(before, g->values[noise].data, sizeof before);
    cr_assert_eq(bnn_trainer_step(t, &x, &y, &res, &diag), BNN_OK);
    const float *after = g->values[noise].data;
    for (int j = 0; j < 2; j++)
        cr_expect_float_eq(after[j] - before[j], gn[j] > 0 ? -1e-3f : 1e-3f, 1e-5);
    /* the optimizer's state covers the noise scale after the session's params */
    cr_expect_eq(bnn_trainer_optimizer(t)->n, 6 + 2 + 2);
    bnn_trainer_destroy(t);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_graph_destroy(g);
}

Test(gaussian, trainer_needs_the_noise_param)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    const char *plain =
        "graph @reg(%x: f32[N,3]) -> (%y: f32[N,2]) {\n"
        "  param %w: f32[2,3] trainable\n"
        "  param %b: f32[2] trainable\n"
        "  %y = dense(%x, %w, %b) : f32[N,2] @fc\n"
        "  return %y\n"
        "}\n";
    cr_assert_eq(bnn_graph_parse(plain, "test", &g, &diag), BNN_OK, "%s", diag.message);
    bnn_train_options o = bnn_train_defaults();
    o.loss = BNN_LOSS_GAUSSIAN;
    o.batch = 4;
    o.threads = 1;
    bnn_trainer *t = NULL;
    cr_expect_eq(bnn_trainer_create(g, &o, &t, &diag), BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "bnnc.noise_log_sigma"), "%s", diag.message);
    /* a scale of 3 values for 2 outputs fails at the first step, naming both */
    double three[3] = {1, 1, 1};
    cr_assert_eq(bnn_graph_set_noise_sigmas(g, three, 3, &diag), BNN_OK);
    cr_assert_eq(bnn_trainer_create(g, &o, &t, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor x = {0}, y = {0};
    batch(&x, &y);
    bnn_step_result res;
    cr_expect_eq(bnn_trainer_step(t, &x, &y, &res, &diag), BNN_ERR_SHAPE);
    cr_expect(strstr(diag.message, "has 3 values") && strstr(diag.message, "2 per example"), "%s",
              diag.message);
    bnn_trainer_destroy(t);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_graph_destroy(g);
}

/* ---- metrics ------------------------------------------------------------------ */

static double log_normal(double y, double m, double v)
{
    return -0.5 * ((y - m) * (y - m) / v + log(v) + LOG_2PI);
}

Test(gaussian, regression_metrics_by_hand)
{
    /* two samples f = 0 and f = 1 of two examples, targets 0.5 and 2.5,
     * sigma 1: mean 0.5, epistemic 0.25, total variance 1.25 */
    float f[4] = {0, 0, 1, 1}, y[2] = {0.5f, 2.5f}, epi[2];
    double sigma = 1;
    bnn_regression_sums acc = {0};
    bnn_regression_add(f, 2, 2, 1, y, &sigma, true, epi, &acc);
    bnn_regression_metrics m = bnn_regression_finish(&acc);
    cr_expect_float_eq(m.rmse, sqrt(2.0), 1e-9);
    cr_expect_float_eq(m.aleatoric, 1.0, 1e-12);
    cr_expect_float_eq(m.epistemic, 0.25, 1e-9);
    cr_expect_float_eq(epi[0], 0.25, 1e-7);
    /* |2.5 - 0.5| = 2 against sqrt(1.25) = 1.118: outside 1.645 sd (1.84),
     * inside 1.960 sd (2.19) */
    cr_expect_float_eq(m.coverage90, 0.5, 1e-12);
    cr_expect_float_eq(m.coverage95, 1.0, 1e-12);
    double ll0 = log(0.5 * (exp(log_normal(0.5, 0, 1)) + exp(log_normal(0.5, 1, 1))));
    double ll1 = log(0.5 * (exp(log_normal(2.5, 0, 1)) + exp(log_normal(2.5, 1, 1))));
    cr_expect_float_eq(m.log_likelihood, (ll0 + ll1) / 2, 1e-9, "%.12g", m.log_likelihood);
    /* without the mixture (a moment predictive): N(0.5, 1.25) */
    memset(&acc, 0, sizeof acc);
    bnn_regression_add(f, 2, 2, 1, y, &sigma, false, NULL, &acc);
    m = bnn_regression_finish(&acc);
    cr_expect_float_eq(m.log_likelihood,
                       (log_normal(0.5, 0.5, 1.25) + log_normal(2.5, 0.5, 1.25)) / 2, 1e-9);
    /* no noise scale: N(0.5, 0.25) from the samples' spread alone */
    memset(&acc, 0, sizeof acc);
    bnn_regression_add(f, 2, 2, 1, y, NULL, true, NULL, &acc);
    m = bnn_regression_finish(&acc);
    cr_expect_float_eq(m.aleatoric, 0, 1e-12);
    cr_expect_float_eq(m.log_likelihood,
                       (log_normal(0.5, 0.5, 0.25) + log_normal(2.5, 0.5, 0.25)) / 2, 1e-9);
    /* one sample and no scale: zero variance, no density */
    memset(&acc, 0, sizeof acc);
    bnn_regression_add(f, 1, 2, 1, y, NULL, true, NULL, &acc);
    m = bnn_regression_finish(&acc);
    cr_expect(isnan(m.log_likelihood) && acc.degenerate == 2);
}

Test(gaussian, mixture_log_likelihood_is_stable)
{
    /* sigma 1e-3, samples 0 and 1, target 0.5: each term's exp underflows to
     * 0 in double (log density about -125000), log-sum-exp keeps it */
    float f[2] = {0, 1}, y = 0.5f;
    double sigma = 1e-3;
    bnn_regression_sums acc = {0};
    bnn_regression_add(f, 2, 1, 1, &y, &sigma, true, NULL, &acc);
    bnn_regression_metrics m = bnn_regression_finish(&acc);
    double want = log_normal(0.5, 0, 1e-6); /* both terms equal: log(0.5 * 2 N) */
    cr_expect(isfinite(m.log_likelihood) && fabs(m.log_likelihood - want) < 1e-6 * fabs(want),
              "%.12g vs %.12g", m.log_likelihood, want);
    /* two outputs: the per-example log-likelihood is of the joint vector */
    float f2[4] = {0, 1, 0.2f, 1.4f}, y2[2] = {0.1f, 1.2f};
    double s2[2] = {0.5, 0.3};
    memset(&acc, 0, sizeof acc);
    bnn_regression_add(f2, 2, 1, 2, y2, s2, true, NULL, &acc);
    m = bnn_regression_finish(&acc);
    double a = log_normal(0.1, 0, 0.25) + log_normal(1.2, 1, 0.09);
    double b = log_normal(0.1, 0.2f, 0.25) + log_normal(1.2, 1.4f, 0.09);
    cr_expect_float_eq(m.log_likelihood, log(0.5 * (exp(a) + exp(b))), 1e-6);
}

/* ---- the param in the graph ----------------------------------------------------- */

Test(gaussian, compaction_keeps_the_noise_param)
{
    bnn_graph *g = parse_regressor();
    bnn_diag diag = {0};
    bnn_shape one = {1, {1}};
    float v = 1;
    cr_assert_geq(bnn_graph_add_param(g, "unused", BNN_F32, &one, &v, sizeof v, false), 0);
    cr_assert_eq(bnn_graph_compact(g), BNN_OK);
    cr_expect_eq(bnn_graph_find_value(g, "unused"), -1, "an unread param goes");
    cr_expect_geq(bnn_graph_noise_param(g), 0, "bnnc.noise_log_sigma stays");
    double sigma[2];
    cr_assert_eq(bnn_graph_noise_sigmas(g, 2, sigma, &diag), BNN_OK, "%s", diag.message);
    cr_expect_float_eq(sigma[0], 0.7, 1e-6);
    cr_expect_float_eq(sigma[1], 1.6, 1e-6);
    /* [2] does not fit a model of 3 outputs; a second set replaces the values */
    cr_expect_eq(bnn_graph_noise_sigmas(g, 3, sigma, &diag), BNN_ERR_SHAPE);
    double other[2] = {0.1, 0.2};
    cr_assert_eq(bnn_graph_set_noise_sigmas(g, other, 2, &diag), BNN_OK);
    cr_assert_eq(bnn_graph_noise_sigmas(g, 2, sigma, &diag), BNN_OK);
    cr_expect_float_eq(sigma[1], 0.2, 1e-6);
    cr_expect_eq(bnn_graph_set_noise_sigmas(g, other, 1, &diag), BNN_ERR_SHAPE);
    other[0] = -1;
    cr_expect_eq(bnn_graph_set_noise_sigmas(g, other, 2, &diag), BNN_ERR_INVALID);
    bnn_graph_destroy(g);
}
