/* grade_run.c - running one test program and collecting the evidence.
 *
 * A test runs as `PROGRAM --run TEST` in a child of its own, contained by
 * grade_contain.c, with its stdout and stderr captured to a capped log
 * file and the evidence pipe on fd 3 (see grade_protocol.h). The grader
 * believes nothing the test prints: only the evidence line, and only one
 * that carries this run's nonce.
 *
 * Each run gets a temporary directory of its own (TMPDIR), removed after
 * it: tests graded side by side (make grade-all grades two students at a
 * time) never meet in /tmp. That matters beyond tidiness: in a PID
 * namespace every test's processes have the same small pids, and Open MPI
 * names its session directory after mpirun's pid (chapter 08's runs
 * collided there until each had its own TMPDIR).
 *
 * When a test fails, the grader looks for the student's line it can point
 * at: a PK_TODO() still in the code (the skeleton's marker prints
 * "TODO file:line function(): ..." on stderr), or, for a crash, the first
 * frame in the student's files of an AddressSanitizer/UBSan re-run of the
 * same test.
 */
#include "grade.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_CAP (1L << 20)        /* output kept per test; the rest is read
                                     and dropped */
#define LIST_TIMEOUT 10.0         /* seconds for PROGRAM --list */
#define POLL_FALLBACK_MS 5        /* when pidfd_open is unavailable */
#define PROGRESS_AFTER_S 1.0      /* say that a test is still running */
#define ASAN_TIMEOUT_FACTOR 3     /* a sanitizer build runs slower */
#define MAX_ENV 8                 /* extra environment entries per run */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- output capture -------------------------------------------------------
 * Where a test's stdout and stderr go: the first LOG_CAP bytes to its log
 * file, or into a capture buffer; the rest is read and dropped, so a test
 * that floods its output fills neither the disk nor a pipe. */
typedef struct sink {
    int fd;          /* log file, or -1 */
    char *buf;       /* capture buffer, or NULL */
    size_t len, cap; /* bytes kept so far, and the most to keep */
    int truncated;
} sink;

static void sink_put(sink *sk, const char *data, size_t k)
{
    size_t take = k < sk->cap - sk->len ? k : sk->cap - sk->len;
    if (take > 0) {
        if (sk->buf != NULL)
            memcpy(sk->buf + sk->len, data, take);
        else if (sk->fd >= 0 && write(sk->fd, data, take) < 0)
            sk->fd = -1;
        sk->len += take;
    }
    if (take < k && !sk->truncated) {
        sk->truncated = 1;
        static const char note[] = "\n[pk-grade: output truncated here]\n";
        if (sk->buf == NULL && sk->fd >= 0 && write(sk->fd, note, sizeof note - 1) < 0)
            sk->fd = -1;
    }
}

/* Append what is readable on fd (non-blocking) to buf[*len..max-1]. Returns
 * 0 at end of file, else 1. */
static int drain(int fd, char *buf, size_t *len, size_t max)
{
    char tmp[4096];
    for (;;) {
        ssize_t k = read(fd, tmp, sizeof tmp);
        if (k == 0)
            return 0;
        if (k < 0)
            return 1;
        size_t take = (size_t)k < max - 1 - *len ? (size_t)k : max - 1 - *len;
        memcpy(buf + *len, tmp, take);
        *len += take;
    }
}

/* ---- a private TMPDIR ------------------------------------------------ */

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path); /* what cannot be removed stays; the rest still goes */
    return 0;
}

