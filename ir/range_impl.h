/* ONNX Range(start, limit, delta): start, start + delta, ... short of limit,
 * max(ceil((limit - start) / delta), 0) elements, exact for integers and in
 * the element type for floats.  Shared by the import-time fold
 * (frontend/onnx_lower_constant.c), shape inference of the `range` op and
 * its kernel, so the three agree on the length to the element. */
#ifndef BNN_RANGE_IMPL_H
#define BNN_RANGE_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bnn_ir.h"

/* One scalar of type dt at p, as an integer and as a double. */
static inline void bnn_range_scalar(bnn_dtype dt, const void *p, int64_t *i, double *f)
{
    switch (dt) {
    case BNN_I64: memcpy(i, p, sizeof *i); *f = (double)*i; break;
    case BNN_I32: { int32_t v; memcpy(&v, p, sizeof v); *i = v; *f = v; break; }
    case BNN_F32: { float v; memcpy(&v, p, sizeof v); *f = v; *i = 0; break; }
    default: memcpy(f, p, sizeof *f); *i = 0; break;
    }
}

/* The element count of Range over dt (f32, f64, i32 or i64) with the
 * scalars at start, limit and delta; NULL, or what is wrong ("delta is 0",
 * a non-finite float range). */
static inline const char *bnn_range_count(bnn_dtype dt, const void *start, const void *limit,
                                          const void *delta, int64_t *n)
{
    int64_t is, il, id;
    double fs, fl, fd;
    bnn_range_scalar(dt, start, &is, &fs);
    bnn_range_scalar(dt, limit, &il, &fl);
    bnn_range_scalar(dt, delta, &id, &fd);
    if (dt == BNN_I32 || dt == BNN_I64) {
        if (id == 0)
            return "delta is 0";
        /* the ceiling of a quotient of exact integers, the span taken as a
         * magnitude so that bounds anywhere in int64 do not overflow */
        bool up = id > 0;
        if (up ? il <= is : il >= is) {
            *n = 0;
            return NULL;
        }
        uint64_t span = up ? (uint64_t)il - (uint64_t)is : (uint64_t)is - (uint64_t)il;
        uint64_t step = up ? (uint64_t)id : 0 - (uint64_t)id;
        uint64_t q = span / step + (span % step != 0);
        *n = q > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)q;
        return NULL;
    }
    if (fd == 0 || isnan(fs) || isnan(fl) || isnan(fd) || isinf(fs) || isinf(fl))
        return "start, limit and delta give no finite range";
    double q = dt == BNN_F32 ? (double)ceilf(((float)fl - (float)fs) / (float)fd)
                             : ceil((fl - fs) / fd);
    *n = q <= 0 ? 0 : q >= (double)INT64_MAX ? INT64_MAX : (int64_t)q;
    return NULL;
}

/* Writes the n elements of the range into out (n from bnn_range_count). */
static inline void bnn_range_fill(bnn_dtype dt, const void *start, const void *delta, int64_t n,
                                  void *out)
{
    int64_t is, id;
    double fs, fd;
    bnn_range_scalar(dt, start, &is, &fs);
    bnn_range_scalar(dt, delta, &id, &fd);
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case BNN_I64: ((int64_t *)out)[i] = (int64_t)((uint64_t)is + (uint64_t)i * (uint64_t)id); break;
        case BNN_I32: ((int32_t *)out)[i] = (int32_t)(uint32_t)((uint64_t)is + (uint64_t)i * (uint64_t)id); break;
        case BNN_F32: ((float *)out)[i] = (float)fs + (float)i * (float)fd; break;
        default: ((double *)out)[i] = fs + (double)i * fd; break;
        }
    }
}

#endif
