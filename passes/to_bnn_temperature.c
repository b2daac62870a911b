/* Temperature of a classifier's predictive: one `mul` node, named
 * "bnnc.temperature", that multiplies the logits by 1/T before the model's
 * softmax (or at its logits output when it has none).  Written by `bnnc
 * calibrate` and by `bnnc train` when it holds out validation data, so the
 * fitted temperature travels inside the ONNX file and every consumer (run,
 * eval, export, the moment-propagation predictive) applies it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bnn_passes.h"
#include "passes_impl.h"

#define TEMPERATURE_NODE "bnnc.temperature"

/* The scale param of an existing temperature node, or -1. */
static int temperature_param(const bnn_graph *g, int *node_out)
{
    int id = bnn_graph_find_node(g, TEMPERATURE_NODE);
    if (id < 0)
        return -1;
    const bnn_node *n = bnn_graph_node(g, id);
    if (n->op != BNN_OP_MUL || n->n_inputs != 2 || !bnn_pass_is_f32_param(g, n->inputs[1]) ||
        bnn_graph_value(g, n->inputs[1])->nbytes != sizeof(float))
        return -1;
    *node_out = id;
    return n->inputs[1];
}

bnn_status bnn_graph_get_temperature(const bnn_graph *g, double *temperature)
{
    int node;
    int p = temperature_param(g, &node);
    *temperature = p < 0 ? 1.0 : 1.0 / (double)*(const float *)bnn_graph_value(g, p)->data;
    return BNN_OK;
}

bnn_status bnn_graph_set_temperature(bnn_graph *g, double temperature, bnn_diag *diag)
{
    if (!(temperature > 0) || !isfinite(temperature))
        return bnn_fail(diag, BNN_ERR_INVALID, "temperature %g: expected a finite T > 0",
                        temperature);
    float scale = (float)(1.0 / temperature);
    int node;
    int p = temperature_param(g, &node);
    if (p >= 0) {
        *(float *)bnn_graph_value(g, p)->data = scale;
        return BNN_OK;
    }
    if (g->n_outputs != 1)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "temperature: the model has %d outputs, expected one classifier output",
                        g->n_outputs);
    int out = g->outputs[0];
    const bnn_value *ov = bnn_graph_value(g, out);
    int target = out, consumer = -1;
    if (ov->kind == BNN_VALUE_NODE && ov->producer >= 0) {
        const bnn_node *pn = bnn_graph_node(g, ov->producer);
        if (pn->op == BNN_OP_SOFTMAX || pn->op == BNN_OP_LOG_SOFTMAX) {
            target = pn->inputs[0];
            consumer = ov->producer;
        }
    }
    const bnn_value *tv = bnn_graph_value(g, target);
    if (tv->dtype != BNN_F32 || tv->shape.rank != 2)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "temperature: '%s' is not f32 [batch, classes] logits", tv->name);
    bnn_shape scalar = {.rank = 0};
    int param = bnn_pass_add_param(g, "temperature_inv", &scalar, &scale, false);
    if (param < 0)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    char name[512];
    bnn_shape shape = bnn_graph_value(g, target)->shape;
    int scaled = bnn_graph_add_value(g, bnn_pass_unique_name(g, "logits_tempered", name,
                                                             sizeof name),
                                     BNN_F32, &shape);
    if (scaled < 0)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    int ins[2] = {target, param};
    int id = bnn_graph_add_node(g, BNN_OP_MUL, TEMPERATURE_NODE, ins, 2, &scaled, 1);
    if (id < 0)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    if (consumer >= 0) {
        bnn_graph_node(g, consumer)->inputs[0] = scaled;
    } else {
        /* The graph output keeps its name: the old value is renamed. */
        bnn_value *old = bnn_graph_value(g, target), *nv = bnn_graph_value(g, scaled);
        const char *keep = old->name;
        char renamed[512];
        snprintf(name, sizeof name, "%s_untempered", keep);
        old->name = bnn_arena_strdup(g->arena,
                                     bnn_pass_unique_name(g, name, renamed, sizeof renamed));
        nv->name = keep;
        if (!old->name)
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        bnn_graph_names_changed(g);
        g->outputs[0] = scaled;
    }
    BNN_TRY(bnn_graph_sort(g, diag));
    BNN_TRY(bnn_graph_infer(g, diag));
    return bnn_graph_verify(g, diag);
}
