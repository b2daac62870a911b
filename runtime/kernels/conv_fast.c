/* The convolution's inference forward paths (issue 14): a depthwise kernel
 * and a direct kernel for every other convolution, both AVX-512, neither
 * with an im2col matrix or a GEMM call.  conv_geometry (conv.c) picks them
 * when the CPU has AVX-512 and the session does not train, so a training
 * step's forward keeps the paths its backward was written against.
 *
 * Both read the input through its stride phases: for a stride (sh, sw), the
 * zero-padded plane of a channel is cut into sh * sw phase planes, phase
 * (a, b) holding the padded plane's rows a, a + sh, ... and columns b,
 * b + sw, ....  Tap (ki, kj) of output (i, j) then reads phase
 * ((ki dh) % sh, (kj dw) % sw) at row i + (ki dh) / sh and column
 * j + (kj dw) / sw: a plain shifted read.  Outputs are computed in rows of
 * W = ow + (kw - 1) dw / sw floats (the phase planes' row length), the
 * spare W - ow columns of each row computed and dropped, so that every tap
 * is one contiguous span of R x W floats for all outputs at once and the
 * loops run in full vectors whatever ow is (7 or 14 on the last layers of
 * the published conv nets, where row-by-row vectors waste most lanes).
 * For stride 1 the only phase is the padded plane; a 1x1 unpadded
 * convolution of stride 1 reads the input itself.
 *
 * The depthwise kernel keeps, per channel, 64 outputs in four vectors over
 * all taps (a fused multiply-add per tap in (ki, kj) order after the bias,
 * so its last bits differ from the training path's separate multiply and
 * add).  The direct kernel keeps
 * 6 filters x 64 outputs in 24 vectors, each tap one broadcast weight per
 * filter and one load of 16 inputs per vector (fused multiply-adds, over
 * channels and then taps in order), and writes them out through a small
 * buffer with the bias in it from the start and the fused activation last.
 * It reads the weights in place: nothing is packed per call. */
#include <omp.h>
#include <string.h>

#include "conv_impl.h"

/* Floats after the direct kernel's phases that a block's last vectors may
 * read (and drop). */
#define FAST_SLACK 64

/* Floats of the phase planes of one channel and their layout. */
typedef struct fast_phases {
    int64_t rows, width; /* R, W: rows and row length of one phase plane */
    int64_t plane;       /* floats from one phase plane to the next */
    int64_t count;       /* phases per channel: sh * sw */
    int64_t chan;        /* floats from one channel's phases to the next */
    bool in_place;       /* 1x1, stride 1, unpadded: the input is its own phase */
} fast_phases;

static void phases_of(const conv_geom *g, fast_phases *p)
{
    p->in_place = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
                  g->pw == 0 && g->oh == g->h && g->ow == g->w;
    if (p->in_place) {
        p->rows = g->h;
        p->width = g->w;
        p->plane = p->chan = g->h * g->w;
        p->count = 1;
        return;
    }
    int64_t sc = (g->kw - 1) * g->dw / g->sw;
    p->rows = g->oh + (g->kh - 1) * g->dh / g->sh;
    p->width = g->ow + sc;
    /* the spare columns of the last row read up to sc floats past the plane */
    p->plane = conv_round16(p->rows * p->width + sc);
    p->count = g->sh * g->sw;
    p->chan = p->count * p->plane;
}

/* Offset of tap (ki, kj) within a channel's phases. */
static int64_t tap_offset(const conv_geom *g, const fast_phases *p, int64_t ki, int64_t kj)
{
    int64_t a = ki * g->dh % g->sh, sr = ki * g->dh / g->sh;
    int64_t b = kj * g->dw % g->sw, sc = kj * g->dw / g->sw;
    return (a * g->sw + b) * p->plane + sr * p->width + sc;
}

#if CONV_HAVE_DIRECT
static void gather2(const float *xr, float *d, int64_t lo, int64_t hi);
#endif

