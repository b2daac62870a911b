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
 * one row.  Stride-1 convolutions on small images (LeNet's) take the wide
 * path instead (forward_wide, backward_wide): no short copies at all; on
 * AVX-512 CPUs its forward skips the GEMM for two shapes, LeNet's both:
 * one or two input channels with few filters (forward_direct, vectors over
 * an output row) and 16 filters (forward_direct16, vectors over filters).
 * They took LeNet's batch-64 inference from 1.07 to 0.73 ms on one core:
 * the GEMM spent lanes on the wide layout's spare columns (4 in 14 for
 * conv2) and conv1's k of 25 left it bound by the im2col copy.
 *
 * Small GEMMs (m*n*k up to CONV_SERIAL_MNK) are where OpenBLAS 0.3 runs on
 * the calling thread, with its unpacked small-matrix kernel: there a GEMM of
 * ~100 columns runs at ~100 GFLOP/s on one core while 1000 columns (packed)
 * run at ~80.  Such convolutions are split into chunks below that size and
 * the chunks run in an OpenMP loop, each thread with its own slot of
 * scratch; every image's result is the same as on one thread.  Bigger GEMMs
 * keep the sequential loop and OpenBLAS's own threads: libgomp's workers
 * spinning after a parallel region starve OpenBLAS's threads in the sgemm
 * that follows (on 2 cores that made these convolutions 20x slower).
 *
 * All of the above is what a training step's forward runs.  An inference
 * session on an AVX-512 CPU takes conv_fast.c's kernels for most shapes
 * instead (conv_geometry's fast_dw and fast_direct; docs/runtime.md), and
 * applies an activation the planner fused into the node (conv_act). */
#include <omp.h>
#include <string.h>

#include "kernel.h"
#include "nn_impl.h"

#include "conv_impl.h"

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
    g->slots = 1;
    if (g->mg * ohw * g->kk <= CONV_SERIAL_MNK && ohw > 0 && g->kk > 0 && g->mg > 0) {
        /* small: chunks that stay on OpenBLAS's serial small-matrix path */
        int64_t fit = CONV_SERIAL_MNK / (g->mg * ohw * g->kk);
        g->chunk = ohw >= CONV_COLUMNS ? 1 : CONV_COLUMNS / ohw;
        if (g->chunk > fit)
            g->chunk = fit;
    } else {
        g->chunk = ohw >= CONV_COLUMNS || ohw == 0 ? 1 : CONV_COLUMNS / ohw;
    }
    if (g->chunk > g->n)
        g->chunk = g->n > 0 ? g->n : 1;
    while (g->chunk > 1 && (g->kk + g->mg) * g->chunk * ohw > CONV_CHUNK_FLOATS)
        g->chunk--;
    if (g->mg * g->chunk * ohw * g->kk <= CONV_SERIAL_MNK) {
        int64_t chunks = (g->n + g->chunk - 1) / g->chunk, procs = omp_get_num_procs();
        g->slots = procs < CONV_MAX_SLOTS ? procs : CONV_MAX_SLOTS;
        if (g->slots > chunks)
            g->slots = chunks;
        if (g->slots < 1)
            g->slots = 1;
    }
    g->direct_1x1 = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
                    g->pw == 0 && g->oh == g->h && g->ow == g->w && g->chunk == 1;
    g->depthwise = !g->direct_1x1 && g->group == g->c && g->m == g->c;
    /* wide: stride 1 on small images, see forward_wide; a slot (padded
     * image and wide im2col) of at most a quarter of CONV_CHUNK_FLOATS, and
     * one dW per image (the backward's) of at most CONV_CHUNK_FLOATS */
    g->wp = g->ow + g->dw * (g->kw - 1);
    g->hp = g->oh + g->dh * (g->kh - 1);
    g->wide = !g->direct_1x1 && !g->depthwise && g->sh == 1 && g->sw == 1 && g->n > 0 &&
              ohw > 0 && g->kk > 0 && g->wp <= 2 * g->ow &&
              g->mg * g->oh * g->wp * g->kk <= CONV_WIDE_MAX_MNK &&
              (g->c * g->hp * g->wp + g->kk * g->oh * g->wp) * 4 <= CONV_CHUNK_FLOATS &&
              g->n * g->m * g->kk <= CONV_CHUNK_FLOATS;
    if (g->wide) {
        int64_t procs = omp_get_num_procs();
        g->chunk = 1;
        g->slots = procs < CONV_MAX_SLOTS ? procs : CONV_MAX_SLOTS;
        if (g->slots > g->n)
            g->slots = g->n;
        if (g->slots < 1)
            g->slots = 1;
    }
    /* first layers (LeNet's conv1): with one input channel the GEMM's k is
     * the window (25) and copying the wide im2col matrix costs as much as
     * the product; rows of 8 to 32 outputs fill two 16-float vectors */
    g->direct = false;
#if CONV_HAVE_DIRECT
    g->direct = g->wide && g->group == 1 && g->c <= 2 && g->m <= CONV_DIRECT_MAX_M &&
                g->ow >= 8 && g->ow <= 32 && __builtin_cpu_supports("avx512f");
    /* 16 filters (LeNet's conv2): one vector holds a position's 16 outputs,
     * so no lane is spent on the wide layout's spare columns (4 in 14) */
    g->direct16 = !g->direct && g->wide && g->group == 1 && g->m == 16 && g->kk <= 512 &&
                  g->oh * g->ow >= 8 && __builtin_cpu_supports("avx512f");
#else
    g->direct16 = false;
#endif
    /* inference (conv_fast.c): depthwise over phase planes, and direct for
     * windows above 1x1 whose outputs fill at least a vector, and for 1x1
     * convolutions of at most 64 outputs over the batch.  Bigger 1x1 ones
     * keep the GEMM (no im2col there for one image; OpenBLAS was up to 1.4x
     * faster on MobileNetV2's 14x14 to 112x112 maps, and on 7x7 ones at
     * batch 8, one thread, tests/kernels_nn/bench_conv nets), and so does a
     * 1x1 map (one column). */
    g->fast_dw = g->fast_direct = false;
    g->act.kind = (int)bnn_node_int(args->node, "bnn_fused_act", CONV_ACT_NONE);
    g->act.a = bnn_node_float(args->node, "bnn_fused_a", 0.0f);
    g->act.b = bnn_node_float(args->node, "bnn_fused_b", 0.0f);
#if CONV_HAVE_DIRECT
    if (!args->training && g->n > 0 && ohw > 0 && g->kk > 0 && __builtin_cpu_supports("avx512f")) {
        int64_t width = g->ow + (g->kw - 1) * g->dw / g->sw;
        g->fast_dw = g->group == g->c && g->m == g->c;
        g->fast_direct = !g->fast_dw && g->oh * width >= 16 &&
                         (g->kh * g->kw > 1 || g->n * ohw <= 64) &&
                         !g->direct && !g->direct16 && /* LeNet's: 1.3-1.7x faster there */
                         /* few taps: the wide GEMM (1.5x), or the batch's one GEMM (1.2x) */
                         !(g->kk < 32 && (g->wide || g->n > 1));
    }
#endif
    return BNN_OK;
}

