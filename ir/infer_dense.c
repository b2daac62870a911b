/* Shape inference for the matrix products (runtime/kernels/dense.c): dense,
 * gemm and matmul.  Dispatch and the shared helpers are in infer.c; the
 * Bayesian dense layer (infer_bayes.c) shares infer_dense_like. */

#include "infer_impl.h"

/* y = x . W^T + b: x [..., in] (input 0), W [out, in] (input w), b [out]. */
bnn_status infer_dense_like(infer_ctx *c, int w, int b)
{
    const bnn_shape *x = &infer_input(c, 0)->shape, *ws = &infer_input(c, w)->shape;
    if (x->rank == 0)
        return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D", infer_name(c, 0),
                          infer_type(c, 0));
    if (ws->rank >= 0 && ws->rank != 2)
        return infer_fail(c, "weight '%s' has shape %s, expected 2-D [out, in]", infer_name(c, w),
                          infer_type(c, w));
    int64_t out_f = ws->rank == 2 ? ws->dims[0] : BNN_DIM_UNKNOWN;
    int64_t in_f = ws->rank == 2 ? ws->dims[1] : BNN_DIM_UNKNOWN;
    if (x->rank > 0 && infer_dims_conflict(x->dims[x->rank - 1], in_f))
        return infer_fail(c, "input '%s' has shape %s, weight expects %lld features",
                          infer_name(c, 0), infer_type(c, 0), (long long)in_f);
    if (infer_input(c, b)) {
        const bnn_shape *bs = &infer_input(c, b)->shape;
        if (bs->rank >= 0 && (bs->rank != 1 || infer_dims_conflict(bs->dims[0], out_f)))
            return infer_fail(c, "bias '%s' has shape %s, weight '%s' %s expects [%lld]",
                              infer_name(c, b), infer_type(c, b), infer_name(c, w),
                              infer_type(c, w), (long long)out_f);
        if (bs->rank == 1)
            out_f = infer_dim_meet(out_f, bs->dims[0]);
    }
    c->out_dtype = infer_first_dtype(c);
    if (x->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    c->out = *x;
    c->out.dims[x->rank - 1] = out_f;
    return BNN_OK;
}

bnn_status bnn_infer_dense(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_F32));
    return infer_dense_like(c, 1, 2);
}

bnn_status bnn_infer_gemm(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    bool ta, tb;
    BNN_TRY(infer_flag_attr(c, "trans_a", 0, &ta));
    BNN_TRY(infer_flag_attr(c, "trans_b", 0, &tb));
    int64_t m = BNN_DIM_UNKNOWN, ka = BNN_DIM_UNKNOWN, kb = BNN_DIM_UNKNOWN, n = BNN_DIM_UNKNOWN;
    for (int k = 0; k < 2; k++) {
        const bnn_shape *s = &infer_input(c, k)->shape;
        if (s->rank >= 0 && s->rank != 2)
            return infer_fail(c, "input '%s' has shape %s, expected 2-D", infer_name(c, k),
                              infer_type(c, k));
    }
    const bnn_shape *a = &infer_input(c, 0)->shape, *b = &infer_input(c, 1)->shape;
    if (a->rank == 2) {
        m = a->dims[ta ? 1 : 0];
        ka = a->dims[ta ? 0 : 1];
    }
    if (b->rank == 2) {
        kb = b->dims[tb ? 1 : 0];
        n = b->dims[tb ? 0 : 1];
    }
    if (infer_dims_conflict(ka, kb))
        return infer_fail(c, "inputs '%s' %s and '%s' %s do not multiply (trans_a=%d, trans_b=%d)",
                          infer_name(c, 0), infer_type(c, 0), infer_name(c, 1), infer_type(c, 1),
                          ta, tb);
    c->out_dtype = infer_first_dtype(c);
    c->out.rank = 2;
    c->out.dims[0] = m;
    c->out.dims[1] = n;
    if (infer_input(c, 2))
        BNN_TRY(infer_broadcast_onto(c, 2, &c->out, "the product"));
    return BNN_OK;
}

bnn_status bnn_infer_matmul(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = infer_first_dtype(c);
    return infer_matmul_shape(c, 0, 1);
}

/* numpy matmul's shape of inputs ka and kb into c->out. */
bnn_status infer_matmul_shape(infer_ctx *c, int ka, int kb)
{
    bnn_shape a = infer_input(c, ka)->shape, b = infer_input(c, kb)->shape;
    const int operands[2] = { ka, kb };
    for (int i = 0; i < 2; i++)
        if (infer_input(c, operands[i])->shape.rank == 0)
            return infer_fail(c, "input '%s' %s is a scalar, expected at least 1-D",
                              infer_name(c, operands[i]), infer_type(c, operands[i]));
    if (a.rank < 0 || b.rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    /* numpy: a 1-D a is a row [1, K], a 1-D b a column [K, 1]; those dims go. */
    bool a_vec = a.rank == 1, b_vec = b.rank == 1;
    if (a_vec) {
        a.dims[1] = a.dims[0];
        a.dims[0] = 1;
        a.rank = 2;
    }
    if (b_vec) {
        b.dims[1] = 1;
        b.rank = 2;
    }
    if (infer_dims_conflict(a.dims[a.rank - 1], b.dims[b.rank - 2]))
        return infer_fail(c, "inputs '%s' %s and '%s' %s do not multiply (%lld vs %lld)",
                          infer_name(c, ka), infer_type(c, ka), infer_name(c, kb), infer_type(c, kb),
                          (long long)a.dims[a.rank - 1], (long long)b.dims[b.rank - 2]);
    int64_t clash[2];
    c->out.rank = (a.rank > b.rank ? a.rank : b.rank) - 2;
    if (!infer_broadcast_dims(a.dims, a.rank - 2, b.dims, b.rank - 2, c->out.dims, clash))
        return infer_fail(c,
                          "inputs '%s' %s and '%s' %s: batch dims do not broadcast (%lld vs %lld)",
                          infer_name(c, ka), infer_type(c, ka), infer_name(c, kb), infer_type(c, kb),
                          (long long)clash[0], (long long)clash[1]);
    if (!a_vec)
        c->out.dims[c->out.rank++] = a.dims[a.rank - 2];
    if (!b_vec)
        c->out.dims[c->out.rank++] = b.dims[b.rank - 1];
    return BNN_OK;
}
