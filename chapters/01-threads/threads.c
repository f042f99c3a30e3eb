/* threads.c - chapter 01 exercises. Replace each PK_TODO with real code;
 * threads.h says exactly what each function must do, and the lesson
 * (README.md) shows the mechanisms. Do the exercises in order:
 * `make grade CH=01-threads` tells you how far you are. */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"
#include "pk/todo.h"

/* ==== Exercise 1: fan-out ================================================ */

/* Everything thread i needs, in memory that lives until it is joined. Give
 * thread i a pointer to its own fan_arg, never &i (the loop moves on before
 * the thread reads it). The thread's start function computes
 * *a->out = a->task(a->in) and returns NULL. */
typedef struct fan_arg {
    thr_task_fn task;
    uint64_t in;
    uint64_t *out; /* this thread's result slot: results land in input order */
} fan_arg;

int thr_fan_out_with(thr_task_fn task, const uint64_t *in, uint64_t *out,
                     size_t n, thr_create_fn create)
{
    (void)task, (void)in, (void)out, (void)n, (void)create;
    PK_TODO("check the arguments; allocate n pthread_t and n fan_arg; start "
            "thread i with create(&tid[i], NULL, start, &args[i]); on an error "
            "stop, join the threads already started, free, set errno to the "
            "error and return -1");
    return -1;
}

int thr_fan_out(thr_task_fn task, const uint64_t *in, uint64_t *out, size_t n)
{
    return thr_fan_out_with(task, in, out, n, NULL);
}

/* ==== Exercise 2: counters =============================================== */

/* One thread's slot, alone on its cache line (sizeof is THR_CACHE_LINE):
 * two slots on one line would make every increment take the line away from
 * the other core (false sharing). The assertion keeps the layout honest. */
typedef struct thr_slot {
    _Alignas(THR_CACHE_LINE) _Atomic uint64_t value;
} thr_slot;

_Static_assert(sizeof(thr_slot) == THR_CACHE_LINE, "one slot per cache line");

struct thr_counter {
    thr_counter_kind kind;
    unsigned nthreads;
    pthread_mutex_t mu;       /* MUTEX: guards value */
    uint64_t value;           /* MUTEX */
    _Atomic uint64_t atomic;  /* ATOMIC */
    thr_slot *slots;          /* PADDED: nthreads slots (aligned_alloc) */
};

thr_counter *thr_counter_create(thr_counter_kind kind, unsigned nthreads)
{
    (void)kind, (void)nthreads;
    PK_TODO("check kind and nthreads; calloc the counter, init the mutex; "
            "for PADDED aligned_alloc(THR_CACHE_LINE, ...) nthreads zeroed "
            "slots");
    return NULL;
}

int thr_counter_inc(thr_counter *c, unsigned tid)
{
    (void)c, (void)tid;
    PK_TODO("check c and tid; MUTEX: lock, value++, unlock; ATOMIC: "
            "atomic_fetch_add; PADDED: slot tid = its value + 1 (relaxed "
            "atomic load and store: only this thread writes it)");
    return -1;
}

uint64_t thr_counter_total(thr_counter *c)
{
    (void)c;
    PK_TODO("return the count: the value under the mutex, the atomic, or "
            "the sum of every slot");
    return 0;
}

void thr_counter_destroy(thr_counter *c)
{
    (void)c;
    PK_TODO("NULL is a no-op; destroy the mutex, free the slots and c");
}

int thr_count(thr_counter_kind kind, unsigned nthreads, uint64_t per_thread,
              uint64_t *total)
{
    (void)kind, (void)nthreads, (void)per_thread, (void)total;
    PK_TODO("check total and overflow (per_thread > UINT64_MAX / nthreads); "
            "create a counter; start nthreads threads, thread i calling "
            "thr_counter_inc(c, i) per_thread times; join; read the total");
    return -1;
}

/* ==== Exercise 3: a bounded blocking queue ================================ */

/* A ring buffer under one mutex; producers wait on not_full, consumers on
 * not_empty, always in a while loop that re-checks the condition. */
struct thr_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;  /* signalled after a pop, broadcast on close */
    pthread_cond_t not_empty; /* signalled after a push, broadcast on close */
    void **items;
    size_t capacity, head, count;
    int closed;
};

thr_queue *thr_queue_create(size_t capacity)
{
    (void)capacity;
    PK_TODO("check capacity; allocate the queue and capacity item slots; "
            "init the mutex and both condition variables (undo on failure)");
    return NULL;
}

int thr_queue_push(thr_queue *q, void *item)
{
    (void)q, (void)item;
    PK_TODO("lock; while full and open, wait on not_full; if closed fail "
            "with EPIPE; store at (head + count) % capacity; signal "
            "not_empty; unlock");
    return -1;
}

int thr_queue_pop(thr_queue *q, void **item)
{
    (void)q, (void)item;
    PK_TODO("lock; while empty and open, wait on not_empty; if still empty "
            "(closed) fail with EPIPE; take items[head]; signal not_full; "
            "unlock");
    return -1;
}

void thr_queue_close(thr_queue *q)
{
    (void)q;
    PK_TODO("lock; closed = 1; broadcast not_full and not_empty; unlock");
}

void thr_queue_destroy(thr_queue *q)
{
    (void)q;
    PK_TODO("NULL is a no-op; destroy the condition variables and the "
            "mutex, free the items and q");
}

/* ==== Exercise 4: a GIL simulation ======================================== */

/* A fair GIL is a ticket lock: an arriving thread takes next_ticket++ and
 * waits on `turn` until now_serving equals its ticket. Handing over is
 * now_serving++ and a broadcast; a thread that hands over while still
 * having work takes a new ticket, behind everyone already waiting. Someone
 * waits when next_ticket - now_serving > 1. */
typedef struct gil {
    pthread_mutex_t mu;
    pthread_cond_t turn;   /* broadcast whenever now_serving moves */
    uint64_t next_ticket;  /* the ticket the next arrival takes */
    uint64_t now_serving;  /* the ticket of the holder */
} gil;

int thr_interp_run(const thr_interp_config *cfg, thr_tick_fn tick,
                   void **states, size_t ntasks)
{
    (void)cfg, (void)tick, (void)states, (void)ntasks;
    PK_TODO("check the arguments (NULL cfg: GIL mode, defaults); start one "
            "thread per task. Free mode: while (tick(state)). GIL mode: "
            "acquire, note the clock; after each tick, if the interval has "
            "passed and someone waits, hand over and re-queue; release when "
            "done. Join all");
    return -1;
}
