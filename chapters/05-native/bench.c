/* bench.c - chapter 05 benchmark: your reductions from a plain loop to AVX2
 * (and AVX-512), OpenMP against one thread, STREAM-style bandwidth, and the
 * matrix-multiply ladder with OpenBLAS's dgemm as the line to beat.
 *
 * `make bench CH=05-native` builds it against your code (chapters/05-native,
 * or SUBMISSION) and, where solutions/ exists, links the reference solution
 * beside it (PK_REF), so that the tables have "yours" and "reference" rows
 * timed in the same interleaved rounds. A function still at PK_TODO shows as
 * "not written yet" and the rest goes on. The first row of each table is a
 * baseline that is always there: bench/novec.c's plain loops (compiled
 * three ways, see chapter.mk), memcpy, or OpenBLAS. PK_BENCH_QUICK=1 runs a
 * short version (smaller sizes, fewer rounds). */
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

/* The reference solution's functions (NULL in the student handout). */
PK_REF_DECLARE(native_sumsq_f32_scalar);
PK_REF_DECLARE(native_sumsq_f32_multi);
PK_REF_DECLARE(native_sumsq_f32_simd);
PK_REF_DECLARE(native_sumsq_f64_scalar);
PK_REF_DECLARE(native_sumsq_f64_multi);
PK_REF_DECLARE(native_sumsq_f64_simd);
PK_REF_DECLARE(native_dot_f64_scalar);
PK_REF_DECLARE(native_dot_f64_multi);
PK_REF_DECLARE(native_dot_f64_simd);
PK_REF_DECLARE(native_sumsq_f64_omp);
PK_REF_DECLARE(native_dot_f64_omp);
PK_REF_DECLARE(native_triad);
PK_REF_DECLARE(native_triad_omp);
PK_REF_DECLARE(native_matmul_ijk);
PK_REF_DECLARE(native_matmul_ikj);
PK_REF_DECLARE(native_matmul_tiled);
PK_REF_DECLARE(native_matmul_simd);
PK_REF_DECLARE(native_matmul_omp);

#define CHAPTER "05-native"
#define L1_BYTES (16 * 1024)      /* inside any L1d (32 KB Zen 3, 48 KB Zen 5) */
#define L2_BYTES (256 * 1024)     /* inside any L2 (512 KB Zen 3, 1 MB Zen 5) */
#define MAX_ROWS 24

static pk_report *report;
static int quick;                 /* PK_BENCH_QUICK=1 */
static volatile double sink;      /* results go here so no loop is deleted */
static const char *const ISA_NAMES[] = {"scalar", "avx2", "avx512"};

static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == NULL)
        die("aligned_alloc");
    return p;
}

/* The CPU's best level, asked here: your dispatcher may still be a TODO. */
static native_isa cpu_best(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return NATIVE_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NATIVE_ISA_AVX2;
    return NATIVE_ISA_SCALAR;
}

/* ==== a table: rows probed, timed in interleaved rounds, reported ========== */

typedef struct row row;

/* One row of a table: what it runs, on what, and how it went. The timed
 * function records the first failing call of the code it runs (rc, err), so
 * that a PK_TODO (errno ENOSYS) is reported as "not written yet" instead of
 * being timed. Only the fields a kind of row needs are set. */
struct row {
    char name[64];
    void (*run)(row *);
    /* the code under test: exactly one is set */
    float (*plain32)(const float *, size_t);
    double (*plain64)(const double *, size_t);
    double (*plaindot)(const double *, const double *, size_t);
    int (*sq32)(const float *, size_t, float *);
    int (*sq64)(const double *, size_t, double *);
    int (*dot64)(const double *, const double *, size_t, double *);
    int (*sqomp)(const double *, size_t, int, double *);
    int (*dotomp)(const double *, const double *, size_t, int, double *);
    int (*triad)(double *, const double *, const double *, double, size_t);
    int (*triadomp)(double *, const double *, const double *, double, size_t, int);
    int (*mm)(size_t, const double *, const double *, double *);
    int (*mmomp)(size_t, const double *, const double *, double *, int);
    int blas;                 /* cblas_dgemm */
    int copy;                 /* memcpy */
    /* the data */
    const float *f;
    const double *x, *y;
    double *out;
    size_t n;
    int reps, nthreads;
    int isa;                  /* PK_FORCE_ISA for the call, or -1 */
    /* for the notes */
    double bytes, flops;      /* per call */
    int rc, err;
};

