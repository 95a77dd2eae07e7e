/* The TVS feed and what it binds (issue 7), over a real ketend (ipc) with
 * the example partners, a TVS participant (run by COA), a second TVS id, a
 * second gemeente and an OPERATOR:
 *
 *   - who may publish, and what the broker refuses: role, author, shape,
 *     signature, unknown gemeenten, duplicates and conflicting reuse;
 *   - each gemeente's feed: only its own events, in order, verified by
 *     libketen, durable while it is offline, redelivered when not taken;
 *   - the state of links: one active link per subject, TVS_LIST and
 *     TVS_STATUS and who may ask them;
 *   - consents naming "@gemeente": nothing until the KOPPELING, then the
 *     consented sections through rewraps served by the author's library
 *     (online, or when it comes back), refused by the author when the
 *     consent has expired; late direct consents rewrap too;
 *   - ONTKOPPELING, VERHUIZING, revocation (also by the linked gemeente)
 *     and expiry: signed delete notices naming what the recipient had,
 *     access gone (but what a direct consent gives stays), the next
 *     gemeente served;
 *   - attacks: an unlinked gemeente, answers to another's rewrap request,
 *     malformed answers, answers after the access ended (revoked,
 *     ontkoppeld, expired), ontkoppelingen by non-TVS parties.
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
#include <zmq.h>

#include "canon.h"
#include "envelope.h"
#include "harness.h"
#include "party.h"
#include "store.h"
#include "tvs.h"

#define COA "coa"
#define G1 "gemeente:0716"
#define G2 "gemeente:0678"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define TVS "tvs:coa"
#define TVS2 "tvs:coa-2"
#define FG "fg:keten"
#define LINKED KETEN_LINKED_GEMEENTE

#define BIT(kind) (UINT64_C(1) << (kind))
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define QUIET_MS 800

enum {
  K_IDENTITY = 1,
  K_STORY = 3,
  K_LANGUAGE = 6,
  K_HEALTH = 10,
};
enum { P_INBURGERING = 2, P_ZORG = 4, P_BEGELEIDING = 5 };

static const char *const V_AMIRA = "2931847560"; /* fictional */
static const char *const V_B = "1029384756";
static const char *const V_C = "3847561029";
static const char *const V_D = "4756102938";
static const char *const V_E = "5610293847";

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}";
static const char IDENTITY2_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": "
    "\"1991-03-14\"}";
static const char STORY_JSON[] =
    "{\"language\": \"ar\", \"text\": \"Ik was apotheker in Homs.\"}";
static const char STORY2_JSON[] =
    "{\"language\": \"ar\", \"text\": \"Ik was apotheker in Homs. Mijn man "
    "wacht in Turkije.\"}";
static const char STORY3_JSON[] =
    "{\"language\": \"ar\", \"text\": \"Mijn man is in Nederland.\"}";
static const char LANGUAGE_JSON[] =
    "{\"languages\": [{\"code\": \"ar\", \"level\": \"native\"}], \"nl\": {\"level\": \"A1\"}}";
static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\"}";
static const char HEALTH2_JSON[] =
    "{\"notes\": \"slaapt beter\", \"referral\": \"GGZ\"}";

/* ---- fixture ------------------------------------------------------------- */

typedef struct {
  int ack_timeout_ms; /* 0: ketend's default */
} s_config_t;

static const s_config_t SHORT_ACK = {500};

