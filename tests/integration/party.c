/* party — a test party and the helpers around it (see party.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "party.h"

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (INT64_C(24) * 3600 * 1000)

/* ---- time ---------------------------------------------------------------- */

int64_t party_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t party_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void party_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- clients ------------------------------------------------------------- */

static keten_client_t *s_open[32];
static party_t *s_parties[16];

keten_client_t *party_track(keten_client_t *c) {
  assert_non_null(c);
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (!s_open[i]) {
      s_open[i] = c;
      return c;
    }
  fail_msg("too many clients");
  return NULL;
}

void party_untrack_close(keten_client_t **c) {
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    if (s_open[i] == *c)
      s_open[i] = NULL;
  keten_client_destroy(c);
}

keten_client_t *party_client(harness_t *h, const char *id) {
  return party_track(harness_client(h, &harness_partner(h, id)->keys,
                                    PARTY_CLIENT_TIMEOUT_MS, -1));
}

void party_cleanup(void) {
  for (size_t i = 0; i < sizeof s_parties / sizeof s_parties[0]; i++) {
    if (s_parties[i]) {
      party_close(s_parties[i]);
      free(s_parties[i]);
      s_parties[i] = NULL;
    }
  }
  for (size_t i = 0; i < sizeof s_open / sizeof s_open[0]; i++)
    keten_client_destroy(&s_open[i]);
}

/* ---- parties ------------------------------------------------------------- */

static int s_on_section(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg) {
  party_t *p = arg;
  assert_true(p->n_sec < sizeof p->sec / sizeof p->sec[0]);
  party_sec_t *g = &p->sec[p->n_sec++];
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
  party_t *p = arg;
  if (p->events_must_verify)
    assert_int_equal(status, KETEN_OK);
  p->ev_calls++;
  if (ev && p->refuse_event_kind && ev->kind == p->refuse_event_kind &&
      !p->refused_events) {
    p->refused_events++;
    p->refused_seq = seq;
    return 1; /* e.g. the case system is down: not taken, comes again */
  }
  assert_true(p->n_ev < sizeof p->ev / sizeof p->ev[0]);
  party_evt_t *e = &p->ev[p->n_ev++];
  memset(e, 0, sizeof *e);
  if (ev)
    e->ev = *ev;
  e->null_ev = ev == NULL;
  e->seq = seq;
  e->status = status;
  return 0;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  party_t *p = arg;
  p->ntc_calls++;
  if (p->n_ntc < sizeof p->ntc / sizeof p->ntc[0]) {
    party_ntc_t *x = &p->ntc[p->n_ntc++];
    memset(x, 0, sizeof *x);
    if (n)
      x->n = *n;
    x->null_notice = n == NULL;
    x->seq = seq;
    x->status = status;
  }
  return p->refuse_notices ? 1 : 0;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  (void)seq;
  party_t *p = arg;
  assert_true(p->n_rw < sizeof p->rw / sizeof p->rw[0]);
  p->rw[p->n_rw++] = *r;
}

void party_connect_with(party_t *p, const keten_client_config_t *cfg,
                        int subscribe) {
  assert_null(p->c);
  if (cfg) {
    char err[256];
    p->c = party_track(keten_client_new(cfg, err, sizeof err));
  } else {
    p->c = party_client(p->h, p->id);
  }
  keten_client_on_tvs_event(p->c, s_on_event, p);
  keten_client_on_notice(p->c, s_on_notice, p);
  keten_client_on_rewrap(p->c, s_on_rewrap, p);
  if (subscribe)
    assert_int_equal(keten_client_subscribe(p->c, 64), KETEN_OK);
}

void party_connect(party_t *p) { party_connect_with(p, NULL, 1); }

party_t *party_alloc(harness_t *h, const char *id) {
  party_t *p = calloc(1, sizeof *p);
  assert_non_null(p);
  size_t i = 0;
  while (i < sizeof s_parties / sizeof s_parties[0] && s_parties[i])
    i++;
  assert_true(i < sizeof s_parties / sizeof s_parties[0]);
  s_parties[i] = p;
  p->h = h;
  snprintf(p->id, sizeof p->id, "%s", id);
  return p;
}

party_t *party_new(harness_t *h, const char *id, int subscribe) {
  party_t *p = party_alloc(h, id);
  party_connect_with(p, NULL, subscribe);
  return p;
}

void party_close(party_t *p) {
  if (p->c)
    party_untrack_close(&p->c);
}

void party_settle(party_t *p) {
  assert_int_equal(keten_client_ping(p->c, "settle", 6, NULL), KETEN_OK);
}

static void s_poll_once(party_t *p, int ms) {
  if (!p->c)
    return;
  keten_err_t rc = keten_client_poll(p->c, ms, s_on_section, p, NULL);
  if (rc != KETEN_OK)
    fail_msg("poll of %s: %s: %s", p->id, keten_strerror(rc),
             keten_client_error(p->c));
}

