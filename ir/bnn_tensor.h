/* A dense tensor: element type, concrete shape and a data pointer.
 *
 * Used wherever data crosses a boundary: inputs and outputs of a session, .npy
 * and ONNX TensorProto files, kernel operands.  A tensor either owns its data
 * (bnn_tensor_alloc; free with bnn_tensor_free) or is a view of memory someone
 * else owns (owns_data false; bnn_tensor_free then only forgets it).
 */
#ifndef BNN_TENSOR_H
#define BNN_TENSOR_H

#include "bnn_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bnn_tensor {
    bnn_dtype dtype;
    bnn_shape shape; /* concrete: every dim >= 0 */
    void *data;      /* 64-byte aligned when owned; C order, host byte order */
    bool owns_data;
} bnn_tensor;

/* Zero-filled, 64-byte aligned; fails with BNN_ERR_NOMEM on overflow or when
 * out of memory. */
bnn_status bnn_tensor_alloc(bnn_tensor *t, bnn_dtype dtype, const bnn_shape *shape,
                            bnn_diag *diag);
void bnn_tensor_free(bnn_tensor *t);
/* Elements and bytes; the shape must be concrete. */
int64_t bnn_tensor_numel(const bnn_tensor *t);
size_t bnn_tensor_nbytes(const bnn_tensor *t);
/* A view (owns_data false) of a graph param's data. */
bnn_tensor bnn_tensor_view_param(const bnn_value *param);
/* Writes "f32[2,3]" into buf. */
const char *bnn_shape_format(const bnn_shape *shape, bnn_dtype dtype, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
