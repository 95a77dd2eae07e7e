/* Unit tests of ketend's log line formats (issue 10, item 2): text, the
 * sd-daemon priority prefix under journald, JSON one object a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* 2024-01-02T03:04:05.678Z */
static const int64_t T = 1704164645678LL;

static void test_text(void **state) {
  (void)state;
  char line[256];
  size_t n = log_format_line(line, sizeof line, LOG_FORMAT_TEXT, 0, T,
                             LOG_WARN, "budget", "coa: refused");
  assert_string_equal(line, "2024-01-02T03:04:05.678Z WARN  budget: coa: refused");
  assert_int_equal(n, strlen(line));
}

static void test_priority_prefix(void **state) {
  (void)state;
  char line[256];
  static const struct {
    log_level_t level;
    const char *prefix;
  } cases[] = {{LOG_ERROR, "<3>"}, {LOG_WARN, "<4>"}, {LOG_INFO, "<6>"},
               {LOG_DEBUG, "<7>"}};
  for (size_t i = 0; i < 4; i++) {
    log_format_line(line, sizeof line, LOG_FORMAT_JOURNAL, 1, T,
                    cases[i].level, "broker", "x");
    assert_memory_equal(line, cases[i].prefix, 3);
    assert_non_null(strstr(line, "broker: x"));
    /* JSON under journald: the prefix, then the object */
    log_format_line(line, sizeof line, LOG_FORMAT_JSON, 1, T, cases[i].level,
                    "broker", "x");
    assert_memory_equal(line, cases[i].prefix, 3);
    assert_int_equal(line[3], '{');
  }
  assert_int_equal(log_priority(LOG_ERROR), 3);
  assert_int_equal(log_priority(LOG_DEBUG), 7);
}

static void test_json_escapes(void **state) {
  (void)state;
  char line[512];
  log_format_line(line, sizeof line, LOG_FORMAT_JSON, 0, T, LOG_INFO, "request",
                  "quote \" backslash \\ newline \n tab \t bell \a end");
  assert_null(strchr(line, '\n'));
  json_error_t e;
  json_t *o = json_loads(line, 0, &e);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "time")),
                      "2024-01-02T03:04:05.678Z");
  assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
  assert_string_equal(json_string_value(json_object_get(o, "component")),
                      "request");
  assert_string_equal(json_string_value(json_object_get(o, "message")),
                      "quote \" backslash \\ newline \n tab \t bell \a end");
  json_decref(o);
}

static void test_json_truncated_stays_valid(void **state) {
  (void)state;
  char big[3000], line[400];
  memset(big, '"', sizeof big - 1); /* each escapes to two bytes */
  big[sizeof big - 1] = '\0';
  size_t n = log_format_line(line, sizeof line, LOG_FORMAT_JSON, 1, T,
                             LOG_ERROR, "x", big);
  assert_true(n < sizeof line);
  json_error_t e;
  json_t *o = json_loads(line + 3, 0, &e);
  assert_non_null(o);
  json_decref(o);
  /* text is cut, never overrun */
  n = log_format_line(line, 32, LOG_FORMAT_TEXT, 0, T, LOG_INFO, "x", big);
  assert_int_equal(n, 31);
  assert_int_equal(strlen(line), 31);
}

static void test_parse_names(void **state) {
  (void)state;
  log_format_t f;
  assert_int_equal(log_format_parse("json", &f), 0);
  assert_int_equal(f, LOG_FORMAT_JSON);
  assert_int_equal(log_format_parse("journal", &f), 0);
  assert_int_equal(f, LOG_FORMAT_JOURNAL);
  assert_int_equal(log_format_parse("text", &f), 0);
  assert_int_equal(log_format_parse("xml", &f), -1);
  assert_string_equal(log_level_name(LOG_WARN), "warn");
}

static void test_journal_stream_detection(void **state) {
  (void)state;
  char path[] = "/tmp/keten-log-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  char v[64];
  unsetenv("JOURNAL_STREAM");
  assert_int_equal(log_fd_is_journal(fd), 0);
  snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino);
  setenv("JOURNAL_STREAM", v, 1);
  assert_int_equal(log_fd_is_journal(fd), 1);
  snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino + 1);
  setenv("JOURNAL_STREAM", v, 1); /* another stream: stderr was redirected */
  assert_int_equal(log_fd_is_journal(fd), 0);
  unsetenv("JOURNAL_STREAM");
  close(fd);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_priority_prefix),
      cmocka_unit_test(test_json_escapes),
      cmocka_unit_test(test_json_truncated_stays_valid),
      cmocka_unit_test(test_parse_names),
      cmocka_unit_test(test_journal_stream_detection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
