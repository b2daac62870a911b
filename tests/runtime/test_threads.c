/* The thread governor (runtime/threads.h) on synthetic clocks: it keeps
 * whichever of one and T threads runs faster, probes again after its hold
 * (doubling while the choice stands, reset when it flips), and does not count
 * an interval in which another session ran. */
#include <criterion/criterion.h>

#include "threads.h"

typedef struct clock_sim {
    double now;
    uint64_t run;
} clock_sim;

/* One run: asks the governor for its count, then takes ms_one or ms_many. */
static int step(thread_governor *g, clock_sim *c, double ms_one, double ms_many)
{
    int t = thread_governor_step(g, c->now, ++c->run);
    c->now += t == 1 ? ms_one : ms_many;
    return t;
}

/* Runs n steps; returns how many used one thread. */
static int steps(thread_governor *g, clock_sim *c, int n, double ms_one, double ms_many)
{
    int ones = 0;
    for (int i = 0; i < n; i++)
        ones += step(g, c, ms_one, ms_many) == 1;
    return ones;
}

Test(threads, one_thread_wins_on_a_loaded_machine)
{
    thread_governor g;
    thread_governor_init(&g, 2);
    clock_sim c = {0, 0};
    /* the probe: a warm-up with 2, then 1 and 2 three times each */
    cr_assert_eq(steps(&g, &c, 7, 5.0, 12.0), 3);
    /* then one thread for the hold of 32 runs, less the probe-ending run */
    cr_assert_eq(steps(&g, &c, 32, 5.0, 12.0), 32);
    cr_assert_eq(g.chosen, 1);
}

Test(threads, many_threads_win_on_an_idle_machine_and_the_hold_doubles)
{
    thread_governor g;
    thread_governor_init(&g, 4);
    clock_sim c = {0, 0};
    steps(&g, &c, 7, 10.0, 4.0);
    cr_assert_eq(steps(&g, &c, 60, 10.0, 4.0), 0, "one thread used while holding T");
    cr_assert_eq(g.chosen, 4);
    cr_assert_eq(g.hold, 64);
    /* the machine gets loaded: 4 runs later the probe flips to one thread
     * (hold 32), two more probes confirm it (64, then 128) */
    int ones = steps(&g, &c, 200, 3.0, 9.0);
    cr_assert_eq(g.chosen, 1);
    cr_assert_eq(g.hold, 128, "hold %d", g.hold);
    cr_assert_gt(ones, 170, "%d of 200 runs with one thread", ones);
}

Test(threads, intervals_with_other_sessions_runs_are_not_counted)
{
    thread_governor g;
    thread_governor_init(&g, 2);
    clock_sim c = {0, 0};
    /* every interval has another session's run in it: no samples, so the
     * probe keeps the old choice (T) though one thread looks faster */
    for (int i = 0; i < 40; i++) {
        step(&g, &c, 1.0, 50.0);
        c.run++; /* another session */
    }
    cr_assert_eq(g.chosen, 2);
    cr_assert_eq(g.n[0] + g.n[1], 0);
}

Test(threads, one_thread_is_not_governed)
{
    thread_governor g;
    thread_governor_init(&g, 1);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(thread_governor_next(&g), 1);
    thread_governor_init(&g, 0);
    cr_assert_eq(g.max_threads, 1);
}
