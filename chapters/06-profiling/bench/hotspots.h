/**
 * @file hotspots.h
 * @brief The workload every profiler of chapter 06 looks at.
 *
 * bench/hotspots.c is one small program with a known profile: three compute
 * kernels whose work is in the ratio 6 : 3 : 1, a call-heavy loop of tiny
 * functions, and an allocation phase with a peak and one leak. The lesson
 * runs gprof, perf, callgrind and massif on it as a program of its own;
 * the benchmark links it twice (chapter.mk), once plain and once built with
 * `-finstrument-functions`, with HOT_PREFIX set to `plain_` and `instr_`
 * so that the two copies can live in one program.
 */
#ifndef HOTSPOTS_H
#define HOTSPOTS_H

#include <stdint.h>

/** Inner-loop iterations in one unit of compute work (about 1 ms). */
#define HOT_UNIT 1000000u

/**
 * @brief Declare the workload's entry points with a name prefix.
 * @param p the prefix (`plain_`, `instr_`, or nothing).
 *
 * - `p##hot_compute(units)`: runs hot_mix, hot_scan and hot_tail for 6, 3
 *   and 1 tenths of @c units units of work; returns a checksum.
 * - `p##hot_calls(n)`: calls the tiny function hot_leaf @c n times (n + 1
 *   call/return pairs in all); returns a checksum.
 * - `p##hot_allocate(rounds)`: allocates and frees blocks of many sizes,
 *   with a peak of about 9 MB, and leaks one 64 KB block per call; returns
 *   the number of blocks allocated.
 */
#define HOT_DECLARE(p)                                \
    uint64_t p##hot_compute(unsigned units);          \
    uint64_t p##hot_calls(unsigned n);                \
    uint64_t p##hot_allocate(unsigned rounds)

#endif /* HOTSPOTS_H */
