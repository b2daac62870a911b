/* The trainer: forward, loss, backward sweep, KL, optimizer step.
 *
 * A trainer keeps up to two training sessions (the planned batch and one
 * smaller final batch), both reading the caller's graph params in place, and
 * adds to each what backward needs: a gradient buffer for every value on a
 * path from a trainable param to the output (one arena, no reuse), and the
 * per-node gradient operands the kernels' backward takes.  Trainable params'
 * gradients live in one flat buffer whose layout the optimizer shares.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "bnn_train.h"
#include "plan_impl.h"

typedef struct train_plan {
    bnn_session *session;      /* owned */
    int64_t batch;
    bnn_tensor *grads;         /* owned, per value id: data NULL where none is wanted */
    unsigned char *grad_arena; /* owned, 64-byte aligned */
    size_t grad_bytes;
    bnn_tensor *node_grads;    /* owned: grad_outputs then grad_inputs of every position */
    bnn_kernel_grads *kernel_grads; /* owned, per position */
    bool *wants_backward;      /* owned, per position: some input wants a gradient */
} train_plan;

struct bnn_trainer {
    bnn_graph *graph;          /* not owned; its params are trained in place */
    bnn_train_options options;
    int input, output;         /* value ids */
    train_plan plans[2];       /* [0] the planned batch, [1] a smaller final batch */
    bool *needs_grad;          /* owned, per value id */
    size_t *grad_offset;       /* owned, per value id: into param_grads (trainable only) */
    float *param_grads;        /* owned, flat over trainable params */
    size_t n_trainable;        /* floats */
    bnn_optimizer *optimizer;  /* owned */
    uint64_t steps;
};

static void *alloc64(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

static void plan_free(train_plan *p)
{
    bnn_session_destroy(p->session);
    free(p->grads);
    free(p->grad_arena);
    free(p->node_grads);
    free(p->kernel_grads);
    free(p->wants_backward);
    memset(p, 0, sizeof *p);
}

/* Which values need a gradient: trainable params, and whatever a node computes
 * from a value that does (graph order is topological). */
static void mark_needs_grad(const bnn_graph *g, bool *needs)
{
    for (int v = 0; v < g->n_values; v++)
        needs[v] = g->values[v].kind == BNN_VALUE_PARAM && g->values[v].trainable &&
                   g->values[v].dtype == BNN_F32;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool any = false;
        for (int k = 0; k < n->n_inputs; k++)
            any |= n->inputs[k] >= 0 && needs[n->inputs[k]];
        for (int k = 0; k < n->n_outputs; k++)
            needs[n->outputs[k]] = any && g->values[n->outputs[k]].dtype == BNN_F32;
    }
}

static bnn_status plan_create(bnn_trainer *t, train_plan *p, int64_t batch, bnn_diag *diag)
{
    memset(p, 0, sizeof *p);
    bnn_session_options so = bnn_session_defaults();
    so.training = true;
    so.seed = t->options.seed;
    so.threads = t->options.threads;
    BNN_TRY(bnn_session_create_batch(t->graph, batch, &so, &p->session, diag));
    p->batch = batch;
    bnn_session *s = p->session;
    const bnn_graph *g = s->graph;
    p->grads = calloc((size_t)g->n_values + 1, sizeof *p->grads);
    p->wants_backward = calloc((size_t)s->n_order + 1, sizeof(bool));
    p->kernel_grads = calloc((size_t)s->n_order + 1, sizeof *p->kernel_grads);
    int n_operands = 0;
    for (int k = 0; k < s->n_order; k++)
        n_operands += s->node_args[k].n_inputs + s->node_args[k].n_outputs;
    p->node_grads = calloc((size_t)n_operands + 1, sizeof *p->node_grads);
    if (!p->grads || !p->wants_backward || !p->kernel_grads || !p->node_grads)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning backward");

    /* Activation gradients: one slice each, no reuse (training keeps every
     * activation anyway, and gradients are few beside them). */
    size_t bytes = 0;
    for (int v = 0; v < g->n_values; v++)
        if (t->needs_grad[v] && g->values[v].kind != BNN_VALUE_PARAM)
            bytes += (s->tensors[v].shape.rank >= 0 ? (bnn_tensor_nbytes(&s->tensors[v]) + 63) & ~(size_t)63 : 0);
    p->grad_arena = alloc64(bytes);
    if (!p->grad_arena)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %zu bytes of gradients", bytes);
    p->grad_bytes = bytes;
    size_t at = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (!t->needs_grad[v])
            continue;
        p->grads[v].dtype = BNN_F32;
        p->grads[v].shape = s->tensors[v].shape;
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            p->grads[v].data = t->param_grads + t->grad_offset[v];
        } else {
            p->grads[v].data = p->grad_arena + at;
            at += (bnn_tensor_nbytes(&s->tensors[v]) + 63) & ~(size_t)63;
        }
    }

    int o = 0;
    for (int k = 0; k < s->n_order; k++) {
        const bnn_kernel_args *a = &s->node_args[k];
        const bnn_node *node = a->node;
        bnn_kernel_grads *kg = &p->kernel_grads[k];
        kg->grad_outputs = &p->node_grads[o];
        for (int i = 0; i < node->n_outputs; i++, o++)
            p->node_grads[o] = p->grads[node->outputs[i]];
        kg->grad_inputs = &p->node_grads[o];
        bool any = false;
        for (int i = 0; i < node->n_inputs; i++, o++) {
            int v = node->inputs[i];
            if (v >= 0 && t->needs_grad[v]) {
                p->node_grads[o] = p->grads[v];
                any = true;
            }
        }
        p->wants_backward[k] = any;
        if (any && !s->kernels[k]->backward) {
            char label[300];
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: no gradient for this op, so it "
                            "cannot lie between a trainable layer and the loss",
                            bnn_node_label(g, a->node_id, label, sizeof label));
        }
    }
    return BNN_OK;
}

