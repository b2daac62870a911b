/* What bayes.c (the Bayesian layers and their reparam estimator),
 * bayes_estimators.c (the local and flipout estimators) and bayes_kl.c (the
 * KL term) share:
 * the estimator attribute, the checks of the mu/rho operands, and the
 * estimators' entry points (softplus and sigmoid are vecmath.h's).  Internal
 * to runtime/. */
#ifndef BNN_BAYES_IMPL_H
#define BNN_BAYES_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "bayes.h"
#include "kernel.h"

struct bayes_mixture;

/* The operands of bnn.dense_reparam and bnn.conv_reparam. */
enum { BAYES_IN_X, BAYES_IN_WMU, BAYES_IN_WRHO, BAYES_IN_BMU, BAYES_IN_BRHO, BAYES_IN_WPRIOR,
       BAYES_IN_BPRIOR };

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

/* Whether the node's rho gradients are a function of its mu gradients
 * (estimator reparam: dL/drho = dL/dmu * eps * sigmoid(rho)). */
bool bayes_rho_derivable(const bnn_kernel_args *args);
/* Sets grad_rho_w (and grad_rho_b when the bias has a rho; either may be
 * NULL) to grad_mu * eps * sigmoid(rho), eps the draw in the node's state, or
 * drawn again for step *redraw_step when that is not NULL.  With kl not NULL
 * the node's KL goes into *kl and kl_scale times its gradient is added to
 * the mu and rho gradients in the same pass (a pair whose rho gradient is not
 * derived gets the KL pass alone, into whichever of its gradients is not
 * NULL: grad_mu_w and grad_rho_w are then the other pair's, see backward.c). */
typedef struct bayes_grads {
    float *mu_w, *rho_w, *mu_b, *rho_b; /* NULL: no gradient */
    bool derive_w, derive_b;           /* the rho gradient is derived */
    /* with a slice (below): where each gradient starts in the flat buffer
     * (-1: none) */
    int64_t off_mu_w, off_rho_w, off_mu_b, off_rho_b;
} bayes_grads;

/* A slice [lo, hi) of the flat param-gradient buffer's summed front
 * (bnn_session_finish_param_grads_slice).  A pair whose rho gradient is
 * derived is finished, both gradients and the KL terms, for the elements
 * whose mu gradient lies in the slice; any other pair gets the KL gradient
 * on each of its gradient elements that lie in it, and its KL terms are
 * counted with its mu gradient's elements (its rho's when the mu gets no
 * gradient; the slice that starts at 0 when neither does).  Slices that
 * cover the front once finish every gradient once and count every term
 * once. */
typedef struct bayes_slice {
    size_t lo, hi;
} bayes_slice;

/* bayes_kl_pass (eps not NULL: a derived pair) or, with mix not NULL,
 * bayes_mixture_kl_pass (eps then always given; derive says whether the
 * rho gradient is derived) over the part of a pair of n elements that
 * slice s gives this rank, the pair's gradients starting at flat offsets
 * off_mu and off_rho; s NULL: the whole pair. */
double bayes_kl_pass_slice(const float *mu, const float *rho, const float *eps, bool derive,
                           const float *prior_means, size_t n, float prior_mu,
                           float prior_sigma, const struct bayes_mixture *mix, float scale,
                           float *grad_mu, float *grad_rho, int64_t off_mu, int64_t off_rho,
                           const bayes_slice *s);
/* The elements [*a, *b) of n starting at flat offset off (-1: none) that
 * lie in s. */
void bayes_slice_clip(const bayes_slice *s, int64_t off, int64_t n, int64_t *a, int64_t *b);
/* bnn_bayes_node_kl over a slice: offset_of gives a param's flat offset
 * (-1: no gradient). */
bnn_status bayes_node_kl_slice(const bnn_graph *g, int node_id, float scale,
                               bnn_kl_grad_fn *grad_of, void *ctx,
                               int64_t (*offset_of)(void *ctx, int value_id),
                               const bayes_slice *s, double *kl, bnn_diag *diag);
/* checked (may be NULL) gets the number of gradient floats (mu's and rho's)
 * the pass left and found finite added to it. */
bnn_status bayes_derive_rho_grads(const bnn_kernel_args *args, const uint64_t *redraw_step,
                                  const bayes_grads *g, float kl_scale, double *kl,
                                  const bayes_slice *slice, size_t *checked, bnn_diag *diag);
/* KL(N(mu, sigma^2) || N(prior mean, prior_sigma^2)) summed over n elements,
 * scale times its gradient added to grad_mu and grad_rho (each may be NULL
 * without eps), as bnn_gaussian_kl_pass; prior_means not NULL gives each
 * element's prior mean (prior_mu is then unused).  eps not NULL fuses the
 * derived rho gradient: grad_mu holds dL/dmu on entry; grad_rho is set to
 * dL/dmu * eps * sigmoid(rho) plus scale * dKL/drho, grad_mu gets scale *
 * dKL/dmu added. */
double bayes_kl_pass(const float *mu, const float *rho, const float *eps,
                     const float *prior_means, size_t n, float prior_mu, float prior_sigma,
                     float scale, float *grad_mu, float *grad_rho);
/* bayes_kl_pass that also tells, in *finite (may be NULL), whether every
 * grad_mu and grad_rho element it leaves is finite (both must be given): the
 * trainer then needs no scan of its own over them.  With sigma and sig (and
 * eps) not NULL it derives from softplus(rho) and sigmoid(rho) as the layer's
 * sampling computed them (the same functions, so the same bits) instead of
 * computing them again. */
double bayes_kl_pass_checked(const float *mu, const float *rho, const float *eps,
                             const float *sigma, const float *sig, const float *prior_means,
                             size_t n, float prior_mu, float prior_sigma, float scale,
                             float *grad_mu, float *grad_rho, bool *finite);

/* The scale-mixture prior pi N(m, sigma1^2) + (1 - pi) N(m, sigma2^2) of a
 * node with a prior_pi attribute (bayes_kl.c). */
typedef struct bayes_mixture {
    float pi, mu, sigma1, sigma2;
} bayes_mixture;
/* *has: the node has a prior_pi attribute; then *mix is read and checked. */
bnn_status bayes_mixture_of(const bnn_node *node, bayes_mixture *mix, bool *has, bnn_diag *diag);
/* The one-sample Monte-Carlo KL against the mixture at w = mu + sigma eps
 * (prior_means per element, else mix->mu), scale times its gradient added to
 * grad_mu and grad_rho (each may be NULL); returns the summed estimate. */
double bayes_mixture_kl_pass(const float *mu, const float *rho, const float *eps,
                             const float *prior_means, size_t n, const bayes_mixture *mix,
                             float scale, float *grad_mu, float *grad_rho);

/* The local and flipout estimators of both layers (conv: bnn.conv_reparam). */
size_t bayes_est_state_size(const bnn_kernel_args *args, bayes_estimator est, bool conv);
size_t bayes_est_scratch_size(const bnn_kernel_args *args, bayes_estimator est, bool conv);
bnn_status bayes_est_forward(const bnn_kernel_args *args, bayes_estimator est, bool conv,
                             bnn_diag *diag);
bnn_status bayes_est_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                              bayes_estimator est, bool conv, bnn_diag *diag);

/* sigma = softplus(rho) as the KL pass computes it (bayes_kl.c: the same
 * code, for the CPU's vector width), for the test that it is, bit for bit,
 * the sigma the layers sample with. */
void bayes_kl_sigma(const float *rho, size_t n, float *sigma);

#endif
