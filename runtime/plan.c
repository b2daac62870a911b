/* The planner and the session API (bnn_runtime.h).
 *
 * Creating a session binds the graph's symbolic dims from the concrete input
 * shapes, resolves every shape on a clone of the graph, computes each value's
 * lifetime over the topological node order, lays the activations out in one
 * arena (greedy by size, best-fit gaps, reusing bytes whose lifetimes do not
 * overlap) and takes all memory at once.  Running walks the nodes and calls
 * their kernels; it allocates nothing.  See plan_impl.h for the layout.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "plan_impl.h"
#include "shape_eval.h"

#define PLAN_ALIGN ((size_t)64)

static size_t default_max_memory; /* bnn_runtime_set_max_memory */

void bnn_runtime_set_max_memory(size_t bytes) { default_max_memory = bytes; }

bnn_session_options bnn_session_defaults(void)
{
    bnn_session_options o = {.threads = 0, .seed = 0, .training = false,
                             .max_memory = default_max_memory};
    return o;
}

static int resolve_threads(int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    return threads;
}

void bnn_runtime_set_threads(int threads)
{
    threads = resolve_threads(threads);
    /* a run with the count already set costs nothing */
    if (omp_get_max_threads() == threads && openblas_get_num_threads() == threads)
        return;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
}

static size_t round_up(size_t n)
{
    return (n + PLAN_ALIGN - 1) & ~(PLAN_ALIGN - 1);
}

