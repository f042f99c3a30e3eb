# Makefile - every entry point of the course. `make help` lists them.
#
# Out-of-tree build under $(BUILD). Each chapter NN-topic is found by its
# folder chapters/NN-topic; its test program is built three ways:
#   $(BUILD)/sol/NN-topic/check    tests + solutions/NN-topic   (make test)
#   $(BUILD)/skel/NN-topic/check   tests + chapters/NN-topic    (check-skeletons)
#   $(BUILD)/grade/NN-topic/check  tests + $(SUBMISSION) or chapters (make grade)
# A chapter may add flags and provided (non-exercise) sources in
# chapters/NN-topic/chapter.mk, see "Per-chapter settings" below.

ifeq ($(origin CC),default)
CC := gcc
endif
BUILD      ?= build
OPT        ?= -O2 -g
SAN        ?=
# SAN_KIND is asan or tsan inside `make sanitize`; chapter.mk files may read it.
SAN_KIND   ?=
SUBMISSION ?=
CH         ?=
# GRADE_ONLY: comma-separated test names; make grade runs only these.
GRADE_ONLY ?=

WERROR  := $(if $(PK_WERROR),-Werror)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
PK_CFLAGS  = -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -pthread $(OPT) $(SAN) $(CFLAGS)
PK_LDFLAGS = -pthread $(SAN) $(LDFLAGS)
# libpk's headers: the only include path of libpk, the chapters and the
# benchmarks. Test programs add the grader's headers (TEST_INC).
PK_INC     := -Icommon/include
TEST_INC   := -Itests/grader
# Recursively expanded: pkg-config runs when a recipe needs it, which is after
# `deps` has installed Check on a fresh machine.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

# A chapter is a folder chapters/NN-topic with a chapter.mk (a folder without
# one is a chapter in the making: warned about, left out).
CHAPTERS := $(sort $(notdir $(patsubst %/chapter.mk,%,$(wildcard chapters/[0-9][0-9]-*/chapter.mk))))
$(foreach d,$(notdir $(wildcard chapters/[0-9][0-9]-*)),$(if $(filter $(d),$(CHAPTERS)),,$(warning chapters/$(d) has no chapter.mk: it is not built (see docs/pages/authoring.md))))
ifneq ($(CH),)
ifeq ($(filter $(CH),$(CHAPTERS)),)
$(error CH=$(CH) is not a chapter; the chapters are: $(CHAPTERS))
endif
endif
SELECTED := $(if $(CH),$(CH),$(CHAPTERS))

