/* Resampling kernels: resize (ONNX Resize and Upsample), depth_to_space and
 * space_to_depth.
 *
 * resize is separable: each axis that changes gets, for every output
 * coordinate, a short list of (input index, weight) taps, computed once per
 * call into scratch; an output element is the sum over the product of its
 * axes' taps.  Taps past an edge are clamped onto it (ONNX pads with the
 * edge), so the gradient, which scatters each output gradient back through
 * the same taps, lands on the edge too. */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "resample_impl.h"

#define PAR_MIN 16384 /* output elements below which threads cost more than they give */

/* ---- resize: per-axis taps ------------------------------------------------ */

typedef struct resize_geom {
    bnn_resize_spec s;
    int rank;
    int64_t in[BNN_MAX_RANK], out[BNN_MAX_RANK], stride[BNN_MAX_RANK];
    double scale[BNN_MAX_RANK];
    int n_active;             /* axes that change, in order */
    int active[BNN_MAX_RANK];
    int taps[BNN_MAX_RANK];   /* per active axis j */
    int64_t *idx[BNN_MAX_RANK];        /* out * taps, scratch */
    float *w[BNN_MAX_RANK];            /* out * taps, scratch */
    unsigned char *outside[BNN_MAX_RANK]; /* out flags (tf_crop_and_resize), scratch */
} resize_geom;

/* The most taps one call may hold: antialias at a tiny scale widens the
 * kernel to about 4/scale taps per output coordinate. */
#define MAX_TAPS ((int64_t)1 << 26)

static int64_t taps_per_point(const bnn_resize_spec *s, double scale)
{
    bool wide = s->antialias && scale < 1.0;
    switch (s->mode) {
    case BNN_RESIZE_NEAREST: return 1;
    case BNN_RESIZE_LINEAR: {
        if (!wide)
            return 2;
        double start = floor(-1.0 / scale) + 1.0;
        return 2.0 - 2.0 * start > (double)MAX_TAPS ? MAX_TAPS + 1 : (int64_t)(2.0 - 2.0 * start);
    }
    case BNN_RESIZE_CUBIC: {
        if (!wide)
            return 4;
        double start = floor(-2.0 / scale) + 1.0;
        return 2.0 - 2.0 * start > (double)MAX_TAPS ? MAX_TAPS + 1 : (int64_t)(2.0 - 2.0 * start);
    }
    }
    return 1;
}

/* Reads the node against the call's shapes; no scratch yet. */
static bnn_status resize_read(const bnn_kernel_args *args, resize_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *y = &args->outputs[0];
    char err[300];
    memset(g, 0, sizeof *g);
    if (!bnn_resize_read(args->node, x->shape.rank, &g->s, err, sizeof err))
        return bnn_kernel_fail(args, diag, BNN_ERR_INVALID, "%s", err);
    if (g->s.mode != BNN_RESIZE_NEAREST && x->dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "%s mode needs f32 data, not %s",
                               g->s.mode == BNN_RESIZE_LINEAR ? "linear" : "cubic",
                               bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "?");
    if (g->s.coord == BNN_COORD_TF_CROP_AND_RESIZE && x->dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                               "tf_crop_and_resize needs f32 data (its extrapolation value is a float)");
    if (y->dtype != x->dtype || y->shape.rank != x->shape.rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output does not match the input's type and rank");
    g->rank = x->shape.rank;
    int64_t total = 0;
    for (int d = g->rank - 1; d >= 0; d--) {
        g->in[d] = x->shape.dims[d];
        g->out[d] = y->shape.dims[d];
        g->stride[d] = d == g->rank - 1 ? 1 : g->stride[d + 1] * g->in[d + 1];
        if (bnn_resize_out_dim(&g->s, d, g->in[d]) != g->out[d])
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE,
                                   "output dim %d is %lld, but the attributes give %lld", d,
                                   (long long)g->out[d],
                                   (long long)bnn_resize_out_dim(&g->s, d, g->in[d]));
        if (g->in[d] == 0 && g->out[d] > 0)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "axis %d of the input is empty", d);
        g->scale[d] = bnn_resize_scale(&g->s, d, g->in[d], g->out[d]);
    }
    for (int d = 0; d < g->rank; d++) {
        if (bnn_resize_axis_identity(&g->s, d, g->in[d], g->out[d]))
            continue;
        int64_t n = taps_per_point(&g->s, g->scale[d]);
        total += n * g->out[d];
        if (n > MAX_TAPS || total > MAX_TAPS)
            return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                                   "axis %d needs more than 2^26 interpolation taps "
                                   "(antialias at scale %g)", d, g->scale[d]);
        g->taps[g->n_active] = (int)n;
        g->active[g->n_active++] = d;
    }
    return BNN_OK;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t geom_bytes(const resize_geom *g)
{
    size_t bytes = 0;
    for (int j = 0; j < g->n_active; j++) {
        size_t pts = (size_t)g->out[g->active[j]], n = (size_t)g->taps[j];
        bytes += pts * n * sizeof(int64_t) + align8(pts * n * sizeof(float)) + align8(pts);
    }
    return bytes;
}

