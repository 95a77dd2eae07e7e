/* Unit tests of sealing and opening sections, and of subject pseudonyms
 * and the chain key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canon.h"
#include "envelope.h"
#include "keten.h"
#include "seal.h"

#define N_RECIPIENTS 3

static const char *const s_recipient_ids[N_RECIPIENTS] = {
    "gemeente:0678", "vwn:zeeland", "ggz:emergis"};
static const char s_plaintext[] =
    "{\"text\":\"Ik was apotheker in Homs.\",\"since\":2019}";

typedef struct {
  keten_keys_t author; /* "coa" */
  keten_keys_t readers[N_RECIPIENTS];
  keten_keys_t outsider; /* "mee:walcheren", no consent */
  seal_recipient_t recipients[N_RECIPIENTS];
  keten_section_header_t header;
  Keten__SealedSection *s; /* sealed to author + readers */
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  if (keten_keys_generate(&f->author, "coa") != KETEN_OK ||
      keten_keys_generate(&f->outsider, "mee:walcheren") != KETEN_OK)
    return -1;
  for (int i = 0; i < N_RECIPIENTS; i++) {
    if (keten_keys_generate(&f->readers[i], s_recipient_ids[i]) != KETEN_OK)
      return -1;
    f->recipients[i].participant_id = f->readers[i].id;
    f->recipients[i].sealing_key = f->readers[i].sealing_pk;
  }
  randombytes_buf(f->header.subject, sizeof f->header.subject);
  f->header.kind = KETEN__SECTION_KIND__SECTION_STORY;
  snprintf(f->header.author, sizeof f->header.author, "coa");
  f->header.version = 1;
  f->header.created_at_ms = UINT64_C(1780000000000);
  keten_err_t err = KETEN_ERR_INVALID;
  f->s = seal_section(&f->header, s_plaintext, strlen(s_plaintext), &f->author,
                      f->recipients, N_RECIPIENTS, &err);
  if (!f->s || err != KETEN_OK)
    return -1;
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  seal_section_free(f->s);
  keten_keys_wipe(&f->author);
  keten_keys_wipe(&f->outsider);
  for (int i = 0; i < N_RECIPIENTS; i++)
    keten_keys_wipe(&f->readers[i]);
  free(f);
  return 0;
}

/* Opens s as (id, keys) and checks the outcome; on success checks the
 * plaintext and header too. Returns the error, why in why. */
static keten_err_t s_open(const Keten__SealedSection *s,
                          const uint8_t signing_pk[32], const char *id,
                          const keten_keys_t *keys, char *why, size_t whylen) {
  keten_section_t *out = calloc(1, sizeof *out);
  assert_non_null(out);
  keten_err_t rc = seal_open(s, signing_pk, id, keys, out, why, whylen);
  if (rc != KETEN_OK) {
    /* nothing is handed out on failure */
    assert_null(out->json);
    assert_int_equal(out->json_len, 0);
  }
  keten_sections_free(out, 1);
  return rc;
}

/* Opening f->s as reader must fail with KETEN_ERR_CRYPTO and a reason. */
static void s_refused(s_fixture_t *f, int reader, const char *what, size_t i) {
  char why[256] = "";
  keten_err_t rc = s_open(f->s, f->author.signing_pk, f->readers[reader].id,
                          &f->readers[reader], why, sizeof why);
  if (rc != KETEN_ERR_CRYPTO)
    fail_msg("tampered %s byte %zu: opened (rc %d)", what, i, (int)rc);
  assert_true(strlen(why) > 0);
}

/* As s_refused, but with the signature redone by the author over the
 * tampered section, so that the AEAD alone must catch it. The original
 * signature is restored afterwards. */
static void s_refused_resigned(s_fixture_t *f, int reader, const char *what,
                               size_t i) {
  uint8_t saved[64];
  memcpy(saved, f->s->signature.data, 64);
  if (canon_sign_section(f->s, f->author.signing_sk, f->s->signature.data) != 0)
    fail_msg("re-signing failed");
  char why[256] = "";
  keten_err_t rc = s_open(f->s, f->author.signing_pk, f->readers[reader].id,
                          &f->readers[reader], why, sizeof why);
  memcpy(f->s->signature.data, saved, 64);
  if (rc != KETEN_ERR_CRYPTO)
    fail_msg("re-signed tampered %s byte %zu: opened (rc %d)", what, i,
             (int)rc);
}

static void s_opens(s_fixture_t *f, int reader) {
  char why[256] = "x";
  assert_int_equal(s_open(f->s, f->author.signing_pk, f->readers[reader].id,
                          &f->readers[reader], why, sizeof why),
                   KETEN_OK);
  assert_string_equal(why, "");
}

