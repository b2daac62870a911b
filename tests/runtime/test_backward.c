/* The session's backward sweep through the public API only (bnn_runtime.h):
 * param gradients against central finite differences, a value read twice
 * (its gradients sum), the flat layout and the choice of params, repeated
 * sweeps, the step counter, node iteration, rho gradients derived after the
 * sweep (derive_rho_grads) and the errors for a session not planned for
 * backward or an unknown param.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "bnn_runtime.h"

static const char *net =
    "graph @net(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
    "  param %w1: f32[5,4] trainable\n"
    "  param %b1: f32[5] trainable\n"
    "  param %w2: f32[3,5] trainable\n"
    "  param %b2: f32[3]\n"
    "  %h = dense(%x, %w1, %b1) : f32[N,5] @fc1\n"
    "  %t = tanh(%h) : f32[N,5] @act\n"
    "  %d = add(%t, %t) : f32[N,5] @twice\n"
    "  %y = dense(%d, %w2, %b2) : f32[N,3] @fc2\n"
    "  return %y\n"
    "}\n";

#define BATCH 3

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static bnn_graph *make_net_from(const char *text)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(text, "test", &g, &diag), BNN_OK, "%s", diag.message);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = 0.5f * uniform();
        }
    return g;
}

static bnn_graph *make_net(void)
{
    return make_net_from(net);
}

static bnn_session *make_session(bnn_graph *g, bool backward, const char *const *params)
{
    bnn_session_options o = bnn_session_defaults();
    o.threads = 1;
    o.backward = backward;
    o.grad_params = params;
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &s, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor x = {0};
    bnn_shape xs = {.rank = 2, .dims = {BATCH, 4}};
    cr_assert_eq(bnn_tensor_alloc(&x, BNN_F32, &xs, &diag), BNN_OK);
    for (int i = 0; i < BATCH * 4; i++)
        ((float *)x.data)[i] = uniform();
    cr_assert_eq(bnn_session_set_input(s, "x", &x, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor_free(&x);
    return s;
}

static const float seed[BATCH * 3] = {0.3f, -1.2f, 0.7f, 1.1f, 0.2f, -0.4f, -0.9f, 0.5f, 0.8f};

/* sum(seed * y) after a forward run, in double */
static double objective(bnn_session *s)
{
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
    const float *y = bnn_session_output(s, 0)->data;
    double sum = 0;
    for (int i = 0; i < BATCH * 3; i++)
        sum += (double)seed[i] * y[i];
    return sum;
}

static void run_backward(bnn_session *s, const bnn_graph *g, bool zero)
{
    bnn_diag diag = {0};
    objective(s);
    if (zero)
        bnn_session_zero_grads(s);
    bnn_tensor *gy = bnn_session_grad(s, bnn_graph_find_value(g, "y"));
    cr_assert_not_null(gy);
    cr_assert_eq(bnn_tensor_numel(gy), BATCH * 3);
    float *dst = gy->data;
    for (int i = 0; i < BATCH * 3; i++)
        dst[i] += seed[i];
    cr_assert_eq(bnn_session_backward(s, &diag), BNN_OK, "%s", diag.message);
}

Test(backward, param_gradients_match_finite_differences)
{
    bnn_graph *g = make_net();
    bnn_session *s = make_session(g, true, NULL);
    run_backward(s, g, true);
    size_t n = 0;
    const float *grads = bnn_session_param_grads(s, &n);
    cr_assert_eq(n, 20 + 5 + 15, "flat gradients of w1, b1, w2 (b2 is constant): %zu", n);
    const char *names[] = {"w1", "b1", "w2"};
    int checked = 0;
    for (int p = 0; p < 3; p++) {
        int v = bnn_graph_find_value(g, names[p]);
        int64_t off = bnn_session_param_grad_offset(s, v);
        cr_assert_geq(off, 0, "%s has no gradient", names[p]);
        cr_assert_eq(bnn_session_grad(s, v)->data, (void *)(grads + off));
        float *w = g->values[v].data;
        for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++) {
            const float h = 1e-2f;
            float keep = w[i];
            w[i] = keep + h;
            double up = objective(s);
            w[i] = keep - h;
            double down = objective(s);
            w[i] = keep;
            double fd = (up - down) / (2.0 * h);
            cr_assert(fabs(fd - grads[off + (int64_t)i]) <= 2e-3 + 2e-3 * fabs(fd),
                      "d/d %s[%zu]: backward %g, finite differences %g", names[p], i,
                      grads[off + (int64_t)i], fd);
            checked++;
        }
    }
    cr_assert_eq(checked, 40);
    cr_assert_eq(bnn_session_param_grad_offset(s, bnn_graph_find_value(g, "b2")), -1);
    cr_assert_null(bnn_session_grad(s, bnn_graph_find_value(g, "x")), "an input gets no gradient");
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

