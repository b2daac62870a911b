/* Selection along one axis: top_k, hardmax and reverse_sequence.  Both see the input as lines
 * [outer, len, inner] (len: the axis' dim, or for hardmax's coerce=1 every
 * dim from the axis on).  top_k sorts each line's positions with a stable
 * merge sort in scratch (so equal values keep the lower position first) and
 * keeps the first k; values of every numeric type, NaN as the largest.
 * Its gradient (f32) adds each value's gradient at the position it came
 * from, read back from the indices output.  hardmax (f32, f64) puts 1 at
 * the first maximum of each line.  reverse_sequence moves bytes (every
 * type) after checking every length; its gradient (f32) moves back. */
#include <math.h>
#include <string.h>

#include "kernel.h"

typedef bnn_axis_lines line_layout;

/* The lines of x around `axis` (coerce: the dims from axis on are one). */
static bnn_status lines_of(const bnn_kernel_args *args, const bnn_tensor *x, int64_t axis,
                           bool coerce, line_layout *l, bnn_diag *diag)
{
    return bnn_kernel_axis_lines(args, x, axis, coerce, l, diag);
}

/* >0 when element a of data is larger than element b, <0 smaller, 0 equal;
 * a NaN is larger than any number and equal to another NaN. */
static int compare_at(const void *data, bnn_dtype dt, int64_t a, int64_t b)
{
#define CMP_INT(T) { T x_ = ((const T *)data)[a], y_ = ((const T *)data)[b]; \
                     return (x_ > y_) - (x_ < y_); }
#define CMP_FLOAT(T) { T x_ = ((const T *)data)[a], y_ = ((const T *)data)[b];  \
                       if (isnan(x_) || isnan(y_)) return !isnan(y_) - !isnan(x_); \
                       return (x_ > y_) - (x_ < y_); }
    switch (dt) {
    case BNN_F32: CMP_FLOAT(float)
    case BNN_F64: CMP_FLOAT(double)
    case BNN_I8: CMP_INT(int8_t)
    case BNN_U8: CMP_INT(uint8_t)
    case BNN_I16: CMP_INT(int16_t)
    case BNN_U16: CMP_INT(uint16_t)
    case BNN_I32: CMP_INT(int32_t)
    case BNN_U32: CMP_INT(uint32_t)
    case BNN_I64: CMP_INT(int64_t)
    case BNN_U64: CMP_INT(uint64_t)
    default: return 0;
    }
#undef CMP_INT
#undef CMP_FLOAT
}

/* The types compare_at orders. */
static bool comparable(bnn_dtype dt)
{
    switch (dt) {
    case BNN_F32: case BNN_F64: case BNN_I8: case BNN_U8: case BNN_I16: case BNN_U16:
    case BNN_I32: case BNN_U32: case BNN_I64: case BNN_U64: return true;
    default: return false;
    }
}

/* ---- top_k -------------------------------------------------------------- */

typedef struct top_k_spec {
    line_layout l;
    int64_t k;
    bool largest;
} top_k_spec;

static bnn_status top_k_setup(const bnn_kernel_args *args, top_k_spec *s, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    if (x->shape.rank < 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "input is a scalar, expected 1-D or more");
    BNN_TRY(lines_of(args, x, bnn_node_int(args->node, "axis", -1), false, &s->l, diag));
    s->k = bnn_node_int(args->node, "k", 0);
    s->largest = bnn_node_int(args->node, "largest", 1) != 0;
    if (s->k < 0 || s->k > s->l.len)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "k is %lld, outside [0, %lld]",
                               (long long)s->k, (long long)s->l.len);
    return BNN_OK;
}

static size_t top_k_scratch_size(const bnn_kernel_args *args)
{
    top_k_spec s = {{0, 0, 0}, 0, false};
    bnn_diag d = {0};
    if (top_k_setup(args, &s, &d) != BNN_OK)
        return 0;
    return (size_t)s.l.len * 2 * sizeof(int64_t);
}