static int s_setup(void **state) {
  const s_config_t *cfg = *state;
  harness_t *h = harness_new(1);
  if (!h || !harness_add_partner(h, TVS, "TVS", "TVS (COA, fictief)") ||
      !harness_add_partner(h, TVS2, "TVS", "TVS tweede locatie (fictief)") ||
      !harness_add_partner(h, G2, "GEMEENTE", "Gemeente Kapelle (fictief)") ||
      !harness_add_partner(h, FG, "OPERATOR", "Functionaris (fictief)")) {
    harness_destroy(&h);
    return -1;
  }
  if (cfg && cfg->ack_timeout_ms) {
    snprintf(h->extra_args[h->n_extra++], 64, "--ack-timeout-ms");
    snprintf(h->extra_args[h->n_extra++], 64, "%d", cfg->ack_timeout_ms);
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
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* ---- the store ----------------------------------------------------------- */

/* One blob from the store into out (at most cap bytes); its length. */
static size_t s_sql_blob(harness_t *h, uint8_t *out, size_t cap,
                         const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  if (sqlite3_step(st) != SQLITE_ROW)
    fail_msg("no row: %s", sql);
  size_t n = (size_t)sqlite3_column_bytes(st, 0);
  assert_true(n <= cap);
  memcpy(out, sqlite3_column_blob(st, 0), n);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/* Sections waiting (not yet acked) in recipient's mailbox. */
static long long s_pending_sections(harness_t *h, const char *recipient) {
  return party_sqlf(h,
                    "SELECT count(*) FROM mailbox WHERE recipient = '%s' AND "
                    "section_id IS NOT NULL",
                    recipient);
}

/* ---- TVS events ---------------------------------------------------------- */

static keten_tvs_event_t s_huisvesting(const uint8_t subject[32],
                                       const char *gemeente,
                                       const char *date) {
  keten_tvs_event_t ev = party_event(KETEN_TVS_HUISVESTING, subject, gemeente);
  snprintf(ev.date, sizeof ev.date, "%s", date);
  return ev;
}

static keten_tvs_event_t s_verhuizing(const uint8_t subject[32],
                                      const char *to, const char *from) {
  keten_tvs_event_t ev = party_event(KETEN_TVS_VERHUIZING, subject, to);
  snprintf(ev.from_gemeente, sizeof ev.from_gemeente, "%s", from);
  snprintf(ev.date, sizeof ev.date, "2026-10-01");
  return ev;
}

static keten_tvs_event_t s_taakstelling(const char *gemeente,
                                        const char *period, uint32_t target,
                                        uint32_t realised) {
  keten_tvs_event_t ev = party_event(KETEN_TVS_TAAKSTELLING, NULL, gemeente);
  snprintf(ev.period, sizeof ev.period, "%s", period);
  ev.target = target;
  ev.realised = realised;
  return ev;
}

static void s_publish_refused(keten_client_t *c, keten_tvs_event_t ev,
                              int code, const char *what) {
  keten_tvs_published_t res;
  party_expect_remote(c, keten_client_tvs_publish(c, &ev, &res), code, what);
}

static void s_assert_feeds(const keten_tvs_published_t *res, const char *a,
                           const char *b) {
  size_t want = b ? 2 : 1;
  if (res->n_queued != want)
    fail_msg("event appended to %zu feeds, expected %zu", res->n_queued, want);
  for (size_t i = 0; i < want; i++) {
    const char *id = i == 0 ? a : b;
    int found = 0;
    for (size_t j = 0; j < res->n_queued; j++)
      found |= strcmp(res->queued[j], id) == 0;
    if (!found)
      fail_msg("event not appended to %s's feed", id);
  }
}

/* Asserts that a received event is the published one, field by field. */
static void s_assert_same_event(const keten_tvs_event_t *got,
                                const keten_tvs_event_t *sent) {
  assert_memory_equal(got->event_id, sent->event_id, 16);
  assert_int_equal(got->kind, sent->kind);
  assert_memory_equal(got->subject, sent->subject, 32);
  assert_string_equal(got->gemeente, sent->gemeente);
  assert_string_equal(got->from_gemeente, sent->from_gemeente);
  assert_string_equal(got->period, sent->period);
  assert_string_equal(got->date, sent->date);
  assert_int_equal(got->household_size, sent->household_size);
  assert_int_equal(got->reason, sent->reason);
  assert_int_equal(got->target, sent->target);
  assert_int_equal(got->realised, sent->realised);
  assert_string_equal(got->published_by, TVS);
  assert_int_equal(got->published_at_ms, sent->published_at_ms);
}

/* Asserts that p's feed holds exactly evs[0..n), in that order, verified. */
static void s_expect_feed(const party_t *p, const keten_tvs_event_t *evs,
                          size_t n) {
  if (p->n_ev != n)
    fail_msg("%s's feed has %zu events, expected %zu", p->id, p->n_ev, n);
  for (size_t i = 0; i < n; i++) {
    if (p->ev[i].null_ev || p->ev[i].status != KETEN_OK)
      fail_msg("%s: event seq %llu did not verify: %s", p->id,
               (unsigned long long)p->ev[i].seq,
               keten_strerror(p->ev[i].status));
    s_assert_same_event(&p->ev[i].ev, &evs[i]);
    if (i > 0)
      assert_true(p->ev[i].seq > p->ev[i - 1].seq);
  }
}

/* ---- raw requests -------------------------------------------------------- */

/* The wire form of ev (pointing into ev and sig), signed with sk. */
static void s_wire_event(keten_tvs_event_t *ev, const char *published_by,
                         const uint8_t sk[64], Keten__TvsEvent *w,
                         uint8_t sig[64]) {
  keten__tvs_event__init(w);
  if (sodium_is_zero(ev->event_id, 16))
    randombytes_buf(ev->event_id, 16);
  if (!ev->published_at_ms)
    ev->published_at_ms = (uint64_t)party_wall_ms();
  snprintf(ev->published_by, sizeof ev->published_by, "%s", published_by);
  w->event_id.data = ev->event_id;
  w->event_id.len = 16;
  w->kind = (Keten__TvsEventKind)ev->kind;
  if (ev->kind != KETEN_TVS_TAAKSTELLING) {
    w->subject.data = ev->subject;
    w->subject.len = 32;
  }
  w->gemeente = ev->gemeente;
  w->from_gemeente = ev->from_gemeente;
  w->period = ev->period;
  w->date = ev->date;
  w->household_size = ev->household_size;
  w->reason = (Keten__OntkoppelReason)ev->reason;
  w->target = ev->target;
  w->realised = ev->realised;
  w->published_by = ev->published_by;
  w->published_at_ms = ev->published_at_ms;
  w->signature.data = sig;
  w->signature.len = 64;
  if (sk)
    assert_int_equal(tvs_event_sign(w, sk, sig), 0);
}

/* Publishes w raw on sock; returns the error code (0: TvsPublished, with
 * *duplicate set). */
static int s_raw_publish(void *sock, Keten__TvsEvent *w, int *duplicate) {
  Keten__TvsPublish pub = KETEN__TVS_PUBLISH__INIT;
  pub.event = w;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_TVS_PUBLISH;
  env.tvs_publish = &pub;
  Keten__Envelope *reply = party_raw(sock, &env);
  if (reply->body_case == KETEN__ENVELOPE__BODY_TVS_PUBLISHED && duplicate)
    *duplicate = reply->tvs_published->duplicate;
  return party_error_code(reply);
}

/* Sends RewrapAnswer{request_id, wrap (wrap_len bytes, may be NULL),
 * refusal (may be NULL)} raw; returns the error code (0: OK). */
static int s_raw_answer(void *sock, uint64_t request_id, const uint8_t *wrap,
                        size_t wrap_len, const char *refusal) {
  Keten__RewrapAnswer a = KETEN__REWRAP_ANSWER__INIT;
  a.request_id = request_id;
  if (wrap) {
    a.wrap.data = (uint8_t *)wrap;
    a.wrap.len = wrap_len;
  }
  if (refusal)
    a.refusal = (char *)refusal;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_REWRAP_ANSWER;
  env.rewrap_answer = &a;
  Keten__Envelope *reply = party_raw(sock, &env);
  if (reply->body_case != KETEN__ENVELOPE__BODY_OK &&
      reply->body_case != KETEN__ENVELOPE__BODY_ERROR)
    fail_msg("rewrap answer: unexpected reply body %d", reply->body_case);
  return party_error_code(reply);
}

/* The id of the pending rewrap request for recipient of COA's section of
 * kind of subject. */
static uint64_t s_pending_rewrap(harness_t *h, const uint8_t subject[32],
                                 int kind, const char *recipient) {
  char hex[65];
  party_hex(subject, 32, hex);
  assert_int_equal(
      party_sqlf(h,
                 "SELECT count(*) FROM rewrap WHERE subject = X'%s' "
                 "AND kind = %d AND recipient = '%s' AND state = %d",
                 hex, kind, recipient, STORE_REWRAP_PENDING),
      1);
  return (uint64_t)party_sqlf(h,
                              "SELECT id FROM rewrap WHERE subject = X'%s' AND "
                              "kind = %d AND recipient = '%s' AND state = %d",
                              hex, kind, recipient, STORE_REWRAP_PENDING);
}

/* A real wrap for recipient of COA's latest section of kind of subject:
 * COA's own wrap opened with COA's keys and sealed to recipient's key. */
static void s_make_wrap(harness_t *h, const uint8_t subject[32], int kind,
                        const char *recipient, uint8_t wrap[80]) {
  char hex[65], sql[512];
  party_hex(subject, 32, hex);
  snprintf(sql, sizeof sql,
           "SELECT w.wrap FROM wrap w JOIN section s ON s.id = w.section_id "
           "WHERE w.recipient = 'coa' AND s.author = 'coa' AND s.subject = "
           "X'%s' AND s.kind = %d ORDER BY s.version DESC LIMIT 1",
           hex, kind);
  uint8_t own[80], key[32];
  assert_int_equal(s_sql_blob(h, own, sizeof own, sql), 80);
  const keten_keys_t *coa = &harness_partner(h, COA)->keys;
  assert_int_equal(crypto_box_seal_open(key, own, 80, coa->sealing_pk,
                                        coa->sealing_sk),
                   0);
  assert_int_equal(
      crypto_box_seal(wrap, key, 32,
                      harness_partner(h, recipient)->keys.sealing_pk),
      0);
  sodium_memzero(key, sizeof key);
}

/* ---- notices ------------------------------------------------------------- */

static int s_has_item(const keten_notice_t *n, int kind, const char *author,
                      uint64_t up_to) {
  for (size_t i = 0; i < n->n_items; i++)
    if (n->items[i].kind == kind && !strcmp(n->items[i].author, author) &&
        n->items[i].up_to_version == up_to)
      return 1;
  return 0;
}

/* Asserts that p's notice i is a verified NOTICE_DELETE of subject for
 * reason, naming exactly the items (kind, up_to_version) by COA. */
static const keten_notice_t *s_expect_delete(const party_t *p, size_t i,
                                             const uint8_t subject[32],
                                             int reason, const int *kinds,
                                             const uint64_t *versions,
                                             size_t n) {
  assert_true(i < p->n_ntc);
  const party_ntc_t *x = &p->ntc[i];
  if (x->null_notice || x->status != KETEN_OK)
    fail_msg("%s: notice seq %llu did not verify: %s", p->id,
             (unsigned long long)x->seq, keten_strerror(x->status));
  const keten_notice_t *nt = &x->n;
  assert_int_equal(nt->kind, KETEN_NOTICE_DELETE);
  assert_int_equal(nt->delete_reason, reason);
  assert_memory_equal(nt->subject, subject, 32);
  if (nt->n_items != n)
    fail_msg("%s: the delete notice names %zu items, expected %zu", p->id,
             nt->n_items, n);
  for (size_t k = 0; k < n; k++)
    if (!s_has_item(nt, kinds[k], COA, versions[k]))
      fail_msg("%s: the delete notice lacks %s by coa up to v%llu", p->id,
               keten_section_kind_name(kinds[k]),
               (unsigned long long)versions[k]);
  assert_true(nt->created_at_ms > 0);
  return nt;
}

/* ========================================================================== */
/* 1. who may publish, and what is refused                                    */
/* ========================================================================== */

static void test_publish_refusals(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA), *gem = party_client(h, G1),
                 *tvs = party_client(h, TVS);

  /* only a TVS participant publishes: not COA, not a gemeente */
  s_publish_refused(coa,
                    party_koppeling(subject, G1, "2026-2", "2026-07-01", 3),
                    KETEN__ERROR_CODE__ERROR_POLICY, "COA publishes");
  s_publish_refused(gem,
                    party_koppeling(subject, G1, "2026-2", "2026-07-01", 3),
                    KETEN__ERROR_CODE__ERROR_POLICY, "gemeente publishes");
  assert_int_equal(party_audited(h, "keten.tvs.publish", 2, NULL), 2);

  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, TVS)->keys);
  assert_non_null(sock);
  const uint8_t *tvs_sk = harness_partner(h, TVS)->keys.signing_sk;
  Keten__TvsEvent w;
  uint8_t sig[64];
  keten_tvs_event_t ev;

  /* published_by names another TVS participant, with that one's valid
   * signature: the sender is not the author */
  ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  s_wire_event(&ev, TVS2, harness_partner(h, TVS2)->keys.signing_sk, &w, sig);
  assert_int_equal(s_raw_publish(sock, &w, NULL),
                   KETEN__ERROR_CODE__ERROR_NOT_AUTHOR);

  /* bad shapes, each correctly signed */
  struct {
    const char *what;
    keten_tvs_event_t ev;
    size_t id_len;
  } bad[12];
  memset(bad, 0, sizeof bad);
  size_t nb = 0;
  bad[nb].what = "household 0";
  bad[nb++].ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 0);
  bad[nb].what = "household 100";
  bad[nb++].ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 100);
  bad[nb].what = "period 2026-3";
  bad[nb++].ev = party_koppeling(subject, G1, "2026-3", "2026-07-01", 3);
  bad[nb].what = "date 2026-02-30";
  bad[nb++].ev = party_koppeling(subject, G1, "2026-2", "2026-02-30", 3);
  bad[nb].what = "ONTKOPPELING without a reason";
  bad[nb++].ev = party_ontkoppeling(subject, G1, 0);
  bad[nb].what = "ONTKOPPELING with a period";
  bad[nb].ev = party_ontkoppeling(subject, G1, KETEN_ONTKOPPEL_MOVED);
  snprintf(bad[nb++].ev.period, 8, "2026-2");
  bad[nb].what = "VERHUIZING to itself";
  bad[nb++].ev = s_verhuizing(subject, G1, G1);
  bad[nb].what = "HUISVESTING with a household";
  bad[nb].ev = s_huisvesting(subject, G1, "2026-08-01");
  bad[nb++].ev.household_size = 3;
  bad[nb].what = "TAAKSTELLING with a date";
  bad[nb].ev = s_taakstelling(G1, "2026-2", 40, 12);
  snprintf(bad[nb++].ev.date, 11, "2026-07-01");
  bad[nb].what = "unknown kind";
  bad[nb].ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  bad[nb++].ev.kind = 9;
  bad[nb].what = "gemeente not an id";
  bad[nb++].ev =
      party_koppeling(subject, "Gemeente Tholen", "2026-2", "2026-07-01", 3);
  bad[nb].what = "event_id of 15 bytes";
  bad[nb].ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  bad[nb++].id_len = 15;
  for (size_t i = 0; i < nb; i++) {
    s_wire_event(&bad[i].ev, TVS, tvs_sk, &w, sig);
    if (bad[i].id_len) {
      w.event_id.len = bad[i].id_len;
      assert_int_equal(tvs_event_sign(&w, tvs_sk, sig), 0);
    }
    int code = s_raw_publish(sock, &w, NULL);
    if (code != KETEN__ERROR_CODE__ERROR_INVALID_FIELD)
      fail_msg("%s: expected ERROR_INVALID_FIELD, got %s", bad[i].what,
               code ? keten_error_code_name(code) : "TvsPublished");
  }
  /* a TAAKSTELLING with a subject: built by hand (s_wire_event leaves it) */
  ev = s_taakstelling(G1, "2026-2", 40, 12);
  s_wire_event(&ev, TVS, NULL, &w, sig);
  w.subject.data = subject;
  w.subject.len = 32;
  assert_int_equal(tvs_event_sign(&w, tvs_sk, sig), 0);
  assert_int_equal(s_raw_publish(sock, &w, NULL),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);

  /* signatures: one bit flipped; a signature by COA's key */
  ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  s_wire_event(&ev, TVS, tvs_sk, &w, sig);
  sig[10] ^= 0x01;
  assert_int_equal(s_raw_publish(sock, &w, NULL),
                   KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);
  ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  s_wire_event(&ev, TVS, harness_partner(h, COA)->keys.signing_sk, &w, sig);
  assert_int_equal(s_raw_publish(sock, &w, NULL),
                   KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);

  /* gemeenten that are not registered GEMEENTE participants */
  s_publish_refused(
      tvs, party_koppeling(subject, "gemeente:9999", "2026-2", "2026-07-01", 3),
      KETEN__ERROR_CODE__ERROR_NOT_FOUND, "unknown gemeente");
  s_publish_refused(tvs,
                    party_koppeling(subject, VWN, "2026-2", "2026-07-01", 3),
                    KETEN__ERROR_CODE__ERROR_NOT_FOUND, "a volunteer");
  s_publish_refused(tvs, s_taakstelling(COA, "2026-2", 40, 12),
                    KETEN__ERROR_CODE__ERROR_NOT_FOUND, "COA's figures");
  s_publish_refused(tvs, s_verhuizing(subject, G1, "gemeente:9999"),
                    KETEN__ERROR_CODE__ERROR_NOT_FOUND,
                    "a move from an unknown gemeente");

  /* nothing of it was stored, linked or queued */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_event"), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_link"), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM mailbox"), 0);

  /* a valid KOPPELING; the same event again is a duplicate, by the library
   * (a retry of the same struct) and raw (the same bytes) */
  ev = party_koppeling(subject, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &ev);
  s_assert_feeds(&res, G1, NULL);
  assert_false(sodium_is_zero(ev.event_id, 16));
  assert_string_equal(ev.published_by, TVS);
  assert_true(ev.published_at_ms > 0);
  keten_tvs_event_t again = ev;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_tvs_publish(tvs, &again, &res);
  if (rc != KETEN_OK)
    fail_msg("retry of the same event: %s: %s", keten_strerror(rc),
             keten_client_error(tvs));
  assert_int_equal(res.duplicate, 1);
  assert_int_equal(res.n_queued, 0); /* nothing else set (7.7 step 7) */
  assert_int_equal(res.rewraps_queued, 0);
  assert_memory_equal(again.event_id, ev.event_id, 16);
  keten_tvs_event_t raw = ev;
  s_wire_event(&raw, TVS, tvs_sk, &w, sig);
  int dup = 0;
  assert_int_equal(s_raw_publish(sock, &w, &dup), 0);
  assert_int_equal(dup, 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_event"), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_link"), 1);
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" G1 "'"),
                   1);
  /* the same id with other content: a conflict, nothing changes */
  keten_tvs_event_t other = ev;
  snprintf(other.date, sizeof other.date, "2026-07-02");
  s_publish_refused(tvs, other, KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "same id, other date");
  other = ev;
  snprintf(other.gemeente, sizeof other.gemeente, "%s", G2);
  s_publish_refused(tvs, other, KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "same id, other gemeente");
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_event"), 1);
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" G2 "'"),
                   0);
  assert_int_equal(party_audited(h, "keten.tvs.publish", 1, NULL), 1);

  zmq_close(sock);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 2. each gemeente's feed                                                    */
