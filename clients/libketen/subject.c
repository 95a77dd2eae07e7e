/* subject — the chain key, subject pseudonyms, and names of section kinds,
 * purposes and bases.
 *
 * Chain key file (text, mode 0600, lower-case hex):
 *
 *   keten-chain-key 1
 *   <64 hex>
 *
 * Subject id (docs/test-vectors.md has the vectors):
 *
 *   subject = BLAKE2b-256(key = chain key,
 *                         msg = str("keten/subject/v1") || str(ten digits))
 *
 * where str(s) is a 4-byte big-endian length followed by the bytes of s,
 * and the ten digits are the V-nummer with spaces, dots and dashes removed.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "keten.h"
#include "keyfile.h"

#define CHAINKEY_MAGIC "keten-chain-key 1"
#define CHAINKEY_MAX 256 /* a valid file has 18 + 65 bytes */
#define V_NUMMER_DIGITS 10

_Static_assert(KETEN_CHAIN_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN &&
                   KETEN_CHAIN_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
               "chain key fits BLAKE2b");
_Static_assert(KETEN_SUBJECT_BYTES == CANON_SUBJECT_BYTES, "subject size");

/* ---- chain key ----------------------------------------------------------- */

keten_err_t keten_chain_key_generate(uint8_t key[KETEN_CHAIN_KEY_BYTES]) {
  if (!key)
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  randombytes_buf(key, KETEN_CHAIN_KEY_BYTES);
  return KETEN_OK;
}

/* Writes text to path with mode, exclusively unless overwrite, and syncs. */
keten_err_t keten_chain_key_save(const uint8_t key[KETEN_CHAIN_KEY_BYTES],
                                 const char *path, int overwrite) {
  if (!key || !path)
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  char hex[2 * KETEN_CHAIN_KEY_BYTES + 1];
  char text[sizeof CHAINKEY_MAGIC + sizeof hex + 1];
  sodium_bin2hex(hex, sizeof hex, key, KETEN_CHAIN_KEY_BYTES);
  snprintf(text, sizeof text, CHAINKEY_MAGIC "\n%s\n", hex);
  keten_err_t rc = keyfile_write(path, text, 0600, overwrite);
  sodium_memzero(hex, sizeof hex);
  sodium_memzero(text, sizeof text);
  return rc;
}

/* Parses the text of a chain key file: the magic line, one line of exactly
 * 64 hex digits, and nothing else (the final newline may be missing). */
static keten_err_t s_parse(const char *text, size_t len,
                           uint8_t key[KETEN_CHAIN_KEY_BYTES]) {
  const size_t mlen = sizeof CHAINKEY_MAGIC - 1,
               hlen = 2 * KETEN_CHAIN_KEY_BYTES;
  if (len < mlen + 1 + hlen || memcmp(text, CHAINKEY_MAGIC "\n", mlen + 1) != 0)
    return KETEN_ERR_FORMAT;
  const char *hex = text + mlen + 1;
  size_t rest = len - (mlen + 1);
  if (rest != hlen && !(rest == hlen + 1 && hex[hlen] == '\n'))
    return KETEN_ERR_FORMAT;
  size_t got = 0;
  const char *end = NULL;
  if (sodium_hex2bin(key, KETEN_CHAIN_KEY_BYTES, hex, hlen, NULL, &got, &end) !=
          0 ||
      got != KETEN_CHAIN_KEY_BYTES || end != hex + hlen)
    return KETEN_ERR_FORMAT;
  return KETEN_OK;
}

keten_err_t keten_chain_key_load(const char *path,
                                 uint8_t key[KETEN_CHAIN_KEY_BYTES]) {
  if (!path || !key)
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  char buf[CHAINKEY_MAX + 1];
  size_t len = 0;
  keten_err_t rc = keyfile_read(path, buf, sizeof buf, &len, NULL, 1);
  uint8_t parsed[KETEN_CHAIN_KEY_BYTES];
  if (rc == KETEN_OK)
    rc = s_parse(buf, len, parsed);
  if (rc == KETEN_OK)
    memcpy(key, parsed, KETEN_CHAIN_KEY_BYTES);
  sodium_memzero(parsed, sizeof parsed);
  sodium_memzero(buf, sizeof buf);
  return rc;
}

/* ---- subject pseudonyms -------------------------------------------------- */

/* Writes the ten digits of v_nummer (spaces, dots and dashes dropped) and a
 * NUL to digits; 0, or -1 when what remains is not exactly ten digits. */
static int s_normalise(const char *v_nummer, char digits[V_NUMMER_DIGITS + 1]) {
  size_t n = 0;
  for (const char *p = v_nummer; *p; p++) {
    if (*p == ' ' || *p == '.' || *p == '-')
      continue;
    if (*p < '0' || *p > '9' || n == V_NUMMER_DIGITS)
      return -1;
    digits[n++] = *p;
  }
  digits[n] = '\0';
  return n == V_NUMMER_DIGITS ? 0 : -1;
}

keten_err_t keten_subject_id(const uint8_t chain_key[KETEN_CHAIN_KEY_BYTES],
                             const char *v_nummer,
                             uint8_t subject[KETEN_SUBJECT_BYTES]) {
  if (!chain_key || !v_nummer || !subject)
    return KETEN_ERR_INVALID;
  if (sodium_init() < 0)
    return KETEN_ERR_INVALID;
  char digits[V_NUMMER_DIGITS + 1];
  if (s_normalise(v_nummer, digits) != 0) {
    sodium_memzero(digits, sizeof digits);
    return KETEN_ERR_INVALID;
  }
  canon_t c;
  canon_init(&c);
  canon_str(&c, CANON_TAG_SUBJECT);
  canon_str(&c, digits);
  keten_err_t rc = KETEN_ERR_NOMEM;
  if (!c.oom) {
    crypto_generichash(subject, KETEN_SUBJECT_BYTES, c.data, c.len, chain_key,
                       KETEN_CHAIN_KEY_BYTES);
    rc = KETEN_OK;
  }
  /* The V-nummer is identifying: leave no copy of it behind. */
  if (c.data)
    sodium_memzero(c.data, c.cap);
  canon_free(&c);
  sodium_memzero(digits, sizeof digits);
  return rc;
}

/* ---- names --------------------------------------------------------------- */

const char *keten_section_kind_name(int kind) { return canon_kind_name(kind); }

int keten_section_kind_from_name(const char *name) {
  return canon_kind_from_name(name);
}

const char *keten_purpose_name(int purpose) {
  return canon_purpose_name(purpose);
}

int keten_purpose_from_name(const char *name) {
  return canon_purpose_from_name(name);
}

const char *keten_basis_name(int basis) { return canon_basis_name(basis); }

int keten_basis_from_name(const char *name) {
  return canon_basis_from_name(name);
}

/* ---- opened sections ----------------------------------------------------- */

void keten_sections_free(keten_section_t *sections, size_t n) {
  if (!sections)
    return;
  for (size_t i = 0; i < n; i++) {
    if (sections[i].json) {
      /* the library allocates json_len + 1 bytes: the text and its NUL */
      sodium_memzero(sections[i].json, sections[i].json_len + 1);
      free(sections[i].json);
    }
  }
  free(sections);
}
