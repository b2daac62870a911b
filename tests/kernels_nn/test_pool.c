/* Pooling against the reference, forward and backward: max and average over
 * 1, 2 and 3 spatial dims with pads, strides, dilations, ceil_mode and
 * count_include_pad, global pools, and ONNX's documented example values. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "reference.h"

typedef struct pool_cfg {
    int sd;
    int64_t n, c;
    int64_t in[3], k[3], s[3], pb[3], pe[3], d[3];
    int ceil_mode, include_pad;
} pool_cfg;

static int run_pool(bnn_op op, const pool_cfg *f, uint64_t seed, int check_backward)
{
    int64_t xd[5] = {f->n, f->c}, yd[5] = {f->n, f->c};
    int64_t s[3], p[6], d[3], k[3];
    for (int i = 0; i < f->sd; i++) {
        xd[2 + i] = f->in[i];
        yd[2 + i] = ref_pool_out(f->in[i], f->k[i], f->s[i], f->pb[i], f->pe[i], f->d[i],
                                 f->ceil_mode);
        if (yd[2 + i] < 1)
            return 0;
        k[i] = f->k[i];
        s[i] = f->s[i];
        p[i] = f->pb[i];
        p[f->sd + i] = f->pe[i];
        d[i] = f->d[i];
    }
    bnn_shape x = kn_shape(2 + f->sd, xd), y = kn_shape(2 + f->sd, yd);
    kn_case *c = kn_create(op, BNN_F32, 1, &x, &y, seed);
    kn_set_ints(c, "kernel_shape", k, f->sd);
    if (seed % 2 || f->s[0] != 1 || f->s[f->sd - 1] != 1)
        kn_set_ints(c, "strides", s, f->sd);
    int any_p = 0, any_d = 0;
    for (int i = 0; i < 2 * f->sd; i++)
        any_p |= p[i] != 0;
    for (int i = 0; i < f->sd; i++)
        any_d |= d[i] != 1;
    if (any_p || seed % 3 == 0)
        kn_set_ints(c, "pads", p, 2 * f->sd);
    if (any_d || seed % 2)
        kn_set_ints(c, "dilations", d, f->sd);
    if (f->ceil_mode)
        kn_set_int(c, "ceil_mode", 1);
    if (op == BNN_OP_AVG_POOL && (f->include_pad || seed % 2))
        kn_set_int(c, "count_include_pad", f->include_pad);
    kn_ref_fn ref = op == BNN_OP_MAX_POOL ? ref_max_pool : ref_avg_pool;
    if (check_backward)
        kn_check_backward(c, ref, 1e-3, 0);
    else
        kn_check_forward(c, ref, 1e-5);
    kn_destroy(c);
    return 1;
}

static void random_cfg(uint64_t *r, pool_cfg *f, int small)
{
    memset(f, 0, sizeof *f);
    f->sd = (int)kn_rand_int(r, 1, 3);
    f->n = kn_rand_int(r, 1, 2);
    f->c = kn_rand_int(r, 1, 3);
    for (int i = 0; i < f->sd; i++) {
        f->in[i] = kn_rand_int(r, 1, small || f->sd == 3 ? 6 : 12);
        f->k[i] = kn_rand_int(r, 1, 3);
        f->s[i] = kn_rand_int(r, 1, 3);
        f->pb[i] = kn_rand_int(r, 0, f->k[i] - 1); /* ONNX: pads smaller than the kernel */
        f->pe[i] = kn_rand_int(r, 0, f->k[i] - 1);
        f->d[i] = kn_rand_int(r, 1, 2);
    }
    f->ceil_mode = (int)kn_rand_int(r, 0, 1);
    f->include_pad = (int)kn_rand_int(r, 0, 1);
}

Test(max_pool, random_forward)
{
    uint64_t r = 21;
    int ran = 0;
    for (int t = 0; t < 150; t++) {
        pool_cfg f;
        random_cfg(&r, &f, 0);
        ran += run_pool(BNN_OP_MAX_POOL, &f, 3000 + t, 0);
    }
    cr_assert(ran > 100, "only %d geometries ran", ran);
}

Test(avg_pool, random_forward)
{
    uint64_t r = 22;
    int ran = 0;
    for (int t = 0; t < 150; t++) {
        pool_cfg f;
        random_cfg(&r, &f, 0);
        ran += run_pool(BNN_OP_AVG_POOL, &f, 4000 + t, 0);
    }
    cr_assert(ran > 100, "only %d geometries ran", ran);
}

Test(max_pool, random_gradients)
{
    uint64_t r = 23;
    for (int t = 0; t < 40; t++) {
        pool_cfg f;
        random_cfg(&r, &f, 1);
        run_pool(BNN_OP_MAX_POOL, &f, 5000 + t, 1);
    }
}

