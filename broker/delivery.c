/* delivery — durable mailboxes pushed to subscribed clients.
 *
 * Each recipient has a mailbox (in the store) with a monotonic seq. A
 * client SUBSCRIBEs with a credit window; the broker pushes DELIVER frames
 * (several entries each) while fewer than `credit` entries and at most
 * delivery_window_bytes are unacked; the client ACKs cumulatively. After
 * ack_timeout_ms without progress the window is resent, but only while
 * the bytes handed to the transport since the last progress are at most
 * one window (delivery_window.h); after stall_timeouts such timeouts the
 * subscription ends (SUBSCRIPTION_STALLED). A new SUBSCRIBE resumes after
 * the last acked seq. Sending never blocks: a slow client only fills its
 * own window, and a frame its connection does not take is withdrawn
 * (keten.delivery.unsent) and sent again later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "clock.h"
#include "consent.h"
#include "delivery_window.h"
#include "link.h"
#include "log.h"
#include "request.h"
#include "rewrap.h"

#define DELIVERY_MAX_PER_FRAME 64
#define DELIVERY_FRAME_BUDGET (512 * 1024)

static session_t *s_find(broker_t *b, const char *participant) {
  for (size_t i = 0; i < b->n_sessions; i++)
    if (strcmp(b->sessions[i].participant, participant) == 0)
      return &b->sessions[i];
  return NULL;
}

static int s_same_rid(const session_t *s, const uint8_t *rid, size_t len) {
  return s->rid_len == len && memcmp(s->rid, rid, len) == 0;
}

/* ---- the frames in flight (the byte window) ------------------------------ */

static void s_frames_clear(session_t *s) {
  s->frame_head = s->n_frames = 0;
  s->unacked_bytes = 0;
}

static void s_frames_push(session_t *s, uint64_t last_seq, uint64_t bytes) {
  delivery_frame_t *f =
      &s->frames[(s->frame_head + s->n_frames++) % DELIVERY_MAX_CREDIT];
  f->last_seq = last_seq;
  f->bytes = bytes;
  s->unacked_bytes += bytes;
}

/* An ACK of seq: the frames it covers entirely leave the window (a frame
 * acked in part still counts whole). */
static void s_frames_acked(session_t *s, uint64_t seq) {
  while (s->n_frames && s->frames[s->frame_head].last_seq <= seq) {
    s->unacked_bytes -= s->frames[s->frame_head].bytes;
    s->frame_head = (s->frame_head + 1) % DELIVERY_MAX_CREDIT;
    s->n_frames--;
  }
}

/* Forgets the frames holding any seq after after_seq (not handed over). */
static void s_frames_trim(session_t *s, uint64_t after_seq) {
  while (s->n_frames) {
    delivery_frame_t *f =
        &s->frames[(s->frame_head + s->n_frames - 1) % DELIVERY_MAX_CREDIT];
    if (f->last_seq <= after_seq)
      break;
    s->unacked_bytes -= f->bytes;
    s->n_frames--;
  }
}

/* The next send resumes after the acked seq: the window is empty. */
static void s_rewind(session_t *s) {
  s->sent = s->acked;
  s_frames_clear(s);
}

/* ---- ending a subscription ----------------------------------------------- */

/* Queues SubscriptionEnded{reason, detail} to s's connection. It is kept
 * even if the batch does not commit: it discloses nothing and records
 * nothing, and the session is gone either way. */
static void s_send_ended(broker_t *b, const session_t *s,
                         Keten__SubscriptionEndReason reason,
                         const char *detail) {
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__SubscriptionEnded ended = KETEN__SUBSCRIPTION_ENDED__INIT;
  envelope_init(&env, &ids, NULL);
  ended.reason = reason;
  ended.detail = (char *)detail;
  env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED;
  env.subscription_ended = &ended;
  outbox_item_t *o = outbox_push(b, s->rid, s->rid_len, &env);
  if (o)
    o->keep = 1;
  else
    log_msg(LOG_ERROR, "delivery",
            "%s: out of memory queueing the end of its subscription",
            s->participant);
}

