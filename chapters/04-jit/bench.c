/* bench.c - chapter 04 benchmark: one bytecode program, four ways to run it.
 *
 * The switch interpreter, the computed-goto interpreter, the JIT, and the
 * same loop written in C and compiled by the C compiler with -O2
 * -fno-tree-vectorize (bench/cloop.c). Two programs: the sum of squares
 * below 10^8 (the Python chapter's CPU task: cheap instructions, dispatch
 * cost dominates) and a prime count by trial division (every inner step
 * is a 64-bit division, which costs the same everywhere). Then the JIT's
 * own cost: how long jit_compile() takes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "jit.h"
#include "bench/cloop.h"
#include "pk/report.h"
#include "pk/timing.h"
#include "programs.h"
#include "vm.h"

#define SUMSQ_N 100000000LL  /* the n = 10^8 */
#define SUMSQ_INSNS 15       /* instructions per iteration, loop: .. jmp */
#define PRIMES_N 300000LL    /* about 10^8 dispatched instructions */
#define SLOW_RUNS 5          /* interpreters: seconds per run */
#define FAST_RUNS 11
#define COMPILE_RUNS 2000    /* jit_compile is microseconds */

enum how { SWITCH, THREADED, JIT, NATIVE };
static const char *const how_name[] = {
    "switch interpreter", "computed goto", "JIT (x86-64)",
    "C, -O2 -fno-tree-vectorize"};

struct job {
    enum how how;
    const vm_program *p;
    const jit_fn *f;
    int64_t (*native)(int64_t);
    int64_t n;
    int64_t result;
    int rc;
};

static void run_job(void *ctx)
{
    struct job *j = ctx;
    switch (j->how) {
    case SWITCH: j->rc = vm_run(j->p, &j->n, 1, &j->result); break;
    case THREADED: j->rc = vm_run_threaded(j->p, &j->n, 1, &j->result); break;
    case JIT: j->rc = jit_run(j->f, &j->n, 1, &j->result); break;
    case NATIVE: j->result = j->native(j->n); j->rc = VM_OK; break;
    }
}

/* insns_per_n: bytecode instructions run per unit of n, when that is a
 * constant (0 when it is not), to report the interpreter's cost per
 * instruction. */
static int measure(pk_report *r, const char *bench, const char *src,
                   int64_t (*native)(int64_t), int64_t n, int insns_per_n)
{
    char err[256];
    vm_program *p = vm_assemble(src, err, sizeof err);
    if (p == NULL) {
        fprintf(stderr, "bench: vm_assemble: %s\n", err);
        return -1;
    }
    jit_fn *f = jit_compile(p, err, sizeof err);
    if (f == NULL) {
        fprintf(stderr, "bench: jit_compile: %s (the JIT variant is skipped)\n",
                err);
    }
    int64_t want = native(n);
    double ns_switch = 0;
    for (enum how h = SWITCH; h <= NATIVE; h++) {
        if (h == JIT && f == NULL)
            continue;
        struct job j = {h, p, f, native, n, 0, 0};
        pk_stats st;
        size_t runs = h <= THREADED ? SLOW_RUNS : FAST_RUNS;
        if (pk_bench(run_job, &j, h <= THREADED ? 0 : 1, runs, &st) != 0) {
            perror("bench: pk_bench");
            break;
        }
        if (j.rc != VM_OK || j.result != want) {
            fprintf(stderr, "bench: %s gave code %d, %" PRId64 ", expected %"
                    PRId64 "\n", how_name[h], j.rc, j.result, want);
            vm_free(p);
            jit_free(f);
            return -1;
        }
        pk_report_add(r, bench, how_name[h], (size_t)n, &st);
        if (h == SWITCH)
            ns_switch = st.median;
    }
    pk_report_note(r, "%zu bytecode instructions, %zu bytes of x86-64 code",
                   p->n, jit_code_size(f));
    if (insns_per_n > 0)
        pk_report_note(r, "switch interpreter: %.2f ns per bytecode "
                       "instruction (%d per loop iteration)",
                       ns_switch * 1e9 / ((double)n * insns_per_n),
                       insns_per_n);
    vm_free(p);
    jit_free(f);
    return 0;
}

struct compile_job {
    const vm_program *p;
    int failed;
};

static void compile_once(void *ctx)
{
    struct compile_job *c = ctx;
    jit_fn *f = jit_compile(c->p, NULL, 0);
    if (f == NULL)
        c->failed = 1;
    jit_free(f);
}

static void assemble_once(void *ctx)
{
    vm_free(vm_assemble(ctx, NULL, 0));
}

int main(void)
{
    pk_report *r = pk_report_open("04-jit");
    if (r == NULL) {
        perror("bench: pk_report_open");
        return 1;
    }
    if (measure(r, "sum of squares below n", vm_src_sum_squares,
                cloop_sum_squares, SUMSQ_N, SUMSQ_INSNS) < 0 ||
        measure(r, "primes below n, trial division", vm_src_primes,
                cloop_count_primes, PRIMES_N, 0) < 0) {
        pk_report_close(r);
        return 1;
    }

    /* What the JIT costs up front: assembling the text is the baseline. */
    vm_program *p = vm_assemble(vm_src_sum_squares, NULL, 0);
    struct compile_job c = {p, 0};
    pk_stats st;
    if (p != NULL && pk_bench(assemble_once, (void *)vm_src_sum_squares, 100,
                              COMPILE_RUNS, &st) == 0)
        pk_report_add(r, "preparing the sum-of-squares program (one call)",
                      "vm_assemble (parse + verify)", p->n, &st);
    if (p != NULL && pk_bench(compile_once, &c, 100, COMPILE_RUNS, &st) == 0 &&
        !c.failed) {
        pk_report_add(r, "preparing the sum-of-squares program (one call)",
                      "jit_compile + jit_free (mmap, mprotect, munmap)", p->n,
                      &st);
        pk_report_note(r, "jit_compile median %.1f us for %zu instructions "
                       "(target: at most 100 us)", st.median * 1e6, p->n);
    }
    vm_free(p);
    pk_report_close(r);
    return 0;
}
