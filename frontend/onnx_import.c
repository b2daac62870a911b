/* ONNX import: the protobuf walk.  Reads a ModelProto with protobuf-c,
 * validates it (opsets, names, types, shapes, initializer sizes), orders the
 * nodes, lowers each through the table in onnx_lower.c, drops the shape
 * arithmetic that folded away and verifies the result.  The ModelProto is freed
 * before returning; the IR never points into it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_file.h"
#include "onnx_impl.h"

/* ModelProtos above this are refused before reading (protobuf's own limit). */
#define MAX_MODEL_BYTES ((size_t)2 << 30)

bnn_status onnx_node_fail(onnx_ctx *c, bnn_status status, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return bnn_fail(c->diag, status, "node '%s' (%s): %s", c->node_name,
                    onnx_str(c->node->op_type), what);
}

/* ---- name table ---------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

onnx_name_entry *onnx_name_lookup(onnx_ctx *c, const char *name)
{
    size_t mask = c->cap_names - 1;
    for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        onnx_name_entry *e = &c->names[i];
        if (!e->key || strcmp(e->key, name) == 0)
            return e->key ? e : NULL;
    }
}

/* Doubles the table once it is half full (control flow adds names while the
 * walk runs); entry pointers are not kept across an insertion.  False: no
 * memory. */
static bool names_grow(onnx_ctx *c)
{
    if (2 * (c->n_names + 1) <= c->cap_names)
        return true;
    size_t cap = c->cap_names * 2;
    onnx_name_entry *grown = calloc(cap, sizeof *grown);
    if (!grown)
        return false;
    for (size_t k = 0; k < c->cap_names; k++) {
        if (!c->names[k].key)
            continue;
        size_t i = hash_str(c->names[k].key) & (cap - 1);
        while (grown[i].key)
            i = (i + 1) & (cap - 1);
        grown[i] = c->names[k];
    }
    free(c->names);
    c->names = grown;
    c->cap_names = cap;
    return true;
}

/* Inserts name if new; NULL only when out of memory. */
onnx_name_entry *onnx_name_insert(onnx_ctx *c, const char *name)
{
    onnx_name_entry *found = onnx_name_lookup(c, name);
    if (found)
        return found;
    if (!names_grow(c))
        return NULL;
    size_t mask = c->cap_names - 1;
    for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        onnx_name_entry *e = &c->names[i];
        if (!e->key) {
            e->key = name;
            e->value_id = -1;
            c->n_names++;
            return e;
        }
    }
}

/* The walk sizes the table for the top-level graph, so this cannot fail there. */
static onnx_name_entry *name_insert(onnx_ctx *c, const char *name)
{
    onnx_name_entry *e = onnx_name_insert(c, name);
    BNN_ASSERT(e);
    return e;
}

const char *onnx_fresh_name(onnx_ctx *c, const char *base, char *buf, size_t n)
{
    snprintf(buf, n, "%s", base);
    for (int k = 1; onnx_name_lookup(c, buf) || bnn_graph_find_value(c->g, buf) >= 0; k++)
        snprintf(buf, n, "%s_%d", base, k);
    return buf;
}

bnn_status onnx_bind_name(onnx_ctx *c, const char *name, int value_id)
{
    onnx_name_entry *e = onnx_name_insert(c, name);
    if (!e)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    e->value_id = value_id;
    return BNN_OK;
}

static bnn_status bind_name(onnx_ctx *c, const char *name, int value_id)
{
    return onnx_bind_name(c, name, value_id);
}

/* ---- known i64 contents --------------------------------------------------- */

static bool known_grow(onnx_ctx *c, int value_id)
{
    if (value_id < c->cap_known)
        return true;
    int cap = c->cap_known ? c->cap_known : 64;
    while (cap <= value_id)
        cap *= 2;
    onnx_known *k = realloc(c->known, sizeof *k * (size_t)cap);
    if (!k)
        return false;
    memset(k + c->cap_known, 0, sizeof *k * (size_t)(cap - c->cap_known));
    c->known = k;
    c->cap_known = cap;
    return true;
}

bnn_status onnx_known_set(onnx_ctx *c, int value_id, int rank, const int64_t *v, int n,
                          uint64_t sym)
{
    BNN_ASSERT(n >= 0 && n <= ONNX_KNOWN_MAX);
    if (!known_grow(c, value_id))
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    onnx_known *k = &c->known[value_id];
    free(k->v);
    k->v = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!k->v)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    memcpy(k->v, v, sizeof(int64_t) * (size_t)n);
    k->valid = true;
    k->rank = rank;
    k->n = n;
    k->sym = sym;
    return BNN_OK;
}

