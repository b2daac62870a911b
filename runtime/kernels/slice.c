/* Slicing and replicating layout ops, for every element type (they move
 * bytes): slice (ONNX Split arrives as one slice per part), expand and tile.
 * Gradients are f32: slice's scatters back into the sliced window, expand's
 * and tile's sum over the copies. */
#include <string.h>

#include "kernel.h"
#include "layout_impl.h"
#include "slice_impl.h"

#define PAR_MIN 65536 /* elements below which threads cost more than they give */

/* ---- a strided walk: y (contiguous, dims) reads x at base + sum i_d*str_d -- */

typedef struct walk {
    int rank;
    int64_t dims[BNN_MAX_RANK];    /* the output's */
    int64_t strides[BNN_MAX_RANK]; /* input elements per step of each output dim */
    int64_t base;                  /* input element of output element 0 */
} walk;

static int64_t walk_numel(const walk *w)
{
    int64_t n = 1;
    for (int d = 0; d < w->rank; d++)
        n *= w->dims[d];
    return n;
}

/* The input offset of the first element of output row `row`. */
static inline int64_t walk_row(const walk *w, int64_t row)
{
    int64_t off = w->base;
    for (int d = w->rank - 2; d >= 0; d--) {
        off += (row % w->dims[d]) * w->strides[d];
        row /= w->dims[d];
    }
    return off;
}

static void walk_gather(const walk *w, size_t es, const unsigned char *src, unsigned char *dst)
{
    layout_strided_gather(es, w->rank, w->dims, w->strides, src + (size_t)w->base * es, dst);
}

/* The adjoint for f32: gx[offset(i)] += g[i].  Serial: expand's offsets
 * repeat, so rows may share a target. */
static void walk_scatter_add(const walk *w, float *gx, const float *g)
{
    int64_t n = walk_numel(w);
    if (n == 0)
        return;
    int64_t inner = w->rank ? w->dims[w->rank - 1] : 1;
    int64_t sl = w->rank ? w->strides[w->rank - 1] : 0, rows = n / inner;
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = walk_row(w, row);
        const float *gr = g + row * inner;
        if (sl == 0) {
            double acc = 0;
            for (int64_t i = 0; i < inner; i++)
                acc += gr[i];
            gx[off] += (float)acc;
        } else {
            for (int64_t i = 0; i < inner; i++)
                gx[off + i * sl] += gr[i];
        }
    }
}

static void contiguous_strides(const bnn_shape *s, int64_t *strides)
{
    int64_t st = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        strides[d] = st;
        st *= s->dims[d];
    }
}

static bnn_status check_types(const bnn_kernel_args *args, bnn_diag *diag)
{
    if (args->inputs[0].dtype != args->outputs[0].dtype ||
        args->inputs[0].shape.rank > BNN_MAX_RANK || args->outputs[0].shape.rank > BNN_MAX_RANK)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output type does not match the input");
    return BNN_OK;
}

static bnn_status shape_mismatch(const bnn_kernel_args *args, const bnn_shape *want,
                                 bnn_diag *diag)
{
    char a[200], b[200];
    return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output is %s, the attributes make %s",
                           bnn_shape_format(&args->outputs[0].shape, args->outputs[0].dtype, a,
                                            sizeof a),
                           bnn_shape_format(want, args->outputs[0].dtype, b, sizeof b));
}

/* Slice and expand are both a strided view of x (the walk their setup
 * fills): forward gathers it, backward scatters the gradient back. */
typedef bnn_status (*walk_setup_fn)(const bnn_kernel_args *args, walk *w, bnn_diag *diag);

static bnn_status walk_forward(const bnn_kernel_args *args, walk_setup_fn setup, bnn_diag *diag)
{
    walk w;
    BNN_TRY(setup(args, &w, diag));
    walk_gather(&w, bnn_dtype_size(args->inputs[0].dtype), args->inputs[0].data,
                args->outputs[0].data);
    return BNN_OK;
}

