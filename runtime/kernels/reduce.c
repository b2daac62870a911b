/* Reductions: the ten reduce_* ops (one kernel, the op picks the formula) and
 * arg_max/arg_min.  Element types f32, f64, i32 and i64.
 *
 * The input is walked once in memory order.  Its dims are first coalesced:
 * dims of size 1 dropped, neighbours that are both reduced or both kept
 * merged, so [N,C,H,W] over axes (2,3) is [N*C | H*W] and the walk is a run of
 * H*W elements per output.  Float types accumulate in double (scratch, one
 * per output; log_sum_exp keeps the running maximum beside it); integer types
 * accumulate exactly in int64 (wrapping like C's unsigned arithmetic) for sum,
 * prod, max, min, l1 and sum_square, and in double, truncated toward zero, for
 * mean, l2, log_sum and log_sum_exp.  max/min propagate NaN as numpy does.
 * A reduction over no elements gives sum 0, prod 1, max -inf (an integer
 * type's minimum), min +inf (its maximum), mean NaN (0 for integers),
 * log_sum and log_sum_exp -inf.
 *
 * Backward (f32): reduce_max/reduce_min send the gradient to the first
 * element (in memory order) equal to the result, the one arg_max/arg_min
 * return; ties do not split it.  reduce_prod's gradient is the product of the
 * other elements, exact with zeros among them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

typedef enum reduce_kind {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOG_SUM, R_LOG_SUM_EXP, R_SUM_SQUARE,
} reduce_kind;

static reduce_kind kind_of(bnn_op op)
{
    switch (op) {
    case BNN_OP_REDUCE_SUM: return R_SUM;
    case BNN_OP_REDUCE_MEAN: return R_MEAN;
    case BNN_OP_REDUCE_MAX: return R_MAX;
    case BNN_OP_REDUCE_MIN: return R_MIN;
    case BNN_OP_REDUCE_PROD: return R_PROD;
    case BNN_OP_REDUCE_L1: return R_L1;
    case BNN_OP_REDUCE_L2: return R_L2;
    case BNN_OP_REDUCE_LOG_SUM: return R_LOG_SUM;
    case BNN_OP_REDUCE_LOG_SUM_EXP: return R_LOG_SUM_EXP;
    case BNN_OP_REDUCE_SUM_SQUARE: return R_SUM_SQUARE;
    default: BNN_ASSERT(!"not a reduce op"); return R_SUM;
    }
}

static bool supported(bnn_dtype t)
{
    return t == BNN_F32 || t == BNN_F64 || t == BNN_I32 || t == BNN_I64;
}

static bool is_float(bnn_dtype t) { return t == BNN_F32 || t == BNN_F64; }

static bnn_status unsupported_type(const bnn_kernel_args *args, bnn_dtype t, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                    "%s: element type %s is not supported (f32, f64, i32 and i64 are)",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label),
                    bnn_dtype_name(t) ? bnn_dtype_name(t) : "?");
}

static inline double load_f(const void *p, bnn_dtype t, int64_t i)
{
    switch (t) {
    case BNN_F32: return ((const float *)p)[i];
    case BNN_F64: return ((const double *)p)[i];
    case BNN_I32: return ((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
    }
}

static inline int64_t load_i(const void *p, bnn_dtype t, int64_t i)
{
    return t == BNN_I32 ? ((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* A double into an integer type: truncated toward zero, clamped, NaN as 0
 * (a plain cast would be undefined out of range). */
static int64_t double_to_int(double v, bnn_dtype t)
{
    double lo = t == BNN_I32 ? (double)INT32_MIN : -9223372036854775808.0;
    double hi = t == BNN_I32 ? (double)INT32_MAX : 9223372036854775807.0;
    if (isnan(v))
        return 0;
    if (v <= lo)
        return t == BNN_I32 ? INT32_MIN : INT64_MIN;
    if (v >= hi)
        return t == BNN_I32 ? INT32_MAX : INT64_MAX;
    return (int64_t)v;
}