bool onnx_known_get(onnx_ctx *c, int value_id, onnx_known *out)
{
    if (value_id < 0)
        return false;
    if (value_id < c->cap_known && c->known[value_id].valid) {
        *out = c->known[value_id];
        return true;
    }
    const bnn_value *v = bnn_graph_value(c->g, value_id);
    if (v->kind != BNN_VALUE_PARAM || v->shape.rank > 1 ||
        (v->dtype != BNN_I64 && v->dtype != BNN_I32))
        return false;
    int64_t n = v->shape.rank == 0 ? 1 : v->shape.dims[0];
    if (n > ONNX_KNOWN_MAX)
        return false;
    int64_t vals[ONNX_KNOWN_MAX];
    for (int64_t i = 0; i < n; i++)
        vals[i] = v->dtype == BNN_I64 ? ((const int64_t *)v->data)[i]
                                      : ((const int32_t *)v->data)[i];
    if (onnx_known_set(c, value_id, v->shape.rank, vals, (int)n, 0) != BNN_OK)
        return false;
    *out = c->known[value_id];
    return true;
}

/* ---- node helpers --------------------------------------------------------- */

int onnx_n_inputs(const onnx_ctx *c) { return (int)c->node->n_input; }

int onnx_input(onnx_ctx *c, int k)
{
    if (k < 0 || (size_t)k >= c->node->n_input || !*onnx_str(c->node->input[k]))
        return -1;
    onnx_name_entry *e = onnx_name_lookup(c, c->node->input[k]);
    return e ? e->value_id : -1;
}

bool onnx_output_used(onnx_ctx *c, int k)
{
    if ((size_t)k >= c->node->n_output || !*onnx_str(c->node->output[k]))
        return false;
    onnx_name_entry *e = onnx_name_lookup(c, c->node->output[k]);
    return e && e->uses > 0;
}

int onnx_define_output(onnx_ctx *c, int k)
{
    const char *name = c->node->output[k];
    int id = bnn_graph_add_value(c->g, name, BNN_UNDEFINED, NULL);
    if (id < 0) {
        onnx_node_fail(c, BNN_ERR_NOMEM, "cannot create output '%s'", name);
        return -1;
    }
    bind_name(c, name, id);
    return id;
}

int onnx_emit(onnx_ctx *c, bnn_op op, const int *inputs, int n_inputs)
{
    if (c->node->n_output < 1 || !*onnx_str(c->node->output[0])) {
        onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
        return -1;
    }
    int out = onnx_define_output(c, 0);
    if (out < 0)
        return -1;
    int id = bnn_graph_add_node(c->g, op, c->node_name, inputs, n_inputs, &out, 1);
    if (id < 0)
        onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return id;
}

bnn_status onnx_emit_step(onnx_ctx *c, bnn_op op, const int *in, int n, bool last,
                          const char *tag, int *out, int *nid)
{
    char base[300], buf[320];
    if (last) {
        BNN_TRY(onnx_emit_node(c, op, in, n, nid));
        *out = bnn_graph_node(c->g, *nid)->outputs[0];
        return BNN_OK;
    }
    snprintf(base, sizeof base, "%s.%s", c->node_name, tag);
    *out = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_UNDEFINED,
                               NULL);
    if (*out < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    *nid = bnn_graph_add_node(c->g, op, buf, in, n, out, 1);
    return *nid < 0 ? onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory") : BNN_OK;
}

bnn_status onnx_add_f32_const(onnx_ctx *c, const char *tag, const bnn_shape *shape,
                              const float *data, int *out)
{
    char base[300], buf[320];
    snprintf(base, sizeof base, "%s.%s", c->node_name, tag);
    size_t nbytes = sizeof(float) * (size_t)bnn_shape_numel(shape);
    *out = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_F32, shape,
                               data, nbytes, false);
    return *out < 0 ? onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory") : BNN_OK;
}

bnn_status onnx_infer(onnx_ctx *c, int node_id)
{
    return bnn_graph_infer_node(c->g, node_id, c->diag);
}

bnn_status onnx_output_param(onnx_ctx *c, int k, bnn_dtype dtype, const bnn_shape *shape,
                             const void *data, size_t nbytes)
{
    if (k < 0 || (size_t)k >= c->node->n_output)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output %d to hold its value", k);
    if (!*onnx_str(c->node->output[k]))
        return BNN_OK; /* an unnamed output: nothing can read it */
    const char *name = c->node->output[k];
    int id = bnn_graph_add_param(c->g, name, dtype, shape, data, nbytes, false);
    if (id < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "cannot create constant '%s'", name);
    return bind_name(c, name, id);
}

/* ---- graph inputs, initializers, bindings -------------------------------- */

