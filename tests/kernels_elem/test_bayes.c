/* Bayesian layers: bnn.dense_reparam and bnn.conv_reparam forward against a
 * reference with the documented eps stream, sampling statistics, gradients by
 * finite differences, the closed-form KL and its gradient (bayes_kl.c), and
 * the vector math both use (vecmath.h): against libm, and the same sigma in
 * sampling and in the KL. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "bayes.h"
#include "bayes_impl.h"
#include "harness.h"
#include "reference.h"
#include "rng.h"
#include "vecmath.h"

enum { X, WMU, WRHO, BMU, BRHO };

static double softplus_d(double r)
{
    return r > 0 ? r + log1p(exp(-r)) : log1p(exp(r));
}

/* Dense case: x [m, in] (or [a, b, in]), w [out, in], optional bias. */
static ke_case *dense_case(const bnn_shape *xs, int64_t in, int64_t out, int bias_inputs,
                           float rho_lo, float rho_hi, uint64_t seed)
{
    bnn_shape ys = *xs;
    ys.dims[ys.rank - 1] = out;
    bnn_shape shapes[5] = {*xs, KE_SHAPE(out, in), KE_SHAPE(out, in), KE_SHAPE(out), KE_SHAPE(out)};
    if (bias_inputs < 2)
        shapes[BRHO] = ke_absent();
    if (bias_inputs < 1)
        shapes[BMU] = ke_absent();
    ke_case *c = ke_create1(BNN_OP_DENSE_REPARAM, BNN_F32, 5, shapes, &ys);
    ke_fill(&c->inputs[X], seed, -1, 1);
    ke_fill(&c->inputs[WMU], seed + 1, -0.5, 0.5);
    ke_fill(&c->inputs[WRHO], seed + 2, rho_lo, rho_hi);
    if (bias_inputs >= 1)
        ke_fill(&c->inputs[BMU], seed + 3, -0.5, 0.5);
    if (bias_inputs >= 2)
        ke_fill(&c->inputs[BRHO], seed + 4, rho_lo, rho_hi);
    c->seed = 1234;
    return c;
}

/* The weight the layer should have sampled: mu + softplus(rho) * eps with eps
 * from the stream documented in rng.h / runtime/kernels/bayes.c. */
static void expected_weights(const ke_case *c, float *w, float *b)
{
    int64_t nw = bnn_tensor_numel(&c->inputs[WMU]);
    bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
    float *eps = malloc((size_t)nw * sizeof *eps);
    bnn_rng_normal(&s, 0, (size_t)nw, eps);
    const float *mu = c->inputs[WMU].data, *rho = c->inputs[WRHO].data;
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)(mu[i] + softplus_d(rho[i]) * eps[i]);
    free(eps);
    if (b && c->inputs[BMU].data) {
        int64_t nb = bnn_tensor_numel(&c->inputs[BMU]);
        float *eb = malloc((size_t)nb * sizeof *eb);
        bnn_rng_normal(&s, (uint64_t)nw, (size_t)nb, eb);
        const float *bm = c->inputs[BMU].data, *br = c->inputs[BRHO].data;
        for (int64_t i = 0; i < nb; i++)
            b[i] = br ? (float)(bm[i] + softplus_d(br[i]) * eb[i]) : bm[i];
        free(eb);
    }
}

static void expect_close(const float *got, const double *want, int64_t n, double tol,
                         const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])))) {
            cr_expect_fail("%s element %lld: %.7g, want %.7g", what, (long long)i, got[i], want[i]);
            return;
        }
}

Test(kernels_elem, dense_reparam_matches_reference)
{
    bnn_shape xs[] = {KE_SHAPE(5, 7), KE_SHAPE(2, 3, 7), KE_SHAPE(1, 7)};
    for (int k = 0; k < 3; k++)
        for (int bias = 0; bias <= 2; bias++)
            for (int train = 0; train < 2; train++) {
                ke_case *c = dense_case(&xs[k], 7, 4, bias, -3, 0, (uint64_t)(k * 10 + bias));
                c->training = train;
                c->step = (uint64_t)(k + 3);
                cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
                float w[28], b[4];
                expected_weights(c, w, b);
                int64_t m = bnn_tensor_numel(&c->inputs[X]) / 7;
                double *y = malloc((size_t)(m * 4) * sizeof *y);
                ref_dense(c->inputs[X].data, w, bias ? b : NULL, m, 7, 4, y);
                expect_close(c->output.data, y, m * 4, 1e-5, "dense_reparam");
                free(y);
                ke_destroy(c);
            }
}

Test(kernels_elem, dense_reparam_sampling)
{
    bnn_shape xs = KE_SHAPE(3, 6);
    ke_case *c = dense_case(&xs, 6, 5, 2, -2.5, -2.0, 7);
    int64_t n = 15;
    double mean_w[30], det[15], sum[15] = {0}, sumsq[15] = {0};
    const float *mu = c->inputs[WMU].data;
    for (int i = 0; i < 30; i++)
        mean_w[i] = mu[i];
    ref_dense(c->inputs[X].data, c->inputs[WMU].data, c->inputs[BMU].data, 3, 6, 5, det);
    (void)mean_w;
    /* Same step: the same sample; another step: another one. */
    cr_assert_eq(ke_forward(c), BNN_OK);
    float first[15];
    memcpy(first, c->output.data, sizeof first);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(first, c->output.data, sizeof first), 0);
    /* Mean over many samples approaches the output with w = mu. */
    int S = 4000;
    for (int s = 0; s < S; s++) {
        c->step = (uint64_t)s + 1;
        cr_assert_eq(ke_forward(c), BNN_OK);
        const float *y = c->output.data;
        for (int64_t i = 0; i < n; i++) {
            sum[i] += y[i];
            sumsq[i] += (double)y[i] * y[i];
        }
    }
    cr_expect_neq(memcmp(first, c->output.data, sizeof first), 0);
    for (int64_t i = 0; i < n; i++) {
        double mean = sum[i] / S, var = sumsq[i] / S - mean * mean;
        double se = sqrt(var / S);
        cr_expect(var > 0, "no spread at %lld", (long long)i);
        cr_expect(fabs(mean - det[i]) < 5 * se + 1e-6, "element %lld: mean %g, deterministic %g (se %g)",
                  (long long)i, mean, det[i], se);
    }
    ke_destroy(c);
}

