/* check_capstone.c - graded tests for chapter 07: the data, the item
 * functions, the four drivers, the verifier and the reduce (capstone.h),
 * the process map (procmap.h); pk_suite() adds the pool's tests
 * (check_pool.c) and the performance and report tests (check_perf.c). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capstone.h"
#include "capstone_tests.h"
#include "pk/task.h"
#include "pk_check.h"
#include "procmap.h"

/* The sizes: empty, one item, a size no chunk rule divides evenly, and a
 * tenth of the real job. */
static const size_t exact_sizes[] = {0, 1, 999, 100000};
#define N_EXACT (sizeof exact_sizes / sizeof exact_sizes[0])

/* Written past the last result: a driver must not touch it. */
#define CANARY 0xdeadbeefcafef00dull

/* Most workers any test asks a driver for. */
#define MAX_TEST_WORKERS 3

/* OpenMP keeps its worker threads parked after a region; the grader lets
 * idle threads be (it fails only a thread still busy after the test). */

int capstone_under_valgrind(void)
{
    const char *v = getenv("PK_UNDER_VALGRIND");
    return v != NULL && *v == '1';
}

/* Smaller mixed-kernel jobs under valgrind, which runs about 50x slower. */
static size_t scaled(size_t n)
{
    return capstone_under_valgrind() ? n / 10 : n;
}

/* ---- a driver chosen by mode, so that one check runs all four ---- */

typedef enum mode { SEQ, POOL, PROCS, OMP } mode;
static const char *const mode_name[] = {"capstone_run_seq",
                                        "capstone_run_pool",
                                        "capstone_run_procs",
                                        "capstone_run_omp"};

static int run_mode(mode m, const capstone_item *in, size_t n, uint64_t *out,
                    capstone_fn fn, size_t workers, size_t chunk)
{
    int rc = -1;

    switch (m) {
    case SEQ:
        rc = capstone_run_seq(in, n, out, fn);
        break;
    case POOL: {
        cpool *pool = cpool_create(workers);
        ck_assert_msg(pool != NULL, "cpool_create(%zu) returned NULL (errno = "
                      "%s): the driver needs your pool (pool.c) first",
                      workers, pk_errno_name(errno));
        rc = capstone_run_pool(pool, in, n, out, fn, chunk);
        int saved = errno;
        cpool_destroy(pool);
        errno = saved;
        break;
    }
    case PROCS:
        rc = capstone_run_procs(workers, in, n, out, fn, chunk);
        break;
    case OMP:
        rc = capstone_run_omp(workers, in, n, out, fn, chunk);
        break;
    }
    return rc;
}

/* The data (i, 2i), made here rather than with capstone_fill() so that a
 * wrong fill cannot hide a wrong driver. */
static capstone_item *make_items(size_t n)
{
    capstone_item *in = malloc((n ? n : 1) * sizeof *in);
    ck_assert_msg(in != NULL, "out of memory (a bug in the test)");
    for (size_t i = 0; i < n; i++) {
        in[i].x = i;
        in[i].y = 2 * (uint64_t)i;
    }
    return in;
}

/* out[i] must be 2 i^2 + 332833500 for every i, and out[n] untouched. */
static void check_exact(mode m)
{
    for (size_t s = 0; s < N_EXACT; s++) {
        size_t n = exact_sizes[s];
        capstone_item *in = make_items(n);
        uint64_t *out = malloc((n + 1) * sizeof *out);
        ck_assert_msg(out != NULL, "out of memory (a bug in the test)");
        for (size_t i = 0; i <= n; i++)
            out[i] = CANARY;

        errno = 0;
        int rc = run_mode(m, in, n, out, capstone_item_literal, 2, 0);
        ck_assert_msg(rc == 0, "%s(n = %zu) returned %d (errno = %s), "
                      "expected 0", mode_name[m], n, rc,
                      pk_errno_name(errno));
        for (size_t i = 0; i < n; i++) {
            uint64_t want = 2 * (uint64_t)i * i + CAPSTONE_INNER_SUM;
            if (out[i] != want)
                ck_abort_msg("%s(n = %zu): result %zu is %llu, expected "
                             "%llu = %zu * %zu + 332833500", mode_name[m], n,
                             i, (unsigned long long)out[i],
                             (unsigned long long)want, i, 2 * i);
        }
        ck_assert_msg(out[n] == CANARY, "%s(n = %zu) wrote past the last "
                      "result", mode_name[m], n);
        free(out);
        free(in);
    }
    /* n = 0 needs no arrays at all. */
    errno = 0;
    ck_assert_msg(run_mode(m, NULL, 0, NULL, capstone_item_literal, 2, 0) == 0,
                  "%s with n = 0 and NULL arrays must return 0 (nothing to "
                  "do), got errno = %s", mode_name[m], pk_errno_name(errno));
}

