/* Elementwise ops over several inputs with numpy broadcasting: pow, and the
 * variadic max, min, sum and mean.
 *
 * The variadic ops copy input 0, broadcast, into the output and fold every
 * further input into it, so any number of inputs costs one pass each.  max and
 * min propagate NaN (as numpy.maximum).  Integer sums wrap.  Gradients are
 * f32: a max or min element's gradient goes to the first input (lowest index)
 * holding the winning value, so ties do not double it; mean divides by the
 * number of inputs.  pow's gradient follows PyTorch: d/dx = p * x^(p-1) (0
 * where p is 0), d/dp = x^p * log(x) (0 where x is 0 and p >= 0).  pow's
 * operands of mixed types go through the element conversion of
 * convert_impl.h. */
#include <math.h>
#include <string.h>

#include "broadcast.h"
#include "cast_impl.h"
#include "convert_impl.h"
#include "half_impl.h"
#include "kernel.h"

static bnn_status fail_dtype(const bnn_kernel_args *args, bnn_diag *diag, bnn_dtype dt,
                             const char *what)
{
    const char *name = bnn_dtype_name(dt);
    return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "%s of element type %s %s not supported",
                           what, name ? name : "?", strchr(what, ' ') ? "are" : "is");
}

/* Operand x broadcast against the output y (a's strides are y's own). */
static bnn_status bcast_onto(const bnn_kernel_args *args, const bnn_shape *x, bnn_bcast *bc,
                             bnn_diag *diag)
{
    const bnn_shape *y = &args->outputs[0].shape;
    if (!bnn_bcast_init(bc, y, x, y)) {
        char sx[200], sy[200];
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "%s does not broadcast to %s",
                               bnn_shape_format(x, args->outputs[0].dtype, sx, sizeof sx),
                               bnn_shape_format(y, args->outputs[0].dtype, sy, sizeof sy));
    }
    return BNN_OK;
}

/* Walks y (contiguous, offset oy) against an operand broadcast onto it (offset
 * ox): the body (the variadic part) sees oy and ox per element. */
#define BCAST_WALK(bc, ...)                                                    \
    do {                                                                       \
        int last_ = (bc)->rank - 1;                                            \
        int64_t inner_ = (bc)->dims[last_];                                    \
        int64_t sx_ = (bc)->stride_b[last_];                                   \
        int64_t rows_ = (bc)->n ? (bc)->n / inner_ : 0;                        \
        for (int64_t row_ = 0; row_ < rows_; row_++) {                         \
            int64_t ya_, xb_;                                                  \
            bnn_bcast_row(bc, row_, &ya_, &xb_);                               \
            (void)ya_;                                                         \
            for (int64_t i_ = 0; i_ < inner_; i_++) {                          \
                int64_t oy = row_ * inner_ + i_, ox = xb_ + i_ * sx_;           \
                __VA_ARGS__;                                                   \
            }                                                                  \
        }                                                                      \
    } while (0)

/* ---- max, min, sum, mean ------------------------------------------------ */

typedef enum { FOLD_MAX, FOLD_MIN, FOLD_SUM } fold_op;

#define FOLD_LOOP(T, EXPR)                                       \
    do {                                                         \
        T *y_ = y;                                               \
        const T *x_ = x;                                         \
        BCAST_WALK(bc, { T a = y_[oy], b = x_[ox]; y_[oy] = (EXPR); }); \
    } while (0)

/* y = y op x (x broadcast). NaN wins in max and min; unsigned W makes the
 * integer sum wrap. */
#define FOLD_TYPE(T, W, NAN_A)                                             \
    switch (op) {                                                          \
    case FOLD_MAX: FOLD_LOOP(T, (a > b || NAN_A) ? a : b); break;          \
    case FOLD_MIN: FOLD_LOOP(T, (a < b || NAN_A) ? a : b); break;          \
    case FOLD_SUM: FOLD_LOOP(T, (T)((W)a + (W)b)); break;                  \
    }

