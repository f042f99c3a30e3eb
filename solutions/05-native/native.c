/* native.c - chapter 05 reference solution: compiled loops, SIMD intrinsics
 * chosen at run time, OpenMP, and the matrix-multiply ladder.
 *
 * The file is compiled with the course's ordinary flags (-O2, x86-64
 * baseline, so SSE2 only). Functions that use AVX2 or AVX-512 say so with
 * __attribute__((target(...))): the compiler may use those instructions in
 * them and nowhere else, and they are only ever called after
 * native_isa_active() has checked that the CPU has them. */
#include "native.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#include <omp.h>

/* ==== argument checks ====================================================== */

/* An array of n elements of `size` bytes: NULL only when empty, and no more
 * than PTRDIFF_MAX bytes (no object can be larger). */
static int bad_array(const void *p, size_t n, size_t size)
{
    return (n > 0 && p == NULL) || n > PTRDIFF_MAX / size;
}

static int fail(int err)
{
    errno = err;
    return -1;
}

static int bad_threads(int nthreads)
{
    return nthreads < 0 || nthreads > NATIVE_MAX_THREADS;
}

/* 0 asks OpenMP for its default team size (OMP_NUM_THREADS or the CPUs). */
static int team_size(int nthreads)
{
    return nthreads > 0 ? nthreads : omp_get_max_threads();
}

/* ==== run-time dispatch ==================================================== */

/* The best level this CPU has. __builtin_cpu_supports reads a table libgcc
 * fills from CPUID at start-up; it also checks that the OS saves the wider
 * registers (XCR0). */
static native_isa cpu_isa(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return NATIVE_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NATIVE_ISA_AVX2;
    return NATIVE_ISA_SCALAR;
}

native_isa native_isa_active(void)
{
    const native_isa best = cpu_isa();
    const char *force = getenv("PK_FORCE_ISA");
    native_isa want = best;

    if (force == NULL || force[0] == '\0')
        return best;
    if (strcmp(force, "scalar") == 0)
        want = NATIVE_ISA_SCALAR;
    else if (strcmp(force, "avx2") == 0)
        want = NATIVE_ISA_AVX2;
    else if (strcmp(force, "avx512") == 0)
        want = NATIVE_ISA_AVX512;
    /* Never above what the CPU has: that would be an illegal instruction. */
    return want < best ? want : best;
}

const char *native_isa_name(native_isa isa)
{
    switch (isa) {
    case NATIVE_ISA_SCALAR: return "scalar";
    case NATIVE_ISA_AVX2:   return "avx2";
    case NATIVE_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

/* ==== exercise 1: reductions ================================================ */

/* ---- scalar: one accumulator, strictly in order ----
 * Every addition waits for the previous one (the latency of one addsd: 3
 * cycles on Zen 3), and the compiler may not reorder them:
 * float addition is not associative, so a different order is a different
 * answer. This loop does not vectorise. */

int native_sumsq_f32_scalar(const float *x, size_t n, float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    *out = s;
    return 0;
}

int native_sumsq_f64_scalar(const double *x, size_t n, double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    *out = s;
    return 0;
}

int native_dot_f32_scalar(const float *x, const float *y, size_t n,
                          float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    *out = s;
    return 0;
}

int native_dot_f64_scalar(const double *x, const double *y, size_t n,
                          double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    *out = s;
    return 0;
}

/* ---- multi: NATIVE_ACCUMULATORS (8) independent accumulators ----
 * We choose the new order ourselves (element i goes to accumulator i % 8),
 * so the compiler no longer has to keep the scalar order: the eight
 * additions of one step are independent, and at -O2 gcc packs them into SSE2
 * vectors (four registers of two doubles, or two of four floats). This is
 * what Numba's fastmath=True lets the compiler do on its own.
 *
 * The loop is written once, here, as a macro that defines the same helper
 * for float and for double; the four _multi functions call it, a sum of
 * squares being the dot product of x with itself (once inlined, the two
 * loads of x[i] are one).
 *
 * Eight named variables, not an array acc[8]: gcc 12 at -O2 vectorises the
 * array version too (-fopt-info-vec says so) but keeps acc[] in memory, and
 * every step then waits for a store to reach the next load; it runs at half
 * the speed. The lesson shows both. */
#if NATIVE_ACCUMULATORS != 8
#error "the _multi helpers are written out for 8 accumulators"
#endif

#define DEFINE_DOT8(name, T)                                                \
    static inline T name(const T *x, const T *y, size_t n)                  \
    {                                                                       \
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;   \
        size_t i = 0;                                                       \
        for (; i + NATIVE_ACCUMULATORS <= n; i += NATIVE_ACCUMULATORS) {    \
            s0 += x[i] * y[i];         s1 += x[i + 1] * y[i + 1];           \
            s2 += x[i + 2] * y[i + 2]; s3 += x[i + 3] * y[i + 3];           \
            s4 += x[i + 4] * y[i + 4]; s5 += x[i + 5] * y[i + 5];           \
            s6 += x[i + 6] * y[i + 6]; s7 += x[i + 7] * y[i + 7];           \
        }                                                                   \
        T s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));            \
        for (; i < n; i++)              /* the tail: n % 8 elements */      \
            s += x[i] * y[i];                                               \
        return s;                                                           \
    }

