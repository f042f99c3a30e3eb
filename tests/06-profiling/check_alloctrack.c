/* check_alloctrack.c - chapter 06, exercise 3 (stretch): the allocation
 * tracker of alloctrack.h (memory_profiler's and tracemalloc's questions:
 * how much, at the peak, and allocated where). */
#include <pthread.h>
#include <stdio.h>

#include "profiling_test.h"
#include "symbols.h"

/* at_get_stats() into *st, asserting it works. */
PK_NO_INSTRUMENT static void get_stats(at_stats *st)
{
    PK_EXPECT_INT("at_get_stats(&st)", at_get_stats(st), 0);
}

/* The identities of at_stats: allocs - frees = current_blocks, and the
 * outstanding sites add up to the current blocks and bytes. */
PK_NO_INSTRUMENT static void check_identities(const char *when)
{
    enum { ROWS = 16 };
    at_stats st;
    at_site rows[ROWS];
    size_t n = 0, blocks = 0, bytes = 0;

    get_stats(&st);
    PK_EXPECT_INT("at_leaks(rows, 16, &n)", at_leaks(rows, ROWS, &n), 0);
    for (size_t i = 0; i < n; i++) {
        blocks += rows[i].blocks;
        bytes += rows[i].bytes;
    }
    ck_assert_msg(st.allocs - st.frees == st.current_blocks &&
                  blocks == st.current_blocks && bytes == st.current_bytes,
                  "%s: allocs %llu - frees %llu should be current_blocks %zu, "
                  "and at_leaks()' %zu sites should hold them: they hold %zu "
                  "blocks and %zu bytes, against current_bytes %zu", when,
                  (unsigned long long)st.allocs, (unsigned long long)st.frees,
                  st.current_blocks, n, blocks, bytes, st.current_bytes);
}

START_TEST(test_at_counts_and_peak)
{
    at_stats st;

    quiet();
    PK_EXPECT_INT("at_start()", at_start(), 0);
    char *a = at_malloc(100), *b = at_malloc(200), *c = at_calloc(10, 30);
    ck_assert_msg(a && b && c, "at_malloc(100), at_malloc(200), at_calloc(10, "
                  "30) returned %p, %p, %p, expected three blocks (errno = %s)",
                  (void *)a, (void *)b, (void *)c, pk_errno_name(errno));
    ck_assert_msg(c[0] == 0 && c[299] == 0, "at_calloc(10, 30) gave a block "
                  "whose bytes 0 and 299 are %d and %d, expected 0: at_calloc "
                  "zeroes the block", c[0], c[299]);
    memset(a, 1, 100);
    at_free(b);                 /* current 400, peak was 600 */
    char *d = at_malloc(50);    /* current 450 */
    get_stats(&st);
    ck_assert_msg(st.allocs == 4 && st.frees == 1,
                  "4 allocations and 1 free so far: at_get_stats() gives allocs "
                  "%llu and frees %llu", (unsigned long long)st.allocs,
                  (unsigned long long)st.frees);
    ck_assert_msg(st.current_bytes == 450 && st.current_blocks == 3,
                  "100 + 300 + 50 = 450 bytes in 3 blocks are live: "
                  "at_get_stats() gives %zu bytes in %zu blocks",
                  st.current_bytes, st.current_blocks);
    ck_assert_msg(st.peak_bytes == 600,
                  "the peak was 100 + 200 + 300 = 600 bytes, before the free: "
                  "at_get_stats() gives peak_bytes %zu", st.peak_bytes);
    at_free(a);
    at_free(c);
    at_free(d);
    PK_EXPECT_INT("at_stop()", at_stop(), 0);
    get_stats(&st);
    ck_assert_msg(st.frees == 4 && st.current_bytes == 0 && st.peak_bytes == 600,
                  "after freeing everything: expected 4 frees, 0 bytes live, "
                  "peak still 600; at_get_stats() gives %llu, %zu, %zu",
                  (unsigned long long)st.frees, st.current_bytes, st.peak_bytes);
}
END_TEST

/* ======================================================================== */
/* Leaks by call site                                                        */
/* ======================================================================== */

static void *kept[3];    /* the "leaked" blocks, freed at the end of the test */
static int kept_line[3]; /* the line of each allocation's call */

/* Each allocation's line is recorded on the same line as its call: the
 * report must give exactly that line (the return address minus one,
 * resolved). */
WORK void leaky_function(void)
{
    kept[0] = at_malloc(123);       kept_line[0] = __LINE__;
    kept[1] = at_calloc(5, 10);     kept_line[1] = __LINE__;
    kept[2] = at_realloc(NULL, 77); kept_line[2] = __LINE__;
}

