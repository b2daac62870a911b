/* A whole training step, checked two ways.
 *
 * 1. The gradients bnn_trainer_gradients() leaves for every trainable param of
 *    a small Bayesian net (conv_reparam, relu, max_pool, flatten,
 *    dense_reparam, relu, dense) against central finite differences of the
 *    total loss dnn_factor * data_loss + bnn_factor * KL, with the weight
 *    draws held fixed: they are keyed by the trainer's step, which
 *    bnn_trainer_gradients() does not advance.
 * 2. Two optimizer steps (SGD with momentum, Adam, AdamW) of a deterministic
 *    conv net against PyTorch's parameters after the same two steps
 *    (tests/fixtures/train/step, made by tools/make_train_fixtures.py).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bayes.h"
#include "bnn_ir.h"
#include "bnn_npy.h"
#include "bnn_train.h"
#include "train_impl.h"

/* ---- helpers ------------------------------------------------------------- */

static bnn_graph *parse(const char *text)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    bnn_status st = bnn_graph_parse(text, "test", &g, &diag);
    cr_assert_eq(st, BNN_OK, "parse: %s", diag.message);
    return g;
}

/* xorshift: deterministic test data without touching the runtime's RNG. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 11) * (1.0 / 9007199254740992.0));
}

static void fill_param(bnn_graph *g, const char *name, float lo, float hi)
{
    int v = bnn_graph_find_value(g, name);
    cr_assert(v >= 0, "no value %s", name);
    float *d = g->values[v].data;
    for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
        d[i] = uniform(lo, hi);
}

static bnn_tensor make_tensor(bnn_dtype dtype, int rank, const int64_t *dims)
{
    bnn_tensor t = {0};
    bnn_shape s = {.rank = rank};
    memcpy(s.dims, dims, sizeof(int64_t) * (size_t)rank);
    bnn_diag diag;
    cr_assert_eq(bnn_tensor_alloc(&t, dtype, &s, &diag), BNN_OK);
    return t;
}

static bnn_train_options options_for(bnn_loss_kind loss, int64_t batch)
{
    bnn_train_options o = {0};
    o.optimizer = bnn_optimizer_defaults(BNN_OPTIM_SGD);
    o.loss = loss;
    o.dnn_factor = 1.5;
    o.bnn_factor = 0.02;
    o.batch = batch;
    o.seed = 11;
    o.threads = 1;
    return o;
}

/* ---- 1. finite differences of the whole loss ------------------------------ */

static const char *bayes_net =
    "graph @bayes(%input: f32[N,1,6,6]) -> (%logits: f32[N,3]) {\n"
    "  param %c.wmu: f32[2,1,3,3] trainable\n"
    "  param %c.wrho: f32[2,1,3,3] trainable\n"
    "  param %c.bmu: f32[2] trainable\n"
    "  param %c.brho: f32[2] trainable\n"
    "  param %f1.wmu: f32[5,18] trainable\n"
    "  param %f1.wrho: f32[5,18] trainable\n"
    "  param %f1.bmu: f32[5] trainable\n"
    "  param %f1.brho: f32[5] trainable\n"
    "  param %f2.weight: f32[3,5] trainable\n"
    "  param %f2.bias: f32[3] trainable\n"
    "  %1 = bnn.conv_reparam(%input, %c.wmu, %c.wrho, %c.bmu, %c.brho) {strides=[1, 1], "
    "pads=[1, 1, 1, 1], prior_mu=0.0, prior_sigma=0.1} : f32[N,2,6,6] @conv\n"
    "  %2 = relu(%1) : f32[N,2,6,6] @relu1\n"
    "  %3 = max_pool(%2) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,2,3,3] @pool\n"
    "  %4 = flatten(%3) {axis=1} : f32[N,18] @flatten\n"
    "  %5 = bnn.dense_reparam(%4, %f1.wmu, %f1.wrho, %f1.bmu, %f1.brho) {prior_mu=0.1, "
    "prior_sigma=0.5} : f32[N,5] @fc1\n"
    "  %6 = relu(%5) : f32[N,5] @relu2\n"
    "  %logits = dense(%6, %f2.weight, %f2.bias) : f32[N,3] @fc2\n"
    "  return %logits\n"
    "}\n";

