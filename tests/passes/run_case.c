/* Runs one pass test written as IR text (tests/passes/cases/NAME.test):
 *
 *     // pipeline: canonicalize,dce
 *     graph @g(...) -> (...) { ... }          the input
 *     // ----- expected -----
 *     graph @g(...) -> (...) { ... }          what the printer must give
 *
 * or, for a case that must fail, `// error: TEXT` (a substring of the
 * message) instead of the expected section.  Lines starting with "//" before
 * the input are comments.
 *
 *     run_case FILE            exit 0 when the output matches
 *     run_case --update FILE   rewrite FILE's expected section with the output
 *                              (review the diff before committing it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_passes.h"

#define SEPARATOR "// ----- expected -----"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *next = realloc(buf, cap);
            if (!next) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = next;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The text after "// KEY:" on its line (trimmed), copied into out; false if absent. */
static bool directive(const char *text, const char *key, char *out, size_t n)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "// %s:", key);
    const char *p = strstr(text, pattern);
    if (!p)
        return false;
    p += strlen(pattern);
    while (*p == ' ')
        p++;
    size_t len = strcspn(p, "\n");
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\r'))
        len--;
    snprintf(out, n, "%.*s", (int)len, p);
    return true;
}

static void trim_end(char *s)
{
    size_t len = strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
        s[--len] = '\0';
}

int main(int argc, char **argv)
{
    bool update = argc == 3 && strcmp(argv[1], "--update") == 0;
    if (argc != 2 && !update) {
        fprintf(stderr, "usage: run_case [--update] FILE\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    char pipeline_text[2048], error[1024];
    if (!directive(text, "pipeline", pipeline_text, sizeof pipeline_text)) {
        fprintf(stderr, "%s: no '// pipeline:' line\n", path);
        return 1;
    }
    bool expect_error = directive(text, "error", error, sizeof error);
    char *sep = strstr(text, SEPARATOR);
    char *expected = sep ? sep + strlen(SEPARATOR) : NULL;
    if (sep)
        *sep = '\0';
    if (!expect_error && !expected && !update) {
        fprintf(stderr, "%s: neither '// error:' nor '%s'\n", path, SEPARATOR);
        return 1;
    }
    /* The input: from the first line that is not a "//" comment. */
    char *input = text;
    while (strncmp(input, "//", 2) == 0 || *input == '\n') {
        char *nl = strchr(input, '\n');
        if (!nl)
            break;
        input = nl + 1;
    }

    int status = 1;
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    char *actual = NULL;
    size_t actual_len = 0;
    if (bnn_graph_parse(input, path, &g, &diag) != BNN_OK) {
        fprintf(stderr, "%s: the input does not parse: %s\n", path, diag.message);
        goto done;
    }
    bnn_status st = bnn_passes_run_text(pipeline_text, g, &diag);
    if (expect_error) {
        if (st == BNN_OK) {
            fprintf(stderr, "%s: expected an error containing '%s', the pipeline succeeded\n",
                    path, error);
        } else if (!strstr(diag.message, error)) {
            fprintf(stderr, "%s: expected an error containing\n  %s\ngot\n  %s\n", path, error,
                    diag.message);
        } else {
            status = 0;
        }
        goto done;
    }
    if (st != BNN_OK) {
        fprintf(stderr, "%s: pipeline '%s' failed: %s\n", path, pipeline_text, diag.message);
        goto done;
    }
    FILE *mem = open_memstream(&actual, &actual_len);
    if (!mem || bnn_graph_print(g, mem) != BNN_OK || fclose(mem) != 0) {
        fprintf(stderr, "%s: printing failed\n", path);
        goto done;
    }
    trim_end(actual);
    if (update) {
        FILE *f = fopen(path, "w");
        trim_end(text);
        if (!f || fprintf(f, "%s\n%s\n%s\n", text, SEPARATOR, actual) < 0 || fclose(f) != 0) {
            fprintf(stderr, "%s: cannot write\n", path);
            goto done;
        }
        status = 0;
        goto done;
    }
    while (*expected == '\n')
        expected++;
    trim_end(expected);
    if (strcmp(expected, actual) != 0) {
        fprintf(stderr, "%s: after '%s'\n--- expected\n%s\n--- actual\n%s\n", path, pipeline_text,
                expected, actual);
        goto done;
    }
    /* The printed result must parse back (the pass left a well-formed graph). */
    bnn_graph *again = NULL;
    if (bnn_graph_parse(actual, "<output>", &again, &diag) != BNN_OK) {
        fprintf(stderr, "%s: the output does not parse back: %s\n", path, diag.message);
        goto done;
    }
    bnn_graph_destroy(again);
    status = 0;
done:
    bnn_graph_destroy(g);
    free(actual);
    free(text);
    return status;
}
