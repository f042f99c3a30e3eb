/**
 * @file dist.h
 * @brief Chapter 08: the job on MPI. Point-to-point messages (a ring, a
 *        ping-pong), the job split statically with scatter / map / gather /
 *        reduce, the same job handed out dynamically by a manager, and what
 *        happens when something fails.
 *
 * Every function here is called by EVERY rank of the communicator, like an
 * MPI collective: the program is the same on every rank (SPMD, "single
 * program, multiple data"), and each rank learns its part from its rank
 * number. Rank DIST_ROOT (0) owns the job's items and receives the results;
 * the other ranks own nothing until a message brings it.
 *
 * **Errors are collective or they are hangs.** If one rank returns early
 * with an error while the others go on into a collective call, those wait
 * forever for it. So every function checks its arguments on every rank,
 * then lets all ranks agree with dist_agree() before the first data message,
 * and returns the same verdict on every rank: 0 everywhere, or -1 with the
 * same errno everywhere. A failing MPI call is not returned: with MPI's
 * default error handler (MPI_ERRORS_ARE_FATAL) it aborts the job itself,
 * and with MPI_ERRORS_RETURN (which the chapter's program sets) its code
 * goes through dist_check(), which reports it and aborts the job. A rank
 * that crashes or exits makes mpirun end the whole job: nothing hangs.
 *
 * The tests run these functions inside the chapter's MPI program
 * (distjob.c), started by mpirun as a child of the test; the test program
 * itself never calls MPI.
 */
#ifndef DIST_H
#define DIST_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "job.h"

/** The rank that owns the items, receives the results and, in the dynamic
 *  map, manages the workers. */
#define DIST_ROOT 0

/** Most OpenMP threads a rank may run in dist_map_static(). */
#define DIST_MAX_THREADS 256

/** Untimed round trips dist_pingpong() makes before it starts the clock. */
#define DIST_PINGPONG_WARMUP 10

/** Tag of a manager-to-worker message that carries a chunk of items. */
#define DIST_TAG_WORK 1
/** Tag of a worker-to-manager message: the results of its last chunk
 *  (empty the first time: "I am ready"). */
#define DIST_TAG_RESULT 2
/** Tag of the manager's last message to a worker: no more work, return. */
#define DIST_TAG_STOP 3

/** How long the manager sleeps between two looks for a message, in
 *  microseconds (see dist_map_dynamic()). */
#define DIST_POLL_US 50

/** Exit status of a job that dist_check() aborted. */
#define DIST_EXIT_MPI 70

/* ---- exercise 2: agreeing, and failing (the other functions use these) ---- */

/**
 * @brief Let every rank learn whether every rank can go on, and if not, the
 *        error they all return: the largest of the ranks' error codes (one
 *        MPI_Allreduce() with MPI_MAX).
 * @param comm the communicator; every rank of it must call.
 * @param err this rank's verdict: 0 when it can go on, else an errno value
 *        (EINVAL for a bad argument, ENOMEM for a failed allocation, ...).
 * @return the largest @p err any rank passed, the same on every rank: 0
 *         when every rank can go on.
 *
 * Call it after the local checks (arguments, allocations) and before the
 * first message that carries data: then either all ranks go on, or all
 * return the same error together and none is left waiting. Example: rank 1
 * cannot allocate its block (ENOMEM) while the root got a NULL pointer
 * (EINVAL): every rank gets EINVAL (22 > 12).
 */
int dist_agree(MPI_Comm comm, int err);

/**
 * @brief Check an MPI call's return code; on failure, report it and end
 *        the whole job.
 * @param comm the communicator the call used (the job that is aborted).
 * @param rc what the MPI call returned.
 * @param what the call, as the message should name it (e.g.
 *        "MPI_Scatterv of the items").
 * @return 0 when @p rc is MPI_SUCCESS. Otherwise it does not return: it
 *         prints "rank R: WHAT failed: <MPI's error string>" on stderr and
 *         calls MPI_Abort(comm, DIST_EXIT_MPI), which makes mpirun kill
 *         every rank and exit with status DIST_EXIT_MPI.
 *
 * Why abort rather than return -1: after a failed MPI call the state of
 * the communication is undefined (a message may be half sent, a collective
 * half done on other ranks), so no rank can safely go on. With MPI's
 * default error handler the call would have aborted the job already;
 * dist_check() matters with MPI_ERRORS_RETURN, where it adds who failed
 * and in which step.
 */
int dist_check(MPI_Comm comm, int rc, const char *what);

/* ---- exercise 3: point to point ---- */

/**
 * @brief Ring pass: every rank sends @p bytes bytes to the next rank,
 *        (rank + 1) % size, and receives as many from the previous one,
 *        (rank - 1 + size) % size.
 * @param comm the communicator; every rank calls, with the same @p bytes.
 * @param send the bytes this rank sends (not modified).
 * @param recv receives the previous rank's bytes; must not overlap @p send.
 * @param bytes the message size, 0 or more. With one rank the message goes
 *        from the rank to itself.
 * @return 0 on every rank, or -1 with errno EINVAL on every rank when some
 *         rank passed a negative size or a NULL buffer with bytes > 0.
 *
 * It must not deadlock for any size. MPI_Send() may return before the
 * message is received (it copies small messages into a buffer, "eager"),
 * or may wait until the receiver has posted its receive (large messages,
 * "rendezvous"). If every rank first sends and then receives, a small
 * message works and a large one hangs: every rank waits in MPI_Send() for
 * a receive that nobody has posted. MPI_Sendrecv() does both at once.
 */
