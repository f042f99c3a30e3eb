/* vm.c - chapter 04 exercises 1 (core) and 3 (stretch): two interpreters
 * for one bytecode.
 *
 * bytecode.h shows the instructions you run and what the verifier already
 * guarantees (no underflow, depth <= 256, valid jump targets, slots 0..15),
 * so your loops need no bounds checks. What you must check at run time:
 * the arguments (vm.h says which code each mistake gets) and every divisor.
 * Binary operators pop b first, then a, and push a OP b. Arithmetic wraps:
 * do it in uint64_t and convert back, because signed overflow is undefined
 * in C (and -fsanitize=undefined will say so). div and mod truncate toward
 * zero as C's / and % do (not as Python's // and %). INT64_MIN / -1 must
 * give INT64_MIN and INT64_MIN % -1 must give 0: C's `/` and `%` trap
 * there (SIGFPE), so treat a divisor of -1 on its own.
 *
 * `make grade CH=04-jit` tells you how far you are. */
#include "vm.h"

#include <errno.h>
#include <string.h>

#include "pk/todo.h"

int vm_run(const vm_program *p, const int64_t *args, size_t nargs,
           int64_t *result)
{
    (void)p, (void)args, (void)nargs, (void)result;
    PK_TODO("check the arguments; copy args into 16 zeroed slots; then loop: "
            "fetch code[pc], switch on its op, work on an int64_t stack[256]");
    return VM_EINVAL;
}

int vm_run_threaded(const vm_program *p, const int64_t *args, size_t nargs,
                    int64_t *result)
{
    (void)p, (void)args, (void)nargs, (void)result;
    PK_TODO("the same interpreter with a static table of &&label addresses, "
            "one per opcode, and `goto *table[(ip++)->op]` after each handler");
    return VM_EINVAL;
}