static row rows[MAX_ROWS];
static size_t nrows;

/* Start a new row with the data of `proto` and the given name. */
static row *add_row(const row *proto, const char *fmt, const char *who)
{
    if (nrows == MAX_ROWS)
        die("add_row: too many rows");
    row *r = &rows[nrows++];
    *r = *proto;
    snprintf(r->name, sizeof r->name, fmt, who);
    return r;
}

static void failed(row *r, int rc)
{
    if (rc != 0 && r->rc == 0) {
        r->rc = rc;
        r->err = errno;
    }
}

static void run_row(void *p)
{
    row *r = p;
    if (r->isa >= 0)
        setenv("PK_FORCE_ISA", ISA_NAMES[r->isa], 1);
    for (int k = 0; k < r->reps; k++) {
        float of = 0;
        double od = 0;
        if (r->plain32)
            of = r->plain32(r->f, r->n);
        else if (r->plain64)
            od = r->plain64(r->x, r->n);
        else if (r->plaindot)
            od = r->plaindot(r->x, r->y, r->n);
        else if (r->sq32)
            failed(r, r->sq32(r->f, r->n, &of));
        else if (r->sq64)
            failed(r, r->sq64(r->x, r->n, &od));
        else if (r->dot64)
            failed(r, r->dot64(r->x, r->y, r->n, &od));
        else if (r->sqomp)
            failed(r, r->sqomp(r->x, r->n, r->nthreads, &od));
        else if (r->dotomp)
            failed(r, r->dotomp(r->x, r->y, r->n, r->nthreads, &od));
        else if (r->triad)
            failed(r, r->triad(r->out, r->x, r->y, 3.0, r->n));
        else if (r->triadomp)
            failed(r, r->triadomp(r->out, r->x, r->y, 3.0, r->n, r->nthreads));
        else if (r->mm)
            failed(r, r->mm(r->n, r->x, r->y, r->out));
        else if (r->mmomp)
            failed(r, r->mmomp(r->n, r->x, r->y, r->out, r->nthreads));
        else if (r->blas) {
            openblas_set_num_threads(r->nthreads);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r->n,
                        (int)r->n, (int)r->n, 1.0, r->x, (int)r->n, r->y,
                        (int)r->n, 0.0, r->out, (int)r->n);
        } else if (r->copy)
            memcpy(r->out, r->x, r->n * sizeof *r->out);
        sink = (double)of + od;
    }
    if (r->isa >= 0)
        unsetenv("PK_FORCE_ISA");
}

/* Probe every row once (a warm-up too), time those that work in `runs`
 * interleaved rounds, print all of them in order, then their rates; empty
 * the table. */
