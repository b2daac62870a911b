/* Internals shared by the ONNX frontend's files: TensorProto decoding
 * (onnx_data.c), the import walk (onnx_import.c) and the op lowering table
 * (onnx_lower.c).  Protobuf objects live only while one import runs; nothing
 * here leaks into the IR.
 */
#ifndef BNN_ONNX_IMPL_H
#define BNN_ONNX_IMPL_H

#include "bnn_onnx.h"
#include "onnx.pb-c.h"

/* protobuf-c leaves absent proto2 strings NULL. */
static inline const char *onnx_str(const char *s) { return s ? s : ""; }

/* ---- TensorProto -> bytes (onnx_data.c) ---------------------------------- */

/* A decoded tensor: dtype, concrete shape and malloc'd little-endian bytes in
 * host order (data may be NULL when nbytes is 0), or, when borrowed, bytes
 * that belong to the TensorProto. */
typedef struct onnx_data {
    bnn_dtype dtype;
    bnn_shape shape;
    void *data;
    size_t nbytes;
    bool borrowed;
} onnx_data;

/* Decodes t (typed fields, raw_data or external data under base_dir, which may
 * be NULL to forbid external data).  `what` names the tensor in messages, e.g.
 * "initializer 'fc.weight'".  Every size is checked before allocating. */
bnn_status bnn_onnx_decode_tensor(const Onnx__TensorProto *t, const char *base_dir,
                                  const char *what, onnx_data *out, bnn_diag *diag);

/* The same, but data may point into t's raw_data (borrowed, valid while t
 * lives) instead of a copy. */
bnn_status bnn_onnx_view_tensor(const Onnx__TensorProto *t, const char *base_dir,
                                const char *what, onnx_data *out, bnn_diag *diag);
/* Frees data unless borrowed. */
void onnx_data_release(onnx_data *d);

/* bnn_dtype for an ONNX TensorProto.DataType, BNN_UNDEFINED if bnnc lacks it. */
bnn_dtype bnn_onnx_dtype(int32_t onnx_type);
/* "FLOAT", "STRING", ... for messages. */
const char *bnn_onnx_type_name(int32_t onnx_type);

/* ---- import context (onnx_import.c) -------------------------------------- */

/* What the importer knows about an i64 value's contents (shape arithmetic):
 * entries may be symbolic dims (bit i of sym set: v[i] is a dim code, since a
 * plain entry may be negative too).  rank is 0 (scalar) or 1; n <= 64. */
#define ONNX_KNOWN_MAX 64
typedef struct onnx_known {
    bool valid;
    int rank;
    int n;
    uint64_t sym;
    int64_t *v; /* malloc */
} onnx_known;

typedef struct onnx_name_entry {
    const char *key; /* borrowed from the ModelProto */
    int value_id;    /* -1 until defined */
    int uses;        /* ONNX node inputs and graph outputs that read it */
    bool listed_input; /* named by a graph input already */
} onnx_name_entry;

typedef struct onnx_ctx {
    bnn_graph *g;
    bnn_diag *diag;
    const char *base_dir;
    const Onnx__GraphProto *graph;
    int64_t opset;       /* default domain */
    int64_t bnnc_opset;  /* ai.bnnc, 0 if not imported */
    /* name table (open addressing, power-of-two size) */
    onnx_name_entry *names;
    size_t cap_names, n_names;
    /* per value id */
    onnx_known *known;
    int cap_known;
    /* nodes in topological order and a flag per node consumed by a fusion */
    const Onnx__NodeProto **order;
    int n_order;
    bool *fused;
    /* the node being lowered */
    int cur;
    const Onnx__NodeProto *node;
    const char *node_name; /* the ONNX name or a generated one */
    /* owned: model-local functions expanded (onnx_function.c); graph then
     * points at its copy of the model's graph */
    struct onnx_inline *inlined;
    /* control flow (onnx_control_flow.c): the subgraph scope whose nodes are
     * being lowered (NULL at the top level), and owned copies and names */
    const struct onnx_scope *scope;
    struct onnx_cf_store *cf;
    /* the leading 1 of every input became this symbol (bnn_onnx.h), or 0 */
    int64_t freed_batch;
    /* the symbol a declared batch of 1 became, freed by the import or by
     * --input-shape (NAME=N,...), or 0: a Reshape target's leading 1 is then
     * that batch (onnx_lower_layout.c) */
    int64_t batch_of_one;
    bool keep_fixed_batch;
    /* the model's bytes: raw_data pointing in here was lifted out before
     * unpacking (onnx_skeleton.c) and is not the message's to free */
    const void *lifted_from;
    size_t lifted_size;
    /* weights derived (transposed, scaled) from a shared param, kept so that
     * every reader gets the same one: an unrolled loop keeps its weights
     * tied (onnx_lower_dense.c); malloc */
    struct onnx_derived_weight *derived;
    int n_derived, cap_derived;
} onnx_ctx;

