/* Element conversion between every numeric type, f16 and bool, one element
 * at a time through the widest form of its kind: cast's general path
 * (cast.c) and pow's mixed-type operands (multiway.c).  Floats to integers
 * truncate and saturate (never undefined), integers to narrower integers keep
 * the low bits.  Internal to runtime/. */
#ifndef BNN_CONVERT_IMPL_H
#define BNN_CONVERT_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "bnn_tensor.h"
#include "half_impl.h"

/* One element in the widest form of its kind. */
typedef struct num {
    enum { NUM_FLOAT, NUM_SIGNED, NUM_UNSIGNED } kind;
    double f;
    int64_t i;
    uint64_t u;
} num;

static inline num load(bnn_dtype t, const void *p, int64_t k)
{
    num v = {0};
    switch (t) {
    case BNN_F32: v.kind = NUM_FLOAT; v.f = ((const float *)p)[k]; break;
    case BNN_F64: v.kind = NUM_FLOAT; v.f = ((const double *)p)[k]; break;
    case BNN_F16: v.kind = NUM_FLOAT; v.f = half_to_float(((const uint16_t *)p)[k]); break;
    case BNN_I8: v.kind = NUM_SIGNED; v.i = ((const int8_t *)p)[k]; break;
    case BNN_I16: v.kind = NUM_SIGNED; v.i = ((const int16_t *)p)[k]; break;
    case BNN_I32: v.kind = NUM_SIGNED; v.i = ((const int32_t *)p)[k]; break;
    case BNN_I64: v.kind = NUM_SIGNED; v.i = ((const int64_t *)p)[k]; break;
    case BNN_U8: case BNN_BOOL: v.kind = NUM_UNSIGNED; v.u = ((const uint8_t *)p)[k]; break;
    case BNN_U16: v.kind = NUM_UNSIGNED; v.u = ((const uint16_t *)p)[k]; break;
    case BNN_U32: v.kind = NUM_UNSIGNED; v.u = ((const uint32_t *)p)[k]; break;
    case BNN_U64: v.kind = NUM_UNSIGNED; v.u = ((const uint64_t *)p)[k]; break;
    default: break;
    }
    return v;
}

/* The integer bits of v: floats truncate toward zero and saturate to the
 * 64-bit range (NaN gives 0), so no conversion is undefined; narrower targets
 * then keep the low bits (two's complement), as integers do. */
static inline uint64_t int_bits(num v, bool to_unsigned)
{
    if (v.kind == NUM_SIGNED)
        return (uint64_t)v.i;
    if (v.kind == NUM_UNSIGNED)
        return v.u;
    double f = trunc(v.f);
    if (f != f)
        return 0;
    if (to_unsigned && f >= 0x1p63)
        return f >= 0x1p64 ? UINT64_MAX : (uint64_t)f;
    if (f >= 0x1p63)
        return (uint64_t)INT64_MAX;
    if (f < -0x1p63)
        return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)f;
}

/* Integer to float with one rounding (not through double for 64-bit). */
static inline double as_double(num v) { return v.kind == NUM_FLOAT ? v.f : v.kind == NUM_SIGNED ? (double)v.i : (double)v.u; }
static inline float as_float(num v) { return v.kind == NUM_FLOAT ? (float)v.f : v.kind == NUM_SIGNED ? (float)v.i : (float)v.u; }

static inline void store(bnn_dtype t, void *p, int64_t k, num v)
{
    switch (t) {
    case BNN_F32: ((float *)p)[k] = as_float(v); break;
    case BNN_F64: ((double *)p)[k] = as_double(v); break;
    case BNN_F16: ((uint16_t *)p)[k] = float_to_half(as_float(v)); break;
    case BNN_BOOL:
        ((uint8_t *)p)[k] = v.kind == NUM_FLOAT ? v.f != 0 : v.kind == NUM_SIGNED ? v.i != 0 : v.u != 0;
        break;
    case BNN_I8: ((uint8_t *)p)[k] = (uint8_t)int_bits(v, false); break;
    case BNN_U8: ((uint8_t *)p)[k] = (uint8_t)int_bits(v, true); break;
    case BNN_I16: ((uint16_t *)p)[k] = (uint16_t)int_bits(v, false); break;
    case BNN_U16: ((uint16_t *)p)[k] = (uint16_t)int_bits(v, true); break;
    case BNN_I32: ((uint32_t *)p)[k] = (uint32_t)int_bits(v, false); break;
    case BNN_U32: ((uint32_t *)p)[k] = (uint32_t)int_bits(v, true); break;
    case BNN_I64: ((uint64_t *)p)[k] = int_bits(v, false); break;
    case BNN_U64: ((uint64_t *)p)[k] = int_bits(v, true); break;
    default: break;
    }
}

#endif
