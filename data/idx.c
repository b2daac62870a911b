/* Data sets: MNIST's IDX files, plain or gzip'd. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "bnn_data.h"

/* The whole of a file, inflated when it is gzip'd.  gzread reads plain files
 * as they are, so one path serves both. Caps the size so a hostile .gz cannot
 * inflate without bound. */
static bnn_status read_all(const char *path, unsigned char **out, size_t *size, bnn_diag *diag)
{
    const size_t limit = (size_t)1 << 32;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        gzclose(f);
        return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= limit) {
                free(buf);
                gzclose(f);
                return bnn_fail(diag, BNN_ERR_INVALID, "%s: larger than 4 GiB", path);
            }
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                gzclose(f);
                return bnn_fail(diag, BNN_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = grown;
            cap *= 2;
        }
        size_t want = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        int got = gzread(f, buf + len, (unsigned)want);
        if (got < 0) {
            int err;
            const char *msg = gzerror(f, &err);
            bnn_fail(diag, BNN_ERR_INVALID, "%s: corrupt or truncated gzip data (%s)", path, msg);
            free(buf);
            gzclose(f);
            return BNN_ERR_INVALID;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    gzclose(f);
    *out = buf;
    *size = len;
    return BNN_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The element type of an IDX file's type byte (0x08 u8 ... 0x0E f64), or a
 * message naming PATH and the byte. */
static bnn_status idx_dtype(unsigned code, const char *path, bnn_dtype *out, bnn_diag *diag)
{
    switch (code) {
    case 0x08: *out = BNN_U8; return BNN_OK;
    case 0x09: *out = BNN_I8; return BNN_OK;
    case 0x0B: *out = BNN_I16; return BNN_OK;
    case 0x0C: *out = BNN_I32; return BNN_OK;
    case 0x0D: *out = BNN_F32; return BNN_OK;
    case 0x0E: *out = BNN_F64; return BNN_OK;
    default:
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: unknown IDX element type 0x%02x", path, code);
    }
}

bnn_status bnn_idx_read(const char *path, bnn_tensor *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    unsigned char *buf = NULL;
    size_t size = 0;
    BNN_TRY(read_all(path, &buf, &size, diag));
    bnn_status st = BNN_OK;
    if (size < 4 || buf[0] != 0 || buf[1] != 0) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: not an IDX file (bad magic)", path);
        goto done;
    }
    bnn_dtype dtype = BNN_UNDEFINED;
    st = idx_dtype(buf[2], path, &dtype, diag);
    if (st != BNN_OK)
        goto done;
    int rank = buf[3];
    if (rank < 1 || rank > BNN_MAX_RANK) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: IDX rank %d is outside 1..%d", path, rank,
                      BNN_MAX_RANK);
        goto done;
    }
    size_t header = 4 + 4 * (size_t)rank;
    if (size < header) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: truncated IDX header", path);
        goto done;
    }
    bnn_shape shape = {.rank = rank};
    uint64_t count = 1;
    size_t elem = bnn_dtype_size(dtype);
    uint64_t have = (size - header) / elem;
    bool too_big = false, empty = false;
    for (int i = 0; i < rank; i++) {
        shape.dims[i] = be32(buf + 4 + 4 * i);
        empty = empty || shape.dims[i] == 0;
    }
    for (int i = 0; i < rank && !empty && !too_big; i++) {
        uint64_t d = (uint64_t)shape.dims[i];
        if (count > have / d)
            too_big = true; /* more than the file holds; stop before it overflows */
        else
            count *= d;
    }
    if (empty)
        count = 0; /* a zero dim: no elements, however large the others */
    if (too_big || count * elem != size - header) {
        st = bnn_fail(diag, BNN_ERR_INVALID,
                      "%s: IDX header promises more or less data than the file holds (%zu bytes after the header)",
                      path, size - header);
        goto done;
    }
    st = bnn_tensor_alloc(out, dtype, &shape, diag);
    if (st != BNN_OK)
        goto done;
    /* IDX stores multi-byte elements big-endian. */
    const unsigned char *src = buf + header;
    unsigned char *dst = out->data;
    for (uint64_t i = 0; i < count; i++)
        for (size_t b = 0; b < elem; b++)
            dst[i * elem + b] = src[i * elem + (elem - 1 - b)];
