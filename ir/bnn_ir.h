/* bnnc's intermediate representation: a graph of values and nodes.
 *
 * A graph owns everything in it through one arena (ir/arena.c): names,
 * attributes, node operand lists and parameter data.  Nodes and values refer to
 * each other by integer id (an index into graph->values / graph->nodes), so the
 * arrays may grow and dumps print stably.  A pointer returned by
 * bnn_graph_node() or bnn_graph_value() is valid until the next node or value
 * is added; hold ids across additions, not pointers.
 *
 * Nodes are kept in topological order: producers before consumers.  Passes that
 * append nodes out of order call bnn_graph_sort().
 */
#ifndef BNN_IR_H
#define BNN_IR_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bnn_diag.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BNN_MAX_RANK 8
#define BNN_VARIADIC 255

/* ---- ops ---------------------------------------------------------------- */

typedef enum bnn_op {
    BNN_OP_NONE = -1, /* "no op": the PAIR of an op without a counterpart */
#define BNN_OP(id, ...) BNN_OP_##id,
#include "ops.def"
    BNN_OP_COUNT
} bnn_op;

/* FLAGS of an op row (see ops.def). */
enum {
    BNN_OPF_ALIAS = 1 << 0,    /* output may share the input's buffer */
    BNN_OPF_BAYESIAN = 1 << 1, /* a Bayesian layer */
};

typedef struct bnn_op_info {
    const char *name;       /* as in dumps, e.g. "conv", "bnn.dense_reparam" */
    int min_inputs;
    int max_inputs;         /* BNN_VARIADIC: any number */
    int n_outputs;
    const char *attrs;      /* schema, see ops.def */
    const char *onnx_name;  /* ONNX op type it corresponds to, NULL if none */
    int onnx_since;         /* > 0: maps 1:1 from this opset on (ops.def ONNX()) */
    unsigned flags;         /* BNN_OPF_* */
    unsigned trainable;     /* bit k: operand k holds layer parameters */
    bnn_op pair;            /* Bayesian form / deterministic layer, or BNN_OP_NONE */
} bnn_op_info;

const bnn_op_info *bnn_op_get(bnn_op op);
/* Returns BNN_OP_COUNT for a name no op has. */
bnn_op bnn_op_find(const char *name);
/* The op whose row maps ONNX op type `onnx_name` 1:1 (ops.def ONNX()), or
 * BNN_OP_COUNT. */
bnn_op bnn_op_find_onnx(const char *onnx_name);
bool bnn_op_is_bayesian(bnn_op op);
/* Whether the op's output may share its input's buffer. */
bool bnn_op_may_alias(bnn_op op);
/* Whether operand k of the op holds the layer's parameters. */
bool bnn_op_operand_trainable(bnn_op op, int k);
/* The default the op's schema gives attribute `name`; false when it gives
 * none (or the attribute is of another kind). */
bool bnn_op_default_float(bnn_op op, const char *name, float *out);
bool bnn_op_default_int(bnn_op op, const char *name, int64_t *out);
/* The default as text ("reparam"); NULL when there is none. */
const char *bnn_op_default_text(bnn_op op, const char *name, char *buf, size_t n);

/* ---- element types and shapes ------------------------------------------ */

/* Numbered as ONNX's TensorProto.DataType, so the frontend maps them 1:1. */
typedef enum bnn_dtype {
    BNN_UNDEFINED = 0,
    BNN_F32 = 1,
    BNN_U8 = 2,
    BNN_I8 = 3,
    BNN_U16 = 4,
    BNN_I16 = 5,
    BNN_I32 = 6,
    BNN_I64 = 7,
    BNN_STRING = 8,
    BNN_BOOL = 9,
    BNN_F16 = 10,
    BNN_F64 = 11,
    BNN_U32 = 12,
    BNN_U64 = 13,
    BNN_BF16 = 16,
} bnn_dtype;

/* "f32", "i64", ...; NULL for a value outside the enum. */
const char *bnn_dtype_name(bnn_dtype dtype);
/* BNN_UNDEFINED for an unknown name. */
bnn_dtype bnn_dtype_from_name(const char *name);
/* Bytes per element; 0 for BNN_UNDEFINED and BNN_STRING. */
size_t bnn_dtype_size(bnn_dtype dtype);

/* A dimension is a concrete size (>= 0), unknown (BNN_DIM_UNKNOWN, printed
 * "?"), or a symbol of the graph such as the batch size N (<= -2; symbol k is
 * stored as -2 - k and its name is graph->symbols[k]). */
