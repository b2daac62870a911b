/* Comparison, logic and selection kernels (runtime/kernels/logic.c): forward
 * against slow references (one output element at a time from its
 * coordinates) on random broadcast shapes for every element type the kernels
 * take; where's gradient by finite differences (with broadcast operands),
 * and the zero gradients of the comparisons, sign, is_nan and is_inf away
 * from their jumps; mod's sign rules, sign, is_nan/is_inf, f16; and clean
 * failures on bad operands. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

/* The index into an operand of shape s of output coordinates c (rank r). */
static int64_t bcast_at(const bnn_shape *s, const int64_t *c, int r)
{
    int64_t i = 0;
    for (int d = 0; d < s->rank; d++) {
        int64_t k = c[d + r - s->rank];
        i = i * s->dims[d] + (s->dims[d] == 1 ? 0 : k);
    }
    return i;
}

/* Random shapes (rank 0..5, so dims merge and split) that broadcast
 * together into out. */
static void random_bcast_shapes(uint64_t *s, int n, bnn_shape *in, bnn_shape *out)
{
    *out = KE_SCALAR;
    out->rank = (int)ke_rand_int(s, 0, 5);
    for (int d = 0; d < out->rank; d++)
        out->dims[d] = ke_rand_int(s, 1, 4);
    for (int k = 0; k < n; k++) {
        in[k] = KE_SCALAR;
        in[k].rank = (int)ke_rand_int(s, 0, out->rank);
        for (int d = 0; d < in[k].rank; d++)
            in[k].dims[d] = ke_rand_int(s, 0, 2) ? out->dims[d + out->rank - in[k].rank] : 1;
    }
    in[ke_rand_int(s, 0, n - 1)] = *out;
}

/* Plain half <-> double for the f16 checks (exact for these values). */
static uint16_t half_of(double v)
{
    if (v == 0)
        return signbit(v) ? 0x8000 : 0;
    if (isnan(v))
        return 0x7e00;
    if (isinf(v))
        return v > 0 ? 0x7c00 : 0xfc00;
    uint16_t sign = v < 0 ? 0x8000 : 0;
    int e;
    double m = frexp(fabs(v), &e); /* v = m * 2^e, m in [0.5, 1) */
    int man = (int)lround(m * 2048) - 1024; /* 11 significant bits */
    return (uint16_t)(sign | ((e + 14) << 10) | man);
}

static double half_value(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = exp == 0 ? ldexp(man, -24) : exp == 31 ? (man ? NAN : INFINITY)
                                                      : ldexp(1024 + man, exp - 25);
    return h & 0x8000 ? -v : v;
}

/* ---- comparisons ---------------------------------------------------------- */

static const bnn_dtype cmp_types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U8, BNN_I16, BNN_U16,
                                      BNN_I32, BNN_U32, BNN_I64, BNN_U64, BNN_BOOL};
#define N_CMP_TYPES (sizeof cmp_types / sizeof cmp_types[0])
static const bnn_op cmp_ops[] = {BNN_OP_EQUAL, BNN_OP_GREATER, BNN_OP_LESS,
                                 BNN_OP_GREATER_OR_EQUAL, BNN_OP_LESS_OR_EQUAL};

static bool ref_compare(bnn_op op, double a, double b)
{
    switch (op) {
    case BNN_OP_EQUAL: return a == b;
    case BNN_OP_GREATER: return a > b;
    case BNN_OP_LESS: return a < b;
    case BNN_OP_GREATER_OR_EQUAL: return a >= b;
    default: return a <= b;
    }
}

