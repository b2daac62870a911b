/* Training checkpoints (see train_state.h). The state file is little-endian:
 *   "BNNCKPT4", u64 epochs_done, u64 trainer steps, u64 optimizer step,
 *   u64 optimizer floats n, u32 model size, u32 model crc32, u32 optimizer
 *   kind (bnn_optimizer_kind), u32 moment arrays (1 or 2), u64 epoch_steps
 *   (batches of the next epoch already taken), then m[n] and, for Adam(W),
 *   v[n] as f32, then the CRC-32 of every byte before it.
 *   (Version 1 had no optimizer kind, so SGD could load Adam's state;
 *   version 2 had no checksum of its own, so a flipped bit went unseen;
 *   version 3, still read, had no epoch_steps: it was only written at an
 *   epoch's end, before SIGINT and SIGTERM wrote checkpoints mid-epoch.) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bnn_file.h"
#include "bnn_onnx.h"
#include "train_state.h"

static const char magic[8] = {'B', 'N', 'N', 'C', 'K', 'P', 'T', '4'};
static const char magic_v3[8] = {'B', 'N', 'N', 'C', 'K', 'P', 'T', '3'};
static const char magic_v2[8] = {'B', 'N', 'N', 'C', 'K', 'P', 'T', '2'};

typedef struct state_header {
    char magic[8];
    uint64_t epochs_done, steps, optimizer_step, n;
    uint32_t model_size, model_crc;
    uint32_t optimizer_kind, arrays;
    uint64_t epoch_steps; /* version 4 on */
} state_header;

/* A version 3 header: all of version 4's fields but epoch_steps. */
#define HEADER_V3_SIZE offsetof(state_header, epoch_steps)

/* The header's size in a file starting with magic m, or 0 when m is not a
 * bnnc checkpoint's that this version reads. */
static size_t header_size(const char m[8])
{
    if (memcmp(m, magic, sizeof magic) == 0)
        return sizeof(state_header);
    if (memcmp(m, magic_v3, sizeof magic_v3) == 0)
        return HEADER_V3_SIZE;
    return 0;
}

/* Size and CRC-32 of a file. */
static bnn_status file_crc(const char *path, uint32_t *size, uint32_t *crc, bnn_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uLong c = crc32(0, NULL, 0);
    unsigned char buf[65536];
    size_t got, total = 0;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        c = crc32(c, buf, (uInt)got);
        total += got;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad)
        return bnn_fail(diag, BNN_ERR_IO, "%s: read error", path);
    *size = (uint32_t)total;
    *crc = (uint32_t)c;
    return BNN_OK;
}

/* The header of DIR/state.bin. */
static bnn_status read_header(const char *path, state_header *h, bnn_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    memset(h, 0, sizeof *h);
    size_t got = fread(h, 1, sizeof *h, f);
    fclose(f);
    if (got >= sizeof h->magic && memcmp(h->magic, magic_v2, sizeof magic_v2) == 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: a checkpoint of an older bnnc (version 2, "
                        "without a checksum): train again to make a new one", path);
    size_t want = got >= sizeof h->magic ? header_size(h->magic) : 0;
    if (want == HEADER_V3_SIZE)
        h->epoch_steps = 0; /* the first floats of m were read into it */
    if (want && got < want)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: the file is truncated (%zu bytes, inside "
                        "its header)", path, got);
    return want ? BNN_OK
                : bnn_fail(diag, BNN_ERR_INVALID, "%s: not a bnnc checkpoint state", path);
}

/* Whether the file at path is the model h was saved with. */
static bool model_matches(const char *path, const state_header *h)
{
    uint32_t size, crc;
    bnn_diag ignored;
    return file_crc(path, &size, &crc, &ignored) == BNN_OK && size == h->model_size &&
           crc == h->model_crc;
}

bnn_status train_state_model_path(const char *dir, char *path, bnn_diag *diag)
{
    char state[4096];
    snprintf(state, sizeof state, "%s/state.bin", dir);
    state_header h;
    BNN_TRY(read_header(state, &h, diag));
    static const char *const names[] = {"model.onnx", "model.prev.onnx"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, 4096, "%s/%s", dir, names[i]);
        if (model_matches(path, &h))
            return BNN_OK;
    }
    snprintf(path, 4096, "%s/model.onnx", dir);
    if (access(path, F_OK) != 0)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return bnn_fail(diag, BNN_ERR_INVALID, "%s: model.onnx is not the one state.bin was saved with",
                    dir);
}

