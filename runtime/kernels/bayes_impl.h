/* What runtime/k_bayes.c (the Bayesian layers and their reparam estimator)
 * and runtime/k_bayes_estimators.c (the local and flipout estimators) share:
 * the fast softplus/sigmoid, the estimator attribute, the checks of the
 * mu/rho operands, and the estimators' entry points.  Internal to runtime/. */
#ifndef BNN_BAYES_IMPL_H
#define BNN_BAYES_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel.h"

/* The operands of bnn.dense_reparam and bnn.conv_reparam. */
enum { BAYES_IN_X, BAYES_IN_WMU, BAYES_IN_WRHO, BAYES_IN_BMU, BAYES_IN_BRHO };

/* The node's `estimator` attribute. */
typedef enum bayes_estimator {
    BAYES_REPARAM, /* one weight draw per pass, shared by the batch */
    BAYES_FLIPOUT, /* one draw, decorrelated per example by random signs */
    BAYES_LOCAL,   /* local reparameterisation: noise on the outputs */
} bayes_estimator;

/* Reads the estimator; an unknown name fails naming the node. */
bnn_status bayes_estimator_get(const bnn_kernel_args *args, bayes_estimator *est, bnn_diag *diag);

/* The mu/rho operands checked (same shapes, f32): nw weights, nb biases
 * (0 without a bias); bias_random when the bias has a rho. */
typedef struct bayes_params {
    int64_t nw, nb;
    bool has_bias, bias_random;
} bayes_params;
bnn_status bayes_params_get(const bnn_kernel_args *args, bayes_params *p, bnn_diag *diag);

/* Dense: x [..., in] seen as [m, in], w [out, in], y [m, out], checked. */
bnn_status bayes_dense_dims(const bnn_kernel_args *args, int64_t *m, int64_t *in, int64_t *out,
                            bnn_diag *diag);

bool bayes_input_present(const bnn_kernel_args *args, int k);

/* The local and flipout estimators of both layers (conv: bnn.conv_reparam). */
size_t bayes_est_state_size(const bnn_kernel_args *args, bayes_estimator est, bool conv);
size_t bayes_est_scratch_size(const bnn_kernel_args *args, bayes_estimator est, bool conv);
bnn_status bayes_est_forward(const bnn_kernel_args *args, bayes_estimator est, bool conv,
                             bnn_diag *diag);
bnn_status bayes_est_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                              bayes_estimator est, bool conv, bnn_diag *diag);

/* exp(y) for y <= 0 (below -87 it returns exp(-87)), in plain float
 * arithmetic that vectorises: y = n ln 2 + r with |r| <= ln2 / 2 + a little,
 * a degree-7 polynomial for exp(r), and 2^n from the exponent bits. */
static inline float bayes_exp_nonpositive(float y)
{
    /* a clamp to -87 as a bitwise select: the compiler keeps the loop
     * vectorised (a ?: here stops it), and -inf still gives exp(-87); so
     * does NaN (its conversion to int below would be undefined) */
    uint32_t yb, lb, mask = 0u - (uint32_t)!(y >= -87.0f);
    const float lim = -87.0f;
    memcpy(&yb, &y, sizeof yb);
    memcpy(&lb, &lim, sizeof lb);
    yb = (lb & mask) | (yb & ~mask);
    memcpy(&y, &yb, sizeof y);
    int32_t n = (int32_t)(y * 1.44269504088896341f - 0.5f);
    float fn = (float)n;
    float r = (y - fn * 0.693145751953125f) - fn * 1.42860682030941723e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log(1 + e) for e in [0, 1]: 2 atanh(t), t = e / (2 + e) <= 1/3, accurate
 * for tiny e too. */
static inline float bayes_log1p_unit(float e)
{
    float t = e / (2.0f + e), t2 = t * t;
    float p = 1.0f / 15;
    p = p * t2 + 1.0f / 13;
    p = p * t2 + 1.0f / 11;
    p = p * t2 + 1.0f / 9;
    p = p * t2 + 1.0f / 7;
    p = p * t2 + 1.0f / 5;
    p = p * t2 + 1.0f / 3;
    p = p * t2 + 1.0f;
    return 2.0f * t * p;
}

/* The sampling loops run these on every weight of every forward and
 * backward, so they avoid libm calls (which do not vectorise); within a few
 * float ulp of the exact values (tests/kernels_elem/test_bayes.c). */
static inline float bayes_softplus(float x)
{
    return (x > 0 ? x : 0.0f) + bayes_log1p_unit(bayes_exp_nonpositive(-fabsf(x)));
}

static inline float bayes_sigmoid(float x)
{
    float e = bayes_exp_nonpositive(-fabsf(x));
    return (x >= 0 ? 1.0f : e) / (1.0f + e);
}

#endif
