/* canon — canonical byte strings of signed records, and their signatures. */
#include "canon.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "enums.h"

void canon_init(canon_t *c) { memset(c, 0, sizeof *c); }

void canon_free(canon_t *c) {
  /* Canonical strings can hold a V-nummer (subject derivation): wipe. */
  if (c->data)
    sodium_memzero(c->data, c->cap);
  free(c->data);
  memset(c, 0, sizeof *c);
}

static void s_append(canon_t *c, const void *data, size_t len) {
  if (c->oom)
    return;
  if (c->len + len > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + len)
      cap *= 2;
    /* Not realloc: it could leave an unwiped copy behind. */
    uint8_t *grown = malloc(cap);
    if (!grown) {
      c->oom = 1;
      return;
    }
    if (c->data) {
      memcpy(grown, c->data, c->len);
      sodium_memzero(c->data, c->cap);
      free(c->data);
    }
    c->data = grown;
    c->cap = cap;
  }
  if (len)
    memcpy(c->data + c->len, data, len);
  c->len += len;
}

void canon_bytes(canon_t *c, const void *data, size_t len) {
  uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                   (uint8_t)(len >> 8), (uint8_t)len};
  s_append(c, be, 4);
  s_append(c, data, len);
}

void canon_str(canon_t *c, const char *s) {
  canon_bytes(c, s ? s : "", s ? strlen(s) : 0);
}

void canon_u64(canon_t *c, uint64_t v) {
  uint8_t be[8];
  for (int i = 7; i >= 0; i--, v >>= 8)
    be[i] = (uint8_t)v;
  canon_bytes(c, be, 8);
}

int canon_section_header(canon_t *c, const Keten__SectionHeader *h) {
  canon_str(c, CANON_TAG_SECTION);
  canon_bytes(c, h->subject.data, h->subject.len);
  canon_u64(c, (uint64_t)h->kind);
  canon_str(c, h->author);
  canon_u64(c, h->version);
  canon_u64(c, h->created_at_ms);
  return c->oom ? -1 : 0;
}

int canon_section_signed(canon_t *c, const Keten__SealedSection *s) {
  canon_t header;
  canon_init(&header);
  if (!s->header || canon_section_header(&header, s->header) != 0) {
    canon_free(&header);
    return -1;
  }
  canon_str(c, CANON_TAG_SECTION_SIG);
  canon_bytes(c, header.data, header.len);
  canon_bytes(c, s->nonce.data, s->nonce.len);
  canon_bytes(c, s->ciphertext.data, s->ciphertext.len);
  canon_free(&header);
  return c->oom ? -1 : 0;
}

uint64_t canon_section_bits(const Keten__SectionKind *kinds, size_t n) {
  uint64_t bits = 0;
  for (size_t i = 0; i < n; i++) {
    if (!canon_kind_name((int)kinds[i]))
      return 0;
    bits |= UINT64_C(1) << kinds[i];
  }
  return bits;
}

int canon_consent(canon_t *c, const Keten__Consent *k) {
  uint64_t bits = canon_section_bits(k->sections, k->n_sections);
  if (bits == 0)
    return -1; /* no or an unknown section kind: nothing to sign */
  canon_str(c, CANON_TAG_CONSENT);
  canon_bytes(c, k->consent_id.data, k->consent_id.len);
  canon_bytes(c, k->subject.data, k->subject.len);
  canon_str(c, k->recorded_by);
  canon_str(c, k->recipient);
  canon_u64(c, bits);
  canon_u64(c, (uint64_t)k->purpose);
  canon_u64(c, (uint64_t)k->basis);
  canon_str(c, k->legal_reference);
  canon_u64(c, k->valid_from_ms);
  canon_u64(c, k->valid_until_ms);
  canon_str(c, k->evidence_ref);
  canon_u64(c, k->recorded_at_ms);
  return c->oom ? -1 : 0;
}

