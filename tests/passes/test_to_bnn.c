/* to-bnn, dce and bnn-to-mean on a LeNet-5-like graph built in C: which layers
 * convert, that nothing else changes by a bit, the posterior init, and the
 * round trip through bnn-to-mean. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnn_passes.h"
#include "lenet_graph.h"

static const char *const all_layers[] = {"conv1", "conv2", "fc1", "fc2", "fc3", NULL};

/* The weight and bias params of the named layers, old and new. */
static void layer_params(const char *const *layers, const char **out)
{
    static const char *suffixes[] = {".weight", ".bias", ".weight_mu", ".weight_rho",
                                     ".bias_mu", ".bias_rho"};
    static char names[64][64];
    int n = 0;
    for (; *layers; layers++)
        for (int k = 0; k < 6; k++, n++) {
            snprintf(names[n], sizeof names[n], "%s%s", *layers, suffixes[k]);
            out[n] = names[n];
        }
    out[n] = NULL;
}

static const bnn_value *param(const bnn_graph *g, const char *name)
{
    int id = bnn_graph_find_value(g, name);
    cr_assert(id >= 0, "no param '%s'", name);
    cr_assert_eq(g->values[id].kind, BNN_VALUE_PARAM);
    return &g->values[id];
}

static double expected_rho(float w, double delta)
{
    double sigma = delta * fabs((double)w);
    if (sigma < 1e-5)
        sigma = 1e-5;
    return log(expm1(sigma));
}

/* Runs pipeline on a fresh graph; checks that exactly `converted` became
 * Bayesian and that every other node and param is bit-for-bit unchanged. */
static bnn_graph *convert_and_check(const char *pipeline, const char *const *converted)
{
    bnn_graph *orig = test_lenet_graph();
    bnn_graph *g = bnn_graph_clone(orig);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text(pipeline, g, &diag), BNN_OK, "%s: %s", pipeline, diag.message);

    const char *skip_params[64];
    layer_params(converted, skip_params);
    const char *d = test_graph_diff(orig, g, converted, skip_params);
    cr_assert_null(d, "%s: %s", pipeline, d);

    int bayesian = 0;
    for (int i = 0; i < g->n_nodes; i++)
        bayesian += bnn_op_is_bayesian(g->nodes[i].op);
    int expected = 0;
    for (const char *const *c = converted; *c; c++, expected++) {
        int id = bnn_graph_find_node(g, *c);
        cr_assert(id >= 0, "%s: node '%s' is gone", pipeline, *c);
        const bnn_node *n = &g->nodes[id];
        int was = bnn_graph_find_node(orig, *c);
        const bnn_node *o = &orig->nodes[was];
        cr_assert_eq(n->op, o->op == BNN_OP_DENSE ? BNN_OP_DENSE_REPARAM : BNN_OP_CONV_REPARAM,
                     "%s: '%s' is %s", pipeline, *c, bnn_op_get(n->op)->name);
        cr_assert_eq(id, was, "the node keeps its place");
        cr_assert_eq(n->n_inputs, 5);
        cr_assert_str_eq(g->values[n->inputs[0]].name, orig->values[o->inputs[0]].name);
        cr_assert_str_eq(g->values[n->outputs[0]].name, orig->values[o->outputs[0]].name);
        static const char *suffix[] = {"", ".weight_mu", ".weight_rho", ".bias_mu", ".bias_rho"};
        for (int k = 1; k < 5; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s%s", *c, suffix[k]);
            cr_assert_str_eq(g->values[n->inputs[k]].name, name);
            cr_assert(g->values[n->inputs[k]].trainable, "%s is trainable", name);
            cr_assert(bnn_shape_equal(&g->values[n->inputs[k]].shape,
                                      &orig->values[o->inputs[k < 3 ? 1 : 2]].shape));
        }
        /* The conv attributes survive, in order, ahead of the prior's. */
        for (int k = 0; k < o->n_attrs; k++)
            cr_assert_str_eq(n->attrs[k].name, o->attrs[k].name);
        cr_assert_eq(n->n_attrs, o->n_attrs + 3);
        cr_assert_str_eq(bnn_node_string(n, "estimator", "?"), "reparam");
        /* The old weights are gone after dce. */
        char old[64];
        snprintf(old, sizeof old, "%s.weight", *c);
        cr_assert_lt(bnn_graph_find_value(g, old), 0, "%s is dropped by dce", old);
    }
    cr_assert_eq(bayesian, expected, "%s: %d Bayesian layers, expected %d", pipeline, bayesian,
                 expected);
    bnn_graph_destroy(orig);
    return g;
}

Test(to_bnn, layers_dense_converts_exactly_the_dense_layers)
{
    const char *const fc[] = {"fc1", "fc2", "fc3", NULL};
    bnn_graph_destroy(convert_and_check("canonicalize,to-bnn{layers=dense},dce", fc));
}