bnn_status bnn_trainer_create(bnn_graph *graph, const bnn_train_options *options,
                              bnn_trainer **out, bnn_diag *diag)
{
    *out = NULL;
    if (graph->n_inputs != 1 || graph->n_outputs != 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "training needs a model with one input and one output (this one has "
                        "%d and %d)", graph->n_inputs, graph->n_outputs);
    if (options->batch < 1)
        return bnn_fail(diag, BNN_ERR_INVALID, "batch size must be at least 1");
    bnn_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    t->graph = graph;
    t->options = *options;
    t->input = graph->inputs[0];
    t->output = graph->outputs[0];
    t->needs_grad = calloc((size_t)graph->n_values + 1, sizeof(bool));
    t->grad_offset = calloc((size_t)graph->n_values + 1, sizeof(size_t));
    bnn_status st = BNN_OK;
    if (!t->needs_grad || !t->grad_offset) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    mark_needs_grad(graph, t->needs_grad);
    for (int v = 0; v < graph->n_values; v++) {
        const bnn_value *val = &graph->values[v];
        if (val->kind == BNN_VALUE_PARAM && t->needs_grad[v]) {
            t->grad_offset[v] = t->n_trainable;
            t->n_trainable += val->nbytes / sizeof(float);
        }
    }
    if (t->n_trainable == 0) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "the model has no trainable f32 parameters");
        goto fail;
    }
    if (!t->needs_grad[t->output]) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "the output '%s' does not depend on any trainable "
                      "parameter", graph->values[t->output].name);
        goto fail;
    }
    t->param_grads = alloc64(t->n_trainable * sizeof(float));
    if (!t->param_grads) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %zu gradients", t->n_trainable);
        goto fail;
    }
    st = bnn_optimizer_create(&options->optimizer, t->n_trainable, &t->optimizer, diag);
    if (st == BNN_OK)
        st = plan_create(t, &t->plans[0], options->batch, diag);
    if (st != BNN_OK)
        goto fail;
    *out = t;
    return BNN_OK;
fail:
    bnn_trainer_destroy(t);
    return st;
}

void bnn_trainer_destroy(bnn_trainer *t)
{
    if (!t)
        return;
    plan_free(&t->plans[0]);
    plan_free(&t->plans[1]);
    free(t->needs_grad);
    free(t->grad_offset);
    free(t->param_grads);
    bnn_optimizer_destroy(t->optimizer);
    free(t);
}

bnn_optimizer *bnn_trainer_optimizer(bnn_trainer *t) { return t->optimizer; }
uint64_t bnn_trainer_steps(const bnn_trainer *t) { return t->steps; }
void bnn_trainer_set_steps(bnn_trainer *t, uint64_t steps) { t->steps = steps; }

/* The plan for a batch of b rows: the planned one, or the final-batch one
 * (made on first use, remade if a different size comes). */
static bnn_status plan_for(bnn_trainer *t, int64_t b, train_plan **out, bnn_diag *diag)
{
    if (b == t->plans[0].batch) {
        *out = &t->plans[0];
        return BNN_OK;
    }
    if (b < 1 || b > t->plans[0].batch)
        return bnn_fail(diag, BNN_ERR_SHAPE, "batch of %lld rows; the trainer takes 1 to %lld",
                        (long long)b, (long long)t->plans[0].batch);
    if (t->plans[1].batch != b) {
        plan_free(&t->plans[1]);
        BNN_TRY(plan_create(t, &t->plans[1], b, diag));
    }
    *out = &t->plans[1];
    return BNN_OK;
}

/* The KL of every Bayesian layer, and (when grads) its gradient times scale
 * added to the param gradients. */
