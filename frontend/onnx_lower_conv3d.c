/* Conv and ConvTranspose with three spatial dims (video and volume models:
 * torchvision's r3d_18, 3-D U-Nets), lowered onto the 2-D ops so that their
 * kernels, backward, Bayesian conversion and export serve them unchanged,
 * and so that the batch stays the batch (a freed batch of 1 stays free).
 *
 * The depth window becomes channels and the depths become a tall image: for
 * a Conv of x [N, C, D, H, W] with w [M, C/g, KD, KH, KW], output depth t
 * reads input depths t sd + kd dd - pd0 (kd < KD), so
 *
 *   xp = Pad(x): the depth pads, and the height pads, the bottom one grown
 *        so that a padded plane is B rows, a multiple of the row stride
 *                                                      [N, C, Dp, B, W]
 *   s_kd = xp's depths kd dd, kd dd + sd, ... (OD of them), side by side
 *                                                      [N, C, KD OD, B, W]
 *   Reshape: channels (c, kd), rows (t, b)             [N, C KD, OD B, W]
 *   2-D conv, w read as [M, C/g KD, KH, KW] (the same floats: C and KD are
 *        adjacent in its layout; a group's channels stay one block), row
 *        stride sh, no top pad, a bottom pad that makes OD B / sh rows
 *                                                      [N, M, OD B/sh, OW]
 *   Reshape, Slice of each plane's first OH rows       [N, M, OD, OH, OW]
 *
 * A plane's OH valid rows read only its own B rows; the rows between planes
 * (about (KH - 1) dh / sh of them) are computed and dropped.  Steps that
 * do nothing are left out.  C, D, H and W must be known when the model is
 * read; N may be a symbol.  ConvTranspose's chain is described above
 * onnx_lower_conv_transpose3d. */
#include <stdio.h>

#include "onnx_impl.h"

/* Sizes, strides, dilations and pads up to 2^31, so that the products the
 * lowering forms (depth times stride, tap times dilation) fit in 64 bits. */
static bnn_status check_sizes(onnx_ctx *c, const int64_t *dims, int n, const int64_t *strides,
                              const int64_t *dilations, const int64_t *pads, int nsp)
{
    const int64_t cap = (int64_t)1 << 31;
    for (int i = 0; i < n; i++)
        if (dims[i] > cap)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a size of %lld is too large",
                                  (long long)dims[i]);
    for (int i = 0; i < nsp; i++)
        if (strides[i] > cap || dilations[i] > cap || pads[i] > cap || pads[nsp + i] > cap ||
            pads[i] < -cap)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a stride, dilation or pad above 2^31");
    return BNN_OK;
}

/* One node of op over a single input with one ints attribute; the ONNX
 * node's output when last. */
static bnn_status unary_ints_last(onnx_ctx *c, bnn_op op, int x, const char *attr,
                                  const int64_t *v, int n, bool last, const char *tag, int *out)
{
    int nid = -1;
    BNN_TRY(onnx_emit_step(c, op, &x, 1, last, tag, out, &nid));
    BNN_TRY(onnx_set_ints(c, nid, attr, v, n));
    if (op == BNN_OP_PAD) {
        BNN_TRY(onnx_set_string(c, nid, "mode", "constant"));
        BNN_TRY(onnx_set_float(c, nid, "value", 0.0f));
    }
    return onnx_infer(c, nid);
}

static bnn_status unary_ints(onnx_ctx *c, bnn_op op, int x, const char *attr, const int64_t *v,
                             int n, const char *tag, int *out)
{
    return unary_ints_last(c, op, x, attr, v, n, false, tag, out);
}

/* x's elements lo, lo + step, ... below hi along axis; the ONNX node's output
 * when last. */
static bnn_status slice_step(onnx_ctx *c, int x, int64_t axis, int64_t lo, int64_t hi,
                             int64_t step, bool last, const char *tag, int *out)
{
    int nid = -1;
    BNN_TRY(onnx_emit_step(c, BNN_OP_SLICE, &x, 1, last, tag, out, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "starts", &lo, 1));
    BNN_TRY(onnx_set_ints(c, nid, "ends", &hi, 1));
    BNN_TRY(onnx_set_ints(c, nid, "axes", &axis, 1));
    BNN_TRY(onnx_set_ints(c, nid, "steps", &step, 1));
    return onnx_infer(c, nid);
}

