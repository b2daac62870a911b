/* A model's wire bytes without the large raw_data of its initializers, for
 * protobuf-c to unpack, so that the weights are not copied out of the file's
 * bytes into the message only to be copied again into the graph: the importer
 * points each such initializer's raw_data back at the file's bytes and copies
 * them once, into the graph (onnx_import.c).
 *
 * The walk follows ModelProto.graph (field 7) -> GraphProto.initializer
 * (field 5) -> TensorProto.raw_data (field 9), drops raw_data payloads of
 * ONNX_LIFT_MIN bytes or more, and re-encodes the lengths of the messages
 * around them; every other byte is copied as it is.  Anything it does not
 * expect (a malformed field, a group, a second graph field, a second raw_data
 * in one tensor) makes it give up, and the importer unpacks the bytes as they
 * are: protobuf-c then accepts or refuses them as before. */
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

typedef struct walk {
    const uint8_t *in;
    uint8_t *out; /* NULL while measuring */
    size_t at;    /* bytes written to out */
    onnx_lifted *lifted;
    size_t n_lifted, cap_lifted;
    bool bad;
} walk;

static bool get_varint(const uint8_t *in, size_t end, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t b = in[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static void put(walk *w, const void *p, size_t n)
{
    if (w->out) {
        memcpy(w->out + w->at, p, n);
        w->at += n;
    }
}

static void put_varint(walk *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        b[n++] = (uint8_t)(v | 0x80);
    b[n++] = (uint8_t)v;
    put(w, b, n);
}

/* The field at *pos (below end): its number, wire type and, for a
 * length-delimited one, its payload; *pos moves past it.  False (w->bad) when
 * it is malformed or a group. */
static bool next_field(walk *w, size_t end, size_t *pos, uint64_t *num, unsigned *wt,
                       size_t *payload, size_t *len)
{
    uint64_t tag, v;
    if (!get_varint(w->in, end, pos, &tag))
        return !(w->bad = true);
    *num = tag >> 3;
    *wt = (unsigned)(tag & 7);
    *payload = *len = 0;
    switch (*wt) {
    case 0:
        if (!get_varint(w->in, end, pos, &v))
            return !(w->bad = true);
        return true;
    case 1:
    case 5: {
        size_t n = *wt == 1 ? 8 : 4;
        if (end - *pos < n)
            return !(w->bad = true);
        *pos += n;
        return true;
    }
    case 2:
        if (!get_varint(w->in, end, pos, &v) || v > end - *pos)
            return !(w->bad = true);
        *payload = *pos;
        *len = (size_t)v;
        *pos += (size_t)v;
        return true;
    default:
        return !(w->bad = true);
    }
}

/* A TensorProto's bytes in [lo, hi) without a large raw_data: the size it
 * takes; writes it (and notes the lifted payload as initializer `index`) when
 * w->out is set. */
static size_t tensor(walk *w, size_t lo, size_t hi, size_t index)
{
    size_t n = 0, pos = lo, payload, len;
    uint64_t num;
    unsigned wt;
    int raws = 0;
    while (pos < hi && !w->bad) {
        size_t start = pos;
        if (!next_field(w, hi, &pos, &num, &wt, &payload, &len))
            break;
        if (num == 9 && wt == 2 && ++raws > 1)
            w->bad = true; /* the last would win: left to protobuf-c */
        if (num == 9 && wt == 2 && len >= ONNX_LIFT_MIN) {
            if (w->out) {
                if (w->n_lifted == w->cap_lifted) {
                    size_t cap = w->cap_lifted ? 2 * w->cap_lifted : 16;
                    onnx_lifted *p = realloc(w->lifted, sizeof *p * cap);
                    if (!p) {
                        w->bad = true;
                        break;
                    }
                    w->lifted = p;
                    w->cap_lifted = cap;
                }
                w->lifted[w->n_lifted++] = (onnx_lifted){index, w->in + payload, len};
            }
            continue;
        }
        n += pos - start;
        put(w, w->in + start, pos - start);
    }
    return n;
}

/* A GraphProto's bytes in [lo, hi) with its initializers through tensor(). */
static size_t graph(walk *w, size_t lo, size_t hi)
{
    size_t n = 0, pos = lo, payload, len, index = 0;
    uint64_t num;
    unsigned wt;
    while (pos < hi && !w->bad) {
        size_t start = pos;
        if (!next_field(w, hi, &pos, &num, &wt, &payload, &len))
            break;
        if (num == 5 && wt == 2) {
            uint8_t *out = w->out;
            w->out = NULL;
            size_t t = tensor(w, payload, payload + len, index);
            w->out = out;
            if (t != len) {
                n += varint_len(5 << 3 | 2) + varint_len(t) + t;
                put_varint(w, 5 << 3 | 2);
                put_varint(w, t);
                tensor(w, payload, payload + len, index);
                index++;
                continue;
            }
            index++;
        }
        n += pos - start;
        put(w, w->in + start, pos - start);
    }
    return n;
}

bool onnx_skeleton_build(const uint8_t *data, size_t size, onnx_skeleton *out)
{
    memset(out, 0, sizeof *out);
    walk w = {.in = data};
    /* the graph field: exactly one, else no skeleton */
    size_t pos = 0, payload, len, g_at = 0, g_len = 0;
    uint64_t num;
    unsigned wt;
    int graphs = 0;
    while (pos < size && !w.bad)
        if (next_field(&w, size, &pos, &num, &wt, &payload, &len) && num == 7 && wt == 2) {
            graphs++;
            g_at = payload;
            g_len = len;
        }
    if (w.bad || graphs != 1)
        return false;
    size_t g_new = graph(&w, g_at, g_at + g_len);
    if (w.bad || g_new == g_len) /* nothing to lift */
        return false;
    size_t total = size - g_len + g_new; /* the graph's length prefix only shrinks */
    w.out = malloc(total + 1);
    if (!w.out)
        return false;
    pos = 0;
    while (pos < size && !w.bad) {
        size_t start = pos;
        next_field(&w, size, &pos, &num, &wt, &payload, &len);
        if (num == 7 && wt == 2) {
            put_varint(&w, 7 << 3 | 2);
            put_varint(&w, g_new);
            graph(&w, g_at, g_at + g_len);
        } else {
            put(&w, data + start, pos - start);
        }
    }
    if (w.bad || w.at > total) {
        free(w.out);
        free(w.lifted);
        return false;
    }
    out->bytes = w.out;
    out->size = w.at;
    out->lifted = w.lifted;
    out->n_lifted = w.n_lifted;
    return true;
}

void onnx_skeleton_free(onnx_skeleton *s)
{
    free(s->bytes);
    free(s->lifted);
    memset(s, 0, sizeof *s);
}