static void store_f(void *p, bnn_dtype t, int64_t i, double v)
{
    switch (t) {
    case BNN_F32: ((float *)p)[i] = (float)v; break;
    case BNN_F64: ((double *)p)[i] = v; break;
    case BNN_I32: ((int32_t *)p)[i] = (int32_t)double_to_int(v, t); break;
    default: ((int64_t *)p)[i] = double_to_int(v, t); break;
    }
}

/* ---- the walk ------------------------------------------------------------- */

/* The input as coalesced dims (see the top), out_stride 0 on reduced ones. */
typedef struct red_layout {
    int rank;
    int64_t size[BNN_MAX_RANK];
    int64_t out_stride[BNN_MAX_RANK];
    int64_t in_numel, out_numel;
    int64_t count; /* input elements per output */
} red_layout;

static bnn_status red_setup(const bnn_kernel_args *args, red_layout *l, bnn_diag *diag)
{
    const bnn_shape *x = &args->inputs[0].shape;
    char label[300];
    bool mark[BNN_MAX_RANK] = {false};
    const int64_t *axes;
    int n = bnn_node_ints(args->node, "axes", &axes);
    for (int i = 0; i < x->rank; i++)
        mark[i] = n == 0;
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + x->rank : axes[i];
        if (a < 0 || a >= x->rank || mark[a])
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: axis %lld is out of range or repeated for rank %d",
                            bnn_node_label(args->graph, args->node_id, label, sizeof label),
                            (long long)axes[i], x->rank);
        mark[a] = true;
    }
    l->rank = 0;
    l->in_numel = 1;
    l->count = 1;
    bool last_reduced = false;
    for (int d = 0; d < x->rank; d++) {
        int64_t s = x->dims[d];
        l->in_numel *= s;
        if (mark[d])
            l->count *= s;
        if (s == 1)
            continue;
        if (l->rank > 0 && last_reduced == mark[d]) {
            l->size[l->rank - 1] *= s;
            continue;
        }
        l->size[l->rank] = s;
        l->out_stride[l->rank] = mark[d] ? 0 : 1;
        last_reduced = mark[d];
        l->rank++;
    }
    l->out_numel = 1;
    for (int d = l->rank - 1; d >= 0; d--) {
        if (l->out_stride[d]) {
            l->out_stride[d] = l->out_numel;
            l->out_numel *= l->size[d];
        }
    }
    return BNN_OK;
}

/* One run of the innermost coalesced dim: input elements [in, in + len)
 * belong to outputs out, out + step, ... (step 0: all to out). */
typedef struct red_run {
    int64_t in, out, len, step;
} red_run;

typedef struct red_iter {
    int64_t idx[BNN_MAX_RANK];
    int64_t next_in;
} red_iter;

static bool red_next(const red_layout *l, red_iter *it, red_run *r)
{
    if (it->next_in >= l->in_numel)
        return false;
    if (l->rank == 0) { /* a scalar or all dims 1: one element */
        *r = (red_run){ .in = 0, .out = 0, .len = 1, .step = 0 };
        it->next_in = 1;
        return true;
    }
    int last = l->rank - 1;
    r->in = it->next_in;
    r->len = l->size[last];
    r->step = l->out_stride[last];
    r->out = 0;
    for (int d = 0; d < last; d++)
        r->out += it->idx[d] * l->out_stride[d];
    it->next_in += r->len;
    for (int d = last - 1; d >= 0; d--) { /* the odometer over the outer dims */
        if (++it->idx[d] < l->size[d])
            break;
        it->idx[d] = 0;
    }
    return true;
}

/* ---- forward -------------------------------------------------------------- */

static double init_f(reduce_kind k)
{
    switch (k) {
    case R_MAX: return -INFINITY;
    case R_MIN: return INFINITY;
    case R_PROD: return 1;
    default: return 0;
    }
}

