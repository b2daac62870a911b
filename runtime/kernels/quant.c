/* Linear quantization as ONNX defines it: quantize_linear,
 * dequantize_linear and dynamic_quantize_linear, per tensor or per axis,
 * to and from u8, i8, u16 and i16 (and i32 into dequantize_linear).
 *
 * The arithmetic is ONNX's reference, in f32: x / scale rounded half to
 * even (rintf, in the default rounding mode), plus the zero point, clamped
 * to the type's range; (x - zero_point) * scale back.  No gradients: a
 * quantized value is not trained through. */
#include <math.h>
#include <stdint.h>

#include "kernel.h"

typedef struct qrange {
    float lo, hi;
} qrange;

static bool range_of(bnn_dtype t, qrange *r)
{
    switch (t) {
    case BNN_U8: *r = (qrange){ 0, 255 }; return true;
    case BNN_I8: *r = (qrange){ -128, 127 }; return true;
    case BNN_U16: *r = (qrange){ 0, 65535 }; return true;
    case BNN_I16: *r = (qrange){ -32768, 32767 }; return true;
    default: return false;
    }
}

/* Element i of an integer tensor of a type range_of or i32 knows. */
static float get_int(const bnn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case BNN_U8: return ((const uint8_t *)t->data)[i];
    case BNN_I8: return ((const int8_t *)t->data)[i];
    case BNN_U16: return ((const uint16_t *)t->data)[i];
    case BNN_I16: return ((const int16_t *)t->data)[i];
    case BNN_I32: return (float)((const int32_t *)t->data)[i];
    default: return 0;
    }
}

static void put_int(bnn_tensor *t, int64_t i, float v)
{
    switch (t->dtype) {
    case BNN_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case BNN_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case BNN_U16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case BNN_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    default: break;
    }
}

/* round half to even, then clamp; NaN goes to 0 (ONNX leaves it undefined) */
static float quantize_one(float x, float scale, float zero, qrange r)
{
    float q = rintf(x / scale) + zero;
    if (isnan(q))
        return r.lo > 0 ? r.lo : r.hi < 0 ? r.hi : 0;
    return q < r.lo ? r.lo : q > r.hi ? r.hi : q;
}

/* How element i of x picks its scale: per tensor, every element takes entry
 * 0; per axis, entry (i / inner) % dim. */
typedef struct qaxis {
    int64_t inner, dim;
    bool per_axis;
} qaxis;

static bnn_status axis_of(const bnn_kernel_args *args, bnn_diag *diag, qaxis *a)
{
    const bnn_tensor *x = &args->inputs[0], *s = &args->inputs[1];
    int64_t n = bnn_tensor_numel(s);
    *a = (qaxis){ .inner = 1, .dim = 1, .per_axis = n != 1 };
    const bnn_tensor *z = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    if (z && bnn_tensor_numel(z) != n)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "the zero point has %lld elements, the scale %lld",
                               (long long)bnn_tensor_numel(z), (long long)n);
    if (!a->per_axis)
        return BNN_OK;
    int rank = x->shape.rank;
    int64_t axis = bnn_node_int(args->node, "axis", 1);
    if (axis < 0)
        axis += rank;
    if (s->shape.rank != 1 || axis < 0 || axis >= rank || x->shape.dims[axis] != n)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "a scale of %lld elements does not fit axis %lld",
                               (long long)n, (long long)bnn_node_int(args->node, "axis", 1));
    for (int d = (int)axis + 1; d < rank; d++)
        a->inner *= x->shape.dims[d];
    a->dim = n;
    return BNN_OK;
}

static int64_t channel(const qaxis *a, int64_t i)
{
    return a->per_axis ? (i / a->inner) % a->dim : 0;
}

static bnn_status quantize_linear_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *s = &args->inputs[1];
    const bnn_tensor *z = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    bnn_tensor *y = &args->outputs[0];
    qrange r;
    if (x->dtype != BNN_F32 || s->dtype != BNN_F32 || !range_of(y->dtype, &r))
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "supports f32 into u8, i8, u16 or i16");
    qaxis a;
    BNN_TRY(axis_of(args, diag, &a));
    const float *xs = x->data, *ss = s->data;
    int64_t n = bnn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = channel(&a, i);
        put_int(y, i, quantize_one(xs[i], ss[c], z ? get_int(z, c) : 0, r));
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_quantize_linear = {.forward = quantize_linear_forward};

static bnn_status dequantize_linear_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *s = &args->inputs[1];
    const bnn_tensor *z = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    qrange r;
    if ((!range_of(x->dtype, &r) && x->dtype != BNN_I32) || s->dtype != BNN_F32 ||
        args->outputs[0].dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "supports u8, i8, u16, i16 or i32 into f32");
    qaxis a;
    BNN_TRY(axis_of(args, diag, &a));
    const float *ss = s->data;
    float *y = args->outputs[0].data;
    int64_t n = bnn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = channel(&a, i);
        y[i] = (get_int(x, i) - (z ? get_int(z, c) : 0.0f)) * ss[c];
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_dequantize_linear = {.forward = dequantize_linear_forward};

/* ONNX DynamicQuantizeLinear: the range [min(x, 0), max(x, 0)] maps onto
 * [0, 255]; scale = range / 255 (computed in double, stored as f32, as the
 * reference does), zero point = round(-min / scale) clamped.  An all-zero x
 * has no range: scale 0, zero point 0, y 0. */
static bnn_status dynamic_quantize_linear_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0], *so = &args->outputs[1], *zo = &args->outputs[2];
    if (x->dtype != BNN_F32 || y->dtype != BNN_U8 || so->dtype != BNN_F32 || zo->dtype != BNN_U8)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "supports f32 into u8");
    const float *xs = x->data;
    int64_t n = bnn_tensor_numel(x);
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(xs[i]))
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "input element %lld is NaN: no range",
                                   (long long)i);
        lo = xs[i] < lo ? xs[i] : lo;
        hi = xs[i] > hi ? xs[i] : hi;
    }
    qrange r = { 0, 255 };
    float scale = (float)(((double)hi - (double)lo) / 255.0);
    float zero = scale > 0 ? quantize_one(-lo, scale, 0, r) : 0;
    *(float *)so->data = scale;
    *(uint8_t *)zo->data = (uint8_t)zero;
    uint8_t *ys = y->data;
    for (int64_t i = 0; i < n; i++)
        ys[i] = scale > 0 ? (uint8_t)quantize_one(xs[i], scale, zero, r) : 0;
    return BNN_OK;
}

const bnn_kernel bnn_kernel_dynamic_quantize_linear = {.forward = dynamic_quantize_linear_forward};