/* col [cg*kh*kw, oh*ow] (rows ld apart) from one image-group x [cg, h, w].
 * The rows it copies are short (LeNet's: 10 to 28 floats), so the copy and
 * zeroing loops must stay inline loops: GCC would turn them into memcpy and
 * memset calls, which took half of im2col's time. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
void conv_im2col(const conv_geom *g, const float *x, float *col, int64_t ld)
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
                for (int64_t j = 0; j < g->ow; j++)
                    d[j] = 0;
                continue;
            }
            const float *xr = xc + ih * g->w + off;
            for (int64_t j = 0; j < lo; j++)
                d[j] = 0;
            if (g->sw == 1)
                for (int64_t j = lo; j < hi; j++)
                    d[j] = xr[j];
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
void conv_col2im_add(const conv_geom *g, const float *col, int64_t ld, float *gx)
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

static int64_t slot_floats(const conv_geom *g);

/* The wide path's backward: one dW per image, [n, m, kk], before the slots. */
static int64_t wide_parts_floats(const conv_geom *g)
{
    return g->wide ? (g->n * g->m * g->kk + 15) / 16 * 16 : 0;
}

static size_t conv_scratch_size(const bnn_kernel_args *args)
{
    conv_geom g;
    if (conv_geometry(args, &g, NULL) != BNN_OK)
        return 0; /* forward reports a bad geometry */
    int64_t fast = conv_fast_scratch_floats(&g);
    if (g.direct_1x1 || g.depthwise)
        return (size_t)fast * sizeof(float);
    /* the backward uses the plain paths' scratch whatever the forward took */
    int64_t plain = wide_parts_floats(&g) + slot_floats(&g) * g.slots;
    return (size_t)(fast > plain ? fast : plain) * sizeof(float);
}