# ---- Per-chapter settings --------------------------------------------------
# Every chapter has chapters/NN-topic/chapter.mk. Its variables carry the
# chapter's name as prefix and are all recursively expanded (`=`):
#   NN-topic_EXERCISES     (required) the .c files in chapters/NN-topic that
#                          the student writes; solutions/NN-topic has each
#   NN-topic_PROVIDED      .c files in chapters/NN-topic that are complete,
#                          not exercises (compiled into every build)
#   NN-topic_CFLAGS        extra flags for its tests and benchmark
#   NN-topic_LDLIBS        extra system libraries for its tests and benchmark
#   NN-topic_LIBS          libraries this Makefile builds that its tests and
#                          benchmark link, e.g. $(LIBHTTPD)
#   NN-topic_BENCH_CFLAGS  extra flags for bench.c only
#   NN-topic_BENCH_LDLIBS  extra libraries for the benchmark only
#   NN-topic_BENCH_OBJS    extra objects for the benchmark (with their rules)
#   NN-topic_TEST_OBJS     extra objects for its test programs, all variants
#                          (with their rules): provided baselines that the
#                          performance tests compare with
#   NN-topic_AUX           names of auxiliary programs the tests run, built
#                          for each variant (sol, skel, grade) from the same
#                          exercise sources as its test program, into the
#                          folder the tests see as the string PK_AUX_DIR:
#     NN-topic_AUX_NAME_SRCS    provided sources (the program's main)
#     NN-topic_AUX_NAME_CFLAGS  its extra flags (e.g. -fsanitize=thread)
#     NN-topic_AUX_NAME_LDLIBS  its extra libraries
#     NN-topic_AUX_NAME_CC      its compiler (e.g. mpicc), default $(CC)
# Test programs also see PK_SRC_DIR: the folder their exercise files came
# from (solutions/NN-topic, chapters/NN-topic, or the submission's), for
# tests that read a file the student writes beside the code (a report).
#   NN-topic_NO_TSAN       non-empty: skip the chapter under TSan (say why)
# Everything that only the benchmark or the performance tests build (a
# baseline loop, a workload, a Python script) lives in chapters/NN-topic/bench/.
LIBPK      := $(BUILD)/lib/libpk.a
LIBHTTPD   := $(BUILD)/lib/libpkhttpd.a
-include $(wildcard chapters/*/chapter.mk)

exercises = $($(1)_EXERCISES)
comma := ,
# A chapter's points in the course total: NN-topic_POINTS, else 100.
points_of = $(if $($(1)_POINTS),$($(1)_POINTS),100)
$(foreach c,$(CHAPTERS),$(if $(strip $(call exercises,$(c))),,$(error chapters/$(c)/chapter.mk: $(c)_EXERCISES is empty)))
$(foreach c,$(CHAPTERS),$(foreach f,$(call exercises,$(c)),$(if $(wildcard chapters/$(c)/$(f)),,$(error $(c)_EXERCISES names $(f), which is not in chapters/$(c)))))
provided  = $(addprefix chapters/$(1)/,$($(1)_PROVIDED))
tests_of  = $(wildcard tests/$(1)/*.c)
headers   = $(wildcard chapters/$(1)/*.h)
# A submission's file if it has one, else the skeleton's.
sub_file  = $(if $(and $(SUBMISSION),$(wildcard $(SUBMISSION)/$(1)/$(2))),$(SUBMISSION)/$(1)/$(2),chapters/$(1)/$(2))

# ---- libpk, the HTTP server, the grader --------------------------------------
# common/src/*.c is libpk; common/httpd/ the loopback HTTP server (a library
# for chapter 03's tests and benchmark, and the programs pk-httpd and
# pk-serve, the docs check's file server).
LIBPK_SRCS := $(wildcard common/src/*.c)
LIBPK_OBJS := $(patsubst common/src/%.c,$(BUILD)/obj/common/%.o,$(LIBPK_SRCS))
HTTPD_OBJS := $(BUILD)/obj/httpd/pk_httpd.o
TOOL_BINS  := $(BUILD)/bin/pk-httpd $(BUILD)/bin/pk-serve
# The test programs' shared main and performance-test library, and the
# grader (tests/grader/grade_*.c, see grade.h), which links no student code.
HARNESS    := $(BUILD)/obj/grader/check_main.o $(BUILD)/obj/grader/pk_perf.o
GRADER     := $(BUILD)/bin/pk-grade
GRADER_SRCS := $(wildcard tests/grader/grade_*.c) common/src/proc.c
GRADER_HDRS := tests/grader/grade.h tests/grader/grade_protocol.h common/include/pk/proc.h
BIN_DIR    := $(abspath $(BUILD)/bin)

.DEFAULT_GOAL := help
.PHONY: help deps all test grade hint watch grade-watch grade-asan-prog mutants perf-selftest race-rates perf-series new-chapter new-chapter-check check-skeletons bench bench-libpk lesson-check docs docs-check docs-instructor plots diagrams sanitize valgrind robustness \
        dist dist-check grade-all grade-all-check gradescope gradescope-check clean FORCE
.DELETE_ON_ERROR:

help:
	@echo "make grade [CH=NN-topic] [SUBMISSION=dir]  grade the exercises (points, hints, progress)"
	@echo "make hint  [CH=NN-topic]                   the next failing test, its message and hint (one step at a time)"
	@echo "make watch CH=NN-topic                     re-grade the chapter every time you save a file in it"
	@echo "make test  [CH=NN-topic] [MINE=1]          run every test against the reference solutions (MINE=1: your code)"
	@echo "make bench [CH=NN-topic] [SUBMISSION=dir]  benchmark your code (beside the reference where it exists), CSV into $(BUILD)/bench/"
	@echo "make bench-libpk                           libpk's own benchmark (thread pool, process pool, timer)"
	@echo "make docs                                  Doxygen HTML into $(BUILD)/docs/html"
	@echo "make plots / diagrams                      SVG charts from the benchmark CSVs / diagrams from docs/diagrams"
	@echo "make docs-check                            open every docs page in headless Chromium, check titles, images, links"
	@echo "make docs-instructor                       the docs with the reference solutions, for instructors"
	@echo "make check-skeletons                       prove every graded test fails on the skeletons"
	@echo "make mutants [CH=NN-topic] [QUICK=1]       prove every realistic wrong solution loses points"
	@echo "make perf-selftest [CH=NN-topic]           prove slow-but-correct solutions lose only their speed points"
	@echo "make race-rates [CH=NN-topic] [RUNS=100]   how often race-dependent mutants are caught; the reference never fails"
	@echo "make perf-series [RUNS=20] [PERF_MODE=busy] the reference's performance tests, RUNS times"
	@echo "make new-chapter NAME=NN-topic             scaffold a chapter that builds and grades 0"
	@echo "make sanitize [CH=NN-topic] [MINE=1]       solution tests under ASan+UBSan and TSan (MINE=1: your code)"
	@echo "make valgrind [CH=NN-topic] [MINE=1]       solution tests under valgrind memcheck (MINE=1: your code)"
	@echo "make dist / dist-check                     student handout tarball (no solutions), and its check"
	@echo "make grade-all SUBMISSIONS=dir             (instructors) grade every student folder in dir"
	@echo "make gradescope                            (instructors) build/dist/autograder.zip for Gradescope"
	@echo "make deps                                  install the Debian packages the course needs"
	@echo "chapters: $(CHAPTERS)"

deps:
	@scripts/install-deps.sh $(EXTRA_DEPS)

$(BUILD)/obj/common/%.o: common/src/%.c $(wildcard common/include/pk/*.h) | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(PK_INC) -c $< -o $@

$(LIBPK): $(LIBPK_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/httpd/%.o: common/httpd/%.c common/httpd/pk_httpd.h common/include/pk/proc.h | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(PK_INC) -c $< -o $@

$(LIBHTTPD): $(HTTPD_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/pk-httpd: common/httpd/pk-httpd.c $(LIBHTTPD) $(LIBPK)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -Icommon/httpd $< -o $@ $(PK_LDFLAGS) $(LIBHTTPD) $(LIBPK)

$(BUILD)/bin/pk-serve: common/httpd/pk-serve.c
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $< -o $@ $(PK_LDFLAGS)

$(BUILD)/obj/grader/%.o: tests/grader/%.c tests/grader/pk_check.h tests/grader/pk_perf.h \
        tests/grader/grade_protocol.h | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(PK_INC) $(TEST_INC) $(CHECK_CFLAGS) -c $< -o $@

# The grader never links student code, and is built without sanitizers.
$(GRADER): $(GRADER_SRCS) $(GRADER_HDRS) | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -O2 -g $(PK_INC) $(GRADER_SRCS) -o $@

# ---- test programs -----------------------------------------------------------
# $(call test_prog,VARIANT,CHAPTER,EXERCISE-SOURCES)
# A chapter's chapter.mk, if it has one: its flags are part of the build.
chapter_mk = $(wildcard chapters/$(1)/chapter.mk)

# $(call aux_prog,VARIANT,CHAPTER,EXERCISE-SOURCES,NAME): an auxiliary
# program of the chapter built from the same exercise sources as the test
# program (see NN-topic_AUX below).
aux_dir = $(BUILD)/$(1)/$(2)/aux
define aux_prog
$(call aux_dir,$(1),$(2))/$(4): $(3) $($(2)_AUX_$(4)_SRCS) $(call provided,$(2)) $(call headers,$(2)) \
        $(call chapter_mk,$(2)) $($(2)_LIBS) $(LIBPK) | deps
	@mkdir -p $$(@D)
	$$(if $$($(2)_AUX_$(4)_CC),$$($(2)_AUX_$(4)_CC),$$(CC)) $$(PK_CFLAGS) $$($(2)_CFLAGS) \
	    $$($(2)_AUX_$(4)_CFLAGS) $(PK_INC) -Ichapters/$(2) -o $$@ $($(2)_AUX_$(4)_SRCS) $(3) \
	    $(call provided,$(2)) $($(2)_LIBS) $(LIBPK) $$(PK_LDFLAGS) $$($(2)_LDLIBS) \
	    $$($(2)_AUX_$(4)_LDLIBS) -lm
endef

define test_prog
$(foreach a,$($(2)_AUX),$(call aux_prog,$(1),$(2),$(3),$(a)))
$(BUILD)/$(1)/$(2)/check: $(call tests_of,$(2)) $(3) $(call provided,$(2)) $(call chapter_mk,$(2)) \
        $(call headers,$(2)) $(HARNESS) $($(2)_TEST_OBJS) $($(2)_LIBS) $(LIBPK) tests/grader/pk_check.h \
        $(foreach a,$($(2)_AUX),$(call aux_dir,$(1),$(2))/$(a)) | deps
	@mkdir -p $$(@D)
	$$(CC) $$(PK_CFLAGS) $$($(2)_CFLAGS) $(PK_INC) $(TEST_INC) -Ichapters/$(2) $$(CHECK_CFLAGS) \
	    -DPK_AUX_DIR='"$(abspath $(call aux_dir,$(1),$(2)))"' \
	    -DPK_SRC_DIR='"$(abspath $(dir $(firstword $(3))))"' \
	    -o $$@ $(call tests_of,$(2)) $(3) $(call provided,$(2)) $(HARNESS) $($(2)_TEST_OBJS) \
	    $($(2)_LIBS) $(LIBPK) $$(PK_LDFLAGS) $$($(2)_LDLIBS) $$(CHECK_LIBS) -lm \
	    2>$$(@D)/compile.log; rc=$$$$?; cat $$(@D)/compile.log >&2; exit $$$$rc
endef
# (compile.log keeps the compiler's warnings after the build: the grader shows
# the first one in the student's files, also when the program is up to date.)
$(foreach c,$(CHAPTERS),$(eval $(call test_prog,sol,$(c),$(addprefix solutions/$(c)/,$(call exercises,$(c))))))
$(foreach c,$(CHAPTERS),$(eval $(call test_prog,skel,$(c),$(addprefix chapters/$(c)/,$(call exercises,$(c))))))
$(foreach c,$(CHAPTERS),$(eval $(call test_prog,grade,$(c),$(foreach f,$(call exercises,$(c)),$(call sub_file,$(c),$(f))))))

# libpk's own tests.
$(BUILD)/sol/common/check: $(wildcard tests/common/*.c) $(HARNESS) $(LIBPK) | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(PK_INC) $(TEST_INC) $(CHECK_CFLAGS) -o $@ $(wildcard tests/common/*.c) \
	    $(HARNESS) $(LIBPK) $(PK_LDFLAGS) $(CHECK_LIBS) -lm

# The grader's own tests: a suite that misbehaves on purpose, and the suite
# that grades it and checks the scores.
# It is built without sanitizers even in `make sanitize`: it is not code
# under test, and its memory hog needs the grader's address-space limit,
# which sanitizer runtimes cannot live with.
SELFTEST_BAD_SRCS := tests/grader/selftest/bad_suite.c tests/grader/check_main.c \
                     tests/grader/pk_perf.c $(LIBPK_SRCS)
$(BUILD)/bin/pk-grade-selftest-bad: $(SELFTEST_BAD_SRCS) tests/grader/pk_check.h \
        tests/grader/pk_perf.h tests/grader/grade_protocol.h | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -pthread -O2 -g $(PK_INC) $(TEST_INC) \
	    $(CHECK_CFLAGS) -o $@ $(SELFTEST_BAD_SRCS) -pthread $(CHECK_LIBS) -lm

$(BUILD)/sol/grader/check: tests/grader/selftest/check_grader.c $(HARNESS) $(LIBPK) $(GRADER) \
        $(BUILD)/bin/pk-grade-selftest-bad | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(TEST_INC) $(CHECK_CFLAGS) -o $@ $< $(HARNESS) $(LIBPK) $(PK_LDFLAGS) \
	    $(CHECK_LIBS) -lm

# ---- make test ---------------------------------------------------------------
# The student handout has no solutions/: there `make test` checks libpk and
# the grader only.
# MINE=1 runs the chapters' tests against the student's own code in chapters/
# instead (the skel build), so that `make sanitize` and `make valgrind` can
# check it too.
HAVE_SOLUTIONS := $(wildcard solutions)
MINE ?=
TEST_VARIANT := $(if $(MINE),skel,sol)
TEST_PROGS := $(if $(or $(CH),$(MINE)),,$(BUILD)/sol/common/check $(BUILD)/sol/grader/check) \
              $(if $(or $(HAVE_SOLUTIONS),$(MINE)),$(foreach c,$(SELECTED),$(BUILD)/$(TEST_VARIANT)/$(c)/check))

ifeq ($(SAN_KIND),tsan)
TSAN_SKIPPED := $(foreach c,$(SELECTED),$(if $($(c)_NO_TSAN),$(c)))
TEST_PROGS := $(filter-out $(foreach c,$(TSAN_SKIPPED),$(BUILD)/$(TEST_VARIANT)/$(c)/check),$(TEST_PROGS))
endif

all: $(LIBPK) $(GRADER) $(TOOL_BINS) $(TEST_PROGS)

test: $(TEST_PROGS) $(TOOL_BINS) | deps
	@tests/grader/check-messages.sh $(foreach c,$(SELECTED),$(wildcard tests/$(c)/*.c))
	@if [ ! -d solutions ] && [ -z "$(MINE)" ]; then \
	    echo "This is the student handout: it has no reference solutions, so 'make test'"; \
	    echo "checks libpk and the grader only. Run 'make grade' to grade your own work."; fi
	@$(foreach c,$(TSAN_SKIPPED),echo "skipping $(c) under TSan: $($(c)_NO_TSAN)";)
	@PK_BIN_DIR=$(BIN_DIR) scripts/run-tests.sh $(BUILD)/logs $(TEST_PROGS)

# ---- make grade ----------------------------------------------------------------
# Build each selected chapter against $(SUBMISSION) (or chapters/), then
# run the grader with $(1) as extra options.
define grade_recipe
	@mkdir -p $(BUILD)/grade
	@src="$(if $(SUBMISSION),$(abspath $(SUBMISSION)),chapters)"; \
	 if [ -n "$(SUBMISSION)" ] && [ ! -d "$(SUBMISSION)" ]; then \
	     echo "SUBMISSION=$(SUBMISSION) is not a folder"; exit 2; fi; \
	 if [ "$$(cat $(BUILD)/grade/source 2>/dev/null)" != "$$src" ]; then \
	     rm -f $(foreach c,$(CHAPTERS),$(BUILD)/grade/$(c)/check $(BUILD)/asan-grade/grade/$(c)/check); \
	     echo "$$src" > $(BUILD)/grade/source; fi; \
	 args=""; \
	 for c in $(SELECTED); do \
	     log=$(BUILD)/grade/$$c.build.log; \
	     srcdir=chapters/$$c; \
	     if [ -n "$(SUBMISSION)" ] && [ -d "$(SUBMISSION)/$$c" ]; then srcdir="$(SUBMISSION)/$$c"; fi; \
	     $(if $(1),,printf 'building %s ... ' "$$c";) \
	     if $(MAKE) --no-print-directory $(BUILD)/grade/$$c/check >$$log 2>&1; \
	     then $(if $(1),:,echo ok); log=$(BUILD)/grade/$$c/compile.log; \
	     else echo "$$c: FAILED to build (see $$log)"; rm -f $(BUILD)/grade/$$c/check; fi; \
	     points=$$(echo " $(foreach c,$(CHAPTERS),$(c)=$(call points_of,$(c))) " | sed "s/.* $$c=\([^ ]*\) .*/\1/"); \
	     args="$$args $$c=$(BUILD)/grade/$$c/check:$$log:$$srcdir:$$points"; \
	 done; \
	 PK_BIN_DIR=$(BIN_DIR) $(GRADER) --json $(BUILD)/grade/results.json \
	     --csv $(BUILD)/grade/points.csv --logs $(BUILD)/grade/logs \
	     --asan-make '$(MAKE) -s --no-print-directory BUILD=$(BUILD) SUBMISSION=$(SUBMISSION) grade-asan-prog' \
	     $(if $(GRADE_ONLY),--only $(GRADE_ONLY)) $(1) $$args
endef

# The grade build of chapter CH with AddressSanitizer and UBSan, made when
# a test crashes, so that the grader can name the line; prints its path.
grade-asan-prog: | deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan-grade SAN_KIND=asan SAN="$(ASAN_FLAGS)" \
	    $(BUILD)/asan-grade/grade/$(CH)/check >&2
	@echo $(BUILD)/asan-grade/grade/$(CH)/check

grade: $(GRADER) $(TOOL_BINS) | deps
	$(call grade_recipe,)

hint: $(GRADER) $(TOOL_BINS) | deps
	$(call grade_recipe,--hint)

# make watch's grading: stops at each chapter's first failing test.
grade-watch: $(GRADER) $(TOOL_BINS) | deps
	$(call grade_recipe,--stop-first)

watch: | deps
	@scripts/watch.sh "$(CH)"

# Batch grading: every subfolder of SUBMISSIONS is one student's chapters/.
SUBMISSIONS ?=
JOBS_GRADE  ?= 2
grade-all: $(GRADER) | deps
	@tests/grader/grade-all.sh "$(SUBMISSIONS)" "$(abspath $(BUILD))/batch" "$(JOBS_GRADE)" "$(CH)"

grade-all-check: $(GRADER) | deps
	@tests/grader/grade-all-check.sh $(BUILD)/grade-all-check

# Gradescope: build/dist/autograder.zip (see tests/grader/gradescope/).
gradescope: | deps
	@tests/grader/gradescope/package.sh "$(abspath $(BUILD))/dist"

gradescope-check: gradescope
	@tests/grader/gradescope/check.sh "$(abspath $(BUILD))/dist/autograder.zip"

check-skeletons: $(GRADER) $(TOOL_BINS) $(foreach c,$(SELECTED),$(BUILD)/skel/$(c)/check) | deps
	@PK_BIN_DIR=$(BIN_DIR) $(GRADER) --skeleton-check --logs $(BUILD)/skel/logs \
	    $(foreach c,$(SELECTED),$(c)=$(BUILD)/skel/$(c)/check)

# ---- make bench ------------------------------------------------------------------
# A chapter's benchmark measures the student's code: chapters/NN-topic (or
# $(SUBMISSION)/NN-topic). Where solutions/ exists, the reference solution is
# linked into the same program beside it: compiled with the same flags, its
# objects joined into one (ref.o) and every global symbol they define renamed
# pk_ref_NAME, so that bench.c reaches it as PK_REF(NAME) (pk/report.h) and
# times "yours" and "reference" in the same rounds. In the student handout
# there is no ref.o and PK_REF(NAME) is NULL. Symbols listed in
# NN-topic_REF_LOCAL (hooks with fixed names, such as the profiler's
# __cyg_profile_func_enter) are made local to ref.o instead of renamed.
define bench_prog
$(BUILD)/bench/$(1)/ref.o: $(addprefix solutions/$(1)/,$(call exercises,$(1))) $(call headers,$(1)) \
        $(call chapter_mk,$(1)) | deps
	@mkdir -p $$(@D)/ref
	@set -e; objs=""; for f in $(call exercises,$(1)); do \
	    o=$$(@D)/ref/$$$${f%.c}.o; \
	    echo "$$(CC) ... -c solutions/$(1)/$$$$f -o $$$$o"; \
	    $$(CC) $$(PK_CFLAGS) $$($(1)_CFLAGS) $$($(1)_BENCH_CFLAGS) $(PK_INC) -Ichapters/$(1) \
	        -c solutions/$(1)/$$$$f -o $$$$o; objs="$$$$objs $$$$o"; done; \
	 $$(CC) -r -nostdlib -o $$(@D)/ref/joined.o $$$$objs; \
	 nm -g --defined-only $$(@D)/ref/joined.o | awk '{ print $$$$3 }' \
	    | grep -vxF -e "" $(foreach s,$($(1)_REF_LOCAL),-e $(s)) \
	    | awk '{ print $$$$1 " pk_ref_" $$$$1 }' > $$(@D)/ref/syms; \
	 objcopy --redefine-syms=$$(@D)/ref/syms $(foreach s,$($(1)_REF_LOCAL),--localize-symbol=$(s)) \
	    $$(@D)/ref/joined.o $$@

$(BUILD)/bench/$(1)/bench: chapters/$(1)/bench.c $(foreach f,$(call exercises,$(1)),$(call sub_file,$(1),$(f))) \
        $(if $(HAVE_SOLUTIONS),$(BUILD)/bench/$(1)/ref.o) \
        $(call provided,$(1)) $(call headers,$(1)) $(call chapter_mk,$(1)) $($(1)_BENCH_OBJS) $($(1)_LIBS) $(LIBPK) | deps
	@mkdir -p $$(@D)
	$$(CC) $$(PK_CFLAGS) $$($(1)_CFLAGS) $$($(1)_BENCH_CFLAGS) $(PK_INC) -Ichapters/$(1) -o $$@ \
	    chapters/$(1)/bench.c $(foreach f,$(call exercises,$(1)),$(call sub_file,$(1),$(f))) \
	    $(if $(HAVE_SOLUTIONS),$(BUILD)/bench/$(1)/ref.o) \
	    $(call provided,$(1)) $($(1)_BENCH_OBJS) $($(1)_LIBS) $(LIBPK) $$(PK_LDFLAGS) \
	    $$($(1)_LDLIBS) $$($(1)_BENCH_LDLIBS) -lm
endef
$(foreach c,$(CHAPTERS),$(if $(wildcard chapters/$(c)/bench.c),$(eval $(call bench_prog,$(c)))))

# libpk's own benchmark runs first when no chapter is chosen.
# With GLib's headers installed (optional), it also times GThreadPool.
GLIB_FLAGS = $(shell pkg-config --exists glib-2.0 2>/dev/null && echo -DPK_HAVE_GLIB $$(pkg-config --cflags glib-2.0))
GLIB_LIBS  = $(shell pkg-config --exists glib-2.0 2>/dev/null && pkg-config --libs glib-2.0)
$(BUILD)/bench/libpk/bench: common/bench/bench_libpk.c $(LIBPK) | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) $(GLIB_FLAGS) $(PK_INC) -o $@ $< $(LIBPK) $(PK_LDFLAGS) $(GLIB_LIBS) -lm

