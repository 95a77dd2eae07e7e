/* Integration test of `keten audit verify` with witnessed tree heads, key
 * history and read-only stores, and of `keten audit prove` (issue 9,
 * items 1-3; docs/security.md 4.47).
 *
 * A real ketend writes the store (consents, sections, fetches between
 * coa and gemeente:0716, and coa's sections nobody else gets); the test,
 * holding the broker's key as a partner holds heads it saw, signs tree
 * heads of that log at a few sizes into a witness file. Then the three
 * attacks of the issue, made with write access to the store and no broker
 * key — (a) deleting every entry that names coa and gemeente:0716,
 * recomputing the chain and deleting the checkpoints and tree heads,
 * (b) emptying the log, (c) deleting the tail after a checkpoint with the
 * checkpoints after it — each verify WITHOUT a witness (which is why the
 * witnesses matter) and each FAIL with the witness file, naming the file,
 * line, size and the range of entries where the log differs.
 * Also: the honest log verifies with witnesses; verify reads a read-only
 * copy (0444 file in a 0555 directory, one with a -wal, one on read-only
 * media) leaving it byte-identical; a schema 2 store verifies without
 * being migrated, a newer schema is refused; heads and checkpoints by two
 * broker keys (key history); --max-age; prove accepts a bundle and
 * refuses tampered ones. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "canon.h"
#include "harness.h"
#include "merkle.h"
#include "party.h"
#include "store.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define BIT(kind) (UINT64_C(1) << (kind))
#define K(x) KETEN__SECTION_KIND__SECTION_##x

static harness_t *g_h;
static char g_golden[400], g_pub[400], g_pub2[400];
static keten_keys_t g_key2;   /* a second broker key (key history) */
static audit_entry_t *g_e;    /* the golden log's entries */
static size_t g_n;
static uint64_t g_first_pair; /* the first entry naming coa and gemeente */
static uint64_t g_n_pair;     /* how many name both */
static uint64_t g_cp_mid;     /* a checkpoint before the last one */
static uint64_t g_s;          /* a size inside the rewritten log, >= g_first_pair */

/* ---- files ---------------------------------------------------------------- */

static void s_copy(const char *src, const char *dst) {
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static void s_sha256(const char *path, uint8_t out[32]) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    crypto_hash_sha256_update(&st, buf, n);
  fclose(f);
  crypto_hash_sha256_final(&st, out);
}

/* How many entries dir holds (. and .. not counted). */
static int s_dir_count(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* A fresh copy of the golden store at DIR/name; its path into out. */
static const char *s_fresh(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_h->dir, name);
  char p[512];
  snprintf(p, sizeof p, "%s-wal", out);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", out);
  unlink(p);
  s_copy(g_golden, out);
  return out;
}

/* ---- the log -------------------------------------------------------------- */

typedef struct {
  audit_entry_t *v;
  size_t n, cap;
} s_list_t;

static int s_collect(const audit_entry_t *e, void *arg) {
  s_list_t *l = arg;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    assert_non_null(l->v);
  }
  l->v[l->n++] = *e;
  return 0;
}

static void s_entries(const char *path, audit_entry_t **v, size_t *n) {
  char err[256];
  store_t *s = store_open_readonly(path, err, sizeof err);
  if (!s)
    fail_msg("%s", err);
  s_list_t l = {0};
  assert_int_equal(store_audit_each(s, s_collect, &l), 0);
  store_close(&s);
  *v = l.v;
  *n = l.n;
}

/* The Merkle root of the first size entries of the golden log. */
static void s_root(uint64_t size, uint8_t root[32]) {
  assert_true(size <= g_n);
  merkle_frontier_t f;
  merkle_frontier_init(&f);
  for (uint64_t i = 0; i < size; i++) {
    uint8_t leaf[32];
    audit_leaf_hash(&g_e[i], leaf);
    assert_int_equal(merkle_frontier_append(&f, leaf, NULL, NULL), 0);
  }
  merkle_frontier_root(&f, root);
}

static int s_names_pair(const audit_entry_t *e) {
  return (!strcmp(e->actor, COA) && !strcmp(e->counterparty, GEMEENTE)) ||
         (!strcmp(e->actor, GEMEENTE) && !strcmp(e->counterparty, COA));
}

/* A signed tree head of the golden log at size (time ts) as a witness
 * line (the spec's JSON) into line. */
static void s_head_line(const keten_keys_t *key, uint64_t size, int64_t ts,
                        const uint8_t *root_or_null, char *line, size_t cap) {
  uint8_t root[32], sig[64];
  if (root_or_null)
    memcpy(root, root_or_null, 32);
  else
    s_root(size, root);
  Keten__TreeHead th = KETEN__TREE_HEAD__INIT;
  th.size = size;
  th.root.data = root;
  th.root.len = 32;
  th.timestamp_ms = (uint64_t)ts;
  th.broker_key.data = (uint8_t *)key->signing_pk;
  th.broker_key.len = 32;
  assert_int_equal(canon_sign_tree_head(&th, key->signing_sk, sig), 0);
  char r[65], k[65], s[129];
  snprintf(line, cap,
           "{\"size\":%llu,\"root\":\"%s\",\"timestamp_ms\":%lld,"
           "\"broker_key\":\"%s\",\"signature\":\"%s\"}",
           (unsigned long long)size, party_hex(root, 32, r), (long long)ts,
           party_hex(key->signing_pk, 32, k), party_hex(sig, 64, s));
}

