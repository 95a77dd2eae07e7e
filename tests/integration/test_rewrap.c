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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "envelope.h"
#include "harness.h"
#include "party.h"
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
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991\"}";
static const char IDENTITY2_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": "
    "\"1991-03-14\"}";
static const char LANGUAGE_JSON[] =
    "{\"languages\": [{\"code\": \"ar\", \"level\": \"native\"}], \"nl\": {\"level\": \"A1\"}}";
static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\"}";
static const char HEALTH2_JSON[] =
    "{\"notes\": \"slaapt beter\", \"referral\": \"GGZ\"}";

/* ---- fixture ------------------------------------------------------------- */

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
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* A party (party.h) of these cases: every TVS event it receives must
 * verify. */
static party_t *s_party(harness_t *h, const char *id, int subscribe) {
  party_t *p = party_new(h, id, subscribe);
  p->events_must_verify = 1;
  return p;
}

/* ---- the store ----------------------------------------------------------- */

/* Waits (up to WAIT_MS) until at least n audit entries match. */
static void s_wait_audited(harness_t *h, const char *name, int status,
                           const char *needle, long long n) {
  int64_t deadline = party_mono_ms() + WAIT_MS;
  while (party_audited(h, name, status, needle) < n) {
    if (party_mono_ms() >= deadline)
      fail_msg("no %lld audit entries %s \"%s\" after %d ms (%lld)", n, name,
               needle ? needle : "", WAIT_MS,
               party_audited(h, name, status, needle));
    party_sleep_ms(50);
  }
}

/* Rewrap requests for recipient of kind of subject in state (-1: any). */
static long long s_rewraps(harness_t *h, const uint8_t subject[32], int kind,
                           const char *recipient, int state) {
  char hex[65];
  return party_sqlf(
      h,
      "SELECT count(*) FROM rewrap WHERE subject = X'%s' AND kind = "
      "%d AND recipient = '%s' AND (%d < 0 OR state = %d)",
      party_hex(subject, 32, hex), kind, recipient, state, state);
}

/* ---- raw requests -------------------------------------------------------- */

static uint8_t s_buf[1 << 20];

/* A PING round trip on sock: the broker has handled all sent before. */
static void s_raw_settle(void *sock) {
  Keten__Ping p = KETEN__PING__INIT;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PING;
  env.ping = &p;
  Keten__Envelope *reply = party_raw(sock, &env);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PONG);
  envelope_free(reply);
}

/* ========================================================================== */
/* 1. the linked gemeente as the person's counter                             */
/* ========================================================================== */

