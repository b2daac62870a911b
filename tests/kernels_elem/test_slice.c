/* slice, expand and tile for several element sizes: forward against slow
 * references written from the ONNX spec (one output element at a time from
 * its coordinates), gradients by finite differences, bad shapes as errors. */
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static const bnn_dtype dtypes[] = {BNN_F32, BNN_U8, BNN_I16, BNN_I64, BNN_F64, BNN_BOOL};
#define N_DT (sizeof dtypes / sizeof dtypes[0])

/* ---- references ------------------------------------------------------------ */

/* The ONNX Slice rules spelled out: adjust negatives, clamp by direction, and
 * list the indices taken.  Returns the count. */
static int64_t ref_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *idx)
{
    if (start < 0)
        start += dim;
    if (end < 0)
        end += dim;
    int64_t n = 0;
    if (step > 0) {
        if (start < 0) start = 0;
        if (start > dim) start = dim;
        if (end < 0) end = 0;
        if (end > dim) end = dim;
        for (int64_t i = start; i < end; i += step)
            idx[n++] = i;
    } else {
        if (start < 0) start = -1;
        if (start > dim - 1) start = dim - 1;
        if (end < -1) end = -1;
        if (end > dim - 1) end = dim - 1;
        for (int64_t i = start; i > end; i += step)
            idx[n++] = i;
    }
    return n;
}

/* Output shape and, per dim, the input index of each output index. */
typedef struct ref_slice {
    bnn_shape out;
    int64_t idx[BNN_MAX_RANK][128];
} ref_slice;

static void ref_slice_plan(const bnn_shape *x, int n, const int64_t *starts, const int64_t *ends,
                           const int64_t *axes, const int64_t *steps, ref_slice *r)
{
    r->out = *x;
    for (int d = 0; d < x->rank; d++)
        for (int64_t i = 0; i < x->dims[d]; i++)
            r->idx[d][i] = i;
    for (int k = 0; k < n; k++) {
        int64_t a = axes ? axes[k] : k;
        if (a < 0)
            a += x->rank;
        r->out.dims[a] = ref_slice_axis(x->dims[a], starts[k], ends[k], steps ? steps[k] : 1,
                                        r->idx[a]);
    }
}

static void ref_slice_run(const ref_slice *r, const bnn_tensor *x, bnn_tensor *y)
{
    size_t es = bnn_dtype_size(x->dtype);
    int64_t n = bnn_tensor_numel(y), c[BNN_MAX_RANK], src[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, &y->shape, c);
        for (int d = 0; d < y->shape.rank; d++)
            src[d] = r->idx[d][c[d]];
        memcpy((char *)y->data + i * (int64_t)es,
               (const char *)x->data + ref_ravel(src, &x->shape) * (int64_t)es, es);
    }
}

/* Expand and tile: output coordinate -> input coordinate. */
static void ref_expand(const bnn_tensor *x, bnn_tensor *y)
{
    size_t es = bnn_dtype_size(x->dtype);
    int64_t c[BNN_MAX_RANK], src[BNN_MAX_RANK];
    int off = y->shape.rank - x->shape.rank;
    for (int64_t i = 0; i < bnn_tensor_numel(y); i++) {
        ref_unravel(i, &y->shape, c);
        for (int d = 0; d < x->shape.rank; d++)
            src[d] = x->shape.dims[d] == 1 ? 0 : c[d + off];
        memcpy((char *)y->data + i * (int64_t)es,
               (const char *)x->data + ref_ravel(src, &x->shape) * (int64_t)es, es);
    }
}

static void ref_tile(const bnn_tensor *x, bnn_tensor *y)
{
    size_t es = bnn_dtype_size(x->dtype);
    int64_t c[BNN_MAX_RANK];
    for (int64_t i = 0; i < bnn_tensor_numel(y); i++) {
        ref_unravel(i, &y->shape, c);
        for (int d = 0; d < x->shape.rank; d++)
            c[d] %= x->shape.dims[d];
        memcpy((char *)y->data + i * (int64_t)es,
               (const char *)x->data + ref_ravel(c, &x->shape) * (int64_t)es, es);
    }
}

static bnn_tensor alloc_like(bnn_dtype dt, const bnn_shape *s)
{
    bnn_tensor t;
    bnn_diag d;
    cr_assert_eq(bnn_tensor_alloc(&t, dt, s, &d), BNN_OK);
    return t;
}

static void expect_same(const bnn_tensor *want, const bnn_tensor *got, const char *what, int iter)
{
    cr_assert(bnn_shape_equal(&want->shape, &got->shape), "%s %d: shapes differ", what, iter);
    cr_expect_eq(memcmp(want->data, got->data, bnn_tensor_nbytes(want)), 0, "%s %d differs", what,
                 iter);
}

/* ---- slice ------------------------------------------------------------------- */