WORK void tidy_function(void)
{
    void *p = at_malloc(1000);
    at_free(p);
}

START_TEST(test_at_leak_sites)
{
    at_site rows[8];
    size_t n = 0;
    static const size_t bytes[3] = {123, 77, 50};

    quiet();
    PK_EXPECT_INT("at_start()", at_start(), 0);
    tidy_function();
    leaky_function();
    tidy_function();
    errno = 0;
    int rc = at_leaks(rows, 8, &n);
    int e = errno;
    if (getenv("PK_SHOW") != NULL) /* PK_SHOW=1: see the report */
        at_print(stderr);
    check_identities("after leaky_function()");
    at_stop();
    for (int i = 0; i < 3; i++)
        at_free(kept[i]);
    ck_assert_msg(rc == 0, "at_leaks(rows, 8, &n) returned %d (errno = %s), "
                  "expected 0", rc, pk_errno_name(e));
    ck_assert_msg(n == 3, "three call sites in leaky_function still hold a "
                  "block (at_malloc, at_calloc, at_realloc); at_leaks() gave "
                  "%zu sites", n);
    const int line[3] = {kept_line[0], kept_line[2], kept_line[1]};
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(rows[i].bytes == bytes[i] && rows[i].blocks == 1,
                      "at_leaks() row %d holds %zu bytes in %zu blocks, "
                      "expected %zu bytes in 1 block (rows sorted by bytes: "
                      "123, 77, 50)", i, rows[i].bytes, rows[i].blocks, bytes[i]);
        ck_assert_msg(strcmp(rows[i].func, "leaky_function") == 0 &&
                      strcmp(sym_basename(rows[i].file), "check_alloctrack.c") == 0 &&
                      rows[i].line == line[i],
                      "the %zu-byte leak was allocated at check_alloctrack.c:%d "
                      "in leaky_function; at_leaks() says %s:%d in %s. Record "
                      "__builtin_return_address(0) in each public allocator "
                      "itself (at_calloc and at_realloc must not get it by "
                      "calling at_malloc), and resolve the address minus one",
                      bytes[i], line[i], sym_basename(rows[i].file),
                      rows[i].line, rows[i].func);
    }
}
END_TEST

START_TEST(test_at_untracked_blocks)
{
    at_stats st;

    quiet();
    void *before = at_malloc(64); /* not tracking yet */
    ck_assert_msg(before != NULL, "at_malloc(64) returned NULL while not "
                  "tracking (errno = %s): the allocators work at all times",
                  pk_errno_name(errno));
    PK_EXPECT_INT("at_start()", at_start(), 0);
    void *during = at_realloc(NULL, 32);
    during = at_realloc(during, 48);
    at_free(before);
    get_stats(&st);
    at_free(during);
    at_stop();
    ck_assert_msg(st.frees == 1 && st.allocs == 2,
                  "the block from before at_start() is freed but not counted; "
                  "the realloc counts one free and one allocation: expected 2 "
                  "allocations and 1 free, at_get_stats() gives %llu and %llu",
                  (unsigned long long)st.allocs, (unsigned long long)st.frees);
    ck_assert_msg(st.current_bytes == 48 && st.peak_bytes == 48,
                  "expected 48 bytes live and a peak of 48, at_get_stats() "
                  "gives %zu and %zu", st.current_bytes, st.peak_bytes);
}
END_TEST

START_TEST(test_at_realloc)
{
    at_stats st;

    quiet();
    PK_EXPECT_INT("at_start()", at_start(), 0);
    char *p = at_malloc(10);             /* live 10 */
    p = at_realloc(p, 100);              /* live 100 */
    p = at_realloc(p, 1000);             /* live 1000 */
    char *q = at_realloc(NULL, 5);       /* live 1005: the peak */
    char *r = at_realloc(q, 0);          /* frees q: live 1000 */
    p = at_realloc(p, 20);               /* live 20 */
    ck_assert_msg(p != NULL && q != NULL && r == NULL,
                  "at_realloc(p, 20) gave %p, at_realloc(NULL, 5) %p, "
                  "at_realloc(q, 0) %p: expected a block, a block and NULL",
                  (void *)p, (void *)q, (void *)r);
    get_stats(&st);
    check_identities("after six at_malloc/at_realloc calls");
    at_free(p);
    at_stop();
    ck_assert_msg(st.allocs == 5 && st.frees == 4,
                  "at_malloc, then at_realloc growing twice, at_realloc(NULL, "
                  "5), at_realloc(q, 0), at_realloc shrinking: expected 5 "
                  "allocations and 4 frees, at_get_stats() gives %llu and "
                  "%llu. A realloc of a tracked block is one free (the old "
                  "block, its old size) and one allocation; realloc(NULL) only "
                  "allocates, realloc(p, 0) only frees",
                  (unsigned long long)st.allocs, (unsigned long long)st.frees);
    ck_assert_msg(st.current_bytes == 20 && st.current_blocks == 1 &&
                  st.peak_bytes == 1005,
                  "expected 20 bytes in 1 block live and a peak of 1005; "
                  "at_get_stats() gives %zu bytes in %zu blocks, peak %zu",
                  st.current_bytes, st.current_blocks, st.peak_bytes);
}
END_TEST