static bnn_status slice_axis(onnx_ctx *c, int x, int64_t axis, int64_t lo, int64_t hi,
                             const char *tag, int *out)
{
    return slice_step(c, x, axis, lo, hi, 1, false, tag, out);
}

/* x with `before` zeros in front of axis `axis` (of rank dims) and its length
 * then made `len`: zeros appended, or the tail cut. */
static bnn_status place_axis(onnx_ctx *c, int x, int rank, int axis, int64_t have, int64_t before,
                             int64_t len, const char *tag, int *out)
{
    int64_t after = len - before - have;
    *out = x;
    if (before > 0 || after > 0) {
        int64_t pads[2 * BNN_MAX_RANK] = { 0 };
        pads[axis] = before > 0 ? before : 0;
        pads[rank + axis] = after > 0 ? after : 0;
        BNN_TRY(unary_ints(c, BNN_OP_PAD, x, "pads", pads, 2 * rank, tag, out));
    }
    if (before < 0 || after < 0) {
        int64_t start = before < 0 ? -before : 0;
        BNN_TRY(slice_axis(c, *out, axis, start, start + len, tag, out));
    }
    return BNN_OK;
}

/* The weight as the 2-D op's, dims (rank 4, the same floats): an
 * initializer used only here is reshaped in place; otherwise a reshape
 * copies its first dim (a weight fed as a graph input keeps its own, a freed
 * batch included). */
static bnn_status weight_2d(onnx_ctx *c, int wid, const int64_t *dims, int *out)
{
    *out = wid;
    if (onnx_is_param(c, wid) && onnx_param_sole_use(c, wid, c->node->input[1])) {
        bnn_shape s = onnx_val(c, wid)->shape;
        s.rank = 4;
        for (int i = 0; i < 4; i++)
            s.dims[i] = dims[i];
        bnn_graph_value(c->g, wid)->shape = s;
        return BNN_OK;
    }
    const int64_t copied[] = { 0, dims[1], dims[2], dims[3] };
    return unary_ints(c, BNN_OP_RESHAPE, wid, "shape", copied, 4, "weight_2d", out);
}

