/* ppool.c - a fork-based parallel map with results in shared memory.
 *
 * Layout of the shared mapping: a header (the chunk counter and the count of
 * items done) on its own cache line, then the n output slots. The parent
 * forks the workers, each pulls chunks from the counter, writes results
 * straight into the mapping, adds each finished chunk to the done count,
 * then _exit(0)s.
 *
 * The parent waits for its workers all at once (a pidfd per worker, polled
 * together), so a worker that dies is seen at once, whatever the others are
 * doing: the rest are killed and reaped, and the map fails with ECHILD.
 * Exit statuses alone do not prove that the work was done: fn may call
 * exit(0) half-way through a chunk. So a map succeeds only when every worker
 * exited with 0 AND the done count reached n; only then are the results
 * copied out. A failed map leaves out untouched, so the kept mapping (below)
 * can never hand a previous map's results to the caller.
 *
 * The shared mapping is kept for the next call (the arena), up to
 * ARENA_MAX bytes: allocating and zeroing fresh shared pages, faulting them
 * into the parent for the copy and freeing them again cost about as much as
 * the rest of a map of small items together (12 ms -> 6 ms for 10^6 int64 on
 * the course machine). One call at a time uses it; a concurrent call from
 * another thread, or a map too big for it, gets a mapping of its own.
 */
#include "pk/ppool.h"
#include "pk/proc.h"
#include "pk/timing.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 4096
#define CHUNKS_PER_PROC 32 /* automatic chunking: work units per process;
                             enough that the last chunk finishing late
                             costs little (one atomic add per chunk) */
#define HEADER_SIZE 64    /* one cache line for the counter */
#define ARENA_MAX ((size_t)64 << 20) /* largest shared mapping kept between
                                        calls (8 million int64 results) */
#define HUGE_PAGE ((size_t)2 << 20) /* x86-64's transparent huge page */
#define PAGE_SIZE_MIN 4096 /* pre-faulting rounds to this; a bigger page
                              size only makes it round further in */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
#endif
#define POLL_FALLBACK_MS 5 /* without pidfds (Linux < 5.3): how often the
                              parent looks for a dead worker */

static pthread_mutex_t arena_mu = PTHREAD_MUTEX_INITIALIZER;
static void *arena;        /* the kept mapping, or NULL; under arena_mu */
static size_t arena_bytes; /* its size */

typedef struct shared_hdr {
    atomic_size_t next; /* first item of the next unclaimed chunk */
    atomic_size_t done; /* items whose results are written */
} shared_hdr;

_Static_assert(sizeof(shared_hdr) <= HEADER_SIZE, "header fits a cache line");

/* Fault in the whole pages of [p, p + len) for writing with one system
 * call, instead of one page fault per page as the writes arrive. Only a
 * hint: if the kernel cannot, the writes fault as usual. */
