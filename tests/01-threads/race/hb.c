/* hb.c - a small happens-before race detector, fed by the compiler's
 * ThreadSanitizer instrumentation, for the ring test's helper program.
 *
 * Why not ThreadSanitizer itself: its run-time library reserves terabytes
 * of address space for shadow memory, and the grader runs every test under
 * a 4 GiB address-space limit, where TSan cannot start. Why not a stress
 * test: on x86-64 a ring with memory_order_relaxed almost always works by
 * luck (the hardware keeps stores in order and loads in order, and gcc
 * rarely moves plain accesses across atomic ones), so no number of runs
 * would catch it. What catches it for certain is the question TSan asks:
 * does every read of a slot *happen after* the write it reads, by the
 * rules of the C11 memory model? That depends on the memory orders the
 * code asks for, not on what the hardware happened to do.
 *
 * How: the helper is compiled with -fsanitize=thread but linked without
 * the TSan run-time library (chapter.mk). The compiler then calls
 * __tsan_read8(addr) before each plain 8-byte load, __tsan_write8() before
 * each store, __tsan_atomic64_load(addr, order) in place of each atomic
 * load, and so on; this file defines those functions. It keeps a vector
 * clock per thread (FastTrack's algorithm, without its optimisations):
 * - a release store (or RMW) on an atomic records the storing thread's
 *   clock on that atomic; an acquire load joins it into the loading
 *   thread's clock; relaxed does neither (fences are handled as C11 says:
 *   a release fence lends its clock to later relaxed stores, an acquire
 *   fence takes the clocks of earlier relaxed loads);
 * - each plain access records (thread, its clock's own entry) per 8-byte
 *   word; a read whose word was last written by another thread at an
 *   epoch the reader's clock does not cover is a race, and so is a write
 *   over a read or write not covered.
 * Every hook takes one global lock, so the helper runs serialised and
 * slowly; a race is found whatever the interleaving, because it is a
 * missing edge in the happens-before order, not an unlucky timing.
 *
 * The pthread calls that order threads are intercepted here too (this
 * program defines pthread_create, pthread_join, pthread_mutex_lock, ...
 * and forwards to the C library's through dlsym(RTLD_NEXT)):
 * pthread_create orders the parent's past before the child, pthread_join
 * the child's life before the parent's future, pthread_mutex_unlock
 * releases and pthread_mutex_lock acquires, as C11 says they do.
 *
 * A lost update that is not a data race (two threads each doing an atomic
 * load, then an atomic store of the value plus one) needs the two threads
 * to interleave between the load and the store, which a loaded machine may
 * never do in a test's lifetime. With hb_set_yield(1) every atomic load
 * ends with sched_yield(): the other threads run right there, on one core
 * as on two, and such an increment loses updates in every run.
 */
#include "hb.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- clocks and shadow state -------------------------------------------- */

typedef struct vclock {
    uint32_t c[HB_MAX_THREADS];
} vclock;

#define CELL_BITS 16                  /* plain memory: 65536 8-byte words */
#define SYNC_BITS 10                  /* atomics: 1024 locations */

typedef struct cell {                 /* one 8-byte word of plain memory */
    uintptr_t key;                    /* (address >> 3) + 1; 0 = free */
    uint32_t w_epoch;                 /* last write: its thread's epoch */
    int w_tid;                        /* ... and its thread */
    uint32_t r_epoch[HB_MAX_THREADS]; /* last read by each thread */
} cell;

typedef struct sync_var {             /* one atomic location */
    uintptr_t key;                    /* address + 1; 0 = free */
    vclock rel;                       /* what an acquire of it learns */
    hb_orders orders;
} sync_var;

/* The detector's own lock is a spinlock: pthread_mutex_lock is one of the
 * functions this file intercepts. */
static atomic_flag mu = ATOMIC_FLAG_INIT;
static int instrumented;
static atomic_int yield_on_load;
static int started;
static vclock clk[HB_MAX_THREADS];     /* each thread's clock */
static vclock relfence[HB_MAX_THREADS]; /* clock at its last release fence */
static vclock acqpend[HB_MAX_THREADS];  /* clocks its relaxed loads saw */
static cell cells[1u << CELL_BITS];
static sync_var syncs[1u << SYNC_BITS];
static hb_race first;
static __thread int self;              /* 0: the main thread; -1: untracked */
static int nthreads = 1;               /* ids handed out so far */

HB_NOINSTR static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&mu, memory_order_acquire))
        sched_yield();
    if (!started) {                   /* the main thread's first epoch */
        started = 1;
        clk[0].c[0] = 1;
    }
}

