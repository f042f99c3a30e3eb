/* distjob.c - chapter 08's MPI program (provided, complete): it calls the
 * functions you write in dist.c on every rank, checks what they did and
 * says so. The tests, the benchmark and you run it through mpirun:
 *
 *   chapters/08-distributed/mpirun.sh -np 2 build/grade/08-distributed/aux/distjob static 1000000
 *
 * Commands (rank 0 prints the findings; the last line starts "result:"):
 *   hello                     every rank says who and where it is
 *   ring BYTES                dist_ring_pass(); each rank checks its bytes
 *   pingpong BYTES REPS       dist_pingpong(): one-way time and bandwidth
 *   sweep [MAX_BYTES [RUNS]]  dist_pingpong() from 1 byte to MAX_BYTES
 *   static N [options]        the job with dist_map_static()
 *   dynamic N [options]       the job with dist_map_dynamic()
 *   bad CASE                  a bad argument on one rank: every rank must
 *                             return the same error (see bad_cases below)
 *   agree                     dist_agree() with a few verdicts
 *   mpierror                  an MPI error reported through dist_check()
 * Options of static and dynamic:
 *   --threads T    OpenMP threads per rank (static)
 *   --chunk C      items per chunk (dynamic; 0 = automatic)
 *   --uneven       the uneven job (items n/4 to n/2 cost JOB_HEAVY rounds)
 *   --weak         N items per rank instead of N in all (weak scaling)
 *   --crash-item I the item function crashes (SIGSEGV) on item I
 *   --exit-item I  the item function calls exit(0) on item I
 *   --slow-item I  the item function sleeps SLOW_ITEM_MS on item I (its
 *                  chunk's results then come back after later chunks')
 *   --serve GO DONE  wait for bytes on the named pipe GO: 'g' runs the job
 *                  once (rank 0 answers 'd' on DONE), 'q' ends (see launch.h)
 *   --cpu-log FILE (serve mode) after each run, rank 0 writes into FILE
 *                  "RUNS WALL_S CPU_S": the runs so far, their wall time
 *                  and the CPU time rank 0 used in them (user + system): a
 *                  manager that sleeps while it waits uses little of it
 *
 * MPI_COMM_WORLD's error handler is MPI_ERRORS_RETURN here, so a failing MPI
 * call returns its error code to your code (see dist_check()). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "pk/timing.h"

#include "dist.h"
#include "job.h"
#include "split.h"

#define MAX_TIMED_RUNS 64      /* sweep: repetitions per size, at most */
#define SWEEP_MAX_BYTES (4 << 20)
#define SWEEP_RUNS 5
#define SWEEP_TARGET_BYTES (64 << 20) /* bytes per timed sweep step: sets reps */
#define SWEEP_MAX_REPS 20000
#define SLOW_ITEM_MS 400       /* --slow-item: how long that item takes */

/* ---- small helpers ---------------------------------------------------------- */

static int world_rank, world_size;

static const char *err_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EIO: return "EIO";
    case ENOSYS: return "ENOSYS";
    default: return strerror(e);
    }
}

/* A setup failure of this program (not of your code): end the job. */
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "distjob rank %d: ", world_rank);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
    _exit(2);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    if (p == NULL)
        die("out of memory (%zu bytes)", bytes);
    return p;
}

/* Rank 0 prints; the others stay quiet. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (world_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static unsigned long long parse_count(const char *text, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text != NULL ? text : "", &end, 10);
    if (text == NULL || *text == '\0' || *end != '\0' || errno != 0)
        die("%s: expected a number, got \"%s\"", what, text ? text : "");
    return v;
}

/* Every rank's return code and errno, printed by rank 0; 1 when all ranks
 * returned want_rc with want_errno (errno is ignored when want_rc is 0). */
