/* Shape inference for the layout ops: flatten, reshape, transpose, concat,
 * squeeze/unsqueeze, pad, shape and gather.  Dispatch and the shared
 * helpers are in infer.c. */

#include <string.h>

#include "infer_impl.h"
#include "range_impl.h"

/* ---- layout --------------------------------------------------------------- */

bnn_status bnn_infer_flatten(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    int64_t axis = bnn_node_int(c->node, "axis", 1);
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out.rank = 2;
    if (x->rank < 0) {
        c->out.dims[0] = c->out.dims[1] = BNN_DIM_UNKNOWN;
        if (axis == 0)
            c->out.dims[0] = 1;
        return BNN_OK;
    }
    if (axis < -x->rank || axis > x->rank)
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                          infer_name(c, 0), infer_type(c, 0));
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    c->out.dims[0] = infer_dim_product(x->dims, a);
    c->out.dims[1] = infer_dim_product(x->dims + a, x->rank - a);
    return BNN_OK;
}

/* Reshape by the `shape` attribute: 0 copies the input dim (unless
 * allowzero), one -1 takes the rest.  Symbols of the input that the target
 * repeats cancel, so [N,16,5,5] -> [-1,400] gives N. */
static bnn_status reshape_attr(infer_ctx *c, const int64_t *target, int n, bool allowzero)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    int infer_at = -1;
    c->out.rank = n;
    for (int i = 0; i < n; i++) {
        int64_t t = target[i];
        if (t < -1)
            return infer_fail(c, "attribute 'shape' has %lld at position %d", (long long)t, i);
        if (t == -1) {
            if (infer_at >= 0)
                return infer_fail(c, "attribute 'shape' has more than one -1");
            infer_at = i;
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        } else if (t == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return infer_fail(c,
                                  "attribute 'shape' copies dim %d (0) of input '%s' %s, which has "
                                  "no such dim",
                                  i, infer_name(c, 0), infer_type(c, 0));
            c->out.dims[i] = x->rank >= 0 ? x->dims[i] : BNN_DIM_UNKNOWN;
        } else {
            c->out.dims[i] = t;
        }
    }
    if (allowzero && infer_at >= 0)
        for (int i = 0; i < n; i++)
            if (target[i] == 0)
                return infer_fail(c, "attribute 'shape' has both 0 and -1 with allowzero=1");
    if (x->rank < 0)
        return BNN_OK;
    /* Cancel the symbols the output shares with the input, then compare the
     * products of the known dims. */
    int64_t rest[BNN_MAX_RANK];
    int n_rest = 0;
    int64_t in_known = 1, out_known = 1;
    bool overflow = false, out_opaque = false;
    for (int i = 0; i < x->rank; i++) {
        if (x->dims[i] >= 0)
            overflow |= __builtin_mul_overflow(in_known, x->dims[i], &in_known);
        else
            rest[n_rest++] = x->dims[i];
    }
    for (int i = 0; i < n; i++) {
        int64_t d = c->out.dims[i];
        if (i == infer_at)
            continue;
        if (d >= 0) {
            overflow |= __builtin_mul_overflow(out_known, d, &out_known);
            continue;
        }
        int j = 0;
        while (j < n_rest && !(bnn_dim_is_symbol(d) && rest[j] == d))
            j++;
        if (j == n_rest)
            out_opaque = true;
        else
            rest[j] = rest[--n_rest];
    }
    if (overflow || out_opaque)
        return BNN_OK;
    if (infer_at < 0) {
        if (n_rest == 0 && in_known != out_known)
            return infer_fail(c, "input '%s' %s has %lld elements, attribute 'shape' makes %lld",
                              infer_name(c, 0), infer_type(c, 0), (long long)in_known,
                              (long long)out_known);
        return BNN_OK;
    }
    if (n_rest == 0) {
        if (out_known == 0 ? in_known != 0 : in_known % out_known != 0)
            return infer_fail(c,
                              "input '%s' %s has %lld elements, not a multiple of the %lld that "
                              "attribute 'shape' fixes",
                              infer_name(c, 0), infer_type(c, 0), (long long)in_known,
                              (long long)out_known);
        c->out.dims[infer_at] = out_known ? in_known / out_known : BNN_DIM_UNKNOWN;
    } else if (n_rest == 1 && bnn_dim_is_symbol(rest[0]) && in_known == out_known) {
        c->out.dims[infer_at] = rest[0];
    }
    return BNN_OK;
}

