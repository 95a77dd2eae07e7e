/* handle_consent — recording, revoking and listing signed consents, and
 * taking away the access a consent gave when it is revoked or expires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "canon.h"
#include "consent.h"
#include "access.h"
#include "link.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "rewrap.h"
#include "tvs.h"

/* Checks a consent record's fields; replies and returns -1 if bad. */
static int s_check_consent(request_t *r, const Keten__Consent *k) {
  const char *why = NULL;
  if (!k)
    why = "consent is required";
  else if (!canon_exact(&k->base))
    why = "the consent carries fields its signature does not cover";
  else if (k->consent_id.len != CANON_CONSENT_ID_BYTES)
    why = "consent_id must be 16 bytes";
  else if (k->subject.len != CANON_SUBJECT_BYTES)
    why = "subject must be 32 bytes";
  else if (!participant_valid_id(k->recorded_by) ||
           (!participant_valid_id(k->recipient) &&
            !tvs_is_linked_recipient(k->recipient)))
    why = "recorded_by must be a participant id, recipient one or "
          "\"" TVS_LINKED_GEMEENTE "\"";
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
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
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
  c->has_legal_reference = k->legal_reference[0] != '\0';
}

static int s_audit_consent(broker_t *b, const request_t *r, const char *name,
                           int status, const consent_t *c, const char *detail) {
  audit_entry_t e;
  request_audit_init(&e, r, name, status);
  memcpy(e.subject, c->subject, CONSENT_SUBJECT_BYTES);
  memcpy(e.consent_id, c->consent_id, CONSENT_ID_BYTES);
  e.purpose = c->purpose;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", c->recipient);
  snprintf(e.detail, sizeof e.detail, "%s", detail);
  return request_audit(b, &e);
}

