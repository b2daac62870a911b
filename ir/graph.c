/* Building, querying and rewriting graphs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena_impl.h"
#include "bnn_ir.h"

/* Grows a malloc'd array so that it holds at least `need` elements. */
static bool grow(void **array, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    int next = *cap ? *cap : 16;
    while (next < need) {
        if (next > (1 << 28))
            return false;
        next *= 2;
    }
    void *p = realloc(*array, (size_t)next * elem);
    if (!p)
        return false;
    *array = p;
    *cap = next;
    return true;
}

typedef struct name_slot {
    uint64_t hash;
    int id1; /* value id + 1; 0 for an empty slot */
} name_slot;

struct bnn_name_index {
    name_slot *slots;
    size_t cap;   /* a power of two, at least twice `indexed` */
    int indexed;  /* values[0, indexed) are in the index */
};

bnn_graph *bnn_graph_create(const char *name)
{
    bnn_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->arena = bnn_arena_create();
    if (!g->arena) {
        free(g);
        return NULL;
    }
    g->name = bnn_arena_strdup(g->arena, name ? name : "main");
    if (!g->name) {
        bnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

void bnn_graph_destroy(bnn_graph *g)
{
    if (!g)
        return;
    bnn_arena_destroy(g->arena);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->symbols);
    if (g->value_index)
        free(g->value_index->slots);
    free(g->value_index);
    free(g);
}

int64_t bnn_graph_symbol(bnn_graph *g, const char *name)
{
    for (int i = 0; i < g->n_symbols; i++)
        if (strcmp(g->symbols[i], name) == 0)
            return bnn_dim_from_symbol(i);
    if (!grow((void **)&g->symbols, &g->cap_symbols, g->n_symbols + 1, sizeof(char *)))
        return BNN_DIM_UNKNOWN;
    const char *copy = bnn_arena_strdup(g->arena, name);
    if (!copy)
        return BNN_DIM_UNKNOWN;
    g->symbols[g->n_symbols] = copy;
    return bnn_dim_from_symbol(g->n_symbols++);
}

/* ---- the name index -------------------------------------------------------
 *
 * Open addressing over (hash, value id + 1) slots covering values[0, indexed).
 * Values appended since are added on the next lookup.  Each slot keeps its
 * name's full hash, so a slot whose value no longer carries that name (values
 * dropped or permuted behind the index's back) is seen as stale and the index
 * is rebuilt; a value renamed in place needs bnn_graph_names_changed(). */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void bnn_graph_names_changed(bnn_graph *g)
{
    if (g->value_index)
        g->value_index->indexed = -1;
}

static void index_put(struct bnn_name_index *x, uint64_t h, int id)
{
    size_t mask = x->cap - 1;
    size_t i = (size_t)h & mask;
    while (x->slots[i].id1)
        i = (i + 1) & mask;
    x->slots[i].hash = h;
    x->slots[i].id1 = id + 1;
}

/* Brings the index up to values[0, n_values); false when out of memory. */
static bool index_update(bnn_graph *g, bool rebuild)
{
    struct bnn_name_index *x = g->value_index;
    if (!x) {
        x = calloc(1, sizeof *x);
        if (!x)
            return false;
        g->value_index = x;
        x->indexed = -1;
    }
    if (x->indexed < 0 || x->indexed > g->n_values)
        rebuild = true;
    size_t need = 64;
    while (need < 2 * (size_t)g->n_values + 2)
        need *= 2;
    if (rebuild || need > x->cap) {
        size_t cap = need > x->cap ? need : x->cap;
        if (cap != x->cap) {
            name_slot *s = calloc(cap, sizeof *s);
            if (!s)
                return false;
            free(x->slots);
            x->slots = s;
            x->cap = cap;
        } else {
            memset(x->slots, 0, cap * sizeof *x->slots);
        }
        x->indexed = 0;
    }
    for (int v = x->indexed; v < g->n_values; v++)
        index_put(x, name_hash(g->values[v].name), v);
    x->indexed = g->n_values;
    return true;
}

/* -1 for no such name; -2 when the index is stale; -3 when out of memory. */
static int index_find(bnn_graph *g, const char *name, bool rebuild)
{
    if (!index_update(g, rebuild))
        return -3;
    const struct bnn_name_index *x = g->value_index;
    uint64_t h = name_hash(name);
    size_t mask = x->cap - 1;
    for (size_t i = (size_t)h & mask; x->slots[i].id1; i = (i + 1) & mask) {
        if (x->slots[i].hash != h)
            continue;
        int id = x->slots[i].id1 - 1;
        if (strcmp(g->values[id].name, name) == 0)
            return id;
        return -2;
    }
    return -1;
}

int bnn_graph_find_value(const bnn_graph *cg, const char *name)
{
    /* The index is a cache: logically const. */
    bnn_graph *g = (bnn_graph *)cg;
    int id = index_find(g, name, false);
    if (id == -2)
        id = index_find(g, name, true);
    if (id >= -1)
        return id;
    if (id == -2) /* a true 64-bit hash collision: look the slow way */
        for (int i = 0; i < g->n_values; i++)
            if (strcmp(g->values[i].name, name) == 0)
                return i;
    if (id == -3) /* no memory for the index */
        for (int i = 0; i < g->n_values; i++)
            if (strcmp(g->values[i].name, name) == 0)
                return i;
    return -1;
}

int bnn_graph_find_node(const bnn_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

int bnn_graph_add_value(bnn_graph *g, const char *name, bnn_dtype dtype, const bnn_shape *shape)
{
    char fresh[32];
    if (!name || !*name) {
        /* Fresh names count up from the number of values and skip taken ones. */
        for (int k = g->n_values + 1;; k++) {
            snprintf(fresh, sizeof fresh, "%d", k);
            if (bnn_graph_find_value(g, fresh) < 0)
                break;
        }
        name = fresh;
    } else if (bnn_graph_find_value(g, name) >= 0) {
        return -1;
    }
    if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(bnn_value)))
        return -1;
    bnn_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = bnn_arena_strdup(g->arena, name);
    if (!v->name)
        return -1;
    v->kind = BNN_VALUE_INPUT;
    v->dtype = dtype;
    if (shape)
        v->shape = *shape;
    else
        v->shape.rank = -1;
    v->producer = -1;
    return g->n_values++;
}