/* Forgets session i (the last one takes its place). */
static void s_remove(broker_t *b, size_t i) {
  if (i + 1 < b->n_sessions)
    b->sessions[i] = b->sessions[b->n_sessions - 1];
  b->n_sessions--;
}

/* Session i's transport key is not valid now: it ends at once. */
static void s_end_removed(broker_t *b, size_t i) {
  session_t *s = &b->sessions[i];
  log_msg(LOG_INFO, "delivery",
          "%s: the key of this subscription is no longer valid; the "
          "subscription ends (SUBSCRIPTION_REMOVED), its mailbox waits",
          s->participant);
  s_send_ended(b, s, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED,
               "your transport key is no longer in the registry or its "
               "entry is not valid now; nothing more is delivered");
  s_remove(b, i);
}

/* Session i reached stall_timeouts ack timeouts without progress: audited
 * (keten.delivery.stalled), counted as a budget refusal, logged once, told
 * (SUBSCRIPTION_STALLED) and ended; the mailbox waits. */
static int s_end_stalled(broker_t *b, size_t i) {
  session_t *s = &b->sessions[i];
  audit_entry_t e;
  request_audit_init(&e, NULL, "keten.delivery.stalled", AUDIT_STATUS_ERROR);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", s->participant);
  snprintf(e.detail, sizeof e.detail,
           "acked seq %llu, sent up to %llu: %d ack timeouts of %d ms "
           "without progress; subscription ended",
           (unsigned long long)s->acked, (unsigned long long)s->sent_max,
           s->timeouts, b->cfg.ack_timeout_ms);
  if (request_audit(b, &e) != 0)
    return -1;
  request_budget_refused(b, s->participant, BUDGET_STALL_TIMEOUTS,
                         (uint64_t)b->cfg.stall_timeouts);
  log_msg(LOG_WARN, "delivery",
          "%s did not ack seq %llu..%llu in %d ack timeouts; the "
          "subscription ends (SUBSCRIPTION_STALLED), its mailbox waits",
          s->participant, (unsigned long long)s->acked + 1,
          (unsigned long long)s->sent_max, s->timeouts);
  char detail[200];
  snprintf(detail, sizeof detail,
           "no ack progress in %d ack timeouts of %d ms (acked seq %llu); "
           "subscribe again when you can read",
           s->timeouts, b->cfg.ack_timeout_ms, (unsigned long long)s->acked);
  s_send_ended(b, s, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_STALLED,
               detail);
  s_remove(b, i);
  return 0;
}

void delivery_check_keys(broker_t *b) {
  int64_t wall = clock_wall_ms();
  for (size_t i = 0; i < b->n_sessions; i++)
    if (!registry_find_transport(b->registry, b->sessions[i].transport_pk,
                                 wall))
      s_end_removed(b, i--);
}

/* ---- frames the transport did not take ----------------------------------- */

void delivery_handed(broker_t *b, const outbox_item_t *o) {
  session_t *s = s_find(b, o->participant);
  if (s && s_same_rid(s, o->rid, o->rid_len))
    s->handed_bytes += o->bytes;
}

