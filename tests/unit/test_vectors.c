/* The test vectors of docs/test-vectors.md, recomputed.
 *
 * Every hex literal below is also printed in docs/test-vectors.md, and
 * test_document checks that it still is; this test is what keeps that
 * document honest. If a literal here has to change, the wire format has
 * changed: bump the domain tag and update the document in the same commit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "canon.h"
#include "keten.h"
#include "seal.h"
#include "store.h"
#include "tvs.h"

/* ---- the vectors (docs/test-vectors.md) ---------------------------------- */

#define V_SIGNING_PK                                                           \
  "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
#define V_SEALING_PK                                                           \
  "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b"
#define V_SUBJECT_CANON                                                        \
  "000000106b6574656e2f7375626a6563742f76310000000a32393331383437353630"
#define V_SUBJECT                                                              \
  "d14a317edd560fa82bdc24368bf7dfb1b8f8d31ad2e9c76aecaf4bb55ba71777"
#define V_HEADER_CANON                                                         \
  "000000106b6574656e2f73656374696f6e2f763100000020d14a317edd560fa82bdc2436"   \
  "8bf7dfb1b8f8d31ad2e9c76aecaf4bb55ba717770000000800000000000000030000000"    \
  "3636f61000000080000000000000001000000080000019e70448800"
#define V_SIG_STRING_LEN 211
#define V_SIG_STRING_BLAKE2B                                                   \
  "662ab36e4399f7e5fd1c4765fb92c9deb86f63c1e64d21193f598ecf7bfd418f"
#define V_CIPHERTEXT                                                           \
  "de7ca30016506e9c8066541a79e97eea5381e1ce147a1ff853418f234b58b4a067bfaaa5"   \
  "186c6d535229c2167428b048ef9a065c"
#define V_SIGNATURE                                                            \
  "d9c0f064cc87b30d809711aa8aeed021e72575df7f7ee3252e5b16b62f1bc8d7495f0d40"   \
  "174856a0824aba739201032727b00466c9a101858652feed2e217406"
#define V_WRAP                                                                 \
  "eff07fe7349717ce021c52141b9b279fbf4a34da0ea6c278daf13e8097e4591923552d8f"   \
  "18d4f3c22e81dd6a1bf8675b0b8e7d76aebf5af2d549a69e00827d9935b2e72b940d8115"   \
  "e22c673ace0af50b"
#define V_CONSENT_CANON                                                        \
  "000000106b6574656e2f636f6e73656e742f763100000010101112131415161718191a1b"   \
  "1c1d1e1f00000020d14a317edd560fa82bdc24368bf7dfb1b8f8d31ad2e9c76aecaf4bb5"   \
  "5ba7177700000003636f610000000b67677a3a7a65656c616e6400000008000000000000"   \
  "040800000008000000000000000400000008000000000000000100000000000000080000"   \
  "019e7044880000000008000001a5c7f5b40000000015636f612d666f726d2d323032362d"   \
  "303631312d3138000000080000019e70448800"
#define V_CONSENT_SIG                                                          \
  "d5910db8d59a59d74edc573c093179d579dc84d36a90e5eb2712d8682b95835c32df7886"   \
  "a13edc5f5565e4d91a5c551ee8b948c0a54c512d98279c4cd35d1f06"
#define V_REVOCATION_CANON \
  "000000136b6574656e2f7265766f636174696f6e2f763200000010101112131415161718" \
  "191a1b1c1d1e1f00000020d14a317edd560fa82bdc24368bf7dfb1b8f8d31ad2e9c76aec" \
  "af4bb55ba7177700000003636f6100000008000001a0c4506c000000001b696e67657472" \
  "6f6b6b656e20646f6f7220626574726f6b6b656e6500000017636f612d7665727a6f656b" \
  "2d323032362d303931322d33"
#define V_REVOCATION_SIG \
  "2ad13ac996a479b181331fca080ef357df4094e9aafd0220ddff36f1896142f61bbc2200" \
  "938eebfb82dc998816312851e785d35f374333580225776553f33808"

#define V_ROOT_PK \
  "882d0ea3b2864e7a587f3e698cea4459998312e655e05fa5e8b5119d8baac8cd"
#define V_ENTRY_CANON \
  "000000176b6574656e2f72656769737472792d656e7472792f763100000003636f610000" \
  "000800000000000000020000002343656e747261616c204f726761616e206f7076616e67" \
  "20617369656c7a6f656b65727300000020a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" \
  "b4b5b6b7b8b9babbbcbdbebfc00000002079b5562e8fe654f94078b112e8a98ba7901f85" \
  "3ae695bed7e0e3910bad049664000000205869aff450549732cbaaed5e5df9b30a6da31c" \
  "b0e5742bad5ad4a1a768f1a67b000000080000019e7044880000000008000001a5c7f5b4" \
  "00000000080000019e6b1e2c00"
#define V_ENTRY_HASH \
  "990d365df77d703f548ff639362520a20301ff0ae62ad5d1348b525428bba11c"
#define V_ENTRY_SIG \
  "00c9a6fd2e48a220d6a84c860af4a44dbbc38945c9b668b23494c5ee73da8431f221d558" \
  "0f4893b37d088db6862bfdeecb931bc99f01bff3868ed08726e70601"
#define V_FINGERPRINT "755331761d8124e311d9eb3e36e39092f3b04b2f"
#define V_ROOT_FINGERPRINT "97bd315c3f3f0d3f718c7f47860ab93e68a33cb1"

/* The TVS feed and the broker's delete notices (issue 7). */
#define V_TVS_PK \
  "020bd427446b723424d80d2cad352ba3df3649d0ef8faae0ca7eb25443941b29"
#define V_BROKER_PK \
  "d6eed8963f8bc1e22d4b30966298ab87d0402efb8599cd1c20eb87d1d891969a"
#define V_KOPPELING_CANON \
  "000000126b6574656e2f7476732d6576656e742f763100000010e0e1e2e3e4e5e6e7e8e9" \
  "eaebecedeeef00000008000000000000000100000020d14a317edd560fa82bdc24368bf7" \
  "dfb1b8f8d31ad2e9c76aecaf4bb55ba717770000000d67656d65656e74653a3037313600" \
  "00000000000006323032362d320000000a323032362d30372d3031000000080000000000" \
  "000003000000080000000000000000000000080000000000000000000000080000000000" \
  "00000000000003747673000000080000019f17c1ba80"
