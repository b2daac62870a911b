/* bnnc bench: time the planned forward run of a model in-process, or with
 * --train its training steps (forward, backward, optimizer).
 *
 * Like ONNX Runtime's perf tool: plan once for the batch, fill the inputs with
 * seeded random numbers, run `warmup` untimed iterations, then time `iters`
 * runs one by one and report the median and spread of their latencies, the
 * throughput at the median and the process's peak resident memory.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_predictive.h"
#include "bnn_runtime.h"
#include "bench_roofline.h"
#include "bnn_train.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bnnc bench MODEL.onnx [--train] [--batch B] [--iters N] [--warmup N]\n"
            "                  [--threads T] [--json]\n\n"
            "Times the model's forward run on random inputs of the given batch size, or\n"
            "with --train whole training steps (forward, backward, Adam) on random data\n"
            "with 10 classes.  Prints the median, 10th and 90th percentile latency, the\n"
            "throughput and the peak resident memory.\n\n"
            "options:\n"
            "      --train       time training steps (cross-entropy, Adam lr 1e-3)\n"
            "  -b, --batch B     batch size (default 1; 64 with --train)\n"
            "  -n, --iters N     timed runs (default 100)\n"
            "  -w, --warmup N    untimed runs first (default 10)\n"
            "  -t, --threads T   OpenBLAS/OpenMP threads (default 0: all cores)\n"
            "      --profile     also time each node and print where the time goes\n"
            "      --predictive moments|glm  time that sampling-free predictive against\n"
            "                    Monte-Carlo with --samples S (default 32) in interleaved\n"
            "                    rounds and print both medians and the speed-up\n"
            "      --logits sigma|draws|probit  how --predictive turns the logits' Gaussian\n"
            "                    into probabilities (default sigma)\n"
            "      --json        one JSON object: median_ms, p10_ms, p90_ms,\n"
            "                    samples_per_s (and steps_per_s with --train),\n"
            "                    peak_rss_mib, batch, threads, ...\n"
            "With --train it also measures the step's roofline: its matrix products as\n"
            "bare sgemm calls plus its parameter traffic at a measured bandwidth\n"
            "(roofline_ms, roofline_ratio = median / roofline; docs/runtime.md).\n"
            BNNC_INPUT_SHAPE_USAGE
            "  -h, --help        show this help\n");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear interpolation between order statistics, as numpy.percentile does. */
static double percentile(const double *sorted, int n, double q)
{
    double pos = q / 100.0 * (n - 1);
    int lo = (int)pos;
    if (lo >= n - 1)
        return sorted[n - 1];
    return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* splitmix64: the inputs only need to be reproducible, not good. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_random(const bnn_tensor *t, uint64_t *state)
{
    int64_t n = bnn_tensor_numel(t);
    if (t->dtype == BNN_F32) {
        float *x = t->data;
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)((next_random(state) >> 40) * (1.0 / (1 << 24)));
    } else if (t->dtype == BNN_F64) {
        double *x = t->data;
        for (int64_t i = 0; i < n; i++)
            x[i] = (double)(next_random(state) >> 11) * (1.0 / 9007199254740992.0);
    } else {
        memset(t->data, 0, bnn_tensor_nbytes(t)); /* integer inputs: indices, keep in range */
    }
}

/* Separate runs with a clock around each node (the clock reads would skew
 * the overall latency): the mean time per node, biggest first. */
