/* The trainer: forward, loss, backward sweep, KL, optimizer step.
 *
 * A trainer keeps up to two sessions planned for backward (the planned batch
 * and one smaller final batch), both reading the caller's graph params in
 * place.  The engine runs forward and backward and owns the gradients
 * (bnn_runtime.h); the trainer seeds the loss gradient, has the session
 * derive the reparam layers' rho gradients and add the KL's in one pass
 * (bnn_session_finish_param_grads, after the all-reduce over ranks), and
 * steps the optimizer over the session's flat param gradients, whose layout
 * its moments share.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bnn_runtime.h"
#include "bnn_train.h"
#include "dist_shard.h"
#include "train_impl.h"

typedef struct train_plan {
    bnn_session *session;      /* owned, planned with backward */
    int64_t batch;
} train_plan;

struct bnn_trainer {
    bnn_graph *graph;          /* not owned; its params are trained in place */
    bnn_train_options options;
    int input, output;         /* value ids */
    int logits;                /* what cross-entropy reads: the output, or the input of a
                                * softmax that ends the graph (so it is not applied twice),
                                * or of a sigmoid for binary cross-entropy */
    bool bce_from_logits;      /* BNN_LOSS_BCE reads the logits of a final sigmoid */
    train_plan plans[2];       /* [0] the planned batch, [1] a smaller final batch */
    bool *needs_grad;          /* owned, per value id: a param that gets a gradient */
    bool *is_rho;              /* owned, per value id: a Bayesian layer's rho param */
    size_t *grad_offset;       /* owned, per value id: into param_grads (trainable only) */
    float *param_grads;        /* not owned: the flat param gradients of the plan last used */
    bnn_session *grads_session; /* not owned: that plan's session */
    size_t n_trainable;        /* floats */
    bnn_optimizer *optimizer;  /* owned */
    uint64_t steps;
    int64_t global_rows;       /* rows of the global batch being stepped (0: x's own) */
    int64_t first_row;         /* where x's rows start in it (per-example draws) */
    /* BNN_LOSS_GAUSSIAN: the graph's noise-scale param (BNN_NOISE_PARAM), no
     * node's operand, so the trainer keeps its gradient and steps it in the
     * optimizer's segment [n_trainable, n_trainable + noise_n) */
    int noise;                 /* value id, or -1 */
    int64_t noise_n;           /* its floats: 1 or the output's per-example size */
    float *noise_grad;         /* owned, noise_n */
    /* options.shard_update over more than one rank: who finishes and updates
     * which params (train/dist_shard.c), and whether the step under way was
     * reduced that way */
    bnn_shard *shard;          /* owned, or NULL */
    bool sharded_step;
    bool stop_request;         /* bnn_trainer_request_stop's, for the next step */
};

static void plan_free(train_plan *p)
{
    bnn_session_destroy(p->session);
    memset(p, 0, sizeof *p);
}

