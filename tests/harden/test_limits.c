/* Limits instead of crashes, and graphs that stay linear: hostile and very
 * large ONNX models built in memory (onnx_wire.c) end in a clean import or a
 * clean error naming the limit.  Under the ASan+UBSan build of tools/check a
 * sanitizer report fails the test as well. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_runtime.h"
#include "onnx_wire.h"

static bnn_status import(const wire *w, const char *dir, bnn_graph **g, bnn_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    return bnn_onnx_import_buffer(w->data, w->len, dir, NULL, g, diag);
}

/* Model M must be refused with a message that contains WANT. */
static void refused(const wire *m, const char *want)
{
    bnn_graph *g = NULL;
    bnn_diag diag;
    cr_assert_neq(import(m, NULL, &g, &diag), BNN_OK, "imported; expected '%s'", want);
    cr_assert(strstr(diag.message, want), "%s (expected '%s')", diag.message, want);
}

/* A chain of N relus (listed last first when REVERSED), imported. */
static bnn_graph *import_chain(int n, int reversed)
{
    wire m = {0};
    wire_relu_chain(&m, n, reversed);
    bnn_graph *g = NULL;
    bnn_diag diag;
    cr_assert_eq(import(&m, NULL, &g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(g->n_nodes, n);
    wire_free(&m);
    return g;
}

/* The 100,000-node chain of the hostile corpus: import, verify, convert and
 * plan all work (the time is a benchmark's business: bench_import_chain). */
Test(limits, relu_chain_100k_imports_converts_and_runs)
{
    bnn_graph *g = import_chain(100000, 0);
    bnn_diag diag;
    cr_assert_eq(bnn_graph_verify(g, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(bnn_passes_run_text("canonicalize,to-bnn,dce", g, &diag), BNN_OK, "%s",
                 diag.message);
    cr_assert_eq(g->n_nodes, 100000);
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = 1;
    bnn_session *s = NULL;
    cr_assert_eq(bnn_session_create_batch(g, 1, &opt, &s, &diag), BNN_OK, "%s", diag.message);
    /* A chain needs two live buffers at a time, not one per node. */
    cr_assert_leq(bnn_session_arena_bytes(s), 4 * 64, "arena %zu bytes",
                  bnn_session_arena_bytes(s));
    cr_assert_eq(bnn_session_run(s, &diag), BNN_OK, "%s", diag.message);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

/* Nodes listed last first: ordering them is linear too, and gives the chain. */
Test(limits, reversed_chain_is_ordered)
{
    bnn_graph *g = import_chain(50000, 1);
    for (int i = 1; i < g->n_nodes; i++)
        cr_assert_eq(g->nodes[i].inputs[0], g->nodes[i - 1].outputs[0]);
    bnn_graph_destroy(g);
}

/* A graph with no inputs, outputs or nodes: once a UBSan report (memcpy from
 * a null pointer in the value renumbering). */
Test(limits, empty_graph)
{
    wire m = {0}, graph = {0};
    wire_string(&graph, 2, "empty");
    wire_model(&m, &graph);
    bnn_graph *g = NULL;
    bnn_diag diag;
    bnn_status st = import(&m, NULL, &g, &diag);
    cr_assert(st == BNN_OK || diag.message[0], "status %d without a message", (int)st);
    if (st == BNN_OK)
        cr_assert_eq(g->n_nodes, 0);
    bnn_graph_destroy(g);
    wire_free(&m);
    wire_free(&graph);
}

/* Graphs in attributes in nodes in graphs, 3,000 deep: protobuf-c would
 * recurse until the stack ran out; the wire walk refuses it first. */
Test(limits, deep_subgraph_nesting)
{
    wire inner = {0}, node = {0}, attr = {0};
    wire_string(&inner, 2, "g");
    for (int i = 0; i < 3000; i++) {
        wire_string(&attr, 1, "then_branch");
        wire_message(&attr, 6, &inner); /* AttributeProto.g */
        wire_string(&node, 4, "If");
        wire_message(&node, 5, &attr);  /* NodeProto.attribute */
        wire_message(&inner, 1, &node); /* GraphProto.node */
    }
    wire m = {0};
    wire_model(&m, &inner);
    refused(&m, "nested more than");
    wire_free(&m); wire_free(&inner); wire_free(&node); wire_free(&attr);
}

/* Types nested in types (sequence of sequence of ...): the same limit. */
Test(limits, deep_type_nesting)
{
    wire type = {0}, seq = {0};
    wire tensor = {0};
    wire_uint(&tensor, 1, 1);
    wire_message(&type, 1, &tensor);
    for (int i = 0; i < 3000; i++) {
        wire_message(&seq, 1, &type);  /* Sequence.elem_type */
        wire_message(&type, 4, &seq);  /* TypeProto.sequence_type */
    }
    wire vi = {0}, graph = {0}, m = {0};
    wire_string(&vi, 1, "x");
    wire_message(&vi, 2, &type);
    wire_message(&graph, 11, &vi);
    wire_model(&m, &graph);
    refused(&m, "nested more than");
    wire_free(&type); wire_free(&seq); wire_free(&tensor); wire_free(&vi); wire_free(&graph);
    wire_free(&m);
}

/* More nodes than the limit, each an empty NodeProto (2 bytes in the file). */
Test(limits, too_many_nodes)
{
    wire graph = {0}, empty = {0}, m = {0};
    for (int i = 0; i < 1000001; i++)
        wire_message(&graph, 1, &empty);
    wire_model(&m, &graph);
    refused(&m, "more than 1000000 nodes");
    wire_free(&graph); wire_free(&m);
}

/* A dims product that overflows int64: refused, not wrapped. */
Test(limits, initializer_dims_overflow)
{
    wire t = {0}, graph = {0}, m = {0};
    for (int i = 0; i < 4; i++)
        wire_uint(&t, 1, (uint64_t)1 << 20); /* dims: 2^80 elements */
    wire_uint(&t, 2, 1);
    wire_string(&t, 8, "w");
    wire_message(&graph, 5, &t);
    wire_model(&m, &graph);
    refused(&m, "overflow");
    wire_free(&t); wire_free(&graph); wire_free(&m);
}

/* An initializer whose external data lives at `location`. */
static void external_model(wire *m, const char *location)
{
    wire t = {0}, kv = {0}, graph = {0};
    wire_uint(&t, 1, 4);
    wire_uint(&t, 2, 1);
    wire_string(&t, 8, "w");
    wire_string(&kv, 1, "location");
    wire_string(&kv, 2, location);
    wire_message(&t, 13, &kv);
    wire_uint(&t, 14, 1); /* EXTERNAL */
    wire_message(&graph, 5, &t);
    wire_model(m, &graph);
    wire_free(&t); wire_free(&kv); wire_free(&graph);
}

Test(limits, external_data_stays_in_the_model_folder)
{
    char dir[] = "/tmp/bnnc-ext-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char outside[300], model_dir[300], link[400], inside[400];
    snprintf(outside, sizeof outside, "%s/secret.bin", dir);
    snprintf(model_dir, sizeof model_dir, "%s/model", dir);
    cr_assert_eq(mkdir(model_dir, 0700), 0);
    FILE *f = fopen(outside, "wb");
    cr_assert_not_null(f);
    fwrite("0123456789abcdef", 1, 16, f);
    fclose(f);
    snprintf(link, sizeof link, "%s/link.bin", model_dir);
    cr_assert_eq(symlink(outside, link), 0);
    snprintf(inside, sizeof inside, "%s/ok.bin", model_dir);
    f = fopen(inside, "wb");
    fwrite("0123456789abcdef", 1, 16, f);
    fclose(f);

    static const char *const refused[] = {"link.bin", "../secret.bin", "/etc/passwd",
                                          "sub/../../secret.bin"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        wire m = {0};
        external_model(&m, refused[i]);
        bnn_graph *g = NULL;
        bnn_diag diag;
        cr_assert_neq(import(&m, model_dir, &g, &diag), BNN_OK, "%s was read", refused[i]);
        cr_assert(strstr(diag.message, "leaves the model's directory"), "%s: %s", refused[i],
                  diag.message);
        wire_free(&m);
    }
    wire m = {0};
    external_model(&m, "ok.bin");
    bnn_graph *g = NULL;
    bnn_diag diag;
    /* The file inside the folder is read (the model has no nodes or outputs). */
    bnn_status st = import(&m, model_dir, &g, &diag);
    cr_assert(st == BNN_OK || !strstr(diag.message, "external"), "%s", diag.message);
    bnn_graph_destroy(g);
    wire_free(&m);
    unlink(link);
    unlink(inside);
    unlink(outside);
    rmdir(model_dir);
    rmdir(dir);
}

/* A plan over max_memory is refused, naming the largest tensors. */
Test(limits, max_memory_names_the_largest_tensors)
{
    wire m = {0};
    wire_relu_chain(&m, 10, 0);
    bnn_graph *g = NULL;
    bnn_diag diag;
    cr_assert_eq(import(&m, NULL, &g, &diag), BNN_OK, "%s", diag.message);
    bnn_session_options opt = bnn_session_defaults();
    opt.max_memory = 64;
    bnn_session *s = NULL;
    cr_assert_neq(bnn_session_create_batch(g, 1, &opt, &s, &diag), BNN_OK);
    cr_assert(strstr(diag.message, "memory limit of 64 bytes"), "%s", diag.message);
    cr_assert(strstr(diag.message, "largest tensors: 'v"), "%s", diag.message);
    opt.max_memory = 1 << 20;
    cr_assert_eq(bnn_session_create_batch(g, 1, &opt, &s, &diag), BNN_OK, "%s", diag.message);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
    wire_free(&m);
}
