/* dist.c - chapter 08 reference solution: point-to-point messages, the job
 * split statically (scatter, map, gather, reduce), the job handed out by a
 * manager, and errors that every rank agrees on. */
#include "dist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    int all = 0;

    /* One reduction: the largest error of any rank, on every rank. */
    CHECK(comm, MPI_Allreduce(&err, &all, 1, MPI_INT, MPI_MAX, comm),
          "MPI_Allreduce of the verdicts");
    return all;
}

int dist_check(MPI_Comm comm, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0, rank = -1;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", rc);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "rank %d: %s failed: %s\n", rank,
            what != NULL ? what : "an MPI call", text);
    fflush(stderr);
    /* The job cannot go on: some ranks may be inside a collective call
     * that will never complete. MPI_Abort makes mpirun kill every rank. */
    MPI_Abort(comm == MPI_COMM_NULL ? MPI_COMM_WORLD : comm, DIST_EXIT_MPI);
    _exit(DIST_EXIT_MPI); /* not reached */
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
    int rank, size;
    whoami(comm, &rank, &size);

    int err = bytes < 0 || (bytes > 0 && (send == NULL || recv == NULL)) ? EINVAL : 0;
    err = dist_agree(comm, err);
    if (err != 0) {
        errno = err;
        return -1;
    }
    int next = (rank + 1) % size, prev = (rank - 1 + size) % size;
    /* Send and receive in one call: MPI pairs them so that no rank waits
     * for a receive nobody has posted, whatever the message size. */
    CHECK(comm, MPI_Sendrecv(send, bytes, MPI_BYTE, next, TAG_RING,
                             recv, bytes, MPI_BYTE, prev, TAG_RING, comm,
                             MPI_STATUS_IGNORE), "MPI_Sendrecv around the ring");
    return 0;
}

int dist_pingpong(MPI_Comm comm, int bytes, int reps, double *one_way_s)
{
    int rank, size;
    whoami(comm, &rank, &size);

    int err = size < 2 || bytes < 0 || reps < 1 ||
              (rank == 0 && one_way_s == NULL) ? EINVAL : 0;
    unsigned char *msg = NULL, *back = NULL;
    if (err == 0 && rank <= 1) {
        msg = malloc(bytes > 0 ? (size_t)bytes : 1);
        back = malloc(bytes > 0 ? (size_t)bytes : 1);
        if (msg == NULL || back == NULL)
            err = ENOMEM;
    }
    err = dist_agree(comm, err);
    if (err != 0) {
        free(msg);
        free(back);
        errno = err;
        return -1;
    }

    if (rank == 0)
        for (int i = 0; i < bytes; i++)
            msg[i] = (unsigned char)(i * 7 + 1);
    double t0 = 0;
    for (int i = 0; i < DIST_PINGPONG_WARMUP + reps; i++) {
        if (i == DIST_PINGPONG_WARMUP)
            t0 = MPI_Wtime(); /* the warm-up is done: start the clock */
        if (rank == 0) {
            CHECK(comm, MPI_Send(msg, bytes, MPI_BYTE, 1, TAG_PINGPONG, comm),
                  "MPI_Send of the ping");
            CHECK(comm, MPI_Recv(back, bytes, MPI_BYTE, 1, TAG_PINGPONG, comm,
                                 MPI_STATUS_IGNORE), "MPI_Recv of the pong");
        } else if (rank == 1) {
            CHECK(comm, MPI_Recv(back, bytes, MPI_BYTE, 0, TAG_PINGPONG, comm,
                                 MPI_STATUS_IGNORE), "MPI_Recv of the ping");
            CHECK(comm, MPI_Send(back, bytes, MPI_BYTE, 0, TAG_PINGPONG, comm),
                  "MPI_Send of the pong");
        }
    }
    int bad = 0;
    if (rank == 0) {
        /* a round trip is two messages */
        *one_way_s = (MPI_Wtime() - t0) / (2.0 * reps);
        bad = bytes > 0 && memcmp(msg, back, (size_t)bytes) != 0;
    }
    free(msg);
    free(back);
    err = dist_agree(comm, bad ? EIO : 0);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ======================================================================
 * The pieces both maps share
 * ====================================================================== */

/* job_item as MPI sees it: two uint64_t, one after the other. */
static MPI_Datatype item_type(MPI_Comm comm)
{
    MPI_Datatype t;
    CHECK(comm, MPI_Type_contiguous(2, MPI_UINT64_T, &t), "MPI_Type_contiguous");
    CHECK(comm, MPI_Type_commit(&t), "MPI_Type_commit");
    return t;
}

/* out[i] = fn(in[i]); with threads > 1, OpenMP splits the loop. */
static void map_block(const job_item *in, int count, uint64_t *out,
                      job_fn fn, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int i = 0; i < count; i++)
        out[i] = fn(in[i]);
}