static void test_linked_gemeente_is_counter(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS), *g1 = party_client(h, G1),
                 *g2 = party_client(h, G2);
  party_t *coa = s_party(h, COA, 1), *vwn = s_party(h, VWN, 1),
          *ggz = s_party(h, GGZ, 1);
  static const char EVIDENCE[] = "balie-tholen-2026-0612-3";

  /* COA's consents for the volunteer and the care partner, and its
   * sections: both read IDENTITY, the volunteer LANGUAGE too */
  keten_consent_t cv, cg;
  party_grant(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE), P_BEGELEIDING,
              &cv);
  party_grant(coa->c, a, GGZ, BIT(K_IDENTITY), P_ZORG, &cg);
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_assert_queued(&r, (const char *[]){VWN, GGZ, NULL});
  r = party_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  party_assert_queued(&r, (const char *[]){VWN, NULL});
  party_wait(PARTIES(coa, vwn, ggz), vwn, 2, 0, 0);
  party_wait(PARTIES(coa, vwn, ggz), ggz, 1, 0, 0);
  party_settle(vwn);

  /* not linked yet: G1 is no counter of hers */
  party_expect_remote(
      g1,
      keten_client_consent_revoke(g1, cv.consent_id, a, "op verzoek", EVIDENCE),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G1 revokes before the KOPPELING");

  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);

  /* linked to G1: without the person's request, refused */
  party_expect_remote(
      g1, keten_client_consent_revoke(g1, cv.consent_id, a, "op verzoek", NULL),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G1 revokes without evidence_ref");
  assert_int_equal(party_audited(h, "keten.consent.revoke", 2,
                                 "must give an evidence reference"),
                   1);
  /* another gemeente, with evidence: no counter of hers */
  party_expect_remote(
      g2,
      keten_client_consent_revoke(g2, cv.consent_id, a, "op verzoek", EVIDENCE),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G2 (not linked) revokes");
  /* none of it took anything away */
  party_pump(PARTIES(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->ntc_calls, 0);
  assert_int_equal(coa->ntc_calls, 0);
  assert_int_equal(party_fetch_kinds(vwn->c, a),
                   BIT(K_IDENTITY) | BIT(K_LANGUAGE));
  assert_int_equal(party_wraps(h, VWN, a, COA, 0), 2);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM consent WHERE "
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
  assert_int_equal(
      party_audited(h, "keten.consent.revoke", 1, "revoked at the person"), 1);
  assert_int_equal(party_wraps(h, VWN, a, COA, 0), 0);

  /* the volunteer: a verified delete notice (REVOKED, this consent)
   * naming IDENTITY v1 and LANGUAGE v1; the recorder: who revoked it */
  party_wait(PARTIES(coa, vwn, ggz), vwn, 2, 0, 1);
  party_wait(PARTIES(coa, vwn, ggz), coa, 0, 0, 1);
  party_pump(PARTIES(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->ntc_calls, 1);
  const party_ntc_t *x = &vwn->ntc[0];
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
  const party_ntc_t *y = &coa->ntc[0];
  assert_int_equal(y->status, KETEN_OK);
  assert_int_equal(y->n.kind, KETEN_NOTICE_CONSENT_REVOKED);
  assert_memory_equal(y->n.consent_id, cv.consent_id, 16);
  assert_string_equal(y->n.revoked_by, G1);
  assert_int_equal(y->n.revoked_by_role, keten_role_from_name("GEMEENTE"));
  assert_string_equal(y->n.evidence_ref, EVIDENCE);
  party_settle(vwn);
  party_settle(coa);
  /* the volunteer lost access; the care partner did not */
  assert_int_equal(party_fetch_kinds(vwn->c, a), 0);
  assert_int_equal(party_fetch_kinds(ggz->c, a), BIT(K_IDENTITY));
  r = party_put(coa->c, a, K_IDENTITY, IDENTITY2_JSON);
  party_assert_queued(&r, (const char *[]){GGZ, NULL});
  party_wait(PARTIES(coa, vwn, ggz), ggz, 2, 0, 0);
  party_pump(PARTIES(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(vwn->n_sec, 2);
  /* nothing was asked to be resealed for the volunteer */
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 0);

  /* the link ends: G1 is no longer her counter */
  keten_tvs_event_t o = party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED);
  party_publish(tvs, &o);
  party_expect_remote(
      g1,
      keten_client_consent_revoke(g1, cg.consent_id, a, "op verzoek", EVIDENCE),
      KETEN__ERROR_CODE__ERROR_FORBIDDEN, "G1 revokes after the ONTKOPPELING");
  assert_int_equal(party_audited(h, "keten.consent.revoke", 2, "refused: only"),
                   3);
  assert_int_equal(party_fetch_kinds(ggz->c, a), BIT(K_IDENTITY));
  party_expect_fetched(ggz->c, a, K_IDENTITY, 2, IDENTITY2_JSON);
  party_pump(PARTIES(coa, vwn, ggz), QUIET_MS);
  assert_int_equal(ggz->ntc_calls, 0);
  assert_int_equal(coa->ntc_calls, 1);
  party_close(coa);
  party_close(vwn);
  party_close(ggz);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 2. consents recorded before their window starts                            */
/* ========================================================================== */

static void test_consent_starts_later(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = s_party(h, COA, 1), *vwn = s_party(h, VWN, 1);
  keten_put_result_t r = party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_assert_queued(&r, (const char *[]){NULL});

  /* valid from 1.5 s ahead: nothing to reseal yet */
  int64_t from = party_wall_ms() + 1500;
  keten_consent_t c;
  party_grant_window(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE),
                     P_BEGELEIDING, from, 0, &c);
  char id[33];
  party_hex(c.consent_id, 16, id);
  /* (what is read before `from` cannot have been changed by the sweep:
   * each check reads first, then looks at the clock) */
  long long pending = party_sqlf(h,
                                 "SELECT start_pending FROM consent WHERE "
                                 "consent_id = X'%s'",
                                 id);
  long long rewraps = party_sqlf(h, "SELECT count(*) FROM rewrap");
  int early = party_wall_ms() < from;
  if (early) {
    assert_int_equal(pending, 1);
    assert_int_equal(rewraps, 0);
  }
  /* a put before it starts is not sealed to the volunteer either */
  r = party_put(coa->c, a, K_LANGUAGE, LANGUAGE_JSON);
  if (party_wall_ms() < from)
    party_assert_queued(&r, (const char *[]){NULL});
  party_pump(PARTIES(coa, vwn), 300);
  size_t got = vwn->n_sec;
  uint64_t kinds = party_fetch_kinds(vwn->c, a);
  long long started = party_audited(h, "keten.consent.start", 0, NULL);
  rewraps = party_sqlf(h, "SELECT count(*) FROM rewrap");
  if (party_wall_ms() < from) {
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
  party_wait(PARTIES(coa, vwn), vwn, 2, 0, 0);
  assert_true(party_wall_ms() >= from);
  party_pump(PARTIES(coa, vwn), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON},
                               {K_LANGUAGE, 1, LANGUAGE_JSON}};
  party_expect_sections(vwn, COA, want, 2);
  assert_int_equal(coa->n_rw, 2);
  for (size_t i = 0; i < coa->n_rw; i++) {
    assert_int_equal(coa->rw[i].sealed, 1);
    assert_string_equal(coa->rw[i].recipient, VWN);
  }
  party_settle(coa);
  party_settle(vwn);
  assert_int_equal(
      party_audited(h, "keten.consent.start", 1, "2 rewrap request(s) queued"),
      1);
  assert_int_equal(party_audited(h, "keten.rewrap.queue", 1, NULL), 2);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 2);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap WHERE state = %d",
                              STORE_REWRAP_DONE),
                   2);
  assert_int_equal(party_sqlf(h,
                              "SELECT start_pending FROM consent WHERE "
                              "consent_id = X'%s'",
                              id),
                   0);
  assert_int_equal(party_fetch_kinds(vwn->c, a),
                   BIT(K_IDENTITY) | BIT(K_LANGUAGE));
  /* processed once: later sweeps ask nothing more */
  party_pump(PARTIES(coa, vwn), 1200);
  assert_int_equal(party_audited(h, "keten.consent.start", 0, NULL), 1);
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(vwn->n_sec, 2);
  party_close(coa);
  party_close(vwn);
  party_stop_and_verify(h);
}

