/**
 * @file native.h
 * @brief Chapter 05: compiled loops, SIMD and OpenMP (what Cython and Numba
 *        do, done by hand).
 *
 * Numba's `@njit` turns a typed Python loop into machine code; `fastmath=True`
 * lets it reorder a sum so that it vectorises; `parallel=True` with `prange`
 * splits a loop over threads and combines the partial sums. This chapter
 * writes each of those steps in C:
 *
 * 1. reductions (sum of squares, dot product) over float and double arrays,
 *    three ways: a plain scalar loop, several independent accumulators (which
 *    the compiler can vectorise), and AVX2/AVX-512 intrinsics chosen at run
 *    time with a portable fallback;
 * 2. saxpy and the STREAM triad, the memory-bound kernels;
 * 3. OpenMP versions of the reductions and of the triad (Numba's `prange`);
 * 4. the matrix-multiply ladder: i-j-k, i-k-j, tiled, SIMD, SIMD + OpenMP.
 *
 * Conventions shared by every function:
 * - the result goes through an out pointer and the return value is 0, or -1
 *   with errno set (EINVAL for bad arguments, ENOMEM when a buffer could not
 *   be allocated);
 * - an array pointer may be NULL only when its length is 0: NULL with n > 0
 *   is EINVAL, and n = 0 gives a sum of 0 (or writes nothing);
 * - a count so large that the array could not exist (more than PTRDIFF_MAX
 *   bytes, the largest object C allows) is EINVAL, never a crash;
 * - arrays need no particular alignment beyond that of their element type;
 * - nothing is allocated that outlives a call; the caller owns every array.
 *
 * Run-time dispatch: the `_simd` functions (and the matrix multiplies that
 * use SIMD) call native_isa_active() and take the AVX-512, AVX2 or portable
 * path accordingly. The environment variable `PK_FORCE_ISA` (`scalar`,
 * `avx2` or `avx512`) caps the level, so that every path the CPU can run is
 * tested and timed on it: an AVX-512 machine runs the AVX2 and the portable
 * code too when asked. AVX-512 kernels are optional: at that level a
 * function may run its AVX2 kernel (the matrix multiplies always do).
 */
#ifndef NATIVE_H
#define NATIVE_H

#include <stddef.h>

/** @brief Largest thread count the OpenMP functions accept. */
#define NATIVE_MAX_THREADS 256

/** @brief An instruction-set level the SIMD code can run at. */
typedef enum native_isa {
    NATIVE_ISA_SCALAR = 0, /**< portable C, whatever the compiler makes of it */
    NATIVE_ISA_AVX2 = 1,   /**< AVX2 and FMA: 256-bit vectors */
    NATIVE_ISA_AVX512 = 2  /**< AVX-512F: 512-bit vectors (also has AVX2) */
} native_isa;

/* ---- run-time dispatch -------------------------------------------------- */

/**
 * @brief The instruction set the dispatching functions use right now.
 * @return the best level this CPU supports, as __builtin_cpu_supports()
 *         reports it (AVX-512 needs "avx512f"; AVX2 needs both "avx2" and
 *         "fma"), capped by the environment variable PK_FORCE_ISA:
 *         "scalar", "avx2" or "avx512" ask for that level, and the result is
 *         the lower of it and the CPU's best (a level the CPU lacks is never
 *         returned, since its instructions would crash). Unset, empty or any
 *         other value: the CPU's best.
 *
 * Read afresh at every call (a getenv() and a few CPUID-cache lookups, well
 * under a microsecond), so a test may change the variable between calls.
 */
native_isa native_isa_active(void);

/**
 * @brief A printable name for an instruction-set level.
 * @param isa the level.
 * @return "scalar", "avx2" or "avx512"; "unknown" for any other value.
 *         A static string: do not free it.
 */
const char *native_isa_name(native_isa isa);

/* ---- exercise 1: reductions ---------------------------------------------- */

/**
 * @brief Sum of x[i]*x[i], one float accumulator, in index order.
 * @param x the array (NULL only if n is 0).
 * @param n its length.
 * @param out receives the sum (0 for n = 0).
 * @return 0, or -1 with errno EINVAL (NULL out, NULL x with n > 0, absurd n).
 */
int native_sumsq_f32_scalar(const float *x, size_t n, float *out);

/**
 * @brief Sum of x[i]*x[i] with NATIVE_ACCUMULATORS independent partial
 *        sums, added together at the end, then the tail.
 * @param x the array (NULL only if n is 0).
 * @param n its length.
 * @param out receives the sum.
 * @return as native_sumsq_f32_scalar().
 *
 * The rounding differs from the scalar loop's (the additions happen in a
 * different order), within the bound the lesson derives.
 */
