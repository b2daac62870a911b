/* Helpers for the ir_text tests (see helpers.h). */
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fixture_read(const char *name)
{
    const char *root = getenv("BNNC_SOURCE_ROOT");
    cr_assert(root, "BNNC_SOURCE_ROOT is not set (run through meson test)");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/ir_text/%s", root, name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert(size >= 0);
    char *text = malloc((size_t)size + 1);
    cr_assert(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

char *graph_to_text(const bnn_graph *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert(out);
    cr_assert_eq(bnn_graph_print(g, out), BNN_OK);
    fclose(out);
    return buf;
}

bnn_graph *parse_or_fail(const char *text, const char *file)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    bnn_status st = bnn_graph_parse(text, file, &g, &diag);
    cr_assert_eq(st, BNN_OK, "parse failed: %s\n--- text ---\n%s", diag.message, text);
    cr_assert(g);
    return g;
}

/* ---- structural equality -------------------------------------------------- */

static bool fail(char *why, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(why, n, fmt, a, b);
    return false;
}

static const char *dim_symbol(const bnn_graph *g, int64_t d)
{
    int k = bnn_dim_symbol_index(d);
    return k < g->n_symbols ? g->symbols[k] : "<bad symbol>";
}

static bool value_equal(const bnn_graph *ga, int ia, const bnn_graph *gb, int ib, char *why,
                        size_t n)
{
    if (ia < 0 || ib < 0)
        return ia == ib ? true : fail(why, n, "absent operand in one graph only%s%s", "", "");
    const bnn_value *a = &ga->values[ia], *b = &gb->values[ib];
    if (strcmp(a->name, b->name) != 0)
        return fail(why, n, "value '%s' vs '%s'", a->name, b->name);
    if (a->kind != b->kind || a->dtype != b->dtype || a->shape.rank != b->shape.rank)
        return fail(why, n, "value '%s': kind, dtype or rank differ%s", a->name, "");
    for (int i = 0; i < a->shape.rank; i++) {
        int64_t da = a->shape.dims[i], db = b->shape.dims[i];
        if (bnn_dim_is_symbol(da) && bnn_dim_is_symbol(db)) {
            if (strcmp(dim_symbol(ga, da), dim_symbol(gb, db)) != 0)
                return fail(why, n, "value '%s': symbol %s differs", a->name, dim_symbol(ga, da));
        } else if (da != db) {
            return fail(why, n, "value '%s': dims differ%s", a->name, "");
        }
    }
    return true;
}

static bool same_float(float x, float y)
{
    return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
}

static bool data_equal(const bnn_value *a, const bnn_value *b)
{
    if (a->nbytes != b->nbytes)
        return false;
    if (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0)
        return true;
    if (a->dtype == BNN_F32) {
        for (size_t i = 0; i < a->nbytes / 4; i++)
            if (!same_float(((float *)a->data)[i], ((float *)b->data)[i]))
                return false;
        return true;
    }
    if (a->dtype == BNN_F64) {
        for (size_t i = 0; i < a->nbytes / 8; i++) {
            double x = ((double *)a->data)[i], y = ((double *)b->data)[i];
            if (!(isnan(x) && isnan(y)) && memcmp(&x, &y, 8) != 0)
                return false;
        }
        return true;
    }
    return false;
}

static bool attr_equal(const bnn_attr *a, const bnn_attr *b, char *why, size_t n)
{
    if (strcmp(a->name, b->name) != 0 || a->kind != b->kind)
        return fail(why, n, "attribute '%s' vs '%s' (or kinds differ)", a->name, b->name);
    bool same = true;
    switch (a->kind) {
    case BNN_ATTR_INT: same = a->i == b->i; break;
    case BNN_ATTR_FLOAT: same = same_float(a->f, b->f); break;
    case BNN_ATTR_STRING: same = strcmp(a->s, b->s) == 0; break;
    case BNN_ATTR_INTS:
        same = a->count == b->count;
        for (int k = 0; same && k < a->count; k++)
            same = a->ints[k] == b->ints[k];
        break;
    case BNN_ATTR_FLOATS:
        same = a->count == b->count;
        for (int k = 0; same && k < a->count; k++)
            same = same_float(a->floats[k], b->floats[k]);
        break;
    }
    return same ? true : fail(why, n, "attribute '%s' has another value%s", a->name, "");
}

static bool node_equal(const bnn_graph *ga, const bnn_node *a, const bnn_graph *gb,
                       const bnn_node *b, char *why, size_t n)
{
    if (a->op != b->op || strcmp(a->name, b->name) != 0)
        return fail(why, n, "node '%s' vs '%s' (or ops differ)", a->name, b->name);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_attrs != b->n_attrs)
        return fail(why, n, "node '%s': operand or attribute counts differ%s", a->name, "");
    for (int k = 0; k < a->n_inputs; k++)
        if (!value_equal(ga, a->inputs[k], gb, b->inputs[k], why, n))
            return false;
    for (int k = 0; k < a->n_outputs; k++)
        if (!value_equal(ga, a->outputs[k], gb, b->outputs[k], why, n))
            return false;
    for (int k = 0; k < a->n_attrs; k++)
        if (!attr_equal(&a->attrs[k], &b->attrs[k], why, n))
            return false;
    return true;
}

