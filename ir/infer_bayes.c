/* Shape inference for the Bayesian layers (runtime/kernels/bayes.c):
 * bnn.dense_reparam, bnn.conv_reparam and bnn.conv_transpose_reparam take
 * their deterministic layer's shapes (infer_dense_like, infer_conv_like,
 * infer_conv_transpose_like) once the posterior operands
 * agree: each rho (and prior mean, when given) shaped like its mu, both
 * biases or none, a positive prior sigma and a known estimator.  Dispatch and the shared helpers are in
 * infer.c. */
#include <math.h>
#include <string.h>

#include "infer_impl.h"

/* The same shape, for a Bayesian layer's rho beside its mu. */
static bnn_status same_shape(infer_ctx *c, int k, int like)
{
    const bnn_shape *a = &infer_input(c, k)->shape, *b = &infer_input(c, like)->shape;
    bool bad = a->rank >= 0 && b->rank >= 0 && a->rank != b->rank;
    for (int i = 0; !bad && a->rank >= 0 && i < a->rank && i < b->rank; i++)
        bad = infer_dims_conflict(a->dims[i], b->dims[i]);
    if (bad)
        return infer_fail(c, "input '%s' has shape %s, expected the shape of '%s' %s",
                          infer_name(c, k), infer_type(c, k), infer_name(c, like),
                          infer_type(c, like));
    return BNN_OK;
}

/* The scale-mixture prior (prior_pi given): its numbers, and the reparam
 * estimator, whose weight draw its sampled KL is taken at. */
static bnn_status mixture(infer_ctx *c, const char *est)
{
    if (!bnn_node_attr(c->node, "prior_pi"))
        return BNN_OK;
    float pi = bnn_node_float(c->node, "prior_pi", 0.5f);
    float s2 = bnn_node_float(c->node, "prior_sigma2", 1.0f);
    if (!(pi > 0.0f && pi < 1.0f) || !(s2 > 0.0f) || !isfinite(s2))
        return infer_fail(c, "scale-mixture prior: prior_pi %g must be in (0, 1) and "
                          "prior_sigma2 %g positive", (double)pi, (double)s2);
    if (strcmp(est, "reparam") != 0 || c->node->op == BNN_OP_WEIGHT_REPARAM)
        return infer_fail(c, "the scale-mixture prior (prior_pi) needs a layer with the reparam "
                          "estimator (its KL is sampled at the layer's weight draw)");
    return BNN_OK;
}

/* Inputs x, w_mu, w_rho, b_mu?, b_rho?: rho beside its mu, both biases or none. */
static bnn_status reparam_inputs(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    if (!infer_input(c, 3) != !infer_input(c, 4))
        return infer_fail(c, "has %s but not %s; a Bayesian bias needs both",
                          infer_input(c, 3) ? "bias_mu" : "bias_rho",
                          infer_input(c, 3) ? "bias_rho" : "bias_mu");
    float sigma = bnn_node_float(c->node, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
    if (!(sigma > 0.0f))
        return infer_fail(c, "attribute 'prior_sigma' is %g, expected > 0", (double)sigma);
    const char *est = bnn_node_string(c->node, "estimator", "reparam");
    if (strcmp(est, "reparam") && strcmp(est, "flipout") && strcmp(est, "local"))
        return infer_fail(c, "attribute 'estimator' is \"%s\", expected reparam, flipout or local",
                          est);
    BNN_TRY(mixture(c, est));
    BNN_TRY(same_shape(c, 2, 1));
    if (infer_input(c, 4))
        BNN_TRY(same_shape(c, 4, 3));
    /* the prior's means (to-bnn{prior_mu=weights}): each like its mu */
    if (infer_input(c, 5))
        BNN_TRY(same_shape(c, 5, 1));
    if (infer_input(c, 6)) {
        if (!infer_input(c, 3))
            return infer_fail(c, "has bias_prior but no bias");
        BNN_TRY(same_shape(c, 6, 3));
    }
    return BNN_OK;
}

bnn_status bnn_infer_dense_reparam(infer_ctx *c)
{
    BNN_TRY(reparam_inputs(c));
    return infer_dense_like(c, 1, 3);
}

bnn_status bnn_infer_conv_reparam(infer_ctx *c)
{
    BNN_TRY(reparam_inputs(c));
    return infer_conv_like(c, 0, 1, 3);
}

bnn_status bnn_infer_conv_transpose_reparam(infer_ctx *c)
{
    BNN_TRY(reparam_inputs(c));
    return infer_conv_transpose_like(c, 3);
}

/* mu, rho alike (f32, one shape); the output is mu's.  Only the reparam
 * estimator: local and flipout need the layer's product. */
bnn_status bnn_infer_weight_reparam(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    float sigma = bnn_node_float(c->node, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT);
    if (!(sigma > 0.0f))
        return infer_fail(c, "attribute 'prior_sigma' is %g, expected > 0", (double)sigma);
    const char *est = bnn_node_string(c->node, "estimator", "reparam");
    if (strcmp(est, "reparam") != 0)
        return infer_fail(c, "attribute 'estimator' is \"%s\"; a weight on its own is sampled "
                          "with reparam only", est);
    BNN_TRY(mixture(c, est));
    BNN_TRY(same_shape(c, 1, 0));
    if (infer_input(c, 2))
        BNN_TRY(same_shape(c, 2, 0));
    c->out_dtype = infer_first_dtype(c);
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}
