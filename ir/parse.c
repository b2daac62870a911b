/* The IR text parser: reads the text form that ir/print.c writes (grammar in
 * docs/ir.md) into a new graph.
 *
 * Hand-written recursive descent over a one-token lookahead lexer (text_lex.c).  It checks
 * what it can see locally (ops exist, values are defined before use and once,
 * the header's outputs match `return`) and nothing more: shapes are whatever
 * the text says, and arity and attribute schemas are the verifier's job, so
 * that tests can also write graphs the verifier must reject.  Every error is
 * "FILE:LINE:COL: what was expected"; the partial graph is freed. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_ir.h"
#include "text_impl.h"

/* ---- value names ------------------------------------------------------------- */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

static int lookup(const parser *p, const char *name)
{
    if (!p->n_slots)
        return -1;
    for (size_t i = hash_name(name) & (p->n_slots - 1);; i = (i + 1) & (p->n_slots - 1)) {
        int slot = p->slots[i];
        if (!slot)
            return -1;
        if (strcmp(p->g->values[slot - 1].name, name) == 0)
            return slot - 1;
    }
}

static bnn_status remember(parser *p, int id)
{
    if (2 * (p->n_used + 1) > p->n_slots) {
        size_t n = p->n_slots ? 2 * p->n_slots : 256;
        int *slots = calloc(n, sizeof(int));
        if (!slots)
            return text_out_of_memory(p);
        for (size_t k = 0; k < p->n_slots; k++) {
            int slot = p->slots[k];
            if (!slot)
                continue;
            size_t i = hash_name(p->g->values[slot - 1].name) & (n - 1);
            while (slots[i])
                i = (i + 1) & (n - 1);
            slots[i] = slot;
        }
        free(p->slots);
        p->slots = slots;
        p->n_slots = n;
    }
    size_t i = hash_name(p->g->values[id].name) & (p->n_slots - 1);
    while (p->slots[i])
        i = (i + 1) & (p->n_slots - 1);
    p->slots[i] = id + 1;
    p->n_used++;
    return BNN_OK;
}

/* The current %name, decoded, checked to be a new value name. */
static const char *new_value_name(parser *p)
{
    if (p->tok.kind != T_VALUE) {
        text_expected(p, "a value name such as %x");
        return NULL;
    }
    const char *name = text_token_string(p);
    if (!name)
        return NULL;
    if (!*name) {
        text_error_at(p, p->tok.at, "a value name cannot be empty");
        return NULL;
    }
    if (lookup(p, name) >= 0) {
        text_error_at(p, p->tok.at, "value %.*s is defined twice",
                      (int)(p->tok.len > 60 ? 60 : p->tok.len), p->text + p->tok.at);
        return NULL;
    }
    return name;
}

/* ---- numbers ------------------------------------------------------------------ */

/* The current T_INT token as an int64. */
static bnn_status token_int(parser *p, int64_t *v)
{
    char buf[MAX_NUMBER_LEN + 1];
    snprintf(buf, sizeof buf, "%.*s", (int)p->tok.len, p->text + p->tok.at);
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return text_error_at(p, p->tok.at, "integer %s does not fit in 64 bits", buf);
    *v = x;
    return BNN_OK;
}

static bool is_float_token(const parser *p)
{
    return p->tok.kind == T_FLOAT || p->tok.kind == T_INT || text_is_ident(p, "inf") ||
           text_is_ident(p, "nan");
}

/* The current number (int, float, inf, -inf, nan) as a double; `single`
 * parses with strtof so that the value is exactly the float the text means. */
static bnn_status token_real(parser *p, bool single, double *v)
{
    char buf[MAX_NUMBER_LEN + 1];
    snprintf(buf, sizeof buf, "%.*s", (int)p->tok.len, p->text + p->tok.at);
    errno = 0;
    double x = single ? (double)strtof(buf, NULL) : strtod(buf, NULL);
    if (errno == ERANGE && isinf(x))
        return text_error_at(p, p->tok.at, "%s is out of range for %s", buf,
                             single ? "f32" : "f64");
    *v = x;
    return BNN_OK;
}

/* ---- types -------------------------------------------------------------------- */