/* The phases of one channel plane xc [h, w] into dst. */
static void build_phases(const conv_geom *g, const fast_phases *p, const float *xc, float *dst)
{
    int64_t W = p->width;
    for (int64_t a = 0; a < g->sh; a++)
        for (int64_t b = 0; b < g->sw; b++) {
            float *P = dst + (a * g->sw + b) * p->plane;
            int64_t lo, hi; /* columns c whose source c sw + b - pw is inside the row */
            nn_valid_range(g->pw, b, g->sw, g->w, W, &lo, &hi);
            for (int64_t r = 0; r < p->rows; r++) {
                float *d = P + r * W;
                int64_t row = r * g->sh + a - g->ph;
                if (row < 0 || row >= g->h) {
                    memset(d, 0, (size_t)W * sizeof(float));
                    continue;
                }
                const float *xr = xc + row * g->w + b - g->pw;
                for (int64_t c = 0; c < lo; c++)
                    d[c] = 0;
                if (g->sw == 1)
                    memcpy(d + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
#if CONV_HAVE_DIRECT
                else if (g->sw == 2)
                    gather2(xr, d, lo, hi);
#endif
                else
                    for (int64_t c = lo; c < hi; c++)
                        d[c] = xr[c * g->sw];
                for (int64_t c = hi; c < W; c++)
                    d[c] = 0;
            }
            memset(P + p->rows * W, 0, (size_t)(p->plane - p->rows * W) * sizeof(float));
        }
}

#if CONV_HAVE_DIRECT
static void act_apply_vec(const conv_act *act, float *v, int64_t n);
#endif

void conv_act_apply(const conv_act *act, float *v, int64_t n)
{
#if CONV_HAVE_DIRECT
    if (act->kind != CONV_ACT_NONE && __builtin_cpu_supports("avx512f")) {
        act_apply_vec(act, v, n);
        return;
    }
#endif
    switch (act->kind) {
    case CONV_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > 0 ? v[i] : (v[i] != v[i] ? v[i] : 0.0f);
        break;
    case CONV_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float t = v[i] < act->a ? act->a : v[i];
            v[i] = t > act->b ? act->b : t;
        }
        break;
    case CONV_ACT_LEAKY:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] >= 0 ? v[i] : act->a * v[i];
        break;
    case CONV_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            float s = v[i] / 6.0f + 0.5f;
            s = s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
            v[i] = v[i] * s;
        }
        break;
    case CONV_ACT_HSIG_MUL:
        for (int64_t i = 0; i < n; i++) {
            float s = act->a * v[i] + act->b;
            s = s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
            v[i] = v[i] * s;
        }
        break;
    default: break;
    }
}

/* Scratch of the depthwise kernel per slot: the phases and the wide plane. */
static int64_t dw_slot_floats(const conv_geom *g, const fast_phases *p)
{
    return p->chan + (g->oh * p->width + 63) / 64 * 64;
}

/* Images whose phases the direct kernel builds at once, and its tap table. */
static int64_t direct_chunk(const conv_geom *g, const fast_phases *p)
{
    if (p->in_place)
        return g->n;
    int64_t per = g->c * p->chan, chunk = per > 0 ? CONV_CHUNK_FLOATS / per : g->n;
    return chunk < 1 ? 1 : chunk > g->n ? g->n : chunk;
}

static int64_t fast_slots(const conv_geom *g)
{
    int64_t procs = omp_get_num_procs(), planes = g->n * g->c;
    int64_t s = procs < CONV_MAX_SLOTS ? procs : CONV_MAX_SLOTS;
    return s > planes ? (planes > 0 ? planes : 1) : s;
}

/* Depthwise by rows (below): column stride 1 or 2, rows of at least
 * DW_ROW_MIN outputs, a mask table of at most DW_ROW_MAX_MASKS. */
#define DW_ROW_MIN 12
#define DW_ROW_MAX_MASKS 4096

static bool dw_by_rows(const conv_geom *g)
{
    return (g->sw == 1 || g->sw == 2) && g->ow >= DW_ROW_MIN &&
           2 * g->kw * ((g->ow + 15) / 16) <= DW_ROW_MAX_MASKS;
}

