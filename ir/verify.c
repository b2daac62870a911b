/* The verifier: the invariants that passes, the importer and the runtime rely
 * on, checked between passes.
 *
 * Structure first (ids in range, one producer per value, inputs defined before
 * use, arities and attributes against ops.def, param data sizes, graph inputs
 * and outputs), because inference on a broken structure would read garbage;
 * then shape inference on a scratch copy of the values, whose results must
 * equal the recorded dtypes and shapes.  Each failure is one line naming the
 * node or value. */
#include <stdlib.h>
#include <string.h>

#include "infer_impl.h"

typedef struct verifier {
    const bnn_graph *g;
    bnn_diag *diag;
    int *produced_by;  /* per value: the live node that produced it so far, or -1 */
    bool *defined;     /* per value: available at the current point of the walk */
    bool *graph_input; /* per value: listed in graph->inputs */
    char label[300];
} verifier;

static const char *const kind_text[] = {"graph input", "param", "node output"};

static bool kind_valid(bnn_value_kind k)
{
    return k == BNN_VALUE_INPUT || k == BNN_VALUE_PARAM || k == BNN_VALUE_NODE;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bnn_status unique_names(verifier *v)
{
    const bnn_graph *g = v->g;
    const char **names = malloc(sizeof(char *) * ((size_t)g->n_values + 1));
    if (!names)
        return bnn_fail(v->diag, BNN_ERR_NOMEM, "out of memory verifying the graph");
    for (int i = 0; i < g->n_values; i++)
        names[i] = g->values[i].name;
    qsort(names, (size_t)g->n_values, sizeof(char *), compare_names);
    for (int i = 1; i < g->n_values; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            bnn_status st = bnn_fail(v->diag, BNN_ERR_INVALID,
                                     "value '%s' is defined more than once", names[i]);
            free(names);
            return st;
        }
    }
    free(names);
    return BNN_OK;
}

static bnn_status check_value(verifier *v, int id)
{
    const bnn_graph *g = v->g;
    const bnn_value *val = &g->values[id];
    bnn_diag *diag = v->diag;
    if (!val->name)
        return bnn_fail(diag, BNN_ERR_INVALID, "value %d has no name", id);
    const char *name = val->name;
    if (!kind_valid(val->kind))
        return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' has an invalid kind %d", name,
                        (int)val->kind);
    if (val->dtype != BNN_UNDEFINED && !bnn_dtype_name(val->dtype))
        return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' has an invalid element type %d", name,
                        (int)val->dtype);
    if (val->shape.rank < -1 || val->shape.rank > BNN_MAX_RANK)
        return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' has rank %d, expected -1..%d", name,
                        val->shape.rank, BNN_MAX_RANK);
    for (int i = 0; i < val->shape.rank; i++) {
        int64_t d = val->shape.dims[i];
        if (bnn_dim_is_symbol(d) && bnn_dim_symbol_index(d) >= g->n_symbols)
            return bnn_fail(diag, BNN_ERR_INVALID, "value '%s': dim %d refers to symbol %d of %d",
                            name, i, bnn_dim_symbol_index(d), g->n_symbols);
    }
    if (val->kind != BNN_VALUE_NODE && val->producer != -1)
        return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' is a %s but records producer %d", name,
                        kind_text[val->kind], val->producer);
    if (val->kind == BNN_VALUE_NODE) {
        int p = val->producer;
        bool listed = false;
        for (int k = 0; p >= 0 && p < g->n_nodes && k < g->nodes[p].n_outputs; k++)
            listed |= g->nodes[p].outputs[k] == id;
        if (!listed)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "value '%s' records producer node %d, which does not output it", name,
                            p);
    }
    if (val->kind == BNN_VALUE_PARAM) {
        char text[160];
        bnn_type_text(g, val->dtype, &val->shape, text, sizeof text);
        int64_t numel = bnn_shape_numel(&val->shape);
        size_t elem = bnn_dtype_size(val->dtype);
        if (!bnn_shape_is_concrete(&val->shape) || numel < 0 || elem == 0)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "param '%s' has type %s, expected a concrete shape and a sized type",
                            name, text);
        if ((uint64_t)numel > SIZE_MAX / elem || (size_t)numel * elem != val->nbytes)
            return bnn_fail(diag, BNN_ERR_INVALID, "param '%s' %s has %zu bytes of data, expected %lld x %zu",
                            name, text, val->nbytes, (long long)numel, elem);
        if (val->nbytes > 0 && !val->data)
            return bnn_fail(diag, BNN_ERR_INVALID, "param '%s' %s has no data", name, text);
    }
    return BNN_OK;
}