static bnn_status plan_create(bnn_trainer *t, train_plan *p, int64_t batch, bnn_diag *diag)
{
    memset(p, 0, sizeof *p);
    bnn_session_options so = bnn_session_defaults();
    so.training = true;
    so.backward = true;
    so.seed = t->options.seed;
    so.threads = t->options.threads;
    /* Reparam layers' rho gradients are derived after the sweep, in the
     * KL's pass over the same arrays (bnn_session_finish_param_grads); over
     * ranks the reduction then carries half the floats (bnn_runtime.h). */
    so.derive_rho_grads = true;
    BNN_TRY(bnn_session_create_batch(t->graph, batch, &so, &p->session, diag));
    p->batch = batch;
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
    t->logits = t->output;
    t->noise = -1;
    if (options->loss == BNN_LOSS_GAUSSIAN) {
        t->noise = bnn_graph_noise_param(graph);
        const bnn_value *nv = t->noise >= 0 ? &graph->values[t->noise] : NULL;
        if (!nv || nv->dtype != BNN_F32 || nv->shape.rank != 1 || nv->shape.dims[0] < 1) {
            free(t);
            return bnn_fail(diag, BNN_ERR_INVALID, "the Gaussian loss needs the model's noise "
                            "scale, an f32 [1] or [outputs] param '%s'", BNN_NOISE_PARAM);
        }
        t->noise_n = nv->shape.dims[0];
        t->noise_grad = calloc((size_t)t->noise_n, sizeof(float));
        if (!t->noise_grad) {
            free(t);
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        }
    }
    int producer = graph->values[t->output].producer;
    if (options->loss == BNN_LOSS_CROSS_ENTROPY && producer >= 0 &&
        graph->nodes[producer].op == BNN_OP_SOFTMAX && graph->values[t->output].shape.rank == 2) {
        /* A model that outputs probabilities: cross-entropy of the softmax's
         * input is the loss meant, and stable where log(p) is not. */
        int64_t axis = bnn_node_int(&graph->nodes[producer], "axis", -1);
        if (axis == 1 || axis == -1)
            t->logits = graph->nodes[producer].inputs[0];
    }
    if (options->loss == BNN_LOSS_BCE && producer >= 0 &&
        graph->nodes[producer].op == BNN_OP_SIGMOID) {
        /* A sigmoid's probabilities: binary cross-entropy of its logits, which
         * is exact where log(p) underflows. */
        t->logits = graph->nodes[producer].inputs[0];
        t->bce_from_logits = true;
    }
    t->needs_grad = calloc((size_t)graph->n_values + 1, sizeof(bool));
    t->is_rho = calloc((size_t)graph->n_values + 1, sizeof(bool));
    t->grad_offset = calloc((size_t)graph->n_values + 1, sizeof(size_t));
    bnn_status st = BNN_OK;
    if (!t->needs_grad || !t->grad_offset || !t->is_rho) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* the operands x, w_mu, w_rho, b_mu, b_rho of every Bayesian layer, and
     * the (mu, rho) of a bnn.weight_reparam */
    for (int i = 0; i < graph->n_nodes; i++) {
        const bnn_node *n = &graph->nodes[i];
        if (n->dead || !bnn_op_is_bayesian(n->op))
            continue;
        bool alone = n->op == BNN_OP_WEIGHT_REPARAM;
        for (int k = alone ? 1 : 2; k <= (alone ? 1 : 4); k += 2)
            if (k < n->n_inputs && n->inputs[k] >= 0)
                t->is_rho[n->inputs[k]] = true;
    }
    st = plan_create(t, &t->plans[0], options->batch, diag);
    if (st != BNN_OK)
        goto fail;
    /* The session decides which params get gradients and lays them out. */
    bnn_session *s = t->plans[0].session;
    t->param_grads = bnn_session_param_grads(s, &t->n_trainable);
    t->grads_session = s;
    for (int v = 0; v < graph->n_values; v++) {
        int64_t off = bnn_session_param_grad_offset(s, v);
        t->needs_grad[v] = off >= 0;
        t->grad_offset[v] = off >= 0 ? (size_t)off : 0;
    }
    if (t->n_trainable == 0) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "the model has no trainable f32 parameters");
        goto fail;
    }
    if (!bnn_session_grad(s, t->output) || !bnn_session_grad(s, t->logits)) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "the output '%s' does not depend on any trainable "
                      "parameter", graph->values[t->output].name);
        goto fail;
    }
    st = bnn_optimizer_create(&options->optimizer, t->n_trainable + (size_t)t->noise_n,
                              &t->optimizer, diag);
    if (st != BNN_OK)
        goto fail;
    if (options->shard_update && bnn_comm_size(options->comm) > 1) {
        int64_t *offsets = malloc(sizeof(int64_t) * ((size_t)graph->n_values + 1));
        if (!offsets) {
            st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int v = 0; v < graph->n_values; v++)
            offsets[v] = bnn_session_param_grad_offset(s, v);
        st = bnn_shard_create(graph, offsets, bnn_session_param_grads_reduced(s),
                              t->n_trainable, bnn_comm_rank(options->comm),
                              bnn_comm_size(options->comm), &t->shard, diag);
        free(offsets);
        if (st != BNN_OK)
            goto fail;
    }
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
    free(t->is_rho);
    free(t->grad_offset);
    free(t->noise_grad);
    bnn_optimizer_destroy(t->optimizer);
    bnn_shard_destroy(t->shard);
    free(t);
}

bnn_optimizer *bnn_trainer_optimizer(bnn_trainer *t) { return t->optimizer; }
uint64_t bnn_trainer_steps(const bnn_trainer *t) { return t->steps; }
void bnn_trainer_set_steps(bnn_trainer *t, uint64_t steps) { t->steps = steps; }

