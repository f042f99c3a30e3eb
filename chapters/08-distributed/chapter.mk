# chapter.mk - chapter 08's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/08-distributed has
# the reference version of each.
#   split.c  who gets which items (no MPI: the tests call it directly)
#   dist.c   the MPI code: ring, ping-pong, static and dynamic maps, errors
08-distributed_EXERCISES = split.c dist.c

# Provided, complete code compiled into every build (no MPI in either):
# job.c, the workload; launch.c, mpirun as a child with a time limit.
08-distributed_PROVIDED = job.c launch.c

# Open MPI's headers for every build; its library only for the MPI program.
# The test program and the benchmark are not MPI programs: they include
# dist.h (for the types) and compile dist.c, but never call its functions,
# so -ffunction-sections with --gc-sections drops that code, and with it
# every reference to libmpi. The chapter's MPI program, distjob (distjob.c
# and your files), is the "auxiliary program" the tests run through mpirun
# (the Makefile builds it for each variant into the folder PK_AUX_DIR).
# OpenMP: the hybrid map (threads inside a rank).
D08_MPI_CFLAGS = $(shell pkg-config --cflags ompi-c)
D08_MPI_LIBS   = $(shell pkg-config --libs ompi-c)
08-distributed_CFLAGS = $(D08_MPI_CFLAGS) -fopenmp -ffunction-sections -fdata-sections \
    -DDIST_CHAPTER_DIR='"$(abspath chapters/08-distributed)"'
08-distributed_LDLIBS = -fopenmp -Wl,--gc-sections

08-distributed_AUX = distjob
08-distributed_AUX_distjob_SRCS = chapters/08-distributed/distjob.c
08-distributed_AUX_distjob_LDLIBS = $(D08_MPI_LIBS)

# ThreadSanitizer: Open MPI's libraries and its progress threads are not
# instrumented, and libgomp's barriers are not either (see chapter 05): TSan
# would report races inside them. The MPI ranks are separate processes, and
# the test program has one thread, so TSan has nothing of ours to check.
08-distributed_NO_TSAN = Open MPI and libgomp are not built with TSan (false races inside them); the ranks are processes, and the test program has one thread

# The benchmark (bench.c) is not an MPI program either: it starts distjob
# built from your files (build/.../bench/08-distributed/distjob) and, where
# solutions/ exists, distjob built from the reference (distjob-ref) through
# mpirun, and times them beside libpk's thread and process pools.
D08_BENCH    = $(BUILD)/bench/08-distributed
D08_HDRS     = $(wildcard chapters/08-distributed/*.h) chapters/08-distributed/chapter.mk
D08_LINK     = $(CC) $(PK_CFLAGS) $(08-distributed_CFLAGS) -Icommon/include -Ichapters/08-distributed \
               -o $@ $(filter %.c %.a,$^) $(PK_LDFLAGS) $(08-distributed_LDLIBS) $(D08_MPI_LIBS) -lm

08-distributed_BENCH_CFLAGS = -DDIST_BENCH_DIR='"$(abspath $(D08_BENCH))"'

# The student's copy of an exercise file: the Makefile's sub_file, which is
# defined after the chapter.mk files are read, too late for a prerequisite
# list (those are expanded as the rule is read).
D08_SUB = $(if $(and $(SUBMISSION),$(wildcard $(SUBMISSION)/08-distributed/$(1))),$(SUBMISSION)/08-distributed/$(1),chapters/08-distributed/$(1))

# $(BUILD)/bench/source and $(BUILD)/grade/source name the folder the
# student's files came from (make bench and make grade rewrite them when it
# changes): depending on them rebuilds the MPI programs when SUBMISSION
# changes, even if the new files are older than the program.
$(D08_BENCH)/distjob: chapters/08-distributed/distjob.c $(call D08_SUB,split.c) \
        $(call D08_SUB,dist.c) chapters/08-distributed/job.c $(LIBPK) \
        $(D08_HDRS) $(wildcard $(BUILD)/bench/source) | deps
	@mkdir -p $(@D)
	$(D08_LINK)

$(D08_BENCH)/distjob-ref: chapters/08-distributed/distjob.c solutions/08-distributed/split.c \
        solutions/08-distributed/dist.c chapters/08-distributed/job.c $(LIBPK) $(D08_HDRS) | deps
	@mkdir -p $(@D)
	$(D08_LINK)

# The benchmark program needs the MPI programs beside it.
$(D08_BENCH)/bench: $(D08_BENCH)/distjob $(if $(wildcard solutions/08-distributed),$(D08_BENCH)/distjob-ref)

$(BUILD)/grade/08-distributed/aux/distjob: $(wildcard $(BUILD)/grade/source)

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
08-distributed_POINTS = 100