static void *alloc_aligned(size_t bytes)
{
    bytes = round_up(bytes ? bytes : 1);
    void *p = aligned_alloc(PLAN_ALIGN, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* ---- binding symbols ---------------------------------------------------- */

/* Checks each given shape against its input's declared shape and binds the
 * symbols; bound[k] is symbol k's size or -1. */
static bnn_status bind_symbols(const bnn_graph *g, const bnn_shape *shapes, int64_t *bound,
                               int *bound_from, bnn_diag *diag)
{
    char want[256], got[256];
    for (int k = 0; k < g->n_symbols; k++)
        bound[k] = -1;
    for (int i = 0; i < g->n_inputs; i++) {
        const bnn_value *v = &g->values[g->inputs[i]];
        const bnn_shape *s = &shapes[i];
        if (s->rank < 0 || s->rank > BNN_MAX_RANK || !bnn_shape_is_concrete(s))
            return bnn_fail(diag, BNN_ERR_SHAPE, "input '%s': the shape given must be concrete",
                            v->name);
        bool fits = v->shape.rank < 0 || v->shape.rank == s->rank;
        for (int d = 0; fits && v->shape.rank >= 0 && d < s->rank; d++) {
            int64_t decl = v->shape.dims[d];
            if (bnn_dim_is_known(decl) && decl != s->dims[d])
                fits = false;
        }
        if (!fits)
            return bnn_fail(diag, BNN_ERR_SHAPE, "input '%s' expects %s, got %s", v->name,
                            bnn_type_text(g, v->dtype, &v->shape, want, sizeof want),
                            bnn_shape_format(s, v->dtype, got, sizeof got));
        for (int d = 0; v->shape.rank >= 0 && d < s->rank; d++) {
            int64_t decl = v->shape.dims[d];
            if (!bnn_dim_is_symbol(decl))
                continue;
            int k = bnn_dim_symbol_index(decl);
            BNN_ASSERT(k < g->n_symbols);
            if (bound[k] < 0) {
                bound[k] = s->dims[d];
                bound_from[k] = i;
            } else if (bound[k] != s->dims[d]) {
                return bnn_fail(diag, BNN_ERR_SHAPE,
                                "symbol '%s' is %lld from input '%s' but %lld from input '%s' (%s)",
                                g->symbols[k], (long long)bound[k],
                                g->values[g->inputs[bound_from[k]]].name, (long long)s->dims[d],
                                v->name, bnn_type_text(g, v->dtype, &v->shape, want, sizeof want));
            }
        }
    }
    return BNN_OK;
}

bnn_status bnn_session_batch_shapes(const bnn_graph *g, int64_t batch, bnn_shape *shapes,
                                    bnn_diag *diag)
{
    if (batch < 1)
        return bnn_fail(diag, BNN_ERR_INVALID, "batch size %lld must be at least 1",
                        (long long)batch);
    /* Symbols that are some input's first dim stand for the batch everywhere. */
    char want[256];
    for (int i = 0; i < g->n_inputs; i++) {
        const bnn_value *v = &g->values[g->inputs[i]];
        if (v->shape.rank < 0)
            return bnn_fail(diag, BNN_ERR_SHAPE, "input '%s' has an unknown rank", v->name);
        shapes[i] = v->shape;
        if (v->shape.rank > 0 && !bnn_dim_is_known(v->shape.dims[0]))
            shapes[i].dims[0] = batch;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const bnn_value *v = &g->values[g->inputs[i]];
        for (int d = 1; d < shapes[i].rank; d++) {
            int64_t dim = shapes[i].dims[d];
            bool batch_symbol = false;
            for (int j = 0; j < g->n_inputs && bnn_dim_is_symbol(dim); j++) {
                const bnn_value *w = &g->values[g->inputs[j]];
                if (w->shape.rank > 0 && w->shape.dims[0] == dim)
                    batch_symbol = true;
            }
            if (batch_symbol)
                shapes[i].dims[d] = batch;
            else if (!bnn_dim_is_known(dim))
                return bnn_fail(diag, BNN_ERR_SHAPE,
                                "input '%s' is %s: dim %d is not the batch and not concrete; "
                                "give concrete input shapes", v->name,
                                bnn_type_text(g, v->dtype, &v->shape, want, sizeof want), d);
        }
    }
    return BNN_OK;
}

/* ---- planning ----------------------------------------------------------- */

static int root_of(const plan_value *pv, int v)
{
    return pv[v].kind == PLAN_BUF_ALIAS ? pv[v].alias_of : v;
}

typedef struct placed {
    int value;
    size_t size;
    size_t offset;
    int def, last;
} placed;

static int by_size_desc(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    if (x->def != y->def)
        return x->def < y->def ? -1 : 1;
    return x->value - y->value;
}

static int by_offset(const void *a, const void *b)
{
    const placed *x = *(const placed *const *)a, *y = *(const placed *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Placed items listed by the blocks of PLAN_BLOCK time steps their lifetimes
 * touch, so that finding the placed values alive with a new one looks at its
 * neighbours in time, not at every value placed before (linear planning for
 * long chains). */
#define PLAN_BLOCK 64

typedef struct time_block {
    int *items, n, cap;
} time_block;

static bool block_add(time_block *b, int item)
{
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 8;
        int *p = realloc(b->items, sizeof *p * (size_t)cap);
        if (!p)
            return false;
        b->items = p;
        b->cap = cap;
    }
    b->items[b->n++] = item;
    return true;
}

/* Greedy by size: the biggest values first, each in the smallest gap left by
 * the already placed values whose lifetimes overlap it (best fit), else after
 * them.  Returns the arena size, or SIZE_MAX when out of memory. */
static size_t assign_offsets(plan_value *pv, placed *items, int n)
{
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    /* Times run from -1 (graph inputs) up; blocks index time + 1. */
    int t_max = 0;
    for (int i = 0; i < n; i++) {
        int hi = items[i].def > items[i].last ? items[i].def : items[i].last;
        if (hi + 1 > t_max)
            t_max = hi + 1;
    }
    int n_blocks = t_max / PLAN_BLOCK + 1;
    placed **live = malloc(sizeof *live * ((size_t)n + 1));
    int *seen = malloc(sizeof *seen * ((size_t)n + 1));
    time_block *blocks = calloc((size_t)n_blocks, sizeof *blocks);
    size_t arena = 0;
    if (!live || !seen || !blocks) {
        arena = SIZE_MAX;
        goto done;
    }
    for (int i = 0; i < n; i++)
        seen[i] = -1;
    for (int i = 0; i < n; i++) {
        placed *it = &items[i];
        int lo = (it->def < it->last ? it->def : it->last) + 1;
        int hi = (it->def > it->last ? it->def : it->last) + 1;
        lo = lo < 0 ? 0 : lo / PLAN_BLOCK;
        hi = hi < 0 ? 0 : hi / PLAN_BLOCK;
        int n_live = 0;
        for (int b = lo; b <= hi; b++)
            for (int k = 0; k < blocks[b].n; k++) {
                int j = blocks[b].items[k];
                if (seen[j] == i)
                    continue;
                seen[j] = i;
                if (items[j].def <= it->last && it->def <= items[j].last)
                    live[n_live++] = &items[j];
            }
        qsort(live, (size_t)n_live, sizeof *live, by_offset);
        size_t end = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int j = 0; j < n_live; j++) {
            if (live[j]->offset > end) {
                size_t gap = live[j]->offset - end;
                if (gap >= it->size && gap < best_gap) {
                    best_gap = gap;
                    best = end;
                }
            }
            if (live[j]->offset + live[j]->size > end)
                end = live[j]->offset + live[j]->size;
        }
        it->offset = best != SIZE_MAX ? best : end;
        if (it->size > SIZE_MAX / 2 || it->offset > SIZE_MAX / 2 - it->size) {
            arena = SIZE_MAX; /* no address space holds this plan */
            goto done;
        }
        pv[it->value].offset = it->offset;
        if (it->offset + it->size > arena)
            arena = it->offset + it->size;
        if (it->size > 0)
            for (int b = lo; b <= hi; b++)
                if (!block_add(&blocks[b], i)) {
                    arena = SIZE_MAX;
                    goto done;
                }
    }
done:
    if (blocks)
        for (int b = 0; b < n_blocks; b++)
            free(blocks[b].items);
    free(blocks);
    free(seen);
    free(live);
    return arena;
}

/* Resolves shapes on the clone, then checks every value the run touches. */
static bnn_status resolve_shapes(bnn_session *s, const bnn_shape *shapes, const int64_t *bound,
                                 const bnn_plan_hooks *hooks, bnn_diag *diag)
{
    bnn_graph *g = s->graph;
    for (int v = 0; v < g->n_values; v++) {
        bnn_value *val = &g->values[v];
        if (val->kind == BNN_VALUE_PARAM)
            continue;
        for (int d = 0; d < val->shape.rank; d++) {
            int64_t dim = val->shape.dims[d];
            if (bnn_dim_is_symbol(dim) && bound[bnn_dim_symbol_index(dim)] >= 0)
                val->shape.dims[d] = bound[bnn_dim_symbol_index(dim)];
        }
    }
    for (int i = 0; i < g->n_inputs; i++)
        g->values[g->inputs[i]].shape = shapes[i];
    bnn_status st = hooks && hooks->infer ? hooks->infer(g, diag) : bnn_graph_infer(g, diag);
    if (st != BNN_OK)
        return st;
    return BNN_OK;
}

static bnn_status check_value(const bnn_graph *g, int v, bnn_diag *diag)
{
    const bnn_value *val = &g->values[v];
    char buf[256];
    if (!bnn_shape_is_concrete(&val->shape))
        return bnn_fail(diag, BNN_ERR_SHAPE,
                        "value '%s' has shape %s after binding the inputs: every shape must be "
                        "concrete to plan", val->name,
                        bnn_type_text(g, val->dtype, &val->shape, buf, sizeof buf));
    if (bnn_dtype_size(val->dtype) == 0)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "value '%s' has element type %s, which the "
                        "runtime cannot hold", val->name,
                        bnn_dtype_name(val->dtype) ? bnn_dtype_name(val->dtype) : "?");
    int64_t n = bnn_shape_numel(&val->shape);
    if (n < 0 || (uint64_t)n > (SIZE_MAX / 4) / bnn_dtype_size(val->dtype))
        return bnn_fail(diag, BNN_ERR_NOMEM, "value '%s' (%s) is too large", val->name,
                        bnn_type_text(g, val->dtype, &val->shape, buf, sizeof buf));
    return BNN_OK;
}

static bnn_status plan_lifetimes(bnn_session *s, const bnn_plan_hooks *hooks, bnn_diag *diag)
{
    bnn_graph *g = s->graph;
    plan_value *pv = s->values;
    int n = s->n_order;
    for (int v = 0; v < g->n_values; v++)
        pv[v].alias_of = -1;
    /* Graph inputs and params first: they exist before any node runs. */
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        BNN_TRY(check_value(g, v, diag));
        pv[v].kind = PLAN_BUF_ARENA;
        pv[v].def = -1;
        pv[v].last = n;
    }
    for (int p = 0; p < n; p++) {
        const bnn_node *node = &g->nodes[s->order[p]];
        for (int k = 0; k < node->n_inputs; k++) {
            int v = node->inputs[k];
            if (v < 0)
                continue;
            if (v >= g->n_values)
                return bnn_fail(diag, BNN_ERR_INVALID, "node %d reads value %d, which does not exist",
                                s->order[p], v);
            const bnn_value *val = &g->values[v];
            if (pv[v].kind == PLAN_BUF_NONE) {
                if (val->kind == BNN_VALUE_PARAM) {
                    BNN_TRY(check_value(g, v, diag));
                    pv[v].kind = PLAN_BUF_PARAM;
                    pv[v].def = -1;
                } else {
                    char label[300];
                    return bnn_fail(diag, BNN_ERR_INVALID,
                                    "%s reads '%s' before it is produced (nodes out of order?)",
                                    bnn_node_label(g, s->order[p], label, sizeof label), val->name);
                }
            }
            int r = root_of(pv, v);
            if (pv[r].last < p)
                pv[r].last = p;
        }
        for (int k = 0; k < node->n_outputs; k++) {
            int v = node->outputs[k];
            if (v < 0)
                continue;
            BNN_TRY(check_value(g, v, diag));
            pv[v].kind = PLAN_BUF_ARENA;
            pv[v].def = p;
            pv[v].last = s->options.training ? n : p;
        }
        /* An alias shares its input's bytes (the root's): same type and size,
         * and its producer's forward is skipped. */
        int in = node->n_inputs > 0 ? node->inputs[0] : -1;
        int out = node->n_outputs == 1 ? node->outputs[0] : -1;
        bool fused = bnn_node_attr(node, "bnn_fused_into") != NULL; /* plan_fuse.c */
        if (!s->options.training && !(hooks && hooks->no_alias) &&
            (bnn_op_may_alias(node->op) || fused) &&
            in >= 0 && out >= 0 && g->values[in].dtype == g->values[out].dtype &&
            bnn_shape_numel(&g->values[in].shape) == bnn_shape_numel(&g->values[out].shape)) {
            int r = root_of(pv, in);
            pv[out].kind = PLAN_BUF_ALIAS;
            pv[out].alias_of = r;
            s->skip[p] = true;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (pv[v].kind == PLAN_BUF_NONE) {
            if (g->values[v].kind != BNN_VALUE_PARAM)
                return bnn_fail(diag, BNN_ERR_INVALID, "output '%s' is produced by no node",
                                g->values[v].name);
            BNN_TRY(check_value(g, v, diag));
            pv[v].kind = PLAN_BUF_PARAM;
            pv[v].def = -1;
        }
        int r = root_of(pv, v);
        pv[r].last = n;
    }
    for (int v = 0; v < g->n_values; v++)
        if (pv[v].kind != PLAN_BUF_NONE)
            pv[v].nbytes = (size_t)bnn_shape_numel(&g->values[v].shape) *
                           bnn_dtype_size(g->values[v].dtype);
    return BNN_OK;
}

/* Refuses a plan bigger than options.max_memory, naming its three largest
 * tensors, before anything that size is allocated. */
static bnn_status check_memory_cap(const bnn_session *s, bnn_diag *diag)
{
    size_t cap = s->options.max_memory;
    size_t total = s->arena_bytes;
    if (s->scratch_bytes > SIZE_MAX - total || s->state_bytes > SIZE_MAX - total - s->scratch_bytes)
        total = SIZE_MAX;
    else
        total += s->scratch_bytes + s->state_bytes;
    if (total <= cap)
        return BNN_OK;
    const bnn_graph *g = s->graph;
    int top[3] = {-1, -1, -1};
    for (int v = 0; v < g->n_values; v++) {
        if (s->values[v].kind != PLAN_BUF_ARENA)
            continue;
        for (int k = 0; k < 3; k++)
            if (top[k] < 0 || s->values[v].nbytes > s->values[top[k]].nbytes) {
                for (int m = 2; m > k; m--)
                    top[m] = top[m - 1];
                top[k] = v;
                break;
            }
    }
    char largest[600] = "";
    size_t len = 0;
    for (int k = 0; k < 3 && top[k] >= 0; k++)
        len += (size_t)snprintf(largest + len, sizeof largest - len, "%s'%.120s' %zu bytes",
                                k ? ", " : "", g->values[top[k]].name,
                                s->values[top[k]].nbytes);
    return bnn_fail(diag, BNN_ERR_NOMEM, "the plan needs %zu bytes, more than the memory limit "
                    "of %zu bytes (largest tensors: %s)", total, cap,
                    *largest ? largest : "none");
}

static bnn_status plan_memory(bnn_session *s, const bnn_graph *source, const bnn_plan_hooks *hooks,
                              bnn_diag *diag)
{
    bnn_graph *g = s->graph;
    plan_value *pv = s->values;
    int n_items = 0;
    for (int v = 0; v < g->n_values; v++)
        n_items += pv[v].kind == PLAN_BUF_ARENA;
    placed *items = malloc(sizeof *items * ((size_t)n_items + 1));
    if (!items)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning %d values", n_items);
    n_items = 0;
    s->activation_bytes = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (pv[v].kind != PLAN_BUF_ARENA)
            continue;
        placed it = {v, round_up(pv[v].nbytes), 0, pv[v].def, pv[v].last};
        s->activation_bytes += it.size;
        items[n_items++] = it;
    }
    size_t arena = assign_offsets(pv, items, n_items);
    free(items);
    if (arena == SIZE_MAX)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning the arena");
    s->arena_bytes = arena;

    /* Tensors: views of the planned bytes (params: of the caller's graph, so
     * that updates to its params are seen). Data is filled in after the
     * kernels have been asked for their sizes with data NULL. */
    for (int v = 0; v < g->n_values; v++) {
        if (pv[v].kind == PLAN_BUF_NONE)
            continue;
        s->tensors[v].dtype = g->values[v].dtype;
        s->tensors[v].shape = g->values[v].shape;
        s->tensors[v].owns_data = false;
    }
    int n_tensors = 0;
    for (int p = 0; p < s->n_order; p++) {
        const bnn_node *node = &g->nodes[s->order[p]];
        n_tensors += node->n_inputs + node->n_outputs;
    }
    s->node_tensors = calloc((size_t)n_tensors + 1, sizeof *s->node_tensors);
    if (!s->node_tensors)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning the nodes");

    size_t *state_at = calloc((size_t)s->n_order + 1, sizeof *state_at);
    if (!state_at)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory planning the nodes");
    int t = 0;
    for (int p = 0; p < s->n_order; p++) {
        int id = s->order[p];
        const bnn_node *node = &g->nodes[id];
        s->kernels[p] = hooks && hooks->kernel ? hooks->kernel(node->op) : bnn_kernel_get(node->op);
        bnn_kernel_args *a = &s->node_args[p];
        a->graph = g;
        a->node = node;
        a->node_id = id;
        a->inputs = &s->node_tensors[t];
        a->n_inputs = node->n_inputs;
        for (int k = 0; k < node->n_inputs; k++, t++)
            if (node->inputs[k] >= 0)
                s->node_tensors[t] = s->tensors[node->inputs[k]];
        a->outputs = &s->node_tensors[t];
        a->n_outputs = node->n_outputs;
        for (int k = 0; k < node->n_outputs; k++, t++)
            if (node->outputs[k] >= 0)
                s->node_tensors[t] = s->tensors[node->outputs[k]];
        a->training = s->options.training;
        a->seed = s->options.seed;
        const bnn_kernel *kern = s->kernels[p];
        if (!kern || !kern->forward) {
            free(state_at);
            char label[300];
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: no kernel",
                            bnn_node_label(g, id, label, sizeof label));
        }
        if (s->skip[p])
            continue;
        size_t scratch = kern->scratch_size ? kern->scratch_size(a) : 0;
        size_t state = kern->state_size ? kern->state_size(a) : 0;
        if (scratch > SIZE_MAX / 2 || state > SIZE_MAX / 2 - s->state_bytes) {
            free(state_at);
            return bnn_fail(diag, BNN_ERR_NOMEM, "node %d asks for too much memory", id);
        }
        if (scratch > s->scratch_bytes)
            s->scratch_bytes = scratch;
        state_at[p] = s->state_bytes;
        s->state_bytes += round_up(state);
    }
    if (s->options.max_memory) {
        bnn_status st_cap = check_memory_cap(s, diag);
        if (st_cap != BNN_OK) {
            free(state_at);
            return st_cap;
        }
    }
    s->arena = alloc_aligned(s->arena_bytes);
    s->scratch = alloc_aligned(s->scratch_bytes);
    s->state = alloc_aligned(s->state_bytes);
    if (!s->arena || !s->scratch || !s->state) {
        free(state_at);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for a %zu-byte arena",
                        s->arena_bytes + s->scratch_bytes + s->state_bytes);
    }
    for (int v = 0; v < g->n_values; v++) {
        int r = root_of(pv, v);
        if (pv[r].kind == PLAN_BUF_ARENA)
            s->tensors[v].data = s->arena + pv[r].offset;
        else if (pv[r].kind == PLAN_BUF_PARAM) /* a param the session added (shape_eval's
                                                   evaluated range bounds) lives in its clone */
            s->tensors[v].data = r < source->n_values ? source->values[r].data : g->values[r].data;
    }
    t = 0;
    for (int p = 0; p < s->n_order; p++) {
        const bnn_node *node = &g->nodes[s->order[p]];
        for (int k = 0; k < node->n_inputs; k++, t++)
            if (node->inputs[k] >= 0)
                s->node_tensors[t].data = s->tensors[node->inputs[k]].data;
        for (int k = 0; k < node->n_outputs; k++, t++)
            if (node->outputs[k] >= 0)
                s->node_tensors[t].data = s->tensors[node->outputs[k]].data;
        s->node_args[p].scratch = s->scratch;
        s->node_args[p].state = s->state + state_at[p];
    }
    free(state_at);
    return BNN_OK;
}