/* A second input holding a computed shape or pads: 1-D i64; returns its
 * length, or -1 when unknown. */
static bnn_status shape_operand(infer_ctx *c, int k, int64_t *len)
{
    const bnn_value *v = infer_input(c, k);
    if (v->dtype != BNN_UNDEFINED && v->dtype != BNN_I64)
        return infer_fail(c, "input '%s' has type %s, expected i64", v->name, infer_type(c, k));
    if (v->shape.rank >= 0 && v->shape.rank != 1)
        return infer_fail(c, "input '%s' has shape %s, expected 1-D", v->name, infer_type(c, k));
    *len = v->shape.rank == 1 && v->shape.dims[0] >= 0 ? v->shape.dims[0] : BNN_DIM_UNKNOWN;
    return BNN_OK;
}

/* A target shape given as input 1 rather than attribute 'shape': its values
 * are known only when a session binds the inputs, so the output gets the
 * input's length as its rank and every dim unknown.  *given says whether
 * input 1 is there (the attribute's case is the caller's). */
static bnn_status shape_from_input(infer_ctx *c, bool has_attr, bool *given)
{
    *given = infer_input(c, 1) != NULL;
    if (!*given)
        return BNN_OK;
    if (has_attr)
        return infer_fail(c, "has both attribute 'shape' and a shape input '%s'",
                          infer_name(c, 1));
    int64_t len;
    BNN_TRY(shape_operand(c, 1, &len));
    if (len > BNN_MAX_RANK)
        return infer_fail(c, "shape input '%s' %s gives rank %lld, more than %d",
                          infer_name(c, 1), infer_type(c, 1), (long long)len, BNN_MAX_RANK);
    c->out.rank = (int)len;
    for (int i = 0; i < c->out.rank; i++)
        c->out.dims[i] = BNN_DIM_UNKNOWN;
    return BNN_OK;
}

bnn_status bnn_infer_reshape(infer_ctx *c)
{
    bool allowzero;
    BNN_TRY(infer_flag_attr(c, "allowzero", 0, &allowzero));
    const int64_t *target;
    int n = bnn_node_ints(c->node, "shape", &target);
    bool has_attr = bnn_node_attr(c->node, "shape") != NULL;
    c->out_dtype = infer_input(c, 0)->dtype;
    bool given;
    BNN_TRY(shape_from_input(c, has_attr, &given));
    if (given)
        return BNN_OK;
    if (!has_attr)
        return infer_fail(c, "needs attribute 'shape' or a shape input");
    if (n > BNN_MAX_RANK)
        return infer_fail(c, "attribute 'shape' has %d dims, more than %d", n, BNN_MAX_RANK);
    return reshape_attr(c, target, n, allowzero);
}

bnn_status bnn_infer_transpose(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *perm;
    int n = bnn_node_ints(c->node, "perm", &perm);
    c->out_dtype = infer_input(c, 0)->dtype;
    if (!bnn_node_attr(c->node, "perm")) {
        c->out.rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            c->out.dims[i] = x->dims[x->rank - 1 - i];
        return BNN_OK;
    }
    if (x->rank >= 0 && n != x->rank)
        return infer_fail(c, "attribute 'perm' has %d values for input '%s' %s", n,
                          infer_name(c, 0), infer_type(c, 0));
    if (n > BNN_MAX_RANK)
        return infer_fail(c, "attribute 'perm' has %d values, more than %d", n, BNN_MAX_RANK);
    bool seen[BNN_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
            return infer_fail(c, "attribute 'perm' is not a permutation of 0..%d", n - 1);
        seen[perm[i]] = true;
    }
    c->out.rank = n;
    for (int i = 0; i < n; i++)
        c->out.dims[i] = x->rank >= 0 ? x->dims[perm[i]] : BNN_DIM_UNKNOWN;
    return BNN_OK;
}

