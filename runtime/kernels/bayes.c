/* Bayesian layers (Bayes by Backprop, reparameterisation):
 * bnn.dense_reparam, bnn.conv_reparam and bnn.conv_transpose_reparam with
 * estimator "reparam" (this file; "local" and "flipout" are
 * bayes_estimators.c) sample one weight per forward pass,
 * shared by the whole batch, w = mu + softplus(rho) * eps with eps ~ N(0, 1),
 * then run the ordinary layer with w.  They sample in inference too (a
 * Monte-Carlo prediction); the caller draws different samples by changing
 * args->step.
 *
 * eps comes from the stream (seed, node id, BNN_RNG_PURPOSE_WEIGHTS, step) of
 * runtime/rng.h: weight element i is stream element i, bias element j is
 * stream element n_weight + j.  The sampled weight and bias and their eps stay
 * in `state` for backward, laid out as floats
 *   [w (n_weight) | b (n_bias) | eps_w (n_weight) | eps_b (n_bias)].
 * A bias with bias_mu but no bias_rho is deterministic (eps 0).
 *
 * Gradients: d/dmu = dL/dw, d/drho = dL/dw * eps * sigmoid(rho).  softplus
 * and sigmoid are vecmath.h's, as in the KL term and its gradient (bayes_kl.c,
 * declared in bayes.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "bayes_impl.h"
#include "gemm_impl.h"
#include "kernel.h"
#include "nn_impl.h"
#include "rng.h"
#include "vecmath.h"

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

float bnn_softplus(float rho)
{
    return vecmath_softplus(rho);
}

float bnn_sigmoid(float x)
{
    return vecmath_sigmoid(x);
}

/* ---- shared by both layers ---------------------------------------------- */

enum { IN_X = BAYES_IN_X, IN_WMU, IN_WRHO, IN_BMU, IN_BRHO, IN_WPRIOR, IN_BPRIOR };

bool bayes_input_present(const bnn_kernel_args *args, int k)
{
    /* The node, not the data pointer: scratch_size and state_size get none. */
    return k < args->n_inputs && k < args->node->n_inputs && args->node->inputs[k] >= 0;
}

#define input_present bayes_input_present

bnn_status bayes_estimator_get(const bnn_kernel_args *args, bayes_estimator *est, bnn_diag *diag)
{
    const char *name = bnn_node_string(args->node, "estimator", "reparam");
    if (strcmp(name, "reparam") == 0) {
        *est = BAYES_REPARAM;
    } else if (strcmp(name, "flipout") == 0) {
        *est = BAYES_FLIPOUT;
    } else if (strcmp(name, "local") == 0) {
        *est = BAYES_LOCAL;
    } else {
        char label[300];
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "%s: estimator '%s' is not supported (reparam, flipout or local)",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label), name);
    }
    return BNN_OK;
}

bnn_status bayes_params_get(const bnn_kernel_args *args, bayes_params *p, bnn_diag *diag)
{
    const bnn_tensor *in = args->inputs;
    memset(p, 0, sizeof *p);
    BNN_ASSERT(args->n_inputs >= 3); /* the op table's minimum */
    p->nw = bnn_tensor_numel(&in[IN_WMU]);
    p->has_bias = input_present(args, IN_BMU);
    p->bias_random = p->has_bias && input_present(args, IN_BRHO);
    p->nb = p->has_bias ? bnn_tensor_numel(&in[IN_BMU]) : 0;
    char label[300];
    if (!bnn_shape_equal(&in[IN_WMU].shape, &in[IN_WRHO].shape) ||
        (p->bias_random && !bnn_shape_equal(&in[IN_BMU].shape, &in[IN_BRHO].shape)))
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: mu and rho have different shapes",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    for (int k = 0; k <= IN_BRHO; k++)
        if (input_present(args, k) && in[k].dtype != BNN_F32)
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: input %d must be f32",
                            bnn_node_label(args->graph, args->node_id, label, sizeof label), k);
    return BNN_OK;
}

