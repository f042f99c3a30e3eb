/* pipe_io.c - provided plumbing for chapter 02 (see pipe_io.h). */
#include "pipe_io.h"

#include <errno.h>
#include <unistd.h>

int proc_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

ssize_t proc_read_until_eof(int fd, void *buf, size_t cap)
{
    char *p = buf, sink[4096];
    size_t got = 0;

    for (;;) {
        /* Past cap, read into a scratch buffer just to see the EOF. */
        void *dst = got < cap ? p + got : sink;
        size_t room = got < cap ? cap - got : sizeof sink;
        ssize_t r = read(fd, dst, room);
        if (r == 0)
            return (ssize_t)got;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
}
