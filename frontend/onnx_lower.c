/* ONNX op -> IR op: the one lowering table (op type, opset range, function),
 * which also backs bnn_onnx_supported_ops(), the lowering of every op whose
 * ops.def row maps 1:1 (lower_from_table), and the helpers every lowering
 * uses.  Each op family's own lowerings are in onnx_lower_<family>.c, named
 * as in runtime/kernels/.  Each function reads the current ONNX node through
 * the helpers of onnx_impl.h, resolves the opset-dependent semantics
 * (attributes that became inputs, changed defaults), folds constant operands
 * into attributes and emits IR nodes.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_impl.h"

/* ---- helpers -------------------------------------------------------------- */

bnn_status onnx_need_input(onnx_ctx *c, int k, int *id)
{
    *id = onnx_input(c, k);
    if (*id < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input %d is missing", k);
    return BNN_OK;
}

const bnn_value *onnx_val(onnx_ctx *c, int id) { return bnn_graph_value(c->g, id); }

bool onnx_is_param(onnx_ctx *c, int id)
{
    return id >= 0 && onnx_val(c, id)->kind == BNN_VALUE_PARAM;
}

bool onnx_param_sole_use(onnx_ctx *c, int id, const char *name)
{
    onnx_name_entry *e = onnx_name_lookup(c, name);
    return e && e->uses == 1 && e->value_id == id;
}

/* A one-element numeric param as a double. */
bool onnx_param_scalar(onnx_ctx *c, int id, double *out)
{
    if (!onnx_is_param(c, id))
        return false;
    const bnn_value *v = onnx_val(c, id);
    if (bnn_shape_numel(&v->shape) != 1)
        return false;
    switch (v->dtype) {
    case BNN_F32: *out = *(const float *)v->data; return true;
    case BNN_F64: *out = *(const double *)v->data; return true;
    case BNN_I64: *out = (double)*(const int64_t *)v->data; return true;
    case BNN_I32: *out = *(const int32_t *)v->data; return true;
    case BNN_BOOL: case BNN_U8: *out = *(const uint8_t *)v->data; return true;
    default: return false;
    }
}

/* The known contents of input k as a list of at most `max` entries (rank 0
 * or 1); fails naming the input when they are not known.  Symbolic entries
 * are the caller's to accept or refuse. */
bnn_status onnx_const_list(onnx_ctx *c, int k, const char *what, int max, onnx_known *out)
{
    int id = onnx_input(c, k);
    if (id < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' is missing", what);
    if (!onnx_known_get(c, id, out) || out->rank > 1)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' must be a constant 1-D integer tensor "
                              "(bnnc does not compute it at run time)", what);
    if (out->n > max)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' has %d entries, more than %d", what, out->n,
                              max);
    return BNN_OK;
}

/* An output nothing may read (Dropout's mask, MaxPool's indices, ...). */
bnn_status onnx_unused_output(onnx_ctx *c, int k, const char *what)
{
    if (onnx_output_used(c, k))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "output %d (%s) is used; only inference is supported", k, what);
    return BNN_OK;
}

