/* Unit tests of the policy table (proto/policy.h): a test per row.
 *
 * The expected table is written out here as data, from the design's
 * description of it (Table 1: who writes what; Table 2: per purpose the
 * kinds it covers and the recipient roles that serve it; the rules R1..R10),
 * independently of policy.c. Every row test runs over all roles, kinds,
 * purposes and bases that row is concerned with, and checks that what is
 * inside the row is allowed and what is outside is refused with the right
 * rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "keten.pb-c.h"
#include "policy.h"

/* The numbers of keten.proto, written out (test_enum_numbers checks them
 * against the generated header). */
enum { ROLE_GEMEENTE = 1, ROLE_COA, ROLE_VOLUNTEER, ROLE_CARE, ROLE_TVS,
       ROLE_OPERATOR };
enum { KIND_IDENTITY = 1, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION,
       KIND_WORK, KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING,
       KIND_PARTICIPATION, KIND_HEALTH, KIND_SUPPORT, KIND_CARE };
enum { PURPOSE_HUISVESTING = 1, PURPOSE_INBURGERING, PURPOSE_PARTICIPATIE,
       PURPOSE_ZORG, PURPOSE_BEGELEIDING };
enum { BASIS_CONSENT = 1, BASIS_LEGAL_DUTY };

#define FIRST_ROLE ROLE_GEMEENTE
#define LAST_ROLE ROLE_OPERATOR
#define FIRST_KIND KIND_IDENTITY
#define LAST_KIND KIND_CARE
#define FIRST_PURPOSE PURPOSE_HUISVESTING
#define LAST_PURPOSE PURPOSE_BEGELEIDING

#define BIT(k) (UINT64_C(1) << (k))

static const char *const s_role_names[] = {
    "UNSPECIFIED", "GEMEENTE", "COA", "VOLUNTEER", "CARE", "TVS", "OPERATOR"};
static const char *const s_kind_names[] = {
    "UNSPECIFIED", "IDENTITY",      "HOUSEHOLD", "STORY",   "EDUCATION",
    "WORK",        "LANGUAGE",      "INBURGERING", "HOUSING", "PARTICIPATION",
    "HEALTH",      "SUPPORT",       "CARE"};

/* Values keten.proto does not name. */
static const int s_bad_roles[] = {0, 7, 8, -1, 31, 32, 33, 1000};
static const int s_bad_kinds[] = {0, 13, 14, -1, 31, 63, 64, 65, 1000};
static const int s_bad_purposes[] = {0, 6, -1, 1000};
static const int s_bad_bases[] = {0, 3, -1, 1000};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the expected table -------------------------------------------------- */

/* Table 1 (R1, R5): who writes what (0-terminated). */
static const struct {
  int role;
  int kinds[13];
} s_table_authors[] = {
    {ROLE_COA,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION, KIND_WORK,
      KIND_LANGUAGE, KIND_HOUSING, KIND_HEALTH, 0}},
    {ROLE_GEMEENTE,
     {KIND_HOUSEHOLD, KIND_EDUCATION, KIND_WORK, KIND_LANGUAGE,
      KIND_INBURGERING, KIND_HOUSING, KIND_PARTICIPATION, 0}},
    {ROLE_VOLUNTEER, {KIND_SUPPORT, 0}},
    {ROLE_CARE, {KIND_HEALTH, KIND_CARE, 0}},
    {ROLE_TVS, {0}},
    {ROLE_OPERATOR, {0}},
};

/* Table 2 (R6, R7): per purpose the kinds it covers and the recipient
 * roles that serve it (0-terminated). */
static const struct {
  int purpose;
  int kinds[13];
  int roles[7];
} s_table_purposes[] = {
    {PURPOSE_HUISVESTING,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_HOUSING, 0},
     {ROLE_GEMEENTE, ROLE_COA, 0}},
    {PURPOSE_INBURGERING,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION, KIND_WORK,
      KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING, KIND_PARTICIPATION, 0},
     {ROLE_GEMEENTE, ROLE_COA, ROLE_VOLUNTEER, 0}},
    {PURPOSE_PARTICIPATIE,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_EDUCATION, KIND_WORK, KIND_LANGUAGE,
      KIND_INBURGERING, KIND_PARTICIPATION, KIND_SUPPORT, KIND_CARE, 0},
     {ROLE_GEMEENTE, ROLE_VOLUNTEER, ROLE_CARE, 0}},
    {PURPOSE_ZORG,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_LANGUAGE, KIND_HEALTH,
      KIND_SUPPORT, KIND_CARE, 0},
     {ROLE_CARE, ROLE_GEMEENTE, ROLE_COA, 0}},
    {PURPOSE_BEGELEIDING,
     {KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION, KIND_WORK,
      KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING, KIND_PARTICIPATION,
      KIND_SUPPORT, 0},
     {ROLE_VOLUNTEER, ROLE_GEMEENTE, ROLE_COA, ROLE_CARE, 0}},
};

static int s_in(const int *list, int v) {
  for (; *list; list++)
    if (*list == v)
      return 1;
  return 0;
}

static int s_in_n(const int *list, size_t n, int v) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == v)
      return 1;
  return 0;
}

static int s_role_known(int role) {
  return role >= FIRST_ROLE && role <= LAST_ROLE;
}
static int s_kind_known(int kind) {
  return kind >= FIRST_KIND && kind <= LAST_KIND;
}
static int s_basis_known(int basis) {
  return basis == BASIS_CONSENT || basis == BASIS_LEGAL_DUTY;
}
static int s_special(int kind) {
  return kind == KIND_HEALTH || kind == KIND_CARE;
}
/* R2, R3: OPERATOR and TVS record and receive nothing. */
static int s_outsider(int role) {
  return role == ROLE_TVS || role == ROLE_OPERATOR;
}

static const int *s_writes(int role) {
  for (size_t i = 0; i < COUNT(s_table_authors); i++)
    if (s_table_authors[i].role == role)
      return s_table_authors[i].kinds;
  return NULL;
}

static int s_purpose_row(int purpose) {
  for (size_t i = 0; i < COUNT(s_table_purposes); i++)
    if (s_table_purposes[i].purpose == purpose)
      return (int)i;
  return -1;
}

/* What policy_may_disclose must say: unknown kinds, roles and bases
 * first (R10), then R3, an unknown purpose (R10), the special categories
 * (R8, R9) and last the purpose's row (R6, R7). */
