/* Hostile review of the partner adapters and of libketen's event-loop
 * descriptor (issue 11), against a real ketend.
 *
 * Each test is an attack; a test that FAILS demonstrates a finding (see
 * the comment above it). The adapter findings marked "expected to FAIL"
 * below are fixed (clients/adapters/, docs/adapters.md) and the tests now
 * guard them; the watchdog test runs since its measurement counts the
 * silence after the last ping. The attackers:
 *   - a local user who can write into the outbox (symlinked done/ and
 *     failed/, fifos, symlinks, huge files, names with odd characters);
 *   - a slow or broken case system behind on_delivery (a command that
 *     hangs, is slow, or fails on one item for ever);
 *   - the event-loop integrator (descriptors across reconnects, a loop
 *     that spins).
 * Section 4 checks claims of docs/security.md 4.53 against files and
 * directories planted in the inbox, unsafe directories at start, and the
 * on_delivery attempt count across a restart.
 * The COA adapter runs for the whole group and publishes the intake of
 * examples/partners again for every test that needs deliveries: the
 * volunteer (vwn:zeeland) then gets IDENTITY, HOUSEHOLD, LANGUAGE and
 * HOUSING, a new version each time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adapter_fixture.h"
#include "harness.h"

#ifndef KETEN_PARTNERS_DIR
#error "KETEN_PARTNERS_DIR must name examples/partners"
#endif
#ifndef KETEN_ADAPTER_DIR
#error "KETEN_ADAPTER_DIR must name the directory of the adapter programs"
#endif

#define WAIT_MS 20000

typedef struct {
  const char *kind;
  const char *id;
  char dir[320], conf[400], outbox[400], inbox[400], log[400], state[400];
  pid_t pid;
} s_adapter_t;

static harness_t *g_h;
static s_adapter_t g_coa = {.kind = "coa", .id = "coa", .pid = -1};
static int g_round;

/* ---- helpers ----------------------------------------------------------------- */

static void s_drop_text(s_adapter_t *a, const char *name, const char *text) {
  fx_drop_text(a->outbox, name, text);
}

static int s_log_has(const s_adapter_t *a, const char *needle) {
  return fx_file_count(a->log, needle);
}

static int s_wait_path(const char *path, int ms) {
  int64_t t0 = fx_mono_ms();
  while (!fx_exists(path)) {
    if (fx_mono_ms() - t0 > ms)
      return 0;
    fx_sleep_ms(50);
  }
  return 1;
}

static void s_prepare(s_adapter_t *a, const char *kind, const char *id,
                      const char *tag) {
  memset(a, 0, sizeof *a);
  a->kind = kind;
  a->id = id;
  a->pid = -1;
  snprintf(a->dir, sizeof a->dir, "%s/%s-%s", g_h->dir, kind, tag);
  snprintf(a->conf, sizeof a->conf, "%s/adapter.conf", a->dir);
  snprintf(a->outbox, sizeof a->outbox, "%s/outbox", a->dir);
  snprintf(a->inbox, sizeof a->inbox, "%s/inbox", a->dir);
  snprintf(a->state, sizeof a->state, "%s/state", a->dir);
  snprintf(a->log, sizeof a->log, "%s/adapter.log", a->dir);
  assert_int_equal(mkdir(a->dir, 0700), 0);
  assert_int_equal(mkdir(a->outbox, 0700), 0);
  assert_int_equal(mkdir(a->inbox, 0700), 0);
  char key[400];
  snprintf(key, sizeof key, "%s/partner.key", a->dir);
  assert_int_equal(
      keten_keys_save(&harness_partner(g_h, a->id)->keys, key, NULL, 0), KETEN_OK);
}

static void s_config(s_adapter_t *a, const char *extra) {
  char text[4096];
  snprintf(text, sizeof text,
           "endpoint = %s\n"
           "key = %s/partner.key\n"
           "broker_key = %s/broker.pub\n"
           "root_key = %s\n"
           "chain_key = %s/chain.key\n"
           "outbox = %s\n"
           "inbox = %s\n"
           "state_dir = %s\n"
           "log_level = debug\n"
           "request_timeout_ms = 5000\n"
           "retry_max_ms = 2000\n"
           "%s",
           g_h->endpoint, a->dir, g_h->dir, g_h->root_file, g_h->dir, a->outbox,
           a->inbox, a->state, extra ? extra : "");
  fx_write(a->conf, text, 0600);
}

/* Starts a's program; env (may be NULL) are extra "K=V" strings. */
static void s_start_env(s_adapter_t *a, char *const *env) {
  char prog[400];
  snprintf(prog, sizeof prog, "%s/keten-adapter-%s", KETEN_ADAPTER_DIR, a->kind);
  int before = s_log_has(a, " connected to ");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      close(fd);
    }
    unsetenv("JOURNAL_STREAM");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    for (size_t i = 0; env && env[i]; i++)
      putenv(env[i]);
    char *argv[] = {prog, "--config", a->conf, NULL};
    execv(prog, argv);
    _exit(127);
  }
  a->pid = pid;
  int64_t t0 = fx_mono_ms();
  while (s_log_has(a, " connected to ") <= before) {
    int status;
    if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
      a->pid = -1;
      char *log = fx_read(a->log);
      fail_msg("%s exited; log:\n%s", a->kind, log ? log : "");
    }
    if (fx_mono_ms() - t0 > WAIT_MS)
      fail_msg("%s did not connect", a->kind);
    fx_sleep_ms(50);
  }
}

static void s_start(s_adapter_t *a) { s_start_env(a, NULL); }

/* SIGTERM; waits up to max_ms; returns the time it took (ms), SIGKILLs
 * after max_ms (and returns max_ms + 1). */
static int s_stop_timed(s_adapter_t *a, int max_ms) {
  if (a->pid <= 0)
    return 0;
  kill(a->pid, SIGTERM);
  int status = 0;
  int64_t t0 = fx_mono_ms();
  while (waitpid(a->pid, &status, WNOHANG) != a->pid) {
    if (fx_mono_ms() - t0 > max_ms) {
      kill(a->pid, SIGKILL);
      waitpid(a->pid, &status, 0);
      a->pid = -1;
      return max_ms + 1;
    }
    fx_sleep_ms(20);
  }
  a->pid = -1;
  return (int)(fx_mono_ms() - t0);
}

static void s_stop(s_adapter_t *a) { (void)s_stop_timed(a, 10000); }

/* COA publishes its intake again (new section versions, consents again):
 * the volunteer gets four new deliveries. */
static void s_coa_intake_again(void) {
  char name[64], path[700];
  snprintf(name, sizeof name, "intake-%02d.json", ++g_round);
  char *t = fx_example("coa-intake-amira.json");
  s_drop_text(&g_coa, name, t);
  free(t);
  snprintf(path, sizeof path, "%s/done/%s", g_coa.outbox, name);
  if (!s_wait_path(path, WAIT_MS)) {
    char *log = fx_read(g_coa.log);
    fail_msg("COA did not publish %s; log:\n%s", name, log ? log : "");
  }
}

