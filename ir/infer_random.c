/* Shape inference for random_normal_like (runtime/kernels/random.c).
 * Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

/* The input's shape; the dtype attribute (an ONNX element type, a float one)
 * or else the input's, which must then be a float type. */
bnn_status bnn_infer_random_normal_like(infer_ctx *c)
{
    const bnn_attr *dt = bnn_node_attr(c->node, "dtype");
    bnn_dtype t = infer_input(c, 0)->dtype;
    if (dt) {
        t = (bnn_dtype)dt->i;
        if (dt->i < 0 || dt->i > BNN_BF16 || !bnn_dtype_name(t) || t == BNN_UNDEFINED ||
            !infer_type_fits(t, TYPES_FLOAT))
            return infer_fail(c, "attribute 'dtype' is %lld, expected a float element type",
                              (long long)dt->i);
    } else if (!infer_type_fits(t, TYPES_FLOAT)) {
        return infer_fail(c, "input '%s' has type %s, expected a float type (or a dtype attribute)",
                          infer_name(c, 0), infer_type(c, 0));
    }
    c->out_dtype = t;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}
