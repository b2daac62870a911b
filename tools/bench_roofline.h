/* The roofline of a training step, for `bnnc bench --train` (tools/
 * bench_roofline.c): what the step would cost if it did nothing but its
 * matrix products at this machine's measured sgemm speed and the unavoidable
 * passes over its parameters at the measured memory bandwidth. */
#ifndef BNNC_BENCH_ROOFLINE_H
#define BNNC_BENCH_ROOFLINE_H

#include <stdbool.h>

#include "bnn_tensor.h"

typedef struct bnnc_roofline {
    int n_products;       /* the step's GEMMs: forward, dW and dX of each layer */
    double gemm_gflop;    /* their floating-point operations (2 per multiply-add) */
    double sgemm_gflops;  /* the machine's measured sgemm rate */
    double gemm_ms;       /* gemm_gflop at that rate */
    double trainable;     /* trainable floats (Adam's state covers them) */
    double sampled;       /* floats of Bayesian mu operands (sampled every step) */
    double param_mib;     /* bytes the parameter passes must move, MiB */
    double bandwidth_gbs; /* a measured triad, GB/s (1e9 bytes) */
    double memory_ms;     /* param bytes / bandwidth */
    double roofline_ms;   /* gemm_ms + memory_ms */
} bnnc_roofline;

/* Measures the roofline of a training step of graph at batch rows (the
 * graph's trainable params as marked; Adam when adam, else SGD with
 * momentum), with the current OpenBLAS/OpenMP thread counts. */
bnn_status bnnc_roofline_measure(const bnn_graph *graph, int64_t batch, bool adam,
                                 bnnc_roofline *out, bnn_diag *diag);

#endif