int bnn_graph_add_param(bnn_graph *g, const char *name, bnn_dtype dtype, const bnn_shape *shape,
                        const void *data, size_t nbytes, bool trainable)
{
    void *copy = bnn_arena_alloc(g->arena, nbytes, 64);
    if (!copy)
        return -1;
    if (data && nbytes)
        memcpy(copy, data, nbytes);
    int id = bnn_graph_add_value(g, name, dtype, shape);
    if (id < 0)
        return -1;
    bnn_value *v = &g->values[id];
    v->kind = BNN_VALUE_PARAM;
    v->trainable = trainable;
    v->data = copy;
    v->nbytes = nbytes;
    return id;
}

bnn_status bnn_graph_add_input(bnn_graph *g, int value_id)
{
    BNN_ASSERT(value_id >= 0 && value_id < g->n_values);
    if (!grow((void **)&g->inputs, &g->cap_inputs, g->n_inputs + 1, sizeof(int)))
        return BNN_ERR_NOMEM;
    g->inputs[g->n_inputs++] = value_id;
    return BNN_OK;
}

bnn_status bnn_graph_add_output(bnn_graph *g, int value_id)
{
    BNN_ASSERT(value_id >= 0 && value_id < g->n_values);
    if (!grow((void **)&g->outputs, &g->cap_outputs, g->n_outputs + 1, sizeof(int)))
        return BNN_ERR_NOMEM;
    g->outputs[g->n_outputs++] = value_id;
    return BNN_OK;
}

int bnn_graph_add_node(bnn_graph *g, bnn_op op, const char *name, const int *inputs,
                       int n_inputs, const int *outputs, int n_outputs)
{
    BNN_ASSERT(op >= 0 && op < BNN_OP_COUNT);
    for (int i = 0; i < n_outputs; i++) {
        BNN_ASSERT(outputs[i] >= 0 && outputs[i] < g->n_values);
        BNN_ASSERT(g->values[outputs[i]].kind != BNN_VALUE_PARAM);
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(bnn_node)))
        return -1;
    bnn_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = bnn_arena_strdup(g->arena, name ? name : "");
    n->inputs = bnn_arena_alloc(g->arena, sizeof(int) * (size_t)(n_inputs + 1), sizeof(int));
    n->outputs = bnn_arena_alloc(g->arena, sizeof(int) * (size_t)(n_outputs + 1), sizeof(int));
    if (!n->name || !n->inputs || !n->outputs)
        return -1;
    if (n_inputs)
        memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
    if (n_outputs)
        memcpy(n->outputs, outputs, sizeof(int) * (size_t)n_outputs);
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int i = 0; i < n_outputs; i++) {
        g->values[outputs[i]].kind = BNN_VALUE_NODE;
        g->values[outputs[i]].producer = g->n_nodes;
    }
    return g->n_nodes++;
}