Test(kernels_elem, compare_random_every_type)
{
    uint64_t s = 71;
    for (int iter = 0; iter < 400; iter++) {
        bnn_op op = cmp_ops[iter % 5];
        bnn_dtype dt = cmp_types[(iter / 5) % N_CMP_TYPES];
        if (dt == BNN_BOOL)
            op = BNN_OP_EQUAL;
        bnn_shape in[2], out;
        random_bcast_shapes(&s, 2, in, &out);
        bnn_dtype dts[2] = {dt, dt};
        ke_case *c = ke_create(op, 2, dts, in, BNN_BOOL, &out);
        /* few distinct values, so equal and the ties of >=, <= happen */
        for (int k = 0; k < 2; k++)
            ke_fill(&c->inputs[k], (uint64_t)(iter * 3 + k), dt == BNN_BOOL ? 0 : 0,
                    dt == BNN_BOOL ? 1 : 3);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &out, coords);
            double a = ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank));
            double b = ke_get(&c->inputs[1], bcast_at(&in[1], coords, out.rank));
            cr_assert_eq(ke_get(&c->output, i), ref_compare(op, a, b), "%s %s %d: element %lld",
                         bnn_op_get(op)->name, bnn_dtype_name(dt), iter, (long long)i);
        }
        ke_destroy(c);
    }
}

Test(kernels_elem, compare_extremes_nan_and_f16)
{
    /* 64-bit values doubles cannot tell apart, NaN, f16 */
    bnn_shape sh[2] = {KE_SHAPE(3), KE_SHAPE(3)};
    ke_case *c = ke_create(BNN_OP_EQUAL, 2, (bnn_dtype[]){BNN_I64, BNN_I64}, sh, BNN_BOOL, &sh[0]);
    int64_t *a = c->inputs[0].data, *b = c->inputs[1].data;
    a[0] = INT64_MAX; b[0] = INT64_MAX - 1;
    a[1] = INT64_MIN; b[1] = INT64_MIN;
    a[2] = -1; b[2] = 1;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const uint8_t *y = c->output.data;
    cr_expect(y[0] == 0 && y[1] == 1 && y[2] == 0);
    ke_destroy(c);

    c = ke_create(BNN_OP_GREATER, 2, (bnn_dtype[]){BNN_U64, BNN_U64}, sh, BNN_BOOL, &sh[0]);
    uint64_t *ua = c->inputs[0].data, *ub = c->inputs[1].data;
    ua[0] = UINT64_MAX; ub[0] = UINT64_MAX - 1;
    ua[1] = 0; ub[1] = UINT64_MAX;
    ua[2] = 5; ub[2] = 5;
    cr_assert_eq(ke_forward(c), BNN_OK);
    y = c->output.data;
    cr_expect(y[0] == 1 && y[1] == 0 && y[2] == 0);
    ke_destroy(c);

    for (int o = 0; o < 5; o++) {
        c = ke_create(cmp_ops[o], 2, (bnn_dtype[]){BNN_F32, BNN_F32}, sh, BNN_BOOL, &sh[0]);
        float *fa = c->inputs[0].data, *fb = c->inputs[1].data;
        fa[0] = NAN; fb[0] = NAN;
        fa[1] = NAN; fb[1] = 1;
        fa[2] = -0.0f; fb[2] = 0.0f;
        cr_assert_eq(ke_forward(c), BNN_OK);
        y = c->output.data;
        bool zero_ties = cmp_ops[o] != BNN_OP_GREATER && cmp_ops[o] != BNN_OP_LESS;
        cr_expect(y[0] == 0 && y[1] == 0, "%s: NaN compares false", bnn_op_get(cmp_ops[o])->name);
        cr_expect_eq(y[2], zero_ties, "%s: -0 vs 0", bnn_op_get(cmp_ops[o])->name);
        ke_destroy(c);
    }

    bnn_shape h[2] = {KE_SHAPE(2, 3), KE_SHAPE(3)};
    bnn_shape ho = KE_SHAPE(2, 3);
    for (int o = 0; o < 5; o++) {
        c = ke_create(cmp_ops[o], 2, (bnn_dtype[]){BNN_F16, BNN_F16}, h, BNN_BOOL, &ho);
        double av[6] = {1.5, -2, 0.25, 65504, -0.0, 3}, bv[3] = {1.5, -2.5, 0.125};
        uint16_t *ha = c->inputs[0].data, *hb = c->inputs[1].data;
        for (int i = 0; i < 6; i++)
            ha[i] = half_of(av[i]);
        for (int i = 0; i < 3; i++)
            hb[i] = half_of(bv[i]);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        y = c->output.data;
        for (int i = 0; i < 6; i++)
            cr_expect_eq(y[i], ref_compare(cmp_ops[o], av[i], bv[i % 3]), "f16 %s element %d",
                         bnn_op_get(cmp_ops[o])->name, i);
        ke_destroy(c);
    }
}