DEFINE_DOT8(dot8_f32, float)
DEFINE_DOT8(dot8_f64, double)

int native_sumsq_f32_multi(const float *x, size_t n, float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    *out = dot8_f32(x, x, n);
    return 0;
}

int native_sumsq_f64_multi(const double *x, size_t n, double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    *out = dot8_f64(x, x, n);
    return 0;
}

int native_dot_f32_multi(const float *x, const float *y, size_t n,
                         float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    *out = dot8_f32(x, y, n);
    return 0;
}

int native_dot_f64_multi(const double *x, const double *y, size_t n,
                         double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    *out = dot8_f64(x, y, n);
    return 0;
}

/* ---- AVX2 + FMA kernels ----
 * Four vector accumulators: an FMA has 4 cycles of latency and the core
 * starts two per cycle, so one accumulator would leave the unit idle most of
 * the time. Four chains of 4 doubles give at most 4 x 4 / 4 = 4 doubles per
 * cycle: that, not the L2 cache, is what limits the double sum of squares
 * on data in L2 (the lesson measures it; 8 accumulators go further). loadu
 * accepts any address; on current CPUs it is as fast as an aligned load
 * unless the access crosses a cache line. The last n % 8 (or n % 4)
 * elements are done one by one: for long arrays that is noise, and it
 * keeps the kernel short (a masked load, _mm256_maskload_pd, would make the
 * tail one more vector step). */

__attribute__((target("avx2,fma")))
static float hsum_ps256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static double hsum_pd256(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

__attribute__((target("avx2,fma")))
static float dot_f32_avx2(const float *x, const float *y, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

__attribute__((target("avx2,fma")))
static double dot_f64_avx2(const double *x, const double *y, size_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i), a0);
        a1 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 4), _mm256_loadu_pd(y + i + 4), a1);
        a2 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 8), _mm256_loadu_pd(y + i + 8), a2);
        a3 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 12), _mm256_loadu_pd(y + i + 12), a3);
    }
    for (; i + 4 <= n; i += 4)
        a0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i), a0);
    double s = hsum_pd256(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* ---- AVX-512F kernels ----
 * Sixteen floats or eight doubles per register. The tail needs no scalar
 * loop: a masked load reads only the lanes whose bit is set (and cannot
 * fault on the others), the rest are zero. */

__attribute__((target("avx512f")))
static float dot_f32_avx512(const float *x, const float *y, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    for (; i < n; i += 16) {
        size_t left = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << left) - 1);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
                             _mm512_maskz_loadu_ps(m, y + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

__attribute__((target("avx512f")))
static double dot_f64_avx512(const double *x, const double *y, size_t n)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm512_fmadd_pd(_mm512_loadu_pd(x + i), _mm512_loadu_pd(y + i), a0);
        a1 = _mm512_fmadd_pd(_mm512_loadu_pd(x + i + 8), _mm512_loadu_pd(y + i + 8), a1);
    }
    for (; i < n; i += 8) {
        size_t left = n - i < 8 ? n - i : 8;
        __mmask8 m = (__mmask8)((1u << left) - 1);
        a0 = _mm512_fmadd_pd(_mm512_maskz_loadu_pd(m, x + i),
                             _mm512_maskz_loadu_pd(m, y + i), a0);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

/* ---- dispatch ----
 * A sum of squares is the dot product of x with itself: one kernel for
 * both. It loads each vector of x twice, which costs 10 to 30% from L1
 * (the lesson measures it) and keeps the code to one kernel per type. */

static float dot_f32_dispatch(native_isa isa, const float *x, const float *y,
                              size_t n)
{
    float s;
    switch (isa) {
    case NATIVE_ISA_AVX512: return dot_f32_avx512(x, y, n);
    case NATIVE_ISA_AVX2:   return dot_f32_avx2(x, y, n);
    default:
        native_dot_f32_multi(x, y, n, &s);
        return s;
    }
}

static double dot_f64_dispatch(native_isa isa, const double *x,
                               const double *y, size_t n)
{
    double s;
    switch (isa) {
    case NATIVE_ISA_AVX512: return dot_f64_avx512(x, y, n);
    case NATIVE_ISA_AVX2:   return dot_f64_avx2(x, y, n);
    default:
        native_dot_f64_multi(x, y, n, &s);
        return s;
    }
}

int native_sumsq_f32_simd(const float *x, size_t n, float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    native_isa isa = native_isa_active();
    if (isa == NATIVE_ISA_SCALAR)       /* the documented portable path */
        return native_sumsq_f32_multi(x, n, out);
    *out = dot_f32_dispatch(isa, x, x, n);
    return 0;
}

int native_sumsq_f64_simd(const double *x, size_t n, double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x))
        return fail(EINVAL);
    native_isa isa = native_isa_active();
    if (isa == NATIVE_ISA_SCALAR)
        return native_sumsq_f64_multi(x, n, out);
    *out = dot_f64_dispatch(isa, x, x, n);
    return 0;
}

