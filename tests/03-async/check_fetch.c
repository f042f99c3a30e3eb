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
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch.h"
#include "pk/timing.h"
#include "pk_check.h"
#include "pk_httpd.h"

#define URL_MAX 128

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
    ck_assert_msg(s != NULL, "the test server did not start: %s", strerror(errno));
    return s;
}

/* urls[i] points into buf[i]; paths are printf patterns with one %d. */
static void make_urls(pk_httpd *s, char (*buf)[URL_MAX], const char **urls,
                      size_t n, const char *path_fmt, int arg)
{
    char path[URL_MAX - 32];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, path_fmt, arg);
        ck_assert_ptr_nonnull(pk_httpd_url(s, path, buf[i], URL_MAX));
        urls[i] = buf[i];
    }
}

static void url_of(pk_httpd *s, const char *path, char *buf)
{
    ck_assert_ptr_nonnull(pk_httpd_url(s, path, buf, URL_MAX));
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
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
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
    ck_assert_msg(rc == 0, "fetch_one(%s) returned %d (errno %s; error %d, "
                  "status %ld), expected 0", url, rc, strerror(errno), r.error,
                  r.status);
    ck_assert_msg(r.status == 200 && r.error == 0 && r.attempts == 1,
                  "expected status 200, error 0, attempts 1; got %ld, %d, %u",
                  r.status, r.error, r.attempts);
    ck_assert_msg(body_is_pattern(&r, 1000),
                  "the body should be the 1000 bytes the server sent, "
                  "NUL-terminated; got len %zu", r.len);
    ck_assert_msg(r.seconds > 0 && r.seconds < 10, "seconds = %g", r.seconds);
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
    ck_assert_msg(rc == 1, "a 404 answer is a failure: fetch_one should return 1, "
                  "got %d", rc);
    ck_assert_msg(r.status == 404 && r.error == 0,
                  "a 404 is a response, not a transfer error: expected status "
                  "404, error 0; got %ld, %d", r.status, r.error);
    fetch_result_free(&r);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_one_bad_args)
{
    fetch_result r;
    errno = 0;
    ck_assert_msg(fetch_one(NULL, 0, &r) == -1 && errno == EINVAL,
                  "fetch_one(NULL url) must return -1 with errno EINVAL");
    errno = 0;
    ck_assert_msg(fetch_one("http://127.0.0.1:1/", 0, NULL) == -1 && errno == EINVAL,
                  "fetch_one(NULL out) must return -1 with errno EINVAL");
    errno = 0;
    ck_assert_msg(fetch_one("http://127.0.0.1:1/", -5, &r) == -1 && errno == EINVAL,
                  "a negative timeout must give -1 with errno EINVAL");
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
    int rc = fetch_all(urls, N, NULL, out);
    ck_assert_msg(rc == 0, "fetch_all returned %d for 8 good URLs, expected 0 "
                  "failures (errno %s)", rc, strerror(errno));
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof want, "delayed %d\n", 400 - 100 * i);
        ck_assert_msg(out[i].status == 200 && out[i].body != NULL &&
                      strcmp(out[i].body, want) == 0,
                      "out[%d] should hold the answer to %s (\"delayed %d\"), "
                      "got status %ld body \"%s\": results must be stored by "
                      "input index, not in finishing order", i, urls[i],
                      400 - 100 * i, out[i].status, out[i].body ? out[i].body : "(null)");
        ck_assert_msg(body_is_pattern(&out[4 + i], sizes[i]),
                      "out[%d] should be the %zu bytes of %s; got %zu bytes",
                      4 + i, sizes[i], urls[4 + i], out[4 + i].len);
        ck_assert_uint_eq(out[4 + i].attempts, 1);
    }
    free_all(out, N);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_overlap)
{
    /* 20 x /delay/300 one after another take 6 s. With 20 in flight they
     * take ~0.3 s; the bound of 2 s is loose on purpose (a loaded machine)
     * and still proves that the requests overlapped. */
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
    ck_assert_msg(rc == 0, "fetch_all returned %d, expected 0", rc);
    ck_assert_msg(secs < 2.0 * slack(),
                  "20 requests of 300 ms at max_concurrency 20 took %.2f s; "
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
    ck_assert_msg(rc == 0, "fetch_all returned %d, expected 0", rc);
    pk_httpd_stats st;
    ck_assert_int_eq(pk_httpd_stats_get(s, &st), 0);
    ck_assert_msg(st.max_concurrent <= k,
                  "max_concurrency %zu, but the server saw %u connections at "
                  "once: add a new transfer only when one has finished",
                  k, st.max_concurrent);
    ck_assert_msg(st.max_concurrent == k,
                  "max_concurrency %zu, but the server never saw more than %u "
                  "connections at once: keep all %zu slots busy", k,
                  st.max_concurrent, k);
    ck_assert_msg(st.requests == n, "the server answered %llu requests, "
                  "expected %zu", (unsigned long long)st.requests, n);
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
    ck_assert_int_eq(fetch_all(urls, N, &o, out), 0);
    pk_httpd_stats st;
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.connections <= 4,
                  "40 requests at max_concurrency 4 opened %llu connections; "
                  "4 are enough. Use one multi handle for all transfers and do "
                  "not clean it up between them", (unsigned long long)st.connections);
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
                  "a URL that fails twice with 503 and then works should "
                  "succeed with max_attempts 3: returned %d, status %ld, "
                  "attempts %u", rc, out[0].status, out[0].attempts);
    ck_assert_msg(out[0].attempts == 3, "expected 3 attempts, counted %u",
                  out[0].attempts);
    ck_assert_msg(out[0].body && strcmp(out[0].body, "ok a\n") == 0,
                  "the body should be \"ok a\\n\", got \"%s\": empty the body "
                  "buffer before each new try", out[0].body ? out[0].body : "(null)");
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
    ck_assert_int_eq(fetch_all(urls, 1, &o, out), 0);
    uint64_t t[PK_HTTPD_FLAKY_LOG];
    int count = pk_httpd_flaky_times(s, "b", t, PK_HTTPD_FLAKY_LOG);
    ck_assert_msg(count == 3, "the server saw %d requests for the flaky URL, "
                  "expected 3 (2 failures, then success, then stop)", count);
    double gap1 = (double)(t[1] - t[0]) * 1e-6, gap2 = (double)(t[2] - t[1]) * 1e-6;
    ck_assert_msg(gap1 >= 150, "the 2nd try came %.0f ms after the 1st; the "
                  "backoff is 150 ms", gap1);
    ck_assert_msg(gap2 >= 300, "the 3rd try came %.0f ms after the 2nd; the "
                  "wait doubles each time, so at least 300 ms", gap2);
    ck_assert_msg(gap1 < 150 * 1.5 + 700 * slack() && gap2 < 300 * 1.5 + 700 * slack(),
                  "waits of %.0f and %.0f ms are far above 150 and 300 ms "
                  "(+ at most half as jitter)", gap1, gap2);
    ck_assert_msg(out[0].seconds >= 0.45, "seconds = %.3f counts from the "
                  "first try's start to the end, waits included: >= 0.45",
                  out[0].seconds);
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
                  "after 3 tries that all got 503: expected return 1, status "
                  "503, attempts 3; got %d, %ld, %u", rc, out[0].status,
                  out[0].attempts);
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
    ck_assert_msg(rc == N, "all %d URLs fail in the end; fetch_all returned %d", N, rc);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i].status == codes[i] && out[i].attempts == want[i],
                      "status %d should be tried %u time(s) with max_attempts "
                      "3; got %u tries, status %ld", codes[i], want[i],
                      out[i].attempts, out[i].status);
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
    ck_assert_int_eq(fetch_all(urls, N, &o, out), 0);
    ck_assert_uint_eq(out[0].attempts, 2);
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
    ck_assert_msg(rc == 1, "one URL of 3 had its connection closed without an "
                  "answer: fetch_all should return 1, got %d", rc);
    ck_assert_msg(out[1].error != 0 && out[1].status == 0 && out[1].body == NULL,
                  "/drop: expected a transfer error (CURLE_GOT_NOTHING), status "
                  "0, no body; got error %d, status %ld", out[1].error, out[1].status);
    ck_assert_msg(body_is_pattern(&out[0], 10) && body_is_pattern(&out[2], 20),
                  "the other two URLs must still succeed");
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
    ck_assert_msg(rc == 1, "one URL of 2 points at a closed port: expected 1, "
                  "got %d", rc);
    ck_assert_msg(out[0].error == CURLE_COULDNT_CONNECT && out[0].attempts == 2,
                  "a refused connection: expected error %d (CURLE_COULDNT_CONNECT) "
                  "after 2 attempts; got error %d after %u", CURLE_COULDNT_CONNECT,
                  out[0].error, out[0].attempts);
    ck_assert_msg(body_is_pattern(&out[1], 5), "the good URL must still succeed");
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
    ck_assert_msg(rc == 1, "expected 1 failure, got %d", rc);
    ck_assert_msg(out[0].error == CURLE_OPERATION_TIMEDOUT && out[0].attempts == 2,
                  "expected error %d (CURLE_OPERATION_TIMEDOUT) after 2 attempts; "
                  "got error %d after %u: set CURLOPT_TIMEOUT_MS on each try",
                  CURLE_OPERATION_TIMEDOUT, out[0].error, out[0].attempts);
    ck_assert_msg(secs < 4.0, "2 tries of 300 ms took %.2f s: the timeout did "
                  "not cut the 5 s request short", secs);
    ck_assert_msg(out[0].seconds >= 0.6, "seconds = %.3f for two 300 ms tries",
                  out[0].seconds);
    ck_assert_msg(body_is_pattern(&out[1], 7), "the good URL must still succeed");
    free_all(out, 2);
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
    ck_assert_msg(rc == 3, "3 of 4 URLs are bad: expected 3, got %d", rc);
    ck_assert_msg(out[0].error == CURLE_URL_MALFORMAT && out[0].attempts == 0,
                  "a NULL URL: expected error CURLE_URL_MALFORMAT (%d) and 0 "
                  "attempts; got %d and %u", CURLE_URL_MALFORMAT, out[0].error,
                  out[0].attempts);
    ck_assert_msg(out[1].error != 0 && out[1].attempts == 1,
                  "\"http://\" is malformed: an error, and not worth a retry "
                  "(got error %d, attempts %u)", out[1].error, out[1].attempts);
    ck_assert_msg(out[3].error != 0 && out[3].status == 0 && out[3].attempts == 1,
                  "an ftp:// URL must be refused, not fetched, and not retried "
                  "(got error %d, attempts %u)", out[3].error, out[3].attempts);
    ck_assert_msg(body_is_pattern(&out[2], 3), "the good URL must still succeed");
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
    memset(out, 0, sizeof out);
    memset(out, 0xAB, sizeof out);
    fetch_all(urls, 4, NULL, out);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(isfinite(out[i].seconds) && out[i].seconds >= 0 &&
                      out[i].seconds < 60, "out[%d].seconds = %g", i, out[i].seconds);
        ck_assert_msg(out[i].attempts <= 1, "out[%d].attempts = %u", i, out[i].attempts);
        ck_assert_msg(out[i].status == 0 || (out[i].status >= 100 && out[i].status < 600),
                      "out[%d].status = %ld", i, out[i].status);
        ck_assert_msg((out[i].body == NULL) == (out[i].len == 0),
                      "out[%d]: body %p with len %zu (no body is NULL and 0)",
                      i, (void *)out[i].body, out[i].len);
    }
    ck_assert_msg(out[0].status == 204 && out[0].body == NULL && out[0].error == 0,
                  "a 204 has no body: status 204, body NULL, error 0");
    ck_assert_msg(out[1].body == NULL && out[2].body == NULL,
                  "failed entries have no body");
    ck_assert_msg(body_is_pattern(&out[3], 4), "the good URL must still succeed");
    free_all(out, 4);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_all_zero_urls)
{
    errno = 0;
    int rc = fetch_all(NULL, 0, NULL, NULL);
    ck_assert_msg(rc == 0, "fetch_all with n = 0 has nothing to do and nothing "
                  "failed: expected 0, got %d (errno %s)", rc, strerror(errno));
    const char *urls[1] = {"http://127.0.0.1:1/"};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    ck_assert_int_eq(fetch_all(urls, 0, NULL, out), 0);
}
END_TEST