Test(to_bnn, layers_conv_converts_exactly_the_convs)
{
    const char *const conv[] = {"conv1", "conv2", NULL};
    bnn_graph_destroy(convert_and_check("canonicalize,to-bnn{layers=conv},dce", conv));
}

Test(to_bnn, layers_all_and_the_default_convert_all_five)
{
    bnn_graph_destroy(convert_and_check("to-bnn{layers=all},dce", all_layers));
    bnn_graph_destroy(convert_and_check("to-bnn,dce", all_layers));
    bnn_graph_destroy(convert_and_check("to-bnn{layers=conv,dense},dce", all_layers));
}

Test(to_bnn, only_and_exclude)
{
    const char *const two[] = {"conv1", "fc2", NULL};
    bnn_graph_destroy(convert_and_check("to-bnn{only=fc2,conv1},dce", two));
    const char *const four[] = {"conv1", "conv2", "fc1", "fc2", NULL};
    bnn_graph_destroy(convert_and_check("to-bnn{exclude=fc3},dce", four));
    const char *const fc12[] = {"fc1", "fc2", NULL};
    bnn_graph_destroy(convert_and_check("to-bnn{layers=dense exclude=fc3},dce", fc12));
    const char *const fc1[] = {"fc1", NULL};
    bnn_graph_destroy(convert_and_check("to-bnn{layers=dense only=fc1,fc3 exclude=fc3},dce", fc1));
}

static void expect_error(const char *pipeline, const char *text)
{
    bnn_graph *g = test_lenet_graph();
    bnn_diag diag = {0};
    cr_assert_neq(bnn_passes_run_text(pipeline, g, &diag), BNN_OK, "%s succeeded", pipeline);
    cr_assert(strstr(diag.message, text), "%s: expected '%s' in '%s'", pipeline, text,
              diag.message);
    bnn_graph_destroy(g);
}

Test(to_bnn, name_errors)
{
    expect_error("to-bnn{only=fc9}", "pass 'to-bnn': only: no node is named 'fc9'");
    expect_error("to-bnn{exclude=fc1,nope}", "exclude: no node is named 'nope'");
    expect_error("to-bnn{layers=dense only=conv1}",
                 "only: node 'conv1' (conv) is not a layer of the selected types (layers=dense)");
    expect_error("to-bnn{layers=conv exclude=fc1}", "exclude: node 'fc1' (dense)");
    expect_error("to-bnn{exclude=relu1}", "node 'relu1' (relu) is not a layer");
    expect_error("to-bnn{only=fc1 exclude=fc1}", "no layer matched (layers=all only=fc1 exclude=fc1)");
    expect_error("to-bnn,to-bnn", "pass 'to-bnn': no layer matched");
}

Test(to_bnn, init_weights_sets_mu_to_the_weights_and_sigma_from_delta)
{
    bnn_graph *orig = test_lenet_graph();
    for (int round = 0; round < 2; round++) {
        double delta = round ? 0.25 : 0.1;
        bnn_graph *g = bnn_graph_clone(orig);
        bnn_diag diag = {0};
        const char *pipeline = round ? "to-bnn{init=weights delta=0.25}" : "to-bnn";
        cr_assert_eq(bnn_passes_run_text(pipeline, g, &diag), BNN_OK, "%s", diag.message);
        for (const char *const *c = all_layers; *c; c++) {
            for (int part = 0; part < 2; part++) {
                char src[64], mu[64], rho[64];
                snprintf(src, sizeof src, "%s.%s", *c, part ? "bias" : "weight");
                snprintf(mu, sizeof mu, "%s_mu", src);
                snprintf(rho, sizeof rho, "%s_rho", src);
                const bnn_value *w = param(orig, src), *m = param(g, mu), *r = param(g, rho);
                cr_assert_eq(m->nbytes, w->nbytes);
                cr_assert_eq(memcmp(m->data, w->data, w->nbytes), 0, "%s == %s bit for bit", mu, src);
                const float *wd = w->data, *rd = r->data;
                int zeros = 0;
                for (size_t i = 0; i < w->nbytes / 4; i++) {
                    cr_assert_eq(rd[i], (float)expected_rho(wd[i], delta), "%s[%zu]", rho, i);
                    /* softplus(rho) gives sigma back */
                    double sigma = log1p(exp((double)rd[i]));
                    double want = fmax(delta * fabs(wd[i]), 1e-5);
                    cr_assert(fabs(sigma - want) <= 1e-6 * want + 1e-9, "%s[%zu]", rho, i);
                    zeros += wd[i] == 0.0f;
                }
                cr_assert(part || zeros > 0, "the graph has zero weights to test the floor");
            }
        }
        bnn_graph_destroy(g);
    }
    bnn_graph_destroy(orig);
}

