/* The committed list of cases a conformance runner must pass (issue 10,
 * "tests that can fail"): one "suite/case" a line, sorted.  A listed case
 * that is skipped, fails or is missing fails the run; a passing case that is
 * not listed is reported so the list can grow, and --write-expected rewrites
 * the list from the passes of a run.  Shared by tests/runtime/conformance.c
 * and tests/frontend/conformance.c. */
#ifndef BNNC_TESTS_EXPECTED_LIST_H
#define BNNC_TESTS_EXPECTED_LIST_H

#include <stdbool.h>

typedef struct expected_list expected_list;

/* Reads PATH, or makes an empty list when PATH is NULL (then nothing is
 * checked, but passes are still recorded for expected_list_write).  A line
 * repeated or out of order is an error: NULL, with a message naming the line. */
expected_list *expected_list_read(const char *path);

/* Records one case's outcome.  SKIP_REASON is NULL unless the case was
 * skipped.  Prints "FAIL NAME: expected to pass, skipped: ..." for a listed
 * case that was skipped, "NEW PASS NAME" for a pass that is not listed. */
void expected_list_note(expected_list *l, const char *name, bool passed, const char *skip_reason);

/* After the run: names the listed cases that never ran (ONLY, when not NULL,
 * limits the check to cases whose name after the slash contains it), prints
 * the summary, and returns how many listed cases did not pass. */
int expected_list_finish(expected_list *l, const char *data_root, const char *only);

/* Writes the passes of this run to PATH, one a line; false (with a message)
 * if that cannot be done or a pass could not be recorded (out of memory). */
bool expected_list_write(const expected_list *l, const char *path);

void expected_list_free(expected_list *l);

#endif
