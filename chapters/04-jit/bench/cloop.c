/* cloop.c - the benchmark programs written directly in C. Built with
 * -O2 -fno-tree-vectorize by chapter.mk: the scalar loop a compiler makes,
 * which is what a simple JIT competes with. */
#include "cloop.h"

int64_t cloop_sum_squares(int64_t n)
{
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (uint64_t)i * (uint64_t)i;
        /* An empty asm that "may change s": it stops the optimiser from
         * replacing the loop by the closed form (n-1)n(2n-1)/6, which
         * clang does at -O2. It emits no instruction. */
        __asm__("" : "+r"(s));
    }
    return (int64_t)s;
}

int64_t cloop_count_primes(int64_t n)
{
    /* Exactly the bytecode program's algorithm: every d from 2 while
     * d*d < k+1, so both do the same number of divisions. */
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) {
        int64_t d = 2;
        while (d * d < k + 1 && k % d != 0)
            d++;
        count += d * d >= k + 1;
    }
    return count;
}