static const char *bayes_params[] = {"c.wmu", "c.wrho", "c.bmu", "c.brho", "f1.wmu",
                                     "f1.wrho", "f1.bmu", "f1.brho", "f2.weight", "f2.bias"};
#define N_BAYES_PARAMS (sizeof bayes_params / sizeof bayes_params[0])

static bnn_graph *make_bayes_net(void)
{
    bnn_graph *g = parse(bayes_net);
    for (size_t i = 0; i < N_BAYES_PARAMS; i++) {
        bool rho = strstr(bayes_params[i], "rho") != NULL;
        /* rho in [-3, -1]: sigma 0.05..0.3, so the sampled part of w matters */
        fill_param(g, bayes_params[i], rho ? -3.0f : -0.6f, rho ? -1.0f : 0.6f);
    }
    return g;
}

static double loss_at(bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y)
{
    bnn_step_result r;
    bnn_diag diag = {0};
    bnn_status st = bnn_trainer_gradients(t, x, y, &r, &diag);
    cr_assert_eq(st, BNN_OK, "%s", diag.message);
    return r.loss;
}

/* Checks every element of every trainable param; returns how many were
 * checked.  A central difference at h that disagrees is retried at h/4 and
 * h/16 (the best is kept), in case one straddled a relu or max-pool kink:
 * a right gradient agrees at some h, a wrong one at none. */
static int check_gradients(bnn_graph *g, bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y,
                           double *worst_out)
{
    bnn_step_result r;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_trainer_gradients(t, x, y, &r, &diag), BNN_OK, "%s", diag.message);
    cr_assert(r.kl > 0, "a Bayesian net has a positive KL (got %g)", r.kl);
    double base = r.loss;
    cr_assert_eq(loss_at(t, x, y), base, "the same step must draw the same weights");
    int checked = 0;
    double worst = 0;
    for (size_t i = 0; i < N_BAYES_PARAMS; i++) {
        int v = bnn_graph_find_value(g, bayes_params[i]);
        const float *grad = bnn_trainer_param_grad(t, v);
        cr_assert_not_null(grad, "%s has no gradient", bayes_params[i]);
        size_t n = g->values[v].nbytes / sizeof(float);
        float *analytic = malloc(n * sizeof(float));
        memcpy(analytic, grad, n * sizeof(float));
        float *p = g->values[v].data;
        for (size_t j = 0; j < n; j++) {
            float keep = p[j];
            double err = INFINITY, fd = 0;
            for (double h = 2e-3; h > 1e-4 && err > 0.25; h /= 4) {
                p[j] = (float)(keep + h);
                double hi = (double)p[j];
                double up = loss_at(t, x, y);
                p[j] = (float)(keep - h);
                double lo = (double)p[j];
                double down = loss_at(t, x, y);
                p[j] = keep;
                double d = (up - down) / (hi - lo);
                double e = fabs(d - analytic[j]) / (1e-3 + 1e-2 * fabs(d));
                if (e < err) {
                    err = e;
                    fd = d;
                }
            }
            cr_expect(err <= 1, "%s[%zu]: analytic %.6g, finite difference %.6g",
                      bayes_params[i], j, analytic[j], fd);
            worst = err > worst ? err : worst;
            checked++;
        }
        free(analytic);
    }
    *worst_out = worst;
    return checked;
}

static void fill_batch(bnn_tensor *x, bnn_tensor *y, bnn_loss_kind loss)
{
    float *xd = x->data;
    for (int64_t i = 0; i < bnn_tensor_numel(x); i++)
        xd[i] = uniform(-1, 1);
    if (loss == BNN_LOSS_CROSS_ENTROPY) {
        int64_t *yd = y->data;
        for (int64_t i = 0; i < y->shape.dims[0]; i++)
            yd[i] = (int64_t)(i * 7 + 1) % 3;
    } else {
        float *yd = y->data;
        for (int64_t i = 0; i < bnn_tensor_numel(y); i++)
            yd[i] = uniform(-1, 1);
    }
}

