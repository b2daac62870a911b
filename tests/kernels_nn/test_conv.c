/* conv (conv1d and conv2d) against the reference, forward and backward, on
 * random geometries: odd sizes, asymmetric pads, strides, dilations, groups,
 * depthwise (with and without a channel multiplier), 1x1, batch 1 and > 1. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "reference.h"

typedef struct conv_cfg {
    int sd; /* spatial dims, 1 or 2 */
    int64_t n, c, m, group;
    int64_t in[2], k[2], s[2], pb[2], pe[2], d[2];
    int bias;
} conv_cfg;

/* Returns 0 (and runs nothing) when the output would be empty. */
static int run_conv(const conv_cfg *f, uint64_t seed, int check_backward, double tol)
{
    int64_t out[2];
    for (int i = 0; i < f->sd; i++) {
        out[i] = ref_conv_out(f->in[i], f->k[i], f->s[i], f->pb[i], f->pe[i], f->d[i]);
        if (out[i] < 1)
            return 0;
    }
    bnn_shape x, w, y;
    if (f->sd == 1) {
        x = KN_SHAPE(f->n, f->c, f->in[0]);
        w = KN_SHAPE(f->m, f->c / f->group, f->k[0]);
        y = KN_SHAPE(f->n, f->m, out[0]);
    } else {
        x = KN_SHAPE(f->n, f->c, f->in[0], f->in[1]);
        w = KN_SHAPE(f->m, f->c / f->group, f->k[0], f->k[1]);
        y = KN_SHAPE(f->n, f->m, out[0], out[1]);
    }
    bnn_shape in[3] = {x, w, f->bias ? KN_SHAPE(f->m) : kn_absent()};
    kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 3, in, &y, seed);
    int64_t s[2], p[4], d[2];
    int any_s = 0, any_p = 0, any_d = 0;
    for (int i = 0; i < f->sd; i++) {
        s[i] = f->s[i];
        p[i] = f->pb[i];
        p[f->sd + i] = f->pe[i];
        d[i] = f->d[i];
        any_s |= s[i] != 1;
        any_p |= p[i] || p[f->sd + i];
        any_d |= d[i] != 1;
    }
    /* leave defaults absent sometimes, so the kernel's defaults are exercised */
    if (any_s || seed % 2)
        kn_set_ints(c, "strides", s, f->sd);
    if (any_p || seed % 3 == 0)
        kn_set_ints(c, "pads", p, 2 * f->sd);
    if (any_d || seed % 2)
        kn_set_ints(c, "dilations", d, f->sd);
    if (f->group != 1 || seed % 2)
        kn_set_int(c, "group", f->group);
    if (check_backward) {
        c->training = true; /* the forward a training step runs */
        kn_check_backward(c, ref_conv, tol, 0);
    } else {
        /* an inference session's forward paths (conv_fast.c on AVX-512), then
         * a training step's */
        kn_check_forward(c, ref_conv, tol);
        c->training = true;
        kn_check_forward(c, ref_conv, tol);
    }
    kn_destroy(c);
    return 1;
}

static void random_cfg(uint64_t *r, conv_cfg *f, int small)
{
    memset(f, 0, sizeof *f);
    f->sd = (int)kn_rand_int(r, 1, 2);
    f->n = kn_rand_int(r, 1, small ? 2 : 3);
    int kind = (int)kn_rand_int(r, 0, 3); /* plain, grouped, depthwise, depthwise x2 */
    int64_t cg = kn_rand_int(r, 1, small ? 3 : 5), mg = kn_rand_int(r, 1, small ? 3 : 6);
    f->group = kind == 0 ? 1 : kind == 1 ? kn_rand_int(r, 2, 3) : kn_rand_int(r, 1, small ? 3 : 6);
    if (kind >= 2) {
        cg = 1;
        mg = kind == 2 ? 1 : 2;
    }
    f->c = cg * f->group;
    f->m = mg * f->group;
    for (int i = 0; i < f->sd; i++) {
        f->in[i] = kn_rand_int(r, 1, small ? 7 : 13);
        f->k[i] = kn_rand_int(r, 1, small ? 3 : 5);
        f->s[i] = kn_rand_int(r, 1, 3);
        f->pb[i] = kn_rand_int(r, 0, 2);
        f->pe[i] = kn_rand_int(r, 0, 2);
        f->d[i] = kn_rand_int(r, 1, 2);
    }
    f->bias = (int)kn_rand_int(r, 0, 1);
}

