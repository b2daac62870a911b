/* The LeNet-5-like test graph and a structural graph comparison. */
#include <stdlib.h>
#include <string.h>

#include "lenet_graph.h"

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Weights in [-0.5, 0.5) with every 13th exactly zero (to exercise sigma's floor). */
static int add_weight(bnn_graph *g, const char *name, bnn_shape shape, uint32_t seed)
{
    int64_t n = bnn_shape_numel(&shape);
    float *data = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        data[i] = i % 13 == 0 ? 0.0f : (float)lcg(&seed) / (float)(1u << 24) - 0.5f;
    int id = bnn_graph_add_param(g, name, BNN_F32, &shape, data, sizeof(float) * (size_t)n, false);
    free(data);
    return id;
}

static int add_node(bnn_graph *g, bnn_op op, const char *name, const int *in, int n_in,
                    const char *out_name, bnn_shape shape)
{
    int out = bnn_graph_add_value(g, out_name, BNN_F32, &shape);
    int id = bnn_graph_add_node(g, op, name, in, n_in, &out, 1);
    (void)id;
    return out;
}

#define SHAPE(...) ((bnn_shape){.rank = sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), \
                                .dims = {__VA_ARGS__}})

bnn_graph *test_lenet_graph(void)
{
    bnn_graph *g = bnn_graph_create("lenet5");
    int64_t N = bnn_graph_symbol(g, "N");
    int x = bnn_graph_add_value(g, "input", BNN_F32, &SHAPE(N, 1, 28, 28));
    bnn_graph_add_input(g, x);
    int c1w = add_weight(g, "conv1.weight", SHAPE(6, 1, 5, 5), 1);
    int c1b = add_weight(g, "conv1.bias", SHAPE(6), 2);
    int c2w = add_weight(g, "conv2.weight", SHAPE(16, 6, 5, 5), 3);
    int c2b = add_weight(g, "conv2.bias", SHAPE(16), 4);
    int f1w = add_weight(g, "fc1.weight", SHAPE(120, 400), 5);
    int f1b = add_weight(g, "fc1.bias", SHAPE(120), 6);
    int f2w = add_weight(g, "fc2.weight", SHAPE(84, 120), 7);
    int f2b = add_weight(g, "fc2.bias", SHAPE(84), 8);
    int f3w = add_weight(g, "fc3.weight", SHAPE(10, 84), 9);
    int f3b = add_weight(g, "fc3.bias", SHAPE(10), 10);
    int64_t s1[] = {1, 1}, p2[] = {2, 2, 2, 2}, p0[] = {0, 0, 0, 0}, k2[] = {2, 2}, s2[] = {2, 2};

    int v = add_node(g, BNN_OP_CONV, "conv1", (int[]){x, c1w, c1b}, 3, "1", SHAPE(N, 6, 28, 28));
    bnn_node_set_ints(g, g->n_nodes - 1, "strides", s1, 2);
    bnn_node_set_ints(g, g->n_nodes - 1, "pads", p2, 4);
    v = add_node(g, BNN_OP_RELU, "relu1", (int[]){v}, 1, "2", SHAPE(N, 6, 28, 28));
    v = add_node(g, BNN_OP_MAX_POOL, "pool1", (int[]){v}, 1, "3", SHAPE(N, 6, 14, 14));
    bnn_node_set_ints(g, g->n_nodes - 1, "kernel_shape", k2, 2);
    bnn_node_set_ints(g, g->n_nodes - 1, "strides", s2, 2);
    v = add_node(g, BNN_OP_CONV, "conv2", (int[]){v, c2w, c2b}, 3, "4", SHAPE(N, 16, 10, 10));
    bnn_node_set_ints(g, g->n_nodes - 1, "strides", s1, 2);
    bnn_node_set_ints(g, g->n_nodes - 1, "pads", p0, 4);
    v = add_node(g, BNN_OP_RELU, "relu2", (int[]){v}, 1, "5", SHAPE(N, 16, 10, 10));
    v = add_node(g, BNN_OP_MAX_POOL, "pool2", (int[]){v}, 1, "6", SHAPE(N, 16, 5, 5));
    bnn_node_set_ints(g, g->n_nodes - 1, "kernel_shape", k2, 2);
    bnn_node_set_ints(g, g->n_nodes - 1, "strides", s2, 2);
    v = add_node(g, BNN_OP_FLATTEN, "flatten", (int[]){v}, 1, "7", SHAPE(N, 400));
    bnn_node_set_int(g, g->n_nodes - 1, "axis", 1);
    v = add_node(g, BNN_OP_DENSE, "fc1", (int[]){v, f1w, f1b}, 3, "8", SHAPE(N, 120));
    v = add_node(g, BNN_OP_RELU, "relu3", (int[]){v}, 1, "9", SHAPE(N, 120));
    v = add_node(g, BNN_OP_DENSE, "fc2", (int[]){v, f2w, f2b}, 3, "10", SHAPE(N, 84));
    v = add_node(g, BNN_OP_RELU, "relu4", (int[]){v}, 1, "11", SHAPE(N, 84));
    v = add_node(g, BNN_OP_DENSE, "fc3", (int[]){v, f3w, f3b}, 3, "logits", SHAPE(N, 10));
    bnn_graph_add_output(g, v);
    return g;
}

