/* The reductions (reduce_* and arg_max/arg_min) against a slow reference
 * written here: every op, f32/f64/i32/i64, random shapes and axis sets
 * (negative, empty = all, keepdims 0/1), empty inputs, NaN and infinities,
 * ties, bad attributes and types, and finite-difference gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static const bnn_op reduce_ops[] = {
    BNN_OP_REDUCE_SUM, BNN_OP_REDUCE_MEAN, BNN_OP_REDUCE_MAX, BNN_OP_REDUCE_MIN,
    BNN_OP_REDUCE_PROD, BNN_OP_REDUCE_L1, BNN_OP_REDUCE_L2, BNN_OP_REDUCE_LOG_SUM,
    BNN_OP_REDUCE_LOG_SUM_EXP, BNN_OP_REDUCE_SUM_SQUARE,
};
#define N_REDUCE ((int)(sizeof reduce_ops / sizeof reduce_ops[0]))

/* ---- the reference -------------------------------------------------------- */

/* The output shape with reduced dims as 1 (keepdims) or gone; mark[] from
 * axes (n 0: all). */
static bnn_shape reduced_shape(const bnn_shape *x, const int64_t *axes, int n, bool keepdims,
                               bool *mark)
{
    bnn_shape out = {.rank = 0};
    for (int d = 0; d < x->rank; d++)
        mark[d] = n == 0;
    for (int i = 0; i < n; i++)
        mark[axes[i] < 0 ? axes[i] + x->rank : axes[i]] = true;
    for (int d = 0; d < x->rank; d++)
        if (!mark[d] || keepdims)
            out.dims[out.rank++] = mark[d] ? 1 : x->dims[d];
    return out;
}

/* The formula applied to one output's elements, straight from the ONNX
 * definitions (log_sum_exp without the max shift: the tests keep it small). */
static double ref_formula(bnn_op op, const double *v, int64_t n)
{
    double acc = op == BNN_OP_REDUCE_PROD ? 1 : op == BNN_OP_REDUCE_MAX ? -INFINITY
               : op == BNN_OP_REDUCE_MIN ? INFINITY : 0;
    for (int64_t i = 0; i < n; i++) {
        switch (op) {
        case BNN_OP_REDUCE_SUM: case BNN_OP_REDUCE_MEAN: case BNN_OP_REDUCE_LOG_SUM: acc += v[i]; break;
        case BNN_OP_REDUCE_MAX: acc = isnan(acc) || v[i] <= acc ? acc : v[i]; break;
        case BNN_OP_REDUCE_MIN: acc = isnan(acc) || v[i] >= acc ? acc : v[i]; break;
        case BNN_OP_REDUCE_PROD: acc *= v[i]; break;
        case BNN_OP_REDUCE_L1: acc += fabs(v[i]); break;
        case BNN_OP_REDUCE_L2: case BNN_OP_REDUCE_SUM_SQUARE: acc += v[i] * v[i]; break;
        case BNN_OP_REDUCE_LOG_SUM_EXP: acc += exp(v[i]); break;
        default: cr_assert_fail("not a reduce op");
        }
        if (isnan(v[i]) && (op == BNN_OP_REDUCE_MAX || op == BNN_OP_REDUCE_MIN))
            acc = NAN;
    }
    switch (op) {
    case BNN_OP_REDUCE_MEAN: return acc / (double)n;
    case BNN_OP_REDUCE_L2: return sqrt(acc);
    case BNN_OP_REDUCE_LOG_SUM: case BNN_OP_REDUCE_LOG_SUM_EXP: return log(acc);
    default: return acc;
    }
}

/* y[o] for every output o: gathers the input elements whose kept coords
 * are o's (one pass over the input per output: slow and obvious). */
static void ref_reduce(bnn_op op, const bnn_tensor *x, const bool *mark, const bnn_shape *kept,
                       double *y)
{
    int64_t nx = bnn_tensor_numel(x), ny = bnn_shape_numel(kept);
    double *vals = malloc((size_t)(nx ? nx : 1) * sizeof *vals);
    for (int64_t o = 0; o < ny; o++) {
        int64_t oc[BNN_MAX_RANK], xc[BNN_MAX_RANK], n = 0;
        ref_unravel(o, kept, oc);
        for (int64_t i = 0; i < nx; i++) {
            ref_unravel(i, &x->shape, xc);
            bool match = true;
            for (int d = 0; d < x->shape.rank; d++)
                match = match && (mark[d] || xc[d] == oc[d]);
            if (match)
                vals[n++] = ke_get(x, i);
        }
        y[o] = ref_formula(op, vals, n);
    }
    free(vals);
}