/* Attention exports reshape activations by their own Shape: the shape is
 * integers, so no gradient goes into Shape (it has no backward kernel) and
 * the plan must not ask for one; the gradient through reshape is still
 * right. A float op without a gradient on the path is still refused. */
Test(backward, integer_outputs_carry_no_gradient)
{
    static const char *shaped =
        "graph @net(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
        "  param %w1: f32[5,4] trainable\n"
        "  param %b1: f32[5] trainable\n"
        "  param %w2: f32[3,5] trainable\n"
        "  param %b2: f32[3]\n"
        "  %h = dense(%x, %w1, %b1) : f32[N,5] @fc1\n"
        "  %s = shape(%h) : i64[2] @shape\n"
        "  %r = reshape(%h, %s) : f32[N,5] @reshape\n"
        "  %t = tanh(%r) : f32[N,5] @act\n"
        "  %d = add(%t, %t) : f32[N,5] @twice\n"
        "  %y = dense(%d, %w2, %b2) : f32[N,3] @fc2\n"
        "  return %y\n"
        "}\n";
    rng_state = 0x2545f4914f6cdd1dull;
    bnn_graph *plain = make_net();
    rng_state = 0x2545f4914f6cdd1dull;
    bnn_graph *g = make_net_from(shaped);
    rng_state = 0x9e3779b97f4a7c15ull;
    bnn_session *sp = make_session(plain, true, NULL);
    rng_state = 0x9e3779b97f4a7c15ull;
    bnn_session *s = make_session(g, true, NULL);
    run_backward(sp, plain, true);
    run_backward(s, g, true);
    size_t n = 0, np = 0;
    const float *grads = bnn_session_param_grads(s, &n), *want = bnn_session_param_grads(sp, &np);
    cr_assert_eq(n, np);
    for (size_t i = 0; i < n; i++)
        cr_assert_float_eq(grads[i], want[i], 1e-6f, "gradient %zu: %g with the reshape, %g "
                           "without", i, grads[i], want[i]);
    bnn_session_destroy(s);
    bnn_session_destroy(sp);
    bnn_graph_destroy(g);
    bnn_graph_destroy(plain);

    static const char *hard =
        "graph @net(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
        "  param %w1: f32[5,4] trainable\n"
        "  param %b1: f32[5] trainable\n"
        "  param %w2: f32[3,5] trainable\n"
        "  param %b2: f32[3]\n"
        "  %h = dense(%x, %w1, %b1) : f32[N,5] @fc1\n"
        "  %f = hardmax(%h) {axis=1} : f32[N,5] @onehot\n"
        "  %y = dense(%f, %w2, %b2) : f32[N,3] @fc2\n"
        "  return %y\n"
        "}\n";
    g = make_net_from(hard);
    bnn_session_options o = bnn_session_defaults();
    o.backward = true;
    bnn_diag diag = {0};
    s = NULL;
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &s, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert_null(s);
    cr_assert(strstr(diag.message, "'onehot'") && strstr(diag.message, "no gradient for this op"),
              "%s", diag.message);
    bnn_graph_destroy(g);
}

