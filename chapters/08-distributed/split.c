/* split.c - chapter 08, exercise 1: the arithmetic of the split. Replace
 * each PK_TODO with real code; split.h says exactly what each function
 * must do. No MPI here: the test program calls these directly. */
#include "split.h"

#include <errno.h>
#include <limits.h>

#include "pk/todo.h"

int split_counts(size_t n, int nranks, int *counts, int *displs)
{
    (void)n, (void)nranks, (void)counts, (void)displs;
    PK_TODO("check the arguments (EINVAL); then counts[r] = n / nranks + "
            "(r < n % nranks), and displs[r] = the sum of the counts before r");
    return -1;
}

size_t split_chunk(size_t n, int workers, size_t chunk)
{
    (void)n, (void)workers, (void)chunk;
    PK_TODO("return chunk if it is not 0, else ceil(n / (workers * "
            "SPLIT_CHUNKS_PER_WORKER)), at least 1");
    errno = ENOSYS;
    return 0;
}