/* The lines of a file (0 when it does not exist). */
static int s_lines(const char *path) {
  char *t = fx_read(path);
  int n = fx_count(t, "\n");
  free(t);
  return n;
}

/* Lets a fresh volunteer adapter without a command take everything the
 * broker still holds for vwn:zeeland, so that the next test starts clean. */
static void s_drain_vwn(void) {
  s_adapter_t v;
  char tag[32];
  snprintf(tag, sizeof tag, "drain%d", ++g_round);
  s_prepare(&v, "volunteer", "vwn:zeeland", tag);
  s_config(&v, NULL);
  s_start(&v);
  int64_t t0 = fx_mono_ms();
  int last = -1, same = 0;
  while (fx_mono_ms() - t0 < 15000 && same < 20) {
    int n = s_log_has(&v, "received ");
    same = n == last ? same + 1 : 0;
    last = n;
    fx_sleep_ms(100);
  }
  s_stop(&v);
}

/* ---- setup ------------------------------------------------------------------------ */

static int s_setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  g_h = harness_new(1);
  if (!g_h || harness_config(g_h, "ack_timeout_ms = 1000\n") != 0 ||
      harness_start(g_h) != 0)
    return -1;
  char path[400];
  snprintf(path, sizeof path, "%s/broker.pub", g_h->dir);
  if (keten_keys_save(&g_h->broker, NULL, path, 1) != KETEN_OK)
    return -1;
  uint8_t chain[KETEN_CHAIN_KEY_BYTES];
  snprintf(path, sizeof path, "%s/chain.key", g_h->dir);
  if (keten_chain_key_generate(chain) != KETEN_OK ||
      keten_chain_key_save(chain, path, 0) != KETEN_OK)
    return -1;
  s_prepare(&g_coa, "coa", "coa", "group");
  s_config(&g_coa, NULL);
  s_start(&g_coa);
  return 0;
}

static int s_teardown(void **state) {
  (void)state;
  s_stop(&g_coa);
  harness_destroy(&g_h);
  return 0;
}

/* ============ 1. the outbox: a local user who can write into it ================ */

/* FINDING (expected to FAIL): outbox.c s_move()/s_fail_file() build
 * "OUTBOX/failed/NAME" as a path and rename() into it, and
 * adapter_write_atomic() writes failed/NAME.reason the same way: a
 * symlink put in place of failed/ after start (adapter_mkdir checked it
 * only at start) is followed. Here failed/ points into the adapter's own
 * inbox, and a file the attacker names like a section copy lands there as
 * if the broker had delivered and verified it. */
static void test_failed_dir_symlink_moves_attacker_file_into_inbox(void **state) {
  (void)state;
  s_adapter_t a;
  s_prepare(&a, "care", "ggz:zeeland", "failedlink");
  s_config(&a, NULL);
  s_start(&a);
  char failed[700], moved[700];
  snprintf(failed, sizeof failed, "%s/failed", a.outbox);
  snprintf(moved, sizeof moved, "%s/failed.orig", a.outbox);
  assert_int_equal(rename(failed, moved), 0);
  assert_int_equal(symlink(a.inbox, failed), 0);
  const char *name = "section-"
                     "00000000000000000000000000000000000000000000000000000000"
                     "00000000-HEALTH-coa-v9.json";
  s_drop_text(&a, name,
              "{\"type\": \"section\", \"kind\": \"HEALTH\", \"author\": \"coa\", "
              "\"version\": 9, \"data\": {\"forged\": true}}\n");
  char in_inbox[900], reason[900];
  snprintf(in_inbox, sizeof in_inbox, "%s/%s", a.inbox, name);
  snprintf(reason, sizeof reason, "%s/%s.reason", a.inbox, name);
  /* wait until the adapter dealt with it (the reason file appears wherever
   * failed/ leads) */
  s_wait_path(reason, 10000);
  int escaped = fx_exists(in_inbox);
  s_stop(&a);
  if (escaped)
    fail_msg("the outbox file %s was moved through the failed/ symlink into "
             "the inbox (%s): a forged 'delivered' section", name, in_inbox);
}

/* FINDING (expected to FAIL): the same for done/ with a file that
 * publishes: it is renamed through the symlink into any directory the
 * adapter may write (here a directory standing for ~/.config or the
 * state dir). */
static void test_done_dir_symlink_moves_file_elsewhere(void **state) {
  (void)state;
  s_adapter_t a;
  s_prepare(&a, "care", "ggz:zeeland", "donelink");
  s_config(&a, NULL);
  s_start(&a);
  char done[700], moved[700], victim[700];
  snprintf(done, sizeof done, "%s/done", a.outbox);
  snprintf(moved, sizeof moved, "%s/done.orig", a.outbox);
  snprintf(victim, sizeof victim, "%s/victim", a.dir);
  assert_int_equal(mkdir(victim, 0700), 0);
  assert_int_equal(rename(done, moved), 0);
  assert_int_equal(symlink(victim, done), 0);
  char *t = fx_example("ggz-care-amira.json");
  s_drop_text(&a, "planted.json", t);
  free(t);
  char there[900], orig[900], out[900];
  snprintf(there, sizeof there, "%s/planted.json", victim);
  snprintf(orig, sizeof orig, "%s/planted.json", moved);
  snprintf(out, sizeof out, "%s/planted.json", a.outbox);
  int64_t t0 = fx_mono_ms();
  while (fx_exists(out) && fx_mono_ms() - t0 < 15000)
    fx_sleep_ms(50);
  fx_sleep_ms(200);
  int escaped = fx_exists(there);
  s_stop(&a);
  if (escaped)
    fail_msg("a published outbox file was renamed through the done/ symlink "
             "into %s", victim);
}

/* Passes: a fifo, a symlink to a secret, a sparse 2 GiB file and a file
 * that is not JSON go to failed/ without blocking the queue or being
 * followed; the fifo is not opened for a blocking read. */
