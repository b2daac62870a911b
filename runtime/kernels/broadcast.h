/* numpy broadcasting of two operands against an output shape, reduced to the
 * fewest dimensions: dims that are contiguous in both operands merge, and
 * size-1 dims vanish.  Kernels walk the result row by row (every dim but the
 * last), with an inner loop over the last dim whose strides are usually 1
 * (same shape) or 0 (a broadcast operand). */
#ifndef BNN_BROADCAST_H
#define BNN_BROADCAST_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_ir.h"

typedef struct bnn_bcast {
    int rank;                          /* >= 1 */
    int64_t dims[BNN_MAX_RANK];
    int64_t stride_a[BNN_MAX_RANK];    /* elements; 0 where a is broadcast */
    int64_t stride_b[BNN_MAX_RANK];
    int64_t n;                         /* output elements */
} bnn_bcast;

/* False when a or b does not broadcast to out (numpy rules, right-aligned). */
bool bnn_bcast_init(bnn_bcast *bc, const bnn_shape *a, const bnn_shape *b, const bnn_shape *out);

/* Offsets of a and b at the start of output row `row` (rows span every dim
 * but the last). */
static inline void bnn_bcast_row(const bnn_bcast *bc, int64_t row, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int d = bc->rank - 2; d >= 0; d--) {
        int64_t i = row % bc->dims[d];
        row /= bc->dims[d];
        a += i * bc->stride_a[d];
        b += i * bc->stride_b[d];
    }
    *oa = a;
    *ob = b;
}

#endif
