/* evidence — what libketen checks before it trusts the broker. */
#include "evidence.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "entry.h"
#include "policy.h"
#include "roles.h"
#include "tvs.h"

static keten_err_t s_refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static keten_err_t s_refuse(char *why, size_t whylen, const char *fmt, ...) {
  if (why && whylen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
  }
  return KETEN_ERR_EVIDENCE;
}

static keten_err_t s_fail(keten_err_t err, char *why, size_t whylen,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static keten_err_t s_fail(keten_err_t err, char *why, size_t whylen,
                          const char *fmt, ...) {
  if (why && whylen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
  }
  return err;
}

static const char *s_role(int role) {
  return roles_name(role) ? roles_name(role) : "?";
}

/* 1 if (hash, sig) was verified before. */
static int s_cached(const evidence_cache_t *c, const uint8_t hash[32],
                    const uint8_t *sig) {
  for (size_t i = 0; c && i < c->n; i++)
    if (memcmp(c->hash[i], hash, 32) == 0 && memcmp(c->sig[i], sig, 64) == 0)
      return 1;
  return 0;
}

static void s_remember(evidence_cache_t *c, const uint8_t hash[32],
                       const uint8_t *sig) {
  if (!c)
    return;
  memcpy(c->hash[c->next], hash, 32);
  memcpy(c->sig[c->next], sig, 64);
  c->next = (c->next + 1) % EVIDENCE_CACHE_SIZE;
  if (c->n < EVIDENCE_CACHE_SIZE)
    c->n++;
}

/* entry_check(), verifying the root's signature only the first time. */
static int s_entry_ok(const Keten__RegistryEntry *e, const uint8_t *root_pk,
                      evidence_cache_t *cache, char *why, size_t whylen) {
  uint8_t hash[32];
  if (!cache || entry_check_shape(e, why, whylen) != 0 ||
      canon_entry_hash(e, hash) != 0)
    return entry_check(e, root_pk, why, whylen);
  if (s_cached(cache, hash, e->root_signature.data))
    return 0;
  if (entry_check(e, root_pk, why, whylen) != 0)
    return -1;
  s_remember(cache, hash, e->root_signature.data);
  return 0;
}

/* 1 if consent k carries a signature of one of the author's keys. */
static int s_signed_by_us(const evidence_author_t *a, const Keten__Consent *k) {
  uint8_t hash[32];
  canon_t c;
  canon_init(&c);
  int hashed = k->signature.len == 64 && canon_consent(&c, k) == 0;
  if (hashed)
    crypto_generichash(hash, sizeof hash, c.data, c.len, NULL, 0);
  canon_free(&c);
  if (hashed && s_cached(a->cache, hash, k->signature.data))
    return 1;
  for (size_t i = 0; i < a->n_own; i++)
    if (canon_verify_consent(k, a->own_signing_keys[i]) == 0) {
      if (hashed)
        s_remember(a->cache, hash, k->signature.data);
      return 1;
    }
  return 0;
}

/* Why consent k does not allow a's section to recipient `to` (of role),
 * or NULL. *linked is set when k names "@gemeente" rather than `to`: it
 * then counts only with a koppeling (checked by the caller). */
/* A genuine consent of ours outside its validity window: evidence queued
 * earlier (a rewrap request) may hold one that expired since. It allows
 * nothing, but it is no lie either. */
static const char s_not_valid_now[] = "a consent is not valid now";

static const char *s_consent_fails(const evidence_author_t *a,
                                   const Keten__Consent *k, const char *to,
                                   int role, int *linked) {
  *linked = 0;
  if (!k || !canon_exact(&k->base))
    return "a consent carries fields its signature does not cover";
  if (k->consent_id.len != CANON_CONSENT_ID_BYTES ||
      k->subject.len != CANON_SUBJECT_BYTES ||
      memcmp(k->subject.data, a->subject, CANON_SUBJECT_BYTES) != 0)
    return "a consent is for another subject";
  if (!k->recorded_by || strcmp(k->recorded_by, a->self_id) != 0)
    return "a consent was not recorded by us";
  if (tvs_is_linked_recipient(k->recipient))
    *linked = 1;
  else if (!k->recipient || strcmp(k->recipient, to) != 0)
    return "a consent names someone else";
  if (!s_signed_by_us(a, k))
    return "a consent does not carry our signature";
  uint64_t bits = canon_section_bits(k->sections, k->n_sections);
  if (!(bits & (UINT64_C(1) << a->kind)))
    return "a consent does not cover this section kind";
  if (a->now_ms < k->valid_from_ms || a->now_ms >= k->valid_until_ms)
    return s_not_valid_now;
  policy_rule_t rule = policy_may_disclose(
      a->kind, role, (int)k->purpose, (int)k->basis,
      k->legal_reference && k->legal_reference[0]);
  if (rule != POLICY_OK)
    return policy_rule_text(rule);
  return NULL;
}

/* 0 if ev's signature verifies with pk, verifying it only the first
 * time (the key is part of what is remembered: one event verified with
 * one publisher key vouches for nothing under another). */
static int s_tvs_signed(const Keten__TvsEvent *ev, const uint8_t *pk,
                        evidence_cache_t *cache) {
  uint8_t hash[32], *buf = NULL;
  size_t len = 0;
  int hashed = 0;
  if (cache && tvs_event_canon(ev, &buf, &len) == 0) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof hash);
    crypto_generichash_update(&st, buf, len);
    crypto_generichash_update(&st, pk, 32);
    crypto_generichash_final(&st, hash, sizeof hash);
    hashed = 1;
  }
  free(buf);
  if (hashed && s_cached(cache, hash, ev->signature.data))
    return 0;
  if (tvs_event_verify(ev, pk) != 0)
    return -1;
  if (hashed)
    s_remember(cache, hash, ev->signature.data);
  return 0;
}

