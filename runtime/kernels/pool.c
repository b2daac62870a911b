/* Pooling: max, average (1, 2 or 3 spatial dims) and global, forward and
 * backward, f32.
 *
 * Every pool works on planes (one per image and channel) and is written for 3
 * spatial dims; fewer dims fill the leading ones with size 1.  A window's
 * in-bounds part is an interval per dim, and the loops run over a block of
 * outputs along W innermost, so they carry no bounds tests and vectorise.
 * Average pooling divides as ONNX does: by the in-bounds elements, or with
 * count_include_pad by the elements inside the padded input (pads count, a
 * ceil_mode overhang past the end pad does not).  A window with nothing in
 * bounds gives 0 (and max passes no gradient there, nor through a window
 * whose elements are all -inf). */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "nn_impl.h"

typedef struct pool_geom {
    int64_t planes;
    int64_t in[3], out[3];
    int64_t k[3], s[3], pb[3], pe[3], d[3];
    int64_t in_size, out_size; /* per plane */
    bool count_include_pad;
} pool_geom;

static bnn_status pool_geometry(const bnn_kernel_args *args, bool global, pool_geom *g,
                                bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *y = &args->outputs[0];
    BNN_TRY(nn_check_dtype(args, x, 0, false, BNN_F32, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, y, 0, true, BNN_F32, BNN_UNDEFINED, diag));
    int rank = x->shape.rank, sd = rank - 2;
    if (rank < 3 || rank > 5 || y->shape.rank != rank || y->shape.dims[0] != x->shape.dims[0] ||
        y->shape.dims[1] != x->shape.dims[1])
        return nn_fail_shape(args, "pooling wants x and output [N, C, spatial...] with 1 to 3 "
                                   "spatial dims", diag);
    g->planes = x->shape.dims[0] * x->shape.dims[1];
    const int64_t *ks = NULL, *strides, *pads, *dil;
    int n_k = global ? sd : bnn_node_ints(args->node, "kernel_shape", &ks);
    int n_s = global ? 0 : bnn_node_ints(args->node, "strides", &strides);
    int n_p = global ? 0 : bnn_node_ints(args->node, "pads", &pads);
    int n_d = global ? 0 : bnn_node_ints(args->node, "dilations", &dil);
    if (n_k != sd || (n_s && n_s != sd) || (n_p && n_p != 2 * sd) || (n_d && n_d != sd))
        return nn_fail_shape(args, "kernel_shape, strides, pads or dilations do not match the "
                                   "spatial rank", diag);
    g->in_size = g->out_size = 1;
    for (int j = 0; j < 3; j++) {
        int i = j - (3 - sd); /* attribute index, < 0 for a filler dim */
        g->in[j] = i < 0 ? 1 : x->shape.dims[2 + i];
        g->out[j] = i < 0 ? 1 : y->shape.dims[2 + i];
        g->k[j] = i < 0 ? 1 : global ? g->in[j] : ks[i];
        g->s[j] = i >= 0 && n_s ? strides[i] : 1;
        g->pb[j] = i >= 0 && n_p ? pads[i] : 0;
        g->pe[j] = i >= 0 && n_p ? pads[sd + i] : 0;
        g->d[j] = i >= 0 && n_d ? dil[i] : 1;
        if (g->k[j] < 1 || g->s[j] < 1 || g->d[j] < 1 || g->pb[j] < 0 || g->pe[j] < 0)
            return nn_fail_shape(args, "invalid kernel_shape, strides, pads or dilations", diag);
        g->in_size *= g->in[j];
        g->out_size *= g->out[j];
    }
    if (global && g->out_size != 1)
        return nn_fail_shape(args, "global pooling output must have spatial size 1", diag);
    g->count_include_pad = bnn_node_int(args->node, "count_include_pad", 0) != 0;
    return BNN_OK;
}

/* The window of output o along dim j: input positions start + k*d[j] for k
 * in [*lo, *hi) are in bounds; *count is how many of its elements the
 * average divides by along this dim. */