/* ---- the data and the item functions ---- */

START_TEST(test_capstone_fill_data)
{
    capstone_item items[5];
    memset(items, 0xff, sizeof items);
    PK_EXPECT_INT("capstone_fill(items, 5)", capstone_fill(items, 5), 0);
    for (uint64_t i = 0; i < 5; i++)
        ck_assert_msg(items[i].x == i && items[i].y == 2 * i,
                      "item %llu is (%llu, %llu), expected (%llu, %llu) as "
                      "in [(i, i * 2) for i in range(n)]",
                      (unsigned long long)i, (unsigned long long)items[i].x,
                      (unsigned long long)items[i].y, (unsigned long long)i,
                      (unsigned long long)(2 * i));
    ck_assert_msg(capstone_fill(NULL, 0) == 0,
                  "capstone_fill(NULL, 0) has nothing to do: return 0");
    PK_EXPECT_EINVAL(capstone_fill(NULL, 5), "capstone_fill(NULL, 5)");
    PK_EXPECT_EINVAL(capstone_fill(items, CAPSTONE_MAX_ITEMS + 1),
                     "capstone_fill(items, CAPSTONE_MAX_ITEMS + 1): more "
                     "items than allowed, refused before anything is written");
}
END_TEST

START_TEST(test_capstone_item_literal_value)
{
    const struct { capstone_item in; uint64_t want; } cases[] = {
        {{0, 0}, 332833500u},
        {{3, 6}, 332833518u},
        {{999999, 1999998}, 1999996000002u + 332833500u},
        {{UINT64_MAX, 2}, UINT64_MAX - 1 + 332833500u}, /* wraps mod 2^64 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t got = capstone_item_literal(cases[c].in);
        ck_assert_msg(got == cases[c].want,
                      "capstone_item_literal((%llu, %llu)) = %llu, expected "
                      "%llu: x*y plus the sum of k*k for k = 0 .. 999",
                      (unsigned long long)cases[c].in.x,
                      (unsigned long long)cases[c].in.y,
                      (unsigned long long)got,
                      (unsigned long long)cases[c].want);
    }
}
END_TEST

/* An independent reference for the mixed formula: libpk's copy of the
 * practice project's item (pk/task.h). */
static uint64_t mixed_reference(capstone_item it)
{
    return pk_project_item(it.x, it.y);
}

START_TEST(test_capstone_item_mixed_value)
{
    /* x = 0 and x = 1 only permute 0 .. 999; x = 1024 adds 1024 to each k. */
    const struct { capstone_item in; uint64_t want; } cases[] = {
        {{0, 0}, 332833500u},
        {{1, 2}, 332833502u},
        {{1024, 2048}, 2404385500u + 1024u * 2048u},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t got = capstone_item_mixed(cases[c].in);
        ck_assert_msg(got == cases[c].want,
                      "capstone_item_mixed((%llu, %llu)) = %llu, expected %llu",
                      (unsigned long long)cases[c].in.x,
                      (unsigned long long)cases[c].in.y,
                      (unsigned long long)got,
                      (unsigned long long)cases[c].want);
    }
    /* Large x: only its low 32 bits enter t, but all of it enters x*y. */
    const uint64_t xs[] = {999999, 0x12345678u, 0x1000000005ull, UINT64_MAX};
    for (size_t c = 0; c < sizeof xs / sizeof xs[0]; c++) {
        capstone_item it = {xs[c], 7};
        ck_assert_msg(capstone_item_mixed(it) == mixed_reference(it),
                      "capstone_item_mixed((%#llx, 7)) = %llu, expected %llu: "
                      "t = (k XOR x) mod 2^32, squared in 64 bits",
                      (unsigned long long)xs[c],
                      (unsigned long long)capstone_item_mixed(it),
                      (unsigned long long)mixed_reference(it));
    }
}
END_TEST

/* ---- exact results in every mode ---- */

START_TEST(test_capstone_seq_exact)
{
    check_exact(SEQ);
}
END_TEST

START_TEST(test_capstone_pool_exact)
{
    check_exact(POOL);
}
END_TEST

START_TEST(test_capstone_procs_exact)
{
    check_exact(PROCS);
}
END_TEST

START_TEST(test_capstone_omp_exact)
{
    check_exact(OMP);
}
END_TEST

/* Runs modes first .. last with 1 to 3 workers on the mixed formula and
 * compares each with an independent sequential reference, with a plain
 * loop (not with the student's verifier). */
static void check_modes_match(mode first, mode last)
{
    size_t n = scaled(20000);
    capstone_item *in = make_items(n);
    uint64_t *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    ck_assert_msg(want != NULL && got != NULL, "out of memory (a bug in the "
                  "test)");
    for (size_t i = 0; i < n; i++)
        want[i] = mixed_reference(in[i]);

    for (mode m = first; m <= last; m++) {
        for (size_t w = 1; w <= MAX_TEST_WORKERS; w++) {
            memset(got, 0, n * sizeof *got);
            int rc = run_mode(m, in, n, got, capstone_item_mixed, w, 0);
            ck_assert_msg(rc == 0, "%s with %zu workers returned %d (errno "
                          "= %s), expected 0", mode_name[m], w, rc,
                          pk_errno_name(errno));
            size_t i = 0;
            while (i < n && got[i] == want[i])
                i++;
            ck_assert_msg(i == n, "%s with %zu workers: item %zu is %llu, "
                          "the sequential run says %llu", mode_name[m], w, i,
                          (unsigned long long)got[i],
                          (unsigned long long)want[i]);
        }
    }
    free(got);
    free(want);
    free(in);
}

START_TEST(test_capstone_pools_match_seq)
{
    check_modes_match(SEQ, PROCS);
}
END_TEST

START_TEST(test_capstone_omp_matches_seq)
{
    check_modes_match(OMP, OMP);
}
END_TEST

/* Chunk sizes that leave a short last chunk, chunk 1, and chunks bigger
 * than the whole job: the last item is where an off-by-one shows. */
static void check_odd_chunks(mode first, mode last)
{
    const size_t ns[] = {999, 10007};
    const size_t chunks[] = {1, 7, 333, 1000, 50000};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = ns[a];
        capstone_item *in = make_items(n);
        uint64_t *out = malloc((n + 1) * sizeof *out);
        ck_assert_msg(out != NULL, "out of memory (a bug in the test)");
        for (mode m = first; m <= last; m++) {
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                for (size_t i = 0; i <= n; i++)
                    out[i] = CANARY;
                int rc = run_mode(m, in, n, out, capstone_item_literal, 2,
                                  chunks[c]);
                ck_assert_msg(rc == 0, "%s(n = %zu, chunk = %zu) returned %d "
                              "(errno = %s), expected 0", mode_name[m], n,
                              chunks[c], rc, pk_errno_name(errno));
                for (size_t i = 0; i < n; i++)
                    if (out[i] != 2 * (uint64_t)i * i + CAPSTONE_INNER_SUM)
                        ck_abort_msg("%s(n = %zu, chunk = %zu): item %zu is "
                                     "wrong (%llu)", mode_name[m], n,
                                     chunks[c], i,
                                     (unsigned long long)out[i]);
                ck_assert_msg(out[n] == CANARY, "%s(n = %zu, chunk = %zu) "
                              "wrote past the end", mode_name[m], n,
                              chunks[c]);
            }
        }
        free(out);
        free(in);
    }
}

