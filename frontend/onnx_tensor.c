/* onnx_tensor (stub) */
#include "bnn_onnx.h"

bnn_status bnn_onnx_read_tensor_file(const char *path, bnn_tensor *out, bnn_diag *diag)
{
    (void)out;
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: not written yet", path);
}