static double add_kl(bnn_trainer *t, double scale, bool grads)
{
    const bnn_graph *g = t->graph;
    double kl = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead || !bnn_op_is_bayesian(n->op))
            continue;
        float prior_mu = bnn_node_float(n, "prior_mu", 0.0f);
        float prior_sigma = bnn_node_float(n, "prior_sigma", 0.1f);
        for (int k = 1; k + 1 < n->n_inputs; k += 2) {
            int mu = n->inputs[k], rho = n->inputs[k + 1];
            if (mu < 0 || rho < 0)
                continue;
            const bnn_value *vm = &g->values[mu], *vr = &g->values[rho];
            size_t count = vm->nbytes / sizeof(float);
            kl += bnn_gaussian_kl(vm->data, vr->data, count, prior_mu, prior_sigma);
            if (grads && t->needs_grad[mu] && t->needs_grad[rho])
                bnn_gaussian_kl_backward(vm->data, vr->data, count, prior_mu, prior_sigma,
                                         (float)scale, t->param_grads + t->grad_offset[mu],
                                         t->param_grads + t->grad_offset[rho]);
        }
    }
    return kl;
}

bnn_status bnn_trainer_step(bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y,
                            bnn_step_result *result, bnn_diag *diag)
{
    memset(result, 0, sizeof *result);
    if (x->shape.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "a batch needs a first (row) dimension");
    int64_t b = x->shape.dims[0];
    train_plan *p = NULL;
    BNN_TRY(plan_for(t, b, &p, diag));
    bnn_session *s = p->session;
    BNN_TRY(bnn_session_set_input(s, NULL, x, diag));
    s->step = t->steps; /* the random draws follow the global step, whatever the plan */
    BNN_TRY(bnn_session_run(s, diag));

    memset(p->grad_arena, 0, p->grad_bytes);
    memset(t->param_grads, 0, t->n_trainable * sizeof(float));
    const bnn_tensor *out = bnn_session_output(s, 0);
    float *out_grad = p->grads[t->output].data;
    const bnn_train_options *o = &t->options;
    if (o->loss == BNN_LOSS_CROSS_ENTROPY) {
        if (out->shape.rank != 2 || out->shape.dims[0] != b)
            return bnn_fail(diag, BNN_ERR_SHAPE, "cross-entropy needs [batch, classes] logits; "
                            "the output '%s' has rank %d", t->graph->values[t->output].name,
                            out->shape.rank);
        if (y->dtype != BNN_I64 || y->shape.rank != 1 || y->shape.dims[0] != b)
            return bnn_fail(diag, BNN_ERR_SHAPE, "cross-entropy needs i64 labels [%lld]",
                            (long long)b);
        int64_t k = out->shape.dims[1];
        BNN_TRY(bnn_softmax_cross_entropy(out->data, y->data, b, k, (float)o->dnn_factor,
                                          &result->data_loss, out_grad, diag));
        const float *logits = out->data;
        const int64_t *labels = y->data;
        for (int64_t i = 0; i < b; i++) {
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                if (logits[i * k + j] > logits[i * k + best])
                    best = j;
            result->correct += best == labels[i];
        }
    } else {
        if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != bnn_tensor_numel(out))
            return bnn_fail(diag, BNN_ERR_SHAPE, "mean squared error needs f32 targets with "
                            "the output's %lld elements", (long long)bnn_tensor_numel(out));
        int64_t n = bnn_tensor_numel(out);
        bnn_mse(out->data, y->data, 1, n, (float)o->dnn_factor, &result->data_loss, out_grad);
    }
    result->count = b;

    for (int k = s->n_order - 1; k >= 0; k--) {
        if (!p->wants_backward[k] || s->skip[k])
            continue;
        BNN_TRY(s->kernels[k]->backward(&s->node_args[k], &p->kernel_grads[k], diag));
    }
    result->kl = add_kl(t, o->bnn_factor, true);
    result->loss = o->dnn_factor * result->data_loss + o->bnn_factor * result->kl;
    if (!isfinite(result->loss))
        return bnn_fail(diag, BNN_ERR_NUMERIC, "the loss is %s at step %llu (data loss %g, KL %g)",
                        isnan(result->loss) ? "NaN" : "infinite", (unsigned long long)t->steps,
                        result->data_loss, result->kl);

    bnn_optimizer_begin_step(t->optimizer);
    for (int v = 0; v < t->graph->n_values; v++) {
        bnn_value *val = &t->graph->values[v];
        if (val->kind == BNN_VALUE_PARAM && t->needs_grad[v])
            bnn_optimizer_update(t->optimizer, t->grad_offset[v], val->data,
                                 t->param_grads + t->grad_offset[v], val->nbytes / sizeof(float));
    }
    t->steps++;
    return BNN_OK;
}

/* splitmix64: a small, well-mixed hash for the shuffle. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bnn_shuffle_indices(int64_t *idx, int64_t n, uint64_t seed, uint64_t epoch)
{
    uint64_t state = seed * 0x100000001b3ull ^ (epoch + 1) * 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* Lemire's multiply-shift maps 64 random bits onto [0, i]. */
        int64_t j = (int64_t)(((unsigned __int128)splitmix64(&state) * (uint64_t)(i + 1)) >> 64);
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
