/* Helpers of the slice and cast ops (ir/infer_more.c) shared with the
 * frontend's folding and the runtime's kernels, so that all three clamp slice
 * bounds and accept element types the same way. */
#ifndef BNN_MORE_OPS_IMPL_H
#define BNN_MORE_OPS_IMPL_H

#include "bnn_ir.h"

/* ONNX Slice along one dim of `dim` elements (dim >= 0, step nonzero, |step|
 * <= 2^31): negative bounds count from the end, then clamp ([0, dim] going
 * forward, [-1, dim-1] going backward).  Returns how many elements it takes;
 * *first gets the index of the first. */
int64_t bnn_slice_count(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first);

/* The element types cast converts between: every integer type, f16, f32,
 * f64 and bool (not string, not bf16). */
bool bnn_cast_type_ok(bnn_dtype t);

#endif