bnn_status bnn_infer_concat(infer_ctx *c)
{
    if (!bnn_node_attr(c->node, "axis"))
        return infer_fail(c, "attribute 'axis' is required");
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    int ref = -1;
    for (int k = 0; k < c->node->n_inputs; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        BNN_TRY(infer_check_type(c, k, TYPES_ANY, 0));
        if (ref < 0 && infer_input(c, k)->shape.rank >= 0)
            ref = k;
    }
    c->out_dtype = infer_first_dtype(c);
    if (ref < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    int rank = infer_input(c, ref)->shape.rank, a;
    if (!infer_norm_axis(axis, rank, &a))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                          infer_name(c, ref), infer_type(c, ref));
    c->out = infer_input(c, ref)->shape;
    c->out.dims[a] = 0;
    for (int k = 0; k < c->node->n_inputs; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        if (s->rank < 0) {
            c->out.dims[a] = BNN_DIM_UNKNOWN;
            continue;
        }
        if (s->rank != rank)
            return infer_fail(c, "input '%s' %s and input '%s' %s differ in rank", infer_name(c, k),
                              infer_type(c, k), infer_name(c, ref), infer_type(c, ref));
        for (int i = 0; i < rank; i++) {
            if (i == a)
                continue;
            if (infer_dims_conflict(s->dims[i], c->out.dims[i]))
                return infer_fail(c, "input '%s' %s and input '%s' %s differ in dim %d",
                                  infer_name(c, k), infer_type(c, k), infer_name(c, ref),
                                  infer_type(c, ref), i);
            c->out.dims[i] = infer_dim_meet(c->out.dims[i], s->dims[i]);
        }
        c->out.dims[a] = infer_dim_add(c->out.dims[a], s->dims[a]);
    }
    return BNN_OK;
}

/* Marks the axes of attribute `axes` (each in [-rank, rank-1]) in mark[]. */
static bnn_status axes_attr(infer_ctx *c, int rank, bool *mark)
{
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    for (int i = 0; i < rank; i++)
        mark[i] = false;
    for (int i = 0; i < n; i++) {
        int a;
        if (!infer_norm_axis(axes[i], rank, &a))
            return infer_fail(c, "axis %lld of attribute 'axes' is out of range for rank %d",
                              (long long)axes[i], rank);
        if (mark[a])
            return infer_fail(c, "attribute 'axes' repeats axis %lld", (long long)axes[i]);
        mark[a] = true;
    }
    return BNN_OK;
}

bnn_status bnn_infer_squeeze(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out.rank = 0;
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    bool mark[BNN_MAX_RANK];
    if (bnn_node_attr(c->node, "axes")) {
        BNN_TRY(axes_attr(c, x->rank, mark));
    } else {
        /* All the 1-dims; a dim that might be 1 leaves even the rank unknown. */
        for (int i = 0; i < x->rank; i++) {
            if (x->dims[i] < 0) {
                c->out = infer_unknown_shape;
                return BNN_OK;
            }
            mark[i] = x->dims[i] == 1;
        }
    }
    for (int i = 0; i < x->rank; i++) {
        if (mark[i] && x->dims[i] >= 0 && x->dims[i] != 1)
            return infer_fail(c, "cannot squeeze axis %d of input '%s' %s: it is not 1", i,
                              infer_name(c, 0), infer_type(c, 0));
        if (!mark[i])
            c->out.dims[c->out.rank++] = x->dims[i];
    }
    return BNN_OK;
}