/* Writes DIR/name with one head line per size (key, time ts); path into out. */
static const char *s_witness(const char *name, const keten_keys_t *key,
                             const uint64_t *sizes, size_t n, int64_t ts,
                             char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", g_h->dir, name);
  FILE *f = fopen(out, "w");
  assert_non_null(f);
  for (size_t i = 0; i < n; i++) {
    char line[512];
    s_head_line(key, sizes[i], ts, NULL, line, sizeof line);
    fprintf(f, "%s\n", line);
  }
  assert_int_equal(fclose(f), 0);
  return out;
}

/* The standard witness file: heads at first_pair - 1, s and n (now). */
static const char *s_std_witness(char *out, size_t cap) {
  uint64_t sizes[] = {g_first_pair - 1, g_s, g_n};
  return s_witness("w.jsonl", &g_h->broker, sizes, 3, party_wall_ms(), out,
                   cap);
}

/* Runs keten with the NULL-terminated arguments; stdout into *out. */
static int s_cli(char **out, ...) {
  const char *argv[32];
  int n = 0;
  va_list ap;
  va_start(ap, out);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 31)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  int rc = harness_run_cli(g_h, argv, out);
  print_message("# keten");
  for (int i = 0; i < n; i++)
    print_message(" %s", argv[i]);
  print_message(" -> %d\n%s", rc, out && *out ? *out : "");
  return rc;
}

static void s_expect(const char *out, const char *needle) {
  if (!out || !strstr(out, needle))
    fail_msg("expected \"%s\" in:\n%s", needle, out ? out : "(nothing)");
}

/* ---- attacks (write access to the store, no broker key) ------------------- */

static sqlite3 *s_db(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

static void s_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("%s: %s", sql, msg ? msg : "?");
}

static int s_has_table(sqlite3 *db, const char *name) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT count(*) FROM sqlite_master "
                                      "WHERE type = 'table' AND name = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n > 0;
}

/* Deletes the signed records of the log: checkpoints, tree heads, the
 * Merkle nodes (those above keep, when keep > 0). */
static void s_drop_signed(sqlite3 *db, uint64_t keep) {
  char sql[256];
  snprintf(sql, sizeof sql, "DELETE FROM audit_checkpoint WHERE seq > %llu",
           (unsigned long long)keep);
  s_exec(db, sql);
  if (s_has_table(db, "tree_head")) {
    snprintf(sql, sizeof sql,
             "DELETE FROM tree_head WHERE size > %llu OR %llu = 0",
             (unsigned long long)keep, (unsigned long long)keep);
    s_exec(db, sql);
  }
  if (s_has_table(db, "audit_node")) {
    snprintf(sql, sizeof sql,
             "DELETE FROM audit_node WHERE ((idx + 1) << level) > %llu",
             (unsigned long long)keep);
    s_exec(db, sql);
  }
}