/* Bounds that exercise the clamping: inside, negative, far outside. */
static int64_t random_bound(uint64_t *s, int64_t dim)
{
    switch (ke_rand_int(s, 0, 5)) {
    case 0: return INT64_MAX;
    case 1: return INT64_MIN;
    case 2: return -ke_rand_int(s, 1, dim + 2);
    case 3: return dim + ke_rand_int(s, 0, 3);
    default: return ke_rand_int(s, 0, dim);
    }
}

Test(kernels_elem, slice_random)
{
    uint64_t s = 11;
    for (int iter = 0; iter < 400; iter++) {
        bnn_shape in = KE_SCALAR;
        in.rank = (int)ke_rand_int(&s, 1, 5);
        for (int d = 0; d < in.rank; d++)
            in.dims[d] = ke_rand_int(&s, 0, 6);
        int n = (int)ke_rand_int(&s, 1, in.rank);
        int64_t starts[BNN_MAX_RANK], ends[BNN_MAX_RANK], axes[BNN_MAX_RANK], steps[BNN_MAX_RANK];
        bool use_axes = iter % 3 != 0, use_steps = iter % 4 != 0;
        int64_t perm[BNN_MAX_RANK];
        for (int d = 0; d < in.rank; d++)
            perm[d] = d;
        for (int d = in.rank - 1; d > 0; d--) {
            int j = (int)ke_rand_int(&s, 0, d);
            int64_t t = perm[d];
            perm[d] = perm[j];
            perm[j] = t;
        }
        for (int k = 0; k < n; k++) {
            axes[k] = use_axes ? perm[k] - (ke_rand_int(&s, 0, 1) ? in.rank : 0) : k;
            int64_t dim = in.dims[axes[k] < 0 ? axes[k] + in.rank : axes[k]];
            starts[k] = random_bound(&s, dim);
            ends[k] = random_bound(&s, dim);
            steps[k] = use_steps ? ke_rand_int(&s, 1, 3) * (ke_rand_int(&s, 0, 1) ? 1 : -1) : 1;
        }
        ref_slice r;
        ref_slice_plan(&in, n, starts, ends, use_axes ? axes : NULL, use_steps ? steps : NULL, &r);
        bnn_dtype dt = dtypes[iter % N_DT];
        ke_case *c = ke_create1(BNN_OP_SLICE, dt, 1, &in, &r.out);
        ke_set_ints(c, "starts", starts, n);
        ke_set_ints(c, "ends", ends, n);
        if (use_axes)
            ke_set_ints(c, "axes", axes, n);
        if (use_steps)
            ke_set_ints(c, "steps", steps, n);
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 100);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        bnn_tensor want = alloc_like(dt, &r.out);
        ref_slice_run(&r, &c->inputs[0], &want);
        expect_same(&want, &c->output, "slice", iter);
        bnn_tensor_free(&want);
        ke_destroy(c);
    }
}

Test(kernels_elem, slice_large_threaded)
{
    bnn_shape in = KE_SHAPE(64, 40, 70);
    int64_t starts[] = {3, -60}, ends[] = {INT64_MAX, 2}, axes[] = {0, 2}, steps[] = {2, -3};
    ref_slice r;
    ref_slice_plan(&in, 2, starts, ends, axes, steps, &r);
    ke_case *c = ke_create1(BNN_OP_SLICE, BNN_F32, 1, &in, &r.out);
    ke_set_ints(c, "starts", starts, 2);
    ke_set_ints(c, "ends", ends, 2);
    ke_set_ints(c, "axes", axes, 2);
    ke_set_ints(c, "steps", steps, 2);
    ke_fill(&c->inputs[0], 3, -1, 1);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bnn_tensor want = alloc_like(BNN_F32, &r.out);
    ref_slice_run(&r, &c->inputs[0], &want);
    expect_same(&want, &c->output, "slice", 0);
    bnn_tensor_free(&want);
    ke_destroy(c);
}

Test(kernels_elem, slice_gradients)
{
    bnn_shape in = KE_SHAPE(4, 5, 3);
    int64_t starts[] = {-1, 1}, ends[] = {INT64_MIN, 5}, axes[] = {0, 1}, steps[] = {-2, 2};
    ref_slice r;
    ref_slice_plan(&in, 2, starts, ends, axes, steps, &r);
    cr_assert_eq(r.out.dims[0], 2);
    cr_assert_eq(r.out.dims[1], 2);
    ke_case *c = ke_create1(BNN_OP_SLICE, BNN_F32, 1, &in, &r.out);
    ke_set_ints(c, "starts", starts, 2);
    ke_set_ints(c, "ends", ends, 2);
    ke_set_ints(c, "axes", axes, 2);
    ke_set_ints(c, "steps", steps, 2);
    ke_fill(&c->inputs[0], 5, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    /* elements outside the window get no gradient */
    float g[12];
    for (int i = 0; i < 12; i++)
        g[i] = 1.0f;
    cr_assert_eq(ke_backward(c, g, 1), BNN_OK, "%s", c->diag.message);
    int64_t taken = 0;
    for (int64_t i = 0; i < 60; i++) {
        double v = ke_grad(c, 0, i);
        cr_expect(v == 0.0 || v == 1.0, "element %lld got %g", (long long)i, v);
        taken += v == 1.0;
    }
    cr_expect_eq(taken, 12);
    ke_destroy(c);
}

Test(kernels_elem, slice_bad_output_shape)
{
    bnn_shape in = KE_SHAPE(4, 5), out = KE_SHAPE(4, 3);
    ke_case *c = ke_create1(BNN_OP_SLICE, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "starts", 1);
    KE_SET_INTS(c, "ends", 3);
    KE_SET_INTS(c, "axes", 1);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (slice)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
    c = ke_create1(BNN_OP_SLICE, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "starts", 1);
    KE_SET_INTS(c, "ends", 3);
    KE_SET_INTS(c, "steps", 0);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE, "a zero step must fail");
    ke_destroy(c);
}