/* ---- logic ----------------------------------------------------------------- */

Test(kernels_elem, logic_random_broadcast)
{
    uint64_t s = 5;
    bnn_op ops[] = {BNN_OP_AND, BNN_OP_OR, BNN_OP_XOR};
    for (int iter = 0; iter < 150; iter++) {
        bnn_op op = ops[iter % 3];
        bnn_shape in[2], out;
        random_bcast_shapes(&s, 2, in, &out);
        ke_case *c = ke_create1(op, BNN_BOOL, 2, in, &out);
        for (int k = 0; k < 2; k++)
            ke_fill(&c->inputs[k], (uint64_t)(iter * 5 + k), 0, 1);
        /* any nonzero byte is true */
        if (bnn_tensor_numel(&c->inputs[0]) > 0)
            ((uint8_t *)c->inputs[0].data)[0] *= 7;
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &out, coords);
            bool a = ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank)) != 0;
            bool b = ke_get(&c->inputs[1], bcast_at(&in[1], coords, out.rank)) != 0;
            bool want = op == BNN_OP_AND ? (a && b) : op == BNN_OP_OR ? (a || b) : (a != b);
            cr_assert_eq(((uint8_t *)c->output.data)[i], want, "%s %d: element %lld",
                         bnn_op_get(op)->name, iter, (long long)i);
        }
        ke_destroy(c);
    }
    bnn_shape sh = KE_SHAPE(2, 2);
    ke_case *c = ke_create1(BNN_OP_NOT, BNN_BOOL, 1, &sh, &sh);
    uint8_t *x = c->inputs[0].data;
    x[0] = 0; x[1] = 1; x[2] = 9; x[3] = 0;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const uint8_t *y = c->output.data;
    cr_expect(y[0] == 1 && y[1] == 0 && y[2] == 0 && y[3] == 1);
    ke_destroy(c);
}

/* ---- where ----------------------------------------------------------------- */

static const bnn_dtype where_types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U16, BNN_I32,
                                        BNN_I64, BNN_BOOL, BNN_F16};

Test(kernels_elem, where_random_three_way_broadcast)
{
    uint64_t s = 17;
    for (int iter = 0; iter < 240; iter++) {
        bnn_dtype dt = where_types[iter % 8];
        bnn_shape in[3], out;
        random_bcast_shapes(&s, 3, in, &out);
        bnn_dtype dts[3] = {BNN_BOOL, dt, dt};
        ke_case *c = ke_create(BNN_OP_WHERE, 3, dts, in, dt, &out);
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 1);
        for (int k = 1; k < 3; k++) {
            /* f16 (which ke_fill lacks): random bit patterns */
            int64_t n = bnn_tensor_numel(&c->inputs[k]);
            if (dt == BNN_F16)
                for (int64_t i = 0; i < n; i++)
                    ((uint16_t *)c->inputs[k].data)[i] = (uint16_t)ke_rand_next(&s);
            else
                ke_fill(&c->inputs[k], (uint64_t)(iter * 3 + k), dt == BNN_BOOL ? 0 : -50,
                        dt == BNN_BOOL ? 1 : 50);
        }
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        size_t es = bnn_dtype_size(dt);
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &out, coords);
            bool cond = ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank)) != 0;
            int k = cond ? 1 : 2;
            int64_t j = bcast_at(&in[k], coords, out.rank);
            cr_assert(memcmp((char *)c->output.data + (size_t)i * es,
                             (char *)c->inputs[k].data + (size_t)j * es, es) == 0,
                      "%s %d: element %lld", bnn_dtype_name(dt), iter, (long long)i);
        }
        ke_destroy(c);
    }
}

