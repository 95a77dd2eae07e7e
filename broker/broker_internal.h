/* broker_internal — what ketend's request handlers share with the event
 * loop: the broker's state, the outbox of frames that leave only after the
 * batch they belong to is durable, and the audit helper. Not a public API. */
#ifndef KETEND_BROKER_INTERNAL_H
#define KETEND_BROKER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "budget.h"
#include "conn_log.h"
#include "metrics.h"
#include "broker.h"
#include "envelope.h"
#include "keten.h"
#include "ratelimit.h"
#include "registry.h"
#include "store.h"
#include "zap.h"

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

/* The largest credit a SUBSCRIBE or ACK may give (entries in flight). */
#define DELIVERY_MAX_CREDIT 1024

/* One delivery frame in flight: its last seq and its bytes. */
typedef struct {
  uint64_t last_seq;
  uint64_t bytes;
} delivery_frame_t;

/* One participant's delivery subscription on one connection. */
typedef struct {
  char participant[PARTICIPANT_ID_MAX + 1];
  uint8_t transport_pk[PARTICIPANT_KEY_BYTES]; /* the key it subscribed with */
  uint8_t rid[BROKER_RID_MAX];
  size_t rid_len;
  uint32_t credit;                        /* window: deliveries in flight */
  uint64_t acked;                         /* acked seq, as stored */
  uint64_t sent;                          /* next send resumes after this seq */
  uint64_t sent_max;                      /* highest seq ever sent on this session */
  int64_t last_progress_ms;               /* last send or ack (monotonic) */
  int wake;                               /* look at the mailbox again */
  /* The byte window (docs/protocol.md 8.3.1, 8.5): the frames in
   * (acked, sent], oldest first, in a ring (each frame holds at least one
   * seq, so at most DELIVERY_MAX_CREDIT of them are in flight). */
  delivery_frame_t frames[DELIVERY_MAX_CREDIT];
  size_t frame_head, n_frames;
  uint64_t unacked_bytes;                 /* the sum of frames[].bytes */
  uint64_t handed_bytes;                  /* handed to the transport since the last ack progress */
  int timeouts;                           /* consecutive ack timeouts without progress */
  int held;                               /* a frame was not taken: wait for an ack or the timeout */
} session_t;

/* Mailbox entries whose delivery frame the transport did not take: their
 * deliver entries are withdrawn (keten.delivery.unsent) in the next batch. */
typedef struct {
  char participant[PARTICIPANT_ID_MAX + 1];
  uint64_t first_seq, last_seq;
  char reason[64];
  int written;                            /* audited in the open batch */
} delivery_unsent_t;

struct broker {
  config_t cfg;
  void *ctx;
  void *router;
  void *zap;
  store_t *store;
  registry_t *registry;
  keten_keys_t keys;
  uint8_t root_pk[32];                    /* the chain root every entry must verify with */
  ratelimit_t prepare_limits;             /* PREPAREs per participant */
  int64_t data_version;
  int64_t next_poll_ms;
  zap_stats_t zap_stats;
  uint64_t requests, error_replies, dropped_replies, deliveries;
  int64_t bad_log_second;
  unsigned bad_log_count, bad_log_suppressed;
  outbox_item_t *outbox;
  size_t n_out, cap_out;
  session_t *sessions;
  size_t n_sessions, cap_sessions;
  delivery_unsent_t *unsent;              /* frames the transport did not take */
  size_t n_unsent, cap_unsent;
  uint64_t checkpoint_seq;                /* last signed checkpoint */
  int64_t checkpoint_ms;
  int64_t next_sweep_ms;
  int tx_open;                            /* the batch's transaction has begun */
  /* Budgets per participant (budget.h) and the connections behind them. */
  budget_t budgets;
  void *monitor;                          /* the ROUTER's monitor (closed fds) */
  /* A full disk (9.3.6): sweeps and the delivery pump wait until
   * store_retry_ms, backing off from 1 s to 30 s; the log line is
   * rate-limited. */
  int store_full;
  int64_t store_retry_ms, store_backoff_ms;
  int64_t tx_changes;                     /* store_changes() when the batch's tx began */
  int64_t commit_log_ms;                  /* last "commit failed" line */
  uint64_t commit_unlogged;               /* failures since, not logged */
  /* Signed tree heads of the audit log (audit_log.h, issue 9): the latest
   * committed one (WELCOME, AUDIT_PROOF), one signed in the open batch
   * (committed with it, then written to the head file), when the last
   * was signed (monotonic), and the head file's path. */
  keten_tree_head_t head;
  int has_head;
  keten_tree_head_t head_new;
  int head_pending;
  int64_t head_ms;
  char head_file[CONFIG_PATH_MAX + 8];
  /* Observability (issue 10): counters and their HTTP endpoint
   * (metrics.h), connections logged once each (conn_log.h), and the
   * settings SIGHUP re-reads (broker_on_reload). */
  metrics_t metrics;
  metrics_server_t *metrics_srv;
  int64_t metrics_pub_ms;                 /* last publish (monotonic) */
  int store_ok;                           /* the store answered the last look */
  conn_log_t conns;
  broker_config_fn reload_fn;
  void *reload_arg;
};

