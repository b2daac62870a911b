/* Shape arithmetic helpers shared by the lowerings: folded contents become
 * constants of the element type the model computes them in (int64, or int32
 * for paddle2onnx's casts), and dead shape nodes are dropped after the walk.
 */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "onnx_impl.h"

bnn_dtype onnx_known_dtype(onnx_ctx *c, int id)
{
    return id >= 0 && onnx_val(c, id)->dtype == BNN_I32 ? BNN_I32 : BNN_I64;
}

bnn_status onnx_known_param(onnx_ctx *c, bnn_dtype dtype, int rank, const int64_t *v, int n)
{
    BNN_ASSERT(n >= 0 && n <= ONNX_KNOWN_MAX && (rank == 0 || rank == 1));
    bnn_shape s = { .rank = rank, .dims = { n } };
    if (dtype == BNN_I64)
        return onnx_output_param(c, 0, BNN_I64, &s, v, sizeof(int64_t) * (size_t)n);
    BNN_ASSERT(dtype == BNN_I32);
    int32_t w[ONNX_KNOWN_MAX];
    for (int i = 0; i < n; i++)
        w[i] = (int32_t)v[i];
    return onnx_output_param(c, 0, BNN_I32, &s, w, sizeof(int32_t) * (size_t)n);
}

static bool is_index_type(bnn_dtype t)
{
    return t == BNN_I64 || t == BNN_I32 || t == BNN_BOOL;
}

/* A node whose every output is integer or boolean and read by nothing is
 * shape arithmetic that folded into attributes: it goes, and so does what
 * fed only it (walking backwards sees the consumers first). */
bnn_status onnx_drop_dead_shape_nodes(bnn_graph *g)
{
    int *uses = bnn_graph_use_counts(g); /* lowered as nodes die: linear time */
    if (!uses)
        return BNN_ERR_NOMEM;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        bnn_node *n = bnn_graph_node(g, i);
        if (n->dead)
            continue;
        bool dead = true;
        for (int k = 0; k < n->n_outputs && dead; k++) {
            int o = n->outputs[k];
            dead = o < 0 || (is_index_type(bnn_graph_value(g, o)->dtype) && uses[o] == 0);
        }
        if (!dead)
            continue;
        n->dead = true;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                uses[n->inputs[k]]--;
    }
    free(uses);
    return BNN_OK;
}