Test(kernels_elem, where_gradient_finite_differences)
{
    uint64_t s = 3;
    for (int iter = 0; iter < 40; iter++) {
        bnn_shape in[3], out;
        random_bcast_shapes(&s, 3, in, &out);
        bnn_dtype dts[3] = {BNN_BOOL, BNN_F32, BNN_F32};
        ke_case *c = ke_create(BNN_OP_WHERE, 3, dts, in, BNN_F32, &out);
        ke_fill(&c->inputs[0], (uint64_t)iter + 100, 0, 1);
        ke_fill(&c->inputs[1], (uint64_t)iter + 200, -2, 2);
        ke_fill(&c->inputs[2], (uint64_t)iter + 300, -2, 2);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        ke_check_grad(c, 0x6, 1e-2, 1e-3, 64);
        ke_destroy(c);
    }
    /* exact sums: a [3] x broadcast over [2, 3] */
    bnn_shape sh[3] = {KE_SHAPE(2, 3), KE_SHAPE(3), KE_SCALAR};
    bnn_shape o = KE_SHAPE(2, 3);
    ke_case *c = ke_create(BNN_OP_WHERE, 3, (bnn_dtype[]){BNN_BOOL, BNN_F32, BNN_F32}, sh, BNN_F32, &o);
    uint8_t *cond = c->inputs[0].data;
    uint8_t pattern[6] = {1, 0, 1, 1, 1, 0};
    memcpy(cond, pattern, 6);
    cr_assert_eq(ke_forward(c), BNN_OK);
    float g[6] = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(ke_backward(c, g, 0x6), BNN_OK, "%s", c->diag.message);
    cr_expect_float_eq(ke_grad(c, 1, 0), 1 + 4, 1e-6);
    cr_expect_float_eq(ke_grad(c, 1, 1), 5, 1e-6);
    cr_expect_float_eq(ke_grad(c, 1, 2), 3, 1e-6);
    cr_expect_float_eq(ke_grad(c, 2, 0), 2 + 6, 1e-6);
    ke_destroy(c);
}

/* ---- sign ---------------------------------------------------------------------- */

Test(kernels_elem, sign_every_type)
{
    bnn_shape sh = KE_SHAPE(5);
    bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_I16, BNN_I32, BNN_I64, BNN_U8, BNN_U64};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        ke_case *c = ke_create1(BNN_OP_SIGN, types[t], 1, &sh, &sh);
        double v[5] = {-7, 0, 3, -128, 100};
        bool is_unsigned = types[t] == BNN_U8 || types[t] == BNN_U64;
        for (int i = 0; i < 5; i++)
            ke_put(&c->inputs[0], i, is_unsigned ? fabs(v[i]) : v[i]);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < 5; i++) {
            double x = is_unsigned ? fabs(v[i]) : v[i];
            cr_expect_eq(ke_get(&c->output, i), (x > 0) - (x < 0), "%s element %d",
                         bnn_dtype_name(types[t]), i);
        }
        ke_destroy(c);
    }
    ke_case *c = ke_create1(BNN_OP_SIGN, BNN_F32, 1, &sh, &sh);
    float *x = c->inputs[0].data;
    x[0] = NAN; x[1] = -0.0f; x[2] = 1e-30f; x[3] = -INFINITY; x[4] = 2;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const float *y = c->output.data;
    cr_expect(isnan(y[0]) && y[1] == 0 && y[2] == 1 && y[3] == -1 && y[4] == 1);
    cr_assert_eq(ke_backward(c, NULL, 1), BNN_OK);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(ke_grad(c, 0, i), 0, "sign's gradient is zero");
    ke_destroy(c);

    c = ke_create1(BNN_OP_SIGN, BNN_F16, 1, &sh, &sh);
    uint16_t *h = c->inputs[0].data;
    h[0] = half_of(-3); h[1] = half_of(0.5); h[2] = 0x8000; h[3] = 0x7e00; h[4] = 0x0001;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const uint16_t *hy = c->output.data;
    cr_expect(half_value(hy[0]) == -1 && half_value(hy[1]) == 1 && half_value(hy[2]) == 0 &&
              isnan(half_value(hy[3])) && half_value(hy[4]) == 1);
    ke_destroy(c);
}

/* ---- mod ----------------------------------------------------------------------- */

static double ref_mod(double a, double b, bool fmod_mode)
{
    double r = fmod(a, b);
    if (!fmod_mode && r != 0 && (r < 0) != (b < 0))
        r += b;
    return r;
}

