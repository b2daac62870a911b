/* The communicator over MPI (OpenMPI here, any MPI-3 library in principle).
 *
 * MPI is initialised only when a launcher started this process (mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK, Hydra PMI_RANK): a plain
 * `bnnc train` stays a one-rank job that never touches MPI, which keeps it
 * quick to start and keeps OpenMPI's own allocations out of the leak checker.
 * Buffers longer than INT_MAX elements go in INT_MAX pieces (MPI counts are
 * int).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "bnn_comm.h"

struct bnn_comm {
    int rank, size;
    bool mpi;       /* this process joined an MPI job */
    bool finalize;  /* it initialised MPI, so it finalises it */
};

static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static bnn_status mpi_fail(bnn_diag *diag, int code, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = 0;
    return bnn_fail(diag, BNN_ERR_IO, "MPI %s failed: %s", what, len ? text : "unknown error");
}

bnn_status bnn_comm_create(bnn_comm **out, bnn_diag *diag)
{
    bnn_comm *c = calloc(1, sizeof *c);
    if (!c)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    c->size = 1;
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised || launched_by_mpi()) {
        if (!initialised) {
            int provided;
            /* Only the main thread calls MPI; OpenMP and OpenBLAS threads
             * never do. */
            int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
            if (rc != MPI_SUCCESS) {
                free(c);
                return mpi_fail(diag, rc, "initialisation");
            }
            c->finalize = true;
        }
        /* Errors come back as codes so that the caller can name the step. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &c->size);
        c->mpi = true;
    }
    *out = c;
    return BNN_OK;
}

void bnn_comm_destroy(bnn_comm *c)
{
    if (!c)
        return;
    if (c->finalize)
        MPI_Finalize();
    free(c);
}

int bnn_comm_rank(const bnn_comm *c) { return c ? c->rank : 0; }
int bnn_comm_size(const bnn_comm *c) { return c ? c->size : 1; }
bool bnn_comm_launched(const bnn_comm *c) { return c && c->mpi; }
const char *bnn_comm_backend(void) { return "mpi"; }

static bnn_status allreduce(bnn_comm *c, void *buf, size_t n, size_t elem, MPI_Datatype type,
                            bnn_diag *diag)
{
    if (!c || !c->mpi || c->size == 1)
        return BNN_OK;
    for (size_t at = 0; at < n;) {
        int count = n - at > INT_MAX ? INT_MAX : (int)(n - at);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * elem, count, type, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(diag, rc, "all-reduce");
        at += (size_t)count;
    }
    return BNN_OK;
}

bnn_status bnn_comm_allreduce_f32(bnn_comm *c, float *buf, size_t n, bnn_diag *diag)
{
    return allreduce(c, buf, n, sizeof(float), MPI_FLOAT, diag);
}

bnn_status bnn_comm_allreduce_f64(bnn_comm *c, double *buf, size_t n, bnn_diag *diag)
{
    return allreduce(c, buf, n, sizeof(double), MPI_DOUBLE, diag);
}

/* counts (and displs, when not NULL) as MPI's ints; NULL when one is too
 * large or memory is short (then *st says why). */
static int *int_counts(const bnn_comm *c, const size_t *counts, const size_t *displs,
                       bnn_status *st, bnn_diag *diag)
{
    int *out = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!out) {
        *st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int r = 0; r < c->size; r++) {
        if (counts[r] > INT_MAX || (displs && displs[r] > INT_MAX)) {
            free(out);
            *st = bnn_fail(diag, BNN_ERR_UNSUPPORTED, "a part of %zu floats at %zu is beyond "
                           "MPI's int counts", counts[r], displs ? displs[r] : 0);
            return NULL;
        }
        out[r] = (int)counts[r];
        out[c->size + r] = displs ? (int)displs[r] : 0;
    }
    return out;
}

bnn_status bnn_comm_reduce_scatter_f32(bnn_comm *c, float *buf, const size_t *counts,
                                       bnn_diag *diag)
{
    if (!c || !c->mpi || c->size == 1)
        return BNN_OK;
    int k = c->size, me = c->rank;
    size_t *start = malloc(sizeof(size_t) * (size_t)k), most = 1;
    if (!start)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    size_t at = 0;
    for (int r = 0; r < k; r++) {
        if (counts[r] > INT_MAX) {
            free(start);
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "a part of %zu floats is beyond MPI's "
                            "int counts", counts[r]);
        }
        start[r] = at;
        at += counts[r];
        most = counts[r] > most ? counts[r] : most;
    }
    float *in = malloc(most * sizeof(float));
    if (!in) {
        free(start);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    }
    int next = (me + 1) % k, prev = (me + k - 1) % k, rc = MPI_SUCCESS;
    /* step s: send the partial sum of part (me - s - 1), receive that of
     * part (me - s - 2) and add this rank's own; after k - 1 steps part me
     * holds every rank's */
    for (int s = 0; s < k - 1 && rc == MPI_SUCCESS; s++) {
        int out = ((me - s - 1) % k + k) % k, back = ((me - s - 2) % k + k) % k;
        rc = MPI_Sendrecv(buf + start[out], (int)counts[out], MPI_FLOAT, next, 0, in,
                          (int)counts[back], MPI_FLOAT, prev, 0, MPI_COMM_WORLD,
                          MPI_STATUS_IGNORE);
        float *restrict dst = buf + start[back];
        for (size_t i = 0; rc == MPI_SUCCESS && i < counts[back]; i++)
            dst[i] = in[i] + dst[i];
    }
    free(in);
    free(start);
    return rc == MPI_SUCCESS ? BNN_OK : mpi_fail(diag, rc, "reduce-scatter");
}

bnn_status bnn_comm_allgather_f32(bnn_comm *c, float *buf, const size_t *counts,
                                  const size_t *displs, bnn_diag *diag)
{
    if (!c || !c->mpi || c->size == 1)
        return BNN_OK;
    bnn_status st = BNN_OK;
    int *n = int_counts(c, counts, displs, &st, diag);
    if (!n)
        return st;
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, n, n + c->size, MPI_FLOAT,
                            MPI_COMM_WORLD);
    free(n);
    return rc == MPI_SUCCESS ? BNN_OK : mpi_fail(diag, rc, "all-gather");
}

bnn_status bnn_comm_broadcast(bnn_comm *c, void *buf, size_t bytes, int root, bnn_diag *diag)
{
    if (root < 0 || root >= bnn_comm_size(c))
        return bnn_fail(diag, BNN_ERR_INVALID, "broadcast from rank %d of %d", root,
                        bnn_comm_size(c));
    if (!c || !c->mpi || c->size == 1)
        return BNN_OK;
    for (size_t at = 0; at < bytes;) {
        int count = bytes - at > INT_MAX ? INT_MAX : (int)(bytes - at);
        int rc = MPI_Bcast((char *)buf + at, count, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(diag, rc, "broadcast");
        at += (size_t)count;
    }
    return BNN_OK;
}

bnn_status bnn_comm_barrier(bnn_comm *c, bnn_diag *diag)
{
    if (!c || !c->mpi || c->size == 1)
        return BNN_OK;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? BNN_OK : mpi_fail(diag, rc, "barrier");
}

_Noreturn void bnn_comm_abort(bnn_comm *c, int status)
{
    if (c && c->mpi && c->size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}