static policy_rule_t s_expect_disclose(int kind, int role, int purpose,
                                       int basis, int legal) {
  if (!s_kind_known(kind) || !s_role_known(role) || !s_basis_known(basis))
    return POLICY_R10_UNKNOWN;
  if (s_outsider(role))
    return POLICY_R3_RECIPIENT_ROLE;
  int row = s_purpose_row(purpose);
  if (row < 0)
    return POLICY_R10_UNKNOWN;
  if (s_special(kind) && role == ROLE_VOLUNTEER)
    return POLICY_R8_SPECIAL_VOLUNTEER;
  if (s_special(kind) &&
      !(basis == BASIS_CONSENT || (basis == BASIS_LEGAL_DUTY && legal)))
    return POLICY_R9_SPECIAL_BASIS;
  if (!s_in(s_table_purposes[row].kinds, kind))
    return POLICY_R6_PURPOSE_KIND;
  if (!s_in(s_table_purposes[row].roles, role))
    return POLICY_R7_PURPOSE_ROLE;
  return POLICY_OK;
}

/* What policy_may_record must say, and its bad_kind. */
static policy_rule_t s_expect_record(int recorder, int recipient, int self,
                                     uint64_t sections, int purpose, int basis,
                                     int legal, int *bad_kind) {
  uint64_t named = 0;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++)
    named |= BIT(k);
  *bad_kind = 0;
  if (!s_role_known(recorder) || !s_role_known(recipient) || sections == 0 ||
      (sections & ~named) != 0)
    return POLICY_R10_UNKNOWN;
  if (s_outsider(recorder))
    return POLICY_R2_RECORDER_ROLE;
  if (self)
    return POLICY_R4_SELF;
  if (s_outsider(recipient))
    return POLICY_R3_RECIPIENT_ROLE;
  for (int k = FIRST_KIND; k <= LAST_KIND; k++) {
    if (!(sections & BIT(k)))
      continue;
    policy_rule_t r = s_in(s_writes(recorder), k)
                          ? s_expect_disclose(k, recipient, purpose, basis,
                                              legal)
                          : POLICY_R5_RECORDER_KIND;
    if (r != POLICY_OK) {
      *bad_kind = k;
      return r;
    }
  }
  return POLICY_OK;
}

#define CHECK_RULE(got, want, ...)                                             \
  do {                                                                         \
    policy_rule_t got_ = (got), want_ = (want);                                \
    if (got_ != want_) {                                                       \
      print_error(__VA_ARGS__);                                                \
      fail_msg("got %s (%d), want %s (%d)", policy_rule_id(got_), (int)got_,   \
               policy_rule_id(want_), (int)want_);                             \
    }                                                                          \
  } while (0)

/* policy_may_record and its bad_kind, against the expectation. */
static void s_check_record(int recorder, int recipient, int self,
                           uint64_t sections, int purpose, int basis,
                           int legal) {
  int want_bad = 0, got_bad = -77;
  policy_rule_t want = s_expect_record(recorder, recipient, self, sections,
                                       purpose, basis, legal, &want_bad);
  policy_rule_t got = policy_may_record(recorder, recipient, self, sections,
                                        purpose, basis, legal, &got_bad);
  CHECK_RULE(got, want,
             "record by role %d for role %d self %d sections %#llx purpose %d "
             "basis %d legal %d\n",
             recorder, recipient, self, (unsigned long long)sections, purpose,
             basis, legal);
  if (got_bad != want_bad)
    fail_msg("record by role %d for role %d sections %#llx purpose %d basis "
             "%d: bad_kind %d, want %d",
             recorder, recipient, (unsigned long long)sections, purpose, basis,
             got_bad, want_bad);
  /* a NULL bad_kind is allowed and changes nothing */
  assert_int_equal(policy_may_record(recorder, recipient, self, sections,
                                     purpose, basis, legal, NULL),
                   want);
}

static void test_enum_numbers(void **state) {
  (void)state;
  assert_int_equal(ROLE_GEMEENTE, KETEN__ROLE__ROLE_GEMEENTE);
  assert_int_equal(ROLE_COA, KETEN__ROLE__ROLE_COA);
  assert_int_equal(ROLE_VOLUNTEER, KETEN__ROLE__ROLE_VOLUNTEER);
  assert_int_equal(ROLE_CARE, KETEN__ROLE__ROLE_CARE);
  assert_int_equal(ROLE_TVS, KETEN__ROLE__ROLE_TVS);
  assert_int_equal(ROLE_OPERATOR, KETEN__ROLE__ROLE_OPERATOR);
  assert_int_equal(KIND_IDENTITY, KETEN__SECTION_KIND__SECTION_IDENTITY);
  assert_int_equal(KIND_HOUSEHOLD, KETEN__SECTION_KIND__SECTION_HOUSEHOLD);
  assert_int_equal(KIND_STORY, KETEN__SECTION_KIND__SECTION_STORY);
  assert_int_equal(KIND_EDUCATION, KETEN__SECTION_KIND__SECTION_EDUCATION);
  assert_int_equal(KIND_WORK, KETEN__SECTION_KIND__SECTION_WORK);
  assert_int_equal(KIND_LANGUAGE, KETEN__SECTION_KIND__SECTION_LANGUAGE);
  assert_int_equal(KIND_INBURGERING, KETEN__SECTION_KIND__SECTION_INBURGERING);
  assert_int_equal(KIND_HOUSING, KETEN__SECTION_KIND__SECTION_HOUSING);
  assert_int_equal(KIND_PARTICIPATION,
                   KETEN__SECTION_KIND__SECTION_PARTICIPATION);
  assert_int_equal(KIND_HEALTH, KETEN__SECTION_KIND__SECTION_HEALTH);
  assert_int_equal(KIND_SUPPORT, KETEN__SECTION_KIND__SECTION_SUPPORT);
  assert_int_equal(KIND_CARE, KETEN__SECTION_KIND__SECTION_CARE);
  assert_int_equal(PURPOSE_HUISVESTING, KETEN__PURPOSE__PURPOSE_HUISVESTING);
  assert_int_equal(PURPOSE_INBURGERING, KETEN__PURPOSE__PURPOSE_INBURGERING);
  assert_int_equal(PURPOSE_PARTICIPATIE, KETEN__PURPOSE__PURPOSE_PARTICIPATIE);
  assert_int_equal(PURPOSE_ZORG, KETEN__PURPOSE__PURPOSE_ZORG);
  assert_int_equal(PURPOSE_BEGELEIDING, KETEN__PURPOSE__PURPOSE_BEGELEIDING);
  assert_int_equal(BASIS_CONSENT, KETEN__BASIS__BASIS_CONSENT);
  assert_int_equal(BASIS_LEGAL_DUTY, KETEN__BASIS__BASIS_LEGAL_DUTY);
  /* the name tables of this file line up with the numbers */
  assert_int_equal(COUNT(s_role_names), LAST_ROLE + 1);
  assert_int_equal(COUNT(s_kind_names), LAST_KIND + 1);
}

/* ---- Table 1: who writes what (R1, and R5 for consents) ------------------ */

