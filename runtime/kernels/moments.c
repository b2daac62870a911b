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
 * Speed.  relu and max-pool run on every element of a convolutional net's
 * feature maps, where a libm erfc and exp per element cost ten times the
 * convolutions that made them.  Their kernels therefore evaluate the normal
 * tail and density in float with branch-free code the compiler vectorises
 * (moments_tail_density: one exp for the density, one for Chebyshev's erfc
 * fit, relative error ~1e-7 everywhere, also deep in the tail), in forms
 * without cancellation: relu's variance as v g(a) with g computed from the
 * tail Q = Phi(-|a|), Clark's max with the larger mean first so that a >= 0
 * (which lets it use a cheaper tail, clark_tail_density).  Max-pool windows
 * that do not overlap along the row are split from each input row once into
 * one array per window offset, so that neither the copies nor the Clark
 * steps run on short strided rows.  The double-precision functions below (moments_relu_reference,
 * moments_clark_reference) are the plain reference: tests/moments compares
 * the kernels with them over a grid of means and variances, tails included.
 *
 * Forward only: the moment graph is for prediction.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel.h"
#include "moments_impl.h"
#include "nn_impl.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

/* Below this variance an input counts as deterministic (avoids 0/0). */
#define TINY_VARIANCE 1e-30

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

