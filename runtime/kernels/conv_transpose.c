/* conv_transpose (ONNX ConvTranspose), 1-D and 2-D, any stride, pads
 * (negative begin pads too), dilation, output_padding and group, forward and
 * backward, f32.
 *
 * A transposed convolution is the adjoint of a convolution: its forward is
 * that convolution's backward to x, its backward to x is that convolution's
 * forward.  So this file describes the "adjoint convolution" in a conv_geom
 * (its input is our output [M/g, OH, OW], its output our input [H, W], its
 * weight ours) and reuses conv.c's im2col and col2im:
 *   forward:  col [M/g*kH*kW, HW] = W_g^T . x_g  (one GEMM), then col2im
 *             scatter-adds col into y (which starts at the bias);
 *   dX:       dX_g += W_g . im2col(dY_g);
 *   dW:       dW_g += x_g . im2col(dY_g)^T;
 *   db:       the sum of dY over images and positions.
 * A 1-D case is a 2-D one with H = 1.  Small images are batched: a chunk of
 * images is gathered into one [C/g, chunk * HW] matrix, so the GEMMs have
 * ~CONV_COLUMNS columns instead of a few dozen. */
#include <string.h>

#include "kernel.h"
#include "nn_impl.h"

#include "conv_impl.h"

typedef struct ct_geom {
    conv_geom a;        /* the adjoint convolution: a.h, a.w our output; a.oh, a.ow our input */
    int64_t n, c, m;    /* images, input channels, output channels */
    int64_t group, cg;  /* groups; input channels per group (a.cg is M/g) */
    int64_t chunk;      /* images per GEMM */
} ct_geom;