/* ---- expand ------------------------------------------------------------------ */

Test(kernels_elem, expand_random)
{
    uint64_t s = 21;
    for (int iter = 0; iter < 200; iter++) {
        bnn_shape in = KE_SCALAR, out = KE_SCALAR;
        out.rank = (int)ke_rand_int(&s, 1, 5);
        in.rank = (int)ke_rand_int(&s, 0, out.rank);
        int64_t shape[BNN_MAX_RANK];
        for (int d = 0; d < out.rank; d++)
            out.dims[d] = ke_rand_int(&s, 1, 4);
        for (int d = 0; d < in.rank; d++)
            in.dims[d] = ke_rand_int(&s, 0, 1) ? 1 : out.dims[d + out.rank - in.rank];
        /* the shape says 1 wherever the input already has the dim, at random */
        for (int d = 0; d < out.rank; d++) {
            int ix = d - (out.rank - in.rank);
            bool keep = ix >= 0 && in.dims[ix] == out.dims[d] && ke_rand_int(&s, 0, 1);
            shape[d] = keep ? 1 : out.dims[d];
        }
        bnn_dtype dt = dtypes[iter % N_DT];
        ke_case *c = ke_create1(BNN_OP_EXPAND, dt, 1, &in, &out);
        ke_set_ints(c, "shape", shape, out.rank);
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 100);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        bnn_tensor want = alloc_like(dt, &out);
        ref_expand(&c->inputs[0], &want);
        expect_same(&want, &c->output, "expand", iter);
        bnn_tensor_free(&want);
        ke_destroy(c);
    }
}

Test(kernels_elem, expand_gradients_and_errors)
{
    bnn_shape in = KE_SHAPE(3, 1), out = KE_SHAPE(2, 3, 4);
    ke_case *c = ke_create1(BNN_OP_EXPAND, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "shape", 2, 1, 4);
    ke_fill(&c->inputs[0], 7, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK, "%s", c->diag.message);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(ke_grad(c, 0, i), 8.0, 1e-6, "each input feeds 8 outputs");
    ke_destroy(c);
    bnn_shape bad = KE_SHAPE(2, 3, 5);
    c = ke_create1(BNN_OP_EXPAND, BNN_F32, 1, &in, &bad);
    KE_SET_INTS(c, "shape", 2, 1, 4);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (expand)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

/* ---- tile -------------------------------------------------------------------- */

Test(kernels_elem, tile_random)
{
    uint64_t s = 31;
    for (int iter = 0; iter < 200; iter++) {
        bnn_shape in = KE_SCALAR, out;
        in.rank = (int)ke_rand_int(&s, 1, 4);
        int64_t rep[BNN_MAX_RANK];
        for (int d = 0; d < in.rank; d++) {
            in.dims[d] = ke_rand_int(&s, iter % 10 == 0 ? 0 : 1, 4);
            rep[d] = ke_rand_int(&s, iter % 7 == 0 ? 0 : 1, 3);
        }
        out = in;
        for (int d = 0; d < in.rank; d++)
            out.dims[d] *= rep[d];
        bnn_dtype dt = dtypes[iter % N_DT];
        ke_case *c = ke_create1(BNN_OP_TILE, dt, 1, &in, &out);
        ke_set_ints(c, "repeats", rep, in.rank);
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 100);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        bnn_tensor want = alloc_like(dt, &out);
        ref_tile(&c->inputs[0], &want);
        expect_same(&want, &c->output, "tile", iter);
        bnn_tensor_free(&want);
        ke_destroy(c);
    }
}

Test(kernels_elem, tile_gradients_and_errors)
{
    bnn_shape in = KE_SHAPE(2, 3), out = KE_SHAPE(4, 9);
    ke_case *c = ke_create1(BNN_OP_TILE, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "repeats", 2, 3);
    ke_fill(&c->inputs[0], 9, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
    bnn_shape bad = KE_SHAPE(4, 8);
    c = ke_create1(BNN_OP_TILE, BNN_F32, 1, &in, &bad);
    KE_SET_INTS(c, "repeats", 2, 3);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (tile)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}
