/* Structural comparison of two IR graphs: values (name, kind, type, shape with
 * symbols by name, data bytes, trainable), nodes (op, name, operands,
 * attributes) and graph inputs/outputs, in order. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "graph_compare.h"

static void dim_str(const bnn_graph *g, int64_t d, char *buf, size_t n)
{
    if (bnn_dim_is_symbol(d))
        snprintf(buf, n, "%s", g->symbols[bnn_dim_symbol_index(d)]);
    else
        snprintf(buf, n, "%lld", (long long)d);
}

static bool shape_eq(const bnn_graph *a, const bnn_shape *sa, const bnn_graph *b, const bnn_shape *sb)
{
    if (sa->rank != sb->rank)
        return false;
    for (int i = 0; i < sa->rank; i++) {
        char x[64], y[64];
        dim_str(a, sa->dims[i], x, sizeof x);
        dim_str(b, sb->dims[i], y, sizeof y);
        if (strcmp(x, y) != 0)
            return false;
    }
    return true;
}

static bool attr_eq(const bnn_attr *x, const bnn_attr *y)
{
    if (strcmp(x->name, y->name) || x->kind != y->kind)
        return false;
    switch (x->kind) {
    case BNN_ATTR_INT: return x->i == y->i;
    case BNN_ATTR_FLOAT: return memcmp(&x->f, &y->f, sizeof x->f) == 0 || (isnan(x->f) && isnan(y->f));
    case BNN_ATTR_STRING: return strcmp(x->s, y->s) == 0;
    case BNN_ATTR_INTS:
        return x->count == y->count && (!x->count || !memcmp(x->ints, y->ints, sizeof(int64_t) * (size_t)x->count));
    case BNN_ATTR_FLOATS:
        return x->count == y->count && (!x->count || !memcmp(x->floats, y->floats, sizeof(float) * (size_t)x->count));
    }
    return false;
}

static const bnn_attr *find_attr(const bnn_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

bool graph_compare(const bnn_graph *a, const bnn_graph *b, char *why, size_t n)
{
#define DIFF(...) do { snprintf(why, n, __VA_ARGS__); return false; } while (0)
    if (a->n_values != b->n_values)
        DIFF("%d values vs %d", a->n_values, b->n_values);
    if (a->n_nodes != b->n_nodes)
        DIFF("%d nodes vs %d", a->n_nodes, b->n_nodes);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs)
        DIFF("inputs/outputs %d/%d vs %d/%d", a->n_inputs, a->n_outputs, b->n_inputs, b->n_outputs);
    for (int i = 0; i < a->n_values; i++) {
        const bnn_value *x = &a->values[i], *y = &b->values[i];
        if (strcmp(x->name, y->name))
            DIFF("value %d: name '%s' vs '%s'", i, x->name, y->name);
        if (x->kind != y->kind || x->dtype != y->dtype || x->trainable != y->trainable)
            DIFF("value '%s': kind/dtype/trainable %d/%d/%d vs %d/%d/%d", x->name, x->kind, x->dtype,
                 x->trainable, y->kind, y->dtype, y->trainable);
        if (!shape_eq(a, &x->shape, b, &y->shape))
            DIFF("value '%s': shapes differ", x->name);
        if (x->nbytes != y->nbytes || (x->nbytes && memcmp(x->data, y->data, x->nbytes)))
            DIFF("value '%s': data differs", x->name);
        if (x->producer != y->producer)
            DIFF("value '%s': producer %d vs %d", x->name, x->producer, y->producer);
    }
    for (int i = 0; i < a->n_inputs; i++)
        if (a->inputs[i] != b->inputs[i])
            DIFF("graph input %d differs", i);
    for (int i = 0; i < a->n_outputs; i++)
        if (a->outputs[i] != b->outputs[i])
            DIFF("graph output %d differs", i);
    for (int i = 0; i < a->n_nodes; i++) {
        const bnn_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (x->op != y->op || strcmp(x->name, y->name))
            DIFF("node %d: '%s' (%s) vs '%s' (%s)", i, x->name, bnn_op_get(x->op)->name, y->name,
                 bnn_op_get(y->op)->name);
        if (x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs ||
            memcmp(x->inputs, y->inputs, sizeof(int) * (size_t)x->n_inputs) ||
            memcmp(x->outputs, y->outputs, sizeof(int) * (size_t)x->n_outputs))
            DIFF("node '%s': operands differ", x->name);
        if (x->n_attrs != y->n_attrs)
            DIFF("node '%s': %d attributes vs %d", x->name, x->n_attrs, y->n_attrs);
        for (int k = 0; k < x->n_attrs; k++) {
            const bnn_attr *ya = find_attr(y, x->attrs[k].name);
            if (!ya || !attr_eq(&x->attrs[k], ya))
                DIFF("node '%s': attribute '%s' differs", x->name, x->attrs[k].name);
        }
    }
    return true;
#undef DIFF
}

static char *print_to_string(const bnn_graph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    bnn_status s = bnn_graph_print(g, f);
    fclose(f);
    if (s != BNN_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

bool graph_print_equal(const bnn_graph *a, const bnn_graph *b, char *why, size_t n)
{
    char *ta = print_to_string(a), *tb = print_to_string(b);
    bool same = ta && tb && strcmp(ta, tb) == 0;
    if (!same) {
        if (!ta || !tb) {
            snprintf(why, n, "printing failed");
        } else {
            const char *pa = ta, *pb = tb;
            while (*pa && *pa == *pb) {
                pa++;
                pb++;
            }
            while (pa > ta && pa[-1] != '\n') {
                pa--;
                pb--;
            }
            snprintf(why, n, "printed IR differs at: '%.*s' vs '%.*s'", (int)strcspn(pa, "\n"), pa,
                     (int)strcspn(pb, "\n"), pb);
        }
    }
    free(ta);
    free(tb);
    return same;
}
