/* Examples for a model's inputs, one array or one per named input, and the
 * packing that hands several to code taking one (see examples.h). */
#include "examples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "cli.h"

bool bnnc_examples_add(bnnc_examples *ex, const char *cmd, const char *option, const char *arg)
{
    ex->option = option;
    if (ex->n == BNNC_MAX_EXAMPLE_INPUTS)
        return bnnc_usage_error(cmd, "%s: more than %d arrays", option, BNNC_MAX_EXAMPLE_INPUTS),
               false;
    const char *eq = strchr(arg, '=');
    const char *name = NULL, *path = arg;
    if (eq && eq > arg && access(arg, F_OK) != 0) {
        if (eq - arg >= BNNC_MAX_INPUT_NAME)
            return bnnc_usage_error(cmd, "%s: the input name in '%s' is longer than %d bytes",
                                    option, arg, BNNC_MAX_INPUT_NAME - 1), false;
        memcpy(ex->name_buf[ex->n], arg, (size_t)(eq - arg));
        ex->name_buf[ex->n][eq - arg] = '\0';
        name = ex->name_buf[ex->n];
        path = eq + 1;
    }
    for (int i = 0; i < ex->n; i++) {
        if (!name || !ex->name[i])
            return bnnc_usage_error(cmd, "%s %s: with several arrays, name the model input each "
                                    "one is for: %s NAME=FILE", option, arg, option), false;
        if (strcmp(name, ex->name[i]) == 0)
            return bnnc_usage_error(cmd, "%s names input '%s' twice", option, name), false;
    }
    ex->name[ex->n] = name;
    ex->path[ex->n++] = path;
    return true;
}

const char *bnnc_examples_where(const bnnc_examples *ex)
{
    if (ex->n == 1)
        return ex->path[0];
    bnnc_examples *w = (bnnc_examples *)ex; /* the message buffer only */
    size_t used = 0;
    w->where[0] = '\0';
    for (int i = 0; i < ex->n && used < sizeof w->where; i++)
        used += (size_t)snprintf(w->where + used, sizeof w->where - used, "%s%s", i ? ", " : "",
                                 ex->path[i]);
    return w->where;
}

static int by_name(const bnnc_examples *ex, int a, int b)
{
    return strcmp(ex->name[a], ex->name[b]);
}

/* The per-example shape of t: its dims after the first. */
static bnn_shape row_shape(const bnn_tensor *t)
{
    bnn_shape r = {.rank = t->shape.rank > 0 ? t->shape.rank - 1 : 0};
    for (int d = 0; d < r.rank; d++)
        r.dims[d] = t->shape.dims[d + 1];
    return r;
}

int bnnc_examples_read(bnnc_examples *ex, const int64_t *rows, int64_t count, bnn_tensor *x,
                       int64_t *total)
{
    bnn_diag diag = {0};
    memset(x, 0, sizeof *x);
    if (ex->n == 1) {
        int64_t n = 0;
        if ((rows ? bnn_npy_read_row_list(ex->path[0], rows, count, x, &n, &diag)
                  : bnn_npy_read_file(ex->path[0], x, &diag)) != BNN_OK)
            return bnnc_report(ex->path[0], &diag);
        if (total)
            *total = rows ? n : x->shape.rank ? x->shape.dims[0] : 0;
        return BNNC_EXIT_OK;
    }
    bnn_tensor part[BNNC_MAX_EXAMPLE_INPUTS] = {{0}};
    int rc = BNNC_EXIT_ERROR;
    int64_t n_total = -1;
    for (int i = 0; i < ex->n; i++) {
        int64_t file_rows = 0;
        if ((rows ? bnn_npy_read_row_list(ex->path[i], rows, count, &part[i], &file_rows, &diag)
                  : bnn_npy_read_file(ex->path[i], &part[i], &diag)) != BNN_OK) {
            bnnc_report(ex->path[i], &diag);
            goto done;
        }
        if (!rows)
            file_rows = part[i].shape.rank ? part[i].shape.dims[0] : 0;
        if (i == 0) {
            n_total = file_rows;
        } else if (file_rows != n_total) {
            fprintf(stderr, "bnnc: %s holds %lld examples but %s holds %lld: %s %s=... arrays "
                    "need one row per example each\n", ex->path[0], (long long)n_total,
                    ex->path[i], (long long)file_rows, ex->option, ex->name[i]);
            goto done;
        }
    }
    rc = bnnc_examples_pack(ex, part, x);
    if (rc == BNNC_EXIT_OK && total)
        *total = n_total;
done:
    for (int i = 0; i < ex->n; i++)
        bnn_tensor_free(&part[i]);
    return rc;
}

