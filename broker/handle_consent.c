/* handle_consent — recording, revoking and listing signed consents, and
 * taking away the access a consent gave when it is revoked or expires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "canon.h"
#include "consent.h"
#include "log.h"

/* Checks a consent record's fields; replies and returns -1 if bad. */
static int s_check_consent(request_t *r, const Keten__Consent *k) {
  const char *why = NULL;
  if (!k)
    why = "consent is required";
  else if (k->consent_id.len != CANON_CONSENT_ID_BYTES)
    why = "consent_id must be 16 bytes";
  else if (k->subject.len != CANON_SUBJECT_BYTES)
    why = "subject must be 32 bytes";
  else if (!participant_valid_id(k->recorded_by) ||
           !participant_valid_id(k->recipient))
    why = "recorded_by and recipient must be participant ids";
  else if (k->n_sections == 0 || k->n_sections > 32 ||
           canon_section_bits(k->sections, k->n_sections) == 0)
    why = "sections must list 1 to 32 known section kinds";
  else if (!canon_purpose_name(k->purpose))
    why = "purpose is not a known purpose";
  else if (!canon_basis_name(k->basis))
    why = "basis is not a known basis";
  else if (k->basis == KETEN__BASIS__BASIS_LEGAL_DUTY && !k->legal_reference[0])
    why = "basis LEGAL_DUTY needs a legal_reference";
  else if (strlen(k->legal_reference) > CANON_MAX_TEXT ||
           strlen(k->evidence_ref) > CANON_MAX_TEXT)
    why = "legal_reference and evidence_ref are at most 256 bytes";
  else if (k->valid_until_ms <= k->valid_from_ms ||
           k->valid_until_ms > (uint64_t)INT64_MAX)
    why = "valid_until_ms must be after valid_from_ms";
  else if (k->signature.len != CANON_SIGNATURE_BYTES)
    why = "signature must be 64 bytes";
  if (!why)
    return 0;
  broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
  return -1;
}

static void s_from_wire(const Keten__Consent *k, consent_t *c) {
  memset(c, 0, sizeof *c);
  memcpy(c->consent_id, k->consent_id.data, CONSENT_ID_BYTES);
  memcpy(c->subject, k->subject.data, CONSENT_SUBJECT_BYTES);
  snprintf(c->recorded_by, sizeof c->recorded_by, "%s", k->recorded_by);
  snprintf(c->recipient, sizeof c->recipient, "%s", k->recipient);
  c->sections = canon_section_bits(k->sections, k->n_sections);
  c->purpose = (int)k->purpose;
  c->basis = (int)k->basis;
  c->valid_from_ms = (int64_t)k->valid_from_ms;
  c->valid_until_ms = (int64_t)k->valid_until_ms;
}

static int s_audit_consent(broker_t *b, const request_t *r, const char *name,
                           int status, const consent_t *c, const char *detail) {
  audit_entry_t e;
  broker_audit_init(&e, r, name, status);
  memcpy(e.subject, c->subject, CONSENT_SUBJECT_BYTES);
  memcpy(e.consent_id, c->consent_id, CONSENT_ID_BYTES);
  e.purpose = c->purpose;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", c->recipient);
  snprintf(e.detail, sizeof e.detail, "%s", detail);
  return broker_audit(b, &e);
}

/* Refuses a record whose recorder is not the sender (audited). */
static int s_refuse_not_recorder(request_t *r, const consent_t *c,
                                 const char *name, const char *recorder) {
  if (s_audit_consent(r->b, r, name, AUDIT_STATUS_ERROR, c,
                      "refused: the sender is not the recorder"))
    return -1;
  broker_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_AUTHOR,
                     "you are %s; the record names %s as recorder", r->who->id,
                     recorder);
  return 0;
}

/* Refuses (and audits) a message id seen before. Returns 1 if it was a
 * replay, 0 if new, -1 on error. */
static int s_replayed(request_t *r, const char *name, const consent_t *c) {
  int seen = store_message_seen(r->b->store, r->who->id,
                                r->req->message_id.data, r->now_ms);
  if (seen > 0) {
    if (s_audit_consent(r->b, r, name, AUDIT_STATUS_ERROR, c,
                        "refused: replayed message_id"))
      return -1;
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_REPLAYED,
                       "this message_id was already processed");
  }
  return seen;
}

