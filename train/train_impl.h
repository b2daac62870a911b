/* The trainer's inside, for tests: a step split into its gradient half, and
 * the gradients it leaves (train/train.c implements them), and a hash the
 * training library's files share; only tests and train/ include this. */
#ifndef BNN_TRAIN_IMPL_H
#define BNN_TRAIN_IMPL_H

#include "bnn_train.h"

/* Forward, loss, backward sweep and KL (with its gradient) for a batch at the
 * trainer's current step: what bnn_trainer_step does before the optimizer
 * update.  Params, the optimizer and the step count are left as they were, so
 * calling it again with changed params draws the same eps (a finite-difference
 * check of the whole loss). */
bnn_status bnn_trainer_gradients(bnn_trainer *trainer, const bnn_tensor *x, const bnn_tensor *y,
                                 bnn_step_result *result, bnn_diag *diag);

/* d(loss)/d(param) for the trainable param value_id of the trainer's graph, as
 * the last bnn_trainer_gradients or bnn_trainer_step left it (param's shape,
 * row-major); NULL for a value that is not a trainable param. */
const float *bnn_trainer_param_grad(const bnn_trainer *trainer, int value_id);

/* splitmix64: a small, well-mixed hash (the shuffle, the benchmark's
 * inputs, the Laplace fit's label draws). */
static inline uint64_t bnn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
