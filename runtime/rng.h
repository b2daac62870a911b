/* A counter-based random number generator: Philox4x32-10 (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11; Random123).
 *
 * A draw is a pure function of (seed, stream, index), so a kernel may split
 * its elements over any number of threads and still produce the same numbers.
 *
 * Keying, for element i of a stream:
 *   key     = (seed & 0xffffffff, seed >> 32)
 *   counter = (i / 4,  tag,  step & 0xffffffff, step >> 32)
 * and the element is lane i % 4 of the block Philox4x32-10(counter, key).
 * `tag` says who draws: bnn_rng_tag(node_id, purpose), the node id in the low
 * 28 bits and a purpose (weights, dropout mask, ...) in the high 4 bits.
 * `step` is the runtime's forward-pass count (bnn_kernel_args.step), so each
 * forward draws fresh numbers and a backward can redraw the same ones.
 * A stream holds 2^34 elements (2^32 blocks of 4).
 *
 * Uniforms are ((x >> 8) | 1) * 2^-24, in (0, 1) and never 0 or 1.  Normals use
 * Box-Muller on the block's lanes (0, 1) and (2, 3): element 4k+0 is
 * r cos(2 pi u1), 4k+1 is r sin(2 pi u1) with r = sqrt(-2 ln u0),
 * u0 = ((x0 >> 1) + 0.5) 2^-31 and u1 = ((x1 >> 8) + 0.5) 2^-24, and the same
 * for lanes 2 and 3.  log, sin and cos are rng.c's own float polynomials
 * (within 2e-6 of libm in double; tests/kernels_elem/test_rng.c), so the bits
 * do not depend on the CPU's libm paths or the thread count.
 */
#ifndef BNN_RNG_H
#define BNN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct bnn_rng_stream {
    uint64_t seed;
    uint32_t tag;
    uint64_t step;
} bnn_rng_stream;

enum {
    BNN_RNG_PURPOSE_WEIGHTS = 1, /* Bayesian layers' eps */
    BNN_RNG_PURPOSE_DROPOUT = 2, /* dropout masks */
    BNN_RNG_PURPOSE_DATA = 3,    /* outside the graph (tools: noise inputs; node id 0) */
    BNN_RNG_PURPOSE_LOWERED = 4, /* random_normal_like (sampling written as ONNX ops) */
    BNN_RNG_PURPOSE_LOCAL = 5,   /* Bayesian layers, estimator=local: output noise */
    BNN_RNG_PURPOSE_FLIPOUT = 6, /* Bayesian layers, estimator=flipout: the input signs */
    BNN_RNG_PURPOSE_FLIPOUT_OUT = 7, /* estimator=flipout: the output signs */
};

/* The raw block function: out = Philox4x32-10(ctr, key). */
void bnn_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

static inline uint32_t bnn_rng_tag(int node_id, unsigned purpose)
{
    return ((uint32_t)node_id & 0x0fffffffu) | ((uint32_t)(purpose & 0xfu) << 28);
}

static inline bnn_rng_stream bnn_rng_stream_make(uint64_t seed, int node_id, unsigned purpose,
                                                 uint64_t step)
{
    bnn_rng_stream s = {seed, bnn_rng_tag(node_id, purpose), step};
    return s;
}

/* Elements first .. first+n-1 of the stream; threaded with OpenMP for large n,
 * identical for every thread count. */
void bnn_rng_uniform(const bnn_rng_stream *s, uint64_t first, size_t n, float *out);
void bnn_rng_normal(const bnn_rng_stream *s, uint64_t first, size_t n, float *out);

#endif