static bool exact_int_op(bnn_op op)
{
    return op == BNN_OP_REDUCE_SUM || op == BNN_OP_REDUCE_PROD || op == BNN_OP_REDUCE_MAX ||
           op == BNN_OP_REDUCE_MIN || op == BNN_OP_REDUCE_L1 || op == BNN_OP_REDUCE_SUM_SQUARE;
}

/* ---- forward against the reference --------------------------------------- */

static ke_case *make_reduce(bnn_op op, bnn_dtype t, const bnn_shape *x, const int64_t *axes,
                            int n, int keepdims, bnn_shape *kept)
{
    bool mark[BNN_MAX_RANK];
    bnn_shape out = reduced_shape(x, axes, n, keepdims != 0, mark);
    *kept = reduced_shape(x, axes, n, true, mark);
    ke_case *c = ke_create1(op, t, 1, x, &out);
    if (n > 0)
        ke_set_ints(c, "axes", axes, n);
    if (keepdims >= 0)
        ke_set_int(c, "keepdims", keepdims);
    return c;
}

static void check_reduce(bnn_op op, bnn_dtype t, const bnn_shape *x, const int64_t *axes, int n,
                         int keepdims, uint64_t seed)
{
    bnn_shape kept;
    ke_case *c = make_reduce(op, t, x, axes, n, keepdims, &kept);
    bool ints = t == BNN_I32 || t == BNN_I64;
    /* Values that keep every formula finite; log_sum wants positives. */
    double lo = ints ? -9 : -2, hi = ints ? 9 : 2;
    if (op == BNN_OP_REDUCE_PROD) { /* up to 256 factors: no overflow */
        lo = ints ? -1 : 0.5;
        hi = ints ? 1 : 1.5;
    } else if (op == BNN_OP_REDUCE_LOG_SUM) {
        lo = ints ? 1 : 0.5;
        hi = ints ? 3 : 1.5;
    }
    ke_fill(&c->inputs[0], seed, lo, hi);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bool mark[BNN_MAX_RANK];
    reduced_shape(x, axes, n, true, mark);
    int64_t ny = bnn_shape_numel(&kept);
    double *want = malloc((size_t)(ny ? ny : 1) * sizeof *want);
    ref_reduce(op, &c->inputs[0], mark, &kept, want);
    double tol = t == BNN_F32 ? 1e-5 : 1e-12;
    for (int64_t o = 0; o < ny; o++) {
        double w = want[o], g = ke_get(&c->output, o);
        bool ok;
        if (ints && !exact_int_op(op)) /* computed in double, truncated toward zero */
            ok = g == trunc(w) || fabs(g - w) <= 1e-9 * (1 + fabs(w));
        else
            ok = ints ? g == w : (isnan(w) ? isnan(g) : fabs(g - w) <= tol * (1 + fabs(w)));
        if (!ok) {
            char sh[100];
            cr_expect_fail("%s %s (%d axes, first %lld, keepdims %d) output %lld: %.10g, want %.10g",
                           bnn_op_get(op)->name, bnn_shape_format(x, t, sh, sizeof sh), n,
                           n ? (long long)axes[0] : 0LL, keepdims, (long long)o, g, w);
            break;
        }
    }
    free(want);
    ke_destroy(c);
}

Test(kernels_elem, reduce_matches_reference_on_random_shapes)
{
    static const bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64};
    uint64_t s = 2024;
    for (int trial = 0; trial < 60; trial++) {
        bnn_shape x = {.rank = (int)ke_rand_int(&s, 0, 4)};
        for (int d = 0; d < x.rank; d++)
            x.dims[d] = ke_rand_int(&s, 1, 4);
        /* A random subset of the axes, each written positive or negative. */
        int64_t axes[BNN_MAX_RANK];
        int n = 0;
        for (int d = 0; d < x.rank; d++)
            if (ke_rand_int(&s, 0, 1))
                axes[n++] = ke_rand_int(&s, 0, 1) ? d : d - x.rank;
        int keepdims = (int)ke_rand_int(&s, -1, 1); /* -1: absent, default 1 */
        for (int k = 0; k < N_REDUCE; k++)
            for (int t = 0; t < 4; t++)
                check_reduce(reduce_ops[k], types[t], &x, axes, n, keepdims, s + (uint64_t)k);
    }
}

