/* ONNX ops of the select family (runtime/kernels/select.c).  TopK: k (an
 * attribute before opset 10, then an input) decides the outputs' size, so
 * it must be known at import; it becomes the top_k node's attribute.
 * largest and sorted arrived in opset 11 (absent: 1).  Hardmax: the axis
 * default and pre-13 meaning as Softmax's (onnx_lower_softmax.c).
 * Compress and NonZero whose size-deciding input is a constant (the
 * condition; NonZero's only input) fold: Compress into a gather of known
 * places, NonZero into a constant.  Registered in the table of
 * onnx_lower.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

bnn_status onnx_lower_top_k(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    int64_t k;
    if (c->opset < 10) {
        if (!onnx_attr(c, "k"))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'k' is missing");
        BNN_TRY(onnx_attr_int(c, "k", 0, &k));
    } else {
        int kid;
        BNN_TRY(onnx_need_input(c, 1, &kid));
        onnx_known kn;
        double f;
        if (onnx_known_get(c, kid, &kn) && kn.n == 1 && !kn.sym)
            k = kn.v[0];
        else if (onnx_param_scalar(c, kid, &f) && f == trunc(f) && fabs(f) < 9e18)
            k = (int64_t)f;
        else
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                  "input 'K' must be a constant: it decides the outputs' size, "
                                  "and bnnc plans sizes before it sees data");
    }
    if (k < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "k is %lld, expected a size", (long long)k);
    int64_t axis, largest, sorted;
    BNN_TRY(onnx_attr_int(c, "axis", -1, &axis));
    BNN_TRY(onnx_attr_int(c, "largest", 1, &largest));
    BNN_TRY(onnx_attr_int(c, "sorted", 1, &sorted));
    int outs[2];
    for (int j = 0; j < 2; j++) {
        if ((size_t)j < c->node->n_output && *onnx_str(c->node->output[j])) {
            outs[j] = onnx_define_output(c, j);
        } else {
            char base[300], buf[320];
            snprintf(base, sizeof base, "%s_%s", c->node_name, j ? "indices" : "values");
            outs[j] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                          BNN_UNDEFINED, NULL);
        }
        if (outs[j] < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    int nid = bnn_graph_add_node(c->g, BNN_OP_TOP_K, c->node_name, &x, 1, outs, 2);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    BNN_TRY(onnx_set_int(c, nid, "k", k));
    BNN_TRY(onnx_set_int(c, nid, "axis", axis));
    BNN_TRY(onnx_set_int(c, nid, "largest", largest));
    BNN_TRY(onnx_set_int(c, nid, "sorted", sorted));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_hardmax(onnx_ctx *c)
{
    return onnx_lower_softmax_like(c, BNN_OP_HARDMAX); /* the same axis rules */
}

/* Whether element i of a param of any numeric or bool type is nonzero. */
static bool param_nonzero(const bnn_value *v, int64_t i)
{
    const unsigned char *p = (const unsigned char *)v->data + (size_t)i * bnn_dtype_size(v->dtype);
    switch (v->dtype) {
    case BNN_F32: { float f; memcpy(&f, p, sizeof f); return f != 0; }
    case BNN_F64: { double f; memcpy(&f, p, sizeof f); return f != 0; }
    default:
        for (size_t b = 0; b < bnn_dtype_size(v->dtype); b++)
            if (p[b])
                return true;
        return false;
    }
}

/* Compress(input, condition) with a constant condition: the places it
 * keeps are known, so it becomes gather(input, those places) along axis,
 * or along the flattened input (a reshape to [-1] first) when there is no
 * axis.  A condition shorter than the dim keeps nothing past its end, as
 * ONNX says; a true entry past the dim is an error. */
