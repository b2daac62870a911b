/* Shape inference for linear algebra (runtime/kernels/linalg.c): einsum
 * (the equation parsed by einsum.c) and det.  Dispatch and the shared
 * helpers are in infer.c. */

#include "einsum_impl.h"
#include "infer_impl.h"

bnn_status bnn_infer_einsum(infer_ctx *c)
{
    int ranks[BNN_EINSUM_MAX_IN];
    bnn_shape shapes[BNN_EINSUM_MAX_IN];
    int n = c->node->n_inputs;
    bool known = true;
    for (int k = 0; k < n; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        BNN_TRY(infer_check_type(c, k, TYPES_NUMERIC, 0));
        shapes[k] = infer_input(c, k)->shape;
        ranks[k] = shapes[k].rank;
        known = known && ranks[k] >= 0;
    }
    c->out_dtype = infer_first_dtype(c);
    c->out = infer_unknown_shape;
    const bnn_attr *eq = bnn_node_attr(c->node, "equation");
    if (!eq)
        return infer_fail(c, "attribute 'equation' is missing");
    if (!known)
        return BNN_OK;
    bnn_einsum e;
    char why[160];
    int64_t size[BNN_EINSUM_MAX_LABELS];
    const char *text = bnn_node_string(c->node, "equation", "");
    if (!bnn_einsum_parse(text, n, ranks, &e, why, sizeof why) ||
        !bnn_einsum_sizes(&e, shapes, size, why, sizeof why))
        return infer_fail(c, "equation '%s': %s", text, why);
    c->out.rank = e.out_rank;
    for (int i = 0; i < e.out_rank; i++)
        c->out.dims[i] = size[e.out_label[i]];
    return BNN_OK;
}

/* x [..., M, M] -> [...]. */
bnn_status bnn_infer_det(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_FLOAT, -1));
    const bnn_shape *s = &infer_input(c, 0)->shape;
    c->out_dtype = infer_input(c, 0)->dtype;
    if (s->rank < 0) {
        c->out = infer_unknown_shape;
        return BNN_OK;
    }
    if (s->rank < 2 || infer_dims_conflict(s->dims[s->rank - 1], s->dims[s->rank - 2]))
        return infer_fail(c, "input '%s' %s is not a (batch of) square matrices", infer_name(c, 0),
                          infer_type(c, 0));
    c->out = *s;
    c->out.rank -= 2;
    return BNN_OK;
}