/* Sorts pos[0..n) (positions of one line: element p is at data[base +
 * p * stride]) best first, stably, with tmp as room for n more. */
static void sort_line(int64_t *pos, int64_t *tmp, int64_t n, const void *data, bnn_dtype dt,
                      int64_t base, int64_t stride, bool largest)
{
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int c = compare_at(data, dt, base + pos[j] * stride, base + pos[i] * stride);
                /* the right one goes first only when strictly better */
                bool right_first = largest ? c > 0 : c < 0;
                tmp[o++] = right_first ? pos[j++] : pos[i++];
            }
            while (i < mid)
                tmp[o++] = pos[i++];
            while (j < hi)
                tmp[o++] = pos[j++];
        }
        memcpy(pos, tmp, (size_t)n * sizeof *pos);
    }
}

static bnn_status top_k_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    top_k_spec s;
    BNN_TRY(top_k_setup(args, &s, diag));
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *values = &args->outputs[0], *indices = &args->outputs[1];
    if (!comparable(x->dtype))
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "?");
    if (args->n_outputs < 2 || indices->dtype != BNN_I64 || values->dtype != x->dtype)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "expected outputs of %s and i64",
                               bnn_dtype_name(x->dtype));
    const line_layout *l = &s.l;
    size_t es = bnn_dtype_size(x->dtype);
    int64_t *pos = args->scratch, *tmp = pos + l->len;
    const unsigned char *src = x->data;
    unsigned char *dst = values->data;
    int64_t *out_idx = indices->data;
    for (int64_t o = 0; o < l->outer; o++)
        for (int64_t in = 0; in < l->inner; in++) {
            int64_t base = o * l->len * l->inner + in;
            for (int64_t p = 0; p < l->len; p++)
                pos[p] = p;
            sort_line(pos, tmp, l->len, x->data, x->dtype, base, l->inner, s.largest);
            for (int64_t j = 0; j < s.k; j++) {
                int64_t at = o * s.k * l->inner + j * l->inner + in;
                memcpy(dst + (size_t)at * es, src + (size_t)(base + pos[j] * l->inner) * es, es);
                out_idx[at] = pos[j];
            }
        }
    return BNN_OK;
}

static bnn_status top_k_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    top_k_spec s;
    BNN_TRY(top_k_setup(args, &s, diag));
    const line_layout *l = &s.l;
    const float *g = grads->grad_outputs[0].data;
    const int64_t *idx = args->outputs[1].data;
    for (int64_t o = 0; o < l->outer; o++)
        for (int64_t j = 0; j < s.k; j++)
            for (int64_t in = 0; in < l->inner; in++) {
                int64_t at = o * s.k * l->inner + j * l->inner + in;
                gx[o * l->len * l->inner + idx[at] * l->inner + in] += g[at];
            }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_top_k = {.forward = top_k_forward,
                                     .backward = top_k_backward,
                                     .scratch_size = top_k_scratch_size};

/* ---- hardmax ------------------------------------------------------------ */

static bnn_status hardmax_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    if (x->dtype != BNN_F32 && x->dtype != BNN_F64)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "?");
    bool coerce = bnn_node_int(args->node, "coerce", 0) != 0;
    line_layout l = {0, 0, 0};
    BNN_TRY(lines_of(args, x, bnn_node_int(args->node, "axis", coerce ? 1 : -1), coerce, &l, diag));
    memset(y->data, 0, bnn_tensor_nbytes(y));
    if (l.len == 0)
        return BNN_OK;
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t in = 0; in < l.inner; in++) {
            int64_t base = o * l.len * l.inner + in, best = base;
            for (int64_t p = 1; p < l.len; p++)
                if (compare_at(x->data, x->dtype, base + p * l.inner, best) > 0)
                    best = base + p * l.inner;
            if (x->dtype == BNN_F32)
                ((float *)y->data)[best] = 1.0f;
            else
                ((double *)y->data)[best] = 1.0;
        }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_hardmax = {.forward = hardmax_forward};

