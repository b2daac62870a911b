/* Shape inference for the elementwise family (runtime/kernels/elementwise.c):
 * add, sub, mul and div with numpy broadcasting, the one-input activations
 * and math functions, identity, dropout, prelu and clip.  Dispatch and the
 * shared helpers are in infer.c. */

#include <math.h>
#include <string.h>

#include "infer_impl.h"

static bnn_status binary(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    c->out_dtype = infer_first_dtype(c);
    return infer_broadcast_pair(c, 0, 1);
}

bnn_status bnn_infer_add(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_sub(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_mul(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_div(infer_ctx *c) { return binary(c); }
bnn_status bnn_infer_relu(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_leaky_relu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_elu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_selu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sigmoid(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_tanh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_softplus(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_softsign(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_hard_sigmoid(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_hard_swish(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_thresholded_relu(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }

/* Celu divides by alpha: 0 (or inf, NaN) would make every output NaN. */
bnn_status bnn_infer_celu(infer_ctx *c)
{
    float alpha = bnn_node_float(c->node, "alpha", 1.0f);
    if (!(isfinite(alpha) && alpha != 0.0f))
        return infer_fail(c, "attribute 'alpha' is %g, expected a finite nonzero value",
                          (double)alpha);
    return infer_unary(c, TYPES_FLOAT);
}
/* Gelu's two forms; another value would silently pick one of them. */
bnn_status bnn_infer_gelu(infer_ctx *c)
{
    const char *mode = bnn_node_string(c->node, "approximate", "none");
    if (strcmp(mode, "none") != 0 && strcmp(mode, "tanh") != 0)
        return infer_fail(c, "attribute 'approximate' is '%s', expected 'none' or 'tanh'", mode);
    return infer_unary(c, TYPES_FLOAT);
}
bnn_status bnn_infer_mish(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_shrink(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_exp(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_log(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sqrt(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_reciprocal(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_abs(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_neg(infer_ctx *c) { return infer_unary(c, TYPES_NUMERIC); }
bnn_status bnn_infer_cos(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sin(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_tan(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_acos(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_asin(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_atan(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_cosh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_sinh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_acosh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_asinh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_atanh(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_erf(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_ceil(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_floor(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_round(infer_ctx *c) { return infer_unary(c, TYPES_FLOAT); }
bnn_status bnn_infer_identity(infer_ctx *c) { return infer_unary(c, TYPES_ANY); }

bnn_status bnn_infer_dropout(infer_ctx *c)
{
    float ratio = bnn_node_float(c->node, "ratio", 0.5f);
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return infer_fail(c, "attribute 'ratio' is %g, expected a value in [0, 1)", (double)ratio);
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_dropout_masked(infer_ctx *c)
{
    BNN_TRY(bnn_infer_dropout(c));
    c->extra_dtype[0] = BNN_BOOL;
    return BNN_OK;
}

bnn_status bnn_infer_prelu(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_FLOAT));
    BNN_TRY(infer_broadcast_onto(c, 1, &infer_input(c, 0)->shape, "input"));
    return infer_unary(c, TYPES_FLOAT);
}

bnn_status bnn_infer_clip(infer_ctx *c)
{
    BNN_TRY(infer_check_types_alike(c, TYPES_NUMERIC));
    for (int k = 1; k < 3; k++)
        if (infer_input(c, k) && infer_input(c, k)->shape.rank > 0)
            return infer_fail(c, "bound '%s' has shape %s, expected a scalar", infer_name(c, k),
                              infer_type(c, k));
    return infer_unary(c, TYPES_NUMERIC);
}
