/* Unit tests of store_file: a store is created 0600 (and so are the -wal
 * and -shm files SQLite makes beside it, whatever the umask), is never
 * opened through a symbolic link, and ketend's check refuses a store, -wal
 * or -shm that its group or others may read or write (issue 8, item 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "store_file.h"

typedef struct {
  char dir[64];
  char path[128];
  mode_t umask_before;
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-store-file-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/keten.db", f->dir);
  /* The permissive umask of an interactive shell: what is private must be
   * private because the code says so, not because of the umask. */
  f->umask_before = umask(022);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", f->dir);
  umask(f->umask_before);
  free(f);
  return 0;
}

static mode_t s_mode(const char *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  return st.st_mode & 07777;
}

static void s_touch(const char *path, mode_t mode) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(chmod(path, mode), 0);
}

static void test_new_store_and_its_wal_and_shm_are_0600(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(store_file_prepare(f->path, err, sizeof err), 0);
  assert_int_equal(s_mode(f->path), 0600);
  unlink(f->path);
  /* through store_open, as ketend and `keten admin` make it */
  store_t *s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(s_mode(f->path), 0600);
  /* the migrations wrote: SQLite holds the -wal and -shm open now, and
   * gave them the database file's mode (not 0644 from the umask) */
  char wal[160], shm[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(shm, sizeof shm, "%s-shm", f->path);
  assert_int_equal(s_mode(wal), 0600);
  assert_int_equal(s_mode(shm), 0600);
  assert_int_equal(store_begin(s), 0);
  assert_int_equal(store_commit(s), 0);
  assert_int_equal(s_mode(wal), 0600);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
  store_close(&s);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
}

static void test_existing_store_mode_is_left_alone(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "";
  s_touch(f->path, 0640);
  assert_int_equal(store_file_prepare(f->path, err, sizeof err), 0);
  assert_int_equal(s_mode(f->path), 0640); /* not silently "fixed"... */
  /* ... but ketend refuses it */
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
}

static void test_readable_by_others_is_refused_with_the_fix(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "", expect[400];
  s_touch(f->path, 0644);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_non_null(strstr(err, f->path));
  assert_non_null(strstr(err, "mode 0644"));
  snprintf(expect, sizeof expect, "chmod 600 %s`", f->path);
  assert_non_null(strstr(err, expect));
  /* group-only bits count too: readable, or only writable */
  assert_int_equal(chmod(f->path, 0640), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_int_equal(chmod(f->path, 0620), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_int_equal(chmod(f->path, 0604), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_int_equal(chmod(f->path, 0600), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
  assert_int_equal(chmod(f->path, 0400), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
  /* a -wal others may read holds recent commits: refused, naming it, and
   * the chmod names every file there is */
  assert_int_equal(chmod(f->path, 0600), 0);
  char wal[160], shm[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(shm, sizeof shm, "%s-shm", f->path);
  s_touch(wal, 0644);
  s_touch(shm, 0600);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  snprintf(expect, sizeof expect, "the store file %s has mode 0644", wal);
  assert_non_null(strstr(err, expect));
  snprintf(expect, sizeof expect, "chmod 600 %s %s %s`", f->path, wal, shm);
  assert_non_null(strstr(err, expect));
  assert_int_equal(chmod(wal, 0600), 0);
  assert_int_equal(chmod(shm, 0644), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_int_equal(chmod(shm, 0600), 0);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
}

static void test_missing_store_passes_the_check(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "";
  /* ketend creates it 0600 in store_open */
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), 0);
  assert_int_equal(access(f->path, F_OK), -1);
}

static void test_symlinks_are_refused(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "", target[160];
  snprintf(target, sizeof target, "%s/elsewhere.db", f->dir);
  /* dangling: nothing is created at the target */
  assert_int_equal(symlink(target, f->path), 0);
  assert_int_equal(store_file_prepare(f->path, err, sizeof err), -1);
  assert_non_null(strstr(err, "symbolic link"));
  assert_non_null(strstr(err, f->path));
  assert_int_equal(access(target, F_OK), -1);
  assert_null(store_open(f->path, err, sizeof err));
  assert_non_null(strstr(err, "symbolic link"));
  assert_int_equal(access(target, F_OK), -1);
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_non_null(strstr(err, "symbolic link"));
  /* to a private, valid store: still refused */
  store_t *s = store_open(target, err, sizeof err);
  assert_non_null(s);
  store_close(&s);
  assert_int_equal(s_mode(target), 0600);
  assert_null(store_open(f->path, err, sizeof err));
  assert_non_null(strstr(err, "symbolic link"));
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  /* a symlinked -wal or -shm beside a real store */
  assert_int_equal(unlink(f->path), 0);
  assert_int_equal(rename(target, f->path), 0);
  char wal[160], shm[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(shm, sizeof shm, "%s-shm", f->path);
  assert_int_equal(symlink(target, wal), 0);
  assert_null(store_open(f->path, err, sizeof err));
  assert_non_null(strstr(err, wal));
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
  assert_non_null(strstr(err, wal));
  assert_int_equal(unlink(wal), 0);
  assert_int_equal(symlink(target, shm), 0);
  assert_null(store_open(f->path, err, sizeof err));
  assert_non_null(strstr(err, shm));
  assert_int_equal(unlink(shm), 0);
  s = store_open(f->path, err, sizeof err);
  assert_non_null(s);
  store_close(&s);
}

static void test_not_a_regular_file_is_refused(void **state) {
  s_fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(mkdir(f->path, 0700), 0);
  assert_int_equal(store_file_prepare(f->path, err, sizeof err), -1);
  assert_non_null(strstr(err, "not a regular file"));
  assert_int_equal(store_file_check_private(f->path, err, sizeof err), -1);
}

static void test_sqlite_special_names_are_skipped(void **state) {
  (void)state;
  char err[64] = "";
  assert_int_equal(store_file_prepare(":memory:", err, sizeof err), 0);
  assert_int_equal(store_file_check_private(":memory:", err, sizeof err), 0);
  assert_int_equal(access(":memory:", F_OK), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
      T(test_new_store_and_its_wal_and_shm_are_0600),
      T(test_existing_store_mode_is_left_alone),
      T(test_readable_by_others_is_refused_with_the_fix),
      T(test_missing_store_passes_the_check),
      T(test_symlinks_are_refused),
      T(test_not_a_regular_file_is_refused),
      T(test_sqlite_special_names_are_skipped),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