static bnn_status parse_dim(parser *p, int64_t *dim)
{
    if (p->tok.kind == T_INT) {
        BNN_TRY(token_int(p, dim));
        if (*dim < 0)
            return text_error_at(p, p->tok.at, "a dim must be a size >= 0, a symbol or ?");
    } else if (text_is_punct(p, '?')) {
        *dim = BNN_DIM_UNKNOWN;
    } else if (p->tok.kind == T_IDENT || p->tok.kind == T_STRING) {
        const char *name = text_token_string(p);
        if (!name)
            return p->status;
        *dim = bnn_graph_symbol(p->g, name);
        if (*dim == BNN_DIM_UNKNOWN)
            return text_out_of_memory(p);
    } else {
        return text_expected(p, "a dim (a size, a symbol such as N, or ?)");
    }
    return text_next(p);
}

/* dtype '[' dims ']' where dtype may be '?' and dims may be '*'. */
static bnn_status parse_type(parser *p, bnn_dtype *dtype, bnn_shape *shape)
{
    memset(shape, 0, sizeof *shape);
    if (text_is_punct(p, '?')) {
        *dtype = BNN_UNDEFINED;
    } else if (p->tok.kind == T_IDENT) {
        char name[16];
        *dtype = bnn_dtype_from_name(text_ident(p, name, sizeof name));
        if (*dtype == BNN_UNDEFINED)
            return text_error_at(p, p->tok.at, "unknown element type '%.*s'",
                                 p->tok.len > 40 ? 40 : (int)p->tok.len, p->text + p->tok.at);
    } else {
        return text_expected(p, "a type such as f32[N,10]");
    }
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '[', "'[' after the element type"));
    if (text_is_punct(p, '*')) {
        shape->rank = -1;
        BNN_TRY(text_next(p));
        return text_expect_punct(p, ']', "']' after '*'");
    }
    if (text_is_punct(p, ']'))
        return text_next(p);
    for (;;) {
        if (shape->rank == BNN_MAX_RANK)
            return text_error_at(p, p->tok.at, "more than %d dims", BNN_MAX_RANK);
        BNN_TRY(parse_dim(p, &shape->dims[shape->rank++]));
        if (text_is_punct(p, ']'))
            return text_next(p);
        BNN_TRY(text_expect_punct(p, ',', "',' or ']' in the shape"));
    }
}

static bool same_type(bnn_dtype da, const bnn_shape *a, bnn_dtype db, const bnn_shape *b)
{
    return da == db && bnn_shape_equal(a, b);
}

/* ---- the header ---------------------------------------------------------------- */

/* %name ':' type, for the header's inputs. */
static bnn_status parse_input(parser *p)
{
    const char *name = new_value_name(p);
    if (!name)
        return p->status;
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, ':', "':' and a type after the input's name"));
    bnn_dtype dtype;
    bnn_shape shape;
    BNN_TRY(parse_type(p, &dtype, &shape));
    int id = bnn_graph_add_value(p->g, name, dtype, &shape);
    if (id < 0 || bnn_graph_add_input(p->g, id) != BNN_OK)
        return text_out_of_memory(p);
    return remember(p, id);
}

/* %name ':' type, for the header's outputs: defined later, checked at `return`. */
static bnn_status parse_output_decl(parser *p)
{
    if (p->tok.kind != T_VALUE)
        return text_expected(p, "an output such as %y: f32[N,10]");
    if (p->n_outs == MAX_OPERANDS)
        return text_error_at(p, p->tok.at, "more than %d outputs", MAX_OPERANDS);
    pending_output *grown = realloc(p->outs, sizeof *grown * (size_t)(p->n_outs + 1));
    if (!grown)
        return text_out_of_memory(p);
    p->outs = grown;
    pending_output *o = &p->outs[p->n_outs++];
    o->at = p->tok.at;
    o->name = text_token_string(p);
    if (!o->name)
        return p->status;
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, ':', "':' and a type after the output's name"));
    return parse_type(p, &o->dtype, &o->shape);
}

/* ---- params ---------------------------------------------------------------------- */

