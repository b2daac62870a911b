/* Shape inference for conv (runtime/kernels/conv.c), and the sliding-window
 * arithmetic it shares with pooling (infer_pool.c) and with the Bayesian conv
 * layer (infer_bayes.c).  Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

/* ---- sliding windows ------------------------------------------------------ */

/* Output size of a window along one dim: floor((in + pb + pe - dil*(k-1) - 1)
 * / stride) + 1, or with ceil_mode the ceiling, dropping a last window that
 * would start in the end padding (ONNX, as PyTorch).  Attributes are bounded by
 * ATTR_MAX, so nothing below overflows for dims < 2^61.  False when the window
 * is bigger than the padded input. */
static bool window_out(int64_t in_dim, int64_t k, int64_t stride, int64_t dil, int64_t pb,
                       int64_t pe, bool ceil_mode, int64_t *out)
{
    *out = BNN_DIM_UNKNOWN;
    if (in_dim < 0 || k < 0 || in_dim > ((int64_t)1 << 61) || k > ATTR_MAX)
        return true;
    int64_t span = in_dim + pb + pe - dil * (k - 1) - 1;
    if (span < 0)
        return false;
    int64_t n = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
    if (ceil_mode && (n - 1) * stride >= in_dim + pb)
        n--;
    *out = n;
    return true;
}

/* The output dims of the spatial part, into c->out.dims[2..]. kernel from
 * the weight or the kernel_shape attribute. */
bnn_status infer_windows(infer_ctx *c, int spatial, const int64_t *kernel, bool ceil_mode,
                          const char *what)
{
    int64_t strides[3], dil[3], pads[6];
    BNN_TRY(infer_ints_attr(c, "strides", spatial, 1, 1, ATTR_MAX, strides));
    BNN_TRY(infer_ints_attr(c, "dilations", spatial, 1, 1, ATTR_MAX, dil));
    BNN_TRY(infer_ints_attr(c, "pads", 2 * spatial, 0, 0, ATTR_MAX, pads));
    const bnn_shape *x = &infer_input(c, 0)->shape;
    for (int i = 0; i < spatial; i++) {
        int64_t d = x->rank >= 0 ? x->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (!window_out(d, kernel[i], strides[i], dil[i], pads[i], pads[spatial + i], ceil_mode,
                        &c->out.dims[2 + i]))
            return infer_fail(c,
                              "%s %lld (dilation %lld) is bigger than spatial dim %d of input '%s' "
                              "%s with pads %lld and %lld",
                              what, (long long)kernel[i], (long long)dil[i], i, infer_name(c, 0),
                              infer_type(c, 0), (long long)pads[i], (long long)pads[spatial + i]);
    }
    return BNN_OK;
}

/* Convolution: x [N, C, S...], w [M, C/group, k...], b [M]. spatial is the
 * op's count of spatial dims, 0 to take it from the operands. */
bnn_status infer_conv_like(infer_ctx *c, int spatial, int w, int b)
{
    const bnn_shape *x = &infer_input(c, 0)->shape, *ws = &infer_input(c, w)->shape;
    if (spatial == 0) {
        int r = x->rank >= 0 ? x->rank : ws->rank;
        if (r < 0) {
            c->out_dtype = infer_first_dtype(c);
            c->out = infer_unknown_shape;
            return BNN_OK;
        }
        spatial = r - 2;
        if (spatial < 1 || spatial > 3)
            return infer_fail(c, "input '%s' has shape %s, expected 3-D to 5-D",
                              infer_name(c, r == x->rank ? 0 : w),
                              infer_type(c, r == x->rank ? 0 : w));
    }
    for (int k = 0; k < 2; k++) {
        int idx = k ? w : 0;
        int rank = infer_input(c, idx)->shape.rank;
        if (rank >= 0 && rank != spatial + 2)
            return infer_fail(c, "%s '%s' has shape %s, expected %d-D", k ? "weight" : "input",
                              infer_name(c, idx), infer_type(c, idx), spatial + 2);
    }
    int64_t group = bnn_node_int(c->node, "group", 1);
    if (group < 1 || group > ATTR_MAX)
        return infer_fail(c, "attribute 'group' is %lld, expected >= 1", (long long)group);
    int64_t m = ws->rank >= 0 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t cw = ws->rank >= 0 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    int64_t cx = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    int64_t expect;
    if (cx >= 0 && cw >= 0 && (__builtin_mul_overflow(cw, group, &expect) || cx != expect))
        return infer_fail(c,
                          "input '%s' has shape %s (%lld channels), weight '%s' %s with group %lld "
                          "expects %lld per group",
                          infer_name(c, 0), infer_type(c, 0), (long long)cx, infer_name(c, w),
                          infer_type(c, w), (long long)group, (long long)cw);
    if (m >= 0 && m % group != 0)
        return infer_fail(c,
                          "weight '%s' %s has %lld output channels, not a multiple of group %lld",
                          infer_name(c, w), infer_type(c, w), (long long)m, (long long)group);
    if (infer_input(c, b)) {
        const bnn_shape *bs = &infer_input(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || infer_dims_conflict(bs->dims[0], m)))
            return infer_fail(c, "bias '%s' has shape %s, weight '%s' %s expects [%lld]",
                              infer_name(c, b), infer_type(c, b), infer_name(c, w),
                              infer_type(c, w), (long long)m);
        if (bs->rank == 1)
            m = infer_dim_meet(m, bs->dims[0]);
    }
    int64_t kernel[3];
    for (int i = 0; i < spatial; i++) {
        kernel[i] = ws->rank >= 0 ? ws->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (kernel[i] == 0)
            return infer_fail(c, "weight '%s' %s has an empty kernel", infer_name(c, w),
                              infer_type(c, w));
    }
    c->out_dtype = infer_first_dtype(c);
    c->out.rank = 2 + spatial;
    c->out.dims[0] = x->rank >= 0 ? x->dims[0] : BNN_DIM_UNKNOWN;
    c->out.dims[1] = m;
    return infer_windows(c, spatial, kernel, false, "kernel");
}

bnn_status bnn_infer_conv(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    /* 1-D or 2-D, from the operands (the kernel has no 3-D form) */
    int r = infer_input(c, 0)->shape.rank;
    if (r < 0)
        r = infer_input(c, 1)->shape.rank;
    if (r >= 0 && r != 3 && r != 4)
        return infer_fail(c, "input '%s' has shape %s, expected 3-D or 4-D (1-D or 2-D convolution)",
                          infer_name(c, 0), infer_type(c, 0));
    return infer_conv_like(c, 0, 1, 2);
}
