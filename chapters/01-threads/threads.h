/**
 * @file threads.h
 * @brief Chapter 01: pthreads, races and their fixes, and a GIL simulation.
 *
 * The Python chapter's `run_with_threading(numbers)` starts one
 * `threading.Thread` per number and appends each result to a shared list.
 * This chapter builds the C versions of the pieces behind it:
 *
 * 1. thr_fan_out(): one POSIX thread per input, results in input order, and
 *    a thread-creation failure that is reported and leaves no thread behind;
 * 2. thr_counter_*: a counter shared by many threads, made correct three
 *    ways (a mutex, an atomic, per-thread slots padded to a cache line);
 * 3. thr_queue_*: a bounded blocking queue, the producer/consumer building
 *    block (one mutex, two condition variables, close());
 * 4. thr_interp_run(): a toy interpreter that runs tasks in small ticks,
 *    with or without a global interpreter lock (GIL), to see why CPU-bound
 *    Python threads gain nothing and C threads do;
 * 5. thr_ring_*: a lock-free ring buffer for one producer and one consumer
 *    thread, correct because of C11's acquire/release memory ordering
 *    (in ring.c, the chapter's second exercise file).
 *
 * Conventions (as in all of libpk): 0 or a pointer on success; -1 or NULL
 * with errno on failure; NULL arguments, zero sizes and absurd counts give
 * EINVAL. A function that starts threads joins every one of them before it
 * returns, whether it succeeds or fails.
 */
#ifndef THREADS_H
#define THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/** Most threads one call may start; more is a mistake, not a request. */
#define THR_MAX_THREADS 1024

/** Bytes in a cache line on x86-64 (and most other current CPUs). */
#define THR_CACHE_LINE 64

/* ------------------------------------------------------------------------ */
/** @name Exercise 1: fan-out, one thread per input
 *  @{ */

/**
 * @brief A CPU-bound task: takes an input, returns a result.
 *
 * pk_cpu_task() from pk/task.h (the Python chapter's `cpu_intensive_task`)
 * has this type; the tests pass their own tasks.
 */
typedef uint64_t (*thr_task_fn)(uint64_t n);

/**
 * @brief The signature of pthread_create(), so that a caller may pass
 *        another function that starts threads (a test that makes it fail).
 */
typedef int (*thr_create_fn)(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg);

/**
 * @brief Run task(in[i]) for every i, each on its own thread, and store the
 *        result in out[i].
 * @param task the task; called once per input, from the started threads.
 * @param in n inputs; read only.
 * @param out n results; out[i] is task(in[i]) whatever order the threads
 *        finish in. Written only by the thread of slot i.
 * @param n number of inputs (and threads), 1 to THR_MAX_THREADS.
 * @param create the function that starts each thread; NULL means
 *        pthread_create(). It returns 0 or an error number, like
 *        pthread_create().
 * @return 0 when every result is in place. -1 with errno EINVAL (NULL task,
 *         in or out; n == 0 or n > THR_MAX_THREADS), ENOMEM, or the error
 *         number @p create returned. On failure the threads already started
 *         are joined before the call returns (none is left running or
 *         unjoined) and the contents of @p out are unspecified.
 *
 * Each thread gets a pointer to its own argument (task, input, result slot),
 * never a pointer to the loop counter: the loop moves on before the thread
 * reads it, which is C's twin of the Python lambda that reads `n` late.
 */
int thr_fan_out_with(thr_task_fn task, const uint64_t *in, uint64_t *out,
                     size_t n, thr_create_fn create);

/**
 * @brief thr_fan_out_with() with pthread_create().
 * @param task the task.
 * @param in n inputs.
 * @param out n results, in input order.
 * @param n number of inputs, 1 to THR_MAX_THREADS.
 * @return 0, or -1 with errno as for thr_fan_out_with().
 */
