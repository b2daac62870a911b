/* nn_gemm, the kernels' one GEMM (runtime/kernels/gemm.c), against sums in
 * double: each of its paths (checked to be the one taken: OpenBLAS whole,
 * tiles of serial OpenBLAS calls outside and inside a parallel region, the
 * AVX-512 kernel, f64), random shapes that are not multiples of its tiles,
 * every transpose, strides wider than the matrices, bias or not, alpha and
 * beta; elements of C outside the product left alone; the same bits on every
 * thread count and run; and dense's backward in a training plan, which uses
 * it for dx. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_impl.h"
#include "harness.h"

#define SENTINEL 12345.0f

typedef struct gcase {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    bool bias;
} gcase;

typedef struct gdata {
    float *a, *b, *bias, *c0; /* c0: C before the call */
} gdata;

static float *random_floats(int64_t n, uint64_t *s)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    cr_assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((double)(kn_rng_next(s) >> 11) * 0x1.0p-52 - 1.0);
    return p;
}

static int64_t a_rows(const gcase *g) { return g->ta ? g->k : g->m; }
static int64_t b_rows(const gcase *g) { return g->tb ? g->n : g->k; }

static gdata make_data(const gcase *g, uint64_t seed)
{
    gdata d;
    d.a = random_floats(a_rows(g) * g->lda, &seed);
    d.b = random_floats(b_rows(g) * g->ldb, &seed);
    d.bias = g->bias ? random_floats(g->n, &seed) : NULL;
    d.c0 = random_floats(g->m * g->ldc, &seed);
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->ldc; j++)
            if (j >= g->n)
                d.c0[i * g->ldc + j] = SENTINEL;
            else if (g->beta == 0) /* beta 0 must not read C */
                d.c0[i * g->ldc + j] = NAN;
    return d;
}

static void free_data(gdata *d)
{
    free(d->a);
    free(d->b);
    free(d->bias);
    free(d->c0);
}

/* C after one nn_gemm call (scratch as the function asks, filled with NaN
 * so that a read of stale scratch shows; or none). Caller frees. */
static float *run(const gcase *g, const gdata *d, bool with_scratch)
{
    float *c = malloc((size_t)(g->m * g->ldc) * sizeof(float));
    cr_assert(c);
    memcpy(c, d->c0, (size_t)(g->m * g->ldc) * sizeof(float));
    size_t bytes = nn_gemm_scratch_size(BNN_F32, g->m, g->n, g->k);
    void *scratch = NULL;
    if (with_scratch && bytes) {
        scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
        cr_assert(scratch);
        memset(scratch, 0xff, bytes);
    }
    nn_gemm(BNN_F32, g->ta, g->tb, g->m, g->n, g->k, g->alpha, d->a, g->lda, d->b, g->ldb, g->beta,
            c, g->ldc, d->bias, scratch);
    free(scratch);
    return c;
}

static void check_case(const gcase *g, uint64_t seed, bool with_scratch)
{
    gdata d = make_data(g, seed);
    float *c = run(g, &d, with_scratch);
    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < g->n; j++) {
            double s = 0, mag = 0;
            for (int64_t p = 0; p < g->k; p++) {
                double x = g->ta ? d.a[p * g->lda + i] : d.a[i * g->lda + p];
                double w = g->tb ? d.b[j * g->ldb + p] : d.b[p * g->ldb + j];
                s += x * w;
                mag += fabs(x * w);
            }
            double want = g->alpha * s, size = fabs(g->alpha) * mag;
            if (g->beta != 0) {
                want += g->beta * (double)d.c0[i * g->ldc + j];
                size += fabs(g->beta * (double)d.c0[i * g->ldc + j]);
            }
            if (d.bias) {
                want += d.bias[j];
                size += fabs(d.bias[j]);
            }
            double got = c[i * g->ldc + j];
            cr_assert(fabs(got - want) <= 2e-5 * size + 1e-6,
                      "%lldx%lldx%lld ta %d tb %d: C[%lld,%lld] = %.9g, want %.9g",
                      (long long)g->m, (long long)g->n, (long long)g->k, g->ta, g->tb,
                      (long long)i, (long long)j, got, want);
        }
        for (int64_t j = g->n; j < g->ldc; j++)
            cr_assert_eq(c[i * g->ldc + j], SENTINEL, "C[%lld,%lld] outside the product changed",
                         (long long)i, (long long)j);
    }
    free(c);
    free_data(&d);
}

