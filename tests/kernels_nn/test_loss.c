/* nll_loss and softmax_cross_entropy_loss (runtime/kernels/loss.c) against a
 * plain double-precision reference written from ONNX's definitions of
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (one element at a
 * time, nothing shared with the kernel): every reduction, with and without
 * weights and ignore_index (negative, past C, and a real class), i32 and i64
 * targets, 2-D to 5-D scores; backward by central differences of that
 * reference for the scores and the weights; and out-of-range targets, which
 * must fail naming the node.
 * The harness of harness.c takes inputs of one type and one output; these
 * ops have integer targets and (softmax_cross_entropy_loss) two outputs, so
 * the case is built here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_tensor.h"
#include "fd_record.h"
#include "kernel.h"

enum { NO_IGNORE = 0, IGNORE_NEGATIVE, IGNORE_HIGH, IGNORE_CLASS };

typedef struct lcase {
    bnn_op op;
    int rank;
    int64_t dims[6];        /* the scores' shape [N, C, d1..] */
    bnn_dtype target_type;
    bool weighted;
    const char *reduction;  /* NULL: absent (mean) */
    int ignore_kind;
    int64_t ignore;
    bnn_graph *g;
    int node, n_out;
    bnn_tensor in[3], out[2];
    bnn_kernel_args args;
} lcase;

static uint64_t rng = 1;
static double urand(double lo, double hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * ((double)(rng >> 11) / 9007199254740992.0);
}

static int64_t classes(const lcase *c) { return c->dims[1]; }
static int64_t inner(const lcase *c)
{
    int64_t n = 1;
    for (int i = 2; i < c->rank; i++)
        n *= c->dims[i];
    return n;
}
static int64_t n_targets(const lcase *c) { return c->dims[0] * inner(c); }

static int64_t target(const lcase *c, int64_t i)
{
    const bnn_tensor *t = &c->in[1];
    return t->dtype == BNN_I32 ? ((int32_t *)t->data)[i] : ((int64_t *)t->data)[i];
}

static void set_target(lcase *c, int64_t i, int64_t v)
{
    bnn_tensor *t = &c->in[1];
    if (t->dtype == BNN_I32)
        ((int32_t *)t->data)[i] = (int32_t)v;
    else
        ((int64_t *)t->data)[i] = v;
}

static bool reduced(const lcase *c) { return !c->reduction || strcmp(c->reduction, "none") != 0; }

static void build(lcase *c)
{
    bnn_diag d = {0};
    c->g = bnn_graph_create("loss_test");
    cr_assert(c->g);
    bnn_shape xs = {.rank = c->rank}, ts = {.rank = c->rank - 1}, ws = {.rank = 1}, ys = {.rank = 0};
    for (int i = 0; i < c->rank; i++)
        xs.dims[i] = c->dims[i];
    ts.dims[0] = c->dims[0];
    for (int i = 2; i < c->rank; i++)
        ts.dims[i - 1] = c->dims[i];
    ws.dims[0] = classes(c);
    if (!reduced(c))
        ys = ts;
    int in[3] = {bnn_graph_add_value(c->g, "scores", BNN_F32, &xs),
                 bnn_graph_add_value(c->g, "labels", c->target_type, &ts),
                 c->weighted ? bnn_graph_add_value(c->g, "weights", BNN_F32, &ws) : -1};
    c->n_out = c->op == BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS ? 2 : 1;
    int out[2] = {bnn_graph_add_value(c->g, "loss", BNN_F32, &ys),
                  bnn_graph_add_value(c->g, "log_prob", BNN_F32, &xs)};
    c->node = bnn_graph_add_node(c->g, c->op, "loss0", in, c->weighted ? 3 : 2, out, c->n_out);
    cr_assert(c->node >= 0);
    if (c->reduction)
        cr_assert_eq(bnn_node_set_string(c->g, c->node, "reduction", c->reduction), BNN_OK);
    int64_t C = classes(c);
    c->ignore = c->ignore_kind == IGNORE_NEGATIVE ? -3 : c->ignore_kind == IGNORE_HIGH ? C + 4 : 1;
    if (c->ignore_kind != NO_IGNORE)
        cr_assert_eq(bnn_node_set_int(c->g, c->node, "ignore_index", c->ignore), BNN_OK);
    /* The graph infers what the ops.def row says the shapes are. */
    cr_assert_eq(bnn_graph_infer(c->g, &d), BNN_OK, "%s", d.message);
    cr_assert_eq(bnn_graph_value(c->g, out[0])->shape.rank, ys.rank);

    cr_assert_eq(bnn_tensor_alloc(&c->in[0], BNN_F32, &xs, &d), BNN_OK);
    cr_assert_eq(bnn_tensor_alloc(&c->in[1], c->target_type, &ts, &d), BNN_OK);
    if (c->weighted)
        cr_assert_eq(bnn_tensor_alloc(&c->in[2], BNN_F32, &ws, &d), BNN_OK);
    cr_assert_eq(bnn_tensor_alloc(&c->out[0], BNN_F32, &ys, &d), BNN_OK);
    cr_assert_eq(bnn_tensor_alloc(&c->out[1], BNN_F32, &xs, &d), BNN_OK);
    float *x = c->in[0].data;
    for (int64_t i = 0; i < bnn_tensor_numel(&c->in[0]); i++)
        x[i] = (float)urand(-2, 2);
    for (int64_t i = 0; i < n_targets(c); i++) {
        int64_t t = (int64_t)urand(0, (double)C);
        if (t >= C)
            t = C - 1;
        /* about one target in three is ignore_index, and never all of them */
        if (c->ignore_kind != NO_IGNORE && i % 3 == 1)
            t = c->ignore;
        set_target(c, i, t);
    }
    if (c->ignore_kind == IGNORE_CLASS) /* one counted target that is not class 1 */
        set_target(c, 0, 0);
    if (c->weighted)
        for (int64_t k = 0; k < C; k++)
            ((float *)c->in[2].data)[k] = (float)urand(0.2, 1.5);
    c->args = (bnn_kernel_args){.graph = c->g, .node = bnn_graph_node(c->g, c->node),
                                .node_id = c->node, .inputs = c->in, .n_inputs = c->weighted ? 3 : 2,
                                .outputs = c->out, .n_outputs = c->n_out, .seed = 1};
}