static size_t resize_scratch_size(const bnn_kernel_args *args)
{
    resize_geom g;
    bnn_diag quiet = {0};
    if (resize_read(args, &g, &quiet) != BNN_OK)
        return 0; /* forward reports it */
    return geom_bytes(&g);
}

/* Where output coordinate y of an axis of `in` elements falls in the input,
 * by ONNX's coordinate_transformation_mode; *outside when tf_crop_and_resize
 * puts it past the input. */
static double source_coord(const bnn_resize_spec *s, int axis, double y, int64_t in,
                           int64_t out, double scale, bool *outside)
{
    double out_len = scale * (double)in; /* ONNX's unrounded output length */
    double last = (double)(in - 1);
    *outside = false;
    switch (s->coord) {
    case BNN_COORD_ALIGN_CORNERS: return out_len == 1.0 ? 0.0 : y * last / (out_len - 1.0);
    case BNN_COORD_ASYMMETRIC: return y / scale;
    case BNN_COORD_TF_CROP_AND_RESIZE: {
        double a = s->roi_start[axis], b = s->roi_end[axis];
        double x = out_len == 1.0 ? (b - a) * last / 2.0 : y * (b - a) * last / (out_len - 1.0);
        x += a * last;
        *outside = x < 0.0 || x > last;
        return x;
    }
    case BNN_COORD_PYTORCH_HALF_PIXEL: return out_len == 1.0 ? -0.5 : (y + 0.5) / scale - 0.5;
    case BNN_COORD_HALF_PIXEL: return (y + 0.5) / scale - 0.5;
    case BNN_COORD_HALF_PIXEL_SYMMETRIC: {
        double offset = (double)in / 2.0 * (1.0 - (double)out / out_len);
        return offset + (y + 0.5) / scale - 0.5;
    }
    case BNN_COORD_TF_HALF_PIXEL_FOR_NN: return (y + 0.5) / scale;
    }
    return y;
}

/* The interpolation kernel at distance t (in input pixels, already scaled
 * by the antialias factor). */
static double kernel_at(const bnn_resize_spec *s, double t)
{
    t = fabs(t);
    if (s->mode == BNN_RESIZE_LINEAR)
        return t < 1.0 ? 1.0 - t : 0.0;
    double a = s->cubic_a;
    if (t <= 1.0)
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    if (t < 2.0)
        return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a;
    return 0.0;
}

static int64_t clamp_index(int64_t i, int64_t in) { return i < 0 ? 0 : i >= in ? in - 1 : i; }

