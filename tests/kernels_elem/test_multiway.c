/* pow, max, min, sum, mean and cast: forward against slow references (one
 * output element at a time from its coordinates), for every element type the
 * kernels take; gradients by finite differences, the max/min tie rule, NaN,
 * and f16 conversions bit for bit. */
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

/* Random shapes that broadcast together into out. */
static void random_bcast_shapes(uint64_t *s, int n, bnn_shape *in, bnn_shape *out)
{
    *out = KE_SCALAR;
    out->rank = (int)ke_rand_int(s, 0, 4);
    for (int d = 0; d < out->rank; d++)
        out->dims[d] = ke_rand_int(s, 1, 4);
    for (int k = 0; k < n; k++) {
        in[k] = KE_SCALAR;
        in[k].rank = (int)ke_rand_int(s, 0, out->rank);
        for (int d = 0; d < in[k].rank; d++)
            in[k].dims[d] = ke_rand_int(s, 0, 2) ? out->dims[d + out->rank - in[k].rank] : 1;
    }
    /* one input spans the output, so the shapes broadcast exactly to it */
    in[ke_rand_int(s, 0, n - 1)] = *out;
}

/* ---- max, min, sum, mean ------------------------------------------------------ */

static const bnn_dtype many_types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U8, BNN_I16,
                                       BNN_U16, BNN_I32, BNN_U32, BNN_I64, BNN_U64};
#define N_MANY (sizeof many_types / sizeof many_types[0])

static double ref_many(bnn_op op, const double *v, int n, bnn_dtype dt)
{
    double r = v[0];
    for (int k = 1; k < n; k++) {
        if (op == BNN_OP_MAX)
            r = v[k] > r ? v[k] : r;
        else if (op == BNN_OP_MIN)
            r = v[k] < r ? v[k] : r;
        else
            r += v[k];
    }
    if (op == BNN_OP_MEAN)
        r /= n;
    if (dt == BNN_F32)
        r = (float)r;
    return r;
}

static void check_many(bnn_op op, bnn_dtype dt, uint64_t *s, int iter)
{
    int n = (int)ke_rand_int(s, 1, 5);
    bnn_shape in[KE_MAX_IN], out;
    random_bcast_shapes(s, n, in, &out);
    ke_case *c = ke_create1(op, dt, n, in, &out);
    for (int k = 0; k < n; k++)
        ke_fill(&c->inputs[k], (uint64_t)(iter * 7 + k), dt == BNN_F32 || dt == BNN_F64 ? -4 : 0,
                20);
    cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
    int64_t coords[BNN_MAX_RANK];
    for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
        ref_unravel(i, &out, coords);
        double v[KE_MAX_IN] = {0};
        for (int k = 0; k < n; k++)
            v[k] = ke_get(&c->inputs[k], bcast_at(&in[k], coords, out.rank));
        double want = ref_many(op, v, n, dt), got = ke_get(&c->output, i);
        if (dt == BNN_F32)
            cr_assert(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "%s %d: element %lld: got %g, want %g",
                      bnn_op_get(op)->name, iter, (long long)i, got, want);
        else
            cr_assert_eq(got, want, "%s %d (%s): element %lld: got %g, want %g",
                         bnn_op_get(op)->name, iter, bnn_dtype_name(dt), (long long)i, got, want);
    }
    ke_destroy(c);
}

Test(kernels_elem, many_random_every_type)
{
    uint64_t s = 41;
    bnn_op ops[] = {BNN_OP_MAX, BNN_OP_MIN, BNN_OP_SUM};
    for (int iter = 0; iter < 300; iter++)
        check_many(ops[iter % 3], many_types[(iter / 3) % N_MANY], &s, iter);
    for (int iter = 0; iter < 60; iter++)
        check_many(BNN_OP_MEAN, iter % 2 ? BNN_F64 : BNN_F32, &s, iter);
}

