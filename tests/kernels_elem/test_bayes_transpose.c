/* bnn.conv_transpose_reparam (runtime/kernels/bayes.c, bayes_estimators.c:
 * the Bayesian form of conv_transpose, the kernel of conv_transpose.c run on
 * sampled weights): forward against a plain double reference of a transposed
 * convolution with the documented streams for each estimator (reparam,
 * local, flipout), 1-D and 2-D, groups, no bias, a negative begin pad;
 * gradients of every input by finite differences; the output's marginal
 * mean and variance over many steps against the closed form; and errors.
 * Also bnn.weight_reparam, the weight sampled on its own for recurrent
 * layers: its draw and its gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "rng.h"

enum { X, WMU, WRHO, BMU, BRHO };

static double softplus_d(double r)
{
    return r > 0 ? r + log1p(exp(-r)) : log1p(exp(r));
}

/* The geometry of a case; 1-D cases have h = kh = oh = 1, stride/pad/dilation
 * of the H axis 1/0/1. */
typedef struct geom {
    int64_t n, c, m, group, h, w, kh, kw, oh, ow;
    int64_t sh, sw, ph, pw, pe_h, pe_w, dh, dw, oph, opw;
    bool one_d, bias;
} geom;

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t op, int64_t pb,
                        int64_t pe)
{
    return s * (in - 1) + d * (k - 1) + 1 + op - pb - pe;
}

static ke_case *make_case(geom *g, const char *est, uint64_t seed)
{
    g->oh = out_size(g->h, g->kh, g->sh, g->dh, g->oph, g->ph, g->pe_h);
    g->ow = out_size(g->w, g->kw, g->sw, g->dw, g->opw, g->pw, g->pe_w);
    int64_t mg = g->m / g->group;
    bnn_shape shapes[5], ys;
    if (g->one_d) {
        shapes[X] = KE_SHAPE(g->n, g->c, g->w);
        shapes[WMU] = shapes[WRHO] = KE_SHAPE(g->c, mg, g->kw);
        ys = KE_SHAPE(g->n, g->m, g->ow);
    } else {
        shapes[X] = KE_SHAPE(g->n, g->c, g->h, g->w);
        shapes[WMU] = shapes[WRHO] = KE_SHAPE(g->c, mg, g->kh, g->kw);
        ys = KE_SHAPE(g->n, g->m, g->oh, g->ow);
    }
    shapes[BMU] = shapes[BRHO] = g->bias ? KE_SHAPE(g->m) : ke_absent();
    ke_case *c = ke_create1(BNN_OP_CONV_TRANSPOSE_REPARAM, BNN_F32, 5, shapes, &ys);
    if (g->one_d) {
        KE_SET_INTS(c, "strides", g->sw);
        KE_SET_INTS(c, "pads", g->pw, g->pe_w);
        KE_SET_INTS(c, "dilations", g->dw);
        KE_SET_INTS(c, "output_padding", g->opw);
    } else {
        KE_SET_INTS(c, "strides", g->sh, g->sw);
        KE_SET_INTS(c, "pads", g->ph, g->pw, g->pe_h, g->pe_w);
        KE_SET_INTS(c, "dilations", g->dh, g->dw);
        KE_SET_INTS(c, "output_padding", g->oph, g->opw);
    }
    ke_set_int(c, "group", g->group);
    ke_set_string(c, "estimator", est);
    for (int k = 0; k < 5; k++)
        if (c->inputs[k].data)
            ke_fill(&c->inputs[k], seed + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                    k == WRHO || k == BRHO ? -0.5 : 1);
    c->seed = 99;
    c->step = 4;
    return c;
}

/* Three geometries: 2-D with stride, pads, dilation and output_padding; 2-D
 * with two groups, no bias and a negative begin pad; 1-D. */
static geom geometry(int variant)
{
    geom g = {.n = 2, .c = 4, .m = 6, .group = 1, .h = 3, .w = 4, .kh = 3, .kw = 2,
              .sh = 2, .sw = 1, .ph = 1, .pw = 0, .pe_h = 0, .pe_w = 1, .dh = 1, .dw = 2,
              .oph = 1, .opw = 0, .bias = true};
    if (variant == 1) {
        g.group = 2;
        g.bias = false;
        g.ph = -1;
        g.pe_h = 1;
    } else if (variant == 2) {
        g.one_d = true;
        g.h = g.kh = 1;
        g.sh = g.dh = 1;
        g.ph = g.pe_h = g.oph = 0;
        g.w = 5;
        g.kw = 3;
        g.sw = 3;
        g.pw = 2;
        g.pe_w = 1;
        g.opw = 2;
    }
    return g;
}

