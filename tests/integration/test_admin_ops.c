/* Integration test of the operator's commands of issue 10, item 3, on a
 * real ketend: `keten admin --config` (the store and root key from
 * ketend.conf), `keten admin backup` while ketend serves PUTs (online,
 * consistent, 0600, verified, audited; refuses an existing file and a
 * symlink), `keten admin participant rotate` (a new root-signed entry
 * next to the current one: both keys admitted in the overlap, the old one
 * until its entry ends; refusals), `keten admin migrate [--dry-run]` on an
 * older store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "entry_file.h"
#include "harness.h"
#include "participant.h"
#include "party.h"
#include "store.h"

#define COA "coa"
#define DAY_MS INT64_C(86400000)
#define K_IDENTITY 1

static int s_setup(void **state) {
  harness_t *h = harness_new(0);
  if (!h)
    return -1;
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* DIR/admin.conf: a ketend.conf naming the harness's store and root key. */
static void s_conf(harness_t *h, char *path, size_t cap) {
  snprintf(path, cap, "%s/admin.conf", h->dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "# as ketend reads it\n"
          "endpoint = %s\n"
          "key_file = %s\n"
          "root_key = %s\n"
          "store = %s\n",
          h->endpoint, h->key_file, h->root_file, h->store);
  fclose(f);
}

static int s_cli(harness_t *h, char **out, ...) {
  const char *argv[32];
  int n = 0;
  va_list ap;
  va_start(ap, out);
  const char *a;
  while (n < 31 && (a = va_arg(ap, const char *)) != NULL)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return harness_run_cli(h, argv, out);
}

/* Reads a whole file (for byte comparisons); *len its size. */
static uint8_t *s_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static long long s_num(const char *db_path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* ---- --config ------------------------------------------------------------ */

static void test_config_finds_the_store(void **state) {
  harness_t *h = *state;
  char conf[400];
  s_conf(h, conf, sizeof conf);
  char *out = NULL;
  /* after the verb, and before the noun */
  assert_int_equal(s_cli(h, &out, "admin", "participant", "list", "--config",
                         conf, NULL),
                   0);
  assert_non_null(strstr(out, "gemeente:0716"));
  free(out);
  out = NULL;
  assert_int_equal(s_cli(h, &out, "admin", "--config", conf, "participant",
                         "list", NULL),
                   0);
  assert_non_null(strstr(out, "coa"));
  free(out);
  /* --store wins over the file */
  char other[400];
  snprintf(other, sizeof other, "%s/none.db", h->dir);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "list", "--config",
                         conf, "--store", other, NULL),
                   4); /* no store at none.db */
  /* a config file that does not parse is an error naming its line */
  char bad[400];
  snprintf(bad, sizeof bad, "%s/bad.conf", h->dir);
  FILE *f = fopen(bad, "w");
  fprintf(f, "store = %s\nno_such_setting = 1\n", h->store);
  fclose(f);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "list", "--config",
                         bad, NULL),
                   4);
  assert_true(harness_log_count(h, "bad.conf:2: unknown setting") >= 1);
  /* and the commands of item 3 take it too */
  assert_int_equal(s_cli(h, NULL, "admin", "migrate", "--dry-run", "--config",
                         conf, NULL),
                   0);
}

/* ---- backup -------------------------------------------------------------- */