/* The taps of one output coordinate whose source is x. */
static void point_taps(const bnn_resize_spec *s, double x, double scale, int n, int64_t in,
                       int64_t *idx, float *w)
{
    /* Far outside, every tap lands on the edge anyway; keeps the casts safe. */
    double lim = (double)in + (double)n + 2.0;
    x = isnan(x) ? 0.0 : x < -lim ? -lim : x > lim ? lim : x;
    double f = floor(x);
    int64_t p = (int64_t)f;
    if (s->mode == BNN_RESIZE_NEAREST) {
        if (x != f) {
            double r = x - f;
            bool up = s->round == BNN_ROUND_PREFER_FLOOR  ? r > 0.5
                      : s->round == BNN_ROUND_PREFER_CEIL ? r >= 0.5
                                                          : s->round == BNN_ROUND_CEIL;
            p += up;
        }
        idx[0] = clamp_index(p, in);
        w[0] = 1.0f;
        return;
    }
    /* The n input indices nearest x, ties to the smaller: an integral x sits
     * right of the window's middle (weight 0 on the far left tap). */
    int64_t start = x == f ? p - n / 2 : p - n / 2 + 1;
    double aa = s->antialias && scale < 1.0 ? scale : 1.0, sum = 0.0;
    for (int k = 0; k < n; k++) {
        int64_t j = start + k;
        double v = kernel_at(s, ((double)j - x) * aa);
        if (s->exclude_outside && (j < 0 || j >= in))
            v = 0.0;
        sum += v;
    }
    bool normalise = (s->antialias || s->exclude_outside) && sum != 0.0;
    for (int k = 0; k < n; k++) {
        int64_t j = start + k;
        double v = kernel_at(s, ((double)j - x) * aa);
        if (s->exclude_outside && (j < 0 || j >= in))
            v = 0.0;
        w[k] = (float)(normalise ? v / sum : v);
        idx[k] = clamp_index(j, in);
    }
}

/* resize_read, then the taps into scratch. */
static bnn_status resize_setup(const bnn_kernel_args *args, resize_geom *g, bnn_diag *diag)
{
    BNN_TRY(resize_read(args, g, diag));
    unsigned char *p = args->scratch;
    for (int j = 0; j < g->n_active; j++) {
        int d = g->active[j], n = g->taps[j];
        int64_t pts = g->out[d];
        g->idx[j] = (int64_t *)(void *)p;
        p += (size_t)(pts * n) * sizeof(int64_t);
        g->w[j] = (float *)(void *)p;
        p += align8((size_t)(pts * n) * sizeof(float));
        g->outside[j] = p;
        p += align8((size_t)pts);
        for (int64_t y = 0; y < pts; y++) {
            bool out;
            double x = source_coord(&g->s, d, (double)y, g->in[d], g->out[d], g->scale[d], &out);
            g->outside[j][y] = out;
            point_taps(&g->s, x, g->scale[d], n, g->in[d], g->idx[j] + y * n, g->w[j] + y * n);
        }
    }
    return BNN_OK;
}

/* The input offset of output element o along the axes kept as they are, its
 * coordinate along each active axis into pos[], and whether any of them is
 * outside the crop. */
static int64_t split_output(const resize_geom *g, int64_t o, int64_t *pos, bool *outside)
{
    int64_t coord[BNN_MAX_RANK], base = 0;
    for (int d = g->rank - 1; d >= 0; d--) {
        coord[d] = o % g->out[d];
        o /= g->out[d];
    }
    int j = 0;
    *outside = false;
    for (int d = 0; d < g->rank; d++) {
        if (j < g->n_active && g->active[j] == d) {
            pos[j] = coord[d];
            *outside |= g->outside[j][coord[d]] != 0;
            j++;
        } else {
            base += coord[d] * g->stride[d];
        }
    }
    return base;
}

/* Visits every tap combination of output element o: FN(offset, weight). */
#define FOR_EACH_TAP(g, base, pos, OFF, W, BODY)                                              \
    do {                                                                                      \
        int t_[BNN_MAX_RANK] = {0};                                                           \
        for (;;) {                                                                            \
            int64_t OFF = (base);                                                             \
            float W = 1.0f;                                                                   \
            for (int j_ = 0; j_ < (g)->n_active; j_++) {                                      \
                int64_t k_ = (pos)[j_] * (g)->taps[j_] + t_[j_];                              \
                OFF += (g)->idx[j_][k_] * (g)->stride[(g)->active[j_]];                       \
                W *= (g)->w[j_][k_];                                                          \
            }                                                                                 \
            BODY;                                                                             \
            int j_ = (g)->n_active - 1;                                                       \
            while (j_ >= 0 && ++t_[j_] == (g)->taps[j_])                                      \
                t_[j_--] = 0;                                                                 \
            if (j_ < 0)                                                                       \
                break;                                                                        \
        }                                                                                     \
    } while (0)

