/* ONNX op -> IR op, the neural-network layers: Conv, pooling,
 * BatchNormalization, Gemm/MatMul (into dense when the weight is constant) and
 * the Bayesian ai.bnnc layers.  Registered in the table of onnx_lower.c.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

/* ---- conv and pooling ----------------------------------------------------- */

typedef struct window {
    int nsp;            /* spatial dims */
    int64_t kernel[3];  /* kernel extent per spatial dim */
    int64_t strides[3], dilations[3], pads[6];
    int64_t ceil_mode;
} window;

static bnn_status read_ints_n(onnx_ctx *c, const char *name, int want, int64_t fill, int64_t *out)
{
    const int64_t *v;
    int n;
    BNN_TRY(onnx_attr_ints(c, name, &v, &n));
    if (n < 0) {
        for (int i = 0; i < want; i++)
            out[i] = fill;
        return BNN_OK;
    }
    if (n != want)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has %d values, expected %d", name, n, want);
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || (fill == 1 && v[i] < 1))
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute '%s' has an invalid value %lld", name, (long long)v[i]);
        out[i] = v[i];
    }
    return BNN_OK;
}

/* Reads strides, dilations, pads and auto_pad; SAME_* is resolved into
 * explicit pads from the input's spatial dims. */
static bnn_status read_window(onnx_ctx *c, int x, window *w, bool dilations)
{
    BNN_TRY(read_ints_n(c, "strides", w->nsp, 1, w->strides));
    if (dilations)
        BNN_TRY(read_ints_n(c, "dilations", w->nsp, 1, w->dilations));
    else
        for (int i = 0; i < w->nsp; i++)
            w->dilations[i] = 1;
    BNN_TRY(read_ints_n(c, "pads", 2 * w->nsp, 0, w->pads));
    const char *auto_pad;
    BNN_TRY(onnx_attr_string(c, "auto_pad", "NOTSET", &auto_pad));
    if (strcmp(auto_pad, "NOTSET") == 0)
        return BNN_OK;
    if (onnx_attr(c, "pads"))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attributes 'pads' and auto_pad=%s together", auto_pad);
    if (strcmp(auto_pad, "VALID") == 0)
        return BNN_OK;
    bool upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    if (!upper && strcmp(auto_pad, "SAME_LOWER") != 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", auto_pad);
    const bnn_shape *s = &onnx_val(c, x)->shape;
    if (s->rank != w->nsp + 2)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs the input's rank to be known", auto_pad);
    for (int i = 0; i < w->nsp; i++) {
        int64_t in = s->dims[2 + i];
        if (w->kernel[i] < 1)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs a known kernel size", auto_pad);
        if (!bnn_dim_is_known(in))
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "auto_pad=%s needs known spatial dims", auto_pad);
        int64_t out = (in + w->strides[i] - 1) / w->strides[i];
        int64_t need = (out - 1) * w->strides[i] + (w->kernel[i] - 1) * w->dilations[i] + 1 - in;
        if (need < 0)
            need = 0;
        int64_t small = need / 2, big = need - small;
        w->pads[i] = upper ? small : big;
        w->pads[w->nsp + i] = upper ? big : small;
    }
    return BNN_OK;
}

static bnn_status set_window(onnx_ctx *c, int nid, const window *w, bool kernel)
{
    if (kernel)
        BNN_TRY(onnx_set_ints(c, nid, "kernel_shape", w->kernel, w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "strides", w->strides, w->nsp));
    BNN_TRY(onnx_set_ints(c, nid, "pads", w->pads, 2 * w->nsp));
    return onnx_set_ints(c, nid, "dilations", w->dilations, w->nsp);
}

