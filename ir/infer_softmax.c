/* Shape inference for softmax and log_softmax (runtime/kernels/softmax.c):
 * the input's shape, once the axis is in range.  Dispatch and the shared
 * helpers are in infer.c. */

#include "infer_impl.h"

static bnn_status softmax_like(infer_ctx *c)
{
    bool coerce;
    BNN_TRY(infer_flag_attr(c, "coerce", 0, &coerce));
    int rank = infer_input(c, 0)->shape.rank, axis;
    int64_t a = bnn_node_int(c->node, "axis", -1);
    if (rank >= 0 && !infer_norm_axis(a, rank, &axis))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)a,
                          infer_name(c, 0), infer_type(c, 0));
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_softmax(infer_ctx *c) { return softmax_like(c); }
bnn_status bnn_infer_log_softmax(infer_ctx *c) { return softmax_like(c); }
