/* NumPy .npy reading and writing (see bnn_npy.h).
 *
 * The header is a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }
 * parsed here by a small scanner that accepts what numpy writes (any key
 * order, either quote, trailing commas, spaces) and nothing it cannot
 * explain.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_file.h"
#include "bnn_npy.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_FILE ((uint64_t)1 << 40) /* 1 TiB: anything larger is a lie */

static const struct {
    char kind;
    int size;
    bnn_dtype dtype;
} npy_types[] = {
    {'f', 4, BNN_F32}, {'f', 8, BNN_F64}, {'i', 1, BNN_I8},  {'i', 2, BNN_I16},
    {'i', 4, BNN_I32}, {'i', 8, BNN_I64}, {'u', 1, BNN_U8},  {'u', 2, BNN_U16},
    {'u', 4, BNN_U32}, {'u', 8, BNN_U64}, {'b', 1, BNN_BOOL},
};

/* ---- header parsing ----------------------------------------------------- */

typedef struct scanner {
    const char *p, *end;
} scanner;

static void skip_space(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(scanner *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A quoted string into buf (truncated to n-1); false if not a string. */
static bool scan_string(scanner *s, char *buf, size_t n)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return false;
    char q = *s->p++;
    size_t len = 0;
    while (s->p < s->end && *s->p != q) {
        if (len + 1 < n)
            buf[len++] = *s->p;
        s->p++;
    }
    buf[len] = 0;
    if (s->p >= s->end)
        return false;
    s->p++;
    return true;
}

static bool scan_word(scanner *s, const char *word)
{
    skip_space(s);
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
        s->p += n;
        return true;
    }
    return false;
}

static bnn_status scan_shape(scanner *s, bnn_shape *shape, bnn_diag *diag)
{
    shape->rank = 0;
    if (!eat(s, '('))
        return bnn_fail(diag, BNN_ERR_INVALID, "npy header: 'shape' is not a tuple");
    while (!eat(s, ')')) {
        skip_space(s);
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return bnn_fail(diag, BNN_ERR_INVALID, "npy header: bad dimension in 'shape'");
        int64_t v = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return bnn_fail(diag, BNN_ERR_INVALID, "npy header: dimension too large");
            v = v * 10 + (*s->p++ - '0');
        }
        if (s->p < s->end && *s->p == 'L') /* written by Python 2 */
            s->p++;
        if (shape->rank == BNN_MAX_RANK)
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "npy header: more than %d dimensions",
                            BNN_MAX_RANK);
        shape->dims[shape->rank++] = v;
        if (!eat(s, ',')) {
            if (!eat(s, ')'))
                return bnn_fail(diag, BNN_ERR_INVALID, "npy header: bad 'shape' tuple");
            break;
        }
    }
    return BNN_OK;
}

static bnn_status parse_descr(const char *descr, bnn_dtype *dtype, bnn_diag *diag)
{
    size_t len = strlen(descr);
    if (len < 2)
        return bnn_fail(diag, BNN_ERR_INVALID, "npy header: bad dtype '%s'", descr);
    char order = descr[0];
    const char *rest = descr + 1;
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        order = '=';
        rest = descr;
    }
    char kind = rest[0];
    if (kind == 'O')
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "object arrays (pickled Python objects) are not supported; save a "
                        "numeric array");
    char *endp;
    errno = 0;
    long size = strtol(rest + 1, &endp, 10);
    if (errno || *endp || endp == rest + 1 || size <= 0)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "npy dtype '%s' is not supported", descr);
    if (order == '>' && size > 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "big-endian data (dtype '%s') is not supported; convert with "
                        "arr.astype(arr.dtype.newbyteorder('<'))", descr);
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].kind == kind && npy_types[i].size == size) {
            *dtype = npy_types[i].dtype;
            return BNN_OK;
        }
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                    "npy dtype '%s' is not supported (f4, f8, i1-i8, u1-u8, b1 are)", descr);
}