static void test_fifo_symlink_huge_do_not_block(void **state) {
  (void)state;
  s_adapter_t a;
  s_prepare(&a, "care", "ggz:zeeland", "oddfiles");
  s_config(&a, NULL);
  s_start(&a);
  char p[700], q[700];
  snprintf(p, sizeof p, "%s/.a-fifo.tmp", a.outbox);
  snprintf(q, sizeof q, "%s/a-fifo.json", a.outbox);
  assert_int_equal(mkfifo(p, 0600), 0);
  assert_int_equal(rename(p, q), 0);
  char key[700];
  snprintf(key, sizeof key, "%s/partner.key", a.dir);
  snprintf(p, sizeof p, "%s/.b-link.tmp", a.outbox);
  snprintf(q, sizeof q, "%s/b-link.json", a.outbox);
  assert_int_equal(symlink(key, p), 0);
  assert_int_equal(rename(p, q), 0);
  snprintf(p, sizeof p, "%s/.c-huge.tmp", a.outbox);
  snprintf(q, sizeof q, "%s/c-huge.json", a.outbox);
  int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)2 << 30), 0);
  close(fd);
  assert_int_equal(rename(p, q), 0);
  s_drop_text(&a, "d-after.json", "{\"v_nummer\": ");
  const char *names[] = {"a-fifo.json", "b-link.json", "c-huge.json", "d-after.json"};
  for (int i = 0; i < 4; i++) {
    char r[900];
    snprintf(r, sizeof r, "%s/failed/%s.reason", a.outbox, names[i]);
    if (!s_wait_path(r, 10000)) {
      char *log = fx_read(a.log);
      s_stop(&a);
      fail_msg("no failed/%s.reason; log:\n%s", names[i], log ? log : "");
    }
  }
  /* the symlink itself was moved, not its target */
  char l[900];
  snprintf(l, sizeof l, "%s/failed/b-link.json", a.outbox);
  struct stat st;
  assert_int_equal(lstat(l, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_true(fx_exists(key));
  s_stop(&a);
}

/* FINDING (expected to FAIL): outbox.c s_queue() drops every name that
 * adapter_name_ok() refuses ([A-Za-z0-9._-] only) without a word: a case
 * system that writes "intake amira.json" (a space, common on Windows
 * shares) or "inschrijving-é.json" never sees its file published, never
 * in failed/, and nothing in the log. */
static void test_odd_name_is_not_silently_ignored(void **state) {
  (void)state;
  s_adapter_t a;
  s_prepare(&a, "care", "ggz:zeeland", "oddname");
  s_config(&a, NULL);
  s_start(&a);
  char *t = fx_example("ggz-care-amira.json");
  s_drop_text(&a, "care amira.json", t);
  free(t);
  /* Either published under its name, or in failed/ under a sanitised name
   * ("care_amira.json", the fix's choice: names in the adapter's
   * directories stay [A-Za-z0-9._-]) with the original name in the
   * reason. (The review's test looked only for failed/"care amira.json".) */
  char done[900], failed[900], failed_sane[900];
  snprintf(done, sizeof done, "%s/done/care amira.json", a.outbox);
  snprintf(failed, sizeof failed, "%s/failed/care amira.json.reason", a.outbox);
  snprintf(failed_sane, sizeof failed_sane, "%s/failed/care_amira.json.reason",
           a.outbox);
  int64_t t0 = fx_mono_ms();
  while (!fx_exists(done) && !fx_exists(failed) && !fx_exists(failed_sane) &&
         fx_mono_ms() - t0 < 5000)
    fx_sleep_ms(50);
  int handled = fx_exists(done) || fx_exists(failed) || fx_exists(failed_sane);
  int logged = s_log_has(&a, "care amira");
  s_stop(&a);
  if (!handled)
    fail_msg("\"care amira.json\" stays in the outbox for ever: not published, "
             "not in failed/, %s in the log",
             logged ? "mentioned" : "not mentioned");
  if (fx_exists(failed_sane)) {
    char *r = fx_read(failed_sane);
    assert_non_null(r);
    if (!strstr(r, "\"care amira.json\""))
      fail_msg("failed/care_amira.json.reason does not name the original file:\n%s",
               r);
    free(r);
    assert_true(logged > 0);
  }
}

/* ============ 2. the case system behind on_delivery =============================== */

/* Passes if the command gets no descriptor of the adapter's (the ZeroMQ
 * sockets, the inotify watch, the epoll set, key files). */
static void test_on_delivery_inherits_no_descriptors(void **state) {
  (void)state;
  s_adapter_t v;
  s_prepare(&v, "volunteer", "vwn:zeeland", "fds");
  char script[600], text[2048], extra[800];
  snprintf(script, sizeof script, "%s/take.sh", v.dir);
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "ls -l /proc/$$/fd/ >> %s/fds.txt 2>&1\n"
           "echo x >> %s/calls\n",
           v.dir, v.dir);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra, "on_delivery = %s\n", script);
  s_config(&v, extra);
  s_start(&v);
  s_coa_intake_again();
  char calls[700], fds[700];
  snprintf(calls, sizeof calls, "%s/calls", v.dir);
  snprintf(fds, sizeof fds, "%s/fds.txt", v.dir);
  int64_t t0 = fx_mono_ms();
  while (s_lines(calls) < 1 && fx_mono_ms() - t0 < WAIT_MS)
    fx_sleep_ms(50);
  s_stop(&v);
  char *f = fx_read(fds);
  assert_non_null(f);
  int bad = fx_count(f, "socket:") + fx_count(f, "anon_inode") + fx_count(f, ".key") +
            fx_count(f, "inotify") + fx_count(f, "eventpoll");
  if (bad)
    fail_msg("the on_delivery command inherited adapter descriptors:\n%s", f);
  free(f);
}

/* FINDING (expected to FAIL): adapter.c s_run() sends WATCHDOG=1 only
 * between polls, and one keten_client_poll() runs the command for every
 * item of a DELIVER frame (credit 16 by default), each up to
 * on_delivery_timeout_ms (30 s default; the config allows 1 h) while the
 * unit has WatchdogSec=60. A case system that takes a few seconds per
 * file starves the watchdog although no command times out: systemd kills
 * the adapter (SIGABRT), it restarts, the same unacked items come again.
 * Here WATCHDOG_USEC is 4 s (pets every 2 s), the command takes 5 s per
 * file (longer than the interval: only pings from inside the wait keep the
 * watchdog fed; the review had 2.5 s, which passed without the fix when
 * each poll happened to hand over one item) and 4 files come: the longest
 * silence must stay below 4 s. */
static __attribute__((unused)) void
test_watchdog_starves_during_slow_commands(void **state) {
  (void)state;
  s_drain_vwn();
  s_adapter_t v;
  s_prepare(&v, "volunteer", "vwn:zeeland", "watchdog");
  char script[600], text[2048], extra[800], sock_path[700];
  snprintf(script, sizeof script, "%s/take.sh", v.dir);
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "sleep 5\n"
           "echo \"$1\" >> %s/taken\n",
           v.dir);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra,
           "on_delivery = %s\non_delivery_timeout_ms = 10000\n", script);
  s_config(&v, extra);
  snprintf(sock_path, sizeof sock_path, "%s/notify.sock", v.dir);
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(sock_path) < sizeof sa.sun_path);
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
  static char env_sock[800], env_usec[64];
  snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", sock_path);
  snprintf(env_usec, sizeof env_usec, "WATCHDOG_USEC=4000000");
  char *env[] = {env_sock, env_usec, NULL};
  /* published while the adapter is away: the backlog comes at SUBSCRIBE,
   * several items to a DELIVER frame */
  s_coa_intake_again();
  s_start_env(&v, env);
  char taken[700];
  snprintf(taken, sizeof taken, "%s/taken", v.dir);
  int64_t t0 = fx_mono_ms(), last = -1, worst = 0;
  while (s_lines(taken) < 4 && fx_mono_ms() - t0 < 60000) {
    char buf[512];
    ssize_t n;
    while ((n = recv(s, buf, sizeof buf - 1, 0)) > 0) {
      buf[n] = '\0';
      if (strstr(buf, "WATCHDOG=1")) {
        int64_t now = fx_mono_ms();
        if (last >= 0 && now - last > worst)
          worst = now - last;
        last = now;
      }
    }
    fx_sleep_ms(20);
  }
  int got = s_lines(taken);
  /* the silence since the last ping counts too (the review's version
   * measured only between two pings: one ping and then none at all
   * looked like "worst 0") */
  if (last >= 0 && fx_mono_ms() - last > worst)
    worst = fx_mono_ms() - last;
  s_stop(&v);
  close(s);
  unlink(sock_path);
  assert_true(got >= 4);
  if (last < 0)
    fail_msg("no WATCHDOG=1 at all: the test did not reach sd_notify");
  if (worst >= 4000)
    fail_msg("no WATCHDOG=1 for %lld ms (WATCHDOG_USEC 4 s) while the command "
             "ran for each delivery: systemd would have killed the adapter",
             (long long)worst);
}