/* %t is read twice by add: its gradient is the sum, 2 dy/dd, not dy/dd. */
Test(backward, value_read_twice_sums_its_gradients)
{
    bnn_graph *g = make_net();
    bnn_session *s = make_session(g, true, NULL);
    run_backward(s, g, true);
    const float *gd = bnn_session_grad(s, bnn_graph_find_value(g, "d"))->data;
    const float *gt = bnn_session_grad(s, bnn_graph_find_value(g, "t"))->data;
    for (int i = 0; i < BATCH * 5; i++)
        cr_assert_float_eq(gt[i], 2.0f * gd[i], 1e-6f, "t[%d]: %g against 2 x %g", i, gt[i], gd[i]);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

/* Zeroing starts over: a second sweep, zeroed and seeded again, leaves the
 * same bits (and the run before it draws nothing at random here). */
Test(backward, zeroed_sweeps_repeat_bit_for_bit)
{
    bnn_graph *g = make_net();
    bnn_session *s = make_session(g, true, NULL);
    size_t n = 0;
    run_backward(s, g, true);
    const float *grads = bnn_session_param_grads(s, &n);
    float once[40];
    cr_assert_eq(n, 40);
    memcpy(once, grads, sizeof once);
    run_backward(s, g, true);
    cr_assert_arr_eq(grads, once, sizeof once);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(backward, chosen_params_only)
{
    bnn_graph *g = make_net();
    const char *const only[] = {"w2", "b2", NULL}; /* b2 is not trainable, but asked for */
    bnn_session *s = make_session(g, true, only);
    run_backward(s, g, true);
    size_t n = 0;
    const float *grads = bnn_session_param_grads(s, &n);
    cr_assert_eq(n, 15 + 3);
    cr_assert_eq(bnn_session_param_grad_offset(s, bnn_graph_find_value(g, "w2")), 0);
    cr_assert_eq(bnn_session_param_grad_offset(s, bnn_graph_find_value(g, "b2")), 15);
    cr_assert_eq(bnn_session_param_grad_offset(s, bnn_graph_find_value(g, "w1")), -1);
    cr_assert_null(bnn_session_grad(s, bnn_graph_find_value(g, "h")),
                   "nothing that gets a gradient flows into fc1");
    /* d sum(seed * y) / d b2[j] = sum over rows of seed[:, j] */
    for (int j = 0; j < 3; j++) {
        float want = seed[j] + seed[3 + j] + seed[6 + j];
        cr_assert_float_eq(grads[15 + j], want, 1e-6f, "b2[%d]: %g, want %g", j, grads[15 + j],
                           want);
    }
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(backward, errors_name_what_is_wrong)
{
    bnn_graph *g = make_net();
    bnn_session *s = make_session(g, false, NULL);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_backward(s, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "not planned for backward"), "%s", diag.message);
    cr_assert_null(bnn_session_grad(s, bnn_graph_find_value(g, "y")));
    size_t n = 1;
    cr_assert_null(bnn_session_param_grads(s, &n));
    cr_assert_eq(n, 0);
    bnn_session_destroy(s);

    bnn_session_options o = bnn_session_defaults();
    o.backward = true;
    const char *const bad[] = {"w9", NULL};
    o.grad_params = bad;
    s = NULL;
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &s, &diag), BNN_ERR_INVALID);
    cr_assert_null(s);
    cr_assert(strstr(diag.message, "'w9'"), "%s", diag.message);
    bnn_graph_destroy(g);
}

Test(backward, steps_and_nodes)
{
    bnn_graph *g = make_net();
    bnn_session *s = make_session(g, false, NULL);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_step(s), 0);
    bnn_session_set_step(s, 41);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK);
    cr_assert_eq(bnn_session_step(s), 42, "a run adds one");
    cr_assert_eq(bnn_session_n_nodes(s), 4);
    const char *names[] = {"fc1", "act", "twice", "fc2"};
    double ms[4] = {0, 0, 0, 0};
    cr_assert_eq(bnn_session_run_timed(s, ms, &diag), BNN_OK, "%s", diag.message);
    for (int p = 0; p < 4; p++) {
        bnn_session_node node = bnn_session_node_at(s, p);
        const bnn_node *n = &bnn_session_graph(s)->nodes[node.node_id];
        cr_assert_str_eq(n->name, names[p]);
        cr_assert_eq(node.n_outputs, 1);
        cr_assert_eq(node.outputs[0].shape.dims[0], BATCH, "concrete shapes");
        cr_assert_geq(ms[p], 0.0);
    }
    const bnn_tensor *y = bnn_session_value(s, bnn_graph_find_value(g, "y"));
    cr_assert_eq(y, bnn_session_output(s, 0));
    cr_assert_null(bnn_session_value(s, -1));
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

