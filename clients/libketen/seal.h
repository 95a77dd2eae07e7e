/* seal — sealing and opening profile sections (internal to libketen).
 *
 * Seal: a random 32-byte data key K; XChaCha20-Poly1305-IETF over the
 * plaintext with the canonical section header (canon_section_header) as
 * associated data and a random 24-byte nonce; an Ed25519 signature of the
 * author over canon_section_signed(); K sealed (crypto_box_seal) to the
 * author itself and to each recipient. Open: verify the signature, find
 * the reader's wrap, unseal K, decrypt with the header as associated data.
 */
#ifndef KETEN_SEAL_H
#define KETEN_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "canon.h"
#include "keten.h"
#include "keten.pb-c.h"

#define SEAL_DATA_KEY_BYTES 32
#define SEAL_MAX_PLAINTEXT CANON_MAX_SECTION_PLAINTEXT /* 768 KiB */

typedef struct {
  const char *participant_id;
  const uint8_t *sealing_key;    /* 32-byte X25519 public key */
} seal_recipient_t;

/* Seals len bytes of plaintext under header h for the author (keys, which
 * must hold secrets and whose wrap is labelled h->author) and the n
 * recipients. Returns a new SealedSection owned by the caller (free with
 * seal_section_free), or NULL with *err set. */
Keten__SealedSection *seal_section(const keten_section_header_t *h,
                                   const void *plaintext, size_t len,
                                   const keten_keys_t *author,
                                   const seal_recipient_t *recipients,
                                   size_t n, keten_err_t *err);

/* As seal_section() with a given data key and nonce: deterministic apart
 * from the wraps. For test vectors only. */
Keten__SealedSection *seal_section_with(const keten_section_header_t *h,
                                        const void *plaintext, size_t len,
                                        const keten_keys_t *author,
                                        const seal_recipient_t *recipients,
                                        size_t n,
                                        const uint8_t key[SEAL_DATA_KEY_BYTES],
                                        const uint8_t nonce[24],
                                        keten_err_t *err);

/* Frees a section made by seal_section(); NULL is ignored. */
void seal_section_free(Keten__SealedSection *s);

/* Opens s for reader (participant id reader_id, secret keys in reader):
 * checks the header's shape, verifies the signature with the author's
 * Ed25519 key, unseals the reader's wrap and decrypts. Fills out (free
 * its json by wiping json_len + 1 bytes and free(); keten_sections_free()
 * is for arrays the library allocated). Returns KETEN_ERR_CRYPTO
 * when anything does not verify (signature, wrap, ciphertext, header
 * shape) or there is no wrap for reader_id, with a reason in why. */
keten_err_t seal_open(const Keten__SealedSection *s,
                      const uint8_t author_signing_key[32],
                      const char *reader_id, const keten_keys_t *reader,
                      keten_section_t *out, char *why, size_t whylen);

/* As seal_open(), but gives the data key instead of the plaintext: the
 * signature, the reader's wrap and the ciphertext under its header are
 * all verified, the plaintext wiped at once. The caller wipes key
 * (sodium_memzero). On failure key is zeros. */
keten_err_t seal_open_key(const Keten__SealedSection *s,
                          const uint8_t author_signing_key[32],
                          const char *reader_id, const keten_keys_t *reader,
                          uint8_t key[SEAL_DATA_KEY_BYTES], char *why,
                          size_t whylen);

/* Converts between the public header and the wire header. The wire header
 * points into h (subject, author) and must not outlive it. */
void seal_header_to_wire(const keten_section_header_t *h,
                         Keten__SectionHeader *wire);
int seal_header_from_wire(const Keten__SectionHeader *wire,
                          keten_section_header_t *h);

#endif
