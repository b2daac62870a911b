/* Lowerings of the linear quantization family whose ops.def rows do not map
 * 1:1 (QuantizeLinear and DequantizeLinear do): DynamicQuantizeLinear, whose
 * three outputs (y, scale, zero point) the generic lowering cannot make.
 * Registered in the table of onnx_lower.c. */
#include "onnx_impl.h"

bnn_status onnx_lower_dynamic_quantize_linear(onnx_ctx *c)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_emit_outputs(c, BNN_OP_DYNAMIC_QUANTIZE_LINEAR, &x, 1, 3, &nid));
    return onnx_infer(c, nid);
}

/* ConvInteger (x, w, x_zero_point?, w_zero_point?) and QLinearConv (x,
 * x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
 * B?): the conv window read as Conv's (auto_pad resolved into pads), the
 * inputs as they are. */
static bnn_status lower_quant_conv(onnx_ctx *c, bnn_op op, int weight, int n_in, int n_required)
{
    int in[9], nid;
    for (int k = 0; k < n_in; k++) {
        if (k < n_required)
            BNN_TRY(onnx_need_input(c, k, &in[k]));
        else
            in[k] = onnx_input(c, k);
    }
    int n = n_in;
    while (n > n_required && in[n - 1] < 0)
        n--;
    onnx_window w = { 0 };
    int64_t group;
    BNN_TRY(onnx_conv_window(c, in[0], in[weight], &w, &group));
    BNN_TRY(onnx_emit_node(c, op, in, n, &nid));
    BNN_TRY(onnx_set_window(c, nid, &w, false));
    BNN_TRY(onnx_set_int(c, nid, "group", group));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_conv_integer(onnx_ctx *c)
{
    return lower_quant_conv(c, BNN_OP_CONV_INTEGER, 1, 4, 2);
}

bnn_status onnx_lower_qlinear_conv(onnx_ctx *c)
{
    return lower_quant_conv(c, BNN_OP_QLINEAR_CONV, 3, 9, 8);
}
