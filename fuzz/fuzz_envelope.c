/* fuzz_envelope — every frame's first steps: envelope_decode() and
 * envelope_validate(), then the canonical strings, shape checks and
 * signature checks that the broker and libketen run on what a frame
 * carries (registry entries, sealed sections, consents, revocations,
 * notices, TVS events), each only where the real code reaches it: shape
 * checks on anything decoded, canonical strings of what passed them or
 * of a validated request. Input: one frame, as it comes off the wire. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "entry.h"
#include "envelope.h"
#include "fuzz_world.h"
#include "tvs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t s_root_pk[32], s_signing_pk[32];
static volatile uint64_t s_sink;

static void s_init(void) {
  static int done;
  if (done)
    return;
  keten_root_key_t root;
  keten_keys_t k;
  fuzz_root(&root);
  fuzz_keys("coa", &k);
  memcpy(s_root_pk, root.public_key, 32);
  memcpy(s_signing_pk, k.signing_pk, 32);
  done = 1;
}

static void s_sink_canon(canon_t *c) {
  for (size_t i = 0; i < c->len; i++)
    s_sink += c->data[i];
  canon_free(c);
}

static void s_entry(const Keten__RegistryEntry *e) {
  char why[256];
  if (!e)
    return;
  if (entry_check_shape(e, why, sizeof why) != 0)
    return;
  uint8_t hash[CANON_ENTRY_HASH_BYTES];
  canon_t c;
  canon_init(&c);
  canon_registry_entry(&c, e);
  s_sink_canon(&c);
  canon_entry_hash(e, hash);
  s_sink += hash[0] + (uint64_t)entry_check(e, s_root_pk, why, sizeof why) +
            (uint64_t)entry_valid_at(e, (uint64_t)FUZZ_ISSUED_AT_MS);
}

static void s_tvs(const Keten__TvsEvent *ev) {
  char why[256];
  if (!ev || tvs_event_check_shape(ev, why, sizeof why) != 0)
    return;
  uint8_t *out = NULL;
  size_t len = 0;
  if (tvs_event_canon(ev, &out, &len) == 0) {
    for (size_t i = 0; i < len; i++)
      s_sink += out[i];
    free(out);
  }
  const char *g[2];
  s_sink += tvs_event_gemeenten(ev, g) + (uint64_t)tvs_event_verify(ev, s_signing_pk);
}

static void s_tvs_copy(const Keten__TvsEventCopy *t) {
  if (!t)
    return;
  s_tvs(t->event);
  s_entry(t->publisher_entry);
}

static void s_consent(const Keten__Consent *k, int validated) {
  if (!k || !validated)
    return;
  canon_t c;
  canon_init(&c);
  canon_consent(&c, k);
  s_sink_canon(&c);
  s_sink += (uint64_t)canon_verify_consent(k, s_signing_pk) +
            canon_section_bits(k->sections, k->n_sections);
}

static void s_revocation(const Keten__Revocation *r, int validated) {
  if (!r || !validated)
    return;
  canon_t c;
  canon_init(&c);
  canon_revocation(&c, r);
  s_sink_canon(&c);
  s_sink += (uint64_t)canon_verify_revocation(r, s_signing_pk);
}

static void s_section(const Keten__SealedSection *s, int validated) {
  if (!s || !validated)
    return;
  canon_t c;
  canon_init(&c);
  if (s->header)
    canon_section_header(&c, s->header);
  s_sink_canon(&c);
  canon_init(&c);
  canon_section_signed(&c, s);
  s_sink_canon(&c);
  s_sink += (uint64_t)canon_verify_section(s, s_signing_pk);
}

static void s_copy(const Keten__SectionCopy *sc, int validated) {
  if (!sc)
    return;
  s_section(sc->section, validated);
  s_entry(sc->author_entry);
}

static void s_notice(const Keten__Notice *n) {
  char why[256];
  if (!n)
    return;
  if (canon_notice_check_shape(n, why, sizeof why) == 0) {
    canon_t c;
    canon_init(&c);
    canon_notice(&c, n);
    s_sink_canon(&c);
    s_sink += (uint64_t)canon_verify_notice(n, s_signing_pk);
  }
  s_entry(n->revoker_entry);
}

static void s_recipient(const Keten__Recipient *r, int validated) {
  if (!r)
    return;
  s_entry(r->entry);
  for (size_t i = 0; i < r->n_consents; i++)
    s_consent(r->consents[i], validated);
  s_tvs_copy(r->koppeling);
}

/* What the frame carries, the way its reader gets to it. */
static void s_walk(const Keten__Envelope *env, int validated) {
  switch (env->body_case) {
  case KETEN__ENVELOPE__BODY_PUT:
    s_section(env->put->section, validated);
    break;
  case KETEN__ENVELOPE__BODY_CONSENT_GRANT:
    s_consent(env->consent_grant->consent, validated);
    break;
  case KETEN__ENVELOPE__BODY_CONSENT_REVOKE:
    s_revocation(env->consent_revoke->revocation, validated);
    break;
  case KETEN__ENVELOPE__BODY_TVS_PUBLISH:
    s_tvs(env->tvs_publish->event);
    break;
  /* replies and deliveries: libketen checks the shapes itself */
  case KETEN__ENVELOPE__BODY_PREPARED:
    for (size_t i = 0; i < env->prepared->n_recipients; i++)
      s_recipient(env->prepared->recipients[i], validated);
    break;
  case KETEN__ENVELOPE__BODY_FETCHED:
    for (size_t i = 0; i < env->fetched->n_sections; i++)
      s_copy(env->fetched->sections[i], validated);
    break;
  case KETEN__ENVELOPE__BODY_CONSENTS:
    for (size_t i = 0; i < env->consents->n_consents; i++)
      if (env->consents->consents[i])
        s_consent(env->consents->consents[i]->consent, validated);
    break;
  case KETEN__ENVELOPE__BODY_DELIVER:
    for (size_t i = 0; i < env->deliver->n_items; i++) {
      const Keten__Delivery *d = env->deliver->items[i];
      if (!d)
        continue;
      s_copy(d->section, validated);
      s_notice(d->notice);
      s_tvs_copy(d->tvs_event);
      if (d->rewrap) {
        s_copy(d->rewrap->section, validated);
        s_recipient(d->rewrap->recipient, validated);
      }
    }
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_init();
  envelope_error_t err;
  Keten__Envelope *env =
      envelope_decode(data, size, ENVELOPE_DEFAULT_MAX_FRAME, &err);
  if (!env) {
    s_sink += strlen(err.reason) + (uint64_t)err.code;
    return 0;
  }
  int ok = envelope_validate(env, &err) == 0;
  if (!ok)
    s_sink += strlen(err.reason) + (uint64_t)err.code +
              strlen(envelope_error_name(err.code));
  s_sink += (uint64_t)canon_exact(&env->base) +
            (uint64_t)envelope_has_message_id(env);
  s_walk(env, ok);
  /* What the broker does with a request it answers: a reply of it. */
  Keten__Envelope reply;
  envelope_ids_t ids;
  envelope_init(&reply, &ids, env);
  Keten__Ok body = KETEN__OK__INIT;
  reply.body_case = KETEN__ENVELOPE__BODY_OK;
  reply.ok = &body;
  size_t len = 0;
  uint8_t *packed = envelope_pack(&reply, &len);
  free(packed);
  envelope_free(env);
  return 0;
}