static bool listed(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static char diff_text[1024];

#define DIFF(...) (snprintf(diff_text, sizeof diff_text, __VA_ARGS__), diff_text)

static const char *attrs_diff(const bnn_node *x, const bnn_node *y)
{
    if (x->n_attrs != y->n_attrs)
        return DIFF("node '%s': %d attributes vs %d", x->name, x->n_attrs, y->n_attrs);
    for (int i = 0; i < x->n_attrs; i++) {
        const bnn_attr *a = &x->attrs[i], *b = &y->attrs[i];
        bool same = strcmp(a->name, b->name) == 0 && a->kind == b->kind;
        if (same) {
            switch (a->kind) {
            case BNN_ATTR_INT: same = a->i == b->i; break;
            case BNN_ATTR_FLOAT: same = memcmp(&a->f, &b->f, sizeof a->f) == 0; break;
            case BNN_ATTR_STRING: same = strcmp(a->s, b->s) == 0; break;
            case BNN_ATTR_INTS:
                same = a->count == b->count &&
                       (!a->count || memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->count) == 0);
                break;
            case BNN_ATTR_FLOATS:
                same = a->count == b->count &&
                       (!a->count || memcmp(a->floats, b->floats, sizeof(float) * (size_t)a->count) == 0);
                break;
            }
        }
        if (!same)
            return DIFF("node '%s': attribute %d ('%s') differs", x->name, i, a->name);
    }
    return NULL;
}

static const char *value_name(const bnn_graph *g, int id)
{
    return id < 0 ? "_" : g->values[id].name;
}

const char *test_graph_diff(const bnn_graph *a, const bnn_graph *b, const char *const *skip_nodes,
                            const char *const *skip_params)
{
    /* Nodes: the same sequence once skipped ones are left out. */
    int j = 0;
    for (int i = 0; i < a->n_nodes; i++) {
        const bnn_node *x = &a->nodes[i];
        if (x->dead || listed(skip_nodes, x->name))
            continue;
        while (j < b->n_nodes && (b->nodes[j].dead || listed(skip_nodes, b->nodes[j].name)))
            j++;
        if (j == b->n_nodes)
            return DIFF("node '%s' is missing", x->name);
        const bnn_node *y = &b->nodes[j++];
        if (strcmp(x->name, y->name) != 0 || x->op != y->op)
            return DIFF("node '%s' (%s) became '%s' (%s)", x->name, bnn_op_get(x->op)->name,
                        y->name, bnn_op_get(y->op)->name);
        if (x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs)
            return DIFF("node '%s': operand counts differ", x->name);
        for (int k = 0; k < x->n_inputs; k++)
            if (strcmp(value_name(a, x->inputs[k]), value_name(b, y->inputs[k])) != 0)
                return DIFF("node '%s': input %d is '%s' vs '%s'", x->name, k,
                            value_name(a, x->inputs[k]), value_name(b, y->inputs[k]));
        for (int k = 0; k < x->n_outputs; k++) {
            const bnn_value *u = &a->values[x->outputs[k]], *w = &b->values[y->outputs[k]];
            if (strcmp(u->name, w->name) != 0 || u->dtype != w->dtype ||
                !bnn_shape_equal(&u->shape, &w->shape))
                return DIFF("node '%s': output %d differs", x->name, k);
        }
        const char *d = attrs_diff(x, y);
        if (d)
            return d;
    }
    while (j < b->n_nodes && (b->nodes[j].dead || listed(skip_nodes, b->nodes[j].name)))
        j++;
    if (j != b->n_nodes)
        return DIFF("extra node '%s'", b->nodes[j].name);

    /* Params, by name, both ways. */
    for (int pass = 0; pass < 2; pass++) {
        const bnn_graph *p = pass ? b : a, *q = pass ? a : b;
        for (int v = 0; v < p->n_values; v++) {
            const bnn_value *x = &p->values[v];
            if (x->kind != BNN_VALUE_PARAM || listed(skip_params, x->name))
                continue;
            int id = bnn_graph_find_value(q, x->name);
            if (id < 0)
                return DIFF("param '%s' is only in the %s graph", x->name, pass ? "second" : "first");
            const bnn_value *y = &q->values[id];
            if (y->kind != BNN_VALUE_PARAM || x->dtype != y->dtype ||
                !bnn_shape_equal(&x->shape, &y->shape) || x->trainable != y->trainable ||
                x->nbytes != y->nbytes || (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0))
                return DIFF("param '%s' differs", x->name);
        }
    }
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs)
        return DIFF("graph inputs or outputs differ in number");
    for (int i = 0; i < a->n_inputs; i++)
        if (strcmp(value_name(a, a->inputs[i]), value_name(b, b->inputs[i])) != 0)
            return DIFF("graph input %d differs", i);
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(value_name(a, a->outputs[i]), value_name(b, b->outputs[i])) != 0)
            return DIFF("graph output %d differs", i);
    return NULL;
}
