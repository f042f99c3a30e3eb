/**
 * @file noinstr.h
 * @brief Provided: the attribute that keeps a function out of
 *        `-finstrument-functions`.
 *
 * This chapter compiles its tests and benchmark with
 * `-finstrument-functions`, so that the workloads call the instrumenting
 * profiler's hooks. The profiling code itself (the four exercises,
 * symbols.c and the helpers) must not call them: a profiler that profiled
 * itself would recurse into its own hooks. Every function in it carries
 * #PK_NO_INSTRUMENT, the one spelling of the attribute in this chapter.
 */
#ifndef NOINSTR_H
#define NOINSTR_H

/**
 * @brief Keep a function out of `-finstrument-functions`.
 *
 * `__attribute__((no_instrument_function))`, which gcc and clang both
 * honour. It also applies where the function is inlined: gcc instruments
 * inlined bodies too unless they carry it.
 */
#define PK_NO_INSTRUMENT __attribute__((no_instrument_function))

#endif /* NOINSTR_H */
