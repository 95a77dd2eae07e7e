/* participant — one root-signed registry entry as the broker holds it, and
 * the rules for its fields (pure). A participant id may have several
 * entries (key rotation), each valid in [valid_from_ms, valid_until_ms). */
#ifndef KETEND_PARTICIPANT_H
#define KETEND_PARTICIPANT_H

#include <stdint.h>

#include "keten.pb-c.h"

#define PARTICIPANT_ID_MAX 64
#define PARTICIPANT_NAME_MAX 128
#define PARTICIPANT_KEY_BYTES 32
#define PARTICIPANT_HASH_BYTES 32

typedef struct {
  char id[PARTICIPANT_ID_MAX + 1];          /* e.g. "gemeente:0716" */
  int role;                                 /* keten.Role */
  char display_name[PARTICIPANT_NAME_MAX + 1];
  uint8_t transport_pk[PARTICIPANT_KEY_BYTES];
  uint8_t signing_pk[PARTICIPANT_KEY_BYTES];
  uint8_t sealing_pk[PARTICIPANT_KEY_BYTES];
  int64_t valid_from_ms, valid_until_ms;    /* [from, until) */
  int64_t issued_at_ms;                     /* when the root signed it */
  uint8_t root_signature[64];
  int signed_by_root;                       /* 0: a legacy entry (schema < 3) */
  uint8_t entry_hash[PARTICIPANT_HASH_BYTES]; /* BLAKE2b-256 of its canonical string */
  int64_t added_at_ms;                      /* installed in this store */
  int64_t removed_at_ms;                    /* 0 while installed */
} participant_t;

/* See entry_valid_id() and entry_valid_name() (proto/entry.h). */
int participant_valid_id(const char *id);
int participant_valid_name(const char *name);

/* Checks every field of p (id, role, name, window). Returns 1 if valid. */
int participant_valid(const participant_t *p);

/* 1 if t lies in p's validity window. */
int participant_valid_at(const participant_t *p, int64_t t);

/* Points e's fields into p (e must not outlive p). */
void participant_to_entry(const participant_t *p, Keten__RegistryEntry *e);

/* Fills p from e (checks only the shape it copies: 32-byte keys); sets
 * entry_hash. Returns 0, or -1 if e cannot be a participant. */
int participant_from_entry(const Keten__RegistryEntry *e, participant_t *p);

/* Signs p with the chain root's secret key (the beheerder's `keten root
 * sign`, and tests): sets root_signature, signed_by_root and entry_hash.
 * Returns 0, or -1 when out of memory. */
int participant_sign(participant_t *p, const uint8_t root_sk[64]);

/* Checks p's root signature with root_pk: 0 if it verifies. */
int participant_verify(const participant_t *p, const uint8_t root_pk[32],
                       char *why, size_t whylen);

#endif