static void s_check_author_row(int role, const int *expected_kinds,
                               size_t expected_count) {
  const int *row = s_writes(role);
  assert_non_null(row);
  /* the row as this test has it (guards the data above) */
  size_t n = 0;
  while (row[n])
    n++;
  assert_int_equal(n, expected_count);
  uint64_t bits = 0;
  for (size_t i = 0; i < expected_count; i++) {
    assert_int_equal(row[i], expected_kinds[i]);
    bits |= BIT(expected_kinds[i]);
  }
  /* policy_author_kinds is exactly the row */
  if (policy_author_kinds(role) != bits)
    fail_msg("policy_author_kinds(%s) = %#llx, want %#llx", s_role_names[role],
             (unsigned long long)policy_author_kinds(role),
             (unsigned long long)bits);
  /* R1: every kind inside the row may be written, every one outside not */
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
    CHECK_RULE(policy_may_author(role, kind),
               s_in(row, kind) ? POLICY_OK : POLICY_R1_AUTHOR_KIND,
               "%s authors %s\n", s_role_names[role], s_kind_names[kind]);
  for (size_t i = 0; i < COUNT(s_bad_kinds); i++)
    CHECK_RULE(policy_may_author(role, s_bad_kinds[i]), POLICY_R10_UNKNOWN,
               "%s authors kind %d\n", s_role_names[role], s_bad_kinds[i]);
  /* R5: a consent this role records covers only kinds of its row (and R2
   * refuses OPERATOR and TVS before that): each kind alone, to every
   * recipient role, for every purpose and basis */
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
    for (int recipient = FIRST_ROLE; recipient <= LAST_ROLE; recipient++)
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
        for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
          for (int legal = 0; legal <= 1; legal++) {
            int bad = -77;
            policy_rule_t r = policy_may_record(
                role, recipient, 0, BIT(kind), purpose, basis, legal, &bad);
            if (s_outsider(role)) {
              CHECK_RULE(r, POLICY_R2_RECORDER_ROLE, "%s records\n",
                         s_role_names[role]);
              assert_int_equal(bad, 0);
            } else if (s_outsider(recipient)) {
              CHECK_RULE(r, POLICY_R3_RECIPIENT_ROLE, "%s records for %s\n",
                         s_role_names[role], s_role_names[recipient]);
              assert_int_equal(bad, 0);
            } else if (!s_in(row, kind)) {
              CHECK_RULE(r, POLICY_R5_RECORDER_KIND,
                         "%s records %s for %s purpose %d\n",
                         s_role_names[role], s_kind_names[kind],
                         s_role_names[recipient], purpose);
              assert_int_equal(bad, kind);
            } else {
              policy_rule_t d =
                  policy_may_disclose(kind, recipient, purpose, basis, legal);
              CHECK_RULE(r, d, "%s records %s for %s purpose %d\n",
                         s_role_names[role], s_kind_names[kind],
                         s_role_names[recipient], purpose);
              CHECK_RULE(d,
                         s_expect_disclose(kind, recipient, purpose, basis,
                                           legal),
                         "%s to %s purpose %d basis %d legal %d\n",
                         s_kind_names[kind], s_role_names[recipient], purpose,
                         basis, legal);
              assert_int_equal(bad, r == POLICY_OK ? 0 : kind);
            }
          }
  /* the whole row in one consent, to a recipient and purpose that take
   * any kind of it the policy lets through: never R5 */
  if (bits && !s_outsider(role)) {
    int bad = -77;
    policy_rule_t r = policy_may_record(role, ROLE_GEMEENTE, 0, bits,
                                        PURPOSE_BEGELEIDING, BASIS_CONSENT, 0,
                                        &bad);
    assert_int_not_equal(r, POLICY_R5_RECORDER_KIND);
  }
}

#define AUTHOR_ROW(role, ...)                                                  \
  do {                                                                         \
    static const int kinds_[] = {__VA_ARGS__};                                 \
    s_check_author_row(role, kinds_, COUNT(kinds_));                           \
  } while (0)

static void test_author_coa(void **state) {
  (void)state;
  AUTHOR_ROW(ROLE_COA, KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY,
             KIND_EDUCATION, KIND_WORK, KIND_LANGUAGE, KIND_HOUSING,
             KIND_HEALTH);
}

static void test_author_gemeente(void **state) {
  (void)state;
  AUTHOR_ROW(ROLE_GEMEENTE, KIND_HOUSEHOLD, KIND_EDUCATION, KIND_WORK,
             KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING, KIND_PARTICIPATION);
}

static void test_author_volunteer(void **state) {
  (void)state;
  AUTHOR_ROW(ROLE_VOLUNTEER, KIND_SUPPORT);
}

static void test_author_care(void **state) {
  (void)state;
  AUTHOR_ROW(ROLE_CARE, KIND_HEALTH, KIND_CARE);
}

static void test_author_tvs(void **state) {
  (void)state;
  s_check_author_row(ROLE_TVS, NULL, 0);
}

static void test_author_operator(void **state) {
  (void)state;
  s_check_author_row(ROLE_OPERATOR, NULL, 0);
}

static void test_author_unknown_roles(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(s_bad_roles); i++) {
    assert_int_equal(policy_author_kinds(s_bad_roles[i]), 0);
    for (int kind = -1; kind <= LAST_KIND + 1; kind++)
      CHECK_RULE(policy_may_author(s_bad_roles[i], kind), POLICY_R10_UNKNOWN,
                 "role %d authors kind %d\n", s_bad_roles[i], kind);
  }
  /* every kind has an author, HEALTH two */
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++) {
    int authors = 0;
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
      authors += policy_may_author(role, kind) == POLICY_OK;
    assert_true(authors >= 1);
    if (kind == KIND_HEALTH)
      assert_int_equal(authors, 2);
  }
}

/* ---- Table 2: what each purpose covers, and whom (R6, R7) ---------------- */

