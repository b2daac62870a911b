/* conv_transpose (1-D and 2-D) against a plain scatter loop, forward and
 * backward (central differences), on random geometries with every
 * attribute: strides, asymmetric and negative begin pads, dilations,
 * output_padding, groups, bias or none, batch 1 and > 1; plus the batched
 * (several images per GEMM) and one-image paths, partial gradients and
 * rejected geometries. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

typedef struct ct_cfg {
    int sd; /* spatial dims, 1 or 2 */
    int64_t n, c, m, group;
    int64_t in[2], k[2], s[2], pb[2], pe[2], d[2], op[2];
    int bias;
} ct_cfg;

static int64_t ct_out(const ct_cfg *f, int i)
{
    return f->s[i] * (f->in[i] - 1) + f->d[i] * (f->k[i] - 1) + 1 + f->op[i] - f->pb[i] - f->pe[i];
}

/* The definition: every input element, times every kernel tap, lands at
 * o = i * stride + k * dilation - pad_begin when 0 <= o < out. */
static void ref_conv_transpose(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *node = bnn_graph_node(c->graph, c->node_id);
    const bnn_shape *xs = &c->inputs[0].shape, *ws = &c->inputs[1].shape, *ys = &c->output.shape;
    int sd = xs->rank - 2;
    int64_t s[2] = {1, 1}, pb[2] = {0, 0}, d[2] = {1, 1}, ih = 1, kh = 1, oh = 1;
    const int64_t *v;
    for (int i = 0, n = bnn_node_ints(node, "strides", &v); i < n; i++)
        s[i + 2 - sd] = v[i];
    for (int i = 0, n = bnn_node_ints(node, "dilations", &v); i < n; i++)
        d[i + 2 - sd] = v[i];
    if (bnn_node_ints(node, "pads", &v))
        for (int i = 0; i < sd; i++)
            pb[i + 2 - sd] = v[i];
    if (sd == 2) {
        ih = xs->dims[2];
        kh = ws->dims[2];
        oh = ys->dims[2];
    }
    int64_t iw = xs->dims[sd + 1], kw = ws->dims[sd + 1], ow = ys->dims[sd + 1];
    int64_t group = bnn_node_int(node, "group", 1);
    int64_t nb = xs->dims[0], ch = xs->dims[1], mg = ws->dims[1], mo = mg * group, cg = ch / group;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t m = 0; m < mo; m++)
            for (int64_t p = 0; p < oh * ow; p++)
                out[(n * mo + m) * oh * ow + p] = in[2] ? in[2][m] : 0;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t ci = 0; ci < ch; ci++)
            for (int64_t y = 0; y < ih; y++)
                for (int64_t x = 0; x < iw; x++) {
                    double xv = in[0][((n * ch + ci) * ih + y) * iw + x];
                    int64_t gr = ci / cg;
                    for (int64_t mi = 0; mi < mg; mi++)
                        for (int64_t a = 0; a < kh; a++)
                            for (int64_t b = 0; b < kw; b++) {
                                int64_t oy = y * s[0] + a * d[0] - pb[0];
                                int64_t ox = x * s[1] + b * d[1] - pb[1];
                                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                    continue;
                                int64_t m = gr * mg + mi;
                                out[((n * mo + m) * oh + oy) * ow + ox] +=
                                    xv * in[1][((ci * mg + mi) * kh + a) * kw + b];
                            }
                }
}

static kn_case *make_case(const ct_cfg *f, uint64_t seed)
{
    int64_t out[2];
    for (int i = 0; i < f->sd; i++)
        out[i] = ct_out(f, i);
    bnn_shape x, w, y;
    if (f->sd == 1) {
        x = KN_SHAPE(f->n, f->c, f->in[0]);
        w = KN_SHAPE(f->c, f->m / f->group, f->k[0]);
        y = KN_SHAPE(f->n, f->m, out[0]);
    } else {
        x = KN_SHAPE(f->n, f->c, f->in[0], f->in[1]);
        w = KN_SHAPE(f->c, f->m / f->group, f->k[0], f->k[1]);
        y = KN_SHAPE(f->n, f->m, out[0], out[1]);
    }
    bnn_shape in[3] = {x, w, f->bias ? KN_SHAPE(f->m) : kn_absent()};
    kn_case *c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 3, in, &y, seed);
    int64_t s[2], p[4], d[2], op[2];
    int any_s = 0, any_p = 0, any_d = 0, any_op = 0;
    for (int i = 0; i < f->sd; i++) {
        s[i] = f->s[i];
        p[i] = f->pb[i];
        p[f->sd + i] = f->pe[i];
        d[i] = f->d[i];
        op[i] = f->op[i];
        any_s |= s[i] != 1;
        any_p |= p[i] || p[f->sd + i];
        any_d |= d[i] != 1;
        any_op |= op[i] != 0;
    }
    /* leave defaults absent sometimes, so the kernel's defaults are exercised */
    if (any_s || seed % 2)
        kn_set_ints(c, "strides", s, f->sd);
    if (any_p || seed % 3 == 0)
        kn_set_ints(c, "pads", p, 2 * f->sd);
    if (any_d || seed % 2)
        kn_set_ints(c, "dilations", d, f->sd);
    if (any_op || seed % 4 == 0)
        kn_set_ints(c, "output_padding", op, f->sd);
    if (f->group != 1 || seed % 2)
        kn_set_int(c, "group", f->group);
    return c;
}

