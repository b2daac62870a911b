/* The fingerprint data-parallel ranks compare before they work together: two
 * ranks that loaded different model files (or the same file with different
 * --input-shape overrides) must not silently average unrelated gradients. */
#include <string.h>

#include "bnn_train.h"

static uint64_t hash_int(uint64_t h, int64_t v) { return bnn_comm_hash(h, &v, sizeof v); }

static uint64_t hash_text(uint64_t h, const char *s)
{
    return bnn_comm_hash(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

uint64_t bnn_graph_fingerprint(const bnn_graph *g)
{
    uint64_t h = BNN_COMM_HASH_SEED;
    h = hash_int(h, g->n_values);
    h = hash_int(h, g->n_nodes);
    for (int i = 0; i < g->n_inputs; i++)
        h = hash_int(h, g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++)
        h = hash_int(h, g->outputs[i]);
    for (int v = 0; v < g->n_values; v++) {
        const bnn_value *val = &g->values[v];
        h = hash_text(h, val->name);
        h = hash_int(h, val->kind);
        h = hash_int(h, val->dtype);
        h = hash_int(h, val->shape.rank);
        for (int d = 0; d < val->shape.rank; d++)
            h = hash_int(h, val->shape.dims[d]);
        if (val->data)
            h = bnn_comm_hash(h, val->data, val->nbytes);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        h = hash_int(h, n->op);
        for (int k = 0; k < n->n_inputs; k++)
            h = hash_int(h, n->inputs[k]);
        for (int k = 0; k < n->n_outputs; k++)
            h = hash_int(h, n->outputs[k]);
    }
    return h;
}