int dist_ring_pass(MPI_Comm comm, const void *send, void *recv, int bytes);

/**
 * @brief Ping-pong between ranks 0 and 1: the latency and bandwidth of one
 *        message of @p bytes bytes (the OSU micro-benchmark's osu_latency).
 * @param comm the communicator, at least 2 ranks; every rank calls (ranks
 *        other than 0 and 1 only take part in the checks).
 * @param bytes the message size, 0 or more.
 * @param reps timed round trips, at least 1, after DIST_PINGPONG_WARMUP
 *        untimed ones.
 * @param one_way_s on rank 0: receives the mean one-way time in seconds,
 *        (time of the @p reps round trips) / (2 * reps). Ignored (may be
 *        NULL) on the other ranks.
 * @return 0 on every rank; or -1 on every rank with errno EINVAL (fewer
 *         than 2 ranks, bytes < 0, reps < 1, one_way_s NULL on rank 0),
 *         ENOMEM (a rank could not allocate its buffer) or EIO (the bytes
 *         that came back differ from the bytes rank 0 sent).
 *
 * Rank 0 sends, rank 1 receives and sends the same bytes back, @p reps
 * times, timed with MPI_Wtime() on rank 0. Small messages measure the
 * latency (the alpha of the cost model alpha + n * beta), large ones the
 * bandwidth (1 / beta = bytes / one-way time).
 */
int dist_pingpong(MPI_Comm comm, int bytes, int reps, double *one_way_s);

/* ---- exercise 4: the job, split statically ---- */

/**
 * @brief The job on every rank: the root scatters the items (rank r gets
 *        the block of split_counts()), every rank maps its block, the
 *        root gathers the results back in input order and the totals are
 *        reduced to it.
 * @param comm the communicator; every rank calls.
 * @param in on DIST_ROOT: the @p n items (not modified). Ignored elsewhere.
 * @param n on DIST_ROOT: the number of items, at least the number of ranks
 *        and at most INT_MAX. Ignored elsewhere: the other ranks learn it
 *        from the root (MPI_Bcast()).
 * @param out on DIST_ROOT: room for @p n results; out[i] = fn(in[i]).
 *        Ignored elsewhere.
 * @param fn the item function, on every rank (each rank passes its own).
 * @param threads OpenMP threads each rank maps its block with, 1 to
 *        DIST_MAX_THREADS (1: no threads; more: "hybrid" MPI + OpenMP;
 *        built without OpenMP the block is mapped on one thread).
 * @param totals on DIST_ROOT: receives the sum, the maximum and the count
 *        of all results, reduced with MPI_Reduce(). Ignored elsewhere.
 * @return 0 on every rank; or -1 on every rank with errno EINVAL (on the
 *         root: in, out or totals NULL, n = 0, n larger than INT_MAX or
 *         smaller than the number of ranks; on any rank: fn NULL, threads
 *         out of range) or ENOMEM (a rank could not allocate its block).
 *
 * Each item is mapped exactly once, on the rank that owns it: rank r maps
 * counts[r] items. The items travel as an MPI datatype of two
 * MPI_UINT64_T (job_item), the results as MPI_UINT64_T.
 */
int dist_map_static(MPI_Comm comm, const job_item *in, size_t n,
                    uint64_t *out, job_fn fn, int threads, job_totals *totals);

/* ---- exercise 5: the job, handed out by a manager ---- */

/**
 * @brief The job with dynamic load balancing: rank DIST_ROOT is the
 *        manager and hands out chunks of items to the other ranks, the
 *        workers, one chunk at a time, to whichever asks first.
 * @param comm the communicator, at least 2 ranks; every rank calls.
 * @param in on the manager: the @p n items. Ignored elsewhere.
 * @param n on the manager: the number of items, at least 1 and at most
 *        INT_MAX. Ignored elsewhere.
 * @param out on the manager: room for @p n results, in input order.
 * @param fn the item function, on every rank (the manager maps nothing).
 * @param chunk on the manager: items per chunk, 0 for split_chunk()'s
 *        automatic size. Ignored elsewhere.
 * @param totals on the manager: receives the totals of all results (each
 *        worker sums what it mapped; MPI_Reduce() brings them together).
 * @return 0 on every rank; or -1 on every rank with errno EINVAL (one
 *         rank only; on the manager: in, out or totals NULL, n = 0 or
 *         larger than INT_MAX; on any rank: fn NULL) or ENOMEM.
 *
 * The protocol, with tags DIST_TAG_*: each worker sends an empty RESULT
 * message ("ready"); the manager answers every RESULT with the next chunk
 * (WORK: up to chunk items, from in + next) or, when every item is handed
 * out, with STOP. A worker maps its chunk, sends its results back (RESULT)
 * and waits for the next message; it returns on STOP. The manager puts each
 * worker's results where that worker's last chunk came from, and returns
 * once every worker got its STOP. Every item is handed out exactly once.
 *
 * The manager spends nearly all its time waiting. MPI_Recv() and
 * MPI_Probe() wait by polling, at 100% of a core, which is right when each
 * rank has a core of its own and wrong when the manager shares a core with
 * a worker (more ranks than cores, as with 3 ranks on 2 cores). So the
 * manager looks for messages with MPI_Iprobe() and sleeps DIST_POLL_US
 * microseconds between two looks.
 */
int dist_map_dynamic(MPI_Comm comm, const job_item *in, size_t n,
                     uint64_t *out, job_fn fn, size_t chunk,
                     job_totals *totals);

#endif /* DIST_H */
