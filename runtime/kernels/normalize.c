/* Normalizations whose statistics come from the data, f32 with statistics
 * in double: instance_norm, group_norm, mean_variance_norm (one "group"
 * kernel: every element belongs to a group whose mean and variance it is
 * normalised by) and lrn (across neighbouring channels).
 *
 * Gradient of the group kernel: with s the group's divisor (sqrt(var + eps),
 * or sqrt(var) + eps for mean_variance_norm), sigma = sqrt(var (+ eps)) the
 * standard deviation s is built from, M the group's size and
 * h = dy * scale, dx = (h - mean(h)) / s - (x - mean) * sum(h * (x - mean))
 * / (s^2 * M * sigma). */
#include <math.h>
#include <string.h>

#include "kernel.h"

/* ---- the group kernel ----------------------------------------------------- */

typedef struct group_geom {
    int64_t total, groups, m;   /* elements, groups, elements per group */
    int64_t c, inner;           /* x is [.., c, inner] for the affine index */
    int64_t per_group;          /* scale and bias per group of this many channels (0: per channel) */
    bool contiguous;            /* groups are consecutive blocks of m elements */
    int rank;
    int64_t dims[BNN_MAX_RANK], gstride[BNN_MAX_RANK]; /* group index = sum coord * gstride */
    double eps;
    bool eps_outside;           /* mean_variance_norm: sqrt(var) + eps */
    const float *scale, *bias;  /* NULL for mean_variance_norm */
} group_geom;

static bnn_status need_f32(const bnn_kernel_args *args, bnn_diag *diag)
{
    for (int i = 0; i < args->n_inputs; i++)
        if (args->inputs[i].data && args->inputs[i].dtype != BNN_F32)
            return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "input %d is not f32", i);
    if (args->outputs[0].dtype != BNN_F32 ||
        !bnn_shape_equal(&args->outputs[0].shape, &args->inputs[0].shape))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is not f32 of the input's shape");
    return BNN_OK;
}

static bnn_status group_read(const bnn_kernel_args *args, group_geom *g, bnn_diag *diag)
{
    BNN_TRY(need_f32(args, diag));
    const bnn_shape *x = &args->inputs[0].shape;
    memset(g, 0, sizeof *g);
    g->total = bnn_shape_numel(x);
    g->rank = x->rank;
    bnn_op op = args->node->op;
    if (op == BNN_OP_MEAN_VARIANCE_NORM) {
        bool red[BNN_MAX_RANK] = {false};
        const int64_t *axes;
        int na = bnn_node_ints(args->node, "axes", &axes);
        static const int64_t defaults[3] = {0, 2, 3};
        if (!bnn_node_attr(args->node, "axes")) {
            axes = defaults;
            na = 3;
        }
        for (int i = 0; i < na; i++) {
            int64_t a = axes[i] < 0 ? axes[i] + x->rank : axes[i];
            if (a < 0 || a >= x->rank)
                return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "axis %lld is out of range", (long long)axes[i]);
            red[a] = true;
        }
        g->groups = 1;
        g->m = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            g->dims[d] = x->dims[d];
            g->gstride[d] = red[d] ? 0 : g->groups;
            if (red[d])
                g->m *= x->dims[d];
            else
                g->groups *= x->dims[d];
        }
        g->eps = 1e-9;
        g->eps_outside = true;
        return BNN_OK;
    }
    if (x->rank < 2)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "needs x of rank 2 or more");
    int64_t n = x->dims[0];
    g->c = x->dims[1];
    g->inner = 1;
    for (int d = 2; d < x->rank; d++)
        g->inner *= x->dims[d];
    int64_t groups = op == BNN_OP_GROUP_NORM ? bnn_node_int(args->node, "num_groups", 0) : g->c;
    if (groups < 1 || g->c % groups != 0)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "%lld channels do not split into %lld groups",
                               (long long)g->c, (long long)groups);
    g->contiguous = true;
    g->groups = n * groups;
    g->m = g->c / groups * g->inner;
    g->eps = bnn_node_attr_float(args->node, "epsilon");
    g->scale = args->inputs[1].data;
    g->bias = args->inputs[2].data;
    int64_t ns = bnn_shape_numel(&args->inputs[1].shape), nb = bnn_shape_numel(&args->inputs[2].shape);
    if (ns != nb || (ns != g->c && !(op == BNN_OP_GROUP_NORM && ns == groups)))
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "scale and bias must hold one value per channel%s",
                               op == BNN_OP_GROUP_NORM ? " or per group" : "");
    g->per_group = ns == g->c ? 0 : g->c / groups;
    return BNN_OK;
}

