/* ONNX ops that become constants (params) at import: Constant,
 * ConstantOfShape of a constant shape (PyTorch's repeat writes it before
 * Expand and Tile), and Range of known bounds (the size of its output is a
 * function of their values, which a plan made from input shapes cannot
 * know).  The one exception is ConstantOfShape of a shape computed from the
 * inputs: a constant_of_shape node whose shape a session evaluates once the
 * inputs are bound.  Registered in the table of onnx_lower.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"
#include "range_impl.h"

bnn_status onnx_lower_constant(onnx_ctx *c)
{
    const char *unsupported[] = { "sparse_value", "value_string", "value_strings" };
    for (int i = 0; i < 3; i++)
        if (onnx_attr(c, unsupported[i]))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "attribute '%s' is not supported", unsupported[i]);
    if (c->node->n_output < 1 || !*onnx_str(c->node->output[0]))
        return onnx_node_fail(c, BNN_ERR_INVALID, "has no output");
    const Onnx__AttributeProto *a;
    if ((a = onnx_attr(c, "value"))) {
        if (!a->t)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'value' has type %s, expected TENSOR",
                                  a->has_type && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT ? "INT" : "other");
        char what[300];
        snprintf(what, sizeof what, "node '%s' (Constant): attribute 'value'", c->node_name);
        onnx_data d;
        BNN_TRY(bnn_onnx_view_tensor(a->t, c->base_dir, what, &d, c->diag));
        bnn_status s = onnx_output_param(c, 0, d.dtype, &d.shape, d.data, d.nbytes);
        onnx_data_release(&d);
        return s;
    }
    bnn_shape scalar = { .rank = 0 };
    if (onnx_attr(c, "value_float")) {
        float f;
        BNN_TRY(onnx_attr_float(c, "value_float", 0, &f));
        return onnx_output_param(c, 0, BNN_F32, &scalar, &f, sizeof f);
    }
    if (onnx_attr(c, "value_int")) {
        int64_t i;
        BNN_TRY(onnx_attr_int(c, "value_int", 0, &i));
        return onnx_output_param(c, 0, BNN_I64, &scalar, &i, sizeof i);
    }
    int n;
    if (onnx_attr(c, "value_floats")) {
        const float *f;
        BNN_TRY(onnx_attr_floats(c, "value_floats", &f, &n));
        bnn_shape s = { .rank = 1, .dims = { n } };
        return onnx_output_param(c, 0, BNN_F32, &s, f, sizeof(float) * (size_t)n);
    }
    if (onnx_attr(c, "value_ints")) {
        const int64_t *v;
        BNN_TRY(onnx_attr_ints(c, "value_ints", &v, &n));
        bnn_shape s = { .rank = 1, .dims = { n } };
        return onnx_output_param(c, 0, BNN_I64, &s, v, sizeof(int64_t) * (size_t)n);
    }
    return onnx_node_fail(c, BNN_ERR_INVALID, "has no value attribute");
}

/* The one element ConstantOfShape fills with: attribute 'value' (a
 * one-element tensor) or a float 0.  d->data points at it; release d when
 * *decoded. */
static bnn_status fill_value(onnx_ctx *c, onnx_data *d, bool *decoded)
{
    static const unsigned char zero[8];
    *d = (onnx_data){ .dtype = BNN_F32, .shape = { .rank = 1, .dims = { 1 } }, .data = (void *)zero,
                      .nbytes = sizeof(float) };
    *decoded = false;
    const Onnx__AttributeProto *a = onnx_attr(c, "value");
    if (!a)
        return BNN_OK;
    char what[300];
    snprintf(what, sizeof what, "node '%s' (ConstantOfShape): attribute 'value'", c->node_name);
    if (!a->t)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'value' is not a tensor");
    BNN_TRY(bnn_onnx_decode_tensor(a->t, NULL, what, d, c->diag));
    *decoded = true;
    if (bnn_shape_numel(&d->shape) != 1 || bnn_dtype_size(d->dtype) == 0) {
        onnx_data_release(d);
        *decoded = false;
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'value' must hold one number");
    }
    return BNN_OK;
}