static bnn_status resize_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    resize_geom g;
    BNN_TRY(resize_setup(args, &g, diag));
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    int64_t n = bnn_tensor_numel(y);
    if (n == 0)
        return BNN_OK;
    if (g.s.mode == BNN_RESIZE_NEAREST && g.s.coord != BNN_COORD_TF_CROP_AND_RESIZE) {
        /* One tap per axis: a gather of whole elements, any type, a row
         * (the last axis) at a time. */
        size_t es = bnn_dtype_size(x->dtype);
        const unsigned char *src = x->data;
        unsigned char *dst = y->data;
        int last = g.rank - 1;
        int64_t width = g.out[last], rows = n / width;
        const int64_t *col = g.n_active && g.active[g.n_active - 1] == last ? g.idx[g.n_active - 1] : NULL;
        #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            int64_t pos[BNN_MAX_RANK];
            bool out;
            int64_t base = split_output(&g, r * width, pos, &out);
            for (int j = 0; j < g.n_active; j++)
                if (g.active[j] != last)
                    base += g.idx[j][pos[j]] * g.stride[g.active[j]];
            unsigned char *o = dst + (size_t)(r * width) * es;
            if (!col) {
                memcpy(o, src + (size_t)base * es, (size_t)width * es);
            } else if (es == 4) {
                const uint32_t *s4 = (const uint32_t *)(const void *)src + base;
                uint32_t *o4 = (uint32_t *)(void *)o;
                for (int64_t k = 0; k < width; k++)
                    o4[k] = s4[col[k]];
            } else {
                for (int64_t k = 0; k < width; k++)
                    memcpy(o + (size_t)k * es, src + (size_t)(base + col[k]) * es, es);
            }
        }
        return BNN_OK;
    }
    const float *xs = x->data;
    float *ys = y->data;
    float extrapolation = g.s.extrapolation;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t o = 0; o < n; o++) {
        int64_t pos[BNN_MAX_RANK];
        bool out;
        int64_t base = split_output(&g, o, pos, &out);
        if (out) {
            ys[o] = extrapolation;
            continue;
        }
        float acc = 0.0f;
        FOR_EACH_TAP(&g, base, pos, off, w, acc += w * xs[off]);
        ys[o] = acc;
    }
    return BNN_OK;
}

static bnn_status resize_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    const float *gy = grads->grad_outputs[0].data;
    if (!gx || !gy)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    resize_geom g;
    BNN_TRY(resize_setup(args, &g, diag));
    int64_t n = bnn_tensor_numel(&args->outputs[0]);
    /* Taps of different outputs meet on one input: a serial scatter. */
    for (int64_t o = 0; o < n; o++) {
        int64_t pos[BNN_MAX_RANK];
        bool out;
        int64_t base = split_output(&g, o, pos, &out);
        if (out) /* the extrapolation value does not depend on x */
            continue;
        float go = gy[o];
        FOR_EACH_TAP(&g, base, pos, off, w, gx[off] += w * go);
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_resize = {
    .forward = resize_forward,
    .backward = resize_backward,
    .scratch_size = resize_scratch_size,
};

/* ---- depth_to_space, space_to_depth ---------------------------------------- */

/* Both are one permutation between a [N, C, H, W] tensor in "depth" form
 * (d: C*b*b channels at H, W) and one in "space" form (s: C channels at
 * H*b, W*b); block_source gives, for element e of the space form, the
 * element of the depth form it corresponds to. */
typedef struct block_geom {
    int64_t n, c, h, w, b; /* the space form's channels, the depth form's H, W */
    bool crd;
} block_geom;

static bnn_status block_read(const bnn_kernel_args *args, bool to_space, block_geom *g,
                             bnn_diag *diag)
{
    const bnn_shape *x = &args->inputs[0].shape, *y = &args->outputs[0].shape;
    const bnn_shape *depth = to_space ? x : y, *space = to_space ? y : x;
    int64_t b = bnn_node_int(args->node, "blocksize", 0);
    if (x->rank != 4 || y->rank != 4 || b < 1)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "needs 4-D tensors and a positive blocksize");
    if (args->inputs[0].dtype != args->outputs[0].dtype)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output type differs from the input's");
    *g = (block_geom){ .n = space->dims[0], .c = space->dims[1], .h = depth->dims[2],
                       .w = depth->dims[3], .b = b };
    if (depth->dims[0] != g->n || depth->dims[1] != g->c * b * b || space->dims[2] != g->h * b ||
        space->dims[3] != g->w * b)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "input and output shapes do not match blocksize %lld",
                               (long long)b);
    g->crd = to_space && strcmp(bnn_node_string(args->node, "mode", "DCR"), "CRD") == 0;
    return BNN_OK;
}