START_TEST(test_capstone_pools_odd_chunks)
{
    check_odd_chunks(POOL, PROCS);
}
END_TEST

START_TEST(test_capstone_omp_odd_chunks)
{
    check_odd_chunks(OMP, OMP);
}
END_TEST

/* ---- the process map: a worker that dies or quits ---- */

/* Crashes on one item, as a bug in real item code would (a segfault). */
static uint64_t crash_on_500(capstone_item item)
{
    if (item.x == 500)
        raise(SIGSEGV);
    return item.x;
}

/* Leaves on one item with status 0, as a stray exit(0) or sys.exit() in
 * item code would: the worker ends "successfully" with its work undone. */
static uint64_t exit_on_500(capstone_item item)
{
    if (item.x == 500)
        exit(0);
    return item.x;
}

/* fn makes a worker end early: the map must fail with ECHILD, leave out
 * untouched and no child behind, and the next map must work. */
static void check_worker_lost(capstone_fn fn, const char *how)
{
    size_t n = 999;
    capstone_item *in = make_items(n);
    uint64_t *out = malloc(n * sizeof *out);
    ck_assert_msg(out != NULL, "out of memory (a bug in the test)");
    for (size_t i = 0; i < n; i++)
        out[i] = CANARY;

    /* Under ASan or TSan a crashing child prints a SEGV report: expected. */
    fprintf(stderr, "chapter 07 test: a worker now %s on purpose\n", how);
    errno = 0;
    int rc = capstone_run_procs(2, in, n, out, fn, 10);
    int e = errno;
    ck_assert_msg(rc == -1 && e == ECHILD,
                  "a worker that %s must make capstone_run_procs (through "
                  "cproc_map) return -1 with errno ECHILD; got %d with errno "
                  "= %s", how, rc, pk_errno_name(e));
    for (size_t i = 0; i < n; i++)
        if (out[i] != CANARY)
            ck_abort_msg("after a failed map out[%zu] was changed: a failed "
                         "cproc_map must leave out untouched", i);
    /* Every child was reaped: this process has none left, not even zombies.
     * (The test's timeout catches a map that hangs instead.) */
    errno = 0;
    ck_assert_msg(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
                  "after the failed map a child process is still around "
                  "(a zombie or a running worker): reap every worker");
    /* And the next map works: a dead worker breaks one call, not the map. */
    rc = capstone_run_procs(2, in, n, out, capstone_item_literal, 0);
    ck_assert_msg(rc == 0 && out[n - 1] == 2 * (uint64_t)(n - 1) * (n - 1) +
                                             CAPSTONE_INNER_SUM,
                  "capstone_run_procs failed after an earlier lost worker "
                  "(returned %d, errno = %s)", rc, pk_errno_name(errno));
    free(out);
    free(in);
}