Test(kernels_elem, mod_random_every_type_both_modes)
{
    uint64_t s = 99;
    bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_I16, BNN_I32, BNN_I64,
                         BNN_U8, BNN_U16, BNN_U32, BNN_U64};
    for (int iter = 0; iter < 200; iter++) {
        bnn_dtype dt = types[iter % 10];
        bool f = (iter / 10) % 2;
        bool is_float = dt == BNN_F32 || dt == BNN_F64;
        bool is_unsigned = dt == BNN_U8 || dt == BNN_U16 || dt == BNN_U32 || dt == BNN_U64;
        bnn_shape in[2], out;
        random_bcast_shapes(&s, 2, in, &out);
        ke_case *c = ke_create1(BNN_OP_MOD, dt, 2, in, &out);
        if (f)
            ke_set_int(c, "fmod", 1);
        ke_fill(&c->inputs[0], (uint64_t)iter, is_unsigned ? 0 : -100, 100);
        ke_fill(&c->inputs[1], (uint64_t)iter + 1000, is_unsigned ? 1 : -9, 9);
        /* no zero divisors */
        for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[1]); i++)
            if (ke_get(&c->inputs[1], i) == 0 || (is_float && fabs(ke_get(&c->inputs[1], i)) < 0.5))
                ke_put(&c->inputs[1], i, 3);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &out, coords);
            double a = ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank));
            double b = ke_get(&c->inputs[1], bcast_at(&in[1], coords, out.rank));
            double want = ref_mod(a, b, f), got = ke_get(&c->output, i);
            if (dt == BNN_F32)
                want = (float)want;
            cr_assert(fabs(got - want) <= (dt == BNN_F32 ? 1e-5 : 1e-12) * (1 + fabs(a)),
                      "mod %s fmod=%d %d: %g mod %g: got %g, want %g", bnn_dtype_name(dt), f,
                      iter, a, b, got, want);
        }
        ke_destroy(c);
    }
}

Test(kernels_elem, mod_signs_extremes_and_errors)
{
    bnn_shape sh = KE_SHAPE(4);
    bnn_shape two[2] = {sh, sh};
    /* Python's % (fmod=0) and C's fmod (fmod=1) on mixed signs */
    int64_t a[4] = {-7, 7, -7, INT64_MIN}, b[4] = {3, -3, -3, -1};
    int64_t want0[4] = {2, -2, -1, 0}, want1[4] = {-1, 1, -1, 0};
    for (int f = 0; f < 2; f++) {
        ke_case *c = ke_create1(BNN_OP_MOD, BNN_I64, 2, two, &sh);
        if (f)
            ke_set_int(c, "fmod", 1);
        memcpy(c->inputs[0].data, a, sizeof a);
        memcpy(c->inputs[1].data, b, sizeof b);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        cr_expect(memcmp(c->output.data, f ? want1 : want0, sizeof a) == 0, "fmod=%d", f);
        ke_destroy(c);
    }
    /* int8 at its edge */
    ke_case *c = ke_create1(BNN_OP_MOD, BNN_I8, 2, two, &sh);
    int8_t a8[4] = {-128, -128, 127, -1}, b8[4] = {-1, 127, -128, 5}, w8[4] = {0, 126, -1, 4};
    memcpy(c->inputs[0].data, a8, 4);
    memcpy(c->inputs[1].data, b8, 4);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect(memcmp(c->output.data, w8, 4) == 0);
    /* a zero divisor fails naming the node */
    ((int8_t *)c->inputs[1].data)[2] = 0;
    cr_assert_eq(ke_forward(c), BNN_ERR_INVALID);
    cr_expect(strstr(c->diag.message, "n0") && strstr(c->diag.message, "division by zero"),
              "%s", c->diag.message);
    ke_destroy(c);
    /* f16 with fmod=1 */
    c = ke_create1(BNN_OP_MOD, BNN_F16, 2, two, &sh);
    ke_set_int(c, "fmod", 1);
    double fa[4] = {5.5, -5.5, 7, -0.75}, fb[4] = {2, 2, -3, 0.5};
    for (int i = 0; i < 4; i++) {
        ((uint16_t *)c->inputs[0].data)[i] = half_of(fa[i]);
        ((uint16_t *)c->inputs[1].data)[i] = half_of(fb[i]);
    }
    cr_assert_eq(ke_forward(c), BNN_OK);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(half_value(((uint16_t *)c->output.data)[i]), fmod(fa[i], fb[i]), "f16 %d", i);
    ke_destroy(c);
}

