/* jit.c - chapter 04 reference solution: a template JIT for x86-64.
 *
 * One pass over the verified instructions. Instead of emitting "push to a
 * memory stack" for every instruction, the compiler keeps a *virtual stack*:
 * for each operand-stack position it remembers where the value is right now
 * (a constant it has not materialised, a slot it has not copied, a scratch
 * register, or the position's home in the machine stack frame). Code is
 * emitted only when a value is consumed, so `load 1; load 2; mul` becomes
 * `mov rsi, rbp; imul rsi, r12`, not six memory operations. At every jump
 * and jump target the virtual stack is flushed to its homes in memory, so
 * all paths into a label agree on where values are (the verifier
 * guarantees they agree on how many there are).
 *
 * Two peepholes make loops look like a C compiler's: `lt`/`eq` followed by
 * `jz`/`jnz` becomes cmp + jcc, and `add`/`sub`/`mul` followed by a store
 * into the register slot it read works on that register in place
 * (`load 1; push 1; add; store 1` is one `add rbp, 1`). Unreachable
 * instructions (depth -1) get no code.
 *
 * Register plan (System V AMD64: rbx, rbp, r12-r15 are callee-saved, so the
 * prologue saves them and the epilogue restores them):
 *
 *   rbx rbp r12 r13 r14 r15   slots 0..5 (the rest live in the frame)
 *   rsi rdi r8 r9 r10 r11     temporaries for stack values; rdi and rsi
 *                             hold the two arguments on entry, so they are
 *                             free only after the prologue has copied them
 *   rax rcx rdx               scratch: idiv needs rax/rdx, setcc uses al
 *
 * The code calls nothing; if it did, rsp would have to be a multiple of 16
 * at the call (FRAME_SIZE keeps it so) and no live value could stay in a
 * caller-saved register (rax, rcx, rdx, rsi, rdi, r8-r11) across it.
 *
 * Frame, addressed from rsp:
 *
 *   [rsp + 8*d]               home of stack position d (0 .. 255)
 *   [rsp + SLOT_OFF + 8*s]    slot s, for s >= 6
 *   [rsp + RESULT_OFF]        the caller's int64_t *result
 *
 * The generated function is int code(int64_t slots[16], int64_t *result):
 * rdi = slots, rsi = result on entry, eax = the VM_* code on return. */
#include "jit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86.h"

typedef int (*jit_entry)(int64_t *slots, int64_t *result);

