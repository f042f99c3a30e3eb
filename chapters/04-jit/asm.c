/* asm.c - the assembler and verifier of chapter 04 (provided, complete).
 *
 * vm_assemble() reads the text in two passes: pass 1 splits lines, strips
 * comments, records labels and decodes each instruction (operands of jumps
 * stay label names); pass 2 resolves the labels. Then verify() walks every
 * path from the first instruction with a worklist, computing the operand
 * stack depth before each instruction, and rejects the program on the first
 * problem. Every error names the source line, counted from 1.
 *
 * You do not write this file; read it to see what a verified program
 * guarantees (bytecode.h lists the promises). */
#include "vm.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- opcode table ----------------------------------------------------- */

enum operand { OPND_NONE, OPND_IMM, OPND_SLOT, OPND_LABEL };

static const struct opinfo {
    const char *name;
    enum operand operand;
    int pops, pushes; /* stack effect */
} opinfo[VM_OP_COUNT] = {
    [VM_OP_PUSH] = {"push", OPND_IMM, 0, 1},
    [VM_OP_LOAD] = {"load", OPND_SLOT, 0, 1},
    [VM_OP_STORE] = {"store", OPND_SLOT, 1, 0},
    [VM_OP_ADD] = {"add", OPND_NONE, 2, 1},
    [VM_OP_SUB] = {"sub", OPND_NONE, 2, 1},
    [VM_OP_MUL] = {"mul", OPND_NONE, 2, 1},
    [VM_OP_DIV] = {"div", OPND_NONE, 2, 1},
    [VM_OP_MOD] = {"mod", OPND_NONE, 2, 1},
    [VM_OP_NEG] = {"neg", OPND_NONE, 1, 1},
    [VM_OP_LT] = {"lt", OPND_NONE, 2, 1},
    [VM_OP_EQ] = {"eq", OPND_NONE, 2, 1},
    [VM_OP_DUP] = {"dup", OPND_NONE, 1, 2},
    [VM_OP_POP] = {"pop", OPND_NONE, 1, 0},
    [VM_OP_JMP] = {"jmp", OPND_LABEL, 0, 0},
    [VM_OP_JZ] = {"jz", OPND_LABEL, 1, 0},
    [VM_OP_JNZ] = {"jnz", OPND_LABEL, 1, 0},
    [VM_OP_RET] = {"ret", OPND_NONE, 1, 0},
};

const char *vm_op_name(uint32_t op)
{
    return op < VM_OP_COUNT ? opinfo[op].name : "?";
}

/* ---- the assembler's working state --------------------------------------- */

#define NAME_MAX_LEN 63 /* longest label or mnemonic we report in full */

struct label {
    char *name;
    size_t target; /* instruction index it names */
    uint32_t line;
};

struct asm_state {
    vm_insn *code;
    uint32_t *lines;
    char **refs; /* label name used by code[i] (jumps only), owned */
    size_t n, cap;
    struct label *labels;
    size_t nlabels, labcap;
    char *err;
    size_t errlen;
};