int native_dot_f32_simd(const float *x, const float *y, size_t n, float *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    *out = dot_f32_dispatch(native_isa_active(), x, y, n);
    return 0;
}

int native_dot_f64_simd(const double *x, const double *y, size_t n,
                        double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    *out = dot_f64_dispatch(native_isa_active(), x, y, n);
    return 0;
}

/* ==== exercise 2: saxpy and the triad ======================================== */

/* `restrict` promises the compiler that x and y do not overlap, so it need
 * not reload x[i+1] after storing y[i]: without it, -O3 has to add a run-time
 * overlap test before it dares to vectorise. */
int native_saxpy(size_t n, float a, const float *restrict x, float *restrict y)
{
    if (bad_array(x, n, sizeof *x) || bad_array(y, n, sizeof *y))
        return fail(EINVAL);
    for (size_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
    return 0;
}

/* Two loads, one store and two flops per element: 24 bytes of traffic (32
 * with the write-allocate read of a[i]) for 2 flops. No CPU computes that
 * slowly; the triad measures the memory system, not the core. */
int native_triad(double *restrict a, const double *restrict b,
                 const double *restrict c, double s, size_t n)
{
    if (bad_array(a, n, sizeof *a) || bad_array(b, n, sizeof *b) ||
        bad_array(c, n, sizeof *c))
        return fail(EINVAL);
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] + s * c[i];
    return 0;
}

/* ==== exercise 3: OpenMP ====================================================== */

/* Elements per unit of parallel work: big enough (64 KB of doubles) that the
 * per-block cost of the SIMD kernel's set-up is noise, small enough that two
 * threads get a fair share of a 1 MB array. */
#define OMP_BLOCK 8192

/* prange with a reduction: each thread sums its blocks into a private copy
 * of `s` (initialised to 0), and OpenMP adds the private copies at the end.
 * The blocks themselves go through the SIMD kernel: vectors inside, threads
 * outside, as Numba's parallel=True does. */
static double sumsq_f64_omp(const double *x, const double *y, size_t n,
                            int nthreads)
{
    const native_isa isa = native_isa_active();  /* once, not per block */
    const size_t nblocks = (n + OMP_BLOCK - 1) / OMP_BLOCK;
    double s = 0;

#pragma omp parallel for num_threads(nthreads) reduction(+ : s) schedule(static)
    for (size_t b = 0; b < nblocks; b++) {
        size_t lo = b * OMP_BLOCK;
        size_t len = n - lo < OMP_BLOCK ? n - lo : OMP_BLOCK;
        s += dot_f64_dispatch(isa, x + lo, y + lo, len);
    }
    return s;
}

