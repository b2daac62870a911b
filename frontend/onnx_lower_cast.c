/* ONNX op -> IR op for Cast and CastLike (runtime/kernels/cast.c).  A cast
 * to i64 or i32 of known contents (shape arithmetic) stays known, as Slice
 * and Gather do, so Shape -> Cast -> Slice -> Reshape still ends in a
 * constant shape.  Registered in the table of onnx_lower.c.
 */
#include <stdint.h>
#include <string.h>

#include "cast_impl.h"
#include "onnx_impl.h"

/* The element type the model declares for input k when it is a graph input,
 * else its value's: a bound graph input (the conformance data stores bf16 as
 * u16) must not pass for another type. */
static bnn_dtype declared_dtype(onnx_ctx *c, int k)
{
    const char *name = onnx_str(c->node->input[k]);
    for (size_t i = 0; i < c->graph->n_input; i++) {
        const Onnx__ValueInfoProto *vi = c->graph->input[i];
        if (strcmp(onnx_str(vi->name), name) == 0 && vi->type && vi->type->tensor_type &&
            vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            return (bnn_dtype)vi->type->tensor_type->elem_type;
    }
    return onnx_val(c, onnx_input(c, k))->dtype;
}

/* Casts to i64 or i32 of known contents stay known (shape arithmetic). */
static bnn_status cast_to(onnx_ctx *c, int x, int64_t to)
{
    int nid;
    if (to < 0 || to > BNN_BF16 || !bnn_cast_type_ok((bnn_dtype)to))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "casting to %s is not supported",
                              bnn_onnx_type_name((int32_t)to));
    bnn_dtype from = declared_dtype(c, 0);
    if (from != BNN_UNDEFINED && !bnn_cast_type_ok(from))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "casting from %s is not supported",
                              bnn_onnx_type_name((int32_t)from));
    onnx_known k;
    if ((to == BNN_I64 || to == BNN_I32) && onnx_known_get(c, x, &k)) {
        /* Symbolic entries stay known through int32 too (paddle2onnx's
         * Shape -> Cast(int32) -> Slice -> Cast(int64)); a size past int32
         * is left to the runtime. */
        bool fits = true;
        for (int i = 0; i < k.n && to == BNN_I32; i++)
            fits = fits && ((k.sym >> i & 1) || (k.v[i] >= INT32_MIN && k.v[i] <= INT32_MAX));
        if (fits && !k.sym)
            return onnx_known_param(c, (bnn_dtype)to, k.rank, k.v, k.n);
        if (fits) {
            BNN_TRY(onnx_emit_node(c, BNN_OP_CAST, &x, 1, &nid));
            BNN_TRY(onnx_set_int(c, nid, "to", to));
            BNN_TRY(onnx_infer(c, nid));
            return onnx_known_set(c, bnn_graph_node(c->g, nid)->outputs[0], k.rank, k.v, k.n, k.sym);
        }
    }
    BNN_TRY(onnx_emit_node(c, BNN_OP_CAST, &x, 1, &nid));
    BNN_TRY(onnx_set_int(c, nid, "to", to));
    return onnx_infer(c, nid);
}

bnn_status onnx_lower_cast(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    if (!onnx_attr(c, "to"))
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'to' is missing");
    if (onnx_attr(c, "saturate") && c->opset < 19)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'saturate' belongs to opset 19 on");
    int64_t to = 0;
    if (c->opset < 6) {
        /* Cast-1 named the type: "FLOAT", "INT64", ... */
        const char *name;
        BNN_TRY(onnx_attr_string(c, "to", "", &name));
        to = -1;
        for (int t = 0; t <= BNN_BF16 && to < 0; t++)
            if (strcmp(bnn_onnx_type_name(t), name) == 0)
                to = t;
        if (to < 0)
            return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'to' names no type ('%s')", name);
    } else {
        BNN_TRY(onnx_attr_int(c, "to", 0, &to));
    }
    return cast_to(c, x, to);
}

bnn_status onnx_lower_cast_like(onnx_ctx *c)
{
    int x, like;
    BNN_TRY(onnx_need_input(c, 0, &x));
    BNN_TRY(onnx_need_input(c, 1, &like));
    if (onnx_attr(c, "saturate") && c->opset < 19)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'saturate' belongs to opset 19 on");
    bnn_dtype to = declared_dtype(c, 1);
    if (to == BNN_UNDEFINED)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the type of input 'target_type' is not known");
    return cast_to(c, x, to);
}
