/* onnx_export (stub) */
#include "bnn_onnx.h"

bnn_status bnn_onnx_export_file(const bnn_graph *graph, const char *path, bnn_diag *diag)
{
    (void)graph;
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: not written yet", path);
}