/* The request being handled. */
typedef struct {
  broker_t *b;
  const uint8_t *rid;
  size_t rid_len;
  const Keten__Envelope *req;
  const participant_t *who;
  int64_t now_ms;                         /* wall clock at receipt */
} request_t;

int64_t broker_wall_ms(void);

/* Handles one request frame of len bytes from the connection rid whose
 * ZAP User-Id is user_id (NULL: none), inside the current batch. The loop
 * calls it per frame; the fuzz targets call it without sockets. */
void broker_dispatch(broker_t *b, const uint8_t *rid, size_t rid_len,
                     const char *user_id, const uint8_t *data, size_t len);

/* Ends the current batch: commits its transaction (or fails its replies),
 * then sends the outbox (send) or discards it (!send, for the fuzz targets). */
void broker_batch_end(broker_t *b, int send);

/* Opens the current batch's transaction on first use (a batch of PINGs
 * touches no store). Returns 0, or -1 if the store cannot begin one. */
int broker_tx(broker_t *b);

/* Returns 1 if some session has deliveries to look at or an overdue ack. */
int delivery_due(const broker_t *b, int64_t mono_now);
int64_t broker_mono_ms(void);

/* Queues the reply to r: body of type body_case (the oneof member given
 * by body). Envelope ids are filled here. */
void broker_reply(request_t *r, Keten__Envelope__BodyCase body_case,
                  void *body);