static void run_table(const char *bench, size_t runs, size_t warmup)
{
    void (*fns[MAX_ROWS])(void *);
    void *ctxs[MAX_ROWS];
    size_t live[MAX_ROWS], m = 0;
    pk_stats st[MAX_ROWS];

    for (size_t i = 0; i < nrows; i++) {
        rows[i].rc = 0;
        run_row(&rows[i]);
        if (rows[i].rc == 0) {
            fns[m] = run_row;
            ctxs[m] = &rows[i];
            live[m++] = i;
        }
    }
    if (m > 0 && pk_bench_many(fns, ctxs, m, warmup, quick ? 3 : runs, st) != 0)
        die("pk_bench_many");
    for (size_t i = 0, j = 0; i < nrows; i++) {
        if (j < m && live[j] == i) {
            if (pk_report_add(report, bench, rows[i].name, rows[i].n, &st[j]) != 0)
                die("pk_report_add");
            j++;
        } else {
            pk_report_todo(report, bench, rows[i].name);
            if (rows[i].err != ENOSYS)
                pk_report_note(report, "(it failed: returned %d, errno %s)",
                               rows[i].rc, strerror(rows[i].err));
        }
    }
    for (size_t j = 0; j < m; j++) {
        const row *r = &rows[live[j]];
        double per_call = st[j].median / r->reps;
        if (r->bytes > 0)
            pk_report_note(report, "%-40s %7.2f elements/ns, %6.1f GB/s", r->name,
                           (double)r->n / per_call / 1e9, r->bytes / per_call / 1e9);
        if (r->flops > 0)
            pk_report_note(report, "%-40s %7.2f GFLOP/s", r->name,
                           r->flops / per_call / 1e9);
    }
    nrows = 0;
}

/* "yours" always; "reference" where solutions/ was linked in. */
#define WHO(ref) ((ref) != NULL ? 2 : 1)
static const char *const WHO_NAMES[] = {"yours", "reference"};

/* ==== reductions on cached data ============================================= */

