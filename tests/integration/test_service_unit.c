/* etc/ketend.service(.in) starts ketend (issue 8, item 7): ketend runs with a
 * tcp endpoint on a real address (not "*") under the unit's own
 * RestrictAddressFamilies=, SystemCallFilter= / SystemCallErrorNumber= and
 * MemoryDenyWriteExecute=, applied by run_restricted (seccomp, as systemd
 * applies them; systemd is not PID 1 where the tests run), serves a
 * registered partner's PING and stops cleanly on SIGTERM. The negative
 * control: the same list without AF_NETLINK (the unit before the fix)
 * stops ketend at start, so the test can fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "harness.h"

#define UNIT_FILE KETEN_SOURCE_DIR "/etc/ketend.service.in"

static int s_setup(void **state) {
  harness_t *h = harness_new(0); /* tcp://127.0.0.1:PORT */
  *state = h;
  return h ? 0 : -1;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  harness_destroy(&h);
  return 0;
}

/* Starts run_restricted [extra...] -- ketend ... with its output in the
 * broker's log; h->pid is set, so harness_stop() ends it. */
static pid_t s_spawn_conf(harness_t *h, const char *const *extra,
                          const char *conf);
static pid_t s_spawn(harness_t *h, const char *const *extra) {
  return s_spawn_conf(h, extra, NULL);
}

/* As s_spawn, and ketend reads conf (--config) when not NULL. */
static pid_t s_spawn_conf(harness_t *h, const char *const *extra,
                          const char *conf) {
  const char *args[40];
  int k = 0;
  args[k++] = RUN_RESTRICTED_PATH;
  args[k++] = "--unit";
  args[k++] = UNIT_FILE;
  for (int i = 0; extra[i]; i++)
    args[k++] = extra[i];
  const char *tail[] = {"--",         KETEND_PATH, "--endpoint", h->endpoint,
                        "--key-file", h->key_file, "--root-key", h->root_file,
                        "--store",    h->store,    "--log-level", "info",
                        NULL};
  for (int i = 0; tail[i]; i++)
    args[k++] = tail[i];
  if (conf) {
    args[k++] = "--config";
    args[k++] = conf;
  }
  args[k] = NULL;
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  int fd = open(h->log_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
#if defined(__SANITIZE_ADDRESS__)
  /* LeakSanitizer's check at exit makes system calls (ptrace) that ketend
   * never makes and the unit's SystemCallFilter rightly refuses; the rest
   * of ASan and UBSan stays on under the filter. */
  setenv("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=0", 1);
#endif
  execv(RUN_RESTRICTED_PATH, (char *const *)args);
  _exit(127);
}

static void s_ping(harness_t *h) {
  keten_client_t *c =
      harness_client(h, &harness_partner(h, "coa")->keys, 3000, -1);
  assert_non_null(c);
  int64_t rtt = 0;
  keten_err_t rc = keten_client_ping(c, "hi", 2, &rtt);
  if (rc != KETEN_OK)
    fail_msg("PING under the unit's restrictions: %s",
             keten_client_error(c));
  keten_client_destroy(&c);
}

static void test_unit_starts_ketend_on_a_real_address(void **state) {
  harness_t *h = *state;

  assert_non_null(strstr(h->endpoint, "tcp://127.0.0.1:"));
  const char *extra[] = {"--syscall-filter", "--memory-deny-write-execute",
                         NULL};
  /* Type=notify and WatchdogSec=: sd_notify's datagrams pass the filter
   * (issue 10, item 2). */
  char npath[320];
  snprintf(npath, sizeof npath, "%s/notify.sock", h->dir);
  int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un na = {.sun_family = AF_UNIX};
  snprintf(na.sun_path, sizeof na.sun_path, "%s", npath);
  assert_int_equal(bind(nfd, (struct sockaddr *)&na, sizeof na), 0);
  setenv("NOTIFY_SOCKET", npath, 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  /* The metrics endpoint's HTTP thread (libmicrohttpd) under the same
   * filter: /health answers (issue 10). */
  int mport = harness_free_port();
  assert_true(mport > 0);
  char conf[320], mep[64];
  snprintf(mep, sizeof mep, "127.0.0.1:%d", mport);
  snprintf(conf, sizeof conf, "%s/unit-metrics.conf", h->dir);
  FILE *cf = fopen(conf, "w");
  assert_non_null(cf);
  fprintf(cf, "metrics_endpoint = %s\n", mep);
  fclose(cf);
  h->pid = s_spawn_conf(h, extra, conf);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  assert_true(h->pid > 0);
  if (harness_wait_log(h, "broker: ready", 1, 10000) != 0) {
    harness_stop(h);
    fail_msg("ketend did not start under the unit's restrictions (see %s)",
             h->log_file);
  }
  assert_int_equal(harness_log_count(h, "socket() families allowed"), 1);
  assert_int_equal(harness_log_count(h, "system call filter"), 1);
  s_ping(h);
  s_ping(h);
  const char *health[] = {"--health", mep, NULL};
  assert_int_equal(harness_run_ketend(h, health), 0);
  usleep(300000);
  /* SIGTERM: a clean stop, as systemctl stop does */
  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(harness_log_count(h, "broker: stopped"), 1);
  int ready = 0, watchdog = 0, stopping = 0;
  char msg[512];
  ssize_t n;
  while ((n = recv(nfd, msg, sizeof msg - 1, MSG_DONTWAIT)) > 0) {
    msg[n] = '\0';
    ready |= strstr(msg, "READY=1") != NULL;
    watchdog |= strstr(msg, "WATCHDOG=1") != NULL;
    stopping |= strstr(msg, "STOPPING=1") != NULL;
  }
  close(nfd);
  assert_true(ready && watchdog && stopping);
  assert_int_equal(harness_log_count(h, "sd_notify failed"), 0);
}

/* Address families alone (what the unit lacked before): the same. */
static void test_address_families_alone(void **state) {
  harness_t *h = *state;
  const char *extra[] = {NULL};
  h->pid = s_spawn(h, extra);
  assert_int_equal(harness_wait_log(h, "broker: ready", 1, 10000), 0);
  s_ping(h);
  assert_int_equal(harness_stop(h), 0);
}

/* The negative control: without AF_NETLINK, libzmq's getifaddrs() fails
 * and ketend does not start (it aborted with 134 before the fix). */
static void test_without_netlink_ketend_does_not_start(void **state) {
  harness_t *h = *state;
  const char *extra[] = {"--drop-family", "AF_NETLINK", NULL};
  pid_t pid = s_spawn(h, extra);
  assert_true(pid > 0);
  int status = 0;
  struct timespec pause = {0, 20 * 1000000L};
  int waited = 0;
  for (; waited < 500 && waitpid(pid, &status, WNOHANG) != pid; waited++)
    nanosleep(&pause, NULL);
  if (waited == 500) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("ketend kept running without AF_NETLINK: the control failed");
  }
  print_message("without AF_NETLINK: %s %d\n",
                WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  assert_true(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
  assert_int_equal(harness_log_count(h, "AF_NETLINK dropped"), 1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unit_starts_ketend_on_a_real_address,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_address_families_alone, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(
          test_without_netlink_ketend_does_not_start, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
