/* Benchmark: the conv kernel forward and backward on a few CNN layer shapes,
 * in milliseconds per call and GFLOP/s (2*N*M*OH*OW*C/g*kH*kW per pass).
 * Not a test: `meson test --benchmark --suite kernels_nn -v` prints them;
 * compare with PyTorch's conv2d on the same shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"

extern const bnn_kernel bnn_kernel_conv;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The process's CPU time: on a shared host, time another process takes
 * from this one's core does not count (one thread: the kernel's own time). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct layer {
    const char *name;
    int64_t n, c, h, w, m, k, stride, pad, group;
} layer;

static int bench(const layer *l, int compare)
{
    bnn_diag diag;
    int64_t oh = (l->h + 2 * l->pad - l->k) / l->stride + 1, ow = (l->w + 2 * l->pad - l->k) / l->stride + 1;
    bnn_shape xs = {4, {l->n, l->c, l->h, l->w}}, ws = {4, {l->m, l->c / l->group, l->k, l->k}};
    bnn_shape bs = {1, {l->m}}, ys = {4, {l->n, l->m, oh, ow}};
    bnn_graph *g = bnn_graph_create("bench");
    int ids[3] = {bnn_graph_add_value(g, "x", BNN_F32, &xs), bnn_graph_add_value(g, "w", BNN_F32, &ws),
                  bnn_graph_add_value(g, "b", BNN_F32, &bs)};
    int y_id = bnn_graph_add_value(g, "y", BNN_F32, &ys);
    int node = bnn_graph_add_node(g, BNN_OP_CONV, l->name, ids, 3, &y_id, 1);
    int64_t st[2] = {l->stride, l->stride}, pads[4] = {l->pad, l->pad, l->pad, l->pad};
    bnn_node_set_ints(g, node, "strides", st, 2);
    bnn_node_set_ints(g, node, "pads", pads, 4);
    bnn_node_set_int(g, node, "group", l->group);
    bnn_tensor in[3], out, gin[3], gout;
    const bnn_shape *shapes[3] = {&xs, &ws, &bs};
    for (int i = 0; i < 3; i++)
        if (bnn_tensor_alloc(&in[i], BNN_F32, shapes[i], &diag) ||
            bnn_tensor_alloc(&gin[i], BNN_F32, shapes[i], &diag))
            return 1;
    if (bnn_tensor_alloc(&out, BNN_F32, &ys, &diag) || bnn_tensor_alloc(&gout, BNN_F32, &ys, &diag))
        return 1;
    for (int i = 0; i < 3; i++)
        for (int64_t j = 0; j < bnn_tensor_numel(&in[i]); j++)
            ((float *)in[i].data)[j] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int64_t j = 0; j < bnn_tensor_numel(&gout); j++)
        ((float *)gout.data)[j] = (float)rand() / (float)RAND_MAX - 0.5f;
    bnn_kernel_args args = {.graph = g, .node = bnn_graph_node(g, node), .node_id = node,
                            .inputs = in, .n_inputs = 3, .outputs = &out, .n_outputs = 1};
    size_t scratch = bnn_kernel_conv.scratch_size ? bnn_kernel_conv.scratch_size(&args) : 0;
    args.scratch = aligned_alloc(64, (scratch + 63) / 64 * 64 + 64);
    bnn_kernel_grads grads = {.grad_outputs = &gout, .grad_inputs = gin};
    double flops = 2.0 * (double)(l->n * l->m * oh * ow * (l->c / l->group) * l->k * l->k);
    int iters = (int)(2e9 / flops) + 1;
    if (iters > 2000) iters = 2000;
    if (compare) { /* inference path against the training path's forward, interleaved */
        double best[2] = {1e30, 1e30};
        iters = iters / 4 + 1;
        for (int rep = 0; rep < 7; rep++)
            for (int t = 0; t < 2; t++) {
                args.training = t == 1;
                double t0 = cpu_now();
                for (int i = 0; i < iters; i++)
                    if (bnn_kernel_conv.forward(&args, &diag))
                        return fprintf(stderr, "%s\n", diag.message), 1;
                double dt = (cpu_now() - t0) / iters;
                if (rep && dt < best[t])
                    best[t] = dt;
            }
        printf("%-13s c%-4lld %3lldx%-3lld m%-4lld k%lld s%lld g%-4lld: inference %.4f ms (%5.1f "
               "GFLOP/s), training path %.4f ms (%5.1f GFLOP/s), %.2fx\n",
               l->name, (long long)l->c, (long long)l->h, (long long)l->w, (long long)l->m,
               (long long)l->k, (long long)l->stride, (long long)l->group, best[0] * 1e3,
               flops / best[0] * 1e-9, best[1] * 1e3, flops / best[1] * 1e-9, best[1] / best[0]);
        goto done;
    }
    double best_f = 1e30, best_b = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now();
        for (int i = 0; i < iters; i++)
            if (bnn_kernel_conv.forward(&args, &diag))
                return fprintf(stderr, "%s\n", diag.message), 1;
        double t1 = now();
        for (int i = 0; i < iters; i++)
            if (bnn_kernel_conv.backward(&args, &grads, &diag))
                return fprintf(stderr, "%s\n", diag.message), 1;
        double t2 = now();
        if (rep) { /* the first round warms up */
            if ((t1 - t0) / iters < best_f) best_f = (t1 - t0) / iters;
            if ((t2 - t1) / iters < best_b) best_b = (t2 - t1) / iters;
        }
    }
    printf("%-13s x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] s%lld p%lld g%lld: forward %.4f ms "
           "(%.1f GFLOP/s), backward %.4f ms (%.1f GFLOP/s)\n",
           l->name, (long long)l->n, (long long)l->c, (long long)l->h, (long long)l->w,
           (long long)l->m, (long long)(l->c / l->group), (long long)l->k, (long long)l->k,
           (long long)l->stride, (long long)l->pad, (long long)l->group, best_f * 1e3,
           flops / best_f * 1e-9, best_b * 1e3, 2 * flops / best_b * 1e-9);