bnn_status onnx_lower_conv3d(onnx_ctx *c)
{
    int x, wid, nid = -1;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_need_input(c, 1, &wid));
    int bias = onnx_input(c, 2);
    const bnn_shape xs = onnx_val(c, x)->shape, ws = onnx_val(c, wid)->shape;
    char xt[160], wt[160];
    bnn_type_text(c->g, onnx_val(c, x)->dtype, &xs, xt, sizeof xt);
    bnn_type_text(c->g, onnx_val(c, wid)->dtype, &ws, wt, sizeof wt);
    /* the weight's first dim (M) may be a symbol in a weight fed as a graph
     * input (a freed batch): nothing below needs its value */
    bool w_known = ws.rank == 5;
    for (int i = 1; i < ws.rank; i++)
        w_known = w_known && bnn_dim_is_known(ws.dims[i]);
    if (!w_known)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "a 3-D convolution needs its weight's shape known when the model is read");
    if (xs.rank != 5)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "input '%s' has rank %d, a 3-D convolution takes 5",
                              c->node->input[0], xs.rank);
    for (int i = 1; i < 5; i++)
        if (!bnn_dim_is_known(xs.dims[i]))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                  "a 3-D convolution needs its input's channels, depth, height and "
                                  "width known when the model is read (input '%s' is %s)",
                                  c->node->input[0], xt);
    onnx_window w = { .nsp = 3 };
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    for (int i = 0; i < 3; i++) {
        w.kernel[i] = ws.dims[2 + i];
        if (nks >= 0 && (nks != 3 || ks[i] != w.kernel[i]))
            return onnx_node_fail(c, BNN_ERR_SHAPE, "kernel_shape does not match the weight's shape");
    }
    int64_t group;
    BNN_TRY(onnx_attr_int(c, "group", 1, &group));
    int64_t C = xs.dims[1], D = xs.dims[2], H = xs.dims[3], W = xs.dims[4], M = ws.dims[0];
    if (group < 1 || C % group != 0 || (bnn_dim_is_known(M) && M % group != 0) ||
        ws.dims[1] != C / group)
        return onnx_node_fail(c, BNN_ERR_SHAPE,
                              "weight %s does not fit input %s with group %lld",
                              wt, xt, (long long)group);
    BNN_TRY(onnx_read_window(c, x, &w, true));
    BNN_TRY(check_sizes(c, xs.dims + 1, 4, w.strides, w.dilations, w.pads, 3));
    BNN_TRY(check_sizes(c, ws.dims + 1, 4, NULL, NULL, NULL, 0));
    int64_t KD = w.kernel[0], KH = w.kernel[1], sd = w.strides[0], sh = w.strides[1];
    int64_t dd = w.dilations[0], dh = w.dilations[1];
    int64_t pd0 = w.pads[0], pd1 = w.pads[3], ph0 = w.pads[1], ph1 = w.pads[4];
    int64_t Dp = D + pd0 + pd1, span = (KD - 1) * dd + 1;
    int64_t Hp = H + ph0 + ph1, span_h = (KH - 1) * dh + 1;
    if (Dp < span || Hp < span_h)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the window (%lld deep, %lld high) is larger than "
                              "the padded input (%lld, %lld)", (long long)span, (long long)span_h,
                              (long long)Dp, (long long)Hp);
    if (KD > 64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a depth window of %lld (at most 64)",
                              (long long)KD);
    int64_t OD = (Dp - span) / sd + 1, OH = (Hp - span_h) / sh + 1;
    int64_t B = (Hp + sh - 1) / sh * sh; /* a padded plane's rows, a multiple of sh */

    /* the depth and height pads */
    int xp = x;
    if (pd0 > 0 || pd1 > 0 || ph0 > 0 || B - H - ph0 > 0) {
        int64_t pads[10] = { 0 };
        pads[2] = pd0, pads[3] = ph0, pads[7] = pd1, pads[8] = B - H - ph0;
        BNN_TRY(unary_ints(c, BNN_OP_PAD, x, "pads", pads, 10, "pad", &xp));
    }
    /* the KD depth slices, side by side on the depth axis */
    int stacked = xp;
    if (!(KD == 1 && sd == 1 && OD == Dp)) {
        int parts[64];
        for (int64_t kd = 0; kd < KD; kd++)
            BNN_TRY(slice_step(c, xp, 2, kd * dd, kd * dd + (OD - 1) * sd + 1, sd, false,
                               "depth_slice", &parts[kd]));
        if (KD > 1) {
            BNN_TRY(onnx_emit_step(c, BNN_OP_CONCAT, parts, (int)KD, false, "depth_windows", &stacked, &nid));
            BNN_TRY(onnx_set_int(c, nid, "axis", 2));
            BNN_TRY(onnx_infer(c, nid));
        } else {
            stacked = parts[0];
        }
    }
    int v;
    const int64_t tall[] = { 0, C * KD, OD * B, W };
    BNN_TRY(unary_ints(c, BNN_OP_RESHAPE, stacked, "shape", tall, 4, "tall", &v));

    /* the weight as [M, C/g KD, KH, KW]: the same floats */
    const int64_t wd[] = { M, ws.dims[1] * KD, ws.dims[3], ws.dims[4] };
    int w2;
    BNN_TRY(weight_2d(c, wid, wd, &w2));
    int in[3] = { v, w2, bias };
    int y2;
    BNN_TRY(onnx_emit_step(c, BNN_OP_CONV, in, bias >= 0 ? 3 : 2, false, "conv2d", &y2, &nid));
    onnx_window w2d = { .nsp = 2 };
    for (int i = 0; i < 2; i++) {
        w2d.kernel[i] = w.kernel[1 + i];
        w2d.strides[i] = w.strides[1 + i];
        w2d.dilations[i] = w.dilations[1 + i];
    }
    /* no top pad (it is in the planes); at the bottom, enough for OD B / sh rows */
    w2d.pads[0] = 0, w2d.pads[2] = span_h - 1;
    w2d.pads[1] = w.pads[2], w2d.pads[3] = w.pads[5];
    BNN_TRY(onnx_set_window(c, nid, &w2d, false));
    BNN_TRY(onnx_set_int(c, nid, "group", group));
    BNN_TRY(onnx_infer(c, nid));
    const bnn_shape ys = onnx_val(c, y2)->shape;
    if (ys.rank != 4 || ys.dims[2] != OD * B / sh)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the 2-D convolution's output is not %lld rows",
                              (long long)(OD * B / sh));
    bool cut = B / sh != OH;
    const int64_t planes[] = { 0, 0, OD, B / sh, ys.dims[3] }; /* N and M copied */
    BNN_TRY(unary_ints_last(c, BNN_OP_RESHAPE, y2, "shape", planes, 5, !cut, "planes", &v));
    if (!cut)
        return BNN_OK;
    int out;
    return slice_step(c, v, 3, 0, OH, 1, true, NULL, &out);
}