/* ---- depthwise: one filter per channel ------------------------------------ */

/* One plane (image n, channel c) of a depthwise convolution, output row by
 * output row, so the row being summed stays in L1: the bias, then each tap
 * (ki, kj) in order times its input row, as separate multiply and add (the
 * same float operations in the same order on every path).  With a stride
 * above 1 each input row is first split into its stride phases (phase q
 * holds columns q, q + s, ...), so every tap reads contiguous floats and
 * the loop vectorises; tmp holds them (at least w + sw floats). */
/* The taps of one kernel column kj: which outputs j of a row read inside the
 * input row, and where (phase q of the split row, shifted by `shift`). */
typedef struct depthwise_tap {
    int64_t lo, hi, q, shift;
} depthwise_tap;

#define DEPTHWISE_MAX_KW 16

static inline __attribute__((always_inline)) void
depthwise_plane_body(const conv_geom *g, const float *restrict xp, const float *restrict wc,
                     float bias, float *restrict yp, float *restrict tmp)
{
    int64_t sw = g->sw, per = (g->w + sw - 1) / sw; /* floats per phase */
    depthwise_tap taps[DEPTHWISE_MAX_KW];
    for (int64_t kj = 0; kj < g->kw; kj++) {
        int64_t off = kj * g->dw - g->pw;
        nn_valid_range(g->pw, kj * g->dw, sw, g->w, g->ow, &taps[kj].lo, &taps[kj].hi);
        /* output j reads column j * sw + off: phase q, index j + (off - q) / sw */
        taps[kj].q = ((off % sw) + sw) % sw;
        taps[kj].shift = sw == 1 ? off : (off - taps[kj].q) / sw;
    }
    for (int64_t i = 0; i < g->oh; i++) {
        float *restrict yr = yp + i * g->ow;
        for (int64_t j = 0; j < g->ow; j++)
            yr[j] = bias;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            int64_t ih = i * g->sh - g->ph + ki * g->dh;
            if (ih < 0 || ih >= g->h)
                continue;
            const float *xr = xp + ih * g->w;
            if (sw > 1)
                for (int64_t q = 0; q < sw; q++)
                    for (int64_t t = 0; q + t * sw < g->w; t++)
                        tmp[q * per + t] = xr[q + t * sw];
            const float *base = sw == 1 ? xr : tmp;
            const float *wr = wc + ki * g->kw;
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const depthwise_tap *tp = &taps[kj];
                const float *restrict src = base + tp->q * per + tp->shift;
                float wv = wr[kj];
                for (int64_t j = tp->lo; j < tp->hi; j++)
                    yr[j] += wv * src[j];
            }
        }
    }
}

typedef void depthwise_plane_fn(const conv_geom *, const float *, const float *, float, float *,
                                float *);

