/* bench_allreduce N ITERS: the time of one MPI_Allreduce (sum, in place) of N
 * floats, as bnnc's trainer makes once per step, between the ranks of the
 * job; best and mean over ITERS calls, each after a barrier.  For the
 * numbers in docs/distributed.md:
 *   mpirun -np 2 build/tests/dist/bench_allreduce 123412 200 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int n = argc > 1 ? atoi(argv[1]) : 123412, iters = argc > 2 ? atoi(argv[2]) : 200, rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    float *buf = calloc(n > 0 ? (size_t)n : 1, sizeof(float));
    double best = 1e30, total = 0;
    for (int i = 0; i < iters && buf; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t = MPI_Wtime() - t;
        total += t;
        best = t < best ? t : best;
    }
    if (rank == 0 && iters > 0)
        printf("%d floats (%.0f KB): best %.3f ms, mean %.3f ms over %d calls\n", n,
               n * 4.0 / 1024, best * 1e3, total / iters * 1e3, iters);
    free(buf);
    MPI_Finalize();
    return 0;
}
