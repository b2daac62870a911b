/* Fuzz target: ONNX import (parse, validate, lower, verify), then shape
 * inference over the result.  Any input must end in a graph or a clean
 * bnn_status with a message; never a crash, leak or sanitizer report. */
#include <stdint.h>
#include <stdlib.h>

#include "bnn_onnx.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    /* A folder with nothing in it: external data must be refused, not found. */
    bnn_status st = bnn_onnx_import_buffer(data, size, fuzz_empty_dir(), NULL, &g, &diag);
    fuzz_check(st, &diag);
    if (st == BNN_OK) {
        fuzz_check(bnn_graph_infer(g, &diag), &diag);
        fuzz_check(bnn_graph_verify(g, &diag), &diag);
    }
    bnn_graph_destroy(g);
    return 0;
}
