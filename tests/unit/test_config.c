/* Unit tests of ketend's configuration: defaults, file, overrides, checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char s_path[64];

static const char *s_write(const char *text) {
  snprintf(s_path, sizeof s_path, "/tmp/keten-conf-XXXXXX");
  int fd = mkstemp(s_path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return s_path;
}

static void test_defaults_need_endpoint_key_store(void **state) {
  (void)state;
  config_t c;
  char err[256];
  config_defaults(&c);
  assert_int_equal(c.max_frame_bytes, 1048576);
  assert_int_equal(c.log_level, LOG_INFO);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  assert_non_null(strstr(err, "endpoint"));
  assert_int_equal(config_set(&c, "endpoint", "tcp://127.0.0.1:7600", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  assert_non_null(strstr(err, "key_file"));
  assert_int_equal(config_set(&c, "key_file", "/k", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  /* no chain root key: never serve a registry nobody signed */
  assert_non_null(strstr(err, "root_key"));
  assert_int_equal(config_set(&c, "root_key", "/r.pub", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  assert_int_equal(config_set(&c, "store", "/s.db", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), 0);
  /* the PREPARE rate limit and the consent cap have documented defaults */
  assert_int_equal(c.prepare_per_second, 50);
  assert_int_equal(c.prepare_burst, 200);
  assert_int_equal(c.max_consents_per_recipient, 16);
  assert_int_equal(config_set(&c, "prepare_per_second", "0", err, sizeof err),
                   -1);
  assert_int_equal(
      config_set(&c, "max_consents_per_recipient", "2000", err, sizeof err), -1);
}

static void test_file(void **state) {
  (void)state;
  config_t c;
  char err[256];
  config_defaults(&c);
  const char *path = s_write(
      "# ketend\n\n"
      "endpoint = tcp://0.0.0.0:7600   # public\n"
      "endpoint=ipc:///run/keten/ketend.sock\n"
      "key_file = /etc/keten/broker.key\n"
      "root_key = /etc/keten/root.pub\n"
      "store = /var/lib/keten/keten.db\n"
      "prepare_per_second = 5\n"
      "prepare_burst = 20\n"
      "max_consents_per_recipient = 4\n"
      "log_level = debug\n"
      "max_frame_bytes = 65536\n"
      "heartbeat_ivl_ms = 1000\n"
      "heartbeat_timeout_ms = 3000\n"
      "send_hwm = 500\n"
      "registry_poll_ms = 0\n");
  assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
  unlink(path);
  assert_int_equal(c.n_endpoints, 2);
  assert_string_equal(c.endpoints[1], "ipc:///run/keten/ketend.sock");
  assert_string_equal(c.key_file, "/etc/keten/broker.key");
  assert_string_equal(c.root_key, "/etc/keten/root.pub");
  assert_int_equal(c.prepare_per_second, 5);
  assert_int_equal(c.prepare_burst, 20);
  assert_int_equal(c.max_consents_per_recipient, 4);
  assert_int_equal(c.log_level, LOG_DEBUG);
  assert_int_equal(c.max_frame_bytes, 65536);
  assert_int_equal(c.heartbeat_timeout_ms, 3000);
  assert_int_equal(c.send_hwm, 500);
  assert_int_equal(c.registry_poll_ms, 0);
  assert_int_equal(config_check(&c, err, sizeof err), 0);
}

static void test_file_errors_name_the_line(void **state) {
  (void)state;
  config_t c;
  char err[256];
  struct {
    const char *text, *expect;
  } cases[] = {
      {"store = /x\ncurve = off\n", ":2: unknown setting 'curve'"},
      {"endpoint = udp://x\n", ":1: endpoint 'udp://x' must start"},
      {"max_frame_bytes = 12\n", ":1: bad value '12'"},
      {"max_frame_bytes = 1e6\n", ":1: bad value"},
      {"log_level = loud\n", ":1: bad value 'loud'"},
      {"just words\n", ":1: expected 'key = value'"},
      {"store =\n", ":1: bad value ''"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    config_defaults(&c);
    const char *path = s_write(cases[i].text);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    unlink(path);
    if (!strstr(err, cases[i].expect))
      fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].expect);
  }
  config_defaults(&c);
  assert_int_equal(config_load_file(&c, "/nonexistent/ketend.conf", err, sizeof err), -1);
  assert_non_null(strstr(err, "cannot read"));
}