bnn_status onnx_set_ints(onnx_ctx *c, int nid, const char *name, const int64_t *v, int n)
{
    if (bnn_node_set_ints(c->g, nid, name, v, n) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_int(onnx_ctx *c, int nid, const char *name, int64_t v)
{
    if (bnn_node_set_int(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_float(onnx_ctx *c, int nid, const char *name, float v)
{
    if (bnn_node_set_float(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}
bnn_status onnx_set_string(onnx_ctx *c, int nid, const char *name, const char *v)
{
    if (bnn_node_set_string(c->g, nid, name, v) != BNN_OK)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    return BNN_OK;
}

bnn_status onnx_emit_node(onnx_ctx *c, bnn_op op, const int *in, int n, int *nid)
{
    *nid = onnx_emit(c, op, in, n);
    return *nid < 0 ? c->diag->status : BNN_OK;
}

bnn_status onnx_emit_outputs(onnx_ctx *c, bnn_op op, const int *in, int n_in, int n_out, int *nid)
{
    int outs[8];
    BNN_ASSERT(n_out >= 1 && n_out <= 8);
    if (c->node->n_output < 1 || !*onnx_str(c->node->output[0]))
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
    for (int k = 0; k < n_out; k++) {
        if ((size_t)k < c->node->n_output && *onnx_str(c->node->output[k])) {
            if ((outs[k] = onnx_define_output(c, k)) < 0)
                return c->diag->status;
            continue;
        }
        char base[300], buf[320];
        snprintf(base, sizeof base, "%s_out%d", c->node_name, k);
        outs[k] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_UNDEFINED, NULL);
        if (outs[k] < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    *nid = bnn_graph_add_node(c->g, op, c->node_name, in, n_in, outs, n_out);
    return *nid < 0 ? onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory") : BNN_OK;
}

/* An op whose ops.def row says ONNX("Type", SINCE): the inputs as they are,
 * each schema attribute read under its own name (of the schema's kind), an
 * absent one written with the schema's default so the IR says what runs. */
static bnn_status lower_from_table(onnx_ctx *c)
{
    bnn_op op = bnn_op_find_onnx(onnx_str(c->node->op_type));
    BNN_ASSERT(op != BNN_OP_COUNT);
    const bnn_op_info *info = bnn_op_get(op);
    int in[8], n = onnx_n_inputs(c), nid;
    BNN_ASSERT(info->max_inputs <= 8);
    if (n > info->max_inputs)
        n = info->max_inputs;
    for (int k = 0; k < n; k++) {
        in[k] = onnx_input(c, k);
        if (in[k] < 0 && k < info->min_inputs)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d is missing", k);
    }
    if (n < info->min_inputs)
        return onnx_node_fail(c, BNN_ERR_INVALID, "has %d inputs, expected at least %d", n,
                              info->min_inputs);
    BNN_TRY(onnx_emit_node(c, op, in, n, &nid));
    bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
    int na = bnn_schema_parse(info->attrs, attrs, BNN_SCHEMA_MAX_ATTRS);
    BNN_ASSERT(na >= 0);
    for (int i = 0; i < na; i++) {
        const char *name = attrs[i].name;
        bool given = onnx_attr(c, name) != NULL;
        switch (attrs[i].kind) {
        case BNN_ATTR_FLOAT: {
            float v = 0; /* read as the default even when the attribute is given */
            if (!given && !bnn_op_default_float(op, name, &v))
                break;
            BNN_TRY(onnx_attr_float(c, name, v, &v));
            BNN_TRY(onnx_set_float(c, nid, name, v));
            break;
        }
        case BNN_ATTR_INT: {
            int64_t v = 0; /* read as the default even when the attribute is given */
            if (!given && !bnn_op_default_int(op, name, &v))
                break;
            BNN_TRY(onnx_attr_int(c, name, v, &v));
            BNN_TRY(onnx_set_int(c, nid, name, v));
            break;
        }
        case BNN_ATTR_STRING: {
            char buf[64];
            const char *v = bnn_op_default_text(op, name, buf, sizeof buf);
            if (!given && !v)
                break;
            BNN_TRY(onnx_attr_string(c, name, v ? v : "", &v));
            BNN_TRY(onnx_set_string(c, nid, name, v));
            break;
        }
        case BNN_ATTR_INTS: {
            const int64_t *v;
            int count;
            BNN_TRY(onnx_attr_ints(c, name, &v, &count));
            if (count >= 0)
                BNN_TRY(onnx_set_ints(c, nid, name, v, count));
            break;
        }
        default:
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute '%s': kind not mapped", name);
        }
    }
    return onnx_infer(c, nid);
}

/* ---- the table ------------------------------------------------------------ */

/* One row per ONNX op: domain, op type, opset range, lowering function, and
 * how many inputs the op takes: OLD before opset SINCE, NEW from it on (-1:
 * any number).  Every default-domain op here reads opsets 1 to MAX: the
 * lowerings resolve what changed on the way (legacy broadcasting, attributes
 * that became inputs, renamed attributes, changed defaults).
 * Expanded three times: the public support list, the functions, the arities.
 * Ops that map 1:1 are not here: their ops.def rows (ONNX("Type", SINCE))
 * follow these in the same arrays, lowered by lower_from_table. */
#define MAX BNN_ONNX_MAX_OPSET
#define ONNX_OPS(X) \
    X("", "Add", 1, MAX, onnx_lower_add, 2, 0, 2) \
    X("", "And", 1, MAX, onnx_lower_and, 2, 0, 2) \
    X("", "ArgMax", 1, MAX, onnx_lower_arg_max, 1, 0, 1) \
    X("", "ArgMin", 1, MAX, onnx_lower_arg_min, 1, 0, 1) \
    X("", "AveragePool", 1, MAX, onnx_lower_avg_pool, 1, 0, 1) \
    X("", "BlackmanWindow", 17, MAX, onnx_lower_blackman_window, 1, 0, 1) \
    X("", "BatchNormalization", 1, MAX, onnx_lower_batch_norm, 5, 0, 5) \
    X("", "Cast", 1, MAX, onnx_lower_cast, 1, 0, 1) \
    X("", "CastLike", 1, MAX, onnx_lower_cast_like, 2, 0, 2) \
    X("", "Clip", 1, MAX, onnx_lower_clip, 1, 11, 3) \
    X("", "Compress", 9, MAX, onnx_lower_compress, 2, 0, 2) \
    X("", "Concat", 1, MAX, onnx_lower_concat, -1, 0, -1) \
    X("", "Constant", 1, MAX, onnx_lower_constant, 0, 0, 0) \
    X("", "ConstantOfShape", 1, MAX, onnx_lower_constant_of_shape, 1, 0, 1) \
    X("", "Conv", 1, MAX, onnx_lower_conv, 3, 0, 3) \
    X("", "ConvInteger", 10, MAX, onnx_lower_conv_integer, 4, 0, 4) \
    X("", "ConvTranspose", 1, MAX, onnx_lower_conv_transpose, 3, 0, 3) \
    X("", "DFT", 17, MAX, onnx_lower_dft, 2, 20, 3) \
    X("", "Div", 1, MAX, onnx_lower_div, 2, 0, 2) \
    X("", "Dropout", 1, MAX, onnx_lower_dropout, 1, 12, 3) \
    X("", "DynamicQuantizeLinear", 11, MAX, onnx_lower_dynamic_quantize_linear, 1, 0, 1) \
    X("", "Equal", 1, MAX, onnx_lower_equal, 2, 0, 2) \
    X("", "Expand", 1, MAX, onnx_lower_expand, 2, 0, 2) \
    X("", "Flatten", 1, MAX, onnx_lower_flatten, 1, 0, 1) \
    X("", "Gather", 1, MAX, onnx_lower_gather, 2, 0, 2) \
    X("", "Gemm", 1, MAX, onnx_lower_gemm, 3, 0, 3) \
    X("", "Greater", 1, MAX, onnx_lower_greater, 2, 0, 2) \
    X("", "GRU", 1, MAX, onnx_lower_gru, 6, 0, 6) \
    X("", "GreaterOrEqual", 12, MAX, onnx_lower_greater_or_equal, 2, 0, 2) \
    X("", "HammingWindow", 17, MAX, onnx_lower_hamming_window, 1, 0, 1) \
    X("", "HannWindow", 17, MAX, onnx_lower_hann_window, 1, 0, 1) \
    X("", "Hardmax", 1, MAX, onnx_lower_hardmax, 1, 0, 1) \
    X("", "Identity", 1, MAX, onnx_lower_identity, 1, 0, 1) \
    X("", "If", 1, MAX, onnx_lower_if, 1, 0, 1) \
    X("", "IsInf", 10, MAX, onnx_lower_is_inf, 1, 0, 1) \
    X("", "IsNaN", 9, MAX, onnx_lower_is_nan, 1, 0, 1) \
    X("", "LayerNormalization", 17, MAX, onnx_lower_layer_norm, 3, 0, 3) \
    X("", "Less", 1, MAX, onnx_lower_less, 2, 0, 2) \
    X("", "LessOrEqual", 12, MAX, onnx_lower_less_or_equal, 2, 0, 2) \
    X("", "LogSoftmax", 1, MAX, onnx_lower_log_softmax, 1, 0, 1) \
    X("", "Loop", 1, MAX, onnx_lower_loop, -1, 0, -1) \
    X("", "LSTM", 1, MAX, onnx_lower_lstm, 8, 0, 8) \
    X("", "MatMul", 1, MAX, onnx_lower_matmul, 2, 0, 2) \
    X("", "Max", 1, MAX, onnx_lower_max, -1, 0, -1) \
    X("", "MaxPool", 1, MAX, onnx_lower_max_pool, 1, 0, 1) \
    X("", "MaxUnpool", 9, MAX, onnx_lower_max_unpool, 3, 0, 3) \
    X("", "Mean", 1, MAX, onnx_lower_mean, -1, 0, -1) \
    X("", "MelWeightMatrix", 17, MAX, onnx_lower_mel_weight_matrix, 5, 0, 5) \
    X("", "Min", 1, MAX, onnx_lower_min, -1, 0, -1) \
    X("", "Mod", 10, MAX, onnx_lower_mod, 2, 0, 2) \
    X("", "Mul", 1, MAX, onnx_lower_mul, 2, 0, 2) \
    X("", "NonZero", 9, MAX, onnx_lower_non_zero, 1, 0, 1) \
    X("", "Not", 1, MAX, onnx_lower_not, 1, 0, 1) \
    X("", "OneHot", 9, MAX, onnx_lower_one_hot, 3, 0, 3) \
    X("", "Or", 1, MAX, onnx_lower_or, 2, 0, 2) \
    X("", "Pad", 1, MAX, onnx_lower_pad, 1, 11, 4) \
    X("", "Pow", 1, MAX, onnx_lower_pow, 2, 0, 2) \
    X("", "PRelu", 1, MAX, onnx_lower_prelu, 2, 0, 2) \
    X("", "QLinearConv", 10, MAX, onnx_lower_qlinear_conv, 9, 0, 9) \
    X("", "RandomNormalLike", 1, MAX, onnx_lower_random_normal_like, 1, 0, 1) \
    X("", "RNN", 1, MAX, onnx_lower_rnn, 6, 0, 6) \
    X("", "Range", 11, MAX, onnx_lower_range, 3, 0, 3) \
    X("", "ReduceL1", 1, MAX, onnx_lower_reduce_l1, 1, 18, 2) \
    X("", "ReduceL2", 1, MAX, onnx_lower_reduce_l2, 1, 18, 2) \
    X("", "ReduceLogSum", 1, MAX, onnx_lower_reduce_log_sum, 1, 18, 2) \
    X("", "ReduceLogSumExp", 1, MAX, onnx_lower_reduce_log_sum_exp, 1, 18, 2) \
    X("", "ReduceMax", 1, MAX, onnx_lower_reduce_max, 1, 18, 2) \
    X("", "ReduceMean", 1, MAX, onnx_lower_reduce_mean, 1, 18, 2) \
    X("", "ReduceMin", 1, MAX, onnx_lower_reduce_min, 1, 18, 2) \
    X("", "ReduceProd", 1, MAX, onnx_lower_reduce_prod, 1, 18, 2) \
    X("", "ReduceSum", 1, MAX, onnx_lower_reduce_sum, 1, 13, 2) \
    X("", "ReduceSumSquare", 1, MAX, onnx_lower_reduce_sum_square, 1, 18, 2) \
    X("", "Reshape", 1, MAX, onnx_lower_reshape, 1, 5, 2) \
    X("", "Resize", 10, MAX, onnx_lower_resize, 2, 11, 4) \
    X("", "Scan", 9, MAX, onnx_lower_scan, -1, 0, -1) \
    X("", "Scatter", 9, 10, onnx_lower_scatter, 3, 0, 3) \
    X("", "Shape", 1, MAX, onnx_lower_shape, 1, 0, 1) \
    X("", "Sign", 9, MAX, onnx_lower_sign, 1, 0, 1) \
    X("", "Size", 1, MAX, onnx_lower_size, 1, 0, 1) \
    X("", "Slice", 1, MAX, onnx_lower_slice, 1, 10, 5) \
    X("", "Softmax", 1, MAX, onnx_lower_softmax, 1, 0, 1) \
    X("", "SoftmaxCrossEntropyLoss", 12, MAX, onnx_lower_softmax_cross_entropy_loss, 3, 0, 3) \
    X("", "Split", 1, MAX, onnx_lower_split, 2, 0, 2) \
    X("", "Squeeze", 1, MAX, onnx_lower_squeeze, 1, 13, 2) \
    X("", "STFT", 17, MAX, onnx_lower_stft, 4, 0, 4) \
    X("", "Sub", 1, MAX, onnx_lower_sub, 2, 0, 2) \
    X("", "Sum", 1, MAX, onnx_lower_sum, -1, 0, -1) \
    X("", "Tile", 1, MAX, onnx_lower_tile, 3, 6, 2) \
    X("", "TopK", 1, MAX, onnx_lower_top_k, 1, 10, 2) \
    X("", "Transpose", 1, MAX, onnx_lower_transpose, 1, 0, 1) \
    X("", "Unique", 11, MAX, onnx_lower_unique, 1, 0, 1) \
    X("", "Unsqueeze", 1, MAX, onnx_lower_unsqueeze, 1, 13, 2) \
    X("", "Upsample", 7, 9, onnx_lower_upsample, 1, 9, 2) \
    X("", "Where", 9, MAX, onnx_lower_where, 3, 0, 3) \
    X("", "Xor", 1, MAX, onnx_lower_xor, 2, 0, 2) \
    X("ai.bnnc", "ConvReparam", 1, 1, onnx_lower_conv_reparam, 7, 0, 7) \
    X("ai.bnnc", "ConvTransposeReparam", 1, 1, onnx_lower_conv_transpose_reparam, 7, 0, 7) \
    X("ai.bnnc", "DenseReparam", 1, 1, onnx_lower_dense_reparam, 7, 0, 7) \
    X("ai.bnnc", "WeightReparam", 1, 1, onnx_lower_weight_reparam, 3, 0, 3)

#define AS_SUPPORT(dom, op, since, until, fn, old, at, new) { dom, op, since, until },
#define AS_FN(dom, op, since, until, fn, old, at, new) fn,
#define AS_ARITY(dom, op, since, until, fn, old, at, new) { old, at, new },
/* The ops.def rows, expanded through their ONNX column: ONNX(...) rows give
 * an entry, ONNX_AS and ONNX_NONE rows nothing. */
#define SUPPORT_ONNX(type, since) { "", type, since, MAX },
#define FN_ONNX(type, since) lower_from_table,
#define ARITY_ONNX(type, since) { -2, 0, -2 },
#define SUPPORT_ONNX_AS(type)
#define FN_ONNX_AS(type)
#define ARITY_ONNX_AS(type)
#define SUPPORT_ONNX_NONE
#define FN_ONNX_NONE
#define ARITY_ONNX_NONE

static const bnn_onnx_op_support support[] = {
    ONNX_OPS(AS_SUPPORT)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) SUPPORT_##onnx
#include "ops.def"
};
static const onnx_lower_fn lowerers[] = {
    ONNX_OPS(AS_FN)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) FN_##onnx
#include "ops.def"
};
/* -2: the op row's MAX_IN. */
static const struct { int old, at, new_; } arity[] = {
    ONNX_OPS(AS_ARITY)
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, onnx, ...) ARITY_##onnx
#include "ops.def"
};
#define N_TABLE ((int)(sizeof support / sizeof *support))

const bnn_onnx_op_support *onnx_op_lookup(const char *domain, const char *op_type,
                                          onnx_lower_fn *fn)
{
    for (int i = 0; i < N_TABLE; i++)
        if (strcmp(support[i].domain, domain) == 0 && strcmp(support[i].op_type, op_type) == 0) {
            *fn = lowerers[i];
            return &support[i];
        }
    return NULL;
}

int onnx_op_max_inputs(const bnn_onnx_op_support *op, int64_t opset)
{
    int i = (int)(op - support);
    BNN_ASSERT(i >= 0 && i < N_TABLE);
    if (arity[i].new_ == -2) {
        int max = bnn_op_get(bnn_op_find_onnx(op->op_type))->max_inputs;
        return max == BNN_VARIADIC ? -1 : max;
    }
    return opset < arity[i].at ? arity[i].old : arity[i].new_;
}

const bnn_onnx_op_support *bnn_onnx_supported_ops(int *count)
{
    *count = N_TABLE;
    return support;
}
