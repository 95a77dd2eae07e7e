/* Unit tests of clients/keten/listen_name.c: which network-supplied ids
 * may become part of a file name `keten listen --dir` writes, the names it
 * builds, and that its writes and reads never follow a symlink planted in
 * DIR (nothing outside DIR is written or read). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../clients/keten/listen_name.h"

static void test_ids(void **state) {
  (void)state;
  const char *good[] = {"coa", "gemeente:tholen", "vwz-1", "a", "a:b:c",
                        "ggz-zeeland:team-2"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_int_equal(listen_id_ok(good[i]), 1);
  char max[65], over[66];
  memset(max, 'a', 64);
  max[64] = '\0';
  memset(over, 'a', 65);
  over[65] = '\0';
  assert_int_equal(listen_id_ok(max), 1);
  assert_int_equal(listen_id_ok(over), 0);
  const char *bad[] = {"", "..", ".", "../etc", "a/b", "/abs", "A", "Coa",
                       "1coa", "-a", "a::b", ":a", "a:", "a_b", "a b",
                       "a\nb", "a\x1b[31m", "a\\b", "a.json", "caf\xc3\xa9",
                       "a\xff", "a*", "~a"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(listen_id_ok(bad[i]), 0);
  assert_int_equal(listen_id_ok(NULL), 0);
}

static void test_kinds(void **state) {
  (void)state;
  assert_int_equal(listen_kind_ok("HEALTH"), 1);
  assert_int_equal(listen_kind_ok("KOPPELING"), 1);
  assert_int_equal(listen_kind_ok("A_B2"), 1);
  assert_int_equal(listen_kind_ok(NULL), 0);
  assert_int_equal(listen_kind_ok(""), 0);
  assert_int_equal(listen_kind_ok("health"), 0);
  assert_int_equal(listen_kind_ok("../X"), 0);
  assert_int_equal(listen_kind_ok("X/Y"), 0);
  assert_int_equal(listen_kind_ok("X-Y"), 0);
  assert_int_equal(listen_kind_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0); /* 33 */
}