/* Refuses a record whose recorder is not the sender (audited). */
static int s_refuse_not_recorder(request_t *r, const consent_t *c,
                                 const char *name, const char *recorder) {
  if (s_audit_consent(r->b, r, name, AUDIT_STATUS_ERROR, c,
                      "refused: the sender is not the recorder"))
    return -1;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_AUTHOR,
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
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_REPLAYED,
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
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                        "the consent's signature does not verify against "
                        "your registered signing key");
    return 0;
  }
  const participant_t *to =
      registry_find_id(r->b->registry, k->recipient, r->now_ms);
  int self = strcmp(k->recipient, r->who->id) == 0;
  /* "@gemeente": whichever gemeente the subject is (or will be) linked to. */
  int linked = tvs_is_linked_recipient(k->recipient);
  int to_role = self     ? r->who->role
                : linked ? KETEN__ROLE__ROLE_GEMEENTE
                : to     ? to->role
                         : 0;
  if (!to && !self && !linked) {
    if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_ERROR, &c,
                        "refused: the recipient is not a registered "
                        "participant"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                        "recipient %s is not a registered participant",
                        k->recipient);
    return 0;
  }
  int bad_kind = 0;
  policy_rule_t rule = policy_may_record(
      r->who->role, to_role, self, c.sections, c.purpose, c.basis,
      c.has_legal_reference, &bad_kind);
  if (rule != POLICY_OK) {
    char detail[128];
    snprintf(detail, sizeof detail, "refused: %s%s%s", policy_rule_text(rule),
             bad_kind ? ": " : "", bad_kind ? canon_kind_name(bad_kind) : "");
    if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_ERROR, &c,
                        detail))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_POLICY, "%s", detail + 9);
    return 0;
  }
  size_t live = 0, others = 0;
  if (store_consent_count_live(r->b->store, c.subject, c.recorded_by,
                               c.recipient, r->now_ms, &live) != 0 ||
      (live == 0 && store_consent_recipients_live(r->b->store, c.subject,
                                                  c.recorded_by, r->now_ms,
                                                  &others) != 0))
    return -1;
  /* A section has at most 64 wraps: the author's and 63 recipients'. */
  char why[ENVELOPE_MAX_REASON] = "";
  const char *audited = NULL;
  if (live == 0 && others >= CANON_MAX_WRAPS - 1) {
    audited = "refused: too many recipients for this subject";
    snprintf(why, sizeof why,
             "your live consents of this subject already name %zu "
             "recipients (a section has at most %d)",
             others, CANON_MAX_WRAPS - 1);
  } else if (live >= (size_t)r->b->cfg.max_consents_per_recipient) {
    audited = "refused: too many live consents for this recipient";
    request_budget_refused(r->b, r->who->id, BUDGET_MAX_CONSENTS_PER_RECIPIENT,
                           (uint64_t)r->b->cfg.max_consents_per_recipient);
    snprintf(why, sizeof why,
             "you already hold %zu live consents of this subject for %s (at "
             "most %d): revoke one first",
             live, c.recipient, r->b->cfg.max_consents_per_recipient);
  }
  if (audited) {
    /* The consent budget is audited as an aggregate (keten.budget.refused,
     * counted above), not one entry per refusal. */
    if (live < (size_t)r->b->cfg.max_consents_per_recipient &&
        s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_ERROR, &c,
                        audited))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_QUOTA, "%s", why);
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
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
                        "a consent with this consent_id exists");
    return 0;
  }
  if (s_audit_consent(r->b, r, "keten.consent.grant", AUDIT_STATUS_OK, &c,
                      "consent recorded"))
    return -1;
  /* What the recorder stored before this consent: ask it to reseal, with
   * evidence that now includes this consent (a pending request with older
   * evidence is asked again). A consent that starts later is asked for
   * when it starts (consent_sweep_started). */
  char gemeente[PARTICIPANT_ID_MAX + 1] = "";
  if (linked && link_gemeente(r->b, c.subject, gemeente, NULL) < 0)
    return -1;
  const char *reader = linked ? gemeente : c.recipient;
  size_t rewraps = 0;
  if (c.valid_from_ms > r->now_ms) {
    if (store_consent_start_pending(r->b->store, c.consent_id, 1) != 0)
      return -1;
  } else if (reader[0] && !self &&
             rewrap_requeue(r->b, r, c.subject, reader, c.recorded_by,
                            "asked again with the new consent",
                            &rewraps) != 0) {
    return -1;
  }
  char detail[96];
  snprintf(detail, sizeof detail,
           rewraps ? "consent recorded; %zu stored section(s) to reseal (rewrap "
                     "requests queued to you)"
                   : "consent recorded",
           rewraps);
  Keten__Ok ok = KETEN__OK__INIT;
  ok.detail = detail;
  request_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
  return 0;
}

int consent_purge_access(broker_t *b, const request_t *r, const consent_t *c,
                         int64_t now_ms, int reason) {
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(b, c->subject, linked, NULL) < 0)
    return -1;
  /* "@gemeente" stands for the linked gemeente now, or for nobody. */
  const char *recipient = link_recipient(c, linked);
  access_removed_t *removed = calloc(1, sizeof *removed);
  if (!removed)
    return -1;
  int rc = 0;
  if (recipient[0])
    rc = access_remove(b, c->subject, c->recorded_by, recipient, c->sections,
                       c->consent_id, linked, now_ms, removed);
  char detail[128];
  snprintf(detail, sizeof detail,
           "access removed: %lld key wraps erased, %lld pending deliveries "
           "dropped",
           (long long)removed->wraps, (long long)removed->pending);
  if (rc == 0)
    rc = s_audit_consent(b, r, "keten.access.erase", AUDIT_STATUS_OK, c,
                         detail);
  if (rc == 0 && recipient[0])
    rc = access_notify(b, r, c->subject, recipient, reason, c->consent_id,
                       NULL, removed);
  /* A revoked consent's rewraps are cancelled (its author cannot know);
   * an expired one's are left for the author's library to refuse. */
  if (rc == 0 && recipient[0] &&
      reason == KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED)
    rc = rewrap_requeue(b, r, c->subject, recipient, c->recorded_by,
                        "access ended", NULL);
  free(removed);
  return rc;
}

