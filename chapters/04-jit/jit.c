/* jit.c - chapter 04 exercises 2, 4 and 5: a template JIT for x86-64.
 *
 * Suggested order (the lesson walks through each step):
 *
 * Core (exercise 2):
 * 1. jit_run(), jit_code_size() and jit_free(): the easy ends. jit_run
 *    checks its arguments like vm_run, copies args into 16 zeroed slots
 *    and calls the code as int code(int64_t slots[16], int64_t *result).
 * 2. jit_compile(), version 1: a prologue (push the callee-saved registers
 *    you use; reserve a frame so that rsp stays a multiple of 16 if you
 *    ever call; copy rdi and rsi, your two arguments, before you use those
 *    registers for anything else), one template per instruction that works
 *    on an operand stack in the frame ([rsp + 8*depth]: the verifier gives
 *    you each instruction's depth), jumps with rel32 displacements patched
 *    at the end, an epilogue. x86.h encodes the instructions for you.
 *    For div and mod you may, until exercise 4, refuse the program:
 *    return NULL with errno ENOTSUP.
 * 3. Make the memory executable safely: mmap(PROT_READ | PROT_WRITE), copy
 *    the code, mprotect(PROT_READ | PROT_EXEC). Never both at once.
 *
 * Stretch:
 * 4. (exercise 4) div and mod: idiv traps on 0 and on INT64_MIN / -1. Test
 *    the divisor first: 0 jumps to an exit that returns VM_EDIVZERO, -1
 *    gives -a or 0.
 * 5. (exercise 5) Faster: keep slots in callee-saved registers and stack
 *    values in scratch registers (a virtual stack flushed at jumps and
 *    labels), fuse `lt; jz` into cmp + jcc. The correctness tests pass
 *    without this; the performance tests do not.
 *
 * `make grade CH=04-jit` tells you how far you are. */
#include "jit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pk/todo.h"
#include "x86.h"

/* The generated code, seen from C. */
typedef int (*jit_entry)(int64_t *slots, int64_t *result);

/* What a compiled function owns. */
struct jit_fn {
    void *mem;       /* the mapping, PROT_READ | PROT_EXEC */
    size_t maplen;   /* its length, whole pages */
    size_t codelen;  /* bytes of code in it */
    jit_entry entry; /* mem, as a function: (jit_entry)mem */
};

jit_fn *jit_compile(const vm_program *p, char *err, size_t errlen)
{
    (void)p;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "jit_compile: not written yet");
    PK_TODO("translate each instruction with the x86_* encoder, patch the "
            "jumps, mmap read-write, copy, mprotect read-execute");
    return NULL;
}

int jit_run(const jit_fn *f, const int64_t *args, size_t nargs,
            int64_t *result)
{
    (void)f, (void)args, (void)nargs, (void)result;
    PK_TODO("check the arguments like vm_run, fill 16 slots, call the code");
    return VM_EINVAL;
}

size_t jit_code_size(const jit_fn *f)
{
    (void)f;
    PK_TODO("return the number of bytes of machine code");
    return 0;
}

void jit_free(jit_fn *f)
{
    (void)f;
    PK_TODO("munmap the code, free the struct (NULL is a no-op)");
}
