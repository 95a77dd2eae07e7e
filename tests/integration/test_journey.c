/* The journey of the design ("What done looks like"), over a real ketend
 * with the four example partners and the example data of the fictional
 * statushouder Amira (shared/examples, embedded here):
 *
 *   COA records intake and consent → the gemeente receives exactly its
 *   consented sections → the gemeente adds PARTICIPATION → the volunteer
 *   reads what it may (never HEALTH) → the care partner reads HEALTH and
 *   STORY → consent for the care partner is revoked → later updates do not
 *   reach it → the person's access report lists every disclosure and
 *   nothing else → the audit chain verifies.
 *
 * Not yet in it: the TVS koppeling and consents naming the role "the
 * gemeente this person is linked to" (GEMEENTE_LINKED) are a later issue.
 * Until then COA grants the gemeente directly, by its participant id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (UINT64_C(24) * 3600 * 1000)
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define QUIET_MS 1000

/* ---- the example data (shared/examples, the *-amira.json files) ---- */

static const char V_NUMMER[] = "2931847560"; /* fictional */

typedef struct {
  const char *kind;
  const char *json;
} s_section_t;

/* coa-intake-amira.json: "sections" */
static const s_section_t COA_INTAKE[] = {
    {"IDENTITY",
     "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": "
     "\"1991-03-14\", \"nationality\": \"SYR\", \"gender\": \"F\", \"permit\": "
     "{\"type\": \"asiel bepaalde tijd\", \"valid_from\": \"2026-06-02\"}}"},
    {"HOUSEHOLD",
     "{\"members\": [{\"relation\": \"child\", \"birth_year\": 2017}, "
     "{\"relation\": \"child\", \"birth_year\": 2020}], "
     "\"family_reunification\": {\"expected\": true, \"relation\": "
     "\"spouse\"}}"},
    {"STORY",
     "{\"language\": \"ar\", \"told_to\": \"coa\", \"text\": \"Ik was "
     "apotheker in Homs. Na het bombardement op onze wijk zijn we via Turkije "
     "gevlucht. Mijn man wacht in Turkije op gezinshereniging. Ik wil weer in "
     "een apotheek werken en mijn kinderen naar school laten gaan.\"}"},
    {"EDUCATION",
     "{\"highest\": \"master\", \"field\": \"farmacie\", \"country\": \"SYR\", "
     "\"year\": 2014, \"diploma_evaluation\": {\"requested\": true, \"by\": "
     "\"IDW\"}}"},
    {"WORK",
     "{\"experience\": [{\"role\": \"apotheker\", \"years\": 7, \"country\": "
     "\"SYR\"}], \"ambition\": \"werken in een apotheek; eerst als "
     "apothekersassistent\"}"},
    {"LANGUAGE",
     "{\"languages\": [{\"code\": \"ar\", \"level\": \"native\"}, {\"code\": "
     "\"en\", \"level\": \"B2\"}], \"nl\": {\"level\": \"A1\", \"course\": "
     "\"voorschakeltraject\"}}"},
    {"HOUSING",
     "{\"wishes\": \"nabij school en openbaar vervoer\", \"household_size\": "
     "3, \"accessibility\": \"none\"}"},
    {"HEALTH",
     "{\"notes\": \"slaapproblemen sinds de vlucht; wil graag praten met een "
     "hulpverlener\", \"referral\": \"GGZ\", \"urgent\": false}"},
};
#define N_INTAKE (sizeof COA_INTAKE / sizeof COA_INTAKE[0])

/* coa-intake-amira.json: "consents" (the first names GEMEENTE_LINKED; see
 * the top of this file) */
typedef struct {
  const char *recipient;
  const char *sections[8];
  const char *purpose;
  uint64_t valid_days;
  const char *evidence;
} s_consent_t;

static const s_consent_t COA_CONSENTS[] = {
    {GEMEENTE,
     {"IDENTITY", "HOUSEHOLD", "STORY", "EDUCATION", "WORK", "LANGUAGE",
      "HOUSING", NULL},
     "INBURGERING",
     730,
     "coa-form-2026-0611-17"},
    {VWN,
     {"IDENTITY", "HOUSEHOLD", "LANGUAGE", "HOUSING", NULL},
     "BEGELEIDING",
     365,
     "coa-form-2026-0611-17"},
    {GGZ,
     {"IDENTITY", "STORY", "HEALTH", NULL},
     "ZORG",
     365,
     "coa-form-2026-0611-18"},
};