Test(kernels_elem, reduce_common_layouts)
{
    /* The shapes models use: channels of NCHW, the last axis, all but batch. */
    bnn_shape nchw = KE_SHAPE(2, 3, 5, 7), rows = KE_SHAPE(16, 33);
    for (int k = 0; k < N_REDUCE; k++) {
        check_reduce(reduce_ops[k], BNN_F32, &nchw, (int64_t[]){2, 3}, 2, 1, 1);
        check_reduce(reduce_ops[k], BNN_F32, &nchw, (int64_t[]){1}, 1, 0, 2);
        check_reduce(reduce_ops[k], BNN_F32, &nchw, (int64_t[]){0, 2}, 2, 1, 3);
        check_reduce(reduce_ops[k], BNN_F32, &rows, (int64_t[]){-1}, 1, 1, 4);
        check_reduce(reduce_ops[k], BNN_F32, &rows, (int64_t[]){0}, 1, 0, 5);
        check_reduce(reduce_ops[k], BNN_F64, &nchw, NULL, 0, 0, 6);
    }
}

Test(kernels_elem, reduce_over_nothing)
{
    /* A reduced dim of size 0: sum 0, prod 1, max -inf, min +inf, mean NaN,
     * log_sum and log_sum_exp -inf, the norms 0. */
    bnn_shape x = KE_SHAPE(2, 0, 3);
    const double want[] = {0, NAN, -INFINITY, INFINITY, 1, 0, 0, -INFINITY, -INFINITY, 0};
    for (int k = 0; k < N_REDUCE; k++) {
        bnn_shape kept;
        ke_case *c = make_reduce(reduce_ops[k], BNN_F32, &x, (int64_t[]){1}, 1, 0, &kept);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        cr_assert_eq(bnn_tensor_numel(&c->output), 6);
        for (int64_t o = 0; o < 6; o++) {
            double g = ke_get(&c->output, o);
            cr_expect(isnan(want[k]) ? isnan(g) : g == want[k], "%s: %g, want %g",
                      bnn_op_get(reduce_ops[k])->name, g, want[k]);
        }
        ke_destroy(c);
    }
    /* Nothing kept either: a [2,0] input reduced over axis 0 is [0]. */
    bnn_shape empty = KE_SHAPE(2, 0), kept;
    ke_case *c = make_reduce(BNN_OP_REDUCE_SUM, BNN_F32, &empty, (int64_t[]){0}, 1, 0, &kept);
    cr_expect_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, reduce_nan_and_infinity)
{
    bnn_shape x = KE_SHAPE(2, 3), kept;
    const float in[6] = {1, NAN, 3, -INFINITY, -INFINITY, -INFINITY};
    struct { bnn_op op; double row0, row1; } cases[] = {
        {BNN_OP_REDUCE_MAX, NAN, -INFINITY},
        {BNN_OP_REDUCE_MIN, NAN, -INFINITY},
        {BNN_OP_REDUCE_SUM, NAN, -INFINITY},
        {BNN_OP_REDUCE_LOG_SUM_EXP, NAN, -INFINITY},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ke_case *c = make_reduce(cases[k].op, BNN_F32, &x, (int64_t[]){1}, 1, 0, &kept);
        memcpy(c->inputs[0].data, in, sizeof in);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        double r0 = ke_get(&c->output, 0), r1 = ke_get(&c->output, 1);
        cr_expect(isnan(cases[k].row0) ? isnan(r0) : r0 == cases[k].row0, "%s row 0: %g",
                  bnn_op_get(cases[k].op)->name, r0);
        cr_expect(r1 == cases[k].row1, "%s row 1: %g", bnn_op_get(cases[k].op)->name, r1);
        ke_destroy(c);
    }
    /* log_sum_exp stays finite where exp overflows, and +inf wins. */
    ke_case *c = make_reduce(BNN_OP_REDUCE_LOG_SUM_EXP, BNN_F32, &x, (int64_t[]){1}, 1, 0, &kept);
    const float big[6] = {1000, 1000, 1000, 5, INFINITY, 7};
    memcpy(c->inputs[0].data, big, sizeof big);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect(fabs(ke_get(&c->output, 0) - (1000 + log(3.0))) < 1e-3, "%g", ke_get(&c->output, 0));
    cr_expect(ke_get(&c->output, 1) == INFINITY, "%g", ke_get(&c->output, 1));
    ke_destroy(c);
}