bnn_status bnn_infer_unsqueeze(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *axes;
    int n = bnn_node_ints(c->node, "axes", &axes);
    c->out_dtype = infer_input(c, 0)->dtype;
    if (!bnn_node_attr(c->node, "axes"))
        return infer_fail(c, "attribute 'axes' is required");
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (x->rank + n > BNN_MAX_RANK)
        return infer_fail(c, "unsqueezing input '%s' %s by %d axes exceeds rank %d",
                          infer_name(c, 0), infer_type(c, 0), n, BNN_MAX_RANK);
    bool mark[BNN_MAX_RANK];
    c->out.rank = x->rank + n;
    BNN_TRY(axes_attr(c, c->out.rank, mark));
    for (int i = 0, j = 0; i < c->out.rank; i++)
        c->out.dims[i] = mark[i] ? 1 : x->dims[j++];
    return BNN_OK;
}

bnn_status bnn_infer_pad(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const char *mode = bnn_node_string(c->node, "mode", "constant");
    bool reflect = strcmp(mode, "reflect") == 0;
    if (strcmp(mode, "constant") && !reflect && strcmp(mode, "edge"))
        return infer_fail(c, "attribute 'mode' is \"%s\", expected constant, reflect or edge",
                          mode);
    const int64_t *pads;
    int n = bnn_node_ints(c->node, "pads", &pads);
    bool has_attr = bnn_node_attr(c->node, "pads") != NULL;
    c->out_dtype = infer_input(c, 0)->dtype;
    const bnn_value *cv = infer_input(c, 2);
    if (cv && ((cv->dtype != BNN_UNDEFINED && c->out_dtype != BNN_UNDEFINED && cv->dtype != c->out_dtype) ||
               (bnn_shape_is_concrete(&cv->shape) && bnn_shape_numel(&cv->shape) != 1)))
        return infer_fail(c, "constant value '%s' %s must be one element of input '%s' %s's type",
                          infer_name(c, 2), infer_type(c, 2), infer_name(c, 0), infer_type(c, 0));
    if (infer_input(c, 1)) {
        if (has_attr)
            return infer_fail(c, "has both attribute 'pads' and a pads input '%s'",
                              infer_name(c, 1));
        int64_t len;
        BNN_TRY(shape_operand(c, 1, &len));
        if (len >= 0 && x->rank >= 0 && len != 2 * x->rank)
            return infer_fail(c, "pads input '%s' %s does not fit input '%s' %s", infer_name(c, 1),
                              infer_type(c, 1), infer_name(c, 0), infer_type(c, 0));
        c->out.rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        return BNN_OK;
    }
    if (!has_attr)
        return infer_fail(c, "needs attribute 'pads' or a pads input");
    if (n % 2 != 0 || n > 2 * BNN_MAX_RANK || (x->rank >= 0 && n != 2 * x->rank))
        return infer_fail(
            c, "attribute 'pads' has %d values for input '%s' %s, expected twice the rank", n,
            infer_name(c, 0), infer_type(c, 0));
    c->out.rank = n / 2;
    for (int i = 0; i < n / 2; i++) {
        int64_t pb = pads[i], pe = pads[n / 2 + i];
        int64_t d = x->rank >= 0 ? x->dims[i] : BNN_DIM_UNKNOWN;
        if (pb < -ATTR_MAX || pb > ATTR_MAX || pe < -ATTR_MAX || pe > ATTR_MAX)
            return infer_fail(c, "attribute 'pads' is out of range at dim %d", i);
        if (d < 0 || d > ((int64_t)1 << 61)) {
            c->out.dims[i] = pb == 0 && pe == 0 ? d : BNN_DIM_UNKNOWN;
            continue;
        }
        if (d + pb + pe < 0)
            return infer_fail(c,
                              "pads %lld and %lld on dim %d of input '%s' %s leave a negative size",
                              (long long)pb, (long long)pe, i, infer_name(c, 0), infer_type(c, 0));
        if (reflect && (pb >= d || pe >= d) && (pb > 0 || pe > 0))
            return infer_fail(
                c,
                "reflect pads %lld and %lld on dim %d of input '%s' %s must be smaller "
                "than the dim",
                (long long)pb, (long long)pe, i, infer_name(c, 0), infer_type(c, 0));
        c->out.dims[i] = d + pb + pe;
    }
    return BNN_OK;
}

