/* Layout ops that move or select data: flatten, reshape, transpose, concat, squeeze, unsqueeze, pad, shape, gather. (stub) */
#include "kernel.h"

static bnn_status not_written(const bnn_kernel_args *args, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: kernel not written yet",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label));
}

const bnn_kernel bnn_kernel_flatten = {.forward = not_written};
const bnn_kernel bnn_kernel_reshape = {.forward = not_written};
const bnn_kernel bnn_kernel_transpose = {.forward = not_written};
const bnn_kernel bnn_kernel_concat = {.forward = not_written};
const bnn_kernel bnn_kernel_squeeze = {.forward = not_written};
const bnn_kernel bnn_kernel_unsqueeze = {.forward = not_written};
const bnn_kernel bnn_kernel_pad = {.forward = not_written};
const bnn_kernel bnn_kernel_shape = {.forward = not_written};
const bnn_kernel bnn_kernel_gather = {.forward = not_written};
