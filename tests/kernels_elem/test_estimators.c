/* The local and flipout estimators of bnn.dense_reparam and bnn.conv_reparam
 * (runtime/kernels/bayes_estimators.c): forward against a double reference with
 * the documented streams, gradients of every input by finite differences
 * (the draws are fixed by seed and step), the output's marginal mean and
 * variance against reparam's closed form, independence of the noise across
 * examples, the lower variance of the gradient w.r.t. mu, thread-count
 * independence and the var -> 0 corner of local. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "harness.h"
#include "reference.h"
#include "rng.h"

enum { X, WMU, WRHO, BMU, BRHO };

static const char *const ESTIMATORS[] = {"local", "flipout"};

static double softplus_d(double r)
{
    return r > 0 ? r + log1p(exp(-r)) : log1p(exp(r));
}

/* Dense case: x [..., in], w [out, in]; bias_inputs 0 (none), 1 (mu only), 2. */
static ke_case *dense_case(const char *est, const bnn_shape *xs, int64_t in, int64_t out,
                           int bias_inputs, float rho_lo, float rho_hi, uint64_t seed)
{
    bnn_shape ys = *xs;
    ys.dims[ys.rank - 1] = out;
    bnn_shape shapes[5] = {*xs, KE_SHAPE(out, in), KE_SHAPE(out, in), KE_SHAPE(out), KE_SHAPE(out)};
    if (bias_inputs < 2)
        shapes[BRHO] = ke_absent();
    if (bias_inputs < 1)
        shapes[BMU] = ke_absent();
    ke_case *c = ke_create1(BNN_OP_DENSE_REPARAM, BNN_F32, 5, shapes, &ys);
    ke_set_string(c, "estimator", est);
    ke_fill(&c->inputs[X], seed, -1, 1);
    ke_fill(&c->inputs[WMU], seed + 1, -0.5, 0.5);
    ke_fill(&c->inputs[WRHO], seed + 2, rho_lo, rho_hi);
    if (bias_inputs >= 1)
        ke_fill(&c->inputs[BMU], seed + 3, -0.5, 0.5);
    if (bias_inputs >= 2)
        ke_fill(&c->inputs[BRHO], seed + 4, rho_lo, rho_hi);
    c->seed = 4321;
    c->step = 3;
    return c;
}

/* Conv case: x [2, 4, 6, 5], w [6, 4/group, 3, 2], strides 2,1, pads 1,0,1,1,
 * dilations 1,2. */
static const int64_t CONV_STRIDES[2] = {2, 1}, CONV_PADS[4] = {1, 0, 1, 1}, CONV_DIL[2] = {1, 2};

static ke_case *conv_case_n(const char *est, uint64_t seed, int64_t group, bool bias, int64_t n)
{
    int64_t cin = 4, h = 6, w = 5, m = 6, kh = 3, kw = 2;
    int64_t oh = (h + 2 - 2 - 1) / 2 + 1, ow = (w + 1 - 2 - 1) / 1 + 1;
    bnn_shape shapes[5] = {KE_SHAPE(n, cin, h, w), KE_SHAPE(m, cin / group, kh, kw),
                           KE_SHAPE(m, cin / group, kh, kw), KE_SHAPE(m), KE_SHAPE(m)};
    if (!bias)
        shapes[BMU] = shapes[BRHO] = ke_absent();
    bnn_shape ys = KE_SHAPE(n, m, oh, ow);
    ke_case *c = ke_create1(BNN_OP_CONV_REPARAM, BNN_F32, 5, shapes, &ys);
    ke_set_ints(c, "strides", CONV_STRIDES, 2);
    ke_set_ints(c, "pads", CONV_PADS, 4);
    ke_set_ints(c, "dilations", CONV_DIL, 2);
    ke_set_int(c, "group", group);
    ke_set_string(c, "estimator", est);
    for (int k = 0; k < 5; k++)
        if (c->inputs[k].data)
            ke_fill(&c->inputs[k], seed + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                    k == WRHO || k == BRHO ? -0.5 : 1);
    c->seed = 77;
    c->step = 2;
    return c;
}

