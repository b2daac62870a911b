/* A Laplace posterior for a converted model (bnnc convert --init laplace;
 * docs/uncertainty.md): each Bayesian layer's sigma from the diagonal of the
 * generalised Gauss-Newton matrix of the data loss at the trained weights,
 * and the prior precision that maximises the Laplace approximation of the
 * marginal likelihood.
 *
 * The GGN of softmax cross-entropy is the Fisher of the model's own
 * predictive, E_{y ~ p(y|x)} [g g^T] with g the gradient of -log p(y|x);
 * its diagonal is estimated with one label y drawn from p(.|x) per example
 * (the "MC" GGN of Laplace libraries): one forward and one backward pass of
 * one example, at the means (rho set to -40: sigma ~ 4e-18, so the drawn
 * weights are the means).  Over the N examples, F_i = sum of g_i^2; with the
 * prior N(0, 1/lambda) the posterior precision is F_i + lambda, and
 *
 *   log Z(lambda) = -lambda/2 |mu|^2 + P/2 log lambda - 1/2 sum_i log(F_i + lambda) + const
 *
 * (the data term at the means does not depend on lambda) is maximised over
 * lambda = 10^-4 .. 10^6 in steps of 10^0.02. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_runtime.h"
#include "bnn_train.h"
#include "train_impl.h"

/* The mu (inputs 1 and 3) and rho (2 and 4) params of every live Bayesian
 * node (a bnn.weight_reparam's: inputs 0 and 1). */
typedef struct posterior_pair {
    int mu, rho;
} posterior_pair;

static int collect_pairs(const bnn_graph *g, posterior_pair *pairs)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *node = &g->nodes[i];
        if (node->dead || !bnn_op_is_bayesian(node->op))
            continue;
        bool alone = node->op == BNN_OP_WEIGHT_REPARAM; /* (mu, rho) at 0 and 1 */
        for (int k = alone ? 0 : 1; k + 1 < node->n_inputs && k <= (alone ? 0 : 3); k += 2) {
            int mu = node->inputs[k], rho = node->inputs[k + 1];
            if (mu < 0 || rho < 0 || g->values[mu].kind != BNN_VALUE_PARAM ||
                g->values[rho].kind != BNN_VALUE_PARAM || g->values[mu].dtype != BNN_F32 ||
                g->values[mu].nbytes != g->values[rho].nbytes)
                continue;
            if (pairs)
                pairs[n] = (posterior_pair){mu, rho};
            n++;
        }
    }
    return n;
}

/* The lambda maximising log Z over the grid, from the sums it needs. */
static double best_precision(const double *fisher, size_t n, double mu2)
{
    double best = 1, best_z = -INFINITY;
    for (int e = -200; e <= 300; e++) {
        double lambda = pow(10.0, e / 50.0), z = -0.5 * lambda * mu2 + 0.5 * (double)n * log(lambda);
        for (size_t i = 0; i < n; i++)
            z -= 0.5 * log(fisher[i] + lambda);
        if (z > best_z) {
            best_z = z;
            best = lambda;
        }
    }
    return best;
}