/* A Bayesian net: fc1's mu and rho are its own, fc2 shares its weight mu with
 * a second reader (so its rho gradient stays the sweep's), conv-free. */
static const char *bayes_net =
    "graph @bnet(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
    "  param %w.mu: f32[5,4] trainable\n"
    "  param %w.rho: f32[5,4] trainable\n"
    "  param %b.mu: f32[5] trainable\n"
    "  param %b.rho: f32[5] trainable\n"
    "  param %v.mu: f32[3,5] trainable\n"
    "  param %v.rho: f32[3,5] trainable\n"
    "  %h = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho) : f32[N,5] @fc1\n"
    "  %t = tanh(%h) : f32[N,5] @act\n"
    "  %y0 = bnn.dense_reparam(%t, %v.mu, %v.rho) : f32[N,3] @fc2\n"
    "  %u = dense(%t, %v.mu) : f32[N,3] @shared\n"
    "  %y = add(%y0, %u) : f32[N,3] @sum\n"
    "  return %y\n"
    "}\n";

/* bayes_net with its params drawn from seed: mu in [0, 0.5), rho in [-3, -2.5). */
static bnn_graph *bayes_graph(uint64_t seed)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(bayes_net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    rng_state = seed;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = 0.5f * uniform() - (strstr(g->values[v].name, "rho") ? 3.0f : 0.0f);
        }
    return g;
}

static bnn_session *bayes_session(bnn_graph *g, bool derive)
{
    bnn_session_options o = bnn_session_defaults();
    o.threads = 1;
    o.backward = true;
    o.seed = 5;
    o.derive_rho_grads = derive;
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &s, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor *x = (bnn_tensor *)bnn_session_input(s, 0);
    rng_state = 99;
    for (int i = 0; i < BATCH * 4; i++)
        ((float *)x->data)[i] = uniform();
    return s;
}

/* Derived rho gradients (options.derive_rho_grads, for data-parallel
 * training) are laid out last, left out of the sweep, and equal the sweep's
 * own bit for bit once derived, from the forward's draw or drawn again. */
Test(backward, derived_rho_gradients)
{
    bnn_diag diag = {0};
    bnn_graph *g = bayes_graph(7);
    bnn_session *plain = bayes_session(g, false), *derived = bayes_session(g, true);
    size_t n_plain = 0, n_derived = 0;
    const float *gp = bnn_session_param_grads(plain, &n_plain);
    float *gd = bnn_session_param_grads(derived, &n_derived);
    cr_assert_eq(n_plain, n_derived);
    cr_assert_eq(bnn_session_param_grads_reduced(plain), n_plain);
    /* w.rho (20) and b.rho (5) are derived; v.mu has a second reader */
    cr_assert_eq(bnn_session_param_grads_reduced(derived), n_derived - 25);
    int w_rho = bnn_graph_find_value(g, "w.rho"), v_rho = bnn_graph_find_value(g, "v.rho");
    cr_assert_geq(bnn_session_param_grad_offset(derived, w_rho),
                  (int64_t)bnn_session_param_grads_reduced(derived));
    cr_assert_lt(bnn_session_param_grad_offset(derived, v_rho),
                 (int64_t)bnn_session_param_grads_reduced(derived));
    run_backward(plain, g, true);
    run_backward(derived, g, true);
    /* before deriving, the sweep left the derived rho gradients at zero */
    const float *wr = bnn_session_grad(derived, w_rho)->data;
    for (int i = 0; i < 20; i++)
        cr_assert_eq(wr[i], 0.0f);
    uint64_t step = bnn_session_step(derived) - 1;
    for (int redraw = 0; redraw < 2; redraw++) {
        cr_assert_eq(bnn_session_derive_param_grads(derived, redraw ? &step : NULL, &diag), BNN_OK,
                     "%s", diag.message);
        for (int v = 0; v < g->n_values; v++) {
            if (g->values[v].kind != BNN_VALUE_PARAM)
                continue;
            const float *a = gp + bnn_session_param_grad_offset(plain, v);
            const float *b = gd + bnn_session_param_grad_offset(derived, v);
            size_t n = g->values[v].nbytes / sizeof(float);
            cr_assert_eq(memcmp(a, b, n * sizeof(float)), 0, "%s (redraw %d)",
                         g->values[v].name, redraw);
        }
        bool nonzero = false;
        for (int i = 0; i < 20; i++)
            nonzero = nonzero || wr[i] != 0.0f;
        cr_assert(nonzero, "w.rho's gradient is all zero");
    }
    /* a draw for another step gives other gradients */
    step += 1;
    cr_assert_eq(bnn_session_derive_param_grads(derived, &step, &diag), BNN_OK);
    cr_assert_neq(memcmp(gp + bnn_session_param_grad_offset(plain, w_rho), wr, 20 * sizeof(float)),
                  0);
    bnn_session_destroy(plain);
    bnn_session_destroy(derived);
    bnn_graph_destroy(g);
}