/* ---- attributes ---------------------------------------------------------- */

const bnn_attr *bnn_node_attr(const bnn_node *node, const char *name)
{
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0)
            return &node->attrs[i];
    return NULL;
}

/* The slot for attribute `name` on the node: the existing one, or a new one at
 * the end (the array is copied into a larger arena block). */
static bnn_attr *attr_slot(bnn_graph *g, int node_id, const char *name, bnn_attr_kind kind)
{
    bnn_node *n = &g->nodes[node_id];
    for (int i = 0; i < n->n_attrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0) {
            bnn_attr *a = &n->attrs[i];
            const char *kept = a->name;
            memset(a, 0, sizeof *a);
            a->name = kept;
            a->kind = kind;
            return a;
        }
    }
    bnn_attr *attrs = bnn_arena_alloc(g->arena, sizeof(bnn_attr) * (size_t)(n->n_attrs + 1),
                                      _Alignof(bnn_attr));
    const char *copy = bnn_arena_strdup(g->arena, name);
    if (!attrs || !copy)
        return NULL;
    if (n->n_attrs)
        memcpy(attrs, n->attrs, sizeof(bnn_attr) * (size_t)n->n_attrs);
    n->attrs = attrs;
    bnn_attr *a = &attrs[n->n_attrs++];
    a->name = copy;
    a->kind = kind;
    return a;
}

bnn_status bnn_node_set_int(bnn_graph *g, int node_id, const char *name, int64_t v)
{
    bnn_attr *a = attr_slot(g, node_id, name, BNN_ATTR_INT);
    if (!a)
        return BNN_ERR_NOMEM;
    a->i = v;
    return BNN_OK;
}

bnn_status bnn_node_set_float(bnn_graph *g, int node_id, const char *name, float v)
{
    bnn_attr *a = attr_slot(g, node_id, name, BNN_ATTR_FLOAT);
    if (!a)
        return BNN_ERR_NOMEM;
    a->f = v;
    return BNN_OK;
}

bnn_status bnn_node_set_string(bnn_graph *g, int node_id, const char *name, const char *v)
{
    char *copy = bnn_arena_strdup(g->arena, v);
    bnn_attr *a = copy ? attr_slot(g, node_id, name, BNN_ATTR_STRING) : NULL;
    if (!a)
        return BNN_ERR_NOMEM;
    a->s = copy;
    return BNN_OK;
}

bnn_status bnn_node_set_ints(bnn_graph *g, int node_id, const char *name, const int64_t *v,
                             int count)
{
    int64_t *copy = bnn_arena_alloc(g->arena, sizeof(int64_t) * (size_t)count, 8);
    bnn_attr *a = copy ? attr_slot(g, node_id, name, BNN_ATTR_INTS) : NULL;
    if (!a)
        return BNN_ERR_NOMEM;
    if (count)
        memcpy(copy, v, sizeof(int64_t) * (size_t)count);
    a->ints = copy;
    a->count = count;
    return BNN_OK;
}

bnn_status bnn_node_set_floats(bnn_graph *g, int node_id, const char *name, const float *v,
                               int count)
{
    float *copy = bnn_arena_alloc(g->arena, sizeof(float) * (size_t)count, 4);
    bnn_attr *a = copy ? attr_slot(g, node_id, name, BNN_ATTR_FLOATS) : NULL;
    if (!a)
        return BNN_ERR_NOMEM;
    if (count)
        memcpy(copy, v, sizeof(float) * (size_t)count);
    a->floats = copy;
    a->count = count;
    return BNN_OK;
}