static void s_check_purpose_row(int purpose, const int *expected_kinds,
                                size_t n_kinds, const int *expected_roles,
                                size_t n_roles) {
  int row = s_purpose_row(purpose);
  assert_true(row >= 0);
  /* the row as this test has it (guards the data above) */
  size_t n = 0;
  while (s_table_purposes[row].kinds[n])
    n++;
  assert_int_equal(n, n_kinds);
  for (size_t i = 0; i < n_kinds; i++)
    assert_int_equal(s_table_purposes[row].kinds[i], expected_kinds[i]);
  n = 0;
  while (s_table_purposes[row].roles[n])
    n++;
  assert_int_equal(n, n_roles);
  for (size_t i = 0; i < n_roles; i++)
    assert_int_equal(s_table_purposes[row].roles[i], expected_roles[i]);

  unsigned allowed = 0;
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
      for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
        for (int legal = 0; legal <= 1; legal++) {
          int kind_in = s_in_n(expected_kinds, n_kinds, kind);
          int role_in = s_in_n(expected_roles, n_roles, role);
          policy_rule_t want;
          if (s_outsider(role))
            want = POLICY_R3_RECIPIENT_ROLE;
          else if (s_special(kind) && role == ROLE_VOLUNTEER)
            want = POLICY_R8_SPECIAL_VOLUNTEER;
          else if (s_special(kind) && basis == BASIS_LEGAL_DUTY && !legal)
            want = POLICY_R9_SPECIAL_BASIS;
          else if (!kind_in)
            want = POLICY_R6_PURPOSE_KIND;
          else if (!role_in)
            want = POLICY_R7_PURPOSE_ROLE;
          else
            want = POLICY_OK;
          CHECK_RULE(policy_may_disclose(kind, role, purpose, basis, legal),
                     want, "purpose %d: %s to %s basis %d legal %d\n", purpose,
                     s_kind_names[kind], s_role_names[role], basis, legal);
          /* and the shared expectation agrees */
          CHECK_RULE(s_expect_disclose(kind, role, purpose, basis, legal),
                     want, "the test's own table, purpose %d\n", purpose);
          allowed += want == POLICY_OK;
        }
  assert_true(allowed > 0);
  /* unknown kinds, roles and bases under this purpose */
  for (size_t i = 0; i < COUNT(s_bad_kinds); i++)
    CHECK_RULE(policy_may_disclose(s_bad_kinds[i], ROLE_GEMEENTE, purpose,
                                   BASIS_CONSENT, 0),
               POLICY_R10_UNKNOWN, "kind %d\n", s_bad_kinds[i]);
  for (size_t i = 0; i < COUNT(s_bad_roles); i++)
    CHECK_RULE(policy_may_disclose(KIND_IDENTITY, s_bad_roles[i], purpose,
                                   BASIS_CONSENT, 0),
               POLICY_R10_UNKNOWN, "role %d\n", s_bad_roles[i]);
  for (size_t i = 0; i < COUNT(s_bad_bases); i++)
    CHECK_RULE(policy_may_disclose(KIND_IDENTITY, ROLE_GEMEENTE, purpose,
                                   s_bad_bases[i], 1),
               POLICY_R10_UNKNOWN, "basis %d\n", s_bad_bases[i]);
}

#define LIST(...) ((const int[]){__VA_ARGS__})
#define NLIST(...) COUNT(((const int[]){__VA_ARGS__}))
#define PURPOSE_ROW(purpose, kinds, roles)                                     \
  s_check_purpose_row(purpose, LIST kinds, NLIST kinds, LIST roles,           \
                      NLIST roles)

static void test_purpose_huisvesting(void **state) {
  (void)state;
  PURPOSE_ROW(PURPOSE_HUISVESTING, (KIND_IDENTITY, KIND_HOUSEHOLD, KIND_HOUSING),
              (ROLE_GEMEENTE, ROLE_COA));
}

static void test_purpose_inburgering(void **state) {
  (void)state;
  PURPOSE_ROW(PURPOSE_INBURGERING,
              (KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION,
               KIND_WORK, KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING,
               KIND_PARTICIPATION),
              (ROLE_GEMEENTE, ROLE_COA, ROLE_VOLUNTEER));
}

static void test_purpose_participatie(void **state) {
  (void)state;
  PURPOSE_ROW(PURPOSE_PARTICIPATIE,
              (KIND_IDENTITY, KIND_HOUSEHOLD, KIND_EDUCATION, KIND_WORK,
               KIND_LANGUAGE, KIND_INBURGERING, KIND_PARTICIPATION,
               KIND_SUPPORT, KIND_CARE),
              (ROLE_GEMEENTE, ROLE_VOLUNTEER, ROLE_CARE));
}

static void test_purpose_zorg(void **state) {
  (void)state;
  PURPOSE_ROW(PURPOSE_ZORG,
              (KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_LANGUAGE,
               KIND_HEALTH, KIND_SUPPORT, KIND_CARE),
              (ROLE_CARE, ROLE_GEMEENTE, ROLE_COA));
}

static void test_purpose_begeleiding(void **state) {
  (void)state;
  PURPOSE_ROW(PURPOSE_BEGELEIDING,
              (KIND_IDENTITY, KIND_HOUSEHOLD, KIND_STORY, KIND_EDUCATION,
               KIND_WORK, KIND_LANGUAGE, KIND_INBURGERING, KIND_HOUSING,
               KIND_PARTICIPATION, KIND_SUPPORT),
              (ROLE_VOLUNTEER, ROLE_GEMEENTE, ROLE_COA, ROLE_CARE));
}

static void test_purpose_unknown(void **state) {
  (void)state;
  /* R10 for a purpose keten.proto does not name, to a receiving role */
  for (size_t i = 0; i < COUNT(s_bad_purposes); i++)
    for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
      for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
        for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
          CHECK_RULE(policy_may_disclose(kind, role, s_bad_purposes[i], basis,
                                         1),
                     s_outsider(role) ? POLICY_R3_RECIPIENT_ROLE
                                      : POLICY_R10_UNKNOWN,
                     "purpose %d %s to %s\n", s_bad_purposes[i],
                     s_kind_names[kind], s_role_names[role]);
}

/* ---- the special categories (R8, R9) ------------------------------------- */

static void test_r8_special_never_to_volunteer(void **state) {
  (void)state;
  const int special[] = {KIND_HEALTH, KIND_CARE};
  for (size_t i = 0; i < COUNT(special); i++)
    for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
      for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
        for (int legal = 0; legal <= 1; legal++)
          CHECK_RULE(policy_may_disclose(special[i], ROLE_VOLUNTEER, purpose,
                                         basis, legal),
                     POLICY_R8_SPECIAL_VOLUNTEER, "%s to VOLUNTEER purpose %d\n",
                     s_kind_names[special[i]], purpose);
  /* no other kind is refused by R8, to anyone */
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
        for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
          if (!(s_special(kind) && role == ROLE_VOLUNTEER))
            assert_int_not_equal(
                policy_may_disclose(kind, role, purpose, basis, 1),
                POLICY_R8_SPECIAL_VOLUNTEER);
  /* the consent that would carry it is refused too, naming the kind */
  int bad = -77;
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_VOLUNTEER, 0,
                                     BIT(KIND_HEALTH) | BIT(KIND_CARE),
                                     PURPOSE_PARTICIPATIE, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R8_SPECIAL_VOLUNTEER);
  assert_int_equal(bad, KIND_HEALTH);
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_VOLUNTEER, 0,
                                     BIT(KIND_CARE), PURPOSE_PARTICIPATIE,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_R8_SPECIAL_VOLUNTEER);
  assert_int_equal(bad, KIND_CARE);
  /* CARE under PARTICIPATIE, a purpose volunteers serve: only R8 stops it */
  assert_int_equal(policy_may_disclose(KIND_CARE, ROLE_CARE,
                                       PURPOSE_PARTICIPATIE, BASIS_CONSENT, 0),
                   POLICY_OK);
  assert_int_equal(policy_may_disclose(KIND_SUPPORT, ROLE_VOLUNTEER,
                                       PURPOSE_PARTICIPATIE, BASIS_CONSENT, 0),
                   POLICY_OK);
}

