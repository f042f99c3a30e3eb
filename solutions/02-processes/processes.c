/* processes.c - chapter 02 reference solution: fork, pipes, shared memory and
 * a chunked process map. processes.h is the contract; the lesson
 * (chapters/02-processes/README.md) explains every choice made here. */
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
    int wstatus;

    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            st->end = PROC_NOT_RUN;
            st->code = 0;
            st->complete = 0;
            return -1;
        }
    }
    return proc_decode_status(wstatus, st);
}

/* Map in the whole pages of [p, p + len) for writing with one system call,
 * instead of one page fault per page as the writes arrive. After a fork the
 * parent's next write to each of its pages faults (copy-on-write), and a
 * child's first write to each page of a fresh shared mapping faults too; a
 * fault costs microseconds, more on a virtual machine. Only a hint: if the
 * kernel cannot, the writes fault as usual. */
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
    int fds[2];

    if (pipe(fds) < 0)
        return -1;
    /* Flush stdio first, or the child inherits the unwritten buffers (and
     * a child that called exit() would write them a second time). */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        *fd = fds[1];
        return 0;
    }
    /* The parent must close its write end: while any copy of it is open,
     * the read end never sees EOF. It also keeps later children from
     * inheriting it. */
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/* ======================================================================
 * Exercise 1: one process per task
 * ====================================================================== */

int proc_decode_status(int wstatus, proc_status *out)
{
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    out->complete = 0;
    if (WIFEXITED(wstatus)) {
        out->end = PROC_EXITED;
        out->code = WEXITSTATUS(wstatus);
        return 0;
    }
    if (WIFSIGNALED(wstatus)) {
        out->end = PROC_KILLED;
        out->code = WTERMSIG(wstatus);
        return 0;
    }
    /* Stopped or continued: the child is still alive. */
    out->end = PROC_NOT_RUN;
    out->code = 0;
    errno = EINVAL;
    return -1;
}

/* A task running in the parent's view: its child and the pipe's read end. */
typedef struct running_task {
    size_t index;
    pid_t pid;
    int fd;
} running_task;

/* The body of a task's child: compute into the child's own copy of the out
 * slot, send those bytes, leave. Never returns. _exit, not exit: exit() would
 * run the parent's atexit handlers and flush the parent's unwritten stdio
 * buffers a second time. */
static void run_task_child(const char *in, size_t in_size, char *out,
                           size_t out_size, pk_map_fn fn, void *ctx, size_t i,
                           int fd)
{
    char *slot = out + i * out_size; /* copy-on-write: the parent's stays */

    fn(in + i * in_size, slot, ctx);
    _exit(proc_write_all(fd, slot, out_size) == 0 ? 0 : CHILD_WRITE_FAILED);
}

/* Collect one task: read its result until EOF (the child closed the pipe by
 * exiting), then reap the child. Returns 1 when the task succeeded. */
static int finish_task(const running_task *t, char *out, size_t out_size,
                       proc_status *status)
{
    proc_status st = {PROC_NOT_RUN, 0, 0};
    ssize_t got = proc_read_until_eof(t->fd, out + t->index * out_size, out_size);

    close(t->fd);
    reap_child(t->pid, &st);
    st.complete = got == (ssize_t)out_size;
    if (status != NULL)
        status[t->index] = st;
    return st.end == PROC_EXITED && st.code == 0 && st.complete;
}

int proc_run_each(const void *in, size_t n, size_t in_size, void *out,
                  size_t out_size, pk_map_fn fn, void *ctx,
                  size_t max_running, proc_status *status)
{
    if (fn == NULL || in_size == 0 || out_size == 0 || max_running == 0 ||
        max_running > PROC_MAX_WORKERS ||
        (n > 0 && (in == NULL || out == NULL)) || SIZE_MAX / in_size < n ||
        SIZE_MAX / out_size < n) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    if (max_running > n)
        max_running = n;

    /* The bookkeeping lives on the stack, not the heap: every child gets a
     * copy of the parent's heap, and a block a child can no longer reach is
     * a leak to valgrind, which checks each child as it exits. */
    running_task ring[PROC_MAX_WORKERS];
    if (status != NULL)
        for (size_t i = 0; i < n; i++)
            status[i] = (proc_status){PROC_NOT_RUN, 0, 0};

    /* A window of at most max_running children, oldest first: when it is
     * full, finish the oldest before starting the next. */
    size_t head = 0, count = 0, started = 0, failed = 0;
    int setup_errno = 0;
    for (; started < n; started++) {
        if (count == max_running) {
            failed += !finish_task(&ring[head], out, out_size, status);
            head = (head + 1) % max_running;
            count--;
        }
        int fd;
        pid_t pid = spawn_piped(&fd);
        if (pid < 0) {
            setup_errno = errno;
            break;
        }
        if (pid == 0)
            run_task_child(in, in_size, out, out_size, fn, ctx, started, fd);
        ring[(head + count) % max_running] = (running_task){started, pid, fd};
        count++;
    }
    while (count > 0) {
        failed += !finish_task(&ring[head], out, out_size, status);
        head = (head + 1) % max_running;
        count--;
    }
    if (setup_errno != 0) {
        errno = setup_errno;
        return -1;
    }
    if (failed > 0) {
        errno = ECHILD;
        return -1;
    }
    return 0;
}