Test(kernels_elem, many_nan_and_wrap)
{
    bnn_shape sh[2] = {KE_SHAPE(3), KE_SHAPE(3)};
    bnn_op ops[] = {BNN_OP_MAX, BNN_OP_MIN};
    for (int o = 0; o < 2; o++) {
        ke_case *c = ke_create1(ops[o], BNN_F32, 2, sh, &sh[0]);
        float *a = c->inputs[0].data, *b = c->inputs[1].data;
        a[0] = NAN; b[0] = 1;
        a[1] = 1; b[1] = NAN;
        a[2] = 2; b[2] = 1;
        cr_assert_eq(ke_forward(c), BNN_OK);
        const float *y = c->output.data;
        cr_expect(isnan(y[0]) && isnan(y[1]), "%s must propagate NaN", bnn_op_get(ops[o])->name);
        cr_expect_eq(y[2], o == 0 ? 2.0f : 1.0f);
        ke_destroy(c);
    }
    ke_case *c = ke_create1(BNN_OP_SUM, BNN_I8, 2, sh, &sh[0]);
    ((int8_t *)c->inputs[0].data)[0] = 127;
    ((int8_t *)c->inputs[1].data)[0] = 1;
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect_eq(((int8_t *)c->output.data)[0], -128, "integer sums wrap");
    ke_destroy(c);
    /* mean of integers is not an ONNX op */
    c = ke_create1(BNN_OP_MEAN, BNN_I32, 2, sh, &sh[0]);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (mean)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, many_f16)
{
    bnn_shape sh[3] = {KE_SHAPE(4), KE_SHAPE(1), KE_SHAPE(4)};
    const uint16_t a[4] = {0x3c00, 0xc000, 0x7e00, 0x0001}; /* 1, -2, NaN, tiny */
    const uint16_t b[1] = {0x3800};                         /* 0.5 */
    const uint16_t c3[4] = {0x4000, 0x4000, 0x4000, 0x4000}; /* 2 */
    const uint16_t want_max[4] = {0x4000, 0x4000, 0x7e00, 0x4000};
    const uint16_t want_min[4] = {0x3800, 0xc000, 0x7e00, 0x0001};
    const uint16_t want_sum[4] = {0x4300, 0x3800, 0x7e00, 0x4100}; /* 3.5, 0.5, NaN, 2.5 */
    bnn_op ops[] = {BNN_OP_MAX, BNN_OP_MIN, BNN_OP_SUM};
    const uint16_t *wants[] = {want_max, want_min, want_sum};
    for (int o = 0; o < 3; o++) {
        ke_case *c = ke_create1(ops[o], BNN_F16, 3, sh, &sh[0]);
        memcpy(c->inputs[0].data, a, 8);
        memcpy(c->inputs[1].data, b, 2);
        memcpy(c->inputs[2].data, c3, 8);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        const uint16_t *y = c->output.data;
        for (int i = 0; i < 4; i++)
            cr_expect_eq(y[i] & (i == 2 ? 0x7e00 : 0xffff), wants[o][i], "%s[%d]: got %#x want %#x",
                         bnn_op_get(ops[o])->name, i, y[i], wants[o][i]);
        ke_destroy(c);
    }
}

Test(kernels_elem, many_gradients)
{
    uint64_t s = 51;
    bnn_op ops[] = {BNN_OP_MAX, BNN_OP_MIN, BNN_OP_SUM, BNN_OP_MEAN};
    for (int iter = 0; iter < 24; iter++) {
        int n = 1 + iter % 4;
        bnn_shape in[KE_MAX_IN], out;
        random_bcast_shapes(&s, n, in, &out);
        ke_case *c = ke_create1(ops[iter % 4], BNN_F32, n, in, &out);
        /* distinct values apart by more than eps, so max/min do not flip */
        for (int k = 0; k < n; k++) {
            int64_t m = bnn_tensor_numel(&c->inputs[k]);
            for (int64_t i = 0; i < m; i++)
                ke_put(&c->inputs[k], i, (double)ke_rand_int(&s, -500, 500) * 0.01 + 0.001 * k);
        }
        ke_check_grad(c, (1u << n) - 1, 1e-4, 1e-2, 100);
        ke_destroy(c);
    }
}