Test(avg_pool, random_gradients)
{
    uint64_t r = 24;
    for (int t = 0; t < 40; t++) {
        pool_cfg f;
        random_cfg(&r, &f, 1);
        run_pool(BNN_OP_AVG_POOL, &f, 6000 + t, 1);
    }
}

Test(pool, large_planes_threaded_forward)
{
    pool_cfg f = {.sd = 2, .n = 4, .c = 16, .in = {32, 31}, .k = {3, 3}, .s = {2, 2},
                  .pb = {1, 1}, .pe = {1, 1}, .d = {1, 1}, .ceil_mode = 1};
    cr_assert(run_pool(BNN_OP_MAX_POOL, &f, 1, 0));
    f.include_pad = 1;
    cr_assert(run_pool(BNN_OP_AVG_POOL, &f, 2, 0));
}

/* ONNX's test_averagepool_2d_ceil and test_maxpool_2d_ceil: x = 1..16 as
 * 4x4, kernel 3, strides 2, ceil_mode 1. */
static void ceil_example(bnn_op op, const float want[4])
{
    bnn_shape x = KN_SHAPE(1, 1, 4, 4), y = KN_SHAPE(1, 1, 2, 2);
    kn_case *c = kn_create(op, BNN_F32, 1, &x, &y, 1);
    for (int i = 0; i < 16; i++)
        ((float *)c->inputs[0].data)[i] = (float)(i + 1);
    KN_SET_INTS(c, "kernel_shape", 3, 3);
    KN_SET_INTS(c, "strides", 2, 2);
    kn_set_int(c, "ceil_mode", 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(((float *)c->output.data)[i], want[i], 1e-6);
    kn_destroy(c);
}

Test(pool, onnx_ceil_examples)
{
    ceil_example(BNN_OP_AVG_POOL, (const float[]){6, 7.5f, 12, 13.5f});
    ceil_example(BNN_OP_MAX_POOL, (const float[]){11, 12, 15, 16});
}

/* count_include_pad divides by the window inside the padded input: a 3x3
 * window at the corner of a 1-padded 2x2 input counts 9, not 4. */
Test(avg_pool, count_include_pad_corner)
{
    bnn_shape x = KN_SHAPE(1, 1, 2, 2), y = KN_SHAPE(1, 1, 2, 2);
    for (int include = 0; include < 2; include++) {
        kn_case *c = kn_create(BNN_OP_AVG_POOL, BNN_F32, 1, &x, &y, 1);
        for (int i = 0; i < 4; i++)
            ((float *)c->inputs[0].data)[i] = 9.0f;
        KN_SET_INTS(c, "kernel_shape", 3, 3);
        KN_SET_INTS(c, "pads", 1, 1, 1, 1);
        kn_set_int(c, "count_include_pad", include);
        bnn_diag diag = {0};
        cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
        cr_assert_float_eq(((float *)c->output.data)[0], include ? 4.0f : 9.0f, 1e-6);
        kn_destroy(c);
    }
}

static void global_case(bnn_op op, int sd, int64_t n, int64_t ch, uint64_t seed, int backward)
{
    int64_t xd[5] = {n, ch, 5, 3, 4}, yd[5] = {n, ch, 1, 1, 1};
    bnn_shape x = kn_shape(2 + sd, xd), y = kn_shape(2 + sd, yd);
    kn_case *c = kn_create(op, BNN_F32, 1, &x, &y, seed);
    kn_ref_fn ref = op == BNN_OP_GLOBAL_MAX_POOL ? ref_global_max_pool : ref_global_avg_pool;
    if (backward)
        kn_check_backward(c, ref, 1e-3, 0);
    else
        kn_check_forward(c, ref, 1e-5);
    kn_destroy(c);
}

Test(global_pool, forward_and_gradients)
{
    for (int sd = 1; sd <= 3; sd++)
        for (int b = 0; b < 2; b++) {
            global_case(BNN_OP_GLOBAL_AVG_POOL, sd, 1 + b, 3, (uint64_t)(sd * 10 + b), b);
            global_case(BNN_OP_GLOBAL_MAX_POOL, sd, 1 + b, 3, (uint64_t)(sd * 20 + b), b);
        }
    global_case(BNN_OP_GLOBAL_AVG_POOL, 2, 8, 512, 77, 0);
    global_case(BNN_OP_GLOBAL_MAX_POOL, 2, 8, 512, 78, 0);
}

Test(pool, rejects_missing_kernel_shape)
{
    bnn_shape x = KN_SHAPE(1, 1, 4, 4), y = KN_SHAPE(1, 1, 2, 2);
    kn_case *c = kn_create(BNN_OP_MAX_POOL, BNN_F32, 1, &x, &y, 1);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "'n0'"), "%s", diag.message);
    kn_destroy(c);
}

