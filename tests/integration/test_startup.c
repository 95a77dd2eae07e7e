/* ketend fails closed at start-up: no key, an empty registry, or a setting
 * it does not understand stops it with a clear message and exit status 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store.h"

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

static void test_missing_key_file_stops_it(void **state) {
  harness_t *h = *state;
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file",
                        "/nonexistent/broker.key", "--root-key", h->root_file,
                        "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "cannot load the broker's secret key"), 1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
}

static void test_public_key_file_is_not_enough(void **state) {
  harness_t *h = *state;
  char pub[400];
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, pub, 0), KETEN_OK);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", pub,
                        "--root-key", h->root_file, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "holds no secret keys"), 1);
}

static void test_empty_registry_stops_it(void **state) {
  harness_t *h = *state;
  char empty[400];
  snprintf(empty, sizeof empty, "%s/empty.db", h->dir);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", empty, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "participant registry"), 1);
  assert_int_equal(harness_log_count(h, "is empty"), 1);
}

static void test_unknown_setting_stops_it(void **state) {
  harness_t *h = *state;
  char conf[400];
  snprintf(conf, sizeof conf, "%s/ketend.conf", h->dir);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "# test\nendpoint = %s\nkey_file = %s\nstore = %s\n"
             "curve = off\nroot_key = %s\n", h->endpoint, h->key_file, h->store,
          h->root_file);
  fclose(f);
  const char *argv[] = {"--config", conf, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "ketend.conf:5: unknown setting 'curve'"), 1);
}

static void test_world_readable_secret_key_stops_it(void **state) {
  harness_t *h = *state;
  assert_int_equal(chmod(h->key_file, 0644), 0);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "readable by others"), 1);
}

static void test_check_config_accepts_a_good_config(void **state) {
  harness_t *h = *state;
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", h->store,
                        "--check-config", NULL};
  assert_int_equal(harness_run_ketend(h, argv), 0);
}

/* No chain root key configured: there is nothing to check entries with. */
static void test_no_root_key_stops_it(void **state) {
  harness_t *h = *state;
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "no root_key configured"), 1);
  const char *argv2[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                         "--root-key", "/nonexistent/root.pub", "--store",
                         h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv2), 2);
  assert_int_equal(harness_log_count(h, "cannot load the chain root key"), 1);
  /* the root's secret file does not belong on the broker host */
  char secret[400];
  snprintf(secret, sizeof secret, "%s/root.key", h->dir);
  assert_int_equal(keten_root_key_save(&h->root, secret, NULL, 0), KETEN_OK);
  const char *argv3[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                         "--root-key", secret, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv3), 2);
  assert_int_equal(harness_log_count(h, "holds the chain root's SECRET key"),
                   1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
}

/* A registry entry the root did not sign stops ketend at start-up. */
static void test_entry_of_another_root_stops_it(void **state) {
  harness_t *h = *state;
  keten_root_key_t other;
  keten_keys_t keys;
  assert_int_equal(keten_root_key_generate(&other), KETEN_OK);
  assert_int_equal(keten_keys_generate(&keys, "ggd:zeeland"), KETEN_OK);
  int64_t now = (int64_t)time(NULL) * 1000;
  assert_int_equal(harness_install_entry(h, "ggd:zeeland", 4, &keys, now,
                                         now + 86400000, &other),
                   0);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "does not verify with the chain root"),
                   1);
  assert_int_equal(harness_log_count(h, "ggd:zeeland"), 1);
  /* ... and so does pointing it at another chain's root key */
  char other_pub[400];
  snprintf(other_pub, sizeof other_pub, "%s/other-root.pub", h->dir);
  assert_int_equal(keten_root_key_save(&other, NULL, other_pub, 0), KETEN_OK);
  const char *argv2[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                         "--root-key", other_pub, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv2), 2);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
  keten_root_key_wipe(&other);
  keten_keys_wipe(&keys);
}

/* An operator who edits an installed entry (here: makes a volunteer an
 * OPERATOR) breaks the root signature: ketend will not start on it. */
