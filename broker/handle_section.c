/* handle_section — PREPARE, PUT and FETCH of sealed profile sections.
 *
 * The broker never sees plaintext: it checks the author is the sender,
 * verifies the author's signature over the canonical string, stores the
 * ciphertext and the key wraps of recipients the consent rule allows, and
 * hands each reader only its own wrap. Every disclosure and every denial
 * is audited in the same transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "canon.h"
#include "clock.h"
#include "consent.h"
#include "log.h"
#include "link.h"
#include "policy.h"
#include "recipient.h"
#include "request.h"
#include "rewrap.h"
#include "roles.h"

static int s_check_subject(request_t *r, const ProtobufCBinaryData *subject) {
  if (subject->len == CANON_SUBJECT_BYTES)
    return 0;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                      "subject must be %d bytes", CANON_SUBJECT_BYTES);
  return -1;
}

static int s_check_kind(request_t *r, int kind) {
  if (canon_kind_name(kind))
    return 0;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                      "unknown section kind %d", kind);
  return -1;
}

/* Audits a decision about section (subject, kind, author) for a party. */
static int s_audit_decision(request_t *r, const char *name, int status,
                            const uint8_t *subject, int kind,
                            const char *counterparty,
                            const consent_decision_t *d, const char *detail) {
  audit_entry_t e;
  request_audit_init(&e, r, name, status);
  memcpy(e.subject, subject, CANON_SUBJECT_BYTES);
  e.kind = kind;
  snprintf(e.counterparty, sizeof e.counterparty, "%s", counterparty);
  if (d && d->consent) {
    memcpy(e.consent_id, d->consent->consent_id, CONSENT_ID_BYTES);
    e.purpose = d->consent->purpose;
  }
  snprintf(e.detail, sizeof e.detail, "%s", detail);
  return request_audit(r->b, &e);
}

/* ---- PREPARE ---------------------------------------------------------------- */

/* Audits a PREPARE's outcome. */
static int s_audit_prepare(request_t *r, int status, const uint8_t *subject,
                           int kind, const char *detail) {
  return s_audit_decision(r, "keten.section.prepare", status, subject, kind, "",
                          NULL, detail);
}

/* A consent and the participant it stands for now. */
typedef struct {
  const char *recipient;
  const consent_t *consent;
} s_effective_t;

static int s_by_effective(const void *a, const void *b) {
  return strcmp(((const s_effective_t *)a)->recipient,
                ((const s_effective_t *)b)->recipient);
}