/* gemeente-participation-amira.json */
static const char GEM_INBURGERING[] =
    "{\"route\": \"onderwijsroute\", \"learnability_test\": \"done\", "
    "\"pip_signed\": \"2026-08-12\"}";
static const char GEM_PARTICIPATION[] =
    "{\"benefit\": \"Participatiewet\", \"start\": \"2026-07-15\", \"plan\": "
    "\"taal + werkervaringsplek apotheek 16 uur\", \"klantmanager\": \"team "
    "statushouders\", \"next_review\": \"2026-11-15\"}";
/* vwn-support-amira.json */
static const char VWN_SUPPORT[] =
    "{\"volunteer_team\": \"Tholen\", \"helped_with\": [\"inschrijving "
    "school\", \"bankrekening\", \"zorgverzekering\"], \"next_visit\": "
    "\"2026-08-03\"}";
/* ggz-care-amira.json */
static const char GGZ_CARE[] =
    "{\"intake\": \"2026-08-20\", \"advice_for_work\": \"max 16 uur per week "
    "de eerste drie maanden\", \"shareable_summary\": true}";
/* later updates by COA, after the care partner's consent is revoked */
static const char STORY_UPDATE[] =
    "{\"language\": \"ar\", \"told_to\": \"coa\", \"text\": \"Ik was "
    "apotheker in Homs. Mijn man is inmiddels via gezinshereniging in "
    "Nederland.\"}";
static const char HEALTH_UPDATE[] =
    "{\"notes\": \"slaapt beter; gesprekken bij de GGZ lopen\", \"referral\": "
    "\"GGZ\", \"urgent\": false}";

/* ---- disclosures the partners saw -----------------------------------------
 */

/* One section handed to a partner: by delivery or by FETCH. */
typedef struct {
  char event[32]; /* keten.section.deliver or keten.section.fetch */
  char to[KETEN_ID_MAX + 1];
  char by[KETEN_ID_MAX + 1]; /* the author */
  int kind;
  int matched;
} s_disclosure_t;

typedef struct {
  s_disclosure_t d[128];
  size_t n;
} s_ledger_t;

static void s_note(s_ledger_t *l, const char *event, const char *to,
                   const char *by, int kind) {
  assert_true(l->n < sizeof l->d / sizeof l->d[0]);
  s_disclosure_t *d = &l->d[l->n++];
  memset(d, 0, sizeof *d);
  snprintf(d->event, sizeof d->event, "%s", event);
  snprintf(d->to, sizeof d->to, "%s", to);
  snprintf(d->by, sizeof d->by, "%s", by);
  d->kind = kind;
}

/* A partner's deliveries, deduplicated by the library. */
typedef struct {
  const char *who;
  s_ledger_t *ledger;
  struct {
    int kind;
    char author[KETEN_ID_MAX + 1];
    uint64_t version, seq;
    char json[1024];
  } got[32];
  size_t n;
  int bad;
} s_inbox_t;

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_inbox_t *in = arg;
  if (!s || status != KETEN_OK || in->n == sizeof in->got / sizeof in->got[0]) {
    in->bad++;
    return 0;
  }
  in->got[in->n].kind = s->header.kind;
  snprintf(in->got[in->n].author, sizeof in->got[in->n].author, "%s",
           s->header.author);
  in->got[in->n].version = s->header.version;
  in->got[in->n].seq = seq;
  snprintf(in->got[in->n].json, sizeof in->got[in->n].json, "%s", s->json);
  in->n++;
  s_note(in->ledger, "keten.section.deliver", in->who, s->header.author,
         s->header.kind);
  return 0;
}

/* ---- helpers ----------------------------------------------------------------
 */

static uint64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t s_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_kind(const char *name) {
  int k = keten_section_kind_from_name(name);
  assert_true(k > 0);
  return k;
}

static const char *s_intake_json(const char *kind) {
  for (size_t i = 0; i < N_INTAKE; i++)
    if (strcmp(COA_INTAKE[i].kind, kind) == 0)
      return COA_INTAKE[i].json;
  fail_msg("no intake section %s", kind);
  return NULL;
}