static void depthwise_plane_base(const conv_geom *g, const float *xp, const float *wc,
                                 float bias, float *yp, float *tmp)
{
    depthwise_plane_body(g, xp, wc, bias, yp, tmp);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void
depthwise_plane_avx2(const conv_geom *g, const float *xp, const float *wc, float bias, float *yp,
                     float *tmp)
{
    depthwise_plane_body(g, xp, wc, bias, yp, tmp);
}
#endif

/* Rows this long or shorter split into phases on the stack; longer strided
 * rows take the baseline's direct loop. */
#define DEPTHWISE_MAX_ROW 8192
#define DEPTHWISE_MIN_ROW 24

static void depthwise_forward(const conv_geom *g, const float *x, const float *w, const float *b,
                              float *y)
{
    int64_t planes = g->n * g->c, ohw = g->oh * g->ow;
    depthwise_plane_fn *plane = depthwise_plane_base;
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        plane = depthwise_plane_avx2;
#endif
    /* rows shorter than DEPTHWISE_MIN_ROW outputs: mostly loop tails, where
     * the plane-at-a-time loop below does better (a 14x14 map: 0.32 ms
     * against 0.45 for 576 channels) */
    if ((g->sw > 1 && g->w + g->sw > DEPTHWISE_MAX_ROW) || g->kw > DEPTHWISE_MAX_KW ||
        g->ow < DEPTHWISE_MIN_ROW)
        plane = NULL;
#pragma omp parallel for schedule(static) if (planes * ohw * g->kh * g->kw > NN_OMP_MIN_WORK)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % g->c;
        const float *xp = x + p * g->h * g->w, *wc = w + c * g->kh * g->kw;
        float *yp = y + p * ohw;
        float bias = b ? b[c] : 0.0f;
        if (plane) {
            float tmp[g->sw > 1 ? DEPTHWISE_MAX_ROW : 1];
            plane(g, xp, wc, bias, yp, tmp);
            continue;
        }
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

/* Forward of the images [n0, n0 + nb) of one chunk; col and product are
 * this chunk's scratch. */
static void forward_chunk(const conv_geom *g, const float *x, const float *w, const float *b,
                          float *y, int64_t n0, int64_t nb, float *col, float *product)
{
    int64_t ohw = g->oh * g->ow, xsz = g->c * g->h * g->w, ysz = g->m * ohw, ld = nb * ohw;
    for (int64_t gr = 0; gr < g->group; gr++) {
        const float *wg = w + gr * g->mg * g->kk;
        const float *xg = x + n0 * xsz + gr * g->cg * g->h * g->w;
        float *yg = y + n0 * ysz + gr * g->mg * ohw;
        if (nb == 1 && g->chunk == 1) { /* the product lands in y: start it at the bias */
            const float *cols = xg;
            if (!g->direct_1x1) {
                conv_im2col(g, xg, col, ohw);
                cols = col;
            }
            double beta = 0;
            if (b) {
                for (int64_t i = 0; i < g->mg; i++)
                    for (int64_t j = 0; j < ohw; j++)
                        yg[i * ohw + j] = b[gr * g->mg + i];
                beta = 1;
            }
            nn_gemm(BNN_F32, false, false, g->mg, ohw, g->kk, 1.0, wg, g->kk, cols, ohw, beta, yg,
                    ohw, NULL, NULL);
            continue;
        }
        for (int64_t i = 0; i < nb; i++)
            conv_im2col(g, xg + i * xsz, col + i * ohw, ld);
        nn_gemm(BNN_F32, false, false, g->mg, ld, g->kk, 1.0, wg, g->kk, col, ld, 0.0, product, ld,
                NULL, NULL);
        for (int64_t i = 0; i < nb; i++)
            for (int64_t mi = 0; mi < g->mg; mi++) {
                const float *src = product + mi * ld + i * ohw;
                float *dst = yg + i * ysz + mi * ohw, bv = b ? b[gr * g->mg + mi] : 0.0f;
                for (int64_t j = 0; j < ohw; j++)
                    dst[j] = src[j] + bv;
            }
    }
}

/* Floats of one scratch slot: the im2col matrix, then (for chunks of
 * several images) the product. */

/* The wide path's slot: the padded image (with the overrun of the last
 * row's spans), the wide im2col matrix and the wide product. */
static int64_t wide_floats(const conv_geom *g)
{
    int64_t pad = g->c * g->hp * g->wp + g->dw * (g->kw - 1);
    int64_t gemm = conv_round16(g->kk * g->oh * g->wp) + conv_round16(g->mg * g->oh * g->wp);
    return conv_round16(pad) + (gemm > 128 ? gemm : 128); /* or direct16's tmp [8, 16] */
}

static int64_t slot_floats(const conv_geom *g)
{
    int64_t product = g->chunk > 1 ? g->mg * g->chunk * g->oh * g->ow : 0;
    int64_t plain = col_floats(g) + conv_round16(product); /* what backward uses */
    if (g->wide && wide_floats(g) > plain)
        return wide_floats(g);
    return plain;
}

/* pad [c, hp, wp] (and the overrun of the last row's spans): image xn with
 * zeros around it; sizes from the geometry: hp = h + pads, wp = w + pads. */
void conv_wide_pad(const conv_geom *g, const float *xn, float *pad)
{
    int64_t hw = g->h * g->w, phw = g->hp * g->wp;
    int64_t pad_n = g->c * phw + g->dw * (g->kw - 1);
    int64_t ph0 = g->ph, pw0 = g->pw;
    for (int64_t i = 0; i < pad_n; i++)
        pad[i] = 0;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t r = 0; r < g->h; r++) {
            int64_t pr = r + ph0;
            if (pr >= g->hp)
                break;
            int64_t lo = pw0, len = g->w;
            if (lo + len > g->wp)
                len = g->wp - lo;
            if (len > 0)
                memcpy(pad + c * phw + pr * g->wp + lo, xn + c * hw + r * g->w,
                       (size_t)len * sizeof(float));
        }
}

/* Stride 1 without the short copies of im2col.  The image is copied once
 * into a zero-padded buffer [c, hp, wp]; then the im2col row of (channel,
 * ki, kj), laid out with rows wp long instead of ow, is one contiguous span
 * of that buffer: a single copy of oh * wp floats.  The GEMM computes wp - ow
 * spare columns per output row (their sources run over into the next row,
 * harmless) and the valid ones are copied out with the bias.  For LeNet's
 * convolutions this is 2-3x faster than im2col's ~1500 copies of 10 to 28
 * floats per image. */
static void forward_wide(const conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, int64_t n, float *slot)
{
    int64_t hw = g->h * g->w, phw = g->hp * g->wp, cols = g->oh * g->wp, ohw = g->oh * g->ow;
    int64_t pad_n = g->c * phw + g->dw * (g->kw - 1);
    float *pad = slot, *col = pad + conv_round16(pad_n), *product = col + conv_round16(g->kk * cols);
    conv_wide_pad(g, x + n * g->c * hw, pad);
    for (int64_t gr = 0; gr < g->group; gr++) {
        const float *pg = pad + gr * g->cg * phw;
        for (int64_t row = 0; row < g->kk; row++) {
            int64_t c = row / (g->kh * g->kw), ki = (row / g->kw) % g->kh, kj = row % g->kw;
            memcpy(col + row * cols, pg + c * phw + ki * g->dh * g->wp + kj * g->dw,
                   (size_t)cols * sizeof(float));
        }
        nn_gemm(BNN_F32, false, false, g->mg, cols, g->kk, 1.0, w + gr * g->mg * g->kk, g->kk, col,
                cols, 0.0, product, cols, NULL, NULL);
        float *yg = y + (n * g->m + gr * g->mg) * ohw;
        for (int64_t mi = 0; mi < g->mg; mi++) {
            float bv = b ? b[gr * g->mg + mi] : 0.0f;
            for (int64_t i = 0; i < g->oh; i++) {
                const float *src = product + mi * cols + i * g->wp;
                float *dst = yg + mi * ohw + i * g->ow;
                for (int64_t j = 0; j < g->ow; j++)
                    dst[j] = src[j] + bv;
            }
        }
    }
}


/* One image of the wide path, direct or through the GEMM. */
static void forward_image(const conv_geom *g, const float *x, const float *w, const float *b,
                          float *y, int64_t n, float *slot)
{
#if CONV_HAVE_DIRECT
    if (g->direct) {
        conv_forward_direct(g, x, w, b, y, n, slot);
        return;
    }
    if (g->direct16) { /* w is transposed then, see conv_forward */
        conv_forward_direct16(g, x, w, b, y, n, slot);
        return;
    }
#endif
    forward_wide(g, x, w, b, y, n, slot);
}

static bnn_status conv_forward_plain(const conv_geom *gp, const bnn_kernel_args *args);

static bnn_status conv_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    conv_geom g;
    BNN_TRY(conv_geometry(args, &g, diag));
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *b = args->n_inputs > 2 ? args->inputs[2].data : NULL;
    float *y = args->outputs[0].data;
    if (g.fast_dw) {
        conv_fast_depthwise(&g, x, w, b, y, args->scratch);
        return BNN_OK;
    }
    if (g.fast_direct) {
        conv_fast_direct(&g, x, w, b, y, args->scratch);
        return BNN_OK;
    }
    BNN_TRY(conv_forward_plain(&g, args));
    if (g.act.kind != CONV_ACT_NONE)
        conv_act_apply(&g.act, y, bnn_tensor_numel(&args->outputs[0]));
    return BNN_OK;
}