int handle_prepare(request_t *r) {
  broker_t *b = r->b;
  const Keten__PrepareRequest *p = r->req->prepare;
  if (s_check_subject(r, &p->subject) || s_check_kind(r, p->kind))
    return 0;
  int64_t retry = 0;
  int ok = ratelimit_take(&b->prepare_limits, r->who->id, clock_mono_ms(),
                          b->cfg.prepare_per_second, b->cfg.prepare_burst,
                          &retry, NULL);
  if (ok < 0)
    return -1;
  if (!ok) {
    /* Counted in the bucket; prepare_limit_flush() audits the count. */
    request_reply_rate_limited(r, retry,
                               "too many PREPARE requests; retry later");
    return 0;
  }
  /* Only an author of this kind learns anything. */
  policy_rule_t rule = policy_may_author(r->who->role, p->kind);
  if (rule != POLICY_OK) {
    if (s_audit_prepare(r, AUDIT_STATUS_ERROR, p->subject.data, p->kind,
                        policy_rule_text(rule)))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_POLICY,
                        "%s: a %s does not write %s", policy_rule_text(rule),
                        roles_name(r->who->role), canon_kind_name(p->kind));
    return 0;
  }
  consent_t *list = NULL;
  size_t n = 0;
  uint64_t latest = 0;
  char linked[PARTICIPANT_ID_MAX + 1];
  store_tvs_link_t link;
  if (store_consents_live(b->store, p->subject.data, r->who->id, NULL, &list,
                          &n) != 0 ||
      store_section_latest_version(b->store, p->subject.data, p->kind,
                                   r->who->id, &latest) != 0 ||
      link_gemeente(b, p->subject.data, linked, &link) < 0) {
    free(list);
    return -1;
  }
  /* A consent naming "@gemeente" stands for the linked gemeente (or for
   * nobody): give each consent the recipient it stands for now, then
   * take each distinct recipient once, sorted, a group at a time. */
  s_effective_t *eff = calloc(n ? n : 1, sizeof *eff);
  recipient_evidence_t *cands = calloc(n ? n : 1, sizeof *cands);
  Keten__Recipient **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  size_t count = 0, m = 0;
  int rc = eff && cands && ptrs ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *to = link_recipient(&list[i], linked);
    if (to[0]) {
      eff[m].recipient = to;
      eff[m].consent = &list[i];
      m++;
    }
  }
  if (rc == 0)
    qsort(eff, m, sizeof *eff, s_by_effective);
  consent_t *group = calloc(m ? m : 1, sizeof *group);
  if (!group)
    rc = -1;
  for (size_t i = 0, j; rc == 0 && i < m; i = j) {
    for (j = i; j < m && strcmp(eff[j].recipient, eff[i].recipient) == 0; j++)
      group[j - i] = *eff[j].consent;
    const participant_t *to = registry_find_id(b->registry, eff[i].recipient,
                                               r->now_ms);
    if (!to)
      continue;
    consent_query_t q = {.participant = to->id, .role = to->role,
                         .subject = p->subject.data, .kind = p->kind,
                         .author = r->who->id, .now_ms = r->now_ms,
                         .linked_gemeente = linked[0] ? linked : NULL};
    int got = recipient_evidence(b, &cands[count], to, group, j - i, &q,
                                 linked[0] ? &link : NULL);
    if (got < 0)
      rc = -1;
    else if (got == 1) {
      ptrs[count] = &cands[count].msg;
      count++;
    }
  }
  free(group);
  if (rc == 0) {
    char detail[64];
    snprintf(detail, sizeof detail, "prepared: %zu recipient(s)", count);
    rc = s_audit_prepare(r, AUDIT_STATUS_OK, p->subject.data, p->kind, detail);
  }
  if (rc == 0) {
    Keten__PrepareReply reply = KETEN__PREPARE_REPLY__INIT;
    reply.recipients = ptrs;
    reply.n_recipients = count;
    reply.next_version = latest + 1;
    request_reply(r, KETEN__ENVELOPE__BODY_PREPARED, &reply);
  }
  for (size_t i = 0; cands && i < count; i++)
    recipient_evidence_free(&cands[i]);
  free(cands);
  free(ptrs);
  free(eff);
  free(list);
  return rc;
}

int prepare_limit_flush(broker_t *b, int64_t now_ms, int force) {
  ratelimit_t *t = &b->prepare_limits;
  for (size_t i = 0; i < t->n; i++) {
    ratelimit_bucket_t *k = &t->buckets[i];
    if (k->refused <= k->flushed ||
        (!force && now_ms - k->audited_ms < 1000))
      continue;
    audit_entry_t e;
    request_audit_init(&e, NULL, "keten.section.prepare", AUDIT_STATUS_ERROR);
    snprintf(e.actor, sizeof e.actor, "%s", k->id);
    snprintf(e.detail, sizeof e.detail,
             "refused: rate limit (%d a second, burst %d): %llu request(s)",
             b->cfg.prepare_per_second, b->cfg.prepare_burst,
             (unsigned long long)(k->refused - k->flushed));
    if (request_audit(b, &e) != 0)
      return -1;
    log_msg(LOG_WARN, "request", "%s: %llu PREPARE requests refused by the "
            "rate limit", k->id, (unsigned long long)(k->refused - k->flushed));
    k->flushed = k->refused;
    k->audited_ms = now_ms;
  }
  return 0;
}

void prepare_limit_settle(broker_t *b, int committed) {
  ratelimit_t *t = &b->prepare_limits;
  for (size_t i = 0; i < t->n; i++) {
    ratelimit_bucket_t *k = &t->buckets[i];
    /* Counted only once the entry that counts them is durable. */
    if (committed)
      k->refused -= k->flushed;
    k->flushed = 0;
  }
}

