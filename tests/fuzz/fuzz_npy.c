/* Fuzz target: the .npy reader, then a write of what it read and a read of
 * that write, which must give the same dtype, shape and bytes; and the row
 * readers on the same bytes as a file, against the whole read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bnn_diag diag = {0};
    bnn_tensor t = {0};
    bnn_status st = bnn_npy_read_buffer(data, size, &t, &diag);
    fuzz_check(st, &diag);
    const char *path = fuzz_write_file("input.npy", data, size);
    if (path)
        fuzz_check_rows(path, data, size, st == BNN_OK, &t, bnn_npy_read_rows, bnn_npy_read_row_list);
    if (st != BNN_OK)
        return 0;
    void *buf = NULL;
    size_t n = 0;
    if (bnn_npy_write_buffer(&t, &buf, &n, &diag) == BNN_OK) {
        bnn_tensor u = {0};
        if (bnn_npy_read_buffer(buf, n, &u, &diag) != BNN_OK || u.dtype != t.dtype ||
            !bnn_shape_equal(&u.shape, &t.shape) ||
            bnn_tensor_nbytes(&u) != bnn_tensor_nbytes(&t) ||
            (bnn_tensor_nbytes(&t) && memcmp(u.data, t.data, bnn_tensor_nbytes(&t)) != 0)) {
            fprintf(stderr, "fuzz: .npy write then read changed the array\n");
            abort();
        }
        bnn_tensor_free(&u);
        free(buf);
    }
    bnn_tensor_free(&t);
    return 0;
}