static gcase random_case(uint64_t *s, int t)
{
    gcase g = {.ta = t % 2, .tb = t / 2 % 2, .bias = t / 4 % 2};
    /* mostly the rows of a batch; now and then several blocks of 64, or more
     * rows than the AVX-512 path takes */
    g.m = t % 8 == 7 ? kn_rand_int(s, 65, 300) : kn_rand_int(s, 1, 70);
    g.n = t % 3 ? kn_rand_int(s, 1, 1300) : kn_rand_int(s, 1, 40);
    g.k = t % 5 == 4 ? kn_rand_int(s, 1, 12) : kn_rand_int(s, 1, 900);
    int64_t pad = t % 4 == 1 ? kn_rand_int(s, 1, 19) : 0;
    g.lda = (g.ta ? g.m : g.k) + pad;
    g.ldb = (g.tb ? g.k : g.n) + pad;
    g.ldc = g.n + pad;
    g.alpha = t % 3 == 2 ? -0.5f : 1.0f;
    g.beta = t % 3 == 0 ? 0.0f : t % 3 == 1 ? 1.0f : 2.5f;
    return g;
}

Test(gemm_f32, random_shapes_against_double)
{
    uint64_t s = 11;
    for (int t = 0; t < 64; t++) {
        gcase g = random_case(&s, t);
        check_case(&g, 1000 + (uint64_t)t, true);
    }
}

Test(gemm_f32, without_scratch_takes_openblas)
{
    uint64_t s = 12;
    for (int t = 0; t < 16; t++) {
        gcase g = random_case(&s, t);
        check_case(&g, 2000 + (uint64_t)t, false);
    }
}

Test(gemm_f32, mlp_layers)
{
    int64_t shapes[3][2] = {{1200, 784}, {1200, 1200}, {10, 1200}};
    for (int i = 0; i < 3; i++) {
        gcase g = {.tb = true, .m = 64, .n = shapes[i][0], .k = shapes[i][1], .lda = shapes[i][1],
                   .ldb = shapes[i][1], .ldc = shapes[i][0], .alpha = 1, .beta = 0, .bias = true};
        check_case(&g, 3000 + (uint64_t)i, true);
    }
}

static gcase plain_case(int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias)
{
    gcase g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = 0.75f, .beta = 1.5f,
               .bias = bias};
    g.lda = (ta ? m : k) + 3;
    g.ldb = (tb ? k : n) + 5;
    g.ldc = n + 2;
    return g;
}

static const char *path_name(gemm_path p)
{
    return p == GEMM_PATH_BLAS ? "blas" : p == GEMM_PATH_TILES ? "tiles" : "avx512";
}