/* ---- PUT ---------------------------------------------------------------------- */

/* Checks the shape of a sealed section; replies and returns -1 if bad. */
static int s_check_section(request_t *r, const Keten__SealedSection *s) {
  const Keten__SectionHeader *h = s ? s->header : NULL;
  const char *why = NULL;
  if (!h)
    why = "section and its header are required";
  else if (!canon_exact(&s->base))
    why = "the section carries fields its signature does not cover";
  else if (h->subject.len != CANON_SUBJECT_BYTES)
    why = "header.subject must be 32 bytes";
  else if (!canon_kind_name(h->kind))
    why = "header.kind is not a known section kind";
  else if (!participant_valid_id(h->author))
    why = "header.author is not a participant id";
  else if (h->version < 1 || h->version > INT64_MAX)
    why = "header.version must be at least 1";
  else if (s->nonce.len != CANON_NONCE_BYTES)
    why = "nonce must be 24 bytes";
  else if (s->signature.len != CANON_SIGNATURE_BYTES)
    why = "signature must be 64 bytes";
  else if (s->ciphertext.len < 16)
    why = "ciphertext is shorter than its authentication tag";
  else if (s->n_wraps < 1 || s->n_wraps > CANON_MAX_WRAPS)
    why = "between 1 and 64 key wraps are required";
  for (size_t i = 0; !why && i < s->n_wraps; i++) {
    if (s->wraps[i]->wrap.len != CANON_WRAP_BYTES)
      why = "every wrap must be 80 bytes";
    else if (!participant_valid_id(s->wraps[i]->recipient))
      why = "a wrap's recipient is not a participant id";
    for (size_t j = 0; !why && j < i; j++)
      if (strcmp(s->wraps[i]->recipient, s->wraps[j]->recipient) == 0)
        why = "two wraps for the same recipient";
  }
  if (!why)
    return 0;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
  return -1;
}