/* ---- is_nan, is_inf -------------------------------------------------------------- */

Test(kernels_elem, is_nan_is_inf_flags)
{
    bnn_shape sh = KE_SHAPE(5);
    float v[5] = {NAN, INFINITY, -INFINITY, 0, -3e38f};
    for (int t = 0; t < 2; t++) {
        bnn_dtype dt = t ? BNN_F64 : BNN_F32;
        for (int mode = 0; mode < 4; mode++) {
            bnn_op op = mode == 0 ? BNN_OP_IS_NAN : BNN_OP_IS_INF;
            ke_case *c = ke_create(op, 1, &dt, &sh, BNN_BOOL, &sh);
            if (mode == 2)
                ke_set_int(c, "detect_negative", 0);
            if (mode == 3)
                ke_set_int(c, "detect_positive", 0);
            for (int i = 0; i < 5; i++)
                ke_put(&c->inputs[0], i, v[i]);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            const uint8_t *y = c->output.data;
            for (int i = 0; i < 5; i++) {
                bool want = mode == 0 ? isnan(v[i])
                                      : isinf(v[i]) && (v[i] > 0 ? mode != 3 : mode != 2);
                cr_expect_eq(y[i], want, "%s mode %d element %d", bnn_dtype_name(dt), mode, i);
            }
            ke_destroy(c);
        }
    }
    bnn_dtype h = BNN_F16;
    ke_case *c = ke_create(BNN_OP_IS_NAN, 1, &h, &sh, BNN_BOOL, &sh);
    uint16_t bits[5] = {0x7e00, 0x7c00, 0xfc01, 0x3c00, 0};
    memcpy(c->inputs[0].data, bits, sizeof bits);
    cr_assert_eq(ke_forward(c), BNN_OK);
    const uint8_t *y = c->output.data;
    cr_expect(y[0] == 1 && y[1] == 0 && y[2] == 1 && y[3] == 0 && y[4] == 0);
    ke_destroy(c);
}

/* ---- the piecewise-constant ops' gradients ------------------------------------------ */

/* Comparisons, sign, is_nan and is_inf have a backward kernel that adds
 * nothing (their outputs are flat almost everywhere).  Finite differences
 * away from the jumps (operands that never tie, no zero, finite values) must
 * agree: zero, with the gradient buffers left as they were. */
Test(kernels_elem, piecewise_constant_gradients_finite_differences)
{
    uint64_t s = 9;
    for (int iter = 0; iter < 20; iter++) {
        bnn_op op = cmp_ops[iter % 5];
        bnn_shape in[2], out;
        random_bcast_shapes(&s, 2, in, &out);
        bnn_dtype dts[2] = {BNN_F32, BNN_F32};
        ke_case *c = ke_create(op, 2, dts, in, BNN_BOOL, &out);
        /* a in {0.25, 1.25, 2.25}, b in {0.75, 1.75}: both orders, never a tie */
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[k]); i++)
                ke_put(&c->inputs[k], i, (double)ke_rand_int(&s, 0, 2 - k) + (k ? 0.75 : 0.25));
        ke_check_grad(c, 3, 1e-3, 1e-2, 64);
        ke_destroy(c);
    }
    static const bnn_op unary[] = {BNN_OP_SIGN, BNN_OP_IS_NAN, BNN_OP_IS_INF};
    for (size_t u = 0; u < sizeof unary / sizeof *unary; u++) {
        bnn_shape sh = KE_SHAPE(3, 7);
        bnn_dtype dt = BNN_F32;
        ke_case *c = ke_create(unary[u], 1, &dt, &sh,
                               unary[u] == BNN_OP_SIGN ? BNN_F32 : BNN_BOOL, &sh);
        /* |x| >= 0.1: no sign change within eps */
        for (int64_t i = 0; i < 21; i++)
            ke_put(&c->inputs[0], i, (i % 2 ? -1 : 1) * ke_rand_uniform(&s, 0.1, 3));
        ke_check_grad(c, 1, 1e-3, 1e-2, 64);
        ke_destroy(c);
    }
}