HB_NOINSTR static void unlock(void)
{
    atomic_flag_clear_explicit(&mu, memory_order_release);
}

HB_NOINSTR static void join_into(vclock *to, const vclock *from)
{
    for (int i = 0; i < HB_MAX_THREADS; i++)
        if (from->c[i] > to->c[i])
            to->c[i] = from->c[i];
}

HB_NOINSTR static size_t slot_of(uintptr_t key, unsigned bits)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* The cell of the word with key @p key, created if new; NULL if full. */
HB_NOINSTR static cell *cell_at(uintptr_t key)
{
    size_t n = (size_t)1 << CELL_BITS;
    for (size_t i = slot_of(key, CELL_BITS), k = 0; k < n; i = (i + 1) % n, k++) {
        if (cells[i].key == key)
            return &cells[i];
        if (cells[i].key == 0) {
            cells[i].key = key;
            return &cells[i];
        }
    }
    return NULL;
}

HB_NOINSTR static sync_var *sync_at(const volatile void *addr)
{
    uintptr_t key = (uintptr_t)addr + 1;
    size_t n = (size_t)1 << SYNC_BITS;
    for (size_t i = slot_of(key, SYNC_BITS), k = 0; k < n; i = (i + 1) % n, k++) {
        if (syncs[i].key == key)
            return &syncs[i];
        if (syncs[i].key == 0) {
            syncs[i].key = key;
            return &syncs[i];
        }
    }
    return NULL;
}

/* ---- the rules ------------------------------------------------------------ */

enum { MO_RELAXED, MO_CONSUME, MO_ACQUIRE, MO_RELEASE, MO_ACQ_REL, MO_SEQ_CST };

HB_NOINSTR static int order_of(int mo)
{
    mo &= 0xff;                       /* gcc may add flags in the high bits */
    return mo > MO_SEQ_CST ? MO_SEQ_CST : mo;
}

/* consume is treated as acquire, as every compiler does. */
HB_NOINSTR static bool acquires(int mo)
{
    return mo == MO_CONSUME || mo == MO_ACQUIRE || mo == MO_ACQ_REL || mo == MO_SEQ_CST;
}

HB_NOINSTR static bool releases(int mo)
{
    return mo == MO_RELEASE || mo == MO_ACQ_REL || mo == MO_SEQ_CST;
}

HB_NOINSTR static void race(uintptr_t word, int kind, int other)
{
    if (first.count++ == 0) {
        first.addr = word << 3;
        first.kind = kind;
        first.tid = self;
        first.other = other;
    }
}

HB_NOINSTR static void access_word(uintptr_t word, bool write)
{
    int t = self;
    if (t < 0)
        return;                       /* a thread beyond HB_MAX_THREADS */
    cell *c = cell_at(word + 1);
    if (c == NULL)
        return;                       /* table full: not tracked */
    const vclock *me = &clk[t];
    if (c->w_epoch != 0 && c->w_tid != t && c->w_epoch > me->c[c->w_tid]) {
        race(word, write ? 'X' : 'R', c->w_tid);
        return;
    }
    if (!write) {
        c->r_epoch[t] = me->c[t];
        return;
    }
    for (int u = 0; u < HB_MAX_THREADS; u++)
        if (u != t && c->r_epoch[u] > me->c[u]) {
            race(word, 'W', u);
            return;
        }
    c->w_tid = t;
    c->w_epoch = me->c[t];
    memset(c->r_epoch, 0, sizeof c->r_epoch);
}

HB_NOINSTR static void on_access(const volatile void *addr, size_t size, bool write)
{
    if (size == 0)
        return;
    uintptr_t a = (uintptr_t)addr;
    lock();
    for (uintptr_t w = a >> 3; w <= (a + size - 1) >> 3; w++)
        access_word(w, write);
    unlock();
}

/* The synchronisation part of an atomic load, store or read-modify-write;
 * called with the lock held, right after the operation itself. */
HB_NOINSTR static void on_load(const volatile void *addr, int mo)
{
    sync_var *s = sync_at(addr);
    int t = self;
    mo = order_of(mo);
    if (s == NULL || t < 0)
        return;
    s->orders.loads[t] |= 1u << mo;
    if (acquires(mo))
        join_into(&clk[t], &s->rel);
    else
        join_into(&acqpend[t], &s->rel);
}

