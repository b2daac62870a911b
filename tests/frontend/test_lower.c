/* Per-op lowering tests: each committed model under models/ (written by
 * gen_models.py) imports into the IR the op table promises, with the opset's
 * semantics resolved into explicit attributes, and exports back unchanged. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"

static bnn_graph *g;

static void teardown(void)
{
    bnn_graph_destroy(g);
    g = NULL;
}

TestSuite(lower, .fini = teardown);

Test(lower, gemm_with_constant_weight_is_dense_reusing_params)
{
    g = fe_import("gemm_dense.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_DENSE);
    cr_expect_str_eq(n->name, "fc");
    cr_assert_eq(n->n_inputs, 3);
    cr_expect_str_eq(bnn_graph_value(g, n->inputs[1])->name, "W");
    cr_expect_str_eq(bnn_graph_value(g, n->inputs[2])->name, "b");
    cr_expect_eq(g->n_nodes, 1);
    /* The batch dim stays symbolic. */
    const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
    cr_expect(bnn_dim_is_symbol(y->shape.dims[0]));
    cr_expect_str_eq(g->symbols[bnn_dim_symbol_index(y->shape.dims[0])], "N");
    fe_expect_roundtrip(g);
}

Test(lower, gemm_alpha_beta_transb0_scale_and_transpose)
{
    g = fe_import("gemm_alpha.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_DENSE);
    const bnn_value *w = bnn_graph_value(g, n->inputs[1]);
    cr_assert_eq(w->shape.rank, 2);
    cr_expect_eq(w->shape.dims[0], 3);
    cr_expect_eq(w->shape.dims[1], 4);
    /* B[k][j] = 3k + j; W[j][k] = alpha * B[k][j] with alpha 2. */
    const float *wd = w->data;
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++)
            cr_expect_float_eq(wd[j * 4 + k], 2.0f * (float)(3 * k + j), 1e-6);
    const bnn_value *b = bnn_graph_value(g, n->inputs[2]);
    cr_assert_eq(b->shape.rank, 1);
    cr_assert_eq(b->shape.dims[0], 3);
    const float *bd = b->data;
    for (int j = 0; j < 3; j++)
        cr_expect_float_eq(bd[j], 0.5f * (float)(j + 1), 1e-6);
    fe_expect_roundtrip(g);
}

Test(lower, gemm_with_shared_weight_gets_fresh_params)
{
    g = fe_import("gemm_shared.onnx", NULL);
    const bnn_node *a = fe_producer(g, "h"), *b = fe_producer(g, "y");
    cr_assert_eq(a->op, BNN_OP_DENSE);
    cr_assert_eq(b->op, BNN_OP_DENSE);
    cr_expect_str_eq(bnn_graph_value(g, a->inputs[1])->name, "fc1.weight");
    cr_expect_str_eq(bnn_graph_value(g, b->inputs[1])->name, "fc2.weight");
    /* B itself is untouched: B[k][j] = 3k + j, W[j][k] = B[k][j]. */
    const float *w = fe_param_f32(g, "fc2.weight");
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++)
            cr_expect_float_eq(w[j * 3 + k], (float)(3 * k + j), 0);
    /* The scalar C expands to [out], times beta. */
    const bnn_value *b1 = bnn_graph_value(g, a->inputs[2]), *b2 = bnn_graph_value(g, b->inputs[2]);
    cr_assert_eq(b1->shape.rank, 1);
    cr_assert_eq(b1->shape.dims[0], 3);
    cr_expect_float_eq(((const float *)b1->data)[2], 0.5f, 0);
    cr_expect_float_eq(((const float *)b2->data)[0], 1.0f, 0);
    cr_expect_eq(bnn_graph_find_value(g, "B"), -1, "nothing reads B any more");
    fe_expect_roundtrip(g);
}

Test(lower, unnamed_nodes_get_generated_names)
{
    g = fe_import("unnamed.onnx", NULL);
    cr_expect_str_eq(fe_producer(g, "a")->name, "Relu_0");
    cr_expect_str_eq(fe_producer(g, "y")->name, "Tanh_1");
    fe_expect_roundtrip(g);
}