static void s_insert(sqlite3 *db, const audit_entry_t *e) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(
          db,
          "INSERT INTO audit (seq, trace_id, operation_id, parent_operation_id, "
          "name, status, start_ms, end_ms, actor, counterparty, subject, kind, "
          "consent_id, purpose, foreign_trace_id, foreign_operation_id, detail, "
          "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
          -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)e->seq);
  sqlite3_bind_blob(st, 2, e->trace_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, e->operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, e->parent_operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, e->name, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, e->status);
  sqlite3_bind_int64(st, 7, e->start_ms);
  sqlite3_bind_int64(st, 8, e->end_ms);
  sqlite3_bind_text(st, 9, e->actor, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, e->counterparty, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 11, e->subject, 32, SQLITE_STATIC);
  sqlite3_bind_int(st, 12, e->kind);
  sqlite3_bind_blob(st, 13, e->consent_id, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, 14, e->purpose);
  sqlite3_bind_blob(st, 15, e->foreign_trace_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 16, e->foreign_operation_id, 8, SQLITE_STATIC);
  sqlite3_bind_text(st, 17, e->detail, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 18, e->prev_hash, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 19, e->hash, 32, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

/* (a): every entry naming coa and gemeente:0716 deleted, the rest
 * renumbered and chained again, checkpoints and tree heads deleted.
 * Returns the new length. */
static uint64_t s_attack_rewrite(const char *path) {
  sqlite3 *db = s_db(path);
  s_exec(db, "BEGIN IMMEDIATE");
  s_exec(db, "DELETE FROM audit");
  s_drop_signed(db, 0);
  uint8_t prev[32] = {0};
  uint64_t seq = 0;
  for (size_t i = 0; i < g_n; i++) {
    if (s_names_pair(&g_e[i]))
      continue;
    audit_entry_t e = g_e[i];
    e.seq = ++seq;
    audit_chain(&e, prev);
    memcpy(prev, e.hash, 32);
    s_insert(db, &e);
  }
  s_exec(db, "COMMIT");
  sqlite3_close(db);
  return seq;
}

/* (b): the log emptied, with its checkpoints and tree heads. */
static void s_attack_empty(const char *path) {
  sqlite3 *db = s_db(path);
  s_exec(db, "DELETE FROM audit");
  s_drop_signed(db, 0);
  sqlite3_close(db);
}

/* (c): the entries after cut deleted with the checkpoints after it. */
static void s_attack_truncate(const char *path, uint64_t cut) {
  sqlite3 *db = s_db(path);
  char sql[128];
  snprintf(sql, sizeof sql, "DELETE FROM audit WHERE seq > %llu",
           (unsigned long long)cut);
  s_exec(db, sql);
  s_drop_signed(db, cut);
  sqlite3_close(db);
}

/* ---- the golden store: a real ketend run ---------------------------------- */

static int s_group_setup(void **state) {
  (void)state;
  g_h = harness_new(1);
  if (!g_h || harness_config(g_h, "checkpoint_every = 4\n") != 0 ||
      harness_start(g_h) != 0) {
    if (g_h) {
      FILE *f = fopen(g_h->log_file, "r");
      char line[512];
      while (f && fgets(line, sizeof line, f))
        print_message("# ketend: %s", line);
      if (f)
        fclose(f);
    }
    harness_destroy(&g_h);
    return -1;
  }
  return 0;
}

/* Traffic, then ketend stopped; the golden copy and its facts. */
static void test_make_store(void **state) {
  (void)state;
  harness_t *h = g_h;
  uint8_t amira[32], bilal[32];
  party_subject("2931847560", amira);
  party_subject("2931847561", bilal);
  keten_client_t *coa = party_client(h, COA);
  keten_client_t *gem = party_client(h, GEMEENTE);
  /* coa's own sections first: entries that name coa only */
  party_put(coa, bilal, K(IDENTITY), "{\"given_name\": \"Bilal\", \"family_name\": \"B\", \"birth_date\": \"1990\"}");
  party_put(coa, bilal, K(STORY), "{\"text\": \"...\", \"language\": \"ar\"}");
  party_sleep_ms(1300); /* a checkpoint (every 4 entries, looked at each second) */
  party_grant(coa, amira, GEMEENTE, BIT(K(IDENTITY)) | BIT(K(STORY)),
              KETEN__PURPOSE__PURPOSE_INBURGERING, NULL);
  party_put(coa, amira, K(IDENTITY), "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");
  party_put(coa, amira, K(STORY), "{\"text\": \"Amira\", \"language\": \"ar\"}");
  party_expect_fetched(gem, amira, K(IDENTITY), 1, "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}");
  party_put(coa, bilal, K(HOUSEHOLD), "{\"members\": [], \"size\": 3}");
  party_sleep_ms(1300);
  party_put(coa, bilal, K(WORK), "{\"experience\": []}");
  party_put(coa, bilal, K(EDUCATION), "{\"highest\": \"none\"}");
  party_put(coa, bilal, K(LANGUAGE), "{\"languages\": [{\"code\": \"ar\", \"level\": \"native\"}]}");
  party_sleep_ms(1300);
  party_put(coa, bilal, K(HOUSING), "{\"household_size\": 1, \"azc\": \"Middelburg\"}");
  party_cleanup();
  assert_int_equal(harness_stop(h), 0);

  char wal[400];
  struct stat wst;
  snprintf(wal, sizeof wal, "%s-wal", h->store);
  assert_true(stat(wal, &wst) != 0 || wst.st_size == 0); /* all in the file */
  snprintf(g_golden, sizeof g_golden, "%s/golden.db", h->dir);
  s_copy(h->store, g_golden);
  snprintf(g_pub, sizeof g_pub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, g_pub, 1), KETEN_OK);
  assert_int_equal(keten_keys_generate(&g_key2, "broker-2"), KETEN_OK);
  snprintf(g_pub2, sizeof g_pub2, "%s/broker-2.pub", h->dir);
  assert_int_equal(keten_keys_save(&g_key2, NULL, g_pub2, 1), KETEN_OK);

  s_entries(g_golden, &g_e, &g_n);
  for (size_t i = 0; i < g_n; i++)
    if (s_names_pair(&g_e[i])) {
      if (!g_first_pair)
        g_first_pair = g_e[i].seq;
      g_n_pair++;
    }
  sqlite3 *db = s_db(g_golden);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT max(seq) FROM audit_checkpoint "
                                      "WHERE seq < (SELECT max(seq) FROM "
                                      "audit_checkpoint)",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  g_cp_mid = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  print_message("# golden log: %zu entries, %llu name both (first %llu), "
                "a checkpoint at %llu\n",
                g_n, (unsigned long long)g_n_pair,
                (unsigned long long)g_first_pair, (unsigned long long)g_cp_mid);
  assert_true(g_first_pair > 1);
  assert_true(g_n_pair >= 3);
  assert_true(g_cp_mid > 0 && g_cp_mid < g_n);
  /* a size of the rewritten log at or after the first deleted entry */
  g_s = g_n - g_n_pair;
  assert_true(g_s >= g_first_pair);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_honest_verifies(void **state) {
  (void)state;
  char db[400], w[400], *out = NULL;
  s_fresh("honest.db", db, sizeof db);
  s_std_witness(w, sizeof w);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, NULL),
                   0);
  free(out);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, NULL),
                   0);
  char want[96];
  snprintf(want, sizeof want, "audit chain OK: %zu entries", g_n);
  s_expect(out, want);
  s_expect(out, "tree heads OK:");
  s_expect(out, "3 from 1 witness file(s)");
  s_expect(out, "broker keys: 1:");
  free(out);
  /* --witness with several files after it */
  char w2[400];
  uint64_t one = g_n;
  s_witness("w2.jsonl", &g_h->broker, &one, 1, party_wall_ms(), w2, sizeof w2);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, w2, NULL),
                   0);
  s_expect(out, "4 from 2 witness file(s)");
  free(out);
  /* a witness without the broker's key proves nothing: usage error */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db, "--witness",
                         w, NULL),
                   2);
  free(out);
}

