/* Lowering of the resampling ops (runtime/kernels/resample.c): Resize
 * (opsets 10 to 19) and Upsample (7 to 9) into one resize node whose roi,
 * scales and sizes are resolved at import into attributes over every axis. */
#include <math.h>
#include <string.h>

#include "onnx_impl.h"
#include "resample_impl.h"

/* The contents of float input k (what names it) as doubles: *count -1 when
 * the input is absent or empty (ONNX's way of leaving it out), else its
 * entries; it must be a constant 1-D tensor of at most `max` entries. */
static bnn_status const_floats(onnx_ctx *c, int k, const char *what, double *out, int max,
                               int *count)
{
    int id = onnx_input(c, k);
    *count = -1;
    if (id < 0)
        return BNN_OK;
    const bnn_value *v = onnx_val(c, id);
    if (v->shape.rank == 1 && v->shape.dims[0] == 0)
        return BNN_OK;
    if (!onnx_is_param(c, id) || v->shape.rank != 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' must be a constant 1-D tensor "
                              "(bnnc resolves it at import)", what);
    int64_t n = v->shape.dims[0];
    if (n > max)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' has %lld entries, more than %d", what,
                              (long long)n, max);
    for (int64_t i = 0; i < n; i++) {
        if (v->dtype == BNN_F32)
            out[i] = ((const float *)v->data)[i];
        else if (v->dtype == BNN_F64)
            out[i] = ((const double *)v->data)[i];
        else
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' has type %s, expected float or "
                                  "double", what, bnn_dtype_name(v->dtype) ? bnn_dtype_name(v->dtype) : "?");
        if (!isfinite(out[i]))
            return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' holds a value that is not finite", what);
    }
    *count = (int)n;
    return BNN_OK;
}

/* What one Resize or Upsample node says, over every axis of x. */
typedef struct resize_args {
    int rank;
    const bnn_shape *xs;
    bool has_scales, has_sizes, has_roi;
    double scales[BNN_MAX_RANK];
    int64_t sizes[BNN_MAX_RANK];
    double roi[2 * BNN_MAX_RANK];
    const char *mode, *coord, *round;
    bool on[BNN_MAX_RANK]; /* the axes the node resizes (opset 18's axes) */
    int n_on;
} resize_args;

/* Nearest rounding before Resize-11 (Resize-10, Upsample): asymmetric
 * coordinates, rounded down when enlarging and up when shrinking, as ONNX
 * Runtime does; an axis that keeps its size is exact either way. */
static bnn_status legacy_round(onnx_ctx *c, resize_args *r)
{
    bool up = false, down = false;
    for (int i = 0; i < r->rank; i++) {
        up |= r->scales[i] > 1.0;
        down |= r->scales[i] < 1.0;
    }
    if (up && down && strcmp(r->mode, "nearest") == 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "nearest resizing that enlarges some axes and "
                              "shrinks others is not supported before opset 11");
    r->coord = "asymmetric";
    r->round = down ? "ceil" : "floor";
    return BNN_OK;
}

/* sizes (known i64 contents, one per axis in r->on) into r->sizes: a dim
 * the model computes from x's own (a symbol, or the batch of 1 freed at
 * import) keeps x's dim, written -1; a fixed size over a spatial dim known
 * only at run time stays fixed (its scale, size / dim, is taken then), over
 * a batch or channel dim it is refused (it would pin the batch). */
static bnn_status read_sizes(onnx_ctx *c, int k, resize_args *r)
{
    onnx_known kn;
    BNN_TRY(onnx_const_list(c, k, "sizes", BNN_MAX_RANK, &kn));
    if (kn.n != r->n_on)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 'sizes' has %d entries for %d axes", kn.n,
                              r->n_on);
    for (int i = 0, j = 0; i < r->rank; i++) {
        int64_t in = r->xs->dims[i];
        if (!r->on[i]) {
            r->sizes[i] = -1;
            continue;
        }
        int64_t v = kn.v[j];
        bool sym = kn.sym >> j++ & 1;
        if (sym) {
            if (onnx_known_unknown(&kn, j - 1) || v != in)
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'sizes' gives axis %d a size "
                                      "only known at run time", i);
            r->sizes[i] = -1;
        } else if (v < 0) {
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'sizes' has %lld for axis %d", (long long)v, i);
        } else if (in < 0 && in == c->freed_batch && v == 1) {
            r->sizes[i] = -1; /* the batch of 1 the import freed stays the batch */
        } else if (in < 0 && i < 2) {
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'sizes' fixes axis %d to %lld, but "
                                  "the input's dim there is only known at run time", i, (long long)v);
        } else {
            r->sizes[i] = v; /* a spatial dim known at run time only: scale v / in then */
        }
    }
    r->has_sizes = true;
    return BNN_OK;
}