int handle_put(request_t *r) {
  broker_t *b = r->b;
  const Keten__SealedSection *s = r->req->put->section;
  if (s_check_section(r, s) != 0)
    return 0;
  const Keten__SectionHeader *h = s->header;
  const uint8_t *subject = h->subject.data;
  /* Retention (7.2, docs/sections.md): the author's date, or the kind's
   * default; after now, at most 30 years ahead. */
  uint64_t retain = r->req->put->retain_until_ms;
  if (retain == 0)
    retain = (uint64_t)(r->now_ms + policy_retention_ms(h->kind));
  else if (retain <= (uint64_t)r->now_ms ||
           retain > (uint64_t)(r->now_ms + POLICY_MAX_RETENTION_MS)) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "retain_until_ms must be after now and at most 30 "
                        "years ahead");
    return 0;
  }
  if (strcmp(h->author, r->who->id) == 0) {
    policy_rule_t rule = policy_may_author(r->who->role, h->kind);
    if (rule != POLICY_OK) {
      if (s_audit_decision(r, "keten.section.put", AUDIT_STATUS_ERROR, subject,
                           h->kind, r->who->id, NULL, policy_rule_text(rule)))
        return -1;
      request_reply_error(r, KETEN__ERROR_CODE__ERROR_POLICY,
                          "%s: a %s does not write %s", policy_rule_text(rule),
                          roles_name(r->who->role), canon_kind_name(h->kind));
      return 0;
    }
  }
  if (strcmp(h->author, r->who->id) != 0) {
    if (s_audit_decision(r, "keten.section.put", AUDIT_STATUS_ERROR, subject,
                         h->kind, h->author, NULL,
                         "refused: the sender is not the section's author"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_AUTHOR,
                        "you are %s; the header names %s as author", r->who->id,
                        h->author);
    return 0;
  }
  /* No section larger than every conforming reader opens (protocol 7.2
   * step 3a, 12.1): refused before its message_id is recorded. */
  if (s->ciphertext.len > (size_t)CANON_MAX_SECTION_PLAINTEXT + 16) {
    if (s_audit_decision(r, "keten.section.put", AUDIT_STATUS_ERROR, subject,
                         h->kind, r->who->id, NULL,
                         "refused: the section is larger than the maximum"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_TOO_LARGE,
                        "ciphertext of %zu bytes: a section holds at most %u "
                        "bytes of plaintext and its 16-byte tag",
                        s->ciphertext.len,
                        (unsigned)CANON_MAX_SECTION_PLAINTEXT);
    return 0;
  }
  int seen = store_message_seen(b->store, r->who->id, r->req->message_id.data,
                                r->now_ms);
  if (seen < 0)
    return -1;
  if (seen) {
    if (s_audit_decision(r, "keten.section.put", AUDIT_STATUS_ERROR, subject,
                         h->kind, r->who->id, NULL,
                         "refused: replayed message_id"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_REPLAYED,
                        "this message_id was already processed");
    return 0;
  }
  if (canon_verify_section(s, r->who->signing_pk) != 0) {
    if (s_audit_decision(r, "keten.section.put", AUDIT_STATUS_ERROR, subject,
                         h->kind, r->who->id, NULL,
                         "refused: signature does not verify"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE,
                        "the section's signature does not verify against "
                        "your registered signing key");
    return 0;
  }
  const Keten__KeyWrap *own = NULL;
  for (size_t i = 0; i < s->n_wraps; i++)
    if (strcmp(s->wraps[i]->recipient, r->who->id) == 0)
      own = s->wraps[i];
  if (!own) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                        "the author's own key wrap is missing");
    return 0;
  }
  uint64_t latest = 0;
  if (store_section_latest_version(b->store, subject, h->kind, h->author,
                                   &latest) != 0)
    return -1;
  if (h->version <= latest) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_CONFLICT,
                        "version %llu is not newer than the stored %llu",
                        (unsigned long long)h->version,
                        (unsigned long long)latest);
    return 0;
  }

  /* Only the author's own consents can open its section. */
  consent_t *list = NULL;
  size_t n = 0;
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(b, subject, linked, NULL) < 0 ||
      store_consents_live(b->store, subject, h->author, NULL, &list, &n) != 0)
    return -1;
  /* max_author_bytes (9.4): the author's stored sections, every version,
   * stay within the budget; checked before anything is stored. */
  uint64_t stored = 0;
  if (store_author_bytes(b->store, h->author, &stored) != 0) {
    free(list);
    return -1;
  }
  if (stored + s->ciphertext.len > (uint64_t)b->cfg.max_author_bytes) {
    free(list);
    request_budget_refused(b, r->who->id, BUDGET_MAX_AUTHOR_BYTES,
                           (uint64_t)b->cfg.max_author_bytes);
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_QUOTA,
                        "your stored sections hold %llu bytes (at most %lld): "
                        "nothing was stored (max_author_bytes)",
                        (unsigned long long)stored,
                        (long long)b->cfg.max_author_bytes);
    return 0;
  }
  /* max_pending_per_author (9.4): no recipient gets more than that many
   * unacked entries of this author; one over the budget refuses the whole
   * PUT before anything is stored. O(log n) per recipient (a counter kept
   * by the store), at most 63 recipients. */
  for (size_t i = 0; i < s->n_wraps; i++) {
    const Keten__KeyWrap *w = s->wraps[i];
    if (w == own)
      continue;
    const participant_t *to =
        registry_find_id(b->registry, w->recipient, r->now_ms);
    if (!to)
      continue;
    consent_query_t q = {.participant = w->recipient,
                         .role = to->role,
                         .subject = subject,
                         .kind = h->kind,
                         .author = h->author,
                         .now_ms = r->now_ms,
                         .linked_gemeente = linked[0] ? linked : NULL};
    if (consent_allows(list, n, &q).verdict == CONSENT_DENIED)
      continue;
    uint64_t pending = 0;
    if (store_mailbox_pending_from(b->store, w->recipient, h->author,
                                   &pending) != 0) {
      free(list);
      return -1;
    }
    if (pending < (uint64_t)b->cfg.max_pending_per_author)
      continue;
    /* Audited as an aggregate only (keten.budget.refused): a flood of
     * refused PUTs costs no entry each. */
    free(list);
    request_budget_refused(b, r->who->id, BUDGET_MAX_PENDING_PER_AUTHOR,
                           (uint64_t)b->cfg.max_pending_per_author);
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_QUOTA,
                        "%s already has %llu of your entries waiting (at most "
                        "%d): nothing was stored; retry once it has "
                        "acknowledged some",
                        w->recipient, (unsigned long long)pending,
                        b->cfg.max_pending_per_author);
    return 0;
  }
  store_section_t row;
  memset(&row, 0, sizeof row);
  memcpy(row.subject, subject, CANON_SUBJECT_BYTES);
  row.kind = h->kind;
  snprintf(row.author, sizeof row.author, "%s", h->author);
  row.version = h->version;
  row.created_at_ms = (int64_t)h->created_at_ms;
  row.nonce = s->nonce.data;
  row.nonce_len = s->nonce.len;
  row.ciphertext = s->ciphertext.data;
  row.ciphertext_len = s->ciphertext.len;
  row.signature = s->signature.data;
  row.signature_len = s->signature.len;
  memcpy(row.author_signing_pk, r->who->signing_pk, PARTICIPANT_KEY_BYTES);
  row.has_author_key = 1;
  row.retain_until_ms = (int64_t)retain;
  int64_t id = 0;
  char **queued = calloc(s->n_wraps, sizeof *queued);
  char **refused = calloc(s->n_wraps, sizeof *refused);
  size_t n_queued = 0, n_refused = 0;
  int rc = -1;
  if (!queued || !refused || store_section_put(b->store, &row, &id) != 0 ||
      store_wrap_put(b->store, id, own->recipient, own->wrap.data,
                     own->wrap.len) != 0 ||
      s_audit_decision(r, "keten.section.put", AUDIT_STATUS_OK, subject,
                       h->kind, "", NULL, "stored"))
    goto done;
  for (size_t i = 0; i < s->n_wraps; i++) {
    const Keten__KeyWrap *w = s->wraps[i];
    if (w == own)
      continue;
    const participant_t *to =
        registry_find_id(b->registry, w->recipient, r->now_ms);
    consent_query_t q = {.participant = w->recipient,
                         .role = to ? to->role : 0,
                         .subject = subject,
                         .kind = h->kind,
                         .author = h->author,
                         .now_ms = r->now_ms,
                         .linked_gemeente = linked[0] ? linked : NULL};
    consent_decision_t d = consent_allows(list, n, &q);
    if (!to) {
      d.verdict = CONSENT_DENIED;
      d.reason = "recipient is not a registered participant";
    }
    if (d.verdict == CONSENT_DENIED) {
      refused[n_refused++] = w->recipient;
      if (s_audit_decision(r, "keten.section.deny", AUDIT_STATUS_ERROR,
                           subject, h->kind, w->recipient, &d, d.reason))
        goto done;
      continue;
    }
    uint64_t seq = 0;
    if (store_wrap_put(b->store, id, w->recipient, w->wrap.data,
                       w->wrap.len) != 0 ||
        store_mailbox_push(b->store, w->recipient, id, &seq) != 0 ||
        s_audit_decision(r, "keten.section.queue", AUDIT_STATUS_OK, subject,
                         h->kind, w->recipient, &d, "queued for delivery"))
      goto done;
    queued[n_queued++] = w->recipient;
    delivery_wake(b, w->recipient);
  }
  /* A recipient allowed now that the author did not seal to (it sealed
   * from a PREPARE made before a consent or a KOPPELING): ask for it.
   * Each distinct recipient once (at most 63 live per recorder). */
  const char *asked[CANON_MAX_WRAPS];
  size_t n_asked = 0;
  for (size_t i = 0; i < n; i++) {
    const char *to = link_recipient(&list[i], linked);
    int known = !to[0] || strcmp(to, h->author) == 0;
    for (size_t j = 0; j < n_queued && !known; j++)
      known = strcmp(queued[j], to) == 0;
    for (size_t j = 0; j < n_asked && !known; j++)
      known = strcmp(asked[j], to) == 0;
    if (known || n_asked == CANON_MAX_WRAPS)
      continue;
    asked[n_asked++] = to;
    if (rewrap_queue(b, r, subject, to, h->author, NULL) != 0)
      goto done;
  }
  Keten__PutReply reply = KETEN__PUT_REPLY__INIT;
  reply.version = h->version;
  reply.queued_for = queued;
  reply.n_queued_for = n_queued;
  reply.refused_for = refused;
  reply.n_refused_for = n_refused;
  request_reply(r, KETEN__ENVELOPE__BODY_STORED, &reply);
  rc = 0;
