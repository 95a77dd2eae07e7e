/* Unit tests of the consent rule: the cases one by one, then a property
 * test that throws thousands of random consent sets and requests at
 * consent_allows() and checks every answer against the design's rule,
 * written out plainly here as an independent oracle (the policy table
 * included: the oracle never calls consent.c or policy.c to decide).
 *
 * The rule (broker/consent.h): participant P may receive section S
 * (subject X, kind K, author A) only if P is A, or an active consent
 * recorded by A itself covers X, K and P, and the policy table allows K to
 * P's role for that consent's purpose and basis. A consent covers P when
 * it names P, or names "@gemeente" while P is the gemeente X is linked to
 * now (the query's linked_gemeente; none if NULL). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "consent.h"
#include "tvs.h"

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

#define BIT(k) (UINT64_C(1) << (k))

/* The reasons consent.c documents (consent_decision_t.reason). */
#define R_AUTHOR "author"
#define R_CONSENT "consent"
#define R_NONE "no consent of the author names this participant for this subject"
#define R_KIND "unknown section kind"
#define R_SECTION "consent does not cover this section"
#define R_REVOKED "consent revoked"
#define R_NOT_YET "consent not yet valid"
#define R_EXPIRED "consent expired"

/* Participants of the case tests. */
#define COA "coa"
#define GEM "gemeente:0363"
#define GEM2 "gemeente:0344"
#define VWN "vrijwilliger:vwn"
#define ASE "vrijwilliger:ase"
#define GGZ "ggz:parnassia"
#define TVS "tvs:rijk"
#define OPERATOR "operator:keten"

static const uint8_t s_subject_x[32] = {0x58, 1, 2, 3, 4, 5, 6, 7};
static const uint8_t s_subject_y[32] = {0x59, 1, 2, 3, 4, 5, 6, 7};

/* A consent recorded by recorder for recipient, on basis CONSENT. */
static consent_t s_consent(const char *recorder, const uint8_t subject[32],
                           const char *recipient, uint64_t sections,
                           int purpose, int64_t from, int64_t until) {
  consent_t c;
  memset(&c, 0, sizeof c);
  memset(c.consent_id, 0xc0, sizeof c.consent_id);
  memcpy(c.subject, subject, 32);
  snprintf(c.recorded_by, sizeof c.recorded_by, "%s", recorder);
  snprintf(c.recipient, sizeof c.recipient, "%s", recipient);
  c.sections = sections;
  c.purpose = purpose;
  c.basis = BASIS_CONSENT;
  c.valid_from_ms = from;
  c.valid_until_ms = until;
  return c;
}

static consent_decision_t s_ask(const consent_t *list, size_t n,
                                const char *participant, int role,
                                const uint8_t *subject, int kind,
                                const char *author, int64_t now) {
  consent_query_t q = {participant, role, subject, kind, author, now, NULL};
  return consent_allows(list, n, &q);
}

static void s_expect(consent_decision_t d, consent_verdict_t verdict,
                     const consent_t *consent, const char *reason) {
  assert_int_equal(d.verdict, verdict);
  assert_ptr_equal(d.consent, consent);
  assert_int_equal(d.rule, POLICY_OK);
  assert_non_null(d.reason);
  assert_string_equal(d.reason, reason);
}

/* A denial because the policy table refused rule (for the best consent). */
static void s_expect_rule(consent_decision_t d, policy_rule_t rule,
                          const char *id) {
  assert_int_equal(d.verdict, CONSENT_DENIED);
  assert_null(d.consent);
  assert_int_equal(d.rule, rule);
  assert_non_null(d.reason);
  assert_string_equal(d.reason, policy_rule_text(rule));
  /* the reason names the rule ("R8: ...") */
  assert_int_equal(strncmp(d.reason, id, strlen(id)), 0);
  assert_int_equal(d.reason[strlen(id)], ':');
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
  assert_int_equal(KIND_STORY, KETEN__SECTION_KIND__SECTION_STORY);
  assert_int_equal(KIND_HOUSING, KETEN__SECTION_KIND__SECTION_HOUSING);
  assert_int_equal(KIND_HEALTH, KETEN__SECTION_KIND__SECTION_HEALTH);
  assert_int_equal(KIND_SUPPORT, KETEN__SECTION_KIND__SECTION_SUPPORT);
  assert_int_equal(KIND_CARE, KETEN__SECTION_KIND__SECTION_CARE);
  assert_int_equal(PURPOSE_HUISVESTING, KETEN__PURPOSE__PURPOSE_HUISVESTING);
  assert_int_equal(PURPOSE_BEGELEIDING, KETEN__PURPOSE__PURPOSE_BEGELEIDING);
  assert_int_equal(BASIS_CONSENT, KETEN__BASIS__BASIS_CONSENT);
  assert_int_equal(BASIS_LEGAL_DUTY, KETEN__BASIS__BASIS_LEGAL_DUTY);
}

static void test_author_reads_own_section(void **state) {
  (void)state;
  /* no consents at all */
  s_expect(s_ask(NULL, 0, COA, ROLE_COA, s_subject_x, KIND_STORY, COA, 1000),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
  /* consents that would deny (revoked, for someone else) do not matter,
   * nor does the policy: the author reads its own HEALTH section */
  consent_t list[2] = {
      s_consent(COA, s_subject_x, COA, BIT(KIND_STORY), PURPOSE_ZORG, 0, 10),
      s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY), PURPOSE_ZORG, 0, 5000)};
  list[0].revoked = 1;
  s_expect(s_ask(list, 2, COA, ROLE_COA, s_subject_x, KIND_HEALTH, COA, 1000),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
  s_expect(s_ask(list, 2, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_SUPPORT, VWN,
                 1000),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
  /* someone else's section is not the author's */
  s_expect(s_ask(NULL, 0, COA, ROLE_COA, s_subject_x, KIND_STORY, GEM, 1000),
           CONSENT_DENIED, NULL, R_NONE);
  /* no author given: only the author's consents open a section, so none */
  s_expect(s_ask(NULL, 0, COA, ROLE_COA, s_subject_x, KIND_STORY, NULL, 1000),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask(list, 2, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, NULL,
                 1000),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_active_consent_allows(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM,
                          BIT(KIND_STORY) | BIT(KIND_HOUSING),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA, 1500),
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING, COA,
                 1000), /* valid_from is inclusive */
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING, COA,
                 1999),
           CONSENT_ALLOWED, &c, R_CONSENT);
  assert_true(consent_is_active(&c, 1000));
  assert_true(consent_is_active(&c, 1999));
  /* a volunteer's consent opens the volunteer's own SUPPORT section */
  consent_t v = s_consent(VWN, s_subject_x, GEM, BIT(KIND_SUPPORT),
                          PURPOSE_BEGELEIDING, 1000, 2000);
  s_expect(s_ask(&v, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_SUPPORT, VWN,
                 1500),
           CONSENT_ALLOWED, &v, R_CONSENT);
  /* HEALTH to care on basis CONSENT, and on LEGAL_DUTY with a reference */
  consent_t h = s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH), PURPOSE_ZORG,
                          1000, 2000);
  s_expect(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 1500),
           CONSENT_ALLOWED, &h, R_CONSENT);
  h.basis = BASIS_LEGAL_DUTY;
  h.has_legal_reference = 1;
  s_expect(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 1500),
           CONSENT_ALLOWED, &h, R_CONSENT);
}

static void test_expired(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  /* valid_until is exclusive: now == valid_until is already expired */
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA, 2000),
           CONSENT_DENIED, NULL, R_EXPIRED);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 99999),
           CONSENT_DENIED, NULL, R_EXPIRED);
  assert_false(consent_is_active(&c, 2000));
  /* an empty window is never active */
  consent_t empty = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                              PURPOSE_INBURGERING, 1000, 1000);
  assert_false(consent_is_active(&empty, 1000));
  assert_false(consent_is_active(&empty, 999));
  s_expect(s_ask(&empty, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 1000),
           CONSENT_DENIED, NULL, R_EXPIRED);
}

static void test_not_yet_valid(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA, 999),
           CONSENT_DENIED, NULL, R_NOT_YET);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 -5000),
           CONSENT_DENIED, NULL, R_NOT_YET);
  assert_false(consent_is_active(&c, 999));
}

