/* Fuzz target: the training checkpoint's state reader (tools/train_state.c):
 * any bytes end in a parsed state whose arrays lie inside the buffer, or a
 * clean refusal. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "train_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that reading past it is caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    bnn_diag diag = {0};
    train_state_file s;
    bnn_status st = train_state_parse(copy, size, "fuzz/state.bin", &s, &diag);
    fuzz_check(st, &diag);
    if (st == BNN_OK) {
        volatile float sum = 0;
        const float *m = s.m, *v = s.v;
        for (size_t i = 0; i < s.n; i++) {
            float x;
            memcpy(&x, m + i, sizeof x);
            sum += x;
            if (v) {
                memcpy(&x, v + i, sizeof x);
                sum += x;
            }
        }
        (void)sum;
    }
    free(copy);
    return 0;
}
