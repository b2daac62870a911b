/* A LeNet-5-like graph built in C for the pass tests (no parser, no
 * importer): conv1, conv2, fc1, fc2, fc3 with deterministic weights. */
#ifndef BNN_TEST_LENET_GRAPH_H
#define BNN_TEST_LENET_GRAPH_H

#include "bnn_ir.h"

bnn_graph *test_lenet_graph(void);

/* Compares two graphs node by node (op, name, operand and result names,
 * attributes) and param by param (name, dtype, shape, trainable flag, bytes),
 * skipping the nodes named in skip_nodes (NULL-terminated) and the params
 * named in skip_params.  Returns NULL when equal, else a static description of
 * the first difference. */
const char *test_graph_diff(const bnn_graph *a, const bnn_graph *b, const char *const *skip_nodes,
                            const char *const *skip_params);

#endif
