/* IDX reading (plain and gzip'd), malformed files, and the bundled MNIST sample. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "bnn_data.h"

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