bnn_status bnn_trainer_broadcast(bnn_trainer *t, bnn_diag *diag)
{
    bnn_comm *comm = t->options.comm;
    if (bnn_comm_size(comm) == 1)
        return BNN_OK;
    /* The params travel packed in the gradient buffer (free between steps):
     * one broadcast, not one per tensor. */
    const bnn_graph *g = t->graph;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM && t->needs_grad[v])
            memcpy(t->param_grads + t->grad_offset[v], g->values[v].data, g->values[v].nbytes);
    BNN_TRY(bnn_comm_broadcast(comm, t->param_grads, t->n_trainable * sizeof(float), 0, diag));
    if (t->noise >= 0)
        BNN_TRY(bnn_comm_broadcast(comm, g->values[t->noise].data,
                                   g->values[t->noise].nbytes, 0, diag));
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM && t->needs_grad[v])
            memcpy(g->values[v].data, t->param_grads + t->grad_offset[v], g->values[v].nbytes);
    bnn_optimizer *opt = t->optimizer;
    uint64_t counters[2] = {t->steps, (uint64_t)opt->step};
    BNN_TRY(bnn_comm_broadcast(comm, counters, sizeof counters, 0, diag));
    t->steps = counters[0];
    opt->step = (int64_t)counters[1];
    BNN_TRY(bnn_comm_broadcast(comm, opt->m, opt->n * sizeof(float), 0, diag));
    if (opt->v)
        BNN_TRY(bnn_comm_broadcast(comm, opt->v, opt->n * sizeof(float), 0, diag));
    return BNN_OK;
}

/* [d] or [1, ..., 1, d] with d > 1: a per-feature vector. */
static bool per_feature(const bnn_shape *s)
{
    if (s->rank < 1)
        return false;
    for (int d = 0; d + 1 < s->rank; d++)
        if (s->dims[d] != 1)
            return false;
    return s->dims[s->rank - 1] > 1;
}

static bool is_param(const bnn_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == BNN_VALUE_PARAM;
}

/* Learned tensors outside the layer ops, as the exporters write them: the
 * scale and shift a LayerNormalization (or its opset < 17 decomposition)
 * multiplies and adds, a bias added after a MatMul (per-feature vectors
 * multiplied or added to an activation), and an embedding table read by
 * Gather with computed indices, a token [1, k, d] that Expand broadcasts to the
 * batch (ViT's class token).  Scalars (epsilons, exponents, 1/sqrt(d)),
 * per-channel [C, 1, 1] constants and masks or tables of other shapes stay
 * constants; a [1, T, d] positional table added to the sequence trains unless
 * its values look like a mask (position_table). */
/* A [1, T, d] table (rank 3, batch dim 1) added to a [N, T, d] activation
 * with ordinary values: ViT's learned positional embedding.  An attention
 * mask of that shape holds -inf or a large negative (or only 0 and 1), and
 * stays a constant. */
static bool position_table(const bnn_graph *g, const bnn_node *n, int k)
{
    const bnn_value *val = &g->values[n->inputs[k]];
    const bnn_value *act = &g->values[n->inputs[1 - k]];
    const bnn_shape *s = &val->shape, *a = &act->shape;
    if (n->op != BNN_OP_ADD || s->rank != 3 || s->dims[0] != 1 || s->dims[1] < 2 || s->dims[2] < 2 ||
        a->rank != 3 || val->dtype != BNN_F32)
        return false;
    for (int d = 1; d < 3; d++) /* the activation's dims, where known, are the table's */
        if (bnn_dim_is_known(a->dims[d]) && a->dims[d] != s->dims[d])
            return false;
    const float *v = val->data;
    bool binary = true;
    for (int64_t i = 0; v && i < bnn_shape_numel(s); i++) {
        if (!(fabsf(v[i]) < 1e3f))
            return false; /* inf, NaN or a masking constant */
        binary = binary && (v[i] == 0.0f || v[i] == 1.0f);
    }
    return v && !binary;
}

static bool learned_operand(const bnn_graph *g, const bnn_node *n, int k)
{
    const bnn_value *val = &g->values[n->inputs[k]];
    switch (n->op) {
    case BNN_OP_ADD:
    case BNN_OP_MUL:
        return n->n_inputs == 2 && !is_param(g, n->inputs[1 - k]) &&
               (per_feature(&val->shape) || position_table(g, n, k));
    case BNN_OP_GATHER:
        return k == 0 && n->n_inputs == 2 && !is_param(g, n->inputs[1]) && val->shape.rank == 2;
    case BNN_OP_EXPAND: /* a class token [1, k, d] broadcast to the batch */
        return k == 0 && val->shape.rank >= 2 && val->shape.dims[0] == 1;
    default: return false;
    }
}

