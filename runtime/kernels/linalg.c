/* Linear algebra: einsum and det.  einsum (f32 accumulated in double, f64,
 * i32, i64) walks every combination of its labels' values, output labels
 * outermost, and adds the product of the operands into the output element;
 * a size-1 dim broadcasts.  Its gradient (f32) walks the same way and adds
 * into each operand the output gradient times the other operands.  det
 * (f32, f64) is an LU factorisation with partial pivoting in double, per
 * matrix, in scratch. */
#include <math.h>
#include <string.h>

#include "einsum_impl.h"
#include "kernel.h"

/* ---- einsum --------------------------------------------------------------- */

typedef struct einsum_plan {
    bnn_einsum e;
    int64_t size[BNN_EINSUM_MAX_LABELS];
    int64_t stride[BNN_EINSUM_MAX_IN + 1][BNN_EINSUM_MAX_LABELS]; /* last row: the output */
} einsum_plan;

static bnn_status einsum_setup(const bnn_kernel_args *args, einsum_plan *p, bnn_diag *diag)
{
    int ranks[BNN_EINSUM_MAX_IN];
    bnn_shape shapes[BNN_EINSUM_MAX_IN];
    int n = args->n_inputs;
    if (n > BNN_EINSUM_MAX_IN)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "more than %d operands",
                               BNN_EINSUM_MAX_IN);
    for (int k = 0; k < n; k++) {
        shapes[k] = args->inputs[k].shape;
        ranks[k] = shapes[k].rank;
        if (args->inputs[k].dtype != args->inputs[0].dtype)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "operands differ in element type");
    }
    char why[160];
    const char *text = bnn_node_string(args->node, "equation", "");
    if (!bnn_einsum_parse(text, n, ranks, &p->e, why, sizeof why) ||
        !bnn_einsum_sizes(&p->e, shapes, p->size, why, sizeof why))
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "equation '%s': %s", text, why);
    memset(p->stride, 0, sizeof p->stride);
    for (int k = 0; k < n; k++) {
        int64_t s = 1;
        for (int d = p->e.rank[k] - 1; d >= 0; d--) {
            int l = p->e.label[k][d];
            if (shapes[k].dims[d] == p->size[l])
                p->stride[k][l] += s; /* a repeated label walks the diagonal */
            s *= shapes[k].dims[d];
        }
    }
    int64_t s = 1;
    for (int i = p->e.out_rank - 1; i >= 0; i--) {
        p->stride[n][p->e.out_label[i]] = s;
        s *= p->size[p->e.out_label[i]];
    }
    if (bnn_tensor_numel(&args->outputs[0]) != s)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output has %lld elements, expected %lld",
                               (long long)bnn_tensor_numel(&args->outputs[0]), (long long)s);
    return BNN_OK;
}

static size_t einsum_scratch_size(const bnn_kernel_args *args)
{
    return (size_t)bnn_tensor_numel(&args->outputs[0]) * sizeof(double);
}

/* Calls BODY with off[0..n] (operand and output offsets) for every
 * combination of the labels' values. */
#define EINSUM_WALK(p, n, BODY)                                                      \
    do {                                                                             \
        int64_t total_ = 1, at_[BNN_EINSUM_MAX_LABELS] = {0};                        \
        int64_t off[BNN_EINSUM_MAX_IN + 1] = {0};                                    \
        for (int l_ = 0; l_ < (p)->e.n_labels; l_++)                                 \
            total_ *= (p)->size[l_];                                                 \
        for (int64_t it_ = 0; it_ < total_; it_++) {                                 \
            BODY;                                                                    \
            for (int l_ = (p)->e.n_labels - 1; l_ >= 0; l_--) {                      \
                bool wrap_ = ++at_[l_] == (p)->size[l_];                             \
                for (int k_ = 0; k_ <= (n); k_++)                                    \
                    off[k_] += wrap_ ? -(p)->stride[k_][l_] * ((p)->size[l_] - 1)    \
                                     : (p)->stride[k_][l_];                          \
                if (!wrap_)                                                          \
                    break;                                                           \
                at_[l_] = 0;                                                         \
            }                                                                        \
        }                                                                            \
    } while (0)