done:
    free(args.scratch);
    for (int i = 0; i < 3; i++) {
        bnn_tensor_free(&in[i]);
        bnn_tensor_free(&gin[i]);
    }
    bnn_tensor_free(&out);
    bnn_tensor_free(&gout);
    bnn_graph_destroy(g);
    return 0;
}

/* Batch-1 layers of LeNet-5 and the published conv nets (issue 14). */
static const layer nets[] = {
    {"lenet_c1", 1, 1, 28, 28, 6, 5, 1, 2, 1},
    {"lenet_c2", 1, 6, 14, 14, 16, 5, 1, 0, 1},
    {"small_mnist_c1", 1, 1, 28, 28, 32, 3, 1, 1, 1},
    {"small_mnist_c2", 1, 32, 14, 14, 64, 3, 1, 1, 1},
    {"small_cifar_c3", 1, 64, 8, 8, 128, 3, 1, 1, 1},
    {"r18_conv1", 1, 3, 224, 224, 64, 7, 2, 3, 1},
    {"r18_l1", 1, 64, 56, 56, 64, 3, 1, 1, 1},
    {"r18_l2_s2", 1, 64, 56, 56, 128, 3, 2, 1, 1},
    {"r18_l2", 1, 128, 28, 28, 128, 3, 1, 1, 1},
    {"r18_l3", 1, 256, 14, 14, 256, 3, 1, 1, 1},
    {"r18_l4", 1, 512, 7, 7, 512, 3, 1, 1, 1},
    {"r18_down", 1, 128, 28, 28, 256, 1, 2, 0, 1},
    {"mv2_conv0", 1, 3, 224, 224, 32, 3, 2, 1, 1},
    {"mv2_dw112", 1, 32, 112, 112, 32, 3, 1, 1, 32},
    {"mv2_dw_s2", 1, 96, 112, 112, 96, 3, 2, 1, 96},
    {"mv2_dw56", 1, 144, 56, 56, 144, 3, 1, 1, 144},
    {"mv2_dw14", 1, 576, 14, 14, 576, 3, 1, 1, 576},
    {"mv2_dw7", 1, 960, 7, 7, 960, 3, 1, 1, 960},
    {"mv2_pw112", 1, 16, 112, 112, 96, 1, 1, 0, 1},
    {"mv2_pw56", 1, 144, 56, 56, 24, 1, 1, 0, 1},
    {"mv2_pw14e", 1, 64, 14, 14, 384, 1, 1, 0, 1},
    {"mv2_pw14p", 1, 576, 14, 14, 96, 1, 1, 0, 1},
    {"mv2_pw7p", 1, 960, 7, 7, 320, 1, 1, 0, 1},
    {"mv2_pw7e", 1, 320, 7, 7, 1280, 1, 1, 0, 1},
    {"mv3_dw5", 1, 96, 14, 14, 96, 5, 1, 2, 96},
    {"mv3_dw5_7", 1, 576, 7, 7, 576, 5, 1, 2, 576},
    {"mv3_se", 1, 576, 1, 1, 144, 1, 1, 0, 1},
};

/* With no argument the original table, forward and backward; with `nets`
 * the batch-1 layers above (or `nets B [NAME]` at batch B, layers whose name
 * has NAME), each forward on the inference path against the training
 * path's, in CPU time (best of 6 interleaved rounds; run it with
 * OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 for per-core speed). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "nets") == 0) {
        int64_t batch = argc > 2 ? atoll(argv[2]) : 1;
        for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
            layer l = nets[i];
            l.n = batch;
            if (argc > 3 && !strstr(l.name, argv[3]))
                continue;
            if (bench(&l, 1))
                return 1;
        }
        return 0;
    }
    static const layer layers[] = {
        {"lenet_c1_b1", 1, 1, 28, 28, 6, 5, 1, 2, 1},
        {"lenet_c2_b1", 1, 6, 14, 14, 16, 5, 1, 0, 1},
        {"lenet_c1_b64", 64, 1, 28, 28, 6, 5, 1, 2, 1},
        {"lenet_c2_b64", 64, 6, 14, 14, 16, 5, 1, 0, 1},
        {"mnist_c1", 64, 1, 28, 28, 32, 3, 1, 1, 1},
        {"mnist_c2", 64, 32, 14, 14, 64, 3, 1, 1, 1},
        {"cifar_c3", 64, 64, 8, 8, 128, 3, 1, 1, 1},
        {"resnet_1x1", 16, 64, 28, 28, 128, 1, 1, 0, 1},
        {"resnet_s2", 16, 64, 56, 56, 128, 3, 2, 1, 1},
        {"depthwise", 16, 64, 56, 56, 64, 3, 1, 1, 64},
        {"batch1", 1, 64, 56, 56, 64, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (bench(&layers[i], 0))
            return 1;
    return 0;
}
