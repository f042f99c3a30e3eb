/* instrument.c - chapter 06 reference solution, exercise 1: the
 * instrumenting profiler, cProfile in C (instrument.h).
 *
 * Every function here is PK_NO_INSTRUMENT: the chapter is compiled with
 * -finstrument-functions, and a profiler that profiled itself would recurse
 * into its own hooks. */
#include "instrument.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addrhash.h"
#include "symbols.h"

PK_NO_INSTRUMENT static inline uint64_t now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC through the vDSO: about 20 ns, no system call. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One function's counters in one thread's table. The owning thread is the
 * only writer; prof_report() reads them from another thread, so they are
 * atomics used with relaxed loads and stores: plain moves on x86-64, no
 * lock prefix, and no data race for TSan to report. */
typedef struct prof_entry {
    _Atomic(const void *) fn;   /* NULL: free slot */
    _Atomic uint64_t ncalls, primcalls, tot_ns, cum_ns;
    unsigned active;            /* activations on this thread's stack */
    unsigned active_gen;        /* generation `active` belongs to */
} prof_entry;

typedef struct prof_frame {
    prof_entry *e;    /* NULL when the table was full */
    const void *fn;
    uint64_t t0;      /* entry time */
    uint64_t child;   /* time spent in callees so far */
} prof_frame;

/* A thread's state. Tables are never freed while the process runs: when a
 * thread exits, its table is released for the next new thread to adopt,
 * counts and all (the report sums every table, whoever owns it).
 *
 * prof_backtrace() reads the stack from a signal handler that may have
 * interrupted a hook of the same thread half-way. The protocol: a hook
 * writes a frame completely, then stores the depth that includes it ("store
 * the depth last"); the handler loads the depth first, then reads only the
 * frames below it. A handler on the same thread runs between two of the
 * thread's instructions, and a CPU sees its own stores in program order, so
 * only the compiler could break the protocol, by moving the depth store
 * above the frame stores: atomic_signal_fence() forbids exactly that, and
 * costs no instruction. (A reader on another thread would need a release
 * store and an acquire load instead.) What a handler reads while the thread
 * changes it must be a lock-free atomic (C11 7.14.1.1): depth and gen are,
 * used with relaxed loads and stores, which are plain moves. */
typedef struct prof_thread {
    struct prof_thread *next;      /* the list of all tables */
    atomic_bool in_use;
    _Atomic unsigned gen;          /* generation of the stack below */
    _Atomic size_t depth;          /* may exceed PROF_MAX_DEPTH */
    prof_frame stack[PROF_MAX_DEPTH];
    prof_entry table[PROF_MAX_FUNCS];
} prof_thread;

#define PROF_MASK (PROF_MAX_FUNCS - 1)
_Static_assert((PROF_MAX_FUNCS & PROF_MASK) == 0, "PROF_MAX_FUNCS: power of 2");

static atomic_bool prof_running;
static atomic_uint prof_gen = 1;      /* bumped by start and reset */
static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER; /* list, reset */
static prof_thread *prof_threads;     /* guarded by prof_lock */
static pthread_key_t prof_key;        /* destructor releases the table */
static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static _Thread_local _Atomic(prof_thread *) prof_self; /* read by handlers too */
static _Thread_local bool prof_busy;  /* inside the profiler: ignore hooks */

PK_NO_INSTRUMENT static void prof_release(void *p)
{
    prof_thread *t = p;

    atomic_store_explicit(&prof_self, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->in_use, false, memory_order_release);
}

PK_NO_INSTRUMENT static void prof_make_key(void)
{
    (void)pthread_key_create(&prof_key, prof_release);
}

/* First call on a thread: adopt a released table or make a new one. This is
 * the one slow path (a lock, perhaps calloc); prof_busy keeps hooks fired
 * from in here, if any, out. */