Test(conv, random_forward)
{
    uint64_t r = 11;
    int ran = 0;
    for (int t = 0; t < 200; t++) {
        conv_cfg f;
        random_cfg(&r, &f, 0);
        ran += run_conv(&f, 1000 + t, 0, 1e-4);
    }
    cr_assert(ran > 120, "only %d of 200 geometries were non-empty", ran);
}

Test(conv, random_gradients)
{
    uint64_t r = 12;
    int ran = 0;
    for (int t = 0; t < 60; t++) {
        conv_cfg f;
        random_cfg(&r, &f, 1);
        ran += run_conv(&f, 2000 + t, 1, 1e-3);
    }
    cr_assert(ran > 30, "only %d of 60 geometries were non-empty", ran);
}

static const conv_cfg pointwise = {.sd = 2, .n = 3, .c = 5, .m = 7, .group = 1,
                                   .in = {6, 9}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}, .bias = 1};
static const conv_cfg pointwise_grouped = {.sd = 2, .n = 2, .c = 6, .m = 4, .group = 2,
                                           .in = {5, 3}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}};
static const conv_cfg depthwise = {.sd = 2, .n = 2, .c = 4, .m = 4, .group = 4, .in = {9, 8},
                                   .k = {3, 3}, .s = {2, 2}, .pb = {1, 1}, .pe = {1, 0},
                                   .d = {1, 1}, .bias = 1};
static const conv_cfg depthwise_dilated = {.sd = 2, .n = 1, .c = 3, .m = 3, .group = 3,
                                           .in = {7, 10}, .k = {3, 2}, .s = {1, 3}, .pb = {2, 0},
                                           .pe = {0, 1}, .d = {2, 2}};
static const conv_cfg conv1d = {.sd = 1, .n = 2, .c = 3, .m = 4, .group = 1, .in = {17},
                                .k = {4}, .s = {2}, .pb = {1}, .pe = {2}, .d = {2}, .bias = 1};
static const conv_cfg big = {.sd = 2, .n = 2, .c = 16, .m = 32, .group = 1, .in = {28, 28},
                             .k = {3, 3}, .s = {1, 1}, .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1},
                             .bias = 1};

/* 1x1 on images of >= CONV_COLUMNS pixels: no im2col, GEMM straight on x */
static const conv_cfg pointwise_large = {.sd = 2, .n = 2, .c = 3, .m = 2, .group = 1,
                                         .in = {32, 33}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1},
                                         .bias = 1};
/* one image per GEMM through im2col */
static const conv_cfg one_image_chunks = {.sd = 2, .n = 2, .c = 2, .m = 2, .group = 2,
                                          .in = {32, 33}, .k = {3, 3}, .s = {1, 1},
                                          .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1};
/* chunks of 2 images, the last one short */
static const conv_cfg short_last_chunk = {.sd = 2, .n = 3, .c = 2, .m = 3, .group = 1,
                                          .in = {20, 21}, .k = {2, 2}, .s = {1, 1},
                                          .pb = {1, 0}, .pe = {0, 0}, .d = {1, 1}, .bias = 1};
static const conv_cfg conv1d_long = {.sd = 1, .n = 2, .c = 1, .m = 2, .group = 1, .in = {1500},
                                     .k = {3}, .s = {1}, .pb = {1}, .pe = {1}, .d = {1}};

/* depthwise on rows of >= 24 outputs: the row-at-a-time path (stride
 * phases split, taps hoisted), with stride 1, 2 and 3, uneven padding,
 * dilation and a 5-wide kernel */
