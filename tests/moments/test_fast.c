/* The fast float kernels of moments.relu and moments.max_pool against their
 * plain double-precision references (runtime/kernels/moments.c), on a grid
 * of means and variances that spans both tails, zero and tiny variances and
 * large activations: the kernels' approximations (Chebyshev's erfc fit, a
 * polynomial exp, the capped standardised mean) must not show.
 *
 * Tolerances, with s = sqrt(v): relu mean within 2e-6 (|m| + s) + 1e-15
 * and variance within 2e-5 v + 1e-29 (the kernels count variances below
 * 1e-30 as 1e-30); Clark's max mean within 2e-6 (|m1| + |m2| + theta) +
 * 1e-15 and variance within 2e-5 (v1 + v2) + 1e-29; a 2x2 window's three
 * steps within three times that.  A failure prints the worst case.  The
 * kernels are compiled as AVX-512, AVX2 and baseline clones and the loader
 * picks one for the CPU: on a CPU without AVX-512 the test says which clone
 * it tested instead. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "moments_impl.h"

static int failures;

static void report(const char *what, double worst, double m, double v, double m2, double v2)
{
    bool ok = worst <= 1.0;
    printf("%-34s worst error %.3f of tolerance (at m %g, v %g, m2 %g, v2 %g) %s\n", what, worst,
           m, v, m2, v2, ok ? "ok" : "FAIL");
    failures += !ok;
}

int main(void)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    if (!__builtin_cpu_supports("avx512f"))
        fprintf(stderr, "AVX-512 path not available on this CPU (no avx512f): the moment kernels "
                "tested the fallback, the %s clone\n",
                __builtin_cpu_supports("avx2") ? "AVX2" : "baseline");
#endif
    static const double means[] = {-300, -40, -9, -8.5, -6, -3, -1.7, -1, -0.3, -1e-3, 0,
                                   1e-4, 0.2, 0.9, 2, 3.3, 5.9, 8.1, 12, 77, 1e3};
    static const double vars[] = {0, 1e-30, 1e-21, 1e-12, 1e-6, 1e-3, 0.04, 0.5, 1, 2.5, 9,
                                  100, 1e4};
    enum { NM = sizeof means / sizeof means[0], NV = sizeof vars / sizeof vars[0] };
    /* relu and leaky relu: all grid points in one call, as the kernel runs */
    for (int leaky = 0; leaky < 2; leaky++) {
        float alpha = leaky ? 0.1f : 0.0f;
        float m[NM * NV], v[NM * NV], om[NM * NV], ov[NM * NV];
        for (int i = 0; i < NM; i++)
            for (int j = 0; j < NV; j++) {
                m[i * NV + j] = (float)means[i];
                v[i * NV + j] = (float)vars[j];
            }
        moments_relu_fast(m, v, NM * NV, alpha, om, ov);
        double worst = 0, wm = 0, wv = 0;
        for (int e = 0; e < NM * NV; e++) {
            float rm, rv;
            moments_relu_reference(m[e], v[e], alpha, false, &rm, &rv);
            double s = sqrt(v[e]);
            double em = fabs(om[e] - rm) / (2e-6 * (fabs(m[e]) + s) + 1e-15);
            double ev = fabs(ov[e] - rv) / (2e-5 * v[e] + 1e-29);
            double w = em > ev ? em : ev;
            if (w > worst || !isfinite(om[e]) || !isfinite(ov[e])) {
                worst = isfinite(om[e]) && isfinite(ov[e]) ? w : INFINITY;
                wm = m[e];
                wv = v[e];
            }
        }
        report(leaky ? "leaky relu (alpha 0.1) vs reference" : "relu vs reference", worst, wm, wv,
               0, 0);
    }
    /* Clark's max over every pair of grid points */
    double worst = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0;
    for (int a = 0; a < NM; a++)
        for (int b = 0; b < NV; b++)
            for (int c = 0; c < NM; c++)
                for (int d = 0; d < NV; d++) {
                    float m1 = (float)means[a], v1 = (float)vars[b];
                    float m2 = (float)means[c], v2 = (float)vars[d];
                    double rm = m1, rv = v1;
                    moments_clark_reference(&rm, &rv, m2, v2);
                    float fm = m1, fv = v1;
                    moments_clark_fast(&fm, &fv, m2, v2);
                    double theta = sqrt((double)v1 + v2);
                    double em = fabs(fm - rm) / (2e-6 * (fabs(m1) + fabs(m2) + theta) + 1e-15);
                    double ev = fabs(fv - rv) / (2e-5 * ((double)v1 + v2) + 1e-29);
                    double w = em > ev ? em : ev;
                    if (!isfinite(fm) || !isfinite(fv))
                        w = INFINITY;
                    if (w > worst) {
                        worst = w;
                        w1 = m1, w2 = v1, w3 = m2, w4 = v2;
                    }
                }
    report("Clark's max vs reference", worst, w1, w2, w3, w4);
    /* The fused max-pool path's pieces: 2x2 windows of 3 rows of 37
     * outputs, split from their input rows and reduced in window order,
     * against the reference's steps in the same order (another order fails:
     * 300 times the tolerance). */
    {
        enum { ROWS = 3, OW = 37, LEN = ROWS * OW };
        float xm[ROWS][2][2 * OW], xv[ROWS][2][2 * OW];
        float gm[4 * LEN], gv[4 * LEN], om[LEN], ov[LEN];
        uint64_t state = 7;
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < 2; a++)
                for (int w = 0; w < 2 * OW; w++) {
                    state = state * 6364136223846793005ull + 1442695040888963407ull;
                    double u = (double)(state >> 11) / 9007199254740992.0;
                    xm[r][a][w] = (float)(6 * u - 3);
                    xv[r][a][w] = (float)(0.01 + 2 * u * u);
                }
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < 2; a++)
                moments_split_pairs(xm[r][a], xv[r][a], OW, gm + 2 * a * LEN + r * OW,
                                    gv + 2 * a * LEN + r * OW, gm + (2 * a + 1) * LEN + r * OW,
                                    gv + (2 * a + 1) * LEN + r * OW);
        moments_clark_window(gm, gv, 4, LEN, LEN, om, ov);
        double worst_w = 0;
        int at = 0;
        for (int r = 0; r < ROWS; r++)
            for (int ow = 0; ow < OW; ow++) {
                double rm = xm[r][0][2 * ow], rv = xv[r][0][2 * ow], scale = fabs(rm);
                double sum_v = rv;
                for (int o = 1; o < 4; o++) {
                    double em = xm[r][o / 2][2 * ow + o % 2], ev = xv[r][o / 2][2 * ow + o % 2];
                    moments_clark_reference(&rm, &rv, em, ev);
                    scale += fabs(em);
                    sum_v += ev;
                }
                int e = r * OW + ow;
                double em = fabs(om[e] - rm) / (2e-6 * 3 * (scale + sqrt(sum_v)));
                double ev = fabs(ov[e] - rv) / (2e-5 * 3 * sum_v);
                double w = em > ev ? em : ev;
                if (!isfinite(om[e]) || !isfinite(ov[e]))
                    w = INFINITY;
                if (w > worst_w) {
                    worst_w = w;
                    at = e;
                }
            }
        report("2x2 windows (split, 3 Clark steps)", worst_w, at, 0, 0, 0);
    }
    return failures ? 1 : 0;
}
