/* The convolution's direct AVX-512 forward paths (see conv.c's header
 * comment): LeNet-sized convolutions without im2col or a GEMM.  Chosen at run
 * time by conv_geometry, so the build needs no -march flag. */
#include "conv_impl.h"

#if CONV_HAVE_DIRECT
/* Output rows i0 .. oh of one image from its padded copy, mm filters
 * (a constant after inlining, so the accumulators stay in registers): each
 * row is two vectors of 16 columns, masked to ow, and every tap of every
 * input channel adds weight * the input span under it. */
__attribute__((target("avx512f"), always_inline)) static inline void
direct_rows(const conv_geom *g, const float *pad, const float *w, const float *b, float *yn,
            int mm)
{
    int64_t phw = g->hp * g->wp, ohw = g->oh * g->ow;
    __mmask16 k0 = (__mmask16)(g->ow >= 16 ? 0xffffu : (1u << g->ow) - 1);
    __mmask16 k1 = (__mmask16)(g->ow > 16 ? (1u << (g->ow - 16)) - 1 : 0u);
    for (int64_t i = 0; i < g->oh; i++) {
        __m512 a0[CONV_DIRECT_MAX_M], a1[CONV_DIRECT_MAX_M];
#pragma GCC unroll 8
        for (int m = 0; m < mm; m++)
            a0[m] = a1[m] = _mm512_set1_ps(b ? b[m] : 0.0f);
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ki = 0; ki < g->kh; ki++) {
                const float *row = pad + c * phw + (i + ki * g->dh) * g->wp;
                const float *wr = w + (c * g->kh + ki) * g->kw;
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    const float *s = row + kj * g->dw;
                    __m512 x0 = _mm512_maskz_loadu_ps(k0, s);
                    __m512 x1 = _mm512_maskz_loadu_ps(k1, s + 16);
#pragma GCC unroll 8
                    for (int m = 0; m < mm; m++) {
                        __m512 wv = _mm512_set1_ps(wr[m * g->kk + kj]);
                        a0[m] = _mm512_fmadd_ps(wv, x0, a0[m]);
                        a1[m] = _mm512_fmadd_ps(wv, x1, a1[m]);
                    }
                }
            }
#pragma GCC unroll 8
        for (int m = 0; m < mm; m++) {
            float *d = yn + m * ohw + i * g->ow;
            _mm512_mask_storeu_ps(d, k0, a0[m]);
            _mm512_mask_storeu_ps(d + 16, k1, a1[m]);
        }
    }
}

/* The direct path for image n (g->direct): no im2col matrix and no GEMM. */
__attribute__((target("avx512f"))) void conv_forward_direct(const conv_geom *g, const float *x,
                                                              const float *w, const float *b,
                                                              float *y, int64_t n, float *slot)
{
    conv_wide_pad(g, x + n * g->c * g->h * g->w, slot);
    float *yn = y + n * g->m * g->oh * g->ow;
    switch (g->m) { /* a constant filter count for the unrolled loops */
    case 1: direct_rows(g, slot, w, b, yn, 1); break;
    case 2: direct_rows(g, slot, w, b, yn, 2); break;
    case 3: direct_rows(g, slot, w, b, yn, 3); break;
    case 4: direct_rows(g, slot, w, b, yn, 4); break;
    case 5: direct_rows(g, slot, w, b, yn, 5); break;
    case 6: direct_rows(g, slot, w, b, yn, 6); break;
    case 7: direct_rows(g, slot, w, b, yn, 7); break;
    default: direct_rows(g, slot, w, b, yn, 8); break;
    }
}
#endif

#if CONV_HAVE_DIRECT
/* wt [kk, 16]: the weights [16, kk] transposed, one vector per tap. */
void conv_direct16_weights(const conv_geom *g, const float *w, float *wt)
{
    for (int64_t t = 0; t < g->kk; t++)
        for (int64_t m = 0; m < 16; m++)
            wt[t * 16 + m] = w[m * g->kk + t];
}

/* Image n with 16 filters: output positions (flattened, valid ones only) in
 * blocks of 8, one accumulator vector of 16 filters each; every tap adds its
 * weight vector times the input under each position.  The last block repeats
 * its last position and stores only the valid ones.  The block is put back
 * into y's [16, oh*ow] layout through tmp [8, 16]. */
__attribute__((target("avx512f"))) void conv_forward_direct16(const conv_geom *g,
                                                                const float *x, const float *wt,
                                                                const float *b, float *y,
                                                                int64_t n, float *slot)
{
    enum { NB = 8 };
    int64_t phw = g->hp * g->wp, ohw = g->oh * g->ow;
    float *pad = slot, *tmp = slot + conv_round16(g->c * phw + g->dw * (g->kw - 1));
    conv_wide_pad(g, x + n * g->c * g->h * g->w, pad);
    float *yn = y + n * 16 * ohw;
    __m512 bias = b ? _mm512_loadu_ps(b) : _mm512_setzero_ps();
    for (int64_t q0 = 0; q0 < ohw; q0 += NB) {
        const float *base[NB];
        __m512 acc[NB];
#pragma GCC unroll 8
        for (int j = 0; j < NB; j++) {
            int64_t q = q0 + j < ohw ? q0 + j : ohw - 1;
            base[j] = pad + q / g->ow * g->wp + q % g->ow;
            acc[j] = bias;
        }
        const float *wv = wt;
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ki = 0; ki < g->kh; ki++) {
                int64_t off0 = c * phw + ki * g->dh * g->wp;
                for (int64_t kj = 0; kj < g->kw; kj++, wv += 16) {
                    int64_t off = off0 + kj * g->dw;
                    __m512 wvec = _mm512_loadu_ps(wv);
#pragma GCC unroll 8
                    for (int j = 0; j < NB; j++)
                        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(base[j][off]), wvec, acc[j]);
                }
            }
#pragma GCC unroll 8
        for (int j = 0; j < NB; j++)
            _mm512_storeu_ps(tmp + j * 16, acc[j]);
        int64_t nb = ohw - q0 < NB ? ohw - q0 : NB;
        for (int64_t m = 0; m < 16; m++)
            for (int64_t j = 0; j < nb; j++)
                yn[m * ohw + q0 + j] = tmp[j * 16 + m];
    }
}
#endif
