/* The slice bounds rule (ir/infer_slice.c) shared with the frontend's folding
 * and the runtime's kernel, so that all three clamp slice bounds the same
 * way. */
#ifndef BNN_SLICE_IMPL_H
#define BNN_SLICE_IMPL_H

#include "bnn_ir.h"

/* ONNX Slice along one dim of `dim` elements (dim >= 0, step nonzero, |step|
 * <= 2^31): negative bounds count from the end, then clamp ([0, dim] going
 * forward, [-1, dim-1] going backward).  Returns how many elements it takes;
 * *first gets the index of the first. */
int64_t bnn_slice_count(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first);

#endif