/* y = conv_transpose(x, w) + b in double, straight from the definition:
 * input position (i, j) of channel ci spreads x * w[ci, mo, ky, kx] to
 * output (i*s - p + ky*d, j*s - p + kx*d) of channel group*mg + mo. */
static void ref_conv_transpose(const geom *g, const float *x, const float *w, const float *b,
                               double *y)
{
    int64_t mg = g->m / g->group, cg = g->c / g->group;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t o = 0; o < g->m; o++)
            for (int64_t p = 0; p < g->oh * g->ow; p++)
                y[(n * g->m + o) * g->oh * g->ow + p] = b ? b[o] : 0.0;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t ci = 0; ci < g->c; ci++) {
            int64_t gr = ci / cg;
            for (int64_t i = 0; i < g->h; i++)
                for (int64_t j = 0; j < g->w; j++) {
                    double xv = x[((n * g->c + ci) * g->h + i) * g->w + j];
                    for (int64_t mo = 0; mo < mg; mo++)
                        for (int64_t ky = 0; ky < g->kh; ky++)
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                int64_t oy = i * g->sh - g->ph + ky * g->dh;
                                int64_t ox = j * g->sw - g->pw + kx * g->dw;
                                if (oy < 0 || oy >= g->oh || ox < 0 || ox >= g->ow)
                                    continue;
                                double wv = w[((ci * mg + mo) * g->kh + ky) * g->kw + kx];
                                int64_t o = gr * mg + mo;
                                y[((n * g->m + o) * g->oh + oy) * g->ow + ox] += xv * wv;
                            }
                }
        }
}

static float *floats(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    cr_assert(p);
    return p;
}

static double *doubles(int64_t n)
{
    double *p = calloc((size_t)(n ? n : 1), sizeof *p);
    cr_assert(p);
    return p;
}

/* What the layer should output for c's seed and step: the streams and
 * layouts documented in runtime/kernels/bayes.c and bayes_estimators.c. */
static void expected_output(const geom *g, const ke_case *c, const char *est, double *y)
{
    int64_t nx = bnn_tensor_numel(&c->inputs[X]), nw = bnn_tensor_numel(&c->inputs[WMU]);
    int64_t nb = g->bias ? g->m : 0, ny = bnn_tensor_numel(&c->output);
    int64_t sp_in = g->h * g->w, sp_out = g->oh * g->ow;
    const float *x = c->inputs[X].data, *mu = c->inputs[WMU].data, *rho = c->inputs[WRHO].data;
    const float *bmu = c->inputs[BMU].data, *brho = c->inputs[BRHO].data;
    float *xa = floats(nx), *wa = floats(nw), *ba = floats(nb), *eps = floats(nw + nb + ny);
    double *mean = doubles(ny), *other = doubles(ny);
    if (strcmp(est, "reparam") == 0) {
        bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
        bnn_rng_normal(&s, 0, (size_t)(nw + nb), eps);
        for (int64_t i = 0; i < nw; i++)
            wa[i] = (float)(mu[i] + softplus_d(rho[i]) * eps[i]);
        for (int64_t j = 0; j < nb; j++)
            ba[j] = (float)(bmu[j] + softplus_d(brho[j]) * eps[nw + j]);
        ref_conv_transpose(g, x, wa, nb ? ba : NULL, y);
    } else if (strcmp(est, "local") == 0) {
        ref_conv_transpose(g, x, mu, bmu, mean);
        for (int64_t i = 0; i < nx; i++)
            xa[i] = x[i] * x[i];
        for (int64_t i = 0; i < nw; i++)
            wa[i] = (float)(softplus_d(rho[i]) * softplus_d(rho[i]));
        for (int64_t j = 0; j < nb; j++)
            ba[j] = (float)(softplus_d(brho[j]) * softplus_d(brho[j]));
        ref_conv_transpose(g, xa, wa, nb ? ba : NULL, other);
        bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_LOCAL, c->step);
        bnn_rng_normal(&s, 0, (size_t)ny, eps);
        for (int64_t i = 0; i < ny; i++)
            y[i] = mean[i] + sqrt(other[i]) * eps[i];
    } else { /* flipout */
        float *sg = floats(g->n * (g->c + g->m));
        bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
        bnn_rng_normal(&s, 0, (size_t)(nw + nb), eps);
        bnn_rng_stream si = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_FLIPOUT, c->step);
        bnn_rng_uniform(&si, 0, (size_t)(g->n * g->c), sg);
        bnn_rng_stream so =
            bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_FLIPOUT_OUT, c->step);
        bnn_rng_uniform(&so, 0, (size_t)(g->n * g->m), sg + g->n * g->c);
        const float *s_in = sg, *s_out = sg + g->n * g->c;
        for (int64_t j = 0; j < nb; j++)
            ba[j] = (float)(bmu[j] + softplus_d(brho[j]) * eps[nw + j]);
        ref_conv_transpose(g, x, mu, nb ? ba : NULL, mean);
        for (int64_t i = 0; i < nx; i++)
            xa[i] = x[i] * (s_in[i / sp_in] < 0.5f ? -1.0f : 1.0f);
        for (int64_t i = 0; i < nw; i++)
            wa[i] = (float)(softplus_d(rho[i]) * eps[i]);
        ref_conv_transpose(g, xa, wa, NULL, other);
        for (int64_t i = 0; i < ny; i++)
            y[i] = mean[i] + other[i] * (s_out[i / sp_out] < 0.5f ? -1.0 : 1.0);
        free(sg);
    }
    free(xa);
    free(wa);
    free(ba);
    free(eps);
    free(mean);
    free(other);
}