void delivery_unsent(broker_t *b, const outbox_item_t *o, const char *reason) {
  session_t *s = s_find(b, o->participant);
  if (s && s_same_rid(s, o->rid, o->rid_len) && s->sent >= o->first_seq) {
    /* Resume before this frame; the frames before it were taken. */
    s->sent = o->first_seq - 1 > s->acked ? o->first_seq - 1 : s->acked;
    s_frames_trim(s, s->sent);
    s->held = 1; /* until an ACK advances or the ack timeout */
  }
  delivery_unsent_t *u = b->n_unsent ? &b->unsent[b->n_unsent - 1] : NULL;
  if (u && !u->written && strcmp(u->participant, o->participant) == 0 &&
      u->last_seq + 1 == o->first_seq) {
    u->last_seq = o->last_seq; /* the rest of the same subscription's frames */
    return;
  }
  if (b->n_unsent == b->cap_unsent) {
    size_t cap = b->cap_unsent ? 2 * b->cap_unsent : 8;
    delivery_unsent_t *grown = realloc(b->unsent, cap * sizeof *grown);
    if (!grown) {
      log_msg(LOG_ERROR, "delivery",
              "out of memory recording seq %llu..%llu of %s as not sent",
              (unsigned long long)o->first_seq,
              (unsigned long long)o->last_seq, o->participant);
      return;
    }
    b->unsent = grown;
    b->cap_unsent = cap;
  }
  u = &b->unsent[b->n_unsent++];
  memset(u, 0, sizeof *u);
  snprintf(u->participant, sizeof u->participant, "%s", o->participant);
  u->first_seq = o->first_seq;
  u->last_seq = o->last_seq;
  snprintf(u->reason, sizeof u->reason, "%s", reason);
  log_msg(LOG_INFO, "delivery",
          "%s: seq %llu..%llu not handed to the transport (%s); sent again "
          "after an ack or the ack timeout",
          o->participant, (unsigned long long)o->first_seq,
          (unsigned long long)o->last_seq, reason);
}

void delivery_unsent_settle(broker_t *b) {
  size_t kept = 0;
  for (size_t i = 0; i < b->n_unsent; i++)
    if (!b->unsent[i].written)
      b->unsent[kept++] = b->unsent[i];
  b->n_unsent = kept;
}

/* Withdraws the deliver entries of the frames not taken: one
 * keten.delivery.unsent entry per range, and the entries are unmarked so
 * that their next sending is audited as their delivery. */
static int s_write_unsent(broker_t *b) {
  for (size_t i = 0; i < b->n_unsent; i++) {
    delivery_unsent_t *u = &b->unsent[i];
    if (u->written)
      continue;
    audit_entry_t e;
    request_audit_init(&e, NULL, "keten.delivery.unsent", AUDIT_STATUS_ERROR);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", u->participant);
    snprintf(e.detail, sizeof e.detail,
             "seq %llu..%llu not handed to the transport: %s",
             (unsigned long long)u->first_seq, (unsigned long long)u->last_seq,
             u->reason);
    if (request_audit(b, &e) != 0 ||
        store_mailbox_clear_sent(b->store, u->participant, u->first_seq - 1,
                                 u->last_seq) != 0)
      return -1;
    u->written = 1;
  }
  return 0;
}

void delivery_free(broker_t *b) {
  free(b->unsent);
  b->unsent = NULL;
  b->n_unsent = b->cap_unsent = 0;
}

void delivery_wake(broker_t *b, const char *participant) {
  session_t *s = s_find(b, participant);
  if (s)
    s->wake = 1;
}

void delivery_drop_rid(broker_t *b, const uint8_t *rid, size_t rid_len) {
  for (size_t i = 0; i < b->n_sessions; i++) {
    session_t *s = &b->sessions[i];
    if (s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0) {
      log_msg(LOG_INFO, "delivery", "%s disconnected; its mailbox waits",
              s->participant);
      b->sessions[i] = b->sessions[--b->n_sessions];
      return;
    }
  }
}

void delivery_rewind_all(broker_t *b) {
  for (size_t i = 0; i < b->n_sessions; i++) {
    s_rewind(&b->sessions[i]);
    b->sessions[i].wake = 1;
  }
  /* The withdrawals written in the failed batch are undone: again. */
  for (size_t i = 0; i < b->n_unsent; i++)
    b->unsent[i].written = 0;
}

