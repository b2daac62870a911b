/* Reading ONNX TensorProto .pb files: the conformance data's own files,
 * typed fields and raw_data, and sizes that do not match the dims. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "onnx.pb-c.h"

static char path[64];

/* Packs p into a temporary file; path names it. */
static void write_proto(const Onnx__TensorProto *p)
{
    size_t n = onnx__tensor_proto__get_packed_size(p);
    uint8_t *buf = malloc(n + 1);
    onnx__tensor_proto__pack(p, buf);
    snprintf(path, sizeof path, "/tmp/bnnc-pb-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
    free(buf);
}

static bnn_status read_proto(const Onnx__TensorProto *p, bnn_tensor *t, bnn_diag *diag)
{
    write_proto(p);
    bnn_status s = bnn_onnx_read_tensor_file(path, t, diag);
    unlink(path);
    return s;
}

Test(pb, reads_the_conformance_data)
{
    const char *root = getenv("BNNC_ONNX_TESTDATA");
    cr_assert_not_null(root);
    char file[1024];
    snprintf(file, sizeof file, "%s/node/test_relu/test_data_set_0/input_0.pb", root);
    bnn_tensor t;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_onnx_read_tensor_file(file, &t, &diag), BNN_OK, "%s", diag.message);
    bnn_shape want = {3, {3, 4, 5}};
    cr_assert_eq(t.dtype, BNN_F32);
    cr_assert(bnn_shape_equal(&t.shape, &want));
    bnn_tensor y;
    snprintf(file, sizeof file, "%s/node/test_relu/test_data_set_0/output_0.pb", root);
    cr_assert_eq(bnn_onnx_read_tensor_file(file, &y, &diag), BNN_OK, "%s", diag.message);
    for (int i = 0; i < 60; i++) {
        float x = ((float *)t.data)[i];
        cr_assert_eq(((float *)y.data)[i], x > 0 ? x : 0, "the data is relu's");
    }
    bnn_tensor_free(&t);
    bnn_tensor_free(&y);
}

