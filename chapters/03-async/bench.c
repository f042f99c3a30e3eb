/* bench.c - chapter 03: blocking requests, threads, the event loop and the
 * session, all against the course's loopback server (build/bin/pk-httpd,
 * started here as a child process on 127.0.0.1 and stopped at the end).
 *
 * `make bench CH=03-async` builds it against your code (chapters/03-async,
 * or SUBMISSION) and, where solutions/ exists, links the reference
 * solution beside it (PK_REF): "yours" and "reference" rows are timed in
 * the same interleaved rounds (pk_bench_many), so that the machine's mood
 * hits both alike. A function still at PK_TODO shows as "not written yet"
 * and the rest goes on. Two benchmarks:
 *   1. N requests to /bytes/1024. Baseline: one reused easy handle, one
 *      request after another (provided here). Then fetch_one in a loop (a
 *      new handle and connection per request, the Python chapter's style),
 *      fetch_one on a thread per request, fetch_all at K = 1, 10, 50, a
 *      session running the same requests in 4 batches, and the curl
 *      program's own parallel mode, whose start-up is measured and taken
 *      out. Reported in requests per second.
 *   2. 100 x /delay/200: baseline is the waiting alone (5 waits of 200 ms,
 *      what K = 20 needs at best); then fetch_all at K = 20, 50, 100.
 * PK_BENCH_QUICK=1 runs a short version. Every handle here has its proxy
 * turned off: nothing leaves 127.0.0.1. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch.h"
#include "pk_httpd.h"
#include "pk/report.h"
#include "pk/timing.h"

/* The reference solution's functions (NULL in the student handout). */
PK_REF_DECLARE(fetch_one);
PK_REF_DECLARE(fetch_all);
PK_REF_DECLARE(fetch_session_open);
PK_REF_DECLARE(fetch_session_run);
PK_REF_DECLARE(fetch_session_close);

#define MAX_REQUESTS 2000 /* requests per run of benchmark 1 */
#define BODY_BYTES   1024 /* size of each response body */
#define THREAD_WAVE  50   /* threads alive at once in the thread variant */
#define BATCHES      4    /* the session variant's batches */
#define N_DELAYED    100  /* requests of benchmark 2 */
#define DELAY_MS     200  /* how long the server holds each of them */
#define WARMUP       1    /* untimed runs before the rounds */
#define RUNS         7    /* timed rounds; the median is reported */
#define MAX_ROWS     16
#define URL_MAX      96

extern char **environ;

static size_t n_requests = MAX_REQUESTS;
static char urls_buf[MAX_REQUESTS][URL_MAX];
static const char *urls[MAX_REQUESTS];
static char dbuf[N_DELAYED][URL_MAX];
static const char *durls[N_DELAYED];
static fetch_result results[MAX_REQUESTS];
static int failures; /* counted over every run; printed at the end */

static pk_httpd_proc server; /* build/bin/pk-httpd, see pk_httpd_spawn() */

/* ---- whose code a row runs ----------------------------------------------------- */

/* One implementation of fetch.h: the student's or the reference's. */
typedef struct impl {
    const char *who;
    int (*one)(const char *, long, fetch_result *);
    int (*all)(const char *const *, size_t, const fetch_opts *, fetch_result *);
    fetch_session *(*open)(const fetch_opts *);
    int (*run)(fetch_session *, const char *const *, size_t, fetch_result *,
               fetch_done_fn, void *);
    void (*close)(fetch_session *);
} impl;

/* What one row does: which code, on which URLs, how many at once. */
typedef struct job {
    const impl *code;
    const char *const *urls;
    size_t n, k;
} job;

/* The results' bodies are malloc'd (fetch.h): free them here, so that a
 * fetch_result_free still at PK_TODO does not leak the benchmark dry. */
static void check_and_free(size_t n, long want_len)
{
    for (size_t i = 0; i < n; i++) {
        if (results[i].error != 0 || results[i].status != 200 ||
            (want_len >= 0 && results[i].len != (size_t)want_len))
            failures++;
        free(results[i].body);
        results[i].body = NULL;
    }
}

/* ---- the variants -------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p, (void)ud;
    return size * nmemb;
}

/* Baseline: one easy handle for all requests, one after another; its
 * connection stays open and every request after the first reuses it. */