int native_sumsq_f32_multi(const float *x, size_t n, float *out);

/**
 * @brief Sum of x[i]*x[i] with AVX-512 or AVX2 intrinsics, chosen at run
 *        time; falls back to native_sumsq_f32_multi() on the portable path.
 * @param x the array (NULL only if n is 0), any alignment.
 * @param n its length.
 * @param out receives the sum.
 * @return as native_sumsq_f32_scalar(). On the portable path (see
 *         native_isa_active()) the result is exactly native_sumsq_f32_multi()'s.
 */
int native_sumsq_f32_simd(const float *x, size_t n, float *out);

/** @brief Double version of native_sumsq_f32_scalar().
 *  @param x the array. @param n its length. @param out receives the sum.
 *  @return 0, or -1 with errno EINVAL. */
int native_sumsq_f64_scalar(const double *x, size_t n, double *out);

/** @brief Double version of native_sumsq_f32_multi().
 *  @param x the array. @param n its length. @param out receives the sum.
 *  @return 0, or -1 with errno EINVAL. */
int native_sumsq_f64_multi(const double *x, size_t n, double *out);

/** @brief Double version of native_sumsq_f32_simd(); the portable path
 *         returns exactly native_sumsq_f64_multi()'s result.
 *  @param x the array. @param n its length. @param out receives the sum.
 *  @return 0, or -1 with errno EINVAL. */
int native_sumsq_f64_simd(const double *x, size_t n, double *out);

/**
 * @brief Dot product x[0]*y[0] + ... + x[n-1]*y[n-1], one float accumulator.
 * @param x first array (NULL only if n is 0).
 * @param y second array, same length (NULL only if n is 0); may be x itself.
 * @param n the length.
 * @param out receives the dot product (0 for n = 0).
 * @return 0, or -1 with errno EINVAL (NULL out, NULL array with n > 0,
 *         absurd n).
 */
int native_dot_f32_scalar(const float *x, const float *y, size_t n,
                          float *out);

/** @brief Dot product with NATIVE_ACCUMULATORS partial sums.
 *  @param x first array. @param y second array. @param n the length.
 *  @param out receives the dot product.
 *  @return as native_dot_f32_scalar(). */
int native_dot_f32_multi(const float *x, const float *y, size_t n,
                         float *out);

/** @brief Dot product with intrinsics chosen at run time; the portable path
 *         returns exactly native_dot_f32_multi()'s result.
 *  @param x first array. @param y second array. @param n the length.
 *  @param out receives the dot product.
 *  @return as native_dot_f32_scalar(). */
int native_dot_f32_simd(const float *x, const float *y, size_t n,
                        float *out);

/** @brief Double version of native_dot_f32_scalar().
 *  @param x first array. @param y second array. @param n the length.
 *  @param out receives the dot product. @return 0, or -1 with errno EINVAL. */
int native_dot_f64_scalar(const double *x, const double *y, size_t n,
                          double *out);

/** @brief Double version of native_dot_f32_multi().
 *  @param x first array. @param y second array. @param n the length.
 *  @param out receives the dot product. @return 0, or -1 with errno EINVAL. */
int native_dot_f64_multi(const double *x, const double *y, size_t n,
                         double *out);

/** @brief Double version of native_dot_f32_simd(); the portable path
 *         returns exactly native_dot_f64_multi()'s result.
 *  @param x first array. @param y second array. @param n the length.
 *  @param out receives the dot product. @return 0, or -1 with errno EINVAL. */
int native_dot_f64_simd(const double *x, const double *y, size_t n,
                        double *out);

/** @brief How many independent partial sums the `_multi` functions keep. */
#define NATIVE_ACCUMULATORS 8

/* ---- exercise 2: saxpy and the STREAM triad ------------------------------ */

/**
 * @brief y[i] = a * x[i] + y[i] for 0 <= i < n (BLAS's saxpy).
 * @param n the length.
 * @param a the scale.
 * @param x read (NULL only if n is 0); must not overlap y.
 * @param y read and written (NULL only if n is 0); nothing past y[n-1] is
 *        touched.
 * @return 0, or -1 with errno EINVAL (NULL array with n > 0, absurd n).
 */
int native_saxpy(size_t n, float a, const float *x, float *y);

/**
 * @brief The STREAM triad a[i] = b[i] + s * c[i] for 0 <= i < n.
 * @param a written (NULL only if n is 0); must not overlap b or c.
 * @param b read (NULL only if n is 0).
 * @param c read (NULL only if n is 0).
 * @param s the scale.
 * @param n the length; nothing past a[n-1] is written.
 * @return 0, or -1 with errno EINVAL (NULL array with n > 0, absurd n).
 */