static void test_revoked(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  c.revoked = 1;
  c.revoked_at_ms = 1200;
  /* revoked is revoked, also inside the window and before revoked_at */
  for (int64_t now = 1000; now < 2000; now += 100)
    s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                   now),
             CONSENT_DENIED, NULL, R_REVOKED);
  assert_false(consent_is_active(&c, 1500));
  assert_false(consent_is_active(&c, 1100));
}

static void test_wrong_section(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, VWN,
                          BIT(KIND_STORY) | BIT(KIND_HOUSING),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HEALTH, COA,
                 1500),
           CONSENT_DENIED, NULL, R_SECTION);
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_IDENTITY, COA,
                 1500),
           CONSENT_DENIED, NULL, R_SECTION);
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY, COA,
                 1500),
           CONSENT_ALLOWED, &c, R_CONSENT);
  /* bit 63 is covered only when set; kind 63 is then no kind the policy
   * knows (R10) */
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, 63, COA, 1500),
           CONSENT_DENIED, NULL, R_SECTION);
  c.sections |= BIT(63);
  s_expect_rule(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, 63, COA, 1500),
                POLICY_R10_UNKNOWN, "R10");
}

static void test_wrong_recipient(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask(&c, 1, GEM2, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* a prefix of the recipient is not the recipient, nor is a longer id */
  s_expect(s_ask(&c, 1, "gemeente:036", ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                 COA, 1500),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask(&c, 1, "gemeente:03630", ROLE_GEMEENTE, s_subject_x,
                 KIND_STORY, COA, 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* the recorder is not a recipient of its own consent (of another
   * author's section) */
  s_expect(s_ask(&c, 1, COA, ROLE_COA, s_subject_x, KIND_STORY, GGZ, 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* the role does not make a participant the recipient */
  s_expect(s_ask(&c, 1, VWN, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 1500),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_wrong_subject(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_y, KIND_STORY, COA, 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* subjects that differ only in their last byte */
  uint8_t z[32];
  memcpy(z, s_subject_x, 32);
  z[31] ^= 1;
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, z, KIND_STORY, COA, 1500),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_unknown_kind(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, ~UINT64_C(0),
                          PURPOSE_BEGELEIDING, 1000, 2000);
  const int kinds[] = {0, 64, 65, -1, 1000, -64};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, kinds[i], COA, 1500),
             CONSENT_DENIED, NULL, R_KIND);
  /* also without an author */
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, 0, NULL, 1500),
           CONSENT_DENIED, NULL, R_KIND);
  /* kinds a consent's bit set can hold but keten.proto does not name */
  const int unnamed[] = {13, 32, 63};
  for (size_t i = 0; i < sizeof unnamed / sizeof unnamed[0]; i++)
    s_expect_rule(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, unnamed[i], COA,
                        1500),
                  POLICY_R10_UNKNOWN, "R10");
  /* the named ones the purpose covers pass */
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_WORK, COA, 1500),
           CONSENT_ALLOWED, &c, R_CONSENT);
}

static void test_revoked_and_active(void **state) {
  (void)state;
  consent_t list[3] = {
      s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH), PURPOSE_ZORG, 1000,
                2000),
      s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH), PURPOSE_ZORG, 1000,
                3000),
      s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH), PURPOSE_ZORG, 5000,
                6000)};
  list[0].revoked = 1;
  list[0].consent_id[0] = 1;
  list[1].consent_id[0] = 2;
  list[2].consent_id[0] = 3;
  consent_decision_t d =
      s_ask(list, 3, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 1500);
  s_expect(d, CONSENT_ALLOWED, &list[1], R_CONSENT);
  assert_int_equal(d.consent->consent_id[0], 2);
  /* the other way round too */
  consent_t swapped[2] = {list[1], list[0]};
  s_expect(s_ask(swapped, 2, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA,
                 1500),
           CONSENT_ALLOWED, &swapped[0], R_CONSENT);
  /* after the second one ended, only an expired and a revoked one remain */
  d = s_ask(list, 3, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 4000);
  assert_int_equal(d.verdict, CONSENT_DENIED);
  assert_null(d.consent);
  assert_true(strcmp(d.reason, R_REVOKED) == 0 ||
              strcmp(d.reason, R_EXPIRED) == 0 ||
              strcmp(d.reason, R_NOT_YET) == 0);
  /* and the third one takes over once it starts */
  s_expect(s_ask(list, 3, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 5000),
           CONSENT_ALLOWED, &list[2], R_CONSENT);
}

/* ---- a consent recorded by anyone but the author never allows ---------- */

static void test_colluding_volunteers(void **state) {
  (void)state;
  /* two volunteers grant each other everything about X */
  consent_t list[2] = {
      s_consent(VWN, s_subject_x, ASE, ~UINT64_C(0), PURPOSE_BEGELEIDING, 0,
                10000),
      s_consent(ASE, s_subject_x, VWN, ~UINT64_C(0), PURPOSE_BEGELEIDING, 0,
                10000)};
  const char *const others[] = {COA, GEM, GGZ};
  for (int k = KIND_IDENTITY; k <= KIND_CARE; k++)
    for (size_t a = 0; a < sizeof others / sizeof others[0]; a++) {
      s_expect(s_ask(list, 2, ASE, ROLE_VOLUNTEER, s_subject_x, k, others[a],
                     5000),
               CONSENT_DENIED, NULL, R_NONE);
      s_expect(s_ask(list, 2, VWN, ROLE_VOLUNTEER, s_subject_x, k, others[a],
                     5000),
               CONSENT_DENIED, NULL, R_NONE);
    }
  /* each opens only what it wrote itself */
  s_expect(s_ask(list, 2, ASE, ROLE_VOLUNTEER, s_subject_x, KIND_SUPPORT, VWN,
                 5000),
           CONSENT_ALLOWED, &list[0], R_CONSENT);
  s_expect(s_ask(list, 2, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_SUPPORT, ASE,
                 5000),
           CONSENT_ALLOWED, &list[1], R_CONSENT);
  /* and a third volunteer gets nothing from either */
  s_expect(s_ask(list, 2, "vrijwilliger:derde", ROLE_VOLUNTEER, s_subject_x,
                 KIND_SUPPORT, VWN, 5000),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_operator_consent(void **state) {
  (void)state;
  /* an OPERATOR-recorded consent (the broker refuses to record one, R2)
   * opens nobody else's section */
  consent_t c = s_consent(OPERATOR, s_subject_x, GEM, ~UINT64_C(0),
                          PURPOSE_INBURGERING, 0, 10000);
  const char *const authors[] = {COA, GGZ, VWN, GEM2};
  for (int k = KIND_IDENTITY; k <= KIND_CARE; k++)
    for (size_t a = 0; a < sizeof authors / sizeof authors[0]; a++)
      s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, k, authors[a],
                     5000),
               CONSENT_DENIED, NULL, R_NONE);
  /* nor does one an operator received */
  consent_t o = s_consent(COA, s_subject_x, OPERATOR, ~UINT64_C(0),
                          PURPOSE_INBURGERING, 0, 10000);
  s_expect(s_ask(&o, 1, OPERATOR, ROLE_OPERATOR, s_subject_x, KIND_STORY, GEM,
                 5000),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_coa_consent_not_gemeente_section(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, VWN,
                          BIT(KIND_HOUSEHOLD) | BIT(KIND_WORK),
                          PURPOSE_INBURGERING, 0, 10000);
  /* the gemeente's HOUSEHOLD section stays closed ... */
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HOUSEHOLD, GEM,
                 5000),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_WORK, GEM, 5000),
           CONSENT_DENIED, NULL, R_NONE);
  /* ... while COA's own one opens */
  s_expect(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HOUSEHOLD, COA,
                 5000),
           CONSENT_ALLOWED, &c, R_CONSENT);
  /* and the gemeente's consent opens the gemeente's section, not COA's */
  consent_t g = s_consent(GEM, s_subject_x, VWN, BIT(KIND_HOUSEHOLD),
                          PURPOSE_INBURGERING, 0, 10000);
  consent_t both[2] = {g, c};
  s_expect(s_ask(both, 2, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HOUSEHOLD, GEM,
                 5000),
           CONSENT_ALLOWED, &both[0], R_CONSENT);
  s_expect(s_ask(both, 2, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HOUSEHOLD, COA,
                 5000),
           CONSENT_ALLOWED, &both[1], R_CONSENT);
  s_expect(s_ask(&g, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HOUSEHOLD, COA,
                 5000),
           CONSENT_DENIED, NULL, R_NONE);
  /* the recipient's own consent for itself opens nothing of another's */
  consent_t self = s_consent(GEM, s_subject_x, GEM, ~UINT64_C(0),
                             PURPOSE_INBURGERING, 0, 10000);
  s_expect(s_ask(&self, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 5000),
           CONSENT_DENIED, NULL, R_NONE);
  /* the author's consent for another subject does not help either */
  consent_t y = s_consent(COA, s_subject_y, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 0, 10000);
  consent_t mix[2] = {y, s_consent(GEM2, s_subject_x, GEM, BIT(KIND_STORY),
                                   PURPOSE_INBURGERING, 0, 10000)};
  s_expect(s_ask(mix, 2, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                 5000),
           CONSENT_DENIED, NULL, R_NONE);
}