static void test_edited_entry_stops_it(void **state) {
  harness_t *h = *state;
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(h->store, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE registry_entry SET role = 6 WHERE id "
                                "= 'vwn:zeeland'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  assert_int_equal(harness_log_count(h, "vwn:zeeland"), 1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
}

/* The store is private to ketend's user: a store (or -wal) its group or
 * others may read stops ketend, naming the file and the chmod; so does a
 * store path that is a symbolic link (issue 8, item 6). */
static void test_store_others_may_read_stops_it(void **state) {
  harness_t *h = *state;
  struct stat st;
  assert_int_equal(stat(h->store, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600); /* made so by store_open */
  assert_int_equal(chmod(h->store, 0644), 0);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", h->store, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  char expect[400];
  snprintf(expect, sizeof expect, "the store file %s has mode 0644", h->store);
  assert_int_equal(harness_log_count(h, expect), 1);
  snprintf(expect, sizeof expect, "run `chmod 600 %s", h->store);
  assert_int_equal(harness_log_count(h, expect), 1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
  /* a -wal left readable (e.g. by a copy made under umask 022) */
  assert_int_equal(chmod(h->store, 0600), 0);
  char wal[400];
  snprintf(wal, sizeof wal, "%s-wal", h->store);
  FILE *f = fopen(wal, "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(chmod(wal, 0640), 0);
  assert_int_equal(harness_run_ketend(h, argv), 2);
  snprintf(expect, sizeof expect, "the store file %s has mode 0640", wal);
  assert_int_equal(harness_log_count(h, expect), 1);
  assert_int_equal(unlink(wal), 0);
  /* fixed as told, it starts */
  assert_int_equal(harness_start(h), 0);
  assert_int_equal(harness_stop(h), 0);
}

static void test_symlinked_store_stops_it(void **state) {
  harness_t *h = *state;
  char link[400];
  snprintf(link, sizeof link, "%s/link.db", h->dir);
  assert_int_equal(symlink(h->store, link), 0);
  const char *argv[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                        "--root-key", h->root_file, "--store", link, NULL};
  assert_int_equal(harness_run_ketend(h, argv), 2);
  char expect[500];
  snprintf(expect, sizeof expect, "the store file %s is a symbolic link",
           link);
  assert_int_equal(harness_log_count(h, expect), 1);
  assert_int_equal(harness_log_count(h, "broker: ready"), 0);
  /* and `keten admin` will not open it either */
  const char *list[] = {"admin", "participant", "list", "--store", link, NULL};
  assert_int_equal(harness_run_cli(h, list, NULL), 4);
  assert_int_equal(harness_log_count(h, expect), 2);
  /* a dangling one: `keten admin participant add` creates nothing there */
  char target[400], dangling[400];
  snprintf(target, sizeof target, "%s/nowhere.db", h->dir);
  snprintf(dangling, sizeof dangling, "%s/dangling.db", h->dir);
  assert_int_equal(symlink(target, dangling), 0);
  const char *argv2[] = {"--endpoint", h->endpoint, "--key-file", h->key_file,
                         "--root-key", h->root_file, "--store", dangling,
                         NULL};
  assert_int_equal(harness_run_ketend(h, argv2), 2);
  assert_int_equal(access(target, F_OK), -1);
}

/* The keten command never writes a key or entry file through a symbolic
 * link, --force or not: it says so and leaves the link's target alone. */
static void test_keygen_refuses_a_symlink(void **state) {
  harness_t *h = *state;
  char dir[400], target[400], link[400], pub[400];
  snprintf(dir, sizeof dir, "%s/keys", h->dir);
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(target, sizeof target, "%s/victim", h->dir);
  FILE *f = fopen(target, "w");
  assert_non_null(f);
  fputs("precious\n", f);
  fclose(f);
  snprintf(link, sizeof link, "%s/coa.key", dir);
  assert_int_equal(symlink(target, link), 0);
  const char *keygen[] = {"keygen", "--id", "coa", "--out", dir, NULL};
  const char *forced[] = {"keygen", "--id", "coa", "--out", dir, "--force",
                          NULL};
  char expect[500];
  snprintf(expect, sizeof expect,
           "keten keygen: refused: %s is a symbolic link", link);
  assert_int_equal(harness_run_cli(h, keygen, NULL), 4);
  assert_int_equal(harness_log_count(h, expect), 1);
  assert_int_equal(harness_run_cli(h, forced, NULL), 4);
  assert_int_equal(harness_log_count(h, expect), 2);
  /* a dangling link to a file that does not exist yet */
  char absent[400];
  snprintf(absent, sizeof absent, "%s/absent", h->dir);
  assert_int_equal(unlink(link), 0);
  assert_int_equal(symlink(absent, link), 0);
  assert_int_equal(harness_run_cli(h, keygen, NULL), 4);
  assert_int_equal(access(absent, F_OK), -1);
  /* the public file too */
  assert_int_equal(unlink(link), 0);
  snprintf(pub, sizeof pub, "%s/coa.pub", dir);
  assert_int_equal(symlink(target, pub), 0);
  assert_int_equal(harness_run_cli(h, forced, NULL), 4);
  snprintf(expect, sizeof expect,
           "keten keygen: refused: %s is a symbolic link", pub);
  assert_int_equal(harness_log_count(h, expect), 1);
  assert_int_equal(access(link, F_OK), -1); /* nothing half-written */
  char buf[32] = "";
  f = fopen(target, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "precious\n");
  /* root keys, chain keys and entry files likewise */
  snprintf(link, sizeof link, "%s/root.key", dir);
  assert_int_equal(symlink(target, link), 0);
  const char *root[] = {"root", "keygen", "--out", dir, "--force", NULL};
  assert_int_equal(harness_run_cli(h, root, NULL), 4);
  snprintf(link, sizeof link, "%s/chain.key", dir);
  assert_int_equal(symlink(target, link), 0);
  const char *chain[] = {"chainkey", "--out", link, "--force", NULL};
  assert_int_equal(harness_run_cli(h, chain, NULL), 4);
  snprintf(link, sizeof link, "%s/coa.entry", dir);
  assert_int_equal(symlink(target, link), 0);
  const char *export[] = {"admin", "participant", "export", "--store",
                          h->store, "--id", "coa", "--out", link, NULL};
  assert_int_equal(harness_run_cli(h, export, NULL), 4);
  snprintf(expect, sizeof expect, "refused: %s is a symbolic link", link);
  assert_int_equal(harness_log_count(h, expect), 1);
  f = fopen(target, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "precious\n");
  /* without a link, keygen writes as before */
  snprintf(link, sizeof link, "%s/coa.pub", dir);
  assert_int_equal(unlink(link), 0);
  assert_int_equal(harness_run_cli(h, keygen, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_missing_key_file_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_public_key_file_is_not_enough, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_empty_registry_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_unknown_setting_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_world_readable_secret_key_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_check_config_accepts_a_good_config, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_no_root_key_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_entry_of_another_root_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_edited_entry_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_store_others_may_read_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_symlinked_store_stops_it, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_keygen_refuses_a_symlink, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
