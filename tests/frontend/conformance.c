/* Conformance import: walks every case of ONNX's backend test data (node/,
 * pytorch-converted/, pytorch-operator/ and simple/; real/ holds no models in
 * Debian's package), imports each model whose ops bnnc supports, and fails if
 * any such model fails to import, verify, or come back identical through
 * export and re-import.  Models with an op outside the list are skipped and
 * listed by reason.  Integer graph inputs (a Reshape's shape, a Gather's
 * indices...) are bound to the case's test data, as a runtime would see them,
 * and so are inputs of any type whose value decides an output's size
 * (Range's bounds, OneHot's depth) or what an op is (Dropout's ratio and
 * training_mode).
 *
 * usage: conformance_import [--expected FILE | --write-expected FILE]
 *
 * A skip never fails the run, so an op dropped from the supported list would
 * only move its models to "skipped"; --expected FILE (the suite passes
 * tests/frontend/conformance_import_expected.txt) names the cases that must
 * pass, "dir/case" one a line, sorted bytewise.  A listed case that is
 * skipped, fails or is missing fails the run, by name; a passing case not
 * listed is printed as NEW PASS.  --write-expected FILE writes the cases
 * that pass now (tests/expected_list.c, shared with tests/runtime/conformance.c;
 * docs/runtime.md, "Conformance").
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "case_inputs.h"
#include "expected_list.h"
#include "graph_compare.h"
#include "onnx_impl.h"

typedef struct reason {
    char text[160];
    int count;
    char example[128];
} reason;

static reason reasons[256];
static int n_reasons;

static char last_skip[160]; /* why the last case was skipped */

static void skip(const char *why, const char *case_name)
{
    snprintf(last_skip, sizeof last_skip, "%s", why);
    for (int i = 0; i < n_reasons; i++)
        if (strcmp(reasons[i].text, why) == 0) {
            reasons[i].count++;
            return;
        }
    if (n_reasons == 256)
        return;
    snprintf(reasons[n_reasons].text, sizeof reasons[n_reasons].text, "%s", why);
    snprintf(reasons[n_reasons].example, sizeof reasons[n_reasons].example, "%s", case_name);
    reasons[n_reasons++].count = 1;
}

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}
/* Why bnnc cannot take this model, or NULL when every op is in its list. */
static const char *unsupported_reason(const Onnx__ModelProto *m, char *buf, size_t n)
{
    int64_t opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *d = onnx_str(m->opset_import[i]->domain);
        if (!*d || strcmp(d, "ai.onnx") == 0)
            opset = m->opset_import[i]->version;
    }
    int count;
    const bnn_onnx_op_support *ops = bnn_onnx_supported_ops(&count);
    for (size_t i = 0; i < m->graph->n_node; i++) {
        const Onnx__NodeProto *nd = m->graph->node[i];
        const char *dom = onnx_str(nd->domain);
        if (strcmp(dom, "ai.onnx") == 0)
            dom = "";
        bool ok = false;
        for (int k = 0; k < count && !ok; k++)
            ok = strcmp(ops[k].domain, dom) == 0 && strcmp(ops[k].op_type, onnx_str(nd->op_type)) == 0;
        if (!ok) {
            snprintf(buf, n, "unsupported op %s%s%s", dom, *dom ? "." : "", onnx_str(nd->op_type));
            return buf;
        }
    }
    if (opset < BNN_ONNX_MIN_OPSET) {
        snprintf(buf, n, "opset %lld (bnnc reads %d to %d)", (long long)opset, BNN_ONNX_MIN_OPSET, BNN_ONNX_MAX_OPSET);
        return buf;
    }
    for (size_t i = 0; i < m->graph->n_input; i++) {
        const Onnx__TypeProto *tp = m->graph->input[i]->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            snprintf(buf, n, "non-tensor graph input");
            return buf;
        }
        if (bnn_onnx_dtype(tp->tensor_type->elem_type) == BNN_UNDEFINED) {
            snprintf(buf, n, "unsupported element type %d", (int)tp->tensor_type->elem_type);
            return buf;
        }
    }
    return NULL;
}

typedef struct bound {
    bnn_onnx_binding b[16];
    bnn_tensor t[16];
    char *names[16];
    int n;
} bound;

/* Binds the case's integer inputs, and those of any type whose value
 * decides an output's size (input_K.pb of test_data_set_0). */
static bool bind_int_inputs(const char *dir, const Onnx__ModelProto *m, bound *bd)
{
    bd->n = 0;
    int k = 0;
    for (size_t i = 0; i < m->graph->n_input; i++) {
        const Onnx__ValueInfoProto *vi = m->graph->input[i];
        bool init = false;
        for (size_t j = 0; j < m->graph->n_initializer && !init; j++)
            init = strcmp(onnx_str(m->graph->initializer[j]->name), onnx_str(vi->name)) == 0;
        if (init)
            continue;
        int et = vi->type->tensor_type->elem_type;
        int idx = k++;
        if (et != BNN_I64 && et != BNN_I32 && !case_input_is_constant(m->graph, onnx_str(vi->name)))
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, idx);
        size_t len;
        void *buf = read_all(path, &len);
        if (!buf)
            continue;
        Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, buf);
        free(buf);
        if (!t)
            return false;
        onnx_data d;
        bnn_diag diag;
        bnn_status s = bnn_onnx_decode_tensor(t, NULL, "input", &d, &diag);
        onnx__tensor_proto__free_unpacked(t, NULL);
        if (s != BNN_OK || bd->n == 16)
            return false;
        bnn_tensor *bt = &bd->t[bd->n];
        bt->dtype = d.dtype;
        bt->shape = d.shape;
        bt->data = d.data;
        bt->owns_data = false;
        bd->names[bd->n] = strdup(onnx_str(vi->name));
        bd->b[bd->n].name = bd->names[bd->n];
        bd->b[bd->n].value = bt;
        bd->n++;
    }
    return true;
}