static bnn_status parse_header(const char *text, size_t len, bnn_dtype *dtype, bnn_shape *shape,
                               bnn_diag *diag)
{
    scanner s = {text, text + len};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!eat(&s, '{'))
        return bnn_fail(diag, BNN_ERR_INVALID, "npy header is not a dict");
    while (!eat(&s, '}')) {
        char key[64];
        if (!scan_string(&s, key, sizeof key) || !eat(&s, ':'))
            return bnn_fail(diag, BNN_ERR_INVALID, "npy header: expected 'key': value");
        if (strcmp(key, "descr") == 0) {
            char descr[64];
            skip_space(&s);
            if (s.p < s.end && s.p[0] == '[')
                return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                                "structured arrays (record dtypes) are not supported");
            if (!scan_string(&s, descr, sizeof descr))
                return bnn_fail(diag, BNN_ERR_INVALID, "npy header: 'descr' is not a string");
            BNN_TRY(parse_descr(descr, dtype, diag));
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (scan_word(&s, "True"))
                return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                                "Fortran-order arrays are not supported; save "
                                "np.ascontiguousarray(a)");
            if (!scan_word(&s, "False"))
                return bnn_fail(diag, BNN_ERR_INVALID, "npy header: bad 'fortran_order'");
            have_order = true;
        } else if (strcmp(key, "shape") == 0) {
            BNN_TRY(scan_shape(&s, shape, diag));
            have_shape = true;
        } else {
            return bnn_fail(diag, BNN_ERR_INVALID, "npy header: unknown key '%s'", key);
        }
        if (!eat(&s, ',')) {
            if (!eat(&s, '}'))
                return bnn_fail(diag, BNN_ERR_INVALID, "npy header: expected ',' or '}'");
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return bnn_fail(diag, BNN_ERR_INVALID, "npy header lacks '%s'",
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return BNN_OK;
}

/* ---- reading ------------------------------------------------------------ */

bnn_status bnn_npy_read_buffer(const void *data, size_t size, bnn_tensor *out, bnn_diag *diag)
{
    const unsigned char *b = data;
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(b, NPY_MAGIC, 6) != 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "not a .npy file (no \\x93NUMPY magic)");
    int major = b[6];
    size_t header_len, at;
    if (major == 1) {
        header_len = (size_t)b[8] | (size_t)b[9] << 8;
        at = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return bnn_fail(diag, BNN_ERR_INVALID, "truncated .npy header");
        header_len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        at = 12;
    } else {
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, ".npy format version %d.%d is not supported",
                        major, b[7]);
    }
    if (header_len > size - at)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "truncated .npy file: the header claims %zu bytes, %zu are left",
                        header_len, size - at);
    bnn_dtype dtype = BNN_UNDEFINED;
    bnn_shape shape = {0};
    BNN_TRY(parse_header((const char *)b + at, header_len, &dtype, &shape, diag));
    at += header_len;
    /* The shape must explain exactly the bytes that follow. */
    size_t elem = bnn_dtype_size(dtype);
    uint64_t n = 1;
    for (int i = 0; i < shape.rank; i++) {
        uint64_t d = (uint64_t)shape.dims[i];
        if (d != 0 && n > NPY_MAX_FILE / d)
            return bnn_fail(diag, BNN_ERR_INVALID, ".npy shape is absurdly large");
        n *= d;
    }
    if (n > NPY_MAX_FILE / elem)
        return bnn_fail(diag, BNN_ERR_INVALID, ".npy shape is absurdly large");
    uint64_t want = n * elem, have = size - at;
    char buf[256];
    if (have < want)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "truncated .npy data: %s needs %llu bytes, the file has %llu",
                        bnn_shape_format(&shape, dtype, buf, sizeof buf),
                        (unsigned long long)want, (unsigned long long)have);
    if (have > want)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        ".npy header does not match the data: %s needs %llu bytes, the file "
                        "has %llu", bnn_shape_format(&shape, dtype, buf, sizeof buf),
                        (unsigned long long)want, (unsigned long long)have);
    BNN_TRY(bnn_tensor_alloc(out, dtype, &shape, diag));
    if (want)
        memcpy(out->data, b + at, (size_t)want);
    if (dtype == BNN_BOOL) {
        unsigned char *v = out->data;
        for (uint64_t i = 0; i < n; i++)
            v[i] = v[i] != 0;
    }
    return BNN_OK;
}

bnn_status bnn_npy_read_file(const char *path, bnn_tensor *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    void *buf;
    size_t size;
    BNN_TRY(bnn_read_file(path, NPY_MAX_FILE, &buf, &size, diag));
    bnn_status s = bnn_npy_read_buffer(buf, size, out, diag);
    free(buf);
    return s;
}

