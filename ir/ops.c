/* The op table expanded for ir/, and element-type and shape helpers. */
#include <string.h>

#include "bnn_ir.h"

static const bnn_op_info op_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem) \
    [BNN_OP_##id] = {name, min_in, max_in, n_out, attrs},
#include "ops.def"
};

const bnn_op_info *bnn_op_get(bnn_op op)
{
    BNN_ASSERT(op >= 0 && op < BNN_OP_COUNT);
    return &op_table[op];
}

bnn_op bnn_op_find(const char *name)
{
    for (int op = 0; op < BNN_OP_COUNT; op++)
        if (strcmp(op_table[op].name, name) == 0)
            return (bnn_op)op;
    return BNN_OP_COUNT;
}

bool bnn_op_is_bayesian(bnn_op op)
{
    return op == BNN_OP_DENSE_REPARAM || op == BNN_OP_CONV_REPARAM;
}

static const struct {
    bnn_dtype dtype;
    const char *name;
    size_t size;
} dtypes[] = {
    {BNN_F32, "f32", 4},   {BNN_U8, "u8", 1},     {BNN_I8, "i8", 1},
    {BNN_U16, "u16", 2},   {BNN_I16, "i16", 2},   {BNN_I32, "i32", 4},
    {BNN_I64, "i64", 8},   {BNN_STRING, "string", 0}, {BNN_BOOL, "bool", 1},
    {BNN_F16, "f16", 2},   {BNN_F64, "f64", 8},   {BNN_U32, "u32", 4},
    {BNN_U64, "u64", 8},   {BNN_BF16, "bf16", 2},
};

const char *bnn_dtype_name(bnn_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].name;
    return NULL;
}

bnn_dtype bnn_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].dtype;
    return BNN_UNDEFINED;
}

size_t bnn_dtype_size(bnn_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == dtype)
            return dtypes[i].size;
    return 0;
}

int64_t bnn_shape_numel(const bnn_shape *shape)
{
    if (shape->rank < 0)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < shape->rank; i++) {
        int64_t d = shape->dims[i];
        if (d < 0)
            return -1;
        if (d != 0 && n > INT64_MAX / d)
            return -1;
        n *= d;
    }
    return n;
}

bool bnn_shape_equal(const bnn_shape *a, const bnn_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

bool bnn_shape_is_concrete(const bnn_shape *shape)
{
    if (shape->rank < 0)
        return false;
    for (int i = 0; i < shape->rank; i++)
        if (shape->dims[i] < 0)
            return false;
    return true;
}
