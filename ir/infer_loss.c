/* Shape inference for nll_loss and softmax_cross_entropy_loss
 * (runtime/kernels/loss.c): scores [N, C, d1..dk] of a float type, integer
 * targets [N, d1..dk], class weights [C] of the scores' type; the loss is the
 * targets' shape for reduction "none", a scalar otherwise, and
 * softmax_cross_entropy_loss's log_prob has the scores' shape.  Dispatch and
 * the shared helpers are in infer.c. */
#include <string.h>

#include "infer_impl.h"

static bnn_status loss_like(infer_ctx *c, bool with_log_prob)
{
    const bnn_value *x = infer_input(c, 0), *t = infer_input(c, 1), *w = infer_input(c, 2);
    if (!x || !t)
        return infer_fail(c, "input %d is absent", x ? 1 : 0);
    BNN_TRY(infer_check_type(c, 0, TYPES_FLOAT, -1));
    BNN_TRY(infer_check_type(c, 2, TYPES_FLOAT, 0));
    if (t->dtype != BNN_UNDEFINED && t->dtype != BNN_I32 && t->dtype != BNN_I64)
        return infer_fail(c, "target '%s' is %s, expected i32 or i64", infer_name(c, 1),
                          infer_type(c, 1));
    const char *reduction = bnn_node_string(c->node, "reduction", "mean");
    bool none = strcmp(reduction, "none") == 0;
    if (!none && strcmp(reduction, "sum") != 0 && strcmp(reduction, "mean") != 0)
        return infer_fail(c, "reduction '%s' is not none, sum or mean", reduction);

    const bnn_shape *xs = &x->shape, *ts = &t->shape;
    if (xs->rank >= 0 && xs->rank < 2)
        return infer_fail(c, "scores '%s' are %s, expected rank 2 or more [N, C, ...]",
                          infer_name(c, 0), infer_type(c, 0));
    if (xs->rank >= 0 && ts->rank >= 0 && ts->rank != xs->rank - 1)
        return infer_fail(c, "target '%s' is %s, expected rank %d for scores '%s' %s",
                          infer_name(c, 1), infer_type(c, 1), xs->rank - 1, infer_name(c, 0),
                          infer_type(c, 0));
    /* The targets' shape, met with the scores' dims other than C. */
    bnn_shape per = *ts;
    if (xs->rank >= 2) {
        per.rank = xs->rank - 1;
        for (int i = 0; i < per.rank; i++) {
            int64_t xd = xs->dims[i == 0 ? 0 : i + 1];
            int64_t td = ts->rank >= 0 ? ts->dims[i] : xd;
            if (infer_dims_conflict(xd, td))
                return infer_fail(c, "target '%s' is %s but scores '%s' are %s: dims other than "
                                  "C (axis 1) must match", infer_name(c, 1), infer_type(c, 1),
                                  infer_name(c, 0), infer_type(c, 0));
            per.dims[i] = infer_dim_meet(xd, td);
        }
    }
    if (w && w->shape.rank >= 0) {
        int64_t classes = xs->rank >= 2 ? xs->dims[1] : BNN_DIM_UNKNOWN;
        if (w->shape.rank != 1 || infer_dims_conflict(w->shape.dims[0], classes))
            return infer_fail(c, "weight '%s' is %s, expected one weight per class of scores "
                              "'%s' %s", infer_name(c, 2), infer_type(c, 2), infer_name(c, 0),
                              infer_type(c, 0));
    }
    c->out_dtype = x->dtype;
    if (none) {
        c->out = per;
    } else {
        memset(&c->out, 0, sizeof c->out);
        c->out.rank = 0;
    }
    if (with_log_prob) {
        c->extra[0] = *xs;
        c->n_extra = 1;
    }
    return BNN_OK;
}

bnn_status bnn_infer_nll_loss(infer_ctx *c) { return loss_like(c, false); }
bnn_status bnn_infer_softmax_cross_entropy_loss(infer_ctx *c) { return loss_like(c, true); }
