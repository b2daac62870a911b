/* Benchmark: import + verify, convert (canonicalize,to-bnn,dce) and plan a
 * chain of N Relu nodes, N = 1,000 ... 100,000; prints the time per node of
 * each phase, which stays flat when every phase is linear.  Medians of
 * --rounds rounds (default 3).  meson test --benchmark --suite harden, or run
 * the executable directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_runtime.h"
#include "onnx_wire.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = 3;
    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = atoi(argv[2]);
    if (rounds < 1 || rounds > 99)
        rounds = 3;
    static const int sizes[] = {1000, 10000, 30000, 100000};
    printf("%8s %12s %12s %12s %12s %10s\n", "nodes", "import us/n", "convert us/n",
           "plan us/n", "total s", "(median)");
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int n = sizes[k];
        wire m = {0};
        wire_relu_chain(&m, n, 0);
        double t_imp[99], t_conv[99], t_plan[99], t_all[99];
        for (int r = 0; r < rounds; r++) {
            bnn_diag diag = {0};
            bnn_graph *g = NULL;
            double t0 = now();
            if (bnn_onnx_import_buffer(m.data, m.len, NULL, NULL, &g, &diag) != BNN_OK) {
                fprintf(stderr, "import: %s\n", diag.message);
                return 1;
            }
            double t1 = now();
            if (bnn_passes_run_text("canonicalize,to-bnn,dce", g, &diag) != BNN_OK) {
                fprintf(stderr, "convert: %s\n", diag.message);
                return 1;
            }
            double t2 = now();
            bnn_session_options opt = bnn_session_defaults();
            opt.threads = 1;
            bnn_session *s = NULL;
            if (bnn_session_create_batch(g, 1, &opt, &s, &diag) != BNN_OK) {
                fprintf(stderr, "plan: %s\n", diag.message);
                return 1;
            }
            double t3 = now();
            bnn_session_destroy(s);
            bnn_graph_destroy(g);
            t_imp[r] = (t1 - t0) / n * 1e6;
            t_conv[r] = (t2 - t1) / n * 1e6;
            t_plan[r] = (t3 - t2) / n * 1e6;
            t_all[r] = t3 - t0;
        }
        qsort(t_imp, (size_t)rounds, sizeof(double), by_value);
        qsort(t_conv, (size_t)rounds, sizeof(double), by_value);
        qsort(t_plan, (size_t)rounds, sizeof(double), by_value);
        qsort(t_all, (size_t)rounds, sizeof(double), by_value);
        printf("%8d %12.2f %12.2f %12.2f %12.3f\n", n, t_imp[rounds / 2], t_conv[rounds / 2],
               t_plan[rounds / 2], t_all[rounds / 2]);
        fflush(stdout);
        wire_free(&m);
    }
    return 0;
}
