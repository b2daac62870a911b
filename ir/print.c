/* The IR text printer. (stub) */
#include "bnn_ir.h"

bnn_status bnn_graph_print(const bnn_graph *graph, FILE *out)
{
    fprintf(out, "graph @%s\n", graph->name);
    return BNN_OK;
}