int64_t conv_fast_scratch_floats(const conv_geom *g)
{
    fast_phases p;
    phases_of(g, &p);
    if (g->fast_dw) /* the row kernel needs none */
        return dw_by_rows(g) ? 0 : dw_slot_floats(g, &p) * fast_slots(g);
    if (g->fast_direct) {
        int64_t taps = conv_round16(2 * g->kh * g->kw); /* int64 offsets */
        return taps + (p.in_place ? 0 : direct_chunk(g, &p) * g->c * p.chan + FAST_SLACK);
    }
    return 0;
}

#if CONV_HAVE_DIRECT
#define AVX512 __attribute__((target("avx512f")))

/* Masks of the four vectors of outputs [q0, q0 + 64) below nq. */
AVX512 static inline void block_masks(int64_t q0, int64_t nq, __mmask16 k[4])
{
    for (int u = 0; u < 4; u++) {
        int64_t rem = nq - q0 - 16 * u;
        k[u] = (__mmask16)(rem >= 16 ? 0xffffu : rem > 0 ? (1u << rem) - 1 : 0u);
    }
}

/* The epilogue on one vector: the float operations of conv_act_apply. */
AVX512 static inline __m512 act_vec(const conv_act *act, __m512 v)
{
    __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), s;
    __mmask16 m;
    switch (act->kind) {
    case CONV_ACT_RELU: /* v > 0 or NaN: v, else 0 */
        m = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        return _mm512_maskz_mov_ps(m, v);
    case CONV_ACT_CLIP:
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(act->a), _CMP_LT_OQ), v,
                                 _mm512_set1_ps(act->a));
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(act->b), _CMP_GT_OQ), v,
                                    _mm512_set1_ps(act->b));
    case CONV_ACT_LEAKY:
        m = _mm512_cmp_ps_mask(v, zero, _CMP_GE_OQ);
        return _mm512_mask_blend_ps(m, _mm512_mul_ps(_mm512_set1_ps(act->a), v), v);
    case CONV_ACT_HARDSWISH:
    case CONV_ACT_HSIG_MUL:
        if (act->kind == CONV_ACT_HARDSWISH)
            s = _mm512_add_ps(_mm512_div_ps(v, _mm512_set1_ps(6.0f)), _mm512_set1_ps(0.5f));
        else
            s = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(act->a), v), _mm512_set1_ps(act->b));
        s = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(s, zero, _CMP_LT_OQ), s, zero);
        s = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(s, one, _CMP_GT_OQ), s, one);
        return _mm512_mul_ps(v, s);
    default: return v;
    }
}

AVX512 static void act_apply_vec(const conv_act *act, float *v, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(v + i, act_vec(act, _mm512_loadu_ps(v + i)));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(v + i, k, act_vec(act, _mm512_maskz_loadu_ps(k, v + i)));
    }
}

/* Rows of the wide layout [q0, q0 + n) (row length W) into y's [oh, ow]
 * plane, valid columns only, through the epilogue. */
AVX512 static void copy_out_vec(const conv_geom *g, const conv_act *act, int64_t W,
                                const float *src, int64_t q0, int64_t n, float *yp)
{
    int64_t i0 = q0 / W, i1 = (q0 + n - 1) / W;
    if (i1 >= g->oh)
        i1 = g->oh - 1;
    for (int64_t i = i0; i <= i1; i++) {
        int64_t j0 = q0 - i * W > 0 ? q0 - i * W : 0;
        int64_t j1 = q0 + n - i * W < g->ow ? q0 + n - i * W : g->ow;
        const float *s = src + i * W - q0;
        float *d = yp + i * g->ow;
        for (int64_t j = j0; j < j1; j += 16) {
            int64_t rem = j1 - j;
            __mmask16 k = (__mmask16)(rem >= 16 ? 0xffffu : (1u << rem) - 1);
            _mm512_mask_storeu_ps(d + j, k, act_vec(act, _mm512_maskz_loadu_ps(k, s + j)));
        }
    }
}

