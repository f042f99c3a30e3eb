/* fetch.c - chapter 03 reference solution: an event loop over libcurl's
 * multi interface (see fetch.h for the contract).
 *
 * fetch_all() keeps K "slots". A slot owns one easy handle and works on one
 * URL from its first try to its last. The loop:
 *
 *     fill free slots with the next URLs (curl_multi_add_handle)
 *     curl_multi_perform: let libcurl move every transfer as far as it can
 *     curl_multi_info_read: collect the finished ones; each either is done
 *         (free its slot) or waits for a retry (a deadline, not a sleep)
 *     start the retries whose deadline has passed
 *     curl_multi_poll: sleep until a socket is ready, libcurl's own timer
 *         fires, or the next retry is due, whichever is first
 *
 * Everything happens on the calling thread; nothing ever blocks except the
 * poll, and the poll wakes for any transfer.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"

#define DEFAULT_CONCURRENCY 10
#define MAX_BACKOFF_SHIFT   20     /* 2^20 x backoff_ms is already absurd */
#define MAX_POLL_MS         1000   /* wake at least this often */
#define MAX_WAIT_MS         (24ull * 3600 * 1000) /* longest backoff: a day */

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
    return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEDATA, b) != CURLE_OK
               ? -1 : 0;
}

/* Move what an attempt produced into `out`. The body is kept only when a
 * response arrived whole. */
static void finish_attempt(CURL *e, CURLcode rc, buffer *b, fetch_result *out)
{
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    out->status = status;
    out->error = (int)rc;
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
    finish_attempt(e, rc, &b, out);
    out->seconds = (double)(pk_now_ns() - t0) * 1e-9;
    curl_easy_cleanup(e);
    return failed(out) ? 1 : 0;
}

/* ---- the event loop ------------------------------------------------------------- */

typedef struct slot {
    CURL *easy;           /* reused for every URL this slot works on */
    buffer body;          /* this attempt's body */
    size_t index;         /* which URL */
    int busy;             /* working on urls[index] */
    int waiting;          /* between tries, until retry_at */
    uint64_t retry_at;    /* pk_now_ns() deadline of the next try */
    uint64_t started;     /* the first try's start */
} slot;

typedef struct loop {
    CURLM *multi;
    slot *slots;
    size_t nslots;
    const char *const *urls;
    fetch_result *out;
    fetch_opts opts;
    uint64_t rng;         /* xorshift state for the jitter */
} loop;

static uint64_t next_random(loop *l)
{
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    return l->rng;
}

/* Milliseconds to wait before try number `attempt` + 1: backoff_ms doubled
 * for each try after the first, plus up to half of that again as jitter, so
 * that clients that failed together do not all come back together. */
static uint64_t backoff_ms(loop *l, unsigned attempt)
{
    unsigned shift = attempt - 1 < MAX_BACKOFF_SHIFT ? attempt - 1 : MAX_BACKOFF_SHIFT;
    uint64_t wait = (uint64_t)l->opts.backoff_ms;
    wait = wait > (MAX_WAIT_MS >> shift) ? MAX_WAIT_MS : wait << shift;
    uint64_t jitter = wait / 2 ? next_random(l) % (wait / 2 + 1) : 0;
    return wait + jitter;
}

/* Start (or restart) the try of slot s. A fresh attempt starts from an empty
 * body: the old one belonged to the try that failed. */
static int start_attempt(loop *l, slot *s)
{
    buffer_clear(&s->body);
    s->waiting = 0;
    l->out[s->index].attempts++;
    return curl_multi_add_handle(l->multi, s->easy) == CURLM_OK ? 0 : -1;
}

/* Give slot s the URL i. A NULL URL fails at once, without a try. */
static int start_url(loop *l, slot *s, size_t i)
{
    fetch_result *r = &l->out[i];
    *r = (fetch_result){0};
    if (l->urls[i] == NULL) {
        r->error = CURLE_URL_MALFORMAT;
        return 0;
    }
    if (curl_easy_setopt(s->easy, CURLOPT_URL, l->urls[i]) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK)
        return -1;
    s->index = i;
    s->busy = 1;
    s->started = pk_now_ns();
    return start_attempt(l, s);
}

/* A transfer finished: record it, then either free the slot or schedule the
 * next try. Returns 1 when the URL is done, 0 when it will be retried. */
