/* Convolution, 1-D and 2-D, any stride, padding, dilation and group, forward
 * and backward, f32.
 *
 * A 1-D convolution is a 2-D one with H = 1.  The general path lowers a
 * chunk of images of one group to one GEMM: im2col writes the receptive
 * fields into `scratch` as a [C/g * kH * kW, chunk * OH * OW] matrix and
 * sgemm multiplies the group's weights [M/g, C/g * kH * kW] by it.  A chunk
 * is one image unless the images are small: GEMMs of a few dozen columns run
 * far below OpenBLAS's peak, so small images are batched up to ~CONV_COLUMNS
 * columns (the product then goes through a second scratch matrix, because its
 * columns are image-major).  Two shapes skip im2col: a 1x1 stride-1 unpadded
 * convolution on large images, whose input already is that matrix, and a
 * depthwise one (group == C == M), a direct loop since its GEMMs would have
 * one row.
 *
 * The im2col path has no OpenMP of its own: libgomp's workers spin after a
 * parallel region and starve OpenBLAS's threads in the sgemm that follows
 * (on 2 cores that made these convolutions 20x slower). */
#include <string.h>

#include "kernel.h"
#include "nn_impl.h"

/* Columns a GEMM should have at least, and the most scratch (in floats) a
 * chunk of images may take beyond what one image needs. */
#define CONV_COLUMNS 1024
#define CONV_CHUNK_FLOATS ((int64_t)4 << 20)

typedef struct conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t m, kh, kw;       /* weight */
    int64_t oh, ow;          /* output */
    int64_t sh, sw, ph, pw;  /* strides, begin pads */
    int64_t dh, dw;          /* dilations */
    int64_t group, cg, mg;   /* groups, channels per group in and out */
    int64_t kk;              /* rows of the im2col matrix: cg * kh * kw */
    int64_t chunk;           /* images per GEMM */
    bool direct_1x1, depthwise;
} conv_geom;

static bnn_status conv_geometry(const bnn_kernel_args *args, conv_geom *g, bnn_diag *diag)
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
        return nn_fail_shape(args, "conv wants x, weight and output all of rank 3 or 4", diag);
    const int64_t *strides, *pads, *dilations;
    int n_strides = bnn_node_ints(args->node, "strides", &strides);
    int n_pads = bnn_node_ints(args->node, "pads", &pads);
    int n_dil = bnn_node_ints(args->node, "dilations", &dilations);
    if ((n_strides && n_strides != sd) || (n_pads && n_pads != 2 * sd) || (n_dil && n_dil != sd))
        return nn_fail_shape(args, "strides, pads or dilations do not match the spatial rank", diag);
    int64_t s[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0}, d[2] = {1, 1};
    for (int i = 0; i < sd; i++) {
        int j = i + 2 - sd; /* 1-D fills the W slot */
        if (n_strides) s[j] = strides[i];
        if (n_pads) { pb[j] = pads[i]; pe[j] = pads[sd + i]; }
        if (n_dil) d[j] = dilations[i];
    }
    g->n = x->shape.dims[0];
    g->c = x->shape.dims[1];
    g->h = sd == 2 ? x->shape.dims[2] : 1;
    g->w = x->shape.dims[rank - 1];
    g->m = w->shape.dims[0];
    g->kh = sd == 2 ? w->shape.dims[2] : 1;
    g->kw = w->shape.dims[rank - 1];
    g->oh = sd == 2 ? y->shape.dims[2] : 1;
    g->ow = y->shape.dims[rank - 1];
    g->sh = s[0]; g->sw = s[1]; g->ph = pb[0]; g->pw = pb[1]; g->dh = d[0]; g->dw = d[1];
    g->group = bnn_node_int(args->node, "group", 1);
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || pb[0] < 0 || pb[1] < 0 || pe[0] < 0 ||
        pe[1] < 0 || g->group < 1 || g->c % g->group || g->m % g->group)
        return nn_fail_shape(args, "invalid strides, pads, dilations or group", diag);
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
    if (w->shape.dims[1] != g->cg || y->shape.dims[0] != g->n || y->shape.dims[1] != g->m)
        return nn_fail_shape(args, "weight [M, C/group, k...] does not fit x and the output", diag);
    int64_t want_oh = (g->h + pb[0] + pe[0] - g->dh * (g->kh - 1) - 1) / g->sh + 1;
    int64_t want_ow = (g->w + pb[1] + pe[1] - g->dw * (g->kw - 1) - 1) / g->sw + 1;
    if (want_oh != g->oh || want_ow != g->ow)
        return nn_fail_shape(args, "output spatial size does not follow from the attributes", diag);
    if (b && bnn_shape_numel(&b->shape) != g->m)
        return nn_fail_shape(args, "bias must have M elements", diag);
    g->kk = g->cg * g->kh * g->kw;
    int64_t ohw = g->oh * g->ow;
    g->chunk = ohw >= CONV_COLUMNS || ohw == 0 ? 1 : CONV_COLUMNS / ohw;
    if (g->chunk > g->n)
        g->chunk = g->n > 0 ? g->n : 1;
    while (g->chunk > 1 && (g->kk + g->mg) * g->chunk * ohw > CONV_CHUNK_FLOATS)
        g->chunk--;
    g->direct_1x1 = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
                    g->pw == 0 && g->oh == g->h && g->ow == g->w && g->chunk == 1;
    g->depthwise = !g->direct_1x1 && g->group == g->c && g->m == g->c;
    return BNN_OK;
}

