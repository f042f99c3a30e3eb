/* ppool.c - a fork-based parallel map with results in shared memory.
 *
 * Layout of the shared mapping: a header (the chunk counter) on its own cache
 * line, then the n output slots. The parent forks the workers, each pulls
 * chunks from the counter and writes results straight into the mapping,
 * then _exit(0)s. The parent reaps every worker; if any died by a signal or
 * exited non-zero it kills the rest, reaps them too and fails with ECHILD.
 * Otherwise it copies the results out and unmaps.
 */
#include "pk/ppool.h"
#include "pk/timing.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 4096
#define CHUNKS_PER_PROC 32 /* automatic chunking: work units per process;
                             enough that the last chunk finishing late
                             costs little (one atomic add per chunk) */
#define HEADER_SIZE 64    /* one cache line for the counter */

typedef struct shared_hdr {
    atomic_size_t next; /* first item of the next unclaimed chunk */
} shared_hdr;

_Static_assert(sizeof(shared_hdr) <= HEADER_SIZE, "header fits a cache line");

/* The body of a worker process. Never returns. */
static void run_worker(shared_hdr *hdr, char *outbuf, const char *in, size_t n,
                       size_t in_size, size_t out_size, pk_map_fn fn,
                       void *ctx, size_t chunk)
{
    for (;;) {
        size_t lo = atomic_fetch_add(&hdr->next, chunk);
        if (lo >= n)
            break;
        size_t hi = n - lo < chunk ? n : lo + chunk;
        for (size_t i = lo; i < hi; i++)
            fn(in + i * in_size, outbuf + i * out_size, ctx);
    }
    _exit(0); /* not exit(): the parent's atexit handlers and stdio buffers
                 belong to the parent */
}

/* Reap pid, retrying on EINTR. Returns 1 if it exited with status 0. */
static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 0;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int pk_ppool_map(size_t nprocs, const void *in, size_t n, size_t in_size,
                 void *out, size_t out_size, pk_map_fn fn, void *ctx,
                 size_t chunk)
{
    if (fn == NULL || in_size == 0 || out_size == 0 || nprocs > MAX_PROCS ||
        (n > 0 && (in == NULL || out == NULL))) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    if (SIZE_MAX / in_size < n || (SIZE_MAX - HEADER_SIZE) / out_size < n) {
        errno = EINVAL;
        return -1;
    }
    if (nprocs == 0)
        nprocs = pk_cpu_count();
    if (nprocs > n)
        nprocs = n;
    if (chunk == 0) {
        size_t units = nprocs * CHUNKS_PER_PROC;
        chunk = (n + units - 1) / units;
    }

    size_t bytes = HEADER_SIZE + n * out_size;
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -1;
    shared_hdr *hdr = map;
    char *outbuf = (char *)map + HEADER_SIZE;
    atomic_init(&hdr->next, 0);

    pid_t *pids = malloc(nprocs * sizeof *pids);
    if (pids == NULL) {
        munmap(map, bytes);
        errno = ENOMEM;
        return -1;
    }

    /* Flush stdio first, or each child would inherit and re-print the
     * parent's unwritten buffer when it exits. */
    fflush(NULL);
    size_t started = 0;
    int fork_errno = 0;
    for (; started < nprocs; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            fork_errno = errno;
            break;
        }
        if (pid == 0) {
            free(pids); /* the parent's bookkeeping; the child never reaps */
            run_worker(hdr, outbuf, in, n, in_size, out_size, fn, ctx, chunk);
        }
        pids[started] = pid;
    }

    /* If fork failed part-way, the workers that did start share all the
     * work through the counter: fewer processes, same result. */
    int ok = started > 0;
    for (size_t i = 0; i < started; i++) {
        if (!reap(pids[i]) && ok) {
            ok = 0;
            /* A worker died: stop the others, then reap them below. */
            for (size_t j = i + 1; j < started; j++)
                kill(pids[j], SIGKILL);
        }
    }
    free(pids);

    if (ok)
        memcpy(out, outbuf, n * out_size);
    munmap(map, bytes);
    if (!ok) {
        errno = started == 0 ? (fork_errno ? fork_errno : EAGAIN) : ECHILD;
        return -1;
    }
    return 0;
}
