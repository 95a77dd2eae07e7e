/* The upgrade from keten 0.1 as docs/operations.md tells the operator to
 * do it, end to end: a schema-2 store with unsigned participants, a COA
 * consent for the gemeente and a section COA sealed to it; then `keten
 * admin participant export`, `keten root sign`, `keten admin participant
 * add` for each participant, ketend started on the upgraded store, and
 * the gemeente still reads what was sealed before the upgrade, and COA's
 * next version still reaches it. */
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
#include <time.h>

#include "canon.h"
#include "harness.h"
#include "seal.h"
#include "store.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define DAY_MS INT64_C(86400000)

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991-03-14\"}";

static int64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  *state = h;
  return h ? 0 : -1;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  harness_destroy(&h);
  return 0;
}

static void s_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("%s: %s", sql, msg);
}

/* A schema-2 participant row with the harness partner's keys, registered
 * ten days ago. */
static void s_old_participant(sqlite3 *db, harness_t *h, const char *id,
                              int role, int64_t added) {
  const keten_keys_t *k = &harness_partner(h, id)->keys;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "INSERT INTO participant VALUES (?, ?, "
                                      "?, ?, ?, ?, ?)",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, role);
  sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, k->transport_pk, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, k->signing_pk, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, k->sealing_pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, added);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

/* COA's signed consent for the gemeente, as keten 0.1 stored it. */
static void s_old_consent(sqlite3 *db, harness_t *h, const uint8_t subject[32],
                          int64_t now) {
  uint8_t id[16];
  randombytes_buf(id, sizeof id);
  Keten__SectionKind kinds[] = {KETEN__SECTION_KIND__SECTION_IDENTITY};
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = id;
  k.consent_id.len = 16;
  k.subject.data = (uint8_t *)subject;
  k.subject.len = 32;
  k.recorded_by = (char *)COA;
  k.recipient = (char *)GEMEENTE;
  k.sections = kinds;
  k.n_sections = 1;
  k.purpose = KETEN__PURPOSE__PURPOSE_INBURGERING;
  k.basis = KETEN__BASIS__BASIS_CONSENT;
  k.legal_reference = (char *)"";
  k.evidence_ref = (char *)"coa-form-2026-0611-17";
  k.valid_from_ms = (uint64_t)(now - 5 * DAY_MS);
  k.valid_until_ms = (uint64_t)(now + 300 * DAY_MS);
  k.recorded_at_ms = (uint64_t)(now - 5 * DAY_MS);
  uint8_t sig[64];
  assert_int_equal(
      canon_sign_consent(&k, harness_partner(h, COA)->keys.signing_sk, sig), 0);
  k.signature.data = sig;
  k.signature.len = 64;
  uint8_t record[512];
  size_t len = keten__consent__pack(&k, record);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO consent (consent_id, subject, "
                         "recorded_by, recipient, sections, purpose, basis, "
                         "valid_from_ms, valid_until_ms, record) VALUES (?, ?, "
                         "?, ?, ?, ?, ?, ?, ?, ?)",
                         -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, COA, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, GEMEENTE, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, 1 << KETEN__SECTION_KIND__SECTION_IDENTITY);
  sqlite3_bind_int(st, 6, KETEN__PURPOSE__PURPOSE_INBURGERING);
  sqlite3_bind_int(st, 7, KETEN__BASIS__BASIS_CONSENT);
  sqlite3_bind_int64(st, 8, (sqlite3_int64)k.valid_from_ms);
  sqlite3_bind_int64(st, 9, (sqlite3_int64)k.valid_until_ms);
  sqlite3_bind_blob(st, 10, record, (int)len, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

/* A section COA really sealed (four days ago) to itself and the gemeente,
 * stored as keten 0.1 did, with the gemeente's delivery pending. */
static void s_old_section(sqlite3 *db, harness_t *h, const uint8_t subject[32],
                          int64_t now) {
  keten_section_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.subject, subject, 32);
  hd.kind = KETEN__SECTION_KIND__SECTION_IDENTITY;
  snprintf(hd.author, sizeof hd.author, COA);
  hd.version = 1;
  hd.created_at_ms = (uint64_t)(now - 4 * DAY_MS);
  seal_recipient_t to = {GEMEENTE,
                         harness_partner(h, GEMEENTE)->keys.sealing_pk};
  keten_err_t err = KETEN_OK;
  Keten__SealedSection *s =
      seal_section(&hd, IDENTITY_JSON, strlen(IDENTITY_JSON),
                   &harness_partner(h, COA)->keys, &to, 1, &err);
  assert_non_null(s);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO section (subject, kind, author, version, "
                         "created_at_ms, nonce, ciphertext, signature) VALUES "
                         "(?, ?, ?, 1, ?, ?, ?, ?)",
                         -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, hd.kind);
  sqlite3_bind_text(st, 3, COA, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)hd.created_at_ms);
  sqlite3_bind_blob(st, 5, s->nonce.data, (int)s->nonce.len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, s->ciphertext.data, (int)s->ciphertext.len,
                    SQLITE_STATIC);
  sqlite3_bind_blob(st, 7, s->signature.data, (int)s->signature.len,
                    SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  long long id = (long long)sqlite3_last_insert_rowid(db);
  for (size_t i = 0; i < s->n_wraps; i++) {
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO wrap VALUES (?, ?, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, s->wraps[i]->recipient, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, s->wraps[i]->wrap.data, 80, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
  }
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO mailbox_state VALUES ('%s', 1, 0);"
           "INSERT INTO mailbox VALUES ('%s', 1, %lld);",
           GEMEENTE, GEMEENTE, id);
  s_exec(db, sql);
  seal_section_free(s);
}

static void s_cli(harness_t *h, const char *const *argv) {
  char *out = NULL;
  int rc = harness_run_cli(h, argv, &out);
  if (rc != 0)
    fail_msg("keten %s %s exited %d: %s", argv[0], argv[1], rc,
             out ? out : "");
  free(out);
}

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  (void)seq;
  int *got = arg;
  assert_int_equal(status, KETEN_OK);
  assert_string_equal(s->json, IDENTITY_JSON);
  (*got)++;
  return 0;
}