/* Everyone's totals, combined on the root: sum and count add, max is the
 * largest. Two reductions, because they need two operations. */
static void reduce_totals(MPI_Comm comm, job_totals mine, job_totals *all,
                          int rank)
{
    uint64_t sc[2] = {mine.sum, mine.count}, sc_all[2] = {0, 0};
    uint64_t max_all = 0;

    CHECK(comm, MPI_Reduce(sc, sc_all, 2, MPI_UINT64_T, MPI_SUM, DIST_ROOT,
                           comm), "MPI_Reduce of the sums");
    CHECK(comm, MPI_Reduce(&mine.max, &max_all, 1, MPI_UINT64_T, MPI_MAX,
                           DIST_ROOT, comm), "MPI_Reduce of the maxima");
    if (rank == DIST_ROOT) {
        all->sum = sc_all[0];
        all->count = sc_all[1];
        all->max = max_all;
    }
}

/* ======================================================================
 * Exercise 4: the job, split statically
 * ====================================================================== */

int dist_map_static(MPI_Comm comm, const job_item *in, size_t n,
                    uint64_t *out, job_fn fn, int threads, job_totals *totals)
{
    int rank, size;
    whoami(comm, &rank, &size);

    /* The root checks what only it has and tells everyone n; 0 means the
     * root refused the job. */
    unsigned long long nn = 0;
    if (rank == DIST_ROOT && in != NULL && out != NULL && totals != NULL &&
        n >= (size_t)size && n <= INT_MAX)
        nn = n;
    CHECK(comm, MPI_Bcast(&nn, 1, MPI_UNSIGNED_LONG_LONG, DIST_ROOT, comm),
          "MPI_Bcast of n");

    int err = nn == 0 || fn == NULL || threads < 1 ||
              threads > DIST_MAX_THREADS ? EINVAL : 0;
    int *counts = NULL, *displs = NULL;
    job_item *mine = NULL;
    uint64_t *res = NULL;
    if (err == 0) {
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
        if (counts == NULL || displs == NULL)
            err = ENOMEM;
        else if (split_counts(nn, size, counts, displs) != 0)
            err = EINVAL;
    }
    if (err == 0) {
        mine = malloc((size_t)counts[rank] * sizeof *mine);
        res = malloc((size_t)counts[rank] * sizeof *res);
        if (mine == NULL || res == NULL)
            err = ENOMEM;
    }
    err = dist_agree(comm, err); /* all go on, or all return */
    if (err != 0) {
        free(counts);
        free(displs);
        free(mine);
        free(res);
        errno = err;
        return -1;
    }

    MPI_Datatype it = item_type(comm);
    int count = counts[rank];
    CHECK(comm, MPI_Scatterv(in, counts, displs, it, mine, count, it,
                             DIST_ROOT, comm), "MPI_Scatterv of the items");
    map_block(mine, count, res, fn, threads);
    CHECK(comm, MPI_Gatherv(res, count, MPI_UINT64_T, out, counts, displs,
                            MPI_UINT64_T, DIST_ROOT, comm),
          "MPI_Gatherv of the results");
    reduce_totals(comm, job_totals_of(res, (size_t)count), totals, rank);
    CHECK(comm, MPI_Type_free(&it), "MPI_Type_free");
    free(counts);
    free(displs);
    free(mine);
    free(res);
    return 0;
}

/* ======================================================================
 * Exercise 5: the job, handed out by a manager
 * ====================================================================== */

/* Wait for a message with this tag from anyone, without spinning: look
 * with MPI_Iprobe, sleep DIST_POLL_US between looks. */
static void wait_for(MPI_Comm comm, int tag, MPI_Status *st)
{
    const struct timespec nap = {0, DIST_POLL_US * 1000L};
    int flag = 0;

    for (;;) {
        CHECK(comm, MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, &flag, st),
              "MPI_Iprobe for a worker's message");
        if (flag)
            return;
        nanosleep(&nap, NULL);
    }
}

/* The manager: answer every worker's RESULT message with the next chunk,
 * or with STOP when none is left; lo[w] and len[w] say where worker w's
 * current chunk came from, so its results go back to the same place. */
