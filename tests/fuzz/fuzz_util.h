/* Shared by the fuzz targets: checks that a failure came with a message, and
 * gives file-based readers a path to read the fuzzed bytes from. */
#ifndef BNN_FUZZ_UTIL_H
#define BNN_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bnn_diag.h"
#include "bnn_tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) when st is an error without a diagnostic message. */
void fuzz_check(bnn_status st, const bnn_diag *diag);
/* The path of an empty directory made once per process. */
const char *fuzz_empty_dir(void);
/* Writes data to `name` in a private directory made once per process and
 * returns its path (a static buffer); NULL if writing failed. */
const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);

/* The row readers (bnn_*_read_rows, bnn_*_read_row_list) a data-parallel
 * rank uses, on the file at path: a range and a row list picked from the
 * input's last bytes.  Each must end in a clean status; when the whole file
 * read as `whole` (whole_ok), rows inside it must read and equal its rows. */
typedef bnn_status (*fuzz_rows_fn)(const char *path, int64_t first, int64_t count, bnn_tensor *out,
                                   int64_t *total_rows, bnn_diag *diag);
typedef bnn_status (*fuzz_row_list_fn)(const char *path, const int64_t *rows, int64_t count,
                                       bnn_tensor *out, int64_t *total_rows, bnn_diag *diag);
void fuzz_check_rows(const char *path, const uint8_t *data, size_t size, bool whole_ok,
                     const bnn_tensor *whole, fuzz_rows_fn rows, fuzz_row_list_fn row_list);

#endif
