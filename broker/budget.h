/* budget — per-participant request budgets and the aggregated audit of
 * their refusals (pure: the caller gives the time and the connection's fd;
 * no sockets, no store).
 *
 * Three things per admitted participant, each O(1) per request:
 * - a token bucket of requests (requests_per_second sustained,
 *   requests_burst at once; the bucket arithmetic is ratelimit.c's);
 * - the connections it uses at once (max_connections), keyed by the file
 *   descriptor a frame arrived on (ZMQ_SRCFD), forgotten when the ROUTER's
 *   monitor reports the descriptor closed;
 * - per budget (budget_kind_t), the refusals not yet audited, so that a
 *   flood of refused requests costs one audit entry and one log line per
 *   (participant, budget) per interval, written by the sweep in the batch
 *   transaction and settled after its commit or rollback (the pattern of
 *   refusals.h).
 *
 * The table holds the participants that made a request since the broker
 * started (bounded by the registry: only admitted participants get here). */
#ifndef KETEND_BUDGET_H
#define KETEND_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "ratelimit.h"

typedef enum {
  BUDGET_REQUESTS_PER_SECOND,
  BUDGET_MAX_CONNECTIONS,
  BUDGET_MAX_PENDING_PER_AUTHOR,
  BUDGET_MAX_CONSENTS_PER_RECIPIENT,
  BUDGET_DELIVERY_WINDOW_BYTES,
  BUDGET_STALL_TIMEOUTS,
  BUDGET_MAX_AUTHOR_BYTES,
  BUDGET_KINDS
} budget_kind_t;

/* The budget's setting name ("requests_per_second", ...). */
const char *budget_name(budget_kind_t kind);

/* Refusals of one budget by one participant. */
typedef struct {
  uint64_t pending;      /* refusals not yet in a committed audit entry */
  uint64_t flushed;      /* of those, counted in an entry of the open batch */
  uint64_t unlogged;     /* refusals since the last summary (no line each) */
  uint64_t limit;        /* the limit at the latest refusal */
  int64_t unflushed_ms;  /* first refusal not counted in the open batch */
  int64_t first_ms;      /* first pending refusal */
  int64_t last_ms;       /* latest refusal */
  int64_t audited_ms, prev_audited_ms;
  int audited, prev_audited;
  int logged;            /* a refusal of this period was logged */
} budget_refusals_t;

typedef struct {
  char id[PARTICIPANT_ID_MAX + 1];
  ratelimit_bucket_t bucket;         /* requests */
  int bucket_unset;                  /* made by a connection or a refusal */
  int connections;                   /* connections counted now */
  budget_refusals_t refused[BUDGET_KINDS];
  int has_refusals;                  /* some refused[] has pending ones */
} budget_participant_t;

typedef struct {
  budget_participant_t *parts;
  size_t n, cap;
  uint32_t *index;                   /* open addressing: part + 1, 0 = empty */
  size_t index_slots;                /* a power of two, >= 2 * cap */
  uint32_t *fd_owner;                /* fd -> part + 1, 0 = not counted */
  size_t n_fds;
  int flushing;                      /* some entry is counted in the open batch */
} budget_t;

/* Frees the table's memory and empties it (a zeroed budget_t is empty). */
void budget_clear(budget_t *t);

/* The participant's entry, made on first use (its bucket full with burst
 * tokens, or, burst 0, at its first request); NULL when out of memory. */
budget_participant_t *budget_find(budget_t *t, const char *id, int64_t now_ms,
                                  double burst);

/* Takes one request token of id. Returns 1 if the request may go ahead, 0
 * if not (*retry_after_ms, may be NULL, gets when a token is back; the
 * caller counts the refusal with budget_refused), -1 when out of memory. */
int budget_request(budget_t *t, const char *id, int64_t now_ms, double rate,
                   double burst, int64_t *retry_after_ms);

/* A request from id arrived on connection fd (< 0: unknown, not counted).
 * Returns 1 if the connection is counted already or may be counted now
 * (id's count stays at most max), 0 if counting it would exceed max (the
 * connection is not counted; the caller counts the refusal with
 * budget_refused), -1 when out of memory. A
 * connection fd counted for another participant was closed (the
 * descriptor is reused): it moves to id. */
int budget_connection(budget_t *t, int fd, const char *id, int max,
                      int64_t now_ms);

/* The connection on fd is closed: it no longer counts. */
void budget_disconnected(budget_t *t, int fd);

/* The connections id is counted for now. */
int budget_connections(const budget_t *t, const char *id);

/* Counts one refusal of budget kind for id at now_ms (limit: the limit
 * that refused it, for the audit detail). Returns 1 when this refusal
 * should be logged (the first of its (id, kind) since the last summary),
 * 0 when its line is suppressed and counted in the next summary, -1 when
 * out of memory. */
int budget_refused(budget_t *t, const char *id, budget_kind_t kind,
                   uint64_t limit, int64_t now_ms);

/* One summary: count refusals of kind by id over span_ms, at limit;
 * unlogged had no log line of their own. fn returns 0, or -1 to stop. */
typedef int (*budget_fn)(const char *id, budget_kind_t kind, uint64_t count,
                         int64_t span_ms, uint64_t limit, uint64_t unlogged,
                         void *arg);

/* Calls fn for each (participant, budget) with refusals not yet in an
 * entry whose last entry is at least interval_ms old (or that has none;
 * every one with force), and marks them counted in the open batch.
 * Returns 0, or -1 if fn did (those before it stay marked). O(table). */
int budget_flush(budget_t *t, int64_t now_ms, int64_t interval_ms, int force,
                 budget_fn fn, void *arg);

/* After the batch's commit (committed) the refusals the flushed entries
 * counted are settled; after a rollback they are pending again and due at
 * the next flush. O(1) when nothing was flushed. */
void budget_settle(budget_t *t, int committed);

/* Refusals counted but not yet in a committed entry, of one participant
 * and kind (id NULL: all participants). */
uint64_t budget_pending(const budget_t *t, const char *id, budget_kind_t kind);

#endif
