/* The counter-based generator: Philox4x32-10 known answers, statistics of the
 * uniform and normal draws, and independence from the thread count and from
 * how a stream is split into calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "rng.h"

/* Random123's kat_vectors, the three "philox4x32 10" lines:
 * counter (4 words), key (2 words), expected output (4 words). */
static const uint32_t kat[3][10] = {
    {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
     0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
     0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
     0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
};

Test(kernels_elem, philox_known_answers)
{
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        bnn_philox4x32_10(kat[k], kat[k] + 4, out);
        for (int i = 0; i < 4; i++)
            cr_expect_eq(out[i], kat[k][6 + i], "vector %d word %d: %08x, want %08x", k, i,
                         out[i], kat[k][6 + i]);
    }
}

Test(kernels_elem, rng_keying_as_documented)
{
    /* Element i of stream (seed, tag, step) is lane i%4 of
     * Philox(counter = (i/4, tag, step lo, step hi), key = (seed lo, seed hi)). */
    bnn_rng_stream s = bnn_rng_stream_make(0x0123456789abcdefull, 77, BNN_RNG_PURPOSE_DROPOUT,
                                           0x500000003ull);
    cr_expect_eq(s.tag, 77u | (2u << 28));
    float u[12];
    bnn_rng_uniform(&s, 0, 12, u);
    for (uint32_t b = 0; b < 3; b++) {
        uint32_t ctr[4] = {b, s.tag, 3, 5}, key[2] = {0x89abcdef, 0x01234567}, x[4];
        bnn_philox4x32_10(ctr, key, x);
        for (int k = 0; k < 4; k++)
            cr_expect_eq(u[b * 4 + (uint32_t)k], (float)((x[k] >> 8) | 1u) / 16777216.0f);
    }
}

static void stats(const float *v, size_t n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *var = s2 / (double)(n - 1);
}

Test(kernels_elem, uniform_statistics)
{
    size_t n = 1 << 20;
    float *u = malloc(n * sizeof *u);
    bnn_rng_stream s = bnn_rng_stream_make(7, 1, BNN_RNG_PURPOSE_DROPOUT, 0);
    bnn_rng_uniform(&s, 0, n, u);
    for (size_t i = 0; i < n; i++)
        if (!(u[i] > 0 && u[i] < 1)) {
            cr_assert_fail("uniform %zu = %g is outside (0, 1)", i, u[i]);
        }
    double mean, var;
    stats(u, n, &mean, &var);
    /* standard errors: mean sqrt(1/12/n) = 2.8e-4, variance ~ 8e-5 / sqrt(n)*... */
    cr_expect(fabs(mean - 0.5) < 5 * 2.82e-4, "mean %g", mean);
    cr_expect(fabs(var - 1.0 / 12) < 5 * 7.5e-5, "variance %g", var);
    free(u);
}

Test(kernels_elem, normal_statistics)
{
    size_t n = 1 << 20;
    float *z = malloc(n * sizeof *z);
    bnn_rng_stream s = bnn_rng_stream_make(12345, 3, BNN_RNG_PURPOSE_WEIGHTS, 9);
    bnn_rng_normal(&s, 0, n, z);
    double mean, var;
    stats(z, n, &mean, &var);
    double se_mean = 1 / sqrt((double)n), se_var = sqrt(2.0 / (double)n);
    cr_expect(fabs(mean) < 5 * se_mean, "mean %g", mean);
    cr_expect(fabs(var - 1) < 5 * se_var, "variance %g", var);
    /* tails: P(|z| < 1) = 0.682689, P(|z| > 2) = 0.0455003 */
    size_t in1 = 0, out2 = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(z[i]));
        in1 += fabsf(z[i]) < 1;
        out2 += fabsf(z[i]) > 2;
    }
    double p1 = (double)in1 / (double)n, p2 = (double)out2 / (double)n;
    cr_expect(fabs(p1 - 0.682689) < 5 * sqrt(0.682689 * 0.317311 / (double)n), "P(|z|<1) %g", p1);
    cr_expect(fabs(p2 - 0.0455003) < 5 * sqrt(0.0455 * 0.9545 / (double)n), "P(|z|>2) %g", p2);
    /* neighbouring elements (the two halves of a Box-Muller pair) uncorrelated */
    double c = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        c += (double)z[i] * z[i + 1];
    c /= (double)(n / 2);
    cr_expect(fabs(c) < 5 / sqrt((double)n / 2), "pair correlation %g", c);
    free(z);
}

