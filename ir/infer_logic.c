/* Shape inference for comparison, logic and selection: the comparisons
 * (equal, greater, less, greater_or_equal, less_or_equal: bool out), and, or,
 * xor, not (bool in and out), where (3-way broadcasting), sign, mod, is_nan
 * and is_inf.  Dispatch and the shared helpers are in infer.c. */

#include <string.h>

#include "infer_impl.h"

/* Input k has type `want` (when known). */
static bnn_status need_type(infer_ctx *c, int k, bnn_dtype want)
{
    const bnn_value *v = infer_input(c, k);
    if (!v)
        return infer_fail(c, "input %d is absent", k);
    if (v->dtype != BNN_UNDEFINED && v->dtype != want)
        return infer_fail(c, "input '%s' has type %s, expected %s", v->name, infer_type(c, k),
                          bnn_dtype_name(want));
    return BNN_OK;
}

static bool is_float_type(bnn_dtype t)
{
    return t == BNN_F32 || t == BNN_F64 || t == BNN_F16 || t == BNN_UNDEFINED;
}

/* bf16 and string have no kernels here. */
static bnn_status no_bf16(infer_ctx *c, int k)
{
    const bnn_value *v = infer_input(c, k);
    if (v && (v->dtype == BNN_BF16 || v->dtype == BNN_STRING))
        return infer_fail(c, "input '%s' has type %s, which this op does not take", v->name,
                          infer_type(c, k));
    return BNN_OK;
}

/* ---- comparisons and logic ------------------------------------------------- */

/* Two operands of one numeric type (equal also takes bool); y is bool. */
bnn_status bnn_infer_compare(infer_ctx *c)
{
    bool equal = c->node->op == BNN_OP_EQUAL;
    for (int k = 0; k < 2; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        BNN_TRY(no_bf16(c, k));
        if (!(equal && infer_input(c, k)->dtype == BNN_BOOL))
            BNN_TRY(infer_check_type(c, k, TYPES_NUMERIC, -1));
    }
    BNN_TRY(infer_check_type(c, 1, TYPES_ANY, 0));
    c->out_dtype = BNN_BOOL;
    return infer_broadcast_all(c);
}

bnn_status bnn_infer_logic(infer_ctx *c)
{
    BNN_TRY(need_type(c, 0, BNN_BOOL));
    BNN_TRY(need_type(c, 1, BNN_BOOL));
    c->out_dtype = BNN_BOOL;
    return infer_broadcast_all(c);
}

bnn_status bnn_infer_logical_not(infer_ctx *c)
{
    BNN_TRY(need_type(c, 0, BNN_BOOL));
    c->out_dtype = BNN_BOOL;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}

/* ---- where ------------------------------------------------------------------ */

/* y = cond ? x : y', cond bool, x and y' of one type; all three broadcast. */
bnn_status bnn_infer_where(infer_ctx *c)
{
    BNN_TRY(need_type(c, 0, BNN_BOOL));
    for (int k = 1; k < 3; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        BNN_TRY(no_bf16(c, k));
    }
    BNN_TRY(infer_check_type(c, 2, TYPES_ANY, 1));
    c->out_dtype = infer_input(c, 1)->dtype != BNN_UNDEFINED ? infer_input(c, 1)->dtype
                                                             : infer_input(c, 2)->dtype;
    return infer_broadcast_all(c);
}

/* ---- sign, mod, is_nan, is_inf ----------------------------------------------- */

bnn_status bnn_infer_sign(infer_ctx *c)
{
    BNN_TRY(no_bf16(c, 0));
    return infer_unary(c, TYPES_NUMERIC);
}

/* fmod=0 (the default) takes the divisor's sign, as Python's %; fmod=1 the
 * dividend's, as C's fmod.  Floats with fmod=0 are computed too (ONNX asks
 * for fmod=1 there, onnxruntime computes the floored remainder). */
/* Unsigned operands of one type; direction LEFT or RIGHT. */
bnn_status bnn_infer_bit_shift(infer_ctx *c)
{
    const char *dir = bnn_node_string(c->node, "direction", "");
    if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0)
        return infer_fail(c, "attribute 'direction' is '%s', expected 'LEFT' or 'RIGHT'", dir);
    for (int k = 0; k < 2; k++) {
        bnn_dtype t = infer_input(c, k)->dtype;
        if (t != BNN_UNDEFINED && t != BNN_U8 && t != BNN_U16 && t != BNN_U32 && t != BNN_U64)
            return infer_fail(c, "input '%s' %s is not of an unsigned integer type",
                              infer_name(c, k), infer_type(c, k));
        BNN_TRY(infer_check_type(c, k, TYPES_NUMERIC, 0));
    }
    c->out_dtype = infer_first_dtype(c);
    return infer_broadcast_all(c);
}

bnn_status bnn_infer_mod(infer_ctx *c)
{
    for (int k = 0; k < 2; k++) {
        if (!infer_input(c, k))
            return infer_fail(c, "input %d is absent", k);
        BNN_TRY(no_bf16(c, k));
        BNN_TRY(infer_check_type(c, k, TYPES_NUMERIC, 0));
    }
    bool fmod;
    BNN_TRY(infer_flag_attr(c, "fmod", 0, &fmod));
    c->out_dtype = infer_first_dtype(c);
    return infer_broadcast_all(c);
}

static bnn_status float_test(infer_ctx *c)
{
    const bnn_value *x = infer_input(c, 0);
    if (!is_float_type(x->dtype))
        return infer_fail(c, "input '%s' has type %s, expected f16, f32 or f64", x->name,
                          infer_type(c, 0));
    c->out_dtype = BNN_BOOL;
    c->out = x->shape;
    return BNN_OK;
}

bnn_status bnn_infer_is_nan(infer_ctx *c) { return float_test(c); }

bnn_status bnn_infer_is_inf(infer_ctx *c)
{
    bool neg, pos;
    BNN_TRY(infer_flag_attr(c, "detect_negative", 1, &neg));
    BNN_TRY(infer_flag_attr(c, "detect_positive", 1, &pos));
    return float_test(c);
}
