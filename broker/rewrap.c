/* rewrap — rewrap requests to authors and their answers. */
#include "rewrap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "clock.h"
#include "link.h"
#include "recipient.h"
#include "request.h"

/* A latest section `to` holds no wrap of. */
typedef struct {
  int64_t id;
  int kind;
  uint64_t version;
  char author[PARTICIPANT_ID_MAX + 1];
} s_missing_t;

typedef struct {
  const char *to, *author;
  s_missing_t *items;
  size_t n, cap;
  int failed;
} s_scan_t;

static int s_scan_one(const store_section_t *sec, uint64_t seq, void *arg) {
  (void)seq;
  s_scan_t *s = arg;
  if (sec->wrap || strcmp(sec->author, s->to) == 0 ||
      (s->author && strcmp(sec->author, s->author) != 0))
    return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    s_missing_t *grown = realloc(s->items, cap * sizeof *grown);
    if (!grown) {
      s->failed = 1;
      return 1;
    }
    s->items = grown;
    s->cap = cap;
  }
  s_missing_t *m = &s->items[s->n++];
  m->id = sec->id;
  m->kind = sec->kind;
  m->version = sec->version;
  snprintf(m->author, sizeof m->author, "%s", sec->author);
  return 0;
}

/* Stores one request (with its evidence) and puts it in the author's
 * mailbox. Returns 1 if queued, 0 if one was pending already, -1. */
static int s_queue_one(broker_t *b, const request_t *r,
                       const uint8_t subject[32], const s_missing_t *m,
                       const recipient_evidence_t *ev, int64_t now) {
  store_rewrap_t row;
  memset(&row, 0, sizeof row);
  row.section_id = m->id;
  memcpy(row.subject, subject, 32);
  row.kind = m->kind;
  snprintf(row.author, sizeof row.author, "%s", m->author);
  snprintf(row.recipient, sizeof row.recipient, "%s", ev->to.id);
  row.created_at_ms = now;
  int64_t id = 0;
  int added = store_rewrap_add(b->store, &row, &id);
  if (added != 0)
    return added == 1 ? 0 : -1;
  Keten__RewrapRequest req = KETEN__REWRAP_REQUEST__INIT;
  req.request_id = (uint64_t)id;
  req.recipient = (Keten__Recipient *)&ev->msg;
  req.queued_at_ms = (uint64_t)now;
  size_t len = keten__rewrap_request__get_packed_size(&req);
  uint8_t *payload = malloc(len ? len : 1);
  if (!payload)
    return -1;
  keten__rewrap_request__pack(&req, payload);
  store_notice_t item = {.kind = STORE_ITEM_REWRAP, .payload = payload,
                         .payload_len = len, .created_at_ms = now};
  memcpy(item.subject, subject, 32);
  uint64_t seq = 0;
  int rc = store_notice_push(b->store, m->author, &item, &seq);
  free(payload);
  if (rc != 0 || store_rewrap_queued(b->store, id, seq) != 0)
    return -1;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.rewrap.queue", AUDIT_STATUS_OK);
  memcpy(e.subject, subject, 32);
  e.kind = m->kind;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", m->author);
  if (ev->n_consents && ev->consents[0]->consent_id.len == CONSENT_ID_BYTES) {
    memcpy(e.consent_id, ev->consents[0]->consent_id.data, CONSENT_ID_BYTES);
    e.purpose = (int)ev->consents[0]->purpose;
  }
  snprintf(e.detail, sizeof e.detail,
           "rewrap %lld of v%llu for %s asked of its author (seq %llu)",
           (long long)id, (unsigned long long)m->version, ev->to.id,
           (unsigned long long)seq);
  if (request_audit(b, &e) != 0)
    return -1;
  delivery_wake(b, m->author);
  return 1;
}