static void gradient_case(bnn_loss_kind loss, int64_t planned, int64_t rows, uint64_t step)
{
    bnn_graph *g = make_bayes_net();
    bnn_train_options o = options_for(loss, planned);
    bnn_trainer *t = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_trainer_create(g, &o, &t, &diag), BNN_OK, "%s", diag.message);
    bnn_trainer_set_steps(t, step);
    bnn_tensor x = make_tensor(BNN_F32, 4, (int64_t[]){rows, 1, 6, 6});
    bnn_tensor y = loss == BNN_LOSS_CROSS_ENTROPY ? make_tensor(BNN_I64, 1, (int64_t[]){rows})
                                                  : make_tensor(BNN_F32, 2, (int64_t[]){rows, 3});
    fill_batch(&x, &y, loss);
    double worst;
    int checked = check_gradients(g, t, &x, &y, &worst);
    cr_assert_eq(checked, 18 * 2 + 2 * 2 + 90 * 2 + 5 * 2 + 15 + 3);
    cr_log_info("%d gradients checked, worst error %.3f of the tolerance", checked, worst);
    /* The check is not vacuous: another step draws other weights. */
    double here = loss_at(t, &x, &y);
    bnn_trainer_set_steps(t, step + 1);
    cr_assert_neq(loss_at(t, &x, &y), here, "a different step must draw different weights");
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}

Test(train, gradients_cross_entropy_match_finite_differences)
{
    gradient_case(BNN_LOSS_CROSS_ENTROPY, 4, 4, 0);
}

Test(train, gradients_mse_match_finite_differences)
{
    gradient_case(BNN_LOSS_MSE, 4, 4, 5);
}

/* A final batch smaller than the planned one uses the second plan. */
Test(train, gradients_of_a_partial_batch_match_finite_differences)
{
    gradient_case(BNN_LOSS_CROSS_ENTROPY, 4, 3, 2);
}

/* A trainer of g with options o, and a filled batch of two rows for
 * bayes_net's input (x [2, 1, 6, 6], labels y [2]). */
static bnn_trainer *trainer_with_batch(bnn_graph *g, const bnn_train_options *o, bnn_tensor *x,
                                       bnn_tensor *y)
{
    bnn_trainer *t = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_trainer_create(g, o, &t, &diag), BNN_OK, "%s", diag.message);
    *x = make_tensor(BNN_F32, 4, (int64_t[]){2, 1, 6, 6});
    *y = make_tensor(BNN_I64, 1, (int64_t[]){2});
    fill_batch(x, y, BNN_LOSS_CROSS_ENTROPY);
    return t;
}

/* The KL term alone: with dnn_factor 0 the gradient is bnn_factor times the
 * closed form, whatever the data. */
Test(train, kl_gradient_is_the_closed_form)
{
    bnn_graph *g = make_bayes_net();
    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 2);
    o.dnn_factor = 0;
    o.bnn_factor = 0.25;
    bnn_diag diag = {0};
    bnn_tensor x, y;
    bnn_trainer *t = trainer_with_batch(g, &o, &x, &y);
    bnn_step_result r;
    cr_assert_eq(bnn_trainer_gradients(t, &x, &y, &r, &diag), BNN_OK, "%s", diag.message);
    /* f1: prior N(0.1, 0.5^2) */
    int vm = bnn_graph_find_value(g, "f1.wmu"), vr = bnn_graph_find_value(g, "f1.wrho");
    const float *mu = g->values[vm].data, *rho = g->values[vr].data;
    const float *gm = bnn_trainer_param_grad(t, vm), *gr = bnn_trainer_param_grad(t, vr);
    double kl = 0;
    for (int i = 0; i < 90; i++) {
        double sigma = log1p(exp((double)rho[i]));
        double sig = 1 / (1 + exp(-(double)rho[i]));
        cr_assert_float_eq(gm[i], 0.25 * (mu[i] - 0.1) / 0.25, 1e-5);
        cr_assert_float_eq(gr[i], 0.25 * (sigma / 0.25 - 1 / sigma) * sig, 1e-4);
        kl += log(0.5 / sigma) + (sigma * sigma + (mu[i] - 0.1) * (mu[i] - 0.1)) / 0.5 - 0.5;
    }
    cr_assert(r.kl > kl, "the total KL includes the other layers");
    cr_assert_float_eq(r.loss, 0.25 * r.kl, 1e-9 * r.kl);
    /* f2 is deterministic and the data loss has weight 0: no gradient */
    const float *g2 = bnn_trainer_param_grad(t, bnn_graph_find_value(g, "f2.weight"));
    for (int i = 0; i < 15; i++)
        cr_assert_eq(g2[i], 0.0f);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}

