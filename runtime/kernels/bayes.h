/* Helpers for Bayesian layers outside their kernels: the closed-form KL term
 * of a Gaussian posterior N(mu, softplus(rho)^2) against a Gaussian prior
 * N(prior_mu, prior_sigma^2), and its gradient.  The training loop sums it
 * over every weight and bias of every Bayesian layer (runtime/k_bayes.c). */
#ifndef BNN_BAYES_H
#define BNN_BAYES_H

#include <stddef.h>

/* sigma = softplus(rho) = log(1 + exp(rho)), computed without overflow, the
 * same function the Bayesian kernels sample with; and sigmoid(x), its
 * derivative. */
float bnn_softplus(float rho);
float bnn_sigmoid(float x);

/* Sum over the n elements of
 *   log(prior_sigma / sigma) + (sigma^2 + (mu - prior_mu)^2) / (2 prior_sigma^2) - 1/2
 * with sigma = softplus(rho), accumulated in double. */
double bnn_gaussian_kl(const float *mu, const float *rho, size_t n, float prior_mu,
                       float prior_sigma);

/* Accumulates scale * d(KL)/d(mu) into grad_mu and scale * d(KL)/d(rho) into
 * grad_rho (either may be NULL):
 *   dKL/dmu  = (mu - prior_mu) / prior_sigma^2
 *   dKL/drho = (sigma / prior_sigma^2 - 1 / sigma) * sigmoid(rho) */
void bnn_gaussian_kl_backward(const float *mu, const float *rho, size_t n, float prior_mu,
                              float prior_sigma, float scale, float *grad_mu, float *grad_rho);

#endif
