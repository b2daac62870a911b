/* Shape inference of the moment-propagation ops (ops.def, "moments."): a
 * mean and a variance of one shape in, the op's usual output shape out, for
 * both the mean and the variance output. */
#include "infer_impl.h"

/* The variance (input 1) must be f32 and shaped like the mean (input 0). */
static bnn_status check_pair(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_F32, -1));
    BNN_TRY(infer_check_type(c, 1, TYPES_F32, 0));
    const bnn_shape *m = &infer_input(c, 0)->shape, *v = &infer_input(c, 1)->shape;
    if (m->rank >= 0 && v->rank >= 0) {
        bool fits = m->rank == v->rank;
        for (int i = 0; fits && i < m->rank; i++)
            fits = !infer_dims_conflict(m->dims[i], v->dims[i]);
        if (!fits)
            return infer_fail(c, "variance '%s' has shape %s, the mean '%s' %s", infer_name(c, 1),
                              infer_type(c, 1), infer_name(c, 0), infer_type(c, 0));
    }
    return BNN_OK;
}

static bnn_status elementwise(infer_ctx *c)
{
    BNN_TRY(check_pair(c));
    return infer_unary(c, TYPES_F32);
}

bnn_status bnn_infer_moments_relu(infer_ctx *c) { return elementwise(c); }
bnn_status bnn_infer_moments_sigmoid(infer_ctx *c) { return elementwise(c); }
bnn_status bnn_infer_moments_tanh(infer_ctx *c) { return elementwise(c); }

bnn_status bnn_infer_moments_max_pool(infer_ctx *c)
{
    BNN_TRY(check_pair(c));
    return bnn_infer_max_pool(c); /* reads input 0 and the pooling attributes */
}
