/* Moment propagation kernels (the "moments." rows of ops.def): the mean and
 * variance of a nonlinearity's output when its input is a diagonal Gaussian
 * N(m, v), element by element (or window by window for max-pool).  The rules
 * and their measured accuracy are in docs/uncertainty.md; the pass that
 * emits these ops is passes/bnn_to_moments.c.
 *
 *   relu / leaky relu  exact: with s = sqrt(v), a = m/s, Phi and phi the
 *                      standard normal cdf and pdf,
 *                      E[relu] = m Phi(a) + s phi(a),
 *                      E[relu^2] = (m^2 + v) Phi(a) + m s phi(a);
 *                      leaky y = alpha x + (1 - alpha) relu(x), with
 *                      Cov(x, relu(x)) = v Phi(a) (Stein's lemma).
 *   sigmoid, tanh      E[f] and E[f^2] by 16-point Gauss-Hermite quadrature
 *                      (deterministic; within 1e-4 of the exact moments for
 *                      v up to about 25, see tests/moments).
 *   max_pool           Clark (1961): the max of two independent Gaussians
 *                      matched by a Gaussian, applied left to right over the
 *                      window (the running max is treated as independent of
 *                      the next element).
 *
 * linear=1 (GLM): mean f(m), variance f'(m)^2 v; for max-pool the element
 * with the largest mean passes its mean and variance.
 *
 * Forward only: the moment graph is for prediction.
 */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "nn_impl.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

/* Below this variance an input counts as deterministic (avoids 0/0). */
#define TINY_VARIANCE 1e-20

static inline double norm_cdf(double a) { return 0.5 * erfc(-a * INV_SQRT2); }
static inline double norm_pdf(double a) { return INV_SQRT2PI * exp(-0.5 * a * a); }

static bnn_status check_operands(const bnn_kernel_args *args, bool same_shape, bnn_diag *diag)
{
    for (int k = 0; k < 2; k++) {
        BNN_TRY(nn_check_dtype(args, &args->inputs[k], k, false, BNN_F32, BNN_UNDEFINED, diag));
        BNN_TRY(nn_check_dtype(args, &args->outputs[k], k, true, BNN_F32, BNN_UNDEFINED, diag));
    }
    if (!bnn_shape_equal(&args->inputs[0].shape, &args->inputs[1].shape) ||
        !bnn_shape_equal(&args->outputs[0].shape, &args->outputs[1].shape) ||
        (same_shape && !bnn_shape_equal(&args->inputs[0].shape, &args->outputs[0].shape)))
        return nn_fail_shape(args, "mean and variance must have one shape", diag);
    return BNN_OK;
}

static bool linear_form(const bnn_kernel_args *args)
{
    return bnn_node_int(args->node, "linear", 0) != 0;
}

/* ---- relu and leaky relu -------------------------------------------------- */

static void relu_moments(double m, double v, double alpha, bool linear, float *om, float *ov)
{
    if (v < 0)
        v = 0;
    if (linear || v < TINY_VARIANCE) {
        double slope = m > 0 ? 1.0 : alpha;
        *om = (float)(m * slope);
        *ov = (float)(v * slope * slope);
        return;
    }
    double s = sqrt(v), a = m / s, cdf = norm_cdf(a), pdf = norm_pdf(a);
    double mean_r = m * cdf + s * pdf;
    double var_r = (m * m + v) * cdf + m * s * pdf - mean_r * mean_r;
    if (var_r < 0)
        var_r = 0;
    double mean = alpha * m + (1 - alpha) * mean_r;
    double var = alpha * alpha * v + (1 - alpha) * (1 - alpha) * var_r +
                 2 * alpha * (1 - alpha) * v * cdf;
    *om = (float)mean;
    *ov = (float)(var > 0 ? var : 0);
}

static bnn_status relu_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_operands(args, true, diag));
    const float *m = args->inputs[0].data, *v = args->inputs[1].data;
    float *om = args->outputs[0].data, *ov = args->outputs[1].data;
    double alpha = bnn_node_float(args->node, "alpha", 0.0f);
    bool linear = linear_form(args);
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        relu_moments(m[i], v[i], alpha, linear, &om[i], &ov[i]);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_moments_relu = {.forward = relu_forward};

/* ---- sigmoid and tanh ------------------------------------------------------ */

/* The positive half of the 16-point Gauss-Hermite rule (weight exp(-t^2)). */
static const double gh_nodes[8] = {
    0.27348104613815244, 0.8229514491446559, 1.3802585391988809, 1.9517879909162539,
    2.5462021578474814,  3.176999161979956,  3.8694479048601229, 4.6887389393058188};
static const double gh_weights[8] = {
    0.50792947901661367,    0.28064745852853368,    0.083810041398985832,
    0.012880311535509989,   0.00093228400862418071, 2.7118600925378892e-05,
    2.3209808448652032e-07, 2.6548074740111673e-10};
#define INV_SQRTPI 0.56418958354775628695

static inline double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* E[f(x)] and E[f(x)^2] for x ~ N(m, v): x = m + sqrt(2v) t. */
static void quadrature(double (*f)(double), double m, double v, double *e1, double *e2)
{
    double scale = sqrt(2 * v), s1 = 0, s2 = 0;
    for (int i = 0; i < 8; i++) {
        double a = f(m + scale * gh_nodes[i]), b = f(m - scale * gh_nodes[i]);
        s1 += gh_weights[i] * (a + b);
        s2 += gh_weights[i] * (a * a + b * b);
    }
    *e1 = s1 * INV_SQRTPI;
    *e2 = s2 * INV_SQRTPI;
}

