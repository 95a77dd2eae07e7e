/* Rewraps and the person's counter after commits 6f8e5db and 32a6c4c, over
 * a real ketend (ipc) with the example partners, a TVS participant and a
 * second gemeente, driven by real libketen clients (and raw CURVE sockets
 * where a client must misbehave or interleave):
 *
 *   - the gemeente a person is linked to is the person's counter: it may
 *     revoke any consent of the person with evidence (the volunteer is
 *     told to delete and loses access), not without evidence, not while
 *     another gemeente, not once the link has ended;
 *   - a consent recorded before its window starts asks for nothing at the
 *     grant and, when it starts, has the broker queue the rewraps
 *     ("keten.consent.start") that the author's library serves;
 *     and a consent that starts (or a KOPPELING) while an older request
 *     with evidence that expires since is pending must not leave the
 *     recipient without a wrap;
 *   - a PUT sealed from a PREPARE made before a KOPPELING or a consent
 *     asks the author for the recipients it missed;
 *   - a rewrap answered after a newer version went to the recipient is not
 *     delivered (it would go backwards): "superseded";
 *   - a rewrap request acked without an answer (an older library) does not
 *     block the next trigger: a fresh request is queued and served.
 *
 * Every case starts a fresh broker and ends by stopping it and checking
 * `keten audit verify` on its store. */
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
#include <time.h>
#include <zmq.h>

#include "envelope.h"
#include "harness.h"
#include "seal.h"
#include "store.h"

#define COA "coa"
#define G1 "gemeente:0716"
#define G2 "gemeente:0678"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define TVS "tvs:coa"
#define LINKED KETEN_LINKED_GEMEENTE

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define QUIET_MS 600

enum {
  K_IDENTITY = 1,
  K_STORY = 3,
  K_LANGUAGE = 6,
  K_HEALTH = 10,
};
enum { P_INBURGERING = 2, P_ZORG = 4, P_BEGELEIDING = 5 };

static const char *const V_AMIRA = "2931847560"; /* fictional */

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\"}";
static const char IDENTITY2_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": "
    "\"1991-03-14\"}";
static const char LANGUAGE_JSON[] = "{\"nl\": {\"level\": \"A1\"}}";
static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\"}";
static const char HEALTH2_JSON[] =
    "{\"notes\": \"slaapt beter\", \"referral\": \"GGZ\"}";

/* ---- fixture ------------------------------------------------------------- */

static keten_client_t *s_open[32];

typedef struct s_party s_party_t;
static s_party_t *s_parties[16];
static void s_party_free_all(void);

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h || !harness_add_partner(h, TVS, "TVS", "TVS (COA, fictief)") ||
      !harness_add_partner(h, G2, "GEMEENTE", "Gemeente Kapelle (fictief)")) {
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
  s_party_free_all();
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    keten_client_destroy(&s_open[i]);
  harness_destroy(&h);
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static int64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static keten_client_t *s_track(keten_client_t *c) {
  assert_non_null(c);
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (!s_open[i]) {
      s_open[i] = c;
      return c;
    }
  fail_msg("too many clients");
  return NULL;
}

static void s_untrack_close(keten_client_t **c) {
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (s_open[i] == *c)
      s_open[i] = NULL;
  keten_client_destroy(c);
}

static keten_client_t *s_client(harness_t *h, const char *id) {
  return s_track(harness_client(h, &harness_partner(h, id)->keys,
                                CLIENT_TIMEOUT_MS, -1));
}

static void s_subject(const char *v_nummer, uint8_t subject[32]) {
  uint8_t chain[KETEN_CHAIN_KEY_BYTES];
  memset(chain, 0x5a, sizeof chain); /* a fixed test chain key */
  assert_int_equal(keten_subject_id(chain, v_nummer, subject), KETEN_OK);
}

static char *s_hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  out[2 * n] = '\0';
  return out;
}

static void s_expect_remote(keten_client_t *c, keten_err_t rc, int code,
                            const char *what) {
  if (rc != KETEN_ERR_REMOTE || keten_client_remote_code(c) != code)
    fail_msg("%s: expected %s, got %s / %s (%s)", what,
             keten_error_code_name(code), keten_strerror(rc),
             rc == KETEN_ERR_REMOTE
                 ? keten_error_code_name(keten_client_remote_code(c))
                 : "-",
             keten_client_error(c));
}

/* Records a consent of c valid in [from, until) (0: a minute ago, a year
 * ahead). */
static void s_grant_window(keten_client_t *c, const uint8_t subject[32],
                           const char *to, uint64_t sections, int purpose,
                           int64_t from, int64_t until, keten_consent_t *out) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", to);
  k.sections = sections;
  k.purpose = purpose;
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "coa-form-2026-0611-17");
  k.valid_from_ms = (uint64_t)(from ? from : s_wall_ms() - 60000);
  k.valid_until_ms = (uint64_t)(until ? until : s_wall_ms() + 365 * DAY_MS);
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s: %s", to, keten_strerror(rc),
             keten_client_error(c));
  if (out)
    *out = k;
}

static void s_grant(keten_client_t *c, const uint8_t subject[32],
                    const char *to, uint64_t sections, int purpose,
                    keten_consent_t *out) {
  s_grant_window(c, subject, to, sections, purpose, 0, 0, out);
}

static keten_put_result_t s_put(keten_client_t *c, const uint8_t subject[32],
                                int kind, const char *json) {
  keten_put_result_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_put(c, subject, kind, json, strlen(json), &res);
  if (rc != KETEN_OK)
    fail_msg("put %s: %s: %s", keten_section_kind_name(kind),
             keten_strerror(rc), keten_client_error(c));
  return res;
}

/* Asserts that res was queued for exactly ids (NULL-terminated). */
static void s_assert_queued(const keten_put_result_t *res,
                            const char *const *ids) {
  size_t n = 0;
  for (; ids[n]; n++) {
    int found = 0;
    for (size_t j = 0; j < res->n_queued && j < 16; j++)
      found |= strcmp(res->queued[j], ids[n]) == 0;
    if (!found)
      fail_msg("section not queued for %s", ids[n]);
  }
  if (res->n_queued != n)
    fail_msg("section queued for %zu recipients (first: %s), expected %zu",
             res->n_queued, res->n_queued ? res->queued[0] : "-", n);
}