Test(lower, gemm_with_runtime_weight_stays_gemm)
{
    g = fe_import("gemm_dynamic.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_GEMM);
    cr_expect_float_eq(bnn_node_float(n, "alpha", 0), 0.5f, 1e-7);
    cr_expect_eq(bnn_node_int(n, "trans_b", -1), 1);
    cr_expect_eq(bnn_node_int(n, "trans_a", -1), 0);
    fe_expect_roundtrip(g);
}

Test(lower, matmul_then_bias_add_is_one_dense)
{
    g = fe_import("matmul_add.onnx", NULL);
    cr_assert_eq(g->n_nodes, 1);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_DENSE);
    cr_expect_str_eq(n->name, "mm");
    cr_assert_eq(n->n_inputs, 3);
    /* W = B^T with B[k][j] = 3k + j. */
    const float *w = fe_param_f32(g, bnn_graph_value(g, n->inputs[1])->name);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++)
            cr_expect_float_eq(w[j * 4 + k], (float)(3 * k + j), 0);
    cr_expect_eq(bnn_graph_find_value(g, "t"), -1, "the MatMul's own output must vanish");
    fe_expect_roundtrip(g);
}

Test(lower, matmul_with_shared_result_keeps_the_add)
{
    g = fe_import("matmul_shared.onnx", NULL);
    cr_expect_eq(fe_producer(g, "t")->op, BNN_OP_DENSE);
    cr_expect_eq(fe_producer(g, "t")->n_inputs, 2);
    cr_expect_eq(fe_producer(g, "y")->op, BNN_OP_ADD);
    cr_expect_eq(fe_producer(g, "z")->op, BNN_OP_RELU);
    fe_expect_roundtrip(g);
}