/* Float accumulation in double; m holds log_sum_exp's maxima. */
static void forward_float(const red_layout *l, reduce_kind k, const void *x, bnn_dtype t,
                          void *y, double *acc, double *m)
{
    red_iter it;
    red_run r;
    for (int64_t o = 0; o < l->out_numel; o++)
        acc[o] = init_f(k);
    if (k == R_LOG_SUM_EXP) {
        for (int64_t o = 0; o < l->out_numel; o++)
            m[o] = -INFINITY;
        memset(&it, 0, sizeof it);
        while (red_next(l, &it, &r))
            for (int64_t i = 0; i < r.len; i++) {
                double v = load_f(x, t, r.in + i);
                double *mo = &m[r.out + i * r.step];
                if (v > *mo || isnan(v))
                    *mo = v;
            }
    }
    memset(&it, 0, sizeof it);
    while (red_next(l, &it, &r)) {
        double *a = acc + r.out;
        for (int64_t i = 0; i < r.len; i++) {
            double v = load_f(x, t, r.in + i);
            double *ao = a + i * r.step;
            switch (k) {
            case R_SUM: case R_MEAN: case R_LOG_SUM: *ao += v; break;
            case R_MAX: if (v > *ao || isnan(v)) *ao = v; break;
            case R_MIN: if (v < *ao || isnan(v)) *ao = v; break;
            case R_PROD: *ao *= v; break;
            case R_L1: *ao += fabs(v); break;
            case R_L2: case R_SUM_SQUARE: *ao += v * v; break;
            case R_LOG_SUM_EXP: {
                double mo = m[r.out + i * r.step];
                *ao += isinf(mo) ? (v == mo) : exp(v - mo);
                break;
            }
            }
        }
    }
    for (int64_t o = 0; o < l->out_numel; o++) {
        double v = acc[o];
        switch (k) {
        case R_MEAN: v = v / (double)l->count; break;
        case R_L2: v = sqrt(v); break;
        case R_LOG_SUM: v = log(v); break;
        case R_LOG_SUM_EXP:
            /* An infinite maximum is the result (exp(inf - inf) would be NaN). */
            v = isinf(m[o]) && v > 0 ? m[o] : isinf(m[o]) ? log(0.0) : m[o] + log(v);
            break;
        default: break;
        }
        store_f(y, t, o, v);
    }
}

/* Exact integer accumulation (sum, prod, max, min, l1, sum_square). */
static void forward_int(const red_layout *l, reduce_kind k, const void *x, bnn_dtype t, void *y,
                        int64_t *acc)
{
    int64_t lo = t == BNN_I32 ? INT32_MIN : INT64_MIN, hi = t == BNN_I32 ? INT32_MAX : INT64_MAX;
    for (int64_t o = 0; o < l->out_numel; o++)
        acc[o] = k == R_MAX ? lo : k == R_MIN ? hi : k == R_PROD ? 1 : 0;
    red_iter it;
    red_run r;
    memset(&it, 0, sizeof it);
    while (red_next(l, &it, &r)) {
        for (int64_t i = 0; i < r.len; i++) {
            int64_t v = load_i(x, t, r.in + i);
            uint64_t u = (uint64_t)v;
            int64_t *ao = acc + r.out + i * r.step;
            switch (k) {
            case R_SUM: *ao = (int64_t)((uint64_t)*ao + u); break;
            case R_PROD: *ao = (int64_t)((uint64_t)*ao * u); break;
            case R_MAX: if (v > *ao) *ao = v; break;
            case R_MIN: if (v < *ao) *ao = v; break;
            case R_L1: *ao = (int64_t)((uint64_t)*ao + (v < 0 ? 0 - u : u)); break;
            case R_SUM_SQUARE: *ao = (int64_t)((uint64_t)*ao + u * u); break;
            default: BNN_ASSERT(!"not an exact integer reduction");
            }
        }
    }
    for (int64_t o = 0; o < l->out_numel; o++) {
        if (t == BNN_I32)
            ((int32_t *)y)[o] = (int32_t)(uint32_t)(uint64_t)acc[o]; /* wraps */
        else
            ((int64_t *)y)[o] = acc[o];
    }
}