int canon_revocation(canon_t *c, const Keten__Revocation *r) {
  canon_str(c, CANON_TAG_REVOCATION);
  canon_bytes(c, r->consent_id.data, r->consent_id.len);
  canon_bytes(c, r->subject.data, r->subject.len);
  canon_str(c, r->recorded_by);
  canon_u64(c, r->revoked_at_ms);
  canon_str(c, r->reason);
  canon_str(c, r->evidence_ref);
  return c->oom ? -1 : 0;
}

int canon_registry_entry(canon_t *c, const Keten__RegistryEntry *e) {
  canon_str(c, CANON_TAG_REGISTRY_ENTRY);
  canon_str(c, e->participant_id);
  canon_u64(c, (uint64_t)e->role);
  canon_str(c, e->display_name);
  canon_bytes(c, e->transport_key.data, e->transport_key.len);
  canon_bytes(c, e->signing_key.data, e->signing_key.len);
  canon_bytes(c, e->sealing_key.data, e->sealing_key.len);
  canon_u64(c, e->valid_from_ms);
  canon_u64(c, e->valid_until_ms);
  canon_u64(c, e->issued_at_ms);
  return c->oom ? -1 : 0;
}

int canon_notice(canon_t *c, const Keten__Notice *n) {
  if (n->revocation || n->revoker_entry)
    return -1; /* a revocation notice: signed by its recorder, not here */
  for (size_t i = 0; i < n->n_items; i++)
    if (!n->items[i])
      return -1;
  canon_str(c, CANON_TAG_NOTICE);
  canon_bytes(c, n->notice_id.data, n->notice_id.len);
  canon_u64(c, (uint64_t)n->kind);
  canon_u64(c, (uint64_t)n->reason);
  canon_bytes(c, n->subject.data, n->subject.len);
  canon_bytes(c, n->consent_id.data, n->consent_id.len);
  canon_bytes(c, n->tvs_event_id.data, n->tvs_event_id.len);
  canon_u64(c, n->created_at_ms);
  canon_u64(c, n->n_items);
  for (size_t i = 0; i < n->n_items; i++) {
    canon_u64(c, (uint64_t)n->items[i]->kind);
    canon_str(c, n->items[i]->author);
    canon_u64(c, n->items[i]->up_to_version);
  }
  return c->oom ? -1 : 0;
}

int canon_tree_head(canon_t *c, const Keten__TreeHead *h) {
  if (h->root.len != 32 || h->broker_key.len != 32)
    return -1;
  canon_str(c, CANON_TAG_TREE_HEAD);
  canon_u64(c, h->size);
  canon_bytes(c, h->root.data, h->root.len);
  canon_u64(c, h->timestamp_ms);
  canon_bytes(c, h->broker_key.data, h->broker_key.len);
  return c->oom ? -1 : 0;
}

int canon_erasure(canon_t *c, const Keten__Erasure *e) {
  if (e->erasure_id.len != 16 || e->subject.len != 32 || !e->author ||
      !e->reason)
    return -1;
  canon_str(c, CANON_TAG_ERASURE);
  canon_bytes(c, e->erasure_id.data, e->erasure_id.len);
  canon_bytes(c, e->subject.data, e->subject.len);
  canon_str(c, e->author);
  canon_u64(c, e->kinds);
  canon_u64(c, e->erase_evidence ? 1 : 0);
  canon_str(c, e->reason);
  canon_u64(c, e->requested_at_ms);
  return c->oom ? -1 : 0;
}

/* The item rules of canon_notice_check_shape(), or NULL. */
static const char *s_notice_items(const Keten__Notice *n) {
  if (n->n_items < 1 || n->n_items > CANON_MAX_NOTICE_ITEMS)
    return "delete notice must name 1..64 items";
  for (size_t i = 0; i < n->n_items; i++) {
    const Keten__NoticeItem *it = n->items[i];
    if (!it)
      return "delete notice has an empty item";
    if (!canon_kind_name((int)it->kind))
      return "delete notice item has an unknown section kind";
    if (!entry_valid_id(it->author))
      return "delete notice item author is not a valid participant id";
    if (it->up_to_version < 1)
      return "delete notice item up_to_version must be at least 1";
  }
  return NULL;
}

