/* Unit tests of the consent rule: the cases one by one, then a property
 * test that throws thousands of random consent sets and requests at
 * consent_allows() and checks every answer against the design's rule,
 * written out plainly here as an independent oracle. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "consent.h"

#define KIND_STORY 3
#define KIND_HOUSING 8
#define KIND_HEALTH 10
#define BIT(k) (UINT64_C(1) << (k))

/* The reasons consent.c documents (consent_decision_t.reason). */
#define R_AUTHOR "author"
#define R_CONSENT "consent"
#define R_NONE "no consent names this participant for this subject"
#define R_KIND "unknown section kind"
#define R_SECTION "consent does not cover this section"
#define R_REVOKED "consent revoked"
#define R_NOT_YET "consent not yet valid"
#define R_EXPIRED "consent expired"

static const uint8_t s_subject_x[32] = {0x58, 1, 2, 3, 4, 5, 6, 7};
static const uint8_t s_subject_y[32] = {0x59, 1, 2, 3, 4, 5, 6, 7};

static consent_t s_consent(const uint8_t subject[32], const char *recipient,
                           uint64_t sections, int64_t from, int64_t until) {
  consent_t c;
  memset(&c, 0, sizeof c);
  memset(c.consent_id, 0xc0, sizeof c.consent_id);
  memcpy(c.subject, subject, 32);
  snprintf(c.recorded_by, sizeof c.recorded_by, "coa");
  snprintf(c.recipient, sizeof c.recipient, "%s", recipient);
  c.sections = sections;
  c.purpose = 1;
  c.basis = 1;
  c.valid_from_ms = from;
  c.valid_until_ms = until;
  return c;
}

static void s_expect(consent_decision_t d, consent_verdict_t verdict,
                     const consent_t *consent, const char *reason) {
  assert_int_equal(d.verdict, verdict);
  assert_ptr_equal(d.consent, consent);
  assert_non_null(d.reason);
  assert_string_equal(d.reason, reason);
}

static void test_author_reads_own_section(void **state) {
  (void)state;
  /* no consents at all */
  s_expect(consent_allows(NULL, 0, "coa", s_subject_x, KIND_STORY, "coa", 1000),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
  /* consents that would deny (revoked, for someone else) do not matter */
  consent_t list[2] = {
      s_consent(s_subject_x, "coa", BIT(KIND_STORY), 0, 10),
      s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 0, 5000)};
  list[0].revoked = 1;
  s_expect(consent_allows(list, 2, "coa", s_subject_x, KIND_HEALTH, "coa", 1000),
           CONSENT_ALLOWED_AUTHOR, NULL, R_AUTHOR);
  /* someone else's section is not the author's */
  s_expect(consent_allows(NULL, 0, "coa", s_subject_x, KIND_STORY,
                          "gemeente:0363", 1000),
           CONSENT_DENIED, NULL, R_NONE);
  /* no author given: only consent counts */
  s_expect(consent_allows(NULL, 0, "coa", s_subject_x, KIND_STORY, NULL, 1000),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_active_consent_allows(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363",
                          BIT(KIND_STORY) | BIT(KIND_HOUSING), 1000, 2000);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_STORY,
                          "coa", 1500),
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_HOUSING,
                          "coa", 1000), /* valid_from is inclusive */
           CONSENT_ALLOWED, &c, R_CONSENT);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_HOUSING,
                          "coa", 1999),
           CONSENT_ALLOWED, &c, R_CONSENT);
  assert_true(consent_is_active(&c, 1000));
  assert_true(consent_is_active(&c, 1999));
}

static void test_expired(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 1000,
                          2000);
  /* valid_until is exclusive: now == valid_until is already expired */
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_STORY,
                          "coa", 2000),
           CONSENT_DENIED, NULL, R_EXPIRED);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_STORY,
                          "coa", 99999),
           CONSENT_DENIED, NULL, R_EXPIRED);
  assert_false(consent_is_active(&c, 2000));
  /* an empty window is never active */
  consent_t empty = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY),
                              1000, 1000);
  assert_false(consent_is_active(&empty, 1000));
  assert_int_equal(consent_allows(&empty, 1, "gemeente:0363", s_subject_x,
                                  KIND_STORY, "coa", 1000)
                       .verdict,
                   CONSENT_DENIED);
}

static void test_not_yet_valid(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 1000,
                          2000);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_STORY,
                          "coa", 999),
           CONSENT_DENIED, NULL, R_NOT_YET);
  assert_false(consent_is_active(&c, 999));
}

