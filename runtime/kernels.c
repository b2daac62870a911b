/* The op table expanded into the runtime's kernel table. */
#include <stdarg.h>
#include <stdio.h>

#include "kernel.h"

#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, ...) extern const bnn_kernel bnn_kernel_##stem;
#include "ops.def"

static const bnn_kernel *const kernel_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, ...) [BNN_OP_##id] = &bnn_kernel_##stem,
#include "ops.def"
};

const bnn_kernel *bnn_kernel_get(bnn_op op)
{
    BNN_ASSERT(op >= 0 && op < BNN_OP_COUNT);
    return kernel_table[op];
}

bnn_status bnn_kernel_fail(const bnn_kernel_args *args, bnn_diag *diag, bnn_status status,
                           const char *fmt, ...)
{
    char label[300], what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return bnn_fail(diag, status, "%s: %s",
                    bnn_node_label(args->graph, args->node_id, label, sizeof label), what);
}

bnn_status bnn_kernel_axis_lines(const bnn_kernel_args *args, const bnn_tensor *x, int64_t axis,
                                 bool coerce, bnn_axis_lines *l, bnn_diag *diag)
{
    int rank = x->shape.rank, r = rank > 0 ? rank : 1;
    if (axis < -r || axis >= r)
        return bnn_kernel_fail(args, diag, BNN_ERR_SHAPE, "axis %lld is out of range for rank %d",
                               (long long)axis, rank);
    if (axis < 0)
        axis += r;
    l->outer = l->len = l->inner = 1;
    for (int d = 0; d < rank; d++) {
        int64_t n = x->shape.dims[d];
        if (d < axis)
            l->outer *= n;
        else if (d == axis || coerce)
            l->len *= n;
        else
            l->inner *= n;
    }
    return BNN_OK;
}

bnn_status bnn_kernel_need_f32_grad(const bnn_kernel_args *args, bnn_dtype dt, bnn_diag *diag)
{
    if (dt == BNN_F32)
        return BNN_OK;
    const char *name = bnn_dtype_name(dt);
    return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED,
                           "gradients of element type %s are not supported", name ? name : "?");
}
