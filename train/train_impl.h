/* The trainer's inside, for tests: a step split into its gradient half, and
 * the gradients it leaves.  train/train.c implements them; only tests and
 * the trainer itself include this. */
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

#endif
