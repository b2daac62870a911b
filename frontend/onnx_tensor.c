/* Reading a serialized ONNX TensorProto (.pb) into a bnn_tensor.
 *
 * ONNX's backend test data stores each input and expected output this way.
 * The data is either raw_data (little-endian bytes) or one of the typed
 * repeated fields, which one depending on data_type; either way its size must
 * match the dims exactly before anything is copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "onnx.pb-c.h"

#define TENSOR_MAX_FILE ((uint64_t)1 << 34) /* 16 GiB: beyond any test tensor */

static bnn_status tensor_from_proto(const Onnx__TensorProto *p, bnn_tensor *out, bnn_diag *diag)
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
        BNN_TRY(bnn_tensor_alloc(out, dtype, &shape, diag));
        if (p->raw_data.len)
            memcpy(out->data, p->raw_data.data, p->raw_data.len);
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
    BNN_TRY(bnn_tensor_alloc(out, dtype, &shape, diag));
    for (uint64_t i = 0; i < n; i++) {
        switch (dtype) {
        case BNN_F32: ((float *)out->data)[i] = p->float_data[i]; break;
        case BNN_F64: ((double *)out->data)[i] = p->double_data[i]; break;
        case BNN_I64: ((int64_t *)out->data)[i] = p->int64_data[i]; break;
        case BNN_U32: ((uint32_t *)out->data)[i] = (uint32_t)p->uint64_data[i]; break;
        case BNN_U64: ((uint64_t *)out->data)[i] = p->uint64_data[i]; break;
        case BNN_U8: ((uint8_t *)out->data)[i] = (uint8_t)p->int32_data[i]; break;
        case BNN_BOOL: ((uint8_t *)out->data)[i] = p->int32_data[i] != 0; break;
        case BNN_I8: ((int8_t *)out->data)[i] = (int8_t)p->int32_data[i]; break;
        case BNN_I16: ((int16_t *)out->data)[i] = (int16_t)p->int32_data[i]; break;
        case BNN_I32: ((int32_t *)out->data)[i] = p->int32_data[i]; break;
        /* 16-bit types travel as their bit patterns in int32_data. */
        case BNN_U16: case BNN_F16: case BNN_BF16:
            ((uint16_t *)out->data)[i] = (uint16_t)p->int32_data[i];
            break;
        default: break;
        }
    }
    return BNN_OK;
}

bnn_status bnn_onnx_read_tensor_file(const char *path, bnn_tensor *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > TENSOR_MAX_FILE) {
        close(fd);
        return bnn_fail(diag, BNN_ERR_IO, "%s: not a regular file of a sane size", path);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return bnn_fail(diag, BNN_ERR_IO, "%s: short read", path);
    }
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
