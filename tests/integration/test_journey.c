/* The journey of the design ("What done looks like"), over a real ketend
 * with the example partners, a TVS participant (run by COA) and a second
 * gemeente, on the example data of the fictional statushouder Amira
 * (tests/data/examples, read with jansson; KETEN_EXAMPLES_DIR):
 *
 *   COA records the intake sections and the three consents given at intake,
 *   one naming "the gemeente she is linked to" (@gemeente) → TVS publishes
 *   the KOPPELING → the gemeente receives exactly its consented sections at
 *   once, those stored before the koppeling included (rewraps served by
 *   COA's client) → the gemeente adds PARTICIPATION → the volunteer reads
 *   what it may (never HEALTH) → the care partner reads HEALTH and STORY →
 *   its consent is revoked: it gets a signed delete notice and later
 *   updates do not reach it → she moves (ONTKOPPELING, then a KOPPELING to
 *   a second gemeente): the old gemeente gets a delete notice and nothing
 *   more, the new one the profile → the person's access report lists every
 *   disclosure and nothing else → the audit chain verifies.
 *
 * Nothing is granted to a gemeente by its participant id: the gemeenten
 * read COA's sections only through the "@gemeente" consent and the TVS
 * koppeling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "keten.pb-c.h"
#include "party.h"

#ifndef KETEN_EXAMPLES_DIR
#error "KETEN_EXAMPLES_DIR must name the shared examples directory"
#endif

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define GEMEENTE2 "gemeente:0678"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define TVS "tvs:coa"

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (UINT64_C(24) * 3600 * 1000)
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define QUIET_MS 1000

/* ---- the example data ---------------------------------------------------- */

typedef struct {
  char kind[32];
  char *json; /* compact JSON of the section, owned */
} s_section_t;

typedef struct {
  char recipient[KETEN_ID_MAX + 1]; /* a participant id, or "@gemeente" */
  char sections[12][32];
  size_t n_sections;
  char purpose[32];
  char basis[32];
  uint64_t valid_days;
  char evidence[257];
  uint8_t consent_id[KETEN_CONSENT_ID_BYTES]; /* once granted */
} s_consent_t;

typedef struct {
  char v_nummer[16];
  s_section_t intake[16]; /* coa-intake-amira.json, in file order */
  size_t n_intake;
  s_consent_t consents[4];
  size_t n_consents;
  keten_tvs_event_t koppeling; /* tvs-koppeling-amira.json */
  s_section_t gemeente[4];     /* gemeente-participation-amira.json */
  size_t n_gemeente;
  s_section_t support, care; /* vwn-support-, ggz-care-amira.json */
} s_examples_t;

static s_examples_t X;

static json_t *s_load(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", KETEN_EXAMPLES_DIR, name);
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  if (!j)
    fail_msg("example data %s: %s (line %d)", path, err.text, err.line);
  return j;
}

static const char *s_str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  if (!v)
    fail_msg("example data: no string \"%s\"", key);
  return v;
}

static void s_same_person(json_t *o) {
  assert_string_equal(s_str(o, "v_nummer"), X.v_nummer);
}

/* The sections of file o ("sections": {KIND: {...}}) into out. */
static size_t s_sections(json_t *o, const char *recorded_by, s_section_t *out,
                         size_t cap) {
  assert_string_equal(s_str(o, "recorded_by"), recorded_by);
  json_t *secs = json_object_get(o, "sections");
  assert_true(json_is_object(secs));
  size_t n = 0;
  const char *kind;
  json_t *v;
  json_object_foreach(secs, kind, v) {
    assert_true(n < cap);
    assert_true(keten_section_kind_from_name(kind) > 0);
    snprintf(out[n].kind, sizeof out[n].kind, "%s", kind);
    out[n].json = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(out[n].json);
    n++;
  }
  return n;
}

static void s_load_examples(void) {
  memset(&X, 0, sizeof X);
  json_t *intake = s_load("coa-intake-amira.json");
  snprintf(X.v_nummer, sizeof X.v_nummer, "%s", s_str(intake, "v_nummer"));
  X.n_intake = s_sections(intake, COA, X.intake, 16);
  json_t *consents = json_object_get(intake, "consents");
  assert_true(json_is_array(consents));
  size_t i;
  json_t *c;
  json_array_foreach(consents, i, c) {
    assert_true(X.n_consents < 4);
    s_consent_t *k = &X.consents[X.n_consents++];
    const char *role = json_string_value(json_object_get(c, "recipient_role"));
    if (role) {
      /* the only role a consent can name: the gemeente she is linked to */
      assert_string_equal(role, "GEMEENTE_LINKED");
      snprintf(k->recipient, sizeof k->recipient, "%s", KETEN_LINKED_GEMEENTE);
    } else {
      snprintf(k->recipient, sizeof k->recipient, "%s", s_str(c, "recipient"));
    }
    json_t *kinds = json_object_get(c, "sections");
    size_t j;
    json_t *kind;
    json_array_foreach(kinds, j, kind) {
      assert_true(k->n_sections < 12);
      snprintf(k->sections[k->n_sections++], 32, "%s",
               json_string_value(kind));
    }
    snprintf(k->purpose, sizeof k->purpose, "%s", s_str(c, "purpose"));
    snprintf(k->basis, sizeof k->basis, "%s", s_str(c, "basis"));
    k->valid_days =
        (uint64_t)json_integer_value(json_object_get(c, "valid_days"));
    assert_true(k->valid_days > 0);
    snprintf(k->evidence, sizeof k->evidence, "%s", s_str(c, "evidence"));
  }
  json_decref(intake);

  json_t *tvs = s_load("tvs-koppeling-amira.json");
  s_same_person(tvs);
  assert_string_equal(s_str(tvs, "event"), "KOPPELING");
  keten_tvs_event_t *ev = &X.koppeling;
  ev->kind = keten_tvs_kind_from_name(s_str(tvs, "event"));
  assert_int_equal(ev->kind, KETEN_TVS_KOPPELING);
  snprintf(ev->gemeente, sizeof ev->gemeente, "%s", s_str(tvs, "gemeente"));
  snprintf(ev->period, sizeof ev->period, "%s", s_str(tvs, "period"));
  snprintf(ev->date, sizeof ev->date, "%s", s_str(tvs, "date"));
  ev->household_size =
      (uint32_t)json_integer_value(json_object_get(tvs, "household_size"));
  json_decref(tvs);

  json_t *gem = s_load("gemeente-participation-amira.json");
  s_same_person(gem);
  X.n_gemeente = s_sections(gem, GEMEENTE, X.gemeente, 4);
  json_decref(gem);
  json_t *vwn = s_load("vwn-support-amira.json");
  s_same_person(vwn);
  assert_int_equal(s_sections(vwn, VWN, &X.support, 1), 1);
  json_decref(vwn);
  json_t *ggz = s_load("ggz-care-amira.json");
  s_same_person(ggz);
  assert_int_equal(s_sections(ggz, GGZ, &X.care, 1), 1);
  json_decref(ggz);
}

