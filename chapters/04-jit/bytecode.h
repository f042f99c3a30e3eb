/**
 * @file bytecode.h
 * @brief Chapter 04: the decoded, verified program that vm.c and jit.c share.
 *
 * vm_assemble() (asm.c, provided) turns the text assembly into an array of
 * fixed-size instructions and verifies it. The interpreters (vm.c) and the
 * JIT (jit.c) read this array; nobody parses text at run time. One
 * instruction is 16 bytes, so four fit in a 64-byte cache line:
 *
 * @verbatim
     0                   8          12         16
     +-------------------+----------+----------+
     |        arg        |    op    |  depth   |
     +-------------------+----------+----------+
       int64_t            uint32_t   int32_t

     push IMM     arg = IMM (any int64)
     load/store S arg = S (0..15)
     jmp/jz/jnz L arg = index of the instruction labelled L
     others       arg = 0
   @endverbatim
 *
 * `depth` is the verifier's output: the operand-stack depth just before the
 * instruction runs, the same on every path that reaches it, or -1 when no
 * path from the first instruction reaches it. A verified program promises:
 *
 * - every reachable instruction has enough operands (no underflow) and
 *   leaves at most VM_STACK_MAX values on the stack;
 * - every jump target is an instruction index in 0 .. n-1;
 * - no path runs off the end: the last reachable instruction of every path
 *   is `ret` (or a `jmp` back);
 * - slots are in 0 .. VM_SLOTS-1.
 *
 * So an interpreter needs no bounds checks on its hot path, and a JIT knows
 * the depth of every stack value at compile time.
 */
#ifndef BYTECODE_H
#define BYTECODE_H

#include <stddef.h>
#include <stdint.h>

/** Number of int64 local slots (`load S`, `store S`). */
#define VM_SLOTS 16
/** Deepest operand stack a verified program may reach (inclusive). */
#define VM_STACK_MAX 256

/**
 * @brief The opcodes. "pop b, pop a, push a OP b" for binary operators.
 */
typedef enum vm_op {
    VM_OP_PUSH, /**< push arg */
    VM_OP_LOAD, /**< push slot[arg] */
    VM_OP_STORE, /**< slot[arg] := pop */
    VM_OP_ADD, /**< push a + b (wraps) */
    VM_OP_SUB, /**< push a - b (wraps) */
    VM_OP_MUL, /**< push a * b (wraps) */
    VM_OP_DIV, /**< push a / b toward zero; b == 0 is VM_EDIVZERO; INT64_MIN / -1 = INT64_MIN */
    VM_OP_MOD, /**< push a % b as in C; b == 0 is VM_EDIVZERO; INT64_MIN % -1 = 0 */
    VM_OP_NEG, /**< push -pop (wraps: -INT64_MIN = INT64_MIN) */
    VM_OP_LT, /**< push a < b ? 1 : 0 */
    VM_OP_EQ, /**< push a == b ? 1 : 0 */
    VM_OP_DUP, /**< push top again */
    VM_OP_POP, /**< drop top */
    VM_OP_JMP, /**< goto arg */
    VM_OP_JZ, /**< if (pop == 0) goto arg */
    VM_OP_JNZ, /**< if (pop != 0) goto arg */
    VM_OP_RET, /**< return pop */
    VM_OP_COUNT /**< number of opcodes (not an instruction) */
} vm_op;

/** @brief One decoded instruction (16 bytes; see the diagram above). */
typedef struct vm_insn {
    int64_t arg;   /**< immediate, slot or jump target, by opcode */
    uint32_t op;   /**< a vm_op */
    int32_t depth; /**< stack depth before it runs; -1 if unreachable */
} vm_insn;

/**
 * @brief A verified program: what vm_assemble() returns behind the opaque
 *        vm_program type of vm.h. Read-only for vm.c and jit.c.
 */
struct vm_program {
    vm_insn *code;      /**< n instructions; code[0] runs first */
    uint32_t *lines;    /**< source line (from 1) of each instruction */
    size_t n;           /**< number of instructions, at least 1 */
    int32_t max_depth;  /**< deepest stack any path reaches, 0..VM_STACK_MAX */
};

/**
 * @brief The mnemonic of an opcode ("push", "add", ...), for messages.
 * @param op a vm_op.
 * @return a static string; "?" for a value that is not an opcode.
 */
const char *vm_op_name(uint32_t op);

#endif /* BYTECODE_H */
