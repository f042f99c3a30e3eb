/**
 * @file fetch.h
 * @brief Chapter 03: many HTTP requests at once on one thread, with libcurl.
 *
 * The Python chapter's `run_with_asyncio` gathers one `async_fetch`
 * coroutine per URL; `gather_with_concurrency` caps how many run at once
 * with a semaphore; `process_with_retry` retries with exponential backoff.
 * This header is the C version of all three: fetch_one() is one blocking
 * request (Python's `requests.get`), fetch_all() is an event loop over
 * libcurl's multi interface that keeps at most `max_concurrency` transfers
 * in flight, retries the ones that failed for a passing reason after a
 * growing wait, and gives each attempt its own timeout, all without a
 * thread or a sleep().
 *
 * Only http and https URLs are fetched, and never through a proxy (the
 * tests and benchmark talk to a server on 127.0.0.1).
 */
#ifndef FETCH_H
#define FETCH_H

#include <stddef.h>

/**
 * @brief How fetch_all() works through its URLs. All zeros is a good default.
 */
typedef struct fetch_opts {
    size_t   max_concurrency; /**< transfers in flight at most; 0 means 10. A
                                   URL holds its slot from its first try to its
                                   last, waits between tries included (like the
                                   Python chapter's semaphore). */
    unsigned max_attempts;    /**< tries per URL including the first; 0 means 1 */
    long     backoff_ms;      /**< wait before the 2nd try; doubles before each
                                   later one. Jitter may add up to half of a
                                   wait, never take from it. Negative: EINVAL. */
    long     timeout_ms;      /**< per attempt; 0 means none. Negative: EINVAL. */
} fetch_opts;

/**
 * @brief What became of one URL.
 */
typedef struct fetch_result {
    long     status;   /**< HTTP status of the last attempt; 0 if none */
    int      error;    /**< 0, or the CURLcode of the last attempt */
    char    *body;     /**< malloc'd, NUL-terminated; NULL if no body. The
                            body of the last attempt only; NULL when that
                            attempt failed with a transfer error (error != 0)
                            or sent zero bytes. Owned by the caller: release
                            it with fetch_result_free(). */
    size_t   len;      /**< body length in bytes */
    unsigned attempts; /**< tries made */
    double   seconds;  /**< from the first try's start to the final completion */
} fetch_result;

/**
 * @brief Fetch one URL with a blocking request (one attempt, no retry).
 * @param url an http:// or https:// URL.
 * @param timeout_ms limit for the whole request; 0 means none.
 * @param out receives the result; every field is written (it may hold
 *        garbage before). Free it with fetch_result_free().
 * @return 0 when a response with status < 400 arrived; 1 otherwise (out
 *         says why: error is the CURLcode, status the HTTP status); -1 with
 *         errno EINVAL when url or out is NULL or timeout_ms is negative
 *         (out, when not NULL, is then zeroed).
 *
 * Each call uses its own easy handle, so it opens a new connection every
 * time: this is the Python chapter's "new session per request".
 */
int fetch_one(const char *url, long timeout_ms, fetch_result *out);

/**
 * @brief Fetch every URL, at most opts->max_concurrency at once, on the
 *        calling thread.
 * @param urls @p n URLs. A NULL or malformed entry fails for that entry only
 *        (error CURLE_URL_MALFORMAT; a NULL one gets attempts 0).
 * @param n how many; 0 is allowed and does nothing.
 * @param opts the limits; NULL means all defaults.
 * @param out @p n results; out[i] belongs to urls[i]. Every field of every
 *        entry is written, whatever happened. Free each with
 *        fetch_result_free().
 * @return how many URLs failed (error != 0 or status >= 400), or -1 with
 *         errno: EINVAL (urls or out NULL with n > 0, a negative time in
 *         opts), ENOMEM, or EIO when libcurl itself could not be set up.
 *
 * A URL is tried again, after the backoff, when its attempt failed to
 * connect, timed out, lost the connection, or got a 5xx or 429; never after
 * another 4xx. Each try starts from a clean slate (an empty body buffer):
 * the Python chapter's `process_with_retry` awaits the same coroutine twice,
 * which Python refuses; re-adding a finished easy handle without resetting
 * what it wrote is the C twin of that mistake. A timeout is reported as
 * CURLE_OPERATION_TIMEDOUT and a refused connection as CURLE_COULDNT_CONNECT
 * once max_attempts tries were made. Connections are reused between
 * transfers to the same server.
 */
int fetch_all(const char *const *urls, size_t n, const fetch_opts *opts,
              fetch_result *out);

/**
 * @brief Free the body of a result and clear it.
 * @param r the result; NULL is a no-op. Afterwards r->body is NULL and
 *        r->len 0, so a second call is harmless.
 */
void fetch_result_free(fetch_result *r);

#endif /* FETCH_H */