static void s_free_examples(void) {
  for (size_t i = 0; i < X.n_intake; i++)
    free(X.intake[i].json);
  for (size_t i = 0; i < X.n_gemeente; i++)
    free(X.gemeente[i].json);
  free(X.support.json);
  free(X.care.json);
  memset(&X, 0, sizeof X);
}

static const char *s_intake_json(const char *kind) {
  for (size_t i = 0; i < X.n_intake; i++)
    if (strcmp(X.intake[i].kind, kind) == 0)
      return X.intake[i].json;
  fail_msg("no intake section %s", kind);
  return NULL;
}

static const char *s_gemeente_json(const char *kind) {
  for (size_t i = 0; i < X.n_gemeente; i++)
    if (strcmp(X.gemeente[i].kind, kind) == 0)
      return X.gemeente[i].json;
  fail_msg("no gemeente section %s", kind);
  return NULL;
}

static s_consent_t *s_consent_for(const char *recipient) {
  for (size_t i = 0; i < X.n_consents; i++)
    if (strcmp(X.consents[i].recipient, recipient) == 0)
      return &X.consents[i];
  fail_msg("no intake consent for %s", recipient);
  return NULL;
}

static int s_covers(const s_consent_t *k, const char *kind) {
  for (size_t i = 0; i < k->n_sections; i++)
    if (strcmp(k->sections[i], kind) == 0)
      return 1;
  return 0;
}

/* later updates by COA (not in the example data: they happen later) */
static const char STORY_UPDATE[] =
    "{\"language\":\"ar\",\"told_to\":\"coa\",\"text\":\"Ik was apotheker in "
    "Homs. Mijn man is inmiddels via gezinshereniging in Nederland.\"}";
static const char HEALTH_UPDATE[] =
    "{\"notes\":\"slaapt beter; gesprekken bij de GGZ lopen\",\"referral\":"
    "\"GGZ\",\"urgent\":false}";
static const char EDUCATION_UPDATE[] =
    "{\"highest\":\"master\",\"field\":\"farmacie\",\"country\":\"SYR\","
    "\"year\":2014,\"diploma_evaluation\":{\"requested\":true,\"by\":\"IDW\","
    "\"result\":\"gelijkwaardig aan master\"}}";

/* ---- disclosures the partners saw ---------------------------------------- */

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

static s_ledger_t s_ledger;

static void s_note(const char *event, const char *to, const char *by,
                   int kind) {
  assert_true(s_ledger.n < sizeof s_ledger.d / sizeof s_ledger.d[0]);
  s_disclosure_t *d = &s_ledger.d[s_ledger.n++];
  memset(d, 0, sizeof *d);
  snprintf(d->event, sizeof d->event, "%s", event);
  snprintf(d->to, sizeof d->to, "%s", to);
  snprintf(d->by, sizeof d->by, "%s", by);
  d->kind = kind;
}

/* ---- partners: a client and everything its mailbox brought --------------- */

typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version, seq;
  char json[1024];
} s_got_t;

typedef struct {
  const char *id;
  keten_client_t *c;
  s_got_t got[32];
  size_t n, bad;
  keten_tvs_event_t ev[8];
  size_t n_ev, bad_ev;
  keten_notice_t *ntc; /* [4] */
  size_t n_ntc, bad_ntc;
  keten_rewrap_t rw[32];
  size_t n_rw;
} s_partner_t;

static s_partner_t *s_partners[8];

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_partner_t *p = arg;
  if (!s || status != KETEN_OK || p->n == sizeof p->got / sizeof p->got[0]) {
    p->bad++;
    return 0;
  }
  s_got_t *g = &p->got[p->n++];
  g->kind = s->header.kind;
  snprintf(g->author, sizeof g->author, "%s", s->header.author);
  g->version = s->header.version;
  g->seq = seq;
  snprintf(g->json, sizeof g->json, "%s", s->json);
  s_note("keten.section.deliver", p->id, s->header.author, s->header.kind);
  return 0;
}