static int on_done(loop *l, slot *s, CURLcode rc)
{
    fetch_result *r = &l->out[s->index];
    curl_multi_remove_handle(l->multi, s->easy);
    finish_attempt(s->easy, rc, &s->body, r);
    if (r->attempts < l->opts.max_attempts && retryable(rc, r->status)) {
        fetch_result_free(r); /* the body of a failed try is not the answer */
        s->waiting = 1;
        s->retry_at = pk_now_ns() + backoff_ms(l, r->attempts) * 1000000u;
        return 0;
    }
    r->seconds = (double)(pk_now_ns() - s->started) * 1e-9;
    s->busy = 0;
    return 1;
}

static void loop_free(loop *l)
{
    for (size_t i = 0; l->slots != NULL && i < l->nslots; i++) {
        slot *s = &l->slots[i];
        if (s->easy) {
            curl_multi_remove_handle(l->multi, s->easy); /* harmless if not added */
            curl_easy_cleanup(s->easy);
        }
        buffer_clear(&s->body);
    }
    free(l->slots);
    if (l->multi)
        curl_multi_cleanup(l->multi);
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
        out[i] = (fetch_result){0};
    if (o.max_concurrency == 0)
        o.max_concurrency = DEFAULT_CONCURRENCY;
    if (o.max_attempts == 0)
        o.max_attempts = 1;

    loop l = {.urls = urls, .out = out, .opts = o, .rng = pk_now_ns() | 1};
    l.nslots = o.max_concurrency < n ? o.max_concurrency : n;
    int err = EIO;
    if (!curl_ready() || (l.multi = curl_multi_init()) == NULL)
        goto fail;
    /* Belt and braces: libcurl itself will not open more connections than
     * we have slots, even if it would rather not reuse one. */
    curl_multi_setopt(l.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)l.nslots);
    if ((l.slots = calloc(l.nslots, sizeof *l.slots)) == NULL) {
        err = ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < l.nslots; i++) {
        slot *s = &l.slots[i];
        if ((s->easy = curl_easy_init()) == NULL || setup_easy(s->easy, o.timeout_ms, &s->body) != 0)
            goto fail;
    }

    size_t next = 0, done = 0;
    while (done < n) {
        /* Fill every free slot (the semaphore of gather_with_concurrency). */
        for (size_t i = 0; i < l.nslots && next < n; i++) {
            slot *s = &l.slots[i];
            while (!s->busy && next < n) {
                if (start_url(&l, s, next++) != 0)
                    goto fail;
                if (!s->busy)
                    done++; /* a NULL URL: finished without a try */
            }
        }
        /* Retries whose wait is over go back into the multi handle. */
        uint64_t now = pk_now_ns();
        for (size_t i = 0; i < l.nslots; i++) {
            slot *s = &l.slots[i];
            if (s->busy && s->waiting && s->retry_at <= now && start_attempt(&l, s) != 0)
                goto fail;
        }

        int running;
        if (curl_multi_perform(l.multi, &running) != CURLM_OK)
            goto fail;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l.multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            done += (size_t)on_done(&l, s, msg->data.result);
        }
        if (done == n)
            break;

        /* Sleep until a socket is ready or libcurl's timer fires, but never
         * past the next retry; not at all if a slot is free to refill. */
        long wait_ms = MAX_POLL_MS;
        now = pk_now_ns();
        for (size_t i = 0; i < l.nslots; i++) {
            slot *s = &l.slots[i];
            if (!s->busy && next < n) {
                wait_ms = 0;
            } else if (s->busy && s->waiting) {
                uint64_t ms = s->retry_at > now ? (s->retry_at - now + 999999) / 1000000 : 0;
                if ((long)ms < wait_ms)
                    wait_ms = (long)ms;
            }
        }
        if (wait_ms > 0 && curl_multi_poll(l.multi, NULL, 0, (int)wait_ms, NULL) != CURLM_OK)
            goto fail;
    }
    loop_free(&l);
    size_t nfailed = 0;
    for (size_t i = 0; i < n; i++)
        nfailed += (size_t)failed(&out[i]);
    return nfailed > INT32_MAX ? INT32_MAX : (int)nfailed;

fail:
    loop_free(&l);
    for (size_t i = 0; i < n; i++)
        fetch_result_free(&out[i]);
    errno = err;
    return -1;
}
