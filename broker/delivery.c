/* delivery — durable mailboxes pushed to subscribed clients.
 *
 * Each recipient has a mailbox (in the store) with a monotonic seq. A
 * client SUBSCRIBEs with a credit window; the broker pushes DELIVER frames
 * (several entries each) while fewer than `credit` are unacked; the client
 * ACKs cumulatively. After ack_timeout_ms without progress, or on a new
 * SUBSCRIBE (reconnect), delivery resumes after the last acked seq.
 * Sending never blocks: a slow client only fills its own window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "consent.h"
#include "link.h"
#include "log.h"
#include "rewrap.h"

#define DELIVERY_MAX_CREDIT 1024
#define DELIVERY_MAX_PER_FRAME 64
#define DELIVERY_FRAME_BUDGET (512 * 1024)

static session_t *s_find(broker_t *b, const char *participant) {
  for (size_t i = 0; i < b->n_sessions; i++)
    if (strcmp(b->sessions[i].participant, participant) == 0)
      return &b->sessions[i];
  return NULL;
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
    b->sessions[i].sent = b->sessions[i].acked;
    b->sessions[i].wake = 1;
  }
}

int handle_subscribe(request_t *r) {
  broker_t *b = r->b;
  uint32_t credit = r->req->subscribe->credit;
  if (credit < 1 || credit > DELIVERY_MAX_CREDIT) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                       "credit must be 1..%d", DELIVERY_MAX_CREDIT);
    return 0;
  }
  uint64_t acked = 0, head = 0;
  if (store_mailbox_state(b->store, r->who->id, &acked, &head) != 0)
    return -1;
  session_t *s = s_find(b, r->who->id);
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
  s->last_progress_ms = broker_mono_ms();
  s->wake = 1;
  log_msg(LOG_INFO, "delivery",
          "%s subscribed (credit %u): acked %llu, head %llu", r->who->id,
          credit, (unsigned long long)acked, (unsigned long long)head);
  Keten__Subscribed reply = KETEN__SUBSCRIBED__INIT;
  reply.acked_seq = acked;
  reply.head_seq = head;
  broker_reply(r, KETEN__ENVELOPE__BODY_SUBSCRIBED, &reply);
  return 0;
}

int handle_ack(request_t *r) {
  broker_t *b = r->b;
  const Keten__Ack *a = r->req->ack;
  session_t *s = s_find(b, r->who->id);
  if (!s || s->rid_len != r->rid_len || memcmp(s->rid, r->rid, r->rid_len)) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                       "no subscription on this connection to acknowledge");
    return 0;
  }
  /* After an ack timeout the session rewinds (sent = acked) while the
   * client's ack of what it did receive may still be on its way: accept
   * any seq this session has ever sent. */
  if (a->seq > s->sent_max) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                       "ack of seq %llu beyond the last delivered %llu",
                       (unsigned long long)a->seq,
                       (unsigned long long)s->sent_max);
    return 0;
  }
  if (a->credit > DELIVERY_MAX_CREDIT) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
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
  broker_audit_init(&e, r, "keten.delivery.ack", AUDIT_STATUS_OK);
  snprintf(e.detail, sizeof e.detail, "acknowledged seq %llu..%llu",
           (unsigned long long)s->acked + 1, (unsigned long long)a->seq);
  if (broker_audit(b, &e) != 0)
    return -1;
  s->acked = a->seq;
  if (s->sent < s->acked)
    s->sent = s->acked; /* a late ack after a rewind: do not resend it */
  s->last_progress_ms = broker_mono_ms();
  return 0;
}

typedef struct {
  broker_t *b;
  session_t *s;
  const participant_t *reader;  /* the session's participant's entry now */
  int64_t now_ms;
  Keten__Delivery **items;
  size_t n, bytes;
  uint64_t last_seq;
  int resend;                   /* the entry at hand was handed over before */
  int failed;
} s_pump_t;

/* Audits a delivery the first time its entry is handed to a connection;
 * a resend of an unacked window (ack timeout, reconnect) is the same
 * delivery and is not audited again. */