/* Starts `keten admin backup ARGS` without waiting; stdout into out_file. */
static pid_t s_spawn_cli(const char *out_file, const char *const *args) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const char *argv[16];
    int n = 0;
    argv[n++] = KETEN_CLI_PATH;
    while (args[n - 1] && n < 15) {
      argv[n] = args[n - 1];
      n++;
    }
    argv[n] = NULL;
    execv(KETEN_CLI_PATH, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static void test_backup_while_serving(void **state) {
  harness_t *h = *state;
  assert_int_equal(harness_start(h), 0);
  char conf[400], out[400], log[400], pub[400];
  s_conf(h, conf, sizeof conf);
  snprintf(out, sizeof out, "%s/backup.db", h->dir);
  snprintf(log, sizeof log, "%s/backup.out", h->dir);
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, pub, 1), KETEN_OK);
  keten_client_t *coa = party_client(h, COA);
  uint8_t subject[32];
  party_subject("2931847560", subject);
  enum { BEFORE = 25, DURING = 40 };
  char json[128];
  for (int i = 1; i <= BEFORE; i++) {
    snprintf(json, sizeof json, "{\"given_name\": \"A\", \"family_name\": \"H\", \"birth_date\": \"1991\", \"n\": %d}", i);
    party_put(coa, subject, K_IDENTITY, json);
  }
  /* Every one of those is STORED; now the backup runs while PUTs go on. */
  const char *args[] = {"admin", "backup", "--config", conf, "--out", out,
                        "--broker-key", pub, NULL};
  pid_t pid = s_spawn_cli(log, args);
  for (int i = BEFORE + 1; i <= BEFORE + DURING; i++) {
    snprintf(json, sizeof json, "{\"given_name\": \"A\", \"family_name\": \"H\", \"birth_date\": \"1991\", \"n\": %d}", i);
    party_put(coa, subject, K_IDENTITY, json);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  size_t n = 0;
  char *text = (char *)s_slurp(log, &n);
  text = realloc(text, n + 1);
  text[n] = '\0';
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("keten admin backup failed:\n%s", text);
  assert_non_null(strstr(text, "integrity check OK"));
  assert_non_null(strstr(text, "audit chain OK"));
  assert_non_null(strstr(text, "signature-verified"));
  assert_non_null(strstr(text, "backup verified and recorded"));
  free(text);

  /* 0600, a regular file, one file (no -wal beside it) */
  struct stat st;
  assert_int_equal(lstat(out, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  char wal[420];
  snprintf(wal, sizeof wal, "%s-wal", out);
  assert_int_not_equal(access(wal, F_OK), 0);
  /* every section STORED before the backup started is in it */
  long long versions = s_num(out, "SELECT count(DISTINCT version) FROM "
                                  "section WHERE author = 'coa' AND kind = 1 "
                                  "AND version <= 25");
  assert_int_equal(versions, BEFORE);
  long long copied = s_num(out, "SELECT count(*) FROM section");
  assert_true(copied >= BEFORE && copied <= BEFORE + DURING);
  /* the copy opens read-only and verifies on its own, too */
  char err[256];
  store_t *copy = store_open_readonly(out, err, sizeof err);
  assert_non_null(copy);
  assert_int_equal(store_integrity_check(copy, err, sizeof err), 0);
  assert_int_equal(store_schema_version(copy), store_schema_latest());
  store_close(&copy);

  /* an existing --out, and a symlink (even a dangling one), are refused */
  char *o = NULL;
  assert_int_equal(s_cli(h, &o, "admin", "backup", "--store", h->store,
                         "--out", out, NULL),
                   1);
  free(o);
  assert_true(harness_log_count(h, "a backup never replaces a file") >= 1);
  char link_path[420], target[420];
  snprintf(link_path, sizeof link_path, "%s/link.db", h->dir);
  snprintf(target, sizeof target, "%s/elsewhere.db", h->dir);
  assert_int_equal(symlink(target, link_path), 0);
  assert_int_equal(s_cli(h, NULL, "admin", "backup", "--store", h->store,
                         "--out", link_path, NULL),
                   1);
  assert_int_not_equal(access(target, F_OK), 0); /* nothing written there */
  assert_true(harness_log_count(h, "is a symbolic link") >= 1);

  /* the backup is in the live store's audit log, and the log verifies */
  assert_int_equal(party_audited(h, "keten.store.backup", 0, "backup.db"), 1);
  party_untrack_close(&coa);
  party_stop_and_verify(h);
}

/* ---- participant rotate --------------------------------------------------- */

/* A root-signed entry file of id with keys, valid [from, until). */
static void s_entry(harness_t *h, const char *path, const char *id, int role,
                    const keten_keys_t *keys, int64_t from, int64_t until,
                    const uint8_t *root_sk) {
  participant_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.id, sizeof p.id, "%s", id);
  snprintf(p.display_name, sizeof p.display_name, "VluchtelingenWerk Walcheren");
  p.role = role;
  memcpy(p.transport_pk, keys->transport_pk, 32);
  memcpy(p.signing_pk, keys->signing_pk, 32);
  memcpy(p.sealing_pk, keys->sealing_pk, 32);
  p.valid_from_ms = from;
  p.valid_until_ms = until;
  p.issued_at_ms = party_wall_ms();
  assert_int_equal(participant_sign(&p, root_sk ? root_sk : h->root.secret_key),
                   0);
  char why[256];
  unlink(path);
  if (entry_file_write(path, &p, 1, why, sizeof why) != 0)
    fail_msg("%s", why);
}

static keten_err_t s_ping(harness_t *h, const keten_keys_t *keys) {
  keten_client_t *c = harness_client(h, keys, 2000, -1);
  assert_non_null(c);
  int64_t rtt = 0;
  keten_err_t rc = keten_client_ping(c, "x", 1, &rtt);
  keten_client_destroy(&c);
  return rc;
}

static void test_rotate_with_overlap(void **state) {
  harness_t *h = *state;
  const char *id = "vwn:walcheren";
  keten_keys_t k_old, k_new, k_other;
  assert_int_equal(keten_keys_generate(&k_old, id), KETEN_OK);
  assert_int_equal(keten_keys_generate(&k_new, id), KETEN_OK);
  assert_int_equal(keten_keys_generate(&k_other, id), KETEN_OK);
  int64_t now = party_wall_ms();
  int64_t old_until = now + 9000; /* the old entry ends in 9 s */
  assert_int_equal(harness_install_entry(h, id, 3, &k_old, now - 3600000,
                                         old_until, NULL),
                   0);
  assert_int_equal(harness_start(h), 0);
  char conf[400], entry[400];
  s_conf(h, conf, sizeof conf);
  snprintf(entry, sizeof entry, "%s/new.signed", h->dir);
  assert_int_equal(s_ping(h, &k_old), KETEN_OK);
  assert_int_not_equal(s_ping(h, &k_new), KETEN_OK);

  /* refused: starts after the current one ends (a gap) */
  s_entry(h, entry, id, 3, &k_other, old_until + 60000, now + 365 * DAY_MS,
          NULL);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);
  assert_true(harness_log_count(h, "does not overlap") >= 1);
  /* refused: signed by another root */
  keten_root_key_t rogue;
  assert_int_equal(keten_root_key_generate(&rogue), KETEN_OK);
  s_entry(h, entry, id, 3, &k_other, now - 1000, now + 365 * DAY_MS,
          rogue.secret_key);
  keten_root_key_wipe(&rogue);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);
  /* refused: another participant's entry */
  s_entry(h, entry, "vwn:zeeland", 3, &k_other, now - 1000,
          now + 365 * DAY_MS, NULL);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);
  assert_true(harness_log_count(h, "not of 'vwn:walcheren'") >= 1);
  /* refused: another role */
  s_entry(h, entry, id, 4, &k_other, now - 1000, now + 365 * DAY_MS, NULL);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);
  /* refused: not newer (ends before the current one) */
  s_entry(h, entry, id, 3, &k_other, now - 1000, old_until - 1000, NULL);
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);
  assert_true(harness_log_count(h, "not newer") >= 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM registry_entry "
                                 "WHERE id = '%s'", id),
                   1);
  assert_int_equal(party_audited(h, "keten.registry.rotate", 0, NULL), 0);

  /* the rotation: new keys from a second ago for a year */
  s_entry(h, entry, id, 3, &k_new, now - 1000, now + 365 * DAY_MS, NULL);
  char *out = NULL;
  assert_int_equal(s_cli(h, &out, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   0);
  assert_non_null(strstr(out, "both are admitted"));
  free(out);
  assert_int_equal(party_audited(h, "keten.registry.rotate", 1, "overlap"), 1);
  /* the old entry is untouched: same end, not removed */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM registry_entry WHERE "
                                 "id = '%s' AND removed_at_ms IS NULL AND "
                                 "valid_until_ms = %lld", id,
                              (long long)old_until),
                   1);
  /* the same entry again is refused */
  assert_int_equal(s_cli(h, NULL, "admin", "participant", "rotate", id,
                         "--entry", entry, "--config", conf, NULL),
                   1);

  /* ketend picks it up: both keys are admitted in the overlap */
  int loads = harness_log_count(h, "registry: loaded");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "registry: loaded", loads + 1, 10000),
                   0);
  assert_int_equal(s_ping(h, &k_new), KETEN_OK);
  assert_int_equal(s_ping(h, &k_old), KETEN_OK);
  /* ... the old one until its entry ends */
  while (party_wall_ms() < old_until + 500)
    party_sleep_ms(200);
  assert_int_not_equal(s_ping(h, &k_old), KETEN_OK);
  assert_int_equal(s_ping(h, &k_new), KETEN_OK);
  keten_keys_wipe(&k_old);
  keten_keys_wipe(&k_new);
  keten_keys_wipe(&k_other);
  party_stop_and_verify(h);
}

