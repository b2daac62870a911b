/* The IR text lexer and the parser's error reporting (see parse.c): one
 * token of lookahead over the text, "FILE:LINE:COL: ..." messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_ir.h"
#include "text_impl.h"

/* ---- errors ---------------------------------------------------------------- */

bnn_status text_error_at(parser *p, size_t at, const char *fmt, ...)
{
    if (p->status != BNN_OK)
        return p->status; /* the first error is the one worth reading */
    int line = 1, col = 1;
    for (size_t i = 0; i < at && p->text[i]; i++) {
        if (p->text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    p->status = bnn_fail(p->diag, BNN_ERR_INVALID, "%s:%d:%d: %s", p->file, line, col, what);
    return p->status;
}

bnn_status text_out_of_memory(parser *p)
{
    if (p->status == BNN_OK)
        p->status = bnn_fail(p->diag, BNN_ERR_NOMEM, "%s: out of memory", p->file);
    return p->status;
}

/* "'conv2d'" or "end of input", for "expected X, found Y". */
static const char *describe(const parser *p, const token *t, char *buf, size_t n)
{
    if (t->kind == T_EOF)
        return "end of input";
    int len = t->len > 24 ? 24 : (int)t->len;
    snprintf(buf, n, "'%.*s%s'", len, p->text + t->at, t->len > 24 ? "..." : "");
    return buf;
}

bnn_status text_expected(parser *p, const char *what)
{
    char buf[48];
    return text_error_at(p, p->tok.at, "expected %s, found %s", what,
                         describe(p, &p->tok, buf, sizeof buf));
}

/* ---- lexer ------------------------------------------------------------------ */

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_value(int c)
{
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Scans a quoted string starting at the '"' at `at`, checking its escapes. */
static bnn_status lex_quoted(parser *p, size_t at, token *t)
{
    const char *s = p->text;
    size_t i = at + 1;
    for (;;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            break;
        if (c == '\0' || c == '\n')
            return text_error_at(p, at, "unterminated string");
        if (c < 0x20 && c != '\t')
            return text_error_at(p, i, "control character 0x%02x in a string (write \\x%02x)", c,
                                 c);
        if (c == '\\') {
            char e = s[i + 1];
            if (e == 'x') {
                if (!is_hex(s[i + 2]) || !is_hex(s[i + 3]))
                    return text_error_at(p, i, "expected two hex digits after \\x");
                if (hex_value(s[i + 2]) * 16 + hex_value(s[i + 3]) == 0)
                    return text_error_at(p, i, "\\x00 is not allowed in a string");
                i += 4;
                continue;
            }
            if (e != '"' && e != '\\' && e != 'n' && e != 't' && e != 'r')
                return text_error_at(
                    p, i, "unknown escape in a string (use \\\" \\\\ \\n \\t \\r \\xHH)");
            i += 2;
            continue;
        }
        i++;
    }
    t->quoted = true;
    t->body = at + 1;
    t->body_len = i - (at + 1);
    t->len = i + 1 - t->at;
    return BNN_OK;
}

/* A number: -?digits(.digits*)?([eE][+-]?digits)? ; `i` is at its first byte. */
static bnn_status lex_number(parser *p, token *t)
{
    const char *s = p->text;
    size_t i = t->at;
    bool is_float = false;
    if (s[i] == '-')
        i++;
    while (is_digit(s[i]))
        i++;
    if (s[i] == '.') {
        is_float = true;
        i++;
        while (is_digit(s[i]))
            i++;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        is_float = true;
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (!is_digit(s[i]))
            return text_error_at(p, t->at, "malformed number: expected digits in the exponent");
        while (is_digit(s[i]))
            i++;
    }
    if (bnn_text_is_ident_char((unsigned char)s[i]))
        return text_error_at(p, t->at, "malformed number");
    if (i - t->at > MAX_NUMBER_LEN)
        return text_error_at(p, t->at, "number longer than %d characters", MAX_NUMBER_LEN);
    t->kind = is_float ? T_FLOAT : T_INT;
    t->len = i - t->at;
    return BNN_OK;
}

/* Reads the next token into p->tok. */
bnn_status text_next(parser *p)
{
    const char *s = p->text;
    size_t i = p->pos;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
            i++;
        if (s[i] == '/' && s[i + 1] == '/') {
            while (s[i] && s[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    token *t = &p->tok;
    memset(t, 0, sizeof *t);
    t->at = i;
    t->len = 1;
    unsigned char c = (unsigned char)s[i];
    if (c == '\0') {
        t->kind = T_EOF;
        t->len = 0;
    } else if (c == '%' || c == '@') {
        t->kind = c == '%' ? T_VALUE : T_AT;
        if (s[i + 1] == '"') {
            BNN_TRY(lex_quoted(p, i + 1, t));
        } else {
            size_t j = i + 1;
            while (bnn_text_is_name_char((unsigned char)s[j]))
                j++;
            if (j == i + 1)
                return text_error_at(p, i, "expected a name or a quoted name after '%c'", c);
            t->body = i + 1;
            t->body_len = j - (i + 1);
            t->len = j - i;
        }
    } else if (c == '"') {
        t->kind = T_STRING;
        BNN_TRY(lex_quoted(p, i, t));
    } else if (is_digit(c) || (c == '-' && is_digit(s[i + 1]))) {
        BNN_TRY(lex_number(p, t));
    } else if (c == '-' && s[i + 1] == '>') {
        t->kind = T_ARROW;
        t->len = 2;
    } else if (c == '-' && strncmp(s + i + 1, "inf", 3) == 0 &&
               !bnn_text_is_ident_char((unsigned char)s[i + 4])) {
        t->kind = T_FLOAT;
        t->len = 4;
    } else if (bnn_text_is_ident_start(c)) {
        size_t j = i;
        while (bnn_text_is_ident_char((unsigned char)s[j]))
            j++;
        t->kind = T_IDENT;
        t->len = j - i;
    } else if (strchr("(){}[],:=?*", c)) {
        t->kind = T_PUNCT;
    } else if (c >= 0x21 && c < 0x7f) {
        return text_error_at(p, i, "unexpected character '%c'", c);
    } else {
        return text_error_at(p, i, "unexpected byte 0x%02x", c);
    }
    p->pos = t->at + t->len;
    return BNN_OK;
}

bool text_is_punct(const parser *p, char c)
{
    return p->tok.kind == T_PUNCT && p->text[p->tok.at] == c;
}

bool text_is_ident(const parser *p, const char *word)
{
    return p->tok.kind == T_IDENT && p->tok.len == strlen(word) &&
           memcmp(p->text + p->tok.at, word, p->tok.len) == 0;
}

bnn_status text_expect_punct(parser *p, char c, const char *what)
{
    if (!text_is_punct(p, c))
        return text_expected(p, what);
    return text_next(p);
}

/* The current identifier in buf (empty when it does not fit). */
const char *text_ident(const parser *p, char *buf, size_t n)
{
    if (p->tok.len >= n)
        buf[0] = '\0';
    else
        snprintf(buf, n, "%.*s", (int)p->tok.len, p->text + p->tok.at);
    return buf;
}

/* The current name, string or identifier, decoded into the graph's arena. */
const char *text_token_string(parser *p)
{
    const token *t = &p->tok;
    size_t from = t->kind == T_IDENT ? t->at : t->body;
    size_t len = t->kind == T_IDENT ? t->len : t->body_len;
    char *out = bnn_arena_alloc(p->g->arena, len + 1, 1);
    if (!out) {
        text_out_of_memory(p);
        return NULL;
    }
    const char *s = p->text + from;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!t->quoted || s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'x':
            out[n++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
            break;
        default: out[n++] = e; break; /* \" and \\ */
        }
    }
    out[n] = '\0';
    return out;
}