typedef struct reparam_layout {
    int64_t nw, nb;
    bool has_bias, bias_random;
    float *w, *b, *eps_w, *eps_b; /* into state; NULL when state is */
    /* training: softplus(rho) and sigmoid(rho) as the sampling computed
     * them, for the KL pass after the sweep (NULL otherwise) */
    float *sigma_w, *sigma_b, *sig_w, *sig_b;
} reparam_layout;

static bnn_status reparam_layout_get(const bnn_kernel_args *args, reparam_layout *l,
                                     bnn_diag *diag)
{
    memset(l, 0, sizeof *l);
    bayes_params p;
    BNN_TRY(bayes_params_get(args, &p, diag));
    l->nw = p.nw;
    l->nb = p.nb;
    l->has_bias = p.has_bias;
    l->bias_random = p.bias_random;
    if (args->state) {
        float *s = args->state;
        l->w = s;
        l->b = s + l->nw;
        l->eps_w = s + l->nw + l->nb;
        l->eps_b = s + 2 * l->nw + l->nb;
        if (args->training) {
            l->sigma_w = s + 2 * (l->nw + l->nb);
            l->sigma_b = l->sigma_w + l->nw;
            l->sig_w = l->sigma_b + l->nb;
            l->sig_b = l->sig_w + l->nw;
        }
    }
    return BNN_OK;
}

/* The estimator, or -1 when the attribute is not one (forward then fails). */
static int estimator_of(const bnn_kernel_args *args)
{
    bayes_estimator est;
    return bayes_estimator_get(args, &est, NULL) == BNN_OK ? (int)est : -1;
}

static size_t reparam_state_size(const bnn_kernel_args *args)
{
    reparam_layout l;
    if (reparam_layout_get(args, &l, NULL) != BNN_OK)
        return 0;
    /* [w | b | eps_w | eps_b], and in training [sigma_w | sigma_b | sig_w | sig_b] */
    return (size_t)((args->training ? 4 : 2) * (l.nw + l.nb)) * sizeof(float);
}

/* w = mu + softplus(rho) * eps over n elements; for the x86-64 baseline and
 * for AVX2 (vecmath.h: the same bits either way). */
static inline __attribute__((always_inline)) void
sample_body(const float *restrict mu, const float *restrict rho, const float *restrict eps,
            float *restrict w, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        w[i] = mu[i] + vecmath_softplus(rho[i]) * eps[i];
}

static void sample_base(const float *restrict mu, const float *restrict rho,
                        const float *restrict eps, float *restrict w, int64_t n)
{
    sample_body(mu, rho, eps, w, n);
}

/* The same, keeping sigma and sigmoid(rho) for the KL pass (training). */
static inline __attribute__((always_inline)) void
sample_keep_body(const float *restrict mu, const float *restrict rho, const float *restrict eps,
                 float *restrict w, float *restrict sigma, float *restrict sig, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float sp = vecmath_softplus(rho[i]);
        w[i] = mu[i] + sp * eps[i];
        sigma[i] = sp;
        sig[i] = vecmath_sigmoid(rho[i]);
    }
}

typedef void sample_keep_fn(const float *restrict, const float *restrict, const float *restrict,
                            float *restrict, float *restrict, float *restrict, int64_t);

static void sample_keep_base(const float *restrict mu, const float *restrict rho,
                             const float *restrict eps, float *restrict w,
                             float *restrict sigma, float *restrict sig, int64_t n)
{
    sample_keep_body(mu, rho, eps, w, sigma, sig, n);
}

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void sample_keep_avx2(const float *restrict mu, const float *restrict rho,
                                          const float *restrict eps, float *restrict w,
                                          float *restrict sigma, float *restrict sig, int64_t n)
{
    sample_keep_body(mu, rho, eps, w, sigma, sig, n);
}
#endif