bnn_status bnn_infer_shape(infer_ctx *c)
{
    int rank = infer_input(c, 0)->shape.rank;
    c->out_dtype = BNN_I64;
    c->out.rank = 1;
    c->out.dims[0] = BNN_DIM_UNKNOWN;
    if (rank < 0)
        return BNN_OK;
    /* ONNX: negative bounds count from the end, then both clamp to [0, rank]. */
    int64_t start = bnn_node_int(c->node, "start", 0), end = bnn_node_int(c->node, "end", rank);
    if (start < 0)
        start += rank;
    if (end < 0)
        end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    c->out.dims[0] = end > start ? end - start : 0;
    return BNN_OK;
}

bnn_status bnn_infer_constant_of_shape(infer_ctx *c)
{
    const bnn_value *v = infer_input(c, 0);
    int64_t numel = bnn_shape_numel(&v->shape);
    if (v->shape.rank >= 0 && bnn_shape_is_concrete(&v->shape) && numel != 1)
        return infer_fail(c, "value '%s' %s must hold one element", infer_name(c, 0), infer_type(c, 0));
    c->out_dtype = v->dtype;
    bool has_attr = bnn_node_attr(c->node, "shape") != NULL;
    bool given;
    BNN_TRY(shape_from_input(c, has_attr, &given));
    if (given)
        return BNN_OK;
    if (!has_attr)
        return infer_fail(c, "needs attribute 'shape' or a shape input");
    const int64_t *dims;
    int n = bnn_node_ints(c->node, "shape", &dims);
    if (n > BNN_MAX_RANK)
        return infer_fail(c, "attribute 'shape' has %d dims, more than %d", n, BNN_MAX_RANK);
    c->out.rank = n;
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || dims[i] > ATTR_MAX)
            return infer_fail(c, "attribute 'shape' has dim %lld, outside [0, %lld]", (long long)dims[i],
                              (long long)ATTR_MAX);
        c->out.dims[i] = dims[i];
    }
    return BNN_OK;
}

