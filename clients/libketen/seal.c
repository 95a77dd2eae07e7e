/* seal — sealing and opening profile sections.
 *
 * Ownership: seal_section() builds one heap tree and hands all of it to
 * the caller:
 *
 *   Keten__SealedSection            calloc, owned by the caller
 *   ├── header                      calloc
 *   │   ├── subject.data            malloc, 32 bytes
 *   │   └── author                  malloc'd string
 *   ├── nonce.data                  malloc, 24 bytes
 *   ├── ciphertext.data             malloc, plaintext + 16 bytes
 *   ├── signature.data              malloc, 64 bytes
 *   └── wraps                       calloc'd array of n_wraps pointers
 *       └── wraps[i]                calloc
 *           ├── recipient           malloc'd string
 *           └── wrap.data           malloc, 80 bytes
 *
 * seal_section_free() frees exactly that tree, and also any part of it, so
 * it serves as the error path of the builder. It must not be given a
 * section decoded by protobuf-c (use keten__sealed_section__free_unpacked
 * for those), nor may such a tree be given to protobuf-c's free.
 *
 * Secrets: the data key lives on the stack and is wiped on every path
 * (seal_open_key() copies it out to its caller, who wipes it); a
 * decrypted plaintext is wiped before it is freed on every failure path,
 * and by seal_open_key() at once.
 */
#include "seal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"

#define SEAL_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
_Static_assert(SEAL_TAG_BYTES == 16, "the broker allows plaintext + 16");

/* Compile-time agreement of the numbers the wire and the API each define. */
_Static_assert(SEAL_DATA_KEY_BYTES == CANON_KEY_BYTES, "data key size");
_Static_assert(SEAL_DATA_KEY_BYTES ==
                   crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "data key size");
