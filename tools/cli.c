/* Shared command-line helpers: error format, number parsing, model loading,
 * JSON strings. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_file.h"
#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "cli.h"

int bnnc_report(const char *where, const bnn_diag *diag)
{
    if (where)
        fprintf(stderr, "bnnc: %s: %s\n", where, diag->message);
    else
        fprintf(stderr, "bnnc: %s\n", diag->message);
    return BNNC_EXIT_ERROR;
}

bnn_comm *bnnc_comm_start(void)
{
    bnn_diag diag = {0};
    bnn_comm *comm = NULL;
    if (bnn_comm_create(&comm, &diag) != BNN_OK) {
        bnnc_report(NULL, &diag);
        return NULL;
    }
    int rank = bnn_comm_rank(comm);
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "bnnc: rank %d: cannot silence stdout\n", rank);
        bnn_comm_abort(comm, BNNC_EXIT_ERROR);
    }
    return comm;
}

bool bnnc_ranks_agree(bnn_comm *comm, const char *what, uint64_t value, const char *where)
{
    bnn_diag diag;
    if (bnn_comm_require_same(comm, value, what, &diag) == BNN_OK)
        return true;
    if (diag.message[0])
        bnnc_report(where, &diag);
    return false;
}

int bnnc_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bnnc %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'bnnc %s --help'.\n", cmd);
    va_end(ap);
    return BNNC_EXIT_USAGE;
}

bool bnnc_parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool bnnc_parse_float(const char *text, double *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* --input-shape overrides; the texts are kept for the process's life. */
#define MAX_INPUT_SHAPES 64
static bnn_onnx_input_shape input_shapes[MAX_INPUT_SHAPES];
static char *input_shape_text[MAX_INPUT_SHAPES];
static int n_input_shapes;

void bnnc_clear_input_shapes(void)
{
    for (int i = 0; i < n_input_shapes; i++)
        free(input_shape_text[i]);
    n_input_shapes = 0;
}

bool bnnc_add_input_shape(const char *cmd, const char *spec)
{
    if (n_input_shapes == MAX_INPUT_SHAPES) {
        bnnc_usage_error(cmd, "more than %d --input-shape options", MAX_INPUT_SHAPES);
        return false;
    }
    char *text = strdup(spec);
    bnn_diag diag = {0};
    if (!text || bnn_onnx_parse_input_shape(text, &input_shapes[n_input_shapes], &diag) != BNN_OK) {
        bnnc_usage_error(cmd, "%s", text ? diag.message : "out of memory");
        free(text);
        return false;
    }
    input_shape_text[n_input_shapes++] = text;
    return true;
}

/* Why the last model loaded kept its fixed batch of 1 (empty: it did not). */
static bnn_diag fixed_batch_reason;

void bnnc_note_fixed_batch(const char *model, int64_t rows)
{
    if (fixed_batch_reason.status != BNN_OK && rows != 1)
        fprintf(stderr, "bnnc: note: %s keeps the batch of 1 it was exported with, so it takes "
                "one example at a time: %s\n", model, fixed_batch_reason.message);
}

bnn_graph *bnnc_load_model(const char *path)
{
    bnn_graph *graph = NULL;
    bnn_diag diag = {0};
    bnn_onnx_import_options opt = {.input_shapes = input_shapes, .n_input_shapes = n_input_shapes,
                                   .fixed_batch_reason = &fixed_batch_reason};
    if (bnn_onnx_import_file(path, &opt, &graph, &diag) != BNN_OK) {
        size_t len = strlen(diag.message);
        if (n_input_shapes && diag.status == BNN_ERR_SHAPE && !strstr(diag.message, "--input-shape"))
            snprintf(diag.message + len, sizeof diag.message - len,
                     " (after --input-shape: the model's own shape arithmetic fixes this dim)");
        bnnc_report(path, &diag);
        return NULL;
    }
    return graph;
}

bnn_graph *bnnc_load_model_for_inference(const char *path)
{
    bnn_graph *graph = bnnc_load_model(path);
    if (!graph)
        return NULL;
    bnn_diag diag = {0};
    if (bnn_passes_run_text("fold-batchnorm,dce", graph, &diag) != BNN_OK) {
        bnnc_report(path, &diag);
        bnn_graph_destroy(graph);
        return NULL;
    }
    return graph;
}