int rewrap_queue(broker_t *b, const request_t *r, const uint8_t subject[32],
                 const char *to, const char *author, size_t *queued) {
  int64_t now = r ? r->now_ms : clock_wall_ms();
  if (queued)
    *queued = 0;
  const participant_t *reader = registry_find_id(b->registry, to, now);
  if (!reader)
    return 0; /* nobody to seal to */
  char linked[PARTICIPANT_ID_MAX + 1];
  store_tvs_link_t link;
  if (link_gemeente(b, subject, linked, &link) < 0)
    return -1;
  s_scan_t scan = {.to = to, .author = author};
  if (store_sections_latest(b->store, subject, to, s_scan_one, &scan) != 0 ||
      scan.failed) {
    free(scan.items);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < scan.n && rc == 0; i++) {
    const s_missing_t *m = &scan.items[i];
    if (!registry_find_id(b->registry, m->author, now))
      continue; /* an author that left cannot answer */
    consent_t *list = NULL;
    size_t n = 0;
    if (link_consents_for(b, subject, m->author, to, linked, &list, &n) != 0) {
      rc = -1;
      break;
    }
    consent_query_t q = {.participant = to, .role = reader->role,
                         .subject = subject, .kind = m->kind,
                         .author = m->author, .now_ms = now,
                         .linked_gemeente = linked[0] ? linked : NULL};
    recipient_evidence_t ev;
    int got = recipient_evidence(b, &ev, reader, list, n, &q,
                                 linked[0] ? &link : NULL);
    free(list);
    if (got < 0) {
      rc = -1;
      break;
    }
    if (got == 0)
      continue;
    int one = s_queue_one(b, r, subject, m, &ev, now);
    recipient_evidence_free(&ev);
    if (one < 0)
      rc = -1;
    else if (one == 1 && queued)
      (*queued)++;
  }
  free(scan.items);
  return rc;
}

int rewrap_requeue(broker_t *b, const request_t *r, const uint8_t subject[32],
                   const char *to, const char *author, const char *why,
                   size_t *queued) {
  int64_t n = 0;
  int64_t now = r ? r->now_ms : clock_wall_ms();
  if (store_rewrap_cancel(b->store, subject, to, author, now, &n) != 0)
    return -1;
  if (n > 0) {
    audit_entry_t e;
    request_audit_init(&e, r, "keten.rewrap.cancel", AUDIT_STATUS_OK);
    memcpy(e.subject, subject, 32);
    snprintf(e.counterparty, sizeof e.counterparty, "%s", to);
    snprintf(e.detail, sizeof e.detail,
             "%lld pending rewrap request(s) of %s cancelled: %s",
             (long long)n, author ? author : "its authors", why);
    if (request_audit(b, &e) != 0)
      return -1;
  }
  return rewrap_queue(b, r, subject, to, author, queued);
}

/* ---- delivery to the author ---------------------------------------------------- */

typedef struct {
  broker_t *b;
  const char *author;
  Keten__SectionCopy *copy;
  int no_wrap, no_author;
} s_own_t;

static int s_own_copy(const store_section_t *sec, uint64_t seq, void *arg) {
  (void)seq;
  s_own_t *o = arg;
  const participant_t *author = handle_section_author(o->b, sec);
  if (!sec->wrap) {
    o->no_wrap = 1;
    return 0;
  }
  if (!author) {
    o->no_author = 1;
    return 0;
  }
  o->copy = handle_section_copy(sec, o->author, author);
  return 0;
}

