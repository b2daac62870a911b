/* ZeRO-1 style sharding of a data-parallel step's per-parameter work
 * (docs/distributed.md, "Sharded update").
 *
 * The trainer's flat gradient buffer has a summed front (every gradient the
 * backward sweep computes) and, after it, the reparam layers' rho gradients,
 * which are derived from their mu gradients.  The front is cut into one
 * contiguous slice per rank; a rank owns the front elements of its slice and
 * the derived rho elements whose mu lies in it.  Per step the front is
 * reduce-scattered (each rank receives the sum of its slice), each rank
 * finishes (derived rho gradients, KL) and updates what it owns, and the
 * updated params are all-gathered.  Ownership is listed as segments (a param,
 * a range of its elements) per rank, in the order they travel: the rank's
 * front elements in offset order, then its derived rho elements in the order
 * of their mu's.
 *
 * The cuts balance the work: a front element whose rho is derived counts
 * twice (it brings its rho along).  They fall on multiples of 16 floats.
 */
#include <stdlib.h>
#include <string.h>

#include "bnn_comm.h"
#include "dist_shard.h"

struct bnn_shard {
    int ranks, rank;
    size_t n_reduced, n_trainable;
    size_t *lo;            /* ranks + 1 cuts of the front */
    size_t *slice;         /* ranks: lo[r + 1] - lo[r] */
    bnn_shard_seg *segs;   /* every rank's, rank by rank */
    int *first_seg;        /* ranks + 1 */
    size_t *counts, *displs; /* floats each rank contributes to a gather, and where */
    float *pack;           /* n_trainable: the gather buffer */
};

/* The mu whose gradient rho's derived gradient comes from, or -1. */
static int mu_of_derived(const bnn_graph *g, int rho)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead || !bnn_op_is_bayesian(n->op) || n->op == BNN_OP_WEIGHT_REPARAM)
            continue;
        /* the layers' operands: x, w_mu, w_rho, b_mu, b_rho */
        for (int k = 2; k <= 4 && k < n->n_inputs; k += 2)
            if (n->inputs[k] == rho)
                return n->inputs[k - 1];
    }
    return -1;
}

static size_t floats_of(const bnn_graph *g, int v)
{
    return g->values[v].nbytes / sizeof(float);
}

/* Appends the part [lo, hi) of a param whose elements sit at flat offsets
 * [base, base + n) (as seen through `at`: its own or its mu's), stored at
 * `flat`. */
static void clip_seg(bnn_shard_seg *segs, int *n_segs, int v, size_t base, size_t n,
                     size_t flat, size_t lo, size_t hi)
{
    size_t a = lo > base ? lo - base : 0, b = hi > base ? hi - base : 0;
    if (a > n)
        a = n;
    if (b > n)
        b = n;
    if (b > a)
        segs[(*n_segs)++] = (bnn_shard_seg){.value = v, .elem = a, .len = b - a,
                                            .flat = flat + a};
}

void bnn_shard_destroy(bnn_shard *sh)
{
    if (!sh)
        return;
    free(sh->lo);
    free(sh->slice);
    free(sh->segs);
    free(sh->first_seg);
    free(sh->counts);
    free(sh->displs);
    free(sh->pack);
    free(sh);
}