struct jit_fn {
    void *mem;       /* the mapping, PROT_READ | PROT_EXEC */
    size_t maplen;   /* its length, whole pages */
    size_t codelen;  /* bytes of code in it */
    jit_entry entry; /* mem, as a function */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#if defined(__x86_64__)

/* ---- the frame and the registers ---------------------------------------- */

#define REG_SLOTS 6                       /* slots kept in registers */
#define SLOT_OFF (8 * VM_STACK_MAX)       /* slots in the frame */
#define RESULT_OFF (SLOT_OFF + 8 * VM_SLOTS)
#define FRAME_SIZE (RESULT_OFF + 8)       /* 8 mod 16: rsp stays aligned */
#define NTEMPS 6

static const x86_reg slot_reg[REG_SLOTS] = {X86_RBX, X86_RBP, X86_R12,
                                            X86_R13, X86_R14, X86_R15};
static const x86_reg temp_reg[NTEMPS] = {X86_RSI, X86_RDI, X86_R8,
                                         X86_R9,  X86_R10, X86_R11};

/* ---- the virtual stack ------------------------------------------------------ */

enum kind {
    K_CONST, /* the constant v.imm, not in any register yet */
    K_SLOT,  /* the current value of slot v.slot */
    K_REG,   /* in temporary register v.reg (owned by this entry) */
    K_MEM    /* in its home [rsp + 8 * position] */
};

struct entry {
    enum kind kind;
    int64_t val; /* constant, slot number or register, by kind */
};

struct fixup {
    size_t at;     /* rel32 field to patch */
    size_t target; /* instruction index */
};

struct compiler {
    x86_buf b;
    struct entry vs[VM_STACK_MAX + 1];
    int sp;              /* entries in vs */
    unsigned busy;       /* bit i: temp_reg[i] holds a live value */
    size_t *label;       /* code offset of each instruction, or SIZE_MAX */
    unsigned char *is_target;
    struct fixup *jumps; /* jumps to instructions */
    size_t njumps;
    size_t *divzero;     /* jumps to the division-by-zero exit */
    size_t ndivzero;
    size_t *epilogue;    /* jumps to the common epilogue */
    size_t nepilogue;
};

static x86_loc slot_loc(int64_t s)
{
    return s < REG_SLOTS ? x86_r(slot_reg[s]) : x86_m(X86_RSP, (int32_t)(SLOT_OFF + 8 * s));
}

static x86_loc home(int pos)
{
    return x86_m(X86_RSP, 8 * pos);
}

/* Where a non-constant entry at stack position pos is. */
static x86_loc loc_of(const struct entry *e, int pos)
{
    switch (e->kind) {
    case K_SLOT: return slot_loc(e->val);
    case K_REG: return x86_r((x86_reg)e->val);
    default: return home(pos);
    }
}

static int in_reg(const struct entry *e, int pos)
{
    return e->kind != K_CONST && !loc_of(e, pos).is_mem;
}

static void release(struct compiler *c, const struct entry *e)
{
    if (e->kind == K_REG)
        for (int i = 0; i < NTEMPS; i++)
            if (temp_reg[i] == (x86_reg)e->val)
                c->busy &= ~(1u << i);
}

/* Put the value of e (at position pos) into register r. */
static void to_reg(struct compiler *c, const struct entry *e, int pos, x86_reg r)
{
    if (e->kind == K_CONST)
        x86_mov_r_imm(&c->b, r, e->val);
    else
        x86_mov_r_loc(&c->b, r, loc_of(e, pos));
}

/* Store the value of e (at position pos) into dst; rax is the go-between
 * for memory-to-memory moves. Changes no flags. */
static void move_to(struct compiler *c, x86_loc dst, const struct entry *e, int pos)
{
    if (!dst.is_mem) {
        if (e->kind == K_CONST && e->val == 0) /* not xor: keep the flags */
            x86_mov_loc_imm32(&c->b, dst, 0);
        else
            to_reg(c, e, pos, dst.reg);
    } else if (e->kind == K_CONST && x86_fits_imm32(e->val)) {
        x86_mov_loc_imm32(&c->b, dst, (int32_t)e->val);
    } else if (in_reg(e, pos)) {
        x86_mov_loc_r(&c->b, dst, loc_of(e, pos).reg);
    } else {
        to_reg(c, e, pos, X86_RAX); /* a constant here is movabs: no flags */
        x86_mov_loc_r(&c->b, dst, X86_RAX);
    }
}

/* Spill every register-held entry to its home, freeing all temporaries. */
static void spill_regs(struct compiler *c)
{
    for (int i = 0; i < c->sp; i++)
        if (c->vs[i].kind == K_REG) {
            x86_mov_loc_r(&c->b, home(i), (x86_reg)c->vs[i].val);
            release(c, &c->vs[i]);
            c->vs[i].kind = K_MEM;
        }
}

/* Materialise the whole virtual stack in its homes: the state every jump
 * and every label agrees on. */
static void flush(struct compiler *c)
{
    for (int i = 0; i < c->sp; i++)
        if (c->vs[i].kind != K_MEM) {
            move_to(c, home(i), &c->vs[i], i);
            release(c, &c->vs[i]);
            c->vs[i].kind = K_MEM;
        }
}

static x86_reg alloc_temp(struct compiler *c)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < NTEMPS; i++)
            if (!(c->busy & (1u << i))) {
                c->busy |= 1u << i;
                return temp_reg[i];
            }
        spill_regs(c); /* out of registers: free them all */
    }
    /* Unreachable: at most two popped operands hold registers. */
    abort();
}

