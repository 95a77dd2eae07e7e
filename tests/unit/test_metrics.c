/* Unit tests of ketend's metrics (issue 10, item 2): the Prometheus text
 * format of the counters, histograms and per-participant gauges; the
 * endpoint parser; config_diff for SIGHUP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "keten.pb-c.h"
#include "metrics.h"

static void test_render_format(void **state) {
  (void)state;
  metrics_t m;
  memset(&m, 0, sizeof m);
  metrics_request(&m, KETEN__ENVELOPE__BODY_PING);
  metrics_request(&m, KETEN__ENVELOPE__BODY_PING);
  metrics_request(&m, 0); /* undecodable */
  metrics_error(&m, KETEN__ERROR_CODE__ERROR_RATE_LIMITED);
  metrics_batch(&m, 3);
  metrics_batch(&m, 0); /* an empty batch is no observation */
  metrics_commit(&m, 0.003, 1);
  m.budget_refusals[BUDGET_REQUESTS_PER_SECOND] = 4;
  m.handshakes_refused = 7;
  m.audit_known = 1;
  m.audit_entries = 42;
  metrics_mailbox_t boxes[2] = {{"coa", 5, 12.5}, {"we\"ird\\", 0, 0}};
  m.mailboxes = boxes;
  m.n_mailboxes = 2;
  size_t len = 0;
  char *t = metrics_render(&m, &len);
  assert_non_null(t);
  assert_int_equal(strlen(t), len);
  assert_int_equal(t[len - 1], '\n');
  assert_non_null(strstr(t, "# HELP keten_requests_total "));
  assert_non_null(strstr(t, "# TYPE keten_requests_total counter\n"));
  assert_non_null(strstr(t, "keten_requests_total{body=\"ping\"} 2\n"));
  assert_non_null(strstr(t, "keten_requests_total{body=\"invalid\"} 1\n"));
  assert_non_null(strstr(t, "keten_errors_total{code=\"ERROR_RATE_LIMITED\"} 1\n"));
  assert_non_null(strstr(t, "keten_budget_refusals_total{budget=\"requests_per_second\"} 4\n"));
  assert_non_null(strstr(t, "keten_handshakes_refused_total 7\n"));
  assert_non_null(strstr(t, "keten_audit_entries 42\n"));
  assert_non_null(strstr(t, "# TYPE keten_commit_seconds histogram\n"));
  /* cumulative buckets: 0.003 is above 0.0025, within 0.005 */
  assert_non_null(strstr(t, "keten_commit_seconds_bucket{le=\"0.0025\"} 0\n"));
  assert_non_null(strstr(t, "keten_commit_seconds_bucket{le=\"0.005\"} 1\n"));
  assert_non_null(strstr(t, "keten_commit_seconds_bucket{le=\"+Inf\"} 1\n"));
  assert_non_null(strstr(t, "keten_commit_seconds_count 1\n"));
  assert_non_null(strstr(t, "keten_batch_requests_bucket{le=\"2\"} 0\n"));
  assert_non_null(strstr(t, "keten_batch_requests_bucket{le=\"4\"} 1\n"));
  assert_non_null(strstr(t, "keten_batch_requests_count 1\n"));
  assert_non_null(strstr(t, "keten_mailbox_depth{participant=\"coa\"} 5\n"));
  assert_non_null(strstr(t, "keten_mailbox_depth{participant=\"we\\\"ird\\\\\"} 0\n"));
  assert_non_null(strstr(t, "keten_mailbox_oldest_unacked_seconds{participant=\"coa\"} 12.500\n"));
  /* every sample line's metric has a TYPE line before it */
  char *copy = strdup(t);
  for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#')
      continue;
    char name[128];
    assert_int_equal(sscanf(line, "%127[a-z_]", name), 1);
    char *suffix;
    if ((suffix = strstr(name, "_bucket")) || (suffix = strstr(name, "_sum")) ||
        (suffix = strstr(name, "_count")))
      *suffix = '\0';
    char want[160];
    snprintf(want, sizeof want, "# TYPE %s ", name);
    assert_non_null(strstr(t, want));
  }
  free(copy);
  free(t);
}

