/* bench_allreduce N ITERS [--chunk FLOATS] [--nonblocking] [--overlap MS POLLS]
 *
 * The time of one MPI_Allreduce (sum, in place) of N floats, as bnnc's
 * trainer makes once per step, between the ranks of the job; best and mean
 * over ITERS calls, each after a barrier, with the buffer rewritten before
 * each call (as a backward sweep leaves it) and the caches flushed by a
 * 32 MB sweep.  For the numbers in docs/distributed.md:
 *   mpirun -np 2 build/tests/dist/bench_allreduce 2395210 50
 *
 * --chunk FLOATS   reduce in pieces of FLOATS (one blocking call each)
 * --nonblocking    MPI_Iallreduce per piece, then MPI_Waitall (libnbc)
 * --overlap MS P   what a DDP-style overlap gains: each iteration is MS ms of
 *                  compute and one all-reduce, either blocking after the
 *                  compute, or an MPI_Iallreduce started before it and polled
 *                  with MPI_Test P times during it; prints both steps' mean
 *                  time.  With no asynchronous progress (OpenMPI's shared
 *                  memory transport) the transfer happens inside the polls,
 *                  and the step does not get shorter.
 * --rsag           the all-reduce of N floats against the collectives of the
 *                  sharded step (train --shard-update) for N summed floats of
 *                  reparam layers: a ring reduce-scatter of the N (as
 *                  train/comm_mpi.c's; --rsag-mpi: MPI_Reduce_scatter_block), an
 *                  all-reduce of 3 doubles (the KL's parts and the checks'
 *                  verdicts), MPI_Allgather of the 2 N updated params (mu and
 *                  rho); the two kinds alternate, best and mean of each.
 * --allgather      the all-reduce of N floats against an MPI_Allgather of N
 *                  floats in all (N / K from each rank): what gathering drawn
 *                  weights, instead of drawing them all on every rank, would
 *                  cost; alternating, best and mean of each. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;

/* ms of arithmetic, in a loop that checks the clock */
static void compute(double ms)
{
    double t = MPI_Wtime(), s = 0;
    while ((MPI_Wtime() - t) * 1e3 < ms)
        for (int i = 0; i < 1000; i++)
            s += sqrt(s + i);
    sink = s;
}

static void fresh(float *buf, int n, float *cold, size_t cold_n)
{
    for (size_t j = 0; j < cold_n; j++)
        cold[j] += 1.0f;
    for (int j = 0; j < n; j++)
        buf[j] = (float)(j & 1023);
}

