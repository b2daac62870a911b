/* Benchmark: the dense kernel on a 1200x1200 layer at batch 64 against a raw
 * cblas_sgemm of the same size (x [64,1200] . W^T), in GFLOP/s, to show how
 * close dense runs to OpenBLAS's own speed; then batch 1, where dense takes
 * sgemv.  Not a test: `meson test --benchmark --suite kernels_nn -v` prints
 * the numbers. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernel.h"

extern const bnn_kernel bnn_kernel_dense;

enum { IN = 1200, OUT = 1200, ITERS = 200 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *p, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
}

static int bench(int64_t batch)
{
    bnn_diag diag;
    bnn_graph *g = bnn_graph_create("bench");
    bnn_shape xs = {2, {batch, IN}}, ws = {2, {OUT, IN}}, bs = {1, {OUT}}, ys = {2, {batch, OUT}};
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
    fill(in[0].data, batch * IN, 1);
    fill(in[1].data, OUT * IN, 2);
    fill(in[2].data, OUT, 3);
    bnn_kernel_args args = {.graph = g, .node = bnn_graph_node(g, node), .node_id = node,
                            .inputs = in, .n_inputs = 3, .outputs = &out, .n_outputs = 1};
    float *c = malloc(sizeof(float) * batch * OUT);
    double flops = 2.0 * batch * IN * OUT;

    for (int i = 0; i < 10; i++) /* warm up both */
        bnn_kernel_dense.forward(&args, &diag);
    double best_dense = 1e30, best_blas = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int i = 0; i < ITERS; i++)
            if (bnn_kernel_dense.forward(&args, &diag) != BNN_OK) {
                fprintf(stderr, "bench_gemm: %s\n", diag.message);
                return 1;
            }
        double t1 = now();
        for (int i = 0; i < ITERS; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, OUT, IN, 1.0f, in[0].data,
                        IN, in[1].data, IN, 0.0f, c, OUT);
        double t2 = now();
        if (t1 - t0 < best_dense) best_dense = t1 - t0;
        if (t2 - t1 < best_blas) best_blas = t2 - t1;
    }
    double gd = flops * ITERS / best_dense * 1e-9, gb = flops * ITERS / best_blas * 1e-9;
    printf("dense %dx%d batch %lld: bnn dense %.2f GFLOP/s (%.1f us/call), raw cblas_sgemm "
           "%.2f GFLOP/s (%.1f us/call), ratio %.3f\n",
           IN, OUT, (long long)batch, gd, best_dense / ITERS * 1e6, gb, best_blas / ITERS * 1e6, gd / gb);
    free(c);
    for (int i = 0; i < 3; i++)
        bnn_tensor_free(&in[i]);
    bnn_tensor_free(&out);
    bnn_graph_destroy(g);
    return 0;
}

int main(void)
{
    return bench(64) || bench(1);
}