static void fail(struct asm_state *a, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "line N: message" into the caller's buffer. */
static void fail(struct asm_state *a, uint32_t line, const char *fmt, ...)
{
    if (a->err == NULL || a->errlen == 0)
        return;
    int k = line ? snprintf(a->err, a->errlen, "line %u: ", (unsigned)line) : 0;
    if (k < 0 || (size_t)k >= a->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err + k, a->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

static int is_name_start(int c)
{
    return isalpha(c) || c == '_' || c == '.';
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_' || c == '.';
}

/* Length of the identifier at s (0 if none). */
static size_t name_len(const char *s)
{
    size_t k = 0;
    if (!is_name_start((unsigned char)s[0]))
        return 0;
    while (is_name_char((unsigned char)s[k]))
        k++;
    return k;
}

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    return s;
}

static int add_label(struct asm_state *a, const char *name, size_t len,
                     uint32_t line)
{
    for (size_t i = 0; i < a->nlabels; i++)
        if (strlen(a->labels[i].name) == len &&
            memcmp(a->labels[i].name, name, len) == 0) {
            fail(a, line, "duplicate label '%.*s' (first defined on line %u)",
                 (int)(len > NAME_MAX_LEN ? NAME_MAX_LEN : len), name,
                 (unsigned)a->labels[i].line);
            errno = EINVAL;
            return -1;
        }
    if (a->nlabels == a->labcap) {
        size_t cap = a->labcap ? 2 * a->labcap : 16;
        struct label *l = realloc(a->labels, cap * sizeof *l);
        if (l == NULL)
            goto nomem;
        a->labels = l;
        a->labcap = cap;
    }
    char *copy = strndup(name, len);
    if (copy == NULL)
        goto nomem;
    a->labels[a->nlabels++] = (struct label){copy, a->n, line};
    return 0;
nomem:
    fail(a, line, "out of memory");
    errno = ENOMEM;
    return -1;
}

static int add_insn(struct asm_state *a, vm_insn in, char *ref, uint32_t line)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        vm_insn *c = realloc(a->code, cap * sizeof *c);
        if (c != NULL)
            a->code = c;
        uint32_t *l = realloc(a->lines, cap * sizeof *l);
        if (l != NULL)
            a->lines = l;
        char **r = realloc(a->refs, cap * sizeof *r);
        if (r != NULL)
            a->refs = r;
        if (c == NULL || l == NULL || r == NULL) {
            free(ref);
            fail(a, line, "out of memory");
            errno = ENOMEM;
            return -1;
        }
        a->cap = cap;
    }
    a->code[a->n] = in;
    a->lines[a->n] = line;
    a->refs[a->n] = ref;
    a->n++;
    return 0;
}

/* Parse the text of one instruction, s .. end (no comment, no labels,
 * trimmed, not empty). */
