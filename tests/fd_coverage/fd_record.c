/* See fd_record.h.  Criterion runs each test in a worker process, several at
 * once: one write() of a short line to a file opened O_APPEND keeps lines
 * from different workers whole. */
#include "fd_record.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fd_record(bnn_op op, long long compared)
{
    const char *path = getenv("BNNC_FD_RECORD");
    if (!path || !*path || compared <= 0)
        return;
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", bnn_op_get(op)->name);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return; /* the coverage test then finds the op missing and says so */
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}