/* col [cg*kh*kw, oh*ow] (rows ld apart) from one image-group x [cg, h, w]. */
static void im2col(const conv_geom *g, const float *x, float *col, int64_t ld)
{
    int64_t khw = g->kh * g->kw;
    for (int64_t row = 0; row < g->kk; row++) {
        int64_t c = row / khw, ki = (row / g->kw) % g->kh, kj = row % g->kw;
        const float *xc = x + c * g->h * g->w;
        float *dst = col + row * ld;
        int64_t lo, hi, off = kj * g->dw - g->pw;
        nn_valid_range(g->pw, kj * g->dw, g->sw, g->w, g->ow, &lo, &hi);
        for (int64_t i = 0; i < g->oh; i++) {
            float *d = dst + i * g->ow;
            int64_t ih = i * g->sh - g->ph + ki * g->dh;
            if (ih < 0 || ih >= g->h) {
                memset(d, 0, (size_t)g->ow * sizeof(float));
                continue;
            }
            const float *xr = xc + ih * g->w + off;
            for (int64_t j = 0; j < lo; j++)
                d[j] = 0;
            if (g->sw == 1)
                memcpy(d + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
            else
                for (int64_t j = lo; j < hi; j++)
                    d[j] = xr[j * g->sw];
            for (int64_t j = hi; j < g->ow; j++)
                d[j] = 0;
        }
    }
}

/* The adjoint of im2col: gx [cg, h, w] += the rows of col (ld apart) at
 * their sources. */
static void col2im_add(const conv_geom *g, const float *col, int64_t ld, float *gx)
{
    for (int64_t c = 0; c < g->cg; c++) {
        float *gc = gx + c * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *src = col + ((c * g->kh + ki) * g->kw + kj) * ld;
                int64_t lo, hi, off = kj * g->dw - g->pw;
                nn_valid_range(g->pw, kj * g->dw, g->sw, g->w, g->ow, &lo, &hi);
                for (int64_t i = 0; i < g->oh; i++) {
                    int64_t ih = i * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    float *xr = gc + ih * g->w + off;
                    const float *s = src + i * g->ow;
                    for (int64_t j = lo; j < hi; j++)
                        xr[j * g->sw] += s[j];
                }
            }
    }
}

/* Floats of the im2col matrix, rounded up so the product matrix after it
 * stays 64-byte aligned. */
static int64_t col_floats(const conv_geom *g)
{
    return (g->kk * g->chunk * g->oh * g->ow + 15) / 16 * 16;
}

static size_t conv_scratch_size(const bnn_kernel_args *args)
{
    conv_geom g;
    if (conv_geometry(args, &g, NULL) != BNN_OK || g.direct_1x1 || g.depthwise)
        return 0; /* forward reports a bad geometry */
    int64_t product = g.chunk > 1 ? g.mg * g.chunk * g.oh * g.ow : 0;
    return (size_t)(col_floats(&g) + product) * sizeof(float);
}

/* ---- depthwise: one filter per channel ------------------------------------ */