Keten__RewrapRequest *rewrap_item(broker_t *b, const char *author,
                                  const uint8_t *payload, size_t len,
                                  int *drop, const char **why, int *failed) {
  *drop = 0;
  *failed = 0;
  Keten__RewrapRequest *req = keten__rewrap_request__unpack(NULL, len, payload);
  if (!req || !req->recipient) {
    if (req)
      keten__rewrap_request__free_unpacked(req, NULL);
    *drop = 1;
    *why = "the stored rewrap request is unreadable";
    return NULL;
  }
  store_rewrap_t row;
  int found = store_rewrap_get(b->store, (int64_t)req->request_id, &row);
  if (found < 0) {
    *failed = 1;
  } else if (!found || row.state != STORE_REWRAP_PENDING ||
             strcmp(row.author, author) != 0) {
    *drop = 1;
    *why = "the rewrap request was cancelled or answered";
  } else {
    s_own_t o = {.b = b, .author = author};
    int got = store_section_by_id(b->store, row.section_id, author, s_own_copy,
                                  &o);
    if (got < 0 || (got == 1 && !o.copy && !o.no_wrap && !o.no_author)) {
      *failed = 1;
    } else if (!o.copy) {
      *drop = 1;
      *why = got == 0      ? "the section is gone"
             : o.no_wrap   ? "the author holds no wrap of the section"
                           : "the author's entry is gone";
    } else {
      req->section = o.copy;
      return req;
    }
  }
  keten__rewrap_request__free_unpacked(req, NULL);
  return NULL;
}

void rewrap_item_free(Keten__RewrapRequest *req) {
  if (!req)
    return;
  handle_section_copy_free(req->section);
  req->section = NULL; /* not protobuf-c's to free */
  keten__rewrap_request__free_unpacked(req, NULL);
}

/* ---- the author's answer ----------------------------------------------------------- */

static int s_audit_answer(request_t *r, const store_rewrap_t *row, int status,
                          const consent_decision_t *d, const char *detail) {
  audit_entry_t e;
  request_audit_init(&e, r, status == AUDIT_STATUS_OK ? "keten.rewrap.stored"
                                                      : "keten.rewrap.refused",
                     status);
  memcpy(e.subject, row->subject, 32);
  e.kind = row->kind;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", row->recipient);
  if (d && d->consent) {
    memcpy(e.consent_id, d->consent->consent_id, CONSENT_ID_BYTES);
    e.purpose = d->consent->purpose;
  }
  snprintf(e.detail, sizeof e.detail, "%s", detail);
  return request_audit(r->b, &e);
}

static int s_version_of(const store_section_t *sec, uint64_t seq, void *arg) {
  (void)seq;
  *(uint64_t *)arg = sec->version;
  return 0;
}

/* Keeps printable ASCII of an author's refusal text (it goes into the
 * audit log, which holds no personal data: authors write reasons). */
static void s_clean(char *out, size_t cap, const char *in) {
  size_t j = 0;
  for (size_t i = 0; in[i] && j + 1 < cap; i++)
    out[j++] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
  out[j] = '\0';
}