static void test_rewrite_attack(void **state) {
  (void)state;
  char db[400], w[400], *out = NULL, want[600];
  s_fresh("rewrite.db", db, sizeof db);
  s_std_witness(w, sizeof w);
  uint64_t n = s_attack_rewrite(db);
  assert_int_equal(n, g_n - g_n_pair);
  /* without a witness it passes: the chain is consistent again */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, NULL),
                   0);
  snprintf(want, sizeof want, "audit chain OK: %llu entries",
           (unsigned long long)n);
  s_expect(out, want);
  s_expect(out, "0 checkpoint(s)");
  s_expect(out, "tree heads: none");
  free(out);
  /* with the partner's witness it fails, naming the head and the range */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, NULL),
                   1);
  snprintf(want, sizeof want,
           "audit log DIFFERS from a signed tree head: %s:2 (size %llu,", w,
           (unsigned long long)g_s);
  s_expect(out, want);
  snprintf(want, sizeof want,
           "entries 1..%llu match %s:1", (unsigned long long)(g_first_pair - 1),
           w);
  s_expect(out, want);
  snprintf(want, sizeof want, "after entry %llu, at or before entry %llu",
           (unsigned long long)(g_first_pair - 1), (unsigned long long)g_s);
  s_expect(out, want);
  free(out);
}

static void test_empty_attack(void **state) {
  (void)state;
  char db[400], w[400], *out = NULL, want[600];
  s_fresh("empty.db", db, sizeof db);
  s_std_witness(w, sizeof w);
  s_attack_empty(db);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, NULL),
                   0);
  s_expect(out, "audit chain OK: 0 entries");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, NULL),
                   1);
  snprintf(want, sizeof want,
           "audit log TRUNCATED: the log holds 0 entries; %s:1 witnessed %llu",
           w, (unsigned long long)(g_first_pair - 1));
  s_expect(out, want);
  s_expect(out, "no smaller head matches");
  free(out);
}

static void test_truncate_attack(void **state) {
  (void)state;
  char db[400], w[400], *out = NULL, want[600];
  s_fresh("truncate.db", db, sizeof db);
  s_std_witness(w, sizeof w);
  uint64_t cut = g_cp_mid;
  s_attack_truncate(db, cut);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, NULL),
                   0);
  snprintf(want, sizeof want, "audit chain OK: %llu entries",
           (unsigned long long)cut);
  s_expect(out, want);
  free(out);
  /* the first witnessed head beyond the cut, and the largest one within */
  uint64_t sizes[] = {g_first_pair - 1, g_s, g_n};
  int line = 0, match = 0;
  for (int i = 0; i < 3; i++) {
    if (sizes[i] <= cut)
      match = i + 1;
    else if (!line)
      line = i + 1;
  }
  assert_true(line > 0);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, NULL),
                   1);
  snprintf(want, sizeof want,
           "audit log TRUNCATED: the log holds %llu entries; %s:%d witnessed "
           "%llu",
           (unsigned long long)cut, w, line,
           (unsigned long long)sizes[line - 1]);
  s_expect(out, want);
  /* the largest matching head: a witnessed one, or one the store kept
   * (ketend's own heads up to the cut survive the attack) */
  long long stored = 0;
  sqlite3 *sdb = s_db(db);
  if (s_has_table(sdb, "tree_head")) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(sdb,
                                        "SELECT coalesce(max(size), 0) FROM "
                                        "tree_head",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    stored = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(sdb);
  uint64_t witnessed = match ? sizes[match - 1] : 0;
  if (stored > 0 && (uint64_t)stored > witnessed)
    snprintf(want, sizeof want, "entries 1..%lld match the store's tree head "
             "of size %lld", stored, stored);
  else
    snprintf(want, sizeof want, "entries 1..%llu match %s:%d",
             (unsigned long long)witnessed, w, match);
  if (witnessed > 0 || stored > 0)
    s_expect(out, want);
  free(out);
}

