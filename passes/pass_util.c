/* Helpers the passes share: param creation with fresh names, bypassing a
 * pass-through node, dropping dead nodes, and init=random's generator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

bool bnn_pass_is_f32_param(const bnn_graph *g, int id)
{
    if (id < 0 || id >= g->n_values)
        return false;
    const bnn_value *v = bnn_graph_value(g, id);
    return v->kind == BNN_VALUE_PARAM && v->dtype == BNN_F32 && v->data &&
           bnn_shape_is_concrete(&v->shape) &&
           v->nbytes == (size_t)bnn_shape_numel(&v->shape) * sizeof(float);
}

bool bnn_pass_is_graph_output(const bnn_graph *g, int id)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == id)
            return true;
    return false;
}

const char *bnn_pass_unique_name(const bnn_graph *g, const char *base, char *buf, size_t n)
{
    snprintf(buf, n, "%s", base);
    for (int k = 2; bnn_graph_find_value(g, buf) >= 0; k++)
        snprintf(buf, n, "%s_%d", base, k);
    return buf;
}

int bnn_pass_add_param(bnn_graph *g, const char *base, const bnn_shape *shape, const float *data,
                       bool trainable)
{
    char name[512];
    int64_t numel = bnn_shape_numel(shape);
    BNN_ASSERT(numel >= 0);
    return bnn_graph_add_param(g, bnn_pass_unique_name(g, base, name, sizeof name), BNN_F32,
                               shape, data, (size_t)numel * sizeof(float), trainable);
}

bnn_status bnn_pass_resize_inputs(bnn_graph *g, int node_id, int n)
{
    int *inputs = bnn_arena_alloc(g->arena, sizeof(int) * (size_t)(n + 1), sizeof(int));
    if (!inputs)
        return BNN_ERR_NOMEM;
    bnn_node *node = bnn_graph_node(g, node_id);
    for (int i = 0; i < n; i++)
        inputs[i] = i < node->n_inputs ? node->inputs[i] : -1;
    node->inputs = inputs;
    node->n_inputs = n;
    return BNN_OK;
}

bool bnn_pass_bypass_node(bnn_graph *g, int node_id)
{
    bnn_node *node = bnn_graph_node(g, node_id);
    if (node->n_inputs < 1 || node->inputs[0] < 0 || node->n_outputs != 1)
        return false;
    int in = node->inputs[0], out = node->outputs[0];
    if (!bnn_pass_is_graph_output(g, out)) {
        node->dead = true;
        bnn_graph_replace_uses(g, out, in);
        return true;
    }
    /* The output is a graph output whose name must survive: let the input's
     * producer write it directly, when the input is an ordinary node value. */
    const bnn_value *v = bnn_graph_value(g, in);
    if (v->kind != BNN_VALUE_NODE || bnn_pass_is_graph_output(g, in))
        return false;
    int producer = v->producer;
    node->dead = true;
    bnn_graph_replace_uses(g, in, out);
    bnn_node *p = bnn_graph_node(g, producer);
    for (int k = 0; k < p->n_outputs; k++)
        if (p->outputs[k] == in)
            p->outputs[k] = out;
    g->values[out].producer = producer;
    g->values[in].producer = -1;
    return true;
}

bnn_status bnn_pass_drop_dead_nodes(bnn_graph *g)
{
    bool *keep = calloc((size_t)g->n_values + 1, sizeof(bool));
    int *value_map = malloc(sizeof(int) * ((size_t)g->n_values + 1));
    if (!keep || !value_map) {
        free(keep);
        free(value_map);
        return BNN_ERR_NOMEM;
    }
    /* A node value survives while a live node produces it or anything still
     * refers to it (then the verifier reports the dangling use). */
    for (int v = 0; v < g->n_values; v++)
        keep[v] = g->values[v].kind != BNN_VALUE_NODE;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_outputs; k++)
            keep[n->outputs[k]] = true;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                keep[n->inputs[k]] = true;
    }
    for (int i = 0; i < g->n_outputs; i++)
        keep[g->outputs[i]] = true;
    for (int i = 0; i < g->n_inputs; i++)
        keep[g->inputs[i]] = true;
    int nv = 0;
    for (int v = 0; v < g->n_values; v++) {
        value_map[v] = keep[v] ? nv : -1;
        if (keep[v])
            g->values[nv++] = g->values[v];
    }
    g->n_values = nv;
    for (int v = 0; v < nv; v++)
        g->values[v].producer = -1;
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        bnn_node *n = &g->nodes[nn];
        *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                n->inputs[k] = value_map[n->inputs[k]];
        for (int k = 0; k < n->n_outputs; k++) {
            n->outputs[k] = value_map[n->outputs[k]];
            g->values[n->outputs[k]].producer = nn;
        }
        nn++;
    }
    g->n_nodes = nn;
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = value_map[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = value_map[g->outputs[i]];
    free(keep);
    free(value_map);
    return BNN_OK;
}

/* ---- init=random's generator ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bnn_pass_rng_seed(bnn_pass_rng *rng, uint64_t seed, const char *stream_name)
{
    /* FNV-1a of the stream name, so that each param draws its own stream and
     * converting one more layer does not change the others' draws. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = stream_name; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    rng->state = seed ^ h;
    rng->has_spare = false;
    (void)splitmix64(&rng->state);
}

double bnn_pass_rng_normal(bnn_pass_rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = false;
        return rng->spare;
    }
    /* Uniforms in (0, 1]: 53 random bits, never 0, so the log is finite. */
    double u1 = ((double)(splitmix64(&rng->state) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = ((double)(splitmix64(&rng->state) >> 11) + 1.0) * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1));
    double t = 2.0 * M_PI * u2;
    rng->spare = r * sin(t);
    rng->has_spare = true;
    return r * cos(t);
}
