/* The op table of ops.def: names, arities, attribute schemas; dtype helpers. */
#include <criterion/criterion.h>
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