static ke_case *conv_case(const char *est, uint64_t seed, int64_t group, bool bias)
{
    return conv_case_n(est, seed, group, bias, 2);
}

/* ---- the reference ------------------------------------------------------ */

typedef struct dims {
    bool conv;
    int64_t rows, cin, cout, sp_in, sp_out, nx, ny, nw, nb;
} dims;

static dims dims_of(const ke_case *c)
{
    dims d = {0};
    d.conv = bnn_graph_node(c->graph, c->node_id)->op == BNN_OP_CONV_REPARAM;
    d.nx = bnn_tensor_numel(&c->inputs[X]);
    d.ny = bnn_tensor_numel(&c->output);
    d.nw = bnn_tensor_numel(&c->inputs[WMU]);
    d.nb = c->inputs[BMU].data ? bnn_tensor_numel(&c->inputs[BMU]) : 0;
    const bnn_shape *xs = &c->inputs[X].shape, *ys = &c->output.shape;
    if (d.conv) {
        d.rows = xs->dims[0];
        d.cin = xs->dims[1];
        d.cout = ys->dims[1];
    } else {
        d.cin = xs->dims[xs->rank - 1];
        d.cout = ys->dims[ys->rank - 1];
        d.rows = d.nx / d.cin;
    }
    d.sp_in = d.nx / (d.rows * d.cin);
    d.sp_out = d.ny / (d.rows * d.cout);
    return d;
}

/* y = op(x, w) + b in double (the conv: conv_case's geometry). */
static void lin_ref(const ke_case *c, const dims *d, const float *x, const float *w,
                    const float *b, double *y)
{
    if (!d->conv) {
        ref_dense(x, w, b, d->rows, d->cin, d->cout, y);
        return;
    }
    int64_t group = bnn_node_int(bnn_graph_node(c->graph, c->node_id), "group", 1);
    int64_t pads[2] = {CONV_PADS[0], CONV_PADS[1]};
    ref_conv2d(x, c->inputs[X].shape.dims, w, c->inputs[WMU].shape.dims, b, CONV_STRIDES, pads,
               CONV_DIL, group, c->output.shape.dims, y);
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

/* What the layer should output for c's seed and step (rng.h streams and the
 * layouts documented in runtime/kernels/bayes_estimators.c). */
static void expected_output(const ke_case *c, bool local, double *y)
{
    dims d = dims_of(c);
    const float *x = c->inputs[X].data, *mu = c->inputs[WMU].data, *rho = c->inputs[WRHO].data;
    const float *bmu = c->inputs[BMU].data, *brho = c->inputs[BRHO].data;
    float *xa = floats(d.nx), *wa = floats(d.nw), *ba = floats(d.nb);
    double *mean = doubles(d.ny), *other = doubles(d.ny);
    if (local) {
        float *eps = floats(d.ny);
        lin_ref(c, &d, x, mu, bmu, mean);
        for (int64_t i = 0; i < d.nx; i++)
            xa[i] = x[i] * x[i];
        for (int64_t i = 0; i < d.nw; i++)
            wa[i] = (float)(softplus_d(rho[i]) * softplus_d(rho[i]));
        for (int64_t i = 0; i < d.nb && brho; i++)
            ba[i] = (float)(softplus_d(brho[i]) * softplus_d(brho[i]));
        lin_ref(c, &d, xa, wa, brho ? ba : NULL, other);
        bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_LOCAL, c->step);
        bnn_rng_normal(&s, 0, (size_t)d.ny, eps);
        for (int64_t i = 0; i < d.ny; i++)
            y[i] = mean[i] + sqrt(other[i]) * eps[i];
        free(eps);
    } else {
        float *eps = floats(d.nw + d.nb), *sg = floats(d.rows * (d.cin + d.cout));
        bnn_rng_stream s = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
        bnn_rng_normal(&s, 0, (size_t)(d.nw + d.nb), eps);
        bnn_rng_stream si = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_FLIPOUT, c->step);
        bnn_rng_uniform(&si, 0, (size_t)(d.rows * d.cin), sg);
        bnn_rng_stream so =
            bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_FLIPOUT_OUT, c->step);
        bnn_rng_uniform(&so, 0, (size_t)(d.rows * d.cout), sg + d.rows * d.cin);
        const float *s_in = sg, *s_out = sg + d.rows * d.cin;
        for (int64_t j = 0; j < d.nb; j++)
            ba[j] = brho ? (float)(bmu[j] + softplus_d(brho[j]) * eps[d.nw + j]) : bmu[j];
        lin_ref(c, &d, x, mu, bmu ? ba : NULL, mean);
        for (int64_t i = 0; i < d.nx; i++)
            xa[i] = x[i] * (s_in[i / d.sp_in] < 0.5f ? -1.0f : 1.0f);
        for (int64_t i = 0; i < d.nw; i++)
            wa[i] = (float)(softplus_d(rho[i]) * eps[i]);
        lin_ref(c, &d, xa, wa, NULL, other);
        for (int64_t i = 0; i < d.ny; i++)
            y[i] = mean[i] + other[i] * (s_out[i / d.sp_out] < 0.5f ? -1.0 : 1.0);
        free(eps);
        free(sg);
    }
    free(xa);
    free(wa);
    free(ba);
    free(mean);
    free(other);
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