static struct entry pop(struct compiler *c)
{
    return c->vs[--c->sp];
}

static void push(struct compiler *c, enum kind k, int64_t val)
{
    c->vs[c->sp++] = (struct entry){k, val};
}

/* Each instruction emits at most one jump of each kind, so the three fixup
 * lists are allocated with p->n entries up front (see jit_compile). */
static void jump_to(struct compiler *c, size_t at, size_t target)
{
    c->jumps[c->njumps++] = (struct fixup){at, target};
}

static void note(size_t *list, size_t *n, size_t at)
{
    list[(*n)++] = at;
}

/* ---- templates ------------------------------------------------------------------ */

/* Before slot s changes: any stack entry that still means "the value of
 * slot s" gets its own copy in its home, or the write would change it. */
static void detach_slot(struct compiler *c, int64_t s)
{
    for (int i = 0; i < c->sp; i++)
        if (c->vs[i].kind == K_SLOT && c->vs[i].val == s) {
            move_to(c, home(i), &c->vs[i], i);
            c->vs[i].kind = K_MEM;
        }
}

/* add, sub, mul: result in a temporary, the right operand as immediate,
 * register or memory, whichever it already is. When the next instruction
 * stores into the left operand's own register slot (`load 2; ...; add;
 * store 2`, i.e. s += x), the operation works on the slot's register in
 * place and the store disappears. Returns 1 when it consumed the store. */
static int emit_arith(struct compiler *c, uint32_t op, int fuse_slot)
{
    struct entry b = pop(c), a = pop(c);
    int pa = c->sp, pb = c->sp + 1;
    if (a.kind == K_CONST && b.kind == K_CONST) { /* constant folding */
        uint64_t x = (uint64_t)a.val, y = (uint64_t)b.val;
        push(c, K_CONST, (int64_t)(op == VM_OP_ADD ? x + y : op == VM_OP_SUB ? x - y : x * y));
        return 0;
    }
    int commutes = op != VM_OP_SUB;
    if (commutes && a.kind != K_REG && (b.kind == K_REG || a.kind == K_CONST)) {
        struct entry t = a; /* compute into b's register, */
        a = b;              /* or keep the constant on the right */
        b = t;
        int tp = pa;
        pa = pb;
        pb = tp;
    }
    int in_place = 0;
    if (fuse_slot >= 0 && fuse_slot < REG_SLOTS) {
        if (commutes && !(a.kind == K_SLOT && a.val == fuse_slot) &&
            b.kind == K_SLOT && b.val == fuse_slot) {
            struct entry t = a;
            a = b;
            b = t;
            int tp = pa;
            pa = pb;
            pb = tp;
        }
        in_place = a.kind == K_SLOT && a.val == fuse_slot;
    }
    x86_reg r;
    int a_in_r = 1; /* is the left operand already in r? */
    if (in_place) {
        detach_slot(c, fuse_slot);
        r = slot_reg[fuse_slot];
    } else if (a.kind == K_REG) {
        r = (x86_reg)a.val;
    } else {
        r = alloc_temp(c);
        /* imul r, a, imm32 reads a where it is: no copy needed first */
        a_in_r = !(op == VM_OP_MUL && b.kind == K_CONST && x86_fits_imm32(b.val));
        if (a_in_r)
            to_reg(c, &a, pa, r);
    }
    if (b.kind == K_CONST && x86_fits_imm32(b.val)) {
        if (op == VM_OP_MUL)
            x86_imul_r_loc_imm32(&c->b, r, a_in_r ? x86_r(r) : loc_of(&a, pa),
                                 (int32_t)b.val);
        else
            x86_alu_loc_imm32(&c->b, op == VM_OP_ADD ? X86_ADD : X86_SUB, x86_r(r),
                              (int32_t)b.val);
    } else {
        x86_loc src = b.kind == K_CONST ? x86_r(X86_RAX) : loc_of(&b, pb);
        if (b.kind == K_CONST)
            x86_mov_r_imm(&c->b, X86_RAX, b.val);
        if (op == VM_OP_MUL)
            x86_imul_r_loc(&c->b, r, src);
        else
            x86_alu_r_loc(&c->b, op == VM_OP_ADD ? X86_ADD : X86_SUB, r, src);
    }
    release(c, &b);
    if (in_place)
        return 1; /* the value is in the slot: nothing to push */
    push(c, K_REG, r);
    return 0;
}

