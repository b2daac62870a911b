/* Shape inference for the many-input elementwise ops
 * (runtime/kernels/multiway.c): pow, and the variadic max, min, sum and mean,
 * with numpy broadcasting over all inputs.  Dispatch and the shared helpers
 * are in infer.c. */

#include "infer_impl.h"

/* y = x ^ p: the exponent may be of another numeric type; y has x's. */
bnn_status bnn_infer_pow(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_NUMERIC, -1));
    BNN_TRY(infer_check_type(c, 1, TYPES_NUMERIC, -1));
    c->out_dtype = infer_input(c, 0)->dtype;
    return infer_broadcast_all(c);
}

static bnn_status many(infer_ctx *c, type_class cls)
{
    for (int k = 0; k < c->node->n_inputs; k++)
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
    BNN_TRY(infer_check_types_alike(c, cls));
    c->out_dtype = infer_first_dtype(c);
    return infer_broadcast_all(c);
}

bnn_status bnn_infer_max(infer_ctx *c) { return many(c, TYPES_NUMERIC); }
bnn_status bnn_infer_min(infer_ctx *c) { return many(c, TYPES_NUMERIC); }
bnn_status bnn_infer_sum(infer_ctx *c) { return many(c, TYPES_NUMERIC); }
bnn_status bnn_infer_mean(infer_ctx *c) { return many(c, TYPES_FLOAT); }
