/* check_fetch.c - graded tests for chapter 03 (fetch.h), and ungraded tests
 * of the loopback test server (common/httpd/pk_httpd.h) they run against.
 *
 * Every test starts its own server on 127.0.0.1, port 0 (the kernel picks
 * a free one), and stops it at the end, so the server's counters belong to
 * that test alone. Nothing here talks to anything but 127.0.0.1.
 *
 * Result arrays are zeroed before each call only so that a failure message
 * about an unwritten result prints zeros, not garbage; one test
 * (test_fetch_all_writes_every_field) fills them with garbage on purpose.
 *
 * What leaks without crashing is counted, not guessed: the file descriptors
 * in /proc/self/fd, and libcurl's handles through the spy below.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch.h"
#include "pk/report.h"
#include "pk/timing.h"
#include "pk_check.h"
#include "pk_httpd.h"
#include "pk_perf.h"

#define URL_MAX 128

/* ---- the libcurl spy --------------------------------------------------------
 * The test program defines libcurl's handle functions itself; the code
 * under test, linked into the same program, calls these, and each passes
 * the call on to the real libcurl (dlsym(RTLD_NEXT)). On the way they
 *   - count the easy and multi handles made and not yet cleaned up, and the
 *     easy handles that are in a multi handle now (a leak that never
 *     crashes, counted);
 *   - can make the Nth curl_easy_init or the next curl_multi_init fail
 *     (an error path that a real machine reaches only when it is short of
 *     memory);
 *   - poison a CURLMsg once curl_multi_remove_handle has invalidated it:
 *     libcurl's documentation says the message does not survive that call,
 *     but the bytes usually do, so code that reads msg->data.result after
 *     removing the handle would pass by luck. The spy writes SPY_POISON
 *     into the result field, which is what libcurl is allowed to do.
 * Only the test's thread calls libcurl (the server does not use it). */

#define SPY_POISON CURLE_BAD_FUNCTION_ARGUMENT /* never a transfer's result here */
#define SPY_ATTACHED_MAX 1024
#define SPY_MSGS 64

static struct {
    int easy_live;            /* curl_easy_init + duphandle - cleanup */
    int multi_live;           /* curl_multi_init - cleanup */
    CURL *attached[SPY_ATTACHED_MAX]; /* easy handles in a multi handle */
    int nattached;
    int fail_easy_in;         /* > 0: the fail_easy_in-th next easy init fails */
    int fail_multi;           /* 1: the next curl_multi_init fails */
    CURLMsg *msgs[SPY_MSGS];  /* messages handed out, not yet invalidated */
} spy;

static void *real_fn(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "check_fetch: libcurl's %s not found: %s\n", name, dlerror());
        abort();
    }
    return p;
}
#define REAL(name) \
    static __typeof__(name) *real_##name; \
    if (real_##name == NULL) \
        *(void **)&real_##name = real_fn(#name)

/* libcurl calls some of these itself (the multi handle makes an easy
 * handle of its own for closing connections): only calls from outside
 * libcurl count. */
static int from_libcurl(const void *caller)
{
    static const void *curl_base;
    Dl_info info;
    if (curl_base == NULL && dladdr(real_fn("curl_easy_init"), &info) != 0)
        curl_base = info.dli_fbase;
    return dladdr(caller, &info) != 0 && info.dli_fbase == curl_base;
}

static void spy_forget_msgs(CURL *e)
{
    for (int i = 0; i < SPY_MSGS; i++)
        if (spy.msgs[i] != NULL && (e == NULL || spy.msgs[i]->easy_handle == e))
            spy.msgs[i] = NULL;
}

CURL *curl_easy_init(void)
{
    REAL(curl_easy_init);
    if (from_libcurl(__builtin_return_address(0)))
        return real_curl_easy_init();
    if (spy.fail_easy_in > 0 && --spy.fail_easy_in == 0)
        return NULL;
    CURL *e = real_curl_easy_init();
    spy.easy_live += e != NULL;
    return e;
}

CURL *curl_easy_duphandle(CURL *e)
{
    REAL(curl_easy_duphandle);
    CURL *d = real_curl_easy_duphandle(e);
    if (!from_libcurl(__builtin_return_address(0)))
        spy.easy_live += d != NULL;
    return d;
}

void curl_easy_cleanup(CURL *e)
{
    REAL(curl_easy_cleanup);
    if (e != NULL && !from_libcurl(__builtin_return_address(0))) {
        spy.easy_live--;
        spy_forget_msgs(e);
        for (int i = 0; i < spy.nattached; i++)
            if (spy.attached[i] == e) /* cleaned up while in a multi handle */
                spy.attached[i] = spy.attached[--spy.nattached];
    }
    real_curl_easy_cleanup(e);
}

CURLM *curl_multi_init(void)
{
    REAL(curl_multi_init);
    if (from_libcurl(__builtin_return_address(0)))
        return real_curl_multi_init();
    if (spy.fail_multi) {
        spy.fail_multi = 0;
        return NULL;
    }
    CURLM *m = real_curl_multi_init();
    spy.multi_live += m != NULL;
    return m;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
    REAL(curl_multi_cleanup);
    CURLMcode rc = real_curl_multi_cleanup(m);
    if (m != NULL && rc == CURLM_OK && !from_libcurl(__builtin_return_address(0)))
        spy.multi_live--;
    return rc;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
    REAL(curl_multi_add_handle);
    CURLMcode rc = real_curl_multi_add_handle(m, e);
    if (rc == CURLM_OK && spy.nattached < SPY_ATTACHED_MAX)
        spy.attached[spy.nattached++] = e;
    return rc;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e)
{
    REAL(curl_multi_remove_handle);
    CURLMcode rc = real_curl_multi_remove_handle(m, e);
    if (rc == CURLM_OK && e != NULL) {
        for (int i = 0; i < spy.nattached; i++)
            if (spy.attached[i] == e) {
                spy.attached[i] = spy.attached[--spy.nattached];
                break;
            }
        /* Its message is no longer valid: make that visible. */
        for (int i = 0; i < SPY_MSGS; i++)
            if (spy.msgs[i] != NULL && spy.msgs[i]->easy_handle == e) {
                spy.msgs[i]->data.result = SPY_POISON;
                spy.msgs[i] = NULL;
            }
    }
    return rc;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    REAL(curl_multi_info_read);
    static int next;
    CURLMsg *msg = real_curl_multi_info_read(m, left);
    if (msg != NULL && msg->msg == CURLMSG_DONE) {
        spy.msgs[next] = msg;
        next = (next + 1) % SPY_MSGS;
    }
    return msg;
}

/* ---- counting what leaks ----------------------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* What a test compares before and after the code under test. */
typedef struct snapshot {
    int fds, easy, multi;
} snapshot;

static snapshot take_snapshot(void)
{
    return (snapshot){count_fds(), spy.easy_live, spy.multi_live};
}

/* The process's descriptors include the server's side of each connection,
 * which it closes when it notices the client's close: wait (up to 2 s)
 * until the server has no connection left, then (up to 1 s more) until the
 * count is `want` (-1: any). Returns the count. */
static int settle_fds(pk_httpd *s, int want)
{
    pk_httpd_stats st = {0};
    for (int i = 0; i < 200 && pk_httpd_stats_get(s, &st) == 0 && st.current > 0; i++)
        usleep(10000);
    int n = count_fds();
    for (int i = 0; i < 100 && want >= 0 && n != want; i++) {
        usleep(10000);
        n = count_fds();
    }
    return n;
}

/* Fail unless everything made since `before` is gone again. */
static void expect_nothing_left(pk_httpd *s, snapshot before, const char *what)
{
    ck_assert_msg(spy.nattached == 0,
                  "after %s, %d easy handle(s) were still in a multi handle: "
                  "every curl_multi_add_handle needs its "
                  "curl_multi_remove_handle before the handle is cleaned up",
                  what, spy.nattached);
    ck_assert_msg(spy.easy_live == before.easy,
                  "after %s, %d easy handle(s) made by curl_easy_init were "
                  "never given to curl_easy_cleanup, expected 0 (a leak "
                  "that never crashes: each one holds memory and maybe a "
                  "connection)", what, spy.easy_live - before.easy);
    ck_assert_msg(spy.multi_live == before.multi,
                  "after %s, %d multi handle(s) were never given to "
                  "curl_multi_cleanup, expected 0 (it owns the connection "
                  "cache: its sockets stay open)", what,
                  spy.multi_live - before.multi);
    int fds = settle_fds(s, before.fds);
    ck_assert_msg(fds == before.fds,
                  "after %s the process had %d open file descriptors, "
                  "expected %d as before it (count them in /proc/self/fd): "
                  "a connection or the multi handle's wake-up pipe was "
                  "left open", what, fds, before.fds);
}

/* ---- helpers ------------------------------------------------------------- */

/* Valgrind runs everything ~20x slower: widen the loose time bounds there. */
static double slack(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v && *v == '1' ? 5.0 : 1.0;
}

static pk_httpd *server(void)
{
    pk_httpd *s = pk_httpd_start(0);
    ck_assert_msg(s != NULL, "pk_httpd_start(0) returned NULL (errno = %s): "
                  "the test server did not start (not your code)",
                  pk_errno_name(errno));
    return s;
}

static void url_of(pk_httpd *s, const char *path, char *buf)
{
    ck_assert_msg(pk_httpd_url(s, path, buf, URL_MAX) != NULL,
                  "pk_httpd_url(\"%s\") returned NULL (errno = %s)", path,
                  pk_errno_name(errno));
}

/* urls[i] points into buf[i]; paths are printf patterns with one %d. */
static void make_urls(pk_httpd *s, char (*buf)[URL_MAX], const char **urls,
                      size_t n, const char *path_fmt, int arg)
{
    char path[URL_MAX - 32];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, path_fmt, arg);
        url_of(s, path, buf[i]);
        urls[i] = buf[i];
    }
}

static int body_is_pattern(const fetch_result *r, size_t n)
{
    if (r->len != n || (n > 0 && (r->body == NULL || r->body[n] != '\0')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (r->body[i] != pk_httpd_pattern(i))
            return 0;
    return 1;
}

/* "status 200, error 0 (No error), attempts 1, 10 bytes": for messages. */
static const char *desc(const fetch_result *r)
{
    static char buf[4][160];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "status %ld, error %d (%s), attempts %u, %zu bytes%s",
             r->status, r->error, curl_easy_strerror((CURLcode)r->error),
             r->attempts, r->len, r->body ? "" : " (body NULL)");
    return b;
}

static void free_all(fetch_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fetch_result_free(&r[i]);
}

/* A port on 127.0.0.1 that refuses connections: bound, never listening,
 * held open (in *fd) so that nobody else can take it during the test. */
static unsigned closed_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(*fd >= 0, "socket() failed (errno = %s)", pk_errno_name(errno));
    ck_assert_msg(bind(*fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                  getsockname(*fd, (struct sockaddr *)&a, &len) == 0,
                  "binding a closed port on 127.0.0.1 failed (errno = %s)",
                  pk_errno_name(errno));
    return ntohs(a.sin_port);
}

/* One request with the test's own easy handle: libcurl sets up what it
 * keeps for the whole process (curl_global_init) before a test takes its
 * snapshot. */
static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p, (void)ud;
    return size * nmemb;
}

static void warm_up_curl(pk_httpd *s)
{
    char url[URL_MAX];
    url_of(s, "/bytes/1", url);
    CURL *e = curl_easy_init();
    ck_assert_msg(e != NULL, "curl_easy_init() returned NULL in the test itself");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* as fetch.c: no SIGPIPE dance per request */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    ck_assert_msg(rc == CURLE_OK, "the test's own request to %s failed: %s",
                  url, curl_easy_strerror(rc));
}

