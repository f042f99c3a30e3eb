/* bench.c - chapter 05 benchmark: the reductions from a plain loop to AVX2,
 * OpenMP against one thread, STREAM-style bandwidth, and the matrix-multiply
 * ladder at n = 1024 with OpenBLAS's dgemm as the line to beat.
 *
 * Built against the solution by `make bench CH=05-native`. The baseline of
 * the reduction tables (novec_*) comes from bench/novec.c, compiled at -O2
 * with the vectoriser off (see chapter.mk). Variants of one table run in
 * interleaved rounds (pk_bench_many) so that a change in the machine's speed
 * hits them all alike. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "native.h"
#include "pk/report.h"
#include "pk/timing.h"

/* bench/novec.c, compiled three ways (see chapter.mk) */
float novec_sumsq_f32(const float *x, size_t n);
double novec_sumsq_f64(const double *x, size_t n);
double novec_dot_f64(const double *x, const double *y, size_t n);
float o3_sumsq_f32(const float *x, size_t n);
double o3_sumsq_f64(const double *x, size_t n);
float fast_sumsq_f32(const float *x, size_t n);
double fast_sumsq_f64(const double *x, size_t n);

#define CHAPTER "05-native"
#define L2_BYTES (256 * 1024)     /* half of this CPU's 512 KB L2 per core */
#define REPS_L2 64                /* calls per timed sample for cached data */
#define DRAM_N (16u * 1024 * 1024) /* 128 MB per double array: far beyond L3 */
#define L3_N (1024u * 1024)       /* 8 MB of doubles: inside the 32 MB L3 */
#define MM_N 1024                 /* the ladder's matrix order */

static pk_report *report;
static double ceiling;            /* measured again before each parallel table */

/* Two busy processes against one, right now: the machine is shared, and
 * what the other tenants leave us changes from minute to minute. */
static void measure_ceiling(void)
{
    ceiling = pk_parallel_ceiling(2, 0.1);
}
static volatile double sink;      /* results go here so no loop is deleted */

static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s", what, strerror(errno));
    exit(1);
}

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == NULL)
        die("aligned_alloc");
    return p;
}

static void add(const char *bench, const char *variant, size_t n,
                const pk_stats *st)
{
    if (pk_report_add(report, bench, variant, n, st) != 0)
        die("pk_report_add");
}

/* ==== reductions on cached data ============================================= */

typedef struct {
    const float *f;
    const double *d, *d2;
    size_t n;
    int reps, nthreads;
} red_ctx;

static void force_scalar(int on)
{
    if (on)
        setenv("PK_FORCE_SCALAR", "1", 1);
    else
        unsetenv("PK_FORCE_SCALAR");
}

#define REPEAT(c, stmt)                            \
    do {                                           \
        for (int r_ = 0; r_ < (c)->reps; r_++) {   \
            stmt;                                  \
        }                                          \
    } while (0)

static void f32_novec(void *p)  { red_ctx *c = p; REPEAT(c, sink = novec_sumsq_f32(c->f, c->n)); }
static void f32_o3(void *p)     { red_ctx *c = p; REPEAT(c, sink = o3_sumsq_f32(c->f, c->n)); }
static void f32_fast(void *p)   { red_ctx *c = p; REPEAT(c, sink = fast_sumsq_f32(c->f, c->n)); }
static void f32_scalar(void *p) { red_ctx *c = p; float o; REPEAT(c, native_sumsq_f32_scalar(c->f, c->n, &o); sink = o); }
static void f32_multi(void *p)  { red_ctx *c = p; float o; REPEAT(c, native_sumsq_f32_multi(c->f, c->n, &o); sink = o); }
static void f32_simd(void *p)   { red_ctx *c = p; float o; REPEAT(c, native_sumsq_f32_simd(c->f, c->n, &o); sink = o); }
static void f32_forced(void *p)
{
    force_scalar(1);
    f32_simd(p);
    force_scalar(0);
}

