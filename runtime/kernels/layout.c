/* Layout ops, for every element type (they move bytes): flatten, reshape,
 * squeeze and unsqueeze (a copy: the plan resolved the output shape), transpose,
 * concat, pad, shape, gather, trilu, eye_like and
 * constant_of_shape.  Gradients are f32. */
#include <string.h>

#include "kernel.h"
#include "layout_impl.h"
#include "range_impl.h"

static const char *label_of(const bnn_kernel_args *args, char *buf, size_t n)
{
    return bnn_node_label(args->graph, args->node_id, buf, n);
}

static void add_f32(float *dst, const float *src, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n >= 32768)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* ---- flatten, reshape, squeeze, unsqueeze: the same bytes --------------- */

static bnn_status copy_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    size_t n = bnn_tensor_nbytes(&args->inputs[0]);
    if (n != bnn_tensor_nbytes(&args->outputs[0]) || args->inputs[0].dtype != args->outputs[0].dtype) {
        char label[300], si[200], so[200];
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: input %s does not fit output %s",
                        label_of(args, label, sizeof label),
                        bnn_shape_format(&args->inputs[0].shape, args->inputs[0].dtype, si, sizeof si),
                        bnn_shape_format(&args->outputs[0].shape, args->outputs[0].dtype, so, sizeof so));
    }
    /* The plan gives each value its own buffer, so this is a real copy. */
    if (args->outputs[0].data != args->inputs[0].data && n)
        memcpy(args->outputs[0].data, args->inputs[0].data, n);
    return BNN_OK;
}

static bnn_status copy_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    add_f32(gx, grads->grad_outputs[0].data, bnn_tensor_numel(&args->inputs[0]));
    return BNN_OK;
}

const bnn_kernel bnn_kernel_flatten = {.forward = copy_forward, .backward = copy_backward};
const bnn_kernel bnn_kernel_reshape = {.forward = copy_forward, .backward = copy_backward};
const bnn_kernel bnn_kernel_squeeze = {.forward = copy_forward, .backward = copy_backward};
const bnn_kernel bnn_kernel_unsqueeze = {.forward = copy_forward, .backward = copy_backward};

/* ---- transpose ---------------------------------------------------------- */

void layout_strided_gather(size_t es, int rank, const int64_t *dims, const int64_t *strides,
                           const void *vsrc, void *vdst)
{
    const unsigned char *src = vsrc;
    unsigned char *dst = vdst;
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    if (n == 0)
        return;
    int last = rank - 1;
    int64_t inner = rank ? dims[last] : 1, sl = rank ? strides[last] : 0;
    int64_t rows = n / inner;
    #pragma omp parallel for schedule(static) if (n >= 65536 && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = 0, r = row;
        for (int d = last - 1; d >= 0; d--) {
            off += (r % dims[d]) * strides[d];
            r /= dims[d];
        }
        unsigned char *out = dst + (size_t)(row * inner) * es;
        if (sl == 1) {
            memcpy(out, src + off * (int64_t)es, (size_t)inner * es); /* off may be < 0: signed */
            continue;
        }
        switch (es) {
        case 4: {
            const uint32_t *s = (const uint32_t *)(const void *)src + off;
            uint32_t *o = (uint32_t *)(void *)out;
            for (int64_t i = 0; i < inner; i++)
                o[i] = s[i * sl];
            break;
        }
        case 8: {
            const uint64_t *s = (const uint64_t *)(const void *)src + off;
            uint64_t *o = (uint64_t *)(void *)out;
            for (int64_t i = 0; i < inner; i++)
                o[i] = s[i * sl];
            break;
        }
        default:
            for (int64_t i = 0; i < inner; i++)
                memcpy(out + (size_t)i * es, src + (off + i * sl) * (int64_t)es, es);
        }
    }
}