/* The trainer's fused, vectorised KL pass against the reference functions of
 * runtime/bayes.h, over rho from -25 (sigma ~ 1e-11) to 15 and mu in [-2, 2]. */
Test(train, kl_pass_matches_the_reference_over_a_wide_range)
{
    bnn_graph *g = make_bayes_net();
    const char *layers[2][4] = {{"c.wmu", "c.wrho", "c.bmu", "c.brho"},
                                {"f1.wmu", "f1.wrho", "f1.bmu", "f1.brho"}};
    const float priors[2][2] = {{0.0f, 0.1f}, {0.1f, 0.5f}}; /* as in bayes_net */
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 4; k += 2) {
            int vm = bnn_graph_find_value(g, layers[l][k]), vr = bnn_graph_find_value(g, layers[l][k + 1]);
            float *mu = g->values[vm].data, *rho = g->values[vr].data;
            size_t n = g->values[vm].nbytes / sizeof(float);
            for (size_t i = 0; i < n; i++) {
                rho[i] = -25.0f + 40.0f * (float)i / (float)(n > 1 ? n - 1 : 1);
                mu[i] = uniform(-2, 2);
            }
        }
    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 2);
    o.dnn_factor = 0;
    o.bnn_factor = 0.5;
    bnn_diag diag = {0};
    bnn_tensor x, y;
    bnn_trainer *t = trainer_with_batch(g, &o, &x, &y);
    bnn_step_result r;
    cr_assert_eq(bnn_trainer_gradients(t, &x, &y, &r, &diag), BNN_OK, "%s", diag.message);
    double kl = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 4; k += 2) {
            int vm = bnn_graph_find_value(g, layers[l][k]), vr = bnn_graph_find_value(g, layers[l][k + 1]);
            const float *mu = g->values[vm].data, *rho = g->values[vr].data;
            size_t n = g->values[vm].nbytes / sizeof(float);
            kl += bnn_gaussian_kl(mu, rho, n, priors[l][0], priors[l][1]);
            float *gm = calloc(n, sizeof(float)), *gr = calloc(n, sizeof(float));
            bnn_gaussian_kl_backward(mu, rho, n, priors[l][0], priors[l][1], 0.5f, gm, gr);
            const float *tm = bnn_trainer_param_grad(t, vm), *tr = bnn_trainer_param_grad(t, vr);
            for (size_t i = 0; i < n; i++) {
                cr_expect(fabsf(tm[i] - gm[i]) <= 1e-6f + 1e-5f * fabsf(gm[i]),
                          "%s[%zu]: trainer %.9g, reference %.9g", layers[l][k], i, tm[i], gm[i]);
                cr_expect(fabsf(tr[i] - gr[i]) <= 1e-6f + 1e-5f * fabsf(gr[i]),
                          "%s[%zu] (rho %g): trainer %.9g, reference %.9g", layers[l][k + 1], i,
                          rho[i], tr[i], gr[i]);
            }
            free(gm);
            free(gr);
        }
    cr_assert(fabs(r.kl - kl) <= 1e-6 * fabs(kl), "KL: trainer %.12g, reference %.12g", r.kl, kl);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}

/* ---- 2. optimizer steps against PyTorch ----------------------------------- */

static const char *tiny_net =
    "graph @tiny(%input: f32[N,1,6,6]) -> (%logits: f32[N,3]) {\n"
    "  param %conv.weight: f32[2,1,3,3] trainable\n"
    "  param %conv.bias: f32[2] trainable\n"
    "  param %fc.weight: f32[3,18] trainable\n"
    "  param %fc.bias: f32[3] trainable\n"
    "  %1 = conv(%input, %conv.weight, %conv.bias) {strides=[1, 1], pads=[1, 1, 1, 1]} "
    ": f32[N,2,6,6] @conv\n"
    "  %2 = relu(%1) : f32[N,2,6,6] @relu\n"
    "  %3 = max_pool(%2) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,2,3,3] @pool\n"
    "  %4 = flatten(%3) {axis=1} : f32[N,18] @flatten\n"
    "  %logits = dense(%4, %fc.weight, %fc.bias) : f32[N,3] @fc\n"
    "  return %logits\n"
    "}\n";

static const char *tiny_params[] = {"conv.weight", "conv.bias", "fc.weight", "fc.bias"};