int native_triad(double *a, const double *b, const double *c, double s,
                 size_t n);

/* ---- exercise 3: OpenMP ------------------------------------------------- */

/**
 * @brief Sum of squares over @p nthreads OpenMP threads (Numba's prange
 *        with a reduction).
 * @param x the array (NULL only if n is 0).
 * @param n its length.
 * @param nthreads threads to use: 0 lets OpenMP choose (OMP_NUM_THREADS or
 *        the CPU count), 1 .. NATIVE_MAX_THREADS asks for that many.
 * @param out receives the sum; it agrees with native_sumsq_f64_scalar()
 *        within the lesson's bound, whatever the thread count.
 * @return 0, or -1 with errno EINVAL (NULL out, NULL x with n > 0, absurd
 *         n, nthreads < 0 or > NATIVE_MAX_THREADS).
 */
int native_sumsq_f64_omp(const double *x, size_t n, int nthreads,
                         double *out);

/**
 * @brief Dot product over @p nthreads OpenMP threads.
 * @param x first array (NULL only if n is 0).
 * @param y second array (NULL only if n is 0).
 * @param n the length.
 * @param nthreads as for native_sumsq_f64_omp().
 * @param out receives the dot product.
 * @return as native_sumsq_f64_omp().
 */
int native_dot_f64_omp(const double *x, const double *y, size_t n,
                       int nthreads, double *out);

/**
 * @brief native_triad() over @p nthreads OpenMP threads.
 * @param a written (NULL only if n is 0); must not overlap b or c.
 * @param b read. @param c read. @param s the scale. @param n the length.
 * @param nthreads as for native_sumsq_f64_omp().
 * @return 0, or -1 with errno EINVAL (NULL array with n > 0, absurd n, bad
 *         nthreads). The result is exactly native_triad()'s.
 */
int native_triad_omp(double *a, const double *b, const double *c, double s,
                     size_t n, int nthreads);

/* ---- exercise 4: the matrix-multiply ladder ------------------------------ */

/**
 * @brief C = A * B for n x n row-major double matrices, the textbook triple
 *        loop in i-j-k order (the inner loop walks down a column of B).
 * @param n the order; 0 does nothing.
 * @param A read, n*n elements (NULL only if n is 0).
 * @param B read, n*n elements (NULL only if n is 0); may be A.
 * @param C written, n*n elements (NULL only if n is 0); must not overlap A
 *        or B. Its old contents are ignored.
 * @return 0, or -1 with errno EINVAL (NULL matrix with n > 0, n*n*8 bytes
 *         overflowing size_t, C overlapping A or B).
 */
int native_matmul_ijk(size_t n, const double *A, const double *B, double *C);

/**
 * @brief C = A * B in i-k-j order: the inner loop walks along rows of B and C.
 * @param n the order. @param A read. @param B read. @param C written.
 * @return as native_matmul_ijk().
 */
int native_matmul_ikj(size_t n, const double *A, const double *B, double *C);

/**
 * @brief C = A * B in i-k-j order, blocked into NATIVE_TILE-sized tiles so
 *        that the tiles of B and C in use stay in cache.
 * @param n the order (any n, not only multiples of the tile).
 * @param A read. @param B read. @param C written.
 * @return as native_matmul_ijk().
 */
int native_matmul_tiled(size_t n, const double *A, const double *B, double *C);

/**
 * @brief C = A * B, tiled, with packed panels and a SIMD micro-kernel chosen
 *        at run time (portable C when native_isa_active() says scalar).
 * @param n the order. @param A read. @param B read. @param C written.
 * @return as native_matmul_ijk(), or -1 with errno ENOMEM when the packing
 *         buffers (a packed copy of B, n * n doubles rounded up to whole
 *         8-column panels, and 96 KB per thread for A) cannot be allocated.
 *         The buffers are freed before the call returns.
 */
int native_matmul_simd(size_t n, const double *A, const double *B, double *C);

/**
 * @brief native_matmul_simd() with its row blocks shared among OpenMP threads.
 * @param n the order. @param A read. @param B read. @param C written.
 * @param nthreads as for native_sumsq_f64_omp().
 * @return as native_matmul_simd(), and EINVAL for a bad @p nthreads.
 */
int native_matmul_omp(size_t n, const double *A, const double *B, double *C,
                      int nthreads);

/** @brief Side of the square tiles native_matmul_tiled() works on. */
#define NATIVE_TILE 64

#endif /* NATIVE_H */