Test(kernels_elem, rng_same_for_any_thread_count_and_split)
{
    size_t n = 300001; /* > 4096 blocks: the threaded path */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    bnn_rng_stream s = bnn_rng_stream_make(99, 5, BNN_RNG_PURPOSE_WEIGHTS, 3);
    int saved = omp_get_max_threads();
    for (int kind = 0; kind < 2; kind++) {
        void (*fill)(const bnn_rng_stream *, uint64_t, size_t, float *) =
            kind ? bnn_rng_normal : bnn_rng_uniform;
        omp_set_num_threads(1);
        fill(&s, 0, n, a);
        int counts[] = {2, 3, 4};
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(counts[t]);
            fill(&s, 0, n, b);
            cr_expect_eq(memcmp(a, b, n * sizeof *a), 0, "%d threads differ", counts[t]);
        }
        /* element i depends on i only: pieces at odd offsets agree */
        size_t cuts[] = {0, 1, 6, 4099, 17000, 250001, n};
        for (int k = 0; k + 1 < 7; k++)
            fill(&s, cuts[k], cuts[k + 1] - cuts[k], b + cuts[k]);
        cr_expect_eq(memcmp(a, b, n * sizeof *a), 0, "split draws differ");
    }
    omp_set_num_threads(saved);
    free(a);
    free(b);
}

Test(kernels_elem, rng_streams_differ)
{
    float base[64], other[64];
    bnn_rng_stream s = bnn_rng_stream_make(1, 1, BNN_RNG_PURPOSE_WEIGHTS, 0);
    bnn_rng_normal(&s, 0, 64, base);
    bnn_rng_stream vary[] = {
        bnn_rng_stream_make(2, 1, BNN_RNG_PURPOSE_WEIGHTS, 0),
        bnn_rng_stream_make(1, 2, BNN_RNG_PURPOSE_WEIGHTS, 0),
        bnn_rng_stream_make(1, 1, BNN_RNG_PURPOSE_DROPOUT, 0),
        bnn_rng_stream_make(1, 1, BNN_RNG_PURPOSE_WEIGHTS, 1),
        bnn_rng_stream_make(1, 1, BNN_RNG_PURPOSE_WEIGHTS, 1ull << 32),
        bnn_rng_stream_make(1ull << 32, 1, BNN_RNG_PURPOSE_WEIGHTS, 0),
    };
    for (size_t k = 0; k < sizeof vary / sizeof vary[0]; k++) {
        bnn_rng_normal(&vary[k], 0, 64, other);
        int same = 0;
        for (int i = 0; i < 64; i++)
            same += base[i] == other[i];
        cr_expect(same < 2, "stream variant %zu repeats the base stream", k);
    }
}

Test(kernels_elem, normal_matches_box_muller_in_double)
{
    /* The documented transform, evaluated with libm in double: elements 4b+0
     * and 4b+1 are r cos(2 pi u1), r sin(2 pi u1), r = sqrt(-2 ln u0), with
     * u0 = ((x0 >> 1) + 0.5) 2^-31 and u1 = ((x1 >> 8) + 0.5) 2^-24;
     * likewise lanes 2 and 3. */
    size_t n = 4 * 5000;
    float *z = malloc(n * sizeof *z);
    bnn_rng_stream s = bnn_rng_stream_make(0xfeedull << 40, 12, BNN_RNG_PURPOSE_WEIGHTS, 77);
    bnn_rng_normal(&s, 0, n, z);
    double worst = 0;
    for (uint32_t b = 0; b < n / 4; b++) {
        uint32_t ctr[4] = {b, s.tag, 77, 0}, key[2] = {0, 0xfeed << 8}, x[4];
        bnn_philox4x32_10(ctr, key, x);
        for (int h = 0; h < 4; h += 2) {
            double u0 = ((double)(x[h] >> 1) + 0.5) / 2147483648.0;
            double u1 = ((double)(x[h + 1] >> 8) + 0.5) / 16777216.0;
            double r = sqrt(-2 * log(u0));
            double want[2] = {r * cos(2 * M_PI * u1), r * sin(2 * M_PI * u1)};
            for (int k = 0; k < 2; k++) {
                double err = fabs(z[4 * b + (uint32_t)(h + k)] - want[k]) / (1 + fabs(want[k]));
                worst = err > worst ? err : worst;
            }
        }
    }
    cr_expect(worst < 2e-6, "largest relative error %g", worst);
    free(z);
}
