/* The graph API: values, params, nodes, attributes, rewriting, sort, compact,
 * clone. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

static bnn_graph *g;
static void setup(void) { g = bnn_graph_create("t"); }
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(graph, .init = setup, .fini = teardown);

Test(graph, values_names_and_symbols)
{
    cr_assert_str_eq(g->name, "t");
    int a = t_input(g, "a", BNN_F32, "N,3");
    cr_assert_eq(bnn_graph_add_value(g, "a", BNN_F32, NULL), -1, "names are unique");
    int fresh = bnn_graph_add_value(g, NULL, BNN_F32, NULL);
    int fresh2 = bnn_graph_add_value(g, "", BNN_F32, NULL);
    cr_assert_geq(fresh, 0);
    cr_assert_str_neq(g->values[fresh].name, g->values[fresh2].name);
    cr_assert_eq(g->values[fresh].shape.rank, -1);
    cr_assert_eq(bnn_graph_find_value(g, "a"), a);
    cr_assert_eq(bnn_graph_find_value(g, "b"), -1);
    cr_assert_eq(bnn_graph_symbol(g, "N"), g->values[a].shape.dims[0]);
    cr_assert_neq(bnn_graph_symbol(g, "M"), bnn_graph_symbol(g, "N"));
    cr_assert(bnn_dim_is_symbol(bnn_graph_symbol(g, "M")));
    cr_assert_eq(g->n_inputs, 1);
    cr_assert_eq(g->values[a].kind, BNN_VALUE_INPUT);
}

Test(graph, params_copy_their_data)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    bnn_shape s = t_shape(g, "2,3");
    int p = bnn_graph_add_param(g, "w", BNN_F32, &s, data, sizeof data, true);
    data[0] = 99;
    const bnn_value *v = &g->values[p];
    cr_assert_eq(v->kind, BNN_VALUE_PARAM);
    cr_assert(v->trainable);
    cr_assert_eq(v->nbytes, sizeof data);
    cr_assert_eq(((const float *)v->data)[0], 1.0f);
    cr_assert_eq((uintptr_t)v->data % 64, 0);
}

Test(graph, nodes_and_attributes)
{
    int x = t_input(g, "x", BNN_F32, "N,1,8,8");
    int w = t_param(g, "w", BNN_F32, "2,1,3,3");
    int n = T_NODE(g, BNN_OP_CONV, "conv", x, w, -1);
    const bnn_node *node = &g->nodes[n];
    cr_assert_eq(node->n_inputs, 3);
    cr_assert_eq(node->inputs[2], -1);
    cr_assert_eq(g->values[t_out(g, n)].producer, n);
    cr_assert_eq(g->values[t_out(g, n)].kind, BNN_VALUE_NODE);
    cr_assert_eq(bnn_graph_find_node(g, "conv"), n);
    T_INTS(g, n, "strides", 2, 2);
    cr_assert_eq(bnn_node_set_int(g, n, "group", 1), BNN_OK);
    cr_assert_eq(bnn_node_set_float(g, n, "f", 0.5f), BNN_OK);
    cr_assert_eq(bnn_node_set_string(g, n, "s", "hi"), BNN_OK);
    float fl[2] = {1.5f, 2.5f};
    cr_assert_eq(bnn_node_set_floats(g, n, "fs", fl, 2), BNN_OK);
    node = &g->nodes[n];
    const int64_t *ints;
    cr_assert_eq(bnn_node_ints(node, "strides", &ints), 2);
    cr_assert_eq(ints[1], 2);
    cr_assert_eq(bnn_node_int(node, "group", 7), 1);
    cr_assert_eq(bnn_node_int(node, "missing", 7), 7);
    cr_assert_eq(bnn_node_int(node, "f", 7), 7, "wrong kind gives the fallback");
    cr_assert_eq(bnn_node_float(node, "f", 0), 0.5f);
    cr_assert_str_eq(bnn_node_string(node, "s", "x"), "hi");
    cr_assert_eq(bnn_node_attr(node, "fs")->floats[1], 2.5f);
    cr_assert_eq(bnn_node_ints(node, "missing", &ints), 0);
    cr_assert_null(ints);
    /* Setting again replaces, keeping one attribute of that name. */
    int before = node->n_attrs;
    cr_assert_eq(bnn_node_set_int(g, n, "group", 2), BNN_OK);
    cr_assert_eq(g->nodes[n].n_attrs, before);
    cr_assert_eq(bnn_node_int(&g->nodes[n], "group", 0), 2);
    char label[100];
    cr_assert_str_eq(bnn_node_label(g, n, label, sizeof label), "node 'conv' (conv)");
}

