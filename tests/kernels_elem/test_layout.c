/* Layout ops for every element size: flatten, reshape, squeeze, unsqueeze,
 * transpose, concat, pad, shape, gather, trilu, eye_like, constant_of_shape;
 * forward against the reference, gradients by finite differences. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static const bnn_dtype dtypes[] = {BNN_F32, BNN_U8, BNN_I16, BNN_I64, BNN_F64, BNN_BOOL};
#define N_DT (sizeof dtypes / sizeof dtypes[0])

static void expect_same(const bnn_tensor *want, const bnn_tensor *got, const char *what)
{
    cr_assert_eq(bnn_tensor_nbytes(want), bnn_tensor_nbytes(got), "%s: sizes differ", what);
    cr_expect_eq(memcmp(want->data, got->data, bnn_tensor_nbytes(want)), 0, "%s differs", what);
}

static bnn_tensor alloc_like(bnn_dtype dt, const bnn_shape *s)
{
    bnn_tensor t;
    bnn_diag d;
    cr_assert_eq(bnn_tensor_alloc(&t, dt, s, &d), BNN_OK);
    return t;
}

Test(kernels_elem, copy_ops_every_type)
{
    bnn_op ops[] = {BNN_OP_FLATTEN, BNN_OP_RESHAPE, BNN_OP_SQUEEZE, BNN_OP_UNSQUEEZE};
    bnn_shape in = KE_SHAPE(2, 1, 3, 4);
    bnn_shape outs[] = {KE_SHAPE(2, 12), KE_SHAPE(4, 6), KE_SHAPE(2, 3, 4), KE_SHAPE(2, 1, 1, 3, 4)};
    for (int k = 0; k < 4; k++)
        for (size_t t = 0; t < N_DT; t++) {
            ke_case *c = ke_create1(ops[k], dtypes[t], 1, &in, &outs[k]);
            ke_fill(&c->inputs[0], t, 0, 100);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, bnn_tensor_nbytes(&c->output)), 0);
            ke_destroy(c);
        }
    /* reshape with the shape as a second input (already resolved by the plan) */
    bnn_shape in2[2] = {KE_SHAPE(3, 4), KE_SHAPE(2)};
    bnn_dtype dt2[2] = {BNN_F32, BNN_I64};
    bnn_shape o2 = KE_SHAPE(2, 6);
    ke_case *c = ke_create(BNN_OP_RESHAPE, 2, dt2, in2, BNN_F32, &o2);
    ke_fill(&c->inputs[0], 1, -1, 1);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(memcmp(c->inputs[0].data, c->output.data, 48), 0);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
    /* a size mismatch is an error */
    bnn_shape bad = KE_SHAPE(5);
    c = ke_create1(BNN_OP_FLATTEN, BNN_F32, 1, &in, &bad);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    ke_destroy(c);
}

Test(kernels_elem, copy_ops_gradients)
{
    bnn_op ops[] = {BNN_OP_FLATTEN, BNN_OP_SQUEEZE, BNN_OP_UNSQUEEZE};
    bnn_shape in = KE_SHAPE(2, 1, 3);
    bnn_shape outs[] = {KE_SHAPE(2, 3), KE_SHAPE(2, 3), KE_SHAPE(1, 2, 1, 3)};
    for (int k = 0; k < 3; k++) {
        ke_case *c = ke_create1(ops[k], BNN_F32, 1, &in, &outs[k]);
        ke_fill(&c->inputs[0], 3, -1, 1);
        ke_check_grad(c, 1, 1e-3, 1e-2, 100);
        ke_destroy(c);
    }
}

/* ---- transpose ---------------------------------------------------------- */