Test(to_bnn, init_random_is_seeded_and_rho_is_rho_init)
{
    bnn_graph *a = test_lenet_graph(), *b = test_lenet_graph(), *c = test_lenet_graph();
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("to-bnn{init=random seed=7 rho_init=-4.5}", a, &diag), BNN_OK,
                 "%s", diag.message);
    cr_assert_eq(bnn_passes_run_text("to-bnn{init=random seed=7 rho_init=-4.5}", b, &diag), BNN_OK);
    cr_assert_eq(bnn_passes_run_text("to-bnn{init=random seed=8 rho_init=-4.5}", c, &diag), BNN_OK);
    const bnn_value *ma = param(a, "fc1.weight_mu"), *mb = param(b, "fc1.weight_mu");
    const bnn_value *mc = param(c, "fc1.weight_mu"), *ra = param(a, "fc1.weight_rho");
    cr_assert_eq(memcmp(ma->data, mb->data, ma->nbytes), 0, "same seed, same draws");
    cr_assert_neq(memcmp(ma->data, mc->data, ma->nbytes), 0, "another seed, other draws");
    const float *mu = ma->data, *rho = ra->data;
    size_t n = ma->nbytes / 4;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += mu[i];
        sq += (double)mu[i] * mu[i];
        cr_assert_eq(rho[i], -4.5f);
    }
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    /* 48,000 draws of N(0, 0.1^2): mean within ~5 standard errors, sd within 3%. */
    cr_assert(fabs(mean) < 5 * 0.1 / sqrt((double)n), "mean %g", mean);
    cr_assert(fabs(sd - 0.1) < 0.003, "sd %g", sd);
    /* The default rho_init is -3. */
    bnn_graph *d = test_lenet_graph();
    cr_assert_eq(bnn_passes_run_text("to-bnn{init=random layers=dense}", d, &diag), BNN_OK);
    cr_assert_eq(((const float *)param(d, "fc3.bias_rho")->data)[0], -3.0f);
    bnn_graph_destroy(a);
    bnn_graph_destroy(b);
    bnn_graph_destroy(c);
    bnn_graph_destroy(d);
}

Test(to_bnn, prior_options_become_attributes)
{
    bnn_graph *g = test_lenet_graph();
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("to-bnn{prior_mu=0.5 prior_sigma=0.02 layers=dense}", g, &diag),
                 BNN_OK, "%s", diag.message);
    const bnn_node *n = &g->nodes[bnn_graph_find_node(g, "fc2")];
    cr_assert_eq(bnn_node_float(n, "prior_mu", -1), 0.5f);
    cr_assert_eq(bnn_node_float(n, "prior_sigma", -1), 0.02f);
    bnn_graph_destroy(g);
    g = test_lenet_graph();
    cr_assert_eq(bnn_passes_run_text("to-bnn{layers=conv}", g, &diag), BNN_OK);
    n = &g->nodes[bnn_graph_find_node(g, "conv2")];
    cr_assert_eq(bnn_node_float(n, "prior_mu", -1), 0.0f);
    cr_assert_eq(bnn_node_float(n, "prior_sigma", -1), 0.1f);
    bnn_graph_destroy(g);
}

Test(to_bnn, bnn_to_mean_gives_the_original_model_back)
{
    bnn_graph *orig = test_lenet_graph();
    bnn_graph *g = bnn_graph_clone(orig);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("canonicalize,to-bnn{init=weights},dce,bnn-to-mean,dce", g, &diag),
                 BNN_OK, "%s", diag.message);
    /* Names, attributes, order and every weight bit: all as before. */
    const char *d = test_graph_diff(orig, g, NULL, NULL);
    cr_assert_null(d, "%s", d);
    for (int i = 0; i < g->n_nodes; i++)
        cr_assert(!bnn_op_is_bayesian(g->nodes[i].op));
    bnn_graph_destroy(g);
    bnn_graph_destroy(orig);
}

Test(to_bnn, bnn_to_mean_of_a_random_init_uses_mu)
{
    bnn_graph *g = test_lenet_graph();
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("to-bnn{init=random seed=3 layers=dense},dce", g, &diag), BNN_OK);
    bnn_graph *bayes = bnn_graph_clone(g);
    cr_assert_eq(bnn_passes_run_text("bnn-to-mean,dce", g, &diag), BNN_OK, "%s", diag.message);
    const bnn_value *mu = param(bayes, "fc2.weight_mu"), *w = param(g, "fc2.weight");
    cr_assert_eq(memcmp(mu->data, w->data, mu->nbytes), 0);
    cr_assert(!w->trainable);
    cr_assert_lt(bnn_graph_find_value(g, "fc2.weight_rho"), 0);
    const bnn_node *n = &g->nodes[bnn_graph_find_node(g, "fc2")];
    cr_assert_eq(n->op, BNN_OP_DENSE);
    cr_assert_eq(n->n_inputs, 3);
    cr_assert_eq(n->n_attrs, 0);
    bnn_graph_destroy(bayes);
    bnn_graph_destroy(g);
}
