# chapter.mk - chapter 03's build settings (see docs/pages/authoring.md).

# The exercise files: the student writes these; solutions/03-async has the
# reference version of each.
03-async_EXERCISES = fetch.c

# libcurl, and the loopback HTTP server the tests and the benchmark talk to
# (common/httpd/pk_httpd.h). pkg-config runs when a recipe needs it (every
# chapter variable is recursively expanded, `=`), after `make deps` has
# installed libcurl4-openssl-dev on a fresh machine.
03-async_CFLAGS = -Icommon/httpd $(shell pkg-config --cflags libcurl)
03-async_LDLIBS = $(shell pkg-config --libs libcurl)
03-async_LIBS   = $(LIBHTTPD)

# The chapter's points in the course total: 10 per hour of the lesson's
# estimate (the midpoint of core and stretch together); see the README.
03-async_POINTS = 90