static void dim_window(const pool_geom *g, int j, int64_t o, int64_t *start, int64_t *lo,
                       int64_t *hi, int64_t *count)
{
    int64_t st = o * g->s[j] - g->pb[j], d = g->d[j];
    int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
    int64_t end = g->in[j] - st; /* in bounds: k*d < end */
    int64_t h = end <= 0 ? 0 : (end + d - 1) / d;
    int64_t pend = g->in[j] + g->pe[j] - st; /* inside the padded input: k*d < pend */
    int64_t ph = pend <= 0 ? 0 : (pend + d - 1) / d;
    if (h > g->k[j]) h = g->k[j];
    if (ph > g->k[j]) ph = g->k[j];
    if (l > h) l = h;
    *start = st;
    *lo = l;
    *hi = h;
    *count = g->count_include_pad ? ph : h - l;
}

static bool pool_worth_threads(const pool_geom *g)
{
    return g->planes > 1 && g->planes * g->out_size * g->k[0] * g->k[1] * g->k[2] > NN_OMP_MIN_WORK;
}

/* The taps [*c_lo, *c_hi) of the W window that fall inside the input for
 * some output of the block [o0, o1): tap c reads position ow*s + c*d - pb.
 * The others read padding only, so a window far wider than the input (a
 * hostile model's kernel of 20 million) costs what its in-bounds part does. */
static void pool_w_taps(const pool_geom *g, int64_t o0, int64_t o1, int64_t *c_lo,
                        int64_t *c_hi)
{
    int64_t s = g->s[2], d = g->d[2], pb = g->pb[2];
    int64_t first = pb - (o1 - 1) * s;        /* c*d at least this */
    int64_t last = g->in[2] - 1 + pb - o0 * s; /* and at most this */
    int64_t lo = first <= 0 ? 0 : (first + d - 1) / d;
    int64_t hi = last < 0 ? 0 : last / d + 1;
    *c_hi = hi < g->k[2] ? hi : g->k[2];
    *c_lo = lo < *c_hi ? lo : *c_hi;
}

/* Outputs along W are done in blocks of this many, so per-output work
 * (running max, sum, argmax) lives on the stack. */
#define POOL_BLOCK 128

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

/* Walks one block of outputs [o0, o1) of the output row (od, oh): for every
 * in-bounds window element, in (d, h, w) order, runs BODY with `i` the
 * output's index in the block and `at` the element's offset in the plane.
 * Outputs are the innermost loop, with no bounds tests, so BODY vectorises.
 * A macro because max, average and argmax share the walk but not the body. */
