/* The thread governor (threads.h). */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "threads.h"

enum { HOLD_MIN = 32, HOLD_MAX = 1024 };

/* Runs of every session in the process, to tell whether another session ran
 * between two runs of one (its work would be in the interval). */
static atomic_uint_fast64_t process_runs;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void start_probe(thread_governor *g)
{
    g->probe_idx = 0;
    g->n[0] = g->n[1] = 0;
}

void thread_governor_init(thread_governor *g, int threads)
{
    memset(g, 0, sizeof *g);
    g->max_threads = threads > 1 ? threads : 1;
    g->current = g->chosen = g->max_threads;
    g->hold = HOLD_MIN;
    g->last_start = -1;
    g->probe_idx = g->last_probe_idx = -1;
    if (g->max_threads > 1)
        start_probe(g);
}

static double median3(const double *v)
{
    double a = v[0], b = v[1], c = v[2];
    if (a > b) { double t = a; a = b; b = t; }
    if (b > c) { double t = b; b = c; c = t; }
    return a > b ? a : b;
}

/* The end of a probe: the faster count by median (a count short of samples
 * keeps the old choice); the hold doubles while the choice stands. */
static void decide(thread_governor *g)
{
    int choice = g->chosen;
    if (g->n[0] == GOVERNOR_PROBE_RUNS && g->n[1] == GOVERNOR_PROBE_RUNS)
        choice = median3(g->ms[0]) < median3(g->ms[1]) ? 1 : g->max_threads;
    if (choice == g->chosen) {
        g->hold = g->hold * 2 < HOLD_MAX ? g->hold * 2 : HOLD_MAX;
    } else {
        g->hold = HOLD_MIN;
        g->chosen = choice;
    }
    g->hold_left = g->hold;
    g->probe_idx = -1;
}

int thread_governor_next(thread_governor *g)
{
    uint64_t run = atomic_fetch_add(&process_runs, 1) + 1;
    return g->max_threads == 1 ? 1 : thread_governor_step(g, now_ms(), run);
}

int thread_governor_step(thread_governor *g, double now, uint64_t run)
{
    /* the last run's interval, if it was a timed probe run and no other
     * session ran in it */
    if (g->last_start >= 0 && run == g->last_run + 1 && g->last_probe_idx >= 1) {
        int k = g->current > 1;
        if (g->n[k] < GOVERNOR_PROBE_RUNS)
            g->ms[k][g->n[k]++] = now - g->last_start;
    }
    g->last_start = now;
    g->last_run = run;
    g->last_probe_idx = -1;
    if (g->probe_idx > 2 * GOVERNOR_PROBE_RUNS)
        decide(g);
    else if (g->probe_idx < 0 && --g->hold_left <= 0)
        start_probe(g);
    if (g->probe_idx >= 0) {
        /* a warm-up run with T threads, then one and T in turn */
        int idx = g->last_probe_idx = g->probe_idx++;
        g->current = idx > 0 && idx % 2 ? 1 : g->max_threads;
        return g->current;
    }
    g->current = g->chosen;
    return g->current;
}
