/* ONNX op -> IR op for MaxPool and AveragePool (runtime/kernels/pool.c);
 * GlobalAveragePool and GlobalMaxPool map 1:1 through their ops.def rows.
 * The window attributes are read as Conv's (onnx_lower_conv.c).  Registered
 * in the table of onnx_lower.c.  A MaxPool whose Indices output something
 * reads, or over i8/u8, becomes max_pool_indices (runtime/kernels/
 * pool_indices.c), whose second output is Indices (a fresh value nothing
 * reads when the model leaves it out).
 */
#include <stdio.h>

#include "onnx_impl.h"

static bnn_status pool(onnx_ctx *c, bnn_op op)
{
    int x, nid;
    BNN_TRY(onnx_need_input(c, 0, &x));
    bnn_dtype dt = onnx_val(c, x)->dtype;
    bool with_indices = op == BNN_OP_MAX_POOL && c->opset >= 8 &&
                        (onnx_output_used(c, 1) || dt == BNN_I8 || dt == BNN_U8);
    if (op == BNN_OP_MAX_POOL && !with_indices)
        BNN_TRY(onnx_unused_output(c, 1, "Indices"));
    if (dt != BNN_F32 && dt != BNN_F64 && dt != BNN_F16 && dt != BNN_UNDEFINED && !with_indices)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "pooling over %s is not supported", bnn_dtype_name(dt));
    const int64_t *ks;
    int nks;
    BNN_TRY(onnx_attr_ints(c, "kernel_shape", &ks, &nks));
    if (nks < 1 || nks > 3)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'kernel_shape' is missing or has %d values", nks);
    onnx_window w = { .nsp = nks };
    for (int i = 0; i < nks; i++) {
        if (ks[i] < 1)
            return onnx_node_fail(c, BNN_ERR_INVALID, "kernel_shape has an invalid value %lld", (long long)ks[i]);
        w.kernel[i] = ks[i];
    }
    /* Average pooling gained dilations only in opset 19. */
    BNN_TRY(onnx_read_window(c, x, &w, op == BNN_OP_MAX_POOL ? c->opset >= 10 : c->opset >= 19));
    int64_t ceil_mode = 0, cip = 0, storage = 0;
    if (c->opset >= 10)
        BNN_TRY(onnx_attr_int(c, "ceil_mode", 0, &ceil_mode));
    if (op == BNN_OP_AVG_POOL)
        BNN_TRY(onnx_attr_int(c, "count_include_pad", 0, &cip));
    if (op == BNN_OP_MAX_POOL)
        BNN_TRY(onnx_attr_int(c, "storage_order", 0, &storage));
    if (with_indices) {
        int outs[2];
        for (int j = 0; j < 2; j++) {
            if ((size_t)j < c->node->n_output && *onnx_str(c->node->output[j])) {
                outs[j] = onnx_define_output(c, j);
            } else {
                char base[300], buf[320];
                snprintf(base, sizeof base, "%s_indices", c->node_name);
                outs[j] = bnn_graph_add_value(c->g, onnx_fresh_name(c, base, buf, sizeof buf),
                                              BNN_UNDEFINED, NULL);
            }
            if (outs[j] < 0)
                return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        }
        nid = bnn_graph_add_node(c->g, BNN_OP_MAX_POOL_INDICES, c->node_name, &x, 1, outs, 2);
        if (nid < 0)
            return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
        BNN_TRY(onnx_set_int(c, nid, "storage_order", storage));
    } else {
        BNN_TRY(onnx_emit_node(c, op, &x, 1, &nid));
    }
    BNN_TRY(onnx_set_window(c, nid, &w, true));
    BNN_TRY(onnx_set_int(c, nid, "ceil_mode", ceil_mode));
    if (op == BNN_OP_AVG_POOL)
        BNN_TRY(onnx_set_int(c, nid, "count_include_pad", cip));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_max_pool(onnx_ctx *c) { return pool(c, BNN_OP_MAX_POOL); }
bnn_status onnx_lower_avg_pool(onnx_ctx *c) { return pool(c, BNN_OP_AVG_POOL); }