#define POOL_VISIT_ROW(g, od, oh, o0, o1, BODY)                                                \
    do {                                                                                       \
        int64_t sd_, ld_, hd_, cd_, sh_, lh_, hh_, ch_;                                        \
        int64_t c0_, c1_;                                                                      \
        dim_window(g, 0, od, &sd_, &ld_, &hd_, &cd_);                                          \
        dim_window(g, 1, oh, &sh_, &lh_, &hh_, &ch_);                                          \
        pool_w_taps(g, o0, o1, &c0_, &c1_);                                                    \
        for (int64_t a_ = ld_; a_ < hd_; a_++)                                                 \
            for (int64_t b_ = lh_; b_ < hh_; b_++) {                                           \
                int64_t row_ = ((sd_ + a_ * (g)->d[0]) * (g)->in[1] + sh_ + b_ * (g)->d[1]) *  \
                               (g)->in[2];                                                     \
                for (int64_t c_ = c0_; c_ < c1_; c_++) {                                       \
                    int64_t lo_, hi_, off_ = c_ * (g)->d[2] - (g)->pb[2];                      \
                    nn_valid_range((g)->pb[2], c_ * (g)->d[2], (g)->s[2], (g)->in[2],          \
                                   (g)->out[2], &lo_, &hi_);                                   \
                    if (lo_ < (o0)) lo_ = (o0);                                                \
                    if (hi_ > (o1)) hi_ = (o1);                                                \
                    for (int64_t ow_ = lo_; ow_ < hi_; ow_++) {                                \
                        int64_t i = ow_ - (o0), at = row_ + ow_ * (g)->s[2] + off_;            \
                        BODY;                                                                  \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
    } while (0)

/* Per-output divisors along W for the block [o0, o1), 0 where the window
 * has nothing in bounds; they are the same for every row. */
static void block_w_counts(const pool_geom *g, int64_t o0, int64_t o1, float *count)
{
    for (int64_t o = o0; o < o1; o++) {
        int64_t st, lo, hi, cw;
        dim_window(g, 2, o, &st, &lo, &hi, &cw);
        count[o - o0] = hi == lo ? 0.0f : (float)cw;
    }
}

/* The D and H factor of the divisor of row (od, oh), 0 for an empty window. */
static float row_count(const pool_geom *g, int64_t od, int64_t oh)
{
    int64_t st, lo, hi, cd, lh, hh, ch;
    dim_window(g, 0, od, &st, &lo, &hi, &cd);
    dim_window(g, 1, oh, &st, &lh, &hh, &ch);
    return hi == lo || hh == lh ? 0.0f : (float)(cd * ch);
}

/* A 2-D 2x2 stride-2 window with every window in bounds (no begin pads,
 * undilated, the output not reaching past the input): the pooling of most
 * CNNs, which gets its own loop without the window walk. */
static bool pool_is_plain_2x2(const pool_geom *g)
{
    return g->in[0] == 1 && g->out[0] == 1 && g->k[0] == 1 && g->k[1] == 2 && g->k[2] == 2 &&
           g->s[1] == 2 && g->s[2] == 2 && g->d[1] == 1 && g->d[2] == 1 && g->pb[1] == 0 &&
           g->pb[2] == 0 && 2 * g->out[1] <= g->in[1] && 2 * g->out[2] <= g->in[2];
}

/* The same result as the general walk: each window's elements are visited in
 * the same (row, column) order, with the same NaN-skipping comparison. */
static void max_pool_2x2(const pool_geom *g, const float *x, float *y)
{
    int64_t iw = g->in[2], ow = g->out[2], oh = g->out[1];
#pragma omp parallel for schedule(static) if (pool_worth_threads(g))
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t i = 0; i < oh; i++) {
            const float *r0 = x + p * g->in_size + 2 * i * iw, *r1 = r0 + iw;
            float *yr = y + p * g->out_size + i * ow;
            for (int64_t j = 0; j < ow; j++) {
                float a = -INFINITY, v;
                v = r0[2 * j]; a = v > a ? v : a;
                v = r0[2 * j + 1]; a = v > a ? v : a;
                v = r1[2 * j]; a = v > a ? v : a;
                v = r1[2 * j + 1]; a = v > a ? v : a;
                yr[j] = a;
            }
        }
}

/* g when cond, else +0, with bit masks: the compiler turns a ?: here back
 * into a branch. */
static inline float only_if(float g, uint32_t cond)
{
    uint32_t u;
    memcpy(&u, &g, sizeof u);
    u &= -cond;
    memcpy(&g, &u, sizeof g);
    return g;
}

/* Backward of max_pool_2x2: the gradient goes to the window's first strict
 * maximum in the same visit order as the general walk; a window of -inf and
 * NaN only passes nothing. */
static void max_pool_2x2_backward(const pool_geom *g, const float *x, const float *gy, float *gx)
{
    int64_t iw = g->in[2], ow = g->out[2], oh = g->out[1];
#pragma omp parallel for schedule(static) if (pool_worth_threads(g))
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t i = 0; i < oh; i++) {
            int64_t base = p * g->in_size + 2 * i * iw;
            const float *gyr = gy + p * g->out_size + i * ow;
            const float *r0 = x + base, *r1 = r0 + iw;
            float *g0 = gx + base, *g1 = g0 + iw;
            /* selects, not branches: on real activations the winner is a coin
             * toss, and mispredicted branches made this the slowest kernel of
             * a LeNet training step */
            for (int64_t j = 0; j < ow; j++) {
                float v0 = r0[2 * j], v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
                float a = -INFINITY;
                uint32_t k = 4, b; /* 4: no winner (all -inf or NaN) */
                b = v0 > a, k ^= (k ^ 0) & -b, a = b ? v0 : a;
                b = v1 > a, k ^= (k ^ 1) & -b, a = b ? v1 : a;
                b = v2 > a, k ^= (k ^ 2) & -b, a = b ? v2 : a;
                b = v3 > a, k ^= (k ^ 3) & -b;
                float g = gyr[j];
                g0[2 * j] += only_if(g, k == 0);
                g0[2 * j + 1] += only_if(g, k == 1);
                g1[2 * j] += only_if(g, k == 2);
                g1[2 * j + 1] += only_if(g, k == 3);
            }
        }
}

static bnn_status pool_forward(const bnn_kernel_args *args, pool_kind kind, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, false, &g, diag));
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
    if (kind == POOL_MAX && pool_is_plain_2x2(&g)) {
        max_pool_2x2(&g, x, y);
        return BNN_OK;
    }
