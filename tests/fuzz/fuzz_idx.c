/* Fuzz target: the IDX reader, plain and gzip'd (it tells them apart by the
 * gzip magic, so one target covers both; the seed corpus holds both), and
 * its row readers against it. */
#include <stdlib.h>

#include "bnn_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("input.idx", data, size);
    if (!path)
        return 0;
    bnn_diag diag = {0};
    bnn_tensor t = {0};
    bnn_status st = bnn_idx_read(path, &t, &diag);
    fuzz_check(st, &diag);
    fuzz_check_rows(path, data, size, st == BNN_OK, &t, bnn_idx_read_rows, bnn_idx_read_row_list);
    if (st == BNN_OK)
        bnn_tensor_free(&t);
    return 0;
}