Test(kernels_elem, estimators_dense_match_reference)
{
    bnn_shape xs[] = {KE_SHAPE(5, 7), KE_SHAPE(2, 3, 7), KE_SHAPE(1, 7)};
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 3; k++)
            for (int bias = 0; bias <= 2; bias++) {
                ke_case *c = dense_case(ESTIMATORS[e], &xs[k], 7, 4, bias, -3, 0,
                                        (uint64_t)(k * 10 + bias));
                c->step = (uint64_t)(k + 3);
                cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
                int64_t ny = bnn_tensor_numel(&c->output);
                double *y = doubles(ny);
                expected_output(c, e == 0, y);
                expect_close(c->output.data, y, ny, 1e-5, ESTIMATORS[e]);
                free(y);
                ke_destroy(c);
            }
}

Test(kernels_elem, estimators_conv_match_reference)
{
    for (int e = 0; e < 2; e++)
        for (int variant = 0; variant < 3; variant++) {
            ke_case *c = conv_case(ESTIMATORS[e], (uint64_t)variant, variant == 1 ? 2 : 1,
                                   variant != 2);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            int64_t ny = bnn_tensor_numel(&c->output);
            double *y = doubles(ny);
            expected_output(c, e == 0, y);
            expect_close(c->output.data, y, ny, 1e-5, ESTIMATORS[e]);
            free(y);
            ke_destroy(c);
        }
}

Test(kernels_elem, estimators_same_step_same_draw)
{
    bnn_shape xs = KE_SHAPE(3, 6);
    for (int e = 0; e < 2; e++) {
        ke_case *c = dense_case(ESTIMATORS[e], &xs, 6, 5, 2, -2, -1, 7);
        cr_assert_eq(ke_forward(c), BNN_OK);
        float first[15];
        memcpy(first, c->output.data, sizeof first);
        cr_assert_eq(ke_forward(c), BNN_OK);
        cr_expect_eq(memcmp(first, c->output.data, sizeof first), 0, "%s", ESTIMATORS[e]);
        c->step++;
        cr_assert_eq(ke_forward(c), BNN_OK);
        cr_expect_neq(memcmp(first, c->output.data, sizeof first), 0, "%s", ESTIMATORS[e]);
        ke_destroy(c);
    }
}

/* A shard of a batch (examples FIRST.. of WHOLE, in PART), run with its first
 * example as the offset, draws what those examples draw in the whole batch:
 * what makes K data-parallel ranks train one process's model. */
