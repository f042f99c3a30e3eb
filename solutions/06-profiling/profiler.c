/* profiler.c - chapter 06 reference solution: an instrumenting profiler, a
 * sampling profiler, an allocation tracker and a flame graph (profiler.h).
 *
 * Every function here is PK_NO_INSTRUMENT: the chapter is compiled with
 * -finstrument-functions, and a profiler that profiled itself would recurse
 * into its own hooks. */
#include "profiler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#define NOINSTR PK_NO_INSTRUMENT

PK_NO_INSTRUMENT static inline uint64_t now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC through the vDSO: about 20 ns, no system call. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Address hash for the open-addressing tables: code addresses are aligned,
 * so the low bits carry little; Fibonacci hashing spreads the rest. */
NOINSTR static inline size_t hash_addr(const void *p, size_t mask)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 32) & mask;
}

/* ======================================================================== */
/* Exercise 1: the instrumenting profiler                                   */
/* ======================================================================== */

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
 * counts and all (the report sums every table, whoever owns it). */
typedef struct prof_thread {
    struct prof_thread *next;      /* the list of all tables */
    atomic_bool in_use;
    unsigned gen;                  /* generation of the stack below */
    size_t depth;                  /* may exceed PROF_MAX_DEPTH */
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
static _Thread_local prof_thread *prof_self;
static _Thread_local bool prof_busy;  /* inside the profiler: ignore hooks */

NOINSTR static void prof_release(void *p)
{
    prof_thread *t = p;

    prof_self = NULL;
    atomic_store_explicit(&t->in_use, false, memory_order_release);
}

NOINSTR static void prof_make_key(void)
{
    (void)pthread_key_create(&prof_key, prof_release);
}

/* First call on a thread: adopt a released table or make a new one. This is
 * the one slow path (a lock, perhaps calloc); prof_busy keeps hooks fired
 * from in here, if any, out. */
NOINSTR static prof_thread *prof_attach(void)
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
        t->depth = 0;
        t->gen = 0;
        pthread_setspecific(prof_key, t);
    }
    prof_self = t;
    prof_busy = false;
    return t;
}

NOINSTR static prof_entry *prof_lookup(prof_thread *t, const void *fn)
{
    size_t i = hash_addr(fn, PROF_MASK);

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

NOINSTR void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)call_site;
    if (!atomic_load_explicit(&prof_running, memory_order_relaxed) || prof_busy)
        return;
    prof_thread *t = prof_self ? prof_self : prof_attach();
    if (t == NULL)
        return;
    unsigned gen = atomic_load_explicit(&prof_gen, memory_order_relaxed);
    if (t->gen != gen) { /* a new start or a reset: forget the old stack */
        t->gen = gen;
        t->depth = 0;
    }
    if (t->depth < PROF_MAX_DEPTH) {
        prof_frame *f = &t->stack[t->depth];
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
    t->depth++;
}

NOINSTR void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)call_site;
    if (!atomic_load_explicit(&prof_running, memory_order_relaxed) || prof_busy)
        return;
    uint64_t t1 = now_ns();
    prof_thread *t = prof_self;
    if (t == NULL || t->depth == 0 ||
        t->gen != atomic_load_explicit(&prof_gen, memory_order_relaxed))
        return; /* entered before the start: not counted */
    t->depth--;
    if (t->depth >= PROF_MAX_DEPTH)
        return;
    prof_frame *f = &t->stack[t->depth];
    if (f->fn != fn) { /* longjmp skipped exits: drop the stack */
        t->depth = 0;
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
    if (t->depth > 0 && t->depth <= PROF_MAX_DEPTH)
        t->stack[t->depth - 1].child += elapsed;
}

NOINSTR int prof_start(void)
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

