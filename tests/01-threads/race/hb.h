/* hb.h - a small happens-before race detector for the ring test's helper
 * program (ring_race.c). See hb.c for how it works and why it exists.
 *
 * Every function of the helper that is not the student's code is marked
 * HB_NOINSTR: the helper is compiled with -fsanitize=thread, and its own
 * code must not feed the detector (or call itself from its own hooks). */
#ifndef PK_THREADS_RACE_HB_H
#define PK_THREADS_RACE_HB_H

#include <stddef.h>
#include <stdint.h>

#if defined(__clang__)
#define HB_NOINSTR __attribute__((disable_sanitizer_instrumentation, noinline))
#else
#define HB_NOINSTR __attribute__((no_sanitize_thread, noinline))
#endif

/** Threads the detector tells apart (the main thread included); those
 *  started beyond them are not watched. */
#define HB_MAX_THREADS 16

/** What the detector found: the first race, and how often it saw races. */
typedef struct hb_race {
    unsigned count;        /* races seen (each access counts once) */
    uintptr_t addr;        /* address of the first race's 8-byte word */
    int kind;              /* 'R': a read raced with an earlier write;
                              'W': a write raced with an earlier read;
                              'X': a write raced with an earlier write */
    int tid, other;        /* the racing access's thread, the earlier one's */
} hb_race;

/** Memory orders seen on one atomic location, per thread (bit 1 << mo). */
typedef struct hb_orders {
    unsigned loads[HB_MAX_THREADS], stores[HB_MAX_THREADS], rmws[HB_MAX_THREADS];
} hb_orders;

/* 1 once the instrumented code has called __tsan_init() (the compiler
 * inserts that call): 0 means the helper was built without -fsanitize=thread. */
int hb_instrumented(void);
/* The calling thread's id: 0 for the main thread, then 1, 2, ... in the
 * order pthread_create started them; -1 when not watched. */
int hb_self(void);
/* 1: every atomic load ends with sched_yield() (see hb.c); 0: it does not. */
void hb_set_yield(int on);
/* The first race and the race count so far. */
hb_race hb_result(void);
/* The orders used on the atomic at @p addr. */
hb_orders hb_orders_at(const void *addr);

#endif /* PK_THREADS_RACE_HB_H */