/* ---- sealing and opening ------------------------------------------------- */

static void test_author_and_recipients_open(void **state) {
  s_fixture_t *f = *state;
  Keten__SealedSection *s = f->s;
  assert_int_equal(s->n_wraps, N_RECIPIENTS + 1);
  assert_string_equal(s->wraps[0]->recipient, "coa");
  for (int i = 0; i < N_RECIPIENTS; i++)
    assert_string_equal(s->wraps[i + 1]->recipient, s_recipient_ids[i]);
  assert_int_equal(s->nonce.len, 24);
  assert_int_equal(s->signature.len, 64);
  assert_int_equal(s->ciphertext.len, strlen(s_plaintext) + 16);
  for (size_t i = 0; i < s->n_wraps; i++)
    assert_int_equal(s->wraps[i]->wrap.len, 80);
  /* the plaintext does not appear in the ciphertext */
  for (size_t i = 0; i + 9 <= s->ciphertext.len; i++)
    assert_memory_not_equal(s->ciphertext.data + i, "apotheker", 9);

  const keten_keys_t *who[N_RECIPIENTS + 1] = {&f->author, &f->readers[0],
                                               &f->readers[1], &f->readers[2]};
  for (int i = 0; i < N_RECIPIENTS + 1; i++) {
    keten_section_t *out = calloc(1, sizeof *out);
    char why[128];
    assert_int_equal(seal_open(s, f->author.signing_pk, who[i]->id, who[i], out,
                               why, sizeof why),
                     KETEN_OK);
    /* NUL-terminated, with the right length */
    assert_int_equal(out->json_len, strlen(s_plaintext));
    assert_int_equal(out->json[out->json_len], '\0');
    assert_memory_equal(out->json, s_plaintext, out->json_len + 1);
    assert_memory_equal(out->header.subject, f->header.subject, 32);
    assert_int_equal(out->header.kind, KETEN__SECTION_KIND__SECTION_STORY);
    assert_string_equal(out->header.author, "coa");
    assert_int_equal(out->header.version, 1);
    assert_int_equal(out->header.created_at_ms, UINT64_C(1780000000000));
    keten_sections_free(out, 1);
  }
}

static void test_outsider_cannot_open(void **state) {
  s_fixture_t *f = *state;
  char why[128] = "";
  /* under its own id there is no wrap */
  assert_int_equal(s_open(f->s, f->author.signing_pk, f->outsider.id,
                          &f->outsider, why, sizeof why),
                   KETEN_ERR_CRYPTO);
  assert_non_null(strstr(why, "no wrap"));
  /* claiming a recipient's id, its keys do not open that wrap */
  for (int i = 0; i < N_RECIPIENTS; i++) {
    why[0] = '\0';
    assert_int_equal(s_open(f->s, f->author.signing_pk, s_recipient_ids[i],
                            &f->outsider, why, sizeof why),
                     KETEN_ERR_CRYPTO);
    assert_non_null(strstr(why, "does not open"));
  }
  /* nor does one recipient's key open another's wrap */
  assert_int_equal(s_open(f->s, f->author.signing_pk, s_recipient_ids[0],
                          &f->readers[1], why, sizeof why),
                   KETEN_ERR_CRYPTO);
}

static void test_tampered_header(void **state) {
  s_fixture_t *f = *state;
  Keten__SectionHeader *h = f->s->header;
  for (size_t i = 0; i < h->subject.len; i++) {
    h->subject.data[i] ^= 0x01;
    s_refused(f, 0, "subject", i);
    s_refused_resigned(f, 0, "subject", i);
    h->subject.data[i] ^= 0x01;
  }
  /* each byte of the kind, and every other kind */
  for (size_t i = 0; i < sizeof(int); i++) {
    Keten__SectionKind kept = h->kind;
    h->kind = (Keten__SectionKind)(int)((unsigned)kept ^ (1u << (8 * i)));
    s_refused(f, 0, "kind", i);
    s_refused_resigned(f, 0, "kind", i);
    h->kind = kept;
  }
  for (int k = 0; k <= 13; k++) {
    if (k == KETEN__SECTION_KIND__SECTION_STORY)
      continue;
    h->kind = (Keten__SectionKind)k;
    s_refused(f, 0, "kind value", (size_t)k);
    s_refused_resigned(f, 0, "kind value", (size_t)k);
    h->kind = KETEN__SECTION_KIND__SECTION_STORY;
  }
  size_t alen = strlen(h->author);
  for (size_t i = 0; i < alen; i++) {
    h->author[i] ^= 0x01;
    s_refused(f, 0, "author", i);
    s_refused_resigned(f, 0, "author", i);
    h->author[i] ^= 0x01;
  }
  h->author[alen - 1] = '\0'; /* "co" */
  s_refused(f, 0, "author length", 0);
  s_refused_resigned(f, 0, "author length", 0);
  h->author[alen - 1] = 'a';
  for (size_t i = 0; i < 8; i++) {
    h->version ^= UINT64_C(1) << (8 * i);
    s_refused(f, 0, "version", i);
    s_refused_resigned(f, 0, "version", i);
    h->version ^= UINT64_C(1) << (8 * i);
  }
  for (size_t i = 0; i < 8; i++) {
    h->created_at_ms ^= UINT64_C(1) << (8 * i);
    s_refused(f, 0, "created_at", i);
    s_refused_resigned(f, 0, "created_at", i);
    h->created_at_ms ^= UINT64_C(1) << (8 * i);
  }
  s_opens(f, 0); /* everything was put back */
}