NOINSTR int prof_stop(void)
{
    bool expected = true;

    if (!atomic_compare_exchange_strong(&prof_running, &expected, false)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

NOINSTR int prof_reset(void)
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

NOINSTR static double row_value(const prof_row *r, prof_sort k)
{
    switch (k) {
    case PROF_SORT_NCALLS: return (double)r->ncalls;
    case PROF_SORT_TOTTIME: return r->tottime;
    case PROF_SORT_CUMTIME: return r->cumtime;
    case PROF_SORT_PERCALL_TOT: return r->percall_tot;
    default: return r->percall_cum;
    }
}

NOINSTR static int cmp_rows(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    double vx = row_value(x, sort_key), vy = row_value(y, sort_key);

    if (vx != vy)
        return vx < vy ? 1 : -1;
    return (uintptr_t)x->fn < (uintptr_t)y->fn ? -1 :
           (uintptr_t)x->fn > (uintptr_t)y->fn;
}

/* All threads' tables merged into one array of rows, sorted. */
NOINSTR static prof_row *prof_collect(prof_sort key, size_t *count)
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

NOINSTR int prof_report(prof_sort key, prof_row *rows, size_t max, size_t *nrows)
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

NOINSTR int prof_print(FILE *out, prof_sort key, size_t top)
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

/* ======================================================================== */
/* Exercise 2: the sampling profiler                                        */
/* ======================================================================== */

/* The buffer: SAMP_MAX_SAMPLES slots of 1 + SAMP_MAX_DEPTH words; word 0 is
 * the number of frames, written last, so a reader that sees it non-zero
 * sees the frames. Allocated by samp_start(), before the timer runs: the
 * handler never allocates. */
#define SLOT_WORDS (1 + SAMP_MAX_DEPTH)

static _Atomic uintptr_t *samp_buf;
static atomic_size_t samp_next;       /* slots claimed */
static atomic_size_t samp_dropped;    /* samples that found no slot */
static atomic_bool samp_running;
static uintptr_t samp_stack_lo, samp_stack_hi; /* the sampled thread's stack */
static struct sigaction samp_old_action;

/* Where the signal interrupted the program. x86-64 and AArch64. */
NOINSTR static void context_regs(const ucontext_t *uc, uintptr_t *pc,
                                 uintptr_t *fp, uintptr_t *sp)
{
#if defined(__x86_64__)
    *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    *pc = (uintptr_t)uc->uc_mcontext.pc;
    *fp = (uintptr_t)uc->uc_mcontext.regs[29];
    *sp = (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    *pc = *fp = *sp = 0;
#endif
}

/* The SIGPROF handler. Async-signal-safe: no locks, no allocation, no
 * stdio; a lock-free fetch_add claims a slot in the preallocated buffer,
 * stores fill it. The stack is walked through the frame-pointer chain
 * (-fno-omit-frame-pointer): each frame holds the caller's frame pointer
 * and the return address. A frame pointer is followed only while it stays
 * inside the stack recorded by samp_start(), rises, and is aligned, so a
 * register that holds something else (code built without frame pointers)
 * ends the walk instead of crashing it. The reads touch only frame words,
 * which sanitizers would see as reads of other functions' frames. */
__attribute__((no_sanitize("address", "thread")))
NOINSTR static void samp_handler(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    (void)sig, (void)si;

    if (!atomic_load_explicit(&samp_running, memory_order_relaxed) ||
        samp_buf == NULL)
        goto out;
    size_t i = atomic_fetch_add_explicit(&samp_next, 1, memory_order_relaxed);
    if (i >= SAMP_MAX_SAMPLES) {
        atomic_fetch_add_explicit(&samp_dropped, 1, memory_order_relaxed);
        goto out;
    }
    _Atomic uintptr_t *slot = samp_buf + i * SLOT_WORDS;
    uintptr_t pc, fp, sp;
    size_t n = 0;
    context_regs(ucv, &pc, &fp, &sp);
    atomic_store_explicit(&slot[1 + n++], pc, memory_order_relaxed);
    if (sp >= samp_stack_lo && sp < samp_stack_hi) {
        while (n < SAMP_MAX_DEPTH && fp >= sp && fp % sizeof(void *) == 0 &&
               fp + 2 * sizeof(void *) <= samp_stack_hi) {
            const uintptr_t *frame = (const uintptr_t *)fp;
            uintptr_t next = frame[0], ret = frame[1];
            if (ret == 0)
                break;
            atomic_store_explicit(&slot[1 + n++], ret, memory_order_relaxed);
            if (next <= fp)
                break;
            fp = next;
        }
    }
    atomic_store_explicit(&slot[0], n, memory_order_release);
out:
    errno = saved_errno;
}

NOINSTR int samp_start(unsigned hz)
{
    if (hz == 0 || hz > SAMP_MAX_HZ) {
        errno = EINVAL;
        return -1;
    }
    if (atomic_load(&samp_running)) {
        errno = EBUSY;
        return -1;
    }
    if (samp_buf == NULL) {
        samp_buf = calloc((size_t)SAMP_MAX_SAMPLES * SLOT_WORDS, sizeof *samp_buf);
        if (samp_buf == NULL) {
            errno = ENOMEM;
            return -1;
        }
    } else {
        memset((void *)samp_buf, 0, (size_t)SAMP_MAX_SAMPLES * SLOT_WORDS * sizeof *samp_buf);
    }
    atomic_store(&samp_next, 0);
    atomic_store(&samp_dropped, 0);

    /* The stack the handler may walk: this thread's, from its attributes. */
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    samp_stack_lo = samp_stack_hi = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            samp_stack_lo = (uintptr_t)lo;
            samp_stack_hi = (uintptr_t)lo + size;
        }
        pthread_attr_destroy(&attr);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = samp_handler;
    /* SA_RESTART: a sample must not make read() or nanosleep() of the
     * program fail with EINTR. */
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, &samp_old_action) != 0)
        return -1;
    atomic_store(&samp_running, true);

    struct itimerval it;
    it.it_interval.tv_sec = 0;
    it.it_interval.tv_usec = (suseconds_t)(1000000 / hz);
    if (hz == 1) {
        it.it_interval.tv_sec = 1;
        it.it_interval.tv_usec = 0;
    }
    it.it_value = it.it_interval;
    if (setitimer(ITIMER_PROF, &it, NULL) != 0) {
        int e = errno;
        atomic_store(&samp_running, false);
        sigaction(SIGPROF, &samp_old_action, NULL);
        errno = e;
        return -1;
    }
    return 0;
}

