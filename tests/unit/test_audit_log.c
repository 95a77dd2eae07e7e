/* Unit tests of the audit log's Merkle tree over the store (audit_log.c):
 * appends in transactions, rollbacks, reopening, another writer, proofs
 * checked against merkle_root over the leaves recomputed from the
 * entries, the backfill of migration 6, and signed heads. */
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
#include <unistd.h>

#include "audit_log.h"
#include "merkle.h"
#include "store.h"

typedef struct {
  char dir[64];
  char path[128];
  char head[160];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-auditlog-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/keten.db", f->dir);
  snprintf(f->head, sizeof f->head, "%s/keten.db.head", f->dir);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  char p[200];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
    unlink(p);
  }
  unlink(f->head);
  rmdir(f->dir);
  free(f);
  return 0;
}

static store_t *s_open(const s_fixture_t *f) {
  char err[256];
  store_t *s = store_open(f->path, err, sizeof err);
  if (!s)
    fail_msg("store_open: %s", err);
  return s;
}

static void s_append(store_t *s, const char *actor, int i) {
  audit_entry_t e;
  char detail[64];
  snprintf(detail, sizeof detail, "entry %d", i);
  audit_entry_local(&e, "keten.test", actor, detail);
  snprintf(e.counterparty, sizeof e.counterparty, "ggz:zeeland");
  assert_int_equal(store_audit_append(s, &e), 0);
}

/* The leaves recomputed from the entries as stored. */
typedef struct {
  uint8_t *leaves;
  uint64_t n, cap;
} s_leaves_t;

static int s_leaf(const audit_entry_t *e, void *arg) {
  s_leaves_t *l = arg;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->leaves = realloc(l->leaves, l->cap * 32);
  }
  assert_int_equal(e->seq, l->n + 1);
  audit_leaf_hash(e, l->leaves + 32 * l->n++);
  return 0;
}

static s_leaves_t s_recompute(store_t *s) {
  s_leaves_t l = {0};
  assert_int_equal(store_audit_each(s, s_leaf, &l), 0);
  return l;
}

/* The stored tree agrees with merkle_root over the recomputed leaves at
 * every size, and so do proofs. */
static void s_check_tree(store_t *s) {
  s_leaves_t l = s_recompute(s);
  uint64_t seq;
  uint8_t chain[32];
  assert_int_equal(store_audit_head(s, &seq, chain), 0);
  assert_int_equal(seq, l.n);
  for (uint64_t size = 0; size <= l.n; size++) {
    uint8_t want[32], got[32];
    assert_int_equal(merkle_root(l.leaves, size, want), 0);
    assert_int_equal(audit_log_root(s, size, got), 0);
    assert_memory_equal(want, got, 32);
  }
  uint8_t root[32], old_root[32], proof[MERKLE_PROOF_BYTES];
  size_t n;
  assert_int_equal(merkle_root(l.leaves, l.n, root), 0);
  for (uint64_t i = 1; i <= l.n; i++) {
    assert_int_equal(audit_log_inclusion(s, i, l.n, proof, &n), 0);
    assert_int_equal(merkle_verify_inclusion(i - 1, l.n, l.leaves + 32 * (i - 1),
                                             proof, n, root),
                     0);
    assert_int_equal(merkle_root(l.leaves, i, old_root), 0);
    assert_int_equal(audit_log_consistency(s, i, l.n, proof, &n), 0);
    assert_int_equal(
        merkle_verify_consistency(i, l.n, old_root, root, proof, n), 0);
  }
  free(l.leaves);
}

static void test_appends_build_the_tree(void **state) {
  s_fixture_t *f = *state;
  store_t *s = s_open(f);
  /* in batches (one transaction each), like the broker */
  for (int batch = 0; batch < 5; batch++) {
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 7; i++)
      s_append(s, "coa", batch * 7 + i);
    assert_int_equal(store_commit(s), 0);
  }
  /* and outside a transaction, like `keten admin` */
  s_append(s, "ketend", 99);
  s_check_tree(s);
  /* a node is exactly what the leaves say */
  uint8_t node[32];
  assert_int_equal(store_audit_node_get(s, 5, 0, node), 1);
  assert_int_equal(store_audit_node_get(s, 6, 0, node), 0); /* 36 < 64 */
  store_close(&s);
}

static void test_rollback_undoes_the_nodes(void **state) {
  s_fixture_t *f = *state;
  store_t *s = s_open(f);
  assert_int_equal(store_begin(s), 0);
  for (int i = 0; i < 5; i++)
    s_append(s, "coa", i);
  assert_int_equal(store_commit(s), 0);
  uint8_t before[32];
  assert_int_equal(audit_log_root(s, 5, before), 0);
  /* a request's savepoint rolled back: its entries and nodes go */
  assert_int_equal(store_begin(s), 0);
  s_append(s, "coa", 5);
  assert_int_equal(store_savepoint(s), 0);
  s_append(s, "coa", 6);
  s_append(s, "coa", 7);
  store_savepoint_rollback(s);
  s_append(s, "coa", 8); /* seq 7 again, with other content */
  assert_int_equal(store_commit(s), 0);
  s_check_tree(s);
  /* a whole batch rolled back */
  assert_int_equal(store_begin(s), 0);
  for (int i = 0; i < 9; i++)
    s_append(s, "coa", 100 + i);
  store_rollback(s);
  uint8_t node[32];
  assert_int_equal(store_audit_node_get(s, 0, 7, node), 0); /* seq 8 gone */
  assert_int_equal(store_audit_node_get(s, 3, 0, node), 0);
  s_append(s, "coa", 200);
  s_check_tree(s);
  uint8_t again[32];
  assert_int_equal(audit_log_root(s, 5, again), 0);
  assert_memory_equal(before, again, 32);
  store_close(&s);
}