static bnn_status ct_geometry(const bnn_kernel_args *args, ct_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *w = &args->inputs[1], *y = &args->outputs[0];
    /* scratch_size passes no data, so the bias is only checked when present */
    const bnn_tensor *b = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    BNN_TRY(nn_check_dtype(args, x, 0, false, BNN_F32, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, w, 1, false, BNN_F32, BNN_UNDEFINED, diag));
    if (b)
        BNN_TRY(nn_check_dtype(args, b, 2, false, BNN_F32, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, y, 0, true, BNN_F32, BNN_UNDEFINED, diag));
    int rank = x->shape.rank, sd = rank - 2;
    if ((rank != 3 && rank != 4) || w->shape.rank != rank || y->shape.rank != rank)
        return nn_fail_shape(args, "conv_transpose wants x, weight and output all of rank 3 or 4",
                             diag);
    const int64_t *strides, *pads, *dilations, *opad;
    int n_strides = bnn_node_ints(args->node, "strides", &strides);
    int n_pads = bnn_node_ints(args->node, "pads", &pads);
    int n_dil = bnn_node_ints(args->node, "dilations", &dilations);
    int n_opad = bnn_node_ints(args->node, "output_padding", &opad);
    if ((n_strides && n_strides != sd) || (n_pads && n_pads != 2 * sd) || (n_dil && n_dil != sd) ||
        (n_opad && n_opad != sd))
        return nn_fail_shape(args,
                             "strides, pads, dilations or output_padding do not match the spatial "
                             "rank",
                             diag);
    int64_t s[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0}, d[2] = {1, 1}, op[2] = {0, 0};
    for (int i = 0; i < sd; i++) {
        int j = i + 2 - sd; /* 1-D fills the W slot */
        if (n_strides) s[j] = strides[i];
        if (n_pads) { pb[j] = pads[i]; pe[j] = pads[sd + i]; }
        if (n_dil) d[j] = dilations[i];
        if (n_opad) op[j] = opad[i];
    }
    conv_geom *a = &g->a;
    memset(a, 0, sizeof *a);
    g->n = x->shape.dims[0];
    g->c = x->shape.dims[1];
    g->group = bnn_node_int(args->node, "group", 1);
    a->oh = sd == 2 ? x->shape.dims[2] : 1;
    a->ow = x->shape.dims[rank - 1];
    a->kh = sd == 2 ? w->shape.dims[2] : 1;
    a->kw = w->shape.dims[rank - 1];
    a->h = sd == 2 ? y->shape.dims[2] : 1;
    a->w = y->shape.dims[rank - 1];
    a->sh = s[0]; a->sw = s[1]; a->ph = pb[0]; a->pw = pb[1]; a->dh = d[0]; a->dw = d[1];
    const int64_t lim = (int64_t)1 << 31; /* as the IR bounds attributes: no overflow below */
    for (int i = 0; i < 2; i++)
        if (s[i] < 1 || d[i] < 1 || s[i] > lim || d[i] > lim || op[i] < 0 || op[i] > lim ||
            pb[i] < -lim || pb[i] > lim || pe[i] < -lim || pe[i] > lim)
            return nn_fail_shape(args, "invalid strides, pads, dilations or output_padding", diag);
    if (g->group < 1 || g->group > lim || g->c % g->group)
        return nn_fail_shape(args, "group must be >= 1 and divide the input channels", diag);
    g->cg = g->c / g->group;
    a->cg = w->shape.dims[1];
    if (w->shape.dims[0] != g->c || a->kh < 1 || a->kw < 1)
        return nn_fail_shape(args, "weight [C, M/group, k...] does not fit x", diag);
    if (__builtin_mul_overflow(a->cg, g->group, &g->m) || y->shape.dims[0] != g->n ||
        y->shape.dims[1] != g->m)
        return nn_fail_shape(args, "output [N, M, ...] does not fit x, the weight and group", diag);
    for (int i = 0; i < 2; i++) {
        int64_t in = i ? a->ow : a->oh, k = i ? a->kw : a->kh, out = i ? a->w : a->h;
        if (in > lim || k > lim)
            return nn_fail_shape(args, "input or kernel too large", diag);
        /* each term below 2^62 in magnitude: the sum of the first two cannot
         * overflow, and the small rest is added through a check */
        int64_t want = s[i] * (in - 1) + d[i] * (k - 1) + 1, rest = op[i] - pb[i] - pe[i];
        if (in == 0)
            want = rest = 0;
        if (__builtin_add_overflow(want, rest, &want) || want != out)
            return nn_fail_shape(args, "output spatial size does not follow from the attributes",
                                 diag);
    }
    if (b && bnn_shape_numel(&b->shape) != g->m)
        return nn_fail_shape(args, "bias must have M elements", diag);
    a->kk = a->cg * a->kh * a->kw;
    a->group = 1;
    a->mg = g->cg;
    a->c = a->cg;
    a->m = g->cg;
    /* images per GEMM: ~CONV_COLUMNS columns, the scratch (col and the
     * gathered x) bounded by CONV_CHUNK_FLOATS beyond one image */
    int64_t hw = a->oh * a->ow;
    g->chunk = hw >= CONV_COLUMNS || hw == 0 ? 1 : CONV_COLUMNS / hw;
    if (g->chunk > g->n)
        g->chunk = g->n > 0 ? g->n : 1;
    while (g->chunk > 1 && (a->kk + g->cg) * g->chunk * hw > CONV_CHUNK_FLOATS)
        g->chunk--;
    return BNN_OK;
}

/* Scratch: col [kk, chunk * HW], then (chunks of several images) the
 * gathered x or product [cg, chunk * HW]. */
static int64_t col_floats(const ct_geom *g)
{
    return conv_round16(g->a.kk * g->chunk * g->a.oh * g->a.ow);
}

static size_t ct_scratch_size(const bnn_kernel_args *args)
{
    ct_geom g;
    if (ct_geometry(args, &g, NULL) != BNN_OK)
        return 0; /* forward reports a bad geometry */
    int64_t gathered = g.chunk > 1 ? conv_round16(g.cg * g.chunk * g.a.oh * g.a.ow) : 0;
    return (size_t)(col_floats(&g) + gathered) * sizeof(float);
}

/* dst [cg, nb * hw] from images n0.. of one group of t [N, C, hw]. */
static void gather(const ct_geom *g, const float *t, int64_t n0, int64_t nb, int64_t gr,
                   float *dst)
{
    int64_t hw = g->a.oh * g->a.ow, ld = nb * hw;
    for (int64_t i = 0; i < nb; i++)
        for (int64_t ci = 0; ci < g->cg; ci++)
            memcpy(dst + ci * ld + i * hw, t + ((n0 + i) * g->c + gr * g->cg + ci) * hw,
                   (size_t)hw * sizeof(float));
}