Test(kernels_elem, dense_reparam_tiny_sigma_is_deterministic)
{
    bnn_shape xs = KE_SHAPE(4, 8);
    ke_case *c = dense_case(&xs, 8, 3, 2, -30, -25, 3); /* sigma ~ 1e-13 */
    c->step = 11;
    cr_assert_eq(ke_forward(c), BNN_OK);
    double det[12];
    ref_dense(c->inputs[X].data, c->inputs[WMU].data, c->inputs[BMU].data, 4, 8, 3, det);
    expect_close(c->output.data, det, 12, 1e-5, "tiny sigma");
    ke_destroy(c);
}

Test(kernels_elem, dense_reparam_thread_count_invariant)
{
    bnn_shape xs = KE_SHAPE(8, 300);
    ke_case *c = dense_case(&xs, 300, 200, 2, -4, -1, 5); /* 60000 weights: threaded sampling */
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(ke_forward(c), BNN_OK);
    float *one = malloc(8 * 200 * sizeof *one);
    memcpy(one, c->output.data, 8 * 200 * sizeof *one);
    omp_set_num_threads(4);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(memcmp(one, c->output.data, 8 * 200 * sizeof *one), 0);
    omp_set_num_threads(saved);
    free(one);
    ke_destroy(c);
}

Test(kernels_elem, dense_reparam_gradients)
{
    bnn_shape xs[] = {KE_SHAPE(3, 5), KE_SHAPE(2, 2, 5)};
    for (int k = 0; k < 2; k++)
        for (int bias = 0; bias <= 2; bias++) {
            ke_case *c = dense_case(&xs[k], 5, 4, bias, -2, 0.5, (uint64_t)(k + 20 * bias));
            c->training = true;
            c->step = 5;
            ke_check_grad(c, 0x1f, 1e-3, 1e-2, 40);
            /* only x */
            ke_check_grad(c, 0x1, 1e-3, 1e-2, 40);
            ke_destroy(c);
        }
}

Test(kernels_elem, dense_reparam_shape_error)
{
    bnn_shape shapes[5] = {KE_SHAPE(3, 6), KE_SHAPE(4, 5), KE_SHAPE(4, 5), ke_absent(), ke_absent()};
    bnn_shape ys = KE_SHAPE(3, 4);
    ke_case *c = ke_create1(BNN_OP_DENSE_REPARAM, BNN_F32, 5, shapes, &ys);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (bnn.dense_reparam)") != NULL, "%s",
              c->diag.message);
    ke_destroy(c);
}

/* ---- conv_reparam (needs the conv kernel, runtime/kernels/conv.c) ------------- */

static ke_case *conv_case(uint64_t seed, int64_t group, bool bias)
{
    int64_t n = 2, cin = 4, h = 6, w = 5, m = 6, kh = 3, kw = 2;
    int64_t strides[2] = {2, 1}, pads[4] = {1, 0, 1, 1}, dil[2] = {1, 2};
    int64_t oh = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) / strides[0] + 1;
    int64_t ow = (w + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) / strides[1] + 1;
    bnn_shape shapes[5] = {KE_SHAPE(n, cin, h, w), KE_SHAPE(m, cin / group, kh, kw),
                           KE_SHAPE(m, cin / group, kh, kw), KE_SHAPE(m), KE_SHAPE(m)};
    if (!bias)
        shapes[BMU] = shapes[BRHO] = ke_absent();
    bnn_shape ys = KE_SHAPE(n, m, oh, ow);
    ke_case *c = ke_create1(BNN_OP_CONV_REPARAM, BNN_F32, 5, shapes, &ys);
    ke_set_ints(c, "strides", strides, 2);
    ke_set_ints(c, "pads", pads, 4);
    ke_set_ints(c, "dilations", dil, 2);
    ke_set_int(c, "group", group);
    for (int k = 0; k < 5; k++)
        if (c->inputs[k].data)
            ke_fill(&c->inputs[k], seed + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                    k == WRHO || k == BRHO ? 0 : 1);
    c->seed = 77;
    c->step = 2;
    return c;
}

Test(kernels_elem, conv_reparam_matches_reference)
{
    for (int variant = 0; variant < 3; variant++) {
        int64_t group = variant == 1 ? 2 : 1;
        ke_case *c = conv_case((uint64_t)variant, group, variant != 2);
        bnn_status st = ke_forward(c);
        cr_assert_eq(st, BNN_OK, "%s", c->diag.message);
        int64_t nw = bnn_tensor_numel(&c->inputs[WMU]);
        float *w = malloc((size_t)nw * sizeof *w), b[6];
        expected_weights(c, w, b);
        int64_t ny = bnn_tensor_numel(&c->output);
        double *y = malloc((size_t)ny * sizeof *y);
        int64_t strides[2] = {2, 1}, pads[2] = {1, 0}, dil[2] = {1, 2};
        ref_conv2d(c->inputs[X].data, c->inputs[X].shape.dims, w, c->inputs[WMU].shape.dims,
                   variant != 2 ? b : NULL, strides, pads, dil, group, c->output.shape.dims, y);
        expect_close(c->output.data, y, ny, 1e-5, "conv_reparam");
        free(w);
        free(y);
        ke_destroy(c);
    }
}

Test(kernels_elem, conv_reparam_gradients)
{
    for (int variant = 0; variant < 2; variant++) {
        ke_case *c = conv_case(10 + (uint64_t)variant, variant ? 2 : 1, true);
        c->training = true; /* from the first run: the state is sized for it */
        bnn_status st = ke_forward(c);
        cr_assert_eq(st, BNN_OK, "%s", c->diag.message);
        ke_check_grad(c, 0x1f, 1e-3, 1e-2, 30);
        ke_destroy(c);
    }
}

/* ---- KL ----------------------------------------------------------------- */

/* KL(q || p) by integrating q log(q / p) on a fine grid. */
static double kl_numeric(double mu, double sigma, double pm, double ps)
{
    double lo = mu - 12 * sigma, hi = mu + 12 * sigma, h = (hi - lo) / 200000, s = 0;
    for (int i = 0; i <= 200000; i++) {
        double x = lo + i * h;
        double lq = -0.5 * ((x - mu) / sigma) * ((x - mu) / sigma) - log(sigma * sqrt(2 * M_PI));
        double lp = -0.5 * ((x - pm) / ps) * ((x - pm) / ps) - log(ps * sqrt(2 * M_PI));
        double wgt = (i == 0 || i == 200000) ? 0.5 : 1;
        s += wgt * exp(lq) * (lq - lp);
    }
    return s * h;
}

