/* Diagnostics: the one-line messages every library hands back to tools/. */
#include <stdarg.h>
#include <string.h>

#include "bnn_diag.h"

bnn_status bnn_fail(bnn_diag *diag, bnn_status status, const char *fmt, ...)
{
    if (diag) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(diag->message, sizeof diag->message, fmt, ap);
        va_end(ap);
        diag->status = status;
    }
    return status;
}

bnn_status bnn_diag_prefix(bnn_diag *diag, const char *fmt, ...)
{
    if (!diag)
        return BNN_ERR_INVALID;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof diag->message];
    snprintf(joined, sizeof joined, "%s: %s", prefix, diag->message);
    memcpy(diag->message, joined, sizeof joined);
    return diag->status;
}

const char *bnn_status_name(bnn_status status)
{
    switch (status) {
    case BNN_OK: return "ok";
    case BNN_ERR_INVALID: return "invalid input";
    case BNN_ERR_UNSUPPORTED: return "unsupported";
    case BNN_ERR_SHAPE: return "shape mismatch";
    case BNN_ERR_IO: return "i/o error";
    case BNN_ERR_NOMEM: return "out of memory";
    case BNN_ERR_NUMERIC: return "not a number";
    }
    return "unknown status";
}
