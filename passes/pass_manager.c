/* The pass manager: the pass table, pipeline parsing and running.
 *
 * Grammar (MLIR's textual pipelines, without nesting):
 *     pipeline := [ entry { ',' entry } ]
 *     entry    := NAME [ '{' { OPTION '=' VALUE } '}' ]
 * Spaces may surround names, commas and braces; options are separated by
 * spaces; a VALUE runs to the next space or '}', so it may contain commas.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

/* Every pass, in the order `bnnc passes` lists them. */
static const bnn_pass_def *const pass_table[] = {
    &bnn_pass_canonicalize,
    &bnn_pass_dce,
    &bnn_pass_fold_batchnorm,
    &bnn_pass_to_bnn,
    &bnn_pass_bnn_to_mean,
    &bnn_pass_lower_bnn_to_onnx,
    &bnn_pass_bnn_to_moments,
};
#define N_PASSES ((int)(sizeof pass_table / sizeof pass_table[0]))

int bnn_pass_count(void)
{
    return N_PASSES;
}

const bnn_pass_info *bnn_pass_at(int index)
{
    BNN_ASSERT(index >= 0 && index < N_PASSES);
    return &pass_table[index]->info;
}

static const bnn_pass_def *find_def(const char *name, size_t len)
{
    for (int i = 0; i < N_PASSES; i++) {
        const char *p = pass_table[i]->info.name;
        if (strlen(p) == len && strncmp(p, name, len) == 0)
            return pass_table[i];
    }
    return NULL;
}

const bnn_pass_info *bnn_pass_find(const char *name)
{
    const bnn_pass_def *d = find_def(name, strlen(name));
    return d ? &d->info : NULL;
}

/* ---- pipelines ------------------------------------------------------------ */

struct bnn_pipeline {
    bnn_pass_args *entries; /* owned */
    int n_entries;
};

static void args_free(bnn_pass_args *a)
{
    for (int i = 0; i < BNN_PASS_MAX_OPTIONS; i++)
        free(a->values[i]);
}

void bnn_pipeline_destroy(bnn_pipeline *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_entries; i++)
        args_free(&p->entries[i]);
    free(p->entries);
    free(p);
}

int bnn_pipeline_length(const bnn_pipeline *p)
{
    return p->n_entries;
}

const char *bnn_pipeline_pass_name(const bnn_pipeline *p, int index)
{
    BNN_ASSERT(index >= 0 && index < p->n_entries);
    return p->entries[index].pass->info.name;
}

static char *dup_range(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    return s;
}

/* Lists a pass's options for an error message: "layers, only, ...". */
static const char *option_names(const bnn_pass_def *d, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < d->info.n_options; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", d->info.options[i].name);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    if (d->info.n_options == 0)
        snprintf(buf, n, "none");
    return buf;
}

/* Parses "{k=v k=v}" starting at *pos (on the '{'); fills a. */
static bnn_status parse_options(const char *text, const char **pos, bnn_pass_args *a,
                                bnn_diag *diag)
{
    const bnn_pass_def *d = a->pass;
    const char *s = *pos + 1;
    char names[400];
    for (;;) {
        s = skip_space(s);
        if (*s == '}') {
            *pos = s + 1;
            return BNN_OK;
        }
        if (*s == '\0')
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: options of pass '%s' are not closed with '}'",
                            (int)(s - text) + 1, d->info.name);
        const char *key = s;
        while (is_name_char(*s))
            s++;
        size_t key_len = (size_t)(s - key);
        if (key_len == 0)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: expected an option name in pass '%s', found '%c'",
                            (int)(key - text) + 1, d->info.name, *key);
        int index = -1;
        for (int i = 0; i < d->info.n_options; i++)
            if (strlen(d->info.options[i].name) == key_len &&
                strncmp(d->info.options[i].name, key, key_len) == 0)
                index = i;
        if (index < 0)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: pass '%s' has no option '%.*s' (options: %s)",
                            (int)(key - text) + 1, d->info.name, (int)key_len, key,
                            option_names(d, names, sizeof names));
        if (*s != '=')
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: option '%.*s' of pass '%s' needs '=VALUE'",
                            (int)(s - text) + 1, (int)key_len, key, d->info.name);
        if (a->given[index])
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: option '%.*s' of pass '%s' is given twice",
                            (int)(key - text) + 1, (int)key_len, key, d->info.name);
        s++;
        const char *value = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '}' && *s != '{')
            s++;
        if (*s == '{')
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "pipeline column %d: unexpected '{' in the value of option '%.*s'",
                            (int)(s - text) + 1, (int)key_len, key);
        char *copy = dup_range(value, (size_t)(s - value));
        if (!copy)
            return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory parsing a pipeline");
        free(a->values[index]);
        a->values[index] = copy;
        a->columns[index] = (int)(value - text) + 1;
        a->given[index] = true;
    }
}

