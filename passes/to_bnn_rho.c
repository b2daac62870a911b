/* to-bnn's init=weights rho, rho = softplus^-1(max(delta |w|, floor)), for
 * every weight of a layer: the same floats as the scalar
 * (float)bnn_rho_of_sigma(sigma) (log(expm1(sigma)) in double through libm),
 * bit for bit, at a vector loop's speed.
 *
 * For sigma in (0, 1] it computes, without libm and in a loop the compiler
 * vectorises,
 *     log(expm1(s)) = log(s) + log(expm1(s) / s)
 *                   = log(s) + u + log(sinh(u) / u),   u = s / 2,
 * with log(s) from the exponent bits and 2 atanh((m - 1) / (m + 1)) for the
 * mantissa m in [sqrt(1/2), sqrt(2)), and log(sinh(u) / u) by its even series
 * (coefficients 2^2n B_2n / (2n (2n)!)).  Its error against libm's double is
 * a few units of 1e-16 (1 + |y|) (tests/passes/test_rho_fast.c measures it);
 * the float rounding of the double y is then the libm one wherever y - E and
 * y + E round to the same float, with E = 2^-40 (1 + |y|), a bound far above
 * both errors.  The few weights where they do not (a few in a million), and
 * every sigma above 1 or not finite, take the scalar libm path.  So the
 * output stays byte-identical to the plain loop; only the time changes
 * (a 54 M-weight MLP: the plain loop was a third of `bnnc convert`). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "passes_impl.h"

#if defined(__GNUC__) && !defined(__clang__)
/* the fast loop is vectorised at -O3; no FP exception flags are read here */
#pragma GCC optimize("O3", "no-trapping-math")
#endif

#define FAST_MAX 1.0 /* the fast form's range of sigma: (0, FAST_MAX] */
#define BLOCK 1024   /* weights per block: fast loop, then fix-ups */

static inline double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* log(expm1(s)) for s in (2^-1000, FAST_MAX]: anything for other s (those
 * are fixed up by the caller). */
static inline double fast_rho(double s)
{
    uint64_t b;
    memcpy(&b, &s, sizeof b);
    /* s = 2^k m, m in [sqrt(1/2), sqrt(2)): adding (1.0's bits - sqrt(1/2)'s
     * bits) carries into the exponent field exactly when the mantissa is at
     * or above sqrt(2), so the field then holds k + 1023 */
    uint64_t kb = (b + (0x3ff0000000000000ULL - 0x3fe6a09e667f3bcdULL)) >> 52;
    double m = bits_to_double(b - (kb << 52) + (1023ULL << 52));
    /* k as a double without an int64 conversion (none in AVX2) */
    double k = bits_to_double(0x4330000000000000ULL | kb) - (4503599627370496.0 + 1023.0);
    double f = (m - 1.0) / (m + 1.0), f2 = f * f; /* |f| <= 0.1716 */
    /* log(m) = 2 atanh(f) = 2f + 2f (f^2/3 + f^4/5 + ... + f^22/23) */
    double p = 2.0 / 23;
    p = p * f2 + 2.0 / 21;
    p = p * f2 + 2.0 / 19;
    p = p * f2 + 2.0 / 17;
    p = p * f2 + 2.0 / 15;
    p = p * f2 + 2.0 / 13;
    p = p * f2 + 2.0 / 11;
    p = p * f2 + 2.0 / 9;
    p = p * f2 + 2.0 / 7;
    p = p * f2 + 2.0 / 5;
    p = p * f2 + 2.0 / 3;
    double log_m = 2.0 * f + f * (f2 * p);
    /* log(sinh(u) / u) for u <= 1/2: v = u^2, 11 terms (the 12th is < 1e-20) */
    double u = 0.5 * s, v = u * u;
    double q = 1.05029239086375574e-12;
    q = q * v - 1.14025756022960914e-11;
    q = q * v + 1.25043591760049969e-10;
    q = q * v - 1.38841304937372988e-09;
    q = q * v + 1.56613913227669828e-08;
    q = q * v - 1.80367023400533102e-07;
    q = q * v + 2.13777991555769346e-06;
    q = q * v - 2.64550264550264561e-05;
    q = q * v + 3.52733686067019424e-04;
    q = q * v - 5.55555555555555577e-03;
    q = q * v + 1.66666666666666657e-01;
    double log_sinhc = v * q;
    /* ln 2 in two parts: k * LN2_HI is exact for |k| < 2^11 */
    const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;
    return (k * LN2_HI + log_m) + (k * LN2_LO + (u + log_sinhc));
}

double bnn_pass_rho_fast_error(double sigma)
{
    return fast_rho(sigma) - bnn_rho_of_sigma(sigma);
}

/* sigma of weight w as add_posterior defines it (a NaN weight: the floor) */
static inline double sigma_of(float w, double delta, double floor)
{
    double sigma = delta * fabs((double)w);
    return sigma > floor ? sigma : floor;
}

/* Fills rho[0..n) and returns how many need the scalar path, their indices
 * in slow[]. */
#if defined(__GNUC__) && defined(__x86_64__)
#define RHO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RHO_CLONES
#endif
RHO_CLONES static int block_fast(const float *restrict w, float *restrict mu,
                                 float *restrict rho, int n, double delta, double floor,
                                 int *restrict slow)
{
    int ok[BLOCK];
    if (mu)
        memcpy(mu, w, sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double s = sigma_of(w[i], delta, floor);
        double y = fast_rho(s);
        double e = 0x1p-40 * (1.0 + fabs(y));
        /* NaN y (s outside the range) fails the equality: scalar path */
        ok[i] = (s <= FAST_MAX) & (s >= 0x1p-1000) & ((float)(y - e) == (float)(y + e));
        rho[i] = (float)y;
    }
    int n_slow = 0;
    for (int i = 0; i < n; i++)
        if (!ok[i])
            slow[n_slow++] = i;
    return n_slow;
}

static int64_t rho_range(const float *w, float *mu, float *rho, int64_t n, double delta,
                         double floor)
{
    int slow[BLOCK];
    int64_t scalar = 0;
    for (int64_t at = 0; at < n; at += BLOCK) {
        int len = n - at < BLOCK ? (int)(n - at) : BLOCK;
        int n_slow = block_fast(w + at, mu ? mu + at : NULL, rho + at, len, delta, floor, slow);
        for (int j = 0; j < n_slow; j++) {
            int64_t i = at + slow[j];
            rho[i] = (float)bnn_rho_of_sigma(sigma_of(w[i], delta, floor));
        }
        scalar += n_slow;
    }
    return scalar;
}

int64_t bnn_pass_rho_of_weights(const float *w, float *mu, float *rho, int64_t n, double delta,
                                double floor)
{
    int64_t scalar = 0;
    /* elementwise, so any split over threads gives the same bits; mu is
     * copied in the same sweep, so both new arrays are first written (and
     * their pages faulted in) by every thread at once */
    #pragma omp parallel for schedule(static) reduction(+ : scalar) if (n >= (int64_t)1 << 18)
    for (int64_t c = 0; c < (n + (1 << 16) - 1) >> 16; c++) {
        int64_t at = c << 16, len = n - at < (1 << 16) ? n - at : (1 << 16);
        scalar += rho_range(w + at, mu ? mu + at : NULL, rho + at, len, delta, floor);
    }
    return scalar;
}