static void expect_shard_draws_as_whole(ke_case *whole, ke_case *part, int64_t first,
                                        const char *what)
{
    size_t x_row = bnn_tensor_nbytes(&whole->inputs[X]) / (size_t)whole->inputs[X].shape.dims[0];
    memcpy(part->inputs[X].data, (char *)whole->inputs[X].data + (size_t)first * x_row,
           bnn_tensor_nbytes(&part->inputs[X]));
    for (int k = WMU; k <= BRHO; k++)
        if (whole->inputs[k].data)
            memcpy(part->inputs[k].data, whole->inputs[k].data, bnn_tensor_nbytes(&whole->inputs[k]));
    part->seed = whole->seed;
    part->step = whole->step;
    part->training = whole->training = true;
    part->example_offset = first;
    cr_assert_eq(ke_forward(whole), BNN_OK, "%s: %s", what, whole->diag.message);
    cr_assert_eq(ke_forward(part), BNN_OK, "%s: %s", what, part->diag.message);
    int64_t per = bnn_tensor_numel(&whole->output) / whole->output.shape.dims[0];
    const float *want = (const float *)whole->output.data + first * per, *got = part->output.data;
    for (int64_t i = 0; i < bnn_tensor_numel(&part->output); i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])))) {
            cr_expect_fail("%s: element %lld of the shard at %lld is %.7g, the whole batch has "
                           "%.7g", what, (long long)i, (long long)first, got[i], want[i]);
            return;
        }
    /* and without the offset, the shard draws the batch's first examples' noise */
    part->example_offset = 0;
    cr_assert_eq(ke_forward(part), BNN_OK);
    bool differs = false;
    for (int64_t i = 0; i < bnn_tensor_numel(&part->output); i++)
        differs = differs || got[i] != want[i];
    cr_expect(differs, "%s: the offset changes nothing", what);
}

Test(kernels_elem, estimators_shard_draws_as_whole_batch)
{
    for (int e = 0; e < 2; e++) {
        /* dense on [5, 3, 6]: 3 rows of the product per example */
        bnn_shape xs = KE_SHAPE(5, 3, 6), ps = KE_SHAPE(2, 3, 6);
        ke_case *whole = dense_case(ESTIMATORS[e], &xs, 6, 4, 2, -2, -1, 13);
        ke_case *part = dense_case(ESTIMATORS[e], &ps, 6, 4, 2, -2, -1, 13);
        expect_shard_draws_as_whole(whole, part, 3, ESTIMATORS[e]);
        ke_destroy(whole);
        ke_destroy(part);
        whole = conv_case_n(ESTIMATORS[e], 5, 2, true, 3);
        part = conv_case_n(ESTIMATORS[e], 5, 2, true, 1);
        expect_shard_draws_as_whole(whole, part, 2, ESTIMATORS[e]);
        ke_destroy(whole);
        ke_destroy(part);
    }
}

/* ---- gradients ---------------------------------------------------------- */

Test(kernels_elem, estimators_dense_gradients)
{
    bnn_shape xs[] = {KE_SHAPE(3, 5), KE_SHAPE(2, 2, 5)};
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 2; k++)
            for (int bias = 0; bias <= 2; bias++) {
                ke_case *c = dense_case(ESTIMATORS[e], &xs[k], 5, 4, bias, -2, 0.5,
                                        (uint64_t)(k + 20 * bias));
                c->training = true;
                c->step = 5;
                ke_check_grad(c, 0x1f, 1e-3, 1e-2, 40);
                ke_check_grad(c, 0x1, 1e-3, 1e-2, 40);  /* only x */
                ke_check_grad(c, 0x1e, 1e-3, 1e-2, 40); /* only the params */
                ke_destroy(c);
            }
}

