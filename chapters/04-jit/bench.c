/* bench.c - chapter 04 benchmark: one bytecode program, four ways to run it,
 * with your code and the reference solution side by side.
 *
 * The same loop written in C and compiled with -O2 -fno-tree-vectorize
 * (bench/cloop.c, always available: the baseline of every table), then
 * your switch interpreter, your computed-goto interpreter and your JIT,
 * then the reference solution's three (where solutions/ exists: not in the
 * student handout). All of them run in the same interleaved rounds, so a
 * change in the machine's speed hits every row alike. A function still at
 * PK_TODO gets a "not written yet" row and the rest goes on.
 *
 * Two programs: the sum of squares (the Python chapter's CPU task: cheap
 * instructions, dispatch cost dominates) and a prime count by trial
 * division (every inner step is a 64-bit division, which costs the same
 * everywhere). Then the JIT's own cost: how long jit_compile() takes.
 *
 * The times are CPU time: each call reads its thread's CPU clock before and
 * after (pk_bench_many() still decides the rounds). Everything timed here
 * runs on one thread, so its CPU time is what it costs; the wall-clock time
 * also counts the time it waited for a core, which on a shared machine is
 * most of it (on the course's 2-core machine with a load average of 5, the
 * C loop's wall-clock time ranged from 14 to 58 ms within one run). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/cloop.h"
#include "jit.h"
#include "pk/report.h"
#include "pk/timing.h"
#include "programs.h"
#include "vm.h"

/* The reference solution's functions, renamed pk_ref_* by make bench;
 * NULL in the student handout. */
PK_REF_DECLARE(vm_run);
PK_REF_DECLARE(vm_run_threaded);
PK_REF_DECLARE(jit_compile);
PK_REF_DECLARE(jit_run);
PK_REF_DECLARE(jit_free);

#define SUMSQ_N 20000000LL      /* the switch loop: ~0.5 s a run */
#define SUMSQ_N_QUICK 1000000LL
#define SUMSQ_INSNS 15          /* bytecode instructions per item, loop: .. jmp */
#define PRIMES_N 100000LL       /* ~3.5e7 dispatched instructions */
#define PRIMES_N_QUICK 10000LL
#define RUNS 5                  /* interleaved rounds */
#define RUNS_QUICK 3
#define COMPILE_RUNS 2000       /* jit_compile takes microseconds */
#define COMPILE_RUNS_QUICK 200

/* The CPU time this thread has used, in seconds. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A call's CPU times, in call order; the last `runs` are the timed rounds. */
struct times {
    double *t;
    size_t n, cap;
};

static void times_add(struct times *ts, double t)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? 2 * ts->cap : 64;
        double *p = realloc(ts->t, cap * sizeof *p);
        if (p == NULL)
            return; /* the sample is lost; times_stats() says so */
        ts->t = p;
        ts->cap = cap;
    }
    ts->t[ts->n++] = t;
}

/* Statistics of the last `runs` samples; 0, or -1 if some were lost. */
static int times_stats(const struct times *ts, size_t runs, pk_stats *st)
{
    if (ts->n < runs)
        return -1;
    return pk_stats_from(ts->t + ts->n - runs, runs, st);
}

enum how { NATIVE, SWITCH, THREADED, JIT };
#define NHOW 4
#define MAX_VARIANTS (1 + 2 * 3)

typedef int (*run_fn)(const vm_program *, const int64_t *, size_t, int64_t *);

/* One engine of one author (yours, or the reference) ready to time. */
struct job {
    enum how how;
    int ref;                        /* the reference solution's, or yours */
    const char *name;
    int status;                     /* 1 timed, 0 not written yet, -1 fails */
    char why[200];                  /* why it fails */
    run_fn run;                     /* SWITCH, THREADED */
    int (*jrun)(const jit_fn *, const int64_t *, size_t, int64_t *); /* JIT */
    const vm_program *p;
    jit_fn *f;                      /* JIT: compiled once */
    void (*jfree)(jit_fn *);
    int64_t (*native)(int64_t);     /* NATIVE */
    int64_t n;
    int64_t result;
    int rc;
    struct times times;             /* CPU time of each call */
};

static void run_job(void *ctx)
{
    struct job *j = ctx;
    double t0 = cpu_s();
    switch (j->how) {
    case NATIVE: j->result = j->native(j->n); j->rc = VM_OK; break;
    case SWITCH:
    case THREADED: j->rc = j->run(j->p, &j->n, 1, &j->result); break;
    case JIT: j->rc = j->jrun(j->f, &j->n, 1, &j->result); break;
    }
    times_add(&j->times, cpu_s() - t0);
}

/* Whether a job works: 1 yes; 0 not written yet (ENOSYS); -1 it fails
 * otherwise (j->why says how). Tried on a small n. */