/* f16 in float: y = op(y, x), rounded back to half. */
static void fold_f16(fold_op op, const bnn_bcast *bc, uint16_t *y, const uint16_t *x)
{
    BCAST_WALK(bc, {
        float a = half_to_float(y[oy]), b = half_to_float(x[ox]);
        switch (op) {
        case FOLD_MAX: y[oy] = (a > b || isnan(a)) ? y[oy] : x[ox]; break;
        case FOLD_MIN: y[oy] = (a < b || isnan(a)) ? y[oy] : x[ox]; break;
        case FOLD_SUM: y[oy] = float_to_half(a + b); break;
        }
    });
}

static bool fold(fold_op op, bnn_dtype dt, const bnn_bcast *bc, void *y, const void *x)
{
    switch (dt) {
    case BNN_F16: fold_f16(op, bc, y, x); return true;
    case BNN_F32: FOLD_TYPE(float, float, isnan(a)) return true;
    case BNN_F64: FOLD_TYPE(double, double, isnan(a)) return true;
    case BNN_I8: FOLD_TYPE(int8_t, uint32_t, false) return true;
    case BNN_U8: FOLD_TYPE(uint8_t, uint32_t, false) return true;
    case BNN_I16: FOLD_TYPE(int16_t, uint32_t, false) return true;
    case BNN_U16: FOLD_TYPE(uint16_t, uint32_t, false) return true;
    case BNN_I32: FOLD_TYPE(int32_t, uint32_t, false) return true;
    case BNN_U32: FOLD_TYPE(uint32_t, uint32_t, false) return true;
    case BNN_I64: FOLD_TYPE(int64_t, uint64_t, false) return true;
    case BNN_U64: FOLD_TYPE(uint64_t, uint64_t, false) return true;
    default: return false;
    }
}

/* y = x broadcast, for elements of es bytes. */
static void bcast_copy(const bnn_bcast *bc, size_t es, void *y, const void *x)
{
    switch (es) {
    case 1: { uint8_t *d = y; const uint8_t *s = x; BCAST_WALK(bc, d[oy] = s[ox]); break; }
    case 2: { uint16_t *d = y; const uint16_t *s = x; BCAST_WALK(bc, d[oy] = s[ox]); break; }
    case 4: { uint32_t *d = y; const uint32_t *s = x; BCAST_WALK(bc, d[oy] = s[ox]); break; }
    default: { uint64_t *d = y; const uint64_t *s = x; BCAST_WALK(bc, d[oy] = s[ox]); break; }
    }
}

static bnn_status many_forward(const bnn_kernel_args *args, fold_op op, bool mean,
                               bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    bnn_dtype dt = y->dtype;
    size_t es = bnn_dtype_size(dt);
    bool is_float = dt == BNN_F32 || dt == BNN_F64 || dt == BNN_F16;
    if (es == 0 || dt == BNN_BF16 || dt == BNN_BOOL || (mean && !is_float))
        return fail_dtype(args, diag, dt, "inputs");
    for (int k = 0; k < args->n_inputs; k++) {
        if (!args->inputs[k].data && bnn_tensor_numel(&args->inputs[k]) != 0)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "an input is absent");
        if (args->inputs[k].dtype != dt)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "inputs have different element types");
    }
    for (int k = 0; k < args->n_inputs; k++) {
        bnn_bcast bc;
        BNN_TRY(bcast_onto(args, &args->inputs[k].shape, &bc, diag));
        if (k == 0)
            bcast_copy(&bc, es, y->data, args->inputs[0].data);
        else if (!fold(op, dt, &bc, y->data, args->inputs[k].data))
            return fail_dtype(args, diag, dt, "inputs");
    }
    if (mean) {
        int64_t n = bnn_tensor_numel(y);
        if (dt == BNN_F32) {
            float *p = y->data, inv = 1.0f / (float)args->n_inputs;
            for (int64_t i = 0; i < n; i++)
                p[i] = args->n_inputs == 1 ? p[i] : p[i] * inv;
        } else if (dt == BNN_F64) {
            double *p = y->data;
            for (int64_t i = 0; i < n; i++)
                p[i] /= args->n_inputs;
        } else {
            uint16_t *p = y->data;
            for (int64_t i = 0; i < n; i++)
                p[i] = float_to_half(half_to_float(p[i]) / (float)args->n_inputs);
        }
    }
    return BNN_OK;
}

/* Sum and mean: each input's gradient is g (times 1/n) summed over the dims
 * where it was broadcast. */