#define V_KOPPELING_SIG \
  "b92cb4f54042e580127686c813d763bb0eea9c6165e13b94f3c9bda0ada6276b53904b52" \
  "ddee7398095ee9e9e49fb3b0fdeb1896d65d67d709582d860c649502"
#define V_TAAKSTELLING_CANON \
  "000000126b6574656e2f7476732d6576656e742f763100000010f0f1f2f3f4f5f6f7f8f9" \
  "fafbfcfdfeff000000080000000000000005000000000000000d67656d65656e74653a30" \
  "3731360000000000000006323032362d3200000000000000080000000000000000000000" \
  "08000000000000000000000008000000000000002d00000008000000000000000c000000" \
  "03747673000000080000019f1ce81680"
#define V_TAAKSTELLING_SIG \
  "63edccd3321c3d80ac0768d1bc34f74afbf7cd9ca74d47bc0c5335d4b272a32c0bd073b3" \
  "52ac97576d42f09dbd1148adeed1d27cdaaba0f0461c2c7c45b61804"
#define V_NOTICE_CANON \
  "0000000f6b6574656e2f6e6f746963652f763100000010a0a1a2a3a4a5a6a7a8a9aaabac" \
  "adaeaf00000008000000000000000200000008000000000000000100000020d14a317edd" \
  "560fa82bdc24368bf7dfb1b8f8d31ad2e9c76aecaf4bb55ba71777000000101011121314" \
  "15161718191a1b1c1d1e1f0000000000000008000001a0c4506c00000000080000000000" \
  "00000200000008000000000000000300000003636f610000000800000000000000010000" \
  "0008000000000000000a00000003636f61000000080000000000000002"
#define V_NOTICE_SIG \
  "a0eb11aec83f8f04736e49f601ea1db1081ca0eb203bc77a5a84932943d7d9a8dff67a06" \
  "b2f1cb1c8009684f939ef076e28db9cc036123c6c3e672cd79e5ba03"

/* The wrap of §9.3 opened step by step (§3.3): the X25519 shared secret,
 * crypto_box_beforenm's HSalsa20 of it, the sealed-box nonce. */
#define V_WRAP_SHARED \
  "36143432546632d3f31dd77515e3a999f28fa435721b1ae0535023a9c12c5b27"
#define V_WRAP_BOX_KEY \
  "4cdacbd73a239732389f322615251cff0f0f7d34490c76ec4e37f99c6144d192"
#define V_WRAP_NONCE \
  "6927c05bbba607796d6f8ce826569b51e4c09a6cdc7d3872"
#define V_WRAP_SUBKEY \
  "f49a20235c013851e630898ad67dff9c77af806fe9fe7291a7deeb2100125964"
#define V_WRAP_POLY_KEY \
  "f0f757f73cafbd4aecdb6fbf0c267cda23edf010bb1bcf54ae0bb5f0d17fbd40"

/* An audit entry and a checkpoint of its head (§14, §15). */
#define V_AUDIT_CANON \
  "0000000e6b6574656e2f61756469742f7631000000080000000000000001000000200000" \
  "00000000000000000000000000000000000000000000000000000000000000000010c0c1" \
  "c2c3c4c5c6c7c8c9cacbcccdcecf00000008d0d1d2d3d4d5d6d700000008d8d9dadbdcdd" \
  "dedf000000136b6574656e2e73656374696f6e2e66657463680000000800000000000000" \
  "01000000080000019e70448800000000080000019e704488050000000b67677a3a7a6565" \
  "6c616e6400000003636f6100000020d14a317edd560fa82bdc24368bf7dfb1b8f8d31ad2" \
  "e9c76aecaf4bb55ba7177700000008000000000000000300000010101112131415161718" \
  "191a1b1c1d1e1f00000008000000000000000400000010c0c1c2c3c4c5c6c7c8c9cacbcc" \
  "cdcecf00000008d8d9dadbdcdddedf00000009646973636c6f736564"
#define V_AUDIT_HASH \
  "d13f8e289205f7ff69b0ac4d63d56b0e34ee3209bc146a4121e7b1d2c9459646"
#define V_CHECKPOINT_CANON \
  "000000196b6574656e2f61756469742d636865636b706f696e742f763100000008000000" \
  "000000000100000020d13f8e289205f7ff69b0ac4d63d56b0e34ee3209bc146a4121e7b1" \
  "d2c9459646000000080000019e70457260"
#define V_CHECKPOINT_SIG \
  "f5cbe9c9e641896efdcd8cd52cbfb366581123ba23b8017d93b1213be1c15ead4153d9a6" \
  "43d2fec8960cf110580acd2990964f941b97ff3a03df906ac203550a"
#define V_AUDIT_COLUMNS                                                        \
  "seq trace_id operation_id parent_operation_id name status start_ms "       \
  "end_ms actor counterparty subject kind consent_id purpose "                \
  "foreign_trace_id foreign_operation_id detail prev_hash hash "
#define V_CHECKPOINT_COLUMNS "seq head_hash at_ms signature "

/* ---- the inputs ---------------------------------------------------------- */

#define V_NUMMER "2931847560"
#define V_PLAINTEXT "{\"text\":\"Ik was apotheker in Homs.\"}"
#define V_CREATED_AT UINT64_C(1780000000000)
#define V_VALID_UNTIL UINT64_C(1811536000000)
#define V_REVOKED_AT UINT64_C(1790000000000)
#define V_EVIDENCE "coa-form-2026-0611-18"
#define V_REASON "ingetrokken door betrokkene"
#define V_REVOCATION_EVIDENCE "coa-verzoek-2026-0912-3"
#define V_ISSUED_AT UINT64_C(1779913600000)
#define V_KOPPELING_AT UINT64_C(1782810000000)    /* 2026-06-30T09:00Z */
#define V_TAAKSTELLING_AT UINT64_C(1782896400000) /* 2026-07-01T09:00Z */