#define NTHREADS 4
#define AT_PER_THREAD 2000

PK_NO_INSTRUMENT static void *alloc_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < AT_PER_THREAD; i++)
        at_free(at_malloc((size_t)i % 64 + 1));
    return NULL;
}

START_TEST(test_at_threads)
{
    pthread_t th[NTHREADS];
    at_stats st;

    quiet();
    PK_EXPECT_INT("at_start()", at_start(), 0);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_msg(pthread_create(&th[i], NULL, alloc_thread, NULL) == 0,
                      "pthread_create failed (a test problem, not yours)");
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    check_identities("after 4 threads allocated and freed");
    at_stop();
    get_stats(&st);
    ck_assert_msg(st.allocs == NTHREADS * AT_PER_THREAD &&
                  st.frees == NTHREADS * AT_PER_THREAD && st.current_bytes == 0,
                  "%d threads each allocated and freed %d blocks: expected "
                  "%d and %d, 0 bytes live; at_get_stats() gives %llu, %llu, "
                  "%zu. Lost updates mean the counters are not protected by "
                  "a lock", NTHREADS, AT_PER_THREAD, NTHREADS * AT_PER_THREAD,
                  NTHREADS * AT_PER_THREAD, (unsigned long long)st.allocs,
                  (unsigned long long)st.frees, st.current_bytes);
}
END_TEST

START_TEST(test_at_bad_args)
{
    size_t n;

    quiet();
    PK_EXPECT_ERRNO("at_stop() before at_start()", at_stop(), EINVAL);
    PK_EXPECT_INT("at_start()", at_start(), 0);
    PK_EXPECT_ERRNO("a second at_start()", at_start(), EBUSY);
    errno = 0;
    void *p = at_calloc(SIZE_MAX / 2, 4);
    int e = errno;
    ck_assert_msg(p == NULL && e == ENOMEM, "at_calloc(SIZE_MAX / 2, 4), whose "
                  "size overflows, returned %p (errno = %s), expected NULL with "
                  "ENOMEM", p, pk_errno_name(e));
    errno = 0;
    p = at_malloc(SIZE_MAX);
    e = errno;
    ck_assert_msg(p == NULL && e == ENOMEM, "at_malloc(SIZE_MAX) returned %p "
                  "(errno = %s), expected NULL with ENOMEM (mind the header "
                  "when adding sizes)", p, pk_errno_name(e));
    at_free(NULL);
    PK_EXPECT_EINVAL(at_get_stats(NULL), "at_get_stats(NULL)");
    PK_EXPECT_EINVAL(at_leaks(NULL, 3, &n), "at_leaks(NULL, 3, &n)");
    PK_EXPECT_INT("at_stop()", at_stop(), 0);
}
END_TEST

void add_alloctrack_tests(Suite *s)
{
    pk_test_add_timeout(s, test_at_counts_and_peak, 2, 5,
                        "a header before each block remembers its size; "
                        "update current, and peak = max(peak, current), under "
                        "a lock");
    pk_test_add_timeout(s, test_at_leak_sites, 4, 10,
                        "count blocks and bytes per call site "
                        "(__builtin_return_address(0) in a noinline "
                        "allocator); list the sites with blocks left");
    pk_test_add_timeout(s, test_at_untracked_blocks, 2, 5,
                        "mark in the header whether (and under which "
                        "at_start) a block was counted");
    pk_test_add_timeout(s, test_at_realloc, 2, 5,
                        "realloc: uncount the old block (its old size, from "
                        "the header saved before realloc), count the new one "
                        "at this call site");
    pk_test_add_timeout(s, test_at_threads, 2, 10,
                        "one mutex around the counters and the site table");
    pk_test_add_timeout(s, test_at_bad_args, 1, 5,
                        "check for overflow before adding the header size; "
                        "NULL arguments are EINVAL");
}