START_TEST(test_procmap_crash_is_error)
{
    check_worker_lost(crash_on_500, "crashes (SIGSEGV)");
}
END_TEST

START_TEST(test_procmap_exit0_is_error)
{
    check_worker_lost(exit_on_500, "calls exit(0) half-way through its chunk");
}
END_TEST

/* cproc_map itself, with item sizes no driver uses: 3 bytes in, 5 out. */
static void add_bytes(const void *in, void *out, void *ctx)
{
    const unsigned char *a = in;
    unsigned char *b = out;
    unsigned char k = *(const unsigned char *)ctx;
    for (int j = 0; j < 5; j++)
        b[j] = (unsigned char)(a[j % 3] + k + j);
}

START_TEST(test_procmap_any_sizes)
{
    const size_t ns[] = {1, 3, 1000};
    unsigned char k = 7;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = ns[a];
        unsigned char *in = malloc(3 * n), *out = malloc(5 * n + 1);
        ck_assert_msg(in != NULL && out != NULL, "out of memory (a bug in "
                      "the test)");
        for (size_t i = 0; i < 3 * n; i++)
            in[i] = (unsigned char)(i * 31 + 1);
        out[5 * n] = 0xa5;
        /* More workers than items: at most n may be forked. */
        int rc = cproc_map(8, in, n, 3, out, 5, add_bytes, &k, 0);
        ck_assert_msg(rc == 0, "cproc_map(8 workers, n = %zu, in_size 3, "
                      "out_size 5) returned %d (errno = %s), expected 0", n,
                      rc, pk_errno_name(errno));
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < 5; j++)
                if (out[5 * i + (size_t)j] !=
                    (unsigned char)(in[3 * i + (size_t)(j % 3)] + k + j))
                    ck_abort_msg("cproc_map with 3-byte items and 5-byte "
                                 "results: result %zu byte %d is wrong: item "
                                 "i starts at in + i * in_size, its result "
                                 "at out + i * out_size", i, j);
        ck_assert_msg(out[5 * n] == 0xa5, "cproc_map(n = %zu) wrote past "
                      "the last result", n);
        free(out);
        free(in);
    }
    errno = 0;
    ck_assert_msg(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
                  "cproc_map left a child process behind: wait for each one");
}
END_TEST

START_TEST(test_procmap_bad_args)
{
    unsigned char in[4] = {1, 2, 3, 4}, out[4];
    unsigned char k = 0;
    PK_EXPECT_EINVAL(cproc_map(2, in, 4, 1, out, 1, NULL, &k, 0),
                     "cproc_map with fn NULL");
    PK_EXPECT_EINVAL(cproc_map(0, in, 4, 1, out, 1, add_bytes, &k, 0),
                     "cproc_map with 0 workers");
    PK_EXPECT_EINVAL(cproc_map(CPROC_MAX_WORKERS + 1, in, 4, 1, out, 1,
                               add_bytes, &k, 0),
                     "cproc_map with CPROC_MAX_WORKERS + 1 workers");
    PK_EXPECT_EINVAL(cproc_map(2, NULL, 4, 1, out, 1, add_bytes, &k, 0),
                     "cproc_map with in NULL and n = 4");
    PK_EXPECT_EINVAL(cproc_map(2, in, 4, 1, NULL, 1, add_bytes, &k, 0),
                     "cproc_map with out NULL and n = 4");
    PK_EXPECT_EINVAL(cproc_map(2, in, 4, 0, out, 1, add_bytes, &k, 0),
                     "cproc_map with in_size 0");
    PK_EXPECT_EINVAL(cproc_map(2, in, 4, 1, out, 0, add_bytes, &k, 0),
                     "cproc_map with out_size 0");
    PK_EXPECT_EINVAL(cproc_map(2, in, SIZE_MAX / 2, 4, out, 1, add_bytes, &k,
                               0),
                     "cproc_map with n * in_size beyond SIZE_MAX");
    PK_EXPECT_INT("cproc_map(2, NULL, 0, 1, NULL, 1, fn, ctx, 0)",
                  cproc_map(2, NULL, 0, 1, NULL, 1, add_bytes, &k, 0), 0);
}
END_TEST