static int s_on_event(const keten_tvs_event_t *ev, uint64_t seq,
                      keten_err_t status, void *arg) {
  (void)seq;
  s_partner_t *p = arg;
  if (!ev || status != KETEN_OK || p->n_ev == sizeof p->ev / sizeof p->ev[0])
    p->bad_ev++;
  else
    p->ev[p->n_ev++] = *ev;
  return 0;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  (void)seq;
  s_partner_t *p = arg;
  if (!n || status != KETEN_OK || p->n_ntc == 4)
    p->bad_ntc++;
  else
    p->ntc[p->n_ntc++] = *n;
  return 0;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  (void)seq;
  s_partner_t *p = arg;
  assert_true(p->n_rw < sizeof p->rw / sizeof p->rw[0]);
  p->rw[p->n_rw++] = *r;
}

static void s_connect(harness_t *h, s_partner_t *p, uint32_t credit) {
  assert_null(p->c);
  p->c = party_track(harness_client(h, &harness_partner(h, p->id)->keys,
                                    CLIENT_TIMEOUT_MS, -1));
  keten_client_on_tvs_event(p->c, s_on_event, p);
  keten_client_on_notice(p->c, s_on_notice, p);
  keten_client_on_rewrap(p->c, s_on_rewrap, p);
  if (credit)
    assert_int_equal(keten_client_subscribe(p->c, credit), KETEN_OK);
}

static void s_disconnect(s_partner_t *p) { party_untrack_close(&p->c); }

static s_partner_t *s_partner(harness_t *h, const char *id, uint32_t credit) {
  s_partner_t *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->ntc = calloc(4, sizeof *p->ntc);
  assert_non_null(p->ntc);
  size_t i = 0;
  while (i < sizeof s_partners / sizeof s_partners[0] && s_partners[i])
    i++;
  assert_true(i < sizeof s_partners / sizeof s_partners[0]);
  s_partners[i] = p;
  p->id = id;
  s_connect(h, p, credit);
  return p;
}

static void s_close_all(void) {
  party_cleanup();
  for (size_t i = 0; i < sizeof s_partners / sizeof s_partners[0]; i++) {
    if (s_partners[i]) {
      free(s_partners[i]->ntc);
      free(s_partners[i]);
      s_partners[i] = NULL;
    }
  }
}

/* ---- helpers ------------------------------------------------------------- */

static uint64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int s_kind(const char *name) {
  int k = keten_section_kind_from_name(name);
  assert_true(k > 0);
  return k;
}

static void s_poll(s_partner_t *p, int ms) {
  keten_err_t rc = keten_client_poll(p->c, ms, s_on_delivery, p, NULL);
  if (rc != KETEN_OK)
    fail_msg("poll of %s: %s: %s", p->id, keten_strerror(rc),
             keten_client_error(p->c));
}

/* Polls ps (n of them) until p holds want sections and want_ev events and
 * want_ntc notices, or WAIT_MS. */
static void s_poll_until(s_partner_t *const *ps, size_t n, s_partner_t *p,
                         size_t want, size_t want_ev, size_t want_ntc) {
  int64_t deadline = party_mono_ms() + WAIT_MS;
  while (p->n < want || p->n_ev < want_ev || p->n_ntc < want_ntc) {
    if (party_mono_ms() >= deadline)
      fail_msg("%s got %zu of %zu deliveries, %zu of %zu TVS events, %zu of "
               "%zu notices",
               p->id, p->n, want, p->n_ev, want_ev, p->n_ntc, want_ntc);
    for (size_t i = 0; i < n; i++)
      s_poll(ps[i], 10);
  }
}

/* Polls ps for QUIET_MS. */
static void s_poll_quiet(s_partner_t *const *ps, size_t n) {
  int64_t deadline = party_mono_ms() + QUIET_MS;
  while (party_mono_ms() < deadline)
    for (size_t i = 0; i < n; i++)
      s_poll(ps[i], 10);
}

#define PS(...) (s_partner_t *[]){__VA_ARGS__}, \
                sizeof((s_partner_t *[]){__VA_ARGS__}) / sizeof(s_partner_t *)

/* The acks c sent are processed once a request after them is answered. */
static void s_settle(s_partner_t *p) {
  assert_int_equal(keten_client_ping(p->c, "settle", 6, NULL), KETEN_OK);
}

static void s_grant(keten_client_t *c, const uint8_t subject[32],
                    s_consent_t *g) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", g->recipient);
  for (size_t i = 0; i < g->n_sections; i++)
    k.sections |= BIT(s_kind(g->sections[i]));
  k.purpose = keten_purpose_from_name(g->purpose);
  assert_true(k.purpose > 0);
  k.basis = keten_basis_from_name(g->basis);
  assert_true(k.basis > 0);
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "%s", g->evidence);
  uint64_t now = s_wall_ms();
  k.valid_from_ms = now - 60000;
  k.valid_until_ms = now + g->valid_days * DAY_MS;
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s", g->recipient, keten_client_error(c));
  memcpy(g->consent_id, k.consent_id, sizeof g->consent_id);
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

/* Asserts that p holds exactly n deliveries (kinds, authors, jsons), in
 * any order when any_order, else in that order; each once, all opened. */
static void s_expect_inbox(const s_partner_t *p, size_t from,
                           const char *const *kinds,
                           const char *const *authors, const char *const *jsons,
                           size_t n, int any_order) {
  assert_int_equal(p->bad, 0);
  assert_int_equal(p->n - from, n);
  for (size_t i = 0; i < n; i++) {
    const s_got_t *g = NULL;
    if (any_order) {
      for (size_t j = from; j < p->n; j++)
        if (p->got[j].kind == s_kind(kinds[i]) &&
            strcmp(p->got[j].author, authors[i]) == 0)
          g = &p->got[j];
      if (!g)
        fail_msg("%s lacks %s by %s", p->id, kinds[i], authors[i]);
    } else {
      g = &p->got[from + i];
      assert_int_equal(g->kind, s_kind(kinds[i]));
      assert_string_equal(g->author, authors[i]);
      if (i > 0)
        assert_true(g->seq > p->got[from + i - 1].seq);
    }
    assert_string_equal(g->json, jsons[i]);
  }
}

