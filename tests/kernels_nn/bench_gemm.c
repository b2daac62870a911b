/* Benchmark: the dense kernel on the layers of the MLP 784-1200-1200-10 and
 * of LeNet-5's classifier at batch 64 against a raw cblas_sgemm of the same
 * size (x [64, in] . W^T), in GFLOP/s; then batch 1, where dense takes sgemv.
 * Not a test: `meson test --benchmark --suite kernels_nn -v` prints the
 * numbers.  The two run interleaved, best of 7 blocks each, with pauses
 * between blocks so that one's idle threads do not spin into the other's
 * time: OpenBLAS's spin in sched_yield for tens of milliseconds (2^28
 * cycles) after a threaded sgemm, and slow OpenMP's loops up to tenfold. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"

extern const bnn_kernel bnn_kernel_dense;

enum { REPS = 7 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void pause_ms(long ms)
{
    struct timespec t = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&t, NULL);
}

static void fill(float *p, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
}

static int bench(int64_t batch, int64_t in_f, int64_t out_f)
{
    bnn_diag diag;
    bnn_graph *g = bnn_graph_create("bench");
    bnn_shape xs = {2, {batch, in_f}}, ws = {2, {out_f, in_f}}, bs = {1, {out_f}};
    bnn_shape ys = {2, {batch, out_f}};
    int ids[3] = {bnn_graph_add_value(g, "x", BNN_F32, &xs), bnn_graph_add_value(g, "w", BNN_F32, &ws),
                  bnn_graph_add_value(g, "b", BNN_F32, &bs)};
    int y_id = bnn_graph_add_value(g, "y", BNN_F32, &ys);
    int node = bnn_graph_add_node(g, BNN_OP_DENSE, "fc", ids, 3, &y_id, 1);
    bnn_tensor in[3], out;
    if (!g || node < 0 || bnn_tensor_alloc(&in[0], BNN_F32, &xs, &diag) ||
        bnn_tensor_alloc(&in[1], BNN_F32, &ws, &diag) || bnn_tensor_alloc(&in[2], BNN_F32, &bs, &diag) ||
        bnn_tensor_alloc(&out, BNN_F32, &ys, &diag)) {
        fprintf(stderr, "bench_gemm: setup failed\n");
        return 1;
    }
    fill(in[0].data, (size_t)(batch * in_f), 1);
    fill(in[1].data, (size_t)(out_f * in_f), 2);
    fill(in[2].data, (size_t)out_f, 3);
    bnn_kernel_args args = {.graph = g, .node = bnn_graph_node(g, node), .node_id = node,
                            .inputs = in, .n_inputs = 3, .outputs = &out, .n_outputs = 1};
    size_t scratch_bytes = bnn_kernel_dense.scratch_size(&args);
    args.scratch = aligned_alloc(64, (scratch_bytes + 64) / 64 * 64);
    float *c = malloc(sizeof(float) * (size_t)(batch * out_f));
    if (!args.scratch || !c) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        return 1;
    }
    double flops = 2.0 * (double)(batch * in_f * out_f);
    int iters = (int)(4e8 / flops); /* ~ 2 ms of work per block at 200 GFLOP/s */
    if (iters < 5)
        iters = 5;

    for (int i = 0; i < 10; i++) /* warm up both */
        bnn_kernel_dense.forward(&args, &diag);
    for (int i = 0; i < 10; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)batch, (blasint)out_f,
                    (blasint)in_f, 1.0f, in[0].data, (blasint)in_f, in[1].data, (blasint)in_f, 0.0f,
                    c, (blasint)out_f);
    double best_dense = 1e30, best_blas = 1e30;
    for (int rep = 0; rep < REPS; rep++) {
        pause_ms(200);
        double t0 = now();
        for (int i = 0; i < iters; i++)
            if (bnn_kernel_dense.forward(&args, &diag) != BNN_OK) {
                fprintf(stderr, "bench_gemm: %s\n", diag.message);
                return 1;
            }
        double t1 = now();
        pause_ms(20);
        double t2 = now();
        for (int i = 0; i < iters; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)batch, (blasint)out_f,
                        (blasint)in_f, 1.0f, in[0].data, (blasint)in_f, in[1].data, (blasint)in_f,
                        0.0f, c, (blasint)out_f);
        double t3 = now();
        if (t1 - t0 < best_dense)
            best_dense = t1 - t0;
        if (t3 - t2 < best_blas)
            best_blas = t3 - t2;
    }
    double gd = flops * iters / best_dense * 1e-9, gb = flops * iters / best_blas * 1e-9;
    printf("dense batch %3lld %4lld -> %4lld: bnn dense %6.1f GFLOP/s (%7.1f us/call), raw "
           "cblas_sgemm %6.1f GFLOP/s (%7.1f us/call), ratio %.3f\n",
           (long long)batch, (long long)in_f, (long long)out_f, gd, best_dense / iters * 1e6, gb,
           best_blas / iters * 1e6, gd / gb);
    free(c);
    free(args.scratch);
    for (int i = 0; i < 3; i++)
        bnn_tensor_free(&in[i]);
    bnn_tensor_free(&out);
    bnn_graph_destroy(g);
    return 0;
}

int main(void)
{
    /* the MLP, LeNet-5's dense layers, then batch 1 (sgemv) */
    static const int64_t layers[][3] = {{64, 784, 1200}, {64, 1200, 1200}, {64, 1200, 10},
                                        {64, 400, 120},  {64, 120, 84},    {64, 84, 10},
                                        {1, 1200, 1200}};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (bench(layers[i][0], layers[i][1], layers[i][2]))
            return 1;
    return 0;
}