/* What c can fetch of subject: a bit set of kinds; 0 when the broker
 * refuses (FORBIDDEN: nothing may be disclosed; NOT_FOUND: nothing stored). */
static uint64_t s_fetch_kinds(keten_client_t *c, const uint8_t subject[32]) {
  keten_section_t *secs = NULL;
  size_t n = 0;
  keten_err_t rc = keten_client_fetch(c, subject, &secs, &n);
  if (rc != KETEN_OK) {
    if (rc != KETEN_ERR_REMOTE ||
        (keten_client_remote_code(c) != KETEN__ERROR_CODE__ERROR_FORBIDDEN &&
         keten_client_remote_code(c) != KETEN__ERROR_CODE__ERROR_NOT_FOUND))
      fail_msg("fetch: %s: %s", keten_strerror(rc), keten_client_error(c));
    return 0;
  }
  uint64_t kinds = 0;
  for (size_t i = 0; i < n; i++)
    kinds |= BIT(secs[i].header.kind);
  keten_sections_free(secs, n);
  return kinds;
}

/* Fetches and asserts (kind, version, json) of one kind. */
static void s_expect_fetched(keten_client_t *c, const uint8_t subject[32],
                             int kind, uint64_t version, const char *json) {
  keten_section_t *secs = NULL;
  size_t n = 0;
  keten_err_t rc = keten_client_fetch(c, subject, &secs, &n);
  if (rc != KETEN_OK)
    fail_msg("fetch: %s: %s", keten_strerror(rc), keten_client_error(c));
  const keten_section_t *s = NULL;
  for (size_t i = 0; i < n; i++)
    if (secs[i].header.kind == kind)
      s = &secs[i];
  if (!s)
    fail_msg("fetch lacks %s", keten_section_kind_name(kind));
  assert_int_equal(s->header.version, version);
  assert_string_equal(s->json, json);
  keten_sections_free(secs, n);
}

/* ---- the store ----------------------------------------------------------- */