/* Fetches as p and asserts exactly the given sections (any order). */
static void s_expect_fetch(s_partner_t *p, const uint8_t subject[32],
                           const char *const *kinds, const char *const *authors,
                           const char *const *jsons, size_t n) {
  keten_section_t *secs = NULL;
  size_t got = 0;
  keten_err_t rc = keten_client_fetch(p->c, subject, &secs, &got);
  if (rc != KETEN_OK)
    fail_msg("fetch by %s: %s", p->id, keten_client_error(p->c));
  assert_int_equal(got, n);
  for (size_t i = 0; i < n; i++) {
    const keten_section_t *s = NULL;
    for (size_t j = 0; j < got; j++)
      if (secs[j].header.kind == s_kind(kinds[i]) &&
          strcmp(secs[j].header.author, authors[i]) == 0)
        s = &secs[j];
    if (!s)
      fail_msg("%s's fetch lacks %s by %s", p->id, kinds[i], authors[i]);
    assert_string_equal(s->json, jsons[i]);
  }
  for (size_t j = 0; j < got; j++) {
    assert_int_not_equal(secs[j].header.kind, 0);
    s_note("keten.section.fetch", p->id, secs[j].header.author,
           secs[j].header.kind);
  }
  keten_sections_free(secs, got);
}

/* FETCH as p discloses nothing (refused). */
static void s_expect_fetch_nothing(s_partner_t *p, const uint8_t subject[32]) {
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(p->c, subject, &secs, &n),
                   KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(p->c),
                   KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  assert_int_equal(n, 0);
}

/* Asserts that notice nt is a delete notice of subject for reason naming
 * exactly COA's kinds up to versions. */
static void s_expect_delete(const keten_notice_t *nt, const uint8_t subject[32],
                            int reason, const char *const *kinds,
                            const uint64_t *versions, size_t n) {
  assert_int_equal(nt->kind, KETEN_NOTICE_DELETE);
  assert_int_equal(nt->delete_reason, reason);
  assert_memory_equal(nt->subject, subject, 32);
  assert_int_equal(nt->n_items, n);
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (size_t j = 0; j < nt->n_items; j++)
      found |= nt->items[j].kind == s_kind(kinds[i]) &&
               !strcmp(nt->items[j].author, COA) &&
               nt->items[j].up_to_version == versions[i];
    if (!found)
      fail_msg("the delete notice lacks %s by coa up to v%llu", kinds[i],
               (unsigned long long)versions[i]);
  }
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
    char one[2048];
    snprintf(one, sizeof one, "%.*s", (int)len, line);
    if (len)
      fn(one, arg);
    line = nl ? nl + 1 : NULL;
  }
}

typedef struct {
  long long revoke_seq; /* the care partner's consent revocation */
  int n_revokes;
  long long unlink_seq; /* the ONTKOPPELING in the old gemeente's feed */
  int n_unlinks;
} s_all_t;

static void s_scan_all(const char *line, void *arg) {
  s_all_t *a = arg;
  char ev[64], to[80], st[16], detail[128];
  s_field(line, "event", ev, sizeof ev);
  s_field(line, "status", st, sizeof st);
  if (strcmp(st, "OK"))
    return;
  if (!strcmp(ev, "keten.consent.revoke")) {
    assert_string_equal(s_field(line, "to", to, sizeof to), GGZ);
    a->revoke_seq = s_int_field(line, "seq");
    a->n_revokes++;
  } else if (!strcmp(ev, "keten.tvs.publish") &&
             !strncmp(s_field(line, "detail", detail, sizeof detail),
                      "ONTKOPPELING", 12)) {
    assert_string_equal(s_field(line, "to", to, sizeof to), GEMEENTE);
    a->unlink_seq = s_int_field(line, "seq");
    a->n_unlinks++;
  }
}

typedef struct {
  long long revoke_seq, unlink_seq;
  size_t lines;
  const s_consent_t *gem_vwn; /* the gemeente's consent for the volunteer */
} s_report_t;

/* The consent a disclosure of kind by `by` to `to` must be recorded
 * under (NULL: none, an author reading its own). */
