/* bnn-to-mean: replace each Bayesian layer by its deterministic layer with the
 * posterior means as weights, giving an ordinary model that computes the
 * network at w = mu.
 *
 *   bnn.dense_reparam(x, Wmu, Wrho[, bmu, brho]) -> dense(x, W[, b])
 *   bnn.conv_reparam(...)                        -> conv1d or conv2d (by the
 *                                                   weight's rank), keeping
 *                                                   strides/pads/dilations/group
 *   bnn.conv_transpose_reparam(...)              -> conv_transpose, likewise
 *   bnn.weight_reparam(mu, rho)                  -> gone: its readers (an
 *                                                   lstm's W, ...) read mu
 *
 * A mu param read only by this layer is renamed in place ("fc1.weight_mu" ->
 * "fc1.weight", when that name is free) and made constant; a shared one is
 * copied.  The rho params are left for dce.
 */
#include <string.h>

#include "passes_impl.h"

/* The mu param as the deterministic weight: renamed in place when only this
 * node reads it, else copied. Returns the value id or -1. */
static int mean_param(bnn_graph *g, int mu)
{
    bnn_value *v = bnn_graph_value(g, mu);
    char base[512], name[512];
    size_t len = strlen(v->name);
    if (len > 3 && strcmp(v->name + len - 3, "_mu") == 0)
        snprintf(base, sizeof base, "%.*s", (int)(len - 3), v->name);
    else
        snprintf(base, sizeof base, "%s.mean", v->name);
    if (v->kind == BNN_VALUE_PARAM && bnn_graph_use_count(g, mu) == 1) {
        const char *fresh = bnn_arena_strdup(g->arena, bnn_pass_unique_name(g, base, name,
                                                                            sizeof name));
        if (!fresh)
            return -1;
        v->name = fresh;
        bnn_graph_names_changed(g);
        v->trainable = false;
        return mu;
    }
    if (!bnn_pass_is_f32_param(g, mu))
        return mu; /* computed by the graph: use the value as it is */
    bnn_shape shape = v->shape;
    return bnn_pass_add_param(g, base, &shape, v->data, false);
}

static bnn_status to_mean(bnn_graph *g, int node_id)
{
    const bnn_node *n = bnn_graph_node(g, node_id);
    if (n->op == BNN_OP_WEIGHT_REPARAM) {
        int out = n->outputs[0];
        if (bnn_pass_is_graph_output(g, out)) { /* keep the name: an identity of mu */
            int w = mean_param(g, n->inputs[0]);
            if (w < 0)
                return BNN_ERR_NOMEM;
            bnn_node *m = bnn_graph_node(g, node_id);
            m->op = BNN_OP_IDENTITY;
            BNN_TRY(bnn_pass_drop_prior_attrs(g, node_id));
            BNN_TRY(bnn_pass_resize_inputs(g, node_id, 1));
            bnn_graph_node(g, node_id)->inputs[0] = w;
            return BNN_OK;
        }
        int w = mean_param(g, n->inputs[0]); /* renamed in place when we alone read it */
        if (w < 0)
            return BNN_ERR_NOMEM;
        bnn_graph_node(g, node_id)->dead = true;
        bnn_graph_replace_uses(g, out, w);
        return BNN_OK;
    }
    bool has_bias = n->n_inputs > 3 && n->inputs[3] >= 0;
    int x = n->inputs[0], wmu = n->inputs[1], bmu = has_bias ? n->inputs[3] : -1;
    int w = mean_param(g, wmu);
    int b = has_bias ? mean_param(g, bmu) : -1;
    if (w < 0 || (has_bias && b < 0))
        return BNN_ERR_NOMEM;
    bnn_node *m = bnn_graph_node(g, node_id);
    m->op = bnn_op_get(m->op)->pair;
    BNN_TRY(bnn_pass_drop_prior_attrs(g, node_id));
    BNN_TRY(bnn_pass_resize_inputs(g, node_id, has_bias ? 3 : 2));
    m = bnn_graph_node(g, node_id);
    m->inputs[0] = x;
    m->inputs[1] = w;
    if (has_bias)
        m->inputs[2] = b;
    return BNN_OK;
}

static bnn_status run_bnn_to_mean(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    (void)args;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead || !bnn_op_is_bayesian(g->nodes[i].op))
            continue;
        if (to_mean(g, i) != BNN_OK) {
            char label[300];
            return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory",
                            bnn_node_label(g, i, label, sizeof label));
        }
    }
    return BNN_OK;
}

const bnn_pass_def bnn_pass_bnn_to_mean = {
    .info = {"bnn-to-mean",
             "replace each Bayesian layer by its deterministic layer with mu as the weights",
             NULL, 0},
    .check = NULL,
    .run = run_bnn_to_mean,
};