/* ---- the policy table through consent_allows ---------------------------- */

static void test_policy_special_to_volunteer(void **state) {
  (void)state;
  /* R8: HEALTH and CARE never go to a VOLUNTEER, whatever the consent */
  for (int purpose = PURPOSE_HUISVESTING; purpose <= PURPOSE_BEGELEIDING;
       purpose++)
    for (int basis = BASIS_CONSENT; basis <= BASIS_LEGAL_DUTY; basis++) {
      consent_t h = s_consent(COA, s_subject_x, VWN, BIT(KIND_HEALTH), purpose,
                              0, 10000);
      consent_t c = s_consent(GGZ, s_subject_x, VWN,
                              BIT(KIND_HEALTH) | BIT(KIND_CARE), purpose, 0,
                              10000);
      h.basis = c.basis = basis;
      h.has_legal_reference = c.has_legal_reference = 1;
      s_expect_rule(s_ask(&h, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HEALTH,
                          COA, 5000),
                    POLICY_R8_SPECIAL_VOLUNTEER, "R8");
      s_expect_rule(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_CARE,
                          GGZ, 5000),
                    POLICY_R8_SPECIAL_VOLUNTEER, "R8");
      s_expect_rule(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_HEALTH,
                          GGZ, 5000),
                    POLICY_R8_SPECIAL_VOLUNTEER, "R8");
    }
  /* the same consent to a CARE participant passes: the role decides */
  consent_t c = s_consent(GGZ, s_subject_x, VWN, BIT(KIND_CARE),
                          PURPOSE_PARTICIPATIE, 0, 10000);
  s_expect_rule(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_CARE, GGZ,
                      5000),
                POLICY_R8_SPECIAL_VOLUNTEER, "R8");
  s_expect(s_ask(&c, 1, VWN, ROLE_CARE, s_subject_x, KIND_CARE, GGZ, 5000),
           CONSENT_ALLOWED, &c, R_CONSENT);
}

static void test_policy_special_basis(void **state) {
  (void)state;
  /* R9: HEALTH needs CONSENT, or LEGAL_DUTY with a legal reference */
  consent_t h = s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH) |
                          BIT(KIND_STORY), PURPOSE_ZORG, 0, 10000);
  h.basis = BASIS_LEGAL_DUTY;
  h.has_legal_reference = 0;
  s_expect_rule(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA,
                      5000),
                POLICY_R9_SPECIAL_BASIS, "R9");
  /* not special: LEGAL_DUTY without a reference is enough for STORY */
  s_expect(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_STORY, COA, 5000),
           CONSENT_ALLOWED, &h, R_CONSENT);
  h.has_legal_reference = 1;
  s_expect(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 5000),
           CONSENT_ALLOWED, &h, R_CONSENT);
  /* a legal reference on basis CONSENT is harmless */
  h.basis = BASIS_CONSENT;
  s_expect(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA, 5000),
           CONSENT_ALLOWED, &h, R_CONSENT);
}

static void test_policy_purpose_kind(void **state) {
  (void)state;
  /* R6: HUISVESTING covers IDENTITY, HOUSEHOLD and HOUSING, not STORY */
  consent_t c = s_consent(COA, s_subject_x, GEM,
                          BIT(KIND_IDENTITY) | BIT(KIND_STORY) |
                              BIT(KIND_HOUSING) | BIT(KIND_WORK),
                          PURPOSE_HUISVESTING, 0, 10000);
  s_expect_rule(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                      5000),
                POLICY_R6_PURPOSE_KIND, "R6");
  s_expect_rule(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_WORK, COA,
                      5000),
                POLICY_R6_PURPOSE_KIND, "R6");
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_IDENTITY, COA,
                 5000),
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING, COA,
                 5000),
           CONSENT_ALLOWED, &c, R_CONSENT);
  /* HEALTH under INBURGERING to care: not covered */
  consent_t h = s_consent(COA, s_subject_x, GGZ, BIT(KIND_HEALTH),
                          PURPOSE_INBURGERING, 0, 10000);
  s_expect_rule(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HEALTH, COA,
                      5000),
                POLICY_R6_PURPOSE_KIND, "R6");
}

static void test_policy_purpose_role(void **state) {
  (void)state;
  /* R7: ZORG covers STORY, but a volunteer does not serve ZORG */
  consent_t c = s_consent(COA, s_subject_x, VWN, BIT(KIND_STORY), PURPOSE_ZORG,
                          0, 10000);
  s_expect_rule(s_ask(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY, COA,
                      5000),
                POLICY_R7_PURPOSE_ROLE, "R7");
  /* HUISVESTING is not care's purpose */
  consent_t h = s_consent(COA, s_subject_x, GGZ, BIT(KIND_HOUSING),
                          PURPOSE_HUISVESTING, 0, 10000);
  s_expect_rule(s_ask(&h, 1, GGZ, ROLE_CARE, s_subject_x, KIND_HOUSING, COA,
                      5000),
                POLICY_R7_PURPOSE_ROLE, "R7");
  /* PARTICIPATIE is not COA's */
  consent_t p = s_consent(GEM, s_subject_x, COA, BIT(KIND_WORK),
                          PURPOSE_PARTICIPATIE, 0, 10000);
  s_expect_rule(s_ask(&p, 1, COA, ROLE_COA, s_subject_x, KIND_WORK, GEM, 5000),
                POLICY_R7_PURPOSE_ROLE, "R7");
  p.purpose = PURPOSE_BEGELEIDING;
  s_expect(s_ask(&p, 1, COA, ROLE_COA, s_subject_x, KIND_WORK, GEM, 5000),
           CONSENT_ALLOWED, &p, R_CONSENT);
}

static void test_policy_recipient_role(void **state) {
  (void)state;
  /* R3: OPERATOR and TVS participants receive nothing */
  for (int k = KIND_IDENTITY; k <= KIND_CARE; k++)
    for (int purpose = PURPOSE_HUISVESTING; purpose <= PURPOSE_BEGELEIDING;
         purpose++) {
      consent_t t = s_consent(COA, s_subject_x, TVS, ~UINT64_C(0), purpose, 0,
                              10000);
      consent_t o = s_consent(COA, s_subject_x, OPERATOR, ~UINT64_C(0), purpose,
                              0, 10000);
      s_expect_rule(s_ask(&t, 1, TVS, ROLE_TVS, s_subject_x, k, COA, 5000),
                    POLICY_R3_RECIPIENT_ROLE, "R3");
      s_expect_rule(s_ask(&o, 1, OPERATOR, ROLE_OPERATOR, s_subject_x, k, COA,
                          5000),
                    POLICY_R3_RECIPIENT_ROLE, "R3");
    }
}

static void test_policy_unknown_values(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 0, 10000);
  /* an unknown recipient role */
  const int roles[] = {0, 7, -1, 31, 32, 1000};
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    s_expect_rule(s_ask(&c, 1, GEM, roles[i], s_subject_x, KIND_STORY, COA,
                        5000),
                  POLICY_R10_UNKNOWN, "R10");
  /* an unknown purpose or basis in the consent */
  const int bad[] = {0, 6, -1, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    consent_t p = c, b = c;
    p.purpose = bad[i];
    b.basis = bad[i] == 6 ? 3 : bad[i];
    s_expect_rule(s_ask(&p, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                        5000),
                  POLICY_R10_UNKNOWN, "R10");
    s_expect_rule(s_ask(&b, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                        5000),
                  POLICY_R10_UNKNOWN, "R10");
  }
}