static int64_t block_source(const block_geom *g, int64_t e)
{
    int64_t sw = g->w * g->b, sh = g->h * g->b;
    int64_t x = e % sw, y = e / sw % sh, c = e / (sw * sh) % g->c, n = e / (sw * sh * g->c);
    int64_t i = y % g->b, j = x % g->b;
    int64_t dc = g->crd ? (c * g->b + i) * g->b + j : (i * g->b + j) * g->c + c;
    return ((n * g->c * g->b * g->b + dc) * g->h + y / g->b) * g->w + x / g->b;
}

static bnn_status block_forward(const bnn_kernel_args *args, bool to_space, bnn_diag *diag)
{
    block_geom g;
    BNN_TRY(block_read(args, to_space, &g, diag));
    size_t es = bnn_dtype_size(args->inputs[0].dtype);
    const unsigned char *src = args->inputs[0].data;
    unsigned char *dst = args->outputs[0].data;
    int64_t total = bnn_tensor_numel(&args->outputs[0]);
    #pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t e = 0; e < total; e++) {
        int64_t d = block_source(&g, e);
        if (to_space)
            memcpy(dst + (size_t)e * es, src + (size_t)d * es, es);
        else
            memcpy(dst + (size_t)d * es, src + (size_t)e * es, es);
    }
    return BNN_OK;
}

static bnn_status block_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bool to_space, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    const float *gy = grads->grad_outputs[0].data;
    if (!gx || !gy)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    block_geom g;
    BNN_TRY(block_read(args, to_space, &g, diag));
    int64_t total = bnn_tensor_numel(&args->outputs[0]);
    /* a permutation: no two elements meet, so threads may share it */
    #pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t e = 0; e < total; e++) {
        int64_t d = block_source(&g, e);
        if (to_space)
            gx[d] += gy[e];
        else
            gx[e] += gy[d];
    }
    return BNN_OK;
}

static bnn_status d2s_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return block_forward(args, true, diag);
}
static bnn_status d2s_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    return block_backward(args, grads, true, diag);
}
static bnn_status s2d_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return block_forward(args, false, diag);
}
static bnn_status s2d_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                               bnn_diag *diag)
{
    return block_backward(args, grads, false, diag);
}

const bnn_kernel bnn_kernel_depth_to_space = {.forward = d2s_forward, .backward = d2s_backward};
const bnn_kernel bnn_kernel_space_to_depth = {.forward = s2d_forward, .backward = s2d_backward};

/* ---- grid_sample ------------------------------------------------------------ */

