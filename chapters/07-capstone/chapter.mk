# chapter.mk - build settings of chapter 07 (see docs/pages/authoring.md).
#
# The OpenMP driver needs -fopenmp when compiling and linking (gcc links
# libgomp, clang links libomp from libomp-dev).
07-capstone_CFLAGS := -fopenmp
07-capstone_LDLIBS := -fopenmp
# The benchmark is built for the machine it runs on, so that the compiler may
# use AVX2 for the item function's inner loop (the lesson shows the
# difference). The tests keep the portable default.
07-capstone_BENCH_CFLAGS := -march=native
