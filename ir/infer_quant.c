/* Shape inference of the linear quantization family (runtime/kernels/quant.c):
 * quantize_linear, dequantize_linear, dynamic_quantize_linear. */
#include "infer_impl.h"

static bool quant_type(bnn_dtype t)
{
    return t == BNN_U8 || t == BNN_I8 || t == BNN_U16 || t == BNN_I16;
}

/* The scale (input 1) and zero point (input 2, optional) of x (input 0):
 * one element, or a 1-D of x's dim `axis`; the zero point of the scale's
 * shape.  block_size other than 0 is refused. */
static bnn_status check_scale(infer_ctx *c)
{
    if (bnn_node_int(c->node, "block_size", 0) != 0)
        return infer_fail(c, "attribute 'block_size' %lld: blocked quantization is not supported",
                          (long long)bnn_node_int(c->node, "block_size", 0));
    const bnn_value *x = infer_input(c, 0), *s = infer_input(c, 1), *z = infer_input(c, 2);
    if (s->dtype != BNN_UNDEFINED && s->dtype != BNN_F32)
        return infer_fail(c, "scale '%s' has type %s, expected f32", s->name, infer_type(c, 1));
    if (s->shape.rank < 0)
        return BNN_OK;
    int64_t n = bnn_shape_numel(&s->shape);
    if (s->shape.rank > 1 || (s->shape.rank == 1 && s->shape.dims[0] < 0))
        return infer_fail(c, "scale '%s' %s must be a scalar or 1-D", s->name, infer_type(c, 1));
    if (s->shape.rank == 1 && n != 1 && x->shape.rank >= 0) {
        int axis;
        if (!infer_norm_axis(bnn_node_int(c->node, "axis", 1), x->shape.rank, &axis))
            return infer_fail(c, "axis %lld is out of range for input '%s' %s",
                              (long long)bnn_node_int(c->node, "axis", 1), x->name, infer_type(c, 0));
        if (infer_dims_conflict(x->shape.dims[axis], n))
            return infer_fail(c, "scale '%s' %s does not fit dim %d of input '%s' %s", s->name,
                              infer_type(c, 1), axis, x->name, infer_type(c, 0));
    }
    if (z && z->shape.rank >= 0 && !bnn_shape_equal(&z->shape, &s->shape) &&
        !(bnn_shape_numel(&z->shape) == 1 && n == 1))
        return infer_fail(c, "zero point '%s' %s does not match scale '%s' %s", z->name,
                          infer_type(c, 2), s->name, infer_type(c, 1));
    return BNN_OK;
}

bnn_status bnn_infer_quantize_linear(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_F32, -1));
    BNN_TRY(check_scale(c));
    const bnn_value *z = infer_input(c, 2);
    bnn_dtype out = BNN_U8;
    if (bnn_node_attr(c->node, "output_dtype") && bnn_node_int(c->node, "output_dtype", 0) != 0)
        out = (bnn_dtype)bnn_node_int(c->node, "output_dtype", 0);
    if (z && z->dtype != BNN_UNDEFINED) {
        if (bnn_node_attr(c->node, "output_dtype") && bnn_node_int(c->node, "output_dtype", 0) != 0 &&
            out != z->dtype)
            return infer_fail(c, "attribute 'output_dtype' %lld differs from zero point '%s' %s",
                              (long long)bnn_node_int(c->node, "output_dtype", 0), z->name,
                              infer_type(c, 2));
        out = z->dtype;
    }
    if (!quant_type(out))
        return infer_fail(c, "quantizes to %s; supported: u8, i8, u16, i16",
                          bnn_dtype_name(out) ? bnn_dtype_name(out) : "an unknown type");
    c->out_dtype = out;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}

bnn_status bnn_infer_dequantize_linear(infer_ctx *c)
{
    const bnn_value *x = infer_input(c, 0), *z = infer_input(c, 2);
    if (x->dtype != BNN_UNDEFINED && !quant_type(x->dtype) && x->dtype != BNN_I32)
        return infer_fail(c, "input '%s' has type %s; supported: u8, i8, u16, i16, i32", x->name,
                          infer_type(c, 0));
    if (z && z->dtype != BNN_UNDEFINED && x->dtype != BNN_UNDEFINED && z->dtype != x->dtype)
        return infer_fail(c, "zero point '%s' has type %s but input '%s' has %s", z->name,
                          infer_type(c, 2), x->name, infer_type(c, 0));
    BNN_TRY(check_scale(c));
    c->out_dtype = BNN_F32;
    c->out = x->shape;
    return BNN_OK;
}

bnn_status bnn_infer_dynamic_quantize_linear(infer_ctx *c)
{
    BNN_TRY(infer_check_type(c, 0, TYPES_F32, -1));
    c->out_dtype = BNN_U8;
    c->out = infer_input(c, 0)->shape;
    c->n_extra = 2;
    c->extra[0] = (bnn_shape){ .rank = 0 };
    c->extra[1] = (bnn_shape){ .rank = 0 };
    c->extra_dtype[0] = BNN_F32;
    return BNN_OK;
}