int handle_subscribe(request_t *r) {
  broker_t *b = r->b;
  uint32_t credit = r->req->subscribe->credit;
  if (credit < 1 || credit > DELIVERY_MAX_CREDIT) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "credit must be 1..%d", DELIVERY_MAX_CREDIT);
    return 0;
  }
  uint64_t acked = 0, head = 0;
  if (store_mailbox_state(b->store, r->who->id, &acked, &head) != 0)
    return -1;
  session_t *s = s_find(b, r->who->id);
  if (s && !s_same_rid(s, r->rid, r->rid_len)) {
    /* The older connection is told before the new subscription starts
     * (its frame precedes this reply in the outbox). */
    log_msg(LOG_INFO, "delivery",
            "%s subscribed on another connection; its older subscription "
            "ends (SUBSCRIPTION_DISPLACED)",
            r->who->id);
    s_send_ended(b, s, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED,
                 "a newer subscription of this participant on another "
                 "connection took over; nothing more is delivered here");
  }
  if (!s) {
    if (b->n_sessions == b->cap_sessions) {
      size_t cap = b->cap_sessions ? 2 * b->cap_sessions : 16;
      session_t *grown = realloc(b->sessions, cap * sizeof *grown);
      if (!grown)
        return -1;
      b->sessions = grown;
      b->cap_sessions = cap;
    }
    s = &b->sessions[b->n_sessions++];
  }
  /* A new subscription replaces an older one of the same participant:
   * the newest connection is the one that is alive. */
  memset(s, 0, sizeof *s);
  snprintf(s->participant, sizeof s->participant, "%s", r->who->id);
  memcpy(s->transport_pk, r->who->transport_pk, PARTICIPANT_KEY_BYTES);
  memcpy(s->rid, r->rid, r->rid_len);
  s->rid_len = r->rid_len;
  s->credit = credit;
  s->acked = s->sent = s->sent_max = acked;
  s->last_progress_ms = clock_mono_ms();
  s->wake = 1;
  log_msg(LOG_INFO, "delivery",
          "%s subscribed (credit %u): acked %llu, head %llu", r->who->id,
          credit, (unsigned long long)acked, (unsigned long long)head);
  Keten__Subscribed reply = KETEN__SUBSCRIBED__INIT;
  reply.acked_seq = acked;
  reply.head_seq = head;
  request_reply(r, KETEN__ENVELOPE__BODY_SUBSCRIBED, &reply);
  return 0;
}

int handle_ack(request_t *r) {
  broker_t *b = r->b;
  const Keten__Ack *a = r->req->ack;
  session_t *s = s_find(b, r->who->id);
  if (!s || s->rid_len != r->rid_len || memcmp(s->rid, r->rid, r->rid_len)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "no subscription on this connection to acknowledge");
    return 0;
  }
  /* After an ack timeout the session rewinds (sent = acked) while the
   * client's ack of what it did receive may still be on its way: accept
   * any seq this session has ever sent. */
  if (a->seq > s->sent_max) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "ack of seq %llu beyond the last delivered %llu",
                        (unsigned long long)a->seq,
                        (unsigned long long)s->sent_max);
    return 0;
  }
  if (a->credit > DELIVERY_MAX_CREDIT) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "credit must be at most %d", DELIVERY_MAX_CREDIT);
    return 0;
  }
  if (a->credit)
    s->credit = a->credit;
  s->wake = 1;
  if (a->seq <= s->acked)
    return 0; /* a duplicate ack changes nothing */
  if (store_mailbox_ack(b->store, r->who->id, a->seq) != 0)
    return -1;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.delivery.ack", AUDIT_STATUS_OK);
  snprintf(e.detail, sizeof e.detail, "acknowledged seq %llu..%llu",
           (unsigned long long)s->acked + 1, (unsigned long long)a->seq);
  if (request_audit(b, &e) != 0)
    return -1;
  s->acked = a->seq;
  s_frames_acked(s, a->seq);
  if (s->sent < s->acked) {
    s->sent = s->acked; /* a late ack after a rewind: do not resend it */
    s_frames_clear(s);
  }
  s->last_progress_ms = clock_mono_ms();
  s->timeouts = 0;
  s->handed_bytes = 0;
  s->held = 0;
  return 0;
}

