/**
 * @file pk/task.h
 * @brief The Python chapter's CPU-bound task, for benchmarks and examples.
 *
 * `cpu_intensive_task(n)` in the Python chapter is `sum(i * i for i in
 * range(n))`. Chapter 00 has students write it; the later chapters need a
 * CPU-bound task to spread over threads and processes, and take this one, so
 * that all of them measure the same work.
 */
#ifndef PK_TASK_H
#define PK_TASK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Sum of i*i for 0 <= i < n, modulo 2^64, computed by a plain loop.
 * @param n one past the last term (Python's range(n)).
 * @return the sum; exact while it fits in 64 bits (n up to 3,810,778).
 *
 * It lives in its own translation unit of libpk, so a caller's optimiser
 * cannot see through it and fold repeated calls away. Costs about n
 * nanoseconds or less (gcc vectorises the loop; clang, which would replace
 * it by its closed form, is kept to the plain loop).
 */
uint64_t pk_cpu_task(uint64_t n);

/** Terms of the practice project's inner sum: `range(1000)`. */
#define PK_PROJECT_INNER 1000

/**
 * @brief The Python chapter's practice-project item, `x*y + sum(i*i for i
 *        in range(1000))`, in the form that cannot be folded away:
 *        x*y + sum of t*t for k < 1000, where t = (k XOR x) mod 2^32.
 * @param x the item's first element (Python's i).
 * @param y the item's second element (Python's 2*i).
 * @return that value modulo 2^64; pk_project_item(0, 0) = 332833500.
 *
 * The literal formula's inner sum does not depend on the item, so a
 * compiler computes it once and a benchmark of it measures nothing; mixing
 * x into every term makes the 1000 multiply-adds per item real work (about
 * 0.15 us per item at -O2 with AVX2). Chapter 07 has students write both
 * forms; the chapters that need the item as a given workload (a process
 * map's performance test, the distributed job) call this one.
 */
uint64_t pk_project_item(uint64_t x, uint64_t y);

#ifdef __cplusplus
}
#endif

#endif /* PK_TASK_H */
