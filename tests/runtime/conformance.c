/* ONNX backend conformance: runs every case of node/ and pytorch-converted/
 * in ONNX's test data (Debian's libonnx-testdata) through bnnc.
 *
 * usage: conformance [--expected FILE | --write-expected FILE] [DATA_DIR] [SUBSTRING]
 *        (DATA_DIR default $BNNC_ONNX_TESTDATA)
 *
 * For each case and each test_data_set_*: integer-typed inputs are bound as
 * constants at import (so shape operands are static), and so are inputs of
 * any type whose value decides an output's size (Range's bounds, OneHot's
 * depth: a plan fixes sizes before it sees data) or what an op is
 * (Dropout's ratio and training_mode), the model is imported
 * (an unsupported op or type skips the case, with the reason), a session is
 * planned for the input shapes, run, and each output_K.pb is compared with
 * ONNX's default backend tolerance |a - b| <= atol + rtol * |b| (rtol 1e-3,
 * atol 1e-7; NaN equals NaN).  Each case runs in a child process so a crash
 * or a hang is one failure, not the end of the run.  Prints what differed
 * for each failure, then "N passed, N failed, N skipped" and the skips
 * grouped by reason.  Exits 1 on any failure.
 *
 * A skip alone cannot fail the run, so an op the importer stopped supporting
 * would go unnoticed; --expected FILE (the suite passes
 * tests/runtime/conformance_expected.txt) names the cases that must pass,
 * "suite/case" one per line, sorted.  A listed case that is skipped, fails
 * or is missing from the data fails the run, by name; a case that passes but
 * is not listed is reported, so that the list can grow.  --write-expected
 * FILE writes the cases that pass now, in that form.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "bnn_runtime.h"
#include "case_inputs.h"
#include "expected_list.h"
#include "onnx.pb-c.h"
#include "plan_impl.h" /* bnn_session_check_plan */

#define MAX_IO 32
#define CASE_TIMEOUT_S 120

/* Per-case tolerance, loosened only with a written reason. */
static const struct {
    const char *name;
    double rtol, atol;
    const char *reason;
} tolerances[] = {
    /* {"test_case_name", rtol, atol, "why this case needs more"}, */
    {NULL, 0, 0, NULL},
};

typedef enum outcome { CASE_PASS, CASE_FAIL, CASE_SKIP } outcome;

static void tolerance_for(const char *name, double *rtol, double *atol)
{
    *rtol = 1e-3;
    *atol = 1e-7;
    for (size_t i = 0; tolerances[i].name; i++)
        if (strcmp(tolerances[i].name, name) == 0) {
            *rtol = tolerances[i].rtol;
            *atol = tolerances[i].atol;
        }
}

static bool is_float(bnn_dtype t)
{
    return t == BNN_F32 || t == BNN_F64 || t == BNN_F16 || t == BNN_BF16;
}

/* IEEE half and bfloat16 from their bits, written plainly (not the kernels'
 * converter) so the comparison checks it. */
