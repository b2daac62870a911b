/* Shared by the fuzz targets: checks that a failure came with a message, and
 * gives file-based readers a path to read the fuzzed bytes from. */
#ifndef BNN_FUZZ_UTIL_H
#define BNN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bnn_diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) when st is an error without a diagnostic message. */
void fuzz_check(bnn_status st, const bnn_diag *diag);
/* The path of an empty directory made once per process. */
const char *fuzz_empty_dir(void);
/* Writes data to `name` in a private directory made once per process and
 * returns its path (a static buffer); NULL if writing failed. */
const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);

#endif
