/* nll_loss and softmax_cross_entropy_loss, the losses of ONNX's
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ops.def has their
 * semantics).
 *
 * The scores are seen as [N, C, inner] (inner: the product of d1..dk) and the
 * targets as [N, inner]; the class of element (n, d) is read at stride inner.
 * softmax_cross_entropy_loss writes log_softmax over C into its second output
 * and then takes nll_loss of it, so both share one reduction and one
 * gradient.  Sums are kept in double; every target is checked against
 * [0, C) before anything is written, so a bad label fails naming the node
 * instead of reading outside the scores. */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "softmax_impl.h"

typedef enum loss_reduction { LOSS_NONE, LOSS_SUM, LOSS_MEAN } loss_reduction;

typedef struct loss_layout {
    int64_t batch, classes, inner;
    loss_reduction reduction;
    bool has_ignore;
    int64_t ignore;
    const bnn_tensor *target;
    const float *weight; /* NULL: every class weighs 1 */
} loss_layout;

static int64_t target_at(const bnn_tensor *t, int64_t i)
{
    return t->dtype == BNN_I32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

static bool ignored(const loss_layout *l, int64_t t) { return l->has_ignore && t == l->ignore; }

static double weight_of(const loss_layout *l, int64_t t) { return l->weight ? l->weight[t] : 1.0; }

/* Reads and checks operands and attributes; with data, also every target. */
static bnn_status loss_setup(const bnn_kernel_args *args, loss_layout *l, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *t = &args->inputs[1];
    const bnn_tensor *w = args->n_inputs > 2 && args->inputs[2].data ? &args->inputs[2] : NULL;
    if (x->dtype != BNN_F32 || (w && w->dtype != BNN_F32))
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "element type %s is not supported (f32 only)",
                               bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "?");
    if (t->dtype != BNN_I32 && t->dtype != BNN_I64)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "target type %s is not i32 or i64",
                               bnn_dtype_name(t->dtype) ? bnn_dtype_name(t->dtype) : "?");
    int rank = x->shape.rank;
    bool fits = rank >= 2 && t->shape.rank == rank - 1 && t->shape.dims[0] == x->shape.dims[0];
    for (int i = 1; fits && i < rank - 1; i++)
        fits = t->shape.dims[i] == x->shape.dims[i + 1];
    char xs[160], ts[160];
    if (!fits)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                               "target %s does not fit scores %s (expected [N, d1..dk] for [N, C, d1..dk])",
                               bnn_shape_format(&t->shape, t->dtype, ts, sizeof ts),
                               bnn_shape_format(&x->shape, x->dtype, xs, sizeof xs));
    l->batch = x->shape.dims[0];
    l->classes = x->shape.dims[1];
    l->inner = 1;
    for (int i = 2; i < rank; i++)
        l->inner *= x->shape.dims[i];
    if (w && (w->shape.rank != 1 || w->shape.dims[0] != l->classes))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "weight %s is not one per class of scores %s",
                               bnn_shape_format(&w->shape, w->dtype, ts, sizeof ts),
                               bnn_shape_format(&x->shape, x->dtype, xs, sizeof xs));
    const char *red = bnn_node_string(args->node, "reduction", "mean");
    if (strcmp(red, "none") == 0)
        l->reduction = LOSS_NONE;
    else if (strcmp(red, "sum") == 0)
        l->reduction = LOSS_SUM;
    else if (strcmp(red, "mean") == 0)
        l->reduction = LOSS_MEAN;
    else
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "reduction '%s' is not none, sum or mean",
                               red);
    const bnn_attr *ii = bnn_node_attr(args->node, "ignore_index");
    l->has_ignore = ii != NULL;
    l->ignore = ii ? ii->i : 0;
    l->target = t;
    l->weight = w ? w->data : NULL;
    if (!t->data)
        return BNN_OK;
    int64_t count = l->batch * l->inner;
    for (int64_t i = 0; i < count; i++) {
        int64_t c = target_at(t, i);
        if (!ignored(l, c) && (c < 0 || c >= l->classes))
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                   "target %lld (element %lld) is outside the classes [0, %lld)%s",
                                   (long long)c, (long long)i, (long long)l->classes,
                                   l->has_ignore ? " and is not ignore_index" : "");
    }
    return BNN_OK;
}

/* Offset in the scores of element i's target class (i = n * inner + d). */
static int64_t class_offset(const loss_layout *l, int64_t i, int64_t c)
{
    int64_t n = i / l->inner, d = i % l->inner;
    return (n * l->classes + c) * l->inner + d;
}

/* S, the sum of the element losses, and W, the sum of the weights of the
 * targets not ignored (mean is S / W). */
static void loss_totals(const loss_layout *l, const float *lp, double *sum, double *wsum)
{
    double s = 0, ws = 0;
    int64_t count = l->batch * l->inner;
    for (int64_t i = 0; i < count; i++) {
        int64_t c = target_at(l->target, i);
        if (ignored(l, c))
            continue;
        double wt = weight_of(l, c);
        s += -(double)lp[class_offset(l, i, c)] * wt;
        ws += wt;
    }
    *sum = s;
    *wsum = ws;
}

static void nll_forward_from(const loss_layout *l, const float *lp, float *out)
{
    if (l->reduction != LOSS_NONE) {
        double s, ws;
        loss_totals(l, lp, &s, &ws);
        /* mean with nothing counted is 0/0: NaN, as ONNX's reference gives */
        out[0] = (float)(l->reduction == LOSS_SUM ? s : s / ws);
        return;
    }
    int64_t count = l->batch * l->inner;
    for (int64_t i = 0; i < count; i++) {
        int64_t c = target_at(l->target, i);
        out[i] = ignored(l, c) ? 0.0f : (float)(-(double)lp[class_offset(l, i, c)] * weight_of(l, c));
    }
}