Test(kernels_elem, gaussian_kl_closed_form)
{
    float mu[5] = {0.0f, 0.3f, -1.2f, 0.05f, 2.0f};
    float rho[5] = {-3.0f, -1.0f, 0.5f, -5.0f, 1.5f};
    float pm = 0.1f, ps = 0.7f;
    double total = 0;
    for (int i = 0; i < 5; i++) {
        double one = bnn_gaussian_kl(&mu[i], &rho[i], 1, pm, ps);
        double num = kl_numeric(mu[i], softplus_d(rho[i]), pm, ps);
        cr_expect(fabs(one - num) < 1e-6 * (1 + fabs(num)), "element %d: %g, numeric %g", i, one, num);
        total += num;
    }
    double sum = bnn_gaussian_kl(mu, rho, 5, pm, ps);
    cr_expect(fabs(sum - total) < 1e-5, "sum %g, numeric %g", sum, total);
    /* posterior equal to the prior: zero */
    float m0 = 0.1f, r0 = (float)log(expm1(0.7));
    cr_expect(fabs(bnn_gaussian_kl(&m0, &r0, 1, pm, ps)) < 1e-6);
    /* very negative rho stays finite */
    float rneg = -60.0f;
    cr_expect(isfinite(bnn_gaussian_kl(&m0, &rneg, 1, pm, ps)));
}

Test(kernels_elem, gaussian_kl_gradient)
{
    enum { N = 8 };
    float mu[N] = {0.0f, 0.3f, -1.2f, 0.05f, 2.0f, -0.4f, 0.7f, -0.1f};
    /* -22: below -20 the KL takes log(sigma) = rho */
    float rho[N] = {-3.0f, -1.0f, 0.5f, -5.0f, 1.5f, -0.2f, -22.0f, 3.0f};
    float gmu[N], grho[N];
    float pm = -0.2f, ps = 0.3f, scale = 0.7f;
    for (int i = 0; i < N; i++)
        gmu[i] = grho[i] = 1.0f; /* accumulates */
    bnn_gaussian_kl_backward(mu, rho, N, pm, ps, scale, gmu, grho);
    for (int i = 0; i < N; i++) {
        for (int which = 0; which < 2; which++) {
            float *p = which ? &rho[i] : &mu[i];
            float saved = *p;
            /* KL is quadratic in mu, where a wider step loses nothing and
             * rounds less */
            double h = which ? 1e-3 : 1e-2;
            *p = (float)(saved + h);
            double hi_x = *p, lp = bnn_gaussian_kl(mu, rho, N, pm, ps);
            *p = (float)(saved - h);
            double lo_x = *p, lm = bnn_gaussian_kl(mu, rho, N, pm, ps);
            *p = saved;
            double num = scale * (lp - lm) / (hi_x - lo_x);
            double ana = (which ? grho[i] : gmu[i]) - 1.0;
            cr_expect(fabs(num - ana) < 1e-3 * (1 + fabs(num)), "%s[%d]: %g, numeric %g",
                      which ? "rho" : "mu", i, ana, num);
        }
    }
    /* NULL gradients are skipped */
    bnn_gaussian_kl_backward(mu, rho, N, pm, ps, scale, NULL, NULL);
}

/* The KL in double with libm, one element, and its gradient (rho above -30,
 * where double's softplus needs no limit). */
static double kl_reference(double mu, double rho, double pm, double ps, double *gmu, double *grho)
{
    double sigma = softplus_d(rho), sig = 1 / (1 + exp(-rho));
    *gmu = (mu - pm) / (ps * ps);
    *grho = (sigma / (ps * ps) - 1 / sigma) * sig;
    return log(ps / sigma) + (sigma * sigma + (mu - pm) * (mu - pm)) / (2 * ps * ps) - 0.5;
}

Test(kernels_elem, gaussian_kl_matches_double_reference_over_a_wide_range)
{
    enum { N = 4001 };
    float *mu = malloc(N * sizeof *mu), *rho = malloc(N * sizeof *rho);
    float *gm = calloc(N, sizeof *gm), *gr = calloc(N, sizeof *gr);
    uint64_t state = 5;
    for (int i = 0; i < N; i++) {
        rho[i] = -25.0f + 40.0f * (float)i / (N - 1);
        mu[i] = (float)ke_rand_uniform(&state, -2, 2);
    }
    const float pm = 0.1f, ps = 0.3f, scale = 0.5f;
    double got = bnn_gaussian_kl_pass(mu, rho, N, pm, ps, scale, gm, gr), want = 0;
    for (int i = 0; i < N; i++) {
        double rgm, rgr;
        double term = kl_reference(mu[i], rho[i], pm, ps, &rgm, &rgr);
        want += term;
        double one = bnn_gaussian_kl(&mu[i], &rho[i], 1, pm, ps);
        /* float terms: a few ulp of the larger of the parts that cancel */
        double size = fabs(log(ps)) + fabs(rho[i]) + 1 + term;
        cr_expect(fabs(one - term) <= 2e-6 * size, "KL at rho %g, mu %g: %.9g, reference %.9g",
                  rho[i], mu[i], one, term);
        cr_expect(fabs(gm[i] - scale * rgm) <= 1e-6 * (1 + fabs(scale * rgm)),
                  "dKL/dmu at rho %g: %.9g, reference %.9g", rho[i], gm[i], scale * rgm);
        cr_expect(fabs(gr[i] - scale * rgr) <= 1e-5 * (1 + fabs(scale * rgr)),
                  "dKL/drho at rho %g: %.9g, reference %.9g", rho[i], gr[i], scale * rgr);
    }
    cr_expect(fabs(got - want) <= 1e-6 * fabs(want), "sum %.12g, reference %.12g", got, want);
    free(mu);
    free(rho);
    free(gm);
    free(gr);
}