#define EINSUM_SUM(T, ACC)                                                     \
    {                                                                          \
        ACC *acc = args->scratch;                                              \
        int64_t m = bnn_tensor_numel(y);                                       \
        for (int64_t i = 0; i < m; i++)                                        \
            acc[i] = 0;                                                        \
        EINSUM_WALK(&p, n, {                                                   \
            ACC v = 1;                                                         \
            for (int k = 0; k < n; k++)                                        \
                v *= (ACC)((const T *)args->inputs[k].data)[off[k]];           \
            acc[off[n]] += v;                                                  \
        });                                                                    \
        for (int64_t i = 0; i < m; i++)                                        \
            ((T *)y->data)[i] = (T)acc[i];                                     \
        break;                                                                 \
    }

static bnn_status einsum_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    einsum_plan p;
    BNN_TRY(einsum_setup(args, &p, diag));
    bnn_tensor *y = &args->outputs[0];
    int n = args->n_inputs;
    switch (args->inputs[0].dtype) {
    case BNN_F32: EINSUM_SUM(float, double)
    case BNN_F64: EINSUM_SUM(double, double)
    /* integers wrap, as numpy's do: summed in unsigned 64 bits */
    case BNN_I32: EINSUM_SUM(int32_t, uint64_t)
    case BNN_I64: EINSUM_SUM(int64_t, uint64_t)
    default:
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(args->inputs[0].dtype));
    }
    return BNN_OK;
}

static bnn_status einsum_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    einsum_plan p;
    BNN_TRY(einsum_setup(args, &p, diag));
    int n = args->n_inputs;
    const float *g = grads->grad_outputs[0].data;
    for (int i = 0; i < n; i++) {
        float *gx = grads->grad_inputs[i].data;
        if (!gx)
            continue;
        BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[i].dtype, diag));
        EINSUM_WALK(&p, n, {
            double v = g[off[n]];
            for (int k = 0; k < n; k++)
                if (k != i)
                    v *= ((const float *)args->inputs[k].data)[off[k]];
            gx[off[i]] += (float)v;
        });
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_einsum = {.forward = einsum_forward,
                                      .backward = einsum_backward,
                                      .scratch_size = einsum_scratch_size};

/* ---- det ------------------------------------------------------------------ */

static size_t det_scratch_size(const bnn_kernel_args *args)
{
    const bnn_shape *s = &args->inputs[0].shape;
    int64_t m = s->rank >= 2 ? s->dims[s->rank - 1] : 0;
    return (size_t)(m * m) * sizeof(double);
}

/* The determinant of the m x m matrix a (overwritten). */
static double lu_det(double *a, int64_t m)
{
    double det = 1;
    for (int64_t c = 0; c < m; c++) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[piv * m + c]))
                piv = r;
        if (a[piv * m + c] == 0)
            return 0;
        if (piv != c) {
            for (int64_t j = 0; j < m; j++) {
                double t = a[c * m + j];
                a[c * m + j] = a[piv * m + j];
                a[piv * m + j] = t;
            }
            det = -det;
        }
        det *= a[c * m + c];
        for (int64_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / a[c * m + c];
            for (int64_t j = c; j < m; j++)
                a[r * m + j] -= f * a[c * m + j];
        }
    }
    return det;
}

static bnn_status det_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    int r = x->shape.rank;
    if (r < 2 || x->shape.dims[r - 1] != x->shape.dims[r - 2])
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "input is not a (batch of) square matrices");
    if (x->dtype != BNN_F32 && x->dtype != BNN_F64)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                               bnn_dtype_name(x->dtype));
    int64_t m = x->shape.dims[r - 1], count = bnn_tensor_numel(y);
    double *a = args->scratch;
    for (int64_t b = 0; b < count; b++) {
        for (int64_t i = 0; i < m * m; i++)
            a[i] = x->dtype == BNN_F32 ? ((const float *)x->data)[b * m * m + i]
                                       : ((const double *)x->data)[b * m * m + i];
        double d = lu_det(a, m);
        if (x->dtype == BNN_F32)
            ((float *)y->data)[b] = (float)d;
        else
            ((double *)y->data)[b] = d;
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_det = {.forward = det_forward, .scratch_size = det_scratch_size};
