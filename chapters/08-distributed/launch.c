/* launch.c - chapter 08's launcher (provided, complete): mpirun as a child
 * process with a time limit, its output in a temporary file, and the
 * server mode that the performance tests and the benchmark time. No MPI
 * here: the programs that use this are not MPI programs. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pk/proc.h"
#include "pk/timing.h"

#ifndef DIST_CHAPTER_DIR
#define DIST_CHAPTER_DIR "chapters/08-distributed" /* chapter.mk sets it */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define LAUNCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAUNCH_ASAN 1
#endif
#endif

#define MAX_ARGS 64           /* mpirun.sh, options, -np N, program, arguments */
#define MAX_OUTPUT (1 << 20)  /* keep at most 1 MiB of what a run printed */
#define TERM_GRACE_S 3.0      /* after SIGTERM, how long mpirun may take */
#define POLL_SLICE_MS 20      /* how often a wait looks at mpirun */
#define STOP_TIMEOUT_S 20.0   /* how long a server may take to finish */
#define MAX_NP 512            /* ranks of a server: one byte each per run */

const char *launch_chapter_dir(void)
{
    return DIST_CHAPTER_DIR;
}

static double now_s(void)
{
    return (double)pk_now_ns() * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- starting mpirun ---------------------------------------------------- */

/* argv for execv: /bin/sh mpirun.sh opts... -np N prog args... extra... */
static int build_argv(const char **av, char *np_text, size_t np_len,
                      const char *script, const char *const opts[], int np,
                      const char *const argv[], const char *const extra[])
{
    size_t k = 0;

    av[k++] = "/bin/sh";
    av[k++] = script;
    for (size_t i = 0; opts != NULL && opts[i] != NULL; i++) {
        if (k >= MAX_ARGS - 8)
            return -1;
        av[k++] = opts[i];
    }
    snprintf(np_text, np_len, "%d", np);
    av[k++] = "-np";
    av[k++] = np_text;
    for (size_t i = 0; argv[i] != NULL; i++) {
        if (k >= MAX_ARGS - 5)
            return -1;
        av[k++] = argv[i];
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (k >= MAX_ARGS - 1)
            return -1;
        av[k++] = extra[i];
    }
    av[k] = NULL;
    return 0;
}

/* ---- a private directory for Open MPI's files -------------------------
 * mpirun names a job after its own pid (and the host name), and the job's
 * files after the job: the session directory (under TMPDIR) and the shared
 * memory segments that ranks exchange messages through (vader, under
 * /dev/shm). In a PID namespace, which the grader runs every test in,
 * mpirun's pid is the same small number in every test, so two gradings
 * side by side (make grade-all grades two students at a time) would open
 * each other's segments: ranks crash or never meet. Each process that
 * starts mpirun therefore gives it a directory of its own under /dev/shm
 * for both, removed when the process exits. A setting already in the
 * environment wins. */
static char private_dir[64];
static pid_t private_owner;
static int private_tried;

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_private_dir(void)
{
    /* only the process that made it: a fork()ed child exits too */
    if (private_dir[0] != '\0' && getpid() == private_owner)
        nftw(private_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void use_private_dir(void)
{
    if (private_tried)
        return;
    private_tried = 1;
    if (getenv("OMPI_MCA_btl_vader_backing_directory") != NULL ||
        getenv("OMPI_MCA_orte_tmpdir_base") != NULL)
        return;
    char dir[] = "/dev/shm/pk08-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return; /* no /dev/shm: Open MPI's own defaults */
    snprintf(private_dir, sizeof private_dir, "%s", dir);
    private_owner = getpid();
    atexit(remove_private_dir);
    setenv("OMPI_MCA_btl_vader_backing_directory", private_dir, 1);
    setenv("OMPI_MCA_orte_tmpdir_base", private_dir, 1);
}

void launch_prepare_env(void)
{
    use_private_dir();
#ifdef LAUNCH_ASAN
    /* Open MPI frees little at exit, and its components are unloaded by
     * then: LeakSanitizer would fail every rank for memory that is not
     * ours. Memory errors are still reported. */
    const char *old = getenv("ASAN_OPTIONS");
    char opt[1024];
    if (old != NULL && strstr(old, "detect_leaks=0") != NULL)
        return;
    snprintf(opt, sizeof opt, "%s%sdetect_leaks=0", old ? old : "",
             old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opt, 1);
#endif
}

/* Fork and exec mpirun.sh with stdout and stderr into log_fd. Returns the
 * pid, or -1 with errno. */
static pid_t spawn(const char *const opts[], int np, const char *const argv[],
                   const char *const extra[], int log_fd)
{
    const char *av[MAX_ARGS];
    char np_text[16], script[4096];

    if (np < 1 || argv == NULL || argv[0] == NULL) {
        errno = EINVAL;
        return -1;
    }
    snprintf(script, sizeof script, "%s/mpirun.sh", launch_chapter_dir());
    if (build_argv(av, np_text, sizeof np_text, script, opts, np, argv,
                   extra) != 0) {
        errno = EINVAL;
        return -1;
    }
    use_private_dir(); /* here, in the parent, which removes it at exit */
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid != 0)
        return pid;

    /* The child. If the test that started us dies (a Check timeout kills it
     * with SIGKILL), mpirun gets SIGTERM and takes its ranks down with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
        _exit(127);
    launch_prepare_env();
    execv(av[0], (char *const *)av);
    fprintf(stderr, "launch: cannot run %s: %s\n", script, strerror(errno));
    _exit(127);
}

/* Wait for pid until deadline (seconds on now_s()'s clock). Returns 1 and
 * the status when it ended, 0 when the deadline passed first. */
static int wait_until(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t w = pk_waitpid(pid, status, WNOHANG);
        if (w == pid || w < 0)
            return 1;
        if (now_s() >= deadline)
            return 0;
        sleep_ms(5);
    }
}

/* SIGTERM, a grace period, then SIGKILL; always reaps. */
static void terminate(pid_t pid, int *status)
{
    kill(pid, SIGTERM);
    if (!wait_until(pid, now_s() + TERM_GRACE_S, status)) {
        kill(pid, SIGKILL);
        pk_waitpid(pid, status, 0);
    }
}

/* Read what the log file holds (at most MAX_OUTPUT bytes). */
static char *read_log(int fd, size_t *len)
{
    char *buf = malloc(MAX_OUTPUT + 1);
    size_t got = 0;

    *len = 0;
    if (buf == NULL)
        return NULL;
    if (lseek(fd, 0, SEEK_SET) == 0) {
        while (got < MAX_OUTPUT) {
            ssize_t k = read(fd, buf + got, MAX_OUTPUT - got);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            got += (size_t)k;
        }
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* A temporary file, already unlinked: it goes away with its last fd. */
static int temp_log(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof path, "%s/pk08-run-XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

int launch_mpi(const char *const opts[], int np, const char *const argv[],
               double timeout_s, launch_run *out)
{
    if (out == NULL || timeout_s <= 0) {
        errno = EINVAL;
        return -1;
    }
    memset(out, 0, sizeof *out);
    int log_fd = temp_log();
    if (log_fd < 0)
        return -1;
    double start = now_s();
    pid_t pid = spawn(opts, np, argv, NULL, log_fd);
    if (pid < 0) {
        int e = errno;
        close(log_fd);
        errno = e;
        return -1;
    }
    int status = 0;
    if (!wait_until(pid, start + timeout_s, &status)) {
        out->timed_out = 1;
        terminate(pid, &status);
    }
    out->status = status;
    out->seconds = now_s() - start;
    out->output = read_log(log_fd, &out->len);
    close(log_fd);
    if (out->output == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void launch_run_free(launch_run *r)
{
    if (r == NULL)
        return;
    free(r->output);
    r->output = NULL;
    r->len = 0;
}

const char *launch_describe(const launch_run *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "was still running after %.0f s and was stopped "
                 "(a hang: some rank waits for a message that never comes)",
                 r->seconds);
    else if (WIFEXITED(r->status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, len, "was killed by signal %d", WTERMSIG(r->status));
    else
        snprintf(buf, len, "ended with wait status %d", r->status);
    return buf;
}

int launch_ok(const launch_run *r)
{
    return !r->timed_out && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* ---- servers ------------------------------------------------------------ */

struct launch_server {
    pid_t pid;
    int np;
    int go_fd, done_fd, log_fd;
    int ended;              /* mpirun already reaped */
    int status;
    char dir[4096];
    char go[4200], done[4200];
};

static char last_output[8192];

const char *launch_server_last_output(void)
{
    return last_output;
}

static void keep_output(int log_fd)
{
    size_t len;
    char *text = read_log(log_fd, &len);

    last_output[0] = '\0';
    if (text != NULL) {
        /* the end of the output is where the error is */
        const char *from = len >= sizeof last_output ? text + len - (sizeof last_output - 1) : text;
        snprintf(last_output, sizeof last_output, "%s", from);
        free(text);
    }
}

static void server_free(launch_server *s)
{
    if (s->go_fd >= 0)
        close(s->go_fd);
    if (s->done_fd >= 0)
        close(s->done_fd);
    if (s->log_fd >= 0)
        close(s->log_fd);
    unlink(s->go);
    unlink(s->done);
    rmdir(s->dir);
    free(s);
}

/* Wait for one byte from rank 0 until deadline. Returns the byte, or -1
 * with errno ETIMEDOUT or ECHILD (mpirun ended). */
static int read_byte(launch_server *s, double deadline)
{
    for (;;) {
        struct pollfd p = {s->done_fd, POLLIN, 0};
        int k = poll(&p, 1, POLL_SLICE_MS);
        if (k > 0 && (p.revents & POLLIN)) {
            unsigned char c;
            ssize_t r = read(s->done_fd, &c, 1);
            if (r == 1)
                return c;
            if (r < 0 && errno != EINTR && errno != EAGAIN)
                return -1;
        }
        if (!s->ended && pk_waitpid(s->pid, &s->status, WNOHANG) == s->pid)
            s->ended = 1;
        if (s->ended) {
            /* it may have answered just before it ended */
            struct pollfd q = {s->done_fd, POLLIN, 0};
            if (poll(&q, 1, 0) > 0 && (q.revents & POLLIN))
                continue;
            errno = ECHILD;
            return -1;
        }
        if (now_s() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

static int send_bytes(launch_server *s, char c)
{
    char buf[MAX_NP];
    int n = s->np < (int)sizeof buf ? s->np : (int)sizeof buf;

    memset(buf, c, (size_t)n);
    for (int done = 0; done < n;) {
        ssize_t k = write(s->go_fd, buf + done, (size_t)(n - done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (int)k;
    }
    return 0;
}

launch_server *launch_server_start(const char *const opts[], int np,
                                   const char *const argv[], double timeout_s)
{
    const char *tmp = getenv("TMPDIR");
    launch_server *s = calloc(1, sizeof *s);

    last_output[0] = '\0';
    if (s == NULL)
        return NULL;
    s->go_fd = s->done_fd = s->log_fd = -1;
    s->np = np;
    if (np < 1 || np > MAX_NP) {
        free(s);
        errno = EINVAL;
        return NULL;
    }
    snprintf(s->dir, sizeof s->dir, "%s/pk08-srv-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return NULL;
    }
    snprintf(s->go, sizeof s->go, "%s/go", s->dir);
    snprintf(s->done, sizeof s->done, "%s/done", s->dir);
    int e;
    /* O_RDWR: opening never blocks, and a pipe we also hold for writing
     * (or reading) never reports end-of-file to the other side. */
    if (mkfifo(s->go, 0600) != 0 || mkfifo(s->done, 0600) != 0 ||
        (s->go_fd = open(s->go, O_RDWR | O_CLOEXEC)) < 0 ||
        (s->done_fd = open(s->done, O_RDWR | O_CLOEXEC | O_NONBLOCK)) < 0 ||
        (s->log_fd = temp_log()) < 0)
        goto fail;
    const char *extra[] = {"--serve", s->go, s->done, NULL};
    s->pid = spawn(opts, np, argv, extra, s->log_fd);
    if (s->pid < 0)
        goto fail;
    int c = read_byte(s, now_s() + timeout_s);
    if (c == 'r')
        return s;
    e = c < 0 ? errno : EPROTO;
    if (!s->ended)
        terminate(s->pid, &s->status);
    keep_output(s->log_fd);
    server_free(s);
    errno = e;
    return NULL;
fail:
    e = errno;
    server_free(s);
    errno = e;
    return NULL;
}

int launch_server_run(launch_server *s, double timeout_s)
{
    if (s == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (send_bytes(s, 'g') != 0)
        return -1;
    int c = read_byte(s, now_s() + timeout_s);
    if (c == 'd')
        return 0;
    if (c >= 0)
        errno = EPROTO;
    return -1;
}

int launch_server_stop(launch_server *s, char *summary, size_t len)
{
    size_t k = 0;
    int rc = -1;

    if (s == NULL)
        return 0;
    if (summary != NULL && len > 0)
        summary[0] = '\0';
    if (!s->ended) {
        double deadline = now_s() + STOP_TIMEOUT_S;
        if (send_bytes(s, 'q') == 0) {
            /* rank 0's last words: one line */
            for (;;) {
                int c = read_byte(s, deadline);
                if (c < 0 || c == '\n')
                    break;
                if (summary != NULL && k + 1 < len)
                    summary[k++] = (char)c;
            }
            if (summary != NULL && len > 0)
                summary[k < len ? k : len - 1] = '\0';
        }
        if (!s->ended && !wait_until(s->pid, deadline, &s->status))
            terminate(s->pid, &s->status);
        s->ended = 1;
    }
    rc = WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0 ? 0 : -1;
    if (rc != 0) {
        keep_output(s->log_fd);
        if (summary != NULL && len > 0 && summary[0] == '\0')
            snprintf(summary, len, "the job failed: %s", last_output);
    }
    server_free(s);
    return rc;
}
