/* The KL term of Bayes by Backprop, beside the Bayesian layers it belongs to:
 * KL(N(mu, sigma^2) || N(prior_mu, prior_sigma^2)) summed over a Bayesian
 * node's weight and bias, sigma = softplus(rho), and its gradient.  The one
 * implementation: the trainer calls bnn_bayes_node_kl for each node
 * (train/train.c); bnn_gaussian_kl and bnn_gaussian_kl_backward are the same
 * pass over bare arrays.
 *
 *   KL       = log(prior_sigma / sigma) + (sigma^2 + (mu - prior_mu)^2) / (2 prior_sigma^2) - 1/2
 *   dKL/dmu  = (mu - prior_mu) / prior_sigma^2
 *   dKL/drho = (sigma / prior_sigma^2 - 1 / sigma) * sigmoid(rho)
 *
 * One fused pass reads mu and rho once and writes both gradients: it touches
 * every weight each step, and was the biggest part of a Bayesian MLP's step
 * when it called libm.  sigma and sigmoid(rho) come from vecmath.h, the
 * functions the layers sample with, so the KL penalises the sigma the layer
 * used.  The sum is deterministic: blocks of KL_BLOCK terms are summed in
 * double in a fixed order, chunks of KL_CHUNK in chunk order, whatever the
 * thread count or the vector width. */
#include <math.h>
#include <string.h>

#include "bayes.h"
#include "bayes_impl.h"
#include "vecmath.h"

#define KL_BLOCK 256
#define KL_CHUNK 16384

/* See vecmath.h: selects as vector blends. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

/* One element's KL term, what its gradients need, and its sigma. */
typedef struct kl_element {
    float term;
    float d;        /* mu - prior_mu: dKL/dmu = d / prior_sigma^2 */
    float grad_rho; /* dKL/drho */
    float sigma;
    float sig;      /* sigmoid(rho) = dsigma/drho */
} kl_element;

/* The element from sigma = softplus(rho) and sig = sigmoid(rho), computed
 * by the caller (kl_element_at) or by the layer's sampling (cached). */
static inline __attribute__((always_inline)) kl_element
kl_element_from(float mu, float rho, float sigma, float sig, float prior_mu, float inv_ps2,
                float log_ps)
{
    /* Below -20, softplus(rho) ~ exp(rho), and below -87 it stays at
     * exp(-87): use the limits log(sigma) = rho and sigmoid / sigma = 1.  Both sides are
     * computed and then selected, as the compiler only vectorises selects
     * between values, not a division or a log that one side skips. */
    bool tiny = rho < -20.0f;
    float safe = tiny ? 1.0f : sigma;
    float log_safe = vecmath_log_positive(safe), ratio = sig / safe;
    float log_sigma = tiny ? rho : log_safe;
    float sig_over_sigma = tiny ? 1.0f : ratio;
    float d = mu - prior_mu;
    return (kl_element){
        .term = log_ps - log_sigma + 0.5f * (sigma * sigma + d * d) * inv_ps2 - 0.5f,
        .d = d,
        .grad_rho = sigma * sig * inv_ps2 - sig_over_sigma,
        .sigma = sigma,
        .sig = sig,
    };
}

static inline __attribute__((always_inline)) kl_element
kl_element_at(float mu, float rho, float prior_mu, float inv_ps2, float log_ps)
{
    return kl_element_from(mu, rho, vecmath_softplus(rho), vecmath_sigmoid(rho), prior_mu,
                           inv_ps2, log_ps);
}

/* One block: the KL terms into term[], scale times the gradients added to
 * gm[] and gr[] (never NULL: no branch, so the loop vectorises).  With
 * derive (a constant in each caller), gm[] holds dL/dmu of a reparam layer
 * on entry and gr[] is set, not added to: dL/drho = dL/dmu * eps * sigmoid(rho)
 * (bnn_session_derive_param_grads) and the KL's in the same pass, the
 * same float operations in the same order as the two passes apart. */