bnn_status onnx_lower_compress(onnx_ctx *c)
{
    int x, cond;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_need_input(c, 1, &cond));
    const bnn_value *cv = onnx_val(c, cond);
    if (!onnx_is_param(c, cond) || bnn_dtype_size(cv->dtype) == 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "input 'condition' must be a constant: it decides the output's "
                              "size, and bnnc plans sizes before it sees data");
    if (cv->shape.rank != 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "condition must be 1-D, not of rank %d",
                              cv->shape.rank);
    bool flat = !onnx_attr(c, "axis");
    int64_t axis = 0;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    const bnn_shape *xs = &onnx_val(c, x)->shape;
    int64_t dim = -1;
    if (!flat) {
        if (xs->rank < 1 || axis < -xs->rank || axis >= xs->rank)
            return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d",
                                  (long long)axis, xs->rank);
        dim = xs->dims[axis < 0 ? axis + xs->rank : axis];
    } else if (xs->rank >= 0) {
        dim = bnn_shape_numel(xs);
    }
    int64_t n = cv->shape.dims[0], kept = 0;
    int64_t *places = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!places)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        if (param_nonzero(cv, i))
            places[kept++] = i;
    if (kept > 0 && (dim < 0 || places[kept - 1] >= dim)) {
        int64_t last = places[kept - 1];
        free(places);
        return onnx_node_fail(c, BNN_ERR_INVALID,
                              dim < 0 ? "the input's size along the axis is not known"
                                      : "condition keeps place %lld, past the dim of %lld",
                              (long long)last, (long long)dim);
    }
    char base[300], buf[320];
    snprintf(base, sizeof base, "%s_places", c->node_name);
    bnn_shape ps = {.rank = 1, .dims = {kept}};
    int pid = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_I64, &ps,
                                  places, (size_t)kept * sizeof(int64_t), false);
    free(places);
    if (pid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int src = x, nid;
    if (flat) {
        snprintf(base, sizeof base, "%s_flat", c->node_name);
        int fv = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                     BNN_UNDEFINED, NULL);
        int rid = fv < 0 ? -1 : bnn_graph_add_node(c->g, BNN_OP_RESHAPE, buf, &x, 1, &fv, 1);
        if (rid < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        int64_t minus_one = -1;
        BNN_TRY(onnx_set_ints(c, rid, "shape", &minus_one, 1));
        BNN_TRY(onnx_infer(c, rid));
        src = fv;
    }
    int in[2] = {src, pid};
    BNN_TRY(onnx_emit_node(c, BNN_OP_GATHER, in, 2, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", flat ? 0 : axis));
    return onnx_infer(c, nid);
}

/* NonZero of a constant folds: the i64 [rank, count] coordinates of its
 * nonzero elements, row-major order. */
bnn_status onnx_lower_non_zero(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const bnn_value *v = onnx_val(c, x);
    if (!onnx_is_param(c, x) || bnn_dtype_size(v->dtype) == 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "input must be a constant: it decides the output's size, and bnnc "
                              "plans sizes before it sees data");
    if (v->shape.rank < 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a scalar input is not supported");
    int64_t total = bnn_shape_numel(&v->shape), count = 0;
    for (int64_t i = 0; i < total; i++)
        count += param_nonzero(v, i);
    int r = v->shape.rank;
    if ((uint64_t)count * (uint64_t)r > ONNX_MAX_FOLDED_BYTES / sizeof(int64_t))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the result would be over %d MiB",
                              (int)(ONNX_MAX_FOLDED_BYTES >> 20));
    int64_t *out = malloc(sizeof(int64_t) * (size_t)(count * r + 1));
    if (!out)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int64_t j = 0;
    for (int64_t i = 0; i < total; i++) {
        if (!param_nonzero(v, i))
            continue;
        int64_t rem = i;
        for (int d = r - 1; d >= 0; d--) {
            out[d * count + j] = rem % v->shape.dims[d];
            rem /= v->shape.dims[d];
        }
        j++;
    }
    bnn_shape s = {.rank = 2, .dims = {r, count}};
    bnn_status st = onnx_output_param(c, 0, BNN_I64, &s, out, (size_t)(count * r) * sizeof(int64_t));
    free(out);
    return st;
}

/* ---- Unique of a constant ------------------------------------------------ */

/* The input seen as `count` slices of `len` elements each (slice i's element
 * j at base(i) + j's place), values as doubles (exact for these types). */
typedef struct slices {
    const bnn_value *v;
    int64_t count, len, inner; /* x as [outer, count, inner]; len = outer * inner */
} slices;

static double slice_elem(const slices *s, int64_t i, int64_t j)
{
    int64_t o = j / s->inner, in = j % s->inner;
    int64_t at = (o * s->count + i) * s->inner + in;
    const void *p = s->v->data;
    switch (s->v->dtype) {
    case BNN_F32: return ((const float *)p)[at];
    case BNN_F64: return ((const double *)p)[at];
    case BNN_I8: return ((const int8_t *)p)[at];
    case BNN_U8: return ((const uint8_t *)p)[at];
    case BNN_I16: return ((const int16_t *)p)[at];
    case BNN_U16: return ((const uint16_t *)p)[at];
    default: return ((const int32_t *)p)[at];
    }
}

/* Lexicographic order of slices a and b; NaN above every number, equal to
 * NaN. */
static int slice_cmp(const slices *s, int64_t a, int64_t b)
{
    for (int64_t j = 0; j < s->len; j++) {
        double x = slice_elem(s, a, j), y = slice_elem(s, b, j);
        if (isnan(x) || isnan(y)) {
            if (isnan(x) != isnan(y))
                return isnan(x) ? 1 : -1;
            continue;
        }
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* Stable merge sort of ids by key: slice order (s) or, with s NULL, by
 * first[id]. */
static void sort_ids(int64_t *ids, int64_t *tmp, int64_t n, const slices *s, const int64_t *first)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                bool right = s ? slice_cmp(s, ids[j], ids[i]) < 0 : first[ids[j]] < first[ids[i]];
                tmp[o++] = right ? ids[j++] : ids[i++];
            }
            while (i < mid)
                tmp[o++] = ids[i++];
            while (j < hi)
                tmp[o++] = ids[j++];
        }
        memcpy(ids, tmp, (size_t)n * sizeof *ids);
    }
}