static void random_perm(uint64_t *s, int r, int64_t *perm)
{
    for (int i = 0; i < r; i++)
        perm[i] = i;
    for (int i = r - 1; i > 0; i--) {
        int j = (int)ke_rand_int(s, 0, i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void check_transpose(bnn_dtype dt, const bnn_shape *in, const int64_t *perm, bool set,
                            uint64_t seed)
{
    bnn_shape out = *in;
    int64_t p[BNN_MAX_RANK];
    for (int d = 0; d < in->rank; d++) {
        p[d] = set ? perm[d] : in->rank - 1 - d;
        out.dims[d] = in->dims[p[d]];
    }
    ke_case *c = ke_create1(BNN_OP_TRANSPOSE, dt, 1, in, &out);
    if (set)
        ke_set_ints(c, "perm", perm, in->rank);
    ke_fill(&c->inputs[0], seed, 0, 100);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bnn_tensor want = alloc_like(dt, &out);
    ref_transpose(&c->inputs[0], p, &want);
    expect_same(&want, &c->output, "transpose");
    bnn_tensor_free(&want);
    ke_destroy(c);
}

Test(kernels_elem, transpose_random)
{
    uint64_t s = 5;
    for (int iter = 0; iter < 120; iter++) {
        bnn_shape in = ke_shape(0, NULL);
        in.rank = (int)ke_rand_int(&s, 1, 6);
        for (int d = 0; d < in.rank; d++)
            in.dims[d] = ke_rand_int(&s, 1, 4);
        int64_t perm[BNN_MAX_RANK];
        random_perm(&s, in.rank, perm);
        check_transpose(dtypes[iter % N_DT], &in, perm, iter % 5 != 0, (uint64_t)iter);
    }
    /* 2-D (the tiled path) and a large one (threaded) */
    bnn_shape m = KE_SHAPE(70, 45), big = KE_SHAPE(64, 40, 33);
    int64_t p2[2] = {1, 0}, p3[3] = {2, 0, 1};
    for (size_t t = 0; t < N_DT; t++)
        check_transpose(dtypes[t], &m, p2, true, t);
    check_transpose(BNN_F32, &big, p3, true, 1);
    /* a rank-0 tensor */
    bnn_shape sc = KE_SCALAR;
    check_transpose(BNN_F32, &sc, NULL, false, 2);
}

Test(kernels_elem, transpose_bad_perm)
{
    bnn_shape in = KE_SHAPE(2, 3), out = KE_SHAPE(3, 2);
    ke_case *c = ke_create1(BNN_OP_TRANSPOSE, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "perm", 1, 1);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (transpose)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, transpose_gradients)
{
    bnn_shape in = KE_SHAPE(2, 3, 4), out = KE_SHAPE(4, 2, 3);
    ke_case *c = ke_create1(BNN_OP_TRANSPOSE, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "perm", 2, 0, 1);
    ke_fill(&c->inputs[0], 3, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
    bnn_shape in2 = KE_SHAPE(5, 3), out2 = KE_SHAPE(3, 5);
    c = ke_create1(BNN_OP_TRANSPOSE, BNN_F32, 1, &in2, &out2);
    ke_fill(&c->inputs[0], 4, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

/* ---- concat ------------------------------------------------------------- */

Test(kernels_elem, concat_random)
{
    uint64_t s = 77;
    for (int iter = 0; iter < 60; iter++) {
        int r = (int)ke_rand_int(&s, 1, 4);
        int n = (int)ke_rand_int(&s, 1, 4);
        int64_t axis = ke_rand_int(&s, -r, r - 1), ax = axis < 0 ? axis + r : axis;
        bnn_shape base = ke_shape(0, NULL);
        base.rank = r;
        for (int d = 0; d < r; d++)
            base.dims[d] = ke_rand_int(&s, 1, 3);
        bnn_shape in[KE_MAX_IN], out = base;
        out.dims[ax] = 0;
        for (int k = 0; k < n; k++) {
            in[k] = base;
            in[k].dims[ax] = ke_rand_int(&s, 0, 3);
            out.dims[ax] += in[k].dims[ax];
        }
        bnn_dtype dt = dtypes[iter % N_DT];
        ke_case *c = ke_create1(BNN_OP_CONCAT, dt, n, in, &out);
        ke_set_int(c, "axis", axis);
        for (int k = 0; k < n; k++)
            ke_fill(&c->inputs[k], (uint64_t)(iter * 10 + k), 0, 100);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want = alloc_like(dt, &out);
        ref_concat(c->inputs, n, axis, &want);
        expect_same(&want, &c->output, "concat");
        bnn_tensor_free(&want);
        if (dt == BNN_F32 && bnn_shape_numel(&out) > 0)
            ke_check_grad(c, (1u << n) - 1, 1e-3, 1e-2, 50);
        ke_destroy(c);
    }
}

Test(kernels_elem, concat_mismatch)
{
    bnn_shape in[2] = {KE_SHAPE(2, 3), KE_SHAPE(3, 3)};
    bnn_shape out = KE_SHAPE(2, 6);
    ke_case *c = ke_create1(BNN_OP_CONCAT, BNN_F32, 2, in, &out);
    ke_set_int(c, "axis", 1);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "input 1") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

/* ---- pad ---------------------------------------------------------------- */

static const char *mode_names[] = {"constant", "reflect", "edge"};

static void check_pad(bnn_dtype dt, const bnn_shape *in, const int64_t *pads, int mode,
                      float value, bool pads_as_input, uint64_t seed, bool grad)
{
    int r = in->rank;
    bnn_shape out = *in;
    for (int d = 0; d < r; d++)
        out.dims[d] = in->dims[d] + pads[d] + pads[r + d];
    ke_case *c;
    if (pads_as_input) {
        bnn_shape ins[2] = {*in, KE_SHAPE(2 * r)};
        bnn_dtype dts[2] = {dt, BNN_I64};
        c = ke_create(BNN_OP_PAD, 2, dts, ins, dt, &out);
        memcpy(c->inputs[1].data, pads, (size_t)(2 * r) * sizeof(int64_t));
    } else {
        c = ke_create1(BNN_OP_PAD, dt, 1, in, &out);
        ke_set_ints(c, "pads", pads, 2 * r);
    }
    if (mode || seed % 2)
        ke_set_string(c, "mode", mode_names[mode]);
    if (value != 0)
        ke_set_float(c, "value", value);
    ke_fill(&c->inputs[0], seed, 1, 100);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bnn_tensor want = alloc_like(dt, &out);
    ref_pad(&c->inputs[0], pads, mode, value, &want);
    char what[64];
    snprintf(what, sizeof what, "pad mode %s", mode_names[mode]);
    expect_same(&want, &c->output, what);
    bnn_tensor_free(&want);
    if (grad)
        ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

Test(kernels_elem, pad_modes_and_negative_pads)
{
    uint64_t s = 9;
    for (int iter = 0; iter < 150; iter++) {
        int r = (int)ke_rand_int(&s, 1, 4);
        int mode = iter % 3;
        bnn_shape in = ke_shape(0, NULL);
        in.rank = r;
        for (int d = 0; d < r; d++)
            in.dims[d] = ke_rand_int(&s, mode == 0 ? 1 : 2, 5);
        int64_t pads[2 * BNN_MAX_RANK];
        for (int d = 0; d < r; d++) {
            /* reflect needs pads < dim; crops keep at least one element */
            int64_t hi = mode == 1 ? in.dims[d] - 1 : 3;
            pads[d] = ke_rand_int(&s, -(in.dims[d] - 1) / 2, hi);
            pads[r + d] = ke_rand_int(&s, -(in.dims[d] - 1) / 2, hi);
        }
        bnn_dtype dt = dtypes[iter % N_DT];
        check_pad(dt, &in, pads, mode, mode == 0 && dt != BNN_BOOL ? 7.0f : 0.0f, iter % 4 == 1,
                  (uint64_t)iter, dt == BNN_F32);
    }
}

Test(kernels_elem, pad_fixed_examples)
{
    /* numpy.pad([[1,2,3],[4,5,6]], ((1,0),(2,1)), mode) */
    bnn_shape in = KE_SHAPE(2, 3), out = KE_SHAPE(3, 6);
    int64_t pads[4] = {1, 2, 0, 1};
    const float want[3][18] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0},
        {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5},
        {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6},
    };
    for (int mode = 0; mode < 3; mode++) {
        ke_case *c = ke_create1(BNN_OP_PAD, BNN_F32, 1, &in, &out);
        ke_set_ints(c, "pads", pads, 4);
        ke_set_string(c, "mode", mode_names[mode]);
        for (int i = 0; i < 6; i++)
            ((float *)c->inputs[0].data)[i] = (float)(i + 1);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        cr_expect_eq(memcmp(c->output.data, want[mode], sizeof want[mode]), 0, "mode %s",
                     mode_names[mode]);
        ke_destroy(c);
    }
}

Test(kernels_elem, pad_bad_mode)
{
    bnn_shape in = KE_SHAPE(2), out = KE_SHAPE(4);
    ke_case *c = ke_create1(BNN_OP_PAD, BNN_F32, 1, &in, &out);
    KE_SET_INTS(c, "pads", 1, 1);
    ke_set_string(c, "mode", "wrap");
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (pad)") && strstr(c->diag.message, "wrap"),
              "%s", c->diag.message);
    ke_destroy(c);
}

/* ---- shape -------------------------------------------------------------- */

Test(kernels_elem, shape_start_end)
{
    bnn_shape in = KE_SHAPE(2, 3, 5, 7);
    struct { bool set_s, set_e; int64_t start, end; int64_t first, n; } cases[] = {
        {false, false, 0, 0, 0, 4}, {true, false, 1, 0, 1, 3}, {true, true, -3, -1, 1, 2},
        {false, true, 0, 2, 0, 2}, {true, true, 3, 1, 0, 0}, {true, true, -10, 10, 0, 4},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        bnn_shape out = KE_SHAPE(cases[k].n);
        bnn_dtype dts[1] = {BNN_U8};
        ke_case *c = ke_create(BNN_OP_SHAPE, 1, dts, &in, BNN_I64, &out);
        if (cases[k].set_s)
            ke_set_int(c, "start", cases[k].start);
        if (cases[k].set_e)
            ke_set_int(c, "end", cases[k].end);
        cr_assert_eq(ke_forward(c), BNN_OK, "case %zu: %s", k, c->diag.message);
        for (int64_t i = 0; i < cases[k].n; i++)
            cr_expect_eq(((int64_t *)c->output.data)[i], in.dims[cases[k].first + i], "case %zu", k);
        ke_destroy(c);
    }
}

/* ---- gather ------------------------------------------------------------- */

static void check_gather(bnn_dtype dt, bnn_dtype it, const bnn_shape *xs, const bnn_shape *is,
                         int64_t axis, uint64_t seed, bool grad)
{
    int r = xs->rank, ax = (int)(axis < 0 ? axis + r : axis);
    bnn_shape out = ke_shape(0, NULL);
    for (int d = 0; d < ax; d++)
        out.dims[out.rank++] = xs->dims[d];
    for (int d = 0; d < is->rank; d++)
        out.dims[out.rank++] = is->dims[d];
    for (int d = ax + 1; d < r; d++)
        out.dims[out.rank++] = xs->dims[d];
    bnn_shape ins[2] = {*xs, *is};
    bnn_dtype dts[2] = {dt, it};
    ke_case *c = ke_create(BNN_OP_GATHER, 2, dts, ins, dt, &out);
    ke_set_int(c, "axis", axis);
    ke_fill(&c->inputs[0], seed, 0, 100);
    int64_t n = xs->dims[ax];
    ke_fill(&c->inputs[1], seed + 1, -n, n - 1); /* negative indices too, repeats likely */
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bnn_tensor want = alloc_like(dt, &out);
    ref_gather(&c->inputs[0], &c->inputs[1], axis, &want);
    expect_same(&want, &c->output, "gather");
    bnn_tensor_free(&want);
    if (grad)
        ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

Test(kernels_elem, gather_random)
{
    uint64_t s = 31;
    for (int iter = 0; iter < 80; iter++) {
        bnn_shape xs = ke_shape(0, NULL), is = ke_shape(0, NULL);
        xs.rank = (int)ke_rand_int(&s, 1, 4);
        for (int d = 0; d < xs.rank; d++)
            xs.dims[d] = ke_rand_int(&s, 1, 4);
        is.rank = (int)ke_rand_int(&s, 0, 2);
        for (int d = 0; d < is.rank; d++)
            is.dims[d] = ke_rand_int(&s, 1, 3);
        int64_t axis = ke_rand_int(&s, -xs.rank, xs.rank - 1);
        bnn_dtype dt = dtypes[iter % N_DT];
        check_gather(dt, iter % 2 ? BNN_I32 : BNN_I64, &xs, &is, axis, (uint64_t)iter,
                     dt == BNN_F32);
    }
}

Test(kernels_elem, gather_out_of_range_names_node_and_index)
{
    bnn_shape ins[2] = {KE_SHAPE(3, 4), KE_SHAPE(2)};
    bnn_dtype dts[2] = {BNN_F32, BNN_I64};
    bnn_shape out = KE_SHAPE(2, 4);
    ke_case *c = ke_create(BNN_OP_GATHER, 2, dts, ins, BNN_F32, &out);
    int64_t idx[2] = {1, -4};
    memcpy(c->inputs[1].data, idx, sizeof idx);
    cr_expect_eq(ke_forward(c), BNN_ERR_INVALID);
    cr_expect(strstr(c->diag.message, "node 'n0' (gather)") && strstr(c->diag.message, "-4"),
              "%s", c->diag.message);
    ke_destroy(c);
}

/* ---- trilu, eye_like ------------------------------------------------------ */

/* ONNX Trilu: element (.., i, j) stays when j - i >= k (upper) or <= k
 * (lower), else it is 0. */
static void ref_trilu(const bnn_tensor *x, int64_t k, bool upper, bnn_tensor *y)
{
    int r = x->shape.rank;
    int64_t c[BNN_MAX_RANK];
    for (int64_t e = 0; e < bnn_tensor_numel(x); e++) {
        ref_unravel(e, &x->shape, c);
        int64_t i = c[r - 2], j = c[r - 1];
        bool keep = upper ? j - i >= k : j - i <= k;
        ke_put(y, e, keep ? ke_get(x, e) : 0);
    }
}

Test(kernels_elem, trilu_matches_reference)
{
    uint64_t s = 5;
    for (int iter = 0; iter < 120; iter++) {
        bnn_shape xs = ke_shape(0, NULL);
        xs.rank = (int)ke_rand_int(&s, 2, 4);
        for (int d = 0; d < xs.rank; d++)
            xs.dims[d] = ke_rand_int(&s, d >= xs.rank - 2 ? 0 : 1, 5);
        bool upper = iter % 2, with_k = iter % 3 != 0;
        int64_t k = with_k ? ke_rand_int(&s, -6, 6) : 0;
        bnn_dtype dt = dtypes[(iter / 2) % N_DT], kt = iter % 4 < 2 ? BNN_I64 : BNN_I32;
        bnn_shape ins[2] = {xs, KE_SCALAR};
        bnn_dtype dts[2] = {dt, kt};
        ke_case *c = ke_create(BNN_OP_TRILU, with_k ? 2 : 1, dts, ins, dt, &xs);
        if (iter % 5)
            ke_set_int(c, "upper", upper);
        else
            upper = true; /* the default */
        if (with_k)
            ke_put(&c->inputs[1], 0, (double)k);
        ke_fill(&c->inputs[0], (uint64_t)iter, 1, 9); /* never 0: a kept 0 would hide a miss */
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want = alloc_like(dt, &xs);
        ref_trilu(&c->inputs[0], k, upper, &want);
        expect_same(&want, &c->output, "trilu");
        bnn_tensor_free(&want);
        if (dt == BNN_F32 && bnn_shape_numel(&xs) > 0)
            ke_check_grad(c, 1, 1e-3, 1e-2, 100);
        ke_destroy(c);
    }
}

Test(kernels_elem, trilu_onnx_example)
{
    /* ONNX's triu with k = 1 on a 4x5 matrix keeps j >= i + 1 */
    bnn_shape ins[2] = {KE_SHAPE(4, 5), KE_SCALAR};
    bnn_dtype dts[2] = {BNN_I64, BNN_I64};
    ke_case *c = ke_create(BNN_OP_TRILU, 2, dts, ins, BNN_I64, &ins[0]);
    for (int e = 0; e < 20; e++)
        ke_put(&c->inputs[0], e, e + 1);
    ke_put(&c->inputs[1], 0, 1);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    for (int e = 0; e < 20; e++)
        cr_expect_eq(ke_get(&c->output, e), e % 5 >= e / 5 + 1 ? e + 1 : 0, "element %d", e);
    ke_destroy(c);
}

Test(kernels_elem, eye_like_every_type_and_diagonal)
{
    bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64, BNN_U8, BNN_BOOL, BNN_F16};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int64_t step = -4; step <= 6; step++) {
            /* the last, far off the matrix: all zero, and no overflow */
            int64_t k = step == 6 ? INT64_MAX : step;
            bnn_shape xs = KE_SHAPE(3, 4);
            bnn_dtype in_dt[1] = {BNN_I32};
            ke_case *c = ke_create(BNN_OP_EYE_LIKE, 1, in_dt, &xs, types[t], &xs);
            ke_set_int(c, "dtype", types[t]);
            if (k)
                ke_set_int(c, "k", k);
            memset(c->output.data, 0x5a, bnn_tensor_nbytes(&c->output)); /* zeroes are written */
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            for (int64_t e = 0; e < 12; e++) {
                int64_t i = e / 4, j = e % 4;
                double want = j - i == k ? 1 : 0;
                if (types[t] == BNN_F16) {
                    uint16_t h = ((uint16_t *)c->output.data)[e];
                    cr_expect_eq(h, want ? 0x3c00 : 0, "f16 k %lld element %lld", (long long)k, (long long)e);
                } else {
                    cr_expect_eq(ke_get(&c->output, e), want, "%s k %lld element %lld",
                                 bnn_dtype_name(types[t]), (long long)k, (long long)e);
                }
            }
            ke_destroy(c);
        }
}

/* ---- constant_of_shape --------------------------------------------------- */

Test(kernels_elem, constant_of_shape_fills_every_type)
{
    for (size_t t = 0; t < N_DT; t++) {
        bnn_shape ys = KE_SHAPE(2, 3, 2), vs = KE_SCALAR;
        bnn_dtype dt[1] = {dtypes[t]};
        ke_case *c = ke_create(BNN_OP_CONSTANT_OF_SHAPE, 1, dt, &vs, dtypes[t], &ys);
        KE_SET_INTS(c, "shape", 2, 3, 2);
        ke_put(&c->inputs[0], 0, dtypes[t] == BNN_BOOL ? 1 : 5);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int64_t e = 0; e < 12; e++)
            cr_expect_eq(ke_get(&c->output, e), dtypes[t] == BNN_BOOL ? 1 : 5, "%s element %lld",
                         bnn_dtype_name(dtypes[t]), (long long)e);
        ke_destroy(c);
    }
    /* an empty shape is a scalar; a zero dim, nothing to write */
    bnn_dtype f[1] = {BNN_F64};
    bnn_shape vs = KE_SCALAR, empty = KE_SHAPE(0, 4);
    ke_case *c = ke_create(BNN_OP_CONSTANT_OF_SHAPE, 1, f, &vs, BNN_F64, &vs);
    ke_set_ints(c, "shape", NULL, 0);
    ke_put(&c->inputs[0], 0, -1.5);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(ke_get(&c->output, 0), -1.5);
    ke_destroy(c);
    c = ke_create(BNN_OP_CONSTANT_OF_SHAPE, 1, f, &vs, BNN_F64, &empty);
    KE_SET_INTS(c, "shape", 0, 4);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    ke_destroy(c);
}

/* pad's constant as its third input (the model computes it): that value,
 * of the input's type, fills the padding; the attribute is not read. */
Test(kernels_elem, pad_constant_from_an_input)
{
    bnn_shape xs = KE_SHAPE(2, 3), ys = KE_SHAPE(3, 6), ins[3] = {xs, ke_absent(), KE_SCALAR};
    bnn_dtype dts[3] = {BNN_I64, BNN_I64, BNN_I64};
    ke_case *c = ke_create(BNN_OP_PAD, 3, dts, ins, BNN_I64, &ys);
    KE_SET_INTS(c, "pads", 1, 1, 0, 2);
    ke_set_float(c, "value", -1);
    for (int e = 0; e < 6; e++)
        ke_put(&c->inputs[0], e, e + 1);
    ((int64_t *)c->inputs[2].data)[0] = 9007199254740993LL; /* 2^53 + 1: no float holds it */
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    const int64_t *y = c->output.data;
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 6; k++) {
            bool inside = r >= 1 && k >= 1 && k < 4;
            int64_t want = inside ? (r - 1) * 3 + (k - 1) + 1 : 9007199254740993LL;
            cr_expect_eq(y[r * 6 + k], want, "row %d col %d", r, k);
        }
    ke_destroy(c);
}