/* ---- reverse_sequence ---------------------------------------------------- */

typedef struct seq_layout {
    int64_t d0, d1, inner;   /* x as [d0, d1, inner] */
    bool batch_first;        /* batch_axis 0 */
} seq_layout;

static bnn_status seq_setup(const bnn_kernel_args *args, seq_layout *l, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *lens = &args->inputs[1];
    if (x->shape.rank < 2 || (lens->dtype != BNN_I32 && lens->dtype != BNN_I64))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "expected x of rank 2 or more and i32 or i64 sequence_lens");
    l->batch_first = bnn_node_int(args->node, "batch_axis", 1) == 0;
    l->d0 = x->shape.dims[0];
    l->d1 = x->shape.dims[1];
    l->inner = 1;
    for (int d = 2; d < x->shape.rank; d++)
        l->inner *= x->shape.dims[d];
    int64_t batch = l->batch_first ? l->d0 : l->d1, steps = l->batch_first ? l->d1 : l->d0;
    if (bnn_tensor_numel(lens) != batch)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "sequence_lens has %lld entries, batch %lld",
                               (long long)bnn_tensor_numel(lens), (long long)batch);
    for (int64_t b = 0; b < batch; b++) {
        int64_t n = lens->dtype == BNN_I64 ? ((const int64_t *)lens->data)[b]
                                           : ((const int32_t *)lens->data)[b];
        if (n < 0 || n > steps)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                   "sequence length %lld (batch %lld) is outside [0, %lld]",
                                   (long long)n, (long long)b, (long long)steps);
    }
    return BNN_OK;
}

/* Calls BODY with dst and src (element offsets of a row of `inner`). */
#define SEQ_WALK(l, lens, BODY)                                                         \
    for (int64_t i0 = 0; i0 < (l)->d0; i0++)                                            \
        for (int64_t i1 = 0; i1 < (l)->d1; i1++) {                                      \
            int64_t b = (l)->batch_first ? i0 : i1, t = (l)->batch_first ? i1 : i0;      \
            int64_t n = (lens)->dtype == BNN_I64 ? ((const int64_t *)(lens)->data)[b]    \
                                                 : ((const int32_t *)(lens)->data)[b];   \
            int64_t st = t < n ? n - 1 - t : t;                                         \
            int64_t dst = (i0 * (l)->d1 + i1) * (l)->inner;                              \
            int64_t src = ((l)->batch_first ? i0 * (l)->d1 + st : st * (l)->d1 + i1) *   \
                          (l)->inner;                                                   \
            BODY;                                                                       \
        }

static bnn_status reverse_sequence_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    seq_layout l = {0, 0, 0, false};
    BNN_TRY(seq_setup(args, &l, diag));
    const bnn_tensor *x = &args->inputs[0];
    size_t es = bnn_dtype_size(x->dtype);
    unsigned char *y = args->outputs[0].data;
    const unsigned char *xs = x->data;
    SEQ_WALK(&l, &args->inputs[1],
             memcpy(y + (size_t)dst * es, xs + (size_t)src * es, (size_t)l.inner * es))
    return BNN_OK;
}

static bnn_status reverse_sequence_backward(const bnn_kernel_args *args,
                                            const bnn_kernel_grads *grads, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    seq_layout l = {0, 0, 0, false};
    BNN_TRY(seq_setup(args, &l, diag));
    const float *g = grads->grad_outputs[0].data;
    SEQ_WALK(&l, &args->inputs[1], for (int64_t i = 0; i < l.inner; i++) gx[src + i] += g[dst + i])
    return BNN_OK;
}

const bnn_kernel bnn_kernel_reverse_sequence = {.forward = reverse_sequence_forward,
                                                .backward = reverse_sequence_backward};
