/* Shared by the ir_text tests: fixtures, printing to a string, and a
 * structural comparison of two graphs that matches values by name. */
#ifndef IR_TEXT_HELPERS_H
#define IR_TEXT_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include "bnn_ir.h"

/* The contents of tests/ir_text/NAME (malloc'd, NUL-terminated); aborts the
 * test if it cannot be read. */
char *fixture_read(const char *name);
/* The graph's text (malloc'd). */
char *graph_to_text(const bnn_graph *g);
/* Parses text, failing the test with the diagnostic if it does not parse. */
bnn_graph *parse_or_fail(const char *text, const char *file);

/* True when b is a faithful copy of a: same graph name, opset, inputs,
 * outputs, params (trainable flag; data when it has at most
 * BNN_PRINT_MAX_INLINE elements, else zeros in b unless `large_data_kept`),
 * live nodes in order with their names, operands and attributes, values'
 * names, dtypes and shapes (symbols compared by name).  NaNs compare equal.
 * On a difference, why says where. */
bool graph_equal(const bnn_graph *a, const bnn_graph *b, bool large_data_kept, char *why,
                 size_t n);

#endif
