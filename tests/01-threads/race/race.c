/* race.c - the helper program of the race tests: the student's code
 * (threads.c and ring.c, compiled with -fsanitize=thread and checked by
 * hb.c's happens-before detector) runs one scenario, and the program
 * prints one line saying what it found.
 *
 * Usage: race ring CAPACITY VALUES
 *          one producer and one consumer thread pass VALUES values
 *          through thr_ring_init(&r, CAPACITY)
 *        race counter mutex|atomic|padded INCREMENTS
 *          four threads call thr_counter_inc INCREMENTS times each on one
 *          counter, then thr_count does the same with its own threads;
 *          every atomic load yields the core (hb_set_yield)
 * Output: one line, "OK ...", "RACE ...", "LOST ...", "WRONG ...",
 * "TODO ...", "STUCK ...", "ERROR ..." or "UNINSTRUMENTED ..."; the exit
 * status is the matching RR_* code below. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hb.h"
#include "threads.h"

enum { RR_OK, RR_RACE, RR_WRONG, RR_TODO, RR_STUCK, RR_ERROR,
       RR_UNINSTRUMENTED, RR_LOST };

#define DEADLINE_NS 5000000000ull /* 5 s without progress: a correct ring
                                     moves a value in microseconds */

static thr_ring ring;
static uint64_t nvalues;
static int producer_id = -2, consumer_id = -2; /* the detector's thread ids */

/* errno's name, for the messages (the few these functions may set). */
HB_NOINSTR static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
    case EPIPE: return "EPIPE";
    default: return "another errno";
    }
}

typedef struct side {
    int rc;            /* RR_OK or what went wrong */
    uint64_t at;       /* which value */
    uint64_t got;      /* consumer: the value popped */
    int err;           /* errno of a failed call */
} side;

static side producer_side, consumer_side;

HB_NOINSTR static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Value number i: distinct, and never 0 (a fresh calloc'ed slot). */
HB_NOINSTR static uint64_t value_of(uint64_t i)
{
    return (i + 1) * 0x9E3779B97F4A7C15ull | 1;
}

HB_NOINSTR static void *producer(void *p)
{
    (void)p;
    producer_id = hb_self();
    for (uint64_t i = 0; i < nvalues; i++) {
        uint64_t t0 = now_ns();
        while (thr_ring_push(&ring, value_of(i)) != 0) {
            int e = errno;
            if (e != EAGAIN) {
                producer_side = (side){e == ENOSYS ? RR_TODO : RR_ERROR, i, 0, e};
                return NULL;
            }
            if (now_ns() - t0 > DEADLINE_NS) {
                producer_side = (side){RR_STUCK, i, 0, e};
                return NULL;
            }
            sched_yield();
        }
    }
    return NULL;
}

HB_NOINSTR static void *consumer(void *p)
{
    (void)p;
    consumer_id = hb_self();
    for (uint64_t i = 0; i < nvalues; i++) {
        uint64_t v = 0, t0 = now_ns();
        while (thr_ring_pop(&ring, &v) != 0) {
            int e = errno;
            if (e != EAGAIN) {
                consumer_side = (side){e == ENOSYS ? RR_TODO : RR_ERROR, i, 0, e};
                return NULL;
            }
            if (now_ns() - t0 > DEADLINE_NS) {
                consumer_side = (side){RR_STUCK, i, 0, e};
                return NULL;
            }
            sched_yield();
        }
        if (v != value_of(i) && consumer_side.rc == RR_OK)
            consumer_side = (side){RR_WRONG, i, v, 0};
    }
    return NULL;
}

/* "memory_order_relaxed", "memory_order_relaxed and memory_order_acquire",
 * ... for the set of orders in @p bits (bit 1 << order). */
HB_NOINSTR static const char *orders(unsigned bits, char *buf, size_t len)
{
    static const char *names[] = {
        "memory_order_relaxed", "memory_order_consume", "memory_order_acquire",
        "memory_order_release", "memory_order_acq_rel", "memory_order_seq_cst"};
    size_t off = 0;
    buf[0] = '\0';
    for (int mo = 0; mo < 6; mo++)
        if (bits & (1u << mo))
            off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
                                    off ? " and " : "", names[mo]);
    if (off == 0)
        snprintf(buf, len, "no atomic operation");
    return buf;
}

/* Whether every store in @p st releases and every load in @p ld acquires
 * (bit 1 << order; the orders are relaxed, consume, acquire, release,
 * acq_rel, seq_cst). */
HB_NOINSTR static int strong_enough(unsigned st, unsigned ld)
{
    const unsigned weak_store = 1u << 0 | 1u << 1 | 1u << 2;
    const unsigned weak_load = 1u << 0 | 1u << 3;
    return st != 0 && ld != 0 && !(st & weak_store) && !(ld & weak_load);
}

