/* Unit test of the upgrade to schema 3 (issue 6, item 8): a store written
 * by keten 0.1 (schema 2: unsigned participants, consents that reached
 * other authors' sections) is migrated. Consents that a grant would now
 * refuse are closed with an audit entry that names the rule; access no
 * consent of the section's own author gives is removed, audited; the
 * registry's unsigned entries are kept but refused until the chain root
 * signs them again; the audit chain still verifies. */
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
#include <unistd.h>

#include "audit.h"
#include "canon.h"
#include "registry.h"
#include "store.h"

#define NOW ((int64_t)time(NULL) * 1000)
#define DAY INT64_C(86400000)
#define BIT(k) (UINT64_C(1) << (k))

enum { K_IDENTITY = 1, K_STORY = 3, K_HEALTH = 10, K_SUPPORT = 11 };

static const struct {
  const char *id;
  int role;
} s_people[] = {{"coa", 2},          {"gemeente:0716", 1}, {"vwn:zeeland", 3},
                {"vwn:zeeland-2", 3}, {"ggz:zeeland", 4},   {"fg", 6}};

typedef struct {
  char dir[64], path[128];
  sqlite3 *db;
} s_fix_t;

static int s_setup(void **state) {
  s_fix_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-migrate-XXXXXX");
  if (!f || !mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/old.db", f->dir);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fix_t *f = *state;
  const char *suffix[] = {"", "-wal", "-shm"};
  char p[200];
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
    unlink(p);
  }
  rmdir(f->dir);
  free(f);
  return 0;
}

static void s_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("%s: %s", sql, msg);
}

static long long s_num(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static uint8_t s_keys[6][3][32]; /* per person: transport, signing, sealing */

/* A schema-2 consent row, with its packed record as 0.1 stored it. */
static void s_old_consent(sqlite3 *db, uint8_t id, const uint8_t subject[32],
                          const char *by, const char *to, uint64_t sections,
                          int purpose, int basis, const char *legal,
                          int revoked) {
  uint8_t cid[16];
  memset(cid, id, sizeof cid);
  Keten__SectionKind kinds[16];
  size_t n = 0;
  for (int k = 1; k < 16; k++)
    if (sections & BIT(k))
      kinds[n++] = (Keten__SectionKind)k;
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = cid;
  k.consent_id.len = 16;
  k.subject.data = (uint8_t *)subject;
  k.subject.len = 32;
  k.recorded_by = (char *)by;
  k.recipient = (char *)to;
  k.sections = kinds;
  k.n_sections = n;
  k.purpose = (Keten__Purpose)purpose;
  k.basis = (Keten__Basis)basis;
  k.legal_reference = (char *)legal;
  k.evidence_ref = (char *)"form";
  k.valid_from_ms = (uint64_t)(NOW - DAY);
  k.valid_until_ms = (uint64_t)(NOW + 300 * DAY);
  uint8_t record[512];
  size_t len = keten__consent__pack(&k, record);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO consent (consent_id, subject, "
                         "recorded_by, recipient, sections, purpose, basis, "
                         "valid_from_ms, valid_until_ms, record, "
                         "revoked_at_ms, revoked_by) VALUES (?,?,?,?,?,?,?,?,"
                         "?,?,?,?)",
                         -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, cid, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, subject, 32, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)sections);
  sqlite3_bind_int(st, 6, purpose);
  sqlite3_bind_int(st, 7, basis);
  sqlite3_bind_int64(st, 8, NOW - DAY);
  sqlite3_bind_int64(st, 9, NOW + 300 * DAY);
  sqlite3_bind_blob(st, 10, record, (int)len, SQLITE_STATIC);
  if (revoked) {
    sqlite3_bind_int64(st, 11, NOW - 1000);
    sqlite3_bind_text(st, 12, to, -1, SQLITE_STATIC);
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

/* A schema-2 section by author with wraps for the listed holders and
 * mailbox entries for those after the author. Returns its id. */
static int64_t s_old_section(sqlite3 *db, const uint8_t subject[32], int kind,
                             const char *author, const char *const *holders,
                             size_t n) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO section (subject, kind, author, version, "
                         "created_at_ms, nonce, ciphertext, signature) VALUES "
                         "(?, ?, ?, 1, ?, zeroblob(24), zeroblob(40), "
                         "zeroblob(64))",
                         -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, kind);
  sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, NOW - 1000);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  int64_t id = sqlite3_last_insert_rowid(db);
  for (size_t i = 0; i < n; i++) {
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO wrap VALUES (%lld, '%s', zeroblob(80));",
             (long long)id, holders[i]);
    s_exec(db, sql);
    if (strcmp(holders[i], author) == 0)
      continue;
    snprintf(sql, sizeof sql,
             "INSERT INTO mailbox_state VALUES ('%s', 1, 0) ON CONFLICT DO "
             "UPDATE SET head_seq = head_seq + 1;"
             "INSERT INTO mailbox VALUES ('%s', (SELECT head_seq FROM "
             "mailbox_state WHERE recipient = '%s'), %lld);",
             holders[i], holders[i], holders[i], (long long)id);
    s_exec(db, sql);
  }
  return id;
}

