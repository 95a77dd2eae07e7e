/* participant — a registry entry as the broker holds it. */
#include "participant.h"

#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "entry.h"
#include "roles.h"

int participant_valid_id(const char *id) { return entry_valid_id(id); }

int participant_valid_name(const char *name) { return entry_valid_name(name); }

int participant_valid(const participant_t *p) {
  return entry_valid_id(p->id) && roles_name(p->role) != NULL &&
         entry_valid_name(p->display_name) &&
         p->valid_until_ms > p->valid_from_ms && p->valid_from_ms >= 0;
}

int participant_valid_at(const participant_t *p, int64_t t) {
  return p->valid_from_ms <= t && t < p->valid_until_ms;
}

void participant_to_entry(const participant_t *p, Keten__RegistryEntry *e) {
  keten__registry_entry__init(e);
  e->participant_id = (char *)p->id;
  e->role = (Keten__Role)p->role;
  e->display_name = (char *)p->display_name;
  e->transport_key.data = (uint8_t *)p->transport_pk;
  e->transport_key.len = PARTICIPANT_KEY_BYTES;
  e->signing_key.data = (uint8_t *)p->signing_pk;
  e->signing_key.len = PARTICIPANT_KEY_BYTES;
  e->sealing_key.data = (uint8_t *)p->sealing_pk;
  e->sealing_key.len = PARTICIPANT_KEY_BYTES;
  e->valid_from_ms = (uint64_t)p->valid_from_ms;
  e->valid_until_ms = (uint64_t)p->valid_until_ms;
  e->issued_at_ms = (uint64_t)p->issued_at_ms;
  if (p->signed_by_root) {
    e->root_signature.data = (uint8_t *)p->root_signature;
    e->root_signature.len = sizeof p->root_signature;
  }
}

int participant_from_entry(const Keten__RegistryEntry *e, participant_t *p) {
  memset(p, 0, sizeof *p);
  if (!e || !e->participant_id || strlen(e->participant_id) > PARTICIPANT_ID_MAX ||
      !e->display_name || strlen(e->display_name) > PARTICIPANT_NAME_MAX ||
      e->transport_key.len != 32 || e->signing_key.len != 32 ||
      e->sealing_key.len != 32 || e->valid_from_ms > (uint64_t)INT64_MAX ||
      e->valid_until_ms > (uint64_t)INT64_MAX ||
      e->issued_at_ms > (uint64_t)INT64_MAX ||
      (e->root_signature.len != 0 && e->root_signature.len != 64))
    return -1;
  snprintf(p->id, sizeof p->id, "%s", e->participant_id);
  p->role = (int)e->role;
  snprintf(p->display_name, sizeof p->display_name, "%s", e->display_name);
  memcpy(p->transport_pk, e->transport_key.data, 32);
  memcpy(p->signing_pk, e->signing_key.data, 32);
  memcpy(p->sealing_pk, e->sealing_key.data, 32);
  p->valid_from_ms = (int64_t)e->valid_from_ms;
  p->valid_until_ms = (int64_t)e->valid_until_ms;
  p->issued_at_ms = (int64_t)e->issued_at_ms;
  if (e->root_signature.len == 64) {
    memcpy(p->root_signature, e->root_signature.data, 64);
    p->signed_by_root = 1;
  }
  return canon_entry_hash(e, p->entry_hash);
}

int participant_sign(participant_t *p, const uint8_t root_sk[64]) {
  Keten__RegistryEntry e;
  participant_to_entry(p, &e);
  if (canon_sign_entry(&e, root_sk, p->root_signature) != 0)
    return -1;
  p->signed_by_root = 1;
  participant_to_entry(p, &e);
  return canon_entry_hash(&e, p->entry_hash);
}

int participant_verify(const participant_t *p, const uint8_t root_pk[32],
                       char *why, size_t whylen) {
  Keten__RegistryEntry e;
  participant_to_entry(p, &e);
  if (!p->signed_by_root) {
    snprintf(why, whylen,
             "registry entry %s is not signed by the chain root (an entry "
             "from before keten 0.2: export it, have it signed, install it "
             "again)",
             p->id);
    return -1;
  }
  return entry_check(&e, root_pk, why, whylen);
}