bnn_status train_state_lock(const char *dir, bool create, int *fd, bnn_diag *diag)
{
    *fd = -1;
    if (create && mkdir(dir, 0777) != 0 && errno != EEXIST)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot create the checkpoint directory: %s", dir,
                        strerror(errno));
    int f = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f < 0)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            return bnn_fail(diag, BNN_ERR_INVALID, "%s: in use by another bnnc train (it writes "
                            "or resumes this checkpoint): wait for it to end or stop it", dir);
        return BNN_OK; /* a file system without locks: the run goes on unguarded */
    }
    *fd = f;
    return BNN_OK;
}

/* Temporary files a killed run left in DIR (an interrupted atomic write of
 * state.bin or model.next.onnx): nothing reads them, so they go. */
static void remove_stale_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[4200];
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, "state.bin.tmp-", 14) == 0 ||
            strncmp(e->d_name, "model.next.onnx.tmp-", 20) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

bnn_status train_state_write(const char *dir, const bnn_graph *graph, bnn_trainer *trainer,
                             const train_state *state, bnn_diag *diag)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot create the checkpoint directory: %s", dir,
                        strerror(errno));
    char model[4096], next[4096], prev[4096], path[4096], tmp[4200];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(next, sizeof next, "%s/model.next.onnx", dir);
    snprintf(prev, sizeof prev, "%s/model.prev.onnx", dir);
    snprintf(path, sizeof path, "%s/state.bin", dir);
    remove_stale_temporaries(dir);

    /* A crash in an earlier run may have left state.bin matching
     * model.prev.onnx: make that the pair again first, so the rotation below
     * never moves away the only model state.bin matches. */
    state_header old;
    bnn_diag ignored;
    if (access(prev, F_OK) == 0) {
        if (read_header(path, &old, &ignored) == BNN_OK && model_matches(prev, &old) &&
            !model_matches(model, &old)) {
            if (rename(prev, model) != 0)
                return bnn_fail(diag, BNN_ERR_IO, "%s: cannot restore it as %s: %s", prev, model,
                                strerror(errno));
        } else {
            unlink(prev);
        }
    }

    if (bnn_onnx_export_file(graph, next, diag) != BNN_OK)
        return bnn_diag_prefix(diag, "%s", next);
    const bnn_optimizer *opt = bnn_trainer_optimizer(trainer);
    state_header h = {.epochs_done = (uint64_t)state->epochs_done,
                      .steps = bnn_trainer_steps(trainer),
                      .optimizer_step = (uint64_t)opt->step,
                      .n = opt->n,
                      .optimizer_kind = (uint32_t)opt->config.kind,
                      .arrays = opt->v ? 2 : 1,
                      .epoch_steps = (uint64_t)state->epoch_steps};
    memcpy(h.magic, magic, sizeof magic);
    if (file_crc(next, &h.model_size, &h.model_crc, diag) != BNN_OK) {
        unlink(next);
        return diag->status;
    }

    uLong crc = crc32(0, NULL, 0);
    crc = crc32_z(crc, (const Bytef *)&h, sizeof h);
    crc = crc32_z(crc, (const Bytef *)opt->m, sizeof(float) * opt->n);
    if (opt->v)
        crc = crc32_z(crc, (const Bytef *)opt->v, sizeof(float) * opt->n);
    uint32_t crc32le = (uint32_t)crc;
    /* Written as state.bin.tmp-XXXXXX and kept there until the models are
     * rotated: state.bin itself is replaced last. */
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        unlink(next);
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                        path, strerror(e));
    }
    close(fd);
    bnn_file_part parts[] = {{&h, sizeof h},
                             {opt->m, sizeof(float) * opt->n},
                             {opt->v, opt->v ? sizeof(float) * opt->n : 0},
                             {&crc32le, sizeof crc32le}};
    if (bnn_write_file_parts(tmp, parts, 4, diag) != BNN_OK) {
        /* The old pair is untouched: model.onnx and state.bin still match. */
        unlink(tmp);
        unlink(next);
        return bnn_diag_prefix(diag, "%s", path);
    }
    /* The old pair stays whole (state.bin with model.onnx, then with
     * model.prev.onnx) until state.bin is replaced. */
    if ((rename(model, prev) != 0 && errno != ENOENT) || rename(next, model) != 0 ||
        rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot put the checkpoint in place: %s", dir,
                        strerror(e));
    }
    unlink(prev);
    return BNN_OK;
}