void moments_relu_reference(double m, double v, double alpha, bool linear, float *om,
                            float *ov)
{
    if (v < 0)
        v = 0;
    if (linear || v < TINY_VARIANCE) {
        double slope = m > 0 ? 1.0 : alpha;
        *om = (float)(m * slope);
        *ov = (float)(v * slope * slope);
        return;
    }
    /* g = Var[relu] / v; for a >= 0 from the tail Q = Phi(-a), so that a
     * large a does not lose v against m^2. */
    double s = sqrt(v), a = m / s, q = norm_cdf(-fabs(a)), pdf = norm_pdf(a);
    double cdf = a >= 0 ? 1 - q : q;
    double mean_r = m * cdf + s * pdf, g;
    if (a >= 0) {
        g = 1 - q + a * a * q * (1 - q) - a * pdf * (1 - 2 * q) - pdf * pdf;
    } else {
        double ma = a * cdf + pdf;
        g = (1 + a * a) * cdf + a * pdf - ma * ma;
    }
    double var_r = v * (g > 0 ? g : 0);
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
    if (linear) {
        for (int64_t i = 0; i < n; i++)
            moments_relu_reference(m[i], v[i], alpha, true, &om[i], &ov[i]);
        return BNN_OK;
    }
    /* Blocks of 4096 elements, split between threads when there are many. */
    int64_t blocks = (n + 4095) / 4096;
#pragma omp parallel for schedule(static) if (blocks > 16)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t at = b * 4096, len = n - at < 4096 ? n - at : 4096;
        moments_relu_fast(m + at, v + at, len, (float)alpha, om + at, ov + at);
    }
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
void moments_clark_reference(double *m1, double *v1, double m2, double v2)
{
    double theta2 = *v1 + v2;
    if (theta2 < TINY_VARIANCE) {
        if (m2 > *m1) {
            *m1 = m2;
            *v1 = v2;
        }
        return;
    }
    /* The larger mean first (max is symmetric), so that a >= 0 and the
     * variance comes from the tail Q = Phi(-a) without cancellation:
     * mean = m1 + theta T, var = v1 + Q (v2 - v1) + theta^2 (a^2 Q - a phi - T^2),
     * T = phi - a Q. */
    double hm = *m1, hv = *v1, lm = m2, lv = v2;
    if (m2 > *m1) {
        hm = m2, hv = v2, lm = *m1, lv = *v1;
    }
    double theta = sqrt(theta2), a = (hm - lm) / theta;
    double q = norm_cdf(-a), pdf = norm_pdf(a), t = pdf - a * q;
    double var = hv + q * (lv - hv) + theta2 * (a * a * q - a * pdf - t * t);
    *m1 = hm + theta * t;
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
    /* Every window inside the image (no padding reached): the fast path, row
     * by row of outputs, one window offset at a time. */
    bool inside = !linear && d[0] == 1 && d[1] == 1 && p[0] == 0 && p[1] == 0 &&
                  (out[0] - 1) * s[0] + k[0] <= in[0] && (out[1] - 1) * s[1] + k[1] <= in[1] &&
                  out[1] <= MOMENTS_MAX_ROW;
    /* Windows that do not overlap along the row (stride = width, LeNet's
     * 2x2 stride 2) and have at most MOMENTS_FUSED_OFFSETS elements: each
     * input row is read once, contiguously, into one array per window
     * offset, and the Clark steps over the window run in one pass with the
     * running max in registers. */
    bool fused = inside && s[1] == k[1] && k[0] * k[1] <= MOMENTS_FUSED_OFFSETS &&
                 out[1] <= MOMENTS_FUSED_ROW;
    if (fused) {
        int64_t rows = planes * out[0], per_block = MOMENTS_FUSED_BLOCK / out[1];
        per_block = per_block < 1 ? 1 : per_block;
        int64_t blocks = (rows + per_block - 1) / per_block, offsets = k[0] * k[1];
#pragma omp parallel for schedule(static) if (blocks > 4)
        for (int64_t blk = 0; blk < blocks; blk++) {
            enum { LEN = MOMENTS_FUSED_BLOCK + MOMENTS_FUSED_ROW };
            float gm[MOMENTS_FUSED_OFFSETS * LEN], gv[MOMENTS_FUSED_OFFSETS * LEN];
            int64_t r0 = blk * per_block, r1 = r0 + per_block < rows ? r0 + per_block : rows;
            for (int64_t r = r0; r < r1; r++) {
                int64_t pl = r / out[0], oh = r % out[0], at = (r - r0) * out[1];
                for (int64_t a = 0; a < k[0]; a++) {
                    int64_t from = pl * in[0] * in[1] + (oh * s[0] + a) * in[1];
                    float *dm = gm + a * k[1] * LEN + at, *dv = gv + a * k[1] * LEN + at;
                    if (k[1] == 2)
                        moments_split_pairs(m + from, v + from, out[1], dm, dv, dm + LEN,
                                            dv + LEN);
                    else
                        for (int64_t ow = 0; ow < out[1]; ow++)
                            for (int64_t b = 0; b < k[1]; b++) {
                                dm[b * LEN + ow] = m[from + ow * k[1] + b];
                                dv[b * LEN + ow] = v[from + ow * k[1] + b];
                            }
                }
            }
            moments_clark_window(gm, gv, offsets, LEN, (r1 - r0) * out[1], om + r0 * out[1],
                                 ov + r0 * out[1]);
        }
        return BNN_OK;
    }
    if (inside) {
        /* Output rows (plane, oh) in blocks of about MOMENTS_BLOCK outputs; per
         * window offset the block's elements are gathered into contiguous
         * arrays, so the Clark steps run on long vectors. */
        int64_t rows = planes * out[0], per_block = MOMENTS_BLOCK / out[1];
        per_block = per_block < 1 ? 1 : per_block;
        int64_t blocks = (rows + per_block - 1) / per_block;
#pragma omp parallel for schedule(static) if (blocks > 4)
        for (int64_t blk = 0; blk < blocks; blk++) {
            float gm[MOMENTS_BLOCK + MOMENTS_MAX_ROW], gv[MOMENTS_BLOCK + MOMENTS_MAX_ROW];
            int64_t r0 = blk * per_block, r1 = r0 + per_block < rows ? r0 + per_block : rows;
            float *am = om + r0 * out[1], *av = ov + r0 * out[1];
            int64_t len = (r1 - r0) * out[1];
            for (int64_t off = 0; off < k[0] * k[1]; off++) {
                int64_t a = off / k[1], b = off % k[1];
                float *dm = off ? gm : am, *dv = off ? gv : av;
                for (int64_t r = r0; r < r1; r++) {
                    int64_t pl = r / out[0], oh = r % out[0];
                    const float *mp = m + pl * in[0] * in[1] + (oh * s[0] + a) * in[1] + b;
                    const float *vp = v + pl * in[0] * in[1] + (oh * s[0] + a) * in[1] + b;
                    float *tm = dm + (r - r0) * out[1], *tv = dv + (r - r0) * out[1];
                    for (int64_t ow = 0; ow < out[1]; ow++) {
                        tm[ow] = mp[ow * s[1]];
                        tv[ow] = vp[ow * s[1]] > 0 ? vp[ow * s[1]] : 0;
                    }
                }
                if (off)
                    moments_clark_arrays(am, av, gm, gv, len);
            }
        }
        return BNN_OK;
    }
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
                            moments_clark_reference(&bm, &bv, em, ev);
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

/* ---- the fast forms ------------------------------------------------------ */

/* GCC if-converts the clamps below into vector min/max only when it may
 * ignore floating-point exception flags, which nothing here reads. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* The element loops are compiled for AVX-512, AVX2 and the baseline and the
 * loader picks one for the CPU (the result may differ in the last bit). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MOMENTS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MOMENTS_CLONES
#endif

/* min and max as compare-and-select: they vectorise (fminf/fmaxf, with their
 * NaN rules, become calls). */
static inline float min_f(float x, float y) { return x < y ? x : y; }
static inline float max_f(float x, float y) { return x > y ? x : y; }

/* e^x for x in [-87, 0] (arguments are clamped there), branch-free: x =
 * n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative
 * error below 2e-7), 2^n by the exponent bits. */
static inline float exp_negative(float x)
{
    x = min_f(max_f(x, -87.0f), 0.0f);
    /* round to nearest by the 1.5 * 2^23 trick (vectorises, unlike roundf) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
              r * (1.0f / 720))))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* The normal tail Q = Phi(-|a|) and density phi(a).  erfc(z), z = |a|/sqrt2,
 * is t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P the Chebyshev fit of Press et
 * al. (Numerical Recipes, 2nd ed., section 6.2, "erfcc"), whose relative
 * error is below 1.2e-7 for every z >= 0. */
static inline void moments_tail_density(float a, float *tail, float *density)
{
    float z = (a < 0 ? -a : a) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                 t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                 t * (-0.82215223f + t * 0.17087277f))))))));
    float gauss = exp_negative(-z * z);
    *tail = 0.5f * t * gauss * exp_negative(poly);
    *density = 0.39894228040143268f * gauss;
}