static void test_r9_special_basis(void **state) {
  (void)state;
  const int special[] = {KIND_HEALTH, KIND_CARE};
  for (size_t i = 0; i < COUNT(special); i++)
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++) {
      if (s_outsider(role) || role == ROLE_VOLUNTEER)
        continue;
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++) {
        /* LEGAL_DUTY without a legal reference: never */
        CHECK_RULE(policy_may_disclose(special[i], role, purpose,
                                       BASIS_LEGAL_DUTY, 0),
                   POLICY_R9_SPECIAL_BASIS, "%s to %s purpose %d\n",
                   s_kind_names[special[i]], s_role_names[role], purpose);
        /* CONSENT, or LEGAL_DUTY with a reference: up to the purpose */
        policy_rule_t a = policy_may_disclose(special[i], role, purpose,
                                              BASIS_CONSENT, 0);
        policy_rule_t b = policy_may_disclose(special[i], role, purpose,
                                              BASIS_CONSENT, 1);
        policy_rule_t c = policy_may_disclose(special[i], role, purpose,
                                              BASIS_LEGAL_DUTY, 1);
        assert_int_not_equal(a, POLICY_R9_SPECIAL_BASIS);
        assert_int_equal(a, b);
        assert_int_equal(a, c);
      }
    }
  /* HEALTH to CARE under ZORG: allowed on CONSENT and LEGAL_DUTY + ref */
  assert_int_equal(policy_may_disclose(KIND_HEALTH, ROLE_CARE, PURPOSE_ZORG,
                                       BASIS_CONSENT, 0),
                   POLICY_OK);
  assert_int_equal(policy_may_disclose(KIND_HEALTH, ROLE_CARE, PURPOSE_ZORG,
                                       BASIS_LEGAL_DUTY, 1),
                   POLICY_OK);
  /* other kinds do not need a reference for LEGAL_DUTY */
  for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
        if (!s_special(kind)) {
          policy_rule_t r =
              policy_may_disclose(kind, role, purpose, BASIS_LEGAL_DUTY, 0);
          assert_int_not_equal(r, POLICY_R9_SPECIAL_BASIS);
          assert_int_equal(r, policy_may_disclose(kind, role, purpose,
                                                  BASIS_CONSENT, 0));
        }
  /* and the consent that would carry it */
  int bad = -77;
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_CARE, 0,
                                     BIT(KIND_IDENTITY) | BIT(KIND_HEALTH),
                                     PURPOSE_ZORG, BASIS_LEGAL_DUTY, 0, &bad),
                   POLICY_R9_SPECIAL_BASIS);
  assert_int_equal(bad, KIND_HEALTH);
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_CARE, 0,
                                     BIT(KIND_IDENTITY) | BIT(KIND_HEALTH),
                                     PURPOSE_ZORG, BASIS_LEGAL_DUTY, 1, &bad),
                   POLICY_OK);
  assert_int_equal(bad, 0);
}

/* ---- consents: R2, R3, R4 ------------------------------------------------ */

/* Non-empty section sets made of named kinds. */
static const uint64_t s_some_sets[] = {
    BIT(KIND_IDENTITY), BIT(KIND_SUPPORT), BIT(KIND_HEALTH), BIT(KIND_CARE),
    BIT(KIND_HOUSEHOLD) | BIT(KIND_HOUSING), UINT64_C(0x1ffe) /* all 12 */};

static void test_r2_recorder_role(void **state) {
  (void)state;
  const int outsiders[] = {ROLE_TVS, ROLE_OPERATOR};
  for (size_t o = 0; o < COUNT(outsiders); o++)
    for (int recipient = FIRST_ROLE; recipient <= LAST_ROLE; recipient++)
      for (int self = 0; self <= 1; self++)
        for (size_t s = 0; s < COUNT(s_some_sets); s++)
          for (int purpose = FIRST_PURPOSE - 1; purpose <= LAST_PURPOSE + 1;
               purpose++)
            for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY;
                 basis++) {
              int bad = -77;
              CHECK_RULE(policy_may_record(outsiders[o], recipient, self,
                                           s_some_sets[s], purpose, basis, 1,
                                           &bad),
                         POLICY_R2_RECORDER_ROLE, "%s records for %s\n",
                         s_role_names[outsiders[o]], s_role_names[recipient]);
              assert_int_equal(bad, 0);
            }
  /* every other role may record something */
  for (int role = FIRST_ROLE; role <= LAST_ROLE; role++) {
    if (s_outsider(role))
      continue;
    int any = 0;
    for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
      for (int recipient = FIRST_ROLE; recipient <= LAST_ROLE; recipient++)
        for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
          any |= policy_may_record(role, recipient, 0, BIT(kind), purpose,
                                   BASIS_CONSENT, 0, NULL) == POLICY_OK;
    assert_true(any);
  }
}

static void test_r3_recipient_role(void **state) {
  (void)state;
  const int outsiders[] = {ROLE_TVS, ROLE_OPERATOR};
  for (size_t o = 0; o < COUNT(outsiders); o++) {
    for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
        for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++)
          for (int legal = 0; legal <= 1; legal++)
            CHECK_RULE(policy_may_disclose(kind, outsiders[o], purpose, basis,
                                           legal),
                       POLICY_R3_RECIPIENT_ROLE, "%s to %s\n",
                       s_kind_names[kind], s_role_names[outsiders[o]]);
    /* no consent names them */
    for (int recorder = FIRST_ROLE; recorder <= LAST_ROLE; recorder++) {
      if (s_outsider(recorder))
        continue;
      for (size_t s = 0; s < COUNT(s_some_sets); s++)
        for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++) {
          int bad = -77;
          CHECK_RULE(policy_may_record(recorder, outsiders[o], 0,
                                       s_some_sets[s], purpose, BASIS_CONSENT,
                                       0, &bad),
                     POLICY_R3_RECIPIENT_ROLE, "%s records for %s\n",
                     s_role_names[recorder], s_role_names[outsiders[o]]);
          assert_int_equal(bad, 0);
        }
    }
  }
  /* every other role may receive something */
  for (int role = FIRST_ROLE; role <= LAST_ROLE; role++) {
    if (s_outsider(role))
      continue;
    int any = 0;
    for (int kind = FIRST_KIND; kind <= LAST_KIND; kind++)
      for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++)
        any |= policy_may_disclose(kind, role, purpose, BASIS_CONSENT, 0) ==
               POLICY_OK;
    assert_true(any);
  }
}