/* ---- the verifier ---- */

START_TEST(test_capstone_verify_first_mismatch)
{
    uint64_t a[10], b[10];
    for (int i = 0; i < 10; i++)
        a[i] = b[i] = 100 + (uint64_t)i;
    size_t where = 12345;
    ck_assert_msg(capstone_verify(a, b, 10, &where) == 0 && where == 10,
                  "equal arrays: expected 0 and first_mismatch = n (10), got "
                  "first_mismatch = %zu", where);
    b[3] = 0;
    b[7] = 0;
    int rc = capstone_verify(a, b, 10, &where);
    ck_assert_msg(rc == 1 && where == 3, "arrays differing at 3 and 7: "
                  "expected 1 and first_mismatch 3, got %d and %zu", rc,
                  where);
    b[3] = a[3];
    ck_assert_msg(capstone_verify(a, b, 10, NULL) == 1,
                  "first_mismatch may be NULL; the verdict is still 1");
    ck_assert_msg(capstone_verify(a, b, 7, &where) == 0 && where == 7,
                  "only the first n items count: n = 7 stops before the "
                  "difference at 7");
    ck_assert_msg(capstone_verify(NULL, NULL, 0, &where) == 0 && where == 0,
                  "n = 0: nothing to compare, return 0 and first_mismatch 0");
}
END_TEST

START_TEST(test_capstone_verify_sees_swaps)
{
    /* Same sum, same set of values, two results in each other's slots: a
     * checksum says "equal", an item-by-item check does not. */
    uint64_t a[4] = {5, 6, 7, 8}, b[4] = {5, 7, 6, 8};
    size_t where = 0;
    ck_assert_msg(capstone_verify(a, b, 4, &where) == 1 && where == 1,
                  "{5,6,7,8} and {5,7,6,8} differ at index 1 although their "
                  "sums agree; got first_mismatch %zu", where);
}
END_TEST

/* ---- bad arguments ---- */

/* Checks shared by every driver: NULL fn, NULL arrays, absurd n. The small
 * arrays are never read: a driver must refuse before it starts. */
static void check_common_bad_args(mode m)
{
    capstone_item in[4] = {{0, 0}, {1, 2}, {2, 4}, {3, 6}};
    uint64_t out[4];
    char what[128];

    snprintf(what, sizeof what, "%s with fn NULL", mode_name[m]);
    PK_EXPECT_EINVAL(run_mode(m, in, 4, out, NULL, 2, 0), what);
    snprintf(what, sizeof what, "%s with in NULL and n = 4", mode_name[m]);
    PK_EXPECT_EINVAL(run_mode(m, NULL, 4, out, capstone_item_literal, 2, 0), what);
    snprintf(what, sizeof what, "%s with out NULL and n = 4", mode_name[m]);
    PK_EXPECT_EINVAL(run_mode(m, in, 4, NULL, capstone_item_literal, 2, 0), what);
    snprintf(what, sizeof what, "%s with n = SIZE_MAX", mode_name[m]);
    PK_EXPECT_EINVAL(run_mode(m, in, SIZE_MAX, out, capstone_item_literal, 2, 0),
                  what);
    snprintf(what, sizeof what, "%s with n = CAPSTONE_MAX_ITEMS + 1",
             mode_name[m]);
    PK_EXPECT_EINVAL(run_mode(m, in, CAPSTONE_MAX_ITEMS + 1, out,
                           capstone_item_literal, 2, 0), what);
}

START_TEST(test_capstone_seq_bad_args)
{
    check_common_bad_args(SEQ);
}
END_TEST