/* The performance tests run the server as a program of its own
 * (pk_httpd_spawn): the measurement forks (the ceiling trial), and the
 * child processes must not share the server's sockets. */
static pk_httpd_proc spawned_server(void)
{
    pk_httpd_proc p;
    ck_assert_msg(pk_httpd_spawn(&p) == 0, "pk_httpd_spawn() failed (errno = "
                  "%s): the test server program did not start (not your "
                  "code; is build/bin/pk-httpd built?)", pk_errno_name(errno));
    return p;
}

static void proc_url(const pk_httpd_proc *p, const char *path, char *buf)
{
    snprintf(buf, URL_MAX, "http://127.0.0.1:%u%s", (unsigned)p->port, path);
}

/* ---- fetch_one: the blocking version ----------------------------------------- */

START_TEST(test_fetch_one_body)
{
    pk_httpd *s = server();
    char url[URL_MAX];
    fetch_result r;
    url_of(s, "/bytes/1000", url);
    memset(&r, 0, sizeof r);
    errno = 0;
    int rc = fetch_one(url, 0, &r);
    ck_assert_msg(rc == 0, "fetch_one(\"%s\", 0, &r) returned %d (errno = %s; "
                  "%s), expected 0", url, rc, pk_errno_name(errno), desc(&r));
    ck_assert_msg(r.status == 200 && r.error == 0 && r.attempts == 1,
                  "fetch_one(\"%s\") gave %s; expected status 200, error 0, "
                  "attempts 1", url, desc(&r));
    ck_assert_msg(body_is_pattern(&r, 1000),
                  "fetch_one(\"%s\") gave a body of %zu bytes, expected the "
                  "1000 bytes the server sent (abc...z repeated), "
                  "NUL-terminated", url, r.len);
    ck_assert_msg(r.seconds > 0 && r.seconds < 10,
                  "fetch_one(\"%s\") gave seconds = %g, expected the time the "
                  "request took (between 0 and 10)", url, r.seconds);
    fetch_result_free(&r);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_one_http_error)
{
    pk_httpd *s = server();
    char url[URL_MAX];
    fetch_result r;
    url_of(s, "/status/404", url);
    int rc = fetch_one(url, 0, &r);
    ck_assert_msg(rc == 1, "fetch_one(\"%s\") returned %d, expected 1: a 404 "
                  "answer is a failure", url, rc);
    ck_assert_msg(r.status == 404 && r.error == 0,
                  "fetch_one(\"%s\") gave %s; expected status 404, error 0 (a "
                  "404 is a response, not a transfer error)", url, desc(&r));
    fetch_result_free(&r);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_one_bad_args)
{
    fetch_result r;
    PK_EXPECT_EINVAL(fetch_one(NULL, 0, &r), "fetch_one(NULL, 0, &r)");
    PK_EXPECT_EINVAL(fetch_one("http://127.0.0.1:1/", 0, NULL),
                     "fetch_one(\"http://127.0.0.1:1/\", 0, NULL)");
    PK_EXPECT_EINVAL(fetch_one("http://127.0.0.1:1/", -5, &r),
                     "fetch_one(\"http://127.0.0.1:1/\", -5, &r)");
}
END_TEST

/* ---- fetch_all: results ------------------------------------------------------ */

START_TEST(test_fetch_all_bodies_in_order)
{
    /* Later URLs answer sooner (decreasing delays), so finishing order is
     * the reverse of input order: out[i] must still belong to urls[i]. */
    pk_httpd *s = server();
    enum { N = 8 };
    char buf[N][URL_MAX];
    const char *urls[N];
    const size_t sizes[4] = {10, 5000, 1, 70000};
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "/delay/%d", 400 - 100 * i);
        url_of(s, path, buf[i]);
        urls[i] = buf[i];
        snprintf(path, sizeof path, "/bytes/%zu", sizes[i]);
        url_of(s, path, buf[4 + i]);
        urls[4 + i] = buf[4 + i];
    }
    fetch_result out[N];
    memset(out, 0, sizeof out);
    errno = 0;
    int rc = fetch_all(urls, N, NULL, out);
    ck_assert_msg(rc == 0, "fetch_all(8 good URLs, NULL opts) returned %d "
                  "(errno = %s), expected 0 failures", rc, pk_errno_name(errno));
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof want, "delayed %d\n", 400 - 100 * i);
        ck_assert_msg(out[i].status == 200 && out[i].body != NULL &&
                      strcmp(out[i].body, want) == 0,
                      "out[%d] should hold the answer to %s (\"delayed %d\"), "
                      "got %s, body \"%s\": results must be stored by "
                      "input index, not in finishing order", i, urls[i],
                      400 - 100 * i, desc(&out[i]), out[i].body ? out[i].body : "(null)");
        ck_assert_msg(body_is_pattern(&out[4 + i], sizes[i]),
                      "out[%d] should be the %zu bytes of %s; got %s",
                      4 + i, sizes[i], urls[4 + i], desc(&out[4 + i]));
        ck_assert_msg(out[4 + i].attempts == 1, "out[%d].attempts = %u, "
                      "expected 1 (nothing failed)", 4 + i, out[4 + i].attempts);
    }
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_overlap)
{
    /* 20 x /delay/300 one after another take 6 s. With 20 in flight they
     * take ~0.3 s; the bound of 4 s is loose on purpose (a starved machine
     * took 2.3-3.1 s in 3 of 100 runs at nice 19 with a load of 24) and
     * still proves that the requests overlapped. */
    pk_httpd *s = server();
    enum { N = 20 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/delay/%d", 300);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 20};
    uint64_t t0 = pk_now_ns();
    int rc = fetch_all(urls, N, &o, out);
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == 0, "fetch_all(20 x /delay/300, K = 20) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    ck_assert_msg(secs < 4.0 * slack(),
                  "fetch_all(20 x /delay/300, K = 20) took %.2f s; "
                  "sequentially they take 6 s, overlapped about 0.3 s. Add all "
                  "of them to the multi handle before waiting on any", secs);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

/* Run 3K requests of 150 ms at max_concurrency K; the server must never
 * see more than K connections at once, and should see K (else the loop
 * did not use its slots). */
static void check_limit(size_t k)
{
    pk_httpd *s = server();
    enum { MAXN = 24 };
    size_t n = 3 * k;
    char buf[MAXN][URL_MAX];
    const char *urls[MAXN];
    make_urls(s, buf, urls, n, "/delay/%d", 150);
    fetch_result out[MAXN];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = k};
    int rc = fetch_all(urls, n, &o, out);
    ck_assert_msg(rc == 0, "fetch_all(%zu x /delay/150, K = %zu) returned %d "
                  "(errno = %s), expected 0", n, k, rc, pk_errno_name(errno));
    pk_httpd_stats st = {0};
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.max_concurrent <= k,
                  "fetch_all(%zu URLs, K = %zu): the server saw %u connections "
                  "at once, expected at most %zu: add a new transfer only when "
                  "one has finished", n, k, st.max_concurrent, k);
    ck_assert_msg(st.max_concurrent == k,
                  "fetch_all(%zu URLs, K = %zu): the server never saw more than "
                  "%u connections at once, expected %zu: keep all the slots "
                  "busy", n, k, st.max_concurrent, k);
    ck_assert_msg(st.requests == n, "fetch_all(%zu URLs, K = %zu): the server "
                  "answered %llu requests, expected %zu", n, k,
                  (unsigned long long)st.requests, n);
    free_all(out, n);
    pk_httpd_stop(s);
}

START_TEST(test_fetch_all_limit_1) { check_limit(1); }
END_TEST
START_TEST(test_fetch_all_limit_3) { check_limit(3); }
END_TEST
START_TEST(test_fetch_all_limit_8) { check_limit(8); }
END_TEST

START_TEST(test_fetch_all_reuses_connections)
{
    /* 40 requests at K = 4 need 4 connections, not 40: the multi handle
     * keeps finished connections open for the next transfer. */
    pk_httpd *s = server();
    enum { N = 40 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/bytes/%d", 100);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 4};
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc == 0, "fetch_all(40 x /bytes/100, K = 4) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    pk_httpd_stats st = {0};
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.connections <= 4,
                  "fetch_all(40 x /bytes/100, K = 4) opened %llu connections, "
                  "expected at most 4. Use one multi handle for all transfers "
                  "and do not clean it up between them",
                  (unsigned long long)st.connections);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

/* ---- fetch_all: retries ------------------------------------------------------ */

START_TEST(test_fetch_all_retry_flaky)
{
    /* The first 2 requests for key "a" get 503 "try again"; the 3rd gets
     * 200 "ok a". The body must be that of the last try alone. */
    pk_httpd *s = server();
    char url[URL_MAX];
    url_of(s, "/flaky/a/2", url);
    const char *urls[1] = {url};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 3, .backoff_ms = 50};
    int rc = fetch_all(urls, 1, &o, out);
    ck_assert_msg(rc == 0 && out[0].status == 200,
                  "fetch_all(/flaky/a/2, max_attempts 3) returned %d with %s; "
                  "expected 0 and status 200: the URL fails twice with 503, "
                  "then works", rc, desc(&out[0]));
    ck_assert_msg(out[0].attempts == 3, "fetch_all(/flaky/a/2, max_attempts 3) "
                  "counted %u attempts, expected 3", out[0].attempts);
    ck_assert_msg(out[0].body && strcmp(out[0].body, "ok a\n") == 0,
                  "fetch_all(/flaky/a/2) gave the body \"%s\", expected "
                  "\"ok a\\n\": a retry must start from a clean slate (empty "
                  "the body buffer before each new try)",
                  out[0].body ? out[0].body : "(null)");
    free_all(out, 1);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_backoff_waits)
{
    /* backoff 150 ms: the 2nd try comes >= 150 ms after the 1st, the 3rd
     * >= 300 ms after the 2nd (jitter may only lengthen a wait). The upper
     * bounds are loose: they catch a wait that does not follow the backoff
     * at all (a fixed 1 s, say), not a slow machine. */
    pk_httpd *s = server();
    char url[URL_MAX];
    url_of(s, "/flaky/b/2", url);
    const char *urls[1] = {url};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 5, .backoff_ms = 150};
    int rc = fetch_all(urls, 1, &o, out);
    ck_assert_msg(rc == 0, "fetch_all(/flaky/b/2, max_attempts 5, backoff 150) "
                  "returned %d with %s, expected 0", rc, desc(&out[0]));
    uint64_t t[PK_HTTPD_FLAKY_LOG];
    int count = pk_httpd_flaky_times(s, "b", t, PK_HTTPD_FLAKY_LOG);
    ck_assert_msg(count == 3, "the server saw %d requests for the flaky URL, "
                  "expected 3 (2 failures, then success, then stop)", count);
    double gap1 = (double)(t[1] - t[0]) * 1e-6, gap2 = (double)(t[2] - t[1]) * 1e-6;
    ck_assert_msg(gap1 >= 150, "the 2nd try came %.0f ms after the 1st, "
                  "expected at least the backoff, 150 ms", gap1);
    ck_assert_msg(gap2 >= 300, "the 3rd try came %.0f ms after the 2nd, "
                  "expected at least 300 ms: the wait doubles each time", gap2);
    ck_assert_msg(gap1 < 150 * 1.5 + 700 * slack() && gap2 < 300 * 1.5 + 700 * slack(),
                  "waits of %.0f and %.0f ms, expected 150 and 300 ms (+ at "
                  "most half as jitter)", gap1, gap2);
    ck_assert_msg(out[0].seconds >= 0.45, "out[0].seconds = %.3f, expected at "
                  "least 0.45: it counts from the first try's start to the "
                  "end, waits included", out[0].seconds);
    free_all(out, 1);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_retry_gives_up)
{
    pk_httpd *s = server();
    char url[URL_MAX];
    url_of(s, "/flaky/c/10", url);
    const char *urls[1] = {url};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 3, .backoff_ms = 10};
    int rc = fetch_all(urls, 1, &o, out);
    ck_assert_msg(rc == 1 && out[0].status == 503 && out[0].attempts == 3,
                  "fetch_all(/flaky/c/10, max_attempts 3) returned %d with %s; "
                  "expected 1 with status 503 and attempts 3 (all three tries "
                  "got 503)", rc, desc(&out[0]));
    int count = pk_httpd_flaky_times(s, "c", NULL, 0);
    ck_assert_msg(count == 3, "the server saw %d tries, expected 3", count);
    free_all(out, 1);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_retry_which_statuses)
{
    /* 5xx and 429 are worth another try; other 4xx mean the request itself
     * is wrong, and asking again cannot help. */
    pk_httpd *s = server();
    const int codes[] = {500, 503, 429, 404, 400, 403};
    const unsigned want[] = {3, 3, 3, 1, 1, 1};
    enum { N = 6 };
    char buf[N][URL_MAX];
    const char *urls[N];
    for (int i = 0; i < N; i++)
        make_urls(s, &buf[i], &urls[i], 1, "/status/%d", codes[i]);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 3, .backoff_ms = 10};
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc == N, "fetch_all(6 x /status/CODE) returned %d, expected "
                  "%d: all of them fail in the end", rc, N);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i].status == codes[i] && out[i].attempts == want[i],
                      "/status/%d with max_attempts 3 gave %s; expected %u "
                      "attempt(s): retry 5xx and 429 only", codes[i],
                      desc(&out[i]), want[i]);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_retry_does_not_block)
{
    /* Slot 1 waits 1.5 s before retrying the flaky URL; meanwhile slot 2
     * must go on with the 100 ms requests. A sleep() in the loop would
     * freeze the transfer in flight, and its seconds would exceed 1.5. */
    pk_httpd *s = server();
    enum { N = 4 };
    char buf[N][URL_MAX];
    const char *urls[N];
    url_of(s, "/flaky/d/1", buf[0]);
    urls[0] = buf[0];
    make_urls(s, &buf[1], &urls[1], N - 1, "/delay/%d", 100);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 2, .max_attempts = 2, .backoff_ms = 1500};
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc == 0, "fetch_all(/flaky/d/1 + 3 x /delay/100, K = 2) "
                  "returned %d (errno = %s), expected 0", rc, pk_errno_name(errno));
    ck_assert_msg(out[0].attempts == 2, "/flaky/d/1 gave %s, expected 2 "
                  "attempts", desc(&out[0]));
    for (int i = 1; i < N; i++)
        ck_assert_msg(out[i].seconds < 1.0 * slack(),
                      "a 100 ms request took %.2f s while another URL waited "
                      "1.5 s to retry: the wait must be a deadline in the loop "
                      "(poll with a timeout), never a sleep", out[i].seconds);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