bool bnnc_bind_input_dims(bnn_graph *g, const bnn_tensor *x, const char *where)
{
    if (g->n_inputs < 1)
        return true;
    const bnn_shape *s = &g->values[g->inputs[0]].shape;
    if (s->rank != x->shape.rank)
        return true; /* the session's own check names the mismatch */
    bool changed = false;
    for (int d = 1; d < s->rank; d++) {
        int64_t sym = s->dims[d];
        if (!bnn_dim_is_symbol(sym) || sym == s->dims[0])
            continue;
        for (int v = 0; v < g->n_values; v++)
            for (int k = 0; k < g->values[v].shape.rank; k++)
                if (g->values[v].shape.dims[k] == sym) {
                    g->values[v].shape.dims[k] = x->shape.dims[d];
                    changed = true;
                }
    }
    bnn_diag diag = {0};
    if (changed && bnn_graph_infer(g, &diag) != BNN_OK) {
        bnnc_report(where, &diag);
        return false;
    }
    return true;
}

/* The values an integer or bool dtype holds, as doubles; false for others. */
static bool dtype_range(bnn_dtype t, double *lo, double *hi)
{
    switch (t) {
    case BNN_BOOL: *lo = 0, *hi = 1; return true;
    case BNN_U8: *lo = 0, *hi = 255; return true;
    case BNN_I8: *lo = -128, *hi = 127; return true;
    case BNN_U16: *lo = 0, *hi = 65535; return true;
    case BNN_I16: *lo = -32768, *hi = 32767; return true;
    case BNN_U32: *lo = 0, *hi = 4294967295.0; return true;
    case BNN_I32: *lo = -2147483648.0, *hi = 2147483647.0; return true;
    case BNN_U64: *lo = 0, *hi = 18446744073709549568.0; return true;
    case BNN_I64: *lo = -9223372036854775808.0, *hi = 9223372036854774784.0; return true;
    default: return false;
    }
}

bool bnnc_match_input_dtype(const bnn_graph *graph, bnn_tensor *x, const char *where)
{
    if (graph->n_inputs < 1)
        return true;
    return bnnc_match_value_dtype(&graph->values[graph->inputs[0]], x, where);
}

bool bnnc_match_value_dtype(const bnn_value *in, bnn_tensor *x, const char *where)
{
    bnn_dtype want = in->dtype;
    if (want == BNN_UNDEFINED || want == x->dtype)
        return true;
    bnn_diag diag = {0};
    bnn_tensor f64 = {0}, out = {0};
    double lo, hi;
    if (dtype_range(want, &lo, &hi)) {
        /* every value must survive the trip: whole and within the type */
        if (bnn_tensor_convert(x, BNN_F64, &f64, &diag) != BNN_OK)
            return bnnc_report(where, &diag), false;
        int64_t n = bnn_tensor_numel(&f64);
        int64_t per = x->shape.rank > 0 && x->shape.dims[0] > 0 ? n / x->shape.dims[0] : 1;
        const double *v = f64.data;
        for (int64_t i = 0; i < n; i++)
            if (!(v[i] == floor(v[i]) && v[i] >= lo && v[i] <= hi)) {
                char range[96] = "";
                if (hi < 9007199254740992.0) /* the 64-bit types: "whole numbers" says it */
                    snprintf(range, sizeof range, " from %.0f to %.0f", lo, hi);
                fprintf(stderr, "bnnc: %s: example %lld holds %g (value %lld of %lld), but the "
                        "model's input '%s' takes %s: whole numbers%s\n", where,
                        (long long)(i / (per ? per : 1)), v[i], (long long)(i % (per ? per : 1)),
                        (long long)per, in->name, bnn_dtype_name(want), range);
                bnn_tensor_free(&f64);
                return false;
            }
        bnn_tensor_free(&f64);
    }
    if (bnn_tensor_convert(x, want, &out, &diag) != BNN_OK) {
        fprintf(stderr, "bnnc: %s: the model's input '%s' takes %s, and %s examples cannot be "
                "converted to it (%s)\n", where, in->name, bnn_dtype_name(want),
                bnn_dtype_name(x->dtype) ? bnn_dtype_name(x->dtype) : "these", diag.message);
        return false;
    }
    bnn_tensor_free(x);
    *x = out;
    return true;
}

bool bnnc_stdout_is_terminal(void)
{
    return isatty(STDOUT_FILENO);
}

void bnnc_print_json_doubles(const double *v, int64_t n)
{
    if (!v) {
        printf("null");
        return;
    }
    putchar('[');
    for (int64_t j = 0; j < n; j++)
        printf("%s%.6g", j ? ", " : "", v[j]);
    putchar(']');
}

void bnnc_print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

bool bnnc_output_is_input(const char *cmd, const char *output, const char *const *inputs, int n)
{
    for (int i = 0; output && i < n; i++)
        if (inputs[i] && bnn_same_file(output, inputs[i])) {
            fprintf(stderr, "bnnc %s: refusing to write %s: it is the input %s\n", cmd, output,
                    inputs[i]);
            return true;
        }
    return false;
}