/* Phase row d [lo, hi) = xr [2 lo, 2 hi) step 2: even lanes of pairs of vectors. */
AVX512 static void gather2(const float *xr, float *d, int64_t lo, int64_t hi)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    for (int64_t c = lo; c < hi; c += 16) {
        int64_t n = hi - c < 16 ? hi - c : 16, span = 2 * n - 1; /* floats read */
        __mmask16 k0 = (__mmask16)(span >= 16 ? 0xffffu : (1u << span) - 1);
        __mmask16 k1 = (__mmask16)(span > 16 ? (1u << (span - 16)) - 1 : 0u);
        __m512 a = _mm512_maskz_loadu_ps(k0, xr + 2 * c);
        __m512 b = _mm512_maskz_loadu_ps(k1, xr + 2 * c + 16);
        __mmask16 kn = (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1);
        _mm512_mask_storeu_ps(d + c, kn, _mm512_permutex2var_ps(a, even, b));
    }
}

/* One channel: wide [oh * W] (rounded up to 64) from its phases. */
AVX512 static void dw_plane(const conv_geom *g, const fast_phases *p, const float *ph,
                            const float *wc, float bias, const int64_t *offs, float *wide)
{
    int64_t nq = g->oh * p->width, taps = g->kh * g->kw;
    __m512 bv = _mm512_set1_ps(bias);
    for (int64_t q0 = 0; q0 < nq; q0 += 64) {
        __mmask16 k[4];
        block_masks(q0, nq, k);
        __m512 a0 = bv, a1 = bv, a2 = bv, a3 = bv;
        for (int64_t t = 0; t < taps; t++) {
            const float *s = ph + offs[t] + q0;
            __m512 wv = _mm512_set1_ps(wc[t]);
            a0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(k[0], s), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(k[1], s + 16), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(k[2], s + 32), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(k[3], s + 48), a3);
        }
        _mm512_storeu_ps(wide + q0, a0);
        _mm512_storeu_ps(wide + q0 + 16, a1);
        _mm512_storeu_ps(wide + q0 + 32, a2);
        _mm512_storeu_ps(wide + q0 + 48, a3);
    }
}

/* Column stride 1 or 2, rows of at least DW_ROW_MIN outputs: straight from
 * the input into y, a row at a time, NV vectors (a constant after inlining)
 * from vector v0 of the row; masks [kw][nvec][sw] keep the lanes whose
 * source column is inside the row (the pads read zeros: masked-off lanes
 * load nothing); at stride 2 each vector is the even lanes of two loads. */