Test(kernels_elem, reduce_integers_are_exact)
{
    /* 2^53 + 1 is not a double: an int64 sum must not go through one. */
    bnn_shape x = KE_SHAPE(3), kept;
    ke_case *c = make_reduce(BNN_OP_REDUCE_SUM, BNN_I64, &x, NULL, 0, 0, &kept);
    int64_t *v = c->inputs[0].data;
    v[0] = (int64_t)1 << 53;
    v[1] = 1;
    v[2] = -7;
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(((int64_t *)c->output.data)[0], ((int64_t)1 << 53) - 6);
    ke_destroy(c);
}

/* ---- bad input ------------------------------------------------------------ */

Test(kernels_elem, reduce_rejects_bad_axes_and_types)
{
    bnn_shape x = KE_SHAPE(2, 3), out = KE_SHAPE(2, 1);
    ke_case *c = ke_create1(BNN_OP_REDUCE_MEAN, BNN_F32, 1, &x, &out);
    KE_SET_INTS(c, "axes", 2);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (reduce_mean)") != NULL, "%s", c->diag.message);
    KE_SET_INTS(c, "axes", 1, -1);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE, "a repeated axis");
    ke_destroy(c);

    c = ke_create1(BNN_OP_REDUCE_SUM, BNN_U8, 1, &x, &out);
    KE_SET_INTS(c, "axes", 1);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "u8") != NULL, "%s", c->diag.message);
    ke_destroy(c);

    bnn_shape ax = KE_SHAPE(2, 1);
    c = ke_create(BNN_OP_ARG_MAX, 1, (bnn_dtype[]){BNN_F32}, &x, BNN_I64, &ax);
    ke_set_int(c, "axis", -3);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (arg_max)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

/* ---- arg_max, arg_min ----------------------------------------------------- */

/* Index along axis of the first (or last) extreme; NaN counts as extreme. */
static int64_t ref_arg(const bnn_tensor *x, int axis, const int64_t *coords, bool is_max,
                       bool last)
{
    int64_t c[BNN_MAX_RANK], best = -1;
    double bv = 0;
    memcpy(c, coords, sizeof c);
    for (int64_t k = 0; k < x->shape.dims[axis]; k++) {
        c[axis] = k;
        double v = ke_get(x, ref_ravel(c, &x->shape));
        bool take;
        if (best < 0)
            take = true;
        else if (isnan(bv))
            take = last && isnan(v);
        else if (isnan(v))
            take = true;
        else
            take = is_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
        if (take) {
            best = k;
            bv = v;
        }
    }
    return best;
}

static void check_arg(bnn_op op, bnn_dtype t, const bnn_shape *x, int64_t axis, int keepdims,
                      int last, uint64_t seed, bool with_nan)
{
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    bnn_shape out = {.rank = 0};
    for (int d = 0; d < x->rank; d++)
        if (d != a || keepdims != 0)
            out.dims[out.rank++] = d == a ? 1 : x->dims[d];
    ke_case *c = ke_create(op, 1, &t, x, BNN_I64, &out);
    ke_set_int(c, "axis", axis);
    if (keepdims >= 0)
        ke_set_int(c, "keepdims", keepdims);
    if (last >= 0)
        ke_set_int(c, "select_last_index", last);
    ke_fill(&c->inputs[0], seed, -2, 2); /* integers and coarse floats: many ties */
    if (t == BNN_F32 || t == BNN_F64)
        for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[0]); i++)
            ke_put(&c->inputs[0], i, round(ke_get(&c->inputs[0], i)));
    if (with_nan)
        ke_put(&c->inputs[0], seed % (uint64_t)bnn_tensor_numel(&c->inputs[0]), NAN);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t n = bnn_tensor_numel(&c->inputs[0]), coords[BNN_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        ref_unravel(i, x, coords);
        if (coords[a] != 0)
            continue;
        bnn_shape kept = *x;
        kept.dims[a] = 1;
        int64_t o = ref_ravel(coords, &kept);
        int64_t got = ((const int64_t *)c->output.data)[o];
        int64_t want = ref_arg(&c->inputs[0], a, coords, op == BNN_OP_ARG_MAX, last == 1);
        if (got != want) {
            char sh[100];
            cr_expect_fail("%s %s axis %lld last %d output %lld: %lld, want %lld",
                           bnn_op_get(op)->name, bnn_shape_format(x, t, sh, sizeof sh),
                           (long long)axis, last, (long long)o, (long long)got, (long long)want);
            break;
        }
    }
    ke_destroy(c);
}