static void destroy(lcase *c)
{
    for (int k = 0; k < 3; k++)
        bnn_tensor_free(&c->in[k]);
    for (int k = 0; k < 2; k++)
        bnn_tensor_free(&c->out[k]);
    bnn_graph_destroy(c->g);
}

static bnn_status forward(lcase *c, bnn_diag *d)
{
    return bnn_kernel_get(c->op)->forward(&c->args, d);
}

/* ---- the reference -------------------------------------------------------- */

/* Score of class k for target element i (i = n * inner + j). */
static double score(const lcase *c, const double *x, int64_t i, int64_t k)
{
    int64_t n = i / inner(c), j = i % inner(c);
    return x[(n * classes(c) + k) * inner(c) + j];
}

/* loss (one value, or one per target for "none") and, for the softmax
 * form, log_prob, from scores x and weights w (NULL: none). */
static void reference(const lcase *c, const double *x, const double *w, double *loss, double *log_prob)
{
    int64_t C = classes(c), T = n_targets(c), D = inner(c);
    const double *lp = x;
    double *own = NULL;
    if (c->op == BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS) {
        own = malloc(sizeof(double) * (size_t)(T * C));
        cr_assert(own);
        for (int64_t i = 0; i < T; i++) {
            double sum = 0;
            for (int64_t k = 0; k < C; k++)
                sum += exp(score(c, x, i, k));
            for (int64_t k = 0; k < C; k++) {
                int64_t at = ((i / D) * C + k) * D + i % D;
                own[at] = score(c, x, i, k) - log(sum);
                if (log_prob)
                    log_prob[at] = own[at];
            }
        }
        lp = own;
    }
    double total = 0, weights = 0;
    for (int64_t i = 0; i < T; i++) {
        int64_t t = target(c, i);
        double l = 0;
        if (!(c->ignore_kind != NO_IGNORE && t == c->ignore)) {
            double wt = w ? w[t] : 1.0;
            l = -score(c, lp, i, t) * wt;
            weights += wt;
        }
        if (reduced(c))
            total += l;
        else
            loss[i] = l;
    }
    if (reduced(c))
        loss[0] = c->reduction && strcmp(c->reduction, "sum") == 0 ? total : total / weights;
    free(own);
}

static double *as_double(const bnn_tensor *t)
{
    int64_t n = bnn_tensor_numel(t);
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    cr_assert(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = ((const float *)t->data)[i];
    return d;
}

static const char *describe(const lcase *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s rank %d %s%s reduction %s ignore kind %d", bnn_op_get(c->op)->name, c->rank,
             bnn_dtype_name(c->target_type), c->weighted ? " weighted" : "",
             c->reduction ? c->reduction : "(absent)", c->ignore_kind);
    return buf;
}

