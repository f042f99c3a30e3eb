# chapter.mk - chapter 04's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/04-jit has the
# reference version of each.
04-jit_EXERCISES = vm.c jit.c

# asm.c (assembler and verifier) and x86.c (the x86-64 encoder) are
# provided, complete code: compiled into every build, never exercises.
04-jit_PROVIDED = asm.c x86.c

# The benchmark's native baseline: the sum-of-squares loop in C, built the
# way the issue asks (-O2, no vectorisation, so that gcc and the JIT run the
# same scalar loop), in its own object so bench.c's flags do not apply.
04-jit_BENCH_OBJS = $(BUILD)/bench/04-jit/cloop.o

$(BUILD)/bench/04-jit/cloop.o: chapters/04-jit/bench/cloop.c chapters/04-jit/bench/cloop.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra $(WERROR) -O2 -fno-tree-vectorize -c $< -o $@
