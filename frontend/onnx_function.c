/* Model-local functions (ModelProto.functions, written by PyTorch's dynamo
 * exporter and by onnxscript): every call is expanded in place before the
 * import walk, so the rest of the frontend sees one flat graph.
 *
 * A call's body is copied with its names rewritten: the function's formal
 * inputs and outputs become the call's actual names, every other name gets
 * the call's unique prefix ("CALL/name"), so two calls of one function never
 * share a value.  An attribute that refers to the caller's (ref_attr_name)
 * takes the call's attribute, else the function's default (FunctionProto
 * field 11, attribute_proto, which the installed onnx.proto may predate: it
 * is then read from protobuf-c's unknown fields), else it is left out and the
 * op's own default applies.  Calls inside a body are expanded the same way,
 * up to a nesting depth that stops recursive functions.
 *
 * Everything made here (node copies, name strings, decoded defaults) belongs
 * to the import context and is freed by onnx_inline_release().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

/* Deeper nesting than this is taken for recursion. */
#define MAX_CALL_DEPTH 32
/* FunctionProto.attribute_proto (IR version 9). */
#define FUNCTION_ATTRIBUTE_PROTO_FIELD 11

struct onnx_inline {
    void **blocks; /* malloc'd memory owned here */
    size_t n_blocks, cap_blocks;
    Onnx__AttributeProto **defaults; /* unpacked from unknown fields */
    size_t n_defaults, cap_defaults;
    Onnx__NodeProto **nodes; /* the expanded node list */
    size_t n_nodes, cap_nodes;
    Onnx__GraphProto graph;  /* the model's graph with nodes replaced */
    unsigned calls;          /* numbers the calls: unique prefixes */
};

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

static void *own(struct onnx_inline *in, void *p)
{
    if (!p)
        return NULL;
    if (!grow((void **)&in->blocks, &in->cap_blocks, in->n_blocks + 1, sizeof(void *))) {
        free(p);
        return NULL;
    }
    in->blocks[in->n_blocks++] = p;
    return p;
}

/* "a/b", or b alone when a is NULL (the top level), or a alone when b is NULL. */
static char *own_str(struct onnx_inline *in, const char *a, const char *b)
{
    if (!a) {
        a = b ? b : "";
        b = NULL;
    }
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    if (b) {
        s[la] = '/';
        memcpy(s + la + 1, b, lb + 1);
    } else {
        s[la] = 0;
    }
    return own(in, s);
}

static const Onnx__FunctionProto *find_function(const Onnx__ModelProto *m, const char *domain,
                                                 const char *op_type)
{
    for (size_t i = 0; i < m->n_functions; i++) {
        const Onnx__FunctionProto *f = m->functions[i];
        if (strcmp(onnx_str(f->name), op_type) == 0 && strcmp(onnx_str(f->domain), domain) == 0)
            return f;
    }
    return NULL;
}

/* The scope a body is copied in: formal names -> actual names, the prefix of
 * every other name, the call's attributes and the function's defaults. */
typedef struct scope {
    const struct scope *parent;
    const Onnx__FunctionProto *fn;    /* NULL at the top level */
    const Onnx__NodeProto *call;
    const char *prefix;
    size_t first_default, n_defaults; /* the function's, in onnx_inline.defaults */
} scope;

/* The name `name` of the body gets in the caller's graph; NULL: no memory. */
static const char *scope_name(struct onnx_inline *in, const scope *sc, const char *name)
{
    if (!sc->fn || !*name)
        return name;
    for (size_t i = 0; i < sc->fn->n_input; i++)
        if (strcmp(onnx_str(sc->fn->input[i]), name) == 0)
            return i < sc->call->n_input ? onnx_str(sc->call->input[i]) : "";
    for (size_t i = 0; i < sc->fn->n_output; i++)
        if (strcmp(onnx_str(sc->fn->output[i]), name) == 0 && i < sc->call->n_output &&
            *onnx_str(sc->call->output[i]))
            return onnx_str(sc->call->output[i]);
    return own_str(in, sc->prefix, name);
}