typedef struct {
  broker_t *b;
  session_t *s;
  const participant_t *reader;  /* the session's participant's entry now */
  int64_t now_ms;
  Keten__Delivery **items;
  size_t n, bytes;
  uint64_t last_seq;            /* the last entry consumed */
  int resend;                   /* the entry at hand was handed over before */
  int failed;
  int full;                     /* the entry at hand does not fit the window */
} s_pump_t;

/* Whether an item of bytes fits the subscription's byte window besides
 * what is in flight and in this frame; if not, the frame closes before it. */
static int s_fits(s_pump_t *p, size_t bytes) {
  if (delivery_fits(p->s->unacked_bytes, p->bytes, bytes,
                    (uint64_t)p->b->cfg.delivery_window_bytes))
    return 1;
  p->full = 1;
  return 0;
}

/* Audits a delivery the first time its entry is handed to a connection;
 * a resend of an unacked window (ack timeout, reconnect) is the same
 * delivery and is not audited again. */
static int s_audit_sent(s_pump_t *p, audit_entry_t *e) {
  return p->resend ? 0 : request_audit(p->b, e);
}

/* Frees a delivery item made by s_pump_one(). */
static void s_item_free(Keten__Delivery *item) {
  handle_section_copy_free(item->section);
  if (item->notice)
    keten__notice__free_unpacked(item->notice, NULL);
  if (item->tvs_event)
    keten__tvs_event_copy__free_unpacked(item->tvs_event, NULL);
  rewrap_item_free(item->rewrap);
  free(item);
}

/* Audits and drops an entry that can never be delivered (acks are
 * cumulative; a gap is fine), so it is neither resent nor audited again. */
static int s_drop(s_pump_t *p, audit_entry_t *e, uint64_t seq,
                  const char *why) {
  e->status = AUDIT_STATUS_ERROR;
  snprintf(e->detail, sizeof e->detail, "not delivered, dropped: %s", why);
  return store_mailbox_drop(p->b->store, p->s->participant, seq) != 0 ||
                 request_audit(p->b, e) != 0
             ? -1
             : 0;
}

/* The delivery item of a section, or NULL when it is not to be delivered
 * (dropped and audited; *failed on a store failure). */
static Keten__Delivery *s_section_item(s_pump_t *p, const store_section_t *sec,
                                       uint64_t seq, int *failed) {
  /* Consents of this author for this reader: a handful at most. */
  consent_t *list = NULL;
  size_t n = 0;
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(p->b, sec->subject, linked, NULL) < 0 ||
      link_consents_for(p->b, sec->subject, sec->author, p->s->participant,
                        linked, &list, &n) != 0) {
    *failed = 1;
    return NULL;
  }
  consent_query_t q = {.participant = p->s->participant,
                       .role = p->reader ? p->reader->role : 0,
                       .subject = sec->subject,
                       .kind = sec->kind,
                       .author = sec->author,
                       .now_ms = p->now_ms,
                       .linked_gemeente = linked[0] ? linked : NULL};
  consent_decision_t d = consent_allows(list, n, &q);
  const participant_t *author = handle_section_author(p->b, sec);
  audit_entry_t e;
  request_audit_init(&e, NULL, "keten.section.deliver", AUDIT_STATUS_OK);
  snprintf(e.actor, sizeof e.actor, "%s", sec->author);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", p->s->participant);
  memcpy(e.subject, sec->subject, 32);
  e.kind = sec->kind;
  if (d.consent) {
    memcpy(e.consent_id, d.consent->consent_id, CONSENT_ID_BYTES);
    e.purpose = d.consent->purpose;
  }
  free(list);
  if (d.verdict == CONSENT_DENIED || !sec->wrap || !author) {
    /* Consent ended after queueing (its purge is on the way), or the
     * author left the registry. */
    if (s_drop(p, &e, seq,
               d.verdict == CONSENT_DENIED ? d.reason
               : !author                  ? "the author's entry is gone"
                                          : "no key wrap") != 0)
      *failed = 1;
    return NULL;
  }
  if (!s_fits(p, sec->ciphertext_len))
    return NULL;
  snprintf(e.detail, sizeof e.detail, "delivered seq %llu, version %llu",
           (unsigned long long)seq, (unsigned long long)sec->version);
  Keten__SectionCopy *copy =
      handle_section_copy(sec, p->s->participant, author);
  Keten__Delivery *item = calloc(1, sizeof *item);
  if (!copy || !item || s_audit_sent(p, &e) != 0) {
    handle_section_copy_free(copy);
    free(item);
    *failed = 1;
    return NULL;
  }
  keten__delivery__init(item);
  item->seq = seq;
  item->section = copy;
  p->bytes += sec->ciphertext_len;
  return item;
}