/* Writes the current number token as element i of the param's data. */
static bnn_status parse_element(parser *p, bnn_value *v, int64_t i)
{
    size_t size = bnn_dtype_size(v->dtype);
    unsigned char *at = (unsigned char *)v->data + (size_t)i * size;
    const char *type = bnn_dtype_name(v->dtype);
    bool real = v->dtype == BNN_F32 || v->dtype == BNN_F64 || v->dtype == BNN_F16 ||
                v->dtype == BNN_BF16;
    if (real) {
        if (!is_float_token(p))
            return text_expected(p, "a number");
        double x;
        BNN_TRY(token_real(p, v->dtype != BNN_F64, &x));
        float f = (float)x;
        uint16_t h = v->dtype == BNN_F16 ? bnn_text_f16_from_float(f) : bnn_text_bf16_from_float(f);
        if (v->dtype == BNN_F16 && isfinite(f) && (h & 0x7c00) == 0x7c00)
            return text_error_at(p, p->tok.at, "value out of range for f16");
        if (v->dtype == BNN_F32)
            memcpy(at, &f, 4);
        else if (v->dtype == BNN_F64)
            memcpy(at, &x, 8);
        else
            memcpy(at, &h, 2);
        return BNN_OK;
    }
    if (p->tok.kind != T_INT)
        return text_expected(p, "an integer");
    char buf[MAX_NUMBER_LEN + 1];
    snprintf(buf, sizeof buf, "%.*s", (int)p->tok.len, p->text + p->tok.at);
    if (v->dtype == BNN_U64) {
        errno = 0;
        unsigned long long u = strtoull(buf, NULL, 10);
        if (buf[0] == '-' || errno == ERANGE)
            return text_error_at(p, p->tok.at, "%s is out of range for u64", buf);
        uint64_t x = u;
        memcpy(at, &x, 8);
        return BNN_OK;
    }
    int64_t x = 0; /* set by token_int; gcc -O3 cannot see it */
    BNN_TRY(token_int(p, &x));
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (v->dtype) {
    case BNN_BOOL: lo = 0; hi = 1; break;
    case BNN_U8: lo = 0; hi = UINT8_MAX; break;
    case BNN_I8: lo = INT8_MIN; hi = INT8_MAX; break;
    case BNN_U16: lo = 0; hi = UINT16_MAX; break;
    case BNN_I16: lo = INT16_MIN; hi = INT16_MAX; break;
    case BNN_U32: lo = 0; hi = UINT32_MAX; break;
    case BNN_I32: lo = INT32_MIN; hi = INT32_MAX; break;
    default: break;
    }
    if (x < lo || x > hi)
        return text_error_at(p, p->tok.at, "%s is out of range for %s", buf, type);
    /* Little-endian host: the low `size` bytes hold the value. */
    uint64_t bits = (uint64_t)x;
    for (size_t k = 0; k < size; k++)
        at[k] = (unsigned char)(bits >> (8 * k));
    return BNN_OK;
}

/* '[' numbers ']' filling every element of param `id`. */
static bnn_status parse_param_data(parser *p, int id, int64_t numel)
{
    size_t open = p->tok.at;
    BNN_TRY(text_expect_punct(p, '[', "'[' and the param's values"));
    int64_t count = 0;
    if (!text_is_punct(p, ']')) {
        for (;;) {
            if (count == numel)
                return text_error_at(p, p->tok.at,
                                     "more values than the %" PRId64 " the shape holds", numel);
            BNN_TRY(parse_element(p, &p->g->values[id], count++));
            BNN_TRY(text_next(p));
            if (text_is_punct(p, ']'))
                break;
            BNN_TRY(text_expect_punct(p, ',', "',' or ']' in the param's values"));
        }
    }
    if (count != numel)
        return text_error_at(p, open, "%" PRId64 " values for a shape of %" PRId64 " elements",
                             count, numel);
    return text_next(p);
}

