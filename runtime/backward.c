/* The backward sweep: planning gradients for a session and running the
 * kernels' backward functions in reverse (bnn_runtime.h, "backward").
 *
 * Planning marks the values that need a gradient (the params asked for, then
 * whatever a node computes from a value that needs one), gives each such
 * activation its own 64-byte aligned slice of one gradient arena (training
 * plans keep every activation, and gradients are few beside them, so there
 * is no reuse), lays the params' gradients out flat in value-id order (the
 * layout an optimizer's moments share), and prebuilds each position's
 * grad_outputs / grad_inputs the way plan.c prebuilds node_args.  Kernels'
 * backward functions accumulate (+=), which sums the contributions of a
 * value read by several nodes; the sweep therefore starts from zeroed
 * gradients plus the caller's seed.
 *
 * With options.derive_rho_grads the rho gradients of reparam layers are left
 * to bnn_session_derive_param_grads: their kernels get no rho gradient to
 * write, and they are laid out after every other param's, so a data-parallel
 * trainer sums only the floats before them over its ranks.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/bayes.h"
#include "kernels/bayes_impl.h"
#include "plan_impl.h"

static size_t round64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static void *alloc64(size_t bytes)
{
    bytes = round64(bytes ? bytes : 1);
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* The params that get gradients: the names given, or every trainable f32
 * param. */
static bnn_status mark_params(bnn_session *s, bnn_diag *diag)
{
    const bnn_graph *g = s->graph;
    const char *const *names = s->options.grad_params;
    if (!names) {
        for (int v = 0; v < g->n_values; v++)
            s->needs_grad[v] = g->values[v].kind == BNN_VALUE_PARAM && g->values[v].trainable &&
                               g->values[v].dtype == BNN_F32;
        return BNN_OK;
    }
    for (int i = 0; names[i]; i++) {
        int v = bnn_graph_find_value(g, names[i]);
        if (v < 0 || g->values[v].kind != BNN_VALUE_PARAM)
            return bnn_fail(diag, BNN_ERR_INVALID, "grad_params: the graph has no param '%s'",
                            names[i]);
        if (g->values[v].dtype != BNN_F32)
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "grad_params: param '%s' is %s; gradients "
                            "are f32 only", names[i],
                            bnn_dtype_name(g->values[v].dtype) ? bnn_dtype_name(g->values[v].dtype)
                                                               : "?");
        s->needs_grad[v] = true;
    }
    return BNN_OK;
}

/* With options.derive_rho_grads: the rho params whose gradient is derived
 * from the mu gradient (bayes_rho_derivable), when the layer alone reads its
 * mu and its rho and both get gradients. */
static bnn_status mark_derived(bnn_session *s, bnn_diag *diag)
{
    const bnn_graph *g = s->graph;
    s->rho_derived = calloc((size_t)g->n_values + 1, sizeof *s->rho_derived);
    if (!s->rho_derived)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning backward");
    if (!s->options.derive_rho_grads)
        return BNN_OK;
    int *uses = bnn_graph_use_counts(g);
    if (!uses)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning backward");
    static const int pairs[2][2] = {{BAYES_IN_WMU, BAYES_IN_WRHO}, {BAYES_IN_BMU, BAYES_IN_BRHO}};
    for (int p = 0; p < s->n_order; p++) {
        const bnn_kernel_args *a = &s->node_args[p];
        if (s->skip[p] || !bayes_rho_derivable(a))
            continue;
        for (int k = 0; k < 2; k++) {
            int mu = pairs[k][0] < a->node->n_inputs ? a->node->inputs[pairs[k][0]] : -1;
            int rho = pairs[k][1] < a->node->n_inputs ? a->node->inputs[pairs[k][1]] : -1;
            if (mu >= 0 && rho >= 0 && uses[mu] == 1 && uses[rho] == 1 && mu != rho &&
                s->needs_grad[mu] && s->needs_grad[rho] &&
                g->values[mu].kind == BNN_VALUE_PARAM && g->values[rho].kind == BNN_VALUE_PARAM)
                s->rho_derived[rho] = true;
        }
    }
    free(uses);
    return BNN_OK;
}