/* The delivery item of a TVS event or a rewrap request, or NULL (dropped,
 * or *failed). */
static Keten__Delivery *s_payload_item(s_pump_t *p, const store_notice_t *n,
                                       uint64_t seq, int *failed) {
  int tvs = n->kind == STORE_ITEM_TVS_EVENT;
  audit_entry_t e;
  request_audit_init(&e, NULL,
                     tvs ? "keten.tvs.deliver" : "keten.rewrap.deliver",
                     AUDIT_STATUS_OK);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", p->s->participant);
  memcpy(e.subject, n->subject, 32);
  Keten__Delivery *item = calloc(1, sizeof *item);
  if (!item) {
    *failed = 1;
    return NULL;
  }
  keten__delivery__init(item);
  item->seq = seq;
  int drop = 0;
  const char *why = "the stored TVS event is unreadable";
  if (tvs) {
    item->tvs_event =
        keten__tvs_event_copy__unpack(NULL, n->payload_len, n->payload);
    drop = !item->tvs_event;
  } else {
    item->rewrap = rewrap_item(p->b, p->s->participant, n->payload,
                               n->payload_len, &drop, &why, failed);
    if (item->rewrap && item->rewrap->section &&
        item->rewrap->section->section &&
        item->rewrap->section->section->header)
      e.kind = (int)item->rewrap->section->section->header->kind;
  }
  if (*failed || drop) {
    free(item);
    if (drop && s_drop(p, &e, seq, why) != 0)
      *failed = 1;
    return NULL;
  }
  size_t bytes = n->payload_len;
  if (item->rewrap && item->rewrap->section && item->rewrap->section->section)
    bytes += item->rewrap->section->section->ciphertext.len;
  if (!s_fits(p, bytes)) {
    s_item_free(item);
    return NULL;
  }
  snprintf(e.detail, sizeof e.detail, "delivered seq %llu",
           (unsigned long long)seq);
  if (s_audit_sent(p, &e) != 0) {
    s_item_free(item);
    *failed = 1;
    return NULL;
  }
  p->bytes += bytes;
  return item;
}