/* A request is pending with evidence that holds only an earlier consent,
 * which expires before the author serves it; a second consent, recorded
 * to start later, starts meanwhile. The volunteer may read IDENTITY under
 * the second one: it must get it (as a new consent granted now would ask
 * again with evidence that includes it). */
static void test_started_consent_not_blocked_by_pending(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = s_party(h, COA, 0); /* online, not serving yet */
  party_t *vwn = s_party(h, VWN, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  int64_t t0 = party_wall_ms();
  party_grant_window(coa->c, a, VWN, BIT(K_IDENTITY), P_BEGELEIDING, 0,
                     t0 + 2000, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_PENDING), 1);
  party_grant_window(coa->c, a, VWN, BIT(K_IDENTITY), P_BEGELEIDING, t0 + 1000,
                     0, NULL);
  /* the second starts, then the first expires (the sweep runs every
   * second) */
  s_wait_audited(h, "keten.consent.start", 1, NULL, 1);
  s_wait_audited(h, "keten.consent.expire", 1, NULL, 1);

  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_wait(PARTIES(coa, vwn), vwn, 1, 0, 0);
  party_pump(PARTIES(coa, vwn), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  party_expect_sections(vwn, COA, want, 1);
  party_settle(coa);
  assert_int_equal(party_wraps(h, VWN, a, COA, K_IDENTITY), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_DONE), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, VWN, STORE_REWRAP_PENDING), 0);
  party_close(coa);
  party_close(vwn);
  party_stop_and_verify(h);
}

