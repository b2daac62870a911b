/* Shape inference for the normalizations that compute their statistics from
 * the data (runtime/kernels/normalize.c): instance_norm, group_norm,
 * mean_variance_norm and lrn.  Each keeps x's shape. */
#include <math.h>

#include "infer_impl.h"

/* x [N, C, ...] (rank >= min_rank), and inputs 1.. of `count` values each
 * (when count >= 0 is known) or of x's channels. */
static bnn_status check_channels(infer_ctx *c, int min_rank, int64_t groups)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    const bnn_shape *x = &infer_input(c, 0)->shape;
    if (x->rank >= 0 && x->rank < min_rank)
        return infer_fail(c, "input '%s' has shape %s, expected [N, C, ...] of rank %d or more",
                          infer_name(c, 0), infer_type(c, 0), min_rank);
    int64_t ch = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    for (int k = 1; k < c->node->n_inputs; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        if (s->rank < 0)
            continue;
        bool fits = s->rank == 1 && (!infer_dims_conflict(s->dims[0], ch) ||
                                     (groups > 0 && s->dims[0] == groups));
        if (!fits)
            return infer_fail(c, "input '%s' has shape %s, expected [%lld]%s for input '%s' %s",
                              infer_name(c, k), infer_type(c, k), (long long)ch,
                              groups > 0 ? " or [num_groups]" : "", infer_name(c, 0),
                              infer_type(c, 0));
    }
    return infer_unary(c, TYPES_F32);
}

static bnn_status check_epsilon(infer_ctx *c)
{
    float eps = bnn_node_attr_float(c->node, "epsilon");
    if (!(eps >= 0))
        return infer_fail(c, "attribute 'epsilon' is %g, expected a number >= 0", (double)eps);
    return BNN_OK;
}

bnn_status bnn_infer_instance_norm(infer_ctx *c)
{
    BNN_TRY(check_epsilon(c));
    return check_channels(c, 3, 0);
}

bnn_status bnn_infer_group_norm(infer_ctx *c)
{
    BNN_TRY(check_epsilon(c));
    if (!bnn_node_attr(c->node, "num_groups"))
        return infer_fail(c, "attribute 'num_groups' is required");
    int64_t g = bnn_node_int(c->node, "num_groups", 0);
    const bnn_shape *x = &infer_input(c, 0)->shape;
    if (g < 1 || g > ATTR_MAX)
        return infer_fail(c, "attribute 'num_groups' is %lld, expected 1 or more", (long long)g);
    if (x->rank >= 2 && x->dims[1] >= 0 && x->dims[1] % g != 0)
        return infer_fail(c, "input '%s' %s has %lld channels, not a multiple of num_groups %lld",
                          infer_name(c, 0), infer_type(c, 0), (long long)x->dims[1], (long long)g);
    return check_channels(c, 2, g);
}

bnn_status bnn_infer_mean_variance_norm(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    if (!bnn_node_attr(c->node, "axes") && x->rank >= 0 && x->rank < 4)
        return infer_fail(c, "input '%s' %s has rank %d: the default axes [0, 2, 3] need rank 4 or "
                          "more", infer_name(c, 0), infer_type(c, 0), x->rank);
    bool seen[BNN_MAX_RANK] = {false};
    for (int i = 0; i < n && x->rank >= 0; i++) {
        int a;
        if (!infer_norm_axis(axes[i], x->rank, &a) || seen[a])
            return infer_fail(c, "attribute 'axes' has %lld, out of range or repeated for rank %d",
                              (long long)axes[i], x->rank);
        seen[a] = true;
    }
    return infer_unary(c, TYPES_F32);
}

bnn_status bnn_infer_lrn(infer_ctx *c)
{
    if (!bnn_node_attr(c->node, "size"))
        return infer_fail(c, "attribute 'size' is required");
    int64_t size = bnn_node_int(c->node, "size", 0);
    if (size < 1 || size > ATTR_MAX)
        return infer_fail(c, "attribute 'size' is %lld, expected 1 or more", (long long)size);
    float bias = bnn_node_attr_float(c->node, "bias"), alpha = bnn_node_attr_float(c->node, "alpha"),
          beta = bnn_node_attr_float(c->node, "beta");
    if (!isfinite(bias) || !isfinite(alpha) || !isfinite(beta))
        return infer_fail(c, "attributes 'alpha', 'beta' and 'bias' must be finite");
    const bnn_shape *x = &infer_input(c, 0)->shape;
    if (x->rank >= 0 && x->rank < 3)
        return infer_fail(c, "input '%s' has shape %s, expected [N, C, D1, ...]", infer_name(c, 0),
                          infer_type(c, 0));
    return infer_unary(c, TYPES_F32);
}
