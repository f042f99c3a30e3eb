/* sampler.c - chapter 06 reference solution, exercise 2: the sampling
 * profiler, a SIGPROF timer and a frame-pointer walk (sampler.h).
 *
 * Every function here is PK_NO_INSTRUMENT (noinstr.h): the chapter is
 * compiled with -finstrument-functions, and the profiling code must not
 * call the hooks. */
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

/* The buffer: SAMP_MAX_SAMPLES slots of 1 + SAMP_MAX_DEPTH words; word 0 is
 * the number of frames, stored last with release, so a reader that loads
 * it with acquire and sees it non-zero sees the frames. The handler may run
 * on any thread, so this is the cross-thread form of "store the depth
 * last". Allocated by samp_start(), before the timer runs: the handler
 * never allocates. */
#define SLOT_WORDS (1 + SAMP_MAX_DEPTH)

static _Atomic uintptr_t *samp_buf;
static atomic_size_t samp_next;       /* slots claimed */
static atomic_size_t samp_dropped;    /* samples that found no slot */
static atomic_bool samp_running;
/* Handlers running now, on any thread. samp_stop() clears samp_running,
 * then waits for this to reach 0; a handler increments it, then checks
 * samp_running. Both sides store, then load the other's variable: only
 * sequentially consistent operations (the default) guarantee that one of
 * them sees the other's store, so either the handler sees the stop or the
 * stop waits for the handler. */
static atomic_int samp_inflight;
static uintptr_t samp_stack_lo, samp_stack_hi; /* the sampled thread's stack */
static struct sigaction samp_old_action;

/* Where the signal interrupted the program. x86-64 and AArch64. */
PK_NO_INSTRUMENT static void context_regs(const ucontext_t *uc, uintptr_t *pc,
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
PK_NO_INSTRUMENT static void samp_handler(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    (void)sig, (void)si;

    atomic_fetch_add(&samp_inflight, 1);      /* seq_cst: see samp_inflight */
    if (!atomic_load(&samp_running) || samp_buf == NULL)
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
    atomic_fetch_sub_explicit(&samp_inflight, 1, memory_order_release);
    errno = saved_errno;
}

PK_NO_INSTRUMENT int samp_start(unsigned hz)
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
        /* Only the slots the last run claimed hold a depth: every slot past
         * them is still zero. Clearing those few, not the whole 6.5 MB,
         * matters: after any fork() (the program's own, or a test's) each
         * page of the buffer is copy-on-write, and a memset of all of it
         * took 20 ms of page faults on the course's machine, twice the
         * run it was profiling. */
        size_t used = samp_count();
        for (size_t i = 0; i < used; i++)
            atomic_store_explicit(&samp_buf[i * SLOT_WORDS], 0,
                                  memory_order_relaxed);
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

PK_NO_INSTRUMENT int samp_stop(void)
{
    bool expected = true;

    if (!atomic_compare_exchange_strong(&samp_running, &expected, false)) {
        errno = EINVAL;
        return -1;
    }
    /* 1. No more signals from the timer. */
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_PROF, &off, NULL);

    /* 2. The timer may have raised one just before: a SIGPROF pending for
     * the process would meet the restored action, and the default action
     * of SIGPROF ends the process. Block it here, take any pending one off
     * the queue (a zero timeout does not wait), put the old action back,
     * unblock. A SIGPROF another thread has already taken still finds our
     * handler, which sees samp_running false and returns. */
    sigset_t prof, saved;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &saved);
    const struct timespec no_wait = {0, 0};
    while (sigtimedwait(&prof, NULL, &no_wait) == SIGPROF)
        ;
    sigaction(SIGPROF, &samp_old_action, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);

    /* 3. A handler that started on another thread may still be writing its
     * slot: wait for it (a handler never blocks, so this is short). */
    while (atomic_load(&samp_inflight) != 0)
        sched_yield();
    return 0;
}

PK_NO_INSTRUMENT size_t samp_count(void)
{
    size_t n = atomic_load(&samp_next);
    return n < SAMP_MAX_SAMPLES ? n : SAMP_MAX_SAMPLES;
}

PK_NO_INSTRUMENT size_t samp_lost(void)
{
    return atomic_load(&samp_dropped);
}

PK_NO_INSTRUMENT void samp_free(void)
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

PK_NO_INSTRUMENT static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

PK_NO_INSTRUMENT static int cmp_addr_sym(const void *a, const void *b)
{
    return cmp_uptr(&((const addr_sym *)a)->addr, &((const addr_sym *)b)->addr);
}

/* The address to resolve for frame k: the leaf's pc itself, a return
 * address minus one (the call instruction, not the line after it). */
PK_NO_INSTRUMENT static uintptr_t frame_addr(const _Atomic uintptr_t *slot,
                                             size_t k)
{
    uintptr_t a = atomic_load_explicit(&slot[1 + k], memory_order_relaxed);
    return k == 0 ? a : a - 1;
}

/* Resolve every distinct address in the recorded samples (leaves only or
 * whole stacks): sorted, so later lookups are a bsearch. */
PK_NO_INSTRUMENT static addr_sym *samp_symbols(bool whole_stacks, size_t *count)
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

PK_NO_INSTRUMENT static const sym_info *find_sym(const addr_sym *syms, size_t n,
                                                 uintptr_t a)
{
    addr_sym key = {.addr = a};
    const addr_sym *hit = bsearch(&key, syms, n, sizeof *syms, cmp_addr_sym);
    return hit ? &hit->sym : NULL;
}

PK_NO_INSTRUMENT static int cmp_samp_rows(const void *a, const void *b)
{
    const samp_row *x = a, *y = b;
    if (x->samples != y->samples)
        return x->samples < y->samples ? 1 : -1;
    int c = strcmp(x->func, y->func);
    return c ? c : x->line - y->line;
}

/* Self samples grouped by function (by_line false) or by file:line. */
PK_NO_INSTRUMENT static int samp_flat(bool by_line, samp_row *rows,
                                      size_t max, size_t *nrows)
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

PK_NO_INSTRUMENT int samp_by_function(samp_row *rows, size_t max, size_t *nrows)
{
    return samp_flat(false, rows, max, nrows);
}

PK_NO_INSTRUMENT int samp_by_line(samp_row *rows, size_t max, size_t *nrows)
{
    return samp_flat(true, rows, max, nrows);
}

PK_NO_INSTRUMENT static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

PK_NO_INSTRUMENT int samp_write_folded(FILE *out)
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