/* What the first race was about, for the message. */
HB_NOINSTR static void describe_race(hb_race r)
{
    hb_orders head = hb_orders_at(&ring.head), tail = hb_orders_at(&ring.tail);
    char a[96], b[96];
    uintptr_t slots = (uintptr_t)ring.slots;
    size_t cap = ring.mask + 1;
    int on_slot = ring.slots != NULL && r.addr >= slots &&
                  r.addr < slots + cap * sizeof *ring.slots;
    size_t slot = on_slot ? (r.addr - slots) / sizeof *ring.slots : 0;

    if (producer_id < 0 || consumer_id < 0) {
        printf("ERROR the detector did not watch both threads\n");
        return;
    }
    if (on_slot && r.kind == 'R' && r.tid == consumer_id) {
        unsigned st = tail.stores[producer_id] | tail.rmws[producer_id];
        unsigned ld = tail.loads[consumer_id] | tail.rmws[consumer_id];
        printf("RACE thr_ring_pop read slot %zu, which thr_ring_push had "
               "written on the producer thread, but nothing in the C11 memory "
               "model orders that write before this read (%u racing accesses "
               "in %llu values): the consumer may see the new tail and still "
               "read the old slot. Your push stored tail with "
               "%s; your pop loaded tail with %s. "
               "%s\n", slot, r.count, (unsigned long long)nvalues,
               orders(st, a, sizeof a), orders(ld, b, sizeof b),
               strong_enough(st, ld)
                   ? "The orders are strong enough, so look at the order of "
                     "the statements: push writes the slot before its release "
                     "store of tail; pop reads the slot after its acquire "
                     "load of tail and before its release store of head "
                     "(once head moves on, the producer may overwrite it)."
                   : "Publish with memory_order_release (push's store of "
                     "tail) and consume with memory_order_acquire (pop's "
                     "load of tail): relaxed orders nothing but the index "
                     "itself.");
    } else if (on_slot && r.kind == 'W' && r.tid == producer_id) {
        unsigned st = head.stores[consumer_id] | head.rmws[consumer_id];
        unsigned ld = head.loads[producer_id] | head.rmws[producer_id];
        printf("RACE thr_ring_push overwrote slot %zu, which thr_ring_pop had "
               "read on the consumer thread, but nothing in the C11 memory "
               "model orders that read before this write (%u racing accesses "
               "in %llu values): the consumer may still be reading the slot. "
               "Your pop stored head with %s; your push loaded "
               "head with %s. %s\n", slot, r.count,
               (unsigned long long)nvalues, orders(st, a, sizeof a),
               orders(ld, b, sizeof b),
               strong_enough(st, ld)
                   ? "The orders are strong enough, so look at the order of "
                     "the statements: read the slot before the release store "
                     "of head, and check for room after the acquire load of "
                     "head, before writing."
                   : "Free a slot with memory_order_release (pop's store of "
                     "head, after reading the slot) and check for room with "
                     "memory_order_acquire (push's load of head).");
    } else {
        const char *what = on_slot ? "a slot"
                         : r.addr == (uintptr_t)&ring.mask ? "the ring's mask"
                         : r.addr == (uintptr_t)&ring.slots ? "the ring's slots pointer"
                         : "memory of the ring";
        printf("RACE a data race on %s (address %#lx): thread %s %s it, and "
               "thread %s's earlier %s is not ordered before that (%u racing "
               "accesses in %llu values). Only the producer may write tail "
               "and the slots it fills, only the consumer head; mask and "
               "slots are written by thr_ring_init alone.\n", what,
               (unsigned long)r.addr,
               r.tid == producer_id ? "producer" : r.tid == consumer_id ? "consumer" : "main",
               r.kind == 'R' ? "read" : "wrote",
               r.other == producer_id ? "producer" : r.other == consumer_id ? "consumer" : "main",
               r.kind == 'W' ? "read" : "write", r.count,
               (unsigned long long)nvalues);
    }
}