/* The tail Q = Phi(-a) and density phi(a) for a >= 0, as Clark's step needs
 * them: Q = phi(a) P(t), t = 1 / (1 + p a), P of degree 5 (Abramowitz and
 * Stegun 26.2.17, absolute error below 7.5e-8).  One exp and one division,
 * against two exps for moments_tail_density's relative accuracy, which
 * relu's variance needs (its a < 0 branch subtracts nearly equal terms: with
 * this form relu's variance was 8% off at a = -4, against 6e-5 with
 * Chebyshev's) but Clark's does not: there a >= 0, and an absolute error e
 * in Q moves the mean by at most a e theta and the variance by
 * a^2 e theta^2 + e |v2 - v1| (a <= 8: within the tolerances of
 * tests/moments/test_fast.c).  It took 226,000 Clark steps (LeNet-5's first
 * pool at batch 64) from 1.0 to 0.43 ms on one core. */
static inline void clark_tail_density(float a, float *tail, float *density)
{
    float pdf = 0.39894228040143268f * exp_negative(-0.5f * a * a);
    float t = 1.0f / (1.0f + 0.2316419f * a);
    float poly = t * (0.319381530f + t * (-0.356563782f + t * (1.781477937f +
                 t * (-1.821255978f + t * 1.330274429f))));
    *tail = pdf * poly;
    *density = pdf;
}

/* |a| is capped at 8 (Q(8) = 6e-16: beyond it every result is the same in
 * float), so that the exps never reach the subnormal range, where each float
 * operation costs a hundred cycles (uncapped, the first layers' large |a|
 * made the kernel ten times slower).  Variances below 1e-30 count as 1e-30:
 * no division by zero. */
#define MOMENTS_TINY_VARIANCE 1e-30f
#define MOMENTS_MAX_A 8.0f

/* Branch-free choice: x where pick is 1, y where it is 0 (both finite). */
static inline float blend(float pick, float x, float y)
{
    return y + pick * (x - y);
}