/* ========================================================================== */

static void test_feed_isolation_and_order(void **state) {
  harness_t *h = *state;
  uint8_t a[32], b[32], c[32];
  party_subject(V_AMIRA, a);
  party_subject(V_B, b);
  party_subject(V_C, c);
  keten_client_t *tvs = party_client(h, TVS);
  /* G1 online throughout; G2 offline until every event is published */
  party_t *g1 = party_new(h, G1, 1);
  g1->refuse_event_kind = KETEN_TVS_HUISVESTING; /* taken the second time */
  party_t *g2 = party_new(h, G2, 1);
  party_pump(PARTIES(g1, g2), 100);
  party_close(g2);

  keten_tvs_event_t evs[7];
  evs[0] = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  evs[1] = party_koppeling(b, G2, "2026-2", "2026-07-02", 1);
  evs[2] = s_taakstelling(G1, "2026-2", 40, 12);
  evs[3] = s_huisvesting(a, G1, "2026-08-15");
  evs[4] = s_taakstelling(G2, "2026-2", 25, 3);
  evs[5] = s_verhuizing(c, G1, G2); /* C not linked: recorded, both feeds */
  evs[6] = s_verhuizing(b, G1, G2); /* B linked to G2: that link ends */
  static const char *const FEED_A[] = {G1, G2, G1, G1, G2, G1, G1};
  static const char *const FEED_B[] = {NULL, NULL, NULL, NULL, NULL, G2, G2};
  for (size_t i = 0; i < 7; i++) {
    keten_tvs_published_t res = party_publish(tvs, &evs[i]);
    s_assert_feeds(&res, FEED_A[i], FEED_B[i]);
    party_pump(PARTIES(g1), 20);
  }
  const keten_tvs_event_t want_g1[] = {evs[0], evs[2], evs[3], evs[5], evs[6]};
  const keten_tvs_event_t want_g2[] = {evs[1], evs[4], evs[5], evs[6]};

  /* G1 refused the HUISVESTING once: it came again (the ack timeout) and
   * everything after it waited for it, in order */
  party_wait(PARTIES(g1), g1, 0, 5, 0);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->refused_events, 1);
  assert_int_equal(g1->ev_calls, 6);
  s_expect_feed(g1, want_g1, 5);
  assert_int_equal(g1->ev[2].seq, g1->refused_seq);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(g1->n_ntc, 0);
  party_settle(g1);
  /* a new session of G1 gets nothing again */
  party_close(g1);
  party_connect(g1);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->n_ev, 5);

  /* G2 was offline: its own events are all there, in order, none of G1's */
  assert_int_equal(g2->n_ev, 0);
  party_connect(g2);
  party_wait(PARTIES(g2), g2, 0, 4, 0);
  party_pump(PARTIES(g2), QUIET_MS);
  s_expect_feed(g2, want_g2, 4);
  assert_int_equal(g2->n_sec, 0);
  party_settle(g2);

  /* B's link ended with the move; the new gemeente is not linked by it */
  keten_tvs_link_t *links = NULL;
  size_t n = 0;
  int truncated = 1;
  assert_int_equal(keten_client_tvs_list(tvs, G2, NULL, &links, &n, &truncated),
                   KETEN_OK);
  assert_int_equal(n, 0);
  assert_int_equal(truncated, 0);
  free(links);
  assert_int_equal(keten_client_tvs_list(tvs, G1, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 1);
  assert_memory_equal(links[0].subject, a, 32);
  assert_string_equal(links[0].housed_date, "2026-08-15");
  free(links);
  /* audited once per feed it went to: 5 + 4 */
  assert_int_equal(party_audited(h, "keten.tvs.publish", 1, NULL), 9);
  party_close(g1);
  party_close(g2);
  party_stop_and_verify(h);
}

/* An event changed in the store (by an operator with write access) or
 * handed over with a publisher entry that is not a root-signed TVS entry
 * is not passed on as an event by libketen. */