done:
    free(buf);
    return st;
}

/* Exactly n bytes from f, or a message saying how the file fell short. */
static bnn_status gz_read_exact(gzFile f, void *buf, size_t n, const char *path, const char *what,
                                bnn_diag *diag)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        int got = gzread(f, (char *)buf + done, (unsigned)want);
        if (got < 0) {
            int err;
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: corrupt or truncated gzip data (%s)",
                            path, gzerror(f, &err));
        }
        if (got == 0)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: the file ends inside %s", path, what);
        done += (size_t)got;
    }
    return BNN_OK;
}

/* Rows [first, first + count) when list is NULL, else rows list[0..count)
 * (ascending); see bnn_idx_read_rows and bnn_idx_read_row_list. */
static bnn_status read_rows(const char *path, const int64_t *list, int64_t first, int64_t count,
                            bnn_tensor *out, int64_t *total_rows, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open", path);
    /* A large buffer pays off on a large file only (zlib allocates three). */
    struct stat info;
    if (stat(path, &info) == 0 && info.st_size > (1 << 20))
        gzbuffer(f, 1 << 17);
    unsigned char head[4 + 4 * BNN_MAX_RANK];
    bnn_status st = gz_read_exact(f, head, 4, path, "the IDX header", diag);
    bnn_dtype dtype = BNN_UNDEFINED;
    int rank = 0;
    if (st == BNN_OK && (head[0] != 0 || head[1] != 0))
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: not an IDX file (bad magic)", path);
    if (st == BNN_OK) {
        st = idx_dtype(head[2], path, &dtype, diag);
        rank = head[3];
    }
    if (st == BNN_OK && (rank < 1 || rank > BNN_MAX_RANK))
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: IDX rank %d is outside 1..%d", path, rank,
                      BNN_MAX_RANK);
    if (st == BNN_OK)
        st = gz_read_exact(f, head + 4, 4 * (size_t)rank, path, "the IDX header", diag);
    bnn_shape shape = {.rank = rank};
    uint64_t row_elems = 1;
    size_t elem = dtype == BNN_UNDEFINED ? 1 : bnn_dtype_size(dtype);
    bool absurd = false; /* rows over 2^40 bytes: refused unless there are none */
    for (int i = 0; st == BNN_OK && i < rank; i++)
        shape.dims[i] = be32(head + 4 + 4 * i);
    bool empty = false; /* a zero dim past the first: rows of no bytes, however large the rest */
    for (int i = 1; st == BNN_OK && i < rank; i++)
        empty = empty || shape.dims[i] == 0;
    for (int i = 1; st == BNN_OK && !empty && !absurd && i < rank; i++) {
        row_elems *= (uint64_t)shape.dims[i];
        absurd = row_elems > ((uint64_t)1 << 40) / elem;
    }
    if (empty)
        row_elems = 0;
    int64_t n = st == BNN_OK ? shape.dims[0] : 0;
    if (st == BNN_OK && absurd && n > 0)
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: IDX rows are absurdly large", path);
    if (absurd)
        row_elems = 0; /* no rows: nothing to read, whatever their size */
    if (st == BNN_OK && total_rows)
        *total_rows = n;
    if (st == BNN_OK && count < 0)
        count = first <= n ? n - first : 0;
    if (st == BNN_OK && !list && (first < 0 || first > n || count > n - first))
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: rows %lld..%lld asked for, the file has %lld",
                      path, (long long)first, (long long)(first + count), (long long)n);
    for (int64_t i = 0; st == BNN_OK && list && i < count; i++)
        if (list[i] < 0 || list[i] >= n || (i > 0 && list[i] <= list[i - 1]))
            st = bnn_fail(diag, BNN_ERR_INVALID, "%s: row %lld asked for (rows must ascend "
                          "within the file's %lld)", path, (long long)list[i], (long long)n);
    size_t row_bytes = (size_t)row_elems * elem;
    /* Before allocating what the header promises: can the file hold it?  A
     * plain file holds its size in bytes; deflate expands at most 1032-fold. */
    int64_t last = list ? (count > 0 ? list[count - 1] : -1) : first + count - 1;
    if (st == BNN_OK && last >= 0 && row_bytes > 0 && stat(path, &info) == 0) {
        uint64_t head_bytes = 4 + 4 * (uint64_t)rank;
        uint64_t can = (uint64_t)info.st_size * (gzdirect(f) ? 1 : 1032);
        if (can < head_bytes || (uint64_t)last + 1 > (can - head_bytes) / row_bytes)
            st = bnn_fail(diag, BNN_ERR_INVALID,
                          "%s: the file ends before row %lld (its header promises %lld rows of %zu bytes)",
                          path, (long long)last, (long long)n, row_bytes);
    }
    if (st == BNN_OK) {
        shape.dims[0] = count;
        st = bnn_tensor_alloc(out, dtype, &shape, diag);
    }
    /* Runs of consecutive rows are one read; a gap is a forward seek (for a
     * gzip'd file, inflating what lies between). */
    int64_t next = 0;
    for (int64_t i = 0; st == BNN_OK && i < count;) {
        int64_t row = list ? list[i] : first, run = list ? 1 : count;
        while (list && i + run < count && list[i + run] == row + run)
            run++;
        if (row != next &&
            gzseek(f, (z_off_t)(4 + 4 * (size_t)rank + (size_t)row * row_bytes), SEEK_SET) < 0) {
            int err;
            st = bnn_fail(diag, BNN_ERR_INVALID, "%s: the file ends before row %lld (%s)", path,
                          (long long)row, gzerror(f, &err));
            break;
        }
        st = gz_read_exact(f, (char *)out->data + (size_t)i * row_bytes, (size_t)run * row_bytes,
                           path, "the rows asked for", diag);
        next = row + run;
        i += run;
    }
    gzclose(f);
    if (st != BNN_OK) {
        bnn_tensor_free(out);
        return st;
    }
    /* IDX stores multi-byte elements big-endian. */
    unsigned char *d = out->data;
    uint64_t total = (uint64_t)count * row_elems;
    for (uint64_t i = 0; elem > 1 && i < total; i++)
        for (size_t b = 0; b < elem / 2; b++) {
            unsigned char tmp = d[i * elem + b];
            d[i * elem + b] = d[i * elem + elem - 1 - b];
            d[i * elem + elem - 1 - b] = tmp;
        }
    return BNN_OK;
}

