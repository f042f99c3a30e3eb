/* fetch.c - chapter 03 exercises: one blocking request, then an event loop
 * over libcurl's multi interface. fetch.h says exactly what each function
 * must do; the lesson (README.md) walks through the loop. Do them in this
 * order: fetch_result_free, fetch_one, then fetch_all in three steps (all at
 * once, then at most max_concurrency, then retries and timeouts).
 * `make grade CH=03-async` tells you how far you are. */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk/timing.h"
#include "pk/todo.h"

void fetch_result_free(fetch_result *r)
{
    (void)r;
    PK_TODO("free r->body (r may be NULL), then set body = NULL and len = 0");
}

int fetch_one(const char *url, long timeout_ms, fetch_result *out)
{
    (void)url, (void)timeout_ms, (void)out;
    PK_TODO("check the arguments; curl_easy_init; set CURLOPT_URL, "
            "CURLOPT_TIMEOUT_MS, CURLOPT_NOPROXY \"*\" and a WRITEFUNCTION that "
            "appends to a buffer; curl_easy_perform; fill out; clean up");
    return -1;
}

int fetch_all(const char *const *urls, size_t n, const fetch_opts *opts,
              fetch_result *out)
{
    (void)urls, (void)n, (void)opts, (void)out;
    PK_TODO("zero out[]; keep at most max_concurrency easy handles in one "
            "multi handle; loop on curl_multi_perform / curl_multi_info_read / "
            "curl_multi_poll, refilling and scheduling retries as transfers "
            "finish");
    return -1;
}