/* The same with a KOPPELING as the trigger: a request for the gemeente is
 * pending under a direct consent that expires before the author serves
 * it; meanwhile the person is linked to that gemeente, which COA's
 * "@gemeente" consent allows. The gemeente must get the section. */
static void test_koppeling_not_blocked_by_pending(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *coa = s_party(h, COA, 0); /* online, not serving yet */
  party_t *g1 = s_party(h, G1, 1);
  party_put(coa->c, a, K_IDENTITY, IDENTITY_JSON);
  party_grant_window(coa->c, a, G1, BIT(K_IDENTITY), P_INBURGERING, 0,
                     party_wall_ms() + 1500, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  s_wait_audited(h, "keten.consent.expire", 1, NULL, 1);

  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_wait(PARTIES(coa, g1), g1, 1, 0, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  party_expect_sections(g1, COA, want, 1);
  party_settle(coa);
  assert_int_equal(party_wraps(h, G1, a, COA, K_IDENTITY), 1);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
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
  Keten__Envelope *reply = party_raw(sock, &env);
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
  hd.created_at_ms = (uint64_t)party_wall_ms();
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
  Keten__Envelope *reply = party_raw(sock, &env);
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
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  /* COA client A (its adapter, serving rewraps later) and client B (a
   * desk whose PREPARE and PUT are apart) */
  party_t *coa = s_party(h, COA, 0);
  party_t *g1 = s_party(h, G1, 1), *ggz = s_party(h, GGZ, 1);
  party_grant(coa->c, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
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
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 0);
  party_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 0);

  /* B puts what it sealed from those PREPAREs: to COA alone */
  s_raw_put_own(h, b, a, K_IDENTITY, v_id, IDENTITY_JSON);
  s_raw_put_own(h, b, a, K_HEALTH, v_health, HEALTH_JSON);
  zmq_close(b);
  zmq_ctx_term(ctx);
  /* the broker asks COA for the recipients it missed */
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  assert_int_equal(s_rewraps(h, a, K_HEALTH, GGZ, STORE_REWRAP_PENDING), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 2);
  assert_int_equal(party_audited(h, "keten.rewrap.queue", 1, NULL), 2);
  party_pump(PARTIES(g1, ggz), 200);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(ggz->n_sec, 0);

  /* A polls: its library serves both; each recipient gets its section */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  party_wait(PARTIES(coa, g1, ggz), g1, 1, 0, 0);
  party_wait(PARTIES(coa, g1, ggz), ggz, 1, 0, 0);
  party_pump(PARTIES(coa, g1, ggz), QUIET_MS);
  const party_want_t want_g1[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  const party_want_t want_ggz[] = {{K_HEALTH, 1, HEALTH_JSON}};
  party_expect_sections(g1, COA, want_g1, 1);
  party_expect_sections(ggz, COA, want_ggz, 1);
  assert_int_equal(coa->n_rw, 2);
  assert_int_equal(coa->rw[0].sealed + coa->rw[1].sealed, 2);
  party_settle(coa);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 2);
  assert_int_equal(party_wraps(h, G1, a, COA, K_IDENTITY), 1);
  assert_int_equal(party_wraps(h, GGZ, a, COA, K_HEALTH), 1);
  /* and nothing beyond the consents: no HEALTH for G1, no IDENTITY for GGZ */
  assert_int_equal(party_wraps(h, G1, a, COA, K_HEALTH), 0);
  assert_int_equal(party_wraps(h, GGZ, a, COA, K_IDENTITY), 0);
  party_expect_fetched(g1->c, a, K_IDENTITY, 1, IDENTITY_JSON);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  assert_int_equal(party_fetch_kinds(ggz->c, a), BIT(K_HEALTH));
  party_close(coa);
  party_close(g1);
  party_close(ggz);
  party_stop_and_verify(h);
}

/* ========================================================================== */
/* 4. a superseded rewrap                                                      */
/* ========================================================================== */

static void test_superseded_rewrap(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *coa = s_party(h, COA, 0); /* online, not serving its mailbox */
  party_t *ggz = s_party(h, GGZ, 1);
  party_put(coa->c, a, K_HEALTH, HEALTH_JSON);
  party_grant(coa->c, a, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  assert_int_equal(s_rewraps(h, a, K_HEALTH, GGZ, STORE_REWRAP_PENDING), 1);
  int64_t id1 = party_sqlf(h, "SELECT id FROM rewrap");
  /* v2 before COA looks at its mailbox: sealed to the care partner */
  keten_put_result_t r = party_put(coa->c, a, K_HEALTH, HEALTH2_JSON);
  party_assert_queued(&r, (const char *[]){GGZ, NULL});
  party_wait(PARTIES(ggz), ggz, 1, 0, 0);
  assert_int_equal(ggz->sec[0].version, 2);
  party_settle(ggz);

  /* COA serves its mailbox: its library answers the v1 request with a
   * wrap (the evidence holds); the broker does not deliver it */
  assert_int_equal(keten_client_subscribe(coa->c, 16), KETEN_OK);
  int64_t deadline = party_mono_ms() + WAIT_MS;
  while (coa->n_rw < 1 && party_mono_ms() < deadline)
    party_pump(PARTIES(coa, ggz), 20);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 1);
  assert_int_equal(coa->rw[0].version, 1);
  assert_string_equal(coa->rw[0].recipient, GGZ);
  party_settle(coa);
  party_pump(PARTIES(coa, ggz), QUIET_MS);
  for (size_t i = 0; i < ggz->n_sec; i++)
    if (ggz->sec[i].version < 2)
      fail_msg("GGZ was handed HEALTH v%llu (seq %llu) after v2",
               (unsigned long long)ggz->sec[i].version,
               (unsigned long long)ggz->sec[i].seq);
  const party_want_t want[] = {{K_HEALTH, 2, HEALTH2_JSON}};
  party_expect_sections(ggz, COA, want, 1);
  assert_int_equal(
      party_audited(h, "keten.rewrap.refused", 2, "v1 was superseded by v2"),
      1);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 0, NULL), 0);
  assert_int_equal(
      party_sqlf(h, "SELECT state FROM rewrap WHERE id = %lld", (long long)id1),
      STORE_REWRAP_CANCELLED);
  /* no wrap of v1 was stored, nothing more asked: GGZ has v2 */
  assert_int_equal(party_wraps_v(h, GGZ, a, COA, K_HEALTH, 1), 0);
  assert_int_equal(party_wraps_v(h, GGZ, a, COA, K_HEALTH, 2), 1);
  assert_int_equal(party_sqlf(h, "SELECT count(*) FROM rewrap"), 1);
  party_settle(ggz);
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" GGZ "'"),
                   0);
  party_expect_fetched(ggz->c, a, K_HEALTH, 2, HEALTH2_JSON);
  party_close(coa);
  party_close(ggz);
  party_stop_and_verify(h);
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
  party_raw_send(sock, &env, &ids);
  int subscribed = 0;
  uint64_t seq = 0, request_id = 0;
  int64_t deadline = party_mono_ms() + WAIT_MS;
  while (!subscribed || !seq) {
    assert_true(party_mono_ms() < deadline);
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
  party_raw_send(sock, &aenv, &ids);
  s_raw_settle(sock); /* the ack is handled */
  zmq_close(sock);
  zmq_ctx_term(ctx);
  return request_id;
}