NOINSTR int samp_stop(void)
{
    bool expected = true;

    if (!atomic_compare_exchange_strong(&samp_running, &expected, false)) {
        errno = EINVAL;
        return -1;
    }
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_PROF, &off, NULL);
    /* A SIGPROF may still be pending. Its default action kills the
     * process, so put back the old handler only if it was one; otherwise
     * ignore the signal (which also discards a pending one). */
    struct sigaction ign;
    if (samp_old_action.sa_handler == SIG_DFL) {
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPROF, &ign, NULL);
    } else {
        sigaction(SIGPROF, &samp_old_action, NULL);
    }
    return 0;
}

NOINSTR size_t samp_count(void)
{
    size_t n = atomic_load(&samp_next);
    return n < SAMP_MAX_SAMPLES ? n : SAMP_MAX_SAMPLES;
}

NOINSTR size_t samp_lost(void)
{
    return atomic_load(&samp_dropped);
}

NOINSTR void samp_free(void)
{
    if (atomic_load(&samp_running))
        samp_stop();
    free((void *)samp_buf);
    samp_buf = NULL;
    atomic_store(&samp_next, 0);
}

/* A distinct address and what it resolved to. */
typedef struct addr_sym {
    uintptr_t addr;
    sym_info sym;
} addr_sym;

NOINSTR static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

NOINSTR static int cmp_addr_sym(const void *a, const void *b)
{
    return cmp_uptr(&((const addr_sym *)a)->addr, &((const addr_sym *)b)->addr);
}

/* The address to resolve for frame k: the leaf's pc itself, a return
 * address minus one (the call instruction, not the line after it). */
NOINSTR static uintptr_t frame_addr(const _Atomic uintptr_t *slot, size_t k)
{
    uintptr_t a = atomic_load_explicit(&slot[1 + k], memory_order_relaxed);
    return k == 0 ? a : a - 1;
}

/* Resolve every distinct address in the recorded samples (leaves only or
 * whole stacks): sorted, so later lookups are a bsearch. */
