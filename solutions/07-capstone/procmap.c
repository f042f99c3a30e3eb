/* procmap.c - chapter 07 reference solution: a chunked process map. */
#include "procmap.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CACHE_LINE 64        /* bytes: one counter or slot per line */
#define CHUNKS_PER_WORKER 32 /* automatic chunking */

/* The shared mapping (MAP_SHARED: the children's writes land in the pages
 * the parent reads; MAP_ANONYMOUS: no file behind it):
 *
 *   +---------+---------+-----+--------------+----------------------+
 *   | counter | slot[0] | ... | slot[np - 1] | out[0] ... out[n-1]  |
 *   +---------+---------+-----+--------------+----------------------+
 *     64 B      64 B each                      n * out_size bytes
 *
 * The counter and each slot sit on a cache line of their own, so that a
 * worker's writes do not slow the others down (false sharing). */
typedef struct map_header {
    _Alignas(CACHE_LINE) atomic_size_t next; /* first unclaimed item */
} map_header;

typedef struct worker_slot {
    _Alignas(CACHE_LINE) atomic_int finished; /* 1: every claim done */
} worker_slot;

/* A worker: claim chunks until none is left, then say so and leave.
 * Never returns. */
static void run_worker(map_header *hdr, worker_slot *slot, const char *in,
                       size_t n, size_t in_size, char *shared_out,
                       size_t out_size, pk_map_fn fn, void *ctx,
                       size_t chunk)
{
    for (;;) {
        /* Relaxed is enough: the counter hands out indices, it publishes
         * no data. The results reach the parent through waitpid(). */
        size_t lo = atomic_fetch_add_explicit(&hdr->next, chunk,
                                              memory_order_relaxed);
        if (lo >= n)
            break;
        size_t hi = n - lo < chunk ? n : lo + chunk;
        for (size_t i = lo; i < hi; i++)
            fn(in + i * in_size, shared_out + i * out_size, ctx);
    }
    /* Only a worker that gets here has done all it claimed: one that fn
     * made exit(0) half-way also ends with status 0, but without this. */
    atomic_store_explicit(&slot->finished, 1, memory_order_release);
    _exit(0);
}

/* Wait for pid; 1 if it exited with status 0, else 0. */
static int reap_ok(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return 0;
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int cproc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
              void *out, size_t out_size, pk_map_fn fn, void *ctx,
              size_t chunk)
{
    if (fn == NULL || in_size == 0 || out_size == 0 || nprocs == 0 ||
        nprocs > CPROC_MAX_WORKERS || (n > 0 && (in == NULL || out == NULL))) {
        errno = EINVAL;
        return -1;
    }
    size_t out_offset = sizeof(map_header) + nprocs * sizeof(worker_slot);
    if (SIZE_MAX / in_size < n || (SIZE_MAX - out_offset) / out_size < n) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    if (nprocs > n)
        nprocs = n;
    if (chunk == 0) {
        size_t units = nprocs * CHUNKS_PER_WORKER;
        chunk = (n + units - 1) / units;
    }
    if (chunk > n)
        chunk = n; /* keeps the counter far from wrapping around */

    size_t bytes = out_offset + n * out_size;
    char *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -1;
    /* On the stack, not malloc'ed: a worker whose fn calls exit() would
     * otherwise leave a leak report from its copy (LeakSanitizer, valgrind). */
    pid_t pids[CPROC_MAX_WORKERS];
    map_header *hdr = (map_header *)map;
    worker_slot *slots = (worker_slot *)(map + sizeof *hdr);
    char *shared_out = map + out_offset;
    atomic_init(&hdr->next, 0); /* the mapping is zeroed: all unfinished */

    /* Flush stdio first, or each child would flush its copy of the
     * parent's buffered output again when it exits. (Ours _exit, but fn
     * may call exit.) */
    fflush(NULL);
    size_t started = 0;
    int fork_errno = 0;
    for (; started < nprocs; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            fork_errno = errno;
            break;
        }
        if (pid == 0)
            run_worker(hdr, &slots[started], in, n, in_size, shared_out,
                       out_size, fn, ctx, chunk);
        pids[started] = pid;
    }

    /* If fork failed part-way, the workers that did start share all the
     * work through the counter: fewer processes, same result. */
    int ok = started > 0;
    for (size_t w = 0; w < started; w++) {
        int good = reap_ok(pids[w]) &&
                   atomic_load_explicit(&slots[w].finished,
                                        memory_order_acquire);
        if (!good && ok) {
            /* The map cannot succeed any more: stop the others now rather
             * than let them finish work nobody will read. */
            ok = 0;
            for (size_t v = w + 1; v < started; v++)
                kill(pids[v], SIGKILL);
        }
    }
    if (ok)
        memcpy(out, shared_out, n * out_size);
    munmap(map, bytes);
    if (!ok) {
        errno = started == 0 ? (fork_errno ? fork_errno : EAGAIN) : ECHILD;
        return -1;
    }
    return 0;
}