AVX512 __attribute__((always_inline)) static inline void
dw_row_block(const conv_geom *g, const float *xp, const float *wc, float bias, float *yr,
             int64_t i, int64_t v0, int64_t nvec, const __mmask16 *masks, int nv, int64_t sw,
             int64_t kw)
{
    const int64_t kh = g->kh, h = g->h, w = g->w, dh = g->dh, dw = g->dw;
    const int64_t ih0 = i * g->sh - g->ph, base = -g->pw + 16 * sw * v0;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    __m512 acc[4];
#pragma GCC unroll 4
    for (int u = 0; u < nv; u++)
        acc[u] = _mm512_set1_ps(bias);
    for (int64_t ki = 0; ki < kh; ki++) {
        int64_t ih = ih0 + ki * dh;
        if (ih < 0 || ih >= h)
            continue;
        const float *xr = xp + ih * w + base;
#pragma GCC unroll 5
        for (int64_t kj = 0; kj < kw; kj++) {
            __m512 wv = _mm512_set1_ps(wc[ki * kw + kj]);
            const float *src = xr + kj * dw;
            const __mmask16 *mk = masks + sw * (kj * nvec + v0);
            if (sw == 1) {
#pragma GCC unroll 4
                for (int u = 0; u < nv; u++)
                    acc[u] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mk[u], src + 16 * u),
                                             acc[u]);
            } else { /* stride 2: the even lanes of 32 source floats, masks in pairs */
#pragma GCC unroll 4
                for (int u = 0; u < nv; u++) {
                    __m512 a = _mm512_maskz_loadu_ps(mk[2 * u], src + 32 * u);
                    __m512 c = _mm512_maskz_loadu_ps(mk[2 * u + 1], src + 32 * u + 16);
                    acc[u] = _mm512_fmadd_ps(wv, _mm512_permutex2var_ps(a, even, c), acc[u]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int u = 0; u < nv; u++) {
        int64_t rem = g->ow - 16 * (v0 + u);
        __mmask16 k = (__mmask16)(rem >= 16 ? 0xffffu : (1u << rem) - 1);
        _mm512_mask_storeu_ps(yr + 16 * (v0 + u), k, act_vec(&g->act, acc[u]));
    }
}

/* All rows of one plane; the column stride and a window width of 3 or 5
 * as constants after inlining (the taps' loop unrolled). */
AVX512 __attribute__((always_inline)) static inline void
dw_rows_k(const conv_geom *g, const float *xp, const float *wc, float bias, float *yp,
          int64_t nvec, const __mmask16 *masks, int64_t sw, int64_t kw)
{
    for (int64_t i = 0; i < g->oh; i++)
        for (int64_t v0 = 0; v0 < nvec; v0 += 4) {
            float *yr = yp + i * g->ow;
            switch (nvec - v0 >= 4 ? 4 : nvec - v0) {
            case 1: dw_row_block(g, xp, wc, bias, yr, i, v0, nvec, masks, 1, sw, kw); break;
            case 2: dw_row_block(g, xp, wc, bias, yr, i, v0, nvec, masks, 2, sw, kw); break;
            case 3: dw_row_block(g, xp, wc, bias, yr, i, v0, nvec, masks, 3, sw, kw); break;
            default: dw_row_block(g, xp, wc, bias, yr, i, v0, nvec, masks, 4, sw, kw); break;
            }
        }
}

AVX512 static void dw_rows(const conv_geom *g, const float *xp, const float *wc, float bias,
                           float *yp, int64_t nvec, const __mmask16 *masks)
{
    if (g->sw == 1) {
        if (g->kw == 3)
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 1, 3);
        else if (g->kw == 5)
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 1, 5);
        else
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 1, g->kw);
    } else {
        if (g->kw == 3)
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 2, 3);
        else if (g->kw == 5)
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 2, 5);
        else
            dw_rows_k(g, xp, wc, bias, yp, nvec, masks, 2, g->kw);
    }
}

void conv_fast_depthwise(const conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, float *scratch)
{
    fast_phases p;
    phases_of(g, &p);
    if (dw_by_rows(g)) {
        int64_t nvec = (g->ow + 15) / 16, taps = g->kh * g->kw, planes = g->n * g->c;
        int64_t ohw = g->oh * g->ow;
        /* per tap column and vector of outputs: the source lanes inside the
         * row (stride 2: the 32 source floats of 16 outputs, two masks) */
        int64_t per = g->sw; /* masks per vector */
        __mmask16 masks[per * g->kw * nvec];
        for (int64_t kj = 0; kj < g->kw; kj++)
            for (int64_t v = 0; v < nvec; v++)
                for (int64_t h = 0; h < per; h++) {
                    int64_t s0 = 16 * per * v + 16 * h + kj * g->dw - g->pw; /* lane 0's column */
                    unsigned bits = 0;
                    for (int l = 0; l < 16; l++)
                        if (s0 + l >= 0 && s0 + l < g->w && (16 * per * v + 16 * h + l) / per < g->ow)
                            bits |= 1u << l;
                    masks[per * (kj * nvec + v) + h] = (__mmask16)bits;
                }
        bool par = !omp_in_parallel() && planes * ohw * taps > NN_OMP_MIN_WORK;
#pragma omp parallel for schedule(dynamic, 4) if (par)
        for (int64_t q = 0; q < planes; q++) {
            int64_t c = q % g->c;
            dw_rows(g, x + q * g->h * g->w, w + c * taps, b ? b[c] : 0.0f, y + q * ohw, nvec,
                    masks);
        }
        return;
    }
    int64_t taps = g->kh * g->kw, planes = g->n * g->c, ohw = g->oh * g->ow;
    int64_t slot = dw_slot_floats(g, &p), slots = fast_slots(g);
    int64_t offs[taps > 0 ? taps : 1];
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++)
            offs[ki * g->kw + kj] = tap_offset(g, &p, ki, kj);
    int threads = omp_get_max_threads();
    if (threads > slots)
        threads = (int)slots;
    if (omp_in_parallel() || planes * ohw * taps <= NN_OMP_MIN_WORK)
        threads = 1;
