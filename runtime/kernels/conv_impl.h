/* What runtime/kernels/conv.c and conv_direct.c share: the geometry of a
 * convolution call and the helpers of the wide and direct paths. */
#ifndef BNN_CONV_IMPL_H
#define BNN_CONV_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "nn_impl.h"

/* The direct path (forward_direct) is written with AVX-512 intrinsics and
 * chosen at run time, so the build needs no -march flag. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CONV_HAVE_DIRECT 1
#else
#define CONV_HAVE_DIRECT 0
#endif
/* Most filters of the direct path: two accumulators each in 32 registers. */
#define CONV_DIRECT_MAX_M 8

/* Columns a GEMM should have at least, and the most scratch (in floats) a
 * chunk of images may take beyond what one image needs. */
#define CONV_COLUMNS 1024
#define CONV_CHUNK_FLOATS ((int64_t)4 << 20)
/* OpenBLAS runs a GEMM this small on the calling thread (nn_impl.h). */
#define CONV_SERIAL_MNK NN_SERIAL_MNK
/* Largest per-image GEMM (m*n*k) of the wide path, which splits it in
 * pieces of at most CONV_SERIAL_MNK. */
#define CONV_WIDE_MAX_MNK (CONV_SERIAL_MNK * 8)
/* Most scratch slots (threads) the chunk loop uses. */
#define CONV_MAX_SLOTS 8

/* An activation applied as the forward's last step (an inference plan fuses
 * a Relu, Clip, LeakyRelu or HardSwish that alone reads the convolution's
 * output into it: runtime/plan.c), with the same float operations as the
 * standalone kernel in elementwise.c, so the result is the same bits. */
enum {
    CONV_ACT_NONE,
    CONV_ACT_RELU,
    CONV_ACT_CLIP,
    CONV_ACT_LEAKY,
    CONV_ACT_HARDSWISH,
    CONV_ACT_HSIG_MUL, /* x * HardSigmoid(x), the exporters' HardSwish */
};
typedef struct conv_act {
    int kind;
    float a, b; /* clip: lo, hi; leaky: alpha; hsig_mul: alpha, beta */
} conv_act;

typedef struct conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t m, kh, kw;       /* weight */
    int64_t oh, ow;          /* output */
    int64_t sh, sw, ph, pw;  /* strides, begin pads */
    int64_t dh, dw;          /* dilations */
    int64_t group, cg, mg;   /* groups, channels per group in and out */
    int64_t kk;              /* rows of the im2col matrix: cg * kh * kw */
    int64_t chunk;           /* images per GEMM */
    int64_t slots;           /* chunks run at once, each with its own scratch */
    int64_t wp, hp;          /* wide: padded input row length and rows */
    bool direct_1x1, depthwise, wide;
    bool direct;             /* forward_direct instead of forward_wide */
    bool direct16;           /* forward_direct16 instead of forward_wide */
    /* inference only (conv_fast.c): the depthwise kernel over phase planes,
     * and the direct kernel for every other shape */
    bool fast_dw, fast_direct;
    conv_act act;            /* fused epilogue (inference plans only) */
} conv_geom;

static inline int64_t conv_round16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

/* im2col and its adjoint (conv.c), also the core of conv_transpose
 * (conv_transpose.c), whose forward is this convolution's backward to x.
 * They read only the fields cg, h, w, kh, kw, kk, oh, ow, sh, sw, ph, pw,
 * dh, dw; pads may be negative.
 * conv_im2col: col [cg*kh*kw, oh*ow] (rows ld apart) from one image-group
 * x [cg, h, w], zeros where a window reaches past the image.
 * conv_col2im_add: gx [cg, h, w] += the rows of col (ld apart) at their
 * sources; positions past the image are dropped. */
void conv_im2col(const conv_geom *g, const float *x, float *col, int64_t ld);
void conv_col2im_add(const conv_geom *g, const float *col, int64_t ld, float *gx);

/* pad [c, hp, wp] (and the overrun of the last row's spans): image xn with
 * zeros around it; sizes from the geometry: hp = h + pads, wp = w + pads. */
void conv_wide_pad(const conv_geom *g, const float *xn, float *pad);

#if CONV_HAVE_DIRECT
/* Image n of x into y through the direct path (g->direct); slot is its
 * scratch (the padded image). */
void conv_forward_direct(const conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, int64_t n, float *slot);
/* wt [kk, 16]: the weights [16, kk] transposed, one vector per tap. */
void conv_direct16_weights(const conv_geom *g, const float *w, float *wt);
/* Image n with 16 filters (g->direct16), weights from conv_direct16_weights. */
void conv_forward_direct16(const conv_geom *g, const float *x, const float *wt, const float *b,
                           float *y, int64_t n, float *slot);
#endif

/* conv_fast.c: inference forward paths, AVX-512 only (CONV_HAVE_DIRECT and
 * the CPU's support checked by conv_geometry), any stride, pad, dilation.
 * Both read the input through its stride phases: phase (a, b) of a channel
 * is the zero-padded plane's rows a, a + sh, ... and columns b, b + sw, ...,
 * so that every tap of the window reads one contiguous span of a phase for a
 * run of outputs laid out in rows of conv_fast_width floats (the valid ow
 * of them and a few spare ones, computed and dropped). */
int64_t conv_fast_scratch_floats(const conv_geom *g);
void conv_fast_depthwise(const conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, float *scratch);
void conv_fast_direct(const conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *scratch);
/* The epilogue over n floats in place. */
void conv_act_apply(const conv_act *act, float *v, int64_t n);

#endif
