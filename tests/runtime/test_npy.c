/* .npy reading and writing: round trips of every type, files numpy wrote,
 * and every malformed case with its message. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_npy.h"

/* A .npy image from a header dict and data, as numpy lays it out. */
static size_t make_npy(unsigned char *buf, int major, const char *dict, const void *data,
                       size_t n)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(len & 0xff);
    buf[9] = (unsigned char)(len >> 8);
    if (major != 1) {
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, dict, len);
    if (n)
        memcpy(buf + pre + len, data, n);
    return pre + len + n;
}

static bnn_status read_dict(const char *dict, const void *data, size_t n, bnn_tensor *t,
                            bnn_diag *diag)
{
    static unsigned char buf[4096];
    size_t size = make_npy(buf, 1, dict, data, n);
    return bnn_npy_read_buffer(buf, size, t, diag);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bnnc-npy-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

TestSuite(npy, .init = make_tmpdir, .fini = remove_tmpdir);

Test(npy, round_trip_every_type_and_rank)
{
    static const bnn_dtype types[] = {BNN_F32, BNN_F64, BNN_I8,  BNN_I16, BNN_I32, BNN_I64,
                                      BNN_U8,  BNN_U16, BNN_U32, BNN_U64, BNN_BOOL};
    static const bnn_shape shapes[] = {{0, {0}}, {1, {7}}, {3, {2, 3, 5}}, {2, {0, 4}},
                                       {4, {1, 1, 28, 28}}};
    char path[128];
    snprintf(path, sizeof path, "%s/t.npy", tmpdir);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            bnn_tensor t, back;
            bnn_diag diag = {0};
            cr_assert_eq(bnn_tensor_alloc(&t, types[ti], &shapes[si], &diag), BNN_OK);
            unsigned char *b = t.data;
            for (size_t i = 0; i < bnn_tensor_nbytes(&t); i++)
                b[i] = types[ti] == BNN_BOOL ? (unsigned char)(i % 2) : (unsigned char)(i * 37 + 11);
            cr_assert_eq(bnn_npy_write_file(path, &t, &diag), BNN_OK, "%s", diag.message);
            cr_assert_eq(bnn_npy_read_file(path, &back, &diag), BNN_OK, "%s", diag.message);
            cr_assert_eq(back.dtype, t.dtype);
            cr_assert(bnn_shape_equal(&back.shape, &t.shape));
            cr_assert_eq(memcmp(back.data, t.data, bnn_tensor_nbytes(&t)), 0);
            /* numpy's layout: the data starts 64-byte aligned */
            void *bytes;
            size_t size;
            cr_assert_eq(bnn_npy_write_buffer(&t, &bytes, &size, &diag), BNN_OK);
            cr_assert_eq((size - bnn_tensor_nbytes(&t)) % 64, 0);
            free(bytes);
            bnn_tensor_free(&t);
            bnn_tensor_free(&back);
        }
}