Test(graph, copy_attrs_between_graphs)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int n = T_NODE(g, BNN_OP_LEAKY_RELU, "l", x);
    cr_assert_eq(bnn_node_set_float(g, n, "alpha", 0.2f), BNN_OK);
    bnn_graph *h = bnn_graph_create("h");
    int y = t_input(h, "y", BNN_F32, "4");
    int m = T_NODE(h, BNN_OP_LEAKY_RELU, "m", y);
    cr_assert_eq(bnn_node_copy_attrs(h, m, g, n), BNN_OK);
    cr_assert_eq(bnn_node_float(&h->nodes[m], "alpha", 0), 0.2f);
    bnn_graph_destroy(h);
}

Test(graph, replace_uses_and_use_count)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int y = t_input(g, "y", BNN_F32, "4");
    int a = T_NODE(g, BNN_OP_ADD, "a", x, x);
    int r = T_NODE(g, BNN_OP_RELU, "r", t_out(g, a));
    cr_assert_eq(bnn_graph_add_output(g, x), BNN_OK);
    cr_assert_eq(bnn_graph_use_count(g, x), 3);
    bnn_graph_replace_uses(g, x, y);
    cr_assert_eq(bnn_graph_use_count(g, x), 0);
    cr_assert_eq(bnn_graph_use_count(g, y), 3);
    cr_assert_eq(g->nodes[a].inputs[1], y);
    cr_assert_eq(g->outputs[0], y);
    g->nodes[r].dead = true;
    cr_assert_eq(bnn_graph_use_count(g, t_out(g, a)), 0, "dead nodes do not count");
}

Test(graph, sort_reorders_out_of_order_nodes)
{
    int x = t_input(g, "x", BNN_F32, "4");
    int mid = bnn_graph_add_value(g, "mid", BNN_F32, NULL);
    int last = bnn_graph_add_value(g, "last", BNN_F32, NULL);
    int consumer = bnn_graph_add_node(g, BNN_OP_RELU, "consumer", &mid, 1, &last, 1);
    int producer = bnn_graph_add_node(g, BNN_OP_NEG, "producer", &x, 1, &mid, 1);
    cr_assert_eq(consumer, 0);
    cr_assert_eq(producer, 1);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_sort(g, &d), BNN_OK, "%s", d.message);
    cr_assert_str_eq(g->nodes[0].name, "producer");
    cr_assert_str_eq(g->nodes[1].name, "consumer");
    cr_assert_eq(g->values[mid].producer, 0);
    cr_assert_eq(g->values[last].producer, 1);
    cr_assert_eq(bnn_graph_add_output(g, last), BNN_OK);
    cr_assert_eq(bnn_graph_infer(g, &d), BNN_OK, "%s", d.message);
    cr_assert_eq(bnn_graph_verify(g, &d), BNN_OK, "%s", d.message);
}

Test(graph, sort_reports_a_cycle)
{
    int a = bnn_graph_add_value(g, "a", BNN_F32, NULL);
    int b = bnn_graph_add_value(g, "b", BNN_F32, NULL);
    bnn_graph_add_node(g, BNN_OP_RELU, "ra", &b, 1, &a, 1);
    bnn_graph_add_node(g, BNN_OP_RELU, "rb", &a, 1, &b, 1);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_sort(g, &d), BNN_ERR_INVALID);
    cr_assert(strstr(d.message, "node 'ra' (relu)"), "%s", d.message);
    cr_assert(strstr(d.message, "cycle"), "%s", d.message);
}

Test(graph, compact_drops_dead_nodes_and_unused_values)
{
    int x = t_input(g, "x", BNN_F32, "4");
    t_param(g, "unused", BNN_F32, "2");
    int a = T_NODE(g, BNN_OP_RELU, "a", x);
    int b = T_NODE(g, BNN_OP_NEG, "b", t_out(g, a));
    int c = T_NODE(g, BNN_OP_EXP, "c", t_out(g, b));
    cr_assert_eq(bnn_graph_add_output(g, t_out(g, c)), BNN_OK);
    /* Drop b: c reads a directly. */
    bnn_graph_replace_uses(g, t_out(g, b), t_out(g, a));
    g->nodes[b].dead = true;
    cr_assert_eq(bnn_graph_compact(g), BNN_OK);
    cr_assert_eq(g->n_nodes, 2);
    cr_assert_eq(g->n_values, 3, "x, a, c remain");
    cr_assert_eq(bnn_graph_find_value(g, "unused"), -1);
    cr_assert_eq(bnn_graph_find_value(g, "b"), -1);
    int na = bnn_graph_find_node(g, "a"), nc = bnn_graph_find_node(g, "c");
    cr_assert_eq(g->nodes[nc].inputs[0], g->nodes[na].outputs[0]);
    cr_assert_eq(g->values[g->nodes[nc].outputs[0]].producer, nc);
    cr_assert_eq(g->outputs[0], bnn_graph_find_value(g, "c"));
    cr_assert_eq(g->inputs[0], bnn_graph_find_value(g, "x"));
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_infer(g, &d), BNN_OK, "%s", d.message);
    cr_assert_eq(bnn_graph_verify(g, &d), BNN_OK, "%s", d.message);
}

