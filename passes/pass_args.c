/* Reading a pass's option values: typed, checked, with the column they came
 * from in the error. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "passes_impl.h"

static int option_index(const bnn_pass_args *a, const char *name)
{
    for (int i = 0; i < a->pass->info.n_options; i++)
        if (strcmp(a->pass->info.options[i].name, name) == 0)
            return i;
    BNN_ASSERT(!"a pass asked for an option it does not declare");
    return -1;
}

const char *bnn_pass_arg(const bnn_pass_args *a, const char *name)
{
    return a->values[option_index(a, name)];
}

bool bnn_pass_arg_given(const bnn_pass_args *a, const char *name)
{
    return a->given[option_index(a, name)];
}

bnn_status bnn_pass_arg_fail(const bnn_pass_args *a, const char *name, bnn_diag *diag,
                             bnn_status status, const char *fmt, ...)
{
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int i = option_index(a, name);
    if (a->given[i])
        return bnn_fail(diag, status, "pipeline column %d: %s option %s: %s", a->columns[i],
                        a->pass->info.name, name, what);
    return bnn_fail(diag, status, "%s option %s: %s", a->pass->info.name, name, what);
}

bnn_status bnn_pass_arg_float(const bnn_pass_args *a, const char *name, double *out,
                              bnn_diag *diag)
{
    const char *text = bnn_pass_arg(a, name);
    char *end;
    errno = 0;
    double v = *text ? strtod(text, &end) : 0.0;
    if (!*text || errno || *end || !isfinite(v))
        return bnn_pass_arg_fail(a, name, diag, BNN_ERR_INVALID, "'%s' is not a finite number",
                                 text);
    *out = v;
    return BNN_OK;
}

bnn_status bnn_pass_arg_u64(const bnn_pass_args *a, const char *name, uint64_t *out,
                            bnn_diag *diag)
{
    const char *text = bnn_pass_arg(a, name);
    char *end;
    errno = 0;
    unsigned long long v = 0;
    bool ok = *text >= '0' && *text <= '9';
    if (ok) {
        v = strtoull(text, &end, 10);
        ok = !errno && !*end;
    }
    if (!ok)
        return bnn_pass_arg_fail(a, name, diag, BNN_ERR_INVALID,
                                 "'%s' is not an unsigned 64-bit integer", text);
    *out = (uint64_t)v;
    return BNN_OK;
}

bnn_status bnn_pass_arg_bool(const bnn_pass_args *a, const char *name, bool *out,
                             bnn_diag *diag)
{
    const char *text = bnn_pass_arg(a, name);
    if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
        *out = true;
    else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
        *out = false;
    else
        return bnn_pass_arg_fail(a, name, diag, BNN_ERR_INVALID,
                                 "'%s' is not true or false", text);
    return BNN_OK;
}

void bnn_name_list_free(bnn_name_list *list)
{
    free(list->buffer);
    free(list->items);
    memset(list, 0, sizeof *list);
}

bnn_status bnn_pass_arg_list(const bnn_pass_args *a, const char *name, bnn_name_list *out,
                             bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    const char *text = bnn_pass_arg(a, name);
    if (!*text)
        return BNN_OK;
    size_t len = strlen(text);
    int commas = 0;
    for (size_t i = 0; i < len; i++)
        commas += text[i] == ',';
    out->buffer = malloc(len + 1);
    out->items = malloc(sizeof(char *) * (size_t)(commas + 1));
    if (!out->buffer || !out->items) {
        bnn_name_list_free(out);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory reading option %s", name);
    }
    memcpy(out->buffer, text, len + 1);
    char *item = out->buffer;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        if (!*item) {
            bnn_name_list_free(out);
            return bnn_pass_arg_fail(a, name, diag, BNN_ERR_INVALID,
                                     "'%s' has an empty item", text);
        }
        out->items[out->count++] = item;
        if (!comma)
            break;
        item = comma + 1;
    }
    return BNN_OK;
}