bnn_status bnn_infer_gather(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape, *idx = &infer_input(c, 1)->shape;
    bnn_dtype it = infer_input(c, 1)->dtype;
    if (it != BNN_UNDEFINED && it != BNN_I32 && it != BNN_I64)
        return infer_fail(c, "indices '%s' have type %s, expected i32 or i64", infer_name(c, 1),
                          infer_type(c, 1));
    int64_t axis = bnn_node_int(c->node, "axis", 0);
    int a = 0;
    c->out_dtype = infer_input(c, 0)->dtype;
    if (x->rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D", infer_name(c, 0),
                          infer_type(c, 0));
    if (x->rank >= 0 && !infer_norm_axis(axis, x->rank, &a))
        return infer_fail(c, "axis %lld is out of range for input '%s' %s", (long long)axis,
                          infer_name(c, 0), infer_type(c, 0));
    if (x->rank < 0 || idx->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (x->rank - 1 + idx->rank > BNN_MAX_RANK)
        return infer_fail(c, "output rank %d exceeds %d", x->rank - 1 + idx->rank, BNN_MAX_RANK);
    c->out.rank = 0;
    for (int i = 0; i < a; i++)
        c->out.dims[c->out.rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        c->out.dims[c->out.rank++] = idx->dims[i];
    for (int i = a + 1; i < x->rank; i++)
        c->out.dims[c->out.rank++] = x->dims[i];
    return BNN_OK;
}

/* An integer scalar (or one-element) input k, if present. */
static bnn_status check_scalar_int(infer_ctx *c, int k, const char *what)
{
    const bnn_value *v = infer_input(c, k);
    if (!v)
        return BNN_OK;
    if (v->dtype != BNN_UNDEFINED && v->dtype != BNN_I32 && v->dtype != BNN_I64)
        return infer_fail(c, "%s '%s' has type %s, expected i32 or i64", what, infer_name(c, k),
                          infer_type(c, k));
    if (v->shape.rank >= 0 && infer_dim_product(v->shape.dims, v->shape.rank) > 1)
        return infer_fail(c, "%s '%s' %s must hold one value", what, infer_name(c, k),
                          infer_type(c, k));
    return BNN_OK;
}

bnn_status bnn_infer_trilu(infer_ctx *c)
{
    bool upper;
    BNN_TRY(infer_flag_attr(c, "upper", 1, &upper));
    BNN_TRY(check_scalar_int(c, 1, "k"));
    const bnn_value *x = infer_input(c, 0);
    if (x->shape.rank >= 0 && x->shape.rank < 2)
        return infer_fail(c, "input '%s' %s has rank %d, expected at least 2", infer_name(c, 0),
                          infer_type(c, 0), x->shape.rank);
    c->out_dtype = x->dtype;
    c->out = x->shape;
    return BNN_OK;
}

bnn_status bnn_infer_eye_like(infer_ctx *c)
{
    const bnn_value *x = infer_input(c, 0);
    if (x->shape.rank >= 0 && x->shape.rank != 2)
        return infer_fail(c, "input '%s' %s has rank %d, expected 2", infer_name(c, 0),
                          infer_type(c, 0), x->shape.rank);
    const bnn_attr *dt = bnn_node_attr(c->node, "dtype");
    c->out_dtype = x->dtype;
    if (dt) {
        const char *name = dt->i > 0 && dt->i <= BNN_BF16 ? bnn_dtype_name((bnn_dtype)dt->i) : NULL;
        if (!name || dt->i == BNN_STRING)
            return infer_fail(c, "attribute 'dtype' is %lld, expected a numeric or bool type",
                              (long long)dt->i);
        c->out_dtype = (bnn_dtype)dt->i;
    }
    if (c->out_dtype == BNN_STRING)
        return infer_fail(c, "input '%s' has type %s: eye_like needs 'dtype' for it",
                          infer_name(c, 0), infer_type(c, 0));
    int64_t k = bnn_node_int(c->node, "k", 0);
    if (k < -ATTR_MAX || k > ATTR_MAX)
        return infer_fail(c, "attribute 'k' is %lld, out of range", (long long)k);
    c->out = x->shape;
    return BNN_OK;
}

/* range(start, limit, delta): three scalars of one type (f32, f64, i32,
 * i64); its length when all three are params (a session's shape evaluation
 * makes them so for computed bounds), else unknown. */
bnn_status bnn_infer_range(infer_ctx *c)
{
    static const char *const what[3] = {"start", "limit", "delta"};
    bnn_dtype dt = infer_input(c, 0)->dtype;
    if (dt != BNN_UNDEFINED && dt != BNN_F32 && dt != BNN_F64 && dt != BNN_I32 && dt != BNN_I64)
        return infer_fail(c, "input 'start' has type %s, expected f32, f64, i32 or i64",
                          infer_type(c, 0));
    bool all = true;
    for (int k = 0; k < 3; k++) {
        const bnn_value *v = infer_input(c, k);
        if (v->dtype != BNN_UNDEFINED && v->dtype != dt)
            return infer_fail(c, "input '%s' has type %s, input 'start' %s", what[k],
                              infer_type(c, k), infer_type(c, 0));
        if (v->shape.rank > 1 || (v->shape.rank == 1 && v->shape.dims[0] != 1))
            return infer_fail(c, "input '%s' %s is not a scalar", what[k], infer_type(c, k));
        all = all && v->kind == BNN_VALUE_PARAM && v->data && v->shape.rank >= 0;
    }
    c->out_dtype = dt;
    c->out.rank = 1;
    c->out.dims[0] = BNN_DIM_UNKNOWN;
    if (!all || dt == BNN_UNDEFINED)
        return BNN_OK;
    int64_t n;
    const char *bad = bnn_range_count(dt, infer_input(c, 0)->data, infer_input(c, 1)->data,
                                      infer_input(c, 2)->data, &n);
    if (bad)
        return infer_fail(c, "%s", bad);
    if (n > ATTR_MAX)
        return infer_fail(c, "%lld elements, more than %lld", (long long)n, (long long)ATTR_MAX);
    c->out.dims[0] = n;
    return BNN_OK;
}
