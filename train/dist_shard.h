/* ZeRO-1 style sharding of the per-parameter work of a data-parallel step
 * (train/dist_shard.c; docs/distributed.md).  Internal to train/ and tests. */
#ifndef BNN_DIST_SHARD_H
#define BNN_DIST_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "bnn_comm.h"
#include "bnn_ir.h"

typedef struct bnn_shard bnn_shard;

/* Elements [elem, elem + len) of param `value`, whose gradient (and
 * optimizer moments) sit at flat offset `flat` on. */
typedef struct bnn_shard_seg {
    int value;
    size_t elem, len, flat;
} bnn_shard_seg;

/* The slices of `ranks` ranks over a flat gradient buffer whose first
 * n_reduced floats are summed and whose other floats (up to n_trainable)
 * are rho gradients derived from a mu gradient in the front; grad_offset
 * per value id (-1: no gradient). */
bnn_status bnn_shard_create(const bnn_graph *graph, const int64_t *grad_offset,
                            size_t n_reduced, size_t n_trainable, int rank, int ranks,
                            bnn_shard **out, bnn_diag *diag);
void bnn_shard_destroy(bnn_shard *shard);

/* Rank r's slice [lo, hi) of the front, and the segments it owns. */
void bnn_shard_slice(const bnn_shard *shard, int rank, size_t *lo, size_t *hi);
const bnn_shard_seg *bnn_shard_segs(const bnn_shard *shard, int rank, int *count);

/* This rank's slice of the front of grads summed over the ranks, in place
 * (the other ranks' slices are left undefined). */
bnn_status bnn_shard_reduce_scatter(bnn_shard *shard, bnn_comm *comm, float *grads,
                                    bnn_diag *diag);
/* The flat index of the first element of this rank's that first_bad finds
 * non-finite, or SIZE_MAX. */
size_t bnn_shard_first_non_finite(const bnn_shard *shard, const float *grads,
                                  size_t (*first_bad)(const float *, size_t));
/* Every rank's owned params copied to every rank (the all-gather). */
bnn_status bnn_shard_gather_params(bnn_shard *shard, bnn_comm *comm, bnn_graph *graph,
                                   bnn_diag *diag);
/* The same for an array laid out as the flat gradients (optimizer moments). */
bnn_status bnn_shard_gather_flat(bnn_shard *shard, bnn_comm *comm, float *flat,
                                 bnn_diag *diag);

#endif
