/* log — one line per event on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level_t s_level = LOG_INFO;
static const char *const s_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(log_level_t level) { s_level = level; }

int log_enabled(log_level_t level) { return level <= s_level; }

int log_level_parse(const char *name, log_level_t *level) {
  static const char *const lower[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, lower[i]) == 0) {
      *level = (log_level_t)i;
      return 0;
    }
  return -1;
}

void log_msg(log_level_t level, const char *component, const char *fmt, ...) {
  if (!log_enabled(level))
    return;
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %-5s %s: ",
                        ts.tv_nsec / 1000000L, s_names[level], component);
  if (n < sizeof line) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
  }
  /* One write per line so concurrent writers never interleave mid-line. */
  fprintf(stderr, "%s\n", line);
  fflush(stderr);
}
