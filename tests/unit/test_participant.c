/* Unit tests of participant field rules and role names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "entry.h"
#include "keten.pb-c.h"
#include "participant.h"
#include "roles.h"

static void test_ids(void **state) {
  (void)state;
  const char *good[] = {"coa", "gemeente:0716", "vwn:zeeland", "ggz:emergis",
                        "tvs", "a", "mee:zuid-west:team-2"};
  const char *bad[] = {"", "COA", "0coa", ":coa", "coa:", "coa::x", "co a",
                       "coa/x", "gemeente:0716\n", "é"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_true(participant_valid_id(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_false(participant_valid_id(bad[i]));
  char longid[80];
  memset(longid, 'a', sizeof longid - 1);
  longid[64] = '\0';
  assert_true(participant_valid_id(longid));
  longid[64] = 'a';
  longid[65] = '\0';
  assert_false(participant_valid_id(longid));
}

/* The actors of the broker's and keten admin's own audit entries are
 * no participant's: an entry taking one is refused (else its holder could
 * ask inclusion proofs of every such entry). */
static void test_reserved_ids(void **state) {
  (void)state;
  assert_true(entry_reserved_id("ketend"));
  assert_true(entry_reserved_id("operator"));
  assert_false(entry_reserved_id("coa"));
  assert_false(entry_reserved_id("operator:x"));
  uint8_t key[32] = {1};
  Keten__RegistryEntry e = KETEN__REGISTRY_ENTRY__INIT;
  e.role = KETEN__ROLE__ROLE_COA;
  e.display_name = "Somebody";
  e.transport_key.data = e.signing_key.data = e.sealing_key.data = key;
  e.transport_key.len = e.signing_key.len = e.sealing_key.len = 32;
  e.valid_from_ms = 1;
  e.valid_until_ms = 2;
  char why[200] = "";
  e.participant_id = "coa"; /* other shape rules may refuse it, not this one */
  entry_check_shape(&e, why, sizeof why);
  assert_null(strstr(why, "ketend, operator"));
  e.participant_id = "ketend";
  assert_int_equal(entry_check_shape(&e, why, sizeof why), -1);
  assert_non_null(strstr(why, "ketend, operator"));
  e.participant_id = "operator";
  assert_int_equal(entry_check_shape(&e, why, sizeof why), -1);
}

static void test_names(void **state) {
  (void)state;
  assert_true(participant_valid_name("Gemeente Súdwest-Fryslân"));
  assert_false(participant_valid_name(""));
  assert_false(participant_valid_name("two\nlines"));
  assert_false(participant_valid_name("tab\there"));
}

static void test_roles(void **state) {
  (void)state;
  assert_int_equal(roles_from_name("GEMEENTE"), 1);
  assert_int_equal(roles_from_name("gemeente"), 1);
  assert_int_equal(roles_from_name("ROLE_COA"), 2);
  assert_int_equal(roles_from_name("operator"), 6);
  assert_int_equal(roles_from_name("UNSPECIFIED"), 0);
  assert_int_equal(roles_from_name("mayor"), 0);
  assert_int_equal(roles_from_name(""), 0);
  assert_string_equal(roles_name(4), "CARE");
  assert_null(roles_name(0));
  assert_null(roles_name(99));
}

static void test_valid_participant(void **state) {
  (void)state;
  participant_t p;
  memset(&p, 0, sizeof p);
  strcpy(p.id, "coa");
  strcpy(p.display_name, "COA");
  p.role = 2;
  p.valid_until_ms = 1000;
  assert_true(participant_valid(&p));
  /* an empty validity window is no entry */
  p.valid_from_ms = 1000;
  assert_false(participant_valid(&p));
  p.valid_from_ms = 0;
  p.role = 0;
  assert_false(participant_valid(&p));
  p.role = 77;
  assert_false(participant_valid(&p));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids),
      cmocka_unit_test(test_reserved_ids), cmocka_unit_test(test_names),
      cmocka_unit_test(test_roles), cmocka_unit_test(test_valid_participant)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
