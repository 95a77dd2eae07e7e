/* adapter_fixture — see adapter_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter_fixture.h"

#ifndef KETEN_PARTNERS_DIR
#error "KETEN_PARTNERS_DIR must name examples/partners"
#endif

void fx_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int64_t fx_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fx_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

char *fx_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 8192;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    size_t r = fread(buf + n, 1, 4096, f);
    n += r;
    if (r == 0)
      break;
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

void fx_write(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  assert_int_equal(close(fd), 0);
}

void fx_drop_text(const char *outbox, const char *name, const char *text) {
  char tmp[700], dst[700];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", outbox, name);
  snprintf(dst, sizeof dst, "%s/%s", outbox, name);
  fx_write(tmp, text, 0600);
  assert_int_equal(rename(tmp, dst), 0);
}

char *fx_example(const char *name) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", KETEN_PARTNERS_DIR, name);
  char *t = fx_read(path);
  if (!t)
    fail_msg("example %s missing", path);
  return t;
}

int fx_count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

int fx_file_count(const char *path, const char *needle) {
  char *t = fx_read(path);
  int n = fx_count(t, needle);
  free(t);
  return n;
}
