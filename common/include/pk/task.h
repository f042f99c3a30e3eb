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
 * nanoseconds or less (gcc vectorises the loop).
 */
uint64_t pk_cpu_task(uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* PK_TASK_H */