/* A copy that the test may not write: 0444 in a 0555 directory. The test
 * may run as root, so SQLite could write all the same: the file must be
 * byte-identical and no file added beside it. */
static void s_readonly_case(const char *dir, const char *w, int extra_files) {
  char db[512], *out = NULL, want[96];
  snprintf(db, sizeof db, "%s/keten.db", dir);
  uint8_t before[32], after[32];
  s_sha256(db, before);
  int files = s_dir_count(dir);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w, NULL),
                   0);
  snprintf(want, sizeof want, "audit chain OK: %zu entries", g_n + extra_files);
  s_expect(out, want);
  free(out);
  assert_int_equal(s_cli(&out, "audit", "subject", "--store", db,
                         "--all", "0000000000000000000000000000000000000000000000000000000000000000",
                         NULL),
                   0);
  free(out);
  s_sha256(db, after);
  assert_memory_equal(before, after, 32);
  assert_int_equal(s_dir_count(dir), files);
}

static void test_readonly_copy(void **state) {
  (void)state;
  char dir[400], db[512], w[400];
  s_std_witness(w, sizeof w);
  snprintf(dir, sizeof dir, "%s/ro", g_h->dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(db, sizeof db, "%s/keten.db", dir);
  s_copy(g_golden, db);
  assert_int_equal(chmod(db, 0444), 0);
  assert_int_equal(chmod(dir, 0555), 0);
  s_readonly_case(dir, w, 0);

  /* A copy taken while a writer had a -wal with content: the entry in the
   * -wal must be read (it is not in the database file yet). */
  char live[512], dir2[400], p[600], q[600];
  snprintf(live, sizeof live, "%s/live.db", g_h->dir);
  s_copy(g_golden, live);
  sqlite3 *wdb = s_db(live);
  s_exec(wdb, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;");
  audit_entry_t e;
  audit_entry_local(&e, "keten.registry.add", "operator", "in the wal only");
  e.seq = g_n + 1;
  audit_chain(&e, g_e[g_n - 1].hash);
  s_insert(wdb, &e);
  snprintf(dir2, sizeof dir2, "%s/ro-wal", g_h->dir);
  assert_int_equal(mkdir(dir2, 0755), 0);
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", live, suffix[i]);
    snprintf(q, sizeof q, "%s/keten.db%s", dir2, suffix[i]);
    s_copy(p, q);
    assert_int_equal(chmod(q, 0444), 0);
  }
  sqlite3_close(wdb);
  snprintf(q, sizeof q, "%s/keten.db-wal", dir2);
  struct stat st;
  assert_int_equal(stat(q, &st), 0);
  assert_true(st.st_size > 0);
  assert_int_equal(chmod(dir2, 0555), 0);
  s_readonly_case(dir2, w, 1);

  /* Read-only media (even root cannot write): a tmpfs remounted read-only
   * in a mount namespace of this test; skipped where none can be made. */
  char mnt[400];
  snprintf(mnt, sizeof mnt, "%s/media", g_h->dir);
  assert_int_equal(mkdir(mnt, 0755), 0);
  if (unshare(CLONE_NEWNS) != 0 ||
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("tmpfs", mnt, "tmpfs", 0, "size=64m") != 0) {
    print_message("# read-only media skipped: %s\n", strerror(errno));
    return;
  }
  snprintf(db, sizeof db, "%s/keten.db", mnt);
  s_copy(g_golden, db);
  assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL),
                   0);
  int fd = open(db, O_WRONLY);
  if (fd >= 0)
    close(fd);
  assert_true(fd < 0 && errno == EROFS); /* read-only even to root */
  s_readonly_case(mnt, w, 0);
  umount2(mnt, MNT_DETACH);
}

/* A store of schema 2 (keten 0.1): verified, and read by `subject`, as it
 * is; it stays schema 2 and byte-identical. A newer schema is refused. */