static bnn_tensor load_fixture(const char *name)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root, "BNNC_SOURCE_ROOT is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/train/step/%s", root, name);
    bnn_tensor t;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_npy_read_file(path, &t, &diag), BNN_OK, "%s: %s", path, diag.message);
    return t;
}

static void torch_case(const char *name, bnn_optimizer_config oc)
{
    bnn_graph *g = parse(tiny_net);
    for (int i = 0; i < 4; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s.npy", tiny_params[i]);
        bnn_tensor p = load_fixture(file);
        int v = bnn_graph_find_value(g, tiny_params[i]);
        cr_assert_eq(bnn_tensor_nbytes(&p), g->values[v].nbytes);
        memcpy(g->values[v].data, p.data, g->values[v].nbytes);
        bnn_tensor_free(&p);
    }
    bnn_tensor x = load_fixture("x.npy"), y = load_fixture("y.npy");
    char file[128];
    snprintf(file, sizeof file, "%s.loss.npy", name);
    bnn_tensor losses = load_fixture(file);
    cr_assert_eq(losses.dtype, BNN_F64);

    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 4);
    o.optimizer = oc;
    o.dnn_factor = 1;
    o.bnn_factor = 0;
    bnn_trainer *t = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_trainer_create(g, &o, &t, &diag), BNN_OK, "%s", diag.message);
    for (int s = 0; s < 2; s++) {
        bnn_step_result r;
        cr_assert_eq(bnn_trainer_step(t, &x, &y, &r, &diag), BNN_OK, "%s", diag.message);
        double want = ((const double *)losses.data)[s];
        cr_expect_float_eq(r.loss, want, 1e-5 * fabs(want), "%s step %d: loss %.8g, torch %.8g",
                           name, s + 1, r.loss, want);
        cr_expect_eq(r.kl, 0.0, "no Bayesian layer, no KL");
    }
    cr_assert_eq(bnn_trainer_steps(t), 2);
    cr_assert_eq(bnn_trainer_optimizer(t)->step, 2);
    for (int i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s.%s.npy", name, tiny_params[i]);
        bnn_tensor want = load_fixture(file);
        int v = bnn_graph_find_value(g, tiny_params[i]);
        const float *got = g->values[v].data, *ref = want.data;
        bnn_tensor before;
        snprintf(file, sizeof file, "%s.npy", tiny_params[i]);
        before = load_fixture(file);
        const float *p0 = before.data;
        for (int64_t j = 0; j < bnn_tensor_numel(&want); j++) {
            cr_expect(fabsf(got[j] - ref[j]) <= 2e-6f + 2e-5f * fabsf(ref[j]),
                      "%s %s[%lld]: bnnc %.9g, torch %.9g", name, tiny_params[i], (long long)j,
                      got[j], ref[j]);
            /* Not vacuous: torch moved the param. */
            cr_assert(ref[j] != p0[j], "%s %s[%lld] did not move in torch", name, tiny_params[i],
                      (long long)j);
        }
        bnn_tensor_free(&want);
        bnn_tensor_free(&before);
    }
    bnn_trainer_destroy(t);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_tensor_free(&losses);
    bnn_graph_destroy(g);
}

/* The settings are those of tests/fixtures/train/step/optimizers.json. */
Test(train, sgd_momentum_two_steps_match_pytorch)
{
    bnn_optimizer_config c = bnn_optimizer_defaults(BNN_OPTIM_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    torch_case("sgd", c);
}

Test(train, adam_two_steps_match_pytorch)
{
    bnn_optimizer_config c = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    c.lr = 0.01f;
    torch_case("adam", c);
}

Test(train, adamw_two_steps_match_pytorch)
{
    bnn_optimizer_config c = bnn_optimizer_defaults(BNN_OPTIM_ADAMW);
    c.lr = 0.01f;
    c.beta1 = 0.8f;
    c.beta2 = 0.99f;
    c.eps = 1e-6f;
    c.weight_decay = 0.1f;
    torch_case("adamw", c);
}

/* A NaN in the loss fails before any param changes. */
Test(train, non_finite_loss_stops_before_the_update)
{
    bnn_graph *g = parse(tiny_net);
    for (int i = 0; i < 4; i++)
        fill_param(g, tiny_params[i], -0.5f, 0.5f);
    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 2);
    bnn_diag diag = {0};
    bnn_tensor x, y;
    bnn_trainer *t = trainer_with_batch(g, &o, &x, &y);
    ((float *)x.data)[7] = NAN;
    int v = bnn_graph_find_value(g, "fc.weight");
    float before[54];
    memcpy(before, g->values[v].data, sizeof before);
    bnn_step_result r;
    cr_assert_eq(bnn_trainer_step(t, &x, &y, &r, &diag), BNN_ERR_NUMERIC);
    cr_assert(strstr(diag.message, "NaN") != NULL, "message: %s", diag.message);
    cr_assert_eq(memcmp(before, g->values[v].data, sizeof before), 0);
    cr_assert_eq(bnn_trainer_steps(t), 0);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}