/* The attribute a reference resolves to in scope sc, or NULL (left out). */
static const Onnx__AttributeProto *resolve_ref(const struct onnx_inline *in, const scope *sc,
                                               const char *ref)
{
    for (size_t i = 0; i < sc->call->n_attribute; i++)
        if (strcmp(onnx_str(sc->call->attribute[i]->name), ref) == 0)
            return sc->call->attribute[i];
    for (size_t i = sc->first_default; i < sc->first_default + sc->n_defaults; i++)
        if (strcmp(onnx_str(in->defaults[i]->name), ref) == 0)
            return in->defaults[i];
    return NULL;
}

/* Reads the function's attribute defaults out of its unknown fields. */
static bnn_status read_defaults(struct onnx_inline *in, const Onnx__FunctionProto *f,
                                scope *sc, bnn_diag *diag)
{
    sc->first_default = in->n_defaults;
    for (unsigned i = 0; i < f->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &f->base.unknown_fields[i];
        if (u->tag != FUNCTION_ATTRIBUTE_PROTO_FIELD || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            continue;
        /* protobuf-c keeps the field's bytes after the tag: the length
         * varint, then the message. */
        size_t at = 0, len = 0;
        for (int shift = 0; at < u->len && shift < 64; shift += 7) {
            uint8_t b = u->data[at++];
            len |= (size_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        Onnx__AttributeProto *a = len == u->len - at
                                      ? onnx__attribute_proto__unpack(NULL, len, u->data + at)
                                      : NULL;
        if (!a)
            return bnn_fail(diag, BNN_ERR_INVALID, "function '%s': an attribute default does not parse",
                            onnx_str(f->name));
        if (!grow((void **)&in->defaults, &in->cap_defaults, in->n_defaults + 1, sizeof(void *))) {
            onnx__attribute_proto__free_unpacked(a, NULL);
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        }
        in->defaults[in->n_defaults++] = a;
    }
    sc->n_defaults = in->n_defaults - sc->first_default;
    return BNN_OK;
}

static bnn_status push_node(struct onnx_inline *in, Onnx__NodeProto *nd, bnn_diag *diag)
{
    if (!grow((void **)&in->nodes, &in->cap_nodes, in->n_nodes + 1, sizeof(void *)))
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    in->nodes[in->n_nodes++] = nd;
    return BNN_OK;
}

static bnn_status expand(struct onnx_inline *in, const Onnx__ModelProto *m, const scope *sc,
                         Onnx__NodeProto *const *nodes, size_t n, int depth, bnn_diag *diag);

/* A copy of nd with its names and attribute references resolved in sc. */
static Onnx__NodeProto *copy_node(struct onnx_inline *in, const scope *sc, const Onnx__NodeProto *nd)
{
    Onnx__NodeProto *cp = own(in, malloc(sizeof *cp));
    if (!cp)
        return NULL;
    *cp = *nd;
    cp->input = own(in, malloc(sizeof(char *) * (nd->n_input + 1)));
    cp->output = own(in, malloc(sizeof(char *) * (nd->n_output + 1)));
    cp->attribute = own(in, malloc(sizeof(void *) * (nd->n_attribute + 1)));
    if (!cp->input || !cp->output || !cp->attribute)
        return NULL;
    for (size_t k = 0; k < nd->n_input; k++)
        if (!(cp->input[k] = (char *)scope_name(in, sc, onnx_str(nd->input[k]))))
            return NULL;
    for (size_t k = 0; k < nd->n_output; k++)
        if (!(cp->output[k] = (char *)scope_name(in, sc, onnx_str(nd->output[k]))))
            return NULL;
    char gen[64];
    snprintf(gen, sizeof gen, "%s_%u", onnx_str(nd->op_type), in->calls);
    cp->name = own_str(in, sc->prefix, *onnx_str(nd->name) ? nd->name : gen);
    if (!cp->name)
        return NULL;
    cp->n_attribute = 0;
    for (size_t k = 0; k < nd->n_attribute; k++) {
        const Onnx__AttributeProto *a = nd->attribute[k];
        if (!*onnx_str(a->ref_attr_name) || !sc->call) {
            cp->attribute[cp->n_attribute++] = (Onnx__AttributeProto *)a;
            continue;
        }
        const Onnx__AttributeProto *v = resolve_ref(in, sc, a->ref_attr_name);
        if (!v)
            continue;
        Onnx__AttributeProto *r = own(in, malloc(sizeof *r));
        if (!r)
            return NULL;
        *r = *v;
        r->name = a->name;
        r->ref_attr_name = NULL;
        cp->attribute[cp->n_attribute++] = r;
    }
    return cp;
}

static bnn_status expand_call(struct onnx_inline *in, const Onnx__ModelProto *m, const scope *sc,
                              const Onnx__NodeProto *call, const Onnx__FunctionProto *f,
                              int depth, bnn_diag *diag)
{
    if (depth >= MAX_CALL_DEPTH)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                        "node '%s' (%s): functions nest more than %d deep (recursive?)",
                        onnx_str(call->name), onnx_str(call->op_type), MAX_CALL_DEPTH);
    if (call->n_input > f->n_input || call->n_output > f->n_output)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "node '%s' (%s): has %zu inputs and %zu outputs, but function '%s' takes %zu and gives %zu",
                        onnx_str(call->name), onnx_str(call->op_type), call->n_input, call->n_output,
                        onnx_str(f->name), f->n_input, f->n_output);
    /* The call's inputs and outputs are names of the calling scope. */
    Onnx__NodeProto *outer = copy_node(in, sc, call);
    if (!outer)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    /* copy_node resolved the call's own attribute references in sc too. */
    char tag[32];
    snprintf(tag, sizeof tag, "%u", ++in->calls);
    scope inner = { .parent = sc, .fn = f, .call = outer };
    const char *base = *onnx_str(call->name) ? outer->name : own_str(in, sc->prefix, onnx_str(f->name));
    inner.prefix = base ? own_str(in, base, tag) : NULL;
    if (!inner.prefix)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    BNN_TRY(read_defaults(in, f, &inner, diag));
    return expand(in, m, &inner, f->node, f->n_node, depth + 1, diag);
}

static bnn_status expand(struct onnx_inline *in, const Onnx__ModelProto *m, const scope *sc,
                         Onnx__NodeProto *const *nodes, size_t n, int depth, bnn_diag *diag)
{
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *nd = nodes[i];
        const Onnx__FunctionProto *f = find_function(m, onnx_str(nd->domain), onnx_str(nd->op_type));
        if (f) {
            BNN_TRY(expand_call(in, m, sc, nd, f, depth, diag));
            continue;
        }
        Onnx__NodeProto *cp = sc->fn ? copy_node(in, sc, nd) : (Onnx__NodeProto *)nd;
        if (!cp)
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        BNN_TRY(push_node(in, cp, diag));
    }
    return BNN_OK;
}