START_TEST(test_capstone_pool_bad_args)
{
    check_common_bad_args(POOL);
    capstone_item in[1] = {{1, 2}};
    uint64_t out[1];
    PK_EXPECT_EINVAL(capstone_run_pool(NULL, in, 1, out, capstone_item_literal,
                                       0), "capstone_run_pool with pool NULL");
}
END_TEST

START_TEST(test_capstone_procs_bad_args)
{
    check_common_bad_args(PROCS);
    capstone_item in[1] = {{1, 2}};
    uint64_t out[1];
    PK_EXPECT_EINVAL(capstone_run_procs(0, in, 1, out, capstone_item_literal,
                                        0),
                     "capstone_run_procs with 0 processes");
    PK_EXPECT_EINVAL(capstone_run_procs(CAPSTONE_MAX_WORKERS + 1, in, 1, out,
                                        capstone_item_literal, 0),
                     "capstone_run_procs with 4097 processes");
    PK_EXPECT_EINVAL(capstone_run_procs(SIZE_MAX, in, 1, out,
                                        capstone_item_literal, 0),
                     "capstone_run_procs with SIZE_MAX processes");
}
END_TEST

START_TEST(test_capstone_omp_bad_args)
{
    check_common_bad_args(OMP);
    capstone_item in[1] = {{1, 2}};
    uint64_t out[1];
    PK_EXPECT_EINVAL(capstone_run_omp(CAPSTONE_MAX_WORKERS + 1, in, 1, out,
                                   capstone_item_literal, 0),
                  "capstone_run_omp with 4097 threads");
    PK_EXPECT_EINVAL(capstone_run_omp(SIZE_MAX, in, 1, out,
                                   capstone_item_literal, 0),
                  "capstone_run_omp with SIZE_MAX threads");
}
END_TEST

START_TEST(test_capstone_verify_bad_args)
{
    uint64_t a[2] = {1, 2};
    size_t where;
    PK_EXPECT_EINVAL(capstone_verify(NULL, a, 2, &where),
                  "capstone_verify with want NULL and n = 2");
    PK_EXPECT_EINVAL(capstone_verify(a, NULL, 2, &where),
                  "capstone_verify with got NULL and n = 2");
}
END_TEST

/* ---- the reduce ---- */

START_TEST(test_capstone_bin)
{
    const struct { uint64_t r; unsigned bin; } cases[] = {
        {0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {255, 8}, {256, 9},
        {332833500u, 29}, {0xffffffffull, 32}, {0x100000000ull, 33},
        {1ull << 63, 64}, {UINT64_MAX, 64},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        PK_EXPECT_UINT("capstone_bin(r)", capstone_bin(cases[c].r),
                       cases[c].bin);
}
END_TEST

/* The test's own reduce, written differently from any solution. */
static void reference_summary(const uint64_t *res, size_t n,
                              capstone_summary *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        unsigned b = 0;
        for (uint64_t r = res[i]; r != 0; r >>= 1)
            b++;
        s->hist[b]++;
        s->sum += res[i];
    }
    s->count = n;
}

/* got must equal want, field by field; what names the call. */
static void expect_summary(const capstone_summary *got,
                           const capstone_summary *want, const char *what)
{
    ck_assert_msg(got->count == want->count, "%s: count is %llu, expected "
                  "%llu", what, (unsigned long long)got->count,
                  (unsigned long long)want->count);
    ck_assert_msg(got->sum == want->sum, "%s: sum is %llu, expected %llu "
                  "(modulo 2^64)", what, (unsigned long long)got->sum,
                  (unsigned long long)want->sum);
    for (size_t b = 0; b < CAPSTONE_BINS; b++)
        ck_assert_msg(got->hist[b] == want->hist[b],
                      "%s: hist[%zu] is %llu, expected %llu (every result "
                      "counted exactly once, in the bin of its bit length)",
                      what, b, (unsigned long long)got->hist[b],
                      (unsigned long long)want->hist[b]);
}

START_TEST(test_capstone_reduce_seq_exact)
{
    const uint64_t small[] = {0, 1, 2, 3, UINT64_MAX};
    capstone_summary got, want = {0};
    want.count = 5;
    want.sum = 5; /* 0 + 1 + 2 + 3 + (2^64 - 1) wraps to 5 */
    want.hist[0] = 1;
    want.hist[1] = 1;
    want.hist[2] = 2;
    want.hist[64] = 1;
    memset(&got, 0xff, sizeof got);
    PK_EXPECT_INT("capstone_reduce_seq({0, 1, 2, 3, 2^64 - 1}, 5, &s)",
                  capstone_reduce_seq(small, 5, &got), 0);
    expect_summary(&got, &want, "capstone_reduce_seq({0, 1, 2, 3, 2^64 - 1})");

    /* The job's own results. */
    size_t n = 1000;
    uint64_t res[1000];
    for (size_t i = 0; i < n; i++)
        res[i] = pk_project_item(i, 2 * i);
    reference_summary(res, n, &want);
    PK_EXPECT_INT("capstone_reduce_seq(results, 1000, &s)",
                  capstone_reduce_seq(res, n, &got), 0);
    expect_summary(&got, &want, "capstone_reduce_seq(the job's 1000 results)");

    /* n = 0 overwrites the summary with zeros. */
    memset(&got, 0xff, sizeof got);
    memset(&want, 0, sizeof want);
    PK_EXPECT_INT("capstone_reduce_seq(NULL, 0, &s)",
                  capstone_reduce_seq(NULL, 0, &got), 0);
    expect_summary(&got, &want, "capstone_reduce_seq(NULL, 0): an all-zero "
                   "summary, not the old contents");
}
END_TEST

/* Results spread over every bin: xorshift64 values shifted right by a
 * pseudo-random amount. */
static uint64_t *spread_results(size_t n)
{
    uint64_t *res = malloc((n ? n : 1) * sizeof *res);
    ck_assert_msg(res != NULL, "out of memory (a bug in the test)");
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned shift = (unsigned)(x % 65); /* 64: the result 0 */
        res[i] = shift == 64 ? 0 : x >> shift;
    }
    return res;
}

