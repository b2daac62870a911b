/* The verifier. (stub) */
#include "bnn_ir.h"

bnn_status bnn_graph_verify(const bnn_graph *graph, bnn_diag *diag)
{
    (void)graph;
    (void)diag;
    return BNN_OK;
}
