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
 * The session (fetch_session_open(), fetch_session_run(),
 * fetch_session_close(), fetch_session_with()) is Python's
 * `async with aiohttp.ClientSession() as session:`: an asynchronous
 * resource (the event loop's multi handle, its connection cache and its
 * easy handles) that is set up once, used for many batches, and cleaned up
 * on every path out, whether the batch succeeded, failed or was cancelled.
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
 * @brief A session: an event loop and its connections, kept open across
 *        batches (opaque). Python's `aiohttp.ClientSession`.
 */
typedef struct fetch_session fetch_session;

/**
 * @brief What fetch_session_run() calls when a URL's result is final.
 * @param index the URL's index in the batch.
 * @param r its result (out[index]), final: no try of this URL follows.
 * @param ctx the caller's pointer, passed through.
 * @return 0 to go on; non-zero cancels the rest of the batch (Python: an
 *         exception raised inside the `async with` body, or a task
 *         cancelled).
 */
typedef int (*fetch_done_fn)(size_t index, const fetch_result *r, void *ctx);

/**
 * @brief What fetch_session_with() runs inside the session.
 * @param s the open session.
 * @param ctx the caller's pointer, passed through.
 * @return whatever the caller wants fetch_session_with() to return;
 *         by convention 0, or -1 with errno set.
 */
typedef int (*fetch_body_fn)(fetch_session *s, void *ctx);

/**
 * @brief Open a session (Python's `__aenter__`): one multi handle and
 *        `max_concurrency` easy handles, made now and kept until
 *        fetch_session_close().
 * @param opts the limits for every batch run on it; NULL means all
 *        defaults (max_concurrency 0 means 10).
 * @return the session; NULL with errno: EINVAL (a negative time in opts),
 *         ENOMEM, or EIO when libcurl could not make a handle. A failed
 *         open leaves nothing behind: every handle it made is freed.
 */
fetch_session *fetch_session_open(const fetch_opts *opts);

/**
 * @brief Fetch a batch of URLs on the session's event loop: what
 *        fetch_all() does, with the session's handles and connections.
 * @param s the session.
 * @param urls @p n URLs, as for fetch_all().
 * @param n how many; 0 does nothing and returns 0.
 * @param out @p n results, as for fetch_all(); every field of every entry
 *        is written, also when the batch is cancelled.
 * @param on_done called once for each URL whose result is final, in the
 *        order they finish; NULL means never. It must not call
 *        fetch_session_close(); calling fetch_session_run() from it fails
 *        with EBUSY.
 * @param ctx passed to @p on_done.
 * @return how many URLs failed, as for fetch_all(); or -1 with errno:
 *         EINVAL (s NULL, urls or out NULL with n > 0), EBUSY (a batch is
 *         already running on @p s), ECANCELED (on_done returned non-zero),
 *         ENOMEM, EIO.
 *
 * Cancelling stops the batch at once: every transfer still in flight is
 * taken out of the multi handle (libcurl closes its connection), every URL
 * not finished gets error CURLE_ABORTED_BY_CALLBACK, no body, and the
 * attempts it made; the results that were final stay. Nothing of the batch
 * is left running, and the session can run the next batch. Connections
 * that finished cleanly stay open for the next batch: that reuse is what a
 * session is for.
 */
int fetch_session_run(fetch_session *s, const char *const *urls, size_t n,
                      fetch_result *out, fetch_done_fn on_done, void *ctx);

/**
 * @brief Close a session (Python's `__aexit__`): free every easy handle,
 *        the multi handle and its connection cache, and close every
 *        connection.
 * @param s the session; NULL is a no-op. Afterwards @p s is freed.
 */
void fetch_session_close(fetch_session *s);

/**
 * @brief Run @p body inside a session that is closed on every path out
 *        (Python's `async with`): open, body, close.
 * @param opts as for fetch_session_open().
 * @param body what to do with the session.
 * @param ctx passed to @p body.
 * @return what @p body returned, with the errno it left (the close does
 *         not hide the body's error: `__aexit__` does not swallow the
 *         exception); -1 with errno EINVAL when body is NULL, or with
 *         fetch_session_open()'s errno when the session could not be opened
 *         (then @p body does not run).
 */
int fetch_session_with(const fetch_opts *opts, fetch_body_fn body, void *ctx);

/**
 * @brief Free the body of a result and clear it.
 * @param r the result; NULL is a no-op. Afterwards r->body is NULL and
 *        r->len 0, so a second call is harmless.
 */
void fetch_result_free(fetch_result *r);

#endif /* FETCH_H */
