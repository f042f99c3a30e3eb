#!/bin/sh
# check-messages.sh FILE... - fail when a graded test source uses one of
# Check's assertions that print their raw expression on failure
# ("Assertion '(*__errno_location ()) == 22' failed: ..."): ck_assert(),
# the typed ck_assert_int_eq() family, and ck_abort() without a message.
# Graded tests say what they expected in the course's words: ck_assert_msg(),
# ck_abort_msg(), or the PK_EXPECT_* macros of pk_check.h.
# make test runs it on every selected chapter's tests (graded tests only:
# libpk's and the grader's own tests speak to maintainers).
status=0
for f in "$@"; do
    grep -nE '(^|[^A-Za-z0-9_])ck_(assert|abort)(_(int|uint|str|pstr|ptr|double|float|ldouble|mem)_[a-z_]+|_ptr_(null|nonnull)|_(str|pstr)_[a-z]+)?[[:space:]]*\(' "$f" \
        | grep -vE 'ck_(assert|abort)_msg[[:space:]]*\(' \
        | while IFS= read -r line; do
              echo "$f:${line%%:*}: a bare Check assertion prints its raw expression to the student; use ck_assert_msg() or a PK_EXPECT_* macro (pk_check.h):"
              echo "    ${line#*:}"
          done | grep . && status=1
done
exit $status
