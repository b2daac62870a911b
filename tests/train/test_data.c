/* IDX reading (plain and gzip'd), malformed files, and the bundled MNIST sample. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "bnn_data.h"
#include "rng.h"

static char dir[] = "/tmp/bnnc-test-data-XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(dir)); }
static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *data, size_t n, bool gz)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(gzwrite(f, data, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

static bnn_status read_idx(const char *name, bnn_tensor *t, bnn_diag *diag)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return bnn_idx_read(path, t, diag);
}

/* u8 [2,3] = 0..5 */
static const unsigned char u8_2x3[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5};

TestSuite(idx, .init = setup, .fini = teardown);

Test(idx, reads_plain_and_gzip)
{
    write_file("a", u8_2x3, sizeof u8_2x3, false);
    write_file("a.gz", u8_2x3, sizeof u8_2x3, true);
    for (int gz = 0; gz < 2; gz++) {
        bnn_tensor t;
        bnn_diag diag;
        cr_assert_eq(read_idx(gz ? "a.gz" : "a", &t, &diag), BNN_OK);
        cr_assert_eq(t.dtype, BNN_U8);
        cr_assert_eq(t.shape.rank, 2);
        cr_assert_eq(t.shape.dims[0], 2);
        cr_assert_eq(t.shape.dims[1], 3);
        cr_assert_eq(((unsigned char *)t.data)[5], 5);
        bnn_tensor_free(&t);
    }
}

Test(idx, big_endian_ints)
{
    const unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe};
    write_file("i", i32, sizeof i32, false);
    bnn_tensor t;
    cr_assert_eq(read_idx("i", &t, NULL), BNN_OK);
    cr_assert_eq(((int32_t *)t.data)[0], 258);
    cr_assert_eq(((int32_t *)t.data)[1], -2);
    bnn_tensor_free(&t);
}

Test(idx, malformed_files)
{
    static const struct {
        const char *name;
        unsigned char bytes[20];
        size_t n;
        const char *message;
    } cases[] = {
        {"empty", {0}, 0, "bad magic"},
        {"magic", {1, 2, 8, 1, 0, 0, 0, 1, 7}, 9, "bad magic"},
        {"type", {0, 0, 7, 1, 0, 0, 0, 1, 7}, 9, "element type"},
        {"rank", {0, 0, 8, 0}, 4, "rank"},
        {"header", {0, 0, 8, 2, 0, 0, 0, 1}, 8, "truncated"},
        {"short", {0, 0, 8, 1, 0, 0, 0, 3, 1, 2}, 10, "promises"},
        {"long", {0, 0, 8, 1, 0, 0, 0, 1, 1, 2}, 10, "promises"},
        {"huge", {0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, 13, "promises"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i].name, cases[i].bytes, cases[i].n, i % 2 == 1);
        bnn_tensor t;
        bnn_diag diag = {0};
        cr_assert_neq(read_idx(cases[i].name, &t, &diag), BNN_OK, "%s", cases[i].name);
        cr_assert(strstr(diag.message, cases[i].message) != NULL, "%s: %s", cases[i].name,
                  diag.message);
        cr_assert(strstr(diag.message, cases[i].name) != NULL, "names the file: %s", diag.message);
    }
    bnn_diag diag;
    bnn_tensor t;
    cr_assert_eq(read_idx("missing", &t, &diag), BNN_ERR_IO);
}

Test(idx, mnist_needs_both_files)
{
    bnn_dataset ds;
    bnn_diag diag;
    cr_assert_eq(bnn_mnist_load(dir, BNN_MNIST_TRAIN, 1.0f / 255, 0, &ds, &diag), BNN_ERR_IO);
    cr_assert(strstr(diag.message, "train-images-idx3-ubyte") != NULL, "%s", diag.message);
}

Test(mnist, bundled_sample)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/mnist", root);
    bnn_dataset train, test;
    bnn_diag diag;
    cr_assert_eq(bnn_mnist_load(path, BNN_MNIST_TRAIN, 1.0f / 255, 0, &train, &diag), BNN_OK,
                 "%s", diag.message);
    cr_assert_eq(bnn_mnist_load(path, BNN_MNIST_TEST, 1.0f / 255, 0, &test, &diag), BNN_OK,
                 "%s", diag.message);
    cr_assert_eq(train.n, 8000);
    cr_assert_eq(test.n, 2000);
    cr_assert_eq(train.x.shape.rank, 4);
    cr_assert_eq(train.x.shape.dims[2], 28);
    /* stratified: every digit appears, pixels lie in [0, 1] and are not all 0 */
    int64_t per_digit[10] = {0};
    for (int64_t i = 0; i < test.n; i++)
        per_digit[((int64_t *)test.y.data)[i]]++;
    for (int d = 0; d < 10; d++)
        cr_assert_gt(per_digit[d], 150, "digit %d", d);
    const float *x = train.x.data;
    double sum = 0;
    for (int64_t i = 0; i < 784; i++) {
        cr_assert(x[i] >= 0 && x[i] <= 1);
        sum += x[i];
    }
    cr_assert_gt(sum, 10);
    /* gather picks rows */
    bnn_tensor bx, by;
    bnn_shape xs = {4, {2, 1, 28, 28}}, ys = {1, {2}};
    bnn_tensor_alloc(&bx, BNN_F32, &xs, NULL);
    bnn_tensor_alloc(&by, BNN_I64, &ys, NULL);
    int64_t idx[2] = {7, 3};
    bnn_dataset_gather(&train, idx, 2, &bx, &by);
    cr_assert_eq(((int64_t *)by.data)[0], ((int64_t *)train.y.data)[7]);
    cr_assert_eq(memcmp(bx.data, (float *)train.x.data + 3 * 784 * 0 + 7 * 784, 784 * 4), 0);
    bnn_tensor_free(&bx);
    bnn_tensor_free(&by);
    bnn_dataset_free(&train);
    bnn_dataset_free(&test);
}

