/* native.c - chapter 05 exercises: compiled loops, SIMD intrinsics chosen at
 * run time, OpenMP, and the matrix-multiply ladder. Replace each PK_TODO with
 * real code; native.h says exactly what each function must do, and the
 * lesson (README.md) walks through them in order. `make grade CH=05-native`
 * tells you how far you are.
 *
 * The file is compiled with the course's ordinary flags (-O2, x86-64
 * baseline, so SSE2 only) plus -fopenmp. A function that uses AVX2 or
 * AVX-512 intrinsics must say so itself:
 *
 *     __attribute__((target("avx2,fma")))
 *     static double dot_f64_avx2(const double *x, const double *y, size_t n)
 *
 * and may only be called after native_isa_active() has said the CPU has
 * those instructions. */
#include "native.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#include <omp.h>

#include "pk/todo.h"

/* ==== run-time dispatch ==================================================== */

native_isa native_isa_active(void)
{
    PK_TODO("find the CPU's best level with __builtin_cpu_supports "
            "(\"avx512f\"; else \"avx2\" and \"fma\"; else scalar); if "
            "getenv(\"PK_FORCE_ISA\") is \"scalar\", \"avx2\" or \"avx512\", "
            "return that level, but never one above the CPU's best");
    return NATIVE_ISA_SCALAR;
}

const char *native_isa_name(native_isa isa)
{
    (void)isa;
    PK_TODO("a switch returning \"scalar\", \"avx2\", \"avx512\", else \"unknown\"");
    return NULL;
}

/* ==== exercise 1: reductions ================================================ */

/* ---- scalar: one accumulator, strictly in index order ---- */

int native_sumsq_f32_scalar(const float *x, size_t n, float *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("check the arguments (EINVAL), then s += x[i] * x[i] in a float");
    return -1;
}

int native_sumsq_f64_scalar(const double *x, size_t n, double *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("the float version with double");
    return -1;
}

int native_dot_f32_scalar(const float *x, const float *y, size_t n, float *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("check the arguments, then s += x[i] * y[i] in a float");
    return -1;
}

int native_dot_f64_scalar(const double *x, const double *y, size_t n,
                          double *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("the float version with double");
    return -1;
}

/* ---- multi: NATIVE_ACCUMULATORS independent accumulators ----
 * Write the 8-accumulator loop once: DEFINE_DOT8 defines the same helper for
 * float and for double, and the four functions below call it (a sum of
 * squares is the dot product of x with itself). `unused` keeps the compiler
 * quiet until your functions call the helpers. */

#define DEFINE_DOT8(name, T)                                                \
    __attribute__((unused))                                                 \
    static inline T name(const T *x, const T *y, size_t n)                  \
    {                                                                       \
        (void)x, (void)y, (void)n;                                          \
        PK_TODO("T s0 = 0, ..., s7 = 0; while i + NATIVE_ACCUMULATORS <= n: " \
                "s0 += x[i] * y[i]; ... s7 += x[i + 7] * y[i + 7]; add them " \
                "up; then the n % 8 tail");                                 \
        return 0;                                                           \
    }

DEFINE_DOT8(dot8_f32, float)
DEFINE_DOT8(dot8_f64, double)

int native_sumsq_f32_multi(const float *x, size_t n, float *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("check the arguments as in the scalar version, then "
            "*out = dot8_f32(x, x, n)");
    return -1;
}

int native_sumsq_f64_multi(const double *x, size_t n, double *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("check the arguments, then *out = dot8_f64(x, x, n)");
    return -1;
}

int native_dot_f32_multi(const float *x, const float *y, size_t n, float *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("check the arguments, then *out = dot8_f32(x, y, n)");
    return -1;
}

int native_dot_f64_multi(const double *x, const double *y, size_t n,
                         double *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("check the arguments, then *out = dot8_f64(x, y, n)");
    return -1;
}

/* ---- simd: AVX2 (and AVX-512) kernels behind native_isa_active() ----
 * Write the kernels as static functions with a target attribute, a
 * horizontal-sum helper for each vector type, and a small dispatcher that the
 * four public functions share. On the scalar path call the _multi function,
 * so that PK_FORCE_ISA=scalar gives exactly its result; with
 * PK_FORCE_ISA=avx2 an AVX-512 machine runs (and the tests check) your AVX2
 * kernels. */