/* Ties: the gradient goes to the first input holding the winning value. */
Test(kernels_elem, max_min_tie_rule)
{
    bnn_shape sh[3] = {KE_SHAPE(2), KE_SHAPE(1), KE_SHAPE(2)};
    bnn_op ops[] = {BNN_OP_MAX, BNN_OP_MIN};
    for (int o = 0; o < 2; o++) {
        ke_case *c = ke_create1(ops[o], BNN_F32, 3, sh, &sh[0]);
        float *a = c->inputs[0].data, *b = c->inputs[1].data, *d = c->inputs[2].data;
        a[0] = 1; a[1] = 5;
        b[0] = 5;
        d[0] = 1; d[1] = 5;
        /* max: [5, 5] -> b wins element 0, a and b tie on 1 (a first) */
        cr_assert_eq(ke_forward(c), BNN_OK);
        float g[2] = {1.0f, 10.0f};
        cr_assert_eq(ke_backward(c, g, 7), BNN_OK, "%s", c->diag.message);
        if (o == 0) {
            cr_expect_float_eq(ke_grad(c, 0, 0), 0.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 0, 1), 10.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 1, 0), 1.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 2, 0), 0.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 2, 1), 0.0, 1e-6);
        } else {
            /* min: [1, 5] -> a wins element 0 (tie with d), a ties b and d on 1 */
            cr_expect_float_eq(ke_grad(c, 0, 0), 1.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 0, 1), 10.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 1, 0), 0.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 2, 0), 0.0, 1e-6);
            cr_expect_float_eq(ke_grad(c, 2, 1), 0.0, 1e-6);
        }
        ke_destroy(c);
    }
}

/* ---- pow ----------------------------------------------------------------------- */

static void check_pow(bnn_dtype xt, bnn_dtype pt, uint64_t *s, int iter)
{
    bnn_shape in[2], out;
    random_bcast_shapes(s, 2, in, &out);
    bnn_dtype dts[2] = {xt, pt};
    ke_case *c = ke_create(BNN_OP_POW, 2, dts, in, xt, &out);
    bool xf = xt == BNN_F32 || xt == BNN_F64, pf = pt == BNN_F32 || pt == BNN_F64;
    ke_fill(&c->inputs[0], (uint64_t)iter, xf ? 0.1 : -5, xf ? 3 : 5);
    ke_fill(&c->inputs[1], (uint64_t)iter + 99, pf ? -2 : 0, pf ? 3 : 4);
    cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", iter, c->diag.message);
    int64_t coords[BNN_MAX_RANK];
    for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
        ref_unravel(i, &out, coords);
        double x = ke_get(&c->inputs[0], bcast_at(&in[0], coords, out.rank));
        double p = ke_get(&c->inputs[1], bcast_at(&in[1], coords, out.rank));
        double want = pow(x, p), got = ke_get(&c->output, i);
        if (!xf) /* integers truncate; NaN (a negative base) becomes 0 */
            want = isnan(want) ? 0 : trunc(want);
        cr_assert(fabs(got - want) <= (xt == BNN_F32 ? 1e-5 : 1e-12) * (1 + fabs(want)),
                  "pow %s^%s %d: element %lld: %g^%g got %.17g want %.17g", bnn_dtype_name(xt),
                  bnn_dtype_name(pt), iter, (long long)i, x, p, got, want);
    }
    ke_destroy(c);
}