/* param %name ':' type [trainable] ['=' '[' numbers ']'] */
static bnn_status parse_param(parser *p)
{
    BNN_TRY(text_next(p));
    size_t name_at = p->tok.at;
    const char *name = new_value_name(p);
    if (!name)
        return p->status;
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, ':', "':' and a type after the param's name"));
    size_t type_at = p->tok.at;
    bnn_dtype dtype;
    bnn_shape shape;
    BNN_TRY(parse_type(p, &dtype, &shape));
    if (dtype == BNN_UNDEFINED)
        return text_error_at(p, type_at, "a param needs an element type");
    if (!bnn_shape_is_concrete(&shape))
        return text_error_at(p, type_at, "a param's shape must be sizes only");
    int64_t numel = bnn_shape_numel(&shape);
    size_t size = bnn_dtype_size(dtype);
    if (numel < 0 || (size && (uint64_t)numel > MAX_PARAM_BYTES / size))
        return text_error_at(p, type_at, "param larger than %zu bytes", MAX_PARAM_BYTES);
    bool trainable = text_is_ident(p, "trainable");
    if (trainable)
        BNN_TRY(text_next(p));
    size_t bytes = (size_t)numel * size;
    if (!text_is_punct(p, '=')) {
        if (bytes > MAX_ZERO_PARAM_BYTES - p->zero_bytes)
            return text_error_at(p, type_at,
                                 "params without inline data (zero-filled) would take more than %zu MiB in all",
                                 MAX_ZERO_PARAM_BYTES >> 20);
        p->zero_bytes += bytes;
    }
    int id = bnn_graph_add_param(p->g, name, dtype, &shape, NULL, bytes, trainable);
    if (id < 0)
        return text_out_of_memory(p);
    BNN_TRY(remember(p, id));
    if (!text_is_punct(p, '='))
        return BNN_OK;
    if (size == 0)
        return text_error_at(p, name_at, "a %s param has no inline data", bnn_dtype_name(dtype));
    BNN_TRY(text_next(p));
    return parse_param_data(p, id, numel);
}

/* ---- nodes ------------------------------------------------------------------------- */

static bnn_status grow_ids(parser *p, int need)
{
    if (need <= p->cap_ids)
        return BNN_OK;
    int cap = p->cap_ids ? 2 * p->cap_ids : 16;
    int *ids = realloc(p->ids, sizeof(int) * (size_t)cap);
    if (ids)
        p->ids = ids;
    if (!ids)
        return text_out_of_memory(p);
    p->cap_ids = cap;
    return BNN_OK;
}

static bnn_status grow_list(parser *p, int need)
{
    if (need <= p->cap_list)
        return BNN_OK;
    int cap = p->cap_list ? 2 * p->cap_list : 16;
    int64_t *ints = realloc(p->ints, sizeof(int64_t) * (size_t)cap);
    if (ints)
        p->ints = ints;
    float *floats = realloc(p->floats, sizeof(float) * (size_t)cap);
    if (floats)
        p->floats = floats;
    if (!ints || !floats)
        return text_out_of_memory(p);
    p->cap_list = cap;
    return BNN_OK;
}

/* '[' numbers ']' [':' (ints|floats)]: floats when any element or the suffix
 * says so; an empty list must carry the suffix. */
static bnn_status parse_list_attr(parser *p, int node, const char *name)
{
    size_t open = p->tok.at;
    BNN_TRY(text_next(p));
    int count = 0;
    bool any_float = false;
    size_t bad_int_at = 0; /* an integer too big for ints: fine if the list is floats */
    bool bad_int = false;
    if (!text_is_punct(p, ']')) {
        for (;;) {
            if (count == MAX_LIST)
                return text_error_at(p, p->tok.at, "list longer than %d elements", MAX_LIST);
            if (!is_float_token(p))
                return text_expected(p, "a number in the list");
            BNN_TRY(grow_list(p, count + 1));
            double x = 0; /* set by token_real; gcc -O3 cannot see it */
            BNN_TRY(token_real(p, true, &x));
            p->floats[count] = (float)x;
            p->ints[count] = 0;
            if (p->tok.kind == T_INT) {
                char buf[MAX_NUMBER_LEN + 1];
                snprintf(buf, sizeof buf, "%.*s", (int)p->tok.len, p->text + p->tok.at);
                errno = 0;
                p->ints[count] = strtoll(buf, NULL, 10);
                if (errno == ERANGE && !bad_int) {
                    bad_int = true;
                    bad_int_at = p->tok.at;
                }
            } else {
                any_float = true;
            }
            count++;
            BNN_TRY(text_next(p));
            if (text_is_punct(p, ']'))
                break;
            BNN_TRY(text_expect_punct(p, ',', "',' or ']' in the list"));
        }
    }
    BNN_TRY(text_next(p));
    bool floats = any_float;
    if (text_is_punct(p, ':')) {
        BNN_TRY(text_next(p));
        if (text_is_ident(p, "floats")) {
            floats = true;
        } else if (text_is_ident(p, "ints")) {
            if (any_float)
                return text_error_at(p, open, "a float in a list marked ':ints'");
        } else {
            return text_expected(p, "'ints' or 'floats' after ':'");
        }
        BNN_TRY(text_next(p));
    } else if (count == 0) {
        return text_error_at(p, open, "an empty list needs its kind: []:ints or []:floats");
    }
    if (!floats && bad_int)
        return text_error_at(p, bad_int_at, "integer does not fit in 64 bits");
    bnn_status st = floats ? bnn_node_set_floats(p->g, node, name, p->floats, count)
                           : bnn_node_set_ints(p->g, node, name, p->ints, count);
    return st == BNN_OK ? BNN_OK : text_out_of_memory(p);
}