static const char *const ESTIMATORS[] = {"reparam", "local", "flipout"};

Test(kernels_elem, conv_transpose_reparam_matches_reference)
{
    for (int e = 0; e < 3; e++)
        for (int variant = 0; variant < 3; variant++) {
            geom g = geometry(variant);
            ke_case *c = make_case(&g, ESTIMATORS[e], 10 * (uint64_t)variant);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            int64_t ny = bnn_tensor_numel(&c->output);
            double *y = doubles(ny);
            expected_output(&g, c, ESTIMATORS[e], y);
            const float *got = c->output.data;
            for (int64_t i = 0; i < ny; i++)
                if (!(fabs(got[i] - y[i]) <= 1e-5 * (1 + fabs(y[i])))) {
                    cr_expect_fail("%s, variant %d, element %lld: %.7g, want %.7g",
                                   ESTIMATORS[e], variant, (long long)i, got[i], y[i]);
                    break;
                }
            /* the same step draws the same output; another step another */
            float *first = floats(ny);
            memcpy(first, got, (size_t)ny * sizeof *first);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            cr_expect(memcmp(first, c->output.data, (size_t)ny * sizeof *first) == 0,
                      "%s: the same step gave another sample", ESTIMATORS[e]);
            c->step++;
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            cr_expect(memcmp(first, c->output.data, (size_t)ny * sizeof *first) != 0,
                      "%s: another step gave the same sample", ESTIMATORS[e]);
            free(first);
            free(y);
            ke_destroy(c);
        }
}

Test(kernels_elem, conv_transpose_reparam_gradients)
{
    for (int e = 0; e < 3; e++)
        for (int variant = 0; variant < 3; variant++) {
            geom g = geometry(variant);
            ke_case *c = make_case(&g, ESTIMATORS[e], 50 + 10 * (uint64_t)variant);
            /* training from the first run, as a plan's args are: the state
             * is sized for it (a training layer keeps sigma for the KL) */
            c->training = true;
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            ke_check_grad(c, g.bias ? 0x1f : 0x07, 1e-3, 1e-2, 30);
            ke_destroy(c);
        }
}

/* Over S steps each output element's mean and variance are those of the
 * closed form: mean conv_transpose(x, mu) + mu_b, variance
 * conv_transpose(x^2, sigma^2) + sigma_b^2, for each estimator. */