static void reused_handle(void *ctx)
{
    (void)ctx;
    CURL *e = curl_easy_init();
    if (e == NULL) {
        failures += (int)n_requests;
        return;
    }
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* as fetch.c: no SIGPIPE dance per request */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    for (size_t i = 0; i < n_requests; i++) {
        long status = 0;
        curl_easy_setopt(e, CURLOPT_URL, urls[i]);
        if (curl_easy_perform(e) != CURLE_OK ||
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != 200)
            failures++;
    }
    curl_easy_cleanup(e);
}

/* fetch_one in a loop: a new handle and a new connection per request, as
 * the Python chapter's async_fetch opens a new session. */
static void one_by_one(void *ctx)
{
    job *j = ctx;
    for (size_t i = 0; i < j->n; i++)
        j->code->one(j->urls[i], 0, &results[i]);
    check_and_free(j->n, BODY_BYTES);
}

typedef struct thread_arg {
    const job *j;
    size_t i;
} thread_arg;

static void *thread_fetch(void *arg)
{
    thread_arg *a = arg;
    a->j->code->one(a->j->urls[a->i], 0, &results[a->i]);
    return NULL;
}

/* One thread per request, THREAD_WAVE alive at once (more would only add
 * stacks and file descriptors on a 2-core machine). */
