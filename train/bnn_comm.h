/* The communicator: what data-parallel training and evaluation need from the
 * processes ("ranks") of one job, and nothing more.  Two implementations,
 * picked when bnnc is built: train/comm_mpi.c (OpenMPI, `-Dmpi=enabled`) and
 * train/comm_nompi.c (one process).  Either way a process started without
 * mpirun is a job of one rank, so no caller needs a special case, and every
 * function below also accepts a NULL communicator as that job of one.
 *
 * Collective calls (allreduce, broadcast, barrier, agree) must be made by
 * every rank in the same order with the same sizes.  A rank that cannot go on
 * calls bnn_comm_abort rather than returning: the others would wait for it
 * in their next collective call forever.
 */
#ifndef BNN_COMM_H
#define BNN_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bnn_diag.h"

#ifdef __cplusplus
#define BNN_COMM_NORETURN [[noreturn]]
extern "C" {
#else
#define BNN_COMM_NORETURN _Noreturn
#endif

typedef struct bnn_comm bnn_comm;

/* Joins the job: under mpirun (the launcher's environment says so) the MPI
 * world, otherwise one rank on its own, without initialising MPI at all (a
 * plain `bnnc train` then starts as fast and as leak-free as before).  *out
 * is owned; bnn_comm_destroy leaves the job (MPI_Finalize). */
bnn_status bnn_comm_create(bnn_comm **out, bnn_diag *diag);
void bnn_comm_destroy(bnn_comm *comm);

int bnn_comm_rank(const bnn_comm *comm); /* 0 .. size-1 */
int bnn_comm_size(const bnn_comm *comm);
/* True when an MPI launcher started this process (even as a job of one):
 * its stdout is then mpirun's pipe or pseudo-terminal, not the user's. */
bool bnn_comm_launched(const bnn_comm *comm);
/* "mpi" when built with MPI, "none" otherwise (for --version and messages). */
const char *bnn_comm_backend(void);

/* buf[0..n) becomes the element-wise sum over the ranks, on every rank.  The
 * result is the same on every rank (MPI's sum is commutative in IEEE
 * arithmetic for two operands; for more, OpenMPI's algorithms hand each rank
 * the same reduced chunks); the order of the additions is MPI's, so against
 * a one-process sum it agrees to rounding, not bit for bit. */
bnn_status bnn_comm_allreduce_f32(bnn_comm *comm, float *buf, size_t n, bnn_diag *diag);
bnn_status bnn_comm_allreduce_f64(bnn_comm *comm, double *buf, size_t n, bnn_diag *diag);
/* The two halves of an all-reduce, for work split among the ranks (ZeRO-1
 * style sharding, docs/distributed.md).  counts[0..size) give each rank's
 * part of a buffer of their sum, rank r's starting after the parts of ranks
 * 0..r-1 (parts may be uneven, even empty; each below INT_MAX floats).
 *
 * reduce_scatter: in place, rank r's part of buf (from the sum of counts
 * [0..r) on) becomes the element-wise sum over the ranks of that part; the
 * other parts of buf are left undefined.  A ring (K - 1 exchanges with the
 * neighbours, MPI_Sendrecv): the part of rank r is summed starting at rank
 * r + 1, each rank adding its own to what it received, so every element is
 * summed in one fixed order whatever the timing (with 2 ranks exactly the
 * all-reduce's a + b).  OpenMPI's MPI_Reduce_scatter(_block) measured up to
 * 5x slower than its all-reduce of the same floats on shared memory
 * (docs/distributed.md).  A job of one does nothing. */
bnn_status bnn_comm_reduce_scatter_f32(bnn_comm *comm, float *buf, const size_t *counts,
                                       bnn_diag *diag);
/* allgather: in place, rank r's counts[r] floats at buf + displs[r] copied
 * to the same place on every rank.  A job of one does nothing. */
bnn_status bnn_comm_allgather_f32(bnn_comm *comm, float *buf, const size_t *counts,
                                  const size_t *displs, bnn_diag *diag);
/* Rank root's bytes buf[0..bytes) copied to every rank. */
bnn_status bnn_comm_broadcast(bnn_comm *comm, void *buf, size_t bytes, int root, bnn_diag *diag);
bnn_status bnn_comm_barrier(bnn_comm *comm, bnn_diag *diag);

/* Checks that every rank holds the same value (a fingerprint of what should
 * agree: the model, the data's shape, the options).  *mismatched gets how
 * many ranks differ from rank 0, the same on every rank; *differs whether
 * this rank is one of them. */
bnn_status bnn_comm_agree(bnn_comm *comm, uint64_t value, int *mismatched, int *differs,
                          bnn_diag *diag);

/* bnn_comm_agree with the message made: BNN_OK when every rank holds the
 * same value; else BNN_ERR_INVALID on every rank, with "rank R: the WHAT
 * differs from rank 0's" on a differing rank, how many differ on rank 0, and
 * an empty message on the other ranks (which then need not repeat it). */
bnn_status bnn_comm_require_same(bnn_comm *comm, uint64_t value, const char *what,
                                 bnn_diag *diag);

/* Ends every rank of the job now with exit status `status` (MPI_Abort); the
 * caller has printed why.  In a job of one this is exit(status). */
BNN_COMM_NORETURN void bnn_comm_abort(bnn_comm *comm, int status);

/* The rows [*first, *first + *count) of n that rank `rank` of `size` takes
 * when n rows are cut into contiguous shards in whole units of `unit` rows (1,
 * or a batch size so that every rank runs the very batches one process would;
 * the last unit may be short): ceil(n / unit) units shared out as evenly as
 * they go, the first ranks taking one more.  A rank gets no rows when there
 * are more ranks than units. */
void bnn_comm_shard(int64_t n, int64_t unit, int rank, int size, int64_t *first, int64_t *count);

/* FNV-1a over bytes, chained from `hash` (start from BNN_COMM_HASH_SEED): for
 * the fingerprints bnn_comm_agree compares. */
#define BNN_COMM_HASH_SEED UINT64_C(0xcbf29ce484222325)
uint64_t bnn_comm_hash(uint64_t hash, const void *bytes, size_t n);

#ifdef __cplusplus
}
#endif

#endif