HB_NOINSTR static int report_side(const char *who, const side *s, size_t cap)
{
    switch (s->rc) {
    case RR_TODO:
        printf("TODO thr_ring_%s returned -1 with errno = ENOSYS: not written "
               "yet\n", who);
        break;
    case RR_ERROR:
        printf("ERROR thr_ring_%s returned -1 with errno = %s at value "
               "#%llu, expected 0 or EAGAIN\n", who, errno_name(s->err),
               (unsigned long long)s->at);
        break;
    case RR_STUCK:
        printf("STUCK thr_ring_%s returned EAGAIN for 5 s in a row at value "
               "#%llu (capacity %zu): does %s see the other thread's index "
               "move?\n", who, (unsigned long long)s->at, cap,
               s == &producer_side ? "push" : "pop");
        break;
    case RR_WRONG:
        printf("WRONG thr_ring_pop returned %#llx as value #%llu, expected "
               "%#llx: values must come out once each, in the order pushed "
               "(capacity %zu)\n", (unsigned long long)s->got,
               (unsigned long long)s->at,
               (unsigned long long)value_of(s->at), cap);
        break;
    default:
        return RR_OK;
    }
    return s->rc;
}

HB_NOINSTR static int ring_scenario(size_t cap, uint64_t n)
{
    nvalues = n;
    errno = 0;
    if (thr_ring_init(&ring, cap) != 0) {
        int e = errno;
        printf("%s thr_ring_init(&r, %zu) returned -1 with errno = %s, "
               "expected 0\n", e == ENOSYS ? "TODO" : "ERROR", cap,
               errno_name(e));
        return e == ENOSYS ? RR_TODO : RR_ERROR;
    }

    pthread_t pt, ct;
    if (pthread_create(&pt, NULL, producer, NULL) != 0 ||
        pthread_create(&ct, NULL, consumer, NULL) != 0) {
        printf("ERROR pthread_create failed\n");
        return RR_ERROR;
    }
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);

    hb_race r = hb_result();
    int rc = RR_OK;
    if (r.count > 0) {
        describe_race(r);
        rc = RR_RACE;
    } else if ((rc = report_side("push", &producer_side, cap)) == RR_OK &&
               (rc = report_side("pop", &consumer_side, cap)) == RR_OK) {
        printf("OK %llu values through a ring of %zu slots, every slot read "
               "after its write in the happens-before order\n",
               (unsigned long long)nvalues, cap);
    }
    thr_ring_destroy(&ring);
    return rc;
}

/* ==== the counters ========================================================= */

#define COUNT_THREADS 4

typedef struct count_arg {
    thr_counter *c;
    unsigned tid;
    uint64_t k;
    int failures, err;
} count_arg;

HB_NOINSTR static void *count_thread(void *p)
{
    count_arg *a = p;
    for (uint64_t i = 0; i < a->k; i++)
        if (thr_counter_inc(a->c, a->tid) != 0 && a->failures++ == 0)
            a->err = errno;
    return NULL;
}

/* What a data race in a counter means, by kind. */
HB_NOINSTR static const char *count_advice(thr_counter_kind kind)
{
    switch (kind) {
    case THR_COUNTER_MUTEX:
        return "every increment of the mutex kind (and the total's read) "
               "must happen between pthread_mutex_lock and "
               "pthread_mutex_unlock";
    case THR_COUNTER_ATOMIC:
        return "the atomic kind's counter must be an _Atomic object, "
               "changed only by atomic operations (atomic_fetch_add)";
    default:
        return "each padded slot must be _Atomic and written only by its "
               "own thread (slot tid), so that total() may read it meanwhile";
    }
}

HB_NOINSTR static void describe_count_race(hb_race r, const void *c,
                                           const char *call,
                                           thr_counter_kind kind)
{
    ptrdiff_t off = (ptrdiff_t)(r.addr - (uintptr_t)c);
    char where[96];
    if (off >= 0 && off < 4096)
        snprintf(where, sizeof where, "the 8 bytes at offset %td of the "
                 "counter", off);
    else
        snprintf(where, sizeof where, "memory of the counter (address %#lx)",
                 (unsigned long)r.addr);
    printf("RACE %s: thread %d %s %s, which thread %d had %s, and nothing "
           "orders the two (no mutex unlock and lock, no pthread_join, no "
           "atomic operation between them): a data race, %u racing accesses "
           "in all (thread 0 is the caller; threads 1, 2, ... are numbered "
           "in the order they started). %s.\n", call, r.tid,
           r.kind == 'R' ? "read" : "wrote", where, r.other,
           r.kind == 'W' ? "read" : "written", r.count, count_advice(kind));
}

