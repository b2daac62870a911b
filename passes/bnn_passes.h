/* The pass manager: named graph rewrites run as a pipeline.
 *
 *     bnn_pipeline *p;
 *     bnn_pipeline_parse("canonicalize,to-bnn{layers=dense exclude=fc3},dce", &p, &diag);
 *     bnn_pipeline_run_options opt = bnn_pipeline_run_defaults();
 *     opt.ir_out = stderr; opt.print_after_all = true;   // optional IR dumps
 *     bnn_pipeline_run(p, graph, &opt, &diag);
 *     bnn_pipeline_destroy(p);
 *
 * A pipeline is written as in MLIR: pass names separated by commas, each with
 * optional options in braces, `name{key=value key=value}`.  Options are
 * separated by spaces; a value runs to the next space or '}', so it may hold
 * commas (`layers=dense,conv`).  Every pass and option is listed by
 * bnn_pass_count()/bnn_pass_at() (what `bnnc passes` prints) and described in
 * docs/passes.md.
 *
 * The manager verifies the input graph, then runs each pass in order, drops
 * the nodes it marked dead, and verifies the graph again, so a pass that
 * breaks the graph is named: "pass 'to-bnn' produced an invalid graph: ...".
 */
#ifndef BNN_PASSES_H
#define BNN_PASSES_H

#include <stdbool.h>
#include <stdio.h>

#include "bnn_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One option of a pass, as `bnnc passes` shows it. */
typedef struct bnn_pass_option_info {
    const char *name;          /* as written in a pipeline: `to-bnn{prior_sigma=0.05}` */
    const char *default_value; /* as it would be written; "" for none */
    const char *help;          /* one line */
} bnn_pass_option_info;

typedef struct bnn_pass_info {
    const char *name;                    /* kebab-case, e.g. "fold-batchnorm" */
    const char *summary;                 /* one line */
    const bnn_pass_option_info *options; /* n_options entries */
    int n_options;
} bnn_pass_info;

/* The pass table, in the order `bnnc passes` lists it. */
int bnn_pass_count(void);
const bnn_pass_info *bnn_pass_at(int index);
/* NULL for a name no pass has. */
const bnn_pass_info *bnn_pass_find(const char *name);

/* ---- pipelines ------------------------------------------------------------ */

typedef struct bnn_pipeline bnn_pipeline;

/* Parses and checks a pipeline: every pass and option must exist and every
 * value must be valid for its option (checks that need a graph, such as node
 * names in to-bnn's only=, happen when it runs).  Errors give the column:
 * "pipeline column 14: pass 'to-bnn' has no option 'layer' (options: ...)".
 * An empty text is a pipeline of no passes. */
bnn_status bnn_pipeline_parse(const char *text, bnn_pipeline **out, bnn_diag *diag);
void bnn_pipeline_destroy(bnn_pipeline *pipeline);

int bnn_pipeline_length(const bnn_pipeline *pipeline);
const char *bnn_pipeline_pass_name(const bnn_pipeline *pipeline, int index);
/* The pipeline in canonical form, every option written out with its value
 * (defaults included), into buf (size n); returns buf. */
const char *bnn_pipeline_format(const bnn_pipeline *pipeline, char *buf, size_t n);

typedef struct bnn_pipeline_run_options {
    FILE *ir_out;            /* where IR dumps are written; NULL: no dumps */
    bool print_after_all;    /* dump after every pass */
    const char *print_after; /* dump after each run of this pass (a name in the pipeline) */
    bool verify_each;        /* verify the input and the graph after each pass (default) */
} bnn_pipeline_run_options;

bnn_pipeline_run_options bnn_pipeline_run_defaults(void);

/* Runs the passes in order over graph, in place.  options may be NULL (the
 * defaults).  On failure the graph may be half-rewritten: run on a clone
 * (bnn_graph_clone) when the original must survive an error.  Each dump
 * starts with a banner line "// ----- IR dump after NAME -----". */
bnn_status bnn_pipeline_run(const bnn_pipeline *pipeline, bnn_graph *graph,
                            const bnn_pipeline_run_options *options, bnn_diag *diag);

/* Parse and run in one call, for tests and tools that need no dumps. */
bnn_status bnn_passes_run_text(const char *pipeline_text, bnn_graph *graph, bnn_diag *diag);

/* Temperature scaling of a classifier (passes/to_bnn_temperature.c): set
 * multiplies the logits by 1/T in one `mul` node named "bnnc.temperature",
 * inserted before the output's softmax (or at the logits output) the first
 * time and updated in place after that; get reports T (1 when there is none). */
bnn_status bnn_graph_set_temperature(bnn_graph *graph, double temperature, bnn_diag *diag);
bnn_status bnn_graph_get_temperature(const bnn_graph *graph, double *temperature);

#ifdef __cplusplus
}
#endif

#endif