bnn_status bnn_shard_create(const bnn_graph *g, const int64_t *grad_offset, size_t n_reduced,
                            size_t n_trainable, int rank, int ranks, bnn_shard **out,
                            bnn_diag *diag)
{
    *out = NULL;
    bnn_shard *sh = calloc(1, sizeof *sh);
    int *mu = calloc((size_t)g->n_values + 1, sizeof(int));
    bool *brings = calloc((size_t)g->n_values + 1, sizeof(bool)); /* a mu with a derived rho */
    if (!sh || !mu || !brings)
        goto nomem;
    sh->rank = rank;
    sh->ranks = ranks;
    sh->n_reduced = n_reduced;
    sh->n_trainable = n_trainable;
    size_t derived = 0;
    int n_derived = 0;
    for (int v = 0; v < g->n_values; v++) {
        mu[v] = -1;
        if (grad_offset[v] < 0 || (size_t)grad_offset[v] < n_reduced)
            continue;
        mu[v] = mu_of_derived(g, v);
        if (mu[v] < 0 || grad_offset[mu[v]] < 0 || (size_t)grad_offset[mu[v]] >= n_reduced ||
            floats_of(g, mu[v]) != floats_of(g, v)) {
            free(mu);
            free(brings);
            bnn_shard_destroy(sh);
            return bnn_fail(diag, BNN_ERR_INVALID, "sharding: the derived gradient of '%s' has "
                            "no summed mu gradient", g->values[v].name);
        }
        brings[mu[v]] = true;
        derived += floats_of(g, v);
        n_derived++;
    }
    if (derived + n_reduced != n_trainable) {
        free(mu);
        free(brings);
        bnn_shard_destroy(sh);
        return bnn_fail(diag, BNN_ERR_INVALID, "sharding: %zu summed and %zu derived gradients "
                        "are not the %zu trainable floats", n_reduced, derived, n_trainable);
    }
    sh->lo = calloc((size_t)ranks + 1, sizeof(size_t));
    sh->slice = calloc((size_t)ranks, sizeof(size_t));
    sh->counts = calloc((size_t)ranks, sizeof(size_t));
    sh->displs = calloc((size_t)ranks, sizeof(size_t));
    sh->first_seg = calloc((size_t)ranks + 1, sizeof(int));
    int n_front = 0;
    for (int v = 0; v < g->n_values; v++)
        n_front += grad_offset[v] >= 0 && (size_t)grad_offset[v] < n_reduced;
    /* each param splits at most at every cut: ranks pieces each */
    size_t max_segs = (size_t)(n_front + n_derived) * (size_t)ranks + 1;
    sh->segs = calloc(max_segs, sizeof *sh->segs);
    sh->pack = malloc((n_trainable ? n_trainable : 1) * sizeof(float));
    if (!sh->lo || !sh->slice || !sh->counts || !sh->displs || !sh->first_seg || !sh->segs ||
        !sh->pack)
        goto nomem;

    /* The cuts: equal shares of the work, front elements in offset order
     * (value-id order), each weighing 1, or 2 with a derived rho. */
    double total = (double)(n_reduced + derived);
    sh->lo[0] = 0;
    sh->lo[ranks] = n_reduced;
    int q = 1;
    double before = 0; /* work of the front before value v */
    for (int v = 0; v < g->n_values && q < ranks; v++) {
        if (grad_offset[v] < 0 || (size_t)grad_offset[v] >= n_reduced)
            continue;
        size_t off = (size_t)grad_offset[v], n = floats_of(g, v);
        double w = brings[v] ? 2 : 1;
        while (q < ranks && before + w * (double)n >= total * q / ranks) {
            size_t at = off + (size_t)((total * q / ranks - before) / w + 0.5);
            at -= at % 16;
            if (at < sh->lo[q - 1])
                at = sh->lo[q - 1];
            if (at > n_reduced)
                at = n_reduced;
            sh->lo[q++] = at;
        }
        before += w * (double)n;
    }
    for (; q < ranks; q++)
        sh->lo[q] = n_reduced;
    for (int r = 0; r < ranks; r++)
        sh->slice[r] = sh->lo[r + 1] - sh->lo[r];

    /* Every rank's segments, and its part of a gather. */
    int n_segs = 0;
    size_t at = 0;
    for (int r = 0; r < ranks; r++) {
        sh->first_seg[r] = n_segs;
        for (int v = 0; v < g->n_values; v++)
            if (grad_offset[v] >= 0 && (size_t)grad_offset[v] < n_reduced)
                clip_seg(sh->segs, &n_segs, v, (size_t)grad_offset[v], floats_of(g, v),
                         (size_t)grad_offset[v], sh->lo[r], sh->lo[r + 1]);
        /* derived rho, in the order of their mu's offsets (value-id order) */
        for (int m = 0; m < g->n_values; m++) {
            if (!brings[m])
                continue;
            for (int v = 0; v < g->n_values; v++)
                if (mu[v] == m)
                    clip_seg(sh->segs, &n_segs, v, (size_t)grad_offset[m], floats_of(g, v),
                             (size_t)grad_offset[v], sh->lo[r], sh->lo[r + 1]);
        }
        size_t floats = 0;
        for (int s = sh->first_seg[r]; s < n_segs; s++)
            floats += sh->segs[s].len;
        sh->counts[r] = floats;
        sh->displs[r] = at;
        at += floats;
    }
    sh->first_seg[ranks] = n_segs;
    BNN_ASSERT(at == n_trainable && (size_t)n_segs <= max_segs);
    free(mu);
    free(brings);
    *out = sh;
    return BNN_OK;
nomem:
    free(mu);
    free(brings);
    bnn_shard_destroy(sh);
    return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
}

