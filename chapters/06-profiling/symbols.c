/* symbols.c - provided: addresses to function names and source lines, with
 * dladdr1() for the object file and its load bias, and addr2line for the
 * debugging information. Complete code, not an exercise; see symbols.h. */
#include "symbols.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADDR2LINE "addr2line" /* binutils; found on PATH */
#define PATH_LEN 1024         /* longest object path handled */

/* One address's object file and offset inside it. */
typedef struct where {
    char obj[PATH_LEN];   /* file to give addr2line; "" when unknown */
    uintptr_t offset;     /* address minus the object's load bias */
    const char *dl_name;  /* dladdr's symbol name, the fallback */
} where;

PK_NO_INSTRUMENT const char *sym_basename(const char *path)
{
    if (path == NULL)
        return "";
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Copy keeping the end of a long string: "...the/end/of/a/path.c". */
PK_NO_INSTRUMENT static void copy_tail(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);

    if (n >= len) {
        src += n - len + 1;
        n = len - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Where does addr come from? The main program's link_map has an empty
 * name: its file is /proc/self/exe, read through readlink because addr2line
 * opened from a child process would see its own /proc/self/exe. */
PK_NO_INSTRUMENT static void locate(const void *addr, where *w)
{
    Dl_info info;
    struct link_map *lm = NULL;

    w->obj[0] = '\0';
    w->offset = (uintptr_t)addr;
    w->dl_name = NULL;
    if (dladdr1(addr, &info, (void **)&lm, RTLD_DL_LINKMAP) == 0 || lm == NULL)
        return;
    w->dl_name = info.dli_sname;
    /* l_addr is the load bias: 0 for a non-PIE executable, the random base
     * for a PIE or a shared library. Subtracting dli_fbase instead would be
     * wrong for a non-PIE executable, whose first segment is not at 0. */
    w->offset = (uintptr_t)addr - (uintptr_t)lm->l_addr;
    if (lm->l_name == NULL || lm->l_name[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", w->obj, sizeof w->obj - 1);
        w->obj[n > 0 ? n : 0] = '\0';
    } else {
        snprintf(w->obj, sizeof w->obj, "%s", lm->l_name);
    }
}

PK_NO_INSTRUMENT static void fallback(const where *w, sym_info *out)
{
    if (w->dl_name != NULL)
        copy_tail(out->func, sizeof out->func, w->dl_name);
    else
        snprintf(out->func, sizeof out->func, "%p", out->addr);
    snprintf(out->file, sizeof out->file, "??");
    out->line = 0;
}

/* Resolve every address of one object file with one addr2line run. The
 * offsets go through a temporary file, so that a large batch cannot
 * deadlock on two full pipes. */
PK_NO_INSTRUMENT static void run_addr2line(const char *obj, const size_t *idx,
                                           size_t n, const where *w,
                                           sym_info *out)
{
    char tmpl[] = "/tmp/pk-sym-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmpl);
        return;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%#lx\n", (unsigned long)w[idx[i]].offset);
    fclose(f);

    /* The path goes in single quotes; a quote inside it is not handled
     * (object paths with quotes are not worth a shell-escaping routine). */
    char cmd[PATH_LEN + 128];
    if (strchr(obj, '\'') != NULL) {
        unlink(tmpl);
        return;
    }
    snprintf(cmd, sizeof cmd, ADDR2LINE " -f -C -e '%s' < %s 2>/dev/null",
             obj, tmpl);
    FILE *p = popen(cmd, "r");
    if (p != NULL) {
        char fn[1024], loc[PATH_LEN + 64];
        for (size_t i = 0; i < n; i++) {
            if (fgets(fn, sizeof fn, p) == NULL || fgets(loc, sizeof loc, p) == NULL)
                break;
            fn[strcspn(fn, "\n")] = '\0';
            loc[strcspn(loc, "\n")] = '\0';
            sym_info *o = &out[idx[i]];
            if (strcmp(fn, "??") != 0)
                copy_tail(o->func, sizeof o->func, fn);
            /* "file.c:42" or "file.c:42 (discriminator 3)" or "??:0". */
            char *sp = strchr(loc, ' ');
            if (sp != NULL)
                *sp = '\0';
            char *colon = strrchr(loc, ':');
            if (colon != NULL && strncmp(loc, "??", 2) != 0) {
                *colon = '\0';
                copy_tail(o->file, sizeof o->file, loc);
                o->line = atoi(colon + 1);
            }
        }
        pclose(p);
    }
    unlink(tmpl);
}

PK_NO_INSTRUMENT int sym_resolve(const void *const *addrs, size_t n,
                                 sym_info *out)
{
    if (n == 0)
        return 0;
    if (addrs == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    where *w = malloc(n * sizeof *w);
    size_t *idx = malloc(n * sizeof *idx);
    char *done = calloc(n, 1);
    if (w == NULL || idx == NULL || done == NULL) {
        free(w);
        free(idx);
        free(done);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].addr = addrs[i];
        locate(addrs[i], &w[i]);
        fallback(&w[i], &out[i]);
    }
    /* Group the addresses by object file: one addr2line run per file. */
    for (size_t i = 0; i < n; i++) {
        if (done[i] || w[i].obj[0] == '\0')
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(w[j].obj, w[i].obj) == 0) {
                idx[k++] = j;
                done[j] = 1;
            }
        run_addr2line(w[i].obj, idx, k, w, out);
    }
    free(w);
    free(idx);
    free(done);
    return 0;
}
