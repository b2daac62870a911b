/* The op table expanded for ir/, and element-type and shape helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_ir.h"

/* The ONNX, TRAIN and PAIR columns of a row, as bnn_op_info fields. */
#define INFO_ONNX(type, since) type, since
#define INFO_ONNX_AS(type) type, 0
#define INFO_ONNX_NONE NULL, 0
#define INFO_OPERANDS(first, last) ((2u << (last)) - (1u << (first)))
#define INFO_OPERANDS_NONE 0u

static const bnn_op_info op_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, flags, train, pair) \
    [BNN_OP_##id] = {name, min_in, max_in, n_out, attrs, INFO_##onnx, flags, INFO_##train, BNN_OP_##pair},
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

bnn_op bnn_op_find_onnx(const char *onnx_name)
{
    for (int op = 0; op < BNN_OP_COUNT; op++)
        if (op_table[op].onnx_since > 0 && strcmp(op_table[op].onnx_name, onnx_name) == 0)
            return (bnn_op)op;
    return BNN_OP_COUNT;
}

bool bnn_op_is_bayesian(bnn_op op)
{
    return (bnn_op_get(op)->flags & BNN_OPF_BAYESIAN) != 0;
}

bool bnn_op_may_alias(bnn_op op)
{
    return (bnn_op_get(op)->flags & BNN_OPF_ALIAS) != 0;
}

bool bnn_op_operand_trainable(bnn_op op, int k)
{
    return k >= 0 && k < 32 && (bnn_op_get(op)->trainable >> k & 1u);
}

/* The text after "name:kind=" in the op's schema, up to the next space. */
static const char *default_span(bnn_op op, const char *name, const char *kind, size_t *len)
{
    size_t nlen = strlen(name), klen = strlen(kind);
    for (const char *p = bnn_op_get(op)->attrs; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) > nlen + klen + 2 && strncmp(p, name, nlen) == 0 && p[nlen] == ':' &&
            strncmp(p + nlen + 1, kind, klen) == 0 && p[nlen + 1 + klen] == '=') {
            const char *v = p + nlen + klen + 2;
            *len = (size_t)(end - v);
            return v;
        }
        p = end;
    }
    return NULL;
}

const char *bnn_op_default_text(bnn_op op, const char *name, char *buf, size_t n)
{
    static const char *const kinds[] = {"int", "float", "string"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t len;
        const char *v = default_span(op, name, kinds[k], &len);
        if (v) {
            snprintf(buf, n, "%.*s", (int)len, v);
            return buf;
        }
    }
    return NULL;
}

bool bnn_op_default_float(bnn_op op, const char *name, float *out)
{
    size_t len;
    const char *v = default_span(op, name, "float", &len);
    if (!v)
        return false;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)len, v);
    *out = strtof(buf, NULL);
    return true;
}

bool bnn_op_default_int(bnn_op op, const char *name, int64_t *out)
{
    size_t len;
    const char *v = default_span(op, name, "int", &len);
    if (!v)
        return false;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)len, v);
    *out = strtoll(buf, NULL, 10);
    return true;
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