bnn_status bnn_session_plan_backward(bnn_session *s, bnn_diag *diag)
{
    const bnn_graph *g = s->graph;
    s->needs_grad = calloc((size_t)g->n_values + 1, sizeof *s->needs_grad);
    s->grads = calloc((size_t)g->n_values + 1, sizeof *s->grads);
    s->param_grad_offset = malloc(sizeof *s->param_grad_offset * ((size_t)g->n_values + 1));
    s->wants_backward = calloc((size_t)s->n_order + 1, sizeof *s->wants_backward);
    s->kernel_grads = calloc((size_t)s->n_order + 1, sizeof *s->kernel_grads);
    int n_operands = 0;
    for (int p = 0; p < s->n_order; p++)
        n_operands += s->node_args[p].n_inputs + s->node_args[p].n_outputs;
    s->node_grads = calloc((size_t)n_operands + 1, sizeof *s->node_grads);
    if (!s->needs_grad || !s->grads || !s->param_grad_offset || !s->wants_backward ||
        !s->kernel_grads || !s->node_grads)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning backward");

    BNN_TRY(mark_params(s, diag));
    /* Run order is topological: one forward walk propagates the marks. */
    for (int p = 0; p < s->n_order; p++) {
        const bnn_node *n = &g->nodes[s->order[p]];
        bool any = false;
        for (int k = 0; k < n->n_inputs; k++)
            any |= n->inputs[k] >= 0 && s->needs_grad[n->inputs[k]];
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0)
                s->needs_grad[n->outputs[k]] = any && g->values[n->outputs[k]].dtype == BNN_F32;
    }

    BNN_TRY(mark_derived(s, diag));
    size_t bytes = 0;
    s->n_param_grads = 0;
    for (int v = 0; v < g->n_values; v++) {
        s->param_grad_offset[v] = -1;
        if (!s->needs_grad[v])
            continue;
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            if (s->rho_derived[v])
                continue; /* laid out below, after every computed one */
            s->param_grad_offset[v] = (int64_t)s->n_param_grads;
            s->n_param_grads += g->values[v].nbytes / sizeof(float);
        } else if (s->tensors[v].shape.rank >= 0) {
            bytes += round64(bnn_tensor_nbytes(&s->tensors[v]));
        }
    }
    s->n_param_grads_reduced = s->n_param_grads;
    for (int v = 0; v < g->n_values; v++)
        if (s->rho_derived[v]) {
            s->param_grad_offset[v] = (int64_t)s->n_param_grads;
            s->n_param_grads += g->values[v].nbytes / sizeof(float);
        }
    /* The cap covers the whole session: the forward plan passed it alone. */
    size_t forward = s->arena_bytes + s->scratch_bytes + s->state_bytes;
    size_t cap = s->options.max_memory;
    if (cap && (forward > cap || bytes > cap - forward ||
                s->n_param_grads > (cap - forward - bytes) / sizeof(float)))
        return bnn_fail(diag, BNN_ERR_NOMEM, "the plan needs %zu bytes with its gradients "
                        "(%zu for activations' and %zu for params'), more than the memory "
                        "limit of %zu bytes", forward + bytes + s->n_param_grads * sizeof(float),
                        bytes, s->n_param_grads * sizeof(float), cap);
    s->grad_arena = alloc64(bytes);
    s->param_grads = alloc64(s->n_param_grads * sizeof(float));
    if (!s->grad_arena || !s->param_grads)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %zu bytes of gradients",
                        bytes + s->n_param_grads * sizeof(float));
    s->grad_bytes = bytes;
    size_t at = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (!s->needs_grad[v])
            continue;
        s->grads[v].dtype = BNN_F32;
        if (g->values[v].kind == BNN_VALUE_PARAM) {
            s->grads[v].shape = g->values[v].shape;
            s->grads[v].data = s->param_grads + s->param_grad_offset[v];
        } else {
            s->grads[v].shape = s->tensors[v].shape;
            s->grads[v].data = s->grad_arena + at;
            at += round64(bnn_tensor_nbytes(&s->tensors[v]));
        }
    }

    int o = 0;
    for (int p = 0; p < s->n_order; p++) {
        const bnn_kernel_args *a = &s->node_args[p];
        const bnn_node *node = a->node;
        bnn_kernel_grads *kg = &s->kernel_grads[p];
        kg->grad_outputs = &s->node_grads[o];
        bool flows = false; /* a float output a gradient can come back through */
        for (int i = 0; i < node->n_outputs; i++, o++)
            if (node->outputs[i] >= 0) {
                s->node_grads[o] = s->grads[node->outputs[i]];
                flows |= s->needs_grad[node->outputs[i]];
            }
        kg->grad_inputs = &s->node_grads[o];
        bool any = false;
        for (int i = 0; i < node->n_inputs; i++, o++) {
            int v = node->inputs[i];
            if (v >= 0 && s->needs_grad[v]) {
                s->node_grads[o] = s->grads[v];
                if (s->rho_derived[v])
                    s->node_grads[o].data = NULL; /* derived after the sweep */
                any = true;
            }
        }
        /* Shape, Size, ArgMax, comparisons...: integer or bool outputs
         * carry no gradient, so nothing is asked of their kernels. */
        any = any && flows;
        s->wants_backward[p] = any;
        if (any && !s->kernels[p]->backward) {
            char label[300];
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: no gradient for this op, so it "
                            "cannot lie between a trainable layer and the loss",
                            bnn_node_label(g, a->node_id, label, sizeof label));
        }
    }
    return BNN_OK;
}

