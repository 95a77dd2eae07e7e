/* bench_proc — the temporary directory and the child processes of a
 * benchmark run; see bench_proc.h. */
#include "bench_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "bench_measure.h"

/* ---- the temporary directory --------------------------------------------- */

static int s_is_dir_name(const char *name) {
  size_t n = strlen(name);
  return n > 0 && name[n - 1] == '/';
}

int bench_tmp_make(bench_tmp_t *t, const char *prefix,
                   const char *const *names, size_t n, char *err,
                   size_t errlen) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base || strlen(base) > 60)
    base = "/tmp";
  memset(t->path, 0, sizeof t->path);
  t->names = names;
  t->n = n < BENCH_TMP_MAX_FILES ? n : BENCH_TMP_MAX_FILES;
  snprintf(t->dir, sizeof t->dir, "%s/%s.XXXXXX", base, prefix);
  if (!mkdtemp(t->dir)) {
    snprintf(err, errlen, "mkdtemp %s: %s", t->dir, strerror(errno));
    t->dir[0] = '\0';
    return -1;
  }
  for (size_t i = 0; i < t->n; i++) {
    int len = (int)strlen(names[i]) - s_is_dir_name(names[i]);
    snprintf(t->path[i], sizeof t->path[i], "%s/%.*s", t->dir, len, names[i]);
  }
  return 0;
}

const char *bench_tmp_path(const bench_tmp_t *t, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < t->n; i++)
    if (!strncmp(t->names[i], name, len) &&
        (t->names[i][len] == '\0' ||
         (t->names[i][len] == '/' && t->names[i][len + 1] == '\0')))
      return t->path[i];
  return "";
}

void bench_tmp_remove_signal_safe(const bench_tmp_t *t) {
  if (!t->dir[0] || t->keep)
    return;
  for (size_t i = 0; i < t->n; i++)
    if (t->path[i][0] && !s_is_dir_name(t->names[i]))
      unlink(t->path[i]);
  for (size_t i = 0; i < t->n; i++)
    if (t->path[i][0] && s_is_dir_name(t->names[i]))
      rmdir(t->path[i]);
  rmdir(t->dir);
}

int bench_remove_tree(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      struct stat sb;
      if (depth > 0 && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        bench_remove_tree(path, depth - 1);
      else
        unlink(path);
    }
    closedir(d);
  }
  return rmdir(dir);
}

/* ---- child processes ----------------------------------------------------- */

int bench_child_stop(volatile sig_atomic_t *slot, int grace_ms) {
  pid_t pid = (pid_t)*slot;
  int status = 0;
  if (pid <= 0)
    return -1;
  kill(pid, SIGTERM);
  int64_t deadline = bench_now_ns() + (int64_t)grace_ms * 1000000;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD))
      break;
    if (bench_now_ns() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -2; /* had to be killed */
      break;
    }
    bench_sleep_ms(10);
  }
  *slot = 0;
  return status;
}

void bench_die_with_parent(pid_t parent) {
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  if (getppid() != parent)
    _exit(1);
}

/* What the fatal-signal handler cleans up (bench_fatal_signals). */
static bench_fatal_t s_fatal;

static void s_on_fatal_signal(int sig) {
  for (int i = 0; i < s_fatal.n_child; i++) {
    pid_t pid = (pid_t)s_fatal.child[i];
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      s_fatal.child[i] = 0;
    }
  }
  if (s_fatal.tmp)
    bench_tmp_remove_signal_safe(s_fatal.tmp);
  const char *msg = sig == SIGALRM ? s_fatal.watchdog_msg : s_fatal.stopped_msg;
  ssize_t w = write(2, msg, strlen(msg));
  (void)w;
  _exit(sig == SIGALRM ? 1 : 128 + sig);
}

void bench_fatal_signals(const bench_fatal_t *f) {
  s_fatal = *f;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = s_on_fatal_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* Reads one line from fd within timeout_ms. Returns 0, or -1. */
static int s_read_line(int fd, char *buf, size_t cap, int timeout_ms) {
  size_t n = 0;
  int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
  buf[0] = '\0';
  while (n + 1 < cap && !memchr(buf, '\n', n)) {
    int left = (int)((deadline - bench_now_ns()) / 1000000);
    if (left <= 0)
      break;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    n += (size_t)k;
    buf[n] = '\0';
  }
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (!nl)
    return -1;
  *nl = '\0';
  return 0;
}

int bench_fork_reporting(volatile sig_atomic_t *slot,
                         void (*child_main)(int fd, void *arg), void *arg,
                         int timeout_ms, char *line, size_t cap, char *err,
                         size_t errlen) {
  int p[2];
  if (pipe(p) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    close(p[0]);
    bench_die_with_parent(parent);
    child_main(p[1], arg);
    _exit(1);
  }
  *slot = pid;
  close(p[1]);
  int rc = s_read_line(p[0], line, cap, timeout_ms);
  close(p[0]);
  return rc == 0 ? 0 : 1;
}

int bench_spawn(volatile sig_atomic_t *slot, char *const argv[], int logfd,
                const char *exec_fail, char *err, size_t errlen) {
  fflush(NULL);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(logfd);
    return -1;
  }
  if (pid == 0) {
    bench_die_with_parent(parent);
    alarm(0);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
      dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execv(argv[0], argv);
    ssize_t w = write(2, exec_fail, strlen(exec_fail));
    (void)w;
    _exit(127);
  }
  close(logfd);
  *slot = pid;
  return 0;
}

/* ---- odds and ends ------------------------------------------------------- */

int bench_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t alen = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

long bench_log_tail(const char *path, int lines, char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char buf[8192];
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
  fseek(f, from, SEEK_SET);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  size_t start = n;
  int seen = 0;
  while (start > 0) {
    if (buf[start - 1] == '\n' && start != n && ++seen >= lines)
      break;
    start--;
  }
  snprintf(out, cap, "---- last lines of %s ----\n%s%s----\n", path,
           buf + start, n && buf[n - 1] != '\n' ? "\n" : "");
  return (long)n;
}