static bnn_status read_value_info(onnx_ctx *c, const Onnx__ValueInfoProto *vi, const char *what,
                                  bnn_dtype *dtype, bnn_shape *shape)
{
    const char *name = onnx_str(vi->name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "%s '%s': only tensor types are supported", what, name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    *dtype = bnn_onnx_dtype(tt->elem_type);
    if (*dtype == BNN_UNDEFINED)
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "%s '%s': element type %s is not supported",
                        what, name, bnn_onnx_type_name(tt->elem_type));
    memset(shape, 0, sizeof *shape);
    if (!tt->shape) {
        shape->rank = -1;
        return BNN_OK;
    }
    if (tt->shape->n_dim > BNN_MAX_RANK)
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "%s '%s': rank %zu exceeds the maximum %d",
                        what, name, tt->shape->n_dim, BNN_MAX_RANK);
    shape->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < shape->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return bnn_fail(c->diag, BNN_ERR_INVALID, "%s '%s': dimension %d is negative (%lld)",
                                what, name, i, (long long)d->dim_value);
            shape->dims[i] = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   *onnx_str(d->dim_param)) {
            shape->dims[i] = bnn_graph_symbol(c->g, d->dim_param);
            if (shape->dims[i] == BNN_DIM_UNKNOWN)
                return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        } else {
            shape->dims[i] = BNN_DIM_UNKNOWN;
        }
    }
    return BNN_OK;
}

static bnn_status add_initializer(onnx_ctx *c, const Onnx__TensorProto *t)
{
    return onnx_add_initializer(c, t, onnx_str(t->name));
}

bnn_status onnx_add_initializer(onnx_ctx *c, const Onnx__TensorProto *t, const char *name)
{
    char what[300];
    snprintf(what, sizeof what, "initializer '%s'", name);
    if (!*name)
        return bnn_fail(c->diag, BNN_ERR_INVALID, "an initializer has no name");
    onnx_name_entry *e = onnx_name_insert(c, name);
    if (!e)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    if (e->value_id >= 0)
        return bnn_fail(c->diag, BNN_ERR_INVALID, "%s is defined twice", what);
    onnx_data d;
    BNN_TRY(bnn_onnx_view_tensor(t, c->base_dir, what, &d, c->diag));
    int id = bnn_graph_add_param(c->g, name, d.dtype, &d.shape, d.data, d.nbytes, false);
    onnx_data_release(&d);
    if (id < 0)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "%s: out of memory", what);
    e->value_id = id;
    return BNN_OK;
}

static const bnn_onnx_binding *find_binding(const bnn_onnx_import_options *o, const char *name)
{
    for (int i = 0; o && i < o->n_bindings; i++)
        if (strcmp(o->bindings[i].name, name) == 0)
            return &o->bindings[i];
    return NULL;
}

static bnn_status add_graph_inputs(onnx_ctx *c, const bnn_onnx_import_options *opts)
{
    const Onnx__GraphProto *gp = c->graph;
    for (int b = 0; opts && b < opts->n_bindings; b++) {
        bool found = false;
        for (size_t i = 0; i < gp->n_input && !found; i++)
            found = strcmp(onnx_str(gp->input[i]->name), opts->bindings[b].name) == 0;
        if (!found)
            return bnn_fail(c->diag, BNN_ERR_INVALID, "binding '%s' names no graph input",
                            opts->bindings[b].name);
    }
    BNN_TRY(onnx_check_input_shapes(c, opts));
    BNN_TRY(onnx_free_fixed_batch(c, opts));
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = onnx_str(vi->name);
        if (!*name)
            return bnn_fail(c->diag, BNN_ERR_INVALID, "graph input %zu has no name", i);
        onnx_name_entry *e = name_insert(c, name);
        if (e->listed_input)
            return bnn_fail(c->diag, BNN_ERR_INVALID, "graph input '%s' is listed twice", name);
        e->listed_input = true;
        const bnn_onnx_binding *b = find_binding(opts, name);
        if (b) {
            const bnn_tensor *t = b->value;
            int64_t numel = bnn_shape_numel(&t->shape);
            size_t es = bnn_dtype_size(t->dtype);
            if (numel < 0 || es == 0 || t->shape.rank < 0 || t->shape.rank > BNN_MAX_RANK)
                return bnn_fail(c->diag, BNN_ERR_INVALID, "binding '%s': bad tensor", name);
            if (e->value_id >= 0) /* the binding replaces the initializer's default */
                return bnn_fail(c->diag, BNN_ERR_INVALID, "binding '%s' names an initializer", name);
            int id = bnn_graph_add_param(c->g, name, t->dtype, &t->shape, t->data,
                                         (size_t)numel * es, false);
            if (id < 0)
                return bnn_fail(c->diag, BNN_ERR_NOMEM, "binding '%s': out of memory", name);
            e->value_id = id;
            continue;
        }
        if (e->value_id >= 0)
            continue; /* an initializer: a param, not a graph input */
        bnn_dtype dt = BNN_UNDEFINED;
        bnn_shape shape;
        BNN_TRY(read_value_info(c, vi, "graph input", &dt, &shape));
        BNN_TRY(onnx_override_input_shape(c, opts, name, &shape));
        int id = bnn_graph_add_value(c->g, name, dt, &shape);
        if (id < 0)
            return bnn_fail(c->diag, BNN_ERR_NOMEM, "graph input '%s': out of memory", name);
        e->value_id = id;
        BNN_TRY(bnn_graph_add_input(c->g, id));
    }
    return BNN_OK;
}