HB_NOINSTR static int counter_scenario(thr_counter_kind kind, const char *name,
                                       uint64_t k)
{
    char call[96];
    hb_set_yield(1);
    errno = 0;
    thr_counter *c = thr_counter_create(kind, COUNT_THREADS);
    if (c == NULL) {
        int e = errno;
        printf("%s thr_counter_create(%s, %d) returned NULL with errno = %s, "
               "expected a counter\n", e == ENOSYS ? "TODO" : "ERROR", name,
               COUNT_THREADS, errno_name(e));
        return e == ENOSYS ? RR_TODO : RR_ERROR;
    }
    pthread_t t[COUNT_THREADS];
    count_arg a[COUNT_THREADS];
    for (unsigned i = 0; i < COUNT_THREADS; i++) {
        a[i] = (count_arg){c, i, k, 0, 0};
        if (pthread_create(&t[i], NULL, count_thread, &a[i]) != 0) {
            printf("ERROR pthread_create failed\n");
            return RR_ERROR;
        }
    }
    for (unsigned i = 0; i < COUNT_THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t total = thr_counter_total(c);
    snprintf(call, sizeof call, "%d threads calling thr_counter_inc on one "
             "%s counter", COUNT_THREADS, name);
    hb_race r = hb_result();
    if (r.count > 0) {
        describe_count_race(r, c, call, kind);
        return RR_RACE;
    }
    thr_counter_destroy(c);
    for (unsigned i = 0; i < COUNT_THREADS; i++)
        if (a[i].failures) {
            printf("%s thr_counter_inc(c, %u) returned -1 with errno = %s, "
                   "expected 0\n", a[i].err == ENOSYS ? "TODO" : "ERROR", i,
                   errno_name(a[i].err));
            return a[i].err == ENOSYS ? RR_TODO : RR_ERROR;
        }
    if (total != COUNT_THREADS * k) {
        printf("LOST thr_counter_total(c) returned %llu after %d threads "
               "made %llu thr_counter_inc calls each on a %s counter, "
               "expected %llu: %lld updates lost. The detector made every "
               "thread give up its core after each atomic load, so an "
               "increment done as a load and then a store of the value plus "
               "one lets the other threads' increments fall in between and "
               "overwrites them: it must be one indivisible step (a mutex, "
               "atomic_fetch_add, or a slot no other thread writes).\n",
               (unsigned long long)total, COUNT_THREADS,
               (unsigned long long)k, name,
               (unsigned long long)(COUNT_THREADS * k),
               (long long)(COUNT_THREADS * k - total));
        return RR_LOST;
    }

    /* thr_count starts and joins its own threads. */
    errno = 0;
    total = 0;
    int rc = thr_count(kind, COUNT_THREADS, k, &total);
    int e = errno;
    snprintf(call, sizeof call, "thr_count(%s, %d, %llu, &total)", name,
             COUNT_THREADS, (unsigned long long)k);
    r = hb_result();
    if (r.count > 0) {
        printf("RACE %s: thread %d %s memory that thread %d had %s, and "
               "nothing orders the two (%u racing accesses): %s; and join "
               "every thread before reading the total.\n", call, r.tid,
               r.kind == 'R' ? "read" : "wrote", r.other,
               r.kind == 'W' ? "read" : "written", r.count,
               count_advice(kind));
        return RR_RACE;
    }
    if (rc != 0) {
        printf("%s %s returned -1 with errno = %s, expected 0\n",
               e == ENOSYS ? "TODO" : "ERROR", call, errno_name(e));
        return e == ENOSYS ? RR_TODO : RR_ERROR;
    }
    if (total != COUNT_THREADS * k) {
        printf("LOST %s set total = %llu, expected %llu\n", call,
               (unsigned long long)total,
               (unsigned long long)(COUNT_THREADS * k));
        return RR_LOST;
    }
    printf("OK %d threads x %llu increments of a %s counter, twice, no "
           "race and no update lost\n", COUNT_THREADS, (unsigned long long)k,
           name);
    return RR_OK;
}

HB_NOINSTR int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!hb_instrumented()) {
        printf("UNINSTRUMENTED built without -fsanitize=thread: the detector "
               "sees nothing\n");
        return RR_UNINSTRUMENTED;
    }
    if (argc == 4 && strcmp(argv[1], "ring") == 0)
        return ring_scenario((size_t)strtoull(argv[2], NULL, 10),
                             strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "counter") == 0) {
        static const char *names[] = {"mutex", "atomic", "padded"};
        static const char *full[] = {"THR_COUNTER_MUTEX", "THR_COUNTER_ATOMIC",
                                     "THR_COUNTER_PADDED"};
        static const thr_counter_kind kinds[] = {
            THR_COUNTER_MUTEX, THR_COUNTER_ATOMIC, THR_COUNTER_PADDED};
        for (int i = 0; i < 3; i++)
            if (strcmp(argv[2], names[i]) == 0)
                return counter_scenario(kinds[i], full[i],
                                        strtoull(argv[3], NULL, 10));
    }
    fprintf(stderr, "usage: %s ring CAPACITY VALUES | counter "
            "mutex|atomic|padded INCREMENTS\n", argv[0]);
    return RR_ERROR;
}
