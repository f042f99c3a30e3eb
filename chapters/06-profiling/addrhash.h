/**
 * @file addrhash.h
 * @brief Provided: a hash of code addresses for open-addressing tables.
 *
 * The instrumenting profiler (function address -> counters) and the
 * allocation tracker (call site -> blocks and bytes) both keep a table
 * keyed by a code address. This is the hash they share. It is a `static
 * inline` function in a header rather than a function in a .c file because
 * it runs inside the profiler's enter hook, on every call of the program:
 * a call into another file could not be inlined there.
 *
 * This code is complete (not an exercise).
 */
#ifndef ADDRHASH_H
#define ADDRHASH_H

#include <stddef.h>
#include <stdint.h>

#include "noinstr.h"

/**
 * @brief The slot where a table of `mask + 1` slots starts looking for @p p.
 * @param p the key, a code address.
 * @param mask the table size minus one; the size must be a power of 2.
 * @return an index from 0 to @p mask.
 *
 * Code addresses are aligned, so their low bits carry little; Fibonacci
 * hashing (a multiply by 2^64 / phi) spreads the rest over the index bits.
 */
PK_NO_INSTRUMENT static inline size_t addr_hash(const void *p, size_t mask)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 32) & mask;
}

#endif /* ADDRHASH_H */
