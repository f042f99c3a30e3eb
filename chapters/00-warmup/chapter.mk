# chapter.mk - chapter 00's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/00-warmup has the
# reference version of each.
00-warmup_EXERCISES = warmup.c

W00_DIR = $(BUILD)/bench/00-warmup

# bench/sumsq.c, the loop kept a loop whatever the compiler: the baseline of
# the closed-form performance test (linked into every test program), and at
# -O0 the first row of the benchmark.
00-warmup_TEST_OBJS = $(W00_DIR)/sumsq.o

$(W00_DIR)/sumsq.o: chapters/00-warmup/bench/sumsq.c | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -c $< -o $@

$(W00_DIR)/sumsq_O0.o: chapters/00-warmup/bench/sumsq.c | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -O0 -g -DSUMSQ_NAME=sumsq_loop_O0 -c $< -o $@

# The benchmark also builds your warmup.c (chapters/, or SUBMISSION's) twice
# more, at -O0 and at -O2 without the vectoriser, and, where solutions/
# exists, the reference the same two ways. Flags apply per file, so each
# build is its own object; every global name it defines then gets a suffix
# (warmup_sum_squares -> warmup_sum_squares_O0, and pk_ref_..._O0 for the
# reference) so that all of them live in one program beside the -O2 builds
# that make bench links anyway. $(BUILD)/bench/source changes when
# SUBMISSION does: your objects are rebuilt then.
W00_O0    = -O0
W00_NOVEC = -O2 -fno-tree-vectorize
# Your copy: the Makefile's $(call sub_file,00-warmup,warmup.c), spelled
# out because sub_file is defined after the chapter.mk files are read, too
# late for a prerequisite list (expanded as the rule is read).
W00_YOURS = $(if $(and $(SUBMISSION),$(wildcard $(SUBMISSION)/00-warmup/warmup.c)),$(SUBMISSION)/00-warmup/warmup.c,chapters/00-warmup/warmup.c)
W00_REF   = $(wildcard solutions/00-warmup/warmup.c)

00-warmup_BENCH_OBJS = $(W00_DIR)/sumsq_O0.o $(W00_DIR)/yours_O0.o $(W00_DIR)/yours_novec.o \
                       $(if $(W00_REF),$(W00_DIR)/ref_O0.o $(W00_DIR)/ref_novec.o)

# $(call w00_build,FLAGS,RENAME): compile $< with FLAGS into $@, renaming
# every global NAME it defines to RENAME (an awk expression of NAME, $$3).
define w00_build
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(1) -g -Icommon/include -Ichapters/00-warmup -c $< -o $(@:.o=.raw.o)
	nm -g --defined-only $(@:.o=.raw.o) | awk '{ print $$3 " " $(2) }' > $(@:.o=.syms)
	objcopy --redefine-syms=$(@:.o=.syms) $(@:.o=.raw.o) $@
endef

$(W00_DIR)/yours_O0.o: $(W00_YOURS) chapters/00-warmup/warmup.h $(wildcard $(BUILD)/bench/source) | deps
	$(call w00_build,$(W00_O0),$$3 "_O0")

$(W00_DIR)/yours_novec.o: $(W00_YOURS) chapters/00-warmup/warmup.h $(wildcard $(BUILD)/bench/source) | deps
	$(call w00_build,$(W00_NOVEC),$$3 "_novec")

$(W00_DIR)/ref_O0.o: $(W00_REF) chapters/00-warmup/warmup.h | deps
	$(call w00_build,$(W00_O0),"pk_ref_" $$3 "_O0")

$(W00_DIR)/ref_novec.o: $(W00_REF) chapters/00-warmup/warmup.h | deps
	$(call w00_build,$(W00_NOVEC),"pk_ref_" $$3 "_novec")

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
00-warmup_POINTS = 20
