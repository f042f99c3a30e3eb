/* dist.c - chapter 08 exercises 2 to 5: MPI. Replace each PK_TODO with
 * real code; dist.h says exactly what each function must do, and the lesson
 * (README.md) says in which order to write them. `make grade
 * CH=08-distributed` builds this file into the chapter's MPI program
 * (distjob.c) and runs it with mpirun. */
#include "dist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pk/todo.h"
#include "split.h"

/* Every MPI call's return code goes through dist_check(). */
#define CHECK(comm, call, what) dist_check((comm), (call), (what))

#define TAG_RING 7       /* the ring's messages */
#define TAG_PINGPONG 8   /* the ping-pong's messages */

/* ======================================================================
 * Exercise 2: agreeing, and failing
 * ====================================================================== */

int dist_agree(MPI_Comm comm, int err)
{
    (void)comm, (void)err;
    PK_TODO("one MPI_Allreduce of err with MPI_MAX (through CHECK); return "
            "the result");
    return -1;
}

int dist_check(MPI_Comm comm, int rc, const char *what)
{
    (void)comm, (void)rc, (void)what;
    PK_TODO("return 0 for MPI_SUCCESS; else MPI_Error_string(rc, ...), print "
            "\"rank R: WHAT failed: TEXT\" on stderr, fflush, "
            "MPI_Abort(comm, DIST_EXIT_MPI)");
    return -1;
}

/* rank and size of comm, through dist_check(). */
static void whoami(MPI_Comm comm, int *rank, int *size)
{
    CHECK(comm, MPI_Comm_rank(comm, rank), "MPI_Comm_rank");
    CHECK(comm, MPI_Comm_size(comm, size), "MPI_Comm_size");
}

/* ======================================================================
 * Exercise 3: point to point
 * ====================================================================== */

int dist_ring_pass(MPI_Comm comm, const void *send, void *recv, int bytes)
{
    (void)comm, (void)send, (void)recv, (void)bytes, (void)whoami;
    PK_TODO("check the arguments, dist_agree(); then send to (rank + 1) % "
            "size and receive from (rank - 1 + size) % size in ONE "
            "MPI_Sendrecv (a send then a receive on every rank hangs on "
            "large messages)");
    return -1;
}

int dist_pingpong(MPI_Comm comm, int bytes, int reps, double *one_way_s)
{
    (void)comm, (void)bytes, (void)reps, (void)one_way_s;
    PK_TODO("check, allocate on ranks 0 and 1, dist_agree(); "
            "DIST_PINGPONG_WARMUP + reps round trips (rank 0 sends then "
            "receives, rank 1 receives then sends back), the clock "
            "(MPI_Wtime) started after the warm-up; one way = time / (2 * "
            "reps); EIO if the bytes that came back differ");
    return -1;
}

/* ======================================================================
 * The pieces both maps share
 * ====================================================================== */

/* job_item as MPI sees it: two uint64_t, one after the other. */
static MPI_Datatype item_type(MPI_Comm comm)
{
    (void)comm;
    PK_TODO("MPI_Type_contiguous(2, MPI_UINT64_T, &t), MPI_Type_commit(&t)");
    return MPI_DATATYPE_NULL;
}

/* out[i] = fn(in[i]); with threads > 1, OpenMP splits the loop (chapter
 * 05's parallel for, inside one rank: "hybrid" MPI + OpenMP). */
static void map_block(const job_item *in, int count, uint64_t *out,
                      job_fn fn, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int i = 0; i < count; i++)
        out[i] = fn(in[i]);
}

/* Everyone's totals, combined on the root: sum and count add, max is the
 * largest. */
static void reduce_totals(MPI_Comm comm, job_totals mine, job_totals *all,
                          int rank)
{
    (void)comm, (void)mine, (void)all, (void)rank;
    PK_TODO("MPI_Reduce of {sum, count} with MPI_SUM and of max with "
            "MPI_MAX, both to DIST_ROOT; the root fills *all");
}

/* ======================================================================
 * Exercise 4: the job, split statically
 * ====================================================================== */

int dist_map_static(MPI_Comm comm, const job_item *in, size_t n,
                    uint64_t *out, job_fn fn, int threads, job_totals *totals)
{
    (void)comm, (void)in, (void)n, (void)out, (void)fn, (void)threads,
        (void)totals, (void)item_type, (void)map_block, (void)reduce_totals;
    PK_TODO("the root checks its arguments and MPI_Bcast()s n (0: refused); "
            "every rank checks fn and threads, split_counts(), allocates its "
            "block, dist_agree(); then MPI_Scatterv, map_block, "
            "MPI_Gatherv, reduce_totals, free");
    return -1;
}

/* ======================================================================
 * Exercise 5: the job, handed out by a manager
 * ====================================================================== */

/* Wait for a message with this tag from anyone, without spinning. */
static void wait_for(MPI_Comm comm, int tag, MPI_Status *st)
{
    (void)comm, (void)tag, (void)st;
    PK_TODO("loop: MPI_Iprobe(MPI_ANY_SOURCE, tag, ...); return when it "
            "found one, else nanosleep DIST_POLL_US microseconds");
}

/* The manager: answer every worker's RESULT message with the next chunk,
 * or with STOP when none is left; lo[w] and len[w] say where worker w's
 * current chunk came from. */
static void manage(MPI_Comm comm, int size, MPI_Datatype it,
                   const job_item *in, size_t n, uint64_t *out, size_t chunk,
                   size_t *lo, int *len)
{
    (void)comm, (void)size, (void)it, (void)in, (void)n, (void)out,
        (void)chunk, (void)lo, (void)len, (void)wait_for;
    PK_TODO("until every worker had its STOP: wait_for a RESULT, receive it "
            "into out + lo[w] (len[w] results), send the next chunk (WORK) "
            "or STOP");
}

/* A worker: say "ready", then map every chunk that comes until STOP. */
static job_totals work(MPI_Comm comm, MPI_Datatype it, job_fn fn, int chunk,
                       job_item *items, uint64_t *res)
{
    job_totals mine = {0, 0, 0};
    (void)comm, (void)it, (void)fn, (void)chunk, (void)items, (void)res;
    PK_TODO("send an empty RESULT; loop: receive from the root with "
            "MPI_ANY_TAG; STOP ends; else MPI_Get_count, map, add to mine, "
            "send the results back");
    return mine;
}

int dist_map_dynamic(MPI_Comm comm, const job_item *in, size_t n,
                     uint64_t *out, job_fn fn, size_t chunk,
                     job_totals *totals)
{
    (void)comm, (void)in, (void)n, (void)out, (void)fn, (void)chunk,
        (void)totals, (void)manage, (void)work;
    PK_TODO("the manager checks and MPI_Bcast()s {n, split_chunk(...)} "
            "(n = 0: refused); check size >= 2 and fn, allocate (manager: lo "
            "and len per rank; workers: one chunk of items and results), "
            "dist_agree(); manage() or work(); reduce_totals; free");
    return -1;
}