START_TEST(test_fetch_all_bad_args)
{
    const char *urls[1] = {"http://127.0.0.1:1/"};
    fetch_result out[1];
    memset(out, 0, sizeof out);
    fetch_opts neg_backoff = {.backoff_ms = -1}, neg_timeout = {.timeout_ms = -1};
    errno = 0;
    ck_assert_msg(fetch_all(NULL, 1, NULL, out) == -1 && errno == EINVAL,
                  "NULL urls with n = 1: expected -1 and errno EINVAL");
    errno = 0;
    ck_assert_msg(fetch_all(urls, 1, NULL, NULL) == -1 && errno == EINVAL,
                  "NULL out with n = 1: expected -1 and errno EINVAL");
    errno = 0;
    ck_assert_msg(fetch_all(urls, 1, &neg_backoff, out) == -1 && errno == EINVAL,
                  "a negative backoff_ms: expected -1 and errno EINVAL");
    errno = 0;
    ck_assert_msg(fetch_all(urls, 1, &neg_timeout, out) == -1 && errno == EINVAL,
                  "a negative timeout_ms: expected -1 and errno EINVAL");
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
    int rc = fetch_all(urls, 2, &o, out);
    ck_assert_msg(rc == 1, "expected 1 failure (the 404), got %d (errno %s): "
                  "allocate min(max_concurrency, n) slots, not max_concurrency",
                  rc, strerror(errno));
    ck_assert_msg(body_is_pattern(&out[0], 5) && out[1].status == 404 &&
                  out[0].attempts == 1 && out[1].attempts == 1,
                  "expected the 5 bytes and a 404, one attempt each");
    free_all(out, 2);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_fetch_result_free_clears)
{
    fetch_result r = {.body = malloc(8), .len = 7};
    ck_assert_ptr_nonnull(r.body);
    strcpy(r.body, "content");
    fetch_result_free(&r);
    ck_assert_msg(r.body == NULL && r.len == 0,
                  "after fetch_result_free the body must be NULL and len 0, so "
                  "that a second free is harmless");
    fetch_result_free(&r);
    fetch_result_free(NULL);
}
END_TEST