#define BNN_DIM_UNKNOWN ((int64_t)-1)
static inline bool bnn_dim_is_known(int64_t dim) { return dim >= 0; }
static inline bool bnn_dim_is_symbol(int64_t dim) { return dim <= -2; }
static inline int bnn_dim_symbol_index(int64_t dim) { return (int)(-2 - dim); }
static inline int64_t bnn_dim_from_symbol(int index) { return -2 - (int64_t)index; }

typedef struct bnn_shape {
    int rank; /* -1 when even the rank is unknown */
    int64_t dims[BNN_MAX_RANK];
} bnn_shape;

/* Elements in the shape; -1 if any dimension is not concrete or the product
 * does not fit in int64. */
int64_t bnn_shape_numel(const bnn_shape *shape);
bool bnn_shape_equal(const bnn_shape *a, const bnn_shape *b);
bool bnn_shape_is_concrete(const bnn_shape *shape);

/* ---- attributes --------------------------------------------------------- */

typedef enum bnn_attr_kind {
    BNN_ATTR_INT,
    BNN_ATTR_FLOAT,
    BNN_ATTR_STRING,
    BNN_ATTR_INTS,
    BNN_ATTR_FLOATS,
} bnn_attr_kind;

typedef struct bnn_attr {
    const char *name; /* arena */
    bnn_attr_kind kind;
    int64_t i;
    float f;
    const char *s;    /* arena, NUL-terminated */
    int count;        /* elements of ints or floats */
    int64_t *ints;    /* arena */
    float *floats;    /* arena */
} bnn_attr;

/* An op row's attribute schema (ops.def ATTRS). */
#define BNN_SCHEMA_MAX_ATTRS 16
#define BNN_SCHEMA_MAX_NAME 32

typedef struct bnn_schema_attr {
    char name[BNN_SCHEMA_MAX_NAME];
    bnn_attr_kind kind;
} bnn_schema_attr;

/* Parses an ops.def schema ("name:kind name:kind=default ..."), at most `max`
 * entries.  Returns the number of attributes, or -1 when the schema is
 * malformed: an unknown kind, an empty or overlong name, a repeated name, more
 * than `max` entries. */
int bnn_schema_parse(const char *schema, bnn_schema_attr *attrs, int max);

/* True, with *kind set, when the schema lists attribute `name`. */
bool bnn_schema_find(const char *schema, const char *name, bnn_attr_kind *kind);

/* "int", "float", "string", "ints", "floats". */
const char *bnn_attr_kind_name(bnn_attr_kind kind);



/* ---- Bayesian layers' prior --------------------------------------------- */

/* The default prior N(0, 0.1^2) of bnn.dense_reparam / bnn.conv_reparam, used
 * wherever a layer has no prior_mu / prior_sigma attribute (shape checks, the
 * KL, import) and by to-bnn.  The text form is the pass option's default. */
#define BNN_PRIOR_MU_DEFAULT 0.0f
#define BNN_PRIOR_SIGMA_DEFAULT 0.1f
#define BNN_PRIOR_SIGMA_DEFAULT_TEXT "0.1"
/* A Bayesian layer's sigma = softplus(rho), and back, in double and without
 * overflow: what to-bnn, the Laplace fit and convert write rho with. */
static inline double bnn_sigma_of_rho(double rho)
{
    return rho > 20 ? rho : log1p(exp(rho));
}
static inline double bnn_rho_of_sigma(double sigma)
{
    return sigma > 20 ? sigma + log1p(-exp(-sigma)) : log(expm1(sigma));
}

/* ---- values and nodes --------------------------------------------------- */

typedef enum bnn_value_kind {
    BNN_VALUE_INPUT, /* a graph input, fed at run time */
    BNN_VALUE_PARAM, /* holds data: constant or trainable */
    BNN_VALUE_NODE,  /* produced by a node */
} bnn_value_kind;

typedef struct bnn_value {
    const char *name; /* arena; unique in the graph */
    bnn_value_kind kind;
    bnn_dtype dtype;
    bnn_shape shape;
    int producer;     /* node id for BNN_VALUE_NODE, else -1 */
    bool trainable;   /* params only */
    void *data;       /* params only: arena, 64-byte aligned, little-endian host order */
    size_t nbytes;
} bnn_value;

typedef struct bnn_node {
    bnn_op op;
    const char *name; /* arena; the ONNX node name, "" if it had none */
    int n_inputs;
    int *inputs;      /* arena; value ids, -1 for an absent optional input */
    int n_outputs;
    int *outputs;     /* arena; value ids */
    int n_attrs;
    bnn_attr *attrs;  /* arena */
    bool dead;        /* removed by a pass; bnn_graph_compact() drops it */
} bnn_node;