/* ConvTranspose over volumes: x [N, C, D, H, W], weight [C, M/g, KD, KH, KW].
 * Input depth i adds its 2-D transposed convolution with the weight's depth
 * slice kd at full-output depth i sd + kd dd.  The depths become a tall
 * image, each plane followed by G zero rows so that a plane's transposed
 * rows (F of them) never reach the next one's: one 2-D ConvTranspose with
 * the weight read as [C, M/g KD, KH, KW] (output channel m KD + kd), no
 * height pads, computes every (depth, tap) pair at once as [N, M KD, D R, OW]
 * (R = (H + G) sh rows a plane); each plane's rows are cut to the height
 * pads; each tap's [N, M, D, OH, OW] is spread over the depth stride (zeros
 * between), shifted by kd dd and the KD of them summed; the depth pads are
 * cut (a negative begin pad adds zeros in front), and the bias is added
 * last, channels-last, where fine-tuning trains it as PyTorch does (the 2-D
 * op would add it KD times). */
bnn_status onnx_lower_conv_transpose3d(onnx_ctx *c, const onnx_ct_window *win)
{
    int x, wid, nid = -1, v;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_need_input(c, 1, &wid));
    int bias = onnx_input(c, 2);
    const bnn_shape xs = onnx_val(c, x)->shape, ws = onnx_val(c, wid)->shape;
    char xt[160], wt[160];
    bnn_type_text(c->g, onnx_val(c, x)->dtype, &xs, xt, sizeof xt);
    bnn_type_text(c->g, onnx_val(c, wid)->dtype, &ws, wt, sizeof wt);
    /* the weight's first dim is C: a weight fed as a graph input may carry a
     * symbol there (a freed batch), C comes from x */
    bool known = ws.rank == 5 && xs.rank == 5;
    for (int i = 1; known && i < 5; i++)
        known = bnn_dim_is_known(ws.dims[i]) && bnn_dim_is_known(xs.dims[i]);
    if (!known)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "a 3-D ConvTranspose needs its weight's shape and its input's "
                              "channels, depth, height and width known when the model is read "
                              "(input '%s' is %s, weight %s)", c->node->input[0], xt, wt);
    int64_t g = win->group, C = xs.dims[1], D = xs.dims[2], H = xs.dims[3], W = xs.dims[4];
    int64_t Mg = ws.dims[1], M = Mg * g, KD = ws.dims[2], KH = ws.dims[3];
    if ((bnn_dim_is_known(ws.dims[0]) && ws.dims[0] != C) || C % g != 0)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "weight %s does not fit input %s with group %lld",
                              wt, xt, (long long)g);
    BNN_TRY(check_sizes(c, xs.dims + 1, 4, win->strides, win->dilations, win->pads, 3));
    BNN_TRY(check_sizes(c, ws.dims + 1, 4, NULL, NULL, NULL, 0));
    int64_t sd = win->strides[0], dd = win->dilations[0], pd0 = win->pads[0], pd1 = win->pads[3];
    int64_t sh = win->strides[1], dh = win->dilations[1], ph0 = win->pads[1], ph1 = win->pads[4];
    int64_t full = (D - 1) * sd + (KD - 1) * dd + 1 + win->output_padding[0];
    int64_t OD = full - pd0 - pd1;
    int64_t F = (H - 1) * sh + (KH - 1) * dh + 1; /* a plane's transposed rows */
    int64_t OH = F + win->output_padding[1] - ph0 - ph1;
    if (OD < 1 || OH < 1)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the output would be %lld deep and %lld high",
                              (long long)OD, (long long)OH);
    if (KD > 64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a depth window of %lld (at most 64)",
                              (long long)KD);
    int64_t G = F > H * sh ? (F - H * sh + sh - 1) / sh : 0, R = (H + G) * sh;

    /* the tall image: each plane and G zero rows */
    int tall = x;
    if (G > 0) {
        int64_t pads[10] = { 0 };
        pads[8] = G;
        BNN_TRY(unary_ints(c, BNN_OP_PAD, x, "pads", pads, 10, "plane_gap", &tall));
    }
    const int64_t in2d[] = { 0, C, D * (H + G), W };
    BNN_TRY(unary_ints(c, BNN_OP_RESHAPE, tall, "shape", in2d, 4, "tall", &v));
    const int64_t wd[] = { C, Mg * KD, ws.dims[3], ws.dims[4] };
    int w2;
    BNN_TRY(weight_2d(c, wid, wd, &w2));
    int in[2] = { v, w2 }, z;
    BNN_TRY(onnx_emit_step(c, BNN_OP_CONV_TRANSPOSE, in, 2, false, "conv_transpose2d", &z, &nid));
    onnx_ct_window w2d = { .nsp = 2, .group = g };
    for (int i = 0; i < 2; i++) {
        w2d.strides[i] = win->strides[1 + i];
        w2d.dilations[i] = win->dilations[1 + i];
    }
    w2d.output_padding[1] = win->output_padding[2]; /* the rows' is applied per plane below */
    w2d.pads[1] = win->pads[2], w2d.pads[3] = win->pads[5];
    BNN_TRY(onnx_set_conv_transpose_window(c, nid, &w2d));
    BNN_TRY(onnx_infer(c, nid));
    const bnn_shape zs = onnx_val(c, z)->shape;
    if (zs.rank != 4)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the 2-D ConvTranspose's output has rank %d",
                              zs.rank);
    int64_t OW = zs.dims[3];
    /* D planes of R rows: the last one's tail holds only the gap's zeros */
    BNN_TRY(place_axis(c, z, 4, 2, zs.dims[2], 0, D * R, "planes_even", &v));
    const int64_t six[] = { 0, M, KD, D, R, OW };
    BNN_TRY(unary_ints(c, BNN_OP_RESHAPE, v, "shape", six, 6, "planes", &v));
    BNN_TRY(place_axis(c, v, 6, 4, R, -ph0, OH, "rows_crop", &v));
    int sum = -1;
    for (int64_t kd = 0; kd < KD; kd++) {
        int part;
        BNN_TRY(slice_axis(c, v, 2, kd, kd + 1, "window", &part));
        /* [N, M, 1, D, OH, OW] -> [N, M, D, 1, OH, OW], zeros to [N, M, D sd, OH, OW] */
        const int64_t spread[] = { 0, M, D, 1, OH, OW };
        BNN_TRY(unary_ints(c, BNN_OP_RESHAPE, part, "shape", spread, 6, "window_spread", &part));
        if (sd > 1) {
            int64_t pads[12] = { 0 };
            pads[6 + 3] = sd - 1;
            BNN_TRY(unary_ints(c, BNN_OP_PAD, part, "pads", pads, 12, "depth_stride", &part));
        }
        const int64_t strided[] = { 0, M, D * sd, OH, OW };
        BNN_TRY(unary_ints(c, BNN_OP_RESHAPE, part, "shape", strided, 5, "depth_strided", &part));
        BNN_TRY(place_axis(c, part, 5, 2, D * sd, kd * dd, full, "depth_place", &part));
        if (sum < 0) {
            sum = part;
        } else {
            int ab[2] = { sum, part };
            BNN_TRY(onnx_emit_step(c, BNN_OP_ADD, ab, 2, false, "depth_sum", &sum, &nid));
            BNN_TRY(onnx_infer(c, nid));
        }
    }
    /* the depth pads cut (a negative begin pad adds zeros in front) */
    BNN_TRY(place_axis(c, sum, 5, 2, full, -pd0, OD, "depth_crop", &v));
    if (bias < 0) { /* the crop's result is the output: name it so */
        const int64_t same[] = { 0, M, OD, OH, OW };
        return unary_ints_last(c, BNN_OP_RESHAPE, v, "shape", same, 5, true, NULL, &v);
    }
    /* the bias added channels-last, where it is a per-feature vector that
     * fine-tuning trains (train.c's learned operands), then channels back */
    const bnn_shape bs = onnx_val(c, bias)->shape;
    if (bs.rank != 1 || bs.dims[0] != M)
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the bias has rank %d, expected [%lld]", bs.rank,
                              (long long)M);
    const int64_t last_c[] = { 0, 2, 3, 4, 1 }, first_c[] = { 0, 4, 1, 2, 3 };
    BNN_TRY(unary_ints(c, BNN_OP_TRANSPOSE, v, "perm", last_c, 5, "channels_last", &v));
    int ab[2] = { v, bias }, biased;
    BNN_TRY(onnx_emit_step(c, BNN_OP_ADD, ab, 2, false, "bias", &biased, &nid));
    BNN_TRY(onnx_infer(c, nid));
    return unary_ints_last(c, BNN_OP_TRANSPOSE, biased, "perm", first_c, 5, true, NULL, &v);
}
