/* Reference implementations for the kernels_elem tests (reference.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "reference.h"

void ref_unravel(int64_t i, const bnn_shape *s, int64_t *coords)
{
    for (int d = s->rank - 1; d >= 0; d--) {
        coords[d] = s->dims[d] ? i % s->dims[d] : 0;
        i = s->dims[d] ? i / s->dims[d] : 0;
    }
}

int64_t ref_ravel(const int64_t *coords, const bnn_shape *s)
{
    int64_t i = 0;
    for (int d = 0; d < s->rank; d++)
        i = i * s->dims[d] + coords[d];
    return i;
}

bool ref_broadcast_shape(const bnn_shape *a, const bnn_shape *b, bnn_shape *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    memset(out, 0, sizeof *out);
    out->rank = r;
    for (int d = 0; d < r; d++) {
        int ka = d - (r - a->rank), kb = d - (r - b->rank);
        int64_t da = ka >= 0 ? a->dims[ka] : 1, db = kb >= 0 ? b->dims[kb] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        out->dims[d] = da == 1 ? db : da;
    }
    return true;
}

/* Index of the element of t (right-aligned, size-1 dims broadcast) read at
 * output coordinates c of rank r. */
static int64_t bcast_index(const bnn_shape *t, const int64_t *c, int r)
{
    int64_t i = 0;
    for (int k = 0; k < t->rank; k++) {
        int64_t ck = c[k + r - t->rank];
        i = i * t->dims[k] + (t->dims[k] == 1 ? 0 : ck);
    }
    return i;
}

static void put_wrapped(bnn_tensor *t, int64_t i, int64_t v)
{
    uint64_t u = (uint64_t)v;
    size_t es = bnn_dtype_size(t->dtype);
    unsigned char *p = (unsigned char *)t->data + (size_t)i * es;
    /* little-endian host: the low bytes are the wrapped value */
    memcpy(p, &u, es);
}

void ref_binary(bnn_op op, const bnn_tensor *a, const bnn_tensor *b, bnn_tensor *y)
{
    int64_t n = bnn_tensor_numel(y);
    int64_t c[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &y->shape, c);
        int64_t ia = bcast_index(&a->shape, c, y->shape.rank);
        int64_t ib = bcast_index(&b->shape, c, y->shape.rank);
        if (y->dtype == BNN_F32) {
            float x = ((const float *)a->data)[ia], z = ((const float *)b->data)[ib], r;
            switch (op) {
            case BNN_OP_ADD: r = x + z; break;
            case BNN_OP_SUB: r = x - z; break;
            case BNN_OP_MUL: r = x * z; break;
            case BNN_OP_DIV: r = x / z; break;
            default: r = x < 0 ? z * x : x; break; /* prelu */
            }
            ((float *)y->data)[i] = r;
        } else if (y->dtype == BNN_F64) {
            double x = ((const double *)a->data)[ia], z = ((const double *)b->data)[ib], r;
            switch (op) {
            case BNN_OP_ADD: r = x + z; break;
            case BNN_OP_SUB: r = x - z; break;
            case BNN_OP_MUL: r = x * z; break;
            default: r = x / z; break;
            }
            ((double *)y->data)[i] = r;
        } else {
            int64_t x = (int64_t)ke_get(a, ia), z = (int64_t)ke_get(b, ib), r;
            switch (op) {
            case BNN_OP_ADD: r = x + z; break;
            case BNN_OP_SUB: r = x - z; break;
            case BNN_OP_MUL: r = x * z; break;
            default: r = x / z; break;
            }
            put_wrapped(y, i, r);
        }
    }
}

double ref_unary(bnn_op op, double x, double alpha, double gamma)
{
    switch (op) {
    case BNN_OP_RELU: return x > 0 ? x : 0;
    case BNN_OP_LEAKY_RELU: return x >= 0 ? x : alpha * x;
    case BNN_OP_ELU: return x >= 0 ? x : alpha * (exp(x) - 1);
    case BNN_OP_SELU: return x > 0 ? gamma * x : gamma * alpha * (exp(x) - 1);
    case BNN_OP_SIGMOID: return 1 / (1 + exp(-x));
    case BNN_OP_TANH: return tanh(x);
    case BNN_OP_SOFTPLUS: return log(1 + exp(x));
    case BNN_OP_SOFTSIGN: return x / (1 + fabs(x));
    case BNN_OP_EXP: return exp(x);
    case BNN_OP_LOG: return log(x);
    case BNN_OP_SQRT: return sqrt(x);
    case BNN_OP_RECIPROCAL: return 1 / x;
    case BNN_OP_ABS: return fabs(x);
    case BNN_OP_NEG: return -x;
    default: return x; /* identity */
    }
}

/* Group key of an element: its coordinates outside the normalised dims. */
static int64_t softmax_group(const bnn_shape *s, const int64_t *c, int64_t axis, bool coerce)
{
    int64_t key = 0;
    for (int d = 0; d < s->rank; d++) {
        bool normalised = coerce ? d >= axis : d == axis;
        if (!normalised)
            key = key * s->dims[d] + c[d];
    }
    return key;
}