/* A model that ends in a softmax (outputs probabilities) trains as the same
 * model without it: cross-entropy reads the softmax's input, not log(p) of
 * probabilities treated as logits. */
Test(train, a_final_softmax_is_not_applied_twice)
{
    static const char *with_softmax =
        "graph @tiny(%input: f32[N,1,6,6]) -> (%probs: f32[N,3]) {\n"
        "  param %conv.weight: f32[2,1,3,3] trainable\n"
        "  param %conv.bias: f32[2] trainable\n"
        "  param %fc.weight: f32[3,18] trainable\n"
        "  param %fc.bias: f32[3] trainable\n"
        "  %1 = conv(%input, %conv.weight, %conv.bias) {strides=[1, 1], pads=[1, 1, 1, 1]} "
        ": f32[N,2,6,6] @conv\n"
        "  %2 = relu(%1) : f32[N,2,6,6] @relu\n"
        "  %3 = max_pool(%2) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,2,3,3] @pool\n"
        "  %4 = flatten(%3) {axis=1} : f32[N,18] @flatten\n"
        "  %logits = dense(%4, %fc.weight, %fc.bias) : f32[N,3] @fc\n"
        "  %probs = softmax(%logits) {axis=-1} : f32[N,3] @softmax\n"
        "  return %probs\n"
        "}\n";
    bnn_graph *g[2] = {parse(tiny_net), parse(with_softmax)};
    uint64_t keep = rng_state;
    for (int m = 0; m < 2; m++) {
        rng_state = keep; /* the same params in both */
        for (int i = 0; i < 4; i++)
            fill_param(g[m], tiny_params[i], -0.5f, 0.5f);
    }
    bnn_tensor x = make_tensor(BNN_F32, 4, (int64_t[]){3, 1, 6, 6});
    bnn_tensor y = make_tensor(BNN_I64, 1, (int64_t[]){3});
    fill_batch(&x, &y, BNN_LOSS_CROSS_ENTROPY);
    double loss[2];
    for (int m = 0; m < 2; m++) {
        bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 3);
        bnn_trainer *t = NULL;
        bnn_diag diag = {0};
        cr_assert_eq(bnn_trainer_create(g[m], &o, &t, &diag), BNN_OK, "%s", diag.message);
        bnn_step_result r;
        cr_assert_eq(bnn_trainer_step(t, &x, &y, &r, &diag), BNN_OK, "%s", diag.message);
        loss[m] = r.data_loss;
        bnn_trainer_destroy(t);
    }
    cr_assert_eq(loss[0], loss[1], "data loss %.9g without the softmax, %.9g with", loss[0], loss[1]);
    for (int i = 0; i < 4; i++) {
        const bnn_value *a = &g[0]->values[bnn_graph_find_value(g[0], tiny_params[i])];
        const bnn_value *b = &g[1]->values[bnn_graph_find_value(g[1], tiny_params[i])];
        cr_assert_eq(memcmp(a->data, b->data, a->nbytes), 0, "%s differs after a step",
                     tiny_params[i]);
    }
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_graph_destroy(g[0]);
    bnn_graph_destroy(g[1]);
}

/* bnn_train_defaults is what docs/api.md and bnn_train.h promise. */
Test(train, defaults_are_the_documented_ones)
{
    bnn_train_options o = bnn_train_defaults();
    bnn_optimizer_config adam = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    cr_assert_eq(o.optimizer.kind, BNN_OPTIM_ADAM);
    cr_assert_float_eq(o.optimizer.lr, adam.lr, 0);
    cr_assert_eq(o.loss, BNN_LOSS_CROSS_ENTROPY);
    cr_assert_float_eq(o.dnn_factor, 1.0, 0);
    cr_assert_float_eq(o.bnn_factor, 0.0, 0);
    cr_assert_eq(o.batch, 64);
    cr_assert_eq(o.seed, 1u);
    cr_assert_eq(o.threads, 0);
    cr_assert_null(o.comm);
}