typedef struct bnn_arena bnn_arena;

typedef struct bnn_graph {
    bnn_arena *arena;  /* owns names, attributes, operand lists, param data */
    const char *name;
    bnn_value *values; /* owned (malloc) */
    int n_values, cap_values;
    bnn_node *nodes;   /* owned (malloc) */
    int n_nodes, cap_nodes;
    int *inputs;       /* owned (malloc): value ids of the graph inputs */
    int n_inputs, cap_inputs;
    int *outputs;      /* owned (malloc): value ids of the graph outputs */
    int n_outputs, cap_outputs;
    const char **symbols; /* owned array of arena strings: names of symbolic dims */
    int n_symbols, cap_symbols;
    int64_t onnx_opset;   /* the default-domain opset the model was imported at, 0 if none */
    struct bnn_name_index *value_index; /* owned: name -> value id, see bnn_graph_find_value */
} bnn_graph;

/* ---- arena -------------------------------------------------------------- */

/* Memory that lives as long as the graph. Returns zeroed memory aligned to
 * `align` (a power of two <= 4096), or NULL when out of memory. */
void *bnn_arena_alloc(bnn_arena *arena, size_t size, size_t align);
char *bnn_arena_strdup(bnn_arena *arena, const char *s);

/* ---- building and querying graphs --------------------------------------- */

bnn_graph *bnn_graph_create(const char *name);
void bnn_graph_destroy(bnn_graph *graph);

static inline bnn_value *bnn_graph_value(const bnn_graph *g, int id) { return &g->values[id]; }
static inline bnn_node *bnn_graph_node(const bnn_graph *g, int id) { return &g->nodes[id]; }

/* The id of symbol `name` (created if new), as a dim code for bnn_shape. */
int64_t bnn_graph_symbol(bnn_graph *graph, const char *name);

/* Each returns the new value's id, or -1 when out of memory or the name is
 * taken (no diag: the caller knows the place).  A NULL or "" name gets a fresh
 * one ("%1", "%2", ...). */
int bnn_graph_add_value(bnn_graph *graph, const char *name, bnn_dtype dtype,
                        const bnn_shape *shape);
/* Copies nbytes of data (which must match dtype and shape) into the arena. */
int bnn_graph_add_param(bnn_graph *graph, const char *name, bnn_dtype dtype,
                        const bnn_shape *shape, const void *data, size_t nbytes,
                        bool trainable);
/* Marks an existing BNN_VALUE_NODE/INPUT value as a graph input or output. */
bnn_status bnn_graph_add_input(bnn_graph *graph, int value_id);
bnn_status bnn_graph_add_output(bnn_graph *graph, int value_id);

/* Appends a node; outputs must be values not yet produced by another node
 * (they become BNN_VALUE_NODE with this producer). Returns the node id or -1. */
int bnn_graph_add_node(bnn_graph *graph, bnn_op op, const char *name,
                       const int *inputs, int n_inputs, const int *outputs, int n_outputs);

/* -1 when no value has that name.  Constant time: a hash index follows values
 * as they are added, and notices when values were dropped or permuted; code
 * that renames a value in place (writes values[i].name) calls
 * bnn_graph_names_changed() afterwards. */
int bnn_graph_find_value(const bnn_graph *graph, const char *name);
void bnn_graph_names_changed(bnn_graph *graph);
/* -1 when no live node has that name. */
int bnn_graph_find_node(const bnn_graph *graph, const char *name);

/* Attributes: set replaces an attribute of the same name. Returns BNN_ERR_NOMEM
 * on allocation failure. */
bnn_status bnn_node_set_int(bnn_graph *graph, int node_id, const char *name, int64_t v);
bnn_status bnn_node_set_float(bnn_graph *graph, int node_id, const char *name, float v);
bnn_status bnn_node_set_string(bnn_graph *graph, int node_id, const char *name, const char *v);
bnn_status bnn_node_set_ints(bnn_graph *graph, int node_id, const char *name,
                             const int64_t *v, int count);
bnn_status bnn_node_set_floats(bnn_graph *graph, int node_id, const char *name,
                               const float *v, int count);
bnn_status bnn_node_copy_attrs(bnn_graph *graph, int dst_node, const bnn_graph *src_graph,
                               int src_node);