static const conv_cfg depthwise_rows[] = {
    {.sd = 2, .n = 2, .c = 3, .m = 3, .group = 3, .in = {30, 40}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {31, 57}, .k = {3, 3}, .s = {2, 2},
     .pb = {1, 1}, .pe = {0, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {20, 90}, .k = {5, 5}, .s = {1, 3},
     .pb = {2, 2}, .pe = {2, 1}, .d = {1, 2}},
    {.sd = 1, .n = 2, .c = 4, .m = 4, .group = 4, .in = {70}, .k = {4}, .s = {2}, .pb = {3},
     .pe = {0}, .d = {1}, .bias = 1},
};

Test(conv, depthwise_rows_forward)
{
    for (size_t i = 0; i < sizeof depthwise_rows / sizeof depthwise_rows[0]; i++)
        cr_assert(run_conv(&depthwise_rows[i], 40 + (int)i, 0, 1e-4), "case %zu", i);
}

Test(conv, special_paths_forward)
{
    cr_assert(run_conv(&pointwise_large, 7, 0, 1e-4));
    cr_assert(run_conv(&one_image_chunks, 8, 0, 1e-4));
    cr_assert(run_conv(&short_last_chunk, 9, 0, 1e-4));
    cr_assert(run_conv(&conv1d_long, 10, 0, 1e-4));
    cr_assert(run_conv(&pointwise, 1, 0, 1e-4));
    cr_assert(run_conv(&pointwise_grouped, 2, 0, 1e-4));
    cr_assert(run_conv(&depthwise, 3, 0, 1e-4));
    cr_assert(run_conv(&depthwise_dilated, 4, 0, 1e-4));
    cr_assert(run_conv(&conv1d, 5, 0, 1e-4));
    cr_assert(run_conv(&big, 6, 0, 1e-4));
}

Test(conv, special_paths_gradients, .timeout = 120)
{
    cr_assert(run_conv(&pointwise_large, 7, 1, 1e-3));
    cr_assert(run_conv(&one_image_chunks, 8, 1, 1e-3));
    cr_assert(run_conv(&short_last_chunk, 9, 1, 1e-3));
    cr_assert(run_conv(&conv1d_long, 10, 1, 1e-3));
    cr_assert(run_conv(&pointwise, 1, 1, 1e-3));
    cr_assert(run_conv(&pointwise_grouped, 2, 1, 1e-3));
    cr_assert(run_conv(&depthwise, 3, 1, 1e-3));
    cr_assert(run_conv(&depthwise_dilated, 4, 1, 1e-3));
    cr_assert(run_conv(&conv1d, 5, 1, 1e-3));
}

Test(conv, scratch_is_one_image_group)
{
    /* 16 channels x 3x3 rows, 28x28 columns: one image, one group */
    bnn_shape in[3] = {KN_SHAPE(2, 16, 28, 28), KN_SHAPE(32, 16, 3, 3), KN_SHAPE(32)};
    bnn_shape y = KN_SHAPE(2, 32, 28, 28);
    kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 3, in, &y, 1);
    KN_SET_INTS(c, "pads", 1, 1, 1, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    extern const bnn_kernel bnn_kernel_conv;
    /* 784 columns per image: chunks of one image */
    cr_assert_eq(bnn_kernel_conv.scratch_size(&c->args), (size_t)(16 * 9 * 28 * 28) * sizeof(float));
    kn_destroy(c);
}

Test(conv, rejects_inconsistent_output_shape)
{
    bnn_shape in[2] = {KN_SHAPE(1, 2, 5, 5), KN_SHAPE(3, 2, 3, 3)}, y = KN_SHAPE(1, 3, 5, 5);
    kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 2, in, &y, 1); /* no pads: 3x3 expected */
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "'n0'"), "%s", diag.message);
    kn_destroy(c);
}

/* Backward skips inputs whose gradient has data NULL, and the others do not
 * depend on which were asked for. */