int canon_notice_check_shape(const Keten__Notice *n, char *why,
                             size_t whylen) {
  const char *reason = NULL;
  if (!n)
    reason = "no notice";
  else if (!canon_exact(&n->base))
    reason = "delete notice carries fields its signature does not cover";
  else if (n->kind != KETEN__NOTICE_KIND__NOTICE_DELETE)
    reason = "notice is not a delete notice";
  else if (!enums_name(&keten__notice_reason__descriptor, (int)n->reason,
                       "NOTICE_REASON_"))
    reason = "delete notice has an unknown reason";
  else if (n->notice_id.len != CANON_NOTICE_ID_BYTES)
    reason = "delete notice notice_id must be 16 bytes";
  else if (n->subject.len != CANON_SUBJECT_BYTES)
    reason = "delete notice subject must be 32 bytes";
  else if (n->consent_id.len != 0 &&
           n->consent_id.len != CANON_CONSENT_ID_BYTES)
    reason = "delete notice consent_id must be empty or 16 bytes";
  else if (n->tvs_event_id.len != 0 &&
           n->tvs_event_id.len != 16) /* TVS_EVENT_ID_BYTES */
    reason = "delete notice tvs_event_id must be empty or 16 bytes";
  else if (n->revocation || n->revoker_entry)
    reason = "delete notice carries a revocation";
  else if ((n->reason == KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED ||
            n->reason == KETEN__NOTICE_REASON__NOTICE_REASON_EXPIRED) &&
           (n->consent_id.len == 0 || n->tvs_event_id.len != 0))
    reason = "a delete notice for a revoked or expired consent names that "
             "consent and no TVS event";
  else if (n->reason == KETEN__NOTICE_REASON__NOTICE_REASON_ONTKOPPELD &&
           (n->tvs_event_id.len == 0 || n->consent_id.len != 0))
    reason = "a delete notice for an ended link names its TVS event and no "
             "consent";
  else if (n->broker_signature.len != CANON_SIGNATURE_BYTES)
    reason = "delete notice broker_signature must be 64 bytes";
  else
    reason = s_notice_items(n);
  if (reason && why && whylen)
    snprintf(why, whylen, "%s", reason);
  return reason ? -1 : 0;
}

int canon_entry_hash(const Keten__RegistryEntry *e,
                     uint8_t out[CANON_ENTRY_HASH_BYTES]) {
  canon_t c;
  canon_init(&c);
  int rc = canon_registry_entry(&c, e);
  if (rc == 0)
    crypto_generichash(out, CANON_ENTRY_HASH_BYTES, c.data, c.len, NULL, 0);
  canon_free(&c);
  return rc;
}

void canon_fingerprint(const uint8_t *const *keys, size_t n,
                       char out[CANON_FINGERPRINT_CHARS]) {
  canon_t c;
  canon_init(&c);
  canon_str(&c, CANON_TAG_FINGERPRINT);
  for (size_t i = 0; i < n; i++)
    canon_bytes(&c, keys[i], 32);
  uint8_t h[20];
  memset(h, 0, sizeof h);
  if (!c.oom)
    crypto_generichash(h, sizeof h, c.data, c.len, NULL, 0);
  canon_free(&c);
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < sizeof h; i++) {
    if (i && i % 2 == 0)
      out[o++] = ' ';
    out[o++] = hex[h[i] >> 4];
    out[o++] = hex[h[i] & 15];
  }
  out[o] = '\0';
}

int canon_exact(const ProtobufCMessage *m) {
  if (!m)
    return 1;
  if (m->n_unknown_fields)
    return 0;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which;
      memcpy(&which, base + f->quantifier_offset, sizeof which);
      if (which != f->id)
        continue;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n;
      const ProtobufCMessage *const *items;
      memcpy(&n, base + f->quantifier_offset, sizeof n);
      memcpy(&items, base + f->offset, sizeof items);
      for (size_t j = 0; j < n; j++)
        if (!canon_exact(items[j]))
          return 0;
    } else {
      const ProtobufCMessage *sub;
      memcpy(&sub, base + f->offset, sizeof sub);
      if (!canon_exact(sub))
        return 0;
    }
  }
  return 1;
}