Test(kernels_elem, arg_max_min_match_reference)
{
    static const bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64};
    bnn_shape shapes[] = {KE_SHAPE(7), KE_SHAPE(3, 4), KE_SHAPE(2, 3, 4), KE_SHAPE(2, 1, 3, 5)};
    uint64_t seed = 1;
    for (int o = 0; o < 2; o++) {
        bnn_op op = o ? BNN_OP_ARG_MIN : BNN_OP_ARG_MAX;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            int r = shapes[k].rank;
            for (int64_t axis = -r; axis < r; axis++)
                for (int t = 0; t < 4; t++)
                    for (int last = -1; last <= 1; last++) {
                        check_arg(op, types[t], &shapes[k], axis, (int)(seed % 3) - 1, last,
                                  seed, false);
                        seed++;
                    }
            check_arg(op, BNN_F32, &shapes[k], 0, 1, 0, seed++, true);
            check_arg(op, BNN_F64, &shapes[k], -1, 0, 1, seed++, true);
        }
    }
}

/* ---- gradients ------------------------------------------------------------ */

Test(kernels_elem, reduce_gradients)
{
    bnn_shape x = KE_SHAPE(3, 4, 5);
    const int64_t axes_sets[][3] = {{1, 0, 0}, {0, 2, 0}, {-1, 0, 0}, {0, 0, 0}};
    const int n_axes[] = {1, 2, 1, 0};
    for (int k = 0; k < N_REDUCE; k++) {
        for (int a = 0; a < 4; a++) {
            bnn_shape kept;
            ke_case *c = make_reduce(reduce_ops[k], BNN_F32, &x, axes_sets[a], n_axes[a], a % 2,
                                     &kept);
            bnn_op op = reduce_ops[k];
            int64_t n = bnn_tensor_numel(&c->inputs[0]);
            for (int64_t i = 0; i < n; i++) {
                double v;
                if (op == BNN_OP_REDUCE_MAX || op == BNN_OP_REDUCE_MIN)
                    v = (double)((i * 37) % n) * 0.05 - 1; /* distinct, 0.05 apart */
                else if (op == BNN_OP_REDUCE_PROD || op == BNN_OP_REDUCE_LOG_SUM)
                    v = 0.8 + 0.4 * (double)((i * 13) % 17) / 17;
                else /* away from 0, where l1 and l2 bend */
                    v = ((i % 3) ? 1 : -1) * (0.3 + (double)((i * 7) % 11) / 11);
                ke_put(&c->inputs[0], i, v);
            }
            ke_check_grad(c, 1, 1e-3, 1e-2, 60);
            ke_destroy(c);
        }
    }
}

Test(kernels_elem, reduce_gradient_special_cases)
{
    bnn_shape x = KE_SHAPE(2, 4), kept;
    /* max: ties give the whole gradient to the first maximum. */
    ke_case *c = make_reduce(BNN_OP_REDUCE_MAX, BNN_F32, &x, (int64_t[]){1}, 1, 1, &kept);
    const float tie[8] = {1, 5, 5, 2, -1, -1, -1, -1};
    memcpy(c->inputs[0].data, tie, sizeof tie);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_assert_eq(ke_backward(c, (const float[]){2, 3}, 1), BNN_OK, "%s", c->diag.message);
    const double want_max[8] = {0, 2, 0, 0, 3, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(ke_grad(c, 0, i), want_max[i], "element %d: %g", i, ke_grad(c, 0, i));
    ke_destroy(c);

    /* prod: exact with one zero (the others' product) and with two (0). */
    c = make_reduce(BNN_OP_REDUCE_PROD, BNN_F32, &x, (int64_t[]){1}, 1, 0, &kept);
    const float zeros[8] = {2, 0, 3, 4, 0, 5, 0, 6};
    memcpy(c->inputs[0].data, zeros, sizeof zeros);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK, "%s", c->diag.message);
    const double want_prod[8] = {0, 24, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(ke_grad(c, 0, i), want_prod[i], "element %d: %g", i, ke_grad(c, 0, i));
    ke_destroy(c);

    /* l2 of zeros: 0, not NaN. */
    c = make_reduce(BNN_OP_REDUCE_L2, BNN_F32, &x, NULL, 0, 1, &kept);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK, "%s", c->diag.message);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(ke_grad(c, 0, i), 0.0);
    ke_destroy(c);
}