static void check_forward(lcase *c)
{
    char what[200];
    describe(c, what, sizeof what);
    bnn_diag d = {0};
    cr_assert_eq(forward(c, &d), BNN_OK, "%s: %s", what, d.message);
    double *x = as_double(&c->in[0]), *w = c->weighted ? as_double(&c->in[2]) : NULL;
    int64_t n_loss = bnn_tensor_numel(&c->out[0]), n_lp = bnn_tensor_numel(&c->out[1]);
    double *loss = calloc((size_t)n_loss, sizeof *loss), *lp = calloc((size_t)n_lp, sizeof *lp);
    cr_assert(loss && lp);
    reference(c, x, w, loss, lp);
    for (int64_t i = 0; i < n_loss; i++) {
        double got = ((float *)c->out[0].data)[i];
        cr_assert(fabs(got - loss[i]) <= 1e-5 * (1 + fabs(loss[i])), "%s: loss %lld is %.8g, reference %.8g",
                  what, (long long)i, got, loss[i]);
    }
    if (c->n_out == 2)
        for (int64_t i = 0; i < n_lp; i++) {
            double got = ((float *)c->out[1].data)[i];
            cr_assert(fabs(got - lp[i]) <= 1e-5 * (1 + fabs(lp[i])),
                      "%s: log_prob %lld is %.8g, reference %.8g", what, (long long)i, got, lp[i]);
        }
    free(loss);
    free(lp);
    free(x);
    free(w);
}

/* Backward with random output gradients r (log_prob's too, unless
 * log_prob_grad is false: then its gradient is absent, data NULL) against
 * central differences of sum(r * reference) in double. */
static void check_backward(lcase *c, bool log_prob_grad)
{
    char what[200];
    describe(c, what, sizeof what);
    bnn_diag d = {0};
    cr_assert_eq(forward(c, &d), BNN_OK, "%s: %s", what, d.message);
    bnn_tensor gout[2] = {0}, gin[3] = {0};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(bnn_tensor_alloc(&gout[k], BNN_F32, &c->out[k].shape, &d), BNN_OK);
        for (int64_t i = 0; i < bnn_tensor_numel(&gout[k]); i++)
            ((float *)gout[k].data)[i] = (float)urand(-1, 1);
    }
    if (c->n_out == 2 && !log_prob_grad)
        bnn_tensor_free(&gout[1]); /* data NULL: no gradient from log_prob */
    for (int k = 0; k < 3; k++) {
        gin[k].dtype = BNN_F32;
        gin[k].shape = c->in[k].shape;
        if (k == 1 || !c->in[k].data)
            continue; /* the targets have no gradient */
        cr_assert_eq(bnn_tensor_alloc(&gin[k], BNN_F32, &c->in[k].shape, &d), BNN_OK);
        for (int64_t i = 0; i < bnn_tensor_numel(&gin[k]); i++)
            ((float *)gin[k].data)[i] = 0.25f; /* backward adds to it */
    }
    bnn_kernel_grads grads = {.grad_outputs = gout, .grad_inputs = gin};
    cr_assert_eq(bnn_kernel_get(c->op)->backward(&c->args, &grads, &d), BNN_OK, "%s: %s", what, d.message);

    double *x = as_double(&c->in[0]), *w = c->weighted ? as_double(&c->in[2]) : NULL;
    int64_t n_loss = bnn_tensor_numel(&c->out[0]), n_lp = bnn_tensor_numel(&c->out[1]);
    double *loss = calloc((size_t)n_loss, sizeof *loss), *lp = calloc((size_t)n_lp, sizeof *lp);
    cr_assert(loss && lp);
    long long compared = 0;
    for (int k = 0; k < 3; k += 2) {
        double *v = k == 0 ? x : w;
        if (!v)
            continue;
        for (int64_t j = 0; j < bnn_tensor_numel(&c->in[k]); j++) {
            double keep = v[j], side[2];
            for (int s = 0; s < 2; s++) {
                v[j] = keep + (s ? -1e-6 : 1e-6);
                reference(c, x, w, loss, lp);
                double o = 0;
                for (int64_t i = 0; i < n_loss; i++)
                    o += ((float *)gout[0].data)[i] * loss[i];
                if (gout[1].data && c->n_out == 2)
                    for (int64_t i = 0; i < n_lp; i++)
                        o += ((float *)gout[1].data)[i] * lp[i];
                side[s] = o;
            }
            v[j] = keep;
            double want = (side[0] - side[1]) / 2e-6;
            double got = ((float *)gin[k].data)[j] - 0.25;
            cr_assert(fabs(got - want) <= 1e-3 * (1 + fabs(want)),
                      "%s: gradient of input %d element %lld is %.8g, finite differences %.8g", what, k,
                      (long long)j, got, want);
            compared++;
        }
    }
    fd_record(c->op, compared);
    free(loss);
    free(lp);
    free(x);
    free(w);
    for (int k = 0; k < 2; k++)
        bnn_tensor_free(&gout[k]);
    for (int k = 0; k < 3; k++)
        bnn_tensor_free(&gin[k]);
}