/* Returns 0 (and runs nothing) when the output would be empty. */
static int run(const ct_cfg *f, uint64_t seed, int check_backward, double tol)
{
    for (int i = 0; i < f->sd; i++)
        if (ct_out(f, i) < 1)
            return 0;
    kn_case *c = make_case(f, seed);
    if (check_backward)
        kn_check_backward(c, ref_conv_transpose, tol, 0);
    else
        kn_check_forward(c, ref_conv_transpose, tol);
    kn_destroy(c);
    return 1;
}

static void random_cfg(uint64_t *r, ct_cfg *f, int small)
{
    memset(f, 0, sizeof *f);
    f->sd = (int)kn_rand_int(r, 1, 2);
    f->n = kn_rand_int(r, 1, small ? 2 : 3);
    f->group = kn_rand_int(r, 0, 1) ? 1 : kn_rand_int(r, 2, 3);
    f->c = kn_rand_int(r, 1, small ? 3 : 5) * f->group;
    f->m = kn_rand_int(r, 1, small ? 3 : 5) * f->group;
    for (int i = 0; i < f->sd; i++) {
        f->in[i] = kn_rand_int(r, 1, small ? 5 : 9);
        f->k[i] = kn_rand_int(r, 1, small ? 3 : 5);
        f->s[i] = kn_rand_int(r, 1, 3);
        f->d[i] = kn_rand_int(r, 1, 2);
        f->op[i] = kn_rand_int(r, 0, f->s[i] > f->d[i] ? f->s[i] - 1 : f->d[i] - 1);
        /* a negative begin pad now and then: output_shape asks for more */
        f->pb[i] = kn_rand_int(r, 0, 5) == 0 ? -kn_rand_int(r, 1, 2) : kn_rand_int(r, 0, 2);
        f->pe[i] = kn_rand_int(r, 0, 2);
    }
    f->bias = (int)kn_rand_int(r, 0, 1);
}

Test(conv_transpose, random_forward)
{
    uint64_t r = 21;
    int ran = 0;
    for (int t = 0; t < 200; t++) {
        ct_cfg f;
        random_cfg(&r, &f, 0);
        ran += run(&f, 3000 + t, 0, 1e-4);
    }
    cr_assert(ran > 150, "only %d of 200 geometries were non-empty", ran);
}

Test(conv_transpose, random_gradients, .timeout = 120)
{
    uint64_t r = 22;
    int ran = 0;
    for (int t = 0; t < 60; t++) {
        ct_cfg f;
        random_cfg(&r, &f, 1);
        ran += run(&f, 4000 + t, 1, 1e-3);
    }
    cr_assert(ran > 40, "only %d of 60 geometries were non-empty", ran);
}

/* Decoder-like layers: small images batched into one GEMM (with a short
 * last chunk), images of >= CONV_COLUMNS pixels one per GEMM, grouped with
 * output_padding, a long 1-D signal. */
static const ct_cfg upsample = {.sd = 2, .n = 5, .c = 8, .m = 4, .group = 1, .in = {7, 7},
                                .k = {4, 4}, .s = {2, 2}, .pb = {1, 1}, .pe = {1, 1},
                                .d = {1, 1}, .bias = 1};
static const ct_cfg large_image = {.sd = 2, .n = 2, .c = 3, .m = 2, .group = 1, .in = {32, 33},
                                   .k = {3, 3}, .s = {2, 1}, .pb = {1, 0}, .pe = {0, 1},
                                   .d = {1, 2}, .op = {1, 0}, .bias = 1};
static const ct_cfg grouped = {.sd = 2, .n = 3, .c = 6, .m = 4, .group = 2, .in = {5, 6},
                               .k = {3, 2}, .s = {3, 2}, .pb = {1, 0}, .pe = {1, 1},
                               .d = {1, 1}, .op = {2, 1}, .bias = 1};
static const ct_cfg conv1d_long = {.sd = 1, .n = 2, .c = 2, .m = 3, .group = 1, .in = {1500},
                                   .k = {3}, .s = {2}, .pb = {1}, .pe = {0}, .d = {1},
                                   .op = {1}};
static const ct_cfg negative_pad = {.sd = 2, .n = 2, .c = 2, .m = 2, .group = 1, .in = {3, 4},
                                    .k = {3, 3}, .s = {2, 2}, .pb = {-2, -1}, .pe = {0, 1},
                                    .d = {1, 1}, .bias = 1};