bench-libpk: $(BUILD)/bench/libpk/bench
	PK_BENCH_CSV=$(BUILD)/bench/libpk.csv $(BUILD)/bench/libpk/bench

BENCHES := $(foreach c,$(SELECTED),$(if $(wildcard chapters/$(c)/bench.c),$(c)))
# The benchmark programs are rebuilt when SUBMISSION changes (as make grade's).
bench: $(if $(CH),,bench-libpk) $(TOOL_BINS) | deps
	@mkdir -p $(BUILD)/bench
	@src="$(if $(SUBMISSION),$(abspath $(SUBMISSION)),chapters)"; \
	 if [ -n "$(SUBMISSION)" ] && [ ! -d "$(SUBMISSION)" ]; then \
	     echo "SUBMISSION=$(SUBMISSION) is not a folder"; exit 2; fi; \
	 if [ "$$(cat $(BUILD)/bench/source 2>/dev/null)" != "$$src" ]; then \
	     rm -f $(foreach c,$(CHAPTERS),$(BUILD)/bench/$(c)/bench); \
	     echo "$$src" > $(BUILD)/bench/source; fi; \
	 set -e; for c in $(BENCHES); do \
	    $(MAKE) --no-print-directory $(BUILD)/bench/$$c/bench; \
	    echo "== $$c: your code in $$src/$$c$(if $(HAVE_SOLUTIONS),$(comma) beside the reference solution)"; \
	    PK_BIN_DIR=$(BIN_DIR) PK_BENCH_CSV=$(BUILD)/bench/$$c.csv $(BUILD)/bench/$$c/bench; \
	done