NOINSTR static addr_sym *samp_symbols(bool whole_stacks, size_t *count)
{
    size_t total = samp_count(), n = 0;
    uintptr_t *all = malloc((total ? total : 1) * SAMP_MAX_DEPTH * sizeof *all);
    if (all == NULL)
        return NULL;
    for (size_t i = 0; i < total; i++) {
        const _Atomic uintptr_t *slot = samp_buf + i * SLOT_WORDS;
        size_t depth = atomic_load_explicit(&slot[0], memory_order_acquire);
        for (size_t k = 0; k < (whole_stacks ? depth : (depth > 0)); k++)
            all[n++] = frame_addr(slot, k);
    }
    qsort(all, n, sizeof *all, cmp_uptr);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || all[u - 1] != all[i])
            all[u++] = all[i];
    addr_sym *syms = malloc((u ? u : 1) * sizeof *syms);
    const void **addrs = malloc((u ? u : 1) * sizeof *addrs);
    sym_info *info = malloc((u ? u : 1) * sizeof *info);
    if (syms == NULL || addrs == NULL || info == NULL) {
        free(syms), free(addrs), free(info), free(all);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < u; i++)
        addrs[i] = (const void *)all[i];
    if (sym_resolve(addrs, u, info) != 0) {
        free(syms), free(addrs), free(info), free(all);
        return NULL;
    }
    for (size_t i = 0; i < u; i++)
        syms[i] = (addr_sym){all[i], info[i]};
    free(addrs), free(info), free(all);
    *count = u;
    return syms;
}

NOINSTR static const sym_info *find_sym(const addr_sym *syms, size_t n, uintptr_t a)
{
    addr_sym key = {.addr = a};
    const addr_sym *hit = bsearch(&key, syms, n, sizeof *syms, cmp_addr_sym);
    return hit ? &hit->sym : NULL;
}

NOINSTR static int cmp_samp_rows(const void *a, const void *b)
{
    const samp_row *x = a, *y = b;
    if (x->samples != y->samples)
        return x->samples < y->samples ? 1 : -1;
    int c = strcmp(x->func, y->func);
    return c ? c : x->line - y->line;
}

