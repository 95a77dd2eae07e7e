/* Unit tests of the in-memory registry: lookups by transport key, id and
 * signing key at a given time; rotation (two entries of one id); expiry;
 * replacement; and loading from a store against the chain root key:
 * strict (start-up) refuses any entry that does not verify, a reload
 * leaves such entries out. */
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

#include "canon.h"
#include "registry.h"

#define NOW INT64_C(1780000000000)
#define DAY INT64_C(86400000)

static participant_t s_make(const char *id, uint8_t key_byte, int64_t from,
                            int64_t until) {
  participant_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.id, sizeof p.id, "%s", id);
  snprintf(p.display_name, sizeof p.display_name, "%s", id);
  p.role = 1;
  memset(p.transport_pk, key_byte, sizeof p.transport_pk);
  memset(p.signing_pk, key_byte ^ 0x40, sizeof p.signing_pk);
  memset(p.sealing_pk, key_byte ^ 0x80, sizeof p.sealing_pk);
  p.valid_from_ms = from;
  p.valid_until_ms = until;
  return p;
}

static void test_lookup(void **state) {
  (void)state;
  registry_t *r = registry_new();
  participant_t list[50];
  char id[32];
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "gemeente:%04d", 50 - i);
    list[i] = s_make(id, (uint8_t)(i * 5 + 1), NOW - DAY, NOW + DAY);
  }
  assert_int_equal(registry_set(r, list, 50), 0);
  assert_int_equal(registry_count(r), 50);
  assert_int_equal(registry_count_valid(r, NOW), 50);
  for (int i = 0; i < 50; i++) {
    const participant_t *p =
        registry_find_transport(r, list[i].transport_pk, NOW);
    assert_non_null(p);
    assert_string_equal(p->id, list[i].id);
    p = registry_find_id(r, list[i].id, NOW);
    assert_non_null(p);
    assert_memory_equal(p->transport_pk, list[i].transport_pk, 32);
    assert_ptr_equal(registry_find_signing(r, list[i].id, list[i].signing_pk,
                                           NOW),
                     p);
  }
  uint8_t unknown[32];
  memset(unknown, 0xEE, sizeof unknown);
  assert_null(registry_find_transport(r, unknown, NOW));
  assert_null(registry_find_id(r, "gemeente:9999", NOW));
  assert_null(registry_find_signing(r, "gemeente:0001", unknown, NOW));
  char longid[100];
  memset(longid, 'g', sizeof longid - 1);
  longid[99] = '\0';
  assert_null(registry_find_id(r, longid, NOW));
  registry_destroy(&r);
  assert_null(r);
  registry_destroy(&r); /* harmless */
}

static void test_validity_window(void **state) {
  (void)state;
  registry_t *r = registry_new();
  participant_t p = s_make("coa", 7, NOW, NOW + DAY);
  assert_int_equal(registry_set(r, &p, 1), 0);
  /* valid_from inclusive, valid_until exclusive */
  assert_null(registry_find_transport(r, p.transport_pk, NOW - 1));
  assert_non_null(registry_find_transport(r, p.transport_pk, NOW));
  assert_non_null(registry_find_transport(r, p.transport_pk, NOW + DAY - 1));
  assert_null(registry_find_transport(r, p.transport_pk, NOW + DAY));
  assert_null(registry_find_id(r, "coa", NOW + DAY));
  assert_int_equal(registry_count_valid(r, NOW + DAY), 0);
  /* an expired entry stays known for what it signed */
  assert_non_null(registry_find_signing(r, "coa", p.signing_pk, NOW + 2 * DAY));
  registry_destroy(&r);
}

static void test_rotation(void **state) {
  (void)state;
  registry_t *r = registry_new();
  /* old keys until NOW + 10 days; new keys from NOW (an overlap of 10 days) */
  participant_t list[2] = {s_make("gemeente:0716", 1, NOW - 100 * DAY,
                                  NOW + 10 * DAY),
                           s_make("gemeente:0716", 2, NOW, NOW + 700 * DAY)};
  assert_int_equal(registry_set(r, list, 2), 0);
  /* during the overlap both transport keys are admitted ... */
  const participant_t *old = registry_find_transport(r, list[0].transport_pk,
                                                     NOW + DAY);
  const participant_t *neu = registry_find_transport(r, list[1].transport_pk,
                                                     NOW + DAY);
  assert_non_null(old);
  assert_non_null(neu);
  assert_memory_equal(old->signing_pk, list[0].signing_pk, 32);
  /* ... and authors seal to the newest */
  assert_ptr_equal(registry_find_id(r, "gemeente:0716", NOW + DAY), neu);
  /* before the new one starts, the old is the primary */
  assert_memory_equal(
      registry_find_id(r, "gemeente:0716", NOW - 1)->transport_pk,
      list[0].transport_pk, 32);
  /* after the overlap only the new key is admitted, the old one stays known */
  assert_null(registry_find_transport(r, list[0].transport_pk, NOW + 11 * DAY));
  assert_non_null(
      registry_find_transport(r, list[1].transport_pk, NOW + 11 * DAY));
  const participant_t *signer = registry_find_signing(
      r, "gemeente:0716", list[0].signing_pk, NOW - 50 * DAY);
  assert_non_null(signer);
  assert_memory_equal(signer->signing_pk, list[0].signing_pk, 32);
  registry_destroy(&r);
}