/* Rows [first, first + count) when list is NULL, else rows list[0..count)
 * (ascending); see bnn_npy_read_rows and bnn_npy_read_row_list. */
static bnn_status read_rows(const char *path, const int64_t *list, int64_t first, int64_t count,
                            bnn_tensor *out, int64_t *total_rows, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return bnn_fail(diag, BNN_ERR_IO, "cannot open: %s", strerror(errno));
    bnn_status st = BNN_OK;
    unsigned char pre[12];
    char *header = NULL;
    struct stat info;
    size_t header_len = 0, at = 0;
    ssize_t got = 0;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))
        st = bnn_fail(diag, BNN_ERR_IO, "not a regular file");
    else if ((got = pread(fd, pre, sizeof pre, 0)) < 10 || memcmp(pre, NPY_MAGIC, 6) != 0)
        st = bnn_fail(diag, BNN_ERR_INVALID, "not a .npy file (no \\x93NUMPY magic)");
    else if ((pre[6] == 2 || pre[6] == 3) && got < 12)
        st = bnn_fail(diag, BNN_ERR_INVALID, "truncated .npy header");
    else if (pre[6] == 1) {
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8;
        at = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        header_len = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
                     (size_t)pre[11] << 24;
        at = 12;
    } else {
        st = bnn_fail(diag, BNN_ERR_UNSUPPORTED, ".npy format version %d.%d is not supported",
                      pre[6], pre[7]);
    }
    uint64_t size = st == BNN_OK ? (uint64_t)info.st_size : 0;
    if (st == BNN_OK && header_len > size - at)
        st = bnn_fail(diag, BNN_ERR_INVALID,
                      "truncated .npy file: the header claims %zu bytes, %llu are left",
                      header_len, (unsigned long long)(size - at));
    if (st == BNN_OK && !(header = malloc(header_len + 1)))
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    if (st == BNN_OK && pread(fd, header, header_len, (off_t)at) != (ssize_t)header_len)
        st = bnn_fail(diag, BNN_ERR_IO, "cannot read the .npy header");
    bnn_dtype dtype = BNN_UNDEFINED;
    bnn_shape shape = {0};
    if (st == BNN_OK)
        st = parse_header(header, header_len, &dtype, &shape, diag);
    if (st == BNN_OK && shape.rank < 1)
        st = bnn_fail(diag, BNN_ERR_SHAPE, "a 0-d array has no rows");
    at += header_len;
    /* The shape must explain exactly the bytes that follow, as when the
     * whole file is read. */
    uint64_t row = st == BNN_OK ? bnn_dtype_size(dtype) : 0, rows = 0;
    bool absurd = false; /* a row over NPY_MAX_FILE: refused unless there are no rows */
    bool empty = false;  /* a zero dim past the first: rows of no bytes, however large the rest */
    for (int i = 1; st == BNN_OK && i < shape.rank; i++)
        empty = empty || shape.dims[i] == 0;
    for (int i = 1; st == BNN_OK && !empty && !absurd && i < shape.rank; i++) {
        uint64_t d = (uint64_t)shape.dims[i];
        absurd = row > NPY_MAX_FILE / d;
        row *= d;
    }
    if (empty)
        row = 0;
    if (st == BNN_OK && absurd && shape.dims[0] != 0)
        st = bnn_fail(diag, BNN_ERR_INVALID, ".npy shape is absurdly large");
    if (absurd)
        row = 0; /* no rows: nothing to read, whatever their size */
    if (st == BNN_OK) {
        rows = (uint64_t)shape.dims[0];
        char buf[256];
        if ((row && rows > NPY_MAX_FILE / row) || rows * row != size - at)
            st = bnn_fail(diag, BNN_ERR_INVALID, ".npy header does not match the data: %s needs "
                          "%llu bytes, the file has %llu",
                          bnn_shape_format(&shape, dtype, buf, sizeof buf),
                          (unsigned long long)(rows * row), (unsigned long long)(size - at));
    }
    int64_t n = (int64_t)rows;
    if (st == BNN_OK && total_rows)
        *total_rows = n;
    if (st == BNN_OK && count < 0)
        count = first <= n ? n - first : 0;
    if (st == BNN_OK && !list && (first < 0 || first > n || count > n - first))
        st = bnn_fail(diag, BNN_ERR_INVALID, "rows %lld..%lld asked for, the array has %lld",
                      (long long)first, (long long)(first + count), (long long)n);
    for (int64_t i = 0; st == BNN_OK && list && i < count; i++)
        if (list[i] < 0 || list[i] >= n || (i > 0 && list[i] <= list[i - 1]))
            st = bnn_fail(diag, BNN_ERR_INVALID, "row %lld asked for (rows must ascend within "
                          "the array's %lld)", (long long)list[i], (long long)n);
    if (st == BNN_OK) {
        shape.dims[0] = count;
        st = bnn_tensor_alloc(out, dtype, &shape, diag);
    }
    size_t want = st == BNN_OK ? (size_t)count * (size_t)row : 0;
    /* one pread per run of consecutive rows */
    for (int64_t i = 0; st == BNN_OK && i < count;) {
        int64_t start = list ? list[i] : first, run = list ? 1 : count;
        while (list && i + run < count && list[i + run] == start + run)
            run++;
        size_t bytes = (size_t)run * (size_t)row, done = 0;
        char *dst = (char *)out->data + (size_t)i * (size_t)row;
        while (st == BNN_OK && done < bytes) {
            ssize_t got = pread(fd, dst + done, bytes - done,
                                (off_t)(at + (uint64_t)start * row + done));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                st = bnn_fail(diag, BNN_ERR_IO, "read failed: %s", got < 0 ? strerror(errno)
                                                                           : "the file shrank");
            else
                done += (size_t)got;
        }
        i += run;
    }
    if (st == BNN_OK && dtype == BNN_BOOL) {
        unsigned char *v = out->data;
        for (size_t i = 0; i < want; i++)
            v[i] = v[i] != 0;
    }
    free(header);
    close(fd);
    if (st != BNN_OK)
        bnn_tensor_free(out);
    return st;
}