/* NULL when absent. */
const bnn_attr *bnn_node_attr(const bnn_node *node, const char *name);
int64_t bnn_node_int(const bnn_node *node, const char *name, int64_t fallback);
float bnn_node_float(const bnn_node *node, const char *name, float fallback);
const char *bnn_node_string(const bnn_node *node, const char *name, const char *fallback);
/* The attribute, or else the default its op's schema gives (ops.def); asserts
 * that the schema gives one. */
float bnn_node_attr_float(const bnn_node *node, const char *name);
int64_t bnn_node_attr_int(const bnn_node *node, const char *name);
/* Number of ints (0 when absent), *ints pointed at them. */
int bnn_node_ints(const bnn_node *node, const char *name, const int64_t **ints);

/* Replaces every use of value `from` (node inputs and graph outputs) by `to`. */
void bnn_graph_replace_uses(bnn_graph *graph, int from, int to);
/* Number of live nodes reading the value, plus one if it is a graph output.
 * Linear in the graph: a pass asking for many values uses bnn_graph_use_counts. */
int bnn_graph_use_count(const bnn_graph *graph, int value_id);
/* The use count of every value at once (malloc'ed, n_values + 1 ints, owned by
 * the caller); NULL when out of memory. */
int *bnn_graph_use_counts(const bnn_graph *graph);

/* Reorders live nodes topologically (stable where already ordered). Fails on a
 * cycle, naming a node on it. */
bnn_status bnn_graph_sort(bnn_graph *graph, bnn_diag *diag);
/* Drops dead nodes and values nothing refers to, renumbering ids.  Params
 * whose name starts with BNN_RESERVED_PARAM_PREFIX stay even when no node
 * reads them: they carry settings of the model in its file (a regressor's
 * learned noise scale, "bnnc.noise_log_sigma": docs/uncertainty.md). */
#define BNN_RESERVED_PARAM_PREFIX "bnnc."
bnn_status bnn_graph_compact(bnn_graph *graph);
/* Drops dead nodes and the values only they produced, renumbering ids; keeps
 * params and every other value, in order (dropping unused params is
 * bnn_graph_compact's, i.e. dce's, job).  The pass manager runs it after every pass. */
bnn_status bnn_graph_drop_dead_nodes(bnn_graph *graph);

/* A deep copy with its own arena; NULL when out of memory. */
bnn_graph *bnn_graph_clone(const bnn_graph *graph);
/* The same, except that params point at graph's data rather than copies of
 * it: graph must outlive the clone, and the clone must not write params. For
 * re-inferring shapes (sessions) without holding every weight twice. */
bnn_graph *bnn_graph_clone_borrowing(const bnn_graph *graph);

/* ---- shape inference, verification, text -------------------------------- */

/* Sets dtype and shape of the node's outputs from its inputs and attributes
 * (ir/infer.c); on failure names the node, its op and what does not fit. */
bnn_status bnn_graph_infer_node(bnn_graph *graph, int node_id, bnn_diag *diag);
/* Runs bnn_graph_infer_node over every live node in order. */
bnn_status bnn_graph_infer(bnn_graph *graph, bnn_diag *diag);

/* Checks SSA (one producer per value), that every input is defined before use,
 * arities, attribute names and kinds against the op's schema, param data
 * sizes, and that recorded shapes equal what inference gives. */
bnn_status bnn_graph_verify(const bnn_graph *graph, bnn_diag *diag);

/* The text form (see docs/ir.md). Returns BNN_ERR_IO if writing fails. */
bnn_status bnn_graph_print(const bnn_graph *graph, FILE *out);
/* Parses the text form; `filename` only names the place in messages
 * ("FILE:LINE:COL: what").  The printer writes a param's data inline
 * (`= [1, 2, ...]`) when it has at most BNN_PRINT_MAX_INLINE elements; larger
 * params print without data and parse back zero-filled, so print(parse(text))
 * gives text back either way. */
#define BNN_PRINT_MAX_INLINE 16
bnn_status bnn_graph_parse(const char *text, const char *filename, bnn_graph **out,
                           bnn_diag *diag);

/* The type as messages show it, "f32[N,3,?]" ("f32[*]" when even the rank is
 * unknown, "?" for an undefined dtype), written into buf (size n). */
const char *bnn_type_text(const bnn_graph *graph, bnn_dtype dtype, const bnn_shape *shape,
                          char *buf, size_t n);

/* A label for messages, "node 'conv1' (conv2d)", written into buf (size n). */
const char *bnn_node_label(const bnn_graph *graph, int node_id, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