/* FINDING (expected to FAIL): deliver.c s_wait_until() does not look at
 * adapter_stop_requested: SIGTERM while the command hangs waits for the
 * whole on_delivery_timeout_ms (plus 2 s); with a timeout above 38 s the
 * unit's TimeoutStopSec=40 SIGKILLs the adapter (no clean stop, no last
 * ack). Here: timeout 20 s, the command hangs; the adapter must stop
 * within 5 s of SIGTERM. */
static void test_sigterm_not_delayed_by_hung_command(void **state) {
  (void)state;
  s_drain_vwn();
  s_adapter_t v;
  s_prepare(&v, "volunteer", "vwn:zeeland", "hang");
  char script[600], text[2048], extra[800], started[700];
  snprintf(script, sizeof script, "%s/take.sh", v.dir);
  snprintf(started, sizeof started, "%s/started", v.dir);
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "echo $$ > %s\n"
           "exec sleep 60\n",
           started);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra,
           "on_delivery = %s\non_delivery_timeout_ms = 20000\n", script);
  s_config(&v, extra);
  s_start(&v);
  s_coa_intake_again();
  assert_true(s_wait_path(started, WAIT_MS));
  fx_sleep_ms(200);
  int took = s_stop_timed(&v, 30000);
  char *pidtext = fx_read(started);
  if (pidtext) {
    pid_t pg = (pid_t)atoi(pidtext);
    if (pg > 1)
      kill(-pg, SIGKILL); /* the sleep, if the adapter left it */
    free(pidtext);
  }
  if (took > 5000)
    fail_msg("SIGTERM took %d ms to stop the adapter while on_delivery hung "
             "(it waits for on_delivery_timeout_ms)",
             took);
}

/* FINDING (design; expected to FAIL): a delivery whose command fails for
 * ever (a hostile partner's section that crashes the case system's import,
 * or a bug) holds every later item: libketen's hold_from skips the rest
 * of the frame and the broker resends from there, so sections and delete
 * notices behind it are never handed over. There is no attempt limit
 * after which the item is quarantined. Here the command refuses only the
 * HOUSEHOLD copy; LANGUAGE and HOUSING come after it in the same intake. */
static void test_poison_delivery_blocks_the_mailbox(void **state) {
  (void)state;
  s_drain_vwn();
  s_adapter_t v;
  s_prepare(&v, "volunteer", "vwn:zeeland", "poison");
  char script[600], text[2048], extra[800];
  snprintf(script, sizeof script, "%s/take.sh", v.dir);
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "case \"$1\" in *-HOUSEHOLD-*) exit 1;; esac\n"
           "echo \"$1\" >> %s/taken\n",
           v.dir);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra, "on_delivery = %s\non_delivery_timeout_ms = 5000\n",
           script);
  s_config(&v, extra);
  s_start(&v);
  s_coa_intake_again();
  char taken[700];
  snprintf(taken, sizeof taken, "%s/taken", v.dir);
  int64_t t0 = fx_mono_ms();
  char *t = NULL;
  int lang = 0, housing = 0;
  while (fx_mono_ms() - t0 < 12000 && !(lang && housing)) {
    free(t);
    t = fx_read(taken);
    lang = t && strstr(t, "-LANGUAGE-");
    housing = t && strstr(t, "-HOUSING-");
    fx_sleep_ms(200);
  }
  int refusals = s_log_has(&v, "-HOUSEHOLD-");
  s_stop(&v);
  s_drain_vwn(); /* let the held items go for the tests after */
  if (!(lang && housing))
    fail_msg("one item its command refuses (HOUSEHOLD, refused %d times in 12 "
             "s) blocks the later ones: LANGUAGE %s, HOUSING %s; taken:\n%s",
             refusals, lang ? "taken" : "never", housing ? "taken" : "never",
             t ? t : "(nothing)");
  free(t);
}

/* ============ 3. libketen's event-loop descriptor ================================= */

static int s_n_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static int s_on_section(const keten_section_t *s, uint64_t seq, keten_err_t st,
                        void *arg) {
  (void)s;
  (void)seq;
  (void)st;
  (void)arg;
  return 0;
}

/* Passes if a client that is refused again and again (an unregistered
 * key: every request makes a new socket and monitor) and has handed out
 * its descriptor does not grow its descriptor count. */
static void test_fd_no_leak_across_refusals(void **state) {
  (void)state;
  keten_keys_t k;
  assert_int_equal(keten_keys_generate(&k, "stranger"), KETEN_OK);
  keten_client_config_t cfg;
  harness_client_config(g_h, &k, 1000, -1, &cfg);
  cfg.reconnect_ivl_ms = 20;
  cfg.reconnect_ivl_max_ms = 50;
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  int efd = keten_client_fd(c);
  assert_true(efd >= 0);
  keten_welcome_t w;
  for (int i = 0; i < 5; i++)
    (void)keten_client_hello(c, &w);
  fx_sleep_ms(300);
  int before = s_n_fds();
  for (int i = 0; i < 40; i++) {
    keten_err_t rc = keten_client_hello(c, &w);
    assert_int_not_equal(rc, KETEN_OK);
    fx_sleep_ms(60);
    assert_int_equal(keten_client_fd(c), efd);
  }
  fx_sleep_ms(500);
  int after = s_n_fds();
  keten_client_destroy(&c);
  keten_keys_wipe(&k);
  if (after > before + 2)
    fail_msg("descriptors grew from %d to %d over 40 refused reconnects", before,
             after);
}

/* Passes if a subscribed client's descriptor count stays flat across
 * broker restarts (each a lost connection and a new handshake). */