static inline __attribute__((always_inline)) void
kl_block_body(const float *restrict m, const float *restrict r, const float *restrict eps,
              const float *restrict pm, const float *restrict cs, const float *restrict cg,
              size_t len, float prior_mu, float inv_ps2, float log_ps, float scale,
              float *restrict term, float *restrict gm, float *restrict gr, bool derive,
              bool means, bool cached)
{
    for (size_t i = 0; i < len; i++) {
        float pmu = means ? pm[i] : prior_mu;
        kl_element e = cached ? kl_element_from(m[i], r[i], cs[i], cg[i], pmu, inv_ps2, log_ps)
                              : kl_element_at(m[i], r[i], pmu, inv_ps2, log_ps);
        term[i] = e.term;
        if (derive) {
            float data = gm[i] * eps[i] * e.sig;
            gm[i] += scale * e.d * inv_ps2;
            gr[i] = data + scale * e.grad_rho;
        } else {
            gm[i] += scale * e.d * inv_ps2;
            gr[i] += scale * e.grad_rho;
        }
    }
}

/* sigma as the KL computes it, for the test that it is the sampling's. */
static inline __attribute__((always_inline)) void
kl_sigma_body(const float *restrict r, size_t n, float *restrict sigma)
{
    for (size_t i = 0; i < n; i++)
        sigma[i] = kl_element_at(0.0f, r[i], 0.0f, 1.0f, 0.0f).sigma;
}

typedef void kl_block_fn(const float *restrict, const float *restrict, const float *restrict,
                         const float *restrict, const float *restrict, const float *restrict,
                         size_t, float, float, float, float, float *restrict, float *restrict,
                         float *restrict);

/* Compiled for the x86-64 baseline, for AVX2 (8 lanes instead of 4 halve
 * the pass) and for AVX-512 (16 lanes: a third less time again on a Zen 4,
 * whose 512-bit units are 256 bits wide), each without and with the derived rho gradient, and with the
 * prior's mean one number or one per element; kl_block_for_cpu picks one. */
#define KL_BLOCK_ARGS const float *restrict m, const float *restrict r, \
    const float *restrict eps, const float *restrict pm, const float *restrict cs, \
    const float *restrict cg, size_t len, float prior_mu, float inv_ps2, float log_ps, \
    float scale, float *restrict term, float *restrict gm, float *restrict gr
#define KL_BLOCK_CALL(derive, means, cached) \
    kl_block_body(m, r, eps, pm, cs, cg, len, prior_mu, inv_ps2, log_ps, scale, term, gm, gr, \
                  derive, means, cached)
#define KL_BLOCKS(target, suffix) \
    target static void kl_block_##suffix(KL_BLOCK_ARGS) { KL_BLOCK_CALL(false, false, false); } \
    target static void kl_derive_block_##suffix(KL_BLOCK_ARGS) \
    { \
        KL_BLOCK_CALL(true, false, false); \
    } \
    target static void kl_means_block_##suffix(KL_BLOCK_ARGS) \
    { \
        KL_BLOCK_CALL(false, true, false); \
    } \
    target static void kl_means_derive_block_##suffix(KL_BLOCK_ARGS) \
    { \
        KL_BLOCK_CALL(true, true, false); \
    } \
    target static void kl_cached_block_##suffix(KL_BLOCK_ARGS) \
    { \
        KL_BLOCK_CALL(true, false, true); \
    } \
    target static void kl_means_cached_block_##suffix(KL_BLOCK_ARGS) \
    { \
        KL_BLOCK_CALL(true, true, true); \
    }

KL_BLOCKS(, base)

static void kl_sigma_base(const float *restrict r, size_t n, float *restrict sigma)
{
    kl_sigma_body(r, n, sigma);
}

#ifdef VECMATH_HAVE_AVX512
KL_BLOCKS(VECMATH_AVX512, avx512)

VECMATH_AVX512 static void kl_sigma_avx512(const float *restrict r, size_t n,
                                           float *restrict sigma)
{
    kl_sigma_body(r, n, sigma);
}
#endif

