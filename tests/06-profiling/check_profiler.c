/* check_profiler.c - chapter 06's suite: the tests of the four exercises
 * (check_instrument.c and check_sampler.c, the core; check_alloctrack.c
 * and check_flame.c, the stretch) and of the provided symbols.h.
 *
 * Points (the weights add up to 100): the instrumenting profiler 43, 12 of
 * them for its speed, and the sampling profiler 32, 12 for its speed, are
 * the core (75); the allocation tracker 13 and the flame graph 12 are the
 * stretch (25). The lesson's table "Time, core and stretch" says the same. */
#include "profiling_test.h"
#include "symbols.h"

WORK void work_named(void) { sink = sink + 1; }

START_TEST(test_symbols_resolve)
{
    const void *addrs[2] = {FN(work_named), FN(sym_basename)};
    sym_info out[2];

    PK_EXPECT_INT("sym_resolve(addrs, 2, out)", sym_resolve(addrs, 2, out), 0);
    ck_assert_msg(strcmp(out[0].func, "work_named") == 0 &&
                  strcmp(out[1].func, "sym_basename") == 0,
                  "sym_resolve() named work_named and sym_basename \"%s\" and "
                  "\"%s\" (is addr2line installed?)", out[0].func, out[1].func);
    PK_EXPECT_STR("sym_basename(out[0].file)", sym_basename(out[0].file),
                  "check_profiler.c");
    ck_assert_msg(out[0].line > 0, "sym_resolve() gave work_named line %d, "
                  "expected a line number", out[0].line);
    PK_EXPECT_EINVAL(sym_resolve(NULL, 1, out), "sym_resolve(NULL, 1, out)");
}
END_TEST

Suite *pk_suite(void)
{
    Suite *s = suite_create("06-profiling");

    add_instrument_tests(s);   /* core */
    add_sampler_tests(s);      /* core */
    add_alloctrack_tests(s);   /* stretch */
    add_flame_tests(s);        /* stretch */
    pk_test_add_ungraded_timeout(s, test_symbols_resolve, 10);
    return s;
}