/* The adjoint of layout_strided_gather for f32: src[offset(i)] += dst[i]. */
static void strided_scatter_add(int rank, const int64_t *dims, const int64_t *strides,
                                float *src, const float *dst)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    if (n == 0)
        return;
    int last = rank - 1;
    int64_t inner = rank ? dims[last] : 1, sl = rank ? strides[last] : 0;
    int64_t rows = n / inner;
    /* A permutation touches every source element once: rows never collide. */
    #pragma omp parallel for schedule(static) if (n >= 65536 && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = 0, r = row;
        for (int d = last - 1; d >= 0; d--) {
            off += (r % dims[d]) * strides[d];
            r /= dims[d];
        }
        for (int64_t i = 0; i < inner; i++)
            src[off + i * sl] += dst[row * inner + i];
    }
}

/* Output dims and, per output dim, the input stride it walks. */
static bnn_status transpose_setup(const bnn_kernel_args *args, int64_t *dims, int64_t *strides,
                                  bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    int rank = x->shape.rank;
    const int64_t *perm = NULL;
    int np = bnn_node_ints(args->node, "perm", &perm);
    char label[300];
    if (np && np != rank)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: perm has %d entries for an input of rank %d",
                        label_of(args, label, sizeof label), np, rank);
    int64_t in_strides[BNN_MAX_RANK];
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_strides[d] = s;
        s *= x->shape.dims[d];
    }
    bool seen[BNN_MAX_RANK] = {false};
    for (int d = 0; d < rank; d++) {
        int64_t p = np ? perm[d] : rank - 1 - d;
        if (p < 0)
            p += rank;
        if (p < 0 || p >= rank || seen[p])
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: perm is not a permutation of 0..%d",
                            label_of(args, label, sizeof label), rank - 1);
        seen[p] = true;
        dims[d] = x->shape.dims[p];
        strides[d] = in_strides[p];
        if (args->outputs[0].shape.dims[d] != dims[d] || args->outputs[0].shape.rank != rank)
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: output shape does not match perm",
                            label_of(args, label, sizeof label));
    }
    return BNN_OK;
}

static bnn_status transpose_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    int64_t dims[BNN_MAX_RANK], strides[BNN_MAX_RANK];
    BNN_TRY(transpose_setup(args, dims, strides, diag));
    const bnn_tensor *x = &args->inputs[0];
    size_t es = bnn_dtype_size(x->dtype);
    int rank = x->shape.rank;
    if (rank == 2 && es == 4 && strides[0] == 1) {
        /* 2-D f32-sized: tiles keep both sides in cache. */
        int64_t rows = dims[0], cols = dims[1]; /* output [rows, cols], input [cols, rows] */
        const uint32_t *in = x->data;
        uint32_t *out = args->outputs[0].data;
        enum { TILE = 32 };
        #pragma omp parallel for schedule(static) if (rows * cols >= 65536)
        for (int64_t r0 = 0; r0 < rows; r0 += TILE)
            for (int64_t c0 = 0; c0 < cols; c0 += TILE)
                for (int64_t r = r0; r < r0 + TILE && r < rows; r++)
                    for (int64_t c = c0; c < c0 + TILE && c < cols; c++)
                        out[r * cols + c] = in[c * rows + r];
        return BNN_OK;
    }
    layout_strided_gather(es, rank, dims, strides, x->data, args->outputs[0].data);
    return BNN_OK;
}

static bnn_status transpose_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                     bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    int64_t dims[BNN_MAX_RANK], strides[BNN_MAX_RANK];
    BNN_TRY(transpose_setup(args, dims, strides, diag));
    strided_scatter_add(args->inputs[0].shape.rank, dims, strides, gx,
                        grads->grad_outputs[0].data);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_transpose = {.forward = transpose_forward,
                                         .backward = transpose_backward};

/* ---- concat ------------------------------------------------------------- */

/* The output is [outer, sum of the inputs' axis dims * inner]; input k fills
 * a column band of each of the outer rows. */
