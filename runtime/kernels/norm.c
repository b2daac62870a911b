/* Batch normalization with frozen statistics, forward and backward, f32:
 * y = (x - mean) / sqrt(var + epsilon) * scale + bias per channel of
 * x [N, C, ...].  Training treats mean and var as constants (they get no
 * gradient), which is what fine-tuning an imported model wants. */
#include <math.h>

#include "kernel.h"
#include "nn_impl.h"

typedef struct norm_geom {
    int64_t n, c, inner; /* x is [n, c, inner] */
    float epsilon;
} norm_geom;

static bnn_status norm_geometry(const bnn_kernel_args *args, norm_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    for (int i = 0; i < 5; i++)
        BNN_TRY(nn_check_dtype(args, &args->inputs[i], i, false, BNN_F32, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, &args->outputs[0], 0, true, BNN_F32, BNN_UNDEFINED, diag));
    if (x->shape.rank < 2)
        return nn_fail_shape(args, "batch_norm wants x [N, C, ...]", diag);
    g->n = x->shape.dims[0];
    g->c = x->shape.dims[1];
    g->inner = 1;
    for (int i = 2; i < x->shape.rank; i++)
        g->inner *= x->shape.dims[i];
    for (int i = 1; i < 5; i++)
        if (bnn_tensor_numel(&args->inputs[i]) != g->c)
            return nn_fail_shape(args, "scale, bias, mean and var must have C elements", diag);
    if (bnn_tensor_numel(&args->outputs[0]) != bnn_tensor_numel(x))
        return nn_fail_shape(args, "output must have the shape of x", diag);
    g->epsilon = bnn_node_float(args->node, "epsilon", 1e-5f);
    return BNN_OK;
}

static bnn_status batch_norm_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    norm_geom g;
    BNN_TRY(norm_geometry(args, &g, diag));
    const float *x = args->inputs[0].data, *scale = args->inputs[1].data,
                *bias = args->inputs[2].data, *mean = args->inputs[3].data,
                *var = args->inputs[4].data;
    float *y = args->outputs[0].data;
    int64_t planes = g.n * g.c;
#pragma omp parallel for schedule(static) if (planes > 1 && planes * g.inner > NN_OMP_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % g.c;
        /* y = a x + b with the per-channel constants folded */
        float a = scale[c] / sqrtf(var[c] + g.epsilon);
        float b = bias[c] - mean[c] * a;
        const float *xp = x + p * g.inner;
        float *yp = y + p * g.inner;
        for (int64_t i = 0; i < g.inner; i++)
            yp[i] = a * xp[i] + b;
    }
    return BNN_OK;
}

/* Parallel over channels with the batch inside, so each thread owns its
 * channel's scale and bias gradients. */
static bnn_status batch_norm_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                      bnn_diag *diag)
{
    norm_geom g;
    BNN_TRY(norm_geometry(args, &g, diag));
    const float *x = args->inputs[0].data, *scale = args->inputs[1].data,
                *mean = args->inputs[3].data, *var = args->inputs[4].data;
    const float *gy = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[0].data, *gscale = grads->grad_inputs[1].data,
          *gbias = grads->grad_inputs[2].data;
#pragma omp parallel for schedule(static) if (g.c > 1 && g.n * g.c * g.inner > NN_OMP_MIN_WORK)
    for (int64_t c = 0; c < g.c; c++) {
        float inv_std = 1.0f / sqrtf(var[c] + g.epsilon), a = scale[c] * inv_std, mu = mean[c];
        double sum_gy = 0, sum_gy_xhat = 0;
        for (int64_t n = 0; n < g.n; n++) {
            int64_t off = (n * g.c + c) * g.inner;
            const float *xp = x + off, *gyp = gy + off;
            if (gx) {
                float *gxp = gx + off;
                for (int64_t i = 0; i < g.inner; i++)
                    gxp[i] += a * gyp[i];
            }
            float s = 0, sx = 0;
#pragma omp simd reduction(+ : s, sx)
            for (int64_t i = 0; i < g.inner; i++) {
                s += gyp[i];
                sx += gyp[i] * (xp[i] - mu);
            }
            sum_gy += s;
            sum_gy_xhat += (double)sx * inv_std;
        }
        if (gscale)
            gscale[c] += (float)sum_gy_xhat;
        if (gbias)
            gbias[c] += (float)sum_gy;
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_batch_norm = {.forward = batch_norm_forward,
                                          .backward = batch_norm_backward};
