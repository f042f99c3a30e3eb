/* grade.c - pk-grade: runs chapters' test programs one test at a time and
 * turns the results into points, a summary table and results.json.
 *
 * usage: pk-grade [--skeleton-check] [--json FILE] [--csv FILE] [--logs DIR]
 *                 CHAPTER=PROGRAM[:BUILDLOG] ...
 *
 * --csv writes one line per chapter, "chapter,points", for batch summaries.
 *
 * Each graded test runs as `PROGRAM --run TEST` in a child process of its
 * own, contained as far as this machine allows (see "Containment" below):
 * hard resource limits set before exec, stdout and stderr captured to a
 * capped log file, a wall-clock timeout, and everything it started killed
 * when it is over. The
 * test passes only if the child exits with status 0 AND wrote the evidence
 * line "PASS <nonce> <pid>" (see check_main.c), which happens after the test
 * body returned. A PROGRAM that does not exist means the chapter did not
 * build: every test scores 0 and the message is the first error in BUILDLOG.
 *
 * With --skeleton-check the roles flip: the exit status is 1 if any graded
 * test PASSED (skeletons must fail every graded test).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 512
#define MAX_CHAPTERS 64
#define EVIDENCE_MAX 4096             /* bytes of evidence read per test */
#define FILE_LIMIT (256L << 20)       /* a file a test writes: at most 256 MiB
                                         (Check's own message file grows with
                                         every passing assertion) */
#define LOG_CAP (1L << 20)            /* output kept per test; the rest is read
                                         and dropped */
#define MEM_LIMIT_MB 4096             /* address space per test (PK_GRADE_MEM_MB) */
#define MAX_TASKS 1024                /* processes + threads (PK_GRADE_MAX_PROCS) */
#define LIST_TIMEOUT 10.0             /* seconds for PROGRAM --list */
#define POLL_FALLBACK_MS 5            /* when pidfd_open is unavailable */
#define BAR_WIDTH 20

typedef struct test {
    char name[128];
    double weight, timeout;
    int graded;
    char hint[512];
    int passed;
    char msg[1024];
    double seconds;
} test;

typedef struct chapter {
    char name[64];
    const char *program, *buildlog;
    test tests[MAX_TESTS];
    size_t ntests;
    double points; /* out of 100 */
    size_t passed, graded;
    char build_error[512];
} chapter;