Test(conv_transpose, special_paths_forward)
{
    cr_assert(run(&upsample, 1, 0, 1e-4));
    cr_assert(run(&large_image, 2, 0, 1e-4));
    cr_assert(run(&grouped, 3, 0, 1e-4));
    cr_assert(run(&conv1d_long, 4, 0, 1e-4));
    cr_assert(run(&negative_pad, 5, 0, 1e-4));
}

Test(conv_transpose, special_paths_gradients, .timeout = 120)
{
    cr_assert(run(&upsample, 1, 1, 1e-3));
    cr_assert(run(&grouped, 3, 1, 1e-3));
    cr_assert(run(&conv1d_long, 4, 1, 1e-3));
    cr_assert(run(&negative_pad, 5, 1, 1e-3));
}

/* Backward skips inputs whose gradient has data NULL, and the others do not
 * depend on which were asked for. */
Test(conv_transpose, partial_gradients)
{
    const ct_cfg *cfgs[] = {&upsample, &grouped, &conv1d_long, &negative_pad};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (unsigned mask = 1; mask < 7; mask++) {
            ct_cfg f = *cfgs[k];
            f.bias = 1;
            kn_case *c = make_case(&f, k);
            kn_check_partial_backward(c, mask);
            kn_destroy(c);
        }
}

/* The ONNX test case test_convtranspose_pads, by hand: ones as the weight,
 * so each output is the sum of the inputs that reach it. */
Test(conv_transpose, onnx_pads_example)
{
    bnn_shape in[2] = {KN_SHAPE(1, 1, 3, 3), KN_SHAPE(1, 2, 3, 3)}, y = KN_SHAPE(1, 2, 7, 3);
    kn_case *c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, in, &y, 1);
    KN_SET_INTS(c, "strides", 3, 2);
    KN_SET_INTS(c, "pads", 1, 2, 1, 2);
    float *x = c->inputs[0].data, *w = c->inputs[1].data;
    for (int i = 0; i < 9; i++)
        x[i] = (float)i;
    for (int i = 0; i < 18; i++)
        w[i] = 1;
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    static const float want[21] = {1, 1, 3, 1, 1, 3, 7, 4, 9, 7, 4, 9, 7, 4, 9, 13, 7, 15, 13, 7, 15};
    const float *ys = c->output.data;
    for (int ch = 0; ch < 2; ch++)
        for (int i = 0; i < 21; i++)
            cr_assert_eq(ys[ch * 21 + i], want[i], "channel %d, output %d is %g", ch, i,
                         (double)ys[ch * 21 + i]);
    kn_destroy(c);
}

static void expect_shape_error(kn_case *c, const char *what)
{
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE, "%s", what);
    cr_assert(strstr(diag.message, "'n0'"), "%s: %s", what, diag.message);
    kn_destroy(c);
}

Test(conv_transpose, rejects_bad_geometry)
{
    bnn_shape in[2] = {KN_SHAPE(1, 2, 3, 3), KN_SHAPE(2, 3, 3, 3)};
    bnn_shape y = KN_SHAPE(1, 3, 6, 6); /* 5x5 follows */
    expect_shape_error(kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, in, &y, 1), "output size");
    y = KN_SHAPE(1, 3, 5, 5);
    kn_case *c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, in, &y, 1);
    kn_set_int(c, "group", 3); /* 2 channels */
    expect_shape_error(c, "group");
    c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, in, &y, 1);
    KN_SET_INTS(c, "strides", 0, 1);
    expect_shape_error(c, "stride 0");
    c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, in, &y, 1);
    KN_SET_INTS(c, "output_padding", 1);
    expect_shape_error(c, "output_padding count");
    bnn_shape wrong_w[2] = {KN_SHAPE(1, 2, 3, 3), KN_SHAPE(3, 3, 3, 3)};
    expect_shape_error(kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, wrong_w, &y, 1), "weight");
    bnn_shape bias[3] = {KN_SHAPE(1, 2, 3, 3), KN_SHAPE(2, 3, 3, 3), KN_SHAPE(2)};
    expect_shape_error(kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 3, bias, &y, 1), "bias");
    bnn_shape r5[2] = {KN_SHAPE(1, 2, 3, 3, 3), KN_SHAPE(2, 3, 3, 3, 3)};
    bnn_shape y5 = KN_SHAPE(1, 3, 5, 5, 5);
    expect_shape_error(kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F32, 2, r5, &y5, 1), "rank 5");
}

Test(conv_transpose, rejects_f64)
{
    bnn_shape in[2] = {KN_SHAPE(1, 2, 3), KN_SHAPE(2, 3, 3)}, y = KN_SHAPE(1, 3, 5);
    kn_case *c = kn_create(BNN_OP_CONV_TRANSPOSE, BNN_F64, 2, in, &y, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert(strstr(diag.message, "f32"), "%s", diag.message);
    kn_destroy(c);
}
