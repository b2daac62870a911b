/* ONNX Einsum's equation (see einsum_impl.h). */
#include <stdio.h>
#include <string.h>

#include "einsum_impl.h"

/* Labels: letters 0..51, ellipsis dims 52.. (52 + i: the i-th of the
 * ellipsis' dims counted from its right end, so that they broadcast
 * right-aligned), renumbered densely at the end. */
static int letter_label(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a';
    if (ch >= 'A' && ch <= 'Z')
        return 26 + ch - 'A';
    return -1;
}

/* One term [s, end): its labels into out (at most max), with an ellipsis of
 * `ell` dims (ell < 0: count them as rank - letters).  *n gets the count;
 * *has_ell whether it had one. */
static bool parse_term(const char *s, const char *end, int rank, int *out, int *n, bool *has_ell,
                       int *ell_dims, char *why, size_t wn)
{
    int letters = 0, pos = 0;
    *has_ell = false;
    for (const char *p = s; p < end; p++) {
        if (*p == ' ')
            continue;
        if (*p == '.') {
            if (*has_ell || end - p < 3 || p[1] != '.' || p[2] != '.') {
                snprintf(why, wn, "a term has a stray '.' or two ellipses");
                return false;
            }
            *has_ell = true;
            p += 2;
            continue;
        }
        if (letter_label(*p) < 0) {
            snprintf(why, wn, "'%c' is not a subscript letter", *p);
            return false;
        }
        letters++;
    }
    int ell = 0;
    if (rank >= 0) {
        ell = rank - letters;
        if (ell < 0 || (!*has_ell && ell != 0)) {
            snprintf(why, wn, "a term has %d subscripts for an operand of rank %d", letters, rank);
            return false;
        }
    } else {
        ell = *ell_dims; /* the output: as many as the widest operand's */
    }
    if (letters + (*has_ell ? ell : 0) > BNN_MAX_RANK) {
        snprintf(why, wn, "a term has more than %d dims", BNN_MAX_RANK);
        return false;
    }
    for (const char *p = s; p < end; p++) {
        if (*p == ' ')
            continue;
        if (*p == '.') {
            for (int i = 0; i < ell; i++)
                out[pos++] = 52 + (ell - 1 - i);
            p += 2;
            continue;
        }
        out[pos++] = letter_label(*p);
    }
    *n = pos;
    if (rank >= 0 && *has_ell && ell > *ell_dims)
        *ell_dims = ell;
    return true;
}

bool bnn_einsum_parse(const char *equation, int n_in, const int *ranks, bnn_einsum *e, char *why,
                      size_t wn)
{
    memset(e, 0, sizeof *e);
    if (n_in < 1 || n_in > BNN_EINSUM_MAX_IN) {
        snprintf(why, wn, "%d operands, expected 1 to %d", n_in, BNN_EINSUM_MAX_IN);
        return false;
    }
    e->n_in = n_in;
    const char *arrow = strstr(equation, "->");
    const char *lhs_end = arrow ? arrow : equation + strlen(equation);
    const char *p = equation;
    int ell_dims = 0, count[BNN_EINSUM_MAX_LABELS] = {0};
    for (int k = 0; k < n_in; k++) {
        const char *comma = memchr(p, ',', (size_t)(lhs_end - p));
        const char *end = comma ? comma : lhs_end;
        if (!comma && k < n_in - 1) {
            snprintf(why, wn, "the equation has %d terms for %d operands", k + 1, n_in);
            return false;
        }
        bool has_ell;
        if (!parse_term(p, end, ranks[k], e->label[k], &e->rank[k], &has_ell, &ell_dims, why, wn))
            return false;
        for (int d = 0; d < e->rank[k]; d++)
            count[e->label[k][d]]++;
        p = end + 1;
    }
    if (p <= lhs_end) {
        snprintf(why, wn, "the equation has more terms than the %d operands", n_in);
        return false;
    }
    if (arrow) {
        bool has_ell;
        const char *out = arrow + 2;
        if (!parse_term(out, out + strlen(out), -1, e->out_label, &e->out_rank, &has_ell,
                        &ell_dims, why, wn))
            return false;
        for (int i = 0; i < e->out_rank; i++) {
            if (count[e->out_label[i]] == 0) {
                snprintf(why, wn, "output subscript '%c' is in no input",
                         e->out_label[i] < 26 ? 'a' + e->out_label[i] : 'A' + e->out_label[i] - 26);
                return false;
            }
            for (int j = 0; j < i; j++)
                if (e->out_label[j] == e->out_label[i]) {
                    snprintf(why, wn, "the output repeats a subscript");
                    return false;
                }
        }
    } else {
        /* implicit: the ellipsis' dims, then letters seen once, sorted */
        for (int i = ell_dims - 1; i >= 0; i--)
            e->out_label[e->out_rank++] = 52 + i;
        for (int l = 0; l < 52 && e->out_rank < BNN_MAX_RANK; l++) {
            int sorted = l < 26 ? 26 + l : l - 26; /* ASCII: upper case first */
            if (count[sorted] == 1)
                e->out_label[e->out_rank++] = sorted;
        }
    }
    /* renumber densely: output labels first, then the summed ones */
    int map[BNN_EINSUM_MAX_LABELS];
    for (int l = 0; l < BNN_EINSUM_MAX_LABELS; l++)
        map[l] = -1;
    int next = 0;
    for (int i = 0; i < e->out_rank; i++)
        map[e->out_label[i]] = next++;
    for (int k = 0; k < n_in; k++)
        for (int d = 0; d < e->rank[k]; d++)
            if (map[e->label[k][d]] < 0)
                map[e->label[k][d]] = next++;
    for (int i = 0; i < e->out_rank; i++)
        e->out_label[i] = map[e->out_label[i]];
    for (int k = 0; k < n_in; k++)
        for (int d = 0; d < e->rank[k]; d++)
            e->label[k][d] = map[e->label[k][d]];
    e->n_labels = next;
    return true;
}

bool bnn_einsum_sizes(const bnn_einsum *e, const bnn_shape *shapes, int64_t *size, char *why,
                      size_t wn)
{
    for (int l = 0; l < e->n_labels; l++)
        size[l] = -2; /* not seen */
    for (int k = 0; k < e->n_in; k++)
        for (int d = 0; d < e->rank[k]; d++) {
            int l = e->label[k][d];
            int64_t v = shapes[k].dims[d];
            if (!bnn_dim_is_known(v)) {
                if (size[l] == -2)
                    size[l] = BNN_DIM_UNKNOWN;
                continue;
            }
            if (size[l] == -2 || size[l] == BNN_DIM_UNKNOWN || size[l] == 1)
                size[l] = v;
            else if (v != 1 && v != size[l]) {
                snprintf(why, wn, "operand %d's dim %d is %lld where another has %lld", k, d,
                         (long long)v, (long long)size[l]);
                return false;
            }
        }
    int64_t work = 1;
    for (int l = 0; l < e->n_labels; l++) {
        if (size[l] == 0)
            return true; /* nothing to walk */
        if (size[l] > 0)
            work = size[l] > BNN_EINSUM_MAX_WORK / work ? BNN_EINSUM_MAX_WORK + 1 : work * size[l];
    }
    if (work > BNN_EINSUM_MAX_WORK) {
        snprintf(why, wn, "its labels take more than 2^32 combinations, more than the loop "
                          "evaluator walks");
        return false;
    }
    return true;
}