/* ---- shape inference (ir/infer_reduce.c) ---------------------------------- */

/* Infers one reduce/arg node on an input of type t and shape s; returns the
 * status, with the output's type in *out and the message in diag. */
static bnn_status infer_one(bnn_op op, bnn_dtype t, const bnn_shape *s, const int64_t *axes,
                            int n_axes, int64_t axis, int64_t keepdims, bnn_dtype *dtype,
                            bnn_shape *out, bnn_diag *diag)
{
    bnn_graph *g = bnn_graph_create("g");
    int x = bnn_graph_add_value(g, "x", t, s);
    int y = bnn_graph_add_value(g, "y", BNN_UNDEFINED, &(bnn_shape){.rank = -1});
    int nid = bnn_graph_add_node(g, op, "r", &x, 1, &y, 1);
    cr_assert(g && x >= 0 && y >= 0 && nid >= 0);
    if (axes)
        cr_assert_eq(bnn_node_set_ints(g, nid, "axes", axes, n_axes), BNN_OK);
    if (op == BNN_OP_ARG_MAX || op == BNN_OP_ARG_MIN)
        cr_assert_eq(bnn_node_set_int(g, nid, "axis", axis), BNN_OK);
    if (keepdims >= 0)
        cr_assert_eq(bnn_node_set_int(g, nid, "keepdims", keepdims), BNN_OK);
    bnn_status st = bnn_graph_infer_node(g, nid, diag);
    *dtype = bnn_graph_value(g, y)->dtype;
    *out = bnn_graph_value(g, y)->shape;
    bnn_graph_destroy(g);
    return st;
}

Test(kernels_elem, reduce_shape_inference)
{
    bnn_graph *g = bnn_graph_create("sym");
    int64_t n_sym = bnn_graph_symbol(g, "N");
    bnn_graph_destroy(g);
    bnn_shape x = {.rank = 3, .dims = {n_sym, 4, 5}}, out;
    bnn_dtype t;
    bnn_diag d = {0};
    cr_assert_eq(infer_one(BNN_OP_REDUCE_MEAN, BNN_F32, &x, (int64_t[]){-1, 1}, 2, 0, 0, &t, &out, &d),
                 BNN_OK, "%s", d.message);
    cr_expect(t == BNN_F32 && out.rank == 1 && out.dims[0] == n_sym);
    cr_assert_eq(infer_one(BNN_OP_REDUCE_SUM, BNN_I64, &x, NULL, 0, 0, -1, &t, &out, &d), BNN_OK);
    cr_expect(t == BNN_I64 && out.rank == 3 && out.dims[0] == 1 && out.dims[1] == 1 && out.dims[2] == 1);
    cr_assert_eq(infer_one(BNN_OP_ARG_MIN, BNN_F64, &x, NULL, 0, -2, 0, &t, &out, &d), BNN_OK);
    cr_expect(t == BNN_I64 && out.rank == 2 && out.dims[0] == n_sym && out.dims[1] == 5);

    /* What goes wrong is named with the node. */
    const struct { bnn_op op; bnn_dtype t; const int64_t *axes; int n; int64_t axis, keep;
                   const char *what; } bad[] = {
        {BNN_OP_REDUCE_MAX, BNN_F32, (int64_t[]){3}, 1, 0, 1, "axis 3 of attribute 'axes' is out of range"},
        {BNN_OP_REDUCE_MAX, BNN_F32, (int64_t[]){2, -1}, 2, 0, 1, "repeats axis -1"},
        {BNN_OP_REDUCE_L2, BNN_STRING, NULL, 0, 0, 1, "expected a numeric type"},
        {BNN_OP_REDUCE_PROD, BNN_F32, NULL, 0, 0, 2, "'keepdims' is 2, expected 0 or 1"},
        {BNN_OP_ARG_MAX, BNN_F32, NULL, 0, 3, 1, "axis 3 is out of range"},
        {BNN_OP_ARG_MAX, BNN_BOOL, NULL, 0, 0, 1, "expected a numeric type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bnn_status st = infer_one(bad[i].op, bad[i].t, &x, bad[i].axes, bad[i].n, bad[i].axis,
                                  bad[i].keep, &t, &out, &d);
        cr_expect_eq(st, BNN_ERR_SHAPE, "case %zu", i);
        cr_expect(strstr(d.message, "node 'r' (") && strstr(d.message, bad[i].what),
                  "case %zu: %s", i, d.message);
    }
    bnn_shape scalar = {.rank = 0};
    cr_expect_eq(infer_one(BNN_OP_ARG_MAX, BNN_F32, &scalar, NULL, 0, 0, 1, &t, &out, &d),
                 BNN_ERR_SHAPE);
    cr_expect(strstr(d.message, "is a scalar") != NULL, "%s", d.message);
}

