/* Reading a serialized ONNX TensorProto (.pb) into a bnn_tensor.
 *
 * ONNX's backend test data stores each input and expected output this way.
 * The data is either raw_data (little-endian bytes) or one of the typed
 * repeated fields, which one depending on data_type; either way its size must
 * match the dims exactly before anything is copied.  The checks here word
 * their messages for a lone tensor file; the decoding itself is the
 * importer's (bnn_onnx_view_tensor in onnx_data.c).
 */
#include <stdlib.h>
#include <string.h>

#include "bnn_file.h"
#include "onnx_impl.h"

#define TENSOR_MAX_FILE ((uint64_t)1 << 34) /* 16 GiB: beyond any test tensor */

/* What the file must satisfy, in this reader's words, before decoding. */
static bnn_status check_sizes(const Onnx__TensorProto *p, bnn_diag *diag)
{
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "tensor data in an external file is not supported");
    if (p->segment)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "segmented tensors are not supported");
    bnn_dtype dtype = (bnn_dtype)p->data_type;
    size_t elem = bnn_dtype_size(dtype);
    const char *dname = bnn_dtype_name(dtype);
    if (!dname || elem == 0)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "tensor element type %d is not supported",
                        (int)p->data_type);
    if (p->n_dims > BNN_MAX_RANK)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "tensor of rank %zu (at most %d)", p->n_dims,
                        BNN_MAX_RANK);
    bnn_shape shape = {.rank = (int)p->n_dims};
    uint64_t n = 1;
    for (size_t i = 0; i < p->n_dims; i++) {
        int64_t d = p->dims[i];
        if (d < 0)
            return bnn_fail(diag, BNN_ERR_INVALID, "tensor dim %zu is negative (%lld)", i,
                            (long long)d);
        if (d != 0 && n > TENSOR_MAX_FILE / (uint64_t)d)
            return bnn_fail(diag, BNN_ERR_INVALID, "tensor shape is absurdly large");
        n *= (uint64_t)d;
        shape.dims[i] = d;
    }
    char sbuf[256];
    bnn_shape_format(&shape, dtype, sbuf, sizeof sbuf);
    if (p->has_raw_data) {
        if (p->raw_data.len != n * elem)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "tensor %s needs %llu bytes of raw_data, it has %zu", sbuf,
                            (unsigned long long)(n * elem), p->raw_data.len);
        return BNN_OK;
    }
    /* Which typed field holds the data (onnx.proto's comments on each). */
    size_t have;
    const char *field;
    switch (dtype) {
    case BNN_F32: have = p->n_float_data; field = "float_data"; break;
    case BNN_F64: have = p->n_double_data; field = "double_data"; break;
    case BNN_I64: have = p->n_int64_data; field = "int64_data"; break;
    case BNN_U32:
    case BNN_U64: have = p->n_uint64_data; field = "uint64_data"; break;
    case BNN_U8: case BNN_I8: case BNN_U16: case BNN_I16: case BNN_I32: case BNN_BOOL:
    case BNN_F16: case BNN_BF16:
        have = p->n_int32_data; field = "int32_data"; break;
    default:
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "tensor element type %s is not supported", dname);
    }
    if (have != n)
        return bnn_fail(diag, BNN_ERR_INVALID, "tensor %s needs %llu elements in %s, it has %zu",
                        sbuf, (unsigned long long)n, field, have);
    return BNN_OK;
}

static bnn_status tensor_from_proto(const Onnx__TensorProto *p, bnn_tensor *out, bnn_diag *diag)
{
    BNN_TRY(check_sizes(p, diag));
    onnx_data d;
    BNN_TRY(bnn_onnx_view_tensor(p, NULL, "tensor", &d, diag));
    bnn_status s = bnn_tensor_alloc(out, d.dtype, &d.shape, diag);
    if (s == BNN_OK && d.nbytes)
        memcpy(out->data, d.data, d.nbytes);
    onnx_data_release(&d);
    return s;
}

bnn_status bnn_onnx_read_tensor_file(const char *path, bnn_tensor *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    void *buf;
    size_t size;
    if (bnn_read_file(path, TENSOR_MAX_FILE, &buf, &size, diag) != BNN_OK)
        return bnn_diag_prefix(diag, "%s", path);
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, size, buf);
    free(buf);
    if (!p)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: not a valid TensorProto", path);
    bnn_status s = tensor_from_proto(p, out, diag);
    onnx__tensor_proto__free_unpacked(p, NULL);
    if (s != BNN_OK)
        bnn_diag_prefix(diag, "%s", path);
    return s;
}