/* ---- fetch_all: failures stay local ------------------------------------------- */

START_TEST(test_fetch_all_drop_fails_alone)
{
    pk_httpd *s = server();
    char buf[3][URL_MAX];
    url_of(s, "/bytes/10", buf[0]);
    url_of(s, "/drop", buf[1]);
    url_of(s, "/bytes/20", buf[2]);
    const char *urls[3] = {buf[0], buf[1], buf[2]};
    fetch_result out[3];
    memset(out, 0, sizeof out);
    int rc = fetch_all(urls, 3, NULL, out);
    ck_assert_msg(rc == 1, "fetch_all(/bytes/10, /drop, /bytes/20) returned "
                  "%d, expected 1: one connection was closed without an "
                  "answer", rc);
    ck_assert_msg(out[1].error != 0 && out[1].status == 0 && out[1].body == NULL,
                  "/drop gave %s; expected a transfer error "
                  "(CURLE_GOT_NOTHING), status 0, no body", desc(&out[1]));
    ck_assert_msg(body_is_pattern(&out[0], 10) && body_is_pattern(&out[2], 20),
                  "the other two URLs must still succeed: got %s and %s",
                  desc(&out[0]), desc(&out[2]));
    free_all(out, 3);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_refused_fails_alone)
{
    pk_httpd *s = server();
    int fd;
    unsigned port = closed_port(&fd);
    char buf[2][URL_MAX];
    snprintf(buf[0], URL_MAX, "http://127.0.0.1:%u/bytes/5", port);
    url_of(s, "/bytes/5", buf[1]);
    const char *urls[2] = {buf[0], buf[1]};
    fetch_result out[2];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 2, .backoff_ms = 10};
    int rc = fetch_all(urls, 2, &o, out);
    ck_assert_msg(rc == 1, "fetch_all(a closed port, a good URL) returned %d, "
                  "expected 1", rc);
    ck_assert_msg(out[0].error == CURLE_COULDNT_CONNECT && out[0].attempts == 2,
                  "a refused connection with max_attempts 2 gave %s; expected "
                  "error %d (CURLE_COULDNT_CONNECT) after 2 attempts",
                  desc(&out[0]), CURLE_COULDNT_CONNECT);
    ck_assert_msg(body_is_pattern(&out[1], 5), "the good URL must still "
                  "succeed: got %s", desc(&out[1]));
    close(fd);
    free_all(out, 2);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_timeout_fails_alone)
{
    /* /delay/5000 with a 300 ms timeout per attempt, 2 attempts: about
     * 0.6 s, and certainly not the 5 s the server would take. */
    pk_httpd *s = server();
    char buf[2][URL_MAX];
    url_of(s, "/delay/5000", buf[0]);
    url_of(s, "/bytes/7", buf[1]);
    const char *urls[2] = {buf[0], buf[1]};
    fetch_result out[2];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 2, .backoff_ms = 10, .timeout_ms = 300};
    uint64_t t0 = pk_now_ns();
    int rc = fetch_all(urls, 2, &o, out);
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == 1, "fetch_all(/delay/5000, /bytes/7; timeout 300 ms) "
                  "returned %d, expected 1", rc);
    ck_assert_msg(out[0].error == CURLE_OPERATION_TIMEDOUT && out[0].attempts == 2,
                  "/delay/5000 with timeout_ms 300 and max_attempts 2 gave %s; "
                  "expected error %d (CURLE_OPERATION_TIMEDOUT) after 2 "
                  "attempts: set CURLOPT_TIMEOUT_MS on each try",
                  desc(&out[0]), CURLE_OPERATION_TIMEDOUT);
    ck_assert_msg(secs < 4.0, "2 tries of 300 ms took %.2f s: the timeout did "
                  "not cut the 5 s request short", secs);
    ck_assert_msg(out[0].seconds >= 0.6, "out[0].seconds = %.3f, expected at "
                  "least 0.6 for two 300 ms tries", out[0].seconds);
    ck_assert_msg(body_is_pattern(&out[1], 7), "the good URL must still "
                  "succeed: got %s", desc(&out[1]));
    free_all(out, 2);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_timeout_per_attempt)
{
    /* Six 150 ms requests one after another (K = 1) with timeout_ms 400:
     * each attempt is well inside its 400 ms, the batch takes 0.9 s. A
     * timeout that runs for the whole batch (asyncio.wait_for around the
     * gather, not around each request) cuts the later ones off. */
    pk_httpd *s = server();
    enum { N = 6 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/delay/%d", 150);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    long timeout_ms = (long)(400 * slack());
    fetch_opts o = {.max_concurrency = 1, .timeout_ms = timeout_ms};
    errno = 0;
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc >= 0, "fetch_all(6 x /delay/150, K = 1, timeout_ms %ld) "
                  "returned %d (errno = %s), expected 0", timeout_ms, rc,
                  pk_errno_name(errno));
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i].status == 200 && out[i].error == 0,
                      "fetch_all(6 x /delay/150, K = 1, timeout_ms %ld): out[%d] "
                      "gave %s, expected status 200: timeout_ms limits each "
                      "attempt, and this request starts about %d ms into the "
                      "batch", timeout_ms, i, desc(&out[i]), 150 * i);
    ck_assert_msg(rc == 0, "fetch_all(6 x /delay/150, K = 1, timeout_ms %ld) "
                  "returned %d, expected 0", timeout_ms, rc);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_bad_urls_fail_alone)
{
    pk_httpd *s = server();
    char good[URL_MAX];
    url_of(s, "/bytes/3", good);
    const char *urls[4] = {NULL, "http://", good, "ftp://127.0.0.1:1/x"};
    fetch_result out[4];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_attempts = 3, .backoff_ms = 10};
    int rc = fetch_all(urls, 4, &o, out);
    ck_assert_msg(rc == 3, "fetch_all(NULL, \"http://\", good, ftp://...) "
                  "returned %d, expected 3 (3 of 4 URLs are bad)", rc);
    ck_assert_msg(out[0].error == CURLE_URL_MALFORMAT && out[0].attempts == 0,
                  "a NULL URL gave %s; expected error %d "
                  "(CURLE_URL_MALFORMAT) and 0 attempts", desc(&out[0]),
                  CURLE_URL_MALFORMAT);
    ck_assert_msg(out[1].error != 0 && out[1].attempts == 1,
                  "\"http://\" gave %s; expected an error after 1 attempt "
                  "(malformed: not worth a retry)", desc(&out[1]));
    ck_assert_msg(out[3].error != 0 && out[3].status == 0 && out[3].attempts == 1,
                  "\"ftp://127.0.0.1:1/x\" gave %s; expected an error, status "
                  "0, 1 attempt: refuse protocols other than http and https "
                  "(SET_HTTP_ONLY), and do not retry", desc(&out[3]));
    ck_assert_msg(body_is_pattern(&out[2], 3), "the good URL must still "
                  "succeed: got %s", desc(&out[2]));
    free_all(out, 4);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_writes_every_field)
{
    /* The caller's array holds garbage; every field must be overwritten. */
    pk_httpd *s = server();
    char buf[3][URL_MAX];
    url_of(s, "/status/204", buf[0]);
    url_of(s, "/drop", buf[1]);
    url_of(s, "/bytes/4", buf[2]);
    const char *urls[4] = {buf[0], buf[1], NULL, buf[2]};
    fetch_result out[4];
    memset(out, 0xAB, sizeof out);
    fetch_all(urls, 4, NULL, out);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(isfinite(out[i].seconds) && out[i].seconds >= 0 &&
                      out[i].seconds < 60, "out[%d].seconds = %g, expected a "
                      "time in seconds (was it written?)", i, out[i].seconds);
        ck_assert_msg(out[i].attempts <= 1, "out[%d].attempts = %u, expected "
                      "0 or 1 (was it written?)", i, out[i].attempts);
        ck_assert_msg(out[i].status == 0 || (out[i].status >= 100 && out[i].status < 600),
                      "out[%d].status = %ld, expected 0 or an HTTP status", i,
                      out[i].status);
        ck_assert_msg((out[i].body == NULL) == (out[i].len == 0),
                      "out[%d]: body %p with len %zu, expected NULL with 0 when "
                      "there is no body", i, (void *)out[i].body, out[i].len);
    }
    ck_assert_msg(out[0].status == 204 && out[0].body == NULL && out[0].error == 0,
                  "/status/204 gave %s; expected status 204, body NULL, error "
                  "0 (a 204 has no body)", desc(&out[0]));
    ck_assert_msg(out[1].body == NULL && out[2].body == NULL,
                  "failed entries have no body: /drop gave %s, NULL gave %s",
                  desc(&out[1]), desc(&out[2]));
    ck_assert_msg(body_is_pattern(&out[3], 4), "the good URL must still "
                  "succeed: got %s", desc(&out[3]));
    free_all(out, 4);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_zero_urls)
{
    PK_EXPECT_INT("fetch_all(NULL, 0, NULL, NULL)", fetch_all(NULL, 0, NULL, NULL), 0);
    const char *urls[1] = {"http://127.0.0.1:1/"};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    PK_EXPECT_INT("fetch_all(urls, 0, NULL, out)", fetch_all(urls, 0, NULL, out), 0);
}
END_TEST