static void s_tamper_copy(harness_t *h, int64_t notice_row,
                          void (*edit)(harness_t *, Keten__TvsEventCopy *)) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(h->store, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT payload FROM notice WHERE id = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int64(st, 1, notice_row);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  Keten__TvsEventCopy *copy = keten__tvs_event_copy__unpack(
      NULL, (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 0));
  sqlite3_finalize(st);
  assert_non_null(copy);
  assert_non_null(copy->event);
  /* what edit may replace by its own (static) data, put back before free */
  Keten__RegistryEntry *entry = copy->publisher_entry;
  char *by = copy->event->published_by;
  ProtobufCBinaryData sig = copy->event->signature;
  edit(h, copy);
  size_t len = keten__tvs_event_copy__get_packed_size(copy);
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  keten__tvs_event_copy__pack(copy, buf);
  assert_int_equal(
      sqlite3_prepare_v2(db, "UPDATE notice SET payload = ? WHERE id = ?", -1,
                         &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, buf, (int)len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, notice_row);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(buf);
  copy->publisher_entry = entry;
  copy->event->published_by = by;
  copy->event->signature = sig;
  keten__tvs_event_copy__free_unpacked(copy, NULL);
}

static void s_edit_household(harness_t *h, Keten__TvsEventCopy *copy) {
  (void)h;
  copy->event->household_size = 4; /* the signature covers it */
}

static Keten__RegistryEntry s_coa_entry;
static uint8_t s_coa_entry_sig[64];

/* Replaces the publisher's entry by a root-signed entry of COA (role COA)
 * and re-signs the event with COA's key as published_by "coa": every
 * signature verifies, but the publisher is not a TVS participant. */
static void s_edit_publisher(harness_t *h, Keten__TvsEventCopy *copy) {
  harness_partner_t *coa = harness_partner(h, COA);
  Keten__RegistryEntry *e = copy->publisher_entry;
  assert_non_null(e);
  s_coa_entry = *e;
  s_coa_entry.participant_id = (char *)COA;
  s_coa_entry.role = KETEN__ROLE__ROLE_COA;
  s_coa_entry.display_name = (char *)"Centraal Orgaan opvang asielzoekers";
  s_coa_entry.transport_key.data = coa->keys.transport_pk;
  s_coa_entry.signing_key.data = coa->keys.signing_pk;
  s_coa_entry.sealing_key.data = coa->keys.sealing_pk;
  assert_int_equal(canon_sign_entry(&s_coa_entry, h->root.secret_key,
                                    s_coa_entry_sig),
                   0);
  s_coa_entry.root_signature.data = s_coa_entry_sig;
  s_coa_entry.root_signature.len = 64;
  copy->publisher_entry = &s_coa_entry;
  static char by[] = COA;
  copy->event->published_by = by;
  static uint8_t sig[64];
  assert_int_equal(tvs_event_sign(copy->event, coa->keys.signing_sk, sig), 0);
  copy->event->signature.data = sig;
  copy->event->signature.len = 64;
}

static void test_feed_verified_by_library(void **state) {
  harness_t *h = *state;
  uint8_t a[32], b[32], c[32];
  party_subject(V_AMIRA, a);
  party_subject(V_B, b);
  party_subject(V_C, c);
  keten_client_t *tvs = party_client(h, TVS);
  keten_tvs_event_t evs[3] = {
      party_koppeling(a, G1, "2026-2", "2026-07-01", 3),
      party_koppeling(b, G1, "2026-2", "2026-07-01", 2),
      party_koppeling(c, G1, "2026-2", "2026-07-01", 1)};
  for (size_t i = 0; i < 3; i++)
    party_publish(tvs, &evs[i]);
  /* the first two copies in G1's mailbox are changed before it connects */
  int64_t first = party_sqlf(h, "SELECT min(notice_id) FROM mailbox WHERE "
                                "recipient = '" G1 "'");
  s_tamper_copy(h, first, s_edit_household);
  s_tamper_copy(h, first + 1, s_edit_publisher);
  party_t *g1 = party_new(h, G1, 1);
  party_wait(PARTIES(g1), g1, 0, 3, 0);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->n_ev, 3);
  assert_true(g1->ev[0].null_ev);
  assert_int_not_equal(g1->ev[0].status, KETEN_OK);
  assert_true(g1->ev[1].null_ev);
  assert_int_not_equal(g1->ev[1].status, KETEN_OK);
  assert_false(g1->ev[2].null_ev);
  assert_int_equal(g1->ev[2].status, KETEN_OK);
  s_assert_same_event(&g1->ev[2].ev, &evs[2]);
  party_close(g1);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 3. links: state, TVS_LIST, TVS_STATUS                                      */
/* ========================================================================== */

static void test_link_state(void **state) {
  harness_t *h = *state;
  uint8_t a[32], b[32], c[32], d[32], e[32];
  party_subject(V_AMIRA, a);
  party_subject(V_B, b);
  party_subject(V_C, c);
  party_subject(V_D, d);
  party_subject(V_E, e);
  keten_client_t *tvs = party_client(h, TVS), *g1 = party_client(h, G1),
                 *g2 = party_client(h, G2), *coa = party_client(h, COA),
                 *fg = party_client(h, FG);

  keten_tvs_event_t ka = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &ka);
  /* one active link per subject */
  s_publish_refused(tvs, party_koppeling(a, G2, "2026-2", "2026-07-03", 3),
                    KETEN__ERROR_CODE__ERROR_CONFLICT, "second KOPPELING");
  s_publish_refused(tvs, party_koppeling(a, G1, "2026-2", "2026-07-03", 3),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "second KOPPELING, same gemeente");
  s_publish_refused(tvs, party_ontkoppeling(a, G2, KETEN_ONTKOPPEL_MOVED),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "ONTKOPPELING for the wrong gemeente");
  s_publish_refused(tvs, party_ontkoppeling(b, G1, KETEN_ONTKOPPEL_MOVED),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "ONTKOPPELING without a link");
  s_publish_refused(tvs, s_huisvesting(b, G1, "2026-08-01"),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "HUISVESTING without a link");
  s_publish_refused(tvs, s_huisvesting(a, G2, "2026-08-01"),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "HUISVESTING in another gemeente");
  s_publish_refused(tvs, s_verhuizing(a, G1, G2),
                    KETEN__ERROR_CODE__ERROR_CONFLICT,
                    "VERHUIZING from a gemeente it is not linked to");
  /* none of it reached a feed: G1 has the KOPPELING only, G2 nothing */
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" G1 "'"),
                   1);
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" G2 "'"),
                   0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM tvs_event"), 1);

  /* more links and figures */
  keten_tvs_event_t kc = party_koppeling(c, G1, "2026-1", "2026-03-01", 2);
  keten_tvs_event_t kb = party_koppeling(b, G2, "2026-2", "2026-07-05", 1);
  keten_tvs_event_t kd = party_koppeling(d, G1, "2026-2", "2026-07-10", 4);
  keten_tvs_event_t ke = party_koppeling(e, G1, "2026-2", "2026-07-11", 5);
  party_publish(tvs, &kc);
  party_publish(tvs, &kb);
  party_publish(tvs, &kd);
  party_publish(tvs, &ke);
  keten_tvs_event_t ha = s_huisvesting(a, G1, "2026-08-15");
  keten_tvs_event_t hd = s_huisvesting(d, G1, "2026-08-20");
  keten_tvs_event_t od =
      party_ontkoppeling(d, G1, KETEN_ONTKOPPEL_HOUSING_ELSEWHERE);
  keten_tvs_event_t t1 = s_taakstelling(G1, "2026-2", 40, 12);
  keten_tvs_event_t t2 = s_taakstelling(G1, "2026-2", 42, 13);
  party_publish(tvs, &ha);
  party_publish(tvs, &hd);
  party_publish(tvs, &od);
  party_publish(tvs, &t1);
  party_sleep_ms(5);
  party_publish(tvs, &t2);

  /* G1's list: its own active links, oldest first, nothing of G2's */
  keten_tvs_link_t *links = NULL;
  size_t n = 0;
  int truncated = 1;
  assert_int_equal(keten_client_tvs_list(g1, NULL, NULL, &links, &n,
                                         &truncated),
                   KETEN_OK);
  assert_int_equal(truncated, 0);
  assert_int_equal(n, 3); /* A, C, E; D ended */
  assert_memory_equal(links[0].subject, a, 32);
  assert_string_equal(links[0].gemeente, G1);
  assert_string_equal(links[0].period, "2026-2");
  assert_string_equal(links[0].linked_date, "2026-07-01");
  assert_int_equal(links[0].household_size, 3);
  assert_string_equal(links[0].housed_date, "2026-08-15");
  assert_memory_equal(links[0].koppeling_event_id, ka.event_id, 16);
  assert_memory_equal(links[1].subject, c, 32);
  assert_string_equal(links[1].period, "2026-1");
  assert_string_equal(links[1].housed_date, "");
  assert_memory_equal(links[1].koppeling_event_id, kc.event_id, 16);
  assert_memory_equal(links[2].subject, e, 32);
  assert_int_equal(links[2].household_size, 5);
  free(links);
  /* "" is the caller too; a period narrows it */
  assert_int_equal(keten_client_tvs_list(g1, "", "2026-2", &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 2);
  assert_memory_equal(links[0].subject, a, 32);
  assert_memory_equal(links[1].subject, e, 32);
  free(links);
  /* its own id is fine; another gemeente's is not */
  assert_int_equal(keten_client_tvs_list(g1, G1, "2026-1", &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 1);
  assert_memory_equal(links[0].subject, c, 32);
  free(links);
  links = NULL;
  party_expect_remote(g1, keten_client_tvs_list(g1, G2, NULL, &links, &n, NULL),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G1 lists G2");
  keten_err_t bad = keten_client_tvs_list(g1, NULL, "2026-3", &links, &n, NULL);
  assert_true(bad == KETEN_ERR_INVALID ||
              (bad == KETEN_ERR_REMOTE &&
               keten_client_remote_code(g1) ==
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD));
  assert_null(links);
  party_expect_remote(coa,
                      keten_client_tvs_list(coa, G1, NULL, &links, &n, NULL),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "COA lists G1");
  party_expect_remote(fg, keten_client_tvs_list(fg, G1, NULL, &links, &n, NULL),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "the operator lists G1");
  /* G2 its own; TVS any */
  assert_int_equal(keten_client_tvs_list(g2, NULL, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 1);
  assert_memory_equal(links[0].subject, b, 32);
  assert_memory_equal(links[0].koppeling_event_id, kb.event_id, 16);
  free(links);
  assert_int_equal(keten_client_tvs_list(tvs, G1, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 3);
  free(links);

  /* figures: linked = active links of the period (A, E), housed = links of
   * the period with a HUISVESTING, ended or not (A, D); the latest
   * TAAKSTELLING */
  keten_tvs_status_t st;
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(g1, NULL, "2026-2", &st), KETEN_OK);
  assert_string_equal(st.gemeente, G1);
  assert_string_equal(st.period, "2026-2");
  assert_int_equal(st.has_target, 1);
  assert_int_equal(st.target, 42);
  assert_int_equal(st.realised, 13);
  assert_int_equal(st.linked, 2);
  assert_int_equal(st.housed, 2);
  assert_true(st.updated_at_ms >= t2.published_at_ms);
  assert_true(st.updated_at_ms <= (uint64_t)party_wall_ms() + 1000);
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(g1, G1, "2026-1", &st), KETEN_OK);
  assert_int_equal(st.has_target, 0);
  assert_int_equal(st.linked, 1);
  assert_int_equal(st.housed, 0);
  /* TVS and the operator may ask for any gemeente; others only their own */
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(tvs, G1, "2026-2", &st), KETEN_OK);
  assert_int_equal(st.linked, 2);
  assert_int_equal(st.target, 42);
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(fg, G1, "2026-2", &st), KETEN_OK);
  assert_int_equal(st.housed, 2);
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(g2, NULL, "2026-2", &st), KETEN_OK);
  assert_string_equal(st.gemeente, G2);
  assert_int_equal(st.linked, 1);
  assert_int_equal(st.housed, 0);
  assert_int_equal(st.has_target, 0);
  party_expect_remote(g2, keten_client_tvs_status(g2, G1, "2026-2", &st),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "G2 asks G1's figures");
  party_expect_remote(coa, keten_client_tvs_status(coa, G1, "2026-2", &st),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "COA asks G1's figures");
  /* the period is required and must be valid (the library may refuse it
   * before sending) */
  keten_err_t rc = keten_client_tvs_status(g1, NULL, "2026-3", &st);
  assert_true(rc == KETEN_ERR_INVALID ||
              (rc == KETEN_ERR_REMOTE &&
               keten_client_remote_code(g1) ==
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD));
  rc = keten_client_tvs_status(g1, NULL, "", &st);
  assert_true(rc == KETEN_ERR_INVALID ||
              (rc == KETEN_ERR_REMOTE &&
               keten_client_remote_code(g1) ==
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD));
  party_stop_and_verify(h);
}