static void f64_novec(void *p)  { red_ctx *c = p; REPEAT(c, sink = novec_sumsq_f64(c->d, c->n)); }
static void f64_o3(void *p)     { red_ctx *c = p; REPEAT(c, sink = o3_sumsq_f64(c->d, c->n)); }
static void f64_fast(void *p)   { red_ctx *c = p; REPEAT(c, sink = fast_sumsq_f64(c->d, c->n)); }
static void f64_scalar(void *p) { red_ctx *c = p; double o; REPEAT(c, native_sumsq_f64_scalar(c->d, c->n, &o); sink = o); }
static void f64_multi(void *p)  { red_ctx *c = p; double o; REPEAT(c, native_sumsq_f64_multi(c->d, c->n, &o); sink = o); }
static void f64_simd(void *p)   { red_ctx *c = p; double o; REPEAT(c, native_sumsq_f64_simd(c->d, c->n, &o); sink = o); }
static void f64_forced(void *p)
{
    force_scalar(1);
    f64_simd(p);
    force_scalar(0);
}
static void f64_omp(void *p)    { red_ctx *c = p; double o; REPEAT(c, native_sumsq_f64_omp(c->d, c->n, c->nthreads, &o); sink = o); }

static void dot_novec(void *p)  { red_ctx *c = p; REPEAT(c, sink = novec_dot_f64(c->d, c->d2, c->n)); }
static void dot_scalar(void *p) { red_ctx *c = p; double o; REPEAT(c, native_dot_f64_scalar(c->d, c->d2, c->n, &o); sink = o); }
static void dot_multi(void *p)  { red_ctx *c = p; double o; REPEAT(c, native_dot_f64_multi(c->d, c->d2, c->n, &o); sink = o); }
static void dot_simd(void *p)   { red_ctx *c = p; double o; REPEAT(c, native_dot_f64_simd(c->d, c->d2, c->n, &o); sink = o); }

/* Run k variants interleaved, report them in order, then print each one's
 * rate in elements per nanosecond and GB/s of data read. */
static void run_table(const char *bench, const char *const names[],
                      void (*const fns[])(void *), red_ctx *ctxs[], size_t k,
                      size_t bytes_per_call, size_t runs)
{
    pk_stats st[8];
    if (pk_bench_many(fns, (void *const *)ctxs, k, 2, runs, st) != 0)
        die("pk_bench_many");
    for (size_t i = 0; i < k; i++)
        add(bench, names[i], ctxs[i]->n, &st[i]);
    for (size_t i = 0; i < k; i++) {
        double per_call = st[i].median / ctxs[i]->reps;
        pk_report_note(report, "%-28s %7.2f elements/ns, %6.1f GB/s read",
                       names[i], (double)ctxs[i]->n / (per_call * 1e9),
                       (double)bytes_per_call / per_call / 1e9);
    }
}

static void bench_reductions(void)
{
    const size_t nf = L2_BYTES / sizeof(float), nd = L2_BYTES / sizeof(double);
    float *f = xalloc(nf * sizeof *f);
    double *d = xalloc(nd * sizeof *d), *d2 = xalloc(nd * sizeof *d2);
    for (size_t i = 0; i < nf; i++)
        f[i] = (float)(i % 1000) * 1e-3f;
    for (size_t i = 0; i < nd; i++) {
        d[i] = (double)(i % 1000) * 1e-3;
        d2[i] = 1.0 - d[i];
    }

    red_ctx cf = {.f = f, .n = nf, .reps = REPS_L2};
    red_ctx cd = {.d = d, .d2 = d2, .n = nd, .reps = REPS_L2};
    red_ctx cdot = {.d = d, .d2 = d2, .n = nd / 2, .reps = REPS_L2};
    const native_isa isa = native_isa_active();
    char simd_name[40];
    snprintf(simd_name, sizeof simd_name, "simd, dispatched (%s)", native_isa_name(isa));

    /* The fast_ copy uses AVX2 throughout: only where the CPU has it. */
    const size_t k = isa >= NATIVE_ISA_AVX2 ? 7 : 6;
    {
        const char *names[] = {"scalar -O2 -fno-tree-vectorize", "scalar (solution, -O2)",
                               "scalar loop at -O3", "multi, 8 accumulators",
                               "simd, PK_FORCE_SCALAR=1", simd_name,
                               "loop at -O3 -ffast-math -mavx2"};
        void (*const fns[])(void *) = {f32_novec, f32_scalar, f32_o3, f32_multi,
                                       f32_forced, f32_simd, f32_fast};
        red_ctx *ctxs[] = {&cf, &cf, &cf, &cf, &cf, &cf, &cf};
        run_table("sumsq f32, 256 KB in L2 (x64 calls)", names, fns, ctxs, k,
                  nf * sizeof *f, 15);
    }
    {
        const char *names[] = {"scalar -O2 -fno-tree-vectorize", "scalar (solution, -O2)",
                               "scalar loop at -O3", "multi, 8 accumulators",
                               "simd, PK_FORCE_SCALAR=1", simd_name,
                               "loop at -O3 -ffast-math -mavx2"};
        void (*const fns[])(void *) = {f64_novec, f64_scalar, f64_o3, f64_multi,
                                       f64_forced, f64_simd, f64_fast};
        red_ctx *ctxs[] = {&cd, &cd, &cd, &cd, &cd, &cd, &cd};
        run_table("sumsq f64, 256 KB in L2 (x64 calls)", names, fns, ctxs, k,
                  nd * sizeof *d, 15);
    }
    {
        const char *names[] = {"scalar -O2 -fno-tree-vectorize", "scalar (solution, -O2)",
                               "multi, 8 accumulators", simd_name};
        void (*const fns[])(void *) = {dot_novec, dot_scalar, dot_multi, dot_simd};
        red_ctx *ctxs[] = {&cdot, &cdot, &cdot, &cdot};
        run_table("dot f64, 2 x 128 KB in L2 (x64 calls)", names, fns, ctxs, 4,
                  2 * (nd / 2) * sizeof *d, 15);
    }
    free(f);
    free(d);
    free(d2);
}

