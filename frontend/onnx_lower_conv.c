/* ONNX op -> IR op for Conv (runtime/kernels/conv.c), and the window
 * attributes (kernel, strides, pads with auto_pad resolved, dilations) it
 * shares with pooling (onnx_lower_pool.c) and the Bayesian conv layer
 * (onnx_lower_bayes.c).  Registered in the table of onnx_lower.c.
 */
#include <string.h>

#include "onnx_impl.h"

static bnn_status read_ints_n(onnx_ctx *c, const char *name, int want, int64_t fill, int64_t *out)
{
    const int64_t *v;
    int n;
    BNN_TRY(onnx_attr_ints(c, name, &v, &n));
    if (n < 0) {
        for (int i = 0; i < want; i++)
            out[i] = fill;
        return BNN_OK;
    }
    if (n != want)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %d values, expected %d", name, n, want);
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || (fill == 1 && v[i] < 1))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has an invalid value %lld", name, (long long)v[i]);
        out[i] = v[i];
    }
    return BNN_OK;
}

/* Reads strides, dilations, pads and auto_pad; SAME_* is resolved into
 * explicit pads from the input's spatial dims. */
bnn_status onnx_read_window(onnx_ctx *c, int x, onnx_window *w, bool dilations)
{
    BNN_TRY(read_ints_n(c, "strides", w->nsp, 1, w->strides));
    if (dilations)
        BNN_TRY(read_ints_n(c, "dilations", w->nsp, 1, w->dilations));
    else
        for (int i = 0; i < w->nsp; i++)
            w->dilations[i] = 1;
    BNN_TRY(read_ints_n(c, "pads", 2 * w->nsp, 0, w->pads));
    const char *auto_pad;
    BNN_TRY(onnx_attr_string(c, "auto_pad", "NOTSET", &auto_pad));
    if (strcmp(auto_pad, "NOTSET") == 0)
        return BNN_OK;
    if (onnx_attr(c, "pads"))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attributes 'pads' and auto_pad=%s together", auto_pad);
    if (strcmp(auto_pad, "VALID") == 0)
        return BNN_OK;
    bool upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    if (!upper && strcmp(auto_pad, "SAME_LOWER") != 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", auto_pad);
    const bnn_shape *s = &onnx_val(c, x)->shape;
    if (s->rank != w->nsp + 2)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs the input's rank to be known", auto_pad);
    for (int i = 0; i < w->nsp; i++) {
        int64_t in = s->dims[2 + i];
        if (w->kernel[i] < 1)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs a known kernel size", auto_pad);
        if (!bnn_dim_is_known(in))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs known spatial dims", auto_pad);
        int64_t out = (in + w->strides[i] - 1) / w->strides[i];
        int64_t need = (out - 1) * w->strides[i] + (w->kernel[i] - 1) * w->dilations[i] + 1 - in;
        if (need < 0)
            need = 0;
        int64_t small = need / 2, big = need - small;
        w->pads[i] = upper ? small : big;
        w->pads[w->nsp + i] = upper ? big : small;
    }
    return BNN_OK;
}

bnn_status onnx_set_window(onnx_ctx *c, int nid, const onnx_window *w, bool kernel)
{
    if (kernel)
        BNN_TRY(onnx_set_ints(c, nid, "kernel_shape", w->kernel, w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "strides", w->strides, w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "pads", w->pads, 2 * w->nsp));
    return onnx_set_ints(c, nid, "dilations", w->dilations, w->nsp);
}

/* The conv attributes shared by Conv and ConvReparam; the weight is input 1. */
bnn_status onnx_conv_window(onnx_ctx *c, int x, int wid, onnx_window *w, int64_t *group)
{
    const bnn_shape *ws = &onnx_val(c, wid)->shape;
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    int rank = ws->rank >= 0 ? ws->rank : nks >= 0 ? nks + 2 : -1;
    if (rank < 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the weight's rank is unknown");
    if (rank == 5)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "%s over 3-D volumes is not supported",
                              onnx_str(c->node->op_type));
    if (rank != 3 && rank != 4)
        return onnx_node_fail(c, BNN_ERR_INVALID, "weight has rank %d, expected 3 or 4", rank);
    w->nsp = rank - 2;
    for (int i = 0; i < w->nsp; i++) {
        w->kernel[i] = ws->rank >= 0 ? ws->dims[2 + i] : ks[i];
        if (nks >= 0 && (nks != w->nsp || (bnn_dim_is_known(w->kernel[i]) && ks[i] != w->kernel[i])))
            return onnx_node_fail(c, BNN_ERR_SHAPE, "kernel_shape does not match the weight's shape");
        if (nks >= 0)
            w->kernel[i] = ks[i];
    }
    BNN_TRY(onnx_attr_int(c, "group", 1, group));
    if (*group < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "group %lld is not positive", (long long)*group);
    return onnx_read_window(c, x, w, true);
}

bnn_status onnx_lower_conv(onnx_ctx *c)
{
    int in[3], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    in[2] = onnx_input(c, 2);
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    if (onnx_val(c, in[1])->shape.rank == 5 || (onnx_val(c, in[1])->shape.rank < 0 && nks == 3))
        return onnx_lower_conv3d(c);
    onnx_window w = { 0 };
    int64_t group;
    BNN_TRY(onnx_conv_window(c, in[0], in[1], &w, &group));
    BNN_TRY(onnx_emit_node(c, BNN_OP_CONV, in, in[2] >= 0 ? 3 : 2, &nid));
    BNN_TRY(onnx_set_window(c, nid, &w, false));
    BNN_TRY(onnx_set_int(c, nid, "group", group));
    return onnx_infer(c, nid);
}