/* keep_aspect_ratio_policy (opset 18): one scale for the resized axes, the
 * smallest (not_larger) or largest (not_smaller) of sizes / in, and sizes
 * rounded from it. */
static bnn_status keep_aspect(onnx_ctx *c, resize_args *r, const char *policy)
{
    bool larger = strcmp(policy, "not_smaller") == 0;
    if (!larger && strcmp(policy, "not_larger") != 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "keep_aspect_ratio_policy '%s' is not one of "
                              "stretch, not_larger, not_smaller", policy);
    double scale = larger ? 0.0 : INFINITY;
    for (int i = 0; i < r->rank; i++) {
        if (!r->on[i])
            continue;
        if (r->sizes[i] < 0 || r->xs->dims[i] <= 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "keep_aspect_ratio_policy needs the "
                                  "resized axes' sizes known at import (axis %d is not)", i);
        double s = (double)r->sizes[i] / (double)r->xs->dims[i];
        scale = larger ? fmax(scale, s) : fmin(scale, s);
    }
    if (!(scale > 0) || !isfinite(scale))
        return onnx_node_fail(c, BNN_ERR_INVALID, "keep_aspect_ratio_policy gives no positive scale");
    for (int i = 0; i < r->rank; i++) {
        r->scales[i] = r->on[i] ? scale : 1.0;
        if (r->on[i])
            r->sizes[i] = (int64_t)(scale * (double)r->xs->dims[i] + 0.5);
    }
    r->has_scales = true;
    return BNN_OK;
}