#ifdef VECMATH_HAVE_AVX2
KL_BLOCKS(VECMATH_AVX2, avx2)

VECMATH_AVX2 static void kl_sigma_avx2(const float *restrict r, size_t n, float *restrict sigma)
{
    kl_sigma_body(r, n, sigma);
}
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* cached: derive from the sampling's sigma and sigmoid (always derives). */
#define KL_PICK(suffix) \
    (cached ? (means ? kl_means_cached_block_##suffix : kl_cached_block_##suffix) \
     : means ? (derive ? kl_means_derive_block_##suffix : kl_means_block_##suffix) \
             : (derive ? kl_derive_block_##suffix : kl_block_##suffix))

static kl_block_fn *kl_block_for_cpu(bool derive, bool means, bool cached)
{
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512())
        return KL_PICK(avx512);
#endif
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        return KL_PICK(avx2);
#endif
    return KL_PICK(base);
}

void bayes_kl_sigma(const float *rho, size_t n, float *sigma)
{
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512()) {
        kl_sigma_avx512(rho, n, sigma);
        return;
    }
#endif
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2()) {
        kl_sigma_avx2(rho, n, sigma);
        return;
    }
#endif
    kl_sigma_base(rho, n, sigma);
}

/* The pass behind bnn_gaussian_kl_pass and the derived one: eps not
 * NULL derives the rho gradient (kl_block_body); prior_means not NULL holds
 * the prior's mean of each element (prior_mu is then unused). */
/* Whether any of x[0..n) is Inf or NaN: exponent bits with integer
 * operations, so the loop vectorises (the block is still in L1). */
static bool any_non_finite(const float *x, size_t n)
{
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        any |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
    }
    return any != 0;
}

double bayes_kl_pass(const float *mu, const float *rho, const float *eps,
                     const float *prior_means, size_t n, float prior_mu, float prior_sigma,
                     float scale, float *grad_mu, float *grad_rho)
{
    return bayes_kl_pass_checked(mu, rho, eps, NULL, NULL, prior_means, n, prior_mu,
                                 prior_sigma, scale, grad_mu, grad_rho, NULL);
}