typedef enum gs_pad { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

typedef struct gs_axis {
    int64_t len;
    double lo, hi; /* the borders reflection mirrors at */
} gs_axis;

/* Mirrors x at lo and hi until it lies between them. */
static double gs_reflect(double x, double lo, double hi)
{
    double range = hi - lo;
    if (!(range > 0))
        return lo;
    if (x < lo) {
        double d = lo - x, k = floor(d / range), r = d - k * range;
        return fmod(k, 2.0) == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double d = x - hi, k = floor(d / range), r = d - k * range;
        return fmod(k, 2.0) == 0 ? hi - r : lo + r;
    }
    return x;
}

/* The index to read for integer coordinate i, or -1 for a zero. */
static int64_t gs_index(double i, const gs_axis *a, gs_pad pad)
{
    if (pad == GS_REFLECTION)
        i = trunc(gs_reflect(i, a->lo, a->hi));
    if (i >= 0 && i < (double)a->len)
        return (int64_t)i;
    if (pad == GS_ZEROS)
        return -1;
    return i < 0 ? 0 : a->len - 1;
}

static double gs_cubic(double t, int k)
{
    const double A = -0.75;
    double d = k == 0 ? t + 1 : k == 1 ? t : k == 2 ? 1 - t : 2 - t;
    return d <= 1 ? ((A + 2) * d - (A + 3)) * d * d + 1 : ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
}

/* dK/dd of Keys' kernel at distance d >= 0 (a = -0.75). */
static double gs_cubic_slope(double d)
{
    const double A = -0.75;
    return d <= 1 ? (3 * (A + 2) * d - 2 * (A + 3)) * d : (3 * A * d - 10 * A) * d + 8 * A;
}

typedef struct gs_geom {
    int taps; /* 0 nearest, 2 bilinear, 4 bicubic */
    gs_pad pad;
    bool ac;
    int64_t N, C, H, W, Ho, Wo;
    gs_axis ax[2]; /* y (H), then x (W) */
} gs_geom;

/* One sample point's taps along y and x: input indices (-1: a zero), their
 * weights, the weights' derivatives by the coordinate, and the
 * coordinate's derivative by the grid value (0 where border clamps it,
 * negated where reflection mirrors it an odd number of times). */
typedef struct gs_point {
    int n;
    int64_t idx[2][4];
    double w[2][4], dw[2][4], slope[2];
} gs_point;

static bnn_status gs_read(const bnn_kernel_args *args, gs_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *grid = &args->inputs[1], *y = &args->outputs[0];
    if (x->dtype != BNN_F32 || grid->dtype != BNN_F32 || y->dtype != BNN_F32)
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "needs f32 input and grid");
    if (x->shape.rank != 4 || grid->shape.rank != 4 || grid->shape.dims[3] != 2 ||
        grid->shape.dims[0] != x->shape.dims[0] || y->shape.rank != 4 ||
        y->shape.dims[0] != x->shape.dims[0] || y->shape.dims[1] != x->shape.dims[1] ||
        y->shape.dims[2] != grid->shape.dims[1] || y->shape.dims[3] != grid->shape.dims[2])
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "shapes do not fit x [N, C, H, W], grid [N, Ho, Wo, 2]");
    const char *mode = bnn_node_string(args->node, "mode", "bilinear");
    const char *pads = bnn_node_string(args->node, "padding_mode", "zeros");
    g->taps = strcmp(mode, "nearest") == 0 ? 0
              : strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0 ? 2
                                                                              : 4;
    g->pad = strcmp(pads, "border") == 0 ? GS_BORDER : strcmp(pads, "reflection") == 0 ? GS_REFLECTION
                                                                                        : GS_ZEROS;
    g->ac = bnn_node_int(args->node, "align_corners", 0) != 0;
    g->N = x->shape.dims[0], g->C = x->shape.dims[1], g->H = x->shape.dims[2], g->W = x->shape.dims[3];
    g->Ho = y->shape.dims[2], g->Wo = y->shape.dims[3];
    int64_t len[2] = { g->H, g->W };
    for (int d = 0; d < 2; d++)
        g->ax[d] = (gs_axis){ len[d], g->ac ? 0 : -0.5, g->ac ? (double)len[d] - 1 : (double)len[d] - 0.5 };
    return BNN_OK;
}

/* gv: the point's two grid values (x, y). */
static void gs_point_taps(const gs_geom *g, const float *gv, gs_point *pt)
{
    pt->n = g->taps ? g->taps : 1;
    for (int d = 0; d < 2; d++) {
        const gs_axis *a = &g->ax[d];
        double v = gv[1 - d], len = (double)a->len;
        /* ONNX's reference keeps the unnormalised coordinate in f32 */
        double pos = (float)(g->ac ? (v + 1) / 2.0 * (len - 1) : ((v + 1) * len - 1) / 2.0);
        pt->slope[d] = g->ac ? (len - 1) / 2.0 : len / 2.0;
        if (g->taps == 0)
            pos = nearbyint(pos);
        if (pos < a->lo || pos > a->hi) {
            if (g->pad == GS_BORDER) {
                pos = pos < 0 ? 0 : pos > len - 1 ? len - 1 : pos;
                pt->slope[d] = 0;
            } else if (g->pad == GS_REFLECTION) {
                double range = a->hi - a->lo, dist = pos < a->lo ? a->lo - pos : pos - a->hi;
                double k = range > 0 ? floor(dist / range) : 0;
                pt->slope[d] *= fmod(k, 2.0) == 0 ? -1 : 1;
                pos = gs_reflect(pos, a->lo, a->hi);
            }
        }
        if (g->taps == 0) {
            pt->idx[d][0] = gs_index(trunc(pos), a, g->pad);
            pt->w[d][0] = 1;
            pt->dw[d][0] = 0;
            continue;
        }
        double f = floor(pos), t = pos - f;
        for (int k = 0; k < g->taps; k++) {
            pt->idx[d][k] = gs_index(g->taps == 2 ? f + k : f - 1 + k, a, g->pad);
            if (g->taps == 2) {
                pt->w[d][k] = k ? t : 1 - t;
                pt->dw[d][k] = k ? 1 : -1;
            } else {
                double dist = k == 0 ? t + 1 : k == 1 ? t : k == 2 ? 1 - t : 2 - t;
                pt->w[d][k] = gs_cubic(t, k);
                pt->dw[d][k] = gs_cubic_slope(dist) * (k < 2 ? 1 : -1);
            }
        }
    }
}

