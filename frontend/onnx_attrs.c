/* Reading the current ONNX node's attributes with kind checks: a wrong kind
 * is an error naming the node, the attribute, the kind it has and the one
 * expected.  Old models leave AttributeProto.type unset; the filled field
 * tells the kind then.
 */
#include <string.h>

#include "onnx_impl.h"

/* ---- attributes ----------------------------------------------------------- */

static const char *attr_type_name(int t)
{
    static const char *const names[] = { "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH",
                                         "FLOATS", "INTS", "STRINGS", "TENSORS", "GRAPHS",
                                         "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO",
                                         "TYPE_PROTOS" };
    return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "UNKNOWN";
}

const Onnx__AttributeProto *onnx_attr(const onnx_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->node->n_attribute; i++)
        if (strcmp(onnx_str(c->node->attribute[i]->name), name) == 0)
            return c->node->attribute[i];
    return NULL;
}

/* Old models leave `type` unset; then the filled field tells the kind. */
static int attr_kind(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return a->type;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static bnn_status attr_check(onnx_ctx *c, const Onnx__AttributeProto *a, int want,
                             const Onnx__AttributeProto **ok)
{
    *ok = NULL;
    if (!a)
        return BNN_OK;
    int kind = attr_kind(a);
    /* Empty lists cannot tell INTS from FLOATS when the type is unset. */
    bool empty_list = kind == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED &&
                      (want == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
                       want == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    if (kind != want && !empty_list)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has type %s, expected %s",
                              onnx_str(a->name), attr_type_name(kind), attr_type_name(want));
    *ok = a;
    return BNN_OK;
}

bnn_status onnx_attr_int(onnx_ctx *c, const char *name, int64_t fallback, int64_t *out)
{
    const Onnx__AttributeProto *a;
    BNN_TRY(attr_check(c, onnx_attr(c, name), ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a));
    *out = a ? a->i : fallback;
    return BNN_OK;
}

bnn_status onnx_attr_float(onnx_ctx *c, const char *name, float fallback, float *out)
{
    const Onnx__AttributeProto *a;
    BNN_TRY(attr_check(c, onnx_attr(c, name), ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a));
    *out = a ? a->f : fallback;
    return BNN_OK;
}

bnn_status onnx_attr_string(onnx_ctx *c, const char *name, const char *fallback, const char **out)
{
    const Onnx__AttributeProto *a;
    BNN_TRY(attr_check(c, onnx_attr(c, name), ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &a));
    *out = fallback;
    if (!a)
        return BNN_OK;
    if (a->s.len == 0) { /* protobuf-c gives an empty string no data pointer */
        *out = "";
        return BNN_OK;
    }
    /* Strings are bytes in ONNX; IR strings are NUL-terminated. */
    if (memchr(a->s.data, 0, a->s.len))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' holds a NUL byte", name);
    /* protobuf-c does not terminate bytes; copy into the graph's arena. */
    char *s = bnn_arena_alloc(c->g->arena, a->s.len + 1, 1);
    if (!s)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    memcpy(s, a->s.data, a->s.len);
    *out = s;
    return BNN_OK;
}

bnn_status onnx_attr_ints(onnx_ctx *c, const char *name, const int64_t **out, int *count)
{
    const Onnx__AttributeProto *a;
    BNN_TRY(attr_check(c, onnx_attr(c, name), ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &a));
    *out = a ? a->ints : NULL;
    *count = a ? (int)(a->n_ints > 1024 ? 1024 : a->n_ints) : -1;
    if (a && a->n_ints > 1024)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %zu ints", name, a->n_ints);
    return BNN_OK;
}

bnn_status onnx_attr_floats(onnx_ctx *c, const char *name, const float **out, int *count)
{
    const Onnx__AttributeProto *a;
    BNN_TRY(attr_check(c, onnx_attr(c, name), ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, &a));
    *out = a ? a->floats : NULL;
    *count = a ? (int)(a->n_floats > 1024 ? 1024 : a->n_floats) : -1;
    if (a && a->n_floats > 1024)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %zu floats", name, a->n_floats);
    return BNN_OK;
}