/* ==== OpenMP against one thread ============================================== */

static void bench_omp_reductions(void)
{
    /* In cache: 512 KB, so each of two threads sums a 256 KB half that stays
     * in its own core's L2 from one call to the next. */
    const size_t n_cached = 2 * L2_BYTES / sizeof(double);
    double *x = xalloc(DRAM_N * sizeof *x);
    for (size_t i = 0; i < DRAM_N; i++)
        x[i] = (double)(i % 1000) * 1e-3;

    red_ctx one = {.d = x, .n = n_cached, .reps = REPS_L2, .nthreads = 1};
    red_ctx two = one;
    two.nthreads = 2;
    {
        const char *names[] = {"omp, 1 thread", "omp, 2 threads"};
        void (*const fns[])(void *) = {f64_omp, f64_omp};
        red_ctx *ctxs[] = {&one, &two};
        measure_ceiling();
        run_table("sumsq f64 OpenMP, 512 KB in cache (x64)", names, fns, ctxs,
                  2, n_cached * sizeof *x, 15);
        pk_report_note(report, "parallel ceiling (2 busy processes): %.2fx",
                       ceiling);
    }

    /* 8 MB: far past L2 but inside the 32 MB L3, where each core has its
     * own path to the cache. */
    red_ctx lone = {.d = x, .n = L3_N, .reps = 8, .nthreads = 1};
    red_ctx ltwo = lone;
    ltwo.nthreads = 2;
    {
        const char *names[] = {"omp, 1 thread", "omp, 2 threads"};
        void (*const fns[])(void *) = {f64_omp, f64_omp};
        red_ctx *ctxs[] = {&lone, &ltwo};
        measure_ceiling();
        run_table("sumsq f64 OpenMP, 8 MB in L3 (x8 calls)", names, fns, ctxs,
                  2, L3_N * sizeof *x, 15);
        pk_report_note(report, "parallel ceiling (2 busy processes): %.2fx",
                       ceiling);
    }

    red_ctx bone = {.d = x, .n = DRAM_N, .reps = 1, .nthreads = 1};
    red_ctx btwo = bone;
    btwo.nthreads = 2;
    {
        const char *names[] = {"omp, 1 thread", "omp, 2 threads"};
        void (*const fns[])(void *) = {f64_omp, f64_omp};
        red_ctx *ctxs[] = {&bone, &btwo};
        measure_ceiling();
        run_table("sumsq f64 OpenMP, 128 MB in DRAM", names, fns, ctxs, 2,
                  DRAM_N * sizeof *x, 9);
        pk_report_note(report, "parallel ceiling (2 busy processes): %.2fx",
                       ceiling);
    }
    free(x);
}

/* ==== bandwidth: the triad ======================================================= */

typedef struct {
    double *a, *b, *c;
    size_t n;
    int nthreads;
} triad_ctx;

static void triad_serial(void *p)
{
    triad_ctx *t = p;
    native_triad(t->a, t->b, t->c, 3.0, t->n);
}

