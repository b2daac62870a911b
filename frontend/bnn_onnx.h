/* ONNX in and out: import a ModelProto into bnnc's IR, export IR as ONNX.
 *
 * Import validates everything it reads (sizes are checked before anything is
 * allocated) and maps ONNX ops onto IR ops, folding the shape arithmetic that
 * exporters emit.  Errors read "node 'NAME' (OpType): what is wrong" or name
 * the initializer, input or attribute; the caller puts the file name in front.
 */
#ifndef BNN_ONNX_H
#define BNN_ONNX_H

#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A graph input to treat as a constant with the given data (the conformance
 * runner binds integer inputs such as a Reshape's shape this way). */
typedef struct bnn_onnx_binding {
    const char *name;
    const bnn_tensor *value;
} bnn_onnx_binding;

/* Replaces a graph input's declared shape before anything is folded or
 * inferred (`--input-shape x=N,3,48,320`): dim i is dims[i] (>= 0), or the
 * symbol symbols[i] when that is non-NULL.  The rank must stay the model's. */
typedef struct bnn_onnx_input_shape {
    const char *name;
    int rank;
    int64_t dims[BNN_MAX_RANK];
    const char *symbols[BNN_MAX_RANK];
} bnn_onnx_input_shape;

/* A model exported with a fixed batch of 1: when every graph input of rank
 * 2 or more (not bound, no --input-shape given) has a leading dim of 1, that
 * dim becomes the symbol N (or "batch" when the model names a dim N), so the
 * model runs, evaluates and trains at any batch.  If the model's own
 * arithmetic then fails to import (a Reshape to a constant that pins the
 * batch, say), it is imported again as declared.  keep_fixed_batch turns
 * this off. */
typedef struct bnn_onnx_import_options {
    const bnn_onnx_binding *bindings;
    int n_bindings;
    const bnn_onnx_input_shape *input_shapes;
    int n_input_shapes;
    bool keep_fixed_batch;
    /* When not NULL: set to why a model's fixed batch of 1 could not be
     * freed (the freed import's message; the model was then imported as
     * declared), or to BNN_OK status and an empty message. */
    bnn_diag *fixed_batch_reason;
} bnn_onnx_import_options;

/* Parses "NAME=D0,D1,..." (each D a size or a symbol name; NAME may hold '=',
 * the last one splits) into out, whose strings point into text.  Fails with a
 * message naming what is wrong. */
bnn_status bnn_onnx_parse_input_shape(char *text, bnn_onnx_input_shape *out, bnn_diag *diag);

/* options may be NULL. External data files are looked up next to path. */
bnn_status bnn_onnx_import_file(const char *path, const bnn_onnx_import_options *options,
                                bnn_graph **out, bnn_diag *diag);
/* base_dir: where external data files live (NULL: none allowed). */
bnn_status bnn_onnx_import_buffer(const void *data, size_t size, const char *base_dir,
                                  const bnn_onnx_import_options *options, bnn_graph **out,
                                  bnn_diag *diag);

/* Writes standard ONNX (Bayesian ops in domain ai.bnnc, opset 1) to a temporary
 * file beside path and renames it into place, so path is never half-written. */
bnn_status bnn_onnx_export_file(const bnn_graph *graph, const char *path, bnn_diag *diag);

/* Reads a serialized TensorProto (.pb, as ONNX's test data stores inputs and
 * outputs) into an owned tensor. */
bnn_status bnn_onnx_read_tensor_file(const char *path, bnn_tensor *out, bnn_diag *diag);

/* The ONNX ops the importer lowers, with the opset range it honours. */
typedef struct bnn_onnx_op_support {
    const char *domain; /* "" for the default domain */
    const char *op_type;
    int since_opset, until_opset;
} bnn_onnx_op_support;
const bnn_onnx_op_support *bnn_onnx_supported_ops(int *count);

#ifdef __cplusplus
}
#endif

#endif