/* sum of squares (f32 and f64) and dot product at one size */
static void bench_reductions(size_t bytes, const char *where, int reps)
{
    const size_t nf = bytes / sizeof(float), nd = bytes / sizeof(double);
    float *f = xalloc(nf * sizeof *f);
    double *d = xalloc(nd * sizeof *d), *d2 = xalloc(nd * sizeof *d2);
    for (size_t i = 0; i < nf; i++)
        f[i] = (float)(i % 1000) * 1e-3f;
    for (size_t i = 0; i < nd; i++) {
        d[i] = (double)(i % 1000) * 1e-3;
        d2[i] = 1.0 - d[i];
    }
    const native_isa best = cpu_best();
    char bench[96];
    row r;

    /* float sum of squares */
    r = (row){.f = f, .n = nf, .reps = reps, .isa = -1, .bytes = 4.0 * nf};
    r.plain32 = novec_sumsq_f32;
    add_row(&r, "%splain loop -O2 -fno-tree-vectorize", "");
    r.plain32 = o3_sumsq_f32;
    add_row(&r, "%splain loop -O3", "");
    if (best >= NATIVE_ISA_AVX2) {  /* the fast_ copy is AVX2 throughout */
        r.plain32 = fast_sumsq_f32;
        add_row(&r, "%splain loop -O3 -ffast-math -mavx2", "");
    }
    r.plain32 = NULL;
    for (int w = 0; w < WHO(PK_REF(native_sumsq_f32_simd)); w++) {
        r.sq32 = w ? PK_REF(native_sumsq_f32_scalar) : native_sumsq_f32_scalar;
        add_row(&r, "%s: scalar", WHO_NAMES[w]);
        r.sq32 = w ? PK_REF(native_sumsq_f32_multi) : native_sumsq_f32_multi;
        add_row(&r, "%s: multi, 8 accumulators", WHO_NAMES[w]);
        r.sq32 = w ? PK_REF(native_sumsq_f32_simd) : native_sumsq_f32_simd;
        for (int isa = NATIVE_ISA_SCALAR; isa <= (int)best; isa++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "%%s: simd (%s)", ISA_NAMES[isa]);
            add_row(&r, fmt, WHO_NAMES[w])->isa = isa;
        }
    }
    snprintf(bench, sizeof bench, "sumsq f32, %zu KB %s (x%d calls)", bytes / 1024,
             where, reps);
    run_table(bench, 15, 1);

    /* double sum of squares */
    r = (row){.x = d, .n = nd, .reps = reps, .isa = -1, .bytes = 8.0 * nd};
    r.plain64 = novec_sumsq_f64;
    add_row(&r, "%splain loop -O2 -fno-tree-vectorize", "");
    r.plain64 = o3_sumsq_f64;
    add_row(&r, "%splain loop -O3", "");
    if (best >= NATIVE_ISA_AVX2) {
        r.plain64 = fast_sumsq_f64;
        add_row(&r, "%splain loop -O3 -ffast-math -mavx2", "");
    }
    r.plain64 = NULL;
    for (int w = 0; w < WHO(PK_REF(native_sumsq_f64_simd)); w++) {
        r.sq64 = w ? PK_REF(native_sumsq_f64_scalar) : native_sumsq_f64_scalar;
        add_row(&r, "%s: scalar", WHO_NAMES[w]);
        r.sq64 = w ? PK_REF(native_sumsq_f64_multi) : native_sumsq_f64_multi;
        add_row(&r, "%s: multi, 8 accumulators", WHO_NAMES[w]);
        r.sq64 = w ? PK_REF(native_sumsq_f64_simd) : native_sumsq_f64_simd;
        for (int isa = NATIVE_ISA_SCALAR; isa <= (int)best; isa++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "%%s: simd (%s)", ISA_NAMES[isa]);
            add_row(&r, fmt, WHO_NAMES[w])->isa = isa;
        }
    }
    snprintf(bench, sizeof bench, "sumsq f64, %zu KB %s (x%d calls)", bytes / 1024,
             where, reps);
    run_table(bench, 15, 1);

    /* double dot product: two arrays of half the size, the same bytes */
    r = (row){.x = d, .y = d2, .n = nd / 2, .reps = reps, .isa = -1,
              .bytes = 16.0 * (nd / 2)};
    r.plaindot = novec_dot_f64;
    add_row(&r, "%splain loop -O2 -fno-tree-vectorize", "");
    r.plaindot = NULL;
    for (int w = 0; w < WHO(PK_REF(native_dot_f64_simd)); w++) {
        r.dot64 = w ? PK_REF(native_dot_f64_scalar) : native_dot_f64_scalar;
        add_row(&r, "%s: scalar", WHO_NAMES[w]);
        r.dot64 = w ? PK_REF(native_dot_f64_multi) : native_dot_f64_multi;
        add_row(&r, "%s: multi, 8 accumulators", WHO_NAMES[w]);
        r.dot64 = w ? PK_REF(native_dot_f64_simd) : native_dot_f64_simd;
        for (int isa = NATIVE_ISA_AVX2; isa <= (int)best; isa++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "%%s: simd (%s)", ISA_NAMES[isa]);
            add_row(&r, fmt, WHO_NAMES[w])->isa = isa;
        }
    }
    snprintf(bench, sizeof bench, "dot f64, 2 x %zu KB %s (x%d calls)",
             bytes / 2048, where, reps);
    run_table(bench, 15, 1);
    free(f);
    free(d);
    free(d2);
}

/* ==== OpenMP against one thread ============================================== */

