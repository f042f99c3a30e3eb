/**
 * @file x86.h
 * @brief Chapter 04: a tiny x86-64 instruction encoder for the JIT
 *        (provided, complete, in x86.c).
 *
 * Just the instructions jit.c needs, all on 64-bit operands. An operand
 * that may be a register or memory is an x86_loc: either a register, or
 * [base + disp32]. The encoder appends bytes to a growable x86_buf; a jump
 * is emitted with a 32-bit displacement to fill in later (x86_patch()),
 * because a forward jump's target is not known yet when the jump is
 * written.
 *
 * How one instruction is encoded, e.g. `add rax, [rsp + 16]`:
 *
 * @verbatim
     48        03       84           24       10 00 00 00
     REX.W     opcode   ModRM        SIB      disp32
               (add     mod=10 (disp32)
               r, r/m)  reg=000 (rax)
                        rm=100 (SIB follows: base rsp)
   @endverbatim
 *
 * REX.W selects 64-bit operands; its R and B bits extend the reg and rm
 * fields to reach r8..r15. Errors (out of memory) are sticky: the buffer's
 * `failed` flag is set and later calls do nothing, so the caller checks
 * once at the end.
 */
#ifndef X86_H
#define X86_H

#include <stddef.h>
#include <stdint.h>

/** @brief The 16 general-purpose registers, by their encoding number. */
typedef enum x86_reg {
    X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
    X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15
} x86_reg;

/** @brief Condition codes for jcc and setcc (the low nibble of the opcode). */
typedef enum x86_cc {
    X86_CC_E = 0x4,  /**< equal / zero */
    X86_CC_NE = 0x5, /**< not equal / not zero */
    X86_CC_L = 0xC,  /**< signed less */
    X86_CC_GE = 0xD  /**< signed greater or equal */
} x86_cc;

/** @brief Two-operand ALU instructions that share one encoding pattern. */
typedef enum x86_alu {
    X86_ADD = 0, /**< add: /0, opcode 03 */
    X86_SUB = 5, /**< sub: /5, opcode 2B */
    X86_CMP = 7  /**< cmp: /7, opcode 3B */
} x86_alu;

/** @brief A register, or the memory at [base + disp]. */
typedef struct x86_loc {
    int is_mem;     /**< 0: the register `reg`; 1: memory [reg + disp] */
    x86_reg reg;    /**< the register, or the memory operand's base */
    int32_t disp;   /**< displacement (memory only) */
} x86_loc;

/** @brief A growable code buffer. Zero-initialise it before use. */
typedef struct x86_buf {
    uint8_t *code; /**< the bytes, malloc'd; free() when done */
    size_t len;    /**< bytes written */
    size_t cap;    /**< bytes allocated */
    int failed;    /**< 1 after an allocation failed (sticky) */
} x86_buf;

/** @brief Shorthand for a register operand. @param r the register. @return the loc. */
x86_loc x86_r(x86_reg r);
/** @brief Shorthand for [base + disp]. @param base base register. @param disp displacement. @return the loc. */
x86_loc x86_m(x86_reg base, int32_t disp);
/** @brief 1 if @p v fits a sign-extended imm32. @param v the value. @return 1 or 0. */
int x86_fits_imm32(int64_t v);

/** @brief Append raw bytes. @param b buffer. @param bytes what. @param n how many. */
void x86_bytes(x86_buf *b, const void *bytes, size_t n);
/** @brief `push r`. @param b buffer. @param r register. */
void x86_push(x86_buf *b, x86_reg r);
/** @brief `pop r`. @param b buffer. @param r register. */
void x86_pop(x86_buf *b, x86_reg r);
/** @brief `ret`. @param b buffer. */
void x86_ret(x86_buf *b);
/** @brief `mov dst, src` (dst a register, src register or memory). @param b buffer. @param dst destination. @param src source. */
void x86_mov_r_loc(x86_buf *b, x86_reg dst, x86_loc src);
/** @brief `mov dst, src` (dst register or memory, src a register). @param b buffer. @param dst destination. @param src source. */
void x86_mov_loc_r(x86_buf *b, x86_loc dst, x86_reg src);
/** @brief `mov dst, imm` choosing the shortest form (xor, imm32, imm64). Note: the xor form changes flags. @param b buffer. @param dst destination. @param imm value. */
void x86_mov_r_imm(x86_buf *b, x86_reg dst, int64_t imm);
/** @brief `mov qword dst, imm32` (sign-extended; check x86_fits_imm32()). @param b buffer. @param dst destination. @param imm value. */
void x86_mov_loc_imm32(x86_buf *b, x86_loc dst, int32_t imm);
/** @brief `add/sub/cmp r, src`. @param b buffer. @param op which. @param r left operand and destination. @param src right operand. */
void x86_alu_r_loc(x86_buf *b, x86_alu op, x86_reg r, x86_loc src);
/** @brief `add/sub/cmp dst, imm32` (sign-extended). @param b buffer. @param op which. @param dst left operand and destination. @param imm right operand. */
void x86_alu_loc_imm32(x86_buf *b, x86_alu op, x86_loc dst, int32_t imm);
/** @brief `cmp a, r` (a register or memory). @param b buffer. @param a left operand. @param r right operand. */
void x86_cmp_loc_r(x86_buf *b, x86_loc a, x86_reg r);
/** @brief `imul r, src` (r *= src, low 64 bits). @param b buffer. @param r destination. @param src factor. */
void x86_imul_r_loc(x86_buf *b, x86_reg r, x86_loc src);
/** @brief `imul r, src, imm32`. @param b buffer. @param r destination. @param src factor. @param imm the other factor. */
void x86_imul_r_loc_imm32(x86_buf *b, x86_reg r, x86_loc src, int32_t imm);
/** @brief `neg dst`. @param b buffer. @param dst operand. */
void x86_neg(x86_buf *b, x86_loc dst);
/** @brief `cqo` (sign-extend rax into rdx:rax). @param b buffer. */
void x86_cqo(x86_buf *b);
/** @brief `idiv src`: rax = rdx:rax / src, rdx = remainder. Traps (SIGFPE) on 0 and on INT64_MIN / -1. @param b buffer. @param src divisor. */
void x86_idiv(x86_buf *b, x86_loc src);
/** @brief `test r, r`. @param b buffer. @param r register. */
void x86_test_rr(x86_buf *b, x86_reg r);
/** @brief `setcc al; movzx dst, al` (dst := condition ? 1 : 0). @param b buffer. @param cc condition. @param dst destination. */
void x86_setcc(x86_buf *b, x86_cc cc, x86_reg dst);
/** @brief `jcc rel32` with a zero displacement. @param b buffer. @param cc condition. @return offset of the rel32 field, for x86_patch(). */
size_t x86_jcc(x86_buf *b, x86_cc cc);
/** @brief `jmp rel32` with a zero displacement. @param b buffer. @return offset of the rel32 field, for x86_patch(). */
size_t x86_jmp(x86_buf *b);
/**
 * @brief Point the jump whose rel32 field is at @p at to code offset
 *        @p target. The displacement counts from the end of the field.
 * @param b buffer.
 * @param at what x86_jcc() or x86_jmp() returned.
 * @param target offset of the destination in the buffer.
 */
void x86_patch(x86_buf *b, size_t at, size_t target);

#endif /* X86_H */