/* Every path, checked to be the one taken, against the reference. */
Test(gemm_f32, every_path_against_double)
{
    struct { gcase g; bool scratch; gemm_path want; } cases[] = {
        /* at most NN_SERIAL_MNK multiply-adds: one OpenBLAS call */
        {plain_case(30, 40, 50, false, true, true), false, GEMM_PATH_BLAS},
        /* medium: tiles of serial calls on OpenMP's threads */
        {plain_case(120, 700, 90, true, false, true), false, GEMM_PATH_TILES},
        {plain_case(64, 300, 500, false, true, false), false, GEMM_PATH_TILES},
        /* above NN_TILED_MAX_MNK: OpenBLAS with its own threads */
        {plain_case(300, 310, 190, false, false, true), false, GEMM_PATH_BLAS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gcase *g = &cases[i].g;
        gemm_path got = nn_gemm_path(BNN_F32, g->m, g->n, g->k, cases[i].scratch);
        cr_assert_eq(got, cases[i].want, "case %zu takes %s, not %s", i, path_name(got),
                     path_name(cases[i].want));
        check_case(g, 5000 + i, cases[i].scratch);
    }
    /* few rows against a large matrix with scratch: the AVX-512 kernel where
     * the CPU has it, else OpenBLAS (said so, not passed silently) */
    gcase g = plain_case(40, 900, 300, false, true, true);
    gemm_path got = nn_gemm_path(BNN_F32, g.m, g.n, g.k, true);
    if (KN_CPU_PATH("avx512f", "AVX-512", "gemm_f32.every_path_against_double (the few-rows case)"))
        cr_assert_eq(got, GEMM_PATH_AVX512, "takes %s", path_name(got));
    else
        fprintf(stderr, "gemm_f32: the few-rows case took the %s path\n", path_name(got));
    check_case(&g, 5100, true);
}

/* Inside a parallel region (even of one thread) a large product is cut into
 * serial tiles, never handed whole to OpenBLAS's threads; same bits as the
 * tiles outside would give only where the tiling is the same, so checked
 * against the reference, and for every team size against one thread. */
Test(gemm_f32, inside_parallel_region_takes_tiles)
{
    gcase g = plain_case(300, 310, 190, false, false, true);
    gdata d = make_data(&g, 6000);
    float *one = NULL;
    for (int threads = 1; threads <= 2; threads++) {
        float *c = NULL;
        gemm_path path = GEMM_PATH_BLAS;
#pragma omp parallel num_threads(threads)
        {
#pragma omp single
            {
                path = nn_gemm_path(BNN_F32, g.m, g.n, g.k, false);
                c = run(&g, &d, false);
            }
        }
        cr_assert_eq(path, GEMM_PATH_TILES, "%d threads: takes %s", threads, path_name(path));
        if (!one) {
            one = c;
            continue;
        }
        cr_assert(memcmp(c, one, (size_t)(g.m * g.ldc) * sizeof(float)) == 0,
                  "%d threads differ from 1", threads);
        free(c);
    }
    free(one);
    free_data(&d);
    check_case(&g, 6000, false); /* the same data, outside: OpenBLAS whole */
    /* and the result inside against the reference */
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        check_case(&g, 6001, false);
    }
}

/* f64 (gemm and matmul of doubles): one cblas_dgemm, bias added. */
Test(gemm_f32, f64_against_long_double)
{
    int64_t m = 7, n = 9, k = 11;
    double a[7 * 11], b[11 * 9], bias[9], c[7 * 9];
    for (int i = 0; i < m * k; i++)
        a[i] = sin(i + 1.0);
    for (int i = 0; i < k * n; i++)
        b[i] = cos(i + 2.0);
    for (int j = 0; j < n; j++)
        bias[j] = 0.25 * j;
    for (int i = 0; i < m * n; i++)
        c[i] = 1.0 / (i + 1);
    double c0[7 * 9];
    memcpy(c0, c, sizeof c);
    cr_assert_eq(nn_gemm_path(BNN_F64, m, n, k, true), GEMM_PATH_BLAS);
    cr_assert_eq(nn_gemm_scratch_size(BNN_F64, m, n, k), 0);
    nn_gemm(BNN_F64, false, false, m, n, k, 2.0, a, k, b, n, 0.5, c, n, bias, NULL);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            long double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (long double)a[i * k + p] * b[p * n + j];
            double want = (double)(2.0L * s + 0.5L * c0[i * n + j] + bias[j]);
            cr_assert(fabs(c[i * n + j] - want) <= 1e-12 * (1 + fabs(want)), "C[%lld,%lld] %.17g, "
                      "want %.17g", (long long)i, (long long)j, c[i * n + j], want);
        }
}

/* Each element is one chain of multiply-adds along k whichever thread and
 * tile compute it: 1, 2, 3 and 5 threads and a second run give the same
 * bits.  The shapes take each way of splitting the work: rows; columns with
 * a copy of the packed rows per thread; columns with copies shared by more
 * threads than copies (37 rows on 5 threads, 100 on 5). */
