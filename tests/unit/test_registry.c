/* Unit tests of the in-memory registry: lookups both ways, replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "registry.h"

static participant_t s_make(const char *id, uint8_t key_byte) {
  participant_t p;
  memset(&p, 0, sizeof p);
  snprintf(p.id, sizeof p.id, "%s", id);
  snprintf(p.display_name, sizeof p.display_name, "%s", id);
  p.role = 1;
  memset(p.transport_pk, key_byte, sizeof p.transport_pk);
  return p;
}

static void test_lookup(void **state) {
  (void)state;
  registry_t *r = registry_new();
  participant_t list[50];
  char id[32];
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "gemeente:%04d", 50 - i);
    list[i] = s_make(id, (uint8_t)(i * 5 + 1));
  }
  assert_int_equal(registry_set(r, list, 50), 0);
  assert_int_equal(registry_count(r), 50);
  for (int i = 0; i < 50; i++) {
    const participant_t *p = registry_find_transport(r, list[i].transport_pk);
    assert_non_null(p);
    assert_string_equal(p->id, list[i].id);
    p = registry_find_id(r, list[i].id);
    assert_non_null(p);
    assert_memory_equal(p->transport_pk, list[i].transport_pk, 32);
  }
  uint8_t unknown[32];
  memset(unknown, 0xEE, sizeof unknown);
  assert_null(registry_find_transport(r, unknown));
  assert_null(registry_find_id(r, "gemeente:9999"));
  char longid[100];
  memset(longid, 'g', sizeof longid - 1);
  longid[99] = '\0';
  assert_null(registry_find_id(r, longid));
  registry_destroy(&r);
  assert_null(r);
  registry_destroy(&r); /* harmless */
}

static void test_replace(void **state) {
  (void)state;
  registry_t *r = registry_new();
  participant_t a = s_make("coa", 1), b = s_make("tvs", 2);
  assert_int_equal(registry_set(r, &a, 1), 0);
  assert_non_null(registry_find_id(r, "coa"));
  assert_int_equal(registry_set(r, &b, 1), 0);
  assert_null(registry_find_id(r, "coa"));
  assert_null(registry_find_transport(r, a.transport_pk));
  assert_non_null(registry_find_transport(r, b.transport_pk));
  assert_int_equal(registry_set(r, NULL, 0), 0);
  assert_int_equal(registry_count(r), 0);
  assert_null(registry_find_id(r, "tvs"));
  registry_destroy(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_lookup),
                                     cmocka_unit_test(test_replace)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
