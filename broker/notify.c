/* notify — sd_notify(3) through libsystemd. */
#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static int64_t s_watchdog_ms, s_last_ping_ms = -1;

void notify_init(void) {
  uint64_t usec = 0;
  /* 0 unset_environment: a child of ketend (none today) is no service. */
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    s_watchdog_ms = (int64_t)(usec / 1000);
    if (s_watchdog_ms < 2)
      s_watchdog_ms = 2;
    log_msg(LOG_INFO, "systemd", "watchdog every %lld ms: pinging every %lld ms",
            (long long)s_watchdog_ms, (long long)(s_watchdog_ms / 2));
  }
}

int64_t notify_watchdog_ms(void) { return s_watchdog_ms; }

static void s_send(const char *text) {
  int rc = sd_notify(0, text);
  if (rc < 0)
    log_msg(LOG_WARN, "systemd", "sd_notify failed: error %d", -rc);
}

void notify_ready(const char *status) {
  char text[512];
  snprintf(text, sizeof text, "READY=1\nSTATUS=%s", status);
  s_send(text);
}

void notify_status(const char *status) {
  char text[512];
  snprintf(text, sizeof text, "STATUS=%s", status);
  s_send(text);
}

void notify_watchdog(int64_t mono_ms) {
  if (s_watchdog_ms <= 0)
    return;
  if (s_last_ping_ms >= 0 && mono_ms - s_last_ping_ms < s_watchdog_ms / 2)
    return;
  s_last_ping_ms = mono_ms;
  s_send("WATCHDOG=1");
}

void notify_stopping(const char *status) {
  char text[512];
  snprintf(text, sizeof text, "STOPPING=1\nSTATUS=%s", status);
  s_send(text);
}