int native_sumsq_f64_omp(const double *x, size_t n, int nthreads, double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) || bad_threads(nthreads))
        return fail(EINVAL);
    *out = sumsq_f64_omp(x, x, n, team_size(nthreads));
    return 0;
}

int native_dot_f64_omp(const double *x, const double *y, size_t n,
                       int nthreads, double *out)
{
    if (out == NULL || bad_array(x, n, sizeof *x) ||
        bad_array(y, n, sizeof *y) || bad_threads(nthreads))
        return fail(EINVAL);
    *out = sumsq_f64_omp(x, y, n, team_size(nthreads));
    return 0;
}

/* schedule(static) gives each thread one contiguous slice: the pages that a
 * thread touches first are the ones it keeps touching (on a multi-socket
 * machine they would also live on its own memory node). */
int native_triad_omp(double *restrict a, const double *restrict b,
                     const double *restrict c, double s, size_t n,
                     int nthreads)
{
    if (bad_array(a, n, sizeof *a) || bad_array(b, n, sizeof *b) ||
        bad_array(c, n, sizeof *c) || bad_threads(nthreads))
        return fail(EINVAL);
#pragma omp parallel for num_threads(team_size(nthreads)) schedule(static)
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] + s * c[i];
    return 0;
}

/* ==== exercise 4: the matrix-multiply ladder ================================= */

static int overlaps(const void *p, const void *q, size_t bytes)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return a < b + bytes && b < a + bytes;
}

/* 1 when the call has nothing to do (n = 0), 0 when it may go ahead, -1 with
 * errno EINVAL when the arguments are bad. */
static int matmul_args(size_t n, const double *A, const double *B,
                       const double *C)
{
    if (n == 0)
        return 1;
    if (A == NULL || B == NULL || C == NULL ||
        n > PTRDIFF_MAX / sizeof(double) / n)
        return fail(EINVAL);
    size_t bytes = n * n * sizeof(double);
    if (overlaps(C, A, bytes) || overlaps(C, B, bytes))
        return fail(EINVAL);
    return 0;
}

/* Step 1: the textbook loop. B[k*n + j] with k varying jumps n*8 bytes per
 * iteration: every access is a different cache line, and at n = 1024 all of
 * them fall into the same few cache sets. */
int native_matmul_ijk(size_t n, const double *A, const double *B, double *C)
{
    int rc = matmul_args(n, A, B, C);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
    return 0;
}

/* Step 2: swap the two inner loops. The inner loop now walks along a row of
 * B and a row of C, one cache line every 8 elements, and its iterations are
 * independent (no running sum), so it can be vectorised. gcc's -O2 cost
 * model declines to (-fopt-info-vec-missed says why); `omp simd` asks for
 * it explicitly, and with restrict there is nothing to check at run time. */