int native_sumsq_f32_simd(const float *x, size_t n, float *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("check the arguments; scalar path: native_sumsq_f32_multi; "
            "AVX2: _mm256_loadu_ps + _mm256_fmadd_ps into 4 accumulators, "
            "horizontal sum, scalar tail");
    return -1;
}

int native_sumsq_f64_simd(const double *x, size_t n, double *out)
{
    (void)x, (void)n, (void)out;
    PK_TODO("as the float version with __m256d (4 doubles per vector)");
    return -1;
}

int native_dot_f32_simd(const float *x, const float *y, size_t n, float *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("as sumsq_f32_simd with two loads per step");
    return -1;
}

int native_dot_f64_simd(const double *x, const double *y, size_t n,
                        double *out)
{
    (void)x, (void)y, (void)n, (void)out;
    PK_TODO("as sumsq_f64_simd with two loads per step");
    return -1;
}

/* ==== exercise 2: saxpy and the triad ======================================== */

int native_saxpy(size_t n, float a, const float *restrict x, float *restrict y)
{
    (void)n, (void)a, (void)x, (void)y;
    PK_TODO("check the arrays, then y[i] = a * x[i] + y[i] for i < n");
    return -1;
}

int native_triad(double *restrict a, const double *restrict b,
                 const double *restrict c, double s, size_t n)
{
    (void)a, (void)b, (void)c, (void)s, (void)n;
    PK_TODO("check the arrays, then a[i] = b[i] + s * c[i] for i < n");
    return -1;
}

/* ==== exercise 3: OpenMP ====================================================== */

int native_sumsq_f64_omp(const double *x, size_t n, int nthreads, double *out)
{
    (void)x, (void)n, (void)nthreads, (void)out;
    PK_TODO("check nthreads (0 .. NATIVE_MAX_THREADS; 0 means "
            "omp_get_max_threads()), then #pragma omp parallel for "
            "reduction(+ : s) over blocks summed by your SIMD kernel");
    return -1;
}

int native_dot_f64_omp(const double *x, const double *y, size_t n,
                       int nthreads, double *out)
{
    (void)x, (void)y, (void)n, (void)nthreads, (void)out;
    PK_TODO("as native_sumsq_f64_omp with x[i] * y[i]");
    return -1;
}

int native_triad_omp(double *restrict a, const double *restrict b,
                     const double *restrict c, double s, size_t n,
                     int nthreads)
{
    (void)a, (void)b, (void)c, (void)s, (void)n, (void)nthreads;
    PK_TODO("#pragma omp parallel for num_threads(...) schedule(static) "
            "around the triad loop");
    return -1;
}

/* ==== exercise 4: the matrix-multiply ladder ================================= */

int native_matmul_ijk(size_t n, const double *A, const double *B, double *C)
{
    (void)n, (void)A, (void)B, (void)C;
    PK_TODO("check the arguments (NULL, n*n*8 overflow, C overlapping A or "
            "B); then C[i*n+j] = sum over k of A[i*n+k] * B[k*n+j]");
    return -1;
}

int native_matmul_ikj(size_t n, const double *restrict A,
                      const double *restrict B, double *restrict C)
{
    (void)n, (void)A, (void)B, (void)C;
    PK_TODO("for each row i: zero it, then for each k add A[i*n+k] times "
            "row k of B to row i of C");
    return -1;
}

int native_matmul_tiled(size_t n, const double *restrict A,
                        const double *restrict B, double *restrict C)
{
    (void)n, (void)A, (void)B, (void)C;
    PK_TODO("zero C; loop over NATIVE_TILE blocks ii, kk, jj; inside, the "
            "i-k-j loops bounded by min(block + NATIVE_TILE, n)");
    return -1;
}

int native_matmul_simd(size_t n, const double *A, const double *B, double *C)
{
    (void)n, (void)A, (void)B, (void)C;
    PK_TODO("zero C; pack KC x NC blocks of B into 8-column panels and "
            "MC x KC blocks of A into 6-row panels; a 6 x 8 AVX2 micro-kernel "
            "(12 __m256d accumulators) adds each block into C");
    return -1;
}

int native_matmul_omp(size_t n, const double *A, const double *B, double *C,
                      int nthreads)
{
    (void)n, (void)A, (void)B, (void)C, (void)nthreads;
    PK_TODO("native_matmul_simd's loops inside #pragma omp parallel: pack B "
            "with omp for, then share the row blocks with omp for, one "
            "packed-A buffer per thread");
    return -1;
}
