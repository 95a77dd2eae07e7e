/* test_version — keten.h's KETEN_VERSION_* macros, keten_version(),
 * keten_version_number() of the shared library as loaded, and CMake's
 * PROJECT_VERSION (passed in as KETEN_PROJECT_VERSION*) all say the same
 * (issue 11, item 1). Linked against libketen.so, not the static library:
 * what an integrator's program sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keten.h"

static void test_macros_match_cmake(void **state) {
  (void)state;
  assert_int_equal(KETEN_VERSION_MAJOR, KETEN_PROJECT_VERSION_MAJOR);
  assert_int_equal(KETEN_VERSION_MINOR, KETEN_PROJECT_VERSION_MINOR);
  assert_int_equal(KETEN_VERSION_PATCH, KETEN_PROJECT_VERSION_PATCH);
  assert_string_equal(KETEN_VERSION_STRING, KETEN_PROJECT_VERSION);
  char built[32];
  snprintf(built, sizeof built, "%d.%d.%d", KETEN_VERSION_MAJOR,
           KETEN_VERSION_MINOR, KETEN_VERSION_PATCH);
  assert_string_equal(built, KETEN_VERSION_STRING);
  assert_int_equal(KETEN_VERSION_NUMBER,
                   KETEN_PROJECT_VERSION_MAJOR * 10000 +
                       KETEN_PROJECT_VERSION_MINOR * 100 +
                       KETEN_PROJECT_VERSION_PATCH);
}

static void test_runtime_matches_header(void **state) {
  (void)state;
  assert_non_null(keten_version());
  assert_string_equal(keten_version(), KETEN_VERSION_STRING);
  assert_string_equal(keten_version(), KETEN_PROJECT_VERSION);
  assert_int_equal(keten_version_number(), KETEN_VERSION_NUMBER);
  /* The documented encoding, so that a program can compare numbers. */
  int n = keten_version_number();
  char decoded[32];
  snprintf(decoded, sizeof decoded, "%d.%d.%d", n / 10000, n / 100 % 100,
           n % 100);
  assert_string_equal(decoded, keten_version());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_macros_match_cmake),
      cmocka_unit_test(test_runtime_matches_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