static void test_r4_self(void **state) {
  (void)state;
  for (int recorder = FIRST_ROLE; recorder <= LAST_ROLE; recorder++)
    for (int recipient = FIRST_ROLE; recipient <= LAST_ROLE; recipient++)
      for (size_t s = 0; s < COUNT(s_some_sets); s++)
        for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++) {
          int bad = -77;
          policy_rule_t r = policy_may_record(recorder, recipient, 1,
                                              s_some_sets[s], purpose,
                                              BASIS_CONSENT, 1, &bad);
          CHECK_RULE(r, s_outsider(recorder) ? POLICY_R2_RECORDER_ROLE
                                             : POLICY_R4_SELF,
                     "%s records for itself\n", s_role_names[recorder]);
          assert_int_equal(bad, 0);
        }
  /* what is allowed to another is refused to oneself */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_COA, 0, BIT(KIND_HOUSING),
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     NULL),
                   POLICY_OK);
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_COA, 1, BIT(KIND_HOUSING),
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     NULL),
                   POLICY_R4_SELF);
  /* any non-zero self counts */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 2,
                                     BIT(KIND_HOUSING), PURPOSE_HUISVESTING,
                                     BASIS_CONSENT, 0, NULL),
                   POLICY_R4_SELF);
}

static void test_r5_recorder_kind(void **state) {
  (void)state;
  int bad = -77;
  /* COA does not write SUPPORT, the volunteer does */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                     BIT(KIND_SUPPORT), PURPOSE_BEGELEIDING,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_R5_RECORDER_KIND);
  assert_int_equal(bad, KIND_SUPPORT);
  assert_int_equal(policy_may_record(ROLE_VOLUNTEER, ROLE_GEMEENTE, 0,
                                     BIT(KIND_SUPPORT), PURPOSE_BEGELEIDING,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_OK);
  assert_int_equal(bad, 0);
  /* a volunteer cannot pass on COA's STORY */
  assert_int_equal(policy_may_record(ROLE_VOLUNTEER, ROLE_VOLUNTEER, 0,
                                     BIT(KIND_STORY) | BIT(KIND_SUPPORT),
                                     PURPOSE_BEGELEIDING, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R5_RECORDER_KIND);
  assert_int_equal(bad, KIND_STORY);
  /* the gemeente writes no IDENTITY, care no STORY */
  assert_int_equal(policy_may_record(ROLE_GEMEENTE, ROLE_COA, 0,
                                     BIT(KIND_IDENTITY), PURPOSE_HUISVESTING,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_R5_RECORDER_KIND);
  assert_int_equal(bad, KIND_IDENTITY);
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_GEMEENTE, 0,
                                     BIT(KIND_STORY), PURPOSE_ZORG,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_R5_RECORDER_KIND);
  assert_int_equal(bad, KIND_STORY);
}

/* ---- R10: unknown values ------------------------------------------------- */

static void test_r10_unknown(void **state) {
  (void)state;
  int bad = -77;
  /* policy_may_author: unknown role or kind */
  for (size_t i = 0; i < COUNT(s_bad_kinds); i++)
    for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
      assert_int_equal(policy_may_author(role, s_bad_kinds[i]),
                       POLICY_R10_UNKNOWN);
  /* policy_may_disclose: unknown kind, role or basis, whoever receives */
  for (int role = FIRST_ROLE; role <= LAST_ROLE; role++)
    for (int purpose = FIRST_PURPOSE; purpose <= LAST_PURPOSE; purpose++) {
      for (size_t i = 0; i < COUNT(s_bad_kinds); i++)
        assert_int_equal(policy_may_disclose(s_bad_kinds[i], role, purpose,
                                             BASIS_CONSENT, 1),
                         POLICY_R10_UNKNOWN);
      for (size_t i = 0; i < COUNT(s_bad_bases); i++)
        assert_int_equal(policy_may_disclose(KIND_IDENTITY, role, purpose,
                                             s_bad_bases[i], 1),
                         POLICY_R10_UNKNOWN);
    }
  for (size_t i = 0; i < COUNT(s_bad_roles); i++)
    assert_int_equal(policy_may_disclose(KIND_IDENTITY, s_bad_roles[i],
                                         PURPOSE_HUISVESTING, BASIS_CONSENT, 0),
                     POLICY_R10_UNKNOWN);
  /* policy_may_record: unknown roles, an empty set, unnamed bits */
  for (size_t i = 0; i < COUNT(s_bad_roles); i++) {
    assert_int_equal(policy_may_record(s_bad_roles[i], ROLE_GEMEENTE, 0,
                                       BIT(KIND_HOUSING), PURPOSE_HUISVESTING,
                                       BASIS_CONSENT, 0, &bad),
                     POLICY_R10_UNKNOWN);
    assert_int_equal(bad, 0);
    assert_int_equal(policy_may_record(ROLE_COA, s_bad_roles[i], 0,
                                       BIT(KIND_HOUSING), PURPOSE_HUISVESTING,
                                       BASIS_CONSENT, 0, &bad),
                     POLICY_R10_UNKNOWN);
    assert_int_equal(bad, 0);
  }
  const uint64_t bad_sets[] = {0,
                               BIT(0),
                               BIT(13),
                               BIT(63),
                               BIT(KIND_HOUSING) | BIT(0),
                               BIT(KIND_HOUSING) | BIT(13),
                               BIT(KIND_HOUSING) | BIT(63),
                               ~UINT64_C(0)};
  for (size_t i = 0; i < COUNT(bad_sets); i++)
    for (int recorder = FIRST_ROLE; recorder <= LAST_ROLE; recorder++) {
      bad = -77;
      assert_int_equal(policy_may_record(recorder, ROLE_GEMEENTE, 0,
                                         bad_sets[i], PURPOSE_HUISVESTING,
                                         BASIS_CONSENT, 0, &bad),
                       POLICY_R10_UNKNOWN);
      assert_int_equal(bad, 0);
    }
  /* an unknown purpose or basis fails on the first kind */
  for (size_t i = 0; i < COUNT(s_bad_purposes); i++) {
    assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                       BIT(KIND_HOUSING) | BIT(KIND_HOUSEHOLD),
                                       s_bad_purposes[i], BASIS_CONSENT, 0,
                                       &bad),
                     POLICY_R10_UNKNOWN);
    assert_int_equal(bad, KIND_HOUSEHOLD);
  }
  for (size_t i = 0; i < COUNT(s_bad_bases); i++) {
    assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                       BIT(KIND_HOUSING), PURPOSE_HUISVESTING,
                                       s_bad_bases[i], 1, &bad),
                     POLICY_R10_UNKNOWN);
    assert_int_equal(bad, KIND_HOUSING);
  }
}