Test(gemm_f32, same_bits_on_any_thread_count)
{
    gcase cases[] = {
        {.tb = true, .m = 64, .n = 1200, .k = 784, .lda = 784, .ldb = 784, .ldc = 1200, .alpha = 1,
         .beta = 0, .bias = true},
        {.ta = true, .m = 37, .n = 333, .k = 129, .lda = 40, .ldb = 333, .ldc = 335, .alpha = 0.5f,
         .beta = 1, .bias = false},
        {.m = 200, .n = 77, .k = 500, .lda = 500, .ldb = 77, .ldc = 77, .alpha = 1, .beta = 2.5f,
         .bias = true},
        {.tb = true, .m = 64, .n = 10, .k = 1200, .lda = 1200, .ldb = 1200, .ldc = 10, .alpha = 1,
         .beta = 0, .bias = true},
        {.tb = true, .m = 100, .n = 250, .k = 300, .lda = 300, .ldb = 300, .ldc = 250, .alpha = 1,
         .beta = 0, .bias = false},
    };
    int saved = omp_get_max_threads();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gcase *g = &cases[i];
        gdata d = make_data(g, 4000 + i);
        omp_set_num_threads(1);
        float *one = run(g, &d, true);
        int threads[] = {2, 2, 3, 5};
        for (int t = 0; t < 4; t++) {
            omp_set_num_threads(threads[t]);
            float *c = run(g, &d, true);
            cr_assert(memcmp(c, one, (size_t)(g->m * g->ldc) * sizeof(float)) == 0,
                      "case %zu: %d threads differ from 1", i, threads[t]);
            free(c);
        }
        free(one);
        free_data(&d);
    }
    omp_set_num_threads(saved);
}

/* dense's backward in a training plan (scratch sized for it) computes dx
 * with nn_gemm's AVX-512 path where the CPU has it: against sums in double. */
Test(gemm_f32, dense_backward_in_training)
{
    extern const bnn_kernel bnn_kernel_dense;
    int64_t rows = 40, k = 700, m = 300;
    bnn_shape in[3] = {KN_SHAPE(rows, k), KN_SHAPE(m, k), KN_SHAPE(m)}, y = KN_SHAPE(rows, m);
    if (KN_CPU_PATH("avx512f", "AVX-512", "gemm_f32.dense_backward_in_training"))
        cr_assert_eq(nn_gemm_path(BNN_F32, rows, k, m, true), GEMM_PATH_AVX512); /* dx */
    kn_case *c = kn_create(BNN_OP_DENSE, BNN_F32, 3, in, &y, 5);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(kn_backward(c, 6, 0, &diag), BNN_OK, "%s", diag.message);
    c->args.training = true;
    size_t bytes = bnn_kernel_dense.scratch_size(&c->args);
    cr_assert_geq(bytes, nn_gemm_scratch_size(BNN_F32, rows, k, m));
    void *scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
    cr_assert(scratch);
    memset(scratch, 0xff, bytes);
    void *planned = c->args.scratch;
    c->args.scratch = scratch;
    float *gx = c->grad_inputs[0].data;
    memset(gx, 0, (size_t)(rows * k) * sizeof(float));
    bnn_kernel_grads grads = {.grad_outputs = &c->grad_output, .grad_inputs = c->grad_inputs};
    cr_assert_eq(bnn_kernel_dense.backward(&c->args, &grads, &diag), BNN_OK, "%s", diag.message);
    const float *gy = c->grad_output.data, *w = c->inputs[1].data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++) {
            double s = 0, mag = 0;
            for (int64_t o = 0; o < m; o++) {
                s += (double)gy[r * m + o] * w[o * k + j];
                mag += fabs((double)gy[r * m + o] * w[o * k + j]);
            }
            cr_assert(fabs(gx[r * k + j] - s) <= 2e-5 * mag + 1e-6, "dx[%lld,%lld] %g vs %g",
                      (long long)r, (long long)j, gx[r * k + j], s);
        }
    c->args.scratch = planned;
    free(scratch);
    kn_destroy(c);
}
