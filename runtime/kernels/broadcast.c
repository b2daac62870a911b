/* Broadcast set-up: strides per operand, then merging of dims (broadcast.h). */
#include "broadcast.h"

static void operand_strides(const bnn_shape *s, int out_rank, const int64_t *out_dims,
                            int64_t *strides, bool *ok)
{
    int off = out_rank - s->rank;
    int64_t stride = 1;
    for (int d = out_rank - 1; d >= 0; d--) {
        int k = d - off;
        int64_t dim = k >= 0 ? s->dims[k] : 1;
        if (dim == out_dims[d] && dim != 1) {
            strides[d] = stride;
        } else if (dim == 1) {
            strides[d] = 0;
        } else {
            *ok = false;
            strides[d] = 0;
        }
        stride *= dim;
    }
}

bool bnn_bcast_init(bnn_bcast *bc, const bnn_shape *a, const bnn_shape *b, const bnn_shape *out)
{
    if (a->rank > out->rank || b->rank > out->rank || out->rank > BNN_MAX_RANK)
        return false;
    int64_t sa[BNN_MAX_RANK], sb[BNN_MAX_RANK];
    bool ok = true;
    operand_strides(a, out->rank, out->dims, sa, &ok);
    operand_strides(b, out->rank, out->dims, sb, &ok);
    if (!ok)
        return false;
    bc->n = 1;
    for (int d = 0; d < out->rank; d++)
        bc->n *= out->dims[d];
    /* Drop size-1 dims, then merge a dim into the previous kept one when both
     * operands step through them contiguously (or both broadcast). */
    int r = 0;
    for (int d = 0; d < out->rank; d++) {
        int64_t n = out->dims[d];
        if (n == 1)
            continue;
        if (r > 0 && sa[d] * n == bc->stride_a[r - 1] && sb[d] * n == bc->stride_b[r - 1]) {
            bc->dims[r - 1] *= n;
            bc->stride_a[r - 1] = sa[d];
            bc->stride_b[r - 1] = sb[d];
            continue;
        }
        bc->dims[r] = n;
        bc->stride_a[r] = sa[d];
        bc->stride_b[r] = sb[d];
        r++;
    }
    if (r == 0) {
        bc->dims[0] = 1;
        bc->stride_a[0] = 0;
        bc->stride_b[0] = 0;
        r = 1;
    }
    bc->rank = r;
    return true;
}