_Static_assert(CANON_NONCE_BYTES ==
                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(CANON_WRAP_BYTES == crypto_box_SEALBYTES + SEAL_DATA_KEY_BYTES,
               "wrap size");
_Static_assert(CANON_SIGNATURE_BYTES == crypto_sign_BYTES, "signature size");
_Static_assert(KETEN_SUBJECT_BYTES == CANON_SUBJECT_BYTES, "subject size");

/* ---- header conversion --------------------------------------------------- */

void seal_header_to_wire(const keten_section_header_t *h,
                         Keten__SectionHeader *wire) {
  keten__section_header__init(wire);
  wire->subject.data = (uint8_t *)h->subject;
  wire->subject.len = KETEN_SUBJECT_BYTES;
  wire->kind = (Keten__SectionKind)h->kind;
  wire->author = (char *)h->author;
  wire->version = h->version;
  wire->created_at_ms = h->created_at_ms;
}

/* Checks the shape of a wire header; 0, or -1 with a reason in why. */
static int s_header_check(const Keten__SectionHeader *w, char *why,
                          size_t whylen) {
  const char *reason = NULL;
  if (!w)
    reason = "section has no header";
  else if (w->subject.len != CANON_SUBJECT_BYTES || !w->subject.data)
    reason = "header subject is not 32 bytes";
  else if (!canon_kind_name((int)w->kind))
    reason = "header names an unknown section kind";
  else if (!w->author || w->author[0] == '\0' ||
           strlen(w->author) > KETEN_ID_MAX)
    reason = "header author is empty or longer than 64 bytes";
  else if (w->version < 1)
    reason = "header version is 0";
  if (reason && why && whylen)
    snprintf(why, whylen, "%s", reason);
  return reason ? -1 : 0;
}

int seal_header_from_wire(const Keten__SectionHeader *wire,
                          keten_section_header_t *h) {
  if (!h || s_header_check(wire, NULL, 0) != 0)
    return -1;
  memset(h, 0, sizeof *h);
  memcpy(h->subject, wire->subject.data, KETEN_SUBJECT_BYTES);
  h->kind = (int)wire->kind;
  snprintf(h->author, sizeof h->author, "%s", wire->author);
  h->version = wire->version;
  h->created_at_ms = wire->created_at_ms;
  return 0;
}

/* ---- the heap tree ------------------------------------------------------- */

static void s_wrap_free(Keten__KeyWrap *w) {
  if (!w)
    return;
  free(w->recipient);
  free(w->wrap.data);
  free(w);
}

void seal_section_free(Keten__SealedSection *s) {
  if (!s)
    return;
  if (s->header) {
    free(s->header->subject.data);
    free(s->header->author);
    free(s->header);
  }
  free(s->nonce.data);
  free(s->ciphertext.data);
  free(s->signature.data);
  if (s->wraps) {
    for (size_t i = 0; i < s->n_wraps; i++)
      s_wrap_free(s->wraps[i]);
    free(s->wraps);
  }
  free(s);
}

static char *s_strdup(const char *src) {
  size_t len = strlen(src);
  char *dst = malloc(len + 1);
  if (dst)
    memcpy(dst, src, len + 1);
  return dst;
}

static uint8_t *s_memdup(const void *src, size_t len) {
  uint8_t *dst = malloc(len ? len : 1);
  if (dst && len)
    memcpy(dst, src, len);
  return dst;
}

/* Adds to s a wrap of key for (id, pk). 0, -1 out of memory, -2 bad key. */
static int s_add_wrap(Keten__SealedSection *s, const char *id,
                      const uint8_t pk[KETEN_KEY_BYTES],
                      const uint8_t key[SEAL_DATA_KEY_BYTES]) {
  Keten__KeyWrap *w = calloc(1, sizeof *w);
  if (!w)
    return -1;
  keten__key_wrap__init(w);
  /* Hand w to s at once, so that seal_section_free() always finds it. */
  s->wraps[s->n_wraps++] = w;
  w->recipient = s_strdup(id);
  w->wrap.data = malloc(CANON_WRAP_BYTES);
  if (!w->recipient || !w->wrap.data)
    return -1;
  w->wrap.len = CANON_WRAP_BYTES;
  if (crypto_box_seal(w->wrap.data, key, SEAL_DATA_KEY_BYTES, pk) != 0)
    return -2; /* a low-order or otherwise unusable public key */
  return 0;
}

/* Is id a usable participant id: non-empty, at most KETEN_ID_MAX bytes? */
static int s_id_ok(const char *id) {
  return id && id[0] != '\0' && strlen(id) <= KETEN_ID_MAX;
}

/* Checks the arguments of a seal; KETEN_OK or KETEN_ERR_INVALID. */
static keten_err_t s_seal_args(const keten_section_header_t *h,
                               const void *plaintext, size_t len,
                               const keten_keys_t *author,
                               const seal_recipient_t *recipients, size_t n) {
  if (!h || !author || !author->has_secret || (len && !plaintext) ||
      (n && !recipients))
    return KETEN_ERR_INVALID;
  if (len > SEAL_MAX_PLAINTEXT) /* the broker would refuse it: TOO_LARGE */
    return KETEN_ERR_INVALID;
  if (!canon_kind_name(h->kind) || h->version < 1 || h->author[0] == '\0' ||
      memchr(h->author, '\0', sizeof h->author) == NULL)
    return KETEN_ERR_INVALID;
  if (n > CANON_MAX_WRAPS - 1) /* one wrap is the author's own */
    return KETEN_ERR_INVALID;
  for (size_t i = 0; i < n; i++) {
    const char *id = recipients[i].participant_id;
    if (!s_id_ok(id) || !recipients[i].sealing_key)
      return KETEN_ERR_INVALID;
    /* One wrap per participant: the author and each recipient once. */
    if (strcmp(id, h->author) == 0)
      return KETEN_ERR_INVALID;
    for (size_t j = 0; j < i; j++)
      if (strcmp(id, recipients[j].participant_id) == 0)
        return KETEN_ERR_INVALID;
  }
  return KETEN_OK;
}

/* ---- sealing ------------------------------------------------------------- */

Keten__SealedSection *
seal_section_with(const keten_section_header_t *h, const void *plaintext,
                  size_t len, const keten_keys_t *author,
                  const seal_recipient_t *recipients, size_t n,
                  const uint8_t key[SEAL_DATA_KEY_BYTES],
                  const uint8_t nonce[24], keten_err_t *err) {
  keten_err_t dummy;
  if (!err)
    err = &dummy;
  *err = s_seal_args(h, plaintext, len, author, recipients, n);
  if (*err != KETEN_OK)
    return NULL;
  if (!key || !nonce) {
    *err = KETEN_ERR_INVALID;
    return NULL;
  }
  if (sodium_init() < 0) {
    *err = KETEN_ERR_INVALID;
    return NULL;
  }
  *err = KETEN_ERR_NOMEM;

  Keten__SealedSection *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  keten__sealed_section__init(s);

  /* header: deep copy of h */
  Keten__SectionHeader *wh = calloc(1, sizeof *wh);
  if (!wh)
    goto fail;
  keten__section_header__init(wh);
  s->header = wh;
  wh->subject.data = s_memdup(h->subject, KETEN_SUBJECT_BYTES);
  wh->author = s_strdup(h->author);
  if (!wh->subject.data || !wh->author)
    goto fail;
  wh->subject.len = KETEN_SUBJECT_BYTES;
  wh->kind = (Keten__SectionKind)h->kind;
  wh->version = h->version;
  wh->created_at_ms = h->created_at_ms;

  s->nonce.data = s_memdup(nonce, CANON_NONCE_BYTES);
  s->ciphertext.data = malloc(len + SEAL_TAG_BYTES);
  s->signature.data = malloc(CANON_SIGNATURE_BYTES);
  s->wraps = calloc(n + 1, sizeof *s->wraps);
  if (!s->nonce.data || !s->ciphertext.data || !s->signature.data || !s->wraps)
    goto fail;
  s->nonce.len = CANON_NONCE_BYTES;

  /* encrypt, with the canonical header as associated data */
  canon_t ad;
  canon_init(&ad);
  if (canon_section_header(&ad, wh) != 0) {
    canon_free(&ad);
    goto fail;
  }
  static const uint8_t empty[1] = {0};
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      s->ciphertext.data, &clen, len ? plaintext : empty, len, ad.data, ad.len,
      NULL, s->nonce.data, key);
  canon_free(&ad);
  s->ciphertext.len = (size_t)clen;

  /* sign tag, header, nonce and ciphertext */
  if (canon_sign_section(s, author->signing_sk, s->signature.data) != 0)
    goto fail;
  s->signature.len = CANON_SIGNATURE_BYTES;

  /* wrap the data key: the author's own first, then each recipient */
  int rc = s_add_wrap(s, h->author, author->sealing_pk, key);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = s_add_wrap(s, recipients[i].participant_id, recipients[i].sealing_key,
                    key);
  if (rc != 0) {
    *err = rc == -2 ? KETEN_ERR_INVALID : KETEN_ERR_NOMEM;
    goto fail;
  }
  *err = KETEN_OK;
  return s;

fail:
  seal_section_free(s);
  return NULL;
}

