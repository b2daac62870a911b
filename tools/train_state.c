/* Training checkpoints (see train_state.h). The state file is little-endian:
 *   "BNNCKPT2", u64 epochs_done, u64 trainer steps, u64 optimizer step,
 *   u64 optimizer floats n, u32 model size, u32 model crc32, u32 optimizer
 *   kind (bnn_optimizer_kind), u32 zero, then m[n] and, for Adam(W), v[n] as
 *   f32.  (Version 1 had no optimizer kind, so SGD could load Adam's state.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bnn_onnx.h"
#include "train_state.h"

static const char magic[8] = {'B', 'N', 'N', 'C', 'K', 'P', 'T', '2'};

typedef struct state_header {
    char magic[8];
    uint64_t epochs_done, steps, optimizer_step, n;
    uint32_t model_size, model_crc;
    uint32_t optimizer_kind, reserved;
} state_header;

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
    bool ok = fread(h, sizeof *h, 1, f) == 1 && memcmp(h->magic, magic, sizeof magic) == 0;
    fclose(f);
    return ok ? BNN_OK : bnn_fail(diag, BNN_ERR_INVALID, "%s: not a bnnc checkpoint state", path);
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

bnn_status train_state_write(const char *dir, const bnn_graph *graph, bnn_trainer *trainer,
                             const train_state *state, bnn_diag *diag)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return bnn_fail(diag, BNN_ERR_IO, "cannot create the checkpoint directory: %s",
                        strerror(errno));
    char model[4096], next[4096], prev[4096], path[4096], tmp[4200];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(next, sizeof next, "%s/model.next.onnx", dir);
    snprintf(prev, sizeof prev, "%s/model.prev.onnx", dir);
    snprintf(path, sizeof path, "%s/state.bin", dir);

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

    BNN_TRY(bnn_onnx_export_file(graph, next, diag));
    const bnn_optimizer *opt = bnn_trainer_optimizer(trainer);
    state_header h = {.epochs_done = (uint64_t)state->epochs_done,
                      .steps = bnn_trainer_steps(trainer),
                      .optimizer_step = (uint64_t)opt->step,
                      .n = opt->n,
                      .optimizer_kind = (uint32_t)opt->config.kind};
    memcpy(h.magic, magic, sizeof magic);
    BNN_TRY(file_crc(next, &h.model_size, &h.model_crc, diag));

    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot create a temporary file: %s", path,
                        strerror(errno));
    FILE *f = fdopen(fd, "wb");
    bool ok = f && fwrite(&h, sizeof h, 1, f) == 1 &&
              fwrite(opt->m, sizeof(float), opt->n, f) == opt->n &&
              (!opt->v || fwrite(opt->v, sizeof(float), opt->n, f) == opt->n);
    ok = f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (f)
        ok = fclose(f) == 0 && ok;
    else
        close(fd);
    if (!ok) {
        unlink(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    /* The old pair stays whole (state.bin with model.onnx, then with
     * model.prev.onnx) until state.bin is replaced. */
    if ((rename(model, prev) != 0 && errno != ENOENT) || rename(next, model) != 0 ||
        rename(tmp, path) != 0) {
        unlink(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot put the checkpoint in place: %s", dir,
                        strerror(errno));
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

bnn_status train_state_read(const char *dir, bnn_trainer *trainer, train_state *state,
                            bnn_diag *diag)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return bnn_fail(diag, BNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    state_header h;
    bnn_optimizer *opt = bnn_trainer_optimizer(trainer);
    bnn_status st = BNN_OK;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, magic, sizeof magic) != 0)
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: not a bnnc checkpoint state", path);
    else if (h.optimizer_kind != (uint32_t)opt->config.kind)
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: the state is %s's; this run's optimizer is %s "
                      "(resume with the optimizer the checkpoint was made with)", path,
                      optimizer_name(h.optimizer_kind), optimizer_name(opt->config.kind));
    else if (h.n != opt->n)
        st = bnn_fail(diag, BNN_ERR_INVALID,
                      "%s: optimizer state for %llu parameters, the model has %zu", path,
                      (unsigned long long)h.n, opt->n);
    else if (fread(opt->m, sizeof(float), opt->n, f) != opt->n ||
             (opt->v && fread(opt->v, sizeof(float), opt->n, f) != opt->n))
        st = bnn_fail(diag, BNN_ERR_INVALID, "%s: truncated (the optimizer was %s?)", path,
                      opt->v ? "sgd" : "adam");
    fclose(f);
    if (st != BNN_OK)
        return st;
    opt->step = (int64_t)h.optimizer_step;
    bnn_trainer_set_steps(trainer, h.steps);
    state->epochs_done = (int64_t)h.epochs_done;
    return BNN_OK;
}