static bool exact_int(reduce_kind k)
{
    return k == R_SUM || k == R_PROD || k == R_MAX || k == R_MIN || k == R_L1 || k == R_SUM_SQUARE;
}

static size_t reduce_scratch(const bnn_kernel_args *args)
{
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    return (size_t)(n > 0 ? n : 1) * 2 * sizeof(double);
}

static bnn_status reduce_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    if (!supported(x->dtype))
        return unsupported_type(args, x->dtype, diag);
    red_layout l;
    BNN_TRY(red_setup(args, &l, diag));
    BNN_ASSERT(l.out_numel == bnn_tensor_numel(&args->outputs[0]));
    reduce_kind k = kind_of(args->node->op);
    if (!is_float(x->dtype) && exact_int(k))
        forward_int(&l, k, x->data, x->dtype, args->outputs[0].data, args->scratch);
    else
        forward_float(&l, k, x->data, x->dtype, args->outputs[0].data, args->scratch,
                      (double *)args->scratch + l.out_numel);
    return BNN_OK;
}

/* ---- backward (f32) ------------------------------------------------------- */

/* gx[i] += g[o] * dy[o]/dx[i] over the walk; the scratch holds what max/min
 * (the first winner's index) and prod (zero count, product of the nonzero
 * elements) need. */