static bnn_status check_graph_inputs(verifier *v)
{
    const bnn_graph *g = v->g;
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        if (id < 0 || id >= g->n_values)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "graph input %d refers to value %d of %d",
                            i, id, g->n_values);
        const bnn_value *val = &g->values[id];
        if (val->kind != BNN_VALUE_INPUT)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "graph input '%s' is a %s", val->name,
                            kind_text[val->kind]);
        if (v->graph_input[id])
            return bnn_fail(v->diag, BNN_ERR_INVALID, "graph input '%s' is listed twice",
                            val->name);
        v->graph_input[id] = true;
    }
    for (int id = 0; id < g->n_values; id++)
        v->defined[id] = g->values[id].kind == BNN_VALUE_PARAM || v->graph_input[id];
    return BNN_OK;
}

static bnn_status check_attrs(verifier *v, const bnn_node *n)
{
    const char *schema = bnn_op_get(n->op)->attrs;
    for (int i = 0; i < n->n_attrs; i++) {
        const bnn_attr *a = &n->attrs[i];
        bnn_attr_kind kind;
        if (!bnn_schema_find(schema, a->name, &kind))
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: unknown attribute '%s'", v->label,
                            a->name);
        if (kind != a->kind)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: attribute '%s' is %s, expected %s",
                            v->label, a->name, bnn_attr_kind_name(a->kind),
                            bnn_attr_kind_name(kind));
        for (int j = 0; j < i; j++)
            if (strcmp(n->attrs[j].name, a->name) == 0)
                return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: attribute '%s' is set twice",
                                v->label, a->name);
        if ((a->kind == BNN_ATTR_INTS && a->count && !a->ints) ||
            (a->kind == BNN_ATTR_FLOATS && a->count && !a->floats) ||
            (a->kind == BNN_ATTR_STRING && !a->s) || a->count < 0)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: attribute '%s' has no value",
                            v->label, a->name);
    }
    return BNN_OK;
}

/* Why an input is not available here: produced later, by a dead node, or
 * never. */
static bnn_status undefined_input(verifier *v, int k, int id)
{
    const bnn_graph *g = v->g;
    const bnn_value *val = &g->values[id];
    if (val->kind == BNN_VALUE_INPUT)
        return bnn_fail(v->diag, BNN_ERR_INVALID,
                        "%s: input %d '%s' is neither a graph input, a param nor a node output",
                        v->label, k, val->name);
    const bnn_node *p = &g->nodes[val->producer];
    char label[300];
    bnn_node_label(g, val->producer, label, sizeof label);
    return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: input %d '%s' is %s by %s", v->label, k,
                    val->name, p->dead ? "produced only" : "used before it is produced", label);
}

static bnn_status check_node(verifier *v, int node_id)
{
    const bnn_graph *g = v->g;
    const bnn_node *n = &g->nodes[node_id];
    if ((unsigned)n->op >= BNN_OP_COUNT)
        return bnn_fail(v->diag, BNN_ERR_INVALID, "node %d '%s' has an invalid op %d", node_id,
                        n->name ? n->name : "", (int)n->op);
    bnn_node_label(g, node_id, v->label, sizeof v->label);
    const bnn_op_info *info = bnn_op_get(n->op);
    if (info->max_inputs == BNN_VARIADIC && n->n_inputs < info->min_inputs)
        return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: has %d inputs, expected at least %d",
                        v->label, n->n_inputs, info->min_inputs);
    if (info->max_inputs != BNN_VARIADIC &&
        (n->n_inputs < info->min_inputs || n->n_inputs > info->max_inputs))
        return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: has %d inputs, expected %d..%d", v->label,
                        n->n_inputs, info->min_inputs, info->max_inputs);
    if (n->n_outputs != info->n_outputs)
        return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: has %d outputs, expected %d", v->label,
                        n->n_outputs, info->n_outputs);
    for (int k = 0; k < n->n_inputs; k++) {
        int id = n->inputs[k];
        if (id == -1 && k >= info->min_inputs)
            continue;
        if (id == -1)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: required input %d is absent",
                            v->label, k);
        if (id < 0 || id >= g->n_values)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: input %d refers to value %d of %d",
                            v->label, k, id, g->n_values);
        if (!v->defined[id])
            return undefined_input(v, k, id);
    }
    for (int k = 0; k < n->n_outputs; k++) {
        int id = n->outputs[k];
        if (id < 0 || id >= g->n_values)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: output %d refers to value %d of %d",
                            v->label, k, id, g->n_values);
        const bnn_value *val = &g->values[id];
        if (val->kind != BNN_VALUE_NODE)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "%s: output '%s' is a %s", v->label,
                            val->name, kind_text[val->kind]);
        if (v->produced_by[id] >= 0) {
            char other[300];
            bnn_node_label(g, v->produced_by[id], other, sizeof other);
            return bnn_fail(v->diag, BNN_ERR_INVALID,
                            "%s: output '%s' is already produced by %s", v->label, val->name,
                            other);
        }
        if (val->producer != node_id)
            return bnn_fail(v->diag, BNN_ERR_INVALID,
                            "%s: output '%s' records producer node %d instead of %d", v->label,
                            val->name, val->producer, node_id);
        v->produced_by[id] = node_id;
        v->defined[id] = true;
    }
    return check_attrs(v, n);
}