Test(pb, typed_fields_and_raw_data)
{
    int64_t dims[2] = {2, 2};
    float f[4] = {1, 2, 3, -4};
    int64_t l[4] = {5, -6, 7, INT64_MAX};
    int32_t b[4] = {1, 0, 3, 0};
    double d[4] = {0.5, 1, 2, 3};
    bnn_tensor t;
    bnn_diag diag = {0};

    Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
    p.n_dims = 2;
    p.dims = dims;
    p.has_data_type = 1;
    p.data_type = BNN_F32;
    p.n_float_data = 4;
    p.float_data = f;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(memcmp(t.data, f, sizeof f), 0);
    bnn_tensor_free(&t);

    Onnx__TensorProto q = ONNX__TENSOR_PROTO__INIT;
    q.n_dims = 2;
    q.dims = dims;
    q.has_data_type = 1;
    q.data_type = BNN_I64;
    q.n_int64_data = 4;
    q.int64_data = l;
    cr_assert_eq(read_proto(&q, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(((int64_t *)t.data)[3], INT64_MAX);
    bnn_tensor_free(&t);

    q.data_type = BNN_BOOL;
    q.n_int64_data = 0;
    q.n_int32_data = 4;
    q.int32_data = b;
    cr_assert_eq(read_proto(&q, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(((uint8_t *)t.data)[2], 1, "bool from int32_data");
    bnn_tensor_free(&t);

    q.data_type = BNN_F64;
    q.n_int32_data = 0;
    q.n_double_data = 4;
    q.double_data = d;
    cr_assert_eq(read_proto(&q, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(((double *)t.data)[0], 0.5);
    bnn_tensor_free(&t);

    Onnx__TensorProto r = ONNX__TENSOR_PROTO__INIT;
    r.n_dims = 2;
    r.dims = dims;
    r.has_data_type = 1;
    r.data_type = BNN_F32;
    r.has_raw_data = 1;
    r.raw_data.len = sizeof f;
    r.raw_data.data = (uint8_t *)f;
    cr_assert_eq(read_proto(&r, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(((float *)t.data)[3], -4.0f);
    bnn_tensor_free(&t);

    Onnx__TensorProto scalar = ONNX__TENSOR_PROTO__INIT;
    scalar.has_data_type = 1;
    scalar.data_type = BNN_F32;
    scalar.n_float_data = 1;
    scalar.float_data = f;
    cr_assert_eq(read_proto(&scalar, &t, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(t.shape.rank, 0);
    bnn_tensor_free(&t);
}

Test(pb, sizes_must_match_dims)
{
    int64_t dims[2] = {2, 3};
    float f[4] = {0};
    bnn_tensor t;
    bnn_diag diag = {0};
    Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
    p.n_dims = 2;
    p.dims = dims;
    p.has_data_type = 1;
    p.data_type = BNN_F32;
    p.n_float_data = 4;
    p.float_data = f;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "f32[2,3] needs 6 elements in float_data, it has 4"), "%s",
              diag.message);
    p.n_float_data = 0;
    p.has_raw_data = 1;
    p.raw_data.len = 16;
    p.raw_data.data = (uint8_t *)f;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "needs 24 bytes of raw_data, it has 16"), "%s", diag.message);
    int64_t neg[1] = {-3};
    p.n_dims = 1;
    p.dims = neg;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "negative"));
    int64_t huge[2] = {INT64_MAX, 4};
    p.n_dims = 2;
    p.dims = huge;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "absurdly large"));
    p.dims = dims;
    p.data_type = BNN_STRING;
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_UNSUPPORTED);
    p.data_type = 14; /* complex64 */
    cr_assert_eq(read_proto(&p, &t, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert_eq(bnn_onnx_read_tensor_file("/nonexistent.pb", &t, &diag), BNN_ERR_IO);
    cr_assert(strstr(diag.message, "/nonexistent.pb"), "names the file");
    /* Not a protobuf at all. */
    snprintf(path, sizeof path, "/tmp/bnnc-pb-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "\xff\xff\xff\xff\xff", 5), 5);
    close(fd);
    cr_assert_eq(bnn_onnx_read_tensor_file(path, &t, &diag), BNN_ERR_INVALID);
    unlink(path);
}

/* Random corruptions of a real .pb: each read succeeds or fails with a
 * message; never crashes (ASan runs this too). */
Test(pb, survives_corrupted_files)
{
    const char *root = getenv("BNNC_ONNX_TESTDATA");
    cr_assert_not_null(root);
    char file[1024];
    snprintf(file, sizeof file, "%s/node/test_relu/test_data_set_0/input_0.pb", root);
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    unsigned char orig[4096], copy[4096];
    size_t size = fread(orig, 1, sizeof orig, f);
    fclose(f);
    cr_assert_gt(size, 32);
    unsigned seed = 3;
    int refused = 0;
    for (int trial = 0; trial < 300; trial++) {
        memcpy(copy, orig, size);
        for (int e = 0; e < 1 + trial % 3; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % 24; /* dims, type, the field tags and lengths */
            seed = seed * 1103515245u + 12345u;
            copy[at] = (unsigned char)(seed >> 16);
        }
        snprintf(path, sizeof path, "/tmp/bnnc-pb-XXXXXX");
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        size_t len = trial % 5 == 0 ? size / 2 : size;
        cr_assert_eq(write(fd, copy, len), (ssize_t)len);
        close(fd);
        bnn_tensor t;
        bnn_diag diag = {0};
        if (bnn_onnx_read_tensor_file(path, &t, &diag) == BNN_OK) {
            bnn_tensor_free(&t);
        } else {
            refused++;
            cr_assert_neq(diag.message[0], 0);
        }
        unlink(path);
    }
    cr_assert_gt(refused, 0);
}
