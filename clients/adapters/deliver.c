/* deliver — the optional command run per delivery (on_delivery): the
 * program itself with the inbox file as argv[1], never through a shell,
 * so that nothing in a file name or a delivery can become a command. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

static void s_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits for pid until deadline (monotonic ms); 1 with *status when it
 * ended, 0 when the deadline passed, 2 when a stop was requested (only
 * when stoppable). Pings the watchdog meanwhile (a slow case system must
 * not starve it). SIGTERM interrupts the sleep (no SA_RESTART). */
static int s_wait_until(pid_t pid, int64_t deadline, int *status,
                        int stoppable) {
  int delay = 1;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 1;
    if (r < 0 && errno != EINTR) {
      *status = -1;
      return 1;
    }
    if (stoppable && adapter_stop_requested)
      return 2;
    adapter_watchdog();
    int64_t now = adapter_mono_ms();
    if (now >= deadline)
      return 0;
    int left = (int)(deadline - now);
    s_sleep_ms(delay < left ? delay : left);
    if (delay < 50)
      delay *= 2;
  }
}

int adapter_run_command(const char *cmd, const char *path, int timeout_ms) {
  if (adapter_stop_requested)
    return -4;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, STDIN_FILENO);
      if (fd != STDIN_FILENO)
        close(fd);
    }
    /* Its own process group, so that a timeout ends what it started too. */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    char *const argv[] = {(char *)cmd, (char *)path, NULL};
    execv(cmd, argv);
    _exit(127);
  }
  setpgid(pid, pid); /* also here: no race with the child's own call */
  int status = 0;
  int w = s_wait_until(pid, adapter_mono_ms() + timeout_ms, &status, 1);
  if (w != 1) {
    /* the timeout (grace 2 s), or a stop request (grace 1 s: the unit's
     * TimeoutStopSec must not run out) */
    kill(-pid, SIGTERM);
    if (s_wait_until(pid, adapter_mono_ms() + (w == 2 ? 1000 : 2000), &status,
                     0) != 1) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    }
    return w == 2 ? -4 : -2;
  }
  if (status == -1)
    return -1;
  if (WIFEXITED(status))
    return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
  return -3;
}