/* Adds scale times node i's KL gradient to the plain session's param grads. */
static float *plain_grad_of(void *ctx, int v)
{
    bnn_session *s = ctx;
    int64_t off = bnn_session_param_grad_offset(s, v);
    return off >= 0 ? bnn_session_param_grads(s, NULL) + off : NULL;
}

/* bnn_session_finish_param_grads (what the trainer calls) derives the rho
 * gradients and adds the KL's in one pass: the same bits as the sweep's own
 * gradients plus each node's bnn_bayes_node_kl, and the same KL, for a layer
 * whose rho is derived (fc1) and one whose rho is not (fc2). */
Test(backward, finish_param_grads_fuses_the_kl)
{
    bnn_diag diag = {0};
    bnn_graph *g = bayes_graph(11);
    bnn_session *plain = bayes_session(g, false), *derived = bayes_session(g, true);
    run_backward(plain, g, true);
    run_backward(derived, g, true);
    const float scale = 0.37f;
    double kl_plain = 0, kl_fused = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        double node_kl = 0;
        cr_assert_eq(bnn_bayes_node_kl(g, i, scale, plain_grad_of, plain, &node_kl, &diag), BNN_OK,
                     "%s", diag.message);
        kl_plain += node_kl;
    }
    cr_assert_eq(bnn_session_finish_param_grads(derived, NULL, scale, &kl_fused, &diag), BNN_OK,
                 "%s", diag.message);
    cr_assert_gt(kl_plain, 0.0);
    cr_assert_eq(kl_fused, kl_plain, "KL %.17g, apart %.17g", kl_fused, kl_plain);
    const float *gp = bnn_session_param_grads(plain, NULL);
    const float *gd = bnn_session_param_grads(derived, NULL);
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind != BNN_VALUE_PARAM)
            continue;
        size_t n = g->values[v].nbytes / sizeof(float);
        cr_assert_eq(memcmp(gp + bnn_session_param_grad_offset(plain, v),
                            gd + bnn_session_param_grad_offset(derived, v), n * sizeof(float)),
                     0, "%s", g->values[v].name);
    }
    /* a session planned without backward has no gradients to finish */
    bnn_session_options o = bnn_session_defaults();
    bnn_session *fwd = NULL;
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &fwd, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(bnn_session_finish_param_grads(fwd, NULL, scale, &kl_fused, &diag),
                 BNN_ERR_INVALID);
    bnn_session_destroy(fwd);
    bnn_session_destroy(plain);
    bnn_session_destroy(derived);
    bnn_graph_destroy(g);
}

/* bnn_session_finish_param_grads_slice (the ranks' shares of a sharded
 * step): slices that cover the summed front once, cut anywhere (inside a
 * param too), finish every gradient with the whole call's bits, the derived
 * ones with their mu's, and their KLs add up to the whole KL.  fc1's rho is
 * derived, fc2's is not (its mu has a second reader), so both the
 * with-its-mu and the each-where-it-lies rules are crossed. */