int handle_rewrap_answer(request_t *r) {
  broker_t *b = r->b;
  const Keten__RewrapAnswer *a = r->req->rewrap_answer;
  int has_wrap = a->wrap.len > 0, has_refusal = a->refusal[0] != '\0';
  if (has_wrap == has_refusal || (has_wrap && a->wrap.len != CANON_WRAP_BYTES) ||
      strlen(a->refusal) > CANON_MAX_TEXT || !canon_exact(&a->base)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "a rewrap answer carries exactly one of an %d-byte "
                        "wrap and a refusal of 1..%d bytes",
                        CANON_WRAP_BYTES, CANON_MAX_TEXT);
    return 0;
  }
  store_rewrap_t row;
  int found = a->request_id > (uint64_t)INT64_MAX
                  ? 0
                  : store_rewrap_get(b->store, (int64_t)a->request_id, &row);
  if (found < 0)
    return -1;
  /* Someone else's request looks exactly like none at all. */
  if (!found || strcmp(row.author, r->who->id) != 0 ||
      row.state != STORE_REWRAP_PENDING) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                        "no pending rewrap request %llu of yours",
                        (unsigned long long)a->request_id);
    return 0;
  }
  Keten__Ok ok = KETEN__OK__INIT;
  if (has_refusal) {
    char clean[CANON_MAX_TEXT + 1], detail[128];
    s_clean(clean, sizeof clean, a->refusal);
    snprintf(detail, sizeof detail, "refused by the author: %s", clean);
    if (store_rewrap_finish(b->store, row.id, STORE_REWRAP_REFUSED,
                            r->now_ms) != 0 ||
        s_audit_answer(r, &row, AUDIT_STATUS_ERROR, NULL, detail) != 0)
      return -1;
    ok.detail = "refusal recorded";
    request_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
    return 0;
  }
  /* Allowed when it was asked is not enough: allowed now. */
  const participant_t *to = registry_find_id(b->registry, row.recipient,
                                             r->now_ms);
  char linked[PARTICIPANT_ID_MAX + 1];
  consent_t *list = NULL;
  size_t n = 0;
  if (link_gemeente(b, row.subject, linked, NULL) < 0 ||
      link_consents_for(b, row.subject, row.author, row.recipient, linked,
                        &list, &n) != 0)
    return -1;
  consent_query_t q = {.participant = row.recipient,
                       .role = to ? to->role : 0,
                       .subject = row.subject,
                       .kind = row.kind,
                       .author = row.author,
                       .now_ms = r->now_ms,
                       .linked_gemeente = linked[0] ? linked : NULL};
  consent_decision_t d = consent_allows(list, n, &q);
  int rc = 0;
  if (!to || d.verdict != CONSENT_ALLOWED) {
    char detail[128];
    snprintf(detail, sizeof detail, "wrap not stored: %s",
             to ? d.reason : "the recipient is no longer registered");
    if (store_rewrap_finish(b->store, row.id, STORE_REWRAP_DENIED,
                            r->now_ms) != 0 ||
        s_audit_answer(r, &row, AUDIT_STATUS_ERROR, &d, detail) != 0)
      rc = -1;
    else
      request_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                          "%s may no longer read this section: %s",
                          row.recipient, detail + 17);
    free(list);
    return rc;
  }
  consent_t allowed = *d.consent; /* d points into list, freed below */
  d.consent = &allowed;
  /* A newer version stored meanwhile went to the recipient itself (or is
   * asked for now): an older one delivered after it would go backwards. */
  uint64_t version = 0, latest = 0;
  if (store_section_by_id(b->store, row.section_id, row.recipient,
                          s_version_of, &version) < 0 ||
      store_section_latest_version(b->store, row.subject, row.kind,
                                   row.author, &latest) != 0) {
    free(list);
    return -1;
  }
  free(list);
  if (version < latest) {
    char detail[128];
    snprintf(detail, sizeof detail,
             "wrap not stored: v%llu was superseded by v%llu",
             (unsigned long long)version, (unsigned long long)latest);
    if (store_rewrap_finish(b->store, row.id, STORE_REWRAP_CANCELLED,
                            r->now_ms) != 0 ||
        s_audit_answer(r, &row, AUDIT_STATUS_ERROR, &d, detail) != 0 ||
        rewrap_queue(b, r, row.subject, row.recipient, row.author, NULL) != 0)
      return -1;
    ok.detail = "superseded by a newer version; not stored";
    request_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
    return 0;
  }
  uint64_t seq = 0;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.section.queue", AUDIT_STATUS_OK);
  memcpy(e.subject, row.subject, 32);
  e.kind = row.kind;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", row.recipient);
  memcpy(e.consent_id, d.consent->consent_id, CONSENT_ID_BYTES);
  e.purpose = d.consent->purpose;
  snprintf(e.detail, sizeof e.detail, "queued for delivery after a rewrap");
  if (store_wrap_put(b->store, row.section_id, row.recipient, a->wrap.data,
                     a->wrap.len) != 0 ||
      store_mailbox_push(b->store, row.recipient, row.section_id, &seq) != 0 ||
      store_rewrap_finish(b->store, row.id, STORE_REWRAP_DONE, r->now_ms) != 0 ||
      s_audit_answer(r, &row, AUDIT_STATUS_OK, &d, "wrap stored") != 0 ||
      request_audit(b, &e) != 0)
    return -1;
  delivery_wake(b, row.recipient);
  ok.detail = "wrap stored and queued";
  request_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
  return 0;
}