/* Walks the audit chain; returns the number of entries (fails on a break). */
static int s_walk(const audit_entry_t *e, void *arg) {
  uint8_t *prev = arg;
  if (audit_check(e, prev) != 0)
    fail_msg("audit entry %llu does not chain", (unsigned long long)e->seq);
  memcpy(prev, e->hash, AUDIT_HASH_BYTES);
  return 0;
}

static void test_upgrade_from_schema_2(void **state) {
  s_fix_t *f = *state;
  char err[256];
  uint8_t subject[32];
  randombytes_buf(subject, sizeof subject);

  /* ---- what keten 0.1 left behind ---- */
  store_t *old = store_open_schema(f->path, 2, err, sizeof err);
  assert_non_null(old);
  assert_int_equal(store_schema_version(old), 2);
  store_close(&old);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  for (size_t i = 0; i < 6; i++) {
    for (int k = 0; k < 3; k++)
      randombytes_buf(s_keys[i][k], 32);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO participant VALUES (?, ?, "
                                        "?, ?, ?, ?, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, s_people[i].id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, s_people[i].role);
    sqlite3_bind_text(st, 3, s_people[i].id, -1, SQLITE_STATIC);
    for (int k = 0; k < 3; k++)
      sqlite3_bind_blob(st, 4 + k, s_keys[i][k], 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, NOW - 10 * DAY);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
  }
  /* kept: COA's for the gemeente; COA's HEALTH for the care partner on a
   * legal duty with a reference */
  s_old_consent(db, 1, subject, "coa", "gemeente:0716",
                BIT(K_IDENTITY) | BIT(K_STORY), 2, 1, "", 0);
  s_old_consent(db, 5, subject, "coa", "ggz:zeeland", BIT(K_HEALTH), 4, 2,
                "Wet publieke gezondheid art. 6", 0);
  /* closed: two volunteers granting each other everything (R5), the
   * operator granting HEALTH (R2), COA granting HEALTH to a volunteer (R8) */
  s_old_consent(db, 2, subject, "vwn:zeeland", "vwn:zeeland-2", 0x1ffe, 5, 1,
                "", 0);
  s_old_consent(db, 3, subject, "fg", "vwn:zeeland", BIT(K_HEALTH), 4, 1, "",
                0);
  s_old_consent(db, 4, subject, "coa", "vwn:zeeland", BIT(K_HEALTH), 4, 1, "",
                0);
  /* already revoked: left as it was */
  s_old_consent(db, 6, subject, "coa", "vwn:zeeland-2", BIT(K_IDENTITY), 5, 1,
                "", 1);
  /* the access the old rule gave */
  const char *identity_holders[] = {"coa", "gemeente:0716", "vwn:zeeland-2"};
  const char *health_holders[] = {"coa", "ggz:zeeland", "vwn:zeeland"};
  const char *support_holders[] = {"vwn:zeeland", "vwn:zeeland-2"};
  int64_t identity = s_old_section(db, subject, K_IDENTITY, "coa",
                                   identity_holders, 3);
  int64_t health = s_old_section(db, subject, K_HEALTH, "coa", health_holders,
                                 3);
  s_old_section(db, subject, K_SUPPORT, "vwn:zeeland", support_holders, 2);
  sqlite3_close(db);

  /* ---- the upgrade ---- */
  store_t *s = store_open(f->path, err, sizeof err);
  if (!s)
    fail_msg("upgrade failed: %s", err);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);

  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  /* the participants became unsigned entries */
  assert_int_equal(s_num(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                             "'participant'"),
                   0);
  assert_int_equal(s_num(db, "SELECT count(*) FROM registry_entry WHERE "
                             "length(root_signature) = 0 AND removed_at_ms IS "
                             "NULL"),
                   6);
  /* three consents closed by ketend, each with an audit entry naming its
   * rule; the others as they were */
  assert_int_equal(s_num(db, "SELECT count(*) FROM consent WHERE revoked_by = "
                             "'ketend'"),
                   3);
  assert_int_equal(s_num(db, "SELECT count(*) FROM consent WHERE "
                             "revoked_at_ms IS NULL"),
                   2);
  assert_int_equal(s_num(db, "SELECT revoked_by = 'vwn:zeeland-2' FROM "
                             "consent WHERE hex(consent_id) LIKE '06%'"),
                   1);
  assert_int_equal(s_num(db, "SELECT has_legal_reference FROM consent WHERE "
                             "hex(consent_id) LIKE '05%'"),
                   1);
  assert_int_equal(s_num(db, "SELECT count(*) FROM audit WHERE name = "
                             "'keten.consent.close'"),
                   3);
  const char *rules[] = {"R5", "R2", "R8"};
  for (int i = 0; i < 3; i++) {
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE name = 'keten.consent.close' "
             "AND detail LIKE '%%%s%%' AND detail LIKE '%%schema 3%%'",
             rules[i]);
    assert_int_equal(s_num(db, sql), 1);
  }
  /* the volunteers lost COA's sections; the gemeente and the care partner
   * kept theirs; the volunteers' own SUPPORT stays shared */
  char sql[300];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM wrap WHERE section_id = %lld",
           (long long)identity);
  assert_int_equal(s_num(db, sql), 2);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM wrap WHERE section_id = %lld AND recipient "
           "LIKE 'vwn%%'",
           (long long)health);
  assert_int_equal(s_num(db, sql), 0);
  assert_int_equal(s_num(db, "SELECT count(*) FROM mailbox WHERE recipient "
                             "LIKE 'vwn%' AND section_id IN (SELECT id FROM "
                             "section WHERE author = 'coa')"),
                   0);
  assert_int_equal(s_num(db, "SELECT count(*) FROM mailbox WHERE recipient = "
                             "'gemeente:0716'"),
                   1);
  assert_int_equal(s_num(db, "SELECT count(*) FROM mailbox WHERE recipient = "
                             "'ggz:zeeland'"),
                   1);
  /* vwn:zeeland's SUPPORT for vwn:zeeland-2: no consent of its author
   * covers it (the only one, R5, was closed) */
  assert_int_equal(s_num(db, "SELECT count(*) FROM wrap w JOIN section s ON "
                             "s.id = w.section_id WHERE s.kind = 11 AND "
                             "w.recipient = 'vwn:zeeland-2'"),
                   0);
  assert_int_equal(s_num(db, "SELECT count(*) FROM audit WHERE name = "
                             "'keten.access.erase' AND detail LIKE "
                             "'%schema 3%'"),
                   3);
  /* the sections know the key that signed them */
  assert_int_equal(s_num(db, "SELECT count(*) FROM section WHERE "
                             "length(author_signing_pk) = 32"),
                   3);
  sqlite3_close(db);

  /* the chain over the upgrade's entries verifies */
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  uint8_t prev[AUDIT_HASH_BYTES] = {0};
  assert_int_equal(store_audit_each(s, s_walk, prev), 0);

  /* ketend would refuse to start on it: nothing is signed yet */
  uint8_t root_pk[32], root_sk[64];
  crypto_sign_keypair(root_pk, root_sk);
  registry_t *r = registry_new();
  assert_int_equal(registry_load(r, s, root_pk, 1, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "not signed by the chain root"));
  /* the operator has each entry signed again and installs it: the
   * unsigned one is retired, and ketend starts */
  for (size_t i = 0; i < 6; i++) {
    participant_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", s_people[i].id);
    snprintf(p.display_name, sizeof p.display_name, "%s", s_people[i].id);
    p.role = s_people[i].role;
    memcpy(p.transport_pk, s_keys[i][0], 32);
    memcpy(p.signing_pk, s_keys[i][1], 32);
    memcpy(p.sealing_pk, s_keys[i][2], 32);
    p.valid_from_ms = NOW - DAY;
    p.valid_until_ms = NOW + 700 * DAY;
    assert_int_equal(participant_sign(&p, root_sk), 0);
    assert_int_equal(store_entry_add(s, &p, err, sizeof err), 0);
  }
  assert_int_equal(registry_load(r, s, root_pk, 1, NULL, err, sizeof err), 0);
  assert_int_equal(registry_count(r), 6);
  const participant_t *coa = registry_find_id(r, "coa", NOW);
  assert_non_null(coa);
  assert_memory_equal(coa->signing_pk, s_keys[0][1], 32);
  registry_destroy(&r);
  store_close(&s);
  /* opening it again migrates nothing more */
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
}

