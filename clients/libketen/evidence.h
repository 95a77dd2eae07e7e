/* evidence — what libketen checks before it trusts the broker (pure: the
 * keys and the time are given; internal to libketen).
 *
 * An author seals only to recipients whose evidence holds: a registry
 * entry signed by the pinned chain root and valid now, and at least one
 * consent the author itself signed, active now, covering the subject, the
 * kind and that participant, for a purpose and basis the policy allows to
 * its role. A reader opens a section only with the signing key of the
 * author's root-signed entry, whose role may write that kind. A notice
 * counts only with its signer's root-signed entry and a valid signature;
 * a delete notice only with the broker's signature. A TVS event (in a
 * gemeente's feed, or as the koppeling that makes a consent naming
 * "@gemeente" count) only with its publisher's root-signed TVS entry and
 * a valid signature.
 */
#ifndef KETEN_EVIDENCE_H
#define KETEN_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "keten.h"
#include "keten.pb-c.h"

#define EVIDENCE_MAX_OWN_KEYS 9   /* current + previous_keys */
#define EVIDENCE_CACHE_SIZE 128

/* Signatures already verified: (BLAKE2b-256 of the signed canonical
 * string, signature) pairs, so that the same author entry on every
 * delivery, or the same consent on every put, is verified once. One cache
 * serves one client (one root key, one set of own keys). Zero it to start. */
typedef struct {
  uint8_t hash[EVIDENCE_CACHE_SIZE][32];
  uint8_t sig[EVIDENCE_CACHE_SIZE][64];
  size_t n, next;
} evidence_cache_t;

/* Who the author is, and what it is about to seal. */
typedef struct {
  const uint8_t *root_pk;                     /* 32 bytes */
  const char *self_id;                        /* the author's participant id */
  const uint8_t *own_signing_keys[EVIDENCE_MAX_OWN_KEYS]; /* 32 bytes each */
  size_t n_own;
  const uint8_t *subject;                     /* 32 bytes */
  int kind;
  uint64_t now_ms;
  evidence_cache_t *cache;                    /* may be NULL */
} evidence_author_t;

/* Checks one PREPARE candidate (or the recipient of a rewrap request).
 * A consent naming "@gemeente" counts only for a GEMEENTE recipient and
 * with r->koppeling: a KOPPELING of a's subject to that recipient,
 * published by a root-signed TVS entry valid at published_at_ms and
 * signed with its key (evidence_check_tvs_event). A koppeling, when
 * present, must hold even if no consent needs it. Returns KETEN_OK, or
 * KETEN_ERR_EVIDENCE with a reason naming the recipient in why. */
keten_err_t evidence_check_recipient(const evidence_author_t *a,
                                     const Keten__Recipient *r, char *why,
                                     size_t whylen);

/* Checks the entry that comes with a section: signed by the root, for the
 * header's author, whose role writes the header's kind, valid when the
 * section was made. KETEN_OK or KETEN_ERR_EVIDENCE with why. */
keten_err_t evidence_check_author(const uint8_t root_pk[32],
                                  const Keten__RegistryEntry *e,
                                  const Keten__SectionHeader *h,
                                  evidence_cache_t *cache, char *why,
                                  size_t whylen);

/* Checks a notice: its signer's root-signed entry and the signature of the
 * revocation it carries. KETEN_OK or KETEN_ERR_EVIDENCE with why. */
keten_err_t evidence_check_notice(const uint8_t root_pk[32],
                                  const Keten__Notice *n,
                                  evidence_cache_t *cache, char *why,
                                  size_t whylen);

/* Checks a delete notice (NOTICE_DELETE): its shape
 * (canon_notice_check_shape) and the broker's signature with broker_pk,
 * the signing key of broker.pub; broker_pk NULL (not configured) refuses
 * every one. KETEN_OK or KETEN_ERR_EVIDENCE with why. */
keten_err_t evidence_check_delete_notice(const uint8_t *broker_pk,
                                         const Keten__Notice *n, char *why,
                                         size_t whylen);

/* Checks a TVS event as it is handed over (event and publisher entry):
 * KETEN_ERR_PROTOCOL when it is malformed (tvs_event_check_shape, unknown
 * fields), KETEN_ERR_EVIDENCE when the publisher's entry is not signed by
 * the root, not of role TVS, not valid at published_at_ms or not
 * published_by's, KETEN_ERR_CRYPTO when the signature does not verify
 * with the entry's signing key; KETEN_OK. why says which. */
keten_err_t evidence_check_tvs_event(const uint8_t root_pk[32],
                                     const Keten__TvsEventCopy *copy,
                                     evidence_cache_t *cache, char *why,
                                     size_t whylen);

#endif