done:
  free(queued);
  free(refused);
  free(list);
  return rc;
}

/* ---- FETCH ---------------------------------------------------------------------- */

/* A withheld section whose refusal is audited once the page has passed
 * it (a page that stops before it leaves it to the next page). */
typedef struct {
  int kind;
  char author[PARTICIPANT_ID_MAX + 1];
  consent_decision_t d;
  const char *why;                      /* static text */
} s_withheld_t;

typedef struct {
  request_t *r;
  const consent_t *consents;
  size_t n_consents;
  const char *linked;                   /* the subject's linked gemeente, or "" */
  const uint8_t *subject;
  Keten__SectionCopy **copies;
  size_t n_copies, cap;
  size_t bytes, max_bytes;              /* ciphertext in the page, its cap */
  s_withheld_t *withheld;               /* refusals not audited yet */
  size_t n_withheld, withheld_cap;
  size_t denied;
  int more;                             /* a readable section did not fit */
  int failed;
} s_fetch_t;

/* Deep-copies a stored section (its memory lives only in the callback)
 * with reader's wrap and the author's entry. */
static Keten__SectionCopy *s_copy(const store_section_t *sec,
                                  const char *reader,
                                  const participant_t *author) {
  struct {
    Keten__SectionCopy copy;
    Keten__SealedSection section;
    Keten__SectionHeader header;
    Keten__KeyWrap wrap;
    Keten__KeyWrap *wraps[1];
    Keten__RegistryEntry entry;
    participant_t author;
    uint8_t subject[32], nonce[24], signature[64], wrapbytes[80];
    char author_id[PARTICIPANT_ID_MAX + 1], reader[PARTICIPANT_ID_MAX + 1];
  } *m = calloc(1, sizeof *m);
  uint8_t *ct = malloc(sec->ciphertext_len ? sec->ciphertext_len : 1);
  if (!m || !ct || sec->nonce_len != 24 || sec->signature_len != 64 ||
      sec->wrap_len != 80) {
    free(m);
    free(ct);
    return NULL;
  }
  keten__section_copy__init(&m->copy);
  keten__sealed_section__init(&m->section);
  keten__section_header__init(&m->header);
  keten__key_wrap__init(&m->wrap);
  memcpy(m->subject, sec->subject, 32);
  memcpy(m->nonce, sec->nonce, 24);
  memcpy(m->signature, sec->signature, 64);
  memcpy(m->wrapbytes, sec->wrap, 80);
  memcpy(ct, sec->ciphertext, sec->ciphertext_len);
  m->author = *author;
  participant_to_entry(&m->author, &m->entry);
  snprintf(m->author_id, sizeof m->author_id, "%s", sec->author);
  snprintf(m->reader, sizeof m->reader, "%s", reader);
  m->header.subject.data = m->subject;
  m->header.subject.len = 32;
  m->header.kind = (Keten__SectionKind)sec->kind;
  m->header.author = m->author_id;
  m->header.version = sec->version;
  m->header.created_at_ms = (uint64_t)sec->created_at_ms;
  m->wrap.recipient = m->reader;
  m->wrap.wrap.data = m->wrapbytes;
  m->wrap.wrap.len = 80;
  m->wraps[0] = &m->wrap;
  m->section.header = &m->header;
  m->section.nonce.data = m->nonce;
  m->section.nonce.len = 24;
  m->section.ciphertext.data = ct;
  m->section.ciphertext.len = sec->ciphertext_len;
  m->section.signature.data = m->signature;
  m->section.signature.len = 64;
  m->section.wraps = m->wraps;
  m->section.n_wraps = 1;
  m->copy.section = &m->section;
  m->copy.author_entry = &m->entry;
  return &m->copy; /* first member: freeing it frees the block */
}