void bnn_session_free_backward(bnn_session *s)
{
    free(s->needs_grad);
    free(s->grads);
    free(s->grad_arena);
    free(s->param_grads);
    free(s->param_grad_offset);
    free(s->rho_derived);
    free(s->node_grads);
    free(s->kernel_grads);
    free(s->wants_backward);
}

void bnn_session_zero_grads(bnn_session *s)
{
    s->param_grads_finite = false;
    if (s->grad_arena)
        memset(s->grad_arena, 0, s->grad_bytes);
    if (s->param_grads)
        memset(s->param_grads, 0, s->n_param_grads * sizeof(float));
}

bnn_tensor *bnn_session_grad(bnn_session *s, int value_id)
{
    if (!s->grads || value_id < 0 || value_id >= s->graph->n_values ||
        !s->grads[value_id].data)
        return NULL;
    return &s->grads[value_id];
}

bnn_status bnn_session_backward(bnn_session *s, bnn_diag *diag)
{
    s->param_grads_finite = false;
    if (!s->kernel_grads)
        return bnn_fail(diag, BNN_ERR_INVALID, "the session was not planned for backward "
                        "(bnn_session_options.backward)");
    for (int p = s->n_order - 1; p >= 0; p--) {
        if (!s->wants_backward[p] || s->skip[p])
            continue;
        BNN_TRY(s->kernels[p]->backward(&s->node_args[p], &s->kernel_grads[p], diag));
    }
    return BNN_OK;
}

float *bnn_session_param_grads(bnn_session *s, size_t *count)
{
    if (count)
        *count = s->param_grads ? s->n_param_grads : 0;
    return s->param_grads;
}

size_t bnn_session_param_grads_reduced(const bnn_session *s)
{
    return s->param_grads ? s->n_param_grads_reduced : 0;
}

/* Where the KL adds its gradient for param v: the session's, or none. */
static float *session_grad_of(void *ctx, int v)
{
    bnn_session *s = ctx;
    return s->needs_grad[v] && s->graph->values[v].kind == BNN_VALUE_PARAM ? s->grads[v].data
                                                                           : NULL;
}

/* The derived rho gradients, and with kl not NULL every Bayesian node's KL
 * (in plan order, the same for every plan of a graph) fused into the same
 * pass where the node's rho gradients are derived. */
/* Where param v's gradient starts in the flat buffer, or -1. */
static int64_t session_offset_of(void *ctx, int v)
{
    bnn_session *s = ctx;
    return s->needs_grad[v] && s->graph->values[v].kind == BNN_VALUE_PARAM
               ? s->param_grad_offset[v]
               : -1;
}

