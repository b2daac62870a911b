/* Helpers shared by the IR text printer (print.c), parser (parse.c) and lexer
 * (text_lex.c): which names print bare, the 16-bit float conversions used for
 * inline param data, and the parser state with the lexer's interface.  See
 * docs/ir.md for the text form itself. */
#ifndef BNN_TEXT_IMPL_H
#define BNN_TEXT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bnn_ir.h"

/* Characters of a bare %value / @graph / @node name; anything else is quoted.
 * ':' is left out so that "%x: f32[2]" needs no space before the colon. */
static inline bool bnn_text_is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Identifiers: op names, dtypes, keywords, attribute names, dim symbols. */
static inline bool bnn_text_is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool bnn_text_is_ident_char(int c)
{
    return bnn_text_is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static inline uint32_t bnn_text_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bnn_text_bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half to float: exact. */
static inline float bnn_text_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float. */
        float v = (float)mant * (1.0f / 16777216.0f);
        return bnn_text_bits_float(bnn_text_float_bits(v) | sign);
    }
    if (exp == 31)
        return bnn_text_bits_float(sign | 0x7f800000u | (mant << 13));
    return bnn_text_bits_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* Float to IEEE half, rounding to nearest even; overflow gives inf. */
static inline uint16_t bnn_text_f16_from_float(float f)
{
    uint32_t bits = bnn_text_float_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    int exp = (int)((bits >> 23) & 0xff);
    uint32_t mant = bits & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* a carry into the exponent is right, up to inf */
    return (uint16_t)(sign | half);
}

static inline float bnn_text_bf16_to_float(uint16_t h)
{
    return bnn_text_bits_float((uint32_t)h << 16);
}

static inline uint16_t bnn_text_bf16_from_float(float f)
{
    uint32_t bits = bnn_text_float_bits(f);
    if ((bits & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((bits >> 16) | 0x40); /* keep NaN a NaN */
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

/* ---- the parser's state and the lexer (parse.c, text_lex.c) ------------- */

/* Sizes a text may ask for; beyond them it is more likely garbage than a model. */
enum {
    MAX_LIST = 1 << 20,   /* elements of an attribute list */
    MAX_OPERANDS = 1 << 16, /* inputs or outputs of one node */
    MAX_ATTRS = 1 << 12,  /* attributes of one node */
    MAX_NUMBER_LEN = 400, /* characters of one number */
};
#define MAX_PARAM_BYTES ((size_t)1 << 30) /* data of one param */
/* Params without inline data are zero-filled: the printer leaves out the data
 * of large params, so such a text is the model's structure only.  Their bytes
 * together are capped, so a few lines cannot ask for gigabytes. */
#define MAX_ZERO_PARAM_BYTES ((size_t)128 << 20)

typedef enum tok_kind {
    T_EOF,
    T_IDENT,  /* op names, dtypes, keywords, attribute names, symbols */
    T_VALUE,  /* %name or %"name" */
    T_AT,     /* @name or @"name" */
    T_INT,    /* -?[0-9]+ */
    T_FLOAT,  /* a number with '.' or an exponent, or -inf */
    T_STRING, /* "..." */
    T_ARROW,  /* -> */
    T_PUNCT,  /* one of ( ) { } [ ] , : = ? * */
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t at, len;   /* the token's bytes in the text */
    size_t body, body_len; /* names and strings: what is between the quotes or after the sigil */
    bool quoted;      /* body holds escapes to decode */
} token;

typedef struct pending_output {
    const char *name; /* arena */
    size_t at;
    bnn_dtype dtype;
    bnn_shape shape;
} pending_output;

typedef struct parser {
    const char *text;
    const char *file;
    size_t pos;      /* where the lexer continues */
    token tok;       /* the current token */
    bnn_graph *g;
    bnn_diag *diag;
    bnn_status status;
    int *slots;      /* owned: name hash, value id + 1, 0 when free */
    size_t n_slots, n_used;
    int *ids;        /* owned scratch: a node's inputs or outputs */
    int cap_ids;
    int64_t *ints;   /* owned scratch: an attribute list */
    float *floats;   /* owned scratch: the same list as floats */
    int cap_list;
    pending_output *outs; /* owned: the header's outputs */
    int n_outs;
    size_t zero_bytes; /* of params without inline data, so far */
} parser;

/* Errors: the first one sticks in p->status and p->diag, "FILE:LINE:COL: what". */
bnn_status text_error_at(parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bnn_status text_out_of_memory(parser *p);
/* "expected WHAT, found 'TOKEN'" at the current token. */
bnn_status text_expected(parser *p, const char *what);

/* Reads the next token into p->tok. */
bnn_status text_next(parser *p);
bool text_is_punct(const parser *p, char c);
bool text_is_ident(const parser *p, const char *word);
/* The punctuation c, then the next token; else "expected WHAT". */
bnn_status text_expect_punct(parser *p, char c, const char *what);
/* The current identifier in buf (empty when it does not fit). */
const char *text_ident(const parser *p, char *buf, size_t n);
/* The current name, string or identifier, decoded into the graph's arena;
 * NULL when out of memory. */
const char *text_token_string(parser *p);

#endif