/* Self samples grouped by function (by_line false) or by file:line. */
NOINSTR static int samp_flat(bool by_line, samp_row *rows, size_t max, size_t *nrows)
{
    if (nrows == NULL || (rows == NULL && max > 0) || atomic_load(&samp_running)) {
        errno = EINVAL;
        return -1;
    }
    *nrows = 0;
    size_t total = samp_count(), nsyms = 0;
    if (total == 0 || samp_buf == NULL)
        return 0;
    addr_sym *syms = samp_symbols(false, &nsyms);
    samp_row *acc = calloc(nsyms ? nsyms : 1, sizeof *acc);
    if (syms == NULL || acc == NULL) {
        free(syms), free(acc);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0, counted = 0;
    for (size_t i = 0; i < total; i++) {
        const _Atomic uintptr_t *slot = samp_buf + i * SLOT_WORDS;
        if (atomic_load_explicit(&slot[0], memory_order_acquire) == 0)
            continue;
        const sym_info *s = find_sym(syms, nsyms, frame_addr(slot, 0));
        if (s == NULL)
            continue;
        int line = by_line ? s->line : 0;
        size_t j;
        for (j = 0; j < n; j++)
            if (acc[j].line == line && strcmp(acc[j].func, s->func) == 0 &&
                (!by_line || strcmp(acc[j].file, s->file) == 0))
                break;
        if (j == n) {
            snprintf(acc[n].func, sizeof acc[n].func, "%s", s->func);
            snprintf(acc[n].file, sizeof acc[n].file, "%s", s->file);
            acc[n].line = line;
            n++;
        }
        acc[j].samples++;
        counted++;
    }
    for (size_t j = 0; j < n; j++)
        acc[j].percent = 100.0 * (double)acc[j].samples / (double)counted;
    qsort(acc, n, sizeof *acc, cmp_samp_rows);
    *nrows = n < max ? n : max;
    if (*nrows > 0)
        memcpy(rows, acc, *nrows * sizeof *rows);
    free(syms);
    free(acc);
    return 0;
}

NOINSTR int samp_by_function(samp_row *rows, size_t max, size_t *nrows)
{
    return samp_flat(false, rows, max, nrows);
}

NOINSTR int samp_by_line(samp_row *rows, size_t max, size_t *nrows)
{
    return samp_flat(true, rows, max, nrows);
}

NOINSTR static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

NOINSTR int samp_write_folded(FILE *out)
{
    if (out == NULL || atomic_load(&samp_running)) {
        errno = EINVAL;
        return -1;
    }
    size_t total = samp_count(), nsyms = 0;
    if (total == 0 || samp_buf == NULL)
        return 0;
    addr_sym *syms = samp_symbols(true, &nsyms);
    char **lines = calloc(total, sizeof *lines);
    if (syms == NULL || lines == NULL) {
        free(syms), free(lines);
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    size_t n = 0;
    for (size_t i = 0; i < total && rc == 0; i++) {
        const _Atomic uintptr_t *slot = samp_buf + i * SLOT_WORDS;
        size_t depth = atomic_load_explicit(&slot[0], memory_order_acquire);
        if (depth == 0)
            continue;
        size_t len = 0, cap = depth * (SYM_NAME_MAX + 1) + 1;
        char *s = malloc(cap);
        if (s == NULL) {
            rc = -1;
            break;
        }
        /* Outermost frame first: the stack was recorded leaf first. */
        for (size_t k = depth; k-- > 0;) {
            const sym_info *si = find_sym(syms, nsyms, frame_addr(slot, k));
            const char *name = si ? si->func : "??";
            len += (size_t)snprintf(s + len, cap - len, "%s%s",
                                    k + 1 == depth ? "" : ";", name);
        }
        /* A ' ' inside a name would break the "stack count" format. */
        for (char *c = s; *c; c++)
            if (*c == ' ')
                *c = '_';
        lines[n++] = s;
    }
    if (rc == 0) {
        qsort(lines, n, sizeof *lines, cmp_str);
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && strcmp(lines[j], lines[i]) == 0)
                j++;
            if (fprintf(out, "%s %zu\n", lines[i], j - i) < 0) {
                rc = -1;
                errno = EIO;
                break;
            }
            i = j;
        }
    } else {
        errno = ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(syms);
    return rc;
}

/* ======================================================================== */
/* Exercise 3: the allocation tracker                                       */
/* ======================================================================== */

/* Every block carries this header in front of what the caller sees. Its
 * size keeps the caller's pointer aligned like malloc's (16 bytes). */
typedef struct at_header {
    size_t size;
    uint32_t site;   /* index in at_sites, or AT_UNTRACKED */
    uint32_t gen;    /* the at_start() it was counted under */
} at_header;
_Static_assert(sizeof(at_header) % _Alignof(max_align_t) == 0,
               "the header must keep malloc's alignment");

#define AT_UNTRACKED UINT32_MAX

typedef struct at_site_count {
    const void *site;
    size_t blocks, bytes;
} at_site_count;

static pthread_mutex_t at_lock = PTHREAD_MUTEX_INITIALIZER; /* all below */
static bool at_running;
static uint32_t at_gen;
static at_stats at_totals;
static at_site_count at_sites[AT_MAX_SITES];

/* Count a new block; returns its site index. Caller holds at_lock. */
NOINSTR static uint32_t at_count_alloc(const void *site, size_t size)
{
    size_t i = hash_addr(site, AT_MAX_SITES - 1);
    for (size_t probes = 0; probes < AT_MAX_SITES; probes++) {
        if (at_sites[i].site == NULL)
            at_sites[i].site = site;
        if (at_sites[i].site == site) {
            at_sites[i].blocks++;
            at_sites[i].bytes += size;
            at_totals.allocs++;
            at_totals.current_blocks++;
            at_totals.current_bytes += size;
            if (at_totals.current_bytes > at_totals.peak_bytes)
                at_totals.peak_bytes = at_totals.current_bytes;
            return (uint32_t)i;
        }
        i = (i + 1) & (AT_MAX_SITES - 1);
    }
    return AT_UNTRACKED;
}

/* Count a free of a block, if it was counted under this at_start(). */
NOINSTR static void at_count_free(const at_header *h)
{
    if (h->site == AT_UNTRACKED || h->gen != at_gen || !at_running)
        return;
    at_sites[h->site].blocks--;
    at_sites[h->site].bytes -= h->size;
    at_totals.frees++;
    at_totals.current_blocks--;
    at_totals.current_bytes -= h->size;
}

NOINSTR static void *at_alloc_at(const void *site, size_t size, bool zero)
{
    if (size > SIZE_MAX - sizeof(at_header)) {
        errno = ENOMEM;
        return NULL;
    }
    at_header *h = zero ? calloc(1, sizeof *h + size) : malloc(sizeof *h + size);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    h->size = size;
    h->site = AT_UNTRACKED;
    pthread_mutex_lock(&at_lock);
    if (at_running) {
        h->gen = at_gen;
        h->site = at_count_alloc(site, size);
    }
    pthread_mutex_unlock(&at_lock);
    return h + 1;
}

/* noinline: __builtin_return_address(0) must be the caller's call site. */
__attribute__((noinline)) NOINSTR void *at_malloc(size_t size)
{
    return at_alloc_at(__builtin_return_address(0), size, false);
}

__attribute__((noinline)) NOINSTR void *at_calloc(size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return at_alloc_at(__builtin_return_address(0), nmemb * size, true);
}

__attribute__((noinline)) NOINSTR void *at_realloc(void *ptr, size_t size)
{
    const void *site = __builtin_return_address(0);

    if (ptr == NULL)
        return at_alloc_at(site, size, false);
    if (size == 0) {
        at_free(ptr);
        return NULL;
    }
    if (size > SIZE_MAX - sizeof(at_header)) {
        errno = ENOMEM;
        return NULL;
    }
    at_header *old = (at_header *)ptr - 1;
    at_header saved = *old;
    at_header *h = realloc(old, sizeof *h + size);
    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&at_lock);
    at_count_free(&saved);
    h->size = size;
    h->site = AT_UNTRACKED;
    if (at_running) {
        h->gen = at_gen;
        h->site = at_count_alloc(site, size);
    }
    pthread_mutex_unlock(&at_lock);
    return h + 1;
}