int handle_consent_grant(request_t *r) {
  const Keten__Consent *k = r->req->consent_grant->consent;
  if (s_check_consent(r, k) != 0)
    return 0;
  consent_t c;
  s_from_wire(k, &c);
  if (strcmp(k->recorded_by, r->who->id) != 0)
    return s_refuse_not_recorder(r, &c, "keten.consent.grant", k->recorded_by);
  int seen = s_replayed(r, "keten.consent.grant", &c);
  if (seen != 0)
    return seen < 0 ? -1 : 0;
  if (canon_verify_consent(k, r->who->signing_pk) != 0) {
    if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_ERROR, &c,
                        "refused: signature does not verify"))
      return -1;
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                       "the consent's signature does not verify against "
                       "your registered signing key");
    return 0;
  }
  if (strcmp(k->recipient, r->who->id) == 0) {
    if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_ERROR, &c,
                        "refused: a participant cannot grant itself consent"))
      return -1;
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                       "a participant cannot record consent for itself");
    return 0;
  }
  if (!registry_find_id(r->b->registry, k->recipient)) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                       "recipient %s is not a registered participant",
                       k->recipient);
    return 0;
  }
  size_t len = keten__consent__get_packed_size(k);
  uint8_t *record = malloc(len ? len : 1);
  if (!record)
    return -1;
  keten__consent__pack(k, record);
  int put = store_consent_put(r->b->store, &c, record, len);
  free(record);
  if (put < 0)
    return -1;
  if (put == 1) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
                       "a consent with this consent_id exists");
    return 0;
  }
  if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_OK, &c,
                      "consent recorded"))
    return -1;
  Keten__Ok ok = KETEN__OK__INIT;
  ok.detail = "consent recorded";
  broker_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
  return 0;
}

int consent_purge_access(broker_t *b, const request_t *r, const consent_t *c,
                         int64_t now_ms) {
  consent_t *list = NULL;
  size_t n = 0;
  if (store_consents_of_subject(b->store, c->subject, &list, &n) != 0)
    return -1;
  int64_t wraps = 0, pending = 0;
  int rc = 0;
  for (int kind = 1; kind < 64 && rc == 0; kind++) {
    if (!(c->sections & (UINT64_C(1) << kind)))
      continue;
    /* author NULL: ask whether any consent still covers this kind */
    consent_decision_t d =
        consent_allows(list, n, c->recipient, c->subject, kind, NULL, now_ms);
    if (d.verdict != CONSENT_DENIED)
      continue;
    int64_t w = 0, p = 0;
    rc = store_revoke_access(b->store, c->recipient, c->subject, kind, &w, &p);
    wraps += w;
    pending += p;
  }
  free(list);
  if (rc != 0)
    return -1;
  char detail[128];
  snprintf(detail, sizeof detail,
           "access removed: %lld key wraps erased, %lld pending deliveries "
           "dropped",
           (long long)wraps, (long long)pending);
  return s_audit_consent(b, r, "keten.access.erase", AUDIT_STATUS_OK, c,
                         detail);
}

