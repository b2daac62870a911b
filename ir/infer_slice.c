/* Shape inference for slice, expand and tile (runtime/kernels/slice.c).
 * bnn_slice_count (slice_impl.h) is the one rule for clamping slice bounds,
 * which the importer's folding and the kernel use too.  Dispatch and the
 * shared helpers are in infer.c. */

#include "infer_impl.h"
#include "slice_impl.h"

/* A start or end at least this large means "to the end" (ONNX writes
 * INT64_MAX); dims never come near it. */
#define SLICE_FAR ((int64_t)1 << 62)

/* ---- slice ---------------------------------------------------------------- */

/* Declared in slice_impl.h. */
int64_t bnn_slice_count(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first)
{
    if (start < 0)
        start = start < -dim ? -1 : start + dim;
    if (end < 0)
        end = end < -dim ? -1 : end + dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *first = start;
        return end > start ? (end - start + step - 1) / step : 0;
    }
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    *first = start;
    return start > end ? (start - end + (-step) - 1) / (-step) : 0;
}

/* starts and ends as inputs 1 and 2, computed by the model from run-time
 * sizes (Swin's window shifts): known when a session binds the input shapes
 * (runtime/shape_eval.c makes them the attributes then).  Until then the
 * sliced axes (attribute 'axes', else the first len(starts)) are open. */
static bnn_status slice_computed(infer_ctx *c, const bnn_shape *x)
{
    if (bnn_node_attr(c->node, "starts") || bnn_node_attr(c->node, "ends"))
        return infer_fail(c, "has both attributes 'starts'/'ends' and inputs for them");
    int64_t len[2];
    for (int k = 1; k <= 2; k++) {
        const bnn_value *v = infer_input(c, k);
        if (!v)
            return infer_fail(c, "needs both 'starts' and 'ends' as inputs");
        if (v->dtype != BNN_UNDEFINED && v->dtype != BNN_I64 && v->dtype != BNN_I32)
            return infer_fail(c, "input '%s' has type %s, expected i64 or i32", v->name,
                              infer_type(c, k));
        if (v->shape.rank >= 0 && v->shape.rank != 1)
            return infer_fail(c, "input '%s' has shape %s, expected 1-D", v->name, infer_type(c, k));
        len[k - 1] = v->shape.rank == 1 ? v->shape.dims[0] : BNN_DIM_UNKNOWN;
    }
    if (bnn_dim_is_known(len[0]) && bnn_dim_is_known(len[1]) && len[0] != len[1])
        return infer_fail(c, "inputs 'starts' and 'ends' differ in length (%lld, %lld)",
                          (long long)len[0], (long long)len[1]);
    const int64_t *axes = NULL;
    int na = bnn_node_attr(c->node, "axes") ? bnn_node_ints(c->node, "axes", &axes) : -1;
    int64_t n = na >= 0 ? na : bnn_dim_is_known(len[0]) ? len[0] : len[1];
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out = *x;
    if (!bnn_dim_is_known(n)) { /* which axes is open too */
        for (int a = 0; a < x->rank; a++)
            c->out.dims[a] = BNN_DIM_UNKNOWN;
        return BNN_OK;
    }
    if (n > x->rank)
        return infer_fail(c, "slices %lld axes of input '%s' %s", (long long)n, infer_name(c, 0),
                          infer_type(c, 0));
    for (int i = 0; i < n; i++) {
        int a = i;
        if (axes && !infer_norm_axis(axes[i], x->rank, &a))
            return infer_fail(c, "axis %lld of attribute 'axes' is out of range for input '%s' %s",
                              (long long)axes[i], infer_name(c, 0), infer_type(c, 0));
        c->out.dims[a] = BNN_DIM_UNKNOWN;
    }
    return BNN_OK;
}

bnn_status bnn_infer_slice(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *starts, *ends, *axes = NULL, *steps = NULL;
    int ns = bnn_node_ints(c->node, "starts", &starts);
    int ne = bnn_node_ints(c->node, "ends", &ends);
    c->out_dtype = infer_input(c, 0)->dtype;
    if (infer_input(c, 1) || infer_input(c, 2))
        return slice_computed(c, x);
    if (!bnn_node_attr(c->node, "starts") || !bnn_node_attr(c->node, "ends"))
        return infer_fail(c, "attributes 'starts' and 'ends' are required");
    if (ns != ne)
        return infer_fail(c, "attribute 'starts' has %d values but 'ends' has %d", ns, ne);
    if (bnn_node_attr(c->node, "axes") && bnn_node_ints(c->node, "axes", &axes) != ns)
        return infer_fail(c, "attribute 'axes' has %d values, expected %d (as 'starts')",
                          bnn_node_ints(c->node, "axes", &axes), ns);
    if (bnn_node_attr(c->node, "steps") && bnn_node_ints(c->node, "steps", &steps) != ns)
        return infer_fail(c, "attribute 'steps' has %d values, expected %d (as 'starts')",
                          bnn_node_ints(c->node, "steps", &steps), ns);
    for (int i = 0; steps && i < ns; i++)
        if (steps[i] == 0 || steps[i] < -ATTR_MAX || steps[i] > ATTR_MAX)
            return infer_fail(c, "attribute 'steps' has %lld at position %d, expected a nonzero "
                              "value in -2^31..2^31", (long long)steps[i], i);
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (ns > x->rank)
        return infer_fail(c, "slices %d axes of input '%s' %s", ns, infer_name(c, 0),
                          infer_type(c, 0));
    c->out = *x;
    bool seen[BNN_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int a = i;
        if (axes && !infer_norm_axis(axes[i], x->rank, &a))
            return infer_fail(c, "axis %lld of attribute 'axes' is out of range for input '%s' %s",
                              (long long)axes[i], infer_name(c, 0), infer_type(c, 0));
        if (seen[a])
            return infer_fail(c, "attribute 'axes' repeats axis %d", a);
        seen[a] = true;
        int64_t step = steps ? steps[i] : 1, d = x->dims[a], first;
        if (d >= 0) {
            c->out.dims[a] = bnn_slice_count(d, starts[i], ends[i], step, &first);
        } else {
            /* A symbolic dim survives only the whole range, forward. */
            bool whole = step == 1 && starts[i] == 0 && ends[i] >= SLICE_FAR;
            c->out.dims[a] = whole ? d : BNN_DIM_UNKNOWN;
        }
    }
    return BNN_OK;
}