static bnn_status ct_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    ct_geom g;
    BNN_TRY(ct_geometry(args, &g, diag));
    const conv_geom *a = &g.a;
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *b = args->n_inputs > 2 ? args->inputs[2].data : NULL;
    float *y = args->outputs[0].data;
    int64_t hw = a->oh * a->ow, ohw = a->h * a->w;
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t m = 0; m < g.m; m++) {
            float *p = y + (n * g.m + m) * ohw, bv = b ? b[m] : 0.0f;
            for (int64_t j = 0; j < ohw; j++)
                p[j] = bv;
        }
    if (hw == 0 || g.n == 0)
        return BNN_OK;
    float *col = args->scratch, *xcat = col + col_floats(&g);
    for (int64_t n0 = 0; n0 < g.n; n0 += g.chunk) {
        int64_t nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk, ld = nb * hw;
        for (int64_t gr = 0; gr < g.group; gr++) {
            const float *xs = x + (n0 * g.c + gr * g.cg) * hw; /* one image: x itself */
            if (nb > 1) {
                gather(&g, x, n0, nb, gr, xcat);
                xs = xcat;
            }
            /* col [kk, ld] = W_g^T [kk, cg] . x_g [cg, ld] */
            nn_gemm(BNN_F32, true, false, a->kk, ld, g.cg, 1.0, w + gr * g.cg * a->kk, a->kk, xs,
                    ld, 0.0, col, ld, NULL, NULL);
            for (int64_t i = 0; i < nb; i++)
                conv_col2im_add(a, col + i * hw, ld, y + ((n0 + i) * g.m + gr * a->cg) * ohw);
        }
    }
    return BNN_OK;
}

static bnn_status ct_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                              bnn_diag *diag)
{
    ct_geom g;
    BNN_TRY(ct_geometry(args, &g, diag));
    const conv_geom *a = &g.a;
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *gy = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[0].data, *gw = grads->grad_inputs[1].data;
    float *gb = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    int64_t hw = a->oh * a->ow, ohw = a->h * a->w;
    if (gb)
        for (int64_t m = 0; m < g.m; m++) {
            double s = 0;
            for (int64_t n = 0; n < g.n; n++) {
                const float *p = gy + (n * g.m + m) * ohw;
                float part = 0;
#pragma omp simd reduction(+ : part)
                for (int64_t j = 0; j < ohw; j++)
                    part += p[j];
                s += part;
            }
            gb[m] += (float)s;
        }
    if ((!gx && !gw) || hw == 0 || g.n == 0)
        return BNN_OK;
    float *col = args->scratch, *buf = col + col_floats(&g);
    for (int64_t n0 = 0; n0 < g.n; n0 += g.chunk) {
        int64_t nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk, ld = nb * hw;
        for (int64_t gr = 0; gr < g.group; gr++) {
            const float *wg = w + gr * g.cg * a->kk;
            /* col [kk, ld]: the windows of dY_g that each input position fed */
            for (int64_t i = 0; i < nb; i++)
                conv_im2col(a, gy + ((n0 + i) * g.m + gr * a->cg) * ohw, col + i * hw, ld);
            if (gw) { /* dW_g [cg, kk] += x_g [cg, ld] . col^T */
                const float *xs = x + (n0 * g.c + gr * g.cg) * hw;
                if (nb > 1) {
                    gather(&g, x, n0, nb, gr, buf);
                    xs = buf;
                }
                nn_gemm(BNN_F32, false, true, g.cg, a->kk, ld, 1.0, xs, ld, col, ld, 1.0,
                    gw + gr * g.cg * a->kk, a->kk, NULL, NULL);
            }
            if (gx) { /* dX_g [cg, ld] += W_g [cg, kk] . col */
                float *gxg = gx + (n0 * g.c + gr * g.cg) * hw;
                if (nb == 1) {
                    nn_gemm(BNN_F32, false, false, g.cg, hw, a->kk, 1.0, wg, a->kk, col, ld, 1.0,
                            gxg, hw, NULL, NULL);
                    continue;
                }
                nn_gemm(BNN_F32, false, false, g.cg, ld, a->kk, 1.0, wg, a->kk, col, ld, 0.0, buf,
                        ld, NULL, NULL);
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t ci = 0; ci < g.cg; ci++) {
                        const float *src = buf + ci * ld + i * hw;
                        float *dst = gx + ((n0 + i) * g.c + gr * g.cg + ci) * hw;
                        for (int64_t j = 0; j < hw; j++)
                            dst[j] += src[j];
                    }
            }
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_conv_transpose = {
    .forward = ct_forward,
    .backward = ct_backward,
    .scratch_size = ct_scratch_size,
};
