# chapter.mk - chapter 04's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/04-jit has the
# reference version of each.
04-jit_EXERCISES = vm.c jit.c

# asm.c (assembler and verifier) and x86.c (the x86-64 encoder) are
# provided, complete code: compiled into every build, never exercises.
04-jit_PROVIDED = asm.c x86.c

# Code placement. On the course's machine the same interpreter source ran
# 0.9x to 2.2x as fast with computed goto as with a switch, depending only
# on the address the linker gave it (the lesson's section 5 shows how). So
# that the performance tests and the benchmark measure your code and not
# its address, gcc builds start every function and every jump target on a
# 64-byte boundary. clang has no -falign-jumps; its builds are left alone
# (and test_jit_perf_threaded does not score them, see the test).
04-jit_IS_CLANG = $(shell $(CC) --version 2>/dev/null | grep -qi clang && echo 1)
04-jit_CFLAGS = $(if $(04-jit_IS_CLANG),,-falign-functions=64 -falign-jumps=64)

# The native baseline of the benchmark and of the performance test "JIT
# within 2x of C": the sum-of-squares loop in C (bench/cloop.c), built -O2
# -fno-tree-vectorize so that gcc and the JIT run the same scalar loop, in
# an object of its own so that neither the test's nor bench.c's flags
# (sanitizers, -O0) apply to it. One object serves both.
04-jit_CLOOP = $(BUILD)/obj/04-jit/cloop.o
04-jit_TEST_OBJS = $(04-jit_CLOOP)
04-jit_BENCH_OBJS = $(04-jit_CLOOP)

$(BUILD)/obj/04-jit/cloop.o: chapters/04-jit/bench/cloop.c chapters/04-jit/bench/cloop.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra $(WERROR) -O2 -fno-tree-vectorize -c $< -o $@

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
04-jit_POINTS = 170
