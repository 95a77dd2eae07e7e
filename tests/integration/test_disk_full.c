/* A full disk (issue 8, item 3), for real: the store lives on a small
 * tmpfs mounted in a private mount namespace of this test (root, or an
 * unprivileged user namespace where the kernel allows one; the test is
 * skipped where neither works), and a filler file takes the rest of it.
 * While it is full: PING and a read that writes nothing (CONSENT_LIST) are
 * answered; a PUT gets ERROR_DISK_FULL with retry_after_ms; the log holds a
 * bounded number of "commit failed" lines. Once the filler is gone the
 * next PUT is stored, what was acknowledged before is all there, and the
 * audit chain verifies. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ERROR_DISK_FULL 17
#define TMPFS_BYTES (8 * 1024 * 1024)

static int s_namespace_ok;
static char s_why[256];

static int s_write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A private mount namespace for this process and its children (ketend):
 * as root directly, else inside a new user namespace mapping us to root.
 * Must run before any thread exists. */
static void s_enter_namespace(void) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWNS) != 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      snprintf(s_why, sizeof s_why, "no mount namespace: %s", strerror(errno));
      return;
    }
    char map[64];
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    s_write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    if (s_write_file("/proc/self/uid_map", map) != 0) {
      snprintf(s_why, sizeof s_why, "cannot map uid: %s", strerror(errno));
      return;
    }
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    s_write_file("/proc/self/gid_map", map);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    snprintf(s_why, sizeof s_why, "cannot make / private: %s", strerror(errno));
    return;
  }
  s_namespace_ok = 1;
}

typedef struct {
  harness_t *h;
  char mnt[320], filler[340];
} fix_t;

static int s_copy(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0)
    return errno == ENOENT ? 0 : -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char buf[65536];
  ssize_t n;
  int rc = out < 0 ? -1 : 0;
  while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n)
      rc = -1;
  close(in);
  if (out >= 0)
    close(out);
  return rc;
}

static int s_setup(void **state) {
  if (!s_namespace_ok)
    return 0;
  fix_t *f = calloc(1, sizeof *f);
  f->h = harness_new(0);
  if (!f->h)
    return -1;
  snprintf(f->mnt, sizeof f->mnt, "%s/small", f->h->dir);
  snprintf(f->filler, sizeof f->filler, "%s/filler", f->mnt);
  char opts[64];
  snprintf(opts, sizeof opts, "size=%d,mode=0700", TMPFS_BYTES);
  if (mkdir(f->mnt, 0700) != 0 ||
      mount("tmpfs", f->mnt, "tmpfs", 0, opts) != 0) {
    print_message("# cannot mount a tmpfs: %s\n", strerror(errno));
    return -1;
  }
  /* the store moves onto the small file system */
  char to[400], from[400];
  const char *suffix[] = {"", "-wal"};
  for (int i = 0; i < 2; i++) {
    snprintf(from, sizeof from, "%s%s", f->h->store, suffix[i]);
    snprintf(to, sizeof to, "%s/keten.db%s", f->mnt, suffix[i]);
    if (s_copy(from, to) != 0)
      return -1;
  }
  snprintf(f->h->store, sizeof f->h->store, "%s/keten.db", f->mnt);
  if (harness_start(f->h) != 0)
    return -1;
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  if (!s_namespace_ok)
    return 0;
  fix_t *f = *state;
  harness_stop(f->h);
  umount2(f->mnt, MNT_DETACH);
  harness_destroy(&f->h);
  free(f);
  return 0;
}