static void prefault(void *p, size_t len)
{
    uintptr_t lo = ((uintptr_t)p + PAGE_SIZE_MIN - 1) & ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(PAGE_SIZE_MIN - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

/* A shared mapping of at least `bytes`: the arena if it is free and big
 * enough (or can be grown), else a new one. *from_arena says which, for
 * release_mapping(). MAP_FAILED on failure. */
static void *get_mapping(size_t bytes, int *from_arena)
{
    *from_arena = 0;
    if (bytes <= ARENA_MAX && pthread_mutex_trylock(&arena_mu) == 0) {
        if (arena_bytes < bytes) {
            if (arena != NULL)
                munmap(arena, arena_bytes);
            arena = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            arena_bytes = arena == MAP_FAILED ? 0 : bytes;
            if (arena == MAP_FAILED)
                arena = NULL;
        }
        if (arena != NULL) {
            *from_arena = 1;
            return arena; /* arena_mu stays locked until release_mapping() */
        }
        pthread_mutex_unlock(&arena_mu);
    }
    return mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

static void release_mapping(void *map, size_t bytes, int from_arena)
{
    if (from_arena)
        pthread_mutex_unlock(&arena_mu);
    else
        munmap(map, bytes);
}

void pk_ppool_release(void)
{
    pthread_mutex_lock(&arena_mu);
    if (arena != NULL)
        munmap(arena, arena_bytes);
    arena = NULL;
    arena_bytes = 0;
    pthread_mutex_unlock(&arena_mu);
}

static size_t huge_round(size_t bytes)
{
    return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

void *pk_ppool_alloc(size_t bytes)
{
    if (bytes == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (bytes > SIZE_MAX - 2 * HUGE_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    /* Map one huge page more than needed and trim both ends, so that the
     * start is 2 MiB-aligned: the kernel can only use huge pages for
     * aligned 2 MiB ranges. */
    size_t len = huge_round(bytes);
    char *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = (char *)huge_round((uintptr_t)raw);
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    munmap(p + len, (size_t)(raw + HUGE_PAGE - p)); /* p - raw < HUGE_PAGE */
    /* A hint: with THP set to "never" the pages stay 4 KiB, and that is
     * only slower. */
    (void)madvise(p, len, MADV_HUGEPAGE);
    return p;
}

void pk_ppool_free(void *p, size_t bytes)
{
    if (p != NULL && bytes > 0)
        munmap(p, huge_round(bytes));
}

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
        /* The arena's pages exist, but not in this child's page tables
         * (fork does not copy those of shared mappings): map them in. */
        prefault(outbuf + lo * out_size, (hi - lo) * out_size);
        for (size_t i = lo; i < hi; i++)
            fn(in + i * in_size, outbuf + i * out_size, ctx);
        atomic_fetch_add_explicit(&hdr->done, hi - lo, memory_order_release);
    }
    _exit(0); /* not exit(): the parent's atexit handlers and stdio buffers
                 belong to the parent */
}

typedef struct worker {
    pid_t pid;
    int pidfd; /* -1 when pidfd_open is not available */
    int live;  /* not reaped yet */
} worker;

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Reap w if it has exited. Returns 1 if it was reaped with exit status 0,
 * -1 if it died any other way (or cannot be waited for), 0 if it runs on. */
static int try_reap(worker *w)
{
    int status;
    pid_t r = pk_waitpid(w->pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    w->live = 0;
    if (w->pidfd >= 0)
        close(w->pidfd);
    return r == w->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
}

/* Wait for every worker. Returns 0 if all exited with status 0; as soon as
 * one has not, kills the others, reaps them and returns -1. With pidfds the
 * parent sleeps in poll() until some worker exits; without them it looks
 * every POLL_FALLBACK_MS. */
static int reap_all(worker *ws, struct pollfd *pfds, size_t n)
{
    size_t live = n;
    int failed = 0;

    while (live > 0 && !failed) {
        size_t np = 0;
        int all_fds = 1;
        for (size_t i = 0; i < n; i++) {
            if (!ws[i].live)
                continue;
            if (ws[i].pidfd < 0)
                all_fds = 0;
            else
                pfds[np++] = (struct pollfd){.fd = ws[i].pidfd, .events = POLLIN};
        }
        if (poll(pfds, np, all_fds ? -1 : POLL_FALLBACK_MS) < 0 && errno != EINTR)
            all_fds = 0; /* cannot sleep on them: fall back to looking */
        for (size_t i = 0; i < n && !failed; i++) {
            if (!ws[i].live)
                continue;
            int r = try_reap(&ws[i]);
            if (r != 0)
                live--;
            if (r < 0)
                failed = 1;
        }
    }
    if (!failed)
        return 0;
    /* A worker died: stop the others now, then reap them (SIGKILL cannot be
     * caught, so this wait is short). */
    for (size_t i = 0; i < n; i++)
        if (ws[i].live)
            kill(ws[i].pid, SIGKILL);
    for (size_t i = 0; i < n; i++) {
        if (!ws[i].live)
            continue;
        pk_waitpid(ws[i].pid, NULL, 0);
        ws[i].live = 0;
        if (ws[i].pidfd >= 0)
            close(ws[i].pidfd);
    }
    return -1;
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
    int from_arena;
    void *map = get_mapping(bytes, &from_arena);
    if (map == MAP_FAILED)
        return -1;
    shared_hdr *hdr = map;
    char *outbuf = (char *)map + HEADER_SIZE;
    atomic_init(&hdr->next, 0);
    atomic_init(&hdr->done, 0);

    /* The workers' bookkeeping and poll()'s array, in one allocation. */
    worker *ws = malloc(nprocs * (sizeof *ws + sizeof(struct pollfd)));
    if (ws == NULL) {
        release_mapping(map, bytes, from_arena);
        errno = ENOMEM;
        return -1;
    }
    struct pollfd *pfds = (struct pollfd *)(ws + nprocs);

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
            /* The parent's bookkeeping; the child never reaps. */
            for (size_t i = 0; i < started; i++)
                if (ws[i].pidfd >= 0)
                    close(ws[i].pidfd);
            free(ws);
            run_worker(hdr, outbuf, in, n, in_size, out_size, fn, ctx, chunk);
        }
        /* pid cannot be reaped and reused before this: it is our child. */
        ws[started] = (worker){.pid = pid, .pidfd = pidfd_open_(pid), .live = 1};
    }

    /* If fork failed part-way, the workers that did start share all the
     * work through the counter: fewer processes, same result. Success needs
     * every item accounted for, not only clean exits (see the top). */
    int ok = started > 0 && reap_all(ws, pfds, started) == 0 &&
             atomic_load_explicit(&hdr->done, memory_order_acquire) == n;
    free(ws);

    if (ok) {
        /* out's pages were shared copy-on-write with the children: the
         * copy would take a write fault on each of them. */
        prefault(out, n * out_size);
        memcpy(out, outbuf, n * out_size);
    }
    release_mapping(map, bytes, from_arena);
    if (!ok) {
        errno = started == 0 ? (fork_errno ? fork_errno : EAGAIN) : ECHILD;
        return -1;
    }
    return 0;
}