bnn_status bnn_idx_read_rows(const char *path, int64_t first, int64_t count, bnn_tensor *out,
                             int64_t *total_rows, bnn_diag *diag)
{
    return read_rows(path, NULL, first, count, out, total_rows, diag);
}

bnn_status bnn_idx_read_row_list(const char *path, const int64_t *rows, int64_t count,
                                 bnn_tensor *out, int64_t *total_rows, bnn_diag *diag)
{
    return read_rows(path, rows, 0, count, out, total_rows, diag);
}

/* The path of a standard MNIST file in dir, with or without .gz. */
static bool find_file(const char *dir, const char *stem, char *path, size_t n)
{
    snprintf(path, n, "%s/%s.gz", dir, stem);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(path, n, "%s/%s", dir, stem);
        f = fopen(path, "rb");
    }
    if (f)
        fclose(f);
    return f != NULL;
}

static bnn_status mnist_load(const char *dir, bnn_mnist_split split, float scale, float shift,
                             const int64_t *list, int64_t first, int64_t count, bnn_dataset *out,
                             int64_t *total, bnn_diag *diag);

bnn_status bnn_mnist_load(const char *dir, bnn_mnist_split split, float scale, float shift,
                          bnn_dataset *out, bnn_diag *diag)
{
    return mnist_load(dir, split, scale, shift, NULL, 0, -1, out, NULL, diag);
}

