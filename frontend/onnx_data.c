/* TensorProto -> bytes: typed fields, raw_data (little-endian) and external
 * data files.  Shared by the importer (initializers, Constant values) and the
 * TensorProto .pb reader.  Every count and length read from the file is checked
 * against the tensor's shape before anything is allocated.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_impl.h"

bnn_dtype bnn_onnx_dtype(int32_t t)
{
    switch (t) {
    case BNN_F32: case BNN_U8: case BNN_I8: case BNN_U16: case BNN_I16: case BNN_I32:
    case BNN_I64: case BNN_BOOL: case BNN_F16: case BNN_F64: case BNN_U32: case BNN_U64:
    case BNN_BF16:
        return (bnn_dtype)t;
    default:
        return BNN_UNDEFINED;
    }
}

const char *bnn_onnx_type_name(int32_t t)
{
    static const char *const names[] = { "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                         "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                         "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16" };
    return t >= 0 && t < (int32_t)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void swap_to_host(void *data, size_t nbytes, size_t elem)
{
    if (host_is_little_endian() || elem == 1)
        return;
    uint8_t *p = data;
    for (size_t i = 0; i + elem <= nbytes; i += elem)
        for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* A relative path without ".." components: it cannot leave base_dir. */
static bool path_stays_inside(const char *loc)
{
    if (!*loc || loc[0] == '/')
        return false;
    const char *p = loc;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bnn_status read_external(const Onnx__TensorProto *t, const char *base_dir,
                                const char *what, void *dst, size_t nbytes, bnn_diag *diag)
{
    const char *loc = NULL;
    uint64_t offset = 0, length = UINT64_MAX;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const char *k = onnx_str(t->external_data[i]->key);
        const char *v = onnx_str(t->external_data[i]->value);
        if (strcmp(k, "location") == 0) {
            loc = v;
        } else if (strcmp(k, "offset") == 0) {
            if (!parse_u64(v, &offset))
                return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data offset '%s' is not a number", what, v);
        } else if (strcmp(k, "length") == 0) {
            if (!parse_u64(v, &length))
                return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data length '%s' is not a number", what, v);
        }
    }
    if (!loc)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data has no location", what);
    if (!base_dir)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data '%s' but the model was not read from a file", what, loc);
    if (!path_stays_inside(loc))
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data location '%s' leaves the model's directory", what, loc);
    if (length != UINT64_MAX && length != nbytes)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data length %llu, expected %zu bytes",
                        what, (unsigned long long)length, nbytes);
    size_t plen = strlen(base_dir) + strlen(loc) + 2;
    char *path = malloc(plen);
    if (!path)
        return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory", what);
    snprintf(path, plen, "%s/%s", base_dir, loc);
    /* A symlink inside the folder may point outside it: compare where both
     * really are.  O_NONBLOCK so that a FIFO cannot hang the open. */
    char *real_base = realpath(base_dir, NULL), *real = realpath(path, NULL);
    bool resolved = real_base && real;
    bool inside = resolved && strncmp(real, real_base, strlen(real_base)) == 0 &&
                  (real[strlen(real_base)] == '/' || strcmp(real_base, "/") == 0);
    free(real_base);
    free(real);
    if (resolved && !inside) {
        free(path);
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: external data location '%s' leaves the "
                        "model's directory (through a symbolic link)", what, loc);
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open external data '%s': %s", what, loc, strerror(errno));
    struct stat st;
    bnn_status s = BNN_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = bnn_fail(diag, BNN_ERR_IO, "%s: external data '%s' is not a regular file", what, loc);
    } else if (offset > (uint64_t)st.st_size || nbytes > (uint64_t)st.st_size - offset) {
        s = bnn_fail(diag, BNN_ERR_INVALID, "%s: external data '%s' has %lld bytes, needs %zu from offset %llu",
                     what, loc, (long long)st.st_size, nbytes, (unsigned long long)offset);
    } else if (offset > (uint64_t)LLONG_MAX || lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        s = bnn_fail(diag, BNN_ERR_IO, "%s: cannot seek in external data '%s'", what, loc);
    } else {
        size_t done = 0;
        while (done < nbytes) {
            ssize_t r = read(fd, (char *)dst + done, nbytes - done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                s = bnn_fail(diag, BNN_ERR_IO, "%s: cannot read external data '%s'", what, loc);
                break;
            }
            done += (size_t)r;
        }
    }
    close(fd);
    return s;
}

static bnn_status count_mismatch(const char *what, const char *field, size_t got, int64_t want,
                                 bnn_diag *diag)
{
    return bnn_fail(diag, BNN_ERR_INVALID, "%s: %s has %zu elements, the shape needs %lld",
                    what, field, got, (long long)want);
}