/* Tells the recorder of c, in its mailbox, that `who` revoked it with v. */
static int s_notify_recorder(request_t *r, const consent_t *c,
                             const Keten__Revocation *v) {
  Keten__Notice notice = KETEN__NOTICE__INIT;
  Keten__RegistryEntry entry;
  participant_to_entry(r->who, &entry);
  notice.kind = KETEN__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
  notice.subject.data = (uint8_t *)c->subject;
  notice.subject.len = CONSENT_SUBJECT_BYTES;
  notice.consent_id.data = (uint8_t *)c->consent_id;
  notice.consent_id.len = CONSENT_ID_BYTES;
  notice.revocation = (Keten__Revocation *)v;
  notice.revoker_entry = &entry;
  notice.created_at_ms = (uint64_t)r->now_ms;
  size_t len = keten__notice__get_packed_size(&notice);
  uint8_t *payload = malloc(len ? len : 1);
  if (!payload)
    return -1;
  keten__notice__pack(&notice, payload);
  store_notice_t row = {.kind = notice.kind, .payload = payload,
                        .payload_len = len, .created_at_ms = r->now_ms};
  memcpy(row.subject, c->subject, sizeof row.subject);
  uint64_t seq = 0;
  int rc = store_notice_push(r->b->store, c->recorded_by, &row, &seq);
  free(payload);
  if (rc != 0)
    return -1;
  audit_entry_t e;
  request_audit_init(&e, r, "keten.notice.queue", AUDIT_STATUS_OK);
  memcpy(e.subject, c->subject, CONSENT_SUBJECT_BYTES);
  memcpy(e.consent_id, c->consent_id, CONSENT_ID_BYTES);
  e.purpose = c->purpose;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", c->recorded_by);
  snprintf(e.detail, sizeof e.detail,
           "the recorder is told its consent was revoked (seq %llu)",
           (unsigned long long)seq);
  if (request_audit(r->b, &e) != 0)
    return -1;
  delivery_wake(r->b, c->recorded_by);
  return 0;
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
  else if (!canon_exact(&v->base))
    why = "the revocation carries fields its signature does not cover";
  else if (strlen(v->reason) > CANON_MAX_TEXT ||
           strlen(v->evidence_ref) > CANON_MAX_TEXT)
    why = "reason and evidence_ref are at most 256 bytes";
  if (why) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
    return 0;
  }
  consent_t c;
  int found = store_consent_get(r->b->store, v->consent_id.data, &c);
  if (found < 0)
    return -1;
  if (!found || memcmp(c.subject, v->subject.data, CONSENT_SUBJECT_BYTES) != 0) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                        "no such consent for this subject");
    return 0;
  }
  if (strcmp(v->recorded_by, r->who->id) != 0)
    return s_refuse_not_recorder(r, &c, "keten.consent.revoke", v->recorded_by);
  /* Who may cut a partner off: the consent's recorder, its recipient
   * (renouncing), or the person's counter with the person's request. */
  int is_recorder = strcmp(c.recorded_by, r->who->id) == 0;
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(r->b, c.subject, linked, NULL) < 0)
    return -1;
  int is_recipient = consent_names(&c, r->who->id, linked);
  /* The person's counter: COA, or the gemeente the person is linked to. */
  int is_counter = policy_is_counter(r->who->role) ||
                   (r->who->role == KETEN__ROLE__ROLE_GEMEENTE && linked[0] &&
                    strcmp(linked, r->who->id) == 0);
  const char *refusal = NULL;
  if (!is_recorder && !is_recipient && !is_counter)
    refusal = "refused: only the consent's recorder, its recipient or the "
              "person's counter (COA, the linked gemeente) may revoke it";
  else if (!is_recorder && !is_recipient && !v->evidence_ref[0])
    refusal = "refused: the person's counter must give an evidence "
              "reference (the person's request)";
  if (refusal) {
    if (s_audit_consent(r->b, r, "keten.consent.revoke", AUDIT_STATUS_ERROR, &c,
                        refusal))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN, "%s",
                        refusal + 9);
    return 0;
  }
  int seen = s_replayed(r, "keten.consent.revoke", &c);
  if (seen != 0)
    return seen < 0 ? -1 : 0;
  if (canon_verify_revocation(v, r->who->signing_pk) != 0) {
    if (s_audit_consent(r->b, r, "keten.consent.revoke", AUDIT_STATUS_ERROR, &c,
                        "refused: signature does not verify"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                        "the revocation's signature does not verify against "
                        "your registered signing key");
    return 0;
  }
  if (c.revoked) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
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
  const char *by = is_recorder    ? "consent revoked by its recorder"
                   : is_recipient ? "consent renounced by its recipient"
                                  : "consent revoked at the person's counter";
  c.revoked = 1;
  if (rc != 0 ||
      s_audit_consent(r->b, r, "keten.consent.revoke", AUDIT_STATUS_OK, &c,
                      by) ||
      consent_purge_access(r->b, r, &c, r->now_ms,
                           KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED) != 0 ||
      (!is_recorder && s_notify_recorder(r, &c, v) != 0))
    return -1;
  Keten__Ok ok = KETEN__OK__INIT;
  ok.detail = "consent revoked; access removed";
  request_reply(r, KETEN__ENVELOPE__BODY_OK, &ok);
  return 0;
}

