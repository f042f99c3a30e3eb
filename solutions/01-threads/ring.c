/* ring.c - chapter 01 reference solution, exercise 5: a lock-free ring
 * buffer for one producer and one consumer thread (threads.h).
 *
 * Why it is correct. Each index has one writer, so no read-modify-write is
 * needed: the owner loads its own index relaxed (it wrote it itself) and
 * stores it with release; the other side loads it with acquire.
 *
 *   producer                            consumer
 *   slots[t & mask] = v;       (1)
 *   store tail = t + 1, release (2) --> load tail, acquire  (3)
 *                                       v = slots[h & mask]; (4)
 *
 * The acquire load (3) that reads the value stored by the release store (2)
 * synchronizes with it: everything the producer did before (2), the slot
 * write (1) included, happens before everything the consumer does after
 * (3), the slot read (4) included. With relaxed on either side there is no
 * such edge, (1) and (4) are a data race, and the consumer may read the old
 * contents of the slot. The same pair runs the other way on `head`: the
 * consumer's release store after reading a slot, the producer's acquire
 * load before overwriting it.
 *
 * Cost on x86-64: a release store and an acquire load are plain `mov`
 * instructions (the hardware already keeps stores in order and loads in
 * order); the orderings only stop the compiler from moving the slot access
 * across them. A seq_cst store would be an `xchg` (a full barrier, tens of
 * cycles): the benchmark measures the difference.
 */
#include "threads.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

int thr_ring_init(thr_ring *r, size_t capacity)
{
    if (r == NULL) {
        errno = EINVAL;
        return -1;
    }
    r->slots = NULL;
    /* A power of two, so that an index maps to its slot with one AND and
     * the free-running counters may wrap at SIZE_MAX without a jump. */
    if (capacity == 0 || capacity > THR_RING_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0) {
        errno = EINVAL;
        return -1;
    }
    r->slots = calloc(capacity, sizeof *r->slots);
    if (r->slots == NULL) {
        errno = ENOMEM;
        return -1;
    }
    r->mask = capacity - 1;
    /* No thread uses the ring yet: starting them publishes these stores. */
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

int thr_ring_push(thr_ring *r, uint64_t value)
{
    if (r == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed); /* ours */
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire); /* the
        consumer's: acquire, so that its reads of the slots it freed happen
        before our writes to them */
    if (tail - head > r->mask) { /* tail - head == capacity: full */
        errno = EAGAIN;
        return -1;
    }
    r->slots[tail & r->mask] = value;
    /* Publish: the slot write above may not move below this store. */
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return 0;
}

int thr_ring_pop(thr_ring *r, uint64_t *value)
{
    if (r == NULL || value == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed); /* ours */
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire); /* the
        producer's: acquire, so that the slot read below sees its write */
    if (head == tail) {
        errno = EAGAIN;
        return -1;
    }
    *value = r->slots[head & r->mask];
    /* Free the slot only after reading it: release keeps the read above. */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return 0;
}

void thr_ring_destroy(thr_ring *r)
{
    if (r == NULL)
        return;
    free(r->slots);
    r->slots = NULL;
}
