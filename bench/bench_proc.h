/* bench_proc — the processes and the temporary directory of a benchmark
 * run: a directory whose files a signal handler can remove, servers that
 * are child processes dying with the driver, clean-up on a fatal signal
 * or the watchdog, a free TCP port and the tail of a server's log. Not
 * part of keten; see bench/README.md. */
#ifndef KETEN_BENCH_PROC_H
#define KETEN_BENCH_PROC_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- the temporary directory --------------------------------------------- */

#define BENCH_TMP_MAX_FILES 40
#define BENCH_TMP_PATH 240

/* The run's directory and every name that may be created in it, fixed
 * before any exists so that a signal handler can remove them without
 * allocating. A name ending in '/' is a subdirectory (its files come
 * before it in the list). */
typedef struct {
  char dir[160];
  const char *const *names;
  size_t n;
  char path[BENCH_TMP_MAX_FILES][BENCH_TMP_PATH];
  int keep;                       /* --keep-tmp: remove nothing */
} bench_tmp_t;

/* Creates $TMPDIR/PREFIX.XXXXXX (/tmp when TMPDIR is unset or longer than
 * 60 bytes: ipc:// paths must fit a sockaddr_un) and fills t's paths for
 * names[n] (n <= BENCH_TMP_MAX_FILES). Returns 0, or -1 with a reason in
 * err and t->dir empty. */
int bench_tmp_make(bench_tmp_t *t, const char *prefix,
                   const char *const *names, size_t n, char *err,
                   size_t errlen);

/* The path of name (one of t's names; a subdirectory's without its '/')
 * in t's directory, or "" when name is not one of them. */
const char *bench_tmp_path(const bench_tmp_t *t, const char *name);

/* Async-signal-safe: unlinks t's files, removes its subdirectories and
 * the directory, unless t->keep or there is no directory. */
void bench_tmp_remove_signal_safe(const bench_tmp_t *t);

/* Removes dir and what it holds, descending depth levels into
 * subdirectories. Returns rmdir(dir)'s result (errno set on -1). */
int bench_remove_tree(const char *dir, int depth);

/* ---- child processes ----------------------------------------------------- */

/* Stops the child in *slot with SIGTERM, then SIGKILL after grace_ms, and
 * clears *slot. Returns its wait status, -2 when it had to be killed, -1
 * when there was none. */
int bench_child_stop(volatile sig_atomic_t *slot, int grace_ms);

/* In a forked child: dies with the parent (PR_SET_PDEATHSIG on Linux),
 * even if the parent is SIGKILLed; exits at once if it is already gone. */
void bench_die_with_parent(pid_t parent);

/* What a fatal signal (SIGINT, SIGTERM, SIGHUP, SIGALRM: the watchdog)
 * cleans up: the children in child[n] and tmp; the message written to
 * stderr for SIGALRM and for the others. */
typedef struct {
  volatile sig_atomic_t *child;
  int n_child;
  const bench_tmp_t *tmp;
  const char *watchdog_msg, *stopped_msg;
} bench_fatal_t;

/* Installs the handler for those signals (it SIGKILLs and reaps the
 * children, removes tmp, writes the message and exits with 1 for SIGALRM,
 * 128 + the signal otherwise) and ignores SIGPIPE. f must outlive the run. */
void bench_fatal_signals(const bench_fatal_t *f);

/* Forks a child that runs child_main(fd, arg) with fd the write end of a
 * pipe (child_main must not return), stores its pid in *slot and reads
 * the first line it writes within timeout_ms. Returns 0 with the line in
 * line, 1 when no line came in time, -1 with a reason in err. */
int bench_fork_reporting(volatile sig_atomic_t *slot,
                         void (*child_main)(int fd, void *arg), void *arg,
                         int timeout_ms, char *line, size_t cap, char *err,
                         size_t errlen);

/* Forks and executes argv[0] with stdin from /dev/null and stdout and
 * stderr to logfd (closed here); the child dies with this process and
 * writes exec_fail to the log when execv fails. Stores its pid in *slot.
 * Returns 0, or -1 with a reason in err. */
int bench_spawn(volatile sig_atomic_t *slot, char *const argv[], int logfd,
                const char *exec_fail, char *err, size_t errlen);

/* ---- odds and ends ------------------------------------------------------- */

/* A free TCP port on 127.0.0.1 (the kernel's choice), or -1. */
int bench_free_port(void);

/* Fills out (cap bytes) with "---- last lines of PATH ----\n", up to the
 * last lines lines of the file's final 8 KiB and "----\n". Returns how
 * many bytes of the file it holds (0: empty), or -1 (out "") when the
 * file cannot be read. */
long bench_log_tail(const char *path, int lines, char *out, size_t cap);

#endif