static bnn_status reduce_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    const bnn_tensor *xt = &args->inputs[0];
    if (xt->dtype != BNN_F32) {
        char label[300];
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: the gradient needs f32, not %s",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label),
                        bnn_dtype_name(xt->dtype) ? bnn_dtype_name(xt->dtype) : "?");
    }
    red_layout l;
    BNN_TRY(red_setup(args, &l, diag));
    reduce_kind k = kind_of(args->node->op);
    const float *x = xt->data, *y = args->outputs[0].data, *g = grads->grad_outputs[0].data;
    int64_t *winner = args->scratch;
    double *zeros = args->scratch, *prod = (double *)args->scratch + l.out_numel;
    red_iter it;
    red_run r;
    if (k == R_MAX || k == R_MIN) {
        for (int64_t o = 0; o < l.out_numel; o++)
            winner[o] = -1;
        memset(&it, 0, sizeof it);
        while (red_next(&l, &it, &r))
            for (int64_t i = 0; i < r.len; i++) {
                int64_t o = r.out + i * r.step;
                float v = x[r.in + i];
                if (winner[o] < 0 && (v == y[o] || (isnan(v) && isnan(y[o]))))
                    winner[o] = r.in + i;
            }
        for (int64_t o = 0; o < l.out_numel; o++)
            if (winner[o] >= 0)
                gx[winner[o]] += g[o];
        return BNN_OK;
    }
    if (k == R_PROD) {
        for (int64_t o = 0; o < l.out_numel; o++) {
            zeros[o] = 0;
            prod[o] = 1;
        }
        memset(&it, 0, sizeof it);
        while (red_next(&l, &it, &r))
            for (int64_t i = 0; i < r.len; i++) {
                int64_t o = r.out + i * r.step;
                float v = x[r.in + i];
                if (v == 0)
                    zeros[o] += 1;
                else
                    prod[o] *= v;
            }
    }
    float inv_count = l.count > 0 ? 1.0f / (float)l.count : 0.0f;
    memset(&it, 0, sizeof it);
    while (red_next(&l, &it, &r)) {
        for (int64_t i = 0; i < r.len; i++) {
            int64_t o = r.out + i * r.step, j = r.in + i;
            float v = x[j], d = 0;
            switch (k) {
            case R_SUM: d = 1; break;
            case R_MEAN: d = inv_count; break;
            case R_SUM_SQUARE: d = 2 * v; break;
            case R_L1: d = (float)((v > 0) - (v < 0)); break;
            case R_L2: d = y[o] != 0 ? v / y[o] : 0; break;
            case R_LOG_SUM: d = expf(-y[o]); break;
            case R_LOG_SUM_EXP: d = expf(v - y[o]); break;
            case R_PROD:
                if (zeros[o] == 0)
                    d = (float)(prod[o] / v);
                else if (zeros[o] == 1 && v == 0)
                    d = (float)prod[o];
                break;
            case R_MAX: case R_MIN: break;
            }
            gx[j] += g[o] * d;
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_reduce = {
    .forward = reduce_forward,
    .backward = reduce_backward,
    .scratch_size = reduce_scratch,
};

/* ---- arg_max, arg_min ----------------------------------------------------- */

/* Whether v replaces best: NaN counts as the extreme (numpy returns the first
 * NaN); select_last takes the last of equal extremes. */
static inline bool better_f(double v, double best, bool is_max, bool last)
{
    if (isnan(best))
        return last && isnan(v);
    if (isnan(v))
        return true;
    if (last)
        return is_max ? v >= best : v <= best;
    return is_max ? v > best : v < best;
}

static inline bool better_i(int64_t v, int64_t best, bool is_max, bool last)
{
    if (last)
        return is_max ? v >= best : v <= best;
    return is_max ? v > best : v < best;
}

static bnn_status arg_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    char label[300];
    if (!supported(x->dtype))
        return unsupported_type(args, x->dtype, diag);
    int rank = x->shape.rank;
    int64_t axis = bnn_node_int(args->node, "axis", 0);
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank || x->shape.dims[axis] == 0)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: axis %lld is out of range or empty for %s",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label),
                        (long long)bnn_node_int(args->node, "axis", 0),
                        bnn_shape_format(&x->shape, x->dtype, (char[160]){0}, 160));
    bool is_max = args->node->op == BNN_OP_ARG_MAX;
    bool last = bnn_node_int(args->node, "select_last_index", 0) != 0;
    int64_t outer = 1, len = x->shape.dims[axis], inner = 1;
    for (int d = 0; d < rank; d++) {
        if (d < axis)
            outer *= x->shape.dims[d];
        else if (d > axis)
            inner *= x->shape.dims[d];
    }
    int64_t *y = args->outputs[0].data;
    bool fl = is_float(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * len * inner + in, best = 0;
            if (fl) {
                double bv = load_f(x->data, x->dtype, base);
                for (int64_t k = 1; k < len; k++) {
                    double v = load_f(x->data, x->dtype, base + k * inner);
                    if (better_f(v, bv, is_max, last)) {
                        bv = v;
                        best = k;
                    }
                }
            } else {
                int64_t bv = load_i(x->data, x->dtype, base);
                for (int64_t k = 1; k < len; k++) {
                    int64_t v = load_i(x->data, x->dtype, base + k * inner);
                    if (better_i(v, bv, is_max, last)) {
                        bv = v;
                        best = k;
                    }
                }
            }
            y[o * inner + in] = best;
        }
    }
    return BNN_OK;
}

/* No backward: the output is an index. */
const bnn_kernel bnn_kernel_arg_reduce = {.forward = arg_forward};

/* ---- cum_sum ------------------------------------------------------------ */

