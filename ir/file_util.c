/* bnn_read_file and bnn_write_file (bnn_file.h): the one place that reads
 * whole files, so that each format's reader checks the size cap and short
 * reads the same way, and the one place that writes them, so that every
 * output is replaced atomically and a failed write leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_file.h"

bnn_status bnn_read_file(const char *path, uint64_t max_bytes, void **data, size_t *size,
                         bnn_diag *diag)
{
    *data = NULL;
    *size = 0;
    /* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return bnn_fail(diag, BNN_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bnn_fail(diag, BNN_ERR_IO, "not a regular file");
    }
    if ((uint64_t)st.st_size > max_bytes || (uint64_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return bnn_fail(diag, BNN_ERR_INVALID, "file of %lld bytes is too large",
                        (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory reading %zu bytes", n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return bnn_fail(diag, BNN_ERR_IO, "read failed: %s",
                            r < 0 ? strerror(e) : "short read");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return BNN_OK;
}

bnn_status bnn_map_file(const char *path, uint64_t max_bytes, const void **data, size_t *size,
                        bool *mapped, bnn_diag *diag)
{
    *data = NULL;
    *size = 0;
    *mapped = false;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            (uint64_t)st.st_size <= max_bytes && (uint64_t)st.st_size < SIZE_MAX) {
            int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
            flags |= MAP_POPULATE; /* one call instead of a fault per page */
#endif
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, flags, fd, 0);
            if (p != MAP_FAILED) {
                close(fd);
                *data = p;
                *size = (size_t)st.st_size;
                *mapped = true;
                return BNN_OK;
            }
        }
        close(fd);
    }
    /* everything else, errors included, as bnn_read_file has it */
    void *buf;
    BNN_TRY(bnn_read_file(path, max_bytes, &buf, size, diag));
    *data = buf;
    return BNN_OK;
}

void bnn_unmap_file(const void *data, size_t size, bool mapped)
{
    if (mapped)
        munmap((void *)data, size);
    else
        free((void *)data);
}

/* Makes a rename in path's directory durable (a crash after it keeps the new
 * name); best effort: some file systems refuse fsync on a directory. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

struct bnn_file_writer {
    char *path, *tmp;
    int fd;
    int err;          /* the first errno, 0 while all is well */
    size_t used;      /* bytes in buf not yet written */
    char buf[1 << 20];
};

bnn_status bnn_file_writer_open(const char *path, bnn_file_writer **out, bnn_diag *diag)
{
    *out = NULL;
    size_t len = strlen(path);
    bnn_file_writer *w = malloc(sizeof *w);
    char *tmp = malloc(len + sizeof ".tmp-XXXXXX");
    char *copy = malloc(len + 1);
    if (!w || !tmp || !copy) {
        free(w);
        free(tmp);
        free(copy);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    }
    memcpy(copy, path, len + 1);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(w);
        free(tmp);
        free(copy);
        return bnn_fail(diag, BNN_ERR_IO, "cannot create a temporary file beside it: %s",
                        strerror(e));
    }
    bnn_file_umask_mode(fd);
    w->path = copy;
    w->tmp = tmp;
    w->fd = fd;
    w->err = 0;
    w->used = 0;
    *out = w;
    return BNN_OK;
}

static void writer_write(bnn_file_writer *w, const char *p, size_t size)
{
    size_t done = 0;
    while (!w->err && done < size) {
        ssize_t n = write(w->fd, p + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->err = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
}

void bnn_file_writer_append(bnn_file_writer *w, const void *data, size_t size)
{
    if (w->err || size == 0)
        return;
    if (w->used + size > sizeof w->buf) {
        writer_write(w, w->buf, w->used);
        w->used = 0;
    }
    if (size >= sizeof w->buf) { /* big pieces go straight out */
        writer_write(w, data, size);
        return;
    }
    memcpy(w->buf + w->used, data, size);
    w->used += size;
}

static void writer_free(bnn_file_writer *w)
{
    free(w->path);
    free(w->tmp);
    free(w);
}

void bnn_file_writer_abort(bnn_file_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlink(w->tmp);
    writer_free(w);
}

bnn_status bnn_file_writer_commit(bnn_file_writer *w, bnn_diag *diag)
{
    writer_write(w, w->buf, w->used);
    int err = w->err;
    if (!err && fsync(w->fd) != 0)
        err = errno;
    if (close(w->fd) != 0 && !err)
        err = errno;
    if (!err && rename(w->tmp, w->path) != 0)
        err = errno;
    if (err)
        unlink(w->tmp);
    else
        sync_parent(w->path);
    writer_free(w);
    if (err)
        return bnn_fail(diag, BNN_ERR_IO, "cannot write: %s", strerror(err));
    return BNN_OK;
}

bnn_status bnn_write_file_parts(const char *path, const bnn_file_part *parts, int n_parts,
                                bnn_diag *diag)
{
    bnn_file_writer *w = NULL;
    BNN_TRY(bnn_file_writer_open(path, &w, diag));
    for (int i = 0; i < n_parts; i++)
        bnn_file_writer_append(w, parts[i].data, parts[i].size);
    return bnn_file_writer_commit(w, diag);
}

bnn_status bnn_write_file(const char *path, const void *data, size_t size, bnn_diag *diag)
{
    bnn_file_part part = {data, size};
    return bnn_write_file_parts(path, &part, 1, diag);
}

void bnn_file_umask_mode(int fd)
{
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
}

bool bnn_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}