typedef struct {
  keten_keys_t coa;       /* signing seed 01..20, sealing secret 21..40 */
  uint8_t chain_key[32];  /* 00..1f */
  uint8_t data_key[32];   /* 42 * 32 */
  uint8_t nonce[24];      /* 24 * 24 */
  uint8_t consent_id[16]; /* 10..1f */
  keten_section_header_t header;
} s_inputs_t;

static void s_inputs(s_inputs_t *in) {
  memset(in, 0, sizeof *in);
  uint8_t seed[32];
  for (int i = 0; i < 32; i++) {
    seed[i] = (uint8_t)(0x01 + i);
    in->chain_key[i] = (uint8_t)i;
    in->coa.sealing_sk[i] = (uint8_t)(0x21 + i);
  }
  for (int i = 0; i < 16; i++)
    in->consent_id[i] = (uint8_t)(0x10 + i);
  memset(in->data_key, 0x42, sizeof in->data_key);
  memset(in->nonce, 0x24, sizeof in->nonce);
  snprintf(in->coa.id, sizeof in->coa.id, "coa");
  assert_int_equal(
      crypto_sign_seed_keypair(in->coa.signing_pk, in->coa.signing_sk, seed),
      0);
  assert_int_equal(
      crypto_scalarmult_base(in->coa.sealing_pk, in->coa.sealing_sk), 0);
  in->coa.has_secret = 1;

  assert_int_equal(
      keten_subject_id(in->chain_key, V_NUMMER, in->header.subject), KETEN_OK);
  in->header.kind = KETEN__SECTION_KIND__SECTION_STORY;
  snprintf(in->header.author, sizeof in->header.author, "coa");
  in->header.version = 1;
  in->header.created_at_ms = V_CREATED_AT;
}

/* Asserts that len bytes at got are the hex string want. */
static void s_hex_is(const char *what, const void *got, size_t len,
                     const char *want) {
  char *hex = malloc(2 * len + 1);
  assert_non_null(hex);
  sodium_bin2hex(hex, 2 * len + 1, got, len);
  if (strcmp(hex, want) != 0) {
    print_error("%s\n  got  %s\n  want %s\n", what, hex, want);
    free(hex);
    fail();
  }
  free(hex);
}

/* Decodes a hex literal into a new buffer. */
static uint8_t *s_unhex(const char *hex, size_t *len) {
  size_t cap = strlen(hex) / 2;
  uint8_t *bin = malloc(cap);
  assert_non_null(bin);
  assert_int_equal(sodium_hex2bin(bin, cap, hex, strlen(hex), NULL, len, NULL),
                   0);
  assert_int_equal(*len, cap);
  return bin;
}

/* ---- keys and subject ---------------------------------------------------- */

static void test_keys(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  s_hex_is("signing public key", in.coa.signing_pk, 32, V_SIGNING_PK);
  s_hex_is("sealing public key", in.coa.sealing_pk, 32, V_SEALING_PK);
  keten_keys_wipe(&in.coa);
}

static void test_subject(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  canon_t c;
  canon_init(&c);
  canon_str(&c, CANON_TAG_SUBJECT);
  canon_str(&c, V_NUMMER);
  s_hex_is("subject canonical string", c.data, c.len, V_SUBJECT_CANON);
  /* the subject id is the keyed hash of exactly that string */
  uint8_t subject[32];
  crypto_generichash(subject, 32, c.data, c.len, in.chain_key, 32);
  canon_free(&c);
  s_hex_is("subject (hash of the canonical string)", subject, 32, V_SUBJECT);
  s_hex_is("subject (keten_subject_id)", in.header.subject, 32, V_SUBJECT);
  assert_int_equal(keten_subject_id(in.chain_key, "29 3184 7560", subject),
                   KETEN_OK);
  s_hex_is("subject of a spaced V-nummer", subject, 32, V_SUBJECT);
  keten_keys_wipe(&in.coa);
}

/* ---- section ------------------------------------------------------------- */

static void test_section(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  keten_err_t err;
  Keten__SealedSection *s =
      seal_section_with(&in.header, V_PLAINTEXT, strlen(V_PLAINTEXT), &in.coa,
                        NULL, 0, in.data_key, in.nonce, &err);
  assert_non_null(s);
  assert_int_equal(err, KETEN_OK);

  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_section_header(&c, s->header), 0);
  s_hex_is("header canonical string (AEAD associated data)", c.data, c.len,
           V_HEADER_CANON);
  canon_free(&c);

  s_hex_is("nonce", s->nonce.data, s->nonce.len,
           "242424242424242424242424242424242424242424242424");
  s_hex_is("ciphertext", s->ciphertext.data, s->ciphertext.len, V_CIPHERTEXT);

  canon_init(&c);
  assert_int_equal(canon_section_signed(&c, s), 0);
  assert_int_equal(c.len, V_SIG_STRING_LEN);
  uint8_t hash[32];
  crypto_generichash(hash, 32, c.data, c.len, NULL, 0);
  s_hex_is("BLAKE2b-256 of the section-sig string", hash, 32,
           V_SIG_STRING_BLAKE2B);
  canon_free(&c);

  s_hex_is("section signature", s->signature.data, s->signature.len,
           V_SIGNATURE);
  assert_int_equal(canon_verify_section(s, in.coa.signing_pk), 0);

  /* the wrap is randomised, but it opens to the data key */
  assert_int_equal(s->n_wraps, 1);
  assert_string_equal(s->wraps[0]->recipient, "coa");
  uint8_t key[32];
  assert_int_equal(crypto_box_seal_open(key, s->wraps[0]->wrap.data, 80,
                                        in.coa.sealing_pk, in.coa.sealing_sk),
                   0);
  assert_memory_equal(key, in.data_key, 32);
  seal_section_free(s);
  keten_keys_wipe(&in.coa);
}

/* A section assembled from the literals alone opens: what a client in
 * another language receives, it can check against this. */
