/* fetch.c - chapter 03 reference solution: an event loop over libcurl's
 * multi interface (see fetch.h for the contract).
 *
 * A session keeps K "slots". A slot owns one easy handle and works on one
 * URL from its first try to its last. The loop of fetch_session_run():
 *
 *     fill free slots with the next URLs (curl_multi_add_handle)
 *     curl_multi_perform: let libcurl move every transfer as far as it can
 *     curl_multi_info_read: collect the finished ones; copy what the
 *         message says, THEN take the handle out (curl_multi_remove_handle
 *         invalidates the message); each URL either is done (free its
 *         slot, tell on_done) or waits for a retry (a deadline, not a sleep)
 *     start the retries whose deadline has passed
 *     curl_multi_poll: sleep until a socket is ready, libcurl's own timer
 *         fires, or the next retry is due, whichever is first
 *
 * fetch_all() is one batch in a session of its own: open, run, close, the
 * `async with` of fetch_session_with(). Everything happens on the calling
 * thread; nothing ever blocks except the poll, and the poll wakes for any
 * transfer.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"

#define DEFAULT_CONCURRENCY 10
#define MAX_BACKOFF_SHIFT   20     /* 2^20 x backoff_ms is already absurd */
#define MAX_POLL_MS         1000   /* wake at least this often */
#define MAX_WAIT_MS         (24ull * 3600 * 1000) /* longest backoff: a day */

/* Only http and https. CURLOPT_PROTOCOLS_STR came with libcurl 7.85.0;
 * older ones (Ubuntu 22.04 has 7.81) know only the bit mask, which 7.85
 * deprecated. */
#if LIBCURL_VERSION_NUM >= 0x075500
#define SET_HTTP_ONLY(e) curl_easy_setopt((e), CURLOPT_PROTOCOLS_STR, "http,https")
#else
#define SET_HTTP_ONLY(e) \
    curl_easy_setopt((e), CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))
#endif

/* ---- shared pieces --------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init() must run once, before any thread uses libcurl. */
static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_ready(void)
{
    pthread_once(&curl_once, init_curl);
    return curl_init_rc == CURLE_OK;
}

/* A growing buffer for the body; libcurl calls on_body for each piece. */
typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0; /* libcurl stops the transfer with CURLE_WRITE_ERROR */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void buffer_clear(buffer *b)
{
    free(b->data);
    *b = (buffer){0};
}

/* Options every handle gets: only http(s), no proxy (everything here is on
 * 127.0.0.1, and a proxy from the environment must not intercept it), no
 * signals (the only safe choice with threads), the body into `b`. */
static int setup_easy(CURL *e, long timeout_ms, buffer *b)
{
    return SET_HTTP_ONLY(e) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEDATA, b) != CURLE_OK
               ? -1 : 0;
}

/* What an attempt ended with: its status and error. */
static void record_attempt(CURL *e, CURLcode rc, fetch_result *out)
{
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    out->status = status;
    out->error = (int)rc;
}

/* Move the last attempt's body into `out`: kept only when a response
 * arrived whole. */
static void take_body(CURLcode rc, buffer *b, fetch_result *out)
{
    if (rc == CURLE_OK && b->len > 0) {
        out->body = b->data;
        out->len = b->len;
        *b = (buffer){0};
    } else {
        buffer_clear(b);
        out->body = NULL;
        out->len = 0;
    }
}

static int failed(const fetch_result *r)
{
    return r->error != 0 || r->status >= 400;
}

/* Worth another try: the server or the network may do better next time. */
static int retryable(CURLcode rc, long status)
{
    switch (rc) {
    case CURLE_OK:
        return status >= 500 || status == 429;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0; /* a bad URL, a write error, ...: the same next time */
    }
}