/* ---- cum_sum ------------------------------------------------------------ */

/* ONNX CumSum, one output element at a time: the sum of the elements of its
 * line before it (exclusive) or up to it, counted from the end when reverse. */
static void ref_cum_sum(const bnn_tensor *x, int axis, bool exclusive, bool reverse, double *y)
{
    int64_t c[BNN_MAX_RANK], cc[BNN_MAX_RANK];
    int64_t n = x->shape.dims[axis];
    for (int64_t e = 0; e < bnn_tensor_numel(x); e++) {
        ref_unravel(e, &x->shape, c);
        memcpy(cc, c, sizeof c);
        double s = 0;
        for (int64_t t = 0; t < n; t++) {
            bool in = reverse ? (exclusive ? t > c[axis] : t >= c[axis])
                              : (exclusive ? t < c[axis] : t <= c[axis]);
            cc[axis] = t;
            if (in)
                s += ke_get(x, ref_ravel(cc, &x->shape));
        }
        y[e] = s;
    }
}

Test(kernels_elem, cum_sum_matches_reference)
{
    static const bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64};
    uint64_t s = 17;
    for (int iter = 0; iter < 160; iter++) {
        bnn_shape xs = ke_shape(0, NULL);
        xs.rank = (int)ke_rand_int(&s, 1, 4);
        for (int d = 0; d < xs.rank; d++)
            xs.dims[d] = ke_rand_int(&s, 0, 5);
        int64_t axis = ke_rand_int(&s, -xs.rank, xs.rank - 1);
        bool exclusive = iter & 1, reverse = iter & 2;
        bnn_dtype dt = types[(iter / 4) % 4];
        bnn_shape ins[2] = {xs, iter % 3 ? KE_SCALAR : KE_SHAPE(1)};
        bnn_dtype dts[2] = {dt, iter % 5 < 2 ? BNN_I32 : BNN_I64};
        ke_case *c = ke_create(BNN_OP_CUM_SUM, 2, dts, ins, dt, &xs);
        if (exclusive)
            ke_set_int(c, "exclusive", 1);
        if (reverse)
            ke_set_int(c, "reverse", 1);
        ke_put(&c->inputs[1], 0, (double)axis);
        ke_fill(&c->inputs[0], (uint64_t)iter, -9, 9);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        int64_t n = bnn_shape_numel(&xs);
        double *want = malloc(sizeof(double) * (size_t)(n ? n : 1));
        ref_cum_sum(&c->inputs[0], (int)(axis < 0 ? axis + xs.rank : axis), exclusive, reverse, want);
        for (int64_t e = 0; e < n; e++)
            cr_expect_float_eq(ke_get(&c->output, e), want[e], 1e-4 * (1 + fabs(want[e])),
                               "iter %d (exclusive %d reverse %d): element %lld", iter, exclusive,
                               reverse, (long long)e);
        free(want);
        if (dt == BNN_F32 && n > 0)
            ke_check_grad(c, 1, 1e-3, 1e-2, 60);
        ke_destroy(c);
    }
}

Test(kernels_elem, cum_sum_rejects_a_bad_axis)
{
    bnn_shape ins[2] = {KE_SHAPE(2, 3), KE_SCALAR};
    bnn_dtype dts[2] = {BNN_F32, BNN_I64};
    ke_case *c = ke_create(BNN_OP_CUM_SUM, 2, dts, ins, BNN_F32, &ins[0]);
    ke_put(&c->inputs[1], 0, 2);
    cr_expect_eq(ke_forward(c), BNN_ERR_INVALID);
    cr_expect(strstr(c->diag.message, "node 'n0' (cum_sum)") && strstr(c->diag.message, "axis 2"),
              "%s", c->diag.message);
    ke_destroy(c);
}
