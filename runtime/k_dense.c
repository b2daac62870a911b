/* Matrix products: dense, gemm, matmul, through OpenBLAS. (stub) */
#include "kernel.h"

static bnn_status not_written(const bnn_kernel_args *args, bnn_diag *diag)
{
    char label[300];
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: kernel not written yet",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label));
}

const bnn_kernel bnn_kernel_dense = {.forward = not_written};
const bnn_kernel bnn_kernel_gemm = {.forward = not_written};
const bnn_kernel bnn_kernel_matmul = {.forward = not_written};