static void test_fd_no_leak_across_broker_restarts(void **state) {
  (void)state;
  keten_client_config_t cfg;
  harness_client_config(g_h, &harness_partner(g_h, "gemeente:0716")->keys, 1000,
                        -1, &cfg);
  cfg.reconnect_ivl_ms = 20;
  cfg.reconnect_ivl_max_ms = 100;
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  assert_int_equal(keten_client_subscribe(c, 4), KETEN_OK);
  int efd = keten_client_fd(c);
  assert_true(efd >= 0);
  keten_client_poll(c, 200, s_on_section, NULL, NULL);
  int before = s_n_fds();
  for (int i = 0; i < 3; i++) {
    harness_stop(g_h);
    for (int j = 0; j < 5; j++)
      keten_client_poll(c, 100, s_on_section, NULL, NULL);
    assert_int_equal(harness_start(g_h), 0);
    int64_t t0 = fx_mono_ms();
    while (keten_client_state(c) != KETEN_STATE_CONNECTED &&
           fx_mono_ms() - t0 < 10000)
      keten_client_poll(c, 100, s_on_section, NULL, NULL);
    assert_int_equal(keten_client_fd(c), efd);
  }
  for (int j = 0; j < 5; j++)
    keten_client_poll(c, 100, s_on_section, NULL, NULL);
  int after = s_n_fds();
  keten_client_destroy(&c);
  if (after > before + 2)
    fail_msg("descriptors grew from %d to %d over 3 broker restarts", before, after);
}

/* FINDING (expected to FAIL): a client that has not subscribed (a
 * producer, or a program that wants keten_client_on_state) and uses the
 * descriptor: after the broker drops the connection the monitor socket
 * holds an event, so keten_client_timeout_ms() says 0 and the descriptor
 * is readable, but keten_client_poll() returns KETEN_ERR_INVALID at once
 * (no credit) without reading it: the documented loop spins at 100% CPU
 * for ever (client.c keten_client_poll: `!c->credit` before s_poll;
 * keten_client_timeout_ms: s_work_now() before the credit check). */
static void test_unsubscribed_loop_does_not_spin(void **state) {
  (void)state;
  keten_client_config_t cfg;
  harness_client_config(g_h, &harness_partner(g_h, "vwn:zeeland")->keys, 1000, -1,
                        &cfg);
  char err[256];
  keten_client_t *c = keten_client_new(&cfg, err, sizeof err);
  assert_non_null(c);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  int efd = keten_client_fd(c);
  assert_true(efd >= 0);
  harness_stop(g_h);
  fx_sleep_ms(500);
  int immediate = 0;
  keten_err_t last = KETEN_OK;
  int64_t t0 = fx_mono_ms();
  for (int i = 0; i < 50; i++) {
    int t = keten_client_timeout_ms(c);
    struct pollfd p = {.fd = efd, .events = POLLIN};
    int r = poll(&p, 1, t < 0 || t > 100 ? 100 : t);
    if (t == 0 || r > 0)
      immediate++;
    last = keten_client_poll(c, 0, s_on_section, NULL, NULL);
  }
  int64_t spent = fx_mono_ms() - t0;
  keten_client_destroy(&c);
  assert_int_equal(harness_start(g_h), 0);
  if (immediate > 5)
    fail_msg("the documented loop woke at once %d of 50 times in %lld ms "
             "(keten_client_timeout_ms 0 / descriptor readable) while poll "
             "returned %s: a busy loop",
             immediate, (long long)spent, keten_strerror(last));
}

/* ============ 4. the inbox against planted names (security.md 4.53) ============== */

/* The highest version N of inbox/section-<subject>-KIND-AUTHOR-vN.json
 * (AUTHOR with ':' as '_'); its subject into subj (65 bytes). 0: none. */
static unsigned long long s_max_version(const char *inbox, const char *kind,
                                        const char *author, char *subj) {
  DIR *d = opendir(inbox);
  assert_non_null(d);
  char mid[128];
  snprintf(mid, sizeof mid, "-%s-%s-v", kind, author);
  unsigned long long best = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (strncmp(n, "section-", 8) || strlen(n) < 8 + 64 ||
        strncmp(n + 8 + 64, mid, strlen(mid)))
      continue;
    const char *p = n + 8 + 64 + strlen(mid);
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (strcmp(end, ".json") != 0)
      continue;
    if (v > best) {
      best = v;
      memcpy(subj, n + 8, 64);
      subj[64] = '\0';
    }
  }
  closedir(d);
  return best;
}

/* What the adapter took, quarantined or deleted so far (log lines). */
static int s_activity(const s_adapter_t *a) {
  return s_log_has(a, "received ") + s_log_has(a, "quarantined as") +
         s_log_has(a, "deleted section-") + s_log_has(a, "quarantined:");
}

/* Waits until nothing new was taken for quiet_ms (at most max_ms). */
static void s_wait_quiet(const s_adapter_t *a, int quiet_ms, int max_ms) {
  int64_t t0 = fx_mono_ms(), since = fx_mono_ms();
  int last = s_activity(a);
  while (fx_mono_ms() - t0 < max_ms && fx_mono_ms() - since < quiet_ms) {
    fx_sleep_ms(100);
    int n = s_activity(a);
    if (n != last) {
      last = n;
      since = fx_mono_ms();
    }
  }
}

/* Waits (up to ms) for inbox/section-<subj>-KIND-AUTHOR-v<at least v>.json. */
static int s_wait_version(const char *inbox, const char *kind, const char *author,
                          unsigned long long v, int ms) {
  char subj[65];
  int64_t t0 = fx_mono_ms();
  while (s_max_version(inbox, kind, author, subj) < v) {
    if (fx_mono_ms() - t0 > ms)
      return 0;
    fx_sleep_ms(50);
  }
  return 1;
}

/* A care adapter (ggz:zeeland) that has taken a new intake of COA's: its
 * subject and the versions of IDENTITY, STORY and HEALTH it holds. */
static void s_care_with_intake(s_adapter_t *c, const char *tag, char *subj,
                               unsigned long long v[3]) {
  s_prepare(c, "care", "ggz:zeeland", tag);
  s_config(c, NULL);
  s_start(c);
  s_coa_intake_again();
  static const char *kinds[3] = {"IDENTITY", "STORY", "HEALTH"};
  int64_t t0 = fx_mono_ms();
  for (int i = 0; i < 3; i++) {
    char s[65];
    while (s_max_version(c->inbox, kinds[i], "coa", s) == 0) {
      if (fx_mono_ms() - t0 > WAIT_MS) {
        char *log = fx_read(c->log);
        fail_msg("care: no %s copy of COA's intake; log:\n%s", kinds[i],
                 log ? log : "");
      }
      fx_sleep_ms(50);
    }
  }
  s_wait_quiet(c, 1500, 10000);
  for (int i = 0; i < 3; i++)
    v[i] = s_max_version(c->inbox, kinds[i], "coa", subj);
}