static void test_reopen_and_another_writer(void **state) {
  s_fixture_t *f = *state;
  store_t *s = s_open(f);
  for (int i = 0; i < 11; i++)
    s_append(s, "coa", i);
  store_close(&s);
  s = s_open(f);
  store_t *admin = s_open(f); /* a second connection, as keten admin */
  for (int round = 0; round < 4; round++) {
    assert_int_equal(store_begin(s), 0);
    s_append(s, "coa", 50 + round);
    s_append(s, "coa", 60 + round);
    assert_int_equal(store_commit(s), 0);
    s_append(admin, "ketend", 70 + round);
  }
  s_check_tree(s);
  s_check_tree(admin);
  store_close(&admin);
  store_close(&s);
}

static void test_migration_6_backfills(void **state) {
  s_fixture_t *f = *state;
  char err[256];
  store_t *s = store_open_schema(f->path, 5, err, sizeof err);
  assert_non_null(s);
  for (int i = 0; i < 13; i++)
    s_append(s, "coa", i);
  store_close(&s);
  s = s_open(f); /* migrates to 6: audit_node from the 13 entries */
  assert_int_equal(store_schema_version(s), store_schema_latest());
  s_check_tree(s);
  s_append(s, "coa", 13); /* and goes on from there */
  s_check_tree(s);
  store_close(&s);
}

static void test_signed_heads_and_the_start_check(void **state) {
  s_fixture_t *f = *state;
  uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
  crypto_sign_keypair(pk, sk);
  crypto_sign_keypair(other_pk, other_sk);
  store_t *s = s_open(f);
  for (int i = 0; i < 6; i++)
    s_append(s, "coa", i);
  store_tree_head_t h, latest;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(audit_log_sign_head(s, sk, pk, 1700000000000, &h), 0);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(h.size, 6);
  assert_int_equal(store_tree_head_latest(s, &latest), 1);
  assert_memory_equal(&h, &latest, sizeof h);
  char why[300];
  assert_int_equal(audit_log_check_head(s, &h, pk, 1, why, sizeof why), 0);
  assert_int_equal(audit_log_check_head(s, &h, other_pk, 1, why, sizeof why), -1);
  uint8_t both[64];
  memcpy(both, other_pk, 32);
  memcpy(both + 32, pk, 32);
  assert_int_equal(audit_log_check_head(s, &h, both, 2, why, sizeof why), 0);
  /* the head as libketen writes and reads it */
  keten_tree_head_t kh, back;
  audit_log_head_to_keten(&h, &kh);
  assert_int_equal(keten_tree_head_verify(&kh, pk, 1), KETEN_OK);
  assert_int_equal(keten_tree_head_save(f->head, &kh), KETEN_OK);
  assert_int_equal(keten_tree_head_load(f->head, &back), KETEN_OK);
  assert_memory_equal(&kh, &back, sizeof kh);
  int missing = 1;
  assert_int_equal(audit_log_start_check(s, f->head, pk, 1, &missing, why,
                                         sizeof why), 0);
  assert_int_equal(missing, 0);
  /* more entries later: the old head still holds */
  s_append(s, "coa", 7);
  assert_int_equal(audit_log_start_check(s, f->head, pk, 1, &missing, why,
                                         sizeof why), 0);
  /* a head beyond the log */
  store_tree_head_t big = h;
  big.size = 100;
  assert_int_equal(audit_log_check_head(s, &big, pk, 1, why, sizeof why), -1);
  /* a forged root (re-signed with the wrong key does not verify) */
  store_tree_head_t bad = h;
  bad.root[0] ^= 1;
  assert_int_equal(audit_log_check_head(s, &bad, pk, 1, why, sizeof why), -1);
  assert_non_null(strstr(why, "signed"));
  store_close(&s);
}

/* An entry changed in the store while audit_node is left alone: the
 * stored nodes still give the signed root, but the entries do not, and
 * the start check refuses (found by review: before, ketend started and
 * went on signing heads over the original content). */