/* A query naming no gemeente asks for the caller itself. */
static void test_tvs_queries_naming_no_gemeente(void **state) {
  harness_t *h = *state;
  keten_client_t *tvs = party_client(h, TVS), *coa = party_client(h, COA),
                 *fg = party_client(h, FG), *g1 = party_client(h, G1);
  keten_tvs_status_t st;
  keten_tvs_link_t *links = NULL;
  size_t n = 0;
  /* a gemeente: itself */
  assert_int_equal(keten_client_tvs_list(g1, NULL, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 0);
  free(links);
  memset(&st, 0, sizeof st);
  assert_int_equal(keten_client_tvs_status(g1, "", "2026-2", &st), KETEN_OK);
  assert_string_equal(st.gemeente, G1);
  /* only a gemeente may leave it empty: TVS and the operator must name
   * one (INVALID_FIELD, not audited); a role that may see no TVS data at
   * all is refused as such (FORBIDDEN, audited) */
  long long audited = party_sqlf(h, "SELECT count(*) FROM audit WHERE name IN "
                                    "('keten.tvs.list', 'keten.tvs.status')");
  party_expect_remote(fg, keten_client_tvs_status(fg, NULL, "2026-2", &st),
                      KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                      "TVS_STATUS by the operator naming no gemeente");
  party_expect_remote(tvs, keten_client_tvs_status(tvs, "", "2026-2", &st),
                      KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                      "TVS_STATUS by TVS naming no gemeente");
  party_expect_remote(tvs,
                      keten_client_tvs_list(tvs, NULL, NULL, &links, &n, NULL),
                      KETEN__ERROR_CODE__ERROR_INVALID_FIELD,
                      "TVS_LIST by TVS naming no gemeente");
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM audit WHERE name IN "
                                 "('keten.tvs.list', 'keten.tvs.status')"),
                   audited);
  party_expect_remote(
      coa, keten_client_tvs_list(coa, NULL, NULL, &links, &n, NULL),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "TVS_LIST by COA naming no gemeente");
  party_expect_remote(coa, keten_client_tvs_status(coa, NULL, "2026-2", &st),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "TVS_STATUS by COA naming no gemeente");
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM audit WHERE name IN "
                                 "('keten.tvs.list', 'keten.tvs.status') AND "
                                 "status = 2"),
                   2);
  /* a name that is no participant id: the library does not send it; sent
   * raw, the broker refuses it, audited */
  assert_int_equal(keten_client_tvs_list(tvs, "Gemeente Tholen", NULL, &links,
                                         &n, NULL),
                   KETEN_ERR_INVALID);
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, TVS)->keys);
  Keten__TvsListRequest q = KETEN__TVS_LIST_REQUEST__INIT;
  q.gemeente = (char *)"Gemeente Tholen";
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_TVS_LIST;
  env.tvs_list = &q;
  assert_int_equal(party_error_code(party_raw(sock, &env)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  assert_int_equal(
      party_audited(h, "keten.tvs.list", 2, "not a participant id"), 1);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 4. consents naming "@gemeente"                                             */
/* ========================================================================== */

static void test_linked_gemeente_gets_profile(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1);

  /* COA's sections and its consent for the linked gemeente, before any
   * KOPPELING: nobody to seal to */
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  r = party_put(coa->c, a, K_STORY, STORY_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  r = party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  r = party_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  keten_consent_t linked;
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              &linked);
  /* a HEALTH consent naming the linked gemeente is refused by policy */
  party_expect_remote(coa->c,
                      party_try_grant(coa->c, a, LINKED, BIT(K_HEALTH),
                                      P_INBURGERING, 0, 0, NULL),
                      KETEN__ERROR_CODE__ERROR_POLICY, "HEALTH to @gemeente");
  /* the gemeente gets nothing, and FETCH gives it nothing */
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 0);

  /* the KOPPELING: one rewrap request per consented section */
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  s_assert_feeds(&res, G1, NULL);
  assert_int_equal(res.rewraps_queued, 2);
  assert_int_equal(party_audited(h, "keten.rewrap.queue", 1, NULL), 2);

  /* COA's client, polling, serves them; the gemeente gets exactly IDENTITY
   * and STORY (not HEALTH, not LANGUAGE) and its KOPPELING */
  party_wait(PARTIES(coa, g1), g1, 2, 1, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON},
                               {K_STORY, 1, STORY_JSON}};
  party_expect_sections(g1, COA, want, 2);
  s_expect_feed(g1, &k, 1);
  assert_int_equal(coa->n_rw, 2);
  for (size_t i = 0; i < coa->n_rw; i++) {
    assert_int_equal(coa->rw[i].sealed, 1);
    assert_string_equal(coa->rw[i].recipient, G1);
    assert_memory_equal(coa->rw[i].subject, a, 32);
    assert_int_equal(coa->rw[i].version, 1);
    assert_true(coa->rw[i].kind == K_IDENTITY || coa->rw[i].kind == K_STORY);
  }
  assert_int_not_equal(coa->rw[0].kind, coa->rw[1].kind);
  party_settle(coa);
  party_settle(g1);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 2);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                              STORE_REWRAP_DONE),
                   2);
  assert_int_equal(party_wraps(h, G1, a, COA, K_HEALTH), 0);
  assert_int_equal(party_wraps(h, G1, a, COA, K_LANGUAGE), 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY) | BIT(K_STORY));
  party_expect_fetched(g1->c, a, K_STORY, 1, STORY_JSON);
  /* CONSENT_LIST shows the linked gemeente the consent that names it */
  keten_consent_t *cl = NULL;
  size_t ncl = 0;
  assert_int_equal(keten_client_consent_list(g1->c, a, &cl, &ncl), KETEN_OK);
  assert_int_equal(ncl, 1);
  assert_memory_equal(cl[0].consent_id, linked.consent_id, 16);
  assert_string_equal(cl[0].recipient, LINKED);
  free(cl);
  keten_client_t *g2 = party_client(h, G2);
  cl = NULL;
  ncl = 0;
  keten_err_t lrc = keten_client_consent_list(g2, a, &cl, &ncl);
  assert_true(lrc != KETEN_OK || ncl == 0);
  free(cl);

  /* PREPARE now offers the gemeente with the KOPPELING as evidence */
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
  p.subject.data = a;
  p.subject.len = 32;
  p.kind = (Keten__SectionKind)K_STORY;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
  env.prepare = &p;
  Keten__Envelope *reply = party_raw(sock, &env);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PREPARED);
  assert_int_equal(reply->prepared->n_recipients, 1);
  const Keten__Recipient *rc = reply->prepared->recipients[0];
  assert_string_equal(rc->participant_id, G1);
  assert_non_null(rc->koppeling);
  assert_non_null(rc->koppeling->event);
  assert_memory_equal(rc->koppeling->event->event_id.data, k.event_id, 16);
  assert_non_null(rc->koppeling->publisher_entry);
  assert_int_equal(rc->koppeling->publisher_entry->role, KETEN__ROLE__ROLE_TVS);
  assert_int_equal(
      canon_verify_entry(rc->koppeling->publisher_entry, h->root.public_key),
      0);
  assert_int_equal(
      tvs_event_verify(rc->koppeling->event,
                       harness_partner(h, TVS)->keys.signing_pk),
      0);
  assert_int_equal(rc->n_consents, 1);
  assert_string_equal(rc->consents[0]->recipient, LINKED);
  envelope_free(reply);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  /* a new version after the koppeling reaches the gemeente directly */
  r = party_put(coa->c, a, K_STORY, STORY2_JSON);
  party_assert_queued(&r, (const char *[]){G1, NULL});
  party_wait(PARTIES(coa, g1), g1, 3, 1, 0);
  assert_int_equal(g1->sec[2].kind, K_STORY);
  assert_int_equal(g1->sec[2].version, 2);
  assert_string_equal(g1->sec[2].json, STORY2_JSON);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 2);

  /* a second "@gemeente" consent while linked: LANGUAGE, stored before,
   * comes by a rewrap too */
  party_grant(coa->c, a, LINKED, BIT(K_LANGUAGE), P_INBURGERING, NULL);
  party_wait(PARTIES(coa, g1), g1, 4, 1, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 4);
  assert_int_equal(g1->sec[3].kind, K_LANGUAGE);
  assert_string_equal(g1->sec[3].json, LANGUAGE_JSON);
  assert_int_equal(coa->n_rw, 3);
  assert_int_equal(party_fetch_kinds(g1->c, a),
                   BIT(K_IDENTITY) | BIT(K_STORY) | BIT(K_LANGUAGE));
  /* never HEALTH */
  assert_null(party_got(g1, K_HEALTH, 1));
  assert_int_equal(party_wraps(h, G1, a, COA, K_HEALTH), 0);
  party_settle(g1);
  party_settle(coa);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

static void test_author_offline_serves_rewraps_later(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_STORY, STORY_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  party_close(coa); /* COA's adapter is down */

  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 2);
  /* at most one pending request per (section, recipient): more consents
   * of COA covering them (granted from its desk, the adapter still down)
   * leave one pending each (a request may be asked again, the older one
   * cancelled) */
  keten_client_t *desk = party_client(h, COA);
  party_grant(desk, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  party_grant(desk, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                              STORE_REWRAP_PENDING),
                   2);
  assert_int_equal(party_sqlf(h,
                              "SELECT count(DISTINCT section_id) FROM rewrap "
                              "WHERE state = %d",
                              STORE_REWRAP_PENDING),
                   2);
  /* the gemeente hears of the koppeling at once, the sections wait */
  party_wait(PARTIES(g1), g1, 0, 1, 0);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  party_settle(g1);
  party_close(g1);

  /* the requests are durable: the broker restarts meanwhile */
  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(harness_start(h), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                              STORE_REWRAP_PENDING),
                   2);

  /* COA comes back; its library serves them; the gemeente gets both */
  party_connect(coa);
  party_connect(g1);
  party_wait(PARTIES(coa, g1), g1, 2, 1, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON},
                               {K_STORY, 1, STORY_JSON}};
  party_expect_sections(g1, COA, want, 2);
  assert_int_equal(g1->n_ev, 1); /* the koppeling not twice */
  assert_int_equal(coa->n_rw, 2);
  party_settle(coa);
  party_settle(g1);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY) | BIT(K_STORY));
  /* a new session of COA serves nothing twice */
  party_close(coa);
  party_connect(coa);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(g1->n_sec, 2);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* The consent expired between the request and the moment the author's
 * library looked at it: the library refuses (it checks the evidence at
 * now), the refusal is audited, the gemeente gets nothing. */
static void test_rewrap_refused_after_expiry(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  int64_t until = party_wall_ms() + 4000;
  keten_consent_t linked;
  party_grant_window(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, 0,
                     until, &linked);
  /* COA subscribes, so the request is pushed to it, but does not look at
   * its mailbox until the consent has expired */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1);
  party_sleep_ms(until - party_wall_ms() + 300);

  party_pump(PARTIES(coa), QUIET_MS);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 0);
  assert_int_equal(coa->rw[0].kind, K_IDENTITY);
  assert_string_equal(coa->rw[0].recipient, G1);
  assert_true(strlen(coa->rw[0].refusal) > 0);
  party_settle(coa);
  /* the broker's expiry sweep has run (it runs every second) */
  party_pump(PARTIES(coa, g1), 1500);
  party_settle(coa);
  assert_int_equal(party_audited(h, "keten.consent.expire", 1, NULL), 1);
  /* the broker recorded and audited the author's refusal (an expired
   * consent's requests are left for the author to refuse) */
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap"),
                   STORE_REWRAP_REFUSED);
  assert_int_equal(
      party_audited(h, "keten.rewrap.refused", 2, "refused by the author"), 1);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 0, NULL), 0);
  /* and the gemeente has nothing */
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  assert_int_equal(g1->n_ev, 1);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* A direct consent granted after the section was stored rewraps too. */
static void test_late_direct_consent(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = party_new(h, COA, 1), *ggz = party_new(h, GGZ, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_put(coa->c, a, K_HEALTH, HEALTH2_JSON);
  party_pump(PARTIES(coa, ggz), 300);
  assert_int_equal(ggz->n_sec, 0);
  assert_int_equal(party_fetch_kinds(ggz->c, a), 0);

  party_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  assert_int_equal(party_audited(h, "keten.rewrap.queue", 1, NULL), 1);
  party_wait(PARTIES(coa, ggz), ggz, 1, 0, 0);
  party_pump(PARTIES(coa, ggz), QUIET_MS);
  /* the latest version only, and nothing else */
  const party_want_t want[] = {{K_HEALTH, 2, HEALTH2_JSON}};
  party_expect_sections(ggz, COA, want, 1);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 1);
  assert_string_equal(coa->rw[0].recipient, GGZ);
  party_settle(coa);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 1);
  assert_int_equal(party_fetch_kinds(ggz->c, a), BIT(K_HEALTH));
  party_expect_fetched(ggz->c, a, K_HEALTH, 2, HEALTH2_JSON);
  /* the same consent again does not ask twice */
  party_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  party_pump(PARTIES(coa, ggz), QUIET_MS);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(ggz->n_sec, 1);
  party_close(coa);
  party_close(ggz);
  party_stop_and_verify(h);
}

