/* check_native.c - graded tests for chapter 05 (native.h).
 *
 * Two kinds of data. Small integers (-4 .. 4): every product and every
 * partial sum is an integer far below 2^24, so it is exact in float and in
 * double whatever the order of the additions; any difference from the
 * reference is a real bug (a missed tail, a wrong index), not rounding.
 * Random reals in [-1, 1): the result may differ from the reference by
 * rounding only, and the bound is the classic one for a sum computed in any
 * order, |computed - exact| <= (n - 1) u sum |x_i y_i| (u = eps / 2, see
 * the lesson); the tests allow (n + 2) eps sum |x_i y_i|, twice that. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "native.h"
#include "pk_check.h"

/* ---- helpers ---------------------------------------------------------------- */

/* The sizes the issue names: empty, one, below / at / above a vector or an
 * unrolled step, a large odd one, and one just past a power of two. */
static const size_t SIZES[] = {0, 1, 7, 8, 9, 31, 33, 1023, 4096 + 3};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
/* Element offsets from a 64-byte boundary: 0 is aligned for every vector
 * width, 1 and 3 are aligned for none. */
static const size_t OFFSETS[] = {0, 1, 3};
#define NOFFSETS (sizeof OFFSETS / sizeof OFFSETS[0])
#define GUARD 8            /* spare elements after each array, checked untouched */
#define GUARD_VALUE 777.0

static void *xalloc(size_t bytes)
{
    /* aligned_alloc needs a multiple of the alignment. */
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    ck_assert_msg(p != NULL, "test could not allocate %zu bytes", bytes);
    return p;
}

static int small_int(size_t i, unsigned salt)
{
    return (int)((i * (7 + 2 * salt) + 3 + salt) % 9) - 4;
}

static uint64_t rng_state = 88172645463325252ull;

static double rnd(void)  /* xorshift64: deterministic, in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}


static int under_valgrind(void)
{
    return getenv("PK_UNDER_VALGRIND") != NULL;
}

/* ---- reductions: one checker per signature -------------------------------------- */

typedef int (*sumsq64_fn)(const double *, size_t, double *);
typedef int (*sumsq32_fn)(const float *, size_t, float *);
typedef int (*dot64_fn)(const double *, const double *, size_t, double *);
typedef int (*dot32_fn)(const float *, const float *, size_t, float *);

/* Reference dot product in long double, and the sum of |x_i y_i|. */
static long double ref_dot64(const double *x, const double *y, size_t n,
                             long double *abs_sum)
{
    long double s = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        s += (long double)x[i] * y[i];
        a += fabsl((long double)x[i] * y[i]);
    }
    *abs_sum = a;
    return s;
}

static long double ref_dot32(const float *x, const float *y, size_t n,
                             long double *abs_sum)
{
    long double s = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        s += (long double)x[i] * y[i];
        a += fabsl((long double)x[i] * y[i]);
    }
    *abs_sum = a;
    return s;
}

/* dot(x, y) of doubles; same == 1 tests sumsq (y is x). */
static void check_dot64(const char *name, sumsq64_fn sq, dot64_fn dot)
{
    double out = -1;
    ck_assert_msg((sq ? sq(NULL, 0, &out) : dot(NULL, NULL, 0, &out)) == 0 &&
                  out == 0,
                  "%s with n = 0 (and NULL arrays) must return 0 and a sum "
                  "of 0; got out = %g, errno %d", name, out, errno);
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t o = 0; o < NOFFSETS; o++) {
            const size_t n = SIZES[s], off = OFFSETS[o];
            double *bx = xalloc((n + off) * sizeof *bx);
            double *by = xalloc((n + off) * sizeof *by);
            double *x = bx + off, *y = sq ? x : by + off;
            long double abs_sum;

            for (size_t i = 0; i < n; i++) {
                x[i] = small_int(i, 0);
                if (!sq)
                    y[i] = small_int(i, 1);
            }
            double want = (double)ref_dot64(x, y, n, &abs_sum);
            out = NAN;
            int rc = sq ? sq(x, n, &out) : dot(x, y, n, &out);
            ck_assert_msg(rc == 0, "%s(n = %zu) returned %d (errno %d), "
                          "expected 0", name, n, rc, errno);
            ck_assert_msg(out == want,
                          "%s on small integers, n = %zu, x at offset %zu: "
                          "got %.17g, expected exactly %.17g (integer sums "
                          "have no rounding: look for a missed or doubled "
                          "element, often in the tail after the main loop)",
                          name, n, off, out, want);

            for (size_t i = 0; i < n; i++) {
                x[i] = rnd();
                if (!sq)
                    y[i] = rnd();
            }
            long double ref = ref_dot64(x, y, n, &abs_sum);
            double tol = (double)((long double)(n + 2) * DBL_EPSILON * abs_sum);
            rc = sq ? sq(x, n, &out) : dot(x, y, n, &out);
            ck_assert_msg(rc == 0 && fabs(out - (double)ref) <= tol,
                          "%s on random data, n = %zu, offset %zu: got "
                          "%.17g, reference %.17Lg, allowed error %.3g "
                          "((n + 2) eps sum|x_i y_i|)", name, n, off, out,
                          ref, tol);
            free(bx);
            free(by);
        }
}

