/* The op table of ops.def: names, arities, attribute schemas; dtype helpers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_impl.h"

Test(ops, names_are_unique_and_found)
{
    for (int a = 0; a < BNN_OP_COUNT; a++) {
        const char *name = bnn_op_get((bnn_op)a)->name;
        cr_assert(name && *name);
        cr_assert_eq(bnn_op_find(name), (bnn_op)a, "%s", name);
        for (int b = a + 1; b < BNN_OP_COUNT; b++)
            cr_assert_str_neq(name, bnn_op_get((bnn_op)b)->name);
    }
    cr_assert_eq(bnn_op_find("no_such_op"), BNN_OP_COUNT);
    cr_assert_eq(bnn_op_find("Conv"), BNN_OP_COUNT);
}

Test(ops, arities_are_sane)
{
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const bnn_op_info *info = bnn_op_get((bnn_op)op);
        cr_assert_geq(info->min_inputs, 1, "%s", info->name);
        cr_assert(info->max_inputs == BNN_VARIADIC ||
                      (info->max_inputs >= info->min_inputs && info->max_inputs < 16),
                  "%s", info->name);
        cr_assert_geq(info->n_outputs, 1, "%s", info->name);
    }
    cr_assert_eq(bnn_op_get(BNN_OP_CONCAT)->max_inputs, BNN_VARIADIC);
    cr_assert_eq(bnn_op_get(BNN_OP_DENSE_REPARAM)->min_inputs, 3);
}

Test(ops, every_schema_parses)
{
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const bnn_op_info *info = bnn_op_get((bnn_op)op);
        bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
        int n = bnn_schema_parse(info->attrs, attrs, BNN_SCHEMA_MAX_ATTRS);
        cr_assert_geq(n, 0, "schema of %s does not parse: \"%s\"", info->name, info->attrs);
        for (int i = 0; i < n; i++) {
            bnn_attr_kind kind;
            cr_assert(bnn_schema_find(info->attrs, attrs[i].name, &kind));
            cr_assert_eq(kind, attrs[i].kind);
        }
    }
}

Test(ops, schema_lookup)
{
    bnn_attr_kind kind;
    const char *conv = bnn_op_get(BNN_OP_CONV)->attrs;
    cr_assert(bnn_schema_find(conv, "strides", &kind));
    cr_assert_eq(kind, BNN_ATTR_INTS);
    cr_assert(bnn_schema_find(conv, "group", &kind));
    cr_assert_eq(kind, BNN_ATTR_INT);
    cr_assert_not(bnn_schema_find(conv, "stride", &kind));
    cr_assert_not(bnn_schema_find(conv, "kernel_shape", &kind));
    cr_assert(bnn_schema_find(bnn_op_get(BNN_OP_PAD)->attrs, "mode", &kind));
    cr_assert_eq(kind, BNN_ATTR_STRING);
    cr_assert_not(bnn_schema_find(bnn_op_get(BNN_OP_RELU)->attrs, "alpha", &kind));
    cr_assert_str_eq(bnn_attr_kind_name(BNN_ATTR_FLOATS), "floats");
}

Test(ops, malformed_schemas_are_rejected)
{
    bnn_schema_attr attrs[4];
    cr_assert_eq(bnn_schema_parse("", attrs, 4), 0);
    cr_assert_eq(bnn_schema_parse("a:int  b:floats", attrs, 4), 2);
    cr_assert_str_eq(attrs[1].name, "b");
    cr_assert_eq(attrs[1].kind, BNN_ATTR_FLOATS);
    cr_assert_eq(bnn_schema_parse("a:integer", attrs, 4), -1);
    cr_assert_eq(bnn_schema_parse("a", attrs, 4), -1);
    cr_assert_eq(bnn_schema_parse(":int", attrs, 4), -1);
    cr_assert_eq(bnn_schema_parse("a:int a:float", attrs, 4), -1);
    cr_assert_eq(bnn_schema_parse("a:int b:int c:int d:int e:int", attrs, 4), -1);
}

Test(ops, bayesian_ops)
{
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const char *name = bnn_op_get((bnn_op)op)->name;
        cr_assert_eq(bnn_op_is_bayesian((bnn_op)op), strncmp(name, "bnn.", 4) == 0, "%s", name);
    }
}

Test(ops, dtypes)
{
    bnn_dtype all[] = {BNN_F32, BNN_U8,  BNN_I8,  BNN_U16, BNN_I16, BNN_I32,  BNN_I64,
                       BNN_STRING, BNN_BOOL, BNN_F16, BNN_F64, BNN_U32, BNN_U64, BNN_BF16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cr_assert_eq(bnn_dtype_from_name(bnn_dtype_name(all[i])), all[i]);
    cr_assert_eq(bnn_dtype_size(BNN_F32), 4);
    cr_assert_eq(bnn_dtype_size(BNN_I64), 8);
    cr_assert_eq(bnn_dtype_size(BNN_STRING), 0);
    cr_assert_eq(bnn_dtype_from_name("float"), BNN_UNDEFINED);
    cr_assert_null(bnn_dtype_name((bnn_dtype)99));
}

Test(ops, shapes)
{
    bnn_shape a = {.rank = 3, .dims = {2, 3, 4}};
    bnn_shape b = {.rank = 2, .dims = {bnn_dim_from_symbol(0), 4}};
    bnn_shape s = {.rank = 0};
    bnn_shape u = {.rank = -1};
    cr_assert_eq(bnn_shape_numel(&a), 24);
    cr_assert_eq(bnn_shape_numel(&b), -1);
    cr_assert_eq(bnn_shape_numel(&s), 1);
    cr_assert_eq(bnn_shape_numel(&u), -1);
    cr_assert(bnn_shape_is_concrete(&a));
    cr_assert_not(bnn_shape_is_concrete(&b));
    cr_assert(bnn_shape_equal(&a, &a));
    cr_assert_not(bnn_shape_equal(&a, &b));
    bnn_shape big = {.rank = 3, .dims = {INT64_MAX / 2, 3, 1}};
    cr_assert_eq(bnn_shape_numel(&big), -1, "overflow must not wrap");
}

/* ---- every row, through the layers that read the table ------------------ */