bnn_status bnn_session_create_hooked(const bnn_graph *graph, const bnn_shape *input_shapes,
                                     const bnn_session_options *options,
                                     const bnn_plan_hooks *hooks, bnn_session **out,
                                     bnn_diag *diag)
{
    *out = NULL;
    if (graph->n_inputs > 0 && !input_shapes)
        return bnn_fail(diag, BNN_ERR_INVALID, "no input shapes given");
    int64_t *bound = malloc(sizeof *bound * (size_t)(graph->n_symbols + 1));
    int *bound_from = malloc(sizeof *bound_from * (size_t)(graph->n_symbols + 1));
    bnn_session *s = calloc(1, sizeof *s);
    bnn_status st = BNN_OK;
    if (!bound || !bound_from || !s) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory creating a session");
        goto fail;
    }
    s->options = options ? *options : bnn_session_defaults();
    if (s->options.backward)
        s->options.training = true; /* backward reads every activation forward made */
    st = bind_symbols(graph, input_shapes, bound, bound_from, diag);
    if (st != BNN_OK)
        goto fail;
    s->graph = bnn_graph_clone_borrowing(graph);
    if (!s->graph) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory cloning the graph");
        goto fail;
    }
    st = resolve_shapes(s, input_shapes, bound, hooks, diag);
    if (st == BNN_OK && !(hooks && hooks->infer))
        st = bnn_shape_eval(s->graph, diag); /* computed reshape/pad targets */
    if (st != BNN_OK)
        goto fail;
    bnn_graph *g = s->graph;
    /* inference with the engine's own kernels: activations into convs */
    if (!s->options.training && !(hooks && (hooks->no_alias || hooks->kernel))) {
        st = plan_fuse_epilogues(g);
        if (st != BNN_OK) {
            st = bnn_fail(diag, st, "out of memory fusing activations");
            goto fail;
        }
    }
    int n_nodes = g->n_nodes, n_values = g->n_values;
    s->order = malloc(sizeof *s->order * (size_t)(n_nodes + 1));
    s->skip = calloc((size_t)n_nodes + 1, sizeof *s->skip);
    s->kernels = calloc((size_t)n_nodes + 1, sizeof *s->kernels);
    s->node_args = calloc((size_t)n_nodes + 1, sizeof *s->node_args);
    s->values = calloc((size_t)n_values + 1, sizeof *s->values);
    s->tensors = calloc((size_t)n_values + 1, sizeof *s->tensors);
    if (!s->order || !s->skip || !s->kernels || !s->node_args || !s->values || !s->tensors) {
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory creating a session");
        goto fail;
    }
    for (int i = 0; i < n_nodes; i++)
        if (!g->nodes[i].dead)
            s->order[s->n_order++] = i;
    st = plan_lifetimes(s, hooks, diag);
    if (st == BNN_OK)
        st = plan_memory(s, graph, hooks, diag);
    if (st == BNN_OK && s->options.backward)
        st = bnn_session_plan_backward(s, diag);
    if (st != BNN_OK)
        goto fail;
    thread_governor_init(&s->governor, s->options.fixed_threads
                                           ? 1 : resolve_threads(s->options.threads));
    bnn_runtime_set_threads(s->options.threads);
    free(bound);
    free(bound_from);
    *out = s;
    return BNN_OK;
