/**
 * @file split.h
 * @brief Chapter 08, exercise 1: who gets which items. The arithmetic of
 *        a distributed map, with no MPI in it (the tests call it directly).
 *
 * MPI_Scatterv() sends rank r the items displs[r] .. displs[r] + counts[r]
 * - 1 of the root's array, and MPI_Gatherv() puts rank r's results back at
 * the same place. Both take the two arrays this module computes. The
 * manager/worker exercise hands out chunks whose size split_chunk() picks.
 *
 * Nothing here calls MPI: the test program, which is not an MPI program,
 * calls these functions itself.
 */
#ifndef SPLIT_H
#define SPLIT_H

#include <stddef.h>

/** Most ranks any function of the chapter accepts. */
#define SPLIT_MAX_RANKS 4096

/** Automatic chunking: about this many chunks per worker. */
#define SPLIT_CHUNKS_PER_WORKER 16

/**
 * @brief Split @p n items into @p nranks contiguous blocks as evenly as
 *        possible: the first n % nranks ranks get one item more.
 * @param n items to split; 0 gives every rank 0 items. At most INT_MAX,
 *        since MPI's counts and displacements are int.
 * @param nranks ranks, 1 to SPLIT_MAX_RANKS.
 * @param counts receives @p nranks counts: counts[r] = n / nranks +
 *        (r < n % nranks ? 1 : 0).
 * @param displs receives @p nranks displacements: displs[0] = 0,
 *        displs[r] = displs[r - 1] + counts[r - 1], so the blocks follow
 *        each other in input order.
 * @return 0, or -1 with errno EINVAL (counts or displs NULL, nranks out of
 *         range, n > INT_MAX); nothing is written then.
 *
 * Example: 10 items on 4 ranks give counts {3, 3, 2, 2} and displs
 * {0, 3, 6, 8}. Giving the whole remainder to the last rank instead
 * ({2, 2, 2, 4}) makes that rank the slowest: with p ranks it can have
 * p - 1 items more than the others.
 */
int split_counts(size_t n, int nranks, int *counts, int *displs);

/**
 * @brief The chunk size a manager hands out: @p chunk when it is not 0,
 *        else about SPLIT_CHUNKS_PER_WORKER chunks per worker.
 * @param n items in the whole job.
 * @param workers worker ranks; less than 1 counts as 1.
 * @param chunk the size asked for; 0 means automatic.
 * @return @p chunk if it is not 0; otherwise ceil(n / (workers *
 *         SPLIT_CHUNKS_PER_WORKER)), and at least 1.
 *
 * A chunk costs one message each way, a few microseconds; small chunks
 * balance better at the end of the job, big ones pay that cost less often.
 */
size_t split_chunk(size_t n, int workers, size_t chunk);

#endif /* SPLIT_H */