keten_err_t evidence_check_tvs_event(const uint8_t root_pk[32],
                                     const Keten__TvsEventCopy *copy,
                                     evidence_cache_t *cache, char *why,
                                     size_t whylen) {
  char reason[200];
  if (!copy || !copy->event)
    return s_fail(KETEN_ERR_PROTOCOL, why, whylen,
                  "a TVS event comes without its event");
  if (!canon_exact(&copy->base))
    return s_fail(KETEN_ERR_PROTOCOL, why, whylen,
                  "a TVS event carries fields its signatures do not cover");
  const Keten__TvsEvent *ev = copy->event;
  if (tvs_event_check_shape(ev, reason, sizeof reason) != 0)
    return s_fail(KETEN_ERR_PROTOCOL, why, whylen,
                  "a TVS event is malformed: %s", reason);
  /* published_by is a valid participant id from here on */
  const Keten__RegistryEntry *e = copy->publisher_entry;
  if (!e)
    return s_refuse(why, whylen,
                    "a TVS event of %s comes without its publisher's entry",
                    ev->published_by);
  if (s_entry_ok(e, root_pk, cache, reason, sizeof reason) != 0)
    return s_refuse(why, whylen, "a TVS event's publisher refused: %s", reason);
  if (strcmp(e->participant_id, ev->published_by) != 0)
    return s_refuse(why, whylen, "a TVS event of %s comes with the entry of %s",
                    ev->published_by, e->participant_id);
  if (e->role != KETEN__ROLE__ROLE_TVS)
    return s_refuse(why, whylen,
                    "a TVS event of %s refused: its publisher is %s, not TVS",
                    ev->published_by, s_role((int)e->role));
  if (!entry_valid_at(e, ev->published_at_ms))
    return s_refuse(why, whylen,
                    "a TVS event of %s was published outside its "
                    "signing key's validity",
                    ev->published_by);
  if (s_tvs_signed(ev, e->signing_key.data, cache) != 0)
    return s_fail(KETEN_ERR_CRYPTO, why, whylen,
                  "a TVS event of %s does not verify with its publisher's key",
                  ev->published_by);
  return KETEN_OK;
}

