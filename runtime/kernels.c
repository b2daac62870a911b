/* The op table expanded into the runtime's kernel table. */
#include "kernel.h"

#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem) extern const bnn_kernel bnn_kernel_##stem;
#include "ops.def"

static const bnn_kernel *const kernel_table[BNN_OP_COUNT] = {
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem) [BNN_OP_##id] = &bnn_kernel_##stem,
#include "ops.def"
};

const bnn_kernel *bnn_kernel_get(bnn_op op)
{
    BNN_ASSERT(op >= 0 && op < BNN_OP_COUNT);
    return kernel_table[op];
}