/* div, mod. idiv traps on a zero divisor and on INT64_MIN / -1, so both
 * are tested first: zero jumps to the VM_EDIVZERO exit, -1 gives -a (which
 * wraps) or 0 without dividing. */
static void emit_divmod(struct compiler *c, uint32_t op)
{
    struct entry b = pop(c), a = pop(c);
    int pa = c->sp, pb = c->sp + 1;
    x86_reg r = alloc_temp(c);
    to_reg(c, &b, pb, X86_RCX);
    to_reg(c, &a, pa, X86_RAX);
    size_t normal = 0, done = 0;
    int checks = !(b.kind == K_CONST && b.val != 0 && b.val != -1);
    if (checks) {
        x86_test_rr(&c->b, X86_RCX);
        note(c->divzero, &c->ndivzero, x86_jcc(&c->b, X86_CC_E));
        x86_alu_loc_imm32(&c->b, X86_CMP, x86_r(X86_RCX), -1);
        normal = x86_jcc(&c->b, X86_CC_NE);
        if (op == VM_OP_DIV)
            x86_neg(&c->b, x86_r(X86_RAX)); /* a / -1 = -a, wrapping */
        else
            x86_mov_r_imm(&c->b, X86_RDX, 0); /* a % -1 = 0 */
        done = x86_jmp(&c->b);
        x86_patch(&c->b, normal, c->b.len);
    }
    x86_cqo(&c->b);
    x86_idiv(&c->b, x86_r(X86_RCX));
    if (checks)
        x86_patch(&c->b, done, c->b.len);
    x86_mov_r_loc(&c->b, r, x86_r(op == VM_OP_MOD ? X86_RDX : X86_RAX));
    release(c, &a);
    release(c, &b);
    push(c, K_REG, r);
}

/* cmp a, b with whatever forms the operands allow. Sets the flags for
 * "a OP b"; uses rax and rcx for constants. */
static void emit_cmp(struct compiler *c, const struct entry *a, int pa,
                     const struct entry *b, int pb)
{
    x86_loc la = a->kind == K_CONST ? x86_r(X86_RAX) : loc_of(a, pa);
    if (a->kind == K_CONST)
        x86_mov_r_imm(&c->b, X86_RAX, a->val);
    if (b->kind == K_CONST && x86_fits_imm32(b->val)) {
        x86_alu_loc_imm32(&c->b, X86_CMP, la, (int32_t)b->val);
    } else if (b->kind == K_CONST) {
        x86_mov_r_imm(&c->b, X86_RCX, b->val);
        x86_cmp_loc_r(&c->b, la, X86_RCX);
    } else if (in_reg(b, pb)) {
        x86_cmp_loc_r(&c->b, la, loc_of(b, pb).reg);
    } else if (!la.is_mem) {
        x86_alu_r_loc(&c->b, X86_CMP, la.reg, loc_of(b, pb));
    } else { /* both in memory */
        x86_mov_r_loc(&c->b, X86_RAX, la);
        x86_alu_r_loc(&c->b, X86_CMP, X86_RAX, loc_of(b, pb));
    }
}

/* lt, eq. When the next instruction is a jz/jnz that is not itself a jump
 * target, the two fuse into cmp + jcc (what gcc emits for a loop test):
 * the 0/1 value is never built. Returns 1 when it consumed the jump. */