/* The training paths (and inference without AVX-512). */
static bnn_status conv_forward_plain(const conv_geom *gp, const bnn_kernel_args *args)
{
    conv_geom g = *gp;
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    const float *b = args->n_inputs > 2 ? args->inputs[2].data : NULL;
    float *y = args->outputs[0].data;
    if (g.depthwise) {
        depthwise_forward(&g, x, w, b, y);
        return BNN_OK;
    }
    float *scratch = args->scratch;
    int64_t chunks = (g.n + g.chunk - 1) / g.chunk, slot = slot_floats(&g);
    int threads = omp_get_max_threads();
    if (threads > g.slots)
        threads = (int)g.slots;
    if (g.wide) {
        /* direct16's transposed weights go where the backward keeps its
         * per-image dW ([n, m, kk], unused in the forward), slots after it */
        const float *wi = w;
        if (g.direct16) {
#if CONV_HAVE_DIRECT
            conv_direct16_weights(&g, w, scratch);
#endif
            wi = scratch;
            scratch += wide_parts_floats(&g);
        }
        if (g.slots == 1 || threads < 2 || omp_in_parallel()) {
            for (int64_t i = 0; i < g.n; i++)
                forward_image(&g, x, wi, b, y, i, scratch);
            return BNN_OK;
        }
#pragma omp parallel num_threads(threads)
        {
            float *mine = scratch + omp_get_thread_num() * slot;
#pragma omp for schedule(static)
            for (int64_t i = 0; i < g.n; i++)
                forward_image(&g, x, wi, b, y, i, mine);
        }
        return BNN_OK;
    }
    if (g.slots == 1 || threads < 2 || omp_in_parallel()) {
        for (int64_t t = 0; t < chunks; t++) {
            int64_t n0 = t * g.chunk, nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk;
            forward_chunk(&g, x, w, b, y, n0, nb, scratch, scratch + col_floats(&g));
        }
        return BNN_OK;
    }
#pragma omp parallel num_threads(threads)
    {
        float *col = scratch + omp_get_thread_num() * slot, *product = col + col_floats(&g);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < chunks; t++) {
            int64_t n0 = t * g.chunk, nb = g.n - n0 < g.chunk ? g.n - n0 : g.chunk;
            forward_chunk(&g, x, w, b, y, n0, nb, col, product);
        }
    }
    return BNN_OK;
}

