/* Activations fused into the convolution before them, for inference plans
 * (issue 14): a Relu, Clip (constant bounds), LeakyRelu or HardSwish, or the
 * HardSigmoid-and-Mul pair that exporters write for HardSwish
 * (x * HardSigmoid(x)), whose input is an f32 conv's output that nothing
 * else reads (nor is a graph output).  The conv node of the session's clone
 * gets the activation as attributes (bnn_fused_act, bnn_fused_a/_b: the
 * epilogue of runtime/kernels/conv.c, which computes it with the standalone
 * kernels' float operations, so the outputs are the same bits); the fused
 * nodes get bnn_fused_into and the planner treats them as aliases of the
 * conv's output: their forward is skipped and their output shares its
 * bytes.  One pass over the activations less per fused node. */
#include <math.h>
#include <stdlib.h>

#include "plan_impl.h"

#include "conv_impl.h"

/* The scalar f32 param behind an optional input, or false. */
static bool const_scalar(const bnn_graph *g, int v, float *out)
{
    if (v < 0 || v >= g->n_values)
        return false;
    const bnn_value *val = &g->values[v];
    if (val->kind != BNN_VALUE_PARAM || val->dtype != BNN_F32 || !val->data ||
        bnn_shape_numel(&val->shape) != 1)
        return false;
    *out = *(const float *)val->data;
    return true;
}

/* The conv producing value v, alone and f32, or -1. */
static int conv_producer(const bnn_graph *g, int v)
{
    if (v < 0 || v >= g->n_values || g->values[v].kind != BNN_VALUE_NODE ||
        g->values[v].dtype != BNN_F32)
        return -1;
    int p = g->values[v].producer;
    if (p < 0 || g->nodes[p].dead || g->nodes[p].op != BNN_OP_CONV || g->nodes[p].n_outputs != 1 ||
        bnn_node_attr(&g->nodes[p], "bnn_fused_act"))
        return -1;
    return p;
}

static bool same_size(const bnn_graph *g, int a, int b)
{
    return g->values[a].dtype == g->values[b].dtype &&
           bnn_shape_numel(&g->values[a].shape) == bnn_shape_numel(&g->values[b].shape);
}

static bnn_status fuse(bnn_graph *g, int conv, int kind, float a, float b, const int *nodes,
                       int n_nodes)
{
    BNN_TRY(bnn_node_set_int(g, conv, "bnn_fused_act", kind));
    BNN_TRY(bnn_node_set_float(g, conv, "bnn_fused_a", a));
    BNN_TRY(bnn_node_set_float(g, conv, "bnn_fused_b", b));
    for (int i = 0; i < n_nodes; i++)
        BNN_TRY(bnn_node_set_int(g, nodes[i], "bnn_fused_into", conv));
    return BNN_OK;
}

bnn_status plan_fuse_epilogues(bnn_graph *g)
{
    int *uses = bnn_graph_use_counts(g);
    if (!uses)
        return BNN_ERR_NOMEM;
    bnn_status st = BNN_OK;
    for (int id = 0; id < g->n_nodes && st == BNN_OK; id++) {
        const bnn_node *node = &g->nodes[id];
        if (node->dead || node->n_inputs < 1 || node->n_outputs != 1 || node->outputs[0] < 0)
            continue;
        int in = node->inputs[0], out = node->outputs[0];
        if (node->op == BNN_OP_MUL && node->n_inputs == 2) {
            /* x * HardSigmoid(x): the Mul alone reads the HardSigmoid's
             * output, and the two alone read x */
            for (int k = 0; k < 2; k++) {
                int x = node->inputs[k], h = node->inputs[1 - k];
                if (h < 0 || x < 0 || g->values[h].kind != BNN_VALUE_NODE || uses[h] != 1 ||
                    uses[x] != 2 || conv_producer(g, x) < 0 || !same_size(g, x, out) ||
                    !same_size(g, x, h))
                    continue;
                int hs = g->values[h].producer;
                const bnn_node *hn = &g->nodes[hs];
                if (hn->dead || hn->op != BNN_OP_HARD_SIGMOID || hn->n_inputs != 1 ||
                    hn->inputs[0] != x)
                    continue;
                int both[2] = {hs, id};
                st = fuse(g, conv_producer(g, x), CONV_ACT_HSIG_MUL,
                          bnn_node_float(hn, "alpha", 0.2f), bnn_node_float(hn, "beta", 0.5f), both,
                          2);
                break;
            }
            continue;
        }
        int conv = conv_producer(g, in);
        if (conv < 0 || !same_size(g, in, out))
            continue;
        float lo = -INFINITY, hi = INFINITY;
        switch (node->op) {
        case BNN_OP_RELU:
            if (uses[in] == 1)
                st = fuse(g, conv, CONV_ACT_RELU, 0, 0, &id, 1);
            break;
        case BNN_OP_LEAKY_RELU:
            if (uses[in] == 1)
                st = fuse(g, conv, CONV_ACT_LEAKY, bnn_node_float(node, "alpha", 0.01f), 0, &id, 1);
            break;
        case BNN_OP_HARD_SWISH:
            if (uses[in] == 1)
                st = fuse(g, conv, CONV_ACT_HARDSWISH, 0, 0, &id, 1);
            break;
        case BNN_OP_CLIP: {
            const bnn_attr *amin = bnn_node_attr(node, "min"), *amax = bnn_node_attr(node, "max");
            if (amin)
                lo = amin->f;
            if (amax)
                hi = amax->f;
            bool ok = uses[in] == 1;
            if (node->n_inputs > 1 && node->inputs[1] >= 0)
                ok = ok && const_scalar(g, node->inputs[1], &lo);
            if (node->n_inputs > 2 && node->inputs[2] >= 0)
                ok = ok && const_scalar(g, node->inputs[2], &hi);
            if (ok)
                st = fuse(g, conv, CONV_ACT_CLIP, lo, hi, &id, 1);
            break;
        }
        default: break;
        }
    }
    free(uses);
    return st;
}