int bnn_graph_mark_layer_params_trainable(bnn_graph *g)
{
    int marked = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        /* the operands holding weights and biases (ops.def TRAIN); batch
         * norm's mean and var stay frozen */
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || (!bnn_op_operand_trainable(n->op, k) &&
                          !(is_param(g, v) && learned_operand(g, n, k))))
                continue;
            bnn_value *val = &g->values[v];
            if (val->kind == BNN_VALUE_PARAM && val->dtype == BNN_F32 && !val->trainable) {
                val->trainable = true;
                marked++;
            }
        }
    }
    return marked;
}

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
        size_t n = 0; /* the same graph: the same params get gradients, laid out alike */
        bnn_session_param_grads(t->plans[1].session, &n);
        BNN_ASSERT(n == t->n_trainable);
    }
    *out = &t->plans[1];
    return BNN_OK;
}

/* The index of the first Inf or NaN in x[0..n), or n.  Tests the exponent
 * bits with integer ops so the loop vectorises; the common all-finite case
 * reads the buffer once. */
static size_t first_non_finite(const float *x, size_t n)
{
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b); /* no aliasing trouble; compiles to a load */
        any |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
    }
    if (!any)
        return n;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

static bnn_status finish_gradients(bnn_trainer *t, bnn_step_result *result, int64_t rows,
                                   bnn_diag *diag);
static double now_ms(void);

/* The name of the trainable param holding flat gradient index i. */
static const char *param_at(const bnn_trainer *t, size_t i)
{
    for (int v = 0; v < t->graph->n_values; v++) {
        const bnn_value *val = &t->graph->values[v];
        if (val->kind == BNN_VALUE_PARAM && t->needs_grad[v] && i >= t->grad_offset[v] &&
            i < t->grad_offset[v] + val->nbytes / sizeof(float))
            return val->name;
    }
    return "?";
}

bnn_status bnn_trainer_gradients(bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y,
                                 bnn_step_result *result, bnn_diag *diag)
{
    memset(result, 0, sizeof *result);
    if (x->shape.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "a batch needs a first (row) dimension");
    int64_t b = x->shape.dims[0];
    if (b == 0 && t->global_rows > 0)
        return finish_gradients(t, result, 0, diag); /* a rank with no rows this step */
    /* this rank's share of the global batch's mean (1 alone) */
    double share = t->global_rows > 0 ? (double)b / (double)t->global_rows : 1.0;
    train_plan *p = NULL;
    BNN_TRY(plan_for(t, b, &p, diag));
    bnn_session *s = p->session;
    BNN_TRY(bnn_session_set_input(s, NULL, x, diag));
    /* the random draws follow the global step, whatever the plan */
    bnn_session_set_step(s, t->steps);
    /* and per-example draws follow the row's place in the global batch */
    bnn_session_set_example_offset(s, t->global_rows > 0 ? t->first_row : 0);
    double t0 = now_ms();
    BNN_TRY(bnn_session_run(s, diag));
    double t1 = now_ms();
    result->forward_ms = t1 - t0;

    bnn_session_zero_grads(s);
    t->param_grads = bnn_session_param_grads(s, NULL); /* this plan's: the KL adds to it */
    t->grads_session = s;
    const bnn_tensor *out = bnn_session_value(s, t->logits); /* the output unless a softmax ends it */
    float *out_grad = bnn_session_grad(s, t->logits)->data;
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
        BNN_TRY(bnn_softmax_cross_entropy(out->data, y->data, b, k, (float)(o->dnn_factor * share),
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
    } else if (o->loss == BNN_LOSS_BCE) {
        int64_t n = bnn_tensor_numel(out);
        if (out->shape.rank < 1 || out->shape.dims[0] != b || n != b)
            return bnn_fail(diag, BNN_ERR_SHAPE, "binary cross-entropy needs one probability "
                            "per example ([batch] or [batch, 1]); the output '%s' has %lld "
                            "values for %lld examples", t->graph->values[t->output].name,
                            (long long)n, (long long)b);
        if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != n)
            return bnn_fail(diag, BNN_ERR_SHAPE, "binary cross-entropy needs f32 targets, one "
                            "per example");
        BNN_TRY(bnn_binary_cross_entropy(out->data, y->data, n, t->bce_from_logits,
                                         (float)(o->dnn_factor * share), &result->data_loss,
                                         out_grad, diag));
        const float *v = out->data, *target = y->data;
        float threshold = t->bce_from_logits ? 0.0f : 0.5f; /* p >= 1/2 <=> z >= 0 */
        for (int64_t i = 0; i < n; i++)
            result->correct += (v[i] >= threshold) == (target[i] >= 0.5f);
    } else if (o->loss == BNN_LOSS_GAUSSIAN) {
        int64_t n = bnn_tensor_numel(out), k = b ? n / b : 0;
        if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != n)
            return bnn_fail(diag, BNN_ERR_SHAPE, "the Gaussian loss needs f32 targets with "
                            "the output's %lld elements", (long long)n);
        if (t->noise_n != 1 && t->noise_n != k)
            return bnn_fail(diag, BNN_ERR_SHAPE, "the noise scale '%s' has %lld values; the "
                            "output '%s' has %lld per example (give one, or one per output)",
                            BNN_NOISE_PARAM, (long long)t->noise_n,
                            t->graph->values[t->output].name, (long long)k);
        double g[64], *lg = t->noise_n <= 64 ? g : malloc(sizeof(double) * (size_t)t->noise_n);
        if (!lg)
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        bnn_status st = bnn_gaussian_nll(out->data, y->data, b, k,
                                         t->graph->values[t->noise].data, t->noise_n,
                                         (float)(o->dnn_factor * share), &result->data_loss,
                                         out_grad, lg, diag);
        for (int64_t j = 0; st == BNN_OK && j < t->noise_n; j++)
            t->noise_grad[j] = (float)lg[j];
        if (lg != g)
            free(lg);
        BNN_TRY(st);
    } else {
        if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != bnn_tensor_numel(out))
            return bnn_fail(diag, BNN_ERR_SHAPE, "mean squared error needs f32 targets with "
                            "the output's %lld elements", (long long)bnn_tensor_numel(out));
        int64_t n = bnn_tensor_numel(out);
        bnn_mse(out->data, y->data, 1, n, (float)(o->dnn_factor * share), &result->data_loss,
                out_grad);
    }
    result->count = b;

    BNN_TRY(bnn_session_backward(s, diag));
    result->backward_ms = now_ms() - t1;
    return finish_gradients(t, result, b, diag);
}