/* ConstantOfShape whose shape input is computed from data: a
 * constant_of_shape node reading the fill value (a one-element param) and
 * the shape, which a session evaluates once its inputs are bound. */
static bnn_status constant_of_shape_node(onnx_ctx *c, int shape)
{
    const bnn_value *sv = onnx_val(c, shape);
    if (sv->dtype != BNN_I64 || sv->shape.rank != 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 'input' is %s, expected a 1-D i64 tensor",
                              bnn_dtype_name(sv->dtype) ? bnn_dtype_name(sv->dtype) : "?");
    onnx_data d;
    bool decoded;
    BNN_TRY(fill_value(c, &d, &decoded));
    char buf[300], base[300];
    snprintf(base, sizeof base, "%s.value", onnx_str(c->node->output[0]));
    bnn_shape one = { .rank = 0 };
    int in[2] = { bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), d.dtype, &one,
                                      d.data, bnn_dtype_size(d.dtype), false),
                  shape };
    if (decoded)
        onnx_data_release(&d);
    if (in[0] < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int nid;
    BNN_TRY(onnx_emit_node(c, BNN_OP_CONSTANT_OF_SHAPE, in, 2, &nid));
    return onnx_infer(c, nid);
}

/* ConstantOfShape of a constant shape folds into a constant (PyTorch's
 * repeat writes it before Expand and Tile); one computed from data becomes a
 * constant_of_shape node. */
bnn_status onnx_lower_constant_of_shape(onnx_ctx *c)
{
    onnx_known k;
    int shape = onnx_input(c, 0);
    if (shape < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 'input' is missing");
    if (!onnx_known_get(c, shape, &k))
        return constant_of_shape_node(c, shape);
    BNN_TRY(onnx_const_list(c, 0, "input", BNN_MAX_RANK, &k));
    /* A batch-sized zero state of a recurrent layer: batch 1, shared. */
    bool state = k.sym && onnx_feeds_rnn_state_only(c, onnx_str(c->node->output[0]));
    if (k.sym && !state)
        return constant_of_shape_node(c, shape);
    bnn_shape s = { .rank = k.n };
    for (int i = 0; i < k.n; i++) {
        if (k.sym >> i & 1) {
            s.dims[i] = 1;
            continue;
        }
        if (k.v[i] < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "input 'input' has a negative dim %lld", (long long)k.v[i]);
        s.dims[i] = k.v[i];
    }
    int64_t numel = bnn_shape_numel(&s);
    onnx_data d;
    bool decoded;
    BNN_TRY(fill_value(c, &d, &decoded));
    const void *one = d.data;
    size_t es = bnn_dtype_size(d.dtype);
    if (numel < 0 || (uint64_t)numel > ONNX_MAX_FOLDED_BYTES / es) {
        if (decoded)
            onnx_data_release(&d);
        char buf[256];
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the constant it makes, %s, would be over %d MiB",
                              bnn_shape_format(&s, d.dtype, buf, sizeof buf), (int)(ONNX_MAX_FOLDED_BYTES >> 20));
    }
    unsigned char *buf = malloc((size_t)numel * es + 1);
    bnn_status st = BNN_OK;
    if (!buf) {
        st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    } else {
        for (int64_t i = 0; i < numel; i++)
            memcpy(buf + (size_t)i * es, one, es);
        st = onnx_output_param(c, 0, d.dtype, &s, buf, (size_t)numel * es);
    }
    free(buf);
    if (decoded)
        onnx_data_release(&d);
    return st;
}

/* One scalar input of Range: its type checked; *known and its value (in
 * the element type's bytes, at out) when import knows it. */
