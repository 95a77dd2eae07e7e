/* test_fetch_pages — FETCH in pages over a real ketend (issue 8, items 1
 * and 3): ketend runs with fetch_page_bytes = 64 KiB and the sections are
 * about 40 KiB, so each page holds one. A fetch returns every section, in
 * (kind, author) order, over several pages; every disclosure and every
 * refusal is audited once however many pages it took; the cursor and the
 * cap are checked; and `keten fetch` exits 6 when a section does not open
 * (a wrap sealed to a key the reader does not hold), printing the others.
 * Each case ends by stopping ketend and verifying the audit chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "envelope.h"
#include "harness.h"
#include "party.h"
#include "seal.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define BIT(kind) (UINT64_C(1) << (kind))
#define PAGE_BYTES 65536
#define SECTION_PAD 40000

#define K(x) KETEN__SECTION_KIND__SECTION_##x
/* The kinds coa writes, in order. */
static const int COA_KINDS[] = {K(IDENTITY), K(HOUSEHOLD), K(STORY),
                                K(EDUCATION), K(WORK),     K(LANGUAGE),
                                K(HOUSING),  K(HEALTH)};
#define N_KINDS (sizeof COA_KINDS / sizeof COA_KINDS[0])
/* What gemeente:0716 may read of them (INBURGERING covers each). */
static const uint64_t GEMEENTE_READS =
    BIT(K(IDENTITY)) | BIT(K(STORY)) | BIT(K(WORK)) | BIT(K(HOUSING));

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h)
    return -1;
  char conf[64];
  snprintf(conf, sizeof conf, "fetch_page_bytes = %d\n", PAGE_BYTES);
  if (harness_config(h, conf) != 0) {
    harness_destroy(&h);
    return -1;
  }
  if (harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* The required fields of kind (docs/sections.md 3), so that the
 * document conforms to its schema. */
static const char *s_required_fields(int kind) {
  switch (kind) {
  case K(IDENTITY): return "\"given_name\": \"A\", \"family_name\": \"H\", \"birth_date\": \"1991\", ";
  case K(HOUSEHOLD): return "\"members\": [], ";
  case K(STORY): return "\"text\": \"t\", \"language\": \"ar\", ";
  case K(EDUCATION): return "\"highest\": \"none\", ";
  case K(WORK): return "\"experience\": [], ";
  case K(LANGUAGE): return "\"languages\": [{\"code\": \"ar\", \"level\": \"native\"}], ";
  case K(HOUSING): return "\"household_size\": 1, ";
  case K(HEALTH): return "\"notes\": \"n\", ";
  default: return "";
  }
}

/* A JSON document of about SECTION_PAD bytes naming kind. */
static char *s_big_json(int kind) {
  char *j = malloc(SECTION_PAD + 160);
  assert_non_null(j);
  int n = snprintf(j, 152, "{%s\"kind\": %d, \"pad\": \"",
                   s_required_fields(kind), kind);
  memset(j + n, 'a' + kind, SECTION_PAD);
  snprintf(j + n + SECTION_PAD, 8, "\"}");
  return j;
}

/* coa grants gemeente:0716 INBURGERING on GEMEENTE_READS, then puts every
 * kind it writes, about 40 KiB each. */
static void s_put_all(harness_t *h, const uint8_t subject[32]) {
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, GEMEENTE, GEMEENTE_READS,
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  for (size_t i = 0; i < N_KINDS; i++) {
    char *j = s_big_json(COA_KINDS[i]);
    party_put(coa, subject, COA_KINDS[i], j);
    free(j);
  }
}

/* Asserts r holds exactly the kinds of want (in COA_KINDS order), each
 * with its document, and no failure. */
static void s_expect_all(const keten_fetch_result_t *r, uint64_t want) {
  assert_int_equal(r->n_failures, 0);
  size_t k = 0;
  for (size_t i = 0; i < N_KINDS; i++) {
    if (!(want & BIT(COA_KINDS[i])))
      continue;
    assert_true(k < r->n_sections);
    const keten_section_t *s = &r->sections[k++];
    assert_int_equal(s->header.kind, COA_KINDS[i]); /* in order */
    assert_string_equal(s->header.author, COA);
    char *j = s_big_json(COA_KINDS[i]);
    assert_int_equal(s->json_len, strlen(j));
    assert_string_equal(s->json, j);
    free(j);
  }
  assert_int_equal(r->n_sections, k);
}

/* A raw FETCH as id with the given cursor and cap; returns the reply. */
static Keten__Envelope *s_raw_fetch(harness_t *h, void *ctx, const char *id,
                                    const uint8_t subject[32],
                                    uint32_t after_kind,
                                    const char *after_author,
                                    uint32_t max_bytes) {
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, id)->keys);
  assert_non_null(sock);
  Keten__FetchRequest q = KETEN__FETCH_REQUEST__INIT;
  q.subject.data = (uint8_t *)subject;
  q.subject.len = 32;
  q.after_kind = after_kind;
  q.after_author = (char *)after_author;
  q.max_bytes = max_bytes;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_FETCH;
  env.fetch = &q;
  Keten__Envelope *reply = party_raw(sock, &env);
  zmq_close(sock);
  return reply;
}