static bnn_status decode(const Onnx__TensorProto *t, const char *base_dir, const char *what,
                         bool may_borrow, onnx_data *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    bnn_dtype dt = bnn_onnx_dtype(t->data_type);
    if (dt == BNN_UNDEFINED)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: element type %s (%d) is not supported",
                        what, bnn_onnx_type_name(t->data_type), (int)t->data_type);
    if (t->segment)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    if (t->n_dims > BNN_MAX_RANK)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: rank %zu exceeds the maximum %d",
                        what, t->n_dims, BNN_MAX_RANK);
    bnn_shape shape = { .rank = (int)t->n_dims };
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        int64_t d = t->dims[i];
        if (d < 0)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: dimension %zu is negative (%lld)",
                            what, i, (long long)d);
        shape.dims[i] = d;
        if (d != 0 && numel > INT64_MAX / d)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: element count overflows", what);
        numel *= d;
    }
    size_t esize = bnn_dtype_size(dt);
    if ((uint64_t)numel > SIZE_MAX / esize || (uint64_t)numel * esize > (uint64_t)PTRDIFF_MAX)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: byte size overflows", what);
    size_t nbytes = (size_t)numel * esize;
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;

    /* Check what the file provides before allocating what the dims claim. */
    const char *field = NULL;
    size_t have = 0;
    if (external) {
        field = "external";
    } else if (t->has_raw_data) {
        if (t->raw_data.len != nbytes)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: raw_data has %zu bytes, the shape needs %zu",
                            what, t->raw_data.len, nbytes);
        field = "raw_data";
    } else {
        switch (dt) {
        case BNN_F32: field = "float_data"; have = t->n_float_data; break;
        case BNN_F64: field = "double_data"; have = t->n_double_data; break;
        case BNN_I64: field = "int64_data"; have = t->n_int64_data; break;
        case BNN_U32: case BNN_U64: field = "uint64_data"; have = t->n_uint64_data; break;
        default: field = "int32_data"; have = t->n_int32_data; break;
        }
        if (have != (uint64_t)numel)
            return count_mismatch(what, field, have, numel, diag);
    }
    out->dtype = dt;
    out->shape = shape;
    out->nbytes = nbytes;
    if (nbytes == 0)
        return BNN_OK;
    /* raw_data already in host order: no copy (the caller copies it once,
     * into the graph). */
    if (may_borrow && !external && t->has_raw_data && (host_is_little_endian() || esize == 1)) {
        out->data = t->raw_data.data;
        out->borrowed = true;
        return BNN_OK;
    }
    out->data = malloc(nbytes);
    if (!out->data)
        return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory for %zu bytes", what, nbytes);
    bnn_status s = BNN_OK;
    if (external) {
        s = read_external(t, base_dir, what, out->data, nbytes, diag);
        if (s == BNN_OK)
            swap_to_host(out->data, nbytes, esize);
    } else if (t->has_raw_data) {
        if (nbytes) /* empty raw_data has no data pointer */
            memcpy(out->data, t->raw_data.data, nbytes);
        swap_to_host(out->data, nbytes, esize);
    } else {
        size_t n = (size_t)numel;
        for (size_t i = 0; i < n; i++) {
            switch (dt) {
            case BNN_F32: ((float *)out->data)[i] = t->float_data[i]; break;
            case BNN_F64: ((double *)out->data)[i] = t->double_data[i]; break;
            case BNN_I64: ((int64_t *)out->data)[i] = t->int64_data[i]; break;
            case BNN_U64: ((uint64_t *)out->data)[i] = t->uint64_data[i]; break;
            case BNN_U32: ((uint32_t *)out->data)[i] = (uint32_t)t->uint64_data[i]; break;
            case BNN_I32: ((int32_t *)out->data)[i] = t->int32_data[i]; break;
            case BNN_I16: ((int16_t *)out->data)[i] = (int16_t)t->int32_data[i]; break;
            case BNN_U16: case BNN_F16: case BNN_BF16:
                ((uint16_t *)out->data)[i] = (uint16_t)t->int32_data[i]; break;
            case BNN_I8: ((int8_t *)out->data)[i] = (int8_t)t->int32_data[i]; break;
            case BNN_U8: ((uint8_t *)out->data)[i] = (uint8_t)t->int32_data[i]; break;
            case BNN_BOOL: ((uint8_t *)out->data)[i] = t->int32_data[i] != 0; break;
            default: BNN_ASSERT(0);
            }
        }
    }
    if (s != BNN_OK) {
        free(out->data);
        out->data = NULL;
    }
    return s;
}

bnn_status bnn_onnx_decode_tensor(const Onnx__TensorProto *t, const char *base_dir,
                                  const char *what, onnx_data *out, bnn_diag *diag)
{
    return decode(t, base_dir, what, false, out, diag);
}

bnn_status bnn_onnx_view_tensor(const Onnx__TensorProto *t, const char *base_dir,
                                const char *what, onnx_data *out, bnn_diag *diag)
{
    return decode(t, base_dir, what, true, out, diag);
}

void onnx_data_release(onnx_data *d)
{
    if (!d->borrowed)
        free(d->data);
    d->data = NULL;
}