Test(kernels_elem, estimators_conv_gradients)
{
    for (int e = 0; e < 2; e++)
        for (int variant = 0; variant < 3; variant++) {
            ke_case *c = conv_case(ESTIMATORS[e], 10 + (uint64_t)variant, variant == 1 ? 2 : 1,
                                   variant != 2);
            c->training = true;
            ke_check_grad(c, 0x1f, 1e-3, 1e-2, 30);
            ke_check_grad(c, 0x4, 1e-3, 1e-2, 30); /* only rho */
            ke_destroy(c);
        }
}

Test(kernels_elem, estimators_conv1d_gradients)
{
    bnn_shape shapes[5] = {KE_SHAPE(2, 3, 9), KE_SHAPE(4, 3, 3), KE_SHAPE(4, 3, 3), KE_SHAPE(4),
                           KE_SHAPE(4)};
    bnn_shape ys = KE_SHAPE(2, 4, 5);
    for (int e = 0; e < 2; e++) {
        ke_case *c = ke_create1(BNN_OP_CONV_REPARAM, BNN_F32, 5, shapes, &ys);
        KE_SET_INTS(c, "strides", 2);
        KE_SET_INTS(c, "pads", 1, 1);
        ke_set_string(c, "estimator", ESTIMATORS[e]);
        for (int k = 0; k < 5; k++)
            ke_fill(&c->inputs[k], 40 + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                    k == WRHO || k == BRHO ? 0 : 1);
        c->step = 9;
        c->training = true;
        ke_check_grad(c, 0x1f, 1e-3, 1e-2, 30);
        ke_destroy(c);
    }
}

/* ---- statistics --------------------------------------------------------- */

/* Over S steps, each output element's mean and variance against reparam's
 * marginal: mean op(x, mu) + mu_b, variance op(x^2, sigma^2) + sigma_b^2 (the
 * three estimators give each element the same Gaussian law). */
static void check_marginal(ke_case *c, int S)
{
    dims d = dims_of(c);
    const float *rho = c->inputs[WRHO].data, *brho = c->inputs[BRHO].data;
    float *x2 = floats(d.nx), *s2 = floats(d.nw), *sb2 = floats(d.nb);
    double *mean = doubles(d.ny), *var = doubles(d.ny), *sum = doubles(d.ny),
           *sumsq = doubles(d.ny);
    const float *x = c->inputs[X].data;
    for (int64_t i = 0; i < d.nx; i++)
        x2[i] = x[i] * x[i];
    for (int64_t i = 0; i < d.nw; i++)
        s2[i] = (float)(softplus_d(rho[i]) * softplus_d(rho[i]));
    for (int64_t i = 0; i < d.nb && brho; i++)
        sb2[i] = (float)(softplus_d(brho[i]) * softplus_d(brho[i]));
    lin_ref(c, &d, x, c->inputs[WMU].data, c->inputs[BMU].data, mean);
    lin_ref(c, &d, x2, s2, brho ? sb2 : NULL, var);
    for (int s = 0; s < S; s++) {
        c->step = (uint64_t)s + 100;
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        const float *y = c->output.data;
        for (int64_t i = 0; i < d.ny; i++) {
            sum[i] += y[i];
            sumsq[i] += (double)y[i] * y[i];
        }
    }
    const char *est = bnn_node_string(bnn_graph_node(c->graph, c->node_id), "estimator", "?");
    for (int64_t i = 0; i < d.ny; i++) {
        double m = sum[i] / S, v = (sumsq[i] - S * m * m) / (S - 1);
        /* z-tests at 5 standard errors: of the mean, and of a Gaussian's
         * sample variance (se v sqrt(2 / (S - 1))) */
        cr_expect(fabs(m - mean[i]) <= 5 * sqrt(var[i] / S) + 1e-6,
                  "%s element %lld: mean %g, want %g (se %g)", est, (long long)i, m, mean[i],
                  sqrt(var[i] / S));
        cr_expect(fabs(v - var[i]) <= 5 * var[i] * sqrt(2.0 / (S - 1)) + 1e-9,
                  "%s element %lld: variance %g, want %g", est, (long long)i, v, var[i]);
    }
    free(x2);
    free(s2);
    free(sb2);
    free(mean);
    free(var);
    free(sum);
    free(sumsq);
}

