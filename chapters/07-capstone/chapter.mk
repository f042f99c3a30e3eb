# chapter.mk - chapter 07's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/07-capstone has
# the reference version of each. capstone.c comes first: the tests read
# REPORT.md from the folder it came from (PK_SRC_DIR), which is the
# student's folder, or the submission's.
#   capstone.c  the data, the item functions, the four drivers, the reduce
#   pool.c      the thread pool with futures (pool.h)
#   procmap.c   the chunked process map (procmap.h)
07-capstone_EXERCISES = capstone.c pool.c procmap.c

# The OpenMP driver needs -fopenmp when compiling and linking (gcc links
# libgomp, clang links libomp from libomp-dev).
#
# Under ThreadSanitizer (make sanitize, SAN_KIND=tsan) the chapter is built
# WITHOUT OpenMP: libgomp is not instrumented, so TSan cannot see the
# synchronisation inside its barriers and reports races on the parallel
# region's arguments that are not there (false positives). Without -fopenmp
# the pragma is ignored and capstone_run_omp() runs its loop on one thread,
# which keeps TSan checking everything else in the chapter, the thread pool
# above all. ASan, UBSan and valgrind see the real OpenMP build.
ifeq ($(SAN_KIND),tsan)
07-capstone_CFLAGS = -Wno-unknown-pragmas
07-capstone_LDLIBS =
else
07-capstone_CFLAGS = -fopenmp
07-capstone_LDLIBS = -fopenmp
endif

# The benchmark is built for the machine it runs on, so that the compiler may
# use AVX2 for the item function's inner loop (the lesson shows the
# difference). The tests keep the portable default. With GLib's headers
# installed (libglib2.0-dev, optional) the benchmark also times GThreadPool
# beside the two pools (GLIB_FLAGS and GLIB_LIBS come from the Makefile).
07-capstone_BENCH_CFLAGS = -march=native $(GLIB_FLAGS)
07-capstone_BENCH_LDLIBS = $(GLIB_LIBS)

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
07-capstone_POINTS = 150