/* ---- policy_may_record as a whole ---------------------------------------- */

static void test_record_bad_kind_is_first(void **state) {
  (void)state;
  int bad = -77;
  /* IDENTITY passes, STORY fails R6, SUPPORT would fail R5: STORY */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                     BIT(KIND_IDENTITY) | BIT(KIND_STORY) |
                                         BIT(KIND_SUPPORT),
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R6_PURPOSE_KIND);
  assert_int_equal(bad, KIND_STORY);
  /* without STORY, SUPPORT is the first that fails, on R5 */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                     BIT(KIND_IDENTITY) | BIT(KIND_HOUSING) |
                                         BIT(KIND_SUPPORT),
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R5_RECORDER_KIND);
  assert_int_equal(bad, KIND_SUPPORT);
  /* the lowest failing kind wins, whatever its rule: under ZORG, WORK (5)
   * fails R6 before HEALTH (10) fails R9; STORY passes, so HEALTH's R9 */
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_CARE, 0,
                                     BIT(KIND_WORK) | BIT(KIND_HEALTH),
                                     PURPOSE_ZORG, BASIS_LEGAL_DUTY, 0, &bad),
                   POLICY_R6_PURPOSE_KIND);
  assert_int_equal(bad, KIND_WORK);
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_CARE, 0,
                                     BIT(KIND_STORY) | BIT(KIND_HEALTH),
                                     PURPOSE_ZORG, BASIS_LEGAL_DUTY, 0, &bad),
                   POLICY_R9_SPECIAL_BASIS);
  assert_int_equal(bad, KIND_HEALTH);
  /* on success bad_kind is reset */
  bad = 99;
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0,
                                     BIT(KIND_IDENTITY) | BIT(KIND_HOUSEHOLD) |
                                         BIT(KIND_HOUSING),
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_OK);
  assert_int_equal(bad, 0);
  /* and when no kind is to blame */
  bad = 99;
  assert_int_equal(policy_may_record(ROLE_TVS, ROLE_GEMEENTE, 0,
                                     BIT(KIND_HOUSING), PURPOSE_HUISVESTING,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_R2_RECORDER_ROLE);
  assert_int_equal(bad, 0);
  bad = 99;
  assert_int_equal(policy_may_record(ROLE_COA, ROLE_GEMEENTE, 0, 0,
                                     PURPOSE_HUISVESTING, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R10_UNKNOWN);
  assert_int_equal(bad, 0);
  /* the highest kinds too */
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_GEMEENTE, 0,
                                     BIT(KIND_HEALTH) | BIT(KIND_CARE),
                                     PURPOSE_PARTICIPATIE, BASIS_CONSENT, 0,
                                     &bad),
                   POLICY_R6_PURPOSE_KIND); /* PARTICIPATIE: no HEALTH */
  assert_int_equal(bad, KIND_HEALTH);
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_GEMEENTE, 0,
                                     BIT(KIND_CARE), PURPOSE_PARTICIPATIE,
                                     BASIS_CONSENT, 0, &bad),
                   POLICY_OK);
  assert_int_equal(policy_may_record(ROLE_CARE, ROLE_GEMEENTE, 0,
                                     BIT(KIND_CARE), PURPOSE_ZORG,
                                     BASIS_LEGAL_DUTY, 0, &bad),
                   POLICY_R9_SPECIAL_BASIS);
  assert_int_equal(bad, KIND_CARE);
}

/* Every combination of recorder and recipient role, self, purpose, basis
 * and reference, over every section set of the twelve kinds. */
static void test_record_exhaustive(void **state) {
  (void)state;
  const int purposes[] = {PURPOSE_HUISVESTING, PURPOSE_INBURGERING,
                          PURPOSE_PARTICIPATIE, PURPOSE_ZORG,
                          PURPOSE_BEGELEIDING, 0};
  unsigned outcomes[POLICY_R10_UNKNOWN + 1] = {0};
  for (int recorder = FIRST_ROLE - 1; recorder <= LAST_ROLE + 1; recorder++)
    for (int recipient = FIRST_ROLE - 1; recipient <= LAST_ROLE + 1;
         recipient++)
      for (uint64_t sections = 0; sections < BIT(LAST_KIND + 1);
           sections += 2) {
        /* every set for the combinations that get as far as the kinds,
         * a sample of sets for the rest */
        int deep = s_role_known(recorder) && s_role_known(recipient) &&
                   !s_outsider(recorder) && !s_outsider(recipient);
        if (!deep && (sections % 254) != 0 && sections != 0x1ffe)
          continue;
        for (int self = 0; self <= 1; self++)
          for (size_t p = 0; p < COUNT(purposes); p++)
            for (int basis = 0; basis <= BASIS_LEGAL_DUTY; basis++)
              for (int legal = 0; legal <= 1; legal++) {
                if (self && (sections % 254) != 0)
                  continue; /* R4 is decided before the kinds */
                if ((basis == 0 || purposes[p] == 0) && (sections % 14) != 0)
                  continue; /* unknown ones fail on the first kind */
                int want_bad = 0;
                policy_rule_t want =
                    s_expect_record(recorder, recipient, self, sections,
                                    purposes[p], basis, legal, &want_bad);
                int got_bad = -77;
                policy_rule_t got =
                    policy_may_record(recorder, recipient, self, sections,
                                      purposes[p], basis, legal, &got_bad);
                if (got != want || got_bad != want_bad)
                  fail_msg("record by role %d for role %d self %d sections "
                           "%#llx purpose %d basis %d legal %d: %s kind %d, "
                           "want %s kind %d",
                           recorder, recipient, self,
                           (unsigned long long)sections, purposes[p], basis,
                           legal, policy_rule_id(got), got_bad,
                           policy_rule_id(want), want_bad);
                outcomes[got]++;
              }
      }
  /* every rule a consent can meet was met (R1 is for sections only) */
  for (int r = POLICY_OK; r <= POLICY_R10_UNKNOWN; r++)
    if (r != POLICY_R1_AUTHOR_KIND && outcomes[r] == 0)
      fail_msg("no consent was refused with %s", policy_rule_id(r));
  /* a few spot checks through the NULL-bad_kind path */
  s_check_record(ROLE_COA, ROLE_GEMEENTE, 0, BIT(KIND_HOUSING),
                 PURPOSE_HUISVESTING, BASIS_CONSENT, 0);
  s_check_record(ROLE_GEMEENTE, ROLE_VOLUNTEER, 0,
                 BIT(KIND_WORK) | BIT(KIND_PARTICIPATION), PURPOSE_PARTICIPATIE,
                 BASIS_CONSENT, 0);
  s_check_record(ROLE_CARE, ROLE_COA, 0, BIT(KIND_HEALTH), PURPOSE_ZORG,
                 BASIS_LEGAL_DUTY, 0);
}