/* The delivery item of a notice, or NULL (dropped, or *failed). */
static Keten__Delivery *s_notice_item(s_pump_t *p, const store_notice_t *n,
                                      uint64_t seq, int *failed) {
  if (n->kind == STORE_ITEM_TVS_EVENT || n->kind == STORE_ITEM_REWRAP)
    return s_payload_item(p, n, seq, failed);
  audit_entry_t e;
  request_audit_init(&e, NULL, "keten.notice.deliver", AUDIT_STATUS_OK);
  snprintf(e.counterparty, sizeof e.counterparty, "%s", p->s->participant);
  memcpy(e.subject, n->subject, 32);
  Keten__Notice *notice = keten__notice__unpack(NULL, n->payload_len,
                                                n->payload);
  if (!notice) {
    /* The broker wrote it; if it cannot read it back, nobody can. */
    if (s_drop(p, &e, seq, "the stored notice is unreadable") != 0)
      *failed = 1;
    return NULL;
  }
  if (!s_fits(p, n->payload_len)) {
    keten__notice__free_unpacked(notice, NULL);
    return NULL;
  }
  Keten__Delivery *item = calloc(1, sizeof *item);
  if (!item) {
    keten__notice__free_unpacked(notice, NULL);
    *failed = 1;
    return NULL;
  }
  if (notice->consent_id.len == CONSENT_ID_BYTES)
    memcpy(e.consent_id, notice->consent_id.data, CONSENT_ID_BYTES);
  snprintf(e.detail, sizeof e.detail, "delivered seq %llu",
           (unsigned long long)seq);
  if (s_audit_sent(p, &e) != 0) {
    keten__notice__free_unpacked(notice, NULL);
    free(item);
    *failed = 1;
    return NULL;
  }
  keten__delivery__init(item);
  item->seq = seq;
  item->notice = notice;
  p->bytes += n->payload_len;
  return item;
}

static int s_pump_one(const store_mailbox_item_t *it, void *arg) {
  s_pump_t *p = arg;
  p->resend = it->sent_before;
  int failed = 0;
  Keten__Delivery *item = NULL;
  if (it->section) {
    item = s_section_item(p, it->section, it->seq, &failed);
  } else if (it->notice) {
    item = s_notice_item(p, it->notice, it->seq, &failed);
  } else {
    audit_entry_t e;
    request_audit_init(&e, NULL, "keten.section.deliver", AUDIT_STATUS_ERROR);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", p->s->participant);
    failed = s_drop(p, &e, it->seq, "the entry holds nothing") != 0;
  }
  if (failed) {
    p->failed = 1;
    return 1;
  }
  if (p->full)
    return 1; /* not consumed: it waits for room in the window */
  p->last_seq = it->seq;
  if (item)
    p->items[p->n++] = item;
  return p->bytes >= DELIVERY_FRAME_BUDGET ? 1 : 0;
}

/* Sends the next frame of deliveries to s. Returns the number of
 * mailbox entries consumed (0 when none waits), -1 on failure. */
static int s_pump_session(broker_t *b, session_t *s) {
  uint64_t inflight = s->sent - s->acked;
  if (inflight >= s->credit || s->n_frames == DELIVERY_MAX_CREDIT ||
      (s->unacked_bytes &&
       s->unacked_bytes >= (uint64_t)b->cfg.delivery_window_bytes))
    return 0;
  size_t room = (size_t)(s->credit - inflight);
  if (room > DELIVERY_MAX_PER_FRAME)
    room = DELIVERY_MAX_PER_FRAME;
  Keten__Delivery *items[DELIVERY_MAX_PER_FRAME];
  int64_t now = clock_wall_ms();
  s_pump_t p = {.b = b, .s = s, .items = items, .now_ms = now,
                .reader = registry_find_id(b->registry, s->participant, now)};
  int rc = store_mailbox_read(b->store, s->participant, s->sent, room,
                              s_pump_one, &p);
  int consumed = -1;
  if (rc == 0 && !p.failed) {
    consumed = p.last_seq > s->sent ? (int)(p.last_seq - s->sent) : 0;
    if (p.n) {
      Keten__Envelope env;
      envelope_ids_t ids;
      Keten__Deliver deliver = KETEN__DELIVER__INIT;
      envelope_init(&env, &ids, NULL);
      deliver.items = items;
      deliver.n_items = p.n;
      env.body_case = KETEN__ENVELOPE__BODY_DELIVER;
      env.deliver = &deliver;
      outbox_item_t *o = outbox_push(b, s->rid, s->rid_len, &env);
      if (!o || store_mailbox_mark_sent(b->store, s->participant, s->sent,
                                        p.last_seq, now) != 0) {
        consumed = -1;
      } else {
        snprintf(o->participant, sizeof o->participant, "%s", s->participant);
        o->first_seq = s->sent + 1;
        o->last_seq = p.last_seq;
        o->bytes = p.bytes;
        s_frames_push(s, p.last_seq, p.bytes);
        b->deliveries += p.n;
      }
    }
    if (consumed > 0) {
      s->sent = p.last_seq;
      if (s->sent_max < s->sent)
        s->sent_max = s->sent;
      s->last_progress_ms = clock_mono_ms();
    }
  }
  for (size_t i = 0; i < p.n; i++)
    s_item_free(items[i]);
  return consumed;
}

