/* Float exp, log, log1p, softplus and sigmoid for the loops that turn rho
 * into sigma = softplus(rho): the Bayesian layers' sampling and gradients
 * (bayes.c, bayes_estimators.c) and the KL term and its gradient
 * (bayes_kl.c).  One set of functions, so the sigma a layer samples with and
 * the sigma the KL penalises are the same float, bit for bit
 * (tests/kernels_elem/test_bayes.c checks it, and these against libm).
 *
 * Each is scalar code written so that a loop calling it vectorises: no libm
 * calls (glibc's expf and log1pf are scalar calls), no branches, clamps as
 * bitwise selects.  The vector versions are these same functions in a loop
 * the compiler vectorises: for the baseline x86-64 (4 lanes), or, in a
 * function marked VECMATH_AVX2, for AVX2 (8 lanes), or VECMATH_AVX512 for
 * AVX-512 (16 lanes), picked at run time with vecmath_have_avx2() and
 * vecmath_have_avx512() (bayes_kl.c).  Every lane does the same IEEE float
 * operations in the same order as the scalar code, so the scalar, 4-, 8- and
 * 16-lane results agree bit for bit; that needs floating-point contraction off,
 * which is GCC's default in ISO C mode (c_std=c11) and set below for clang.
 *
 * Internal to runtime/kernels.  Accuracy against libm in double over the
 * ranges used, as tests/kernels_elem/test_bayes.c checks it: exp within 1.5
 * ulp, log1p and log within 3.5, softplus within 4.5, sigmoid within 3.5 (the
 * worst over every float in range, when written: 0.99, 2.9, 2.8, 3.7, 2.4). */
#ifndef BNN_VECMATH_H
#define BNN_VECMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __clang__
/* a*b+c must stay two roundings in every copy (GCC: -std=c11 does this) */
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define VECMATH_HAVE_AVX2 1
/* A loop in a function with this attribute is vectorised for AVX2. */
#define VECMATH_AVX2 __attribute__((target("avx2,fma")))
static inline bool vecmath_have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* And for AVX-512 (16 lanes), where the CPU has it: the same operations in
 * the same order, so the same bits as the 4- and 8-lane copies. */
#define VECMATH_HAVE_AVX512 1
#define VECMATH_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
static inline bool vecmath_have_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && vecmath_have_avx2();
}
#else
static inline bool vecmath_have_avx2(void) { return false; }
static inline bool vecmath_have_avx512(void) { return false; }
#endif

/* GCC keeps FP exceptions exact by default (-ftrapping-math), which stops it
 * turning some selects into vector blends; nothing here reads the FP
 * exception flags.  always_inline: GCC inlines a function compiled with these
 * options into a caller compiled without them (the sampling loops) only when
 * told to.  (Clang does not trap by default.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif
#define VECMATH_INLINE static inline __attribute__((always_inline))

/* a where take, else b, as bit operations (a ?: on floats can keep GCC from
 * vectorising the loop around it) */
VECMATH_INLINE float vecmath_select(bool take, float a, float b)
{
    uint32_t ab, bb, mask = 0u - (uint32_t)take;
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & mask) | (bb & ~mask);
    memcpy(&a, &ab, sizeof a);
    return a;
}

/* exp(x) for x <= 0; below -87 (and at -inf) it returns exp(-87) ~ 1.6e-38,
 * never a denormal or 0; NaN gives NaN.  x = n ln 2 + r, |r| <= ln 2 / 2,
 * with n rounded by adding and subtracting 1.5 * 2^23 (no libm call); exp(r)
 * by Cephes' expf polynomial; 2^n from the exponent bits. */
VECMATH_INLINE float vecmath_exp_nonpositive(float x)
{
    x = vecmath_select(x < -87.0f, -87.0f, x); /* NaN stays NaN */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* NaN's n would be an undefined conversion to int: 0 there (p is NaN,
     * so the result still is; a NaN rho must not pass for a tiny sigma) */
    int32_t bits = ((int32_t)vecmath_select(n == n, n, 0.0f) + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 2 atanh(s) = log((1 + s) / (1 - s)) for |s| <= 1/3, by its odd series. */
VECMATH_INLINE float vecmath_two_atanh(float s)
{
    float s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* log(1 + e) for e in [0, 1]: 2 atanh(e / (2 + e)), exact for tiny e. */
VECMATH_INLINE float vecmath_log1p_unit(float e)
{
    return vecmath_two_atanh(e / (2.0f + e));
}

/* log(x) for a normal x > 0: x = 2^k m, m in [sqrt(1/2), sqrt(2)). */
VECMATH_INLINE float vecmath_log_positive(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    int32_t k = (int32_t)(b >> 23) - 127;
    b = (b & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &b, sizeof m);
    bool big = m > 1.41421356f;
    m = vecmath_select(big, 0.5f * m, m);
    k += (int32_t)big;
    return (float)k * 0.693147180559945309f + vecmath_two_atanh((m - 1.0f) / (m + 1.0f));
}

/* softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), without
 * overflow; softplus(inf) = inf, softplus(-inf) = log1p(exp(-87)), NaN in,
 * NaN out (as sigmoid). */
VECMATH_INLINE float vecmath_softplus(float x)
{
    return (x > 0 ? x : 0.0f) + vecmath_log1p_unit(vecmath_exp_nonpositive(-fabsf(x)));
}

/* sigmoid(x) = 1 / (1 + exp(-x)), softplus's derivative, from exp(-|x|) so
 * nothing overflows. */
VECMATH_INLINE float vecmath_sigmoid(float x)
{
    float e = vecmath_exp_nonpositive(-fabsf(x));
    return vecmath_select(x >= 0, 1.0f, e) / (1.0f + e);
}

/* exp(x) - 1 for x <= 0 (a positive x is taken as 0), without the
 * cancellation of exp(x) - 1 near 0: above -0.5 by its Taylor series to x^9
 * (the rest below 2e-9 of the result), else from vecmath_exp_nonpositive. */
VECMATH_INLINE float vecmath_expm1_nonpositive(float x)
{
    x = vecmath_select(x > 0, 0.0f, x);
    float p = 1.0f / 362880;
    p = p * x + 1.0f / 40320;
    p = p * x + 1.0f / 5040;
    p = p * x + 1.0f / 720;
    p = p * x + 1.0f / 120;
    p = p * x + 1.0f / 24;
    p = p * x + 1.0f / 6;
    p = p * x + 0.5f;
    float series = x + x * x * p;
    float far = vecmath_exp_nonpositive(x) - 1.0f;
    return vecmath_select(x > -0.5f, series, far);
}

/* tanh(x): for |x| < 0.625 Cephes' odd polynomial, x + x^3 P(x^2); above,
 * (1 - e) / (1 + e) with e = exp(-2|x|), never overflowing; the sign put
 * back.  NaN in, NaN out. */
VECMATH_INLINE float vecmath_tanh(float x)
{
    float a = fabsf(x);
    float z = a * a;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = a + a * z * p;
    float e = vecmath_exp_nonpositive(-2.0f * a);
    float large = (1.0f - e) / (1.0f + e);
    float t = vecmath_select(a < 0.625f, small, large);
    return copysignf(t, x);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