/* Clients a test opened; teardown closes those a failed test left. */
static keten_client_t *s_open[16];

static keten_client_t *s_client(harness_t *h, const char *id) {
  keten_client_t *c =
      harness_client(h, &harness_partner(h, id)->keys, CLIENT_TIMEOUT_MS, -1);
  assert_non_null(c);
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (!s_open[i]) {
      s_open[i] = c;
      return c;
    }
  fail_msg("too many clients");
  return NULL;
}

static void s_close(keten_client_t **c) {
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (s_open[i] == *c)
      s_open[i] = NULL;
  keten_client_destroy(c);
}

static void s_close_all(void) {
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    keten_client_destroy(&s_open[i]);
}

static void s_grant(keten_client_t *c, const uint8_t subject[32],
                    const s_consent_t *g, keten_consent_t *out) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", g->recipient);
  for (size_t i = 0; g->sections[i]; i++)
    k.sections |= BIT(s_kind(g->sections[i]));
  k.purpose = keten_purpose_from_name(g->purpose);
  assert_true(k.purpose > 0);
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "%s", g->evidence);
  uint64_t now = s_wall_ms();
  k.valid_from_ms = now - 60000;
  k.valid_until_ms = now + g->valid_days * DAY_MS;
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s", g->recipient, keten_client_error(c));
  if (out)
    *out = k;
}

/* Puts a section and asserts whom it was queued for (NULL-terminated). */
static void s_put(keten_client_t *c, const uint8_t subject[32],
                  const char *kind, const char *json, uint64_t version,
                  const char *const *queued) {
  keten_put_result_t r;
  keten_err_t rc =
      keten_client_put(c, subject, s_kind(kind), json, strlen(json), &r);
  if (rc != KETEN_OK)
    fail_msg("put %s: %s", kind, keten_client_error(c));
  assert_int_equal(r.version, version);
  size_t n = 0;
  for (; queued[n]; n++) {
    int found = 0;
    for (size_t j = 0; j < r.n_queued; j++)
      found |= strcmp(r.queued[j], queued[n]) == 0;
    if (!found)
      fail_msg("%s not queued for %s", kind, queued[n]);
  }
  if (r.n_queued != n)
    fail_msg("%s queued for %zu recipients, expected %zu", kind, r.n_queued, n);
}

static void s_poll_until(keten_client_t *c, s_inbox_t *in, size_t want) {
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (in->n < want && s_mono_ms() < deadline)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, in, NULL),
                     KETEN_OK);
  if (in->n < want)
    fail_msg("%s got %zu of %zu deliveries", in->who, in->n, want);
}

static size_t s_poll_quiet(keten_client_t *c, s_inbox_t *in) {
  size_t before = in->n;
  int64_t deadline = s_mono_ms() + QUIET_MS;
  while (s_mono_ms() < deadline)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, in, NULL),
                     KETEN_OK);
  return in->n - before;
}

/* The acks c sent are processed once a request after them is answered. */
static void s_settle(keten_client_t *c) {
  assert_int_equal(keten_client_ping(c, "settle", 6, NULL), KETEN_OK);
}

/* Asserts that the inbox holds each of want (kind names, author) once, in
 * that order, and nothing else. */
static void s_expect_inbox(const s_inbox_t *in, const char *const *kinds,
                           const char *const *authors, const char *const *jsons,
                           size_t n) {
  assert_int_equal(in->bad, 0);
  assert_int_equal(in->n, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(in->got[i].kind, s_kind(kinds[i]));
    assert_string_equal(in->got[i].author, authors[i]);
    assert_string_equal(in->got[i].json, jsons[i]);
    if (i > 0)
      assert_true(in->got[i].seq > in->got[i - 1].seq);
  }
}

