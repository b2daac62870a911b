/* The communicator of a bnnc built without MPI: always a job of one rank, so
 * every collective call leaves its buffer as it is. */
#include <stdlib.h>

#include "bnn_comm.h"

struct bnn_comm {
    int unused;
};

bnn_status bnn_comm_create(bnn_comm **out, bnn_diag *diag)
{
    *out = calloc(1, sizeof **out);
    return *out ? BNN_OK : bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
}

void bnn_comm_destroy(bnn_comm *comm) { free(comm); }
int bnn_comm_rank(const bnn_comm *comm) { (void)comm; return 0; }
int bnn_comm_size(const bnn_comm *comm) { (void)comm; return 1; }
bool bnn_comm_launched(const bnn_comm *comm) { (void)comm; return false; }
const char *bnn_comm_backend(void) { return "none"; }

bnn_status bnn_comm_allreduce_f32(bnn_comm *comm, float *buf, size_t n, bnn_diag *diag)
{
    (void)comm, (void)buf, (void)n, (void)diag;
    return BNN_OK;
}

bnn_status bnn_comm_allreduce_f64(bnn_comm *comm, double *buf, size_t n, bnn_diag *diag)
{
    (void)comm, (void)buf, (void)n, (void)diag;
    return BNN_OK;
}

bnn_status bnn_comm_broadcast(bnn_comm *comm, void *buf, size_t bytes, int root, bnn_diag *diag)
{
    (void)comm, (void)buf, (void)bytes, (void)diag;
    return root == 0 ? BNN_OK : bnn_fail(diag, BNN_ERR_INVALID, "broadcast from rank %d of 1", root);
}

bnn_status bnn_comm_barrier(bnn_comm *comm, bnn_diag *diag)
{
    (void)comm, (void)diag;
    return BNN_OK;
}

_Noreturn void bnn_comm_abort(bnn_comm *comm, int status)
{
    (void)comm;
    exit(status);
}

bnn_status bnn_comm_reduce_scatter_f32(bnn_comm *comm, float *buf, const size_t *counts,
                                       bnn_diag *diag)
{
    (void)comm, (void)buf, (void)counts, (void)diag;
    return BNN_OK;
}

bnn_status bnn_comm_allgather_f32(bnn_comm *comm, float *buf, const size_t *counts,
                                  const size_t *displs, bnn_diag *diag)
{
    (void)comm, (void)buf, (void)counts, (void)displs, (void)diag;
    return BNN_OK;
}