/* ---- node order ----------------------------------------------------------- */

/* A binary min-heap of node indices, for order_nodes. */
static void heap_push_size(size_t *heap, size_t *n, size_t v)
{
    size_t i = (*n)++;
    while (i > 0 && heap[(i - 1) / 2] > v) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = v;
}

static size_t heap_pop_size(size_t *heap, size_t *n)
{
    size_t top = heap[0], last = heap[--*n], i = 0;
    for (;;) {
        size_t ch = 2 * i + 1;
        if (ch >= *n)
            break;
        if (ch + 1 < *n && heap[ch + 1] < heap[ch])
            ch++;
        if (heap[ch] >= last)
            break;
        heap[i] = heap[ch];
        i = ch;
    }
    if (*n > 0)
        heap[i] = last;
    return top;
}

/* Kahn's algorithm over the ONNX nodes, stable for models already in order
 * (ONNX requires topological order, but not every exporter keeps it).  Also
 * rejects an output defined twice, an input nothing defines, and cycles. */
static bnn_status order_nodes(onnx_ctx *c)
{
    const Onnx__GraphProto *gp = c->graph;
    size_t n = gp->n_node;
    c->order = malloc(sizeof *c->order * (n ? n : 1));
    c->fused = calloc(n ? n : 1, sizeof *c->fused);
    bool *done = calloc(n ? n : 1, sizeof *done);
    /* defined[k]: whether name-table entry k has a value so far. */
    bool *defined = calloc(c->cap_names, sizeof *defined);
    bnn_status s = BNN_OK;
    if (!c->order || !c->fused || !done || !defined) {
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->cap_names; i++)
        defined[i] = c->names[i].key && c->names[i].value_id >= 0;
    /* Each output name defined once. */
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *nd = gp->node[i];
        for (size_t k = 0; k < nd->n_output; k++) {
            const char *o = onnx_str(nd->output[k]);
            if (!*o)
                continue;
            onnx_name_entry *e = onnx_name_lookup(c, o);
            if (defined[e - c->names]) {
                s = bnn_fail(c->diag, BNN_ERR_INVALID, "node '%s' (%s): output '%s' is already defined",
                             onnx_str(nd->name), onnx_str(nd->op_type), o);
                goto out;
            }
            defined[e - c->names] = true;
        }
    }
    for (size_t i = 0; i < c->cap_names; i++)
        defined[i] = c->names[i].key && c->names[i].value_id >= 0;
    /* Kahn's algorithm over name-table entries, taking the lowest-numbered
     * ready node first (a heap), so that a graph already in order keeps it:
     * linear in the graph (times log n), however the file orders its nodes. */
    size_t edges = 0;
    for (size_t i = 0; i < n; i++)
        edges += gp->node[i]->n_input;
    size_t *first = calloc(c->cap_names + 1, sizeof *first); /* entry -> its readers */
    size_t *readers = malloc(sizeof *readers * (edges + 1));
    size_t *pending = calloc(n ? n : 1, sizeof *pending);
    size_t *heap = malloc(sizeof *heap * (n ? n : 1));
    bool *produced = calloc(c->cap_names, sizeof *produced);
    if (!first || !readers || !pending || !heap || !produced) {
        s = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        goto kahn_out;
    }
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *nd = gp->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            const char *in = onnx_str(nd->input[k]);
            size_t e = *in ? (size_t)(onnx_name_lookup(c, in) - c->names) : 0;
            if (*in && !defined[e]) {
                first[e + 1]++;
                pending[i]++;
            }
        }
        for (size_t k = 0; k < nd->n_output; k++)
            if (*onnx_str(nd->output[k]))
                produced[onnx_name_lookup(c, nd->output[k]) - c->names] = true;
    }
    for (size_t e = 0; e < c->cap_names; e++)
        first[e + 1] += first[e];
    size_t heap_n = 0;
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *nd = gp->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            const char *in = onnx_str(nd->input[k]);
            size_t e = *in ? (size_t)(onnx_name_lookup(c, in) - c->names) : 0;
            if (*in && !defined[e])
                readers[first[e]++] = i;
        }
    }
    /* first[e] now ends entry e's readers; shift back to starts. */
    for (size_t e = c->cap_names; e > 0; e--)
        first[e] = first[e - 1];
    first[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (pending[i] == 0)
            heap_push_size(heap, &heap_n, i);
    size_t placed = 0;
    while (heap_n > 0) {
        size_t i = heap_pop_size(heap, &heap_n);
        const Onnx__NodeProto *nd = gp->node[i];
        done[i] = true;
        c->order[placed++] = nd;
        for (size_t k = 0; k < nd->n_output; k++) {
            if (!*onnx_str(nd->output[k]))
                continue;
            size_t e = (size_t)(onnx_name_lookup(c, nd->output[k]) - c->names);
            if (defined[e])
                continue;
            defined[e] = true;
            for (size_t r = first[e]; r < first[e + 1]; r++)
                if (--pending[readers[r]] == 0)
                    heap_push_size(heap, &heap_n, readers[r]);
        }
    }
    if (placed < n) {
        /* Stuck: an input nobody defines, or a cycle. */
        for (size_t i = 0; i < n && s == BNN_OK; i++) {
            if (done[i])
                continue;
            const Onnx__NodeProto *nd = gp->node[i];
            for (size_t k = 0; k < nd->n_input; k++) {
                const char *in = onnx_str(nd->input[k]);
                if (!*in)
                    continue;
                size_t e = (size_t)(onnx_name_lookup(c, in) - c->names);
                if (!produced[e] && !defined[e]) {
                    s = bnn_fail(c->diag, BNN_ERR_INVALID,
                                 "node '%s' (%s): input '%s' is not defined (no initializer, graph input or node output)",
                                 onnx_str(nd->name), onnx_str(nd->op_type), in);
                    break;
                }
            }
        }
        for (size_t i = 0; i < n && s == BNN_OK; i++)
            if (!done[i])
                s = bnn_fail(c->diag, BNN_ERR_INVALID, "node '%s' (%s): the graph has a cycle through this node",
                             onnx_str(gp->node[i]->name), onnx_str(gp->node[i]->op_type));
    }
kahn_out:
    free(first);
    free(readers);
    free(pending);
    free(heap);
    free(produced);
    if (s != BNN_OK)
        goto out;
    c->n_order = (int)n;
out:
    free(done);
    free(defined);
    return s;
}