static int emit_compare(struct compiler *c, uint32_t op, const vm_insn *next,
                        int next_is_target)
{
    struct entry b = pop(c), a = pop(c);
    int pa = c->sp, pb = c->sp + 1;
    x86_cc cc = op == VM_OP_LT ? X86_CC_L : X86_CC_E;
    if (a.kind == K_CONST && b.kind == K_CONST) {
        push(c, K_CONST, op == VM_OP_LT ? a.val < b.val : a.val == b.val);
        return 0;
    }
    if (next != NULL && !next_is_target &&
        (next->op == VM_OP_JZ || next->op == VM_OP_JNZ)) {
        flush(c); /* the values below a and b; moves keep no flags alive */
        emit_cmp(c, &a, pa, &b, pb);
        /* jz jumps when the comparison is false: the opposite condition,
         * which for x86 codes is the low bit flipped (L/GE, E/NE). */
        x86_cc jcc = next->op == VM_OP_JZ ? (x86_cc)(cc ^ 1) : cc;
        jump_to(c, x86_jcc(&c->b, jcc), (size_t)next->arg);
        release(c, &a);
        release(c, &b);
        return 1;
    }
    x86_reg r = alloc_temp(c);
    emit_cmp(c, &a, pa, &b, pb);
    x86_setcc(&c->b, cc, r);
    release(c, &a);
    release(c, &b);
    push(c, K_REG, r);
    return 0;
}

/* jz, jnz on a value already on the stack. */
static void emit_branch(struct compiler *c, const vm_insn *in)
{
    struct entry v = pop(c);
    int pv = c->sp;
    flush(c);
    if (v.kind == K_CONST) { /* decided at compile time */
        if ((v.val == 0) == (in->op == VM_OP_JZ))
            jump_to(c, x86_jmp(&c->b), (size_t)in->arg);
        return;
    }
    if (in_reg(&v, pv))
        x86_test_rr(&c->b, loc_of(&v, pv).reg);
    else
        x86_alu_loc_imm32(&c->b, X86_CMP, loc_of(&v, pv), 0);
    jump_to(c, x86_jcc(&c->b, in->op == VM_OP_JZ ? X86_CC_E : X86_CC_NE),
            (size_t)in->arg);
    release(c, &v);
}

/* store S. */
static void emit_store(struct compiler *c, int64_t s)
{
    struct entry v = pop(c);
    int pv = c->sp;
    detach_slot(c, s);
    move_to(c, slot_loc(s), &v, pv);
    release(c, &v);
}

static void emit_prologue(struct compiler *c)
{
    for (int i = 0; i < REG_SLOTS; i++)
        x86_push(&c->b, slot_reg[i]);
    x86_alu_loc_imm32(&c->b, X86_SUB, x86_r(X86_RSP), FRAME_SIZE);
    x86_mov_loc_r(&c->b, x86_m(X86_RSP, RESULT_OFF), X86_RSI);
    for (int s = 0; s < VM_SLOTS; s++) {
        if (s < REG_SLOTS) {
            x86_mov_r_loc(&c->b, slot_reg[s], x86_m(X86_RDI, 8 * s));
        } else {
            x86_mov_r_loc(&c->b, X86_RAX, x86_m(X86_RDI, 8 * s));
            x86_mov_loc_r(&c->b, slot_loc(s), X86_RAX);
        }
    }
}

/* ret: *result = top; return VM_OK through the common epilogue. */
static void emit_ret(struct compiler *c)
{
    struct entry v = pop(c);
    to_reg(c, &v, c->sp, X86_RAX);
    x86_mov_r_loc(&c->b, X86_RCX, x86_m(X86_RSP, RESULT_OFF));
    x86_mov_loc_r(&c->b, x86_m(X86_RCX, 0), X86_RAX);
    x86_mov_r_imm(&c->b, X86_RAX, VM_OK);
    note(c->epilogue, &c->nepilogue, x86_jmp(&c->b));
}

