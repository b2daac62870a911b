/* bnn.weight_reparam: a Bayesian weight on its own (ops.def), for layers whose
 * kernel reads its weights as inputs (LSTM, GRU, RNN after
 * to-bnn{layers=recurrent}):
 *   w = mu + softplus(rho) * eps,  eps ~ N(0, 1),
 * eps element i being element i of the stream (seed, node id,
 * BNN_RNG_PURPOSE_WEIGHTS, step) of runtime/rng.h, as the Bayesian layers
 * draw (bayes.c): one draw per forward pass, shared by the batch, a new one
 * when the caller changes the step.  eps stays in `state` for backward:
 *   dL/dmu = dL/dw,  dL/drho = dL/dw * eps * sigmoid(rho).
 * The KL term of (mu, rho) is bayes_kl.c's, like every Bayesian node's. */
#include <string.h>

#include "bayes_impl.h"
#include "kernel.h"
#include "rng.h"
#include "vecmath.h"

enum { IN_MU, IN_RHO };

static bnn_status check(const bnn_kernel_args *args, int64_t *n, bnn_diag *diag)
{
    const bnn_tensor *mu = &args->inputs[IN_MU], *rho = &args->inputs[IN_RHO];
    if (args->n_inputs < 2 || args->n_inputs > 3 || mu->dtype != BNN_F32 || rho->dtype != BNN_F32 ||
        args->outputs[0].dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "mu and rho must be f32");
    if (!bnn_shape_equal(&mu->shape, &rho->shape) ||
        bnn_tensor_numel(&args->outputs[0]) != bnn_tensor_numel(mu))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "mu, rho and the sampled weight must have one shape");
    if (strcmp(bnn_node_string(args->node, "estimator", "reparam"), "reparam") != 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "estimator '%s': a weight on its own is sampled with reparam only",
                               bnn_node_string(args->node, "estimator", "reparam"));
    *n = bnn_tensor_numel(mu);
    return BNN_OK;
}

static size_t weight_state_size(const bnn_kernel_args *args)
{
    if (args->n_inputs < 1)
        return 0;
    return (size_t)bnn_shape_numel(&args->inputs[IN_MU].shape) * sizeof(float);
}

static bnn_status weight_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    int64_t n;
    BNN_TRY(check(args, &n, diag));
    float *eps = args->state, *w = args->outputs[0].data;
    const float *mu = args->inputs[IN_MU].data, *rho = args->inputs[IN_RHO].data;
    bnn_rng_stream s = bnn_rng_stream_make(args->seed, args->node_id, BNN_RNG_PURPOSE_WEIGHTS,
                                           args->step);
    bnn_rng_normal(&s, 0, (size_t)n, eps);
    #pragma omp parallel for schedule(static) if (n >= 32768)
    for (int64_t i = 0; i < n; i++)
        w[i] = mu[i] + vecmath_softplus(rho[i]) * eps[i];
    return BNN_OK;
}

static bnn_status weight_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    int64_t n;
    BNN_TRY(check(args, &n, diag));
    const float *g = grads->grad_outputs[0].data, *eps = args->state;
    const float *rho = args->inputs[IN_RHO].data;
    float *gmu = grads->grad_inputs[IN_MU].data, *grho = grads->grad_inputs[IN_RHO].data;
    if (gmu)
        for (int64_t i = 0; i < n; i++)
            gmu[i] += g[i];
    if (grho) {
        #pragma omp parallel for schedule(static) if (n >= 32768)
        for (int64_t i = 0; i < n; i++)
            grho[i] += g[i] * eps[i] * vecmath_sigmoid(rho[i]);
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_weight_reparam = {
    .forward = weight_forward,
    .backward = weight_backward,
    .state_size = weight_state_size,
};