int thr_fan_out(thr_task_fn task, const uint64_t *in, uint64_t *out,
                size_t n);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Exercise 2: a shared counter, three correct ways
 *  @{ */

/** @brief How a thr_counter keeps its count correct under concurrency. */
typedef enum thr_counter_kind {
    THR_COUNTER_MUTEX,  /**< one uint64_t guarded by a pthread mutex */
    THR_COUNTER_ATOMIC, /**< one _Atomic uint64_t, atomic_fetch_add */
    THR_COUNTER_PADDED  /**< one slot per thread, each on its own cache
                             line; the total is the sum of the slots */
} thr_counter_kind;

/** @brief A counter that many threads increment at once (opaque). */
typedef struct thr_counter thr_counter;

/**
 * @brief Create a counter at zero.
 * @param kind how it stays correct.
 * @param nthreads how many threads will increment it, identified as
 *        0 .. nthreads-1 (THR_COUNTER_PADDED gives each its slot); 1 to
 *        THR_MAX_THREADS.
 * @return the counter, owned by the caller (thr_counter_destroy()), or
 *         NULL with errno EINVAL (unknown kind, bad nthreads) or ENOMEM.
 */
thr_counter *thr_counter_create(thr_counter_kind kind, unsigned nthreads);

/**
 * @brief Add one, from thread @p tid. Safe to call from many threads at
 *        once, as long as no two running threads pass the same @p tid.
 * @param c the counter.
 * @param tid the caller's thread number, below the counter's nthreads.
 * @return 0, or -1 with errno EINVAL (NULL counter, tid out of range).
 *
 * Cost per increment with two threads counting at once (the chapter's
 * benchmark, quiet machine): the mutex kind about 30 ns on average (most
 * locks find it free; a taken one sleeps in the kernel and costs
 * microseconds), the atomic kind about 13 ns (one cache line bounces
 * between the cores), the padded kind under 1 ns (each thread touches only
 * its own line).
 */
int thr_counter_inc(thr_counter *c, unsigned tid);

/**
 * @brief The count: every increment that returned before this call.
 * @param c the counter; NULL gives 0.
 * @return the total. May be called while other threads increment; it then
 *         returns some value between the counts before and after the call.
 */
uint64_t thr_counter_total(thr_counter *c);

/**
 * @brief Free the counter. NULL is a no-op. No thread may still use it.
 * @param c the counter.
 */
void thr_counter_destroy(thr_counter *c);

/**
 * @brief Start @p nthreads threads that each increment one new counter
 *        @p per_thread times, join them, and report the total.
 * @param kind the counter's kind.
 * @param nthreads threads to start, 1 to THR_MAX_THREADS; thread i calls
 *        thr_counter_inc(c, i).
 * @param per_thread increments by each thread (0 is allowed).
 * @param total where nthreads * per_thread is written on success.
 * @return 0, or -1 with errno EINVAL (bad kind or nthreads, NULL total),
 *         EOVERFLOW (the product does not fit in 64 bits), ENOMEM, or a
 *         pthread_create() error (threads already started are joined).
 */
int thr_count(thr_counter_kind kind, unsigned nthreads, uint64_t per_thread,
              uint64_t *total);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Exercise 3: a bounded blocking queue
 *  @{ */

/** Largest capacity thr_queue_create() accepts (items, not bytes). */
#define THR_QUEUE_MAX_CAPACITY ((size_t)1 << 24)

/**
 * @brief A first-in first-out queue of pointers with a fixed capacity, for
 *        any number of producer and consumer threads (opaque). Python's
 *        `queue.Queue(maxsize)` with `shutdown()`.
 */
typedef struct thr_queue thr_queue;

/**
 * @brief Create an empty, open queue.
 * @param capacity most items it holds at once, 1 to THR_QUEUE_MAX_CAPACITY.
 * @return the queue, owned by the caller (thr_queue_destroy()), or NULL
 *         with errno EINVAL (capacity out of range) or ENOMEM.
 */
thr_queue *thr_queue_create(size_t capacity);

/**
 * @brief Append @p item, waiting while the queue is full.
 * @param q the queue.
 * @param item any pointer, NULL included; the queue stores it, it does not
 *        own what it points to.
 * @return 0 once the item is in the queue; -1 with errno EINVAL (NULL
 *         queue) or EPIPE (the queue is closed, or was closed while this
 *         call waited: the item was not added).
 */
int thr_queue_push(thr_queue *q, void *item);

/**
 * @brief Remove the oldest item, waiting while the queue is empty and open.
 * @param q the queue.
 * @param item where the removed item is stored.
 * @return 0 with *item set; -1 with errno EINVAL (NULL argument) or EPIPE
 *         (the queue is closed and empty: nothing will ever come). Items
 *         pushed before close() are still handed out.
 */
int thr_queue_pop(thr_queue *q, void **item);

/**
 * @brief Close the queue: wake every waiting producer and consumer; later
 *        pushes fail, pops drain what is left and then fail.
 * @param q the queue; NULL is a no-op, and so is a second close.
 */
void thr_queue_close(thr_queue *q);

/**
 * @brief Free the queue. NULL is a no-op. No thread may still use it; the
 *        items left in it are not freed (the queue never owned them).
 * @param q the queue.
 */
void thr_queue_destroy(thr_queue *q);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Exercise 4: a GIL simulation
 *  @{ */

/**
 * @brief One tick of a task, the toy interpreter's "bytecode": does a small
 *        amount of work on @p state.
 * @return nonzero while the task has more ticks to run, 0 when it is done.
 */
typedef int (*thr_tick_fn)(void *state);

/** @brief With or without a global interpreter lock. */
typedef enum thr_gil_mode {
    THR_GIL_FREE, /**< no lock: ticks of different tasks run in parallel
                       (free-threaded Python 3.13t, or C threads) */
    THR_GIL_ON    /**< a thread runs ticks only while it holds the GIL */
} thr_gil_mode;

/** CPython's default switch interval, sys.getswitchinterval(): 5 ms. */
#define THR_DEFAULT_SWITCH_NS 5000000ull

/** @brief How thr_interp_run() runs its tasks. */
typedef struct thr_interp_config {
    thr_gil_mode mode;            /**< THR_GIL_ON or THR_GIL_FREE */
    uint64_t switch_interval_ns;  /**< GIL mode: how long a thread keeps the
                                       GIL while another waits; 0 means
                                       THR_DEFAULT_SWITCH_NS */
    /** Clock for the switch interval, in nanoseconds; NULL means
     *  pk_now_ns(). Called with @ref clock_ctx. Tests pass a virtual clock
     *  that advances with every tick, so that their checks count ticks
     *  instead of racing real time. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;              /**< passed to @ref clock_ns */
} thr_interp_config;

/**
 * @brief Run @p ntasks tasks, each on its own thread, tick by tick, until
 *        every task is done.
 * @param cfg the mode, switch interval and clock; NULL means GIL mode with
 *        the defaults.
 * @param tick the tick function; thread i calls tick(states[i]) until it
 *        returns 0.
 * @param states one state per task, owned by the caller.
 * @param ntasks tasks (and threads), 1 to THR_MAX_THREADS.
 * @return 0 when every task is done; -1 with errno EINVAL (NULL tick or
 *         states, bad ntasks, unknown mode), ENOMEM, or a pthread_create()
 *         error (threads already started are still run to the end and
 *         joined).
 *
 * In GIL mode the GIL behaves like CPython's, made fair:
 * - a thread calls tick() only while it holds the GIL, so at most one tick
 *   runs at any moment;
 * - the holder checks the clock after each tick; once it has held the GIL
 *   for the switch interval and another thread waits, it hands the GIL on
 *   and queues up again behind the threads already waiting;
 * - waiting threads get the GIL in the order they asked for it (first come,
 *   first served), so none starves: with T tasks, a waiting thread gets the
 *   GIL back within T-1 turns of the others;
 * - a thread whose task is done releases the GIL.
 *
 * In free mode the threads call tick() without any lock.
 */
int thr_interp_run(const thr_interp_config *cfg, thr_tick_fn tick,
                   void **states, size_t ntasks);

/** @} */

/* ------------------------------------------------------------------------ */
/** @name Exercise 5: a lock-free ring for one producer and one consumer
 *  @{ */

/** Largest capacity thr_ring_init() accepts (values, not bytes). */
#define THR_RING_MAX_CAPACITY ((size_t)1 << 24)

/**
 * @brief A single-producer single-consumer (SPSC) ring buffer of uint64_t
 *        values that takes no lock: exactly one thread pushes and exactly
 *        one other thread pops, at the same time.
 *
 * The layout is part of the contract (the tests and the benchmark rely on
 * it), so the structure is public; its fields belong to thr_ring_*().
 * `head` and `tail` count values popped and pushed since thr_ring_init()
 * and only grow (they wrap at SIZE_MAX, which the arithmetic tolerates):
 * the ring holds `tail - head` values, the oldest in
 * `slots[head & mask]`. Each index has one writer: only the producer
 * stores `tail`, only the consumer stores `head`. They sit on cache lines
 * of their own, so that the two threads do not slow each other down by
 * writing the same line (false sharing).
 *
 * The slots are plain memory. What makes a value written by the producer
 * visible to the consumer is the ordering of the index operations:
 * - push writes the slot, then stores `tail` with memory_order_release;
 * - pop loads `tail` with memory_order_acquire, then reads the slot;
 * - symmetrically, pop stores `head` with memory_order_release once it
 *   has read the slot, and push loads `head` with memory_order_acquire
 *   before it overwrites a slot the consumer has freed.
 * With memory_order_relaxed on either side of a pair the program has a
 * data race on the slot: the consumer may see the new `tail` and still
 * read the old contents (on ARM and POWER the hardware does it; on x86 the
 * compiler may). The tests run your ring under a race detector.
 */
typedef struct thr_ring {
    /** Values popped so far; stored only by the consumer. */
    _Alignas(THR_CACHE_LINE) _Atomic size_t head;
    /** Values pushed so far; stored only by the producer. */
    _Alignas(THR_CACHE_LINE) _Atomic size_t tail;
    /** Capacity - 1 (the capacity is a power of two); set by init. */
    _Alignas(THR_CACHE_LINE) size_t mask;
    /** mask + 1 slots, plain memory; allocated by init. */
    uint64_t *slots;
} thr_ring;

_Static_assert(offsetof(thr_ring, tail) - offsetof(thr_ring, head) >= THR_CACHE_LINE,
               "head and tail need cache lines of their own");
_Static_assert(offsetof(thr_ring, mask) - offsetof(thr_ring, tail) >= THR_CACHE_LINE,
               "tail needs a cache line of its own");

/**
 * @brief Make @p r an empty ring of @p capacity slots.
 * @param r the ring to set up (its previous contents are ignored).
 * @param capacity how many values it holds at most: a power of two, 1 to
 *        THR_RING_MAX_CAPACITY.
 * @return 0; or -1 with errno EINVAL (NULL ring, capacity 0, not a power
 *         of two or too large) or ENOMEM. After a failure a non-NULL @p r
 *         has no slots (slots == NULL), so thr_ring_destroy() on it is
 *         harmless.
 *
 * Call it before the producer and consumer threads start (starting a
 * thread orders everything before it); free with thr_ring_destroy().
 */
int thr_ring_init(thr_ring *r, size_t capacity);

/**
 * @brief Append @p value if there is room; never waits.
 * @param r the ring; only one thread (the producer) may call this.
 * @param value the value to append.
 * @return 0 once the value is in the ring (visible to the consumer with
 *         everything the producer wrote before the call); -1 with errno
 *         EAGAIN when the ring is full (retry later), or EINVAL for a NULL
 *         ring.
 */
int thr_ring_push(thr_ring *r, uint64_t value);

/**
 * @brief Remove the oldest value if there is one; never waits.
 * @param r the ring; only one thread (the consumer) may call this.
 * @param value receives the value.
 * @return 0 with *value set; -1 with errno EAGAIN when the ring is empty
 *         (retry later), or EINVAL for a NULL argument.
 */
int thr_ring_pop(thr_ring *r, uint64_t *value);

/**
 * @brief Free the ring's slots. No thread may still use it.
 * @param r the ring; NULL is a no-op, and so is a ring whose init failed.
 */
void thr_ring_destroy(thr_ring *r);

/** @} */

#endif /* THREADS_H */