/* Queues an ERROR reply to r. */
void broker_reply_error(request_t *r, Keten__ErrorCode code, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

/* Queues ERROR_RATE_LIMITED with the time after which to retry. */
void broker_reply_rate_limited(request_t *r, int64_t retry_after_ms,
                               const char *reason);

/* Queues an unsolicited frame (a delivery) to rid. */
int broker_push(broker_t *b, const uint8_t *rid, size_t rid_len,
                const Keten__Envelope *env);

/* broker_push(), returning the queued item (NULL when out of memory) for
 * the caller to fill in what the frame carries. */
outbox_item_t *broker_push_item(broker_t *b, const uint8_t *rid,
                                size_t rid_len, const Keten__Envelope *env);

/* Starts an entry with name and status and the request's trace context
 * (r may be NULL for the broker's own operations). */
void broker_audit_init(audit_entry_t *e, const request_t *r, const char *name,
                       int status);

/* Appends e to the audit chain in the current transaction. */
int broker_audit(broker_t *b, audit_entry_t *e);

/* Handlers: return 0 when the request's changes (and audit entries) may
 * commit, -1 on an internal failure (changes undone, ERROR_INTERNAL sent). */
int handle_prepare(request_t *r);
int handle_put(request_t *r);
int handle_fetch(request_t *r);
int handle_consent_grant(request_t *r);
int handle_consent_revoke(request_t *r);
int handle_consent_list(request_t *r);
int handle_subscribe(request_t *r);
int handle_ack(request_t *r);
int handle_tvs_publish(request_t *r);
int handle_tvs_list(request_t *r);
int handle_tvs_status(request_t *r);
int handle_audit_proof(request_t *r);
/* The latest committed signed tree head as the wire message (pointing
 * into b). */
void broker_head_wire(const broker_t *b, Keten__TreeHead *w);

/* Counts one refusal of budget kind for participant id (limit: the limit
 * that refused it); the sweep writes one `keten.budget.refused` entry per
 * (participant, budget) per budget_audit_interval_ms (budget.h). O(1). */
void broker_budget_refused(broker_t *b, const char *id, budget_kind_t kind,
                           uint64_t limit);

/* Writes the audit entries that sum up the PREPAREs refused by the rate
 * limit (at most one per participant a second, or all with force). */
int prepare_limit_flush(broker_t *b, int64_t now_ms, int force);

/* After the batch's commit (committed) or rollback: refusals the flushed
 * entries counted are settled, or left to be flushed again. */
void prepare_limit_settle(broker_t *b, int committed);

/* Removes recipient's access that consent c gave to its recorder's
 * sections (for "@gemeente": the linked gemeente's), for the kinds no
 * other active consent of that recorder still covers, audits it, and
 * sends the recipient a delete notice with reason (keten.NoticeReason:
 * REVOKED or EXPIRED) naming what it had. */
int consent_purge_access(broker_t *b, const request_t *r, const consent_t *c,
                         int64_t now_ms, int reason);

/* Processes consents whose validity ended (expiry), up to a bound. */
int consent_sweep_expired(broker_t *b, int64_t now_ms);

/* Processes consents recorded before their validity started whose start
 * has come: their recorder is asked to reseal (rewrap), up to a bound. */
int consent_sweep_started(broker_t *b, int64_t now_ms);

/* A deep copy of a stored section carrying only reader's wrap and the
 * author's root-signed registry entry (free with handle_section_copy_free). */
Keten__SectionCopy *handle_section_copy(const store_section_t *sec,
                                        const char *reader,
                                        const participant_t *author);

/* The known entry that signed sec (its author with the key it was signed
 * with), or NULL when the author left the registry. */
const participant_t *handle_section_author(const broker_t *b,
                                           const store_section_t *sec);
void handle_section_copy_free(Keten__SectionCopy *copy);

/* Marks participant's session (if any) to look at its mailbox again. */
void delivery_wake(broker_t *b, const char *participant);

/* Pushes waiting deliveries to the sessions that have room, and rewinds
 * those whose acks are overdue. Runs inside the batch transaction. */
int delivery_pump(broker_t *b, int64_t mono_now);

/* Forgets the session on rid (its peer is gone). */
void delivery_drop_rid(broker_t *b, const uint8_t *rid, size_t rid_len);

/* After a failed commit: every session resends from its acked seq. */
void delivery_rewind_all(broker_t *b);

/* The outbox sent delivery frame o (its bytes count as handed). */
void delivery_handed(broker_t *b, const outbox_item_t *o);

/* The transport did not take delivery frame o (reason: why): its session
 * resumes before o's first seq, waits for an ack or the ack timeout, and
 * the next batch withdraws the frame's deliver entries. */
void delivery_unsent(broker_t *b, const outbox_item_t *o, const char *reason);

/* The outbox is being sent after a commit: the withdrawals audited in
 * that batch are settled (those of a failed batch were reset by
 * delivery_rewind_all() and are written again). */
void delivery_unsent_settle(broker_t *b);

/* After a registry reload: every subscription whose transport key is not
 * valid now ends at once (SUBSCRIPTION_REMOVED to its connection). */
void delivery_check_keys(broker_t *b);

/* Frees what the delivery state holds (at broker_destroy). */
void delivery_free(broker_t *b);

#endif