#ifdef VECMATH_HAVE_AVX512
VECMATH_AVX512 static void sample_keep_avx512(const float *restrict mu,
                                              const float *restrict rho,
                                              const float *restrict eps, float *restrict w,
                                              float *restrict sigma, float *restrict sig,
                                              int64_t n)
{
    sample_keep_body(mu, rho, eps, w, sigma, sig, n);
}

VECMATH_AVX512 static void sample_avx512(const float *restrict mu, const float *restrict rho,
                                         const float *restrict eps, float *restrict w, int64_t n)
{
    sample_body(mu, rho, eps, w, n);
}
#endif

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void sample_avx2(const float *restrict mu, const float *restrict rho,
                                     const float *restrict eps, float *restrict w, int64_t n)
{
    sample_body(mu, rho, eps, w, n);
}
#endif

/* sigma and sig not NULL: kept too (sample_keep_body). */
static void sample_into(const bnn_rng_stream *s, uint64_t first, const float *mu,
                        const float *rho, float *w, float *eps, float *sigma, float *sig,
                        int64_t n)
{
    sample_keep_fn *keep = sample_keep_base;
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        keep = sample_keep_avx2;
#endif
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512())
        keep = sample_keep_avx512;
#endif
    void (*sample)(const float *restrict, const float *restrict, const float *restrict,
                   float *restrict, int64_t) = sample_base;
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        sample = sample_avx2;
#endif
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512())
        sample = sample_avx512;
#endif
    /* Disjoint chunks: the same bits for any thread count.  Each chunk's
     * draws are made just before it is sampled, so eps is read back from
     * cache, not memory (stream elements are independent of how they are
     * split). */
    enum { CHUNK = 16384 };
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    #pragma omp parallel for schedule(static) if (chunks > 2)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        bnn_rng_normal(s, first + (uint64_t)lo, (size_t)len, eps + lo);
        if (sigma)
            keep(mu + lo, rho + lo, eps + lo, w + lo, sigma + lo, sig + lo, len);
        else
            sample(mu + lo, rho + lo, eps + lo, w + lo, len);
    }
}

static void reparam_sample(const bnn_kernel_args *args, const reparam_layout *l)
{
    bnn_rng_stream s = bnn_rng_stream_make(args->seed, args->node_id, BNN_RNG_PURPOSE_WEIGHTS,
                                           args->step);
    sample_into(&s, 0, args->inputs[IN_WMU].data, args->inputs[IN_WRHO].data, l->w, l->eps_w,
                l->sigma_w, l->sig_w, l->nw);
    if (l->bias_random) {
        sample_into(&s, (uint64_t)l->nw, args->inputs[IN_BMU].data, args->inputs[IN_BRHO].data,
                    l->b, l->eps_b, l->sigma_b, l->sig_b, l->nb);
    } else if (l->has_bias) {
        memcpy(l->b, args->inputs[IN_BMU].data, (size_t)l->nb * sizeof(float));
        memset(l->eps_b, 0, (size_t)l->nb * sizeof(float));
    }
}

bool bayes_rho_derivable(const bnn_kernel_args *args)
{
    return bnn_op_is_bayesian(args->node->op) && args->node->op != BNN_OP_WEIGHT_REPARAM &&
           estimator_of(args) == BAYES_REPARAM &&
           input_present(args, IN_WRHO);
}

/* grad_rho = grad_mu * eps * sigmoid(rho) over n elements. */
static void derive_rho(const float *grad_mu, const float *eps, const float *rho, int64_t n,
                       float *grad_rho)
{
    #pragma omp parallel for schedule(static) if (n >= 32768)
    for (int64_t i = 0; i < n; i++)
        grad_rho[i] = grad_mu[i] * eps[i] * vecmath_sigmoid(rho[i]);
}