Test(conv, partial_gradients)
{
    const conv_cfg *cfgs[] = {&pointwise_large, &one_image_chunks, &short_last_chunk, &depthwise,
                              &conv1d};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (unsigned mask = 1; mask < 7; mask++) {
            const conv_cfg *f = cfgs[k];
            int64_t oh = f->sd == 2 ? ref_conv_out(f->in[0], f->k[0], f->s[0], f->pb[0], f->pe[0], f->d[0]) : 0;
            int j = f->sd - 1;
            int64_t ow = ref_conv_out(f->in[j], f->k[j], f->s[j], f->pb[j], f->pe[j], f->d[j]);
            bnn_shape x = f->sd == 2 ? KN_SHAPE(f->n, f->c, f->in[0], f->in[1]) : KN_SHAPE(f->n, f->c, f->in[0]);
            bnn_shape w = f->sd == 2 ? KN_SHAPE(f->m, f->c / f->group, f->k[0], f->k[1])
                                     : KN_SHAPE(f->m, f->c / f->group, f->k[0]);
            bnn_shape y = f->sd == 2 ? KN_SHAPE(f->n, f->m, oh, ow) : KN_SHAPE(f->n, f->m, ow);
            bnn_shape in[3] = {x, w, KN_SHAPE(f->m)};
            kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 3, in, &y, k);
            int64_t s[2], p[4], d[2];
            for (int i = 0; i < f->sd; i++) {
                s[i] = f->s[i];
                p[i] = f->pb[i];
                p[f->sd + i] = f->pe[i];
                d[i] = f->d[i];
            }
            kn_set_ints(c, "strides", s, f->sd);
            kn_set_ints(c, "pads", p, 2 * f->sd);
            kn_set_ints(c, "dilations", d, f->sd);
            kn_set_int(c, "group", f->group);
            kn_check_partial_backward(c, mask);
            kn_destroy(c);
        }
}

/* Stride-1 convolutions on small images take the wide path (a padded copy
 * of the image, one contiguous copy per im2col row, spare GEMM columns):
 * LeNet's two layers at batch 1 and 7 (threads over images), asymmetric
 * pads, dilation, groups, 1-D, and a layer whose GEMM is split in pieces. */
