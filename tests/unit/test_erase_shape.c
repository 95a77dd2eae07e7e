/* Unit tests of erase_check_shape() (broker/erase.c): the shape and the
 * time window of an erasure request, before any signature is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "erase.h"

static const int64_t NOW = INT64_C(1790000000000);

static uint8_t s_id[16], s_subject[32], s_sig[64];

static void s_erasure(Keten__Erasure *e) {
  keten__erasure__init(e);
  memset(s_id, 1, sizeof s_id);
  memset(s_subject, 2, sizeof s_subject);
  memset(s_sig, 3, sizeof s_sig);
  e->erasure_id.data = s_id;
  e->erasure_id.len = sizeof s_id;
  e->subject.data = s_subject;
  e->subject.len = sizeof s_subject;
  e->author = "coa";
  e->reason = "AVG art. 17 verzoek 2026-123";
  e->requested_at_ms = (uint64_t)NOW;
  e->signature.data = s_sig;
  e->signature.len = sizeof s_sig;
}

static void test_good(void **state) {
  (void)state;
  Keten__Erasure e;
  s_erasure(&e);
  char why[128];
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), 0);
}

/* A request is applied soon after it is signed: one signed more than 30
 * days ago (perhaps back-dated with a key retired since) is refused, as
 * one more than a day ahead. */
static void test_time_window(void **state) {
  (void)state;
  Keten__Erasure e;
  s_erasure(&e);
  char why[128];
  e.requested_at_ms = (uint64_t)(NOW - ERASE_MAX_AGE_MS + 1000);
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), 0);
  e.requested_at_ms = (uint64_t)(NOW - ERASE_MAX_AGE_MS - 1000);
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  assert_non_null(strstr(why, "30 days"));
  e.requested_at_ms = (uint64_t)(NOW + ERASE_MAX_SKEW_MS + 1000);
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  e.requested_at_ms = 0;
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
}

static void test_fields(void **state) {
  (void)state;
  Keten__Erasure e;
  char why[128];
  s_erasure(&e);
  e.erasure_id.len = 15;
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  s_erasure(&e);
  e.author = "not an id!";
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  s_erasure(&e);
  e.kinds = 1u << 31;
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  s_erasure(&e);
  e.reason = "";
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
  s_erasure(&e);
  e.reason = "tab\there";
  assert_int_equal(erase_check_shape(&e, NOW, why, sizeof why), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_time_window),
      cmocka_unit_test(test_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