/* The division-by-zero exit, then the epilogue every exit shares. */
static void emit_exits(struct compiler *c)
{
    for (size_t i = 0; i < c->ndivzero; i++)
        x86_patch(&c->b, c->divzero[i], c->b.len);
    x86_mov_r_imm(&c->b, X86_RAX, VM_EDIVZERO);
    for (size_t i = 0; i < c->nepilogue; i++)
        x86_patch(&c->b, c->epilogue[i], c->b.len);
    x86_alu_loc_imm32(&c->b, X86_ADD, x86_r(X86_RSP), FRAME_SIZE);
    for (int i = REG_SLOTS - 1; i >= 0; i--)
        x86_pop(&c->b, slot_reg[i]);
    x86_ret(&c->b);
}

/* Translate every reachable instruction; 0, or -1 when out of memory. */
static int translate(struct compiler *c, const vm_program *p)
{
    for (size_t i = 0; i < p->n; i++) {
        c->label[i] = SIZE_MAX;
        uint32_t op = p->code[i].op;
        if (op == VM_OP_JMP || op == VM_OP_JZ || op == VM_OP_JNZ)
            c->is_target[p->code[i].arg] = 1;
    }
    emit_prologue(c);
    int dead = 0; /* after jmp or ret: the virtual stack means nothing */
    for (size_t pc = 0; pc < p->n; pc++) {
        const vm_insn *in = &p->code[pc];
        if (in->depth < 0)
            continue; /* unreachable: no code */
        if (c->is_target[pc]) {
            if (!dead)
                flush(c);
            c->sp = in->depth; /* every path arrives with all values home */
            for (int i = 0; i < c->sp; i++)
                c->vs[i] = (struct entry){K_MEM, 0};
            c->busy = 0;
            c->label[pc] = c->b.len;
            dead = 0;
        }
        switch ((vm_op)in->op) {
        case VM_OP_PUSH: push(c, K_CONST, in->arg); break;
        case VM_OP_LOAD: push(c, K_SLOT, in->arg); break;
        case VM_OP_STORE: emit_store(c, in->arg); break;
        case VM_OP_ADD:
        case VM_OP_SUB:
        case VM_OP_MUL: {
            const vm_insn *next = pc + 1 < p->n ? &p->code[pc + 1] : NULL;
            int fuse = next && next->op == VM_OP_STORE && !c->is_target[pc + 1]
                           ? (int)next->arg : -1;
            if (emit_arith(c, in->op, fuse))
                pc++; /* the store was fused into the operation */
            break;
        }
        case VM_OP_DIV:
        case VM_OP_MOD: emit_divmod(c, in->op); break;
        case VM_OP_NEG: {
            struct entry a = pop(c);
            if (a.kind == K_CONST) {
                push(c, K_CONST, (int64_t)(0 - (uint64_t)a.val));
                break;
            }
            x86_reg r = a.kind == K_REG ? (x86_reg)a.val : alloc_temp(c);
            to_reg(c, &a, c->sp, r);
            x86_neg(&c->b, x86_r(r));
            push(c, K_REG, r);
            break;
        }
        case VM_OP_LT:
        case VM_OP_EQ: {
            const vm_insn *next = pc + 1 < p->n ? &p->code[pc + 1] : NULL;
            if (emit_compare(c, in->op, next, next && c->is_target[pc + 1]))
                pc++; /* the jz/jnz was fused into this compare */
            break;
        }
        case VM_OP_DUP: {
            struct entry t = c->vs[c->sp - 1];
            if (t.kind == K_CONST || t.kind == K_SLOT) {
                push(c, t.kind, t.val); /* a copy costs nothing yet */
                break;
            }
            x86_reg r = alloc_temp(c); /* may spill the top itself */
            to_reg(c, &c->vs[c->sp - 1], c->sp - 1, r);
            push(c, K_REG, r);
            break;
        }
        case VM_OP_POP: {
            struct entry v = pop(c);
            release(c, &v);
            break;
        }
        case VM_OP_JMP:
            flush(c);
            jump_to(c, x86_jmp(&c->b), (size_t)in->arg);
            dead = 1;
            break;
        case VM_OP_JZ:
        case VM_OP_JNZ: emit_branch(c, in); break;
        case VM_OP_RET:
            emit_ret(c);
            c->sp = 0;
            c->busy = 0;
            dead = 1;
            break;
        case VM_OP_COUNT: break;
        }
    }
    emit_exits(c);
    for (size_t i = 0; i < c->njumps; i++)
        x86_patch(&c->b, c->jumps[i].at, c->label[c->jumps[i].target]);
    return c->b.failed ? -1 : 0;
}

