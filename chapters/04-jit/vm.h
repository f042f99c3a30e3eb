/**
 * @file vm.h
 * @brief Chapter 04: a stack-machine language, its assembler and two
 *        interpreters.
 *
 * The language (text, one instruction per line; `;` starts a comment;
 * `name:` defines a label, alone on its line or before an instruction):
 *
 * @verbatim
   push IMM   load S   store S   add  sub  mul  div  mod  neg
   lt  eq     dup      pop       jmp L    jz L    jnz L    ret
   @endverbatim
 *
 * A program has 16 int64 slots; vm_run() copies the arguments into slots
 * 0 .. nargs-1 and the other slots start at 0. Binary operators pop b, then
 * a, and push a OP b. Arithmetic wraps in 64-bit two's complement; `div` and
 * `mod` truncate toward zero as in C, division or modulo by zero is the
 * error VM_EDIVZERO, and INT64_MIN / -1 wraps to INT64_MIN (INT64_MIN % -1
 * is 0) where C's idiv would trap. `lt` and `eq` push 1 or 0. `jz`/`jnz` pop
 * a value and jump when it is zero / non-zero. `ret` returns the top.
 *
 * For example, the sum of i*i for i in range(n), with n in slot 0:
 *
 * @code
 *         push 0
 *         store 2        ; s = 0   (slot 1, i, starts at 0)
 *   loop: load 1
 *         load 0
 *         lt
 *         jz done        ; while i < n:
 *         load 2
 *         load 1
 *         dup
 *         mul
 *         add
 *         store 2        ;     s += i * i
 *         load 1
 *         push 1
 *         add
 *         store 1        ;     i += 1
 *         jmp loop
 *   done: load 2
 *         ret            ; return s
 * @endcode
 *
 * The decoded form the interpreters run is in bytecode.h.
 */
#ifndef VM_H
#define VM_H

#include <stddef.h>
#include <stdint.h>

#include "bytecode.h"

/** @brief A verified program (opaque here; bytecode.h shows its fields). */
typedef struct vm_program vm_program;

/** @brief Result codes of vm_run() and jit_run(). */
enum {
    VM_OK = 0,        /**< ran to `ret`; *result holds the value */
    VM_EINVAL = -1,   /**< a NULL pointer where one is required */
    VM_EDIVZERO = -2, /**< `div` or `mod` by zero */
    VM_EARGS = -3     /**< more than VM_SLOTS arguments */
};

/**
 * @brief Assemble and verify a program (provided, in asm.c).
 * @param src the program text, NUL-terminated.
 * @param err buffer for a message such as "line 3: unknown mnemonic 'psh'";
 *        may be NULL (then no message is written).
 * @param errlen size of @p err in bytes (the message is truncated to fit).
 * @return a new program that the caller frees with vm_free(), or NULL with a
 *         message in @p err and errno EINVAL (NULL @p src, or a program the
 *         verifier rejects) or ENOMEM.
 *
 * The verifier rejects, naming the line (counted from 1): unknown
 * mnemonics, bad operands, slots outside 0..15, undefined or duplicate
 * labels, stack underflow, two paths reaching one instruction with
 * different stack depths, a depth above 256, an immediate outside int64,
 * an empty program, and a path that runs off the end without `ret`.
 */
vm_program *vm_assemble(const char *src, char *err, size_t errlen);

/**
 * @brief Run a program with the switch interpreter.
 * @param p the program; NULL gives VM_EINVAL.
 * @param args copied into slots 0 .. nargs-1; may be NULL when nargs is 0.
 * @param nargs number of arguments, at most VM_SLOTS (more: VM_EARGS).
 * @param result where the returned value goes on VM_OK; untouched
 *        otherwise; NULL gives VM_EINVAL.
 * @return VM_OK, VM_EINVAL, VM_EDIVZERO or VM_EARGS. A program that loops
 *         forever makes vm_run() loop forever: the language has no limit.
 */
int vm_run(const vm_program *p, const int64_t *args, size_t nargs,
           int64_t *result);

/**
 * @brief Run a program with the computed-goto ("threaded") interpreter.
 * @param p as for vm_run().
 * @param args as for vm_run().
 * @param nargs as for vm_run().
 * @param result as for vm_run().
 * @return exactly what vm_run() returns, with the same *result.
 *
 * Same semantics, different dispatch: each handler jumps straight to the
 * next instruction's handler through a table of label addresses (a GNU C
 * extension that gcc and clang share), instead of going back to a switch.
 */
int vm_run_threaded(const vm_program *p, const int64_t *args, size_t nargs,
                    int64_t *result);

/**
 * @brief Free a program (provided, in asm.c).
 * @param p the program; NULL is a no-op. No jit_fn compiled from it needs
 *        it afterwards: jit_compile() copies what it needs.
 */
void vm_free(vm_program *p);

#endif /* VM_H */
