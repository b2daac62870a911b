/* The IR text printer: writes a graph in the text form that ir/parse.c reads
 * back (docs/ir.md has the grammar).  The output is canonical: parsing it and
 * printing again gives the same bytes, so dumps can be compared as text. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_ir.h"
#include "text_impl.h"

/* ---- names and strings --------------------------------------------------- */

/* A quoted string with C-style escapes.  Bytes >= 0x80 print raw so UTF-8
 * names stay readable; control bytes print as \xHH. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* A %value, @graph or @node name: bare when every byte is a name character. */
static void print_name(FILE *out, char sigil, const char *name)
{
    fputc(sigil, out);
    bool bare = *name != '\0';
    for (const char *p = name; *p && bare; p++)
        bare = bnn_text_is_name_char((unsigned char)*p);
    if (bare)
        fputs(name, out);
    else
        print_quoted(out, name);
}

/* An attribute name or dim symbol: bare when it is an identifier. */
static void print_ident(FILE *out, const char *s)
{
    bool bare = bnn_text_is_ident_start((unsigned char)*s);
    for (const char *p = s; *p && bare; p++)
        bare = bnn_text_is_ident_char((unsigned char)*p);
    if (bare)
        fputs(s, out);
    else
        print_quoted(out, s);
}

static void print_value_name(FILE *out, const bnn_graph *g, int id)
{
    if (id < 0)
        fputc('_', out);
    else if (id >= g->n_values)
        fputs("%\"<bad value id>\"", out);
    else
        print_name(out, '%', g->values[id].name);
}

/* ---- numbers -------------------------------------------------------------- */

/* Marks a number as a float: "1" becomes "1.0"; "1e+10", "0.5" stay. */
static void add_point(char *buf, size_t n)
{
    if (!strpbrk(buf, ".e") && strlen(buf) + 3 <= n)
        strcat(buf, ".0");
}

/* "%g" switches to an exponent once a number has more integer digits than
 * the precision: 1500 with 2 digits prints "1.5e+03".  Up to 7 integer
 * digits, print them all instead ("1500"); more digits read back the same. */
static void widen(char *buf, size_t n, double v)
{
    const char *e = strchr(buf, 'e');
    if (!e)
        return;
    int exp10 = atoi(e + 1);
    if (exp10 >= 0 && exp10 < 7)
        snprintf(buf, n, "%.*g", exp10 + 1, v);
}

/* Writes special values the same way for every float type; false if v is finite. */
static bool format_special(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (isinf(v))
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
    else
        return false;
    return true;
}

/* The shortest "%.Pg" that reads back as the same float (at most 9 digits,
 * which always suffice), so that 0.1f prints as 0.1, not 0.100000001. */
static void format_f32(char *buf, size_t n, float f)
{
    if (format_special(buf, n, f))
        return;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    widen(buf, n, f);
    add_point(buf, n);
}

static void format_f64(char *buf, size_t n, double d)
{
    if (format_special(buf, n, d))
        return;
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    widen(buf, n, d);
    add_point(buf, n);
}

/* 16-bit floats: shortest text that the parser (strtof, then rounding to
 * 16 bits) turns back into the same bits. */
static void format_f16(char *buf, size_t n, uint16_t h, bool brain)
{
    float v = brain ? bnn_text_bf16_to_float(h) : bnn_text_f16_to_float(h);
    if (format_special(buf, n, v))
        return;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        float back = strtof(buf, NULL);
        if ((brain ? bnn_text_bf16_from_float(back) : bnn_text_f16_from_float(back)) == h)
            break;
    }
    widen(buf, n, v);
    add_point(buf, n);
}

static void print_f32(FILE *out, float f)
{
    char buf[48];
    format_f32(buf, sizeof buf, f);
    fputs(buf, out);
}

/* ---- types ----------------------------------------------------------------- */

