/* Philox4x32-10 and the uniform and normal draws built on it (see rng.h for
 * the keying).
 *
 * Speed matters here: a Bayesian layer draws one normal per weight on every
 * forward pass.  Blocks are generated BATCH at a time in structure-of-arrays
 * form so that the compiler vectorises the rounds (32x32->64-bit products),
 * and Box-Muller uses its own log and sincos, polynomials in plain float
 * arithmetic that also vectorise; they are accurate to a few ulp, far below
 * what sampling needs, and give the same bits on every x86-64 machine and for
 * every thread count (no library calls whose results may vary by CPU). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rng.h"
#include "kernels/vecmath.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void bnn_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

enum { BATCH = 64 }; /* blocks per batch: 256 values */

/* The batch functions are inlined into both group functions below: one
 * compiled for the x86-64 baseline, one for AVX2 (twice the lanes for the
 * rounds' 32x32->64-bit products and the polynomials); the same integer and
 * float operations in the same order, so the same bits either way. */
#define RNG_INLINE static inline __attribute__((always_inline))

/* Blocks b0 .. b0+BATCH-1 of the stream; x[k][j] is lane k of block b0+j,
 * identical to bnn_philox4x32_10 on that block's counter. */
RNG_INLINE void philox_batch(const bnn_rng_stream *s, uint64_t b0, uint32_t x[4][BATCH])
{
    uint32_t *c0 = x[0], *c1 = x[1], *c2 = x[2], *c3 = x[3];
    for (int j = 0; j < BATCH; j++) {
        c0[j] = (uint32_t)(b0 + (uint64_t)j);
        c1[j] = s->tag;
        c2[j] = (uint32_t)s->step;
        c3[j] = (uint32_t)(s->step >> 32);
    }
    uint32_t k0 = (uint32_t)s->seed, k1 = (uint32_t)(s->seed >> 32);
    for (int round = 0; round < 10; round++) {
        for (int j = 0; j < BATCH; j++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c1[j] = (uint32_t)p1;
            c3[j] = (uint32_t)p0;
            c0[j] = n0;
            c2[j] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

static inline float bits_to_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline uint32_t float_to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* -2 ln(u) for u = (x >> 1 + 0.5) 2^-31 in (0, 1): never 0, so the log is
 * finite and the normals reach 6.6 sigma.  ln u = e ln 2 + ln m with
 * m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(t), t = (m - 1) / (m + 1). */
static inline float minus_two_log_unit(uint32_t x)
{
    float u = ((float)(int32_t)(x >> 1) + 0.5f) * (1.0f / 2147483648.0f);
    uint32_t b = float_to_bits(u);
    int32_t e = (int32_t)(b >> 23) - 127;
    float m = bits_to_float((b & 0x007fffffu) | 0x3f800000u);
    int32_t big = m > 1.41421356f; /* arithmetic, not a branch: it vectorises */
    m *= 1.0f - 0.5f * (float)big;
    e += big;
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float p = 1.0f / 11;
    p = p * t2 + 1.0f / 9;
    p = p * t2 + 1.0f / 7;
    p = p * t2 + 1.0f / 5;
    p = p * t2 + 1.0f / 3;
    p = p * t2 + 1.0f;
    float ln = (float)e * 0.693147180559945309f + 2.0f * t * p;
    return -2.0f * ln;
}

/* sin and cos of 2 pi u, u = (x >> 8 + 0.5) 2^-24 in (0, 1): the top two bits
 * pick the quadrant, the next 22 the angle a within it, written as
 * pi/4 + d with |d| <= pi/4 where the Taylor series converge fast. */
static inline void sincos_unit(uint32_t x, float *s_out, float *c_out)
{
    uint32_t q = x >> 30;
    float t = ((float)((x >> 8) & 0x3fffffu) + 0.5f) * (1.0f / 4194304.0f); /* [0, 1) */
    float d = (t - 0.5f) * 1.57079632679489662f;
    float d2 = d * d;
    float sd = d * (1.0f + d2 * (-1.0f / 6 + d2 * (1.0f / 120 + d2 * (-1.0f / 5040 + d2 * (1.0f / 362880)))));
    float cd = 1.0f + d2 * (-0.5f + d2 * (1.0f / 24 + d2 * (-1.0f / 720 + d2 * (1.0f / 40320 + d2 * (-1.0f / 3628800)))));
    const float r = 0.707106781186547524f; /* sin(pi/4 + d) and cos(pi/4 + d) */
    float sa = (sd + cd) * r, ca = (cd - sd) * r;
    /* rotate by q quarter turns */
    float s = q == 0 ? sa : q == 1 ? ca : q == 2 ? -sa : -ca;
    float c = q == 0 ? ca : q == 1 ? -sa : q == 2 ? -ca : sa;
    *s_out = s;
    *c_out = c;
}

/* sqrt of each element, correctly rounded (so the same bits either way):
 * a plain loop where sqrtf sets no errno (-fno-math-errno, the runtime's
 * build), which vectorises at the caller's width (16 lanes for AVX-512);
 * else SSE2 where available, because sqrtf's errno handling stops
 * vectorisation. */
RNG_INLINE void sqrt_array(float *a, int n)
{
#if defined(__NO_MATH_ERRNO__)
    for (int j = 0; j < n; j++)
        a[j] = sqrtf(a[j]);
#elif defined(__SSE2__)
    int j = 0;
    for (; j + 4 <= n; j += 4)
        _mm_storeu_ps(a + j, _mm_sqrt_ps(_mm_loadu_ps(a + j)));
    for (; j < n; j++)
        a[j] = sqrtf(a[j]);
#else
    for (int j = 0; j < n; j++)
        a[j] = sqrtf(a[j]);
#endif
}

RNG_INLINE void normal_batch(const uint32_t x[4][BATCH], float v[4 * BATCH])
{
    float r[2 * BATCH], sn[2 * BATCH], cs[2 * BATCH];
    for (int j = 0; j < BATCH; j++) {
        r[j] = minus_two_log_unit(x[0][j]);
        r[BATCH + j] = minus_two_log_unit(x[2][j]);
    }
    sqrt_array(r, 2 * BATCH);
    for (int j = 0; j < BATCH; j++) {
        sincos_unit(x[1][j], &sn[j], &cs[j]);
        sincos_unit(x[3][j], &sn[BATCH + j], &cs[BATCH + j]);
    }
    for (int j = 0; j < BATCH; j++) {
        v[4 * j + 0] = r[j] * cs[j];
        v[4 * j + 1] = r[j] * sn[j];
        v[4 * j + 2] = r[BATCH + j] * cs[BATCH + j];
        v[4 * j + 3] = r[BATCH + j] * sn[BATCH + j];
    }
}

RNG_INLINE void uniform_batch(const uint32_t x[4][BATCH], float v[4 * BATCH])
{
    /* Odd multiples of 2^-24: exact in float, never 0 or 1. */
    for (int j = 0; j < BATCH; j++)
        for (int k = 0; k < 4; k++)
            v[4 * j + k] = (float)(int32_t)((x[k][j] >> 8) | 1u) * (1.0f / 16777216.0f);
}

/* One group (BATCH blocks, 4 * BATCH values) of the stream, converted. */
typedef void group_fn(const bnn_rng_stream *s, uint64_t g, float v[4 * BATCH]);

static void normal_group_base(const bnn_rng_stream *s, uint64_t g, float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    normal_batch(x, v);
}

static void uniform_group_base(const bnn_rng_stream *s, uint64_t g, float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    uniform_batch(x, v);
}

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void normal_group_avx2(const bnn_rng_stream *s, uint64_t g,
                                           float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    normal_batch(x, v);
}

VECMATH_AVX2 static void uniform_group_avx2(const bnn_rng_stream *s, uint64_t g,
                                            float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    uniform_batch(x, v);
}
#endif

#ifdef VECMATH_HAVE_AVX512
VECMATH_AVX512 static void normal_group_avx512(const bnn_rng_stream *s, uint64_t g,
                                               float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    normal_batch(x, v);
}

VECMATH_AVX512 static void uniform_group_avx512(const bnn_rng_stream *s, uint64_t g,
                                                float v[4 * BATCH])
{
    uint32_t x[4][BATCH];
    philox_batch(s, g * BATCH, x);
    uniform_batch(x, v);
}
#endif

static group_fn *group_for_cpu(bool normal)
{
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512())
        return normal ? normal_group_avx512 : uniform_group_avx512;
#endif
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        return normal ? normal_group_avx2 : uniform_group_avx2;
#endif
    return normal ? normal_group_base : uniform_group_base;
}

/* Elements first .. first+n-1, a group of blocks at a time; groups are
 * independent, so any split over threads gives the same values. */
static void stream_fill(const bnn_rng_stream *s, uint64_t first, size_t n, float *out,
                        bool normal)
{
    if (n == 0)
        return;
    group_fn *group = group_for_cpu(normal);
    const uint64_t per = 4 * BATCH;
    uint64_t g0 = first / per, g1 = (first + n - 1) / per;
    int64_t groups = (int64_t)(g1 - g0 + 1);
    #pragma omp parallel for schedule(static) if (groups > 64)
    for (int64_t k = 0; k < groups; k++) {
        uint64_t g = g0 + (uint64_t)k, base = g * per;
        uint64_t lo = base > first ? base : first;
        uint64_t hi = base + per < first + n ? base + per : first + n;
        if (lo == base && hi == base + per) { /* a whole group: straight into out */
            group(s, g, out + (lo - first));
            continue;
        }
        float v[4 * BATCH];
        group(s, g, v);
        memcpy(out + (lo - first), v + (lo - base), (size_t)(hi - lo) * sizeof(float));
    }
}

void bnn_rng_uniform(const bnn_rng_stream *s, uint64_t first, size_t n, float *out)
{
    stream_fill(s, first, n, out, false);
}

void bnn_rng_normal(const bnn_rng_stream *s, uint64_t first, size_t n, float *out)
{
    stream_fill(s, first, n, out, true);
}