bnn_status bayes_derive_rho_grads(const bnn_kernel_args *args, const uint64_t *redraw_step,
                                  const bayes_grads *g, float kl_scale, double *kl,
                                  const bayes_slice *slice, size_t *checked, bnn_diag *diag)
{
    reparam_layout l;
    BNN_TRY(reparam_layout_get(args, &l, diag));
    float prior_mu = 0, prior_sigma = 1;
    if (kl) {
        *kl = 0;
        prior_mu = bnn_node_float(args->node, "prior_mu", BNN_PRIOR_MU_DEFAULT);
        prior_sigma = bnn_node_float(args->node, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
        char label[300];
        if (!(prior_sigma > 0) || !isfinite(prior_sigma))
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: prior_sigma %g is not a positive number",
                            bnn_node_label(args->graph, args->node_id, label, sizeof label),
                            prior_sigma);
    }
    const float *eps_w = l.eps_w, *eps_b = l.eps_b;
    /* the sampling's sigma and sigmoid, when this step's forward kept them */
    bool cached = l.sigma_w && !redraw_step;
    float *drawn = NULL;
    if (redraw_step || !eps_w) { /* the draws of reparam_sample, again */
        drawn = malloc((size_t)(l.nw + l.nb + 1) * sizeof(float));
        if (!drawn)
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory drawing %lld weights",
                            (long long)(l.nw + l.nb));
        bnn_rng_stream s = bnn_rng_stream_make(args->seed, args->node_id,
                                               BNN_RNG_PURPOSE_WEIGHTS,
                                               redraw_step ? *redraw_step : args->step);
        bnn_rng_normal(&s, 0, (size_t)l.nw, drawn);
        if (l.bias_random)
            bnn_rng_normal(&s, (uint64_t)l.nw, (size_t)l.nb, drawn + l.nw);
        eps_w = drawn;
        eps_b = drawn + l.nw;
    }
    /* the weight's pair, then the bias's when it has a rho */
    struct {
        const float *mu, *rho, *eps, *prior, *sigma, *sig;
        float *grad_mu, *grad_rho;
        bool derive;
        int64_t n, off_mu, off_rho;
    } pairs[2] = {
        {args->inputs[IN_WMU].data, args->inputs[IN_WRHO].data, eps_w,
         input_present(args, IN_WPRIOR) ? args->inputs[IN_WPRIOR].data : NULL,
         cached ? l.sigma_w : NULL, cached ? l.sig_w : NULL, g->mu_w, g->rho_w, g->derive_w,
         l.nw, g->off_mu_w, g->off_rho_w},
        {l.bias_random ? args->inputs[IN_BMU].data : NULL,
         l.bias_random ? args->inputs[IN_BRHO].data : NULL, eps_b,
         input_present(args, IN_BPRIOR) ? args->inputs[IN_BPRIOR].data : NULL,
         cached ? l.sigma_b : NULL, cached ? l.sig_b : NULL, g->mu_b, g->rho_b,
         g->derive_b && l.bias_random, l.nb, g->off_mu_b, g->off_rho_b},
    };
    bayes_mixture mix;
    bool mixture = false;
    if (kl) {
        bnn_status st = bayes_mixture_of(args->node, &mix, &mixture, diag);
        if (st != BNN_OK) {
            free(drawn);
            return st;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (!pairs[k].rho)
            continue;
        if (slice) { /* a rank's share (bnn_session_finish_param_grads_slice) */
            int64_t a, b;
            bayes_slice_clip(slice, pairs[k].off_mu, pairs[k].n, &a, &b);
            if (pairs[k].derive && (mixture || !kl) && b > a) /* the data's rho gradient */
                derive_rho(pairs[k].grad_mu + a, pairs[k].eps + a, pairs[k].rho + a, b - a,
                           pairs[k].grad_rho + a);
            if (kl) /* (a derived pair's data gradient fused into the Gaussian's pass) */
                *kl += bayes_kl_pass_slice(pairs[k].mu, pairs[k].rho, pairs[k].eps,
                                           pairs[k].derive, pairs[k].prior, (size_t)pairs[k].n,
                                           prior_mu, prior_sigma, mixture ? &mix : NULL,
                                           kl_scale, pairs[k].grad_mu, pairs[k].grad_rho,
                                           pairs[k].off_mu, pairs[k].off_rho, slice);
            continue;
        }
        if (mixture) { /* the data's rho gradient, then the sampled KL's */
            if (pairs[k].derive)
                derive_rho(pairs[k].grad_mu, pairs[k].eps, pairs[k].rho, pairs[k].n,
                           pairs[k].grad_rho);
            *kl += bayes_mixture_kl_pass(pairs[k].mu, pairs[k].rho, pairs[k].eps, pairs[k].prior,
                                         (size_t)pairs[k].n, &mix, kl_scale, pairs[k].grad_mu,
                                         pairs[k].grad_rho);
        } else if (kl && checked && pairs[k].derive) { /* and the finite check, in the pass */
            bool finite = false;
            *kl += bayes_kl_pass_checked(pairs[k].mu, pairs[k].rho, pairs[k].eps,
                                         pairs[k].sigma, pairs[k].sig, pairs[k].prior,
                                         (size_t)pairs[k].n, prior_mu, prior_sigma, kl_scale,
                                         pairs[k].grad_mu, pairs[k].grad_rho, &finite);
            if (finite)
                *checked += 2 * (size_t)pairs[k].n;
        } else if (kl)
            *kl += bayes_kl_pass(pairs[k].mu, pairs[k].rho, pairs[k].derive ? pairs[k].eps : NULL,
                                 pairs[k].prior, (size_t)pairs[k].n, prior_mu, prior_sigma,
                                 kl_scale, pairs[k].grad_mu, pairs[k].grad_rho);
        else if (pairs[k].derive)
            derive_rho(pairs[k].grad_mu, pairs[k].eps, pairs[k].rho, pairs[k].n,
                       pairs[k].grad_rho);
    }
    free(drawn);
    return BNN_OK;
}