/* A rewrap request the author serves only after it wrote a newer version
 * (which was sealed to the gemeente directly): the gemeente must not be
 * handed the superseded version after the newer one. */
static void test_stale_rewrap_not_delivered(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0); /* online, not serving its mailbox */
  party_put(coa->c, a, K_STORY, STORY_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_STORY), P_INBURGERING, NULL);
  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1);
  /* COA writes STORY v2 before it looks at its mailbox: sealed to G1 */
  keten_put_result_t r = party_put(coa->c, a, K_STORY, STORY2_JSON);
  party_assert_queued(&r, (const char *[]){G1, NULL});
  party_wait(PARTIES(g1), g1, 1, 1, 0);
  assert_int_equal(g1->sec[0].version, 2);
  /* now COA serves its mailbox */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  party_settle(coa);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  for (size_t i = 0; i < g1->n_sec; i++)
    if (g1->sec[i].version < 2)
      fail_msg("G1 was handed STORY v%llu (seq %llu) after v2: a rewrap of a "
               "superseded version (%zu rewrap(s) served by COA)",
               (unsigned long long)g1->sec[i].version,
               (unsigned long long)g1->sec[i].seq, coa->n_rw);
  assert_int_equal(g1->n_sec, 1);
  party_expect_fetched(g1->c, a, K_STORY, 2, STORY2_JSON);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* A gemeente's own "@gemeente" consent: its sections follow the person to
 * the next gemeente (through a rewrap its own library serves); it never
 * names itself. */
static void test_gemeente_sections_follow_person(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  static const char PARTICIPATION_JSON[] =
      "{\"benefit\": \"Participatiewet\", \"start\": \"2026-07-15\", \"plan\": \"taal + werkervaring\"}";
  keten_client_t *tvs = party_client(h, TVS);
  party_t *g1 = party_new(h, G1, 1), *g2 = party_new(h, G2, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  keten_put_result_t r =
      party_put(g1->c, a, 9 /* PARTICIPATION */, PARTICIPATION_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  party_grant(g1->c, a, LINKED, BIT(9), keten_purpose_from_name("PARTICIPATIE"),
              NULL);
  /* linked to itself: nothing to ask */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 0);
  keten_tvs_event_t o = party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED);
  party_publish(tvs, &o);
  keten_tvs_event_t k2 = party_koppeling(a, G2, "2026-2", "2026-09-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k2);
  assert_int_equal(res.rewraps_queued, 1);
  party_wait(PARTIES(g1, g2), g2, 1, 1, 0);
  party_pump(PARTIES(g1, g2), QUIET_MS);
  assert_int_equal(g2->n_sec, 1);
  assert_int_equal(g2->sec[0].kind, 9);
  assert_string_equal(g2->sec[0].author, G1);
  assert_string_equal(g2->sec[0].json, PARTICIPATION_JSON);
  assert_int_equal(g1->n_rw, 1);
  assert_int_equal(g1->rw[0].sealed, 1);
  assert_string_equal(g1->rw[0].recipient, G2);
  /* its own section stays the old gemeente's: no delete notice for it */
  assert_int_equal(g1->n_ntc, 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(9));
  assert_int_equal(party_fetch_kinds(g2->c, a), BIT(9));
  party_settle(g1);
  party_settle(g2);
  party_close(g1);
  party_close(g2);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 5. ONTKOPPELING, revocation, expiry: delete notices                        */
/* ========================================================================== */

static void test_ontkoppeling(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_STORY, STORY_JSON);
  party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1), g1, 2, 1, 0);
  party_put(coa->c, a, K_STORY, STORY2_JSON);
  party_wait(PARTIES(coa, g1), g1, 3, 1, 0);
  party_settle(g1);
  party_close(g1);
  /* while G1 is away: STORY v3 is queued for it */
  keten_put_result_t r = party_put(coa->c, a, K_STORY, STORY3_JSON);
  party_assert_queued(&r, (const char *[]){G1, NULL});

  /* a client pinning a wrong broker signing key does not trust the notice
   * (and does not take it) */
  uint8_t wrong[32];
  randombytes_buf(wrong, sizeof wrong);
  keten_client_config_t cfg;
  harness_client_config(h, &harness_partner(h, G1)->keys, CLIENT_TIMEOUT_MS,
                        -1, &cfg);
  cfg.broker_signing_key = wrong;
  party_t *bad = party_alloc(h, G1);
  bad->refuse_notices = 1;

  keten_tvs_event_t o = party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED);
  keten_tvs_published_t res = party_publish(tvs, &o);
  s_assert_feeds(&res, G1, NULL);
  /* the pending STORY v3 was dropped, the wraps erased */
  assert_int_equal(s_pending_sections(h, G1), 0);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  assert_int_equal(party_audited(h, "keten.notice.queue", 1, NULL), 1);

  party_connect_with(bad, &cfg, 1);
  party_wait(PARTIES(bad), bad, 0, 0, 1);
  assert_true(bad->ntc[0].null_notice);
  assert_int_not_equal(bad->ntc[0].status, KETEN_OK);
  party_close(bad);

  /* G1 with the right key: the ONTKOPPELING and a verified notice naming
   * what it had a wrap of: IDENTITY v1, STORY up to v3 (v3 was sealed to
   * it, never delivered) */
  party_connect(g1);
  party_wait(PARTIES(coa, g1), g1, 3, 1, 1);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 3); /* no STORY v3 */
  assert_null(party_got(g1, K_STORY, 3));
  /* the ONTKOPPELING reached G1 once: in the session that did not take the
   * notice if it came first (acked there), else in this one */
  const keten_tvs_event_t feed[] = {k, o};
  assert_int_equal(bad->n_ev + g1->n_ev, 2);
  if (bad->n_ev == 1) {
    s_expect_feed(g1, feed, 1);
    s_expect_feed(bad, &o, 1);
  } else {
    s_expect_feed(g1, feed, 2);
  }
  const int kinds[] = {K_IDENTITY, K_STORY};
  const uint64_t versions[] = {1, 3};
  const keten_notice_t *nt =
      s_expect_delete(g1, 0, a, KETEN_NOTICE_REASON_ONTKOPPELD, kinds,
                      versions, 2);
  assert_int_equal(nt->has_tvs_event_id, 1);
  assert_memory_equal(nt->tvs_event_id, o.event_id, 16);
  assert_int_equal(nt->has_consent_id, 0);
  assert_int_equal(g1->n_ntc, 1);
  party_settle(g1);
  /* FETCH is refused; later PUTs do not reach it */
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  r = party_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 3);

  /* KOPPELING to G2: the profile (latest versions) by rewraps */
  party_t *g2 = party_new(h, G2, 1);
  keten_tvs_event_t k2 = party_koppeling(a, G2, "2026-2", "2026-09-02", 3);
  res = party_publish(tvs, &k2);
  s_assert_feeds(&res, G2, NULL);
  assert_int_equal(res.rewraps_queued, 2);
  party_wait(PARTIES(coa, g1, g2), g2, 2, 1, 0);
  party_pump(PARTIES(coa, g1, g2), QUIET_MS);
  const party_want_t want2[] = {{K_IDENTITY, 2, IDENTITY2_JSON},
                                {K_STORY, 3, STORY3_JSON}};
  party_expect_sections(g2, COA, want2, 2);
  s_expect_feed(g2, &k2, 1);
  assert_int_equal(party_fetch_kinds(g2->c, a), BIT(K_IDENTITY) | BIT(K_STORY));
  /* G1 heard nothing of it */
  assert_int_equal(g1->n_sec, 3);
  assert_int_equal(bad->n_ev + g1->n_ev, 2);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  party_settle(g2);
  party_close(coa);
  party_close(g1);
  party_close(g2);
  party_stop_and_verify(h);
}

static void test_revocation_notice(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = party_new(h, COA, 1), *ggz = party_new(h, GGZ, 1);
  keten_consent_t to_ggz;
  party_grant(coa->c, a, GGZ, BIT(K_IDENTITY) | BIT(K_HEALTH), P_ZORG, &to_ggz);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_put(coa->c, a, K_HEALTH, HEALTH2_JSON);
  party_wait(PARTIES(coa, ggz), ggz, 3, 0, 0);
  party_settle(ggz);
  assert_int_equal(keten_client_consent_revoke(coa->c, to_ggz.consent_id, a,
                                               "ingetrokken door betrokkene",
                                               NULL),
                   KETEN_OK);
  party_wait(PARTIES(coa, ggz), ggz, 3, 0, 1);
  party_pump(PARTIES(coa, ggz), QUIET_MS);
  assert_int_equal(ggz->n_ntc, 1);
  const int kinds[] = {K_IDENTITY, K_HEALTH};
  const uint64_t versions[] = {1, 2};
  const keten_notice_t *nt = s_expect_delete(
      ggz, 0, a, KETEN_NOTICE_REASON_REVOKED, kinds, versions, 2);
  assert_int_equal(nt->has_consent_id, 1);
  assert_memory_equal(nt->consent_id, to_ggz.consent_id, 16);
  assert_int_equal(nt->has_tvs_event_id, 0);
  /* the recorder revoked its own consent: no NOTICE_CONSENT_REVOKED to it */
  assert_int_equal(coa->n_ntc, 0);
  party_settle(ggz);
  assert_int_equal(party_fetch_kinds(ggz->c, a), 0);
  keten_put_result_t r = party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  party_pump(PARTIES(coa, ggz), QUIET_MS);
  assert_int_equal(ggz->n_sec, 3);
  assert_int_equal(ggz->ntc_calls, 1);
  party_close(coa);
  party_close(ggz);
  party_stop_and_verify(h);
}

static void test_expiry_notice(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = party_new(h, COA, 1), *vwn = party_new(h, VWN, 1);
  keten_consent_t to_vwn;
  int64_t until = party_wall_ms() + 4000;
  party_grant_window(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE),
                     P_BEGELEIDING, 0, until, &to_vwn);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  party_wait(PARTIES(coa, vwn), vwn, 2, 0, 0);
  party_settle(vwn);
  /* the sweep (every second) ends it and tells the volunteer */
  party_wait(PARTIES(coa, vwn), vwn, 2, 0, 1);
  assert_true(party_wall_ms() >= until);
  party_pump(PARTIES(coa, vwn), QUIET_MS);
  assert_int_equal(vwn->n_ntc, 1);
  const int kinds[] = {K_IDENTITY, K_LANGUAGE};
  const uint64_t versions[] = {1, 1};
  const keten_notice_t *nt = s_expect_delete(
      vwn, 0, a, KETEN_NOTICE_REASON_EXPIRED, kinds, versions, 2);
  assert_int_equal(nt->has_consent_id, 1);
  assert_memory_equal(nt->consent_id, to_vwn.consent_id, 16);
  party_settle(vwn);
  assert_int_equal(party_fetch_kinds(vwn->c, a), 0);
  assert_int_equal(party_wraps(h, VWN, a, COA, 0), 0);
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  assert_int_equal(party_audited(h, "keten.consent.expire", 1, NULL), 1);
  assert_int_equal(party_audited(h, "keten.notice.queue", 1, NULL), 1);
  party_close(coa);
  party_close(vwn);
  party_stop_and_verify(h);
}