Test(kernels_elem, estimators_marginal_matches_reparam)
{
    const char *all[] = {"reparam", "local", "flipout"};
    bnn_shape xs = KE_SHAPE(4, 6);
    for (int e = 0; e < 3; e++) {
        ke_case *c = dense_case(all[e], &xs, 6, 5, 2, -2.0f, -1.0f, 11);
        check_marginal(c, 3000);
        ke_destroy(c);
        c = conv_case(all[e], 3, 1, true);
        check_marginal(c, 1500);
        ke_destroy(c);
    }
}

/* Rows of x all equal, so all rows have one law: the correlation over steps
 * of row 0 and row r at one output is 1 for reparam (one weight draw for the
 * batch) and ~0 for local and flipout.  The bias has no rho here: flipout,
 * like TFP, shares the bias draw across the batch. */
static double row_correlation(const char *est, bool conv, int S, double *worst)
{
    ke_case *c;
    if (conv) {
        c = conv_case(est, 5, 1, false);
    } else {
        bnn_shape xs = KE_SHAPE(6, 5);
        c = dense_case(est, &xs, 5, 3, 1, -1.5f, -1.0f, 21);
    }
    dims d = dims_of(c);
    float *x = c->inputs[X].data;
    int64_t per = d.nx / d.rows, outs = d.ny / d.rows;
    for (int64_t r = 1; r < d.rows; r++)
        memcpy(x + r * per, x, (size_t)per * sizeof *x);
    double *sr = doubles(d.ny), *qr = doubles(d.ny), *cr = doubles(d.ny);
    for (int s = 0; s < S; s++) {
        c->step = (uint64_t)s + 1;
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        const float *y = c->output.data;
        for (int64_t i = 0; i < d.ny; i++) {
            sr[i] += y[i];
            qr[i] += (double)y[i] * y[i];
            cr[i] += (double)y[i] * y[i % outs];
        }
    }
    double mean_corr = 0;
    *worst = 0;
    for (int64_t r = 1; r < d.rows; r++)
        for (int64_t o = 0; o < outs; o++) {
            int64_t i = r * outs + o;
            double m0 = sr[o] / S, mr = sr[i] / S;
            double v0 = qr[o] / S - m0 * m0, vr = qr[i] / S - mr * mr;
            double corr = (cr[i] / S - m0 * mr) / sqrt(v0 * vr);
            mean_corr += corr;
            if (fabs(corr) > fabs(*worst))
                *worst = corr;
        }
    mean_corr /= (double)((d.rows - 1) * outs);
    free(sr);
    free(qr);
    free(cr);
    ke_destroy(c);
    return mean_corr;
}

Test(kernels_elem, estimators_noise_independent_across_examples)
{
    int S = 3000;
    double worst;
    for (int conv = 0; conv < 2; conv++) {
        double rc = row_correlation("reparam", conv, S, &worst);
        cr_expect(rc > 0.999, "reparam (%s): rows correlate %g, want 1", conv ? "conv" : "dense", rc);
        for (int e = 0; e < 2; e++) {
            double mc = row_correlation(ESTIMATORS[e], conv, S, &worst);
            /* independent rows: each sample correlation has se ~ 1/sqrt(S) */
            cr_expect(fabs(worst) < 5 / sqrt(S), "%s (%s): worst row correlation %g",
                      ESTIMATORS[e], conv ? "conv" : "dense", worst);
            cr_expect(fabs(mc) < 2 / sqrt(S), "%s (%s): mean row correlation %g", ESTIMATORS[e],
                      conv ? "conv" : "dense", mc);
        }
    }
}

