/**
 * @file pipe_io.h
 * @brief Provided plumbing for chapter 02: reading and writing a pipe in
 *        full, however the kernel splits the bytes (not an exercise).
 *
 * A pipe gives no promise that one write() moves the whole buffer or that
 * one read() returns all that was written: both loop until done, and both
 * retry when a signal interrupts them (EINTR).
 */
#ifndef PIPE_IO_H
#define PIPE_IO_H

#include <stddef.h>
#include <sys/types.h>

/**
 * @brief Write all @p len bytes of @p buf to @p fd.
 * @param fd a file descriptor open for writing (a pipe's write end).
 * @param buf the bytes.
 * @param len how many; 0 writes nothing.
 * @return 0, or -1 with errno from write() (EPIPE when the reader is gone).
 */
int proc_write_all(int fd, const void *buf, size_t len);

/**
 * @brief Read @p fd until end of file; keep the first @p cap bytes in
 *        @p buf and count all of them.
 * @param fd a file descriptor open for reading (a pipe's read end).
 * @param buf room for @p cap bytes.
 * @param cap how many bytes to keep.
 * @return the number of bytes the writer sent (which may be more than
 *         @p cap: the rest was read and dropped), or -1 with errno from
 *         read().
 */
ssize_t proc_read_until_eof(int fd, void *buf, size_t cap);

#endif /* PIPE_IO_H */