int native_matmul_ikj(size_t n, const double *restrict A,
                      const double *restrict B, double *restrict C)
{
    int rc = matmul_args(n, A, B, C);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    for (size_t i = 0; i < n; i++) {
        double *c = C + i * n;
        for (size_t j = 0; j < n; j++)
            c[j] = 0;
        for (size_t k = 0; k < n; k++) {
            const double a = A[i * n + k];
            const double *b = B + k * n;
#pragma omp simd
            for (size_t j = 0; j < n; j++)
                c[j] += a * b[j];
        }
    }
    return 0;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Step 3: i-k-j, but on TILE x TILE blocks. A tile of B (32 KB) is reused by
 * the TILE rows of the C tile while it is still in L1/L2, instead of all of B
 * (8 MB at n = 1024) streaming through the cache once per row of C. The
 * inner loop is vectorised as in step 2. */
int native_matmul_tiled(size_t n, const double *restrict A,
                        const double *restrict B, double *restrict C)
{
    enum { TILE = NATIVE_TILE };
    int rc = matmul_args(n, A, B, C);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    memset(C, 0, n * n * sizeof *C);
    for (size_t ii = 0; ii < n; ii += TILE)
        for (size_t kk = 0; kk < n; kk += TILE)
            for (size_t jj = 0; jj < n; jj += TILE) {
                const size_t ie = min_sz(ii + TILE, n), ke = min_sz(kk + TILE, n);
                const size_t je = min_sz(jj + TILE, n);
                for (size_t i = ii; i < ie; i++)
                    for (size_t k = kk; k < ke; k++) {
                        const double a = A[i * n + k];
#pragma omp simd
                        for (size_t j = jj; j < je; j++)
                            C[i * n + j] += a * B[k * n + j];
                    }
            }
    return 0;
}

/* ---- steps 4 and 5: packed panels and a register-blocked micro-kernel ----
 *
 * The loop nest of BLIS/OpenBLAS (Goto's algorithm), in the simplest form
 * that still reaches a good fraction of the machine's peak:
 *
 *   pack all of B, KC rows at a time, into NR-column panels  (lives in L3)
 *   for ic in steps of MC rows of A and C                     (OpenMP splits this)
 *     for pc in steps of KC (the shared dimension)
 *       pack A[ic:ic+MC, pc:pc+KC] into MR-row panels        (lives in L2)
 *       for jr in steps of NR: for ir in steps of MR:
 *         C[MR x NR block] += A panel (MR x KC) * B panel (KC x NR)   (B panel in L1)
 *
 * The micro-kernel keeps the 6 x 8 block of C in twelve 256-bit registers
 * for the whole KC loop: per k it loads 8 doubles of B, broadcasts 6 of A and
 * issues 12 FMAs on 4 doubles each (48 multiply-adds, 96 flops) for 2
 * vector loads and 6 broadcasts, so the loads no longer limit it. Packing copies
 * each block once into the exact order the kernel reads (contiguous, aligned,
 * zero-padded at the edges), which removes both the large strides and the
 * edge cases from the inner loop. Packing all of B up front costs n*n
 * doubles of memory but leaves a single barrier: on a shared machine, where
 * one thread may lose its core for a few milliseconds, every barrier is a
 * place where the other thread waits for it. */
enum { MR = 6, NR = 8, KC = 256, MC = 48 };

typedef void (*kernel_fn)(size_t kc, const double *ap, const double *bp,
                          double *c, size_t ldc, size_t mr, size_t nr);

/* Add an MR x NR block of results into C, only the mr x nr that exist. */
static void add_block(const double acc[MR][NR], double *c, size_t ldc,
                      size_t mr, size_t nr)
{
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++)
            c[r * ldc + j] += acc[r][j];
}

static void kernel_scalar(size_t kc, const double *ap, const double *bp,
                          double *c, size_t ldc, size_t mr, size_t nr)
{
    double acc[MR][NR] = {{0}};
    for (size_t k = 0; k < kc; k++, ap += MR, bp += NR)
        for (size_t r = 0; r < MR; r++)
            for (size_t j = 0; j < NR; j++)
                acc[r][j] += ap[r] * bp[j];
    add_block(acc, c, ldc, mr, nr);
}

__attribute__((target("avx2,fma")))
static void kernel_avx2(size_t kc, const double *ap, const double *bp,
                        double *c, size_t ldc, size_t mr, size_t nr)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00,
            c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
            c50 = c00, c51 = c00;

    for (size_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m256d b0 = _mm256_load_pd(bp), b1 = _mm256_load_pd(bp + 4);
        __m256d a;
        a = _mm256_broadcast_sd(ap + 0);
        c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
        a = _mm256_broadcast_sd(ap + 1);
        c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
        a = _mm256_broadcast_sd(ap + 2);
        c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
        a = _mm256_broadcast_sd(ap + 3);
        c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
        a = _mm256_broadcast_sd(ap + 4);
        c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
        a = _mm256_broadcast_sd(ap + 5);
        c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
    }

    double acc[MR][NR];
    _mm256_storeu_pd(acc[0], c00); _mm256_storeu_pd(acc[0] + 4, c01);
    _mm256_storeu_pd(acc[1], c10); _mm256_storeu_pd(acc[1] + 4, c11);
    _mm256_storeu_pd(acc[2], c20); _mm256_storeu_pd(acc[2] + 4, c21);
    _mm256_storeu_pd(acc[3], c30); _mm256_storeu_pd(acc[3] + 4, c31);
    _mm256_storeu_pd(acc[4], c40); _mm256_storeu_pd(acc[4] + 4, c41);
    _mm256_storeu_pd(acc[5], c50); _mm256_storeu_pd(acc[5] + 4, c51);
    add_block((const double (*)[NR])acc, c, ldc, mr, nr);
}

/* Panel p of slab pc of the packed B holds columns p*NR .. p*NR+NR-1 of
 * rows pc .. pc+kc-1, stored k-major: bp[k*NR + j]. Missing columns are
 * zeros, so the kernel never needs a column test. */