/* grad_mu += gw; grad_rho += gw * eps * sigmoid(rho). */
static void reparam_param_grads(const float *gw, const float *eps, const float *rho, int64_t n,
                                float *grad_mu, float *grad_rho)
{
    if (grad_mu)
        for (int64_t i = 0; i < n; i++)
            grad_mu[i] += gw[i];
    if (grad_rho) {
        #pragma omp parallel for schedule(static) if (n >= 32768)
        for (int64_t i = 0; i < n; i++)
            grad_rho[i] += gw[i] * eps[i] * vecmath_sigmoid(rho[i]);
    }
}

static void reparam_backward_params(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                    const reparam_layout *l, const float *gw, const float *gb)
{
    bnn_tensor *gi = grads->grad_inputs;
    reparam_param_grads(gw, l->eps_w, args->inputs[IN_WRHO].data, l->nw, gi[IN_WMU].data,
                        gi[IN_WRHO].data);
    if (l->has_bias)
        reparam_param_grads(gb, l->eps_b,
                            l->bias_random ? args->inputs[IN_BRHO].data : l->eps_b, l->nb,
                            gi[IN_BMU].data, l->bias_random ? gi[IN_BRHO].data : NULL);
}

static bool wants_param_grads(const bnn_kernel_args *args, const bnn_kernel_grads *grads)
{
    for (int k = IN_WMU; k <= IN_BRHO; k++)
        if (input_present(args, k) && grads->grad_inputs[k].data)
            return true;
    return false;
}

/* Whether the layer's dW and db may be added straight into the mu gradients
 * (no scratch copy, no zeroing, no second pass): when nothing else is asked
 * of them, i.e. every rho gradient wanted is derived after the sweep
 * (bayes_rho_derivable: the plan then gives the kernel none) and the mu
 * gradients are there.  Kernels accumulate, so the sum lands where the
 * scratch path's grad_mu += gw put it, with the same bits on a zeroed
 * gradient (0 + x = x). */
