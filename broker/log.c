/* log — one line per event on stderr. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static log_level_t s_level = LOG_INFO;
static log_format_t s_format = LOG_FORMAT_TEXT;
static int s_prefix = -1; /* -1: not decided yet (JOURNAL_STREAM looked up once) */
static const char *const s_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const s_lower[] = {"error", "warn", "info", "debug"};
static const char *const s_formats[] = {"text", "json", "journal"};

void log_set_level(log_level_t level) { s_level = level; }
log_level_t log_get_level(void) { return s_level; }

int log_enabled(log_level_t level) { return level <= s_level; }

int log_level_parse(const char *name, log_level_t *level) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, s_lower[i]) == 0) {
      *level = (log_level_t)i;
      return 0;
    }
  return -1;
}

const char *log_level_name(log_level_t level) {
  return (unsigned)level < 4 ? s_lower[level] : "?";
}

int log_format_parse(const char *name, log_format_t *format) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, s_formats[i]) == 0) {
      *format = (log_format_t)i;
      return 0;
    }
  return -1;
}

const char *log_format_name(log_format_t format) {
  return (unsigned)format < 3 ? s_formats[format] : "?";
}

int log_fd_is_journal(int fd) {
  const char *js = getenv("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;
  if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) != 0)
    return 0;
  return (unsigned long long)st.st_dev == dev &&
         (unsigned long long)st.st_ino == ino;
}

void log_set_format(log_format_t format) {
  s_format = format;
  s_prefix = format == LOG_FORMAT_JOURNAL || log_fd_is_journal(STDERR_FILENO);
}

int log_priority(log_level_t level) {
  static const int prio[] = {3, 4, 6, 7}; /* SD_ERR SD_WARNING SD_INFO SD_DEBUG */
  return (unsigned)level < 4 ? prio[level] : 6;
}

static size_t s_time(char *out, size_t cap, int64_t time_ms) {
  time_t secs = (time_t)(time_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(out + n, cap - n, ".%03dZ", (int)(time_ms % 1000));
  return n < cap ? n : cap - 1;
}

size_t log_format_line(char *out, size_t cap, log_format_t format, int prefix,
                       int64_t time_ms, log_level_t level,
                       const char *component, const char *message) {
  if (cap == 0)
    return 0;
  out[0] = '\0';
  size_t n = 0;
  if (prefix)
    n = (size_t)snprintf(out, cap, "<%d>", log_priority(level));
  char when[40];
  s_time(when, sizeof when, time_ms);
  if (format == LOG_FORMAT_JSON) {
    /* jansson escapes; a message too long for the line is cut first, so
     * the line stays one valid object. */
    size_t room = cap > n + 160 ? cap - n - 160 : 1;
    char *msg = strndup(message, room / 2);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level",
                          log_level_name(level), "component", component,
                          "message", msg ? msg : "");
    free(msg);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                       JSON_ENSURE_ASCII)
                   : NULL;
    json_decref(o);
    if (text && n + strlen(text) < cap) {
      memcpy(out + n, text, strlen(text) + 1);
      n += strlen(text);
    } else if (n < cap) {
      n += (size_t)snprintf(out + n, cap - n,
                            "{\"time\":\"%s\",\"level\":\"%s\",\"message\":\"\"}",
                            when, log_level_name(level));
    }
    free(text);
    return n < cap ? n : cap - 1;
  }
  if (n < cap)
    n += (size_t)snprintf(out + n, cap - n, "%s %-5s %s: %s", when,
                          s_names[(unsigned)level < 4 ? level : 2], component,
                          message);
  return n < cap ? n : cap - 1;
}

void log_msg(log_level_t level, const char *component, const char *fmt, ...) {
  if (!log_enabled(level))
    return;
  if (s_prefix < 0)
    s_prefix = s_format == LOG_FORMAT_JOURNAL || log_fd_is_journal(STDERR_FILENO);
  char msg[1024], line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  log_format_line(line, sizeof line, s_format, s_prefix,
                  (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, level,
                  component, msg);
  /* One write per line so concurrent writers never interleave mid-line. */
  fprintf(stderr, "%s\n", line);
  fflush(stderr);
}
