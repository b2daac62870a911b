/* Temperature calibration (issue 12): the tempered NLL of a Monte-Carlo
 * predictive against hand-computed values, the fit lowering held-out NLL,
 * and the `bnnc.temperature` rewrite of a graph (where the mul goes, names
 * kept, updated in place, read back, applied when the graph runs). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_passes.h"
#include "bnn_predict.h"

/* One sample, two examples, two classes: the hand computation of
 * softmax(log p / T) for T = 2 is sqrt(p) renormalised. */
Test(temperature, tempered_nll_matches_hand_computation)
{
    const float probs[] = {0.9f, 0.1f, 0.2f, 0.8f};
    const int64_t labels[] = {0, 0};
    double a = sqrt(0.9) / (sqrt(0.9) + sqrt(0.1)), b = sqrt(0.2) / (sqrt(0.2) + sqrt(0.8));
    double want = -(log(a) + log(b)) / 2;
    cr_assert_float_eq(bnn_tempered_nll(probs, labels, 1, 2, 2, 2.0), want, 1e-6);
    /* T = 1 is the plain NLL of the probabilities */
    cr_assert_float_eq(bnn_tempered_nll(probs, labels, 1, 2, 2, 1.0),
                       bnn_nll(probs, labels, 2, 2), 1e-7);
}

/* Two samples: the tempered predictive is the mean of the tempered samples,
 * not the tempered mean. */
Test(temperature, tempered_nll_averages_tempered_samples)
{
    const float probs[] = {0.9f, 0.1f, /* sample 0 */ 0.3f, 0.7f /* sample 1 */};
    const int64_t labels[] = {0};
    double t = 0.5;
    double s0 = pow(0.9, 1 / t) / (pow(0.9, 1 / t) + pow(0.1, 1 / t));
    double s1 = pow(0.3, 1 / t) / (pow(0.3, 1 / t) + pow(0.7, 1 / t));
    cr_assert_float_eq(bnn_tempered_nll(probs, labels, 2, 1, 2, t), -log((s0 + s1) / 2), 1e-6);
}

/* An over-confident predictive (right 70% of the time at confidence 0.99):
 * the fitted T is above 1, at the minimum of the NLL, and lowers it. */
Test(temperature, fit_softens_an_overconfident_predictive)
{
    enum { N = 100, K = 3 };
    float probs[N * K];
    int64_t labels[N];
    for (int i = 0; i < N; i++) {
        int predicted = i % K, label = (i % 10) < 7 ? predicted : (predicted + 1) % K;
        for (int j = 0; j < K; j++)
            probs[i * K + j] = j == predicted ? 0.99f : 0.005f;
        labels[i] = label;
    }
    double t = bnn_fit_temperature(probs, labels, 1, N, K);
    double at = bnn_tempered_nll(probs, labels, 1, N, K, t);
    cr_assert_gt(t, 1.5);
    cr_assert_lt(at, bnn_tempered_nll(probs, labels, 1, N, K, 1.0) - 0.5);
    cr_assert_leq(at, bnn_tempered_nll(probs, labels, 1, N, K, t * 1.05) + 1e-12);
    cr_assert_leq(at, bnn_tempered_nll(probs, labels, 1, N, K, t / 1.05) + 1e-12);
}

/* An under-confident one (always right at 0.5): the fit sharpens, T < 1. */
Test(temperature, fit_sharpens_an_underconfident_predictive)
{
    enum { N = 50, K = 4 };
    float probs[N * K];
    int64_t labels[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < K; j++)
            probs[i * K + j] = j == i % K ? 0.5f : 0.5f / 3;
        labels[i] = i % K;
    }
    double t = bnn_fit_temperature(probs, labels, 1, N, K);
    cr_assert_lt(t, 0.2);
    cr_assert_lt(bnn_tempered_nll(probs, labels, 1, N, K, t), 0.05);
}

static bnn_graph *parse(const char *text)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(text, "test", &g, &diag), BNN_OK, "%s", diag.message);
    return g;
}

static const char *LOGITS_GRAPH =
    "graph @g(%x: f32[N,2]) -> (%logits: f32[N,2]) {\n"
    "  param %w: f32[2,2] = [1.0, 0.0, 0.0, 2.0]\n"
    "  %logits = dense(%x, %w) : f32[N,2] @fc\n"
    "  return %logits\n"
    "}\n";