static bool direct_param_grads(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               const reparam_layout *l)
{
    const bnn_tensor *gi = grads->grad_inputs;
    if (!gi[IN_WMU].data || (input_present(args, IN_WRHO) && gi[IN_WRHO].data))
        return false;
    if (!l->has_bias)
        return true;
    return gi[IN_BMU].data && !(l->bias_random && gi[IN_BRHO].data);
}

/* db[o] += the sum of g[r, o] over the rows, row by row. */
static void bias_grad_add(const float *g, int64_t rows, int64_t out, float *db)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++)
            db[o] += g[r * out + o];
}

/* ---- bnn.dense_reparam -------------------------------------------------- */

/* x [..., in] seen as [m, in]; w [out, in]; y [m, out]. */
bnn_status bayes_dense_dims(const bnn_kernel_args *args, int64_t *m, int64_t *in, int64_t *out,
                            bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[IN_X], *w = &args->inputs[IN_WMU];
    char label[300];
    if (w->shape.rank != 2 || x->shape.rank < 1 || x->dtype != BNN_F32 ||
        x->shape.dims[x->shape.rank - 1] != w->shape.dims[1])
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: input and weight do not fit (x [..., in], w [out, in])",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    *in = w->shape.dims[1];
    *out = w->shape.dims[0];
    *m = *in ? bnn_tensor_numel(x) / *in : 0;
    if (bnn_tensor_numel(&args->outputs[0]) != *m * *out ||
        (input_present(args, IN_BMU) && bnn_tensor_numel(&args->inputs[IN_BMU]) != *out))
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: output or bias does not fit the weight",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    return BNN_OK;
}

static size_t dense_reparam_scratch_size(const bnn_kernel_args *args)
{
    int est = estimator_of(args);
    if (est > BAYES_REPARAM)
        return bayes_est_scratch_size(args, (bayes_estimator)est, false);
    reparam_layout l;
    int64_t m = 0, in = 0, out = 0;
    if (reparam_layout_get(args, &l, NULL) != BNN_OK || bayes_dense_dims(args, &m, &in, &out, NULL) != BNN_OK)
        return 0;
    /* the forward product, backward's dx product, then backward's dW and db
     * (after dx is done, so they may share the bytes) */
    size_t size = (size_t)(l.nw + l.nb) * sizeof(float);
    size_t fwd = nn_gemm_scratch_size(BNN_F32, m, out, in);
    size_t dx = nn_gemm_scratch_size(BNN_F32, m, in, out);
    size = fwd > size ? fwd : size;
    return dx > size ? dx : size;
}

static bnn_status dense_reparam_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bayes_estimator est;
    BNN_TRY(bayes_estimator_get(args, &est, diag));
    if (est != BAYES_REPARAM)
        return bayes_est_forward(args, est, false, diag);
    int64_t m, in, out;
    reparam_layout l;
    BNN_TRY(reparam_layout_get(args, &l, diag));
    BNN_TRY(bayes_dense_dims(args, &m, &in, &out, diag));
    reparam_sample(args, &l);
    float *y = args->outputs[0].data;
    if (m && out && in)
        nn_gemm(BNN_F32, false, true, m, out, in, 1.0f, args->inputs[IN_X].data, in, l.w, in, 0.0f,
                y, out, l.has_bias ? l.b : NULL, args->scratch);
    else
        for (int64_t r = 0; r < m; r++)
            if (l.has_bias)
                memcpy(y + r * out, l.b, (size_t)out * sizeof(float));
            else
                memset(y + r * out, 0, (size_t)out * sizeof(float));
    return BNN_OK;
}

