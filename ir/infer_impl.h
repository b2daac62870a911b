/* Internals shared by shape inference (ir/infer.c and one ir/infer_<family>.c
 * per op family, named as in runtime/kernels/), the verifier (ir/verify.c)
 * and their tests: the ops.def attribute schema, type text for messages, and
 * the context and helpers every bnn_infer_<stem> uses. */
#ifndef BNN_INFER_IMPL_H
#define BNN_INFER_IMPL_H

#include "bnn_ir.h"

/* ---- shape inference internals ------------------------------------------ */

typedef struct infer_ctx {
    const bnn_graph *g;
    const bnn_node *node;
    bnn_diag *diag;
    bnn_dtype out_dtype; /* the result, written to the output by the dispatcher */
    bnn_shape out;
    /* Ops whose outputs differ in shape (the recurrent layers): outputs
     * 1..n_extra get extra[k-1] instead of out (same dtype). */
    bnn_shape extra[3];
    int n_extra;
    /* Outputs 1..3 of another element type than out_dtype (Dropout's mask,
     * QuantizeLinear's scale, TopK's indices): BNN_UNDEFINED (as zeroed)
     * means out_dtype. */
    bnn_dtype extra_dtype[3];
    char label[300];
    char text[4][160];   /* type texts for one message, reused round robin */
    int next_text;
} infer_ctx;

typedef enum type_class {
    TYPES_ANY,     /* layout ops: every element type */
    TYPES_NUMERIC, /* arithmetic: not string or bool */
    TYPES_FLOAT,   /* f16, bf16, f32, f64 */
    TYPES_F32,     /* the layers bnnc's kernels compute in f32 */
} type_class;

/* One per ops.def row; the dispatch table in infer.c points at them. */
#define BNN_OP(id, name, min_in, max_in, n_out, attrs, stem, ...) \
    bnn_status bnn_infer_##stem(infer_ctx *c);
#include "ops.def"

/* Bound on sizes, strides, pads: no overflow below. */
#define ATTR_MAX ((int64_t)1 << 31)

/* Helpers (documented at their definitions in infer.c). */
extern const bnn_shape infer_unknown_shape; /* rank -1 */
const bnn_value *infer_input(const infer_ctx *c, int k);
const char *infer_type(infer_ctx *c, int k);
const char *infer_name(const infer_ctx *c, int k);
bnn_status infer_fail(infer_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool infer_type_fits(bnn_dtype t, type_class cls);
bnn_status infer_check_type(infer_ctx *c, int k, type_class cls, int like);
bnn_status infer_check_types_alike(infer_ctx *c, type_class cls);
bnn_dtype infer_first_dtype(const infer_ctx *c);
bool infer_dims_conflict(int64_t a, int64_t b);
int64_t infer_dim_meet(int64_t a, int64_t b);
int64_t infer_dim_add(int64_t a, int64_t b);
int64_t infer_dim_product(const int64_t *dims, int n);
bool infer_norm_axis(int64_t axis, int rank, int *out);
bnn_status infer_flag_attr(infer_ctx *c, const char *name, int64_t fallback, bool *out);
bnn_status infer_ints_attr(infer_ctx *c, const char *name, int count, int64_t fallback,
                           int64_t lo, int64_t hi, int64_t *out);
bnn_status infer_unary(infer_ctx *c, type_class cls);
/* numpy broadcasting (infer.c): of two dim lists, of inputs ka and kb, of
 * every input into c->out; input k one way onto a target shape. */
bool infer_broadcast_dims(const int64_t *a, int ra, const int64_t *b, int rb, int64_t *out,
                          int64_t clash[2]);
bnn_status infer_broadcast_pair(infer_ctx *c, int ka, int kb);
bnn_status infer_broadcast_all(infer_ctx *c);
bnn_status infer_broadcast_onto(infer_ctx *c, int k, const bnn_shape *target, const char *what);

/* Shared between families (documented at their definitions): the window
 * arithmetic of conv and pooling (infer_conv.c), and the dense and conv
 * shapes the Bayesian layers reuse (infer_dense.c, infer_conv.c). */
bnn_status infer_windows(infer_ctx *c, int spatial, const int64_t *kernel, bool ceil_mode,
                         const char *what);
bnn_status infer_conv_like(infer_ctx *c, int spatial, int w, int b);
bnn_status infer_dense_like(infer_ctx *c, int w, int b);
/* conv_transpose's shapes (infer_conv_transpose.c), the bias at input b. */
bnn_status infer_conv_transpose_like(infer_ctx *c, int b);
bnn_status infer_matmul_shape(infer_ctx *c, int ka, int kb);

#endif
