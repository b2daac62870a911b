/* Shape inference for conv_transpose (ONNX ConvTranspose, 1-D and 2-D).
 *
 * x [N, C, S...], W [C, M/group, k...], b [M]; along each spatial dim
 * out = s*(in-1) + d*(k-1) + 1 + output_padding - pad_begin - pad_end.
 * The importer has already turned auto_pad and output_shape into pads and
 * output_padding, so the attributes alone give the output.  Pads may be
 * negative: output_shape may ask for more than the natural size. */

#include "infer_impl.h"

/* One spatial dim; false when the result overflows or is not positive. */
static bool transpose_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t op, int64_t pb,
                          int64_t pe, int64_t *out)
{
    *out = BNN_DIM_UNKNOWN;
    if (in < 0 || k < 0)
        return true;
    if (in == 0) { /* no input positions: nothing to spread */
        *out = 0;
        return true;
    }
    int64_t full, span;
    if (in > ((int64_t)1 << 40) || __builtin_mul_overflow(s, in - 1, &full) ||
        __builtin_mul_overflow(d, k - 1, &span))
        return false;
    int64_t n = full + span + 1 + op - pb - pe; /* each term < 2^62: no overflow */
    if (n < 1)
        return false;
    *out = n;
    return true;
}

bnn_status bnn_infer_conv_transpose(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    return infer_conv_transpose_like(c, 2);
}

/* x is input 0, the weight input 1, the bias (when present) input b:
 * conv_transpose and bnn.conv_transpose_reparam (infer_bayes.c). */
bnn_status infer_conv_transpose_like(infer_ctx *c, int b)
{
    const bnn_shape *x = &infer_input(c, 0)->shape, *ws = &infer_input(c, 1)->shape;
    int rank = x->rank >= 0 ? x->rank : ws->rank;
    c->out_dtype = infer_first_dtype(c);
    if (rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (rank != 3 && rank != 4)
        return infer_fail(c, "input '%s' has shape %s, expected 3-D or 4-D (1 or 2 spatial dims)",
                          infer_name(c, x->rank >= 0 ? 0 : 1), infer_type(c, x->rank >= 0 ? 0 : 1));
    int spatial = rank - 2;
    if (ws->rank >= 0 && ws->rank != rank)
        return infer_fail(c, "weight '%s' has shape %s, expected %d-D like input '%s' %s",
                          infer_name(c, 1), infer_type(c, 1), rank, infer_name(c, 0),
                          infer_type(c, 0));
    int64_t group = bnn_node_int(c->node, "group", 1);
    if (group < 1 || group > ATTR_MAX)
        return infer_fail(c, "attribute 'group' is %lld, expected >= 1", (long long)group);
    int64_t cx = x->rank >= 0 ? x->dims[1] : BNN_DIM_UNKNOWN;
    int64_t cw = ws->rank >= 0 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t mg = ws->rank >= 0 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    if (infer_dims_conflict(cx, cw))
        return infer_fail(c,
                          "input '%s' has shape %s (%lld channels), weight '%s' %s expects %lld "
                          "([C, M/group, k...])",
                          infer_name(c, 0), infer_type(c, 0), (long long)cx, infer_name(c, 1),
                          infer_type(c, 1), (long long)cw);
    int64_t ch = infer_dim_meet(cx, cw);
    if (ch >= 0 && ch % group != 0)
        return infer_fail(c, "input '%s' %s has %lld channels, not a multiple of group %lld",
                          infer_name(c, 0), infer_type(c, 0), (long long)ch, (long long)group);
    int64_t m = BNN_DIM_UNKNOWN;
    if (mg >= 0 && __builtin_mul_overflow(mg, group, &m))
        return infer_fail(c, "weight '%s' %s with group %lld has too many output channels",
                          infer_name(c, 1), infer_type(c, 1), (long long)group);
    if (infer_input(c, b)) {
        const bnn_shape *bs = &infer_input(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || infer_dims_conflict(bs->dims[0], m)))
            return infer_fail(c, "bias '%s' has shape %s, weight '%s' %s with group %lld expects [%lld]",
                              infer_name(c, b), infer_type(c, b), infer_name(c, 1),
                              infer_type(c, 1), (long long)group, (long long)m);
        if (bs->rank == 1)
            m = infer_dim_meet(m, bs->dims[0]);
    }
    int64_t strides[2], dil[2], pads[4], opad[2];
    BNN_TRY(infer_ints_attr(c, "strides", spatial, 1, 1, ATTR_MAX, strides));
    BNN_TRY(infer_ints_attr(c, "dilations", spatial, 1, 1, ATTR_MAX, dil));
    BNN_TRY(infer_ints_attr(c, "pads", 2 * spatial, 0, -ATTR_MAX, ATTR_MAX, pads));
    BNN_TRY(infer_ints_attr(c, "output_padding", spatial, 0, 0, ATTR_MAX, opad));
    c->out.rank = rank;
    c->out.dims[0] = x->rank >= 0 ? x->dims[0] : BNN_DIM_UNKNOWN;
    c->out.dims[1] = m;
    for (int i = 0; i < spatial; i++) {
        int64_t k = ws->rank >= 0 ? ws->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (k == 0)
            return infer_fail(c, "weight '%s' %s has an empty kernel", infer_name(c, 1),
                              infer_type(c, 1));
        int64_t in = x->rank >= 0 ? x->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (!transpose_out(in, k, strides[i], dil[i], opad[i], pads[i], pads[spatial + i],
                           &c->out.dims[2 + i]))
            return infer_fail(c,
                              "spatial dim %d of input '%s' %s with kernel %lld, stride %lld, "
                              "dilation %lld, output_padding %lld and pads %lld, %lld gives no "
                              "output",
                              i, infer_name(c, 0), infer_type(c, 0), (long long)k,
                              (long long)strides[i], (long long)dil[i], (long long)opad[i],
                              (long long)pads[i], (long long)pads[spatial + i]);
    }
    return BNN_OK;
}
