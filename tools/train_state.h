/* Training checkpoints: DIR/model.onnx (the model) and DIR/state.bin (epochs
 * done, the trainer's step count, the optimizer's moments, and a CRC of the
 * model file so a model and a state from different epochs are never mixed).
 *
 * The pair is replaced so that a crash at any point leaves a pair that
 * resumes: the new model is written as model.next.onnx, the old one is moved
 * to model.prev.onnx, then the new model and state are renamed into place and
 * model.prev.onnx is removed.  Until state.bin is replaced it still matches
 * model.prev.onnx, and train_state_model_path finds it there.  A failed write
 * (a full disk) leaves the previous pair as it was. */
#ifndef BNNC_TRAIN_STATE_H
#define BNNC_TRAIN_STATE_H

#include "bnn_train.h"

typedef struct train_state {
    int64_t epochs_done;
    int64_t epoch_steps; /* batches of epoch epochs_done + 1 taken (a stop mid-epoch) */
} train_state;

/* Locks DIR (flock on the directory, exclusive) for this process's life,
 * creating DIR when create is set.  Fails naming DIR when another process (a
 * running or resumed training) holds it, so two jobs never replace or read
 * the pair under each other; the lock goes with the process however it ends.
 * On a file system without locks it succeeds unlocked (*fd -1). */
bnn_status train_state_lock(const char *dir, bool create, int *fd, bnn_diag *diag);

/* Writes both files atomically (each to a temporary name, then renamed),
 * creating DIR if needed. */
bnn_status train_state_write(const char *dir, const bnn_graph *graph, bnn_trainer *trainer,
                             const train_state *state, bnn_diag *diag);
/* The model file that DIR/state.bin was saved with: DIR/model.onnx, or after
 * a crash mid-checkpoint DIR/model.prev.onnx or DIR/model.next.onnx.  Fails
 * naming DIR when none matches.  path has room for 4096 bytes. */
bnn_status train_state_model_path(const char *dir, char *path, bnn_diag *diag);
/* Restores the trainer's optimizer and step count from DIR/state.bin; the
 * caller loaded the model train_state_model_path named (and so checked
 * against the state's CRC) into the trainer's graph. */
bnn_status train_state_read(const char *dir, bnn_trainer *trainer, train_state *state,
                            bnn_diag *diag);

/* DIR/state.bin's contents as read (m and v point into the buffer parsed). */
typedef struct train_state_file {
    uint64_t epochs_done, steps, optimizer_step;
    uint64_t epoch_steps;     /* 0 in version 3 files */
    size_t n;                 /* floats in each moment array */
    uint32_t model_size, model_crc, optimizer_kind;
    const void *m, *v;        /* f32[n] each, little-endian; v NULL for SGD */
} train_state_file;

/* Checks a state file's bytes: magic and version, its CRC-32 (a truncated or
 * bit-flipped file is refused), and that the header's sizes match the bytes
 * present.  path only names the file in messages. */
bnn_status train_state_parse(const void *data, size_t size, const char *path,
                             train_state_file *out, bnn_diag *diag);

#endif
