/* bench_libpk.c - what libpk's thread pool, process pool and timer cost.
 *
 * `make bench` runs it first (or `make bench-libpk` alone) and writes
 * build/bench/libpk.csv. Figures for scale, measured on this course's
 * machine: Python's ThreadPoolExecutor submits about 0.08 M tasks/s; GLib's
 * GThreadPool about 6.4 M/s; Python's Pool.map costs about 0.10 us per item
 * at its best and ProcessPoolExecutor 0.26 us per item at chunksize 1000. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pk/ppool.h"
#include "pk/report.h"
#include "pk/task.h"
#include "pk/timing.h"
#include "pk/tpool.h"

#ifdef PK_HAVE_GLIB
#include <glib.h>
#endif

#define RUNS 7                 /* timed runs per variant */
#define TASKS 1000000          /* empty tasks per submit run */
#define ROUND_TRIPS 20000      /* single-task round trips per run */
#define MAP_ITEMS 10000000     /* items per trivial thread map */
#define PMAP_ITEMS 1000000     /* items per trivial process map */
#define CPU_ITEMS 8000         /* CPU-bound items */
#define CPU_WORK 50000         /* pk_cpu_task(n) per CPU-bound item, ~40 us */
#define BENCH_RUNS 1000000     /* pk_bench runs for its own overhead */
#define CEILING_TRIAL_S 0.05   /* seconds of busy work per ceiling trial */

static pk_tpool *pool;
static int64_t *in, *out;

static void *nothing(void *arg)
{
    return arg;
}

/* Submit TASKS empty tasks one at a time, then collect them all. */
static pk_future **futs;
static void submit_many(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < TASKS; i++)
        futs[i] = pk_tpool_submit(pool, nothing, NULL);
    for (size_t i = 0; i < TASKS; i++)
        pk_future_free(futs[i]);
}

#ifdef PK_HAVE_GLIB
/* GLib's thread pool for comparison: push TASKS empty tasks, then wait for
 * all of them (g_thread_pool_free with wait = TRUE). */
static void glib_nothing(gpointer data, gpointer user)
{
    (void)data, (void)user;
}

static void glib_push_many(void *ctx)
{
    (void)ctx;
    GThreadPool *gp = g_thread_pool_new(glib_nothing, NULL, 2, TRUE, NULL);
    for (size_t i = 0; i < TASKS; i++)
        g_thread_pool_push(gp, GINT_TO_POINTER(1), NULL);
    g_thread_pool_free(gp, FALSE, TRUE);
}

/* Ours the same way: a fresh pool, fire and forget, then wait for all. */
static void pk_push_many(void *ctx)
{
    (void)ctx;
    pk_tpool *p = pk_tpool_create(2);
    for (size_t i = 0; i < TASKS; i++)
        futs[i] = pk_tpool_submit(p, nothing, NULL);
    pk_tpool_destroy(p);
    for (size_t i = 0; i < TASKS; i++)
        pk_future_free(futs[i]);
}
#endif

static void round_trips(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < ROUND_TRIPS; i++)
        pk_future_free(pk_tpool_submit(pool, nothing, NULL));
}

static void twice(const void *i, void *o, void *ctx)
{
    (void)ctx;
    *(int64_t *)o = *(const int64_t *)i * 2;
}

static void tmap_trivial(void *ctx)
{
    (void)ctx;
    pk_tpool_map(pool, in, MAP_ITEMS, sizeof *in, out, sizeof *out, twice, NULL, 0);
}

static void pmap_trivial(void *ctx)
{
    (void)ctx;
    if (pk_ppool_map(2, in, PMAP_ITEMS, sizeof *in, out, sizeof *out, twice,
                     NULL, 0) != 0)
        perror("pk_ppool_map");
}

static void cpu_item(const void *i, void *o, void *ctx)
{
    (void)ctx;
    *(uint64_t *)o = pk_cpu_task((uint64_t)*(const int64_t *)i);
}

static void cpu_seq(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < CPU_ITEMS; i++)
        cpu_item(&in[i], &out[i], NULL);
}