/* Why r's koppeling does not link a's subject to the recipient (entry e),
 * or NULL; reasons that need words from elsewhere are written to buf. */
static const char *s_koppeling_fails(const evidence_author_t *a,
                                     const Keten__Recipient *r,
                                     const Keten__RegistryEntry *e, char *buf,
                                     size_t buflen) {
  char reason[200];
  if (!r->koppeling)
    return "a consent names the linked gemeente, but no koppeling comes "
           "with it";
  if (evidence_check_tvs_event(a->root_pk, r->koppeling, a->cache, reason,
                               sizeof reason) != KETEN_OK) {
    snprintf(buf, buflen, "its koppeling refused: %s", reason);
    return buf;
  }
  const Keten__TvsEvent *ev = r->koppeling->event;
  if (ev->kind != KETEN__TVS_EVENT_KIND__TVS_KOPPELING)
    return "its koppeling is not a KOPPELING";
  if (memcmp(ev->subject.data, a->subject, CANON_SUBJECT_BYTES) != 0)
    return "its koppeling is for another subject";
  if (strcmp(ev->gemeente, e->participant_id) != 0)
    return "its koppeling links the subject to another gemeente";
  return NULL;
}

keten_err_t evidence_check_recipient(const evidence_author_t *a,
                                     const Keten__Recipient *r, char *why,
                                     size_t whylen) {
  char reason[200];
  if (!r || !r->entry)
    return s_refuse(why, whylen, "a recipient comes without its registry entry");
  const Keten__RegistryEntry *e = r->entry;
  if (s_entry_ok(e, a->root_pk, a->cache, reason, sizeof reason) != 0)
    return s_refuse(why, whylen, "recipient refused: %s", reason);
  const char *to = e->participant_id;
  if (!r->participant_id || strcmp(r->participant_id, to) != 0)
    return s_refuse(why, whylen, "recipient %s comes with the entry of %s",
                    entry_valid_id(r->participant_id) ? r->participant_id : "?",
                    to);
  if (!entry_valid_at(e, a->now_ms))
    return s_refuse(why, whylen, "recipient %s: its registry entry is not "
                    "valid now", to);
  if (strcmp(to, a->self_id) == 0)
    return s_refuse(why, whylen, "we are offered as our own recipient");
  if (r->n_consents == 0)
    return s_refuse(why, whylen, "recipient %s comes without a consent of ours",
                    to);
  /* Every consent offered must be one of ours that allows it: a broker
   * that pads the evidence with forgeries is not believed on the rest.
   * One of ours that is only out of its window counts for nothing, and at
   * least one must hold now. */
  int koppeling_checked = 0;
  size_t holding = 0;
  char buf[256];
  for (size_t i = 0; i < r->n_consents; i++) {
    int linked = 0;
    const char *fails =
        s_consent_fails(a, r->consents[i], to, (int)e->role, &linked);
    if (fails == s_not_valid_now)
      continue;
    if (!fails && linked && !koppeling_checked) {
      /* "@gemeente": only the gemeente a TVS koppeling links it to */
      if (e->role != KETEN__ROLE__ROLE_GEMEENTE)
        fails = "a consent names the linked gemeente, and this recipient "
                "is no GEMEENTE";
      else
        fails = s_koppeling_fails(a, r, e, buf, sizeof buf);
      koppeling_checked = !fails;
    }
    if (fails)
      return s_refuse(why, whylen, "recipient %s (%s) refused: %s", to,
                      s_role((int)e->role), fails);
    holding++;
  }
  if (holding == 0)
    return s_refuse(why, whylen, "recipient %s (%s) refused: %s", to,
                    s_role((int)e->role), s_not_valid_now);
  /* Evidence nobody needed must hold too. */
  if (r->koppeling && !koppeling_checked) {
    const char *fails = s_koppeling_fails(a, r, e, buf, sizeof buf);
    if (fails)
      return s_refuse(why, whylen, "recipient %s (%s) refused: %s", to,
                      s_role((int)e->role), fails);
  }
  return KETEN_OK;
}