/* ---- the cases ------------------------------------------------------------ */

static const int64_t shapes[3][6] = {{4, 5}, {3, 4, 2}, {2, 3, 2, 1, 3}};
static const int ranks[3] = {2, 3, 5};
static const char *const reductions[4] = {NULL, "none", "sum", "mean"};

/* Calls fn on every combination for op. */
static void each_case(bnn_op op, void (*fn)(lcase *))
{
    int n = 0;
    for (int s = 0; s < 3; s++)
        for (int r = 0; r < 4; r++)
            for (int weighted = 0; weighted < 2; weighted++)
                for (int ig = NO_IGNORE; ig <= IGNORE_CLASS; ig++, n++) {
                    lcase c = {.op = op, .rank = ranks[s], .weighted = weighted, .reduction = reductions[r],
                               .ignore_kind = ig, .target_type = n % 2 ? BNN_I32 : BNN_I64};
                    memcpy(c.dims, shapes[s], sizeof c.dims);
                    rng = (uint64_t)n * 977 + 5;
                    build(&c);
                    fn(&c);
                    destroy(&c);
                }
}

static void forward_case(lcase *c) { check_forward(c); }
static void backward_case(lcase *c) { check_backward(c, true); }
static void backward_without_log_prob_case(lcase *c) { check_backward(c, false); }

Test(nll_loss, forward) { each_case(BNN_OP_NLL_LOSS, forward_case); }
Test(softmax_cross_entropy_loss, forward) { each_case(BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS, forward_case); }
Test(nll_loss, gradients) { each_case(BNN_OP_NLL_LOSS, backward_case); }
Test(softmax_cross_entropy_loss, gradients)
{
    each_case(BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS, backward_case);
    each_case(BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS, backward_without_log_prob_case);
}

/* Backward with the gradients of the inputs in `want` (bit 0 scores, bit 2
 * weights) into fresh zeroed tensors; the others data NULL. */
static void partial_backward(lcase *c, unsigned want, bnn_tensor gin[3])
{
    bnn_diag d = {0};
    cr_assert_eq(forward(c, &d), BNN_OK, "%s", d.message);
    bnn_tensor gout[2] = {0};
    uint64_t keep = rng;
    rng = 77; /* the same output gradients every call */
    for (int k = 0; k < c->n_out; k++) {
        cr_assert_eq(bnn_tensor_alloc(&gout[k], BNN_F32, &c->out[k].shape, &d), BNN_OK);
        for (int64_t i = 0; i < bnn_tensor_numel(&gout[k]); i++)
            ((float *)gout[k].data)[i] = (float)urand(-1, 1);
    }
    rng = keep;
    for (int k = 0; k < 3; k++) {
        memset(&gin[k], 0, sizeof gin[k]);
        gin[k].dtype = BNN_F32;
        gin[k].shape = c->in[k].shape;
        if (want >> k & 1u)
            cr_assert_eq(bnn_tensor_alloc(&gin[k], BNN_F32, &c->in[k].shape, &d), BNN_OK);
    }
    bnn_kernel_grads grads = {.grad_outputs = gout, .grad_inputs = gin};
    cr_assert_eq(bnn_kernel_get(c->op)->backward(&c->args, &grads, &d), BNN_OK, "%s", d.message);
    for (int k = 0; k < 2; k++)
        bnn_tensor_free(&gout[k]);
}

/* Asking for the scores' or the weights' gradient alone gives exactly what
 * asking for both gives. */