fail:
    free(bound);
    free(bound_from);
    bnn_session_destroy(s);
    return st;
}

bnn_status bnn_session_create(const bnn_graph *graph, const bnn_shape *input_shapes,
                              const bnn_session_options *options, bnn_session **out,
                              bnn_diag *diag)
{
    return bnn_session_create_hooked(graph, input_shapes, options, NULL, out, diag);
}

bnn_status bnn_session_create_batch(const bnn_graph *graph, int64_t batch,
                                    const bnn_session_options *options, bnn_session **out,
                                    bnn_diag *diag)
{
    *out = NULL;
    bnn_shape *shapes = calloc((size_t)graph->n_inputs + 1, sizeof *shapes);
    if (!shapes)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory creating a session");
    bnn_status st = bnn_session_batch_shapes(graph, batch, shapes, diag);
    if (st == BNN_OK)
        st = bnn_session_create(graph, shapes, options, out, diag);
    free(shapes);
    return st;
}

void bnn_session_destroy(bnn_session *s)
{
    if (!s)
        return;
    bnn_graph_destroy(s->graph);
    free(s->order);
    free(s->skip);
    free(s->kernels);
    free(s->node_args);
    free(s->node_tensors);
    free(s->values);
    free(s->tensors);
    free(s->arena);
    free(s->scratch);
    free(s->state);
    bnn_session_free_backward(s);
    free(s);
}

