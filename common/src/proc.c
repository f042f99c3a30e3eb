/* proc.c - process helpers (see pk/proc.h). */
#include "pk/proc.h"

#include <errno.h>
#include <sys/wait.h>

pid_t pk_waitpid(pid_t pid, int *status, int options)
{
    pid_t w;
    while ((w = waitpid(pid, status, options)) < 0 && errno == EINTR)
        ;
    return w;
}