Test(backward, finish_param_grads_slices_cover_the_whole)
{
    bnn_diag diag = {0};
    bnn_graph *g = bayes_graph(13);
    bnn_session *whole = bayes_session(g, true), *parts = bayes_session(g, true);
    run_backward(whole, g, true);
    run_backward(parts, g, true);
    size_t n = 0, front = bnn_session_param_grads_reduced(parts);
    float *gw = bnn_session_param_grads(whole, &n), *gs = bnn_session_param_grads(parts, NULL);
    float *summed = malloc(n * sizeof(float));
    memcpy(summed, gs, n * sizeof(float));
    const float scale = 0.29f;
    double kl_whole = 0;
    cr_assert_eq(bnn_session_finish_param_grads(whole, NULL, scale, &kl_whole, &diag), BNN_OK,
                 "%s", diag.message);
    cr_assert_gt(front, 20u);
    int tried = 0;
    /* every cut into 2, and cuts into 3 and 5 at strided places */
    for (int ranks = 2; ranks <= 5; ranks += ranks == 2 ? 1 : 2)
        for (size_t a = 0; a <= front; a += ranks == 2 ? 1 : 3)
            for (int redraw = 0; redraw < 2; redraw++) {
                size_t cut[6] = {0};
                for (int q = 1; q < ranks; q++)
                    cut[q] = (a + (size_t)(q - 1) * 7) % (front + 1);
                cut[ranks] = front;
                for (int q = 1; q < ranks; q++) /* sorted */
                    for (int r = q + 1; r < ranks; r++)
                        if (cut[r] < cut[q]) {
                            size_t t = cut[q];
                            cut[q] = cut[r];
                            cut[r] = t;
                        }
                memcpy(gs, summed, n * sizeof(float));
                uint64_t step = bnn_session_step(parts) - 1;
                double kl = 0;
                for (int q = 0; q < ranks; q++) {
                    double part = -1;
                    cr_assert_eq(bnn_session_finish_param_grads_slice(parts,
                                                                      redraw ? &step : NULL,
                                                                      scale, cut[q], cut[q + 1],
                                                                      &part, &diag),
                                 BNN_OK, "%s", diag.message);
                    kl += part;
                }
                cr_assert_eq(memcmp(gs, gw, n * sizeof(float)), 0,
                             "%d slices from %zu (redraw %d) differ from the whole call", ranks,
                             a, redraw);
                cr_assert(fabs(kl - kl_whole) <= 1e-12 * fabs(kl_whole), "KL %.17g, whole %.17g",
                          kl, kl_whole);
                tried++;
            }
    cr_assert_gt(tried, 50);
    /* a slice past the front is refused */
    double kl = 0;
    cr_assert_eq(bnn_session_finish_param_grads_slice(parts, NULL, scale, 0, front + 1, &kl,
                                                      &diag), BNN_ERR_INVALID);
    cr_assert_eq(bnn_session_finish_param_grads_slice(parts, NULL, scale, 3, 2, &kl, &diag),
                 BNN_ERR_INVALID);
    free(summed);
    bnn_session_destroy(whole);
    bnn_session_destroy(parts);
    bnn_graph_destroy(g);
}

/* A bnn.weight_reparam (the recurrent layers' sampled weights: mu and rho
 * its only operands) is never derived, but its KL and the KL's gradient are
 * in bnn_session_finish_param_grads's sum as in bnn_bayes_node_kl's. */
