/* Comparison, logic and selection kernels, with numpy broadcasting over two
 * or three operands: equal, greater, less, greater_or_equal, less_or_equal
 * (any numeric type, f16, bool for equal; y bool), and, or, xor, not (bool),
 * where (any element type, picked by bits), sign, mod, is_nan and is_inf.
 *
 * Gradients: where sends g to x where the condition holds and to y
 * elsewhere, summed over broadcast dims.  The comparisons, sign, is_nan and
 * is_inf are piecewise constant: their backward adds zero, so a mask computed
 * from a trained activation does not stop training.  The logic ops take only
 * bool (never a gradient); mod has no backward.
 */
#include <math.h>
#include <string.h>

#include "half_impl.h"
#include "kernel.h"

static bnn_status fail_dtype(const bnn_kernel_args *args, bnn_diag *diag, bnn_dtype dt,
                             const char *what)
{
    const char *name = bnn_dtype_name(dt);
    return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "%s of element type %s is not supported",
                           what, name ? name : "?");
}

/* ---- broadcasting over up to three operands -------------------------------- */

#define MAX_OPS 3

/* The output's dims with size-1 dims dropped and dims contiguous in every
 * operand merged; stride[k][d] is operand k's step (elements) along dim d,
 * 0 where it is broadcast.  rank >= 1. */
typedef struct walk {
    int rank;
    int64_t dims[BNN_MAX_RANK];
    int64_t stride[MAX_OPS][BNN_MAX_RANK];
    int64_t n;
} walk;

static bool walk_init(walk *w, const bnn_shape *out, const bnn_tensor *ops, int n_ops)
{
    int64_t full[MAX_OPS][BNN_MAX_RANK];
    for (int k = 0; k < n_ops; k++) {
        const bnn_shape *s = &ops[k].shape;
        if (s->rank < 0 || s->rank > out->rank)
            return false;
        int64_t step = 1;
        for (int d = out->rank - 1; d >= 0; d--) {
            int j = d - (out->rank - s->rank);
            int64_t dim = j >= 0 ? s->dims[j] : 1;
            if (dim == out->dims[d] && dim != 1) {
                full[k][d] = step;
                step *= dim;
            } else if (dim == 1) {
                full[k][d] = 0;
            } else {
                return false;
            }
        }
    }
    w->rank = 0;
    w->n = 1;
    for (int d = 0; d < out->rank; d++) {
        w->n *= out->dims[d];
        if (out->dims[d] == 1)
            continue;
        int r = w->rank;
        bool merge = r > 0;
        for (int k = 0; k < n_ops && merge; k++)
            merge = w->stride[k][r - 1] == full[k][d] * out->dims[d];
        if (merge) {
            w->dims[r - 1] *= out->dims[d];
            for (int k = 0; k < n_ops; k++)
                w->stride[k][r - 1] = full[k][d];
        } else {
            w->dims[r] = out->dims[d];
            for (int k = 0; k < n_ops; k++)
                w->stride[k][r] = full[k][d];
            w->rank++;
        }
    }
    if (w->rank == 0) {
        w->rank = 1;
        w->dims[0] = 1;
        for (int k = 0; k < MAX_OPS; k++)
            w->stride[k][0] = 0;
    }
    for (int k = n_ops; k < MAX_OPS; k++)
        for (int d = 0; d < w->rank; d++)
            w->stride[k][d] = 0;
    return true;
}

/* Offsets of every operand at the start of row `row` (rows span every dim
 * but the last). */
static inline void walk_row(const walk *w, int64_t row, int64_t *o)
{
    o[0] = o[1] = o[2] = 0;
    for (int d = w->rank - 2; d >= 0; d--) {
        int64_t i = row % w->dims[d];
        row /= w->dims[d];
        for (int k = 0; k < MAX_OPS; k++)
            o[k] += i * w->stride[k][d];
    }
}

/* Runs the body once per output element with oy (the output index) and o0,
 * o1, o2 (the operands' indices). */