/* Fails naming the first param (index bad into the flat gradients, SIZE_MAX
 * or n_trainable for none) or the noise scale whose gradient is not finite. */
static bnn_status grads_finite(const bnn_trainer *t, size_t bad, double loss, bnn_diag *diag)
{
    if (bad < t->n_trainable)
        return bnn_fail(diag, BNN_ERR_NUMERIC, "the gradient of '%s' is not finite (loss %g)",
                        param_at(t, bad), loss);
    if (t->noise >= 0 && first_non_finite(t->noise_grad, (size_t)t->noise_n) < (size_t)t->noise_n)
        return bnn_fail(diag, BNN_ERR_NUMERIC, "the gradient of '%s' is not finite (loss %g)",
                        BNN_NOISE_PARAM, loss);
    return BNN_OK;
}

/* The KL pass and the checks of a sharded step, for this rank's slice
 * only; the KL's parts and the verdicts of the checks are then summed, and
 * with them the batch's statistics (batch: this rank's summed data loss,
 * right answers and wish to stop), which a sharded step does not reduce by
 * themselves: one collective call fewer a step, each being a point where
 * the ranks wait for each other. */
static bnn_status finish_sharded(bnn_trainer *t, bnn_step_result *result,
                                 const uint64_t *redraw, const double batch[3], double t1,
                                 bnn_diag *diag)
{
    const bnn_train_options *o = &t->options;
    int rank = bnn_comm_rank(o->comm), ranks = bnn_comm_size(o->comm);
    size_t lo, hi;
    bnn_shard_slice(t->shard, rank, &lo, &hi);
    double kl = 0;
    BNN_TRY(bnn_session_finish_param_grads_slice(t->grads_session, redraw, (float)o->bnn_factor,
                                                 lo, hi, &kl, diag));
    size_t bad = bnn_shard_first_non_finite(t->shard, t->param_grads, first_non_finite);
    /* [the KL, the batch's 3 statistics, then per rank 1 + the flat index
     * of its first non-finite gradient, or 0] */
    enum { HEAD = 4 };
    size_t n = (size_t)ranks + HEAD;
    double fixed[HEAD + 16], *sums = ranks <= 16 ? fixed : calloc(n, sizeof(double));
    if (!sums)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    memset(sums, 0, sizeof(double) * n);
    sums[0] = kl;
    memcpy(sums + 1, batch, 3 * sizeof(double));
    sums[HEAD + rank] = bad == SIZE_MAX ? 0 : (double)bad + 1;
    double t2 = now_ms();
    bnn_status st = bnn_comm_allreduce_f64(o->comm, sums, n, diag);
    double t3 = now_ms();
    result->reduce_ms += t3 - t2;
    result->kl = sums[0];
    result->count = t->global_rows;
    result->data_loss = sums[1] / (double)t->global_rows;
    result->correct = (int64_t)sums[2];
    result->stop = sums[3] > 0;
    bad = SIZE_MAX;
    for (int r = 0; st == BNN_OK && r < ranks && bad == SIZE_MAX; r++)
        if (sums[HEAD + r] > 0)
            bad = (size_t)(sums[HEAD + r] - 1);
    if (sums != fixed)
        free(sums);
    BNN_TRY(st);
    result->loss = o->dnn_factor * result->data_loss + o->bnn_factor * result->kl;
    if (!isfinite(result->loss))
        return bnn_fail(diag, BNN_ERR_NUMERIC, "the loss is %s (data loss %g, KL %g)",
                        isnan(result->loss) ? "NaN" : "infinite", result->data_loss, result->kl);
    BNN_TRY(grads_finite(t, bad, result->loss, diag));
    result->finish_ms = now_ms() - t1 - (t3 - t2);
    return BNN_OK;
}

