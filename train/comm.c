/* The parts of the communicator that do not depend on MPI: sharding, the
 * fingerprint hash, and the agreement check built from broadcast and
 * all-reduce. */
#include "bnn_comm.h"

void bnn_comm_shard(int64_t n, int64_t unit, int rank, int size, int64_t *first, int64_t *count)
{
    if (unit < 1)
        unit = 1;
    if (size < 1)
        size = 1;
    int64_t units = (n + unit - 1) / unit;
    int64_t base = units / size, extra = units % size;
    int64_t lo = (int64_t)rank * base + (rank < extra ? rank : extra);
    int64_t mine = base + (rank < extra ? 1 : 0);
    int64_t start = lo * unit, end = (lo + mine) * unit;
    if (start > n)
        start = n;
    if (end > n)
        end = n;
    *first = start;
    *count = end - start;
}

uint64_t bnn_comm_hash(uint64_t hash, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++) {
        hash ^= p[i];
        hash *= UINT64_C(0x100000001b3);
    }
    return hash;
}

bnn_status bnn_comm_agree(bnn_comm *comm, uint64_t value, int *mismatched, int *differs,
                          bnn_diag *diag)
{
    uint64_t root = value;
    BNN_TRY(bnn_comm_broadcast(comm, &root, sizeof root, 0, diag));
    double count = root != value;
    *differs = root != value;
    BNN_TRY(bnn_comm_allreduce_f64(comm, &count, 1, diag));
    *mismatched = (int)count;
    return BNN_OK;
}

bnn_status bnn_comm_require_same(bnn_comm *comm, uint64_t value, const char *what,
                                 bnn_diag *diag)
{
    int mismatched = 0, differs = 0;
    BNN_TRY(bnn_comm_agree(comm, value, &mismatched, &differs, diag));
    if (!mismatched)
        return BNN_OK;
    if (differs)
        return bnn_fail(diag, BNN_ERR_INVALID, "rank %d: the %s differs from rank 0's",
                        bnn_comm_rank(comm), what);
    if (bnn_comm_rank(comm) == 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "%d of %d ranks have a different %s from rank "
                        "0's; every rank must be given the same", mismatched,
                        bnn_comm_size(comm), what);
    return bnn_fail(diag, BNN_ERR_INVALID, "%s", "");
}