static void test_open_literals(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  size_t subject_len, ct_len, sig_len, wrap_len;
  uint8_t *subject = s_unhex(V_SUBJECT, &subject_len);
  uint8_t *ct = s_unhex(V_CIPHERTEXT, &ct_len);
  uint8_t *sig = s_unhex(V_SIGNATURE, &sig_len);
  uint8_t *wrap = s_unhex(V_WRAP, &wrap_len);
  assert_int_equal(wrap_len, 80);

  /* the literal wrap: crypto_box_seal of the data key to coa's sealing key */
  uint8_t key[32];
  assert_int_equal(crypto_box_seal_open(key, wrap, wrap_len, in.coa.sealing_pk,
                                        in.coa.sealing_sk),
                   0);
  assert_memory_equal(key, in.data_key, 32);

  Keten__SectionHeader h = KETEN__SECTION_HEADER__INIT;
  h.subject.data = subject;
  h.subject.len = subject_len;
  h.kind = KETEN__SECTION_KIND__SECTION_STORY;
  h.author = (char *)"coa";
  h.version = 1;
  h.created_at_ms = V_CREATED_AT;
  Keten__KeyWrap w = KETEN__KEY_WRAP__INIT;
  w.recipient = (char *)"coa";
  w.wrap.data = wrap;
  w.wrap.len = wrap_len;
  Keten__KeyWrap *wraps[1] = {&w};
  Keten__SealedSection s = KETEN__SEALED_SECTION__INIT;
  s.header = &h;
  s.nonce.data = in.nonce;
  s.nonce.len = sizeof in.nonce;
  s.ciphertext.data = ct;
  s.ciphertext.len = ct_len;
  s.signature.data = sig;
  s.signature.len = sig_len;
  s.wraps = wraps;
  s.n_wraps = 1;

  uint8_t pk[32];
  size_t pk_len;
  assert_int_equal(sodium_hex2bin(pk, sizeof pk, V_SIGNING_PK,
                                  strlen(V_SIGNING_PK), NULL, &pk_len, NULL),
                   0);
  keten_section_t *out = calloc(1, sizeof *out);
  char why[128];
  assert_int_equal(seal_open(&s, pk, "coa", &in.coa, out, why, sizeof why),
                   KETEN_OK);
  assert_int_equal(out->json_len, strlen(V_PLAINTEXT));
  assert_string_equal(out->json, V_PLAINTEXT);
  keten_sections_free(out, 1);
  free(subject);
  free(ct);
  free(sig);
  free(wrap);
  keten_keys_wipe(&in.coa);
}

/* crypto_box_seal_open of the wrap vector, every step with its own
 * primitive (§3.3): what an implementation without crypto_box does. */
static void test_wrap_steps(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  size_t wrap_len;
  uint8_t *wrap = s_unhex(V_WRAP, &wrap_len);
  const uint8_t *epk = wrap, *tag = wrap + 32, *ct = wrap + 48;
  /* 1. X25519 of the recipient's secret and the ephemeral public key */
  uint8_t shared[32];
  assert_int_equal(crypto_scalarmult(shared, in.coa.sealing_sk, epk), 0);
  s_hex_is("X25519 shared secret", shared, 32, V_WRAP_SHARED);
  /* 2. crypto_box_beforenm: HSalsa20(key = shared, input = 16 zero bytes,
   *    constant = sigma "expand 32-byte k") */
  static const uint8_t zero16[16] = {0};
  static const uint8_t sigma[16] = "expand 32-byte k";
  uint8_t box_key[32], box_key_null[32], beforenm[32];
  assert_int_equal(crypto_core_hsalsa20(box_key, zero16, shared, sigma), 0);
  assert_int_equal(crypto_core_hsalsa20(box_key_null, zero16, shared, NULL), 0);
  assert_memory_equal(box_key, box_key_null, 32); /* NULL is sigma */
  assert_int_equal(crypto_box_beforenm(beforenm, epk, in.coa.sealing_sk), 0);
  assert_memory_equal(box_key, beforenm, 32);
  s_hex_is("crypto_box_beforenm key", box_key, 32, V_WRAP_BOX_KEY);
  /* 3. the nonce: unkeyed BLAKE2b, 24 bytes, of epk || recipient key */
  uint8_t both[64], nonce[24];
  memcpy(both, epk, 32);
  memcpy(both + 32, in.coa.sealing_pk, 32);
  crypto_generichash(nonce, sizeof nonce, both, sizeof both, NULL, 0);
  s_hex_is("sealed-box nonce", nonce, 24, V_WRAP_NONCE);
  /* 4. XSalsa20: HSalsa20(key = box key, input = nonce 0..15, sigma) is
   *    the Salsa20 key; Salsa20 with nonce 16..23 gives the keystream */
  uint8_t subkey[32], stream[64];
  assert_int_equal(crypto_core_hsalsa20(subkey, nonce, box_key, sigma), 0);
  s_hex_is("XSalsa20 subkey", subkey, 32, V_WRAP_SUBKEY);
  assert_int_equal(crypto_stream_salsa20(stream, sizeof stream, nonce + 16,
                                         subkey),
                   0);
  /* 5. Poly1305 key: keystream bytes 0..31; the tag covers the 32
   *    ciphertext bytes */
  s_hex_is("Poly1305 key", stream, 32, V_WRAP_POLY_KEY);
  assert_int_equal(crypto_onetimeauth_poly1305_verify(tag, ct, 32, stream), 0);
  /* 6. K = ciphertext XOR keystream bytes 32..63 */
  uint8_t key[32];
  for (int i = 0; i < 32; i++)
    key[i] = ct[i] ^ stream[32 + i];
  assert_memory_equal(key, in.data_key, 32);
  free(wrap);
  keten_keys_wipe(&in.coa);
}

/* ---- consent and revocation ---------------------------------------------- */

static void s_consent(s_inputs_t *in, Keten__Consent *k,
                      Keten__SectionKind *kinds, size_t n) {
  keten__consent__init(k);
  k->consent_id.data = in->consent_id;
  k->consent_id.len = sizeof in->consent_id;
  k->subject.data = in->header.subject;
  k->subject.len = sizeof in->header.subject;
  k->recorded_by = (char *)"coa";
  k->recipient = (char *)"ggz:zeeland";
  k->sections = kinds;
  k->n_sections = n;
  k->purpose = KETEN__PURPOSE__PURPOSE_ZORG;
  k->basis = KETEN__BASIS__BASIS_CONSENT;
  k->legal_reference = (char *)"";
  k->valid_from_ms = V_CREATED_AT;
  k->valid_until_ms = V_VALID_UNTIL;
  k->evidence_ref = (char *)V_EVIDENCE;
  k->recorded_at_ms = V_CREATED_AT;
}