/* The conv attributes shared by Conv and ConvReparam; the weight is input 1. */
static bnn_status conv_window(onnx_ctx *c, int x, int wid, window *w, int64_t *group)
{
    const bnn_shape *ws = &onnx_val(c, wid)->shape;
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    int rank = ws->rank >= 0 ? ws->rank : nks >= 0 ? nks + 2 : -1;
    if (rank < 0)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the weight's rank is unknown");
    if (rank == 5)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "3-D convolution is not supported");
    if (rank != 3 && rank != 4)
        return onnx_node_fail(c, BNN_ERR_INVALID, "weight has rank %d, expected 3 or 4", rank);
    w->nsp = rank - 2;
    for (int i = 0; i < w->nsp; i++) {
        w->kernel[i] = ws->rank >= 0 ? ws->dims[2 + i] : ks[i];
        if (nks >= 0 && (nks != w->nsp || (bnn_dim_is_known(w->kernel[i]) && ks[i] != w->kernel[i])))
            return onnx_node_fail(c, BNN_ERR_SHAPE, "kernel_shape does not match the weight's shape");
        if (nks >= 0)
            w->kernel[i] = ks[i];
    }
    BNN_TRY(onnx_attr_int(c, "group", 1, group));
    if (*group < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "group %lld is not positive", (long long)*group);
    return read_window(c, x, w, true);
}

bnn_status onnx_lower_conv(onnx_ctx *c)
{
    int in[3], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    in[2] = onnx_input(c, 2);
    window w = { 0 };
    int64_t group;
    BNN_TRY(conv_window(c, in[0], in[1], &w, &group));
    BNN_TRY(onnx_emit_node(c, BNN_OP_CONV, in, in[2] >= 0 ? 3 : 2, &nid));
    BNN_TRY(set_window(c, nid, &w, false));
    BNN_TRY(onnx_set_int(c, nid, "group", group));
    return onnx_infer(c, nid);
}

static bnn_status pool(onnx_ctx *c, bnn_op op)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (op == BNN_OP_MAX_POOL)
        BNN_TRY(onnx_unused_output(c, 1, "Indices"));
    bnn_dtype dt = onnx_val(c, x)->dtype;
    if (dt != BNN_F32 && dt != BNN_F64 && dt != BNN_F16 && dt != BNN_UNDEFINED)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "pooling over %s is not supported", bnn_dtype_name(dt));
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    if (nks < 1 || nks > 3)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'kernel_shape' is missing or has %d values", nks);
    window w = { .nsp = nks };
    for (int i = 0; i < nks; i++) {
        if (ks[i] < 1)
            return onnx_node_fail(c, BNN_ERR_INVALID, "kernel_shape has an invalid value %lld", (long long)ks[i]);
        w.kernel[i] = ks[i];
    }
    /* Average pooling gained dilations only in opset 19. */
    BNN_TRY(read_window(c, x, &w, op == BNN_OP_MAX_POOL ? c->opset >= 10 : c->opset >= 19));
    int64_t ceil_mode = 0, cip = 0, storage = 0;
    if (c->opset >= 10)
        BNN_TRY(onnx_attr_int(c, "ceil_mode", 0, &ceil_mode));
    if (op == BNN_OP_AVG_POOL)
        BNN_TRY(onnx_attr_int(c, "count_include_pad", 0, &cip));
    if (op == BNN_OP_MAX_POOL)
        BNN_TRY(onnx_attr_int(c, "storage_order", 0, &storage));
    BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    BNN_TRY(set_window(c, nid, &w, true));
    BNN_TRY(onnx_set_int(c, nid, "ceil_mode", ceil_mode));
    if (op == BNN_OP_AVG_POOL)
        BNN_TRY(onnx_set_int(c, nid, "count_include_pad", cip));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_max_pool(onnx_ctx *c) { return pool(c, BNN_OP_MAX_POOL); }
bnn_status onnx_lower_avg_pool(onnx_ctx *c) { return pool(c, BNN_OP_AVG_POOL); }