/* ---- expand, tile --------------------------------------------------------- */

/* The shape as input 1, computed by the model (a batch size read from the
 * input, say): its values come when a session binds the inputs
 * (runtime/shape_eval.c turns it into the attribute then).  Until then the
 * rank is the larger of x's and the shape's length, and a dim is x's where
 * x's is known and not 1 (broadcasting cannot change it), else unknown. */
static bnn_status expand_computed(infer_ctx *c, const bnn_shape *x)
{
    const bnn_value *s = infer_input(c, 1);
    if (s->dtype != BNN_UNDEFINED && s->dtype != BNN_I64)
        return infer_fail(c, "input '%s' has type %s, expected i64", s->name, infer_type(c, 1));
    if (s->shape.rank >= 0 && s->shape.rank != 1)
        return infer_fail(c, "input '%s' has shape %s, expected 1-D", s->name, infer_type(c, 1));
    int64_t len = s->shape.rank == 1 ? s->shape.dims[0] : BNN_DIM_UNKNOWN;
    if (len > BNN_MAX_RANK)
        return infer_fail(c, "shape input '%s' %s gives rank %lld, more than %d", s->name,
                          infer_type(c, 1), (long long)len, BNN_MAX_RANK);
    if (x->rank < 0 || len < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    int rank = x->rank > len ? x->rank : (int)len;
    c->out.rank = rank;
    for (int i = 0; i < rank; i++) {
        int ix = i - (rank - x->rank);
        int64_t dx = ix >= 0 ? x->dims[ix] : 1;
        c->out.dims[i] = bnn_dim_is_known(dx) && dx != 1 ? dx : BNN_DIM_UNKNOWN;
    }
    return BNN_OK;
}

bnn_status bnn_infer_expand(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *shape;
    int n = bnn_node_ints(c->node, "shape", &shape);
    c->out_dtype = infer_input(c, 0)->dtype;
    if (infer_input(c, 1)) {
        if (bnn_node_attr(c->node, "shape"))
            return infer_fail(c, "has both attribute 'shape' and a shape input '%s'",
                              infer_name(c, 1));
        return expand_computed(c, x);
    }
    if (!bnn_node_attr(c->node, "shape"))
        return infer_fail(c, "needs attribute 'shape' or a shape input");
    if (n > BNN_MAX_RANK)
        return infer_fail(c, "attribute 'shape' has %d dims, more than %d", n, BNN_MAX_RANK);
    for (int i = 0; i < n; i++)
        if (shape[i] < 0 || shape[i] > ((int64_t)1 << 40))
            return infer_fail(c, "attribute 'shape' has %lld at position %d", (long long)shape[i],
                              i);
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    /* Bidirectional (numpy) broadcasting of the input with the shape. */
    int rank = x->rank > n ? x->rank : n;
    c->out.rank = rank;
    for (int i = 0; i < rank; i++) {
        int ix = i - (rank - x->rank), is = i - (rank - n);
        int64_t dx = ix >= 0 ? x->dims[ix] : 1, ds = is >= 0 ? shape[is] : 1;
        if (ds == 1 || ds == dx)
            c->out.dims[i] = dx;
        else if (dx == 1 || dx < 0)
            c->out.dims[i] = dx == 1 ? ds : BNN_DIM_UNKNOWN;
        else
            return infer_fail(c, "input '%s' %s does not broadcast to shape dim %lld at %d",
                              infer_name(c, 0), infer_type(c, 0), (long long)ds, i);
    }
    return BNN_OK;
}

bnn_status bnn_infer_tile(infer_ctx *c)
{
    const bnn_shape *x = &infer_input(c, 0)->shape;
    const int64_t *rep;
    int n = bnn_node_ints(c->node, "repeats", &rep);
    c->out_dtype = infer_input(c, 0)->dtype;
    if (!bnn_node_attr(c->node, "repeats"))
        return infer_fail(c, "attribute 'repeats' is required");
    for (int i = 0; i < n; i++)
        if (rep[i] < 0 || rep[i] > ATTR_MAX)
            return infer_fail(c, "attribute 'repeats' has %lld at position %d, expected 0..2^31",
                              (long long)rep[i], i);
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (n != x->rank)
        return infer_fail(c, "attribute 'repeats' has %d values for input '%s' %s", n,
                          infer_name(c, 0), infer_type(c, 0));
    c->out = *x;
    for (int i = 0; i < n; i++) {
        int64_t d = x->dims[i];
        if (rep[i] == 1)
            continue;
        if (rep[i] == 0)
            c->out.dims[i] = 0;
        else if (d < 0 || d > ((int64_t)1 << 31))
            c->out.dims[i] = BNN_DIM_UNKNOWN;
        else
            c->out.dims[i] = d * rep[i];
    }
    return BNN_OK;
}