static double half_value(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = exp == 0 ? ldexp(man, -24) : exp == 31 ? (man ? NAN : INFINITY)
                                                      : ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static double bfloat16_value(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static double load(const bnn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case BNN_F32: return ((const float *)t->data)[i];
    case BNN_F64: return ((const double *)t->data)[i];
    case BNN_I8: return ((const int8_t *)t->data)[i];
    case BNN_I16: return ((const int16_t *)t->data)[i];
    case BNN_I32: return ((const int32_t *)t->data)[i];
    case BNN_I64: return (double)((const int64_t *)t->data)[i];
    case BNN_U8: case BNN_BOOL: return ((const uint8_t *)t->data)[i];
    case BNN_U16: return ((const uint16_t *)t->data)[i];
    case BNN_U32: return ((const uint32_t *)t->data)[i];
    case BNN_U64: return (double)((const uint64_t *)t->data)[i];
    case BNN_F16: return half_value(((const uint16_t *)t->data)[i]);
    case BNN_BF16: return bfloat16_value(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

/* Compares got with want; on a mismatch writes what differed into msg. */
static bool compare(const char *what, const bnn_tensor *got, const bnn_tensor *want, double rtol,
                    double atol, char *msg, size_t n)
{
    char a[256], b[256];
    if (got->dtype != want->dtype || !bnn_shape_equal(&got->shape, &want->shape)) {
        snprintf(msg, n, "%s: got %s, expected %s", what,
                 bnn_shape_format(&got->shape, got->dtype, a, sizeof a),
                 bnn_shape_format(&want->shape, want->dtype, b, sizeof b));
        return false;
    }
    int64_t count = bnn_tensor_numel(want), first = -1, bad = 0;
    double max_err = 0;
    bool exact = !is_float(want->dtype);
    if (want->dtype == BNN_I64 || want->dtype == BNN_U64) {
        /* doubles cannot hold every 64-bit integer: compare the bits */
        for (int64_t i = 0; i < count; i++)
            if (((const int64_t *)got->data)[i] != ((const int64_t *)want->data)[i]) {
                if (first < 0)
                    first = i;
                bad++;
            }
    } else {
        for (int64_t i = 0; i < count; i++) {
            double x = load(got, i), y = load(want, i);
            bool ok;
            if (isnan(y) || isnan(x))
                ok = isnan(x) && isnan(y);
            else if (isinf(y) || isinf(x))
                ok = x == y;
            else if (exact)
                ok = x == y;
            else
                ok = fabs(x - y) <= atol + rtol * fabs(y);
            if (!isnan(x) && !isnan(y) && !isinf(x) && !isinf(y) && fabs(x - y) > max_err)
                max_err = fabs(x - y);
            if (!ok) {
                if (first < 0)
                    first = i;
                bad++;
            }
        }
    }
    if (bad == 0)
        return true;
    snprintf(msg, n, "%s %s: %lld of %lld elements differ, max abs error %.3g, first at index "
             "%lld: got %.9g, expected %.9g (rtol %g, atol %g)", what,
             bnn_shape_format(&want->shape, want->dtype, a, sizeof a), (long long)bad,
             (long long)count, max_err, (long long)first, load(got, first), load(want, first),
             rtol, atol);
    return false;
}

/* Names of the model's real inputs (not initializers), in order; sized[k]
 * says whether input k decides an output's size (decides_a_size). */
static int model_inputs(const char *path, char names[MAX_IO][256], bool sized[MAX_IO], char *msg,
                        size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "cannot open %s", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    Onnx__ModelProto *m = got == (size_t)size ? onnx__model_proto__unpack(NULL, got, buf) : NULL;
    free(buf);
    if (!m || !m->graph) {
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        snprintf(msg, n, "cannot parse %s", path);
        return -1;
    }
    /* Sequences, maps and optionals are stored as other protos than
     * TensorProto: such cases are out of bnnc's reach. */
    for (size_t k = 0; k < m->graph->n_input + m->graph->n_output; k++) {
        const Onnx__ValueInfoProto *vi = k < m->graph->n_input
                                             ? m->graph->input[k]
                                             : m->graph->output[k - m->graph->n_input];
        if (vi->type && vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            snprintf(msg, n, "graph inputs or outputs that are not tensors (sequence, map, "
                     "optional) are not supported");
            onnx__model_proto__free_unpacked(m, NULL);
            return -2;
        }
    }
    int count = 0;
    for (size_t i = 0; i < m->graph->n_input && count < MAX_IO; i++) {
        const char *name = m->graph->input[i]->name ? m->graph->input[i]->name : "";
        bool init = false;
        for (size_t k = 0; k < m->graph->n_initializer; k++)
            if (m->graph->initializer[k]->name && strcmp(m->graph->initializer[k]->name, name) == 0)
                init = true;
        if (!init) {
            sized[count] = case_input_is_constant(m->graph, name);
            snprintf(names[count++], 256, "%s", name);
        }
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return count;
}

static int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[4096];
    struct stat st;
    while (n < MAX_IO) {
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        if (stat(path, &st) != 0)
            break;
        n++;
    }
    return n;
}

static int filter_sets(const struct dirent *d)
{
    return strncmp(d->d_name, "test_data_set_", 14) == 0;
}

/* One data set of one case; msg gets the reason for a skip or a failure. */
static outcome run_data_set(const char *case_dir, const char *case_name, const char *set_dir,
                            char *msg, size_t n)
{
    char model[4096], path[4096];
    char names[MAX_IO][256];
    snprintf(model, sizeof model, "%s/model.onnx", case_dir);
    bool sized[MAX_IO] = {false};
    int n_model_inputs = model_inputs(model, names, sized, msg, n);
    if (n_model_inputs < 0)
        return n_model_inputs == -2 ? CASE_SKIP : CASE_FAIL;
    int n_in = count_files(set_dir, "input"), n_out = count_files(set_dir, "output");
    bnn_tensor inputs[MAX_IO] = {0}, outputs[MAX_IO] = {0};
    bnn_onnx_binding bindings[MAX_IO];
    int n_bindings = 0;
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    bnn_session *s = NULL;
    outcome result = CASE_FAIL;
    for (int i = 0; i < n_in; i++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set_dir, i);
        if (bnn_onnx_read_tensor_file(path, &inputs[i], &diag) != BNN_OK) {
            snprintf(msg, n, "%s", diag.message);
            result = diag.status == BNN_ERR_UNSUPPORTED ? CASE_SKIP : CASE_FAIL;
            goto done;
        }
        if (i < n_model_inputs && (!is_float(inputs[i].dtype) || sized[i]))
            bindings[n_bindings++] = (bnn_onnx_binding){names[i], &inputs[i]};
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(path, sizeof path, "%s/output_%d.pb", set_dir, i);
        if (bnn_onnx_read_tensor_file(path, &outputs[i], &diag) != BNN_OK) {
            snprintf(msg, n, "%s", diag.message);
            result = diag.status == BNN_ERR_UNSUPPORTED ? CASE_SKIP : CASE_FAIL;
            goto done;
        }
    }
    bnn_onnx_import_options opt = {.bindings = bindings, .n_bindings = n_bindings};
    if (bnn_onnx_import_file(model, &opt, &g, &diag) != BNN_OK) {
        snprintf(msg, n, "%s", diag.message);
        result = diag.status == BNN_ERR_UNSUPPORTED ? CASE_SKIP : CASE_FAIL;
        goto done;
    }
    /* Feed the graph's inputs by name from the model's input order. */
    bnn_shape shapes[MAX_IO];
    int feed[MAX_IO];
    if (g->n_inputs > MAX_IO) {
        snprintf(msg, n, "too many inputs");
        goto done;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        const char *name = g->values[g->inputs[k]].name;
        feed[k] = -1;
        for (int i = 0; i < n_in && i < n_model_inputs; i++)
            if (strcmp(names[i], name) == 0)
                feed[k] = i;
        if (feed[k] < 0) {
            snprintf(msg, n, "graph input '%s' has no input_*.pb", name);
            goto done;
        }
        shapes[k] = inputs[feed[k]].shape;
    }
    bnn_session_options so = bnn_session_defaults();
    so.threads = 1;
    if (bnn_session_create(g, shapes, &so, &s, &diag) != BNN_OK) {
        snprintf(msg, n, "plan: %s", diag.message);
        goto done;
    }
    if (bnn_session_check_plan(s, &diag) != BNN_OK) {
        snprintf(msg, n, "plan is wrong: %s", diag.message);
        goto done;
    }
    for (int k = 0; k < g->n_inputs; k++)
        if (bnn_session_set_input(s, bnn_session_input_name(s, k), &inputs[feed[k]], &diag) != BNN_OK) {
            snprintf(msg, n, "set input: %s", diag.message);
            goto done;
        }
    if (bnn_session_run(s, &diag) != BNN_OK) {
        snprintf(msg, n, "run: %s", diag.message);
        goto done;
    }
    if (bnn_session_n_outputs(s) != n_out) {
        snprintf(msg, n, "the graph has %d outputs, the data %d", bnn_session_n_outputs(s), n_out);
        goto done;
    }
    double rtol, atol;
    tolerance_for(case_name, &rtol, &atol);
    result = CASE_PASS;
    for (int i = 0; i < n_out && result == CASE_PASS; i++) {
        char what[300];
        snprintf(what, sizeof what, "output %d '%s'", i, bnn_session_output_name(s, i));
        if (!compare(what, bnn_session_output(s, i), &outputs[i], rtol, atol, msg, n))
            result = CASE_FAIL;
    }
done:
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
    for (int i = 0; i < MAX_IO; i++) {
        bnn_tensor_free(&inputs[i]);
        bnn_tensor_free(&outputs[i]);
    }
    return result;
}

static outcome run_case(const char *case_dir, const char *case_name, char *msg, size_t n)
{
    struct dirent **sets;
    int n_sets = scandir(case_dir, &sets, filter_sets, alphasort);
    if (n_sets <= 0) {
        snprintf(msg, n, "no test_data_set_* directories");
        if (n_sets == 0)
            free(sets);
        return CASE_SKIP;
    }
    outcome result = CASE_PASS;
    for (int i = 0; i < n_sets; i++) {
        if (result == CASE_PASS) {
            char set_dir[4096];
            snprintf(set_dir, sizeof set_dir, "%s/%s", case_dir, sets[i]->d_name);
            char sub[900];
            result = run_data_set(case_dir, case_name, set_dir, sub, sizeof sub);
            if (result != CASE_PASS)
                snprintf(msg, n, result == CASE_FAIL ? "%s: %s" : "%.0s%s", sets[i]->d_name, sub);
        }
        free(sets[i]);
    }
    free(sets);
    return result;
}

/* Runs a case in a child; its verdict and message come back through a pipe. */
static outcome run_isolated(const char *case_dir, const char *case_name, char *msg, size_t n)
{
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(msg, n, "pipe failed");
        return CASE_FAIL;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm(CASE_TIMEOUT_S);
        char buf[1100];
        buf[0] = 0;
        outcome o = run_case(case_dir, case_name, buf + 1, sizeof buf - 1);
        buf[0] = (char)('0' + o);
        ssize_t w = write(fd[1], buf, strlen(buf));
        (void)w;
        close(fd[1]);
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    close(fd[1]);
    char buf[1100];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got == 0) {
        if (WIFSIGNALED(status))
            snprintf(msg, n, "crashed with signal %d (%s)", WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? "timed out" : strsignal(WTERMSIG(status)));
        else
            snprintf(msg, n, "child exited with status %d", WEXITSTATUS(status));
        return CASE_FAIL;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* The verdict came, but the child died after it (a sanitizer at exit). */
        snprintf(msg, n, "%s %d after the case ran (a leak?)",
                 WIFSIGNALED(status) ? "died with signal" : "exited with status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return CASE_FAIL;
    }
    snprintf(msg, n, "%s", buf + 1);
    return (outcome)(buf[0] - '0');
}

/* Skips are grouped by reason with the node name taken out, so that "node
 * 'x' (Foo): ..." and "node 'y' (Foo): ..." count as one reason. */
static void reason_key(const char *msg, char *key, size_t n)
{
    const char *p = strstr(msg, "node '");
    if (p) {
        const char *q = strchr(p + 6, '\'');
        if (q) {
            snprintf(key, n, "%.*snode %s", (int)(p - msg), msg, q + 2);
            return;
        }
    }
    snprintf(key, n, "%s", msg);
}

typedef struct skip_group {
    char reason[600];
    char cases[4000];
    int count;
} skip_group;

/* Globals, not locals, so that LeakSanitizer in a forked child sees the
 * parent's bookkeeping as reachable. */
static skip_group *groups;
static struct dirent **cases;

static int filter_dirs(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    const char *expected_path = NULL, *write_path = NULL;
    int arg = 1;
    while (arg + 1 < argc && (strcmp(argv[arg], "--expected") == 0 ||
                              strcmp(argv[arg], "--write-expected") == 0)) {
        if (strcmp(argv[arg], "--expected") == 0)
            expected_path = argv[arg + 1];
        else
            write_path = argv[arg + 1];
        arg += 2;
    }
    const char *root = arg < argc ? argv[arg] : getenv("BNNC_ONNX_TESTDATA");
    const char *only = arg + 1 < argc ? argv[arg + 1] : NULL;
    if (!root || (arg < argc && argv[arg][0] == '-') || arg + 2 < argc) {
        fprintf(stderr, "usage: conformance [--expected FILE | --write-expected FILE] "
                "[DATA_DIR] [SUBSTRING]  (or set BNNC_ONNX_TESTDATA)\n");
        return 2;
    }
    if (write_path && only) {
        fprintf(stderr, "conformance: --write-expected writes every passing case; it takes "
                "no SUBSTRING\n");
        return 2;
    }
    expected_list *list = expected_list_read(expected_path);
    if (!list)
        return 2;
    static const char *const suites[] = {"node", "pytorch-converted"};
    int passed = 0, failed = 0, skipped = 0, n_groups = 0;
    groups = calloc(1000, sizeof *groups);
    if (!groups) {
        expected_list_free(list);
        return 2;
    }
    for (size_t su = 0; su < 2; su++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, suites[su]);
        int n_cases = scandir(dir, &cases, filter_dirs, alphasort);
        if (n_cases < 0) {
            fprintf(stderr, "conformance: cannot read %s\n", dir);
            free(groups);
            expected_list_free(list);
            return 2;
        }
        int suite_counts[3] = {0, 0, 0};
        for (int c = 0; c < n_cases; c++) {
            const char *name = cases[c]->d_name;
            if (only && !strstr(name, only)) {
                free(cases[c]);
                continue;
            }
            char case_dir[4096 + 256], msg[1100];
            snprintf(case_dir, sizeof case_dir, "%s/%s", dir, name);
            msg[0] = 0;
            outcome o = run_isolated(case_dir, name, msg, sizeof msg);
            suite_counts[o]++;
            char full[300];
            snprintf(full, sizeof full, "%s/%s", suites[su], name);
            expected_list_note(list, full, o == CASE_PASS, o == CASE_SKIP ? msg : NULL);
            if (o == CASE_PASS) {
                passed++;
            } else if (o == CASE_FAIL) {
                failed++;
                printf("FAIL %s/%s: %s\n", suites[su], name, msg);
            } else {
                skipped++;
                char key[600];
                reason_key(msg, key, sizeof key);
                int gi = 0;
                while (gi < n_groups && strcmp(groups[gi].reason, key) != 0)
                    gi++;
                if (gi == n_groups && n_groups < 1000)
                    snprintf(groups[n_groups++].reason, sizeof groups[0].reason, "%s", key);
                if (gi < n_groups) {
                    size_t at = strlen(groups[gi].cases);
                    if (at + strlen(name) + 3 < sizeof groups[gi].cases)
                        snprintf(groups[gi].cases + at, sizeof groups[gi].cases - at, "%s%s",
                                 at ? " " : "", name);
                    groups[gi].count++;
                }
            }
            free(cases[c]);
        }
        free(cases);
        printf("%s: %d passed, %d failed, %d skipped\n", suites[su], suite_counts[CASE_PASS],
               suite_counts[CASE_FAIL], suite_counts[CASE_SKIP]);
    }
    printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (n_groups)
        printf("skipped, by reason:\n");
    for (int i = 0; i < n_groups; i++)
        printf("  [%d] %s\n      %s\n", groups[i].count, groups[i].reason, groups[i].cases);
    free(groups);

    /* The expected list: each listed case that was in reach of this run must
     * have passed (a failure was already printed above as FAIL). */
    int lost = expected_list_finish(list, root, only);
    int status = failed || lost ? 1 : 0;
    if (write_path && !expected_list_write(list, write_path))
        status = 2;
    expected_list_free(list);
    return status;
}