#pragma omp parallel num_threads(threads)
    {
        float *ph = scratch + omp_get_thread_num() * slot, *wide = ph + p.chan;
#pragma omp for schedule(dynamic, 4)
        for (int64_t q = 0; q < planes; q++) {
            int64_t c = q % g->c;
            const float *xc = x + q * g->h * g->w;
            if (!p.in_place)
                build_phases(g, &p, xc, ph);
            dw_plane(g, &p, p.in_place ? xc : ph, w + c * taps, b ? b[c] : 0.0f, offs, wide);
            copy_out_vec(g, &g->act, p.width, wide, 0, g->oh * p.width, y + q * ohw);
        }
    }
}

/* MM filters x NV vectors of outputs from q0 (constants after inlining):
 * wm [MM rows kk apart], phases of the group's first channel at ph. */
AVX512 __attribute__((always_inline)) static inline void
direct_block(const conv_geom *g, const fast_phases *p, const float *ph, const float *wm,
             const float *bias, const int64_t *offs, int64_t q0, int64_t nq, float *tmp, float *yout,
             int mm, int nv, bool full)
{
    enum { MAXM = 6, MAXV = 4 };
    int64_t ohw = g->oh * g->ow;
    __mmask16 k[MAXV];
    block_masks(q0, nq, k);
    __m512 acc[MAXM][MAXV];
#pragma GCC unroll 6
    for (int m = 0; m < mm; m++) {
        __m512 bv = _mm512_set1_ps(bias ? bias[m] : 0.0f);
#pragma GCC unroll 4
        for (int u = 0; u < nv; u++)
            acc[m][u] = bv;
    }
    int64_t taps = g->kh * g->kw;
    for (int64_t c = 0; c < g->cg; c++) {
        const float *pc = ph + c * p->chan + q0, *wc = wm + c * taps;
        for (int64_t t = 0; t < taps; t++) {
            const float *s = pc + offs[t];
            __m512 x[MAXV];
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++)
                x[u] = full ? _mm512_loadu_ps(s + 16 * u) : _mm512_maskz_loadu_ps(k[u], s + 16 * u);
#pragma GCC unroll 6
            for (int m = 0; m < mm; m++) {
                __m512 wv = _mm512_set1_ps(wc[m * g->kk + t]);
#pragma GCC unroll 4
                for (int u = 0; u < nv; u++)
                    acc[m][u] = _mm512_fmadd_ps(wv, x[u], acc[m][u]);
            }
        }
    }
    if (yout) { /* rows of W == ow floats: y's own layout */
#pragma GCC unroll 6
        for (int m = 0; m < mm; m++)
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++)
                _mm512_mask_storeu_ps(yout + m * ohw + q0 + 16 * u, k[u],
                                      act_vec(&g->act, acc[m][u]));
        return;
    }
#pragma GCC unroll 6
    for (int m = 0; m < mm; m++)
#pragma GCC unroll 4
        for (int u = 0; u < nv; u++)
            _mm512_storeu_ps(tmp + m * 64 + 16 * u, acc[m][u]);
}

#define DIRECT_NV(MM, FULL)                                                                \
    switch (nv) {                                                                          \
    case 1: direct_block(g, p, ph, wm, bias, offs, q0, nq, tmp, yout, MM, 1, FULL); break; \
    case 2: direct_block(g, p, ph, wm, bias, offs, q0, nq, tmp, yout, MM, 2, FULL); break; \
    case 3: direct_block(g, p, ph, wm, bias, offs, q0, nq, tmp, yout, MM, 3, FULL); break; \
    default: direct_block(g, p, ph, wm, bias, offs, q0, nq, tmp, yout, MM, 4, FULL); break; \
    }
#define DIRECT_MM(FULL)                     \
    switch (mm) {                           \
    case 1: DIRECT_NV(1, FULL) break;       \
    case 2: DIRECT_NV(2, FULL) break;       \
    case 3: DIRECT_NV(3, FULL) break;       \
    case 4: DIRECT_NV(4, FULL) break;       \
    case 5: DIRECT_NV(5, FULL) break;       \
    default: DIRECT_NV(6, FULL) break;      \
    }