/* Fetches as who and asserts exactly the given sections (any order). */
static void s_expect_fetch(keten_client_t *c, const char *who,
                           const uint8_t subject[32], const char *const *kinds,
                           const char *const *authors, const char *const *jsons,
                           size_t n, s_ledger_t *ledger) {
  keten_section_t *secs = NULL;
  size_t got = 0;
  keten_err_t rc = keten_client_fetch(c, subject, &secs, &got);
  if (rc != KETEN_OK)
    fail_msg("fetch by %s: %s", who, keten_client_error(c));
  assert_int_equal(got, n);
  for (size_t i = 0; i < n; i++) {
    const keten_section_t *s = NULL;
    for (size_t j = 0; j < got; j++)
      if (secs[j].header.kind == s_kind(kinds[i]) &&
          strcmp(secs[j].header.author, authors[i]) == 0)
        s = &secs[j];
    if (!s)
      fail_msg("%s's fetch lacks %s by %s", who, kinds[i], authors[i]);
    assert_string_equal(s->json, jsons[i]);
  }
  for (size_t j = 0; j < got; j++) {
    assert_int_not_equal(secs[j].header.kind, 0);
    s_note(ledger, "keten.section.fetch", who, secs[j].header.author,
           secs[j].header.kind);
  }
  keten_sections_free(secs, got);
}

static const char *s_field(const char *line, const char *key, char *buf,
                           size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(line, pat);
  buf[0] = '\0';
  if (!p)
    return buf;
  p += strlen(pat);
  size_t i = 0;
  while (p[i] && p[i] != '"' && i + 1 < cap) {
    buf[i] = p[i];
    i++;
  }
  buf[i] = '\0';
  return buf;
}

static long long s_int_field(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(line, pat);
  return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Calls fn for each line of text. */
static void s_each_line(const char *text, void (*fn)(const char *, void *),
                        void *arg) {
  const char *line = text;
  while (line && *line) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char one[1024];
    snprintf(one, sizeof one, "%.*s", (int)len, line);
    if (len)
      fn(one, arg);
    line = nl ? nl + 1 : NULL;
  }
}

typedef struct {
  long long revoke_seq; /* the care partner's consent revocation */
  int n_revokes;
} s_all_t;

static void s_scan_all(const char *line, void *arg) {
  s_all_t *a = arg;
  char ev[64], to[80], st[16];
  if (strcmp(s_field(line, "event", ev, sizeof ev), "keten.consent.revoke") ||
      strcmp(s_field(line, "status", st, sizeof st), "OK"))
    return;
  assert_string_equal(s_field(line, "to", to, sizeof to), GGZ);
  a->revoke_seq = s_int_field(line, "seq");
  a->n_revokes++;
}

typedef struct {
  s_ledger_t *ledger;
  long long revoke_seq;
  size_t lines;
  const s_consent_t *gem_vwn; /* the gemeente's consent for the volunteer */
} s_report_t;

/* The purpose a disclosure of kind to `to` must be recorded under. */
static const char *s_expected_purpose(const s_report_t *r, const char *to,
                                      const char *by, const char *kind) {
  if (strcmp(to, by) == 0)
    return ""; /* an author reading its own section: no consent involved */
  if (strcmp(to, VWN) == 0 && strcmp(kind, "PARTICIPATION") == 0)
    return r->gem_vwn->purpose;
  for (size_t i = 0; i < sizeof COA_CONSENTS / sizeof COA_CONSENTS[0]; i++)
    if (strcmp(COA_CONSENTS[i].recipient, to) == 0)
      return COA_CONSENTS[i].purpose;
  return "?";
}

static void s_check_disclosure(const char *line, void *arg) {
  s_report_t *r = arg;
  char ev[64], st[16], to[80], by[80], kind[32], purpose[32], consent[40];
  s_field(line, "event", ev, sizeof ev);
  s_field(line, "status", st, sizeof st);
  s_field(line, "to", to, sizeof to);
  s_field(line, "by", by, sizeof by);
  s_field(line, "section", kind, sizeof kind);
  s_field(line, "purpose", purpose, sizeof purpose);
  s_field(line, "consent_id", consent, sizeof consent);
  long long seq = s_int_field(line, "seq");
  r->lines++;
  /* only disclosures, each of a section by its author to a partner */
  if (strcmp(ev, "keten.section.deliver") && strcmp(ev, "keten.section.fetch"))
    fail_msg("not a disclosure: %s", line);
  assert_string_equal(st, "OK");
  assert_true(seq > 0);
  /* never HEALTH but to the care partner (or its author) */
  if (!strcmp(kind, "HEALTH") && strcmp(to, GGZ) && strcmp(to, by))
    fail_msg("HEALTH disclosed to %s: %s", to, line);
  /* nothing to the care partner after the revocation but its own notes */
  if (!strcmp(to, GGZ) && strcmp(by, GGZ) && seq > r->revoke_seq)
    fail_msg("disclosed to the care partner after the revocation: %s", line);
  /* under the consent and purpose that allowed it */
  const char *want = s_expected_purpose(r, to, by, kind);
  if (strcmp(purpose, want) != 0)
    fail_msg("purpose %s, expected %s: %s", purpose, want, line);
  int zero_consent = strspn(consent, "0") == strlen(consent);
  assert_int_equal(strlen(consent), 32);
  assert_int_equal(zero_consent, strcmp(to, by) == 0);
  /* and it is one the test saw happen */
  for (size_t i = 0; i < r->ledger->n; i++) {
    s_disclosure_t *d = &r->ledger->d[i];
    const char *dk = keten_section_kind_name(d->kind);
    if (!d->matched && !strcmp(d->event, ev) && !strcmp(d->to, to) &&
        !strcmp(d->by, by) && dk && !strcmp(dk, kind)) {
      d->matched = 1;
      return;
    }
  }
  fail_msg("the report lists a disclosure no partner received: %s", line);
}

