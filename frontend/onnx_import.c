/* onnx_import (stub) */
#include "bnn_onnx.h"

bnn_status bnn_onnx_import_file(const char *path, const bnn_onnx_import_options *options,
                                bnn_graph **out, bnn_diag *diag)
{
    (void)options;
    *out = NULL;
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: importer not written yet", path);
}

const bnn_onnx_op_support *bnn_onnx_supported_ops(int *count)
{
    *count = 0;
    return NULL;
}