Test(kernels_elem, gaussian_kl_is_deterministic)
{
    /* several chunks, so several threads, and a ragged end */
    size_t n = 3 * 16384 + 1000 + 3;
    float *mu = malloc(n * sizeof *mu), *rho = malloc(n * sizeof *rho);
    float *g[3][2];
    uint64_t state = 9;
    for (size_t i = 0; i < n; i++) {
        mu[i] = (float)ke_rand_uniform(&state, -1, 1);
        rho[i] = (float)ke_rand_uniform(&state, -8, 2);
    }
    double kl[3];
    int saved = omp_get_max_threads();
    for (int k = 0; k < 3; k++) {
        g[k][0] = calloc(n, sizeof(float));
        g[k][1] = calloc(n, sizeof(float));
        omp_set_num_threads(k + 1);
        kl[k] = bnn_gaussian_kl_pass(mu, rho, n, 0.0f, 0.2f, 0.25f, g[k][0], g[k][1]);
    }
    omp_set_num_threads(saved);
    double value_only = bnn_gaussian_kl(mu, rho, n, 0.0f, 0.2f);
    for (int k = 1; k < 3; k++) {
        cr_expect(kl[k] == kl[0], "%d threads: %.17g, 1 thread: %.17g", k + 1, kl[k], kl[0]);
        cr_expect_eq(memcmp(g[k][0], g[0][0], n * sizeof(float)), 0, "dKL/dmu, %d threads", k + 1);
        cr_expect_eq(memcmp(g[k][1], g[0][1], n * sizeof(float)), 0, "dKL/drho, %d threads", k + 1);
    }
    cr_expect(value_only == kl[0], "without gradients %.17g, with %.17g", value_only, kl[0]);
    for (int k = 0; k < 3; k++) {
        free(g[k][0]);
        free(g[k][1]);
    }
    free(mu);
    free(rho);
}

/* ---- the KL of a graph's Bayesian node ------------------------------------ */

static const char *kl_net =
    "graph @kl(%x: f32[N,3]) -> (%y: f32[N,2]) {\n"
    "  param %w.mu: f32[4,3] trainable\n"
    "  param %w.rho: f32[4,3] trainable\n"
    "  param %b.mu: f32[4] trainable\n"
    "  param %b.rho: f32[4] trainable\n"
    "  param %v.mu: f32[2,4] trainable\n"
    "  param %v.rho: f32[2,4] trainable\n"
    "  %h = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho) {prior_mu=0.1, "
    "prior_sigma=0.5} : f32[N,4] @fc1\n"
    "  %r = relu(%h) : f32[N,4] @relu\n"
    "  %y = bnn.dense_reparam(%r, %v.mu, %v.rho) : f32[N,2] @fc2\n"
    "  return %y\n"
    "}\n";

/* grad_of for the test: a buffer per value id, NULL for w.rho (no gradient
 * wanted there). */
typedef struct kl_grads {
    const bnn_graph *g;
    float *buf[16];
    int asked[16];
} kl_grads;

static float *kl_grads_of(void *ctx, int v)
{
    kl_grads *k = ctx;
    cr_assert(v >= 0 && v < 16);
    k->asked[v]++;
    if (strcmp(k->g->values[v].name, "w.rho") == 0)
        return NULL;
    if (!k->buf[v])
        k->buf[v] = calloc(k->g->values[v].nbytes / sizeof(float), sizeof(float));
    return k->buf[v];
}

static const float *param_data(const bnn_graph *g, const char *name, size_t *n)
{
    int v = bnn_graph_find_value(g, name);
    cr_assert(v >= 0, "no value %s", name);
    *n = g->values[v].nbytes / sizeof(float);
    return g->values[v].data;
}

/* Every param of g: rho in [-6, 1), the rest in [-1, 1). */
static void randomize_params(bnn_graph *g, uint64_t state)
{
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            bool rho = strstr(g->values[v].name, "rho") != NULL;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = (float)(rho ? ke_rand_uniform(&state, -6, 1) : ke_rand_uniform(&state, -1, 1));
        }
}

Test(kernels_elem, bayes_node_kl_reads_the_node)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(kl_net, "kl_net", &g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_lt(g->n_values, 16);
    randomize_params(g, 3);
    size_t nw, nb, nv;
    const float *wmu = param_data(g, "w.mu", &nw), *wrho = param_data(g, "w.rho", &nw);
    const float *bmu = param_data(g, "b.mu", &nb), *brho = param_data(g, "b.rho", &nb);
    const float *vmu = param_data(g, "v.mu", &nv), *vrho = param_data(g, "v.rho", &nv);
    const float scale = 0.3f;
    /* what the node's operands and prior give, in the documented order */
    float want_g[6][16] = {{0}};
    double want[3] = {0, 0, 0};
    want[0] += bnn_gaussian_kl_pass(wmu, wrho, nw, 0.1f, 0.5f, scale, want_g[0], want_g[1]);
    want[0] += bnn_gaussian_kl_pass(bmu, brho, nb, 0.1f, 0.5f, scale, want_g[2], want_g[3]);
    want[2] += bnn_gaussian_kl_pass(vmu, vrho, nv, BNN_PRIOR_MU_DEFAULT, BNN_PRIOR_SIGMA_DEFAULT,
                                    scale, want_g[4], want_g[5]);
    kl_grads k = {.g = g};
    const char *names[6] = {"w.mu", "w.rho", "b.mu", "b.rho", "v.mu", "v.rho"};
    cr_assert_eq(g->n_nodes, 3);
    for (int i = 0; i < 3; i++) {
        double kl = -1;
        cr_assert_eq(bnn_bayes_node_kl(g, i, scale, kl_grads_of, &k, &kl, &diag), BNN_OK, "%s",
                     diag.message);
        cr_expect(kl == want[i], "node %d: KL %.17g, want %.17g", i, kl, want[i]);
        double value_only = -1;
        cr_assert_eq(bnn_bayes_node_kl(g, i, scale, NULL, NULL, &value_only, &diag), BNN_OK);
        cr_expect(value_only == kl, "node %d without gradients: %.17g, with: %.17g", i,
                  value_only, kl);
    }
    cr_expect(want[0] > 0 && want[2] > 0);
    for (int j = 0; j < 6; j++) {
        int v = bnn_graph_find_value(g, names[j]);
        cr_expect_eq(k.asked[v], 1, "%s: asked for its gradient %d times", names[j], k.asked[v]);
        if (j == 1) {
            cr_expect_null(k.buf[v], "w.rho wanted no gradient");
            continue;
        }
        cr_assert_not_null(k.buf[v], "%s got no gradient", names[j]);
        size_t n = g->values[v].nbytes / sizeof(float);
        cr_expect_eq(memcmp(k.buf[v], want_g[j], n * sizeof(float)), 0, "%s's gradient", names[j]);
    }
    /* a prior that is not a distribution fails, naming the node */
    cr_assert_eq(bnn_node_set_float(g, 2, "prior_sigma", 0.0f), BNN_OK);
    double kl;
    cr_expect_eq(bnn_bayes_node_kl(g, 2, scale, NULL, NULL, &kl, &diag), BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "fc2") && strstr(diag.message, "prior_sigma"), "%s",
              diag.message);
    for (int v = 0; v < 16; v++)
        free(k.buf[v]);
    bnn_graph_destroy(g);
}

