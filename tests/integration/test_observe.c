/* Observability of a real ketend (issue 10, item 2): the systemd notify
 * protocol on a test socket (no systemd needed), the Prometheus metrics
 * endpoint and /health, `ketend --health`, connections logged once each,
 * SIGHUP reloading settings, JSON and journald-prefixed log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* GET path from 127.0.0.1:port with a plain socket; *status gets the HTTP
 * status; returns the malloc'd body (NULL if no answer). */
static char *s_get(int port, const char *path, int *status) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *status = -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return NULL;
  }
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", path);
  assert_int_equal(send(fd, req, (size_t)n, 0), n);
  size_t cap = 1 << 20, got = 0;
  char *buf = malloc(cap);
  ssize_t r;
  struct pollfd p = {fd, POLLIN, 0};
  while (got < cap - 1 && poll(&p, 1, 5000) > 0 &&
         (r = recv(fd, buf + got, cap - 1 - got, 0)) > 0)
    got += (size_t)r;
  buf[got] = '\0';
  close(fd);
  if (sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
    free(buf);
    return NULL;
  }
  char *body = strstr(buf, "\r\n\r\n");
  char *out = strdup(body ? body + 4 : "");
  free(buf);
  return out;
}

/* The value of the sample line that starts with "name " (or -1). */
static double s_sample(const char *text, const char *name) {
  char want[256];
  snprintf(want, sizeof want, "\n%s ", name);
  const char *at = strstr(text, want);
  return at ? strtod(at + strlen(want), NULL) : -1;
}

static void s_ping(harness_t *h, const char *id, int n) {
  keten_client_t *c = harness_client(h, &harness_partner(h, id)->keys, 3000, -1);
  assert_non_null(c);
  for (int i = 0; i < n; i++) {
    int64_t rtt;
    assert_int_equal(keten_client_ping(c, "hi", 2, &rtt), KETEN_OK);
  }
  keten_client_destroy(&c);
}

/* ---- systemd notify ------------------------------------------------------ */

static int s_recv_dgram(int fd, char *buf, size_t cap, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0)
    return -1;
  ssize_t n = recv(fd, buf, cap - 1, 0);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return (int)n;
}

static void test_notify_ready_watchdog_stopping(void **state) {
  (void)state;
  harness_t *h = harness_new(0);
  assert_non_null(h);
  char path[320];
  snprintf(path, sizeof path, "%s/notify.sock", h->dir);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  setenv("NOTIFY_SOCKET", path, 1);
  setenv("WATCHDOG_USEC", "400000", 1); /* ping every 200 ms */
  assert_int_equal(harness_start(h), 0);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  /* READY=1 is the first message, and the endpoint accepts by then. */
  char msg[1024];
  assert_true(s_recv_dgram(fd, msg, sizeof msg, 5000) > 0);
  assert_non_null(strstr(msg, "READY=1"));
  assert_non_null(strstr(msg, "STATUS=serving on "));
  int port = 0;
  assert_int_equal(sscanf(h->endpoint, "tcp://127.0.0.1:%d", &port), 1);
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(tcp, (struct sockaddr *)&in, sizeof in), 0);
  close(tcp);

  /* WATCHDOG=1 periodically: about 5 in 1.2 s; at least 3. */
  int pings = 0;
  int64_t until = s_now_ms() + 1200;
  while (s_now_ms() < until)
    if (s_recv_dgram(fd, msg, sizeof msg, 300) > 0 && strcmp(msg, "WATCHDOG=1") == 0)
      pings++;
  assert_true(pings >= 3);
  assert_true(pings <= 12);

  /* STOPPING=1 at SIGTERM. */
  assert_int_equal(harness_stop(h), 0);
  int stopping = 0;
  while (s_recv_dgram(fd, msg, sizeof msg, 500) > 0)
    stopping |= strstr(msg, "STOPPING=1") != NULL;
  assert_true(stopping);
  close(fd);
  harness_destroy(&h);
}

/* ---- metrics, health, connections ------------------------------------------ */