static void test_fetch_in_pages(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  s_put_all(h, subject);
  long long ok0 = party_audited(h, "keten.section.fetch", 1, NULL);
  long long deny0 = party_audited(h, "keten.section.fetch.deny", 2, NULL);

  /* The author reads all 8, one page each (40 KiB + 40 KiB > 64 KiB). */
  keten_client_t *coa = party_client(h, COA);
  keten_fetch_result_t r;
  keten_err_t rc = keten_client_fetch_all(coa, subject, &r);
  if (rc != KETEN_OK)
    fail_msg("fetch: %s: %s", keten_strerror(rc), keten_client_error(coa));
  assert_int_equal(r.pages, N_KINDS);
  s_expect_all(&r, UINT64_MAX);
  keten_fetch_result_free(&r);
  assert_int_equal(party_audited(h, "keten.section.fetch", 1, NULL) - ok0,
                   N_KINDS);

  /* A reader with consent for 4 of them: 4 pages; each of the 4 it may
   * not read is audited as refused once (not once per page that passed
   * it). */
  keten_client_t *gem = party_client(h, GEMEENTE);
  assert_int_equal(keten_client_fetch_all(gem, subject, &r), KETEN_OK);
  assert_int_equal(r.pages, 4);
  s_expect_all(&r, GEMEENTE_READS);
  keten_fetch_result_free(&r);
  assert_int_equal(party_audited(h, "keten.section.fetch", 1, NULL) - ok0,
                   N_KINDS + 4);
  assert_int_equal(party_audited(h, "keten.section.fetch.deny", 2, NULL) -
                       deny0,
                   N_KINDS - 4);

  /* The older call pages too. */
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(coa, subject, &secs, &n), KETEN_OK);
  assert_int_equal(n, N_KINDS);
  keten_sections_free(secs, n);

  /* The cursor and the cap, raw. */
  void *ctx = zmq_ctx_new();
  assert_non_null(ctx);
  Keten__Envelope *rep = s_raw_fetch(h, ctx, COA, subject, 0, "", 0);
  assert_int_equal(rep->body_case, KETEN__ENVELOPE__BODY_FETCHED);
  assert_int_equal(rep->fetched->n_sections, 1); /* 64 KiB: one of 40 KiB */
  assert_true(rep->fetched->more);
  envelope_free(rep);
  /* after the last section: nothing more */
  rep = s_raw_fetch(h, ctx, COA, subject, K(HEALTH), COA, 0);
  assert_int_equal(rep->body_case, KETEN__ENVELOPE__BODY_FETCHED);
  assert_int_equal(rep->fetched->n_sections, 0);
  assert_false(rep->fetched->more);
  envelope_free(rep);
  /* after STORY by coa: EDUCATION first */
  rep = s_raw_fetch(h, ctx, COA, subject, K(STORY), COA, 0);
  assert_int_equal(rep->fetched->n_sections, 1);
  assert_int_equal(rep->fetched->sections[0]->section->header->kind,
                   K(EDUCATION));
  envelope_free(rep);
  /* a cap below one section still gives one */
  rep = s_raw_fetch(h, ctx, COA, subject, 0, "", 1);
  assert_int_equal(rep->fetched->n_sections, 1);
  assert_true(rep->fetched->more);
  envelope_free(rep);
  /* a bad cursor */
  char long_id[80];
  memset(long_id, 'a', 65);
  long_id[65] = '\0';
  assert_int_equal(party_error_code(s_raw_fetch(h, ctx, COA, subject, 99, "",
                                                0)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  assert_int_equal(party_error_code(s_raw_fetch(h, ctx, COA, subject, 1,
                                                long_id, 0)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  assert_int_equal(party_error_code(s_raw_fetch(h, ctx, COA, subject, 0, COA,
                                                0)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

/* coa stores STORY with a wrap for gemeente:0716 that no key of it opens
 * (the broker cannot tell): `keten fetch` as gemeente prints IDENTITY,
 * names STORY on stderr and exits 6. */
static void test_cli_fetch_partial_exit(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("1029384756", subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, GEMEENTE, BIT(K(IDENTITY)) | BIT(K(STORY)),
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  party_put(coa, subject, K(IDENTITY), "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");

  keten_keys_t stranger;
  assert_int_equal(keten_keys_generate(&stranger, "x"), KETEN_OK);
  keten_section_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.subject, subject, 32);
  hd.kind = K(STORY);
  snprintf(hd.author, sizeof hd.author, "%s", COA);
  hd.version = 1;
  hd.created_at_ms = (uint64_t)party_wall_ms();
  seal_recipient_t to = {GEMEENTE, stranger.sealing_pk};
  keten_err_t err = KETEN_OK;
  const char *json = "{\"text\": \"sealed to the wrong key\"}";
  Keten__SealedSection *s = seal_section(&hd, json, strlen(json),
                                         &harness_partner(h, COA)->keys, &to,
                                         1, &err);
  assert_non_null(s);
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = s;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PUT;
  env.put = &put;
  Keten__Envelope *rep = party_raw(sock, &env);
  assert_int_equal(rep->body_case, KETEN__ENVELOPE__BODY_STORED);
  envelope_free(rep);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  seal_section_free(s);
  keten_keys_wipe(&stranger);

  char keys[300], bpub[300], hex[65];
  snprintf(keys, sizeof keys, "%s/gemeente.key", h->dir);
  snprintf(bpub, sizeof bpub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&harness_partner(h, GEMEENTE)->keys, keys,
                                   NULL, 1),
                   KETEN_OK);
  assert_int_equal(keten_keys_save(&h->broker, NULL, bpub, 1), KETEN_OK);
  party_hex(subject, 32, hex);
  const char *argv[] = {"fetch", "-e", h->endpoint, "-k", keys, "-b", bpub,
                        "-R", h->root_file, hex, NULL};
  char *out = NULL;
  int status = harness_run_cli(h, argv, &out);
  if (status != 6)
    fail_msg("keten fetch exit %d: %s", status, out ? out : "");
  assert_non_null(out);
  assert_non_null(strstr(out, "\"given_name\": \"Amira\""));
  assert_null(strstr(out, "wrong key"));
  free(out);
  /* (the CLI's stderr goes into the broker's log file) */
  assert_int_equal(harness_log_count(h, "skipped STORY by coa v1: wrap for "
                                        "gemeente:0716 does not open"),
                   1);
  party_stop_and_verify(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fetch_in_pages, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_cli_fetch_partial_exit, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