static void bench_omp_reductions(void)
{
    /* In cache (each of two threads sums a half that stays in its own
     * core's L2), inside the L3, and far past it in DRAM. */
    const size_t dram_n = quick ? (size_t)2 << 20 : (size_t)16 << 20;
    const struct { size_t n; int reps; const char *where; } sizes[] = {
        {2 * L2_BYTES / sizeof(double), quick ? 8 : 64, "in cache"},
        {(size_t)1 << 20, quick ? 2 : 8, "in L3"},
        {dram_n, 1, "in DRAM"},
    };
    double *x = xalloc(dram_n * sizeof *x);
    for (size_t i = 0; i < dram_n; i++)
        x[i] = (double)(i % 1000) * 1e-3;

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        row r = {.x = x, .n = sizes[s].n, .reps = sizes[s].reps, .isa = -1,
                 .bytes = 8.0 * sizes[s].n};
        char bench[96];
        r.plain64 = novec_sumsq_f64;
        add_row(&r, "%splain loop, 1 thread", "");
        r.plain64 = NULL;
        for (int w = 0; w < WHO(PK_REF(native_sumsq_f64_omp)); w++) {
            r.sqomp = w ? PK_REF(native_sumsq_f64_omp) : native_sumsq_f64_omp;
            r.nthreads = 1;
            add_row(&r, "%s: sumsq_f64_omp, 1 thread", WHO_NAMES[w]);
            r.nthreads = 2;
            add_row(&r, "%s: sumsq_f64_omp, 2 threads", WHO_NAMES[w]);
        }
        const size_t kb = sizes[s].n * sizeof(double) / 1024;
        if (kb < 1024)
            snprintf(bench, sizeof bench, "sumsq f64 OpenMP, %zu KB %s (x%d calls)",
                     kb, sizes[s].where, sizes[s].reps);
        else
            snprintf(bench, sizeof bench, "sumsq f64 OpenMP, %zu MB %s (x%d calls)",
                     kb / 1024, sizes[s].where, sizes[s].reps);
        double ceiling = pk_parallel_ceiling(2, 0.1);
        run_table(bench, 15, 1);
        pk_report_note(report, "parallel ceiling (2 busy processes, just "
                       "before): %.2fx", ceiling);
    }
    free(x);
}

/* ==== bandwidth: the triad ======================================================= */

static void bench_triad(void)
{
    const size_t n = quick ? (size_t)2 << 20 : (size_t)16 << 20;
    double *a = xalloc(n * sizeof *a), *b = xalloc(n * sizeof *b);
    double *c = xalloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = 1.0;
        c[i] = 2.0;
    }
    /* Bytes that cross the memory bus per call: memcpy reads and writes
     * (glibc streams large copies past the cache: no write-allocate); a dot
     * product reads b and c; the triad reads b, c and (write-allocate) a,
     * and writes a. */
    row r = {.x = b, .y = c, .out = a, .n = n, .reps = 1, .isa = -1};
    r.copy = 1;
    r.bytes = 16.0 * n;
    add_row(&r, "%smemcpy b to a", "");
    r.copy = 0;
    for (int w = 0; w < WHO(PK_REF(native_triad)); w++) {
        r.bytes = 16.0 * n;
        r.dotomp = w ? PK_REF(native_dot_f64_omp) : native_dot_f64_omp;
        r.nthreads = 2;
        add_row(&r, "%s: dot_f64_omp b.c, 2 threads", WHO_NAMES[w]);
        r.dotomp = NULL;
        r.bytes = 32.0 * n;
        r.triad = w ? PK_REF(native_triad) : native_triad;
        add_row(&r, "%s: triad", WHO_NAMES[w]);
        r.triad = NULL;
        r.triadomp = w ? PK_REF(native_triad_omp) : native_triad_omp;
        r.nthreads = 1;
        add_row(&r, "%s: triad_omp, 1 thread", WHO_NAMES[w]);
        r.nthreads = 2;
        add_row(&r, "%s: triad_omp, 2 threads", WHO_NAMES[w]);
        r.triadomp = NULL;
    }
    char bench[96];
    snprintf(bench, sizeof bench, "STREAM triad a = b + s*c, 3 x %zu MB", n * 8 >> 20);
    double ceiling = pk_parallel_ceiling(2, 0.1);
    run_table(bench, 9, 1);
    pk_report_note(report, "GB/s above count what crosses the bus: 32 bytes "
                   "per triad element with the write-allocate read of a "
                   "(STREAM counts 24), 16 per dot or memcpy element");
    pk_report_note(report, "parallel ceiling (2 busy processes, just before): "
                   "%.2fx", ceiling);
    free(a);
    free(b);
    free(c);
}

/* ==== the matrix-multiply ladder ============================================== */