static long long s_sql(harness_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One number from the store (ketend may be running: WAL readers are fine). */
static long long s_sql(harness_t *h, const char *fmt, ...) {
  char sql[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* Audit entries named name (status 1 OK, 2 ERROR, 0 any) whose detail
 * holds needle (NULL: any). */
static long long s_audited(harness_t *h, const char *name, int status,
                           const char *needle) {
  return s_sql(h,
               "SELECT count(*) FROM audit WHERE name = '%s' AND (%d = 0 OR "
               "status = %d) AND detail LIKE '%%%s%%'",
               name, status, status, needle ? needle : "");
}

/* Waits (up to WAIT_MS) until at least n audit entries match. */
static void s_wait_audited(harness_t *h, const char *name, int status,
                           const char *needle, long long n) {
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (s_audited(h, name, status, needle) < n) {
    if (s_mono_ms() >= deadline)
      fail_msg("no %lld audit entries %s \"%s\" after %d ms (%lld)", n, name,
               needle ? needle : "", WAIT_MS,
               s_audited(h, name, status, needle));
    s_sleep_ms(50);
  }
}

/* Wraps recipient holds of author's sections of kind (0: any) of subject,
 * of version (0: any). */
static long long s_wraps_v(harness_t *h, const char *recipient,
                           const uint8_t subject[32], const char *author,
                           int kind, uint64_t version) {
  char hex[65];
  return s_sql(h,
               "SELECT count(*) FROM wrap w JOIN section s ON s.id = "
               "w.section_id WHERE w.recipient = '%s' AND s.subject = X'%s' "
               "AND s.author = '%s' AND (%d = 0 OR s.kind = %d) AND (%llu = "
               "0 OR s.version = %llu)",
               recipient, s_hex(subject, 32, hex), author, kind, kind,
               (unsigned long long)version, (unsigned long long)version);
}

static long long s_wraps(harness_t *h, const char *recipient,
                         const uint8_t subject[32], const char *author,
                         int kind) {
  return s_wraps_v(h, recipient, subject, author, kind, 0);
}

/* Rewrap requests for recipient of kind of subject in state (-1: any). */
static long long s_rewraps(harness_t *h, const uint8_t subject[32], int kind,
                           const char *recipient, int state) {
  char hex[65];
  return s_sql(h,
               "SELECT count(*) FROM rewrap WHERE subject = X'%s' AND kind = "
               "%d AND recipient = '%s' AND (%d < 0 OR state = %d)",
               s_hex(subject, 32, hex), kind, recipient, state, state);
}

static void s_stop_and_verify(harness_t *h) {
  assert_int_equal(harness_stop(h), 0);
  char *out = NULL;
  int rc = harness_audit_verify(h, &out);
  if (rc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", rc, out ? out : "");
  free(out);
}

/* ---- parties: a client with everything its mailbox brought --------------- */

typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version, seq;
  keten_err_t status;
  char json[1024];
} s_sec_t;

typedef struct {
  keten_notice_t n;
  uint64_t seq;
  keten_err_t status;
  int null_notice;
} s_ntc_t;

struct s_party {
  harness_t *h;
  char id[KETEN_ID_MAX + 1];
  keten_client_t *c;
  s_sec_t sec[32];
  size_t n_sec;
  size_t n_ev;
  s_ntc_t ntc[8];
  size_t n_ntc, ntc_calls;
  keten_rewrap_t rw[32];
  size_t n_rw;
};

static int s_on_section(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg) {
  s_party_t *p = arg;
  assert_true(p->n_sec < sizeof p->sec / sizeof p->sec[0]);
  s_sec_t *g = &p->sec[p->n_sec++];
  memset(g, 0, sizeof *g);
  g->seq = seq;
  g->status = status;
  if (s) {
    g->kind = s->header.kind;
    snprintf(g->author, sizeof g->author, "%s", s->header.author);
    g->version = s->header.version;
    snprintf(g->json, sizeof g->json, "%s", s->json);
  }
  return 0;
}

static int s_on_event(const keten_tvs_event_t *ev, uint64_t seq,
                      keten_err_t status, void *arg) {
  (void)ev;
  (void)seq;
  s_party_t *p = arg;
  assert_int_equal(status, KETEN_OK);
  p->n_ev++;
  return 0;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  s_party_t *p = arg;
  p->ntc_calls++;
  if (p->n_ntc < sizeof p->ntc / sizeof p->ntc[0]) {
    s_ntc_t *x = &p->ntc[p->n_ntc++];
    memset(x, 0, sizeof *x);
    if (n)
      x->n = *n;
    x->null_notice = n == NULL;
    x->seq = seq;
    x->status = status;
  }
  return 0;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  (void)seq;
  s_party_t *p = arg;
  assert_true(p->n_rw < sizeof p->rw / sizeof p->rw[0]);
  p->rw[p->n_rw++] = *r;
}

/* (Re)connects p, sets the handlers and, if subscribe, starts its mailbox. */
static void s_party_connect_with(s_party_t *p, int subscribe) {
  assert_null(p->c);
  p->c = s_client(p->h, p->id);
  keten_client_on_tvs_event(p->c, s_on_event, p);
  keten_client_on_notice(p->c, s_on_notice, p);
  keten_client_on_rewrap(p->c, s_on_rewrap, p);
  if (subscribe)
    assert_int_equal(keten_client_subscribe(p->c, 64), KETEN_OK);
}

static s_party_t *s_party(harness_t *h, const char *id, int subscribe) {
  s_party_t *p = calloc(1, sizeof *p);
  assert_non_null(p);
  size_t i = 0;
  while (i < sizeof s_parties / sizeof s_parties[0] && s_parties[i])
    i++;
  assert_true(i < sizeof s_parties / sizeof s_parties[0]);
  s_parties[i] = p;
  p->h = h;
  snprintf(p->id, sizeof p->id, "%s", id);
  s_party_connect_with(p, subscribe);
  return p;
}

static void s_party_close(s_party_t *p) {
  if (p->c)
    s_untrack_close(&p->c);
}

static void s_party_free_all(void) {
  for (size_t i = 0; i < sizeof s_parties / sizeof s_parties[0]; i++) {
    if (s_parties[i]) {
      s_party_close(s_parties[i]);
      free(s_parties[i]);
      s_parties[i] = NULL;
    }
  }
}

/* A round trip: the broker has processed every frame (acks, rewrap
 * answers) p sent before. */
static void s_settle(s_party_t *p) {
  assert_int_equal(keten_client_ping(p->c, "settle", 6, NULL), KETEN_OK);
}

static void s_poll_once(s_party_t *p, int ms) {
  if (!p->c)
    return;
  keten_err_t rc = keten_client_poll(p->c, ms, s_on_section, p, NULL);
  if (rc != KETEN_OK)
    fail_msg("poll of %s: %s: %s", p->id, keten_strerror(rc),
             keten_client_error(p->c));
}

/* Polls every party of ps for ms. */
static void s_pump(s_party_t *const *ps, size_t n, int ms) {
  int64_t deadline = s_mono_ms() + ms;
  while (s_mono_ms() < deadline)
    for (size_t i = 0; i < n; i++)
      s_poll_once(ps[i], 10);
}

/* The rewraps p's library served, for a failure message. */
static const char *s_rw_summary(const s_party_t *p, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < p->n_rw && used + 1 < cap; i++) {
    int w = snprintf(buf + used, cap - used, "[%s v%llu for %s: %s%s] ",
                     keten_section_kind_name(p->rw[i].kind),
                     (unsigned long long)p->rw[i].version, p->rw[i].recipient,
                     p->rw[i].sealed ? "sealed" : "refused: ",
                     p->rw[i].sealed ? "" : p->rw[i].refusal);
    if (w < 0)
      break;
    used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
  }
  return buf;
}

/* Polls every party of ps until p holds at least sec sections and ntc
 * notice calls, or WAIT_MS (then fails, naming what author served). */
static void s_wait(s_party_t *const *ps, size_t n, s_party_t *p, size_t sec,
                   size_t ntc, const s_party_t *author) {
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (p->n_sec < sec || p->ntc_calls < ntc) {
    if (s_mono_ms() >= deadline) {
      char rw[1024] = "";
      fail_msg("%s has %zu sections, %zu notices after %d ms; expected %zu, "
               "%zu; %s served %zu rewrap(s): %s",
               p->id, p->n_sec, p->ntc_calls, WAIT_MS, sec, ntc,
               author ? author->id : "-", author ? author->n_rw : 0,
               author ? s_rw_summary(author, rw, sizeof rw) : "");
    }
    for (size_t i = 0; i < n; i++)
      s_poll_once(ps[i], 10);
  }
}

#define PS(...) (s_party_t *[]){__VA_ARGS__}, \
                sizeof((s_party_t *[]){__VA_ARGS__}) / sizeof(s_party_t *)

static const s_sec_t *s_got(const s_party_t *p, int kind, uint64_t version) {
  for (size_t i = 0; i < p->n_sec; i++)
    if (p->sec[i].kind == kind && p->sec[i].version == version)
      return &p->sec[i];
  return NULL;
}

typedef struct {
  int kind;
  uint64_t version;
  const char *json;
} s_want_t;

/* Asserts p received exactly these sections by COA (any order, each once,
 * every one opened). */
static void s_expect_sections(const s_party_t *p, const s_want_t *want,
                              size_t n) {
  for (size_t i = 0; i < p->n_sec; i++)
    if (p->sec[i].status != KETEN_OK)
      fail_msg("%s: delivery seq %llu did not open: %s", p->id,
               (unsigned long long)p->sec[i].seq,
               keten_strerror(p->sec[i].status));
  if (p->n_sec != n)
    fail_msg("%s received %zu sections, expected %zu", p->id, p->n_sec, n);
  for (size_t i = 0; i < n; i++) {
    const s_sec_t *g = s_got(p, want[i].kind, want[i].version);
    if (!g)
      fail_msg("%s lacks %s v%llu", p->id,
               keten_section_kind_name(want[i].kind),
               (unsigned long long)want[i].version);
    assert_string_equal(g->author, COA);
    assert_string_equal(g->json, want[i].json);
  }
}

/* ---- TVS events ---------------------------------------------------------- */

static void s_publish(keten_client_t *c, keten_tvs_event_t *ev,
                      keten_tvs_published_t *out) {
  keten_tvs_published_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_tvs_publish(c, ev, &res);
  if (rc != KETEN_OK)
    fail_msg("publish %s: %s: %s", keten_tvs_kind_name(ev->kind),
             keten_strerror(rc), keten_client_error(c));
  assert_int_equal(res.duplicate, 0);
  if (out)
    *out = res;
}

static keten_tvs_event_t s_koppeling(const uint8_t subject[32],
                                     const char *gemeente) {
  keten_tvs_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = KETEN_TVS_KOPPELING;
  memcpy(ev.subject, subject, 32);
  snprintf(ev.gemeente, sizeof ev.gemeente, "%s", gemeente);
  snprintf(ev.period, sizeof ev.period, "2026-2");
  snprintf(ev.date, sizeof ev.date, "2026-07-01");
  ev.household_size = 3;
  return ev;
}

static keten_tvs_event_t s_ontkoppeling(const uint8_t subject[32],
                                        const char *gemeente) {
  keten_tvs_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = KETEN_TVS_ONTKOPPELING;
  memcpy(ev.subject, subject, 32);
  snprintf(ev.gemeente, sizeof ev.gemeente, "%s", gemeente);
  snprintf(ev.date, sizeof ev.date, "2026-09-01");
  ev.reason = KETEN_ONTKOPPEL_MOVED;
  return ev;
}

/* ---- raw requests -------------------------------------------------------- */

static uint8_t s_buf[1 << 20];

/* Sends env's body (with fresh ids) on sock; *ids gets them. */
static void s_raw_send(void *sock, Keten__Envelope *env, envelope_ids_t *ids) {
  Keten__Envelope__BodyCase body = env->body_case;
  void *keep = env->prepare; /* the oneof's pointer, whatever it is */
  envelope_init(env, ids, NULL);
  env->body_case = body;
  env->prepare = keep;
  size_t len = 0;
  uint8_t *frame = envelope_pack(env, &len);
  assert_non_null(frame);
  assert_true(zmq_send(sock, frame, len, 0) >= 0);
  free(frame);
}

/* Sends env's body on sock, returns the decoded reply (deliveries that
 * come meanwhile are dropped). */
static Keten__Envelope *s_raw(void *sock, Keten__Envelope *env) {
  envelope_ids_t ids;
  s_raw_send(sock, env, &ids);
  for (;;) {
    int n = harness_recv(sock, s_buf, sizeof s_buf, CLIENT_TIMEOUT_MS);
    assert_true(n > 0);
    Keten__Envelope *reply =
        envelope_decode(s_buf, (size_t)n, sizeof s_buf, NULL);
    assert_non_null(reply);
    if (reply->correlation_id.len == 16 &&
        memcmp(reply->correlation_id.data, ids.message_id, 16) == 0)
      return reply;
    envelope_free(reply);
  }
}

/* A PING round trip on sock: the broker has handled all sent before. */
static void s_raw_settle(void *sock) {
  Keten__Ping p = KETEN__PING__INIT;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PING;
  env.ping = &p;
  Keten__Envelope *reply = s_raw(sock, &env);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PONG);
  envelope_free(reply);
}

/* ========================================================================== */
/* 1. the linked gemeente as the person's counter                             */
/* ========================================================================== */

static void test_linked_gemeente_is_counter(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  keten_client_t *tvs = s_client(h, TVS), *g1 = s_client(h, G1),
                 *g2 = s_client(h, G2);
  s_party_t *coa = s_party(h, COA, 1), *vwn = s_party(h, VWN, 1),
            *ggz = s_party(h, GGZ, 1);
  static const char EVIDENCE[] = "balie-tholen-2026-0612-3";

  /* COA's consents for the volunteer and the care partner, and its
   * sections: both read IDENTITY, the volunteer LANGUAGE too */
  keten_consent_t cv, cg;
  s_grant(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE), P_BEGELEIDING,
          &cv);
  s_grant(coa->c, a, GGZ, BIT(K_IDENTITY), P_ZORG, &cg);
  keten_put_result_t r = s_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  s_assert_queued(&r, (const char *[]){VWN, GGZ, NULL});
  r = s_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  s_assert_queued(&r, (const char *[]){VWN, NULL});
  s_wait(PS(coa, vwn, ggz), vwn, 2, 0, NULL);
  s_wait(PS(coa, vwn, ggz), ggz, 1, 0, NULL);
  s_settle(vwn);

  /* not linked yet: G1 is no counter of hers */
  s_expect_remote(g1,
                  keten_client_consent_revoke(g1, cv.consent_id, a,
                                              "op verzoek", EVIDENCE),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                  "G1 revokes before the KOPPELING");

  keten_tvs_event_t k = s_koppeling(a, G1);
  s_publish(tvs, &k, NULL);

  /* linked to G1: without the person's request, refused */
  s_expect_remote(g1,
                  keten_client_consent_revoke(g1, cv.consent_id, a,
                                              "op verzoek", NULL),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                  "G1 revokes without evidence_ref");
  assert_int_equal(s_audited(h, "keten.consent.revoke", 2,
                             "must give an evidence reference"),
                   1);
  /* another gemeente, with evidence: no counter of hers */
  s_expect_remote(g2,
                  keten_client_consent_revoke(g2, cv.consent_id, a,
                                              "op verzoek", EVIDENCE),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                  "G2 (not linked) revokes");
  /* none of it took anything away */
  s_pump(PS(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->ntc_calls, 0);
  assert_int_equal(coa->ntc_calls, 0);
  assert_int_equal(s_fetch_kinds(vwn->c, a), BIT(K_IDENTITY) | BIT(K_LANGUAGE));
  assert_int_equal(s_wraps(h, VWN, a, COA, 0), 2);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM consent WHERE "
                            "revoked_at_ms IS NOT NULL"),
                   0);

  /* G1, linked, with the person's request: revoked at her counter */
  keten_err_t rc = keten_client_consent_revoke(g1, cv.consent_id, a,
                                               "op verzoek van betrokkene",
                                               EVIDENCE);
  if (rc != KETEN_OK)
    fail_msg("G1 revokes with evidence: %s / %s: %s", keten_strerror(rc),
             rc == KETEN_ERR_REMOTE
                 ? keten_error_code_name(keten_client_remote_code(g1))
                 : "-",
             keten_client_error(g1));
  assert_int_equal(s_audited(h, "keten.consent.revoke", 1,
                             "revoked at the person"),
                   1);
  assert_int_equal(s_wraps(h, VWN, a, COA, 0), 0);

  /* the volunteer: a verified delete notice (REVOKED, this consent)
   * naming IDENTITY v1 and LANGUAGE v1; the recorder: who revoked it */
  s_wait(PS(coa, vwn, ggz), vwn, 2, 1, NULL);
  s_wait(PS(coa, vwn, ggz), coa, 0, 1, NULL);
  s_pump(PS(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->ntc_calls, 1);
  const s_ntc_t *x = &vwn->ntc[0];
  if (x->null_notice || x->status != KETEN_OK)
    fail_msg("the volunteer's notice did not verify: %s",
             keten_strerror(x->status));
  assert_int_equal(x->n.kind, KETEN_NOTICE_DELETE);
  assert_int_equal(x->n.delete_reason, KETEN_NOTICE_REASON_REVOKED);
  assert_memory_equal(x->n.subject, a, 32);
  assert_int_equal(x->n.has_consent_id, 1);
  assert_memory_equal(x->n.consent_id, cv.consent_id, 16);
  assert_int_equal(x->n.has_tvs_event_id, 0);
  assert_int_equal(x->n.n_items, 2);
  for (size_t i = 0; i < x->n.n_items; i++) {
    assert_true(x->n.items[i].kind == K_IDENTITY ||
                x->n.items[i].kind == K_LANGUAGE);
    assert_string_equal(x->n.items[i].author, COA);
    assert_int_equal(x->n.items[i].up_to_version, 1);
  }
  assert_int_not_equal(x->n.items[0].kind, x->n.items[1].kind);
  assert_int_equal(coa->ntc_calls, 1);
  const s_ntc_t *y = &coa->ntc[0];
  assert_int_equal(y->status, KETEN_OK);
  assert_int_equal(y->n.kind, KETEN_NOTICE_CONSENT_REVOKED);
  assert_memory_equal(y->n.consent_id, cv.consent_id, 16);
  assert_string_equal(y->n.revoked_by, G1);
  assert_int_equal(y->n.revoked_by_role, keten_role_from_name("GEMEENTE"));
  assert_string_equal(y->n.evidence_ref, EVIDENCE);
  s_settle(vwn);
  s_settle(coa);
  /* the volunteer lost access; the care partner did not */
  assert_int_equal(s_fetch_kinds(vwn->c, a), 0);
  assert_int_equal(s_fetch_kinds(ggz->c, a), BIT(K_IDENTITY));
  r = s_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  s_assert_queued(&r, (const char *[]){GGZ, NULL});
  s_wait(PS(coa, vwn, ggz), ggz, 2, 0, NULL);
  s_pump(PS(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->n_sec, 2);
  /* nothing was asked to be resealed for the volunteer */
  assert_int_equal(s_sql(h, "SELECT count(*) FROM rewrap"), 0);

  /* the link ends: G1 is no longer her counter */
  keten_tvs_event_t o = s_ontkoppeling(a, G1);
  s_publish(tvs, &o, NULL);
  s_expect_remote(g1,
                  keten_client_consent_revoke(g1, cg.consent_id, a,
                                              "op verzoek", EVIDENCE),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                  "G1 revokes after the ONTKOPPELING");
  assert_int_equal(s_audited(h, "keten.consent.revoke", 2, "refused: only"),
                   3);
  assert_int_equal(s_fetch_kinds(ggz->c, a), BIT(K_IDENTITY));
  s_expect_fetched(ggz->c, a, K_IDENTITY, 2, IDENTITY2_JSON);
  s_pump(PS(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(ggz->ntc_calls, 0);
  assert_int_equal(coa->ntc_calls, 1);
  s_party_close(coa);
  s_party_close(vwn);
  s_party_close(ggz);
  s_stop_and_verify(h);
}

/* ========================================================================== */
/* 2. consents recorded before their window starts                            */
/* ========================================================================== */

static void test_consent_starts_later(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  s_party_t *coa = s_party(h, COA, 1), *vwn = s_party(h, VWN, 1);
  keten_put_result_t r = s_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  s_assert_queued(&r, (const char *[]){NULL});

  /* valid from 1.5 s ahead: nothing to reseal yet */
  int64_t from = s_wall_ms() + 1500;
  keten_consent_t c;
  s_grant_window(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE),
                 P_BEGELEIDING, from, 0, &c);
  char id[33];
  s_hex(c.consent_id, 16, id);
  /* (what is read before `from` cannot have been changed by the sweep:
   * each check reads first, then looks at the clock) */
  long long pending = s_sql(h, "SELECT start_pending FROM consent WHERE "
                               "consent_id = X'%s'",
                            id);
  long long rewraps = s_sql(h, "SELECT count(*) FROM rewrap");
  int early = s_wall_ms() < from;
  if (early) {
    assert_int_equal(pending, 1);
    assert_int_equal(rewraps, 0);
  }
  /* a put before it starts is not sealed to the volunteer either */
  r = s_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  if (s_wall_ms() < from)
    s_assert_queued(&r, (const char *[]){NULL});
  s_pump(PS(coa, vwn), 300);
  size_t got = vwn->n_sec;
  uint64_t kinds = s_fetch_kinds(vwn->c, a);
  long long started = s_audited(h, "keten.consent.start", 0, NULL);
  rewraps = s_sql(h, "SELECT count(*) FROM rewrap");
  if (s_wall_ms() < from) {
    assert_int_equal(got, 0);
    assert_int_equal(kinds, 0);
    assert_int_equal(started, 0);
    assert_int_equal(rewraps, 0);
  }
  if (!early)
    print_message("note: the machine is slow; the checks before the start "
                  "were skipped\n");

  /* it starts: the sweep asks COA to reseal both latest sections, COA's
   * polling library seals them, the volunteer receives and opens them */
  s_wait(PS(coa, vwn), vwn, 2, 0, coa);
  assert_true(s_wall_ms() >= from);
  s_pump(PS(coa, vwn), QUIET_MS);
  const s_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON},
                           {K_LANGUAGE, 1, LANGUAGE_JSON}};
  s_expect_sections(vwn, want, 2);
  assert_int_equal(coa->n_rw, 2);
  for (size_t i = 0; i < coa->n_rw; i++) {
    assert_int_equal(coa->rw[i].sealed, 1);
    assert_string_equal(coa->rw[i].recipient, VWN);
  }
  s_settle(coa);
  s_settle(vwn);
  assert_int_equal(s_audited(h, "keten.consent.start", 1,
                             "2 rewrap request(s) queued"),
                   1);
  assert_int_equal(s_audited(h, "keten.rewrap.queue", 1, NULL), 2);
  assert_int_equal(s_audited(h, "keten.rewrap.stored", 1, NULL), 2);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                         STORE_REWRAP_DONE),
                   2);
  assert_int_equal(s_sql(h, "SELECT start_pending FROM consent WHERE "
                            "consent_id = X'%s'",
                         id),
                   0);
  assert_int_equal(s_fetch_kinds(vwn->c, a), BIT(K_IDENTITY) | BIT(K_LANGUAGE));
  /* processed once: later sweeps ask nothing more */
  s_pump(PS(coa, vwn), 1200);
  assert_int_equal(s_audited(h, "keten.consent.start", 0, NULL), 1);
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(vwn->n_sec, 2);
  s_party_close(coa);
  s_party_close(vwn);
  s_stop_and_verify(h);
}