static int parse_insn(struct asm_state *a, const char *s, const char *end,
                      uint32_t line)
{
    size_t k = 0;
    while (s + k < end && !isspace((unsigned char)s[k]))
        k++;
    int op = -1;
    for (int i = 0; i < VM_OP_COUNT; i++)
        if (strlen(opinfo[i].name) == k && memcmp(opinfo[i].name, s, k) == 0)
            op = i;
    if (op < 0) {
        fail(a, line, "unknown mnemonic '%.*s'",
             (int)(k > NAME_MAX_LEN ? NAME_MAX_LEN : k), s);
        errno = EINVAL;
        return -1;
    }
    const char *opnd = skip_blanks(s + k, end);
    size_t olen = 0;
    while (opnd + olen < end && !isspace((unsigned char)opnd[olen]))
        olen++;
    const char *rest = skip_blanks(opnd + olen, end);
    const struct opinfo *info = &opinfo[op];
    vm_insn in = {.arg = 0, .op = (uint32_t)op, .depth = -1};
    char *ref = NULL;

    if (info->operand == OPND_NONE) {
        if (olen != 0) {
            fail(a, line, "bad operand: '%s' takes no operand, got '%.*s'",
                 info->name, (int)(olen > NAME_MAX_LEN ? NAME_MAX_LEN : olen),
                 opnd);
            errno = EINVAL;
            return -1;
        }
        return add_insn(a, in, NULL, line);
    }
    if (olen == 0) {
        fail(a, line, "bad operand: '%s' needs %s", info->name,
             info->operand == OPND_IMM    ? "an integer"
             : info->operand == OPND_SLOT ? "a slot number 0..15"
                                          : "a label");
        errno = EINVAL;
        return -1;
    }
    if (rest != end) {
        fail(a, line, "bad operand: '%s' takes one operand, extra text '%.*s'",
             info->name, (int)(end - rest > NAME_MAX_LEN ? NAME_MAX_LEN
                                                          : end - rest),
             rest);
        errno = EINVAL;
        return -1;
    }
    if (info->operand == OPND_LABEL) {
        if (name_len(opnd) != olen) {
            fail(a, line, "bad operand: '%.*s' is not a label name",
                 (int)(olen > NAME_MAX_LEN ? NAME_MAX_LEN : olen), opnd);
            errno = EINVAL;
            return -1;
        }
        ref = strndup(opnd, olen);
        if (ref == NULL) {
            fail(a, line, "out of memory");
            errno = ENOMEM;
            return -1;
        }
        return add_insn(a, in, ref, line);
    }

    /* An integer: optional sign, then decimal digits only. */
    char buf[32];
    size_t d = (opnd[0] == '-' || opnd[0] == '+') ? 1 : 0;
    int digits = d < olen;
    for (size_t i = d; i < olen; i++)
        if (!isdigit((unsigned char)opnd[i]))
            digits = 0;
    if (!digits) {
        fail(a, line, "bad operand: '%.*s' is not a decimal integer",
             (int)(olen > NAME_MAX_LEN ? NAME_MAX_LEN : olen), opnd);
        errno = EINVAL;
        return -1;
    }
    /* Strip leading zeros so that any length of "000...1" fits buf. */
    size_t z = d;
    while (z + 1 < olen && opnd[z] == '0')
        z++;
    if (olen - z > 20) {
        goto range;
    }
    buf[0] = opnd[0] == '-' ? '-' : '+';
    memcpy(buf + 1, opnd + z, olen - z);
    buf[1 + olen - z] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        goto range;
    if (info->operand == OPND_SLOT) {
        if (v < 0 || v >= VM_SLOTS) {
            fail(a, line, "slot %lld out of range 0..%d", v, VM_SLOTS - 1);
            errno = EINVAL;
            return -1;
        }
    }
    in.arg = v;
    return add_insn(a, in, NULL, line);
range:
    if (info->operand == OPND_SLOT)
        fail(a, line, "slot %.*s out of range 0..%d",
             (int)(olen > NAME_MAX_LEN ? NAME_MAX_LEN : olen), opnd,
             VM_SLOTS - 1);
    else
        fail(a, line, "immediate %.*s outside int64",
             (int)(olen > NAME_MAX_LEN ? NAME_MAX_LEN : olen), opnd);
    errno = EINVAL;
    return -1;
}

/* Pass 1 over one line s .. end (no newline). */
static int parse_line(struct asm_state *a, const char *s, const char *end,
                      uint32_t line)
{
    const char *semi = memchr(s, ';', (size_t)(end - s));
    if (semi != NULL)
        end = semi;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    s = skip_blanks(s, end);
    /* Any number of "name:" prefixes. */
    for (;;) {
        size_t k = name_len(s);
        const char *after = s + k;
        if (k == 0 || after >= end || *after != ':')
            break;
        if (add_label(a, s, k, line) < 0)
            return -1;
        s = skip_blanks(after + 1, end);
    }
    if (s == end)
        return 0;
    return parse_insn(a, s, end, line);
}

/* ---- the verifier ----------------------------------------------------------- */

/* Give depth d to instruction `to` reached from `from`; queue it if new. */
static int reach(struct asm_state *a, size_t from, size_t to, int32_t d,
                 size_t *work, size_t *nwork)
{
    if (to == a->n) {
        fail(a, a->lines[from],
             "execution runs off the end of the program without 'ret'");
        return -1;
    }
    if (a->code[to].depth < 0) {
        a->code[to].depth = d;
        work[(*nwork)++] = to;
        return 0;
    }
    if (a->code[to].depth != d) {
        fail(a, a->lines[to],
             "stack depth %d here (from line %u) differs from %d on another "
             "path", (int)d, (unsigned)a->lines[from],
             (int)a->code[to].depth);
        return -1;
    }
    return 0;
}