static void manage(MPI_Comm comm, int size, MPI_Datatype it,
                   const job_item *in, size_t n, uint64_t *out, size_t chunk,
                   size_t *lo, int *len)
{
    size_t next = 0;
    int active = size - 1; /* workers that have not had their STOP */

    while (active > 0) {
        MPI_Status st;
        wait_for(comm, DIST_TAG_RESULT, &st);
        int w = st.MPI_SOURCE;
        CHECK(comm, MPI_Recv(out + lo[w], len[w], MPI_UINT64_T, w,
                             DIST_TAG_RESULT, comm, MPI_STATUS_IGNORE),
              "MPI_Recv of a worker's results");
        if (next < n) {
            int k = (int)(n - next < chunk ? n - next : chunk);
            CHECK(comm, MPI_Send(in + next, k, it, w, DIST_TAG_WORK, comm),
                  "MPI_Send of a chunk");
            lo[w] = next;
            len[w] = k;
            next += (size_t)k;
        } else {
            CHECK(comm, MPI_Send(NULL, 0, it, w, DIST_TAG_STOP, comm),
                  "MPI_Send of STOP");
            len[w] = 0;
            active--;
        }
    }
}

/* A worker: say "ready", then map every chunk that comes until STOP. */
static job_totals work(MPI_Comm comm, MPI_Datatype it, job_fn fn, int chunk,
                       job_item *items, uint64_t *res)
{
    job_totals mine = {0, 0, 0};

    CHECK(comm, MPI_Send(NULL, 0, MPI_UINT64_T, DIST_ROOT, DIST_TAG_RESULT,
                         comm), "MPI_Send of ready");
    for (;;) {
        MPI_Status st;
        int k = 0;
        CHECK(comm, MPI_Recv(items, chunk, it, DIST_ROOT, MPI_ANY_TAG, comm,
                             &st), "MPI_Recv of a chunk");
        if (st.MPI_TAG == DIST_TAG_STOP)
            return mine;
        CHECK(comm, MPI_Get_count(&st, it, &k), "MPI_Get_count");
        for (int i = 0; i < k; i++)
            res[i] = fn(items[i]);
        mine = job_totals_add(mine, job_totals_of(res, (size_t)k));
        CHECK(comm, MPI_Send(res, k, MPI_UINT64_T, DIST_ROOT, DIST_TAG_RESULT,
                             comm), "MPI_Send of results");
    }
}

int dist_map_dynamic(MPI_Comm comm, const job_item *in, size_t n,
                     uint64_t *out, job_fn fn, size_t chunk,
                     job_totals *totals)
{
    int rank, size;
    whoami(comm, &rank, &size);

    /* The manager tells everyone n and the chunk size; n = 0: refused. */
    unsigned long long hdr[2] = {0, 0};
    if (rank == DIST_ROOT && in != NULL && out != NULL && totals != NULL &&
        n >= 1 && n <= INT_MAX) {
        size_t c = split_chunk(n, size - 1, chunk);
        hdr[0] = n;
        hdr[1] = c < n ? c : n;
    }
    CHECK(comm, MPI_Bcast(hdr, 2, MPI_UNSIGNED_LONG_LONG, DIST_ROOT, comm),
          "MPI_Bcast of n and the chunk size");

    int err = size < 2 || hdr[0] == 0 || fn == NULL ? EINVAL : 0;
    size_t *lo = NULL;
    int *len = NULL;
    job_item *items = NULL;
    uint64_t *res = NULL;
    if (err == 0 && rank == DIST_ROOT) {
        lo = calloc((size_t)size, sizeof *lo);
        len = calloc((size_t)size, sizeof *len);
        if (lo == NULL || len == NULL)
            err = ENOMEM;
    } else if (err == 0) {
        items = malloc((size_t)hdr[1] * sizeof *items);
        res = malloc((size_t)hdr[1] * sizeof *res);
        if (items == NULL || res == NULL)
            err = ENOMEM;
    }
    err = dist_agree(comm, err);
    if (err != 0) {
        free(lo);
        free(len);
        free(items);
        free(res);
        errno = err;
        return -1;
    }

    MPI_Datatype it = item_type(comm);
    job_totals mine = {0, 0, 0};
    if (rank == DIST_ROOT)
        manage(comm, size, it, in, (size_t)hdr[0], out, (size_t)hdr[1], lo, len);
    else
        mine = work(comm, it, fn, (int)hdr[1], items, res);
    reduce_totals(comm, mine, totals, rank);
    CHECK(comm, MPI_Type_free(&it), "MPI_Type_free");
    free(lo);
    free(len);
    free(items);
    free(res);
    return 0;
}