bnn_status bnn_node_copy_attrs(bnn_graph *g, int dst, const bnn_graph *src_graph, int src)
{
    /* Copy the source list first: src may live in g and move as dst grows. */
    const bnn_node *s = &src_graph->nodes[src];
    int n = s->n_attrs;
    bnn_attr *list = n ? malloc(sizeof(bnn_attr) * (size_t)n) : NULL;
    if (n && !list)
        return BNN_ERR_NOMEM;
    if (n)
        memcpy(list, s->attrs, sizeof(bnn_attr) * (size_t)n);
    bnn_status st = BNN_OK;
    for (int i = 0; i < n && st == BNN_OK; i++) {
        const bnn_attr *a = &list[i];
        switch (a->kind) {
        case BNN_ATTR_INT: st = bnn_node_set_int(g, dst, a->name, a->i); break;
        case BNN_ATTR_FLOAT: st = bnn_node_set_float(g, dst, a->name, a->f); break;
        case BNN_ATTR_STRING: st = bnn_node_set_string(g, dst, a->name, a->s); break;
        case BNN_ATTR_INTS: st = bnn_node_set_ints(g, dst, a->name, a->ints, a->count); break;
        case BNN_ATTR_FLOATS: st = bnn_node_set_floats(g, dst, a->name, a->floats, a->count); break;
        }
    }
    free(list);
    return st;
}

int64_t bnn_node_int(const bnn_node *node, const char *name, int64_t fallback)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    return a && a->kind == BNN_ATTR_INT ? a->i : fallback;
}

float bnn_node_float(const bnn_node *node, const char *name, float fallback)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    return a && a->kind == BNN_ATTR_FLOAT ? a->f : fallback;
}

float bnn_node_attr_float(const bnn_node *node, const char *name)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    if (a && a->kind == BNN_ATTR_FLOAT)
        return a->f;
    float v = 0;
    bool has_default = bnn_op_default_float(node->op, name, &v);
    BNN_ASSERT(has_default);
    return v;
}

int64_t bnn_node_attr_int(const bnn_node *node, const char *name)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    if (a && a->kind == BNN_ATTR_INT)
        return a->i;
    int64_t v = 0;
    bool has_default = bnn_op_default_int(node->op, name, &v);
    BNN_ASSERT(has_default);
    return v;
}

const char *bnn_node_string(const bnn_node *node, const char *name, const char *fallback)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    return a && a->kind == BNN_ATTR_STRING ? a->s : fallback;
}

int bnn_node_ints(const bnn_node *node, const char *name, const int64_t **ints)
{
    const bnn_attr *a = bnn_node_attr(node, name);
    if (!a || a->kind != BNN_ATTR_INTS) {
        *ints = NULL;
        return 0;
    }
    *ints = a->ints;
    return a->count;
}

const char *bnn_node_label(const bnn_graph *g, int node_id, char *buf, size_t n)
{
    const bnn_node *node = &g->nodes[node_id];
    snprintf(buf, n, "node '%s' (%s)", node->name, bnn_op_get(node->op)->name);
    return buf;
}

/* ---- rewriting ----------------------------------------------------------- */

void bnn_graph_replace_uses(bnn_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == from)
                n->inputs[k] = to;
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == from)
            g->outputs[k] = to;
}

int bnn_graph_use_count(const bnn_graph *g, int value_id)
{
    int uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            uses += n->inputs[k] == value_id;
    }
    for (int k = 0; k < g->n_outputs; k++)
        uses += g->outputs[k] == value_id;
    return uses;
}

int *bnn_graph_use_counts(const bnn_graph *g)
{
    int *uses = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!uses)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                uses[n->inputs[k]]++;
    }
    for (int k = 0; k < g->n_outputs; k++)
        uses[g->outputs[k]]++;
    return uses;
}

/* A binary min-heap of node ids. */
static void heap_push(int *heap, int *n, int id)
{
    int i = (*n)++;
    while (i > 0 && heap[(i - 1) / 2] > id) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = id;
}

static int heap_pop(int *heap, int *n)
{
    int top = heap[0], last = heap[--*n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap[c + 1] < heap[c])
            c++;
        if (heap[c] >= last)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (*n > 0)
        heap[i] = last;
    return top;
}