START_TEST(test_fetch_all_bad_args)
{
    const char *urls[1] = {"http://127.0.0.1:1/"};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    fetch_opts neg_backoff = {.backoff_ms = -1}, neg_timeout = {.timeout_ms = -1};
    PK_EXPECT_EINVAL(fetch_all(NULL, 1, NULL, out), "fetch_all(NULL, 1, NULL, out)");
    PK_EXPECT_EINVAL(fetch_all(urls, 1, NULL, NULL), "fetch_all(urls, 1, NULL, NULL)");
    PK_EXPECT_EINVAL(fetch_all(urls, 1, &neg_backoff, out),
                     "fetch_all(urls, 1, {.backoff_ms = -1}, out)");
    PK_EXPECT_EINVAL(fetch_all(urls, 1, &neg_timeout, out),
                     "fetch_all(urls, 1, {.timeout_ms = -1}, out)");
}
END_TEST

START_TEST(test_fetch_all_absurd_opts)
{
    /* Huge limits are not errors: K = SIZE_MAX means "all at once", and a
     * backoff of LONG_MAX ms must not overflow (it is never reached here:
     * neither URL is worth a retry). */
    pk_httpd *s = server();
    char buf[2][URL_MAX];
    url_of(s, "/bytes/5", buf[0]);
    url_of(s, "/status/404", buf[1]);
    const char *urls[2] = {buf[0], buf[1]};
    fetch_result out[2];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = SIZE_MAX, .max_attempts = UINT_MAX,
                    .backoff_ms = LONG_MAX, .timeout_ms = LONG_MAX};
    errno = 0;
    int rc = fetch_all(urls, 2, &o, out);
    ck_assert_msg(rc == 1, "fetch_all(2 URLs, K = SIZE_MAX, backoff LONG_MAX) "
                  "returned %d (errno = %s), expected 1 (the 404): allocate "
                  "min(max_concurrency, n) slots, not max_concurrency", rc,
                  pk_errno_name(errno));
    ck_assert_msg(body_is_pattern(&out[0], 5) && out[1].status == 404 &&
                  out[0].attempts == 1 && out[1].attempts == 1,
                  "expected the 5 bytes and a 404, one attempt each; got %s "
                  "and %s", desc(&out[0]), desc(&out[1]));
    free_all(out, 2);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_result_free_clears)
{
    fetch_result r = {.body = malloc(8), .len = 7};
    ck_assert_msg(r.body != NULL, "malloc(8) failed in the test");
    strcpy(r.body, "content");
    fetch_result_free(&r);
    ck_assert_msg(r.body == NULL && r.len == 0,
                  "after fetch_result_free(&r): body %p, len %zu; expected NULL "
                  "and 0, so that a second free is harmless", (void *)r.body, r.len);
    fetch_result_free(&r);
    fetch_result_free(NULL);
}
END_TEST

/* ---- fetch_all: what must not leak, and the CURLMsg ----------------------------- */