static void test_metrics_health_connections(void **state) {
  (void)state;
  harness_t *h = harness_new(0);
  assert_non_null(h);
  int mport = harness_free_port();
  assert_true(mport > 0);
  char conf[256], ep[64];
  snprintf(ep, sizeof ep, "127.0.0.1:%d", mport);
  snprintf(conf, sizeof conf, "metrics_endpoint = %s\nmetrics_interval_ms = 1000\n", ep);
  assert_int_equal(harness_config(h, conf), 0);
  assert_int_equal(harness_start(h), 0);
  s_sleep_ms(1200); /* the first page */

  int status;
  char *t = s_get(mport, "/metrics", &status);
  assert_non_null(t);
  assert_int_equal(status, 200);
  const char *names[] = {
      "keten_connections_opened_total", "keten_connections_closed_total",
      "keten_connections_open", "keten_handshakes_admitted_total",
      "keten_handshakes_refused_total", "keten_requests_total",
      "keten_errors_total", "keten_budget_refusals_total",
      "keten_dropped_frames_total", "keten_deliveries_total",
      "keten_batch_requests", "keten_commit_seconds",
      "keten_commits_failed_total", "keten_audit_entries",
      "keten_mailbox_depth", "keten_mailbox_oldest_unacked_seconds"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char want[160];
    snprintf(want, sizeof want, "# HELP %s ", names[i]);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "# TYPE %s ", names[i]);
    assert_non_null(strstr(t, want));
  }
  /* one gauge a registered participant */
  assert_non_null(strstr(t, "keten_mailbox_depth{participant=\"coa\"} "));
  assert_non_null(strstr(t, "keten_mailbox_depth{participant=\"ggz:zeeland\"} "));
  double opened0 = s_sample(t, "keten_connections_opened_total");
  assert_true(opened0 >= 0);
  free(t);

  /* counters move after requests; the connection is logged once each way */
  s_ping(h, "coa", 3);
  assert_int_equal(harness_wait_log(h, "conn: connected: coa", 1, 3000), 0);
  assert_int_equal(harness_wait_log(h, "conn: disconnected: coa", 1, 5000), 0);
  assert_int_equal(harness_log_count(h, "conn: connected: coa"), 1);
  assert_int_equal(harness_log_count(h, "conn: disconnected: coa"), 1);
  assert_non_null(strstr(h->endpoint, "tcp://"));
  assert_int_equal(harness_log_count(h, "conn: connected: coa from 127.0.0.1"), 1);
  assert_int_equal(harness_log_count(h, ", 3 frames"), 1);
  s_sleep_ms(1200);
  t = s_get(mport, "/metrics", &status);
  assert_non_null(t);
  assert_true(s_sample(t, "keten_requests_total{body=\"ping\"}") >= 3);
  assert_true(s_sample(t, "keten_connections_opened_total") >= opened0 + 1);
  assert_true(s_sample(t, "keten_connections_closed_total") >= 1);
  assert_true(s_sample(t, "keten_handshakes_admitted_total") >= 1);
  assert_true(s_sample(t, "keten_batch_requests_count") >= 1);
  free(t);

  /* /health, and ketend --health (no participant key) */
  t = s_get(mport, "/health", &status);
  assert_int_equal(status, 200);
  assert_string_equal(t, "ok\n");
  free(t);
  t = s_get(mport, "/nothing", &status);
  assert_int_equal(status, 404);
  free(t);
  const char *health[] = {"--health", ep, NULL};
  assert_int_equal(harness_run_ketend(h, health), 0);
  char cpath[320];
  snprintf(cpath, sizeof cpath, "%s/ketend.conf", h->dir);
  const char *health_conf[] = {"--config", cpath, "--health", NULL};
  assert_int_equal(harness_run_ketend(h, health_conf), 0);

  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(harness_run_ketend(h, health), 1); /* nobody answers */
  harness_destroy(&h);
}