/* A request is pending with evidence that holds only an earlier consent,
 * which expires before the author serves it; a second consent, recorded
 * to start later, starts meanwhile. The volunteer may read IDENTITY under
 * the second one: it must get it (as a new consent granted now would ask
 * again with evidence that includes it). */
static void test_started_consent_not_blocked_by_pending(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  s_party_t *coa = s_party(h, COA, 0); /* online, not serving yet */
  s_party_t *vwn = s_party(h, VWN, 1);
  s_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  int64_t t0 = s_wall_ms();
  s_grant_window(coa->c, a, VWN, BIT(K_IDENTITY), P_BEGELEIDING, 0, t0 + 2000,
                 NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_PENDING), 1);
  s_grant_window(coa->c, a, VWN, BIT(K_IDENTITY), P_BEGELEIDING, t0 + 1000, 0,
                 NULL);
  /* the second starts, then the first expires (the sweep runs every
   * second) */
  s_wait_audited(h, "keten.consent.start", 1, NULL, 1);
  s_wait_audited(h, "keten.consent.expire", 1, NULL, 1);

  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  s_wait(PS(coa, vwn), vwn, 1, 0, coa);
  s_pump(PS(coa, vwn), QUIET_MS);
  const s_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  s_expect_sections(vwn, want, 1);
  s_settle(coa);
  assert_int_equal(s_wraps(h, VWN, a, COA, K_IDENTITY), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_DONE), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_PENDING), 0);
  s_party_close(coa);
  s_party_close(vwn);
  s_stop_and_verify(h);
}