/* Unique of a constant folds into its four outputs: the unique elements (or
 * slices along axis), sorted or in order of first appearance, each's first
 * place, every element's unique position, and the counts. */
bnn_status onnx_lower_unique(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const bnn_value *v = onnx_val(c, x);
    if (!onnx_is_param(c, x))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "input must be a constant: it decides the outputs' size, and bnnc "
                              "plans sizes before it sees data");
    switch (v->dtype) {
    case BNN_F32: case BNN_F64: case BNN_I8: case BNN_U8: case BNN_I16: case BNN_U16:
    case BNN_I32: break;
    default:
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                              bnn_dtype_name(v->dtype) ? bnn_dtype_name(v->dtype) : "?");
    }
    int64_t sorted;
    BNN_TRY(onnx_attr_int(c, "sorted", 1, &sorted));
    bool flat = !onnx_attr(c, "axis");
    int64_t axis = 0;
    BNN_TRY(onnx_attr_int(c, "axis", 0, &axis));
    int r = v->shape.rank;
    slices s = {.v = v, .count = bnn_shape_numel(&v->shape), .len = 1, .inner = 1};
    if (!flat) {
        if (r < 1 || axis < -r || axis >= r)
            return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is out of range for rank %d",
                                  (long long)axis, r);
        if (axis < 0)
            axis += r;
        s.count = v->shape.dims[axis];
        for (int d = 0; d < r; d++)
            if (d < axis)
                s.len *= v->shape.dims[d];
            else if (d > axis)
                s.inner *= v->shape.dims[d];
        s.len *= s.inner;
    }
    int64_t n = s.count;
    int64_t *buf = malloc(sizeof(int64_t) * (size_t)(6 * n + 1));
    if (!buf)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int64_t *ids = buf, *tmp = buf + n, *group_of = buf + 2 * n, *first = buf + 3 * n,
            *counts = buf + 4 * n, *order = buf + 5 * n;
    for (int64_t i = 0; i < n; i++)
        ids[i] = i;
    sort_ids(ids, tmp, n, &s, NULL);
    int64_t u = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k == 0 || slice_cmp(&s, ids[k - 1], ids[k]) != 0) {
            first[u] = ids[k]; /* stable: the lowest place of the group */
            counts[u++] = 0;
        }
        group_of[ids[k]] = u - 1;
        counts[u - 1]++;
    }
    for (int64_t g = 0; g < u; g++)
        order[g] = g;
    if (!sorted)
        sort_ids(order, tmp, u, NULL, first);
    /* rank[g]: where group g lands in the output (tmp reused) */
    for (int64_t k = 0; k < u; k++)
        tmp[order[k]] = k;
    size_t es = bnn_dtype_size(v->dtype);
    bnn_shape ys = v->shape;
    if (flat) {
        ys.rank = 1;
        ys.dims[0] = u;
    } else {
        ys.dims[axis] = u;
    }
    unsigned char *y = malloc((size_t)(u * s.len) * es + 1);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(2 * u + n + 1));
    bnn_status st = BNN_OK;
    if (!y || !idx) {
        st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    } else {
        int64_t outer = s.len / s.inner;
        for (int64_t k = 0; k < u; k++) {
            int64_t grp = order[k], src = first[grp];
            for (int64_t o = 0; o < outer; o++)
                memcpy(y + (size_t)((o * u + k) * s.inner) * es,
                       (const unsigned char *)v->data + (size_t)((o * n + src) * s.inner) * es,
                       (size_t)s.inner * es);
            idx[k] = src;
            idx[u + n + k] = counts[grp];
        }
        for (int64_t i = 0; i < n; i++)
            idx[u + i] = tmp[group_of[i]];
        bnn_shape us = {.rank = 1, .dims = {u}}, ns = {.rank = 1, .dims = {n}};
        st = onnx_output_param(c, 0, v->dtype, &ys, y, (size_t)(u * s.len) * es);
        for (int k = 1; st == BNN_OK && k < 4; k++)
            if ((size_t)k < c->node->n_output && *onnx_str(c->node->output[k]))
                st = onnx_output_param(c, k, BNN_I64, k == 2 ? &ns : &us,
                                       idx + (k == 1 ? 0 : k == 2 ? u : u + n),
                                       (size_t)(k == 2 ? n : u) * sizeof(int64_t));
    }
    free(y);
    free(idx);
    free(buf);
    return st;
}