Test(pool, skips_unwanted_gradient)
{
    bnn_op ops[] = {BNN_OP_MAX_POOL, BNN_OP_AVG_POOL, BNN_OP_GLOBAL_MAX_POOL, BNN_OP_GLOBAL_AVG_POOL};
    for (int k = 0; k < 4; k++) {
        int global = ops[k] == BNN_OP_GLOBAL_MAX_POOL || ops[k] == BNN_OP_GLOBAL_AVG_POOL;
        bnn_shape x = KN_SHAPE(2, 3, 6, 6), y = global ? KN_SHAPE(2, 3, 1, 1) : KN_SHAPE(2, 3, 3, 3);
        kn_case *c = kn_create(ops[k], BNN_F32, 1, &x, &y, 1);
        if (!global) {
            KN_SET_INTS(c, "kernel_shape", 2, 2);
            KN_SET_INTS(c, "strides", 2, 2);
        }
        kn_check_partial_backward(c, 1);
        kn_destroy(c);
    }
}

/* The 2x2 stride-2 max pool has its own loop when every window is in
 * bounds: even and odd sizes (a last row or column no window reaches), an
 * end pad no window reaches, planes enough for threads, and ceil_mode shapes
 * that fall back to the general walk. */
Test(max_pool, plain_2x2_forward)
{
    const pool_cfg cfgs[] = {
        {.sd = 2, .n = 2, .c = 3, .in = {28, 28}, .k = {2, 2}, .s = {2, 2}, .d = {1, 1}},
        {.sd = 2, .n = 1, .c = 2, .in = {11, 13}, .k = {2, 2}, .s = {2, 2}, .d = {1, 1}},
        {.sd = 2, .n = 1, .c = 2, .in = {10, 7}, .k = {2, 2}, .s = {2, 2}, .pe = {1, 0},
         .d = {1, 1}},
        {.sd = 2, .n = 64, .c = 6, .in = {28, 28}, .k = {2, 2}, .s = {2, 2}, .d = {1, 1}},
        {.sd = 2, .n = 1, .c = 2, .in = {9, 7}, .k = {2, 2}, .s = {2, 2}, .d = {1, 1},
         .ceil_mode = 1},
        {.sd = 2, .n = 1, .c = 1, .in = {2, 2}, .k = {2, 2}, .s = {2, 2}, .d = {1, 1}},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        cr_assert(run_pool(BNN_OP_MAX_POOL, &cfgs[i], 700 + i, 0));
        if (cfgs[i].n * cfgs[i].c < 20)
            cr_assert(run_pool(BNN_OP_MAX_POOL, &cfgs[i], 800 + i, 1));
    }
}

/* NaN and -inf in a window take the general walk's answers: NaN is skipped,
 * a window of -inf and NaN only gives -inf. */
Test(max_pool, plain_2x2_nan_and_inf)
{
    bnn_shape x = KN_SHAPE(1, 1, 2, 6), y = KN_SHAPE(1, 1, 1, 3);
    kn_case *c = kn_create(BNN_OP_MAX_POOL, BNN_F32, 1, &x, &y, 1);
    KN_SET_INTS(c, "kernel_shape", 2, 2);
    KN_SET_INTS(c, "strides", 2, 2);
    float *xs = c->inputs[0].data;
    const float in[12] = {NAN, 1, -INFINITY, NAN, 5, -2, 2, NAN, NAN, -INFINITY, 3, NAN};
    memcpy(xs, in, sizeof in);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    const float *ys = c->output.data;
    cr_assert_eq(ys[0], 2.0f);
    cr_assert(isinf(ys[1]) && ys[1] < 0, "got %g", (double)ys[1]);
    cr_assert_eq(ys[2], 5.0f);
    /* the gradient goes to each window's first maximum, none from the -inf one */
    extern const bnn_kernel bnn_kernel_max_pool;
    cr_assert_eq(kn_backward(c, 1, 0, &diag), BNN_OK, "%s", diag.message);
    float *gx = c->grad_inputs[0].data;
    const float *gy = c->grad_output.data;
    memset(gx, 0, 12 * sizeof(float));
    bnn_kernel_grads grads = {.grad_outputs = &c->grad_output, .grad_inputs = c->grad_inputs};
    cr_assert_eq(bnn_kernel_max_pool.backward(&c->args, &grads, &diag), BNN_OK, "%s", diag.message);
    for (int i = 0; i < 12; i++) {
        float want = i == 6 ? gy[0] : i == 4 ? gy[2] : 0.0f;
        cr_assert_eq(gx[i], want, "dx[%d] = %g, want %g", i, (double)gx[i], (double)want);
    }
    kn_destroy(c);
}