int bnnc_examples_pack(bnnc_examples *ex, const bnn_tensor *part, bnn_tensor *x)
{
    bnn_diag diag = {0};
    memset(x, 0, sizeof *x);
    if (!ex->have_layout) { /* sorted by name */
        for (int i = 0; i < ex->n; i++) {
            int j = i;
            for (; j > 0 && by_name(ex, ex->order[j - 1], i) > 0; j--)
                ex->order[j] = ex->order[j - 1];
            ex->order[j] = i;
        }
    }
    int64_t n = part[0].shape.rank ? part[0].shape.dims[0] : 0;
    for (int i = 0; i < ex->n; i++) {
        if (part[i].shape.rank < 1 || part[i].shape.dims[0] != n) {
            fprintf(stderr, "bnnc: %s holds %lld examples but %s holds %lld: %s %s=... arrays "
                    "need one row per example each\n", ex->path[0], (long long)n, ex->path[i],
                    (long long)(part[i].shape.rank ? part[i].shape.dims[0] : 0), ex->option,
                    ex->name[i]);
            return BNNC_EXIT_ERROR;
        }
        bnn_shape r = row_shape(&part[i]);
        if (ex->have_layout && (!bnn_shape_equal(&r, &ex->row[i]) ||
                                part[i].dtype != ex->file_dtype[i])) {
            fprintf(stderr, "bnnc: %s changed while it was read\n", ex->path[i]);
            return BNNC_EXIT_ERROR;
        }
        ex->row[i] = r;
        ex->file_dtype[i] = part[i].dtype;
        if (part[i].dtype == BNN_I64 || part[i].dtype == BNN_U64) {
            /* f64 holds whole numbers up to 2^53 exactly */
            int64_t m = bnn_tensor_numel(&part[i]);
            for (int64_t k = 0; k < m; k++) {
                int64_t v = ((const int64_t *)part[i].data)[k];
                if (part[i].dtype == BNN_I64 ? v > (INT64_C(1) << 53) || v < -(INT64_C(1) << 53)
                                             : (uint64_t)v > (UINT64_C(1) << 53)) {
                    fprintf(stderr, "bnnc: %s: value %lld of the examples is beyond 2^53, which "
                            "bnnc cannot pack with the other inputs' examples\n", ex->path[i],
                            (long long)k);
                    return BNNC_EXIT_ERROR;
                }
            }
        }
    }
    int64_t width = 0;
    for (int k = 0; k < ex->n; k++) {
        int i = ex->order[k];
        ex->offset[i] = width;
        ex->width[i] = bnn_shape_numel(&ex->row[i]);
        width += ex->width[i];
    }
    ex->packed_width = width;
    ex->have_layout = true;
    bnn_shape ps = {.rank = 2, .dims = {n, width}};
    if (bnn_tensor_alloc(x, BNN_F64, &ps, &diag) != BNN_OK)
        return bnnc_report(bnnc_examples_where(ex), &diag);
    for (int i = 0; i < ex->n; i++) {
        bnn_tensor f = {0};
        if (bnn_tensor_convert(&part[i], BNN_F64, &f, &diag) != BNN_OK) {
            bnn_tensor_free(x);
            return bnnc_report(ex->path[i], &diag);
        }
        const double *src = f.data;
        double *dst = x->data;
        for (int64_t r = 0; r < n; r++)
            memcpy(dst + r * width + ex->offset[i], src + r * ex->width[i],
                   sizeof(double) * (size_t)ex->width[i]);
        bnn_tensor_free(&f);
    }
    return BNNC_EXIT_OK;
}

/* "'ids', 'mask'" */
static const char *input_list(const bnn_graph *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->n_inputs && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "",
                                 g->values[g->inputs[i]].name);
    return buf;
}

/* Replaces dim code `from` by `to` in every value's shape. */
static void replace_dim(bnn_graph *g, int64_t from, int64_t to)
{
    for (int v = 0; v < g->n_values; v++)
        for (int k = 0; k < g->values[v].shape.rank; k++)
            if (g->values[v].shape.dims[k] == from)
                g->values[v].shape.dims[k] = to;
}

/* One array's examples against the input's declared shape: same rank, equal
 * sizes where the input has sizes. */
static bool row_fits(const bnn_value *in, const bnn_shape *row)
{
    if (in->shape.rank < 0)
        return true;
    if (in->shape.rank != row->rank + 1)
        return false;
    for (int d = 1; d < in->shape.rank; d++)
        if (bnn_dim_is_known(in->shape.dims[d]) && in->shape.dims[d] != row->dims[d - 1])
            return false;
    return true;
}