/* The same with a KOPPELING as the trigger: a request for the gemeente is
 * pending under a direct consent that expires before the author serves
 * it; meanwhile the person is linked to that gemeente, which COA's
 * "@gemeente" consent allows. The gemeente must get the section. */
static void test_koppeling_not_blocked_by_pending(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  keten_client_t *tvs = s_client(h, TVS);
  s_party_t *coa = s_party(h, COA, 0); /* online, not serving yet */
  s_party_t *g1 = s_party(h, G1, 1);
  s_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  s_grant_window(coa->c, a, G1, BIT(K_IDENTITY), P_INBURGERING, 0,
                 s_wall_ms() + 1500, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  s_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  keten_tvs_event_t k = s_koppeling(a, G1);
  s_publish(tvs, &k, NULL);
  s_wait_audited(h, "keten.consent.expire", 1, NULL, 1);

  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  s_wait(PS(coa, g1), g1, 1, 0, coa);
  s_pump(PS(coa, g1), QUIET_MS);
  const s_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  s_expect_sections(g1, want, 1);
  s_settle(coa);
  assert_int_equal(s_wraps(h, G1, a, COA, K_IDENTITY), 1);
  assert_int_equal(s_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  s_party_close(coa);
  s_party_close(g1);
  s_stop_and_verify(h);
}

/* ========================================================================== */
/* 3. a PUT sealed from a stale PREPARE                                        */
/* ========================================================================== */

/* PREPARE raw on sock; returns next_version, asserts no recipients. */
static uint64_t s_raw_prepare_none(void *sock, const uint8_t subject[32],
                                   int kind) {
  Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
  p.subject.data = (uint8_t *)subject;
  p.subject.len = 32;
  p.kind = (Keten__SectionKind)kind;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
  env.prepare = &p;
  Keten__Envelope *reply = s_raw(sock, &env);
  if (reply->body_case != KETEN__ENVELOPE__BODY_PREPARED)
    fail_msg("PREPARE: body %d (%s)", (int)reply->body_case,
             reply->body_case == KETEN__ENVELOPE__BODY_ERROR
                 ? reply->error->reason
                 : "");
  assert_int_equal(reply->prepared->n_recipients, 0);
  uint64_t v = reply->prepared->next_version;
  envelope_free(reply);
  return v;
}

/* PUT raw on sock: json as (subject, kind, version) by COA, sealed to COA
 * alone (what the author's library does when PREPARE offered nobody). */
static void s_raw_put_own(harness_t *h, void *sock, const uint8_t subject[32],
                          int kind, uint64_t version, const char *json) {
  keten_section_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.subject, subject, 32);
  hd.kind = kind;
  snprintf(hd.author, sizeof hd.author, "%s", COA);
  hd.version = version;
  hd.created_at_ms = (uint64_t)s_wall_ms();
  keten_err_t err = KETEN_OK;
  Keten__SealedSection *s = seal_section(&hd, json, strlen(json),
                                         &harness_partner(h, COA)->keys, NULL,
                                         0, &err);
  assert_non_null(s);
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = s;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PUT;
  env.put = &put;
  Keten__Envelope *reply = s_raw(sock, &env);
  seal_section_free(s);
  if (reply->body_case != KETEN__ENVELOPE__BODY_STORED)
    fail_msg("PUT: body %d (%s)", (int)reply->body_case,
             reply->body_case == KETEN__ENVELOPE__BODY_ERROR
                 ? reply->error->reason
                 : "");
  assert_int_equal(reply->stored->version, version);
  assert_int_equal(reply->stored->n_queued_for, 0);
  assert_int_equal(reply->stored->n_refused_for, 0);
  envelope_free(reply);
}

static void test_put_from_stale_prepare(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  keten_client_t *tvs = s_client(h, TVS);
  /* COA client A (its adapter, serving rewraps later) and client B (a
   * desk whose PREPARE and PUT are apart) */
  s_party_t *coa = s_party(h, COA, 0);
  s_party_t *g1 = s_party(h, G1, 1), *ggz = s_party(h, GGZ, 1);
  s_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  void *ctx = zmq_ctx_new();
  void *b = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(b);

  /* B prepares IDENTITY (nobody is linked: no recipient) and HEALTH (no
   * consent yet: no recipient) */
  uint64_t v_id = s_raw_prepare_none(b, a, K_IDENTITY);
  uint64_t v_health = s_raw_prepare_none(b, a, K_HEALTH);
  assert_int_equal(v_id, 1);
  assert_int_equal(v_health, 1);
  /* meanwhile: the KOPPELING (nothing stored yet: no rewrap), and A's
   * consent for the care partner (idem) */
  keten_tvs_event_t k = s_koppeling(a, G1);
  keten_tvs_published_t res;
  s_publish(tvs, &k, &res);
  assert_int_equal(res.rewraps_queued, 0);
  s_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM rewrap"), 0);

  /* B puts what it sealed from those PREPAREs: to COA alone */
  s_raw_put_own(h, b, a, K_IDENTITY, v_id, IDENTITY_JSON);
  s_raw_put_own(h, b, a, K_HEALTH, v_health, HEALTH_JSON);
  zmq_close(b);
  zmq_ctx_term(ctx);
  /* the broker asks COA for the recipients it missed */
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  assert_int_equal(s_rewraps(h, a, K_HEALTH, GGZ, STORE_REWRAP_PENDING), 1);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM rewrap"), 2);
  assert_int_equal(s_audited(h, "keten.rewrap.queue", 1, NULL), 2);
  s_pump(PS(g1, ggz), 200);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(ggz->n_sec, 0);

  /* A polls: its library serves both; each recipient gets its section */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  s_wait(PS(coa, g1, ggz), g1, 1, 0, coa);
  s_wait(PS(coa, g1, ggz), ggz, 1, 0, coa);
  s_pump(PS(coa, g1, ggz), QUIET_MS);
  const s_want_t want_g1[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  const s_want_t want_ggz[] = {{K_HEALTH, 1, HEALTH_JSON}};
  s_expect_sections(g1, want_g1, 1);
  s_expect_sections(ggz, want_ggz, 1);
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(coa->rw[0].sealed + coa->rw[1].sealed, 2);
  s_settle(coa);
  assert_int_equal(s_audited(h, "keten.rewrap.stored", 1, NULL), 2);
  assert_int_equal(s_wraps(h, G1, a, COA, K_IDENTITY), 1);
  assert_int_equal(s_wraps(h, GGZ, a, COA, K_HEALTH), 1);
  /* and nothing beyond the consents: no HEALTH for G1, no IDENTITY for GGZ */
  assert_int_equal(s_wraps(h, G1, a, COA, K_HEALTH), 0);
  assert_int_equal(s_wraps(h, GGZ, a, COA, K_IDENTITY), 0);
  s_expect_fetched(g1->c, a, K_IDENTITY, 1, IDENTITY_JSON);
  assert_int_equal(s_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  assert_int_equal(s_fetch_kinds(ggz->c, a), BIT(K_HEALTH));
  s_party_close(coa);
  s_party_close(g1);
  s_party_close(ggz);
  s_stop_and_verify(h);
}

/* ========================================================================== */
/* 4. a superseded rewrap                                                      */
/* ========================================================================== */

static void test_superseded_rewrap(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  s_party_t *coa = s_party(h, COA, 0); /* online, not serving its mailbox */
  s_party_t *ggz = s_party(h, GGZ, 1);
  s_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  s_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  assert_int_equal(s_rewraps(h, a, K_HEALTH, GGZ, STORE_REWRAP_PENDING), 1);
  int64_t id1 = s_sql(h, "SELECT id FROM rewrap");
  /* v2 before COA looks at its mailbox: sealed to the care partner */
  keten_put_result_t r = s_put(coa->c, a, K_HEALTH, HEALTH2_JSON);
  s_assert_queued(&r, (const char *[]){GGZ, NULL});
  s_wait(PS(ggz), ggz, 1, 0, NULL);
  assert_int_equal(ggz->sec[0].version, 2);
  s_settle(ggz);

  /* COA serves its mailbox: its library answers the v1 request with a
   * wrap (the evidence holds); the broker does not deliver it */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (coa->n_rw < 1 && s_mono_ms() < deadline)
    s_pump(PS(coa, ggz), 20);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 1);
  assert_int_equal(coa->rw[0].version, 1);
  assert_string_equal(coa->rw[0].recipient, GGZ);
  s_settle(coa);
  s_pump(PS(coa, ggz), QUIET_MS);
  for (size_t i = 0; i < ggz->n_sec; i++)
    if (ggz->sec[i].version < 2)
      fail_msg("GGZ was handed HEALTH v%llu (seq %llu) after v2",
               (unsigned long long)ggz->sec[i].version,
               (unsigned long long)ggz->sec[i].seq);
  const s_want_t want[] = {{K_HEALTH, 2, HEALTH2_JSON}};
  s_expect_sections(ggz, want, 1);
  assert_int_equal(
      s_audited(h, "keten.rewrap.refused", 2, "v1 was superseded by v2"), 1);
  assert_int_equal(s_audited(h, "keten.rewrap.stored", 0, NULL), 0);
  assert_int_equal(s_sql(h, "SELECT state FROM rewrap WHERE id = %lld",
                         (long long)id1),
                   STORE_REWRAP_CANCELLED);
  /* no wrap of v1 was stored, nothing more asked: GGZ has v2 */
  assert_int_equal(s_wraps_v(h, GGZ, a, COA, K_HEALTH, 1), 0);
  assert_int_equal(s_wraps_v(h, GGZ, a, COA, K_HEALTH, 2), 1);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM rewrap"), 1);
  s_settle(ggz);
  assert_int_equal(s_sql(h, "SELECT count(*) FROM mailbox WHERE recipient = "
                            "'" GGZ "'"),
                   0);
  s_expect_fetched(ggz->c, a, K_HEALTH, 2, HEALTH2_JSON);
  s_party_close(coa);
  s_party_close(ggz);
  s_stop_and_verify(h);
}

/* ========================================================================== */
/* 6. a rewrap request acked without an answer                                */
/* ========================================================================== */

/* An older library as COA: subscribes raw, takes the first delivery (a
 * rewrap request), acks it without answering. Returns its request id. */
static uint64_t s_raw_ack_unanswered(harness_t *h) {
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock);
  Keten__Subscribe sub = KETEN__SUBSCRIBE__INIT;
  sub.credit = 16;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIBE;
  env.subscribe = &sub;
  envelope_ids_t ids;
  s_raw_send(sock, &env, &ids);
  int subscribed = 0;
  uint64_t seq = 0, request_id = 0;
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (!subscribed || !seq) {
    assert_true(s_mono_ms() < deadline);
    int n = harness_recv(sock, s_buf, sizeof s_buf, CLIENT_TIMEOUT_MS);
    assert_true(n > 0);
    Keten__Envelope *in =
        envelope_decode(s_buf, (size_t)n, sizeof s_buf, NULL);
    assert_non_null(in);
    if (in->body_case == KETEN__ENVELOPE__BODY_SUBSCRIBED)
      subscribed = 1;
    else if (in->body_case == KETEN__ENVELOPE__BODY_DELIVER) {
      assert_int_equal(in->deliver->n_items, 1);
      const Keten__Delivery *d = in->deliver->items[0];
      assert_non_null(d->rewrap);
      seq = d->seq;
      request_id = d->rewrap->request_id;
    } else {
      fail_msg("raw subscriber: unexpected body %d", (int)in->body_case);
    }
    envelope_free(in);
  }
  Keten__Ack ack = KETEN__ACK__INIT;
  ack.seq = seq;
  Keten__Envelope aenv = KETEN__ENVELOPE__INIT;
  aenv.body_case = KETEN__ENVELOPE__BODY_ACK;
  aenv.ack = &ack;
  s_raw_send(sock, &aenv, &ids);
  s_raw_settle(sock); /* the ack is handled */
  zmq_close(sock);
  zmq_ctx_term(ctx);
  return request_id;
}

/* The next trigger is a new consent. */
static void test_acked_unanswered_then_new_consent(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  s_party_t *g1 = s_party(h, G1, 1);
  keten_client_t *desk = s_client(h, COA);
  s_put(desk, a, K_IDENTITY, IDENTITY_JSON);
  s_grant(desk, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  uint64_t id1 = s_raw_ack_unanswered(h);
  /* taken out of COA's mailbox, never answered: still pending */
  assert_int_equal(s_sql(h, "SELECT count(*) FROM mailbox WHERE recipient = "
                            "'" COA "'"),
                   0);
  assert_int_equal(s_sql(h, "SELECT state FROM rewrap WHERE id = %llu",
                         (unsigned long long)id1),
                   STORE_REWRAP_PENDING);
  s_pump(PS(g1), 200);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(s_wraps(h, G1, a, COA, 0), 0);

  /* a new consent: a fresh request, which COA's real client serves */
  s_grant(desk, a, G1, BIT(K_IDENTITY) | BIT(K_LANGUAGE), P_INBURGERING, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  assert_int_equal(s_sql(h, "SELECT state FROM rewrap WHERE id = %llu",
                         (unsigned long long)id1),
                   STORE_REWRAP_CANCELLED);
  s_party_t *coa = s_party(h, COA, 1);
  s_wait(PS(coa, g1), g1, 1, 0, coa);
  s_pump(PS(coa, g1), QUIET_MS);
  const s_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  s_expect_sections(g1, want, 1);
  assert_int_equal(coa->n_rw, 1); /* the fresh one only */
  assert_int_equal(coa->rw[0].sealed, 1);
  s_settle(coa);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_DONE), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 0);
  assert_int_equal(s_audited(h, "keten.rewrap.stored", 1, NULL), 1);
  s_expect_fetched(g1->c, a, K_IDENTITY, 1, IDENTITY_JSON);
  s_party_close(coa);
  s_party_close(g1);
  s_stop_and_verify(h);
}

/* The next trigger is a KOPPELING (which asks without cancelling first:
 * the store must see that the acked request will never be answered). */
static void test_acked_unanswered_then_koppeling(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  s_subject(V_AMIRA, a);
  keten_client_t *tvs = s_client(h, TVS);
  s_party_t *g1 = s_party(h, G1, 1);
  keten_client_t *desk = s_client(h, COA);
  s_put(desk, a, K_IDENTITY, IDENTITY_JSON);
  s_grant(desk, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  uint64_t id1 = s_raw_ack_unanswered(h);
  assert_int_equal(s_sql(h, "SELECT state FROM rewrap WHERE id = %llu",
                         (unsigned long long)id1),
                   STORE_REWRAP_PENDING);
  /* "@gemeente" before any link asks nothing; the KOPPELING does */
  s_grant(desk, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, -1), 1);
  keten_tvs_event_t k = s_koppeling(a, G1);
  keten_tvs_published_t res;
  s_publish(tvs, &k, &res);
  assert_int_equal(res.rewraps_queued, 1);
  assert_int_equal(s_sql(h, "SELECT state FROM rewrap WHERE id = %llu",
                         (unsigned long long)id1),
                   STORE_REWRAP_CANCELLED);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);

  s_party_t *coa = s_party(h, COA, 1);
  s_wait(PS(coa, g1), g1, 1, 0, coa);
  s_pump(PS(coa, g1), QUIET_MS);
  const s_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  s_expect_sections(g1, want, 1);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 1);
  s_settle(coa);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_DONE), 1);
  assert_int_equal(s_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  s_party_close(coa);
  s_party_close(g1);
  s_stop_and_verify(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_linked_gemeente_is_counter, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_consent_starts_later, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(
          test_started_consent_not_blocked_by_pending, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_koppeling_not_blocked_by_pending,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_put_from_stale_prepare, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_superseded_rewrap, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_acked_unanswered_then_new_consent,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_acked_unanswered_then_koppeling,
                                      s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
