/* Helpers for Bayesian layers outside their kernels: the closed-form KL term
 * of a Gaussian posterior N(mu, softplus(rho)^2) against a Gaussian prior
 * N(prior_mu, prior_sigma^2), and its gradient (runtime/kernels/bayes_kl.c).
 * The trainer sums it over every Bayesian node (train/train.c). */
#ifndef BNN_BAYES_H
#define BNN_BAYES_H

#include <stddef.h>

#include "bnn_ir.h"

/* sigma = softplus(rho) = log(1 + exp(rho)), computed without overflow, the
 * same function the Bayesian kernels sample with and the KL uses
 * (vecmath.h); and sigmoid(x), its derivative. */
float bnn_softplus(float rho);
float bnn_sigmoid(float x);

/* Where the KL's gradient for param value_id goes: scale times the gradient
 * is added to the floats returned (the param's shape, row-major); NULL for
 * none. */
typedef float *bnn_kl_grad_fn(void *ctx, int value_id);

/* The KL of node node_id of g, 0 unless it is a live Bayesian node
 * (bnn_op_is_bayesian): its weight's (mu, rho) and its bias's, when the bias
 * has a rho, against the node's prior (attributes prior_mu and prior_sigma,
 * else BNN_PRIOR_MU_DEFAULT and BNN_PRIOR_SIGMA_DEFAULT), into *kl.  With
 * grad_of (may be NULL), scale times its gradient is added where grad_of(ctx,
 * value) says.  The sum is the same, bit for bit, for any thread count and
 * whether or not gradients are asked for.  Fails, naming the node, on a
 * prior_sigma that is not positive, or a mu and rho that are not f32 params
 * of the same size. */
bnn_status bnn_bayes_node_kl(const bnn_graph *g, int node_id, float scale,
                             bnn_kl_grad_fn *grad_of, void *ctx, double *kl, bnn_diag *diag);

/* The same pass over n elements of bare arrays: returns the sum over them of
 *   log(prior_sigma / sigma) + (sigma^2 + (mu - prior_mu)^2) / (2 prior_sigma^2) - 1/2
 * with sigma = softplus(rho), accumulated in double, and adds
 * scale * d(KL)/d(mu) to grad_mu and scale * d(KL)/d(rho) to grad_rho (either
 * may be NULL):
 *   dKL/dmu  = (mu - prior_mu) / prior_sigma^2
 *   dKL/drho = (sigma / prior_sigma^2 - 1 / sigma) * sigmoid(rho) */
double bnn_gaussian_kl_pass(const float *mu, const float *rho, size_t n, float prior_mu,
                            float prior_sigma, float scale, float *grad_mu, float *grad_rho);

/* bnn_gaussian_kl_pass for the value alone, and for the gradients alone. */
double bnn_gaussian_kl(const float *mu, const float *rho, size_t n, float prior_mu,
                       float prior_sigma);
void bnn_gaussian_kl_backward(const float *mu, const float *rho, size_t n, float prior_mu,
                              float prior_sigma, float scale, float *grad_mu, float *grad_rho);

#endif