bnn_status onnx_inline_functions(onnx_ctx *c, const Onnx__ModelProto *m)
{
    if (m->n_functions == 0)
        return BNN_OK;
    struct onnx_inline *in = calloc(1, sizeof *in);
    if (!in)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    c->inlined = in;
    for (size_t i = 0; i < m->n_functions; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(onnx_str(m->functions[i]->name), onnx_str(m->functions[j]->name)) == 0 &&
                strcmp(onnx_str(m->functions[i]->domain), onnx_str(m->functions[j]->domain)) == 0)
                return bnn_fail(c->diag, BNN_ERR_INVALID, "function '%s' of domain '%s' is defined twice",
                                onnx_str(m->functions[i]->name), onnx_str(m->functions[i]->domain));
    scope top = { 0 };
    BNN_TRY(expand(in, m, &top, m->graph->node, m->graph->n_node, 0, c->diag));
    in->graph = *m->graph;
    in->graph.node = in->nodes;
    in->graph.n_node = in->n_nodes;
    c->graph = &in->graph;
    return BNN_OK;
}

void onnx_inline_release(onnx_ctx *c)
{
    struct onnx_inline *in = c->inlined;
    if (!in)
        return;
    for (size_t i = 0; i < in->n_blocks; i++)
        free(in->blocks[i]);
    for (size_t i = 0; i < in->n_defaults; i++)
        onnx__attribute_proto__free_unpacked(in->defaults[i], NULL);
    free(in->blocks);
    free(in->defaults);
    free(in->nodes);
    free(in);
    c->inlined = NULL;
}