/* mkdtemp under the grader's TMPDIR (or /tmp) into dir. */
static int make_tmpdir(char *dir, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    if ((size_t)snprintf(dir, size, "%s/pk-grade-XXXXXX", base) >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(dir) == NULL ? -1 : 0;
}

/* Remove dir and everything in it; symbolic links are removed, never
 * followed (FTW_PHYS), and the walk stays on dir's file system (FTW_MOUNT). */
static void remove_tmpdir(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int run_limited(char *const argv[], double timeout, const char *logpath,
                const char *nonce, const char *const extra_env[],
                const char *progress, run_result *rr, char *capture,
                size_t capcap)
{
    int ev[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    memset(rr, 0, sizeof *rr);
    sink sk = {.fd = -1, .buf = capture, .cap = capture ? capcap - 1 : LOG_CAP};
    char tmpdir[PATH_MAX] = "";

    if (make_tmpdir(tmpdir, sizeof tmpdir) != 0) {
        tmpdir[0] = '\0';
        goto fail;
    }
    if (pipe2(ev, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0)
        goto fail;
    if (capture == NULL &&
        (sk.fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        goto fail;
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 ||
            dup2(out[1], 2) < 0 || dup2(ev[1], 3) < 0) /* dup2 clears CLOEXEC */
            _exit(126);
        /* Nothing else the grader inherited reaches the test: a test that
         * writes on every descriptor (the forged-PASS selftest does) must
         * not land in a file of whoever started the grader (a harness's
         * log, or Check's message file when the selftest runs in no-fork
         * mode under valgrind). The error pipe, which contain_exec()
         * reports a failed setup on, moves to 4 and closes at exec. */
        int err_fd = err[1] == 4 ? 4 : dup3(err[1], 4, O_CLOEXEC);
        if (err_fd != 4)
            _exit(126);
        if (close_range(5, ~0U, 0) != 0) {
            long max = sysconf(_SC_OPEN_MAX);
            for (long fd = 5; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
                close((int)fd);
        }
        setenv(PK_PROTO_ENV_FD, "3", 1);
        setenv(PK_PROTO_ENV_NONCE, nonce, 1);
        setenv("CK_FORK", "no", 1);
        setenv("TMPDIR", tmpdir, 1);
        for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL && i < MAX_ENV; i++)
            putenv((char *)extra_env[i]);
        contain_exec(argv, timeout, err_fd);
    }
    close(ev[1]);
    close(out[1]);
    close(err[1]);
    ev[1] = out[1] = err[1] = -1;

    /* Read only what is there: a test may hold the pipes open forever. */
    fcntl(ev[0], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    int pidfd = pidfd_open_(pid);
    size_t evlen = 0, errlen = 0;
    int exited = 0, said = 0;
    for (;;) {
        struct pollfd pf[3];
        int npf = 0;
        if (pidfd >= 0)
            pf[npf++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        if (ev[0] >= 0)
            pf[npf++] = (struct pollfd){.fd = ev[0], .events = POLLIN};
        if (out[0] >= 0)
            pf[npf++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        double elapsed = now_s() - t0;
        double left = timeout - elapsed;
        if (progress != NULL && !said && left > 0 && elapsed < PROGRESS_AFTER_S &&
            PROGRESS_AFTER_S - elapsed < left)
            left = PROGRESS_AFTER_S - elapsed; /* wake up to say it */
        int ms = left > 0 ? (int)(left * 1000) + 1 : 0;
        if (pidfd < 0 && ms > POLL_FALLBACK_MS)
            ms = POLL_FALLBACK_MS;
        poll(pf, (nfds_t)npf, ms);

        if (ev[0] >= 0 && drain(ev[0], rr->evidence, &evlen, PK_PROTO_EVIDENCE_MAX) == 0) {
            close(ev[0]);
            ev[0] = -1;
        }
        char buf[4096];
        for (int spins = 0; out[0] >= 0 && spins < 64; spins++) {
            ssize_t k = read(out[0], buf, sizeof buf);
            if (k > 0) {
                sink_put(&sk, buf, (size_t)k);
                continue;
            }
            if (k == 0) {
                close(out[0]);
                out[0] = -1;
            }
            break;
        }
        pid_t w = waitpid(pid, &rr->status, WNOHANG);
        if (w == pid) {
            exited = 1;
            break;
        }
        if (now_s() - t0 > timeout) {
            rr->timed_out = 1;
            break;
        }
        if (progress != NULL && !said && now_s() - t0 >= PROGRESS_AFTER_S) {
            printf("    %s: still running (limit %.0f s) ...\n", progress, timeout);
            fflush(stdout);
            said = 1;
        }
        if (pidfd < 0 && ev[0] < 0 && out[0] < 0)
            usleep(POLL_FALLBACK_MS * 1000);
    }
    /* Whatever the test left behind goes now: its process group (and with
     * it the namespace's init, which takes the namespace along), then
     * anything still in the cgroup. */
    kill(-pid, SIGKILL);
    if (!exited)
        waitpid(pid, &rr->status, 0);
    contain_kill_all();
    /* A contained run reports the test's signal as 128 + signal. */
    if (!rr->timed_out && WIFEXITED(rr->status) && WEXITSTATUS(rr->status) > 128) {
        rr->signal = WEXITSTATUS(rr->status) - 128;
    } else if (WIFSIGNALED(rr->status)) {
        rr->signal = WTERMSIG(rr->status);
    }
    rr->seconds = now_s() - t0;
    if (said) {
        printf("    %s: %.1f s\n", progress, rr->seconds);
        fflush(stdout);
    }

    /* Drain what is already written without waiting for stray holders. */
    if (ev[0] >= 0)
        drain(ev[0], rr->evidence, &evlen, PK_PROTO_EVIDENCE_MAX);
    drain(err[0], rr->contain_error, &errlen, sizeof rr->contain_error);
    if (out[0] >= 0) {
        char buf[4096];
        ssize_t k;
        while ((k = read(out[0], buf, sizeof buf)) > 0)
            sink_put(&sk, buf, (size_t)k);
    }
    if (capture != NULL)
        capture[sk.len] = '\0';
    rr->evidence[evlen] = '\0';
    rr->contain_error[errlen] = '\0';
    if (pidfd >= 0)
        close(pidfd);
    errno = 0;
fail:;
    int saved = errno;
    int fds[] = {ev[0], ev[1], out[0], out[1], err[0], err[1], sk.fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (tmpdir[0] != '\0')
        remove_tmpdir(tmpdir);
    errno = saved;
    return saved == 0 ? 0 : -1;
}

/* ---- the chapter's list of tests ---------------------------------------- */

static test_kind kind_of(const char *word)
{
    if (strcmp(word, PK_KIND_PERF) == 0)
        return KIND_PERF;
    if (strcmp(word, PK_KIND_GRADED) == 0)
        return KIND_GRADED;
    return KIND_UNGRADED;
}

/* The first line of a compiler error in the build log, for a chapter that
 * did not build. */
static void build_failure(chapter *ch)
{
    snprintf(ch->build_error, sizeof ch->build_error, "%s did not build", ch->name);
    char diag[1536];
    if (ch->buildlog != NULL &&
        first_diagnostic(ch->buildlog, ch->srcdir, "error", diag, sizeof diag) == 0)
        snprintf(ch->build_error, sizeof ch->build_error, "did not compile:\n%s", diag);
}

int load_tests(chapter *ch)
{
    static char listing[256 * 1024];
    char *argv[] = {(char *)ch->program, "--list", NULL};
    run_result rr;

    if (access(ch->program, X_OK) != 0) {
        build_failure(ch);
        return -1;
    }
    if (run_limited(argv, LIST_TIMEOUT, NULL, "list", NULL, NULL, &rr, listing,
                    sizeof listing) != 0 ||
        rr.timed_out || rr.signal != 0 || !WIFEXITED(rr.status) ||
        WEXITSTATUS(rr.status) != 0) {
        snprintf(ch->build_error, sizeof ch->build_error,
                 "%s --list failed (does the suite build and start?)%s%s",
                 ch->program, rr.contain_error[0] ? ": " : "", rr.contain_error);
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(listing, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[5] = {0};
        char *p = line;
        for (int i = 0; i < 5 && p; i++) {
            f[i] = p;
            p = i < 4 ? strchr(p, '\t') : NULL;
            if (p)
                *p++ = '\0';
        }
        if (!f[4] || ch->ntests == PK_PROTO_MAX_TESTS)
            continue;
        test *t = &ch->tests[ch->ntests++];
        snprintf(t->name, sizeof t->name, "%s", f[0]);
        t->weight = atof(f[1]);
        t->timeout = atof(f[2]);
        t->kind = kind_of(f[3]);
        snprintf(t->hint, sizeof t->hint, "%s", f[4]);
    }
    ch->listed = 1;
    return 0;
}

/* ---- pointing at the student's line ---------------------------------------- */

/* 1 if path names a file in the student's folder for the chapter. */
static int in_student_files(const char *path, size_t len, const char *srcdir)
{
    if (srcdir == NULL || *srcdir == '\0')
        return 0;
    size_t n = strlen(srcdir);
    while (n > 1 && srcdir[n - 1] == '/')
        n--;
    /* The compiler prints the path it was given: relative (chapters/...)
     * or absolute (a submission); match the folder anywhere in it. */
    for (size_t i = 0; i + n <= len; i++)
        if (strncmp(path + i, srcdir, n) == 0 && (i == 0 || path[i - 1] == '/') &&
            path[i + n] == '/')
            return 1;
    return 0;
}

int first_diagnostic(const char *logpath, const char *srcdir, const char *kind,
                     char *out, size_t size)
{
    FILE *f = fopen(logpath, "r");
    if (f == NULL)
        return -1;
    char line[1024], marker[32];
    snprintf(marker, sizeof marker, ": %s:", kind);
    int found = -1, extra = 0;
    size_t used = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        if (found == 0) {
            /* gcc's source line and caret follow: "   12 |   x = y;" and
             * "      |       ^~~". Keep them, stop at the next message. */
            if (extra < 2 && strchr(line, '|') != NULL) {
                used += (size_t)snprintf(out + used, size - used, "%s", line);
                if (used >= size)
                    used = size - 1;
                extra++;
                continue;
            }
            break;
        }
        char *m = strstr(line, marker);
        if (m == NULL)
            continue;
        /* With a srcdir, only the student's files count ("error" also
         * counts a failure elsewhere, for want of anything better). */
        if (srcdir != NULL && !in_student_files(line, (size_t)(m - line), srcdir) &&
            strcmp(kind, "warning") == 0)
            continue;
        used = (size_t)snprintf(out, size, "%s", line);
        if (used >= size)
            used = size - 1;
        found = 0;
    }
    fclose(f);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return found;
}

/* "TODO path:line func(): task" from PK_TODO in the test's log. */
static int find_todo(const char *logpath, char *where, size_t size)
{
    FILE *f = fopen(logpath, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int found = -1;
    while (found != 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, "TODO ", 5) != 0)
            continue;
        char *paren = strstr(line + 5, "(): ");
        if (paren == NULL)
            continue;
        paren[2] = '\0'; /* keep "path:line func()" */
        snprintf(where, size, "still to write: %.900s", line + 5);
        found = 0;
    }
    fclose(f);
    return found;
}

/* In a sanitizer's report, the first line that names the student's file:
 * UBSan's "path:L:C: runtime error: what", or an ASan frame
 * "#N 0x... in func path:L:C". Writes "file:L: what". */
static int sanitizer_frame(const char *logpath, const char *srcdir, char *where,
                           size_t size)
{
    FILE *f = fopen(logpath, "r");
    if (f == NULL)
        return -1;
    char line[1024], what[512] = "";
    int found = -1;
    while (found != 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *rt = strstr(line, ": runtime error: ");
        if (rt != NULL && in_student_files(line, (size_t)(rt - line), srcdir)) {
            *rt = '\0';
            char *col = strrchr(line, ':'); /* drop the column */
            if (col != NULL)
                *col = '\0';
            snprintf(where, size, "%.400s: %.300s", line, rt + strlen(": runtime error: "));
            found = 0;
            continue;
        }
        char *sum = strstr(line, "ERROR: AddressSanitizer: ");
        if (sum != NULL && what[0] == '\0') {
            /* "SEGV on unknown address 0x0 (pc ...": keep the first words */
            snprintf(what, sizeof what, "%s", sum + strlen("ERROR: AddressSanitizer: "));
            char *cut = strstr(what, " (pc");
            if (cut != NULL)
                *cut = '\0';
            continue;
        }
        char *in = strstr(line, " in ");
        char *hash = strchr(line, '#');
        if (hash == NULL || in == NULL || !isdigit((unsigned char)hash[1]))
            continue;
        char *path = strchr(in + 4, ' ');
        if (path == NULL || !in_student_files(path + 1, strlen(path + 1), srcdir))
            continue;
        path++;
        char *col = strrchr(path, ':');
        char *lcol = col ? memrchr(path, ':', (size_t)(col - path)) : NULL;
        if (lcol != NULL)
            *col = '\0'; /* path:L:C -> path:L */
        snprintf(where, size, "%s: %s", path, what[0] ? what : "crash here");
        found = 0;
    }
    fclose(f);
    return found;
}

/* Re-run a crashed test under AddressSanitizer and UBSan to find the
 * student's line. The sanitizer build is made on demand, once. */
static void rerun_with_sanitizers(chapter *ch, test *t, const options *o,
                                  const char *nonce)
{
    static char built_for[64], program[PATH_MAX];
    if (o->asan_make == NULL || ch->srcdir == NULL)
        return;
    if (strcmp(built_for, ch->name) != 0) {
        char cmd[PATH_MAX * 2], logpath[PATH_MAX];
        snprintf(logpath, sizeof logpath, "%s/%s.sanitize-build.log", o->logs, ch->name);
        snprintf(cmd, sizeof cmd, "%s CH=%s 2>'%s'", o->asan_make, ch->name, logpath);
        printf("    %s crashed: building %s with AddressSanitizer to find the line ...\n",
               t->name, ch->name);
        fflush(stdout);
        program[0] = '\0';
        FILE *p = popen(cmd, "r");
        char line[PATH_MAX];
        while (p != NULL && fgets(line, sizeof line, p) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            if (line[0] != '\0')
                snprintf(program, sizeof program, "%s", line); /* the last line */
        }
        if (p == NULL || pclose(p) != 0 || access(program, X_OK) != 0)
            program[0] = '\0';
        snprintf(built_for, sizeof built_for, "%s", ch->name);
    }
    if (program[0] == '\0')
        return;
    char logpath[PATH_MAX];
    snprintf(logpath, sizeof logpath, "%s/%s/%s.sanitize.log", o->logs, ch->name, t->name);
    char *argv[] = {program, "--run", t->name, NULL};
    const char *env[] = {"PK_GRADE_MEM_MB=0", /* ASan's shadow memory */
                         "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0",
                         "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1", NULL};
    run_result rr;
    int rc = run_limited(argv, t->timeout * ASAN_TIMEOUT_FACTOR, logpath, nonce,
                         env, NULL, &rr, NULL, 0);
    char where[768];
    if (rc == 0 && sanitizer_frame(logpath, ch->srcdir, where, sizeof where) == 0)
        snprintf(t->where, sizeof t->where, "%s\nreproduce: %s --run %s",
                 where, program, t->name);
}

/* ---- one test -------------------------------------------------------------- */

static const char *signame(int sig)
{
    const char *s = strsignal(sig);
    return s ? s : "unknown signal";
}

/* Parse "PASS <nonce> <score> <note>\t<message>". 0 if it is this run's. */
static int parse_pass(const char *evidence, const char *nonce, double *score,
                      char *note, size_t notesize, char *msg, size_t msgsize)
{
    char want[128];
    snprintf(want, sizeof want, PK_PROTO_PASS " %s ", nonce);
    const char *p = strstr(evidence, want);
    if (p == NULL)
        return -1;
    p += strlen(want);
    char *end;
    *score = strtod(p, &end);
    if (end == p || *end != ' ')
        return -1;
    p = end + 1;
    size_t n = strcspn(p, "\t\n");
    snprintf(note, notesize, "%.*s", (int)n, p);
    p += n;
    msg[0] = '\0';
    if (*p == '\t') {
        p++;
        snprintf(msg, msgsize, "%.*s", (int)strcspn(p, "\n"), p);
    }
    return 0;
}

int run_test(chapter *ch, test *t, const options *o)
{
    char nonce[64], logpath[PATH_MAX];
    snprintf(nonce, sizeof nonce, "%08lx%08lx", (unsigned long)random(),
             (unsigned long)random());
    snprintf(logpath, sizeof logpath, "%s/%s", o->logs, ch->name);
    mkdirs(logpath);
    snprintf(logpath, sizeof logpath, "%s/%s/%s.log", o->logs, ch->name, t->name);

    char *argv[] = {(char *)ch->program, "--run", t->name, NULL};
    run_result rr;
    t->result = OUT_FAIL;
    t->fraction = 0;
    t->where[0] = '\0';
    if (run_limited(argv, t->timeout, logpath, nonce, NULL,
                    o->skeleton_check ? NULL : t->name, &rr, NULL, 0) != 0) {
        snprintf(t->msg, sizeof t->msg, "could not start the test: %s",
                 strerror(errno));
        return 0;
    }
    if (rr.contain_error[0] != '\0') {
        fprintf(stderr, "pk-grade: cannot contain the tests: %s\n"
                        "pk-grade: grading stopped; nothing was scored\n",
                rr.contain_error);
        return -1;
    }
    t->seconds = rr.seconds;

    double score = 0;
    char note[32] = "", msg[PK_PROTO_MESSAGE_MAX] = "";
    int passed = parse_pass(rr.evidence, nonce, &score, note, sizeof note, msg,
                            sizeof msg) == 0 &&
                 WIFEXITED(rr.status) && WEXITSTATUS(rr.status) == 0;
    char *fail = strstr(rr.evidence, PK_PROTO_FAIL "\t");
    if (rr.timed_out) {
        snprintf(t->msg, sizeof t->msg,
                 "timed out after %.0f s (an endless loop, a deadlock, or a "
                 "wait for something that never comes?)", t->timeout);
    } else if (rr.signal != 0) {
        int sig = rr.signal;
        snprintf(t->msg, sizeof t->msg, "crashed: killed by signal %d (%s)%s",
                 sig, signame(sig),
                 sig == SIGSEGV ? ": a NULL or stray pointer?" :
                 sig == SIGABRT ? ": abort() or a failed assert()" :
                 sig == SIGXCPU ? ": it used too much CPU time" :
                 sig == SIGXFSZ ? ": it wrote too much output" : "");
        t->crashed = sig != SIGXCPU && sig != SIGXFSZ && sig != SIGKILL;
    } else if (passed && strcmp(note, PK_NOTE_BUSY) == 0) {
        t->result = OUT_BUSY;
        snprintf(t->msg, sizeof t->msg, "%s", msg);
    } else if (passed && strcmp(note, PK_NOTE_NOPERF) == 0) {
        t->result = OUT_NOT_RUN;
        snprintf(t->msg, sizeof t->msg, "%s", msg);
    } else if (passed) {
        t->fraction = score < 0 ? 0 : score > 1 ? 1 : score;
        t->result = t->fraction >= 1 ? OUT_PASS : OUT_PARTIAL;
        snprintf(t->msg, sizeof t->msg, "%s", msg[0] ? msg : "passed");
    } else if (fail != NULL) {
        char *m = fail + strlen(PK_PROTO_FAIL "\t");
        m[strcspn(m, "\n")] = '\0';
        snprintf(t->msg, sizeof t->msg, "%s", m);
    } else if (WIFEXITED(rr.status)) {
        snprintf(t->msg, sizeof t->msg,
                 "the test process exited with status %d before the test "
                 "finished (exit() called inside the code under test?)",
                 WEXITSTATUS(rr.status));
    } else {
        snprintf(t->msg, sizeof t->msg, "did not finish");
    }

    if (t->result == OUT_FAIL) {
        if (find_todo(logpath, t->where, sizeof t->where) != 0 && t->crashed &&
            !o->skeleton_check)
            rerun_with_sanitizers(ch, t, o, nonce);
    }
    return 0;
}