static void check_dot32(const char *name, sumsq32_fn sq, dot32_fn dot)
{
    float out = -1;
    ck_assert_msg((sq ? sq(NULL, 0, &out) : dot(NULL, NULL, 0, &out)) == 0 &&
                  out == 0,
                  "%s with n = 0 (and NULL arrays) must return 0 and a sum "
                  "of 0; got out = %g, errno %d", name, (double)out, errno);
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t o = 0; o < NOFFSETS; o++) {
            const size_t n = SIZES[s], off = OFFSETS[o];
            float *bx = xalloc((n + off) * sizeof *bx);
            float *by = xalloc((n + off) * sizeof *by);
            float *x = bx + off, *y = sq ? x : by + off;
            long double abs_sum;

            for (size_t i = 0; i < n; i++) {
                x[i] = (float)small_int(i, 0);
                if (!sq)
                    y[i] = (float)small_int(i, 1);
            }
            float want = (float)ref_dot32(x, y, n, &abs_sum);
            out = NAN;
            int rc = sq ? sq(x, n, &out) : dot(x, y, n, &out);
            ck_assert_msg(rc == 0, "%s(n = %zu) returned %d (errno %d), "
                          "expected 0", name, n, rc, errno);
            ck_assert_msg(out == want,
                          "%s on small integers, n = %zu, x at offset %zu: "
                          "got %.9g, expected exactly %.9g (integer sums "
                          "have no rounding: look for a missed or doubled "
                          "element, often in the tail after the main loop)",
                          name, n, off, (double)out, (double)want);

            for (size_t i = 0; i < n; i++) {
                x[i] = (float)rnd();
                if (!sq)
                    y[i] = (float)rnd();
            }
            long double ref = ref_dot32(x, y, n, &abs_sum);
            double tol = (double)((long double)(n + 2) * FLT_EPSILON * abs_sum);
            rc = sq ? sq(x, n, &out) : dot(x, y, n, &out);
            ck_assert_msg(rc == 0 && fabs((double)out - (double)ref) <= tol,
                          "%s on random data, n = %zu, offset %zu: got "
                          "%.9g, reference %.9Lg, allowed error %.3g "
                          "((n + 2) eps sum|x_i y_i|)", name, n, off,
                          (double)out, ref, tol);
            free(bx);
            free(by);
        }
}

/* ---- exercise 1 ------------------------------------------------------------------ */

START_TEST(test_native_sumsq_f32_scalar)
{
    check_dot32("native_sumsq_f32_scalar", native_sumsq_f32_scalar, NULL);
}
END_TEST

START_TEST(test_native_sumsq_f32_multi)
{
    check_dot32("native_sumsq_f32_multi", native_sumsq_f32_multi, NULL);
}
END_TEST

START_TEST(test_native_sumsq_f32_simd)
{
    check_dot32("native_sumsq_f32_simd", native_sumsq_f32_simd, NULL);
}
END_TEST

START_TEST(test_native_sumsq_f64_scalar)
{
    check_dot64("native_sumsq_f64_scalar", native_sumsq_f64_scalar, NULL);
}
END_TEST

START_TEST(test_native_sumsq_f64_multi)
{
    check_dot64("native_sumsq_f64_multi", native_sumsq_f64_multi, NULL);
}
END_TEST

START_TEST(test_native_sumsq_f64_simd)
{
    check_dot64("native_sumsq_f64_simd", native_sumsq_f64_simd, NULL);
}
END_TEST

START_TEST(test_native_dot_f32_scalar)
{
    check_dot32("native_dot_f32_scalar", NULL, native_dot_f32_scalar);
}
END_TEST

START_TEST(test_native_dot_f32_multi)
{
    check_dot32("native_dot_f32_multi", NULL, native_dot_f32_multi);
}
END_TEST

START_TEST(test_native_dot_f32_simd)
{
    check_dot32("native_dot_f32_simd", NULL, native_dot_f32_simd);
}
END_TEST

START_TEST(test_native_dot_f64_scalar)
{
    check_dot64("native_dot_f64_scalar", NULL, native_dot_f64_scalar);
}
END_TEST

START_TEST(test_native_dot_f64_multi)
{
    check_dot64("native_dot_f64_multi", NULL, native_dot_f64_multi);
}
END_TEST

START_TEST(test_native_dot_f64_simd)
{
    check_dot64("native_dot_f64_simd", NULL, native_dot_f64_simd);
}
END_TEST