static bnn_status concat_setup(const bnn_kernel_args *args, int *axis_out, int64_t *outer,
                               int64_t *inner, bnn_diag *diag)
{
    const bnn_tensor *y = &args->outputs[0];
    int rank = y->shape.rank;
    int64_t axis = bnn_node_int(args->node, "axis", 0);
    char label[300];
    if (axis < -rank || axis >= rank)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: axis %lld is out of range for rank %d",
                        label_of(args, label, sizeof label), (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    int64_t total = 0;
    for (int k = 0; k < args->n_inputs; k++) {
        const bnn_tensor *x = &args->inputs[k];
        bool ok = x->shape.rank == rank && x->dtype == y->dtype;
        for (int d = 0; ok && d < rank; d++)
            ok = d == axis || x->shape.dims[d] == y->shape.dims[d];
        if (!ok)
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: input %d does not fit the output",
                            label_of(args, label, sizeof label), k);
        total += x->shape.dims[axis];
    }
    if (total != y->shape.dims[axis])
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: inputs sum to %lld along axis %lld, output has %lld",
                        label_of(args, label, sizeof label), (long long)total, (long long)axis,
                        (long long)y->shape.dims[axis]);
    *axis_out = (int)axis;
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < rank; d++) {
        if (d < axis)
            *outer *= y->shape.dims[d];
        else if (d > axis)
            *inner *= y->shape.dims[d];
    }
    return BNN_OK;
}

static bnn_status concat_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    int axis;
    int64_t outer, inner;
    BNN_TRY(concat_setup(args, &axis, &outer, &inner, diag));
    size_t es = bnn_dtype_size(args->outputs[0].dtype);
    size_t row = (size_t)(args->outputs[0].shape.dims[axis] * inner) * es;
    unsigned char *y = args->outputs[0].data;
    size_t at = 0;
    for (int k = 0; k < args->n_inputs; k++) {
        size_t chunk = (size_t)(args->inputs[k].shape.dims[axis] * inner) * es;
        const unsigned char *x = args->inputs[k].data;
        for (int64_t o = 0; o < outer && chunk; o++)
            memcpy(y + (size_t)o * row + at, x + (size_t)o * chunk, chunk);
        at += chunk;
    }
    return BNN_OK;
}

static bnn_status concat_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    int axis;
    int64_t outer, inner;
    BNN_TRY(concat_setup(args, &axis, &outer, &inner, diag));
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->outputs[0].dtype, diag));
    int64_t row = args->outputs[0].shape.dims[axis] * inner;
    const float *g = grads->grad_outputs[0].data;
    int64_t at = 0;
    for (int k = 0; k < args->n_inputs; k++) {
        int64_t chunk = args->inputs[k].shape.dims[axis] * inner;
        float *gx = grads->grad_inputs[k].data;
        for (int64_t o = 0; gx && o < outer; o++)
            add_f32(gx + o * chunk, g + o * row + at, chunk);
        at += chunk;
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_concat = {.forward = concat_forward, .backward = concat_backward};


/* ---- pad ---------------------------------------------------------------- */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE } pad_mode;

/* The input coordinate that output coordinate o reads along a dim of n
 * elements padded by `begin`, or -1 for the constant value. */
static int64_t pad_source(int64_t o, int64_t begin, int64_t n, pad_mode mode)
{
    int64_t s = o - begin;
    if (s >= 0 && s < n)
        return s;
    if (mode == PAD_CONSTANT || n == 0)
        return -1;
    if (mode == PAD_EDGE || n == 1)
        return s < 0 ? 0 : (n == 1 ? 0 : n - 1);
    int64_t period = 2 * (n - 1); /* reflect without repeating the edge */
    s %= period;
    if (s < 0)
        s += period;
    return s < n ? s : period - s;
}

typedef struct pad_spec {
    int rank;
    int64_t begin[BNN_MAX_RANK];
    pad_mode mode;
    unsigned char value[8]; /* the constant, in the tensor's type */
} pad_spec;