static const char *logs_dir = "build/grade/logs";
static int use_colour;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void mkdirs(const char *path)
{
    char buf[1024];
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

/* ---- running one child under limits ---------------------------------- */

typedef struct run_result {
    int status;      /* from waitpid */
    int signal;      /* the signal that ended the test, or 0 */
    int timed_out;
    char evidence[EVIDENCE_MAX];
    double seconds;
} run_result;

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

/* ---- Containment ---------------------------------------------------------
 *
 * What a test's code may do, and what stops it:
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
 * Without a PID namespace the grader falls back to a process group of its
 * own (setsid) and kills that; a child that calls setsid() then escapes. */

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
static void cgroup_setup(void)
{
    const char *bases[] = {"/sys/fs/cgroup/pids", "/sys/fs/cgroup"};
    char file[300], max[32];

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
static void cgroup_kill_all(void)
{
    char file[300], line[32];

    if (cgroup_dir[0] == '\0')
        return;
    snprintf(file, sizeof file, "%s/cgroup.procs", cgroup_dir);
    for (int round = 0; round < 1000; round++) {
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

static void cgroup_cleanup(void)
{
    if (cgroup_dir[0] == '\0')
        return;
    cgroup_kill_all();
    for (int i = 0; i < 100 && rmdir(cgroup_dir) != 0 && errno == EBUSY; i++)
        usleep(10000);
}

/* The status a contained test's init passes up: exit code c, or 128 + s for
 * signal s (an init cannot die by the signals it would forward). */
static int encode_status(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In the forked child: limits, then either exec the test directly or, in a
 * new PID namespace, become a tiny init that runs it as pid 2. */
static void exec_contained(char *const argv[], double timeout)
{
    setsid(); /* own session and process group: killable as a whole */
    if (cgroup_dir[0] != '\0') {
        char file[300];
        snprintf(file, sizeof file, "%s/cgroup.procs", cgroup_dir);
        write_file(file, "0"); /* "0": the writing process itself */
    }
    rlim_t cpu_s = (rlim_t)timeout + 2;
    long mem_mb = env_long("PK_GRADE_MEM_MB", MEM_LIMIT_MB);
    struct rlimit cpu = {cpu_s, cpu_s}, fsz = {FILE_LIMIT, FILE_LIMIT},
                  core = {0, 0};
    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_FSIZE, &fsz);
    setrlimit(RLIMIT_CORE, &core);
    if (mem_mb > 0) {
        struct rlimit as = {(rlim_t)mem_mb << 20, (rlim_t)mem_mb << 20};
        setrlimit(RLIMIT_AS, &as);
    }
    if (cgroup_dir[0] == '\0') {
        /* Not enforced for root, which is why the cgroup comes first. */
        rlim_t np = (rlim_t)env_long("PK_GRADE_MAX_PROCS", MAX_TASKS);
        struct rlimit nproc = {np, np};
        setrlimit(RLIMIT_NPROC, &nproc);
    }

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
                _exit(127);
            }
            /* Reap orphans until the test itself is done; returning then
             * makes the kernel kill whatever is left in the namespace. */
            int st = 0;
            for (;;) {
                pid_t w = wait(&st);
                if (w == test || (w < 0 && errno != EINTR))
                    break;
            }
            _exit(test > 0 ? encode_status(st) : 126);
        }
        int st = 0;
        while (init > 0 && waitpid(init, &st, 0) < 0 && errno == EINTR)
            ;
        _exit(init > 0 ? encode_status(st) : 126);
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Where a test's stdout and stderr go: the first LOG_CAP bytes to its log
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

/* Run argv with evidence pipe on fd 3 and output to logpath (or into
 * capture when capture != NULL). Returns 0, or -1 if it could not start. */
static int run_limited(char *const argv[], double timeout, const char *logpath,
                       const char *nonce, run_result *rr, char *capture,
                       size_t capcap)
{
    int ev[2], out[2] = {-1, -1};
    memset(rr, 0, sizeof *rr);
    if (pipe2(ev, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(ev[0]);
        close(ev[1]);
        return -1;
    }
    sink sk = {.fd = -1, .buf = capture, .cap = capture ? capcap - 1 : LOG_CAP};
    if (capture == NULL) {
        sk.fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = out[1];
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        dup2(ev[1], 3); /* dup2 clears close-on-exec on the copy */
        setenv("PK_GRADE_FD", "3", 1);
        setenv("PK_GRADE_NONCE", nonce, 1);
        setenv("CK_FORK", "no", 1);
        exec_contained(argv, timeout);
    }
    close(ev[1]);
    close(out[1]);

    /* Read only what is there: a test may hold the pipes open forever. */
    fcntl(ev[0], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    int pidfd = pidfd_open_(pid);
    size_t evlen = 0;
    int exited = 0;
    for (;;) {
        struct pollfd pf[3];
        int npf = 0;
        if (pidfd >= 0)
            pf[npf++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        if (ev[0] >= 0)
            pf[npf++] = (struct pollfd){.fd = ev[0], .events = POLLIN};
        if (out[0] >= 0)
            pf[npf++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        double left = timeout - (now_s() - t0);
        int ms = left > 0 ? (int)(left * 1000) + 1 : 0;
        if (pidfd < 0 && ms > POLL_FALLBACK_MS)
            ms = POLL_FALLBACK_MS;
        poll(pf, (nfds_t)npf, ms);

        char buf[4096];
        if (ev[0] >= 0) {
            ssize_t k = read(ev[0], buf, sizeof buf);
            if (k > 0) {
                size_t take = (size_t)k < EVIDENCE_MAX - 1 - evlen
                                  ? (size_t)k : EVIDENCE_MAX - 1 - evlen;
                memcpy(rr->evidence + evlen, buf, take);
                evlen += take;
            } else if (k == 0) {
                close(ev[0]);
                ev[0] = -1;
            }
        }
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
        if (pidfd < 0 && ev[0] < 0 && out[0] < 0)
            usleep(POLL_FALLBACK_MS * 1000);
    }
    /* Whatever the test left behind goes now: its process group (and with
     * it the namespace's init, which takes the namespace along), then
     * anything still in the cgroup. */
    kill(-pid, SIGKILL);
    if (!exited)
        waitpid(pid, &rr->status, 0);
    cgroup_kill_all();
    /* A contained run reports the test's signal as 128 + signal. */
    if (!rr->timed_out && WIFEXITED(rr->status) && WEXITSTATUS(rr->status) > 128) {
        rr->signal = WEXITSTATUS(rr->status) - 128;
    } else if (WIFSIGNALED(rr->status)) {
        rr->signal = WTERMSIG(rr->status);
    }
    rr->seconds = now_s() - t0;

    /* Drain what is already written without waiting for stray holders. */
    if (ev[0] >= 0) {
        ssize_t k;
        while (evlen < EVIDENCE_MAX - 1 &&
               (k = read(ev[0], rr->evidence + evlen, EVIDENCE_MAX - 1 - evlen)) > 0)
            evlen += (size_t)k;
        close(ev[0]);
    }
    if (out[0] >= 0) {
        char buf[4096];
        ssize_t k;
        while ((k = read(out[0], buf, sizeof buf)) > 0)
            sink_put(&sk, buf, (size_t)k);
        close(out[0]);
    }
    if (capture != NULL)
        capture[sk.len] = '\0';
    if (sk.fd >= 0)
        close(sk.fd);
    rr->evidence[evlen] = '\0';
    if (pidfd >= 0)
        close(pidfd);
    return 0;
}

/* ---- one chapter ------------------------------------------------------ */

static void first_build_error(chapter *ch)
{
    snprintf(ch->build_error, sizeof ch->build_error,
             "%s did not build", ch->name);
    FILE *f = ch->buildlog ? fopen(ch->buildlog, "r") : NULL;
    if (f == NULL)
        return;
    char line[400];
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "error") != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(ch->build_error, sizeof ch->build_error,
                     "did not compile: %s", line);
            break;
        }
    }
    fclose(f);
}

static int load_tests(chapter *ch)
{
    static char listing[256 * 1024];
    char *argv[] = {(char *)ch->program, "--list", NULL};
    run_result rr;

    if (access(ch->program, X_OK) != 0) {
        first_build_error(ch);
        return -1;
    }
    if (run_limited(argv, LIST_TIMEOUT, NULL, "list", &rr, listing,
                    sizeof listing) != 0 ||
        rr.timed_out || rr.signal != 0 || !WIFEXITED(rr.status) ||
        WEXITSTATUS(rr.status) != 0) {
        snprintf(ch->build_error, sizeof ch->build_error,
                 "%s --list failed (does the suite build and start?)",
                 ch->program);
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
        if (!f[4] || ch->ntests == MAX_TESTS)
            continue;
        test *t = &ch->tests[ch->ntests++];
        snprintf(t->name, sizeof t->name, "%s", f[0]);
        t->weight = atof(f[1]);
        t->timeout = atof(f[2]);
        t->graded = atoi(f[3]);
        snprintf(t->hint, sizeof t->hint, "%s", f[4]);
    }
    return 0;
}

static const char *signame(int sig)
{
    const char *s = strsignal(sig);
    return s ? s : "unknown signal";
}

static void run_test(chapter *ch, test *t)
{
    char nonce[64], logpath[1024];
    snprintf(nonce, sizeof nonce, "%08lx%08lx", (unsigned long)random(),
             (unsigned long)random());
    snprintf(logpath, sizeof logpath, "%s/%s", logs_dir, ch->name);
    mkdirs(logpath);
    snprintf(logpath, sizeof logpath, "%s/%s/%s.log", logs_dir, ch->name,
             t->name);

    char *argv[] = {(char *)ch->program, "--run", t->name, NULL};
    run_result rr;
    if (run_limited(argv, t->timeout, logpath, nonce, &rr, NULL, 0) != 0) {
        snprintf(t->msg, sizeof t->msg, "could not start the test: %s",
                 strerror(errno));
        return;
    }
    t->seconds = rr.seconds;

    /* Evidence: "PASS nonce pid" from the very process we started. */
    char want[128];
    snprintf(want, sizeof want, "PASS %s ", nonce);
    char *pass = strstr(rr.evidence, want);
    char *fail = strstr(rr.evidence, "FAIL ");
    if (rr.timed_out) {
        snprintf(t->msg, sizeof t->msg,
                 "timed out after %.0f s (an endless loop, a deadlock, or a "
                 "wait for something that never comes?)", t->timeout);
    } else if (rr.signal != 0) {
        int sig = rr.signal;
        snprintf(t->msg, sizeof t->msg, "crashed: killed by signal %d (%s)%s",
                 sig, signame(sig),
                 sig == SIGSEGV ? ": a NULL or stray pointer?" :
                 sig == SIGXCPU ? ": it used too much CPU time" :
                 sig == SIGXFSZ ? ": it wrote too much output" : "");
    } else if (pass != NULL && WIFEXITED(rr.status) && WEXITSTATUS(rr.status) == 0 &&
               atol(pass + strlen(want)) > 0) {
        t->passed = 1;
        snprintf(t->msg, sizeof t->msg, "passed");
    } else if (fail != NULL) {
        char *m = fail + 5;
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
}

static void grade_chapter(chapter *ch)
{
    double total = 0, got = 0;

    if (load_tests(ch) != 0)
        return;
    for (size_t i = 0; i < ch->ntests; i++) {
        test *t = &ch->tests[i];
        if (!t->graded)
            continue;
        run_test(ch, t);
        ch->graded++;
        total += t->weight;
        if (t->passed) {
            ch->passed++;
            got += t->weight;
        }
    }
    ch->points = total > 0 ? 100.0 * got / total : 0;
}

/* ---- output ----------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int write_json(const char *path, chapter *chs, size_t nch, double secs)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "pk-grade: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    double score = 0;
    for (size_t c = 0; c < nch; c++)
        score += chs[c].points;
    fprintf(f, "{\n  \"score\": %.2f,\n  \"max_score\": %zu,\n"
               "  \"execution_time\": %.2f,\n  \"tests\": [", score,
            nch * 100, secs);
    const char *sep = "\n";
    for (size_t c = 0; c < nch; c++) {
        chapter *ch = &chs[c];
        double total = 0;
        for (size_t i = 0; i < ch->ntests; i++)
            if (ch->tests[i].graded)
                total += ch->tests[i].weight;
        if (ch->graded == 0) {
            /* Did not build or list: one entry carries the chapter's 100. */
            fprintf(f, "%s    {\"name\": ", sep);
            json_string(f, ch->name);
            fprintf(f, ", \"score\": 0, \"max_score\": 100, \"status\": "
                       "\"failed\", \"output\": ");
            json_string(f, ch->build_error);
            fprintf(f, "}");
            sep = ",\n";
            continue;
        }
        for (size_t i = 0; i < ch->ntests; i++) {
            test *t = &ch->tests[i];
            if (!t->graded)
                continue;
            double max = 100.0 * t->weight / total;
            char name[256 + 128], out[2048];
            snprintf(name, sizeof name, "%.63s: %.127s", ch->name, t->name);
            if (t->passed)
                snprintf(out, sizeof out, "passed");
            else
                snprintf(out, sizeof out, "%s\nHint: %s", t->msg, t->hint);
            fprintf(f, "%s    {\"name\": ", sep);
            json_string(f, name);
            fprintf(f, ", \"score\": %.4f, \"max_score\": %.4f, \"status\": \"%s\", "
                       "\"execution_time\": %.3f, \"output\": ",
                    t->passed ? max : 0.0, max, t->passed ? "passed" : "failed",
                    t->seconds);
            json_string(f, out);
            fprintf(f, "}");
            sep = ",\n";
        }
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f);
}

static void print_table(chapter *chs, size_t nch, double secs)
{
    const char *green = use_colour ? "\033[32m" : "";
    const char *red = use_colour ? "\033[31m" : "";
    const char *yellow = use_colour ? "\033[33m" : "";
    const char *bold = use_colour ? "\033[1m" : "";
    const char *off = use_colour ? "\033[0m" : "";
    double score = 0;
    size_t done = 0;

    printf("\n%s%-16s %-*s %7s %8s%s\n", bold, "chapter", BAR_WIDTH + 2,
           "progress", "tests", "points", off);
    for (size_t c = 0; c < nch; c++) {
        chapter *ch = &chs[c];
        int filled = (int)(ch->points / 100.0 * BAR_WIDTH + 0.5);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        const char *col = ch->points >= 99.99 ? green : ch->points > 0 ? yellow : red;
        printf("%-16s %s[%s]%s %3zu/%-3zu %7.1f\n", ch->name, col, bar, off,
               ch->passed, ch->graded, ch->points);
        score += ch->points;
        if (ch->graded > 0 && ch->passed == ch->graded)
            done++;
        if (ch->graded == 0) {
            printf("    %s%s%s\n", red, ch->build_error, off);
            continue;
        }
        for (size_t i = 0; i < ch->ntests; i++) {
            test *t = &ch->tests[i];
            if (!t->graded || t->passed)
                continue;
            printf("    next: %s%s%s\n      %s\n", bold, t->name, off, t->msg);
            if (t->hint[0])
                printf("      hint: %s\n", t->hint);
            break;
        }
    }
    printf("%sTotal: %.1f / %zu points, %zu of %zu chapters complete (%.1f s)%s\n",
           bold, score, nch * 100, done, nch, secs, off);
}

/* `make hint`: the next failing test only, so the student sees one step. */
static int print_next_hint(chapter *chs, size_t nch)
{
    for (size_t c = 0; c < nch; c++) {
        chapter *ch = &chs[c];
        if (ch->graded == 0) {
            printf("%s: %s\n", ch->name, ch->build_error);
            return 0;
        }
        size_t left = ch->graded - ch->passed;
        for (size_t i = 0; i < ch->ntests; i++) {
            test *t = &ch->tests[i];
            if (!t->graded || t->passed)
                continue;
            printf("%s: %zu of %zu tests pass. Next step:\n\n", ch->name,
                   ch->passed, ch->graded);
            printf("  test:     %s\n  result:   %s\n", t->name, t->msg);
            if (t->hint[0])
                printf("  hint:     %s\n", t->hint);
            printf("  log:      %s/%s/%s.log\n", logs_dir, ch->name, t->name);
            if (left > 1)
                printf("\n(%zu more failing after this one: fix this, then run "
                       "make hint again)\n", left - 1);
            return 0;
        }
        printf("%s: all %zu tests pass.\n", ch->name, ch->graded);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static chapter chs[MAX_CHAPTERS];
    size_t nch = 0;
    const char *json = NULL, *csv = NULL;
    int skeleton_check = 0, hint_only = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv = argv[++i];
        } else if (strcmp(argv[i], "--logs") == 0 && i + 1 < argc) {
            logs_dir = argv[++i];
        } else if (strcmp(argv[i], "--hint") == 0) {
            hint_only = 1;
        } else if (strcmp(argv[i], "--skeleton-check") == 0) {
            skeleton_check = 1;
        } else if (strchr(argv[i], '=') != NULL && nch < MAX_CHAPTERS) {
            chapter *ch = &chs[nch++];
            char *eq = strchr(argv[i], '=');
            *eq = '\0';
            snprintf(ch->name, sizeof ch->name, "%s", argv[i]);
            ch->program = eq + 1;
            char *colon = strchr(eq + 1, ':');
            if (colon) {
                *colon = '\0';
                ch->buildlog = colon + 1;
            }
        } else {
            fprintf(stderr, "usage: pk-grade [--skeleton-check] [--json FILE] "
                            "[--csv FILE] [--logs DIR] "
                            "CHAPTER=PROGRAM[:BUILDLOG] ...\n");
            return 2;
        }
    }
    use_colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);

    if (getenv("PK_GRADE_NO_PIDNS") != NULL)
        use_pidns = 0;
    cgroup_setup();
    atexit(cgroup_cleanup);

    double t0 = now_s();
    int bad = 0;
    for (size_t c = 0; c < nch; c++) {
        if (!skeleton_check && !hint_only) {
            printf("grading %s ...\n", chs[c].name);
            fflush(stdout);
        }
        grade_chapter(&chs[c]);
        if (skeleton_check) {
            if (chs[c].graded == 0) {
                printf("FAIL %s: %s\n", chs[c].name, chs[c].build_error);
                bad = 1;
                continue;
            }
            size_t leaks = 0;
            for (size_t i = 0; i < chs[c].ntests; i++) {
                test *t = &chs[c].tests[i];
                if (t->graded && t->passed) {
                    printf("FAIL %s: %s passes on the skeleton\n", chs[c].name,
                           t->name);
                    leaks++;
                }
            }
            printf("%s %s: %zu graded tests, %zu fail on the skeleton\n",
                   leaks ? "FAIL" : "ok  ", chs[c].name, chs[c].graded,
                   chs[c].graded - leaks);
            bad |= leaks > 0;
        }
    }
    double secs = now_s() - t0;
    if (skeleton_check)
        return bad;
    if (hint_only)
        return print_next_hint(chs, nch);
    print_table(chs, nch, secs);
    if (json != NULL) {
        if (write_json(json, chs, nch, secs) != 0)
            return 1;
        printf("results: %s\n", json);
    }
    if (csv != NULL) {
        FILE *f = fopen(csv, "w");
        if (f == NULL)
            return 1;
        for (size_t c = 0; c < nch; c++)
            fprintf(f, "%s,%.2f\n", chs[c].name, chs[c].points);
        if (fclose(f) != 0)
            return 1;
    }
    return 0;
}
