/* Unit tests of the SQLite store: schema, durability settings, registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <sqlite3.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canon.h"
#include "registry.h"
#include "store.h"

typedef struct {
  char dir[64];
  char path[128];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-store-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/keten.db", f->dir);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  char p[160];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
    unlink(p);
  }
  rmdir(f->dir);
  free(f);
  return 0;
}

static uint8_t s_root_pk[32], s_root_sk[64];

/* A root-signed entry of id, valid for a day from now - 1 h. */
static participant_t s_make(const char *id, int role, uint8_t key) {
  participant_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.id, sizeof p.id, "%s", id);
  snprintf(p.display_name, sizeof p.display_name, "name of %s", id);
  p.role = role;
  memset(p.transport_pk, key, 32);
  memset(p.signing_pk, key + 1, 32);
  memset(p.sealing_pk, key + 2, 32);
  p.valid_from_ms = (int64_t)time(NULL) * 1000 - 3600000;
  p.valid_until_ms = p.valid_from_ms + 86400000;
  assert_int_equal(participant_sign(&p, s_root_sk), 0);
  return p;
}

static int s_count(const participant_t *p, void *arg) {
  (void)p;
  (*(int *)arg)++;
  return 0;
}

static void test_schema_and_pragmas(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
  assert_null(s);
  /* WAL mode is a property of the file: another connection sees it. */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  /* reopening migrates nothing and keeps the version */
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(store_schema_version(s), store_schema_latest());
  store_close(&s);
}

static void test_newer_schema_refused(void **state) {
  s_fixture_t *f = *state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  char err[256];
  assert_null(store_open(f->path, err, sizeof err));
  assert_non_null(strstr(err, "newer"));
}

static void test_participants(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  participant_t coa = s_make("coa", 2, 10), gem = s_make("gemeente:0716", 1, 20);
  assert_int_equal(store_entry_add(s, &gem, err, sizeof err), 0);
  assert_int_equal(store_entry_add(s, &coa, err, sizeof err), 0);
  /* the same entry again, or the same transport key under another id */
  assert_int_equal(store_entry_add(s, &coa, err, sizeof err), 1);
  assert_non_null(strstr(err, "already installed"));
  participant_t thief = s_make("vwn:zeeland", 3, 10);
  assert_int_equal(store_entry_add(s, &thief, err, sizeof err), -1);
  assert_non_null(strstr(err, "already registered"));
  /* one role per id: a gemeente entry cannot become an operator one */
  participant_t promoted = s_make("gemeente:0716", 6, 21);
  assert_int_equal(store_entry_add(s, &promoted, err, sizeof err), -1);
  assert_non_null(strstr(err, "another role"));
  /* invalid records never reach the table */
  participant_t bad = s_make("Bad Id", 1, 30);
  assert_int_equal(store_entry_add(s, &bad, err, sizeof err), -1);
  bad = s_make("ok", 0, 31);
  assert_int_equal(store_entry_add(s, &bad, err, sizeof err), -1);
  store_close(&s);

  /* durable across reopen, loaded into a registry in full */
  s = store_open(f->path, err, sizeof err);
  registry_t *r = registry_new();
  assert_int_equal(registry_load(r, s, s_root_pk, 1, NULL, err, sizeof err), 0);
  assert_int_equal(registry_count(r), 2);
  const participant_t *p = registry_find_id(r, "coa", (int64_t)time(NULL) * 1000);
  assert_non_null(p);
  assert_int_equal(p->role, 2);
  assert_string_equal(p->display_name, "name of coa");
  assert_memory_equal(p->signing_pk, coa.signing_pk, 32);
  assert_memory_equal(p->sealing_pk, coa.sealing_pk, 32);
  assert_true(p->added_at_ms > 0);

  assert_memory_equal(p->entry_hash, coa.entry_hash, 32);
  assert_int_equal(store_entry_remove(s, "coa", err, sizeof err), 1);
  assert_int_equal(store_entry_remove(s, "coa", err, sizeof err), 0);
  int n = 0;
  assert_int_equal(store_entry_each(s, 0, s_count, &n, err, sizeof err), 0);
  assert_int_equal(n, 1);
  n = 0; /* a removed entry is kept, for the record */
  assert_int_equal(store_entry_each(s, 1, s_count, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  /* and installing the same signed entry again brings it back */
  assert_int_equal(store_entry_add(s, &coa, err, sizeof err), 0);
  assert_int_equal(store_entry_add(s, &coa, err, sizeof err), 1);
  n = 0;
  assert_int_equal(store_entry_each(s, 0, s_count, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  registry_destroy(&r);
  store_close(&s);
}

static void test_data_version_sees_other_writers(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *broker = store_open(f->path, err, sizeof err);
  store_t *admin = store_open(f->path, err, sizeof err);
  int64_t v0 = store_data_version(broker);
  assert_true(v0 >= 0);
  participant_t p = s_make("tvs", 5, 40);
  assert_int_equal(store_entry_add(admin, &p, err, sizeof err), 0);
  assert_int_not_equal(store_data_version(broker), v0);
  store_close(&admin);
  store_close(&broker);
}

int main(void) {
  crypto_sign_keypair(s_root_pk, s_root_sk);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_schema_and_pragmas, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_participants, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_data_version_sees_other_writers, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
