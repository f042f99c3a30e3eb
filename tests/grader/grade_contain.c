/* grade_contain.c - what a test's code may do, and what stops it.
 *
 *   crash, abort, early exit      the evidence line is missing: 0 points
 *   endless loop, sleep forever   wall-clock timeout, then SIGKILL (which no
 *                                 handler or mask can stop); RLIMIT_CPU too
 *   flood stdout/stderr, huge     output goes to a file; RLIMIT_FSIZE kills
 *   file                          the writer with SIGXFSZ
 *   allocate without end          RLIMIT_AS (hard: the test cannot raise it)
 *   fork bomb                     a pids cgroup with pids.max when the grader
 *                                 may create one (root), else RLIMIT_NPROC
 *   kill the parent, setsid()     a PID namespace (root or user namespaces):
 *   children, stray threads and   the test sees only its own processes, and
 *   processes                     when the namespace's init exits the kernel
 *                                 kills everything left in it
 *   fake "100%: Checks" output    stdout is never read for the score
 *   litter /tmp, meet another     a TMPDIR of its own per test, removed
 *   test's files there            after it (grade_run.c)
 *
 * Without a PID namespace the grader falls back to a process group of its
 * own (setsid) and kills that; a child that calls setsid() then escapes.
 *
 * Every limit is checked: a limit that cannot be set stops the grading run
 * with an error (grading without it would be grading unprotected), except
 * that a limit the grader's own hard limit already makes stricter is kept
 * at that stricter value.
 */
#include "grade.h"
#include "pk/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_LIMIT (256L << 20)       /* a file a test writes: at most 256 MiB
                                         (Check's own message file grows with
                                         every passing assertion) */
#define MEM_LIMIT_MB 4096             /* address space per test (PK_GRADE_MEM_MB) */
#define MAX_TASKS 1024                /* processes + threads (PK_GRADE_MAX_PROCS) */
#define CPU_SLACK_S 2                 /* CPU seconds beyond the wall timeout */
#define KILL_ROUNDS 1000              /* cgroup sweeps before giving up */
#define EXIT_CONTAIN 126              /* the child could not be contained */
#define EXIT_EXEC 127                 /* exec failed */

static int use_pidns = 1;           /* cleared when unshare() is refused */
static char cgroup_dir[256];        /* "" when no pids cgroup is available */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t k = write(fd, text, strlen(text));
    close(fd);
    return k == (ssize_t)strlen(text) ? 0 : -1;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return (v != NULL && *v != '\0') ? atol(v) : dflt;
}

/* A pids cgroup (v1 or v2) for the tests of this grader run, if we may. */
void contain_init(int allow_pidns)
{
    const char *bases[] = {"/sys/fs/cgroup/pids", "/sys/fs/cgroup"};
    char file[300], max[32];

    use_pidns = allow_pidns;
    snprintf(max, sizeof max, "%ld", env_long("PK_GRADE_MAX_PROCS", MAX_TASKS));
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        snprintf(cgroup_dir, sizeof cgroup_dir, "%s/pk-grade-%ld", bases[i],
                 (long)getpid());
        if (mkdir(cgroup_dir, 0755) != 0)
            continue;
        snprintf(file, sizeof file, "%s/pids.max", cgroup_dir);
        if (write_file(file, max) == 0)
            return;
        rmdir(cgroup_dir);
    }
    cgroup_dir[0] = '\0';
}

/* SIGKILL every process left in the cgroup, until it is empty. */
void contain_kill_all(void)
{
    char file[300], line[32];

    if (cgroup_dir[0] == '\0')
        return;
    snprintf(file, sizeof file, "%s/cgroup.procs", cgroup_dir);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        FILE *f = fopen(file, "r");
        int any = 0;
        if (f == NULL)
            return;
        while (fgets(line, sizeof line, f)) {
            kill((pid_t)atol(line), SIGKILL);
            any = 1;
        }
        fclose(f);
        if (!any)
            return;
        usleep(1000);
    }
}