static void reduce(float *buf, int n, int chunk, int nonblocking, MPI_Request *req)
{
    int k = 0;
    for (int at = 0; at < n; at += chunk) {
        int c = n - at < chunk ? n - at : chunk;
        if (nonblocking)
            MPI_Iallreduce(MPI_IN_PLACE, buf + at, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req[k++]);
        else
            MPI_Allreduce(MPI_IN_PLACE, buf + at, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    if (nonblocking)
        MPI_Waitall(k, req, MPI_STATUSES_IGNORE);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int n = argc > 1 ? atoi(argv[1]) : 123412, iters = argc > 2 ? atoi(argv[2]) : 200, rank;
    int chunk = n, nonblocking = 0, polls = -1, rsag = 0, gather_only = 0;
    double overlap_ms = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
            chunk = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nonblocking"))
            nonblocking = 1;
        else if (!strcmp(argv[i], "--rsag"))
            rsag = 1;
        else if (!strcmp(argv[i], "--rsag-mpi"))
            rsag = 2;
        else if (!strcmp(argv[i], "--allgather"))
            rsag = gather_only = 1;
        else if (!strcmp(argv[i], "--overlap") && i + 2 < argc) {
            overlap_ms = atof(argv[++i]);
            polls = atoi(argv[++i]);
        } else {
            fprintf(stderr, "bench_allreduce: unknown argument '%s'\n", argv[i]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    if (n < 1 || iters < 1 || chunk < 1 || (n + chunk - 1) / chunk > 4096) {
        fprintf(stderr, "bench_allreduce: need N, ITERS, CHUNK >= 1 and at most 4096 pieces\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    size_t cold_n = (size_t)8 << 20; /* 32 MB */
    float *buf = calloc((size_t)n, sizeof(float)), *cold = calloc(cold_n, sizeof(float));
    MPI_Request *req = calloc(4096, sizeof *req);
    if (!buf || !cold || !req)
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (rsag) {
        int size;
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        int part = n / size; /* the sharded step's cuts need not be even; here they are */
        float *mine = calloc((size_t)part + 1, sizeof(float));
        float *params = calloc(2 * (size_t)part * (size_t)size + 1, sizeof(float));
        double sums[3] = {0, 0, 0};
        double best[2] = {1e30, 1e30}, total[2] = {0, 0};
        for (int i = 0; i < 2 * iters; i++) {
            int halves = i & 1;
            fresh(buf, n, cold, cold_n);
            MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime();
            if (!halves) {
                MPI_Allreduce(MPI_IN_PLACE, buf, part * size, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            } else if (gather_only) {
                MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, part, MPI_FLOAT,
                              MPI_COMM_WORLD);
            } else {
                if (rsag == 2) {
                    MPI_Reduce_scatter_block(buf, mine, part, MPI_FLOAT, MPI_SUM,
                                             MPI_COMM_WORLD);
                } else { /* the ring: part r summed from rank r + 1 on, ending at r */
                    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
                    for (int st = 0; st < size - 1; st++) {
                        int out = ((rank - st - 1) % size + size) % size;
                        int back = ((rank - st - 2) % size + size) % size;
                        MPI_Sendrecv(buf + (size_t)out * part, part, MPI_FLOAT, next, 0, mine,
                                     part, MPI_FLOAT, prev, 0, MPI_COMM_WORLD,
                                     MPI_STATUS_IGNORE);
                        float *dst = buf + (size_t)back * part;
                        for (int j = 0; j < part; j++)
                            dst[j] = mine[j] + dst[j];
                    }
                }
                MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
                memcpy(params + (size_t)rank * 2 * part, mine, (size_t)part * sizeof(float));
                MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, params, 2 * part, MPI_FLOAT,
                              MPI_COMM_WORLD);
            }
            t = MPI_Wtime() - t;
            total[halves] += t;
            best[halves] = t < best[halves] ? t : best[halves];
        }
        if (rank == 0)
            printf("%d floats (%.0f KB): all-reduce best %.3f ms, mean %.3f; %s: best %.3f ms, "
                   "mean %.3f (%d each)\n", part * size,
                   part * size * 4.0 / 1024, best[0] * 1e3, total[0] / iters * 1e3,
                   gather_only   ? "all-gather of as many floats"
                   : rsag == 2 ? "MPI's reduce-scatter, 3 doubles, all-gather of twice the floats"
                               : "ring reduce-scatter, 3 doubles, all-gather of twice the floats",
                   best[1] * 1e3, total[1] / iters * 1e3, iters);
        free(mine);
        free(params);
    } else if (polls < 0) {
        double best = 1e30, total = 0;
        for (int i = 0; i < iters; i++) {
            fresh(buf, n, cold, cold_n);
            MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime();
            reduce(buf, n, chunk, nonblocking, req);
            t = MPI_Wtime() - t;
            total += t;
            best = t < best ? t : best;
        }
        if (rank == 0)
            printf("%d floats (%.0f KB) in %s pieces of %d: best %.3f ms, mean %.3f ms over %d "
                   "calls\n", n, n * 4.0 / 1024, nonblocking ? "non-blocking" : "blocking",
                   chunk, best * 1e3, total / iters * 1e3, iters);
    } else {
        /* alternate the two kinds of step so that both see the same load */
        double step[2] = {0, 0};
        for (int i = 0; i < 2 * iters; i++) {
            int overlapped = i & 1;
            fresh(buf, n, cold, cold_n);
            MPI_Barrier(MPI_COMM_WORLD);
            double t = MPI_Wtime();
            if (!overlapped) {
                compute(overlap_ms);
                MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            } else {
                MPI_Request r;
                int done = 0;
                MPI_Iallreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r);
                for (int p = 0; p < polls; p++) {
                    compute(overlap_ms / polls);
                    if (!done)
                        MPI_Test(&r, &done, MPI_STATUS_IGNORE);
                }
                if (polls == 0)
                    compute(overlap_ms);
                MPI_Wait(&r, MPI_STATUS_IGNORE);
            }
            step[overlapped] += MPI_Wtime() - t;
        }
        if (rank == 0)
            printf("%d floats (%.0f KB), %.1f ms of compute: blocking after it %.3f ms a step, "
                   "MPI_Iallreduce polled %d times during it %.3f ms (mean of %d each)\n", n,
                   n * 4.0 / 1024, overlap_ms, step[0] / iters * 1e3, polls,
                   step[1] / iters * 1e3, iters);
    }
    free(buf);
    free(cold);
    free(req);
    MPI_Finalize();
    return 0;
}
