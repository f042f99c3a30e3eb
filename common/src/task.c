/* task.c - the chapter's CPU-bound task, kept out of line on purpose. */
#include "pk/task.h"

uint64_t pk_cpu_task(uint64_t n)
{
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++) {
#ifdef __clang__
        /* clang's scalar evolution replaces this loop by the closed form
         * n(n-1)(2n-1)/6, and the task would cost nothing at any n; hiding
         * i from the optimiser keeps the loop (gcc has no such rewrite and
         * vectorises it). */
        __asm__("" : "+r"(i));
#endif
        sum += i * i;
    }
    return sum;
}

uint64_t pk_project_item(uint64_t x, uint64_t y)
{
    uint64_t sum = 0;
    uint32_t x32 = (uint32_t)x; /* t = (k XOR x) mod 2^32 */

    /* XOR is not a polynomial in k, so no closed form exists: the loop
     * really runs (vectorised: four 32x32->64-bit multiplies at a time). */
    for (uint32_t k = 0; k < PK_PROJECT_INNER; k++) {
        uint64_t t = k ^ x32;
        sum += t * t;
    }
    return x * y + sum;
}