/* ---- one vector math for sampling and KL ----------------------------------- */

/* rho where sigma's computation changes regime or overflows: exp's clamp at
 * -87, the KL's limit below -20, 0, exp(-|rho|) underflowing the log1p, and
 * rho too large to square. */
static const float rho_edges[] = {
    -INFINITY, -FLT_MAX, -1e30f, -1e4f, -100.0f, -88.0f, -87.5f, -87.0f, -86.9f, -60.0f,
    -30.0f,    -20.001f, -20.0f, -19.999f, -10.0f, -1.0f, -1e-3f, -1e-30f, -0.0f, 0.0f,
    1e-30f,    1e-3f,    1.0f,   10.0f,   16.0f,  17.0f,  20.0f, 30.0f,  87.0f,  88.0f,
    100.0f,    1e4f,     1e19f,  1e30f,   FLT_MAX, INFINITY, NAN,
};
#define N_EDGES (sizeof rho_edges / sizeof rho_edges[0])

static bool same_float(float a, float b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* A training layer's sampling keeps sigma and sigmoid(rho) for the KL pass
 * (state [w | eps_w | sigma_w | sig_w] without a bias): the same floats as
 * bnn_softplus and bnn_sigmoid, and the same weights as an inference run's,
 * for rho from -inf to inf and NaN. */
Test(kernels_elem, training_sampling_keeps_the_kl_sigma)
{
    enum { REPEAT = 7, SWEEP = 4001 };
    int64_t rows = (int64_t)N_EDGES + SWEEP, nw = rows * REPEAT;
    bnn_shape shapes[5] = {KE_SHAPE(1, REPEAT), KE_SHAPE(rows, REPEAT), KE_SHAPE(rows, REPEAT),
                           ke_absent(), ke_absent()};
    bnn_shape ys = KE_SHAPE(1, rows);
    ke_case *run[2];
    for (int train = 0; train < 2; train++) {
        ke_case *c = run[train] = ke_create1(BNN_OP_DENSE_REPARAM, BNN_F32, 5, shapes, &ys);
        ke_fill(&c->inputs[X], 1, -1, 1);
        ke_fill(&c->inputs[WMU], 2, -1, 1);
        float *rho = c->inputs[WRHO].data;
        for (int64_t r = 0; r < rows; r++) {
            float v = r < (int64_t)N_EDGES
                          ? rho_edges[r]
                          : -100.0f + 200.0f * (float)(r - (int64_t)N_EDGES) / (SWEEP - 1);
            for (int j = 0; j < REPEAT; j++)
                rho[r * REPEAT + j] = v;
        }
        c->seed = 21;
        c->step = 4;
        c->training = train;
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        cr_assert_eq(c->state_size, (size_t)((train ? 4 : 2) * nw) * sizeof(float));
    }
    const float *rho = run[1]->inputs[WRHO].data;
    const float *w0 = run[0]->state, *w1 = run[1]->state;
    const float *sigma = w1 + 2 * nw, *sig = w1 + 3 * nw;
    int bad = 0;
    for (int64_t i = 0; i < nw && bad < 10; i++) {
        bool ok = same_float(w0[i], w1[i]) && same_float(sigma[i], bnn_softplus(rho[i])) &&
                  same_float(sig[i], bnn_sigmoid(rho[i]));
        if (!ok) {
            cr_expect_fail("rho %g: w %.9g / %.9g (inference / training), sigma %.9g against "
                           "%.9g, sigmoid %.9g against %.9g", rho[i], w0[i], w1[i], sigma[i],
                           bnn_softplus(rho[i]), sig[i], bnn_sigmoid(rho[i]));
            bad++;
        }
    }
    ke_destroy(run[0]);
    ke_destroy(run[1]);
}

Test(kernels_elem, sigma_is_the_same_in_sampling_and_kl)
{
    /* Each row of w repeats one rho, so each sigma multiplies several eps; a
     * sigma one ulp off gives another product for most of them.  7 per row:
     * the vector loops' ragged ends run too. */
    enum { REPEAT = 7, SWEEP = 4001 };
    int64_t rows = (int64_t)N_EDGES + SWEEP;
    bnn_shape shapes[5] = {KE_SHAPE(1, REPEAT), KE_SHAPE(rows, REPEAT), KE_SHAPE(rows, REPEAT),
                           ke_absent(), ke_absent()};
    bnn_shape ys = KE_SHAPE(1, rows);
    ke_case *c = ke_create1(BNN_OP_DENSE_REPARAM, BNN_F32, 5, shapes, &ys);
    ke_fill(&c->inputs[X], 1, -1, 1);
    float *rho = c->inputs[WRHO].data; /* mu stays 0: the sample is sigma * eps */
    for (int64_t r = 0; r < rows; r++) {
        float v = r < (int64_t)N_EDGES ? rho_edges[r]
                                       : -100.0f + 200.0f * (float)(r - (int64_t)N_EDGES) / (SWEEP - 1);
        for (int j = 0; j < REPEAT; j++)
            rho[r * REPEAT + j] = v;
    }
    c->seed = 21;
    c->step = 4;
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t nw = rows * REPEAT;
    const float *w = c->state, *eps = (const float *)c->state + nw; /* [w | eps_w], no bias */
    float *sigma = malloc((size_t)nw * sizeof *sigma);
    bayes_kl_sigma(rho, (size_t)nw, sigma);
    int bad = 0;
    for (int64_t i = 0; i < nw && bad < 10; i++) {
        float sampled = 0.0f + sigma[i] * eps[i]; /* the kernel's mu + sigma * eps */
        if (!same_float(w[i], sampled)) {
            cr_expect_fail("rho %g: the layer sampled %.9g = sigma * %.9g, the KL's sigma %.9g "
                           "gives %.9g", rho[i], w[i], eps[i], sigma[i], sampled);
            bad++;
        }
        if (!same_float(bnn_softplus(rho[i]), sigma[i])) {
            cr_expect_fail("rho %g: bnn_softplus %.9g, the KL's sigma %.9g", rho[i],
                           bnn_softplus(rho[i]), sigma[i]);
            bad++;
        }
        if (!(sigma[i] > 0) != !!isnan(rho[i])) { /* NaN in, NaN out */
            cr_expect_fail("rho %g: sigma %g", rho[i], sigma[i]);
            bad++;
        }
    }
    free(sigma);
    ke_destroy(c);
}

/* The error of got against the exact value in float ulps (of the exact value
 * rounded to float). */
static double ulps(float got, double want)
{
    float w = fabsf((float)want);
    double ulp = (double)nextafterf(w, INFINITY) - w;
    return fabs((double)got - want) / ulp;
}

Test(kernels_elem, vecmath_matches_libm)
{
    /* Tolerances stated in vecmath.h; the worst cases over every float in
     * range, measured when it was written: exp 0.99 ulp, log1p 2.9, log 2.8,
     * softplus 3.7, sigmoid 2.4.  Here a dense sample of each range. */
    double worst[5] = {0};
    float at[5] = {0};
    const double tol[5] = {1.5, 3.5, 3.5, 4.5, 3.5};
    const char *name[5] = {"exp", "log1p", "log", "softplus", "sigmoid"};
    uint64_t state = 17;
    for (int i = 0; i <= 400000; i++) {
        float x = -87.0f * (float)i / 400000;                 /* [-87, 0] */
        float e = i == 0 ? 0.0f : (float)i / 400000;          /* [0, 1] */
        float l = (float)exp(ke_rand_uniform(&state, -87, 88)); /* normal floats */
        float s = -87.0f + 175.0f * (float)i / 400000;        /* [-87, 88] */
        double sp = s > 0 ? s + log1p(exp(-(double)s)) : log1p(exp((double)s));
        double err[5] = {
            ulps(vecmath_exp_nonpositive(x), exp((double)x)),
            ulps(vecmath_log1p_unit(e), log1p((double)e)),
            ulps(vecmath_log_positive(l), log((double)l)),
            ulps(vecmath_softplus(s), sp),
            ulps(vecmath_sigmoid(s), 1 / (1 + exp(-(double)s))),
        };
        float where[5] = {x, e, l, s, s};
        for (int k = 0; k < 5; k++)
            if (err[k] > worst[k]) {
                worst[k] = err[k];
                at[k] = where[k];
            }
    }
    for (int k = 0; k < 5; k++) {
        cr_expect(worst[k] <= tol[k], "%s: %.2f ulp at %.9g (tolerance %.1f)", name[k], worst[k],
                  at[k], tol[k]);
        cr_log_info("%s: worst %.2f ulp", name[k], worst[k]);
    }
    /* outside: exp holds at exp(-87), softplus and sigmoid saturate */
    cr_expect(vecmath_exp_nonpositive(-100.0f) == vecmath_exp_nonpositive(-87.0f));
    cr_expect(vecmath_exp_nonpositive(-INFINITY) == vecmath_exp_nonpositive(-87.0f));
    cr_expect(ulps(vecmath_exp_nonpositive(-87.0f), exp(-87.0)) <= tol[0]);
    cr_expect(vecmath_softplus(1e30f) == 1e30f && vecmath_softplus(INFINITY) == INFINITY);
    cr_expect(vecmath_sigmoid(1e30f) == 1.0f && vecmath_sigmoid(-1e30f) < 2e-38f);
    /* NaN propagates (no undefined conversion on the way: UBSan), so a NaN
     * rho shows in the KL instead of passing for a tiny sigma */
    cr_expect(isnan(vecmath_exp_nonpositive(NAN)) && isnan(vecmath_softplus(NAN)) &&
              isnan(vecmath_sigmoid(NAN)));
    float mu0 = 0.0f, rho_nan = NAN;
    cr_expect(isnan(bnn_gaussian_kl(&mu0, &rho_nan, 1, 0.0f, 0.1f)));
}

Test(kernels_elem, reparam_unknown_estimator)
{
    bnn_shape xs = KE_SHAPE(2, 3);
    ke_case *c = dense_case(&xs, 3, 2, 2, -3, -1, 1);
    ke_set_string(c, "estimator", "bogus"); /* flipout and local: test_estimators.c */
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (bnn.dense_reparam)") &&
              strstr(c->diag.message, "bogus"), "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, conv_reparam_1d)
{
    /* x [N, C, W], w [M, C, k]: checked as a 2-D conv with H = 1. */
    bnn_shape shapes[5] = {KE_SHAPE(2, 3, 9), KE_SHAPE(4, 3, 3), KE_SHAPE(4, 3, 3), KE_SHAPE(4),
                           KE_SHAPE(4)};
    bnn_shape ys = KE_SHAPE(2, 4, 5);
    ke_case *c = ke_create1(BNN_OP_CONV_REPARAM, BNN_F32, 5, shapes, &ys);
    KE_SET_INTS(c, "strides", 2);
    KE_SET_INTS(c, "pads", 1, 1);
    for (int k = 0; k < 5; k++)
        ke_fill(&c->inputs[k], 40 + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                k == WRHO || k == BRHO ? 0 : 1);
    c->step = 9;
    c->training = true; /* from the first run: the state is sized for it */
    bnn_status st = ke_forward(c);
    cr_assert_eq(st, BNN_OK, "%s", c->diag.message);
    float w[36], b[4];
    expected_weights(c, w, b);
    double y[40];
    int64_t xd[4] = {2, 3, 1, 9}, wd[4] = {4, 3, 1, 3}, yd[4] = {2, 4, 1, 5};
    int64_t strides[2] = {1, 2}, pads[2] = {0, 1}, dil[2] = {1, 1};
    ref_conv2d(c->inputs[X].data, xd, w, wd, b, strides, pads, dil, 1, yd, y);
    expect_close(c->output.data, y, 40, 1e-5, "conv_reparam 1-D");
    ke_check_grad(c, 0x1f, 1e-3, 1e-2, 30);
    ke_destroy(c);
}

Test(kernels_elem, softplus_and_sigmoid_accuracy)
{
    /* The kernels' own float exp/log1p against libm in double. */
    double worst_sp = 0, worst_sg = 0;
    for (int i = -20000; i <= 20000; i++) {
        float x = (float)i * 0.005f; /* [-100, 100] */
        double sp = softplus_d(x), sg = 1 / (1 + exp(-(double)x));
        double e1 = fabs(bnn_softplus(x) - sp), e2 = fabs(bnn_sigmoid(x) - sg);
        /* relative above -87; below, exp is held at exp(-87) ~ 1.6e-38 */
        e1 = x > -87 ? e1 / sp : (e1 < 2e-38 ? 0 : 1);
        e2 = x > -87 ? e2 / sg : (e2 < 2e-38 ? 0 : 1);
        worst_sp = e1 > worst_sp ? e1 : worst_sp;
        worst_sg = e2 > worst_sg ? e2 : worst_sg;
    }
    cr_expect(worst_sp < 1e-6, "softplus relative error %g", worst_sp);
    cr_expect(worst_sg < 1e-6, "sigmoid relative error %g", worst_sg);
    cr_expect(isfinite(bnn_softplus(-INFINITY)) && bnn_softplus(-INFINITY) >= 0);
    cr_expect(bnn_softplus(INFINITY) == INFINITY);
    cr_expect(bnn_sigmoid(-INFINITY) >= 0 && bnn_sigmoid(-INFINITY) < 1e-30);
    cr_expect(bnn_sigmoid(INFINITY) == 1.0f);
}

/* ---- the prior's mean per element (to-bnn{prior_mu=weights}) -------------- */

/* Each element's KL and gradient against N(prior_means[i], ps^2) are the
 * scalar-prior pass's for that element alone, with and without the derived
 * rho gradient, whichever vector width runs. */
Test(kernels_elem, gaussian_kl_with_prior_means_is_per_element)
{
    enum { N = 1000 };
    float *mu = malloc(N * sizeof *mu), *rho = malloc(N * sizeof *rho);
    float *pm = malloc(N * sizeof *pm), *eps = malloc(N * sizeof *eps);
    float *gm = malloc(N * sizeof *gm), *gr = malloc(N * sizeof *gr);
    uint64_t state = 11;
    for (int i = 0; i < N; i++) {
        mu[i] = (float)ke_rand_uniform(&state, -1, 1);
        rho[i] = (float)ke_rand_uniform(&state, -8, 1);
        pm[i] = (float)ke_rand_uniform(&state, -1, 1);
        eps[i] = (float)ke_rand_uniform(&state, -2, 2);
    }
    const float ps = 0.3f, scale = 0.25f;
    for (int derive = 0; derive < 2; derive++) {
        for (int i = 0; i < N; i++) {
            gm[i] = derive ? (float)(i % 7) - 3.0f : 0.5f;
            gr[i] = derive ? 123.0f : -0.25f; /* derive sets it, otherwise it adds */
        }
        double got = bayes_kl_pass(mu, rho, derive ? eps : NULL, pm, N, 99.0f, ps, scale, gm, gr);
        double want = 0;
        for (int i = 0; i < N; i++) {
            float m1 = derive ? (float)(i % 7) - 3.0f : 0.5f, r1 = derive ? 123.0f : -0.25f;
            double one = bayes_kl_pass(&mu[i], &rho[i], derive ? &eps[i] : NULL, NULL, 1, pm[i],
                                       ps, scale, &m1, &r1);
            want += one;
            cr_expect(gm[i] == m1 && gr[i] == r1,
                      "derive %d, element %d: gradients %.9g %.9g, alone %.9g %.9g", derive, i,
                      gm[i], gr[i], m1, r1);
            if (i < 5) /* a prior centred on mu leaves only the width's part */
                cr_expect(fabs(one - kl_numeric(mu[i], softplus_d(rho[i]), pm[i], ps)) <
                          1e-5 * (1 + fabs(one)));
        }
        cr_expect(fabs(got - want) <= 1e-9 * fabs(want) + 1e-9, "derive %d: %.12g, alone %.12g",
                  derive, got, want);
    }
    free(mu);
    free(rho);
    free(pm);
    free(eps);
    free(gm);
    free(gr);
}

static const char *prior_net =
    "graph @prior(%x: f32[N,3]) -> (%y: f32[N,4]) {\n"
    "  param %w.mu: f32[4,3] trainable\n"
    "  param %w.rho: f32[4,3] trainable\n"
    "  param %b.mu: f32[4] trainable\n"
    "  param %b.rho: f32[4] trainable\n"
    "  param %w: f32[4,3]\n"
    "  param %b: f32[4]\n"
    "  %y = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho, %w, %b) {prior_mu=7.0, "
    "prior_sigma=0.5} : f32[N,4] @fc\n"
    "  return %y\n"
    "}\n";

/* The node's KL reads its prior inputs: against N(w, 0.5^2) and N(b, 0.5^2),
 * not N(7, 0.5^2), and asks no gradient of them. */
Test(kernels_elem, bayes_node_kl_reads_the_prior_inputs)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(prior_net, "prior_net", &g, &diag), BNN_OK, "%s", diag.message);
    randomize_params(g, 9);
    size_t nw, nb;
    const float *wmu = param_data(g, "w.mu", &nw), *wrho = param_data(g, "w.rho", &nw);
    const float *bmu = param_data(g, "b.mu", &nb), *brho = param_data(g, "b.rho", &nb);
    const float *w = param_data(g, "w", &nw), *b = param_data(g, "b", &nb);
    double want = 0;
    for (size_t i = 0; i < nw; i++)
        want += kl_numeric(wmu[i], softplus_d(wrho[i]), w[i], 0.5);
    for (size_t i = 0; i < nb; i++)
        want += kl_numeric(bmu[i], softplus_d(brho[i]), b[i], 0.5);
    kl_grads k = {.g = g};
    double kl = -1;
    cr_assert_eq(bnn_bayes_node_kl(g, 0, 1.0f, kl_grads_of, &k, &kl, &diag), BNN_OK, "%s",
                 diag.message);
    cr_expect(fabs(kl - want) < 1e-5 * (1 + fabs(want)), "KL %.9g, want %.9g", kl, want);
    cr_expect_eq(k.asked[bnn_graph_find_value(g, "w")], 0);
    cr_expect_eq(k.asked[bnn_graph_find_value(g, "b")], 0);
    /* dKL/dmu = (mu - w) / 0.5^2 */
    const float *gw = k.buf[bnn_graph_find_value(g, "w.mu")];
    for (size_t i = 0; i < nw; i++)
        cr_expect(fabs(gw[i] - (wmu[i] - w[i]) / 0.25f) < 1e-5f, "dKL/dmu[%zu] %g", i, gw[i]);
    for (int v = 0; v < 16; v++)
        free(k.buf[v]);
    bnn_graph_destroy(g);
    /* a prior shaped unlike its mu is refused by shape inference */
    char bad[2048];
    snprintf(bad, sizeof bad, "%s", prior_net);
    char *at = strstr(bad, "param %w: f32[4,3]");
    cr_assert(at);
    memcpy(at, "param %w: f32[3,4]", strlen("param %w: f32[3,4]"));
    bnn_graph *h = NULL;
    bnn_diag d2 = {0};
    cr_assert_eq(bnn_graph_parse(bad, "prior_bad", &h, &d2), BNN_OK, "%s", d2.message);
    cr_expect_neq(bnn_graph_infer(h, &d2), BNN_OK);
    cr_expect(strstr(d2.message, "'w'") != NULL, "%s", d2.message);
    bnn_graph_destroy(h);
}