bnn_status bnn_npy_read_rows(const char *path, int64_t first, int64_t count, bnn_tensor *out,
                             int64_t *total_rows, bnn_diag *diag)
{
    return read_rows(path, NULL, first, count, out, total_rows, diag);
}

bnn_status bnn_npy_read_row_list(const char *path, const int64_t *rows, int64_t count,
                                 bnn_tensor *out, int64_t *total_rows, bnn_diag *diag)
{
    return read_rows(path, rows, 0, count, out, total_rows, diag);
}

/* ---- writing ------------------------------------------------------------ */

static const char *npy_descr(bnn_dtype dtype)
{
    switch (dtype) {
    case BNN_F32: return "<f4";
    case BNN_F64: return "<f8";
    case BNN_I8: return "|i1";
    case BNN_I16: return "<i2";
    case BNN_I32: return "<i4";
    case BNN_I64: return "<i8";
    case BNN_U8: return "|u1";
    case BNN_U16: return "<u2";
    case BNN_U32: return "<u4";
    case BNN_U64: return "<u8";
    case BNN_BOOL: return "|b1";
    default: return NULL;
    }
}

bnn_status bnn_npy_write_buffer(const bnn_tensor *t, void **data, size_t *size, bnn_diag *diag)
{
    *data = NULL;
    *size = 0;
    const char *descr = npy_descr(t->dtype);
    if (!descr)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "cannot write element type %s to .npy",
                        bnn_dtype_name(t->dtype) ? bnn_dtype_name(t->dtype) : "?");
    if (t->shape.rank < 0 || t->shape.rank > BNN_MAX_RANK || !bnn_shape_is_concrete(&t->shape))
        return bnn_fail(diag, BNN_ERR_INVALID, "cannot write a tensor without a concrete shape");
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr);
    for (int i = 0; i < t->shape.rank; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s",
                        (long long)t->shape.dims[i], t->shape.rank > 1 && i + 1 < t->shape.rank ? " " : "");
    if (t->shape.rank > 1) /* numpy writes (2, 3) but (5,) */
        len--;
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* Pad with spaces and a newline so the data starts 64-byte aligned. */
    size_t pre = 10, total_header = pre + (size_t)len + 1;
    total_header = (total_header + 63) & ~(size_t)63;
    size_t header_len = total_header - pre;
    if (header_len > 65535)
        return bnn_fail(diag, BNN_ERR_INVALID, "npy header too long");
    size_t nbytes = bnn_tensor_nbytes(t);
    if (nbytes > SIZE_MAX - total_header)
        return bnn_fail(diag, BNN_ERR_NOMEM, "tensor too large to write");
    unsigned char *b = malloc(total_header + nbytes);
    if (!b)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory writing .npy");
    memcpy(b, NPY_MAGIC, 6);
    b[6] = 1;
    b[7] = 0;
    b[8] = (unsigned char)(header_len & 0xff);
    b[9] = (unsigned char)(header_len >> 8);
    memset(b + pre, ' ', header_len);
    memcpy(b + pre, dict, (size_t)len);
    b[total_header - 1] = '\n';
    if (nbytes)
        memcpy(b + total_header, t->data, nbytes);
    *data = b;
    *size = total_header + nbytes;
    return BNN_OK;
}

