/* Output files (ir/bnn_file.h): the streamed writer bnnc convert packs models
 * into, and bnn_write_file on top of it.  Bytes arrive whole and in order
 * across the writer's buffer, and a failure (a file size limit standing in
 * for a full disk, an abort) leaves the target as it was and no temporary
 * file behind. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bnn_file.h"

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/bnnc-file-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* Files in dir, temporary ones included. */
static int files_in_dir(void)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    char path[128];
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* bytes[i] = a function of i, for n bytes */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n + 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
    return p;
}

Test(file, writer_streams_every_byte_in_order)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    /* small pieces around the 1 MiB buffer, then one bigger than it */
    size_t big = (3u << 20) + 7, total = 0;
    unsigned char *want = pattern(5u << 20, 1);
    bnn_file_writer *w = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_file_writer_open(path, &w, &diag), BNN_OK, "%s", diag.message);
    for (size_t piece = 1; total + piece < (1u << 20) + 4096; piece = piece * 3 % 4093 + 1) {
        bnn_file_writer_append(w, want + total, piece);
        total += piece;
    }
    bnn_file_writer_append(w, want + total, 0);
    bnn_file_writer_append(w, want + total, big);
    total += big;
    cr_assert_eq(access(path, F_OK), -1, "the target exists before the commit");
    cr_assert_eq(bnn_file_writer_commit(w, &diag), BNN_OK, "%s", diag.message);
    void *got = NULL;
    size_t size = 0;
    cr_assert_eq(bnn_read_file(path, 1u << 30, &got, &size, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(size, total);
    cr_assert_eq(memcmp(got, want, total), 0);
    cr_assert_eq(files_in_dir(), 1, "a temporary file was left behind");
    free(got);
    free(want);
    remove_dir();
}

Test(file, writer_abort_and_failure_leave_the_target_alone)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_write_file(path, "old", 3, &diag), BNN_OK, "%s", diag.message);
    bnn_file_writer *w = NULL;
    cr_assert_eq(bnn_file_writer_open(path, &w, &diag), BNN_OK);
    bnn_file_writer_append(w, "new bytes", 9);
    bnn_file_writer_abort(w);
    cr_assert_eq(files_in_dir(), 1);
    /* a full disk: a file size limit of 64 KiB against 3 MiB of output */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {64 * 1024, 64 * 1024};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    unsigned char *data = pattern(3u << 20, 2);
    cr_assert_eq(bnn_file_writer_open(path, &w, &diag), BNN_OK);
    for (int i = 0; i < 3; i++)
        bnn_file_writer_append(w, data + (i << 20), 1u << 20);
    cr_assert_eq(bnn_file_writer_commit(w, &diag), BNN_ERR_IO);
    cr_assert(strstr(diag.message, "cannot write"), "%s", diag.message);
    cr_assert_eq(bnn_write_file(path, data, 3u << 20, &diag), BNN_ERR_IO);
    void *got = NULL;
    size_t size = 0;
    cr_assert_eq(bnn_read_file(path, 100, &got, &size, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(size, 3);
    cr_assert_eq(memcmp(got, "old", 3), 0);
    cr_assert_eq(files_in_dir(), 1, "a temporary file was left behind");
    free(got);
    free(data);
    /* a folder that does not exist: refused at open, naming why */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/out.onnx", dir);
    cr_assert_eq(bnn_file_writer_open(missing, &w, &diag), BNN_ERR_IO);
    cr_assert(strstr(diag.message, "temporary file"), "%s", diag.message);
    remove_dir();
}

/* bnn_map_file: a regular file mapped, with the bytes bnn_read_file reads;
 * an empty file, a directory, a missing file and one over the cap as
 * bnn_read_file has them (errors included). */
Test(file, map_file_gives_the_bytes_read_file_does, .init = make_dir, .fini = remove_dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/model", dir);
    size_t n = (3 << 20) + 17;
    unsigned char *want = pattern(n, 7);
    bnn_diag diag = {0};
    cr_assert_eq(bnn_write_file(path, want, n, &diag), BNN_OK, "%s", diag.message);
    const void *data;
    size_t size;
    bool mapped;
    cr_assert_eq(bnn_map_file(path, 1u << 30, &data, &size, &mapped, &diag), BNN_OK);
    cr_expect(mapped);
    cr_assert_eq(size, n);
    cr_expect(memcmp(data, want, n) == 0);
    bnn_unmap_file(data, size, mapped);
    /* over the cap: the read path's error */
    cr_expect_eq(bnn_map_file(path, n - 1, &data, &size, &mapped, &diag), BNN_ERR_INVALID);
    cr_expect(strstr(diag.message, "too large"), "%s", diag.message);
    /* empty: read, not mapped, 0 bytes */
    cr_assert_eq(bnn_write_file(path, "", 0, &diag), BNN_OK);
    cr_assert_eq(bnn_map_file(path, 1u << 30, &data, &size, &mapped, &diag), BNN_OK);
    cr_expect(!mapped);
    cr_expect_eq(size, 0);
    bnn_unmap_file(data, size, mapped);
    cr_expect_eq(bnn_map_file(dir, 1u << 30, &data, &size, &mapped, &diag), BNN_ERR_IO);
    cr_expect(strstr(diag.message, "not a regular file"), "%s", diag.message);
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_expect_eq(bnn_map_file(path, 1u << 30, &data, &size, &mapped, &diag), BNN_ERR_IO);
    cr_expect(strstr(diag.message, "cannot open"), "%s", diag.message);
    cr_expect_null(data);
    free(want);
}
