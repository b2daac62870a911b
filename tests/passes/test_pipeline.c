/* The pass manager: the pass table, pipeline parsing (and its errors, with
 * columns), canonical form, IR dumps, and fold-batchnorm's arithmetic. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_passes.h"
#include "lenet_graph.h"

Test(pipeline, the_table_lists_every_pass_with_documented_options)
{
    const char *names[] = {"canonicalize", "dce", "fold-batchnorm", "to-bnn", "bnn-to-mean",
                           "lower-bnn-to-onnx", "bnn-to-moments"};
    cr_assert_eq(bnn_pass_count(), 7);
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(bnn_pass_at(i)->name, names[i]);
        const bnn_pass_info *p = bnn_pass_find(names[i]);
        cr_assert_not_null(p, "%s", names[i]);
        cr_assert_gt(strlen(p->summary), 10);
        for (int k = 0; k < p->n_options; k++)
            cr_assert_gt(strlen(p->options[k].help), 5);
    }
    cr_assert_null(bnn_pass_find("lower-bnn"));
    cr_assert_eq(bnn_pass_find("lower-bnn-to-onnx")->n_options, 0);
    const bnn_pass_info *t = bnn_pass_find("to-bnn");
    const char *expect[][2] = {{"layers", "all"}, {"only", ""}, {"exclude", ""},
                               {"prior_mu", "0"}, {"prior_sigma", "0.1"}, {"prior_pi", "0"},
                               {"prior_sigma2", "0.0025"}, {"init", "weights"},
                               {"delta", "0.1"}, {"rho_init", "-3"}, {"seed", "0"},
                               {"estimator", "reparam"}};
    cr_assert_eq(t->n_options, 12);
    for (int k = 0; k < 12; k++) {
        cr_assert_str_eq(t->options[k].name, expect[k][0]);
        cr_assert_str_eq(t->options[k].default_value, expect[k][1]);
    }
}

static void parse_ok(const char *text, const char *canonical)
{
    bnn_pipeline *p = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_pipeline_parse(text, &p, &diag), BNN_OK, "'%s': %s", text, diag.message);
    char buf[2048];
    cr_assert_str_eq(bnn_pipeline_format(p, buf, sizeof buf), canonical, "'%s'", text);
    bnn_pipeline_destroy(p);
}

Test(pipeline, parses_mlir_style_text)
{
    parse_ok("", "");
    parse_ok("dce", "dce");
    parse_ok(" dce , fold-batchnorm,dce ", "dce,fold-batchnorm,dce");
    parse_ok("canonicalize", "canonicalize{keep_dropout=false}");
    parse_ok("to-bnn{layers=dense,conv exclude=fc3}",
             "to-bnn{layers=dense,conv only= exclude=fc3 prior_mu=0 prior_sigma=0.1 prior_pi=0 "
             "prior_sigma2=0.0025 init=weights "
             "delta=0.1 rho_init=-3 seed=0 estimator=reparam}");
    parse_ok("fold-batchnorm,to-bnn{ init=random  seed=18446744073709551615 rho_init=-5.5 },dce",
             "fold-batchnorm,to-bnn{layers=all only= exclude= prior_mu=0 prior_sigma=0.1 prior_pi=0 "
             "prior_sigma2=0.0025 init=random delta=0.1 rho_init=-5.5 seed=18446744073709551615 estimator=reparam},dce");
    parse_ok("to-bnn{}", "to-bnn{layers=all only= exclude= prior_mu=0 prior_sigma=0.1 prior_pi=0 "
                         "prior_sigma2=0.0025 init=weights "
                         "delta=0.1 rho_init=-3 seed=0 estimator=reparam}");
    bnn_pipeline *p;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_pipeline_parse("dce,to-bnn{layers=conv},dce", &p, &diag), BNN_OK);
    cr_assert_eq(bnn_pipeline_length(p), 3);
    cr_assert_str_eq(bnn_pipeline_pass_name(p, 1), "to-bnn");
    bnn_pipeline_destroy(p);
}

static void parse_fails(const char *text, const char *message)
{
    bnn_pipeline *p = (bnn_pipeline *)1;
    bnn_diag diag = {0};
    cr_assert_neq(bnn_pipeline_parse(text, &p, &diag), BNN_OK, "'%s' parsed", text);
    cr_assert_null(p);
    cr_assert_str_eq(diag.message, message, "'%s'", text);
}

Test(pipeline, errors_name_the_column_the_pass_and_the_option)
{
    parse_fails("dce,foo", "pipeline column 5: unknown pass 'foo' (see 'bnnc passes')");
    parse_fails("to-bnn{layer=dense}",
                "pipeline column 8: pass 'to-bnn' has no option 'layer' (options: layers, only, "
                "exclude, prior_mu, prior_sigma, prior_pi, prior_sigma2, init, delta, rho_init, seed, "
                "estimator)");
    parse_fails("dce{x=1}", "pipeline column 5: pass 'dce' has no option 'x' (options: none)");
    parse_fails("to-bnn{prior_sigma=abc}",
                "pipeline column 20: to-bnn option prior_sigma: 'abc' is not a finite number");
    parse_fails("to-bnn{prior_sigma=-1}",
                "pipeline column 20: to-bnn option prior_sigma: -1 must be positive");
    parse_fails("to-bnn{prior_sigma=0}",
                "pipeline column 20: to-bnn option prior_sigma: 0 must be positive");
    parse_fails("to-bnn{prior_mu=nan}",
                "pipeline column 17: to-bnn option prior_mu: 'nan' is not a finite number");
    parse_ok("to-bnn{estimator=flipout}",
             "to-bnn{layers=all only= exclude= prior_mu=0 prior_sigma=0.1 prior_pi=0 "
             "prior_sigma2=0.0025 init=weights "
             "delta=0.1 rho_init=-3 seed=0 estimator=flipout}");
    parse_ok("to-bnn{estimator=local}",
             "to-bnn{layers=all only= exclude= prior_mu=0 prior_sigma=0.1 prior_pi=0 "
             "prior_sigma2=0.0025 init=weights "
             "delta=0.1 rho_init=-3 seed=0 estimator=local}");
    parse_fails("to-bnn{estimator=mc}",
                "pipeline column 18: to-bnn option estimator: 'mc' is not reparam, flipout or local");
    parse_fails("to-bnn{init=zeros}",
                "pipeline column 13: to-bnn option init: 'zeros' is not weights or random");
    parse_fails("to-bnn{layers=dense,lstmx}",
                "pipeline column 15: to-bnn option layers: unknown layer type 'lstmx' (expected "
                "dense, conv, conv_transpose, lstm, gru, rnn, recurrent or all)");
    parse_fails("to-bnn{layers=}",
                "pipeline column 15: to-bnn option layers: empty (expected dense, conv, all or "
                "a comma list)");
    parse_fails("to-bnn{only=fc1,,fc2}",
                "pipeline column 13: to-bnn option only: 'fc1,,fc2' has an empty item");
    parse_fails("to-bnn{delta=-0.1}", "pipeline column 14: to-bnn option delta: -0.1 must not be negative");
    parse_fails("to-bnn{seed=-1}",
                "pipeline column 13: to-bnn option seed: '-1' is not an unsigned 64-bit integer");
    parse_fails("to-bnn{seed=99999999999999999999}",
                "pipeline column 13: to-bnn option seed: '99999999999999999999' is not an "
                "unsigned 64-bit integer");
    parse_fails("to-bnn{rho_init=x}",
                "pipeline column 17: to-bnn option rho_init: 'x' is not a finite number");
    parse_fails("canonicalize{keep_dropout=maybe}",
                "pipeline column 27: canonicalize option keep_dropout: 'maybe' is not true or false");
    parse_fails("to-bnn{layers=dense", "pipeline column 20: options of pass 'to-bnn' are not closed with '}'");
    parse_fails("to-bnn{layers}", "pipeline column 14: option 'layers' of pass 'to-bnn' needs '=VALUE'");
    parse_fails("to-bnn{layers=dense layers=conv}",
                "pipeline column 21: option 'layers' of pass 'to-bnn' is given twice");
    parse_fails("to-bnn{layers=a{b}", "pipeline column 16: unexpected '{' in the value of option 'layers'");
    parse_fails("dce,", "pipeline column 5: expected a pass name after ','");
    parse_fails(",dce", "pipeline column 1: expected a pass name, found ','");
    parse_fails("dce dce", "pipeline column 5: expected ',' or the end after pass 'dce', found 'd'");
    parse_fails("to-bnn{=1}", "pipeline column 8: expected an option name in pass 'to-bnn', found '='");
}

Test(pipeline, dumps_the_ir_after_a_pass_or_all_with_a_banner)
{
    bnn_graph *g = test_lenet_graph();
    bnn_pipeline *p;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_pipeline_parse("canonicalize,to-bnn{layers=dense},dce", &p, &diag), BNN_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    bnn_pipeline_run_options o = bnn_pipeline_run_defaults();
    cr_assert(o.verify_each);
    o.ir_out = mem;
    o.print_after = "to-bnn";
    cr_assert_eq(bnn_pipeline_run(p, g, &o, &diag), BNN_OK, "%s", diag.message);
    fclose(mem);
    cr_assert_eq(strncmp(text, "// ----- IR dump after to-bnn -----\ngraph @lenet5", 49), 0, "%s", text);
    cr_assert_null(strstr(text + 1, "// -----"), "one dump only");
    cr_assert_not_null(strstr(text, "bnn.dense_reparam"));
    cr_assert_not_null(strstr(text, "%fc1.weight:"), "dce has not run yet at the dump");
    free(text);
    bnn_graph_destroy(g);

    g = test_lenet_graph();
    mem = open_memstream(&text, &len);
    o = bnn_pipeline_run_defaults();
    o.ir_out = mem;
    o.print_after_all = true;
    cr_assert_eq(bnn_pipeline_run(p, g, &o, &diag), BNN_OK, "%s", diag.message);
    fclose(mem);
    const char *a = strstr(text, "// ----- IR dump after canonicalize -----\n");
    const char *b = strstr(text, "// ----- IR dump after to-bnn -----\n");
    const char *c = strstr(text, "// ----- IR dump after dce -----\n");
    cr_assert(a == text && b > a && c > b, "%s", text);
    cr_assert_null(strstr(c, "%fc1.weight:"), "dce dropped the old weight");
    free(text);

    /* print_after must name a pass of the pipeline. */
    o.print_after_all = false;
    o.print_after = "fold-batchnorm";
    cr_assert_neq(bnn_pipeline_run(p, g, &o, &diag), BNN_OK);
    cr_assert_str_eq(diag.message, "print-ir-after: pass 'fold-batchnorm' is not in the pipeline");
    o.print_after = "nope";
    cr_assert_neq(bnn_pipeline_run(p, g, &o, &diag), BNN_OK);
    cr_assert_str_eq(diag.message, "print-ir-after: unknown pass 'nope'");
    /* Without ir_out nothing is written, and the run still works. */
    o = bnn_pipeline_run_defaults();
    o.print_after_all = true;
    bnn_graph *h = test_lenet_graph();
    cr_assert_eq(bnn_pipeline_run(p, h, &o, &diag), BNN_OK);
    bnn_graph_destroy(h);
    bnn_graph_destroy(g);
    bnn_pipeline_destroy(p);
}