/* COA revokes the care partner's consent (its revocation file). */
static void s_coa_revoke_ggz(void) {
  char name[64], path[700];
  snprintf(name, sizeof name, "revoke-%02d.json", ++g_round);
  char *t = fx_example("coa-revoke-ggz-amira.json");
  s_drop_text(&g_coa, name, t);
  free(t);
  snprintf(path, sizeof path, "%s/done/%s", g_coa.outbox, name);
  if (!s_wait_path(path, WAIT_MS)) {
    char *log = fx_read(g_coa.log);
    fail_msg("COA did not publish %s; log:\n%s", name, log ? log : "");
  }
}

/* The text of every delete notice file of subj in the inbox, concatenated
 * (NULL when none). */
static char *s_notices(const char *inbox, const char *subj) {
  DIR *d = opendir(inbox);
  assert_non_null(d);
  char prefix[128];
  snprintf(prefix, sizeof prefix, "notice-%s-", subj);
  char *all = NULL;
  size_t len = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    if (strncmp(de->d_name, prefix, strlen(prefix)) ||
        (n > 13 && !strcmp(de->d_name + n - 13, "-revoked.json")))
      continue;
    char path[900];
    snprintf(path, sizeof path, "%s/%s", inbox, de->d_name);
    char *t = fx_read(path);
    if (!t)
      continue;
    size_t tl = strlen(t);
    all = realloc(all, len + tl + 2);
    assert_non_null(all);
    memcpy(all + len, t, tl);
    len += tl;
    all[len++] = '\n';
    all[len] = '\0';
    free(t);
  }
  closedir(d);
  return all;
}

/* The highest up_to_version the notices give for kind (by coa); 0: none. */
static unsigned long long s_notice_up_to(const char *text, const char *kind) {
  char q[64];
  snprintf(q, sizeof q, "\"%s\"", kind);
  unsigned long long best = 0;
  for (const char *p = text; p && (p = strstr(p, "\"up_to_version\"")) != NULL;
       p++) {
    const char *open = p, *close = strchr(p, '}');
    while (open > text && *open != '{')
      open--;
    if (!close)
      break;
    const char *k = strstr(open, q);
    if (!k || k > close || !strstr(open, "\"coa\"") || strstr(open, "\"coa\"") > close)
      continue;
    unsigned long long v = strtoull(p + strlen("\"up_to_version\"") + 1, NULL, 10);
    if (v > best)
      best = v;
  }
  return best;
}

/* Waits for a delete notice file of subj; returns its text (all notices). */
static char *s_wait_notice(const s_adapter_t *c, const char *subj) {
  int64_t t0 = fx_mono_ms();
  char *t;
  while ((t = s_notices(c->inbox, subj)) == NULL) {
    if (fx_mono_ms() - t0 > WAIT_MS) {
      char *log = fx_read(c->log);
      fail_msg("care: no delete notice after the revocation; log:\n%s",
               log ? log : "");
    }
    fx_sleep_ms(50);
  }
  /* the revocation may bring more than one notice (one per consent) */
  s_wait_quiet(c, 1500, 10000);
  free(t);
  return s_notices(c->inbox, subj);
}

/* security.md 4.53: "A delete notice deletes only files whose names it
 * matches exactly". Files planted in the care partner's inbox beside its
 * copies: other kinds, authors and subjects, and names that merely start
 * like a copy the notice deletes (a suffix after ".json", a version with
 * one more digit, a leading zero, another case) must stay; a copy of a
 * version below the notice's (v1) must go. */
static void test_delete_notice_deletes_only_exact_names(void **state) {
  (void)state;
  s_adapter_t c;
  char subj[65];
  unsigned long long v[3];
  s_care_with_intake(&c, "exact", subj, v);
  assert_true(v[0] >= 1);
  char other[65], upper[65];
  memcpy(other, subj, 65);
  other[63] = other[63] == '0' ? '1' : '0';
  for (int i = 0; i < 65; i++)
    upper[i] = subj[i] >= 'a' && subj[i] <= 'f' ? (char)(subj[i] - 32) : subj[i];
  unsigned long long big = v[0] * 10; /* "v<V>0": starts like v<V> */
  char keep[10][300], gone[2][300];
  int nk = 0;
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v%llu.json", subj, big);
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v%llu.json.bak", subj, v[0]);
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v%llu.jsonx", subj, v[0]);
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v01.json", subj);
  snprintf(keep[nk++], 300, "xsection-%s-IDENTITY-coa-v1.json", subj);
  snprintf(keep[nk++], 300, "section-%s-LANGUAGE-coa-v1.json", subj);
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-gemeente_0716-v1.json", subj);
  snprintf(keep[nk++], 300, "section-%s-HEALTH-ggz_zeeland-v1.json", subj);
  snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v1.json", other);
  if (strcmp(upper, subj) != 0)
    snprintf(keep[nk++], 300, "section-%s-IDENTITY-coa-v1.json", upper);
  snprintf(gone[0], 300, "section-%s-IDENTITY-coa-v%llu.json", subj, v[0]);
  snprintf(gone[1], 300, "section-%s-STORY-coa-v1.json", subj);
  char path[900];
  for (int i = 0; i < nk; i++) {
    snprintf(path, sizeof path, "%s/%s", c.inbox, keep[i]);
    fx_write(path, "{\"planted\": true}\n", 0600);
  }
  snprintf(path, sizeof path, "%s/%s", c.inbox, gone[1]);
  if (v[1] != 1)
    fx_write(path, "{\"planted\": true}\n", 0600);
  s_coa_revoke_ggz();
  char *t = s_wait_notice(&c, subj);
  unsigned long long up_to = s_notice_up_to(t, "IDENTITY");
  s_stop(&c);
  if (up_to < v[0] || up_to >= big)
    fail_msg("inconclusive: the notice deletes IDENTITY up to v%llu; delivered "
             "v%llu, planted v%llu; notices:\n%s",
             up_to, v[0], big, t);
  if (s_notice_up_to(t, "STORY") < 1)
    fail_msg("inconclusive: the notice names no STORY version; notices:\n%s", t);
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", c.inbox, gone[i]);
    if (fx_exists(path))
      fail_msg("the delete notice (IDENTITY up to v%llu) left %s; notices:\n%s",
               up_to, gone[i], t);
  }
  for (int i = 0; i < nk; i++) {
    snprintf(path, sizeof path, "%s/%s", c.inbox, keep[i]);
    if (!fx_exists(path))
      fail_msg("the delete notice (IDENTITY up to v%llu) deleted %s, a name it "
               "does not match exactly; notices:\n%s",
               up_to, keep[i], t);
    if (strstr(t, keep[i]))
      fail_msg("the notice file names %s; notices:\n%s", keep[i], t);
  }
  free(t);
}

/* security.md 4.53 / adapters.md 4: a directory in the name of a copy the
 * notice must delete is left, listed in the notice file's "not_deleted",
 * and the notice is acked: the mailbox goes on (the next intake's copies
 * arrive). */