bnn_status onnx_lower_batch_norm(onnx_ctx *c)
{
    int in[5], nid;
    for (int i = 0; i < 5; i++)
        BNN_TRY(onnx_need_input(c, i, &in[i]));
    int64_t training = 0, spatial = 1;
    if (c->opset >= 14)
        BNN_TRY(onnx_attr_int(c, "training_mode", 0, &training));
    if (c->opset < 9)
        BNN_TRY(onnx_attr_int(c, "spatial", 1, &spatial));
    /* Before opset 7, is_test=0 asked for batch statistics; ONNX's own
     * version converter refuses an explicit 0 but takes the attribute's
     * absence as inference (what exporters meant). */
    int64_t is_test = 1;
    if (c->opset < 7 && onnx_attr(c, "is_test"))
        BNN_TRY(onnx_attr_int(c, "is_test", 1, &is_test));
    if (!is_test)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "is_test=0 (training mode) is not supported (inference only)");
    if (training)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "training_mode=1 is not supported (inference only)");
    if (!spatial)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "spatial=0 is not supported");
    for (int k = 1; k < 5; k++)
        BNN_TRY(onnx_unused_output(c, k, "training statistics"));
    float eps;
    BNN_TRY(onnx_attr_float(c, "epsilon", 1e-5f, &eps));
    BNN_TRY(onnx_emit_node(c, BNN_OP_BATCH_NORM, in, 5, &nid));
    BNN_TRY(onnx_set_float(c, nid, "epsilon", eps));
    return onnx_infer(c, nid);
}

/* ---- dense, gemm, matmul -------------------------------------------------- */

/* Makes W [out, in] = alpha * (trans ? B : B^T) from the f32 param B; reuses B
 * (same name) when nothing else reads it.  Returns the weight's value id. */
static bnn_status make_weight(onnx_ctx *c, int b, const char *bname, bool trans, float alpha, int *out)
{
    const bnn_value *bv = onnx_val(c, b);
    int64_t r = bv->shape.dims[0], k = bv->shape.dims[1];
    int64_t rows = trans ? r : k, cols = trans ? k : r;
    if (trans && alpha == 1.0f) {
        *out = b;
        return BNN_OK;
    }
    size_t n = (size_t)(r * k);
    float *w = malloc(sizeof(float) * (n ? n : 1));
    if (!w)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    const float *src = bv->data;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            w[i * cols + j] = alpha * (trans ? src[i * k + j] : src[j * k + i]);
    bnn_shape s = { .rank = 2, .dims = { rows, cols } };
    if (onnx_param_sole_use(c, b, bname)) {
        bnn_value *mv = bnn_graph_value(c->g, b);
        memcpy(mv->data, w, sizeof(float) * n);
        mv->shape = s;
        free(w);
        *out = b;
        return BNN_OK;
    }
    /* Inside an unrolled loop, every copy of the body reads one weight (the
     * loop's own, tied); elsewhere each layer gets its own parameter. */
    for (int i = 0; c->scope && i < c->n_derived; i++) {
        const onnx_derived_weight *d = &c->derived[i];
        if (d->src == b && d->trans == trans && d->alpha == alpha) {
            free(w);
            *out = d->out;
            return BNN_OK;
        }
    }
    char buf[300];
    char base[280];
    snprintf(base, sizeof base, "%s.weight", c->node_name);
    *out = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_F32, &s, w,
                               sizeof(float) * n, false);
    free(w);
    if (*out < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    if (!c->scope)
        return BNN_OK;
    if (c->n_derived == c->cap_derived) {
        int cap = c->cap_derived ? 2 * c->cap_derived : 16;
        onnx_derived_weight *grown = realloc(c->derived, sizeof *grown * (size_t)cap);
        if (!grown)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        c->derived = grown;
        c->cap_derived = cap;
    }
    c->derived[c->n_derived++] = (onnx_derived_weight){ b, *out, trans, alpha };
    return BNN_OK;
}

/* A bias for `out` outputs from an f32 param that broadcasts along the last
 * axis only ([out], [1,out], [1], scalar...): expanded to [out], times beta. */
static bool bias_fits(onnx_ctx *c, int id, int64_t out, int max_rank)
{
    if (!onnx_is_param(c, id) || onnx_val(c, id)->dtype != BNN_F32)
        return false;
    const bnn_shape *s = &onnx_val(c, id)->shape;
    if (s->rank > max_rank)
        return false;
    for (int i = 0; i + 1 < s->rank; i++)
        if (s->dims[i] != 1)
            return false;
    return s->rank == 0 || s->dims[s->rank - 1] == out || s->dims[s->rank - 1] == 1;
}