static bnn_status range_operand(onnx_ctx *c, int k, const char *what, bnn_dtype dtype, int *id,
                                bool *known, void *out)
{
    *id = onnx_input(c, k);
    if (*id < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' is missing", what);
    const bnn_value *v = onnx_val(c, *id);
    if (v->dtype != dtype)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' has type %s, input 'start' %s", what,
                              bnn_dtype_name(v->dtype), bnn_dtype_name(dtype));
    if (v->shape.rank > 1 || (v->shape.rank == 1 && v->shape.dims[0] != 1))
        return onnx_node_fail(c, BNN_ERR_INVALID, "input '%s' is not a scalar", what);
    *known = false;
    if (dtype == BNN_I64 || dtype == BNN_I32) {
        onnx_known kn;
        if (onnx_known_get(c, *id, &kn) && kn.n == 1 && !kn.sym) {
            int32_t i32 = (int32_t)kn.v[0];
            memcpy(out, dtype == BNN_I64 ? (const void *)&kn.v[0] : (const void *)&i32,
                   bnn_dtype_size(dtype));
            *known = true;
        }
    } else {
        double f;
        if (onnx_param_scalar(c, *id, &f)) {
            float f32 = (float)f;
            memcpy(out, dtype == BNN_F64 ? (const void *)&f : (const void *)&f32,
                   bnn_dtype_size(dtype));
            *known = true;
        }
    }
    return BNN_OK;
}

/* Whether value v is computed from shapes only (params, Shape of
 * anything, and ops on those), not from the data's values: only then can a
 * session work out the length of a range over it before it sees data.
 * Walks at most `budget` nodes; a deeper chain counts as data. */
static bool from_shapes(const bnn_graph *g, int v, int *budget)
{
    const bnn_value *val = bnn_graph_value(g, v);
    if (val->kind == BNN_VALUE_PARAM)
        return true;
    if (val->producer < 0 || --*budget < 0)
        return false;
    const bnn_node *n = bnn_graph_node(g, val->producer);
    if (n->op == BNN_OP_SHAPE) /* Size lowers to shape and reduce_prod */
        return true;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && !from_shapes(g, n->inputs[k], budget))
            return false;
    return true;
}

/* Range(start, limit, delta) of scalars known at import folds into its
 * constant (ir/range_impl.h has the length and the values); bounds the model
 * computes from run-time sizes (Swin's window masks) make a `range` node,
 * whose length is known once a session binds the input shapes
 * (runtime/shape_eval.c). */
bnn_status onnx_lower_range(onnx_ctx *c)
{
    int id = onnx_input(c, 0);
    if (id < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 'start' is missing");
    bnn_dtype dt = onnx_val(c, id)->dtype;
    if (dt != BNN_F32 && dt != BNN_F64 && dt != BNN_I32 && dt != BNN_I64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "element type %s is not supported",
                              bnn_dtype_name(dt) ? bnn_dtype_name(dt) : "?");
    static const char *const what[3] = {"start", "limit", "delta"};
    int in[3];
    bool known[3];
    unsigned char v[3][8];
    for (int k = 0; k < 3; k++)
        BNN_TRY(range_operand(c, k, what[k], dt, &in[k], &known[k], v[k]));
    if (!known[0] || !known[1] || !known[2]) {
        for (int k = 0; k < 3; k++) {
            int budget = 4096;
            if (!known[k] && !from_shapes(c->g, in[k], &budget))
                return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                                      "input '%s' comes from the values of the data: the output's "
                                      "size depends on them, and bnnc plans sizes before it sees "
                                      "data", what[k]);
        }
        int nid;
        BNN_TRY(onnx_emit_node(c, BNN_OP_RANGE, in, 3, &nid));
        return onnx_infer(c, nid);
    }
    size_t es = bnn_dtype_size(dt);
    int64_t n;
    const char *bad = bnn_range_count(dt, v[0], v[1], v[2], &n);
    if (bad)
        return onnx_node_fail(c, BNN_ERR_INVALID, "%s", bad);
    if ((uint64_t)n > ONNX_MAX_FOLDED_BYTES / es)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "its %lld elements would be over %d MiB",
                              (long long)n, (int)(ONNX_MAX_FOLDED_BYTES >> 20));
    unsigned char *buf = malloc((size_t)n * es + 1);
    if (!buf)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    bnn_range_fill(dt, v[0], v[2], n, buf);
    bnn_shape s = { .rank = 1, .dims = { n } };
    bnn_status st = onnx_output_param(c, 0, dt, &s, buf, (size_t)n * es);
    free(buf);
    return st;
}