/* ---- the test server itself (ungraded: it is provided code) ------------------- */

static int connect_to(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
                  "connect to 127.0.0.1:%u: %s", port, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = send(fd, s, len, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
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
        ck_assert_msg(len < sizeof head - 1, "response head too long");
        if (recv(fd, head + len, 1, 0) != 1)
            return -1;
        head[++len] = '\0';
    }
    int status = atoi(head + 9);
    char *cl = strcasestr(head, "Content-Length:");
    size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0, have = 0;
    char *data = malloc(want + 1);
    ck_assert_ptr_nonnull(data);
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

START_TEST(test_httpd_endpoints)
{
    pk_httpd *s = server();
    ck_assert_uint_gt(pk_httpd_port(s), 0);
    int fd = connect_to(pk_httpd_port(s));
    char body[128];
    size_t len;
    send_all(fd, "GET /bytes/30 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(read_response(fd, body, sizeof body, &len), 200);
    ck_assert_uint_eq(len, 30);
    ck_assert_str_eq(body, "abcdefghijklmnopqrstuvwxyzabcd");
    ck_assert_int_eq(get(fd, "/status/418", body, sizeof body), 418);
    ck_assert_str_eq(body, "status 418\n");
    ck_assert_int_eq(get(fd, "/delay/20", body, sizeof body), 200);
    ck_assert_str_eq(body, "delayed 20\n");
    ck_assert_int_eq(get(fd, "/nothing/here", body, sizeof body), 404);
    ck_assert_int_eq(get(fd, "/bytes/x", body, sizeof body), 400);
    ck_assert_int_eq(get(fd, "/flaky/k/2", body, sizeof body), 503);
    ck_assert_int_eq(get(fd, "/flaky/k/2", body, sizeof body), 503);
    ck_assert_int_eq(get(fd, "/flaky/k/2", body, sizeof body), 200);
    ck_assert_str_eq(body, "ok k\n");
    ck_assert_int_eq(get(fd, "/stats", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"requests\": 9,") && strstr(body, "\"max_concurrent\": 1}"),
                  "stats: %s", body);
    ck_assert_int_eq(get(fd, "/stats/reset", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"requests\": 0,") != NULL, "after reset: %s", body);
    ck_assert_int_eq(get(fd, "/drop", body, sizeof body), -1);
    close(fd);
    pk_httpd_stop(s);
}
END_TEST

START_TEST(test_httpd_pipelined_keepalive)
{
    /* Three requests in one write on one connection: three answers in order. */
    pk_httpd *s = server();
    int fd = connect_to(pk_httpd_port(s));
    char body[64];
    send_all(fd, "GET /delay/30 HTTP/1.1\r\n\r\nGET /bytes/3 HTTP/1.1\r\n\r\n"
                 "HEAD /bytes/5 HTTP/1.1\r\n\r\nGET /status/201 HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(fd, body, sizeof body, NULL), 200);
    ck_assert_str_eq(body, "delayed 30\n");
    ck_assert_int_eq(read_response(fd, body, sizeof body, NULL), 200);
    ck_assert_str_eq(body, "abc");
    /* HEAD: Content-Length 5 but no body; read the head by hand. */
    char head[256] = "";
    size_t len = 0;
    while (!strstr(head, "\r\n\r\n")) {
        ssize_t r = recv(fd, head + len, 1, 0);
        ck_assert_int_eq(r, 1);
        len++;
    }
    ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "HEAD: %s", head);
    ck_assert_int_eq(read_response(fd, body, sizeof body, NULL), 201);
    pk_httpd_stats st;
    pk_httpd_stats_get(s, &st);
    ck_assert_uint_eq(st.connections, 1);
    ck_assert_uint_eq(st.requests, 4);
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
    ck_assert_ptr_nonnull(fd);
    for (int i = 0; i < n; i++)
        fd[i] = connect_to(pk_httpd_port(s));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++)
            send_all(fd[i], "GET /bytes/100 HTTP/1.1\r\n\r\n");
        for (int i = 0; i < n; i++) {
            size_t len;
            ck_assert_int_eq(read_response(fd[i], NULL, 0, &len), 200);
            ck_assert_uint_eq(len, 100);
        }
    }
    pk_httpd_stats st;
    pk_httpd_stats_get(s, &st);
    ck_assert_msg(st.max_concurrent == (unsigned)n && st.current == (unsigned)n,
                  "expected %d connections at once, stats say max %u, current %u",
                  n, st.max_concurrent, st.current);
    ck_assert_uint_eq(st.requests, 2 * (uint64_t)n);
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
    char body[32];
    ck_assert_int_eq(get(fast, "/bytes/4", body, sizeof body), 200);
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
    char body[64];
    int fd = connect_to(pk_httpd_port(s));
    send_all(fd, "NONSENSE\r\n\r\n");
    ck_assert_int_eq(read_response(fd, body, sizeof body, NULL), 400);
    close(fd);
    fd = connect_to(pk_httpd_port(s));
    send_all(fd, "POST /bytes/1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    ck_assert_int_eq(read_response(fd, body, sizeof body, NULL), 405);
    ck_assert_int_eq(get(fd, "/bytes/99999999999", body, sizeof body), 400);
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
    ck_assert_msg((double)(pk_now_ns() - t0) * 1e-9 < 2.0 * slack(),
                  "pk_httpd_stop waited for the delay");
    ck_assert_int_eq(read_response(busy, NULL, 0, NULL), -1);
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
    ck_assert_msg(pk_httpd_spawn(&p) == 0, "pk_httpd_spawn: %s", strerror(errno));
    ck_assert_uint_gt(p.port, 0);
    int fd = connect_to(p.port);
    char body[32];
    ck_assert_int_eq(get(fd, "/bytes/5", body, sizeof body), 200);
    ck_assert_str_eq(body, "abcde");
    close(fd);
    int st = pk_httpd_proc_stop(&p);
    ck_assert_msg(st == 0, "pk-httpd should exit cleanly on SIGTERM; wait status %d", st);
    ck_assert_int_eq(pk_httpd_proc_stop(&p), -1); /* already stopped */
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("03-async");

    pk_test_add(s, test_fetch_one_body, 2,
                "curl_easy_init, set CURLOPT_URL and a CURLOPT_WRITEFUNCTION that "
                "appends to a growing buffer, curl_easy_perform, then "
                "CURLINFO_RESPONSE_CODE");
    pk_test_add(s, test_fetch_one_http_error, 1,
                "libcurl reports a 404 as CURLE_OK: the status decides failure");
    pk_test_add(s, test_fetch_one_bad_args, 1,
                "check url, out and timeout_ms first; set errno = EINVAL");
    pk_test_add(s, test_fetch_result_free_clears, 1,
                "free the body, then set body = NULL and len = 0");
    pk_test_add(s, test_fetch_all_bodies_in_order, 3,
                "store each result at its URL's index: keep it in the easy "
                "handle (CURLOPT_PRIVATE) and read it back when it finishes");
    pk_test_add(s, test_fetch_all_overlap, 3,
                "add up to max_concurrency handles, then loop: "
                "curl_multi_perform, curl_multi_info_read, curl_multi_poll");
    pk_test_add(s, test_fetch_all_limit_1, 1,
                "never more than max_concurrency handles in the multi at once");
    pk_test_add(s, test_fetch_all_limit_3, 1,
                "refill: when curl_multi_info_read reports a transfer done, "
                "start the next URL");
    pk_test_add(s, test_fetch_all_limit_8, 1,
                "refill as transfers finish, keeping max_concurrency busy");
    pk_test_add(s, test_fetch_all_reuses_connections, 2,
                "one multi handle for the whole call: its connection cache is "
                "what lets the next transfer reuse an open connection");
    pk_test_add(s, test_fetch_all_retry_flaky, 2,
                "on 5xx: curl_multi_remove_handle, empty the body buffer, and "
                "add the handle again later");
    pk_test_add(s, test_fetch_all_backoff_waits, 2,
                "wait backoff_ms << (attempt - 1), plus non-negative jitter");
    pk_test_add(s, test_fetch_all_retry_gives_up, 1,
                "count attempts; stop at max_attempts and report the last one");
    pk_test_add(s, test_fetch_all_retry_which_statuses, 2,
                "retry on 5xx and 429 only; another 4xx will not change");
    pk_test_add(s, test_fetch_all_retry_does_not_block, 2,
                "a retry is a deadline; give curl_multi_poll a timeout no later "
                "than the earliest deadline instead of sleeping");
    pk_test_add(s, test_fetch_all_drop_fails_alone, 1,
                "a transfer error (msg->data.result) fails that entry only");
    pk_test_add(s, test_fetch_all_refused_fails_alone, 1,
                "CURLE_COULDNT_CONNECT is worth a retry; keep the last error");
    pk_test_add(s, test_fetch_all_timeout_fails_alone, 2,
                "CURLOPT_TIMEOUT_MS limits each attempt; a timeout is retried");
    pk_test_add(s, test_fetch_all_bad_urls_fail_alone, 1,
                "a NULL URL gets CURLE_URL_MALFORMAT without a try; a bad URL "
                "fails in libcurl and is not worth retrying; "
                "CURLOPT_PROTOCOLS_STR \"http,https\" refuses the rest");
    pk_test_add(s, test_fetch_all_writes_every_field, 1,
                "zero every out[i] before anything else; a failed try has no body");
    pk_test_add(s, test_fetch_all_zero_urls, 1,
                "n = 0 is valid even with NULL arrays: return 0");
    pk_test_add(s, test_fetch_all_absurd_opts, 1,
                "cap the slots at n; compute waits without overflow");
    pk_test_add(s, test_fetch_all_bad_args, 1,
                "NULL urls or out with n > 0, or a negative time: EINVAL");

    pk_test_add_ungraded(s, test_httpd_endpoints);
    pk_test_add_ungraded(s, test_httpd_pipelined_keepalive);
    pk_test_add_ungraded(s, test_httpd_many_connections);
    pk_test_add_ungraded(s, test_httpd_delay_blocks_nobody);
    pk_test_add_ungraded(s, test_httpd_bad_requests);
    pk_test_add_ungraded(s, test_httpd_stop_with_clients);
    pk_test_add_ungraded(s, test_httpd_program);
    return s;
}