/* ---- running ------------------------------------------------------------ */

int bnn_session_n_inputs(const bnn_session *s) { return s->graph->n_inputs; }
int bnn_session_n_outputs(const bnn_session *s) { return s->graph->n_outputs; }

const bnn_tensor *bnn_session_input(const bnn_session *s, int index)
{
    BNN_ASSERT(index >= 0 && index < s->graph->n_inputs);
    return &s->tensors[s->graph->inputs[index]];
}

const bnn_tensor *bnn_session_output(const bnn_session *s, int index)
{
    BNN_ASSERT(index >= 0 && index < s->graph->n_outputs);
    return &s->tensors[s->graph->outputs[index]];
}

const char *bnn_session_input_name(const bnn_session *s, int index)
{
    BNN_ASSERT(index >= 0 && index < s->graph->n_inputs);
    return s->graph->values[s->graph->inputs[index]].name;
}

const char *bnn_session_output_name(const bnn_session *s, int index)
{
    BNN_ASSERT(index >= 0 && index < s->graph->n_outputs);
    return s->graph->values[s->graph->outputs[index]].name;
}

bnn_status bnn_session_set_input(bnn_session *s, const char *name, const bnn_tensor *t,
                                 bnn_diag *diag)
{
    const bnn_graph *g = s->graph;
    int index = -1;
    if (!name) {
        if (g->n_inputs != 1)
            return bnn_fail(diag, BNN_ERR_INVALID, "the graph has %d inputs: name the one to set",
                            g->n_inputs);
        index = 0;
    }
    for (int i = 0; i < g->n_inputs && index < 0; i++)
        if (strcmp(g->values[g->inputs[i]].name, name) == 0)
            index = i;
    if (index < 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "the graph has no input '%s'", name);
    bnn_tensor *dst = &s->tensors[g->inputs[index]];
    if (t->dtype != dst->dtype || !bnn_shape_equal(&t->shape, &dst->shape)) {
        char want[256], got[256];
        return bnn_fail(diag, BNN_ERR_SHAPE, "input '%s' expects %s, got %s",
                        g->values[g->inputs[index]].name,
                        bnn_shape_format(&dst->shape, dst->dtype, want, sizeof want),
                        bnn_shape_format(&t->shape, t->dtype, got, sizeof got));
    }
    size_t n = bnn_tensor_nbytes(dst);
    if (n)
        memmove(dst->data, t->data, n);
    return BNN_OK;
}