/* ---- SIGHUP ------------------------------------------------------------------ */

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_sighup_reloads_settings(void **state) {
  (void)state;
  harness_t *h = harness_new(0);
  assert_non_null(h);
  assert_int_equal(harness_config(h, "requests_per_second = 1000\n"
                                     "requests_burst = 1000\n"),
                   0);
  assert_int_equal(harness_start(h), 0);
  char path[320];
  snprintf(path, sizeof path, "%s/ketend.conf", h->dir);
  /* The command line's --log-level info stays in force over the file. */
  s_write(path, "requests_per_second = 2\nrequests_burst = 3\n"
                "ack_timeout_ms = 5000\nsend_hwm = 64\n");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "config: reloaded: changed ack_timeout_ms, "
                                       "requests_per_second, requests_burst",
                                    1, 5000),
                   0);
  assert_int_equal(harness_wait_log(h, "not applied until a restart: send_hwm", 1, 2000), 0);

  /* the new request budget is in force: a burst of 3, then refusals */
  keten_client_t *c = harness_client(h, &harness_partner(h, "coa")->keys, 3000, 0);
  assert_non_null(c);
  int refused = 0;
  for (int i = 0; i < 10; i++) {
    int64_t rtt;
    if (keten_client_ping(c, "x", 1, &rtt) != KETEN_OK)
      refused++;
  }
  keten_client_destroy(&c);
  assert_true(refused >= 5);

  /* a bad file: the settings stay, the error is logged */
  s_write(path, "requests_per_second = many\n");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "config: reload failed, keeping the settings", 1, 5000), 0);
  /* nothing changed: said so */
  s_write(path, "requests_per_second = 2\nrequests_burst = 3\n"
                "ack_timeout_ms = 5000\nsend_hwm = 64\n");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "config: reloaded: no setting changed", 1, 5000), 0);
  assert_int_equal(harness_stop(h), 0);
  harness_destroy(&h);
}

/* ---- log formats --------------------------------------------------------------- */

/* ketend that fails at start (no store dir) writes its error line. */
static void s_run_failing(harness_t *h, const char *conf_text) {
  char cpath[320], store[340];
  snprintf(cpath, sizeof cpath, "%s/fail.conf", h->dir);
  s_write(cpath, conf_text);
  snprintf(store, sizeof store, "%s/missing/store.db", h->dir);
  const char *argv[] = {"--config", cpath, "--endpoint", h->endpoint,
                        "--key-file", h->key_file, "--root-key", h->root_file,
                        "--store", store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
}

static char *s_last_line(harness_t *h) {
  FILE *f = fopen(h->log_file, "r");
  assert_non_null(f);
  char line[4096], *last = NULL;
  while (fgets(line, sizeof line, f)) {
    free(last);
    last = strdup(line);
  }
  fclose(f);
  assert_non_null(last);
  last[strcspn(last, "\n")] = '\0';
  return last;
}

static void test_json_and_journal_lines(void **state) {
  (void)state;
  harness_t *h = harness_new(0);
  assert_non_null(h);
  s_run_failing(h, "log_format = json\n");
  char *line = s_last_line(h);
  json_error_t e;
  json_t *o = json_loads(line, 0, &e);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
  assert_string_equal(json_string_value(json_object_get(o, "component")), "broker");
  assert_non_null(strstr(json_string_value(json_object_get(o, "message")), "not starting"));
  assert_non_null(json_object_get(o, "time"));
  json_decref(o);
  free(line);

  /* JOURNAL_STREAM naming ketend's stderr (the log file): priority prefix */
  struct stat st;
  assert_int_equal(stat(h->log_file, &st), 0);
  char v[64];
  snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino);
  setenv("JOURNAL_STREAM", v, 1);
  s_run_failing(h, "# text\n");
  unsetenv("JOURNAL_STREAM");
  line = s_last_line(h);
  assert_memory_equal(line, "<3>", 3);
  assert_non_null(strstr(line, "ERROR broker: not starting"));
  free(line);
  /* log_format = journal without journald */
  s_run_failing(h, "log_format = journal\n");
  line = s_last_line(h);
  assert_memory_equal(line, "<3>", 3);
  free(line);
  harness_destroy(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_notify_ready_watchdog_stopping),
      cmocka_unit_test(test_metrics_health_connections),
      cmocka_unit_test(test_sighup_reloads_settings),
      cmocka_unit_test(test_json_and_journal_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
