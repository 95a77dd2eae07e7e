/* log — one line per event on stderr, with a UTC timestamp and a level.
 * Callers never pass secrets; values from the network are validated
 * (printable ASCII) or hex-encoded before they reach a log line.
 *
 * Formats (log_format setting, docs/operations.md "Logs"):
 *   text     "<time> <LEVEL> <component>: <message>" (the default)
 *   json     one JSON object a line: {"time", "level", "component", "message"}
 *   journal  text, each line prefixed with its sd-daemon priority
 * Under journald (JOURNAL_STREAM names stderr) text and json lines get the
 * priority prefix too: <3> error, <4> warn, <6> info, <7> debug. */
#ifndef KETEND_LOG_H
#define KETEND_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level_t;
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON, LOG_FORMAT_JOURNAL } log_format_t;

/* Sets the most verbose level that is printed (default LOG_INFO). */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 if unknown. */
int log_level_parse(const char *name, log_level_t *level);
/* "error", "warn", "info", "debug". */
const char *log_level_name(log_level_t level);

/* Parses "text", "json" or "journal"; returns 0, or -1 if unknown. */
int log_format_parse(const char *name, log_format_t *format);
const char *log_format_name(log_format_t format);

/* Sets the format. The priority prefix is written when format is
 * LOG_FORMAT_JOURNAL or when stderr is the journal's stream (the
 * JOURNAL_STREAM variable names stderr's device and inode). */
void log_set_format(log_format_t format);

/* Returns 1 when JOURNAL_STREAM names the descriptor fd's device:inode. */
int log_fd_is_journal(int fd);

/* Returns 1 when a message at level would be printed. */
int log_enabled(log_level_t level);

/* The sd-daemon priority of level (SD_ERR 3, SD_WARNING 4, SD_INFO 6,
 * SD_DEBUG 7). */
int log_priority(log_level_t level);

/* Formats one line (no newline) into out: pure, for the tests. time_ms is
 * the UTC wall clock in ms; prefix adds "<N>". Returns the length, always
 * < cap (truncated; a JSON line stays valid JSON). */
size_t log_format_line(char *out, size_t cap, log_format_t format, int prefix,
                       int64_t time_ms, log_level_t level,
                       const char *component, const char *message);

/* Prints one line in the current format. */
void log_msg(log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