static void pad_value_bytes(bnn_dtype dt, double v, unsigned char *out)
{
    memset(out, 0, 8);
    switch (dt) {
    case BNN_F32: { float f = (float)v; memcpy(out, &f, 4); break; }
    case BNN_F64: memcpy(out, &v, 8); break;
    case BNN_I8: case BNN_U8: case BNN_BOOL: {
        int8_t c = dt == BNN_BOOL ? (v != 0) : (int8_t)(int64_t)v;
        memcpy(out, &c, 1);
        break;
    }
    case BNN_I16: case BNN_U16: { int16_t c = (int16_t)(int64_t)v; memcpy(out, &c, 2); break; }
    case BNN_I32: case BNN_U32: { int32_t c = (int32_t)(int64_t)v; memcpy(out, &c, 4); break; }
    case BNN_I64: case BNN_U64: { int64_t c = (int64_t)v; memcpy(out, &c, 8); break; }
    default: break; /* f16, bf16: only 0 is supported (all zero bytes) */
    }
}

static bnn_status pad_setup(const bnn_kernel_args *args, pad_spec *p, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *y = &args->outputs[0];
    char label[300];
    int rank = x->shape.rank;
    p->rank = rank;
    int64_t pads[2 * BNN_MAX_RANK];
    int np;
    if (args->n_inputs > 1 && args->inputs[1].data) {
        const bnn_tensor *t = &args->inputs[1];
        np = (int)bnn_tensor_numel(t);
        if ((t->dtype != BNN_I64 && t->dtype != BNN_I32) || np != 2 * rank)
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: pads input must hold %d integers",
                            label_of(args, label, sizeof label), 2 * rank);
        for (int k = 0; k < np; k++)
            pads[k] = t->dtype == BNN_I64 ? ((const int64_t *)t->data)[k]
                                          : ((const int32_t *)t->data)[k];
    } else {
        const int64_t *a = NULL;
        np = bnn_node_ints(args->node, "pads", &a);
        if (np != 2 * rank && np != 0)
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: pads has %d entries for an input of rank %d",
                            label_of(args, label, sizeof label), np, rank);
        for (int k = 0; k < 2 * rank; k++)
            pads[k] = np ? a[k] : 0;
    }
    const char *mode = bnn_node_string(args->node, "mode", "constant");
    if (strcmp(mode, "constant") == 0)
        p->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        p->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        p->mode = PAD_EDGE;
    else
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: pad mode '%s' is not supported",
                        label_of(args, label, sizeof label), mode);
    if (y->shape.rank != rank || y->dtype != x->dtype)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: output does not match the input",
                        label_of(args, label, sizeof label));
    for (int d = 0; d < rank; d++) {
        p->begin[d] = pads[d];
        if (x->shape.dims[d] + pads[d] + pads[rank + d] != y->shape.dims[d])
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: dim %d: %lld padded by %lld and %lld is not %lld",
                            label_of(args, label, sizeof label), d, (long long)x->shape.dims[d],
                            (long long)pads[d], (long long)pads[rank + d],
                            (long long)y->shape.dims[d]);
        if (p->mode != PAD_CONSTANT && x->shape.dims[d] == 0 && y->shape.dims[d] > 0)
            return bnn_fail(diag, BNN_ERR_SHAPE, "%s: cannot %s-pad an empty dim",
                            label_of(args, label, sizeof label), mode);
    }
    const bnn_tensor *cv = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    if (cv && (cv->dtype != x->dtype || bnn_tensor_numel(cv) != 1 || bnn_dtype_size(x->dtype) > sizeof p->value))
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: the constant value must be one element of the input's type",
                        label_of(args, label, sizeof label));
    if (cv)
        memcpy(p->value, cv->data, bnn_dtype_size(x->dtype));
    else
        pad_value_bytes(x->dtype, (double)bnn_node_float(args->node, "value", 0.0f), p->value);
    return BNN_OK;
}

/* Calls body(o, s) for each output element o that reads input element s;
 * constant-filled elements call fill(o).  Rows are every dim but the last. */
