/* bnnc bench --predictive moments|glm: the sampling-free predictive against
 * Monte-Carlo, side by side in one process (issue 13).
 *
 * Both are planned once for the batch (graph rewrite and planning are not
 * timed), then timed in interleaved rounds, so that whatever else the machine
 * does hits both alike: one round runs the Monte-Carlo predictive (S runs of
 * the Bayesian graph, a softmax of each and the predictive statistics: mean,
 * entropy, mutual information) and then the moment predictive (one run of the
 * moment graph and the same statistics from the logits' Gaussian,
 * bnn_moments_class_probs).  The medians and their ratio are reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_predictive.h"
#include "bnn_metrics.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "cli.h"

static double clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *ms, int64_t n)
{
    qsort(ms, (size_t)n, sizeof *ms, compare_doubles);
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

/* Same seeded inputs on both sides: splitmix64 into [0, 1). */
static void fill_inputs(bnn_session *s)
{
    uint64_t state = 42;
    for (int k = 0; k < bnn_session_n_inputs(s); k++) {
        const bnn_tensor *t = bnn_session_input(s, k);
        if (t->dtype != BNN_F32) {
            memset(t->data, 0, bnn_tensor_nbytes(t));
            continue;
        }
        float *x = t->data;
        for (int64_t i = 0; i < bnn_tensor_numel(t); i++) {
            uint64_t z = (state += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            x[i] = (float)(((z ^ (z >> 31)) >> 40) * (1.0 / (1 << 24)));
        }
    }
}

static void softmax_row(const float *z, float *p, int64_t k)
{
    float max = z[0];
    for (int64_t j = 1; j < k; j++)
        max = z[j] > max ? z[j] : max;
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        p[j] = expf(z[j] - max);
        sum += p[j];
    }
    for (int64_t j = 0; j < k; j++)
        p[j] = (float)(p[j] / sum);
}

typedef struct side {
    bnn_session *session;
    float *probs;                  /* owned: [points][n][k] */
    float *mean, *total, *epistemic; /* owned: the statistics, [n x k], [n], [n] */
} side;

static void side_free(side *s)
{
    bnn_session_destroy(s->session);
    free(s->probs);
    free(s->mean);
    free(s->total);
    free(s->epistemic);
}

static bool side_alloc(side *s, int64_t points, int64_t n, int64_t k)
{
    s->probs = malloc(sizeof(float) * (size_t)(points * n * k));
    s->mean = malloc(sizeof(float) * (size_t)(n * k));
    s->total = malloc(sizeof(float) * (size_t)n);
    s->epistemic = malloc(sizeof(float) * (size_t)n);
    return s->probs && s->mean && s->total && s->epistemic;
}

static bnn_status mc_round(side *s, int64_t samples, int64_t n, int64_t k, bool probabilities,
                           bnn_diag *diag)
{
    for (int64_t smp = 0; smp < samples; smp++) {
        BNN_TRY(bnn_session_run(s->session, diag));
        const float *y = bnn_session_output(s->session, 0)->data;
        float *dst = s->probs + smp * n * k;
        for (int64_t i = 0; i < n; i++) {
            if (probabilities)
                memcpy(dst + i * k, y + i * k, sizeof(float) * (size_t)k);
            else
                softmax_row(y + i * k, dst + i * k, k);
        }
    }
    bnn_predictive_stats(s->probs, samples, n, k, s->mean, s->total, NULL, s->epistemic);
    return BNN_OK;
}

static bnn_status moments_round(side *s, bnn_logit_rule rule, int64_t points, int64_t n,
                                int64_t k, bnn_diag *diag)
{
    BNN_TRY(bnn_session_run(s->session, diag));
    const float *m = bnn_session_output(s->session, 1)->data;
    const float *v = bnn_session_output(s->session, 2)->data;
    const float *cov = bnn_session_n_outputs(s->session) > 3
                           ? bnn_session_output(s->session, 3)->data : NULL;
    BNN_TRY(bnn_moments_class_probs(m, v, cov, n, 0, k, rule, points, 0, s->probs, diag));
    bnn_predictive_stats(s->probs, points, n, k, s->mean, s->total, NULL, s->epistemic);
    return BNN_OK;
}

/* Per node of the moment graph, the mean time of `iters` runs. */
static bnn_status profile_moments(bnn_session *s, int64_t iters, bnn_diag *diag)
{
    int n = bnn_session_n_nodes(s);
    const bnn_graph *g = bnn_session_graph(s);
    double *node_ms = calloc((size_t)n + 1, sizeof *node_ms);
    if (!node_ms)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    bnn_status st = BNN_OK;
    for (int64_t i = 0; i < iters && st == BNN_OK; i++)
        st = bnn_session_run_timed(s, node_ms, diag);
    double total = 0;
    for (int p = 0; p < n; p++)
        total += node_ms[p];
    printf("moment graph: time per node (mean of %lld runs), in graph order\n", (long long)iters);
    for (int p = 0; st == BNN_OK && p < n; p++) {
        bnn_session_node node = bnn_session_node_at(s, p);
        if (node.skipped)
            continue;
        char label[300], shape[128];
        const bnn_tensor *y = &node.outputs[0];
        printf("  %9.4f ms %5.1f%%  %-12s %-44s -> %s\n", node_ms[p] / (double)iters,
               total > 0 ? 100 * node_ms[p] / total : 0,
               bnn_op_get(g->nodes[node.node_id].op)->name,
               bnn_node_label(g, node.node_id, label, sizeof label),
               bnn_shape_format(&y->shape, y->dtype, shape, sizeof shape));
    }
    free(node_ms);
    return st;
}