Test(lower, batched_matmul_of_runtime_operands)
{
    g = fe_import("matmul_batched.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_MATMUL);
    const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
    cr_assert_eq(y->shape.rank, 3);
    cr_expect_eq(y->shape.dims[2], 5);
    fe_expect_roundtrip(g);
}

Test(lower, conv_auto_pad_resolves_into_pads)
{
    static const struct { const char *file; int64_t pads[4]; int64_t out; } cases[] = {
        { "conv_same_upper.onnx", { 1, 1, 2, 2 }, 4 },
        { "conv_same_lower.onnx", { 2, 2, 1, 1 }, 4 },
        { "conv_valid.onnx", { 0, 0, 0, 0 }, 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        g = fe_import(cases[i].file, NULL);
        const bnn_node *n = fe_producer(g, "y");
        cr_assert_eq(n->op, BNN_OP_CONV);
        fe_expect_ints(n, "pads", cases[i].pads, 4);
        fe_expect_ints(n, "strides", (int64_t[]){ 2, 2 }, 2);
        cr_expect_eq(bnn_node_int(n, "group", 0), 1);
        const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
        cr_expect_eq(y->shape.dims[2], cases[i].out, "%s", cases[i].file);
        fe_expect_roundtrip(g);
        teardown();
    }
}

Test(lower, conv1d_with_bias_dilation_and_groups)
{
    g = fe_import("conv1d.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_CONV);
    cr_expect_eq(n->n_inputs, 3);
    fe_expect_ints(n, "pads", (int64_t[]){ 1, 2 }, 2);
    fe_expect_ints(n, "dilations", (int64_t[]){ 2 }, 1);
    cr_expect_eq(bnn_node_int(n, "group", 0), 2);
    fe_expect_roundtrip(g);
}

/* A 3-D conv becomes a 2-D one over depth windows unrolled into channels
 * and the depths stacked into a tall image (frontend/onnx_lower_conv3d.c):
 * x [1, 1, 4, 4, 4], weight [1, 1, 2, 2, 2] -> the weight as [1, 2, 2, 2]
 * over [N, 2, 12, 4] (3 output depths of 4 rows), each plane's first 3 rows
 * sliced out; the fixed batch of 1 is freed and stays the batch. */
Test(lower, conv3d_lowers_to_2d_and_kernel_mismatch_is_an_error)
{
    g = fe_import("conv3d.onnx", NULL);
    const bnn_node *t = fe_producer(g, "y");
    cr_assert_eq(t->op, BNN_OP_SLICE);
    fe_expect_ints(t, "axes", (int64_t[]){ 3 }, 1);
    fe_expect_ints(t, "ends", (int64_t[]){ 3 }, 1);
    const bnn_value *y = &g->values[t->outputs[0]];
    cr_assert_eq(y->shape.rank, 5);
    cr_expect(bnn_dim_is_symbol(y->shape.dims[0]), "the batch stays a symbol");
    cr_expect_eq(y->shape.dims[2], 3);
    int convs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        if (n->op != BNN_OP_CONV)
            continue;
        convs++;
        const bnn_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
        cr_expect_eq(w->shape.rank, 4);
        cr_expect_eq(w->shape.dims[1], 2, "the depth window folded into the weight's channels");
        cr_expect_eq(x->shape.rank, 4);
        cr_expect_eq(x->shape.dims[1], 2);
        cr_expect_eq(x->shape.dims[2], 12, "three planes of four rows");
        cr_expect_eq(x->shape.dims[3], 4);
    }
    cr_expect_eq(convs, 1);
    fe_expect_roundtrip(g);
    bnn_status s;
    const char *m = fe_import_error("models", "conv_kernel_mismatch.onnx", &s);
    cr_expect_str_eq(m, "node 'conv' (Conv): kernel_shape does not match the weight's shape");
}

Test(lower, pools_with_ceil_mode_and_same_padding)
{
    g = fe_import("pools.onnx", NULL);
    const bnn_node *mp = fe_producer(g, "y");
    cr_assert_eq(mp->op, BNN_OP_MAX_POOL);
    cr_expect_eq(bnn_node_int(mp, "ceil_mode", 0), 1);
    fe_expect_ints(mp, "pads", (int64_t[]){ 1, 1, 1, 1 }, 4);
    const bnn_node *ap = fe_producer(g, "z");
    cr_assert_eq(ap->op, BNN_OP_AVG_POOL);
    cr_expect_eq(bnn_node_int(ap, "count_include_pad", 0), 1);
    /* SAME_UPPER with kernel 2, stride 1: one pad at the end. */
    fe_expect_ints(ap, "pads", (int64_t[]){ 0, 0, 1, 1 }, 4);
    fe_expect_roundtrip(g);
}

/* A MaxPool whose Indices output is read becomes max_pool_indices: y and
 * the i64 indices of the same shape, storage_order written (0), and it
 * exports back to the same IR. */
Test(lower, maxpool_indices_output_becomes_max_pool_indices)
{
    g = fe_import("maxpool_indices.onnx", NULL);
    const bnn_node *mp = fe_producer(g, "idx");
    cr_assert_eq(mp->op, BNN_OP_MAX_POOL_INDICES);
    cr_expect_eq(fe_producer(g, "y"), mp);
    const bnn_value *y = bnn_graph_value(g, mp->outputs[0]), *idx = bnn_graph_value(g, mp->outputs[1]);
    cr_expect_eq(y->dtype, BNN_F32);
    cr_expect_eq(idx->dtype, BNN_I64);
    cr_expect(bnn_shape_equal(&y->shape, &idx->shape));
    cr_expect_eq(idx->shape.rank, 4);
    cr_expect_eq(idx->shape.dims[3], 3);
    cr_expect_eq(bnn_node_int(mp, "storage_order", 9), 0);
    fe_expect_roundtrip(g);
}

Test(lower, softmax_before_13_flattens_unless_axis_is_last)
{
    g = fe_import("softmax_opset11.onnx", NULL);
    const bnn_node *sm = fe_producer(g, "y");
    cr_assert_eq(sm->op, BNN_OP_SOFTMAX);
    cr_expect_eq(bnn_node_int(sm, "axis", 99), 1);
    cr_expect_eq(bnn_node_int(sm, "coerce", 0), 1);
    const bnn_node *lsm = fe_producer(g, "z");
    cr_expect_eq(bnn_node_int(lsm, "axis", 99), 2);
    cr_expect_null(bnn_node_attr(lsm, "coerce"), "axis 2 is the last: no flattening needed");
}

Test(lower, softmax_13_defaults_to_last_axis)
{
    g = fe_import("softmax_opset13.onnx", NULL);
    const bnn_node *sm = fe_producer(g, "y");
    cr_expect_eq(bnn_node_int(sm, "axis", 99), -1);
    cr_expect_null(bnn_node_attr(sm, "coerce"));
    fe_expect_roundtrip(g);
}

Test(lower, flatten_softmax_reshape_chain_fuses_back_into_a_pre13_softmax)
{
    g = fe_import("softmax_chain.onnx", NULL);
    const bnn_node *a = fe_producer(g, "ay");
    cr_assert_eq(a->op, BNN_OP_SOFTMAX);
    cr_expect_str_eq(a->name, "asm");
    cr_expect_str_eq(bnn_graph_value(g, a->inputs[0])->name, "x");
    cr_expect_eq(bnn_node_int(a, "axis", 99), 1);
    cr_expect_eq(bnn_node_int(a, "coerce", 0), 1);
    const bnn_value *y = bnn_graph_value(g, a->outputs[0]);
    cr_assert_eq(y->shape.rank, 3);
    cr_expect_eq(y->shape.dims[2], 4);
    /* Chain b's softmax result is a graph output too: nothing fuses. */
    cr_expect_eq(fe_producer(g, "by")->op, BNN_OP_RESHAPE);
    cr_expect_eq(fe_producer(g, "bs")->op, BNN_OP_SOFTMAX);
    cr_expect_eq(fe_count_op(g, BNN_OP_FLATTEN), 1);
    cr_expect_eq(fe_count_op(g, BNN_OP_SOFTMAX), 2);
    fe_expect_roundtrip(g);
}

Test(lower, opset6_legacy_broadcast_prelu_batchnorm_dropout)
{
    g = fe_import("legacy_opset6.onnx", NULL);
    cr_expect_eq(g->onnx_opset, 6);
    /* Add(x[2,3,4], c3[3], broadcast=1, axis=1): c3 reshaped in place to [3,1]. */
    const bnn_node *add = fe_producer(g, "a");
    cr_assert_eq(add->op, BNN_OP_ADD);
    const bnn_value *c3 = bnn_graph_value(g, add->inputs[1]);
    cr_expect_str_eq(c3->name, "c3");
    cr_assert_eq(c3->shape.rank, 2);
    cr_expect_eq(c3->shape.dims[0], 3);
    cr_expect_eq(c3->shape.dims[1], 1);
    cr_expect_float_eq(((const float *)c3->data)[2], 3.0f, 0);
    /* Mul(a, s[3] a graph input, axis=1): an unsqueeze appends the 1. */
    const bnn_node *mul = fe_producer(g, "m");
    cr_assert_eq(mul->op, BNN_OP_MUL);
    const bnn_node *u = fe_producer(g, bnn_graph_value(g, mul->inputs[1])->name);
    cr_assert_eq(u->op, BNN_OP_UNSQUEEZE);
    cr_expect_str_eq(bnn_graph_value(g, u->inputs[0])->name, "s");
    fe_expect_ints(u, "axes", (int64_t[]){ 1 }, 1);
    /* PRelu's slope of 3 is per channel: [3,1]. */
    const bnn_value *slope = bnn_graph_value(g, fe_producer(g, "p")->inputs[1]);
    cr_assert_eq(slope->shape.rank, 2);
    cr_expect_eq(slope->shape.dims[0], 3);
    cr_expect_eq(fe_producer(g, "bn")->op, BNN_OP_BATCH_NORM);
    const bnn_node *d = fe_producer(g, "d");
    cr_assert_eq(d->op, BNN_OP_DROPOUT);
    cr_expect_float_eq(bnn_node_float(d, "ratio", 0), 0.25f, 0);
    /* Sub with broadcast=1 and no axis is suffix-aligned, as numpy: untouched. */
    const bnn_node *sub = fe_producer(g, "y");
    cr_expect_eq(bnn_graph_value(g, sub->inputs[1])->shape.rank, 1);
    const bnn_value *y = bnn_graph_value(g, sub->outputs[0]);
    cr_assert_eq(y->shape.rank, 3);
    cr_expect_eq(y->shape.dims[0], 2);
    cr_expect_eq(y->shape.dims[1], 3);
    cr_expect_eq(y->shape.dims[2], 4);
    fe_expect_roundtrip(g);
}

Test(lower, opset6_batchnorm_in_training_mode_is_unsupported)
{
    bnn_status s;
    const char *m = fe_import_error("models", "batchnorm_training_opset6.onnx", &s);
    cr_expect_eq(s, BNN_ERR_UNSUPPORTED);
    cr_expect_str_eq(m, "node 'bn' (BatchNormalization): is_test=0 (training mode) is not supported (inference only)");
}

Test(lower, dropout_mask_and_training_mode)
{
    /* training_mode true with ratio 0 keeps everything; the read mask makes
     * it dropout_masked, whose mask is bool */
    g = fe_import("dropout_mask_training.onnx", NULL);
    const bnn_node *d = fe_producer(g, "y");
    cr_assert_eq(d->op, BNN_OP_DROPOUT_MASKED);
    cr_expect_float_eq(bnn_node_float(d, "ratio", 1), 0.0f, 0);
    cr_assert_eq(d->n_outputs, 2);
    const bnn_value *mask = bnn_graph_value(g, d->outputs[1]);
    cr_expect_str_eq(mask->name, "mask");
    cr_expect_eq(mask->dtype, BNN_BOOL);
    cr_expect_eq(mask->shape.dims[1], 3);
    fe_expect_roundtrip(g);
    bnn_status s;
    const char *m = fe_import_error("models", "dropout_training_ratio.onnx", &s);
    cr_expect_eq(s, BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(m, "node 'd' (Dropout): training_mode is true with ratio 0.5"), "%s", m);
}

Test(lower, opset1_concat_default_axis_reshape_and_pad_attributes)
{
    g = fe_import("legacy_opset1.onnx", NULL);
    const bnn_node *cat = fe_producer(g, "c");
    cr_expect_eq(bnn_node_int(cat, "axis", 99), 1);
    const bnn_node *r = fe_producer(g, "r");
    cr_assert_eq(r->op, BNN_OP_RESHAPE);
    fe_expect_ints(r, "shape", (int64_t[]){ 0, -1 }, 2);
    const bnn_node *p = fe_producer(g, "y");
    cr_assert_eq(p->op, BNN_OP_PAD);
    fe_expect_ints(p, "pads", (int64_t[]){ 0, 1, 0, 2 }, 4);
    cr_expect_float_eq(bnn_node_float(p, "value", 0), 0.5f, 0);
    const bnn_value *y = bnn_graph_value(g, p->outputs[0]);
    cr_assert_eq(y->shape.rank, 2);
    cr_expect_eq(y->shape.dims[0], 2);
    cr_expect_eq(y->shape.dims[1], 15);
    fe_expect_roundtrip(g);
}

Test(lower, trailing_absent_input_is_not_an_extra_input)
{
    g = fe_import("trailing_empty_input.onnx", NULL);
    cr_expect_eq(fe_producer(g, "y")->op, BNN_OP_RELU);
}

Test(lower, clip_bounds_from_attributes_and_constant_inputs)
{
    g = fe_import("clip_opset10.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_expect_float_eq(bnn_node_float(n, "min", 0), -1.0f, 0);
    cr_expect_float_eq(bnn_node_float(n, "max", 0), 2.0f, 0);
    cr_expect_eq(n->n_inputs, 1);
    teardown();
    g = fe_import("clip_opset13.onnx", NULL);
    n = fe_producer(g, "y");
    cr_expect_float_eq(bnn_node_float(n, "min", 0), -1.0f, 0);
    cr_expect_null(bnn_node_attr(n, "max"), "a run-time max stays an input");
    cr_assert_eq(n->n_inputs, 3);
    cr_expect_eq(n->inputs[1], -1);
    cr_expect_str_eq(bnn_graph_value(g, n->inputs[2])->name, "hi");
    fe_expect_roundtrip(g);
}

static void check_layout(const char *file, const char *mode, float value)
{
    g = fe_import(file, NULL);
    fe_expect_ints(fe_producer(g, "u"), "axes", (int64_t[]){ 0 }, 1);
    fe_expect_ints(fe_producer(g, "s"), "axes", (int64_t[]){ 0 }, 1);
    const bnn_node *p = fe_producer(g, "p");
    cr_assert_eq(p->op, BNN_OP_PAD);
    cr_expect_eq(p->n_inputs, 1);
    fe_expect_ints(p, "pads", (int64_t[]){ 0, 1, 0, 2 }, 4);
    cr_expect_str_eq(bnn_node_string(p, "mode", ""), mode);
    cr_expect_float_eq(bnn_node_float(p, "value", -9), value, 0);
    const bnn_node *d = fe_producer(g, "y");
    cr_assert_eq(d->op, BNN_OP_DROPOUT);
    cr_expect_float_eq(bnn_node_float(d, "ratio", 0), 0.25f, 0);
    const bnn_value *y = bnn_graph_value(g, d->outputs[0]);
    cr_expect_eq(y->shape.dims[1], 6);
    fe_expect_roundtrip(g);
    teardown();
}

Test(lower, squeeze_unsqueeze_pad_dropout_across_opsets)
{
    check_layout("layout_opset10.onnx", "constant", 1.5f);
    check_layout("layout_opset13.onnx", "reflect", 0.0f);
}

Test(lower, batchnorm_activations_transpose_concat_flatten)
{
    g = fe_import("misc.onnx", NULL);
    const bnn_node *bn = fe_producer(g, "bn");
    cr_assert_eq(bn->op, BNN_OP_BATCH_NORM);
    cr_expect_float_eq(bnn_node_float(bn, "epsilon", 0), 1e-3f, 1e-9);
    cr_expect_float_eq(bnn_node_float(fe_producer(g, "a1"), "alpha", 0), 0.01f, 1e-9);
    cr_expect_float_eq(bnn_node_float(fe_producer(g, "a2"), "alpha", 0), 0.5f, 1e-9);
    cr_expect_float_eq(bnn_node_float(fe_producer(g, "a3"), "gamma", 0), 1.0507010f, 1e-6);
    cr_expect_eq(fe_producer(g, "a4")->op, BNN_OP_PRELU);
    fe_expect_ints(fe_producer(g, "t"), "perm", (int64_t[]){ 0, 2, 3, 1 }, 4);
    cr_expect_eq(bnn_node_int(fe_producer(g, "cc"), "axis", 0), -1);
    cr_expect_eq(bnn_node_int(fe_producer(g, "y"), "axis", 0), 2);
    fe_expect_roundtrip(g);
}

Test(lower, constants_of_every_form_become_params)
{
    g = fe_import("constants.onnx", NULL);
    cr_expect_float_eq(fe_param_f32(g, "c1")[0], 2.5f, 0);
    cr_expect_eq(bnn_graph_value(g, bnn_graph_find_value(g, "c1"))->shape.rank, 0);
    cr_expect_float_eq(fe_param_f32(g, "c2")[2], 3.0f, 0);
    cr_expect_eq(bnn_graph_value(g, bnn_graph_find_value(g, "c3"))->shape.dims[0], 3);
    cr_expect_eq(g->n_nodes, 3);
    fe_expect_roundtrip(g);
}

Test(lower, torch_view_shape_arithmetic_folds)
{
    g = fe_import("torch_view.onnx", NULL);
    /* conv, relu, reshape, dense: Shape/Gather/Unsqueeze/Concat are gone. */
    cr_expect_eq(g->n_nodes, 4);
    cr_expect_eq(fe_count_op(g, BNN_OP_SHAPE), 0);
    cr_expect_eq(fe_count_op(g, BNN_OP_GATHER), 0);
    cr_expect_eq(fe_count_op(g, BNN_OP_CONCAT), 0);
    cr_expect_eq(fe_count_op(g, BNN_OP_DENSE), 1);
    int r = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == BNN_OP_RESHAPE)
            r = i;
    cr_assert_geq(r, 0);
    const bnn_node *n = bnn_graph_node(g, r);
    cr_expect_eq(n->n_inputs, 1, "the shape operand folded into the attribute");
    fe_expect_ints(n, "shape", (int64_t[]){ 0, -1 }, 2);
    const bnn_value *out = bnn_graph_value(g, g->outputs[0]);
    cr_expect(bnn_dim_is_symbol(out->shape.dims[0]));
    cr_expect_eq(out->shape.dims[1], 5);
    fe_expect_roundtrip(g);
}

Test(lower, manual_view_folds_and_drops_shape_nodes)
{
    g = fe_import("view_manual.onnx", NULL);
    cr_assert_eq(g->n_nodes, 1);
    const bnn_node *n = fe_producer(g, "y");
    fe_expect_ints(n, "shape", (int64_t[]){ 0, -1 }, 2);
    for (int v = 0; v < g->n_values; v++)
        cr_expect_neq(bnn_graph_value(g, v)->dtype, BNN_I64, "leftover shape value '%s'",
                      bnn_graph_value(g, v)->name);
}

Test(lower, dynamic_reshape_keeps_its_shape_input)
{
    g = fe_import("reshape_input.onnx", NULL);
    const bnn_node *n = fe_producer(g, "y");
    cr_assert_eq(n->op, BNN_OP_RESHAPE);
    cr_expect_eq(n->n_inputs, 2);
    cr_expect_null(bnn_node_attr(n, "shape"));
    fe_expect_roundtrip(g);
}

Test(lower, binding_turns_an_input_into_a_constant)
{
    int64_t shape_data[2] = { 6, -1 };
    bnn_tensor t = { .dtype = BNN_I64, .shape = { .rank = 1, .dims = { 2 } }, .data = shape_data };
    bnn_onnx_binding b = { "shape", &t };
    bnn_onnx_import_options o = { .bindings = &b, .n_bindings = 1 };
    g = fe_import("reshape_input.onnx", &o);
    cr_expect_eq(g->n_inputs, 1, "the bound input is no longer a graph input");
    const bnn_node *n = fe_producer(g, "y");
    cr_expect_eq(n->n_inputs, 1);
    fe_expect_ints(n, "shape", shape_data, 2);
    const bnn_value *y = bnn_graph_value(g, n->outputs[0]);
    cr_expect_eq(y->shape.dims[0], 6);
    cr_expect_eq(y->shape.dims[1], 4);
}

Test(lower, binding_an_unknown_name_is_an_error)
{
    int64_t d = 1;
    bnn_tensor t = { .dtype = BNN_I64, .shape = { .rank = 1, .dims = { 1 } }, .data = &d };
    bnn_onnx_binding b = { "nope", &t };
    bnn_onnx_import_options o = { .bindings = &b, .n_bindings = 1 };
    bnn_diag diag;
    cr_assert_eq(bnn_onnx_import_file(fe_path("models", "reshape_input.onnx"), &o, &g, &diag),
                 BNN_ERR_INVALID);
    cr_expect_str_eq(diag.message, "binding 'nope' names no graph input");
}

Test(lower, external_data_is_read_at_its_offset)
{
    g = fe_import("external.onnx", NULL);
    const float *w = fe_param_f32(g, "W");
    /* gen_models.py: arr([3, 4], 15), after 16 bytes of padding. */
    FILE *f = fopen(fe_path("models", "external.bin"), "rb");
    cr_assert_not_null(f);
    float want[12];
    cr_assert_eq(fseek(f, 16, SEEK_SET), 0);
    cr_assert_eq(fread(want, sizeof(float), 12, f), 12u);
    fclose(f);
    cr_expect_arr_eq(w, want, sizeof want);
    fe_expect_roundtrip(g);
}

Test(lower, bayesian_layers_read_back_with_trainable_params)
{
    g = fe_import("bayes.onnx", NULL);
    const bnn_node *c = fe_producer(g, "c");
    cr_assert_eq(c->op, BNN_OP_CONV_REPARAM);
    cr_expect_str_eq(c->name, "conv1");
    fe_expect_ints(c, "pads", (int64_t[]){ 1, 1, 1, 1 }, 4);
    const bnn_node *d = fe_producer(g, "y");
    cr_assert_eq(d->op, BNN_OP_DENSE_REPARAM);
    cr_expect_float_eq(bnn_node_float(d, "prior_sigma", 0), 0.5f, 0);
    cr_expect_str_eq(bnn_node_string(d, "estimator", ""), "reparam");
    for (int k = 1; k < 5; k++) {
        cr_expect(bnn_graph_value(g, c->inputs[k])->trainable);
        cr_expect(bnn_graph_value(g, d->inputs[k])->trainable);
    }
    fe_expect_roundtrip(g);
}

Test(lower, supported_ops_table)
{
    int n;
    const bnn_onnx_op_support *ops = bnn_onnx_supported_ops(&n);
    static const char *const required[] = {
        "Add", "Sub", "Mul", "Div", "Gemm", "MatMul", "Conv", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu",
        "Sigmoid", "Tanh", "Softplus", "Softsign", "Clip", "Softmax", "LogSoftmax", "Flatten",
        "Reshape", "Transpose", "Concat", "Squeeze", "Unsqueeze", "Pad", "BatchNormalization",
        "Dropout", "Identity", "Constant", "Shape", "Gather", "Exp", "Log", "Sqrt", "Abs", "Neg",
    };
    for (size_t r = 0; r < sizeof required / sizeof *required; r++) {
        bool found = false;
        for (int i = 0; i < n; i++)
            if (!strcmp(ops[i].domain, "") && !strcmp(ops[i].op_type, required[r])) {
                found = true;
                cr_expect_eq(ops[i].since_opset, 1, "%s", required[r]);
                cr_expect_eq(ops[i].until_opset, 21);
            }
        cr_expect(found, "%s missing from the supported ops", required[r]);
    }
    int bnnc = 0;
    for (int i = 0; i < n; i++)
        bnnc += !strcmp(ops[i].domain, "ai.bnnc");
    cr_expect_eq(bnnc, 4); /* DenseReparam, ConvReparam, ConvTransposeReparam, WeightReparam */
}