#define PAD_WALK(xt, yt, p, ON_SRC, ON_FILL)                                          \
    do {                                                                              \
        int rank_ = (p)->rank;                                                        \
        int64_t ny_ = bnn_tensor_numel(yt);                                           \
        int64_t in_ = rank_ ? (xt)->shape.dims[rank_ - 1] : 1;                        \
        int64_t on_ = rank_ ? (yt)->shape.dims[rank_ - 1] : 1;                        \
        int64_t rows_ = on_ ? ny_ / on_ : 0;                                          \
        for (int64_t row_ = 0; row_ < rows_; row_++) {                                \
            int64_t r_ = row_, src_row_ = 0, mul_ = in_;                              \
            bool fill_row_ = false;                                                   \
            for (int d_ = rank_ - 2; d_ >= 0; d_--) {                                 \
                int64_t o_ = r_ % (yt)->shape.dims[d_];                               \
                r_ /= (yt)->shape.dims[d_];                                           \
                int64_t s_ = pad_source(o_, (p)->begin[d_], (xt)->shape.dims[d_],     \
                                        (p)->mode);                                   \
                if (s_ < 0)                                                           \
                    fill_row_ = true;                                                 \
                src_row_ += s_ * mul_;                                                \
                mul_ *= (xt)->shape.dims[d_];                                         \
            }                                                                         \
            for (int64_t j_ = 0; j_ < on_; j_++) {                                    \
                int64_t o = row_ * on_ + j_;                                          \
                int64_t sj_ = rank_ ? pad_source(j_, (p)->begin[rank_ - 1], in_,      \
                                                 (p)->mode) : 0;                      \
                if (fill_row_ || sj_ < 0) {                                           \
                    ON_FILL;                                                          \
                } else {                                                              \
                    int64_t s = src_row_ + sj_;                                       \
                    ON_SRC;                                                           \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    } while (0)

static bnn_status pad_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    pad_spec p;
    BNN_TRY(pad_setup(args, &p, diag));
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    size_t es = bnn_dtype_size(x->dtype);
    const unsigned char *xs = x->data;
    unsigned char *ys = y->data;
    if (es == 4) {
        const uint32_t *x4 = x->data;
        uint32_t *y4 = y->data, v4;
        memcpy(&v4, p.value, 4);
        PAD_WALK(x, y, &p, y4[o] = x4[s], y4[o] = v4);
    } else {
        PAD_WALK(x, y, &p, memcpy(ys + (size_t)o * es, xs + (size_t)s * es, es),
                 memcpy(ys + (size_t)o * es, p.value, es));
    }
    return BNN_OK;
}

/* Each output element read from input s sends its gradient back to s: exact
 * for every mode (edge and reflect sum over the copies). */
static bnn_status pad_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    pad_spec p;
    BNN_TRY(pad_setup(args, &p, diag));
    const float *g = grads->grad_outputs[0].data;
    PAD_WALK(&args->inputs[0], &args->outputs[0], &p, gx[s] += g[o], (void)0);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_pad = {.forward = pad_forward, .backward = pad_backward};

/* ---- shape -------------------------------------------------------------- */

static bnn_status shape_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    int rank = args->inputs[0].shape.rank;
    int64_t start = bnn_node_int(args->node, "start", 0);
    int64_t end = bnn_node_int(args->node, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : (start > rank ? rank : start);
    end = end < 0 ? 0 : (end > rank ? rank : end);
    int64_t n = end > start ? end - start : 0;
    bnn_tensor *y = &args->outputs[0];
    if (y->dtype != BNN_I64 || bnn_tensor_numel(y) != n) {
        char label[300];
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: output must be i64[%lld]",
                        label_of(args, label, sizeof label), (long long)n);
    }
    int64_t *out = y->data;
    for (int64_t k = 0; k < n; k++)
        out[k] = args->inputs[0].shape.dims[start + k];
    return BNN_OK;
}

const bnn_kernel bnn_kernel_shape = {.forward = shape_forward};

/* ---- gather ------------------------------------------------------------- */

/* data [outer, n, inner] and indices (any shape, count m) give
 * [outer, m, inner]. */
typedef struct gather_spec {
    int64_t outer, n, inner, m;
} gather_spec;

static int64_t index_at(const bnn_tensor *t, int64_t k)
{
    return t->dtype == BNN_I64 ? ((const int64_t *)t->data)[k] : ((const int32_t *)t->data)[k];
}

static bnn_status gather_setup(const bnn_kernel_args *args, gather_spec *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *idx = &args->inputs[1], *y = &args->outputs[0];
    char label[300];
    int rank = x->shape.rank;
    int64_t axis = bnn_node_int(args->node, "axis", 0);
    if (axis < -rank || axis >= rank)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: axis %lld is out of range for rank %d",
                        label_of(args, label, sizeof label), (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    if (idx->dtype != BNN_I64 && idx->dtype != BNN_I32)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: indices must be i32 or i64",
                        label_of(args, label, sizeof label));
    g->outer = 1;
    g->inner = 1;
    g->n = x->shape.dims[axis];
    g->m = bnn_tensor_numel(idx);
    for (int d = 0; d < rank; d++) {
        if (d < axis) g->outer *= x->shape.dims[d];
        if (d > axis) g->inner *= x->shape.dims[d];
    }
    if (y->dtype != x->dtype || bnn_tensor_numel(y) != g->outer * g->m * g->inner)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%s: output does not match data and indices",
                        label_of(args, label, sizeof label));
    for (int64_t k = 0; k < g->m; k++) {
        int64_t i = index_at(idx, k);
        if (i < -g->n || i >= g->n)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "%s: index %lld (at position %lld) is out of range for axis %lld of size %lld",
                            label_of(args, label, sizeof label), (long long)i, (long long)k,
                            (long long)axis, (long long)g->n);
    }
    return BNN_OK;
}