static bnn_status mnist_load(const char *dir, bnn_mnist_split split, float scale, float shift,
                             const int64_t *list, int64_t first, int64_t count, bnn_dataset *out,
                             int64_t *total, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    const char *prefix = split == BNN_MNIST_TRAIN ? "train" : "t10k";
    char stem[64], images_path[4096], labels_path[4096];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    if (!find_file(dir, stem, images_path, sizeof images_path))
        return bnn_fail(diag, BNN_ERR_IO, "%s: no %s[.gz] here", dir, stem);
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    if (!find_file(dir, stem, labels_path, sizeof labels_path))
        return bnn_fail(diag, BNN_ERR_IO, "%s: no %s[.gz] here", dir, stem);

    bnn_tensor images, labels;
    int64_t n_images = 0, n_labels = 0;
    bnn_status st;
    if (!list && first == 0 && count < 0) {
        /* the whole split: the whole-file reader also checks the sizes exactly */
        BNN_TRY(bnn_idx_read(images_path, &images, diag));
        st = bnn_idx_read(labels_path, &labels, diag);
        n_images = images.shape.dims[0];
        n_labels = st == BNN_OK ? labels.shape.dims[0] : 0;
    } else {
        BNN_TRY(read_rows(images_path, list, first, count, &images, &n_images, diag));
        st = read_rows(labels_path, list, first, count, &labels, &n_labels, diag);
    }
    if (st != BNN_OK) {
        bnn_tensor_free(&images);
        return st;
    }
    if (images.dtype != BNN_U8 || images.shape.rank != 3 || labels.dtype != BNN_U8 ||
        labels.shape.rank != 1) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: expected u8 images [n,rows,cols] and u8 labels [n]",
                      dir);
    } else if (n_images != n_labels) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: %lld images but %lld labels", dir,
                      (long long)n_images, (long long)n_labels);
    }
    if (st == BNN_OK && total)
        *total = n_images;
    int64_t n = images.shape.dims[0];
    if (st == BNN_OK) {
        bnn_shape xs = {4, {n, 1, images.shape.dims[1], images.shape.dims[2]}};
        bnn_shape ys = {1, {n}};
        st = bnn_tensor_alloc(&out->x, BNN_F32, &xs, diag);
        if (st == BNN_OK)
            st = bnn_tensor_alloc(&out->y, BNN_I64, &ys, diag);
    }
    if (st == BNN_OK) {
        const uint8_t *px = images.data;
        float *x = out->x.data;
        int64_t total = bnn_tensor_numel(&images);
        for (int64_t i = 0; i < total; i++)
            x[i] = (float)px[i] * scale + shift;
        const uint8_t *lb = labels.data;
        int64_t *y = out->y.data;
        for (int64_t i = 0; i < n; i++) {
            if (lb[i] > 9) {
                st = bnn_fail(diag, BNN_ERR_INVALID, "%s: label %d of example %lld is not a digit",
                              labels_path, lb[i], (long long)(list ? list[i] : first + i));
                break;
            }
            y[i] = lb[i];
        }
        out->n = n;
    }
    bnn_tensor_free(&images);
    bnn_tensor_free(&labels);
    if (st != BNN_OK)
        bnn_dataset_free(out);
    return st;
}

bnn_status bnn_mnist_load_rows(const char *dir, bnn_mnist_split split, float scale, float shift,
                               int64_t first, int64_t count, bnn_dataset *out, int64_t *total,
                               bnn_diag *diag)
{
    return mnist_load(dir, split, scale, shift, NULL, first, count, out, total, diag);
}

bnn_status bnn_mnist_load_row_list(const char *dir, bnn_mnist_split split, float scale,
                                   float shift, const int64_t *rows, int64_t count,
                                   bnn_dataset *out, int64_t *total, bnn_diag *diag)
{
    return mnist_load(dir, split, scale, shift, rows, 0, count, out, total, diag);
}

void bnn_dataset_free(bnn_dataset *ds)
{
    bnn_tensor_free(&ds->x);
    bnn_tensor_free(&ds->y);
    ds->n = 0;
}

void bnn_dataset_gather(const bnn_dataset *ds, const int64_t *idx, int64_t count, bnn_tensor *x,
                        bnn_tensor *y)
{
    size_t xrow = bnn_tensor_nbytes(&ds->x) / (size_t)ds->n;
    size_t yrow = bnn_tensor_nbytes(&ds->y) / (size_t)ds->n;
    for (int64_t i = 0; i < count; i++) {
        BNN_ASSERT(idx[i] >= 0 && idx[i] < ds->n);
        memcpy((char *)x->data + (size_t)i * xrow, (const char *)ds->x.data + (size_t)idx[i] * xrow,
               xrow);
        memcpy((char *)y->data + (size_t)i * yrow, (const char *)ds->y.data + (size_t)idx[i] * yrow,
               yrow);
    }
}
