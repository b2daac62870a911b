/* dense, gemm and matmul against the reference, forward and backward. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "reference.h"

static void dense_case(int64_t lead0, int lead_rank, int64_t k, int64_t m, int bias, uint64_t seed,
                       int check_backward)
{
    bnn_shape x = lead_rank == 0 ? KN_SHAPE(k)
                  : lead_rank == 1 ? KN_SHAPE(lead0, k) : KN_SHAPE(lead0, 3, k);
    bnn_shape y = x;
    y.dims[y.rank - 1] = m;
    bnn_shape in[3] = {x, KN_SHAPE(m, k), bias ? KN_SHAPE(m) : kn_absent()};
    kn_case *c = kn_create(BNN_OP_DENSE, BNN_F32, 3, in, &y, seed);
    if (check_backward)
        kn_check_backward(c, ref_dense, 1e-3, 0);
    else
        kn_check_forward(c, ref_dense, 1e-4);
    kn_destroy(c);
}

Test(dense, random_shapes_forward)
{
    uint64_t s = 1;
    for (int t = 0; t < 40; t++)
        dense_case(kn_rand_int(&s, 1, 9), (int)kn_rand_int(&s, 0, 2), kn_rand_int(&s, 1, 70),
                   kn_rand_int(&s, 1, 70), (int)kn_rand_int(&s, 0, 1), 100 + t, 0);
}

Test(dense, large_layer_forward)
{
    dense_case(64, 1, 1200, 1200, 1, 7, 0);
    /* few rows take the matrix-vector path */
    dense_case(1, 0, 1200, 300, 1, 8, 0);
    dense_case(3, 1, 300, 1200, 0, 9, 0);
    dense_case(1, 2, 257, 255, 1, 10, 0); /* [1, 3, K]: 3 rows */
}

/* Batches of 5 to 70 rows against wide layers: nn_gemm's AVX-512 path
 * where the CPU has it, with shapes off its 16-row and 6-column tiles. */
Test(dense, few_rows_wide_layers_forward)
{
    KN_CPU_PATH("avx512f", "AVX-512", "dense.few_rows_wide_layers_forward");
    uint64_t s = 5;
    for (int t = 0; t < 12; t++)
        dense_case(kn_rand_int(&s, 5, 70), 1, kn_rand_int(&s, 1, 900), kn_rand_int(&s, 1, 1300),
                   t % 2, 500 + t, 0);
}

Test(dense, gradients)
{
    uint64_t s = 2;
    for (int t = 0; t < 12; t++)
        dense_case(kn_rand_int(&s, 1, 4), (int)kn_rand_int(&s, 0, 2), kn_rand_int(&s, 1, 9),
                   kn_rand_int(&s, 1, 9), (int)kn_rand_int(&s, 0, 1), 200 + t, 1);
}