NOINSTR void at_free(void *ptr)
{
    if (ptr == NULL)
        return;
    at_header *h = (at_header *)ptr - 1;
    pthread_mutex_lock(&at_lock);
    at_count_free(h);
    pthread_mutex_unlock(&at_lock);
    free(h);
}

NOINSTR int at_start(void)
{
    pthread_mutex_lock(&at_lock);
    if (at_running) {
        pthread_mutex_unlock(&at_lock);
        errno = EBUSY;
        return -1;
    }
    at_running = true;
    at_gen++;
    memset(&at_totals, 0, sizeof at_totals);
    memset(at_sites, 0, sizeof at_sites);
    pthread_mutex_unlock(&at_lock);
    return 0;
}

NOINSTR int at_stop(void)
{
    pthread_mutex_lock(&at_lock);
    bool was = at_running;
    at_running = false;
    pthread_mutex_unlock(&at_lock);
    if (!was) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

NOINSTR int at_get_stats(at_stats *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&at_lock);
    *out = at_totals;
    pthread_mutex_unlock(&at_lock);
    return 0;
}

NOINSTR static int cmp_sites(const void *a, const void *b)
{
    const at_site *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return (uintptr_t)x->site < (uintptr_t)y->site ? -1 : 1;
}

NOINSTR int at_leaks(at_site *rows, size_t max, size_t *nrows)
{
    if (nrows == NULL || (rows == NULL && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    at_site *all = calloc(AT_MAX_SITES, sizeof *all);
    const void **addrs = calloc(AT_MAX_SITES, sizeof *addrs);
    sym_info *syms = calloc(AT_MAX_SITES, sizeof *syms);
    if (all == NULL || addrs == NULL || syms == NULL) {
        free(all), free(addrs), free(syms);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    pthread_mutex_lock(&at_lock);
    for (size_t i = 0; i < AT_MAX_SITES; i++)
        if (at_sites[i].site != NULL && at_sites[i].blocks > 0)
            all[n++] = (at_site){.site = at_sites[i].site,
                                 .blocks = at_sites[i].blocks,
                                 .bytes = at_sites[i].bytes};
    pthread_mutex_unlock(&at_lock);
    qsort(all, n, sizeof *all, cmp_sites);
    *nrows = n < max ? n : max;
    /* Resolve the call instruction: the return address minus one. */
    for (size_t i = 0; i < *nrows; i++)
        addrs[i] = (const char *)all[i].site - 1;
    if (sym_resolve(addrs, *nrows, syms) == 0)
        for (size_t i = 0; i < *nrows; i++) {
            snprintf(all[i].func, sizeof all[i].func, "%s", syms[i].func);
            snprintf(all[i].file, sizeof all[i].file, "%s", syms[i].file);
            all[i].line = syms[i].line;
        }
    if (*nrows > 0)
        memcpy(rows, all, *nrows * sizeof *rows);
    free(all), free(addrs), free(syms);
    return 0;
}

NOINSTR int at_print(FILE *out)
{
    enum { TOP = 20 };
    at_stats st;
    at_site rows[TOP];
    size_t n;

    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (at_get_stats(&st) != 0 || at_leaks(rows, TOP, &n) != 0)
        return -1;
    fprintf(out, "allocations %llu, frees %llu, current %zu bytes in %zu "
            "blocks, peak %zu bytes\n", (unsigned long long)st.allocs,
            (unsigned long long)st.frees, st.current_bytes, st.current_blocks,
            st.peak_bytes);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %10zu bytes in %6zu blocks  %s:%d (%s)\n", rows[i].bytes,
                rows[i].blocks, sym_basename(rows[i].file), rows[i].line,
                rows[i].func);
    return 0;
}

/* ======================================================================== */
/* Exercise 4: the flame graph                                              */
/* ======================================================================== */

/* The folded stacks become a tree: a node per (path, name), its count the
 * samples of every stack through it. Children are kept sorted by name. */
typedef struct flame_node {
    char *name;
    uint64_t count;
    struct flame_node *child, *next;
} flame_node;

NOINSTR static void flame_free(flame_node *n)
{
    while (n != NULL) {
        flame_node *next = n->next;
        flame_free(n->child);
        free(n->name);
        free(n);
        n = next;
    }
}

/* The child called name[0..len) of parent, made if missing. */
NOINSTR static flame_node *flame_child(flame_node *parent, const char *name, size_t len)
{
    flame_node **link = &parent->child;
    while (*link != NULL) {
        int c = strncmp((*link)->name, name, len);
        if (c == 0 && (*link)->name[len] == '\0')
            return *link;
        if (c > 0 || (c == 0 && (*link)->name[len] != '\0'))
            break;
        link = &(*link)->next;
    }
    flame_node *n = calloc(1, sizeof *n);
    if (n == NULL || (n->name = strndup(name, len)) == NULL) {
        free(n);
        return NULL;
    }
    n->next = *link;
    *link = n;
    return n;
}

/* Add one line "a;b;c count". 0, or -1 with errno. */
NOINSTR static int flame_add(flame_node *root, char *line)
{
    size_t len = strcspn(line, "\r\n");
    line[len] = '\0';
    if (len == 0)
        return 0;
    char *space = strrchr(line, ' ');
    char *end;
    if (space == NULL || space == line)
        goto bad;
    errno = 0;
    unsigned long long count = strtoull(space + 1, &end, 10);
    if (errno != 0 || end == space + 1 || *end != '\0' || count == 0 ||
        space[1] == '-')
        goto bad;
    *space = '\0';
    root->count += count;
    flame_node *node = root;
    for (char *p = line; node != NULL;) {
        size_t n = strcspn(p, ";");
        node = flame_child(node, p, n);
        if (node == NULL) {
            errno = ENOMEM;
            return -1;
        }
        node->count += count;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

NOINSTR static int flame_depth(const flame_node *n)
{
    int d = 0;
    for (const flame_node *c = n->child; c != NULL; c = c->next) {
        int cd = flame_depth(c);
        d = cd > d ? cd : d;
    }
    return d + 1;
}

NOINSTR static void xml_escaped(FILE *out, const char *s, size_t max)
{
    for (size_t i = 0; s[i] != '\0' && i < max; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            fputc((unsigned char)s[i] < 0x20 ? '?' : s[i], out);
        }
    }
}

#define FLAME_MARGIN 10        /* pixels around the drawing */
#define FLAME_TITLE_H 30       /* pixels for the heading */
#define FLAME_CHAR_W 7.0       /* approximate width of a 12 px character */
#define FLAME_MIN_W 0.1        /* frames narrower than this are not drawn */

typedef struct flame_ctx {
    FILE *out;
    double scale;     /* pixels per sample */
    uint64_t total;
    int depth;        /* levels, for the y of level 0 */
} flame_ctx;

/* Draw the node's children from x, one level up, and recurse. */
NOINSTR static void flame_draw(const flame_ctx *c, const flame_node *n, double x, int level)
{
    for (const flame_node *k = n->child; k != NULL; k = k->next) {
        double w = (double)k->count * c->scale;
        if (w >= FLAME_MIN_W) {
            double y = FLAME_TITLE_H + (double)(c->depth - 1 - level) * FLAME_FRAME_HEIGHT;
            /* A warm colour from a hash of the name: the same function has
             * the same colour everywhere in the graph. */
            unsigned h = 2166136261u;
            for (const char *p = k->name; *p; p++)
                h = (h ^ (unsigned char)*p) * 16777619u;
            fprintf(c->out, "<g><title>");
            xml_escaped(c->out, k->name, SIZE_MAX);
            fprintf(c->out, " (%llu samples, %.2f%%)</title>",
                    (unsigned long long)k->count,
                    100.0 * (double)k->count / (double)c->total);
            fprintf(c->out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
                    "fill=\"rgb(%u,%u,%u)\" rx=\"2\"/>", FLAME_MARGIN + x, y, w,
                    FLAME_FRAME_HEIGHT - 1, 205 + h % 50, 80 + (h >> 8) % 130,
                    40 + (h >> 16) % 50);
            size_t fit = (size_t)((w - 6) / FLAME_CHAR_W);
            if (fit >= 3) {
                fprintf(c->out, "<text x=\"%.2f\" y=\"%.1f\">", FLAME_MARGIN + x + 3,
                        y + FLAME_FRAME_HEIGHT - 4);
                size_t len = strlen(k->name);
                xml_escaped(c->out, k->name, len <= fit ? len : fit - 2);
                if (len > fit)
                    fputs("..", c->out);
                fputs("</text>", c->out);
            }
            fputs("</g>\n", c->out);
            flame_draw(c, k, x, level + 1);
        }
        x += w;
    }
}

NOINSTR int flame_svg(FILE *folded, FILE *svg, const char *title)
{
    if (folded == NULL || svg == NULL) {
        errno = EINVAL;
        return -1;
    }
    flame_node root = {.name = NULL};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (getline(&line, &cap, folded) >= 0)
        if (flame_add(&root, line) != 0) {
            rc = -1;
            break;
        }
    free(line);
    if (rc != 0) {
        int e = errno;
        flame_free(root.child);
        errno = e;
        return -1;
    }

    int depth = root.child ? flame_depth(&root) - 1 : 0;
    int height = FLAME_TITLE_H + depth * FLAME_FRAME_HEIGHT + 2 * FLAME_MARGIN;
    int width = FLAME_WIDTH + 2 * FLAME_MARGIN;
    fprintf(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"monospace\" font-size=\"12\">\n", width, height,
            width, height);
    fprintf(svg, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fdfdf5\"/>\n",
            width, height);
    fprintf(svg, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"16\">",
            width / 2);
    xml_escaped(svg, title ? title : "Flame graph", SIZE_MAX);
    if (root.count == 0)
        fputs(" (no samples)", svg);
    fputs("</text>\n", svg);
    if (root.count > 0) {
        flame_ctx c = {svg, (double)FLAME_WIDTH / (double)root.count, root.count, depth};
        flame_draw(&c, &root, 0, 0);
    }
    fputs("</svg>\n", svg);
    flame_free(root.child);
    if (fflush(svg) != 0 || ferror(svg)) {
        errno = EIO;
        return -1;
    }
    return 0;
}