/* The block's filter and vector counts as constants for the unrolled loops:
 * the last block of a map takes only the vectors it needs.  Loads past the
 * last output are masked off only where they could leave the buffer: the
 * input itself (in place); phases have FAST_SLACK floats after them. */
AVX512 static void direct_item(const conv_geom *g, const fast_phases *p, const float *ph,
                               const float *wm, const float *bias, const int64_t *offs,
                               int64_t q0, int64_t nq, float *tmp, float *yout, int mm)
{
    int nv = nq - q0 >= 64 ? 4 : (int)((nq - q0 + 15) / 16);
    if (!p->in_place || nq - q0 >= 64) {
        DIRECT_MM(true)
    } else {
        DIRECT_MM(false)
    }
}
#undef DIRECT_MM
#undef DIRECT_NV

void conv_fast_direct(const conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *scratch)
{
    enum { MB = 6 };
    fast_phases p;
    phases_of(g, &p);
    int64_t taps = g->kh * g->kw, ohw = g->oh * g->ow, nq = g->oh * p.width;
    int64_t *offs = (int64_t *)scratch;
    float *phases = scratch + conv_round16(2 * taps);
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++)
            offs[ki * g->kw + kj] = tap_offset(g, &p, ki, kj);
    int64_t chunk = direct_chunk(g, &p), xsz = g->c * g->h * g->w;
    int64_t nqb = (nq + 63) / 64, nmb = (g->mg + MB - 1) / MB;
    /* One parallel region for the whole call (a join less per chunk, which
     * on a busy host waits for a descheduled thread); the blocks are dealt
     * dynamically, so a thread that starts late takes fewer.  Each block's
     * result is the same whichever thread computes it. */
    bool par = !omp_in_parallel() && omp_get_max_threads() > 1 &&
               g->n * g->m * nq * g->kk > NN_OMP_MIN_WORK;
#pragma omp parallel if (par)
    for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {
        int64_t nb = g->n - n0 < chunk ? g->n - n0 : chunk;
        const float *src = x + n0 * xsz;
        if (!p.in_place) {
            int64_t planes = nb * g->c;
#pragma omp for schedule(static)
            for (int64_t q = 0; q < planes; q++)
                build_phases(g, &p, src + q * g->h * g->w, phases + q * p.chan);
            src = phases;
        }
        /* items: image, group, block of 64 outputs, block of MB filters (innermost,
         * so that consecutive items read the same inputs) */
        int64_t items = nb * g->group * nqb * nmb;
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            float tmp[MB * 64] __attribute__((aligned(64)));
            int64_t mb = it % nmb, qb = it / nmb % nqb, gr = it / nmb / nqb % g->group;
            int64_t n = it / nmb / nqb / g->group;
            int64_t m0 = gr * g->mg + mb * MB, mm = g->mg - mb * MB < MB ? g->mg - mb * MB : MB;
            const float *ph = src + (n * g->c + gr * g->cg) * p.chan;
            const float *bias = b ? b + m0 : NULL;
            float *yn = y + ((n0 + n) * g->m + m0) * ohw;
            bool rows = p.width == g->ow; /* no spare columns: store in place */
            direct_item(g, &p, ph, w + m0 * g->kk, bias, offs, qb * 64, nq, tmp,
                        rows ? yn : NULL, (int)mm);
            if (rows)
                continue;
            int64_t cnt = nq - qb * 64 < 64 ? nq - qb * 64 : 64;
            for (int64_t m = 0; m < mm; m++)
                copy_out_vec(g, &g->act, p.width, tmp + m * 64, qb * 64, cnt, yn + m * ohw);
        }
    }
}
#else
void conv_fast_depthwise(const conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, float *scratch)
{
    (void)g, (void)x, (void)w, (void)b, (void)y, (void)scratch;
}

void conv_fast_direct(const conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *scratch)
{
    (void)g, (void)x, (void)w, (void)b, (void)y, (void)scratch;
}
#endif