PK_NO_INSTRUMENT static prof_thread *prof_attach(void)
{
    prof_thread *t;

    prof_busy = true;
    pthread_once(&prof_once, prof_make_key);
    pthread_mutex_lock(&prof_lock);
    for (t = prof_threads; t != NULL; t = t->next) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&t->in_use, &expected, true))
            break;
    }
    if (t == NULL && (t = calloc(1, sizeof *t)) != NULL) {
        atomic_init(&t->in_use, true);
        t->next = prof_threads;
        prof_threads = t;
    }
    pthread_mutex_unlock(&prof_lock);
    if (t != NULL) {
        atomic_store_explicit(&t->depth, 0, memory_order_relaxed);
        atomic_store_explicit(&t->gen, 0, memory_order_relaxed); /* stale */
        pthread_setspecific(prof_key, t);
    }
    atomic_signal_fence(memory_order_release); /* the state, then the pointer */
    atomic_store_explicit(&prof_self, t, memory_order_relaxed);
    prof_busy = false;
    return t;
}

PK_NO_INSTRUMENT static prof_entry *prof_lookup(prof_thread *t, const void *fn)
{
    size_t i = addr_hash(fn, PROF_MASK);

    for (size_t probes = 0; probes < PROF_MAX_FUNCS; probes++) {
        prof_entry *e = &t->table[i];
        const void *k = atomic_load_explicit(&e->fn, memory_order_relaxed);
        if (k == fn)
            return e;
        if (k == NULL) {
            atomic_store_explicit(&e->fn, fn, memory_order_release);
            return e;
        }
        i = (i + 1) & PROF_MASK;
    }
    return NULL; /* table full: the call is not counted */
}

/* Relaxed "add" by the only writer: a load and a store, no locked add. */
#define OWNER_ADD(field, v) \
    atomic_store_explicit(&(field), \
        atomic_load_explicit(&(field), memory_order_relaxed) + (v), \
        memory_order_relaxed)

PK_NO_INSTRUMENT void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)call_site;
    if (!atomic_load_explicit(&prof_running, memory_order_relaxed) || prof_busy)
        return;
    prof_thread *t = atomic_load_explicit(&prof_self, memory_order_relaxed);
    if (t == NULL && (t = prof_attach()) == NULL)
        return;
    unsigned gen = atomic_load_explicit(&prof_gen, memory_order_relaxed);
    size_t depth = atomic_load_explicit(&t->depth, memory_order_relaxed);
    if (atomic_load_explicit(&t->gen, memory_order_relaxed) != gen) {
        /* A new start or a reset: forget the old stack. Empty it before
         * the generation says it is current, for prof_backtrace(). */
        depth = 0;
        atomic_store_explicit(&t->depth, 0, memory_order_relaxed);
        atomic_signal_fence(memory_order_release);
        atomic_store_explicit(&t->gen, gen, memory_order_relaxed);
    }
    if (depth < PROF_MAX_DEPTH) {
        prof_frame *f = &t->stack[depth];
        f->fn = fn;
        f->e = prof_lookup(t, fn);
        f->child = 0;
        if (f->e != NULL) {
            if (f->e->active_gen != gen) {
                f->e->active_gen = gen;
                f->e->active = 0;
            }
            f->e->active++;
        }
        f->t0 = now_ns(); /* last: the hook's own cost is not the callee's */
    }
    /* Publish the frame: the depth last (see prof_thread). */
    atomic_signal_fence(memory_order_release);
    atomic_store_explicit(&t->depth, depth + 1, memory_order_relaxed);
}

PK_NO_INSTRUMENT void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)call_site;
    if (!atomic_load_explicit(&prof_running, memory_order_relaxed) || prof_busy)
        return;
    uint64_t t1 = now_ns();
    prof_thread *t = atomic_load_explicit(&prof_self, memory_order_relaxed);
    if (t == NULL || atomic_load_explicit(&t->gen, memory_order_relaxed) !=
                     atomic_load_explicit(&prof_gen, memory_order_relaxed))
        return; /* entered before the start: not counted */
    size_t depth = atomic_load_explicit(&t->depth, memory_order_relaxed);
    if (depth == 0)
        return;
    /* Pop first: from here on a handler no longer sees this frame. */
    atomic_store_explicit(&t->depth, --depth, memory_order_relaxed);
    if (depth >= PROF_MAX_DEPTH)
        return; /* a call too deep to be followed */
    prof_frame *f = &t->stack[depth];
    if (f->fn != fn) { /* longjmp skipped exits: drop the stack */
        atomic_store_explicit(&t->depth, 0, memory_order_relaxed);
        return;
    }
    uint64_t elapsed = t1 - f->t0;
    prof_entry *e = f->e;
    if (e != NULL) {
        OWNER_ADD(e->ncalls, 1);
        OWNER_ADD(e->tot_ns, elapsed > f->child ? elapsed - f->child : 0);
        /* Recursion: only the outermost activation adds to cumtime, or a
         * depth-50 recursion would count its time 50 times. */
        if (--e->active == 0) {
            OWNER_ADD(e->cum_ns, elapsed);
            OWNER_ADD(e->primcalls, 1);
        }
    }
    if (depth > 0)
        t->stack[depth - 1].child += elapsed;
}