Test(pipeline, an_empty_pipeline_leaves_the_graph_alone)
{
    bnn_graph *orig = test_lenet_graph(), *g = bnn_graph_clone(orig);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("", g, &diag), BNN_OK);
    const char *d = test_graph_diff(orig, g, NULL, NULL);
    cr_assert_null(d, "%s", d);
    /* canonicalize and dce have nothing to do on it either. */
    cr_assert_eq(bnn_passes_run_text("canonicalize,dce,fold-batchnorm,bnn-to-mean", g, &diag), BNN_OK);
    d = test_graph_diff(orig, g, NULL, NULL);
    cr_assert_null(d, "%s", d);
    bnn_graph_destroy(g);
    bnn_graph_destroy(orig);
}

/* conv2d [N,2,4,4] -> batch_norm, with 2 output channels; checks the folded
 * weights against the formula evaluated here. */
Test(fold_batchnorm, folds_with_the_exact_formula)
{
    bnn_graph *g = bnn_graph_create("bn");
    int64_t N = bnn_graph_symbol(g, "N");
    bnn_shape xs = {4, {N, 3, 4, 4}}, ys = {4, {N, 2, 4, 4}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &xs);
    bnn_graph_add_input(g, x);
    float w[2 * 3 * 1 * 1] = {0.5f, -1.25f, 3.0f, 0.1f, 0.2f, -0.3f};
    float b[2] = {0.75f, -0.5f};
    float scale[2] = {1.5f, 0.8f}, shift[2] = {0.1f, -0.2f}, mean[2] = {0.3f, -0.7f},
          var[2] = {0.04f, 2.5f};
    bnn_shape ws = {4, {2, 3, 1, 1}}, cs = {1, {2}};
    int wi = bnn_graph_add_param(g, "conv.weight", BNN_F32, &ws, w, sizeof w, false);
    int bi = bnn_graph_add_param(g, "conv.bias", BNN_F32, &cs, b, sizeof b, false);
    int si = bnn_graph_add_param(g, "bn.scale", BNN_F32, &cs, scale, sizeof scale, false);
    int hi = bnn_graph_add_param(g, "bn.shift", BNN_F32, &cs, shift, sizeof shift, false);
    int mi = bnn_graph_add_param(g, "bn.mean", BNN_F32, &cs, mean, sizeof mean, false);
    int vi = bnn_graph_add_param(g, "bn.var", BNN_F32, &cs, var, sizeof var, false);
    int c = bnn_graph_add_value(g, "c", BNN_F32, &ys);
    int y = bnn_graph_add_value(g, "y", BNN_F32, &ys);
    bnn_graph_add_node(g, BNN_OP_CONV, "conv", (int[]){x, wi, bi}, 3, &c, 1);
    int bn = bnn_graph_add_node(g, BNN_OP_BATCH_NORM, "bn", (int[]){c, si, hi, mi, vi}, 5, &y, 1);
    bnn_node_set_float(g, bn, "epsilon", 1e-3f);
    bnn_graph_add_output(g, y);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_passes_run_text("fold-batchnorm,dce", g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(g->n_nodes, 1);
    const bnn_node *n = &g->nodes[0];
    cr_assert_eq(n->op, BNN_OP_CONV);
    cr_assert_str_eq(n->name, "conv");
    cr_assert_str_eq(g->values[n->outputs[0]].name, "y");
    cr_assert_str_eq(g->values[n->inputs[1]].name, "conv.weight");
    cr_assert_str_eq(g->values[n->inputs[2]].name, "conv.bias");
    const float *nw = g->values[n->inputs[1]].data, *nb = g->values[n->inputs[2]].data;
    for (int ch = 0; ch < 2; ch++) {
        double k = (double)scale[ch] / sqrt((double)var[ch] + (double)1e-3f);
        for (int i = 0; i < 3; i++)
            cr_assert_eq(nw[ch * 3 + i], (float)((double)w[ch * 3 + i] * k), "w[%d,%d]", ch, i);
        cr_assert_eq(nb[ch], (float)(((double)b[ch] - mean[ch]) * k + shift[ch]), "b[%d]", ch);
    }
    for (int v = 0; v < g->n_values; v++)
        cr_assert_null(strstr(g->values[v].name, "bn."), "dce dropped %s", g->values[v].name);
    bnn_graph_destroy(g);
}

/* The manager verifies the input: a graph whose recorded shape disagrees with
 * inference is refused before any pass runs (unless verify_each is off). */
Test(pipeline, an_invalid_input_graph_is_refused)
{
    bnn_graph *g = bnn_graph_create("bad");
    int64_t N = bnn_graph_symbol(g, "N");
    bnn_shape s4 = {2, {N, 4}}, s5 = {2, {N, 5}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &s4);
    int y = bnn_graph_add_value(g, "y", BNN_F32, &s5);
    bnn_graph_add_input(g, x);
    bnn_graph_add_node(g, BNN_OP_RELU, "r", &x, 1, &y, 1);
    bnn_graph_add_output(g, y);
    bnn_pipeline *p;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_pipeline_parse("dce", &p, &diag), BNN_OK);
    cr_assert_neq(bnn_pipeline_run(p, g, NULL, &diag), BNN_OK);
    cr_assert_eq(strncmp(diag.message, "the input graph is invalid: ", 28), 0, "%s", diag.message);
    cr_assert_not_null(strstr(diag.message, "'r'"), "names the node: %s", diag.message);
    bnn_pipeline_run_options o = bnn_pipeline_run_defaults();
    o.verify_each = false;
    cr_assert_eq(bnn_pipeline_run(p, g, &o, &diag), BNN_OK, "%s", diag.message);
    bnn_pipeline_destroy(p);
    bnn_graph_destroy(g);
}

