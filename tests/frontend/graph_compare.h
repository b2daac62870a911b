/* Structural comparison of two IR graphs for the frontend's round-trip tests
 * (until the printer lands, "identical IR" means equal structure). */
#ifndef GRAPH_COMPARE_H
#define GRAPH_COMPARE_H

#include <stddef.h>

#include "bnn_ir.h"

/* true when equal; otherwise writes the first difference into why. */
bool graph_compare(const bnn_graph *a, const bnn_graph *b, char *why, size_t n);

/* true when both graphs print the same IR text; otherwise the first line
 * that differs goes into why. */
bool graph_print_equal(const bnn_graph *a, const bnn_graph *b, char *why, size_t n);

#endif