MOMENTS_CLONES void moments_relu_fast(const float *m, const float *v, int64_t n, float alpha,
                                     float *om, float *ov)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float mi = m[i], vi = max_f(v[i], MOMENTS_TINY_VARIANCE);
        float s = sqrtf(vi);
        float a = min_f(max_f(mi / s, -MOMENTS_MAX_A), MOMENTS_MAX_A);
        float q, pdf;
        moments_tail_density(a, &q, &pdf);
        float pos = a >= 0 ? 1.0f : 0.0f;
        float cdf = blend(pos, 1.0f - q, q);
        /* E[relu] = m Phi + s phi (= s (a Phi + phi) below 0, with the capped
         * a); Var = v g(a), g = E[relu^2]/v - (E[relu]/s)^2, which for a >= 0
         * is 1 - Q + a^2 Q (1 - Q) - a phi (1 - 2Q) - phi^2 (no cancellation
         * against the leading 1), else as it stands. */
        float ma = a * cdf + pdf;
        float mean_r = blend(pos, mi * cdf + s * pdf, s * ma);
        float g_pos = 1.0f - q + a * a * q * (1.0f - q) - a * pdf * (1.0f - 2.0f * q) - pdf * pdf;
        float g_neg = (1.0f + a * a) * cdf + a * pdf - ma * ma;
        float var_r = vi * max_f(blend(pos, g_pos, g_neg), 0.0f);
        float mean = alpha * mi + (1 - alpha) * mean_r;
        float var = alpha * alpha * vi + (1 - alpha) * (1 - alpha) * var_r +
                    2 * alpha * (1 - alpha) * vi * cdf;
        /* a deterministic input (v <= 0): the function itself */
        float fixed = v[i] > 0 ? 0.0f : 1.0f;
        om[i] = blend(fixed, max_f(mi, 0.0f) + alpha * min_f(mi, 0.0f), mean);
        ov[i] = blend(fixed, 0.0f, max_f(var, 0.0f));
    }
}

/* Clark's max of (m1, v1) and (m2, v2), larger mean first so that a >= 0:
 * mean = m1 + theta T, var = v1 + Q (v2 - v1) + theta^2 (a^2 Q - a phi - T^2)
 * with T = phi - a Q, Q = Phi(-a). */
static inline void clark_fast(float *m1, float *v1, float m2, float v2)
{
    float hm = max_f(*m1, m2), lm = min_f(*m1, m2);
    float first = *m1 >= m2 ? 1.0f : 0.0f;
    float hv = blend(first, *v1, v2), lv = blend(first, v2, *v1);
    float theta2 = max_f(hv + lv, MOMENTS_TINY_VARIANCE);
    float theta = sqrtf(theta2), a = min_f((hm - lm) / theta, MOMENTS_MAX_A);
    float q, pdf;
    clark_tail_density(a, &q, &pdf);
    float t = pdf - a * q;
    float var = hv + q * (lv - hv) + theta2 * (a * a * q - a * pdf - t * t);
    *m1 = hm + theta * t;
    *v1 = max_f(var, 0.0f);
}

void moments_clark_fast(float *m1, float *v1, float m2, float v2)
{
    clark_fast(m1, v1, m2, v2);
}

MOMENTS_CLONES void moments_clark_arrays(float *m1, float *v1, const float *m2, const float *v2,
                                        int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        clark_fast(&m1[i], &v1[i], m2[i], max_f(v2[i], 0.0f));
}

/* Pairs (x[2i], x[2i+1]) of a row of n windows, for mean and variance, into
 * (even, odd) arrays: the row is read once, contiguously. */
MOMENTS_CLONES void moments_split_pairs(const float *m, const float *v, int64_t n, float *me,
                                        float *ve, float *mo, float *vo)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        me[i] = m[2 * i];
        mo[i] = m[2 * i + 1];
        ve[i] = v[2 * i];
        vo[i] = v[2 * i + 1];
    }
}

/* n windows of `offsets` elements each, offset o's elements at m + o * stride
 * (and v + o * stride): Clark's steps in window order, the running max kept
 * in registers; the results into om, ov. */
MOMENTS_CLONES void moments_clark_window(const float *m, const float *v, int64_t offsets,
                                         int64_t stride, int64_t n, float *om, float *ov)
{
    /* three passes over long arrays: in a micro-benchmark one pass with the
     * running max in registers was slower */
    for (int64_t i = 0; i < n; i++) {
        om[i] = m[i];
        ov[i] = max_f(v[i], 0.0f);
    }
    for (int64_t o = 1; o < offsets; o++)
        moments_clark_arrays(om, ov, m + o * stride, v + o * stride, n);
}