static void test_replace(void **state) {
  (void)state;
  registry_t *r = registry_new();
  participant_t a = s_make("coa", 1, 0, NOW * 2),
                b = s_make("tvs", 2, 0, NOW * 2);
  assert_int_equal(registry_set(r, &a, 1), 0);
  assert_non_null(registry_find_id(r, "coa", NOW));
  assert_int_equal(registry_set(r, &b, 1), 0);
  assert_null(registry_find_id(r, "coa", NOW));
  assert_null(registry_find_transport(r, a.transport_pk, NOW));
  assert_non_null(registry_find_transport(r, b.transport_pk, NOW));
  assert_int_equal(registry_set(r, NULL, 0), 0);
  assert_int_equal(registry_count(r), 0);
  assert_null(registry_find_id(r, "tvs", NOW));
  registry_destroy(&r);
}

/* Signs p with the root secret sk. */
static void s_sign(participant_t *p, const uint8_t sk[64]) {
  assert_int_equal(participant_sign(p, sk), 0);
}

static void test_load_checks_root(void **state) {
  (void)state;
  char path[] = "/tmp/keten-registry-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  unlink(path);
  uint8_t root_pk[32], root_sk[64], other_pk[32], other_sk[64];
  crypto_sign_keypair(root_pk, root_sk);
  crypto_sign_keypair(other_pk, other_sk);
  char err[256];
  store_t *s = store_open(path, err, sizeof err);
  assert_non_null(s);
  participant_t good = s_make("coa", 1, NOW - DAY, NOW * 2);
  s_sign(&good, root_sk);
  assert_int_equal(store_entry_add(s, &good, err, sizeof err), 0);
  /* the same entry twice: already installed */
  assert_int_equal(store_entry_add(s, &good, err, sizeof err), 1);
  /* another id with the same transport key is refused */
  participant_t thief = s_make("vwn:x", 1, NOW - DAY, NOW * 2);
  s_sign(&thief, root_sk);
  assert_int_equal(store_entry_add(s, &thief, err, sizeof err), -1);
  assert_non_null(strstr(err, "already registered"));

  registry_t *r = registry_new();
  assert_int_equal(registry_load(r, s, root_pk, 1, NULL, err, sizeof err), 0);
  assert_int_equal(registry_count(r), 1);
  /* the wrong root: nothing verifies */
  assert_int_equal(registry_load(r, s, other_pk, 1, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "does not verify"));
  assert_int_equal(registry_count(r), 1); /* the old table stays */

  /* an entry signed by another root */
  participant_t forged = s_make("gemeente:0716", 2, NOW - DAY, NOW * 2);
  s_sign(&forged, other_sk);
  assert_int_equal(store_entry_add(s, &forged, err, sizeof err), 0);
  size_t refused = 0;
  assert_int_equal(registry_load(r, s, root_pk, 1, &refused, err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "gemeente:0716"));
  assert_int_equal(registry_load(r, s, root_pk, 0, &refused, err, sizeof err),
                   0);
  assert_int_equal(refused, 1);
  assert_int_equal(registry_count(r), 1);
  assert_null(registry_find_id(r, "gemeente:0716", NOW));
  store_close(&s);

  /* an operator who edits a signed row (the role) breaks its signature */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE registry_entry SET role = 6 WHERE "
                                "id = 'coa'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  s = store_open(path, err, sizeof err);
  assert_non_null(s);
  assert_int_equal(registry_load(r, s, root_pk, 0, &refused, err, sizeof err),
                   0);
  assert_int_equal(refused, 2);
  assert_int_equal(registry_count(r), 0);
  /* removal: kept, never loaded */
  assert_int_equal(store_entry_remove(s, "coa", err, sizeof err), 1);
  assert_int_equal(store_entry_remove(s, "coa", err, sizeof err), 0);
  store_close(&s);
  registry_destroy(&r);
  unlink(path);
  char side[300];
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_lookup),
                                     cmocka_unit_test(test_validity_window),
                                     cmocka_unit_test(test_rotation),
                                     cmocka_unit_test(test_replace),
                                     cmocka_unit_test(test_load_checks_root)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