/* A VERHUIZING from the gemeente the subject is linked to ends that link
 * as an ONTKOPPELING does (delete notice naming the VERHUIZING); it goes
 * to both feeds and does not link the new gemeente: a KOPPELING does. */
static void test_verhuizing_ends_link(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1),
          *g2 = party_new(h, G2, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_STORY, STORY_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1, g2), g1, 2, 1, 0);

  keten_tvs_event_t v = s_verhuizing(a, G2, G1);
  keten_tvs_published_t res = party_publish(tvs, &v);
  s_assert_feeds(&res, G2, G1);
  assert_int_equal(res.rewraps_queued, 0);
  party_wait(PARTIES(coa, g1, g2), g1, 2, 2, 1);
  party_wait(PARTIES(coa, g1, g2), g2, 0, 1, 0);
  party_pump(PARTIES(coa, g1, g2), QUIET_MS);
  const keten_tvs_event_t feed1[] = {k, v};
  s_expect_feed(g1, feed1, 2);
  s_expect_feed(g2, &v, 1);
  const int kinds[] = {K_IDENTITY, K_STORY};
  const uint64_t versions[] = {1, 1};
  const keten_notice_t *nt = s_expect_delete(
      g1, 0, a, KETEN_NOTICE_REASON_ONTKOPPELD, kinds, versions, 2);
  assert_int_equal(nt->has_tvs_event_id, 1);
  assert_memory_equal(nt->tvs_event_id, v.event_id, 16);
  /* the feed entry comes before the notice that follows from it */
  assert_true(g1->ev[1].seq < g1->ntc[0].seq);
  /* neither gemeente reads now */
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  assert_int_equal(party_fetch_kinds(g2->c, a), 0);
  assert_int_equal(g2->n_sec, 0);
  assert_int_equal(g2->n_ntc, 0);
  keten_tvs_link_t *links = NULL;
  size_t n = 9;
  assert_int_equal(keten_client_tvs_list(tvs, G2, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 0);
  free(links);
  /* the new gemeente's KOPPELING brings the profile */
  keten_tvs_event_t k2 = party_koppeling(a, G2, "2026-2", "2026-10-01", 3);
  res = party_publish(tvs, &k2);
  assert_int_equal(res.rewraps_queued, 2);
  party_wait(PARTIES(coa, g1, g2), g2, 2, 2, 0);
  party_pump(PARTIES(coa, g1, g2), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON},
                               {K_STORY, 1, STORY_JSON}};
  party_expect_sections(g2, COA, want, 2);
  assert_int_equal(g1->n_sec, 2);
  assert_int_equal(g1->n_ev, 2);
  party_settle(g1);
  party_settle(g2);
  party_close(coa);
  party_close(g1);
  party_close(g2);
  party_stop_and_verify(h);
}

/* The end of a link removes only the access that came from "@gemeente"
 * consents: a kind COA also granted the gemeente by its id stays, and is
 * not named in the notice. */
static void test_ontkoppeling_keeps_direct_access(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, a, K_STORY, STORY_JSON);
  party_grant(coa->c, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  party_wait(PARTIES(coa, g1), g1, 1, 0, 0);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY) | BIT(K_STORY), P_INBURGERING,
              NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1); /* STORY: IDENTITY it has */
  party_wait(PARTIES(coa, g1), g1, 2, 1, 0);
  party_settle(g1);

  keten_tvs_event_t o =
      party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_HOUSING_ELSEWHERE);
  party_publish(tvs, &o);
  party_wait(PARTIES(coa, g1), g1, 2, 2, 1);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const int kinds[] = {K_STORY};
  const uint64_t versions[] = {1};
  s_expect_delete(g1, 0, a, KETEN_NOTICE_REASON_ONTKOPPELD, kinds, versions,
                  1);
  assert_int_equal(g1->ntc_calls, 1);
  /* IDENTITY is still readable, STORY not; nothing was asked again */
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  assert_int_equal(party_wraps(h, G1, a, COA, K_IDENTITY), 1);
  assert_int_equal(party_wraps(h, G1, a, COA, K_STORY), 0);
  /* IDENTITY (the direct consent came after the put), STORY (the
   * koppeling), and none after the ONTKOPPELING */
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(coa->rw[0].kind, K_IDENTITY);
  assert_int_equal(coa->rw[1].kind, K_STORY);
  assert_int_equal(g1->n_sec, 2);
  /* a new IDENTITY still reaches it, a new STORY does not */
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  party_assert_queued(&r, (const char *[]){G1, NULL});
  r = party_put(coa->c, a, K_STORY, STORY2_JSON);
  party_assert_queued(&r, (const char *[]){NULL});
  party_wait(PARTIES(coa, g1), g1, 3, 2, 1);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 3);
  assert_int_equal(g1->sec[2].kind, K_IDENTITY);
  assert_int_equal(g1->sec[2].version, 2);
  party_settle(g1);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* The gemeente linked now may renounce a "@gemeente" consent (as its
 * recipient); it then gets the delete notice of a revocation. */
static void test_linked_gemeente_renounces(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  keten_consent_t linked;
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, &linked);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1), g1, 1, 1, 0);
  party_settle(g1);
  assert_int_equal(keten_client_consent_revoke(g1->c, linked.consent_id, a,
                                               "niet meer nodig", NULL),
                   KETEN_OK);
  party_wait(PARTIES(coa, g1), g1, 1, 1, 1);
  const int kinds[] = {K_IDENTITY};
  const uint64_t versions[] = {1};
  const keten_notice_t *nt = s_expect_delete(
      g1, 0, a, KETEN_NOTICE_REASON_REVOKED, kinds, versions, 1);
  assert_memory_equal(nt->consent_id, linked.consent_id, 16);
  /* the recorder hears that someone else revoked its consent */
  party_wait(PARTIES(coa, g1), coa, 0, 0, 1);
  assert_int_equal(coa->ntc[0].n.kind, KETEN_NOTICE_CONSENT_REVOKED);
  assert_string_equal(coa->ntc[0].n.revoked_by, G1);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* The person's counter: the gemeente she is linked to may revoke, at her
 * request (with evidence), a consent COA recorded for someone else; a
 * gemeente she is not linked to may not. */
static void test_linked_gemeente_is_counter(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS), *g2 = party_client(h, G2);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1),
          *ggz = party_new(h, GGZ, 1);
  keten_consent_t to_ggz;
  party_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, &to_ggz);
  party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_wait(PARTIES(coa, g1, ggz), ggz, 1, 0, 0);
  party_settle(ggz);
  /* not linked yet: G1 is nobody's counter */
  party_expect_remote(g1->c,
                      keten_client_consent_revoke(g1->c, to_ggz.consent_id, a,
                                                  "op verzoek", "gem-0716-v-1"),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "unlinked G1 revokes");
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  /* linked to G1: G2 still may not, G1 not without evidence */
  party_expect_remote(g2,
                      keten_client_consent_revoke(g2, to_ggz.consent_id, a,
                                                  "op verzoek", "gem-0678-v-1"),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G2 revokes");
  party_expect_remote(g1->c,
                      keten_client_consent_revoke(g1->c, to_ggz.consent_id, a,
                                                  "op verzoek", NULL),
                      KETEN__ERROR_CODE__ERROR_FORBIDDEN,
                      "G1 revokes without evidence");
  assert_int_equal(party_fetch_kinds(ggz->c, a), BIT(K_HEALTH));
  assert_int_equal(keten_client_consent_revoke(g1->c, to_ggz.consent_id, a,
                                               "op verzoek van betrokkene",
                                               "gem-0716-verzoek-2026-10"),
                   KETEN_OK);
  party_wait(PARTIES(coa, g1, ggz), ggz, 1, 0, 1);
  const int kinds[] = {K_HEALTH};
  const uint64_t versions[] = {1};
  s_expect_delete(ggz, 0, a, KETEN_NOTICE_REASON_REVOKED, kinds, versions, 1);
  party_wait(PARTIES(coa, g1, ggz), coa, 0, 0, 1);
  assert_int_equal(coa->ntc[0].n.kind, KETEN_NOTICE_CONSENT_REVOKED);
  assert_string_equal(coa->ntc[0].n.revoked_by, G1);
  assert_string_equal(coa->ntc[0].n.evidence_ref, "gem-0716-verzoek-2026-10");
  assert_int_equal(party_fetch_kinds(ggz->c, a), 0);
  party_close(coa);
  party_close(g1);
  party_close(ggz);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 6. attacks                                                                 */
/* ========================================================================== */

/* A gemeente the subject is not linked to reads nothing through
 * "@gemeente", and cannot revoke it either. */
static void test_unlinked_gemeente_reads_nothing(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1),
          *g2 = party_new(h, G2, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  keten_consent_t linked;
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, &linked);
  /* not linked to anyone yet: neither reads */
  assert_int_equal(party_fetch_kinds(g2->c, a), 0);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1, g2), g1, 1, 1, 0);
  party_pump(PARTIES(coa, g1, g2), QUIET_MS);
  /* linked to G1: G2 has no delivery, no event, no wrap, no FETCH */
  assert_int_equal(g2->n_sec, 0);
  assert_int_equal(g2->n_ev, 0);
  assert_int_equal(party_wraps(h, G2, a, COA, 0), 0);
  assert_int_equal(party_fetch_kinds(g2->c, a), 0);
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  party_assert_queued(&r, (const char *[]){G1, NULL});
  party_pump(PARTIES(coa, g1, g2), QUIET_MS);
  assert_int_equal(g2->n_sec, 0);
  /* G2 cannot cut G1 off by revoking the "@gemeente" consent */
  party_expect_remote(
      g2->c,
      keten_client_consent_revoke(g2->c, linked.consent_id, a, "weg", NULL),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G2 revokes");
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  party_close(coa);
  party_close(g1);
  party_close(g2);
  party_stop_and_verify(h);
}

/* Rewrap answers: only the author answers its own pending request, with a
 * well-formed answer. */