static void test_split_endpoint(void **state) {
  (void)state;
  char host[64];
  int port = 0;
  assert_int_equal(metrics_split_endpoint("127.0.0.1:9464", host, sizeof host, &port), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 9464);
  assert_int_equal(metrics_split_endpoint("[::1]:80", host, sizeof host, &port), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(metrics_split_endpoint("127.0.0.1", host, sizeof host, &port), -1);
  assert_int_equal(metrics_split_endpoint("127.0.0.1:0", host, sizeof host, &port), -1);
  assert_int_equal(metrics_split_endpoint(":80", host, sizeof host, &port), -1);
}

static void test_config_metrics_local_only(void **state) {
  (void)state;
  config_t c;
  char err[256];
  config_defaults(&c);
  config_set(&c, "endpoint", "tcp://127.0.0.1:7600", err, sizeof err);
  config_set(&c, "key_file", "/k", err, sizeof err);
  config_set(&c, "root_key", "/r", err, sizeof err);
  config_set(&c, "store", "/s", err, sizeof err);
  assert_int_equal(config_check(&c, err, sizeof err), 0);
  assert_string_equal(c.metrics_endpoint, ""); /* off by default */
  assert_int_equal(config_set(&c, "metrics_endpoint", "127.0.0.1:9464", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), 0);
  assert_int_equal(config_set(&c, "metrics_endpoint", "0.0.0.0:9464", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  assert_non_null(strstr(err, "loopback"));
  assert_int_equal(config_set(&c, "metrics_endpoint", "127.0.0.1", err, sizeof err), -1);
  assert_int_equal(config_set(&c, "metrics_endpoint", "off", err, sizeof err), 0);
  assert_string_equal(c.metrics_endpoint, "");
  assert_int_equal(config_set(&c, "log_format", "json", err, sizeof err), 0);
  assert_int_equal(c.log_format, LOG_FORMAT_JSON);
  assert_int_equal(config_set(&c, "log_format", "yaml", err, sizeof err), -1);
}

static void test_config_diff(void **state) {
  (void)state;
  config_t a, b;
  char changed[512], restart[512];
  config_defaults(&a);
  config_set(&a, "endpoint", "tcp://127.0.0.1:7600", changed, sizeof changed);
  b = a;
  assert_int_equal(config_diff(&a, &b, changed, sizeof changed, restart, sizeof restart), 0);
  assert_string_equal(changed, "");
  assert_string_equal(restart, "");
  b.log_level = LOG_DEBUG;
  b.requests_per_second = 5;
  b.ack_timeout_ms = 1234;
  b.send_hwm = 99;
  snprintf(b.store, sizeof b.store, "/elsewhere");
  snprintf(b.endpoints[0], sizeof b.endpoints[0], "tcp://127.0.0.1:7601");
  assert_int_equal(config_diff(&a, &b, changed, sizeof changed, restart, sizeof restart), 3);
  assert_string_equal(changed, "log_level, ack_timeout_ms, requests_per_second");
  assert_string_equal(restart, "endpoints, store, send_hwm");
  config_apply_reloadable(&a, &b);
  assert_int_equal(a.log_level, LOG_DEBUG);
  assert_int_equal(a.requests_per_second, 5);
  assert_int_equal(a.send_hwm, 16);           /* needs a restart: kept */
  assert_string_equal(a.store, "");
  assert_string_equal(a.endpoints[0], "tcp://127.0.0.1:7600");
}

/* /health says 503, with the reason, in each unhealthy state the loop
 * reports, and 200 only when the loop ran within 5 s and the store
 * answered; metrics_health_get (ketend --health) returns that status. */
static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_health_states(void **state) {
  (void)state;
  char ep[64], err[256], body[256];
  metrics_server_t *srv = NULL;
  for (int i = 0; i < 200 && !srv; i++) {
    snprintf(ep, sizeof ep, "127.0.0.1:%d", 20000 + (int)((getpid() * 7 + i * 131) % 30000));
    srv = metrics_server_start(ep, err, sizeof err);
  }
  assert_non_null(srv);
  /* before the loop ever ran */
  assert_int_equal(metrics_health_get(ep, 2000, body, sizeof body, err, sizeof err), 503);
  assert_non_null(strstr(body, "starting"));
  /* the loop ran just now, the store answered */
  metrics_server_alive(srv, s_now_ms(), 1);
  assert_int_equal(metrics_health_get(ep, 2000, body, sizeof body, err, sizeof err), 200);
  assert_string_equal(body, "ok\n");
  /* the store did not answer */
  metrics_server_alive(srv, s_now_ms(), 0);
  assert_int_equal(metrics_health_get(ep, 2000, body, sizeof body, err, sizeof err), 503);
  assert_non_null(strstr(body, "store did not answer"));
  /* the loop last ran 6 s ago (stuck) */
  metrics_server_alive(srv, s_now_ms() - 6000, 1);
  assert_int_equal(metrics_health_get(ep, 2000, body, sizeof body, err, sizeof err), 503);
  assert_non_null(strstr(body, "event loop has not run"));
  /* and back */
  metrics_server_alive(srv, s_now_ms(), 1);
  assert_int_equal(metrics_health_get(ep, 2000, body, sizeof body, err, sizeof err), 200);
  metrics_server_stop(&srv);
  assert_null(srv);
  /* nobody answers */
  assert_int_equal(metrics_health_get(ep, 500, body, sizeof body, err, sizeof err), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_health_states),
      cmocka_unit_test(test_render_format),
      cmocka_unit_test(test_split_endpoint),
      cmocka_unit_test(test_config_metrics_local_only),
      cmocka_unit_test(test_config_diff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