typedef struct {
  request_t *r;
  const char *linked;                   /* the subject's linked gemeente, or "" */
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
      strcmp(c->recorded_by, who->id) != 0 &&
      !consent_names(c, who->id, l->linked))
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
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "subject must be 32 bytes");
    return 0;
  }
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(r->b, subject->data, linked, NULL) < 0)
    return -1;
  s_list_t l = {.r = r, .linked = linked};
  int rc = store_consent_records(r->b->store, subject->data, s_list_one, &l);
  if (rc == 0 && !l.failed) {
    Keten__ConsentListReply reply = KETEN__CONSENT_LIST_REPLY__INIT;
    reply.consents = l.items;
    reply.n_consents = l.n;
    request_reply(r, KETEN__ENVELOPE__BODY_CONSENTS, &reply);
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
         consent_purge_access(b, NULL, &list[i], now_ms,
                              KETEN__NOTICE_REASON__NOTICE_REASON_EXPIRED) ||
         store_consent_mark_expired(b->store, list[i].consent_id);
    if (rc == 0)
      log_msg(LOG_INFO, "consent", "a consent for %s expired; access removed",
              list[i].recipient);
  }
  free(list);
  return rc ? -1 : 0;
}

int consent_sweep_started(broker_t *b, int64_t now_ms) {
  consent_t *list = NULL;
  size_t n = 0;
  if (store_consents_started(b->store, now_ms, 100, &list, &n) != 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const consent_t *c = &list[i];
    char gemeente[PARTICIPANT_ID_MAX + 1] = "";
    int live = consent_is_active(c, now_ms);
    if (live && tvs_is_linked_recipient(c->recipient))
      rc = link_gemeente(b, c->subject, gemeente, NULL) < 0;
    const char *reader = link_recipient(c, gemeente);
    size_t rewraps = 0;
    if (rc == 0 && live && reader[0] && strcmp(reader, c->recorded_by) != 0)
      rc = rewrap_requeue(b, NULL, c->subject, reader, c->recorded_by,
                          "asked again as the consent started", &rewraps);
    if (rc == 0)
      rc = store_consent_start_pending(b->store, c->consent_id, 0);
    if (rc == 0 && live) {
      char detail[96];
      snprintf(detail, sizeof detail,
               "consent started; %zu rewrap request(s) queued", rewraps);
      rc = s_audit_consent(b, NULL, "keten.consent.start", AUDIT_STATUS_OK, c,
                           detail);
    }
  }
  free(list);
  return rc ? -1 : 0;
}