static bnn_status make_bias(onnx_ctx *c, int id, const char *name, int64_t out, float beta, int *res)
{
    const bnn_value *v = onnx_val(c, id);
    int64_t have = bnn_shape_numel(&v->shape);
    if (v->shape.rank == 1 && have == out && beta == 1.0f) {
        *res = id;
        return BNN_OK;
    }
    float *b = malloc(sizeof(float) * (size_t)(out ? out : 1));
    if (!b)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    const float *src = v->data;
    for (int64_t i = 0; i < out; i++)
        b[i] = beta * src[have == out ? i : 0];
    bnn_shape s = { .rank = 1, .dims = { out } };
    if (have == out && onnx_param_sole_use(c, id, name)) {
        bnn_value *mv = bnn_graph_value(c->g, id);
        memcpy(mv->data, b, sizeof(float) * (size_t)out);
        mv->shape = s;
        free(b);
        *res = id;
        return BNN_OK;
    }
    char buf[300], base[280];
    snprintf(base, sizeof base, "%s.bias", c->node_name);
    *res = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_F32, &s, b,
                               sizeof(float) * (size_t)out, false);
    free(b);
    return *res < 0 ? onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory") : BNN_OK;
}

static bool const_matrix(onnx_ctx *c, int id)
{
    return onnx_is_param(c, id) && onnx_val(c, id)->dtype == BNN_F32 && onnx_val(c, id)->shape.rank == 2;
}

bnn_status onnx_lower_gemm(onnx_ctx *c)
{
    int a, b, nid;
    BNN_TRY(onnx_need_input(c, 0, &a));
    BNN_TRY(onnx_need_input(c, 1, &b));
    int cc = onnx_input(c, 2);
    if (c->opset < 11 && cc < 0)
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 2 (C) is missing");
    float alpha, beta;
    int64_t ta, tb;
    BNN_TRY(onnx_attr_float(c, "alpha", 1.0f, &alpha));
    BNN_TRY(onnx_attr_float(c, "beta", 1.0f, &beta));
    BNN_TRY(onnx_attr_int(c, "transA", 0, &ta));
    BNN_TRY(onnx_attr_int(c, "transB", 0, &tb));
    if (!ta && const_matrix(c, b)) {
        int64_t out = tb ? onnx_val(c, b)->shape.dims[0] : onnx_val(c, b)->shape.dims[1];
        if (cc < 0 || bias_fits(c, cc, out, 2)) {
            int in[3] = { a, -1, -1 };
            BNN_TRY(make_weight(c, b, c->node->input[1], tb != 0, alpha, &in[1]));
            if (cc >= 0)
                BNN_TRY(make_bias(c, cc, c->node->input[2], out, beta, &in[2]));
            BNN_TRY(onnx_emit_node(c, BNN_OP_DENSE, in, cc >= 0 ? 3 : 2, &nid));
            return onnx_infer(c, nid);
        }
    }
    int in[3] = { a, b, cc };
    BNN_TRY(onnx_emit_node(c, BNN_OP_GEMM, in, cc >= 0 ? 3 : 2, &nid));
    BNN_TRY(onnx_set_float(c, nid, "alpha", alpha));
    BNN_TRY(onnx_set_float(c, nid, "beta", beta));
    BNN_TRY(onnx_set_int(c, nid, "trans_a", ta));
    BNN_TRY(onnx_set_int(c, nid, "trans_b", tb));
    return onnx_infer(c, nid);
}

/* The Add that follows MatMul and adds a constant bias, if the MatMul's
 * result goes nowhere else; its index in c->order, or -1. */
static int find_bias_add(onnx_ctx *c, int64_t out, int x_rank, int *bias, int *bias_pos)
{
    const char *mm_out = onnx_str(c->node->output[0]);
    onnx_name_entry *e = onnx_name_lookup(c, mm_out);
    if (!e || e->uses != 1)
        return -1;
    for (int i = c->cur + 1; i < c->n_order; i++) {
        const Onnx__NodeProto *nd = c->order[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            if (strcmp(onnx_str(nd->input[k]), mm_out) != 0)
                continue;
            if (strcmp(onnx_str(nd->op_type), "Add") || *onnx_str(nd->domain) || nd->n_input != 2 ||
                nd->n_output != 1 || nd->n_attribute)
                return -1;
            int other = (int)(1 - k);
            onnx_name_entry *be = onnx_name_lookup(c, onnx_str(nd->input[other]));
            if (!be || be->value_id < 0 || !bias_fits(c, be->value_id, out, x_rank))
                return -1;
            const bnn_shape *bs = &onnx_val(c, be->value_id)->shape;
            if (bs->rank < 1 || bs->dims[bs->rank - 1] != out)
                return -1; /* a scalar bias would be the same, but keep the add */
            *bias = be->value_id;
            *bias_pos = other;
            return i;
        }
    }
    return -1;
}

