/* Shared command-line helpers: error format, number parsing, model loading,
 * JSON strings. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bnn_file.h"
#include "bnn_onnx.h"
#include "cli.h"

int bnnc_report(const char *where, const bnn_diag *diag)
{
    if (where)
        fprintf(stderr, "bnnc: %s: %s\n", where, diag->message);
    else
        fprintf(stderr, "bnnc: %s\n", diag->message);
    return BNNC_EXIT_ERROR;
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

bnn_graph *bnnc_load_model(const char *path)
{
    bnn_graph *graph = NULL;
    bnn_diag diag = {0};
    if (bnn_onnx_import_file(path, NULL, &graph, &diag) != BNN_OK) {
        bnnc_report(path, &diag);
        return NULL;
    }
    return graph;
}

bool bnnc_stdout_is_terminal(void)
{
    return isatty(STDOUT_FILENO);
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