void ref_softmax(const bnn_tensor *x, int64_t axis, bool coerce, bool log_form, bnn_tensor *y)
{
    int r = x->shape.rank;
    if (axis < 0)
        axis += r;
    int64_t n = bnn_tensor_numel(x);
    int64_t c[BNN_MAX_RANK];
    double *m = malloc((size_t)(n ? n : 1) * sizeof *m), *sum = calloc((size_t)(n ? n : 1), sizeof *sum);
    for (int64_t i = 0; i < n; i++)
        m[i] = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &x->shape, c);
        int64_t g = softmax_group(&x->shape, c, axis, coerce);
        m[g] = fmax(m[g], ke_get(x, i));
    }
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &x->shape, c);
        int64_t g = softmax_group(&x->shape, c, axis, coerce);
        sum[g] += exp(ke_get(x, i) - m[g]);
    }
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &x->shape, c);
        int64_t g = softmax_group(&x->shape, c, axis, coerce);
        double v = ke_get(x, i);
        ke_put(y, i, log_form ? v - m[g] - log(sum[g]) : exp(v - m[g]) / sum[g]);
    }
    free(m);
    free(sum);
}

static void copy_elem(bnn_tensor *y, int64_t iy, const bnn_tensor *x, int64_t ix)
{
    size_t es = bnn_dtype_size(x->dtype);
    memcpy((unsigned char *)y->data + (size_t)iy * es,
           (const unsigned char *)x->data + (size_t)ix * es, es);
}

void ref_transpose(const bnn_tensor *x, const int64_t *perm, bnn_tensor *y)
{
    int64_t n = bnn_tensor_numel(y);
    int64_t cy[BNN_MAX_RANK], cx[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &y->shape, cy);
        for (int d = 0; d < y->shape.rank; d++)
            cx[perm[d]] = cy[d];
        copy_elem(y, i, x, ref_ravel(cx, &x->shape));
    }
}

void ref_concat(const bnn_tensor *xs, int n, int64_t axis, bnn_tensor *y)
{
    if (axis < 0)
        axis += y->shape.rank;
    int64_t total = bnn_tensor_numel(y);
    int64_t c[BNN_MAX_RANK];
    for (int64_t i = 0; i < total; i++) {
        ref_unravel(i, &y->shape, c);
        int k = 0;
        while (c[axis] >= xs[k].shape.dims[axis]) {
            c[axis] -= xs[k].shape.dims[axis];
            k++;
        }
        (void)n;
        copy_elem(y, i, &xs[k], ref_ravel(c, &xs[k].shape));
    }
}

void ref_pad(const bnn_tensor *x, const int64_t *pads, int mode, double value, bnn_tensor *y)
{
    int r = x->shape.rank;
    int64_t n = bnn_tensor_numel(y);
    int64_t c[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &y->shape, c);
        bool inside = true;
        for (int d = 0; d < r; d++) {
            int64_t s = c[d] - pads[d], len = x->shape.dims[d];
            if (mode == 1) {
                /* reflect, one bounce at a time */
                while (s < 0 || s >= len) {
                    if (len == 1) { s = 0; break; }
                    if (s < 0) s = -s;
                    if (s >= len) s = 2 * (len - 1) - s;
                }
            } else if (mode == 2) {
                s = s < 0 ? 0 : (s >= len ? len - 1 : s);
            } else if (s < 0 || s >= len) {
                inside = false;
            }
            c[d] = s;
        }
        if (inside)
            copy_elem(y, i, x, ref_ravel(c, &x->shape));
        else
            ke_put(y, i, value);
    }
}

void ref_gather(const bnn_tensor *x, const bnn_tensor *idx, int64_t axis, bnn_tensor *y)
{
    int r = x->shape.rank, ri = idx->shape.rank;
    if (axis < 0)
        axis += r;
    int64_t n = bnn_tensor_numel(y);
    int64_t cy[BNN_MAX_RANK], cx[BNN_MAX_RANK], ci[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &y->shape, cy);
        for (int d = 0; d < axis; d++)
            cx[d] = cy[d];
        for (int d = 0; d < ri; d++)
            ci[d] = cy[axis + d];
        int64_t k = (int64_t)ke_get(idx, ref_ravel(ci, &idx->shape));
        cx[axis] = k < 0 ? k + x->shape.dims[axis] : k;
        for (int d = (int)axis + 1; d < r; d++)
            cx[d] = cy[d - 1 + ri];
        copy_elem(y, i, x, ref_ravel(cx, &x->shape));
    }
}

void ref_dense(const float *x, const float *w, const float *b, int64_t m, int64_t in,
               int64_t out, double *y)
{
    for (int64_t r = 0; r < m; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int64_t k = 0; k < in; k++)
                s += (double)x[r * in + k] * w[o * in + k];
            y[r * out + o] = s;
        }
}

void ref_conv2d(const float *x, const int64_t *xd, const float *w, const int64_t *wd,
                const float *b, const int64_t *strides, const int64_t *pads,
                const int64_t *dilations, int64_t group, const int64_t *yd, double *y)
{
    int64_t cg = wd[1], mg = wd[0] / group;
    for (int64_t n = 0; n < yd[0]; n++)
        for (int64_t m = 0; m < yd[1]; m++)
            for (int64_t oh = 0; oh < yd[2]; oh++)
                for (int64_t ow = 0; ow < yd[3]; ow++) {
                    double s = b ? b[m] : 0;
                    int64_t g = m / mg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t kh = 0; kh < wd[2]; kh++)
                            for (int64_t kw = 0; kw < wd[3]; kw++) {
                                int64_t ih = oh * strides[0] - pads[0] + kh * dilations[0];
                                int64_t iw = ow * strides[1] - pads[1] + kw * dilations[1];
                                if (ih < 0 || ih >= xd[2] || iw < 0 || iw >= xd[3])
                                    continue;
                                int64_t ci = g * cg + c;
                                s += (double)x[((n * xd[1] + ci) * xd[2] + ih) * xd[3] + iw] *
                                     w[((m * cg + c) * wd[2] + kh) * wd[3] + kw];
                            }
                    y[((n * yd[1] + m) * yd[2] + oh) * yd[3] + ow] = s;
                }
}