bnn_status bnn_graph_sort(bnn_graph *g, bnn_diag *diag)
{
    /* Kahn's algorithm, always taking the lowest-numbered ready node (a heap)
     * so that an already ordered graph keeps its order: O(E log N). */
    int n = g->n_nodes, nv = g->n_values;
    int *pending = calloc((size_t)n + 1, sizeof(int));    /* unready inputs per node */
    int *first = calloc((size_t)nv + 2, sizeof(int));     /* CSR: value -> its readers */
    int *heap = malloc(sizeof(int) * ((size_t)n + 1));
    bnn_node *sorted = malloc(sizeof(bnn_node) * ((size_t)n + 1));
    int *new_id = malloc(sizeof(int) * ((size_t)n + 1));
    bool *ready_value = calloc((size_t)nv + 1, sizeof(bool));
    size_t edges = 0;
    for (int i = 0; i < n; i++)
        if (!g->nodes[i].dead)
            edges += (size_t)g->nodes[i].n_inputs;
    int *readers = malloc(sizeof(int) * (edges + 1));
    if (!pending || !first || !heap || !sorted || !new_id || !ready_value || !readers) {
        free(pending); free(first); free(heap); free(sorted); free(new_id);
        free(ready_value); free(readers);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory sorting the graph");
    }
    for (int v = 0; v < nv; v++)
        ready_value[v] = g->values[v].kind != BNN_VALUE_NODE;
    for (int i = 0; i < n; i++) {
        const bnn_node *nd = &g->nodes[i];
        if (nd->dead)
            continue;
        for (int k = 0; k < nd->n_inputs; k++) {
            int in = nd->inputs[k];
            if (in >= 0 && !ready_value[in]) {
                first[in + 1]++;
                pending[i]++;
            }
        }
    }
    for (int v = 0; v < nv; v++)
        first[v + 1] += first[v];
    int *fill = malloc(sizeof(int) * ((size_t)nv + 1));
    if (!fill) {
        free(pending); free(first); free(heap); free(sorted); free(new_id);
        free(ready_value); free(readers);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory sorting the graph");
    }
    memcpy(fill, first, sizeof(int) * (size_t)nv);
    int heap_n = 0, live = 0, count = 0;
    for (int i = 0; i < n; i++) {
        const bnn_node *nd = &g->nodes[i];
        if (nd->dead)
            continue;
        live++;
        for (int k = 0; k < nd->n_inputs; k++) {
            int in = nd->inputs[k];
            if (in >= 0 && !ready_value[in])
                readers[fill[in]++] = i;
        }
        if (pending[i] == 0)
            heap_push(heap, &heap_n, i);
    }
    free(fill);
    while (heap_n > 0) {
        int pick = heap_pop(heap, &heap_n);
        new_id[pick] = count;
        sorted[count++] = g->nodes[pick];
        const bnn_node *nd = &g->nodes[pick];
        for (int k = 0; k < nd->n_outputs; k++) {
            int out = nd->outputs[k];
            if (ready_value[out])
                continue;
            ready_value[out] = true;
            for (int r = first[out]; r < first[out + 1]; r++)
                if (--pending[readers[r]] == 0)
                    heap_push(heap, &heap_n, readers[r]);
        }
    }
    if (count < live) {
        int culprit = 0;
        while (g->nodes[culprit].dead || pending[culprit] == 0)
            culprit++;
        char label[300];
        bnn_node_label(g, culprit, label, sizeof label);
        free(pending); free(first); free(heap); free(sorted); free(new_id);
        free(ready_value); free(readers);
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "%s: its inputs form a cycle or are never produced", label);
    }
    /* Dead nodes go to the end so that ids stay a permutation. */
    for (int i = 0; i < n; i++)
        if (g->nodes[i].dead) {
            new_id[i] = count;
            sorted[count++] = g->nodes[i];
        }
    if (n > 0)
        memcpy(g->nodes, sorted, sizeof(bnn_node) * (size_t)n);
    for (int v = 0; v < nv; v++)
        if (g->values[v].producer >= 0)
            g->values[v].producer = new_id[g->values[v].producer];
    free(pending); free(first); free(heap); free(sorted); free(new_id);
    free(ready_value); free(readers);
    return BNN_OK;
}

/* Drops dead nodes and renumbers ids.  A value survives while a live node
 * produces or reads it or it is a graph input or output; with keep_unused,
 * also every value that is not a node's (params, constants); and then each
 * value not produced by a live node gets producer -1. */