void fetch_result_free(fetch_result *r)
{
    if (r == NULL)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static double seconds_since(uint64_t t0)
{
    return (double)(pk_now_ns() - t0) * 1e-9;
}

/* ---- one blocking request ------------------------------------------------------ */

int fetch_one(const char *url, long timeout_ms, fetch_result *out)
{
    if (out != NULL)
        *out = (fetch_result){0};
    if (url == NULL || out == NULL || timeout_ms < 0) {
        errno = EINVAL;
        return -1;
    }
    if (!curl_ready()) {
        out->error = CURLE_FAILED_INIT;
        return 1;
    }
    CURL *e = curl_easy_init();
    if (e == NULL) {
        out->error = CURLE_FAILED_INIT;
        return 1;
    }
    buffer b = {0};
    uint64_t t0 = pk_now_ns();
    CURLcode rc = CURLE_FAILED_INIT;
    if (setup_easy(e, timeout_ms, &b) == 0 &&
        (rc = curl_easy_setopt(e, CURLOPT_URL, url)) == CURLE_OK)
        rc = curl_easy_perform(e);
    out->attempts = 1;
    record_attempt(e, rc, out);
    take_body(rc, &b, out);
    out->seconds = seconds_since(t0);
    curl_easy_cleanup(e);
    return failed(out) ? 1 : 0;
}

/* ---- the session: an event loop that outlives one batch ------------------------- */

typedef struct slot {
    CURL *easy;           /* reused for every URL this slot works on */
    buffer body;          /* this attempt's body */
    size_t index;         /* which URL of the batch */
    int busy;             /* working on urls[index] */
    int waiting;          /* between tries, until retry_at (not in the multi) */
    uint64_t retry_at;    /* pk_now_ns() deadline of the next try */
    uint64_t started;     /* the first try's start */
} slot;

struct fetch_session {
    CURLM *multi;         /* the loop, and the cache of open connections */
    slot *slots;
    size_t nslots;
    fetch_opts opts;
    uint64_t rng;         /* xorshift state for the jitter */
    int running;          /* a batch is on the loop (a run inside on_done) */
    /* The batch being run. */
    const char *const *urls;
    fetch_result *out;
};

static uint64_t next_random(fetch_session *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Milliseconds to wait before try number `attempt` + 1: backoff_ms doubled
 * for each try after the first, plus up to half of that again as jitter, so
 * that clients that failed together do not all come back together. */
static uint64_t backoff_ms(fetch_session *s, unsigned attempt)
{
    unsigned shift = attempt - 1 < MAX_BACKOFF_SHIFT ? attempt - 1 : MAX_BACKOFF_SHIFT;
    uint64_t wait = (uint64_t)s->opts.backoff_ms;
    wait = wait > (MAX_WAIT_MS >> shift) ? MAX_WAIT_MS : wait << shift;
    uint64_t jitter = wait / 2 ? next_random(s) % (wait / 2 + 1) : 0;
    return wait + jitter;
}

/* Start (or restart) the try of slot sl. A fresh attempt starts from an
 * empty body: what the buffer holds belonged to the try that failed (the
 * C twin of awaiting the same coroutine twice is to add the handle again
 * without this). */
static int start_attempt(fetch_session *s, slot *sl)
{
    buffer_clear(&sl->body);
    sl->waiting = 0;
    s->out[sl->index].attempts++;
    return curl_multi_add_handle(s->multi, sl->easy) == CURLM_OK ? 0 : -1;
}

/* Give slot sl the URL i. A NULL URL fails at once, without a try. */
static int start_url(fetch_session *s, slot *sl, size_t i)
{
    if (s->urls[i] == NULL) {
        s->out[i].error = CURLE_URL_MALFORMAT;
        return 0;
    }
    if (curl_easy_setopt(sl->easy, CURLOPT_URL, s->urls[i]) != CURLE_OK ||
        curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl) != CURLE_OK)
        return -1;
    sl->index = i;
    sl->busy = 1;
    sl->started = pk_now_ns();
    return start_attempt(s, sl);
}

/* A transfer finished with `rc`: record it, then either free the slot or
 * schedule the next try. Returns 1 when the URL is done, 0 when it will be
 * retried. The caller has copied rc out of the CURLMsg: the
 * curl_multi_remove_handle below invalidates that message. */
static int try_finished(fetch_session *s, slot *sl, CURLcode rc)
{
    fetch_result *r = &s->out[sl->index];
    curl_multi_remove_handle(s->multi, sl->easy);
    record_attempt(sl->easy, rc, r);
    if (r->attempts < s->opts.max_attempts && retryable(rc, r->status)) {
        sl->waiting = 1;
        sl->retry_at = pk_now_ns() + backoff_ms(s, r->attempts) * 1000000u;
        return 0;
    }
    take_body(rc, &sl->body, r);
    r->seconds = seconds_since(sl->started);
    sl->busy = 0;
    return 1;
}

/* Stop the batch: every transfer in flight leaves the multi handle (a
 * half-read response cannot be reused, so libcurl closes its connection),
 * every URL not finished gets `why` and no body. This is the cancel path;
 * after it nothing of the batch is left on the loop. */
static void abandon_batch(fetch_session *s, size_t next, size_t n, CURLcode why)
{
    for (size_t i = 0; i < s->nslots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->busy)
            continue;
        if (!sl->waiting)
            curl_multi_remove_handle(s->multi, sl->easy);
        buffer_clear(&sl->body);
        fetch_result *r = &s->out[sl->index];
        fetch_result_free(r);
        r->error = (int)why;
        r->status = 0;
        r->seconds = seconds_since(sl->started);
        sl->busy = sl->waiting = 0;
    }
    for (size_t i = next; i < n; i++)
        s->out[i].error = (int)why; /* never started: attempts 0 */
}

