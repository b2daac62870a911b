/* ONNX op -> IR op for RandomNormalLike (runtime/kernels/random.c).
 * Registered in the table of onnx_lower.c.
 */
#include "onnx_impl.h"

/* RandomNormalLike: mean and scale always written (ONNX defaults 0 and 1);
 * seed and dtype only when the model gives them. */
bnn_status onnx_lower_random_normal_like(onnx_ctx *c)
{
    int x, nid;
    float mean, scale, seed;
    int64_t dtype;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_attr_float(c, "mean", 0.0f, &mean));
    BNN_TRY(onnx_attr_float(c, "scale", 1.0f, &scale));
    BNN_TRY(onnx_attr_float(c, "seed", 0.0f, &seed));
    BNN_TRY(onnx_attr_int(c, "dtype", 0, &dtype));
    BNN_TRY(onnx_emit_node(c, BNN_OP_RANDOM_NORMAL_LIKE, &x, 1, &nid));
    BNN_TRY(onnx_set_float(c, nid, "mean", mean));
    BNN_TRY(onnx_set_float(c, nid, "scale", scale));
    if (onnx_attr(c, "seed"))
        BNN_TRY(onnx_set_float(c, nid, "seed", seed));
    if (onnx_attr(c, "dtype"))
        BNN_TRY(onnx_set_int(c, nid, "dtype", dtype));
    return onnx_infer(c, nid);
}