/* The adjoint of forward_wide for image n: dY is spread into the wide
 * layout with zeros in the spare columns, dW_n = dY_wide . col_wide^T (this
 * image's own dW, which the caller sums over images in order),
 * and dX gathers W^T dY_wide back through the same contiguous spans into a
 * padded gradient buffer, whose interior is added to dX. */
static void backward_wide(const conv_geom *g, const float *x, const float *w, const float *gy,
                          float *gx, float *gw, int64_t n, float *slot)
{
    int64_t hw = g->h * g->w, phw = g->hp * g->wp, cols = g->oh * g->wp, ohw = g->oh * g->ow;
    int64_t pad_n = g->c * phw + g->dw * (g->kw - 1);
    float *pad = slot, *col = pad + conv_round16(pad_n), *dyw = col + conv_round16(g->kk * cols);
    const float *xn = x + n * g->c * hw;
    if (gw) {
        for (int64_t i = 0; i < pad_n; i++)
            pad[i] = 0;
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t r = 0; r < g->h; r++)
                memcpy(pad + c * phw + (r + g->ph) * g->wp + g->pw, xn + c * hw + r * g->w,
                       (size_t)g->w * sizeof(float));
    }
    for (int64_t gr = 0; gr < g->group; gr++) {
        const float *gyg = gy + (n * g->m + gr * g->mg) * ohw;
        for (int64_t mi = 0; mi < g->mg; mi++)
            for (int64_t i = 0; i < g->oh; i++) {
                float *d = dyw + mi * cols + i * g->wp;
                const float *src = gyg + mi * ohw + i * g->ow;
                for (int64_t j = 0; j < g->ow; j++)
                    d[j] = src[j];
                for (int64_t j = g->ow; j < g->wp; j++)
                    d[j] = 0;
            }
        const float *wg = w + gr * g->mg * g->kk;
        if (gw) {
            const float *pg = pad + gr * g->cg * phw;
            for (int64_t row = 0; row < g->kk; row++) {
                int64_t c = row / (g->kh * g->kw), ki = (row / g->kw) % g->kh, kj = row % g->kw;
                memcpy(col + row * cols, pg + c * phw + ki * g->dh * g->wp + kj * g->dw,
                       (size_t)cols * sizeof(float));
            }
            nn_gemm(BNN_F32, false, true, g->mg, g->kk, cols, 1.0, dyw, cols, col, cols, 0.0,
                    gw + gr * g->mg * g->kk, g->kk, NULL, NULL);
        }
        if (gx) {
            /* dcol [kk, cols] = W_g^T dY_wide, then summed into the padded gradient */
            nn_gemm(BNN_F32, true, false, g->kk, cols, g->mg, 1.0, wg, g->kk, dyw, cols, 0.0, col,
                    cols, NULL, NULL);
            float *pg = pad; /* [cg, hp, wp] of this group, plus the overrun */
            int64_t pg_n = g->cg * phw + g->dw * (g->kw - 1);
            for (int64_t i = 0; i < pg_n; i++)
                pg[i] = 0;
            for (int64_t row = 0; row < g->kk; row++) {
                int64_t c = row / (g->kh * g->kw), ki = (row / g->kw) % g->kh, kj = row % g->kw;
                float *dst = pg + c * phw + ki * g->dh * g->wp + kj * g->dw;
                const float *src = col + row * cols;
                for (int64_t j = 0; j < cols; j++)
                    dst[j] += src[j];
            }
            float *gxg = gx + (n * g->c + gr * g->cg) * hw;
            for (int64_t c = 0; c < g->cg; c++)
                for (int64_t r = 0; r < g->h; r++) {
                    const float *src = pg + c * phw + (r + g->ph) * g->wp + g->pw;
                    float *dst = gxg + c * hw + r * g->w;
                    for (int64_t j = 0; j < g->w; j++)
                        dst[j] += src[j];
                }
            if (gw && gr + 1 < g->group) { /* the next group's dW needs the image again */
                for (int64_t i = 0; i < pad_n; i++)
                    pad[i] = 0;
                for (int64_t c = 0; c < g->c; c++)
                    for (int64_t r = 0; r < g->h; r++)
                        memcpy(pad + c * phw + (r + g->ph) * g->wp + g->pw,
                               xn + c * hw + r * g->w, (size_t)g->w * sizeof(float));
            }
        }
    }
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
    if (g.wide) {
        /* images in parallel, each with its own dW; summed in image order
         * below, so dW does not depend on the thread count */
        float *scratch = args->scratch, *parts = gw ? scratch : NULL;
        float *slots = scratch + wide_parts_floats(&g);
        int64_t slot = slot_floats(&g), per = g.m * g.kk;
        int threads = omp_get_max_threads();
        if (threads > g.slots)
            threads = (int)g.slots;
        if (threads < 2 || omp_in_parallel())
            threads = 1;
#pragma omp parallel num_threads(threads)
        {
            float *mine = slots + omp_get_thread_num() * slot;
#pragma omp for schedule(static)
            for (int64_t n = 0; n < g.n; n++)
                backward_wide(&g, x, w, gy, gx, parts ? parts + n * per : NULL, n, mine);
        }
        if (gw)
            for (int64_t n = 0; n < g.n; n++)
                for (int64_t i = 0; i < per; i++)
                    gw[i] += parts[n * per + i];
        return BNN_OK;
    }
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
                        conv_im2col(&g, xg + i * xsz, col + i * ohw, ld);
                    cols = col;
                }
                nn_gemm(BNN_F32, false, true, g.mg, g.kk, ld, 1.0, gyg, ld, cols, ld, 1.0,
                        gw + gr * g.mg * g.kk, g.kk, NULL, NULL);
            }
            if (gxg) { /* dcol [kk, ld] = W_g^T . dY, scattered back by col2im */
                if (g.direct_1x1) {
                    nn_gemm(BNN_F32, true, false, g.kk, ohw, g.mg, 1.0, wg, g.kk, gyg, ohw, 1.0,
                            gxg, ohw, NULL, NULL);
                    continue;
                }
                nn_gemm(BNN_F32, true, false, g.kk, ld, g.mg, 1.0, wg, g.kk, gyg, ld, 0.0, col, ld,
                        NULL, NULL);
                for (int64_t i = 0; i < nb; i++)
                    conv_col2im_add(&g, col + i * ohw, ld, gxg + i * xsz);
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
