/* Shape inference for the resampling ops (runtime/kernels/resample.c):
 * resize (ONNX Resize and Upsample), depth_to_space and space_to_depth.
 * bnn_resize_read (resample_impl.h) is the one reading of resize's
 * attributes, which the kernel and the exporter use too. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer_impl.h"
#include "resample_impl.h"

/* ---- resize --------------------------------------------------------------- */

static int pick(const char *v, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

bool bnn_resize_read(const bnn_node *node, int rank, bnn_resize_spec *s, char *err, size_t n)
{
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    static const char *const coords[] = { "half_pixel", "pytorch_half_pixel", "align_corners",
                                          "asymmetric", "tf_crop_and_resize",
                                          "half_pixel_symmetric", "tf_half_pixel_for_nn" };
    static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil" };
    memset(s, 0, sizeof *s);
    s->rank = rank;
    const char *mode = bnn_node_string(node, "mode", "nearest");
    const char *coord = bnn_node_string(node, "coordinate_transformation_mode", "half_pixel");
    const char *round = bnn_node_string(node, "nearest_mode", "round_prefer_floor");
    int m = pick(mode, modes, 3), c = pick(coord, coords, 7), r = pick(round, rounds, 4);
    if (m < 0) {
        snprintf(err, n, "mode '%s' is not one of nearest, linear, cubic", mode);
        return false;
    }
    if (c < 0) {
        snprintf(err, n, "coordinate_transformation_mode '%s' is not one of half_pixel, "
                 "pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize, "
                 "half_pixel_symmetric, tf_half_pixel_for_nn", coord);
        return false;
    }
    if (r < 0) {
        snprintf(err, n, "nearest_mode '%s' is not one of round_prefer_floor, round_prefer_ceil, "
                 "floor, ceil", round);
        return false;
    }
    s->mode = (bnn_resize_mode)m;
    s->coord = (bnn_resize_coord)c;
    s->round = (bnn_resize_round)r;
    s->cubic_a = bnn_node_float(node, "cubic_coeff_a", -0.75f);
    s->extrapolation = bnn_node_float(node, "extrapolation_value", 0.0f);
    int64_t excl = bnn_node_int(node, "exclude_outside", 0), aa = bnn_node_int(node, "antialias", 0);
    if ((excl != 0 && excl != 1) || (aa != 0 && aa != 1)) {
        snprintf(err, n, "attributes 'exclude_outside' and 'antialias' must be 0 or 1");
        return false;
    }
    s->exclude_outside = excl;
    s->antialias = aa;
    if (s->antialias && s->mode == BNN_RESIZE_NEAREST) {
        snprintf(err, n, "antialias applies to linear and cubic modes, not nearest");
        return false;
    }
    if (!isfinite(s->cubic_a)) {
        snprintf(err, n, "attribute 'cubic_coeff_a' is not finite");
        return false;
    }
    const bnn_attr *sc = bnn_node_attr(node, "scales"), *sz = bnn_node_attr(node, "sizes"),
                   *roi = bnn_node_attr(node, "roi");
    if (!sc && !sz) {
        snprintf(err, n, "needs attribute 'scales' or 'sizes'");
        return false;
    }
    if (rank < 0)
        return true; /* the counts are checked once the rank is known */
    if (rank == 0) {
        snprintf(err, n, "cannot resize a scalar");
        return false;
    }
    if (sc) {
        if (sc->count != rank) {
            snprintf(err, n, "attribute 'scales' has %d values for an input of rank %d", sc->count,
                     rank);
            return false;
        }
        for (int i = 0; i < rank; i++) {
            if (!(sc->floats[i] > 0) || !isfinite(sc->floats[i])) {
                snprintf(err, n, "attribute 'scales' has %g at position %d, expected a positive "
                         "finite number", (double)sc->floats[i], i);
                return false;
            }
            s->scales[i] = sc->floats[i];
        }
        s->has_scales = true;
    }
    if (sz) {
        if (sz->count != rank) {
            snprintf(err, n, "attribute 'sizes' has %d values for an input of rank %d", sz->count,
                     rank);
            return false;
        }
        for (int i = 0; i < rank; i++) {
            if (sz->ints[i] < -1 || sz->ints[i] > ATTR_MAX) {
                snprintf(err, n, "attribute 'sizes' has %lld at position %d, expected -1 (the "
                         "input's dim) or 0..2^31", (long long)sz->ints[i], i);
                return false;
            }
            s->sizes[i] = sz->ints[i];
        }
        s->has_sizes = true;
    }
    for (int i = 0; i < rank; i++) {
        s->roi_start[i] = 0;
        s->roi_end[i] = 1;
    }
    if (roi) {
        if (roi->count != 2 * rank) {
            snprintf(err, n, "attribute 'roi' has %d values, expected %d (starts then ends)",
                     roi->count, 2 * rank);
            return false;
        }
        for (int i = 0; i < 2 * rank; i++)
            if (!isfinite(roi->floats[i])) {
                snprintf(err, n, "attribute 'roi' has a value that is not finite");
                return false;
            }
        for (int i = 0; i < rank; i++) {
            s->roi_start[i] = roi->floats[i];
            s->roi_end[i] = roi->floats[rank + i];
        }
    }
    return true;
}

int64_t bnn_resize_out_dim(const bnn_resize_spec *s, int axis, int64_t in)
{
    if (s->has_sizes)
        return s->sizes[axis] >= 0 ? s->sizes[axis] : in;
    if (s->scales[axis] == 1.0)
        return in;
    if (in < 0)
        return BNN_DIM_UNKNOWN;
    /* As ONNX's reference and ONNX Runtime: floor(scale * in), the region of
     * interest left out. */
    double d = floor(s->scales[axis] * (double)in);
    return d > (double)ATTR_MAX ? INT64_MIN : (int64_t)d;
}

double bnn_resize_scale(const bnn_resize_spec *s, int axis, int64_t in, int64_t out)
{
    if (s->has_scales)
        return s->scales[axis];
    if (s->sizes[axis] < 0 || in <= 0)
        return 1.0;
    return (double)out / (double)in;
}

bool bnn_resize_axis_identity(const bnn_resize_spec *s, int axis, int64_t in, int64_t out)
{
    if (in != out || bnn_resize_scale(s, axis, in, out) != 1.0)
        return false;
    return s->coord != BNN_COORD_TF_CROP_AND_RESIZE ||
           (s->roi_start[axis] == 0.0 && s->roi_end[axis] == 1.0);
}

bnn_status bnn_infer_resize(infer_ctx *c)
{
    const bnn_value *x = infer_input(c, 0);
    bnn_resize_spec s;
    char err[300];
    if (!bnn_resize_read(c->node, x->shape.rank, &s, err, sizeof err))
        return infer_fail(c, "%s", err);
    BNN_TRY(infer_check_type(c, 0, s.mode == BNN_RESIZE_NEAREST ? TYPES_ANY : TYPES_F32, -1));
    c->out_dtype = x->dtype;
    if (x->shape.rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out = x->shape;
    for (int i = 0; i < x->shape.rank; i++) {
        int64_t d = bnn_resize_out_dim(&s, i, x->shape.dims[i]);
        if (d == INT64_MIN)
            return infer_fail(c, "axis %d of input '%s' %s grows past 2^31", i, infer_name(c, 0),
                              infer_type(c, 0));
        if (d > 0 && x->shape.dims[i] == 0)
            return infer_fail(c, "axis %d of input '%s' %s is empty: nothing to resize from", i,
                              infer_name(c, 0), infer_type(c, 0));
        c->out.dims[i] = d;
    }
    return BNN_OK;
}

/* ---- depth_to_space, space_to_depth ---------------------------------------- */

/* A dim times (or divided by) b, unknown when the dim is not known; a
 * product past 2^31 saturates there (the caller refuses it) rather than
 * overflowing. */
static int64_t scaled_dim(int64_t d, int64_t mul, int64_t div)
{
    if (d < 0)
        return BNN_DIM_UNKNOWN;
    if (d > ATTR_MAX * div / mul)
        return ATTR_MAX + 1;
    return d * mul / div;
}

static bnn_status infer_block(infer_ctx *c, bool to_space)
{
    const bnn_value *x = infer_input(c, 0);
    c->out_dtype = x->dtype;
    if (!bnn_node_attr(c->node, "blocksize"))
        return infer_fail(c, "attribute 'blocksize' is required");
    int64_t b = bnn_node_int(c->node, "blocksize", 0);
    if (b < 1 || b > 4096)
        return infer_fail(c, "attribute 'blocksize' is %lld, expected 1..4096", (long long)b);
    if (to_space) {
        const char *mode = bnn_node_string(c->node, "mode", "DCR");
        if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
            return infer_fail(c, "mode '%s' is not DCR or CRD", mode);
    }
    if (x->shape.rank < 0) {
        c->out = infer_unknown_shape;
        c->out.rank = 4;
        for (int i = 0; i < 4; i++)
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        return BNN_OK;
    }
    if (x->shape.rank != 4)
        return infer_fail(c, "input '%s' %s is not 4-D [N, C, H, W]", infer_name(c, 0), infer_type(c, 0));
    const int64_t *d = x->shape.dims;
    c->out = x->shape;
    if (to_space) {
        if (d[1] >= 0 && d[1] % (b * b) != 0)
            return infer_fail(c, "input '%s' %s has %lld channels, not a multiple of blocksize^2 = %lld",
                              infer_name(c, 0), infer_type(c, 0), (long long)d[1], (long long)(b * b));
        c->out.dims[1] = scaled_dim(d[1], 1, b * b);
        c->out.dims[2] = scaled_dim(d[2], b, 1);
        c->out.dims[3] = scaled_dim(d[3], b, 1);
    } else {
        for (int i = 2; i < 4; i++)
            if (d[i] >= 0 && d[i] % b != 0)
                return infer_fail(c, "input '%s' %s: dim %d (%lld) is not a multiple of blocksize %lld",
                                  infer_name(c, 0), infer_type(c, 0), i, (long long)d[i], (long long)b);
        c->out.dims[1] = scaled_dim(d[1], b * b, 1);
        c->out.dims[2] = scaled_dim(d[2], 1, b);
        c->out.dims[3] = scaled_dim(d[3], 1, b);
    }
    for (int i = 1; i < 4; i++)
        if (c->out.dims[i] > ATTR_MAX)
            return infer_fail(c, "output dim %d grows past 2^31", i);
    return BNN_OK;
}

bnn_status bnn_infer_depth_to_space(infer_ctx *c) { return infer_block(c, true); }
bnn_status bnn_infer_space_to_depth(infer_ctx *c) { return infer_block(c, false); }

/* ---- grid_sample ------------------------------------------------------------ */

bnn_status bnn_infer_grid_sample(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    const char *mode = bnn_node_string(c->node, "mode", "bilinear");
    const char *pad = bnn_node_string(c->node, "padding_mode", "zeros");
    static const char *const modes[] = { "bilinear", "linear", "nearest", "bicubic", "cubic" };
    static const char *const pads[] = { "zeros", "border", "reflection" };
    if (pick(mode, modes, 5) < 0)
        return infer_fail(c, "mode '%s' is not one of bilinear (linear), nearest, bicubic (cubic)", mode);
    if (pick(pad, pads, 3) < 0)
        return infer_fail(c, "padding_mode '%s' is not one of zeros, border, reflection", pad);
    bool ac;
    BNN_TRY(infer_flag_attr(c, "align_corners", 0, &ac));
    const bnn_shape *x = &infer_input(c, 0)->shape, *g = &infer_input(c, 1)->shape;
    c->out_dtype = infer_input(c, 0)->dtype;
    if ((x->rank >= 0 && x->rank != 4) || (g->rank >= 0 && g->rank != 4))
        return infer_fail(c, "input '%s' %s and grid '%s' %s must be 4-D (bnnc samples 2-D images)",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1));
    if (g->rank == 4 && g->dims[3] >= 0 && g->dims[3] != 2)
        return infer_fail(c, "grid '%s' %s must end in 2 (x, y)", infer_name(c, 1), infer_type(c, 1));
    if (x->rank == 4 && g->rank == 4 && infer_dims_conflict(x->dims[0], g->dims[0]))
        return infer_fail(c, "input '%s' %s and grid '%s' %s differ in batch", infer_name(c, 0),
                          infer_type(c, 0), infer_name(c, 1), infer_type(c, 1));
    c->out.rank = 4;
    c->out.dims[0] = x->rank == 4 ? (g->rank == 4 ? infer_dim_meet(x->dims[0], g->dims[0]) : x->dims[0])
                                  : g->rank == 4 ? g->dims[0] : BNN_DIM_UNKNOWN;
    c->out.dims[1] = x->rank == 4 ? x->dims[1] : BNN_DIM_UNKNOWN;
    c->out.dims[2] = g->rank == 4 ? g->dims[1] : BNN_DIM_UNKNOWN;
    c->out.dims[3] = g->rank == 4 ? g->dims[2] : BNN_DIM_UNKNOWN;
    return BNN_OK;
}

/* ---- max_unpool --------------------------------------------------------------- */

bnn_status bnn_infer_max_unpool(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_F32, -1));
    const bnn_value *x = infer_input(c, 0), *ind = infer_input(c, 1);
    if (ind->dtype != BNN_I64 && ind->dtype != BNN_I32 && ind->dtype != BNN_UNDEFINED)
        return infer_fail(c, "indices '%s' have type %s, expected i64 or i32", infer_name(c, 1),
                          infer_type(c, 1));
    const int64_t *os;
    int n = bnn_node_ints(c->node, "output_shape", &os);
    if (!bnn_node_attr(c->node, "output_shape"))
        return infer_fail(c, "attribute 'output_shape' (the spatial dims) is required");
    for (int i = 0; i < n; i++)
        if (os[i] < 0 || os[i] > ATTR_MAX)
            return infer_fail(c, "attribute 'output_shape' has %lld at position %d", (long long)os[i], i);
    const int64_t *is;
    int ni = bnn_node_ints(c->node, "index_shape", &is);
    if (bnn_node_attr(c->node, "index_shape")) {
        if (ni != n)
            return infer_fail(c, "attribute 'index_shape' has %d values, 'output_shape' %d", ni, n);
        for (int i = 0; i < n; i++)
            if (is[i] < 0 || is[i] > os[i])
                return infer_fail(c, "attribute 'index_shape' has %lld at position %d, expected 0..%lld "
                                  "(output_shape's)", (long long)is[i], i, (long long)os[i]);
    }
    c->out_dtype = x->dtype;
    if (x->shape.rank >= 0 && (x->shape.rank < 3 || n != x->shape.rank - 2))
        return infer_fail(c, "input '%s' %s needs rank 3 or more and %d output_shape values, not %d",
                          infer_name(c, 0), infer_type(c, 0), x->shape.rank - 2, n);
    if (x->shape.rank >= 0 && ind->shape.rank >= 0) {
        bool same = x->shape.rank == ind->shape.rank;
        for (int i = 0; same && i < x->shape.rank; i++)
            same = !infer_dims_conflict(x->shape.dims[i], ind->shape.dims[i]);
        if (!same)
            return infer_fail(c, "indices '%s' %s are not shaped like input '%s' %s", infer_name(c, 1),
                              infer_type(c, 1), infer_name(c, 0), infer_type(c, 0));
    }
    c->out.rank = n + 2;
    c->out.dims[0] = x->shape.rank >= 0 ? x->shape.dims[0] : BNN_DIM_UNKNOWN;
    c->out.dims[1] = x->shape.rank >= 0 ? x->shape.dims[1] : BNN_DIM_UNKNOWN;
    for (int i = 0; i < n; i++)
        c->out.dims[2 + i] = os[i];
    return BNN_OK;
}
