/* Shared helpers of the frontend's unit tests: locating the committed test
 * models, importing them, and looking at the resulting IR. */
#ifndef FRONTEND_TEST_HELPERS_H
#define FRONTEND_TEST_HELPERS_H

#include "bnn_onnx.h"

/* "$BNNC_SOURCE_ROOT/tests/frontend/<sub>/<name>" in a static buffer. */
const char *fe_path(const char *sub, const char *name);
/* Imports models/<name>; a failing import fails the test with its message. */
bnn_graph *fe_import(const char *name, const bnn_onnx_import_options *opts);
/* Imports and expects failure; returns the message (static buffer). */
const char *fe_import_error(const char *sub, const char *name, bnn_status *status);
/* The live node producing the value named `out`; fails the test if none. */
const bnn_node *fe_producer(const bnn_graph *g, const char *out);
/* Number of live nodes with this op. */
int fe_count_op(const bnn_graph *g, bnn_op op);
/* Asserts the node's ints attribute equals want[0..n). */
void fe_expect_ints(const bnn_node *n, const char *attr, const int64_t *want, int count);
/* The param's f32 data; fails if the value is not an f32 param. */
const float *fe_param_f32(const bnn_graph *g, const char *name);
/* Exports g, imports it back and asserts the IR is identical. */
void fe_expect_roundtrip(const bnn_graph *g);

#endif
