/* Elementwise ops: broadcasting binary arithmetic (every integer and float
 * type), prelu, activations (f32), clip, identity and dropout.
 *
 * Binary ops broadcast as numpy does (runtime/broadcast.h).  Integer
 * arithmetic wraps as two's complement (computed in unsigned, so no signed
 * overflow) and integer division truncates toward zero as C and ONNX do; a zero
 * divisor is an error naming the node.  Gradients are f32 only. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "broadcast.h"
#include "kernel.h"
#include "rng.h"
#include "vecmath.h"

#define PAR_MIN 1048576 /* elements below which threads cost more than they give */

static bnn_status fail_dtype(const bnn_kernel_args *args, bnn_diag *diag, bnn_dtype dt)
{
    const char *name = bnn_dtype_name(dt);
    return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                           name ? name : "?");
}

/* ---- binary arithmetic -------------------------------------------------- */

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_COUNT } bin_op;
typedef void (*bin_fn)(const bnn_bcast *bc, const void *a, const void *b, void *y);

/* One function per (op, type): rows in parallel, the last dim specialised on
 * whether each operand is contiguous or broadcast.  EXPR reads x and z. */
#define DEFINE_BINARY(fname, T, EXPR)                                                   \
    static void fname(const bnn_bcast *bc, const void *va, const void *vb, void *vy)    \
    {                                                                                   \
        const T *a = va, *b = vb;                                                       \
        T *y = vy;                                                                      \
        int last = bc->rank - 1;                                                        \
        int64_t inner = bc->dims[last];                                                 \
        if (bc->n == 0)                                                                 \
            return;                                                                     \
        int64_t rows = bc->n / inner;                                                   \
        int64_t sa = bc->stride_a[last], sb = bc->stride_b[last];                       \
        _Pragma("omp parallel for schedule(static) if (bc->n >= PAR_MIN && rows > 1)")  \
        for (int64_t row = 0; row < rows; row++) {                                      \
            int64_t oa, ob;                                                             \
            bnn_bcast_row(bc, row, &oa, &ob);                                           \
            const T *ar = a + oa, *br = b + ob;                                         \
            T *yr = y + row * inner;                                                    \
            if (sa == 1 && sb == 1) {                                                   \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    T x = ar[i], z = br[i];                                             \
                    yr[i] = (EXPR);                                                     \
                }                                                                       \
            } else if (sa == 1 && sb == 0) {                                            \
                T z = br[0];                                                            \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    T x = ar[i];                                                        \
                    yr[i] = (EXPR);                                                     \
                }                                                                       \
            } else if (sa == 0 && sb == 1) {                                            \
                T x = ar[0];                                                            \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    T z = br[i];                                                        \
                    yr[i] = (EXPR);                                                     \
                }                                                                       \
            } else {                                                                    \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    T x = ar[i * sa], z = br[i * sb];                                   \
                    yr[i] = (EXPR);                                                     \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }

/* W is an unsigned type at least as wide as int, so arithmetic wraps. */
#define DEFINE_INT_BINARIES(suffix, T, W, SIGNED)                                       \
    DEFINE_BINARY(add_##suffix, T, (T)((W)x + (W)z))                                    \
    DEFINE_BINARY(sub_##suffix, T, (T)((W)x - (W)z))                                    \
    DEFINE_BINARY(mul_##suffix, T, (T)((W)x * (W)z))                                    \
    DEFINE_BINARY(div_##suffix, T, (SIGNED && z == (T)-1) ? (T)((W)0 - (W)x) : (T)(x / z))

#define DEFINE_FLOAT_BINARIES(suffix, T)     \
    DEFINE_BINARY(add_##suffix, T, x + z)    \
    DEFINE_BINARY(sub_##suffix, T, x - z)    \
    DEFINE_BINARY(mul_##suffix, T, x * z)    \
    DEFINE_BINARY(div_##suffix, T, x / z)

DEFINE_FLOAT_BINARIES(f32, float)
DEFINE_FLOAT_BINARIES(f64, double)
DEFINE_INT_BINARIES(i8, int8_t, uint32_t, 1)
DEFINE_INT_BINARIES(u8, uint8_t, uint32_t, 0)
DEFINE_INT_BINARIES(i16, int16_t, uint32_t, 1)
DEFINE_INT_BINARIES(u16, uint16_t, uint32_t, 0)
DEFINE_INT_BINARIES(i32, int32_t, uint32_t, 1)
DEFINE_INT_BINARIES(u32, uint32_t, uint32_t, 0)
DEFINE_INT_BINARIES(i64, int64_t, uint64_t, 1)
DEFINE_INT_BINARIES(u64, uint64_t, uint64_t, 0)

#define BIN_ROW(suffix) {add_##suffix, sub_##suffix, mul_##suffix, div_##suffix}

static bin_fn binary_fn(bnn_dtype dt, bin_op op)
{
    static const bin_fn f32[] = BIN_ROW(f32), f64[] = BIN_ROW(f64), i8[] = BIN_ROW(i8),
                        u8[] = BIN_ROW(u8), i16[] = BIN_ROW(i16), u16[] = BIN_ROW(u16),
                        i32[] = BIN_ROW(i32), u32[] = BIN_ROW(u32), i64[] = BIN_ROW(i64),
                        u64[] = BIN_ROW(u64);
    switch (dt) {
    case BNN_F32: return f32[op];
    case BNN_F64: return f64[op];
    case BNN_I8: return i8[op];
    case BNN_U8: return u8[op];
    case BNN_I16: return i16[op];
    case BNN_U16: return u16[op];
    case BNN_I32: return i32[op];
    case BNN_U32: return u32[op];
    case BNN_I64: return i64[op];
    case BNN_U64: return u64[op];
    default: return NULL;
    }
}

static bool has_zero(const void *data, size_t nbytes, size_t elem)
{
    const unsigned char *p = data;
    static const unsigned char zero[8] = {0};
    for (size_t i = 0; i < nbytes; i += elem)
        if (memcmp(p + i, zero, elem) == 0)
            return true;
    return false;
}

static bnn_status binary_setup(const bnn_kernel_args *args, bnn_bcast *bc, bnn_diag *diag)
{
    const bnn_tensor *a = &args->inputs[0], *b = &args->inputs[1];
    const bnn_tensor *y = &args->outputs[0];
    if (a->dtype != b->dtype || a->dtype != y->dtype)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "operands have different element types");
    if (!bnn_bcast_init(bc, &a->shape, &b->shape, &y->shape)) {
        char sa[200], sb[200], sy[200];
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "%s and %s do not broadcast to %s",
                               bnn_shape_format(&a->shape, a->dtype, sa, sizeof sa),
                               bnn_shape_format(&b->shape, b->dtype, sb, sizeof sb),
                               bnn_shape_format(&y->shape, y->dtype, sy, sizeof sy));
    }
    return BNN_OK;
}

static bnn_status binary_forward(const bnn_kernel_args *args, bin_op op, bnn_diag *diag)
{
    bnn_bcast bc;
    BNN_TRY(binary_setup(args, &bc, diag));
    bnn_dtype dt = args->inputs[0].dtype;
    bin_fn fn = binary_fn(dt, op);
    if (!fn)
        return fail_dtype(args, diag, dt);
    if (op == BIN_DIV && dt != BNN_F32 && dt != BNN_F64 &&
        has_zero(args->inputs[1].data, bnn_tensor_nbytes(&args->inputs[1]), bnn_dtype_size(dt)))
        return bnn_kernel_fail(args, diag, BNN_ERR_NUMERIC, "integer division by zero");
    fn(&bc, args->inputs[0].data, args->inputs[1].data, args->outputs[0].data);
    return BNN_OK;
}

/* Gradients of y = a op b, reduced over the dims where an operand was
 * broadcast.  Serial unless neither operand is broadcast (then rows never
 * share a gradient element). */
static void binary_backward_f32(bin_op op, const bnn_bcast *bc, const float *a, const float *b,
                                const float *g, float *ga, float *gb)
{
    if (bc->n == 0)
        return;
    int last = bc->rank - 1;
    int64_t inner = bc->dims[last], rows = bc->n / inner;
    int64_t sa = bc->stride_a[last], sb = bc->stride_b[last];
    bool parallel = bc->rank == 1 && sa == 1 && sb == 1 && bc->n >= PAR_MIN;
    (void)parallel;
    #pragma omp parallel for schedule(static) if (parallel)
    for (int64_t row = 0; row < rows; row++) {
        int64_t oa, ob;
        bnn_bcast_row(bc, row, &oa, &ob);
        const float *gr = g + row * inner;
        for (int64_t i = 0; i < inner; i++) {
            int64_t ia = oa + i * sa, ib = ob + i * sb;
            float gi = gr[i];
            switch (op) {
            case BIN_ADD:
                if (ga) ga[ia] += gi;
                if (gb) gb[ib] += gi;
                break;
            case BIN_SUB:
                if (ga) ga[ia] += gi;
                if (gb) gb[ib] -= gi;
                break;
            case BIN_MUL:
                if (ga) ga[ia] += gi * b[ib];
                if (gb) gb[ib] += gi * a[ia];
                break;
            default: /* BIN_DIV */
                if (ga) ga[ia] += gi / b[ib];
                if (gb) gb[ib] -= gi * a[ia] / (b[ib] * b[ib]);
                break;
            }
        }
    }
}

static bnn_status binary_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bin_op op, bnn_diag *diag)
{
    bnn_bcast bc;
    BNN_TRY(binary_setup(args, &bc, diag));
    float *ga = grads->grad_inputs[0].data, *gb = grads->grad_inputs[1].data;
    if (!ga && !gb)
        return BNN_OK;
    if (args->inputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->inputs[0].dtype);
    binary_backward_f32(op, &bc, args->inputs[0].data, args->inputs[1].data,
                        grads->grad_outputs[0].data, ga, gb);
    return BNN_OK;
}

#define BINARY_KERNEL(stem, OP)                                                            \
    static bnn_status stem##_forward(const bnn_kernel_args *args, bnn_diag *diag)         \
    {                                                                                      \
        return binary_forward(args, OP, diag);                                             \
    }                                                                                      \
    static bnn_status stem##_backward(const bnn_kernel_args *args,                         \
                                      const bnn_kernel_grads *grads, bnn_diag *diag)       \
    {                                                                                      \
        return binary_backward(args, grads, OP, diag);                                     \
    }                                                                                      \
    const bnn_kernel bnn_kernel_##stem = {.forward = stem##_forward, .backward = stem##_backward};

BINARY_KERNEL(add, BIN_ADD)
BINARY_KERNEL(sub, BIN_SUB)
BINARY_KERNEL(mul, BIN_MUL)
BINARY_KERNEL(div, BIN_DIV)

/* ---- prelu: y = x < 0 ? slope * x : x, slope broadcast to x ------------- */

static bnn_status prelu_setup(const bnn_kernel_args *args, bnn_bcast *bc, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *s = &args->inputs[1];
    if (x->dtype != BNN_F32 || s->dtype != BNN_F32)
        return fail_dtype(args, diag, x->dtype != BNN_F32 ? x->dtype : s->dtype);
    if (!bnn_bcast_init(bc, &x->shape, &s->shape, &x->shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "slope does not broadcast to the input");
    return BNN_OK;
}

DEFINE_BINARY(prelu_f32, float, x < 0 ? z * x : x)

static bnn_status prelu_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_bcast bc;
    BNN_TRY(prelu_setup(args, &bc, diag));
    prelu_f32(&bc, args->inputs[0].data, args->inputs[1].data, args->outputs[0].data);
    return BNN_OK;
}

static bnn_status prelu_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    bnn_bcast bc;
    BNN_TRY(prelu_setup(args, &bc, diag));
    const float *x = args->inputs[0].data, *s = args->inputs[1].data;
    const float *g = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[0].data, *gs = grads->grad_inputs[1].data;
    if (bc.n == 0)
        return BNN_OK;
    int last = bc.rank - 1;
    int64_t inner = bc.dims[last], rows = bc.n / inner;
    for (int64_t row = 0; row < rows; row++) {
        int64_t ox, os;
        bnn_bcast_row(&bc, row, &ox, &os);
        for (int64_t i = 0; i < inner; i++) {
            int64_t ix = ox + i * bc.stride_a[last], is = os + i * bc.stride_b[last];
            float gi = g[row * inner + i];
            if (gx) gx[ix] += x[ix] < 0 ? gi * s[is] : gi;
            if (gs && x[ix] < 0) gs[is] += gi * x[ix];
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_prelu = {.forward = prelu_forward, .backward = prelu_backward};


/* ---- one-input ops ------------------------------------------------------ */

/* v clamped to [0, 1]; NaN stays NaN (ONNX's reference clips with numpy). */
static inline __attribute__((always_inline)) float hard_sigmoid_f(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* Gelu, x * Phi(x): exact with erf, or (tanh_form) with ONNX's tanh
 * approximation of Phi; and its derivative Phi(x) + x * Phi'(x). */
#define GELU_TANH_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_TANH_K 0.044715f
static inline __attribute__((always_inline)) float gelu_f(float x, bool tanh_form)
{
    if (tanh_form)
        return 0.5f * x * (1.0f + tanhf(GELU_TANH_C * (x + GELU_TANH_K * x * x * x)));
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

static inline __attribute__((always_inline)) float gelu_grad_f(float x, bool tanh_form)
{
    if (tanh_form) {
        float t = tanhf(GELU_TANH_C * (x + GELU_TANH_K * x * x * x));
        float du = GELU_TANH_C * (1.0f + 3.0f * GELU_TANH_K * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    /* Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi) */
    return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
           x * 0.3989422804014327f * expf(-0.5f * x * x);
}

/* Mish, x * tanh(softplus(x)); d/dx = t + x * (1 - t^2) * sigmoid(x). */
static inline __attribute__((always_inline)) float mish_grad_f(float x)
{
    float t = vecmath_tanh(vecmath_softplus(x));
    return t + x * (1.0f - t * t) * vecmath_sigmoid(x);
}

/* x rounded to the nearest integer, halves to the even one (ONNX Round),
 * whatever the rounding mode; NaN, infinities and +-0 stay as they are.
 * roundf takes halves away from zero; at a half n + 0.5, x / 2 is exact and
 * rounding it and doubling gives whichever of n, n + 1 is even. */
static inline __attribute__((always_inline)) float round_half_even_f(float x)
{
    float r = roundf(x);
    if (fabsf(r - x) == 0.5f)
        r = 2.0f * roundf(x * 0.5f);
    return r;
}

/* The f32 one-input ops, one row each: the op's STEM (ops.def, which also
 * names its kernel bnn_kernel_<stem>), the forward y of x, and the gradient:
 * what dL/dx gains from g = dL/dy.  Both may read x, y (the forward's
 * output), g, and the attributes alpha, beta, gamma, lambd and bias: each is
 * the node's attribute, else its ops.def default, else 0; and tanh_form,
 * whether gelu's approximate is "tanh".  A new activation is one row
 * here (docs/adding-an-op.md); an ops.def row whose stem has no row (nor a
 * kernel elsewhere) fails the link of the kernel table (runtime/kernels.c). */
#define UNARY_OPS(X)                                                                    \
    X(relu, x > 0 ? x : (x != x ? x : 0.0f), x > 0 ? g : 0.0f)                          \
    X(leaky_relu, vecmath_select(x >= 0, x, alpha * x), vecmath_select(x >= 0, g, alpha * g)) \
    X(elu, vecmath_select(x >= 0, x, alpha * vecmath_expm1_nonpositive(x)),            \
      vecmath_select(x >= 0, g, g * (y + alpha)))                                      \
    X(selu, vecmath_select(x > 0, gamma * x, gamma * alpha * vecmath_expm1_nonpositive(x)), \
      vecmath_select(x > 0, gamma * g, g * (y + gamma * alpha)))                        \
    X(sigmoid, vecmath_sigmoid(x), g * y * (1.0f - y))                                  \
    X(tanh, vecmath_tanh(x), g * (1.0f - y * y))                                        \
    X(softplus, vecmath_softplus(x), g * vecmath_sigmoid(x))                            \
    X(softsign, x / (1.0f + fabsf(x)), g / ((1.0f + fabsf(x)) * (1.0f + fabsf(x))))     \
    X(hard_sigmoid, hard_sigmoid_f(alpha * x + beta),                                  \
      vecmath_select((y > 0) & (y < 1), alpha * g, 0.0f))                              \
    X(hard_swish, x * hard_sigmoid_f(x / 6.0f + 0.5f),                                 \
      vecmath_select(x < -3.0f, 0.0f, vecmath_select(x > 3.0f, g, g * (x / 3.0f + 0.5f)))) \
    X(thresholded_relu, vecmath_select(x > alpha, x, 0.0f), vecmath_select(x > alpha, g, 0.0f)) \
    X(celu, x > 0 ? x : alpha * expm1f(x / alpha), x > 0 ? g : g * expf(x / alpha))     \
    X(gelu, gelu_f(x, tanh_form), g * gelu_grad_f(x, tanh_form))                       \
    X(mish, x * vecmath_tanh(vecmath_softplus(x)), g * mish_grad_f(x))                 \
    X(shrink, x < -lambd ? x + bias : x > lambd ? x - bias : 0.0f,                     \
      x < -lambd || x > lambd ? g : 0.0f)                                               \
    X(exp, expf(x), g * y)                                                              \
    X(log, logf(x), g / x)                                                              \
    X(sqrt, sqrtf(x), g * 0.5f / y)                                                     \
    X(reciprocal, 1.0f / x, -g * y * y)                                                 \
    X(abs, fabsf(x), x > 0 ? g : (x < 0 ? -g : 0.0f))                                   \
    X(neg, -x, -g)                                                                      \
    X(cos, cosf(x), -g * sinf(x))                                                       \
    X(sin, sinf(x), g * cosf(x))                                                        \
    X(tan, tanf(x), g * (1.0f + y * y))                                                 \
    X(acos, acosf(x), -g / sqrtf((1.0f - x) * (1.0f + x)))                              \
    X(asin, asinf(x), g / sqrtf((1.0f - x) * (1.0f + x)))                               \
    X(atan, atanf(x), g / (1.0f + x * x))                                               \
    X(cosh, coshf(x), g * sinhf(x))                                                     \
    X(sinh, sinhf(x), g * coshf(x))                                                     \
    X(acosh, acoshf(x), g / sqrtf((x - 1.0f) * (x + 1.0f)))                             \
    X(asinh, asinhf(x), g / hypotf(x, 1.0f))                                            \
    X(atanh, atanhf(x), g / ((1.0f - x) * (1.0f + x)))                                  \
    X(erf, erff(x), g * 1.12837916709551257f * expf(-x * x)) /* 2/sqrt(pi) */           \
    X(ceil, ceilf(x), 0.0f)                                                             \
    X(floor, floorf(x), 0.0f)                                                           \
    X(round, round_half_even_f(x), 0.0f)

/* UNARY_IDENTITY is no row: identity's kernel copies any type (below); its
 * gradient, and dropout's at inference, are this one. */
typedef enum {
#define UNARY_ENUM(stem, F, G) UNARY_##stem,
    UNARY_OPS(UNARY_ENUM)
#undef UNARY_ENUM
    UNARY_IDENTITY,
} unary_kind;

typedef struct unary_params {
    float alpha, beta, gamma, lambd, bias;
    bool tanh_form;
} unary_params;

/* The node's attribute, else the op's default, else 0. */
static float unary_attr(const bnn_kernel_args *args, const char *name)
{
    float v = 0.0f;
    if (bnn_node_attr(args->node, name))
        return bnn_node_float(args->node, name, 0.0f);
    bnn_op_default_float(args->node->op, name, &v);
    return v;
}

static unary_params unary_attrs(const bnn_kernel_args *args)
{
    unary_params p = {unary_attr(args, "alpha"), unary_attr(args, "beta"),
                      unary_attr(args, "gamma"), unary_attr(args, "lambd"),
                      unary_attr(args, "bias"),
                      strcmp(bnn_node_string(args->node, "approximate", "none"), "tanh") == 0};
    return p;
}

/* The loops below vectorise with the rows' selects as vector blends, which
 * GCC allows only without -ftrapping-math (nothing here reads the FP
 * exception flags): branch-free, so inputs of mixed sign cost what others do. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

/* The attributes a row's expressions may read, as locals (each row reads
 * only its own: the others are marked used). */
#define UNARY_PARAMS_IN_SCOPE(p)                                                          \
    float alpha = (p).alpha, beta = (p).beta, gamma = (p).gamma, lambd = (p).lambd,       \
          bias = (p).bias;                                                                \
    bool tanh_form = (p).tanh_form;                                                       \
    (void)alpha, (void)beta, (void)gamma, (void)lambd, (void)bias, (void)tanh_form

#define UNARY_LOOP(EXPR)                                                   \
    do {                                                                   \
        for (int64_t i = 0; i < n; i++) {                                  \
            float x = xs[i];                                               \
            ys[i] = (EXPR);                                                \
        }                                                                  \
    } while (0)

static inline __attribute__((always_inline)) void
unary_f32_body(unary_kind k, unary_params p, const float *xs, float *ys, int64_t n)
{
    UNARY_PARAMS_IN_SCOPE(p);
    switch (k) {
#define UNARY_FORWARD(stem, F, G) \
    case UNARY_##stem: UNARY_LOOP(F); break;
    UNARY_OPS(UNARY_FORWARD)
#undef UNARY_FORWARD
    case UNARY_IDENTITY: UNARY_LOOP(x); break;
    }
}

/* For the x86-64 baseline and for AVX2 (twice the lanes for the
 * polynomial activations), picked at run time. */
static void unary_f32_base(unary_kind k, unary_params p, const float *xs, float *ys, int64_t n)
{
    unary_f32_body(k, p, xs, ys, n);
}

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void unary_f32_avx2(unary_kind k, unary_params p, const float *xs,
                                        float *ys, int64_t n)
{
    unary_f32_body(k, p, xs, ys, n);
}
#endif

typedef void unary_f32_fn(unary_kind, unary_params, const float *, float *, int64_t);

/* Chunks of UNARY_CHUNK elements over the threads (big tensors only), each
 * through the vectorised loop of the CPU's kind: elementwise, so the same
 * values for any split. */
#define UNARY_CHUNK 65536
static void unary_f32(unary_kind k, unary_params p, const float *xs, float *ys, int64_t n)
{
    unary_f32_fn *fn = unary_f32_base;
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        fn = unary_f32_avx2;
#endif
    int64_t chunks = (n + UNARY_CHUNK - 1) / UNARY_CHUNK;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * UNARY_CHUNK, len = n - lo < UNARY_CHUNK ? n - lo : UNARY_CHUNK;
        fn(k, p, xs + lo, ys + lo, len);
    }
}

/* neg and abs of every integer type and f64; wrapping as ONNX does for the
 * most negative value. */
#define DEFINE_INT_SIGN_OPS(suffix, T, W, SIGNED)                               \
    static void neg_##suffix(const void *vx, void *vy, int64_t n)               \
    {                                                                           \
        const T *x = vx;                                                        \
        T *y = vy;                                                              \
        for (int64_t i = 0; i < n; i++)                                         \
            y[i] = (T)((W)0 - (W)x[i]);                                         \
    }                                                                           \
    static void abs_##suffix(const void *vx, void *vy, int64_t n)               \
    {                                                                           \
        const T *x = vx;                                                        \
        T *y = vy;                                                              \
        for (int64_t i = 0; i < n; i++)                                         \
            y[i] = (SIGNED && (int64_t)x[i] < 0) ? (T)((W)0 - (W)x[i]) : x[i];        \
    }

DEFINE_INT_SIGN_OPS(i8, int8_t, uint32_t, 1)
DEFINE_INT_SIGN_OPS(u8, uint8_t, uint32_t, 0)
DEFINE_INT_SIGN_OPS(i16, int16_t, uint32_t, 1)
DEFINE_INT_SIGN_OPS(u16, uint16_t, uint32_t, 0)
DEFINE_INT_SIGN_OPS(i32, int32_t, uint32_t, 1)
DEFINE_INT_SIGN_OPS(u32, uint32_t, uint32_t, 0)
DEFINE_INT_SIGN_OPS(i64, int64_t, uint64_t, 1)
DEFINE_INT_SIGN_OPS(u64, uint64_t, uint64_t, 0)

static void neg_f64(const void *vx, void *vy, int64_t n)
{
    const double *x = vx;
    double *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = -x[i];
}

static void abs_f64(const void *vx, void *vy, int64_t n)
{
    const double *x = vx;
    double *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = fabs(x[i]);
}

typedef void (*sign_fn)(const void *x, void *y, int64_t n);

static sign_fn sign_op(bnn_dtype dt, bool neg)
{
#define SIGN_CASE(DT, suffix) case DT: return neg ? neg_##suffix : abs_##suffix;
    switch (dt) {
    SIGN_CASE(BNN_F64, f64)
    SIGN_CASE(BNN_I8, i8)
    SIGN_CASE(BNN_U8, u8)
    SIGN_CASE(BNN_I16, i16)
    SIGN_CASE(BNN_U16, u16)
    SIGN_CASE(BNN_I32, i32)
    SIGN_CASE(BNN_U32, u32)
    SIGN_CASE(BNN_I64, i64)
    SIGN_CASE(BNN_U64, u64)
    default: return NULL;
    }
#undef SIGN_CASE
}

static bnn_status unary_forward(const bnn_kernel_args *args, unary_kind k, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    int64_t n = bnn_tensor_numel(x);
    if (x->dtype == BNN_F32) {
        unary_f32(k, unary_attrs(args), x->data, y->data, n);
        return BNN_OK;
    }
    if (k == UNARY_neg || k == UNARY_abs) {
        sign_fn fn = sign_op(x->dtype, k == UNARY_neg);
        if (fn) {
            fn(x->data, y->data, n);
            return BNN_OK;
        }
    }
    return fail_dtype(args, diag, x->dtype);
}

#define GRAD_LOOP(EXPR)                                                    \
    do {                                                                   \
        for (int64_t i = 0; i < n; i++) {                                  \
            float x = xs[i], y = ys[i], g = gs[i];                         \
            gx[i] += (EXPR);                                               \
            (void)x;                                                       \
            (void)y;                                                       \
            (void)g;                                                       \
        }                                                                  \
    } while (0)

/* gx += the gradient of kind k over n elements: for the baseline and AVX2. */
static inline __attribute__((always_inline)) void
unary_grad_body(unary_kind k, unary_params p, const float *xs, const float *ys,
                const float *gs, float *gx, int64_t n)
{
    UNARY_PARAMS_IN_SCOPE(p);
    switch (k) {
#define UNARY_GRADIENT(stem, F, G) \
    case UNARY_##stem: GRAD_LOOP(G); break;
    UNARY_OPS(UNARY_GRADIENT)
#undef UNARY_GRADIENT
    case UNARY_IDENTITY: GRAD_LOOP(g); break;
    }
}

typedef void unary_grad_fn(unary_kind, unary_params, const float *, const float *,
                           const float *, float *, int64_t);

static void unary_grad_base(unary_kind k, unary_params p, const float *xs, const float *ys,
                            const float *gs, float *gx, int64_t n)
{
    unary_grad_body(k, p, xs, ys, gs, gx, n);
}

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void unary_grad_avx2(unary_kind k, unary_params p, const float *xs,
                                         const float *ys, const float *gs, float *gx, int64_t n)
{
    unary_grad_body(k, p, xs, ys, gs, gx, n);
}
#endif

static bnn_status unary_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 unary_kind k, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    if (args->inputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->inputs[0].dtype);
    const float *xs = args->inputs[0].data, *ys = args->outputs[0].data;
    const float *gs = grads->grad_outputs[0].data;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    unary_params p = unary_attrs(args);
    unary_grad_fn *fn = unary_grad_base;
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        fn = unary_grad_avx2;
#endif
    int64_t chunks = (n + UNARY_CHUNK - 1) / UNARY_CHUNK;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * UNARY_CHUNK, len = n - lo < UNARY_CHUNK ? n - lo : UNARY_CHUNK;
        fn(k, p, xs + lo, ys + lo, gs + lo, gx + lo, len);
    }
    return BNN_OK;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#define UNARY_KERNEL(stem, F, G)                                                          \
    static bnn_status stem##_forward(const bnn_kernel_args *args, bnn_diag *diag)         \
    {                                                                                      \
        return unary_forward(args, UNARY_##stem, diag);                                    \
    }                                                                                      \
    static bnn_status stem##_backward(const bnn_kernel_args *args,                         \
                                      const bnn_kernel_grads *grads, bnn_diag *diag)       \
    {                                                                                      \
        return unary_backward(args, grads, UNARY_##stem, diag);                            \
    }                                                                                      \
    const bnn_kernel bnn_kernel_##stem = {.forward = stem##_forward, .backward = stem##_backward};
UNARY_OPS(UNARY_KERNEL)
#undef UNARY_KERNEL

/* ---- identity: any type ------------------------------------------------- */

static bnn_status copy_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    (void)diag;
    if (args->outputs[0].data != args->inputs[0].data)
        memcpy(args->outputs[0].data, args->inputs[0].data, bnn_tensor_nbytes(&args->inputs[0]));
    return BNN_OK;
}

static bnn_status identity_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                    bnn_diag *diag)
{
    return unary_backward(args, grads, UNARY_IDENTITY, diag);
}

const bnn_kernel bnn_kernel_identity = {.forward = copy_forward, .backward = identity_backward};

/* ---- clip --------------------------------------------------------------- */

/* Bounds as doubles (exact for every type but 64-bit integers beyond 2^53,
 * which no model clips at); an absent bound is +-infinity. */
static bnn_status clip_bounds(const bnn_kernel_args *args, double *lo, double *hi,
                              bnn_diag *diag)
{
    const bnn_attr *amin = bnn_node_attr(args->node, "min");
    const bnn_attr *amax = bnn_node_attr(args->node, "max");
    *lo = amin ? (double)amin->f : -INFINITY;
    *hi = amax ? (double)amax->f : INFINITY;
    for (int k = 1; k <= 2 && k < args->n_inputs; k++) {
        const bnn_tensor *t = &args->inputs[k];
        if (!t->data)
            continue;
        if (t->dtype != args->inputs[0].dtype || bnn_tensor_numel(t) != 1)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "%s", k == 1 ? "min must be a scalar of the input's type"
                                    : "max must be a scalar of the input's type");
        double v;
        switch (t->dtype) {
        case BNN_F32: v = *(const float *)t->data; break;
        case BNN_F64: v = *(const double *)t->data; break;
        case BNN_I8: v = *(const int8_t *)t->data; break;
        case BNN_U8: v = *(const uint8_t *)t->data; break;
        case BNN_I16: v = *(const int16_t *)t->data; break;
        case BNN_U16: v = *(const uint16_t *)t->data; break;
        case BNN_I32: v = *(const int32_t *)t->data; break;
        case BNN_U32: v = *(const uint32_t *)t->data; break;
        case BNN_I64: v = (double)*(const int64_t *)t->data; break;
        case BNN_U64: v = (double)*(const uint64_t *)t->data; break;
        default: return fail_dtype(args, diag, t->dtype);
        }
        if (k == 1) *lo = v; else *hi = v;
    }
    return BNN_OK;
}

/* ONNX order: max(x, lo) first, then min(., hi); lo > hi gives hi. */
#define CLIP_CASE(DT, T)                                               \
    case DT: {                                                         \
        const T *x = args->inputs[0].data;                             \
        T *y = args->outputs[0].data;                                  \
        for (int64_t i = 0; i < n; i++) {                              \
            double v = (double)x[i];                                   \
            if (v < lo) v = lo;                                        \
            if (v > hi) v = hi;                                        \
            y[i] = (v == (double)x[i]) ? x[i] : (T)v;                  \
        }                                                              \
        return BNN_OK;                                                 \
    }

static bnn_status clip_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    double lo, hi;
    BNN_TRY(clip_bounds(args, &lo, &hi, diag));
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    if (args->inputs[0].dtype == BNN_F32) {
        const float *x = args->inputs[0].data;
        float *y = args->outputs[0].data;
        float flo = (float)lo, fhi = (float)hi;
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < flo ? flo : x[i];
            y[i] = v > fhi ? fhi : v;
        }
        return BNN_OK;
    }
    switch (args->inputs[0].dtype) {
    CLIP_CASE(BNN_F64, double)
    CLIP_CASE(BNN_I8, int8_t)
    CLIP_CASE(BNN_U8, uint8_t)
    CLIP_CASE(BNN_I16, int16_t)
    CLIP_CASE(BNN_U16, uint16_t)
    CLIP_CASE(BNN_I32, int32_t)
    CLIP_CASE(BNN_U32, uint32_t)
    CLIP_CASE(BNN_I64, int64_t)
    CLIP_CASE(BNN_U64, uint64_t)
    default: return fail_dtype(args, diag, args->inputs[0].dtype);
    }
}

/* The gradient passes to x where lo <= x <= hi (as PyTorch's clamp); a bound
 * given as an input gets the gradient of the elements it clipped. */
static bnn_status clip_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    float *glo = args->n_inputs > 1 ? grads->grad_inputs[1].data : NULL;
    float *ghi = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    if (!gx && !glo && !ghi)
        return BNN_OK;
    if (args->inputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->inputs[0].dtype);
    double lo, hi;
    BNN_TRY(clip_bounds(args, &lo, &hi, diag));
    const float *x = args->inputs[0].data, *g = grads->grad_outputs[0].data;
    float flo = (float)lo, fhi = (float)hi;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    double sum_lo = 0, sum_hi = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < flo ? flo : x[i];
        if (v > fhi)
            sum_hi += g[i]; /* the result is hi (also when lo > hi) */
        else if (x[i] < flo)
            sum_lo += g[i];
        else if (gx)
            gx[i] += g[i];
    }
    if (glo)
        glo[0] += (float)sum_lo;
    if (ghi)
        ghi[0] += (float)sum_hi;
    return BNN_OK;
}

const bnn_kernel bnn_kernel_clip = {.forward = clip_forward, .backward = clip_backward};

/* ---- dropout ------------------------------------------------------------ */

/* In training, element i is kept when uniform i of the stream
 * (seed, node, BNN_RNG_PURPOSE_DROPOUT, step) is >= ratio; the mask (one byte
 * per element) stays in state for backward. */
#define DROPOUT_CHUNK 4096

static float dropout_ratio(const bnn_kernel_args *args)
{
    return bnn_node_float(args->node, "ratio", 0.5f);
}

static bool dropout_active(const bnn_kernel_args *args)
{
    return args->training && dropout_ratio(args) > 0.0f;
}

static size_t dropout_state_size(const bnn_kernel_args *args)
{
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    return n > 0 ? (size_t)n : 0;
}

static bnn_status dropout_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    if (!dropout_active(args))
        return copy_forward(args, diag);
    if (args->inputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->inputs[0].dtype);
    float ratio = dropout_ratio(args);
    if (ratio > 1.0f)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "ratio must be in [0, 1]");
    float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
    uint8_t *mask = args->state;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    bnn_rng_stream s = bnn_rng_stream_make(args->seed, args->node_id, BNN_RNG_PURPOSE_DROPOUT,
                                           args->step);
    uint64_t first = bnn_kernel_draw_first(args, n, &args->inputs[0]);
    int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        float u[DROPOUT_CHUNK];
        int64_t begin = c * DROPOUT_CHUNK;
        int64_t len = n - begin < DROPOUT_CHUNK ? n - begin : DROPOUT_CHUNK;
        bnn_rng_uniform(&s, first + (uint64_t)begin, (size_t)len, u);
        for (int64_t i = 0; i < len; i++) {
            uint8_t keep = u[i] >= ratio;
            mask[begin + i] = keep;
            y[begin + i] = keep ? x[begin + i] * scale : 0.0f;
        }
    }
    return BNN_OK;
}

static bnn_status dropout_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                   bnn_diag *diag)
{
    if (!dropout_active(args))
        return unary_backward(args, grads, UNARY_IDENTITY, diag);
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    float ratio = dropout_ratio(args);
    float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    const uint8_t *mask = args->state;
    const float *g = grads->grad_outputs[0].data;
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    for (int64_t i = 0; i < n; i++)
        if (mask[i])
            gx[i] += g[i] * scale;
    return BNN_OK;
}

const bnn_kernel bnn_kernel_dropout = {.forward = dropout_forward,
                                       .backward = dropout_backward,
                                       .state_size = dropout_state_size};

/* The same, and the mask as output 1: the kept elements of the draw while
 * training, else all true. */
static bnn_status dropout_masked_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(dropout_forward(args, diag));
    int64_t n = bnn_tensor_numel(&args->outputs[1]);
    if (n > 0 && dropout_active(args))
        memcpy(args->outputs[1].data, args->state, (size_t)n);
    else if (n > 0)
        memset(args->outputs[1].data, 1, (size_t)n);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_dropout_masked = {.forward = dropout_masked_forward,
                                              .backward = dropout_backward,
                                              .state_size = dropout_state_size};