static const char *optimizer_name(uint32_t kind)
{
    switch (kind) {
    case BNN_OPTIM_SGD: return "sgd";
    case BNN_OPTIM_ADAM: return "adam";
    case BNN_OPTIM_ADAMW: return "adamw";
    default: return "an unknown optimizer";
    }
}

bnn_status train_state_parse(const void *data, size_t size, const char *path,
                             train_state_file *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    state_header h = {0};
    if (size >= sizeof magic_v2 && memcmp(data, magic_v2, sizeof magic_v2) == 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: a checkpoint of an older bnnc (version 2, "
                        "without a checksum): train again to make a new one", path);
    size_t hsize = size >= sizeof magic ? header_size(data) : 0;
    if (!hsize)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: not a bnnc checkpoint state", path);
    if (size < hsize + 4)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: checksum mismatch: the file is truncated "
                        "(%zu bytes)", path, size);
    memcpy(&h, data, hsize);
    uint32_t stored;
    memcpy(&stored, (const char *)data + size - 4, 4);
    uint32_t crc = (uint32_t)crc32_z(crc32(0, NULL, 0), data, size - 4);
    if (crc != stored)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: checksum mismatch: the file is truncated "
                        "or damaged", path);
    if ((h.arrays != 1 && h.arrays != 2) || h.n > (size - hsize - 4) / 4 / h.arrays ||
        hsize + 4 + (size_t)h.n * 4 * h.arrays != size)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: the header does not match the file's size",
                        path);
    out->epochs_done = h.epochs_done;
    out->steps = h.steps;
    out->optimizer_step = h.optimizer_step;
    out->n = (size_t)h.n;
    out->model_size = h.model_size;
    out->model_crc = h.model_crc;
    out->optimizer_kind = h.optimizer_kind;
    out->epoch_steps = h.epoch_steps;
    out->m = (const char *)data + hsize;
    out->v = h.arrays == 2 ? (const char *)data + hsize + (size_t)h.n * 4 : NULL;
    return BNN_OK;
}

bnn_status train_state_read(const char *dir, bnn_trainer *trainer, train_state *state,
                            bnn_diag *diag)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    bnn_optimizer *opt = bnn_trainer_optimizer(trainer);
    /* The file can be no bigger than the optimizer's moments and a header. */
    void *buf;
    size_t size;
    bnn_status rs = bnn_read_file(path, sizeof(state_header) + 4 + 8 * opt->n + 8, &buf, &size,
                                  diag);
    if (rs == BNN_ERR_INVALID)
        return bnn_fail(diag, BNN_ERR_INVALID, "%s: larger than a checkpoint of this model's "
                        "optimizer could be", path);
    if (rs != BNN_OK)
        return bnn_diag_prefix(diag, "%s", path);
    train_state_file s;
    bnn_status st = train_state_parse(buf, size, path, &s, diag);
    if (st != BNN_OK) {
    } else if (s.optimizer_kind != (uint32_t)opt->config.kind) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: the state is %s's; this run's optimizer is %s "
                      "(resume with the optimizer the checkpoint was made with)", path,
                      optimizer_name(s.optimizer_kind), optimizer_name(opt->config.kind));
    } else if (s.n != opt->n) {
        st = bnn_fail(diag, BNN_ERR_INVALID,
                      "%s: optimizer state for %zu parameters, the model has %zu", path, s.n,
                      opt->n);
    } else if ((s.v != NULL) != (opt->v != NULL)) {
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: the state has %d moment arrays, this "
                      "optimizer %d", path, s.v ? 2 : 1, opt->v ? 2 : 1);
    } else {
        memcpy(opt->m, s.m, sizeof(float) * s.n);
        if (opt->v)
            memcpy(opt->v, s.v, sizeof(float) * s.n);
        opt->step = (int64_t)s.optimizer_step;
        bnn_trainer_set_steps(trainer, s.steps);
        state->epochs_done = (int64_t)s.epochs_done;
        state->epoch_steps = (int64_t)s.epoch_steps;
    }
    free(buf);
    return st;
}
