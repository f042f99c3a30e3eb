/* sumsq.c - the sum of i*i for i < n as a loop that stays a loop, whatever
 * the compiler: the baseline of chapter 00's closed-form performance test
 * and the first row of its benchmark.
 *
 * clang -O2 recognises the plain loop and replaces it with the closed form
 * (its loop optimiser computes the value a loop leaves behind); gcc -O3 with
 * AVX2 or AVX-512 vectorises it. Either would make a poor yardstick. The
 * empty asm statement tells the compiler that i may have changed in a way
 * it cannot see, once per iteration: nothing can be precomputed or
 * vectorised, yet it emits no instruction, so the loop is the same six
 * instructions gcc -O2 makes of the plain one.
 *
 * chapter.mk compiles this file more than once, each time under another
 * name: -DSUMSQ_NAME=... */
#include <stdint.h>

#ifndef SUMSQ_NAME
#define SUMSQ_NAME sumsq_loop
#endif

uint64_t SUMSQ_NAME(uint64_t n);

uint64_t SUMSQ_NAME(uint64_t n)
{
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++) {
        __asm__("" : "+r"(i));
        sum += i * i;
    }
    return sum;
}