keten_err_t evidence_check_author(const uint8_t root_pk[32],
                                  const Keten__RegistryEntry *e,
                                  const Keten__SectionHeader *h,
                                  evidence_cache_t *cache, char *why,
                                  size_t whylen) {
  char reason[200];
  if (!h || !h->author)
    return s_refuse(why, whylen, "a section comes without its header");
  if (!e)
    return s_refuse(why, whylen, "a section comes without its author's entry");
  if (s_entry_ok(e, root_pk, cache, reason, sizeof reason) != 0)
    return s_refuse(why, whylen, "author refused: %s", reason);
  if (strcmp(e->participant_id, h->author) != 0)
    return s_refuse(why, whylen, "a section of %s comes with the entry of %s",
                    entry_valid_id(h->author) ? h->author : "?",
                    e->participant_id);
  policy_rule_t rule = policy_may_author((int)e->role, (int)h->kind);
  if (rule != POLICY_OK)
    return s_refuse(why, whylen, "a section of %s refused: %s", h->author,
                    policy_rule_text(rule));
  if (!entry_valid_at(e, h->created_at_ms))
    return s_refuse(why, whylen, "a section of %s was made outside its "
                    "signing key's validity", h->author);
  return KETEN_OK;
}

keten_err_t evidence_check_notice(const uint8_t root_pk[32],
                                  const Keten__Notice *n,
                                  evidence_cache_t *cache, char *why,
                                  size_t whylen) {
  char reason[200];
  if (!n || !canon_exact(&n->base))
    return s_refuse(why, whylen, "a notice carries unknown fields");
  if (n->kind != KETEN__NOTICE_KIND__NOTICE_CONSENT_REVOKED)
    return s_refuse(why, whylen, "a notice of an unknown kind");
  const Keten__Revocation *v = n->revocation;
  if (!v || v->consent_id.len != CANON_CONSENT_ID_BYTES ||
      v->subject.len != CANON_SUBJECT_BYTES ||
      n->consent_id.len != CANON_CONSENT_ID_BYTES ||
      n->subject.len != CANON_SUBJECT_BYTES ||
      memcmp(v->consent_id.data, n->consent_id.data, CANON_CONSENT_ID_BYTES) ||
      memcmp(v->subject.data, n->subject.data, CANON_SUBJECT_BYTES))
    return s_refuse(why, whylen, "a notice does not match its revocation");
  if (s_entry_ok(n->revoker_entry, root_pk, cache, reason, sizeof reason) != 0)
    return s_refuse(why, whylen, "a notice's signer refused: %s", reason);
  if (!entry_valid_at(n->revoker_entry, v->revoked_at_ms))
    return s_refuse(why, whylen, "a notice's signer had no valid entry when "
                    "it revoked");
  if (!v->recorded_by || strcmp(v->recorded_by,
                                n->revoker_entry->participant_id) != 0 ||
      n->revoker_entry->signing_key.len != 32 ||
      canon_verify_revocation(v, n->revoker_entry->signing_key.data) != 0)
    return s_refuse(why, whylen, "a notice's revocation does not verify with "
                    "its signer's key");
  return KETEN_OK;
}

keten_err_t evidence_check_delete_notice(const uint8_t *broker_pk,
                                         const Keten__Notice *n, char *why,
                                         size_t whylen) {
  char reason[200];
  if (!broker_pk)
    return s_refuse(why, whylen,
                    "a delete notice cannot be checked: no "
                    "broker signing key is configured");
  if (canon_notice_check_shape(n, reason, sizeof reason) != 0)
    return s_refuse(why, whylen, "a delete notice is malformed: %s", reason);
  if (canon_verify_notice(n, broker_pk) != 0)
    return s_refuse(why, whylen,
                    "a delete notice does not verify with the "
                    "broker's signing key");
  return KETEN_OK;
}