static void print_type(FILE *out, const bnn_graph *g, bnn_dtype dtype, const bnn_shape *shape)
{
    const char *name = bnn_dtype_name(dtype);
    fputs(name && dtype != BNN_UNDEFINED ? name : "?", out);
    if (shape->rank < 0) {
        fputs("[*]", out);
        return;
    }
    fputc('[', out);
    int rank = shape->rank < BNN_MAX_RANK ? shape->rank : BNN_MAX_RANK;
    for (int i = 0; i < rank; i++) {
        int64_t d = shape->dims[i];
        if (i)
            fputc(',', out);
        if (bnn_dim_is_known(d))
            fprintf(out, "%" PRId64, d);
        else if (bnn_dim_is_symbol(d) && bnn_dim_symbol_index(d) < g->n_symbols)
            print_ident(out, g->symbols[bnn_dim_symbol_index(d)]);
        else
            fputc('?', out);
    }
    fputc(']', out);
}

static void print_value_decl(FILE *out, const bnn_graph *g, int id)
{
    print_value_name(out, g, id);
    fputs(": ", out);
    if (id >= 0 && id < g->n_values)
        print_type(out, g, g->values[id].dtype, &g->values[id].shape);
    else
        fputs("?[*]", out);
}

/* ---- params ------------------------------------------------------------------ */

/* The param's data as "[a, b, ...]" when it is small, complete and of a type
 * with a text form; false (nothing printed) otherwise. */
static bool print_param_data(FILE *out, const bnn_value *v)
{
    int64_t numel = bnn_shape_numel(&v->shape);
    size_t size = bnn_dtype_size(v->dtype);
    if (numel < 0 || numel > BNN_PRINT_MAX_INLINE || size == 0 || !v->data ||
        v->nbytes != (size_t)numel * size)
        return false;
    fputs(" = [", out);
    const unsigned char *p = v->data;
    char buf[48];
    for (int64_t i = 0; i < numel; i++, p += size) {
        if (i)
            fputs(", ", out);
        switch (v->dtype) {
        case BNN_F32: { float x; memcpy(&x, p, 4); format_f32(buf, sizeof buf, x); break; }
        case BNN_F64: { double x; memcpy(&x, p, 8); format_f64(buf, sizeof buf, x); break; }
        case BNN_F16: { uint16_t x; memcpy(&x, p, 2); format_f16(buf, sizeof buf, x, false); break; }
        case BNN_BF16: { uint16_t x; memcpy(&x, p, 2); format_f16(buf, sizeof buf, x, true); break; }
        case BNN_U8: snprintf(buf, sizeof buf, "%u", (unsigned)p[0]); break;
        case BNN_BOOL: snprintf(buf, sizeof buf, "%d", p[0] != 0); break;
        case BNN_I8: { int8_t x; memcpy(&x, p, 1); snprintf(buf, sizeof buf, "%d", x); break; }
        case BNN_U16: { uint16_t x; memcpy(&x, p, 2); snprintf(buf, sizeof buf, "%u", (unsigned)x); break; }
        case BNN_I16: { int16_t x; memcpy(&x, p, 2); snprintf(buf, sizeof buf, "%d", x); break; }
        case BNN_I32: { int32_t x; memcpy(&x, p, 4); snprintf(buf, sizeof buf, "%" PRId32, x); break; }
        case BNN_U32: { uint32_t x; memcpy(&x, p, 4); snprintf(buf, sizeof buf, "%" PRIu32, x); break; }
        case BNN_I64: { int64_t x; memcpy(&x, p, 8); snprintf(buf, sizeof buf, "%" PRId64, x); break; }
        case BNN_U64: { uint64_t x; memcpy(&x, p, 8); snprintf(buf, sizeof buf, "%" PRIu64, x); break; }
        default: snprintf(buf, sizeof buf, "0"); break; /* unreachable: size 0 above */
        }
        fputs(buf, out);
    }
    fputc(']', out);
    return true;
}

static void print_param(FILE *out, const bnn_graph *g, int id)
{
    const bnn_value *v = &g->values[id];
    fputs("  param ", out);
    print_value_decl(out, g, id);
    if (v->trainable)
        fputs(" trainable", out);
    print_param_data(out, v);
    fputc('\n', out);
}

/* ---- nodes ----------------------------------------------------------------------- */