#define WALK(w, ...)                                                           \
    do {                                                                       \
        int last_ = (w)->rank - 1;                                             \
        int64_t inner_ = (w)->dims[last_];                                     \
        int64_t s0_ = (w)->stride[0][last_], s1_ = (w)->stride[1][last_];      \
        int64_t s2_ = (w)->stride[2][last_];                                   \
        int64_t rows_ = (w)->n ? (w)->n / inner_ : 0;                          \
        for (int64_t row_ = 0; row_ < rows_; row_++) {                         \
            int64_t b_[MAX_OPS];                                               \
            walk_row(w, row_, b_);                                             \
            for (int64_t i_ = 0; i_ < inner_; i_++) {                          \
                int64_t oy = row_ * inner_ + i_, o0 = b_[0] + i_ * s0_;        \
                int64_t o1 = b_[1] + i_ * s1_, o2 = b_[2] + i_ * s2_;          \
                (void)o0, (void)o1, (void)o2;                                  \
                __VA_ARGS__;                                                   \
            }                                                                  \
        }                                                                      \
    } while (0)

/* The inputs broadcast to the output: fails naming the node otherwise. */
static bnn_status walk_node(const bnn_kernel_args *args, int n_ops, walk *w, bnn_diag *diag)
{
    for (int k = 0; k < n_ops; k++)
        if (!args->inputs[k].data && bnn_tensor_numel(&args->inputs[k]) != 0)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "an input is absent");
    if (!walk_init(w, &args->outputs[0].shape, args->inputs, n_ops)) {
        char so[200];
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "the inputs do not broadcast to the output %s",
                               bnn_shape_format(&args->outputs[0].shape, args->outputs[0].dtype,
                                                so, sizeof so));
    }
    return BNN_OK;
}

#define AS_IS(v) (v)

/* Binary inputs of one type, output of type `out`. */
static bnn_status check_binary(const bnn_kernel_args *args, bnn_dtype out, bnn_diag *diag)
{
    if (args->n_inputs != 2 || args->inputs[0].dtype != args->inputs[1].dtype)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "the two inputs have different element types");
    if (args->outputs[0].dtype != out)
        return fail_dtype(args, diag, args->outputs[0].dtype, "an output");
    return BNN_OK;
}

/* ---- comparisons ------------------------------------------------------------- */

#define CMP_CASES(T, LOAD)                                                              \
    {                                                                                   \
        const T *a = args->inputs[0].data, *b = args->inputs[1].data;                  \
        switch (op) {                                                                   \
        case BNN_OP_EQUAL: WALK(&w, y[oy] = LOAD(a[o0]) == LOAD(b[o1])); break;         \
        case BNN_OP_GREATER: WALK(&w, y[oy] = LOAD(a[o0]) > LOAD(b[o1])); break;        \
        case BNN_OP_LESS: WALK(&w, y[oy] = LOAD(a[o0]) < LOAD(b[o1])); break;           \
        case BNN_OP_GREATER_OR_EQUAL: WALK(&w, y[oy] = LOAD(a[o0]) >= LOAD(b[o1])); break; \
        default: WALK(&w, y[oy] = LOAD(a[o0]) <= LOAD(b[o1])); break;                   \
        }                                                                               \
        return BNN_OK;                                                                  \
    }

#define BOOL_LOAD(v) ((v) != 0)

static bnn_status compare_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_binary(args, BNN_BOOL, diag));
    walk w;
    BNN_TRY(walk_node(args, 2, &w, diag));
    bnn_op op = args->node->op;
    uint8_t *y = args->outputs[0].data;
    switch (args->inputs[0].dtype) {
    case BNN_F32: CMP_CASES(float, AS_IS)
    case BNN_F64: CMP_CASES(double, AS_IS)
    case BNN_F16: CMP_CASES(uint16_t, half_to_float)
    case BNN_I8: CMP_CASES(int8_t, AS_IS)
    case BNN_I16: CMP_CASES(int16_t, AS_IS)
    case BNN_I32: CMP_CASES(int32_t, AS_IS)
    case BNN_I64: CMP_CASES(int64_t, AS_IS)
    case BNN_U8: CMP_CASES(uint8_t, AS_IS)
    case BNN_U16: CMP_CASES(uint16_t, AS_IS)
    case BNN_U32: CMP_CASES(uint32_t, AS_IS)
    case BNN_U64: CMP_CASES(uint64_t, AS_IS)
    case BNN_BOOL: CMP_CASES(uint8_t, BOOL_LOAD)
    default: return fail_dtype(args, diag, args->inputs[0].dtype, "inputs");
    }
}

/* Piecewise constant: the gradient is zero (nothing to add). */
static bnn_status zero_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    (void)args, (void)grads, (void)diag;
    return BNN_OK;
}