/* The next trigger is a new consent. */
static void test_acked_unanswered_then_new_consent(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  party_t *g1 = s_party(h, G1, 1);
  keten_client_t *desk = party_client(h, COA);
  party_put(desk, a, K_IDENTITY, IDENTITY_JSON);
  party_grant(desk, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  uint64_t id1 = s_raw_ack_unanswered(h);
  /* taken out of COA's mailbox, never answered: still pending */
  assert_int_equal(party_sqlf(h,
                              "SELECT count(*) FROM mailbox WHERE recipient = "
                              "'" COA "'"),
                   0);
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap WHERE id = %llu",
                              (unsigned long long)id1),
                   STORE_REWRAP_PENDING);
  party_pump(PARTIES(g1), 200);
  assert_int_equal(g1->n_sec, 0);
  assert_int_equal(party_wraps(h, G1, a, COA, 0), 0);

  /* a new consent: a fresh request, which COA's real client serves */
  party_grant(desk, a, G1, BIT(K_IDENTITY) | BIT(K_LANGUAGE), P_INBURGERING,
              NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap WHERE id = %llu",
                              (unsigned long long)id1),
                   STORE_REWRAP_CANCELLED);
  party_t *coa = s_party(h, COA, 1);
  party_wait(PARTIES(coa, g1), g1, 1, 0, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  party_expect_sections(g1, COA, want, 1);
  assert_int_equal(coa->n_rw, 1); /* the fresh one only */
  assert_int_equal(coa->rw[0].sealed, 1);
  party_settle(coa);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_DONE), 1);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 0);
  assert_int_equal(party_audited(h, "keten.rewrap.stored", 1, NULL), 1);
  party_expect_fetched(g1->c, a, K_IDENTITY, 1, IDENTITY_JSON);
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
}

