/* fold-batchnorm: a batch_norm (inference form) right after a conv or dense
 * layer with constant weights folds into that layer's weights and bias:
 *
 *     k[c] = scale[c] / sqrt(var[c] + epsilon)
 *     w'[c, ...] = w[c, ...] * k[c]
 *     b'[c] = (b[c] - mean[c]) * k[c] + bias[c]        (b = 0 when absent)
 *
 * computed in double and rounded once to f32.  The layer must be the
 * batch_norm's only reader's producer (its result used by nothing else), the
 * channel axis must be the layer's output channels (axis 1: any conv, a dense
 * with a 2-D result), and every statistic a constant f32 param of C elements.
 * The layer takes over the batch_norm's result value, so its name survives.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

static bool stat_fits(const bnn_graph *g, int id, int64_t c)
{
    return bnn_pass_is_f32_param(g, id) && bnn_shape_numel(&bnn_graph_value(g, id)->shape) == c;
}

/* Writes data (shape) into param id in place when the layer is its only user,
 * else into a new param named base (trainable as the layer's weight).
 * Returns the id or -1. */
static int store(bnn_graph *g, int id, const char *base, const bnn_shape *shape, const float *data,
                 bool trainable)
{
    if (id >= 0 && bnn_graph_use_count(g, id) == 1) {
        bnn_value *v = bnn_graph_value(g, id);
        memcpy(v->data, data, v->nbytes);
        return id;
    }
    return bnn_pass_add_param(g, base, shape, data, trainable);
}

static bnn_status fold(bnn_graph *g, int bn_id, bool *folded)
{
    const bnn_node *bn = bnn_graph_node(g, bn_id);
    int x = bn->inputs[0];
    const bnn_value *xv = bnn_graph_value(g, x);
    if (xv->kind != BNN_VALUE_NODE || bnn_graph_use_count(g, x) != 1 ||
        bnn_pass_is_graph_output(g, x))
        return BNN_OK;
    int layer = xv->producer;
    const bnn_node *ln = bnn_graph_node(g, layer);
    bool is_conv = ln->op == BNN_OP_CONV;
    if (ln->dead || !(is_conv || ln->op == BNN_OP_DENSE))
        return BNN_OK;
    if (!is_conv && xv->shape.rank != 2)
        return BNN_OK;
    int w_id = ln->inputs[1];
    int b_id = ln->n_inputs > 2 ? ln->inputs[2] : -1;
    if (!bnn_pass_is_f32_param(g, w_id) || (b_id >= 0 && !bnn_pass_is_f32_param(g, b_id)))
        return BNN_OK;
    const bnn_value *wv = bnn_graph_value(g, w_id);
    if (wv->shape.rank < 2)
        return BNN_OK;
    int64_t channels = wv->shape.dims[0];
    if (b_id >= 0 && bnn_shape_numel(&bnn_graph_value(g, b_id)->shape) != channels)
        return BNN_OK;
    for (int k = 1; k < 5; k++)
        if (!stat_fits(g, bn->inputs[k], channels))
            return BNN_OK;

    double eps = bnn_node_float(bn, "epsilon", 1e-5f);
    const float *scale = bnn_graph_value(g, bn->inputs[1])->data;
    const float *shift = bnn_graph_value(g, bn->inputs[2])->data;
    const float *mean = bnn_graph_value(g, bn->inputs[3])->data;
    const float *var = bnn_graph_value(g, bn->inputs[4])->data;
    const float *w = wv->data;
    const float *b = b_id >= 0 ? bnn_graph_value(g, b_id)->data : NULL;
    int64_t per_channel = bnn_shape_numel(&wv->shape) / channels;
    float *nw = malloc(wv->nbytes + 1);
    float *nb = malloc(sizeof(float) * (size_t)channels + 1);
    if (!nw || !nb) {
        free(nw);
        free(nb);
        return BNN_ERR_NOMEM;
    }
    for (int64_t c = 0; c < channels; c++) {
        double k = (double)scale[c] / sqrt((double)var[c] + eps);
        for (int64_t i = 0; i < per_channel; i++)
            nw[c * per_channel + i] = (float)((double)w[c * per_channel + i] * k);
        nb[c] = (float)(((b ? (double)b[c] : 0.0) - (double)mean[c]) * k + (double)shift[c]);
    }

    /* Names for new params: the weight's own, and "<layer>.bias" next to a
     * weight called "<layer>.weight". */
    char w_base[512], b_base[512];
    snprintf(w_base, sizeof w_base, "%s", wv->name);
    size_t len = strlen(w_base);
    if (b_id >= 0)
        snprintf(b_base, sizeof b_base, "%s", bnn_graph_value(g, b_id)->name);
    else if (len > 7 && strcmp(w_base + len - 7, ".weight") == 0)
        snprintf(b_base, sizeof b_base, "%.*s.bias", (int)(len - 7), w_base);
    else
        snprintf(b_base, sizeof b_base, "%s.bias", *ln->name ? ln->name : w_base);
    bnn_shape w_shape = wv->shape;
    bnn_shape b_shape = {.rank = 1, .dims = {channels}};
    bool trainable = wv->trainable;
    int new_w = store(g, w_id, w_base, &w_shape, nw, trainable);
    int new_b = new_w >= 0 ? store(g, b_id, b_base, &b_shape, nb, trainable) : -1;
    free(nw);
    free(nb);
    if (new_w < 0 || new_b < 0)
        return BNN_ERR_NOMEM;
    if (b_id < 0)
        BNN_TRY(bnn_pass_resize_inputs(g, layer, 3));
    bnn_node *l = bnn_graph_node(g, layer);
    l->inputs[1] = new_w;
    l->inputs[2] = new_b;
    bnn_node *bnode = bnn_graph_node(g, bn_id);
    int y = bnode->outputs[0];
    bnode->dead = true;
    l->outputs[0] = y;
    g->values[y].producer = layer;
    g->values[x].producer = -1;
    *folded = true;
    return BNN_OK;
}

static bnn_status run_fold_batchnorm(bnn_graph *g, const bnn_pass_args *args, bnn_diag *diag)
{
    (void)args;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead || g->nodes[i].op != BNN_OP_BATCH_NORM)
            continue;
        bool folded = false;
        if (fold(g, i, &folded) != BNN_OK) {
            char label[300];
            return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory",
                            bnn_node_label(g, i, label, sizeof label));
        }
    }
    return BNN_OK;
}

const bnn_pass_def bnn_pass_fold_batchnorm = {
    .info = {"fold-batchnorm",
             "fold a batch_norm that follows a conv or dense layer into its weights and bias",
             NULL, 0},
    .check = NULL,
    .run = run_fold_batchnorm,
};
