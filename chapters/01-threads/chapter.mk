# chapter.mk - chapter 01's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/01-threads has the
# reference version of each (threads.c: exercises 1-4; ring.c: exercise 5).
01-threads_EXERCISES = threads.c ring.c

# race: the helper program of test_threads_ring_acquire_release and
# test_threads_counter_no_race. It is the student's code (the same files as
# the test program's) compiled with -fsanitize=thread, so that the compiler
# reports every memory access and every atomic operation with its memory
# order, but linked WITHOUT TSan's run-time library:
# tests/01-threads/race/hb.c receives those calls instead and checks the
# happens-before order itself. (TSan's own run-time cannot start under the
# grader's 4 GiB address-space limit: it reserves terabytes of shadow
# memory.) gcc leaves its run-time out with -nodefaultlibs, clang with
# -fno-sanitize-link-runtime; -fno-sanitize=all first drops the sanitizer
# of the build (make sanitize). Under ASan the helper is built plain (ASan
# and TSan instrumentation cannot be mixed), says so, and the test, itself
# an ASan build then, accepts that; the TSan pass runs it for real.
01-threads_AUX = race
01-threads_AUX_race_SRCS = tests/01-threads/race/race.c tests/01-threads/race/hb.c
01-threads_AUX_race_CFLAGS = -Itests/01-threads/race
01-threads_AUX_race_LDLIBS = $(if $(filter asan,$(SAN_KIND)),,-fno-sanitize=all -fsanitize=thread \
    $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),-fno-sanitize-link-runtime,\
    -nodefaultlibs -lpthread -lc -lgcc -lgcc_s))

# make grade builds the race helper from the submission's files. When SUBMISSION
# changes to a folder whose files are older than the helper (grading
# solutions/ after chapters/, say), make would keep the stale helper: this
# stamp, rewritten only when the source folder changes, forces the rebuild.
01-threads_grade_src = $(if $(SUBMISSION),$(abspath $(SUBMISSION)),chapters)
$(BUILD)/grade/01-threads/aux/race: $(BUILD)/grade/01-threads/aux/source
$(BUILD)/grade/01-threads/aux/source: 01-threads-source-check
	@mkdir -p $(@D)
	@echo '$(01-threads_grade_src)' | cmp -s - $@ || echo '$(01-threads_grade_src)' > $@
.PHONY: 01-threads-source-check
01-threads-source-check:

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
01-threads_POINTS = 120