static bnn_status walk_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                walk_setup_fn setup, bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    if (!gx || !grads->grad_outputs[0].data)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    walk w;
    BNN_TRY(setup(args, &w, diag));
    walk_scatter_add(&w, gx, grads->grad_outputs[0].data);
    return BNN_OK;
}

/* ---- slice -------------------------------------------------------------- */

static bnn_status slice_setup(const bnn_kernel_args *args, walk *w, bnn_diag *diag)
{
    BNN_TRY(check_types(args, diag));
    const bnn_tensor *x = &args->inputs[0];
    const int64_t *starts, *ends, *axes = NULL, *steps = NULL;
    int n = bnn_node_ints(args->node, "starts", &starts);
    int ne = bnn_node_ints(args->node, "ends", &ends);
    int na = bnn_node_ints(args->node, "axes", &axes);
    int nst = bnn_node_ints(args->node, "steps", &steps);
    int rank = x->shape.rank;
    if (ne != n || (na && na != n) || (nst && nst != n) || n > rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "starts, ends, axes and steps do not fit");
    int64_t in_strides[BNN_MAX_RANK];
    contiguous_strides(&x->shape, in_strides);
    bnn_shape want = x->shape;
    w->rank = rank;
    w->base = 0;
    for (int d = 0; d < rank; d++) {
        w->dims[d] = x->shape.dims[d];
        w->strides[d] = in_strides[d];
    }
    bool seen[BNN_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int64_t a = na ? axes[i] : i, step = nst ? steps[i] : 1, first;
        if (a < 0)
            a += rank;
        if (a < 0 || a >= rank || seen[a] || step == 0 || step < -((int64_t)1 << 31) ||
            step > ((int64_t)1 << 31))
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "bad axes or steps");
        seen[a] = true;
        int64_t count = bnn_slice_count(x->shape.dims[a], starts[i], ends[i], step, &first);
        want.dims[a] = count;
        w->dims[a] = count;
        w->strides[a] = in_strides[a] * step;
        if (count > 0)
            w->base += first * in_strides[a];
    }
    if (!bnn_shape_equal(&want, &args->outputs[0].shape))
        return shape_mismatch(args, &want, diag);
    return BNN_OK;
}

static bnn_status slice_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return walk_forward(args, slice_setup, diag);
}

static bnn_status slice_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    return walk_backward(args, grads, slice_setup, diag);
}

const bnn_kernel bnn_kernel_slice = {.forward = slice_forward, .backward = slice_backward};

/* ---- expand ------------------------------------------------------------- */

/* The output's dims with the input's strides aligned at the end, 0 where the
 * input is broadcast. */
static bnn_status expand_setup(const bnn_kernel_args *args, walk *w, bnn_diag *diag)
{
    BNN_TRY(check_types(args, diag));
    const bnn_shape *x = &args->inputs[0].shape, *y = &args->outputs[0].shape;
    const int64_t *shape;
    int n = bnn_node_ints(args->node, "shape", &shape);
    int rank = x->rank > n ? x->rank : n;
    if (rank != y->rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "output rank does not match the shape");
    int64_t in_strides[BNN_MAX_RANK];
    contiguous_strides(x, in_strides);
    bnn_shape want = {.rank = rank};
    w->rank = rank;
    w->base = 0;
    for (int d = 0; d < rank; d++) {
        int ix = d - (rank - x->rank), is = d - (rank - n);
        int64_t dx = ix >= 0 ? x->dims[ix] : 1, ds = is >= 0 ? shape[is] : 1;
        if (dx != ds && dx != 1 && ds != 1)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "input does not broadcast to the shape");
        want.dims[d] = dx == 1 ? ds : dx;
        w->dims[d] = want.dims[d];
        w->strides[d] = ix >= 0 && dx != 1 ? in_strides[ix] : 0;
    }
    if (!bnn_shape_equal(&want, y))
        return shape_mismatch(args, &want, diag);
    return BNN_OK;
}

