/**
 * @file cloop.h
 * @brief Chapter 04 benchmark: the loops of the benchmark programs written
 *        in C, compiled with -O2 -fno-tree-vectorize (see chapter.mk).
 */
#ifndef JIT_CLOOP_H
#define JIT_CLOOP_H

#include <stdint.h>

/**
 * @brief Sum of i*i for 0 <= i < n, wrapping modulo 2^64, as one scalar loop.
 * @param n one past the last term.
 * @return the same value as the sum-of-squares bytecode program.
 */
int64_t cloop_sum_squares(int64_t n);

/**
 * @brief Number of primes below n by trial division (every divisor d from
 *        2 while d*d < k+1), the same algorithm as the bytecode program.
 * @param n upper bound (exclusive).
 * @return the count.
 */
int64_t cloop_count_primes(int64_t n);

#endif /* JIT_CLOOP_H */