/* Async-signal-safe: only loads, of lock-free atomics and of frames the
 * depth published (see prof_thread). */
PK_NO_INSTRUMENT int prof_backtrace(const void **fns, size_t max)
{
    if (fns == NULL && max > 0) {
        errno = EINVAL;
        return -1;
    }
    prof_thread *t = atomic_load_explicit(&prof_self, memory_order_relaxed);
    if (t == NULL || !atomic_load_explicit(&prof_running, memory_order_relaxed) ||
        atomic_load_explicit(&t->gen, memory_order_relaxed) !=
            atomic_load_explicit(&prof_gen, memory_order_relaxed))
        return 0; /* nothing entered since the start on this thread */
    size_t depth = atomic_load_explicit(&t->depth, memory_order_relaxed);
    atomic_signal_fence(memory_order_acquire); /* the depth, then the frames */
    if (depth > PROF_MAX_DEPTH)
        depth = PROF_MAX_DEPTH;
    size_t n = 0;
    for (; n < max && n < depth; n++)
        fns[n] = t->stack[depth - 1 - n].fn;
    return (int)n;
}

PK_NO_INSTRUMENT int prof_start(void)
{
    bool expected = false;

    prof_busy = true;
    pthread_once(&prof_once, prof_make_key);
    prof_busy = false;
    atomic_fetch_add(&prof_gen, 1);
    if (!atomic_compare_exchange_strong(&prof_running, &expected, true)) {
        errno = EBUSY;
        return -1;
    }
    return 0;
}

