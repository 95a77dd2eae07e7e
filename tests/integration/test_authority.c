/* Only a section's author can widen who reads it: the attacks of issue 6,
 * each over a real ketend (ipc) with the example partners, plus a second
 * volunteer id, an OPERATOR participant and a second COA location.
 *
 *   - two colluding volunteer ids grant each other every kind;
 *   - an OPERATOR records a HEALTH consent naming the volunteer;
 *   - a volunteer revokes COA's consent for the care partner;
 *   - a volunteer scans subjects with PREPARE;
 *   - records carrying fields their signature does not cover;
 *   - PUTs of kinds the author's role may not write;
 *   - consents the policy table refuses; the cap per recipient;
 *   - revocation by the recipient and at the person's counter (COA), and
 *     the notice that tells the recorder;
 *   - key rotation: both keys admitted during the overlap, the old entry
 *     known after it, what it signed still verifying.
 *
 * Each case checks the broker's answer, that no byte of another author's
 * section reached anyone it should not (wraps and mailboxes in the store,
 * and what the clients can open), and the audit entries of refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "canon.h"
#include "envelope.h"
#include "harness.h"
#include "party.h"
#include "store.h"

#define COA "coa"
#define COA2 "coa:ter-apel"
#define GEMEENTE "gemeente:0716"
#define VWN "vwn:zeeland"
#define VWN2 "vwn:zeeland-2"
#define GGZ "ggz:zeeland"
#define FG "fg:keten"

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define ALL_KINDS (UINT64_C(0x1ffe)) /* kinds 1..12 */
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
#define QUIET_MS 700

enum {
  K_IDENTITY = 1,
  K_HOUSEHOLD = 2,
  K_STORY = 3,
  K_LANGUAGE = 6,
  K_HEALTH = 10,
  K_SUPPORT = 11,
  K_CARE = 12
};
enum { P_INBURGERING = 2, P_ZORG = 4, P_BEGELEIDING = 5 };

static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\"}";
static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", \"birth_date\": \"1991-03-14\"}";
static const char SUPPORT_JSON[] = "{\"volunteer_team\": \"Tholen\", \"helped_with\": []}";

/* ---- fixture ------------------------------------------------------------- */

static int s_setup_with(void **state, const char *config_text) {
  harness_t *h = harness_new(1);
  if (!h || !harness_add_partner(h, VWN2, "VOLUNTEER", "VWN team 2") ||
      !harness_add_partner(h, FG, "OPERATOR", "Functionaris (fictief)") ||
      !harness_add_partner(h, COA2, "COA", "COA Ter Apel")) {
    harness_destroy(&h);
    return -1;
  }
  if (config_text && harness_config(h, config_text) != 0) {
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

static int s_setup(void **state) { return s_setup_with(state, NULL); }

static int s_setup_limited(void **state) {
  return s_setup_with(state, "prepare_per_second = 5\nprepare_burst = 10\n"
                             "max_consents_per_recipient = 3\n");
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Records a consent of c; returns the library's status (the remote code
 * is in keten_client_remote_code). */
static keten_err_t s_try_grant(keten_client_t *c, const uint8_t subject[32],
                               const char *to, uint64_t sections, int purpose,
                               keten_consent_t *out) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", to);
  k.sections = sections;
  k.purpose = purpose;
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "form-17");
  k.valid_from_ms = (uint64_t)(party_wall_ms() - 60000);
  k.valid_until_ms = (uint64_t)(party_wall_ms() + 365 * DAY_MS);
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (out)
    *out = k;
  return rc;
}

static void s_grant(keten_client_t *c, const uint8_t subject[32],
                    const char *to, uint64_t sections, int purpose,
                    keten_consent_t *out) {
  keten_err_t rc = s_try_grant(c, subject, to, sections, purpose, out);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s", to, keten_client_error(c));
}

static void s_expect_remote(keten_client_t *c, keten_err_t rc, int code,
                            const char *needle) {
  if (rc != KETEN_ERR_REMOTE || keten_client_remote_code(c) != code)
    fail_msg("expected %s, got %s (%s)", keten_error_code_name(code),
             keten_strerror(rc), keten_client_error(c));
  if (needle && !strstr(keten_client_error(c), needle))
    fail_msg("'%s' does not say '%s'", keten_client_error(c), needle);
}

static keten_put_result_t s_put(keten_client_t *c, const uint8_t subject[32],
                                int kind, const char *json) {
  keten_put_result_t res;
  memset(&res, 0, sizeof res);
  keten_err_t rc = keten_client_put(c, subject, kind, json, strlen(json), &res);
  if (rc != KETEN_OK)
    fail_msg("put %s: %s", keten_section_kind_name(kind),
             keten_client_error(c));
  return res;
}

/* Audit entries named name with status (1 OK, 2 ERROR) whose detail holds
 * needle. */