/* name '=' value */
static bnn_status parse_attr(parser *p, int node)
{
    if (p->tok.kind != T_IDENT && p->tok.kind != T_STRING)
        return text_expected(p, "an attribute name");
    size_t name_at = p->tok.at;
    const char *name = text_token_string(p);
    if (!name)
        return p->status;
    if (!*name)
        return text_error_at(p, name_at, "an attribute name cannot be empty");
    if (bnn_node_attr(&p->g->nodes[node], name))
        return text_error_at(p, name_at, "attribute '%s' given twice", name);
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '=', "'=' after the attribute name"));
    bnn_status st;
    if (p->tok.kind == T_INT) {
        int64_t v;
        BNN_TRY(token_int(p, &v));
        st = bnn_node_set_int(p->g, node, name, v);
    } else if (is_float_token(p)) {
        double v;
        BNN_TRY(token_real(p, true, &v));
        st = bnn_node_set_float(p->g, node, name, (float)v);
    } else if (p->tok.kind == T_STRING) {
        const char *s = text_token_string(p);
        if (!s)
            return p->status;
        st = bnn_node_set_string(p->g, node, name, s);
    } else if (text_is_punct(p, '[')) {
        return parse_list_attr(p, node, name);
    } else {
        return text_expected(p, "an attribute value (int, float, \"string\" or [list])");
    }
    if (st != BNN_OK)
        return text_out_of_memory(p);
    return text_next(p);
}

