/* The malformed corpus (malformed/, written by gen_models.py): each file gets
 * its own one-line error and status, and never a crash.  A mutation test
 * feeds corrupted and truncated copies of a real model through the importer. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef struct bad_case {
    const char *file;
    bnn_status status;
    const char *message;
} bad_case;

static const bad_case cases[] = {
    { "truncated.onnx", BNN_ERR_INVALID, "not a valid ONNX model (protobuf parse failed)" },
    { "random.onnx", BNN_ERR_INVALID, "not a valid ONNX model (protobuf parse failed)" },
    { "empty.onnx", BNN_ERR_INVALID, "not a valid ONNX model (empty file)" },
    { "huge_dims.onnx", BNN_ERR_INVALID, "initializer 'w': raw_data has 4 bytes, the shape needs 4398046511104" },
    { "huge_dims_overflow.onnx", BNN_ERR_INVALID, "initializer 'w': element count overflows" },
    { "raw_data_short.onnx", BNN_ERR_INVALID, "initializer 'w': raw_data has 8 bytes, the shape needs 12" },
    { "float_data_short.onnx", BNN_ERR_INVALID, "initializer 'w': float_data has 2 elements, the shape needs 4" },
    { "negative_dim_initializer.onnx", BNN_ERR_INVALID, "initializer 'w': dimension 1 is negative (-3)" },
    { "negative_dim_input.onnx", BNN_ERR_INVALID, "graph input 'x': dimension 1 is negative (-3)" },
    { "rank9.onnx", BNN_ERR_UNSUPPORTED, "graph input 'x': rank 9 exceeds the maximum 8" },
    { "unknown_op.onnx", BNN_ERR_UNSUPPORTED,
      "the model (opset 13) uses 1 op bnnc does not support: FooBar (1 node, first 'foo') "
      "(`bnnc ops` lists the supported ones)" },
    { "unknown_domain.onnx", BNN_ERR_UNSUPPORTED,
      "the model (opset 13) uses 1 op bnnc does not support: com.example:Relu (1 node, first 'r') "
      "(`bnnc ops` lists the supported ones)" },
    { "undefined_input.onnx", BNN_ERR_INVALID,
      "node 'conv' (Conv): input 'W' is not defined (no initializer, graph input or node output)" },
    { "missing_input.onnx", BNN_ERR_INVALID, "node 'add' (Add): input 1 is missing" },
    { "undefined_output.onnx", BNN_ERR_INVALID, "graph output 'z' is not defined" },
    { "duplicate_initializer.onnx", BNN_ERR_INVALID, "initializer 'w' is defined twice" },
    { "duplicate_output.onnx", BNN_ERR_INVALID, "node 'b' (Tanh): output 'y' is already defined" },
    { "cyclic.onnx", BNN_ERR_INVALID, "node 'first' (Relu): the graph has a cycle through this node" },
    { "wrong_attr_type.onnx", BNN_ERR_INVALID, "node 'lr' (LeakyRelu): attribute 'alpha' has type INT, expected FLOAT" },
    { "opset22.onnx", BNN_ERR_UNSUPPORTED,
      "opset 22 of the default domain is not supported (bnnc reads opsets 1 to 21)" },
    { "unknown_ops.onnx", BNN_ERR_UNSUPPORTED,
      "the model (opset 13) uses 3 ops bnnc does not support: FooBar (2 nodes, first 'foo'), "
      "com.example:Baz (1 node, first 'baz'), LayerNormalization (1 node, first 'ln', needs opset 17) "
      "(`bnnc ops` lists the supported ones)" },
    { "too_many_inputs.onnx", BNN_ERR_INVALID,
      "node 'relu' (Relu): has 2 inputs, but Relu takes at most 1 at opset 13" },
    { "string_input.onnx", BNN_ERR_UNSUPPORTED, "graph input 'x': element type STRING is not supported" },
    { "external_escape.onnx", BNN_ERR_INVALID,
      "initializer 'W': external data location '../../../etc/passwd' leaves the model's directory" },
    { "external_short.onnx", BNN_ERR_INVALID,
      "initializer 'W': external data 'short.bin' has 8 bytes, needs 4000 from offset 0" },
};

Test(malformed, each_file_gets_its_error)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bnn_status s;
        const char *m = fe_import_error("malformed", cases[i].file, &s);
        cr_expect_str_eq(m, cases[i].message, "%s", cases[i].file);
        cr_expect_eq(s, cases[i].status, "%s: status %s", cases[i].file, bnn_status_name(s));
        cr_expect_null(strchr(m, '\n'), "%s: the message is one line", cases[i].file);
    }
}

Test(malformed, inconsistent_shapes_name_the_node)
{
    bnn_status s;
    const char *m = fe_import_error("malformed", "shape_mismatch.onnx", &s);
    cr_expect_eq(s, BNN_ERR_SHAPE);
    cr_expect(strncmp(m, "node 'add' (add): ", 18) == 0, "got: %s", m);
}

Test(malformed, missing_file_is_an_io_error)
{
    bnn_graph *g = (bnn_graph *)1;
    bnn_diag d;
    cr_expect_eq(bnn_onnx_import_file("/nonexistent/model.onnx", NULL, &g, &d), BNN_ERR_IO);
    cr_expect_null(g);
    cr_expect(strstr(d.message, "cannot open") != NULL, "got: %s", d.message);
}

Test(malformed, buffer_without_a_directory_refuses_external_data)
{
    FILE *f = fopen(fe_path("models", "external.onnx"), "rb");
    cr_assert_not_null(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    bnn_graph *g;
    bnn_diag d;
    cr_expect_eq(bnn_onnx_import_buffer(buf, n, NULL, NULL, &g, &d), BNN_ERR_INVALID);
    cr_expect_str_eq(d.message, "initializer 'W': external data 'external.bin' but the model was not read from a file");
}

/* Corrupted and truncated copies of a real model: each imports or fails
 * with a message, never crashes (the sanitizer build checks memory too). */
Test(malformed, mutations_never_crash, .timeout = 120)
{
    FILE *f = fopen(fe_path("models", "torch_view.onnx"), "rb");
    cr_assert_not_null(f);
    static unsigned char orig[1 << 16], buf[1 << 16];
    size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    cr_assert_gt(n, 100u);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    int failures = 0, total = 0;
    for (int round = 0; round < 600; round++) {
        memcpy(buf, orig, n);
        size_t len = n;
        if (round % 3 == 0) {
            len = (size_t)round * 7 % n;
        } else {
            for (int k = 0; k < 1 + round % 4; k++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                buf[(state >> 33) % n] = (unsigned char)(state >> 17);
            }
        }
        bnn_graph *g = NULL;
        bnn_diag d = { 0 };
        bnn_status s = bnn_onnx_import_buffer(buf, len, NULL, NULL, &g, &d);
        total++;
        if (s != BNN_OK) {
            failures++;
            cr_expect_null(g);
            cr_expect_gt(strlen(d.message), 0u);
        } else {
            cr_expect_eq(bnn_graph_verify(g, &d), BNN_OK, "%s", d.message);
            bnn_graph_destroy(g);
        }
    }
    /* Most mutations must be caught: the test is not vacuous. */
    cr_expect_gt(failures, total / 3, "only %d of %d mutations failed", failures, total);
}