static void print_attr(FILE *out, const bnn_attr *a)
{
    print_ident(out, a->name);
    fputc('=', out);
    switch (a->kind) {
    case BNN_ATTR_INT: fprintf(out, "%" PRId64, a->i); break;
    case BNN_ATTR_FLOAT: print_f32(out, a->f); break;
    case BNN_ATTR_STRING: print_quoted(out, a->s ? a->s : ""); break;
    case BNN_ATTR_INTS:
        fputc('[', out);
        for (int k = 0; k < a->count; k++)
            fprintf(out, "%s%" PRId64, k ? ", " : "", a->ints[k]);
        fputs(a->count ? "]" : "]:ints", out);
        break;
    case BNN_ATTR_FLOATS:
        fputc('[', out);
        for (int k = 0; k < a->count; k++) {
            if (k)
                fputs(", ", out);
            print_f32(out, a->floats[k]);
        }
        fputs(a->count ? "]" : "]:floats", out);
        break;
    }
}

/* Untyped outputs (undefined dtype, unknown rank: shape inference has not run)
 * print without the ": types" part. */
static bool outputs_typed(const bnn_graph *g, const bnn_node *n)
{
    for (int k = 0; k < n->n_outputs; k++) {
        int id = n->outputs[k];
        if (id < 0 || id >= g->n_values)
            return true;
        const bnn_value *v = &g->values[id];
        if (v->dtype != BNN_UNDEFINED || v->shape.rank >= 0)
            return true;
    }
    return false;
}

static void print_node(FILE *out, const bnn_graph *g, const bnn_node *n)
{
    fputs("  ", out);
    for (int k = 0; k < n->n_outputs; k++) {
        if (k)
            fputs(", ", out);
        print_value_name(out, g, n->outputs[k]);
    }
    if (n->n_outputs)
        fputs(" = ", out);
    fputs(n->op >= 0 && n->op < BNN_OP_COUNT ? bnn_op_get(n->op)->name : "?", out);
    fputc('(', out);
    for (int k = 0; k < n->n_inputs; k++) {
        if (k)
            fputs(", ", out);
        print_value_name(out, g, n->inputs[k]);
    }
    fputc(')', out);
    if (n->n_attrs) {
        fputs(" {", out);
        for (int k = 0; k < n->n_attrs; k++) {
            if (k)
                fputs(", ", out);
            print_attr(out, &n->attrs[k]);
        }
        fputc('}', out);
    }
    if (outputs_typed(g, n)) {
        fputs(" : ", out);
        for (int k = 0; k < n->n_outputs; k++) {
            int id = n->outputs[k];
            if (k)
                fputs(", ", out);
            if (id >= 0 && id < g->n_values)
                print_type(out, g, g->values[id].dtype, &g->values[id].shape);
            else
                fputs("?[*]", out);
        }
    }
    if (n->name && *n->name) {
        fputc(' ', out);
        print_name(out, '@', n->name);
    }
    fputc('\n', out);
}

/* ---- the graph ------------------------------------------------------------------ */

bnn_status bnn_graph_print(const bnn_graph *g, FILE *out)
{
    fputs("graph ", out);
    print_name(out, '@', g->name ? g->name : "");
    fputc('(', out);
    for (int i = 0; i < g->n_inputs; i++) {
        if (i)
            fputs(", ", out);
        print_value_decl(out, g, g->inputs[i]);
    }
    fputs(") -> (", out);
    for (int i = 0; i < g->n_outputs; i++) {
        if (i)
            fputs(", ", out);
        print_value_decl(out, g, g->outputs[i]);
    }
    fputs(") {\n", out);
    if (g->onnx_opset)
        fprintf(out, "  opset %" PRId64 "\n", g->onnx_opset);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM)
            print_param(out, g, v);
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            print_node(out, g, &g->nodes[i]);
    fputs("  return", out);
    for (int i = 0; i < g->n_outputs; i++) {
        fputs(i ? ", " : " ", out);
        print_value_name(out, g, g->outputs[i]);
    }
    fputs("\n}\n", out);
    return ferror(out) ? BNN_ERR_IO : BNN_OK;
}
