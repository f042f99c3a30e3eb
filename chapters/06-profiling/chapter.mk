# chapter.mk - chapter 06's build settings (see docs/pages/authoring.md).

# The exercise files, one per tool: the student writes these;
# solutions/06-profiling has the reference version of each.
#   instrument.c  the instrumenting profiler (cProfile), instrument.h   core
#   sampler.c     the sampling profiler (line_profiler, perf), sampler.h core
#   alloctrack.c  the allocation tracker (memory_profiler), alloctrack.h stretch
#   flame.c       the flame graph, flame.h                               stretch
06-profiling_EXERCISES = instrument.c sampler.c alloctrack.c flame.c

# -finstrument-functions: every function of the tests and the benchmark
#   calls __cyg_profile_func_enter/exit, the instrumenting profiler's hooks.
#   The profiling code (the exercises and symbols.c) marks each of its own
#   functions PK_NO_INSTRUMENT (noinstr.h); libpk and Check are built
#   without the flag.
# -fno-omit-frame-pointer: the sampling profiler walks the stack through the
#   frame-pointer chain.
# -rdynamic: puts the program's functions in the dynamic symbol table, so
#   dladdr() can name them when addr2line is missing.
# Provided, complete code: symbols.c (addresses to names and lines); the
# headers noinstr.h (PK_NO_INSTRUMENT) and addrhash.h (the address hash
# that instrument.c and alloctrack.c share) have no .c file.
06-profiling_PROVIDED = symbols.c
06-profiling_CFLAGS   = -finstrument-functions -fno-omit-frame-pointer
06-profiling_LDLIBS   = -rdynamic

# The workload of bench/hotspots.c, compiled twice under the name prefixes
# plain_ and instr_ (see bench/hotspots.h): plain_ without
# -finstrument-functions, the baseline of the performance tests and the
# benchmark; instr_ with it, so that its calls reach the hooks.
06-profiling_HOT = chapters/06-profiling/bench/hotspots.c chapters/06-profiling/bench/hotspots.h
06-profiling_HOT_OBJS = $(BUILD)/obj/06-profiling/hot_plain.o \
                        $(BUILD)/obj/06-profiling/hot_instr.o
06-profiling_TEST_OBJS = $(06-profiling_HOT_OBJS)

$(BUILD)/obj/06-profiling/hot_plain.o: $(06-profiling_HOT)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-omit-frame-pointer -DHOT_NO_MAIN -DHOT_PREFIX=plain_ -c $< -o $@

$(BUILD)/obj/06-profiling/hot_instr.o: $(06-profiling_HOT)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-omit-frame-pointer -finstrument-functions -DHOT_NO_MAIN \
	    -DHOT_PREFIX=instr_ -c $< -o $@

# The benchmark times the student's profiler and, where solutions/ exists,
# the reference's, in the same rounds. The reference is linked into the
# benchmark with every global name renamed pk_ref_NAME (see the Makefile's
# bench_prog), its hooks too: pk_ref___cyg_profile_func_enter/exit, so the
# instr_ code above calls the student's hooks, never the reference's. To
# time the reference's hooks, a third copy of the workload (prefix
# refinstr_) has its hook calls redirected to those renamed hooks by
# objcopy. That is why 06-profiling_REF_LOCAL is not set: made local, the
# reference's hooks could not be reached at all. The handout has no
# solutions/, hence no ref.o and no refinstr_ copy (bench.c declares it weak).
06-profiling_REF_HOOKS = --redefine-sym __cyg_profile_func_enter=pk_ref___cyg_profile_func_enter \
                         --redefine-sym __cyg_profile_func_exit=pk_ref___cyg_profile_func_exit
06-profiling_BENCH_OBJS = $(06-profiling_HOT_OBJS) \
    $(if $(wildcard solutions/06-profiling),$(BUILD)/bench/06-profiling/hot_refinstr.o)

$(BUILD)/bench/06-profiling/hot_refinstr.o: $(06-profiling_HOT)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-omit-frame-pointer -finstrument-functions -DHOT_NO_MAIN \
	    -DHOT_PREFIX=refinstr_ -c $< -o $@.tmp
	objcopy $(06-profiling_REF_HOOKS) $@.tmp $@ && rm -f $@.tmp

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
06-profiling_POINTS = 150
