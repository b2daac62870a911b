/* The thread governor: a session given T > 1 threads checks, by timing its
 * own runs, that T threads are faster than one, and runs with one when they
 * are not (a loaded machine: a thread descheduled at every barrier makes two
 * threads several times slower than one).  Internal to runtime/.
 *
 * It times the interval from one bnn_session_run to the next (a training
 * step's forward, backward and update, or one inference call), probes 1 and T
 * threads alternately (PROBE_RUNS of each after a warm-up run), keeps the one
 * with the lower median, and probes again after `hold` runs: 32 at first,
 * doubling up to 1024 while the choice stands, back to 32 when it flips.  An
 * interval in which another session ran is not counted.  Every kernel gives
 * the same bits for any thread count, so the choice changes speed only. */
#ifndef BNN_THREADS_H
#define BNN_THREADS_H

#include <stdbool.h>
#include <stdint.h>

enum { GOVERNOR_PROBE_RUNS = 3 };

typedef struct thread_governor {
    int max_threads;     /* T; 1: nothing to govern */
    int current;         /* the count this session's last run used */
    int chosen;          /* the count held between probes */
    int probe_idx;       /* the next probe run (0: warm-up), -1 while holding */
    int last_probe_idx;  /* the probe run the last run was, -1 if none */
    int hold_left;       /* runs left before the next probe */
    int hold;            /* the current hold length */
    int n[2];            /* samples this probe: [0] one thread, [1] T */
    double ms[2][GOVERNOR_PROBE_RUNS];
    double last_start;   /* ms; < 0 before the first run */
    uint64_t last_run;   /* the process's run count at this session's last run */
} thread_governor;

void thread_governor_init(thread_governor *g, int threads);
/* At the start of a run: records the last interval and returns the thread
 * count for this run. */
int thread_governor_next(thread_governor *g);
/* The same at time `now` (ms) as the process's run number `run` (for tests:
 * thread_governor_next passes the clock and a process-wide count). */
int thread_governor_step(thread_governor *g, double now, uint64_t run);

#endif