bnn_status bnn_session_run(bnn_session *s, bnn_diag *diag)
{
    if (!s->options.fixed_threads)
        bnn_runtime_set_threads(thread_governor_next(&s->governor));
    for (int p = 0; p < s->n_order; p++) {
        if (s->skip[p])
            continue;
        bnn_kernel_args *a = &s->node_args[p];
        a->seed = s->options.seed;
        a->step = s->step;
        a->example_offset = s->example_offset;
        bnn_status st = s->kernels[p]->forward(a, diag);
        if (st != BNN_OK) {
            s->step++;
            return st;
        }
    }
    s->step++;
    return BNN_OK;
}

bnn_status bnn_session_check_plan(const bnn_session *s, bnn_diag *diag)
{
    const bnn_graph *g = s->graph;
    const plan_value *pv = s->values;
    for (int a = 0; a < g->n_values; a++) {
        const plan_value *x = &pv[a];
        if (x->kind == PLAN_BUF_ALIAS) {
            if (x->alias_of < 0 || pv[x->alias_of].kind == PLAN_BUF_ALIAS ||
                pv[x->alias_of].kind == PLAN_BUF_NONE || pv[x->alias_of].nbytes != x->nbytes)
                return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' aliases no proper root",
                                g->values[a].name);
            continue;
        }
        if (x->kind != PLAN_BUF_ARENA)
            continue;
        if (x->offset % PLAN_ALIGN || (x->nbytes && x->offset + x->nbytes > s->arena_bytes))
            return bnn_fail(diag, BNN_ERR_INVALID, "value '%s' lies outside the arena",
                            g->values[a].name);
        for (int b = a + 1; b < g->n_values; b++) {
            const plan_value *y = &pv[b];
            if (y->kind != PLAN_BUF_ARENA || !x->nbytes || !y->nbytes)
                continue;
            if (x->def <= y->last && y->def <= x->last && x->offset < y->offset + y->nbytes &&
                y->offset < x->offset + x->nbytes)
                return bnn_fail(diag, BNN_ERR_INVALID, "values '%s' and '%s' are alive together "
                                "but share bytes", g->values[a].name, g->values[b].name);
        }
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (pv[g->inputs[i]].last != s->n_order)
            return bnn_fail(diag, BNN_ERR_INVALID, "input '%s' dies early",
                            g->values[g->inputs[i]].name);
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        int r = root_of(pv, v);
        if (pv[r].kind == PLAN_BUF_ARENA && pv[r].last != s->n_order)
            return bnn_fail(diag, BNN_ERR_INVALID, "output '%s' dies early", g->values[v].name);
    }
    return BNN_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bnn_status bnn_session_run_timed(bnn_session *s, double *node_ms, bnn_diag *diag)
{
    bnn_status st = BNN_OK;
    for (int p = 0; p < s->n_order && st == BNN_OK; p++) {
        if (s->skip[p])
            continue;
        bnn_kernel_args *a = &s->node_args[p];
        a->seed = s->options.seed;
        a->step = s->step;
        a->example_offset = s->example_offset;
        double t0 = now_ms();
        st = s->kernels[p]->forward(a, diag);
        node_ms[p] += now_ms() - t0;
    }
    s->step++;
    return st;
}