static const char *SOFTMAX_GRAPH =
    "graph @g(%x: f32[N,2]) -> (%p: f32[N,2]) {\n"
    "  param %w: f32[2,2] = [1.0, 0.0, 0.0, 2.0]\n"
    "  %z = dense(%x, %w) : f32[N,2] @fc\n"
    "  %p = softmax(%z) {axis=1} : f32[N,2] @sm\n"
    "  return %p\n"
    "}\n";

/* Runs g on one row x and returns the softmax of its output (or the output). */
static void probabilities(const bnn_graph *g, const float x[2], float p[2])
{
    bnn_tensor in = {0};
    bnn_shape s = {.rank = 2, .dims = {1, 2}};
    bnn_diag diag = {0};
    cr_assert_eq(bnn_tensor_alloc(&in, BNN_F32, &s, &diag), BNN_OK);
    memcpy(in.data, x, 2 * sizeof(float));
    bnn_predict_options po = bnn_predict_defaults();
    po.samples = 1;
    po.threads = 1;
    int64_t samples, k;
    cr_assert_eq(bnn_predict_classes(g, &in, &po, p, &samples, &k, &diag), BNN_OK, "%s",
                 diag.message);
    cr_assert_eq(k, 2);
    bnn_tensor_free(&in);
}

Test(temperature, logits_output_keeps_its_name)
{
    bnn_graph *g = parse(LOGITS_GRAPH);
    bnn_diag diag = {0};
    double t = 0;
    cr_assert_eq(bnn_graph_get_temperature(g, &t), BNN_OK);
    cr_assert_eq(t, 1.0);
    const float x[2] = {1.0f, 1.0f};
    float before[2], after[2];
    probabilities(g, x, before);
    cr_assert_eq(bnn_graph_set_temperature(g, 2.0, &diag), BNN_OK, "%s", diag.message);
    cr_assert_str_eq(g->values[g->outputs[0]].name, "logits");
    int node = bnn_graph_find_node(g, "bnnc.temperature");
    cr_assert_geq(node, 0);
    cr_assert_eq(g->nodes[node].op, BNN_OP_MUL);
    cr_assert_eq(g->nodes[node].outputs[0], g->outputs[0]);
    cr_assert_eq(bnn_graph_get_temperature(g, &t), BNN_OK);
    cr_assert_float_eq(t, 2.0, 1e-6);
    probabilities(g, x, after);
    /* logits (1, 2) at T = 2 are (0.5, 1) */
    cr_assert_float_eq(after[1], 1.0 / (1.0 + exp(-0.5)), 1e-5);
    cr_assert_float_eq(before[1], 1.0 / (1.0 + exp(-1.0)), 1e-5);
    /* a second set updates the same node */
    int nodes = g->n_nodes;
    cr_assert_eq(bnn_graph_set_temperature(g, 0.5, &diag), BNN_OK);
    cr_assert_eq(g->n_nodes, nodes);
    cr_assert_eq(bnn_graph_get_temperature(g, &t), BNN_OK);
    cr_assert_float_eq(t, 0.5, 1e-6);
    bnn_graph_destroy(g);
}

Test(temperature, goes_before_the_softmax)
{
    bnn_graph *g = parse(SOFTMAX_GRAPH);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_set_temperature(g, 4.0, &diag), BNN_OK, "%s", diag.message);
    cr_assert_str_eq(g->values[g->outputs[0]].name, "p");
    int sm = bnn_graph_find_node(g, "sm"), mul = bnn_graph_find_node(g, "bnnc.temperature");
    cr_assert(sm >= 0 && mul >= 0);
    cr_assert_eq(g->nodes[sm].inputs[0], g->nodes[mul].outputs[0]);
    cr_assert_lt(mul, sm, "the graph stays in topological order");
    const float x[2] = {0.0f, 1.0f};
    float p[2];
    probabilities(g, x, p);
    cr_assert_float_eq(p[1], 1.0 / (1.0 + exp(-0.5)), 1e-5);
    bnn_graph_destroy(g);
}

Test(temperature, rejects_a_bad_temperature)
{
    bnn_graph *g = parse(LOGITS_GRAPH);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_set_temperature(g, 0.0, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "temperature") != NULL, "%s", diag.message);
    cr_assert_eq(bnn_graph_set_temperature(g, NAN, &diag), BNN_ERR_INVALID);
    cr_assert_eq(bnn_graph_find_node(g, "bnnc.temperature"), -1);
    bnn_graph_destroy(g);
}