static void test_old_schema_not_migrated(void **state) {
  (void)state;
  char path[400], err[256], *out = NULL;
  snprintf(path, sizeof path, "%s/schema2.db", g_h->dir);
  store_t *s = store_open_schema(path, 2, err, sizeof err);
  if (!s)
    fail_msg("%s", err);
  store_close(&s);
  sqlite3 *db = s_db(path);
  uint8_t prev[32] = {0};
  for (uint64_t i = 1; i <= 3; i++) {
    audit_entry_t e;
    audit_entry_local(&e, "keten.registry.add", "operator",
                      "registry changed with keten admin");
    e.seq = i;
    audit_chain(&e, prev);
    memcpy(prev, e.hash, 32);
    s_insert(db, &e);
  }
  uint8_t msg[128], sig[64];
  size_t len = audit_checkpoint_bytes(3, prev, 1000, msg, sizeof msg);
  crypto_sign_detached(sig, NULL, msg, len, g_h->broker.signing_sk);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "INSERT INTO audit_checkpoint VALUES "
                                      "(3, ?, 1000, ?)",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_blob(st, 1, prev, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, sig, 64, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);

  uint8_t before[32], after[32];
  s_sha256(path, before);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", path,
                         "--broker-key", g_pub, NULL),
                   0);
  s_expect(out, "audit chain OK: 3 entries");
  s_expect(out, "1 checkpoint(s) signature-verified");
  s_expect(out, "schema older than 6");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "subject", "--store", path, "--all",
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         NULL),
                   0);
  s_expect(out, "keten.registry.add");
  free(out);
  s_sha256(path, after);
  assert_memory_equal(before, after, 32);
  db = s_db(path);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);

  /* a schema newer than this build: refused, not read */
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
           store_schema_latest() + 1);
  s_exec(db, sql);
  sqlite3_close(db);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", path,
                         "--broker-key", g_pub, NULL),
                   4);
  free(out);
  assert_true(harness_log_count(g_h, "is newer than this build knows") > 0);
}

/* Key history: heads (and checkpoints) signed by two broker keys. */
static void test_key_history(void **state) {
  (void)state;
  char db[400], w1[400], w2[400], *out = NULL;
  s_fresh("keys.db", db, sizeof db);
  uint64_t old_sizes[] = {g_first_pair - 1, g_s};
  uint64_t new_sizes[] = {g_n};
  s_witness("old-key.jsonl", &g_h->broker, old_sizes, 2, party_wall_ms(), w1,
            sizeof w1);
  s_witness("new-key.jsonl", &g_key2, new_sizes, 1, party_wall_ms(), w2,
            sizeof w2);
  /* the last checkpoint signed again by the new key */
  sqlite3 *sdb = s_db(db);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(sdb,
                                      "SELECT seq, head_hash, at_ms FROM "
                                      "audit_checkpoint ORDER BY seq DESC "
                                      "LIMIT 1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  uint64_t cp = (uint64_t)sqlite3_column_int64(st, 0);
  uint8_t head[32], msg[128], sig[64];
  memcpy(head, sqlite3_column_blob(st, 1), 32);
  int64_t at = sqlite3_column_int64(st, 2);
  sqlite3_finalize(st);
  size_t len = audit_checkpoint_bytes(cp, head, at, msg, sizeof msg);
  crypto_sign_detached(sig, NULL, msg, len, g_key2.signing_sk);
  assert_int_equal(sqlite3_prepare_v2(sdb,
                                      "UPDATE audit_checkpoint SET signature "
                                      "= ? WHERE seq = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_blob(st, 1, sig, 64, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)cp);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(sdb);

  /* only the old key: the new key's head is not one it knows */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", w1, w2, NULL),
                   1);
  char want[600];
  snprintf(want, sizeof want, "UNVERIFIED tree head: %s:1", w2);
  s_expect(out, want);
  s_expect(out, "which is not one of the --broker-key given");
  free(out);
  /* only the new key: the old heads fail (ketend's own, if it stored
   * any, or the first witnessed by the old key) */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub2, "--witness", w1, w2, NULL),
                   1);
  char fp[17];
  snprintf(want, sizeof want, "it names broker key %s...",
           party_hex(g_h->broker.signing_pk, 8, fp));
  s_expect(out, want);
  s_expect(out, "which is not one of the --broker-key given");
  free(out);
  /* both keys: everything verifies */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub2, "--broker-key", g_pub,
                         "--witness", w1, w2, NULL),
                   0);
  s_expect(out, "signature-verified");
  s_expect(out, "3 from 2 witness file(s)");
  s_expect(out, "broker keys: 2:");
  free(out);
  /* the checkpoint by the new key does not verify with the old key alone */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, NULL),
                   1);
  snprintf(want, sizeof want, "audit chain BROKEN at checkpoint %llu",
           (unsigned long long)cp);
  s_expect(out, want);
  free(out);
  /* a head whose signature was altered */
  char bad[400];
  snprintf(bad, sizeof bad, "%s/bad-sig.jsonl", g_h->dir);
  char line[512];
  s_head_line(&g_h->broker, g_n, party_wall_ms(), NULL, line, sizeof line);
  char *sigp = strstr(line, "\"signature\":\"") + 13;
  *sigp = *sigp == '0' ? '1' : '0';
  FILE *f = fopen(bad, "w");
  assert_non_null(f);
  fprintf(f, "%s\n", line);
  fclose(f);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub2, "--broker-key", g_pub,
                         "--witness", bad, NULL),
                   1);
  s_expect(out, "its signature does not verify");
  free(out);
}