static void depthwise_forward(const conv_geom *g, const float *x, const float *w, const float *b,
                              float *y)
{
    int64_t planes = g->n * g->c, ohw = g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * ohw * g->kh * g->kw > NN_OMP_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % g->c;
        const float *xp = x + p * g->h * g->w, *wc = w + c * g->kh * g->kw;
        float *yp = y + p * ohw;
        float bias = b ? b[c] : 0.0f;
        for (int64_t i = 0; i < ohw; i++)
            yp[i] = bias;
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float wv = wc[ki * g->kw + kj];
                int64_t lo, hi, off = kj * g->dw - g->pw;
                nn_valid_range(g->pw, kj * g->dw, g->sw, g->w, g->ow, &lo, &hi);
                for (int64_t i = 0; i < g->oh; i++) {
                    int64_t ih = i * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    const float *xr = xp + ih * g->w + off;
                    float *yr = yp + i * g->ow;
                    if (g->sw == 1)
                        for (int64_t j = lo; j < hi; j++)
                            yr[j] += wv * xr[j];
                    else
                        for (int64_t j = lo; j < hi; j++)
                            yr[j] += wv * xr[j * g->sw];
                }
            }
    }
}

/* Parallel over channels with the batch inside, so that each thread owns its
 * channel's weight and bias gradients. */
static void depthwise_backward(const conv_geom *g, const float *x, const float *w, const float *gy,
                               float *gx, float *gw, float *gb)
{
    int64_t ohw = g->oh * g->ow;
#pragma omp parallel for schedule(static) if (g->n * g->c * ohw * g->kh * g->kw > NN_OMP_MIN_WORK)
    for (int64_t c = 0; c < g->c; c++) {
        const float *wc = w + c * g->kh * g->kw;
        for (int64_t n = 0; n < g->n; n++) {
            int64_t p = n * g->c + c;
            const float *xp = x + p * g->h * g->w, *gyp = gy + p * ohw;
            float *gxp = gx ? gx + p * g->h * g->w : NULL;
            if (gb) {
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < ohw; i++)
                    s += gyp[i];
                gb[c] += (float)s;
            }
            for (int64_t ki = 0; ki < g->kh; ki++)
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    float wv = wc[ki * g->kw + kj];
                    double dw = 0;
                    int64_t lo, hi, off = kj * g->dw - g->pw;
                    nn_valid_range(g->pw, kj * g->dw, g->sw, g->w, g->ow, &lo, &hi);
                    for (int64_t i = 0; i < g->oh; i++) {
                        int64_t ih = i * g->sh - g->ph + ki * g->dh;
                        if (ih < 0 || ih >= g->h)
                            continue;
                        const float *xr = xp + ih * g->w + off, *gr = gyp + i * g->ow;
                        float acc = 0;
                        float *gxr = gxp ? gxp + ih * g->w + off : NULL;
                        if (g->sw == 1) { /* unit stride: both loops vectorise */
#pragma omp simd reduction(+ : acc)
                            for (int64_t j = lo; j < hi; j++)
                                acc += xr[j] * gr[j];
                            if (gxr)
                                for (int64_t j = lo; j < hi; j++)
                                    gxr[j] += wv * gr[j];
                        } else {
                            for (int64_t j = lo; j < hi; j++)
                                acc += xr[j * g->sw] * gr[j];
                            if (gxr)
                                for (int64_t j = lo; j < hi; j++)
                                    gxr[j * g->sw] += wv * gr[j];
                        }
                        dw += acc;
                    }
                    if (gw)
                        gw[c * g->kh * g->kw + ki * g->kw + kj] += (float)dw;
                }
        }
    }
}

/* ---- the kernel ------------------------------------------------------------ */

