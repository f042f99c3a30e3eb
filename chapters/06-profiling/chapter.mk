# chapter.mk - chapter 06's build settings (see docs/pages/authoring.md).

# The exercise files, one per tool: the student writes these;
# solutions/06-profiling has the reference version of each.
#   instrument.c  the instrumenting profiler (cProfile), instrument.h
#   sampler.c     the sampling profiler (line_profiler, perf), sampler.h
#   alloctrack.c  the allocation tracker (memory_profiler), alloctrack.h
#   flame.c       the flame graph, flame.h
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

# The benchmark links the workload of bench/hotspots.c twice: plain (the
# baseline) and with -finstrument-functions, under the name prefixes plain_
# and instr_ (see bench/hotspots.h).
06-profiling_HOT = chapters/06-profiling/bench/hotspots.c chapters/06-profiling/bench/hotspots.h
06-profiling_BENCH_OBJS = $(BUILD)/bench/06-profiling/hot_plain.o \
                           $(BUILD)/bench/06-profiling/hot_instr.o

$(BUILD)/bench/06-profiling/hot_plain.o: $(06-profiling_HOT)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-omit-frame-pointer -DHOT_NO_MAIN -DHOT_PREFIX=plain_ -c $< -o $@

$(BUILD)/bench/06-profiling/hot_instr.o: $(06-profiling_HOT)
	@mkdir -p $(@D)
	$(CC) $(PK_CFLAGS) -fno-omit-frame-pointer -finstrument-functions -DHOT_NO_MAIN \
	    -DHOT_PREFIX=instr_ -c $< -o $@