/* ---- the journey ------------------------------------------------------------
 */

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h)
    return -1;
  if (harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static void s_close_all(void);

static int s_teardown(void **state) {
  harness_t *h = *state;
  s_close_all();
  harness_destroy(&h);
  return 0;
}

static void test_journey(void **state) {
  harness_t *h = *state;
  s_ledger_t ledger = {.n = 0};

  /* The chain key the partners share (the broker never has it), and
   * Amira's pseudonym. */
  uint8_t chain[KETEN_CHAIN_KEY_BYTES], subject[KETEN_SUBJECT_BYTES];
  char chain_path[320];
  snprintf(chain_path, sizeof chain_path, "%s/chain.key", h->dir);
  assert_int_equal(keten_chain_key_generate(chain), KETEN_OK);
  assert_int_equal(keten_chain_key_save(chain, chain_path, 0), KETEN_OK);
  assert_int_equal(keten_subject_id(chain, V_NUMMER, subject), KETEN_OK);

  keten_client_t *coa = s_client(h, COA);

  /* 1. COA records the consents given at intake ... */
  keten_consent_t to_ggz;
  for (size_t i = 0; i < sizeof COA_CONSENTS / sizeof COA_CONSENTS[0]; i++)
    s_grant(coa, subject, &COA_CONSENTS[i],
            strcmp(COA_CONSENTS[i].recipient, GGZ) == 0 ? &to_ggz : NULL);
  keten_consent_t *list = NULL;
  size_t n_list = 0;
  assert_int_equal(keten_client_consent_list(coa, subject, &list, &n_list),
                   KETEN_OK);
  assert_int_equal(n_list, 3);
  free(list);

  /* ... and puts the intake: every section, HEALTH included, each queued
   * for exactly the partners whose consent covers it. */
  static const char *const Q_IDENTITY[] = {GEMEENTE, VWN, GGZ, NULL};
  static const char *const Q_GEM_VWN[] = {GEMEENTE, VWN, NULL};
  static const char *const Q_GEM_GGZ[] = {GEMEENTE, GGZ, NULL};
  static const char *const Q_GEM[] = {GEMEENTE, NULL};
  static const char *const Q_GGZ[] = {GGZ, NULL};
  static const char *const Q_VWN[] = {VWN, NULL};
  static const char *const Q_NONE[] = {NULL};
  s_put(coa, subject, "IDENTITY", s_intake_json("IDENTITY"), 1, Q_IDENTITY);
  s_put(coa, subject, "HOUSEHOLD", s_intake_json("HOUSEHOLD"), 1, Q_GEM_VWN);
  s_put(coa, subject, "STORY", s_intake_json("STORY"), 1, Q_GEM_GGZ);
  s_put(coa, subject, "EDUCATION", s_intake_json("EDUCATION"), 1, Q_GEM);
  s_put(coa, subject, "WORK", s_intake_json("WORK"), 1, Q_GEM);
  s_put(coa, subject, "LANGUAGE", s_intake_json("LANGUAGE"), 1, Q_GEM_VWN);
  s_put(coa, subject, "HOUSING", s_intake_json("HOUSING"), 1, Q_GEM_VWN);
  s_put(coa, subject, "HEALTH", s_intake_json("HEALTH"), 1, Q_GGZ);

  /* 2. The gemeente (offline until now) receives exactly its consented
   * sections, each once, in the order they were put; its FETCH agrees. */
  static const char *const GEM_KINDS[] = {"IDENTITY",  "HOUSEHOLD", "STORY",
                                          "EDUCATION", "WORK",      "LANGUAGE",
                                          "HOUSING"};
  const char *gem_authors[7], *gem_jsons[7];
  for (size_t i = 0; i < 7; i++) {
    gem_authors[i] = COA;
    gem_jsons[i] = s_intake_json(GEM_KINDS[i]);
  }
  keten_client_t *gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 4),
                   KETEN_OK); /* a small window */
  s_inbox_t in_gem = {.who = GEMEENTE, .ledger = &ledger};
  s_poll_until(gem, &in_gem, 7);
  assert_int_equal(s_poll_quiet(gem, &in_gem), 0);
  s_expect_inbox(&in_gem, GEM_KINDS, gem_authors, gem_jsons, 7);
  s_settle(gem);
  s_expect_fetch(gem, GEMEENTE, subject, GEM_KINDS, gem_authors, gem_jsons, 7,
                 &ledger);
  /* a new session of the gemeente gets nothing twice */
  s_close(&gem);
  gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 4), KETEN_OK);
  assert_int_equal(s_poll_quiet(gem, &in_gem), 0);

  /* 3. The gemeente adds its sections. Amira lets the volunteer read her
   * PARTICIPATION plan (recorded by the gemeente); INBURGERING goes to
   * nobody else. */
  static const s_consent_t GEM_TO_VWN = {VWN,
                                         {"PARTICIPATION", NULL},
                                         "PARTICIPATIE",
                                         365,
                                         "gemeente-0716-pip-2026-08-12"};
  s_grant(gem, subject, &GEM_TO_VWN, NULL);
  s_put(gem, subject, "INBURGERING", GEM_INBURGERING, 1, Q_NONE);
  s_put(gem, subject, "PARTICIPATION", GEM_PARTICIPATION, 1, Q_VWN);

  /* 4. The volunteer reads what it may: never HEALTH, nor STORY. */
  static const char *const VWN_KINDS[] = {"IDENTITY", "HOUSEHOLD", "LANGUAGE",
                                          "HOUSING", "PARTICIPATION"};
  const char *const vwn_authors[] = {COA, COA, COA, COA, GEMEENTE};
  const char *const vwn_jsons[] = {
      s_intake_json("IDENTITY"), s_intake_json("HOUSEHOLD"),
      s_intake_json("LANGUAGE"), s_intake_json("HOUSING"), GEM_PARTICIPATION};
  keten_client_t *vwn = s_client(h, VWN);
  assert_int_equal(keten_client_subscribe(vwn, 16), KETEN_OK);
  s_inbox_t in_vwn = {.who = VWN, .ledger = &ledger};
  s_poll_until(vwn, &in_vwn, 5);
  assert_int_equal(s_poll_quiet(vwn, &in_vwn), 0);
  s_expect_inbox(&in_vwn, VWN_KINDS, vwn_authors, vwn_jsons, 5);
  s_settle(vwn);
  s_expect_fetch(vwn, VWN, subject, VWN_KINDS, vwn_authors, vwn_jsons, 5,
                 &ledger);
  s_put(vwn, subject, "SUPPORT", VWN_SUPPORT, 1, Q_NONE);

  /* 5. The care partner reads IDENTITY, STORY and HEALTH, and writes its
   * own note (no consent shares it yet). */
  static const char *const GGZ_KINDS[] = {"IDENTITY", "STORY", "HEALTH"};
  const char *const ggz_authors[] = {COA, COA, COA};
  const char *const ggz_jsons[] = {s_intake_json("IDENTITY"),
                                   s_intake_json("STORY"),
                                   s_intake_json("HEALTH")};
  keten_client_t *ggz = s_client(h, GGZ);
  assert_int_equal(keten_client_subscribe(ggz, 16), KETEN_OK);
  s_inbox_t in_ggz = {.who = GGZ, .ledger = &ledger};
  s_poll_until(ggz, &in_ggz, 3);
  assert_int_equal(s_poll_quiet(ggz, &in_ggz), 0);
  s_expect_inbox(&in_ggz, GGZ_KINDS, ggz_authors, ggz_jsons, 3);
  s_settle(ggz);
  s_expect_fetch(ggz, GGZ, subject, GGZ_KINDS, ggz_authors, ggz_jsons, 3,
                 &ledger);
  s_put(ggz, subject, "CARE", GGZ_CARE, 1, Q_NONE);

  /* 6. Amira revokes the care partner's consent (COA records it). */
  assert_int_equal(keten_client_consent_revoke(coa, to_ggz.consent_id, subject,
                                               "ingetrokken door betrokkene", NULL),
                   KETEN_OK);
  assert_int_equal(keten_client_consent_list(ggz, subject, &list, &n_list),
                   KETEN_OK);
  assert_int_equal(n_list, 1);
  assert_true(list[0].revoked);
  free(list);

  /* 7. Later updates reach the gemeente, not the care partner. */
  s_put(coa, subject, "STORY", STORY_UPDATE, 2, Q_GEM);
  s_put(coa, subject, "HEALTH", HEALTH_UPDATE, 2, Q_NONE);
  s_inbox_t in_gem2 = {.who = GEMEENTE, .ledger = &ledger};
  s_poll_until(gem, &in_gem2, 1);
  assert_int_equal(s_poll_quiet(gem, &in_gem2), 0);
  static const char *const STORY_KIND[] = {"STORY"};
  const char *const story_json[] = {STORY_UPDATE};
  const char *const by_coa[] = {COA};
  s_expect_inbox(&in_gem2, STORY_KIND, by_coa, story_json, 1);
  assert_int_equal(in_gem2.got[0].version, 2);
  s_settle(gem);
  assert_int_equal(s_poll_quiet(ggz, &in_ggz), 0);
  /* its FETCH now returns its own note only */
  static const char *const CARE_KIND[] = {"CARE"};
  const char *const by_ggz[] = {GGZ};
  const char *const care_json[] = {GGZ_CARE};
  s_expect_fetch(ggz, GGZ, subject, CARE_KIND, by_ggz, care_json, 1, &ledger);

  s_close(&coa);
  s_close(&gem);
  s_close(&vwn);
  s_close(&ggz);
  assert_int_equal(harness_stop(h), 0);

  /* 8. The access report (keten audit subject, as the FG would run it with
   * the V-nummer and the chain key) lists every disclosure and nothing
   * else; none to the care partner after the revocation. */
  char *all = NULL, *report = NULL;
  const char *argv_all[] = {"audit",  "subject",     "--store",
                            h->store, "--chain-key", chain_path,
                            "--all",  V_NUMMER,      NULL};
  assert_int_equal(harness_run_cli(h, argv_all, &all), 0);
  s_all_t a = {.revoke_seq = -1};
  s_each_line(all, s_scan_all, &a);
  assert_int_equal(a.n_revokes, 1);
  assert_true(a.revoke_seq > 0);
  free(all);

  const char *argv_report[] = {"audit",       "subject",  "--store", h->store,
                               "--chain-key", chain_path, V_NUMMER,  NULL};
  assert_int_equal(harness_run_cli(h, argv_report, &report), 0);
  s_report_t r = {
      .ledger = &ledger, .revoke_seq = a.revoke_seq, .gem_vwn = &GEM_TO_VWN};
  s_each_line(report, s_check_disclosure, &r);
  free(report);
  for (size_t i = 0; i < ledger.n; i++)
    if (!ledger.d[i].matched)
      fail_msg("disclosure missing from the report: %s of %s by %s to %s",
               ledger.d[i].event, keten_section_kind_name(ledger.d[i].kind),
               ledger.d[i].by, ledger.d[i].to);
  /* 7 + 1 + 5 + 3 deliveries; 7 + 5 + 3 + 1 sections fetched */
  assert_int_equal(ledger.n, 32);
  assert_int_equal(r.lines, ledger.n);

  /* 9. The audit chain verifies, checkpoints signature-checked. */
  char pub[320], *out = NULL;
  snprintf(pub, sizeof pub, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, pub, 1), KETEN_OK);
  const char *argv_verify[] = {"audit",        "verify", "--store", h->store,
                               "--broker-key", pub,      NULL};
  int rc = harness_run_cli(h, argv_verify, &out);
  if (rc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", rc, out ? out : "");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_journey, s_setup, s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