static void triad_par(void *p)
{
    triad_ctx *t = p;
    native_triad_omp(t->a, t->b, t->c, 3.0, t->n, t->nthreads);
}

/* The bandwidth the machine gives this process, three ways: reading two
 * arrays (a dot product: two streams, like the triad's two inputs; one
 * thread, then two) and copying one with memcpy (glibc streams large copies
 * past the cache, so no write-allocate). The best of the three is "the
 * measured bandwidth" the triad is compared with. */
static void read_par(void *p)
{
    triad_ctx *t = p;
    double o;
    native_dot_f64_omp(t->b, t->c, t->n, t->nthreads, &o);
    sink = o;
}

static void copy_mem(void *p)
{
    triad_ctx *t = p;
    memcpy(t->a, t->b, t->n * sizeof *t->a);
}

static void bench_triad(void)
{
    const size_t n = DRAM_N;
    triad_ctx t = {xalloc(n * sizeof(double)), xalloc(n * sizeof(double)),
                   xalloc(n * sizeof(double)), n, 0};
    for (size_t i = 0; i < n; i++) {
        t.a[i] = 0;
        t.b[i] = 1.0;
        t.c[i] = 2.0;
    }
    triad_ctx one = t, two = t;
    one.nthreads = 1;
    two.nthreads = 2;

    enum { K = 6 };
    void (*const fns[K])(void *) = {triad_serial, triad_par, triad_par,
                                    read_par, read_par, copy_mem};
    void *ctxs[K] = {&t, &one, &two, &one, &two, &t};
    const char *names[K] = {"triad (serial)", "triad_omp, 1 thread",
                            "triad_omp, 2 threads", "read: dot_omp b.c, 1 thread",
                            "read: dot_omp b.c, 2 threads", "memcpy 128 MB"};
    /* bytes that cross the memory bus per call: the triad reads b, c and
     * (write-allocate) a, and writes a; the dot product reads b and c;
     * memcpy reads and writes */
    const double moved[K] = {32.0 * n, 32.0 * n, 32.0 * n, 16.0 * n,
                             16.0 * n, 16.0 * n};
    pk_stats st[K];
    measure_ceiling();
    if (pk_bench_many(fns, ctxs, K, 2, 9, st) != 0)
        die("pk_bench_many");
    const char *bench = "STREAM triad a = b + s*c, 3 x 128 MB";
    double best = 0, gbs[K];
    for (size_t i = 0; i < K; i++) {
        add(bench, names[i], n, &st[i]);
        gbs[i] = moved[i] / st[i].median / 1e9;
        if (i >= 3 && gbs[i] > best)
            best = gbs[i];
    }
    for (size_t i = 0; i < K; i++)
        pk_report_note(report, "%-27s %6.1f GB/s moved%s", names[i], gbs[i],
                       i < 3 ? "" : " (reference)");
    for (size_t i = 0; i < 3; i++)
        pk_report_note(report, "%-27s %6.1f GB/s as STREAM counts it (24 "
                       "B/element); moved = %3.0f%% of the best reference",
                       names[i], 24.0 * n / st[i].median / 1e9,
                       100 * gbs[i] / best);
    pk_report_note(report, "parallel ceiling (2 busy processes): %.2fx", ceiling);
    free(t.a);
    free(t.b);
    free(t.c);
}

/* ==== the matrix-multiply ladder ============================================== */

typedef struct {
    const double *A, *B;
    double *C;
    int step, nthreads;
} mm_ctx;

enum { MM_IJK, MM_IKJ, MM_TILED, MM_SIMD, MM_OMP, MM_BLAS };

static void mm_run(void *p)
{
    mm_ctx *m = p;
    int rc = 0;
    switch (m->step) {
    case MM_IJK:   rc = native_matmul_ijk(MM_N, m->A, m->B, m->C); break;
    case MM_IKJ:   rc = native_matmul_ikj(MM_N, m->A, m->B, m->C); break;
    case MM_TILED: rc = native_matmul_tiled(MM_N, m->A, m->B, m->C); break;
    case MM_SIMD:  rc = native_matmul_simd(MM_N, m->A, m->B, m->C); break;
    case MM_OMP:   rc = native_matmul_omp(MM_N, m->A, m->B, m->C, m->nthreads); break;
    case MM_BLAS:
        openblas_set_num_threads(m->nthreads);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MM_N, MM_N,
                    MM_N, 1.0, m->A, MM_N, m->B, MM_N, 0.0, m->C, MM_N);
        break;
    }
    if (rc != 0)
        die("matmul");
}

