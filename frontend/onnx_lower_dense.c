/* ONNX op -> IR op for the matrix products (runtime/kernels/dense.c): Gemm
 * and MatMul, into dense when the weight is a constant f32 matrix (MatMul
 * then takes a following bias Add along), else gemm and matmul.  Registered
 * in the table of onnx_lower.c.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

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
    BNN_TRY(onnx_bind_name(c, addn->output[0], outv));
    nid = bnn_graph_add_node(c->g, BNN_OP_DENSE, c->node_name, in, 3, &outv, 1);
    if (nid < 0)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    c->fused[add] = true;
    /* The MatMul's output counts as defined for the used-output check. */
    onnx_name_entry *mm = onnx_name_lookup(c, c->node->output[0]);
    if (mm) /* a hostile file may leave it undeclared */
        mm->uses = 0;
    return onnx_infer(c, nid);
}