/* ---- the walk ------------------------------------------------------------- */

static bnn_status read_opsets(onnx_ctx *c, const Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *dom = onnx_str(m->opset_import[i]->domain);
        int64_t v = m->opset_import[i]->version;
        if (!*dom || strcmp(dom, "ai.onnx") == 0)
            c->opset = v;
        else if (strcmp(dom, "ai.bnnc") == 0)
            c->bnnc_opset = v;
    }
    if (c->opset && (c->opset < BNN_ONNX_MIN_OPSET || c->opset > BNN_ONNX_MAX_OPSET))
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED,
                        "opset %lld of the default domain is not supported (bnnc reads opsets %d to %d)",
                        (long long)c->opset, BNN_ONNX_MIN_OPSET, BNN_ONNX_MAX_OPSET);
    if (c->bnnc_opset && c->bnnc_opset != 1)
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "opset %lld of domain ai.bnnc is not supported (only 1)",
                        (long long)c->bnnc_opset);
    return BNN_OK;
}

static bnn_status lower_node(onnx_ctx *c)
{
    const Onnx__NodeProto *nd = c->node;
    const char *dom = onnx_str(nd->domain);
    if (strcmp(dom, "ai.onnx") == 0)
        dom = "";
    if (*dom && strcmp(dom, "ai.bnnc") != 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "unknown domain '%s'", dom);
    onnx_lower_fn lower;
    const bnn_onnx_op_support *e = onnx_op_lookup(dom, onnx_str(nd->op_type), &lower);
    if (!e)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "unsupported op '%s'%s%s (`bnnc ops` lists the supported ones)",
                              onnx_str(nd->op_type), *dom ? " in domain " : "", dom);
    int64_t opset = *dom ? c->bnnc_opset : c->opset;
    if (opset == 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "the model imports no opset for domain '%s'",
                              *dom ? dom : "ai.onnx");
    if (opset < e->since_opset || opset > e->until_opset)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "opset %lld is outside the supported range %d to %d",
                              (long long)opset, e->since_opset, e->until_opset);
    /* Every ONNX op has an output 0, and lowerings read its name (to find
     * the nodes it feeds) before they emit anything. */
    if (nd->n_output < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
    /* Trailing "" inputs mean "absent" and do not count. */
    int n_in = (int)nd->n_input, max_in = onnx_op_max_inputs(e, opset);
    while (n_in > 0 && !*onnx_str(nd->input[n_in - 1]))
        n_in--;
    if (max_in >= 0 && n_in > max_in)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %d inputs, but %s takes at most %d at opset %lld",
                              n_in, onnx_str(nd->op_type), max_in, (long long)opset);
    return lower(c);
}