PK_NO_INSTRUMENT int prof_stop(void)
{
    bool expected = true;

    if (!atomic_compare_exchange_strong(&prof_running, &expected, false)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

PK_NO_INSTRUMENT int prof_reset(void)
{
    if (atomic_load(&prof_running)) {
        errno = EBUSY;
        return -1;
    }
    pthread_mutex_lock(&prof_lock);
    for (prof_thread *t = prof_threads; t != NULL; t = t->next)
        for (size_t i = 0; i < PROF_MAX_FUNCS; i++) {
            prof_entry *e = &t->table[i];
            atomic_store_explicit(&e->ncalls, 0, memory_order_relaxed);
            atomic_store_explicit(&e->primcalls, 0, memory_order_relaxed);
            atomic_store_explicit(&e->tot_ns, 0, memory_order_relaxed);
            atomic_store_explicit(&e->cum_ns, 0, memory_order_relaxed);
        }
    atomic_fetch_add(&prof_gen, 1);
    pthread_mutex_unlock(&prof_lock);
    return 0;
}

static prof_sort sort_key; /* qsort has no context argument */

PK_NO_INSTRUMENT static double row_value(const prof_row *r, prof_sort k)
{
    switch (k) {
    case PROF_SORT_NCALLS: return (double)r->ncalls;
    case PROF_SORT_TOTTIME: return r->tottime;
    case PROF_SORT_CUMTIME: return r->cumtime;
    case PROF_SORT_PERCALL_TOT: return r->percall_tot;
    default: return r->percall_cum;
    }
}

PK_NO_INSTRUMENT static int cmp_rows(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    double vx = row_value(x, sort_key), vy = row_value(y, sort_key);

    if (vx != vy)
        return vx < vy ? 1 : -1;
    return (uintptr_t)x->fn < (uintptr_t)y->fn ? -1 :
           (uintptr_t)x->fn > (uintptr_t)y->fn;
}

/* All threads' tables merged into one array of rows, sorted. */
PK_NO_INSTRUMENT static prof_row *prof_collect(prof_sort key, size_t *count)
{
    size_t cap = 256, n = 0;
    prof_row *rows = malloc(cap * sizeof *rows);
    if (rows == NULL)
        return NULL;
    pthread_mutex_lock(&prof_lock);
    for (prof_thread *t = prof_threads; t != NULL; t = t->next)
        for (size_t i = 0; i < PROF_MAX_FUNCS; i++) {
            prof_entry *e = &t->table[i];
            const void *fn = atomic_load_explicit(&e->fn, memory_order_acquire);
            uint64_t nc = atomic_load_explicit(&e->ncalls, memory_order_relaxed);
            if (fn == NULL || nc == 0)
                continue;
            size_t j;
            for (j = 0; j < n && rows[j].fn != fn; j++)
                ;
            if (j == n) {
                if (n == cap) {
                    prof_row *bigger = realloc(rows, 2 * cap * sizeof *rows);
                    if (bigger == NULL) {
                        pthread_mutex_unlock(&prof_lock);
                        free(rows);
                        errno = ENOMEM;
                        return NULL;
                    }
                    rows = bigger;
                    cap *= 2;
                }
                rows[n++] = (prof_row){.fn = fn};
            }
            rows[j].ncalls += nc;
            rows[j].primcalls += atomic_load_explicit(&e->primcalls, memory_order_relaxed);
            rows[j].tottime += 1e-9 * (double)atomic_load_explicit(&e->tot_ns, memory_order_relaxed);
            rows[j].cumtime += 1e-9 * (double)atomic_load_explicit(&e->cum_ns, memory_order_relaxed);
        }
    pthread_mutex_unlock(&prof_lock);
    for (size_t j = 0; j < n; j++) {
        rows[j].percall_tot = rows[j].tottime / (double)rows[j].ncalls;
        rows[j].percall_cum = rows[j].primcalls ? rows[j].cumtime / (double)rows[j].primcalls : 0;
    }
    sort_key = key;
    qsort(rows, n, sizeof *rows, cmp_rows);
    *count = n;
    return rows;
}

PK_NO_INSTRUMENT int prof_report(prof_sort key, prof_row *rows,
                                 size_t max, size_t *nrows)
{
    if ((unsigned)key >= PROF_SORT_COUNT || nrows == NULL ||
        (rows == NULL && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    size_t n;
    prof_row *all = prof_collect(key, &n);
    if (all == NULL)
        return -1;
    *nrows = n < max ? n : max;
    if (*nrows > 0)
        memcpy(rows, all, *nrows * sizeof *rows);
    free(all);
    return 0;
}

PK_NO_INSTRUMENT int prof_print(FILE *out, prof_sort key, size_t top)
{
    static const char *const names[] = {"calls", "tottime", "cumulative",
                                        "tottime/call", "cumtime/call"};
    if (out == NULL || (unsigned)key >= PROF_SORT_COUNT) {
        errno = EINVAL;
        return -1;
    }
    size_t n;
    prof_row *all = prof_collect(key, &n);
    if (all == NULL)
        return -1;
    if (n > top)
        n = top;
    const void **addrs = malloc((n ? n : 1) * sizeof *addrs);
    sym_info *syms = malloc((n ? n : 1) * sizeof *syms);
    if (addrs == NULL || syms == NULL) {
        free(addrs);
        free(syms);
        free(all);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = all[i].fn;
    if (sym_resolve(addrs, n, syms) != 0)
        n = 0;
    fprintf(out, "   Ordered by: %s\n\n", names[key]);
    fprintf(out, "%12s %9s %9s %9s %9s %s\n", "ncalls", "tottime", "percall",
            "cumtime", "percall", "filename:lineno(function)");
    for (size_t i = 0; i < n; i++) {
        char calls[48];
        if (all[i].primcalls != all[i].ncalls)
            snprintf(calls, sizeof calls, "%llu/%llu",
                     (unsigned long long)all[i].ncalls,
                     (unsigned long long)all[i].primcalls);
        else
            snprintf(calls, sizeof calls, "%llu", (unsigned long long)all[i].ncalls);
        fprintf(out, "%12s %9.6f %9.6f %9.6f %9.6f %s:%d(%s)\n", calls,
                all[i].tottime, all[i].percall_tot, all[i].cumtime,
                all[i].percall_cum, sym_basename(syms[i].file), syms[i].line,
                syms[i].func);
    }
    free(addrs);
    free(syms);
    free(all);
    return 0;
}
