/* Internals shared by shape inference (ir/infer.c), the verifier (ir/verify.c)
 * and their tests: the ops.def attribute schema and type text for messages. */
#ifndef BNN_INFER_IMPL_H
#define BNN_INFER_IMPL_H

#include "bnn_ir.h"

#define BNN_SCHEMA_MAX_ATTRS 16
#define BNN_SCHEMA_MAX_NAME 32

typedef struct bnn_schema_attr {
    char name[BNN_SCHEMA_MAX_NAME];
    bnn_attr_kind kind;
} bnn_schema_attr;

/* Parses an ops.def schema ("name:kind name:kind ..."), at most `max`
 * entries.  Returns the number of attributes, or -1 when the schema is
 * malformed: an unknown kind, an empty or overlong name, a repeated name, more
 * than `max` entries. */
int bnn_schema_parse(const char *schema, bnn_schema_attr *attrs, int max);

/* True, with *kind set, when the schema lists attribute `name`. */
bool bnn_schema_find(const char *schema, const char *name, bnn_attr_kind *kind);

/* "int", "float", "string", "ints", "floats". */
const char *bnn_attr_kind_name(bnn_attr_kind kind);

/* The type as messages show it, "f32[N,3,?]" ("f32[*]" when even the rank is
 * unknown, "?" for an undefined dtype), written into buf (size n). */
const char *bnn_type_text(const bnn_graph *graph, bnn_dtype dtype, const bnn_shape *shape,
                          char *buf, size_t n);

#endif