/* What the backward of either op needs to know of the reduction, with lp
 * the log-probabilities (nll_loss's scores, softmax_cross_entropy_loss's
 * log_prob).  Element i's loss term -lp[t] * w[t] gets the factor
 * element_scale: g[i] for none, g for sum, g / W for mean.  For mean,
 * L = S / W, so dL/dlp[t] = -w[t] g / W and dL/dw[c] = g (sum over targets c
 * of -lp[c] - L) / W.  W = 0 (every target ignored or weighing 0) has no
 * gradient: the loss is NaN there. */
typedef struct loss_grad {
    double scale;  /* g for sum, g / W for mean (unused for none) */
    double mean;   /* L for mean, else 0 */
    bool skip;     /* no gradient at all */
} loss_grad;

static loss_grad loss_grad_setup(const loss_layout *l, const float *lp, const float *g)
{
    loss_grad r = {1, 0, false};
    if (l->reduction == LOSS_NONE)
        return r;
    r.scale = g[0];
    if (l->reduction == LOSS_MEAN) {
        double s, ws;
        loss_totals(l, lp, &s, &ws);
        r.skip = ws == 0;
        r.scale = r.skip ? 0 : g[0] / ws;
        r.mean = r.skip ? 0 : s / ws;
    }
    return r;
}

/* Element i's factor: the output gradient times the derivative of the
 * output by element i's loss (W held fixed). */
static double element_scale(const loss_layout *l, const loss_grad *r, const float *g, int64_t i)
{
    return l->reduction == LOSS_NONE ? g[i] : r->scale;
}

static void weight_grad(const loss_layout *l, const loss_grad *r, const float *lp, const float *g,
                        float *gw)
{
    int64_t count = l->batch * l->inner;
    for (int64_t i = 0; i < count; i++) {
        int64_t c = target_at(l->target, i);
        if (ignored(l, c))
            continue;
        gw[c] += (float)(element_scale(l, r, g, i) * (-(double)lp[class_offset(l, i, c)] - r->mean));
    }
}

/* ---- nll_loss ------------------------------------------------------------- */

static bnn_status nll_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    loss_layout l;
    BNN_TRY(loss_setup(args, &l, diag));
    nll_forward_from(&l, args->inputs[0].data, args->outputs[0].data);
    return BNN_OK;
}

static bnn_status nll_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    float *gw = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    if (!gx && !gw)
        return BNN_OK;
    loss_layout l;
    BNN_TRY(loss_setup(args, &l, diag));
    const float *x = args->inputs[0].data, *g = grads->grad_outputs[0].data;
    loss_grad r = loss_grad_setup(&l, x, g);
    if (r.skip)
        return BNN_OK;
    if (gx) {
        int64_t count = l.batch * l.inner;
        for (int64_t i = 0; i < count; i++) {
            int64_t c = target_at(l.target, i);
            if (!ignored(&l, c))
                gx[class_offset(&l, i, c)] += (float)(-weight_of(&l, c) * element_scale(&l, &r, g, i));
        }
    }
    if (gw && l.weight)
        weight_grad(&l, &r, x, g, gw);
    return BNN_OK;
}

/* ---- softmax_cross_entropy_loss ------------------------------------------ */

static bnn_status sce_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    loss_layout l;
    BNN_TRY(loss_setup(args, &l, diag));
    const float *x = args->inputs[0].data;
    float *lp = args->outputs[1].data;
    bnn_softmax_lines(l.batch, l.classes, l.inner, x, lp, true); /* log_prob */
    nll_forward_from(&l, lp, args->outputs[0].data);
    return BNN_OK;
}

/* Per line (n, d): G[c] = the log_prob gradient plus the loss's at the
 * target; through log_softmax, gx[c] += G[c] - softmax[c] * sum(G). */
static bnn_status sce_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    float *gw = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    if (!gx && !gw)
        return BNN_OK;
    loss_layout l;
    BNN_TRY(loss_setup(args, &l, diag));
    const float *lp = args->outputs[1].data, *g = grads->grad_outputs[0].data;
    const float *gp = args->n_outputs > 1 ? grads->grad_outputs[1].data : NULL; /* NULL: zeros */
    loss_grad r = loss_grad_setup(&l, lp, g);
    if (gx) {
        int64_t lines = l.batch * l.inner, len = l.classes, inner = l.inner;
        for (int64_t line = 0; line < lines; line++) {
            int64_t base = class_offset(&l, line, 0);
            int64_t c = target_at(l.target, line);
            double at_target = ignored(&l, c) || r.skip ? 0 : -weight_of(&l, c) * element_scale(&l, &r, g, line);
            double total = gp ? 0 : at_target;
            if (gp)
                for (int64_t k = 0; k < len; k++)
                    total += gp[base + k * inner] + (k == c ? at_target : 0);
            for (int64_t k = 0; k < len; k++) {
                int64_t i = base + k * inner;
                double gk = (gp ? gp[i] : 0) + (k == c ? at_target : 0);
                gx[i] += (float)(gk - exp((double)lp[i]) * total);
            }
        }
    }
    if (gw && l.weight && !r.skip)
        weight_grad(&l, &r, lp, g, gw);
    return BNN_OK;
}

const bnn_kernel bnn_kernel_nll_loss = {.forward = nll_forward, .backward = nll_backward};
const bnn_kernel bnn_kernel_softmax_cross_entropy_loss = {.forward = sce_forward,
                                                         .backward = sce_backward};
