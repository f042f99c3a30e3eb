/**
 * @file pk/proc.h
 * @brief Small process helpers that every fork-based piece of the course needs.
 */
#ifndef PK_PROC_H
#define PK_PROC_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief waitpid(2) that retries when a signal interrupts it (EINTR).
 * @param pid the child to wait for (or -1 for any, as waitpid).
 * @param status receives the wait status; may be NULL.
 * @param options as waitpid (0, WNOHANG, ...).
 * @return what waitpid returned: the pid, 0 (WNOHANG and still running), or
 *         -1 with errno (ECHILD: not a child, or already reaped; EINVAL).
 *
 * A blocking system call returns EINTR when a signal handler installed
 * without SA_RESTART runs while it waits. A caller that treats that as
 * failure loses track of the child, which stays a zombie.
 */
pid_t pk_waitpid(pid_t pid, int *status, int options);

#ifdef __cplusplus
}
#endif

#endif /* PK_PROC_H */
