/* Activations fused into the conv before them in inference plans
 * (runtime/plan_fuse.c): the fused plan skips the activation nodes and gives
 * the same bits as the same plan without fusion (hooks.no_alias), for Relu,
 * Clip with attribute and with constant-input bounds, LeakyRelu, HardSwish
 * and HardSigmoid * x, at batch 1 and 3; an activation whose input another
 * node also reads is not fused; a training plan fuses nothing, and the
 * caller's graph is never marked. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "plan_impl.h"

/* Input values spread over both signs and beyond the clip bounds. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static const char *net =
    "graph @net(%x: f32[N,3,9,11]) -> (%y: f32[N,8,9,11], %z: f32[N,8,5,6], %k: f32[N,8,9,11]) {\n"
    "  param %w1: f32[8,3,3,3]\n"
    "  param %b1: f32[8]\n"
    "  param %w2: f32[8,8,3,3]\n"
    "  param %w3: f32[8,1,3,3]\n"
    "  param %w4: f32[8,8,1,1]\n"
    "  param %w5: f32[8,8,3,3]\n"
    "  param %lo: f32[]\n"
    "  param %hi: f32[]\n"
    "  %c1 = conv(%x, %w1, %b1) {pads=[1, 1, 1, 1]} : f32[N,8,9,11] @conv1\n"
    "  %a1 = relu(%c1) : f32[N,8,9,11] @relu\n"
    "  %c2 = conv(%a1, %w2, _) {pads=[1, 1, 1, 1]} : f32[N,8,9,11] @conv2\n"
    "  %a2 = clip(%c2) {min=-0.5, max=0.5} : f32[N,8,9,11] @clip_attr\n"
    "  %c3 = conv(%a2, %w3, _) {pads=[1, 1, 1, 1], group=8} : f32[N,8,9,11] @dw\n"
    "  %a3 = clip(%c3, %lo, %hi) : f32[N,8,9,11] @clip_inputs\n"
    "  %c4 = conv(%a3, %w4, _) : f32[N,8,9,11] @pw\n"
    "  %a4 = leaky_relu(%c4) {alpha=0.1} : f32[N,8,9,11] @leaky\n"
    "  %c5 = conv(%a4, %w5, _) {pads=[1, 1, 1, 1]} : f32[N,8,9,11] @conv5\n"
    "  %a5 = hard_swish(%c5) : f32[N,8,9,11] @hswish\n"
    "  %c6 = conv(%a5, %w2, _) {pads=[1, 1, 1, 1], strides=[2, 2]} : f32[N,8,5,6] @conv6\n"
    "  %h6 = hard_sigmoid(%c6) {alpha=0.16666667, beta=0.5} : f32[N,8,5,6] @hsig\n"
    "  %z = mul(%c6, %h6) : f32[N,8,5,6] @hsig_mul\n"
    "  %c7 = conv(%a5, %w5, _) {pads=[1, 1, 1, 1]} : f32[N,8,9,11] @conv7\n"
    "  %k = relu(%c7) : f32[N,8,9,11] @relu_out\n"
    "  %c8 = conv(%a5, %w2, _) {pads=[1, 1, 1, 1]} : f32[N,8,9,11] @conv8\n"
    "  %r8 = relu(%c8) : f32[N,8,9,11] @relu_shared\n"
    "  %y = add(%r8, %c8) : f32[N,8,9,11] @add\n"
    "  return %y, %z, %k\n"
    "}\n";

static bnn_graph *make_net(void)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = 0.6f * uniform();
        }
    *(float *)g->values[bnn_graph_find_value(g, "lo")].data = -0.25f;
    *(float *)g->values[bnn_graph_find_value(g, "hi")].data = 0.75f;
    return g;
}

static bnn_session *run(bnn_graph *g, int64_t batch, const bnn_plan_hooks *hooks, bool training)
{
    bnn_session_options o = bnn_session_defaults();
    o.threads = 1;
    o.training = training;
    bnn_shape xs = {.rank = 4, .dims = {batch, 3, 9, 11}};
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_hooked(g, &xs, &o, hooks, &s, &diag), BNN_OK, "%s",
                 diag.message);
    bnn_tensor x = {0};
    cr_assert_eq(bnn_tensor_alloc(&x, BNN_F32, &xs, &diag), BNN_OK);
    rng_state = 12345;
    for (int64_t i = 0; i < bnn_tensor_numel(&x); i++)
        ((float *)x.data)[i] = 3.0f * uniform();
    cr_assert_eq(bnn_session_set_input(s, "x", &x, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor_free(&x);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
    return s;
}

static bool skipped(const bnn_session *s, const char *node_name)
{
    for (int p = 0; p < bnn_session_n_nodes(s); p++) {
        bnn_session_node info = bnn_session_node_at(s, p);
        if (strcmp(bnn_graph_node(s->graph, info.node_id)->name, node_name) == 0)
            return info.skipped;
    }
    cr_assert_fail("no node %s", node_name);
    return false;
}

static void check_same(int64_t batch)
{
    bnn_graph *g = make_net();
    static const bnn_plan_hooks plain = {.no_alias = true};
    bnn_session *fused = run(g, batch, NULL, false), *ref = run(g, batch, &plain, false);
    static const char *const fused_nodes[] = {"relu", "clip_attr", "clip_inputs", "leaky",
                                              "hswish", "hsig", "hsig_mul"};
    for (size_t i = 0; i < sizeof fused_nodes / sizeof fused_nodes[0]; i++) {
        cr_expect(skipped(fused, fused_nodes[i]), "%s is not fused", fused_nodes[i]);
        cr_expect(!skipped(ref, fused_nodes[i]), "%s is fused without aliases", fused_nodes[i]);
    }
    /* relu_out's input is read by it alone, so it fuses even though its
     * output is a graph output; relu_shared's input is also added */
    cr_expect(skipped(fused, "relu_out"));
    cr_expect(!skipped(fused, "relu_shared"));
    for (int k = 0; k < 3; k++) {
        const bnn_tensor *a = bnn_session_output(fused, k), *b = bnn_session_output(ref, k);
        int64_t n = bnn_tensor_numel(a);
        cr_assert_eq(n, bnn_tensor_numel(b));
        const float *fa = a->data, *fb = b->data;
        int64_t nonzero = 0;
        for (int64_t i = 0; i < n; i++) {
            cr_assert(memcmp(&fa[i], &fb[i], sizeof(float)) == 0,
                      "output %d element %lld: fused %.9g, unfused %.9g", k, (long long)i,
                      (double)fa[i], (double)fb[i]);
            nonzero += fa[i] != 0;
        }
        cr_assert_gt(nonzero, n / 4, "output %d is mostly zeros: a weak test", k);
    }
    bnn_session_destroy(fused);
    bnn_session_destroy(ref);
    bnn_graph_destroy(g);
}

Test(fuse, same_bits_batch1) { check_same(1); }
Test(fuse, same_bits_batch3) { check_same(3); }

Test(fuse, training_fuses_nothing)
{
    bnn_graph *g = make_net();
    bnn_session *s = run(g, 2, NULL, true);
    cr_expect(!skipped(s, "relu"));
    cr_expect(!skipped(s, "hsig_mul"));
    for (int id = 0; id < s->graph->n_nodes; id++)
        cr_expect_null(bnn_node_attr(&s->graph->nodes[id], "bnn_fused_act"));
    bnn_session_destroy(s);
    /* the caller's graph is never marked, whatever the session did */
    bnn_session *inf = run(g, 2, NULL, false);
    for (int id = 0; id < g->n_nodes; id++) {
        cr_expect_null(bnn_node_attr(&g->nodes[id], "bnn_fused_act"));
        cr_expect_null(bnn_node_attr(&g->nodes[id], "bnn_fused_into"));
    }
    bnn_session_destroy(inf);
    bnn_graph_destroy(g);
}