static bnn_status print_profile(bnn_session *s, const char *model, int iters, bnn_diag *diag)
{
    int n = bnn_session_n_nodes(s);
    double *node_ms = calloc((size_t)n + 1, sizeof *node_ms);
    int *order = calloc((size_t)n + 1, sizeof *order);
    if (!node_ms || !order) {
        free(node_ms);
        free(order);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    }
    bnn_status st = BNN_OK;
    for (int i = 0; i < iters && st == BNN_OK; i++)
        st = bnn_session_run_timed(s, node_ms, diag);
    double total = 0;
    for (int p = 0; p < n; p++) {
        order[p] = p;
        total += node_ms[p];
    }
    /* insertion sort by time, descending: graphs are small */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && node_ms[order[j]] > node_ms[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (st == BNN_OK) {
        printf("%s: time per node (mean of %d runs)\n", model, iters);
        for (int i = 0; i < n; i++) {
            int p = order[i];
            bnn_session_node node = bnn_session_node_at(s, p);
            if (node.skipped)
                continue;
            char label[300], shape[128];
            const bnn_tensor *y = &node.outputs[0];
            printf("  %9.4f ms %5.1f%%  %-40s -> %s\n", node_ms[p] / iters,
                   total > 0 ? 100 * node_ms[p] / total : 0,
                   bnn_node_label(bnn_session_graph(s), node.node_id, label, sizeof label),
                   bnn_shape_format(&y->shape, y->dtype, shape, sizeof shape));
        }
    }
    free(node_ms);
    free(order);
    return st;
}

int bnnc_cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"batch", required_argument, NULL, 'b'},  {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'}, {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"profile", no_argument, NULL, 'p'},     {"train", no_argument, NULL, 'T'},
        {"predictive", required_argument, NULL, 'P'}, {"samples", required_argument, NULL, 'S'},
        {"logits", required_argument, NULL, 'L'},
        BNNC_INPUT_SHAPE_OPTION,
        {NULL, 0, NULL, 0},
    };
    int64_t batch = 0, iters = 100, warmup = 10, threads = 0;
    bool json = false, profile = false, train = false;
    bench_predictive_options po = {.predictive = BNN_PREDICTIVE_MC, .samples = 32};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":b:n:w:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("bench", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case 'b':
            if (!bnnc_parse_int(optarg, 1, 1 << 20, &batch))
                return bnnc_usage_error("bench", "--batch wants a number 1..1048576, not '%s'", optarg);
            break;
        case 'n':
            if (!bnnc_parse_int(optarg, 1, 10000000, &iters))
                return bnnc_usage_error("bench", "--iters wants a positive number, not '%s'", optarg);
            break;
        case 'w':
            if (!bnnc_parse_int(optarg, 0, 10000000, &warmup))
                return bnnc_usage_error("bench", "--warmup wants a number >= 0, not '%s'", optarg);
            break;
        case 't':
            if (!bnnc_parse_int(optarg, 0, 4096, &threads))
                return bnnc_usage_error("bench", "--threads wants a number 0..4096, not '%s'", optarg);
            break;
        case 'j': json = true; break;
        case 'p': profile = true; break;
        case 'T': train = true; break;
        case 'P':
            if (!bnn_predictive_from_name(optarg, &po.predictive) ||
                po.predictive == BNN_PREDICTIVE_MC)
                return bnnc_usage_error("bench", "--predictive wants moments or glm, not '%s'",
                                        optarg);
            break;
        case 'S':
            if (!bnnc_parse_int(optarg, 1, 100000, &po.samples))
                return bnnc_usage_error("bench", "--samples wants a number 1..100000, not '%s'",
                                        optarg);
            break;
        case 'L':
            if (!bnn_logit_rule_from_name(optarg, &po.rule))
                return bnnc_usage_error("bench", "--logits wants sigma, draws or probit, not '%s'",
                                        optarg);
            break;
        case 'h': usage(stdout); return BNNC_EXIT_OK;
        case ':': return bnnc_usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
        default: return bnnc_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bnnc_usage_error("bench", "no model given");
    if (optind + 1 < argc)
        return bnnc_usage_error("bench", "unexpected argument '%s'", argv[optind + 1]);
    const char *model = argv[optind];
    if (!batch)
        batch = train ? 64 : 1;
    if (train && po.predictive != BNN_PREDICTIVE_MC)
        return bnnc_usage_error("bench", "--predictive times inference only");
    if (train && profile)
        return bnnc_usage_error("bench", "--profile times inference only");

    /* training keeps batch norms (they may be trainable); inference folds them */
    bnn_graph *g = train ? bnnc_load_model(model) : bnnc_load_model_for_inference(model);
    if (!g)
        return BNNC_EXIT_ERROR;
    int rc = BNNC_EXIT_ERROR;
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    double *ms = malloc(sizeof *ms * (size_t)iters);
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = (int)threads;
    if (!ms) {
        fprintf(stderr, "bnnc bench: out of memory\n");
        goto done;
    }
    if (po.predictive != BNN_PREDICTIVE_MC) {
        po.batch = batch;
        po.iters = iters;
        po.warmup = warmup;
        po.threads = (int)threads;
        po.json = json;
        po.profile = profile;
        rc = bnnc_bench_predictive(model, g, &po);
        goto done;
    }
    int64_t planned_batch = batch;
    size_t arena_bytes = 0;
    bnnc_roofline roofline = {0};
    double rss_mib = -1;
    if (train) {
        /* An imported plain model has nothing marked trainable yet. */
        bnn_graph_mark_layer_params_trainable(g);
        bnn_train_options to = {.optimizer = bnn_optimizer_defaults(BNN_OPTIM_ADAM),
                                .loss = BNN_LOSS_CROSS_ENTROPY, .dnn_factor = 1,
                                .bnn_factor = 1.0 / 8000, .batch = batch, .seed = 42,
                                .threads = (int)threads};
        if (bnn_train_bench(g, &to, (int)warmup, (int)iters, ms, &arena_bytes, &diag) != BNN_OK) {
            bnnc_report(model, &diag);
            goto done;
        }
        rss_mib = peak_rss_mib(); /* before the roofline's own buffers */
        if (bnnc_roofline_measure(g, batch, true, &roofline, &diag) != BNN_OK) {
            bnnc_report(model, &diag);
            goto done;
        }
        goto report;
    }
    if (bnn_session_create_batch(g, batch, &opt, &s, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    uint64_t state = 42;
    for (int k = 0; k < bnn_session_n_inputs(s); k++)
        fill_random(bnn_session_input(s, k), &state);
    /* The batch actually planned (a model with a fixed first dim keeps it). */
    const bnn_tensor *x0 = bnn_session_n_inputs(s) > 0 ? bnn_session_input(s, 0) : NULL;
    planned_batch = x0 && x0->shape.rank > 0 ? x0->shape.dims[0] : batch;
    arena_bytes = bnn_session_arena_bytes(s);
    for (int64_t i = 0; i < warmup + iters; i++) {
        double t0 = now_ms();
        if (bnn_session_run(s, &diag) != BNN_OK) {
            bnnc_report(model, &diag);
            goto done;
        }
        if (i >= warmup)
            ms[i - warmup] = now_ms() - t0;
    }
    if (profile && !json && print_profile(s, model, (int)iters, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
report:
    qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
    double median = percentile(ms, (int)iters, 50), p10 = percentile(ms, (int)iters, 10),
           p90 = percentile(ms, (int)iters, 90), sum = 0;
    for (int64_t i = 0; i < iters; i++)
        sum += ms[i];
    if (rss_mib < 0)
        rss_mib = peak_rss_mib();
    int used_threads = (int)threads;
    if (used_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        used_threads = n > 0 ? (int)n : 1;
    }
    double per_s = median > 0 ? (double)planned_batch / (median / 1e3) : 0;
    double arena_mib = (double)arena_bytes / (1024.0 * 1024.0);
    if (json) {
        printf("{\"model\": ");
        bnnc_print_json_string(model);
        printf(", \"mode\": \"%s\", \"batch\": %lld, \"threads\": %d, \"iters\": %lld, \"warmup\": %lld, "
               "\"median_ms\": %.6f, \"p10_ms\": %.6f, \"p90_ms\": %.6f, \"mean_ms\": %.6f, "
               "\"min_ms\": %.6f, \"max_ms\": %.6f, \"samples_per_s\": %.3f, "
               "\"steps_per_s\": %.3f, \"peak_rss_mib\": %.3f, \"arena_mib\": %.3f",
               train ? "train" : "inference", (long long)planned_batch, used_threads, (long long)iters, (long long)warmup,
               median, p10, p90, sum / (double)iters, ms[0], ms[iters - 1], per_s,
               median > 0 ? 1e3 / median : 0, rss_mib,
               arena_mib);
        if (train)
            printf(", \"roofline_ms\": %.6f, \"roofline_ratio\": %.4f, \"gemm_ms\": %.6f, "
                   "\"gemm_gflop\": %.6f, \"gemm_products\": %d, \"sgemm_gflops\": %.3f, "
                   "\"memory_ms\": %.6f, \"param_traffic_mib\": %.3f, \"bandwidth_gbs\": %.3f",
                   roofline.roofline_ms,
                   roofline.roofline_ms > 0 ? median / roofline.roofline_ms : 0,
                   roofline.gemm_ms, roofline.gemm_gflop, roofline.n_products,
                   roofline.sgemm_gflops, roofline.memory_ms, roofline.param_mib,
                   roofline.bandwidth_gbs);
        printf("}\n");
    } else {
        printf("%s: %s, batch %lld, %d thread%s, %lld runs after %lld warm-up\n", model,
               train ? "training steps" : "inference",
               (long long)planned_batch, used_threads, used_threads == 1 ? "" : "s",
               (long long)iters, (long long)warmup);
        printf("  latency     median %.4f ms  p10 %.4f ms  p90 %.4f ms\n", median, p10, p90);
        printf("  throughput  %.1f samples/s\n", per_s);
        printf("  memory      peak RSS %.1f MiB, arena %.2f MiB\n", rss_mib, arena_mib);
        if (train)
            printf("  roofline    %.4f ms = %d products %.4f ms (%.3f GFLOP at %.1f GFLOP/s)\n"
                   "              + params %.4f ms (%.1f MiB at %.1f GB/s); step/roofline %.2f\n",
                   roofline.roofline_ms, roofline.n_products, roofline.gemm_ms,
                   roofline.gemm_gflop, roofline.sgemm_gflops, roofline.memory_ms,
                   roofline.param_mib, roofline.bandwidth_gbs,
                   roofline.roofline_ms > 0 ? median / roofline.roofline_ms : 0);
    }
    rc = BNNC_EXIT_OK;
done:
    free(ms);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
    return rc;
}