Test(rotate, quarter_turns_and_identity)
{
    /* one 3x3 image with a single bright pixel at (row 0, col 2) */
    bnn_shape s = {4, {1, 1, 3, 3}};
    bnn_tensor x, y;
    bnn_tensor_alloc(&x, BNN_F32, &s, NULL);
    bnn_tensor_alloc(&y, BNN_F32, &s, NULL);
    ((float *)x.data)[0 * 3 + 2] = 1;
    bnn_rotate_images(&x, 0, &y);
    cr_assert_eq(memcmp(x.data, y.data, 9 * sizeof(float)), 0);
    /* 90 degrees counter-clockwise: top-right corner goes to top-left */
    bnn_rotate_images(&x, 90, &y);
    const float *o = y.data;
    cr_assert_float_eq(o[0], 1, 1e-6);
    for (int i = 1; i < 9; i++)
        cr_assert_float_eq(o[i], 0, 1e-6, "pixel %d", i);
    /* 180 degrees: to bottom-left */
    bnn_rotate_images(&x, 180, &y);
    cr_assert_float_eq(o[6], 1, 1e-6);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
}

Test(rotate, bilinear_and_zero_fill)
{
    /* constant image: 45 degrees keeps the centre, zero-fills corners */
    bnn_shape s = {4, {2, 1, 7, 7}};
    bnn_tensor x, y;
    bnn_tensor_alloc(&x, BNN_F32, &s, NULL);
    bnn_tensor_alloc(&y, BNN_F32, &s, NULL);
    for (int i = 0; i < 98; i++)
        ((float *)x.data)[i] = 1;
    bnn_rotate_images(&x, 45, &y);
    const float *o = y.data;
    cr_assert_float_eq(o[24], 1, 1e-6);
    cr_assert_float_eq(o[49 + 24], 1, 1e-6);
    cr_assert_float_eq(o[0], 0, 1e-6); /* a corner maps more than a pixel outside */
    cr_assert(o[3] > 0.99f);             /* the middle of an edge stays inside */
    for (int i = 0; i < 98; i++)
        cr_assert(o[i] >= -1e-6 && o[i] <= 1 + 1e-6);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
}

Test(shift, parses_every_kind_and_refuses_bad_amounts)
{
    bnn_shift s;
    cr_assert(bnn_shift_parse("rotate:30", &s) && s.kind == BNN_SHIFT_ROTATE && s.a == 30);
    cr_assert(bnn_shift_parse("translate:3", &s) && s.kind == BNN_SHIFT_TRANSLATE && s.a == 3 &&
              s.b == 3);
    cr_assert(bnn_shift_parse("translate:-2,4", &s) && s.a == -2 && s.b == 4);
    cr_assert(bnn_shift_parse("noise:0.25", &s) && s.kind == BNN_SHIFT_NOISE && s.a == 0.25);
    cr_assert(bnn_shift_parse("blur:1.5", &s) && s.kind == BNN_SHIFT_BLUR && s.a == 1.5);
    cr_assert(bnn_shift_parse("contrast:0.5", &s) && s.kind == BNN_SHIFT_CONTRAST);
    const char *bad[] = { "rotate", "rotate:", "rotate:x", "rotate:3x", "spin:3", "noise:-1",
                          "blur:65", "blur:-1", "translate:1.5", "translate:1,", "translate:1,2,3",
                          "rotate:nan", "contrast:inf", "noise:0.1,0.2", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!bnn_shift_parse(bad[i], &s), "'%s' parsed", bad[i]);
    cr_expect_str_eq(bnn_shift_name(BNN_SHIFT_BLUR), "blur");
}

static void image(bnn_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    bnn_shape s = {4, {n, c, h, w}};
    cr_assert_eq(bnn_tensor_alloc(t, BNN_F32, &s, NULL), BNN_OK);
}

