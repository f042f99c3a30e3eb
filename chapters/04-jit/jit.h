/**
 * @file jit.h
 * @brief Chapter 04: a template JIT that turns a verified vm_program into
 *        x86-64 machine code.
 *
 * jit_compile() walks the decoded instructions once and emits, for each,
 * a few x86-64 instructions (a "template"); the reference solution also
 * keeps stack values and the first six slots in registers (the lesson
 * explains how). The code goes into memory obtained with
 * mmap(PROT_READ | PROT_WRITE) and is
 * then switched to PROT_READ | PROT_EXEC with mprotect(): at no moment is a
 * page both writable and executable (W^X).
 *
 * The generated function follows the System V AMD64 calling convention:
 *
 * @code
 *     int code(int64_t slots[16], int64_t *result);   // returns a VM_* code
 * @endcode
 *
 * and jit_run() calls it. Results and codes are exactly vm_run()'s.
 *
 * Being an ordinary function, the code keeps the ABI's promises: it
 * restores rbx, rbp and r12-r15 before it returns, returns with rsp where
 * it found it, and if it ever calls a function (a C helper, say) it does so
 * with rsp a multiple of 16 and with nothing live in the registers the
 * callee may change (rax, rcx, rdx, rsi, rdi, r8-r11).
 */
#ifndef JIT_H
#define JIT_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

/** @brief A compiled program (opaque): its executable mapping and size. */
typedef struct jit_fn jit_fn;

/**
 * @brief Compile a verified program to machine code.
 * @param p the program (from vm_assemble(), hence verified); not kept: it
 *        may be freed while the jit_fn lives.
 * @param err buffer for a message on failure; may be NULL.
 * @param errlen size of @p err.
 * @return a new function to free with jit_free(), or NULL with a message
 *         and errno: EINVAL (NULL @p p); ENOTSUP (not an x86-64 machine, or
 *         a program with an instruction this JIT does not translate: a JIT
 *         that stops at the core exercise may refuse `div` and `mod` this
 *         way, and the core tests never give it one); ENOMEM, or
 *         mmap()/mprotect()'s errno.
 */
jit_fn *jit_compile(const vm_program *p, char *err, size_t errlen);

/**
 * @brief Run compiled code.
 * @param f the function; NULL gives VM_EINVAL.
 * @param args copied into slots 0 .. nargs-1; may be NULL when nargs is 0.
 * @param nargs at most VM_SLOTS (more: VM_EARGS).
 * @param result receives the value on VM_OK; NULL gives VM_EINVAL.
 * @return the same code vm_run() returns for the same program and
 *         arguments, with the same *result.
 */
int jit_run(const jit_fn *f, const int64_t *args, size_t nargs,
            int64_t *result);

/**
 * @brief Size of the generated machine code.
 * @param f the function; NULL gives 0.
 * @return bytes of x86-64 code (not the page-rounded mapping).
 */
size_t jit_code_size(const jit_fn *f);

/**
 * @brief Unmap the code and free the function.
 * @param f the function; NULL is a no-op. After the call the code's pages
 *        are gone from the address space (munmap).
 */
void jit_free(jit_fn *f);

#endif /* JIT_H */