static void pack_b_panel(size_t n, const double *B, size_t pc, size_t kc,
                         size_t col, size_t ncols, double *bp)
{
    for (size_t k = 0; k < kc; k++)
        for (size_t j = 0; j < NR; j++)
            bp[k * NR + j] = j < ncols ? B[(pc + k) * n + col + j] : 0.0;
}

/* The mc x kc block of A at (ic, pc) as MR-row panels: ap[q*kc + k*MR + r]
 * for the panel starting at row q. Missing rows are zeros. */
static void pack_a(size_t n, const double *A, size_t ic, size_t mc, size_t pc,
                   size_t kc, double *ap)
{
    for (size_t q = 0; q < mc; q += MR, ap += kc * MR)
        for (size_t k = 0; k < kc; k++)
            for (size_t r = 0; r < MR; r++)
                ap[k * MR + r] = q + r < mc ? A[(ic + q + r) * n + pc + k] : 0.0;
}

static int matmul_packed(size_t n, const double *A, const double *B,
                         double *C, int nthreads)
{
    /* The matrix kernel is AVX2 on AVX-512 machines too: a 512-bit kernel
     * needs its own block sizes, and AVX2 already shows the whole idea. */
    const kernel_fn kernel =
        native_isa_active() == NATIVE_ISA_SCALAR ? kernel_scalar : kernel_avx2;
    const size_t npanels = (n + NR - 1) / NR;   /* NR-column panels of B */
    const size_t nslabs = (n + KC - 1) / KC;    /* KC-row slabs of B */
    const size_t nblocks = (n + MC - 1) / MC;   /* MC-row blocks of A and C */
    /* Slab s starts at bp + s*KC*npanels*NR; panel p inside it at p*kc*NR. */
    double *bp = aligned_alloc(64, n * npanels * NR * sizeof *bp);
    double *ap = aligned_alloc(64, (size_t)nthreads * MC * KC * sizeof *ap);
    if (bp == NULL || ap == NULL) {
        free(bp);
        free(ap);
        return fail(ENOMEM);
    }
    memset(C, 0, n * n * sizeof *C);

#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        /* Every thread reads all of packed B: pack it together; the barrier
         * at the end of this `for` makes it complete before anyone uses it. */
#pragma omp for schedule(dynamic, 8)
        for (size_t t = 0; t < nslabs * npanels; t++) {
            const size_t pc = t / npanels * KC, p = t % npanels;
            const size_t kc = min_sz(KC, n - pc);
            pack_b_panel(n, B, pc, kc, p * NR, min_sz(NR, n - p * NR),
                         bp + pc * npanels * NR + p * kc * NR);
        }

        /* Row blocks are independent: each writes its own rows of C, with
         * its own packed copy of A. dynamic: a thread that finishes early
         * (or one whose core was busy) takes the next block. */
        double *my_ap = ap + (size_t)omp_get_thread_num() * MC * KC;
#pragma omp for schedule(dynamic, 1)
        for (size_t ib = 0; ib < nblocks; ib++) {
            const size_t ic = ib * MC, mc = min_sz(MC, n - ic);
            for (size_t pc = 0; pc < n; pc += KC) {
                const size_t kc = min_sz(KC, n - pc);
                const double *slab = bp + pc * npanels * NR;
                pack_a(n, A, ic, mc, pc, kc, my_ap);
                for (size_t jr = 0; jr < n; jr += NR)
                    for (size_t ir = 0; ir < mc; ir += MR)
                        kernel(kc, my_ap + ir * kc, slab + jr * kc,
                               C + (ic + ir) * n + jr, n,
                               min_sz(MR, mc - ir), min_sz(NR, n - jr));
            }
        }
    }
    free(bp);
    free(ap);
    return 0;
}

int native_matmul_simd(size_t n, const double *A, const double *B, double *C)
{
    int rc = matmul_args(n, A, B, C);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return matmul_packed(n, A, B, C, 1);
}

int native_matmul_omp(size_t n, const double *A, const double *B, double *C,
                      int nthreads)
{
    if (bad_threads(nthreads))
        return fail(EINVAL);
    int rc = matmul_args(n, A, B, C);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return matmul_packed(n, A, B, C, team_size(nthreads));
}