static void test_limits(void **state) {
  (void)state;
  config_t c;
  char err[256];
  config_defaults(&c);
  for (int i = 0; i < CONFIG_MAX_ENDPOINTS; i++)
    assert_int_equal(config_set(&c, "endpoint", "tcp://127.0.0.1:1", err, sizeof err), 0);
  assert_int_equal(config_set(&c, "endpoint", "tcp://127.0.0.1:1", err, sizeof err), -1);
  char longpath[CONFIG_PATH_MAX + 10];
  memset(longpath, 'x', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = '\0';
  assert_int_equal(config_set(&c, "store", longpath, err, sizeof err), -1);
  assert_int_equal(config_set(&c, "key_file", "/k", err, sizeof err), 0);
  assert_int_equal(config_set(&c, "root_key", "/r", err, sizeof err), 0);
  assert_int_equal(config_set(&c, "store", "/s", err, sizeof err), 0);
  assert_int_equal(config_set(&c, "heartbeat_ivl_ms", "10000", err, sizeof err), 0);
  assert_int_equal(config_set(&c, "heartbeat_timeout_ms", "15000", err, sizeof err), 0);
  assert_int_equal(config_check(&c, err, sizeof err), -1);
  assert_non_null(strstr(err, "twice"));
}

/* The shipped example sets every setting to its documented default: an
 * operator who copies it gets what docs/operations.md promises. */
static void test_example_file_is_the_defaults(void **state) {
  (void)state;
  config_t c, d;
  char err[256] = "";
  config_defaults(&c);
  config_defaults(&d);
  assert_int_equal(
      config_load_file(&c, KETEN_SOURCE_DIR "/etc/ketend.conf.example", err,
                       sizeof err),
      0);
  assert_int_equal(c.max_frame_bytes, d.max_frame_bytes);
  assert_int_equal(c.heartbeat_ivl_ms, d.heartbeat_ivl_ms);
  assert_int_equal(c.heartbeat_timeout_ms, d.heartbeat_timeout_ms);
  assert_int_equal(c.send_hwm, d.send_hwm);
  assert_int_equal(c.registry_poll_ms, d.registry_poll_ms);
  assert_int_equal(c.ack_timeout_ms, d.ack_timeout_ms);
  assert_int_equal(c.checkpoint_every, d.checkpoint_every);
  assert_int_equal(c.checkpoint_interval_ms, d.checkpoint_interval_ms);
  assert_int_equal(c.prepare_per_second, d.prepare_per_second);
  assert_int_equal(c.prepare_burst, d.prepare_burst);
  assert_int_equal(c.max_consents_per_recipient, d.max_consents_per_recipient);
  assert_int_equal(c.refusal_audit_interval_ms, d.refusal_audit_interval_ms);
  assert_int_equal(c.delivery_window_bytes, d.delivery_window_bytes);
  assert_int_equal(c.stall_timeouts, d.stall_timeouts);
  assert_int_equal(c.fetch_page_bytes, d.fetch_page_bytes);
  assert_int_equal(c.max_connections, d.max_connections);
  assert_int_equal(c.requests_per_second, d.requests_per_second);
  assert_int_equal(c.requests_burst, d.requests_burst);
  assert_int_equal(c.max_pending_per_author, d.max_pending_per_author);
  assert_int_equal(c.budget_audit_interval_ms, d.budget_audit_interval_ms);
  assert_int_equal(c.max_author_bytes, d.max_author_bytes);
  assert_int_equal(c.log_level, d.log_level);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_need_endpoint_key_store),
      cmocka_unit_test(test_file),
      cmocka_unit_test(test_file_errors_name_the_line),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_example_file_is_the_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
