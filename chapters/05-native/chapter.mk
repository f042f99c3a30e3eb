# chapter.mk - chapter 05's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/05-native has the
# reference version of each.
05-native_EXERCISES = native.c

# OpenMP for the exercises, their tests and the benchmark. gcc links libgomp;
# clang finds libomp (Debian's libomp-dev).
05-native_CFLAGS = -fopenmp
05-native_LDLIBS = -fopenmp

# libgomp is not built with -fsanitize=thread: TSan cannot see the
# synchronisation inside its barriers and thread pool and reports races on
# every reduction and every `omp for` (false positives, measured with gcc 12).
# clang with LLVM's Archer (libarcher.so, an OMPT tool) can check this
# chapter: the lesson's step 5 says how.
05-native_NO_TSAN = libgomp is not instrumented for TSan, which then reports false races inside every OpenMP barrier (clang + LLVM Archer can: see the lesson, step 5)

# OpenBLAS's dgemm is the line the matrix-multiply ladder tries to reach.
05-native_BENCH_LDLIBS = -lopenblas

# The plain loops of exercise 1 (bench/novec.c), compiled three ways for
# the benchmark, because flags apply per file: the baseline with the
# vectoriser off, -O3, and -O3 -ffast-math with AVX2 (Numba's fastmath=True).
# They live in bench/, with everything else only the benchmark builds.
05-native_BENCH_OBJS = $(addprefix $(BUILD)/bench/05-native/,novec.o o3.o fast.o)

# The performance test of the SIMD sum of squares compares it with the
# same baseline, linked into every test program (sol, skel, grade).
05-native_TEST_OBJS = $(BUILD)/bench/05-native/novec.o

$(BUILD)/bench/05-native/novec.o: chapters/05-native/bench/novec.c | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-tree-vectorize -fno-tree-slp-vectorize -DPK_PREFIX=novec_ -c $< -o $@

$(BUILD)/bench/05-native/o3.o: chapters/05-native/bench/novec.c | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -O3 -DPK_PREFIX=o3_ -c $< -o $@

$(BUILD)/bench/05-native/fast.o: chapters/05-native/bench/novec.c | deps
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -O3 -ffast-math -mavx2 -mfma -DPK_PREFIX=fast_ -c $< -o $@

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
05-native_POINTS = 150
