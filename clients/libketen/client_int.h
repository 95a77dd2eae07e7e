/* client_int — the client's state and the helpers its parts share
 * (internal to libketen; client.c owns the connection and the request
 * exchange, rewrap.c serves rewrap requests, tvs_client.c the TVS feed).
 */
#ifndef KETEN_CLIENT_INT_H
#define KETEN_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "evidence.h"
#include "keten.h"
#include "keten.pb-c.h"

#define CLIENT_DEDUP 1024
#define CLIENT_MAX_PREVIOUS_KEYS (EVIDENCE_MAX_OWN_KEYS - 1)
/* Rewrap answers whose broker reply we can still name. */
#define CLIENT_ANSWERS 1024 /* the largest credit: every answer in flight */
/* Broker signing keys: the current one and 8 earlier ones (issue 9). */
#define CLIENT_MAX_BROKER_KEYS 9
#define CLIENT_PATH_MAX 512

struct keten_client {
  void *ctx;
  void *sock;          /* DEALER, CURVE client */
  void *monitor;       /* PAIR receiving sock's events */
  unsigned generation; /* bumps with each new socket */
  char endpoint[256];
  keten_keys_t keys;
  keten_keys_t previous[CLIENT_MAX_PREVIOUS_KEYS]; /* before a rotation */
  size_t n_previous;
  uint8_t broker_key[KETEN_KEY_BYTES];
  uint8_t root_key[KETEN_KEY_BYTES];           /* the chain root we pin */
  uint8_t broker_signing_key[KETEN_KEY_BYTES]; /* verifies delete notices */
  int has_broker_signing_key;
  keten_notice_fn notice_fn;
  void *notice_arg;
  keten_rewrap_fn rewrap_fn;
  void *rewrap_arg;
  keten_tvs_event_fn tvs_fn;
  void *tvs_arg;
  evidence_cache_t verified; /* signatures checked once already */
  int timeout_ms, retries, reconnect_ivl_ms, reconnect_ivl_max_ms,
      heartbeat_ivl_ms;
  char error[320];
  int remote_code;
  uint32_t retry_after_ms; /* of the last ERROR_RATE_LIMITED */
  /* who the broker knows us as (from WELCOME, fetched once) */
  char self_id[KETEN_ID_MAX + 1];
  /* deliveries that arrived while waiting for a reply */
  Keten__Envelope **pending;
  size_t n_pending;
  /* subscription, renewed after every (re)connection */
  uint32_t credit;
  int resubscribe;
  /* the broker ended it (keten.SubscriptionEndReason DISPLACED or
   * REMOVED): no SUBSCRIBE goes until the application asks again */
  int ended;
  /* back-off of the next (re)SUBSCRIBE: due at resubscribe_at_ms (0: now);
   * backoff_ms the last step after transient failures, stalls the
   * STALLED ends in a row without an ack between */
  int64_t resubscribe_at_ms;
  uint32_t backoff_ms;
  unsigned stalls;
  keten_subscription_fn sub_fn;
  void *sub_arg;
  /* seq the application refused: nothing at or after it is acked until
   * the broker sends it again */
  uint64_t hold_from;
  /* the last request was sent more than once */
  int retried;
  /* (subject, kind, author, version) already handed to the application */
  uint8_t seen[CLIENT_DEDUP][16];
  size_t n_seen, seen_next;
  /* the message ids of our latest rewrap answers (one-way: the broker's
   * OK or ERROR to them comes later and is only recorded) */
  struct {
    uint8_t message_id[ENVELOPE_MESSAGE_ID_BYTES];
    uint64_t request_id;
  } answers[CLIENT_ANSWERS];
  size_t answers_next;
  /* witnessing the broker's audit log (witness.c, issue 9): the known
   * broker signing keys (current first), the witness file, the newest
   * head verified in this session */
  uint8_t broker_keys[CLIENT_MAX_BROKER_KEYS][KETEN_KEY_BYTES];
  size_t n_broker_keys;
  char witness_file[CLIENT_PATH_MAX];
  keten_tree_head_t head;
  int has_head;
  /* connection state (state.c, issue 11): conn is what the socket monitor
   * last said (KETEN_STATE_CONNECTING, _CONNECTED, _DISCONNECTED,
   * _REFUSED), log_bad that the last witnessing failed; state the last
   * state reported to state_fn (client_state_update derives it) */
  int conn, log_bad, state;
  keten_state_fn state_fn;
  void *state_arg;
  /* the event-loop descriptor (keten_client_fd): an epoll set holding the
   * ZMQ_FDs of sock and monitor and wake, an eventfd made readable while
   * keten_client_poll() has work now; -1 until asked for */
  int efd, wake;
  int watched_sock, watched_monitor; /* the ZMQ_FDs in efd, or -1 */
  /* poll opens no new socket before this (after a refusal: back-off) */
  int64_t reopen_at_ms;
};