Test(npy, header_text_is_what_numpy_writes)
{
    bnn_tensor t;
    bnn_diag diag = {0};
    bnn_shape s = {2, {2, 3}}, v = {1, {5}};
    void *bytes;
    size_t size;
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &s, &diag), BNN_OK);
    cr_assert_eq(bnn_npy_write_buffer(&t, &bytes, &size, &diag), BNN_OK);
    cr_assert_eq(memcmp((char *)bytes + 10,
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59), 0);
    cr_assert_eq(((char *)bytes)[size - 24 - 1], '\n');
    free(bytes);
    bnn_tensor_free(&t);
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_I64, &v, &diag), BNN_OK);
    cr_assert_eq(bnn_npy_write_buffer(&t, &bytes, &size, &diag), BNN_OK);
    cr_assert_eq(memcmp((char *)bytes + 10,
                        "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 57), 0);
    free(bytes);
    bnn_tensor_free(&t);
}

Test(npy, reads_files_numpy_wrote)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert_not_null(root);
    char path[1024];
    bnn_tensor t;
    bnn_diag diag = {0};
    snprintf(path, sizeof path, "%s/examples/digits/batch16.npy", root);
    cr_assert_eq(bnn_npy_read_file(path, &t, &diag), BNN_OK, "%s", diag.message);
    bnn_shape want = {4, {16, 1, 28, 28}};
    cr_assert_eq(t.dtype, BNN_F32);
    cr_assert(bnn_shape_equal(&t.shape, &want));
    float max = 0;
    for (int64_t i = 0; i < bnn_tensor_numel(&t); i++)
        max = ((float *)t.data)[i] > max ? ((float *)t.data)[i] : max;
    cr_assert_gt(max, 0.5f, "an image has bright pixels");
    bnn_tensor_free(&t);
    snprintf(path, sizeof path, "%s/examples/digits/batch16_labels.npy", root);
    cr_assert_eq(bnn_npy_read_file(path, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(t.dtype, BNN_I64);
    cr_assert_eq(t.shape.rank, 1);
    cr_assert_eq(t.shape.dims[0], 16);
    cr_assert_eq(((int64_t *)t.data)[1], 2);
    bnn_tensor_free(&t);
}

Test(npy, version_2_and_key_order_and_scalar)
{
    static unsigned char buf[512];
    float v[2] = {1.5f, -2};
    const char *dict = "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}  \n";
    size_t size = make_npy(buf, 2, dict, v, sizeof v);
    bnn_tensor t;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_npy_read_buffer(buf, size, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(((float *)t.data)[1], -2.0f);
    bnn_tensor_free(&t);
    double d = 3.25;
    cr_assert_eq(read_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", &d, 8, &t,
                           &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(t.shape.rank, 0);
    cr_assert_eq(*(double *)t.data, 3.25);
    bnn_tensor_free(&t);
}

static void expect_error(const char *dict, size_t data_bytes, bnn_status status, const char *text)
{
    static unsigned char zeros[2048];
    bnn_tensor t;
    bnn_diag diag = {0};
    cr_assert_eq(read_dict(dict, zeros, data_bytes, &t, &diag), status, "%s -> %s", dict,
                 diag.message);
    cr_assert(strstr(diag.message, text), "'%s' not in '%s'", text, diag.message);
    cr_assert_null(t.data);
}

Test(npy, malformed_files_are_refused_clearly)
{
    expect_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
                 BNN_ERR_UNSUPPORTED, "Fortran-order");
    expect_error("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16,
                 BNN_ERR_UNSUPPORTED, "pickle");
    expect_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                 BNN_ERR_UNSUPPORTED, "big-endian");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
                 BNN_ERR_INVALID, "truncated .npy data: f32[2,3] needs 24 bytes, the file has 20");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28,
                 BNN_ERR_INVALID, "does not match the data");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                 0, BNN_ERR_INVALID, "absurdly large");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                 0, BNN_ERR_INVALID, "too large");
    expect_error("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8,
                 BNN_ERR_UNSUPPORTED, "'<c8' is not supported");
    expect_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
                 BNN_ERR_UNSUPPORTED, "structured");
    expect_error("{'descr': '<f4', 'shape': (1,), }", 4, BNN_ERR_INVALID, "lacks 'fortran_order'");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
                 BNN_ERR_UNSUPPORTED, "more than 8 dimensions");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4,
                 BNN_ERR_INVALID, "bad dimension");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
                 BNN_ERR_INVALID, "unknown key 'x'");
    expect_error("[1, 2]", 4, BNN_ERR_INVALID, "not a dict");

    bnn_tensor t;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_npy_read_buffer("PK\3\4 zip file", 14, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "not a .npy file"));
    unsigned char v4[16] = "\x93NUMPY\x04\x00\x00\x00";
    cr_assert_eq(bnn_npy_read_buffer(v4, 16, &t, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert(strstr(diag.message, "version 4.0"));
    unsigned char lie[12] = "\x93NUMPY\x01\x00\xff\x00{}";
    cr_assert_eq(bnn_npy_read_buffer(lie, 12, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "header claims 255 bytes"), "%s", diag.message);
    cr_assert_eq(bnn_npy_read_file("/nonexistent/x.npy", &t, &diag), BNN_ERR_IO);
}

Test(npy, writes_atomically)
{
    char path[128];
    snprintf(path, sizeof path, "%s/out.npy", tmpdir);
    bnn_tensor t;
    bnn_diag diag = {0};
    bnn_shape s = {1, {3}};
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &s, &diag), BNN_OK);
    cr_assert_eq(bnn_npy_write_file(path, &t, &diag), BNN_OK);
    cr_assert_eq(bnn_npy_write_file(path, &t, &diag), BNN_OK, "overwrites");
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            cr_assert_str_eq(e->d_name, "out.npy", "no temporary file is left behind");
        }
    closedir(d);
    cr_assert_eq(files, 1);
    cr_assert_eq(bnn_npy_write_file("/nonexistent-dir/out.npy", &t, &diag), BNN_ERR_IO);
    bnn_shape string_shape = {1, {1}};
    bnn_tensor f16 = {BNN_F16, string_shape, t.data, false};
    cr_assert_eq(bnn_npy_write_file(path, &f16, &diag), BNN_ERR_UNSUPPORTED);
    bnn_tensor_free(&t);
}