static void test_consent(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  Keten__SectionKind kinds[] = {KETEN__SECTION_KIND__SECTION_STORY,
                                KETEN__SECTION_KIND__SECTION_HEALTH};
  Keten__Consent k;
  s_consent(&in, &k, kinds, 2);
  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_consent(&c, &k), 0);
  s_hex_is("consent canonical string", c.data, c.len, V_CONSENT_CANON);
  canon_free(&c);
  uint8_t sig[64];
  assert_int_equal(canon_sign_consent(&k, in.coa.signing_sk, sig), 0);
  s_hex_is("consent signature", sig, 64, V_CONSENT_SIG);
  k.signature.data = sig;
  k.signature.len = 64;
  assert_int_equal(canon_verify_consent(&k, in.coa.signing_pk), 0);

  /* sections are a set: order and repetition do not change the string */
  Keten__SectionKind shuffled[] = {KETEN__SECTION_KIND__SECTION_HEALTH,
                                   KETEN__SECTION_KIND__SECTION_STORY,
                                   KETEN__SECTION_KIND__SECTION_HEALTH};
  s_consent(&in, &k, shuffled, 3);
  canon_init(&c);
  assert_int_equal(canon_consent(&c, &k), 0);
  s_hex_is("consent canonical string, sections shuffled", c.data, c.len,
           V_CONSENT_CANON);
  canon_free(&c);
  keten_keys_wipe(&in.coa);
}

static void test_revocation(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  Keten__Revocation r = KETEN__REVOCATION__INIT;
  r.consent_id.data = in.consent_id;
  r.consent_id.len = sizeof in.consent_id;
  r.subject.data = in.header.subject;
  r.subject.len = sizeof in.header.subject;
  r.recorded_by = (char *)"coa";
  r.revoked_at_ms = V_REVOKED_AT;
  r.reason = (char *)V_REASON;
  r.evidence_ref = (char *)V_REVOCATION_EVIDENCE;
  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_revocation(&c, &r), 0);
  s_hex_is("revocation canonical string", c.data, c.len, V_REVOCATION_CANON);
  canon_free(&c);
  uint8_t sig[64];
  assert_int_equal(canon_sign_revocation(&r, in.coa.signing_sk, sig), 0);
  s_hex_is("revocation signature", sig, 64, V_REVOCATION_SIG);
  r.signature.data = sig;
  r.signature.len = 64;
  assert_int_equal(canon_verify_revocation(&r, in.coa.signing_pk), 0);
  keten_keys_wipe(&in.coa);
}

/* ---- registry entries and fingerprints ------------------------------------- */

/* The chain root from seed 61..80; coa's entry with transport key a1..c0
 * (a fixed value, not a real Curve25519 key pair: only its bytes count). */
static void s_entry(s_inputs_t *in, uint8_t root_pk[32], uint8_t root_sk[64],
                    uint8_t transport[32], Keten__RegistryEntry *e) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++) {
    seed[i] = (uint8_t)(0x61 + i);
    transport[i] = (uint8_t)(0xa1 + i);
  }
  assert_int_equal(crypto_sign_seed_keypair(root_pk, root_sk, seed), 0);
  keten__registry_entry__init(e);
  e->participant_id = (char *)"coa";
  e->role = KETEN__ROLE__ROLE_COA;
  e->display_name = (char *)"Centraal Orgaan opvang asielzoekers";
  e->transport_key.data = transport;
  e->transport_key.len = 32;
  e->signing_key.data = in->coa.signing_pk;
  e->signing_key.len = 32;
  e->sealing_key.data = in->coa.sealing_pk;
  e->sealing_key.len = 32;
  e->valid_from_ms = V_CREATED_AT;
  e->valid_until_ms = V_VALID_UNTIL;
  e->issued_at_ms = V_ISSUED_AT;
}

static void test_registry_entry(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  uint8_t root_pk[32], root_sk[64], transport[32];
  Keten__RegistryEntry e;
  s_entry(&in, root_pk, root_sk, transport, &e);
  s_hex_is("root public key", root_pk, 32, V_ROOT_PK);
  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_registry_entry(&c, &e), 0);
  s_hex_is("registry entry canonical string", c.data, c.len, V_ENTRY_CANON);
  canon_free(&c);
  uint8_t hash[32];
  assert_int_equal(canon_entry_hash(&e, hash), 0);
  s_hex_is("entry hash (BLAKE2b-256 of the canonical string)", hash, 32,
           V_ENTRY_HASH);
  uint8_t sig[64];
  assert_int_equal(canon_sign_entry(&e, root_sk, sig), 0);
  s_hex_is("root signature of the entry", sig, 64, V_ENTRY_SIG);
  e.root_signature.data = sig;
  e.root_signature.len = 64;
  assert_int_equal(canon_verify_entry(&e, root_pk), 0);
  /* the signature covers every field: one changed field fails it */
  e.role = KETEN__ROLE__ROLE_OPERATOR;
  assert_int_not_equal(canon_verify_entry(&e, root_pk), 0);
  sodium_memzero(root_sk, sizeof root_sk);
  keten_keys_wipe(&in.coa);
}

/* The fingerprint as printed, without its spaces. */
static void s_fingerprint_is(const char *what, const uint8_t *const *keys,
                             size_t n, const char *want) {
  char fp[CANON_FINGERPRINT_CHARS], bare[41];
  canon_fingerprint(keys, n, fp);
  assert_int_equal(strlen(fp), CANON_FINGERPRINT_CHARS - 1);
  size_t k = 0;
  for (size_t i = 0; fp[i]; i++) {
    if (i % 5 == 4) {
      assert_int_equal(fp[i], ' '); /* groups of four */
      continue;
    }
    bare[k++] = fp[i];
  }
  bare[k] = '\0';
  if (strcmp(bare, want) != 0)
    fail_msg("%s: got %s, want %s", what, bare, want);
}

static void test_fingerprints(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  uint8_t root_pk[32], root_sk[64], transport[32];
  Keten__RegistryEntry e;
  s_entry(&in, root_pk, root_sk, transport, &e);
  const uint8_t *keys[3] = {transport, in.coa.signing_pk, in.coa.sealing_pk};
  s_fingerprint_is("fingerprint of coa's keys", keys, 3, V_FINGERPRINT);
  const uint8_t *root[1] = {root_pk};
  s_fingerprint_is("fingerprint of the root key", root, 1, V_ROOT_FINGERPRINT);
  sodium_memzero(root_sk, sizeof root_sk);
  keten_keys_wipe(&in.coa);
}

