/* canon — the canonical byte strings that keten signs and binds, and the
 * signature checks over them. Pure code shared by broker and clients.
 *
 * Every string is a sequence of fields, each field written as a 4-byte
 * big-endian length followed by that many bytes; integers are fields of 8
 * bytes, big-endian. The first field is a domain tag such as
 * "keten/section/v1", so a signature over one kind of record can never be
 * taken for another. docs/protocol.md specifies each string, with test
 * vectors. Never sign "whatever the protobuf encoder produced".
 */
#ifndef KETEN_CANON_H
#define KETEN_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "keten.pb-c.h"

#define CANON_TAG_SUBJECT "keten/subject/v1"
#define CANON_TAG_SECTION "keten/section/v1"
#define CANON_TAG_SECTION_SIG "keten/section-sig/v1"
#define CANON_TAG_CONSENT "keten/consent/v1"
#define CANON_TAG_REVOCATION "keten/revocation/v2"
#define CANON_TAG_REGISTRY_ENTRY "keten/registry-entry/v1"
#define CANON_TAG_FINGERPRINT "keten/fingerprint/v1"
#define CANON_TAG_NOTICE "keten/notice/v1"
#define CANON_TAG_TREE_HEAD "keten/tree-head/v1"
#define CANON_TAG_ERASURE "keten/erasure/v1"

#define CANON_SUBJECT_BYTES 32
#define CANON_NONCE_BYTES 24
#define CANON_SIGNATURE_BYTES 64
#define CANON_KEY_BYTES 32
#define CANON_WRAP_BYTES 80       /* crypto_box_SEALBYTES + 32 */
#define CANON_CONSENT_ID_BYTES 16
#define CANON_MAX_WRAPS 64
/* The largest section plaintext (768 KiB): libketen seals and opens up to
 * it, and the broker refuses a PUT whose ciphertext is longer than it plus
 * the 16-byte AEAD tag (ERROR_TOO_LARGE). A PUT at this size with 64 wraps
 * is about 796 400 bytes, within the default max_frame_bytes (1 MiB).
 * docs/protocol.md 6.5, 7.2 and 12.1. */
#define CANON_MAX_SECTION_PLAINTEXT 786432u
#define CANON_NOTICE_ID_BYTES 16
#define CANON_MAX_NOTICE_ITEMS 64
#define CANON_MAX_TEXT 256        /* legal_reference, evidence_ref, reason */
#define CANON_MAX_NAME 128        /* a registry entry's display_name */
#define CANON_MAX_ID 64           /* a participant id */
#define CANON_ENTRY_HASH_BYTES 32 /* BLAKE2b-256 of an entry's canonical string */
#define CANON_FINGERPRINT_CHARS 50 /* "xxxx xxxx ... xxxx" (10 groups) + NUL */

/* A growing byte string; data is malloc'd (free with canon_free). On
 * allocation failure, oom is set and later appends do nothing. */
typedef struct {
  uint8_t *data;
  size_t len, cap;
  int oom;
} canon_t;

void canon_init(canon_t *c);
void canon_free(canon_t *c);
void canon_bytes(canon_t *c, const void *data, size_t len);
void canon_str(canon_t *c, const char *s);
void canon_u64(canon_t *c, uint64_t v);

/* The AEAD associated data of a section: its header's canonical string. */
int canon_section_header(canon_t *c, const Keten__SectionHeader *h);

/* What the author signs: tag, header string, nonce and ciphertext. */
int canon_section_signed(canon_t *c, const Keten__SealedSection *s);

/* What the recorder of a consent signs (sections as a bit set, so their
 * order and repetition do not matter). */
int canon_consent(canon_t *c, const Keten__Consent *k);

/* What the recorder of a revocation signs. */
int canon_revocation(canon_t *c, const Keten__Revocation *r);

/* What the chain root signs for a registry entry (every field but
 * root_signature). */
int canon_registry_entry(canon_t *c, const Keten__RegistryEntry *e);

/* What the broker signs for a NOTICE_DELETE notice: every field but
 * broker_signature (docs/protocol.md, keten/notice/v1). The items in
 * their order; revocation and revoker_entry must be unset. */
int canon_notice(canon_t *c, const Keten__Notice *n);