static int try_job(struct job *j, int64_t (*native)(int64_t))
{
    int64_t n = j->n;
    j->n = 1000;
    errno = 0;
    run_job(j);
    int e = errno;
    j->n = n;
    if (j->rc == VM_OK && j->result == native(1000))
        return 1;
    if (j->rc != VM_OK && e == ENOSYS)
        return 0;
    snprintf(j->why, sizeof j->why, "returned code %d, result %" PRId64
             " for n = 1000, expected VM_OK and %" PRId64 ": not timed (make "
             "grade CH=04-jit says more)", j->rc, j->result, native(1000));
    return -1;
}

/* Compile for a JIT job; 1 ok, 0 not written yet, -1 refused. */
static int compile_job(struct job *j,
                       jit_fn *(*compile)(const vm_program *, char *, size_t))
{
    char err[128] = "";
    errno = 0;
    j->f = compile(j->p, err, sizeof err);
    if (j->f != NULL)
        return 1;
    if (errno == ENOSYS)
        return 0;
    snprintf(j->why, sizeof j->why, "jit_compile failed (%s): not timed", err);
    return -1;
}

static int measure(pk_report *r, const char *bench, const char *src,
                   int64_t (*native)(int64_t), int64_t n, int insns_per_n)
{
    char err[256];
    vm_program *p = vm_assemble(src, err, sizeof err);
    if (p == NULL) {
        fprintf(stderr, "bench: vm_assemble: %s\n", err);
        return -1;
    }
    struct job all[MAX_VARIANTS];
    size_t nall = 0;
    all[nall++] = (struct job){.how = NATIVE, .name = "C, -O2 -fno-tree-vectorize",
                               .native = native, .n = n};
    /* yours, then the reference */
    for (int ref = 0; ref < 2; ref++) {
        if (ref && PK_REF(vm_run) == NULL)
            break; /* the student handout: no reference solution */
        const char *who = ref ? "reference" : "yours";
        static char names[2][3][48];
        snprintf(names[ref][0], sizeof names[ref][0], "%s: switch", who);
        snprintf(names[ref][1], sizeof names[ref][1], "%s: computed goto", who);
        snprintf(names[ref][2], sizeof names[ref][2], "%s: JIT", who);
        all[nall++] = (struct job){.how = SWITCH, .ref = ref, .name = names[ref][0],
                                   .p = p, .n = n,
                                   .run = ref ? PK_REF(vm_run) : vm_run};
        all[nall++] = (struct job){.how = THREADED, .ref = ref, .name = names[ref][1],
                                   .p = p, .n = n,
                                   .run = ref ? PK_REF(vm_run_threaded) : vm_run_threaded};
        all[nall++] = (struct job){.how = JIT, .ref = ref, .name = names[ref][2],
                                   .p = p, .n = n,
                                   .jrun = ref ? PK_REF(jit_run) : jit_run,
                                   .jfree = ref ? PK_REF(jit_free) : jit_free};
    }

    /* Which variants work; those are timed together. */
    void (*fns[MAX_VARIANTS])(void *);
    void *ctxs[MAX_VARIANTS];
    size_t k = 0;
    pk_stats st[MAX_VARIANTS];
    for (size_t i = 0; i < nall; i++) {
        struct job *j = &all[i];
        j->status = 1;
        if (j->how == JIT)
            j->status = compile_job(j, j->ref ? PK_REF(jit_compile) : jit_compile);
        if (j->status > 0 && j->how != NATIVE)
            j->status = try_job(j, native);
        if (j->status <= 0)
            continue;
        fns[k] = run_job;
        ctxs[k++] = j;
    }
    size_t runs = pk_bench_quick() ? RUNS_QUICK : RUNS;
    if (pk_bench_many(fns, ctxs, k, 1, runs, st) != 0) {
        perror("bench: pk_bench_many");
        vm_free(p);
        return -1;
    }
    /* The rows, in the order above: the baseline (C) first, since it starts
     * the table; a variant that is not written yet gets its row there too. */
    double t_switch[2] = {0, 0}, t_jit[2] = {0, 0}, t_native = 0;
    for (size_t i = 0; i < nall; i++) {
        struct job *j = &all[i];
        if (j->status == 0)
            pk_report_todo(r, bench, j->name);
        if (j->status <= 0)
            continue;
        pk_stats cpu;
        const pk_stats *s = &cpu;
        if (times_stats(&j->times, runs, &cpu) != 0) {
            j->status = -1;
            snprintf(j->why, sizeof j->why, "out of memory for its times");
            continue;
        }
        if (j->rc != VM_OK || j->result != native(n)) {
            j->status = -1;
            snprintf(j->why, sizeof j->why, "gave code %d, %" PRId64
                     ", expected %" PRId64 ": its time is not shown", j->rc,
                     j->result, native(n));
            continue;
        }
        pk_report_add(r, bench, j->name, (size_t)n, s);
        if (j->how == SWITCH)
            t_switch[j->ref] = s->median;
        if (j->how == JIT)
            t_jit[j->ref] = s->median;
        if (j->how == NATIVE)
            t_native = s->median;
    }
    for (size_t i = 0; i < nall; i++)
        if (all[i].status < 0)
            pk_report_note(r, "%s: %s", all[i].name, all[i].why);
    for (int ref = 0; ref < 2; ref++) {
        const char *who = ref ? "reference" : "yours";
        if (insns_per_n > 0 && t_switch[ref] > 0)
            pk_report_note(r, "%s: the switch loop takes %.2f ns per bytecode "
                           "instruction (%d per item)", who,
                           t_switch[ref] * 1e9 / ((double)n * insns_per_n),
                           insns_per_n);
        if (t_switch[ref] > 0 && t_jit[ref] > 0 && t_native > 0)
            pk_report_note(r, "%s: the JIT runs %.1fx as fast as the switch "
                           "loop and takes %.2fx the C loop's time", who,
                           t_switch[ref] / t_jit[ref], t_jit[ref] / t_native);
    }
    pk_report_note(r, "times are CPU time of the calling thread, medians of "
                   "%zu interleaved rounds", runs);
    for (size_t i = 0; i < nall; i++) {
        if (all[i].how == JIT && all[i].f != NULL)
            all[i].jfree(all[i].f);
        free(all[i].times.t);
    }
    vm_free(p);
    return 0;
}