START_TEST(test_native_isa_dispatch)
{
    native_isa want = NATIVE_ISA_SCALAR;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        want = NATIVE_ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = NATIVE_ISA_AVX2;

    unsetenv("PK_FORCE_SCALAR");
    native_isa got = native_isa_active();
    ck_assert_msg(got == want, "native_isa_active() = %d on a CPU whose best "
                  "level is %d (0 scalar, 1 avx2, 2 avx512): ask "
                  "__builtin_cpu_supports, best level first", got, want);
    setenv("PK_FORCE_SCALAR", "1", 1);
    got = native_isa_active();
    ck_assert_msg(got == NATIVE_ISA_SCALAR,
                  "with PK_FORCE_SCALAR=1 native_isa_active() must return "
                  "NATIVE_ISA_SCALAR, got %d", got);
    setenv("PK_FORCE_SCALAR", "0", 1);
    got = native_isa_active();
    ck_assert_msg(got == want, "PK_FORCE_SCALAR=0 means 'not forced': "
                  "expected %d, got %d", want, got);
    setenv("PK_FORCE_SCALAR", "", 1);
    got = native_isa_active();
    ck_assert_msg(got == want, "an empty PK_FORCE_SCALAR means 'not "
                  "forced': expected %d, got %d", want, got);
    unsetenv("PK_FORCE_SCALAR");

    ck_assert_str_eq(native_isa_name(NATIVE_ISA_SCALAR), "scalar");
    ck_assert_str_eq(native_isa_name(NATIVE_ISA_AVX2), "avx2");
    ck_assert_str_eq(native_isa_name(NATIVE_ISA_AVX512), "avx512");
    ck_assert_str_eq(native_isa_name((native_isa)42), "unknown");
}
END_TEST

START_TEST(test_native_simd_force_scalar)
{
    const size_t n = 4096 + 3, off = 1;
    double *bd = xalloc((n + off) * sizeof *bd), *bd2 = xalloc((n + off) * sizeof *bd2);
    float *bf = xalloc((n + off) * sizeof *bf), *bf2 = xalloc((n + off) * sizeof *bf2);
    double *d = bd + off, *d2 = bd2 + off;
    float *f = bf + off, *f2 = bf2 + off;
    for (size_t i = 0; i < n; i++) {
        d[i] = rnd();
        d2[i] = rnd();
        f[i] = (float)rnd();
        f2[i] = (float)rnd();
    }
    double m64 = 0, s64 = 1;
    float m32 = 0, s32 = 1;

    setenv("PK_FORCE_SCALAR", "1", 1);
    ck_assert_int_eq(native_sumsq_f64_multi(d, n, &m64), 0);
    ck_assert_int_eq(native_sumsq_f64_simd(d, n, &s64), 0);
    ck_assert_msg(s64 == m64, "with PK_FORCE_SCALAR=1, native_sumsq_f64_simd "
                  "must take the portable path, native_sumsq_f64_multi: got "
                  "%.17g, multi gives %.17g", s64, m64);
    ck_assert_int_eq(native_sumsq_f32_multi(f, n, &m32), 0);
    ck_assert_int_eq(native_sumsq_f32_simd(f, n, &s32), 0);
    ck_assert_msg(s32 == m32, "with PK_FORCE_SCALAR=1, native_sumsq_f32_simd "
                  "must return native_sumsq_f32_multi's result: got %.9g, "
                  "expected %.9g", (double)s32, (double)m32);
    ck_assert_int_eq(native_dot_f64_multi(d, d2, n, &m64), 0);
    ck_assert_int_eq(native_dot_f64_simd(d, d2, n, &s64), 0);
    ck_assert_msg(s64 == m64, "with PK_FORCE_SCALAR=1, native_dot_f64_simd "
                  "must return native_dot_f64_multi's result: got %.17g, "
                  "expected %.17g", s64, m64);
    ck_assert_int_eq(native_dot_f32_multi(f, f2, n, &m32), 0);
    ck_assert_int_eq(native_dot_f32_simd(f, f2, n, &s32), 0);
    ck_assert_msg(s32 == m32, "with PK_FORCE_SCALAR=1, native_dot_f32_simd "
                  "must return native_dot_f32_multi's result: got %.9g, "
                  "expected %.9g", (double)s32, (double)m32);
    unsetenv("PK_FORCE_SCALAR");

    /* The vector path agrees with the portable one within the bound. */
    long double abs_sum;
    ck_assert_int_eq(native_dot_f64_simd(d, d2, n, &s64), 0);
    ref_dot64(d, d2, n, &abs_sum);
    ck_assert_msg(fabs(s64 - m64) <= (double)((n + 2) * DBL_EPSILON * abs_sum),
                  "native_dot_f64_simd: vector path %.17g and portable path "
                  "%.17g differ by more than rounding", s64, m64);
    free(bd);
    free(bd2);
    free(bf);
    free(bf2);
}
END_TEST