size_t bnn_session_arena_bytes(const bnn_session *s)
{
    return s->arena_bytes;
}

size_t bnn_session_memory_bytes(const bnn_session *s)
{
    return s->arena_bytes + s->scratch_bytes + s->state_bytes + s->grad_bytes +
           s->n_param_grads * sizeof(float);
}

const bnn_graph *bnn_session_graph(const bnn_session *s) { return s->graph; }

const bnn_tensor *bnn_session_value(const bnn_session *s, int value_id)
{
    if (value_id < 0 || value_id >= s->graph->n_values ||
        s->values[value_id].kind == PLAN_BUF_NONE)
        return NULL;
    return &s->tensors[value_id];
}

uint64_t bnn_session_step(const bnn_session *s) { return s->step; }
void bnn_session_set_step(bnn_session *s, uint64_t step) { s->step = step; }
int64_t bnn_session_example_offset(const bnn_session *s) { return s->example_offset; }
void bnn_session_set_example_offset(bnn_session *s, int64_t first)
{
    s->example_offset = first > 0 ? first : 0;
}

int bnn_session_n_nodes(const bnn_session *s) { return s->n_order; }

bnn_session_node bnn_session_node_at(const bnn_session *s, int position)
{
    BNN_ASSERT(position >= 0 && position < s->n_order);
    const bnn_kernel_args *a = &s->node_args[position];
    bnn_session_node info = {.node_id = s->order[position], .skipped = s->skip[position],
                             .outputs = a->outputs, .n_outputs = a->n_outputs};
    return info;
}