static bnn_status dense_reparam_backward(const bnn_kernel_args *args,
                                         const bnn_kernel_grads *grads, bnn_diag *diag)
{
    bayes_estimator est;
    BNN_TRY(bayes_estimator_get(args, &est, diag));
    if (est != BAYES_REPARAM)
        return bayes_est_backward(args, grads, est, false, diag);
    int64_t m, in, out;
    reparam_layout l;
    BNN_TRY(reparam_layout_get(args, &l, diag));
    BNN_TRY(bayes_dense_dims(args, &m, &in, &out, diag));
    const float *g = grads->grad_outputs[0].data, *x = args->inputs[IN_X].data;
    float *gx = grads->grad_inputs[IN_X].data;
    if (gx && m && out && in)
        nn_gemm(BNN_F32, false, false, m, in, out, 1.0f, g, out, l.w, in, 1.0f, gx, in, NULL,
                args->scratch);
    if (!wants_param_grads(args, grads))
        return BNN_OK;
    bnn_tensor *gi = grads->grad_inputs;
    if (direct_param_grads(args, grads, &l)) { /* dW and db straight into the mu gradients */
        if (m && out && in)
            nn_gemm(BNN_F32, true, false, out, in, m, 1.0, g, out, x, in, 1.0, gi[IN_WMU].data,
                    in, NULL, NULL);
        if (l.has_bias)
            bias_grad_add(g, m, out, gi[IN_BMU].data);
        return BNN_OK;
    }
    float *gw = args->scratch, *gb = gw + l.nw;
    if (m && out && in) /* beta 0: the product overwrites gw */
        nn_gemm(BNN_F32, true, false, out, in, m, 1.0, g, out, x, in, 0.0, gw, in, NULL, NULL);
    else
        memset(gw, 0, (size_t)l.nw * sizeof(float));
    if (l.has_bias) {
        memset(gb, 0, (size_t)l.nb * sizeof(float));
        bias_grad_add(g, m, out, gb);
    }
    reparam_backward_params(args, grads, &l, gw, gb);
    return BNN_OK;
}

static size_t dense_reparam_state_size(const bnn_kernel_args *args)
{
    int est = estimator_of(args);
    return est > BAYES_REPARAM ? bayes_est_state_size(args, (bayes_estimator)est, false)
                               : reparam_state_size(args);
}

const bnn_kernel bnn_kernel_dense_reparam = {
    .forward = dense_reparam_forward,
    .backward = dense_reparam_backward,
    .scratch_size = dense_reparam_scratch_size,
    .state_size = dense_reparam_state_size,
};

/* ---- bnn.conv_reparam, bnn.conv_transpose_reparam: sample, then the layer's
 * own kernel (conv.c, conv_transpose.c) ---------------------------------- */

/* The deterministic layer's kernel (ops.def PAIR: conv or conv_transpose). */
static const bnn_kernel *layer_kernel(const bnn_kernel_args *args)
{
    return bnn_kernel_get(bnn_op_get(args->node->op)->pair);
}

/* Args for the layer's kernel: the same node (its strides, pads, dilations,
 * group and output_padding attributes have the layer's names), x, and the
 * sampled weight and bias in place of mu and rho.  The layer's scratch comes
 * first in ours. */
static void conv_args(const bnn_kernel_args *args, const reparam_layout *l, bnn_tensor tin[3],
                      bnn_kernel_args *cargs)
{
    *cargs = *args;
    tin[0] = args->inputs[IN_X];
    tin[1] = args->inputs[IN_WMU];
    tin[1].data = l->w;
    tin[1].owns_data = false;
    tin[2] = l->has_bias ? args->inputs[IN_BMU] : (bnn_tensor){0};
    tin[2].data = l->has_bias ? l->b : NULL;
    tin[2].owns_data = false;
    cargs->inputs = tin;
    cargs->n_inputs = l->has_bias ? 3 : 2;
    cargs->state = NULL;
}

static size_t conv_scratch(const bnn_kernel_args *cargs)
{
    const bnn_kernel *conv = layer_kernel(cargs);
    return conv->scratch_size ? ALIGN64(conv->scratch_size(cargs)) : 0;
}

