/* Shape inference for batch_norm (runtime/kernels/norm.c): per-channel
 * scale, bias, mean and var of x [N, C, ...].  ONNX LayerNormalization has no
 * op of its own: the importer expands it (frontend/onnx_lower_norm.c).
 * Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

bnn_status bnn_infer_batch_norm(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_FLOAT));
    const bnn_shape *x = &infer_input(c, 0)->shape;
    if (x->rank >= 0 && x->rank < 2)
        return infer_fail(c, "input '%s' has shape %s, expected [N, C, ...]", infer_name(c, 0),
                          infer_type(c, 0));
    int64_t ch = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    for (int k = 1; k < 5; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        if (s->rank >= 0 && (s->rank != 1 || infer_dims_conflict(s->dims[0], ch)))
            return infer_fail(c, "input '%s' has shape %s, expected [%lld] for input '%s' %s",
                              infer_name(c, k), infer_type(c, k), (long long)ch, infer_name(c, 0),
                              infer_type(c, 0));
    }
    return infer_unary(c, TYPES_FLOAT);
}