static void test_upgrade_as_documented(void **state) {
  harness_t *h = *state;
  int64_t now = s_wall_ms();
  uint8_t subject[32];
  randombytes_buf(subject, sizeof subject);

  /* ---- a keten 0.1 store ---- */
  char old[400], err[256];
  snprintf(old, sizeof old, "%s/old.db", h->dir);
  store_t *s = store_open_schema(old, 2, err, sizeof err);
  assert_non_null(s);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
  s_old_participant(db, h, COA, KETEN__ROLE__ROLE_COA, now - 10 * DAY_MS);
  s_old_participant(db, h, GEMEENTE, KETEN__ROLE__ROLE_GEMEENTE,
                    now - 10 * DAY_MS);
  s_old_consent(db, h, subject, now);
  s_old_section(db, h, subject, now);
  sqlite3_close(db);

  /* ---- the operator's steps (docs/operations.md, "Upgrading") ---- */
  char root_key[400];
  snprintf(root_key, sizeof root_key, "%s/root.key", h->dir);
  assert_int_equal(keten_root_key_save(&h->root, root_key, NULL, 0), KETEN_OK);
  const char *ids[] = {COA, GEMEENTE};
  for (int i = 0; i < 2; i++) {
    char entry[400], signed_[400];
    snprintf(entry, sizeof entry, "%s/p%d.entry", h->dir, i);
    snprintf(signed_, sizeof signed_, "%s/p%d.signed", h->dir, i);
    const char *exp[] = {"admin", "participant", "export", "--store", old,
                         "--id",  ids[i],        "--out",  entry,     NULL};
    s_cli(h, exp); /* the first one migrates the store */
    const char *sign[] = {"root",    "sign",  "--root-key", root_key,
                          "--out",   signed_, entry,        NULL};
    s_cli(h, sign);
    const char *add[] = {"admin",      "participant", "add",
                         "--store",    old,           "--root-key",
                         h->root_file, "--entry",     signed_,
                         NULL};
    s_cli(h, add);
  }
  /* nothing unsigned is left to be admitted */
  s = store_open(old, err, sizeof err);
  assert_non_null(s);
  store_close(&s);
  assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db,
                     "SELECT count(*) FROM registry_entry WHERE removed_at_ms "
                     "IS NULL AND length(root_signature) = 0",
                     -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);

  /* ---- ketend on the upgraded store ---- */
  snprintf(h->store, sizeof h->store, "%s", old);
  assert_int_equal(harness_start(h), 0);
  keten_client_t *gem =
      harness_client(h, &harness_partner(h, GEMEENTE)->keys, 10000, -1);
  keten_client_t *coa =
      harness_client(h, &harness_partner(h, COA)->keys, 10000, -1);
  assert_non_null(gem);
  assert_non_null(coa);
  /* what COA sealed before the upgrade still opens, signed with the key
   * the signed entry carries */
  keten_section_t *secs = NULL;
  size_t n = 0;
  keten_err_t rc = keten_client_fetch(gem, subject, &secs, &n);
  if (rc != KETEN_OK)
    fail_msg("fetch after the upgrade: %s", keten_client_error(gem));
  assert_int_equal(n, 1);
  assert_string_equal(secs[0].json, IDENTITY_JSON);
  keten_sections_free(secs, n);
  /* the pending delivery arrives */
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  int got = 0;
  for (int i = 0; i < 100 && got < 1; i++)
    assert_int_equal(keten_client_poll(gem, 50, s_on_delivery, &got, NULL),
                     KETEN_OK);
  assert_int_equal(got, 1);
  /* and COA's old consent (which its library recognises) still works */
  keten_put_result_t res;
  rc = keten_client_put(coa, subject, KETEN__SECTION_KIND__SECTION_IDENTITY,
                        IDENTITY_JSON, strlen(IDENTITY_JSON), &res);
  if (rc != KETEN_OK)
    fail_msg("put after the upgrade: %s", keten_client_error(coa));
  assert_int_equal(res.version, 2);
  assert_int_equal(res.n_queued, 1);
  assert_string_equal(res.queued[0], GEMEENTE);
  keten_client_destroy(&gem);
  keten_client_destroy(&coa);
  assert_int_equal(harness_stop(h), 0);
  /* the audit chain runs on across the upgrade */
  char pub[400], *out = NULL;
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, pub, 1), KETEN_OK);
  const char *verify[] = {"audit",        "verify", "--store", old,
                          "--broker-key", pub,      NULL};
  int vrc = harness_run_cli(h, verify, &out);
  if (vrc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", vrc, out ? out : "");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test_setup_teardown(
      test_upgrade_as_documented, s_setup, s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