/* ---- TVS events and delete notices --------------------------------------- */

/* An Ed25519 key pair from the seed a, a+1, .., a+31. */
static void s_seed_keys(uint8_t first, uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++)
    seed[i] = (uint8_t)(first + i);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
  sodium_memzero(seed, sizeof seed);
}

/* Checks ev's canonical string and the TVS signature over it, then that
 * the literals alone verify: what a gemeente in another language gets. */
static void s_tvs_vector(const char *what, Keten__TvsEvent *ev,
                         const uint8_t pk[32], const uint8_t sk[64],
                         const char *want_canon, const char *want_sig) {
  uint8_t *c;
  size_t len;
  assert_int_equal(tvs_event_canon(ev, &c, &len), 0);
  s_hex_is(what, c, len, want_canon);
  uint8_t sig[64];
  assert_int_equal(tvs_event_sign(ev, sk, sig), 0);
  s_hex_is(what, sig, 64, want_sig);
  ev->signature.data = sig;
  ev->signature.len = 64;
  char why[128];
  if (tvs_event_check_shape(ev, why, sizeof why) != 0)
    fail_msg("%s: %s", what, why);
  assert_int_equal(tvs_event_verify(ev, pk), 0);
  size_t lit_len, sig_len, pk_len;
  uint8_t *lit = s_unhex(want_canon, &lit_len);
  uint8_t *lit_sig = s_unhex(want_sig, &sig_len);
  uint8_t *lit_pk = s_unhex(V_TVS_PK, &pk_len);
  assert_int_equal(
      crypto_sign_verify_detached(lit_sig, lit, lit_len, lit_pk), 0);
  ev->household_size ^= 1; /* any change breaks it */
  assert_int_not_equal(tvs_event_verify(ev, pk), 0);
  ev->household_size ^= 1;
  ev->signature.len = 0;
  free(lit);
  free(lit_sig);
  free(lit_pk);
  free(c);
}

static void test_tvs_events(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  uint8_t pk[32], sk[64];
  s_seed_keys(0x81, pk, sk);
  s_hex_is("TVS public key", pk, 32, V_TVS_PK);
  uint8_t event_id[16];
  for (int i = 0; i < 16; i++)
    event_id[i] = (uint8_t)(0xe0 + i);

  /* ../shared/examples/tvs-koppeling-amira.json */
  Keten__TvsEvent ev = KETEN__TVS_EVENT__INIT;
  ev.event_id.data = event_id;
  ev.event_id.len = 16;
  ev.kind = KETEN__TVS_EVENT_KIND__TVS_KOPPELING;
  ev.subject.data = in.header.subject;
  ev.subject.len = 32;
  ev.gemeente = (char *)"gemeente:0716";
  ev.period = (char *)"2026-2";
  ev.date = (char *)"2026-07-01";
  ev.household_size = 3;
  ev.published_by = (char *)"tvs";
  ev.published_at_ms = V_KOPPELING_AT;
  s_tvs_vector("KOPPELING", &ev, pk, sk, V_KOPPELING_CANON, V_KOPPELING_SIG);

  for (int i = 0; i < 16; i++)
    event_id[i] = (uint8_t)(0xf0 + i);
  keten__tvs_event__init(&ev);
  ev.event_id.data = event_id;
  ev.event_id.len = 16;
  ev.kind = KETEN__TVS_EVENT_KIND__TVS_TAAKSTELLING;
  ev.gemeente = (char *)"gemeente:0716";
  ev.period = (char *)"2026-2";
  ev.target = 45;
  ev.realised = 12;
  ev.published_by = (char *)"tvs";
  ev.published_at_ms = V_TAAKSTELLING_AT;
  s_tvs_vector("TAAKSTELLING", &ev, pk, sk, V_TAAKSTELLING_CANON,
               V_TAAKSTELLING_SIG);
  sodium_memzero(sk, sizeof sk);
  keten_keys_wipe(&in.coa);
}

/* The delete notice ggz:zeeland gets when the consent of §9.4 is revoked
 * (§9.5): every version of coa's STORY up to 1 and HEALTH up to 2. */
static void test_notice(void **state) {
  (void)state;
  s_inputs_t in;
  s_inputs(&in);
  uint8_t pk[32], sk[64];
  s_seed_keys(0xb1, pk, sk);
  s_hex_is("broker signing public key", pk, 32, V_BROKER_PK);
  uint8_t notice_id[16];
  for (int i = 0; i < 16; i++)
    notice_id[i] = (uint8_t)(0xa0 + i);
  Keten__NoticeItem story = KETEN__NOTICE_ITEM__INIT;
  story.kind = KETEN__SECTION_KIND__SECTION_STORY;
  story.author = (char *)"coa";
  story.up_to_version = 1;
  Keten__NoticeItem health = KETEN__NOTICE_ITEM__INIT;
  health.kind = KETEN__SECTION_KIND__SECTION_HEALTH;
  health.author = (char *)"coa";
  health.up_to_version = 2;
  Keten__NoticeItem *items[2] = {&story, &health};
  Keten__Notice n = KETEN__NOTICE__INIT;
  n.kind = KETEN__NOTICE_KIND__NOTICE_DELETE;
  n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED;
  n.notice_id.data = notice_id;
  n.notice_id.len = 16;
  n.subject.data = in.header.subject;
  n.subject.len = 32;
  n.consent_id.data = in.consent_id;
  n.consent_id.len = 16;
  n.created_at_ms = V_REVOKED_AT;
  n.items = items;
  n.n_items = 2;

  canon_t c;
  canon_init(&c);
  assert_int_equal(canon_notice(&c, &n), 0);
  s_hex_is("notice canonical string", c.data, c.len, V_NOTICE_CANON);
  canon_free(&c);
  uint8_t sig[64];
  assert_int_equal(canon_sign_notice(&n, sk, sig), 0);
  s_hex_is("broker signature of the notice", sig, 64, V_NOTICE_SIG);
  n.broker_signature.data = sig;
  n.broker_signature.len = 64;
  char why[128];
  if (canon_notice_check_shape(&n, why, sizeof why) != 0)
    fail_msg("notice: %s", why);
  assert_int_equal(canon_verify_notice(&n, pk), 0);
  /* the items in their order: swapped, the signature fails */
  items[0] = &health;
  items[1] = &story;
  assert_int_not_equal(canon_verify_notice(&n, pk), 0);
  /* the literals alone verify */
  size_t lit_len, sig_len, pk_len;
  uint8_t *lit = s_unhex(V_NOTICE_CANON, &lit_len);
  uint8_t *lit_sig = s_unhex(V_NOTICE_SIG, &sig_len);
  uint8_t *lit_pk = s_unhex(V_BROKER_PK, &pk_len);
  assert_int_equal(
      crypto_sign_verify_detached(lit_sig, lit, lit_len, lit_pk), 0);
  free(lit);
  free(lit_sig);
  free(lit_pk);
  sodium_memzero(sk, sizeof sk);
  keten_keys_wipe(&in.coa);
}