START_TEST(test_native_reduce_bad_args)
{
    double d[4] = {1, 2, 3, 4}, od;
    float f[4] = {1, 2, 3, 4}, of;
    const size_t huge = SIZE_MAX / 2;
    PK_EXPECT_EINVAL(native_sumsq_f32_scalar(NULL, 4, &of), "sumsq_f32_scalar(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f32_multi(NULL, 4, &of), "sumsq_f32_multi(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f32_simd(NULL, 4, &of), "sumsq_f32_simd(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f64_scalar(NULL, 4, &od), "sumsq_f64_scalar(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f64_multi(NULL, 4, &od), "sumsq_f64_multi(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f64_simd(NULL, 4, &od), "sumsq_f64_simd(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f64_omp(NULL, 4, 2, &od), "sumsq_f64_omp(NULL, 4)");
    PK_EXPECT_EINVAL(native_sumsq_f64_scalar(d, 4, NULL), "sumsq_f64_scalar(out = NULL)");
    PK_EXPECT_EINVAL(native_sumsq_f32_simd(f, 4, NULL), "sumsq_f32_simd(out = NULL)");
    PK_EXPECT_EINVAL(native_sumsq_f64_scalar(d, huge, &od), "sumsq_f64_scalar(n = SIZE_MAX/2)");
    PK_EXPECT_EINVAL(native_sumsq_f32_multi(f, huge, &of), "sumsq_f32_multi(n = SIZE_MAX/2)");
    PK_EXPECT_EINVAL(native_sumsq_f64_simd(d, huge, &od), "sumsq_f64_simd(n = SIZE_MAX/2)");
    PK_EXPECT_EINVAL(native_dot_f32_scalar(f, NULL, 4, &of), "dot_f32_scalar(y = NULL)");
    PK_EXPECT_EINVAL(native_dot_f32_multi(NULL, f, 4, &of), "dot_f32_multi(x = NULL)");
    PK_EXPECT_EINVAL(native_dot_f32_simd(f, NULL, 4, &of), "dot_f32_simd(y = NULL)");
    PK_EXPECT_EINVAL(native_dot_f64_scalar(NULL, d, 4, &od), "dot_f64_scalar(x = NULL)");
    PK_EXPECT_EINVAL(native_dot_f64_multi(d, NULL, 4, &od), "dot_f64_multi(y = NULL)");
    PK_EXPECT_EINVAL(native_dot_f64_simd(d, d, 4, NULL), "dot_f64_simd(out = NULL)");
    PK_EXPECT_EINVAL(native_dot_f64_omp(d, NULL, 4, 1, &od), "dot_f64_omp(y = NULL)");
    PK_EXPECT_EINVAL(native_dot_f64_simd(d, d, huge, &od), "dot_f64_simd(n = SIZE_MAX/2)");
}
END_TEST

/* ---- exercise 2 ------------------------------------------------------------------ */

START_TEST(test_native_saxpy)
{
    ck_assert_msg(native_saxpy(0, 2.0f, NULL, NULL) == 0,
                  "native_saxpy with n = 0 and NULL arrays has nothing to do: "
                  "return 0 (errno %d)", errno);
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t o = 0; o < NOFFSETS; o++) {
            const size_t n = SIZES[s], off = OFFSETS[o];
            float *bx = xalloc((n + off + GUARD) * sizeof *bx);
            float *by = xalloc((n + off + GUARD) * sizeof *by);
            float *x = bx + off, *y = by + off;
            double *want = xalloc((n + 1) * sizeof *want);
            const float a = 0.75f;

            for (size_t i = 0; i < n + GUARD; i++) {
                x[i] = (float)rnd();
                y[i] = i < n ? (float)rnd() : (float)GUARD_VALUE;
            }
            for (size_t i = 0; i < n; i++)
                want[i] = (double)a * x[i] + y[i];
            int rc = native_saxpy(n, a, x, y);
            ck_assert_msg(rc == 0, "native_saxpy(n = %zu) returned %d (errno "
                          "%d)", n, rc, errno);
            for (size_t i = 0; i < n; i++) {
                /* one rounding for a*x, one for the sum (none of the first
                 * with FMA): at most 2u (|a x| + |y|) = eps (...) */
                double tol = FLT_EPSILON * (fabs((double)a * x[i]) +
                                            fabs(want[i] - (double)a * x[i]));
                if (!(fabs(y[i] - want[i]) <= tol))
                    ck_assert_msg(0, "native_saxpy n = %zu offset %zu: y[%zu] "
                                  "= %.9g, expected a*x+y = %.9g", n, off, i,
                                  (double)y[i], want[i]);
            }
            for (size_t i = n; i < n + GUARD; i++)
                if (y[i] != (float)GUARD_VALUE)
                    ck_assert_msg(0, "native_saxpy(n = %zu) wrote y[%zu], past "
                                  "the end", n, i);
            free(bx);
            free(by);
            free(want);
        }
}
END_TEST

typedef int (*triad_fn)(double *, const double *, const double *, double,
                        size_t, int);

static int triad_serial(double *a, const double *b, const double *c, double s,
                        size_t n, int nthreads)
{
    (void)nthreads;
    return native_triad(a, b, c, s, n);
}

static void check_triad(const char *name, triad_fn fn, int nthreads)
{
    ck_assert_msg(fn(NULL, NULL, NULL, 3.0, 0, nthreads) == 0,
                  "%s with n = 0 and NULL arrays must return 0 (errno %d)",
                  name, errno);
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t o = 0; o < NOFFSETS; o++) {
            const size_t n = SIZES[s], off = OFFSETS[o];
            double *ba = xalloc((n + off + GUARD) * sizeof *ba);
            double *bb = xalloc((n + off) * sizeof *bb);
            double *bc = xalloc((n + off) * sizeof *bc);
            double *a = ba + off, *b = bb + off, *c = bc + off;
            const double scale = 3.0;

            for (size_t i = 0; i < n; i++) {
                b[i] = rnd();
                c[i] = rnd();
                a[i] = NAN;
            }
            for (size_t i = n; i < n + GUARD; i++)
                a[i] = GUARD_VALUE;
            int rc = fn(a, b, c, scale, n, nthreads);
            ck_assert_msg(rc == 0, "%s(n = %zu) returned %d (errno %d)", name,
                          n, rc, errno);
            for (size_t i = 0; i < n; i++) {
                double want = b[i] + scale * c[i];
                double tol = DBL_EPSILON * (fabs(b[i]) + fabs(scale * c[i]));
                if (!(fabs(a[i] - want) <= tol))
                    ck_assert_msg(0, "%s n = %zu offset %zu: a[%zu] = %.17g, "
                                  "expected b + s*c = %.17g", name, n, off, i,
                                  a[i], want);
            }
            for (size_t i = n; i < n + GUARD; i++)
                if (a[i] != GUARD_VALUE)
                    ck_assert_msg(0, "%s(n = %zu) wrote a[%zu], past the end",
                                  name, n, i);
            free(ba);
            free(bb);
            free(bc);
        }
}

START_TEST(test_native_triad)
{
    check_triad("native_triad", triad_serial, 0);
}
END_TEST

START_TEST(test_native_stream_bad_args)
{
    float f[4] = {0};
    double d[4] = {0};
    const size_t huge = SIZE_MAX / 2;
    PK_EXPECT_EINVAL(native_saxpy(4, 1.0f, NULL, f), "saxpy(x = NULL, n = 4)");
    PK_EXPECT_EINVAL(native_saxpy(4, 1.0f, f, NULL), "saxpy(y = NULL, n = 4)");
    PK_EXPECT_EINVAL(native_saxpy(huge, 1.0f, f, f + 2), "saxpy(n = SIZE_MAX/2)");
    PK_EXPECT_EINVAL(native_triad(NULL, d, d, 1.0, 4), "triad(a = NULL)");
    PK_EXPECT_EINVAL(native_triad(d, NULL, d, 1.0, 4), "triad(b = NULL)");
    PK_EXPECT_EINVAL(native_triad(d, d, NULL, 1.0, 4), "triad(c = NULL)");
    PK_EXPECT_EINVAL(native_triad(d, d, d, 1.0, huge), "triad(n = SIZE_MAX/2)");
    PK_EXPECT_EINVAL(native_triad_omp(NULL, d, d, 1.0, 4, 2), "triad_omp(a = NULL)");
    PK_EXPECT_EINVAL(native_triad_omp(d, d, d, 1.0, huge, 2), "triad_omp(n = SIZE_MAX/2)");
}
END_TEST

/* ---- exercise 3 ------------------------------------------------------------------ */

static const int THREADS[] = {0, 1, 2, 3};
#define NTHREADS (sizeof THREADS / sizeof THREADS[0])

/* Larger sizes too: the OpenMP versions split the work in blocks, and
 * 8192 + 1 or 3 * 8192 + 5 catch a lost last block. */
static const size_t OMP_SIZES[] = {0, 1, 7, 9, 1023, 4099, 8193, 3 * 8192 + 5};
#define NOMP_SIZES (sizeof OMP_SIZES / sizeof OMP_SIZES[0])

static void check_omp_dot(const char *name, int sumsq)
{
    for (size_t t = 0; t < NTHREADS; t++)
        for (size_t s = 0; s < NOMP_SIZES; s++) {
            const size_t n = OMP_SIZES[s], off = 1;
            const int nt = THREADS[t];
            double *bx = xalloc((n + off) * sizeof *bx);
            double *by = xalloc((n + off) * sizeof *by);
            double *x = bx + off, *y = sumsq ? x : by + off, out = NAN;
            long double abs_sum;

            for (size_t i = 0; i < n; i++) {
                x[i] = small_int(i, 0);
                if (!sumsq)
                    y[i] = small_int(i, 2);
            }
            double want = (double)ref_dot64(x, y, n, &abs_sum);
            int rc = sumsq ? native_sumsq_f64_omp(x, n, nt, &out)
                           : native_dot_f64_omp(x, y, n, nt, &out);
            ck_assert_msg(rc == 0 && out == want,
                          "%s(n = %zu, nthreads = %d) on small integers: rc "
                          "%d, got %.17g, expected exactly %.17g (is every "
                          "thread's partial sum combined? is the last, "
                          "shorter block done?)", name, n, nt, rc, out, want);
            for (size_t i = 0; i < n; i++) {
                x[i] = rnd();
                if (!sumsq)
                    y[i] = rnd();
            }
            long double ref = ref_dot64(x, y, n, &abs_sum);
            double tol = (double)((long double)(n + 2) * DBL_EPSILON * abs_sum);
            rc = sumsq ? native_sumsq_f64_omp(x, n, nt, &out)
                       : native_dot_f64_omp(x, y, n, nt, &out);
            ck_assert_msg(rc == 0 && fabs(out - (double)ref) <= tol,
                          "%s(n = %zu, nthreads = %d) on random data: got "
                          "%.17g, reference %.17Lg, allowed %.3g", name, n,
                          nt, out, ref, tol);
            free(bx);
            free(by);
        }
}

START_TEST(test_native_sumsq_f64_omp)
{
    check_omp_dot("native_sumsq_f64_omp", 1);
}
END_TEST

START_TEST(test_native_dot_f64_omp)
{
    check_omp_dot("native_dot_f64_omp", 0);
}
END_TEST

START_TEST(test_native_triad_omp)
{
    for (size_t t = 0; t < NTHREADS; t++) {
        char name[64];
        snprintf(name, sizeof name, "native_triad_omp(nthreads = %d)", THREADS[t]);
        check_triad(name, native_triad_omp, THREADS[t]);
    }
}
END_TEST

START_TEST(test_native_omp_bad_threads)
{
    double d[4] = {1, 2, 3, 4}, o, C[4];
    PK_EXPECT_EINVAL(native_sumsq_f64_omp(d, 4, -1, &o), "sumsq_f64_omp(nthreads = -1)");
    PK_EXPECT_EINVAL(native_sumsq_f64_omp(d, 4, NATIVE_MAX_THREADS + 1, &o),
                  "sumsq_f64_omp(nthreads = NATIVE_MAX_THREADS + 1)");
    PK_EXPECT_EINVAL(native_dot_f64_omp(d, d, 4, -5, &o), "dot_f64_omp(nthreads = -5)");
    PK_EXPECT_EINVAL(native_triad_omp(C, d, d, 1.0, 4, -1), "triad_omp(nthreads = -1)");
    PK_EXPECT_EINVAL(native_triad_omp(C, d, d, 1.0, 4, 100000), "triad_omp(nthreads = 100000)");
    PK_EXPECT_EINVAL(native_matmul_omp(2, d, d, C, -1), "matmul_omp(nthreads = -1)");
    PK_EXPECT_EINVAL(native_matmul_omp(2, d, d, C, 1 << 20), "matmul_omp(nthreads = 2^20)");
}
END_TEST

/* ---- exercise 4 ------------------------------------------------------------------ */

typedef int (*matmul_fn)(size_t, const double *, const double *, double *);

static int matmul_omp2(size_t n, const double *A, const double *B, double *C)
{
    return native_matmul_omp(n, A, B, C, 2);
}

static int matmul_omp3(size_t n, const double *A, const double *B, double *C)
{
    return native_matmul_omp(n, A, B, C, 3);
}

/* Sizes around the tile (64), the SIMD kernel's 6 x 8 block, its row block
 * (48) and its depth block (256). */
static const size_t MM_SIZES[] = {1, 2, 5, 7, 13, 48, 63, 64, 65, 100, 130, 257};
#define NMM_SIZES (sizeof MM_SIZES / sizeof MM_SIZES[0])

static void check_matmul(const char *name, matmul_fn fn)
{
    ck_assert_msg(fn(0, NULL, NULL, NULL) == 0,
                  "%s with n = 0 has nothing to do: return 0 (errno %d)",
                  name, errno);
    for (size_t s = 0; s < NMM_SIZES; s++) {
        const size_t n = MM_SIZES[s];
        if (under_valgrind() && n > 130)
            continue;   /* 17 M multiply-adds per call are minutes there */
        double *A = xalloc(n * n * sizeof *A), *B = xalloc(n * n * sizeof *B);
        double *C = xalloc(n * n * sizeof *C);
        long double *ref = xalloc(n * n * sizeof *ref);
        long double *abs_ref = xalloc(n * n * sizeof *abs_ref);

        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n * n; i++) {
                A[i] = pass == 0 ? small_int(i, 0) : rnd();
                B[i] = pass == 0 ? small_int(i, 3) : rnd();
                C[i] = 12345.0;  /* old contents must be ignored */
            }
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                    long double acc = 0, abs_acc = 0;
                    for (size_t k = 0; k < n; k++) {
                        acc += (long double)A[i * n + k] * B[k * n + j];
                        abs_acc += fabsl((long double)A[i * n + k] * B[k * n + j]);
                    }
                    ref[i * n + j] = acc;
                    abs_ref[i * n + j] = abs_acc;
                }
            int rc = fn(n, A, B, C);
            ck_assert_msg(rc == 0, "%s(n = %zu) returned %d (errno %d)", name,
                          n, rc, errno);
            /* Find the first wrong element, then assert once: in no-fork
             * mode Check logs every assertion to a file, and n*n of them
             * would fill it. */
            size_t bad = n * n;
            for (size_t e = 0; e < n * n && bad == n * n; e++) {
                double tol = pass == 0 ? 0 :
                    (double)((long double)(n + 2) * DBL_EPSILON * abs_ref[e]);
                if (!(fabs(C[e] - (double)ref[e]) <= tol))
                    bad = e;
            }
            if (bad < n * n) {
                double got = C[bad], want = (double)ref[bad];
                ck_assert_msg(0, "%s, n = %zu, %s data: C[%zu][%zu] = %.17g, "
                              "expected %.17g%s", name, n,
                              pass == 0 ? "small-integer" : "random",
                              bad / n, bad % n, got, want,
                              got == 12345.0 ? " (C never written here: "
                              "an edge block or a tail of rows/columns "
                              "is missing)" : pass == 0 ? " (integer data "
                              "is exact: a product is missing or counted "
                              "twice, or C was not zeroed first)" : "");
            }
        }
        free(A);
        free(B);
        free(C);
        free(ref);
        free(abs_ref);
    }
}