Keten__SectionCopy *handle_section_copy(const store_section_t *sec,
                                        const char *reader,
                                        const participant_t *author) {
  return s_copy(sec, reader, author);
}

const participant_t *handle_section_author(const broker_t *b,
                                           const store_section_t *sec) {
  if (!sec->has_author_key)
    return NULL;
  return registry_find_signing(b->registry, sec->author, sec->author_signing_pk,
                               sec->created_at_ms);
}

void handle_section_copy_free(Keten__SectionCopy *copy) {
  if (!copy)
    return;
  free(copy->section->ciphertext.data);
  free(copy);
}

/* Audits the refusals the page has passed. 0, or -1 on failure. */
static int s_fetch_flush_withheld(s_fetch_t *f) {
  for (size_t i = 0; i < f->n_withheld; i++) {
    const s_withheld_t *w = &f->withheld[i];
    if (s_audit_decision(f->r, "keten.section.fetch.deny", AUDIT_STATUS_ERROR,
                         f->subject, w->kind, w->author, &w->d, w->why))
      return -1;
  }
  f->n_withheld = 0;
  return 0;
}

static int s_fetch_one(const store_section_t *sec, uint64_t seq, void *arg) {
  (void)seq;
  s_fetch_t *f = arg;
  request_t *r = f->r;
  consent_query_t q = {.participant = r->who->id,
                       .role = r->who->role,
                       .subject = sec->subject,
                       .kind = sec->kind,
                       .author = sec->author,
                       .now_ms = r->now_ms,
                       .linked_gemeente = f->linked[0] ? f->linked : NULL};
  consent_decision_t d = consent_allows(f->consents, f->n_consents, &q);
  const participant_t *author = handle_section_author(r->b, sec);
  const char *why = d.reason;
  if (d.verdict != CONSENT_DENIED && !sec->wrap)
    why = "no key wrap for this reader yet: the section was sealed before "
          "the consent; a rewrap request waits for its author";
  else if (d.verdict != CONSENT_DENIED && !author)
    why = "the author is no longer registered";
  if (d.verdict == CONSENT_DENIED || !sec->wrap || !author) {
    /* Audited once the page passes it: if the page ends before the next
     * readable section, the next page (which starts after the last one
     * handed over) meets it again and audits it then, once. */
    if (f->n_withheld == f->withheld_cap) {
      size_t cap = f->withheld_cap ? 2 * f->withheld_cap : 16;
      s_withheld_t *grown = realloc(f->withheld, cap * sizeof *grown);
      if (!grown) {
        f->failed = 1;
        return 1;
      }
      f->withheld = grown;
      f->withheld_cap = cap;
    }
    f->denied++;
    s_withheld_t *w = &f->withheld[f->n_withheld++];
    w->kind = sec->kind;
    snprintf(w->author, sizeof w->author, "%s", sec->author);
    w->d = d;
    w->why = why;
    return 0;
  }
  /* A page holds at least one section, and no more ciphertext than its
   * cap otherwise: a readable section that does not fit ends the page. */
  if (f->n_copies > 0 && sec->ciphertext_len > f->max_bytes - f->bytes) {
    f->more = 1;
    return 1;
  }
  if (s_fetch_flush_withheld(f) != 0) {
    f->failed = 1;
    return 1;
  }
  if (f->n_copies == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 16;
    Keten__SectionCopy **grown = realloc(f->copies, cap * sizeof *grown);
    if (!grown) {
      f->failed = 1;
      return 1;
    }
    f->copies = grown;
    f->cap = cap;
  }
  Keten__SectionCopy *copy = s_copy(sec, r->who->id, author);
  char what[64];
  snprintf(what, sizeof what, "%s, version %llu",
           d.verdict == CONSENT_ALLOWED_AUTHOR ? "disclosed to its author"
                                               : "disclosed",
           (unsigned long long)sec->version);
  if (!copy ||
      s_audit_decision(r, "keten.section.fetch", AUDIT_STATUS_OK, sec->subject,
                       sec->kind, sec->author, &d, what)) {
    handle_section_copy_free(copy);
    f->failed = 1;
    return 1;
  }
  f->copies[f->n_copies++] = copy;
  /* (a first section above the cap fills the page) */
  f->bytes = sec->ciphertext_len < f->max_bytes - f->bytes
                 ? f->bytes + sec->ciphertext_len
                 : f->max_bytes;
  return 0;
}

