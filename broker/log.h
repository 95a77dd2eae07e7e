/* log — one line per event on stderr, with a UTC timestamp and a level.
 * Callers never pass secrets; values from the network are validated
 * (printable ASCII) or hex-encoded before they reach a log line. */
#ifndef KETEND_LOG_H
#define KETEND_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level_t;

/* Sets the most verbose level that is printed (default LOG_INFO). */
void log_set_level(log_level_t level);

/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 if unknown. */
int log_level_parse(const char *name, log_level_t *level);

/* Returns 1 when a message at level would be printed. */
int log_enabled(log_level_t level);

/* Prints "<time> <LEVEL> <component>: <message>". */
void log_msg(log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