/* [%out {',' %out} '='] op '(' inputs ')' ['{' attrs '}'] [':' types] [@name] */
static bnn_status parse_node(parser *p)
{
    int n_out = 0;
    const char **out_names = NULL; /* arena */
    if (p->tok.kind == T_VALUE) {
        for (;;) {
            if (n_out == MAX_OPERANDS)
                return text_error_at(p, p->tok.at, "more than %d outputs", MAX_OPERANDS);
            BNN_TRY(grow_ids(p, n_out + 1));
            const char *name = new_value_name(p);
            if (!name)
                return p->status;
            for (int k = 0; k < n_out; k++)
                if (strcmp(out_names[k], name) == 0)
                    return text_error_at(p, p->tok.at, "value %.*s is defined twice",
                                         (int)(p->tok.len > 60 ? 60 : p->tok.len),
                                         p->text + p->tok.at);
            const char **grown = bnn_arena_alloc(p->g->arena, sizeof(char *) * (size_t)(n_out + 1),
                                                 _Alignof(char *));
            if (!grown)
                return text_out_of_memory(p);
            if (n_out)
                memcpy(grown, out_names, sizeof(char *) * (size_t)n_out);
            out_names = grown;
            out_names[n_out++] = name;
            BNN_TRY(text_next(p));
            if (!text_is_punct(p, ','))
                break;
            BNN_TRY(text_next(p));
        }
        BNN_TRY(text_expect_punct(p, '=', "'=' or ',' after the node's results"));
    }
    if (p->tok.kind != T_IDENT)
        return text_expected(p, "an op name");
    char opname[64];
    bnn_op op = bnn_op_find(text_ident(p, opname, sizeof opname));
    if (op == BNN_OP_COUNT)
        return text_error_at(p, p->tok.at, "unknown op '%.*s'",
                             p->tok.len > 40 ? 40 : (int)p->tok.len, p->text + p->tok.at);
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '(', "'(' after the op name"));
    int n_in = 0;
    if (!text_is_punct(p, ')')) {
        for (;;) {
            if (n_in == MAX_OPERANDS)
                return text_error_at(p, p->tok.at, "more than %d inputs", MAX_OPERANDS);
            BNN_TRY(grow_ids(p, n_in + 1));
            if (text_is_ident(p, "_")) {
                p->ids[n_in++] = -1;
            } else if (p->tok.kind == T_VALUE) {
                const char *name = text_token_string(p);
                if (!name)
                    return p->status;
                int id = lookup(p, name);
                if (id < 0)
                    return text_error_at(p, p->tok.at, "value %.*s is not defined before this use",
                                         (int)(p->tok.len > 60 ? 60 : p->tok.len),
                                         p->text + p->tok.at);
                p->ids[n_in++] = id;
            } else {
                return text_expected(p, "an input (%name, or _ when absent)");
            }
            BNN_TRY(text_next(p));
            if (text_is_punct(p, ')'))
                break;
            BNN_TRY(text_expect_punct(p, ',', "',' or ')' after an input"));
        }
    }
    BNN_TRY(text_next(p));
    /* The results are defined now, after the inputs: %x = relu(%x) is an error. */
    int *outs = bnn_arena_alloc(p->g->arena, sizeof(int) * (size_t)(n_out + 1), sizeof(int));
    if (!outs)
        return text_out_of_memory(p);
    for (int k = 0; k < n_out; k++) {
        outs[k] = bnn_graph_add_value(p->g, out_names[k], BNN_UNDEFINED, NULL);
        if (outs[k] < 0)
            return text_out_of_memory(p);
        BNN_TRY(remember(p, outs[k]));
    }
    int node = bnn_graph_add_node(p->g, op, "", p->ids, n_in, outs, n_out);
    if (node < 0)
        return text_out_of_memory(p);
    if (text_is_punct(p, '{')) {
        BNN_TRY(text_next(p));
        if (!text_is_punct(p, '}')) {
            for (int count = 0;; count++) {
                if (count == MAX_ATTRS)
                    return text_error_at(p, p->tok.at, "more than %d attributes", MAX_ATTRS);
                BNN_TRY(parse_attr(p, node));
                if (text_is_punct(p, '}'))
                    break;
                BNN_TRY(text_expect_punct(p, ',', "',' or '}' after an attribute"));
            }
        }
        BNN_TRY(text_next(p));
    }
    if (text_is_punct(p, ':')) {
        size_t colon = p->tok.at;
        BNN_TRY(text_next(p));
        for (int k = 0;; k++) {
            if (k == n_out)
                return text_error_at(p, colon, "more types than the node's %d results", n_out);
            bnn_value *v = &p->g->values[outs[k]];
            BNN_TRY(parse_type(p, &v->dtype, &v->shape));
            if (!text_is_punct(p, ',')) {
                if (k + 1 != n_out)
                    return text_error_at(p, colon, "%d types for the node's %d results", k + 1,
                                         n_out);
                break;
            }
            BNN_TRY(text_next(p));
        }
    }
    if (p->tok.kind == T_AT) {
        const char *name = text_token_string(p);
        if (!name)
            return p->status;
        p->g->nodes[node].name = name;
        BNN_TRY(text_next(p));
    }
    return BNN_OK;
}

/* ---- the graph ------------------------------------------------------------------------ */

/* return [%v {',' %v}]: the values the header declared, in its order. */
static bnn_status parse_return(parser *p)
{
    size_t return_at = p->tok.at;
    BNN_TRY(text_next(p));
    int count = 0;
    while (p->tok.kind == T_VALUE) {
        const char *name = text_token_string(p);
        if (!name)
            return p->status;
        int id = lookup(p, name);
        if (id < 0)
            return text_error_at(p, p->tok.at, "returned value %.*s is not defined",
                                 (int)(p->tok.len > 60 ? 60 : p->tok.len), p->text + p->tok.at);
        if (count >= p->n_outs)
            return text_error_at(p, p->tok.at, "more values returned than the header's %d outputs",
                                 p->n_outs);
        const pending_output *o = &p->outs[count];
        if (strcmp(o->name, name) != 0)
            return text_error_at(p, p->tok.at,
                                 "return value %d is %.*s but the header declares another",
                                 count + 1, (int)(p->tok.len > 60 ? 60 : p->tok.len),
                                 p->text + p->tok.at);
        const bnn_value *v = &p->g->values[id];
        if (!same_type(o->dtype, &o->shape, v->dtype, &v->shape))
            return text_error_at(p, o->at,
                                 "output %.*s is declared with another type than its definition",
                                 (int)(p->tok.len > 60 ? 60 : p->tok.len), p->text + p->tok.at);
        if (bnn_graph_add_output(p->g, id) != BNN_OK)
            return text_out_of_memory(p);
        count++;
        BNN_TRY(text_next(p));
        if (!text_is_punct(p, ','))
            break;
        BNN_TRY(text_next(p));
        if (p->tok.kind != T_VALUE)
            return text_expected(p, "a value after ','");
    }
    if (count != p->n_outs)
        return text_error_at(p, return_at, "return gives %d values, the header declares %d outputs",
                             count, p->n_outs);
    return BNN_OK;
}