static int verify(struct asm_state *a, int32_t *max_depth)
{
    size_t *work = malloc(a->n * sizeof *work);
    size_t nwork = 0;
    if (work == NULL) {
        fail(a, 0, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    *max_depth = 0;
    a->code[0].depth = 0;
    work[nwork++] = 0;
    while (nwork > 0) {
        size_t pc = work[--nwork];
        const vm_insn *in = &a->code[pc];
        const struct opinfo *info = &opinfo[in->op];
        int32_t d = in->depth;
        if (d < info->pops) {
            fail(a, a->lines[pc],
                 "stack underflow: '%s' needs %d value%s, the stack holds %d",
                 info->name, info->pops, info->pops == 1 ? "" : "s", (int)d);
            goto bad;
        }
        int32_t nd = d - info->pops + info->pushes;
        if (nd > VM_STACK_MAX) {
            fail(a, a->lines[pc], "stack depth %d exceeds the limit of %d",
                 (int)nd, VM_STACK_MAX);
            goto bad;
        }
        if (nd > *max_depth)
            *max_depth = nd;
        if (in->op == VM_OP_RET)
            continue;
        if (in->op == VM_OP_JMP || in->op == VM_OP_JZ || in->op == VM_OP_JNZ)
            if (reach(a, pc, (size_t)in->arg, nd, work, &nwork) < 0)
                goto bad;
        if (in->op != VM_OP_JMP)
            if (reach(a, pc, pc + 1, nd, work, &nwork) < 0)
                goto bad;
    }
    free(work);
    return 0;
bad:
    free(work);
    errno = EINVAL;
    return -1;
}

/* ---- the public functions ------------------------------------------------- */

vm_program *vm_assemble(const char *src, char *err, size_t errlen)
{
    struct asm_state a = {.err = err, .errlen = errlen};
    vm_program *p = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (src == NULL) {
        fail(&a, 0, "no program text (NULL)");
        errno = EINVAL;
        return NULL;
    }

    uint32_t line = 1;
    for (const char *s = src;; line++) {
        const char *nl = strchr(s, '\n');
        const char *end = nl ? nl : s + strlen(s);
        if (parse_line(&a, s, end, line) < 0)
            goto out;
        if (nl == NULL)
            break;
        if (line == UINT32_MAX) {
            fail(&a, line, "too many lines");
            errno = EINVAL;
            goto out;
        }
        s = nl + 1;
    }
    if (a.n == 0) {
        fail(&a, 0, "empty program: no instructions");
        errno = EINVAL;
        goto out;
    }

    /* Pass 2: resolve labels. */
    for (size_t i = 0; i < a.n; i++) {
        if (a.refs[i] == NULL)
            continue;
        size_t j = 0;
        while (j < a.nlabels && strcmp(a.labels[j].name, a.refs[i]) != 0)
            j++;
        if (j == a.nlabels) {
            fail(&a, a.lines[i], "undefined label '%.*s'", NAME_MAX_LEN,
                 a.refs[i]);
            errno = EINVAL;
            goto out;
        }
        a.code[i].arg = (int64_t)a.labels[j].target;
    }

    int32_t max_depth;
    if (verify(&a, &max_depth) < 0)
        goto out;

    p = malloc(sizeof *p);
    if (p == NULL) {
        fail(&a, 0, "out of memory");
        errno = ENOMEM;
        goto out;
    }
    p->code = a.code;
    p->lines = a.lines;
    p->n = a.n;
    p->max_depth = max_depth;
    a.code = NULL;
    a.lines = NULL;
out:
    for (size_t i = 0; i < a.n; i++)
        free(a.refs[i]);
    free(a.refs);
    for (size_t i = 0; i < a.nlabels; i++)
        free(a.labels[i].name);
    free(a.labels);
    free(a.code);
    free(a.lines);
    return p;
}

void vm_free(vm_program *p)
{
    if (p == NULL)
        return;
    free(p->code);
    free(p->lines);
    free(p);
}
