/* processes.c - chapter 02 exercises. Replace each PK_TODO with real code;
 * processes.h says exactly what each function must do, and the lesson
 * (README.md) says in which order to write them. `make grade
 * CH=02-processes` tells you how far you are. */
#include "processes.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipe_io.h"
#include "pk/todo.h"

#define CHUNKS_PER_WORKER 8   /* automatic chunking: work units per worker */
#define CACHE_LINE 64         /* keep the counter and each slot apart */
#define CHILD_WRITE_FAILED 125 /* exit status of a child whose pipe broke */

/* ======================================================================
 * Exercise 1: one process per task
 * ====================================================================== */

int proc_decode_status(int wstatus, proc_status *out)
{
    (void)wstatus, (void)out;
    PK_TODO("use WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG to fill out; "
            "a stopped child (neither) is EINVAL");
    return -1;
}

int proc_run_each(const void *in, size_t n, size_t in_size, void *out,
                  size_t out_size, pk_map_fn fn, void *ctx,
                  size_t max_running, proc_status *status)
{
    (void)in, (void)n, (void)in_size, (void)out, (void)out_size, (void)fn,
        (void)ctx, (void)max_running, (void)status;
    PK_TODO("per task: pipe(), fork(); the child runs fn, proc_write_all()s its "
            "result and _exit(0)s; the parent closes the write end, later "
            "proc_read_until_eof()s and waitpid()s; keep at most max_running "
            "children, finishing the oldest first");
    return -1;
}

/* ======================================================================
 * Exercise 2: a chunked map over a fixed set of workers
 * ====================================================================== */

int proc_claim_chunk(atomic_size_t *next, size_t n, size_t chunk, size_t *lo,
                     size_t *hi)
{
    (void)next, (void)n, (void)chunk, (void)lo, (void)hi;
    PK_TODO("one atomic_fetch_add(next, chunk) gives the chunk's start; "
            "return 0 when it is past n, else set [lo, hi) and return 1");
    return -1;
}

/* The shared mapping: the counter on its own cache line, one progress slot
 * per worker, then the output array.
 *
 *   +---------+-------------+-----+-----------------+----------------------+
 *   | counter | progress[0] | ... | progress[np-1]  | out[0] ... out[n-1]  |
 *   +---------+-------------+-----+-----------------+----------------------+
 *     64 B      64 B each                             n * out_size bytes
 */
typedef struct map_header {
    _Alignas(CACHE_LINE) atomic_size_t next;
} map_header;

_Static_assert(sizeof(map_header) == CACHE_LINE, "counter on one line");
_Static_assert(sizeof(proc_progress) == CACHE_LINE, "one slot per line");

int proc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
             void *out, size_t out_size, pk_map_fn fn, void *ctx,
             size_t chunk, proc_crash *crash)
{
    (void)nprocs, (void)in, (void)n, (void)in_size, (void)out,
        (void)out_size, (void)fn, (void)ctx, (void)chunk, (void)crash;
    PK_TODO("mmap(MAP_SHARED | MAP_ANONYMOUS) the layout above; fork nprocs "
            "workers (each with a pipe) that loop on proc_claim_chunk(), "
            "store each item in their progress slot, call fn into the shared "
            "output and _exit(0); then proc_reap_workers() (or, before "
            "exercise 3, waitpid() each), copy the results out, munmap");
    return -1;
}

/* ======================================================================
 * Exercise 3: crash handling
 * ====================================================================== */

int proc_reap_workers(proc_worker *w, size_t nworkers, proc_crash *crash)
{
    (void)w, (void)nworkers, (void)crash;
    PK_TODO("poll() the workers' fds; on EOF close the fd and waitpid() that "
            "worker; at the first failure SIGKILL the ones still running; "
            "blame the lowest progress item of a worker that died by itself");
    return -1;
}