void party_pump(party_t *const *ps, size_t n, int ms) {
  int64_t deadline = party_mono_ms() + ms;
  while (party_mono_ms() < deadline)
    for (size_t i = 0; i < n; i++)
      s_poll_once(ps[i], 10);
}

/* The rewraps the parties of ps served, for a failure message. */
static const char *s_rw_summary(party_t *const *ps, size_t n, char *buf,
                                size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < n; k++) {
    const party_t *p = ps[k];
    if (!p->n_rw || used + 1 >= cap)
      continue;
    int w = snprintf(buf + used, cap - used,
                     "; %s served %zu rewrap(s): ", p->id, p->n_rw);
    if (w < 0)
      break;
    used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    for (size_t i = 0; i < p->n_rw && used + 1 < cap; i++) {
      w = snprintf(buf + used, cap - used, "[%s v%llu for %s: %s%s] ",
                   keten_section_kind_name(p->rw[i].kind),
                   (unsigned long long)p->rw[i].version, p->rw[i].recipient,
                   p->rw[i].sealed ? "sealed" : "refused: ",
                   p->rw[i].sealed ? "" : p->rw[i].refusal);
      if (w < 0)
        break;
      used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    }
  }
  return buf;
}

void party_wait(party_t *const *ps, size_t n, party_t *p, size_t sec, size_t ev,
                size_t ntc) {
  int64_t deadline = party_mono_ms() + PARTY_WAIT_MS;
  while (p->n_sec < sec || p->n_ev < ev || p->ntc_calls < ntc) {
    if (party_mono_ms() >= deadline) {
      char rw[1024] = "";
      fail_msg("%s has %zu sections, %zu TVS events, %zu notices after %d "
               "ms; expected %zu, %zu, %zu%s",
               p->id, p->n_sec, p->n_ev, p->ntc_calls, PARTY_WAIT_MS, sec, ev,
               ntc, s_rw_summary(ps, n, rw, sizeof rw));
    }
    for (size_t i = 0; i < n; i++)
      s_poll_once(ps[i], 10);
  }
}

const party_sec_t *party_got(const party_t *p, int kind, uint64_t version) {
  for (size_t i = 0; i < p->n_sec; i++)
    if (p->sec[i].kind == kind && p->sec[i].version == version)
      return &p->sec[i];
  return NULL;
}

void party_expect_sections(const party_t *p, const char *author,
                           const party_want_t *want, size_t n) {
  for (size_t i = 0; i < p->n_sec; i++)
    if (p->sec[i].status != KETEN_OK)
      fail_msg("%s: delivery seq %llu did not open: %s", p->id,
               (unsigned long long)p->sec[i].seq,
               keten_strerror(p->sec[i].status));
  if (p->n_sec != n)
    fail_msg("%s received %zu sections, expected %zu", p->id, p->n_sec, n);
  for (size_t i = 0; i < n; i++) {
    const party_sec_t *g = party_got(p, want[i].kind, want[i].version);
    if (!g)
      fail_msg("%s lacks %s v%llu", p->id,
               keten_section_kind_name(want[i].kind),
               (unsigned long long)want[i].version);
    assert_string_equal(g->author, author);
    assert_string_equal(g->json, want[i].json);
  }
}

/* ---- requests that must succeed ------------------------------------------ */

void party_subject(const char *v_nummer, uint8_t subject[32]) {
  uint8_t chain[KETEN_CHAIN_KEY_BYTES];
  memset(chain, 0x5a, sizeof chain); /* a fixed test chain key */
  assert_int_equal(keten_subject_id(chain, v_nummer, subject), KETEN_OK);
}

char *party_hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  out[2 * n] = '\0';
  return out;
}

void party_expect_remote(keten_client_t *c, keten_err_t rc, int code,
                         const char *what) {
  if (rc != KETEN_ERR_REMOTE || keten_client_remote_code(c) != code)
    fail_msg("%s: expected %s, got %s / %s (%s)", what,
             keten_error_code_name(code), keten_strerror(rc),
             rc == KETEN_ERR_REMOTE
                 ? keten_error_code_name(keten_client_remote_code(c))
                 : "-",
             keten_client_error(c));
}

keten_err_t party_try_grant(keten_client_t *c, const uint8_t subject[32],
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
  k.valid_from_ms = (uint64_t)(from ? from : party_wall_ms() - 60000);
  k.valid_until_ms = (uint64_t)(until ? until : party_wall_ms() + 365 * DAY_MS);
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (out)
    *out = k;
  return rc;
}

void party_grant_window(keten_client_t *c, const uint8_t subject[32],
                        const char *to, uint64_t sections, int purpose,
                        int64_t from, int64_t until, keten_consent_t *out) {
  keten_err_t rc =
      party_try_grant(c, subject, to, sections, purpose, from, until, out);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s: %s", to, keten_strerror(rc),
             keten_client_error(c));
}

void party_grant(keten_client_t *c, const uint8_t subject[32], const char *to,
                 uint64_t sections, int purpose, keten_consent_t *out) {
  party_grant_window(c, subject, to, sections, purpose, 0, 0, out);
}

