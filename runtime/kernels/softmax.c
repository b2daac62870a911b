/* softmax and log_softmax along one axis, numerically stable (the maximum is
 * subtracted before exp).
 *
 * axis defaults to -1.  coerce=1 is the pre-13 ONNX meaning: the dims from
 * axis on are flattened into one and normalised together; its axis defaults
 * to 1, as it did in those opsets.  The tensor is seen as [outer, len, inner]
 * and each of the outer*inner lines of len elements, stride inner, is
 * normalised. */
#include <math.h>

#include "kernel.h"
#include "softmax_impl.h"

typedef bnn_axis_lines sm_layout;

static bnn_status sm_setup(const bnn_kernel_args *args, sm_layout *l, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    if (x->dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "?");
    bool coerce = bnn_node_int(args->node, "coerce", 0) != 0;
    int64_t axis = bnn_node_int(args->node, "axis", coerce ? 1 : -1);
    return bnn_kernel_axis_lines(args, x, axis, coerce, l, diag);
}

void bnn_softmax_lines(int64_t outer, int64_t len, int64_t inner, const float *x, float *y,
                       bool log_form)
{
    int64_t lines = outer * inner;
    #pragma omp parallel for schedule(static) if (lines * len >= 32768 && lines > 1)
    for (int64_t line = 0; line < lines; line++) {
        int64_t o = line / inner, in = line % inner;
        const float *xl = x + o * len * inner + in;
        float *yl = y + o * len * inner + in;
        float m = -INFINITY;
        for (int64_t k = 0; k < len; k++)
            m = xl[k * inner] > m ? xl[k * inner] : m;
        if (m == -INFINITY)
            m = 0; /* every element -inf: let the sum give nan as numpy does, not inf-inf */
        double sum = 0;
        for (int64_t k = 0; k < len; k++) {
            float e = expf(xl[k * inner] - m);
            if (!log_form)
                yl[k * inner] = e;
            sum += e;
        }
        if (log_form) {
            float lse = m + (float)log(sum);
            for (int64_t k = 0; k < len; k++)
                yl[k * inner] = xl[k * inner] - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (int64_t k = 0; k < len; k++)
                yl[k * inner] *= inv;
        }
    }
}

static bnn_status sm_forward(const bnn_kernel_args *args, bool log_form, bnn_diag *diag)
{
    sm_layout l = {0, 0, 0};
    BNN_TRY(sm_setup(args, &l, diag));
    bnn_softmax_lines(l.outer, l.len, l.inner, args->inputs[0].data, args->outputs[0].data,
                      log_form);
    return BNN_OK;
}

/* softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g). */
static bnn_status sm_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                              bool log_form, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    sm_layout l = {0, 0, 0};
    BNN_TRY(sm_setup(args, &l, diag));
    const float *y = args->outputs[0].data, *g = grads->grad_outputs[0].data;
    int64_t lines = l.outer * l.inner, len = l.len, inner = l.inner;
    #pragma omp parallel for schedule(static) if (lines * len >= 32768 && lines > 1)
    for (int64_t line = 0; line < lines; line++) {
        int64_t base = (line / inner) * len * inner + line % inner;
        double s = 0;
        for (int64_t k = 0; k < len; k++) {
            int64_t i = base + k * inner;
            s += log_form ? g[i] : g[i] * y[i];
        }
        float fs = (float)s;
        for (int64_t k = 0; k < len; k++) {
            int64_t i = base + k * inner;
            gx[i] += log_form ? g[i] - expf(y[i]) * fs : y[i] * (g[i] - fs);
        }
    }
    return BNN_OK;
}

static bnn_status softmax_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return sm_forward(args, false, diag);
}

static bnn_status log_softmax_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return sm_forward(args, true, diag);
}

static bnn_status softmax_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                   bnn_diag *diag)
{
    return sm_backward(args, grads, false, diag);
}

static bnn_status log_softmax_backward(const bnn_kernel_args *args,
                                       const bnn_kernel_grads *grads, bnn_diag *diag)
{
    return sm_backward(args, grads, true, diag);
}

const bnn_kernel bnn_kernel_softmax = {.forward = softmax_forward, .backward = softmax_backward};
const bnn_kernel bnn_kernel_log_softmax = {.forward = log_softmax_forward,
                                           .backward = log_softmax_backward};
