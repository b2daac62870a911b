/* The Gaussian likelihood of a regressor with a learned homoscedastic noise
 * scale, and the model-file param that holds the scale
 * (docs/uncertainty.md, "Regression"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_train.h"

/* log(2 pi) */
#define LOG_2PI 1.8378770664093454836

bnn_status bnn_gaussian_nll(const float *pred, const float *target, int64_t n, int64_t k,
                            const float *log_sigma, int64_t n_sigma, float scale, double *loss,
                            float *grad, double *log_sigma_grad, bnn_diag *diag)
{
    if (n_sigma != 1 && n_sigma != k)
        return bnn_fail(diag, BNN_ERR_SHAPE, "the noise scale has %lld values for %lld outputs "
                        "(one shared, or one per output)", (long long)n_sigma, (long long)k);
    for (int64_t j = 0; j < n_sigma; j++)
        if (!isfinite(log_sigma[j]))
            return bnn_fail(diag, BNN_ERR_NUMERIC, "the noise scale's log sigma %lld is %g",
                            (long long)j, (double)log_sigma[j]);
    if (log_sigma_grad)
        memset(log_sigma_grad, 0, sizeof(double) * (size_t)n_sigma);
    double f = n ? (double)scale / (double)n : 0, total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            int64_t e = i * k + j, js = n_sigma == 1 ? 0 : j;
            double t = target[e];
            if (!isfinite(t))
                return bnn_fail(diag, BNN_ERR_INVALID, "target %lld of row %lld is %s",
                                (long long)j, (long long)i, isnan(t) ? "NaN" : "infinite");
            double r = log_sigma[js], inv_var = exp(-2 * r), d = t - (double)pred[e];
            /* 0.5 (d^2 / s^2 + log(2 pi s^2)), log s^2 = 2r */
            total += 0.5 * (d * d * inv_var + LOG_2PI) + r;
            if (grad) /* d/df = -(t - f) / s^2 */
                grad[e] = (float)(-d * inv_var * f);
            if (log_sigma_grad) /* d/dr = 1 - d^2 / s^2 */
                log_sigma_grad[js] += (1 - d * d * inv_var) * f;
        }
    *loss = n ? total / (double)n : 0;
    return BNN_OK;
}

int bnn_graph_noise_param(const bnn_graph *g)
{
    int v = bnn_graph_find_value(g, BNN_NOISE_PARAM);
    return v >= 0 && g->values[v].kind == BNN_VALUE_PARAM ? v : -1;
}

bnn_status bnn_graph_noise_sigmas(const bnn_graph *g, int64_t k, double *sigma, bnn_diag *diag)
{
    int v = bnn_graph_noise_param(g);
    if (v < 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "the model has no noise scale ('%s')",
                        BNN_NOISE_PARAM);
    const bnn_value *val = &g->values[v];
    int64_t n = bnn_shape_numel(&val->shape);
    if (val->dtype != BNN_F32 || val->shape.rank != 1 || (n != 1 && n != k))
        return bnn_fail(diag, BNN_ERR_SHAPE, "the noise scale '%s' must be f32 [1] (shared) or "
                        "[%lld] (one per output)", BNN_NOISE_PARAM, (long long)k);
    const float *r = val->data;
    for (int64_t j = 0; j < k; j++) {
        sigma[j] = exp((double)r[n == 1 ? 0 : j]);
        if (!(sigma[j] > 0) || !isfinite(sigma[j]))
            return bnn_fail(diag, BNN_ERR_NUMERIC, "the noise scale '%s' holds log sigma %g",
                            BNN_NOISE_PARAM, (double)r[n == 1 ? 0 : j]);
    }
    return BNN_OK;
}

bnn_status bnn_graph_set_noise_sigmas(bnn_graph *g, const double *sigma, int64_t n,
                                      bnn_diag *diag)
{
    if (n < 1)
        return bnn_fail(diag, BNN_ERR_INVALID, "a noise scale needs at least one value");
    for (int64_t j = 0; j < n; j++)
        if (!(sigma[j] > 0) || !isfinite(sigma[j]))
            return bnn_fail(diag, BNN_ERR_INVALID, "noise sigma %g: expected a finite value "
                            "above 0", sigma[j]);
    int v = bnn_graph_noise_param(g);
    if (v >= 0) {
        bnn_value *val = &g->values[v];
        if (val->dtype != BNN_F32 || bnn_shape_numel(&val->shape) != n)
            return bnn_fail(diag, BNN_ERR_SHAPE, "the model's noise scale '%s' has %lld values, "
                            "not %lld", BNN_NOISE_PARAM, (long long)bnn_shape_numel(&val->shape),
                            (long long)n);
        float *r = val->data;
        for (int64_t j = 0; j < n; j++)
            r[j] = (float)log(sigma[j]);
        return BNN_OK;
    }
    if (bnn_graph_find_value(g, BNN_NOISE_PARAM) >= 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "'%s' names a value that is not a param",
                        BNN_NOISE_PARAM);
    float buf[64], *r = n <= 64 ? buf : malloc(sizeof(float) * (size_t)n);
    if (!r)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n; j++)
        r[j] = (float)log(sigma[j]);
    bnn_shape shape = {.rank = 1, .dims = {n}};
    int id = bnn_graph_add_param(g, BNN_NOISE_PARAM, BNN_F32, &shape, r, sizeof(float) * (size_t)n,
                                 false);
    if (r != buf)
        free(r);
    return id >= 0 ? BNN_OK : bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
}