START_TEST(test_fetch_all_no_leaks)
{
    /* Every way a URL can end (an answer, a 404, a dropped connection, a
     * timeout, a refused port, a NULL URL, a retry): afterwards no handle
     * and no descriptor of the call may be left. */
    pk_httpd *s = server();
    int fd;
    unsigned port = closed_port(&fd);
    warm_up_curl(s);
    enum { N = 7 };
    char buf[N][URL_MAX];
    url_of(s, "/bytes/100", buf[0]);
    url_of(s, "/status/404", buf[1]);
    url_of(s, "/drop", buf[2]);
    url_of(s, "/delay/3000", buf[3]);
    snprintf(buf[4], URL_MAX, "http://127.0.0.1:%u/", port);
    url_of(s, "/flaky/leak/1", buf[6]);
    const char *urls[N] = {buf[0], buf[1], buf[2], buf[3], buf[4], NULL, buf[6]};
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 4, .max_attempts = 2, .backoff_ms = 10,
                    .timeout_ms = 200};
    settle_fds(s, -1);
    snapshot before = take_snapshot();
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc == 5, "fetch_all(7 URLs: good, 404, drop, timeout, "
                  "refused, NULL, flaky) returned %d (errno = %s), expected 5 "
                  "failures", rc, pk_errno_name(errno));
    free_all(out, N);
    expect_nothing_left(s, before, "fetch_all returned");
    close(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_reads_msg_before_remove)
{
    /* curl_multi_remove_handle invalidates the CURLMsg of that handle; the
     * spy above poisons it then. Read msg->easy_handle and
     * msg->data.result first, remove the handle after. */
    pk_httpd *s = server();
    enum { N = 4 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/bytes/%d", 50);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 2};
    errno = 0;
    int rc = fetch_all(urls, N, &o, out);
    ck_assert_msg(rc >= 0, "fetch_all(4 x /bytes/50, K = 2) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i].error != SPY_POISON,
                      "out[%d] gave %s: error %d is what this test writes into "
                      "a CURLMsg once curl_multi_remove_handle has invalidated "
                      "it. Copy msg->easy_handle and msg->data.result before "
                      "you remove the handle", i, desc(&out[i]), SPY_POISON);
    ck_assert_msg(rc == 0, "fetch_all(4 x /bytes/50, K = 2) returned %d, "
                  "expected 0", rc);
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

/* ---- fetch_all under signals ---------------------------------------------------- */

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

START_TEST(test_fetch_all_signals)
{
    /* A signal every millisecond (no SA_RESTART): the loop's poll returns
     * early with nothing ready (EINTR inside libcurl). That is not a
     * timeout: a retry's deadline is a time, to be compared with the clock,
     * and an early wake-up must change nothing. The server's thread blocks
     * the signal, so every one of them lands on the loop. */
    sigset_t block, prev;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, &prev);
    pk_httpd *s = server();
    pthread_sigmask(SIG_SETMASK, &prev, NULL);

    enum { N = 5 };
    char buf[N][URL_MAX];
    url_of(s, "/flaky/sig/2", buf[0]);
    url_of(s, "/delay/100", buf[1]);
    url_of(s, "/delay/250", buf[2]);
    url_of(s, "/bytes/5000", buf[3]);
    url_of(s, "/bytes/7", buf[4]);
    const char *urls[N] = {buf[0], buf[1], buf[2], buf[3], buf[4]};
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 3, .max_attempts = 3, .backoff_ms = 100};

    /* The handler stays installed after the test: a signal generated just
     * before the timer stops may still be delivered later (valgrind defers
     * delivery), and SIGALRM's default action would end the process. */
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every_ms = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
    alarms = 0;
    setitimer(ITIMER_REAL, &every_ms, NULL);
    int rc = fetch_all(urls, N, &o, out);
    setitimer(ITIMER_REAL, &off, NULL);

    ck_assert_msg(rc == 0, "fetch_all(5 URLs) with a signal every ms returned "
                  "%d (errno = %s), expected 0: a signal is not an error",
                  rc, pk_errno_name(errno));
    uint64_t t[PK_HTTPD_FLAKY_LOG];
    int count = pk_httpd_flaky_times(s, "sig", t, PK_HTTPD_FLAKY_LOG);
    ck_assert_msg(count == 3 && out[0].attempts == 3,
                  "/flaky/sig/2 gave %s and the server saw %d tries; expected "
                  "3 of each", desc(&out[0]), count);
    double gap1 = (double)(t[1] - t[0]) * 1e-6, gap2 = (double)(t[2] - t[1]) * 1e-6;
    ck_assert_msg(gap1 >= 100 && gap2 >= 200,
                  "with %d signals during the call, the retries came %.0f and "
                  "%.0f ms apart, expected at least 100 and 200 ms (backoff "
                  "100): when the poll returns with nothing ready, compare "
                  "the clock with the deadline, do not assume the wait is "
                  "over", (int)alarms, gap1, gap2);
    ck_assert_msg(out[1].body && strcmp(out[1].body, "delayed 100\n") == 0 &&
                  out[2].body && strcmp(out[2].body, "delayed 250\n") == 0 &&
                  body_is_pattern(&out[3], 5000) && body_is_pattern(&out[4], 7),
                  "with a signal every ms the other URLs gave %s, %s, %s, %s; "
                  "expected their whole bodies", desc(&out[1]), desc(&out[2]),
                  desc(&out[3]), desc(&out[4]));
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

/* ---- the session: async with ------------------------------------------------------ */

START_TEST(test_session_reuses_connections)
{
    /* One session, two batches of 10 at K = 2: 2 connections in all. Two
     * fetch_all calls would open 4: the session is what keeps them (the
     * Python fix: one ClientSession for every request). */
    pk_httpd *s = server();
    enum { N = 10 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/bytes/%d", 100);
    fetch_result out[N];
    fetch_opts o = {.max_concurrency = 2};
    errno = 0;
    fetch_session *ss = fetch_session_open(&o);
    ck_assert_msg(ss != NULL, "fetch_session_open({K = 2}) returned NULL "
                  "(errno = %s), expected a session", pk_errno_name(errno));
    for (int batch = 0; batch < 2; batch++) {
        memset(out, 0, sizeof out);
        int rc = fetch_session_run(ss, urls, N, out, NULL, NULL);
        ck_assert_msg(rc == 0, "fetch_session_run(batch %d: 10 x /bytes/100) "
                      "returned %d (errno = %s), expected 0", batch + 1, rc,
                      pk_errno_name(errno));
        for (int i = 0; i < N; i++)
            ck_assert_msg(body_is_pattern(&out[i], 100), "batch %d, out[%d] "
                          "gave %s, expected the 100 bytes", batch + 1, i,
                          desc(&out[i]));
        free_all(out, N);
    }
    pk_httpd_stats st = {0};
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.connections <= 2 && st.requests == 2 * N,
                  "two batches of 10 on one session with K = 2 opened %llu "
                  "connections for %llu requests, expected at most 2 for 20: "
                  "keep the multi handle (its connection cache) in the "
                  "session, not in one run", (unsigned long long)st.connections,
                  (unsigned long long)st.requests);
    fetch_session_close(ss);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_session_close_frees_everything)
{
    /* Open, use (connections stay open between batches: that is the
     * point), close: then nothing of the session may be left. */
    pk_httpd *s = server();
    warm_up_curl(s);
    enum { N = 6 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/delay/%d", 50);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    settle_fds(s, -1);
    snapshot before = take_snapshot();
    fetch_opts o = {.max_concurrency = 4};
    fetch_session *ss = fetch_session_open(&o);
    ck_assert_msg(ss != NULL, "fetch_session_open({K = 4}) returned NULL "
                  "(errno = %s)", pk_errno_name(errno));
    int rc = fetch_session_run(ss, urls, N, out, NULL, NULL);
    ck_assert_msg(rc == 0, "fetch_session_run(6 x /delay/50) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    free_all(out, N);
    fetch_session_close(ss);
    expect_nothing_left(s, before, "fetch_session_close");
    fetch_session_close(NULL);
    pk_httpd_stop(s);
}
END_TEST

/* on_done that cancels the batch at the first final result. */
typedef struct cancel_ctx {
    int calls;
    size_t first;
} cancel_ctx;

static int cancel_at_first(size_t index, const fetch_result *r, void *ctx)
{
    (void)r;
    cancel_ctx *c = ctx;
    if (c->calls++ == 0)
        c->first = index;
    return 1;
}

START_TEST(test_session_cancel)
{
    /* Three 3 s requests in flight and a flaky URL waiting out a 5 s
     * backoff when the 200 ms one finishes and on_done cancels: the run
     * must return at once, with the in-flight transfers out of the multi
     * handle (their connections closed), the unfinished URLs marked, and
     * the session still good for the next batch. Then close frees all. */
    pk_httpd *s = server();
    warm_up_curl(s);
    enum { N = 5 };
    char buf[N][URL_MAX];
    url_of(s, "/delay/3000", buf[0]);
    url_of(s, "/delay/3000", buf[1]);
    url_of(s, "/flaky/cancel/5", buf[2]);
    url_of(s, "/delay/200", buf[3]);
    url_of(s, "/delay/3000", buf[4]);
    const char *urls[N] = {buf[0], buf[1], buf[2], buf[3], buf[4]};
    fetch_result out[N];
    memset(out, 0, sizeof out);
    settle_fds(s, -1);
    snapshot before = take_snapshot();
    fetch_opts o = {.max_concurrency = 5, .max_attempts = 3, .backoff_ms = 5000};
    fetch_session *ss = fetch_session_open(&o);
    ck_assert_msg(ss != NULL, "fetch_session_open({K = 5}) returned NULL "
                  "(errno = %s)", pk_errno_name(errno));
    cancel_ctx c = {0};
    uint64_t t0 = pk_now_ns();
    errno = 0;
    int rc = fetch_session_run(ss, urls, N, out, cancel_at_first, &c);
    int err = errno;
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == -1 && err == ECANCELED,
                  "fetch_session_run(...) whose on_done returned 1 returned %d "
                  "with errno = %s, expected -1 with ECANCELED", rc,
                  pk_errno_name(err));
    ck_assert_msg(c.calls == 1 && c.first == 3,
                  "on_done was called %d time(s), first for URL %zu; expected "
                  "once, for URL 3 (/delay/200, the first to finish): stop "
                  "calling it once it asked to cancel", c.calls, c.first);
    ck_assert_msg(secs < 2.5 * slack(), "the cancelled run took %.2f s, "
                  "expected about 0.2: cancelling stops the transfers in "
                  "flight, it does not wait for them", secs);
    ck_assert_msg(spy.nattached == 0, "after the cancelled run %d easy "
                  "handle(s) were still in the multi handle: take every "
                  "transfer in flight out (curl_multi_remove_handle)",
                  spy.nattached);
    ck_assert_msg(out[3].status == 200 && out[3].body &&
                  strcmp(out[3].body, "delayed 200\n") == 0,
                  "out[3] (/delay/200, finished before the cancel) gave %s, "
                  "expected its result kept", desc(&out[3]));
    const size_t aborted[] = {0, 1, 2, 4};
    for (size_t j = 0; j < 4; j++) {
        const fetch_result *r = &out[aborted[j]];
        ck_assert_msg(r->error == CURLE_ABORTED_BY_CALLBACK && r->body == NULL &&
                      r->status == 0 && r->attempts == 1,
                      "out[%zu] (%s, unfinished at the cancel) gave %s; "
                      "expected error %d (CURLE_ABORTED_BY_CALLBACK), status "
                      "0, no body, 1 attempt", aborted[j], urls[aborted[j]],
                      desc(r), CURLE_ABORTED_BY_CALLBACK);
    }
    /* The three aborted transfers' connections are closed; the two that
     * ended cleanly (the 200 ms one, the flaky one's 503) may stay. */
    pk_httpd_stats st = {0};
    for (int i = 0; i < 100 && pk_httpd_stats_get(s, &st) == 0 && st.current > 2; i++)
        usleep(10000);
    ck_assert_msg(st.current <= 2, "after the cancel the server still had %u "
                  "connections open, expected at most 2: the transfers in "
                  "flight must leave the multi handle, which closes their "
                  "connections", st.current);
    free_all(out, N);

    /* The session goes on. */
    char more[3][URL_MAX];
    const char *murls[3];
    make_urls(s, more, murls, 3, "/bytes/%d", 30);
    fetch_result mout[3];
    memset(mout, 0, sizeof mout);
    rc = fetch_session_run(ss, murls, 3, mout, NULL, NULL);
    ck_assert_msg(rc == 0 && body_is_pattern(&mout[0], 30) &&
                  body_is_pattern(&mout[1], 30) && body_is_pattern(&mout[2], 30),
                  "the next batch on the same session (3 x /bytes/30) returned "
                  "%d (errno = %s) with %s, %s, %s; expected 0 and the bodies: "
                  "a cancel must leave the session as good as new", rc,
                  pk_errno_name(errno), desc(&mout[0]), desc(&mout[1]),
                  desc(&mout[2]));
    free_all(mout, 3);
    fetch_session_close(ss);
    expect_nothing_left(s, before, "the cancelled session was closed");
    pk_httpd_stop(s);
}
END_TEST

/* What the bodies of fetch_session_with() do. */
typedef struct body_ctx {
    const char *const *urls;
    size_t n;
    fetch_result *out;
    int calls;
    int batch_rc, batch_errno;
    int fail_with; /* 0: return 7; else set errno to it and return -1 */
    fetch_done_fn on_done;
} body_ctx;

static int body_use(fetch_session *s, void *ctx)
{
    body_ctx *b = ctx;
    b->calls++;
    errno = 0;
    b->batch_rc = fetch_session_run(s, b->urls, b->n, b->out, b->on_done, b);
    b->batch_errno = errno;
    free_all(b->out, b->n);
    if (b->on_done != NULL) { /* a cancelled batch: pass its error on */
        errno = b->batch_errno;
        return b->batch_rc;
    }
    if (b->fail_with != 0) { /* an error of the caller's own, mid-use */
        errno = b->fail_with;
        return -1;
    }
    return 7;
}

static int cancel_now(size_t index, const fetch_result *r, void *ctx)
{
    (void)index, (void)r, (void)ctx;
    return 1;
}

START_TEST(test_session_with_closes_on_error)
{
    /* The body uses the session, then fails with an error of its own
     * (EPROTO). fetch_session_with must still close the session (nothing
     * left) and hand back the body's -1 and errno: __aexit__ runs on every
     * path and does not swallow the exception. */
    pk_httpd *s = server();
    warm_up_curl(s);
    char buf[2][URL_MAX];
    const char *urls[2];
    make_urls(s, buf, urls, 2, "/delay/%d", 30);
    fetch_result out[2];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 2};
    settle_fds(s, -1);
    snapshot before = take_snapshot();

    body_ctx b = {.urls = urls, .n = 2, .out = out, .fail_with = EPROTO};
    errno = 0;
    int rc = fetch_session_with(&o, body_use, &b);
    int err = errno;
    ck_assert_msg(b.calls == 1 && b.batch_rc == 0,
                  "fetch_session_with(&opts, body, ctx) returned %d (errno = "
                  "%s) after running the body %d time(s), whose batch returned "
                  "%d (errno = %s); expected the body to run once, and its "
                  "batch to return 0", rc, pk_errno_name(err), b.calls,
                  b.batch_rc, pk_errno_name(b.batch_errno));
    ck_assert_msg(rc == -1 && err == EPROTO,
                  "fetch_session_with(body that fails with EPROTO) returned %d "
                  "with errno = %s, expected -1 with EPROTO: give back what "
                  "the body returned, and its errno", rc, pk_errno_name(err));
    expect_nothing_left(s, before, "fetch_session_with(body that failed)");

    b = (body_ctx){.urls = urls, .n = 2, .out = out};
    rc = fetch_session_with(&o, body_use, &b);
    ck_assert_msg(rc == 7 && b.calls == 1, "fetch_session_with(body that "
                  "returns 7) returned %d after %d call(s) of the body, "
                  "expected 7 after 1", rc, b.calls);
    expect_nothing_left(s, before, "fetch_session_with(body that returned 7)");
    PK_EXPECT_EINVAL(fetch_session_with(&o, NULL, NULL),
                     "fetch_session_with(&opts, NULL, NULL)");
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_session_with_cancelled_body)
{
    /* The body's batch is cancelled with two 3 s transfers in flight: the
     * with must come back at once with -1 and ECANCELED, and leave nothing. */
    pk_httpd *s = server();
    warm_up_curl(s);
    char buf[3][URL_MAX];
    url_of(s, "/bytes/10", buf[0]);
    url_of(s, "/delay/3000", buf[1]);
    url_of(s, "/delay/3000", buf[2]);
    const char *urls[3] = {buf[0], buf[1], buf[2]};
    fetch_result out[3];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 3};
    settle_fds(s, -1);
    snapshot before = take_snapshot();
    body_ctx b = {.urls = urls, .n = 3, .out = out, .on_done = cancel_now};
    uint64_t t0 = pk_now_ns();
    errno = 0;
    int rc = fetch_session_with(&o, body_use, &b);
    int err = errno;
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc == -1 && err == ECANCELED,
                  "fetch_session_with(body whose batch is cancelled) returned "
                  "%d with errno = %s, expected -1 with ECANCELED", rc,
                  pk_errno_name(err));
    ck_assert_msg(secs < 2.5 * slack(), "the cancelled body took %.2f s, "
                  "expected well under the 3 s of the transfers in flight", secs);
    expect_nothing_left(s, before, "fetch_session_with(cancelled body)");
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_session_open_fails_cleanly)
{
    /* The spy makes libcurl fail in the middle of fetch_session_open: the
     * handles made before the failure must be freed (one error path that
     * undoes everything, as a constructor's `fail:` label does). */
    pk_httpd *s = server();
    warm_up_curl(s);
    settle_fds(s, -1);
    snapshot before = take_snapshot();
    fetch_opts o = {.max_concurrency = 4};

    spy.fail_easy_in = 3;
    errno = 0;
    fetch_session *ss = fetch_session_open(&o);
    int err = errno;
    spy.fail_easy_in = 0;
    ck_assert_msg(ss == NULL && err == EIO,
                  "fetch_session_open({K = 4}) when the 3rd curl_easy_init "
                  "fails returned %p with errno = %s, expected NULL with EIO",
                  (void *)ss, pk_errno_name(err));
    expect_nothing_left(s, before, "a failed fetch_session_open (3rd easy handle)");

    spy.fail_multi = 1;
    errno = 0;
    ss = fetch_session_open(&o);
    err = errno;
    spy.fail_multi = 0;
    ck_assert_msg(ss == NULL && err == EIO,
                  "fetch_session_open when curl_multi_init fails returned %p "
                  "with errno = %s, expected NULL with EIO", (void *)ss,
                  pk_errno_name(err));
    expect_nothing_left(s, before, "a failed fetch_session_open (multi handle)");

    body_ctx b = {0};
    spy.fail_easy_in = 1;
    errno = 0;
    int rc = fetch_session_with(&o, body_use, &b);
    err = errno;
    spy.fail_easy_in = 0;
    ck_assert_msg(rc == -1 && err == EIO && b.calls == 0,
                  "fetch_session_with when the session cannot open returned %d "
                  "with errno = %s and ran the body %d time(s); expected -1 "
                  "with EIO, and no body (__aenter__ failed)", rc,
                  pk_errno_name(err), b.calls);
    expect_nothing_left(s, before, "a fetch_session_with that could not open");
    pk_httpd_stop(s);
}
END_TEST