static void thread_per_request(void *ctx)
{
    job *j = ctx;
    pthread_t t[THREAD_WAVE];
    thread_arg a[THREAD_WAVE];
    for (size_t base = 0; base < j->n; base += THREAD_WAVE) {
        size_t k = j->n - base < THREAD_WAVE ? j->n - base : THREAD_WAVE;
        size_t started = 0;
        for (; started < k; started++) {
            a[started] = (thread_arg){j, base + started};
            if (pthread_create(&t[started], NULL, thread_fetch, &a[started]) != 0)
                break;
        }
        for (size_t i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        for (size_t i = started; i < k; i++)
            results[base + i] = (fetch_result){.error = CURLE_FAILED_INIT};
    }
    check_and_free(j->n, BODY_BYTES);
}

static void multi(void *ctx)
{
    job *j = ctx;
    fetch_opts o = {.max_concurrency = j->k};
    if (j->code->all(j->urls, j->n, &o, results) < 0) {
        failures += (int)j->n;
        return;
    }
    check_and_free(j->n, -1);
}

/* One session, the same requests in BATCHES batches: the connections of
 * the first batch serve the others. */
static void session(void *ctx)
{
    job *j = ctx;
    fetch_opts o = {.max_concurrency = j->k};
    fetch_session *s = j->code->open(&o);
    if (s == NULL) {
        failures += (int)j->n;
        return;
    }
    size_t per = j->n / BATCHES;
    for (size_t b = 0; b < BATCHES; b++) {
        if (j->code->run(s, j->urls + b * per, per, results, NULL, NULL) < 0) {
            failures += (int)per;
            continue;
        }
        check_and_free(per, BODY_BYTES);
    }
    j->code->close(s);
}

/* The waiting alone: what benchmark 2 needs at best at K = 20. */
static void just_wait(void *ctx)
{
    (void)ctx;
    for (int w = 0; w < N_DELAYED / 20; w++)
        poll(NULL, 0, DELAY_MS);
}

/* The curl program's parallel mode on the same URLs (a URL glob makes
 * n_requests of them), bodies to /dev/null. */
static char curl_path[1024];
static char curl_glob[URL_MAX], curl_single[URL_MAX];

static int find_curl(char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return -1;
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, size, "%.*s/curl", (int)len, path);
        if (access(out, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    return -1;
}

static void run_curl(const char *url)
{
    char *argv[] = {curl_path, "--silent", "--no-progress-meter", "--noproxy", "*", "--parallel",
                    "--parallel-immediate", "--parallel-max", "50",
                    "--output", "/dev/null", (char *)url, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int status;
    if (posix_spawn(&pid, curl_path, &fa, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        failures++;
    posix_spawn_file_actions_destroy(&fa);
}

static void curl_parallel(void *ctx)
{
    (void)ctx;
    run_curl(curl_glob);
}

/* The same program for one request: its start, set-up and exit. */
static void curl_start(void *ctx)
{
    (void)ctx;
    run_curl(curl_single);
}

/* ---- tables ---------------------------------------------------------------- */

typedef struct row {
    char name[64];
    void (*fn)(void *);
    void *ctx;
    int todo;   /* the code is still at PK_TODO: not timed */
} row;

typedef struct table {
    const char *bench;
    size_t n;   /* requests per run */
    row rows[MAX_ROWS];
    size_t nrows;
    pk_stats st[MAX_ROWS];
} table;

static row *add(table *t, void (*fn)(void *), void *ctx, const char *fmt, const char *who)
{
    row *r = &t->rows[t->nrows++];
    snprintf(r->name, sizeof r->name, fmt, who);
    r->fn = fn;
    r->ctx = ctx;
    r->todo = 0;
    return r;
}

/* Time every row that is written in the same rounds; print them all. */
static void run_table(pk_report *rep, table *t, size_t runs)
{
    void (*fns[MAX_ROWS])(void *);
    void *ctxs[MAX_ROWS];
    size_t live[MAX_ROWS], m = 0;
    for (size_t i = 0; i < t->nrows; i++)
        if (!t->rows[i].todo) {
            fns[m] = t->rows[i].fn;
            ctxs[m] = t->rows[i].ctx;
            live[m++] = i;
        }
    pk_stats st[MAX_ROWS];
    if (pk_bench_many(fns, ctxs, m, WARMUP, runs, st) != 0) {
        perror("bench: pk_bench_many");
        exit(1);
    }
    for (size_t i = 0, j = 0; i < t->nrows; i++) {
        if (j < m && live[j] == i) {
            t->st[i] = st[j++];
            pk_report_add(rep, t->bench, t->rows[i].name, t->n, &t->st[i]);
        } else {
            t->st[i] = (pk_stats){0};
            pk_report_todo(rep, t->bench, t->rows[i].name);
        }
    }
}

static double rate(const table *t, const row *r)
{
    const pk_stats *st = &t->st[r - t->rows];
    return st->median > 0 ? (double)t->n / st->median : 0;
}

/* Whether `code` has each piece written: a call that fails with ENOSYS is
 * a PK_TODO. */
static int has_one(const impl *c)
{
    fetch_result r = {0};
    errno = 0;
    int rc = c->one(urls[0], 0, &r);
    free(r.body);
    return !(rc < 0 && errno == ENOSYS);
}

static int has_all(const impl *c)
{
    fetch_result r = {0};
    errno = 0;
    int rc = c->all(urls, 1, NULL, &r);
    if (rc >= 0)
        free(r.body);
    return !(rc < 0 && errno == ENOSYS);
}

static int has_session(const impl *c)
{
    errno = 0;
    fetch_session *s = c->open(NULL);
    if (s == NULL)
        return errno != ENOSYS;
    fetch_result r = {0};
    errno = 0;
    int rc = c->run(s, urls, 1, &r, NULL, NULL);
    int err = errno;
    if (rc >= 0)
        free(r.body);
    c->close(s);
    return !(rc < 0 && err == ENOSYS);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
    int quick = pk_bench_quick();
    size_t runs = quick ? 3 : RUNS;
    if (quick)
        n_requests = MAX_REQUESTS / 4;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench: curl_global_init failed\n");
        return 1;
    }
    if (pk_httpd_spawn(&server) != 0) {
        perror("bench: starting build/bin/pk-httpd");
        return 1;
    }
    unsigned port = server.port;
    for (size_t i = 0; i < n_requests; i++) {
        snprintf(urls_buf[i], URL_MAX, "http://127.0.0.1:%u/bytes/%d", port, BODY_BYTES);
        urls[i] = urls_buf[i];
    }
    for (size_t i = 0; i < N_DELAYED; i++) {
        snprintf(dbuf[i], URL_MAX, "http://127.0.0.1:%u/delay/%d", port, DELAY_MS);
        durls[i] = dbuf[i];
    }
    snprintf(curl_glob, sizeof curl_glob, "http://127.0.0.1:%u/bytes/%d?[1-%zu]", port,
             BODY_BYTES, n_requests);
    snprintf(curl_single, sizeof curl_single, "http://127.0.0.1:%u/bytes/%d", port,
             BODY_BYTES);

    pk_report *rep = pk_report_open("03-async");
    if (rep == NULL) {
        perror("bench: pk_report_open");
        pk_httpd_proc_stop(&server);
        return 1;
    }

    const impl yours = {"yours", fetch_one, fetch_all, fetch_session_open,
                        fetch_session_run, fetch_session_close};
    const impl ref = {"reference", PK_REF(fetch_one), PK_REF(fetch_all),
                      PK_REF(fetch_session_open), PK_REF(fetch_session_run),
                      PK_REF(fetch_session_close)};
    const impl *codes[2] = {&yours, &ref};
    int ncodes = PK_REF(fetch_all) != NULL ? 2 : 1; /* the handout has no reference */

    /* Benchmark 1: a fast server. */
    static table t1;
    static char b1[64];
    snprintf(b1, sizeof b1, "%zu x GET /bytes/%d on loopback", n_requests, BODY_BYTES);
    t1.bench = b1;
    t1.n = n_requests;
    static job jobs[2][6];
    add(&t1, reused_handle, NULL, "%ssequential, one reused easy handle", "");
    for (int c = 0; c < ncodes; c++) {
        const impl *code = codes[c];
        int one = has_one(code), all = has_all(code), sess = has_session(code);
        job *j = jobs[c];
        j[0] = (job){code, urls, n_requests, 1};
        add(&t1, one_by_one, &j[0], "%s: fetch_one, one at a time",
            code->who)->todo = !one;
        j[1] = (job){code, urls, n_requests, 1};
        add(&t1, thread_per_request, &j[1], "%s: fetch_one, thread each",
            code->who)->todo = !one;
        const size_t ks[3] = {1, 10, 50};
        for (int k = 0; k < 3; k++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "%%s: fetch_all, K = %zu", ks[k]);
            j[2 + k] = (job){code, urls, n_requests, ks[k]};
            add(&t1, multi, &j[2 + k], fmt, code->who)->todo = !all;
        }
        j[5] = (job){code, urls, n_requests, 50};
        add(&t1, session, &j[5], "%s: session, 4 batches, K=50",
            code->who)->todo = !sess;
    }
    row *curl_row = NULL, *start_row = NULL;
    if (find_curl(curl_path, sizeof curl_path) == 0) {
        curl_row = add(&t1, curl_parallel, NULL, "%scurl --parallel --parallel-max 50", "");
        start_row = add(&t1, curl_start, NULL, "%scurl, one request (start-up)", "");
    }
    run_table(rep, &t1, runs);
    for (size_t i = 0; i < t1.nrows; i++)
        if (t1.st[i].median > 0 && t1.rows[i].fn != curl_start)
            pk_report_note(rep, "  %-34s %9.0f requests/s", t1.rows[i].name,
                           rate(&t1, &t1.rows[i]));
    if (curl_row != NULL) {
        double all = t1.st[curl_row - t1.rows].median;
        double start = t1.st[start_row - t1.rows].median;
        if (all > start && start > 0)
            pk_report_note(rep, "curl --parallel: %.1f ms in all, of which %.1f ms "
                           "start the program and do one request; without "
                           "them, %.0f requests/s", all * 1e3, start * 1e3,
                           (double)(n_requests - 1) / (all - start));
    } else {
        pk_report_note(rep, "(no curl program on PATH: no curl rows)");
    }
    pk_report_note(rep, "client and server share the machine's cores; the ceiling "
                   "(2 busy processes vs 1) was %.2fx", pk_parallel_ceiling(0, 0.2));

    /* Benchmark 2: a slow server. The loop's work is tiny; the time is the
     * server's 200 ms per request, N_DELAYED / K waves of it. */
    static table t2;
    t2.bench = "100 x GET /delay/200 on loopback";
    t2.n = N_DELAYED;
    add(&t2, just_wait, NULL, "%sthe waits alone (best at K = 20)", "");
    static job djobs[2][3];
    for (int c = 0; c < ncodes; c++) {
        const size_t ks[3] = {20, 50, 100};
        int all = has_all(codes[c]);
        for (int k = 0; k < 3; k++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "%%s: fetch_all, K = %zu", ks[k]);
            djobs[c][k] = (job){codes[c], durls, N_DELAYED, ks[k]};
            add(&t2, multi, &djobs[c][k], fmt, codes[c]->who)->todo = !all;
        }
    }
    run_table(rep, &t2, quick ? 2 : 5);
    pk_report_note(rep, "sequentially these would take 100 x 0.2 = 20 s");

    if (failures)
        pk_report_note(rep, "WARNING: %d requests failed during the runs", failures);
    pk_report_close(rep);
    pk_httpd_proc_stop(&server);
    return failures ? 1 : 0;
}