static void test_delete_notice_directory_in_copy_name(void **state) {
  (void)state;
  s_adapter_t c;
  char subj[65];
  unsigned long long v[3];
  s_care_with_intake(&c, "notedir", subj, v);
  char name[300], path[900];
  snprintf(name, sizeof name, "section-%s-STORY-coa-v%llu.json", subj, v[1]);
  snprintf(path, sizeof path, "%s/%s", c.inbox, name);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkdir(path, 0700), 0);
  s_coa_revoke_ggz();
  char *t = s_wait_notice(&c, subj);
  const char *nd = strstr(t, "\"not_deleted\"");
  int listed = nd && strstr(nd, name);
  struct stat st;
  int still_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
  /* the notice acked: the next intake (consents again) reaches the inbox */
  s_coa_intake_again();
  int later = s_wait_version(c.inbox, "IDENTITY", "coa", v[0] + 1, WAIT_MS) &&
              s_wait_version(c.inbox, "HEALTH", "coa", v[2] + 1, WAIT_MS);
  s_stop(&c);
  char *log = fx_read(c.log);
  if (!still_dir)
    fail_msg("the planted directory %s is gone or changed", name);
  if (!listed)
    fail_msg("the notice file does not list %s under \"not_deleted\"; notices:\n%s",
             name, t);
  if (!later)
    fail_msg("after the notice with a directory in a copy's name nothing later "
             "arrived (the notice held the mailbox); log:\n%s",
             log ? log : "");
  free(log);
  free(t);
}

/* security.md 4.53 / adapters.md 4: a directory planted under the name the
 * next delivery would be written to: that item is quarantined at once
 * (quarantine-<seq>.json naming the file) and acked; the items after it in
 * the same intake and the next intake arrive. */
static void test_directory_in_next_delivery_name_quarantined(void **state) {
  (void)state;
  s_adapter_t c;
  char subj[65];
  unsigned long long v[3];
  s_care_with_intake(&c, "nextdir", subj, v);
  char name[300], path[900];
  snprintf(name, sizeof name, "section-%s-IDENTITY-coa-v%llu.json", subj, v[0] + 1);
  snprintf(path, sizeof path, "%s/%s", c.inbox, name);
  assert_int_equal(mkdir(path, 0700), 0);
  s_coa_intake_again();
  int later = s_wait_version(c.inbox, "STORY", "coa", v[1] + 1, WAIT_MS) &&
              s_wait_version(c.inbox, "HEALTH", "coa", v[2] + 1, WAIT_MS);
  /* the quarantine file naming the planted name */
  char quoted[320], *qtext = NULL;
  snprintf(quoted, sizeof quoted, "\"%s\"", name);
  int64_t t0 = fx_mono_ms();
  while (!qtext && fx_mono_ms() - t0 < 10000) {
    DIR *d = opendir(c.inbox);
    assert_non_null(d);
    struct dirent *de;
    while (!qtext && (de = readdir(d)) != NULL) {
      if (strncmp(de->d_name, "quarantine-", 11))
        continue;
      char q[900];
      snprintf(q, sizeof q, "%s/%s", c.inbox, de->d_name);
      char *t = fx_read(q);
      if (t && strstr(t, quoted))
        qtext = t;
      else
        free(t);
    }
    closedir(d);
    if (!qtext)
      fx_sleep_ms(100);
  }
  int next = 0;
  if (qtext) {
    s_coa_intake_again();
    next = s_wait_version(c.inbox, "IDENTITY", "coa", v[0] + 2, WAIT_MS);
  }
  s_stop(&c);
  struct stat st;
  int still_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
  char *log = fx_read(c.log);
  if (!qtext)
    fail_msg("no quarantine file names %s (a directory in its place); log:\n%s",
             name, log ? log : "");
  if (!later)
    fail_msg("STORY/HEALTH after the quarantined IDENTITY did not arrive; log:\n%s",
             log ? log : "");
  if (!next)
    fail_msg("the next IDENTITY (v%llu) did not arrive after the quarantine; "
             "log:\n%s", v[0] + 2, log ? log : "");
  if (!still_dir)
    fail_msg("the planted directory %s was removed or replaced", name);
  free(log);
  free(qtext);
}

/* a's program with --check-config: its exit status (what it printed goes
 * to a->log with ".check" appended, so that a->log stays the start's). */
static int s_check_config_status(s_adapter_t *a) {
  char prog[400], log[420];
  snprintf(prog, sizeof prog, "%s/keten-adapter-%s", KETEN_ADAPTER_DIR, a->kind);
  snprintf(log, sizeof log, "%s.check", a->log);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      close(fd);
    }
    char *argv[] = {prog, "--config", a->conf, "--check-config", NULL};
    execv(prog, argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs a's program and waits up to ms for it to exit: its exit status, or
 * -1 when it connected / still runs (then it is stopped). */
static int s_start_status(s_adapter_t *a, int ms) {
  char prog[400];
  snprintf(prog, sizeof prog, "%s/keten-adapter-%s", KETEN_ADAPTER_DIR, a->kind);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      close(fd);
    }
    unsetenv("JOURNAL_STREAM");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    char *argv[] = {prog, "--config", a->conf, NULL};
    execv(prog, argv);
    _exit(127);
  }
  a->pid = pid;
  int64_t t0 = fx_mono_ms();
  int status;
  while (fx_mono_ms() - t0 < ms) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      a->pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (s_log_has(a, " connected to ") > 0)
      break;
    fx_sleep_ms(20);
  }
  s_stop(a);
  return -1;
}

/* security.md 4.53: the adapter refuses to start (exit 2), and
 * --check-config refuses the config (exit 2), when the outbox,
 * the inbox or the state dir is a symlink, when the inbox, the state dir
 * (or done/, failed/) is group-writable, or when any is writable by
 * others; a group-writable outbox (2770, for the case system) starts. */
