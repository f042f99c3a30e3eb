# chapter.mk - chapter 02's build settings (read by the top Makefile).
#
# pipe_io.c (reading and writing a pipe in full) is provided, complete
# code: compiled into every build, never an exercise.
02-processes_PROVIDED := pipe_io.c