static bnn_status gather_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    gather_spec g;
    BNN_TRY(gather_setup(args, &g, diag));
    size_t row = (size_t)g.inner * bnn_dtype_size(args->inputs[0].dtype);
    const unsigned char *x = args->inputs[0].data;
    unsigned char *y = args->outputs[0].data;
    if (row == 0)
        return BNN_OK;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t k = 0; k < g.m; k++) {
            int64_t i = index_at(&args->inputs[1], k);
            if (i < 0)
                i += g.n;
            memcpy(y + (size_t)(o * g.m + k) * row, x + (size_t)(o * g.n + i) * row, row);
        }
    return BNN_OK;
}

static bnn_status gather_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    gather_spec g;
    BNN_TRY(gather_setup(args, &g, diag));
    const float *gy = grads->grad_outputs[0].data;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t k = 0; k < g.m; k++) {
            int64_t i = index_at(&args->inputs[1], k);
            if (i < 0)
                i += g.n;
            const float *src = gy + (o * g.m + k) * g.inner;
            float *dst = gx + (o * g.n + i) * g.inner;
            for (int64_t j = 0; j < g.inner; j++)
                dst[j] += src[j];
        }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_gather = {.forward = gather_forward, .backward = gather_backward};

/* ---- trilu -------------------------------------------------------------- */

/* Which triangle is kept: the diagonal offset k (input 1, default 0), the
 * attribute upper, and the matrices' rows and columns (the last two dims). */
typedef struct trilu_spec {
    int64_t k, rows, cols;
    bool upper;
} trilu_spec;

static bnn_status trilu_setup(const bnn_kernel_args *args, trilu_spec *t, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *y = &args->outputs[0];
    if (x->shape.rank < 2 || y->dtype != x->dtype || bnn_tensor_numel(y) != bnn_tensor_numel(x))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "needs an input of rank 2 or more and an output like it");
    t->k = 0;
    if (args->n_inputs > 1 && args->inputs[1].data) {
        const bnn_tensor *kt = &args->inputs[1];
        if ((kt->dtype != BNN_I64 && kt->dtype != BNN_I32) || bnn_tensor_numel(kt) != 1)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "k must be one i32 or i64 value");
        t->k = kt->dtype == BNN_I64 ? *(const int64_t *)kt->data : *(const int32_t *)kt->data;
    }
    t->upper = bnn_node_int(args->node, "upper", 1) != 0;
    t->rows = x->shape.dims[x->shape.rank - 2];
    t->cols = x->shape.dims[x->shape.rank - 1];
    return BNN_OK;
}