Test(conv, wide_path_forward)
{
    const conv_cfg cfgs[] = {
        {.sd = 2, .n = 1, .c = 1, .m = 6, .group = 1, .in = {28, 28}, .k = {5, 5}, .s = {1, 1},
         .pb = {2, 2}, .pe = {2, 2}, .d = {1, 1}, .bias = 1},
        {.sd = 2, .n = 7, .c = 1, .m = 6, .group = 1, .in = {28, 28}, .k = {5, 5}, .s = {1, 1},
         .pb = {2, 2}, .pe = {2, 2}, .d = {1, 1}, .bias = 1},
        {.sd = 2, .n = 7, .c = 6, .m = 16, .group = 1, .in = {14, 14}, .k = {5, 5}, .s = {1, 1},
         .d = {1, 1}, .bias = 1},
        {.sd = 2, .n = 3, .c = 4, .m = 6, .group = 2, .in = {9, 11}, .k = {3, 2}, .s = {1, 1},
         .pb = {0, 1}, .pe = {2, 0}, .d = {2, 1}},
        {.sd = 1, .n = 5, .c = 3, .m = 4, .group = 1, .in = {40}, .k = {3}, .s = {1},
         .pb = {1}, .pe = {0}, .d = {2}, .bias = 1},
        {.sd = 2, .n = 3, .c = 16, .m = 32, .group = 1, .in = {12, 12}, .k = {3, 3},
         .s = {1, 1}, .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        cr_assert(run_conv(&cfgs[i], 900 + i, 0, 1e-4));
}

/* The direct path (one or two input channels, up to 8 filters, output rows
 * of 8 to 32, on CPUs with AVX-512; elsewhere these take the wide GEMM):
 * row lengths around the 16-float vector (8, 16, 17, 32), every filter
 * count the unrolled loops are specialised for, dilation, asymmetric pads,
 * 1-D, no bias; and just outside it (9 filters, rows of 33). */
Test(conv, direct_path_forward)
{
    KN_CPU_PATH("avx512f", "AVX-512", "conv.direct_path_forward (the direct path)");
    conv_cfg f = {.sd = 2, .group = 1, .s = {1, 1}, .d = {1, 1}};
    const int64_t rows[] = {8, 16, 17, 32, 33};
    int ran = 0;
    for (int64_t m = 1; m <= 9; m++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            f.n = 1 + m % 3;
            f.c = 1 + (m + (int64_t)r) % 2;
            f.m = m;
            f.in[0] = 3 + m;
            f.k[0] = 1 + m % 3;
            f.k[1] = 1 + (int64_t)r % 3;
            f.d[1] = 1 + (int64_t)r % 2;
            f.pb[0] = m % 2;
            f.pe[0] = 1;
            f.pb[1] = (int64_t)r % 3;
            f.pe[1] = 0;
            /* ow = in + pads - (k - 1) * dilation */
            f.in[1] = rows[r] - f.pb[1] - f.pe[1] + (f.k[1] - 1) * f.d[1];
            f.bias = (int)(m + (int64_t)r) % 2;
            ran += run_conv(&f, 700 + (uint64_t)(m * 10 + (int64_t)r), 0, 1e-4);
        }
    cr_assert_eq(ran, 45);
    const conv_cfg one_d = {.sd = 1, .n = 3, .c = 1, .m = 5, .group = 1, .in = {30}, .k = {5},
                            .s = {1}, .pb = {2}, .pe = {1}, .d = {1}, .bias = 1};
    cr_assert(run_conv(&one_d, 790, 0, 1e-4));
}

/* The 16-filter direct path (AVX-512 CPUs; elsewhere the wide GEMM):
 * positions in blocks of 8 with a short last block (3x3 = 9, 5x7 = 35) or
 * none (2x4), several input channels, dilation, asymmetric pads, 1-D, no
 * bias; and batch 5 so that threads split the images. */
Test(conv, direct16_path_forward)
{
    KN_CPU_PATH("avx512f", "AVX-512", "conv.direct16_path_forward (the 16-filter direct path)");
    const conv_cfg cfgs[] = {
        {.sd = 2, .n = 5, .c = 6, .m = 16, .group = 1, .in = {14, 14}, .k = {5, 5}, .s = {1, 1},
         .d = {1, 1}, .bias = 1},
        {.sd = 2, .n = 2, .c = 3, .m = 16, .group = 1, .in = {5, 5}, .k = {3, 3}, .s = {1, 1},
         .d = {1, 1}},
        {.sd = 2, .n = 1, .c = 1, .m = 16, .group = 1, .in = {4, 6}, .k = {3, 3}, .s = {1, 1},
         .pb = {1, 0}, .pe = {0, 1}, .d = {1, 2}, .bias = 1},
        {.sd = 2, .n = 3, .c = 2, .m = 16, .group = 1, .in = {7, 8}, .k = {2, 3}, .s = {1, 1},
         .pb = {0, 2}, .pe = {1, 0}, .d = {2, 1}, .bias = 1},
        {.sd = 1, .n = 2, .c = 4, .m = 16, .group = 1, .in = {20}, .k = {3}, .s = {1},
         .pb = {1}, .pe = {0}, .d = {2}},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        cr_assert(run_conv(&cfgs[i], 800 + i, 0, 1e-4));
}

/* Non-finite inputs stay where they are: a NaN in one image reaches only the
 * outputs whose windows hold it, not the spare columns' neighbours. */
Test(conv, wide_path_nan_stays_local)
{
    /* two filters, so that it is not the depthwise loop */
    bnn_shape in[2] = {KN_SHAPE(2, 1, 6, 6), KN_SHAPE(2, 1, 3, 3)}, y = KN_SHAPE(2, 2, 4, 4);
    kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 2, in, &y, 1);
    float *x = c->inputs[0].data, *w = c->inputs[1].data;
    for (int i = 0; i < 72; i++)
        x[i] = 1;
    for (int i = 0; i < 18; i++)
        w[i] = 1;
    x[5] = NAN; /* image 0, row 0, last column: only output (0, 3) of each filter sees it */
    for (int training = 0; training < 2; training++) { /* inference's paths, then training's */
        c->training = training;
        bnn_diag diag = {0};
        cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
        const float *ys = c->output.data;
        for (int i = 0; i < 64; i++) {
            if (i == 3 || i == 19)
                cr_assert(isnan(ys[i]), "output %d is %g", i, (double)ys[i]);
            else
                cr_assert_eq(ys[i], 9.0f, "output %d is %g", i, (double)ys[i]);
        }
    }
    kn_destroy(c);
}

/* The wide path's backward (dY spread to the wide layout, dX gathered
 * through a padded buffer): plain, padded asymmetric, dilated and grouped,
 * 1-D; and each gradient alone. */
static const conv_cfg wide_small[] = {
    {.sd = 2, .n = 2, .c = 1, .m = 3, .group = 1, .in = {8, 8}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 2, .c = 3, .m = 4, .group = 1, .in = {7, 6}, .k = {3, 2}, .s = {1, 1},
     .pb = {2, 0}, .pe = {0, 1}, .d = {1, 2}, .bias = 1},
    {.sd = 2, .n = 2, .c = 4, .m = 6, .group = 2, .in = {6, 7}, .k = {2, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {0, 2}, .d = {2, 1}},
    {.sd = 1, .n = 3, .c = 2, .m = 3, .group = 1, .in = {12}, .k = {3}, .s = {1}, .pb = {1},
     .pe = {2}, .d = {1}, .bias = 1},
};

Test(conv, wide_path_gradients, .timeout = 120)
{
    for (size_t i = 0; i < sizeof wide_small / sizeof wide_small[0]; i++) {
        cr_assert(run_conv(&wide_small[i], 950 + i, 0, 1e-4));
        cr_assert(run_conv(&wide_small[i], 960 + i, 1, 1e-3));
    }
}

Test(conv, wide_path_partial_gradients)
{
    for (size_t k = 0; k < sizeof wide_small / sizeof wide_small[0]; k++)
        for (unsigned mask = 1; mask < 7; mask++) {
            const conv_cfg *f = &wide_small[k];
            int j = f->sd - 1;
            int64_t oh = f->sd == 2 ? ref_conv_out(f->in[0], f->k[0], 1, f->pb[0], f->pe[0], f->d[0]) : 0;
            int64_t ow = ref_conv_out(f->in[j], f->k[j], 1, f->pb[j], f->pe[j], f->d[j]);
            bnn_shape x = f->sd == 2 ? KN_SHAPE(f->n, f->c, f->in[0], f->in[1]) : KN_SHAPE(f->n, f->c, f->in[0]);
            bnn_shape w = f->sd == 2 ? KN_SHAPE(f->m, f->c / f->group, f->k[0], f->k[1])
                                     : KN_SHAPE(f->m, f->c / f->group, f->k[0]);
            bnn_shape y = f->sd == 2 ? KN_SHAPE(f->n, f->m, oh, ow) : KN_SHAPE(f->n, f->m, ow);
            bnn_shape in[3] = {x, w, KN_SHAPE(f->m)};
            kn_case *c = kn_create(BNN_OP_CONV, BNN_F32, 3, in, &y, k);
            int64_t p[4], d[2];
            for (int i = 0; i < f->sd; i++) {
                p[i] = f->pb[i];
                p[f->sd + i] = f->pe[i];
                d[i] = f->d[i];
            }
            kn_set_ints(c, "pads", p, 2 * f->sd);
            kn_set_ints(c, "dilations", d, f->sd);
            kn_set_int(c, "group", f->group);
            kn_check_partial_backward(c, mask);
            kn_destroy(c);
        }
}

/* The inference paths of conv_fast.c (run_conv checks each geometry on
 * them and on the training paths): the depthwise row kernel (column stride
 * 1 or 2, rows of 12 or more outputs: widths around a vector, dilation,
 * pads wider than the window, asymmetric, row strides 1 to 3) and its
 * phase-plane kernel (narrow rows, column stride 3); the direct kernel (windows of 32 taps or more unless alone
 * at stride 2) with every filter remainder of its blocks of
 * 6 (1, 5, 7, 13 filters), groups, stride 2 with dilation, maps whose last
 * block has 1, 2 or 3 vectors, 1x1 maps of at most 64 outputs read in
 * place (one image: a masked last vector, 7x7; 8x8) and padded, batches of
 * several images; 1-D. */
static const conv_cfg fast_cases[] = {
    /* depthwise, rows */
    {.sd = 2, .n = 2, .c = 3, .m = 3, .group = 3, .in = {5, 12}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {6, 17}, .k = {3, 3}, .s = {1, 1},
     .pb = {0, 2}, .pe = {2, 0}, .d = {2, 2}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {4, 33}, .k = {5, 5}, .s = {1, 1},
     .pb = {6, 7}, .pe = {1, 5}, .d = {1, 1}},
    {.sd = 1, .n = 2, .c = 3, .m = 3, .group = 3, .in = {70}, .k = {7}, .s = {1}, .pb = {3},
     .pe = {3}, .d = {3}, .bias = 1},
    /* depthwise, rows at column stride 2: row strides 2 and 3, dilation, 1-D */
    {.sd = 2, .n = 2, .c = 3, .m = 3, .group = 3, .in = {10, 40}, .k = {3, 3}, .s = {3, 2},
     .pb = {0, 2}, .pe = {1, 0}, .d = {2, 2}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {8, 33}, .k = {3, 3}, .s = {2, 2},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}},
    {.sd = 1, .n = 2, .c = 3, .m = 3, .group = 3, .in = {61}, .k = {5}, .s = {2}, .pb = {2},
     .pe = {1}, .d = {1}, .bias = 1},
    /* depthwise, phase planes */
    {.sd = 2, .n = 2, .c = 4, .m = 4, .group = 4, .in = {7, 7}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 3, .m = 3, .group = 3, .in = {15, 29}, .k = {5, 5}, .s = {2, 2},
     .pb = {2, 2}, .pe = {2, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 2, .m = 2, .group = 2, .in = {11, 13}, .k = {3, 2}, .s = {3, 2},
     .pb = {1, 0}, .pe = {2, 1}, .d = {2, 3}},
    /* direct */
    {.sd = 2, .n = 1, .c = 4, .m = 1, .group = 1, .in = {9, 9}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 2, .c = 4, .m = 5, .group = 1, .in = {10, 11}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}},
    {.sd = 2, .n = 1, .c = 2, .m = 7, .group = 1, .in = {13, 12}, .k = {3, 3}, .s = {2, 2},
     .pb = {1, 2}, .pe = {2, 0}, .d = {2, 1}, .bias = 1},
    {.sd = 2, .n = 3, .c = 12, .m = 10, .group = 2, .in = {9, 7}, .k = {3, 2}, .s = {1, 1},
     .pb = {1, 0}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 40, .m = 13, .group = 1, .in = {20, 20}, .k = {3, 3}, .s = {1, 1},
     .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 3, .m = 8, .group = 1, .in = {35, 35}, .k = {7, 7}, .s = {2, 2},
     .pb = {3, 3}, .pe = {3, 3}, .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 9, .m = 7, .group = 1, .in = {7, 7}, .k = {1, 1}, .s = {1, 1},
     .d = {1, 1}, .bias = 1},
    {.sd = 2, .n = 1, .c = 5, .m = 6, .group = 1, .in = {8, 8}, .k = {1, 1}, .s = {1, 1},
     .d = {1, 1}},
    {.sd = 2, .n = 1, .c = 5, .m = 6, .group = 1, .in = {5, 6}, .k = {1, 1}, .s = {1, 1},
     .pb = {1, 0}, .pe = {0, 1}, .d = {1, 1}, .bias = 1},
    {.sd = 1, .n = 2, .c = 12, .m = 4, .group = 1, .in = {50}, .k = {3}, .s = {2}, .pb = {1},
     .pe = {1}, .d = {2}, .bias = 1},
};

Test(conv, fast_paths_forward)
{
    for (size_t i = 0; i < sizeof fast_cases / sizeof fast_cases[0]; i++)
        cr_assert(run_conv(&fast_cases[i], 60 + (int)i, 0, 1e-4), "case %zu", i);
}
