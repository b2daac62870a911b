/* Shape inference: one bnn_infer_<stem> per op row of ops.def. (stub) */
#include "bnn_ir.h"

bnn_status bnn_graph_infer_node(bnn_graph *graph, int node_id, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: shape inference not written yet",
                    bnn_node_label(graph, node_id, label, sizeof label));
}

bnn_status bnn_graph_infer(bnn_graph *graph, bnn_diag *diag)
{
    for (int i = 0; i < graph->n_nodes; i++)
        if (!graph->nodes[i].dead)
            BNN_TRY(bnn_graph_infer_node(graph, i, diag));
    return BNN_OK;
}
