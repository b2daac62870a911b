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

/* Integer matmul operand k: u8 or i8 (i16, u16 too), at least 2-D; its zero
 * point z (optional) of its type, with one element or `per` of them. */
static bnn_status int_operand(infer_ctx *c, int k, int z, int64_t per)
{
    const bnn_value *v = infer_input(c, k), *zv = z >= 0 ? infer_input(c, z) : NULL;
    if (v->dtype != BNN_UNDEFINED && !quant_type(v->dtype))
        return infer_fail(c, "input '%s' has type %s; supported: u8, i8, u16, i16", v->name, infer_type(c, k));
    if (v->shape.rank >= 0 && v->shape.rank < 2)
        return infer_fail(c, "input '%s' %s: operands of fewer than 2 dims are not supported", v->name,
                          infer_type(c, k));
    if (!zv)
        return BNN_OK;
    if (zv->dtype != BNN_UNDEFINED && v->dtype != BNN_UNDEFINED && zv->dtype != v->dtype)
        return infer_fail(c, "zero point '%s' has type %s but input '%s' has %s", zv->name,
                          infer_type(c, z), v->name, infer_type(c, k));
    int64_t n = bnn_shape_numel(&zv->shape);
    if (zv->shape.rank > 1 || (bnn_shape_is_concrete(&zv->shape) && n != 1 && (per < 0 || n != per)))
        return infer_fail(c, "zero point '%s' %s must hold one element%s", zv->name, infer_type(c, z),
                          per >= 0 ? " or one per row (a) or column (b)" : "");
    return BNN_OK;
}

bnn_status bnn_infer_matmul_integer(infer_ctx *c)
{
    const bnn_shape *a = &infer_input(c, 0)->shape, *b = &infer_input(c, 1)->shape;
    BNN_TRY(int_operand(c, 0, infer_input(c, 2) ? 2 : -1, a->rank >= 2 ? a->dims[a->rank - 2] : -1));
    BNN_TRY(int_operand(c, 1, infer_input(c, 3) ? 3 : -1, b->rank >= 2 ? b->dims[b->rank - 1] : -1));
    c->out_dtype = BNN_I32;
    return infer_matmul_shape(c, 0, 1);
}

bnn_status bnn_infer_qlinear_matmul(infer_ctx *c)
{
    BNN_TRY(int_operand(c, 0, 2, -1));
    BNN_TRY(int_operand(c, 3, 5, -1));
    const int scales[3] = { 1, 4, 6 };
    for (int i = 0; i < 3; i++) {
        const bnn_value *s = infer_input(c, scales[i]);
        if ((s->dtype != BNN_UNDEFINED && s->dtype != BNN_F32) ||
            (bnn_shape_is_concrete(&s->shape) && bnn_shape_numel(&s->shape) != 1))
            return infer_fail(c, "scale '%s' %s must be one f32 (per-tensor)", s->name, infer_type(c, scales[i]));
    }
    const bnn_value *yz = infer_input(c, 7);
    if (yz->dtype != BNN_UNDEFINED && !quant_type(yz->dtype))
        return infer_fail(c, "zero point '%s' has type %s; supported: u8, i8, u16, i16", yz->name,
                          infer_type(c, 7));
    if (bnn_shape_is_concrete(&yz->shape) && bnn_shape_numel(&yz->shape) != 1)
        return infer_fail(c, "zero point '%s' %s must be one element (per-tensor)", yz->name, infer_type(c, 7));
    c->out_dtype = yz->dtype;
    return infer_matmul_shape(c, 0, 3);
}

/* A quantized convolution's operand k (x or w): u8, i8, u16 or i16, 3-D or
 * 4-D; its zero point z (optional) of its type, one element or (per >= 0)
 * `per` of them. */
static bnn_status conv_operand(infer_ctx *c, int k, int z, int64_t per)
{
    const bnn_value *v = infer_input(c, k), *zv = z >= 0 ? infer_input(c, z) : NULL;
    if (v->dtype != BNN_UNDEFINED && !quant_type(v->dtype))
        return infer_fail(c, "input '%s' has type %s; supported: u8, i8, u16, i16", v->name,
                          infer_type(c, k));
    if (v->shape.rank >= 0 && v->shape.rank != 3 && v->shape.rank != 4)
        return infer_fail(c, "input '%s' %s: a 1-D or 2-D convolution takes 3-D or 4-D operands",
                          v->name, infer_type(c, k));
    if (!zv)
        return BNN_OK;
    if (zv->dtype != BNN_UNDEFINED && v->dtype != BNN_UNDEFINED && zv->dtype != v->dtype)
        return infer_fail(c, "zero point '%s' has type %s but input '%s' has %s", zv->name,
                          infer_type(c, z), v->name, infer_type(c, k));
    int64_t n = bnn_shape_numel(&zv->shape);
    if (zv->shape.rank > 1 || (bnn_shape_is_concrete(&zv->shape) && n != 1 && (per < 0 || n != per)))
        return infer_fail(c, "zero point '%s' %s must hold one element%s", zv->name,
                          infer_type(c, z), per >= 0 ? " or one per output channel" : "");
    return BNN_OK;
}

static int64_t out_channels(infer_ctx *c, int w)
{
    const bnn_shape *ws = &infer_input(c, w)->shape;
    return ws->rank >= 1 ? ws->dims[0] : -1;
}

bnn_status bnn_infer_conv_integer(infer_ctx *c)
{
    BNN_TRY(conv_operand(c, 0, infer_input(c, 2) ? 2 : -1, -1));
    BNN_TRY(conv_operand(c, 1, infer_input(c, 3) ? 3 : -1, out_channels(c, 1)));
    BNN_TRY(infer_conv_like(c, 0, 1, 4));
    c->out_dtype = BNN_I32;
    return BNN_OK;
}

bnn_status bnn_infer_qlinear_conv(infer_ctx *c)
{
    int64_t m = out_channels(c, 3);
    BNN_TRY(conv_operand(c, 0, 2, -1));
    BNN_TRY(conv_operand(c, 3, 5, m));
    const int scales[3] = { 1, 4, 6 };
    for (int i = 0; i < 3; i++) {
        const bnn_value *s = infer_input(c, scales[i]);
        int64_t n = bnn_shape_numel(&s->shape);
        if ((s->dtype != BNN_UNDEFINED && s->dtype != BNN_F32) || s->shape.rank > 1 ||
            (bnn_shape_is_concrete(&s->shape) && n != 1 && (scales[i] != 4 || m < 0 || n != m)))
            return infer_fail(c, "scale '%s' %s must be one f32%s", s->name,
                              infer_type(c, scales[i]),
                              scales[i] == 4 ? " or one per output channel" : "");
    }
    const bnn_value *yz = infer_input(c, 7), *b = infer_input(c, 8);
    if (yz->dtype != BNN_UNDEFINED && !quant_type(yz->dtype))
        return infer_fail(c, "zero point '%s' has type %s; supported: u8, i8, u16, i16", yz->name,
                          infer_type(c, 7));
    if (bnn_shape_is_concrete(&yz->shape) && bnn_shape_numel(&yz->shape) != 1)
        return infer_fail(c, "zero point '%s' %s must be one element", yz->name, infer_type(c, 7));
    if (b && b->dtype != BNN_UNDEFINED && b->dtype != BNN_I32)
        return infer_fail(c, "bias '%s' has type %s, expected i32", b->name, infer_type(c, 8));
    BNN_TRY(infer_conv_like(c, 0, 3, 8));
    c->out_dtype = yz->dtype;
    return BNN_OK;
}