static bnn_status grid_sample_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    gs_geom g;
    BNN_TRY(gs_read(args, &g, diag));
    const float *xs = args->inputs[0].data, *gs = args->inputs[1].data;
    float *ys = args->outputs[0].data;
    int64_t points = g.N * g.Ho * g.Wo;
    #pragma omp parallel for schedule(static) if (points * g.C >= PAR_MIN)
    for (int64_t p = 0; p < points; p++) {
        int64_t n = p / (g.Ho * g.Wo), o = p % (g.Ho * g.Wo);
        gs_point pt;
        gs_point_taps(&g, gs + p * 2, &pt);
        for (int64_t ch = 0; ch < g.C; ch++) {
            const float *plane = xs + (n * g.C + ch) * g.H * g.W;
            double acc = 0;
            for (int a = 0; a < pt.n; a++)
                for (int b = 0; b < pt.n; b++)
                    if (pt.idx[0][a] >= 0 && pt.idx[1][b] >= 0)
                        acc += pt.w[0][a] * pt.w[1][b] * plane[pt.idx[0][a] * g.W + pt.idx[1][b]];
            ys[(n * g.C + ch) * g.Ho * g.Wo + o] = (float)acc;
        }
    }
    return BNN_OK;
}

/* To x: each output gradient through the same taps.  To the grid: the
 * weights' slopes times the pixels, times the coordinate's slope (nearest's
 * is zero: its output is piecewise constant in the grid). */