static bnn_status check_structure(verifier *v)
{
    const bnn_graph *g = v->g;
    for (int id = 0; id < g->n_values; id++) {
        BNN_TRY(check_value(v, id));
        v->produced_by[id] = -1;
    }
    BNN_TRY(unique_names(v));
    BNN_TRY(check_graph_inputs(v));
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            BNN_TRY(check_node(v, i));
    for (int i = 0; i < g->n_outputs; i++) {
        int id = g->outputs[i];
        if (id < 0 || id >= g->n_values)
            return bnn_fail(v->diag, BNN_ERR_INVALID, "graph output %d refers to value %d of %d",
                            i, id, g->n_values);
        if (!v->defined[id])
            return bnn_fail(v->diag, BNN_ERR_INVALID,
                            "graph output '%s' is not produced by any live node", g->values[id].name);
    }
    return BNN_OK;
}

/* Re-runs inference on a scratch copy and compares with what the graph
 * records.  The copy is shallow but for the values array: inference writes
 * only the dtype and shape of node outputs and never adds to the graph, so
 * nodes, symbols and the arena can be shared, and a model's weights are not
 * duplicated each time a pass pipeline verifies. */
static bnn_status check_shapes(const bnn_graph *g, bnn_diag *diag)
{
    bnn_graph scratch = *g;
    scratch.values = malloc(sizeof(bnn_value) * ((size_t)g->n_values + 1));
    if (!scratch.values)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory copying the graph to verify shapes");
    if (g->n_values)
        memcpy(scratch.values, g->values, sizeof(bnn_value) * (size_t)g->n_values);
    scratch.cap_values = g->n_values + 1;
    bnn_status st = bnn_graph_infer(&scratch, diag);
    for (int i = 0; st == BNN_OK && i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_outputs && st == BNN_OK; k++) {
            const bnn_value *have = &g->values[n->outputs[k]];
            const bnn_value *want = &scratch.values[n->outputs[k]];
            if (have->dtype == want->dtype && bnn_shape_equal(&have->shape, &want->shape))
                continue;
            char label[300], a[160], b[160];
            st = bnn_fail(diag, BNN_ERR_SHAPE,
                          "%s: output '%s' is recorded as %s but inference gives %s",
                          bnn_node_label(g, i, label, sizeof label), have->name,
                          bnn_type_text(g, have->dtype, &have->shape, a, sizeof a),
                          bnn_type_text(g, want->dtype, &want->shape, b, sizeof b));
        }
    }
    free(scratch.values);
    return st;
}

bnn_status bnn_graph_verify(const bnn_graph *graph, bnn_diag *diag)
{
    size_t n = (size_t)graph->n_values + 1;
    verifier v = {
        .g = graph,
        .diag = diag,
        .produced_by = malloc(sizeof(int) * n),
        .defined = calloc(n, sizeof(bool)),
        .graph_input = calloc(n, sizeof(bool)),
    };
    bnn_status st;
    if (!v.produced_by || !v.defined || !v.graph_input)
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory verifying the graph");
    else
        st = check_structure(&v);
    free(v.produced_by);
    free(v.defined);
    free(v.graph_input);
    if (st != BNN_OK)
        return st;
    return check_shapes(graph, diag);
}