static int s_audit_sent(s_pump_t *p, audit_entry_t *e) {
  return p->resend ? 0 : broker_audit(p->b, e);
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
                 broker_audit(p->b, e) != 0
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
  broker_audit_init(&e, NULL, "keten.section.deliver", AUDIT_STATUS_OK);
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
  snprintf(e.detail, sizeof e.detail, "delivered seq %llu",
           (unsigned long long)seq);
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
  broker_audit_init(&e, NULL, tvs ? "keten.tvs.deliver" : "keten.rewrap.deliver",
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
  snprintf(e.detail, sizeof e.detail, "delivered seq %llu",
           (unsigned long long)seq);
  if (s_audit_sent(p, &e) != 0) {
    s_item_free(item);
    *failed = 1;
    return NULL;
  }
  p->bytes += n->payload_len;
  if (item->rewrap && item->rewrap->section && item->rewrap->section->section)
    p->bytes += item->rewrap->section->section->ciphertext.len;
  return item;
}

/* The delivery item of a notice, or NULL (dropped, or *failed). */
static Keten__Delivery *s_notice_item(s_pump_t *p, const store_notice_t *n,
                                      uint64_t seq, int *failed) {
  if (n->kind == STORE_ITEM_TVS_EVENT || n->kind == STORE_ITEM_REWRAP)
    return s_payload_item(p, n, seq, failed);
  audit_entry_t e;
  broker_audit_init(&e, NULL, "keten.notice.deliver", AUDIT_STATUS_OK);
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
  p->last_seq = it->seq;
  p->resend = it->sent_before;
  int failed = 0;
  Keten__Delivery *item = NULL;
  if (it->section) {
    item = s_section_item(p, it->section, it->seq, &failed);
  } else if (it->notice) {
    item = s_notice_item(p, it->notice, it->seq, &failed);
  } else {
    audit_entry_t e;
    broker_audit_init(&e, NULL, "keten.section.deliver", AUDIT_STATUS_ERROR);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", p->s->participant);
    failed = s_drop(p, &e, it->seq, "the entry holds nothing") != 0;
  }
  if (failed) {
    p->failed = 1;
    return 1;
  }
  if (item)
    p->items[p->n++] = item;
  return p->bytes >= DELIVERY_FRAME_BUDGET ? 1 : 0;
}

/* Sends the next frame of deliveries to s. Returns the number of
 * mailbox entries consumed (0 when none waits), -1 on failure. */
static int s_pump_session(broker_t *b, session_t *s) {
  uint64_t inflight = s->sent - s->acked;
  if (inflight >= s->credit)
    return 0;
  size_t room = (size_t)(s->credit - inflight);
  if (room > DELIVERY_MAX_PER_FRAME)
    room = DELIVERY_MAX_PER_FRAME;
  Keten__Delivery *items[DELIVERY_MAX_PER_FRAME];
  int64_t now = broker_wall_ms();
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
      if (broker_push(b, s->rid, s->rid_len, &env) != 0 ||
          store_mailbox_mark_sent(b->store, s->participant, s->sent,
                                  p.last_seq, now) != 0)
        consumed = -1;
      else
        b->deliveries += p.n;
    }
    if (consumed > 0) {
      s->sent = p.last_seq;
      if (s->sent_max < s->sent)
        s->sent_max = s->sent;
      s->last_progress_ms = broker_mono_ms();
    }
  }
  for (size_t i = 0; i < p.n; i++)
    s_item_free(items[i]);
  return consumed;
}

int delivery_due(const broker_t *b, int64_t mono_now) {
  for (size_t i = 0; i < b->n_sessions; i++) {
    const session_t *s = &b->sessions[i];
    if (s->wake || (s->sent > s->acked &&
                    mono_now - s->last_progress_ms >= b->cfg.ack_timeout_ms))
      return 1;
  }
  return 0;
}

int delivery_pump(broker_t *b, int64_t mono_now) {
  int64_t wall = broker_wall_ms();
  for (size_t i = 0; i < b->n_sessions; i++) {
    session_t *s = &b->sessions[i];
    if (!registry_find_transport(b->registry, s->transport_pk, wall)) {
      /* The key it subscribed with was removed or its entry ended (a
       * rotation): nothing more goes out on this connection, and the
       * mailbox waits untouched for a connection with a valid key. */
      log_msg(LOG_INFO, "delivery",
              "%s: the key of this subscription is no longer valid; the "
              "subscription ends, its mailbox waits",
              s->participant);
      b->sessions[i--] = b->sessions[--b->n_sessions];
      continue;
    }
    if (s->sent > s->acked &&
        mono_now - s->last_progress_ms >= b->cfg.ack_timeout_ms) {
      log_msg(LOG_INFO, "delivery",
              "%s did not ack seq %llu..%llu in time; resending",
              s->participant, (unsigned long long)s->acked + 1,
              (unsigned long long)s->sent);
      s->sent = s->acked;
      s->last_progress_ms = mono_now;
      s->wake = 1;
    }
    if (!s->wake)
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