Test(loss, one_gradient_alone_matches_both)
{
    bnn_op ops[2] = {BNN_OP_NLL_LOSS, BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS};
    for (int k = 0; k < 2; k++)
        for (int r = 0; r < 4; r++) {
            lcase c = {.op = ops[k], .rank = 3, .dims = {3, 4, 2}, .target_type = BNN_I32,
                       .weighted = true, .reduction = reductions[r], .ignore_kind = IGNORE_CLASS};
            rng = (uint64_t)(k * 4 + r + 1);
            build(&c);
            bnn_tensor both[3], alone[3];
            partial_backward(&c, 1u | 4u, both);
            for (int input = 0; input < 3; input += 2) {
                partial_backward(&c, 1u << input, alone);
                cr_assert_eq(memcmp(alone[input].data, both[input].data, bnn_tensor_nbytes(&both[input])), 0,
                             "%s reduction %s: gradient of input %d differs when asked alone",
                             bnn_op_get(c.op)->name, reductions[r] ? reductions[r] : "(absent)", input);
                for (int j = 0; j < 3; j++)
                    bnn_tensor_free(&alone[j]);
            }
            for (int j = 0; j < 3; j++)
                bnn_tensor_free(&both[j]);
            destroy(&c);
        }
}

/* A target outside [0, C) that is not ignore_index fails naming the node,
 * before anything is read through it; ignore_index itself passes. */
static void bad_target(bnn_op op, int64_t bad, int ignore_kind, bool fails)
{
    lcase c = {.op = op, .rank = 3, .dims = {3, 4, 2}, .target_type = BNN_I64, .weighted = true,
               .reduction = "mean", .ignore_kind = ignore_kind};
    rng = 11;
    build(&c);
    set_target(&c, 4, bad);
    bnn_diag d = {0};
    bnn_status st = forward(&c, &d);
    if (fails) {
        cr_assert_eq(st, BNN_ERR_INVALID, "%s: target %lld was accepted", bnn_op_get(op)->name, (long long)bad);
        cr_assert(strstr(d.message, "'loss0'") && strstr(d.message, "target"), "%s", d.message);
    } else {
        cr_assert_eq(st, BNN_OK, "%s: %s", bnn_op_get(op)->name, d.message);
    }
    destroy(&c);
}

Test(loss, out_of_range_targets_fail_naming_the_node)
{
    bnn_op ops[2] = {BNN_OP_NLL_LOSS, BNN_OP_SOFTMAX_CROSS_ENTROPY_LOSS};
    for (int k = 0; k < 2; k++) {
        bad_target(ops[k], 4, NO_IGNORE, true);  /* C */
        bad_target(ops[k], -1, NO_IGNORE, true);
        bad_target(ops[k], (int64_t)1 << 40, NO_IGNORE, true);
        bad_target(ops[k], -3, IGNORE_NEGATIVE, false); /* ignore_index -3 */
        bad_target(ops[k], -1, IGNORE_NEGATIVE, true);
        bad_target(ops[k], 8, IGNORE_HIGH, false);      /* ignore_index C + 4 */
        bad_target(ops[k], 9, IGNORE_HIGH, true);
    }
}

/* mean over targets that are all ignored is 0/0, NaN as in ONNX's reference,
 * and backward adds nothing. */
Test(loss, mean_with_every_target_ignored_is_nan)
{
    lcase c = {.op = BNN_OP_NLL_LOSS, .rank = 2, .dims = {3, 4}, .target_type = BNN_I32,
               .reduction = "mean", .ignore_kind = IGNORE_NEGATIVE};
    rng = 3;
    build(&c);
    for (int64_t i = 0; i < 3; i++)
        set_target(&c, i, c.ignore);
    bnn_diag d = {0};
    cr_assert_eq(forward(&c, &d), BNN_OK, "%s", d.message);
    cr_assert(isnan(((float *)c.out[0].data)[0]));
    bnn_tensor gout[2] = {0}, gin[3] = {0};
    cr_assert_eq(bnn_tensor_alloc(&gout[0], BNN_F32, &c.out[0].shape, &d), BNN_OK);
    cr_assert_eq(bnn_tensor_alloc(&gin[0], BNN_F32, &c.in[0].shape, &d), BNN_OK);
    ((float *)gout[0].data)[0] = 1;
    bnn_kernel_grads grads = {.grad_outputs = gout, .grad_inputs = gin};
    cr_assert_eq(bnn_kernel_get(c.op)->backward(&c.args, &grads, &d), BNN_OK, "%s", d.message);
    for (int64_t i = 0; i < 12; i++)
        cr_assert(((float *)gin[0].data)[i] == 0, "element %lld got %g", (long long)i,
                  (double)((float *)gin[0].data)[i]);
    bnn_tensor_free(&gout[0]);
    bnn_tensor_free(&gin[0]);
    destroy(&c);
}