/* Checks the page cursor; replies and returns -1 if bad. */
static int s_check_cursor(request_t *r, const Keten__FetchRequest *q) {
  const char *after = q->after_author ? q->after_author : "";
  const char *why = NULL;
  if (strlen(after) > PARTICIPANT_ID_MAX)
    why = "after_author is longer than a participant id";
  else if (q->after_kind != 0 && !canon_kind_name((int)q->after_kind))
    why = "after_kind is not a known section kind";
  else if (q->after_kind == 0 && after[0])
    why = "after_author needs after_kind";
  if (!why)
    return 0;
  request_reply_error(r, KETEN__ERROR_CODE__ERROR_INVALID_FIELD, "%s", why);
  return -1;
}

int handle_fetch(request_t *r) {
  const Keten__FetchRequest *q = r->req->fetch;
  const ProtobufCBinaryData *subject = &q->subject;
  if (s_check_subject(r, subject) || s_check_cursor(r, q))
    return 0;
  int first_page = q->after_kind == 0;
  int known = store_subject_known(r->b->store, subject->data);
  if (known < 0)
    return -1;
  if (!known) {
    if (s_audit_decision(r, "keten.section.fetch.deny", AUDIT_STATUS_ERROR,
                         subject->data, 0, "", NULL,
                         "refused: no section of this subject is stored"))
      return -1;
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                        "no section of this subject is stored");
    return 0;
  }
  consent_t *list = NULL;
  size_t n = 0;
  char linked[PARTICIPANT_ID_MAX + 1];
  if (link_gemeente(r->b, subject->data, linked, NULL) < 0 ||
      link_consents_for(r->b, subject->data, NULL, r->who->id, linked, &list,
                        &n) != 0)
    return -1;
  size_t cap = (size_t)r->b->cfg.fetch_page_bytes;
  if (q->max_bytes > 0 && q->max_bytes < cap)
    cap = q->max_bytes;
  s_fetch_t f = {.r = r, .consents = list, .n_consents = n, .linked = linked,
                 .subject = subject->data, .max_bytes = cap};
  int rc = store_sections_after(r->b->store, subject->data, r->who->id,
                                (int)q->after_kind,
                                q->after_author ? q->after_author : "",
                                s_fetch_one, &f);
  /* The scan ended (no section left to stop at): what it passed is
   * audited with this page. */
  if (rc == 0 && !f.failed && !f.more && s_fetch_flush_withheld(&f) != 0)
    f.failed = 1;
  if (rc != 0 || f.failed) {
    rc = -1;
  } else if (f.n_copies == 0 && first_page) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                        "no section of this subject may be disclosed to you "
                        "(%zu refused; the refusal is audited)",
                        f.denied);
  } else {
    /* A later page may come back empty (what followed the cursor was
     * withdrawn meanwhile): FETCHED with no section and no more. */
    Keten__FetchReply reply = KETEN__FETCH_REPLY__INIT;
    reply.sections = f.copies;
    reply.n_sections = f.n_copies;
    reply.more = f.more;
    request_reply(r, KETEN__ENVELOPE__BODY_FETCHED, &reply);
  }
  for (size_t i = 0; i < f.n_copies; i++)
    handle_section_copy_free(f.copies[i]);
  free(f.copies);
  free(f.withheld);
  free(list);
  return rc;
}