bool graph_equal(const bnn_graph *a, const bnn_graph *b, bool large_data_kept, char *why,
                 size_t n)
{
    if (strcmp(a->name, b->name) != 0)
        return fail(why, n, "graph name '%s' vs '%s'", a->name, b->name);
    if (a->onnx_opset != b->onnx_opset)
        return fail(why, n, "opsets differ%s%s", "", "");
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs)
        return fail(why, n, "input or output counts differ%s%s", "", "");
    if (a->n_values != b->n_values)
        return fail(why, n, "value counts differ%s%s", "", "");
    for (int i = 0; i < a->n_inputs; i++)
        if (!value_equal(a, a->inputs[i], b, b->inputs[i], why, n))
            return false;
    for (int i = 0; i < a->n_outputs; i++)
        if (!value_equal(a, a->outputs[i], b, b->outputs[i], why, n))
            return false;
    /* Params in order of their ids in each graph. */
    int pb = 0;
    for (int ia = 0; ia < a->n_values; ia++) {
        const bnn_value *va = &a->values[ia];
        if (va->kind != BNN_VALUE_PARAM)
            continue;
        while (pb < b->n_values && b->values[pb].kind != BNN_VALUE_PARAM)
            pb++;
        if (pb == b->n_values)
            return fail(why, n, "param '%s' missing%s", va->name, "");
        const bnn_value *vb = &b->values[pb];
        if (!value_equal(a, ia, b, pb, why, n))
            return false;
        if (va->trainable != vb->trainable)
            return fail(why, n, "param '%s': trainable differs%s", va->name, "");
        int64_t numel = bnn_shape_numel(&va->shape);
        bool inline_data = numel <= BNN_PRINT_MAX_INLINE && va->dtype != BNN_STRING;
        if (inline_data || large_data_kept) {
            if (!data_equal(va, vb))
                return fail(why, n, "param '%s': data differs%s", va->name, "");
        } else {
            if (va->nbytes != vb->nbytes)
                return fail(why, n, "param '%s': size differs%s", va->name, "");
            for (size_t k = 0; k < vb->nbytes; k++)
                if (((const unsigned char *)vb->data)[k])
                    return fail(why, n, "param '%s': large data not zero-filled%s", va->name, "");
        }
        pb++;
    }
    int nb = 0;
    for (int i = 0; i < a->n_nodes; i++) {
        if (a->nodes[i].dead)
            continue;
        while (nb < b->n_nodes && b->nodes[nb].dead)
            nb++;
        if (nb == b->n_nodes)
            return fail(why, n, "node '%s' missing%s", a->nodes[i].name, "");
        if (!node_equal(a, &a->nodes[i], b, &b->nodes[nb], why, n))
            return false;
        nb++;
    }
    while (nb < b->n_nodes && b->nodes[nb].dead)
        nb++;
    if (nb != b->n_nodes)
        return fail(why, n, "extra nodes%s%s", "", "");
    return true;
}
