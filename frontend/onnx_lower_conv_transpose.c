/* ONNX ConvTranspose (opsets 1-17) -> the IR's conv_transpose; its
 * attributes are read the same way for ai.bnnc ConvTransposeReparam
 * (onnx_lower_bayes.c).
 *
 * The IR keeps only explicit attributes: auto_pad and output_shape are
 * resolved here into pads and output_padding, from the input's spatial dims
 * (which must then be known).  Registered in the table of onnx_lower.c. */
#include <string.h>

#include "onnx_impl.h"

/* floor(a / 2) for any sign: the ONNX reference computes total_padding // 2
 * in Python, and output_shape may make the total negative. */
static int64_t floor_half(int64_t a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

static bnn_status read_ints(onnx_ctx *c, const char *name, int want, int64_t fill, int64_t lo,
                            int64_t *out, bool *present)
{
    const int64_t *v;
    int n;
    BNN_TRY(onnx_attr_ints(c, name, &v, &n));
    if (present)
        *present = n >= 0;
    if (n < 0) {
        for (int i = 0; i < want; i++)
            out[i] = fill;
        return BNN_OK;
    }
    if (n != want)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %d values, expected %d",
                              name, n, want);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > ((int64_t)1 << 31))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has an invalid value %lld",
                                  name, (long long)v[i]);
        out[i] = v[i];
    }
    return BNN_OK;
}

bnn_status onnx_conv_transpose_window(onnx_ctx *c, int x, int w, onnx_ct_window *win)
{
    const bnn_shape *xs = &onnx_val(c, x)->shape, *ws = &onnx_val(c, w)->shape;
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    int rank = ws->rank >= 0 ? ws->rank : xs->rank >= 0 ? xs->rank : nks >= 0 ? nks + 2 : -1;
    if (rank < 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the weight's rank is unknown");
    if (rank < 3 || rank > 5)
        return onnx_node_fail(c, BNN_ERR_INVALID, "weight has rank %d, expected 3 to 5", rank);
    int sp = rank - 2;
    int64_t *kernel = win->kernel;
    for (int i = 0; i < sp; i++) {
        kernel[i] = ws->rank >= 0 ? ws->dims[2 + i] : BNN_DIM_UNKNOWN;
        if (nks >= 0 && (nks != sp || (bnn_dim_is_known(kernel[i]) && ks[i] != kernel[i])))
            return onnx_node_fail(c, BNN_ERR_SHAPE, "kernel_shape does not match the weight's shape");
        if (nks >= 0)
            kernel[i] = ks[i];
    }
    int64_t group;
    BNN_TRY(onnx_attr_int(c, "group", 1, &group));
    if (group < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "group %lld is not positive", (long long)group);
    int64_t *strides = win->strides, *dil = win->dilations, *pads = win->pads;
    int64_t *opad = win->output_padding;
    win->nsp = sp;
    win->group = group;
    bool have_pads;
    BNN_TRY(read_ints(c, "strides", sp, 1, 1, strides, NULL));
    BNN_TRY(read_ints(c, "dilations", sp, 1, 1, dil, NULL));
    BNN_TRY(read_ints(c, "pads", 2 * sp, 0, 0, pads, &have_pads));
    BNN_TRY(read_ints(c, "output_padding", sp, 0, 0, opad, NULL));
    const char *auto_pad;
    BNN_TRY(onnx_attr_string(c, "auto_pad", "NOTSET", &auto_pad));
    bool upper = strcmp(auto_pad, "SAME_UPPER") == 0, same = upper || strcmp(auto_pad, "SAME_LOWER") == 0;
    if (!same && strcmp(auto_pad, "NOTSET") != 0 && strcmp(auto_pad, "VALID") != 0)
        return onnx_node_fail(c, BNN_ERR_INVALID,
                              "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                              auto_pad);
    if (have_pads && strcmp(auto_pad, "NOTSET") != 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attributes 'pads' and auto_pad=%s together",
                              auto_pad);
    if (strcmp(auto_pad, "VALID") == 0)
        for (int i = 0; i < 2 * sp; i++)
            pads[i] = 0;
    /* output_shape lists the spatial dims (some exporters write all of them) */
    const int64_t *oshape;
    int nos;
    BNN_TRY(onnx_attr_ints(c, "output_shape", &oshape, &nos));
    if (nos >= 0) {
        if (nos == sp + 2)
            oshape += 2;
        else if (nos != sp)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'output_shape' has %d values, expected %d",
                                  nos, sp);
    }
    if (nos >= 0 || same) {
        const char *why = nos >= 0 ? "output_shape" : upper ? "auto_pad=SAME_UPPER" : "auto_pad=SAME_LOWER";
        if (xs->rank != rank)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "%s needs the input's rank to be known", why);
        for (int i = 0; i < sp; i++) {
            int64_t xin = xs->dims[2 + i];
            if (!bnn_dim_is_known(xin) || !bnn_dim_is_known(kernel[i]))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                      "%s needs known spatial dims and kernel size", why);
            if (xin > ((int64_t)1 << 31) || kernel[i] > ((int64_t)1 << 31))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "spatial dim %d is too large", i);
            int64_t target = nos >= 0 ? oshape[i] : xin * strides[i];
            if (target < 1 || target > ((int64_t)1 << 40))
                return onnx_node_fail(c, BNN_ERR_INVALID, "output size %lld along spatial dim %d is invalid",
                                      (long long)target, i);
            int64_t total = strides[i] * (xin - 1) + opad[i] + (kernel[i] - 1) * dil[i] + 1 - target;
            /* the spec's split; SAME_UPPER puts the larger half at the end */
            int64_t begin = upper ? floor_half(total) : total - floor_half(total);
            pads[i] = begin;
            pads[sp + i] = total - begin;
        }
    }
    /* a negative end pad is output_padding: only the begin pad stays signed */
    for (int i = 0; i < sp; i++)
        if (pads[sp + i] < 0) {
            opad[i] -= pads[sp + i];
            pads[sp + i] = 0;
        }
    return BNN_OK;
}

bnn_status onnx_set_conv_transpose_window(onnx_ctx *c, int nid, const onnx_ct_window *w)
{
    BNN_TRY(onnx_set_ints(c, nid, "strides", w->strides, w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "pads", w->pads, 2 * w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "dilations", w->dilations, w->nsp));
    BNN_TRY(onnx_set_int(c, nid, "group", w->group));
    return onnx_set_ints(c, nid, "output_padding", w->output_padding, w->nsp);
}

bnn_status onnx_lower_conv_transpose(onnx_ctx *c)
{
    int in[3], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    in[2] = onnx_input(c, 2);
    onnx_ct_window w;
    BNN_TRY(onnx_conv_transpose_window(c, in[0], in[1], &w));
    if (w.nsp == 3)
        return onnx_lower_conv_transpose3d(c, &w);
    BNN_TRY(onnx_emit_node(c, BNN_OP_CONV_TRANSPOSE, in, in[2] >= 0 ? 3 : 2, &nid));
    BNN_TRY(onnx_set_conv_transpose_window(c, nid, &w));
    return onnx_infer(c, nid);
}
