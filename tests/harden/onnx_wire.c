/* See onnx_wire.h. */
#include "onnx_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(wire *w, size_t more)
{
    if (w->len + more <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more)
        cap *= 2;
    w->data = realloc(w->data, cap);
    if (!w->data) {
        fprintf(stderr, "onnx_wire: out of memory\n");
        abort();
    }
    w->cap = cap;
}

void wire_varint(wire *w, uint64_t v)
{
    reserve(w, 10);
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        w->data[w->len++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
}

void wire_uint(wire *w, int field, uint64_t v)
{
    wire_varint(w, (uint64_t)field << 3);
    wire_varint(w, v);
}

void wire_bytes(wire *w, int field, const void *p, size_t n)
{
    wire_varint(w, (uint64_t)field << 3 | 2);
    wire_varint(w, n);
    reserve(w, n);
    if (n)
        memcpy(w->data + w->len, p, n);
    w->len += n;
}

void wire_string(wire *w, int field, const char *s) { wire_bytes(w, field, s, strlen(s)); }

void wire_message(wire *w, int field, wire *child)
{
    wire_bytes(w, field, child->data, child->len);
    child->len = 0;
}

void wire_free(wire *w)
{
    free(w->data);
    w->data = NULL;
    w->len = w->cap = 0;
}

void wire_value_info(wire *w, int field, const char *name, const int64_t *dims, int rank)
{
    wire shape = {0}, dim = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        wire_uint(&dim, 1, (uint64_t)dims[i]);
        wire_message(&shape, 1, &dim);
    }
    wire_uint(&tensor, 1, 1); /* FLOAT */
    wire_message(&tensor, 2, &shape);
    wire_message(&type, 1, &tensor);
    wire_string(&vi, 1, name);
    wire_message(&vi, 2, &type);
    wire_message(w, field, &vi);
    wire_free(&shape); wire_free(&dim); wire_free(&tensor); wire_free(&type); wire_free(&vi);
}

void wire_model(wire *model, wire *graph)
{
    wire opset = {0};
    wire_uint(model, 1, 8);
    wire_string(&opset, 1, "");
    wire_uint(&opset, 2, 17);
    wire_message(model, 8, &opset);
    wire_message(model, 7, graph);
    wire_free(&opset);
}

void wire_relu_chain(wire *model, int n, int reversed)
{
    wire graph = {0}, node = {0}, t = {0};
    char a[32], b[32];
    /* The first node is a layer (MatMul by a 4x4 initializer) so that the
     * chain has something to convert. */
    float w[16] = {0};
    for (int i = 0; i < 4; i++)
        w[i * 5] = 1.0f;
    wire_uint(&t, 1, 4);
    wire_uint(&t, 1, 4);
    wire_uint(&t, 2, 1);
    wire_string(&t, 8, "w");
    wire_bytes(&t, 9, w, sizeof w);
    wire_message(&graph, 5, &t);
    wire_free(&t);
    for (int k = 0; k < n; k++) {
        int i = reversed ? n - 1 - k : k;
        snprintf(a, sizeof a, "v%d", i);
        if (i == 0) {
            snprintf(b, sizeof b, "v1");
            wire_string(&node, 1, "v0");
            wire_string(&node, 1, "w");
            wire_string(&node, 2, "v1");
            wire_string(&node, 4, "MatMul");
            wire_message(&graph, 1, &node);
            continue;
        }
        snprintf(b, sizeof b, "v%d", i + 1);
        wire_string(&node, 1, a);
        wire_string(&node, 2, b);
        wire_string(&node, 4, "Relu");
        wire_message(&graph, 1, &node);
    }
    wire_string(&graph, 2, "chain");
    const int64_t dims[] = {1, 4};
    wire_value_info(&graph, 11, "v0", dims, 2);
    snprintf(b, sizeof b, "v%d", n);
    wire_value_info(&graph, 12, b, dims, 2);
    wire_model(model, &graph);
    wire_free(&graph);
    wire_free(&node);
}