/* The end of a step's gradient half, after the backward sweep: the data-loss
 * gradients and statistics summed over the ranks (data parallel only), then
 * the KL and its gradient, added once, and the checks for non-finite values
 * (on reduced numbers, so every rank reaches the same verdict). */
static bnn_status finish_gradients(bnn_trainer *t, bnn_step_result *result, int64_t rows,
                                   bnn_diag *diag)
{
    const bnn_train_options *o = &t->options;
    result->stop = t->stop_request;
    double sums[3] = {0}; /* the batch's: summed data loss, right answers, wish to stop */
    if (t->global_rows > 0) { /* a data-parallel step (bnn_trainer_step_shard) */
        if (rows == 0) {
            memset(t->param_grads, 0, t->n_trainable * sizeof(float));
            memset(result, 0, sizeof *result);
            if (t->noise >= 0)
                memset(t->noise_grad, 0, sizeof(float) * (size_t)t->noise_n);
        }
        /* The batch's sums first: 24 bytes, so the time they take is the
         * wait for the slowest rank to end its backward sweep; what the
         * gradients take after them is the transfer itself.  The ranks'
         * requests to stop ride along, so that all stop after one step.
         * Sharded, they go with the KL's parts instead (finish_sharded), and
         * the wait is inside the reduce-scatter. */
        double t0 = now_ms();
        sums[0] = result->data_loss * (double)rows;
        sums[1] = (double)result->correct;
        sums[2] = t->stop_request ? 1.0 : 0.0;
        if (!t->shard) {
            BNN_TRY(bnn_comm_allreduce_f64(o->comm, sums, 3, diag));
            result->stop = sums[2] > 0;
            result->count = t->global_rows;
            result->data_loss = sums[0] / (double)t->global_rows;
            result->correct = (int64_t)sums[1];
        }
        double t1 = now_ms();
        /* one fused buffer: the gradients the sweep computed (the rest are
         * derived from them); sharded, each rank receives its slice's sums */
        if (t->shard)
            BNN_TRY(bnn_shard_reduce_scatter(t->shard, o->comm, t->param_grads, diag));
        else
            BNN_TRY(bnn_comm_allreduce_f32(o->comm, t->param_grads,
                                           bnn_session_param_grads_reduced(t->grads_session),
                                           diag));
        if (t->noise >= 0) /* the noise scale's gradient, no session's */
            BNN_TRY(bnn_comm_allreduce_f32(o->comm, t->noise_grad, (size_t)t->noise_n, diag));
        result->reduce_ms = now_ms() - t0;
        result->reduce_wait_ms = t1 - t0;
    }
    /* the derived rho gradients and the KL with its gradient, in one pass;
     * a rank with no rows this step ran no forward: it draws again */
    uint64_t step = t->steps;
    double t1 = now_ms();
    t->sharded_step = t->shard && t->global_rows > 0;
    if (t->sharded_step)
        return finish_sharded(t, result, rows == 0 ? &step : NULL, sums, t1, diag);
    BNN_TRY(bnn_session_finish_param_grads(t->grads_session,
                                           t->global_rows > 0 && rows == 0 ? &step : NULL,
                                           (float)o->bnn_factor, &result->kl, diag));
    result->loss = o->dnn_factor * result->data_loss + o->bnn_factor * result->kl;
    if (!isfinite(result->loss))
        return bnn_fail(diag, BNN_ERR_NUMERIC, "the loss is %s (data loss %g, KL %g)",
                        isnan(result->loss) ? "NaN" : "infinite", result->data_loss, result->kl);
    /* A finite loss can still have an overflowing gradient; stepping with it
     * would put Inf or NaN into the params (and into the next checkpoint). */
    /* (the KL passes check what they write: no scan when they wrote all) */
    size_t bad = bnn_session_param_grads_finite(t->grads_session)
                     ? t->n_trainable
                     : first_non_finite(t->param_grads, t->n_trainable);
    BNN_TRY(grads_finite(t, bad, result->loss, diag));
    result->finish_ms = now_ms() - t1;
    return BNN_OK;
}