Test(npy, convert)
{
    bnn_tensor t, f, i;
    bnn_diag diag = {0};
    bnn_shape s = {1, {4}};
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F64, &s, &diag), BNN_OK);
    double v[4] = {1.5, -2.75, 1e20, -300};
    memcpy(t.data, v, sizeof v);
    cr_assert_eq(bnn_tensor_convert(&t, BNN_F32, &f, &diag), BNN_OK);
    cr_assert_eq(((float *)f.data)[1], -2.75f);
    cr_assert_eq(bnn_tensor_convert(&t, BNN_U8, &i, &diag), BNN_OK);
    cr_assert_eq(((uint8_t *)i.data)[0], 1);
    cr_assert_eq(((uint8_t *)i.data)[2], 255, "saturates");
    cr_assert_eq(((uint8_t *)i.data)[3], 0, "saturates");
    bnn_tensor_free(&t);
    bnn_tensor_free(&f);
    bnn_tensor_free(&i);
}

/* Random corruptions of a valid file: each read either succeeds with a
 * tensor whose bytes match its shape or fails with a message; never crashes
 * (ASan runs this too). */
Test(npy, survives_corrupted_headers)
{
    bnn_tensor t;
    bnn_diag diag = {0};
    bnn_shape s = {3, {2, 3, 4}};
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &s, &diag), BNN_OK);
    void *bytes;
    size_t size;
    cr_assert_eq(bnn_npy_write_buffer(&t, &bytes, &size, &diag), BNN_OK);
    bnn_tensor_free(&t);
    unsigned char *copy = malloc(size);
    unsigned seed = 1;
    int ok = 0, refused = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, bytes, size);
        int edits = 1 + trial % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % 80; /* the magic, lengths and the dict */
            seed = seed * 1103515245u + 12345u;
            copy[at] = (unsigned char)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t len = trial % 7 == 0 ? (seed >> 8) % size : size; /* sometimes cut short */
        diag.message[0] = 0;
        if (bnn_npy_read_buffer(copy, len, &t, &diag) == BNN_OK) {
            ok++;
            cr_assert_leq(bnn_tensor_nbytes(&t), len);
            bnn_tensor_free(&t);
        } else {
            refused++;
            cr_assert_neq(diag.message[0], 0, "a refusal says why");
            cr_assert_null(t.data);
        }
    }
    cr_assert_gt(refused, 0);
    free(copy);
    free(bytes);
}