/* ---- schema 5 (issue 8): pending entries per (recipient, author) ---------- */

static int64_t s_put_section(store_t *s, int kind, const char *author,
                             uint64_t version) {
  store_section_t sec;
  memset(&sec, 0, sizeof sec);
  memset(sec.subject, 7, 32);
  sec.kind = kind;
  snprintf(sec.author, sizeof sec.author, "%s", author);
  sec.version = version;
  sec.created_at_ms = NOW;
  uint8_t nonce[24] = {0}, sig[64] = {0}, ct[32] = {0};
  sec.nonce = nonce;
  sec.nonce_len = sizeof nonce;
  sec.ciphertext = ct;
  sec.ciphertext_len = sizeof ct;
  sec.signature = sig;
  sec.signature_len = sizeof sig;
  int64_t id = -1;
  assert_int_equal(store_section_put(s, &sec, &id), 0);
  return id;
}

static uint64_t s_pending(store_t *s, const char *recipient,
                          const char *author) {
  uint64_t n = 99;
  assert_int_equal(store_mailbox_pending_from(s, recipient, author, &n), 0);
  return n;
}

/* A store of schema 4 with queued entries is upgraded in one transaction:
 * the counters hold what the mailboxes hold, and pushes, acks, drops and
 * a section's deletion keep them right from then on. */