Test(backward, finish_param_grads_counts_weight_reparam)
{
    static const char *text =
        "graph @w(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
        "  param %w.mu: f32[3,4] trainable\n"
        "  param %w.rho: f32[3,4] trainable\n"
        "  %w = bnn.weight_reparam(%w.mu, %w.rho) {prior_sigma=0.5} : f32[3,4] @wr\n"
        "  %y = dense(%x, %w) : f32[N,3] @fc\n"
        "  return %y\n"
        "}\n";
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(text, "test", &g, &diag), BNN_OK, "%s", diag.message);
    rng_state = 5;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = 0.5f * uniform() - (strstr(g->values[v].name, "rho") ? 3.0f : 0.0f);
        }
    bnn_session *plain = bayes_session(g, false), *derived = bayes_session(g, true);
    run_backward(plain, g, true);
    run_backward(derived, g, true);
    double want = 0, got = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        double node_kl = 0;
        cr_assert_eq(bnn_bayes_node_kl(g, i, 0.25f, plain_grad_of, plain, &node_kl, &diag), BNN_OK,
                     "%s", diag.message);
        want += node_kl;
    }
    cr_assert_eq(bnn_session_finish_param_grads(derived, NULL, 0.25f, &got, &diag), BNN_OK, "%s",
                 diag.message);
    cr_assert_gt(want, 0.0);
    cr_assert_eq(got, want, "KL %.17g, want %.17g", got, want);
    int rho = bnn_graph_find_value(g, "w.rho");
    cr_assert_eq(memcmp(bnn_session_param_grads(plain, NULL) + bnn_session_param_grad_offset(plain, rho),
                        bnn_session_param_grads(derived, NULL) +
                            bnn_session_param_grad_offset(derived, rho),
                        12 * sizeof(float)),
                 0);
    bnn_session_destroy(plain);
    bnn_session_destroy(derived);
    bnn_graph_destroy(g);
}

/* The KL passes of bnn_session_finish_param_grads check the gradients they
 * write (the trainer then skips its own scan): bnn_session_param_grads_finite
 * is true only when they wrote every param gradient and all were finite; an
 * Inf or NaN from the sweep, a param they do not finish (fc2's shared mu
 * above), a derive without the KL, a new sweep or a zeroing make it false. */
static const char *all_bayes_net =
    "graph @ball(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
    "  param %w.mu: f32[3,4] trainable\n"
    "  param %w.rho: f32[3,4] trainable\n"
    "  param %b.mu: f32[3] trainable\n"
    "  param %b.rho: f32[3] trainable\n"
    "  %y = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho) : f32[N,3] @fc\n"
    "  return %y\n"
    "}\n";

Test(backward, finish_param_grads_checks_what_it_writes)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(all_bayes_net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    rng_state = 3;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            float *d = g->values[v].data;
            for (size_t i = 0; i < g->values[v].nbytes / sizeof(float); i++)
                d[i] = 0.5f * uniform() - (strstr(g->values[v].name, "rho") ? 3.0f : 0.0f);
        }
    bnn_session *s = bayes_session(g, true);
    double kl = 0;
    cr_assert_not(bnn_session_param_grads_finite(s), "nothing finished yet");
    run_backward(s, g, true);
    cr_assert_eq(bnn_session_finish_param_grads(s, NULL, 0.5f, &kl, &diag), BNN_OK, "%s",
                 diag.message);
    cr_assert(bnn_session_param_grads_finite(s));
    cr_assert(kl > 0);
    bnn_session_zero_grads(s);
    cr_assert_not(bnn_session_param_grads_finite(s));
    /* an overflow in the sweep, in a weight's and then a bias's mu gradient */
    const char *names[2] = {"w.mu", "b.mu"};
    const float bad[2] = {INFINITY, NAN};
    for (int k = 0; k < 2; k++) {
        run_backward(s, g, true);
        cr_assert_not(bnn_session_param_grads_finite(s), "a new sweep");
        bnn_tensor *gm = bnn_session_grad(s, bnn_graph_find_value(g, names[k]));
        ((float *)gm->data)[2] = bad[k];
        cr_assert_eq(bnn_session_finish_param_grads(s, NULL, 0.5f, &kl, &diag), BNN_OK);
        cr_assert_not(bnn_session_param_grads_finite(s), "%s = %g", names[k], bad[k]);
    }
    /* deriving alone checks nothing */
    run_backward(s, g, true);
    cr_assert_eq(bnn_session_derive_param_grads(s, NULL, &diag), BNN_OK);
    cr_assert_not(bnn_session_param_grads_finite(s));
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
    /* a net whose gradients the KL passes write only in part */
    g = bayes_graph(5);
    s = bayes_session(g, true);
    run_backward(s, g, true);
    cr_assert_eq(bnn_session_finish_param_grads(s, NULL, 0.5f, &kl, &diag), BNN_OK);
    cr_assert_not(bnn_session_param_grads_finite(s), "v.mu is not finished by a KL pass");
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}