/* ---- what the JIT costs up front ------------------------------------------- */

struct compile_job {
    const vm_program *p;
    const char *src;
    jit_fn *(*compile)(const vm_program *, char *, size_t);
    void (*jfree)(jit_fn *);
    int failed;
    struct times times;
};

static void compile_once(void *ctx)
{
    struct compile_job *c = ctx;
    double t0 = cpu_s();
    jit_fn *f = c->compile(c->p, NULL, 0);
    if (f == NULL)
        c->failed = 1;
    c->jfree(f);
    times_add(&c->times, cpu_s() - t0);
}

static void assemble_once(void *ctx)
{
    struct compile_job *c = ctx;
    double t0 = cpu_s();
    vm_free(vm_assemble(c->src, NULL, 0));
    times_add(&c->times, cpu_s() - t0);
}

static void measure_compile(pk_report *r)
{
    const char *bench = "preparing the sum-of-squares program (one call)";
    vm_program *p = vm_assemble(vm_src_sum_squares, NULL, 0);
    if (p == NULL)
        return;
    struct compile_job a = {.src = vm_src_sum_squares};
    struct compile_job c[2] = {{.p = p, .compile = jit_compile, .jfree = jit_free},
                               {.p = p, .compile = PK_REF(jit_compile),
                                .jfree = PK_REF(jit_free)}};
    void (*fns[3])(void *) = {assemble_once};
    void *ctxs[3] = {&a};
    const char *names[3] = {"vm_assemble (parse + verify)"};
    size_t k = 1;
    errno = 0;
    jit_fn *f = jit_compile(p, NULL, 0);
    int yours_todo = f == NULL && errno == ENOSYS;
    if (f != NULL)
        jit_free(f);
    if (f != NULL) {
        fns[k] = compile_once;
        ctxs[k] = &c[0];
        names[k++] = "yours: jit_compile + jit_free";
    }
    if (PK_REF(jit_compile) != NULL) {
        fns[k] = compile_once;
        ctxs[k] = &c[1];
        names[k++] = "reference: jit_compile + jit_free";
    }
    size_t runs = pk_bench_quick() ? COMPILE_RUNS_QUICK : COMPILE_RUNS;
    pk_stats st[3];
    int ok = pk_bench_many(fns, ctxs, k, runs / 20, runs, st) == 0;
    for (size_t i = 0; ok && i < k; i++)
        ok = times_stats(&((struct compile_job *)ctxs[i])->times, runs, &st[i]) == 0;
    if (ok) {
        pk_report_add(r, bench, names[0], p->n, &st[0]);
        if (yours_todo)
            pk_report_todo(r, bench, "yours: jit_compile + jit_free");
        for (size_t i = 1; i < k; i++)
            pk_report_add(r, bench, names[i], p->n, &st[i]);
        for (size_t i = 1; i < k; i++)
            pk_report_note(r, "%s: median %.1f us of CPU time for %zu "
                           "instructions", names[i], st[i].median * 1e6, p->n);
    }
    free(a.times.t);
    free(c[0].times.t);
    free(c[1].times.t);
    vm_free(p);
}

int main(void)
{
    pk_report *r = pk_report_open("04-jit");
    if (r == NULL) {
        perror("bench: pk_report_open");
        return 1;
    }
    int quick = pk_bench_quick();
    if (PK_REF(vm_run) == NULL)
        printf("(no reference solution here: only your code is timed)\n");
    if (measure(r, "sum of squares below n", vm_src_sum_squares,
                cloop_sum_squares, quick ? SUMSQ_N_QUICK : SUMSQ_N,
                SUMSQ_INSNS) < 0 ||
        measure(r, "primes below n, trial division", vm_src_primes,
                cloop_count_primes, quick ? PRIMES_N_QUICK : PRIMES_N, 0) < 0) {
        pk_report_close(r);
        return 1;
    }
    measure_compile(r);
    pk_report_close(r);
    return 0;
}