Test(dense, rejects_f64_naming_the_node)
{
    bnn_shape in[2] = {KN_SHAPE(2, 3), KN_SHAPE(4, 3)}, y = KN_SHAPE(2, 4);
    kn_case *c = kn_create(BNN_OP_DENSE, BNN_F64, 2, in, &y, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert(strstr(diag.message, "'n0'") && strstr(diag.message, "f64"), "%s", diag.message);
    kn_destroy(c);
}

Test(dense, rejects_mismatched_inner_dim)
{
    bnn_shape in[2] = {KN_SHAPE(2, 3), KN_SHAPE(4, 5)}, y = KN_SHAPE(2, 4);
    kn_case *c = kn_create(BNN_OP_DENSE, BNN_F32, 2, in, &y, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    kn_destroy(c);
}

/* ---- gemm ---- */

static void gemm_case(bnn_dtype dt, int64_t m, int64_t n, int64_t k, int ta, int tb, int c_kind,
                      float alpha, float beta, uint64_t seed, int check_backward)
{
    bnn_shape cs[] = {kn_absent(), KN_SHAPE(1), KN_SHAPE(n), KN_SHAPE(1, n), KN_SHAPE(m, 1),
                      KN_SHAPE(m, n), {.rank = 0}};
    bnn_shape in[3] = {ta ? KN_SHAPE(k, m) : KN_SHAPE(m, k), tb ? KN_SHAPE(n, k) : KN_SHAPE(k, n),
                       cs[c_kind]};
    bnn_shape y = KN_SHAPE(m, n);
    kn_case *c = kn_create(BNN_OP_GEMM, dt, 3, in, &y, seed);
    kn_set_int(c, "trans_a", ta);
    kn_set_int(c, "trans_b", tb);
    if (alpha != 1)
        kn_set_float(c, "alpha", alpha);
    if (beta != 1)
        kn_set_float(c, "beta", beta);
    double tol = dt == BNN_F64 ? 1e-9 : check_backward ? 1e-3 : 1e-4;
    if (check_backward)
        kn_check_backward(c, ref_gemm, dt == BNN_F64 ? 1e-6 : tol, 0);
    else
        kn_check_forward(c, ref_gemm, tol);
    kn_destroy(c);
}

Test(gemm, random_forward_f32_and_f64)
{
    uint64_t s = 3;
    for (int t = 0; t < 48; t++) {
        bnn_dtype dt = t % 2 ? BNN_F64 : BNN_F32;
        float alpha = t % 3 ? 1.0f : 0.5f, beta = t % 5 ? 1.0f : -2.0f;
        gemm_case(dt, kn_rand_int(&s, 1, 30), kn_rand_int(&s, 1, 30), kn_rand_int(&s, 1, 30),
                  t / 2 % 2, t / 4 % 2, (int)kn_rand_int(&s, 0, 6), alpha, beta, 300 + t, 0);
    }
}

Test(gemm, wide_forward_f32)
{
    uint64_t s = 6;
    for (int t = 0; t < 16; t++)
        gemm_case(BNN_F32, kn_rand_int(&s, 5, 70), kn_rand_int(&s, 1, 700), kn_rand_int(&s, 1, 500),
                  t % 2, t / 2 % 2, (int)kn_rand_int(&s, 0, 6), t % 3 ? 1.0f : 0.5f,
                  t % 5 ? 1.0f : -2.0f, 600 + t, 0);
}

Test(gemm, gradients)
{
    uint64_t s = 4;
    for (int t = 0; t < 16; t++)
        gemm_case(t % 3 ? BNN_F32 : BNN_F64, kn_rand_int(&s, 1, 6), kn_rand_int(&s, 1, 6),
                  kn_rand_int(&s, 1, 6), t % 2, t / 2 % 2, (int)kn_rand_int(&s, 0, 6),
                  t % 4 ? 1.0f : 0.75f, t % 5 ? 1.0f : 1.5f, 400 + t, 1);
}

/* ---- matmul ---- */

static void matmul_case(bnn_dtype dt, bnn_shape a, bnn_shape b, bnn_shape y, uint64_t seed,
                        int check_backward)
{
    bnn_shape in[2] = {a, b};
    kn_case *c = kn_create(BNN_OP_MATMUL, dt, 2, in, &y, seed);
    double tol = dt == BNN_F64 ? 1e-9 : 1e-4;
    if (check_backward)
        kn_check_backward(c, ref_matmul, dt == BNN_F64 ? 1e-6 : 1e-3, 0);
    else
        kn_check_forward(c, ref_matmul, tol);
    kn_destroy(c);
}

static void matmul_all(int check_backward)
{
    for (int d = 0; d < 2; d++) {
        bnn_dtype dt = d ? BNN_F64 : BNN_F32;
        bnn_shape scalar = {.rank = 0};
        matmul_case(dt, KN_SHAPE(5), KN_SHAPE(5), scalar, 1, check_backward);
        matmul_case(dt, KN_SHAPE(4), KN_SHAPE(4, 3), KN_SHAPE(3), 2, check_backward);
        matmul_case(dt, KN_SHAPE(3, 4), KN_SHAPE(4), KN_SHAPE(3), 3, check_backward);
        matmul_case(dt, KN_SHAPE(3, 4), KN_SHAPE(4, 5), KN_SHAPE(3, 5), 4, check_backward);
        /* A batched, B one matrix: the folded single-GEMM path */
        matmul_case(dt, KN_SHAPE(2, 3, 3, 4), KN_SHAPE(4, 5), KN_SHAPE(2, 3, 3, 5), 5,
                    check_backward);
        /* A one matrix, B batched */
        matmul_case(dt, KN_SHAPE(3, 4), KN_SHAPE(2, 4, 5), KN_SHAPE(2, 3, 5), 6, check_backward);
        /* broadcasting both ways */
        matmul_case(dt, KN_SHAPE(2, 1, 3, 4), KN_SHAPE(3, 4, 2), KN_SHAPE(2, 3, 3, 2), 7,
                    check_backward);
        matmul_case(dt, KN_SHAPE(4), KN_SHAPE(2, 3, 4, 2), KN_SHAPE(2, 3, 2), 8, check_backward);
        matmul_case(dt, KN_SHAPE(2, 3, 5, 4), KN_SHAPE(4), KN_SHAPE(2, 3, 5), 9, check_backward);
        matmul_case(dt, KN_SHAPE(3, 2, 4), KN_SHAPE(3, 4, 3), KN_SHAPE(3, 2, 3), 10,
                    check_backward);
    }
}

Test(matmul, numpy_shapes_forward)
{
    matmul_all(0);
}

Test(matmul, numpy_shapes_gradients)
{
    matmul_all(1);
}

Test(matmul, large_batched_forward)
{
    matmul_case(BNN_F32, KN_SHAPE(4, 37, 65), KN_SHAPE(4, 65, 29), KN_SHAPE(4, 37, 29), 11, 0);
}

Test(matmul, rejects_bad_broadcast)
{
    bnn_shape in[2] = {KN_SHAPE(2, 3, 4), KN_SHAPE(3, 4, 5)}, y = KN_SHAPE(3, 3, 5);
    kn_case *c = kn_create(BNN_OP_MATMUL, BNN_F32, 2, in, &y, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "'n0'"), "%s", diag.message);
    kn_destroy(c);
}

Test(dense, partial_gradients)
{
    for (unsigned mask = 1; mask < 7; mask++) {
        bnn_shape in[3] = {KN_SHAPE(5, 7), KN_SHAPE(3, 7), KN_SHAPE(3)}, y = KN_SHAPE(5, 3);
        kn_case *c = kn_create(BNN_OP_DENSE, BNN_F32, 3, in, &y, mask);
        kn_check_partial_backward(c, mask);
        kn_destroy(c);
        bnn_shape gin[3] = {KN_SHAPE(7, 5), KN_SHAPE(3, 7), KN_SHAPE(5, 3)};
        c = kn_create(BNN_OP_GEMM, BNN_F32, 3, gin, &y, mask);
        kn_set_int(c, "trans_a", 1);
        kn_set_int(c, "trans_b", 1);
        kn_check_partial_backward(c, mask);
        kn_destroy(c);
    }
    for (unsigned mask = 1; mask < 3; mask++) {
        bnn_shape in[2] = {KN_SHAPE(2, 1, 3, 4), KN_SHAPE(3, 4, 2)}, y = KN_SHAPE(2, 3, 3, 2);
        kn_case *c = kn_create(BNN_OP_MATMUL, BNN_F32, 2, in, &y, mask);
        kn_check_partial_backward(c, mask);
        kn_destroy(c);
    }
}

/* Medium layers (LeNet's fc1 at batch 64) run as tiles of serial sgemms on
 * OpenMP's threads: forward against the reference, and the gradients against
 * sums in double, and the same bits on 1 and 2 threads. */
static void tiled_case(int64_t rows, int64_t k, int64_t m, uint64_t seed, int threads, float *out)
{
    bnn_shape x = KN_SHAPE(rows, k), y = KN_SHAPE(rows, m);
    bnn_shape in[3] = {x, KN_SHAPE(m, k), KN_SHAPE(m)};
    kn_case *c = kn_create(BNN_OP_DENSE, BNN_F32, 3, in, &y, seed);
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    if (!out)
        kn_check_forward(c, ref_dense, 1e-4);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(kn_backward(c, seed, 0, &diag), BNN_OK, "%s", diag.message);
    /* again from zero gradients, to compare with plain sums */
    for (int i = 0; i < 3; i++)
        memset(c->grad_inputs[i].data, 0, (size_t)bnn_tensor_numel(&c->grad_inputs[i]) * sizeof(float));
    extern const bnn_kernel bnn_kernel_dense;
    bnn_kernel_grads grads = {.grad_outputs = &c->grad_output, .grad_inputs = c->grad_inputs};
    cr_assert_eq(bnn_kernel_dense.backward(&c->args, &grads, &diag), BNN_OK, "%s", diag.message);
    omp_set_num_threads(saved);
    const float *xs = c->inputs[0].data, *w = c->inputs[1].data, *gy = c->grad_output.data;
    const float *gx = c->grad_inputs[0].data, *gw = c->grad_inputs[1].data;
    if (out) { /* y, dx, dW for the thread-count comparison */
        memcpy(out, c->output.data, (size_t)(rows * m) * sizeof(float));
        memcpy(out + rows * m, gx, (size_t)(rows * k) * sizeof(float));
        memcpy(out + rows * m + rows * k, gw, (size_t)(m * k) * sizeof(float));
        kn_destroy(c);
        return;
    }
    for (int64_t r = 0; r < rows; r += 7)
        for (int64_t j = 0; j < k; j += 5) {
            double s = 0, mag = 0;
            for (int64_t o = 0; o < m; o++) {
                s += (double)gy[r * m + o] * w[o * k + j];
                mag += fabs((double)gy[r * m + o] * w[o * k + j]);
            }
            cr_assert(fabs(gx[r * k + j] - s) <= 1e-5 * (mag + 1), "dx[%lld,%lld] %g vs %g",
                      (long long)r, (long long)j, (double)gx[r * k + j], s);
        }
    for (int64_t o = 0; o < m; o += 3)
        for (int64_t j = 0; j < k; j += 11) {
            double s = 0, mag = 0;
            for (int64_t r = 0; r < rows; r++) {
                s += (double)gy[r * m + o] * xs[r * k + j];
                mag += fabs((double)gy[r * m + o] * xs[r * k + j]);
            }
            cr_assert(fabs(gw[o * k + j] - s) <= 1e-5 * (mag + 1), "dW[%lld,%lld] %g vs %g",
                      (long long)o, (long long)j, (double)gw[o * k + j], s);
        }
    kn_destroy(c);
}

Test(dense, tiled_medium_layers)
{
    tiled_case(64, 400, 120, 31, 2, NULL);
    tiled_case(37, 500, 130, 32, 2, NULL);
    tiled_case(64, 120, 84, 33, 2, NULL);
    tiled_case(200, 31, 90, 34, 1, NULL);
}

Test(dense, tiled_same_bits_on_any_thread_count)
{
    int64_t rows = 37, k = 500, m = 130, n = rows * m + rows * k + m * k;
    float *one = malloc((size_t)n * sizeof(float)), *two = malloc((size_t)n * sizeof(float));
    tiled_case(rows, k, m, 35, 1, one);
    tiled_case(rows, k, m, 35, 2, two);
    cr_assert_eq(memcmp(one, two, (size_t)n * sizeof(float)), 0);
    free(one);
    free(two);
}