static const s_consent_t *s_expected_consent(const s_report_t *r,
                                             const char *to, const char *by,
                                             const char *kind) {
  if (strcmp(to, by) == 0)
    return NULL;
  if (strcmp(to, VWN) == 0 && strcmp(by, GEMEENTE) == 0)
    return r->gem_vwn;
  assert_string_equal(by, COA);
  /* the gemeenten read COA's sections only as the linked gemeente */
  const s_consent_t *k =
      s_consent_for(strcmp(to, GEMEENTE) == 0 || strcmp(to, GEMEENTE2) == 0
                        ? KETEN_LINKED_GEMEENTE
                        : to);
  if (!s_covers(k, kind))
    fail_msg("%s disclosed to %s outside its consent", kind, to);
  return k;
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
  /* nothing of COA's to the old gemeente after the ONTKOPPELING */
  if (!strcmp(to, GEMEENTE) && !strcmp(by, COA) && seq > r->unlink_seq)
    fail_msg("disclosed to the old gemeente after the ONTKOPPELING: %s", line);
  /* under the consent and purpose that allowed it */
  const s_consent_t *k = s_expected_consent(r, to, by, kind);
  if (strcmp(purpose, k ? k->purpose : "") != 0)
    fail_msg("purpose %s, expected %s: %s", purpose, k ? k->purpose : "",
             line);
  char want_id[33];
  if (k) {
    for (size_t i = 0; i < 16; i++)
      snprintf(want_id + 2 * i, 3, "%02x", k->consent_id[i]);
  } else {
    memset(want_id, '0', 32);
    want_id[32] = '\0';
  }
  if (strcmp(consent, want_id) != 0)
    fail_msg("consent %s, expected %s: %s", consent, want_id, line);
  /* and it is one the test saw happen */
  for (size_t i = 0; i < s_ledger.n; i++) {
    s_disclosure_t *d = &s_ledger.d[i];
    const char *dk = keten_section_kind_name(d->kind);
    if (!d->matched && !strcmp(d->event, ev) && !strcmp(d->to, to) &&
        !strcmp(d->by, by) && dk && !strcmp(dk, kind)) {
      d->matched = 1;
      return;
    }
  }
  fail_msg("the report lists a disclosure no partner received: %s", line);
}

/* ---- the journey --------------------------------------------------------- */

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h || !harness_add_partner(h, TVS, "TVS", "TVS (COA, fictief)") ||
      !harness_add_partner(h, GEMEENTE2, "GEMEENTE", "Gemeente Kapelle")) {
    harness_destroy(&h);
    return -1;
  }
  if (harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  s_close_all();
  s_free_examples();
  harness_destroy(&h);
  return 0;
}