int bnnc_bench_predictive(const char *model, const bnn_graph *g, const bench_predictive_options *o)
{
    bnn_diag diag = {0};
    side mc = {0}, mom = {0};
    bnn_graph *mg = NULL;
    int rc = BNNC_EXIT_ERROR;
    double *mc_ms = malloc(sizeof(double) * (size_t)o->iters);
    double *mom_ms = malloc(sizeof(double) * (size_t)o->iters);
    bnn_session_options so = bnn_session_defaults();
    so.threads = o->threads;
    bool probabilities = bnn_graph_outputs_probabilities(g);
    int64_t n = o->batch, k = 0, points = 0;
    if (!mc_ms || !mom_ms) {
        fprintf(stderr, "bnnc bench: out of memory\n");
        goto done;
    }
    if (bnn_moments_graph(g, o->predictive, true, &mg, &diag) != BNN_OK ||
        bnn_session_create_batch(g, n, &so, &mc.session, &diag) != BNN_OK ||
        bnn_session_create_batch(mg, n, &so, &mom.session, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    const bnn_tensor *y = bnn_session_output(mc.session, 0);
    if (y->shape.rank != 2 || y->shape.dims[0] != n) {
        fprintf(stderr, "bnnc: %s: bench --predictive wants a classifier's [batch, classes] "
                "output\n", model);
        goto done;
    }
    k = y->shape.dims[1];
    points = bnn_moments_rule_points(o->rule, k, o->samples);
    if (!side_alloc(&mc, o->samples, n, k) || !side_alloc(&mom, points, n, k)) {
        fprintf(stderr, "bnnc bench: out of memory\n");
        goto done;
    }
    fill_inputs(mc.session);
    fill_inputs(mom.session);
    for (int64_t r = 0; r < o->warmup + o->iters; r++) {
        double t0 = clock_ms();
        if (mc_round(&mc, o->samples, n, k, probabilities, &diag) != BNN_OK)
            break;
        double t1 = clock_ms();
        if (moments_round(&mom, o->rule, points, n, k, &diag) != BNN_OK)
            break;
        double t2 = clock_ms();
        if (r >= o->warmup) {
            mc_ms[r - o->warmup] = t1 - t0;
            mom_ms[r - o->warmup] = t2 - t1;
        }
    }
    if (diag.message[0]) {
        bnnc_report(model, &diag);
        goto done;
    }
    double mc_median = median_of(mc_ms, o->iters), mom_median = median_of(mom_ms, o->iters);
    double ratio = mom_median > 0 ? mc_median / mom_median : 0;
    const char *name = bnn_predictive_name(o->predictive), *rule = bnn_logit_rule_name(o->rule);
    if (o->json) {
        printf("{\"model\": ");
        bnnc_print_json_string(model);
        printf(", \"mode\": \"predictive\", \"predictive\": \"%s\", \"logits\": \"%s\", "
               "\"points\": %lld, \"batch\": %lld, \"threads\": %d, \"iters\": %lld, "
               "\"warmup\": %lld, \"samples\": %lld, \"mc_median_ms\": %.6f, "
               "\"median_ms\": %.6f, \"speedup\": %.3f}\n",
               name, rule, (long long)points, (long long)n, o->threads, (long long)o->iters,
               (long long)o->warmup, (long long)o->samples, mc_median, mom_median, ratio);
    } else {
        printf("%s: predictive, batch %lld, %lld interleaved rounds after %lld warm-up\n", model,
               (long long)n, (long long)o->iters, (long long)o->warmup);
        printf("  mc %lld samples      median %.4f ms\n", (long long)o->samples, mc_median);
        printf("  %s (%s, %lld point%s)  median %.4f ms\n", name, rule, (long long)points,
               points == 1 ? "" : "s", mom_median);
        printf("  speed-up            %.1fx\n", ratio);
    }
    if (o->profile && !o->json && profile_moments(mom.session, o->iters, &diag) != BNN_OK) {
        bnnc_report(model, &diag);
        goto done;
    }
    rc = BNNC_EXIT_OK;
done:
    side_free(&mc);
    side_free(&mom);
    bnn_graph_destroy(mg);
    free(mc_ms);
    free(mom_ms);
    return rc;
}