/* on_done that tries to run a batch on the same session. */
typedef struct reenter_ctx {
    fetch_session *s;
    const char *const *urls;
    int rc, err, calls;
} reenter_ctx;

static int run_inside(size_t index, const fetch_result *r, void *ctx)
{
    (void)index, (void)r;
    reenter_ctx *c = ctx;
    if (c->calls++ == 0) {
        fetch_result inner[1];
        memset(inner, 0, sizeof inner);
        errno = 0;
        c->rc = fetch_session_run(c->s, c->urls, 1, inner, NULL, NULL);
        c->err = errno;
        if (c->rc >= 0)
            fetch_result_free(&inner[0]);
    }
    return 0;
}

START_TEST(test_session_run_busy)
{
    /* A batch started from on_done would share the loop, the slots and the
     * results of the batch that is running: refuse it (EBUSY; Python says
     * "this event loop is already running"). */
    pk_httpd *s = server();
    enum { N = 3 };
    char buf[N][URL_MAX];
    const char *urls[N];
    make_urls(s, buf, urls, N, "/delay/%d", 50);
    fetch_result out[N];
    memset(out, 0, sizeof out);
    fetch_opts o = {.max_concurrency = 2};
    fetch_session *ss = fetch_session_open(&o);
    ck_assert_msg(ss != NULL, "fetch_session_open({K = 2}) returned NULL "
                  "(errno = %s)", pk_errno_name(errno));
    reenter_ctx c = {.s = ss, .urls = urls};
    int rc = fetch_session_run(ss, urls, N, out, run_inside, &c);
    ck_assert_msg(c.rc == -1 && c.err == EBUSY,
                  "fetch_session_run called from on_done, while a batch runs "
                  "on the same session, returned %d with errno = %s, "
                  "expected -1 with EBUSY", c.rc, pk_errno_name(c.err));
    ck_assert_msg(rc == 0 && c.calls == N,
                  "the outer batch returned %d (errno = %s) after %d on_done "
                  "call(s), expected 0 after %d", rc, pk_errno_name(errno),
                  c.calls, N);
    free_all(out, N);
    fetch_session_close(ss);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_session_bad_args)
{
    fetch_opts neg_backoff = {.backoff_ms = -1}, neg_timeout = {.timeout_ms = -1};
    errno = 0;
    fetch_session *ss = fetch_session_open(&neg_backoff);
    int err = errno;
    ck_assert_msg(ss == NULL && err == EINVAL, "fetch_session_open({.backoff_ms "
                  "= -1}) returned %p with errno = %s, expected NULL with "
                  "EINVAL", (void *)ss, pk_errno_name(err));
    errno = 0;
    ss = fetch_session_open(&neg_timeout);
    err = errno;
    ck_assert_msg(ss == NULL && err == EINVAL, "fetch_session_open({.timeout_ms "
                  "= -1}) returned %p with errno = %s, expected NULL with "
                  "EINVAL", (void *)ss, pk_errno_name(err));
    const char *urls[1] = {"http://127.0.0.1:1/"};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    PK_EXPECT_EINVAL(fetch_session_run(NULL, urls, 1, out, NULL, NULL),
                     "fetch_session_run(NULL, urls, 1, out, NULL, NULL)");
    ss = fetch_session_open(NULL);
    ck_assert_msg(ss != NULL, "fetch_session_open(NULL) returned NULL (errno = "
                  "%s), expected a session with the defaults", pk_errno_name(errno));
    PK_EXPECT_EINVAL(fetch_session_run(ss, NULL, 1, out, NULL, NULL),
                     "fetch_session_run(s, NULL, 1, out, NULL, NULL)");
    PK_EXPECT_EINVAL(fetch_session_run(ss, urls, 1, NULL, NULL, NULL),
                     "fetch_session_run(s, urls, 1, NULL, NULL, NULL)");
    PK_EXPECT_INT("fetch_session_run(s, NULL, 0, NULL, NULL, NULL)",
                  fetch_session_run(ss, NULL, 0, NULL, NULL, NULL), 0);
    fetch_session_close(ss);
    fetch_session_close(NULL);
}
END_TEST

/* ---- performance ------------------------------------------------------------------- */

/* A figure far beyond the zero-points mark needs no five rounds: when two
 * calls in a row were that slow and the machine is quiet enough to trust
 * them (one trial of each ceiling), the tests award those calls' figure
 * at once. That keeps a very slow loop from running into the time limit,
 * so that its message still shows the figures. */
static int machine_quiet(void)
{
    unsigned long long iters = pk_ceiling_calibrate(0.03);
    return pk_ceiling_trial(2, iters) >= PK_PERF_MIN_CEILING &&
           pk_ceiling_trial_sync(2, iters) >= PK_PERF_MIN_CEILING;
}

static double time_call(void (*fn)(void *), void *ctx)
{
    uint64_t t0 = pk_now_ns();
    fn(ctx);
    return (double)(pk_now_ns() - t0) * 1e-9;
}

/* 1. A slow server. 40 URLs at K = 8: every 8th is /delay/300, the rest
 *    /delay/30. The server holds each answer for its delay (a timer in its
 *    loop), so no client can finish sooner than the schedule in which each
 *    URL, in input order, takes the first slot to come free: computed
 *    below from the delays alone (0.45 s). That schedule is an honest
 *    baseline measured in the same run: the server enforces it on every
 *    call, whatever the machine's speed, and what the client adds on top
 *    (its own overhead, and any slot it leaves idle) is what the figure
 *    shows. Refilling in waves (start K, wait for all K) takes 1.5 s here,
 *    one at a time 2.55 s. */
enum { SLOW_N = 40, SLOW_K = 8, SLOW_EVERY = 8, SLOW_LONG_MS = 300, SLOW_SHORT_MS = 30 };
#define SLOW_TARGET 1.30 /* wall time / ideal, at most */

static int slow_delay(size_t i)
{
    return i % SLOW_EVERY == 0 ? SLOW_LONG_MS : SLOW_SHORT_MS;
}

/* The makespan, in ms, of K slots taking URLs in input order. */
static double slow_ideal_ms(void)
{
    double free_at[SLOW_K] = {0};
    for (size_t i = 0; i < SLOW_N; i++) {
        size_t first = 0;
        for (size_t k = 1; k < SLOW_K; k++)
            if (free_at[k] < free_at[first])
                first = k;
        free_at[first] += slow_delay(i);
    }
    double end = 0;
    for (size_t k = 0; k < SLOW_K; k++)
        end = free_at[k] > end ? free_at[k] : end;
    return end;
}

typedef struct perf_job {
    const char *const *urls;
    size_t n;
    fetch_opts opts;
    fetch_result *out;
    int bad;        /* results that were wrong, over every timed call */
    int (*ok)(size_t i, const fetch_result *r);
} perf_job;

static void run_perf_job(void *ctx)
{
    perf_job *j = ctx;
    if (fetch_all(j->urls, j->n, &j->opts, j->out) != 0)
        j->bad++;
    for (size_t i = 0; i < j->n; i++) {
        if (!j->ok(i, &j->out[i]))
            j->bad++;
        fetch_result_free(&j->out[i]);
    }
}

static int slow_ok(size_t i, const fetch_result *r)
{
    char want[32];
    snprintf(want, sizeof want, "delayed %d\n", slow_delay(i));
    return r->status == 200 && r->body != NULL && strcmp(r->body, want) == 0;
}

START_TEST(test_fetch_all_perf_slow_server)
{
    pk_httpd_proc srv = spawned_server();
    static char buf[SLOW_N][URL_MAX];
    static const char *urls[SLOW_N];
    static fetch_result out[SLOW_N];
    for (size_t i = 0; i < SLOW_N; i++) {
        char path[32];
        snprintf(path, sizeof path, "/delay/%d", slow_delay(i));
        proc_url(&srv, path, buf[i]);
        urls[i] = buf[i];
    }
    perf_job job = {urls, SLOW_N, {.max_concurrency = SLOW_K}, out, 0, slow_ok};
    /* Correctness first. */
    memset(out, 0, sizeof out);
    errno = 0;
    uint64_t t0 = pk_now_ns();
    int rc = fetch_all(urls, SLOW_N, &job.opts, out);
    double first = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc >= 0, "fetch_all(40 x /delay, K = 8) returned %d (errno "
                  "= %s), expected 0", rc, pk_errno_name(errno));
    for (size_t i = 0; i < SLOW_N; i++)
        ck_assert_msg(slow_ok(i, &out[i]), "fetch_all(40 x /delay, K = 8): "
                      "out[%zu] gave %s, expected status 200 and \"delayed "
                      "%d\"", i, desc(&out[i]), slow_delay(i));
    ck_assert_msg(rc == 0, "fetch_all(40 x /delay, K = 8) returned %d, "
                  "expected 0", rc);
    free_all(out, SLOW_N);

    double ideal = slow_ideal_ms() * 1e-3, one_by_one = 0;
    for (size_t i = 0; i < SLOW_N; i++)
        one_by_one += slow_delay(i) * 1e-3;
    void (*fns[])(void *) = {run_perf_job};
    void *ctxs[] = {&job};
    double slowest = 0;
    if (first > 2 * SLOW_TARGET * ideal) {
        double second = time_call(run_perf_job, &job);
        if (second > 2 * SLOW_TARGET * ideal && pk_perf_enabled() && machine_quiet())
            slowest = first < second ? first : second;
    }
    PK_PERF_LOOP {
        if (slowest > 0) {
            pk_perf_award(slowest / ideal, SLOW_TARGET, PK_PERF_LOWER,
                          "fetch_all(40 URLs of 30 and 300 ms, K = 8): %.3f s "
                          "in two calls running, %.2fx the %.3f s the server's "
                          "delays allow (one at a time: %.2f s); target <= "
                          "%.2fx, and no points from %.2fx: not measured "
                          "further", slowest, slowest / ideal, ideal,
                          one_by_one, SLOW_TARGET, 2 * SLOW_TARGET);
            continue;
        }
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 1, &r) != 0)
            continue;
        double x = r.median_s[0] / ideal;
        pk_perf_award(x, SLOW_TARGET, PK_PERF_LOWER,
                      "fetch_all(40 URLs of 30 and 300 ms, K = 8): %.3f s, "
                      "%.2fx the %.3f s the server's delays allow (each URL "
                      "in the first slot to come free; one at a time: %.2f s); "
                      "target <= %.2fx (machine ceiling %.2fx)",
                      r.median_s[0], x, ideal, one_by_one, SLOW_TARGET,
                      r.ceiling);
    }
    pk_httpd_proc_stop(&srv);
    ck_assert_msg(job.bad == 0, "fetch_all(40 x /delay, K = 8) gave %d wrong "
                  "result(s) during the timed runs", job.bad);
}
END_TEST