const bnn_kernel bnn_kernel_compare = {.forward = compare_forward, .backward = zero_backward};

/* ---- and, or, xor, not --------------------------------------------------------- */

static bnn_status logic_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_binary(args, BNN_BOOL, diag));
    if (args->inputs[0].dtype != BNN_BOOL)
        return fail_dtype(args, diag, args->inputs[0].dtype, "inputs");
    walk w;
    BNN_TRY(walk_node(args, 2, &w, diag));
    const uint8_t *a = args->inputs[0].data, *b = args->inputs[1].data;
    uint8_t *y = args->outputs[0].data;
    switch (args->node->op) {
    case BNN_OP_AND: WALK(&w, y[oy] = (a[o0] != 0) & (b[o1] != 0)); break;
    case BNN_OP_OR: WALK(&w, y[oy] = (a[o0] != 0) | (b[o1] != 0)); break;
    default: WALK(&w, y[oy] = (a[o0] != 0) ^ (b[o1] != 0)); break;
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_logic = {.forward = logic_forward};

/* Same shape in and out, both of the given types. */
static bnn_status check_unary(const bnn_kernel_args *args, bnn_dtype out, bnn_diag *diag)
{
    if (out != BNN_UNDEFINED && args->outputs[0].dtype != out)
        return fail_dtype(args, diag, args->outputs[0].dtype, "an output");
    if (!bnn_shape_equal(&args->inputs[0].shape, &args->outputs[0].shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output shape differs from the input's");
    if (!args->inputs[0].data && bnn_tensor_numel(&args->inputs[0]) != 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "the input is absent");
    return BNN_OK;
}

static bnn_status not_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_unary(args, BNN_BOOL, diag));
    if (args->inputs[0].dtype != BNN_BOOL)
        return fail_dtype(args, diag, args->inputs[0].dtype, "an input");
    const uint8_t *x = args->inputs[0].data;
    uint8_t *y = args->outputs[0].data;
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] == 0;
    return BNN_OK;
}

const bnn_kernel bnn_kernel_logical_not = {.forward = not_forward};

/* ---- where ------------------------------------------------------------------------ */

#define WHERE_COPY(T)                                                          \
    {                                                                          \
        const T *x = args->inputs[1].data, *z = args->inputs[2].data;          \
        T *y = args->outputs[0].data;                                          \
        WALK(&w, y[oy] = c[o0] ? x[o1] : z[o2]);                               \
        break;                                                                 \
    }

static bnn_status where_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_dtype dt = args->outputs[0].dtype;
    size_t es = bnn_dtype_size(dt);
    if (args->n_inputs != 3 || args->inputs[0].dtype != BNN_BOOL)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "the condition (input 0) must be bool");
    if (args->inputs[1].dtype != dt || args->inputs[2].dtype != dt)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "inputs 1 and 2 must have the output's element type");
    if (dt == BNN_STRING || (es != 1 && es != 2 && es != 4 && es != 8))
        return fail_dtype(args, diag, dt, "inputs");
    walk w;
    BNN_TRY(walk_node(args, 3, &w, diag));
    const uint8_t *c = args->inputs[0].data;
    switch (es) {
    case 1: WHERE_COPY(uint8_t)
    case 2: WHERE_COPY(uint16_t)
    case 4: WHERE_COPY(uint32_t)
    default: WHERE_COPY(uint64_t)
    }
    return BNN_OK;
}

/* g goes to x where the condition holds, to y elsewhere; a broadcast operand
 * sums it over the dims it was broadcast along (several outputs read one
 * element, so += collects them). */
static bnn_status where_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    const float *g = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[1].data, *gz = grads->grad_inputs[2].data;
    if (!g || (!gx && !gz))
        return BNN_OK;
    if (args->outputs[0].dtype != BNN_F32)
        return fail_dtype(args, diag, args->outputs[0].dtype, "gradients");
    walk w;
    BNN_TRY(walk_node(args, 3, &w, diag));
    const uint8_t *c = args->inputs[0].data;
    if (gx)
        WALK(&w, if (c[o0]) gx[o1] += g[oy]);
    if (gz)
        WALK(&w, if (!c[o0]) gz[o2] += g[oy]);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_where = {.forward = where_forward, .backward = where_backward};

/* ---- sign ------------------------------------------------------------------------- */

