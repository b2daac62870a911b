/* Small builders for IR unit tests (see helpers.h). */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "infer_impl.h"

bnn_shape t_shape(bnn_graph *g, const char *spec)
{
    bnn_shape s = {.rank = 0};
    if (strcmp(spec, "*") == 0) {
        s.rank = -1;
        return s;
    }
    const char *p = spec;
    while (*p) {
        cr_assert_lt(s.rank, BNN_MAX_RANK, "shape spec '%s' too long", spec);
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char tok[32];
        cr_assert_lt(len, sizeof tok);
        memcpy(tok, p, len);
        tok[len] = '\0';
        int64_t d;
        if (strcmp(tok, "?") == 0)
            d = BNN_DIM_UNKNOWN;
        else if (tok[0] >= '0' && tok[0] <= '9')
            d = strtoll(tok, NULL, 10);
        else
            d = bnn_graph_symbol(g, tok);
        s.dims[s.rank++] = d;
        p += len;
        if (*p == ',')
            p++;
    }
    return s;
}

int t_value(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec)
{
    bnn_shape s = t_shape(g, spec);
    int id = bnn_graph_add_value(g, name, dtype, &s);
    cr_assert_geq(id, 0, "adding value '%s'", name);
    return id;
}

int t_input(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec)
{
    int id = t_value(g, name, dtype, spec);
    cr_assert_eq(bnn_graph_add_input(g, id), BNN_OK);
    return id;
}

int t_param(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec)
{
    bnn_shape s = t_shape(g, spec);
    int64_t n = bnn_shape_numel(&s);
    cr_assert_geq(n, 0, "param '%s' needs a concrete shape", name);
    size_t bytes = (size_t)n * bnn_dtype_size(dtype);
    void *data = calloc(1, bytes + 1);
    int id = bnn_graph_add_param(g, name, dtype, &s, data, bytes, false);
    free(data);
    cr_assert_geq(id, 0, "adding param '%s'", name);
    return id;
}

int t_node(bnn_graph *g, bnn_op op, const char *name, int n_inputs, const int *inputs)
{
    bnn_shape unknown = {.rank = -1};
    int out = bnn_graph_add_value(g, name, BNN_UNDEFINED, &unknown);
    cr_assert_geq(out, 0, "adding output '%s'", name);
    int id = bnn_graph_add_node(g, op, name, inputs, n_inputs, &out, 1);
    cr_assert_geq(id, 0, "adding node '%s'", name);
    return id;
}

int t_out(const bnn_graph *g, int node) { return g->nodes[node].outputs[0]; }

const char *t_type(const bnn_graph *g, int value)
{
    static char buf[200];
    const bnn_value *v = &g->values[value];
    return bnn_type_text(g, v->dtype, &v->shape, buf, sizeof buf);
}

void t_ints(bnn_graph *g, int node, const char *name, int count, const int64_t *v)
{
    cr_assert_eq(bnn_node_set_ints(g, node, name, v, count), BNN_OK);
}

const char *t_infer(bnn_graph *g, int node)
{
    bnn_diag d = {0};
    bnn_status st = bnn_graph_infer_node(g, node, &d);
    cr_assert_eq(st, BNN_OK, "inference failed: %s", d.message);
    return t_type(g, t_out(g, node));
}

void t_infer_fails(bnn_graph *g, int node, const char *part)
{
    bnn_diag d = {0};
    bnn_status st = bnn_graph_infer_node(g, node, &d);
    cr_assert_eq(st, BNN_ERR_SHAPE, "expected a shape error containing '%s', got status %d: %s",
                 part, st, d.message);
    char who[200];
    snprintf(who, sizeof who, "node '%s' (%s)", g->nodes[node].name,
             bnn_op_get(g->nodes[node].op)->name);
    cr_assert(strstr(d.message, who), "message does not name the node: %s", d.message);
    cr_assert(strstr(d.message, part), "message lacks '%s': %s", part, d.message);
}