bnn_status onnx_lower_current(onnx_ctx *c)
{
    BNN_TRY(lower_node(c));
    /* Every output something reads must now be defined. */
    for (size_t k = 0; k < c->node->n_output; k++) {
        const char *o = onnx_str(c->node->output[k]);
        onnx_name_entry *e = *o ? onnx_name_lookup(c, o) : NULL;
        if (e && e->uses > 0 && e->value_id < 0)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "output %zu ('%s') is used but not supported", k, o);
    }
    return BNN_OK;
}

/* Renumbers values as graph inputs, then params (in creation order), then node
 * results (in node order), so that the IR does not depend on where a file
 * lists its initializers or Constant nodes: export then import gives the
 * same ids back. */
static bnn_status canonical_value_order(bnn_graph *g)
{
    int nv = g->n_values;
    int *order = malloc(sizeof(int) * (size_t)(nv + 1));
    int *map = malloc(sizeof(int) * (size_t)(nv + 1));
    bnn_value *vals = malloc(sizeof(bnn_value) * (size_t)(nv + 1));
    bool *placed = calloc((size_t)nv + 1, 1);
    if (!order || !map || !vals || !placed) {
        free(order); free(map); free(vals); free(placed);
        return BNN_ERR_NOMEM;
    }
    int k = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (!placed[g->inputs[i]]) {
            placed[g->inputs[i]] = true;
            order[k++] = g->inputs[i];
        }
    for (int v = 0; v < nv; v++)
        if (!placed[v] && g->values[v].kind == BNN_VALUE_PARAM) {
            placed[v] = true;
            order[k++] = v;
        }
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_outputs; o++) {
            int v = g->nodes[i].outputs[o];
            if (!placed[v]) {
                placed[v] = true;
                order[k++] = v;
            }
        }
    for (int v = 0; v < nv; v++)
        if (!placed[v])
            order[k++] = v;
    for (int i = 0; i < nv; i++) {
        map[order[i]] = i;
        vals[i] = g->values[order[i]];
    }
    if (nv > 0) /* an empty graph has no values array at all */
        memcpy(g->values, vals, sizeof(bnn_value) * (size_t)nv);
    bnn_graph_names_changed(g);
    for (int i = 0; i < g->n_nodes; i++) {
        bnn_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0)
                n->inputs[j] = map[n->inputs[j]];
        for (int j = 0; j < n->n_outputs; j++)
            n->outputs[j] = map[n->outputs[j]];
    }
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = map[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = map[g->outputs[i]];
    free(order); free(map); free(vals); free(placed);
    return BNN_OK;
}

/* Whether t's raw_data points into the file's bytes (onnx_skeleton.c). */
static bool raw_is_lifted(const onnx_ctx *c, const Onnx__TensorProto *t)
{
    uintptr_t p = (uintptr_t)t->raw_data.data, lo = (uintptr_t)c->lifted_from;
    return c->lifted_from && p >= lo && p - lo < c->lifted_size;
}