static void test_journey(void **state) {
  harness_t *h = *state;
  memset(&s_ledger, 0, sizeof s_ledger);
  s_load_examples();
  /* the intake as the file has it: eight sections, three consents */
  static const char *const INTAKE_KINDS[] = {"IDENTITY", "HOUSEHOLD", "STORY",
                                             "EDUCATION", "WORK", "LANGUAGE",
                                             "HOUSING", "HEALTH"};
  assert_int_equal(X.n_intake, 8);
  for (size_t i = 0; i < 8; i++)
    assert_string_equal(X.intake[i].kind, INTAKE_KINDS[i]);
  assert_int_equal(X.n_consents, 3);
  assert_string_equal(X.consents[0].recipient, KETEN_LINKED_GEMEENTE);
  assert_string_equal(X.koppeling.gemeente, GEMEENTE);
  s_consent_t *to_gem = s_consent_for(KETEN_LINKED_GEMEENTE);
  s_consent_t *to_ggz = s_consent_for(GGZ);

  /* The chain key the partners share (the broker never has it), and
   * Amira's pseudonym. */
  uint8_t chain[KETEN_CHAIN_KEY_BYTES], subject[KETEN_SUBJECT_BYTES];
  char chain_path[320];
  snprintf(chain_path, sizeof chain_path, "%s/chain.key", h->dir);
  assert_int_equal(keten_chain_key_generate(chain), KETEN_OK);
  assert_int_equal(keten_chain_key_save(chain, chain_path, 0), KETEN_OK);
  assert_int_equal(keten_subject_id(chain, X.v_nummer, subject), KETEN_OK);

  /* COA's adapter runs throughout: it serves rewrap requests. The gemeente
   * is online, waiting for its statushouders. */
  s_partner_t *coa = s_partner(h, COA, 16);
  s_partner_t *gem = s_partner(h, GEMEENTE, 4); /* a small window */
  keten_client_t *tvs = party_track(
      harness_client(h, &harness_partner(h, TVS)->keys, CLIENT_TIMEOUT_MS, -1));

  /* 1. COA records the consents given at intake ... */
  for (size_t i = 0; i < X.n_consents; i++)
    s_grant(coa->c, subject, &X.consents[i]);
  keten_consent_t *list = NULL;
  size_t n_list = 0;
  assert_int_equal(keten_client_consent_list(coa->c, subject, &list, &n_list),
                   KETEN_OK);
  assert_int_equal(n_list, 3);
  free(list);

  /* ... and puts the intake: every section, HEALTH included, each queued
   * for exactly the partners whose consent covers it. She is not linked to
   * a gemeente yet: the "@gemeente" consent names nobody. */
  static const char *const Q_IDENTITY[] = {VWN, GGZ, NULL};
  static const char *const Q_VWN[] = {VWN, NULL};
  static const char *const Q_GGZ[] = {GGZ, NULL};
  static const char *const Q_NONE[] = {NULL};
  static const char *const *const Q_INTAKE[] = {
      Q_IDENTITY, Q_VWN, Q_GGZ, Q_NONE, Q_NONE, Q_VWN, Q_VWN, Q_GGZ};
  for (size_t i = 0; i < 8; i++)
    s_put(coa->c, subject, INTAKE_KINDS[i], X.intake[i].json, 1, Q_INTAKE[i]);
  s_poll_quiet(PS(coa, gem));
  assert_int_equal(gem->n, 0);
  assert_int_equal(coa->n_rw, 0);
  s_expect_fetch_nothing(gem, subject);

  /* 2. TVS publishes the koppeling (tvs-koppeling-amira.json) ... */
  keten_tvs_event_t k1 = X.koppeling;
  memcpy(k1.subject, subject, 32);
  keten_tvs_published_t pub;
  memset(&pub, 0, sizeof pub);
  if (keten_client_tvs_publish(tvs, &k1, &pub) != KETEN_OK)
    fail_msg("KOPPELING: %s", keten_client_error(tvs));
  assert_int_equal(pub.duplicate, 0);
  assert_int_equal(pub.n_queued, 1);
  assert_string_equal(pub.queued[0], GEMEENTE);
  assert_int_equal(pub.rewraps_queued, to_gem->n_sections);

  /* ... and the gemeente receives exactly its consented sections at once,
   * each once, through rewraps served by COA's client, and its koppeling */
  const char *gem_kinds[12], *gem_authors[12], *gem_jsons[12];
  size_t n_gem = 0;
  for (size_t i = 0; i < 8; i++)
    if (s_covers(to_gem, INTAKE_KINDS[i])) {
      gem_kinds[n_gem] = INTAKE_KINDS[i];
      gem_authors[n_gem] = COA;
      gem_jsons[n_gem] = X.intake[i].json;
      n_gem++;
    }
  assert_int_equal(n_gem, 7);
  assert_false(s_covers(to_gem, "HEALTH"));
  int64_t t0 = party_mono_ms();
  s_poll_until(PS(coa, gem), gem, n_gem, 1, 0);
  assert_true(party_mono_ms() - t0 < WAIT_MS);
  s_poll_quiet(PS(coa, gem));
  s_expect_inbox(gem, 0, gem_kinds, gem_authors, gem_jsons, n_gem, 1);
  assert_int_equal(gem->n_ev, 1);
  assert_int_equal(gem->bad_ev, 0);
  assert_memory_equal(gem->ev[0].event_id, k1.event_id, 16);
  assert_memory_equal(gem->ev[0].subject, subject, 32);
  assert_string_equal(gem->ev[0].gemeente, GEMEENTE);
  assert_string_equal(gem->ev[0].period, X.koppeling.period);
  assert_string_equal(gem->ev[0].date, X.koppeling.date);
  assert_int_equal(gem->ev[0].household_size, X.koppeling.household_size);
  assert_string_equal(gem->ev[0].published_by, TVS);
  assert_int_equal(coa->n_rw, n_gem);
  for (size_t i = 0; i < coa->n_rw; i++) {
    assert_int_equal(coa->rw[i].sealed, 1);
    assert_string_equal(coa->rw[i].recipient, GEMEENTE);
  }
  s_settle(coa);
  s_settle(gem);
  s_expect_fetch(gem, subject, gem_kinds, gem_authors, gem_jsons, n_gem);
  /* a new session of the gemeente gets nothing twice */
  s_disconnect(gem);
  s_connect(h, gem, 4);
  s_poll_quiet(PS(coa, gem));
  assert_int_equal(gem->n, n_gem);
  assert_int_equal(gem->n_ev, 1);

  /* 3. The gemeente adds its sections (gemeente-participation-amira.json).
   * Amira lets the volunteer read her PARTICIPATION plan (recorded by the
   * gemeente); INBURGERING goes to nobody else. */
  static s_consent_t GEM_TO_VWN = {.recipient = VWN,
                                   .sections = {"PARTICIPATION"},
                                   .n_sections = 1,
                                   .purpose = "PARTICIPATIE",
                                   .basis = "CONSENT",
                                   .valid_days = 365,
                                   .evidence = "gemeente-0716-pip-2026-08-12"};
  s_grant(gem->c, subject, &GEM_TO_VWN);
  assert_int_equal(X.n_gemeente, 2);
  s_put(gem->c, subject, "INBURGERING", s_gemeente_json("INBURGERING"), 1,
        Q_NONE);
  s_put(gem->c, subject, "PARTICIPATION", s_gemeente_json("PARTICIPATION"), 1,
        Q_VWN);

  /* 4. The volunteer reads what it may: never HEALTH, nor STORY. */
  s_consent_t *to_vwn = s_consent_for(VWN);
  const char *vwn_kinds[12], *vwn_authors[12], *vwn_jsons[12];
  size_t n_vwn = 0;
  for (size_t i = 0; i < 8; i++)
    if (s_covers(to_vwn, INTAKE_KINDS[i])) {
      vwn_kinds[n_vwn] = INTAKE_KINDS[i];
      vwn_authors[n_vwn] = COA;
      vwn_jsons[n_vwn] = X.intake[i].json;
      n_vwn++;
    }
  vwn_kinds[n_vwn] = "PARTICIPATION";
  vwn_authors[n_vwn] = GEMEENTE;
  vwn_jsons[n_vwn] = s_gemeente_json("PARTICIPATION");
  n_vwn++;
  assert_int_equal(n_vwn, 5);
  s_partner_t *vwn = s_partner(h, VWN, 16);
  s_poll_until(PS(coa, gem, vwn), vwn, n_vwn, 0, 0);
  s_poll_quiet(PS(coa, gem, vwn));
  s_expect_inbox(vwn, 0, vwn_kinds, vwn_authors, vwn_jsons, n_vwn, 0);
  s_settle(vwn);
  s_expect_fetch(vwn, subject, vwn_kinds, vwn_authors, vwn_jsons, n_vwn);
  assert_int_equal(party_sql(h, "SELECT count(*) FROM wrap w JOIN section s ON "
                                "s.id = w.section_id WHERE w.recipient = '" VWN
                                "' AND s.kind IN (3, 10)"),
                   0);
  s_put(vwn->c, subject, "SUPPORT", X.support.json, 1, Q_NONE);

  /* 5. The care partner reads IDENTITY, STORY and HEALTH, and writes its
   * own note (no consent shares it yet). */
  static const char *const GGZ_KINDS[] = {"IDENTITY", "STORY", "HEALTH"};
  const char *const ggz_authors[] = {COA, COA, COA};
  const char *const ggz_jsons[] = {s_intake_json("IDENTITY"),
                                   s_intake_json("STORY"),
                                   s_intake_json("HEALTH")};
  assert_int_equal(to_ggz->n_sections, 3);
  s_partner_t *ggz = s_partner(h, GGZ, 16);
  s_poll_until(PS(coa, gem, ggz), ggz, 3, 0, 0);
  s_poll_quiet(PS(coa, gem, ggz));
  s_expect_inbox(ggz, 0, GGZ_KINDS, ggz_authors, ggz_jsons, 3, 0);
  s_settle(ggz);
  s_expect_fetch(ggz, subject, GGZ_KINDS, ggz_authors, ggz_jsons, 3);
  s_put(ggz->c, subject, "CARE", X.care.json, 1, Q_NONE);

  /* 6. Amira revokes the care partner's consent (COA records it); the
   * care partner is told, by a notice the broker signed, to delete what it
   * had of it. */
  assert_int_equal(keten_client_consent_revoke(coa->c, to_ggz->consent_id,
                                               subject,
                                               "ingetrokken door betrokkene",
                                               NULL),
                   KETEN_OK);
  s_poll_until(PS(coa, gem, ggz), ggz, 3, 0, 1);
  assert_int_equal(ggz->bad_ntc, 0);
  const uint64_t v1[] = {1, 1, 1};
  s_expect_delete(&ggz->ntc[0], subject, KETEN_NOTICE_REASON_REVOKED,
                  GGZ_KINDS, v1, 3);
  assert_int_equal(ggz->ntc[0].has_consent_id, 1);
  assert_memory_equal(ggz->ntc[0].consent_id, to_ggz->consent_id, 16);
  assert_int_equal(keten_client_consent_list(ggz->c, subject, &list, &n_list),
                   KETEN_OK);
  assert_int_equal(n_list, 1);
  assert_true(list[0].revoked);
  free(list);

  /* 7. Later updates reach the gemeente, not the care partner. */
  static const char *const Q_GEM[] = {GEMEENTE, NULL};
  s_put(coa->c, subject, "STORY", STORY_UPDATE, 2, Q_GEM);
  s_put(coa->c, subject, "HEALTH", HEALTH_UPDATE, 2, Q_NONE);
  size_t gem_before = gem->n;
  s_poll_until(PS(coa, gem, ggz), gem, gem_before + 1, 1, 0);
  s_poll_quiet(PS(coa, gem, ggz));
  static const char *const STORY_KIND[] = {"STORY"};
  const char *const story_json[] = {STORY_UPDATE};
  const char *const by_coa[] = {COA};
  s_expect_inbox(gem, gem_before, STORY_KIND, by_coa, story_json, 1, 0);
  assert_int_equal(gem->got[gem_before].version, 2);
  s_settle(gem);
  assert_int_equal(ggz->n, 3);
  assert_int_equal(ggz->n_ntc, 1);
  /* its FETCH now returns its own note only */
  static const char *const CARE_KIND[] = {"CARE"};
  const char *const by_ggz[] = {GGZ};
  const char *const care_json[] = {X.care.json};
  s_expect_fetch(ggz, subject, CARE_KIND, by_ggz, care_json, 1);

  /* 8. She moves: TVS ends the link to the old gemeente ... */
  keten_tvs_event_t o;
  memset(&o, 0, sizeof o);
  o.kind = KETEN_TVS_ONTKOPPELING;
  memcpy(o.subject, subject, 32);
  snprintf(o.gemeente, sizeof o.gemeente, "%s", GEMEENTE);
  snprintf(o.date, sizeof o.date, "2026-11-30");
  o.reason = KETEN_ONTKOPPEL_MOVED;
  memset(&pub, 0, sizeof pub);
  if (keten_client_tvs_publish(tvs, &o, &pub) != KETEN_OK)
    fail_msg("ONTKOPPELING: %s", keten_client_error(tvs));
  assert_int_equal(pub.n_queued, 1);
  assert_string_equal(pub.queued[0], GEMEENTE);
  /* ... the old gemeente gets it and a signed notice to delete what it had
   * of COA's (STORY up to v2) ... */
  s_poll_until(PS(coa, gem), gem, gem_before + 1, 2, 1);
  assert_int_equal(gem->bad_ntc, 0);
  assert_int_equal(gem->bad_ev, 0);
  assert_int_equal(gem->ev[1].kind, KETEN_TVS_ONTKOPPELING);
  assert_memory_equal(gem->ev[1].event_id, o.event_id, 16);
  uint64_t had[12];
  for (size_t i = 0; i < n_gem; i++)
    had[i] = strcmp(gem_kinds[i], "STORY") == 0 ? 2 : 1;
  s_expect_delete(&gem->ntc[0], subject, KETEN_NOTICE_REASON_ONTKOPPELD,
                  gem_kinds, had, n_gem);
  assert_int_equal(gem->ntc[0].has_tvs_event_id, 1);
  assert_memory_equal(gem->ntc[0].tvs_event_id, o.event_id, 16);
  s_settle(gem);
  /* ... and FETCHes only its own sections now */
  static const char *const GEM_OWN[] = {"INBURGERING", "PARTICIPATION"};
  const char *const by_gem[] = {GEMEENTE, GEMEENTE};
  const char *const gem_own_jsons[] = {s_gemeente_json("INBURGERING"),
                                       s_gemeente_json("PARTICIPATION")};
  s_expect_fetch(gem, subject, GEM_OWN, by_gem, gem_own_jsons, 2);

  /* ... then links her to the new gemeente, which gets the profile (the
   * latest versions) through rewraps, at once */
  s_partner_t *gem2 = s_partner(h, GEMEENTE2, 16);
  keten_tvs_event_t k2 = X.koppeling;
  memcpy(k2.subject, subject, 32);
  snprintf(k2.gemeente, sizeof k2.gemeente, "%s", GEMEENTE2);
  snprintf(k2.date, sizeof k2.date, "2026-12-01");
  memset(&pub, 0, sizeof pub);
  if (keten_client_tvs_publish(tvs, &k2, &pub) != KETEN_OK)
    fail_msg("KOPPELING to the new gemeente: %s", keten_client_error(tvs));
  assert_int_equal(pub.n_queued, 1);
  assert_string_equal(pub.queued[0], GEMEENTE2);
  assert_int_equal(pub.rewraps_queued, n_gem);
  const char *gem2_jsons[12];
  for (size_t i = 0; i < n_gem; i++)
    gem2_jsons[i] =
        strcmp(gem_kinds[i], "STORY") == 0 ? STORY_UPDATE : gem_jsons[i];
  s_poll_until(PS(coa, gem, gem2), gem2, n_gem, 1, 0);
  s_poll_quiet(PS(coa, gem, gem2));
  s_expect_inbox(gem2, 0, gem_kinds, gem_authors, gem2_jsons, n_gem, 1);
  assert_int_equal(gem2->bad_ev, 0);
  assert_memory_equal(gem2->ev[0].event_id, k2.event_id, 16);
  s_settle(gem2);
  s_expect_fetch(gem2, subject, gem_kinds, gem_authors, gem2_jsons, n_gem);
  /* later updates reach the new gemeente, not the old one */
  static const char *const Q_GEM2[] = {GEMEENTE2, NULL};
  s_put(coa->c, subject, "EDUCATION", EDUCATION_UPDATE, 2, Q_GEM2);
  size_t gem2_before = gem2->n;
  s_poll_until(PS(coa, gem, gem2), gem2, gem2_before + 1, 1, 0);
  s_poll_quiet(PS(coa, gem, gem2));
  static const char *const EDU_KIND[] = {"EDUCATION"};
  const char *const edu_json[] = {EDUCATION_UPDATE};
  s_expect_inbox(gem2, gem2_before, EDU_KIND, by_coa, edu_json, 1, 0);
  assert_int_equal(gem->n, gem_before + 1);
  assert_int_equal(gem->n_ntc, 1);
  s_settle(gem2);

  /* never a wrap of HEALTH for a gemeente or the volunteer; the old
   * gemeente holds no wrap of COA's sections any more */
  assert_int_equal(party_sql(h, "SELECT count(*) FROM wrap w JOIN section s ON "
                                "s.id = w.section_id WHERE s.kind = 10 AND "
                                "w.recipient IN ('" GEMEENTE "', '" GEMEENTE2
                                "', '" VWN "')"),
                   0);
  assert_int_equal(party_sql(h,
                             "SELECT count(*) FROM wrap w JOIN section s ON "
                             "s.id = w.section_id WHERE s.author = 'coa' AND "
                             "w.recipient = '" GEMEENTE "'"),
                   0);

  s_close_all();
  assert_int_equal(harness_stop(h), 0);

  /* 9. The access report (keten audit subject, as the FG would run it with
   * the V-nummer and the chain key) lists every disclosure and nothing
   * else; none to the care partner after the revocation, none of COA's to
   * the old gemeente after the ONTKOPPELING. */
  char *all = NULL, *report = NULL;
  const char *argv_all[] = {"audit",  "subject",     "--store",
                            h->store, "--chain-key", chain_path,
                            "--all",  X.v_nummer,    NULL};
  assert_int_equal(harness_run_cli(h, argv_all, &all), 0);
  s_all_t a = {.revoke_seq = -1, .unlink_seq = -1};
  s_each_line(all, s_scan_all, &a);
  assert_int_equal(a.n_revokes, 1);
  assert_true(a.revoke_seq > 0);
  assert_int_equal(a.n_unlinks, 1);
  assert_true(a.unlink_seq > a.revoke_seq);
  free(all);

  const char *argv_report[] = {"audit",       "subject",  "--store", h->store,
                               "--chain-key", chain_path, X.v_nummer, NULL};
  assert_int_equal(harness_run_cli(h, argv_report, &report), 0);
  s_report_t r = {.revoke_seq = a.revoke_seq,
                  .unlink_seq = a.unlink_seq,
                  .gem_vwn = &GEM_TO_VWN};
  s_each_line(report, s_check_disclosure, &r);
  free(report);
  for (size_t i = 0; i < s_ledger.n; i++)
    if (!s_ledger.d[i].matched)
      fail_msg("disclosure missing from the report: %s of %s by %s to %s",
               s_ledger.d[i].event, keten_section_kind_name(s_ledger.d[i].kind),
               s_ledger.d[i].by, s_ledger.d[i].to);
  /* deliveries: gemeente 7 + 1, volunteer 5, care partner 3, new gemeente
   * 7 + 1; fetches: gemeente 7 and later its own 2, volunteer 5, care
   * partner 3 and later its own 1, new gemeente 7 */
  assert_int_equal(s_ledger.n, (8 + 5 + 3 + 8) + (7 + 2 + 5 + 3 + 1 + 7));
  assert_int_equal(r.lines, s_ledger.n);

  /* 10. The audit chain verifies, checkpoints signature-checked. */
  char *out = NULL;
  int rc = harness_audit_verify(h, &out);
  if (rc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", rc, out ? out : "");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_journey, s_setup, s_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