Test(kernels_elem, pow_types)
{
    uint64_t s = 61;
    bnn_dtype pairs[][2] = {{BNN_F32, BNN_F32}, {BNN_F32, BNN_I64}, {BNN_F32, BNN_I32},
                            {BNN_F32, BNN_U64}, {BNN_F64, BNN_F64}, {BNN_F64, BNN_I32},
                            {BNN_I32, BNN_I32}, {BNN_I64, BNN_I64}, {BNN_I32, BNN_F32},
                            {BNN_I64, BNN_F32}};
    for (int iter = 0; iter < 200; iter++) {
        int k = iter % (int)(sizeof pairs / sizeof pairs[0]);
        check_pow(pairs[k][0], pairs[k][1], &s, iter);
    }
}

Test(kernels_elem, pow_square_and_gradients)
{
    /* x^2 with a scalar exponent: the LayerNorm path */
    bnn_shape sh[2] = {KE_SHAPE(3, 5), KE_SCALAR};
    ke_case *c = ke_create1(BNN_OP_POW, BNN_F32, 2, sh, &sh[0]);
    ke_fill(&c->inputs[0], 3, -2, 2);
    ((float *)c->inputs[1].data)[0] = 2.0f;
    cr_assert_eq(ke_forward(c), BNN_OK);
    for (int i = 0; i < 15; i++) {
        float x = ((float *)c->inputs[0].data)[i];
        cr_expect_eq(((float *)c->output.data)[i], x * x);
    }
    ke_check_grad(c, 3 & ~2u, 1e-3, 1e-2, 100); /* x may be negative: base only */
    ke_destroy(c);
    /* both operands, broadcast, positive base */
    bnn_shape sh2[2] = {KE_SHAPE(2, 3), KE_SHAPE(3)};
    c = ke_create1(BNN_OP_POW, BNN_F32, 2, sh2, &sh2[0]);
    ke_fill(&c->inputs[0], 4, 0.5, 2);
    ke_fill(&c->inputs[1], 5, -1.5, 2.5);
    ke_check_grad(c, 3, 1e-3, 1e-2, 100);
    ke_destroy(c);
    /* an integer exponent: base gradient only */
    bnn_dtype dts[2] = {BNN_F32, BNN_I64};
    c = ke_create(BNN_OP_POW, 2, dts, sh2, BNN_F32, &sh2[0]);
    ke_fill(&c->inputs[0], 6, -2, 2);
    ke_fill(&c->inputs[1], 7, 0, 3);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}

/* ---- cast ---------------------------------------------------------------------- */

static const bnn_dtype cast_types[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U8, BNN_I16, BNN_U16,
                                       BNN_I32, BNN_U32, BNN_I64, BNN_U64, BNN_BOOL};
#define N_CAST (sizeof cast_types / sizeof cast_types[0])

/* What a double becomes in type t (used to make in-range inputs). */
static double to_type(double v, bnn_dtype t)
{
    if (t == BNN_F64)
        return v;
    if (t == BNN_F32)
        return (float)v;
    if (t == BNN_BOOL)
        return v != 0;
    int64_t i = (int64_t)trunc(v);
    switch (t) {
    case BNN_I8: return (int8_t)(uint8_t)i;
    case BNN_U8: return (uint8_t)i;
    case BNN_I16: return (int16_t)(uint16_t)i;
    case BNN_U16: return (uint16_t)i;
    case BNN_I32: return (int32_t)(uint32_t)i;
    case BNN_U32: return (uint32_t)i;
    default: return (double)i; /* i64; u64 inputs are kept below 2^53 */
    }
}

static bool is_unsigned(bnn_dtype t)
{
    return t == BNN_U8 || t == BNN_U16 || t == BNN_U32 || t == BNN_U64 || t == BNN_BOOL;
}

/* Element i of x as type `to`, into element i of y: integers from their exact
 * bits (sign- or zero-extended), floats truncated toward zero (in range
 * here); integer targets keep the low bits; bool is "not zero". */
