/* Examples for a model's inputs, as train, eval, calibrate and run --samples
 * take them: one .npy array for a model's single input (the bare form,
 * `--train-x X.npy`), or one per input named NAME=FILE for a model with
 * several (`--train-x ids=ids.npy --train-x mask=mask.npy`: BERT's token ids
 * and attention mask, an image and a side vector).
 *
 * The training and prediction code takes one input array.  A model with
 * several inputs is given to it packed: its arrays' examples side by side in
 * one row ([n, W], W the sum of the inputs' per-example sizes; their common
 * type, or f64 when they differ, which holds every f32 and every integer up to
 * 2^53 exactly), and the graph gets one input, "bnnc.inputs", whose slices,
 * cast back and reshaped, are the model's inputs (bnnc_examples_bind).  Files
 * written from such a graph are unpacked first (bnnc_examples_export): the
 * model keeps its own inputs.
 */
#ifndef BNNC_EXAMPLES_H
#define BNNC_EXAMPLES_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_diag.h"
#include "bnn_ir.h"
#include "bnn_tensor.h"

enum { BNNC_MAX_EXAMPLE_INPUTS = 16, BNNC_MAX_INPUT_NAME = 256 };

/* The packed graph's one input. */
#define BNNC_PACKED_INPUT "bnnc.inputs"

typedef struct bnnc_examples {
    const char *option; /* "--train-x", for messages */
    int n;              /* arrays given */
    const char *name[BNNC_MAX_EXAMPLE_INPUTS]; /* in name_buf; NULL for the bare form */
    const char *path[BNNC_MAX_EXAMPLE_INPUTS];
    /* Several arrays, in the order of their names (so that two sets naming
     * the same inputs pack alike): each one's per-example shape and file
     * type, and its place in a packed row.  Set by the first read. */
    int order[BNNC_MAX_EXAMPLE_INPUTS];
    bnn_shape row[BNNC_MAX_EXAMPLE_INPUTS];
    bnn_dtype file_dtype[BNNC_MAX_EXAMPLE_INPUTS];
    int64_t offset[BNNC_MAX_EXAMPLE_INPUTS], width[BNNC_MAX_EXAMPLE_INPUTS], packed_width;
    bool have_layout;
    /* Set by bnnc_examples_bind on a model with several inputs. */
    bool packed;
    bnn_dtype packed_dtype;
    bnn_dtype input_dtype[BNNC_MAX_EXAMPLE_INPUTS]; /* per array */
    bnn_shape declared[BNNC_MAX_EXAMPLE_INPUTS];    /* per graph input, before packing */
    int n_inputs;                                   /* the model's */
    const char *input_name[BNNC_MAX_EXAMPLE_INPUTS]; /* in input_buf, graph order */
    char name_buf[BNNC_MAX_EXAMPLE_INPUTS][BNNC_MAX_INPUT_NAME];
    char input_buf[BNNC_MAX_EXAMPLE_INPUTS][BNNC_MAX_INPUT_NAME];
    char where[512]; /* "ids.npy, mask.npy", for messages */
} bnnc_examples;

/* Adds one --train-x (or --x, --val-x, ...) argument: NAME=FILE when it holds
 * a '=' after a non-empty name and is not itself an existing file, else FILE.
 * false after a usage error: too many, a name given twice or too long, a bare
 * FILE with another array.  Nothing is allocated: arg must outlive ex. */
bool bnnc_examples_add(bnnc_examples *ex, const char *cmd, const char *option, const char *arg);
/* The files, for messages: "X.npy" or "ids.npy, mask.npy". */
const char *bnnc_examples_where(const bnnc_examples *ex);

/* Reads the examples: all of them (rows NULL) or rows[0..count) (ascending;
 * a data-parallel rank's).  One array is read as it is; several are read,
 * checked to hold as many examples each (and, read again, the same
 * per-example shapes), and packed into an f64 x.  *total (may be NULL) gets
 * the example count.  Returns a BNNC_EXIT_* status after reporting. */
int bnnc_examples_read(bnnc_examples *ex, const int64_t *rows, int64_t count, bnn_tensor *x,
                       int64_t *total);

/* Packs parts[0..ex->n) (the arrays ex names, already read; each [n, ...])
 * into an f64 x as bnnc_examples_read does.  Returns a BNNC_EXIT_* status. */
int bnnc_examples_pack(bnnc_examples *ex, const bnn_tensor *parts, bnn_tensor *x);

/* Matches the arrays to the model's inputs: a bare array to a model's single
 * input, else every name to an input and every input to an array, each
 * example shape to the input's (symbolic dims past the batch are bound to
 * the data's sizes).  A model with several inputs is then packed in place
 * (see above).  `like`, when not NULL, is a set already bound to graph (the
 * training set, for --val-x): ex must name the same inputs with the same
 * shapes.  Returns a BNNC_EXIT_* status after reporting ("bnnc: MODEL: ..."). */
int bnnc_examples_bind(bnnc_examples *ex, bnn_graph *graph, const char *model,
                       const bnnc_examples *like);

/* Makes x what the bound graph's input takes: the single input's dtype
 * (bnnc_match_input_dtype), or, packed, each array's values checked against
 * its input's dtype (token ids whole numbers, naming the file and example)
 * and x converted to the packed type. */
bool bnnc_examples_fit(const bnnc_examples *ex, const bnn_graph *graph, bnn_tensor *x);

/* Writes graph as ONNX to path (bnn_onnx_export_file), unpacked when
 * ex packed it: the model's own inputs with their declared shapes. */
bnn_status bnnc_examples_export(const bnnc_examples *ex, const bnn_graph *graph, const char *path,
                                bnn_diag *diag);
/* A copy of graph with the model's own inputs (borrowing graph's params; the
 * caller destroys it), or NULL when out of memory.  For a graph ex did not
 * pack, a plain borrowing copy. */
bnn_graph *bnnc_examples_unpacked(const bnnc_examples *ex, const bnn_graph *graph);



#endif