static bnn_status smooth_forward(const bnn_kernel_args *args, double (*f)(double),
                                 bnn_diag *diag)
{
    BNN_TRY(check_operands(args, true, diag));
    const float *m = args->inputs[0].data, *v = args->inputs[1].data;
    float *om = args->outputs[0].data, *ov = args->outputs[1].data;
    bool linear = linear_form(args);
    bool is_tanh = f == tanh;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
        double mi = m[i], vi = v[i] > 0 ? v[i] : 0;
        if (linear || vi < TINY_VARIANCE) {
            double y = f(mi), d = is_tanh ? 1 - y * y : y * (1 - y);
            om[i] = (float)y;
            ov[i] = (float)(d * d * vi);
            continue;
        }
        double e1, e2;
        quadrature(f, mi, vi, &e1, &e2);
        double var = e2 - e1 * e1;
        om[i] = (float)e1;
        ov[i] = (float)(var > 0 ? var : 0);
    }
    return BNN_OK;
}

static bnn_status sigmoid_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return smooth_forward(args, sigmoid, diag);
}

static bnn_status tanh_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return smooth_forward(args, tanh, diag);
}

const bnn_kernel bnn_kernel_moments_sigmoid = {.forward = sigmoid_forward};
const bnn_kernel bnn_kernel_moments_tanh = {.forward = tanh_forward};

/* ---- max pool --------------------------------------------------------------- */

/* Clark's moment match of max(x1, x2), x1 ~ N(m1, v1), x2 ~ N(m2, v2)
 * independent, into (*m1, *v1). */
static void clark_max(double *m1, double *v1, double m2, double v2)
{
    double theta2 = *v1 + v2;
    if (theta2 < TINY_VARIANCE) {
        if (m2 > *m1) {
            *m1 = m2;
            *v1 = v2;
        }
        return;
    }
    double theta = sqrt(theta2), a = (*m1 - m2) / theta;
    double cdf = norm_cdf(a), cdf_neg = 1 - cdf, pdf = norm_pdf(a);
    double mean = *m1 * cdf + m2 * cdf_neg + theta * pdf;
    double second = (*m1 * *m1 + *v1) * cdf + (m2 * m2 + v2) * cdf_neg + (*m1 + m2) * theta * pdf;
    double var = second - mean * mean;
    *m1 = mean;
    *v1 = var > 0 ? var : 0;
}

static bnn_status max_pool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_operands(args, false, diag));
    const bnn_tensor *x = &args->inputs[0], *y = &args->outputs[0];
    int rank = x->shape.rank;
    if (rank < 3 || rank > 4 || y->shape.rank != rank)
        return nn_fail_shape(args, "moment max-pool wants [N, C, W] or [N, C, H, W]", diag);
    int sd = rank - 2;
    const int64_t *ks, *strides = NULL, *pads = NULL, *dil = NULL;
    int n_k = bnn_node_ints(args->node, "kernel_shape", &ks);
    int n_s = bnn_node_ints(args->node, "strides", &strides);
    int n_p = bnn_node_ints(args->node, "pads", &pads);
    int n_d = bnn_node_ints(args->node, "dilations", &dil);
    if (n_k != sd || (n_s && n_s != sd) || (n_p && n_p != 2 * sd) || (n_d && n_d != sd))
        return nn_fail_shape(args, "kernel_shape, strides, pads or dilations do not match the "
                                   "spatial rank", diag);
    /* Dims as (H, W), a 1-D pool with H = 1. */
    int64_t in[2], out[2], k[2], s[2], p[2], d[2];
    for (int j = 0; j < 2; j++) {
        int i = j - (2 - sd);
        in[j] = i < 0 ? 1 : x->shape.dims[2 + i];
        out[j] = i < 0 ? 1 : y->shape.dims[2 + i];
        k[j] = i < 0 ? 1 : ks[i];
        s[j] = i >= 0 && n_s ? strides[i] : 1;
        p[j] = i >= 0 && n_p ? pads[i] : 0;
        d[j] = i >= 0 && n_d ? dil[i] : 1;
    }
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    const float *m = x->data, *v = args->inputs[1].data;
    float *om = y->data, *ov = args->outputs[1].data;
    bool linear = linear_form(args);
#pragma omp parallel for schedule(static) if (planes * out[0] * out[1] > 4096)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *mp = m + pl * in[0] * in[1], *vp = v + pl * in[0] * in[1];
        for (int64_t oh = 0; oh < out[0]; oh++)
            for (int64_t ow = 0; ow < out[1]; ow++) {
                double bm = 0, bv = 0;
                bool any = false;
                for (int64_t a = 0; a < k[0]; a++) {
                    int64_t h = oh * s[0] - p[0] + a * d[0];
                    if (h < 0 || h >= in[0])
                        continue;
                    for (int64_t b = 0; b < k[1]; b++) {
                        int64_t w = ow * s[1] - p[1] + b * d[1];
                        if (w < 0 || w >= in[1])
                            continue;
                        double em = mp[h * in[1] + w], ev = vp[h * in[1] + w];
                        if (ev < 0)
                            ev = 0;
                        if (!any) {
                            bm = em;
                            bv = ev;
                            any = true;
                        } else if (linear) {
                            if (em > bm) {
                                bm = em;
                                bv = ev;
                            }
                        } else {
                            clark_max(&bm, &bv, em, ev);
                        }
                    }
                }
                int64_t at = pl * out[0] * out[1] + oh * out[1] + ow;
                om[at] = (float)bm;
                ov[at] = (float)bv;
            }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_moments_max_pool = {.forward = max_pool_forward};