/* Emits the resize node for r. */
static bnn_status emit_resize(onnx_ctx *c, int x, resize_args *r, bool all_attrs)
{
    /* tf_half_pixel_for_nn (Resize-11) rounds (y + 0.5) / scale, which is
     * half_pixel's coordinate plus one half: for nearest rounding that is
     * ceil (round_prefer_floor) or round_prefer_ceil (floor) of half_pixel's,
     * which later opsets can still write. */
    if (strcmp(r->coord, "tf_half_pixel_for_nn") == 0 && strcmp(r->mode, "nearest") == 0) {
        if (strcmp(r->round, "round_prefer_floor") == 0)
            r->coord = "half_pixel", r->round = "ceil";
        else if (strcmp(r->round, "floor") == 0)
            r->coord = "half_pixel", r->round = "round_prefer_ceil";
    }
    int nid;
    BNN_TRY(onnx_emit_node(c, BNN_OP_RESIZE, &x, 1, &nid));
    if (strcmp(r->mode, "nearest") != 0)
        BNN_TRY(onnx_set_string(c, nid, "mode", r->mode));
    if (strcmp(r->coord, "half_pixel") != 0)
        BNN_TRY(onnx_set_string(c, nid, "coordinate_transformation_mode", r->coord));
    if (strcmp(r->mode, "nearest") == 0 && strcmp(r->round, "round_prefer_floor") != 0)
        BNN_TRY(onnx_set_string(c, nid, "nearest_mode", r->round));
    if (all_attrs) {
        float a, ev;
        int64_t excl, aa = 0;
        BNN_TRY(onnx_attr_float(c, "cubic_coeff_a", -0.75f, &a));
        BNN_TRY(onnx_attr_float(c, "extrapolation_value", 0.0f, &ev));
        BNN_TRY(onnx_attr_int(c, "exclude_outside", 0, &excl));
        if (c->opset >= 18)
            BNN_TRY(onnx_attr_int(c, "antialias", 0, &aa));
        if (a != -0.75f && strcmp(r->mode, "cubic") == 0)
            BNN_TRY(onnx_set_float(c, nid, "cubic_coeff_a", a));
        if (ev != 0.0f && strcmp(r->coord, "tf_crop_and_resize") == 0)
            BNN_TRY(onnx_set_float(c, nid, "extrapolation_value", ev));
        if (excl)
            BNN_TRY(onnx_set_int(c, nid, "exclude_outside", excl));
        if (aa)
            BNN_TRY(onnx_set_int(c, nid, "antialias", aa));
    }
    if (r->has_scales) {
        float f[BNN_MAX_RANK];
        for (int i = 0; i < r->rank; i++)
            f[i] = (float)r->scales[i];
        if (bnn_node_set_floats(c->g, nid, "scales", f, r->rank) != BNN_OK)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    if (r->has_sizes)
        BNN_TRY(onnx_set_ints(c, nid, "sizes", r->sizes, r->rank));
    if (r->has_roi && strcmp(r->coord, "tf_crop_and_resize") == 0) {
        float f[2 * BNN_MAX_RANK];
        for (int i = 0; i < 2 * r->rank; i++)
            f[i] = (float)r->roi[i];
        if (bnn_node_set_floats(c->g, nid, "roi", f, 2 * r->rank) != BNN_OK)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    return onnx_infer(c, nid);
}

static bnn_status start_args(onnx_ctx *c, int x, resize_args *r)
{
    memset(r, 0, sizeof *r);
    r->xs = &onnx_val(c, x)->shape;
    r->rank = r->xs->rank;
    if (r->rank < 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "needs an input of known rank 1 or more");
    for (int i = 0; i < r->rank; i++)
        r->on[i] = true;
    r->n_on = r->rank;
    return BNN_OK;
}

/* Scales over the axes in r->on (count entries) into every axis. */
static bnn_status spread_scales(onnx_ctx *c, resize_args *r, const double *v, int count)
{
    if (count != r->n_on)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 'scales' has %d entries for %d axes", count,
                              r->n_on);
    for (int i = 0, j = 0; i < r->rank; i++) {
        r->scales[i] = r->on[i] ? v[j++] : 1.0;
        if (!(r->scales[i] > 0))
            return onnx_node_fail(c, BNN_ERR_INVALID, "scale %g for axis %d is not positive",
                                  r->scales[i], i);
    }
    r->has_scales = true;
    return BNN_OK;
}

bnn_status onnx_lower_resize(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    resize_args r;
    BNN_TRY(start_args(c, x, &r));
    BNN_TRY(onnx_attr_string(c, "mode", "nearest", &r.mode));
    double v[2 * BNN_MAX_RANK];
    int n;
    if (c->opset < 11) {
        BNN_TRY(const_floats(c, 1, "scales", v, BNN_MAX_RANK, &n));
        if (n < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'scales' is missing");
        BNN_TRY(spread_scales(c, &r, v, n));
        BNN_TRY(legacy_round(c, &r));
        return emit_resize(c, x, &r, false);
    }
    BNN_TRY(onnx_attr_string(c, "coordinate_transformation_mode", "half_pixel", &r.coord));
    BNN_TRY(onnx_attr_string(c, "nearest_mode", "round_prefer_floor", &r.round));
    if (c->opset >= 18) {
        const int64_t *axes;
        int na;
        BNN_TRY(onnx_attr_ints(c, "axes", &axes, &na));
        if (na >= 0) {
            memset(r.on, 0, sizeof r.on);
            for (int i = 0; i < na; i++) {
                int64_t a = axes[i] < 0 ? axes[i] + r.rank : axes[i];
                if (a < 0 || a >= r.rank || r.on[a])
                    return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'axes' has %lld, out of "
                                          "range or repeated for rank %d", (long long)axes[i], r.rank);
                r.on[a] = true;
            }
            /* entries follow the order axes gives, which need not be sorted */
            bool sorted = true;
            for (int i = 1; i < na; i++)
                sorted &= (axes[i] < 0 ? axes[i] + r.rank : axes[i]) >
                          (axes[i - 1] < 0 ? axes[i - 1] + r.rank : axes[i - 1]);
            if (!sorted)
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute 'axes' must be increasing");
            r.n_on = na;
        }
    }
    int ns;
    BNN_TRY(const_floats(c, 2, "scales", v, BNN_MAX_RANK, &ns));
    int sid = onnx_input(c, 3);
    bool sizes = sid >= 0 && !(onnx_val(c, sid)->shape.rank == 1 && onnx_val(c, sid)->shape.dims[0] == 0);
    if ((ns >= 0) == sizes)
        return onnx_node_fail(c, BNN_ERR_INVALID, "needs exactly one of the inputs 'scales' and 'sizes'");
    if (ns >= 0) {
        BNN_TRY(spread_scales(c, &r, v, ns));
    } else {
        BNN_TRY(read_sizes(c, 3, &r));
        const char *policy = "stretch";
        if (c->opset >= 18)
            BNN_TRY(onnx_attr_string(c, "keep_aspect_ratio_policy", "stretch", &policy));
        if (strcmp(policy, "stretch") != 0)
            BNN_TRY(keep_aspect(c, &r, policy));
    }
    if (strcmp(r.coord, "tf_crop_and_resize") == 0) {
        int nr;
        BNN_TRY(const_floats(c, 1, "roi", v, 2 * BNN_MAX_RANK, &nr));
        if (nr != 2 * r.n_on)
            return onnx_node_fail(c, BNN_ERR_INVALID, "tf_crop_and_resize needs input 'roi' with %d "
                                  "entries (starts then ends), not %d", 2 * r.n_on, nr < 0 ? 0 : nr);
        for (int i = 0, j = 0; i < r.rank; i++) {
            r.roi[i] = r.on[i] ? v[j] : 0.0;
            r.roi[r.rank + i] = r.on[i] ? v[r.n_on + j] : 1.0;
            j += r.on[i];
        }
        r.has_roi = true;
    }
    return emit_resize(c, x, &r, true);
}

bnn_status onnx_lower_upsample(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (c->opset < 7)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "Upsample before opset 7 (height_scale, "
                              "width_scale) is not supported");
    resize_args r;
    BNN_TRY(start_args(c, x, &r));
    BNN_TRY(onnx_attr_string(c, "mode", "nearest", &r.mode));
    if (strcmp(r.mode, "bilinear") == 0)
        r.mode = "linear";
    double v[BNN_MAX_RANK];
    int n;
    if (c->opset < 9) {
        const float *f;
        BNN_TRY(onnx_attr_floats(c, "scales", &f, &n));
        if (n < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'scales' is missing");
        if (n > BNN_MAX_RANK)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'scales' has %d entries", n);
        for (int i = 0; i < n; i++)
            v[i] = f[i];
    } else {
        BNN_TRY(const_floats(c, 1, "scales", v, BNN_MAX_RANK, &n));
        if (n < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'scales' is missing");
    }
    BNN_TRY(spread_scales(c, &r, v, n));
    BNN_TRY(legacy_round(c, &r));
    return emit_resize(c, x, &r, false);
}

/* MaxUnpool: the unpooled size from kernel_shape, strides and pads,
 * (in - 1) * stride + kernel - pad_begin - pad_end, and the output's from
 * output_shape (input 2, whose N and C must be x's) when given. */
bnn_status onnx_lower_max_unpool(onnx_ctx *c)
{
    int in[2], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    const bnn_shape *xs = &onnx_val(c, in[0])->shape;
    int nsp = xs->rank - 2;
    if (xs->rank < 3)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "needs an input of known rank 3 or more");
    int64_t idx[BNN_MAX_RANK], out[BNN_MAX_RANK];
    const int64_t *kernel, *strides, *pads;
    int nk, ns, np;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &kernel, &nk));
    BNN_TRY(onnx_attr_ints(c, "strides", &strides, &ns));
    BNN_TRY(onnx_attr_ints(c, "pads", &pads, &np));
    if (nk != nsp || (ns >= 0 && ns != nsp) || (np >= 0 && np != 2 * nsp))
        return onnx_node_fail(c, BNN_ERR_INVALID, "kernel_shape, strides and pads must give %d, %d "
                              "and %d values", nsp, nsp, 2 * nsp);
    for (int i = 0; i < nsp; i++) {
        int64_t s = ns >= 0 ? strides[i] : 1, pb = np >= 0 ? pads[i] : 0, pe = np >= 0 ? pads[nsp + i] : 0;
        if (xs->dims[2 + i] < 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "spatial dim %d of the input is only known at run time", i);
        if (s < 1 || s > (1 << 20) || kernel[i] < 1 || kernel[i] > (1 << 20) || pb < 0 || pe < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "kernel_shape, strides or pads out of range");
        idx[i] = out[i] = (xs->dims[2 + i] - 1) * s + kernel[i] - pb - pe;
        if (idx[i] < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "kernel_shape, strides and pads give no output "
                                  "along spatial dim %d", i);
    }
    bool given = onnx_input(c, 2) >= 0;
    if (given) {
        onnx_known k;
        BNN_TRY(onnx_const_list(c, 2, "output_shape", BNN_MAX_RANK, &k));
        if (k.n != xs->rank)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'output_shape' has %d entries for rank %d",
                                  k.n, xs->rank);
        for (int i = 0; i < k.n; i++) {
            bool sym = k.sym >> i & 1;
            bool fits = i < 2 ? (sym ? k.v[i] == xs->dims[i] && !onnx_known_unknown(&k, i)
                                     : k.v[i] == xs->dims[i] ||
                                           (i == 0 && c->freed_batch && xs->dims[0] == c->freed_batch && k.v[0] == 1))
                              : !sym && k.v[i] >= idx[i - 2];
            if (!fits)
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input 'output_shape' entry %d does not fit: N "
                                      "and C must be the input's, the spatial dims known and no smaller than "
                                      "the unpooled size", i);
            if (i >= 2)
                out[i - 2] = k.v[i];
        }
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_MAX_UNPOOL, in, 2, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "output_shape", out, nsp));
    if (memcmp(idx, out, sizeof(int64_t) * (size_t)nsp) != 0)
        BNN_TRY(onnx_set_ints(c, nid, "index_shape", idx, nsp));
    return onnx_infer(c, nid);
}