/* x as [outer, n, inner] around the axis input 1 names. */
static bnn_status cum_sum_setup(const bnn_kernel_args *args, int64_t *outer, int64_t *n,
                                int64_t *inner, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *a = &args->inputs[1], *y = &args->outputs[0];
    if ((a->dtype != BNN_I64 && a->dtype != BNN_I32) || bnn_tensor_numel(a) != 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "axis must be one i32 or i64 value");
    int64_t axis = a->dtype == BNN_I64 ? *(const int64_t *)a->data : *(const int32_t *)a->data;
    int rank = x->shape.rank;
    if (axis < -rank || axis >= rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                               "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != bnn_tensor_numel(x))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is not shaped like the input");
    *outer = 1;
    *inner = 1;
    *n = x->shape.dims[axis];
    for (int d = 0; d < rank; d++) {
        if (d < axis) *outer *= x->shape.dims[d];
        if (d > axis) *inner *= x->shape.dims[d];
    }
    return BNN_OK;
}

/* y[t] = sum of x over the run before t (exclusive) or up to t, walking
 * each line of n elements forward or from its end. */
#define CUM_SUM_LINES(T, ACC, x, y, outer, n, inner, exclusive, reverse)               \
    for (int64_t o_ = 0; o_ < (outer); o_++)                                           \
        for (int64_t j_ = 0; j_ < (inner); j_++) {                                     \
            ACC acc_ = 0;                                                              \
            for (int64_t s_ = 0; s_ < (n); s_++) {                                     \
                int64_t t_ = (reverse) ? (n) - 1 - s_ : s_;                            \
                int64_t e_ = (o_ * (n) + t_) * (inner) + j_;                           \
                ACC v_ = (ACC)(x)[e_];                                                 \
                if (!(exclusive))                                                      \
                    acc_ += v_;                                                        \
                (y)[e_] = (T)acc_;                                                     \
                if (exclusive)                                                         \
                    acc_ += v_;                                                        \
            }                                                                          \
        }

static bnn_status cum_sum_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    int64_t outer, n, inner;
    BNN_TRY(cum_sum_setup(args, &outer, &n, &inner, diag));
    bool exclusive = bnn_node_int(args->node, "exclusive", 0) != 0;
    bool reverse = bnn_node_int(args->node, "reverse", 0) != 0;
    const void *xv = args->inputs[0].data;
    void *yv = args->outputs[0].data;
    switch (args->inputs[0].dtype) {
    case BNN_F32: {
        const float *x = xv;
        float *y = yv;
        CUM_SUM_LINES(float, double, x, y, outer, n, inner, exclusive, reverse);
        break;
    }
    case BNN_F64: {
        const double *x = xv;
        double *y = yv;
        CUM_SUM_LINES(double, double, x, y, outer, n, inner, exclusive, reverse);
        break;
    }
    case BNN_I32: {
        const int32_t *x = xv;
        int32_t *y = yv;
        CUM_SUM_LINES(int32_t, uint64_t, x, y, outer, n, inner, exclusive, reverse);
        break;
    }
    case BNN_I64: {
        const int64_t *x = xv;
        int64_t *y = yv;
        CUM_SUM_LINES(int64_t, uint64_t, x, y, outer, n, inner, exclusive, reverse);
        break;
    }
    default:
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(args->inputs[0].dtype));
    }
    return BNN_OK;
}

/* dx is the running sum of dy the other way round, with the same
 * exclusive: x[s] reaches exactly the outputs the reversed walk sums. */
static bnn_status cum_sum_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                   bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    int64_t outer, n, inner;
    BNN_TRY(cum_sum_setup(args, &outer, &n, &inner, diag));
    bool exclusive = bnn_node_int(args->node, "exclusive", 0) != 0;
    bool reverse = bnn_node_int(args->node, "reverse", 0) == 0;
    const float *g = grads->grad_outputs[0].data;
    /* accumulate: gx += the reversed running sum, kept in double per line */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double acc = 0;
            for (int64_t s = 0; s < n; s++) {
                int64_t t = reverse ? n - 1 - s : s;
                int64_t e = (o * n + t) * inner + j;
                if (!exclusive)
                    acc += g[e];
                gx[e] += (float)acc;
                if (exclusive)
                    acc += g[e];
            }
        }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_cum_sum = {.forward = cum_sum_forward, .backward = cum_sum_backward};
