/* The strided copy the layout kernels share (runtime/kernels/layout.c): transpose,
 * slice and expand all copy a strided view of their input into a contiguous
 * output.  Internal to runtime/. */
#ifndef BNN_LAYOUT_IMPL_H
#define BNN_LAYOUT_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* dst (contiguous, shape dims[rank])[i] = src[sum over d of idx_d * strides[d]],
 * elements of es bytes; a stride may be 0 (broadcast) or negative. */
void layout_strided_gather(size_t es, int rank, const int64_t *dims, const int64_t *strides,
                           const void *src, void *dst);

#endif