/* ---- the audit trail ------------------------------------------------------ */

/* The inputs of §8: what ggz:zeeland's FETCH of the §9.3 section under the
 * §9.4 consent leaves in a fresh store's chain, as entry 1. */
static void s_audit_entry(audit_entry_t *e) {
  memset(e, 0, sizeof *e);
  e->seq = 1;
  for (int i = 0; i < 16; i++)
    e->trace_id[i] = e->foreign_trace_id[i] = (uint8_t)(0xc0 + i);
  for (int i = 0; i < 8; i++) {
    e->operation_id[i] = (uint8_t)(0xd0 + i);
    e->parent_operation_id[i] = e->foreign_operation_id[i] =
        (uint8_t)(0xd8 + i);
  }
  snprintf(e->name, sizeof e->name, "keten.section.fetch");
  e->status = AUDIT_STATUS_OK;
  e->start_ms = (int64_t)V_CREATED_AT;
  e->end_ms = (int64_t)V_CREATED_AT + 5;
  snprintf(e->actor, sizeof e->actor, "ggz:zeeland");
  snprintf(e->counterparty, sizeof e->counterparty, "coa");
  size_t n;
  uint8_t *subject = s_unhex(V_SUBJECT, &n);
  memcpy(e->subject, subject, 32);
  free(subject);
  e->kind = KETEN__SECTION_KIND__SECTION_STORY;
  for (int i = 0; i < 16; i++)
    e->consent_id[i] = (uint8_t)(0x10 + i);
  e->purpose = KETEN__PURPOSE__PURPOSE_ZORG;
  snprintf(e->detail, sizeof e->detail, "disclosed");
}

/* The entry string of §14 built field by field here (its own encoder, the
 * order of the document), checked against the literal, and its hash
 * against broker/audit.c's: the document, this test and the broker agree. */
static void test_audit_entry(void **state) {
  (void)state;
  audit_entry_t e;
  s_audit_entry(&e);
  canon_t c;
  canon_init(&c);
  canon_str(&c, "keten/audit/v1");
  canon_u64(&c, e.seq);
  canon_bytes(&c, e.prev_hash, 32);
  canon_bytes(&c, e.trace_id, 16);
  canon_bytes(&c, e.operation_id, 8);
  canon_bytes(&c, e.parent_operation_id, 8);
  canon_str(&c, e.name);
  canon_u64(&c, (uint64_t)e.status);
  canon_u64(&c, (uint64_t)e.start_ms);
  canon_u64(&c, (uint64_t)e.end_ms);
  canon_str(&c, e.actor);
  canon_str(&c, e.counterparty);
  canon_bytes(&c, e.subject, 32);
  canon_u64(&c, (uint64_t)e.kind);
  canon_bytes(&c, e.consent_id, 16);
  canon_u64(&c, (uint64_t)e.purpose);
  canon_bytes(&c, e.foreign_trace_id, 16);
  canon_bytes(&c, e.foreign_operation_id, 8);
  canon_str(&c, e.detail);
  assert_false(c.oom);
  s_hex_is("audit entry string", c.data, c.len, V_AUDIT_CANON);
  uint8_t hash[32], code_hash[32];
  crypto_generichash(hash, 32, c.data, c.len, NULL, 0);
  canon_free(&c);
  s_hex_is("audit entry hash", hash, 32, V_AUDIT_HASH);
  audit_entry_hash(&e, code_hash);
  assert_memory_equal(code_hash, hash, 32);
  static const uint8_t zero[32] = {0};
  audit_chain(&e, zero);
  assert_memory_equal(e.hash, hash, 32);
  assert_int_equal(audit_check(&e, zero), 0);
  e.kind = KETEN__SECTION_KIND__SECTION_HEALTH; /* one field changed */
  assert_int_not_equal(audit_check(&e, zero), 0);

  /* the checkpoint of that head, signed by the broker's key (§9.1) */
  uint8_t pk[32], sk[64], sig[64];
  s_seed_keys(0xb1, pk, sk);
  uint8_t cp[128];
  size_t cp_len =
      audit_checkpoint_bytes(1, hash, (int64_t)V_CREATED_AT + 60000, cp,
                             sizeof cp);
  assert_true(cp_len > 0 && cp_len <= sizeof cp);
  canon_init(&c);
  canon_str(&c, "keten/audit-checkpoint/v1");
  canon_u64(&c, 1);
  canon_bytes(&c, hash, 32);
  canon_u64(&c, V_CREATED_AT + 60000);
  assert_int_equal(c.len, cp_len);
  assert_memory_equal(c.data, cp, cp_len);
  canon_free(&c);
  s_hex_is("checkpoint string", cp, cp_len, V_CHECKPOINT_CANON);
  crypto_sign_detached(sig, NULL, cp, cp_len, sk);
  s_hex_is("checkpoint signature", sig, 64, V_CHECKPOINT_SIG);
  assert_int_equal(crypto_sign_verify_detached(sig, cp, cp_len, pk), 0);
  sodium_memzero(sk, sizeof sk);
}