static void test_upgrade_to_schema_5(void **state) {
  s_fix_t *f = *state;
  char err[256];
  store_t *s = store_open_schema(f->path, 4, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), 4);
  assert_int_equal(store_begin(s), 0);
  uint64_t seq;
  for (uint64_t v = 1; v <= 3; v++) {
    int64_t id = s_put_section(s, K_STORY, "coa", v);
    assert_int_equal(store_mailbox_push(s, "gemeente:0716", id, &seq), 0);
  }
  int64_t other = s_put_section(s, K_HEALTH, "ggz:zeeland", 1);
  assert_int_equal(store_mailbox_push(s, "gemeente:0716", other, &seq), 0);
  assert_int_equal(store_commit(s), 0);
  store_close(&s);

  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  assert_true(store_schema_latest() >= 5);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 3);
  assert_int_equal(s_pending(s, "gemeente:0716", "ggz:zeeland"), 1);
  /* the stored bytes per author, counted from what was there */
  uint64_t coa_bytes = 0, ggz_bytes = 0, none = 1;
  assert_int_equal(store_author_bytes(s, "coa", &coa_bytes), 0);
  assert_int_equal(store_author_bytes(s, "ggz:zeeland", &ggz_bytes), 0);
  assert_int_equal(store_author_bytes(s, "vwn:zeeland", &none), 0);
  assert_true(ggz_bytes > 0);
  assert_int_equal(coa_bytes, 3 * ggz_bytes);
  assert_int_equal(none, 0);
  assert_int_equal(s_pending(s, "vwn:zeeland", "coa"), 0);
  assert_int_equal(store_begin(s), 0);
  /* a push counts, an ack of the first two uncounts them */
  int64_t id = s_put_section(s, K_STORY, "coa", 4);
  assert_int_equal(store_mailbox_push(s, "gemeente:0716", id, &seq), 0);
  assert_int_equal(seq, 5);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 4);
  assert_int_equal(store_mailbox_ack(s, "gemeente:0716", 2), 0);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 2);
  /* a dropped entry of each author */
  assert_int_equal(store_mailbox_drop(s, "gemeente:0716", 3), 0);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 1);
  assert_int_equal(store_mailbox_drop(s, "gemeente:0716", 4), 0);
  assert_int_equal(s_pending(s, "gemeente:0716", "ggz:zeeland"), 0);
  /* a rollback undoes the counter with the entries */
  assert_int_equal(store_savepoint(s), 0);
  id = s_put_section(s, K_STORY, "coa", 5);
  assert_int_equal(store_mailbox_push(s, "gemeente:0716", id, &seq), 0);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 2);
  store_savepoint_rollback(s);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 1);
  assert_int_equal(store_commit(s), 0);
  store_close(&s);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(s_pending(s, "gemeente:0716", "coa"), 1);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(s_num(db, "SELECT count(*) FROM mailbox WHERE section_id "
                             "IS NOT NULL AND author IS NULL"),
                   0);
  /* the counter follows inserts and rollbacks: what the sections hold */
  assert_int_equal(s_num(db, "SELECT bytes FROM author_bytes WHERE author = "
                             "'coa'"),
                   s_num(db, "SELECT sum(length(ciphertext)) FROM section "
                             "WHERE author = 'coa'"));
  assert_int_equal(s_num(db, "SELECT sum(n) FROM mailbox_pending"),
                   s_num(db, "SELECT count(*) FROM mailbox WHERE author IS "
                             "NOT NULL"));
  sqlite3_close(db);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_upgrade_from_schema_2, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_to_schema_5, s_setup,
                                      s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