START_TEST(test_native_matmul_ijk)
{
    check_matmul("native_matmul_ijk", native_matmul_ijk);
}
END_TEST

START_TEST(test_native_matmul_ikj)
{
    check_matmul("native_matmul_ikj", native_matmul_ikj);
}
END_TEST

START_TEST(test_native_matmul_tiled)
{
    check_matmul("native_matmul_tiled", native_matmul_tiled);
}
END_TEST

START_TEST(test_native_matmul_simd)
{
    check_matmul("native_matmul_simd", native_matmul_simd);
}
END_TEST

START_TEST(test_native_matmul_omp)
{
    check_matmul("native_matmul_omp(nthreads = 2)", matmul_omp2);
    check_matmul("native_matmul_omp(nthreads = 3)", matmul_omp3);
}
END_TEST

START_TEST(test_native_matmul_force_scalar)
{
    setenv("PK_FORCE_SCALAR", "1", 1);
    check_matmul("native_matmul_simd with PK_FORCE_SCALAR=1", native_matmul_simd);
    check_matmul("native_matmul_omp(2) with PK_FORCE_SCALAR=1", matmul_omp2);
    unsetenv("PK_FORCE_SCALAR");
}
END_TEST

START_TEST(test_native_matmul_bad_args)
{
    double m[9] = {0}, C[9];
    const matmul_fn fns[] = {native_matmul_ijk, native_matmul_ikj,
                             native_matmul_tiled, native_matmul_simd,
                             matmul_omp2};
    const char *names[] = {"ijk", "ikj", "tiled", "simd", "omp"};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        char what[96];
        snprintf(what, sizeof what, "matmul_%s(n = 3, A = NULL)", names[f]);
        PK_EXPECT_EINVAL(fns[f](3, NULL, m, C), what);
        snprintf(what, sizeof what, "matmul_%s(n = 3, B = NULL)", names[f]);
        PK_EXPECT_EINVAL(fns[f](3, m, NULL, C), what);
        snprintf(what, sizeof what, "matmul_%s(n = 3, C = NULL)", names[f]);
        PK_EXPECT_EINVAL(fns[f](3, m, m, NULL), what);
        snprintf(what, sizeof what, "matmul_%s(n = SIZE_MAX/2): n*n overflows", names[f]);
        PK_EXPECT_EINVAL(fns[f](SIZE_MAX / 2, m, m, C), what);
        snprintf(what, sizeof what, "matmul_%s(n = 2^32): n*n*8 overflows", names[f]);
        PK_EXPECT_EINVAL(fns[f]((size_t)1 << 32, m, m, C), what);
    }
}
END_TEST