HB_NOINSTR static void on_store(const volatile void *addr, int mo, bool rmw)
{
    sync_var *s = sync_at(addr);
    int t = self;
    mo = order_of(mo);
    if (s == NULL || t < 0)
        return;
    if (rmw) {
        s->orders.rmws[t] |= 1u << mo;
        if (acquires(mo))
            join_into(&clk[t], &s->rel);
        else
            join_into(&acqpend[t], &s->rel);
        /* A read-modify-write continues the release sequence. */
        join_into(&s->rel, releases(mo) ? &clk[t] : &relfence[t]);
    } else {
        s->orders.stores[t] |= 1u << mo;
        /* A plain store starts a new one: what it releases, and no more. */
        s->rel = releases(mo) ? clk[t] : relfence[t];
    }
    if (releases(mo))
        clk[t].c[t]++;                /* later accesses are not covered */
}

HB_NOINSTR static void on_fence(int mo)
{
    int t = self;
    mo = order_of(mo);
    if (t < 0)
        return;
    lock();
    if (acquires(mo))
        join_into(&clk[t], &acqpend[t]);
    if (releases(mo)) {
        relfence[t] = clk[t];
        clk[t].c[t]++;
    }
    unlock();
}

/* ---- the driver's interface ---------------------------------------------- */

HB_NOINSTR int hb_instrumented(void)
{
    lock();
    int r = instrumented;
    unlock();
    return r;
}

HB_NOINSTR int hb_self(void)
{
    return self;
}

HB_NOINSTR void hb_set_yield(int on)
{
    atomic_store(&yield_on_load, on);
}

/* ---- the pthread calls that order threads ---------------------------------
 * Each forwards to the C library's own function, found once. */

#define REAL(name) real_##name
#define FIND_REAL(name)                                                              do {                                                                                 if (REAL(name) == NULL)                                                              REAL(name) = (__typeof__(REAL(name)))dlsym(RTLD_NEXT, #name);            } while (0)

static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *,
                                  void *(*)(void *), void *);
static int (*real_pthread_join)(pthread_t, void **);
static int (*real_pthread_mutex_lock)(pthread_mutex_t *);
static int (*real_pthread_mutex_trylock)(pthread_mutex_t *);
static int (*real_pthread_mutex_unlock)(pthread_mutex_t *);
static int (*real_pthread_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_pthread_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *,
                                          const struct timespec *);

static pthread_t handles[HB_MAX_THREADS]; /* the pthread_t of each id */

typedef struct trampoline {
    void *(*fn)(void *);
    void *arg;
    int id;
} trampoline;

HB_NOINSTR static void *start_tracked(void *p)
{
    trampoline t = *(trampoline *)p;
    free(p);
    self = t.id;
    return t.fn(t.arg);
}

/* The lock on a mutex or the wake-up from a wait: what the last unlock
 * released happens before what follows. Called with the detector's lock. */
HB_NOINSTR static void acquire_sync(const void *m)
{
    sync_var *s = sync_at(m);
    if (s != NULL && self >= 0)
        join_into(&clk[self], &s->rel);
}

HB_NOINSTR static void release_sync(const void *m)
{
    sync_var *s = sync_at(m);
    if (s != NULL && self >= 0) {
        join_into(&s->rel, &clk[self]);
        clk[self].c[self]++;
    }
}

HB_NOINSTR int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                              void *(*fn)(void *), void *arg)
{
    FIND_REAL(pthread_create);
    trampoline *t = malloc(sizeof *t);
    if (t == NULL)
        return EAGAIN;
    lock();
    int id = self >= 0 && nthreads < HB_MAX_THREADS ? nthreads++ : -1;
    if (id >= 0) {
        uint32_t own = clk[id].c[id];
        clk[id] = clk[self];
        clk[id].c[id] = own + 1;
        memset(&relfence[id], 0, sizeof relfence[id]);
        memset(&acqpend[id], 0, sizeof acqpend[id]);
        clk[self].c[self]++;
    }
    unlock();
    *t = (trampoline){fn, arg, id};
    int rc = REAL(pthread_create)(th, attr, start_tracked, t);
    if (rc != 0) {
        free(t);
    } else if (id >= 0) {
        lock();
        handles[id] = *th;
        unlock();
    }
    return rc;
}

HB_NOINSTR int pthread_join(pthread_t th, void **ret)
{
    FIND_REAL(pthread_join);
    int rc = REAL(pthread_join)(th, ret);
    if (rc != 0)
        return rc;
    lock();
    for (int id = 1; id < nthreads; id++)
        if (pthread_equal(handles[id], th) && self >= 0) {
            join_into(&clk[self], &clk[id]);
            break;
        }
    unlock();
    return rc;
}

