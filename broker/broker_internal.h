/* broker_internal — what ketend's request handlers share with the event
 * loop: the broker's state (data only: the outbox, the audit helper and
 * the request being answered are in request.h) and the handlers the loop
 * calls. Not a public API. */
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
#include "request.h"
#include "store.h"
#include "zap.h"

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
