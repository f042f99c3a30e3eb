# chapter.mk - chapter 03 links libcurl. Recursively expanded (=, not :=) so
# that pkg-config runs when a recipe needs it, after `make deps` has
# installed libcurl4-openssl-dev on a fresh machine.
03-async_CFLAGS = $(shell pkg-config --cflags libcurl)
03-async_LDLIBS = $(shell pkg-config --libs libcurl)