/* Whether session s's ack timeout has come: entries are in flight (or a
 * frame was not taken) and neither a send nor an advancing ACK happened
 * for ack_timeout_ms. */
static int s_timed_out(const broker_t *b, const session_t *s,
                       int64_t mono_now) {
  return (s->sent > s->acked || s->held) &&
         mono_now - s->last_progress_ms >= b->cfg.ack_timeout_ms;
}

int delivery_due(const broker_t *b, int64_t mono_now) {
  for (size_t i = 0; i < b->n_unsent; i++)
    if (!b->unsent[i].written)
      return 1;
  for (size_t i = 0; i < b->n_sessions; i++) {
    const session_t *s = &b->sessions[i];
    if ((s->wake && !s->held) || s_timed_out(b, s, mono_now))
      return 1;
  }
  return 0;
}

/* An ack timeout of session i: resend, wait, or end it (stalled).
 * Returns 1 when the session ended, 0 when it goes on, -1 on failure. */
static int s_ack_timeout(broker_t *b, size_t i, int64_t mono_now) {
  session_t *s = &b->sessions[i];
  uint64_t window = (uint64_t)b->cfg.delivery_window_bytes;
  s->timeouts++;
  switch (delivery_on_timeout(
      s->timeouts, b->cfg.stall_timeouts,
      delivery_may_resend(s->handed_bytes, s->unacked_bytes, window))) {
  case DELIVERY_TIMEOUT_STALL:
    return s_end_stalled(b, i) == 0 ? 1 : -1;
  case DELIVERY_TIMEOUT_RESEND:
    log_msg(LOG_INFO, "delivery",
            "%s did not ack seq %llu..%llu in time; resending",
            s->participant, (unsigned long long)s->acked + 1,
            (unsigned long long)s->sent);
    s_rewind(s);
    break;
  case DELIVERY_TIMEOUT_WAIT:
    log_msg(LOG_INFO, "delivery",
            "%s did not ack seq %llu..%llu in time; not resending: %llu "
            "bytes handed to its connection since its last ack",
            s->participant, (unsigned long long)s->acked + 1,
            (unsigned long long)s->sent,
            (unsigned long long)s->handed_bytes);
    break;
  }
  s->held = 0;
  s->last_progress_ms = mono_now;
  s->wake = 1;
  return 0;
}

int delivery_pump(broker_t *b, int64_t mono_now) {
  int64_t wall = clock_wall_ms();
  /* First the withdrawals, so that a resend in this batch is audited. */
  if (s_write_unsent(b) != 0)
    return -1;
  for (size_t i = 0; i < b->n_sessions; i++) {
    session_t *s = &b->sessions[i];
    if (!registry_find_transport(b->registry, s->transport_pk, wall)) {
      /* The key it subscribed with was removed or its entry ended (a
       * rotation): nothing more goes out on this connection, and the
       * mailbox waits untouched for a connection with a valid key. */
      s_end_removed(b, i--);
      continue;
    }
    if (s_timed_out(b, s, mono_now)) {
      int ended = s_ack_timeout(b, i, mono_now);
      if (ended < 0)
        return -1;
      if (ended) {
        i--;
        continue;
      }
    }
    if (!s->wake || s->held)
      continue;
    s->wake = 0;
    /* Fill the window, a frame at a time. */
    int n;
    while ((n = s_pump_session(b, s)) > 0)
      ;
    if (n < 0)
      return -1;
  }
  return 0;
}