static long long s_audited(harness_t *h, const char *name, int status,
                           const char *needle) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM audit WHERE name = '%s' AND status = %d AND "
           "detail LIKE '%%%s%%'",
           name, status, needle);
  return party_sql(h, sql);
}

/* Key wraps and mailbox entries anyone but its author holds of a section
 * of kind by author. */
static long long s_copies_held(harness_t *h, const char *holder,
                               const char *author, int kind) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT (SELECT count(*) FROM wrap w JOIN section s ON s.id = "
           "w.section_id WHERE w.recipient = '%s' AND s.author = '%s' AND "
           "s.kind = %d) + (SELECT count(*) FROM mailbox m JOIN section s ON "
           "s.id = m.section_id WHERE m.recipient = '%s' AND s.author = '%s' "
           "AND s.kind = %d)",
           holder, author, kind, holder, author, kind);
  return party_sql(h, sql);
}

/* What c can fetch of subject: a bit set of kinds (0 if refused). */
static uint64_t s_fetch_kinds(keten_client_t *c, const uint8_t subject[32],
                              const char *must_not_contain) {
  keten_section_t *secs = NULL;
  size_t n = 0;
  keten_err_t rc = keten_client_fetch(c, subject, &secs, &n);
  if (rc != KETEN_OK) {
    assert_int_equal(rc, KETEN_ERR_REMOTE);
    return 0;
  }
  uint64_t kinds = 0;
  for (size_t i = 0; i < n; i++) {
    kinds |= BIT(secs[i].header.kind);
    if (must_not_contain)
      assert_null(strstr(secs[i].json, must_not_contain));
  }
  keten_sections_free(secs, n);
  return kinds;
}

/* Deliveries (sections only) c receives within QUIET_MS after subscribing. */
typedef struct {
  uint64_t kinds;
  size_t n, unopened;
  size_t notices;
  keten_notice_t last;
} s_inbox_t;

static int s_on_section(const keten_section_t *s, uint64_t seq,
                        keten_err_t status, void *arg) {
  (void)seq;
  s_inbox_t *in = arg;
  in->n++;
  if (status != KETEN_OK || !s)
    in->unopened++; /* delivered, not for our keys (acked, skipped) */
  else
    in->kinds |= BIT(s->header.kind);
  return 0;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  (void)seq;
  s_inbox_t *in = arg;
  assert_int_equal(status, KETEN_OK);
  assert_non_null(n);
  in->last = *n;
  in->notices++;
  return 0;
}

static void s_poll_for(keten_client_t *c, s_inbox_t *in, int ms,
                       size_t want_notices) {
  int64_t deadline = party_mono_ms() + ms;
  while (party_mono_ms() < deadline &&
         (want_notices == 0 || in->notices < want_notices))
    assert_int_equal(keten_client_poll(c, 50, s_on_section, in, NULL),
                     KETEN_OK);
}

/* ---- raw requests ------------------------------------------------------------ */

/* Sends env's body (with fresh ids) on sock, returns the decoded reply. */
static Keten__Envelope *s_raw(void *sock, Keten__Envelope *env) {
  envelope_ids_t ids;
  party_raw_send(sock, env, &ids);
  static uint8_t buf[1 << 20];
  int n = harness_recv(sock, buf, sizeof buf, CLIENT_TIMEOUT_MS);
  assert_true(n > 0);
  Keten__Envelope *reply = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
  assert_non_null(reply);
  return reply;
}

