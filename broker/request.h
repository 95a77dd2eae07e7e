/* request — the request being answered and what answering it leaves
 * behind: the frames it queues in the outbox (its reply or ERROR, and
 * unsolicited pushes), which leave only after the batch's commit, its
 * audit entries, and the budget refusals it counts. The handlers fill the
 * outbox; the event loop (broker.c) sends it, or fails it, after the
 * commit. */
#ifndef KETEND_REQUEST_H
#define KETEND_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "broker.h"
#include "budget.h"
#include "envelope.h"
#include "participant.h"

#define BROKER_RID_MAX 256

/* A frame waiting for the batch's commit. */
typedef struct {
  uint8_t rid[BROKER_RID_MAX];
  size_t rid_len;
  uint8_t *frame;
  size_t len;
  int is_reply;                           /* else an unsolicited delivery */
  uint8_t message_id[ENVELOPE_MESSAGE_ID_BYTES]; /* of the request, if any */
  uint8_t trace_id[ENVELOPE_TRACE_ID_BYTES];
  int has_request_ids;
  int needs_commit;                       /* a reply whose request wrote to the store
                                           * (or a delivery): it leaves only if the
                                           * batch commits (H6, issue 8) */
  int keep;                               /* sent even if the batch's commit fails
                                           * (SUBSCRIPTION_ENDED: nothing to make durable) */
  /* A delivery frame: whose mailbox entries it carries and their bytes
   * (as the window counts them); first_seq 0 for any other frame. */
  char participant[PARTICIPANT_ID_MAX + 1];
  uint64_t first_seq, last_seq;
  uint64_t bytes;
} outbox_item_t;

/* The request being handled. */
typedef struct {
  broker_t *b;
  const uint8_t *rid;
  size_t rid_len;
  const Keten__Envelope *req;
  const participant_t *who;
  int64_t now_ms;                         /* wall clock at receipt */
} request_t;

/* Queues the reply to r: body of type body_case (the oneof member given
 * by body). Envelope ids are filled here. */
void request_reply(request_t *r, Keten__Envelope__BodyCase body_case,
                   void *body);

/* Queues an ERROR reply to r. */
void request_reply_error(request_t *r, Keten__ErrorCode code, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

/* Queues an ERROR reply to r with retry_after_ms (0: none) and reason
 * (made printable ASCII, cut to the wire's bound), counted and logged. */
void request_reply_error_retry(request_t *r, Keten__ErrorCode code,
                               uint32_t retry_after_ms, const char *reason);

/* Queues ERROR_RATE_LIMITED with the time after which to retry. */
void request_reply_rate_limited(request_t *r, int64_t retry_after_ms,
                                const char *reason);

/* Queues an unsolicited frame (a delivery) to rid, returning the queued
 * item (NULL when out of memory) for the caller to fill in what it carries. */
outbox_item_t *outbox_push(broker_t *b, const uint8_t *rid, size_t rid_len,
                           const Keten__Envelope *env);

/* Starts an entry with name and status and the request's trace context
 * (r may be NULL for the broker's own operations). */
void request_audit_init(audit_entry_t *e, const request_t *r, const char *name,
                        int status);

/* Appends e to the audit chain in the current transaction. */
int request_audit(broker_t *b, audit_entry_t *e);

/* Counts one refusal of budget kind for participant id (limit: the limit
 * that refused it); the sweep writes one `keten.budget.refused` entry per
 * (participant, budget) per budget_audit_interval_ms (budget.h). O(1). */
void request_budget_refused(broker_t *b, const char *id, budget_kind_t kind,
                            uint64_t limit);

#endif