static bnn_status grid_sample_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                       bnn_diag *diag)
{
    const float *gy = grads->grad_outputs[0].data;
    float *gx = grads->grad_inputs[0].data, *gg = grads->grad_inputs[1].data;
    if (!gy || (!gx && !gg))
        return BNN_OK;
    gs_geom g;
    BNN_TRY(gs_read(args, &g, diag));
    const float *xs = args->inputs[0].data, *gs = args->inputs[1].data;
    int64_t points = g.N * g.Ho * g.Wo;
    for (int64_t p = 0; p < points; p++) {
        int64_t n = p / (g.Ho * g.Wo), o = p % (g.Ho * g.Wo);
        gs_point pt;
        gs_point_taps(&g, gs + p * 2, &pt);
        double dpos[2] = { 0, 0 };
        for (int64_t ch = 0; ch < g.C; ch++) {
            double go = gy[(n * g.C + ch) * g.Ho * g.Wo + o];
            const float *plane = xs + (n * g.C + ch) * g.H * g.W;
            for (int a = 0; a < pt.n; a++)
                for (int b = 0; b < pt.n; b++) {
                    if (pt.idx[0][a] < 0 || pt.idx[1][b] < 0)
                        continue;
                    int64_t at = pt.idx[0][a] * g.W + pt.idx[1][b];
                    if (gx)
                        gx[(n * g.C + ch) * g.H * g.W + at] += (float)(go * pt.w[0][a] * pt.w[1][b]);
                    dpos[0] += go * pt.dw[0][a] * pt.w[1][b] * plane[at];
                    dpos[1] += go * pt.w[0][a] * pt.dw[1][b] * plane[at];
                }
        }
        if (gg) { /* grid holds (x, y) */
            gg[p * 2] += (float)(dpos[1] * pt.slope[1]);
            gg[p * 2 + 1] += (float)(dpos[0] * pt.slope[0]);
        }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_grid_sample = {.forward = grid_sample_forward, .backward = grid_sample_backward};

/* ---- max_unpool ---------------------------------------------------------------- */

/* Where index i (flat over [N, C, index_shape...]) lands in the output
 * [N, C, output_shape...]: the same coordinates. */
typedef struct unpool_geom {
    int nsp;
    int64_t nc, idx_dims[BNN_MAX_RANK], out_dims[BNN_MAX_RANK], idx_total;
    bool same;
} unpool_geom;

static int64_t unpool_at(const bnn_tensor *ind, int64_t e)
{
    return ind->dtype == BNN_I64 ? ((const int64_t *)ind->data)[e] : ((const int32_t *)ind->data)[e];
}

static int64_t unpool_place(const unpool_geom *g, int64_t i)
{
    if (g->same)
        return i;
    int64_t coord[BNN_MAX_RANK], off = 0;
    for (int d = g->nsp - 1; d >= 0; d--) {
        coord[d] = i % g->idx_dims[d];
        i /= g->idx_dims[d];
    }
    off = i; /* n * C + c */
    for (int d = 0; d < g->nsp; d++)
        off = off * g->out_dims[d] + coord[d];
    return off;
}

static bnn_status unpool_check(const bnn_kernel_args *args, unpool_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *ind = &args->inputs[1], *y = &args->outputs[0];
    if (x->dtype != BNN_F32 || y->dtype != BNN_F32 || (ind->dtype != BNN_I64 && ind->dtype != BNN_I32))
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "needs f32 data and i64 or i32 indices");
    if (!bnn_shape_equal(&x->shape, &ind->shape) || x->shape.rank < 3 || y->shape.rank != x->shape.rank ||
        y->shape.dims[0] != x->shape.dims[0] || y->shape.dims[1] != x->shape.dims[1])
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "indices, input and output shapes do not fit");
    const int64_t *is;
    int ni = bnn_node_ints(args->node, "index_shape", &is);
    g->nsp = x->shape.rank - 2;
    g->nc = x->shape.dims[0] * x->shape.dims[1];
    g->idx_total = g->nc;
    g->same = true;
    for (int d = 0; d < g->nsp; d++) {
        g->out_dims[d] = y->shape.dims[2 + d];
        g->idx_dims[d] = ni == g->nsp ? is[d] : g->out_dims[d];
        if (g->idx_dims[d] > g->out_dims[d])
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "index_shape exceeds the output");
        g->same &= g->idx_dims[d] == g->out_dims[d];
        g->idx_total *= g->idx_dims[d];
    }
    int64_t n = bnn_tensor_numel(x);
    for (int64_t e = 0; e < n; e++) {
        int64_t i = unpool_at(ind, e);
        if (i < 0 || i >= g->idx_total)
            return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                   "index %lld at element %lld is outside the unpooled %lld elements",
                                   (long long)i, (long long)e, (long long)g->idx_total);
    }
    return BNN_OK;
}

static bnn_status max_unpool_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    unpool_geom g;
    BNN_TRY(unpool_check(args, &g, diag));
    const float *x = args->inputs[0].data;
    float *y = args->outputs[0].data;
    memset(y, 0, bnn_tensor_nbytes(&args->outputs[0]));
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    for (int64_t e = 0; e < n; e++) /* in order: a repeated index keeps the last */
        y[unpool_place(&g, unpool_at(&args->inputs[1], e))] = x[e];
    return BNN_OK;
}

static bnn_status max_unpool_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                      bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    const float *gy = grads->grad_outputs[0].data;
    if (!gx || !gy)
        return BNN_OK;
    unpool_geom g;
    BNN_TRY(unpool_check(args, &g, diag));
    const bnn_tensor *ind = &args->inputs[1];
    int64_t n = bnn_tensor_numel(&args->inputs[0]);
    /* only the last writer of a place is seen in y */
    int64_t *owner = args->scratch;
    for (int64_t e = 0; e < n; e++)
        owner[unpool_at(ind, e)] = e;
    for (int64_t e = 0; e < n; e++) {
        int64_t i = unpool_at(ind, e);
        if (owner[i] == e)
            gx[e] += gy[unpool_place(&g, i)];
    }
    return BNN_OK;
}

static size_t max_unpool_scratch_size(const bnn_kernel_args *args)
{
    return (size_t)bnn_shape_numel(&args->outputs[0].shape) * sizeof(int64_t);
}

const bnn_kernel bnn_kernel_max_unpool = {
    .forward = max_unpool_forward,
    .backward = max_unpool_backward,
    .scratch_size = max_unpool_scratch_size,
};
