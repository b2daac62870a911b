/* Linear quantization kernels (runtime/kernels/quant.c) against a plain
 * double reference of ONNX's definitions: quantize_linear and
 * dequantize_linear per tensor and per axis for every supported type,
 * rounding half to even and saturation, and dynamic_quantize_linear's
 * scale, zero point and values; the integer matmuls and convolutions. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

static const bnn_dtype qtypes[] = {BNN_U8, BNN_I8, BNN_U16, BNN_I16};
static const double qlo[] = {0, -128, 0, -32768}, qhi[] = {255, 127, 65535, 32767};

/* Round half to even, in double. */
static double ref_round(double v)
{
    double f = floor(v), d = v - f;
    if (d > 0.5 || (d == 0.5 && fmod(f, 2) != 0))
        return f + 1;
    return f;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* x [2,3,4]; per_axis: scale of dim axis; every quantized type. */
Test(quant, quantize_and_dequantize_match_reference)
{
    bnn_shape xs = KE_SHAPE(2, 3, 4);
    for (size_t t = 0; t < sizeof qtypes / sizeof *qtypes; t++)
        for (int mode = 0; mode < 4; mode++) { /* per tensor, axis 0, 1, -1 */
            int axis = mode == 1 ? 0 : mode == 2 ? 1 : 2;
            int64_t nc = mode == 0 ? 1 : xs.dims[axis];
            bnn_shape ss = mode == 0 ? KE_SCALAR : ke_shape(1, &nc);
            bnn_shape ins[3] = {xs, ss, ss};
            bnn_dtype dts[3] = {BNN_F32, BNN_F32, qtypes[t]};
            ke_case *q = ke_create(BNN_OP_QUANTIZE_LINEAR, 3, dts, ins, qtypes[t], &xs);
            if (mode)
                ke_set_int(q, "axis", mode == 3 ? -1 : axis);
            double span = qhi[t] - qlo[t];
            ke_fill(&q->inputs[0], 10 + t, -span * 0.7, span * 0.7); /* some saturate */
            for (int64_t c = 0; c < nc; c++) {
                ke_put(&q->inputs[1], c, 0.5 + 0.25 * (double)c);
                ke_put(&q->inputs[2], c, qlo[t] + (double)(c + 1) * span / 8);
            }
            ((float *)q->inputs[0].data)[0] = 1.25f; /* 2.5 steps of 0.5: a half */
            cr_assert_eq(ke_forward(q), BNN_OK, "%s", q->diag.message);
            int64_t inner = mode == 0 ? 1 : axis == 0 ? 12 : axis == 1 ? 4 : 1;
            for (int64_t i = 0; i < 24; i++) {
                int64_t c = mode == 0 ? 0 : (i / inner) % nc;
                double x = ke_get(&q->inputs[0], i), s = ke_get(&q->inputs[1], c);
                double want = clampd(ref_round((double)(float)(x / s)) + ke_get(&q->inputs[2], c), qlo[t], qhi[t]);
                cr_expect_eq(ke_get(&q->output, i), want, "%s mode %d element %lld: x %g",
                             bnn_dtype_name(qtypes[t]), mode, (long long)i, x);
            }
            /* and back */
            bnn_dtype ddts[3] = {qtypes[t], BNN_F32, qtypes[t]};
            ke_case *d = ke_create(BNN_OP_DEQUANTIZE_LINEAR, 3, ddts, ins, BNN_F32, &xs);
            if (mode)
                ke_set_int(d, "axis", mode == 3 ? -1 : axis);
            memcpy(d->inputs[0].data, q->output.data, bnn_tensor_nbytes(&q->output));
            memcpy(d->inputs[1].data, q->inputs[1].data, bnn_tensor_nbytes(&q->inputs[1]));
            memcpy(d->inputs[2].data, q->inputs[2].data, bnn_tensor_nbytes(&q->inputs[2]));
            cr_assert_eq(ke_forward(d), BNN_OK, "%s", d->diag.message);
            for (int64_t i = 0; i < 24; i++) {
                int64_t c = mode == 0 ? 0 : (i / inner) % nc;
                double want = (ke_get(&d->inputs[0], i) - ke_get(&d->inputs[2], c)) * ke_get(&d->inputs[1], c);
                cr_expect(fabs(ke_get(&d->output, i) - want) <= 1e-6 * (1 + fabs(want)),
                          "dequantize %s element %lld: %g, want %g", bnn_dtype_name(qtypes[t]),
                          (long long)i, ke_get(&d->output, i), want);
            }
            ke_destroy(d);
            ke_destroy(q);
        }
}

Test(quant, rounds_half_to_even_and_defaults_to_u8_zero)
{
    bnn_shape xs = KE_SHAPE(8), ins[2] = {xs, KE_SCALAR};
    bnn_dtype dts[2] = {BNN_F32, BNN_F32};
    ke_case *q = ke_create(BNN_OP_QUANTIZE_LINEAR, 2, dts, ins, BNN_U8, &xs);
    const float x[8] = {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, 254.5f, 300.0f, NAN};
    const double want[8] = {0, 2, 2, 4, 0, 254, 255, 0};
    memcpy(q->inputs[0].data, x, sizeof x);
    ke_put(&q->inputs[1], 0, 1);
    cr_assert_eq(ke_forward(q), BNN_OK, "%s", q->diag.message);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(ke_get(&q->output, i), want[i], "x %g", (double)x[i]);
    ke_destroy(q);
}

Test(quant, dequantize_i32_without_zero_point)
{
    bnn_shape xs = KE_SHAPE(3), ins[2] = {xs, KE_SCALAR};
    bnn_dtype dts[2] = {BNN_I32, BNN_F32};
    ke_case *d = ke_create(BNN_OP_DEQUANTIZE_LINEAR, 2, dts, ins, BNN_F32, &xs);
    ke_put(&d->inputs[0], 0, -100000);
    ke_put(&d->inputs[0], 1, 0);
    ke_put(&d->inputs[0], 2, 7);
    ke_put(&d->inputs[1], 0, 0.5);
    cr_assert_eq(ke_forward(d), BNN_OK, "%s", d->diag.message);
    cr_expect_eq(ke_get(&d->output, 0), -50000);
    cr_expect_eq(ke_get(&d->output, 1), 0);
    cr_expect_eq(ke_get(&d->output, 2), 3.5);
    ke_destroy(d);
}

static ke_case *dynamic_case(int64_t n)
{
    bnn_shape xs = ke_shape(1, &n), outs[3] = {xs, KE_SCALAR, KE_SCALAR};
    bnn_dtype in_dt[1] = {BNN_F32}, out_dt[3] = {BNN_U8, BNN_F32, BNN_U8};
    return ke_create_outputs(BNN_OP_DYNAMIC_QUANTIZE_LINEAR, 1, in_dt, &xs, 3, out_dt, outs);
}

Test(quant, dynamic_quantize_linear_matches_reference)
{
    for (int iter = 0; iter < 30; iter++) {
        int64_t n = 1 + iter * 7;
        ke_case *c = dynamic_case(n);
        /* all positive, all negative, and both signs */
        double lo = iter % 3 == 0 ? 0.5 : -4, hi = iter % 3 == 1 ? -0.5 : 3;
        ke_fill(&c->inputs[0], (uint64_t)iter, lo, hi);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        double mn = 0, mx = 0;
        for (int64_t i = 0; i < n; i++) {
            mn = fmin(mn, ke_get(&c->inputs[0], i));
            mx = fmax(mx, ke_get(&c->inputs[0], i));
        }
        float scale = (float)((mx - mn) / 255);
        double zero = clampd(ref_round((double)(float)(-mn / scale)), 0, 255);
        cr_expect_eq(ke_get(&c->extra_outputs[0], 0), scale);
        cr_expect_eq(ke_get(&c->extra_outputs[1], 0), zero);
        for (int64_t i = 0; i < n; i++) {
            double want = clampd(ref_round((double)((float)ke_get(&c->inputs[0], i) / scale)) + zero, 0, 255);
            cr_expect_eq(ke_get(&c->output, i), want, "iter %d element %lld", iter, (long long)i);
        }
        ke_destroy(c);
    }
    /* all zeros: no range, everything 0 */
    ke_case *c = dynamic_case(4);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(ke_get(&c->extra_outputs[0], 0), 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ke_get(&c->output, i), 0);
    ke_destroy(c);
}

Test(quant, mismatched_scale_fails_naming_the_node)
{
    bnn_shape xs = KE_SHAPE(2, 3), ss = KE_SHAPE(4), ins[2] = {xs, ss};
    bnn_dtype dts[2] = {BNN_F32, BNN_F32};
    ke_case *q = ke_create(BNN_OP_QUANTIZE_LINEAR, 2, dts, ins, BNN_U8, &xs);
    cr_assert_neq(ke_forward(q), BNN_OK);
    cr_expect(strstr(q->diag.message, "n0") && strstr(q->diag.message, "axis"), "%s", q->diag.message);
    ke_destroy(q);
}

/* a [2,1,3,4] times b [3,4,2] (batch dims broadcast to [2,3]), a's zero
 * point per row, b's per column, against an int64 reference; then the same
 * product requantized by qlinear_matmul. */
Test(quant, integer_matmuls_match_reference)
{
    bnn_shape as = KE_SHAPE(2, 1, 3, 4), bs = KE_SHAPE(3, 4, 2), ys = KE_SHAPE(2, 3, 3, 2);
    bnn_shape zas = KE_SHAPE(3), zbs = KE_SHAPE(2);
    bnn_shape ins[4] = {as, bs, zas, zbs};
    bnn_dtype dts[4] = {BNN_U8, BNN_I8, BNN_U8, BNN_I8};
    ke_case *c = ke_create(BNN_OP_MATMUL_INTEGER, 4, dts, ins, BNN_I32, &ys);
    ke_fill(&c->inputs[0], 1, 0, 255);
    ke_fill(&c->inputs[1], 2, -128, 127);
    ke_fill(&c->inputs[2], 3, 0, 255);
    ke_fill(&c->inputs[3], 4, -128, 127);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    for (int64_t i0 = 0; i0 < 2; i0++)
        for (int64_t i1 = 0; i1 < 3; i1++)
            for (int64_t m = 0; m < 3; m++)
                for (int64_t n = 0; n < 2; n++) {
                    int64_t s = 0;
                    for (int64_t k = 0; k < 4; k++)
                        s += ((int64_t)ke_get(&c->inputs[0], ((i0 * 3) + m) * 4 + k) -
                              (int64_t)ke_get(&c->inputs[2], m)) *
                             ((int64_t)ke_get(&c->inputs[1], (i1 * 4 + k) * 2 + n) -
                              (int64_t)ke_get(&c->inputs[3], n));
                    int64_t at = ((i0 * 3 + i1) * 3 + m) * 2 + n;
                    cr_expect_eq(ke_get(&c->output, at), (double)s, "element %lld", (long long)at);
                }
    bnn_shape one = KE_SCALAR;
    bnn_shape qins[8] = {as, one, one, bs, one, one, one, one};
    bnn_dtype qdts[8] = {BNN_U8, BNN_F32, BNN_U8, BNN_I8, BNN_F32, BNN_I8, BNN_F32, BNN_I8};
    ke_case *q = ke_create(BNN_OP_QLINEAR_MATMUL, 8, qdts, qins, BNN_I8, &ys);
    memcpy(q->inputs[0].data, c->inputs[0].data, 24);
    memcpy(q->inputs[3].data, c->inputs[1].data, 24);
    ke_put(&q->inputs[1], 0, 0.02);
    ke_put(&q->inputs[2], 0, 100);
    ke_put(&q->inputs[4], 0, 0.05);
    ke_put(&q->inputs[5], 0, -3);
    ke_put(&q->inputs[6], 0, 0.5);
    ke_put(&q->inputs[7], 0, 4);
    cr_assert_eq(ke_forward(q), BNN_OK, "%s", q->diag.message);
    float mult = 0.02f * 0.05f / 0.5f;
    for (int64_t at = 0; at < 36; at++) {
        int64_t i0 = at / 18, m = at / 2 % 3, n = at % 2, i1 = at / 6 % 3;
        int64_t s = 0;
        for (int64_t k = 0; k < 4; k++)
            s += ((int64_t)ke_get(&q->inputs[0], (i0 * 3 + m) * 4 + k) - 100) *
                 ((int64_t)ke_get(&q->inputs[3], (i1 * 4 + k) * 2 + n) + 3);
        double y = clampd(ref_round((double)((float)s * mult)) + 4, -128, 127);
        cr_expect_eq(ke_get(&q->output, at), y, "qlinear element %lld", (long long)at);
    }
    ke_destroy(q);
    ke_destroy(c);
}

/* conv(x - zx, w - zw)[n, m, i, j] with pads as zeros of the centred input,
 * in int64: the reference for conv_integer and qlinear_conv.  x [N, C, H, W],
 * w [M, C/g, KH, KW]; per-channel zero points when zw has M elements. */
static int64_t ref_conv_at(const ke_case *c, int xk, int zxk, int wk, int zwk, const int64_t *xd,
                           const int64_t *wd, int64_t group, const int64_t *st, const int64_t *pd,
                           const int64_t *dl, int64_t n, int64_t m, int64_t i, int64_t j)
{
    int64_t cg = wd[1], c0 = m / (wd[0] / group) * cg, s = 0;
    double zx = zxk >= 0 ? ke_get(&c->inputs[zxk], 0) : 0;
    int64_t nzw = zwk >= 0 ? bnn_tensor_numel(&c->inputs[zwk]) : 0;
    double zw = zwk >= 0 ? ke_get(&c->inputs[zwk], nzw == 1 ? 0 : m) : 0;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t a = 0; a < wd[2]; a++)
            for (int64_t b = 0; b < wd[3]; b++) {
                int64_t ih = i * st[0] - pd[0] + a * dl[0], iw = j * st[1] - pd[1] + b * dl[1];
                if (ih < 0 || ih >= xd[2] || iw < 0 || iw >= xd[3])
                    continue;
                double xv = ke_get(&c->inputs[xk], ((n * xd[1] + c0 + ci) * xd[2] + ih) * xd[3] + iw);
                double wv = ke_get(&c->inputs[wk], ((m * cg + ci) * wd[2] + a) * wd[3] + b);
                s += (int64_t)(xv - zx) * (int64_t)(wv - zw);
            }
    return s;
}