void bnn_shard_slice(const bnn_shard *sh, int rank, size_t *lo, size_t *hi)
{
    *lo = sh->lo[rank];
    *hi = sh->lo[rank + 1];
}

const bnn_shard_seg *bnn_shard_segs(const bnn_shard *sh, int rank, int *count)
{
    *count = sh->first_seg[rank + 1] - sh->first_seg[rank];
    return sh->segs + sh->first_seg[rank];
}

bnn_status bnn_shard_reduce_scatter(bnn_shard *sh, bnn_comm *comm, float *grads,
                                    bnn_diag *diag)
{
    return bnn_comm_reduce_scatter_f32(comm, grads, sh->slice, diag);
}

size_t bnn_shard_first_non_finite(const bnn_shard *sh, const float *grads,
                                  size_t (*first_bad)(const float *, size_t))
{
    int n = 0;
    const bnn_shard_seg *s = bnn_shard_segs(sh, sh->rank, &n);
    for (int i = 0; i < n; i++) {
        size_t bad = first_bad(grads + s[i].flat, s[i].len);
        if (bad < s[i].len)
            return s[i].flat + bad;
    }
    return SIZE_MAX;
}

/* Every rank's owned elements, read through `get` into the pack buffer and
 * all-gathered, then written back through `put` for the other ranks'. */
static bnn_status gather(bnn_shard *sh, bnn_comm *comm, const bnn_graph *g, float *flat,
                         bnn_diag *diag)
{
    int n = 0;
    const bnn_shard_seg *s = bnn_shard_segs(sh, sh->rank, &n);
    float *p = sh->pack + sh->displs[sh->rank];
    for (int i = 0; i < n; i++) {
        const float *src = flat ? flat + s[i].flat : (const float *)g->values[s[i].value].data +
                                                     s[i].elem;
        memcpy(p, src, s[i].len * sizeof(float));
        p += s[i].len;
    }
    BNN_TRY(bnn_comm_allgather_f32(comm, sh->pack, sh->counts, sh->displs, diag));
    for (int r = 0; r < sh->ranks; r++) {
        if (r == sh->rank)
            continue;
        s = bnn_shard_segs(sh, r, &n);
        p = sh->pack + sh->displs[r];
        for (int i = 0; i < n; i++) {
            float *dst = flat ? flat + s[i].flat : (float *)g->values[s[i].value].data +
                                                   s[i].elem;
            memcpy(dst, p, s[i].len * sizeof(float));
            p += s[i].len;
        }
    }
    return BNN_OK;
}

bnn_status bnn_shard_gather_params(bnn_shard *sh, bnn_comm *comm, bnn_graph *g, bnn_diag *diag)
{
    return gather(sh, comm, g, NULL, diag);
}

bnn_status bnn_shard_gather_flat(bnn_shard *sh, bnn_comm *comm, float *flat, bnn_diag *diag)
{
    return gather(sh, comm, NULL, flat, diag);
}
