/* Training checkpoints: DIR/model.onnx (the model) and DIR/state.bin (epochs
 * done, the trainer's step count, the optimizer's moments, and a CRC of the
 * model file so a model and a state from different epochs are never mixed). */
#ifndef BNNC_TRAIN_STATE_H
#define BNNC_TRAIN_STATE_H

#include "bnn_train.h"

typedef struct train_state {
    int64_t epochs_done;
} train_state;

/* Writes both files atomically (each to a temporary name, then renamed),
 * creating DIR if needed. */
bnn_status train_state_write(const char *dir, const bnn_graph *graph, bnn_trainer *trainer,
                             const train_state *state, bnn_diag *diag);
/* Restores the trainer's optimizer and step count from DIR/state.bin; the
 * caller loaded DIR/model.onnx into the trainer's graph. */
bnn_status train_state_read(const char *dir, bnn_trainer *trainer, train_state *state,
                            bnn_diag *diag);

#endif
