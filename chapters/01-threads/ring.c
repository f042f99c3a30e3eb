/* ring.c - chapter 01, exercise 5: a lock-free ring buffer for one producer
 * and one consumer thread. threads.h gives the structure and the contract;
 * the lesson's section on the C11 memory model explains which memory order
 * each load and store needs, and why. `make grade CH=01-threads` runs your
 * ring under a race detector. */
#include "threads.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pk/todo.h"

int thr_ring_init(thr_ring *r, size_t capacity)
{
    (void)r, (void)capacity;
    PK_TODO("check r and capacity (a power of two, 1 .. "
            "THR_RING_MAX_CAPACITY); set r->slots = NULL first, so that a "
            "failed init leaves nothing to free; calloc the slots; mask = "
            "capacity - 1; atomic_init head and tail to 0");
    return -1;
}

int thr_ring_push(thr_ring *r, uint64_t value)
{
    (void)r, (void)value;
    PK_TODO("load tail (yours: relaxed) and head (the consumer's: acquire); "
            "full when tail - head == capacity (EAGAIN); write "
            "slots[tail & mask]; then store tail + 1 with "
            "memory_order_release");
    return -1;
}

int thr_ring_pop(thr_ring *r, uint64_t *value)
{
    (void)r, (void)value;
    PK_TODO("load head (yours: relaxed) and tail (the producer's: acquire); "
            "empty when they are equal (EAGAIN); read slots[head & mask]; "
            "then store head + 1 with memory_order_release");
    return -1;
}

void thr_ring_destroy(thr_ring *r)
{
    (void)r;
    PK_TODO("NULL is a no-op; free the slots and set r->slots = NULL");
}