HB_NOINSTR int pthread_mutex_lock(pthread_mutex_t *m)
{
    FIND_REAL(pthread_mutex_lock);
    int rc = REAL(pthread_mutex_lock)(m);
    if (rc == 0) {
        lock();
        acquire_sync(m);
        unlock();
    }
    return rc;
}

HB_NOINSTR int pthread_mutex_trylock(pthread_mutex_t *m)
{
    FIND_REAL(pthread_mutex_trylock);
    int rc = REAL(pthread_mutex_trylock)(m);
    if (rc == 0) {
        lock();
        acquire_sync(m);
        unlock();
    }
    return rc;
}

HB_NOINSTR int pthread_mutex_unlock(pthread_mutex_t *m)
{
    FIND_REAL(pthread_mutex_unlock);
    lock();
    release_sync(m);
    unlock();
    return REAL(pthread_mutex_unlock)(m);
}

HB_NOINSTR int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    FIND_REAL(pthread_cond_wait);
    lock();
    release_sync(m);
    unlock();
    int rc = REAL(pthread_cond_wait)(c, m);
    lock();
    acquire_sync(m);
    unlock();
    return rc;
}

HB_NOINSTR int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                      const struct timespec *ts)
{
    FIND_REAL(pthread_cond_timedwait);
    lock();
    release_sync(m);
    unlock();
    int rc = REAL(pthread_cond_timedwait)(c, m, ts);
    lock();
    acquire_sync(m);
    unlock();
    return rc;
}

HB_NOINSTR hb_race hb_result(void)
{
    lock();
    hb_race r = first;
    unlock();
    return r;
}

HB_NOINSTR hb_orders hb_orders_at(const void *addr)
{
    hb_orders o;
    memset(&o, 0, sizeof o);
    lock();
    sync_var *s = sync_at(addr);
    if (s != NULL)
        o = s->orders;
    unlock();
    return o;
}

/* ---- the hooks the compiler calls ------------------------------------------
 * Their types are the ones gcc declares for its built-in versions (an
 * integer of the access's size, unsigned; `volatile void *` addresses). */

typedef unsigned char a8;
typedef unsigned short a16;
typedef unsigned int a32;
typedef unsigned long a64;
typedef unsigned __int128 a128;

HB_NOINSTR void __tsan_init(void)
{
    lock();
    instrumented = 1;
    unlock();
}

HB_NOINSTR void __tsan_func_entry(void *pc) { (void)pc; }
HB_NOINSTR void __tsan_func_exit(void *unused) { (void)unused; }
HB_NOINSTR void __tsan_vptr_update(void **p, void *v) { (void)v; on_access(p, sizeof *p, true); }
HB_NOINSTR void __tsan_vptr_read(void **p) { on_access(p, sizeof *p, false); }
HB_NOINSTR void __tsan_read_range(void *p, unsigned long n) { on_access(p, n, false); }
HB_NOINSTR void __tsan_write_range(void *p, unsigned long n) { on_access(p, n, true); }
HB_NOINSTR void __tsan_read_range_pc(void *p, unsigned long n, void *pc) { (void)pc; on_access(p, n, false); }
HB_NOINSTR void __tsan_write_range_pc(void *p, unsigned long n, void *pc) { (void)pc; on_access(p, n, true); }

#define HB_PLAIN(n)                                                              \
    HB_NOINSTR void __tsan_read##n(void *p) { on_access(p, n, false); }          \
    HB_NOINSTR void __tsan_write##n(void *p) { on_access(p, n, true); }          \
    HB_NOINSTR void __tsan_read##n##_pc(void *p, void *pc) { (void)pc; on_access(p, n, false); } \
    HB_NOINSTR void __tsan_write##n##_pc(void *p, void *pc) { (void)pc; on_access(p, n, true); } \
    HB_NOINSTR void __tsan_volatile_read##n(void *p) { on_access(p, n, false); } \
    HB_NOINSTR void __tsan_volatile_write##n(void *p) { on_access(p, n, true); }
HB_PLAIN(1)
HB_PLAIN(2)
HB_PLAIN(4)
HB_PLAIN(8)
HB_PLAIN(16)

#define HB_UNALIGNED(n)                                                          \
    HB_NOINSTR void __tsan_unaligned_read##n(void *p) { on_access(p, n, false); } \
    HB_NOINSTR void __tsan_unaligned_write##n(void *p) { on_access(p, n, true); }