static bnn_status drop_dead(bnn_graph *g, bool keep_unused)
{
    bnn_graph_names_changed(g);
    int *value_map = malloc(sizeof(int) * ((size_t)g->n_values + 1));
    bool *used = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!value_map || !used) {
        free(value_map); free(used);
        return BNN_ERR_NOMEM;
    }
    for (int v = 0; v < g->n_values; v++) {
        const bnn_value *val = &g->values[v];
        /* params named bnnc.* are the model's own settings that no node reads
         * (the noise scale of a regressor): they stay */
        used[v] = keep_unused ? val->kind != BNN_VALUE_NODE
                              : val->kind == BNN_VALUE_PARAM && val->name &&
                                    strncmp(val->name, BNN_RESERVED_PARAM_PREFIX,
                                            sizeof BNN_RESERVED_PARAM_PREFIX - 1) == 0;
    }
    for (int i = 0; i < g->n_inputs; i++)
        used[g->inputs[i]] = true;
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]] = true;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                used[n->inputs[k]] = true;
        for (int k = 0; k < n->n_outputs; k++)
            used[n->outputs[k]] = true;
    }
    int nv = 0;
    for (int v = 0; v < g->n_values; v++) {
        value_map[v] = used[v] ? nv : -1;
        if (used[v])
            g->values[nv++] = g->values[v];
    }
    g->n_values = nv;
    if (keep_unused)
        for (int v = 0; v < nv; v++)
            g->values[v].producer = -1;
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        bnn_node *n = &g->nodes[nn];
        *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                n->inputs[k] = value_map[n->inputs[k]];
        for (int k = 0; k < n->n_outputs; k++) {
            n->outputs[k] = value_map[n->outputs[k]];
            g->values[n->outputs[k]].producer = nn;
        }
        nn++;
    }
    g->n_nodes = nn;
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = value_map[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = value_map[g->outputs[i]];
    free(value_map);
    free(used);
    return BNN_OK;
}

bnn_status bnn_graph_compact(bnn_graph *g) { return drop_dead(g, false); }

bnn_status bnn_graph_drop_dead_nodes(bnn_graph *g) { return drop_dead(g, true); }

/* The copy; with borrow_data its params point at src's data instead of
 * copies of it. */
static bnn_graph *clone(const bnn_graph *src, bool borrow_data)
{
    bnn_graph *g = bnn_graph_create(src->name);
    if (!g)
        return NULL;
    g->onnx_opset = src->onnx_opset;
    for (int i = 0; i < src->n_symbols; i++)
        if (bnn_graph_symbol(g, src->symbols[i]) == BNN_DIM_UNKNOWN)
            goto fail;
    for (int v = 0; v < src->n_values; v++) {
        const bnn_value *s = &src->values[v];
        bool param = s->kind == BNN_VALUE_PARAM;
        size_t copied = param && !borrow_data ? s->nbytes : 0;
        int id = param ? bnn_graph_add_param(g, s->name, s->dtype, &s->shape, s->data, copied,
                                             s->trainable)
                       : bnn_graph_add_value(g, s->name, s->dtype, &s->shape);
        if (id != v)
            goto fail;
        g->values[id].kind = s->kind;
        if (param && borrow_data) {
            g->values[id].data = s->data;
            g->values[id].nbytes = s->nbytes;
        }
    }
    for (int i = 0; i < src->n_nodes; i++) {
        const bnn_node *s = &src->nodes[i];
        int id = bnn_graph_add_node(g, s->op, s->name, s->inputs, s->n_inputs, s->outputs,
                                    s->n_outputs);
        if (id != i || bnn_node_copy_attrs(g, id, src, i) != BNN_OK)
            goto fail;
        g->nodes[id].dead = s->dead;
    }
    for (int i = 0; i < src->n_inputs; i++)
        if (bnn_graph_add_input(g, src->inputs[i]) != BNN_OK)
            goto fail;
    for (int i = 0; i < src->n_outputs; i++)
        if (bnn_graph_add_output(g, src->outputs[i]) != BNN_OK)
            goto fail;
    return g;
fail:
    bnn_graph_destroy(g);
    return NULL;
}

bnn_graph *bnn_graph_clone(const bnn_graph *src) { return clone(src, false); }

bnn_graph *bnn_graph_clone_borrowing(const bnn_graph *src) { return clone(src, true); }
