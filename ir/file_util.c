/* bnn_read_file and bnn_write_file (bnn_file.h): the one place that reads
 * whole files, so that each format's reader checks the size cap and short
 * reads the same way, and the one place that writes them, so that every
 * output is replaced atomically and a failed write leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

bnn_status bnn_write_file_parts(const char *path, const bnn_file_part *parts, int n_parts,
                                bnn_diag *diag)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + sizeof ".tmp-XXXXXX");
    if (!tmp)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "cannot create a temporary file beside it: %s",
                        strerror(e));
    }
    bnn_file_umask_mode(fd);
    int err = 0;
    for (int i = 0; i < n_parts && !err; i++) {
        const char *p = parts[i].data;
        size_t done = 0;
        while (done < parts[i].size) {
            ssize_t w = write(fd, p + done, parts[i].size - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
            done += (size_t)w;
        }
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    free(tmp);
    if (err)
        return bnn_fail(diag, BNN_ERR_IO, "cannot write: %s", strerror(err));
    sync_parent(path);
    return BNN_OK;
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