fetch_session *fetch_session_open(const fetch_opts *opts)
{
    fetch_opts o = opts ? *opts : (fetch_opts){0};
    if (o.backoff_ms < 0 || o.timeout_ms < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (o.max_concurrency == 0)
        o.max_concurrency = DEFAULT_CONCURRENCY;
    if (o.max_attempts == 0)
        o.max_attempts = 1;

    fetch_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL; /* errno ENOMEM */
    s->opts = o;
    s->rng = pk_now_ns() | 1;
    int err = EIO;
    if (!curl_ready() || (s->multi = curl_multi_init()) == NULL)
        goto fail;
    /* Belt and braces: libcurl itself will not open more connections than
     * we have slots, even if it would rather not reuse one. */
    long maxconn = o.max_concurrency < LONG_MAX ? (long)o.max_concurrency : LONG_MAX;
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxconn);
    if ((s->slots = calloc(o.max_concurrency, sizeof *s->slots)) == NULL) {
        err = ENOMEM;
        goto fail;
    }
    s->nslots = o.max_concurrency;
    for (size_t i = 0; i < s->nslots; i++) {
        slot *sl = &s->slots[i];
        if ((sl->easy = curl_easy_init()) == NULL ||
            setup_easy(sl->easy, o.timeout_ms, &sl->body) != 0)
            goto fail;
    }
    return s;

fail:
    fetch_session_close(s); /* frees whatever was made so far */
    errno = err;
    return NULL;
}

void fetch_session_close(fetch_session *s)
{
    if (s == NULL)
        return;
    /* libcurl's order: each easy handle leaves the multi handle before it
     * is cleaned up, and the multi handle goes last (with it its
     * connection cache: every connection is closed there). */
    for (size_t i = 0; s->slots != NULL && i < s->nslots; i++) {
        slot *sl = &s->slots[i];
        if (sl->easy) {
            curl_multi_remove_handle(s->multi, sl->easy); /* harmless if not added */
            curl_easy_cleanup(sl->easy);
        }
        buffer_clear(&sl->body);
    }
    free(s->slots);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    free(s);
}

/* The loop. Returns 0 when every URL is done; -1 with errno ECANCELED when
 * on_done asked to stop, or EIO when libcurl failed; the batch is then
 * abandoned (nothing of it is left on the loop). */