/* What the broker signs for a tree head of its audit log: tag, size,
 * root, timestamp_ms and broker_key (docs/protocol.md 10.6). */
int canon_tree_head(canon_t *c, const Keten__TreeHead *h);
int canon_sign_tree_head(const Keten__TreeHead *h, const uint8_t sk[64],
                         uint8_t sig[64]);
/* 0 when h's signature verifies with h->broker_key and that key is pk. */
int canon_verify_tree_head(const Keten__TreeHead *h, const uint8_t pk[32]);

/* What a controller signs to erase its sections about a subject: every
 * field of the Erasure but signature (keten/erasure/v1). */
int canon_erasure(canon_t *c, const Keten__Erasure *e);
int canon_sign_erasure(const Keten__Erasure *e, const uint8_t sk[64],
                       uint8_t sig[64]);
int canon_verify_erasure(const Keten__Erasure *e, const uint8_t pk[32]);
int canon_sign_notice(const Keten__Notice *n, const uint8_t sk[64],
                      uint8_t sig[64]);
/* 0 if n->broker_signature verifies with the broker's signing key pk. */
int canon_verify_notice(const Keten__Notice *n, const uint8_t pk[32]);

/* Checks a NOTICE_DELETE's shape: kind, known reason, 32-byte subject,
 * 16-byte notice_id, consent_id empty or 16 bytes, tvs_event_id empty or
 * 16 bytes, 1..64 items each with a known kind, a valid author id and a
 * version >= 1, no revocation or revoker_entry, a 64-byte signature, no
 * unknown fields. Returns 0, or -1 with a reason in why. */
int canon_notice_check_shape(const Keten__Notice *n, char *why, size_t whylen);

/* The entry's id: BLAKE2b-256 of its canonical string. 0, or -1. */
int canon_entry_hash(const Keten__RegistryEntry *e,
                     uint8_t out[CANON_ENTRY_HASH_BYTES]);

/* The root's signature over e: 0 if it verifies with root_pk. */
int canon_verify_entry(const Keten__RegistryEntry *e, const uint8_t root_pk[32]);
int canon_sign_entry(const Keten__RegistryEntry *e, const uint8_t root_sk[64],
                     uint8_t sig[64]);

/* The fingerprint people read to each other on the phone: BLAKE2b-160 of
 * the tag and the n 32-byte public keys, as 10 groups of 4 hex digits. */
void canon_fingerprint(const uint8_t *const *keys, size_t n,
                       char out[CANON_FINGERPRINT_CHARS]);

/* 1 if m and every message inside it carry no unknown fields: a signed
 * record must be exactly what its signature covers. */
int canon_exact(const ProtobufCMessage *m);

/* Bit set of section kinds (bit n = kind n); 0 if any kind is invalid. */
uint64_t canon_section_bits(const Keten__SectionKind *kinds, size_t n);

/* Signature checks with the signer's Ed25519 public key: 0 if valid. */
int canon_verify_section(const Keten__SealedSection *s, const uint8_t pk[32]);
int canon_verify_consent(const Keten__Consent *k, const uint8_t pk[32]);
int canon_verify_revocation(const Keten__Revocation *r, const uint8_t pk[32]);

/* Signing with an Ed25519 secret key (64 bytes): writes 64 bytes to sig.
 * Return 0, or -1 when out of memory. */
int canon_sign_section(const Keten__SealedSection *s, const uint8_t sk[64],
                       uint8_t sig[64]);
int canon_sign_consent(const Keten__Consent *k, const uint8_t sk[64],
                       uint8_t sig[64]);
int canon_sign_revocation(const Keten__Revocation *r, const uint8_t sk[64],
                          uint8_t sig[64]);

/* Name of a section kind without prefix ("HEALTH"), or NULL. */
const char *canon_kind_name(int kind);
/* Kind number for "HEALTH"/"health"/"SECTION_HEALTH", or 0. */
int canon_kind_from_name(const char *name);
/* Same for purposes ("ZORG") and bases ("LEGAL_DUTY"). */
const char *canon_purpose_name(int purpose);
int canon_purpose_from_name(const char *name);
const char *canon_basis_name(int basis);
int canon_basis_from_name(const char *name);

#endif