Test(kernels_elem, conv_transpose_reparam_marginal)
{
    enum { S = 1500 };
    for (int e = 0; e < 3; e++) {
        geom g = geometry(0);
        ke_case *c = make_case(&g, ESTIMATORS[e], 7);
        int64_t nx = bnn_tensor_numel(&c->inputs[X]), nw = bnn_tensor_numel(&c->inputs[WMU]);
        int64_t ny = bnn_tensor_numel(&c->output);
        float *x2 = floats(nx), *s2 = floats(nw), *sb2 = floats(g.m);
        double *mean = doubles(ny), *var = doubles(ny), *sum = doubles(ny), *sumsq = doubles(ny);
        const float *x = c->inputs[X].data, *rho = c->inputs[WRHO].data;
        const float *brho = c->inputs[BRHO].data;
        for (int64_t i = 0; i < nx; i++)
            x2[i] = x[i] * x[i];
        for (int64_t i = 0; i < nw; i++)
            s2[i] = (float)(softplus_d(rho[i]) * softplus_d(rho[i]));
        for (int64_t j = 0; j < g.m; j++)
            sb2[j] = (float)(softplus_d(brho[j]) * softplus_d(brho[j]));
        ref_conv_transpose(&g, x, c->inputs[WMU].data, c->inputs[BMU].data, mean);
        ref_conv_transpose(&g, x2, s2, sb2, var);
        for (int s = 0; s < S; s++) {
            c->step = (uint64_t)s + 100;
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            const float *y = c->output.data;
            for (int64_t i = 0; i < ny; i++) {
                sum[i] += y[i];
                sumsq[i] += (double)y[i] * y[i];
            }
        }
        for (int64_t i = 0; i < ny; i++) {
            double m = sum[i] / S, v = (sumsq[i] - S * m * m) / (S - 1);
            cr_expect(fabs(m - mean[i]) <= 5 * sqrt(var[i] / S) + 1e-6,
                      "%s element %lld: mean %g, want %g", ESTIMATORS[e], (long long)i, m,
                      mean[i]);
            cr_expect(fabs(v - var[i]) <= 5 * var[i] * sqrt(2.0 / (S - 1)) + 1e-9,
                      "%s element %lld: variance %g, want %g", ESTIMATORS[e], (long long)i, v,
                      var[i]);
        }
        free(x2);
        free(s2);
        free(sb2);
        free(mean);
        free(var);
        free(sum);
        free(sumsq);
        ke_destroy(c);
    }
}

Test(kernels_elem, conv_transpose_reparam_errors)
{
    /* a bias of the wrong length, for each estimator: an error naming the node */
    for (int e = 0; e < 3; e++) {
        bnn_shape shapes[5] = {KE_SHAPE(1, 2, 3), KE_SHAPE(2, 3, 2), KE_SHAPE(2, 3, 2),
                               KE_SHAPE(4), KE_SHAPE(4)};
        bnn_shape ys = KE_SHAPE(1, 3, 4);
        ke_case *c = ke_create1(BNN_OP_CONV_TRANSPOSE_REPARAM, BNN_F32, 5, shapes, &ys);
        ke_set_string(c, "estimator", ESTIMATORS[e]);
        cr_expect_neq(ke_forward(c), BNN_OK, "%s: a bias of 4 for 3 outputs ran", ESTIMATORS[e]);
        cr_expect(strstr(c->diag.message, "bnn.conv_transpose_reparam"), "%s: %s", ESTIMATORS[e],
                  c->diag.message);
        ke_destroy(c);
    }
}

/* ---- bnn.weight_reparam (runtime/kernels/bayes_weight.c) --------------------- */

Test(kernels_elem, weight_reparam_samples_and_gradients)
{
    bnn_shape shapes[2] = {KE_SHAPE(3, 4), KE_SHAPE(3, 4)};
    bnn_shape ys = KE_SHAPE(3, 4);
    ke_case *c = ke_create1(BNN_OP_WEIGHT_REPARAM, BNN_F32, 2, shapes, &ys);
    ke_fill(&c->inputs[0], 1, -1, 1);
    ke_fill(&c->inputs[1], 2, -3, 0);
    c->seed = 5;
    c->step = 7;
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    /* w = mu + softplus(rho) * eps, eps the stream of rng.h, as the layers draw */
    float eps[12];
    bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
    bnn_rng_normal(&s, 0, 12, eps);
    const float *mu = c->inputs[0].data, *rho = c->inputs[1].data, *w = c->output.data;
    for (int i = 0; i < 12; i++)
        cr_expect(fabs(w[i] - (mu[i] + softplus_d(rho[i]) * eps[i])) <= 1e-6 * (1 + fabs(w[i])),
                  "element %d: %g", i, w[i]);
    c->training = true;
    ke_check_grad(c, 0x3, 1e-3, 1e-2, 12);
    ke_destroy(c);
    /* only reparam: local and flipout need a layer's product */
    c = ke_create1(BNN_OP_WEIGHT_REPARAM, BNN_F32, 2, shapes, &ys);
    ke_set_string(c, "estimator", "local");
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "bnn.weight_reparam") && strstr(c->diag.message, "local"),
              "%s", c->diag.message);
    ke_destroy(c);
}