static void test_refuses_unsafe_directories(void **state) {
  (void)state;
  enum { SYM, MODE };
  static const struct {
    const char *what;
    int how;
    mode_t mode;
  } cases[] = {
      {"outbox", SYM, 0},      {"inbox", SYM, 0},         {"state", SYM, 0},
      {"inbox", MODE, 0770},   {"state", MODE, 0770},     {"outbox/done", MODE, 0770},
      {"outbox/failed", MODE, 0770},
      {"outbox", MODE, 0707},  {"outbox", MODE, 02777},   {"inbox", MODE, 0707},
      {"state", MODE, 0707},
  };
  char failures[4096] = "";
  size_t fl = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    s_adapter_t a;
    char tag[32];
    snprintf(tag, sizeof tag, "unsafe%zu", i);
    s_prepare(&a, "care", "ggz:zeeland", tag);
    s_config(&a, NULL);
    char path[800], real[820];
    snprintf(path, sizeof path, "%s/%s", a.dir, cases[i].what);
    if (!strcmp(cases[i].what, "state"))
      assert_int_equal(mkdir(path, 0700), 0);
    if (!strncmp(cases[i].what, "outbox/", 7))
      assert_int_equal(mkdir(path, 0700), 0);
    if (cases[i].how == SYM) {
      snprintf(real, sizeof real, "%s.real", path);
      assert_int_equal(rename(path, real), 0);
      assert_int_equal(symlink(real, path), 0);
    } else {
      assert_int_equal(chmod(path, cases[i].mode), 0);
    }
    /* --check-config says so before anyone starts it */
    int cst = s_check_config_status(&a);
    if (cst != 2)
      fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                             "  %s: --check-config exit %d, not 2\n",
                             cases[i].what, cst);
    int st = s_start_status(&a, 8000);
    if (st != 2) {
      char *log = fx_read(a.log);
      const char *nl = log ? strrchr(log, '\n') : NULL;
      (void)nl;
      fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                             "  %s %s%04o: %s %d\n", cases[i].what,
                             cases[i].how == SYM ? "symlink " : "mode ",
                             (unsigned)cases[i].mode,
                             st < 0 ? "started (connected)" : "exit", st);
      free(log);
      if (fl >= sizeof failures)
        fl = sizeof failures - 1;
    } else {
      char *log = fx_read(a.log);
      int said = log && (strstr(log, "refused") || strstr(log, "symbolic link"));
      free(log);
      if (!said)
        fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                               "  %s: exit 2 but no reason logged\n",
                               cases[i].what);
    }
  }
  /* the outbox may be group-writable (setgid, for the case system) */
  s_adapter_t ok;
  s_prepare(&ok, "care", "ggz:zeeland", "outbox2770");
  s_config(&ok, NULL);
  assert_int_equal(chmod(ok.outbox, 02770), 0);
  if (s_check_config_status(&ok) != 0)
    fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                           "  outbox mode 2770: --check-config refuses it\n");
  int st = s_start_status(&ok, 8000);
  if (st != -1) {
    char *log = fx_read(ok.log);
    fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                           "  outbox mode 2770: exit %d instead of starting; log:\n%s",
                           st, log ? log : "");
    free(log);
  }
  if (fl)
    fail_msg("unsafe directories not refused as documented:\n%s", failures);
}

/* security.md 4.53 / adapters.md 5: the failed runs of on_delivery are
 * counted per item across restarts (STATE_DIR/attempts.json). With
 * on_delivery_attempts = 2 and a command that always fails: the first
 * item fails once, the adapter is stopped (a run ended by the stop does
 * not count) and started again, and the item is quarantined at its first
 * failure after the restart (the second in all). */
static void test_attempts_counted_across_restarts(void **state) {
  (void)state;
  s_drain_vwn();
  s_adapter_t v;
  s_prepare(&v, "volunteer", "vwn:zeeland", "attempts");
  char script[600], text[2048], extra[800], first[700], again[700];
  snprintf(script, sizeof script, "%s/take.sh", v.dir);
  snprintf(first, sizeof first, "%s/first", v.dir);
  snprintf(again, sizeof again, "%s/restarted", v.dir);
  /* the first run fails; until the restart later runs hang (so that no
   * second failure happens before the stop); after it all fail at once */
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "echo \"$1\" >> %s/calls\n"
           "if [ -e %s ] && [ ! -e %s ]; then exec sleep 30; fi\n"
           ": > %s\n"
           "exit 1\n",
           v.dir, first, again, first);
  fx_write(script, text, 0700);
  snprintf(extra, sizeof extra,
           "on_delivery = %s\non_delivery_timeout_ms = 20000\n"
           "on_delivery_attempts = 2\n",
           script);
  s_config(&v, extra);
  s_start(&v);
  s_coa_intake_again();
  int64_t t0 = fx_mono_ms();
  while (s_log_has(&v, "attempt 1 of 2 failed") < 1) {
    if (fx_mono_ms() - t0 > WAIT_MS) {
      char *log = fx_read(v.log);
      s_stop(&v);
      fail_msg("no first failed attempt; log:\n%s", log ? log : "");
    }
    fx_sleep_ms(20);
  }
  s_stop(&v);
  /* the seq of the first failure */
  char *log1 = fx_read(v.log);
  assert_non_null(log1);
  const char *p = strstr(log1, "attempt 1 of 2 failed");
  const char *s = p;
  while (s > log1 && strncmp(s, "(seq ", 5))
    s--;
  assert_true(s > log1);
  unsigned long long seq = strtoull(s + 5, NULL, 10);
  assert_true(seq > 0);
  size_t log1_len = strlen(log1);
  int q1 = s_log_has(&v, "quarantined as");
  assert_int_equal(q1, 0);
  char qpath[700];
  snprintf(qpath, sizeof qpath, "%s/quarantine-%llu.json", v.inbox, seq);
  assert_false(fx_exists(qpath));
  fx_write(again, "", 0600);
  s_start(&v);
  int quarantined = s_wait_path(qpath, WAIT_MS);
  s_stop(&v);
  char *log = fx_read(v.log);
  assert_non_null(log);
  const char *log2 = log + (strlen(log) >= log1_len ? log1_len : 0);
  char again1[80];
  snprintf(again1, sizeof again1, "(seq %llu): attempt 1 of 2 failed", seq);
  char *q = quarantined ? fx_read(qpath) : NULL;
  s_drain_vwn(); /* the held items go, for the tests after */
  if (!quarantined)
    fail_msg("seq %llu (failed once before the restart) was not quarantined "
             "after it; log after the restart:\n%s",
             seq, log2);
  if (strstr(log2, again1))
    fail_msg("after the restart seq %llu counted its first attempt again (the "
             "count did not survive the restart); log after the restart:\n%s",
             seq, log2);
  if (!q || !strstr(q, "on_delivery failed 2 times") || !strstr(q, "\"attempts\": 2"))
    fail_msg("quarantine-%llu.json does not say 2 failed attempts:\n%s", seq,
             q ? q : "(unreadable)");
  free(q);
  free(log);
  free(log1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failed_dir_symlink_moves_attacker_file_into_inbox),
      cmocka_unit_test(test_done_dir_symlink_moves_file_elsewhere),
      cmocka_unit_test(test_fifo_symlink_huge_do_not_block),
      cmocka_unit_test(test_odd_name_is_not_silently_ignored),
      cmocka_unit_test(test_on_delivery_inherits_no_descriptors),
      cmocka_unit_test(test_watchdog_starves_during_slow_commands),
      cmocka_unit_test(test_sigterm_not_delayed_by_hung_command),
      cmocka_unit_test(test_poison_delivery_blocks_the_mailbox),
      cmocka_unit_test(test_fd_no_leak_across_refusals),
      cmocka_unit_test(test_fd_no_leak_across_broker_restarts),
      cmocka_unit_test(test_unsubscribed_loop_does_not_spin),
      cmocka_unit_test(test_delete_notice_deletes_only_exact_names),
      cmocka_unit_test(test_delete_notice_directory_in_copy_name),
      cmocka_unit_test(test_directory_in_next_delivery_name_quarantined),
      cmocka_unit_test(test_refuses_unsafe_directories),
      cmocka_unit_test(test_attempts_counted_across_restarts),
  };
  return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
