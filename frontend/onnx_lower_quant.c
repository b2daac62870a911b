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
