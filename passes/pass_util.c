/* Helpers the passes share: param creation with fresh names, bypassing a
 * pass-through node, dropping a Bayesian layer's prior attributes, and
 * init=random's generator. */
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

bnn_status bnn_pass_drop_prior_attrs(bnn_graph *g, int node_id)
{
    bnn_node *m = bnn_graph_node(g, node_id);
    int n_attrs = m->n_attrs;
    bnn_attr *attrs = m->attrs; /* arena memory: stays valid */
    m->n_attrs = 0;
    m->attrs = NULL;
    for (int i = 0; i < n_attrs; i++) {
        const bnn_attr *a = &attrs[i];
        if (strcmp(a->name, "prior_mu") == 0 || strcmp(a->name, "prior_sigma") == 0 ||
            strcmp(a->name, "estimator") == 0)
            continue;
        bnn_status st = BNN_OK;
        switch (a->kind) {
        case BNN_ATTR_INT: st = bnn_node_set_int(g, node_id, a->name, a->i); break;
        case BNN_ATTR_FLOAT: st = bnn_node_set_float(g, node_id, a->name, a->f); break;
        case BNN_ATTR_STRING: st = bnn_node_set_string(g, node_id, a->name, a->s); break;
        case BNN_ATTR_INTS: st = bnn_node_set_ints(g, node_id, a->name, a->ints, a->count); break;
        case BNN_ATTR_FLOATS:
            st = bnn_node_set_floats(g, node_id, a->name, a->floats, a->count);
            break;
        }
        BNN_TRY(st);
    }
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
