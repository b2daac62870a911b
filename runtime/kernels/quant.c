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

/* ---- integer matmul ----------------------------------------------------- */

/* Element offsets of a's and b's matrices for output matrix `batch`, under
 * numpy's broadcasting of the leading dims. */
static void batch_offsets(const bnn_shape *y, const bnn_shape *a, const bnn_shape *b, int64_t batch,
                          int64_t *oa, int64_t *ob)
{
    int yb = y->rank - 2;
    int64_t ia = 0, ib = 0, sa = a->dims[a->rank - 2] * a->dims[a->rank - 1],
            sb = b->dims[b->rank - 2] * b->dims[b->rank - 1];
    for (int d = yb - 1; d >= 0; d--) {
        int64_t coord = batch % y->dims[d];
        batch /= y->dims[d];
        int da = d - (yb - (a->rank - 2)), db = d - (yb - (b->rank - 2));
        if (da >= 0) {
            ia += (a->dims[da] == 1 ? 0 : coord) * sa;
            sa *= a->dims[da];
        }
        if (db >= 0) {
            ib += (b->dims[db] == 1 ? 0 : coord) * sb;
            sb *= b->dims[db];
        }
    }
    *oa = ia;
    *ob = ib;
}

/* acc[m, n] = sum_k (a - za) (b - zb) for every output matrix, in i32 as
 * ONNX's accumulator (wrapping); za one or per row, zb one or per column. */
static bnn_status integer_product(const bnn_kernel_args *args, bnn_diag *diag, const bnn_tensor *a,
                                  const bnn_tensor *za, const bnn_tensor *b, const bnn_tensor *zb,
                                  bnn_tensor *y, int32_t *acc)
{
    qrange r;
    if (!range_of(a->dtype, &r) || !range_of(b->dtype, &r) || a->shape.rank < 2 || b->shape.rank < 2 ||
        y->shape.rank < 2)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "needs u8, i8, u16 or i16 operands of at least 2 dims");
    int64_t m = a->shape.dims[a->shape.rank - 2], k = a->shape.dims[a->shape.rank - 1];
    int64_t n = b->shape.dims[b->shape.rank - 1];
    int64_t nza = za ? bnn_tensor_numel(za) : 0, nzb = zb ? bnn_tensor_numel(zb) : 0;
    if (b->shape.dims[b->shape.rank - 2] != k || (za && nza != 1 && nza != m) || (zb && nzb != 1 && nzb != n))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "operands or zero points do not fit");
    int64_t batches = bnn_tensor_numel(y) / (m * n > 0 ? m * n : 1);
    for (int64_t t = 0; t < batches && m * n > 0; t++) {
        int64_t oa, ob;
        batch_offsets(&y->shape, &a->shape, &b->shape, t, &oa, &ob);
        for (int64_t i = 0; i < m; i++) {
            int32_t zai = za ? (int32_t)get_int(za, nza == 1 ? 0 : i) : 0;
            for (int64_t j = 0; j < n; j++) {
                int32_t zbj = zb ? (int32_t)get_int(zb, nzb == 1 ? 0 : j) : 0;
                uint32_t sum = 0;
                for (int64_t p = 0; p < k; p++) {
                    int32_t av = (int32_t)get_int(a, oa + i * k + p) - zai;
                    int32_t bv = (int32_t)get_int(b, ob + p * n + j) - zbj;
                    sum += (uint32_t)((int64_t)av * bv);
                }
                acc[t * m * n + i * n + j] = (int32_t)sum;
            }
        }
    }
    return BNN_OK;
}

static bnn_status matmul_integer_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    if (y->dtype != BNN_I32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "output must be i32");
    const bnn_tensor *za = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    const bnn_tensor *zb = args->n_inputs > 3 && args->inputs[3].data ? &args->inputs[3] : NULL;
    return integer_product(args, diag, &args->inputs[0], za, &args->inputs[1], zb, y, y->data);
}

const bnn_kernel bnn_kernel_matmul_integer = {.forward = matmul_integer_forward};

static size_t qlinear_matmul_scratch(const bnn_kernel_args *args)
{
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    return n > 0 ? (size_t)n * sizeof(int32_t) : 0;
}

/* y = clamp(round_half_even(acc * (a_scale * b_scale / y_scale)) + y_zero_point), the
 * multiplier in f32 as ONNX's reference computes it. */
static bnn_status qlinear_matmul_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *in = args->inputs;
    bnn_tensor *y = &args->outputs[0];
    qrange r;
    if (!range_of(y->dtype, &r) || in[1].dtype != BNN_F32 || in[4].dtype != BNN_F32 || in[6].dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "needs f32 scales and a u8, i8, u16 or i16 output");
    int32_t *acc = args->scratch;
    BNN_TRY(integer_product(args, diag, &in[0], &in[2], &in[3], &in[5], y, acc));
    float mult = *(const float *)in[1].data * *(const float *)in[4].data / *(const float *)in[6].data;
    float zero = get_int(&in[7], 0);
    int64_t n = bnn_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        put_int(y, i, quantize_one((float)acc[i] * mult, 1.0f, zero, r));
    return BNN_OK;
}