static bnn_status parse_graph(parser *p)
{
    BNN_TRY(text_next(p));
    if (!text_is_ident(p, "graph"))
        return text_expected(p, "'graph'");
    BNN_TRY(text_next(p));
    if (p->tok.kind != T_AT)
        return text_expected(p, "the graph's name such as @main");
    p->g->name = text_token_string(p);
    if (!p->g->name)
        return p->status;
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '(', "'(' and the graph's inputs"));
    if (!text_is_punct(p, ')')) {
        for (;;) {
            BNN_TRY(parse_input(p));
            if (text_is_punct(p, ')'))
                break;
            BNN_TRY(text_expect_punct(p, ',', "',' or ')' after an input"));
        }
    }
    BNN_TRY(text_next(p));
    if (p->tok.kind != T_ARROW)
        return text_expected(p, "'->' and the graph's outputs");
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '(', "'(' and the graph's outputs"));
    if (!text_is_punct(p, ')')) {
        for (;;) {
            BNN_TRY(parse_output_decl(p));
            if (text_is_punct(p, ')'))
                break;
            BNN_TRY(text_expect_punct(p, ',', "',' or ')' after an output"));
        }
    }
    BNN_TRY(text_next(p));
    BNN_TRY(text_expect_punct(p, '{', "'{' and the graph's body"));
    bool have_opset = false;
    for (;;) {
        if (text_is_ident(p, "opset")) {
            if (have_opset)
                return text_error_at(p, p->tok.at, "opset given twice");
            have_opset = true;
            BNN_TRY(text_next(p));
            if (p->tok.kind != T_INT)
                return text_expected(p, "the ONNX opset version");
            BNN_TRY(token_int(p, &p->g->onnx_opset));
            if (p->g->onnx_opset < 1)
                return text_error_at(p, p->tok.at, "the opset must be >= 1");
            BNN_TRY(text_next(p));
        } else if (text_is_ident(p, "param")) {
            BNN_TRY(parse_param(p));
        } else if (text_is_ident(p, "return")) {
            BNN_TRY(parse_return(p));
            break;
        } else if (p->tok.kind == T_VALUE || p->tok.kind == T_IDENT) {
            BNN_TRY(parse_node(p));
        } else {
            return text_expected(p, "'param', a node, 'opset' or 'return'");
        }
    }
    BNN_TRY(text_expect_punct(p, '}', "'}' after return"));
    if (p->tok.kind != T_EOF)
        return text_expected(p, "end of input after the graph's '}'");
    return BNN_OK;
}

bnn_status bnn_graph_parse(const char *text, const char *filename, bnn_graph **out,
                           bnn_diag *diag)
{
    *out = NULL;
    parser p;
    memset(&p, 0, sizeof p);
    p.text = text ? text : "";
    p.file = filename ? filename : "<input>";
    p.diag = diag;
    p.g = bnn_graph_create("main");
    if (!p.g)
        return text_out_of_memory(&p);
    bnn_status st = parse_graph(&p);
    if (st == BNN_OK && p.status != BNN_OK)
        st = p.status; /* defensive: an error recorded but not returned */
    free(p.slots);
    free(p.ids);
    free(p.ints);
    free(p.floats);
    free(p.outs);
    if (st != BNN_OK) {
        bnn_graph_destroy(p.g);
        return st;
    }
    *out = p.g;
    return BNN_OK;
}
