/* Shape inference for cast (runtime/kernels/cast.c): the input's shape, the
 * element type `to`.  bnn_cast_type_ok (cast_impl.h) is the one list of the
 * types cast converts between, which the importer and the kernel use too.
 * Dispatch and the shared helpers are in infer.c. */

#include "cast_impl.h"
#include "infer_impl.h"

/* Declared in cast_impl.h. */
bool bnn_cast_type_ok(bnn_dtype t)
{
    switch (t) {
    case BNN_F32: case BNN_F64: case BNN_F16: case BNN_BOOL:
    case BNN_I8: case BNN_I16: case BNN_I32: case BNN_I64:
    case BNN_U8: case BNN_U16: case BNN_U32: case BNN_U64:
        return true;
    default:
        return false;
    }
}

bnn_status bnn_infer_cast(infer_ctx *c)
{
    const bnn_attr *to = bnn_node_attr(c->node, "to");
    if (!to)
        return infer_fail(c, "attribute 'to' is required");
    bnn_dtype t = (bnn_dtype)to->i;
    if (to->i < 0 || to->i > BNN_BF16 || !bnn_cast_type_ok(t)) {
        const char *name = to->i >= 0 && to->i <= BNN_BF16 ? bnn_dtype_name(t) : NULL;
        return infer_fail(c, "attribute 'to' is %lld (%s), expected a numeric, bool or f16 type",
                          (long long)to->i, name ? name : "unknown");
    }
    bnn_dtype from = infer_input(c, 0)->dtype;
    if (from != BNN_UNDEFINED && !bnn_cast_type_ok(from))
        return infer_fail(c, "input '%s' has type %s, which cast does not convert",
                          infer_name(c, 0), infer_type(c, 0));
    c->out_dtype = t;
    c->out = infer_input(c, 0)->shape;
    return BNN_OK;
}
