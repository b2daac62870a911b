/* Elementwise ops: broadcasting binary arithmetic, activations, clip, dropout. (stub) */
#include "kernel.h"

static bnn_status not_written(const bnn_kernel_args *args, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: kernel not written yet",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label));
}

const bnn_kernel bnn_kernel_add = {.forward = not_written};
const bnn_kernel bnn_kernel_sub = {.forward = not_written};
const bnn_kernel bnn_kernel_mul = {.forward = not_written};
const bnn_kernel bnn_kernel_div = {.forward = not_written};
const bnn_kernel bnn_kernel_prelu = {.forward = not_written};
const bnn_kernel bnn_kernel_relu = {.forward = not_written};
const bnn_kernel bnn_kernel_leaky_relu = {.forward = not_written};
const bnn_kernel bnn_kernel_elu = {.forward = not_written};
const bnn_kernel bnn_kernel_selu = {.forward = not_written};
const bnn_kernel bnn_kernel_sigmoid = {.forward = not_written};
const bnn_kernel bnn_kernel_tanh = {.forward = not_written};
const bnn_kernel bnn_kernel_softplus = {.forward = not_written};
const bnn_kernel bnn_kernel_softsign = {.forward = not_written};
const bnn_kernel bnn_kernel_exp = {.forward = not_written};
const bnn_kernel bnn_kernel_log = {.forward = not_written};
const bnn_kernel bnn_kernel_sqrt = {.forward = not_written};
const bnn_kernel bnn_kernel_abs = {.forward = not_written};
const bnn_kernel bnn_kernel_neg = {.forward = not_written};
const bnn_kernel bnn_kernel_identity = {.forward = not_written};
const bnn_kernel bnn_kernel_dropout = {.forward = not_written};
const bnn_kernel bnn_kernel_clip = {.forward = not_written};