#pragma omp parallel for schedule(static) if (pool_worth_threads(&g))
    for (int64_t p = 0; p < g.planes; p++) {
        const float *xp = x + p * g.in_size;
        float acc[POOL_BLOCK], wcount[POOL_BLOCK];
        for (int64_t o0 = 0; o0 < g.out[2]; o0 += POOL_BLOCK) {
            int64_t o1 = o0 + POOL_BLOCK < g.out[2] ? o0 + POOL_BLOCK : g.out[2], nb = o1 - o0;
            block_w_counts(&g, o0, o1, wcount);
            for (int64_t od = 0; od < g.out[0]; od++)
                for (int64_t oh = 0; oh < g.out[1]; oh++) {
                    float *yr = y + p * g.out_size + (od * g.out[1] + oh) * g.out[2] + o0;
                    float rc = row_count(&g, od, oh);
                    if (kind == POOL_MAX) {
                        for (int64_t i = 0; i < nb; i++)
                            acc[i] = -INFINITY;
                        POOL_VISIT_ROW(&g, od, oh, o0, o1,
                                       acc[i] = xp[at] > acc[i] ? xp[at] : acc[i]);
                        for (int64_t i = 0; i < nb; i++)
                            yr[i] = rc * wcount[i] != 0 ? acc[i] : 0.0f;
                    } else {
                        for (int64_t i = 0; i < nb; i++)
                            acc[i] = 0;
                        POOL_VISIT_ROW(&g, od, oh, o0, o1, acc[i] += xp[at]);
                        for (int64_t i = 0; i < nb; i++) {
                            float c = rc * wcount[i];
                            yr[i] = c != 0 ? acc[i] / c : 0.0f;
                        }
                    }
                }
        }
    }
    return BNN_OK;
}

/* Planes are independent, so threads never share a gradient element.  Max
 * routes each output's gradient to the first maximum of its window. */
static bnn_status pool_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                pool_kind kind, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, false, &g, diag));
    float *gx = grads->grad_inputs[0].data;
    if (!gx)
        return BNN_OK;
    if (g.in_size > INT32_MAX) {
        char label[300];
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: pooling planes above 2^31 elements",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    }
    const float *x = args->inputs[0].data, *gy = grads->grad_outputs[0].data;
    if (kind == POOL_MAX && pool_is_plain_2x2(&g)) {
        max_pool_2x2_backward(&g, x, gy, gx);
        return BNN_OK;
    }
#pragma omp parallel for schedule(static) if (pool_worth_threads(&g))
    for (int64_t p = 0; p < g.planes; p++) {
        const float *xp = x + p * g.in_size;
        float *gxp = gx + p * g.in_size;
        float acc[POOL_BLOCK], wcount[POOL_BLOCK];
        int32_t arg[POOL_BLOCK]; /* 32-bit, so the select vectorises with the float compare */
        for (int64_t o0 = 0; o0 < g.out[2]; o0 += POOL_BLOCK) {
            int64_t o1 = o0 + POOL_BLOCK < g.out[2] ? o0 + POOL_BLOCK : g.out[2], nb = o1 - o0;
            block_w_counts(&g, o0, o1, wcount);
            for (int64_t od = 0; od < g.out[0]; od++)
                for (int64_t oh = 0; oh < g.out[1]; oh++) {
                    const float *gyr = gy + p * g.out_size + (od * g.out[1] + oh) * g.out[2] + o0;
                    if (kind == POOL_MAX) {
                        for (int64_t i = 0; i < nb; i++) {
                            acc[i] = -INFINITY;
                            arg[i] = -1;
                        }
                        /* an all -inf window keeps -1 and passes no gradient */
                        /* with masks, not branches: random data mispredicts half of them */
                        POOL_VISIT_ROW(&g, od, oh, o0, o1, float v = xp[at];
                                       int32_t m = -(int32_t)(v > acc[i]);
                                       arg[i] = (arg[i] & ~m) | ((int32_t)at & m);
                                       acc[i] = acc[i] < v ? v : acc[i]);
                        for (int64_t i = 0; i < nb; i++)
                            if (arg[i] >= 0)
                                gxp[arg[i]] += gyr[i];
                    } else {
                        float rc = row_count(&g, od, oh);
                        for (int64_t i = 0; i < nb; i++) {
                            float c = rc * wcount[i];
                            acc[i] = c != 0 ? gyr[i] / c : 0.0f;
                        }
                        POOL_VISIT_ROW(&g, od, oh, o0, o1, gxp[at] += acc[i]);
                    }
                }
        }
    }
    return BNN_OK;
}