/* Sets the client's error text. */
void client_error(keten_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Learns (once) the participant id the broker knows us by. */
keten_err_t client_self(keten_client_t *c);

/* The wall clock, ms since the epoch. */
uint64_t client_wall_ms(void);

/* state.c: derives the state from conn, log_bad and ended and tells the
 * state handler when it changed (detail: why, printable, may be NULL). */
void client_state_update(keten_client_t *c, const char *detail);

/* state.c: notes the outcome of witnessing the broker's log (rc
 * KETEN_ERR_LOG_INCONSISTENT sets the LOG_INCONSISTENT state, KETEN_OK
 * clears it) and returns rc. */
keten_err_t client_witnessed(keten_client_t *c, keten_err_t rc);

/* Sends a new request whose body is `body` of type body_case and returns
 * the reply, which must be of type want (rate limits waited out; an
 * ERROR becomes KETEN_ERR_REMOTE). */
keten_err_t client_call_body(keten_client_t *c,
                             Keten__Envelope__BodyCase body_case, void *body,
                             Keten__Envelope__BodyCase want,
                             Keten__Envelope **reply);

/* 1 when a state-changing request that had to be resent was refused as a
 * replay: an earlier attempt was processed (the error is cleared). */
int client_recovered(keten_client_t *c, keten_err_t rc);

/* Our signing keys, the current one first, into ev. */
void client_own_signing_keys(const keten_client_t *c, evidence_author_t *ev);

/* Sends env without waiting for a reply (ZMQ_DONTWAIT). 0, or -1 with
 * the client's error set. */
int client_send_oneway(keten_client_t *c, const Keten__Envelope *env);

/* Handles one unsolicited frame of len bytes from the broker (a DELIVER,
 * a SUBSCRIPTION_ENDED, a late reply), as keten_client_poll() does with
 * each frame it receives; the fuzz target calls it without a broker.
 * Returns 1 when the application asked to stop. */
int client_frame_in(keten_client_t *c, const uint8_t *data, size_t len,
                    keten_delivery_fn fn, void *arg, size_t *handled);

/* rewrap.c: serves the rewrap request of item: answers it (a wrap or a
 * refusal) on the socket and tells the rewrap handler. Returns 0 when it
 * was answered (the seq may be acked), -1 when the answer could not be
 * sent (it must not be acked: it comes again). */
int client_serve_rewrap(keten_client_t *c, const Keten__Delivery *item,
                        size_t *handled);

/* rewrap.c: if reply answers one of our rewrap answers, records it (an
 * ERROR in the client's error) and returns 1; else 0. */
int client_rewrap_reply(keten_client_t *c, const Keten__Envelope *reply);

/* tvs_client.c: checks the TVS event of item and hands it to the TVS
 * handler. Returns 0 when it may be acked, 1 when the handler refused it. */
int client_tvs_event(keten_client_t *c, const Keten__Delivery *item,
                     size_t *handled);

/* witness.c: checks the signed tree head of a WELCOME (NULL: it carried
 * none) as keten_client_hello() documents: its signature, and with a
 * witness file its consistency with the stored head (an AUDIT_PROOF when
 * the log grew). KETEN_OK or KETEN_ERR_LOG_INCONSISTENT (or a transport,
 * remote or witness-file error). */
keten_err_t client_witness_welcome(keten_client_t *c, const Keten__TreeHead *h);

#endif