static void test_rewrap_answers_checked(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0); /* not subscribed: requests wait */
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1);
  uint64_t id = s_pending_rewrap(h, a, K_IDENTITY, G1);
  uint8_t wrap[80];
  s_make_wrap(h, a, K_IDENTITY, G1, wrap);

  void *ctx = zmq_ctx_new();
  void *s_g1 = harness_raw_socket(h, ctx, &harness_partner(h, G1)->keys);
  void *s_ggz = harness_raw_socket(h, ctx, &harness_partner(h, GGZ)->keys);
  void *s_coa = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  /* the gemeente answers the request for itself with a real wrap; the care
   * partner too: not theirs */
  assert_int_equal(s_raw_answer(s_g1, id, wrap, 80, NULL),
                   KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  assert_int_equal(s_raw_answer(s_ggz, id, wrap, 80, NULL),
                   KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  /* COA: a request that does not exist */
  assert_int_equal(s_raw_answer(s_coa, id + 1000, wrap, 80, NULL),
                   KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  /* COA: malformed answers */
  assert_int_equal(s_raw_answer(s_coa, id, wrap, 79, NULL),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  assert_int_equal(s_raw_answer(s_coa, id, wrap, 80, "nee"),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  assert_int_equal(s_raw_answer(s_coa, id, NULL, 0, NULL),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  char longer[300];
  memset(longer, 'x', 257);
  longer[257] = '\0';
  assert_int_equal(s_raw_answer(s_coa, id, NULL, 0, longer),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  /* none of it changed anything */
  assert_int_equal(s_pending_rewrap(h, a, K_IDENTITY, G1), id);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  party_pump(PARTIES(g1), 300);
  assert_int_equal(g1->n_sec, 0);

  /* COA's own answer with the real wrap is taken, and delivered */
  assert_int_equal(s_raw_answer(s_coa, id, wrap, 80, NULL), 0);
  party_wait(PARTIES(g1), g1, 1, 1, 0);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  party_expect_sections(g1, COA, want, 1);
  /* answered once: a second answer finds nothing pending */
  assert_int_equal(s_raw_answer(s_coa, id, wrap, 80, NULL),
                   KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  assert_int_equal(s_raw_answer(s_coa, id, NULL, 0, "te laat"),
                   KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 1);
  assert_int_equal(party_wraps(h, G1, a, COA, K_IDENTITY), 1);
  zmq_close(s_g1);
  zmq_close(s_ggz);
  zmq_close(s_coa);
  zmq_ctx_term(ctx);
  party_settle(g1);
  /* and the library, when COA connects, has nothing left to serve */
  party_close(coa);
  party_connect(coa);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(coa->n_rw, 0);
  assert_int_equal(g1->n_sec, 1);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* An answer that comes after the access ended (the consent revoked; the
 * subject ontkoppeld) is not stored and nothing is delivered. */
static void test_rewrap_answer_after_access_ended(void **state) {
  harness_t *h = *state;
  uint8_t a[32], b[32];
  party_subject(V_AMIRA, a);
  party_subject(V_B, b);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_put(coa->c, b, K_IDENTITY, IDENTITY_JSON);
  keten_consent_t ca;
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, &ca);
  party_grant(coa->c, b, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t ka = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_event_t kb = party_koppeling(b, G1, "2026-2", "2026-07-01", 1);
  party_publish(tvs, &ka);
  party_publish(tvs, &kb);
  uint64_t id_a = s_pending_rewrap(h, a, K_IDENTITY, G1);
  uint64_t id_b = s_pending_rewrap(h, b, K_IDENTITY, G1);
  uint8_t wrap_a[80], wrap_b[80];
  s_make_wrap(h, a, K_IDENTITY, G1, wrap_a);
  s_make_wrap(h, b, K_IDENTITY, G1, wrap_b);

  /* A: COA revokes its consent, then a (stale) answer arrives */
  assert_int_equal(keten_client_consent_revoke(coa->c, ca.consent_id, a,
                                               "ingetrokken", NULL),
                   KETEN_OK);
  /* B: the subject is ontkoppeld */
  keten_tvs_event_t ob = party_ontkoppeling(b, G1, KETEN_ONTKOPPEL_ERROR);
  party_publish(tvs, &ob);
  void *ctx = zmq_ctx_new();
  void *s_coa = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  int code = s_raw_answer(s_coa, id_a, wrap_a, 80, NULL);
  if (code != KETEN__ERROR_CODE__ERROR_FORBIDDEN &&
      code != KETEN__ERROR_CODE__ERROR_NOT_FOUND)
    fail_msg("answer after revocation: %s",
             code ? keten_error_code_name(code) : "OK");
  code = s_raw_answer(s_coa, id_b, wrap_b, 80, NULL);
  if (code != KETEN__ERROR_CODE__ERROR_FORBIDDEN &&
      code != KETEN__ERROR_CODE__ERROR_NOT_FOUND)
    fail_msg("answer after ontkoppeling: %s",
             code ? keten_error_code_name(code) : "OK");
  zmq_close(s_coa);
  zmq_ctx_term(ctx);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  assert_int_equal(party_wraps(h, G1, b, COA, 0), 0);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                              STORE_REWRAP_DONE),
                   0);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 0, NULL), 0);
  /* the gemeente gets its two koppelingen and the ontkoppeling, nothing
   * else (no wrap was ever stored for it: no delete notice either) */
  party_wait(PARTIES(g1), g1, 0, 3, 0);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(g1->n_ntc, 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  assert_int_equal(party_fetch_kinds(g1->c, b), 0);
  /* both requests were cancelled when the access ended (audited) */
  assert_int_equal(party_audited(h, "keten.rewrap.cancel", 1, NULL), 2);
  /* COA's library, connecting now, is handed no stale request: they are
   * dropped from its mailbox, audited */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  party_settle(coa);
  assert_int_equal(coa->n_rw, 0);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(party_audited(h, "keten.rewrap.deliver", 2, "dropped"), 2);
  assert_int_equal(party_audited(h, "keten.rewrap.deliver", 1, NULL), 0);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* A wrap that comes after the consent expired (the request is left
 * pending for the author to refuse; this author's software answers with a
 * wrap all the same) is checked against now: refused by the broker, not
 * stored, nothing delivered. */
static void test_rewrap_answer_after_expiry_denied(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = party_new(h, COA, 0);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  int64_t until = party_wall_ms() + 3000;
  party_grant_window(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, 0,
                     until, NULL);
  party_t *g1 = party_new(h, G1, 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1);
  uint64_t id = s_pending_rewrap(h, a, K_IDENTITY, G1);
  uint8_t wrap[80];
  s_make_wrap(h, a, K_IDENTITY, G1, wrap);
  party_sleep_ms(until - party_wall_ms() + 1500); /* expired, and swept */
  assert_int_equal(party_audited(h, "keten.consent.expire", 1, NULL), 1);
  assert_int_equal(s_pending_rewrap(h, a, K_IDENTITY, G1), id);
  void *ctx = zmq_ctx_new();
  void *s_coa = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_int_equal(s_raw_answer(s_coa, id, wrap, 80, NULL),
                   KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  zmq_close(s_coa);
  zmq_ctx_term(ctx);
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap WHERE id = %llu",
                              (unsigned long long)id),
                   STORE_REWRAP_DENIED);
  assert_int_equal(
      party_audited(h, "keten.rewrap.refused", 2, "wrap not stored"), 1);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);
  party_pump(PARTIES(g1), QUIET_MS);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(g1->n_ntc, 0);
  assert_int_equal(party_fetch_kinds(g1->c, a), 0);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* Only TVS ends a link: COA, the gemeente itself and another gemeente
 * cannot publish the ONTKOPPELING (nor a raw one naming the TVS). */
static void test_only_tvs_ontkoppelt(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS), *g2 = party_client(h, G2);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1), g1, 1, 1, 0);

  s_publish_refused(coa->c, party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED),
                    KETEN__ERROR_CODE__ERROR_POLICY, "COA ontkoppelt");
  s_publish_refused(g2, party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED),
                    KETEN__ERROR_CODE__ERROR_POLICY, "G2 ontkoppelt");
  s_publish_refused(g2, s_verhuizing(a, G2, G1),
                    KETEN__ERROR_CODE__ERROR_POLICY, "G2 reports a move");
  s_publish_refused(g1->c, party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED),
                    KETEN__ERROR_CODE__ERROR_POLICY, "G1 ontkoppelt");
  /* raw, naming the TVS as publisher and signed by the TVS's key (stolen
   * signature, not its transport key): the sender is G2 */
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, G2)->keys);
  keten_tvs_event_t o = party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED);
  Keten__TvsEvent w;
  uint8_t sig[64];
  s_wire_event(&o, TVS, harness_partner(h, TVS)->keys.signing_sk, &w, sig);
  int code = s_raw_publish(sock, &w, NULL);
  if (code != KETEN__ERROR_CODE__ERROR_POLICY &&
      code != KETEN__ERROR_CODE__ERROR_NOT_AUTHOR)
    fail_msg("raw ONTKOPPELING by G2: %s",
             code ? keten_error_code_name(code) : "published");
  zmq_close(sock);
  zmq_ctx_term(ctx);
  assert_true(party_audited(h, "keten.tvs.publish", 2, NULL) >= 4);

  /* the link stands and G1 still reads */
  keten_tvs_link_t *links = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_tvs_list(tvs, G1, NULL, &links, &n, NULL),
                   KETEN_OK);
  assert_int_equal(n, 1);
  free(links);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  assert_int_equal(g1->n_ntc, 0);
  assert_int_equal(g1->n_ev, 1);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  assert_int_equal(party_wraps(h, G1, a, COA, K_IDENTITY), 1);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_publish_refusals, s_setup,
                                      s_teardown),
      cmocka_unit_test_prestate_setup_teardown(test_feed_isolation_and_order,
                                               s_setup, s_teardown,
                                               (void *)&SHORT_ACK),
      cmocka_unit_test_setup_teardown(test_feed_verified_by_library, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_link_state, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_tvs_queries_naming_no_gemeente,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_linked_gemeente_gets_profile,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_author_offline_serves_rewraps_later,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_refused_after_expiry,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_late_direct_consent, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_stale_rewrap_not_delivered, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_gemeente_sections_follow_person,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_ontkoppeling, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_revocation_notice, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_expiry_notice, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_verhuizing_ends_link, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_ontkoppeling_keeps_direct_access,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_linked_gemeente_renounces, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_linked_gemeente_is_counter, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_unlinked_gemeente_reads_nothing,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_answers_checked, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_answer_after_access_ended,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_answer_after_expiry_denied,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_only_tvs_ontkoppelt, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