static bnn_status max_pool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return pool_forward(args, POOL_MAX, diag);
}

static bnn_status max_pool_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                    bnn_diag *diag)
{
    return pool_backward(args, grads, POOL_MAX, diag);
}

static bnn_status avg_pool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return pool_forward(args, POOL_AVG, diag);
}

static bnn_status avg_pool_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                    bnn_diag *diag)
{
    return pool_backward(args, grads, POOL_AVG, diag);
}

const bnn_kernel bnn_kernel_max_pool = {.forward = max_pool_forward, .backward = max_pool_backward};
const bnn_kernel bnn_kernel_avg_pool = {.forward = avg_pool_forward, .backward = avg_pool_backward};

/* ---- global pools ----------------------------------------------------------- */

static int64_t plane_argmax(const float *xp, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (xp[i] > xp[best] || (isnan(xp[i]) && !isnan(xp[best])))
            best = i;
    return best;
}

static bool global_worth_threads(const pool_geom *g)
{
    return g->planes > 1 && g->planes * g->in_size > NN_OMP_MIN_WORK;
}

static bnn_status global_avg_pool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, true, &g, diag));
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
#pragma omp parallel for schedule(static) if (global_worth_threads(&g))
    for (int64_t p = 0; p < g.planes; p++) {
        const float *xp = x + p * g.in_size;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < g.in_size; i++)
            s += xp[i];
        y[p] = g.in_size ? s / (float)g.in_size : 0.0f;
    }
    return BNN_OK;
}

static bnn_status global_avg_pool_backward(const bnn_kernel_args *args,
                                           const bnn_kernel_grads *grads, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, true, &g, diag));
    float *gx = grads->grad_inputs[0].data;
    const float *gy = grads->grad_outputs[0].data;
    if (!gx || !g.in_size)
        return BNN_OK;
#pragma omp parallel for schedule(static) if (global_worth_threads(&g))
    for (int64_t p = 0; p < g.planes; p++) {
        float share = gy[p] / (float)g.in_size, *gxp = gx + p * g.in_size;
        for (int64_t i = 0; i < g.in_size; i++)
            gxp[i] += share;
    }
    return BNN_OK;
}

static bnn_status global_max_pool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, true, &g, diag));
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
#pragma omp parallel for schedule(static) if (global_worth_threads(&g))
    for (int64_t p = 0; p < g.planes; p++)
        y[p] = g.in_size ? x[p * g.in_size + plane_argmax(x + p * g.in_size, g.in_size)] : 0.0f;
    return BNN_OK;
}

static bnn_status global_max_pool_backward(const bnn_kernel_args *args,
                                           const bnn_kernel_grads *grads, bnn_diag *diag)
{
    pool_geom g;
    BNN_TRY(pool_geometry(args, true, &g, diag));
    float *gx = grads->grad_inputs[0].data;
    const float *x = args->inputs[0].data, *gy = grads->grad_outputs[0].data;
    if (!gx || !g.in_size)
        return BNN_OK;
    for (int64_t p = 0; p < g.planes; p++)
        gx[p * g.in_size + plane_argmax(x + p * g.in_size, g.in_size)] += gy[p];
    return BNN_OK;
}

const bnn_kernel bnn_kernel_global_avg_pool = {.forward = global_avg_pool_forward,
                                               .backward = global_avg_pool_backward};
const bnn_kernel bnn_kernel_global_max_pool = {.forward = global_max_pool_forward,
                                               .backward = global_max_pool_backward};