static void test_tampered_body(void **state) {
  s_fixture_t *f = *state;
  Keten__SealedSection *s = f->s;
  for (size_t i = 0; i < s->nonce.len; i++) {
    s->nonce.data[i] ^= 0x80;
    s_refused(f, 1, "nonce", i);
    s_refused_resigned(f, 1, "nonce", i);
    s->nonce.data[i] ^= 0x80;
  }
  for (size_t i = 0; i < s->ciphertext.len; i++) {
    s->ciphertext.data[i] ^= 0x01;
    s_refused(f, 1, "ciphertext", i);
    s_refused_resigned(f, 1, "ciphertext", i);
    s->ciphertext.data[i] ^= 0x01;
  }
  /* a shortened or lengthened ciphertext */
  s->ciphertext.len--;
  s_refused(f, 1, "ciphertext length", 0);
  s_refused_resigned(f, 1, "ciphertext length", 0);
  s->ciphertext.len++;
  for (size_t i = 0; i < s->signature.len; i++) {
    s->signature.data[i] ^= 0x01;
    s_refused(f, 1, "signature", i);
    s->signature.data[i] ^= 0x01;
  }
  /* the reader's own wrap, for a recipient and for the author */
  Keten__KeyWrap *w = s->wraps[2]; /* vwn:zeeland */
  assert_string_equal(w->recipient, f->readers[1].id);
  for (size_t i = 0; i < w->wrap.len; i++) {
    w->wrap.data[i] ^= 0x01;
    s_refused(f, 1, "wrap", i);
    w->wrap.data[i] ^= 0x01;
  }
  Keten__KeyWrap *mine = s->wraps[0];
  char why[128];
  for (size_t i = 0; i < mine->wrap.len; i++) {
    mine->wrap.data[i] ^= 0x01;
    if (s_open(s, f->author.signing_pk, "coa", &f->author, why, sizeof why) !=
        KETEN_ERR_CRYPTO)
      fail_msg("tampered author wrap byte %zu: opened", i);
    mine->wrap.data[i] ^= 0x01;
  }
  /* the wrap's label changed: no wrap for the reader any more */
  w->recipient[0] ^= 0x01;
  s_refused(f, 1, "wrap label", 0);
  w->recipient[0] ^= 0x01;
  /* one reader's wrap relabelled as another's */
  char *kept = s->wraps[1]->recipient;
  s->wraps[1]->recipient = w->recipient;
  s_refused(f, 1, "duplicate wrap", 0);
  s->wraps[1]->recipient = kept;
  s_opens(f, 1);
  assert_int_equal(
      s_open(s, f->author.signing_pk, "coa", &f->author, why, sizeof why),
      KETEN_OK);
}

