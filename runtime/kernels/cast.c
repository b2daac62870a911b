/* cast between element types (ONNX Cast): every integer type, f16, f32, f64
 * and bool, the types bnn_cast_type_ok (ir/cast_impl.h) accepts.  Same-type
 * casts copy, f32 <-> f64 convert directly, everything else goes element by
 * element through convert_impl.h.  The gradient is the identity from f32 to
 * f32; any other cast carries none (its output is not an f32 value the
 * planner gives a gradient). */
#include <string.h>

#include "cast_impl.h"
#include "convert_impl.h"
#include "kernel.h"

static bnn_status fail_dtype(const bnn_kernel_args *args, bnn_diag *diag, bnn_dtype dt,
                             const char *what)
{
    const char *name = bnn_dtype_name(dt);
    return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "%s of element type %s %s not supported",
                           what, name ? name : "?", strchr(what, ' ') ? "are" : "is");
}

static bnn_status cast_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    if (!bnn_cast_type_ok(x->dtype))
        return fail_dtype(args, diag, x->dtype, "input");
    if (!bnn_cast_type_ok(y->dtype))
        return fail_dtype(args, diag, y->dtype, "output");
    if (!bnn_shape_equal(&x->shape, &y->shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output shape differs from the input's");
    int64_t n = bnn_tensor_numel(x);
    if (x->dtype == y->dtype) {
        if (n)
            memcpy(y->data, x->data, bnn_tensor_nbytes(x));
    } else if (x->dtype == BNN_F32 && y->dtype == BNN_F64) {
        const float *s = x->data;
        double *d = y->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i];
    } else if (x->dtype == BNN_F64 && y->dtype == BNN_F32) {
        const double *s = x->data;
        float *d = y->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = (float)s[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            store(y->dtype, y->data, i, load(x->dtype, x->data, i));
    }
    return BNN_OK;
}

static bnn_status cast_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    (void)diag;
    float *gx = grads->grad_inputs[0].data;
    const float *g = grads->grad_outputs[0].data;
    if (!gx || !g || args->inputs[0].dtype != BNN_F32 || args->outputs[0].dtype != BNN_F32)
        return BNN_OK;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    for (int64_t i = 0; i < n; i++)
        gx[i] += g[i];
    return BNN_OK;
}

const bnn_kernel bnn_kernel_cast = {.forward = cast_forward, .backward = cast_backward};