static int pack_graph(bnnc_examples *ex, bnn_graph *g, const int *input_of, const char *model)
{
    bnn_diag diag = {0};
    const bnn_value *first = &g->values[g->inputs[0]];
    int64_t batch = first->shape.rank > 0 ? first->shape.dims[0] : 1;
    /* one batch dim for every input, and sizes for the other symbols */
    for (int i = 0; i < ex->n; i++) {
        const bnn_value *in = &g->values[g->inputs[input_of[i]]];
        if (in->shape.rank < 1)
            continue;
        int64_t b = in->shape.dims[0];
        if (b != batch && bnn_dim_is_symbol(b) && bnn_dim_is_symbol(batch)) {
            replace_dim(g, b, batch); /* 'batch' and 'batch_size': one dim */
        } else if (b != batch) {
            char x[128], y[128];
            fprintf(stderr, "bnnc: %s: inputs '%s' (%s) and '%s' (%s) disagree on the batch, "
                    "the first dimension\n", model, first->name,
                    bnn_shape_format(&first->shape, first->dtype, x, sizeof x), in->name,
                    bnn_shape_format(&in->shape, in->dtype, y, sizeof y));
            return BNNC_EXIT_ERROR;
        }
        for (int d = 1; d < in->shape.rank; d++)
            if (bnn_dim_is_symbol(in->shape.dims[d]) && in->shape.dims[d] != batch)
                replace_dim(g, in->shape.dims[d], ex->row[i].dims[d - 1]);
    }
    /* the packed type: the inputs' own when they agree */
    ex->packed_dtype = ex->input_dtype[0];
    for (int i = 1; i < ex->n; i++)
        if (ex->input_dtype[i] != ex->packed_dtype)
            ex->packed_dtype = BNN_F64;
    bnn_shape ps = {.rank = 2, .dims = {batch, ex->packed_width}};
    int packed = bnn_graph_add_value(g, BNNC_PACKED_INPUT, ex->packed_dtype, &ps);
    if (packed < 0) {
        fprintf(stderr, "bnnc: %s: the model already has a value '%s', the name bnnc gives its "
                "packed inputs\n", model, BNNC_PACKED_INPUT);
        return BNNC_EXIT_ERROR;
    }
    for (int i = 0; i < ex->n; i++) {
        int v = g->inputs[input_of[i]];
        char node[512];
        snprintf(node, sizeof node, "%s/%s", BNNC_PACKED_INPUT, g->values[v].name);
        bnn_shape cs = {.rank = 2, .dims = {batch, ex->width[i]}};
        int sliced = bnn_graph_add_value(g, NULL, ex->packed_dtype, &cs);
        int at = sliced < 0 ? -1 : bnn_graph_add_node(g, BNN_OP_SLICE, node, &packed, 1, &sliced, 1);
        int64_t starts = ex->offset[i], ends = ex->offset[i] + ex->width[i], axes = 1, steps = 1;
        if (at < 0 || bnn_node_set_ints(g, at, "starts", &starts, 1) != BNN_OK ||
            bnn_node_set_ints(g, at, "ends", &ends, 1) != BNN_OK ||
            bnn_node_set_ints(g, at, "axes", &axes, 1) != BNN_OK ||
            bnn_node_set_ints(g, at, "steps", &steps, 1) != BNN_OK)
            goto nomem;
        int cur = sliced;
        if (ex->input_dtype[i] != ex->packed_dtype) {
            int cast = bnn_graph_add_value(g, NULL, ex->input_dtype[i], &cs);
            at = cast < 0 ? -1 : bnn_graph_add_node(g, BNN_OP_CAST, node, &cur, 1, &cast, 1);
            if (at < 0 || bnn_node_set_int(g, at, "to", (int64_t)ex->input_dtype[i]) != BNN_OK)
                goto nomem;
            cur = cast;
        }
        int64_t target[BNN_MAX_RANK] = {-1};
        for (int d = 0; d < ex->row[i].rank; d++)
            target[d + 1] = ex->row[i].dims[d];
        at = bnn_graph_add_node(g, BNN_OP_RESHAPE, node, &cur, 1, &v, 1);
        if (at < 0 || bnn_node_set_ints(g, at, "shape", target, ex->row[i].rank + 1) != BNN_OK)
            goto nomem;
    }
    g->n_inputs = 0;
    if (bnn_graph_add_input(g, packed) != BNN_OK)
        goto nomem;
    if (bnn_graph_sort(g, &diag) != BNN_OK || bnn_graph_infer(g, &diag) != BNN_OK)
        return bnnc_report(model, &diag);
    ex->packed = true;
    return BNNC_EXIT_OK;
nomem:
    fprintf(stderr, "bnnc: %s: out of memory packing the inputs\n", model);
    return BNNC_EXIT_ERROR;
}

