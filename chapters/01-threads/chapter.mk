# chapter.mk - chapter 01's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/01-threads has the
# reference version of each.
01-threads_EXERCISES = threads.c