bnn_status onnx_lower_matmul(onnx_ctx *c)
{
    int a, b, nid;
    BNN_TRY(onnx_need_input(c, 0, &a));
    BNN_TRY(onnx_need_input(c, 1, &b));
    int x_rank = onnx_val(c, a)->shape.rank;
    if (!const_matrix(c, b) || x_rank < 2) {
        int in[2] = { a, b };
        BNN_TRY(onnx_emit_node(c, BNN_OP_MATMUL, in, 2, &nid));
        return onnx_infer(c, nid);
    }
    int64_t out = onnx_val(c, b)->shape.dims[1];
    int bias = -1, bias_pos = 0;
    int add = find_bias_add(c, out, x_rank, &bias, &bias_pos);
    int in[3] = { a, -1, -1 };
    BNN_TRY(make_weight(c, b, c->node->input[1], false, 1.0f, &in[1]));
    if (add < 0) {
        BNN_TRY(onnx_emit_node(c, BNN_OP_DENSE, in, 2, &nid));
        return onnx_infer(c, nid);
    }
    const Onnx__NodeProto *addn = c->order[add];
    BNN_TRY(make_bias(c, bias, addn->input[bias_pos], out, 1.0f, &in[2]));
    /* The dense produces the Add's output; the MatMul's own output vanishes. */
    int outv = bnn_graph_add_value(c->g, addn->output[0], BNN_UNDEFINED, NULL);
    if (outv < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    onnx_name_lookup(c, addn->output[0])->value_id = outv;
    nid = bnn_graph_add_node(c->g, BNN_OP_DENSE, c->node_name, in, 3, &outv, 1);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    c->fused[add] = true;
    /* The MatMul's output counts as defined for the used-output check. */
    onnx_name_lookup(c, c->node->output[0])->uses = 0;
    return onnx_infer(c, nid);
}

/* ---- Bayesian layers (domain ai.bnnc) ------------------------------------- */

static bnn_status reparam(onnx_ctx *c, bool conv)
{
    int in[5], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    BNN_TRY(onnx_need_input(c, 2, &in[2]));
    in[3] = onnx_input(c, 3);
    in[4] = onnx_input(c, 4);
    if ((in[3] < 0) != (in[4] < 0))
        return onnx_node_fail(c, BNN_ERR_INVALID, "bias_mu and bias_rho must come together");
    for (int i = 1; i < 5; i++) {
        if (in[i] < 0)
            continue;
        if (!onnx_is_param(c, in[i]))
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d must be an initializer", i);
        bnn_graph_value(c->g, in[i])->trainable = true;
    }
    float pmu, psig;
    const char *est;
    BNN_TRY(onnx_attr_float(c, "prior_mu", 0.0f, &pmu));
    BNN_TRY(onnx_attr_float(c, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT, &psig));
    BNN_TRY(onnx_attr_string(c, "estimator", "reparam", &est));
    window w = { 0 };
    int64_t group = 1;
    if (conv)
        BNN_TRY(conv_window(c, in[0], in[1], &w, &group));
    BNN_TRY(onnx_emit_node(c, conv ? BNN_OP_CONV_REPARAM : BNN_OP_DENSE_REPARAM, in, in[3] >= 0 ? 5 : 3, &nid));
    if (conv) {
        BNN_TRY(set_window(c, nid, &w, false));
        BNN_TRY(onnx_set_int(c, nid, "group", group));
    }
    BNN_TRY(onnx_set_float(c, nid, "prior_mu", pmu));
    BNN_TRY(onnx_set_float(c, nid, "prior_sigma", psig));
    BNN_TRY(onnx_set_string(c, nid, "estimator", est));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_dense_reparam(onnx_ctx *c) { return reparam(c, false); }
bnn_status onnx_lower_conv_reparam(onnx_ctx *c) { return reparam(c, true); }