static bnn_status import_graph(onnx_ctx *c, Onnx__ModelProto *m,
                               const bnn_onnx_import_options *opts)
{
    BNN_TRY(read_opsets(c, m));
    BNN_TRY(onnx_inline_functions(c, m));
    BNN_TRY(onnx_check_support(c));
    const Onnx__GraphProto *gp = c->graph;
    if (gp->n_sparse_initializer)
        return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED, "sparse initializers are not supported");
    /* Size the name table for every name the graph can mention. */
    size_t names = gp->n_input + gp->n_output + gp->n_initializer + 16;
    for (size_t i = 0; i < gp->n_node; i++)
        names += gp->node[i]->n_input + gp->node[i]->n_output + onnx_subgraph_names(gp->node[i]);
    size_t cap = 64;
    while (cap < 2 * names)
        cap *= 2;
    c->names = calloc(cap, sizeof *c->names);
    if (!c->names)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    c->cap_names = cap;
    for (size_t i = 0; i < gp->n_initializer; i++)
    {
        Onnx__TensorProto *t = m->graph->initializer[i];
        BNN_TRY(add_initializer(c, t));
        /* The graph has its copy now; drop the message's at once so that a
         * large model's weights are not held twice (bytes lifted out of the
         * file's, onnx_skeleton.c, are the caller's). */
        if (t->has_raw_data && !raw_is_lifted(c, t)) {
            free(t->raw_data.data);
            t->raw_data.data = NULL;
            t->raw_data.len = 0;
        }
    }
    BNN_TRY(add_graph_inputs(c, opts));
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *nd = gp->node[i];
        for (size_t k = 0; k < nd->n_input; k++)
            if (*onnx_str(nd->input[k]))
                name_insert(c, nd->input[k])->uses++;
        for (size_t k = 0; k < nd->n_output; k++)
            if (*onnx_str(nd->output[k]))
                name_insert(c, nd->output[k]);
        /* What its subgraphs read from this scope counts as read. */
        onnx_count_subgraph_uses(c, nd);
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = onnx_str(gp->output[i]->name);
        if (!*name)
            return bnn_fail(c->diag, BNN_ERR_INVALID, "graph output %zu has no name", i);
        name_insert(c, name)->uses++;
    }
    BNN_TRY(order_nodes(c));
    for (int i = 0; i < c->n_order; i++) {
        if (c->fused[i])
            continue;
        c->cur = i;
        c->node = c->order[i];
        char gen[160];
        const char *name = onnx_str(c->node->name);
        if (!*name) {
            snprintf(gen, sizeof gen, "%s_%d", onnx_str(c->node->op_type), i);
            name = gen;
        }
        c->node_name = name;
        BNN_TRY(onnx_lower_current(c));
    }
    bool *listed = calloc(c->cap_names, sizeof *listed); /* per name entry: linear time */
    if (!listed)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = onnx_str(gp->output[i]->name);
        onnx_name_entry *e = onnx_name_lookup(c, name);
        bnn_status st = BNN_OK;
        if (e && listed[e - c->names])
            st = bnn_fail(c->diag, BNN_ERR_INVALID, "graph output '%s' is listed twice", name);
        else if (!e || e->value_id < 0)
            st = bnn_fail(c->diag, BNN_ERR_INVALID, "graph output '%s' is not defined", name);
        else if (bnn_graph_add_output(c->g, e->value_id) != BNN_OK)
            st = bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
        if (st != BNN_OK) {
            free(listed);
            return st;
        }
        listed[e - c->names] = true;
    }
    free(listed);
    BNN_TRY(onnx_check_pinned(c, opts));
    if (onnx_drop_dead_shape_nodes(c->g) != BNN_OK || bnn_graph_compact(c->g) != BNN_OK ||
        canonical_value_order(c->g) != BNN_OK)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    return bnn_graph_verify(c->g, c->diag);
}

/* The message of data; the large raw_data of its initializers point into
 * data (unpacked from a skeleton without them: not copied twice), so data
 * must outlive the message and import_model is told about it. */
static Onnx__ModelProto *unpack_model(const void *data, size_t size, bnn_diag *diag)
{
    if (size == 0) {
        bnn_fail(diag, BNN_ERR_INVALID, "not a valid ONNX model (empty file)");
        return NULL;
    }
    if (size > MAX_MODEL_BYTES) {
        bnn_fail(diag, BNN_ERR_INVALID, "not a valid ONNX model (%zu bytes, more than 2 GiB)", size);
        return NULL;
    }
    if (onnx_check_limits(data, size, diag) != BNN_OK)
        return NULL;
    /* protobuf-c copies every field out of the buffer: the large raw_data
     * are lifted out first and put back as pointers into data. */
    onnx_skeleton sk;
    Onnx__ModelProto *m;
    if (onnx_skeleton_build(data, size, &sk)) {
        m = onnx__model_proto__unpack(NULL, sk.size, sk.bytes);
        for (size_t i = 0; m && m->graph && i < sk.n_lifted; i++) {
            const onnx_lifted *l = &sk.lifted[i];
            if (l->initializer < m->graph->n_initializer) {
                Onnx__TensorProto *t = m->graph->initializer[l->initializer];
                t->has_raw_data = true;
                t->raw_data.data = (uint8_t *)l->data;
                t->raw_data.len = l->len;
            }
        }
        onnx_skeleton_free(&sk);
    } else {
        m = onnx__model_proto__unpack(NULL, size, data);
    }
    if (!m)
        bnn_fail(diag, BNN_ERR_INVALID, "not a valid ONNX model (protobuf parse failed)");
    return m;
}

