# chapter.mk - chapter 00's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/00-warmup has the
# reference version of each.
00-warmup_EXERCISES = warmup.c

# The benchmark builds the loop twice more: at -O0, and at -O2 without the
# vectoriser, with every public name given a suffix so the three copies can
# live in one program.
W00_DIR  = $(BUILD)/bench/00-warmup
W00_SYMS  = $(foreach f,warmup_sum_squares warmup_sum_squares_closed warmup_median warmup_measure,-D$(f)=$(f)_$(1))

00-warmup_BENCH_OBJS = $(W00_DIR)/warmup_O0.o $(W00_DIR)/warmup_novec.o

$(W00_DIR)/warmup_O0.o: solutions/00-warmup/warmup.c chapters/00-warmup/warmup.h | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O0 -g -Icommon/include -Ichapters/00-warmup $(call W00_SYMS,O0) -c $< -o $@

$(W00_DIR)/warmup_novec.o: solutions/00-warmup/warmup.c chapters/00-warmup/warmup.h | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -fno-tree-vectorize -g -Icommon/include -Ichapters/00-warmup $(call W00_SYMS,novec) -c $< -o $@