/* policy_may_disclose over every value, named or not, near the edges. */
static void test_disclose_exhaustive(void **state) {
  (void)state;
  for (int kind = -2; kind <= 66; kind++)
    for (int role = -2; role <= 34; role++)
      for (int purpose = -1; purpose <= 7; purpose++)
        for (int basis = -1; basis <= 3; basis++)
          for (int legal = 0; legal <= 1; legal++)
            CHECK_RULE(policy_may_disclose(kind, role, purpose, basis, legal),
                       s_expect_disclose(kind, role, purpose, basis, legal),
                       "kind %d role %d purpose %d basis %d legal %d\n", kind,
                       role, purpose, basis, legal);
  /* any non-zero has_legal_reference counts */
  assert_int_equal(policy_may_disclose(KIND_HEALTH, ROLE_CARE, PURPOSE_ZORG,
                                       BASIS_LEGAL_DUTY, 7),
                   POLICY_OK);
}

/* ---- the rules' names, the counter --------------------------------------- */

static void test_rule_id_and_text(void **state) {
  (void)state;
  static const struct {
    policy_rule_t rule;
    const char *id, *text;
  } rules[] = {
      {POLICY_OK, "", "allowed"},
      {POLICY_R1_AUTHOR_KIND, "R1",
       "R1: the author's role may not write this section kind"},
      {POLICY_R2_RECORDER_ROLE, "R2",
       "R2: OPERATOR and TVS participants record no consents"},
      {POLICY_R3_RECIPIENT_ROLE, "R3",
       "R3: OPERATOR and TVS participants receive no sections"},
      {POLICY_R4_SELF, "R4", "R4: a participant cannot record consent for "
                             "itself"},
      {POLICY_R5_RECORDER_KIND, "R5",
       "R5: a consent covers only kinds its recorder's role writes"},
      {POLICY_R6_PURPOSE_KIND, "R6",
       "R6: the purpose does not cover this section kind"},
      {POLICY_R7_PURPOSE_ROLE, "R7",
       "R7: the purpose is not one the recipient's role serves"},
      {POLICY_R8_SPECIAL_VOLUNTEER, "R8",
       "R8: HEALTH and CARE never go to a VOLUNTEER"},
      {POLICY_R9_SPECIAL_BASIS, "R9",
       "R9: HEALTH and CARE need basis CONSENT, or LEGAL_DUTY with a legal "
       "reference"},
      {POLICY_R10_UNKNOWN, "R10",
       "R10: unknown role, section kind, purpose or basis"},
  };
  assert_int_equal(COUNT(rules), POLICY_R10_UNKNOWN + 1);
  for (size_t i = 0; i < COUNT(rules); i++) {
    assert_int_equal(rules[i].rule, (int)i); /* R<n> is number n */
    assert_string_equal(policy_rule_id(rules[i].rule), rules[i].id);
    assert_string_equal(policy_rule_text(rules[i].rule), rules[i].text);
    if (i > 0) {
      char prefix[8];
      snprintf(prefix, sizeof prefix, "R%zu: ", i);
      assert_int_equal(strncmp(policy_rule_text(rules[i].rule), prefix,
                               strlen(prefix)),
                       0);
    }
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(policy_rule_text(rules[i].rule),
                              policy_rule_text(rules[j].rule));
  }
  /* numbers that are no rule */
  const int bogus[] = {POLICY_R10_UNKNOWN + 1, 12, 100, -1, -100};
  for (size_t i = 0; i < COUNT(bogus); i++) {
    assert_string_equal(policy_rule_id((policy_rule_t)bogus[i]), "R?");
    assert_string_equal(policy_rule_text((policy_rule_t)bogus[i]),
                        "unknown policy rule");
  }
}

static void test_is_counter(void **state) {
  (void)state;
  for (int role = -2; role <= 40; role++)
    assert_int_equal(policy_is_counter(role) != 0, role == ROLE_COA);
}

/* Retention (issue 9): every section kind of the wire has a default, at
 * least a month and within the 30-year maximum a PUT may ask for; no
 * kind that is not one has any. */
static void test_retention_defaults(void **state) {
  (void)state;
  /* by the enum's constants (no descriptor: the mutation run links the
   * policy tests without protobuf-c) */
  unsigned kinds = 0;
  assert_int_equal(policy_retention_ms(KETEN__SECTION_KIND__SECTION_UNSPECIFIED),
                   0);
  for (int kind = KETEN__SECTION_KIND__SECTION_IDENTITY;
       kind <= KETEN__SECTION_KIND__SECTION_CARE; kind++) {
    int64_t ms = policy_retention_ms(kind);
    if (ms < 30 * POLICY_DAY_MS || ms > POLICY_MAX_RETENTION_MS)
      fail_msg("kind %d: default retention %lld ms", kind, (long long)ms);
    kinds++;
  }
  assert_int_equal(kinds, 12);
  assert_int_equal(policy_retention_ms(-1), 0);
  assert_int_equal(policy_retention_ms(13), 0);
  assert_int_equal(policy_retention_ms(63), 0);
  assert_int_equal(policy_retention_ms(64), 0);
  assert_true(POLICY_MAX_RETENTION_MS >= 30 * 365 * POLICY_DAY_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enum_numbers),
      cmocka_unit_test(test_author_coa),
      cmocka_unit_test(test_author_gemeente),
      cmocka_unit_test(test_author_volunteer),
      cmocka_unit_test(test_author_care),
      cmocka_unit_test(test_author_tvs),
      cmocka_unit_test(test_author_operator),
      cmocka_unit_test(test_author_unknown_roles),
      cmocka_unit_test(test_purpose_huisvesting),
      cmocka_unit_test(test_purpose_inburgering),
      cmocka_unit_test(test_purpose_participatie),
      cmocka_unit_test(test_purpose_zorg),
      cmocka_unit_test(test_purpose_begeleiding),
      cmocka_unit_test(test_purpose_unknown),
      cmocka_unit_test(test_r8_special_never_to_volunteer),
      cmocka_unit_test(test_r9_special_basis),
      cmocka_unit_test(test_r2_recorder_role),
      cmocka_unit_test(test_r3_recipient_role),
      cmocka_unit_test(test_r4_self),
      cmocka_unit_test(test_r5_recorder_kind),
      cmocka_unit_test(test_r10_unknown),
      cmocka_unit_test(test_record_bad_kind_is_first),
      cmocka_unit_test(test_record_exhaustive),
      cmocka_unit_test(test_disclose_exhaustive),
      cmocka_unit_test(test_rule_id_and_text),
      cmocka_unit_test(test_is_counter),
      cmocka_unit_test(test_retention_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