static size_t group_scratch_size(const bnn_kernel_args *args)
{
    group_geom g;
    bnn_diag quiet = {0};
    if (group_read(args, &g, &quiet) != BNN_OK)
        return 0;
    return (size_t)g.groups * 5 * sizeof(double);
}

static int64_t group_of(const group_geom *g, int64_t e)
{
    if (g->contiguous)
        return e / g->m;
    int64_t id = 0;
    for (int d = g->rank - 1; d >= 0; d--) {
        id += e % g->dims[d] * g->gstride[d];
        e /= g->dims[d];
    }
    return id;
}

/* The scale/bias index of element e. */
static int64_t affine_of(const group_geom *g, int64_t e)
{
    int64_t ch = e / g->inner % g->c;
    return g->per_group ? ch / g->per_group : ch;
}

/* mean[k], div[k] (the divisor s) and sd[k] (sigma) of every group. */
static void group_stats(const group_geom *g, const float *x, double *mean, double *div, double *sd)
{
    memset(mean, 0, sizeof(double) * (size_t)g->groups);
    memset(sd, 0, sizeof(double) * (size_t)g->groups);
    for (int64_t e = 0; e < g->total; e++)
        mean[group_of(g, e)] += x[e];
    for (int64_t k = 0; k < g->groups; k++)
        mean[k] /= (double)(g->m ? g->m : 1);
    for (int64_t e = 0; e < g->total; e++) {
        int64_t k = group_of(g, e);
        double d = x[e] - mean[k];
        sd[k] += d * d;
    }
    for (int64_t k = 0; k < g->groups; k++) {
        double var = sd[k] / (double)(g->m ? g->m : 1);
        sd[k] = g->eps_outside ? sqrt(var) : sqrt(var + g->eps);
        div[k] = g->eps_outside ? sd[k] + g->eps : sd[k];
    }
}

static bnn_status group_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    group_geom g;
    BNN_TRY(group_read(args, &g, diag));
    double *mean = args->scratch, *div = mean + g.groups, *sd = div + g.groups;
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
    if (g.total == 0)
        return BNN_OK;
    group_stats(&g, x, mean, div, sd);
    for (int64_t e = 0; e < g.total; e++) {
        int64_t k = group_of(&g, e);
        double v = (x[e] - mean[k]) / div[k];
        if (g.scale) {
            int64_t a = affine_of(&g, e);
            v = v * g.scale[a] + g.bias[a];
        }
        y[e] = (float)v;
    }
    return BNN_OK;
}

