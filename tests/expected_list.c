/* The expected list of the conformance runners (expected_list.h). */
#include "expected_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    bool ran, passed;
} listed_case;

struct expected_list {
    const char *path; /* NULL: no list given, nothing is checked */
    listed_case *cases;
    int n, cap;
    char **passes; /* every pass, in run order (the runners run sorted) */
    int n_passes, cap_passes;
    bool passes_lost; /* out of memory while recording a pass */
    int unlisted;     /* passes that are not in the list */
};

/* Makes room for one more element in *ITEMS (N used of *CAP). */
static bool grow(void **items, int n, int *cap, size_t size)
{
    if (n < *cap)
        return true;
    int more = *cap ? 2 * *cap : 1024;
    void *grown = realloc(*items, (size_t)more * size);
    if (!grown)
        return false;
    *items = grown;
    *cap = more;
    return true;
}

static bool push_pass(expected_list *l, const char *name)
{
    char *copy = strdup(name);
    if (!copy || !grow((void **)&l->passes, l->n_passes, &l->cap_passes, sizeof *l->passes)) {
        free(copy);
        return false;
    }
    l->passes[l->n_passes++] = copy;
    return true;
}

static bool push_case(expected_list *l, const char *name)
{
    char *copy = strdup(name);
    if (!copy || !grow((void **)&l->cases, l->n, &l->cap, sizeof *l->cases)) {
        free(copy);
        return false;
    }
    l->cases[l->n++] = (listed_case){.name = copy};
    return true;
}

expected_list *expected_list_read(const char *path)
{
    expected_list *l = calloc(1, sizeof *l);
    if (!l || !path)
        return l;
    l->path = path;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot open the expected list %s\n", path);
        expected_list_free(l);
        return NULL;
    }
    char line[1300];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        int order = l->n > 0 ? strcmp(l->cases[l->n - 1].name, line) : -1;
        if (order >= 0) {
            fprintf(stderr, "conformance: %s:%d: '%s' is %s; the list is sorted, one case a "
                    "line (rewrite it with --write-expected)\n", path, lineno, line,
                    order == 0 ? "repeated" : "out of order");
            ok = false;
        } else if (!push_case(l, line)) {
            fprintf(stderr, "conformance: out of memory reading %s\n", path);
            ok = false;
        }
    }
    fclose(f);
    if (!ok) {
        expected_list_free(l);
        return NULL;
    }
    return l;
}

static listed_case *find(expected_list *l, const char *name)
{
    int lo = 0, hi = l->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(l->cases[mid].name, name);
        if (c == 0)
            return &l->cases[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

void expected_list_note(expected_list *l, const char *name, bool passed, const char *skip_reason)
{
    listed_case *c = find(l, name);
    if (c) {
        c->ran = true;
        c->passed = passed;
        if (skip_reason)
            printf("FAIL %s: expected to pass, skipped: %s\n", name, skip_reason);
    }
    if (!passed)
        return;
    if (!c && l->path) {
        printf("NEW PASS %s (not in the expected list)\n", name);
        l->unlisted++;
    }
    if (!push_pass(l, name))
        l->passes_lost = true;
}

int expected_list_finish(expected_list *l, const char *data_root, const char *only)
{
    int lost = 0;
    for (int i = 0; i < l->n; i++) {
        const char *slash = strchr(l->cases[i].name, '/');
        if (only && !strstr(slash ? slash + 1 : l->cases[i].name, only))
            continue;
        if (!l->cases[i].ran)
            printf("FAIL %s: expected to pass, not found in %s\n", l->cases[i].name, data_root);
        lost += !l->cases[i].passed;
    }
    if (l->path) {
        printf("expected list %s: %d cases, %d of them did not pass", l->path, l->n, lost);
        if (l->unlisted)
            printf("; %d passing cases are not listed (add them with --write-expected FILE)",
                   l->unlisted);
        printf("\n");
    }
    if (lost)
        printf("FAIL: %d cases of the expected list did not pass (see the FAIL lines)\n", lost);
    return lost;
}

bool expected_list_write(const expected_list *l, const char *path)
{
    if (l->passes_lost) {
        fprintf(stderr, "conformance: out of memory listing the passes; %s not written\n", path);
        return false;
    }
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < l->n_passes; i++)
        fprintf(f, "%s\n", l->passes[i]);
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "conformance: cannot write %s\n", path);
        return false;
    }
    printf("wrote %d passing cases to %s\n", l->n_passes, path);
    return true;
}

void expected_list_free(expected_list *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        free(l->cases[i].name);
    for (int i = 0; i < l->n_passes; i++)
        free(l->passes[i]);
    free(l->cases);
    free(l->passes);
    free(l);
}