START_TEST(test_native_matmul_aliasing)
{
    /* C must not overlap A or B (it is written while they are still read);
     * A and B may be the same matrix. */
    double m[2 * 9], A[4] = {1, 2, 3, 4}, C[4];
    for (size_t i = 0; i < 18; i++)
        m[i] = (double)i;
    PK_EXPECT_EINVAL(native_matmul_ijk(3, m, m + 9, m), "matmul_ijk(C == A)");
    PK_EXPECT_EINVAL(native_matmul_ikj(3, m, m + 9, m + 9), "matmul_ikj(C == B)");
    PK_EXPECT_EINVAL(native_matmul_tiled(3, m, m + 9, m + 4), "matmul_tiled(C overlaps A's tail)");
    PK_EXPECT_EINVAL(native_matmul_simd(3, m + 9, m + 3, m), "matmul_simd(C overlaps B's head)");
    PK_EXPECT_EINVAL(native_matmul_omp(3, m + 9, m, m + 2, 2), "matmul_omp(C overlaps A)");
    /* A * A = {{7, 10}, {15, 22}} */
    ck_assert_int_eq(native_matmul_simd(2, A, A, C), 0);
    ck_assert_msg(C[0] == 7 && C[1] == 10 && C[2] == 15 && C[3] == 22,
                  "matmul_simd(A, A) should square A = {{1,2},{3,4}} into "
                  "{{7,10},{15,22}}, got {{%g,%g},{%g,%g}}", C[0], C[1], C[2],
                  C[3]);
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("05-native");

    pk_test_add(s, test_native_sumsq_f32_scalar, 1,
                "one float accumulator; add x[i]*x[i] for every i < n");
    pk_test_add(s, test_native_sumsq_f64_scalar, 1,
                "the same loop with double; n = 0 gives 0, NULL needs n = 0");
    pk_test_add(s, test_native_dot_f32_scalar, 1,
                "s += x[i] * y[i], in index order");
    pk_test_add(s, test_native_dot_f64_scalar, 1,
                "s += x[i] * y[i], in index order");
    pk_test_add(s, test_native_sumsq_f32_multi, 1,
                "acc[j] += ... for j < NATIVE_ACCUMULATORS in steps of "
                "NATIVE_ACCUMULATORS, then add the accumulators, then the "
                "n % NATIVE_ACCUMULATORS tail");
    pk_test_add(s, test_native_sumsq_f64_multi, 1,
                "the main loop runs while i + NATIVE_ACCUMULATORS <= n; the "
                "tail loop picks up where it stopped");
    pk_test_add(s, test_native_dot_f32_multi, 1,
                "as sumsq_multi, with x[i] * y[i]");
    pk_test_add(s, test_native_dot_f64_multi, 1,
                "as sumsq_multi, with x[i] * y[i]");
    pk_test_add(s, test_native_isa_dispatch, 1,
                "check PK_FORCE_SCALAR with getenv first, then "
                "__builtin_cpu_supports(\"avx512f\"), then \"avx2\" and \"fma\"");
    pk_test_add(s, test_native_sumsq_f32_simd, 2,
                "a function with __attribute__((target(\"avx2,fma\"))): "
                "_mm256_loadu_ps, _mm256_fmadd_ps into several accumulators, "
                "a horizontal sum, a scalar tail");
    pk_test_add(s, test_native_sumsq_f64_simd, 2,
                "_mm256_loadu_pd (any alignment), _mm256_fmadd_pd, four "
                "doubles per vector; the tail is n % 4 (or a masked load on "
                "AVX-512)");
    pk_test_add(s, test_native_dot_f32_simd, 1,
                "as sumsq_simd with two loads per step");
    pk_test_add(s, test_native_dot_f64_simd, 1,
                "as sumsq_simd with two loads per step");
    pk_test_add(s, test_native_simd_force_scalar, 1,
                "when native_isa_active() says scalar, the _simd functions "
                "call the _multi ones");
    pk_test_add(s, test_native_reduce_bad_args, 1,
                "check out, the arrays (NULL only when n == 0) and n (no more "
                "than PTRDIFF_MAX bytes) first; errno = EINVAL");
    pk_test_add(s, test_native_saxpy, 1,
                "y[i] = a * x[i] + y[i] for i < n, and nothing past n");
    pk_test_add(s, test_native_triad, 1,
                "a[i] = b[i] + s * c[i] for i < n, and nothing past n");
    pk_test_add(s, test_native_stream_bad_args, 1,
                "every array NULL only when n == 0; an n whose bytes exceed "
                "PTRDIFF_MAX is EINVAL");
    pk_test_add(s, test_native_sumsq_f64_omp, 2,
                "#pragma omp parallel for reduction(+ : s) num_threads(...); "
                "nthreads 0 means omp_get_max_threads()");
    pk_test_add(s, test_native_dot_f64_omp, 1,
                "the same reduction over x[i] * y[i]");
    pk_test_add(s, test_native_triad_omp, 1,
                "#pragma omp parallel for num_threads(...) schedule(static) "
                "over the triad loop");
    pk_test_add(s, test_native_omp_bad_threads, 1,
                "nthreads must be 0 .. NATIVE_MAX_THREADS: check it before "
                "any pragma");
    pk_test_add(s, test_native_matmul_ijk, 1,
                "C[i][j] = sum over k of A[i][k] * B[k][j]; element (i, j) of "
                "a row-major n x n matrix is at i * n + j");
    pk_test_add(s, test_native_matmul_ikj, 1,
                "zero row i of C, then for each k add A[i][k] * row k of B");
    pk_test_add(s, test_native_matmul_tiled, 2,
                "loops over tiles, then inside a tile; the last tile of a "
                "row or column is shorter: stop at min(start + TILE, n)");
    pk_test_add(s, test_native_matmul_simd, 3,
                "zero C; pack B and A blocks (zero-padded); the micro-kernel "
                "adds only the rows and columns that exist at the edges");
    pk_test_add(s, test_native_matmul_omp, 2,
                "share the row blocks with #pragma omp for; each thread needs "
                "its own packed-A buffer; packed B must be complete before use");
    pk_test_add(s, test_native_matmul_force_scalar, 1,
                "with PK_FORCE_SCALAR=1 the matrix multiplies use a portable "
                "C micro-kernel on the same packed panels");
    pk_test_add(s, test_native_matmul_bad_args, 1,
                "NULL matrices with n > 0 and n * n * 8 overflowing size_t "
                "are EINVAL: test n > PTRDIFF_MAX / 8 / n");
    pk_test_add(s, test_native_matmul_aliasing, 1,
                "compare address ranges as uintptr_t: [C, C + n*n) must not "
                "meet [A, A + n*n) or [B, B + n*n)");
    return s;
}
