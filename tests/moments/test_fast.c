/* The fast float kernels of moments.relu and moments.max_pool against their
 * plain double-precision references (runtime/kernels/moments.c), on a grid
 * of means and variances that spans both tails, zero and tiny variances and
 * large activations: the kernels' approximations (Chebyshev's erfc fit, a
 * polynomial exp, the capped standardised mean) must not show.
 *
 * Tolerances, with s = sqrt(v): relu mean within 2e-6 (|m| + s) + 1e-15
 * and variance within 2e-5 v + 1e-29 (the kernels count variances below
 * 1e-30 as 1e-30); Clark's max mean within 2e-6 (|m1| + |m2| + theta) +
 * 1e-15 and variance within 2e-5 (v1 + v2) + 1e-29.  A failure prints the
 * worst case.  The kernels are compiled as AVX-512, AVX2 and baseline
 * clones and the loader picks one for the CPU: on a CPU without AVX-512 the
 * test says which clone it tested instead. */
#include <math.h>
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
    return failures ? 1 : 0;
}
