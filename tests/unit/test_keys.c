/* Unit tests of libketen's key pairs and key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keten.h"

typedef struct {
  char dir[64], secret[128], public_[128];
} s_fixture_t;

static int s_setup(void **state) {
  s_fixture_t *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/keten-keys-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->secret, sizeof f->secret, "%s/coa.key", f->dir);
  snprintf(f->public_, sizeof f->public_, "%s/coa.pub", f->dir);
  *state = f;
  return 0;
}

static int s_teardown(void **state) {
  s_fixture_t *f = *state;
  unlink(f->secret);
  unlink(f->public_);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void test_generate_save_load(void **state) {
  s_fixture_t *f = *state;
  keten_keys_t k, back, pub;
  assert_int_equal(keten_keys_generate(&k, "coa"), KETEN_OK);
  assert_int_equal(keten_keys_save(&k, f->secret, f->public_, 0), KETEN_OK);
  struct stat st;
  assert_int_equal(stat(f->secret, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(f->public_, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);

  assert_int_equal(keten_keys_load(f->secret, &back), KETEN_OK);
  assert_true(back.has_secret);
  assert_string_equal(back.id, "coa");
  assert_memory_equal(&back.transport_pk, &k.transport_pk, 32);
  assert_memory_equal(&back.signing_sk, &k.signing_sk, 64);
  assert_memory_equal(&back.sealing_sk, &k.sealing_sk, 32);

  assert_int_equal(keten_keys_load(f->public_, &pub), KETEN_OK);
  assert_false(pub.has_secret);
  assert_memory_equal(pub.sealing_pk, k.sealing_pk, 32);
  uint8_t zero[64] = {0};
  assert_memory_equal(pub.signing_sk, zero, 64);

  /* the public file holds no secret at all */
  FILE *fp = fopen(f->public_, "r");
  char text[2048];
  size_t n = fread(text, 1, sizeof text - 1, fp);
  fclose(fp);
  text[n] = '\0';
  assert_null(strstr(text, "secret"));

  /* no overwrite unless asked */
  assert_int_equal(keten_keys_save(&k, f->secret, NULL, 0), KETEN_ERR_IO);
  assert_int_equal(keten_keys_save(&k, f->secret, NULL, 1), KETEN_OK);
  keten_keys_wipe(&k);
  assert_false(k.has_secret);
  assert_memory_equal(k.signing_sk, zero, 64);
}

static void test_readable_secret_refused(void **state) {
  s_fixture_t *f = *state;
  keten_keys_t k;
  keten_keys_generate(&k, "coa");
  assert_int_equal(keten_keys_save(&k, f->secret, NULL, 0), KETEN_OK);
  assert_int_equal(chmod(f->secret, 0640), 0);
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_PERMISSIONS);
  assert_false(k.has_secret);
}

static void s_write(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  fputs(text, fp);
  fclose(fp);
  chmod(path, 0600);
}

static void test_malformed_files(void **state) {
  s_fixture_t *f = *state;
  keten_keys_t k, other;
  keten_keys_generate(&k, "coa");
  keten_keys_generate(&other, "x");
  assert_int_equal(keten_keys_save(&k, f->secret, NULL, 0), KETEN_OK);
  FILE *fp = fopen(f->secret, "r");
  char good[4096];
  size_t n = fread(good, 1, sizeof good - 1, fp);
  fclose(fp);
  good[n] = '\0';

  char buf[4096];
  /* wrong magic */
  s_write(f->secret, "keten-keys 2\n");
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_FORMAT);
  /* a flipped hex digit in the transport secret no longer matches its public */
  snprintf(buf, sizeof buf, "%s", good);
  char *p = strstr(buf, "transport-secret ") + strlen("transport-secret ");
  *p = *p == 'a' ? 'b' : 'a';
  s_write(f->secret, buf);
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_FORMAT);
  /* a short value */
  snprintf(buf, sizeof buf, "%s", good);
  p = strstr(buf, "sealing-public ") + strlen("sealing-public ");
  memmove(p, p + 2, strlen(p + 2) + 1);
  s_write(f->secret, buf);
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_FORMAT);
  /* an unknown line */
  snprintf(buf, sizeof buf, "%sbackdoor yes\n", good);
  s_write(f->secret, buf);
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_FORMAT);
  /* a duplicated line */
  p = strstr(good, "signing-public");
  snprintf(buf, sizeof buf, "%s%.*s", good, (int)(strchr(p, '\n') - p + 1), p);
  s_write(f->secret, buf);
  assert_int_equal(keten_keys_load(f->secret, &k), KETEN_ERR_FORMAT);
  /* missing file */
  assert_int_equal(keten_keys_load("/nonexistent/k.key", &k), KETEN_ERR_IO);
  keten_keys_wipe(&other);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(keten_role_name(1), "GEMEENTE");
  assert_string_equal(keten_role_name(42), "UNKNOWN");
  assert_int_equal(keten_role_from_name("care"), 4);
  assert_string_equal(keten_error_code_name(3), "ERROR_TOO_LARGE");
  assert_string_equal(keten_strerror(KETEN_ERR_AUTH),
                      "refused by the broker at the handshake");
  assert_non_null(keten_version());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_generate_save_load, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_readable_secret_refused, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_malformed_files, s_setup, s_teardown),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