static bnn_status sum_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               float scale, bnn_diag *diag)
{
    const float *g = grads->grad_outputs[0].data;
    if (!g)
        return BNN_OK;
    for (int k = 0; k < args->n_inputs; k++) {
        float *gx = grads->grad_inputs[k].data;
        if (!gx)
            continue;
        if (args->inputs[k].dtype != BNN_F32)
            return fail_dtype(args, diag, args->inputs[k].dtype, "gradients");
        bnn_bcast bc;
        BNN_TRY(bcast_onto(args, &args->inputs[k].shape, &bc, diag));
        BCAST_WALK(&bc, gx[ox] += scale * g[oy]);
    }
    return BNN_OK;
}

/* Max and min: scratch holds one flag per output element, set once an
 * earlier input has taken that element's gradient. */
static size_t extreme_scratch(const bnn_kernel_args *args)
{
    int64_t n = bnn_shape_numel(&args->outputs[0].shape);
    return n > 0 ? (size_t)n : 0;
}

static bnn_status extreme_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                   bnn_diag *diag)
{
    const float *g = grads->grad_outputs[0].data, *y = args->outputs[0].data;
    if (!g)
        return BNN_OK;
    if (args->outputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->outputs[0].dtype, "gradients");
    unsigned char *taken = args->scratch;
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    if (n > 0)
        memset(taken, 0, (size_t)n);
    for (int k = 0; k < args->n_inputs; k++) {
        const float *x = args->inputs[k].data;
        float *gx = grads->grad_inputs[k].data;
        bnn_bcast bc;
        BNN_TRY(bcast_onto(args, &args->inputs[k].shape, &bc, diag));
        BCAST_WALK(&bc, {
            float a = x[ox], b = y[oy];
            if (!taken[oy] && (a == b || (isnan(a) && isnan(b)))) {
                taken[oy] = 1;
                if (gx)
                    gx[ox] += g[oy];
            }
        });
    }
    return BNN_OK;
}

static bnn_status max_forward(const bnn_kernel_args *a, bnn_diag *d) { return many_forward(a, FOLD_MAX, false, d); }
static bnn_status min_forward(const bnn_kernel_args *a, bnn_diag *d) { return many_forward(a, FOLD_MIN, false, d); }
static bnn_status sum_forward(const bnn_kernel_args *a, bnn_diag *d) { return many_forward(a, FOLD_SUM, false, d); }
static bnn_status mean_forward(const bnn_kernel_args *a, bnn_diag *d) { return many_forward(a, FOLD_SUM, true, d); }

static bnn_status sum_grad(const bnn_kernel_args *a, const bnn_kernel_grads *g, bnn_diag *d)
{
    return sum_backward(a, g, 1.0f, d);
}
static bnn_status mean_grad(const bnn_kernel_args *a, const bnn_kernel_grads *g, bnn_diag *d)
{
    return sum_backward(a, g, 1.0f / (float)a->n_inputs, d);
}

const bnn_kernel bnn_kernel_max = {.forward = max_forward, .backward = extreme_backward,
                                   .scratch_size = extreme_scratch};
const bnn_kernel bnn_kernel_min = {.forward = min_forward, .backward = extreme_backward,
                                   .scratch_size = extreme_scratch};
const bnn_kernel bnn_kernel_sum = {.forward = sum_forward, .backward = sum_grad};
const bnn_kernel bnn_kernel_mean = {.forward = mean_forward, .backward = mean_grad};

/* ---- pow ---------------------------------------------------------------- */

/* Integer power by squaring, wrapping; a negative exponent gives 0 except
 * for bases 1 and -1 (numpy refuses those; C's integer division agrees). */
static int64_t ipow(int64_t b, int64_t e)
{
    if (e < 0)
        return b == 1 ? 1 : b == -1 ? (e & 1 ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)b;
    while (e) {
        if (e & 1)
            r *= x;
        x *= x;
        e >>= 1;
    }
    return (int64_t)r;
}

static bool is_int(bnn_dtype t)
{
    return t != BNN_F32 && t != BNN_F64 && t != BNN_F16 && t != BNN_BOOL && bnn_cast_type_ok(t);
}

