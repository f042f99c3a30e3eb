/* bench.c - chapter 03: blocking requests, threads and an event loop, all
 * against the course's loopback server (build/bin/pk-httpd, started here as
 * a child process on 127.0.0.1 and stopped at the end).
 *
 * Built by `make bench CH=03-async` with the reference solution. Two
 * benchmarks:
 *   1. N requests to /bytes/1024: one reused easy handle, a new handle per
 *      request (the Python chapter's style), one thread per request, the
 *      multi loop at K = 1, 10, 50, and the curl program's own parallel mode
 *      as the reference. Reported in requests per second.
 *   2. 100 x /delay/200 at K = 20: the loop's overhead when the server is
 *      slow (ideal: 5 waves of 200 ms = 1.0 s).
 * Every handle here has its proxy turned off: nothing leaves 127.0.0.1. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
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

#define N_REQUESTS   2000 /* requests per run of benchmark 1 */
#define BODY_BYTES   1024 /* size of each response body */
#define THREAD_WAVE  50   /* threads alive at once in the thread variant */
#define N_DELAYED    100  /* requests of benchmark 2 */
#define DELAY_MS     200  /* how long the server holds each of them */
#define WARMUP       1    /* untimed runs before each measurement */
#define RUNS         7    /* timed runs; the median is reported */
#define URL_MAX      96

extern char **environ;

static char urls_buf[N_REQUESTS][URL_MAX];
static const char *urls[N_REQUESTS];
static fetch_result results[N_REQUESTS];
static int failures; /* counted over every run; printed at the end */

/* ---- the server, as a child process ------------------------------------ */

static pk_httpd_proc server; /* build/bin/pk-httpd, see pk_httpd_spawn() */

/* ---- the variants -------------------------------------------------------- */

static void count_and_free(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (results[i].error != 0 || results[i].status != 200 ||
            results[i].len != BODY_BYTES)
            failures++;
        fetch_result_free(&results[i]);
    }
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p, (void)ud;
    return size * nmemb;
}

/* Sequential, one easy handle for all requests: its connection stays open
 * and every request after the first reuses it. */
static void reused_handle(void *ctx)
{
    (void)ctx;
    CURL *e = curl_easy_init();
    if (e == NULL) {
        failures += N_REQUESTS;
        return;
    }
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    for (size_t i = 0; i < N_REQUESTS; i++) {
        long status = 0;
        curl_easy_setopt(e, CURLOPT_URL, urls[i]);
        if (curl_easy_perform(e) != CURLE_OK ||
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != 200)
            failures++;
    }
    curl_easy_cleanup(e);
}

/* Sequential, fetch_one each time: a new handle and a new connection per
 * request, as the Python chapter's async_fetch opens a new session. */
static void new_handle(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < N_REQUESTS; i++)
        fetch_one(urls[i], 0, &results[i]);
    count_and_free(N_REQUESTS);
}

static void *thread_fetch(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    fetch_one(urls[i], 0, &results[i]);
    return NULL;
}

/* One thread per request, THREAD_WAVE alive at once (more would only add
 * stacks and file descriptors on a 2-core machine). */
static void thread_per_request(void *ctx)
{
    (void)ctx;
    pthread_t t[THREAD_WAVE];
    for (size_t base = 0; base < N_REQUESTS; base += THREAD_WAVE) {
        size_t k = N_REQUESTS - base < THREAD_WAVE ? N_REQUESTS - base : THREAD_WAVE;
        size_t started = 0;
        for (; started < k; started++)
            if (pthread_create(&t[started], NULL, thread_fetch,
                               (void *)(uintptr_t)(base + started)) != 0)
                break;
        for (size_t j = 0; j < started; j++)
            pthread_join(t[j], NULL);
        for (size_t j = started; j < k; j++)
            results[base + j] = (fetch_result){.error = CURLE_FAILED_INIT};
    }
    count_and_free(N_REQUESTS);
}

typedef struct multi_job {
    const char *const *urls;
    size_t n;
    fetch_opts opts;
} multi_job;

static void multi(void *ctx)
{
    multi_job *j = ctx;
    if (fetch_all(j->urls, j->n, &j->opts, results) < 0) {
        failures += (int)j->n;
        return;
    }
    for (size_t i = 0; i < j->n; i++) {
        if (results[i].error != 0 || results[i].status != 200)
            failures++;
        fetch_result_free(&results[i]);
    }
}

/* The curl program's parallel mode on the same URLs (a URL glob makes
 * N_REQUESTS of them), bodies to /dev/null. Returns 0, or -1 when there is
 * no curl program. */
static const char *curl_glob;

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

static char curl_path[1024];

