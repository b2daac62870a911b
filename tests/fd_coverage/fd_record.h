/* Records that a finite-difference gradient check of an op ran to its end,
 * for tests/fd_coverage/check_fd_coverage.c, which runs the kernel tests
 * with BNNC_FD_RECORD set to a file and then asks the library which ops
 * have a backward kernel: an op with one and no record fails that test. */
#ifndef BNN_TEST_FD_RECORD_H
#define BNN_TEST_FD_RECORD_H

#include "bnn_ir.h"

/* Appends the op's name and a newline to the file named by BNNC_FD_RECORD
 * (nothing when it is unset).  Call it after the check's comparisons, with
 * the number of elements compared: a check that compared none records
 * nothing. */
void fd_record(bnn_op op, long long compared);

#endif