Keten__SealedSection *seal_section(const keten_section_header_t *h,
                                   const void *plaintext, size_t len,
                                   const keten_keys_t *author,
                                   const seal_recipient_t *recipients, size_t n,
                                   keten_err_t *err) {
  if (sodium_init() < 0) {
    if (err)
      *err = KETEN_ERR_INVALID;
    return NULL;
  }
  uint8_t key[SEAL_DATA_KEY_BYTES], nonce[CANON_NONCE_BYTES];
  crypto_aead_xchacha20poly1305_ietf_keygen(key);
  randombytes_buf(nonce, sizeof nonce);
  Keten__SealedSection *s = seal_section_with(h, plaintext, len, author,
                                              recipients, n, key, nonce, err);
  sodium_memzero(key, sizeof key);
  return s;
}

/* ---- opening ------------------------------------------------------------- */

static keten_err_t s_refuse(char *why, size_t whylen, keten_err_t err,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static keten_err_t s_refuse(char *why, size_t whylen, keten_err_t err,
                            const char *fmt, ...) {
  if (why && whylen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
  }
  return err;
}

/* seal_open() and seal_open_key(): with out, hands over the plaintext;
 * with key_out, the data key (the plaintext is verified and wiped). */
static keten_err_t
s_open(const Keten__SealedSection *s, const uint8_t author_signing_key[32],
       const char *reader_id, const keten_keys_t *reader, keten_section_t *out,
       uint8_t key_out[SEAL_DATA_KEY_BYTES], char *why, size_t whylen) {
  if (why && whylen)
    why[0] = '\0';
  if (out)
    memset(out, 0, sizeof *out);
  if (key_out)
    sodium_memzero(key_out, SEAL_DATA_KEY_BYTES);
  if (!s || !author_signing_key || !reader_id || !reader || (!out && !key_out))
    return s_refuse(why, whylen, KETEN_ERR_INVALID, "missing argument");
  if (!reader->has_secret)
    return s_refuse(why, whylen, KETEN_ERR_INVALID,
                    "reader keys hold no secrets");
  if (sodium_init() < 0)
    return s_refuse(why, whylen, KETEN_ERR_INVALID, "libsodium failed");

  /* 1. shape: nothing is parsed or verified before the lengths are right */
  if (s_header_check(s->header, why, whylen) != 0)
    return KETEN_ERR_CRYPTO;
  if (s->nonce.len != CANON_NONCE_BYTES || !s->nonce.data)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO, "nonce is not 24 bytes");
  if (s->signature.len != CANON_SIGNATURE_BYTES || !s->signature.data)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO, "signature is not 64 bytes");
  if (s->ciphertext.len < SEAL_TAG_BYTES || !s->ciphertext.data)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                    "ciphertext is shorter than its 16-byte tag");
  if (s->ciphertext.len - SEAL_TAG_BYTES > SEAL_MAX_PLAINTEXT)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                    "ciphertext of %zu bytes is longer than the largest "
                    "section (%u bytes of plaintext and its 16-byte tag)",
                    s->ciphertext.len, (unsigned)SEAL_MAX_PLAINTEXT);
  if (s->n_wraps && !s->wraps)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO, "wraps are missing");
  if (s->n_wraps > CANON_MAX_WRAPS)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO, "more than %d wraps",
                    CANON_MAX_WRAPS);

  /* 2. the author's signature over tag, header, nonce and ciphertext */
  if (canon_verify_section(s, author_signing_key) != 0)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                    "signature does not verify with the author's key");

  /* 3. the reader's own wrap: exactly one */
  const Keten__KeyWrap *mine = NULL;
  for (size_t i = 0; i < s->n_wraps; i++) {
    const Keten__KeyWrap *w = s->wraps[i];
    if (!w || !w->recipient || strcmp(w->recipient, reader_id) != 0)
      continue;
    if (mine)
      return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                      "more than one wrap for %s", reader_id);
    mine = w;
  }
  if (!mine)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO, "no wrap for %s", reader_id);
  if (mine->wrap.len != CANON_WRAP_BYTES || !mine->wrap.data)
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                    "wrap for %s is not 80 bytes", reader_id);

  uint8_t key[SEAL_DATA_KEY_BYTES];
  if (crypto_box_seal_open(key, mine->wrap.data, CANON_WRAP_BYTES,
                           reader->sealing_pk, reader->sealing_sk) != 0) {
    sodium_memzero(key, sizeof key);
    return s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                    "wrap for %s does not open with its sealing key",
                    reader_id);
  }

  /* 4. decrypt, with the header as associated data */
  keten_err_t rc = KETEN_OK;
  size_t mlen_max = s->ciphertext.len - SEAL_TAG_BYTES;
  canon_t ad;
  canon_init(&ad);
  char *json = malloc(mlen_max + 1);
  unsigned long long mlen = 0;
  if (!json || canon_section_header(&ad, s->header) != 0) {
    rc = s_refuse(why, whylen, KETEN_ERR_NOMEM, "out of memory");
  } else if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                 (unsigned char *)json, &mlen, NULL, s->ciphertext.data,
                 s->ciphertext.len, ad.data, ad.len, s->nonce.data, key) != 0) {
    rc = s_refuse(why, whylen, KETEN_ERR_CRYPTO,
                  "ciphertext does not authenticate under its header");
  }
  if (rc == KETEN_OK && key_out)
    memcpy(key_out, key, SEAL_DATA_KEY_BYTES);
  sodium_memzero(key, sizeof key);
  canon_free(&ad);
  if (rc == KETEN_OK && !out) {
    sodium_memzero(json, mlen_max + 1); /* verified; not wanted */
    free(json);
    return KETEN_OK;
  }
  if (rc != KETEN_OK) {
    if (json) {
      sodium_memzero(json, mlen_max + 1);
      free(json);
    }
    return rc;
  }
  json[mlen] = '\0';

  /* Cannot fail: the header's shape was checked above. */
  seal_header_from_wire(s->header, &out->header);
  out->json = json;
  out->json_len = (size_t)mlen;
  return KETEN_OK;
}

keten_err_t seal_open(const Keten__SealedSection *s,
                      const uint8_t author_signing_key[32],
                      const char *reader_id, const keten_keys_t *reader,
                      keten_section_t *out, char *why, size_t whylen) {
  if (!out)
    return s_refuse(why, whylen, KETEN_ERR_INVALID, "missing argument");
  return s_open(s, author_signing_key, reader_id, reader, out, NULL, why,
                whylen);
}

keten_err_t seal_open_key(const Keten__SealedSection *s,
                          const uint8_t author_signing_key[32],
                          const char *reader_id, const keten_keys_t *reader,
                          uint8_t key[SEAL_DATA_KEY_BYTES], char *why,
                          size_t whylen) {
  if (!key)
    return s_refuse(why, whylen, KETEN_ERR_INVALID, "missing argument");
  return s_open(s, author_signing_key, reader_id, reader, NULL, key, why,
                whylen);
}