const float *bnn_trainer_param_grad(const bnn_trainer *t, int value_id)
{
    if (value_id >= 0 && value_id == t->noise)
        return t->noise_grad;
    if (value_id < 0 || value_id >= t->graph->n_values || !t->needs_grad[value_id] ||
        t->graph->values[value_id].kind != BNN_VALUE_PARAM)
        return NULL;
    return t->param_grads + t->grad_offset[value_id];
}

bnn_status bnn_trainer_step_shard(bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y,
                                  int64_t first_row, int64_t global_rows,
                                  bnn_step_result *result, bnn_diag *diag)
{
    if (global_rows < 1 || x->shape.rank < 1 || first_row < 0 ||
        x->shape.dims[0] > global_rows - first_row)
        return bnn_fail(diag, BNN_ERR_SHAPE,
                        "a shard of %lld rows from row %lld of a global batch of %lld",
                        (long long)(x->shape.rank < 1 ? -1 : x->shape.dims[0]),
                        (long long)first_row, (long long)global_rows);
    t->global_rows = bnn_comm_size(t->options.comm) > 1 ? global_rows : 0;
    t->first_row = first_row;
    bnn_status st = bnn_trainer_step(t, x, y, result, diag);
    t->global_rows = t->first_row = 0;
    return st;
}

/* The optimizer's update of elements [elem, elem + n) of param v, whose
 * gradient and moments sit at flat offset off on.  The update is
 * elementwise, so disjoint chunks may go to different threads with
 * bit-identical results. */
static void update_range(bnn_trainer *t, int v, size_t elem, size_t n, size_t off, float lr)
{
    enum { OPT_CHUNK = 32768 };
    size_t chunks = (n + OPT_CHUNK - 1) / OPT_CHUNK;
    t->optimizer->config.lr = lr;
    float *params = (float *)t->graph->values[v].data + elem;
    #pragma omp parallel for schedule(static) if (chunks > 2)
    for (size_t c = 0; c < chunks; c++) {
        size_t lo = c * OPT_CHUNK, len = n - lo < OPT_CHUNK ? n - lo : OPT_CHUNK;
        bnn_optimizer_update(t->optimizer, off + lo, params + lo, t->param_grads + off + lo, len);
    }
}

bnn_status bnn_trainer_step(bnn_trainer *t, const bnn_tensor *x, const bnn_tensor *y,
                            bnn_step_result *result, bnn_diag *diag)
{
    t->sharded_step = false;
    BNN_TRY(bnn_trainer_gradients(t, x, y, result, diag));
    double t0 = now_ms();
    bnn_optimizer_begin_step(t->optimizer);
    const float base_lr = t->optimizer->config.lr;
    const float rho_lr = base_lr * (t->options.rho_lr_scale > 0 ? t->options.rho_lr_scale : 1.0f);
    if (t->sharded_step) { /* this rank's part */
        int n = 0;
        const bnn_shard_seg *seg = bnn_shard_segs(t->shard, bnn_comm_rank(t->options.comm), &n);
        for (int i = 0; i < n; i++)
            update_range(t, seg[i].value, seg[i].elem, seg[i].len, seg[i].flat,
                         t->is_rho[seg[i].value] ? rho_lr : base_lr);
    } else {
        for (int v = 0; v < t->graph->n_values; v++) {
            bnn_value *val = &t->graph->values[v];
            if (val->kind == BNN_VALUE_PARAM && t->needs_grad[v])
                update_range(t, v, 0, val->nbytes / sizeof(float), t->grad_offset[v],
                             t->is_rho[v] ? rho_lr : base_lr);
        }
    }
    t->optimizer->config.lr = base_lr;
    if (t->noise >= 0) {
        /* the noise scale's segment follows the session's params; it is the
         * likelihood's, not a weight: no weight decay pulls it toward s = 1 */
        float decay = t->optimizer->config.weight_decay;
        t->optimizer->config.weight_decay = 0;
        bnn_optimizer_update(t->optimizer, t->n_trainable, t->graph->values[t->noise].data,
                             t->noise_grad, (size_t)t->noise_n);
        t->optimizer->config.weight_decay = decay;
    }
    result->update_ms = now_ms() - t0;
    if (t->sharded_step) { /* every rank's updated params to every rank */
        double t1 = now_ms();
        BNN_TRY(bnn_shard_gather_params(t->shard, t->options.comm, t->graph, diag));
        result->reduce_ms += now_ms() - t1;
    }
    t->steps++;
    return BNN_OK;
}