START_TEST(test_capstone_reduce_pool_matches)
{
    /* A summary updated from several threads without care loses counts
     * only while two threads run the loop at the same moment, and one
     * reduce of 2 x 10^6 results lasts a few milliseconds: on a busy machine
     * the second worker often starts after the first has finished. So the
     * big case runs 25 times per worker count (measured on the mutant
     * that shares one summary: caught in 100 of 100 runs; 3 repeats
     * caught it in 60). */
    const size_t ns[] = {0, 3, 1000, 2000000};
    const size_t big_repeats = capstone_under_valgrind() ? 1 : 25;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = capstone_under_valgrind() && ns[a] > 1000 ? 100000 : ns[a];
        size_t repeats = ns[a] > 1000 ? big_repeats : 2;
        uint64_t *res = spread_results(n);
        capstone_summary want, got;
        reference_summary(res, n, &want);
        for (size_t w = 1; w <= 4; w++) {
            cpool *pool = cpool_create(w);
            ck_assert_msg(pool != NULL, "cpool_create(%zu) returned NULL "
                          "(errno = %s): the reduce needs your pool first", w,
                          pk_errno_name(errno));
            for (size_t k = 0; k < repeats; k++) {
                char what[128];
                snprintf(what, sizeof what, "capstone_reduce_pool(%zu "
                         "workers, n = %zu)", w, n);
                memset(&got, 0xff, sizeof got);
                int rc = capstone_reduce_pool(pool, res, n, &got);
                ck_assert_msg(rc == 0, "%s returned %d (errno = %s), expected "
                              "0", what, rc, pk_errno_name(errno));
                expect_summary(&got, &want, what);
            }
            cpool_destroy(pool);
        }
        free(res);
    }
}
END_TEST

