/**
 * @file programs.h
 * @brief Two classic programs in the course's assembly, shared by the tests
 *        and the benchmark so that both run exactly the same code.
 *
 * Both take n in slot 0 and keep their state in slots 1 to 3; run them with
 * vm_assemble() and any engine (vm_run, vm_run_threaded, a JIT'd function).
 */
#ifndef JIT_PROGRAMS_H
#define JIT_PROGRAMS_H

/** sum of i*i for i in range(n): the Python chapter's CPU task. Its loop,
 *  from `loop:` to `jmp loop`, is 15 instructions per iteration. */
static const char vm_src_sum_squares[] =
    "; s = sum of i*i for i in range(n), n in slot 0\n"
    "        push 0\n"
    "        store 2\n"
    "loop:   load 1\n"
    "        load 0\n"
    "        lt\n"
    "        jz done\n"
    "        load 2\n"
    "        load 1\n"
    "        dup\n"
    "        mul\n"
    "        add\n"
    "        store 2\n"
    "        load 1\n"
    "        push 1\n"
    "        add\n"
    "        store 1\n"
    "        jmp loop\n"
    "done:   load 2\n"
    "        ret\n";

/** The number of primes below n, by trial division: branches, a modulo and
 *  a nested loop, where sum_squares is one straight loop. */
static const char vm_src_primes[] =
    "; primes below n (slot 0) by trial division\n"
    "        push 0\n"
    "        store 1         ; count\n"
    "        push 2\n"
    "        store 2         ; k\n"
    "next:   load 2\n"
    "        load 0\n"
    "        lt\n"
    "        jz done\n"
    "        push 2\n"
    "        store 3         ; d\n"
    "try:    load 3\n"
    "        load 3\n"
    "        mul\n"
    "        load 2\n"
    "        push 1\n"
    "        add\n"
    "        lt              ; d*d < k+1 ?\n"
    "        jz prime\n"
    "        load 2\n"
    "        load 3\n"
    "        mod\n"
    "        jz composite\n"
    "        load 3\n"
    "        push 1\n"
    "        add\n"
    "        store 3\n"
    "        jmp try\n"
    "prime:  load 1\n"
    "        push 1\n"
    "        add\n"
    "        store 1\n"
    "composite:\n"
    "        load 2\n"
    "        push 1\n"
    "        add\n"
    "        store 2\n"
    "        jmp next\n"
    "done:   load 1\n"
    "        ret\n";

#endif /* JIT_PROGRAMS_H */
