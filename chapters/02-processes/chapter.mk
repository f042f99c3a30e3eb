# chapter.mk - chapter 02's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/02-processes has
# the reference version of each.
02-processes_EXERCISES = processes.c

# pipe_io.c (reading and writing a pipe in full) is provided, complete
# code: compiled into every build, never an exercise.
02-processes_PROVIDED = pipe_io.c

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
02-processes_POINTS = 100