/* -1, 0 or 1 in x's type; NaN stays NaN. */
#define SIGN_FLOAT(T)                                                          \
    {                                                                          \
        const T *x = args->inputs[0].data;                                     \
        T *y = args->outputs[0].data;                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            y[i] = x[i] > 0 ? (T)1 : x[i] < 0 ? (T)-1 : x[i] == 0 ? (T)0 : x[i]; \
        break;                                                                 \
    }
#define SIGN_INT(T)                                                            \
    {                                                                          \
        const T *x = args->inputs[0].data;                                     \
        T *y = args->outputs[0].data;                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            y[i] = (T)((x[i] > 0) - (x[i] < 0));                               \
        break;                                                                 \
    }
#define SIGN_UNSIGNED(T)                                                       \
    {                                                                          \
        const T *x = args->inputs[0].data;                                     \
        T *y = args->outputs[0].data;                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            y[i] = x[i] != 0;                                                  \
        break;                                                                 \
    }

static bnn_status sign_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_dtype dt = args->inputs[0].dtype;
    BNN_TRY(check_unary(args, dt, diag));
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    switch (dt) {
    case BNN_F32: SIGN_FLOAT(float)
    case BNN_F64: SIGN_FLOAT(double)
    case BNN_F16: {
        const uint16_t *x = args->inputs[0].data;
        uint16_t *y = args->outputs[0].data;
        for (int64_t i = 0; i < n; i++) {
            bool nan = (x[i] & 0x7c00) == 0x7c00 && (x[i] & 0x3ff);
            y[i] = nan ? x[i] : (x[i] & 0x7fff) == 0 ? 0 : x[i] & 0x8000 ? 0xbc00 : 0x3c00;
        }
        break;
    }
    case BNN_I8: SIGN_INT(int8_t)
    case BNN_I16: SIGN_INT(int16_t)
    case BNN_I32: SIGN_INT(int32_t)
    case BNN_I64: SIGN_INT(int64_t)
    case BNN_U8: SIGN_UNSIGNED(uint8_t)
    case BNN_U16: SIGN_UNSIGNED(uint16_t)
    case BNN_U32: SIGN_UNSIGNED(uint32_t)
    case BNN_U64: SIGN_UNSIGNED(uint64_t)
    default: return fail_dtype(args, diag, dt, "inputs");
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_sign = {.forward = sign_forward, .backward = zero_backward};

/* ---- mod --------------------------------------------------------------------------- */

/* Signed: fmod=1 truncates (the dividend's sign), fmod=0 floors (the
 * divisor's sign).  Computed in 64 bits, exact for every narrower type; x %
 * -1 is 0 (INT64_MIN % -1 would trap). */
static inline int64_t mod_signed(int64_t a, int64_t b, bool truncated)
{
    int64_t r = b == -1 ? 0 : a % b;
    if (!truncated && r != 0 && (r < 0) != (b < 0))
        r += b;
    return r;
}

static inline double mod_float(double a, double b, bool truncated)
{
    double r = fmod(a, b);
    if (!truncated && r != 0 && (r < 0) != (b < 0))
        r += b;
    return r;
}

#define MOD_SIGNED(T)                                                          \
    {                                                                          \
        const T *a = args->inputs[0].data, *b = args->inputs[1].data;          \
        T *y = args->outputs[0].data;                                          \
        bool zero = false;                                                     \
        WALK(&w, if (b[o1] == 0) zero = true; else y[oy] = (T)mod_signed(a[o0], b[o1], f)); \
        if (zero)                                                              \
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "integer division by zero"); \
        break;                                                                 \
    }
#define MOD_UNSIGNED(T)                                                        \
    {                                                                          \
        const T *a = args->inputs[0].data, *b = args->inputs[1].data;          \
        T *y = args->outputs[0].data;                                          \
        bool zero = false;                                                     \
        WALK(&w, if (b[o1] == 0) zero = true; else y[oy] = (T)(a[o0] % b[o1])); \
        if (zero)                                                              \
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "integer division by zero"); \
        break;                                                                 \
    }
#define MOD_FLOAT(T)                                                           \
    {                                                                          \
        const T *a = args->inputs[0].data, *b = args->inputs[1].data;          \
        T *y = args->outputs[0].data;                                          \
        WALK(&w, y[oy] = (T)mod_float(a[o0], b[o1], f));                       \
        break;                                                                 \
    }