/* 2. A fast server. 2000 x /bytes/256 at K = 50, against the best a
 *    blocking client does: one easy handle reused for every request, one
 *    after another (its connection stays open). On loopback a request is
 *    work for both CPUs, not waiting, so concurrency cannot give much here
 *    (K = 50 over K = 1 measured 0.8-1.5x on the course's machine); what
 *    the figure shows is whether the loop keeps its connections and its
 *    overhead small. A loop that opens a connection per request, or
 *    sleeps where it should poll, falls far behind the blocking one. */
enum { FAST_N = 2000, FAST_K = 50, FAST_BYTES = 256 }; /* /bytes/256 */
#define FAST_TARGET 0.80 /* requests/s of fetch_all over the reused handle's */

typedef struct seq_job {
    const char *const *urls;
    size_t n;
    int bad;
} seq_job;

static void run_reused_handle(void *ctx)
{
    seq_job *j = ctx;
    CURL *e = curl_easy_init();
    if (e == NULL) {
        j->bad++;
        return;
    }
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* as fetch.c: no SIGPIPE dance per request */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    for (size_t i = 0; i < j->n; i++) {
        long status = 0;
        curl_easy_setopt(e, CURLOPT_URL, j->urls[i]);
        if (curl_easy_perform(e) != CURLE_OK ||
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != 200)
            j->bad++;
    }
    curl_easy_cleanup(e);
}

static int fast_ok(size_t i, const fetch_result *r)
{
    (void)i;
    return r->status == 200 && body_is_pattern(r, FAST_BYTES);
}

START_TEST(test_fetch_all_perf_throughput)
{
    pk_httpd_proc srv = spawned_server();
    static char buf[FAST_N][URL_MAX];
    static const char *urls[FAST_N];
    static fetch_result out[FAST_N];
    for (size_t i = 0; i < FAST_N; i++) {
        proc_url(&srv, "/bytes/256", buf[i]);
        urls[i] = buf[i];
    }
    perf_job job = {urls, FAST_N, {.max_concurrency = FAST_K}, out, 0, fast_ok};
    seq_job base = {urls, FAST_N, 0};
    /* Correctness first. */
    memset(out, 0, sizeof out);
    errno = 0;
    uint64_t t0 = pk_now_ns();
    int rc = fetch_all(urls, FAST_N, &job.opts, out);
    double first = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(rc >= 0, "fetch_all(2000 x /bytes/256, K = 50) returned %d "
                  "(errno = %s), expected 0", rc, pk_errno_name(errno));
    for (size_t i = 0; i < FAST_N; i++)
        ck_assert_msg(fast_ok(i, &out[i]), "fetch_all(2000 x /bytes/256, "
                      "K = 50): out[%zu] gave %s, expected status 200 and the "
                      "256 bytes", i, desc(&out[i]));
    ck_assert_msg(rc == 0, "fetch_all(2000 x /bytes/256, K = 50) returned %d, "
                  "expected 0", rc);
    free_all(out, FAST_N);

    void (*fns[])(void *) = {run_reused_handle, run_perf_job};
    void *ctxs[] = {&base, &job};
    double slow_ratio = 0, base_s = time_call(run_reused_handle, &base);
    if (base_s / first < FAST_TARGET / 4) {
        double second = time_call(run_perf_job, &job);
        double worse = first < second ? second : first;
        base_s = time_call(run_reused_handle, &base);
        /* Under a tenth of the target no load explains it: the baseline
         * beside it suffers more from a busy machine than the loop does. */
        double best = base_s / (first < second ? first : second);
        if (base_s / worse < FAST_TARGET / 4 && pk_perf_enabled() &&
            (best < FAST_TARGET / 10 || machine_quiet()))
            slow_ratio = best;
    }
    PK_PERF_LOOP {
        if (slow_ratio > 0) {
            pk_perf_award(slow_ratio, FAST_TARGET, PK_PERF_HIGHER,
                          "fetch_all(2000 x /bytes/256, K = 50) did %.2fx the "
                          "requests per second of one reused easy handle, one "
                          "request after another (two calls, %.0f requests/s at "
                          "best, against %.0f); target %.2fx, and no points "
                          "under %.2fx: not measured further", slow_ratio,
                          FAST_N * slow_ratio / base_s, FAST_N / base_s,
                          FAST_TARGET, FAST_TARGET / 2);
            continue;
        }
        pk_perf_result r;
        if (pk_perf_measure(fns, ctxs, 2, &r) != 0)
            continue;
        pk_perf_award(r.ratio[1], FAST_TARGET, PK_PERF_HIGHER,
                      "fetch_all(2000 x /bytes/256, K = 50) did %.2fx the "
                      "requests per second of one reused easy handle, one "
                      "request after another (median of %d paired rounds; "
                      "median rates %.0f and %.0f requests/s); target %.2fx "
                      "(machine ceiling %.2fx)", r.ratio[1], PK_PERF_ROUNDS,
                      FAST_N / r.median_s[1], FAST_N / r.median_s[0],
                      FAST_TARGET, r.ceiling);
    }
    pk_httpd_proc_stop(&srv);
    ck_assert_msg(job.bad == 0 && base.bad == 0, "%d wrong result(s) from "
                  "fetch_all and %d from the baseline during the timed runs",
                  job.bad, base.bad);
}
END_TEST

/* ---- the test server itself (ungraded: it is provided code) ------------------- */

static int connect_to(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket() failed (errno = %s)", pk_errno_name(errno));
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
                  "connect to 127.0.0.1:%u failed (errno = %s)", port,
                  pk_errno_name(errno));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = send(fd, s, len, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send() to the server returned %zd (errno = %s)",
                      w, pk_errno_name(errno));
        s += w;
        len -= (size_t)w;
    }
}

/* Read one response; returns its status, the body into body (cap bytes,
 * NUL-terminated, truncated), or -1 when the server closed first. The head
 * is read a byte at a time so that a pipelined next response stays in the
 * socket for the next call. */
static int read_response(int fd, char *body, size_t cap, size_t *body_len)
{
    char head[4096];
    size_t len = 0;
    head[0] = '\0';
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
        ck_assert_msg(len < sizeof head - 1, "the server's response head is "
                      "longer than %zu bytes", sizeof head);
        if (recv(fd, head + len, 1, 0) != 1)
            return -1;
        head[++len] = '\0';
    }
    int status = atoi(head + 9);
    char *cl = strcasestr(head, "Content-Length:");
    size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0, have = 0;
    char *data = malloc(want + 1);
    ck_assert_msg(data != NULL, "malloc(%zu) failed in the test", want + 1);
    while (have < want) {
        ssize_t r = recv(fd, data + have, want - have, 0);
        if (r <= 0) {
            free(data);
            return -1;
        }
        have += (size_t)r;
    }
    if (body && cap) {
        size_t n = want < cap - 1 ? want : cap - 1;
        memcpy(body, data, n);
        body[n] = '\0';
    }
    if (body_len)
        *body_len = want;
    free(data);
    return status;
}

static int get(int fd, const char *path, char *body, size_t cap)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    send_all(fd, req);
    return read_response(fd, body, cap, NULL);
}

/* GET path on fd: the status must be `status` and, when `want` is not
 * NULL, the body `want`. */
static void expect_get(int fd, const char *path, int status, const char *want)
{
    char body[128];
    int got = get(fd, path, body, sizeof body);
    ck_assert_msg(got == status && (want == NULL || strcmp(body, want) == 0),
                  "GET %s gave status %d, body \"%s\"; expected %d%s%s%s", path,
                  got, got >= 0 ? body : "", status, want ? ", body \"" : "",
                  want ? want : "", want ? "\"" : "");
}

/* The next response on fd must have this status and body. */
static void expect_response(int fd, int status, const char *want)
{
    char body[128];
    int got = read_response(fd, body, sizeof body, NULL);
    ck_assert_msg(got == status && (want == NULL || strcmp(body, want) == 0),
                  "the pipelined response had status %d, body \"%s\"; expected "
                  "%d, body \"%s\"", got, got >= 0 ? body : "", status,
                  want ? want : "(any)");
}