static int s_verify(canon_t *c, int built, const ProtobufCBinaryData *sig,
                    const uint8_t pk[32]) {
  int rc = -1;
  if (built == 0 && sig->len == CANON_SIGNATURE_BYTES)
    rc = crypto_sign_verify_detached(sig->data, c->data, c->len, pk) == 0
             ? 0
             : -1;
  canon_free(c);
  return rc;
}

int canon_verify_section(const Keten__SealedSection *s, const uint8_t pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_section_signed(&c, s), &s->signature, pk);
}

int canon_verify_consent(const Keten__Consent *k, const uint8_t pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_consent(&c, k), &k->signature, pk);
}

int canon_verify_revocation(const Keten__Revocation *r, const uint8_t pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_revocation(&c, r), &r->signature, pk);
}

int canon_verify_entry(const Keten__RegistryEntry *e,
                       const uint8_t root_pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_registry_entry(&c, e), &e->root_signature, root_pk);
}

int canon_verify_notice(const Keten__Notice *n, const uint8_t pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_notice(&c, n), &n->broker_signature, pk);
}

int canon_verify_tree_head(const Keten__TreeHead *h, const uint8_t pk[32]) {
  if (h->broker_key.len != 32 ||
      sodium_memcmp(h->broker_key.data, pk, 32) != 0)
    return -1;
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_tree_head(&c, h), &h->signature, pk);
}

int canon_verify_erasure(const Keten__Erasure *e, const uint8_t pk[32]) {
  canon_t c;
  canon_init(&c);
  return s_verify(&c, canon_erasure(&c, e), &e->signature, pk);
}

static int s_sign(canon_t *c, int built, const uint8_t sk[64],
                  uint8_t sig[64]) {
  int rc = -1;
  if (built == 0)
    rc = crypto_sign_detached(sig, NULL, c->data, c->len, sk);
  canon_free(c);
  return rc;
}

int canon_sign_section(const Keten__SealedSection *s, const uint8_t sk[64],
                       uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_section_signed(&c, s), sk, sig);
}

int canon_sign_consent(const Keten__Consent *k, const uint8_t sk[64],
                       uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_consent(&c, k), sk, sig);
}

int canon_sign_revocation(const Keten__Revocation *r, const uint8_t sk[64],
                          uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_revocation(&c, r), sk, sig);
}

int canon_sign_entry(const Keten__RegistryEntry *e, const uint8_t root_sk[64],
                     uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_registry_entry(&c, e), root_sk, sig);
}

int canon_sign_notice(const Keten__Notice *n, const uint8_t sk[64],
                      uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_notice(&c, n), sk, sig);
}

const char *canon_kind_name(int kind) {
  return enums_name(&keten__section_kind__descriptor, kind, "SECTION_");
}
int canon_kind_from_name(const char *name) {
  return enums_value(&keten__section_kind__descriptor, name, "SECTION_");
}
const char *canon_purpose_name(int purpose) {
  return enums_name(&keten__purpose__descriptor, purpose, "PURPOSE_");
}
int canon_purpose_from_name(const char *name) {
  return enums_value(&keten__purpose__descriptor, name, "PURPOSE_");
}
const char *canon_basis_name(int basis) {
  return enums_name(&keten__basis__descriptor, basis, "BASIS_");
}
int canon_basis_from_name(const char *name) {
  return enums_value(&keten__basis__descriptor, name, "BASIS_");
}

int canon_sign_tree_head(const Keten__TreeHead *h, const uint8_t sk[64],
                         uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_tree_head(&c, h), sk, sig);
}

int canon_sign_erasure(const Keten__Erasure *e, const uint8_t sk[64],
                       uint8_t sig[64]) {
  canon_t c;
  canon_init(&c);
  return s_sign(&c, canon_erasure(&c, e), sk, sig);
}
