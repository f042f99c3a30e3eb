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

#define CHUNKS_PER_WORKER 32  /* automatic chunking: work units per worker */
#define CACHE_LINE 64         /* keep the counter and each slot apart */
#define CHILD_WRITE_FAILED 125 /* exit status of a child whose pipe broke */
#define PAGE_SIZE_MIN 4096     /* prefault() rounds to this; a larger page
                                  size only makes it round further in */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
#endif

/* ======================================================================
 * Small helpers shared by the exercises
 * ====================================================================== */

/* Reap one child, retrying when a signal interrupts the wait (EINTR: a
 * handler installed without SA_RESTART ran while waitpid() slept). Fills
 * st; returns 0, or -1 when the child could not be waited for (st says
 * PROC_NOT_RUN then). */
static int reap_child(pid_t pid, proc_status *st)
{
    (void)pid, (void)st;
    PK_TODO("waitpid(pid, &wstatus, 0) in a loop that retries while it "
            "fails with errno EINTR; then proc_decode_status(wstatus, st)");
    return -1;
}

/* Given (not an exercise): map in the whole pages of [p, p + len) for
 * writing with one system call, instead of one page fault per page as the
 * writes arrive. After a fork the parent's next write to each of its pages
 * faults (copy-on-write), and a child's first write to each page of a
 * fresh shared mapping faults too; a fault costs microseconds, more on a
 * virtual machine. Only a hint: if the kernel cannot, the writes fault as
 * usual. Use it in proc_map() (see the lesson, section 5). */
static void prefault(void *p, size_t len)
{
    uintptr_t lo = ((uintptr_t)p + PAGE_SIZE_MIN - 1) &
                   ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

/* Fork a child joined to the parent by a pipe that only the child can
 * write. In the parent: returns the child's pid and sets *fd to the read
 * end, which reads EOF the moment the child ends, however it ends. In the
 * child: returns 0 and sets *fd to the write end (the read end is closed).
 * On failure: -1 with errno; nothing was forked and nothing is left open.
 * Both exercises start their children here. */
static pid_t spawn_piped(int *fd)
{
    (void)fd;
    PK_TODO("pipe(fds); fflush(NULL); fork(); the child closes fds[0] and "
            "keeps fds[1], the parent closes fds[1] and keeps fds[0]; if "
            "fork fails close both ends");
    return -1;
}

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
    (void)spawn_piped, (void)reap_child;
    PK_TODO("per task: spawn_piped(); the child runs fn, proc_write_all()s "
            "its result and _exit(0)s; the parent later "
            "proc_read_until_eof()s, closes the fd and reap_child()s; keep at "
            "most max_running children, finishing the oldest first");
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

/* The shared mapping: the chunk counter and the count of finished items on
 * a cache line of their own, one progress slot per worker, then the output
 * array.
 *
 *   +------------+-------------+-----+----------------+---------------------+
 *   | next, done | progress[0] | ... | progress[np-1] | out[0] ... out[n-1] |
 *   +------------+-------------+-----+----------------+---------------------+
 *     64 B         64 B each                            n * out_size bytes
 */
typedef struct map_header {
    _Alignas(CACHE_LINE) atomic_size_t next; /* first unclaimed item */
    atomic_size_t done; /* items whose results are written */
} map_header;

_Static_assert(sizeof(map_header) == CACHE_LINE, "header on one line");
_Static_assert(sizeof(proc_progress) == CACHE_LINE, "one slot per line");

int proc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
             void *out, size_t out_size, pk_map_fn fn, void *ctx,
             size_t chunk, proc_crash *crash)
{
    (void)nprocs, (void)in, (void)n, (void)in_size, (void)out,
        (void)out_size, (void)fn, (void)ctx, (void)chunk, (void)crash;
    (void)prefault;
    PK_TODO("mmap(MAP_SHARED | MAP_ANONYMOUS) the layout above; start nprocs "
            "workers with spawn_piped() that loop on proc_claim_chunk(), "
            "store each item in their progress slot, call fn into the shared "
            "output, add each finished chunk to done and _exit(0); then "
            "proc_reap_workers() (or, before exercise 3, reap_child() each); "
            "copy the results out (after prefault(out, ...)) only if done == "
            "n, else ECHILD with crash "
            "naming the item of a slot that never went back to "
            "PROC_NO_ITEM; munmap");
    return -1;
}

/* ======================================================================
 * Exercise 3: crash handling
 * ====================================================================== */

int proc_reap_workers(proc_worker *w, size_t nworkers, proc_crash *crash)
{
    (void)w, (void)nworkers, (void)crash;
    PK_TODO("poll() the workers' fds (retry on EINTR); on EOF close the fd "
            "and reap_child() that worker; at the first failure SIGKILL the "
            "ones still running; blame the lowest progress item of a worker "
            "that died by itself");
    return -1;
}