/* The variance over steps of dL/dmu for L = sum(y^2) / 2 on a batch of 64
 * rows: with per-example noise the rows' contributions are independent, so
 * it is several times lower than reparam's (about (m + in) / in = 9 here). */
static double grad_mu_variance(const char *est, int S)
{
    bnn_shape xs = KE_SHAPE(64, 8);
    ke_case *c = dense_case(est, &xs, 8, 4, 1, -1.5f, -1.0f, 31);
    int64_t nw = 32, ny = 256;
    double *sum = doubles(nw), *sumsq = doubles(nw);
    for (int s = 0; s < S; s++) {
        c->step = (uint64_t)s + 1;
        cr_assert_eq(ke_forward(c), BNN_OK);
        float g[256];
        memcpy(g, c->output.data, (size_t)ny * sizeof *g);
        cr_assert_eq(ke_backward(c, g, 1u << WMU), BNN_OK, "%s", c->diag.message);
        for (int64_t i = 0; i < nw; i++) {
            double v = ke_grad(c, WMU, i);
            sum[i] += v;
            sumsq[i] += v * v;
        }
    }
    double total = 0;
    for (int64_t i = 0; i < nw; i++) {
        double m = sum[i] / S;
        total += sumsq[i] / S - m * m;
    }
    free(sum);
    free(sumsq);
    ke_destroy(c);
    return total / (double)nw;
}

Test(kernels_elem, estimators_lower_gradient_variance)
{
    int S = 600;
    double rep = grad_mu_variance("reparam", S);
    cr_assert(rep > 0);
    for (int e = 0; e < 2; e++) {
        double v = grad_mu_variance(ESTIMATORS[e], S);
        cr_expect(v > 0 && v < rep / 3, "%s: gradient variance %g, reparam %g", ESTIMATORS[e], v,
                  rep);
    }
}

/* ---- threads, corner cases ---------------------------------------------- */

static void run_both(ke_case *c, float *out, float *gx, float *gw, float *gr)
{
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    memcpy(out, c->output.data, (size_t)bnn_tensor_numel(&c->output) * sizeof *out);
    cr_assert_eq(ke_backward(c, NULL, 0x1f), BNN_OK, "%s", c->diag.message);
    memcpy(gx, c->grad_inputs[X].data, (size_t)bnn_tensor_numel(&c->inputs[X]) * sizeof *gx);
    memcpy(gw, c->grad_inputs[WMU].data, (size_t)bnn_tensor_numel(&c->inputs[WMU]) * sizeof *gw);
    memcpy(gr, c->grad_inputs[WRHO].data, (size_t)bnn_tensor_numel(&c->inputs[WRHO]) * sizeof *gr);
}

static void check_threads(ke_case *c, const char *what)
{
    int64_t ny = bnn_tensor_numel(&c->output), nx = bnn_tensor_numel(&c->inputs[X]);
    int64_t nw = bnn_tensor_numel(&c->inputs[WMU]);
    float *buf[2][4];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        buf[t][0] = floats(ny);
        buf[t][1] = floats(nx);
        buf[t][2] = floats(nw);
        buf[t][3] = floats(nw);
        omp_set_num_threads(t + 1);
        run_both(c, buf[t][0], buf[t][1], buf[t][2], buf[t][3]);
    }
    omp_set_num_threads(saved);
    int64_t n[4] = {ny, nx, nw, nw};
    const char *names[4] = {"output", "grad x", "grad mu", "grad rho"};
    for (int k = 0; k < 4; k++)
        cr_expect_eq(memcmp(buf[0][k], buf[1][k], (size_t)n[k] * sizeof(float)), 0,
                     "%s: %s differs between 1 and 2 threads", what, names[k]);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 4; k++)
            free(buf[t][k]);
}