/* ---- the scale-mixture prior: a KL sampled at the weight draw ------------- */

static double mixture_kl_reference(double mu, double rho, double eps, double m, double pi,
                                   double s1, double s2)
{
    double sigma = log1p(exp(rho)), w = mu + sigma * eps, d = w - m;
    double p = pi * exp(-0.5 * d * d / (s1 * s1)) / (s1 * sqrt(2 * M_PI)) +
               (1 - pi) * exp(-0.5 * d * d / (s2 * s2)) / (s2 * sqrt(2 * M_PI));
    double q = exp(-0.5 * eps * eps) / (sigma * sqrt(2 * M_PI));
    return log(q) - log(p);
}

Test(kernels_elem, mixture_kl_value_and_gradient)
{
    enum { N = 64 };
    float mu[N], rho[N], eps[N], pm[N], gm[N], gr[N];
    uint64_t state = 21;
    for (int i = 0; i < N; i++) {
        mu[i] = (float)ke_rand_uniform(&state, -0.3, 0.3);
        rho[i] = (float)ke_rand_uniform(&state, -7, -1);
        eps[i] = (float)ke_rand_uniform(&state, -2.5, 2.5);
        pm[i] = (float)ke_rand_uniform(&state, -0.2, 0.2);
        gm[i] = gr[i] = 0.5f; /* added to */
    }
    bayes_mixture mix = {.pi = 0.4f, .mu = 0.05f, .sigma1 = 0.7f, .sigma2 = 0.01f};
    const float scale = 0.5f;
    for (int means = 0; means < 2; means++) {
        double got = bayes_mixture_kl_pass(mu, rho, eps, means ? pm : NULL, N, &mix, scale, gm,
                                           gr);
        double want = 0;
        for (int i = 0; i < N; i++) {
            double m = means ? pm[i] : mix.mu;
            want += mixture_kl_reference(mu[i], rho[i], eps[i], m, mix.pi, mix.sigma1,
                                         mix.sigma2);
            /* the gradient with eps held, by central differences in double */
            double h = 1e-5;
            double dmu = (mixture_kl_reference(mu[i] + h, rho[i], eps[i], m, mix.pi, mix.sigma1,
                                               mix.sigma2) -
                          mixture_kl_reference(mu[i] - h, rho[i], eps[i], m, mix.pi, mix.sigma1,
                                               mix.sigma2)) / (2 * h);
            double drho = (mixture_kl_reference(mu[i], rho[i] + h, eps[i], m, mix.pi, mix.sigma1,
                                                mix.sigma2) -
                           mixture_kl_reference(mu[i], rho[i] - h, eps[i], m, mix.pi, mix.sigma1,
                                                mix.sigma2)) / (2 * h);
            cr_expect(fabs(gm[i] - 0.5f - scale * dmu) <= 1e-3 * (1 + fabs(scale * dmu)),
                      "means %d, dKL/dmu[%d] %.7g, differences %.7g", means, i, gm[i] - 0.5f,
                      scale * dmu);
            cr_expect(fabs(gr[i] - 0.5f - scale * drho) <= 1e-3 * (1 + fabs(scale * drho)),
                      "means %d, dKL/drho[%d] %.7g, differences %.7g", means, i, gr[i] - 0.5f,
                      scale * drho);
            gm[i] = gr[i] = 0.5f;
        }
        cr_expect(fabs(got - want) <= 1e-6 * (1 + fabs(want)), "means %d: KL %.12g, want %.12g",
                  means, got, want);
    }
    /* far in the narrow component's tail the log-sum-exp stays finite */
    float far_mu = 5.0f, far_rho = -3.0f, far_eps = 0.0f, g1 = 0, g2 = 0;
    double far = bayes_mixture_kl_pass(&far_mu, &far_rho, &far_eps, NULL, 1, &mix, 1.0f, &g1, &g2);
    cr_expect(isfinite(far) && isfinite(g1) && isfinite(g2), "%g %g %g", far, g1, g2);
}

