/* metrics — ketend's counters, their Prometheus text form, and the HTTP
 * endpoint that serves it (libmicrohttpd) with /health.
 *
 * Threads: the event loop alone owns metrics_t and updates it without
 * locks. At most once a second (metrics_publish) it renders the text and
 * swaps it, with the loop's last-run time and the store's last answer,
 * into the server's snapshot under a mutex. libmicrohttpd answers on its
 * own thread (MHD_USE_INTERNAL_POLLING_THREAD) from that snapshot only:
 * a slow or stuck scraper never holds up the loop, the loop never waits
 * on HTTP, and the server never reads a counter the loop is writing. The
 * lock is held for a pointer swap or a copy of the text. */
#ifndef KETEND_METRICS_H
#define KETEND_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"

#define METRICS_BODIES 64          /* envelope body numbers counted by name */
#define METRICS_CODES 32           /* error codes counted by name */
#define METRICS_BATCH_BUCKETS 9    /* 1 2 4 ... 256 requests */
#define METRICS_COMMIT_BUCKETS 12  /* 0.5 ms ... 2.5 s */

typedef struct {
  uint64_t buckets[METRICS_COMMIT_BUCKETS > METRICS_BATCH_BUCKETS
                       ? METRICS_COMMIT_BUCKETS
                       : METRICS_BATCH_BUCKETS];
  uint64_t count;
  double sum;
} metrics_histogram_t;

typedef struct {
  char id[128];
  uint64_t depth;              /* entries after the acked seq */
  double oldest_unacked_s;     /* age of the oldest of them, 0 if none */
} metrics_mailbox_t;

typedef struct {
  uint64_t requests[METRICS_BODIES + 1];   /* by body number; [METRICS_BODIES]: other/undecodable */
  uint64_t errors[METRICS_CODES + 1];      /* by keten.ErrorCode; [METRICS_CODES]: other */
  uint64_t budget_refusals[BUDGET_KINDS];
  metrics_histogram_t batch_size, commit_seconds;
  uint64_t commits_failed;
  /* copied in by the loop before a render */
  uint64_t connections_opened, connections_closed, connections_open;
  uint64_t handshakes_admitted, handshakes_refused;
  uint64_t dropped_frames, deliveries;
  uint64_t audit_entries;
  int audit_known;
  metrics_mailbox_t *mailboxes;
  size_t n_mailboxes;
  int64_t mailboxes_ms;        /* when they were computed (monotonic), 0 never */
} metrics_t;

typedef struct metrics_server metrics_server_t;

/* Counting, from the event loop. */
void metrics_request(metrics_t *m, int body_case);
void metrics_error(metrics_t *m, int code);
void metrics_batch(metrics_t *m, unsigned requests);
void metrics_commit(metrics_t *m, double seconds, int ok);

/* Renders m in the Prometheus text exposition format (version 0.0.4) into
 * a malloc'd string (*len its length). Pure but for malloc: the tests
 * call it directly. NULL when out of memory. */
char *metrics_render(const metrics_t *m, size_t *len);

void metrics_free(metrics_t *m);

/* Starts the HTTP server on HOST:PORT (numeric IPv4 or [IPv6], or
 * "localhost"). NULL with a reason in err. */
metrics_server_t *metrics_server_start(const char *endpoint, char *err,
                                       size_t errlen);

/* Publishes text (taken over) with the loop's state: loop_mono_ms when
 * it last ran, store_ok whether the store last answered. */
void metrics_server_publish(metrics_server_t *s, char *text, size_t len,
                            int64_t loop_mono_ms, int store_ok);

/* Marks the loop as alive without a new text (cheap: every tick). */
void metrics_server_alive(metrics_server_t *s, int64_t loop_mono_ms,
                          int store_ok);

void metrics_server_stop(metrics_server_t **s);

/* GET http://endpoint/health with a plain socket (timeout_ms in all).
 * Returns the HTTP status (200 healthy, 503 not), or -1 with a reason in
 * err when no answer came. Needs no participant key. */
int metrics_health_get(const char *endpoint, int timeout_ms, char *body,
                       size_t body_len, char *err, size_t errlen);

/* Splits "HOST:PORT" / "[V6]:PORT"; returns 0 or -1. */
int metrics_split_endpoint(const char *endpoint, char *host, size_t host_len,
                           int *port);

#endif