bnn_status bnn_trainer_gather_state(bnn_trainer *t, bnn_diag *diag)
{
    if (!t->shard)
        return BNN_OK;
    BNN_TRY(bnn_shard_gather_flat(t->shard, t->options.comm, t->optimizer->m, diag));
    if (t->optimizer->v)
        BNN_TRY(bnn_shard_gather_flat(t->shard, t->options.comm, t->optimizer->v, diag));
    return BNN_OK;
}

bool bnn_trainer_sharded(const bnn_trainer *t) { return t->shard != NULL; }

void bnn_trainer_request_stop(bnn_trainer *t, bool stop) { t->stop_request = stop; }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bnn_status bnn_train_bench(bnn_graph *graph, const bnn_train_options *options, int warmup,
                           int iters, double *step_ms, size_t *arena_bytes, bnn_diag *diag)
{
    if (graph->n_inputs != 1 || graph->n_outputs != 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "training needs a model with one input and "
                        "one output (this one has %d and %d)", graph->n_inputs, graph->n_outputs);
    bnn_shape xs = graph->values[graph->inputs[0]].shape;
    bnn_shape ys = graph->values[graph->outputs[0]].shape;
    if (xs.rank < 1 || ys.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "the model's input and output need a batch dim");
    xs.dims[0] = ys.dims[0] = options->batch;
    if (!bnn_shape_is_concrete(&xs) || !bnn_shape_is_concrete(&ys))
        return bnn_fail(diag, BNN_ERR_SHAPE, "the model's input or output has unknown dims "
                        "besides the batch");
    bool ce = options->loss == BNN_LOSS_CROSS_ENTROPY;
    if (ce && ys.rank != 2)
        return bnn_fail(diag, BNN_ERR_SHAPE, "cross-entropy needs a [batch, classes] output");
    int64_t classes = ce ? ys.dims[1] : 0;
    if (ce)
        ys.rank = 1;
    bnn_tensor x = {0}, y = {0};
    bnn_trainer *t = NULL;
    bnn_dtype xtype = graph->values[graph->inputs[0]].dtype;
    bnn_status st = bnn_tensor_alloc(&x, xtype == BNN_UNDEFINED ? BNN_F32 : xtype, &xs, diag);
    if (st == BNN_OK)
        st = bnn_tensor_alloc(&y, ce ? BNN_I64 : BNN_F32, &ys, diag);
    if (st == BNN_OK)
        st = bnn_trainer_create(graph, options, &t, diag);
    if (st == BNN_OK) {
        uint64_t state = options->seed;
        if (x.dtype == BNN_F32) {
            float *xd = x.data;
            for (int64_t i = 0; i < bnn_tensor_numel(&x); i++)
                xd[i] = (float)((bnn_splitmix64(&state) >> 40) * (1.0 / (1 << 24)));
        } else { /* token ids and other integers: 0 is in range for any table */
            memset(x.data, 0, bnn_tensor_nbytes(&x));
        }
        if (ce)
            for (int64_t i = 0; i < options->batch; i++)
                ((int64_t *)y.data)[i] = i % classes;
        else
            memset(y.data, 0, bnn_tensor_nbytes(&y));
        if (arena_bytes) {
            /* the session's (gradients included) and the optimizer's moments */
            *arena_bytes = bnn_session_memory_bytes(t->plans[0].session) +
                           t->n_trainable * sizeof(float) * (t->optimizer->v ? 2 : 1);
        }
    }
    for (int i = 0; st == BNN_OK && i < warmup + iters; i++) {
        bnn_step_result r;
        double t0 = now_ms();
        st = bnn_trainer_step(t, &x, &y, &r, diag);
        if (i >= warmup)
            step_ms[i - warmup] = now_ms() - t0;
    }
    bnn_trainer_destroy(t);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    return st;
}

void bnn_shuffle_indices(int64_t *idx, int64_t n, uint64_t seed, uint64_t epoch)
{
    uint64_t state = seed * 0x100000001b3ull ^ (epoch + 1) * 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* Lemire's multiply-shift maps 64 random bits onto [0, i]. */
        int64_t j = (int64_t)(((unsigned __int128)bnn_splitmix64(&state) * (uint64_t)(i + 1)) >> 64);
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

bnn_train_options bnn_train_defaults(void)
{
    bnn_train_options o;
    memset(&o, 0, sizeof o);
    o.optimizer = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    o.loss = BNN_LOSS_CROSS_ENTROPY;
    o.dnn_factor = 1;
    o.batch = 64;
    o.seed = 1;
    o.rho_lr_scale = 1;
    return o;
}
