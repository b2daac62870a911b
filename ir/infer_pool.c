/* Shape inference for pooling (runtime/kernels/pool.c): max_pool and
 * avg_pool over 1 to 3 spatial dims (the window arithmetic is conv's,
 * infer_windows in infer_conv.c), global_avg_pool and global_max_pool.
 * Dispatch and the shared helpers are in infer.c. */

#include "infer_impl.h"

static bnn_status pool(infer_ctx *c)
{
    bool indices = c->node->op == BNN_OP_MAX_POOL_INDICES;
    if (indices) {
        bnn_dtype t = infer_input(c, 0)->dtype;
        if (t != BNN_UNDEFINED && t != BNN_F32 && t != BNN_F64 && t != BNN_I8 && t != BNN_U8)
            return infer_fail(c, "input '%s' %s: max_pool_indices takes f32, f64, i8 or u8",
                              infer_name(c, 0), infer_type(c, 0));
        bool column_major;
        BNN_TRY(infer_flag_attr(c, "storage_order", 0, &column_major));
        c->extra_dtype[0] = BNN_I64;
        c->n_extra = 1;
    } else {
        BNN_TRY(infer_check_type(c, 0, TYPES_FLOAT, -1));
    }
    const int64_t *kernel;
    int spatial = bnn_node_ints(c->node, "kernel_shape", &kernel);
    int rank = infer_input(c, 0)->shape.rank;
    if (!bnn_node_attr(c->node, "kernel_shape"))
        return infer_fail(c, "attribute 'kernel_shape' is required");
    if (spatial < 1 || spatial > 3)
        return infer_fail(c, "attribute 'kernel_shape' has %d values, expected 1 to 3", spatial);
    if (rank >= 0 && rank != spatial + 2)
        return infer_fail(c, "input '%s' has shape %s, kernel_shape expects %d-D", infer_name(c, 0),
                          infer_type(c, 0), spatial + 2);
    for (int i = 0; i < spatial; i++)
        if (kernel[i] < 1 || kernel[i] > ATTR_MAX)
            return infer_fail(c, "attribute 'kernel_shape' has %lld at position %d, expected >= 1",
                              (long long)kernel[i], i);
    bool ceil_mode, include_pad;
    BNN_TRY(infer_flag_attr(c, "ceil_mode", 0, &ceil_mode));
    BNN_TRY(infer_flag_attr(c, "count_include_pad", 0, &include_pad));
    c->out_dtype = infer_input(c, 0)->dtype;
    c->out.rank = 2 + spatial;
    for (int i = 0; i < 2; i++)
        c->out.dims[i] = rank >= 0 ? infer_input(c, 0)->shape.dims[i] : BNN_DIM_UNKNOWN;
    BNN_TRY(infer_windows(c, spatial, kernel, ceil_mode, "window"));
    c->extra[0] = c->out;
    return BNN_OK;
}

bnn_status bnn_infer_max_pool(infer_ctx *c) { return pool(c); }
bnn_status bnn_infer_avg_pool(infer_ctx *c) { return pool(c); }
bnn_status bnn_infer_max_pool_indices(infer_ctx *c) { return pool(c); }

static bnn_status global_pool(infer_ctx *c)
{
    BNN_TRY(infer_unary(c, TYPES_FLOAT));
    if (c->out.rank >= 0 && c->out.rank < 3)
        return infer_fail(c, "input '%s' has shape %s, expected [N, C, spatial...]",
                          infer_name(c, 0), infer_type(c, 0));
    for (int i = 2; i < c->out.rank; i++)
        c->out.dims[i] = 1;
    return BNN_OK;
}

bnn_status bnn_infer_global_avg_pool(infer_ctx *c) { return global_pool(c); }
bnn_status bnn_infer_global_max_pool(infer_ctx *c) { return global_pool(c); }