static void test_reason_ranking(void **state) {
  (void)state;
  /* near misses, from the least telling to the most:
   * not covering < revoked / not yet valid / expired < policy refusal */
  consent_t uncovering = s_consent(COA, s_subject_x, VWN, BIT(KIND_IDENTITY),
                                   PURPOSE_INBURGERING, 0, 10000);
  consent_t expired = s_consent(COA, s_subject_x, VWN, BIT(KIND_STORY),
                                PURPOSE_INBURGERING, 0, 100);
  consent_t refused = s_consent(COA, s_subject_x, VWN, BIT(KIND_STORY),
                                PURPOSE_ZORG, 0, 10000); /* R7 */
  consent_t good = s_consent(COA, s_subject_x, VWN, BIT(KIND_STORY),
                             PURPOSE_BEGELEIDING, 0, 10000);
  consent_t other = s_consent(GEM, s_subject_x, VWN, BIT(KIND_STORY),
                              PURPOSE_BEGELEIDING, 0, 10000);
  /* every order of each combination */
  const consent_t *const sets[][4] = {
      {&uncovering, &other, NULL, NULL},
      {&uncovering, &expired, &other, NULL},
      {&uncovering, &expired, &refused, &other},
      {&uncovering, &expired, &refused, &good},
  };
  const char *const reasons[] = {R_SECTION, R_EXPIRED, NULL, R_CONSENT};
  for (size_t s = 0; s < 4; s++) {
    size_t n = 0;
    while (n < 4 && sets[s][n])
      n++;
    /* all rotations and their reverses */
    for (size_t rot = 0; rot < n; rot++)
      for (int rev = 0; rev < 2; rev++) {
        consent_t list[4];
        for (size_t i = 0; i < n; i++) {
          size_t j = (rot + i) % n;
          list[rev ? n - 1 - i : i] = *sets[s][j];
        }
        consent_decision_t d =
            s_ask(list, n, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY, COA,
                  5000);
        if (reasons[s] == NULL) {
          s_expect_rule(d, POLICY_R7_PURPOSE_ROLE, "R7");
        } else if (strcmp(reasons[s], R_CONSENT) == 0) {
          assert_int_equal(d.verdict, CONSENT_ALLOWED);
          assert_non_null(d.consent);
          assert_int_equal(d.consent->purpose, PURPOSE_BEGELEIDING);
          assert_string_equal(d.consent->recorded_by, COA);
          assert_true(d.consent >= list && d.consent < list + n);
          assert_int_equal(d.rule, POLICY_OK);
          assert_string_equal(d.reason, R_CONSENT);
        } else {
          s_expect(d, CONSENT_DENIED, NULL, reasons[s]);
        }
      }
  }
  /* a revoked, a not yet valid and an expired one: one of their reasons */
  consent_t revoked = expired, early = expired;
  revoked.valid_until_ms = 10000;
  revoked.revoked = 1;
  early.valid_from_ms = 9000;
  early.valid_until_ms = 10000;
  consent_t three[3] = {revoked, early, expired};
  consent_decision_t d =
      s_ask(three, 3, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY, COA, 5000);
  assert_int_equal(d.verdict, CONSENT_DENIED);
  assert_int_equal(d.rule, POLICY_OK);
  assert_true(strcmp(d.reason, R_REVOKED) == 0 ||
              strcmp(d.reason, R_NOT_YET) == 0 ||
              strcmp(d.reason, R_EXPIRED) == 0);
  /* a revoked consent outside its window reads as revoked */
  revoked.valid_until_ms = 100;
  s_expect(s_ask(&revoked, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY, COA,
                 5000),
           CONSENT_DENIED, NULL, R_REVOKED);
  /* a refused consent that is also expired is just expired (the policy is
   * asked only of active consents) */
  consent_t old_refused = refused;
  old_refused.valid_until_ms = 100;
  s_expect(s_ask(&old_refused, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY,
                 COA, 5000),
           CONSENT_DENIED, NULL, R_EXPIRED);
}

/* ---- consents naming "@gemeente": the subject's linked gemeente ------------ */

/* As s_ask, with the gemeente the subject is linked to now (or NULL). */
static consent_decision_t s_ask_linked(const consent_t *list, size_t n,
                                       const char *participant, int role,
                                       const uint8_t *subject, int kind,
                                       const char *author, int64_t now,
                                       const char *linked) {
  consent_query_t q = {participant, role, subject, kind, author, now, linked};
  return consent_allows(list, n, &q);
}

#define LINKED "@gemeente"

static void test_linked_recipient_name(void **state) {
  (void)state;
  /* the oracle below spells the reserved recipient out; it is proto's */
  assert_string_equal(TVS_LINKED_GEMEENTE, LINKED);
  assert_true(tvs_is_linked_recipient(LINKED));
  assert_false(tvs_is_linked_recipient(GEM));
  assert_false(tvs_is_linked_recipient("@gemeente:0363"));
  assert_false(tvs_is_linked_recipient("@Gemeente"));
  assert_false(tvs_is_linked_recipient("gemeente"));
  assert_false(tvs_is_linked_recipient(""));
  assert_false(tvs_is_linked_recipient(NULL));
}

