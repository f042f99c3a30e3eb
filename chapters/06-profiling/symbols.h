/**
 * @file symbols.h
 * @brief Provided: turn code addresses into function names and source lines.
 *
 * Both profilers of this chapter collect raw addresses: the instrumenting one
 * gets each function's address from `-finstrument-functions`, the sampling
 * one reads the interrupted program counter and the return addresses on the
 * stack. A report needs names and lines, which live in the debugging
 * information (`-g`) of the file the code came from. This module finds that
 * file and the address inside it with dladdr1() and asks binutils'
 * `addr2line` for the name and line, one `addr2line` process per file.
 *
 * The address a program sees is not the address in the file: a
 * position-independent executable (PIE, the default on Debian) and every
 * shared library are loaded at a random base, the *load bias*. dladdr1()
 * with RTLD_DL_LINKMAP returns the library's `link_map`, whose `l_addr` is
 * that bias; `address - l_addr` is what `addr2line -e file` understands.
 *
 * This code is complete (not an exercise). It is not async-signal-safe: it
 * allocates, forks and reads pipes. Call it after sampling, never from a
 * signal handler.
 */
#ifndef SYMBOLS_H
#define SYMBOLS_H

#include <stddef.h>

#include "noinstr.h"

/** Longest function name kept (longer names are cut). */
#define SYM_NAME_MAX 128
/** Longest source path kept (longer paths keep their end). */
#define SYM_FILE_MAX 192

/** @brief What is known about one code address. */
typedef struct sym_info {
    const void *addr;          /**< the address that was looked up */
    char func[SYM_NAME_MAX];   /**< function name, or "0x..." when unknown */
    char file[SYM_FILE_MAX];   /**< source file, or "??" when unknown */
    int line;                  /**< source line, or 0 when unknown */
} sym_info;

/**
 * @brief Resolve many addresses at once.
 * @param addrs the code addresses. For a return address taken from the
 *        stack, pass the address minus one: the return address points after
 *        the call, possibly at the next source line.
 * @param n how many; 0 is allowed and does nothing.
 * @param out @p n results, in the order of @p addrs; owned by the caller.
 * @return 0 (addresses that cannot be resolved get "0x..." and line 0), or
 *         -1 with errno EINVAL (NULL pointer with n > 0) or ENOMEM.
 *
 * Costs one fork and exec of addr2line per object file involved, a few
 * milliseconds: resolve in batches, not one address at a time.
 */
int sym_resolve(const void *const *addrs, size_t n, sym_info *out);

/**
 * @brief The file name part of a path ("dir/x.c" gives "x.c").
 * @param path a path; NULL gives "".
 * @return a pointer into @p path.
 */
const char *sym_basename(const char *path);

#endif /* SYMBOLS_H */