Test(shift, translate_moves_pixels_and_fills_zeros)
{
    bnn_tensor x, y;
    image(&x, 1, 1, 4, 5);
    image(&y, 1, 1, 4, 5);
    float *in = x.data, *o = y.data;
    for (int i = 0; i < 20; i++)
        in[i] = (float)(i + 1);
    bnn_shift s;
    cr_assert(bnn_shift_parse("translate:2,1", &s));
    cr_assert(bnn_shift_images(&x, &s, NULL, &y));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            float want = i >= 1 && j >= 2 ? in[(i - 1) * 5 + j - 2] : 0;
            cr_expect_float_eq(o[i * 5 + j], want, 0, "pixel (%d, %d)", i, j);
        }
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
}

Test(shift, noise_is_seeded_and_stays_in_the_data_range)
{
    bnn_tensor x, y, z;
    image(&x, 2, 1, 16, 16);
    image(&y, 2, 1, 16, 16);
    image(&z, 2, 1, 16, 16);
    float *in = x.data;
    for (int i = 0; i < 512; i++)
        in[i] = (float)(i % 17) / 16; /* 0 .. 1 */
    bnn_shift s;
    cr_assert(bnn_shift_parse("noise:0.2", &s));
    /* the draws eval makes: runtime/rng.h's stream of the seed */
    float n7[512], n7b[512], n8[512];
    bnn_rng_stream r7 = bnn_rng_stream_make(7, 0, BNN_RNG_PURPOSE_DATA, 1);
    bnn_rng_stream r8 = bnn_rng_stream_make(8, 0, BNN_RNG_PURPOSE_DATA, 1);
    bnn_rng_normal(&r7, 0, 512, n7);
    bnn_rng_normal(&r7, 0, 512, n7b);
    bnn_rng_normal(&r8, 0, 512, n8);
    cr_assert(bnn_shift_images(&x, &s, n7, &y));
    cr_assert(bnn_shift_images(&x, &s, n7b, &z));
    cr_expect_eq(memcmp(y.data, z.data, 512 * sizeof(float)), 0, "the same seed, the same noise");
    cr_assert(bnn_shift_images(&x, &s, n8, &z));
    cr_expect_neq(memcmp(y.data, z.data, 512 * sizeof(float)), 0, "another seed, other noise");
    const float *o = y.data;
    double d2 = 0;
    int inner = 0;
    for (int i = 0; i < 512; i++) {
        cr_expect(o[i] >= 0 && o[i] <= 1, "pixel %d = %g leaves [0, 1]", i, o[i]);
        if (in[i] > 0.3f && in[i] < 0.7f) { /* far from the clip: the noise itself */
            d2 += (double)(o[i] - in[i]) * (o[i] - in[i]);
            inner++;
        }
    }
    double sd = sqrt(d2 / inner);
    cr_expect(sd > 0.15 && sd < 0.25, "noise std %g over %d pixels, wanted about 0.2", sd, inner);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_tensor_free(&z);
}

Test(shift, blur_spreads_a_point_and_keeps_a_constant)
{
    bnn_tensor x, y;
    image(&x, 2, 1, 9, 9);
    image(&y, 2, 1, 9, 9);
    float *in = x.data, *o = y.data;
    in[4 * 9 + 4] = 1; /* image 0: one bright pixel in the middle */
    for (int i = 81; i < 162; i++)
        in[i] = 0.5f; /* image 1: constant */
    bnn_shift s;
    cr_assert(bnn_shift_parse("blur:1", &s));
    cr_assert(bnn_shift_images(&x, &s, NULL, &y));
    double sum = 0;
    for (int i = 0; i < 81; i++)
        sum += o[i];
    cr_expect(fabs(sum - 1) < 0.02, "the point's mass stays (%g; the renormalised edge taps add a little)", sum);
    cr_expect(o[40] < 0.3f && o[40] > o[41] && o[41] > o[42], "a peak falling off");
    cr_expect_float_eq(o[39], o[41], 1e-6, "symmetric");
    cr_expect_float_eq(o[31], o[41], 1e-6, "the same along rows and columns");
    for (int i = 81; i < 162; i++)
        cr_expect_float_eq(o[i], 0.5, 1e-6, "constant image, pixel %d (edges renormalised)", i);
    cr_assert(bnn_shift_parse("blur:0", &s));
    cr_assert(bnn_shift_images(&x, &s, NULL, &y));
    cr_expect_eq(memcmp(x.data, y.data, 162 * sizeof(float)), 0, "blur:0 changes nothing");
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
}

Test(shift, contrast_pulls_each_image_to_its_mean)
{
    bnn_tensor x, y;
    image(&x, 2, 2, 2, 2);
    image(&y, 2, 2, 2, 2);
    float *in = x.data, *o = y.data;
    for (int i = 0; i < 16; i++)
        in[i] = (float)(i < 8 ? i : 10 * i);
    bnn_shift s;
    cr_assert(bnn_shift_parse("contrast:0.5", &s));
    cr_assert(bnn_shift_images(&x, &s, NULL, &y));
    double m0 = 3.5, m1 = 10 * (8 + 15) / 2.0;
    for (int i = 0; i < 16; i++) {
        double m = i < 8 ? m0 : m1;
        cr_expect_float_eq(o[i], m + 0.5 * (in[i] - m), 1e-4, "pixel %d", i);
    }
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
}
