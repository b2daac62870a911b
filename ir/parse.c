/* The IR text parser. (stub) */
#include "bnn_ir.h"

bnn_status bnn_graph_parse(const char *text, const char *filename, bnn_graph **out, bnn_diag *diag)
{
    (void)text;
    *out = NULL;
    return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: parser not written yet", filename);
}