/* Copy the code into fresh pages: writable while we copy, then executable
 * and no longer writable. Never both. */
static void *map_code(const uint8_t *code, size_t len, size_t *maplen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (len + page - 1) / page * page;
    void *mem = mmap(NULL, n, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    memcpy(mem, code, len);
    if (mprotect(mem, n, PROT_READ | PROT_EXEC) != 0) {
        int e = errno;
        munmap(mem, n);
        errno = e;
        return NULL;
    }
    *maplen = n;
    return mem;
}

jit_fn *jit_compile(const vm_program *p, char *err, size_t errlen)
{
    if (p == NULL) {
        set_err(err, errlen, "jit_compile: NULL program");
        errno = EINVAL;
        return NULL;
    }
    struct compiler c = {.sp = 0};
    jit_fn *f = NULL;
    c.label = malloc(p->n * sizeof *c.label);
    c.is_target = calloc(p->n, 1);
    c.jumps = malloc(p->n * sizeof *c.jumps);
    c.divzero = malloc(p->n * sizeof *c.divzero);
    c.epilogue = malloc(p->n * sizeof *c.epilogue);
    if (c.label == NULL || c.is_target == NULL || c.jumps == NULL ||
        c.divzero == NULL || c.epilogue == NULL || translate(&c, p) < 0) {
        set_err(err, errlen, "jit_compile: out of memory");
        errno = ENOMEM;
        goto out;
    }
    f = malloc(sizeof *f);
    if (f == NULL) {
        set_err(err, errlen, "jit_compile: out of memory");
        errno = ENOMEM;
        goto out;
    }
    f->mem = map_code(c.b.code, c.b.len, &f->maplen);
    if (f->mem == NULL) {
        int e = errno;
        set_err(err, errlen, "jit_compile: mmap/mprotect: %s", strerror(e));
        free(f);
        f = NULL;
        errno = e;
        goto out;
    }
    f->codelen = c.b.len;
    f->entry = (jit_entry)f->mem;
out:
    free(c.b.code);
    free(c.label);
    free(c.is_target);
    free(c.jumps);
    free(c.divzero);
    free(c.epilogue);
    return f;
}

#else /* not x86-64 */

jit_fn *jit_compile(const vm_program *p, char *err, size_t errlen)
{
    (void)p;
    set_err(err, errlen, "jit_compile: this JIT emits x86-64 code only");
    errno = ENOTSUP;
    return NULL;
}

#endif

int jit_run(const jit_fn *f, const int64_t *args, size_t nargs, int64_t *result)
{
    if (f == NULL || result == NULL || (args == NULL && nargs > 0))
        return VM_EINVAL;
    if (nargs > VM_SLOTS)
        return VM_EARGS;
    int64_t slots[VM_SLOTS] = {0};
    if (nargs > 0)
        memcpy(slots, args, nargs * sizeof *args);
    return f->entry(slots, result);
}

size_t jit_code_size(const jit_fn *f)
{
    return f != NULL ? f->codelen : 0;
}

void jit_free(jit_fn *f)
{
    if (f == NULL)
        return;
    munmap(f->mem, f->maplen);
    free(f);
}