static void unbind(bound *bd)
{
    for (int i = 0; i < bd->n; i++) {
        free(bd->t[i].data);
        free(bd->names[i]);
    }
    bd->n = 0;
}

static int passed, failed, skipped;

static void run_case(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len;
    void *buf = read_all(path, &len);
    if (!buf)
        return;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!m || !m->graph) {
        printf("FAIL %s: protobuf-c cannot read the model\n", name);
        failed++;
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        return;
    }
    char why[256];
    if (unsupported_reason(m, why, sizeof why)) {
        skip(why, name);
        skipped++;
        onnx__model_proto__free_unpacked(m, NULL);
        return;
    }
    bound bd;
    bool bound_ok = bind_int_inputs(dir, m, &bd);
    onnx__model_proto__free_unpacked(m, NULL);
    if (!bound_ok) {
        printf("FAIL %s: cannot read its integer inputs\n", name);
        failed++;
        unbind(&bd);
        return;
    }
    bnn_onnx_import_options opts = { .bindings = bd.b, .n_bindings = bd.n };
    bnn_graph *g = NULL, *g2 = NULL;
    bnn_diag diag = { 0 };
    bnn_status s = bnn_onnx_import_file(path, &opts, &g, &diag);
    if (s == BNN_ERR_UNSUPPORTED) {
        /* A supported op with a feature outside the list (3-D conv, a used
         * MaxPool Indices output, training mode...). */
        const char *p = strstr(diag.message, "): ");
        snprintf(why, sizeof why, "%s", p ? p + 3 : diag.message);
        skip(why, name);
        skipped++;
        unbind(&bd);
        return;
    }
    if (s != BNN_OK) {
        printf("FAIL %s: %s\n", name, diag.message);
        failed++;
        unbind(&bd);
        return;
    }
    if (bnn_graph_verify(g, &diag) != BNN_OK) {
        printf("FAIL %s: verify: %s\n", name, diag.message);
        failed++;
        goto out;
    }
    /* Export and read back: the same IR. */
    char tmp[] = "/tmp/bnnc-conformance-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        printf("FAIL %s: mkstemp\n", name);
        failed++;
        goto out;
    }
    close(fd);
    if (bnn_onnx_export_file(g, tmp, &diag) != BNN_OK) {
        printf("FAIL %s: export: %s\n", name, diag.message);
        failed++;
    } else if (bnn_onnx_import_file(tmp, NULL, &g2, &diag) != BNN_OK) {
        printf("FAIL %s: re-import of the export: %s\n", name, diag.message);
        failed++;
    } else if (!graph_compare(g, g2, why, sizeof why) || !graph_print_equal(g, g2, why, sizeof why)) {
        printf("FAIL %s: export round trip differs: %s\n", name, why);
        failed++;
    } else {
        passed++;
        if (getenv("BNNC_CONFORMANCE_VERBOSE"))
            printf("ok   %s\n", name);
    }
    unlink(tmp);
out:
    bnn_graph_destroy(g);
    bnn_graph_destroy(g2);
    unbind(&bd);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static expected_list *list;

static bool walk(const char *root, const char *sub)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "conformance: cannot open %s\n", dir);
        return false;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        names = realloc(names, sizeof *names * (n + 1));
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char cdir[1200], label[1200];
        snprintf(cdir, sizeof cdir, "%s/%s", dir, names[i]);
        snprintf(label, sizeof label, "%s/%s", sub, names[i]);
        int passed_before = passed, skipped_before = skipped;
        run_case(cdir, label);
        expected_list_note(list, label, passed > passed_before,
                           skipped > skipped_before ? last_skip : NULL);
        free(names[i]);
    }
    free(names);
    return true;
}

static int cmp_reason(const void *a, const void *b)
{
    const reason *x = a, *y = b;
    return y->count != x->count ? y->count - x->count : strcmp(x->text, y->text);
}

int main(int argc, char **argv)
{
    const char *expected_path = NULL, *write_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--expected") == 0)
            expected_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--write-expected") == 0)
            write_path = argv[++i];
        else {
            fprintf(stderr, "usage: conformance_import [--expected FILE | --write-expected FILE]\n");
            return 2;
        }
    }
    list = expected_list_read(expected_path);
    if (!list)
        return 2;
    const char *root = getenv("BNNC_ONNX_TESTDATA");
    struct stat st;
    if (!root || !*root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "conformance: ONNX backend test data not found at '%s'; install Debian's "
                        "libonnx-testdata or configure with -Donnx_testdata=DIR (env BNNC_ONNX_TESTDATA)\n",
                root ? root : "");
        expected_list_free(list);
        return 1;
    }
    if (!walk(root, "node") || !walk(root, "pytorch-converted") || !walk(root, "pytorch-operator") ||
        !walk(root, "simple")) {
        expected_list_free(list);
        return 1;
    }
    qsort(reasons, (size_t)n_reasons, sizeof *reasons, cmp_reason);
    printf("skipped by reason:\n");
    for (int i = 0; i < n_reasons; i++)
        printf("  %4d  %s (e.g. %s)\n", reasons[i].count, reasons[i].text, reasons[i].example);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    int lost = expected_list_finish(list, root, NULL);
    int status = failed || lost ? 1 : 0;
    if (write_path && !expected_list_write(list, write_path))
        status = 2;
    expected_list_free(list);
    return status;
}
