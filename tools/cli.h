/* What every bnnc subcommand shares: the command table, error reporting in
 * one format, and strict number parsing for options. */
#ifndef BNNC_CLI_H
#define BNNC_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "bnn_comm.h"
#include "bnn_diag.h"
#include "bnn_ir.h"
#include "bnn_tensor.h"

/* Exit statuses. */
enum { BNNC_EXIT_OK = 0, BNNC_EXIT_ERROR = 1, BNNC_EXIT_USAGE = 2 };

/* A subcommand: argv[0] is the subcommand's name; returns the exit status. */
typedef int (*bnnc_command_fn)(int argc, char **argv);

/* Each subcommand lives in tools/cmd_<name>.c. */
int bnnc_cmd_convert(int argc, char **argv);
int bnnc_cmd_dump(int argc, char **argv);
int bnnc_cmd_run(int argc, char **argv);
int bnnc_cmd_train(int argc, char **argv);
int bnnc_cmd_eval(int argc, char **argv);
int bnnc_cmd_bench(int argc, char **argv);
int bnnc_cmd_export(int argc, char **argv);
int bnnc_cmd_passes(int argc, char **argv);
int bnnc_cmd_ops(int argc, char **argv);
int bnnc_cmd_calibrate(int argc, char **argv);

/* Prints "bnnc: WHERE: MESSAGE" to stderr (WHERE may be NULL) and returns
 * BNNC_EXIT_ERROR. */
int bnnc_report(const char *where, const bnn_diag *diag);
/* Prints "bnnc CMD: MESSAGE" and a hint to run --help; returns BNNC_EXIT_USAGE. */
int bnnc_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whole-string parses with range checks; false on anything else. */
bool bnnc_parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out);
bool bnnc_parse_float(const char *text, double *out);

/* Imports an ONNX model (with the --input-shape overrides given so far); on
 * failure reports "bnnc: PATH: ..." and returns NULL. */
bnn_graph *bnnc_load_model(const char *path);
/* After loading a model that kept a fixed batch of 1 because its own
 * arithmetic pins it (docs/onnx.md), and given `rows` examples (not 1):
 * prints "bnnc: note: MODEL keeps the batch of 1 ...: WHY" to stderr, before
 * the error the batch mismatch then gives. */
void bnnc_note_fixed_batch(const char *model, int64_t rows);
/* bnnc_load_model for inference (run, eval, bench without --train): batch
 * norms after a conv or dense layer are folded into its weights
 * (fold-batchnorm, then dce), one layer less to run and the same numbers to
 * float rounding.  Training keeps them (they may be trainable). */
bnn_graph *bnnc_load_model_for_inference(const char *path);

/* --input-shape NAME=DIMS, shared by every command that loads a model: add
 * BNNC_INPUT_SHAPE_OPTION to the getopt table and call bnnc_add_input_shape
 * for it; false (a usage error printed) when the text does not parse. */
enum { BNNC_OPT_INPUT_SHAPE = 1000 };
#define BNNC_INPUT_SHAPE_OPTION {"input-shape", required_argument, NULL, BNNC_OPT_INPUT_SHAPE}
#define BNNC_INPUT_SHAPE_USAGE \
    "  --input-shape NAME=DIMS    replace input NAME's declared shape before import\n" \
    "                             (DIMS: sizes or symbols, e.g. x=N,3,48,320)\n"
bool bnnc_add_input_shape(const char *cmd, const char *spec);
/* Forgets the overrides given so far (a command that parses its arguments
 * again, as train --select does for each of its runs). */
void bnnc_clear_input_shapes(void);

/* `run` and `eval` take their shapes from the data: every symbolic dim of
 * input 0 past the batch is bound to x's size there, in the whole graph, and
 * shapes are re-inferred (computed reshape targets are then evaluated when a
 * session is made).  Reports "bnnc: WHERE: ..." and returns false on failure. */
bool bnnc_bind_input_dims(bnn_graph *graph, const bnn_tensor *x, const char *where);

/* Makes x (examples read from WHERE, a file or directory) the dtype of the
 * model's input 0: a text model's token ids stay integers, images become
 * float32.  Floats given to an integer input must be whole numbers within
 * the type's range (a token id of 2.5 is a mistake, not token 2); bool takes
 * 0 and 1.  Reports "bnnc: WHERE: example E ..." and returns false when a
 * value does not fit; x is unchanged then. */
bool bnnc_match_input_dtype(const bnn_graph *graph, bnn_tensor *x, const char *where);
/* The same for the input `in` of a model with several (tools/examples.c). */
bool bnnc_match_value_dtype(const bnn_value *in, bnn_tensor *x, const char *where);

/* When output names the same file as one of inputs[0..n) (NULL entries
 * skipped), prints "bnnc CMD: refusing to write OUTPUT: it is the input
 * INPUT" and returns true: an output never replaces what it was made from. */
bool bnnc_output_is_input(const char *cmd, const char *output, const char *const *inputs, int n);

/* Starts the communicator of `bnnc train` and `bnnc eval` (one rank when
 * not under mpirun); ranks past 0 print nothing on stdout, their errors still
 * go to stderr.  NULL after reporting why it could not. */
bnn_comm *bnnc_comm_start(void);

/* What the ranks of a data-parallel job must agree on (the model, the data
 * and options), each VALUE compared with rank 0's; false when any differs, a
 * differing rank and rank 0 then say so ("bnnc: WHERE: ...").  A job of one
 * always agrees. */
bool bnnc_ranks_agree(bnn_comm *comm, const char *what, uint64_t value, const char *where);

/* True when stdout is a terminal (progress bars, colours). */
bool bnnc_stdout_is_terminal(void);

/* Prints s to stdout as a JSON string (quotes, backslashes and control
 * characters escaped): paths may hold any byte. */
void bnnc_print_json_string(const char *s);

/* Prints v[0..n) to stdout as a JSON array ("%.6g" each), or null when v is
 * NULL. */
void bnnc_print_json_doubles(const double *v, int64_t n);

#endif