START_TEST(test_httpd_endpoints)
{
    pk_httpd *s = server();
    ck_assert_msg(pk_httpd_port(s) > 0, "pk_httpd_port() returned 0");
    int fd = connect_to(pk_httpd_port(s));
    char body[128];
    size_t len = 0;
    send_all(fd, "GET /bytes/30 HTTP/1.1\r\nHost: x\r\n\r\n");
    int st30 = read_response(fd, body, sizeof body, &len);
    ck_assert_msg(st30 == 200 && len == 30 &&
                  strcmp(body, "abcdefghijklmnopqrstuvwxyzabcd") == 0,
                  "GET /bytes/30 gave status %d, %zu bytes \"%s\"", st30, len, body);
    expect_get(fd, "/status/418", 418, "status 418\n");
    expect_get(fd, "/delay/20", 200, "delayed 20\n");
    expect_get(fd, "/nothing/here", 404, NULL);
    expect_get(fd, "/bytes/x", 400, NULL);
    expect_get(fd, "/flaky/k/2", 503, NULL);
    expect_get(fd, "/flaky/k/2", 503, NULL);
    expect_get(fd, "/flaky/k/2", 200, "ok k\n");
    int st = get(fd, "/stats", body, sizeof body);
    ck_assert_msg(st == 200 && strstr(body, "\"requests\": 9,") &&
                  strstr(body, "\"max_concurrent\": 1}"),
                  "GET /stats gave status %d, body %s; expected 9 requests, "
                  "at most 1 connection", st, body);
    st = get(fd, "/stats/reset", body, sizeof body);
    ck_assert_msg(st == 200 && strstr(body, "\"requests\": 0,") != NULL,
                  "GET /stats/reset gave status %d, body %s", st, body);
    st = get(fd, "/drop", body, sizeof body);
    ck_assert_msg(st == -1, "GET /drop gave status %d, expected the connection "
                  "closed without an answer", st);
    close(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_pipelined_keepalive)
{
    /* Three requests in one write on one connection: three answers in order. */
    pk_httpd *s = server();
    int fd = connect_to(pk_httpd_port(s));
    send_all(fd, "GET /delay/30 HTTP/1.1\r\n\r\nGET /bytes/3 HTTP/1.1\r\n\r\n"
                 "HEAD /bytes/5 HTTP/1.1\r\n\r\nGET /status/201 HTTP/1.1\r\n\r\n");
    expect_response(fd, 200, "delayed 30\n");
    expect_response(fd, 200, "abc");
    /* HEAD: Content-Length 5 but no body; read the head by hand. */
    char head[256] = "";
    size_t len = 0;
    while (!strstr(head, "\r\n\r\n") && len < sizeof head - 1) {
        ssize_t r = recv(fd, head + len, 1, 0);
        ck_assert_msg(r == 1, "reading the HEAD response: recv returned %zd", r);
        len++;
    }
    ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "HEAD /bytes/5 gave "
                  "\"%s\", expected HTTP/1.1 200", head);
    expect_response(fd, 201, NULL);
    pk_httpd_stats st = {0};
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.connections == 1 && st.requests == 4,
                  "stats: %llu connections, %llu requests; expected 1 and 4",
                  (unsigned long long)st.connections,
                  (unsigned long long)st.requests);
    close(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_many_connections)
{
    /* Hundreds of keep-alive connections open at once, each used twice. */
    const char *v = getenv("PK_UNDER_VALGRIND");
    int n = v && *v == '1' ? 120 : 300;
    pk_httpd *s = server();
    int *fd = malloc((size_t)n * sizeof *fd);
    ck_assert_msg(fd != NULL, "malloc failed in the test");
    for (int i = 0; i < n; i++)
        fd[i] = connect_to(pk_httpd_port(s));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++)
            send_all(fd[i], "GET /bytes/100 HTTP/1.1\r\n\r\n");
        for (int i = 0; i < n; i++) {
            size_t len = 0;
            int st = read_response(fd[i], NULL, 0, &len);
            ck_assert_msg(st == 200 && len == 100, "connection %d, round %d: "
                          "status %d, %zu bytes; expected 200 and 100", i,
                          round, st, len);
        }
    }
    pk_httpd_stats st = {0};
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.max_concurrent == (unsigned)n && st.current == (unsigned)n,
                  "expected %d connections at once, stats say max %u, current %u",
                  n, st.max_concurrent, st.current);
    ck_assert_msg(st.requests == 2 * (uint64_t)n, "stats: %llu requests, "
                  "expected %d", (unsigned long long)st.requests, 2 * n);
    for (int i = 0; i < n; i++)
        close(fd[i]);
    free(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_delay_blocks_nobody)
{
    /* A /delay/2000 on one connection must not hold up another. */
    pk_httpd *s = server();
    int slow = connect_to(pk_httpd_port(s)), fast = connect_to(pk_httpd_port(s));
    send_all(slow, "GET /delay/2000 HTTP/1.1\r\n\r\n");
    uint64_t t0 = pk_now_ns();
    expect_get(fast, "/bytes/4", 200, "abcd");
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(secs < 1.5 * slack(), "a 4-byte answer took %.2f s behind a delay", secs);
    close(slow); /* hang up mid-delay: the server must cope */
    close(fast);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_bad_requests)
{
    pk_httpd *s = server();
    int fd = connect_to(pk_httpd_port(s));
    send_all(fd, "NONSENSE\r\n\r\n");
    expect_response(fd, 400, NULL);
    close(fd);
    fd = connect_to(pk_httpd_port(s));
    send_all(fd, "POST /bytes/1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    expect_response(fd, 405, NULL);
    expect_get(fd, "/bytes/99999999999", 400, NULL);
    close(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_stop_with_clients)
{
    /* Stopping with open connections and a pending delay: no hang, and the
     * client sees the connection close. */
    pk_httpd *s = server();
    int idle = connect_to(pk_httpd_port(s)), busy = connect_to(pk_httpd_port(s));
    send_all(busy, "GET /delay/10000 HTTP/1.1\r\n\r\n");
    usleep(50000);
    uint64_t t0 = pk_now_ns();
    pk_httpd_stop(s);
    double secs = (double)(pk_now_ns() - t0) * 1e-9;
    ck_assert_msg(secs < 4.0 * slack(), "pk_httpd_stop took %.2f s: it waited "
                  "for the delay", secs);
    int st = read_response(busy, NULL, 0, NULL);
    ck_assert_msg(st == -1, "the delayed request got status %d after the stop, "
                  "expected the connection closed", st);
    close(idle);
    close(busy);
    pk_httpd_stop(NULL);
}
END_TEST

START_TEST(test_httpd_program)
{
    /* build/bin/pk-httpd --port 0: prints its port, serves, stops on SIGTERM;
     * pk_httpd_spawn() reads the port it prints. */
    pk_httpd_proc p;
    int rc = pk_httpd_spawn(&p);
    ck_assert_msg(rc == 0 && p.port > 0, "pk_httpd_spawn returned %d (errno = "
                  "%s), port %u", rc, pk_errno_name(errno), (unsigned)p.port);
    int fd = connect_to(p.port);
    expect_get(fd, "/bytes/5", 200, "abcde");
    close(fd);
    int st = pk_httpd_proc_stop(&p);
    ck_assert_msg(st == 0, "pk-httpd should exit cleanly on SIGTERM; wait status %d", st);
    st = pk_httpd_proc_stop(&p);
    ck_assert_msg(st == -1, "a second pk_httpd_proc_stop returned %d, expected "
                  "-1 (already stopped)", st);
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("03-async");

    /* Time limits: each test's own duration on a quiet machine is in its
     * comment or obvious (most take well under a second); the limit is a
     * few times that, so that a hang costs seconds. */
    pk_test_add_timeout(s, test_fetch_one_body, 2, 3,
                "curl_easy_init, set CURLOPT_URL and a CURLOPT_WRITEFUNCTION that "
                "appends to a growing buffer, curl_easy_perform, then "
                "CURLINFO_RESPONSE_CODE");
    pk_test_add_timeout(s, test_fetch_one_http_error, 1, 3,
                "libcurl reports a 404 as CURLE_OK: the status decides failure");
    pk_test_add_timeout(s, test_fetch_one_bad_args, 1, 3,
                "check url, out and timeout_ms first; set errno = EINVAL");
    pk_test_add_timeout(s, test_fetch_result_free_clears, 1, 3,
                "free the body, then set body = NULL and len = 0");
    pk_test_add_timeout(s, test_fetch_all_bodies_in_order, 3, 4,
                "store each result at its URL's index: keep it in the easy "
                "handle (CURLOPT_PRIVATE) and read it back when it finishes");
    pk_test_add_timeout(s, test_fetch_all_overlap, 3, 10,
                "add up to max_concurrency handles, then loop: "
                "curl_multi_perform, curl_multi_info_read, curl_multi_poll");
    pk_test_add_timeout(s, test_fetch_all_limit_1, 1, 4,
                "never more than max_concurrency handles in the multi at once");
    pk_test_add_timeout(s, test_fetch_all_limit_3, 1, 4,
                "refill: when curl_multi_info_read reports a transfer done, "
                "start the next URL");
    pk_test_add_timeout(s, test_fetch_all_limit_8, 1, 4,
                "refill as transfers finish, keeping max_concurrency busy");
    pk_test_add_timeout(s, test_fetch_all_reuses_connections, 2, 3,
                "one multi handle for the whole call: its connection cache is "
                "what lets the next transfer reuse an open connection");
    pk_test_add_timeout(s, test_fetch_all_retry_flaky, 2, 3,
                "on 5xx: curl_multi_remove_handle, empty the body buffer, and "
                "add the handle again later");
    pk_test_add_timeout(s, test_fetch_all_backoff_waits, 2, 5,
                "wait backoff_ms << (attempt - 1), plus non-negative jitter");
    pk_test_add_timeout(s, test_fetch_all_retry_gives_up, 1, 3,
                "count attempts; stop at max_attempts and report the last one");
    pk_test_add_timeout(s, test_fetch_all_retry_which_statuses, 2, 3,
                "retry on 5xx and 429 only; another 4xx will not change");
    pk_test_add_timeout(s, test_fetch_all_retry_does_not_block, 2, 6,
                "a retry is a deadline; give curl_multi_poll a timeout no later "
                "than the earliest deadline instead of sleeping");
    pk_test_add_timeout(s, test_fetch_all_drop_fails_alone, 1, 3,
                "a transfer error (msg->data.result) fails that entry only");
    pk_test_add_timeout(s, test_fetch_all_refused_fails_alone, 1, 3,
                "CURLE_COULDNT_CONNECT is worth a retry; keep the last error");
    pk_test_add_timeout(s, test_fetch_all_timeout_fails_alone, 2, 6,
                "CURLOPT_TIMEOUT_MS limits each attempt; a timeout is retried");
    pk_test_add_timeout(s, test_fetch_all_timeout_per_attempt, 1, 5,
                "timeout_ms is per attempt: set CURLOPT_TIMEOUT_MS to it on "
                "each try, not to what is left of a deadline for the batch");
    pk_test_add_timeout(s, test_fetch_all_bad_urls_fail_alone, 1, 3,
                "a NULL URL gets CURLE_URL_MALFORMAT without a try; a bad URL "
                "fails in libcurl and is not worth retrying; SET_HTTP_ONLY "
                "refuses the other protocols");
    pk_test_add_timeout(s, test_fetch_all_writes_every_field, 1, 3,
                "zero every out[i] before anything else; a failed try has no body");
    pk_test_add_timeout(s, test_fetch_all_zero_urls, 1, 3,
                "n = 0 is valid even with NULL arrays: return 0");
    pk_test_add_timeout(s, test_fetch_all_absurd_opts, 1, 3,
                "cap the slots at n; compute waits without overflow");
    pk_test_add_timeout(s, test_fetch_all_bad_args, 1, 3,
                "NULL urls or out with n > 0, or a negative time: EINVAL");
    pk_test_add_timeout(s, test_fetch_all_no_leaks, 2, 6,
                "on every path out: curl_multi_remove_handle, then "
                "curl_easy_cleanup for each easy handle, then "
                "curl_multi_cleanup (it closes the cached connections)");
    pk_test_add_timeout(s, test_fetch_all_reads_msg_before_remove, 1, 3,
                "copy msg->easy_handle and msg->data.result, then remove the "
                "handle: the message dies with curl_multi_remove_handle");
    pk_test_add_timeout(s, test_fetch_all_signals, 1, 5,
                "an early return of the poll is not the end of a wait: "
                "compare pk_now_ns() with each retry's deadline");
    pk_test_add_timeout(s, test_session_reuses_connections, 2, 3,
                "the multi handle belongs to the session (made in open, "
                "cleaned up in close), so its connections outlive a run");
    pk_test_add_timeout(s, test_session_close_frees_everything, 2, 6,
                "close: remove each easy handle from the multi handle, clean "
                "it up, then curl_multi_cleanup, then free");
    pk_test_add_timeout(s, test_session_cancel, 3, 8,
                "on cancel: curl_multi_remove_handle for every slot in "
                "flight, mark the unfinished URLs CURLE_ABORTED_BY_CALLBACK, "
                "free the slots, return -1 with ECANCELED");
    pk_test_add_timeout(s, test_session_with_closes_on_error, 2, 8,
                "save the body's result and errno, close, restore errno, "
                "return the result");
    pk_test_add_timeout(s, test_session_with_cancelled_body, 1, 6,
                "fetch_session_with closes whatever the body returned");
    pk_test_add_timeout(s, test_session_open_fails_cleanly, 2, 8,
                "one fail: label in fetch_session_open that frees whatever "
                "was made (fetch_session_close can do it if it accepts a "
                "half-built session)");
    pk_test_add_timeout(s, test_session_run_busy, 1, 3,
                "a flag in the session says a batch is running: refuse a "
                "second with EBUSY");
    pk_test_add_timeout(s, test_session_bad_args, 1, 3,
                "NULL session, or NULL urls or out with n > 0: EINVAL; a "
                "negative time in opts: NULL with EINVAL");
    pk_test_add_perf(s, test_fetch_all_perf_slow_server, 9, PK_PERF_TIMEOUT,
                "refill a slot as soon as its transfer ends, and let "
                "curl_multi_poll wake you: never wait for a whole wave, "
                "never sleep");
    pk_test_add_perf(s, test_fetch_all_perf_throughput, 9, PK_PERF_TIMEOUT,
                "one multi handle and K easy handles for the whole call, "
                "connections reused; sleep only in curl_multi_poll");

    pk_test_add_ungraded_timeout(s, test_httpd_endpoints, 3);
    pk_test_add_ungraded_timeout(s, test_httpd_pipelined_keepalive, 3);
    pk_test_add_ungraded_timeout(s, test_httpd_many_connections, 5);
    pk_test_add_ungraded_timeout(s, test_httpd_delay_blocks_nobody, 5);
    pk_test_add_ungraded_timeout(s, test_httpd_bad_requests, 3);
    pk_test_add_ungraded_timeout(s, test_httpd_stop_with_clients, 5);
    pk_test_add_ungraded_timeout(s, test_httpd_program, 5);
    return s;
}