/* Appends a varint to buf at len; returns the new length. */
static size_t s_varint(uint8_t *buf, size_t len, uint64_t v) {
  while (v >= 0x80) {
    buf[len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  buf[len++] = (uint8_t)v;
  return len;
}

/* Appends an unknown length-delimited field (number 99) of n bytes to the
 * packed message in buf (len bytes; cap at least len + n + 16). */
static size_t s_append_unknown(uint8_t *buf, size_t len, size_t n) {
  len = s_varint(buf, len, (99 << 3) | 2);
  len = s_varint(buf, len, n);
  memset(buf + len, 'X', n);
  return len + n;
}

/* Makes id's current entries end at until and installs new_keys from now:
 * a rotation with an overlap. */
static void s_rotate(harness_t *h, const char *id, int role,
                     const keten_keys_t *old_keys, const keten_keys_t *new_keys,
                     int64_t until) {
  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  assert_non_null(store);
  assert_true(store_entry_remove(store, id, err, sizeof err) >= 1);
  store_close(&store);
  int64_t now = party_wall_ms();
  assert_int_equal(
      harness_install_entry(h, id, role, old_keys, now - DAY_MS, until, NULL),
      0);
  assert_int_equal(harness_install_entry(h, id, role, new_keys, now - 1000,
                                         now + DAY_MS, NULL),
                   0);
}

/* ---- 1. two colluding volunteers ----------------------------------------------- */

static void test_colluding_volunteers(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA), *vwn = party_client(h, VWN),
                 *vwn2 = party_client(h, VWN2), *ggz = party_client(h, GGZ);
  /* COA's own consent for the care partner, and its sections */
  s_grant(coa, subject, GGZ, BIT(K_IDENTITY) | BIT(K_HEALTH), P_ZORG, NULL);

  /* the two volunteer ids grant each other all twelve kinds: refused, a
   * volunteer writes SUPPORT only (R5), audited with the rule */
  s_expect_remote(vwn, s_try_grant(vwn, subject, VWN2, ALL_KINDS, P_BEGELEIDING,
                                   NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R5");
  s_expect_remote(vwn2, s_try_grant(vwn2, subject, VWN, ALL_KINDS,
                                    P_BEGELEIDING, NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R5");
  s_expect_remote(vwn, s_try_grant(vwn, subject, VWN2, BIT(K_HEALTH), P_ZORG,
                                   NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R5");
  /* what they may share is their own SUPPORT notes */
  s_grant(vwn, subject, VWN2, BIT(K_SUPPORT), P_BEGELEIDING, NULL);
  s_grant(vwn2, subject, VWN, BIT(K_SUPPORT), P_BEGELEIDING, NULL);

  keten_put_result_t r = s_put(coa, subject, K_HEALTH, HEALTH_JSON);
  assert_int_equal(r.n_queued, 1);
  assert_string_equal(r.queued[0], GGZ);
  r = s_put(coa, subject, K_IDENTITY, IDENTITY_JSON);
  assert_int_equal(r.n_queued, 1);
  r = s_put(vwn, subject, K_SUPPORT, SUPPORT_JSON);
  assert_int_equal(r.n_queued, 1);
  assert_string_equal(r.queued[0], VWN2);

  /* not a byte of COA's sections reaches either volunteer */
  for (int kind = 1; kind <= 12; kind++) {
    assert_int_equal(s_copies_held(h, VWN, COA, kind), 0);
    assert_int_equal(s_copies_held(h, VWN2, COA, kind), 0);
  }
  assert_int_equal(s_fetch_kinds(vwn, subject, "slaapproblemen"),
                   BIT(K_SUPPORT));
  assert_int_equal(s_fetch_kinds(vwn2, subject, "slaapproblemen"),
                   BIT(K_SUPPORT));
  s_inbox_t in = {0};
  assert_int_equal(keten_client_subscribe(vwn2, 16), KETEN_OK);
  s_poll_for(vwn2, &in, QUIET_MS, 0);
  assert_int_equal(in.kinds, BIT(K_SUPPORT));
  assert_int_equal(in.unopened, 0);
  /* the care partner reads HEALTH */
  assert_int_equal(s_fetch_kinds(ggz, subject, NULL),
                   BIT(K_IDENTITY) | BIT(K_HEALTH));
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R5"), 3);
}

/* ---- 2. an OPERATOR grants ------------------------------------------------------ */

static void test_operator_grants_nothing(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *fg = party_client(h, FG), *coa = party_client(h, COA),
                 *vwn = party_client(h, VWN);
  s_expect_remote(fg, s_try_grant(fg, subject, VWN, BIT(K_HEALTH), P_ZORG,
                                  NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R2");
  /* nor may anyone name the operator (or TVS) as recipient */
  s_expect_remote(coa, s_try_grant(coa, subject, FG, BIT(K_IDENTITY),
                                   P_INBURGERING, NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R3");
  /* the operator writes no section */
  keten_put_result_t res;
  s_expect_remote(fg, keten_client_put(fg, subject, K_HEALTH, HEALTH_JSON,
                                       strlen(HEALTH_JSON), &res),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R1");
  keten_put_result_t r = s_put(coa, subject, K_HEALTH, HEALTH_JSON);
  assert_int_equal(r.n_queued, 0);
  assert_int_equal(s_copies_held(h, VWN, COA, K_HEALTH), 0);
  assert_int_equal(s_copies_held(h, FG, COA, K_HEALTH), 0);
  assert_int_equal(s_fetch_kinds(vwn, subject, "slaapproblemen"), 0);
  assert_int_equal(keten_client_remote_code(vwn),
                   KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  assert_int_equal(s_fetch_kinds(fg, subject, "slaapproblemen"), 0);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R2"), 1);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R3"), 1);
  assert_int_equal(s_audited(h, "keten.section.prepare", 2, "R1"), 1);
}

/* ---- 3. who may revoke ------------------------------------------------------------ */

static void test_revocation_authority(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA), *vwn = party_client(h, VWN),
                 *gem = party_client(h, GEMEENTE), *ggz = party_client(h, GGZ),
                 *coa2 = party_client(h, COA2);
  keten_consent_t to_ggz, to_gem;
  s_grant(coa, subject, GGZ, BIT(K_IDENTITY) | BIT(K_HEALTH), P_ZORG, &to_ggz);
  s_grant(coa, subject, GEMEENTE, BIT(K_IDENTITY), P_INBURGERING, &to_gem);
  s_put(coa, subject, K_HEALTH, HEALTH_JSON);
  s_put(coa, subject, K_IDENTITY, IDENTITY_JSON);

  /* a volunteer (who knows the consent id) cannot cut the care partner off */
  s_expect_remote(vwn, keten_client_consent_revoke(vwn, to_ggz.consent_id,
                                                   subject, "weg", NULL),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN, "recorder");
  /* nor can an unrelated gemeente, even with an evidence reference */
  s_expect_remote(gem, keten_client_consent_revoke(gem, to_ggz.consent_id,
                                                   subject, "weg", "x-1"),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN, "recorder");
  /* the person's counter needs the person's request as evidence */
  s_expect_remote(coa2, keten_client_consent_revoke(coa2, to_ggz.consent_id,
                                                    subject, "weg", NULL),
                  KETEN__ERROR_CODE__ERROR_FORBIDDEN, "evidence");
  assert_int_equal(s_audited(h, "keten.consent.revoke", 2, "refused"), 3);
  /* the care partner's access survived all of it */
  assert_int_equal(s_fetch_kinds(ggz, subject, NULL),
                   BIT(K_IDENTITY) | BIT(K_HEALTH));
  assert_int_equal(s_copies_held(h, GGZ, COA, K_HEALTH), 2); /* wrap + mailbox */

  /* the recipient may renounce; the recorder is told with a signed notice */
  assert_int_equal(keten_client_consent_revoke(gem, to_gem.consent_id, subject,
                                               "niet meer nodig", NULL),
                   KETEN_OK);
  /* at the person's counter, with the person's request: accepted */
  assert_int_equal(keten_client_consent_revoke(coa2, to_ggz.consent_id, subject,
                                               "ingetrokken aan de balie",
                                               "coa-verzoek-2026-0912-3"),
                   KETEN_OK);
  assert_int_equal(s_fetch_kinds(ggz, subject, NULL), 0);
  assert_int_equal(s_copies_held(h, GGZ, COA, K_HEALTH), 0);
  s_inbox_t in = {0};
  keten_client_on_notice(coa, s_on_notice, &in);
  assert_int_equal(keten_client_subscribe(coa, 16), KETEN_OK);
  s_poll_for(coa, &in, WAIT_MS, 2);
  assert_int_equal(in.notices, 2);
  assert_int_equal(in.last.kind, KETEN_NOTICE_CONSENT_REVOKED);
  assert_string_equal(in.last.revoked_by, COA2);
  assert_int_equal(in.last.revoked_by_role, keten_role_from_name("COA"));
  assert_string_equal(in.last.evidence_ref, "coa-verzoek-2026-0912-3");
  assert_memory_equal(in.last.consent_id, to_ggz.consent_id, 16);
  assert_memory_equal(in.last.subject, subject, 32);
  assert_int_equal(s_audited(h, "keten.notice.queue", 1, "consent was revoked"),
                   2);
  /* and the recipients that held copies are told to delete them */
  assert_int_equal(s_audited(h, "keten.notice.queue", 1, "delete notice"), 2);
  assert_int_equal(s_audited(h, "keten.notice.deliver", 1, "delivered"), 2);
  /* the recorder revoking its own consent tells nobody but the audit */
  keten_consent_t again;
  s_grant(coa, subject, GGZ, BIT(K_IDENTITY), P_ZORG, &again);
  assert_int_equal(keten_client_consent_revoke(coa, again.consent_id, subject,
                                               "eigen intrekking", NULL),
                   KETEN_OK);
  assert_int_equal(s_audited(h, "keten.notice.queue", 1, "consent was revoked"),
                   2);
}

/* ---- 4. PREPARE is no oracle --------------------------------------------------------- */

static void test_prepare_is_no_oracle(void **state) {
  harness_t *h = *state;
  keten_client_t *coa = party_client(h, COA);
  /* COA holds HEALTH consents for the care partner on 50 subjects */
  uint8_t subjects[50][32];
  char v[16];
  for (int i = 0; i < 50; i++) {
    snprintf(v, sizeof v, "10000%05d", i);
    party_subject(v, subjects[i]);
    s_grant(coa, subjects[i], GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  }
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, VWN)->keys);
  assert_non_null(sock);
  long long before = party_sql(h, "SELECT count(*) FROM audit WHERE name = "
                                  "'keten.section.prepare'");
  /* the volunteer scans for HEALTH: it does not write HEALTH, so it
   * learns nothing; every refusal is audited with the rule */
  for (int i = 0; i < 50; i++) {
    Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
    p.subject.data = subjects[i];
    p.subject.len = 32;
    p.kind = (Keten__SectionKind)K_HEALTH;
    Keten__Envelope env = KETEN__ENVELOPE__INIT;
    env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
    env.prepare = &p;
    assert_int_equal(party_error_code(s_raw(sock, &env)),
                     KETEN__ERROR_CODE__ERROR_POLICY);
  }
  /* for a kind it writes, it hears only of its own consents: none */
  for (int i = 0; i < 50; i++) {
    Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
    p.subject.data = subjects[i];
    p.subject.len = 32;
    p.kind = (Keten__SectionKind)K_SUPPORT;
    Keten__Envelope env = KETEN__ENVELOPE__INIT;
    env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
    env.prepare = &p;
    Keten__Envelope *reply = s_raw(sock, &env);
    assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PREPARED);
    assert_int_equal(reply->prepared->n_recipients, 0);
    envelope_free(reply);
  }
  long long after = party_sql(h, "SELECT count(*) FROM audit WHERE name = "
                                 "'keten.section.prepare'");
  assert_int_equal(after - before, 100);
  assert_int_equal(s_audited(h, "keten.section.prepare", 2, "R1"), 50);
  /* COA's own PREPARE names the care partner, with the evidence: its entry
   * (root-signed) and the consent COA signed */
  void *coa_sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
  p.subject.data = subjects[7];
  p.subject.len = 32;
  p.kind = (Keten__SectionKind)K_HEALTH;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
  env.prepare = &p;
  Keten__Envelope *reply = s_raw(coa_sock, &env);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PREPARED);
  assert_int_equal(reply->prepared->n_recipients, 1);
  const Keten__Recipient *r = reply->prepared->recipients[0];
  assert_string_equal(r->participant_id, GGZ);
  assert_non_null(r->entry);
  assert_string_equal(r->entry->participant_id, GGZ);
  assert_int_equal(canon_verify_entry(r->entry, h->root.public_key), 0);
  assert_int_equal(r->n_consents, 1);
  assert_int_equal(canon_verify_consent(r->consents[0],
                                        harness_partner(h, COA)->keys.signing_pk),
                   0);
  envelope_free(reply);
  zmq_close(coa_sock);
  zmq_close(sock);
  zmq_ctx_term(ctx);
}

static void test_prepare_rate_limit_and_consent_cap(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA), *gem = party_client(h, GEMEENTE);
  /* at most 3 live consents per (subject, recorder, recipient) here */
  for (int i = 0; i < 3; i++)
    s_grant(coa, subject, GGZ, BIT(K_HEALTH), P_ZORG, NULL);
  s_expect_remote(coa, s_try_grant(coa, subject, GGZ, BIT(K_HEALTH), P_ZORG,
                                   NULL),
                  KETEN__ERROR_CODE__ERROR_QUOTA, "at most 3");
  /* another recorder's quota is its own */
  s_grant(gem, subject, GGZ, BIT(K_HOUSEHOLD), P_ZORG, NULL);

  /* 5 PREPAREs a second, 10 at once: a flood of 60 is mostly refused with
   * a time to retry, and the refusals cost an audit entry a second */
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  int ok = 0, limited = 0;
  for (int i = 0; i < 60; i++) {
    Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
    p.subject.data = subject;
    p.subject.len = 32;
    p.kind = (Keten__SectionKind)K_HEALTH;
    Keten__Envelope env = KETEN__ENVELOPE__INIT;
    env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
    env.prepare = &p;
    Keten__Envelope *reply = s_raw(sock, &env);
    if (reply->body_case == KETEN__ENVELOPE__BODY_PREPARED) {
      ok++;
      /* one recipient, evaluated once, with its 3 consents as evidence */
      assert_int_equal(reply->prepared->n_recipients, 1);
      assert_int_equal(reply->prepared->recipients[0]->n_consents, 3);
    } else {
      assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_ERROR);
      assert_int_equal(reply->error->code,
                       KETEN__ERROR_CODE__ERROR_RATE_LIMITED);
      assert_true(reply->error->retry_after_ms > 0);
      assert_true(reply->error->retry_after_ms <= 1000);
      limited++;
    }
    envelope_free(reply);
  }
  assert_true(ok >= 10 && ok < 30);
  assert_int_equal(ok + limited, 60);
  /* the others are not slowed: a PING answers at once */
  int64_t rtt = 0;
  assert_int_equal(keten_client_ping(gem, "x", 1, &rtt), KETEN_OK);
  /* the library waits as told and gets its answer */
  keten_put_result_t res = s_put(coa, subject, K_HEALTH, HEALTH_JSON);
  assert_int_equal(res.n_queued, 1);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  assert_int_equal(harness_stop(h), 0);
  long long rate_rows =
      s_audited(h, "keten.section.prepare", 2, "rate limit");
  assert_true(rate_rows >= 1 && rate_rows <= 5);
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM audit WHERE name = 'keten.consent.grant' "
           "AND status = 2 AND detail LIKE '%%too many%%'");
  /* the consent budget's refusal is in the aggregate (protocol 9.4.3) */
  assert_int_equal(party_sql(h, sql), 0);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM audit WHERE name = 'keten.budget.refused' "
           "AND status = 2 AND actor = 'coa' AND detail LIKE "
           "'1 refusals of max_consents_per_recipient in %% s (limit 3)'");
  assert_int_equal(party_sql(h, sql), 1);
}

/* ---- 5. signed records are exact ---------------------------------------------------- */

static void test_unknown_fields_refused(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  const keten_keys_t *coa = &harness_partner(h, COA)->keys;
  /* a consent with a 256 KiB field its signature does not cover */
  Keten__SectionKind kinds[] = {(Keten__SectionKind)K_IDENTITY};
  uint8_t id[16];
  randombytes_buf(id, sizeof id);
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = id;
  k.consent_id.len = 16;
  k.subject.data = subject;
  k.subject.len = 32;
  k.recorded_by = (char *)COA;
  k.recipient = (char *)GEMEENTE;
  k.sections = kinds;
  k.n_sections = 1;
  k.purpose = (Keten__Purpose)P_INBURGERING;
  k.basis = KETEN__BASIS__BASIS_CONSENT;
  k.legal_reference = (char *)"";
  k.evidence_ref = (char *)"form-17";
  k.valid_from_ms = (uint64_t)party_wall_ms() - 1000;
  k.valid_until_ms = (uint64_t)party_wall_ms() + DAY_MS;
  k.recorded_at_ms = (uint64_t)party_wall_ms();
  uint8_t sig[64];
  assert_int_equal(canon_sign_consent(&k, coa->signing_sk, sig), 0);
  k.signature.data = sig;
  k.signature.len = 64;
  size_t n = keten__consent__get_packed_size(&k);
  size_t extra = 256 * 1024;
  uint8_t *buf = malloc(n + extra + 16);
  assert_non_null(buf);
  keten__consent__pack(&k, buf);
  n = s_append_unknown(buf, n, extra);
  Keten__Consent *padded = keten__consent__unpack(NULL, n, buf);
  free(buf);
  assert_non_null(padded);
  assert_int_equal(padded->base.n_unknown_fields, 1);
  /* its signature still verifies: only the exactness check stops it */
  assert_int_equal(canon_verify_consent(padded, coa->signing_pk), 0);
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, coa);
  Keten__ConsentGrant grant = KETEN__CONSENT_GRANT__INIT;
  grant.consent = padded;
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  env.body_case = KETEN__ENVELOPE__BODY_CONSENT_GRANT;
  env.consent_grant = &grant;
  assert_int_equal(party_error_code(s_raw(sock, &env)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  keten__consent__free_unpacked(padded, NULL);
  assert_int_equal(party_sql(h, "SELECT count(*) FROM consent"), 0);
  assert_int_equal(party_sql(h, "SELECT coalesce(max(length(record)), 0) FROM "
                                "consent"),
                   0);
  zmq_close(sock);
  zmq_ctx_term(ctx);
}

/* ---- 6. the policy at PUT and at grant ------------------------------------------------ */

static void test_policy_refusals(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA), *vwn = party_client(h, VWN),
                 *gem = party_client(h, GEMEENTE);
  keten_put_result_t res;
  /* a volunteer does not write HEALTH (R1): refused at PREPARE, and a PUT
   * sent straight is refused too */
  s_expect_remote(vwn, keten_client_put(vwn, subject, K_HEALTH, HEALTH_JSON,
                                        strlen(HEALTH_JSON), &res),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R1");
  s_expect_remote(gem, keten_client_put(gem, subject, K_STORY, "{\"text\":\"x\",\"language\":\"ar\"}", 28, &res),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R1");
  /* COA may not send HEALTH to a volunteer, whatever the person signed (R8) */
  s_expect_remote(coa, s_try_grant(coa, subject, VWN, BIT(K_HEALTH), P_ZORG,
                                   NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R8");
  /* the purpose limits: ZORG is not a volunteer's purpose (R7), HOUSING
   * kinds are not ZORG's (R6) */
  s_expect_remote(coa, s_try_grant(coa, subject, VWN, BIT(K_IDENTITY), P_ZORG,
                                   NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R7");
  s_expect_remote(coa, s_try_grant(coa, subject, GGZ, BIT(8), P_ZORG, NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R6");
  /* a consent for oneself (R4) */
  s_expect_remote(coa, s_try_grant(coa, subject, COA, BIT(K_IDENTITY),
                                   P_INBURGERING, NULL),
                  KETEN__ERROR_CODE__ERROR_POLICY, "R4");
  /* within the policy, the same volunteer gets what COA allows */
  s_grant(coa, subject, VWN, BIT(K_IDENTITY), P_BEGELEIDING, NULL);
  res = s_put(coa, subject, K_IDENTITY, IDENTITY_JSON);
  assert_int_equal(res.n_queued, 1);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R8"), 1);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R7"), 1);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R6"), 1);
  assert_int_equal(s_audited(h, "keten.consent.grant", 2, "R4"), 1);
  assert_int_equal(s_audited(h, "keten.section.prepare", 2, "R1"), 2);
}

/* ---- 7. key rotation ------------------------------------------------------------------ */

static void test_key_rotation(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA);
  s_grant(coa, subject, GEMEENTE, BIT(K_IDENTITY) | BIT(K_STORY),
          P_INBURGERING, NULL);
  s_put(coa, subject, K_IDENTITY, IDENTITY_JSON); /* signed with the old key */

  /* the gemeente and COA rotate: new entries from now, the old ones end in
   * 3 s (the overlap) */
  harness_partner_t *gem_old = harness_partner(h, GEMEENTE);
  keten_keys_t gem_new, coa_new;
  keten_keys_generate(&gem_new, GEMEENTE);
  keten_keys_generate(&coa_new, COA);
  int64_t end = party_wall_ms() + 3000;
  s_rotate(h, GEMEENTE, 1, &gem_old->keys, &gem_new, end);
  s_rotate(h, COA, 2, &harness_partner(h, COA)->keys, &coa_new, end);
  int loads = harness_log_count(h, "registry: loaded");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "registry: loaded", loads + 1, WAIT_MS),
                   0);

  /* during the overlap both keys are admitted; COA's new key signs */
  /* without its previous keys COA's library does not recognise the
   * consent it signed with the old key, and seals to nobody */
  keten_client_t *coa_bare =
      party_track(harness_client(h, &coa_new, CLIENT_TIMEOUT_MS, -1));
  keten_put_result_t res;
  assert_int_equal(keten_client_put(coa_bare, subject, K_STORY, "{\"text\":\"x\",\"language\":\"ar\"}", 28, &res),
                   KETEN_ERR_EVIDENCE);
  assert_non_null(strstr(keten_client_error(coa_bare), "our signature"));
  keten_client_config_t coa_cfg = {.endpoint = h->endpoint,
                                   .keys = &coa_new,
                                   .broker_key = h->broker.transport_pk,
                                   .root_key = h->root.public_key,
                                   .previous_keys =
                                       &harness_partner(h, COA)->keys,
                                   .n_previous_keys = 1,
                                   .timeout_ms = CLIENT_TIMEOUT_MS,
                                   .retries = -1};
  char err[256];
  keten_client_t *coa2 =
      party_track(keten_client_new(&coa_cfg, err, sizeof err));
  res = s_put(coa2, subject, K_STORY, "{\"text\": \"nieuw\", \"language\": \"ar\"}");
  assert_int_equal(res.n_queued, 1);
  /* the new section is sealed to the gemeente's new key: the old keys
   * alone cannot open it, the new keys with the old ones as previous can
   * open both */
  keten_client_t *gem_o =
      party_track(harness_client(h, &gem_old->keys, CLIENT_TIMEOUT_MS, -1));
  keten_section_t *secs = NULL;
  size_t n = 0;
  /* one section that does not open hides none of the others (issue 8) */
  assert_int_equal(keten_client_fetch(gem_o, subject, &secs, &n),
                   KETEN_ERR_PARTIAL);
  assert_non_null(strstr(keten_client_error(gem_o), "STORY by coa"));
  assert_int_equal(n, 1);
  assert_int_equal(secs[0].header.kind, K_IDENTITY);
  keten_sections_free(secs, n);
  secs = NULL;
  n = 0;
  assert_int_equal(keten_client_subscribe(gem_o, 16), KETEN_OK);
  s_inbox_t overlap_in = {0};
  s_poll_for(gem_o, &overlap_in, QUIET_MS, 0);
  /* what was sealed to the old key opens, the new STORY does not */
  assert_true(overlap_in.kinds & BIT(K_IDENTITY));
  assert_int_equal(overlap_in.unopened, 1);
  keten_client_config_t cfg = {.endpoint = h->endpoint,
                               .keys = &gem_new,
                               .broker_key = h->broker.transport_pk,
                               .root_key = h->root.public_key,
                               .previous_keys = &gem_old->keys,
                               .n_previous_keys = 1,
                               .timeout_ms = CLIENT_TIMEOUT_MS,
                               .retries = -1};
  keten_client_t *gem_n = party_track(keten_client_new(&cfg, err, sizeof err));
  assert_int_equal(s_fetch_kinds(gem_n, subject, NULL),
                   BIT(K_IDENTITY) | BIT(K_STORY));

  /* after the overlap the old keys are refused, and what they signed
   * still verifies */
  int64_t wait = end - party_wall_ms() + 300;
  if (wait > 0) {
    struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  /* on a connection opened during the overlap every frame is refused now,
   * and nothing more is delivered on it: a section put now waits in the
   * mailbox for the new key */
  assert_int_equal(keten_client_ping(gem_o, "x", 1, NULL), KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(gem_o),
                   KETEN__ERROR_CODE__ERROR_UNAUTHENTICATED);
  s_put(coa2, subject, K_IDENTITY, IDENTITY_JSON);
  s_inbox_t old_in = {0};
  /* the broker ends that subscription (SUBSCRIPTION_REMOVED) and
   * libketen reports it instead of subscribing again (issue 8) */
  keten_err_t prc = KETEN_OK;
  int64_t until = party_mono_ms() + 5000;
  while (prc == KETEN_OK && party_mono_ms() < until)
    prc = keten_client_poll(gem_o, 50, s_on_section, &old_in, NULL);
  assert_int_equal(prc, KETEN_ERR_REMOVED);
  assert_int_equal(old_in.n, 0);
  assert_true(harness_log_count(h, "the key of this subscription is no "
                                   "longer valid") >= 1);
  s_inbox_t new_in = {0};
  assert_int_equal(keten_client_subscribe(gem_n, 16), KETEN_OK);
  s_poll_for(gem_n, &new_in, QUIET_MS, 0);
  assert_true(new_in.kinds & BIT(K_IDENTITY));
  keten_client_t *late =
      party_track(harness_client(h, &gem_old->keys, 2000, -1));
  int64_t rtt = 0;
  keten_err_t rc = keten_client_ping(late, "x", 1, &rtt);
  assert_true(rc == KETEN_ERR_AUTH || rc == KETEN_ERR_REMOTE ||
              rc == KETEN_ERR_TIMEOUT);
  assert_int_equal(s_fetch_kinds(gem_n, subject, NULL),
                   BIT(K_IDENTITY) | BIT(K_STORY));
  keten_keys_wipe(&gem_new);
  keten_keys_wipe(&coa_new);
}

/* ---- 8. the operator edits the store ------------------------------------------------- */

static void test_operator_forges_consent_row(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  party_subject("2931847560", subject);
  keten_client_t *coa = party_client(h, COA), *vwn = party_client(h, VWN);
  keten_consent_t real;
  s_grant(coa, subject, GGZ, BIT(K_IDENTITY), P_ZORG, &real);
  /* an operator with write access to the store copies COA's consent
   * record into a row that names the volunteer for HEALTH: the broker's
   * policy check at disclosure would pass for IDENTITY, the record's
   * signature is COA's own, but it is not what COA signed */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(h->store, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char *msg = NULL;
  if (sqlite3_exec(db,
                   "INSERT INTO consent (consent_id, subject, recorded_by, "
                   "recipient, sections, purpose, basis, valid_from_ms, "
                   "valid_until_ms, record, has_legal_reference) SELECT "
                   "randomblob(16), subject, recorded_by, 'vwn:zeeland', 2, "
                   "5, basis, valid_from_ms, valid_until_ms, record, 0 FROM "
                   "consent",
                   NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("insert: %s", msg);
  sqlite3_close(db);
  /* COA's library checks what PREPARE offers and seals to nobody */
  keten_put_result_t res;
  assert_int_equal(keten_client_put(coa, subject, K_IDENTITY, IDENTITY_JSON,
                                    strlen(IDENTITY_JSON), &res),
                   KETEN_ERR_EVIDENCE);
  assert_non_null(strstr(keten_client_error(coa), VWN));
  assert_int_equal(party_sql(h, "SELECT count(*) FROM section"), 0);
  assert_int_equal(s_copies_held(h, VWN, COA, K_IDENTITY), 0);
  assert_int_equal(s_fetch_kinds(vwn, subject, "Amira"), 0);
}

static void test_entry_of_another_root_not_admitted(void **state) {
  harness_t *h = *state;
  /* a rogue operator installs an entry of its own making while ketend
   * runs: the reload leaves it out, and its key is refused */
  keten_root_key_t rogue;
  keten_keys_t keys;
  assert_int_equal(keten_root_key_generate(&rogue), KETEN_OK);
  assert_int_equal(keten_keys_generate(&keys, "vwn:rogue"), KETEN_OK);
  int64_t now = party_wall_ms();
  assert_int_equal(harness_install_entry(h, "vwn:rogue", 3, &keys, now - 1000,
                                         now + DAY_MS, &rogue),
                   0);
  int loads = harness_log_count(h, "registry: loaded");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "registry: loaded", loads + 1, WAIT_MS),
                   0);
  assert_true(harness_log_count(h, "not signed by the chain root") >= 1);
  keten_client_t *c = party_track(harness_client(h, &keys, 2000, -1));
  int64_t rtt = 0;
  assert_int_equal(keten_client_ping(c, "x", 1, &rtt), KETEN_ERR_AUTH);
  /* everyone else is still served */
  assert_int_equal(keten_client_ping(party_client(h, COA), "x", 1, &rtt),
                   KETEN_OK);
  keten_root_key_wipe(&rogue);
  keten_keys_wipe(&keys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_colluding_volunteers, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_operator_grants_nothing, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_revocation_authority, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_prepare_is_no_oracle, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_prepare_rate_limit_and_consent_cap,
                                      s_setup_limited, s_teardown),
      cmocka_unit_test_setup_teardown(test_unknown_fields_refused, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_policy_refusals, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_key_rotation, s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_operator_forges_consent_row,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_entry_of_another_root_not_admitted,
                                      s_setup, s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