/* Whether flat element e (row i, column j of its matrix) is kept. */
static bool trilu_keeps(const trilu_spec *t, int64_t e)
{
    int64_t j = e % t->cols, i = (e / t->cols) % t->rows;
    return t->upper ? j - i >= t->k : j - i <= t->k;
}

static bnn_status trilu_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    trilu_spec t;
    BNN_TRY(trilu_setup(args, &t, diag));
    const bnn_tensor *x = &args->inputs[0];
    int64_t n = bnn_tensor_numel(x);
    size_t es = bnn_dtype_size(x->dtype);
    const unsigned char *src = x->data;
    unsigned char *dst = args->outputs[0].data;
    for (int64_t e = 0; e < n; e++) {
        if (trilu_keeps(&t, e))
            memcpy(dst + (size_t)e * es, src + (size_t)e * es, es);
        else
            memset(dst + (size_t)e * es, 0, es);
    }
    return BNN_OK;
}

static bnn_status trilu_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    trilu_spec t;
    BNN_TRY(trilu_setup(args, &t, diag));
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    const float *g = grads->grad_outputs[0].data;
    for (int64_t e = 0; e < n; e++)
        if (trilu_keeps(&t, e))
            gx[e] += g[e];
    return BNN_OK;
}

const bnn_kernel bnn_kernel_trilu = {.forward = trilu_forward, .backward = trilu_backward};

/* ---- eye_like ----------------------------------------------------------- */

static bnn_status eye_like_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    size_t es = bnn_dtype_size(y->dtype);
    if (y->shape.rank != 2 || es == 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "needs a 2-D numeric or bool output");
    unsigned char one[8];
    switch (y->dtype) {
    case BNN_F16: { uint16_t h = 0x3c00; memset(one, 0, 8); memcpy(one, &h, 2); break; }
    case BNN_BF16: { uint16_t h = 0x3f80; memset(one, 0, 8); memcpy(one, &h, 2); break; }
    default: pad_value_bytes(y->dtype, 1.0, one); break;
    }
    int64_t k = bnn_node_int(args->node, "k", 0);
    int64_t rows = y->shape.dims[0], cols = y->shape.dims[1];
    unsigned char *dst = y->data;
    if (rows > 0 && cols > 0)
        memset(dst, 0, (size_t)(rows * cols) * es);
    /* k beyond the matrix leaves it all zero (and i + k cannot overflow) */
    for (int64_t i = 0; i < rows && k > -rows && k < cols; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols)
            memcpy(dst + (size_t)(i * cols + j) * es, one, es);
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_eye_like = {.forward = eye_like_forward};

/* ---- constant_of_shape -------------------------------------------------- */

static bnn_status constant_of_shape_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *v = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    size_t es = bnn_dtype_size(y->dtype);
    if (bnn_tensor_numel(v) != 1 || v->dtype != y->dtype || es == 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "value must be one element of the output's type");
    unsigned char *dst = y->data;
    int64_t n = bnn_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + (size_t)i * es, v->data, es);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_constant_of_shape = {.forward = constant_of_shape_forward};

/* ---- range -------------------------------------------------------------- */

/* The length was fixed when the session evaluated the bounds (shape_eval);
 * bounds that would give another length now are an error, not a short
 * write. */
static bnn_status range_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    for (int k = 0; k < 3; k++)
        if (bnn_tensor_numel(&args->inputs[k]) != 1 || args->inputs[k].dtype != y->dtype)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "input %d is not one %s", k,
                                   bnn_dtype_name(y->dtype));
    int64_t n;
    const char *bad = bnn_range_count(y->dtype, args->inputs[0].data, args->inputs[1].data,
                                      args->inputs[2].data, &n);
    if (bad)
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "%s", bad);
    if (n != bnn_tensor_numel(y))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "the bounds give %lld elements, the "
                               "plan has %lld", (long long)n, (long long)bnn_tensor_numel(y));
    bnn_range_fill(y->dtype, args->inputs[0].data, args->inputs[2].data, n, y->data);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_range = {.forward = range_forward};
