/* Shape inference of the recurrent layers (ops.def: lstm, gru, rnn): the
 * operand shapes ONNX's LSTM, GRU and RNN require, and Y, Y_h (and Y_c)
 * from the sequence, the batch, the directions and the hidden size. */
#include <string.h>

#include "infer_impl.h"

/* Operand k has rank `rank` and, where both are known, dims `want`
 * (BNN_DIM_UNKNOWN: any). */
static bnn_status check_dims(infer_ctx *c, int k, int rank, const int64_t *want)
{
    const bnn_value *v = infer_input(c, k);
    if (!v || v->shape.rank < 0)
        return BNN_OK;
    bool fits = v->shape.rank == rank;
    for (int i = 0; fits && i < rank; i++)
        fits = want[i] == BNN_DIM_UNKNOWN || !infer_dims_conflict(v->shape.dims[i], want[i]);
    if (fits)
        return BNN_OK;
    char buf[160];
    bnn_shape w = { .rank = rank };
    memcpy(w.dims, want, sizeof(int64_t) * (size_t)rank);
    return infer_fail(c, "input %d '%s' is %s, expected %s", k, infer_name(c, k), infer_type(c, k),
                      bnn_type_text(c->g, BNN_F32, &w, buf, sizeof buf));
}

static bnn_status recurrent(infer_ctx *c, int gates, int n_out)
{
    for (int k = 0; k < 3; k++)
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
    for (int k = 0; k < c->node->n_inputs; k++)
        if (k != 4 && infer_input(c, k))
            BNN_TRY(infer_check_type(c, k, TYPES_F32, -1));
    if (infer_input(c, 4) && infer_input(c, 4)->dtype != BNN_I32)
        return infer_fail(c, "sequence_lens '%s' is %s, expected i32", infer_name(c, 4), infer_type(c, 4));
    const char *dir = bnn_node_string(c->node, "direction", "forward");
    int64_t D;
    if (strcmp(dir, "forward") == 0 || strcmp(dir, "reverse") == 0)
        D = 1;
    else if (strcmp(dir, "bidirectional") == 0)
        D = 2;
    else
        return infer_fail(c, "direction '%s' is not forward, reverse or bidirectional", dir);
    bool batch_first;
    BNN_TRY(infer_flag_attr(c, "layout", 0, &batch_first));
    if (bnn_node_float(c->node, "clip", 0) < 0)
        return infer_fail(c, "clip %g is negative", (double)bnn_node_float(c->node, "clip", 0));
    if (c->node->op == BNN_OP_GRU) {
        bool lbr;
        BNN_TRY(infer_flag_attr(c, "linear_before_reset", 0, &lbr));
    }
    const bnn_shape *x = &infer_input(c, 0)->shape, *r = &infer_input(c, 2)->shape;
    int64_t H = bnn_node_int(c->node, "hidden_size", 0);
    if (H < 0 || H > ATTR_MAX)
        return infer_fail(c, "hidden_size %lld is out of range", (long long)H);
    if (H == 0) {
        if (r->rank != 3 || !bnn_dim_is_known(r->dims[2]))
            return infer_fail(c, "hidden_size is absent and R '%s' (%s) does not give it", infer_name(c, 2),
                              infer_type(c, 2));
        H = r->dims[2];
    }
    if (x->rank >= 0 && x->rank != 3)
        return infer_fail(c, "X '%s' is %s, expected rank 3", infer_name(c, 0), infer_type(c, 0));
    int64_t T = x->rank == 3 ? x->dims[batch_first ? 1 : 0] : BNN_DIM_UNKNOWN;
    int64_t B = x->rank == 3 ? x->dims[batch_first ? 0 : 1] : BNN_DIM_UNKNOWN;
    int64_t I = x->rank == 3 ? x->dims[2] : BNN_DIM_UNKNOWN;
    int64_t w[3] = { D, gates * H, I }, rr[3] = { D, gates * H, H }, b[2] = { D, 2 * gates * H };
    int64_t seq[1] = { B }, h0[3] = { D, B, H }, p[2] = { D, 3 * H };
    if (batch_first) {
        h0[0] = B;
        h0[1] = D;
    }
    BNN_TRY(check_dims(c, 1, 3, w));
    BNN_TRY(check_dims(c, 2, 3, rr));
    BNN_TRY(check_dims(c, 3, 2, b));
    BNN_TRY(check_dims(c, 4, 1, seq));
    /* An initial state with a batch of 1 is shared by every row (a model
     * exported at batch 1 bakes its zero state in at that size). */
    int64_t h0_any[3] = { h0[0], h0[1], h0[2] };
    h0_any[batch_first ? 0 : 1] = BNN_DIM_UNKNOWN;
    for (int k = 5; k <= (c->node->op == BNN_OP_LSTM ? 6 : 5); k++) {
        const bnn_value *v = infer_input(c, k);
        bool shared = v && v->shape.rank == 3 && v->shape.dims[batch_first ? 0 : 1] == 1;
        BNN_TRY(check_dims(c, k, 3, shared ? h0_any : h0));
    }
    if (c->node->op == BNN_OP_LSTM)
        BNN_TRY(check_dims(c, 7, 2, p));
    c->out_dtype = BNN_F32;
    c->out.rank = 4;
    if (batch_first) {
        int64_t y[4] = { B, T, D, H };
        memcpy(c->out.dims, y, sizeof y);
    } else {
        int64_t y[4] = { T, D, B, H };
        memcpy(c->out.dims, y, sizeof y);
    }
    c->n_extra = n_out - 1;
    for (int k = 0; k < c->n_extra; k++) {
        c->extra[k].rank = 3;
        memcpy(c->extra[k].dims, h0, sizeof h0);
    }
    return BNN_OK;
}

bnn_status bnn_infer_lstm(infer_ctx *c) { return recurrent(c, 4, 3); }
bnn_status bnn_infer_gru(infer_ctx *c) { return recurrent(c, 3, 2); }
bnn_status bnn_infer_rnn(infer_ctx *c) { return recurrent(c, 1, 2); }