static bnn_status finish_param_grads(bnn_session *s, const uint64_t *redraw_step,
                                     float kl_scale, double *kl, const bayes_slice *slice,
                                     bnn_diag *diag)
{
    if (kl)
        *kl = 0;
    s->param_grads_finite = false;
    size_t checked = 0; /* gradient floats the KL passes found finite */
    bool derived = s->rho_derived && s->param_grads &&
                   s->n_param_grads_reduced != s->n_param_grads;
    if (!derived && !kl)
        return BNN_OK;
    for (int p = 0; p < s->n_order; p++) {
        bnn_kernel_args a = s->node_args[p];
        const bnn_node *n = a.node;
        if (s->skip[p] || !bnn_op_is_bayesian(n->op))
            continue;
        /* a bnn.weight_reparam (mu, rho, prior?) is never derived
         * (bayes_rho_derivable): it gets the KL alone, below */
        bool layer = n->op != BNN_OP_WEIGHT_REPARAM;
        int wm = layer && BAYES_IN_WMU < n->n_inputs ? n->inputs[BAYES_IN_WMU] : -1;
        int wr = layer && BAYES_IN_WRHO < n->n_inputs ? n->inputs[BAYES_IN_WRHO] : -1;
        int bm = layer && BAYES_IN_BMU < n->n_inputs ? n->inputs[BAYES_IN_BMU] : -1;
        int br = layer && BAYES_IN_BRHO < n->n_inputs ? n->inputs[BAYES_IN_BRHO] : -1;
        bool w = derived && wr >= 0 && s->rho_derived[wr];
        bool b = derived && br >= 0 && s->rho_derived[br];
        double node_kl = 0;
        if (!w && !b) {
            if (kl)
                BNN_TRY(bayes_node_kl_slice(s->graph, a.node_id, kl_scale, session_grad_of, s,
                                            session_offset_of, slice, &node_kl, diag));
        } else {
            a.seed = s->options.seed; /* as a run sets it: this node may not have run yet */
            bayes_grads g = {
                .mu_w = wm >= 0 ? session_grad_of(s, wm) : NULL,
                .rho_w = wr >= 0 ? session_grad_of(s, wr) : NULL,
                .mu_b = bm >= 0 ? session_grad_of(s, bm) : NULL,
                .rho_b = br >= 0 ? session_grad_of(s, br) : NULL,
                .derive_w = w,
                .derive_b = b,
                .off_mu_w = wm >= 0 ? session_offset_of(s, wm) : -1,
                .off_rho_w = wr >= 0 ? session_offset_of(s, wr) : -1,
                .off_mu_b = bm >= 0 ? session_offset_of(s, bm) : -1,
                .off_rho_b = br >= 0 ? session_offset_of(s, br) : -1,
            };
            BNN_TRY(bayes_derive_rho_grads(&a, redraw_step, &g, kl_scale, kl ? &node_kl : NULL,
                                           slice, slice ? NULL : &checked, diag));
        }
        if (kl)
            *kl += node_kl;
    }
    /* each derived pair is two params of their own, counted once */
    s->param_grads_finite = !slice && checked == s->n_param_grads;
    return BNN_OK;
}

bool bnn_session_param_grads_finite(const bnn_session *s)
{
    return s->param_grads_finite;
}

bnn_status bnn_session_derive_param_grads(bnn_session *s, const uint64_t *redraw_step,
                                          bnn_diag *diag)
{
    return finish_param_grads(s, redraw_step, 0.0f, NULL, NULL, diag);
}

bnn_status bnn_session_finish_param_grads(bnn_session *s, const uint64_t *redraw_step,
                                          float kl_scale, double *kl, bnn_diag *diag)
{
    if (!s->param_grads)
        return bnn_fail(diag, BNN_ERR_INVALID, "the session was planned without backward");
    return finish_param_grads(s, redraw_step, kl_scale, kl, NULL, diag);
}

bnn_status bnn_session_finish_param_grads_slice(bnn_session *s, const uint64_t *redraw_step,
                                                float kl_scale, size_t lo, size_t hi, double *kl,
                                                bnn_diag *diag)
{
    if (!s->param_grads)
        return bnn_fail(diag, BNN_ERR_INVALID, "the session was planned without backward");
    if (lo > hi || hi > s->n_param_grads_reduced)
        return bnn_fail(diag, BNN_ERR_INVALID, "slice %zu..%zu of %zu summed gradients", lo, hi,
                        s->n_param_grads_reduced);
    bayes_slice slice = {lo, hi};
    return finish_param_grads(s, redraw_step, kl_scale, kl, &slice, diag);
}

int64_t bnn_session_param_grad_offset(const bnn_session *s, int value_id)
{
    if (!s->param_grad_offset || value_id < 0 || value_id >= s->graph->n_values)
        return -1;
    return s->param_grad_offset[value_id];
}