bnn_status bnn_pipeline_parse(const char *text, bnn_pipeline **out, bnn_diag *diag)
{
    *out = NULL;
    bnn_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory parsing a pipeline");
    int cap = 0;
    const char *s = skip_space(text);
    bnn_status st = BNN_OK;
    while (*s) {
        const char *name = s;
        while (is_name_char(*s))
            s++;
        size_t len = (size_t)(s - name);
        if (len == 0) {
            st = bnn_fail(diag, BNN_ERR_INVALID, "pipeline column %d: expected a pass name, found '%c'",
                          (int)(s - text) + 1, *s);
            goto fail;
        }
        const bnn_pass_def *d = find_def(name, len);
        if (!d) {
            st = bnn_fail(diag, BNN_ERR_INVALID,
                          "pipeline column %d: unknown pass '%.*s' (see 'bnnc passes')",
                          (int)(name - text) + 1, (int)len, name);
            goto fail;
        }
        if (p->n_entries == cap) {
            int next = cap ? cap * 2 : 8;
            bnn_pass_args *e = realloc(p->entries, sizeof *e * (size_t)next);
            if (!e) {
                st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory parsing a pipeline");
                goto fail;
            }
            p->entries = e;
            cap = next;
        }
        bnn_pass_args *a = &p->entries[p->n_entries++];
        memset(a, 0, sizeof *a);
        a->pass = d;
        BNN_ASSERT(d->info.n_options <= BNN_PASS_MAX_OPTIONS);
        for (int i = 0; i < d->info.n_options; i++) {
            a->values[i] = dup_range(d->info.options[i].default_value,
                                     strlen(d->info.options[i].default_value));
            if (!a->values[i]) {
                st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory parsing a pipeline");
                goto fail;
            }
        }
        s = skip_space(s);
        if (*s == '{') {
            st = parse_options(text, &s, a, diag);
            if (st != BNN_OK)
                goto fail;
            s = skip_space(s);
        }
        if (d->check) {
            st = d->check(a, diag);
            if (st != BNN_OK)
                goto fail;
        }
        if (*s == ',') {
            s = skip_space(s + 1);
            if (*s == '\0') {
                st = bnn_fail(diag, BNN_ERR_INVALID,
                              "pipeline column %d: expected a pass name after ','",
                              (int)(s - text) + 1);
                goto fail;
            }
        } else if (*s != '\0') {
            st = bnn_fail(diag, BNN_ERR_INVALID,
                          "pipeline column %d: expected ',' or the end after pass '%s', found '%c'",
                          (int)(s - text) + 1, d->info.name, *s);
            goto fail;
        }
    }
    *out = p;
    return BNN_OK;
fail:
    bnn_pipeline_destroy(p);
    return st;
}

const char *bnn_pipeline_format(const bnn_pipeline *p, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
#define APPEND(...)                                                       \
    do {                                                                  \
        int w_ = snprintf(buf + used, n - used, __VA_ARGS__);             \
        if (w_ < 0 || (size_t)w_ >= n - used)                             \
            return buf;                                                   \
        used += (size_t)w_;                                               \
    } while (0)
    for (int i = 0; i < p->n_entries; i++) {
        const bnn_pass_args *a = &p->entries[i];
        APPEND("%s%s", i ? "," : "", a->pass->info.name);
        if (a->pass->info.n_options == 0)
            continue;
        APPEND("{");
        for (int k = 0; k < a->pass->info.n_options; k++)
            APPEND("%s%s=%s", k ? " " : "", a->pass->info.options[k].name, a->values[k]);
        APPEND("}");
    }
#undef APPEND
    return buf;
}

/* ---- running -------------------------------------------------------------- */

bnn_pipeline_run_options bnn_pipeline_run_defaults(void)
{
    bnn_pipeline_run_options o = {0};
    o.verify_each = true;
    return o;
}

static bnn_status dump(const bnn_graph *g, FILE *out, const char *pass_name, bnn_diag *diag)
{
    if (fprintf(out, "// ----- IR dump after %s -----\n", pass_name) < 0 ||
        bnn_graph_print(g, out) != BNN_OK)
        return bnn_fail(diag, BNN_ERR_IO, "could not write the IR dump after pass '%s'",
                        pass_name);
    return BNN_OK;
}

bnn_status bnn_pipeline_run(const bnn_pipeline *p, bnn_graph *g,
                            const bnn_pipeline_run_options *options, bnn_diag *diag)
{
    bnn_pipeline_run_options o = options ? *options : bnn_pipeline_run_defaults();
    if (o.print_after) {
        bool found = false;
        for (int i = 0; i < p->n_entries; i++)
            found |= strcmp(p->entries[i].pass->info.name, o.print_after) == 0;
        if (!bnn_pass_find(o.print_after))
            return bnn_fail(diag, BNN_ERR_INVALID, "print-ir-after: unknown pass '%s'",
                            o.print_after);
        if (!found)
            return bnn_fail(diag, BNN_ERR_INVALID,
                            "print-ir-after: pass '%s' is not in the pipeline", o.print_after);
    }
    if (o.verify_each && bnn_graph_verify(g, diag) != BNN_OK)
        return bnn_diag_prefix(diag, "the input graph is invalid");
    for (int i = 0; i < p->n_entries; i++) {
        const bnn_pass_args *a = &p->entries[i];
        const char *name = a->pass->info.name;
        if (a->pass->run(g, a, diag) != BNN_OK)
            return bnn_diag_prefix(diag, "pass '%s'", name);
        if (bnn_graph_drop_dead_nodes(g) != BNN_OK)
            return bnn_fail(diag, BNN_ERR_NOMEM, "pass '%s': out of memory", name);
        if (o.verify_each && bnn_graph_verify(g, diag) != BNN_OK)
            return bnn_diag_prefix(diag, "pass '%s' produced an invalid graph", name);
        if (o.ir_out && (o.print_after_all || (o.print_after && strcmp(o.print_after, name) == 0)))
            BNN_TRY(dump(g, o.ir_out, name, diag));
    }
    return BNN_OK;
}

bnn_status bnn_passes_run_text(const char *text, bnn_graph *g, bnn_diag *diag)
{
    bnn_pipeline *p;
    BNN_TRY(bnn_pipeline_parse(text, &p, diag));
    bnn_status st = bnn_pipeline_run(p, g, NULL, diag);
    bnn_pipeline_destroy(p);
    return st;
}