static void test_max_age(void **state) {
  (void)state;
  char db[400], old_w[400], new_w[400], *out = NULL;
  s_fresh("age.db", db, sizeof db);
  /* only the witnesses' heads count here: the store's own (if any) gone */
  sqlite3 *sdb = s_db(db);
  if (s_has_table(sdb, "tree_head"))
    s_exec(sdb, "DELETE FROM tree_head");
  sqlite3_close(sdb);
  uint64_t size = g_n;
  int64_t now = party_wall_ms();
  s_witness("old.jsonl", &g_h->broker, &size, 1, now - 3 * 3600 * 1000, old_w,
            sizeof old_w);
  s_witness("new.jsonl", &g_h->broker, &size, 1, now, new_w, sizeof new_w);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", old_w,
                         "--max-age", "2h", NULL),
                   1);
  s_expect(out, "audit log STALE: no verified tree head is newer than");
  s_expect(out, "(--max-age 2h)");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", old_w,
                         "--max-age", "3h30m", NULL),
                   0);
  s_expect(out, "max-age 3h30m: the newest verified tree head is within it");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--witness", old_w, new_w,
                         "--max-age", "90m", NULL),
                   0);
  free(out);
  /* no head at all */
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--max-age", "1d", NULL),
                   1);
  s_expect(out, "there is none");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "verify", "--store", db,
                         "--broker-key", g_pub, "--max-age", "2x", NULL),
                   2);
  free(out);
}

/* ---- prove ---------------------------------------------------------------- */

typedef struct {
  const uint8_t *leaves;
} s_nodes_t;

static int s_node(void *arg, unsigned level, uint64_t index,
                  uint8_t out[MERKLE_HASH_BYTES]) {
  s_nodes_t *n = arg;
  return merkle_root(n->leaves + (index << level) * 32, UINT64_C(1) << level,
                     out);
}

/* A bundle proving entry seq in the tree of size (head signed by key);
 * tamper: 0 none, 1 a byte of the entry, 2 a proof hash, 3 the bundle's
 * seq, 4 the head's time after signing, 5 the entry cut short. */
static const char *s_bundle(const char *name, uint64_t seq, uint64_t size,
                            const keten_keys_t *key, int tamper, char *out,
                            size_t cap) {
  uint8_t *leaves = malloc(size * 32);
  assert_non_null(leaves);
  for (uint64_t i = 0; i < size; i++)
    audit_leaf_hash(&g_e[i], leaves + i * 32);
  s_nodes_t nodes = {leaves};
  uint8_t proof[MERKLE_PROOF_BYTES];
  size_t n = 0;
  assert_int_equal(
      merkle_inclusion_proof(seq - 1, size, s_node, &nodes, proof, &n), 0);
  uint8_t root[32];
  assert_int_equal(merkle_root(leaves, size, root), 0);
  free(leaves);
  size_t elen = 0;
  uint8_t *entry = audit_entry_string(&g_e[seq - 1], &elen);
  assert_non_null(entry);
  if (tamper == 1)
    entry[elen - 1] ^= 0x01; /* the detail's last character */
  if (tamper == 2 && n > 0)
    proof[0] ^= 0x01;
  if (tamper == 5)
    elen--;
  char head[512];
  int64_t ts = party_wall_ms();
  s_head_line(key, size, ts, root, head, sizeof head);
  if (tamper == 4) {
    char *t = strstr(head, "\"timestamp_ms\":") + 15;
    *t = *t == '1' ? '2' : '1';
  }
  snprintf(out, cap, "%s/%s", g_h->dir, name);
  FILE *f = fopen(out, "w");
  assert_non_null(f);
  char *hex = malloc(2 * elen + 1);
  assert_non_null(hex);
  fprintf(f, "{\"head\":%s,\"seq\":%llu,\"entry_hex\":\"%s\",\"inclusion\":[",
          head, (unsigned long long)(tamper == 3 ? seq + 1 : seq),
          party_hex(entry, elen, hex));
  for (size_t i = 0; i < n; i++) {
    char h[65];
    fprintf(f, "%s\"%s\"", i ? "," : "", party_hex(proof + i * 32, 32, h));
  }
  fprintf(f, "]}\n");
  assert_int_equal(fclose(f), 0);
  free(hex);
  free(entry);
  return out;
}