/* Fills the file system with a filler file until write() says ENOSPC. */
static void s_fill(fix_t *f) {
  int fd = open(f->filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  static char block[65536];
  memset(block, 0x5a, sizeof block);
  size_t chunk = sizeof block;
  while (chunk >= 512) {
    ssize_t n = write(fd, block, chunk);
    if (n < 0) {
      assert_int_equal(errno, ENOSPC);
      chunk /= 2;
    }
  }
  close(fd);
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_disk_full(void **state) {
  if (!s_namespace_ok) {
    print_message("# skipped: %s\n", s_why);
    skip();
  }
  fix_t *f = *state;
  harness_t *h = f->h;
  const int STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa =
      harness_client(h, &harness_partner(h, "coa")->keys, 3000, 0);
  assert_non_null(coa);
  uint8_t subject[32];
  memset(subject, 0x42, sizeof subject);
  keten_put_result_t res;
  const char *v1 = "{\"text\": \"voor de volle schijf\", \"language\": \"nl\"}";
  assert_int_equal(keten_client_put(coa, subject, STORY, v1, strlen(v1), &res),
                   KETEN_OK);
  uint64_t acked_version = res.version;

  s_fill(f);
  int lines_before = harness_log_count(h, "commit failed");
  /* writes are refused with their own code, reads without a write and
   * PINGs are answered, for a few seconds of tries */
  int64_t t0 = s_now_ms();
  int full = 0, pings = 0, lists = 0, tries = 0;
  while (s_now_ms() - t0 < 3000) {
    const char *v = "{\"text\": \"op de volle schijf\", \"language\": \"nl\"}";
    keten_err_t rc = keten_client_put(coa, subject, STORY, v, strlen(v), &res);
    tries++;
    if (rc == KETEN_ERR_REMOTE &&
        keten_client_remote_code(coa) == ERROR_DISK_FULL) {
      full++;
      assert_non_null(strstr(keten_client_error(coa), "disk is full"));
    } else {
      fail_msg("PUT on a full disk: %s: %s (code %d)", keten_strerror(rc),
               keten_client_error(coa), keten_client_remote_code(coa));
    }
    if (keten_client_ping(coa, "x", 1, NULL) == KETEN_OK)
      pings++;
    keten_consent_t *list = NULL;
    size_t n = 0;
    if (keten_client_consent_list(coa, subject, &list, &n) == KETEN_OK)
      lists++;
    free(list);
  }
  int lines = harness_log_count(h, "commit failed") - lines_before;
  print_message("# full disk: %d PUTs refused with ERROR_DISK_FULL, %d PINGs "
                "and %d CONSENT_LISTs answered, %d \"commit failed\" lines "
                "in 3 s\n",
                full, pings, lists, lines);
  assert_int_equal(full, tries);
  assert_int_equal(pings, tries);
  assert_int_equal(lists, tries);
  assert_true(tries >= 5);
  assert_true(lines >= 1 && lines <= 2);
  assert_int_equal(harness_log_count(h, "commit failed: disk full"), lines);

  /* space comes back: the next write is stored */
  assert_int_equal(unlink(f->filler), 0);
  const char *v2 = "{\"text\": \"na de volle schijf\", \"language\": \"nl\"}";
  assert_int_equal(keten_client_put(coa, subject, STORY, v2, strlen(v2), &res),
                   KETEN_OK);
  assert_true(res.version > acked_version);
  assert_int_equal(harness_wait_log(h, "the disk has room again", 1, 3000), 0);
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(coa, subject, &secs, &n), KETEN_OK);
  assert_int_equal(n, 1);
  keten_sections_free(secs, n);
  keten_client_destroy(&coa);

  /* nothing acknowledged was lost, and the chain is whole */
  assert_int_equal(harness_stop(h), 0);
  char *out = NULL;
  assert_int_equal(harness_audit_verify(h, &out), 0);
  free(out);
  assert_int_equal(harness_start(h), 0);
  coa = harness_client(h, &harness_partner(h, "coa")->keys, 3000, 0);
  assert_int_equal(keten_client_fetch(coa, subject, &secs, &n), KETEN_OK);
  assert_int_equal(n, 1);
  assert_int_equal(secs[0].header.version, res.version);
  assert_non_null(strstr(secs[0].json, "na de volle schijf"));
  keten_sections_free(secs, n);
  keten_client_destroy(&coa);
}

int main(void) {
  s_enter_namespace();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_disk_full, s_setup, s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
