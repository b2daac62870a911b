/* Helpers shared by the IR text printer (print.c) and parser (parse.c): which
 * names print bare, and the 16-bit float conversions used for inline param
 * data.  See docs/ir.md for the text form itself. */
#ifndef BNN_TEXT_IMPL_H
#define BNN_TEXT_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Characters of a bare %value / @graph / @node name; anything else is quoted.
 * ':' is left out so that "%x: f32[2]" needs no space before the colon. */
static inline bool bnn_text_is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Identifiers: op names, dtypes, keywords, attribute names, dim symbols. */
static inline bool bnn_text_is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool bnn_text_is_ident_char(int c)
{
    return bnn_text_is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static inline uint32_t bnn_text_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bnn_text_bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half to float: exact. */
static inline float bnn_text_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float. */
        float v = (float)mant * (1.0f / 16777216.0f);
        return bnn_text_bits_float(bnn_text_float_bits(v) | sign);
    }
    if (exp == 31)
        return bnn_text_bits_float(sign | 0x7f800000u | (mant << 13));
    return bnn_text_bits_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* Float to IEEE half, rounding to nearest even; overflow gives inf. */
static inline uint16_t bnn_text_f16_from_float(float f)
{
    uint32_t bits = bnn_text_float_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    int exp = (int)((bits >> 23) & 0xff);
    uint32_t mant = bits & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* a carry into the exponent is right, up to inf */
    return (uint16_t)(sign | half);
}

static inline float bnn_text_bf16_to_float(uint16_t h)
{
    return bnn_text_bits_float((uint32_t)h << 16);
}

static inline uint16_t bnn_text_bf16_from_float(float f)
{
    uint32_t bits = bnn_text_float_bits(f);
    if ((bits & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((bits >> 16) | 0x40); /* keep NaN a NaN */
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

#endif
