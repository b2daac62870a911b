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