static void test_rewritten_entry_behind_intact_nodes(void **state) {
  s_fixture_t *f = *state;
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  store_t *s = s_open(f);
  for (int i = 0; i < 10; i++)
    s_append(s, "coa", i);
  store_tree_head_t h;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(audit_log_sign_head(s, sk, pk, 1700000000000, &h), 0);
  assert_int_equal(store_commit(s), 0);
  char why[300];
  assert_int_equal(audit_log_check_head(s, &h, pk, 1, why, sizeof why), 0);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE audit SET detail = 'nothing happened',"
                                " counterparty = 'nobody' WHERE seq = 5",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = s_open(f);
  assert_int_equal(audit_log_check_head(s, &h, pk, 1, why, sizeof why), -1);
  assert_non_null(strstr(why, "entries were rewritten"));
  store_close(&s);
}

static void test_head_file_refused(void **state) {
  s_fixture_t *f = *state;
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  store_t *s = s_open(f);
  for (int i = 0; i < 9; i++)
    s_append(s, "coa", i);
  store_tree_head_t h;
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(audit_log_sign_head(s, sk, pk, 1700000000000, &h), 0);
  assert_int_equal(store_commit(s), 0);
  keten_tree_head_t kh;
  audit_log_head_to_keten(&h, &kh);
  assert_int_equal(keten_tree_head_save(f->head, &kh), KETEN_OK);
  char why[300];
  int missing;
  /* the tail removed, heads of the store removed, nodes rebuilt: the
   * head file still names 9 entries (SQL, as an attacker with write
   * access to the store would) */
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq > 6; "
                                    "DELETE FROM tree_head;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = s_open(f);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(audit_log_rebuild(s), 0);
  assert_int_equal(store_commit(s), 0);
  s_check_tree(s); /* a consistent tree of 6 */
  assert_int_equal(audit_log_start_check(s, f->head, pk, 1, &missing, why,
                                         sizeof why), -1);
  assert_non_null(strstr(why, "fewer than the 9"));
  /* a garbled head file is refused too */
  FILE *fp = fopen(f->head, "w");
  assert_non_null(fp);
  fputs("{\"size\":1}\n", fp);
  fclose(fp);
  assert_int_equal(audit_log_start_check(s, f->head, pk, 1, &missing, why,
                                         sizeof why), -1);
  /* no head file and no heads: a new store, fine */
  unlink(f->head);
  assert_int_equal(audit_log_start_check(s, f->head, pk, 1, &missing, why,
                                         sizeof why), 0);
  assert_int_equal(missing, 0);
  store_close(&s);
}

static void test_head_text_form(void **state) {
  (void)state;
  keten_tree_head_t h, back;
  memset(&h, 0, sizeof h);
  h.size = 12345;
  h.timestamp_ms = 1767225600000ULL;
  for (int i = 0; i < 32; i++)
    h.root[i] = (uint8_t)i, h.broker_key[i] = (uint8_t)(0xa0 + i);
  for (int i = 0; i < 64; i++)
    h.signature[i] = (uint8_t)(0x40 + i);
  char line[KETEN_TREE_HEAD_LINE_MAX];
  assert_int_equal(keten_tree_head_format(&h, line, sizeof line), KETEN_OK);
  assert_int_equal(keten_tree_head_parse(line, &back), KETEN_OK);
  assert_memory_equal(&h, &back, sizeof h);
  /* keys in another order, whitespace, upper-case hex */
  char other[1024];
  keten_tree_head_t o;
  char sig[129];
  sodium_bin2hex(sig, sizeof sig, h.signature, 64);
  char key[65];
  sodium_bin2hex(key, sizeof key, h.broker_key, 32);
  snprintf(other, sizeof other,
           " { \"timestamp_ms\" : 1767225600000 , \"size\":12345, \"root\":"
           "\"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\","
           "\"signature\":\"%s\",\"broker_key\":\"%s\" }\n",
           sig, key);
  assert_int_equal(keten_tree_head_parse(other, &o), KETEN_OK);
  assert_memory_equal(&h, &o, sizeof h);
  /* refused: a key twice, a missing key, an unknown key, short hex, a
   * sign, leading zeros, trailing text */
  const char *bad[] = {
      "{\"size\":1,\"size\":1}",
      "{\"size\":1,\"root\":\"00\"}",
      "{\"size\":-1,\"root\":\"x\",\"timestamp_ms\":0,\"broker_key\":\"\",\"signature\":\"\"}",
      "{\"size\":01,\"root\":\"x\"}",
      "",
      "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(keten_tree_head_parse(bad[i], &o), KETEN_ERR_FORMAT);
  char trailing[1200];
  snprintf(trailing, sizeof trailing, "%s x", line);
  assert_int_equal(keten_tree_head_parse(trailing, &o), KETEN_ERR_FORMAT);
  char extra[1200];
  snprintf(extra, sizeof extra, "%.*s,\"more\":1}", (int)strlen(line) - 1, line);
  assert_int_equal(keten_tree_head_parse(extra, &o), KETEN_ERR_FORMAT);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_appends_build_the_tree, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_rollback_undoes_the_nodes, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_reopen_and_another_writer, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_migration_6_backfills, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_signed_heads_and_the_start_check,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewritten_entry_behind_intact_nodes,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_head_file_refused, s_setup,
                                      s_teardown),
      cmocka_unit_test(test_head_text_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