void contain_cleanup(void)
{
    if (cgroup_dir[0] == '\0')
        return;
    contain_kill_all();
    for (int i = 0; i < 100 && rmdir(cgroup_dir) != 0 && errno == EBUSY; i++)
        usleep(10000);
}

/* The status a contained test's init passes up: exit code c, or 128 + s for
 * signal s (an init cannot die by the signals it would forward). */
static int encode_status(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In the child: report why it cannot be contained, and stop. */
static void fail_contain(int err_fd, const char *what, int err)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    if (n > 0 && write(err_fd, msg, (size_t)n) < 0)
        _exit(EXIT_CONTAIN);
    _exit(EXIT_CONTAIN);
}

/* setrlimit(res) to `want` for both limits, or to the hard limit already
 * in force when that is lower (stricter). */
static void set_limit(int res, rlim_t want, const char *name, int err_fd)
{
    struct rlimit cur;
    if (getrlimit(res, &cur) != 0)
        fail_contain(err_fd, name, errno);
    if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < want)
        want = cur.rlim_max;
    struct rlimit lim = {want, want};
    if (setrlimit(res, &lim) != 0) {
        char what[64];
        snprintf(what, sizeof what, "cannot set %s", name);
        fail_contain(err_fd, what, errno);
    }
}

/* In the forked child: limits, then either exec the test directly or, in a
 * new PID namespace, become a tiny init that runs it as pid 2. */
void contain_exec(char *const argv[], double timeout, int err_fd)
{
    if (setsid() < 0) /* own session and process group: killable as a whole */
        fail_contain(err_fd, "setsid", errno);
    if (cgroup_dir[0] != '\0') {
        char file[300];
        snprintf(file, sizeof file, "%s/cgroup.procs", cgroup_dir);
        if (write_file(file, "0") != 0) /* "0": the writing process itself */
            fail_contain(err_fd, "joining the pids cgroup", errno);
    }
    long mem_mb = env_long("PK_GRADE_MEM_MB", MEM_LIMIT_MB);
    set_limit(RLIMIT_CPU, (rlim_t)timeout + CPU_SLACK_S, "RLIMIT_CPU", err_fd);
    set_limit(RLIMIT_FSIZE, FILE_LIMIT, "RLIMIT_FSIZE", err_fd);
    set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err_fd);
    if (mem_mb > 0)
        set_limit(RLIMIT_AS, (rlim_t)mem_mb << 20, "RLIMIT_AS", err_fd);
    if (cgroup_dir[0] == '\0') /* not enforced for root: the cgroup comes first */
        set_limit(RLIMIT_NPROC, (rlim_t)env_long("PK_GRADE_MAX_PROCS", MAX_TASKS),
                  "RLIMIT_NPROC", err_fd);

    /* A mount namespace too, when allowed, so that the namespace gets a /proc
     * of its own: code that reads /proc/<getpid()>/... (libomp after fork)
     * must find itself there. */
    int newns = use_pidns && unshare(CLONE_NEWPID | CLONE_NEWNS) == 0;
    if (!newns && use_pidns && unshare(CLONE_NEWPID) == 0)
        newns = 1;
    if (newns) {
        pid_t init = fork(); /* pid 1 of the new namespace */
        if (init == 0) {
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
            pid_t test = fork();
            if (test == 0) {
                execv(argv[0], argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(EXIT_EXEC);
            }
            /* Reap orphans until the test itself is done; returning then
             * makes the kernel kill whatever is left in the namespace. */
            int st = 0;
            for (;;) {
                pid_t w = pk_waitpid(-1, &st, 0);
                if (w == test || w < 0)
                    break;
            }
            _exit(test > 0 ? encode_status(st) : EXIT_CONTAIN);
        }
        int st = 0;
        if (init < 0 || pk_waitpid(init, &st, 0) < 0)
            fail_contain(err_fd, "starting the namespace's init", errno);
        _exit(encode_status(st));
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(EXIT_EXEC);
}
