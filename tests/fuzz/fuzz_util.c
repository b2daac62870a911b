/* Helpers for the fuzz targets (see fuzz_util.h). */
#include "fuzz_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fuzz_check(bnn_status st, const bnn_diag *diag)
{
    if (st != BNN_OK && diag->message[0] == 0) {
        fprintf(stderr, "fuzz: status %d without a message\n", (int)st);
        abort();
    }
}

static char root[256];

static void remove_root(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/empty", root);
    rmdir(path);
    snprintf(path, sizeof path, "%s/data/input", root);
    unlink(path);
    snprintf(path, sizeof path, "%s/data", root);
    rmdir(path);
    rmdir(root);
}

static const char *make_root(void)
{
    if (root[0])
        return root;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/bnnc-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    char path[512];
    snprintf(path, sizeof path, "%s/empty", root);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/data", root);
    mkdir(path, 0700);
    atexit(remove_root);
    return root;
}

const char *fuzz_empty_dir(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/empty", make_root());
    return path;
}

const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    (void)name;
    snprintf(path, sizeof path, "%s/data/input", make_root());
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? path : NULL;
}

/* got (from a row reader) against rows[0..n) of whole (first + i when rows
 * is NULL); aborts on a difference. */
static void same_rows(const char *who, const bnn_tensor *got, const bnn_tensor *whole, const int64_t *rows,
                      int64_t first, int64_t n)
{
    if (got->dtype != whole->dtype || got->shape.rank != whole->shape.rank || got->shape.dims[0] != n) {
        fprintf(stderr, "fuzz: %s gave a different dtype, rank or row count than the whole read\n", who);
        abort();
    }
    size_t row_bytes = n > 0 ? bnn_tensor_nbytes(whole) / (size_t)whole->shape.dims[0] : 0;
    for (int64_t i = 0; row_bytes && i < n; i++) {
        int64_t r = rows ? rows[i] : first + i;
        const uint8_t *want = (const uint8_t *)whole->data + (size_t)r * row_bytes;
        if (memcmp((const uint8_t *)got->data + (size_t)i * row_bytes, want, row_bytes) != 0) {
            fprintf(stderr, "fuzz: %s: row %lld differs from the whole read\n", who, (long long)r);
            abort();
        }
    }
}

void fuzz_check_rows(const char *path, const uint8_t *data, size_t size, bool whole_ok,
                     const bnn_tensor *whole, fuzz_rows_fn rows, fuzz_row_list_fn row_list)
{
    uint8_t a = size > 0 ? data[size - 1] : 0, b = size > 1 ? data[size - 2] : 0;
    int64_t first = a % 4, count = (int64_t)(b % 4) - 1; /* count -1: to the end */
    int64_t total = whole_ok && whole->shape.rank > 0 ? whole->shape.dims[0] : -1;
    bnn_diag diag = {0};
    bnn_tensor got = {0};
    bnn_status st = rows(path, first, count, &got, NULL, &diag);
    fuzz_check(st, &diag);
    int64_t n = count < 0 ? total - first : count;
    bool inside = total >= 0 && first <= total && n >= 0 && first + n <= total;
    if (inside && st != BNN_OK) {
        fprintf(stderr, "fuzz: rows [%lld, +%lld) of a file that reads whole failed: %s\n", (long long)first,
                (long long)count, diag.message);
        abort();
    }
    if (inside)
        same_rows("bnn_*_read_rows", &got, whole, NULL, first, n);
    if (st == BNN_OK)
        bnn_tensor_free(&got);

    /* Rows picked by the bits of a, ascending. */
    int64_t list[8], k = 0;
    for (int i = 0; i < 8; i++)
        if (a >> i & 1)
            list[k++] = i;
    memset(&diag, 0, sizeof diag);
    st = row_list(path, list, k, &got, NULL, &diag);
    fuzz_check(st, &diag);
    inside = total >= 0 && (k == 0 || list[k - 1] < total);
    if (inside && st != BNN_OK) {
        fprintf(stderr, "fuzz: a row list of a file that reads whole failed: %s\n", diag.message);
        abort();
    }
    if (inside)
        same_rows("bnn_*_read_row_list", &got, whole, list, 0, k);
    if (st == BNN_OK)
        bnn_tensor_free(&got);
}