/* conv_integer with groups, strides, dilations and uneven pads, a per-channel
 * weight zero point, u8 x and i8 w; then qlinear_conv on the same operands
 * with per-channel weight scales and an i32 bias, against the int64
 * reference requantized in double. */
Test(quant, integer_convolutions_match_reference)
{
    const int64_t xd[4] = {2, 4, 7, 6}, wd[4] = {6, 2, 3, 2}, yd[4] = {2, 6, 3, 4};
    const int64_t st[2] = {2, 1}, pd[4] = {1, 0, 1, 1}, dl[2] = {1, 2}, group = 2;
    bnn_shape xs = KE_SHAPE(2, 4, 7, 6), ws = KE_SHAPE(6, 2, 3, 2), ys = KE_SHAPE(2, 6, 3, 4);
    bnn_shape one = KE_SCALAR, per = KE_SHAPE(6);
    bnn_shape ins[4] = {xs, ws, one, per};
    bnn_dtype dts[4] = {BNN_U8, BNN_I8, BNN_U8, BNN_I8};
    ke_case *c = ke_create(BNN_OP_CONV_INTEGER, 4, dts, ins, BNN_I32, &ys);
    ke_set_ints(c, "strides", st, 2);
    ke_set_ints(c, "pads", pd, 4);
    ke_set_ints(c, "dilations", dl, 2);
    ke_set_int(c, "group", group);
    ke_fill(&c->inputs[0], 11, 0, 255);
    ke_fill(&c->inputs[1], 12, -128, 127);
    ke_put(&c->inputs[2], 0, 130);
    ke_fill(&c->inputs[3], 13, -5, 5);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t at = 0;
    for (int64_t n = 0; n < yd[0]; n++)
        for (int64_t m = 0; m < yd[1]; m++)
            for (int64_t i = 0; i < yd[2]; i++)
                for (int64_t j = 0; j < yd[3]; j++, at++)
                    cr_expect_eq(ke_get(&c->output, at),
                                 (double)ref_conv_at(c, 0, 2, 1, 3, xd, wd, group, st, pd, dl, n, m, i, j),
                                 "conv_integer element %lld", (long long)at);

    bnn_shape qins[9] = {xs, one, one, ws, per, per, one, one, per};
    bnn_dtype qdts[9] = {BNN_U8, BNN_F32, BNN_U8, BNN_I8, BNN_F32, BNN_I8, BNN_F32, BNN_U8, BNN_I32};
    ke_case *q = ke_create(BNN_OP_QLINEAR_CONV, 9, qdts, qins, BNN_U8, &ys);
    ke_set_ints(q, "strides", st, 2);
    ke_set_ints(q, "pads", pd, 4);
    ke_set_ints(q, "dilations", dl, 2);
    ke_set_int(q, "group", group);
    memcpy(q->inputs[0].data, c->inputs[0].data, (size_t)bnn_tensor_numel(&c->inputs[0]));
    memcpy(q->inputs[3].data, c->inputs[1].data, (size_t)bnn_tensor_numel(&c->inputs[1]));
    memcpy(q->inputs[5].data, c->inputs[3].data, 6);
    ke_put(&q->inputs[1], 0, 0.02);
    ke_put(&q->inputs[2], 0, 130);
    ke_fill(&q->inputs[4], 14, 0.001, 0.01);
    ke_put(&q->inputs[6], 0, 0.07);
    ke_put(&q->inputs[7], 0, 120);
    ke_fill(&q->inputs[8], 15, -3000, 3000);
    cr_assert_eq(ke_forward(q), BNN_OK, "%s", q->diag.message);
    at = 0;
    for (int64_t n = 0; n < yd[0]; n++)
        for (int64_t m = 0; m < yd[1]; m++)
            for (int64_t i = 0; i < yd[2]; i++)
                for (int64_t j = 0; j < yd[3]; j++, at++) {
                    int64_t s = ref_conv_at(q, 0, 2, 3, 5, xd, wd, group, st, pd, dl, n, m, i, j) +
                                (int64_t)ke_get(&q->inputs[8], m);
                    float mult = 0.02f * (float)ke_get(&q->inputs[4], m) / 0.07f;
                    double y = clampd(ref_round((double)s * (double)mult) + 120, 0, 255);
                    cr_expect_eq(ke_get(&q->output, at), y, "qlinear_conv element %lld", (long long)at);
                }
    ke_destroy(q);
    ke_destroy(c);
}