static void test_names(void **state) {
  (void)state;
  assert_int_equal(listen_name_ok("0123456789abcdef-HEALTH-coa-v3.json"), 1);
  assert_int_equal(listen_name_ok("notice-0123456789abcdef-00ff.json"), 1);
  assert_int_equal(listen_name_ok("quarantine-section-7.json"), 1);
  const char *bad[] = {"", ".", "..", ".x.tmp", "a/b", "../a", "a\nb",
                       "a b", "a:b", "a\\b"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(listen_name_ok(bad[i]), 0);
  assert_int_equal(listen_name_ok(NULL), 0);
  char longname[LISTEN_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(listen_name_ok(longname), 0);
  longname[LISTEN_NAME_MAX] = '\0';
  assert_int_equal(listen_name_ok(longname), 1);
}

static const uint8_t s_subject[8] = {0x01, 0x23, 0x45, 0x67,
                                     0x89, 0xab, 0xcd, 0xef};

static void test_prefix(void **state) {
  (void)state;
  char out[256];
  const char *why = NULL;
  /* Today's format, ':' as '_'. */
  assert_int_equal(listen_section_prefix(out, sizeof out, s_subject, "HEALTH",
                                         "gemeente:tholen", &why), 0);
  assert_string_equal(out, "0123456789abcdef-HEALTH-gemeente_tholen-v");
  assert_int_equal(listen_section_prefix(out, sizeof out, s_subject,
                                         "IDENTITY", "coa", &why), 0);
  assert_string_equal(out, "0123456789abcdef-IDENTITY-coa-v");
  assert_int_equal(listen_name_ok(out), 1);
  /* Every mapped id stays within the name rule. */
  const char *bad_authors[] = {"../../etc/passwd", "a/b", "..", "", "A",
                               "a\nb", "a\x1b]0;x\a", "a_b", "a::b"};
  for (size_t i = 0; i < sizeof bad_authors / sizeof *bad_authors; i++) {
    why = NULL;
    strcpy(out, "untouched");
    assert_int_equal(listen_section_prefix(out, sizeof out, s_subject,
                                           "HEALTH", bad_authors[i], &why), -1);
    assert_string_equal(out, "");
    assert_non_null(why);
    assert_non_null(strstr(why, "author"));
  }
  why = NULL;
  assert_int_equal(listen_section_prefix(out, sizeof out, s_subject, NULL,
                                         "coa", &why), -1);
  assert_non_null(strstr(why, "kind"));
  assert_int_equal(listen_section_prefix(out, sizeof out, s_subject, "../H",
                                         "coa", &why), -1);
  /* Too small a buffer: refused, never truncated to a different name. */
  assert_int_equal(listen_section_prefix(out, 20, s_subject, "HEALTH", "coa",
                                         &why), -1);
  assert_string_equal(out, "");
}

/* ---- files ------------------------------------------------------------- */

typedef struct {
  char base[256], dir[300], outside[300];
} s_dirs_t;

static int s_setup(void **state) {
  s_dirs_t *d = calloc(1, sizeof *d);
  const char *t = getenv("TMPDIR");
  snprintf(d->base, sizeof d->base, "%s/keten-listen-XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(d->base))
    return -1;
  snprintf(d->dir, sizeof d->dir, "%s/dir", d->base);
  snprintf(d->outside, sizeof d->outside, "%s/outside", d->base);
  if (mkdir(d->dir, 0700) != 0 || mkdir(d->outside, 0700) != 0)
    return -1;
  *state = d;
  return 0;
}

static void s_rm_all(const char *dir) {
  DIR *dd = opendir(dir);
  struct dirent *de;
  char p[700];
  while (dd && (de = readdir(dd)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  if (dd)
    closedir(dd);
  rmdir(dir);
}

static int s_teardown(void **state) {
  s_dirs_t *d = *state;
  s_rm_all(d->dir);
  s_rm_all(d->outside);
  rmdir(d->base);
  free(d);
  return 0;
}

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *s_read(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int s_count(const char *dir) {
  DIR *dd = opendir(dir);
  struct dirent *de;
  int n = 0;
  while (dd && (de = readdir(dd)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      n++;
  if (dd)
    closedir(dd);
  return n;
}

static void s_link(const char *target, const char *dir, const char *name) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  assert_int_equal(symlink(target, p), 0);
}

/* Symlinks planted at the temporary and the final name, to an existing
 * file outside DIR and to one that does not exist yet: the write lands in
 * DIR as a regular 0600 file, the links are gone, nothing outside changed
 * or appeared. */
static void test_write_planted_links(void **state) {
  s_dirs_t *d = *state;
  char victim[400], victim2[400], fresh[400], fresh2[400], p[700];
  snprintf(victim, sizeof victim, "%s/victim", d->outside);
  snprintf(victim2, sizeof victim2, "%s/victim2", d->outside);
  snprintf(fresh, sizeof fresh, "%s/fresh", d->outside);
  snprintf(fresh2, sizeof fresh2, "%s/fresh2", d->outside);
  s_write(victim, "orig");
  s_write(victim2, "orig2");
  const char *a = "0123456789abcdef-HEALTH-coa-v1.json";
  const char *b = "0123456789abcdef-HEALTH-coa-v2.json";
  s_link(victim, d->dir, ".0123456789abcdef-HEALTH-coa-v1.json.tmp");
  s_link(victim2, d->dir, a);
  s_link(fresh, d->dir, ".0123456789abcdef-HEALTH-coa-v2.json.tmp");
  s_link(fresh2, d->dir, b);

  assert_int_equal(listen_write_durable(d->dir, a, "{\"v\":1}", 7), 0);
  assert_int_equal(listen_write_durable(d->dir, b, "{\"v\":2}", 7), 0);

  assert_string_equal(s_read(victim), "orig");
  assert_string_equal(s_read(victim2), "orig2");
  assert_int_equal(access(fresh, F_OK), -1);
  assert_int_equal(access(fresh2, F_OK), -1);
  assert_int_equal(s_count(d->outside), 2);

  struct stat st;
  snprintf(p, sizeof p, "%s/%s", d->dir, a);
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_string_equal(s_read(p), "{\"v\":1}");
  snprintf(p, sizeof p, "%s/%s", d->dir, b);
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_string_equal(s_read(p), "{\"v\":2}");
  assert_int_equal(s_count(d->dir), 2); /* no temporary left */

  /* Written again over the regular file: replaced. */
  assert_int_equal(listen_write_durable(d->dir, a, "{\"v\":3}", 7), 0);
  snprintf(p, sizeof p, "%s/%s", d->dir, a);
  assert_string_equal(s_read(p), "{\"v\":3}");
}

/* A planted link to a directory outside at the temporary name: O_EXCL and
 * O_NOFOLLOW never create a file through it. */
static void test_write_link_to_dir(void **state) {
  s_dirs_t *d = *state;
  s_link(d->outside, d->dir, ".x.json.tmp");
  assert_int_equal(listen_write_durable(d->dir, "x.json", "{}", 2), 0);
  assert_int_equal(s_count(d->outside), 0);
  char p[700];
  struct stat st;
  snprintf(p, sizeof p, "%s/x.json", d->dir);
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISREG(st.st_mode));
}

/* Names listen would never build are refused before anything is opened. */
static void test_write_bad_names(void **state) {
  s_dirs_t *d = *state;
  const char *bad[] = {"../outside/evil.json", ".hidden", "a/b.json", "..",
                       "", "a\nb"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    assert_int_equal(listen_write_durable(d->dir, bad[i], "x", 1), -1);
    assert_int_equal(errno, EINVAL);
  }
  assert_int_equal(s_count(d->dir), 0);
  assert_int_equal(s_count(d->outside), 0);
}

/* The delete notice's subject check: a link is not followed, a FIFO does
 * not block, a regular file opens, a too-big one is refused. */
static void test_open_regular(void **state) {
  s_dirs_t *d = *state;
  char victim[400], p[700];
  snprintf(victim, sizeof victim, "%s/victim", d->outside);
  s_write(victim, "{\"subject\":\"x\"}");
  s_link(victim, d->dir, "link.json");
  snprintf(p, sizeof p, "%s/link.json", d->dir);
  errno = 0;
  assert_int_equal(listen_open_regular(p, 1 << 20), -1);
  assert_int_equal(errno, ELOOP);

  snprintf(p, sizeof p, "%s/fifo.json", d->dir);
  assert_int_equal(mkfifo(p, 0600), 0);
  errno = 0;
  assert_int_equal(listen_open_regular(p, 1 << 20), -1);
  assert_int_equal(errno, EINVAL);

  snprintf(p, sizeof p, "%s/file.json", d->dir);
  s_write(p, "{\"subject\":\"y\"}");
  int fd = listen_open_regular(p, 1 << 20);
  assert_true(fd >= 0);
  close(fd);
  errno = 0;
  assert_int_equal(listen_open_regular(p, 4), -1);
  assert_int_equal(errno, EFBIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids),
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_prefix),
      cmocka_unit_test_setup_teardown(test_write_planted_links, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_write_link_to_dir, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_write_bad_names, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_open_regular, s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