static void test_revoked(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 1000,
                          2000);
  c.revoked = 1;
  c.revoked_at_ms = 1200;
  /* revoked is revoked, also inside the window and before revoked_at */
  for (int64_t now = 1000; now < 2000; now += 100)
    s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, KIND_STORY,
                            "coa", now),
             CONSENT_DENIED, NULL, R_REVOKED);
  assert_false(consent_is_active(&c, 1500));
}

static void test_wrong_section(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "vrijwilliger:vwn",
                          BIT(KIND_STORY) | BIT(KIND_HOUSING), 1000, 2000);
  s_expect(consent_allows(&c, 1, "vrijwilliger:vwn", s_subject_x, KIND_HEALTH,
                          "coa", 1500),
           CONSENT_DENIED, NULL, R_SECTION);
  /* bit 0 and bit 63 are covered only when set */
  s_expect(consent_allows(&c, 1, "vrijwilliger:vwn", s_subject_x, 63, "coa",
                          1500),
           CONSENT_DENIED, NULL, R_SECTION);
  c.sections |= BIT(63);
  s_expect(consent_allows(&c, 1, "vrijwilliger:vwn", s_subject_x, 63, "coa",
                          1500),
           CONSENT_ALLOWED, &c, R_CONSENT);
}

static void test_wrong_recipient(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 1000,
                          2000);
  s_expect(consent_allows(&c, 1, "gemeente:0344", s_subject_x, KIND_STORY,
                          "coa", 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* a prefix of the recipient is not the recipient */
  s_expect(consent_allows(&c, 1, "gemeente:036", s_subject_x, KIND_STORY,
                          "coa", 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* the recorder is not a recipient */
  s_expect(consent_allows(&c, 1, "coa", s_subject_x, KIND_STORY, "ggz:parnassia",
                          1500),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_wrong_subject(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", BIT(KIND_STORY), 1000,
                          2000);
  s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_y, KIND_STORY,
                          "coa", 1500),
           CONSENT_DENIED, NULL, R_NONE);
  /* subjects that differ only in their last byte */
  uint8_t z[32];
  memcpy(z, s_subject_x, 32);
  z[31] ^= 1;
  s_expect(consent_allows(&c, 1, "gemeente:0363", z, KIND_STORY, "coa", 1500),
           CONSENT_DENIED, NULL, R_NONE);
}

static void test_unknown_kind(void **state) {
  (void)state;
  consent_t c = s_consent(s_subject_x, "gemeente:0363", ~UINT64_C(0), 1000,
                          2000);
  const int kinds[] = {0, 64, 65, -1, 1000};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    s_expect(consent_allows(&c, 1, "gemeente:0363", s_subject_x, kinds[i],
                            "coa", 1500),
             CONSENT_DENIED, NULL, R_KIND);
}

static void test_revoked_and_active(void **state) {
  (void)state;
  consent_t list[3] = {
      s_consent(s_subject_x, "ggz:parnassia", BIT(KIND_HEALTH), 1000, 2000),
      s_consent(s_subject_x, "ggz:parnassia", BIT(KIND_HEALTH), 1000, 3000),
      s_consent(s_subject_x, "ggz:parnassia", BIT(KIND_HEALTH), 5000, 6000)};
  list[0].revoked = 1;
  list[0].consent_id[0] = 1;
  list[1].consent_id[0] = 2;
  list[2].consent_id[0] = 3;
  consent_decision_t d = consent_allows(list, 3, "ggz:parnassia", s_subject_x,
                                        KIND_HEALTH, "coa", 1500);
  s_expect(d, CONSENT_ALLOWED, &list[1], R_CONSENT);
  assert_int_equal(d.consent->consent_id[0], 2);
  /* the other way round too */
  consent_t swapped[2] = {list[1], list[0]};
  s_expect(consent_allows(swapped, 2, "ggz:parnassia", s_subject_x, KIND_HEALTH,
                          "coa", 1500),
           CONSENT_ALLOWED, &swapped[0], R_CONSENT);
  /* after the second one ended, only an expired and a revoked one remain */
  d = consent_allows(list, 3, "ggz:parnassia", s_subject_x, KIND_HEALTH, "coa",
                     4000);
  assert_int_equal(d.verdict, CONSENT_DENIED);
  assert_null(d.consent);
  /* and the third one takes over once it starts */
  s_expect(consent_allows(list, 3, "ggz:parnassia", s_subject_x, KIND_HEALTH,
                          "coa", 5000),
           CONSENT_ALLOWED, &list[2], R_CONSENT);
}

/* ---- property test ---------------------------------------------------------- */

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
#define P_SUBJECTS 3
#define P_PARTICIPANTS 5
#define P_MAX_CONSENTS 12

static const char *const s_participants[P_PARTICIPANTS] = {
    "coa", "gemeente:0363", "gemeente:0344", "vrijwilliger:vwn",
    "ggz:parnassia"};

/* The rule of DESIGN.md ("Consent"), written without looking at consent.c:
 * P receives section S of subject X only if P wrote S, or a consent that is
 * not revoked and whose window [from, until) contains now covers X, S, P. */
static int s_oracle_covers(const consent_t *c, const char *participant,
                           const uint8_t subject[32], int kind, int64_t now) {
  if (memcmp(c->subject, subject, 32) != 0)
    return 0;
  if (strcmp(c->recipient, participant) != 0)
    return 0;
  if (((c->sections >> kind) & 1) == 0)
    return 0;
  if (c->revoked)
    return 0;
  if (now < c->valid_from_ms)
    return 0;
  if (now >= c->valid_until_ms)
    return 0;
  return 1;
}

static int s_oracle(const consent_t *list, size_t n, const char *participant,
                    const uint8_t subject[32], int kind, const char *author,
                    int64_t now) {
  if (strcmp(participant, author) == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (s_oracle_covers(&list[i], participant, subject, kind, now))
      return 1;
  return 0;
}

/* The denial reason names a near miss that really exists. */
static void s_check_denial_reason(const consent_t *list, size_t n,
                                  const char *participant,
                                  const uint8_t subject[32], int kind,
                                  int64_t now, const char *reason,
                                  unsigned round) {
  int named = 0, covering = 0, revoked = 0, early = 0, late = 0;
  for (size_t i = 0; i < n; i++) {
    const consent_t *c = &list[i];
    if (memcmp(c->subject, subject, 32) != 0 ||
        strcmp(c->recipient, participant) != 0)
      continue;
    named++;
    if (!((c->sections >> kind) & 1))
      continue;
    covering++;
    revoked += c->revoked != 0;
    early += now < c->valid_from_ms;
    late += now >= c->valid_until_ms;
  }
  int ok;
  if (!named)
    ok = strcmp(reason, R_NONE) == 0;
  else if (!covering)
    ok = strcmp(reason, R_SECTION) == 0;
  else
    ok = (strcmp(reason, R_REVOKED) == 0 && revoked) ||
         (strcmp(reason, R_NOT_YET) == 0 && early) ||
         (strcmp(reason, R_EXPIRED) == 0 && late);
  if (!ok)
    fail_msg("round %u: denial reason \"%s\" does not fit (named %d, "
             "covering %d, revoked %d, early %d, late %d)",
             round, reason, named, covering, revoked, early, late);
}

static void s_random_consent(consent_t *c, uint8_t subjects[][32],
                             unsigned index) {
  memset(c, 0, sizeof *c);
  c->consent_id[0] = (uint8_t)index;
  memcpy(c->subject, subjects[s_below(P_SUBJECTS)], 32);
  snprintf(c->recorded_by, sizeof c->recorded_by, "%s",
           s_participants[s_below(P_PARTICIPANTS)]);
  snprintf(c->recipient, sizeof c->recipient, "%s",
           s_participants[s_below(P_PARTICIPANTS)]);
  /* section sets: a few kinds, sometimes none, sometimes all */
  switch (s_below(8)) {
  case 0:
    c->sections = 0;
    break;
  case 1:
    c->sections = ~UINT64_C(0);
    break;
  default:
    for (int k = 0; k < 14; k++)
      if (s_below(3) == 0)
        c->sections |= BIT(k);
  }
  /* windows on a small time line, so that now often hits an edge;
   * some empty or inverted */
  c->valid_from_ms = (int64_t)s_below(100);
  c->valid_until_ms = c->valid_from_ms + (int64_t)s_below(70) - 5;
  c->purpose = 1 + (int)s_below(5);
  c->basis = 1 + (int)s_below(2);
  if (s_below(4) == 0) {
    c->revoked = 1;
    c->revoked_at_ms = (int64_t)s_below(120);
  }
}

static void test_property_random_sets(void **state) {
  (void)state;
  s_rng_state = UINT64_C(0x6b6574656e2d3031); /* "keten-01" */
  uint8_t subjects[P_SUBJECTS][32];
  for (int i = 0; i < P_SUBJECTS; i++)
    for (int j = 0; j < 32; j++)
      subjects[i][j] = (uint8_t)s_rand();
  /* subjects that share all but the last byte */
  memcpy(subjects[2], subjects[1], 31);
  subjects[2][31] = (uint8_t)(subjects[1][31] ^ 0x80);

  consent_t list[P_MAX_CONSENTS], reversed[P_MAX_CONSENTS];
  unsigned allowed_author = 0, allowed_consent = 0, denied = 0;
  for (unsigned round = 0; round < P_ROUNDS; round++) {
    size_t n = (size_t)s_below(P_MAX_CONSENTS + 1);
    for (size_t i = 0; i < n; i++)
      s_random_consent(&list[i], subjects, (unsigned)i);
    /* several requests per consent set */
    for (int q = 0; q < 8; q++) {
      const char *participant = s_participants[s_below(P_PARTICIPANTS)];
      const char *author = s_participants[s_below(P_PARTICIPANTS)];
      const uint8_t *subject = subjects[s_below(P_SUBJECTS)];
      int kind = 1 + (int)s_below(12);
      int64_t now = (int64_t)s_below(130) - 5;
      /* bias requests towards the edges of some window */
      if (n && s_below(3) == 0) {
        const consent_t *c = &list[s_below(n)];
        int64_t edges[4] = {c->valid_from_ms - 1, c->valid_from_ms,
                            c->valid_until_ms - 1, c->valid_until_ms};
        now = edges[s_below(4)];
        if (s_below(2) == 0) {
          participant = s_participants[0];
          for (int p = 0; p < P_PARTICIPANTS; p++)
            if (strcmp(s_participants[p], c->recipient) == 0)
              participant = s_participants[p];
          subject = c->subject;
        }
      }

      int expect = s_oracle(list, n, participant, subject, kind, author, now);
      consent_decision_t d =
          consent_allows(list, n, participant, subject, kind, author, now);
      if ((d.verdict != CONSENT_DENIED) != expect)
        fail_msg("round %u query %d: %s reads kind %d by %s at %lld: "
                 "consent_allows says %d, the rule says %s",
                 round, q, participant, kind, author, (long long)now,
                 (int)d.verdict, expect ? "allowed" : "denied");
      assert_non_null(d.reason);
      if (strcmp(participant, author) == 0) {
        assert_int_equal(d.verdict, CONSENT_ALLOWED_AUTHOR);
        assert_null(d.consent);
        assert_string_equal(d.reason, R_AUTHOR);
        allowed_author++;
      } else if (d.verdict == CONSENT_ALLOWED) {
        /* the consent it names is in the list and really covers it */
        assert_non_null(d.consent);
        assert_true(d.consent >= list && d.consent < list + n);
        assert_true(
            s_oracle_covers(d.consent, participant, subject, kind, now));
        assert_true(consent_is_active(d.consent, now));
        assert_string_equal(d.reason, R_CONSENT);
        allowed_consent++;
      } else {
        assert_int_equal(d.verdict, CONSENT_DENIED);
        assert_null(d.consent);
        s_check_denial_reason(list, n, participant, subject, kind, now,
                              d.reason, round);
        denied++;
      }
      /* the order of the consents does not change the verdict */
      for (size_t i = 0; i < n; i++)
        reversed[i] = list[n - 1 - i];
      consent_decision_t r =
          consent_allows(reversed, n, participant, subject, kind, author, now);
      assert_int_equal(r.verdict, d.verdict);
      if (r.consent)
        assert_true(r.consent >= reversed && r.consent < reversed + n);
    }
    /* consent_is_active is exactly the oracle's activity test */
    for (size_t i = 0; i < n; i++) {
      int64_t now = (int64_t)s_below(130) - 5;
      int active = !list[i].revoked && list[i].valid_from_ms <= now &&
                   now < list[i].valid_until_ms;
      assert_int_equal(consent_is_active(&list[i], now) != 0, active);
    }
  }
  /* the generator exercised every outcome, not just one */
  assert_true(allowed_author > 1000);
  assert_true(allowed_consent > 1000);
  assert_true(denied > 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
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
      cmocka_unit_test(test_property_random_sets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
