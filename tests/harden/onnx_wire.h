/* A tiny protobuf writer for hostile and very large ONNX models made in the
 * test itself: deep nesting, millions of nodes and long chains would be
 * slow or impossible to make with the onnx Python package. */
#ifndef BNN_TEST_ONNX_WIRE_H
#define BNN_TEST_ONNX_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wire {
    uint8_t *data;
    size_t len, cap;
} wire;

void wire_varint(wire *w, uint64_t v);
void wire_uint(wire *w, int field, uint64_t v);              /* wire type 0 */
void wire_bytes(wire *w, int field, const void *p, size_t n); /* wire type 2 */
void wire_string(wire *w, int field, const char *s);
/* Appends child as a length-delimited field and empties child. */
void wire_message(wire *w, int field, wire *child);
void wire_free(wire *w);

/* A ValueInfoProto: name, f32, the given dims. */
void wire_value_info(wire *w, int field, const char *name, const int64_t *dims, int rank);
/* A ModelProto (ir_version 8, opset 17) around the GraphProto in graph. */
void wire_model(wire *model, wire *graph);
/* A chain of n nodes v0 -> v1 -> ... -> vn on f32[1,4]: a MatMul by a 4x4
 * identity initializer, then n - 1 Relu; reversed lists the nodes last
 * first. */
void wire_relu_chain(wire *model, int n, int reversed);

#endif