static bnn_status group_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    const float *gy = grads->grad_outputs[0].data;
    if (!gy)
        return BNN_OK;
    group_geom g;
    BNN_TRY(group_read(args, &g, diag));
    if (g.total == 0)
        return BNN_OK;
    double *mean = args->scratch, *div = mean + g.groups, *sd = div + g.groups;
    double *sum_h = sd + g.groups, *sum_hx = sum_h + g.groups;
    const float *x = args->inputs[0].data;
    float *gx = grads->grad_inputs[0].data;
    float *gscale = args->n_inputs > 1 ? grads->grad_inputs[1].data : NULL;
    float *gbias = args->n_inputs > 2 ? grads->grad_inputs[2].data : NULL;
    group_stats(&g, x, mean, div, sd);
    memset(sum_h, 0, sizeof(double) * (size_t)g.groups * 2);
    for (int64_t e = 0; e < g.total; e++) {
        int64_t k = group_of(&g, e);
        double h = g.scale ? (double)gy[e] * g.scale[affine_of(&g, e)] : gy[e];
        sum_h[k] += h;
        sum_hx[k] += h * (x[e] - mean[k]);
        if (g.scale && (gscale || gbias)) {
            int64_t a = affine_of(&g, e);
            if (gscale)
                gscale[a] += (float)(gy[e] * (x[e] - mean[k]) / div[k]);
            if (gbias)
                gbias[a] += gy[e];
        }
    }
    if (!gx)
        return BNN_OK;
    double m = (double)g.m;
    for (int64_t e = 0; e < g.total; e++) {
        int64_t k = group_of(&g, e);
        double h = g.scale ? (double)gy[e] * g.scale[affine_of(&g, e)] : gy[e];
        double v = (h - sum_h[k] / m) / div[k];
        if (sd[k] > 0)
            v -= (x[e] - mean[k]) * sum_hx[k] / (div[k] * div[k] * m * sd[k]);
        gx[e] += (float)v;
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_instance_norm = {
    .forward = group_forward, .backward = group_backward, .scratch_size = group_scratch_size};
const bnn_kernel bnn_kernel_group_norm = {
    .forward = group_forward, .backward = group_backward, .scratch_size = group_scratch_size};
const bnn_kernel bnn_kernel_mean_variance_norm = {
    .forward = group_forward, .backward = group_backward, .scratch_size = group_scratch_size};

/* ---- lrn ------------------------------------------------------------------ */

typedef struct lrn_geom {
    int64_t outer, c, inner, before, after; /* window: c - before .. c + after */
    double alpha_n, beta, bias;             /* alpha / size */
} lrn_geom;

static bnn_status lrn_read(const bnn_kernel_args *args, lrn_geom *g, bnn_diag *diag)
{
    BNN_TRY(need_f32(args, diag));
    const bnn_shape *x = &args->inputs[0].shape;
    int64_t size = bnn_node_int(args->node, "size", 0);
    if (x->rank < 3 || size < 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "needs x [N, C, D1, ...] and a positive size");
    g->outer = x->dims[0];
    g->c = x->dims[1];
    g->inner = 1;
    for (int d = 2; d < x->rank; d++)
        g->inner *= x->dims[d];
    g->before = (size - 1) / 2;
    g->after = size - 1 - g->before;
    g->alpha_n = (double)bnn_node_attr_float(args->node, "alpha") / (double)size;
    g->beta = bnn_node_attr_float(args->node, "beta");
    g->bias = bnn_node_attr_float(args->node, "bias");
    return BNN_OK;
}

static size_t lrn_scratch_size(const bnn_kernel_args *args)
{
    return (size_t)bnn_shape_numel(&args->inputs[0].shape) * sizeof(double);
}

/* den[e] = bias + alpha / size * (sum of x^2 over e's channel window). */
static void lrn_denominators(const lrn_geom *g, const float *x, double *den)
{
    for (int64_t n = 0; n < g->outer; n++)
        for (int64_t ch = 0; ch < g->c; ch++) {
            int64_t lo = ch - g->before < 0 ? 0 : ch - g->before;
            int64_t hi = ch + g->after >= g->c ? g->c - 1 : ch + g->after;
            double *d = den + (n * g->c + ch) * g->inner;
            for (int64_t i = 0; i < g->inner; i++) {
                double s = 0;
                for (int64_t k = lo; k <= hi; k++) {
                    double v = x[(n * g->c + k) * g->inner + i];
                    s += v * v;
                }
                d[i] = g->bias + g->alpha_n * s;
            }
        }
}

static bnn_status lrn_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    lrn_geom g;
    BNN_TRY(lrn_read(args, &g, diag));
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
    double *den = args->scratch;
    lrn_denominators(&g, x, den);
    int64_t total = g.outer * g.c * g.inner;
    for (int64_t e = 0; e < total; e++)
        y[e] = (float)(x[e] * pow(den[e], -g.beta));
    return BNN_OK;
}

/* dx[k] = dy[k] den[k]^-beta - 2 alpha/size beta x[k] * sum over the
 * channels c whose window holds k of dy[c] x[c] den[c]^(-beta-1). */
static bnn_status lrn_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    const float *gy = grads->grad_outputs[0].data;
    if (!gx || !gy)
        return BNN_OK;
    lrn_geom g;
    BNN_TRY(lrn_read(args, &g, diag));
    const float *x = args->inputs[0].data;
    double *den = args->scratch;
    lrn_denominators(&g, x, den);
    for (int64_t n = 0; n < g.outer; n++)
        for (int64_t ch = 0; ch < g.c; ch++) {
            /* c's window holds ch when c - before <= ch <= c + after */
            int64_t lo = ch - g.after < 0 ? 0 : ch - g.after;
            int64_t hi = ch + g.before >= g.c ? g.c - 1 : ch + g.before;
            for (int64_t i = 0; i < g.inner; i++) {
                int64_t e = (n * g.c + ch) * g.inner + i;
                double s = 0;
                for (int64_t k = lo; k <= hi; k++) {
                    int64_t f = (n * g.c + k) * g.inner + i;
                    s += gy[f] * (double)x[f] * pow(den[f], -g.beta - 1.0);
                }
                gx[e] += (float)(gy[e] * pow(den[e], -g.beta) - 2.0 * g.alpha_n * g.beta * x[e] * s);
            }
        }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_lrn = {
    .forward = lrn_forward, .backward = lrn_backward, .scratch_size = lrn_scratch_size};