double bayes_kl_pass_checked(const float *mu, const float *rho, const float *eps,
                             const float *sigma, const float *sig, const float *prior_means,
                             size_t n, float prior_mu, float prior_sigma, float scale,
                             float *grad_mu, float *grad_rho, bool *finite)
{
    const float inv_ps2 = 1.0f / (prior_sigma * prior_sigma);
    const float log_ps = logf(prior_sigma);
    size_t chunks = (n + KL_CHUNK - 1) / KL_CHUNK;
    bool cached = sigma != NULL;
    kl_block_fn *kl_block = kl_block_for_cpu(eps != NULL, prior_means != NULL, cached);
    BNN_ASSERT(!eps || (grad_mu && grad_rho));
    BNN_ASSERT(!cached || (eps && sig));
    BNN_ASSERT(!finite || (grad_mu && grad_rho));
    double total = 0;
    bool bad = false;
    #pragma omp parallel for ordered schedule(static, 1) if (chunks > 1)
    for (size_t c = 0; c < chunks; c++) {
        size_t end = (c + 1) * KL_CHUNK < n ? (c + 1) * KL_CHUNK : n;
        double part = 0;
        bool chunk_bad = false;
        float term[KL_BLOCK], unused_mu[KL_BLOCK], unused_rho[KL_BLOCK];
        for (size_t lo = c * KL_CHUNK; lo < end; lo += KL_BLOCK) {
            size_t len = end - lo < KL_BLOCK ? end - lo : KL_BLOCK;
            kl_block(mu + lo, rho + lo, eps ? eps + lo : NULL,
                     prior_means ? prior_means + lo : NULL, cached ? sigma + lo : NULL,
                     cached ? sig + lo : NULL, len, prior_mu, inv_ps2, log_ps,
                     scale, term, grad_mu ? grad_mu + lo : unused_mu,
                     grad_rho ? grad_rho + lo : unused_rho);
            if (finite) /* the gradients just written, while they are in L1 */
                chunk_bad = chunk_bad || any_non_finite(grad_mu + lo, len) ||
                            any_non_finite(grad_rho + lo, len);
            double acc[4] = {0, 0, 0, 0};
            size_t i = 0;
            for (; i + 4 <= len; i += 4)
                for (int j = 0; j < 4; j++)
                    acc[j] += term[i + j];
            for (; i < len; i++)
                acc[0] += term[i];
            part += (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
        /* ordered: the chunk sums add up in chunk order whatever the threads */
        #pragma omp ordered
        {
            total += part;
            bad = bad || chunk_bad;
        }
    }
    if (finite)
        *finite = !bad;
    return total;
}

double bnn_gaussian_kl_pass(const float *mu, const float *rho, size_t n, float prior_mu,
                            float prior_sigma, float scale, float *grad_mu, float *grad_rho)
{
    return bayes_kl_pass(mu, rho, NULL, NULL, n, prior_mu, prior_sigma, scale, grad_mu,
                         grad_rho);
}

double bnn_gaussian_kl(const float *mu, const float *rho, size_t n, float prior_mu,
                       float prior_sigma)
{
    return bnn_gaussian_kl_pass(mu, rho, n, prior_mu, prior_sigma, 0.0f, NULL, NULL);
}

void bnn_gaussian_kl_backward(const float *mu, const float *rho, size_t n, float prior_mu,
                              float prior_sigma, float scale, float *grad_mu, float *grad_rho)
{
    if (grad_mu || grad_rho)
        (void)bnn_gaussian_kl_pass(mu, rho, n, prior_mu, prior_sigma, scale, grad_mu, grad_rho);
}

void bayes_slice_clip(const bayes_slice *s, int64_t off, int64_t n, int64_t *a, int64_t *b)
{
    *a = *b = 0;
    if (off < 0 || n <= 0)
        return;
    int64_t lo = (int64_t)s->lo - off, hi = (int64_t)s->hi - off;
    *a = lo < 0 ? 0 : lo > n ? n : lo;
    *b = hi < *a ? *a : hi > n ? n : hi;
}

/* One pass over elements [a, b) of a pair. */
static double pass_part(const float *mu, const float *rho, const float *eps,
                        const float *prior_means, int64_t a, int64_t b, float prior_mu,
                        float prior_sigma, const bayes_mixture *mix, float scale, float *grad_mu,
                        float *grad_rho, bool derive)
{
    if (b <= a)
        return 0;
    const float *pm = prior_means ? prior_means + a : NULL;
    float *gm = grad_mu ? grad_mu + a : NULL, *gr = grad_rho ? grad_rho + a : NULL;
    if (mix)
        return bayes_mixture_kl_pass(mu + a, rho + a, eps + a, pm, (size_t)(b - a), mix, scale,
                                     gm, gr);
    return bayes_kl_pass(mu + a, rho + a, derive ? eps + a : NULL, pm, (size_t)(b - a),
                         prior_mu, prior_sigma, scale, gm, gr);
}

double bayes_kl_pass_slice(const float *mu, const float *rho, const float *eps, bool derive,
                           const float *prior_means, size_t n, float prior_mu,
                           float prior_sigma, const bayes_mixture *mix, float scale,
                           float *grad_mu, float *grad_rho, int64_t off_mu, int64_t off_rho,
                           const bayes_slice *s)
{
    int64_t a = 0, b = (int64_t)n;
    if (!s || derive) { /* derived: the elements go with their mu gradient's */
        if (s)
            bayes_slice_clip(s, off_mu, (int64_t)n, &a, &b);
        return pass_part(mu, rho, eps, prior_means, a, b, prior_mu, prior_sigma, mix, scale,
                         grad_mu, grad_rho, derive);
    }
    /* each gradient element where it lies; the terms with the mu's */
    double kl = 0;
    bool counted = false;
    if (grad_mu) {
        bayes_slice_clip(s, off_mu, (int64_t)n, &a, &b);
        kl = pass_part(mu, rho, eps, prior_means, a, b, prior_mu, prior_sigma, mix, scale,
                       grad_mu, NULL, false);
        counted = true;
    }
    if (grad_rho) {
        bayes_slice_clip(s, off_rho, (int64_t)n, &a, &b);
        double terms = pass_part(mu, rho, eps, prior_means, a, b, prior_mu, prior_sigma, mix,
                                 scale, NULL, grad_rho, false);
        if (!counted)
            kl = terms;
        counted = true;
    }
    if (!counted && s->lo == 0)
        kl = pass_part(mu, rho, eps, prior_means, 0, (int64_t)n, prior_mu, prior_sigma, mix,
                       scale, NULL, NULL, false);
    return kl;
}

bnn_status bnn_bayes_node_kl(const bnn_graph *g, int node_id, float scale,
                             bnn_kl_grad_fn *grad_of, void *ctx, double *kl, bnn_diag *diag)
{
    return bayes_node_kl_slice(g, node_id, scale, grad_of, ctx, NULL, NULL, kl, diag);
}

bnn_status bayes_node_kl_slice(const bnn_graph *g, int node_id, float scale,
                               bnn_kl_grad_fn *grad_of, void *ctx,
                               int64_t (*offset_of)(void *ctx, int value_id),
                               const bayes_slice *slice, double *kl, bnn_diag *diag)
{
    *kl = 0;
    BNN_ASSERT(node_id >= 0 && node_id < g->n_nodes);
    const bnn_node *n = &g->nodes[node_id];
    if (n->dead || !bnn_op_is_bayesian(n->op))
        return BNN_OK;
    float prior_mu = bnn_node_float(n, "prior_mu", BNN_PRIOR_MU_DEFAULT);
    float prior_sigma = bnn_node_float(n, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
    char label[300];
    if (bnn_node_attr(n, "prior_pi"))
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: the scale-mixture prior's KL is sampled "
                        "at the layer's weight draw, which only the reparam estimator of a "
                        "layer (not flipout, local or a weight on its own) keeps",
                        bnn_node_label(g, node_id, label, sizeof label));
    if (!(prior_sigma > 0) || !isfinite(prior_sigma))
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: prior_sigma %g is not a positive number",
                        bnn_node_label(g, node_id, label, sizeof label), prior_sigma);
    /* the weight's (mu, rho), then the bias's when it has a rho;
     * bnn.weight_reparam's are its two operands */
    static const int pairs[2][3] = {{BAYES_IN_WMU, BAYES_IN_WRHO, BAYES_IN_WPRIOR},
                                    {BAYES_IN_BMU, BAYES_IN_BRHO, BAYES_IN_BPRIOR}};
    static const int alone[1][3] = {{0, 1, 2}};
    bool weight = n->op == BNN_OP_WEIGHT_REPARAM;
    for (int p = 0; p < (weight ? 1 : 2); p++) {
        const int *k = weight ? alone[p] : pairs[p];
        if (k[1] >= n->n_inputs || n->inputs[k[0]] < 0 || n->inputs[k[1]] < 0)
            continue;
        int mu = n->inputs[k[0]], rho = n->inputs[k[1]];
        int prior = k[2] < n->n_inputs ? n->inputs[k[2]] : -1;
        const bnn_value *vm = &g->values[mu], *vr = &g->values[rho];
        const bnn_value *vp = prior >= 0 ? &g->values[prior] : NULL;
        if (vm->dtype != BNN_F32 || vr->dtype != BNN_F32 || vm->nbytes != vr->nbytes ||
            !vm->data || !vr->data ||
            (vp && (vp->dtype != BNN_F32 || vp->nbytes != vm->nbytes || !vp->data)))
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: '%s', '%s'%s%s are not f32 params of the "
                            "same size", bnn_node_label(g, node_id, label, sizeof label),
                            vm->name, vr->name, vp ? " and " : "", vp ? vp->name : "");
        float *gm = grad_of ? grad_of(ctx, mu) : NULL;
        float *gr = grad_of ? grad_of(ctx, rho) : NULL;
        *kl += bayes_kl_pass_slice(vm->data, vr->data, NULL, false, vp ? vp->data : NULL,
                                   vm->nbytes / sizeof(float), prior_mu, prior_sigma, NULL,
                                   scale, gm, gr, slice ? offset_of(ctx, mu) : -1,
                                   slice ? offset_of(ctx, rho) : -1, slice);
    }
    return BNN_OK;
}