/* Imports and frees m; *freed: whether it tried a freed batch of 1. */
static bnn_status import_model(Onnx__ModelProto *m, const void *data, size_t size,
                               const char *base_dir, const bnn_onnx_import_options *options,
                               bool keep_fixed_batch, bnn_graph **out, bnn_diag *diag, bool *freed)
{
    *freed = false;
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        return bnn_fail(diag, BNN_ERR_INVALID, "not a valid ONNX model (no graph)");
    }
    onnx_ctx c = { .diag = diag, .base_dir = base_dir, .graph = m->graph,
                   .keep_fixed_batch = keep_fixed_batch || (options && options->keep_fixed_batch),
                   .lifted_from = data, .lifted_size = size };
    c.g = bnn_graph_create(*onnx_str(m->graph->name) ? m->graph->name : "model");
    bnn_status s;
    if (!c.g) {
        s = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    } else {
        s = import_graph(&c, m, options);
        c.g->onnx_opset = c.opset;
        for (size_t i = 0; i < m->n_metadata_props; i++) {
            const Onnx__StringStringEntryProto *kv = m->metadata_props[i];
            char *end;
            const char *v = onnx_str(kv->value);
            long long o = strtoll(v, &end, 10);
            if (strcmp(onnx_str(kv->key), BNN_ONNX_SOURCE_OPSET_KEY) == 0 && *v && !*end &&
                o >= 0 && o <= c.opset)
                c.g->onnx_opset = o;
        }
    }
    for (int i = 0; i < c.cap_known; i++)
        free(c.known[i].v);
    free(c.known);
    free(c.derived);
    free(c.names);
    free(c.order);
    free(c.fused);
    onnx_inline_release(&c);
    onnx_control_flow_release(&c);
    *freed = c.freed_batch != 0;
    for (size_t i = 0; i < m->graph->n_initializer; i++) /* data's, not the message's */
        if (raw_is_lifted(&c, m->graph->initializer[i]))
            m->graph->initializer[i]->raw_data.data = NULL;
    onnx__model_proto__free_unpacked(m, NULL);
    if (s != BNN_OK) {
        bnn_graph_destroy(c.g);
        return s;
    }
    *out = c.g;
    return BNN_OK;
}

bnn_status bnn_onnx_import_buffer(const void *data, size_t size, const char *base_dir,
                                  const bnn_onnx_import_options *options, bnn_graph **out,
                                  bnn_diag *diag)
{
    *out = NULL;
    Onnx__ModelProto *m = unpack_model(data, size, diag);
    if (!m)
        return diag->status;
    bool freed;
    if (options && options->fixed_batch_reason)
        *options->fixed_batch_reason = (bnn_diag){0};
    bnn_status s = import_model(m, data, size, base_dir, options, false, out, diag, &freed);
    if (s != BNN_OK && s != BNN_ERR_NOMEM && freed) { /* the batch is pinned: as declared */
        if (options && options->fixed_batch_reason)
            *options->fixed_batch_reason = *diag;
        m = unpack_model(data, size, diag);
        s = m ? import_model(m, data, size, base_dir, options, true, out, diag, &freed)
              : diag->status;
    }
    return s;
}

bnn_status bnn_onnx_import_file(const char *path, const bnn_onnx_import_options *options,
                                bnn_graph **out, bnn_diag *diag)
{
    *out = NULL;
    /* mapped, not read: the weights are copied once, from the page cache
     * into the graph (through the skeleton's lifted raw_data) */
    const void *buf;
    size_t size;
    bool mapped;
    bnn_status rs = bnn_map_file(path, MAX_MODEL_BYTES, &buf, &size, &mapped, diag);
    if (rs == BNN_ERR_INVALID) /* over the cap */
        return bnn_diag_prefix(diag, "not a valid ONNX model");
    if (rs != BNN_OK)
        return rs;
    /* External data lives next to the model. */
    char *dir = strdup(path);
    if (!dir) {
        bnn_unmap_file(buf, size, mapped);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    /* The message's large raw_data point into the file's bytes: they go
     * when the import is done. */
    Onnx__ModelProto *m = unpack_model(buf, size, diag);
    bool freed = false;
    if (options && options->fixed_batch_reason)
        *options->fixed_batch_reason = (bnn_diag){0};
    bnn_status s = m ? import_model(m, buf, size, dir, options, false, out, diag, &freed)
                     : diag->status;
    if (s != BNN_OK && s != BNN_ERR_NOMEM && freed) {
        /* The model's own arithmetic pins the batch of 1: import it again,
         * as declared. */
        if (options && options->fixed_batch_reason)
            *options->fixed_batch_reason = *diag;
        m = unpack_model(buf, size, diag);
        s = m ? import_model(m, buf, size, dir, options, true, out, diag, &freed) : diag->status;
    }
    bnn_unmap_file(buf, size, mapped);
    free(dir);
    return s;
}