# ---- docs, sanitizers, valgrind, dist ----------------------------------------------
# Diagrams: docs/diagrams/NAME.dot -> docs/images/NAME.svg (committed, so
# the lessons show them on a code host too; make docs refreshes them).
DIAGRAMS := $(patsubst docs/diagrams/%.dot,docs/images/%.svg,$(wildcard docs/diagrams/*.dot))
docs/images/%.svg: docs/diagrams/%.dot | deps
	dot -Tsvg $< -o $@

diagrams: $(DIAGRAMS)

# Plots: the CSVs of `make bench` -> docs/images/plots/NN-topic-K.svg.
plots: | deps
	@scripts/plots.sh $(BUILD)/bench docs/images/plots

docs: $(DIAGRAMS) | deps
	@scripts/docs-deps.sh $(BUILD)/node
	@rm -rf $(BUILD)/docs/html && mkdir -p $(BUILD)/docs
	@PK_DOCS_SRC=$(CURDIR) PK_DOCS_OUT=$(abspath $(BUILD)/docs) doxygen docs/Doxyfile > $(BUILD)/docs/doxygen.log 2> $(BUILD)/docs/warnings.log \
	    || { cat $(BUILD)/docs/warnings.log; exit 1; }
	@if [ -s $(BUILD)/docs/warnings.log ]; then cat $(BUILD)/docs/warnings.log; exit 1; fi
	@scripts/docs-images.sh $(BUILD)/docs/html
	@scripts/docs-post.sh $(BUILD)/docs/html $(BUILD)/node
	@echo "docs: $(BUILD)/docs/html/index.html (no warnings; its search box needs HTTP: python3 -m http.server -d $(BUILD)/docs/html)"

# The docs in a real browser: headless Chromium over 127.0.0.1.
docs-check: docs $(BUILD)/bin/pk-serve
	@scripts/install-deps.sh chromium curl
	@scripts/docs-check.sh $(BUILD)/docs/html $(BUILD)/docs $(BUILD)/bin/pk-serve $(BUILD)/node

# Every command the lessons tell the student to run (see the script).
lesson-check: $(GRADER) | deps
	@scripts/lesson-lint.sh
	@scripts/lesson-commands.sh

# The instructors' site: the same, plus the reference solutions' sources.
docs-instructor: $(DIAGRAMS) | deps
	@scripts/docs-deps.sh $(BUILD)/node
	@rm -rf $(BUILD)/docs-instructor/html && mkdir -p $(BUILD)/docs-instructor
	@( cat docs/Doxyfile; \
	   echo 'OUTPUT_DIRECTORY = $(abspath $(BUILD)/docs-instructor)'; \
	   echo 'PROJECT_NAME = "Performance and parallel programming in C (instructors)"'; \
	   echo 'INPUT += solutions'; echo 'FILE_PATTERNS += *.c'; \
	   echo 'EXCLUDE_PATTERNS = */build/* */bench.c'; \
	   echo 'SOURCE_BROWSER = YES'; echo 'EXTRACT_STATIC = YES'; \
	   echo 'WARN_AS_ERROR = NO'; echo 'WARN_IF_UNDOCUMENTED = NO' ) \
	 | PK_DOCS_SRC=$(CURDIR) doxygen - > $(BUILD)/docs-instructor/doxygen.log 2>&1
	@scripts/docs-images.sh $(BUILD)/docs-instructor/html
	@scripts/docs-post.sh $(BUILD)/docs-instructor/html $(BUILD)/node
	@echo "instructors' docs: $(BUILD)/docs-instructor/html/index.html (with solutions)"

sanitize: | deps
	$(MAKE) --no-print-directory test BUILD=$(BUILD)/asan SAN_KIND=asan SAN="$(ASAN_FLAGS)"
	$(MAKE) --no-print-directory test BUILD=$(BUILD)/tsan SAN_KIND=tsan SAN="-fsanitize=thread"

valgrind: $(TEST_PROGS) $(TOOL_BINS) | deps
	@PK_BIN_DIR=$(BIN_DIR) PK_VALGRIND=1 scripts/run-tests.sh $(BUILD)/logs-valgrind $(TEST_PROGS)

# The tests of the tests: every chapter's mutants (tests/NN-topic/mutants/,
# see scripts/mutants.sh) must lose points. QUICK=1 runs only the tests that
# catch each one (what CI runs). perf-selftest runs the slow-but-correct
# mutants only: they must keep their correctness points and lose their
# performance points.
MUTANT_CHAPTERS = $(foreach c,$(SELECTED),$(if $(wildcard tests/$(c)/mutants/*.patch),$(c)))
mutants: $(GRADER) $(TOOL_BINS) | deps
	@PK_BUILD=$(BUILD) scripts/mutants.sh $(if $(QUICK),--quick) $(if $(CH),$(CH),$(MUTANT_CHAPTERS))

perf-selftest: $(GRADER) $(TOOL_BINS) | deps
	@PK_BUILD=$(BUILD) scripts/mutants.sh --kind slow $(if $(QUICK),--quick) $(if $(CH),$(CH),$(MUTANT_CHAPTERS))

# The mutants whose catch depends on timing or an interleaving ("Race:" in
# their header): their test RUNS times (default 100) on the mutant and on
# the reference; at least 99% caught, and the reference never fails.
race-rates: $(GRADER) $(TOOL_BINS) | deps
	@PK_BUILD=$(BUILD) scripts/race-rates.sh $(if $(RUNS),$(RUNS),100) $(if $(CH),$(CH),$(MUTANT_CHAPTERS))

# The reference solutions' performance tests RUNS times, on an idle machine
# (PERF_MODE=idle) or with both cores kept busy (PERF_MODE=busy): the
# reference must earn every performance point, or say "too busy".
PERF_MODE ?= idle
perf-series: | deps
	@PK_BUILD=$(BUILD) scripts/perf-series.sh $(RUNS) $(PERF_MODE)

# The whole suite RUNS times with both cores kept busy: no flaky test.
RUNS ?= 20
robustness: | deps
	@scripts/robustness.sh $(RUNS)

# A new chapter, scaffolded so that it builds and grades 0 (see authoring.md).
NAME ?=
new-chapter:
	@scripts/new-chapter.sh "$(NAME)"

new-chapter-check: | deps
	@scripts/new-chapter-check.sh

DIST_NAME := pk-course
dist: | deps
	@rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist/$(DIST_NAME)
	@git ls-files -z --cached | grep -zv '^solutions/' | grep -zv '^tests/[^/]*/mutants/' \
	    | xargs -0 -I{} cp --parents {} $(BUILD)/dist/$(DIST_NAME)/
	@tar -C $(BUILD)/dist -czf $(BUILD)/dist/$(DIST_NAME)-student.tar.gz $(DIST_NAME)
	@rm -rf $(BUILD)/dist/$(DIST_NAME)
	@echo "handout: $(BUILD)/dist/$(DIST_NAME)-student.tar.gz (no solutions/)"

dist-check: dist
	@scripts/dist-check.sh $(BUILD)/dist/$(DIST_NAME)-student.tar.gz

clean:
	rm -rf $(BUILD)
