/* to-bnn's vectorised rho (passes/to_bnn_rho.c) against the plain loop it
 * replaces, (float)bnn_rho_of_sigma(max(delta |w|, floor)): the same bits for
 * every weight, including the ones that round close to a float midpoint, the
 * floor, large and non-finite weights; and the vectorised double within its
 * stated error of libm's over the fast range. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

static float reference(float w, double delta, double floor)
{
    double sigma = delta * fabs((double)w);
    return (float)bnn_rho_of_sigma(sigma > floor ? sigma : floor);
}

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static uint64_t next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* n weights through the fast path, each compared with the reference */
static int64_t check_all(const float *w, int64_t n, double delta, double floor)
{
    float *rho = malloc(sizeof(float) * (size_t)n), *mu = malloc(sizeof(float) * (size_t)n);
    cr_assert(rho && mu);
    int64_t scalar = bnn_pass_rho_of_weights(w, mu, rho, n, delta, floor);
    cr_assert(memcmp(mu, w, sizeof(float) * (size_t)n) == 0, "mu is not a copy of w");
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(bits(rho[i]), bits(reference(w[i], delta, floor)),
                     "w = %.9g (delta %g): %.9g, the plain loop %.9g", (double)w[i], delta,
                     (double)rho[i], (double)reference(w[i], delta, floor));
    free(rho);
    free(mu);
    return scalar;
}

Test(rho_fast, same_bits_as_the_plain_loop_on_random_weights)
{
    /* 2^22 weights: Gaussian-like trained weights of several scales, and
     * uniformly random float bit patterns (any sign, exponent, NaN, inf) */
    int64_t n = (int64_t)1 << 22;
    float *w = malloc(sizeof(float) * (size_t)n);
    cr_assert(w);
    uint64_t s = 42;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next(&s);
        if (i % 4 == 3) {
            uint32_t b = (uint32_t)r;
            memcpy(&w[i], &b, sizeof b);
        } else {
            double u1 = ((double)(r >> 11) + 0.5) * 0x1p-53, u2 = (double)(next(&s) >> 11) * 0x1p-53;
            double scale = i % 4 == 0 ? 0.01 : i % 4 == 1 ? 0.3 : 3.0;
            w[i] = (float)(scale * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    int64_t scalar = 0;
    scalar += check_all(w, n, 0.1, 1e-5);
    scalar += check_all(w, n, 0.37, 1e-5);
    scalar += check_all(w, n, 1.0, 1e-3);
    /* the scalar path is the exception: the non-finite and large quarter of
     * the bit patterns, and a few near a rounding boundary */
    cr_expect_lt(scalar, 3 * n / 4, "%lld of %lld on the scalar path", (long long)scalar,
                 (long long)(3 * n));
    free(w);
}

Test(rho_fast, same_bits_on_edges)
{
    const float w[] = {0.0f, -0.0f, 1e-40f, 1e-4f, -1e-4f, 1e-3f, 0.01f, 0.5f, 1.0f,
                       -6.93147182f, 6.9314718f, 6.93147182f, 9.9999990f, 10.0f, 10.000001f,
                       19.99f, 200.0f, 200.00002f, 3.4e38f, INFINITY, -INFINITY, NAN};
    int64_t n = sizeof w / sizeof w[0];
    check_all(w, n, 0.1, 1e-5);
    check_all(w, n, 1.0, 1e-5);
    check_all(w, n, 0.0, 1e-5); /* every sigma the floor */
    check_all(w, n, 0.1, 0.0);  /* no floor: sigma 0 and denormal */
}

Test(rho_fast, every_float_in_a_band_where_rho_crosses_zero)
{
    /* sigma = ln 2 gives rho = 0, where floats are dense and the bound is
     * tested hardest: every float weight in [6.8, 7.1] at delta 0.1 */
    uint32_t lo = bits(6.8f), hi = bits(7.1f);
    int64_t n = (int64_t)(hi - lo) + 1;
    float *w = malloc(sizeof(float) * (size_t)n);
    cr_assert(w);
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = lo + (uint32_t)i;
        memcpy(&w[i], &b, sizeof b);
    }
    check_all(w, n, 0.1, 1e-5);
    free(w);
}

Test(rho_fast, the_vectorised_double_is_within_its_bound)
{
    /* the fix-up test assumes |fast - libm| <= 2^-40 (1 + |y|); measured it is
     * near 1e-16 (1 + |y|): hold it to 2^-48, a 256x margin below the bound */
    double worst = 0;
    uint64_t s = 7;
    for (int i = 0; i < 2000000; i++) {
        /* log-uniform over [2^-30, 1] */
        double sigma = exp2(-30.0 * (double)(next(&s) >> 11) * 0x1p-53);
        double y = bnn_rho_of_sigma(sigma);
        double err = fabs(bnn_pass_rho_fast_error(sigma)) / (1 + fabs(y));
        if (err > worst)
            worst = err;
    }
    cr_expect_leq(worst, 0x1p-48, "worst error %.3g (1 + |y|)", worst);
}