keten_put_result_t party_put(keten_client_t *c, const uint8_t subject[32],
                             int kind, const char *json) {
  keten_put_result_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_put(c, subject, kind, json, strlen(json), &res);
  if (rc != KETEN_OK)
    fail_msg("put %s: %s: %s", keten_section_kind_name(kind),
             keten_strerror(rc), keten_client_error(c));
  return res;
}

void party_assert_queued(const keten_put_result_t *res,
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

uint64_t party_fetch_kinds(keten_client_t *c, const uint8_t subject[32]) {
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

void party_expect_fetched(keten_client_t *c, const uint8_t subject[32],
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

/* ---- TVS events ---------------------------------------------------------- */

keten_tvs_event_t party_event(int kind, const uint8_t *subject,
                              const char *gemeente) {
  keten_tvs_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = kind;
  if (subject)
    memcpy(ev.subject, subject, 32);
  snprintf(ev.gemeente, sizeof ev.gemeente, "%s", gemeente);
  return ev;
}

keten_tvs_event_t party_koppeling(const uint8_t subject[32],
                                  const char *gemeente, const char *period,
                                  const char *date, uint32_t household) {
  keten_tvs_event_t ev = party_event(KETEN_TVS_KOPPELING, subject, gemeente);
  snprintf(ev.period, sizeof ev.period, "%s", period);
  snprintf(ev.date, sizeof ev.date, "%s", date);
  ev.household_size = household;
  return ev;
}

keten_tvs_event_t party_ontkoppeling(const uint8_t subject[32],
                                     const char *gemeente, int reason) {
  keten_tvs_event_t ev = party_event(KETEN_TVS_ONTKOPPELING, subject, gemeente);
  snprintf(ev.date, sizeof ev.date, "2026-09-01");
  ev.reason = reason;
  return ev;
}

keten_tvs_published_t party_publish(keten_client_t *c, keten_tvs_event_t *ev) {
  keten_tvs_published_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_tvs_publish(c, ev, &res);
  if (rc != KETEN_OK)
    fail_msg("publish %s: %s: %s / %s", keten_tvs_kind_name(ev->kind),
             keten_strerror(rc),
             rc == KETEN_ERR_REMOTE
                 ? keten_error_code_name(keten_client_remote_code(c))
                 : "-",
             keten_client_error(c));
  assert_int_equal(res.duplicate, 0);
  return res;
}

/* ---- the store ----------------------------------------------------------- */

long long party_sql(harness_t *h, const char *sql) {
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

long long party_sqlf(harness_t *h, const char *fmt, ...) {
  char sql[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  return party_sql(h, sql);
}

long long party_audited(harness_t *h, const char *name, int status,
                        const char *needle) {
  return party_sqlf(h,
                    "SELECT count(*) FROM audit WHERE name = '%s' AND (%d = 0 "
                    "OR status = %d) AND detail LIKE '%%%s%%'",
                    name, status, status, needle ? needle : "");
}

long long party_wraps_v(harness_t *h, const char *recipient,
                        const uint8_t subject[32], const char *author, int kind,
                        uint64_t version) {
  char hex[65];
  return party_sqlf(h,
                    "SELECT count(*) FROM wrap w JOIN section s ON s.id = "
                    "w.section_id WHERE w.recipient = '%s' AND s.subject = "
                    "X'%s' AND s.author = '%s' AND (%d = 0 OR s.kind = %d) AND "
                    "(%llu = 0 OR s.version = %llu)",
                    recipient, party_hex(subject, 32, hex), author, kind, kind,
                    (unsigned long long)version, (unsigned long long)version);
}

long long party_wraps(harness_t *h, const char *recipient,
                      const uint8_t subject[32], const char *author, int kind) {
  return party_wraps_v(h, recipient, subject, author, kind, 0);
}

void party_stop_and_verify(harness_t *h) {
  assert_int_equal(harness_stop(h), 0);
  char *out = NULL;
  int rc = harness_audit_verify(h, &out);
  if (rc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", rc, out ? out : "");
  free(out);
}

/* ---- raw requests -------------------------------------------------------- */

void party_raw_send(void *sock, Keten__Envelope *env, envelope_ids_t *ids) {
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

Keten__Envelope *party_raw(void *sock, Keten__Envelope *env) {
  static uint8_t buf[1 << 20];
  envelope_ids_t ids;
  party_raw_send(sock, env, &ids);
  for (;;) {
    int n = harness_recv(sock, buf, sizeof buf, PARTY_CLIENT_TIMEOUT_MS);
    assert_true(n > 0);
    Keten__Envelope *reply = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
    assert_non_null(reply);
    if (reply->correlation_id.len == 16 &&
        memcmp(reply->correlation_id.data, ids.message_id, 16) == 0)
      return reply;
    envelope_free(reply); /* a delivery: not what we wait for */
  }
}

int party_error_code(Keten__Envelope *reply) {
  int code = reply->body_case == KETEN__ENVELOPE__BODY_ERROR
                 ? (int)reply->error->code
                 : 0;
  envelope_free(reply);
  return code;
}