bnn_status bnn_npy_write_file(const char *path, const bnn_tensor *t, bnn_diag *diag)
{
    void *data;
    size_t size;
    BNN_TRY(bnn_npy_write_buffer(t, &data, &size, diag));
    bnn_status st = bnn_write_file(path, data, size, diag);
    free(data);
    return st;
}

/* ---- conversion --------------------------------------------------------- */

static double load(const void *p, bnn_dtype dt, int64_t i)
{
    switch (dt) {
    case BNN_F32: return ((const float *)p)[i];
    case BNN_F64: return ((const double *)p)[i];
    case BNN_I8: return ((const int8_t *)p)[i];
    case BNN_I16: return ((const int16_t *)p)[i];
    case BNN_I32: return ((const int32_t *)p)[i];
    case BNN_I64: return (double)((const int64_t *)p)[i];
    case BNN_U8: return ((const uint8_t *)p)[i];
    case BNN_U16: return ((const uint16_t *)p)[i];
    case BNN_U32: return ((const uint32_t *)p)[i];
    case BNN_U64: return (double)((const uint64_t *)p)[i];
    case BNN_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
    }
}

static double clamp(double v, double lo, double hi)
{
    return v != v ? 0 : v < lo ? lo : v > hi ? hi : v;
}

/* Integers saturate (NaN gives 0): a cast out of range would be undefined. */
static void store(void *p, bnn_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case BNN_I8: v = clamp(v, INT8_MIN, INT8_MAX); break;
    case BNN_I16: v = clamp(v, INT16_MIN, INT16_MAX); break;
    case BNN_I32: v = clamp(v, INT32_MIN, INT32_MAX); break;
    case BNN_I64: v = clamp(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case BNN_U8: v = clamp(v, 0, UINT8_MAX); break;
    case BNN_U16: v = clamp(v, 0, UINT16_MAX); break;
    case BNN_U32: v = clamp(v, 0, UINT32_MAX); break;
    case BNN_U64: v = clamp(v, 0, 18446744073709549568.0); break;
    default: break;
    }
    switch (dt) {
    case BNN_F32: ((float *)p)[i] = (float)v; break;
    case BNN_F64: ((double *)p)[i] = v; break;
    case BNN_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case BNN_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    case BNN_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case BNN_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    case BNN_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case BNN_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case BNN_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case BNN_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case BNN_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: break;
    }
}

bnn_status bnn_tensor_convert(const bnn_tensor *in, bnn_dtype to, bnn_tensor *out, bnn_diag *diag)
{
    if (!npy_descr(in->dtype) || !npy_descr(to))
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "cannot convert %s to %s",
                        bnn_dtype_name(in->dtype) ? bnn_dtype_name(in->dtype) : "?",
                        bnn_dtype_name(to) ? bnn_dtype_name(to) : "?");
    BNN_TRY(bnn_tensor_alloc(out, to, &in->shape, diag));
    int64_t n = bnn_tensor_numel(in);
    if (in->dtype == BNN_I64 && to == BNN_I64) {
        memcpy(out->data, in->data, (size_t)n * 8);
        return BNN_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = load(in->data, in->dtype, i);
        store(out->data, to, i, v);
    }
    return BNN_OK;
}