/* ---- migrate --------------------------------------------------------------- */

static void test_migrate_dry_run(void **state) {
  harness_t *h = *state;
  char old[400];
  snprintf(old, sizeof old, "%s/old.db", h->dir);
  /* A store of schema 2 (keten 0.1) with one unsigned participant and an
   * audit entry, as tests/unit/test_migrate.c makes them. */
  char err[256];
  store_t *s = store_open_schema(old, 2, err, sizeof err);
  if (!s)
    fail_msg("%s", err);
  audit_entry_t e;
  audit_entry_local(&e, "keten.test.old", "ketend", "written at schema 2");
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_audit_append(s, &e), 0);
  assert_int_equal(store_commit(s), 0);
  store_close(&s);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "INSERT INTO participant VALUES ('coa', 2, 'COA', "
                   "randomblob(32), randomblob(32), randomblob(32), 1000)",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  size_t n0 = 0, n1 = 0;
  uint8_t *before = s_slurp(old, &n0);

  char *out = NULL;
  assert_int_equal(s_cli(h, &out, "admin", "migrate", "--dry-run", "--store",
                         old, "--tmpdir", h->dir, NULL),
                   0);
  assert_non_null(strstr(out, "is at schema 2"));
  assert_non_null(strstr(out, "migration 3 (schema 2 -> 3)"));
  assert_non_null(strstr(out, "migration 6 (schema 5 -> 6)"));
  assert_non_null(strstr(out, "table registry_entry: created (1 rows)"));
  assert_non_null(strstr(out, "table participant: dropped (had 1 rows)"));
  assert_non_null(strstr(out, "4 migration(s) would run"));
  free(out);
  /* the store is byte-identical, still at schema 2; the copy is gone */
  uint8_t *after = s_slurp(old, &n1);
  assert_int_equal(n0, n1);
  assert_memory_equal(before, after, n0);
  free(after);
  assert_int_equal(s_num(old, "PRAGMA user_version"), 2);
  char pattern[420];
  snprintf(pattern, sizeof pattern,
           "ls -d %s/keten-migrate-* >/dev/null 2>&1", h->dir);
  assert_int_not_equal(system(pattern), 0);

  /* the real run does what the dry run said */
  out = NULL;
  assert_int_equal(s_cli(h, &out, "admin", "migrate", "--store", old, NULL),
                   0);
  assert_non_null(strstr(out, "ran 4 migration(s), schema 2 -> 6"));
  assert_non_null(strstr(out, "table registry_entry: created (1 rows)"));
  free(out);
  assert_int_equal(s_num(old, "PRAGMA user_version"), store_schema_latest());
  assert_int_equal(s_num(old, "SELECT count(*) FROM registry_entry"), 1);
  out = NULL;
  assert_int_equal(s_cli(h, &out, "admin", "migrate", "--dry-run", "--store",
                         old, NULL),
                   0);
  assert_non_null(strstr(out, "no migration would run"));
  free(out);
  /* the migrated log verifies */
  assert_int_equal(s_cli(h, NULL, "audit", "verify", "--store", old, NULL), 0);
  free(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_config_finds_the_store, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_backup_while_serving, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_rotate_with_overlap, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_migrate_dry_run, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