static void test_moved_ciphertext(void **state) {
  s_fixture_t *f = *state;
  keten_err_t err;
  /* a second section of the same author, under another header */
  keten_section_header_t h2 = f->header;
  h2.kind = KETEN__SECTION_KIND__SECTION_HEALTH;
  h2.version = 7;
  const char other[] = "{\"text\":\"geen klachten\"}";
  Keten__SealedSection *s2 = seal_section(&h2, other, strlen(other), &f->author,
                                          f->recipients, N_RECIPIENTS, &err);
  assert_non_null(s2);
  char why[256];
  /* s2's nonce, ciphertext and signature under s1's header */
  Keten__SectionHeader *h1 = f->s->header;
  Keten__SectionHeader *kept = s2->header;
  s2->header = h1;
  assert_int_equal(
      s_open(s2, f->author.signing_pk, "coa", &f->author, why, sizeof why),
      KETEN_ERR_CRYPTO);
  /* and re-signed by the author: the AEAD still binds the header */
  assert_int_equal(
      canon_sign_section(s2, f->author.signing_sk, s2->signature.data), 0);
  assert_int_equal(
      s_open(s2, f->author.signing_pk, "coa", &f->author, why, sizeof why),
      KETEN_ERR_CRYPTO);
  assert_non_null(strstr(why, "authenticate"));
  s2->header = kept;
  seal_section_free(s2);

  /* the same ciphertext, nonce and wraps moved under another subject */
  uint8_t subject[32];
  memcpy(subject, h1->subject.data, 32);
  h1->subject.data[0] ^= 0xff;
  assert_int_equal(
      canon_sign_section(f->s, f->author.signing_sk, f->s->signature.data), 0);
  assert_int_equal(s_open(f->s, f->author.signing_pk, f->readers[2].id,
                          &f->readers[2], why, sizeof why),
                   KETEN_ERR_CRYPTO);
  assert_non_null(strstr(why, "authenticate"));
  memcpy(h1->subject.data, subject, 32);
}

static void test_wrong_author_key(void **state) {
  s_fixture_t *f = *state;
  char why[256];
  /* verified against someone else's key */
  assert_int_equal(s_open(f->s, f->outsider.signing_pk, f->readers[0].id,
                          &f->readers[0], why, sizeof why),
                   KETEN_ERR_CRYPTO);
  assert_non_null(strstr(why, "signature"));
  /* sealed in coa's name with another signing key */
  keten_keys_t forger = f->author;
  memcpy(forger.signing_sk, f->outsider.signing_sk, 64);
  memcpy(forger.signing_pk, f->outsider.signing_pk, 32);
  keten_err_t err;
  Keten__SealedSection *s = seal_section(&f->header, "{}", 2, &forger,
                                         f->recipients, N_RECIPIENTS, &err);
  assert_non_null(s);
  assert_int_equal(s_open(s, f->author.signing_pk, f->readers[0].id,
                          &f->readers[0], why, sizeof why),
                   KETEN_ERR_CRYPTO);
  seal_section_free(s);
  keten_keys_wipe(&forger);
}

