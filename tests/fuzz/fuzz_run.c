/* Fuzz target: import a fuzzed model and run it for a batch of 1 on zero
 * inputs, under a small memory cap (bnn_session_options.max_memory), so that
 * planning, the kernels' shape checks and the runtime see hostile graphs. */
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"
#include "bnn_runtime.h"
#include "fuzz_util.h"

/* The cap bounds the work of one input too: at 16 MiB a valid pair of
 * pools over a 9x126x61x8 input took 4.5 s under ASan+UBSan (50 ms plain),
 * honest work that the 1 s slow-input check reported as a finding. */
#define FUZZ_RUN_MAX_MEMORY ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    bnn_status st = bnn_onnx_import_buffer(data, size, fuzz_empty_dir(), NULL, &g, &diag);
    fuzz_check(st, &diag);
    if (st != BNN_OK)
        return 0;
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = 1;
    opt.max_memory = FUZZ_RUN_MAX_MEMORY;
    bnn_session *s = NULL;
    st = bnn_session_create_batch(g, 1, &opt, &s, &diag);
    fuzz_check(st, &diag);
    if (st == BNN_OK) {
        /* Inputs are zero-filled by the session; run twice (state reuse). */
        fuzz_check(bnn_session_run(s, &diag), &diag);
        fuzz_check(bnn_session_run(s, &diag), &diag);
    }
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
    return 0;
}