const bnn_kernel bnn_kernel_qlinear_matmul = {.forward = qlinear_matmul_forward,
                                              .scratch_size = qlinear_matmul_scratch};

/* ---- integer convolution ------------------------------------------------ */

/* Geometry of a 1-D or 2-D convolution of x [N, C, (H,) W] with w [M, C/g,
 * (KH,) KW] into y [N, M, (OH,) OW]; 1-D as H = KH = OH = 1. */
typedef struct qconv {
    int64_t n, c, h, w, m, cg, kh, kw, oh, ow, group;
    int64_t sh, sw, dh, dw, ph, pw;
} qconv;

static bnn_status qconv_geometry(const bnn_kernel_args *args, bnn_diag *diag, const bnn_tensor *x,
                                 const bnn_tensor *w, const bnn_tensor *y, qconv *g)
{
    int sp = x->shape.rank - 2;
    if (sp < 1 || sp > 2 || w->shape.rank != sp + 2 || y->shape.rank != sp + 2)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "needs 1-D or 2-D operands");
    const int64_t *st, *pd, *dl;
    int ns = bnn_node_ints(args->node, "strides", &st), np = bnn_node_ints(args->node, "pads", &pd);
    int nd = bnn_node_ints(args->node, "dilations", &dl);
    const int64_t *xd = x->shape.dims, *wd = w->shape.dims, *yd = y->shape.dims;
    *g = (qconv){ .n = xd[0], .c = xd[1], .h = sp == 2 ? xd[2] : 1, .w = xd[sp + 1],
                  .m = wd[0], .cg = wd[1], .kh = sp == 2 ? wd[2] : 1, .kw = wd[sp + 1],
                  .oh = sp == 2 ? yd[2] : 1, .ow = yd[sp + 1],
                  .group = bnn_node_int(args->node, "group", 1),
                  .sh = 1, .sw = 1, .dh = 1, .dw = 1 };
    if (ns == sp)
        g->sh = sp == 2 ? st[0] : 1, g->sw = st[sp - 1];
    if (nd == sp)
        g->dh = sp == 2 ? dl[0] : 1, g->dw = dl[sp - 1];
    if (np == 2 * sp)
        g->ph = sp == 2 ? pd[0] : 0, g->pw = pd[sp - 1];
    if (g->group < 1 || g->m % g->group != 0 || g->cg * g->group != g->c || yd[1] != g->m)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "weight and input do not fit the group");
    return BNN_OK;
}

/* acc [N, M, OH, OW] = conv(x - zx, w - zw) in i32 (wrapping), the pads
 * zeros of the centred input; xc and wc: scratch for the centred operands. */
static bnn_status integer_conv(const bnn_kernel_args *args, bnn_diag *diag, const bnn_tensor *x,
                               const bnn_tensor *zx, const bnn_tensor *w, const bnn_tensor *zw,
                               const bnn_tensor *y, int32_t *xc, int32_t *wc, int32_t *acc)
{
    qrange r;
    if (!range_of(x->dtype, &r) || !range_of(w->dtype, &r))
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "needs u8, i8, u16 or i16 operands");
    qconv g = { 0 };
    BNN_TRY(qconv_geometry(args, diag, x, w, y, &g));
    int64_t nzw = zw ? bnn_tensor_numel(zw) : 0;
    if ((zx && bnn_tensor_numel(zx) != 1) || (zw && nzw != 1 && nzw != g.m))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "zero points: one for x, one or one per output channel for w");
    int32_t zxv = zx ? (int32_t)get_int(zx, 0) : 0;
    int64_t nx = bnn_tensor_numel(x), nw = bnn_tensor_numel(w), per_w = nw / (g.m ? g.m : 1);
    for (int64_t i = 0; i < nx; i++)
        xc[i] = (int32_t)get_int(x, i) - zxv;
    for (int64_t i = 0; i < nw; i++)
        wc[i] = (int32_t)get_int(w, i) - (zw ? (int32_t)get_int(zw, nzw == 1 ? 0 : i / per_w) : 0);
    int64_t mg = g.m / g.group, plane = g.oh * g.ow;
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t m = 0; m < g.m; m++) {
            uint32_t *out = (uint32_t *)acc + (n * g.m + m) * plane;
            for (int64_t q = 0; q < plane; q++)
                out[q] = 0;
            int64_t c0 = m / mg * g.cg;
            for (int64_t c = 0; c < g.cg; c++) {
                const int32_t *xp = xc + (n * g.c + c0 + c) * g.h * g.w;
                for (int64_t ki = 0; ki < g.kh; ki++)
                    for (int64_t kj = 0; kj < g.kw; kj++) {
                        int32_t wv = wc[((m * g.cg + c) * g.kh + ki) * g.kw + kj];
                        if (wv == 0)
                            continue;
                        for (int64_t i = 0; i < g.oh; i++) {
                            int64_t ih = i * g.sh - g.ph + ki * g.dh;
                            if (ih < 0 || ih >= g.h)
                                continue;
                            const int32_t *row = xp + ih * g.w;
                            uint32_t *o = out + i * g.ow;
                            for (int64_t j = 0; j < g.ow; j++) {
                                int64_t iw = j * g.sw - g.pw + kj * g.dw;
                                if (iw >= 0 && iw < g.w)
                                    o[j] += (uint32_t)((int64_t)wv * row[iw]);
                            }
                        }
                    }
            }
        }
    return BNN_OK;
}