/* ---- the scale-mixture prior (Blundell et al. 2015) ----------------------
 *
 * p(w) = pi N(w; m, s1^2) + (1 - pi) N(w; m, s2^2) has no closed-form KL
 * against a Gaussian, so the KL is the one-sample Monte-Carlo estimate at
 * the weight the layer drew, w = mu + sigma eps:
 *
 *   KL ~ log q(w) - log p(w),  log q(w) = -log sigma - eps^2/2 - log(2 pi)/2
 *
 * and its gradient through w (eps held): with d = w - m and r the
 * posterior responsibility of the first component,
 *
 *   dlog p/dw = -d (r / s1^2 + (1 - r) / s2^2)
 *   dKL/dmu   = -dlog p/dw
 *   dKL/drho  = (-1/sigma - dlog p/dw * eps) * sigmoid(rho)
 *
 * Computed in double, element by element: it runs where a model asks for
 * it, not on the fast path. */
double bayes_mixture_kl_pass(const float *mu, const float *rho, const float *eps,
                             const float *prior_means, size_t n, const bayes_mixture *mix,
                             float scale, float *grad_mu, float *grad_rho)
{
    const double half_log_2pi = 0.91893853320467274178;
    const double pi = mix->pi, s1 = mix->sigma1, s2 = mix->sigma2;
    const double log_a = log(pi) - log(s1), log_b = log1p(-pi) - log(s2);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double sigma = bnn_sigma_of_rho(rho[i]), e = eps[i];
        double m = prior_means ? prior_means[i] : mix->mu;
        double d = (double)mu[i] + sigma * e - m;
        double la = log_a - 0.5 * d * d / (s1 * s1), lb = log_b - 0.5 * d * d / (s2 * s2);
        double top = la > lb ? la : lb;
        double log_p = top + log(exp(la - top) + exp(lb - top)) - half_log_2pi;
        double r = 1 / (1 + exp(lb - la)); /* the first component's share */
        double log_q = -log(sigma) - 0.5 * e * e - half_log_2pi;
        total += log_q - log_p;
        double dlogp = -d * (r / (s1 * s1) + (1 - r) / (s2 * s2));
        double sig = 1 / (1 + exp(-(double)rho[i]));
        if (grad_mu)
            grad_mu[i] += (float)(scale * -dlogp);
        if (grad_rho)
            grad_rho[i] += (float)(scale * (-1 / sigma - dlogp * e) * sig);
    }
    return total;
}

bnn_status bayes_mixture_of(const bnn_node *node, bayes_mixture *mix, bool *has, bnn_diag *diag)
{
    *has = bnn_node_attr(node, "prior_pi") != NULL;
    if (!*has)
        return BNN_OK;
    mix->pi = bnn_node_float(node, "prior_pi", 0.5f);
    mix->mu = bnn_node_float(node, "prior_mu", BNN_PRIOR_MU_DEFAULT);
    mix->sigma1 = bnn_node_float(node, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
    mix->sigma2 = bnn_node_float(node, "prior_sigma2", mix->sigma1);
    if (!(mix->pi > 0 && mix->pi < 1) || !(mix->sigma1 > 0) || !(mix->sigma2 > 0) ||
        !isfinite(mix->sigma1) || !isfinite(mix->sigma2))
        return bnn_fail(diag, BNN_ERR_INVALID, "node '%s': the scale-mixture prior needs 0 < "
                        "prior_pi < 1 and positive prior_sigma, prior_sigma2 (got %g, %g, %g)",
                        node->name, mix->pi, mix->sigma1, mix->sigma2);
    return BNN_OK;
}