static bnn_status mod_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_dtype dt = args->inputs[0].dtype;
    BNN_TRY(check_binary(args, dt, diag));
    int64_t fm = bnn_node_int(args->node, "fmod", 0);
    if (fm != 0 && fm != 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "attribute 'fmod' must be 0 or 1");
    bool f = fm == 1;
    walk w;
    BNN_TRY(walk_node(args, 2, &w, diag));
    switch (dt) {
    case BNN_F32: MOD_FLOAT(float)
    case BNN_F64: MOD_FLOAT(double)
    case BNN_F16: {
        const uint16_t *a = args->inputs[0].data, *b = args->inputs[1].data;
        uint16_t *y = args->outputs[0].data;
        WALK(&w, y[oy] = float_to_half((float)mod_float(half_to_float(a[o0]),
                                                         half_to_float(b[o1]), f)));
        break;
    }
    case BNN_I8: MOD_SIGNED(int8_t)
    case BNN_I16: MOD_SIGNED(int16_t)
    case BNN_I32: MOD_SIGNED(int32_t)
    case BNN_I64: MOD_SIGNED(int64_t)
    case BNN_U8: MOD_UNSIGNED(uint8_t)
    case BNN_U16: MOD_UNSIGNED(uint16_t)
    case BNN_U32: MOD_UNSIGNED(uint32_t)
    case BNN_U64: MOD_UNSIGNED(uint64_t)
    default: return fail_dtype(args, diag, dt, "inputs");
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_mod = {.forward = mod_forward};

/* ---- bit_shift ---------------------------------------------------------------- */

#define SHIFT(T, BITS)                                                                   \
    {                                                                                    \
        const T *a = args->inputs[0].data, *b = args->inputs[1].data;                    \
        T *y = args->outputs[0].data;                                                    \
        WALK(&w, y[oy] = b[o1] >= (BITS) ? (T)0                                          \
                         : left ? (T)(a[o0] << b[o1]) : (T)(a[o0] >> b[o1]));            \
        break;                                                                           \
    }

static bnn_status bit_shift_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_dtype dt = args->inputs[0].dtype;
    BNN_TRY(check_binary(args, dt, diag));
    const char *dir = bnn_node_string(args->node, "direction", "");
    bool left = strcmp(dir, "LEFT") == 0;
    if (!left && strcmp(dir, "RIGHT") != 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                               "attribute 'direction' is '%s', expected 'LEFT' or 'RIGHT'", dir);
    walk w;
    BNN_TRY(walk_node(args, 2, &w, diag));
    switch (dt) {
    case BNN_U8: SHIFT(uint8_t, 8)
    case BNN_U16: SHIFT(uint16_t, 16)
    case BNN_U32: SHIFT(uint32_t, 32)
    case BNN_U64: SHIFT(uint64_t, 64)
    default: return fail_dtype(args, diag, dt, "inputs");
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_bit_shift = {.forward = bit_shift_forward};

/* ---- is_nan, is_inf ------------------------------------------------------------- */

#define TEST_LOOP(LOAD, T)                                                     \
    {                                                                          \
        const T *x = args->inputs[0].data;                                     \
        for (int64_t i = 0; i < n; i++) {                                      \
            double v = LOAD(x[i]);                                             \
            y[i] = inf ? (isinf(v) && (v > 0 ? pos : neg)) : isnan(v);         \
        }                                                                      \
        break;                                                                 \
    }

static bnn_status float_test_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_unary(args, BNN_BOOL, diag));
    bool inf = args->node->op == BNN_OP_IS_INF;
    bool neg = bnn_node_int(args->node, "detect_negative", 1) != 0;
    bool pos = bnn_node_int(args->node, "detect_positive", 1) != 0;
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    uint8_t *y = args->outputs[0].data;
    switch (args->inputs[0].dtype) {
    case BNN_F32: TEST_LOOP(AS_IS, float)
    case BNN_F64: TEST_LOOP(AS_IS, double)
    case BNN_F16: TEST_LOOP(half_to_float, uint16_t)
    default: return fail_dtype(args, diag, args->inputs[0].dtype, "inputs");
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_is_nan = {.forward = float_test_forward, .backward = zero_backward};
const bnn_kernel bnn_kernel_is_inf = {.forward = float_test_forward, .backward = zero_backward};
