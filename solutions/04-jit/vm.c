/* vm.c - chapter 04 reference solution: two interpreters for one bytecode.
 *
 * Both loops trust the verifier (bytecode.h): no stack bounds checks, no
 * opcode range checks, no jump target checks on the hot path. What they
 * must still check at run time is what the verifier cannot know: the value
 * of a divisor. */
#include "vm.h"

#include <errno.h>
#include <string.h>

/* Arguments and result checks shared by both loops. */
static int check_call(const vm_program *p, const int64_t *args, size_t nargs,
                      const int64_t *result)
{
    if (p == NULL || result == NULL || (args == NULL && nargs > 0))
        return VM_EINVAL;
    if (nargs > VM_SLOTS)
        return VM_EARGS;
    return VM_OK;
}

/* a / b and a % b with the language's rules. b == 0 is checked by the
 * caller; b == -1 is special because INT64_MIN / -1 overflows, which C calls
 * undefined and x86's idiv turns into SIGFPE. a / -1 is -a, computed in
 * unsigned arithmetic so that -INT64_MIN wraps to INT64_MIN. */
static inline int64_t wrap_div(int64_t a, int64_t b)
{
    return b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b;
}

static inline int64_t wrap_mod(int64_t a, int64_t b)
{
    return b == -1 ? 0 : a % b;
}

/* Wrapping add/sub/mul/neg: signed overflow is undefined in C, unsigned
 * arithmetic wraps modulo 2^64, and converting back is two's complement on
 * every compiler we use. */
#define WRAP(a, op, b) ((int64_t)((uint64_t)(a) op (uint64_t)(b)))

/* ---- switch dispatch ------------------------------------------------------ */

int vm_run(const vm_program *p, const int64_t *args, size_t nargs,
           int64_t *result)
{
    int rc = check_call(p, args, nargs, result);
    if (rc != VM_OK)
        return rc;
    int64_t slot[VM_SLOTS] = {0};
    int64_t stack[VM_STACK_MAX];
    int64_t *sp = stack; /* next free cell; sp[-1] is the top */
    const vm_insn *code = p->code, *ip = code;
    if (nargs > 0)
        memcpy(slot, args, nargs * sizeof *args);

    for (;;) {
        const vm_insn *in = ip++;
        switch ((vm_op)in->op) {
        case VM_OP_PUSH: *sp++ = in->arg; break;
        case VM_OP_LOAD: *sp++ = slot[in->arg]; break;
        case VM_OP_STORE: slot[in->arg] = *--sp; break;
        case VM_OP_ADD: sp--; sp[-1] = WRAP(sp[-1], +, sp[0]); break;
        case VM_OP_SUB: sp--; sp[-1] = WRAP(sp[-1], -, sp[0]); break;
        case VM_OP_MUL: sp--; sp[-1] = WRAP(sp[-1], *, sp[0]); break;
        case VM_OP_DIV:
            sp--;
            if (sp[0] == 0)
                return VM_EDIVZERO;
            sp[-1] = wrap_div(sp[-1], sp[0]);
            break;
        case VM_OP_MOD:
            sp--;
            if (sp[0] == 0)
                return VM_EDIVZERO;
            sp[-1] = wrap_mod(sp[-1], sp[0]);
            break;
        case VM_OP_NEG: sp[-1] = WRAP(0, -, sp[-1]); break;
        case VM_OP_LT: sp--; sp[-1] = sp[-1] < sp[0]; break;
        case VM_OP_EQ: sp--; sp[-1] = sp[-1] == sp[0]; break;
        case VM_OP_DUP: sp[0] = sp[-1]; sp++; break;
        case VM_OP_POP: sp--; break;
        case VM_OP_JMP: ip = code + in->arg; break;
        case VM_OP_JZ:
            if (*--sp == 0)
                ip = code + in->arg;
            break;
        case VM_OP_JNZ:
            if (*--sp != 0)
                ip = code + in->arg;
            break;
        case VM_OP_RET: *result = sp[-1]; return VM_OK;
        case VM_OP_COUNT: break; /* never in a verified program */
        }
    }
}

/* ---- computed goto ("threaded code") -------------------------------------------
 *
 * `&&label` is the address of a label and `goto *addr` jumps to it: a GNU
 * C extension (gcc, clang), written as in Lua's lvm.c. Each handler ends in
 * its own indirect jump, so the branch predictor learns "after mul comes
 * add" per handler instead of sharing one jump for all opcodes, and there
 * is no bounds check on the opcode as a switch has. */

#define DISPATCH() goto *labels[(ip++)->op]
#define ARG (ip[-1].arg)

int vm_run_threaded(const vm_program *p, const int64_t *args, size_t nargs,
                    int64_t *result)
{
    static const void *const labels[VM_OP_COUNT] = {
        [VM_OP_PUSH] = &&op_push, [VM_OP_LOAD] = &&op_load,
        [VM_OP_STORE] = &&op_store, [VM_OP_ADD] = &&op_add,
        [VM_OP_SUB] = &&op_sub, [VM_OP_MUL] = &&op_mul,
        [VM_OP_DIV] = &&op_div, [VM_OP_MOD] = &&op_mod,
        [VM_OP_NEG] = &&op_neg, [VM_OP_LT] = &&op_lt, [VM_OP_EQ] = &&op_eq,
        [VM_OP_DUP] = &&op_dup, [VM_OP_POP] = &&op_pop,
        [VM_OP_JMP] = &&op_jmp, [VM_OP_JZ] = &&op_jz, [VM_OP_JNZ] = &&op_jnz,
        [VM_OP_RET] = &&op_ret,
    };
    int rc = check_call(p, args, nargs, result);
    if (rc != VM_OK)
        return rc;
    int64_t slot[VM_SLOTS] = {0};
    int64_t stack[VM_STACK_MAX];
    int64_t *sp = stack;
    const vm_insn *code = p->code, *ip = code;
    if (nargs > 0)
        memcpy(slot, args, nargs * sizeof *args);

    DISPATCH();
op_push: *sp++ = ARG; DISPATCH();
op_load: *sp++ = slot[ARG]; DISPATCH();
op_store: slot[ARG] = *--sp; DISPATCH();
op_add: sp--; sp[-1] = WRAP(sp[-1], +, sp[0]); DISPATCH();
op_sub: sp--; sp[-1] = WRAP(sp[-1], -, sp[0]); DISPATCH();
op_mul: sp--; sp[-1] = WRAP(sp[-1], *, sp[0]); DISPATCH();
op_div:
    sp--;
    if (sp[0] == 0)
        return VM_EDIVZERO;
    sp[-1] = wrap_div(sp[-1], sp[0]);
    DISPATCH();
op_mod:
    sp--;
    if (sp[0] == 0)
        return VM_EDIVZERO;
    sp[-1] = wrap_mod(sp[-1], sp[0]);
    DISPATCH();
op_neg: sp[-1] = WRAP(0, -, sp[-1]); DISPATCH();
op_lt: sp--; sp[-1] = sp[-1] < sp[0]; DISPATCH();
op_eq: sp--; sp[-1] = sp[-1] == sp[0]; DISPATCH();
op_dup: sp[0] = sp[-1]; sp++; DISPATCH();
op_pop: sp--; DISPATCH();
op_jmp: ip = code + ARG; DISPATCH();
op_jz:
    if (*--sp == 0)
        ip = code + ARG;
    DISPATCH();
op_jnz:
    if (*--sp != 0)
        ip = code + ARG;
    DISPATCH();
op_ret:
    *result = sp[-1];
    return VM_OK;
}
