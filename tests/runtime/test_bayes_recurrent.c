/* A recurrent layer made Bayesian (to-bnn{layers=recurrent}): an rnn whose W,
 * R and B are read through bnn.weight_reparam nodes.  The gradients of the
 * loss with respect to every mu and rho, through the rnn kernel's backward
 * and the sampling node's, against central finite differences at a fixed
 * step (the same eps in every run); a new step draws new weights; the KL
 * covers the three (mu, rho) pairs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bayes.h"
#include "bnn_runtime.h"

static const char *net =
    "graph @net(%x: f32[N,3,2]) -> (%h: f32[N,1,2]) {\n"
    "  param %W_mu: f32[1,2,2] trainable = [0.3, -0.5, 0.8, 0.1]\n"
    "  param %W_rho: f32[1,2,2] trainable = [-2.0, -1.5, -2.5, -1.0]\n"
    "  param %R_mu: f32[1,2,2] trainable = [0.2, 0.4, -0.6, 0.5]\n"
    "  param %R_rho: f32[1,2,2] trainable = [-1.8, -2.2, -1.2, -2.0]\n"
    "  param %B_mu: f32[1,4] trainable = [0.1, -0.2, 0.05, 0.3]\n"
    "  param %B_rho: f32[1,4] trainable = [-2.0, -2.0, -1.5, -2.5]\n"
    "  %W = bnn.weight_reparam(%W_mu, %W_rho) {prior_sigma=0.5} : f32[1,2,2] @W_sample\n"
    "  %R = bnn.weight_reparam(%R_mu, %R_rho) {prior_sigma=0.5} : f32[1,2,2] @R_sample\n"
    "  %B = bnn.weight_reparam(%B_mu, %B_rho) {prior_sigma=0.5} : f32[1,4] @B_sample\n"
    "  %y, %h = rnn(%x, %W, %R, %B) {hidden_size=2, layout=1} : f32[N,3,1,2], f32[N,1,2] @rnn\n"
    "  return %h\n"
    "}\n";

#define BATCH 2

static const float xs[3 * BATCH * 2] = {0.5f, -1.0f, 0.3f, 0.8f, -0.7f, 0.2f,
                                        1.1f, -0.4f, 0.6f, 0.9f, -0.2f, -0.8f};
static const float seed[BATCH * 2] = {0.7f, -1.3f, 0.4f, 1.1f};

static uint64_t step = 4; /* a run may advance the session's step: set before each */

static double objective(bnn_session *s)
{
    bnn_diag diag = {0};
    bnn_session_set_step(s, step);
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
    const float *h = bnn_session_output(s, 0)->data;
    double sum = 0;
    for (int i = 0; i < BATCH * 2; i++)
        sum += (double)seed[i] * h[i];
    return sum;
}

static bnn_session *session(bnn_graph *g)
{
    bnn_session_options o = bnn_session_defaults();
    o.threads = 1;
    o.backward = true;
    o.seed = 11;
    bnn_session *s = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_session_create_batch(g, BATCH, &o, &s, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor x = {.dtype = BNN_F32, .shape = {.rank = 3, .dims = {BATCH, 3, 2}},
                    .data = (void *)xs};
    cr_assert_eq(bnn_session_set_input(s, "x", &x, &diag), BNN_OK, "%s", diag.message);
    return s;
}

Test(bayes_recurrent, gradients_of_mu_and_rho_match_finite_differences)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    bnn_session *s = session(g);
    objective(s);
    bnn_session_zero_grads(s);
    float *gh = bnn_session_grad(s, bnn_graph_find_value(g, "h"))->data;
    for (int i = 0; i < BATCH * 2; i++)
        gh[i] += seed[i];
    cr_assert_eq(bnn_session_backward(s, &diag), BNN_OK, "%s", diag.message);
    const char *names[] = {"W_mu", "W_rho", "R_mu", "R_rho", "B_mu", "B_rho"};
    int checked = 0;
    for (int p = 0; p < 6; p++) {
        int v = bnn_graph_find_value(g, names[p]);
        const float *grad = bnn_session_grad(s, v)->data;
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
            cr_expect(fabs(fd - grad[i]) <= 2e-3 + 2e-3 * fabs(fd),
                      "d/d %s[%zu]: backward %g, finite differences %g", names[p], i, grad[i], fd);
            checked += fd != 0;
        }
    }
    cr_expect_geq(checked, 20, "only %d non-zero derivatives", checked);
    /* another step, other weights */
    double before = objective(s);
    step = 5;
    cr_expect_neq(objective(s), before);
    step = 4;
    cr_expect_eq(objective(s), before, "the same step, the same weights");
    /* the KL covers each of the three (mu, rho) pairs against N(0, 0.5^2) */
    double kl_total = 0, want = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        double kl = 0;
        cr_assert_eq(bnn_bayes_node_kl(g, i, 1.0f, NULL, NULL, &kl, &diag), BNN_OK, "%s",
                     diag.message);
        kl_total += kl;
    }
    for (int p = 0; p < 6; p += 2) {
        const bnn_value *mu = &g->values[bnn_graph_find_value(g, names[p])];
        const bnn_value *rho = &g->values[bnn_graph_find_value(g, names[p + 1])];
        want += bnn_gaussian_kl(mu->data, rho->data, mu->nbytes / sizeof(float), 0.0f, 0.5f);
    }
    cr_expect(want > 0 && fabs(kl_total - want) <= 1e-9 * want, "KL %g, want %g", kl_total, want);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}