/* One node of op `op`: min_inputs f32 graph inputs, every output a graph
 * output, and (with_attrs) every schema attribute set to a value of its kind. */
static bnn_graph *one_node_graph(bnn_op op, bool with_attrs)
{
    const bnn_op_info *info = bnn_op_get(op);
    bnn_graph *g = bnn_graph_create("row");
    cr_assert_not_null(g);
    bnn_shape s = {.rank = 2, .dims = {2, 3}};
    int in[16], out[8];
    char name[16];
    cr_assert_leq(info->min_inputs, 16);
    cr_assert_leq(info->n_outputs, 8);
    for (int k = 0; k < info->min_inputs; k++) {
        snprintf(name, sizeof name, "x%d", k);
        in[k] = bnn_graph_add_value(g, name, BNN_F32, &s);
        cr_assert_eq(bnn_graph_add_input(g, in[k]), BNN_OK);
    }
    for (int k = 0; k < info->n_outputs; k++) {
        snprintf(name, sizeof name, "y%d", k);
        out[k] = bnn_graph_add_value(g, name, BNN_F32, &s);
    }
    int nid = bnn_graph_add_node(g, op, "n", in, info->min_inputs, out, info->n_outputs);
    cr_assert_geq(nid, 0, "%s", info->name);
    for (int k = 0; k < info->n_outputs; k++)
        cr_assert_eq(bnn_graph_add_output(g, out[k]), BNN_OK);
    bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
    int na = with_attrs ? bnn_schema_parse(info->attrs, attrs, BNN_SCHEMA_MAX_ATTRS) : 0;
    const int64_t ints[2] = {1, 1};
    const float floats[1] = {0.5f};
    for (int i = 0; i < na; i++) {
        const char *a = attrs[i].name;
        bnn_status st = BNN_OK;
        switch (attrs[i].kind) {
        case BNN_ATTR_INT: st = bnn_node_set_int(g, nid, a, 1); break;
        case BNN_ATTR_FLOAT: st = bnn_node_set_float(g, nid, a, 0.5f); break;
        case BNN_ATTR_STRING: st = bnn_node_set_string(g, nid, a, "s"); break;
        case BNN_ATTR_INTS: st = bnn_node_set_ints(g, nid, a, ints, 2); break;
        case BNN_ATTR_FLOATS: st = bnn_node_set_floats(g, nid, a, floats, 1); break;
        }
        cr_assert_eq(st, BNN_OK);
    }
    return g;
}

static char *print_text(const bnn_graph *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    cr_assert_eq(bnn_graph_print(g, f), BNN_OK);
    fclose(f);
    return text;
}

/* A new row needs nothing in the printer or the parser: its name, operand
 * counts and attributes come back as they went out. */
Test(ops, every_op_round_trips_through_the_text_form)
{
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const char *name = bnn_op_get((bnn_op)op)->name;
        bnn_graph *g = one_node_graph((bnn_op)op, true);
        char *text = print_text(g);
        bnn_graph *back = NULL;
        bnn_diag diag = {0};
        cr_assert_eq(bnn_graph_parse(text, "row.ir", &back, &diag), BNN_OK, "%s: %s\n%s", name,
                     diag.message, text);
        cr_assert_eq(back->n_nodes, 1, "%s", name);
        cr_assert_eq(back->nodes[0].op, (bnn_op)op, "%s", name);
        cr_assert_eq(back->nodes[0].n_attrs, g->nodes[0].n_attrs, "%s", name);
        char *again = print_text(back);
        cr_assert_str_eq(again, text, "%s", name);
        free(again);
        free(text);
        bnn_graph_destroy(back);
        bnn_graph_destroy(g);
    }
}

/* Every row names its STEM's inference (the link checks that it exists) and
 * that inference answers for the row's own operand counts: with f32[2,3]
 * operands and no attributes it either infers or fails with a message naming
 * the node, never crashes or leaves the diag empty. */
Test(ops, every_op_has_an_inference_that_names_the_node)
{
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const char *name = bnn_op_get((bnn_op)op)->name;
        bnn_graph *g = one_node_graph((bnn_op)op, false);
        bnn_diag diag = {0};
        bnn_status st = bnn_graph_infer(g, &diag);
        if (st != BNN_OK)
            cr_assert(strstr(diag.message, "'n'") && strstr(diag.message, name),
                      "%s: %s", name, diag.message);
        bnn_graph_destroy(g);
    }
}

/* ONNX("Type", SINCE) rows are found by their ONNX name, the frontend's
 * whole mapping for them. */
Test(ops, onnx_rows_are_found_by_their_onnx_name)
{
    int found = 0;
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        const bnn_op_info *info = bnn_op_get((bnn_op)op);
        if (info->onnx_since <= 0)
            continue;
        cr_assert_not_null(info->onnx_name, "%s", info->name);
        cr_assert_eq(bnn_op_find_onnx(info->onnx_name), (bnn_op)op, "%s", info->name);
        found++;
    }
    cr_assert_gt(found, 0);
}