HB_UNALIGNED(2)
HB_UNALIGNED(4)
HB_UNALIGNED(8)
HB_UNALIGNED(16)

/* Newer compilers call these for memcpy/memset/memmove of instrumented code. */
HB_NOINSTR void *__tsan_memcpy(void *d, const void *s, unsigned long n)
{
    on_access(s, n, false);
    on_access(d, n, true);
    return memcpy(d, s, n);
}

HB_NOINSTR void *__tsan_memmove(void *d, const void *s, unsigned long n)
{
    on_access(s, n, false);
    on_access(d, n, true);
    return memmove(d, s, n);
}

HB_NOINSTR void *__tsan_memset(void *d, int c, unsigned long n)
{
    on_access(d, n, true);
    return memset(d, c, n);
}

HB_NOINSTR void __tsan_atomic_thread_fence(int mo) { on_fence(mo); }
HB_NOINSTR void __tsan_atomic_signal_fence(int mo) { (void)mo; }

/* Every atomic operation runs under the detector's lock, so that the
 * order of the operations and the order of the detector's updates agree.
 * The operation itself is a plain access of a volatile object: every
 * thread reaches that object only through these hooks, under the lock. */
#define HB_RMW(bits, name, expr)                                                 \
    HB_NOINSTR a##bits __tsan_atomic##bits##_##name(volatile void *a, a##bits v, int mo) \
    {                                                                            \
        volatile a##bits *p = a;                                                 \
        lock();                                                                  \
        a##bits old = *p;                                                        \
        *p = (a##bits)(expr);                                                    \
        on_store(a, mo, true);                                                   \
        unlock();                                                                \
        return old;                                                              \
    }

#define HB_ATOMICS(bits)                                                         \
    HB_NOINSTR a##bits __tsan_atomic##bits##_load(const volatile void *a, int mo) \
    {                                                                            \
        const volatile a##bits *p = a;                                           \
        lock();                                                                  \
        a##bits v = *p;                                                          \
        on_load(a, mo);                                                          \
        unlock();                                                                \
        if (atomic_load_explicit(&yield_on_load, memory_order_relaxed))          \
            sched_yield();                                                       \
        return v;                                                                \
    }                                                                            \
    HB_NOINSTR void __tsan_atomic##bits##_store(volatile void *a, a##bits v, int mo) \
    {                                                                            \
        volatile a##bits *p = a;                                                 \
        lock();                                                                  \
        *p = v;                                                                  \
        on_store(a, mo, false);                                                  \
        unlock();                                                                \
    }                                                                            \
    HB_RMW(bits, exchange, v)                                                    \
    HB_RMW(bits, fetch_add, old + v)                                             \
    HB_RMW(bits, fetch_sub, old - v)                                             \
    HB_RMW(bits, fetch_and, old & v)                                             \
    HB_RMW(bits, fetch_or, old | v)                                              \
    HB_RMW(bits, fetch_xor, old ^ v)                                             \
    HB_RMW(bits, fetch_nand, ~(old & v))                                         \
    HB_NOINSTR _Bool __tsan_atomic##bits##_compare_exchange_strong(              \
        volatile void *a, void *expected, a##bits v, int mo, int fmo)            \
    {                                                                            \
        volatile a##bits *p = a;                                                 \
        a##bits *e = expected;                                                   \
        lock();                                                                  \
        a##bits old = *p;                                                        \
        _Bool ok = old == *e;                                                    \
        if (ok) {                                                                \
            *p = v;                                                              \
            on_store(a, mo, true);                                               \
        } else {                                                                 \
            *e = old;                                                            \
            on_load(a, fmo);                                                     \
        }                                                                        \
        unlock();                                                                \
        return ok;                                                               \
    }                                                                            \
    HB_NOINSTR _Bool __tsan_atomic##bits##_compare_exchange_weak(                \
        volatile void *a, void *expected, a##bits v, int mo, int fmo)            \
    {                                                                            \
        return __tsan_atomic##bits##_compare_exchange_strong(a, expected, v, mo, fmo); \
    }                                                                            \
    HB_NOINSTR a##bits __tsan_atomic##bits##_compare_exchange_val(               \
        volatile void *a, a##bits expected, a##bits v, int mo, int fmo)          \
    {                                                                            \
        __tsan_atomic##bits##_compare_exchange_strong(a, &expected, v, mo, fmo); \
        return expected;                                                         \
    }

HB_ATOMICS(8)
HB_ATOMICS(16)
HB_ATOMICS(32)
HB_ATOMICS(64)
HB_ATOMICS(128)