/* ======================================================================
 * Exercise 2: a chunked map over a fixed set of workers
 * ====================================================================== */

int proc_claim_chunk(atomic_size_t *next, size_t n, size_t chunk, size_t *lo,
                     size_t *hi)
{
    if (next == NULL || lo == NULL || hi == NULL || chunk == 0) {
        errno = EINVAL;
        return -1;
    }
    /* Relaxed is enough: the counter hands out indices, it publishes no
     * data. The results become visible to the parent through waitpid(). */
    size_t start = atomic_fetch_add_explicit(next, chunk, memory_order_relaxed);
    if (start >= n)
        return 0;
    *lo = start;
    *hi = n - start < chunk ? n : start + chunk;
    return 1;
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

/* The body of a worker: pull chunks until none is left. Never returns. */
static void run_worker(map_header *hdr, proc_progress *slot, const char *in,
                       size_t n, size_t in_size, char *shared_out,
                       size_t out_size, pk_map_fn fn, void *ctx, size_t chunk)
{
    size_t lo, hi;

    while (proc_claim_chunk(&hdr->next, n, chunk, &lo, &hi) == 1) {
        prefault(shared_out + lo * out_size, (hi - lo) * out_size);
        for (size_t i = lo; i < hi; i++) {
            /* One relaxed store per item, to a line nobody else writes:
             * about a nanosecond, and it names the culprit if fn kills us. */
            atomic_store_explicit(&slot->item, i, memory_order_relaxed);
            fn(in + i * in_size, shared_out + i * out_size, ctx);
        }
        /* Counted per chunk, once its results are all written. Relaxed:
         * the parent reads the count after waitpid(), which orders it. */
        atomic_fetch_add_explicit(&hdr->done, hi - lo, memory_order_relaxed);
    }
    atomic_store_explicit(&slot->item, PROC_NO_ITEM, memory_order_relaxed);
    _exit(0); /* not exit(): the parent's atexit handlers and stdio buffers
                 belong to the parent */
}

/* All workers exited 0, yet fewer than n items were done: fn called exit(0)
 * (or _exit(0)) in the middle of a chunk. Such a worker never reached the
 * end of its loop, so its progress slot still names the item it was on:
 * blame the lowest one. */
static void blame_vanished(const proc_worker *w, size_t nworkers,
                           proc_crash *crash)
{
    proc_crash first = {PROC_NO_ITEM, 0, {PROC_EXITED, 0, 0}};

    for (size_t i = 0; i < nworkers; i++) {
        size_t item = atomic_load_explicit(&w[i].progress->item,
                                           memory_order_relaxed);
        if (item != PROC_NO_ITEM && (first.pid == 0 || item < first.item))
            first = (proc_crash){item, w[i].pid, {PROC_EXITED, 0, 0}};
    }
    if (crash != NULL)
        *crash = first;
}

int proc_map(size_t nprocs, const void *in, size_t n, size_t in_size,
             void *out, size_t out_size, pk_map_fn fn, void *ctx,
             size_t chunk, proc_crash *crash)
{
    if (fn == NULL || in_size == 0 || out_size == 0 || nprocs == 0 ||
        nprocs > PROC_MAX_WORKERS || (n > 0 && (in == NULL || out == NULL))) {
        errno = EINVAL;
        return -1;
    }
    size_t out_offset = sizeof(map_header) + nprocs * sizeof(proc_progress);
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

    /* MAP_SHARED: the children's writes land in the same physical pages the
     * parent reads. MAP_ANONYMOUS: no file behind it. */
    size_t bytes = out_offset + n * out_size;
    char *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -1;
    map_header *hdr = (map_header *)map;
    proc_progress *slots = (proc_progress *)(map + sizeof *hdr);
    char *shared_out = map + out_offset;
    atomic_init(&hdr->next, 0);
    atomic_init(&hdr->done, 0);
    for (size_t w = 0; w < nprocs; w++)
        atomic_init(&slots[w].item, PROC_NO_ITEM);

    /* On the stack, for the reason given in proc_run_each(). */
    proc_worker workers[PROC_MAX_WORKERS];

    size_t started = 0;
    int setup_errno = 0;
    for (; started < nprocs; started++) {
        int fd;
        pid_t pid = spawn_piped(&fd);
        if (pid < 0) {
            setup_errno = errno;
            break;
        }
        if (pid == 0) {
            /* Keep only our write end: the read ends belong to the parent. */
            for (size_t w = 0; w < started; w++)
                close(workers[w].fd);
            run_worker(hdr, &slots[started], in, n, in_size, shared_out,
                       out_size, fn, ctx, chunk);
        }
        workers[started] = (proc_worker){pid, fd, &slots[started]};
    }

    /* If fork failed part-way, the workers that did start share all the
     * work through the counter: fewer processes, same result. That is a
     * gift of dynamic scheduling; a static split would have lost items.
     * Success needs clean exits AND every item done: an exit status of 0
     * proves nothing when fn itself called exit(0) half-way. */
    int rc = -1;
    if (started == 0) {
        errno = setup_errno != 0 ? setup_errno : EAGAIN;
    } else if (proc_reap_workers(workers, started, crash) == 0) {
        if (atomic_load_explicit(&hdr->done, memory_order_relaxed) == n) {
            prefault(out, n * out_size); /* our fork write-protected it */
            memcpy(out, shared_out, n * out_size);
            rc = 0;
        } else {
            blame_vanished(workers, started, crash);
            errno = ECHILD;
        }
    }
    int saved = errno;
    munmap(map, bytes);
    errno = saved;
    return rc;
}

/* ======================================================================
 * Exercise 3: crash handling
 * ====================================================================== */

/* Nonzero when a worker's end counts as a failure. */
static int failed_end(const proc_status *st)
{
    return !(st->end == PROC_EXITED && st->code == 0);
}

int proc_reap_workers(proc_worker *w, size_t nworkers, proc_crash *crash)
{
    if (w == NULL || nworkers == 0 || nworkers > PROC_MAX_WORKERS) {
        errno = EINVAL;
        return -1;
    }
    struct pollfd pfd[PROC_MAX_WORKERS];
    char killed[PROC_MAX_WORKERS] = {0}; /* 1: we sent it SIGKILL */
    size_t left = nworkers;
    int crashed = 0;
    proc_crash first = {PROC_NO_ITEM, 0, {PROC_NOT_RUN, 0, 0}};

    for (size_t i = 0; i < nworkers; i++)
        pfd[i] = (struct pollfd){.fd = w[i].fd, .events = POLLIN};

    while (left > 0) {
        /* A worker's pipe reads EOF when the worker ends, however it ends:
         * poll() tells us which one, in the order they finish. */
        if (poll(pfd, (nfds_t)nworkers, -1) < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot watch them: stop them all, so the waits below end. */
            for (size_t i = 0; i < nworkers; i++) {
                if (pfd[i].fd >= 0) {
                    kill(w[i].pid, SIGKILL);
                    killed[i] = 1;
                    pfd[i].revents = POLLHUP;
                }
            }
            crashed = 1;
        }
        for (size_t i = 0; i < nworkers; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            char byte;
            ssize_t r = read(pfd[i].fd, &byte, 1);
            if (r > 0 || (r < 0 && errno == EINTR))
                continue; /* not the end yet */
            close(pfd[i].fd);
            pfd[i].fd = -1; /* poll() skips negative fds */
            left--;

            proc_status st;
            reap_child(w[i].pid, &st);
            if (!failed_end(&st))
                continue;
            /* Killed by our own SIGKILL: a victim, not a culprit. */
            int victim = killed[i] && st.end == PROC_KILLED &&
                         st.code == SIGKILL;
            if (!victim) {
                size_t item = PROC_NO_ITEM;
                if (w[i].progress != NULL)
                    item = atomic_load_explicit(&w[i].progress->item,
                                                memory_order_relaxed);
                /* The lowest item wins; PROC_NO_ITEM (SIZE_MAX) is last. */
                if (first.pid == 0 || item < first.item)
                    first = (proc_crash){item, w[i].pid, st};
            }
            if (!crashed) {
                /* First failure: the map cannot succeed any more, so do
                 * not wait for the others to finish their chunks. */
                crashed = 1;
                for (size_t j = 0; j < nworkers; j++) {
                    if (pfd[j].fd >= 0 && !killed[j]) {
                        kill(w[j].pid, SIGKILL);
                        killed[j] = 1;
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < nworkers; i++)
        w[i].fd = -1; /* closed above */

    if (!crashed)
        return 0;
    if (crash != NULL)
        *crash = first;
    errno = ECHILD;
    return -1;
}
