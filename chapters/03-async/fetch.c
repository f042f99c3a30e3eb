/* fetch.c - chapter 03 exercises: one blocking request, then an event loop
 * over libcurl's multi interface, then a session that keeps the loop and
 * its connections open across batches. fetch.h says exactly what each
 * function must do; the lesson (README.md) walks through the loop. Do them
 * in this order: fetch_result_free, fetch_one, fetch_all in three steps
 * (all at once, then at most max_concurrency, then retries and timeouts),
 * then the session (open, close, run, with).
 * `make grade CH=03-async` tells you how far you are. */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"
#include "pk/todo.h"

/* Only http and https: use SET_HTTP_ONLY(easy) where you set the other
 * options. CURLOPT_PROTOCOLS_STR came with libcurl 7.85.0; older ones
 * (Ubuntu 22.04 has 7.81) know only the bit mask, which 7.85 deprecated. */
#if LIBCURL_VERSION_NUM >= 0x075500
#define SET_HTTP_ONLY(e) curl_easy_setopt((e), CURLOPT_PROTOCOLS_STR, "http,https")
#else
#define SET_HTTP_ONLY(e) \
    curl_easy_setopt((e), CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))
#endif

void fetch_result_free(fetch_result *r)
{
    (void)r;
    PK_TODO("free r->body (r may be NULL), then set body = NULL and len = 0");
}

int fetch_one(const char *url, long timeout_ms, fetch_result *out)
{
    (void)url, (void)timeout_ms, (void)out;
    PK_TODO("check the arguments; curl_easy_init; set CURLOPT_URL, "
            "CURLOPT_TIMEOUT_MS, CURLOPT_NOPROXY \"*\", SET_HTTP_ONLY and a "
            "WRITEFUNCTION that appends to a buffer; curl_easy_perform; fill "
            "out; clean up");
    return -1;
}

int fetch_all(const char *const *urls, size_t n, const fetch_opts *opts,
              fetch_result *out)
{
    (void)urls, (void)n, (void)opts, (void)out;
    PK_TODO("zero out[]; keep at most max_concurrency easy handles in one "
            "multi handle; loop on curl_multi_perform / curl_multi_info_read / "
            "curl_multi_poll, refilling and scheduling retries as transfers "
            "finish (copy msg->easy_handle and msg->data.result before "
            "curl_multi_remove_handle: it invalidates the message)");
    return -1;
}

/* ---- the session (fetch_session_open ... fetch_session_with) ---------------- */

/* What a session owns: decide. It outlives one batch, so what fetch_all
 * kept in local variables (the multi handle, the slots and their easy
 * handles) moves in here. */
struct fetch_session {
    CURLM *multi;
};

fetch_session *fetch_session_open(const fetch_opts *opts)
{
    (void)opts;
    PK_TODO("check opts; make the multi handle and max_concurrency easy "
            "handles; if one of them fails, free what was made (one fail: "
            "label) and return NULL");
    return NULL;
}

void fetch_session_close(fetch_session *s)
{
    (void)s;
    PK_TODO("NULL is a no-op; remove each easy handle from the multi handle, "
            "clean it up, then clean up the multi handle and free the rest");
}

int fetch_session_run(fetch_session *s, const char *const *urls, size_t n,
                      fetch_result *out, fetch_done_fn on_done, void *ctx)
{
    (void)s, (void)urls, (void)n, (void)out, (void)on_done, (void)ctx;
    PK_TODO("fetch_all's loop on the session's handles; call on_done as each "
            "URL is final; if it returns non-zero, take every transfer in "
            "flight out of the multi handle, mark the unfinished URLs "
            "CURLE_ABORTED_BY_CALLBACK and fail with ECANCELED");
    return -1;
}

int fetch_session_with(const fetch_opts *opts, fetch_body_fn body, void *ctx)
{
    (void)opts, (void)body, (void)ctx;
    PK_TODO("open; run body; close whatever body returned; give back "
            "body's result and errno");
    return -1;
}