static void bench_matmul(void)
{
    const size_t n = quick ? 256 : 1024;
    const size_t nn = n * n;
    double *A = xalloc(nn * sizeof *A), *B = xalloc(nn * sizeof *B);
    double *C = xalloc(nn * sizeof *C);
    for (size_t i = 0; i < nn; i++) {
        A[i] = (double)((i * 7) % 13) / 13.0 - 0.5;
        B[i] = (double)((i * 11) % 17) / 17.0 - 0.5;
    }
    const double flops = 2.0 * (double)n * (double)n * (double)n;
    struct {
        const char *name;
        int (*mine)(size_t, const double *, const double *, double *);
        int (*ref)(size_t, const double *, const double *, double *);
    } steps[] = {
        {"1 naive i-j-k", native_matmul_ijk, PK_REF(native_matmul_ijk)},
        {"2 loop interchange i-k-j", native_matmul_ikj, PK_REF(native_matmul_ikj)},
        {"3 tiled 64 x 64", native_matmul_tiled, PK_REF(native_matmul_tiled)},
        {"4 packed + SIMD 6x8 kernel", native_matmul_simd, PK_REF(native_matmul_simd)},
    };
    char bench[96];
    snprintf(bench, sizeof bench, "matmul ladder, n = %zu (double)", n);

    /* The naive step takes seconds at n = 1024: one row per step at a time,
     * yours and the reference interleaved, few rounds. */
    row r = {.x = A, .y = B, .out = C, .n = n, .reps = 1, .isa = -1,
             .flops = flops, .nthreads = 1};
    r.blas = 1;
    add_row(&r, "%sOpenBLAS dgemm, 1 thread", "");
    run_table(bench, 5, 1);
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        r.blas = 0;
        for (int w = 0; w < WHO(steps[s].ref); w++) {
            r.mm = w ? steps[s].ref : steps[s].mine;
            char fmt[80];
            snprintf(fmt, sizeof fmt, "%%s: %s", steps[s].name);
            add_row(&r, fmt, WHO_NAMES[w]);
        }
        run_table(bench, s == 0 ? 1 : 5, s == 0 ? 0 : 1);
    }
    r.mm = NULL;
    for (int w = 0; w < WHO(PK_REF(native_matmul_omp)); w++) {
        r.mmomp = w ? PK_REF(native_matmul_omp) : native_matmul_omp;
        r.nthreads = 1;
        add_row(&r, "%s: 5 + OpenMP, 1 thread", WHO_NAMES[w]);
        r.nthreads = 2;
        add_row(&r, "%s: 5 + OpenMP, 2 threads", WHO_NAMES[w]);
    }
    r.mmomp = NULL;
    r.blas = 1;
    r.nthreads = 2;
    add_row(&r, "%sOpenBLAS dgemm, 2 threads", "");
    double ceiling = pk_parallel_ceiling(2, 0.1);
    run_table(bench, 7, 1);
    pk_report_note(report, "parallel ceiling (2 busy processes, just before "
                   "the OpenMP rows): %.2fx", ceiling);
    free(A);
    free(B);
    free(C);
}

int main(void)
{
    quick = pk_bench_quick();
    report = pk_report_open(CHAPTER);
    if (report == NULL)
        die("pk_report_open");
    unsetenv("PK_FORCE_ISA");
    printf("best instruction set of this CPU: %s; %u CPUs%s\n",
           ISA_NAMES[cpu_best()], pk_cpu_count(),
           PK_REF(native_sumsq_f64_simd) ? "" : "; no solutions/ here, so "
           "no reference rows");

    bench_reductions(L1_BYTES, "in L1", quick ? 64 : 1024);
    bench_reductions(L2_BYTES, "in L2", quick ? 8 : 64);
    bench_omp_reductions();
    bench_triad();
    bench_matmul();
    pk_report_close(report);
    return 0;
}