/* rho_lr_scale: Adam's first step moves every param with a nonzero gradient
 * by its lr (m_hat / sqrt(v_hat) = +-1), so the rho params move scale times
 * as far as with scale 1 and the mu params exactly as far. */
static void first_step_moves(float scale, double *mu_move, double *rho_move)
{
    bnn_graph *g = make_bayes_net();
    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 2);
    o.optimizer = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    o.optimizer.lr = 1e-3f;
    o.bnn_factor = 0.1;
    o.rho_lr_scale = scale;
    float *before_mu = malloc(90 * sizeof(float)), *before_rho = malloc(90 * sizeof(float));
    int vm = bnn_graph_find_value(g, "f1.wmu"), vr = bnn_graph_find_value(g, "f1.wrho");
    memcpy(before_mu, g->values[vm].data, 90 * sizeof(float));
    memcpy(before_rho, g->values[vr].data, 90 * sizeof(float));
    bnn_diag diag = {0};
    bnn_tensor x, y;
    bnn_trainer *t = trainer_with_batch(g, &o, &x, &y);
    bnn_step_result r;
    cr_assert_eq(bnn_trainer_step(t, &x, &y, &r, &diag), BNN_OK, "%s", diag.message);
    *mu_move = *rho_move = 0;
    const float *mu = g->values[vm].data, *rho = g->values[vr].data;
    for (int i = 0; i < 90; i++) {
        *mu_move = fmax(*mu_move, fabs((double)mu[i] - before_mu[i]));
        *rho_move = fmax(*rho_move, fabs((double)rho[i] - before_rho[i]));
    }
    cr_assert_float_eq(bnn_trainer_optimizer(t)->config.lr, 1e-3f, 0, "the lr is restored after the step");
    free(before_mu);
    free(before_rho);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}

Test(train, rho_lr_scale_scales_the_rho_steps_only)
{
    double mu1, rho1, mu10, rho10;
    first_step_moves(1.0f, &mu1, &rho1);
    first_step_moves(10.0f, &mu10, &rho10);
    cr_assert_float_eq(rho1, 1e-3, 1e-5, "rho moved %g", rho1);
    cr_assert_float_eq(rho10, 1e-2, 1e-4, "rho moved %g", rho10);
    cr_assert_float_eq(mu10, mu1, 1e-7, "mu moved %g, %g", mu1, mu10);
}

/* A step says where its time went: forward, backward, the KL pass and the
 * update, each a part of the step's wall time, and no all-reduce in one
 * process (docs/distributed.md, "phase_seconds"). */
static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

Test(train, a_step_reports_where_its_time_went)
{
    bnn_graph *g = make_bayes_net();
    bnn_train_options o = options_for(BNN_LOSS_CROSS_ENTROPY, 2);
    o.bnn_factor = 0.1;
    bnn_diag diag = {0};
    bnn_tensor x, y;
    bnn_trainer *t = trainer_with_batch(g, &o, &x, &y);
    for (int i = 0; i < 3; i++) {
        bnn_step_result r;
        double t0 = wall_ms();
        bnn_status st = i < 2 ? bnn_trainer_step(t, &x, &y, &r, &diag)
                              : bnn_trainer_step_shard(t, &x, &y, 0, x.shape.dims[0], &r, &diag);
        double wall = wall_ms() - t0;
        cr_assert_eq(st, BNN_OK, "%s", diag.message);
        cr_assert(r.forward_ms > 0 && r.backward_ms > 0, "forward %g, backward %g ms",
                  r.forward_ms, r.backward_ms);
        cr_assert(r.finish_ms >= 0 && r.update_ms >= 0);
        double parts = r.forward_ms + r.backward_ms + r.finish_ms + r.update_ms;
        cr_assert(parts <= wall, "the phases (%g ms) exceed the step (%g ms)", parts, wall);
        cr_assert_eq(r.reduce_ms, 0.0, "one process reduces nothing");
        cr_assert_eq(r.reduce_wait_ms, 0.0);
    }
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_trainer_destroy(t);
    bnn_graph_destroy(g);
}