bnn_status bnn_laplace_init(bnn_graph *g, const bnn_tensor *x, const bnn_laplace_options *o,
                            bnn_laplace_result *result, bnn_diag *diag)
{
    memset(result, 0, sizeof *result);
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "the Laplace fit needs a model with one input "
                        "and one output (this one has %d and %d)", g->n_inputs, g->n_outputs);
    if (x->dtype != BNN_F32 || x->shape.rank < 1 || x->shape.dims[0] < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "the Laplace fit needs f32 examples, a row each");
    int n_pairs = collect_pairs(g, NULL);
    if (n_pairs == 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "the model has no Bayesian layer to fit");
    /* what the loss reads: the output, or the input of a softmax ending the graph */
    int logits = g->outputs[0];
    int producer = g->values[logits].producer;
    if (producer >= 0 && g->nodes[producer].op == BNN_OP_SOFTMAX)
        logits = g->nodes[producer].inputs[0];
    posterior_pair *pairs = calloc((size_t)n_pairs, sizeof *pairs);
    const char **names = calloc((size_t)n_pairs + 1, sizeof *names);
    size_t *offset = calloc((size_t)n_pairs + 1, sizeof *offset);
    float **saved = calloc((size_t)n_pairs, sizeof *saved);
    bnn_session *s = NULL;
    double *fisher = NULL;
    bnn_status st = BNN_OK;
    if (!pairs || !names || !offset || !saved) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    collect_pairs(g, pairs);
    size_t total = 0;
    for (int p = 0; p < n_pairs; p++) {
        bnn_value *rho = &g->values[pairs[p].rho];
        size_t n = rho->nbytes / sizeof(float);
        names[p] = g->values[pairs[p].mu].name;
        offset[p] = total;
        total += n;
        saved[p] = malloc(rho->nbytes + 1);
        if (!saved[p]) {
            st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(saved[p], rho->data, rho->nbytes);
        float *r = rho->data;
        for (size_t i = 0; i < n; i++)
            r[i] = -40.0f; /* sigma ~ 4e-18: the forward runs at the means */
    }
    fisher = calloc(total + 1, sizeof *fisher);
    if (!fisher) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %zu curvature values", total);
        goto done;
    }
    bnn_session_options so = bnn_session_defaults();
    so.backward = true;
    so.seed = o->seed;
    so.threads = o->threads;
    so.grad_params = names; /* the means only */
    st = bnn_session_create_batch(g, 1, &so, &s, diag);
    if (st != BNN_OK)
        goto done;
    int64_t rows = x->shape.dims[0];
    if (o->max_examples > 0 && rows > o->max_examples)
        rows = o->max_examples;
    bnn_tensor row = *x;
    row.shape.dims[0] = 1;
    row.owns_data = false;
    size_t row_bytes = bnn_tensor_nbytes(&row);
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t r = 0; r < rows && st == BNN_OK; r++) {
        row.data = (char *)x->data + (size_t)r * row_bytes;
        st = bnn_session_set_input(s, NULL, &row, diag);
        if (st == BNN_OK)
            st = bnn_session_run(s, diag);
        if (st != BNN_OK)
            break;
        const bnn_tensor *z = bnn_session_value(s, logits);
        int64_t k = bnn_tensor_numel(z);
        const float *zd = z->data;
        double zmax = -INFINITY, zsum = 0;
        for (int64_t c = 0; c < k; c++)
            zmax = zd[c] > zmax ? zd[c] : zmax;
        for (int64_t c = 0; c < k; c++)
            zsum += exp(zd[c] - zmax);
        if (!(zsum > 0) || !isfinite(zsum)) {
            st = bnn_fail(diag, BNN_ERR_NUMERIC, "example %lld: the output is not finite",
                          (long long)r);
            break;
        }
        /* a label drawn from the model's own predictive */
        double u = (double)(bnn_splitmix64(&rng) >> 11) * (1.0 / 9007199254740992.0), acc = 0;
        int64_t label = k - 1;
        for (int64_t c = 0; c < k; c++) {
            acc += exp(zd[c] - zmax) / zsum;
            if (u < acc) {
                label = c;
                break;
            }
        }
        bnn_session_zero_grads(s);
        float *gz = bnn_session_grad(s, logits)->data;
        for (int64_t c = 0; c < k; c++)
            gz[c] = (float)(exp(zd[c] - zmax) / zsum) - (c == label ? 1.0f : 0.0f);
        st = bnn_session_backward(s, diag);
        if (st != BNN_OK)
            break;
        const float *grads = bnn_session_param_grads(s, NULL);
        for (int p = 0; p < n_pairs; p++) {
            const float *gp = grads + bnn_session_param_grad_offset(s, pairs[p].mu);
            size_t n = g->values[pairs[p].mu].nbytes / sizeof(float);
            double *f = fisher + offset[p];
            for (size_t i = 0; i < n; i++)
                f[i] += (double)gp[i] * gp[i];
        }
    }
    if (st != BNN_OK)
        goto done;
    double mu2 = 0;
    for (int p = 0; p < n_pairs; p++) {
        const float *mu = g->values[pairs[p].mu].data;
        size_t n = g->values[pairs[p].mu].nbytes / sizeof(float);
        for (size_t i = 0; i < n; i++)
            mu2 += (double)mu[i] * mu[i];
    }
    double lambda = best_precision(fisher, total, mu2);
    double sigma_sum = 0;
    for (int p = 0; p < n_pairs; p++) {
        float *rho = g->values[pairs[p].rho].data;
        size_t n = g->values[pairs[p].rho].nbytes / sizeof(float);
        for (size_t i = 0; i < n; i++) {
            double sigma = 1 / sqrt(fisher[offset[p] + i] + lambda);
            sigma_sum += sigma;
            rho[i] = (float)bnn_rho_of_sigma(sigma);
        }
        free(saved[p]);
        saved[p] = NULL; /* the fitted rho stays */
    }
    for (int i = 0; i < g->n_nodes && st == BNN_OK; i++)
        if (!g->nodes[i].dead && bnn_op_is_bayesian(g->nodes[i].op)) {
            st = bnn_node_set_float(g, i, "prior_mu", 0.0f);
            if (st == BNN_OK)
                st = bnn_node_set_float(g, i, "prior_sigma", (float)(1 / sqrt(lambda)));
        }
    if (st != BNN_OK) {
        st = bnn_fail(diag, st, "out of memory setting the prior");
        goto done;
    }
    result->prior_precision = lambda;
    result->prior_sigma = 1 / sqrt(lambda);
    result->examples = rows;
    result->params = (int64_t)total;
    result->mean_sigma = sigma_sum / (double)total;
done:
    /* on failure the model's rho are as they were */
    for (int p = 0; pairs && saved && p < n_pairs; p++)
        if (saved[p]) {
            memcpy(g->values[pairs[p].rho].data, saved[p], g->values[pairs[p].rho].nbytes);
            free(saved[p]);
        }
    bnn_session_destroy(s);
    free(fisher);
    free(saved);
    free(offset);
    free(names);
    free(pairs);
    return st;
}
