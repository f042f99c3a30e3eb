# chapter.mk - chapter 07's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/07-capstone has
# the reference version of each.
07-capstone_EXERCISES = capstone.c

# The OpenMP driver needs -fopenmp when compiling and linking (gcc links
# libgomp, clang links libomp from libomp-dev).
#
# Under ThreadSanitizer (make sanitize, SAN_KIND=tsan) the chapter is built
# WITHOUT OpenMP: libgomp is not instrumented, so TSan cannot see the
# synchronisation inside its barriers and reports races on the parallel
# region's arguments that are not there (false positives). Without -fopenmp
# the pragma is ignored and capstone_run_omp() runs its loop on one thread,
# which keeps TSan checking everything else in the chapter, the thread-pool
# driver above all. ASan, UBSan and valgrind see the real OpenMP build.
ifeq ($(SAN_KIND),tsan)
07-capstone_CFLAGS = -Wno-unknown-pragmas
07-capstone_LDLIBS =
else
07-capstone_CFLAGS = -fopenmp
07-capstone_LDLIBS = -fopenmp
endif

# The benchmark is built for the machine it runs on, so that the compiler may
# use AVX2 for the item function's inner loop (the lesson shows the
# difference). The tests keep the portable default.
07-capstone_BENCH_CFLAGS = -march=native