static void test_sizes(void **state) {
  s_fixture_t *f = *state;
  keten_err_t err = KETEN_OK;
  char *big = malloc(SEAL_MAX_PLAINTEXT + 1);
  assert_non_null(big);
  memset(big, 'x', SEAL_MAX_PLAINTEXT + 1);
  assert_null(seal_section(&f->header, big, SEAL_MAX_PLAINTEXT + 1, &f->author,
                           f->recipients, N_RECIPIENTS, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);

  /* the largest allowed section seals and opens */
  Keten__SealedSection *s = seal_section(&f->header, big, SEAL_MAX_PLAINTEXT,
                                         &f->author, NULL, 0, &err);
  assert_non_null(s);
  assert_int_equal(err, KETEN_OK);
  keten_section_t *out = calloc(1, sizeof *out);
  char why[128];
  assert_int_equal(seal_open(s, f->author.signing_pk, "coa", &f->author, out,
                             why, sizeof why),
                   KETEN_OK);
  assert_int_equal(out->json_len, SEAL_MAX_PLAINTEXT);
  assert_int_equal(out->json[SEAL_MAX_PLAINTEXT], '\0');
  assert_memory_equal(out->json, big, SEAL_MAX_PLAINTEXT);
  keten_sections_free(out, 1);
  seal_section_free(s);
  free(big);

  /* an empty plaintext is an empty, NUL-terminated string */
  s = seal_section(&f->header, NULL, 0, &f->author, NULL, 0, &err);
  assert_non_null(s);
  out = calloc(1, sizeof *out);
  assert_int_equal(seal_open(s, f->author.signing_pk, "coa", &f->author, out,
                             why, sizeof why),
                   KETEN_OK);
  assert_int_equal(out->json_len, 0);
  assert_string_equal(out->json, "");
  keten_sections_free(out, 1);
  seal_section_free(s);
}

/* The shared maximum (docs/protocol.md 12.1): a section of exactly
 * CANON_MAX_SECTION_PLAINTEXT bytes wrapped for 64 participants with the
 * longest ids fits a PUT frame of the default max_frame_bytes and opens for
 * the last of them; one byte more is refused by seal, and a ciphertext one
 * byte longer than the maximum plus its tag is refused by open. */
static void test_size_limit(void **state) {
  s_fixture_t *f = *state;
  assert_int_equal(CANON_MAX_SECTION_PLAINTEXT, 786432);
  assert_int_equal(SEAL_MAX_PLAINTEXT, CANON_MAX_SECTION_PLAINTEXT);
  enum { N = CANON_MAX_WRAPS - 1 }; /* and the author's own */
  keten_keys_t *keys = calloc(N, sizeof *keys);
  seal_recipient_t *rs = calloc(N, sizeof *rs);
  assert_non_null(keys);
  assert_non_null(rs);
  for (int i = 0; i < N; i++) {
    char id[KETEN_ID_MAX + 1];
    memset(id, 'p', KETEN_ID_MAX);
    id[KETEN_ID_MAX] = '\0';
    char num[8];
    int n = snprintf(num, sizeof num, ":%02d", i);
    memcpy(id + KETEN_ID_MAX - n, num, (size_t)n);
    assert_int_equal(keten_keys_generate(&keys[i], id), KETEN_OK);
    rs[i].participant_id = keys[i].id;
    rs[i].sealing_key = keys[i].sealing_pk;
  }
  keten_section_header_t h = f->header;
  memset(h.author, 'a', KETEN_ID_MAX);
  h.author[KETEN_ID_MAX] = '\0';
  char *big = malloc(CANON_MAX_SECTION_PLAINTEXT + 1);
  assert_non_null(big);
  memset(big, 'y', CANON_MAX_SECTION_PLAINTEXT + 1);
  keten_err_t err = KETEN_OK;
  assert_null(seal_section(&h, big, CANON_MAX_SECTION_PLAINTEXT + 1, &f->author,
                           rs, N, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);

  Keten__SealedSection *s = seal_section(&h, big, CANON_MAX_SECTION_PLAINTEXT,
                                         &f->author, rs, N, &err);
  assert_non_null(s);
  assert_int_equal(s->n_wraps, CANON_MAX_WRAPS);
  assert_int_equal(s->ciphertext.len, CANON_MAX_SECTION_PLAINTEXT + 16);
  /* the PUT frame fits the default max_frame_bytes, with room */
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = s;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_PUT;
  env.put = &put;
  size_t packed = 0;
  uint8_t *frame = envelope_pack(&env, &packed);
  assert_non_null(frame);
  free(frame);
  assert_true(packed <= ENVELOPE_DEFAULT_MAX_FRAME);
  assert_true(packed < 800u * 1000u);

  keten_section_t *out = calloc(1, sizeof *out);
  char why[160];
  keten_err_t rc =
      seal_open(s, f->author.signing_pk, keys[N - 1].id, &keys[N - 1], out, why,
                sizeof why);
  if (rc != KETEN_OK)
    fail_msg("open: %s", why);
  assert_int_equal(out->json_len, CANON_MAX_SECTION_PLAINTEXT);
  assert_memory_equal(out->json, big, CANON_MAX_SECTION_PLAINTEXT);
  keten_sections_free(out, 1);

  /* one byte more ciphertext than the maximum and its tag: not opened,
   * with a reason naming the size */
  uint8_t *longer = realloc(s->ciphertext.data, s->ciphertext.len + 1);
  assert_non_null(longer);
  s->ciphertext.data = longer;
  s->ciphertext.data[s->ciphertext.len++] = 0;
  assert_int_equal(canon_sign_section(s, f->author.signing_sk,
                                      s->signature.data),
                   0);
  assert_int_equal(s_open(s, f->author.signing_pk, keys[0].id, &keys[0], why,
                          sizeof why),
                   KETEN_ERR_CRYPTO);
  assert_non_null(strstr(why, "longer than the largest section"));
  seal_section_free(s);
  free(big);
  for (int i = 0; i < N; i++)
    keten_keys_wipe(&keys[i]);
  free(keys);
  free(rs);
}

static void test_seal_arguments(void **state) {
  s_fixture_t *f = *state;
  keten_err_t err = KETEN_OK;
  keten_section_header_t h = f->header;
  h.kind = 0;
  assert_null(seal_section(&h, "{}", 2, &f->author, NULL, 0, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);
  h.kind = 13;
  assert_null(seal_section(&h, "{}", 2, &f->author, NULL, 0, &err));
  h = f->header;
  h.version = 0;
  assert_null(seal_section(&h, "{}", 2, &f->author, NULL, 0, &err));
  h = f->header;
  h.author[0] = '\0';
  assert_null(seal_section(&h, "{}", 2, &f->author, NULL, 0, &err));
  h = f->header;
  memset(h.author, 'a', sizeof h.author); /* not NUL-terminated */
  assert_null(seal_section(&h, "{}", 2, &f->author, NULL, 0, &err));

  /* a public key file cannot seal */
  keten_keys_t pub = f->author;
  keten_keys_wipe(&pub);
  assert_null(seal_section(&f->header, "{}", 2, &pub, NULL, 0, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);

  /* one wrap per participant */
  seal_recipient_t r[3] = {f->recipients[0], f->recipients[1],
                           f->recipients[0]};
  assert_null(seal_section(&f->header, "{}", 2, &f->author, r, 3, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);
  r[2].participant_id = "coa";
  assert_null(seal_section(&f->header, "{}", 2, &f->author, r, 3, &err));
  r[2].participant_id = "";
  assert_null(seal_section(&f->header, "{}", 2, &f->author, r, 3, &err));
  /* an unusable (all-zero) sealing key */
  static const uint8_t zero[32] = {0};
  r[2].participant_id = "ggd:zeeland";
  r[2].sealing_key = zero;
  assert_null(seal_section(&f->header, "{}", 2, &f->author, r, 3, &err));
  assert_int_equal(err, KETEN_ERR_INVALID);

  /* at most CANON_MAX_WRAPS wraps, the author's included */
  seal_recipient_t many[CANON_MAX_WRAPS];
  char ids[CANON_MAX_WRAPS][16];
  for (int i = 0; i < CANON_MAX_WRAPS; i++) {
    snprintf(ids[i], sizeof ids[i], "p:%d", i);
    many[i].participant_id = ids[i];
    many[i].sealing_key = f->readers[0].sealing_pk;
  }
  assert_null(seal_section(&f->header, "{}", 2, &f->author, many,
                           CANON_MAX_WRAPS, &err));
  Keten__SealedSection *s = seal_section(&f->header, "{}", 2, &f->author, many,
                                         CANON_MAX_WRAPS - 1, &err);
  assert_non_null(s);
  assert_int_equal(s->n_wraps, CANON_MAX_WRAPS);
  seal_section_free(s);
  seal_section_free(NULL);
}

static void test_open_shapes(void **state) {
  s_fixture_t *f = *state;
  Keten__SealedSection *s = f->s;
  Keten__SectionHeader *h = s->header;
  char why[128];

  h->subject.len = 31;
  s_refused(f, 0, "subject length", 0);
  h->subject.len = 32;
  h->kind = (Keten__SectionKind)99;
  s_refused(f, 0, "kind 99", 0);
  h->kind = (Keten__SectionKind)0;
  s_refused(f, 0, "kind 0", 0);
  h->kind = KETEN__SECTION_KIND__SECTION_STORY;
  h->version = 0;
  s_refused(f, 0, "version 0", 0);
  h->version = 1;
  s->nonce.len = 23;
  s_refused(f, 0, "nonce length", 0);
  s->nonce.len = 24;
  s->signature.len = 63;
  s_refused(f, 0, "signature length", 0);
  s->signature.len = 64;
  s->wraps[1]->wrap.len = 79;
  s_refused(f, 0, "wrap length", 0);
  s->wraps[1]->wrap.len = 80;
  size_t clen = s->ciphertext.len;
  s->ciphertext.len = 15;
  s_refused(f, 0, "ciphertext length", 0);
  s->ciphertext.len = clen;
  s->header = NULL;
  assert_int_equal(
      s_open(s, f->author.signing_pk, "coa", &f->author, why, sizeof why),
      KETEN_ERR_CRYPTO);
  assert_string_equal(why, "section has no header");
  s->header = h;
  s_opens(f, 0);

  /* arguments */
  keten_section_t out;
  assert_int_equal(
      seal_open(s, f->author.signing_pk, "coa", NULL, &out, why, sizeof why),
      KETEN_ERR_INVALID);
  keten_keys_t pub = f->readers[0];
  keten_keys_wipe(&pub);
  assert_int_equal(
      seal_open(s, f->author.signing_pk, pub.id, &pub, &out, why, sizeof why),
      KETEN_ERR_INVALID);
  /* why may be NULL */
  assert_int_equal(
      seal_open(s, f->outsider.signing_pk, "coa", &f->author, &out, NULL, 0),
      KETEN_ERR_CRYPTO);
}

static void test_header_wire(void **state) {
  s_fixture_t *f = *state;
  Keten__SectionHeader w;
  seal_header_to_wire(&f->header, &w);
  assert_int_equal(w.subject.len, 32);
  assert_ptr_equal(w.subject.data, f->header.subject);
  assert_string_equal(w.author, "coa");
  keten_section_header_t back;
  assert_int_equal(seal_header_from_wire(&w, &back), 0);
  assert_memory_equal(back.subject, f->header.subject, 32);
  assert_int_equal(back.kind, f->header.kind);
  assert_string_equal(back.author, "coa");
  assert_int_equal(back.version, 1);
  assert_int_equal(back.created_at_ms, f->header.created_at_ms);
  /* the AEAD's associated data is the same from either side */
  canon_t a, b;
  canon_init(&a);
  canon_init(&b);
  assert_int_equal(canon_section_header(&a, &w), 0);
  assert_int_equal(canon_section_header(&b, f->s->header), 0);
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.data, b.data, a.len);
  canon_free(&a);
  canon_free(&b);

  char longid[KETEN_ID_MAX + 2];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  w.author = longid;
  assert_int_equal(seal_header_from_wire(&w, &back), -1);
  w.author = (char *)"coa";
  w.subject.len = 16;
  assert_int_equal(seal_header_from_wire(&w, &back), -1);
  w.subject.len = 32;
  w.version = 0;
  assert_int_equal(seal_header_from_wire(&w, &back), -1);
  assert_int_equal(seal_header_from_wire(NULL, &back), -1);
}

/* ---- subjects ------------------------------------------------------------ */

static void test_subject_normalisation(void **state) {
  (void)state;
  uint8_t key[32], a[32], b[32], c[32], d[32];
  assert_int_equal(keten_chain_key_generate(key), KETEN_OK);
  assert_int_equal(keten_subject_id(key, "2931847560", a), KETEN_OK);
  assert_int_equal(keten_subject_id(key, "29 3184 7560", b), KETEN_OK);
  assert_int_equal(keten_subject_id(key, "2931.847.560", c), KETEN_OK);
  assert_int_equal(keten_subject_id(key, "29-31-84-75-60", d), KETEN_OK);
  assert_memory_equal(a, b, 32);
  assert_memory_equal(a, c, 32);
  assert_memory_equal(a, d, 32);

  const char *bad[] = {
      "293184756",    "29318475601",           "29318475a0", "", " . - ",
      "2931847560\n", "\357\274\222931847560", /* full-width 2 */
      "+2931847560",  "29_3184_7560"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (keten_subject_id(key, bad[i], b) != KETEN_ERR_INVALID)
      fail_msg("\"%s\" accepted as a V-nummer", bad[i]);
  assert_int_equal(keten_subject_id(key, NULL, b), KETEN_ERR_INVALID);
  assert_int_equal(keten_subject_id(NULL, "2931847560", b), KETEN_ERR_INVALID);

  /* another V-nummer, another subject */
  assert_int_equal(keten_subject_id(key, "2931847561", b), KETEN_OK);
  assert_memory_not_equal(a, b, 32);
  /* another chain, another subject */
  uint8_t key2[32];
  assert_int_equal(keten_chain_key_generate(key2), KETEN_OK);
  assert_memory_not_equal(key, key2, 32);
  assert_int_equal(keten_subject_id(key2, "2931847560", b), KETEN_OK);
  assert_memory_not_equal(a, b, 32);
}

typedef struct {
  char dir[64], path[128];
} s_dir_t;

static int s_dir_setup(void **state) {
  s_dir_t *d = calloc(1, sizeof *d);
  if (!d)
    return -1;
  snprintf(d->dir, sizeof d->dir, "/tmp/keten-chain-XXXXXX");
  if (!mkdtemp(d->dir))
    return -1;
  snprintf(d->path, sizeof d->path, "%s/chain.key", d->dir);
  *state = d;
  return 0;
}

static int s_dir_teardown(void **state) {
  s_dir_t *d = *state;
  unlink(d->path);
  rmdir(d->dir);
  free(d);
  return 0;
}

static void s_write(const char *path, const char *text, mode_t mode) {
  unlink(path);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  chmod(path, mode);
}

static void test_chain_key_file(void **state) {
  s_dir_t *d = *state;
  uint8_t key[32], back[32];
  assert_int_equal(keten_chain_key_generate(key), KETEN_OK);
  assert_int_equal(keten_chain_key_save(key, d->path, 0), KETEN_OK);
  struct stat st;
  assert_int_equal(stat(d->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_OK);
  assert_memory_equal(key, back, 32);

  /* the file is the documented text */
  char hex[65], want[128], text[256];
  sodium_bin2hex(hex, sizeof hex, key, 32);
  snprintf(want, sizeof want, "keten-chain-key 1\n%s\n", hex);
  FILE *fp = fopen(d->path, "r");
  size_t n = fread(text, 1, sizeof text - 1, fp);
  fclose(fp);
  text[n] = '\0';
  assert_string_equal(text, want);

  /* never overwritten unless asked */
  uint8_t other[32];
  keten_chain_key_generate(other);
  assert_int_equal(keten_chain_key_save(other, d->path, 0), KETEN_ERR_IO);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_OK);
  assert_memory_equal(key, back, 32);
  assert_int_equal(keten_chain_key_save(other, d->path, 1), KETEN_OK);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_OK);
  assert_memory_equal(other, back, 32);

  /* overwriting a too-open file also closes it */
  assert_int_equal(chmod(d->path, 0644), 0);
  assert_int_equal(keten_chain_key_save(key, d->path, 1), KETEN_OK);
  assert_int_equal(stat(d->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  /* upper-case hex and a missing final newline are fine */
  for (char *p = want; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  want[strlen(want) - 1] = '\0';
  memcpy(want, "keten-chain-key 1", 17);
  s_write(d->path, want, 0600);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_OK);
  assert_memory_equal(key, back, 32);
}

static void test_chain_key_refused(void **state) {
  s_dir_t *d = *state;
  uint8_t key[32], back[32];
  keten_chain_key_generate(key);
  assert_int_equal(keten_chain_key_save(key, d->path, 0), KETEN_OK);
  assert_int_equal(chmod(d->path, 0644), 0);
  memset(back, 0xee, sizeof back);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_ERR_PERMISSIONS);
  assert_int_equal(back[0], 0xee); /* untouched */
  assert_int_equal(chmod(d->path, 0640), 0);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_ERR_PERMISSIONS);
  assert_int_equal(chmod(d->path, 0604), 0);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_ERR_PERMISSIONS);

  char hex[65], buf[256];
  sodium_bin2hex(hex, sizeof hex, key, 32);
  const struct {
    const char *before;
    int digits;
    const char *after;
  } bad[] = {
      {"keten-chain-key 2\n", 64, "\n"},    /* wrong magic */
      {"keten-chain-key 1\n", 62, "\n"},    /* short */
      {"keten-chain-key 1\n", 64, "00\n"},  /* long */
      {"keten-chain-key 1\n", 64, "\n\n"},  /* trailing line */
      {"keten-chain-key 1\n", 64, "\nx\n"}, /* extra line */
      {"keten-chain-key 1 \n", 64, "\n"},   /* magic with trailing space */
      {"", 64, "\n"},                       /* no magic */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(buf, sizeof buf, "%s%.*s%s", bad[i].before, bad[i].digits, hex,
             bad[i].after);
    s_write(d->path, buf, 0600);
    if (keten_chain_key_load(d->path, back) != KETEN_ERR_FORMAT)
      fail_msg("malformed chain key file %zu accepted", i);
  }
  snprintf(buf, sizeof buf, "keten-chain-key 1\n%s\n", hex);
  buf[20] = 'g'; /* not hex */
  s_write(d->path, buf, 0600);
  assert_int_equal(keten_chain_key_load(d->path, back), KETEN_ERR_FORMAT);
  assert_int_equal(keten_chain_key_load("/nonexistent/chain.key", back),
                   KETEN_ERR_IO);
  assert_int_equal(keten_chain_key_load(d->dir, back), KETEN_ERR_IO);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(keten_section_kind_name(10), "HEALTH");
  assert_string_equal(keten_section_kind_name(1), "IDENTITY");
  assert_string_equal(keten_section_kind_name(12), "CARE");
  assert_null(keten_section_kind_name(0));
  assert_null(keten_section_kind_name(13));
  assert_int_equal(keten_section_kind_from_name("health"), 10);
  assert_int_equal(keten_section_kind_from_name("SECTION_STORY"), 3);
  assert_int_equal(keten_section_kind_from_name("UNSPECIFIED"), 0);
  assert_int_equal(keten_section_kind_from_name("nope"), 0);
  assert_int_equal(keten_section_kind_from_name(NULL), 0);
  assert_string_equal(keten_purpose_name(4), "ZORG");
  assert_int_equal(keten_purpose_from_name("inburgering"), 2);
  assert_null(keten_purpose_name(6));
  assert_string_equal(keten_basis_name(2), "LEGAL_DUTY");
  assert_int_equal(keten_basis_from_name("consent"), 1);
  assert_int_equal(keten_basis_from_name("ZORG"), 0);
  keten_sections_free(NULL, 3);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_author_and_recipients_open, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_outsider_cannot_open, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tampered_header, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_tampered_body, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_moved_ciphertext, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_wrong_author_key, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_sizes, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_size_limit, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_seal_arguments, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_open_shapes, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_header_wire, s_setup, s_teardown),
      cmocka_unit_test(test_subject_normalisation),
      cmocka_unit_test_setup_teardown(test_chain_key_file, s_dir_setup,
                                      s_dir_teardown),
      cmocka_unit_test_setup_teardown(test_chain_key_refused, s_dir_setup,
                                      s_dir_teardown),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