static const char *mixture_net =
    "graph @mix(%x: f32[N,3]) -> (%y: f32[N,4]) {\n"
    "  param %w.mu: f32[4,3] trainable\n"
    "  param %w.rho: f32[4,3] trainable\n"
    "  %y = bnn.dense_reparam(%x, %w.mu, %w.rho) {prior_sigma=1.0, prior_pi=0.5, "
    "prior_sigma2=0.01, estimator=\"ESTIMATOR\"} : f32[N,4] @fc\n"
    "  return %y\n"
    "}\n";

/* Refused where no weight draw is kept (flipout, local) and with numbers
 * out of range, by shape inference; the draw-less KL path refuses it too. */
Test(kernels_elem, mixture_prior_needs_reparam)
{
    const char *cases[][2] = {{"flipout", "reparam estimator"}, {"local", "reparam estimator"}};
    for (int k = 0; k < 2; k++) {
        char text[1024];
        const char *at = strstr(mixture_net, "ESTIMATOR");
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - mixture_net), mixture_net,
                 cases[k][0], at + strlen("ESTIMATOR"));
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        cr_assert_eq(bnn_graph_parse(text, "mix", &g, &diag), BNN_OK, "%s", diag.message);
        cr_expect_neq(bnn_graph_infer(g, &diag), BNN_OK, "%s accepted", cases[k][0]);
        cr_expect(strstr(diag.message, cases[k][1]) != NULL, "%s", diag.message);
        double kl = 0;
        cr_expect_eq(bnn_bayes_node_kl(g, 0, 1.0f, NULL, NULL, &kl, &diag), BNN_ERR_UNSUPPORTED);
        cr_expect(strstr(diag.message, "scale-mixture") != NULL, "%s", diag.message);
        bnn_graph_destroy(g);
    }
}