static bnn_status conv_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    conv_geom g;
    BNN_TRY(conv_geometry(args, &g, diag));
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *b = args->n_inputs > 2 ? args->inputs[2].data : NULL;
    float *y = args->outputs[0].data;
    if (g.depthwise) {
        depthwise_forward(&g, x, w, b, y);
        return BNN_OK;
    }
    int64_t ohw = g.oh * g.ow, xsz = g.c * g.h * g.w, ysz = g.m * ohw;
    float *col = args->scratch, *product = col + col_floats(&g);
    for (int64_t n0 = 0; n0 < g.n; n0 += g.chunk) {
        int64_t nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk, ld = nb * ohw;
        for (int64_t gr = 0; gr < g.group; gr++) {
            const float *wg = w + gr * g.mg * g.kk;
            const float *xg = x + n0 * xsz + gr * g.cg * g.h * g.w;
            float *yg = y + n0 * ysz + gr * g.mg * ohw;
            if (g.chunk == 1) { /* the product lands in y: start it at the bias */
                const float *cols = xg;
                if (!g.direct_1x1) {
                    im2col(&g, xg, col, ohw);
                    cols = col;
                }
                double beta = 0;
                if (b) {
                    for (int64_t i = 0; i < g.mg; i++)
                        for (int64_t j = 0; j < ohw; j++)
                            yg[i * ohw + j] = b[gr * g.mg + i];
                    beta = 1;
                }
                nn_gemm(BNN_F32, false, false, g.mg, ohw, g.kk, 1.0, wg, g.kk, cols, ohw, beta,
                        yg, ohw);
                continue;
            }
            for (int64_t i = 0; i < nb; i++)
                im2col(&g, xg + i * xsz, col + i * ohw, ld);
            nn_gemm(BNN_F32, false, false, g.mg, ld, g.kk, 1.0, wg, g.kk, col, ld, 0.0, product, ld);
            for (int64_t i = 0; i < nb; i++)
                for (int64_t mi = 0; mi < g.mg; mi++) {
                    const float *src = product + mi * ld + i * ohw;
                    float *dst = yg + i * ysz + mi * ohw, bv = b ? b[gr * g.mg + mi] : 0.0f;
                    for (int64_t j = 0; j < ohw; j++)
                        dst[j] = src[j] + bv;
                }
        }
    }
    return BNN_OK;
}

static bnn_status conv_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    conv_geom g;
    BNN_TRY(conv_geometry(args, &g, diag));
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *gy = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[0].data, *gw = grads->grad_inputs[1].data;
    float *gb = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    if (g.depthwise) {
        depthwise_backward(&g, x, w, gy, gx, gw, gb);
        return BNN_OK;
    }
    int64_t ohw = g.oh * g.ow, xsz = g.c * g.h * g.w, ysz = g.m * ohw;
    if (gb)
        for (int64_t n = 0; n < g.n; n++)
            for (int64_t m = 0; m < g.m; m++) {
                const float *p = gy + n * ysz + m * ohw;
                float s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t j = 0; j < ohw; j++)
                    s += p[j];
                gb[m] += (float)s;
            }
    if (!gx && !gw)
        return BNN_OK;
    float *col = args->scratch, *product = col + col_floats(&g);
    for (int64_t n0 = 0; n0 < g.n; n0 += g.chunk) {
        int64_t nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk, ld = nb * ohw;
        for (int64_t gr = 0; gr < g.group; gr++) {
            const float *xg = x + n0 * xsz + gr * g.cg * g.h * g.w;
            const float *wg = w + gr * g.mg * g.kk;
            float *gxg = gx ? gx + n0 * xsz + gr * g.cg * g.h * g.w : NULL;
            /* dY of the chunk as [mg, ld]: y itself for one image, else gathered */
            const float *gyg = gy + n0 * ysz + gr * g.mg * ohw;
            if (g.chunk > 1) {
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t mi = 0; mi < g.mg; mi++) {
                        const float *src = gyg + i * ysz + mi * ohw;
                        float *dst = product + mi * ld + i * ohw;
                        for (int64_t j = 0; j < ohw; j++)
                            dst[j] = src[j];
                    }
                gyg = product;
            }
            if (gw) { /* dW_g [mg, kk] += dY [mg, ld] . col^T */
                const float *cols = xg;
                if (!g.direct_1x1) {
                    for (int64_t i = 0; i < nb; i++)
                        im2col(&g, xg + i * xsz, col + i * ohw, ld);
                    cols = col;
                }
                nn_gemm(BNN_F32, false, true, g.mg, g.kk, ld, 1.0, gyg, ld, cols, ld, 1.0,
                        gw + gr * g.mg * g.kk, g.kk);
            }
            if (gxg) { /* dcol [kk, ld] = W_g^T . dY, scattered back by col2im */
                if (g.direct_1x1) {
                    nn_gemm(BNN_F32, true, false, g.kk, ohw, g.mg, 1.0, wg, g.kk, gyg, ohw, 1.0,
                            gxg, ohw);
                    continue;
                }
                nn_gemm(BNN_F32, true, false, g.kk, ld, g.mg, 1.0, wg, g.kk, gyg, ld, 0.0, col, ld);
                for (int64_t i = 0; i < nb; i++)
                    col2im_add(&g, col + i * ohw, ld, gxg + i * xsz);
            }
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_conv = {
    .forward = conv_forward,
    .backward = conv_backward,
    .scratch_size = conv_scratch_size,
};
