/* split.c - chapter 08 reference solution, exercise 1: the arithmetic of
 * the split. No MPI here: the test program calls these directly. */
#include "split.h"

#include <errno.h>
#include <limits.h>

int split_counts(size_t n, int nranks, int *counts, int *displs)
{
    if (counts == NULL || displs == NULL || nranks < 1 ||
        nranks > SPLIT_MAX_RANKS || n > INT_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t base = n / (size_t)nranks;
    size_t extra = n % (size_t)nranks; /* the first `extra` ranks get one more */
    size_t at = 0;

    for (int r = 0; r < nranks; r++) {
        size_t c = base + ((size_t)r < extra ? 1 : 0);
        counts[r] = (int)c;
        displs[r] = (int)at;
        at += c;
    }
    return 0;
}

size_t split_chunk(size_t n, int workers, size_t chunk)
{
    if (chunk > 0)
        return chunk;
    size_t w = workers < 1 ? 1 : (size_t)workers;
    size_t units = w * SPLIT_CHUNKS_PER_WORKER;
    size_t c = n / units + (n % units != 0); /* ceil without overflow */
    return c > 0 ? c : 1;
}
