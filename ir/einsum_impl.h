/* ONNX Einsum's equation, parsed once for shape inference (ir/infer_linalg.c)
 * and the kernel (runtime/kernels/linalg.c).  Every subscript becomes a
 * label: a letter (a-z, A-Z) or one dim of the ellipsis (right-aligned
 * across the operands, numpy's broadcasting).  Labels not in the output are
 * summed over. */
#ifndef BNN_EINSUM_IMPL_H
#define BNN_EINSUM_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_ir.h"

#define BNN_EINSUM_MAX_IN 8
#define BNN_EINSUM_MAX_LABELS (52 + BNN_MAX_RANK)

typedef struct bnn_einsum {
    int n_in;
    int rank[BNN_EINSUM_MAX_IN];
    int label[BNN_EINSUM_MAX_IN][BNN_MAX_RANK]; /* each operand dim's label */
    int out_rank;
    int out_label[BNN_MAX_RANK];
    int n_labels;                               /* labels are 0 .. n_labels-1 */
} bnn_einsum;

/* The most label combinations the loop evaluator walks (product of every
 * label's size); a larger equation is refused rather than left to run for
 * minutes. */
#define BNN_EINSUM_MAX_WORK ((int64_t)1 << 32)

/* Parses `equation` for n_in operands of the given ranks.  On failure
 * returns false with a reason in why (n bytes). */
bool bnn_einsum_parse(const char *equation, int n_in, const int *ranks, bnn_einsum *e, char *why,
                      size_t n);

/* The size of every label from the operands' shapes (an ellipsis dim of 1
 * broadcasts; unknown dims give BNN_DIM_UNKNOWN unless another operand
 * knows it).  False with a reason when two known sizes disagree. */
bool bnn_einsum_sizes(const bnn_einsum *e, const bnn_shape *shapes, int64_t *size, char *why,
                      size_t n);

#endif
