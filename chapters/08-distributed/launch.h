/**
 * @file launch.h
 * @brief Provided for chapter 08: start an MPI program with mpirun as a
 *        child process, with a time limit, and keep what it printed (no MPI
 *        here; not an exercise).
 *
 * The tests and the benchmark are ordinary programs: they never call
 * MPI_Init(). They run the chapter's MPI program through mpirun.sh (the
 * settings one machine needs, see that script) as a child, so that a rank
 * that hangs or crashes fails one test, not the test program. A run that
 * outlives its time limit gets SIGTERM (mpirun then kills its ranks), and
 * SIGKILL if it ignores that. The child also gets SIGTERM if the process
 * that started it dies, so no rank is left spinning behind a killed test.
 *
 * A server is an MPI job started once and run many times: its ranks wait
 * for a byte on a named pipe (blocked in read(), using no CPU, unlike a
 * rank waiting inside MPI, which polls), run the job once per byte, and
 * rank 0 answers on a second pipe when the run is done. The performance
 * tests and the benchmark time those runs without paying mpirun's start-up
 * (about a second) each time.
 */
#ifndef LAUNCH_H
#define LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

/** @brief The outcome of one mpirun run. */
typedef struct launch_run {
    int status;      /**< mpirun's wait status (when not timed out) */
    int timed_out;   /**< 1 when the run outlived its time limit */
    double seconds;  /**< wall time from start to end */
    char *output;    /**< what mpirun and the ranks printed (stdout and
                          stderr), NUL-terminated; owned by the struct */
    size_t len;      /**< strlen(output) */
} launch_run;

/**
 * @brief The folder of mpirun.sh and the chapter's scripts.
 * @return an absolute path (set at build time), without a trailing slash.
 */
const char *launch_chapter_dir(void);

/**
 * @brief Run `mpirun.sh [opts...] -np NP argv...` and wait for it, at most
 *        @p timeout_s seconds.
 * @param opts extra mpirun options (e.g. "--mca", "btl", "self,tcp"),
 *        NULL-terminated; NULL for none.
 * @param np number of ranks, at least 1.
 * @param argv the program and its arguments, NULL-terminated.
 * @param timeout_s the time limit in seconds.
 * @param out receives the outcome; free it with launch_run_free().
 * @return 0 when the run ended (whatever its status) or timed out; -1 with
 *         errno when it could not be started (EINVAL for bad arguments).
 *
 * Under AddressSanitizer the ranks run with leak checking off (Open MPI
 * leaves memory of unloaded components behind at exit, which LeakSanitizer
 * cannot attribute to a library).
 */
int launch_mpi(const char *const opts[], int np, const char *const argv[],
               double timeout_s, launch_run *out);

/**
 * @brief Put into this process's environment what the MPI programs it
 *        starts need: a directory of this process's own for Open MPI's
 *        session files and shared-memory segments (removed at exit), so
 *        that jobs started side by side never share them; under
 *        AddressSanitizer, leak checking off for them.
 *        launch_mpi() does it in its child; call it before starting mpirun
 *        another way (a script, popen()).
 */
void launch_prepare_env(void);

/**
 * @brief Free what a launch_run owns. NULL is a no-op.
 * @param r the run.
 */
void launch_run_free(launch_run *r);

/**
 * @brief How the run ended, in words: "exited with status 0", "killed by
 *        signal 9", "still running after 8 s (a hang?)".
 * @param r the run.
 * @param buf where to write.
 * @param len room in @p buf.
 * @return @p buf.
 */
const char *launch_describe(const launch_run *r, char *buf, size_t len);

/**
 * @brief 1 when the run exited with status 0 (and did not time out).
 * @param r the run.
 * @return 1 or 0.
 */
int launch_ok(const launch_run *r);

/** @brief A running MPI job that waits for "go" bytes (opaque). */
typedef struct launch_server launch_server;

/**
 * @brief Start an MPI job in server mode and wait until rank 0 says it is
 *        ready: `mpirun.sh [opts] -np NP argv... --serve GO DONE`.
 * @param opts extra mpirun options, NULL-terminated, or NULL.
 * @param np number of ranks.
 * @param argv the program and its arguments (the program must understand
 *        --serve GO DONE, as distjob.c does), NULL-terminated.
 * @param timeout_s how long start-up may take.
 * @return the server, or NULL with errno (ETIMEDOUT when it did not get
 *         ready in time, ECHILD when the job ended first; what it printed
 *         is then in launch_server_last_output()).
 */
launch_server *launch_server_start(const char *const opts[], int np,
                                   const char *const argv[], double timeout_s);

/**
 * @brief Run the job once: send one "go" byte to every rank, wait for rank
 *        0's "done".
 * @param s the server.
 * @param timeout_s how long the run may take.
 * @return 0; or -1 with errno ETIMEDOUT (no answer in time) or ECHILD (the
 *         job ended: a rank crashed or exited).
 */
int launch_server_run(launch_server *s, double timeout_s);

/**
 * @brief Stop the job: send every rank "quit", read rank 0's summary line,
 *        wait for mpirun, remove the pipes and free @p s. NULL is a no-op.
 * @param s the server.
 * @param summary receives rank 0's last line (e.g. "summary runs=7 bad=0"),
 *        or what went wrong; may be NULL.
 * @param len room in @p summary.
 * @return 0 when the job ended with status 0, -1 otherwise.
 */
int launch_server_stop(launch_server *s, char *summary, size_t len);

/**
 * @brief What the last server that failed to start printed (for messages).
 * @return a static buffer, "" when nothing.
 */
const char *launch_server_last_output(void);

#endif /* LAUNCH_H */