static void ref_cast_elem(const bnn_tensor *x, int64_t i, bnn_tensor *y)
{
    bnn_dtype from = x->dtype, to = y->dtype;
    bool fl = from == BNN_F32 || from == BNN_F64;
    size_t es = bnn_dtype_size(from), eo = bnn_dtype_size(to);
    uint64_t bits = 0;
    memcpy(&bits, (const char *)x->data + (size_t)i * es, es);
    if (!fl && !is_unsigned(from) && es < 8 && (bits >> (es * 8 - 1) & 1))
        bits |= ~(uint64_t)0 << (es * 8); /* sign-extend */
    double f = fl ? ke_get(x, i) : 0;
    if (to == BNN_F32 || to == BNN_F64) {
        double d = fl ? f : is_unsigned(from) ? (double)bits : (double)(int64_t)bits;
        float g = fl ? (float)f : is_unsigned(from) ? (float)bits : (float)(int64_t)bits;
        if (to == BNN_F32)
            memcpy((char *)y->data + (size_t)i * 4, &g, 4);
        else
            memcpy((char *)y->data + (size_t)i * 8, &d, 8);
        return;
    }
    if (to == BNN_BOOL) {
        ((uint8_t *)y->data)[i] = fl ? f != 0 : bits != 0;
        return;
    }
    uint64_t out = fl ? (uint64_t)(int64_t)trunc(f) : bits;
    memcpy((char *)y->data + (size_t)i * eo, &out, eo); /* low bytes: little-endian host */
}

Test(kernels_elem, cast_every_pair)
{
    const double values[] = {0, 1, -1, 2.75, -2.75, 127, 128, 255, 256, -129, 65535, 70000.5, -3e9,
                             4e9, 0.25};
    int nv = (int)(sizeof values / sizeof values[0]);
    bnn_shape sh = KE_SHAPE(nv);
    for (size_t a = 0; a < N_CAST; a++)
        for (size_t b = 0; b < N_CAST; b++) {
            bnn_dtype from = cast_types[a], to = cast_types[b];
            ke_case *c = ke_create(BNN_OP_CAST, 1, &from, &sh, to, &sh);
            ke_set_int(c, "to", to);
            for (int i = 0; i < nv; i++)
                ke_put(&c->inputs[0], i, to_type(from == BNN_U64 ? fabs(values[i]) : values[i], from));
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            bnn_tensor want;
            bnn_diag d;
            cr_assert_eq(bnn_tensor_alloc(&want, to, &sh, &d), BNN_OK);
            size_t eo = bnn_dtype_size(to);
            for (int i = 0; i < nv; i++) {
                ref_cast_elem(&c->inputs[0], i, &want);
                cr_expect_eq(memcmp((char *)want.data + i * eo, (char *)c->output.data + i * eo, eo), 0,
                             "%s -> %s: element %d (%.17g) gave %.17g, want %.17g", bnn_dtype_name(from),
                             bnn_dtype_name(to), i, ke_get(&c->inputs[0], i), ke_get(&c->output, i),
                             ke_get(&want, i));
            }
            bnn_tensor_free(&want);
            ke_destroy(c);
        }
}