static int s_column(void *arg, int n, char **values, char **names) {
  char *list = arg;
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], "name") == 0 && values[i] &&
        strlen(list) + strlen(values[i]) + 2 < 1024) {
      strcat(list, values[i]);
      strcat(list, " ");
    }
  return 0;
}

/* The columns of a store's audit and audit_checkpoint tables, in order,
 * are those §14 and §15 name. */
static void test_audit_columns(void **state) {
  (void)state;
  char dir[] = "/tmp/keten-vectors-XXXXXX", path[64], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/keten.db", dir);
  store_t *store = store_open(path, err, sizeof err);
  assert_non_null(store);
  store_close(&store);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char audit[1024] = "", checkpoint[1024] = "";
  assert_int_equal(sqlite3_exec(db, "PRAGMA table_info(audit)", s_column,
                                audit, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA table_info(audit_checkpoint)",
                                s_column, checkpoint, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  assert_string_equal(audit, V_AUDIT_COLUMNS);
  assert_string_equal(checkpoint, V_CHECKPOINT_COLUMNS);
  /* and the document lists them, in that order */
  const char *doc_path = KETEN_SOURCE_DIR "/docs/test-vectors.md";
  FILE *fp = fopen(doc_path, "r");
  assert_non_null(fp);
  char line[1024], *found_audit = NULL, *found_cp = NULL;
  while (fgets(line, sizeof line, fp)) {
    if (strncmp(line, "Stored columns of `audit`: ", 27) == 0)
      found_audit = strdup(line + 27);
    if (strncmp(line, "Stored columns of `audit_checkpoint`: ", 38) == 0)
      found_cp = strdup(line + 38);
  }
  fclose(fp);
  if (!found_audit || !found_cp)
    fail_msg("%s lacks the \"Stored columns of\" lines", doc_path);
  /* "`seq`, `trace_id`, ...": compare without the punctuation */
  char *lists[2] = {found_audit, found_cp};
  const char *want[2] = {V_AUDIT_COLUMNS, V_CHECKPOINT_COLUMNS};
  for (int l = 0; l < 2; l++) {
    char plain[1024] = "";
    for (char *tok = strtok(lists[l], "`,. \n"); tok;
         tok = strtok(NULL, "`,. \n")) {
      strcat(plain, tok);
      strcat(plain, " ");
    }
    assert_string_equal(plain, want[l]);
    free(lists[l]);
  }
}

/* ---- the document -------------------------------------------------------- */

static int s_is_hex(const char *p, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return 0;
  return 1;
}

/* Every vector must appear in docs/test-vectors.md as one code block whose
 * lines begin with hex: either the value itself (possibly over several
 * lines), or a field-by-field dump "<length> <value>  <label>". */
static void test_document(void **state) {
  (void)state;
  const char *path = KETEN_SOURCE_DIR "/docs/test-vectors.md";
  FILE *fp = fopen(path, "r");
  if (!fp)
    fail_msg("cannot read %s", path);
  char *blocks[128] = {0};
  size_t n_blocks = 0;
  char line[1024];
  char *cur = NULL;
  size_t cur_len = 0;
  int in_block = 0;
  while (fgets(line, sizeof line, fp)) {
    if (strncmp(line, "```", 3) == 0) {
      if (in_block && cur && cur_len && n_blocks < 128)
        blocks[n_blocks++] = cur;
      else
        free(cur);
      cur = NULL;
      cur_len = 0;
      in_block = !in_block;
      continue;
    }
    if (!in_block)
      continue;
    /* up to two leading hex words: length prefix and value */
    const char *p = line;
    for (int word = 0; word < 2; word++) {
      size_t n = strcspn(p, " \n");
      if (!s_is_hex(p, n))
        break;
      char *grown = realloc(cur, cur_len + n + 1);
      assert_non_null(grown);
      cur = grown;
      memcpy(cur + cur_len, p, n);
      cur_len += n;
      cur[cur_len] = '\0';
      p += n;
      if (*p != ' ')
        break;
      p++;
    }
  }
  free(cur);
  fclose(fp);

  const char *const vectors[] = {
      V_SIGNING_PK,
      V_SEALING_PK,
      V_SUBJECT_CANON,
      V_SUBJECT,
      V_HEADER_CANON,
      V_CIPHERTEXT,
      V_SIG_STRING_BLAKE2B,
      V_SIGNATURE,
      V_WRAP,
      V_CONSENT_CANON,
      V_CONSENT_SIG,
      V_REVOCATION_CANON,
      V_REVOCATION_SIG,
      V_ROOT_PK,
      V_ENTRY_CANON,
      V_ENTRY_HASH,
      V_ENTRY_SIG,
      V_FINGERPRINT,
      V_ROOT_FINGERPRINT,
      V_TVS_PK,
      V_BROKER_PK,
      V_KOPPELING_CANON,
      V_KOPPELING_SIG,
      V_TAAKSTELLING_CANON,
      V_TAAKSTELLING_SIG,
      V_NOTICE_CANON,
      V_NOTICE_SIG,
      V_WRAP_SHARED,
      V_WRAP_BOX_KEY,
      V_WRAP_NONCE,
      V_WRAP_SUBKEY,
      V_WRAP_POLY_KEY,
      V_AUDIT_CANON,
      V_AUDIT_HASH,
      V_CHECKPOINT_CANON,
      V_CHECKPOINT_SIG,
  };
  for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
    size_t b;
    for (b = 0; b < n_blocks; b++)
      if (strcmp(blocks[b], vectors[v]) == 0)
        break;
    if (b == n_blocks)
      fail_msg("vector %zu (%.16s...) is not in %s", v, vectors[v], path);
  }
  for (size_t b = 0; b < n_blocks; b++)
    free(blocks[b]);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),     cmocka_unit_test(test_subject),
      cmocka_unit_test(test_section),  cmocka_unit_test(test_open_literals),
      cmocka_unit_test(test_consent),  cmocka_unit_test(test_revocation),
      cmocka_unit_test(test_registry_entry),
      cmocka_unit_test(test_fingerprints),
      cmocka_unit_test(test_tvs_events),
      cmocka_unit_test(test_notice),
      cmocka_unit_test(test_wrap_steps),
      cmocka_unit_test(test_audit_entry),
      cmocka_unit_test(test_audit_columns),
      cmocka_unit_test(test_document),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