/* Mutated pipelines: each parses or fails with a message that names a column;
 * nothing crashes or leaks (run under the sanitizers too). */
Test(pipeline, mutated_texts_parse_or_fail_cleanly)
{
    const char *seed = "canonicalize{keep_dropout=true},fold-batchnorm,to-bnn{layers=dense,conv "
                       "only=fc1 exclude=fc2 prior_sigma=0.2 init=random seed=3},dce,bnn-to-mean";
    const char alphabet[] = "{}=, ,a-_.0";
    uint32_t state = 12345;
    size_t len = strlen(seed);
    char text[256];
    int ok = 0, failed = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(text, seed, len + 1);
        int edits = 1 + round % 3;
        for (int e = 0; e < edits; e++) {
            state = state * 1664525u + 1013904223u;
            size_t at = (state >> 8) % len;
            state = state * 1664525u + 1013904223u;
            int kind = (int)((state >> 8) % 3);
            char c = alphabet[(state >> 16) % (sizeof alphabet - 1)];
            if (kind == 0)
                text[at] = c;
            else if (kind == 1)
                text[at] = '\0';
            else
                memmove(text + at, text + at + 1, len - at);
        }
        bnn_pipeline *p = NULL;
        bnn_diag diag = {0};
        if (bnn_pipeline_parse(text, &p, &diag) == BNN_OK) {
            char buf[2048];
            bnn_pipeline_format(p, buf, sizeof buf);
            /* The canonical form parses to itself. */
            bnn_pipeline *q = NULL;
            cr_assert_eq(bnn_pipeline_parse(buf, &q, &diag), BNN_OK, "'%s': %s", buf, diag.message);
            char again[2048];
            cr_assert_str_eq(bnn_pipeline_format(q, again, sizeof again), buf);
            bnn_pipeline_destroy(q);
            bnn_pipeline_destroy(p);
            ok++;
        } else {
            cr_assert_null(p);
            cr_assert_eq(strncmp(diag.message, "pipeline column ", 16), 0, "'%s': %s", text,
                         diag.message);
            failed++;
        }
    }
    cr_assert_gt(ok, 50);
    cr_assert_gt(failed, 50);
}