static bnn_status pow_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *p = &args->inputs[1];
    bnn_tensor *y = &args->outputs[0];
    bool x_ok = x->dtype == BNN_F32 || x->dtype == BNN_F64 || is_int(x->dtype);
    if (!x_ok || x->dtype != y->dtype)
        return fail_dtype(args, diag, x->dtype, "a base");
    if (p->dtype != BNN_F32 && p->dtype != BNN_F64 && !is_int(p->dtype))
        return fail_dtype(args, diag, p->dtype, "an exponent");
    bnn_bcast bc;
    if (!bnn_bcast_init(&bc, &x->shape, &p->shape, &y->shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "base and exponent do not broadcast to the output");
    int last = bc.rank - 1;
    int64_t inner = bc.dims[last], rows = bc.n ? bc.n / inner : 0;
    int64_t sa = bc.stride_a[last], sb = bc.stride_b[last];
    if (x->dtype == BNN_F32 && p->dtype == BNN_F32) {
        const float *xs = x->data, *ps = p->data;
        float *ys = y->data;
        #pragma omp parallel for schedule(static) if (bc.n >= 65536 && rows > 1)
        for (int64_t row = 0; row < rows; row++) {
            int64_t oa, ob;
            bnn_bcast_row(&bc, row, &oa, &ob);
            float *yr = ys + row * inner;
            if (sb == 0 && ps[ob] == 2.0f) { /* x^2, as LayerNorm writes it */
                for (int64_t i = 0; i < inner; i++) {
                    float v = xs[oa + i * sa];
                    yr[i] = v * v;
                }
            } else {
                for (int64_t i = 0; i < inner; i++)
                    yr[i] = powf(xs[oa + i * sa], ps[ob + i * sb]);
            }
        }
        return BNN_OK;
    }
    bool ints = is_int(x->dtype) && is_int(p->dtype);
    for (int64_t row = 0; row < rows; row++) {
        int64_t oa, ob;
        bnn_bcast_row(&bc, row, &oa, &ob);
        for (int64_t i = 0; i < inner; i++) {
            num b = load(x->dtype, x->data, oa + i * sa), e = load(p->dtype, p->data, ob + i * sb);
            num r = {.kind = NUM_FLOAT};
            if (ints) {
                r.kind = NUM_SIGNED;
                r.i = ipow((int64_t)int_bits(b, false), (int64_t)int_bits(e, false));
            } else if (x->dtype == BNN_F32) {
                r.f = powf((float)as_double(b), as_float(e));
            } else {
                r.f = pow(as_double(b), as_double(e));
            }
            store(y->dtype, y->data, row * inner + i, r);
        }
    }
    return BNN_OK;
}

static bnn_status pow_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *p = &args->inputs[1];
    float *gx = grads->grad_inputs[0].data, *gp = grads->grad_inputs[1].data;
    const float *g = grads->grad_outputs[0].data, *y = args->outputs[0].data;
    if (!g || (!gx && !gp))
        return BNN_OK;
    if (x->dtype != BNN_F32)
        return fail_dtype(args, diag, x->dtype, "gradients");
    if (gp && p->dtype != BNN_F32)
        return fail_dtype(args, diag, p->dtype, "gradients");
    bnn_bcast bc;
    if (!bnn_bcast_init(&bc, &x->shape, &p->shape, &args->outputs[0].shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "base and exponent do not broadcast to the output");
    int last = bc.rank - 1;
    int64_t inner = bc.dims[last], rows = bc.n ? bc.n / inner : 0;
    int64_t sa = bc.stride_a[last], sb = bc.stride_b[last];
    const float *xs = x->data;
    for (int64_t row = 0; row < rows; row++) {
        int64_t oa, ob;
        bnn_bcast_row(&bc, row, &oa, &ob);
        for (int64_t i = 0; i < inner; i++) {
            int64_t ia = oa + i * sa, ib = ob + i * sb, iy = row * inner + i;
            float v = xs[ia], e = (float)as_double(load(p->dtype, p->data, ib));
            if (gx && e != 0.0f)
                gx[ia] += g[iy] * e * powf(v, e - 1.0f);
            if (gp && !(v == 0.0f && e >= 0.0f))
                gp[ib] += g[iy] * y[iy] * logf(v);
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_pow = {.forward = pow_forward, .backward = pow_backward};