static bnn_status expand_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    return walk_forward(args, expand_setup, diag);
}

static bnn_status expand_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    return walk_backward(args, grads, expand_setup, diag);
}

const bnn_kernel bnn_kernel_expand = {.forward = expand_forward, .backward = expand_backward};

/* ---- tile --------------------------------------------------------------- */

static bnn_status tile_setup(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(check_types(args, diag));
    const bnn_shape *x = &args->inputs[0].shape;
    const int64_t *rep;
    int n = bnn_node_ints(args->node, "repeats", &rep);
    if (n != x->rank)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "repeats do not match the input's rank");
    bnn_shape want = *x;
    for (int d = 0; d < n; d++) {
        if (rep[d] < 0)
            return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "a repeat is negative");
        want.dims[d] = x->dims[d] * rep[d];
    }
    if (!bnn_shape_equal(&want, &args->outputs[0].shape))
        return shape_mismatch(args, &want, diag);
    return BNN_OK;
}

/* The input offset of output row `row` (rows: every dim but the last), each
 * output coordinate taken modulo the input's dim. */
static int64_t tile_row(const bnn_shape *x, const bnn_shape *y, const int64_t *in_strides,
                        int64_t row)
{
    int64_t off = 0;
    for (int d = y->rank - 2; d >= 0; d--) {
        off += (row % y->dims[d]) % x->dims[d] * in_strides[d];
        row /= y->dims[d];
    }
    return off;
}

static bnn_status tile_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    BNN_TRY(tile_setup(args, diag));
    const bnn_tensor *x = &args->inputs[0];
    bnn_tensor *y = &args->outputs[0];
    int64_t n = bnn_tensor_numel(y);
    if (n == 0)
        return BNN_OK;
    size_t es = bnn_dtype_size(x->dtype);
    int rank = y->shape.rank;
    int64_t in_strides[BNN_MAX_RANK];
    contiguous_strides(&x->shape, in_strides);
    int64_t inner = rank ? y->shape.dims[rank - 1] : 1, in_inner = rank ? x->shape.dims[rank - 1] : 1;
    int64_t rows = n / inner;
    const unsigned char *src = x->data;
    unsigned char *dst = y->data;
    size_t chunk = (size_t)in_inner * es;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        const unsigned char *s = src + (size_t)tile_row(&x->shape, &y->shape, in_strides, row) * es;
        unsigned char *o = dst + (size_t)(row * inner) * es;
        for (int64_t j = 0; j < inner; j += in_inner)
            memcpy(o + (size_t)j * es, s, chunk);
    }
    return BNN_OK;
}

static bnn_status tile_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    float *gx = grads->grad_inputs[0].data;
    const float *g = grads->grad_outputs[0].data;
    if (!gx || !g)
        return BNN_OK;
    BNN_TRY(bnn_kernel_need_f32_grad(args, args->inputs[0].dtype, diag));
    BNN_TRY(tile_setup(args, diag));
    const bnn_shape *xs = &args->inputs[0].shape, *ys = &args->outputs[0].shape;
    int64_t n = bnn_shape_numel(ys);
    if (n == 0)
        return BNN_OK;
    int rank = ys->rank;
    int64_t in_strides[BNN_MAX_RANK];
    contiguous_strides(xs, in_strides);
    int64_t inner = rank ? ys->dims[rank - 1] : 1, in_inner = rank ? xs->dims[rank - 1] : 1;
    for (int64_t row = 0; row < n / inner; row++) {
        float *t = gx + tile_row(xs, ys, in_strides, row);
        const float *gr = g + row * inner;
        for (int64_t j = 0; j < inner; j++)
            t[j % in_inner] += gr[j];
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_tile = {.forward = tile_forward, .backward = tile_backward};