typedef struct onnx_derived_weight {
    int src, out;
    bool trans;
    float alpha;
} onnx_derived_weight;

/* Failure naming the current node: "node 'NAME' (OpType): ...". */
bnn_status onnx_node_fail(onnx_ctx *c, bnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

onnx_name_entry *onnx_name_lookup(onnx_ctx *c, const char *name);
/* Inserts name (borrowed: it must outlive the import) if new; NULL: no memory. */
onnx_name_entry *onnx_name_insert(onnx_ctx *c, const char *name);
/* Binds an ONNX name to an IR value. */
bnn_status onnx_bind_name(onnx_ctx *c, const char *name, int value_id);
/* Adds initializer t as a param named `name` (borrowed) and binds it. */
bnn_status onnx_add_initializer(onnx_ctx *c, const Onnx__TensorProto *t, const char *name);
/* Lowers c->node (c->node_name set) and checks that every output something
 * reads is defined. */
bnn_status onnx_lower_current(onnx_ctx *c);
/* Value id of the node's input k: -1 when absent (k out of range or ""). */
int onnx_input(onnx_ctx *c, int k);
int onnx_n_inputs(const onnx_ctx *c);
/* Whether output k exists and something reads it. */
bool onnx_output_used(onnx_ctx *c, int k);
/* Creates the IR value for ONNX output k (named as in the model). */
int onnx_define_output(onnx_ctx *c, int k);
/* Appends a node for the current ONNX node with the given op and inputs,
 * producing output 0.  Returns the node id or -1 (diag filled). */
int onnx_emit(onnx_ctx *c, bnn_op op, const int *inputs, int n_inputs);
/* Runs shape inference on the node (after its attributes are set). */
bnn_status onnx_infer(onnx_ctx *c, int node_id);
/* Binds ONNX output k to a new param holding data (for folded constants). */
bnn_status onnx_output_param(onnx_ctx *c, int k, bnn_dtype dtype, const bnn_shape *shape,
                             const void *data, size_t nbytes);
/* A fresh value name derived from base, free among ONNX and IR names. */
const char *onnx_fresh_name(onnx_ctx *c, const char *base, char *buf, size_t n);

/* Binds output 0 to a constant holding v as dtype (I64, or I32 when the
 * shape arithmetic runs in int32 as paddle2onnx's does). */
bnn_status onnx_known_param(onnx_ctx *c, bnn_dtype dtype, int rank, const int64_t *v, int n);
/* The element type folded contents of input value `id` keep: I32 for an
 * i32 value, else I64. */
bnn_dtype onnx_known_dtype(onnx_ctx *c, int id);
/* Whether entry i of k is a dim the import does not know at all (neither a
 * size nor a symbol): it may not be matched against any other dim. */
static inline bool onnx_known_unknown(const onnx_known *k, int i)
{
    return (k->sym >> i & 1) && k->v[i] == BNN_DIM_UNKNOWN;
}

/* Marks shape arithmetic nothing reads any more dead (onnx_shape_fold.c). */
bnn_status onnx_drop_dead_shape_nodes(bnn_graph *g);

/* Known i64 contents of a value (recorded or read from an i64/i32 param).
 * A symbolic entry (bit set in sym) is a dim code: a symbol, or
 * BNN_DIM_UNKNOWN for a dim nobody named. */
bool onnx_known_get(onnx_ctx *c, int value_id, onnx_known *out);
bnn_status onnx_known_set(onnx_ctx *c, int value_id, int rank, const int64_t *v, int n,
                          uint64_t sym);

/* Attributes of the current node; each checks the attribute's kind. */
const Onnx__AttributeProto *onnx_attr(const onnx_ctx *c, const char *name);
bnn_status onnx_attr_int(onnx_ctx *c, const char *name, int64_t fallback, int64_t *out);
bnn_status onnx_attr_float(onnx_ctx *c, const char *name, float fallback, float *out);
/* *out points into the model (valid during the import); "" fallback allowed. */
bnn_status onnx_attr_string(onnx_ctx *c, const char *name, const char *fallback,
                            const char **out);
/* count -1 when absent. */
bnn_status onnx_attr_ints(onnx_ctx *c, const char *name, const int64_t **out, int *count);
bnn_status onnx_attr_floats(onnx_ctx *c, const char *name, const float **out, int *count);

/* ---- --input-shape (onnx_input_shape.c) ----------------------------------- */

/* Fails when an override names no graph input (or an initializer). */
bnn_status onnx_check_input_shapes(onnx_ctx *c, const bnn_onnx_import_options *opts);
/* Replaces *shape (graph input `name`, as declared) by its override, if any. */
bnn_status onnx_override_input_shape(onnx_ctx *c, const bnn_onnx_import_options *opts,
                                     const char *name, bnn_shape *shape);

/* Decides whether the model's fixed batch of 1 is freed (c->freed_batch). */
bnn_status onnx_free_fixed_batch(onnx_ctx *c, const bnn_onnx_import_options *opts);

/* Fails naming a reshape whose fixed target pins a dim --input-shape freed. */
bnn_status onnx_check_pinned(onnx_ctx *c, const bnn_onnx_import_options *opts);

/* ---- model-local functions (onnx_function.c) ----------------------------- */

/* Expands every call of a function of m into its body (c->graph then points
 * at the expanded graph); nothing to do when m has no functions. */
bnn_status onnx_inline_functions(onnx_ctx *c, const Onnx__ModelProto *m);
/* Frees what onnx_inline_functions made. */
void onnx_inline_release(onnx_ctx *c);

/* ---- control flow (onnx_control_flow.c) ----------------------------------- */

/* If, Loop and Scan: a branch whose condition is a constant at import is
 * inlined, one whose condition is data runs both branches and selects
 * (same output shapes only); Loop and Scan with a static trip count are
 * unrolled, up to ONNX_MAX_UNROLLED_NODES body nodes per model. */
#define ONNX_MAX_UNROLLED_NODES 10000
/* The largest constant the importer makes itself (ConstantOfShape of a
 * constant shape): a model's own tensors come from its file, and a few bytes
 * of shape must not turn into gigabytes at import. */
#define ONNX_MAX_FOLDED_BYTES ((uint64_t)16 << 20)
bnn_status onnx_lower_if(onnx_ctx *c);
bnn_status onnx_lower_loop(onnx_ctx *c);
bnn_status onnx_lower_scan(onnx_ctx *c);
/* Names node's subgraphs (recursively) mention: sizes the name table. */
size_t onnx_subgraph_names(const Onnx__NodeProto *node);
/* Counts every name node's subgraphs read as a use (an over-count for names
 * local to a subgraph, which is harmless: it only keeps params shared). */
void onnx_count_subgraph_uses(onnx_ctx *c, const Onnx__NodeProto *node);
/* Frees the copies and names control flow made. */
void onnx_control_flow_release(onnx_ctx *c);

/* onnx_lower_rnn.c: LSTM, GRU and RNN (default activations). */
bnn_status onnx_lower_lstm(onnx_ctx *c);
bnn_status onnx_lower_gru(onnx_ctx *c);
bnn_status onnx_lower_rnn(onnx_ctx *c);
/* Whether every reader of ONNX name `name` still to be lowered is an LSTM,
 * GRU or RNN reading it as its initial state (inputs 5, 6), which the kernels
 * share across the batch when its batch is 1: Expand and ConstantOfShape of a
 * run-time batch then build the state at batch 1 (PyTorch's zero state). */
bool onnx_feeds_rnn_state_only(onnx_ctx *c, const char *name);

/* Fails with one message listing every op of c->graph the table lacks (with
 * node counts and the model's opset); onnx_support.c. */
bnn_status onnx_check_support(onnx_ctx *c);

/* ---- the lowering table (onnx_lower.c) ----------------------------------- */

typedef bnn_status (*onnx_lower_fn)(onnx_ctx *c);

/* The table's row for an op (domain "" or "ai.bnnc") and its lowering
 * function; NULL for an op the table lacks. */
const bnn_onnx_op_support *onnx_op_lookup(const char *domain, const char *op_type,
                                          onnx_lower_fn *fn);

/* How many inputs the op (a row of the table) takes at this opset; -1: any. */
int onnx_op_max_inputs(const bnn_onnx_op_support *op, int64_t opset);

/* Helpers for lowering functions (onnx_lower.c). */
bnn_status onnx_need_input(onnx_ctx *c, int k, int *id);   /* fails if input k is absent */
const bnn_value *onnx_val(onnx_ctx *c, int id);
bool onnx_is_param(onnx_ctx *c, int id);
/* A param whose data or shape this import may rewrite: the ONNX name `name`
 * is bound to it and read by exactly one node input. */
bool onnx_param_sole_use(onnx_ctx *c, int id, const char *name);
/* Fails when output k (an extra output IR ops lack) is read by anything. */
bnn_status onnx_unused_output(onnx_ctx *c, int k, const char *what);
bnn_status onnx_set_ints(onnx_ctx *c, int nid, const char *name, const int64_t *v, int n);
bnn_status onnx_set_int(onnx_ctx *c, int nid, const char *name, int64_t v);
bnn_status onnx_set_float(onnx_ctx *c, int nid, const char *name, float v);
bnn_status onnx_set_string(onnx_ctx *c, int nid, const char *name, const char *v);
/* onnx_emit with a status: *nid gets the node id. */
bnn_status onnx_emit_node(onnx_ctx *c, bnn_op op, const int *in, int n, int *nid);
/* One node of a chain a lowering builds: op over in[0..n), its output a
 * fresh value named after the node and tag, or the ONNX node's output when
 * last; the caller sets attributes through *nid, then calls onnx_infer. */
bnn_status onnx_emit_step(onnx_ctx *c, bnn_op op, const int *in, int n, bool last,
                          const char *tag, int *out, int *nid);
/* A float32 constant named after the node and tag (data copied). */
bnn_status onnx_add_f32_const(onnx_ctx *c, const char *tag, const bnn_shape *shape,
                              const float *data, int *out);
/* The same for an op of n_out outputs (at most 8): the ONNX node's named
 * outputs, fresh values for the ones it leaves out. */
bnn_status onnx_emit_outputs(onnx_ctx *c, bnn_op op, const int *in, int n_in, int n_out, int *nid);

/* A one-element numeric param as a double; false for anything else. */
bool onnx_param_scalar(onnx_ctx *c, int id, double *out);
/* The known contents of input k (what names it in messages) as a list of at
 * most `max` entries; fails when they are not known. */
bnn_status onnx_const_list(onnx_ctx *c, int k, const char *what, int max, onnx_known *out);

/* Each op family's lowerings are in onnx_lower_<family>.c, the family named
 * as in runtime/kernels/. */

/* onnx_lower_elementwise.c: Add, Sub, Mul, Div (pre-7 broadcasting of the
 * operands: in[1] may be replaced by an aligned value; Add/Sub/Mul/Div of
 * known constant i64/i32 contents fold into a constant, returning whether it
 * did, *st the status), PRelu, Identity, Dropout and Clip. */
bnn_status onnx_lower_add(onnx_ctx *c);
bnn_status onnx_lower_sub(onnx_ctx *c);
bnn_status onnx_lower_mul(onnx_ctx *c);
bnn_status onnx_lower_div(onnx_ctx *c);
bnn_status onnx_lower_prelu(onnx_ctx *c);
bnn_status onnx_lower_identity(onnx_ctx *c);
bnn_status onnx_lower_dropout(onnx_ctx *c);
bnn_status onnx_lower_clip(onnx_ctx *c);
bnn_status onnx_legacy_broadcast(onnx_ctx *c, int *in);
bool onnx_fold_binary(onnx_ctx *c, bnn_op op, const int *in, bnn_status *st);

/* onnx_lower_softmax.c: Softmax and LogSoftmax, and the fusion of
 * Flatten(x, axis) -> Softmax -> Reshape(Shape(x)) into a pre-13 softmax,
 * tried when lowering a Flatten: returns whether it fused (*st: status). */
bnn_status onnx_lower_softmax(onnx_ctx *c);
bnn_status onnx_lower_log_softmax(onnx_ctx *c);
bool onnx_fuse_pre13_softmax(onnx_ctx *c, int x, int64_t axis, bnn_status *st);

/* onnx_lower_quant.c: DynamicQuantizeLinear (three outputs). */
bnn_status onnx_lower_dynamic_quantize_linear(onnx_ctx *c);
bnn_status onnx_lower_conv_integer(onnx_ctx *c);
bnn_status onnx_lower_qlinear_conv(onnx_ctx *c);

/* onnx_lower_loss.c: SoftmaxCrossEntropyLoss (its log_prob output is always
 * an IR output; NegativeLogLikelihoodLoss maps 1:1 from its ops.def row). */
bnn_status onnx_lower_softmax_cross_entropy_loss(onnx_ctx *c);

/* onnx_lower_dense.c: Gemm and MatMul (into dense when the weight is
 * constant). */
bnn_status onnx_lower_gemm(onnx_ctx *c);
bnn_status onnx_lower_matmul(onnx_ctx *c);

/* onnx_lower_conv.c: Conv, and the window attributes it shares with pooling
 * and ConvReparam: onnx_read_window reads strides, dilations (when asked),
 * pads and auto_pad (SAME_* resolved from input x's spatial dims, so
 * w->nsp and w->kernel must be set); onnx_conv_window sets the kernel from
 * weight wid and reads group too; onnx_set_window writes them onto node nid
 * (kernel_shape only when `kernel`). */
typedef struct onnx_window {
    int nsp;            /* spatial dims */
    int64_t kernel[3];  /* kernel extent per spatial dim */
    int64_t strides[3], dilations[3], pads[6];
    int64_t ceil_mode;
} onnx_window;
bnn_status onnx_read_window(onnx_ctx *c, int x, onnx_window *w, bool dilations);
bnn_status onnx_conv_window(onnx_ctx *c, int x, int wid, onnx_window *w, int64_t *group);
bnn_status onnx_set_window(onnx_ctx *c, int nid, const onnx_window *w, bool kernel);
bnn_status onnx_lower_conv(onnx_ctx *c);
/* onnx_lower_conv3d.c: a 3-D Conv as a 2-D one over depth windows unrolled
 * into channels (onnx_lower_conv sends rank-5 weights there). */
bnn_status onnx_lower_conv3d(onnx_ctx *c);

/* onnx_lower_conv_transpose.c: ConvTranspose, auto_pad and output_shape
 * resolved into pads and output_padding.  onnx_conv_transpose_window reads
 * the attributes of the node (x input x, weight input w) the way
 * ConvTranspose has them; onnx_set_conv_transpose_window writes them onto
 * node nid. */
typedef struct onnx_ct_window {
    int nsp; /* spatial dims: 1, 2, or 3 (lowered by onnx_lower_conv_transpose3d) */
    int64_t kernel[3], strides[3], dilations[3], pads[6], output_padding[3];
    int64_t group;
} onnx_ct_window;
bnn_status onnx_conv_transpose_window(onnx_ctx *c, int x, int w, onnx_ct_window *win);
bnn_status onnx_set_conv_transpose_window(onnx_ctx *c, int nid, const onnx_ct_window *w);
bnn_status onnx_lower_conv_transpose(onnx_ctx *c);
/* onnx_lower_conv3d.c: a 3-D ConvTranspose lowered onto the 2-D one, its
 * window read by onnx_conv_transpose_window. */
bnn_status onnx_lower_conv_transpose3d(onnx_ctx *c, const onnx_ct_window *w);

/* onnx_lower_pool.c: MaxPool and AveragePool. */
bnn_status onnx_lower_max_pool(onnx_ctx *c);
bnn_status onnx_lower_avg_pool(onnx_ctx *c);

/* onnx_lower_resample.c: Resize and Upsample into resize, their roi, scales
 * and sizes inputs resolved (they must be constants at import). */
bnn_status onnx_lower_resize(onnx_ctx *c);
bnn_status onnx_lower_upsample(onnx_ctx *c);
/* and MaxUnpool, its output size resolved into the spatial output_shape */
bnn_status onnx_lower_max_unpool(onnx_ctx *c);

/* onnx_lower_norm.c: BatchNormalization, and LayerNormalization expanded
 * into reductions and elementwise ops. */
bnn_status onnx_lower_batch_norm(onnx_ctx *c);
bnn_status onnx_lower_layer_norm(onnx_ctx *c);

/* onnx_lower_bayes.c: the ai.bnnc layers DenseReparam, ConvReparam and
 * ConvTransposeReparam, and WeightReparam (a weight on its own). */
bnn_status onnx_lower_dense_reparam(onnx_ctx *c);
bnn_status onnx_lower_conv_reparam(onnx_ctx *c);
bnn_status onnx_lower_conv_transpose_reparam(onnx_ctx *c);
bnn_status onnx_lower_weight_reparam(onnx_ctx *c);

/* onnx_lower_layout.c: Shape, Gather, Squeeze, Unsqueeze, Concat, Flatten,
 * Reshape, Transpose and Pad; shape arithmetic of known contents folds. */
bnn_status onnx_lower_shape(onnx_ctx *c);
bnn_status onnx_lower_gather(onnx_ctx *c);
bnn_status onnx_lower_squeeze(onnx_ctx *c);
bnn_status onnx_lower_unsqueeze(onnx_ctx *c);
bnn_status onnx_lower_concat(onnx_ctx *c);
bnn_status onnx_lower_flatten(onnx_ctx *c);
bnn_status onnx_lower_reshape(onnx_ctx *c);
bnn_status onnx_lower_transpose(onnx_ctx *c);
bnn_status onnx_lower_pad(onnx_ctx *c);

/* onnx_lower_slice.c: Slice, Split (into slices), Expand and Tile. */
bnn_status onnx_lower_slice(onnx_ctx *c);
bnn_status onnx_lower_split(onnx_ctx *c);
bnn_status onnx_lower_expand(onnx_ctx *c);
bnn_status onnx_lower_tile(onnx_ctx *c);

/* onnx_lower_index.c: OneHot (its depth folded into an attribute). */
bnn_status onnx_lower_one_hot(onnx_ctx *c);
bnn_status onnx_lower_scatter(onnx_ctx *c);
/* onnx_lower_window.c: the window functions of a known size, folded. */
bnn_status onnx_lower_hann_window(onnx_ctx *c);
/* onnx_lower_spectral.c */
bnn_status onnx_lower_dft(onnx_ctx *c);
bnn_status onnx_lower_stft(onnx_ctx *c);
bnn_status onnx_lower_mel_weight_matrix(onnx_ctx *c);
bnn_status onnx_lower_hamming_window(onnx_ctx *c);
bnn_status onnx_lower_blackman_window(onnx_ctx *c);
/* onnx_lower_select.c: TopK (k known at import) and Hardmax. */
bnn_status onnx_lower_top_k(onnx_ctx *c);
bnn_status onnx_lower_hardmax(onnx_ctx *c);
bnn_status onnx_lower_compress(onnx_ctx *c);
bnn_status onnx_lower_non_zero(onnx_ctx *c);
bnn_status onnx_lower_unique(onnx_ctx *c);

/* onnx_lower_multiway.c: Pow and the variadic Max, Min, Sum and Mean. */
bnn_status onnx_lower_pow(onnx_ctx *c);
bnn_status onnx_lower_max(onnx_ctx *c);
bnn_status onnx_lower_min(onnx_ctx *c);
bnn_status onnx_lower_sum(onnx_ctx *c);
bnn_status onnx_lower_mean(onnx_ctx *c);

/* onnx_lower_cast.c: Cast and CastLike. */
bnn_status onnx_lower_cast(onnx_ctx *c);
bnn_status onnx_lower_cast_like(onnx_ctx *c);

/* onnx_lower_random.c: RandomNormalLike. */
bnn_status onnx_lower_random_normal_like(onnx_ctx *c);

/* onnx_lower_constant.c: Constant, ConstantOfShape of a constant shape and
 * Range of constant scalars (all fold into params). */
bnn_status onnx_lower_constant(onnx_ctx *c);
bnn_status onnx_lower_constant_of_shape(onnx_ctx *c);
bnn_status onnx_lower_range(onnx_ctx *c);

/* onnx_lower_reduce.c: ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
 * ReduceSumSquare, ArgMax and ArgMin. */
bnn_status onnx_lower_reduce_sum(onnx_ctx *c);
bnn_status onnx_lower_size(onnx_ctx *c); /* shape + reduce_prod */
bnn_status onnx_lower_reduce_mean(onnx_ctx *c);
bnn_status onnx_lower_reduce_max(onnx_ctx *c);
bnn_status onnx_lower_reduce_min(onnx_ctx *c);
bnn_status onnx_lower_reduce_prod(onnx_ctx *c);
bnn_status onnx_lower_reduce_l1(onnx_ctx *c);
bnn_status onnx_lower_reduce_l2(onnx_ctx *c);
bnn_status onnx_lower_reduce_log_sum(onnx_ctx *c);
bnn_status onnx_lower_reduce_log_sum_exp(onnx_ctx *c);
bnn_status onnx_lower_reduce_sum_square(onnx_ctx *c);
bnn_status onnx_lower_arg_max(onnx_ctx *c);
bnn_status onnx_lower_arg_min(onnx_ctx *c);

/* onnx_lower_logic.c: Equal, Greater, Less, GreaterOrEqual, LessOrEqual,
 * And, Or, Xor, Not, Where, Sign, Mod, IsNaN and IsInf; comparisons, Not and
 * Where of known constant contents fold (shape arithmetic). */
bnn_status onnx_lower_equal(onnx_ctx *c);
bnn_status onnx_lower_greater(onnx_ctx *c);
bnn_status onnx_lower_less(onnx_ctx *c);
bnn_status onnx_lower_greater_or_equal(onnx_ctx *c);
bnn_status onnx_lower_less_or_equal(onnx_ctx *c);
bnn_status onnx_lower_and(onnx_ctx *c);
bnn_status onnx_lower_or(onnx_ctx *c);
bnn_status onnx_lower_xor(onnx_ctx *c);
bnn_status onnx_lower_not(onnx_ctx *c);
bnn_status onnx_lower_where(onnx_ctx *c);
bnn_status onnx_lower_sign(onnx_ctx *c);
bnn_status onnx_lower_mod(onnx_ctx *c);
bnn_status onnx_lower_is_nan(onnx_ctx *c);
bnn_status onnx_lower_is_inf(onnx_ctx *c);

/* metadata_props key under which export records the opset the IR was first
 * imported at, when the file itself is written at another one. */
#define BNN_ONNX_SOURCE_OPSET_KEY "bnnc.source_opset"

/* Lowest and highest default-domain opsets bnnc reads. */
#define BNN_ONNX_MIN_OPSET 1
#define BNN_ONNX_MAX_OPSET 21

/* Limits on a ModelProto, checked on its bytes before it is unpacked
 * (onnx_limits.c): message nesting (subgraphs in attributes, nested types),
 * ONNX nodes in all graphs and functions, and protobuf fields walked. */
#define ONNX_MAX_NESTING 64
#define ONNX_MAX_NODES 1000000
#define ONNX_MAX_FIELDS 50000000
bnn_status onnx_check_limits(const uint8_t *data, size_t size, bnn_diag *diag);

/* The wire bytes of a model without the raw_data payloads of ONNX_LIFT_MIN
 * bytes or more of its (top-level) initializers, and where each payload is
 * in the original bytes (onnx_skeleton.c).  False when there is nothing to
 * lift or the bytes are not as expected (then unpack them as they are). */
#define ONNX_LIFT_MIN 4096
typedef struct onnx_lifted {
    size_t initializer; /* index in GraphProto.initializer */
    const uint8_t *data;
    size_t len;
} onnx_lifted;
typedef struct onnx_skeleton {
    uint8_t *bytes; /* malloc */
    size_t size;
    onnx_lifted *lifted; /* malloc */
    size_t n_lifted;
} onnx_skeleton;
bool onnx_skeleton_build(const uint8_t *data, size_t size, onnx_skeleton *out);
void onnx_skeleton_free(onnx_skeleton *s);

/* Softmax, LogSoftmax and Hardmax: one input, `axis` (default 1 before
 * opset 13, -1 from it), and before 13 the 2-D flattening at axis, kept as
 * `coerce` unless axis is the last one (onnx_lower_softmax.c). */
bnn_status onnx_lower_softmax_like(onnx_ctx *c, bnn_op op);

#endif