static int same_everywhere(const char *call, int rc, int err, int want_rc,
                           int want_errno)
{
    int mine[2] = {rc, rc == 0 ? 0 : err};
    int *all = world_rank == 0 ? xmalloc(2 * sizeof(int) * (size_t)world_size) : NULL;
    int good = 1;

    if (MPI_Gather(mine, 2, MPI_INT, all, 2, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        die("MPI_Gather of the return codes failed");
    if (world_rank == 0) {
        printf("%s returned:", call);
        for (int r = 0; r < world_size; r++) {
            printf(" rank %d %d%s%s", r, all[2 * r],
                   all[2 * r] ? " errno " : "", all[2 * r] ? err_name(all[2 * r + 1]) : "");
            if (all[2 * r] != want_rc || (want_rc != 0 && all[2 * r + 1] != want_errno))
                good = 0;
        }
        printf("\n");
        free(all);
    }
    MPI_Bcast(&good, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return good;
}

/* ---- the item functions as the tests see them ------------------------------- */

static job_fn base_fn = job_item_project;
static uint64_t crash_item = UINT64_MAX, exit_item = UINT64_MAX;
static uint64_t slow_item = UINT64_MAX;
static unsigned long long calls; /* this rank's calls of the item function */

static uint64_t watched_item(job_item item)
{
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED); /* OpenMP threads too */
    if (item.x == crash_item) {
        fprintf(stderr, "rank %d: item %llu crashes on purpose (SIGSEGV)\n",
                world_rank, (unsigned long long)item.x);
        fflush(stderr);
        raise(SIGSEGV);
    }
    if (item.x == exit_item) {
        fprintf(stderr, "rank %d: item %llu calls exit(0) on purpose, without "
                "MPI_Finalize()\n", world_rank, (unsigned long long)item.x);
        fflush(stderr);
        exit(0);
    }
    if (item.x == slow_item) {
        struct timespec nap = {SLOW_ITEM_MS / 1000, (SLOW_ITEM_MS % 1000) * 1000000L};
        while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
            ;
    }
    return base_fn(item);
}

/* ---- commands ------------------------------------------------------------------- */

static int cmd_hello(void)
{
    char host[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(host, &len);
    /* one line per rank, in rank order */
    for (int r = 0; r < world_size; r++) {
        if (r == world_rank) {
            printf("hello from rank %d of %d on %s, pid %ld\n", world_rank,
                   world_size, host, (long)getpid());
            fflush(stdout);
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    say("result: ok\n");
    return 0;
}

static unsigned char ring_byte(int rank, long i)
{
    return (unsigned char)(rank * 37 + i * 11 + 1);
}

static int cmd_ring(int bytes)
{
    unsigned char *send = xmalloc((size_t)bytes), *recv = xmalloc((size_t)bytes);
    int prev = (world_rank - 1 + world_size) % world_size;
    long bad_at = -1;

    for (long i = 0; i < bytes; i++) {
        send[i] = ring_byte(world_rank, i);
        recv[i] = 0;
    }
    errno = 0;
    int rc = dist_ring_pass(MPI_COMM_WORLD, send, recv, bytes);
    int e = errno;
    int ok = same_everywhere("dist_ring_pass", rc, e, 0, 0);
    if (rc == 0)
        for (long i = 0; i < bytes && bad_at < 0; i++)
            if (recv[i] != ring_byte(prev, i))
                bad_at = i;
    long worst = bad_at;
    int who = bad_at >= 0 ? world_rank : INT_MAX, first_bad = INT_MAX;
    MPI_Allreduce(&who, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first_bad != INT_MAX) {
        if (world_rank == first_bad)
            fprintf(stdout, "result: FAIL rank %d: byte %ld of what came in is "
                    "%u, rank %d sent %u (it must receive from rank %d, the "
                    "previous one)\n", world_rank, worst, recv[worst], prev,
                    ring_byte(prev, worst), prev);
        fflush(stdout);
    } else if (!ok) {
        say("result: FAIL dist_ring_pass must return 0 on every rank\n");
    } else {
        say("result: ok %d bytes around %d ranks\n", bytes, world_size);
    }
    free(send);
    free(recv);
    return ok && first_bad == INT_MAX ? 0 : 1;
}

static int cmd_pingpong(int bytes, int reps)
{
    double t = -1;
    errno = 0;
    int rc = dist_pingpong(MPI_COMM_WORLD, bytes, reps, &t);
    int ok = same_everywhere("dist_pingpong", rc, errno, 0, 0);
    if (!ok) {
        say("result: FAIL dist_pingpong must return 0 on every rank\n");
        return 1;
    }
    int timed = world_rank != 0 || t > 0; /* only rank 0 gets the time */
    MPI_Bcast(&timed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!timed) {
        say("result: FAIL the one-way time is %g s; it must be above 0\n", t);
        return 1;
    }
    say("pingpong %d bytes: %.3f us one way, %.1f MB/s\n", bytes, t * 1e6,
        bytes / t / 1e6);
    say("result: ok one-way %.9f\n", t);
    return 0;
}

/* The benchmark's sweep: per size, RUNS timings of dist_pingpong(). */
static int cmd_sweep(int max_bytes, int runs)
{
    double t[MAX_TIMED_RUNS];
    for (long bytes = 1; bytes <= max_bytes; bytes *= 8) {
        long reps = SWEEP_TARGET_BYTES / (bytes + 4096);
        reps = reps < 10 ? 10 : reps > SWEEP_MAX_REPS ? SWEEP_MAX_REPS : reps;
        for (int r = 0; r < runs; r++) {
            errno = 0;
            if (dist_pingpong(MPI_COMM_WORLD, (int)bytes, (int)reps, &t[r]) != 0) {
                say("result: FAIL dist_pingpong(%ld bytes) returned -1 (errno %s)\n",
                    bytes, err_name(errno));
                return 1;
            }
        }
        say("pingpong %ld", bytes);
        for (int r = 0; r < runs; r++)
            say(" %.9f", t[r]);
        say("\n");
    }
    say("result: ok\n");
    return 0;
}

/* ---- the job ------------------------------------------------------------------------ */

typedef struct job_opts {
    int dynamic;            /* dist_map_dynamic() instead of dist_map_static() */
    unsigned long long n;   /* items in all (or per rank with weak) */
    int threads;
    unsigned long long chunk;
    int uneven, weak;
    const char *go, *done;  /* serve mode */
    const char *cpu_log;    /* serve mode: rank 0's CPU time, or NULL */
} job_opts;

typedef struct job_data {
    size_t n;
    job_item *in;       /* rank 0 */
    uint64_t *out;      /* rank 0 */
    uint64_t *want;     /* rank 0: the sequential run */
    job_totals want_totals;
    job_fn fn;
} job_data;

static void job_setup(const job_opts *o, job_data *d, job_fn fn)
{
    memset(d, 0, sizeof *d);
    d->n = (size_t)(o->weak ? o->n * (unsigned long long)world_size : o->n);
    d->fn = fn;
    if (world_rank != 0)
        return;
    d->in = xmalloc(d->n * sizeof *d->in);
    d->out = xmalloc(d->n * sizeof *d->out);
    d->want = xmalloc(d->n * sizeof *d->want);
    if (o->uneven)
        job_fill_uneven(d->in, d->n);
    else
        job_fill(d->in, d->n, 0);
    job_map_seq(d->in, d->n, d->want, o->uneven ? job_item_uneven : job_item_project);
    d->want_totals = job_totals_of(d->want, d->n);
    memset(d->out, 0xff, d->n * sizeof *d->out);
}

static int job_run(const job_opts *o, job_data *d, job_totals *got)
{
    memset(got, 0xff, sizeof *got);
    if (o->dynamic)
        return dist_map_dynamic(MPI_COMM_WORLD, d->in, d->n, d->out, d->fn,
                                (size_t)o->chunk, got);
    return dist_map_static(MPI_COMM_WORLD, d->in, d->n, d->out, d->fn,
                           o->threads, got);
}

/* On rank 0: NULL when out and totals are right, else what is wrong. */
static const char *job_verdict(const job_data *d, int dynamic,
                               const job_totals *got, char *buf, size_t len)
{
    size_t bad = job_first_mismatch(d->want, d->out, d->n);
    if (bad < d->n) {
        snprintf(buf, len, "out[%zu] = %llu, the sequential run says %llu "
                 "(results must land in input order: %s)", bad,
                 (unsigned long long)d->out[bad],
                 (unsigned long long)d->want[bad], dynamic ?
                 "each chunk's results where that chunk's items came from" :
                 "rank r's results at displs[r]");
        return buf;
    }
    const job_totals *w = &d->want_totals;
    if (got->sum != w->sum || got->count != w->count || got->max != w->max) {
        snprintf(buf, len, "totals are sum %llu, max %llu, count %llu; the "
                 "sequential run says sum %llu, max %llu, count %llu (sum "
                 "and count with MPI_SUM, max with MPI_MAX, to rank %d)",
                 (unsigned long long)got->sum, (unsigned long long)got->max,
                 (unsigned long long)got->count, (unsigned long long)w->sum,
                 (unsigned long long)w->max, (unsigned long long)w->count,
                 DIST_ROOT);
        return buf;
    }
    return NULL;
}

static void job_free(job_data *d)
{
    free(d->in);
    free(d->out);
    free(d->want);
}

static int cmd_job(const job_opts *o)
{
    const char *name = o->dynamic ? "dist_map_dynamic" : "dist_map_static";
    job_data d;
    job_totals got;
    char why[512];

    base_fn = o->uneven ? job_item_uneven : job_item_project;
    job_setup(o, &d, watched_item);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    errno = 0;
    int rc = job_run(o, &d, &got);
    int e = errno;
    double t = MPI_Wtime() - t0;
    if (!same_everywhere(name, rc, e, 0, 0)) {
        say("result: FAIL %s must return 0 on every rank\n", name);
        job_free(&d);
        return 1;
    }
    /* How many items each rank mapped. */
    unsigned long long *per = world_rank == 0 ? xmalloc(sizeof *per * (size_t)world_size) : NULL;
    if (MPI_Gather(&calls, 1, MPI_UNSIGNED_LONG_LONG, per, 1,
                   MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        die("MPI_Gather of the call counts failed");
    int status = 0;
    if (world_rank == 0) {
        unsigned long long total = 0;
        printf("items mapped per rank:");
        for (int r = 0; r < world_size; r++) {
            printf(" %llu", per[r]);
            total += per[r];
        }
        printf("\n%s: %zu items on %d ranks in %.4f s\n", name, d.n,
               world_size, t);
        const char *bad = job_verdict(&d, o->dynamic, &got, why, sizeof why);
        if (bad != NULL) {
            printf("result: FAIL %s\n", bad);
            status = 1;
        } else if (total != d.n) {
            printf("result: FAIL the item function ran %llu times for %zu "
                   "items: every item must be mapped exactly once\n", total, d.n);
            status = 1;
        } else {
            printf("result: ok items=%zu calls=%llu\n", d.n, total);
        }
        fflush(stdout);
        free(per);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    job_free(&d);
    return status;
}

/* "RUNS WALL_S CPU_S" into path, replacing what was there (after the run,
 * outside the time the caller measures). */
static void write_cpu_log(const char *path, long runs, double wall, double cpu)
{
    char tmp[4200], line[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(line, sizeof line, "%ld %.6f %.6f\n", runs, wall, cpu);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0 ||
        rename(tmp, path) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* Serve mode: the job once per 'g' byte on GO; rank 0 answers 'd' on DONE
 * as soon as the run is done, then checks the results (outside the time
 * the benchmark measures). */
static int cmd_serve(const job_opts *o)
{
    job_data d;
    job_totals got;
    char why[512];
    int go = open(o->go, O_RDONLY), done = -1;
    long runs = 0, bad_runs = 0;
    double wall_sum = 0, cpu_sum = 0;
    char first_bad[512] = "";

    if (go < 0)
        die("cannot open %s: %s", o->go, strerror(errno));
    job_setup(o, &d, o->uneven ? job_item_uneven : job_item_project);
    if (world_rank == 0) {
        done = open(o->done, O_WRONLY);
        if (done < 0)
            die("cannot open %s: %s", o->done, strerror(errno));
        if (write(done, "r", 1) != 1)
            die("cannot write to %s", o->done);
    }
    for (;;) {
        char c;
        ssize_t k = read(go, &c, 1); /* blocked here: no CPU used */
        if (k < 0 && errno == EINTR)
            continue;
        if (k != 1 || c == 'q')
            break;
        errno = 0;
        double w0 = MPI_Wtime(), c0 = (double)pk_cpu_ns() * 1e-9;
        int rc = job_run(o, &d, &got);
        double w1 = MPI_Wtime(), c1 = (double)pk_cpu_ns() * 1e-9;
        if (rc != 0)
            die("%s returned -1 (errno %s)", o->dynamic ? "dist_map_dynamic"
                : "dist_map_static", err_name(errno));
        runs++;
        wall_sum += w1 - w0;
        cpu_sum += c1 - c0;
        if (world_rank == 0) {
            if (write(done, "d", 1) != 1)
                die("cannot write to %s", o->done);
            if (o->cpu_log != NULL)
                write_cpu_log(o->cpu_log, runs, wall_sum, cpu_sum);
            const char *bad = job_verdict(&d, o->dynamic, &got, why, sizeof why);
            if (bad != NULL && bad_runs++ == 0)
                snprintf(first_bad, sizeof first_bad, "%s", bad);
            memset(d.out, 0xff, d.n * sizeof *d.out); /* no stale results */
        }
    }
    if (world_rank == 0) {
        char line[700];
        int len = snprintf(line, sizeof line, "summary runs=%ld bad=%ld%s%s\n",
                           runs, bad_runs, bad_runs ? " first: " : "", first_bad);
        if (write(done, line, (size_t)len) != len)
            die("cannot write to %s", o->done);
        close(done);
    }
    close(go);
    job_free(&d);
    return 0;
}

/* ---- failures ------------------------------------------------------------------------ */

/* One bad argument, on one rank only: every rank must return -1 with the
 * same errno, or some rank waits forever in a collective call. */
static int cmd_bad(const char *what)
{
    job_item item = {1, 2};
    uint64_t res = 0;
    job_totals tot;
    const job_item *in = &item;
    uint64_t *out = &res;
    job_totals *totals = &tot;
    job_fn fn = job_item_project;
    unsigned char buf[64] = {0};
    size_t n = (size_t)world_size; /* one item per rank */
    job_item *items = xmalloc(n * sizeof *items);
    uint64_t *outs = xmalloc(n * sizeof *outs);
    int rc, e, one = world_rank == 1 % world_size; /* "rank 1", or 0 alone */
    const char *call;

    job_fill(items, n, 0);
    in = items;
    out = outs;
    errno = 0;
    if (strcmp(what, "static-in-null") == 0) {
        call = "dist_map_static with in == NULL on rank 0";
        rc = dist_map_static(MPI_COMM_WORLD, world_rank == 0 ? NULL : in, n,
                             out, fn, 1, totals);
    } else if (strcmp(what, "static-n-zero") == 0) {
        call = "dist_map_static with n == 0 on rank 0";
        rc = dist_map_static(MPI_COMM_WORLD, in, world_rank == 0 ? 0 : n, out,
                             fn, 1, totals);
    } else if (strcmp(what, "static-few-items") == 0) {
        call = "dist_map_static with fewer items than ranks";
        rc = dist_map_static(MPI_COMM_WORLD, in, n - 1, out, fn, 1, totals);
    } else if (strcmp(what, "static-fn-null-rank1") == 0) {
        call = "dist_map_static with fn == NULL on rank 1 only";
        rc = dist_map_static(MPI_COMM_WORLD, in, n, out, one ? NULL : fn, 1, totals);
    } else if (strcmp(what, "static-threads-rank1") == 0) {
        call = "dist_map_static with threads == 0 on rank 1 only";
        rc = dist_map_static(MPI_COMM_WORLD, in, n, out, fn, one ? 0 : 1, totals);
    } else if (strcmp(what, "dynamic-in-null") == 0) {
        call = "dist_map_dynamic with in == NULL on rank 0";
        rc = dist_map_dynamic(MPI_COMM_WORLD, world_rank == 0 ? NULL : in, n,
                              out, fn, 0, totals);
    } else if (strcmp(what, "dynamic-fn-null-rank1") == 0) {
        call = "dist_map_dynamic with fn == NULL on rank 1 only";
        rc = dist_map_dynamic(MPI_COMM_WORLD, in, n, out, one ? NULL : fn, 0, totals);
    } else if (strcmp(what, "dynamic-one-rank") == 0) {
        call = "dist_map_dynamic on one rank (a manager and no worker)";
        rc = dist_map_dynamic(MPI_COMM_WORLD, in, n, out, fn, 0, totals);
    } else if (strcmp(what, "ring-null-rank1") == 0) {
        call = "dist_ring_pass with recv == NULL on rank 1 only";
        rc = dist_ring_pass(MPI_COMM_WORLD, buf, one ? NULL : buf + 32, 32);
    } else if (strcmp(what, "pingpong-one-rank") == 0) {
        double t;
        call = "dist_pingpong on one rank";
        rc = dist_pingpong(MPI_COMM_WORLD, 8, 10, &t);
    } else if (strcmp(what, "pingpong-null-rank0") == 0) {
        double t;
        call = "dist_pingpong with one_way_s == NULL on rank 0";
        rc = dist_pingpong(MPI_COMM_WORLD, 8, 10, world_rank == 0 ? NULL : &t);
    } else {
        die("bad: unknown case \"%s\"", what);
        return 2;
    }
    e = errno;
    int ok = same_everywhere(call, rc, e, -1, EINVAL);
    if (ok)
        say("result: ok every rank returned -1 with errno EINVAL\n");
    else
        say("result: FAIL %s: every rank must return -1 with errno EINVAL "
            "(check on every rank, then dist_agree() before any data moves)\n",
            call);
    free(items);
    free(outs);
    return ok ? 0 : 1;
}

static int cmd_agree(void)
{
    struct { const char *what; int err_of_last, err_of_first, want; } cases[] = {
        {"every rank passes 0", 0, 0, 0},
        {"the last rank passes EINVAL", EINVAL, 0, EINVAL},
        {"rank 0 passes ENOMEM, the last rank EINVAL", EINVAL, ENOMEM, EINVAL},
        {"rank 0 passes ENOMEM", 0, ENOMEM, ENOMEM},
    };
    int status = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int mine = 0;
        if (world_rank == world_size - 1)
            mine = cases[i].err_of_last;
        if (world_rank == 0 && cases[i].err_of_first != 0)
            mine = cases[i].err_of_first;
        int got = dist_agree(MPI_COMM_WORLD, mine);
        int wrong = got != cases[i].want, any = 0;
        MPI_Allreduce(&wrong, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
        if (wrong)
            printf("rank %d: dist_agree() returned %d (%s) when %s; expected "
                   "%d (%s) on every rank: the largest error any rank passed\n",
                   world_rank, got, err_name(got), cases[i].what,
                   cases[i].want, err_name(cases[i].want));
        fflush(stdout);
        if (any) {
            status = 1;
            break;
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    say(status ? "result: FAIL dist_agree\n" : "result: ok\n");
    return status;
}

static int cmd_mpierror(void)
{
    int value = 42;
    /* Rank 0 sends to a rank that does not exist: with MPI_ERRORS_RETURN the
     * call returns MPI_ERR_RANK, and dist_check() must end the job. */
    if (world_rank == 0) {
        int rc = MPI_Send(&value, 1, MPI_INT, world_size + 3, 0, MPI_COMM_WORLD);
        printf("MPI_Send to rank %d returned %d\n", world_size + 3, rc);
        fflush(stdout);
        dist_check(MPI_COMM_WORLD, rc, "MPI_Send to a rank that does not exist");
        printf("result: FAIL dist_check() returned; it must end the job with "
               "MPI_Abort(comm, DIST_EXIT_MPI)\n");
        fflush(stdout);
        _exit(1); /* the other ranks would wait forever for this one */
    }
    MPI_Barrier(MPI_COMM_WORLD); /* never completes: rank 0 is gone */
    return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void)
{
    die("usage: distjob hello | ring BYTES | pingpong BYTES REPS | sweep "
        "[MAX_BYTES [RUNS]] | static N [opts] | dynamic N [opts] | bad CASE | "
        "agree | mpierror   (see distjob.c)");
}

static int parse_job(int argc, char **argv, job_opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->dynamic = strcmp(argv[1], "dynamic") == 0;
    if (argc < 3)
        usage();
    o->n = parse_count(argv[2], "N");
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--threads") == 0 && i + 1 < argc)
            o->threads = (int)parse_count(argv[++i], "--threads");
        else if (strcmp(a, "--chunk") == 0 && i + 1 < argc)
            o->chunk = parse_count(argv[++i], "--chunk");
        else if (strcmp(a, "--uneven") == 0)
            o->uneven = 1;
        else if (strcmp(a, "--weak") == 0)
            o->weak = 1;
        else if (strcmp(a, "--crash-item") == 0 && i + 1 < argc)
            crash_item = parse_count(argv[++i], "--crash-item");
        else if (strcmp(a, "--exit-item") == 0 && i + 1 < argc)
            exit_item = parse_count(argv[++i], "--exit-item");
        else if (strcmp(a, "--slow-item") == 0 && i + 1 < argc)
            slow_item = parse_count(argv[++i], "--slow-item");
        else if (strcmp(a, "--cpu-log") == 0 && i + 1 < argc)
            o->cpu_log = argv[++i];
        else if (strcmp(a, "--serve") == 0 && i + 2 < argc) {
            o->go = argv[++i];
            o->done = argv[++i];
        } else
            die("unknown option \"%s\"", a);
    }
    if (o->n > INT_MAX || (o->weak && o->n * (unsigned long long)world_size > INT_MAX))
        die("N is too large for this program");
    return 0;
}

int main(int argc, char **argv)
{
    int provided = 0;
    /* FUNNELED: OpenMP threads may run inside a rank, only the main thread
     * calls MPI. */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (provided < MPI_THREAD_FUNNELED)
        say("note: this MPI gives thread level %d, less than FUNNELED\n", provided);
    if (argc < 2)
        usage();

    const char *cmd = argv[1];
    int status;
    if (strcmp(cmd, "hello") == 0) {
        status = cmd_hello();
    } else if (strcmp(cmd, "ring") == 0 && argc == 3) {
        status = cmd_ring((int)parse_count(argv[2], "BYTES"));
    } else if (strcmp(cmd, "pingpong") == 0 && argc == 4) {
        status = cmd_pingpong((int)parse_count(argv[2], "BYTES"),
                              (int)parse_count(argv[3], "REPS"));
    } else if (strcmp(cmd, "sweep") == 0) {
        int max = argc > 2 ? (int)parse_count(argv[2], "MAX_BYTES") : SWEEP_MAX_BYTES;
        int runs = argc > 3 ? (int)parse_count(argv[3], "RUNS") : SWEEP_RUNS;
        if (runs < 1 || runs > MAX_TIMED_RUNS)
            die("RUNS must be 1 to %d", MAX_TIMED_RUNS);
        status = cmd_sweep(max, runs);
    } else if (strcmp(cmd, "static") == 0 || strcmp(cmd, "dynamic") == 0) {
        job_opts o;
        parse_job(argc, argv, &o);
        status = o.go != NULL ? cmd_serve(&o) : cmd_job(&o);
    } else if (strcmp(cmd, "bad") == 0 && argc == 3) {
        status = cmd_bad(argv[2]);
    } else if (strcmp(cmd, "agree") == 0) {
        status = cmd_agree();
    } else if (strcmp(cmd, "mpierror") == 0) {
        status = cmd_mpierror();
    } else {
        usage();
        status = 2;
    }
    MPI_Finalize();
    return status;
}