static void test_prove(void **state) {
  (void)state;
  char b[400], *out = NULL, want[256];
  /* the fetch of coa's section by gemeente:0716 */
  uint64_t seq = 0;
  for (size_t i = 0; i < g_n && !seq; i++)
    if (!strcmp(g_e[i].name, "keten.section.fetch") &&
        !strcmp(g_e[i].actor, GEMEENTE))
      seq = g_e[i].seq;
  assert_true(seq > 0);
  s_bundle("proof.json", seq, g_n, &g_h->broker, 0, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   0);
  snprintf(want, sizeof want, "proof OK: entry %llu is in the log of %zu "
           "entries", (unsigned long long)seq, g_n);
  s_expect(out, want);
  s_expect(out, "name          keten.section.fetch");
  s_expect(out, "actor         " GEMEENTE);
  s_expect(out, "counterparty  " COA);
  s_expect(out, "kind          IDENTITY");
  snprintf(want, sizeof want, "detail        %s", g_e[seq - 1].detail);
  s_expect(out, want);
  free(out);
  /* the first and the last entry, in a smaller tree */
  s_bundle("first.json", 1, g_s, &g_h->broker, 0, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub2,
                         "--broker-key", g_pub, b, NULL),
                   0);
  free(out);
  s_bundle("last.json", g_n, g_n, &g_h->broker, 0, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   0);
  free(out);

  s_bundle("entry.json", seq, g_n, &g_h->broker, 1, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  s_expect(out, "proof FAILED");
  s_expect(out, "does not lead from entry");
  free(out);
  s_bundle("path.json", seq, g_n, &g_h->broker, 2, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  s_expect(out, "does not lead from entry");
  free(out);
  s_bundle("seq.json", seq, g_n, &g_h->broker, 3, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  snprintf(want, sizeof want, "the entry is seq %llu, the bundle says %llu",
           (unsigned long long)seq, (unsigned long long)seq + 1);
  s_expect(out, want);
  free(out);
  s_bundle("time.json", seq, g_n, &g_h->broker, 4, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  s_expect(out, "its signature does not verify");
  free(out);
  s_bundle("short.json", seq, g_n, &g_h->broker, 5, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  s_expect(out, "is not an audit entry string");
  free(out);
  /* signed by a key not given */
  s_bundle("key.json", seq, g_n, &g_key2, 0, b, sizeof b);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, b,
                         NULL),
                   1);
  s_expect(out, "not one of the --broker-key given");
  free(out);
  assert_int_equal(s_cli(&out, "audit", "prove", b, NULL), 2);
  free(out);
}

/* `keten audit proof` against a running ketend (H9's AUDIT_PROOF): the
 * participant gets the proof of an entry about its own traffic, which
 * `keten audit prove` accepts offline; one about others' is refused. */
static void test_proof_online(void **state) {
  (void)state;
  harness_t *h = g_h;
  assert_int_equal(harness_start(h), 0);
  char key[400], bundle[400], seq[32], *out = NULL;
  snprintf(key, sizeof key, "%s/gemeente.key", h->dir);
  assert_int_equal(
      keten_keys_save(&harness_partner(h, GEMEENTE)->keys, key, NULL, 1),
      KETEN_OK);
  long long fetch = party_sql(h, "SELECT min(seq) FROM audit WHERE name = "
                                 "'keten.section.fetch' AND actor = '" GEMEENTE
                                 "'");
  long long own = party_sql(h, "SELECT min(seq) FROM audit WHERE actor = '"
                               COA "' AND counterparty = ''");
  assert_true(fetch > 0 && own > 0);
  snprintf(bundle, sizeof bundle, "%s/online.json", h->dir);
  snprintf(seq, sizeof seq, "%lld", fetch);
  int rc = s_cli(&out, "audit", "proof", "--endpoint", h->endpoint, "--keys",
                 key, "--broker-key", g_pub, "--root-key", h->root_file,
                 "--out", bundle, seq, NULL);
  free(out);
  snprintf(seq, sizeof seq, "%lld", own);
  char other[400];
  snprintf(other, sizeof other, "%s/not-mine.json", h->dir);
  int rc_other = s_cli(&out, "audit", "proof", "--endpoint", h->endpoint,
                       "--keys", key, "--broker-key", g_pub, "--root-key",
                       h->root_file, "--out", other, seq, NULL);
  free(out);
  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(rc, 0);
  assert_int_equal(rc_other, 1); /* ERROR_FORBIDDEN: not about gemeente */
  assert_int_not_equal(access(other, F_OK), 0);
  assert_int_equal(s_cli(&out, "audit", "prove", "--broker-key", g_pub, bundle,
                         NULL),
                   0);
  char want[96];
  snprintf(want, sizeof want, "proof OK: entry %lld is in the log", fetch);
  s_expect(out, want);
  s_expect(out, "name          keten.section.fetch");
  free(out);
}

static int s_group_teardown(void **state) {
  (void)state;
  party_cleanup();
  if (g_h) {
    /* the read-only directories made by the test, writable again */
    char p[512];
    snprintf(p, sizeof p, "%s/ro", g_h->dir);
    chmod(p, 0755);
    snprintf(p, sizeof p, "%s/ro-wal", g_h->dir);
    chmod(p, 0755);
  }
  harness_destroy(&g_h);
  free(g_e);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_make_store),
      cmocka_unit_test(test_honest_verifies),
      cmocka_unit_test(test_rewrite_attack),
      cmocka_unit_test(test_empty_attack),
      cmocka_unit_test(test_truncate_attack),
      cmocka_unit_test(test_old_schema_not_migrated),
      cmocka_unit_test(test_key_history),
      cmocka_unit_test(test_max_age),
      cmocka_unit_test(test_prove),
      cmocka_unit_test(test_proof_online),
      cmocka_unit_test(test_readonly_copy), /* last: it unshares mounts */
  };
  return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