/* ---- bad operands ------------------------------------------------------------------ */

Test(kernels_elem, logic_bad_operands_fail_cleanly)
{
    bnn_shape sh[3] = {KE_SHAPE(2, 3), KE_SHAPE(4), KE_SHAPE(2, 3)};
    bnn_shape out = KE_SHAPE(2, 3);
    /* shapes that do not broadcast */
    ke_case *c = ke_create1(BNN_OP_LESS, BNN_F32, 2, sh, &out);
    c->output.dtype = BNN_BOOL;
    cr_assert_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "n0") != NULL, "%s", c->diag.message);
    ke_destroy(c);
    /* where with a non-bool condition */
    bnn_shape same[3] = {out, out, out};
    c = ke_create1(BNN_OP_WHERE, BNN_F32, 3, same, &out);
    cr_assert_neq(ke_forward(c), BNN_OK);
    cr_expect(strstr(c->diag.message, "bool") != NULL, "%s", c->diag.message);
    ke_destroy(c);
    /* and on floats */
    c = ke_create(BNN_OP_AND, 2, (bnn_dtype[]){BNN_F32, BNN_F32}, same, BNN_BOOL, &out);
    cr_assert_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    ke_destroy(c);
    /* comparison of mixed types */
    c = ke_create(BNN_OP_EQUAL, 2, (bnn_dtype[]){BNN_F32, BNN_I32}, same, BNN_BOOL, &out);
    cr_assert_neq(ke_forward(c), BNN_OK);
    ke_destroy(c);
}

/* BitShift on every unsigned type with broadcasting: x * 2^y (left, modulo
 * 2^bits) or floor(x / 2^y) (right), computed in 128 bits; shifts of the
 * width or more give 0. */
Test(kernels_elem, bit_shift_every_unsigned_type)
{
    uint64_t s = 4242;
    const bnn_dtype types[] = {BNN_U8, BNN_U16, BNN_U32, BNN_U64};
    const int bits[] = {8, 16, 32, 64};
    for (int iter = 0; iter < 80; iter++) {
        int t = iter % 4;
        bool left = (iter / 4) % 2;
        bnn_shape in[2], out;
        random_bcast_shapes(&s, 2, in, &out);
        ke_case *c = ke_create1(BNN_OP_BIT_SHIFT, types[t], 2, in, &out);
        ke_set_string(c, "direction", left ? "LEFT" : "RIGHT");
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 255);
        ke_fill(&c->inputs[1], (uint64_t)iter + 500, 0, bits[t] + 2);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &out, coords);
            uint64_t a = (uint64_t)ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank));
            uint64_t b = (uint64_t)ke_get(&c->inputs[1], bcast_at(&in[1], coords, out.rank));
            unsigned __int128 mod = (unsigned __int128)1 << bits[t], want;
            if (b >= (uint64_t)bits[t])
                want = 0;
            else
                want = left ? ((unsigned __int128)a << b) % mod : a >> b;
            uint64_t got = 0;
            memcpy(&got, (char *)c->output.data + i * (int64_t)bnn_dtype_size(types[t]),
                   bnn_dtype_size(types[t]));
            cr_assert_eq(got, (uint64_t)want, "%s %s %d: %llu by %llu: got %llu",
                         bnn_dtype_name(types[t]), left ? "LEFT" : "RIGHT", iter,
                         (unsigned long long)a, (unsigned long long)b, (unsigned long long)got);
        }
        ke_destroy(c);
    }
    bnn_shape sh[2] = {KE_SHAPE(2), KE_SHAPE(2)};
    ke_case *c = ke_create1(BNN_OP_BIT_SHIFT, BNN_U8, 2, sh, &sh[0]);
    ke_set_string(c, "direction", "UP");
    cr_assert_eq(ke_forward(c), BNN_ERR_INVALID);
    cr_expect(strstr(c->diag.message, "'UP'"), "%s", c->diag.message);
    ke_destroy(c);
}