Test(graph, clone_is_deep)
{
    int x = t_input(g, "x", BNN_F32, "N,4");
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    bnn_shape ws = t_shape(g, "2,4");
    int p = bnn_graph_add_param(g, "w", BNN_F32, &ws, w, sizeof w, true);
    int n = T_NODE(g, BNN_OP_DENSE, "fc", x, p);
    cr_assert_eq(bnn_node_set_string(g, n, "note", "kept"), BNN_OK);
    cr_assert_eq(bnn_graph_add_output(g, t_out(g, n)), BNN_OK);
    g->onnx_opset = 13;
    bnn_graph *h = bnn_graph_clone(g);
    cr_assert_not_null(h);
    cr_assert_eq(h->n_values, g->n_values);
    cr_assert_eq(h->n_nodes, g->n_nodes);
    cr_assert_eq(h->n_inputs, 1);
    cr_assert_eq(h->n_outputs, 1);
    cr_assert_eq(h->onnx_opset, 13);
    cr_assert_str_eq(h->symbols[0], "N");
    cr_assert_str_eq(bnn_node_string(&h->nodes[n], "note", ""), "kept");
    cr_assert_neq(h->values[p].data, g->values[p].data);
    cr_assert_eq(memcmp(h->values[p].data, w, sizeof w), 0);
    cr_assert(h->values[p].trainable);
    ((float *)h->values[p].data)[0] = 42;
    cr_assert_eq(((float *)g->values[p].data)[0], 1.0f);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_infer(h, &d), BNN_OK, "%s", d.message);
    cr_assert_str_eq(t_type(h, t_out(h, n)), "f32[N,2]");
    cr_assert_eq(g->values[t_out(g, n)].shape.rank, -1, "the original is untouched");
    bnn_graph_destroy(h);
}

Test(graph, clone_borrowing_shares_param_data)
{
    int x = t_input(g, "x", BNN_F32, "N,4");
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    bnn_shape ws = t_shape(g, "2,4");
    int p = bnn_graph_add_param(g, "w", BNN_F32, &ws, w, sizeof w, true);
    int n = T_NODE(g, BNN_OP_DENSE, "fc", x, p);
    cr_assert_eq(bnn_graph_add_output(g, t_out(g, n)), BNN_OK);
    bnn_graph *h = bnn_graph_clone_borrowing(g);
    cr_assert_not_null(h);
    cr_assert_eq(h->n_values, g->n_values);
    cr_assert_eq(h->n_nodes, g->n_nodes);
    cr_assert_eq(h->values[p].data, g->values[p].data, "the data is shared, not copied");
    cr_assert_eq(h->values[p].nbytes, sizeof w);
    cr_assert(h->values[p].trainable);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_infer(h, &d), BNN_OK, "%s", d.message);
    cr_assert_eq(bnn_graph_verify(h, &d), BNN_OK, "%s", d.message);
    cr_assert_str_eq(t_type(h, t_out(h, n)), "f32[N,2]");
    bnn_graph_destroy(h); /* must not free g's data: g is destroyed by the fixture */
    cr_assert_eq(((float *)g->values[p].data)[7], 8.0f);
}

Test(graph, arena_alloc_is_zeroed_and_aligned)
{
    for (size_t align = 1; align <= 4096; align *= 4) {
        unsigned char *p = bnn_arena_alloc(g->arena, 100, align);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % align, 0, "align %zu", align);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(p[i], 0);
        memset(p, 0xff, 100);
    }
    /* Bigger than any block so far, and many small ones: all distinct. */
    char *big = bnn_arena_alloc(g->arena, 1 << 20, 64);
    cr_assert_not_null(big);
    big[(1 << 20) - 1] = 1;
    char *s = bnn_arena_strdup(g->arena, "conv1.weight");
    cr_assert_str_eq(s, "conv1.weight");
    cr_assert_neq(s, big);
}
