/* dce: dead-code elimination.  Drops nodes none of whose outputs is used (by a
 * live node or as a graph output), repeatedly, then params and values that
 * nothing refers to any more.  Graph inputs stay: they are the interface. */
#include "passes_impl.h"

static bnn_status run_dce(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    (void)args;
    /* Nodes are in topological order, so one backward sweep sees every user
     * of a value before its producer and removes a whole dead chain; use
     * counts are taken once and lowered as nodes die (linear time). */
    int *uses = bnn_graph_use_counts(g);
    if (!uses)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        bnn_node *n = bnn_graph_node(g, i);
        if (n->dead)
            continue;
        bool used = false;
        for (int k = 0; k < n->n_outputs && !used; k++)
            used = uses[n->outputs[k]] > 0;
        if (!used) {
            n->dead = true;
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k] >= 0)
                    uses[n->inputs[k]]--;
        }
    }
    free(uses);
    if (bnn_graph_compact(g) != BNN_OK)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

const bnn_pass_def bnn_pass_dce = {
    .info = {"dce", "remove nodes whose results are unused, then unused params", NULL, 0},
    .check = NULL,
    .run = run_dce,
};