Test(kernels_elem, estimators_thread_count_invariant)
{
    for (int e = 0; e < 2; e++) {
        /* 90000 weights and 38400 outputs: the threaded loops run */
        bnn_shape xs = KE_SHAPE(128, 300);
        ke_case *c = dense_case(ESTIMATORS[e], &xs, 300, 300, 2, -4, -1, 5);
        c->training = true;
        check_threads(c, ESTIMATORS[e]);
        ke_destroy(c);
        /* a conv with 8 x 8 x 30 x 30 = 57600 outputs */
        bnn_shape shapes[5] = {KE_SHAPE(8, 3, 32, 32), KE_SHAPE(8, 3, 3, 3), KE_SHAPE(8, 3, 3, 3),
                               KE_SHAPE(8), KE_SHAPE(8)};
        bnn_shape ys = KE_SHAPE(8, 8, 30, 30);
        c = ke_create1(BNN_OP_CONV_REPARAM, BNN_F32, 5, shapes, &ys);
        ke_set_string(c, "estimator", ESTIMATORS[e]);
        for (int k = 0; k < 5; k++)
            ke_fill(&c->inputs[k], 60 + (uint64_t)k, k == WRHO || k == BRHO ? -3 : -1,
                    k == WRHO || k == BRHO ? 0 : 1);
        c->training = true;
        check_threads(c, ESTIMATORS[e]);
        ke_destroy(c);
    }
}

Test(kernels_elem, local_zero_variance)
{
    /* A zero row of x and a bias without rho: var is exactly 0 there, the
     * output is the bias, and the noise path passes gradient 0 (the
     * subgradient of sqrt at 0; runtime/kernels/bayes_estimators.c), so dx of
     * that row is the mean path's alone: g . mu. */
    bnn_shape xs = KE_SHAPE(3, 5);
    ke_case *c = dense_case("local", &xs, 5, 4, 1, -2, 0, 8);
    float *x = c->inputs[X].data;
    memset(x + 5, 0, 5 * sizeof *x);
    cr_assert_eq(ke_forward(c), BNN_OK);
    const float *y = c->output.data, *bmu = c->inputs[BMU].data, *mu = c->inputs[WMU].data;
    for (int o = 0; o < 4; o++)
        cr_expect_eq(y[4 + o], bmu[o], "row 1 output %d: %g, bias %g", o, y[4 + o], bmu[o]);
    float g[12];
    for (int i = 0; i < 12; i++)
        g[i] = (float)(i % 5) - 2.0f;
    cr_assert_eq(ke_backward(c, g, 0x1f), BNN_OK);
    for (int k = 0; k <= BMU; k++)
        for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[k]); i++)
            cr_expect(isfinite(ke_grad(c, k, i)), "input %d element %lld", k, (long long)i);
    for (int i = 0; i < 5; i++) {
        double want = 0;
        for (int o = 0; o < 4; o++)
            want += g[4 + o] * mu[o * 5 + i];
        cr_expect(fabs(ke_grad(c, X, 5 + i) - want) < 1e-5, "dx[1][%d] %g, want %g", i,
                  ke_grad(c, X, 5 + i), want);
    }
    ke_destroy(c);
    /* sigma ~ 1e-13: var ~ 1e-26, deterministic in float, gradients finite
     * and checked by finite differences */
    c = dense_case("local", &xs, 5, 4, 2, -30, -29, 9);
    c->training = true;
    ke_check_grad(c, 0x1b, 1e-3, 1e-2, 40);
    cr_assert_eq(ke_backward(c, NULL, 0x1f), BNN_OK);
    for (int k = 0; k < 5; k++)
        for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[k]); i++)
            cr_expect(isfinite(ke_grad(c, k, i)), "tiny sigma: input %d element %lld", k,
                      (long long)i);
    ke_destroy(c);
}

Test(kernels_elem, estimators_unknown_name)
{
    bnn_shape xs = KE_SHAPE(2, 3);
    ke_case *c = dense_case("bogus", &xs, 3, 2, 2, -3, -1, 1);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (bnn.dense_reparam)") &&
                  strstr(c->diag.message, "bogus"),
              "%s", c->diag.message);
    ke_destroy(c);
}