static size_t conv_integer_scratch(const bnn_kernel_args *args)
{
    int64_t n = bnn_tensor_numel(&args->inputs[0]) + bnn_tensor_numel(&args->inputs[1]);
    return n > 0 ? (size_t)n * sizeof(int32_t) : 0;
}

static bnn_status conv_integer_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    if (y->dtype != BNN_I32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "output must be i32");
    const bnn_tensor *x = &args->inputs[0], *w = &args->inputs[1];
    const bnn_tensor *zx = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    const bnn_tensor *zw = args->n_inputs > 3 && args->inputs[3].data ? &args->inputs[3] : NULL;
    int32_t *xc = args->scratch, *wc = xc + bnn_tensor_numel(x);
    return integer_conv(args, diag, x, zx, w, zw, y, xc, wc, y->data);
}

const bnn_kernel bnn_kernel_conv_integer = {.forward = conv_integer_forward,
                                            .scratch_size = conv_integer_scratch};

static size_t qlinear_conv_scratch(const bnn_kernel_args *args)
{
    int64_t n = bnn_tensor_numel(&args->inputs[0]) + bnn_tensor_numel(&args->inputs[3]) +
                bnn_tensor_numel(&args->outputs[0]);
    return n > 0 ? (size_t)n * sizeof(int32_t) : 0;
}

/* y = clamp(round_half_even((acc + B[m]) * (x_scale * w_scale[m] / y_scale)) +
 * y_zero_point): the multiplier in f32 as ONNX's reference computes it, the
 * product in double as its int32-by-float32 numpy product is. */
static bnn_status qlinear_conv_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *in = args->inputs;
    bnn_tensor *y = &args->outputs[0];
    qrange r;
    if (!range_of(y->dtype, &r) || in[1].dtype != BNN_F32 || in[4].dtype != BNN_F32 ||
        in[6].dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "needs f32 scales and a u8, i8, u16 or i16 output");
    const bnn_tensor *b = args->n_inputs > 8 && in[8].data ? &in[8] : NULL;
    int64_t m = in[3].shape.dims[0], nws = bnn_tensor_numel(&in[4]);
    if ((nws != 1 && nws != m) || (b && (b->dtype != BNN_I32 || bnn_tensor_numel(b) != m)))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "w_scale must be one or one per output channel, the bias i32 [%lld]",
                               (long long)m);
    int32_t *xc = args->scratch, *wc = xc + bnn_tensor_numel(&in[0]);
    int32_t *acc = wc + bnn_tensor_numel(&in[3]);
    BNN_TRY(integer_conv(args, diag, &in[0], &in[2], &in[3], &in[5], y, xc, wc, acc));
    float xs = *(const float *)in[1].data, ys = *(const float *)in[6].data;
    double zero = get_int(&in[7], 0);
    int64_t plane = bnn_tensor_numel(y) / (y->shape.dims[0] * m > 0 ? y->shape.dims[0] * m : 1);
    const float *ws = in[4].data;
    const int32_t *bias = b ? b->data : NULL;
    for (int64_t i = 0, n = bnn_tensor_numel(y); i < n; i++) {
        int64_t ch = i / plane % m;
        float mult = xs * ws[nws == 1 ? 0 : ch] / ys;
        int32_t sum = (int32_t)((uint32_t)acc[i] + (uint32_t)(bias ? bias[ch] : 0));
        double q = rint((double)sum * (double)mult) + zero;
        q = isnan(q) ? 0 : q < r.lo ? r.lo : q > r.hi ? r.hi : q;
        put_int(y, i, (float)q);
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_qlinear_conv = {.forward = qlinear_conv_forward,
                                            .scratch_size = qlinear_conv_scratch};