START_TEST(test_capstone_reduce_bad_args)
{
    uint64_t res[2] = {1, 2};
    capstone_summary s;
    PK_EXPECT_EINVAL(capstone_reduce_seq(NULL, 2, &s),
                     "capstone_reduce_seq with res NULL and n = 2");
    PK_EXPECT_EINVAL(capstone_reduce_seq(res, 2, NULL),
                     "capstone_reduce_seq with out NULL");
    PK_EXPECT_EINVAL(capstone_reduce_seq(res, CAPSTONE_MAX_ITEMS + 1, &s),
                     "capstone_reduce_seq with n = CAPSTONE_MAX_ITEMS + 1");
    PK_EXPECT_EINVAL(capstone_reduce_pool(NULL, res, 2, &s),
                     "capstone_reduce_pool with pool NULL");
    cpool *pool = cpool_create(2);
    ck_assert_msg(pool != NULL, "cpool_create(2) returned NULL (errno = %s): "
                  "the reduce needs your pool first", pk_errno_name(errno));
    PK_EXPECT_EINVAL(capstone_reduce_pool(pool, NULL, 2, &s),
                     "capstone_reduce_pool with res NULL and n = 2");
    PK_EXPECT_EINVAL(capstone_reduce_pool(pool, res, 2, NULL),
                     "capstone_reduce_pool with out NULL");
    PK_EXPECT_EINVAL(capstone_reduce_pool(pool, res, CAPSTONE_MAX_ITEMS + 1,
                                          &s),
                     "capstone_reduce_pool with n = CAPSTONE_MAX_ITEMS + 1");
    cpool_destroy(pool);
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("07-capstone");

    capstone_add_pool_tests(s);

    pk_test_add(s, test_capstone_fill_data, 1,
                "data = [(i, i * 2) for i in range(n)]; check items and n "
                "before writing");
    pk_test_add(s, test_capstone_item_literal_value, 1,
                "x*y plus the sum of k*k for k = 0 .. 999, all in uint64_t");
    pk_test_add(s, test_capstone_item_mixed_value, 1,
                "t = k ^ (uint32_t)x, then add t*t in 64 bits");
    pk_test_add(s, test_capstone_seq_exact, 1,
                "out[i] = fn(in[i]) for i < n; n = 0 is not an error");
    pk_test_add(s, test_capstone_pool_exact, 2,
                "pass cpool_map a pk_map_fn adapter, and the item function "
                "through ctx (a struct holding the pointer)");
    pk_test_add_timeout(s, test_capstone_procs_exact, 2, 20,
                        "cproc_map takes the same adapter and ctx as "
                        "cpool_map");
    pk_test_add(s, test_capstone_omp_exact, 1,
                "#pragma omp parallel for over i; each iteration writes its "
                "own out[i]");
    pk_test_add_timeout(s, test_capstone_pools_match_seq, 2, 30,
                        "honour the worker count; every item must land in "
                        "its own slot whatever thread or process computed it");
    pk_test_add(s, test_capstone_omp_matches_seq, 1,
                "num_threads(...) from nthreads; each iteration writes only "
                "its own out[i]");
    pk_test_add_timeout(s, test_capstone_pools_odd_chunks, 2, 30,
                        "pass chunk through unchanged; the last chunk is "
                        "shorter, and a chunk larger than n is one chunk");
    pk_test_add(s, test_capstone_omp_odd_chunks, 1,
                "schedule(dynamic, chunk): a chunk need not divide n, and "
                "one larger than n is fine");
    pk_test_add_timeout(s, test_procmap_crash_is_error, 2, 10,
                        "a worker killed by a signal is a failure: kill and "
                        "reap the others, return -1 with errno ECHILD, leave "
                        "out alone");
    pk_test_add_timeout(s, test_procmap_exit0_is_error, 2, 10,
                        "exit status 0 is not enough: a worker must also "
                        "have marked its work finished in shared memory");
    pk_test_add_timeout(s, test_procmap_any_sizes, 1, 10,
                        "item i is at in + i * in_size, its result at out + "
                        "i * out_size; fork at most n workers");
    pk_test_add(s, test_procmap_bad_args, 1,
                "check every argument before mapping or forking anything");
    pk_test_add(s, test_capstone_verify_first_mismatch, 1,
                "walk both arrays; stop at the first index where they "
                "differ; first_mismatch = n when none does");
    pk_test_add(s, test_capstone_verify_sees_swaps, 1,
                "compare item by item, not sums");
    pk_test_add(s, test_capstone_seq_bad_args, 1,
                "check fn, in and out (when n > 0) and n <= "
                "CAPSTONE_MAX_ITEMS before the loop");
    pk_test_add(s, test_capstone_pool_bad_args, 1,
                "a NULL pool is EINVAL too; check before cpool_map");
    pk_test_add(s, test_capstone_procs_bad_args, 1,
                "refuse 0 and more than CAPSTONE_MAX_WORKERS processes with "
                "EINVAL");
    pk_test_add(s, test_capstone_omp_bad_args, 1,
                "refuse more than CAPSTONE_MAX_WORKERS threads with EINVAL");
    pk_test_add(s, test_capstone_verify_bad_args, 1,
                "want and got may be NULL only when n = 0");
    pk_test_add(s, test_capstone_bin, 1,
                "the bit length: count how often r can be halved before it "
                "is 0 (or use __builtin_clzll, which is undefined for 0)");
    pk_test_add(s, test_capstone_reduce_seq_exact, 1,
                "overwrite the summary, then count, sum (wrapping) and "
                "histogram every result once");
    pk_test_add_timeout(s, test_capstone_reduce_pool_matches, 3, 20,
                        "give each task a summary of its own and merge them "
                        "after every task finished: a shared histogram "
                        "updated from several threads loses counts");
    pk_test_add(s, test_capstone_reduce_bad_args, 1,
                "check pool, res (when n > 0), out and n before any task");

    capstone_add_perf_tests(s);
    return s;
}
