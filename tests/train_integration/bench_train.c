/* Times training steps of an ONNX model with bnn_train_bench (the runtime
 * half of `bnnc bench --train`) and prints one JSON object, for comparing
 * with tools/bench_torch_train.py:
 *
 *     bench_train MODEL.onnx [BATCH [ITERS [THREADS [WARMUP]]]]
 *
 * Defaults: batch 64, 50 iterations, 2 threads, 5 warm-up steps; Adam lr 1e-3,
 * bnn_factor 1/8000 as the PyTorch peer.  A plain model trains all its layers.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "bnn_runtime.h"
#include "bnn_train.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    /* As bnnc's main does: libgomp's default spinning takes the cores that
     * OpenBLAS's threads need (LeNet-5 steps ran 6.5 ms or 110 ms by luck). */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", argv);
    }
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train MODEL.onnx [BATCH [ITERS [THREADS [WARMUP]]]]\n");
        return 2;
    }
    int batch = argc > 2 ? atoi(argv[2]) : 64, iters = argc > 3 ? atoi(argv[3]) : 50;
    int threads = argc > 4 ? atoi(argv[4]) : 2, warmup = argc > 5 ? atoi(argv[5]) : 5;
    if (batch < 1 || iters < 1 || threads < 0 || warmup < 0) {
        fprintf(stderr, "bench_train: bad numbers\n");
        return 2;
    }
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    if (bnn_onnx_import_file(argv[1], NULL, &g, &diag) != BNN_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", argv[1], diag.message);
        return 1;
    }
    bnn_graph_mark_layer_params_trainable(g);
    bnn_train_options o = bnn_train_defaults();
    o.bnn_factor = 1.0 / 8000;
    o.batch = batch;
    o.threads = threads;
    bnn_runtime_set_threads(threads);
    /* For experiments: OpenBLAS on fewer threads than the OpenMP loops. */
    if (getenv("BENCH_BLAS_THREADS"))
        openblas_set_num_threads(atoi(getenv("BENCH_BLAS_THREADS")));
    double *ms = malloc(sizeof *ms * (size_t)iters);
    size_t arena = 0;
    int rc = 0;
    if (!ms || bnn_train_bench(g, &o, warmup, iters, ms, &arena, &diag) != BNN_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", argv[1], ms ? diag.message : "out of memory");
        rc = 1;
    } else {
        qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
        double median = ms[iters / 2];
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"iters\": %d, "
               "\"median_ms\": %.4f, \"steps_per_s\": %.2f, \"samples_per_s\": %.1f, "
               "\"peak_rss_mib\": %.1f, \"train_arena_mib\": %.2f}\n",
               argv[1], batch, threads, iters, median, 1e3 / median, batch * 1e3 / median,
               ru.ru_maxrss / 1024.0, arena / 1048576.0);
    }
    free(ms);
    bnn_graph_destroy(g);
    return rc;
}
