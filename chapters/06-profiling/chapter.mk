# chapter.mk - build settings of chapter 06 (see the Makefile's "Per-chapter
# settings").
#
# -finstrument-functions: every function of the tests and the benchmark
#   calls __cyg_profile_func_enter/exit, the instrumenting profiler's hooks.
#   The profiler (profiler.c, symbols.c) marks each of its own functions
#   PK_NO_INSTRUMENT; libpk and Check are built without the flag.
# -fno-omit-frame-pointer: the sampling profiler walks the stack through the
#   frame-pointer chain.
# -rdynamic: puts the program's functions in the dynamic symbol table, so
#   dladdr() can name them when addr2line is missing.
06-profiling_PROVIDED := symbols.c
06-profiling_CFLAGS   := -finstrument-functions -fno-omit-frame-pointer
06-profiling_LDLIBS   := -rdynamic
