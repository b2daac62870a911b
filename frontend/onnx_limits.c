/* Limits checked on the protobuf wire bytes before protobuf-c unpacks them.
 *
 * protobuf-c unpacks nested messages by recursion and allocates every
 * repeated element, so a hostile file could nest graphs in attributes (or
 * types in types) deep enough to overflow the stack, or list millions of
 * nodes.  This walk follows only the fields through which ONNX messages nest
 * (ModelProto.graph, GraphProto.node, NodeProto.attribute, AttributeProto.g,
 * ...) with an explicit stack, counts nodes and fields, and refuses a file
 * over the limits with a message saying which.  Bytes it cannot walk are left
 * for protobuf-c to refuse. */
#include <stdint.h>
#include <string.h>

#include "onnx_impl.h"

enum kind { K_NONE, K_MODEL, K_GRAPH, K_NODE, K_ATTR, K_FUNCTION, K_VALUE_INFO, K_TYPE,
            K_TYPE_ELEM, K_TYPE_MAP, K_TRAINING };

/* The message kind of field `field` of a message of kind k, K_NONE when the
 * field is not a message that can lead to more nesting. */
static enum kind child(enum kind k, uint64_t field)
{
    switch (k) {
    case K_MODEL:
        return field == 7 ? K_GRAPH : field == 25 ? K_FUNCTION : field == 20 ? K_TRAINING : K_NONE;
    case K_GRAPH:
        return field == 1 ? K_NODE : field == 11 || field == 12 || field == 13 ? K_VALUE_INFO
                                                                               : K_NONE;
    case K_NODE: return field == 5 ? K_ATTR : K_NONE;
    case K_ATTR:
        return field == 6 || field == 11 ? K_GRAPH : field == 14 || field == 15 ? K_TYPE : K_NONE;
    case K_FUNCTION: return field == 7 ? K_NODE : field == 11 ? K_ATTR : K_NONE;
    case K_VALUE_INFO: return field == 2 ? K_TYPE : K_NONE;
    case K_TYPE: /* sequence_type, optional_type, map_type */
        return field == 4 || field == 9 ? K_TYPE_ELEM : field == 5 ? K_TYPE_MAP : K_NONE;
    case K_TYPE_ELEM: return field == 1 ? K_TYPE : K_NONE;
    case K_TYPE_MAP: return field == 2 ? K_TYPE : K_NONE;
    case K_TRAINING: return field == 1 || field == 2 ? K_GRAPH : K_NONE;
    default: return K_NONE;
    }
}

static bool varint(const uint8_t *data, size_t end, size_t *p, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = data[(*p)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

bnn_status onnx_check_limits(const uint8_t *data, size_t size, bnn_diag *diag)
{
    struct frame {
        enum kind kind;
        size_t end;
    } stack[ONNX_MAX_NESTING + 1];
    int depth = 0;
    stack[0] = (struct frame){K_MODEL, size};
    size_t p = 0;
    uint64_t nodes = 0, fields = 0;
    for (;;) {
        while (depth > 0 && p >= stack[depth].end)
            depth--;
        if (p >= stack[depth].end)
            return BNN_OK;
        uint64_t tag, len;
        if (!varint(data, stack[depth].end, &p, &tag))
            return BNN_OK; /* malformed: protobuf-c says so */
        if (++fields > ONNX_MAX_FIELDS)
            return bnn_fail(diag, BNN_ERR_INVALID, "not a model bnnc reads: more than %d "
                            "protobuf fields (a limit against exhausting memory)",
                            ONNX_MAX_FIELDS);
        size_t room = stack[depth].end - p;
        switch (tag & 7) {
        case 0:
            if (!varint(data, stack[depth].end, &p, &len))
                return BNN_OK;
            break;
        case 1:
            if (room < 8)
                return BNN_OK;
            p += 8;
            break;
        case 5:
            if (room < 4)
                return BNN_OK;
            p += 4;
            break;
        case 2: {
            if (!varint(data, stack[depth].end, &p, &len) || len > stack[depth].end - p)
                return BNN_OK;
            enum kind k = child(stack[depth].kind, tag >> 3);
            if (k == K_NONE) {
                p += (size_t)len;
                break;
            }
            if (k == K_NODE && ++nodes > ONNX_MAX_NODES)
                return bnn_fail(diag, BNN_ERR_INVALID, "not a model bnnc reads: more than %d "
                                "nodes", ONNX_MAX_NODES);
            if (depth == ONNX_MAX_NESTING)
                return bnn_fail(diag, BNN_ERR_INVALID, "not a model bnnc reads: messages "
                                "(graphs in attributes, or types) nested more than %d deep",
                                ONNX_MAX_NESTING);
            stack[++depth] = (struct frame){k, p + (size_t)len};
            break;
        }
        default:
            return BNN_OK; /* groups and invalid wire types: protobuf-c decides */
        }
    }
}