int bnnc_examples_bind(bnnc_examples *ex, bnn_graph *g, const char *model,
                       const bnnc_examples *like)
{
    char list[1024];
    if (like && like->packed) {
        /* the graph is packed already: ex must pack as `like` did */
        bool same = ex->n == like->n && ex->packed_width == like->packed_width;
        for (int i = 0; same && i < ex->n; i++) {
            int j = 0;
            while (j < like->n && strcmp(like->name[j], ex->name[i] ? ex->name[i] : "") != 0)
                j++;
            same = j < like->n && bnn_shape_equal(&ex->row[i], &like->row[j]);
            if (same)
                ex->input_dtype[i] = like->input_dtype[j];
        }
        if (!same) {
            fprintf(stderr, "bnnc: %s: %s gives other inputs or other example shapes than %s "
                    "(%s)\n", bnnc_examples_where(ex), ex->option, like->option,
                    bnnc_examples_where(like));
            return BNNC_EXIT_ERROR;
        }
        ex->packed = true;
        ex->packed_dtype = like->packed_dtype;
        return BNNC_EXIT_OK;
    }
    if (g->n_inputs < 1) {
        fprintf(stderr, "bnnc: %s: the model has no input\n", model);
        return BNNC_EXIT_ERROR;
    }
    if (ex->n == 1 && !ex->name[0]) {
        if (g->n_inputs == 1)
            return BNNC_EXIT_OK;
        fprintf(stderr, "bnnc: %s: the model has %d inputs (%s): give %s NAME=FILE for each\n",
                model, g->n_inputs, input_list(g, list, sizeof list), ex->option);
        return BNNC_EXIT_USAGE;
    }
    int input_of[BNNC_MAX_EXAMPLE_INPUTS];
    bool given[BNNC_MAX_EXAMPLE_INPUTS + 1] = {false};
    for (int i = 0; i < ex->n; i++) {
        input_of[i] = -1;
        for (int k = 0; k < g->n_inputs; k++)
            if (strcmp(g->values[g->inputs[k]].name, ex->name[i]) == 0)
                input_of[i] = k;
        if (input_of[i] < 0) {
            fprintf(stderr, "bnnc: %s: %s %s=...: the model has no input '%s'; its inputs are "
                    "%s\n", model, ex->option, ex->name[i], ex->name[i],
                    input_list(g, list, sizeof list));
            return BNNC_EXIT_USAGE;
        }
        if (input_of[i] < BNNC_MAX_EXAMPLE_INPUTS)
            given[input_of[i]] = true;
    }
    for (int k = 0; k < g->n_inputs; k++)
        if (k >= BNNC_MAX_EXAMPLE_INPUTS || !given[k]) {
            fprintf(stderr, "bnnc: %s: no %s for the model's input '%s' (its inputs are %s)\n",
                    model, ex->option, g->values[g->inputs[k]].name,
                    input_list(g, list, sizeof list));
            return BNNC_EXIT_USAGE;
        }
    if (g->n_inputs == 1)
        return BNNC_EXIT_OK; /* one named array: read as it is */
    for (int i = 0; i < ex->n; i++) {
        const bnn_value *in = &g->values[g->inputs[input_of[i]]];
        if (!row_fits(in, &ex->row[i])) {
            char want[256], got[256];
            bnn_shape ie = {.rank = in->shape.rank > 0 ? in->shape.rank - 1 : 0};
            for (int d = 0; d < ie.rank; d++)
                ie.dims[d] = in->shape.dims[d + 1];
            fprintf(stderr, "bnnc: %s: examples are %s each, but the model's input '%s' takes "
                    "%s per example\n", ex->path[i],
                    bnn_shape_format(&ex->row[i], ex->file_dtype[i], got, sizeof got), in->name,
                    bnn_shape_format(&ie, in->dtype, want, sizeof want));
            return BNNC_EXIT_ERROR;
        }
        ex->input_dtype[i] = in->dtype == BNN_UNDEFINED ? ex->file_dtype[i] : in->dtype;
    }
    ex->n_inputs = g->n_inputs;
    for (int k = 0; k < g->n_inputs; k++) {
        const char *name = g->values[g->inputs[k]].name;
        if (strlen(name) >= BNNC_MAX_INPUT_NAME) {
            fprintf(stderr, "bnnc: %s: input name '%.40s...' is too long\n", model, name);
            return BNNC_EXIT_ERROR;
        }
        ex->declared[k] = g->values[g->inputs[k]].shape;
        strcpy(ex->input_buf[k], name);
        ex->input_name[k] = ex->input_buf[k];
    }
    return pack_graph(ex, g, input_of, model);
}