static void curl_parallel(void *ctx)
{
    (void)ctx;
    char *argv[] = {curl_path, "--silent", "--no-progress-meter", "--noproxy", "*", "--parallel",
                    "--parallel-immediate", "--parallel-max", "50",
                    "--output", "/dev/null", (char *)curl_glob, NULL};
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

/* ---- main ------------------------------------------------------------------ */

static double measure(pk_report *r, const char *bench, const char *variant,
                      void (*fn)(void *), void *ctx, size_t n)
{
    pk_stats st;
    if (pk_bench(fn, ctx, WARMUP, RUNS, &st) != 0)
        return 0;
    pk_report_add(r, bench, variant, n, &st);
    double rate = (double)n / st.median;
    pk_report_note(r, "  %-36s %9.0f requests/s", variant, rate);
    return rate;
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench: curl_global_init failed\n");
        return 1;
    }
    if (pk_httpd_spawn(&server) != 0) {
        perror("bench: starting build/bin/pk-httpd");
        return 1;
    }
    unsigned port = server.port;
    for (size_t i = 0; i < N_REQUESTS; i++) {
        snprintf(urls_buf[i], URL_MAX, "http://127.0.0.1:%u/bytes/%d", port, BODY_BYTES);
        urls[i] = urls_buf[i];
    }
    static char glob[URL_MAX];
    snprintf(glob, sizeof glob, "http://127.0.0.1:%u/bytes/%d?[1-%d]", port,
             BODY_BYTES, N_REQUESTS);
    curl_glob = glob;

    pk_report *r = pk_report_open("03-async");
    if (r == NULL) {
        perror("bench: pk_report_open");
        pk_httpd_proc_stop(&server);
        return 1;
    }

    const char *b1 = "2000 x GET /bytes/1024 on loopback";
    double base = measure(r, b1, "sequential, one reused easy handle", reused_handle, NULL, N_REQUESTS);
    measure(r, b1, "sequential, new handle each (Python)", new_handle, NULL, N_REQUESTS);
    measure(r, b1, "one thread per request (50 at once)", thread_per_request, NULL, N_REQUESTS);
    multi_job k1 = {urls, N_REQUESTS, {.max_concurrency = 1}};
    multi_job k10 = {urls, N_REQUESTS, {.max_concurrency = 10}};
    multi_job k50 = {urls, N_REQUESTS, {.max_concurrency = 50}};
    measure(r, b1, "fetch_all, K = 1", multi, &k1, N_REQUESTS);
    measure(r, b1, "fetch_all, K = 10", multi, &k10, N_REQUESTS);
    double mine = measure(r, b1, "fetch_all, K = 50", multi, &k50, N_REQUESTS);
    if (find_curl(curl_path, sizeof curl_path) == 0) {
        double theirs = measure(r, b1, "curl --parallel --parallel-max 50",
                                curl_parallel, NULL, N_REQUESTS);
        /* What part of curl's time is starting the program: one request. */
        static char one[URL_MAX];
        snprintf(one, sizeof one, "http://127.0.0.1:%u/bytes/%d", port, BODY_BYTES);
        curl_glob = one;
        pk_stats st1;
        double start_ms = pk_bench(curl_parallel, NULL, WARMUP, RUNS, &st1) == 0
                              ? st1.median * 1e3 : 0;
        pk_report_note(r, "fetch_all at K = 50 / curl --parallel: %.2fx (target: >= 1.00); "
                       "curl's %.1f ms include %.1f ms to start the program and do "
                       "one request", theirs > 0 ? mine / theirs : 0.0,
                       theirs > 0 ? 1e3 * N_REQUESTS / theirs : 0.0, start_ms);
    } else {
        pk_report_note(r, "(no curl program on PATH: no reference row)");
    }
    pk_report_note(r, "baseline %.0f requests/s; client and server share the machine's "
                   "cores, so the ceiling below bounds what any variant can gain",
                   base);
    pk_report_note(r, "parallel ceiling (2 busy processes vs 1): %.2fx",
                   pk_parallel_ceiling(0, 0.2));

    /* Benchmark 2: a slow server. The loop's work is tiny; the time is the
     * server's 200 ms per request, N_DELAYED / K waves of it. */
    static char dbuf[N_DELAYED][URL_MAX];
    static const char *durls[N_DELAYED];
    for (size_t i = 0; i < N_DELAYED; i++) {
        snprintf(dbuf[i], URL_MAX, "http://127.0.0.1:%u/delay/%d", port, DELAY_MS);
        durls[i] = dbuf[i];
    }
    const char *b2 = "100 x GET /delay/200 on loopback";
    multi_job d20 = {durls, N_DELAYED, {.max_concurrency = 20}};
    multi_job d50 = {durls, N_DELAYED, {.max_concurrency = 50}};
    multi_job d100 = {durls, N_DELAYED, {.max_concurrency = 100}};
    pk_stats st;
    if (pk_bench(multi, &d20, WARMUP, 5, &st) == 0) {
        pk_report_add(r, b2, "fetch_all, K = 20", N_DELAYED, &st);
        pk_report_note(r, "K = 20: %.3f s, ideal 5 x 0.2 = 1.0 s (target: <= 1.1 s)",
                       st.median);
    }
    if (pk_bench(multi, &d50, WARMUP, 5, &st) == 0)
        pk_report_add(r, b2, "fetch_all, K = 50", N_DELAYED, &st);
    if (pk_bench(multi, &d100, WARMUP, 5, &st) == 0)
        pk_report_add(r, b2, "fetch_all, K = 100", N_DELAYED, &st);
    pk_report_note(r, "sequentially these would take 100 x 0.2 = 20 s");

    if (failures)
        pk_report_note(r, "WARNING: %d requests failed during the runs", failures);
    pk_report_close(r);
    pk_httpd_proc_stop(&server);
    return failures ? 1 : 0;
}
