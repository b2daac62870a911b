/* bnn_laplace_init (train/laplace.c) on a linear softmax classifier, a
 * dense_reparam of 4 features to 3 classes: sigma_i = 1/sqrt(F_i + lambda)
 * with F_i >= 0, so every sigma is at most the prior's; a weight that sees a
 * feature that is always 0 gets no curvature and exactly the prior's sigma;
 * the chosen lambda maximises the Laplace marginal likelihood (checked
 * against its neighbours on the grid, from the F recovered from sigma); the
 * prior is written to the layer; bad input fails and leaves rho alone. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bnn_ir.h"
#include "bnn_train.h"

static const char *net =
    "graph @lin(%x: f32[N,4]) -> (%y: f32[N,3]) {\n"
    "  param %w.mu: f32[3,4] trainable\n"
    "  param %w.rho: f32[3,4] trainable\n"
    "  param %b.mu: f32[3] trainable\n"
    "  param %b.rho: f32[3] trainable\n"
    "  %y = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho) : f32[N,3] @fc\n"
    "  return %y\n"
    "}\n";

static double softplus(double r) { return r > 20 ? r : log1p(exp(r)); }

/* -lambda/2 |mu|^2 + P/2 log lambda - 1/2 sum log(F + lambda) */
static double log_z(const double *f, const double *mu, int p, double lambda)
{
    double z = 0.5 * p * log(lambda);
    for (int i = 0; i < p; i++)
        z -= 0.5 * lambda * mu[i] * mu[i] + 0.5 * log(f[i] + lambda);
    return z;
}

Test(laplace, sigmas_prior_and_marginal_likelihood)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    float *w = g->values[bnn_graph_find_value(g, "w.mu")].data;
    float *b = g->values[bnn_graph_find_value(g, "b.mu")].data;
    for (int i = 0; i < 12; i++)
        w[i] = 0.3f * (float)((i * 7) % 5) - 0.6f;
    for (int i = 0; i < 3; i++)
        b[i] = 0.1f * (float)i;
    enum { ROWS = 200 };
    bnn_shape s = {2, {ROWS, 4}};
    bnn_tensor x = {0};
    cr_assert_eq(bnn_tensor_alloc(&x, BNN_F32, &s, &diag), BNN_OK);
    float *xd = x.data;
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < 4; j++) /* feature 3 is always 0 */
            xd[r * 4 + j] = j == 3 ? 0.0f : (float)sin(1.7 * r + 2.3 * j);
    bnn_laplace_options o = {.max_examples = 0, .seed = 3, .threads = 1};
    bnn_laplace_result res;
    cr_assert_eq(bnn_laplace_init(g, &x, &o, &res, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(res.examples, ROWS);
    cr_assert_eq(res.params, 15);
    double lambda = res.prior_precision, prior = 1 / sqrt(lambda);
    cr_assert_float_eq(res.prior_sigma, prior, 1e-12);
    const bnn_node *fc = &g->nodes[0];
    cr_assert_float_eq(bnn_node_float(fc, "prior_sigma", 0), prior, 1e-6 * prior);
    cr_assert_float_eq(bnn_node_float(fc, "prior_mu", 1), 0.0, 0);
    /* F from sigma, over w then b */
    const float *wr = g->values[bnn_graph_find_value(g, "w.rho")].data;
    const float *br = g->values[bnn_graph_find_value(g, "b.rho")].data;
    double f[15], mu[15];
    for (int i = 0; i < 15; i++) {
        double sigma = softplus(i < 12 ? wr[i] : br[i - 12]);
        cr_assert(sigma > 0 && sigma <= prior * (1 + 1e-5), "sigma %g, prior %g", sigma, prior);
        f[i] = fmax(1 / (sigma * sigma) - lambda, 0);
        mu[i] = i < 12 ? w[i] : b[i - 12];
    }
    for (int k = 0; k < 3; k++) /* the weights of the zero feature */
        cr_assert_float_eq(softplus(wr[k * 4 + 3]), prior, 1e-5 * prior);
    cr_assert_gt(f[0] + f[1] + f[2], 1.0, "the data gave no curvature");
    double z = log_z(f, mu, 15, lambda);
    cr_assert_geq(z, log_z(f, mu, 15, lambda * pow(10.0, 0.02)) - 1e-6);
    cr_assert_geq(z, log_z(f, mu, 15, lambda / pow(10.0, 0.02)) - 1e-6);
    /* bad input: refused, rho untouched */
    float before[12];
    memcpy(before, wr, sizeof before);
    bnn_tensor bad = x;
    bad.dtype = BNN_I64;
    cr_assert_eq(bnn_laplace_init(g, &bad, &o, &res, &diag), BNN_ERR_SHAPE);
    cr_assert_eq(memcmp(before, wr, sizeof before), 0);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}

Test(laplace, a_model_without_bayesian_layers_is_refused)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse("graph @p(%x: f32[N,2]) -> (%y: f32[N,2]) {\n"
                                 "  param %w: f32[2,2]\n"
                                 "  %y = dense(%x, %w) : f32[N,2] @fc\n"
                                 "  return %y\n}\n", "test", &g, &diag), BNN_OK, "%s", diag.message);
    bnn_shape s = {2, {3, 2}};
    bnn_tensor x = {0};
    cr_assert_eq(bnn_tensor_alloc(&x, BNN_F32, &s, &diag), BNN_OK);
    bnn_laplace_options o = {0};
    bnn_laplace_result res;
    cr_assert_eq(bnn_laplace_init(g, &x, &o, &res, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "no Bayesian layer"), "%s", diag.message);
    bnn_tensor_free(&x);
    bnn_graph_destroy(g);
}