bool bnnc_examples_fit(const bnnc_examples *ex, const bnn_graph *graph, bnn_tensor *x)
{
    if (!ex->packed)
        return bnnc_match_input_dtype(graph, x, bnnc_examples_where(ex));
    if (x->dtype == ex->packed_dtype && x->dtype != BNN_F64)
        return true; /* fitted already (checking packed f64 again changes nothing) */
    bnn_diag diag = {0};
    int64_t n = x->shape.dims[0], width = ex->packed_width;
    bnn_tensor out = {0};
    if (x->dtype != BNN_F64 || bnn_tensor_alloc(&out, ex->packed_dtype, &x->shape, &diag) != BNN_OK) {
        fprintf(stderr, "bnnc: %s: cannot pack the examples\n", bnnc_examples_where(ex));
        return false;
    }
    size_t esize = bnn_dtype_size(ex->packed_dtype);
    for (int i = 0; i < ex->n; i++) {
        /* this array's columns as [n, row...]: checked and converted to the
         * input's type, then to the packed type */
        bnn_shape s = {.rank = ex->row[i].rank + 1, .dims = {n}};
        for (int d = 0; d < ex->row[i].rank; d++)
            s.dims[d + 1] = ex->row[i].dims[d];
        bnn_tensor part = {0}, packed = {0};
        bnn_value in = {.name = ex->name[i], .dtype = ex->input_dtype[i]};
        bool ok = bnn_tensor_alloc(&part, BNN_F64, &s, &diag) == BNN_OK;
        for (int64_t r = 0; ok && r < n; r++)
            memcpy((double *)part.data + r * ex->width[i],
                   (const double *)x->data + r * width + ex->offset[i],
                   sizeof(double) * (size_t)ex->width[i]);
        ok = ok && bnnc_match_value_dtype(&in, &part, ex->path[i]) &&
             bnn_tensor_convert(&part, ex->packed_dtype, &packed, &diag) == BNN_OK;
        for (int64_t r = 0; ok && r < n; r++)
            memcpy((char *)out.data + (size_t)(r * width + ex->offset[i]) * esize,
                   (const char *)packed.data + (size_t)(r * ex->width[i]) * esize,
                   esize * (size_t)ex->width[i]);
        bnn_tensor_free(&part);
        bnn_tensor_free(&packed);
        if (!ok) {
            if (diag.status != BNN_OK)
                bnnc_report(ex->path[i], &diag);
            bnn_tensor_free(&out);
            return false;
        }
    }
    bnn_tensor_free(x);
    *x = out;
    return true;
}

bnn_graph *bnnc_examples_unpacked(const bnnc_examples *ex, const bnn_graph *graph)
{
    bnn_graph *g = bnn_graph_clone_borrowing(graph);
    if (!g || !ex || !ex->packed)
        return g;
    size_t prefix = strlen(BNNC_PACKED_INPUT "/");
    for (int i = 0; i < g->n_nodes; i++)
        if (strncmp(g->nodes[i].name, BNNC_PACKED_INPUT "/", prefix) == 0)
            g->nodes[i].dead = true;
    g->n_inputs = 0;
    for (int k = 0; k < ex->n_inputs; k++) {
        int v = bnn_graph_find_value(g, ex->input_name[k]);
        if (v < 0 || bnn_graph_add_input(g, v) != BNN_OK) {
            bnn_graph_destroy(g);
            return NULL;
        }
        g->values[v].kind = BNN_VALUE_INPUT;
        g->values[v].producer = -1;
        g->values[v].shape = ex->declared[k];
    }
    if (bnn_graph_drop_dead_nodes(g) != BNN_OK) {
        bnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

bnn_status bnnc_examples_export(const bnnc_examples *ex, const bnn_graph *graph, const char *path,
                                bnn_diag *diag)
{
    if (!ex || !ex->packed)
        return bnn_onnx_export_file(graph, path, diag);
    bnn_graph *g = bnnc_examples_unpacked(ex, graph);
    if (!g)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory unpacking the inputs");
    bnn_status st = bnn_onnx_export_file(g, path, diag);
    bnn_graph_destroy(g);
    return st;
}
