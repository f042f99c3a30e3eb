# chapter.mk - build settings of chapter 05 (see docs/pages/authoring.md).

# OpenMP for the exercises, their tests and the benchmark. gcc links libgomp;
# clang finds libomp (Debian's libomp-dev).
05-native_CFLAGS := -fopenmp
05-native_LDLIBS := -fopenmp

# libgomp is not built with -fsanitize=thread: TSan cannot see the
# synchronisation inside its barriers and thread pool and reports races on
# every reduction and every `omp for` (false positives, measured with gcc 12).
05-native_NO_TSAN := libgomp is not instrumented for TSan, which then reports false races inside every OpenMP barrier

# OpenBLAS's dgemm is the line the matrix-multiply ladder tries to reach.
05-native_BENCH_LDLIBS := -lopenblas

# The baseline of the SIMD benchmarks: the plain loops compiled with the
# vectoriser off, in their own object because flags apply per file.
# It lives in baseline/ so that the Makefile does not take it for an exercise.
05-native_BENCH_OBJS := $(BUILD)/bench/05-native/novec.o

$(BUILD)/bench/05-native/novec.o: chapters/05-native/baseline/novec.c | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-tree-vectorize -fno-tree-slp-vectorize -c $< -o $@