static size_t conv_reparam_scratch_size(const bnn_kernel_args *args)
{
    int est = estimator_of(args);
    if (est > BAYES_REPARAM)
        return bayes_est_scratch_size(args, (bayes_estimator)est, true);
    reparam_layout l;
    if (reparam_layout_get(args, &l, NULL) != BNN_OK)
        return 0;
    bnn_tensor tin[3];
    bnn_kernel_args cargs;
    conv_args(args, &l, tin, &cargs);
    return conv_scratch(&cargs) + (size_t)(l.nw + l.nb) * sizeof(float);
}

static bnn_status conv_reparam_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bayes_estimator est;
    BNN_TRY(bayes_estimator_get(args, &est, diag));
    if (est != BAYES_REPARAM)
        return bayes_est_forward(args, est, true, diag);
    reparam_layout l;
    BNN_TRY(reparam_layout_get(args, &l, diag));
    reparam_sample(args, &l);
    bnn_tensor tin[3];
    bnn_kernel_args cargs;
    conv_args(args, &l, tin, &cargs);
    return layer_kernel(args)->forward(&cargs, diag);
}

static bnn_status conv_reparam_backward(const bnn_kernel_args *args,
                                        const bnn_kernel_grads *grads, bnn_diag *diag)
{
    bayes_estimator est;
    BNN_TRY(bayes_estimator_get(args, &est, diag));
    if (est != BAYES_REPARAM)
        return bayes_est_backward(args, grads, est, true, diag);
    reparam_layout l;
    BNN_TRY(reparam_layout_get(args, &l, diag));
    bnn_tensor tin[3];
    bnn_kernel_args cargs;
    conv_args(args, &l, tin, &cargs);
    const bnn_kernel *conv = layer_kernel(args);
    char label[300];
    if (!conv->backward)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: the layer's kernel has no backward",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    bool params = wants_param_grads(args, grads);
    /* the layer's kernel accumulates dW and db: straight into the mu
     * gradients when it may (direct_param_grads), else into zeroed scratch */
    bool direct = params && direct_param_grads(args, grads, &l);
    float *gw = (float *)((unsigned char *)args->scratch + conv_scratch(&cargs));
    float *gb = gw + l.nw;
    if (direct) {
        gw = grads->grad_inputs[IN_WMU].data;
        gb = l.has_bias ? grads->grad_inputs[IN_BMU].data : NULL;
    }
    bnn_tensor gin[3];
    gin[0] = grads->grad_inputs[IN_X];
    gin[1] = tin[1];
    gin[1].data = params ? gw : NULL;
    gin[2] = tin[2];
    gin[2].data = params && l.has_bias ? gb : NULL;
    if (params && !direct)
        memset(gw, 0, (size_t)(l.nw + l.nb) * sizeof(float));
    bnn_kernel_grads cgrads = {grads->grad_outputs, gin};
    BNN_TRY(conv->backward(&cargs, &cgrads, diag));
    if (params && !direct)
        reparam_backward_params(args, grads, &l, gw, gb);
    return BNN_OK;
}

static size_t conv_reparam_state_size(const bnn_kernel_args *args)
{
    int est = estimator_of(args);
    return est > BAYES_REPARAM ? bayes_est_state_size(args, (bayes_estimator)est, true)
                               : reparam_state_size(args);
}

const bnn_kernel bnn_kernel_conv_reparam = {
    .forward = conv_reparam_forward,
    .backward = conv_reparam_backward,
    .scratch_size = conv_reparam_scratch_size,
    .state_size = conv_reparam_state_size,
};

/* The same code: conv_args hands the node to conv_transpose.c's kernel. */
const bnn_kernel bnn_kernel_conv_transpose_reparam = {
    .forward = conv_reparam_forward,
    .backward = conv_reparam_backward,
    .scratch_size = conv_reparam_scratch_size,
    .state_size = conv_reparam_state_size,
};