int handle_consent_revoke(request_t *r) {
  const Keten__Revocation *v = r->req->consent_revoke->revocation;
  const char *why = NULL;
  if (!v)
    why = "revocation is required";
  else if (v->consent_id.len != CANON_CONSENT_ID_BYTES ||
           v->subject.len != CANON_SUBJECT_BYTES)
    why = "consent_id must be 16 bytes and subject 32";
  else if (v->signature.len != CANON_SIGNATURE_BYTES)
    why = "signature must be 64 bytes";
  else if (strlen(v->reason) > CANON_MAX_TEXT)
    why = "reason is at most 256 bytes";
  if (why) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
    return 0;
  }
  consent_t c;
  int found = store_consent_get(r->b->store, v->consent_id.data, &c);
  if (found < 0)
    return -1;
  if (!found || memcmp(c.subject, v->subject.data, CONSENT_SUBJECT_BYTES) != 0) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                       "no such consent for this subject");
    return 0;
  }
  if (strcmp(v->recorded_by, r->who->id) != 0)
    return s_refuse_not_recorder(r, &c, "keten.consent.revoke", v->recorded_by);
  int seen = s_replayed(r, "keten.consent.revoke", &c);
  if (seen != 0)
    return seen < 0 ? -1 : 0;
  if (canon_verify_revocation(v, r->who->signing_pk) != 0) {
    if (s_audit_consent(r->b, r, "keten.consent.revoke", AUDIT_STATUS_ERROR, &c,
                        "refused: signature does not verify"))
      return -1;
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                       "the revocation's signature does not verify against "
                       "your registered signing key");
    return 0;
  }
  if (c.revoked) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
                       "this consent is already revoked");
    return 0;
  }
  size_t len = keten__revocation__get_packed_size(v);
  uint8_t *record = malloc(len ? len : 1);
  if (!record)
    return -1;
  keten__revocation__pack(v, record);
  int rc = store_consent_revoke(r->b->store, v->consent_id.data, r->now_ms,
                                r->who->id, record, len);
  free(record);
  if (rc != 0 ||
      s_audit_consent(r->b, r, "keten.consent.revoke", AUDIT_STATUS_OK, &c,
                      "consent revoked") ||
      consent_purge_access(r->b, r, &c, r->now_ms) != 0)
    return -1;
  Keten__Ok ok = KETEN__OK__INIT;
  ok.detail = "consent revoked; access removed";
  broker_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
  return 0;
}

typedef struct {
  request_t *r;
  Keten__ConsentStatus **items;
  size_t n, cap;
  int failed;
} s_list_t;

static int s_list_one(const consent_t *c, const uint8_t *record, size_t len,
                      const uint8_t *revocation, size_t revocation_len,
                      const char *revoked_by, void *arg) {
  (void)revocation;
  (void)revocation_len;
  s_list_t *l = arg;
  const participant_t *who = l->r->who;
  if (who->role != KETEN__ROLE__ROLE_OPERATOR &&
      strcmp(c->recorded_by, who->id) != 0 && strcmp(c->recipient, who->id) != 0)
    return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    Keten__ConsentStatus **grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) {
      l->failed = 1;
      return 1;
    }
    l->items = grown;
    l->cap = cap;
  }
  Keten__ConsentStatus *st = calloc(1, sizeof *st);
  Keten__Consent *k = keten__consent__unpack(NULL, len, record);
  if (!st || !k) {
    free(st);
    if (k)
      keten__consent__free_unpacked(k, NULL);
    l->failed = 1;
    return 1;
  }
  keten__consent_status__init(st);
  st->consent = k;
  st->revoked = c->revoked;
  st->revoked_at_ms = (uint64_t)c->revoked_at_ms;
  st->revoked_by = strdup(revoked_by ? revoked_by : "");
  l->items[l->n++] = st;
  return 0;
}

int handle_consent_list(request_t *r) {
  const ProtobufCBinaryData *subject = &r->req->consent_list->subject;
  if (subject->len != CANON_SUBJECT_BYTES) {
    broker_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                       "subject must be 32 bytes");
    return 0;
  }
  s_list_t l = {.r = r};
  int rc = store_consent_records(r->b->store, subject->data, s_list_one, &l);
  if (rc == 0 && !l.failed) {
    Keten__ConsentListReply reply = KETEN__CONSENT_LIST_REPLY__INIT;
    reply.consents = l.items;
    reply.n_consents = l.n;
    broker_reply(r, KETEN__ENVELOPE__BODY_CONSENTS, &reply);
  } else {
    rc = -1;
  }
  for (size_t i = 0; i < l.n; i++) {
    keten__consent__free_unpacked(l.items[i]->consent, NULL);
    free(l.items[i]->revoked_by);
    free(l.items[i]);
  }
  free(l.items);
  return rc;
}

int consent_sweep_expired(broker_t *b, int64_t now_ms) {
  consent_t *list = NULL;
  size_t n = 0;
  if (store_consents_expired(b->store, now_ms, 100, &list, &n) != 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = s_audit_consent(b, NULL, "keten.consent.expire", AUDIT_STATUS_OK,
                         &list[i], "consent expired") ||
         consent_purge_access(b, NULL, &list[i], now_ms) ||
         store_consent_mark_expired(b->store, list[i].consent_id);
    if (rc == 0)
      log_msg(LOG_INFO, "consent", "a consent for %s expired; access removed",
              list[i].recipient);
  }
  free(list);
  return rc ? -1 : 0;
}