static void cpu_tmap(void *ctx)
{
    (void)ctx;
    pk_tpool_map(pool, in, CPU_ITEMS, sizeof *in, out, sizeof *out, cpu_item, NULL, 0);
}

static void cpu_pmap(void *ctx)
{
    (void)ctx;
    if (pk_ppool_map(2, in, CPU_ITEMS, sizeof *in, out, sizeof *out, cpu_item,
                     NULL, 0) != 0)
        perror("pk_ppool_map");
}

static void empty(void *ctx)
{
    (void)ctx;
}

static void bench_overhead(void *ctx)
{
    pk_stats st;
    (void)ctx;
    pk_bench(empty, NULL, 0, BENCH_RUNS, &st);
}

int main(void)
{
    pk_report *r = pk_report_open("libpk");
    in = malloc(MAP_ITEMS * sizeof *in);
    out = malloc(MAP_ITEMS * sizeof *out);
    futs = malloc(TASKS * sizeof *futs);
    pool = pk_tpool_create(2);
    if (r == NULL || in == NULL || out == NULL || futs == NULL || pool == NULL) {
        perror("bench_libpk");
        return 1;
    }
    for (size_t i = 0; i < MAP_ITEMS; i++)
        in[i] = (int64_t)i;

    pk_stats st;
    pk_bench(submit_many, NULL, 1, RUNS, &st);
    pk_report_add(r, "pk_tpool: 10^6 empty tasks submitted one at a time, 2 workers",
                  "submit all, then get and free all", TASKS, &st);
    pk_report_note(r, "%.2f M tasks/s (target >= 6; GThreadPool ~6.4, Python "
                   "ThreadPoolExecutor ~0.08)", TASKS / st.median * 1e-6);

#ifdef PK_HAVE_GLIB
    {
        void (*const fns[])(void *) = {glib_push_many, pk_push_many};
        pk_stats gs[2];
        pk_bench_many(fns, NULL, 2, 1, RUNS, gs);
        const char *b = "10^6 empty tasks, new pool of 2 threads, wait for all";
        pk_report_add(r, b, "GLib GThreadPool", TASKS, &gs[0]);
        pk_report_add(r, b, "pk_tpool (futures freed after)", TASKS, &gs[1]);
        pk_report_note(r, "GThreadPool %.2f M tasks/s, pk_tpool %.2f M tasks/s",
                       TASKS / gs[0].median * 1e-6, TASKS / gs[1].median * 1e-6);
    }
#else
    pk_report_note(r, "(install libglib2.0-dev to see GLib's GThreadPool beside it)");
#endif

    pk_bench(round_trips, NULL, 1, RUNS, &st);
    pk_report_add(r, "pk_tpool: submit one task, wait for it, repeat",
                  "20000 round trips", ROUND_TRIPS, &st);
    pk_report_note(r, "%.2f us per round trip (target <= 5)",
                   st.median / ROUND_TRIPS * 1e6);

    pk_bench(tmap_trivial, NULL, 1, RUNS, &st);
    pk_report_add(r, "pk_tpool_map: out = 2*in over 10^7 int64, automatic chunks",
                  "2 workers + caller", MAP_ITEMS, &st);
    pk_report_note(r, "%.0f M items/s (target >= 50)", MAP_ITEMS / st.median * 1e-6);

    pk_bench(pmap_trivial, NULL, 1, RUNS, &st);
    pk_report_add(r, "pk_ppool_map: out = 2*in over 10^6 int64, automatic chunks",
                  "2 processes", PMAP_ITEMS, &st);
    pk_report_note(r, "%.4f us per item, fork and copy-back included (target <= "
                   "0.05; Python Pool.map ~0.10, ProcessPoolExecutor ~0.26)",
                   st.median / PMAP_ITEMS * 1e6);

    /* fork() copies the parent's page tables: with the 160 MB of the maps
     * above still allocated, each fork costs ~10 ms (chapter 02 measures
     * it). Give that memory back first, so the CPU-bound map measures the
     * map. */
    free(in);
    free(out);
    free(futs);
    futs = NULL;
    in = malloc(CPU_ITEMS * sizeof *in);
    out = malloc(CPU_ITEMS * sizeof *out);
    if (in == NULL || out == NULL) {
        perror("bench_libpk");
        return 1;
    }
    for (size_t i = 0; i < CPU_ITEMS; i++)
        in[i] = CPU_WORK + (int64_t)(i % 7);
    /* Interleaved rounds: this machine's speed drifts with its neighbours,
     * within a run by a factor of two at times. Each round times the three
     * variants back to back and takes one short ceiling trial; besides the
     * medians of each column, the figures that count are the per-round
     * ratios (each parallel run against the sequential run beside it) and
     * their medians. */
    const char *b = "CPU-bound map: 8000 x pk_cpu_task(50000), interleaved rounds";
    void (*const fns[])(void *) = {cpu_seq, cpu_tmap, cpu_pmap};
    enum { NV = 3, ROUNDS = 2 * RUNS + 1 };
    double t[NV][ROUNDS], ratio[2][ROUNDS], ceil_r[ROUNDS], eff[2][ROUNDS];
    for (size_t round = 0; round < ROUNDS + 1; round++) {
        double tr[NV];
        for (size_t v = 0; v < NV; v++) {
            uint64_t t0 = pk_now_ns();
            fns[v](NULL);
            tr[v] = (double)(pk_now_ns() - t0) * 1e-9;
        }
        if (round == 0)
            continue; /* warm-up */
        size_t k = round - 1;
        ceil_r[k] = pk_parallel_ceiling(2, CEILING_TRIAL_S);
        for (size_t v = 0; v < NV; v++)
            t[v][k] = tr[v];
        for (size_t v = 0; v < 2; v++) {
            ratio[v][k] = tr[0] / tr[v + 1];
            eff[v][k] = ratio[v][k] / ceil_r[k];
        }
    }
    pk_stats cpu[NV], rs[2], cs, es[2];
    for (size_t v = 0; v < NV; v++)
        pk_stats_from(t[v], ROUNDS, &cpu[v]);
    for (size_t v = 0; v < 2; v++) {
        pk_stats_from(ratio[v], ROUNDS, &rs[v]);
        pk_stats_from(eff[v], ROUNDS, &es[v]);
    }
    pk_stats_from(ceil_r, ROUNDS, &cs);
    pk_report_add(r, b, "sequential loop", CPU_ITEMS, &cpu[0]);
    pk_report_add(r, b, "pk_tpool_map, 2 workers + caller", CPU_ITEMS, &cpu[1]);
    pk_report_add(r, b, "pk_ppool_map, 2 processes", CPU_ITEMS, &cpu[2]);
    pk_report_note(r, "paired per round (%d rounds): speedup over the "
                   "sequential run beside it, median (min-max): thread map "
                   "%.2fx (%.2f-%.2f), process map %.2fx (%.2f-%.2f) "
                   "(target >= 1.9x)", ROUNDS, rs[0].median, rs[0].min,
                   rs[0].max, rs[1].median, rs[1].min, rs[1].max);
    pk_report_note(r, "two-process ceiling, one trial per round: median "
                   "%.2fx (%.2f-%.2f); efficiency (speedup / ceiling, per "
                   "round) median: thread map %.0f%%, process map %.0f%%",
                   cs.median, cs.min, cs.max, 100 * es[0].median,
                   100 * es[1].median);

    /* What pk_bench adds to every sample: the time it reports for a
     * function that does nothing (two clock reads and a call). */
    pk_stats empty_st;
    pk_bench(empty, NULL, 1000, BENCH_RUNS, &empty_st);
    pk_bench(bench_overhead, NULL, 1, RUNS, &st);
    pk_report_add(r, "pk_bench: timing an empty function 10^6 times",
                  "whole pk_bench call, statistics included", BENCH_RUNS, &st);
    pk_report_note(r, "%.1f ns overhead per measured run: the median sample "
                   "of an empty function (target <= 100); %.1f ns per run "
                   "with the sorting for the median", empty_st.median * 1e9,
                   st.median / BENCH_RUNS * 1e9);

    pk_tpool_destroy(pool);
    free(futs);
    free(in);
    free(out);
    pk_report_close(r);
    return 0;
}
