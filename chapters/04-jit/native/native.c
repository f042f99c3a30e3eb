/* native.c - the benchmark programs written directly in C. Built with
 * -O2 -fno-tree-vectorize by chapter.mk: the scalar loop a compiler makes,
 * which is what a simple JIT competes with. */
#include "native.h"

int64_t native_sum_squares(int64_t n)
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

int64_t native_count_primes(int64_t n)
{
    int64_t count = n > 2 ? 1 : 0; /* 2 */
    for (int64_t k = 3; k < n; k += 2) {
        int prime = 1;
        for (int64_t d = 3; d * d <= k; d += 2)
            if (k % d == 0) {
                prime = 0;
                break;
            }
        count += prime;
    }
    return count;
}
