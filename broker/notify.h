/* notify — ketend's part of the systemd service protocol (sd_notify(3)):
 * READY=1 once every endpoint listens, STATUS= lines, WATCHDOG=1 pings
 * from the event loop when the manager asked for them (WATCHDOG_USEC),
 * STOPPING=1 at stop. Without NOTIFY_SOCKET every call does nothing. */
#ifndef KETEND_NOTIFY_H
#define KETEND_NOTIFY_H

#include <stdint.h>

/* Reads WATCHDOG_USEC (and WATCHDOG_PID) once; call before the loop. */
void notify_init(void);

/* READY=1 with a STATUS= line. */
void notify_ready(const char *status);

/* STATUS=<status>. */
void notify_status(const char *status);

/* Sends WATCHDOG=1 when half the watchdog interval passed since the last
 * ping (mono_ms: the monotonic clock in ms). Cheap when not enabled. */
void notify_watchdog(int64_t mono_ms);

/* Returns the watchdog interval in ms, 0 when no watchdog was asked for. */
int64_t notify_watchdog_ms(void);

/* STOPPING=1 with a STATUS= line. */
void notify_stopping(const char *status);

#endif