/* The next trigger is a KOPPELING (which asks without cancelling first:
 * the store must see that the acked request will never be answered). */
static void test_acked_unanswered_then_koppeling(void **state) {
  harness_t *h = *state;
  uint8_t a[32];
  party_subject(V_AMIRA, a);
  keten_client_t *tvs = party_client(h, TVS);
  party_t *g1 = s_party(h, G1, 1);
  keten_client_t *desk = party_client(h, COA);
  party_put(desk, a, K_IDENTITY, IDENTITY_JSON);
  party_grant(desk, a, G1, BIT(K_IDENTITY), P_INBURGERING, NULL);
  uint64_t id1 = s_raw_ack_unanswered(h);
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap WHERE id = %llu",
                              (unsigned long long)id1),
                   STORE_REWRAP_PENDING);
  /* "@gemeente" before any link asks nothing; the KOPPELING does */
  party_grant(desk, a, LINKED, BIT(K_IDENTITY), P_INBURGERING, NULL);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, -1), 1);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  keten_tvs_published_t res = party_publish(tvs, &k);
  assert_int_equal(res.rewraps_queued, 1);
  assert_int_equal(party_sqlf(h, "SELECT state FROM rewrap WHERE id = %llu",
                              (unsigned long long)id1),
                   STORE_REWRAP_CANCELLED);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_PENDING), 1);

  party_t *coa = s_party(h, COA, 1);
  party_wait(PARTIES(coa, g1), g1, 1, 0, 0);
  party_pump(PARTIES(coa, g1), QUIET_MS);
  const party_want_t want[] = {{K_IDENTITY, 1, IDENTITY_JSON}};
  party_expect_sections(g1, COA, want, 1);
  assert_int_equal(coa->n_rw, 1);
  assert_int_equal(coa->rw[0].sealed, 1);
  party_settle(coa);
  assert_int_equal(s_rewraps(h, a, K_IDENTITY, G1, STORE_REWRAP_DONE), 1);
  assert_int_equal(party_fetch_kinds(g1->c, a), BIT(K_IDENTITY));
  party_close(coa);
  party_close(g1);
  party_stop_and_verify(h);
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
