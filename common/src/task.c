/* task.c - the chapter's CPU-bound task, kept out of line on purpose. */
#include "pk/task.h"

uint64_t pk_cpu_task(uint64_t n)
{
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++)
        sum += i * i;
    return sum;
}