static void test_linked_consent_allows_linked_gemeente(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, LINKED,
                          BIT(KIND_STORY) | BIT(KIND_HOUSING),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING,
                        COA, 1000, GEM),
           CONSENT_ALLOWED, &c, R_CONSENT);
  /* whichever gemeente it is, as long as it is the linked one */
  s_expect(s_ask_linked(&c, 1, GEM2, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1999, GEM2),
           CONSENT_ALLOWED, &c, R_CONSENT);
  /* next to consents that do not apply, in either order */
  consent_t list[3] = {
      s_consent(COA, s_subject_y, LINKED, BIT(KIND_STORY), PURPOSE_INBURGERING,
                1000, 2000),
      s_consent(COA, s_subject_x, GEM2, BIT(KIND_STORY), PURPOSE_INBURGERING,
                1000, 2000),
      c};
  s_expect(s_ask_linked(list, 3, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_ALLOWED, &list[2], R_CONSENT);
  consent_t rev[3] = {list[2], list[1], list[0]};
  s_expect(s_ask_linked(rev, 3, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_ALLOWED, &rev[0], R_CONSENT);
  /* a direct consent still allows, whatever the link says */
  consent_t d = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask_linked(&d, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM2),
           CONSENT_ALLOWED, &d, R_CONSENT);
  s_expect(s_ask_linked(&d, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, NULL),
           CONSENT_ALLOWED, &d, R_CONSENT);
  /* the author still reads its own section, linked or not */
  s_expect(s_ask_linked(&c, 1, COA, ROLE_COA, s_subject_x, KIND_STORY, COA,
                        1500, GEM),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
}

static void test_linked_consent_not_another_gemeente(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, LINKED, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  /* X is linked to GEM: GEM2 is not its gemeente */
  s_expect(s_ask_linked(&c, 1, GEM2, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* and the other way round */
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM2),
           CONSENT_DENIED, NULL, R_NONE);
  /* nor ids that share a prefix with the linked gemeente */
  s_expect(s_ask_linked(&c, 1, "gemeente:036", ROLE_GEMEENTE, s_subject_x,
                        KIND_STORY, COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask_linked(&c, 1, "gemeente:03630", ROLE_GEMEENTE, s_subject_x,
                        KIND_STORY, COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* nor anyone else whose role the policy would allow STORY to */
  s_expect(s_ask_linked(&c, 1, VWN, ROLE_VOLUNTEER, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask_linked(&c, 1, ASE, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* the link is the subject's: a "@gemeente" consent on another subject
   * does not name GEM for X */
  consent_t y = s_consent(COA, s_subject_y, LINKED, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask_linked(&y, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* being linked makes nobody the recipient of a consent naming someone
   * else */
  consent_t v = s_consent(COA, s_subject_x, VWN, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask_linked(&v, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  consent_t g2 = s_consent(COA, s_subject_x, GEM2, BIT(KIND_STORY),
                           PURPOSE_INBURGERING, 1000, 2000);
  s_expect(s_ask_linked(&g2, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_linked_consent_without_link(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, LINKED, ~UINT64_C(0),
                          PURPOSE_BEGELEIDING, 0, 10000);
  /* X is linked to no gemeente: the consent names nobody */
  for (size_t p = 0; p < 6; p++) {
    static const struct {
      const char *id;
      int role;
    } who[6] = {{GEM, ROLE_GEMEENTE},   {GEM2, ROLE_GEMEENTE},
                {VWN, ROLE_VOLUNTEER},  {GGZ, ROLE_CARE},
                {TVS, ROLE_TVS},        {OPERATOR, ROLE_OPERATOR}};
    for (int k = KIND_IDENTITY; k <= KIND_CARE; k++)
      s_expect(s_ask_linked(&c, 1, who[p].id, who[p].role, s_subject_x, k, COA,
                            5000, NULL),
               CONSENT_DENIED, NULL, R_NONE);
  }
  /* s_ask passes no link at all */
  s_expect(s_ask(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA, 5000),
           CONSENT_DENIED, NULL, R_NONE);
  /* without an author nothing opens, link or not */
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        NULL, 5000, GEM),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_linked_consent_other_recorder(void **state) {
  (void)state;
  /* the volunteer recorded "@gemeente" for X: it opens only the
   * volunteer's own sections, never COA's */
  consent_t v = s_consent(VWN, s_subject_x, LINKED, ~UINT64_C(0),
                          PURPOSE_BEGELEIDING, 0, 10000);
  for (int k = KIND_IDENTITY; k <= KIND_CARE; k++)
    s_expect(s_ask_linked(&v, 1, GEM, ROLE_GEMEENTE, s_subject_x, k, COA, 5000,
                          GEM),
             CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask_linked(&v, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_SUPPORT,
                        VWN, 5000, GEM),
           CONSENT_ALLOWED, &v, R_CONSENT);
  /* the linked gemeente's own "@gemeente" consent opens nobody else's */
  consent_t g = s_consent(GEM, s_subject_x, LINKED, ~UINT64_C(0),
                          PURPOSE_INBURGERING, 0, 10000);
  s_expect(s_ask_linked(&g, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY, COA,
                        5000, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* a TVS publisher recording one changes nothing either */
  consent_t t = s_consent(TVS, s_subject_x, LINKED, ~UINT64_C(0),
                          PURPOSE_INBURGERING, 0, 10000);
  consent_t both[2] = {g, t};
  s_expect(s_ask_linked(both, 2, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 5000, GEM),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_linked_consent_policy(void **state) {
  (void)state;
  /* HEALTH under ZORG may go to a GEMEENTE on basis CONSENT ... */
  consent_t h = s_consent(COA, s_subject_x, LINKED, BIT(KIND_HEALTH),
                          PURPOSE_ZORG, 0, 10000);
  s_expect(s_ask_linked(&h, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HEALTH,
                        COA, 5000, GEM),
           CONSENT_ALLOWED, &h, R_CONSENT);
  /* ... not on LEGAL_DUTY without a legal reference (R9) ... */
  h.basis = BASIS_LEGAL_DUTY;
  s_expect_rule(s_ask_linked(&h, 1, GEM, ROLE_GEMEENTE, s_subject_x,
                             KIND_HEALTH, COA, 5000, GEM),
                POLICY_R9_SPECIAL_BASIS, "R9");
  /* ... and with one it may */
  h.has_legal_reference = 1;
  s_expect(s_ask_linked(&h, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HEALTH,
                        COA, 5000, GEM),
           CONSENT_ALLOWED, &h, R_CONSENT);
  /* HEALTH is not INBURGERING's (R6) */
  consent_t i = s_consent(COA, s_subject_x, LINKED, BIT(KIND_HEALTH),
                          PURPOSE_INBURGERING, 0, 10000);
  s_expect_rule(s_ask_linked(&i, 1, GEM, ROLE_GEMEENTE, s_subject_x,
                             KIND_HEALTH, COA, 5000, GEM),
                POLICY_R6_PURPOSE_KIND, "R6");
  /* the role that counts is the participant's: were the subject "linked"
   * to a volunteer or a TVS, R8 and R3 would still refuse */
  s_expect_rule(s_ask_linked(&h, 1, VWN, ROLE_VOLUNTEER, s_subject_x,
                             KIND_HEALTH, COA, 5000, VWN),
                POLICY_R8_SPECIAL_VOLUNTEER, "R8");
  consent_t s = s_consent(COA, s_subject_x, LINKED, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 0, 10000);
  s_expect_rule(s_ask_linked(&s, 1, TVS, ROLE_TVS, s_subject_x, KIND_STORY, COA,
                             5000, TVS),
                POLICY_R3_RECIPIENT_ROLE, "R3");
  /* an unknown purpose in a linked consent (R10) */
  s.purpose = 0;
  s_expect_rule(s_ask_linked(&s, 1, GEM, ROLE_GEMEENTE, s_subject_x,
                             KIND_STORY, COA, 5000, GEM),
                POLICY_R10_UNKNOWN, "R10");
}

static void test_linked_consent_active_and_kinds(void **state) {
  (void)state;
  consent_t c = s_consent(COA, s_subject_x, LINKED, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  /* the window and revocation hold as for a direct consent */
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 999, GEM),
           CONSENT_DENIED, NULL, R_NOT_YET);
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 2000, GEM),
           CONSENT_DENIED, NULL, R_EXPIRED);
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_SECTION);
  s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, 0, COA, 1500,
                        GEM),
           CONSENT_DENIED, NULL, R_KIND);
  consent_t r = c;
  r.revoked = 1;
  s_expect(s_ask_linked(&r, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_REVOKED);
  /* those near misses are the linked gemeente's only: to another
   * gemeente the consent is no near miss at all */
  s_expect(s_ask_linked(&r, 1, GEM2, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  s_expect(s_ask_linked(&c, 1, GEM2, ROLE_GEMEENTE, s_subject_x, KIND_HOUSING,
                        COA, 1500, GEM),
           CONSENT_DENIED, NULL, R_NONE);
  /* a revoked direct consent and an active linked one: the linked one
   * allows */
  consent_t d = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                          PURPOSE_INBURGERING, 1000, 2000);
  d.revoked = 1;
  consent_t pair[2] = {d, c};
  s_expect(s_ask_linked(pair, 2, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, GEM),
           CONSENT_ALLOWED, &pair[1], R_CONSENT);
  /* and once the link is gone, only the revoked direct one is left */
  s_expect(s_ask_linked(pair, 2, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                        COA, 1500, NULL),
           CONSENT_DENIED, NULL, R_REVOKED);
}

static void test_consent_names(void **state) {
  (void)state;
  consent_t direct = s_consent(COA, s_subject_x, GEM, BIT(KIND_STORY),
                               PURPOSE_INBURGERING, 0, 10);
  consent_t linked = s_consent(COA, s_subject_x, LINKED, BIT(KIND_STORY),
                               PURPOSE_INBURGERING, 0, 10);
  /* a direct recipient is named, linked or not, linked elsewhere or not */
  assert_true(consent_names(&direct, GEM, NULL));
  assert_true(consent_names(&direct, GEM, GEM));
  assert_true(consent_names(&direct, GEM, GEM2));
  assert_false(consent_names(&direct, GEM2, NULL));
  assert_false(consent_names(&direct, GEM2, GEM2));
  assert_false(consent_names(&direct, "gemeente:036", NULL));
  assert_false(consent_names(&direct, "gemeente:03630", GEM));
  /* "@gemeente" names exactly the linked gemeente */
  assert_true(consent_names(&linked, GEM, GEM));
  assert_true(consent_names(&linked, GEM2, GEM2));
  assert_false(consent_names(&linked, GEM, NULL));
  assert_false(consent_names(&linked, GEM, GEM2));
  assert_false(consent_names(&linked, GEM2, GEM));
  assert_false(consent_names(&linked, VWN, GEM));
  assert_false(consent_names(&linked, "gemeente:036", GEM));
  assert_false(consent_names(&linked, GEM, "gemeente:036"));
  /* only the reserved spelling is the linked recipient */
  const char *const lookalikes[] = {"@gemeente:0363", "@Gemeente", "gemeente",
                                    "@gemeent", "@gemeentee"};
  for (size_t i = 0; i < sizeof lookalikes / sizeof lookalikes[0]; i++) {
    consent_t c = linked;
    snprintf(c.recipient, sizeof c.recipient, "%s", lookalikes[i]);
    assert_false(consent_names(&c, GEM, GEM));
    s_expect(s_ask_linked(&c, 1, GEM, ROLE_GEMEENTE, s_subject_x, KIND_STORY,
                          COA, 5, GEM),
             CONSENT_DENIED, NULL, R_NONE);
  }
  /* consent_names looks at the recipient only: subject, recorder, kinds
   * and window are consent_allows' */
  consent_t old = linked;
  old.revoked = 1;
  memcpy(old.subject, s_subject_y, 32);
  snprintf(old.recorded_by, sizeof old.recorded_by, "%s", VWN);
  assert_true(consent_names(&old, GEM, GEM));
}

/* ---- property test ------------------------------------------------------- */

/* xorshift64*: deterministic, so a failure is reproducible from its round. */
static uint64_t s_rng_state;

static uint64_t s_rand(void) {
  uint64_t x = s_rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s_rng_state = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform enough in [0, n) for a test. */
static uint64_t s_below(uint64_t n) { return s_rand() % n; }

#define P_ROUNDS 20000
#define P_QUERIES 8
#define P_SUBJECTS 3
#define P_PARTICIPANTS 9
#define P_MAX_CONSENTS 12

static const struct {
  const char *id;
  int role; /* in the registry */
} s_participants[P_PARTICIPANTS] = {
    {COA, ROLE_COA},           {GEM, ROLE_GEMEENTE}, {GEM2, ROLE_GEMEENTE},
    {VWN, ROLE_VOLUNTEER},     {ASE, ROLE_VOLUNTEER}, {GGZ, ROLE_CARE},
    {"mee:regio", ROLE_CARE}, {TVS, ROLE_TVS},      {OPERATOR, ROLE_OPERATOR},
};

/* The policy table as the design documents it (proto/policy.h, the table
 * of docs/protocol.md), written out again here without policy.c:
 * per purpose the kinds it covers and the recipient roles that serve it. */
static const struct {
  int purpose;
  int kinds[13]; /* 0-terminated */
  int roles[7];  /* 0-terminated */
} s_oracle_purposes[] = {
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

static int s_in_list(const int *list, int v) {
  for (; *list; list++)
    if (*list == v)
      return 1;
  return 0;
}

/* The disclosure part of the policy: may kind go to a recipient of role
 * under purpose and basis? The rules in the order they are checked. */
static policy_rule_t s_oracle_policy(int kind, int role, int purpose,
                                     int basis, int has_legal_reference) {
  int kind_known = kind >= KIND_IDENTITY && kind <= KIND_CARE;
  int role_known = role >= ROLE_GEMEENTE && role <= ROLE_OPERATOR;
  int basis_known = basis == BASIS_CONSENT || basis == BASIS_LEGAL_DUTY;
  if (!kind_known || !role_known || !basis_known)
    return POLICY_R10_UNKNOWN;
  if (role == ROLE_TVS || role == ROLE_OPERATOR)
    return POLICY_R3_RECIPIENT_ROLE;
  int row = -1;
  for (int i = 0; i < 5; i++)
    if (s_oracle_purposes[i].purpose == purpose)
      row = i;
  if (row < 0)
    return POLICY_R10_UNKNOWN;
  if (kind == KIND_HEALTH || kind == KIND_CARE) {
    if (role == ROLE_VOLUNTEER)
      return POLICY_R8_SPECIAL_VOLUNTEER;
    int lawful = basis == BASIS_CONSENT ||
                 (basis == BASIS_LEGAL_DUTY && has_legal_reference);
    if (!lawful)
      return POLICY_R9_SPECIAL_BASIS;
  }
  if (!s_in_list(s_oracle_purposes[row].kinds, kind))
    return POLICY_R6_PURPOSE_KIND;
  if (!s_in_list(s_oracle_purposes[row].roles, role))
    return POLICY_R7_PURPOSE_ROLE;
  return POLICY_OK;
}

typedef struct {
  const char *participant;
  int role;
  const uint8_t *subject;
  int kind;
  const char *author;
  int64_t now;
  const char *linked; /* the gemeente the subject is linked to, or NULL */
} p_query_t;

/* c's recipient is the query's participant: by name, or as the
 * reserved "@gemeente" while the participant is the subject's linked
 * gemeente. */
static int s_oracle_recipient(const consent_t *c, const p_query_t *q) {
  if (strcmp(c->recipient, q->participant) == 0)
    return 1;
  if (strcmp(c->recipient, "@gemeente") != 0)
    return 0;
  if (q->linked == NULL)
    return 0;
  return strcmp(q->linked, q->participant) == 0;
}

/* c names this query's author, participant and subject. */
static int s_oracle_names(const consent_t *c, const p_query_t *q) {
  return q->author != NULL && strcmp(c->recorded_by, q->author) == 0 &&
         s_oracle_recipient(c, q) && memcmp(c->subject, q->subject, 32) == 0;
}

static int s_oracle_kind_bit(const consent_t *c, int kind) {
  return kind >= 0 && kind < 64 && ((c->sections >> kind) & 1) == 1;
}

static int s_oracle_active(const consent_t *c, int64_t now) {
  if (c->revoked)
    return 0;
  if (now < c->valid_from_ms)
    return 0;
  if (now >= c->valid_until_ms)
    return 0;
  return 1;
}

/* c alone lets the query's participant read the section. */
static int s_oracle_opens(const consent_t *c, const p_query_t *q) {
  return s_oracle_names(c, q) && s_oracle_kind_bit(c, q->kind) &&
         s_oracle_active(c, q->now) &&
         s_oracle_policy(q->kind, q->role, c->purpose, c->basis,
                         c->has_legal_reference) == POLICY_OK;
}

/* What the decision may be. */
enum { O_AUTHOR, O_CONSENT, O_KIND, O_NONE, O_SECTION, O_INACTIVE, O_POLICY,
       O_COUNT };
static const char *const s_outcome_names[O_COUNT] = {
    "author", "consent", "unknown kind", "none", "section", "inactive",
    "policy"};

typedef struct {
  int outcome;
  unsigned inactive_reasons; /* O_INACTIVE: bit 0 revoked, 1 not yet, 2 expired */
  uint32_t rules;            /* O_POLICY: bit per policy_rule_t possible */
} p_expect_t;

static p_expect_t s_oracle(const consent_t *list, size_t n,
                           const p_query_t *q) {
  p_expect_t e = {O_NONE, 0, 0};
  if (q->author != NULL && strcmp(q->participant, q->author) == 0) {
    e.outcome = O_AUTHOR;
    return e;
  }
  if (q->kind < 1 || q->kind > 63) {
    e.outcome = O_KIND;
    return e;
  }
  int named = 0, covering = 0;
  for (size_t i = 0; i < n; i++) {
    const consent_t *c = &list[i];
    if (s_oracle_opens(c, q)) {
      e.outcome = O_CONSENT;
      return e;
    }
    if (!s_oracle_names(c, q))
      continue;
    named = 1;
    if (!s_oracle_kind_bit(c, q->kind))
      continue;
    covering = 1;
    if (c->revoked)
      e.inactive_reasons |= 1u;
    else if (q->now < c->valid_from_ms)
      e.inactive_reasons |= 2u;
    else if (q->now >= c->valid_until_ms)
      e.inactive_reasons |= 4u;
    else
      e.rules |= UINT32_C(1) << s_oracle_policy(q->kind, q->role, c->purpose,
                                                c->basis,
                                                c->has_legal_reference);
  }
  if (e.rules)
    e.outcome = O_POLICY;
  else if (e.inactive_reasons)
    e.outcome = O_INACTIVE;
  else if (covering)
    e.outcome = O_SECTION; /* cannot happen: covering is inactive or refused */
  else if (named)
    e.outcome = O_SECTION;
  else
    e.outcome = O_NONE;
  return e;
}

static void s_describe(const consent_t *list, size_t n, const p_query_t *q,
                       unsigned round, int qi, const char *what) {
  print_error("round %u query %d: %s\n  query: %s (role %d) reads kind %d by "
              "%s about subject %02x..%02x at %lld, linked to %s\n",
              round, qi, what, q->participant, q->role, q->kind,
              q->author ? q->author : "(none)", q->subject[0], q->subject[31],
              (long long)q->now, q->linked ? q->linked : "(none)");
  for (size_t i = 0; i < n; i++) {
    const consent_t *c = &list[i];
    print_error("  consent %zu: %s -> %s subject %02x..%02x sections %llx "
                "purpose %d basis %d legal %d [%lld, %lld) revoked %d\n",
                i, c->recorded_by, c->recipient, c->subject[0], c->subject[31],
                (unsigned long long)c->sections, c->purpose, c->basis,
                c->has_legal_reference, (long long)c->valid_from_ms,
                (long long)c->valid_until_ms, c->revoked);
  }
}

/* Checks decision d of consent_allows(list, n, q) against the oracle;
 * returns the outcome. */
static int s_check(const consent_t *list, size_t n, const p_query_t *q,
                   consent_decision_t d, unsigned round, int qi) {
  p_expect_t e = s_oracle(list, n, q);
  char why[200] = "";
  const char *reason = d.reason ? d.reason : "(null)";
  switch (e.outcome) {
  case O_AUTHOR:
    if (d.verdict != CONSENT_ALLOWED_AUTHOR || d.consent != NULL ||
        d.rule != POLICY_OK || strcmp(reason, R_AUTHOR) != 0)
      snprintf(why, sizeof why, "expected the author's read, got verdict %d "
               "rule %d \"%s\"", (int)d.verdict, (int)d.rule, reason);
    break;
  case O_CONSENT:
    if (d.verdict != CONSENT_ALLOWED || d.rule != POLICY_OK ||
        strcmp(reason, R_CONSENT) != 0)
      snprintf(why, sizeof why, "expected a consent to allow it, got verdict "
               "%d rule %d \"%s\"", (int)d.verdict, (int)d.rule, reason);
    else if (d.consent == NULL || d.consent < list || d.consent >= list + n)
      snprintf(why, sizeof why, "the allowing consent is not in the list");
    else if (!s_oracle_opens(d.consent, q) ||
             !consent_is_active(d.consent, q->now) ||
             strcmp(d.consent->recorded_by, q->author) != 0)
      snprintf(why, sizeof why, "the named consent %d does not open it",
               (int)(d.consent - list));
    break;
  default:
    if (d.verdict != CONSENT_DENIED || d.consent != NULL) {
      snprintf(why, sizeof why, "expected a denial (%s), got verdict %d "
               "\"%s\"", s_outcome_names[e.outcome], (int)d.verdict, reason);
      break;
    }
    if (e.outcome == O_POLICY) {
      if (d.rule == POLICY_OK || (unsigned)d.rule >= 32 ||
          !(e.rules & (UINT32_C(1) << d.rule)) ||
          strcmp(reason, policy_rule_text(d.rule)) != 0)
        snprintf(why, sizeof why, "expected a policy refusal (rules %#x), got "
                 "rule %d \"%s\"", (unsigned)e.rules, (int)d.rule, reason);
      break;
    }
    if (d.rule != POLICY_OK) {
      snprintf(why, sizeof why, "expected no policy rule (%s), got rule %d",
               s_outcome_names[e.outcome], (int)d.rule);
      break;
    }
    if (e.outcome == O_INACTIVE) {
      int ok = ((e.inactive_reasons & 1u) && strcmp(reason, R_REVOKED) == 0) ||
               ((e.inactive_reasons & 2u) && strcmp(reason, R_NOT_YET) == 0) ||
               ((e.inactive_reasons & 4u) && strcmp(reason, R_EXPIRED) == 0);
      if (!ok)
        snprintf(why, sizeof why, "expected an inactive consent's reason "
                 "(%#x), got \"%s\"", e.inactive_reasons, reason);
      break;
    }
    const char *want = e.outcome == O_KIND      ? R_KIND
                       : e.outcome == O_SECTION ? R_SECTION
                                                : R_NONE;
    if (strcmp(reason, want) != 0)
      snprintf(why, sizeof why, "expected \"%s\", got \"%s\"", want, reason);
  }
  if (why[0]) {
    s_describe(list, n, q, round, qi, why);
    fail_msg("round %u query %d: %s", round, qi, why);
  }
  return e.outcome;
}

static void s_random_consent(consent_t *c, uint8_t subjects[][32],
                             unsigned index) {
  memset(c, 0, sizeof *c);
  c->consent_id[0] = (uint8_t)index;
  memcpy(c->subject, subjects[s_below(P_SUBJECTS)], 32);
  snprintf(c->recorded_by, sizeof c->recorded_by, "%s",
           s_participants[s_below(P_PARTICIPANTS)].id);
  /* a quarter name "the subject's linked gemeente" */
  snprintf(c->recipient, sizeof c->recipient, "%s",
           s_below(4) == 0 ? "@gemeente"
                           : s_participants[s_below(P_PARTICIPANTS)].id);
  /* section sets: a few kinds, sometimes none, sometimes all, now and then
   * bits keten.proto does not name (0, 13, 63) */
  switch (s_below(8)) {
  case 0:
    c->sections = 0;
    break;
  case 1:
    c->sections = ~UINT64_C(0);
    break;
  default:
    for (int k = 1; k <= KIND_CARE; k++)
      if (s_below(3) == 0)
        c->sections |= BIT(k);
    if (s_below(10) == 0)
      c->sections |= BIT(s_below(3) == 0 ? 0 : s_below(2) ? 13 : 63);
  }
  /* windows on a small time line, so that now often hits an edge;
   * some empty or inverted */
  c->valid_from_ms = (int64_t)s_below(100);
  c->valid_until_ms = c->valid_from_ms + (int64_t)s_below(70) - 5;
  /* mostly known purposes and bases, sometimes not */
  c->purpose = s_below(12) == 0 ? (int)s_below(8) - 1 : 1 + (int)s_below(5);
  c->basis = s_below(12) == 0 ? (int)s_below(5) - 1 : 1 + (int)s_below(2);
  c->has_legal_reference = (int)s_below(2);
  if (s_below(4) == 0) {
    c->revoked = 1;
    c->revoked_at_ms = (int64_t)s_below(120);
  }
}

/* A random kind a query asks for: mostly named ones, now and then not. */
static int s_random_kind(void) {
  static const int odd[] = {0, -1, 13, 63, 64, 200};
  if (s_below(20) == 0)
    return odd[s_below(sizeof odd / sizeof odd[0])];
  return 1 + (int)s_below(12);
}

static void test_property_random_sets(void **state) {
  (void)state;
  s_rng_state = UINT64_C(0x6b6574656e2d3032); /* "keten-02" */
  uint8_t subjects[P_SUBJECTS][32];
  for (int i = 0; i < P_SUBJECTS; i++)
    for (int j = 0; j < 32; j++)
      subjects[i][j] = (uint8_t)s_rand();
  /* subjects that share all but the last byte */
  memcpy(subjects[2], subjects[1], 31);
  subjects[2][31] = (uint8_t)(subjects[1][31] ^ 0x80);

  consent_t list[P_MAX_CONSENTS], reversed[P_MAX_CONSENTS];
  unsigned outcomes[O_COUNT] = {0};
  unsigned rules[POLICY_R10_UNKNOWN + 1] = {0};
  unsigned linked_allowed = 0, linked_refused = 0;
  for (unsigned round = 0; round < P_ROUNDS; round++) {
    size_t n = (size_t)s_below(P_MAX_CONSENTS + 1);
    for (size_t i = 0; i < n; i++)
      s_random_consent(&list[i], subjects, (unsigned)i);
    for (size_t i = 0; i < n; i++)
      reversed[i] = list[n - 1 - i];
    /* several requests per consent set */
    for (int qi = 0; qi < P_QUERIES; qi++) {
      size_t p = (size_t)s_below(P_PARTICIPANTS);
      p_query_t q;
      q.participant = s_participants[p].id;
      q.role = s_participants[p].role;
      q.subject = subjects[s_below(P_SUBJECTS)];
      q.kind = s_random_kind();
      q.author = s_below(20) == 0
                     ? NULL
                     : s_participants[s_below(P_PARTICIPANTS)].id;
      q.now = (int64_t)s_below(130) - 5;
      /* the subject is linked to nobody, or to anyone (mostly a gemeente,
       * as a KOPPELING makes it; the rule must not care which role) */
      switch (s_below(4)) {
      case 0:
        q.linked = NULL;
        break;
      case 1:
        q.linked = s_participants[s_below(P_PARTICIPANTS)].id;
        break;
      default:
        q.linked = s_participants[1 + s_below(2)].id; /* GEM or GEM2 */
      }
      /* bias half the requests towards one consent: its recipient asks
       * for its recorder's section of its subject, often of a kind it
       * covers, near the edges of its window */
      if (n && s_below(2) == 0) {
        const consent_t *c = &list[s_below(n)];
        int64_t edges[5] = {c->valid_from_ms - 1, c->valid_from_ms,
                            c->valid_until_ms - 1, c->valid_until_ms,
                            (c->valid_from_ms + c->valid_until_ms) / 2};
        q.now = edges[s_below(5)];
        q.subject = c->subject;
        for (size_t j = 0; j < P_PARTICIPANTS; j++) {
          if (strcmp(s_participants[j].id, c->recipient) == 0) {
            q.participant = s_participants[j].id;
            q.role = s_participants[j].role;
          }
          if (strcmp(s_participants[j].id, c->recorded_by) == 0 &&
              s_below(8) != 0)
            q.author = s_participants[j].id;
        }
        /* a linked consent: mostly the subject is linked to the one who
         * asks; otherwise to another, or to nobody */
        if (strcmp(c->recipient, "@gemeente") == 0) {
          size_t p2 = s_below(3) == 0 ? (size_t)s_below(P_PARTICIPANTS)
                                      : 1 + (size_t)s_below(2);
          q.participant = s_participants[p2].id;
          q.role = s_participants[p2].role;
          switch (s_below(4)) {
          case 0:
            q.linked = NULL;
            break;
          case 1:
            q.linked = s_participants[s_below(P_PARTICIPANTS)].id;
            break;
          default:
            q.linked = q.participant;
          }
        }
        if (c->sections && s_below(4) != 0) {
          int k;
          do
            k = 1 + (int)s_below(KIND_CARE);
          while (!((c->sections >> k) & 1) && s_below(16) != 0);
          q.kind = k;
        }
      }
      /* now and then the registry says another role than usual (or one
       * keten.proto does not know) */
      if (s_below(10) == 0)
        q.role = (int)s_below(9) - 1;

      consent_query_t cq = {q.participant, q.role, q.subject,
                            q.kind,        q.author, q.now, q.linked};
      consent_decision_t d = consent_allows(list, n, &cq);
      int outcome = s_check(list, n, &q, d, round, qi);
      outcomes[outcome]++;
      if (outcome == O_CONSENT &&
          strcmp(d.consent->recipient, "@gemeente") == 0)
        linked_allowed++;
      /* a linked consent that would open it, were the subject linked to
         the participant, but is not: the link decided */
      if (outcome != O_AUTHOR && outcome != O_CONSENT) {
        p_query_t moved = q;
        moved.linked = q.participant;
        for (size_t i = 0; i < n; i++)
          if (strcmp(list[i].recipient, "@gemeente") == 0 &&
              s_oracle_opens(&list[i], &moved)) {
            linked_refused++;
            break;
          }
      }
      if (outcome == O_POLICY && (unsigned)d.rule <= POLICY_R10_UNKNOWN)
        rules[d.rule]++;
      /* the order of the consents does not change the verdict (nor
       * anything else the oracle can tell) */
      consent_decision_t r = consent_allows(reversed, n, &cq);
      if (r.verdict != d.verdict) {
        s_describe(list, n, &q, round, qi, "reversing the list changed it");
        fail_msg("round %u query %d: verdict %d, reversed %d", round, qi,
                 (int)d.verdict, (int)r.verdict);
      }
      assert_int_equal(s_check(reversed, n, &q, r, round, qi), outcome);
    }
    /* consent_is_active is exactly the oracle's activity test */
    for (size_t i = 0; i < n; i++) {
      int64_t now = (int64_t)s_below(130) - 5;
      assert_int_equal(consent_is_active(&list[i], now) != 0,
                       s_oracle_active(&list[i], now));
      assert_int_equal(consent_is_active(&list[i], list[i].valid_from_ms) != 0,
                       s_oracle_active(&list[i], list[i].valid_from_ms));
      assert_int_equal(consent_is_active(&list[i], list[i].valid_until_ms) != 0,
                       0);
    }
  }
  /* the generator exercised every outcome, not just one */
  for (int o = 0; o < O_COUNT; o++) {
    print_message("  %-12s %u\n", s_outcome_names[o], outcomes[o]);
    if (outcomes[o] <= 1000)
      fail_msg("outcome \"%s\" seen only %u times", s_outcome_names[o],
               outcomes[o]);
  }
  assert_true(outcomes[O_AUTHOR] + outcomes[O_CONSENT] > 1000);
  /* and linked consents both allowed and were refused for want of the
   * link */
  print_message("  linked allowed %u, refused for the link %u\n",
                linked_allowed, linked_refused);
  if (linked_allowed < 500 || linked_refused < 500)
    fail_msg("linked consents: %u allowed, %u refused for the link",
             linked_allowed, linked_refused);
  /* and every policy refusal consent_allows can meet */
  const policy_rule_t seen[] = {POLICY_R3_RECIPIENT_ROLE, POLICY_R6_PURPOSE_KIND,
                                POLICY_R7_PURPOSE_ROLE,
                                POLICY_R8_SPECIAL_VOLUNTEER,
                                POLICY_R9_SPECIAL_BASIS, POLICY_R10_UNKNOWN};
  for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
    print_message("  rule %-8s %u\n", policy_rule_id(seen[i]), rules[seen[i]]);
    if (rules[seen[i]] < 100)
      fail_msg("policy rule %s refused only %u times", policy_rule_id(seen[i]),
               rules[seen[i]]);
  }
}

/* The oracle's own table agrees with the policy module on every input
 * (a cross-check of the test, not part of the oracle). */
static void test_oracle_matches_policy(void **state) {
  (void)state;
  for (int kind = -1; kind <= 14; kind++)
    for (int role = -1; role <= 8; role++)
      for (int purpose = -1; purpose <= 7; purpose++)
        for (int basis = -1; basis <= 3; basis++)
          for (int legal = 0; legal <= 1; legal++)
            assert_int_equal(
                policy_may_disclose(kind, role, purpose, basis, legal),
                s_oracle_policy(kind, role, purpose, basis, legal));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enum_numbers),
      cmocka_unit_test(test_author_reads_own_section),
      cmocka_unit_test(test_active_consent_allows),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_not_yet_valid),
      cmocka_unit_test(test_revoked),
      cmocka_unit_test(test_wrong_section),
      cmocka_unit_test(test_wrong_recipient),
      cmocka_unit_test(test_wrong_subject),
      cmocka_unit_test(test_unknown_kind),
      cmocka_unit_test(test_revoked_and_active),
      cmocka_unit_test(test_colluding_volunteers),
      cmocka_unit_test(test_operator_consent),
      cmocka_unit_test(test_coa_consent_not_gemeente_section),
      cmocka_unit_test(test_policy_special_to_volunteer),
      cmocka_unit_test(test_policy_special_basis),
      cmocka_unit_test(test_policy_purpose_kind),
      cmocka_unit_test(test_policy_purpose_role),
      cmocka_unit_test(test_policy_recipient_role),
      cmocka_unit_test(test_policy_unknown_values),
      cmocka_unit_test(test_reason_ranking),
      cmocka_unit_test(test_linked_recipient_name),
      cmocka_unit_test(test_linked_consent_allows_linked_gemeente),
      cmocka_unit_test(test_linked_consent_not_another_gemeente),
      cmocka_unit_test(test_linked_consent_without_link),
      cmocka_unit_test(test_linked_consent_other_recorder),
      cmocka_unit_test(test_linked_consent_policy),
      cmocka_unit_test(test_linked_consent_active_and_kinds),
      cmocka_unit_test(test_consent_names),
      cmocka_unit_test(test_property_random_sets),
      cmocka_unit_test(test_oracle_matches_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
