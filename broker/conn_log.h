/* conn_log — one log line when a connection's first frame is admitted
 * (participant, peer address) and one when the ROUTER's monitor reports
 * it closed (with its duration and frames), keyed by its descriptor. A
 * descriptor reused before its close event arrived logs the old
 * connection closed first. Event loop only. */
#ifndef KETEND_CONN_LOG_H
#define KETEND_CONN_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char id[128];       /* participant; "" when the slot is free */
  char peer[64];      /* Peer-Address, "" if libzmq gave none */
  uint8_t rid[256];
  size_t rid_len;
  int64_t opened_ms;  /* monotonic */
  uint64_t frames;
} conn_log_slot_t;

typedef struct {
  conn_log_slot_t *slots; /* by descriptor */
  size_t n;
  uint64_t opened, closed; /* totals, for the metrics */
  size_t open;             /* connections logged open now */
} conn_log_t;

/* A frame of participant id came on fd from routing id rid. Logs the
 * connection on its first frame. Returns 1 if it was new, 0 if known,
 * -1 (fd < 0 or out of memory: not tracked). */
int conn_log_frame(conn_log_t *t, int fd, const uint8_t *rid, size_t rid_len,
                   const char *id, const char *peer, int64_t mono_ms);

/* The monitor reported fd closed: logs it once if it was logged open. */
void conn_log_closed(conn_log_t *t, int fd, int64_t mono_ms);

void conn_log_free(conn_log_t *t);

#endif