Test(kernels_elem, cast_saturates_and_large_ints)
{
    bnn_shape sh = KE_SHAPE(4);
    bnn_dtype f = BNN_F64;
    ke_case *c = ke_create(BNN_OP_CAST, 1, &f, &sh, BNN_I64, &sh);
    ke_set_int(c, "to", BNN_I64);
    double *x = c->inputs[0].data;
    x[0] = NAN; x[1] = 1e300; x[2] = -1e300; x[3] = -7.9;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const int64_t *y = c->output.data;
    cr_expect_eq(y[0], 0);
    cr_expect_eq(y[1], INT64_MAX);
    cr_expect_eq(y[2], INT64_MIN);
    cr_expect_eq(y[3], -7);
    ke_destroy(c);
    /* i64 -> f32 rounds once (2^62 + 2^38 + 1 is not 2^62 + 2^39 through double) */
    bnn_dtype i = BNN_I64;
    c = ke_create(BNN_OP_CAST, 1, &i, &sh, BNN_F32, &sh);
    ke_set_int(c, "to", BNN_F32);
    int64_t *xi = c->inputs[0].data;
    xi[0] = ((int64_t)1 << 62) + ((int64_t)1 << 38) + 1;
    xi[1] = INT64_MIN;
    xi[2] = -3;
    xi[3] = 16777217;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const float *yf = c->output.data;
    cr_expect_eq(yf[0], (float)xi[0]);
    cr_expect_eq(yf[1], -0x1p63f);
    cr_expect_eq(yf[2], -3.0f);
    cr_expect_eq(yf[3], 16777216.0f);
    ke_destroy(c);
}

Test(kernels_elem, cast_f16)
{
    const float in[] = {1.0f, -2.0f, 65504.0f, 65520.0f, 1e-8f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
                        1.0f + 0x1p-11f, 1.0f + 0x1p-10f + 0x1p-11f, INFINITY, 0.333333f};
    const uint16_t want[] = {0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x0000, 0x0001,
                             0x3c00, 0x3c02, 0x7c00, 0x3555};
    int n = (int)(sizeof in / sizeof in[0]);
    bnn_shape sh = KE_SHAPE(n);
    bnn_dtype f = BNN_F32;
    ke_case *c = ke_create(BNN_OP_CAST, 1, &f, &sh, BNN_F16, &sh);
    ke_set_int(c, "to", BNN_F16);
    memcpy(c->inputs[0].data, in, sizeof in);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    for (int i = 0; i < n; i++)
        cr_expect_eq(((uint16_t *)c->output.data)[i], want[i], "%.9g -> %#x, want %#x", in[i],
                     ((uint16_t *)c->output.data)[i], want[i]);
    ke_destroy(c);
    /* every half -> f32 -> half comes back (NaN stays NaN) */
    bnn_shape all = KE_SHAPE(65536);
    bnn_dtype h = BNN_F16;
    ke_case *to32 = ke_create(BNN_OP_CAST, 1, &h, &all, BNN_F32, &all);
    ke_set_int(to32, "to", BNN_F32);
    for (int i = 0; i < 65536; i++)
        ((uint16_t *)to32->inputs[0].data)[i] = (uint16_t)i;
    cr_assert_eq(ke_forward(to32), BNN_OK);
    ke_case *back = ke_create(BNN_OP_CAST, 1, &f, &all, BNN_F16, &all);
    ke_set_int(back, "to", BNN_F16);
    memcpy(back->inputs[0].data, to32->output.data, 65536 * 4);
    cr_assert_eq(ke_forward(back), BNN_OK);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        uint16_t r = ((uint16_t *)back->output.data)[i];
        float v = ((float *)to32->output.data)[i];
        bool nan_in = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (nan_in ? !(isnan(v) && (r & 0x7c00) == 0x7c00 && (r & 0x3ff)) : r != i)
            bad++;
    }
    cr_expect_eq(bad, 0, "%d halves did not round-trip", bad);
    cr_expect_eq(((float *)to32->output.data)[0x3c00], 1.0f);
    cr_expect_eq(((float *)to32->output.data)[0x0001], 0x1p-24f);
    ke_destroy(to32);
    ke_destroy(back);
}

Test(kernels_elem, cast_gradient_identity)
{
    bnn_shape sh = KE_SHAPE(2, 3);
    ke_case *c = ke_create1(BNN_OP_CAST, BNN_F32, 1, &sh, &sh);
    ke_set_int(c, "to", BNN_F32);
    ke_fill(&c->inputs[0], 3, -1, 1);
    ke_check_grad(c, 1, 1e-3, 1e-2, 100);
    ke_destroy(c);
}