static int run_loop(fetch_session *s, size_t n, fetch_done_fn on_done, void *ctx)
{
    size_t next = 0, done = 0;
    int err = EIO;
    while (done < n) {
        /* Fill every free slot (the semaphore of gather_with_concurrency). */
        for (size_t i = 0; i < s->nslots && next < n; i++) {
            slot *sl = &s->slots[i];
            while (!sl->busy && next < n) {
                size_t u = next++;
                if (start_url(s, sl, u) != 0)
                    goto fail;
                if (sl->busy)
                    continue;
                done++; /* a NULL URL: finished without a try */
                if (on_done && on_done(u, &s->out[u], ctx) != 0)
                    goto cancel;
            }
        }
        /* Retries whose wait is over go back into the multi handle. */
        uint64_t now = pk_now_ns();
        for (size_t i = 0; i < s->nslots; i++) {
            slot *sl = &s->slots[i];
            if (sl->busy && sl->waiting && sl->retry_at <= now && start_attempt(s, sl) != 0)
                goto fail;
        }

        int running;
        if (curl_multi_perform(s->multi, &running) != CURLM_OK)
            goto fail;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            /* Copy what the message says before anything else: it lives
             * only until its handle is removed (in try_finished). */
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            slot *sl;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&sl);
            if (!try_finished(s, sl, rc))
                continue;
            done++;
            if (on_done && on_done(sl->index, &s->out[sl->index], ctx) != 0)
                goto cancel;
        }
        if (done == n)
            break;

        /* Sleep until a socket is ready or libcurl's timer fires, but never
         * past the next retry; not at all if a slot is free to refill. */
        long wait_ms = MAX_POLL_MS;
        now = pk_now_ns();
        for (size_t i = 0; i < s->nslots; i++) {
            slot *sl = &s->slots[i];
            if (!sl->busy && next < n) {
                wait_ms = 0;
            } else if (sl->busy && sl->waiting) {
                uint64_t ms = sl->retry_at > now ? (sl->retry_at - now + 999999) / 1000000 : 0;
                if ((long)ms < wait_ms)
                    wait_ms = (long)ms;
            }
        }
        if (wait_ms > 0 && curl_multi_poll(s->multi, NULL, 0, (int)wait_ms, NULL) != CURLM_OK)
            goto fail;
    }
    return 0;

cancel:
    abandon_batch(s, next, n, CURLE_ABORTED_BY_CALLBACK);
    errno = ECANCELED;
    return -1;
fail:
    abandon_batch(s, next, n, CURLE_FAILED_INIT);
    errno = err;
    return -1;
}

int fetch_session_run(fetch_session *s, const char *const *urls, size_t n,
                      fetch_result *out, fetch_done_fn on_done, void *ctx)
{
    if (s == NULL || (n > 0 && (urls == NULL || out == NULL))) {
        errno = EINVAL;
        return -1;
    }
    if (s->running) {
        errno = EBUSY;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (fetch_result){0};
    s->urls = urls;
    s->out = out;
    s->running = 1;
    int rc = run_loop(s, n, on_done, ctx);
    s->running = 0;
    if (rc != 0) {
        int err = errno;
        if (err != ECANCELED) /* a broken batch: no results to keep */
            for (size_t i = 0; i < n; i++)
                fetch_result_free(&out[i]);
        errno = err;
        return -1;
    }
    size_t nfailed = 0;
    for (size_t i = 0; i < n; i++)
        nfailed += (size_t)failed(&out[i]);
    return nfailed > INT32_MAX ? INT32_MAX : (int)nfailed;
}

int fetch_session_with(const fetch_opts *opts, fetch_body_fn body, void *ctx)
{
    if (body == NULL) {
        errno = EINVAL;
        return -1;
    }
    fetch_session *s = fetch_session_open(opts);   /* __aenter__ */
    if (s == NULL)
        return -1;
    int rc = body(s, ctx);
    int err = errno;
    fetch_session_close(s);                        /* __aexit__, on every path */
    errno = err;                                   /* ... hiding nothing */
    return rc;
}

/* ---- fetch_all: one batch in a session of its own ------------------------------- */

typedef struct batch {
    const char *const *urls;
    size_t n;
    fetch_result *out;
} batch;

static int run_batch(fetch_session *s, void *ctx)
{
    batch *b = ctx;
    return fetch_session_run(s, b->urls, b->n, b->out, NULL, NULL);
}

int fetch_all(const char *const *urls, size_t n, const fetch_opts *opts,
              fetch_result *out)
{
    fetch_opts o = opts ? *opts : (fetch_opts){0};
    if ((n > 0 && (urls == NULL || out == NULL)) || o.backoff_ms < 0 || o.timeout_ms < 0) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (fetch_result){0}; /* written even if the session fails */
    if (o.max_concurrency == 0)
        o.max_concurrency = DEFAULT_CONCURRENCY;
    if (o.max_concurrency > n)
        o.max_concurrency = n; /* no slot without a URL */
    batch b = {urls, n, out};
    return fetch_session_with(&o, run_batch, &b);
}
