/* x86.c - a tiny x86-64 encoder for chapter 04's JIT (provided, complete).
 * x86.h draws the instruction format; Intel's SDM volume 2 has the tables. */
#include "x86.h"

#include <stdlib.h>
#include <string.h>

#define REX_W 0x48 /* 64-bit operand size */
#define REX_R 0x04 /* extends ModRM.reg */
#define REX_B 0x01 /* extends ModRM.rm / opcode register */

x86_loc x86_r(x86_reg r)
{
    return (x86_loc){0, r, 0};
}

x86_loc x86_m(x86_reg base, int32_t disp)
{
    return (x86_loc){1, base, disp};
}

int x86_fits_imm32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

void x86_bytes(x86_buf *b, const void *bytes, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->code, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->code = p;
        b->cap = cap;
    }
    memcpy(b->code + b->len, bytes, n);
    b->len += n;
}

static void byte(x86_buf *b, uint8_t v)
{
    x86_bytes(b, &v, 1);
}

static void u32(x86_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24)};
    x86_bytes(b, le, 4);
}

/* REX.W, the opcode bytes, then ModRM (+SIB, +disp32) for `reg` (a register
 * number or a /digit) and the operand `rm`. Memory operands always use the
 * disp32 form: one size to reason about, a few bytes more. */
static void op_modrm(x86_buf *b, const uint8_t *opc, size_t nopc, int reg,
                     x86_loc rm)
{
    byte(b, (uint8_t)(REX_W | (reg & 8 ? REX_R : 0) | (rm.reg & 8 ? REX_B : 0)));
    x86_bytes(b, opc, nopc);
    if (!rm.is_mem) {
        byte(b, (uint8_t)(0xC0 | (reg & 7) << 3 | (rm.reg & 7)));
        return;
    }
    byte(b, (uint8_t)(0x80 | (reg & 7) << 3 | (rm.reg & 7)));
    if ((rm.reg & 7) == X86_RSP) /* rsp and r12 as base need a SIB byte */
        byte(b, 0x24);
    u32(b, (uint32_t)rm.disp);
}

void x86_push(x86_buf *b, x86_reg r)
{
    if (r & 8)
        byte(b, 0x40 | REX_B);
    byte(b, (uint8_t)(0x50 + (r & 7)));
}

void x86_pop(x86_buf *b, x86_reg r)
{
    if (r & 8)
        byte(b, 0x40 | REX_B);
    byte(b, (uint8_t)(0x58 + (r & 7)));
}

void x86_ret(x86_buf *b)
{
    byte(b, 0xC3);
}

void x86_mov_r_loc(x86_buf *b, x86_reg dst, x86_loc src)
{
    if (!src.is_mem && src.reg == dst)
        return; /* mov r, r does nothing */
    op_modrm(b, (const uint8_t[]){0x8B}, 1, dst, src);
}

void x86_mov_loc_r(x86_buf *b, x86_loc dst, x86_reg src)
{
    if (!dst.is_mem && dst.reg == src)
        return;
    op_modrm(b, (const uint8_t[]){0x89}, 1, src, dst);
}

void x86_mov_r_imm(x86_buf *b, x86_reg dst, int64_t imm)
{
    if (imm == 0) { /* xor r32, r32 zero-extends to 64 bits */
        if (dst & 8)
            byte(b, 0x40 | REX_R | REX_B);
        byte(b, 0x31);
        byte(b, (uint8_t)(0xC0 | (dst & 7) << 3 | (dst & 7)));
    } else if (x86_fits_imm32(imm)) {
        x86_mov_loc_imm32(b, x86_r(dst), (int32_t)imm);
    } else { /* movabs r, imm64 */
        byte(b, (uint8_t)(REX_W | (dst & 8 ? REX_B : 0)));
        byte(b, (uint8_t)(0xB8 + (dst & 7)));
        u32(b, (uint32_t)(uint64_t)imm);
        u32(b, (uint32_t)((uint64_t)imm >> 32));
    }
}

void x86_mov_loc_imm32(x86_buf *b, x86_loc dst, int32_t imm)
{
    op_modrm(b, (const uint8_t[]){0xC7}, 1, 0, dst);
    u32(b, (uint32_t)imm);
}

void x86_alu_r_loc(x86_buf *b, x86_alu op, x86_reg r, x86_loc src)
{
    /* add 03, sub 2B, cmp 3B: (digit << 3) | 3 */
    op_modrm(b, (const uint8_t[]){(uint8_t)(op << 3 | 3)}, 1, r, src);
}

void x86_alu_loc_imm32(x86_buf *b, x86_alu op, x86_loc dst, int32_t imm)
{
    op_modrm(b, (const uint8_t[]){0x81}, 1, op, dst);
    u32(b, (uint32_t)imm);
}

void x86_cmp_loc_r(x86_buf *b, x86_loc a, x86_reg r)
{
    op_modrm(b, (const uint8_t[]){0x39}, 1, r, a);
}

void x86_imul_r_loc(x86_buf *b, x86_reg r, x86_loc src)
{
    op_modrm(b, (const uint8_t[]){0x0F, 0xAF}, 2, r, src);
}

void x86_imul_r_loc_imm32(x86_buf *b, x86_reg r, x86_loc src, int32_t imm)
{
    op_modrm(b, (const uint8_t[]){0x69}, 1, r, src);
    u32(b, (uint32_t)imm);
}

void x86_neg(x86_buf *b, x86_loc dst)
{
    op_modrm(b, (const uint8_t[]){0xF7}, 1, 3, dst);
}

void x86_cqo(x86_buf *b)
{
    x86_bytes(b, (const uint8_t[]){REX_W, 0x99}, 2);
}

void x86_idiv(x86_buf *b, x86_loc src)
{
    op_modrm(b, (const uint8_t[]){0xF7}, 1, 7, src);
}

void x86_test_rr(x86_buf *b, x86_reg r)
{
    op_modrm(b, (const uint8_t[]){0x85}, 1, r, x86_r(r));
}

void x86_setcc(x86_buf *b, x86_cc cc, x86_reg dst)
{
    x86_bytes(b, (const uint8_t[]){0x0F, (uint8_t)(0x90 | cc), 0xC0}, 3); /* setcc al */
    op_modrm(b, (const uint8_t[]){0x0F, 0xB6}, 2, dst, x86_r(X86_RAX)); /* movzx dst, al */
}

size_t x86_jcc(x86_buf *b, x86_cc cc)
{
    x86_bytes(b, (const uint8_t[]){0x0F, (uint8_t)(0x80 | cc)}, 2);
    size_t at = b->len;
    u32(b, 0);
    return at;
}

size_t x86_jmp(x86_buf *b)
{
    byte(b, 0xE9);
    size_t at = b->len;
    u32(b, 0);
    return at;
}

void x86_patch(x86_buf *b, size_t at, size_t target)
{
    if (b->failed)
        return;
    uint32_t rel = (uint32_t)((int64_t)target - (int64_t)(at + 4));
    uint8_t le[4] = {(uint8_t)rel, (uint8_t)(rel >> 8), (uint8_t)(rel >> 16),
                     (uint8_t)(rel >> 24)};
    memcpy(b->code + at, le, 4);
}