static void bench_matmul(void)
{
    const size_t nn = (size_t)MM_N * MM_N;
    double *A = xalloc(nn * sizeof *A), *B = xalloc(nn * sizeof *B);
    double *C = xalloc(nn * sizeof *C), *R = xalloc(nn * sizeof *R);
    for (size_t i = 0; i < nn; i++) {
        A[i] = (double)((i * 7) % 13) / 13.0 - 0.5;
        B[i] = (double)((i * 11) % 17) / 17.0 - 0.5;
    }
    const double flops = 2.0 * MM_N * MM_N * MM_N;
    const char *bench = "matmul ladder, n = 1024 (double)";
    struct { const char *name; int step, nthreads; size_t warmup, runs; } steps[] = {
        {"1 naive i-j-k", MM_IJK, 1, 0, 3},
        {"2 loop interchange i-k-j", MM_IKJ, 1, 1, 5},
        {"3 tiled 64 x 64", MM_TILED, 1, 1, 5},
        {"4 packed + AVX2 6x8 kernel", MM_SIMD, 1, 1, 7},
        {"5 + OpenMP, 2 threads", MM_OMP, 2, 1, 7},
        {"OpenBLAS dgemm, 1 thread", MM_BLAS, 1, 1, 7},
        {"OpenBLAS dgemm, 2 threads", MM_BLAS, 2, 1, 7},
    };
    const size_t nsteps = sizeof steps / sizeof steps[0];
    double gflops[8];

    measure_ceiling();
    for (size_t s = 0; s < nsteps; s++) {
        mm_ctx m = {A, B, s == 0 ? R : C, steps[s].step, steps[s].nthreads};
        pk_stats st;
        if (pk_bench(mm_run, &m, steps[s].warmup, steps[s].runs, &st) != 0)
            die("pk_bench");
        add(bench, steps[s].name, MM_N, &st);
        gflops[s] = flops / st.median / 1e9;
        /* Every step must compute the same product (up to rounding). */
        double maxdiff = 0;
        for (size_t i = 0; s > 0 && i < nn; i++) {
            double dlt = C[i] > R[i] ? C[i] - R[i] : R[i] - C[i];
            maxdiff = dlt > maxdiff ? dlt : maxdiff;
        }
        if (maxdiff > 1e-9) {
            fprintf(stderr, "bench: step '%s' differs from i-j-k by %g",
                    steps[s].name, maxdiff);
            exit(1);
        }
    }
    for (size_t s = 0; s < nsteps; s++)
        pk_report_note(report, "%-28s %7.2f GFLOP/s", steps[s].name, gflops[s]);
    pk_report_note(report, "final step / naive: %.0fx; OpenBLAS (2 threads) / "
                   "final step: %.2fx; parallel ceiling %.2fx",
                   gflops[4] / gflops[0], gflops[6] / gflops[4], ceiling);

    /* OpenMP on this compute-bound kernel: the same code on 1 and 2 threads,
     * in interleaved rounds. */
    mm_ctx m1 = {A, B, C, MM_OMP, 1}, m2 = {A, B, C, MM_OMP, 2};
    void (*const fns[])(void *) = {mm_run, mm_run};
    void *ctxs[] = {&m1, &m2};
    pk_stats st2[2];
    measure_ceiling();
    if (pk_bench_many(fns, ctxs, 2, 1, 9, st2) != 0)
        die("pk_bench_many");
    add("matmul_omp n = 1024: threads", "omp, 1 thread", MM_N, &st2[0]);
    add("matmul_omp n = 1024: threads", "omp, 2 threads", MM_N, &st2[1]);
    pk_report_note(report, "parallel ceiling (2 busy processes): %.2fx", ceiling);
    free(A);
    free(B);
    free(C);
    free(R);
}

int main(void)
{
    report = pk_report_open(CHAPTER);
    if (report == NULL)
        die("pk_report_open");
    unsetenv("PK_FORCE_SCALAR");
    printf("instruction set in use: %s; %u CPUs",
           native_isa_name(native_isa_active()), pk_cpu_count());

    bench_reductions();
    bench_omp_reductions();
    bench_triad();
    bench_matmul();
    pk_report_close(report);
    return 0;
}
