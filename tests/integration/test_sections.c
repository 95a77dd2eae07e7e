/* Integration tests of sealed sections, consent and durable delivery over a
 * real ketend (ipc) with the four example partners of the demo chain:
 * coa, gemeente:0716, vwn:zeeland and ggz:zeeland. Every case starts a
 * fresh broker, and ends by stopping it and checking `keten audit verify`
 * on its store. */
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
#define GEMEENTE "gemeente:0716"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"

#define BIT(kind) (UINT64_C(1) << (kind))
#define DAY_MS (UINT64_C(24) * 3600 * 1000)

/* Client timeouts are generous (valgrind, slow CI); the tests return as
 * soon as what they wait for has arrived. */
#define CLIENT_TIMEOUT_MS 10000
#define WAIT_MS 10000
/* How long "nothing more arrives" is watched. */
#define QUIET_MS 1000

/* Fictional V-nummers (the example statushouder's, and a second one). */
static const char *const V_AMIRA = "2931847560";
static const char *const V_OTHER = "1029384756";

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", "
    "\"birth_date\": \"1991-03-14\", \"nationality\": \"SYR\"}";
static const char STORY_JSON[] =
    "{\"language\": \"ar\", \"told_to\": \"coa\", \"text\": \"Ik was "
    "apotheker in Homs.\"}";
static const char STORY2_JSON[] =
    "{\"language\": \"ar\", \"told_to\": \"coa\", \"text\": \"Ik was "
    "apotheker in Homs. Mijn man wacht in Turkije op gezinshereniging.\"}";
static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\", "
    "\"urgent\": false}";
static const char CARE_JSON[] =
    "{\"intake\": \"2026-08-20\", \"advice_for_work\": \"max 16 uur per "
    "week\", \"shareable_summary\": true}";

/* ---- fixture --------------------------------------------------------------
 */

typedef struct {
  int ack_timeout_ms; /* 0: ketend's default (30 s) */
  const char *conf;   /* ketend.conf lines, or NULL */
} s_config_t;

static const s_config_t DEFAULT_ACK = {0, NULL};
static const s_config_t SHORT_ACK = {500, NULL};
static const s_config_t SMALL_AUTHOR_BUDGET = {0, "max_author_bytes = 1048576\n"};

static int s_setup(void **state) {
  const s_config_t *cfg = *state;
  harness_t *h = harness_new(1);
  if (!h)
    return -1;
  if (cfg && cfg->ack_timeout_ms) {
    snprintf(h->extra_args[h->n_extra++], 64, "--ack-timeout-ms");
    snprintf(h->extra_args[h->n_extra++], 64, "%d", cfg->ack_timeout_ms);
  }
  if ((cfg && cfg->conf && harness_config(h, cfg->conf) != 0) ||
      harness_start(h) != 0) {
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

/* ---- helpers --------------------------------------------------------------
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

static void s_subject(const char *v_nummer, uint8_t subject[32]) {
  uint8_t chain[KETEN_CHAIN_KEY_BYTES];
  memset(chain, 0x5a, sizeof chain); /* a fixed test chain key */
  assert_int_equal(keten_subject_id(chain, v_nummer, subject), KETEN_OK);
}

/* Records a consent of c for recipient over sections (bit set). */
static void s_grant(keten_client_t *c, const uint8_t subject[32],
                    const char *recipient, uint64_t sections, int purpose,
                    keten_consent_t *out) {
  keten_consent_t k;
  memset(&k, 0, sizeof k);
  memcpy(k.subject, subject, 32);
  snprintf(k.recipient, sizeof k.recipient, "%s", recipient);
  k.sections = sections;
  k.purpose = purpose;
  k.basis = keten_basis_from_name("CONSENT");
  snprintf(k.evidence_ref, sizeof k.evidence_ref, "coa-form-2026-0611-17");
  k.valid_from_ms = s_wall_ms() - 60000;
  k.valid_until_ms = s_wall_ms() + 365 * DAY_MS;
  keten_err_t rc = keten_client_consent_grant(c, &k);
  if (rc != KETEN_OK)
    fail_msg("consent for %s: %s: %s", recipient, keten_strerror(rc),
             keten_client_error(c));
  if (out)
    *out = k;
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

/* Asserts that res was queued for exactly the participants in ids. */
static void s_assert_queued(const keten_put_result_t *res,
                            const char *const *ids, size_t n) {
  assert_int_equal(res->n_queued, n);
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (size_t j = 0; j < res->n_queued && j < 16; j++)
      found |= strcmp(res->queued[j], ids[i]) == 0;
    if (!found)
      fail_msg("section not queued for %s", ids[i]);
  }
}

/* Deliveries handed to the application. */
typedef struct {
  int kind;
  char author[KETEN_ID_MAX + 1];
  uint64_t version;
  uint64_t seq;
  keten_err_t status;
  char json[1024];
  size_t json_len;
  uint8_t hash[32]; /* BLAKE2b of the whole plaintext */
} s_got_t;

typedef struct {
  s_got_t got[64];
  size_t n;     /* accepted */
  size_t calls; /* every call of the callback */
  int refuse;   /* return non-zero: do not accept (not acked) */
  uint64_t refused_seq;
} s_inbox_t;

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_inbox_t *in = arg;
  in->calls++;
  if (in->refuse) {
    in->refused_seq = seq;
    return 1;
  }
  if (in->n == sizeof in->got / sizeof in->got[0])
    return 1;
  s_got_t *g = &in->got[in->n++];
  memset(g, 0, sizeof *g);
  g->seq = seq;
  g->status = status;
  if (s) {
    g->kind = s->header.kind;
    snprintf(g->author, sizeof g->author, "%s", s->header.author);
    g->version = s->header.version;
    snprintf(g->json, sizeof g->json, "%s", s->json);
    g->json_len = s->json_len;
    crypto_generichash(g->hash, sizeof g->hash, (const uint8_t *)s->json,
                       s->json_len, NULL, 0);
  }
  return 0;
}

/* Polls until the inbox saw at least want callback calls, or WAIT_MS. */
static void s_poll_until(keten_client_t *c, s_inbox_t *in, size_t want) {
  int64_t deadline = s_mono_ms() + WAIT_MS;
  while (in->calls < want && s_mono_ms() < deadline)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, in, NULL),
                     KETEN_OK);
  if (in->calls < want)
    fail_msg("only %zu of %zu deliveries arrived in %d ms", in->calls, want,
             WAIT_MS);
}

/* Polls for ms and returns how many callback calls came meanwhile. */
static size_t s_poll_quiet(keten_client_t *c, s_inbox_t *in, int ms) {
  size_t before = in->calls;
  int64_t deadline = s_mono_ms() + ms;
  while (s_mono_ms() < deadline)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, in, NULL),
                     KETEN_OK);
  return in->calls - before;
}

/* A round trip: when it returns, the broker has processed every frame c
 * sent before (acks are one-way). */
static void s_settle(keten_client_t *c) {
  assert_int_equal(keten_client_ping(c, "settle", 6, NULL), KETEN_OK);
}

static const s_got_t *s_find_got(const s_inbox_t *in, int kind,
                                 const char *author) {
  for (size_t i = 0; i < in->n; i++)
    if (in->got[i].kind == kind && strcmp(in->got[i].author, author) == 0)
      return &in->got[i];
  return NULL;
}

typedef struct {
  int kind;
  const char *author;
  const char *json;
} s_want_t;

/* Fetches subject as c and asserts it returns exactly want[0..n). */
static void s_expect_fetch(keten_client_t *c, const uint8_t subject[32],
                           const s_want_t *want, size_t n) {
  keten_section_t *secs = NULL;
  size_t got = 0;
  keten_err_t rc = keten_client_fetch(c, subject, &secs, &got);
  if (rc != KETEN_OK)
    fail_msg("fetch: %s: %s", keten_strerror(rc), keten_client_error(c));
  assert_int_equal(got, n);
  for (size_t i = 0; i < n; i++) {
    const keten_section_t *s = NULL;
    for (size_t j = 0; j < got; j++)
      if (secs[j].header.kind == want[i].kind &&
          strcmp(secs[j].header.author, want[i].author) == 0)
        s = &secs[j];
    if (!s)
      fail_msg("fetch lacks %s by %s", keten_section_kind_name(want[i].kind),
               want[i].author);
    assert_memory_equal(s->header.subject, subject, 32);
    assert_string_equal(s->json, want[i].json);
    assert_int_equal(s->json_len, strlen(want[i].json));
  }
  keten_sections_free(secs, got);
}

static void s_expect_fetch_refused(keten_client_t *c, const uint8_t subject[32],
                                   int code) {
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(c, subject, &secs, &n), KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(c), code);
  assert_null(secs);
  assert_int_equal(n, 0);
}

static char *s_hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  return out;
}

/* The string value of "key" in a compact JSON line (no escapes needed for
 * the fields read here), or "" when absent. */
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

/* `keten audit subject --store DB [--all] HEX`: stdout (caller frees). */
static char *s_audit_subject(harness_t *h, const uint8_t subject[32], int all) {
  char hex[65];
  s_hex(subject, 32, hex);
  const char *argv[] = {"audit",  "subject",           "--store",
                        h->store, all ? "--all" : hex, all ? hex : NULL,
                        NULL};
  char *out = NULL;
  assert_int_equal(harness_run_cli(h, argv, &out), 0);
  assert_non_null(out);
  return out;
}

/* Counts report lines matching event, status, by, to (NULL: any). */
static int s_count_section(const char *report, const char *event,
                           const char *status, const char *by, const char *to,
                           const char *section) {
  int n = 0;
  const char *line = report;
  while (line && *line) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char one[1024], f[128];
    snprintf(one, sizeof one, "%.*s", (int)len, line);
    if ((!event || !strcmp(s_field(one, "event", f, sizeof f), event)) &&
        (!status || !strcmp(s_field(one, "status", f, sizeof f), status)) &&
        (!by || !strcmp(s_field(one, "by", f, sizeof f), by)) &&
        (!to || !strcmp(s_field(one, "to", f, sizeof f), to)) &&
        (!section || !strcmp(s_field(one, "section", f, sizeof f), section)))
      n++;
    line = nl ? nl + 1 : NULL;
  }
  return n;
}

static int s_count_lines(const char *report, const char *event,
                         const char *status, const char *by, const char *to) {
  return s_count_section(report, event, status, by, to, NULL);
}

/* Writes the broker's public key file next to the store. */
static const char *s_broker_pub(harness_t *h, char *path, size_t cap) {
  snprintf(path, cap, "%s/broker.pub", h->dir);
  assert_int_equal(keten_keys_save(&h->broker, NULL, path, 1), KETEN_OK);
  return path;
}

/* Runs `keten audit verify` on the store; returns its exit status and
 * leaves its stdout in out (caller frees). */
static int s_audit_verify(harness_t *h, char **out) {
  char pub[320];
  const char *argv[] = {
      "audit",  "verify",       "--store",
      h->store, "--broker-key", s_broker_pub(h, pub, sizeof pub),
      NULL};
  return harness_run_cli(h, argv, out);
}

/* Stops the broker (cleanly) and asserts that the audit chain verifies. */
static void s_stop_and_verify(harness_t *h) {
  assert_int_equal(harness_stop(h), 0);
  char *out = NULL;
  int rc = s_audit_verify(h, &out);
  if (rc != 0 || !out || strncmp(out, "audit chain OK", 14) != 0)
    fail_msg("keten audit verify exited %d: %s", rc, out ? out : "");
  free(out);
}

/* ---- raw PUT over a CURVE socket ----------------------------------------- */

/* Seals json as section (subject, kind, author, version) with the keys of
 * signer, wrapped for the signer (labelled author) and recipients. */
static Keten__SealedSection *s_seal(harness_t *h, const uint8_t subject[32],
                                    int kind, const char *author,
                                    uint64_t version, const char *signer,
                                    const char *const *recipients, size_t n,
                                    const char *json) {
  keten_section_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.subject, subject, 32);
  hd.kind = kind;
  snprintf(hd.author, sizeof hd.author, "%s", author);
  hd.version = version;
  hd.created_at_ms = s_wall_ms();
  seal_recipient_t r[4];
  assert_true(n <= 4);
  for (size_t i = 0; i < n; i++) {
    r[i].participant_id = recipients[i];
    r[i].sealing_key = harness_partner(h, recipients[i])->keys.sealing_pk;
  }
  keten_err_t err = KETEN_OK;
  Keten__SealedSection *s = seal_section(
      &hd, json, strlen(json), &harness_partner(h, signer)->keys, r, n, &err);
  assert_non_null(s);
  return s;
}

/* Packs a PUT of s with fresh message ids; *len gets its length. */
static uint8_t *s_put_frame(const Keten__SealedSection *s, size_t *len) {
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = (Keten__SealedSection *)s;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_PUT;
  env.put = &put;
  uint8_t *frame = envelope_pack(&env, len);
  assert_non_null(frame);
  return frame;
}

/* Sends frame on sock and returns the decoded reply. */
static Keten__Envelope *s_raw_exchange(void *sock, const uint8_t *frame,
                                       size_t len) {
  assert_true(zmq_send(sock, frame, len, 0) >= 0);
  static uint8_t buf[1 << 17];
  int n = harness_recv(sock, buf, sizeof buf, CLIENT_TIMEOUT_MS);
  assert_true(n > 0);
  Keten__Envelope *env = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
  assert_non_null(env);
  return env;
}

static Keten__Envelope *s_raw_put(void *sock, const Keten__SealedSection *s) {
  size_t len;
  uint8_t *frame = s_put_frame(s, &len);
  Keten__Envelope *reply = s_raw_exchange(sock, frame, len);
  free(frame);
  return reply;
}

static void s_expect_error(Keten__Envelope *reply, int code) {
  if (reply->body_case != KETEN__ENVELOPE__BODY_ERROR)
    fail_msg("expected %s, got body %d", keten_error_code_name(code),
             (int)reply->body_case);
  if ((int)reply->error->code != code)
    fail_msg("expected %s, got %s: %s", keten_error_code_name(code),
             keten_error_code_name((int)reply->error->code),
             reply->error->reason);
  assert_true(strlen(reply->error->reason) > 0);
  envelope_free(reply);
}

static void s_expect_stored(Keten__Envelope *reply, uint64_t version) {
  if (reply->body_case == KETEN__ENVELOPE__BODY_ERROR)
    fail_msg("PUT refused: %s: %s",
             keten_error_code_name((int)reply->error->code),
             reply->error->reason);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_STORED);
  assert_int_equal(reply->stored->version, version);
  envelope_free(reply);
}

/* ---- the four partners exchange sections -------------------------------- */

/* COA grants each partner its sections and puts IDENTITY, STORY and
 * HEALTH; the GGZ adds a CARE note for the gemeente. Each partner's
 * mailbox and FETCH hold exactly what it may read; the volunteer never
 * gets HEALTH or STORY. */
static void test_four_partners_exchange(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  keten_client_t *coa = s_client(h, COA), *gem = s_client(h, GEMEENTE),
                 *vwn = s_client(h, VWN), *ggz = s_client(h, GGZ);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY"),
            STORY = keten_section_kind_from_name("STORY"),
            HEALTH = keten_section_kind_from_name("HEALTH"),
            CARE = keten_section_kind_from_name("CARE");
  assert_true(IDENTITY > 0 && STORY > 0 && HEALTH > 0 && CARE > 0);

  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY) | BIT(STORY),
          keten_purpose_from_name("INBURGERING"), NULL);
  s_grant(coa, subject, GGZ, BIT(STORY) | BIT(HEALTH),
          keten_purpose_from_name("ZORG"), NULL);
  s_grant(coa, subject, VWN, BIT(IDENTITY),
          keten_purpose_from_name("BEGELEIDING"), NULL);
  s_grant(ggz, subject, GEMEENTE, BIT(CARE),
          keten_purpose_from_name("PARTICIPATIE"), NULL);

  /* The three recipients listen before anything is put. */
  assert_int_equal(keten_client_subscribe(gem, 16), KETEN_OK);
  assert_int_equal(keten_client_subscribe(vwn, 16), KETEN_OK);
  assert_int_equal(keten_client_subscribe(ggz, 16), KETEN_OK);

  keten_put_result_t r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  assert_int_equal(r.version, 1);
  s_assert_queued(&r, (const char *[]){GEMEENTE, VWN}, 2);
  r = s_put(coa, subject, STORY, STORY_JSON);
  s_assert_queued(&r, (const char *[]){GEMEENTE, GGZ}, 2);
  r = s_put(coa, subject, HEALTH, HEALTH_JSON);
  s_assert_queued(&r, (const char *[]){GGZ}, 1);
  r = s_put(ggz, subject, CARE, CARE_JSON);
  s_assert_queued(&r, (const char *[]){GEMEENTE}, 1);

  /* Mailboxes: each recipient gets exactly its sections, in put order. */
  s_inbox_t in_gem = {0}, in_vwn = {0}, in_ggz = {0};
  s_poll_until(gem, &in_gem, 3);
  s_poll_until(vwn, &in_vwn, 1);
  s_poll_until(ggz, &in_ggz, 2);
  assert_int_equal(s_poll_quiet(gem, &in_gem, QUIET_MS), 0);
  assert_int_equal(s_poll_quiet(vwn, &in_vwn, 100), 0);
  assert_int_equal(s_poll_quiet(ggz, &in_ggz, 100), 0);

  assert_int_equal(in_gem.n, 3);
  assert_int_equal(in_gem.got[0].kind, IDENTITY);
  assert_int_equal(in_gem.got[1].kind, STORY);
  assert_int_equal(in_gem.got[2].kind, CARE);
  for (size_t i = 0; i < in_gem.n; i++) {
    assert_int_equal(in_gem.got[i].status, KETEN_OK);
    assert_int_equal(in_gem.got[i].seq, i + 1);
  }
  assert_string_equal(s_find_got(&in_gem, IDENTITY, COA)->json, IDENTITY_JSON);
  assert_string_equal(s_find_got(&in_gem, STORY, COA)->json, STORY_JSON);
  assert_string_equal(s_find_got(&in_gem, CARE, GGZ)->json, CARE_JSON);

  assert_int_equal(in_vwn.n, 1);
  assert_int_equal(in_vwn.got[0].kind, IDENTITY);
  assert_int_equal(in_vwn.got[0].seq, 1);
  assert_string_equal(in_vwn.got[0].json, IDENTITY_JSON);

  assert_int_equal(in_ggz.n, 2);
  assert_string_equal(s_find_got(&in_ggz, STORY, COA)->json, STORY_JSON);
  assert_string_equal(s_find_got(&in_ggz, HEALTH, COA)->json, HEALTH_JSON);
  assert_null(s_find_got(&in_ggz, IDENTITY, COA));

  /* FETCH: the same, and each author also reads its own. */
  s_expect_fetch(gem, subject,
                 (s_want_t[]){{IDENTITY, COA, IDENTITY_JSON},
                              {STORY, COA, STORY_JSON},
                              {CARE, GGZ, CARE_JSON}},
                 3);
  s_expect_fetch(vwn, subject, (s_want_t[]){{IDENTITY, COA, IDENTITY_JSON}}, 1);
  s_expect_fetch(ggz, subject,
                 (s_want_t[]){{STORY, COA, STORY_JSON},
                              {HEALTH, COA, HEALTH_JSON},
                              {CARE, GGZ, CARE_JSON}},
                 3);
  s_expect_fetch(coa, subject,
                 (s_want_t[]){{IDENTITY, COA, IDENTITY_JSON},
                              {STORY, COA, STORY_JSON},
                              {HEALTH, COA, HEALTH_JSON}},
                 3);

  /* The access report names no disclosure to the volunteer but IDENTITY,
   * and its refusals of STORY, HEALTH and CARE are audited. */
  char *report = s_audit_subject(h, subject, 0);
  assert_int_equal(s_count_lines(report, NULL, NULL, NULL, VWN), 2);
  assert_int_equal(
      s_count_lines(report, "keten.section.deliver", "OK", COA, VWN), 1);
  assert_int_equal(s_count_lines(report, "keten.section.fetch", "OK", COA, VWN),
                   1);
  assert_int_equal(
      s_count_lines(report, "keten.section.deliver", "OK", NULL, GEMEENTE), 3);
  assert_int_equal(
      s_count_lines(report, "keten.section.deliver", "OK", NULL, GGZ), 2);
  assert_int_equal(s_count_section(report, NULL, NULL, NULL, VWN, "HEALTH"), 0);
  assert_int_equal(s_count_section(report, NULL, NULL, NULL, VWN, "STORY"), 0);
  assert_int_equal(
      s_count_section(report, NULL, NULL, NULL, GEMEENTE, "HEALTH"), 0);
  free(report);
  report = s_audit_subject(h, subject, 1);
  /* --all reads like the default report: a refused fetch was "to" the
   * reader and "by" (of) the author */
  assert_int_equal(
      s_count_lines(report, "keten.section.fetch.deny", "ERROR", NULL, VWN), 3);
  free(report);

  s_close(&coa);
  s_close(&gem);
  s_close(&vwn);
  s_close(&ggz);
  s_stop_and_verify(h);
}

/* ---- no consent, nothing
 * ----------------------------------------------------- */

/* A partner without consent gets no delivery, its FETCH is refused with
 * ERROR_FORBIDDEN, and the refusal is in the audit log. */
static void test_no_consent_gets_nothing(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY");
  keten_client_t *coa = s_client(h, COA), *vwn = s_client(h, VWN);
  assert_int_equal(keten_client_subscribe(vwn, 16), KETEN_OK);

  /* Before anything is stored the subject is unknown. */
  s_expect_fetch_refused(vwn, subject, KETEN__ERROR_CODE__ERROR_NOT_FOUND);

  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY),
          keten_purpose_from_name("INBURGERING"), NULL);
  keten_put_result_t r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  s_assert_queued(&r, (const char *[]){GEMEENTE}, 1);

  s_inbox_t in = {0};
  assert_int_equal(s_poll_quiet(vwn, &in, QUIET_MS), 0);
  s_expect_fetch_refused(vwn, subject, KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  assert_non_null(strstr(keten_client_error(vwn), "ERROR_FORBIDDEN"));

  /* The PREPARE a volunteer might send names no recipient for it either:
   * its own put reaches nobody (only itself). */
  r = s_put(vwn, subject, keten_section_kind_from_name("SUPPORT"),
            "{\"volunteer_team\": \"Tholen\", \"helped_with\": []}");
  assert_int_equal(r.n_queued, 0);

  char *report = s_audit_subject(h, subject, 1);
  assert_int_equal(
      s_count_lines(report, "keten.section.fetch.deny", "ERROR", COA, VWN), 1);
  /* no disclosure of COA's section to the volunteer */
  assert_int_equal(s_count_lines(report, "keten.section.fetch", "OK", VWN, COA),
                   0);
  assert_int_equal(
      s_count_lines(report, "keten.section.deliver", NULL, COA, VWN), 0);
  free(report);
  report = s_audit_subject(h, subject, 0);
  assert_int_equal(s_count_lines(report, NULL, NULL, COA, VWN), 0);
  free(report);

  s_close(&coa);
  s_close(&vwn);
  s_stop_and_verify(h);
}

/* ---- offline recipients ---------------------------------------------------
 */

/* A recipient that is offline during PUT gets the section when it connects
 * and subscribes; a second session resumes after what the first acked; an
 * unacked delivery comes again to the next session; and a broker restart
 * loses nothing. */
static void test_offline_recipient_gets_it_later(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY"),
            STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa = s_client(h, COA);
  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY) | BIT(STORY),
          keten_purpose_from_name("INBURGERING"), NULL);

  /* 1. put while the gemeente has never connected */
  keten_put_result_t r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  s_assert_queued(&r, (const char *[]){GEMEENTE}, 1);

  keten_client_t *gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  s_inbox_t in = {0};
  s_poll_until(gem, &in, 1);
  assert_int_equal(in.n, 1);
  assert_int_equal(in.got[0].seq, 1);
  assert_int_equal(in.got[0].kind, IDENTITY);
  assert_int_equal(in.got[0].version, 1);
  assert_string_equal(in.got[0].author, COA);
  assert_string_equal(in.got[0].json, IDENTITY_JSON);
  s_settle(gem); /* the ack of seq 1 is processed */
  s_close(&gem);

  /* 2. two more while it is away; a new session gets them, not seq 1 */
  s_put(coa, subject, STORY, STORY_JSON);
  r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  assert_int_equal(r.version, 2);
  gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  memset(&in, 0, sizeof in);
  s_poll_until(gem, &in, 2);
  assert_int_equal(s_poll_quiet(gem, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 2);
  assert_int_equal(in.got[0].seq, 2);
  assert_int_equal(in.got[0].kind, STORY);
  assert_string_equal(in.got[0].json, STORY_JSON);
  assert_int_equal(in.got[1].seq, 3);
  assert_int_equal(in.got[1].kind, IDENTITY);
  assert_int_equal(in.got[1].version, 2);
  s_settle(gem);
  s_close(&gem);

  /* 3. a session that receives but does not ack; the next one gets it */
  s_put(coa, subject, STORY, STORY2_JSON);
  gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  memset(&in, 0, sizeof in);
  in.refuse = 1;
  s_poll_until(gem, &in, 1);
  assert_int_equal(in.calls, 1);
  assert_int_equal(in.refused_seq, 4);
  s_settle(gem);
  s_close(&gem);

  gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  memset(&in, 0, sizeof in);
  s_poll_until(gem, &in, 1);
  assert_int_equal(s_poll_quiet(gem, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 1);
  assert_int_equal(in.got[0].seq, 4);
  assert_int_equal(in.got[0].kind, STORY);
  assert_int_equal(in.got[0].version, 2);
  assert_string_equal(in.got[0].json, STORY2_JSON);
  s_settle(gem);
  s_close(&gem);

  /* 4. queued, then the broker restarts: still there */
  r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  assert_int_equal(r.version, 3);
  s_close(&coa);
  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(harness_start(h), 0);
  gem = s_client(h, GEMEENTE);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  memset(&in, 0, sizeof in);
  s_poll_until(gem, &in, 1);
  assert_int_equal(s_poll_quiet(gem, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 1);
  assert_int_equal(in.got[0].seq, 5);
  assert_int_equal(in.got[0].version, 3);
  s_settle(gem);
  s_close(&gem);
  s_stop_and_verify(h);
}

/* How many audit entries named name have counterparty who (the store is
 * read while ketend runs: WAL allows it). */
static long long s_audit_count(const char *db, const char *name,
                               const char *who) {
  sqlite3 *conn = NULL;
  assert_int_equal(sqlite3_open(db, &conn), SQLITE_OK);
  sqlite3_busy_timeout(conn, 5000);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn,
                                      "SELECT count(*) FROM audit WHERE name "
                                      "= ? AND counterparty = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(conn);
  return n;
}

/* A delivery the application did not accept (callback returned non-zero)
 * comes again on the same connection after the ack timeout, and is then
 * handed to the application (keten.h: "it and later ones are not acked
 * and come again"). The resend is the same delivery: the audit log (and so
 * the person's access report) names it once. Runs with --ack-timeout-ms
 * 500. */
static void test_unaccepted_delivery_comes_again(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa = s_client(h, COA), *ggz = s_client(h, GGZ);
  s_grant(coa, subject, GGZ, BIT(STORY), keten_purpose_from_name("ZORG"), NULL);
  assert_int_equal(keten_client_subscribe(ggz, 8), KETEN_OK);
  s_put(coa, subject, STORY, STORY_JSON);

  s_inbox_t in = {0};
  in.refuse = 1; /* e.g. the disk was full: not stored, not acked */
  s_poll_until(ggz, &in, 1);
  assert_int_equal(in.refused_seq, 1);
  in.refuse = 0;
  /* The broker resends seq 1 after the ack timeout ... */
  assert_int_equal(harness_wait_log(h, "did not ack seq 1..1", 1, WAIT_MS), 0);
  /* ... and it must reach the application, which has not stored it yet. */
  s_poll_until(ggz, &in, 2);
  assert_int_equal(in.n, 1);
  assert_int_equal(in.got[0].seq, 1);
  assert_string_equal(in.got[0].json, STORY_JSON);
  s_settle(ggz);
  assert_int_equal(s_audit_count(h->store, "keten.section.deliver", GGZ), 1);
  s_close(&ggz);
  s_close(&coa);
  s_stop_and_verify(h);
}

/* ---- revocation
 * -------------------------------------------------------------- */

/* v1 reaches the care partner; the consent is revoked; v2 is queued for
 * nobody, its mailbox stays empty and its FETCH is refused. A stale wrap
 * for it (an author that sealed before the revocation) is refused by the
 * broker too. */
static void test_revocation_between_versions(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa = s_client(h, COA), *ggz = s_client(h, GGZ);
  keten_consent_t consent;
  s_grant(coa, subject, GGZ, BIT(STORY), keten_purpose_from_name("ZORG"),
          &consent);
  assert_int_equal(keten_client_subscribe(ggz, 8), KETEN_OK);

  keten_put_result_t r = s_put(coa, subject, STORY, STORY_JSON);
  s_assert_queued(&r, (const char *[]){GGZ}, 1);
  s_inbox_t in = {0};
  s_poll_until(ggz, &in, 1);
  assert_int_equal(in.got[0].seq, 1);
  assert_int_equal(in.got[0].version, 1);
  assert_string_equal(in.got[0].json, STORY_JSON);
  s_settle(ggz);
  s_expect_fetch(ggz, subject, (s_want_t[]){{STORY, COA, STORY_JSON}}, 1);

  assert_int_equal(keten_client_consent_revoke(coa, consent.consent_id, subject,
                                               "ingetrokken door betrokkene", NULL),
                   KETEN_OK);
  keten_consent_t *list = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_consent_list(coa, subject, &list, &n),
                   KETEN_OK);
  assert_int_equal(n, 1);
  assert_true(list[0].revoked);
  assert_string_equal(list[0].revoked_by, COA);
  free(list);

  r = s_put(coa, subject, STORY, STORY2_JSON);
  assert_int_equal(r.version, 2);
  assert_int_equal(r.n_queued, 0);

  /* A stale PREPARE: the author still wraps for the care partner. */
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock);
  Keten__SealedSection *s = s_seal(h, subject, STORY, COA, 3, COA,
                                   (const char *[]){GGZ}, 1, STORY2_JSON);
  Keten__Envelope *reply = s_raw_put(sock, s);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_STORED);
  assert_int_equal(reply->stored->n_queued_for, 0);
  assert_int_equal(reply->stored->n_refused_for, 1);
  assert_string_equal(reply->stored->refused_for[0], GGZ);
  envelope_free(reply);
  seal_section_free(s);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  assert_int_equal(s_poll_quiet(ggz, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 1);
  s_expect_fetch_refused(ggz, subject, KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  /* the author still reads its latest version */
  s_expect_fetch(coa, subject, (s_want_t[]){{STORY, COA, STORY2_JSON}}, 1);

  s_close(&coa);
  s_close(&ggz);
  s_stop_and_verify(h);
}

/* A revocation drops what was queued for an offline recipient and erases
 * its wraps: it comes back to nothing. */
static void test_revocation_drops_pending(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_OTHER, subject);
  const int HEALTH = keten_section_kind_from_name("HEALTH");
  keten_client_t *coa = s_client(h, COA);
  keten_consent_t consent;
  s_grant(coa, subject, GGZ, BIT(HEALTH), keten_purpose_from_name("ZORG"),
          &consent);
  keten_put_result_t r = s_put(coa, subject, HEALTH, HEALTH_JSON);
  s_assert_queued(&r, (const char *[]){GGZ}, 1);
  assert_int_equal(keten_client_consent_revoke(coa, consent.consent_id, subject,
                                               "ingetrokken", NULL),
                   KETEN_OK);

  keten_client_t *ggz = s_client(h, GGZ);
  assert_int_equal(keten_client_subscribe(ggz, 8), KETEN_OK);
  s_inbox_t in = {0};
  assert_int_equal(s_poll_quiet(ggz, &in, QUIET_MS), 0);
  s_expect_fetch_refused(ggz, subject, KETEN__ERROR_CODE__ERROR_FORBIDDEN);

  char *report = s_audit_subject(h, subject, 1);
  assert_non_null(strstr(report, "1 key wraps erased, 1 pending deliveries "
                                 "dropped"));
  assert_int_equal(
      s_count_lines(report, "keten.consent.revoke", "OK", COA, GGZ), 1);
  free(report);
  report = s_audit_subject(h, subject, 0);
  assert_int_equal(s_count_lines(report, NULL, NULL, NULL, GGZ), 0);
  free(report);

  s_close(&coa);
  s_close(&ggz);
  s_stop_and_verify(h);
}

/* ---- refused PUTs
 * -------------------------------------------------------------- */

/* A section whose signature does not verify is refused with
 * ERROR_BAD_SIGNATURE and nothing is stored. */
static void test_forged_signature_refused(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY");
  keten_client_t *coa = s_client(h, COA), *gem = s_client(h, GEMEENTE);
  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY),
          keten_purpose_from_name("INBURGERING"), NULL);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);

  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock);
  const char *const to_gem[] = {GEMEENTE};

  /* one flipped bit of the signature */
  Keten__SealedSection *s =
      s_seal(h, subject, IDENTITY, COA, 1, COA, to_gem, 1, IDENTITY_JSON);
  s->signature.data[17] ^= 0x01;
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);
  seal_section_free(s);

  /* one flipped byte of the ciphertext (covered by the signature) */
  s = s_seal(h, subject, IDENTITY, COA, 1, COA, to_gem, 1, IDENTITY_JSON);
  s->ciphertext.data[0] ^= 0x80;
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);
  seal_section_free(s);

  /* a version changed after signing */
  s = s_seal(h, subject, IDENTITY, COA, 1, COA, to_gem, 1, IDENTITY_JSON);
  s->header->version = 7;
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);
  seal_section_free(s);

  /* signed with someone else's key, though it names coa as author */
  s = s_seal(h, subject, IDENTITY, COA, 1, GEMEENTE, to_gem, 1, IDENTITY_JSON);
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_BAD_SIGNATURE);
  seal_section_free(s);

  /* nothing was stored or queued */
  s_expect_fetch_refused(coa, subject, KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  s_inbox_t in = {0};
  assert_int_equal(s_poll_quiet(gem, &in, 300), 0);

  /* the genuine section is accepted on the same socket, as version 1 */
  s = s_seal(h, subject, IDENTITY, COA, 1, COA, to_gem, 1, IDENTITY_JSON);
  s_expect_stored(s_raw_put(sock, s), 1);
  seal_section_free(s);
  s_poll_until(gem, &in, 1);
  assert_string_equal(in.got[0].json, IDENTITY_JSON);
  s_settle(gem);

  zmq_close(sock);
  zmq_ctx_term(ctx);
  char *report = s_audit_subject(h, subject, 1);
  assert_int_equal(
      s_count_lines(report, "keten.section.put", "ERROR", COA, NULL), 4);
  free(report);
  s_close(&coa);
  s_close(&gem);
  s_stop_and_verify(h);
}

/* A section whose header names another author is refused with
 * ERROR_NOT_AUTHOR, whoever signed it. */
static void test_not_author_refused(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa = s_client(h, COA), *ggz = s_client(h, GGZ);
  s_grant(coa, subject, GGZ, BIT(STORY), keten_purpose_from_name("ZORG"), NULL);
  assert_int_equal(keten_client_subscribe(ggz, 8), KETEN_OK);

  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, GEMEENTE)->keys);
  assert_non_null(sock);
  const char *const to_ggz[] = {GGZ};

  /* the gemeente writes a "coa" section signed with its own key */
  Keten__SealedSection *s =
      s_seal(h, subject, STORY, COA, 1, GEMEENTE, to_ggz, 1, STORY_JSON);
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_NOT_AUTHOR);
  seal_section_free(s);

  /* the gemeente passes on a section genuinely sealed and signed by coa */
  s = s_seal(h, subject, STORY, COA, 1, COA, to_ggz, 1, STORY_JSON);
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_NOT_AUTHOR);
  seal_section_free(s);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  s_expect_fetch_refused(coa, subject, KETEN__ERROR_CODE__ERROR_NOT_FOUND);
  s_inbox_t in = {0};
  assert_int_equal(s_poll_quiet(ggz, &in, 300), 0);
  char *report = s_audit_subject(h, subject, 1);
  assert_int_equal(
      s_count_lines(report, "keten.section.put", "ERROR", GEMEENTE, COA), 2);
  free(report);

  /* coa's own put of version 1 still works */
  keten_put_result_t r = s_put(coa, subject, STORY, STORY_JSON);
  assert_int_equal(r.version, 1);
  s_assert_queued(&r, to_ggz, 1);
  s_poll_until(ggz, &in, 1);
  assert_string_equal(in.got[0].author, COA);
  s_settle(ggz);

  s_close(&coa);
  s_close(&ggz);
  s_stop_and_verify(h);
}

/* The same PUT frame sent twice: the second is refused with ERROR_REPLAYED
 * and stores nothing; the same section under a new message id is a version
 * conflict (ERROR_CONFLICT). */
static void test_replayed_message_refused(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY");
  keten_client_t *coa = s_client(h, COA), *gem = s_client(h, GEMEENTE);
  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY),
          keten_purpose_from_name("INBURGERING"), NULL);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);

  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock);
  Keten__SealedSection *s =
      s_seal(h, subject, IDENTITY, COA, 1, COA, (const char *[]){GEMEENTE}, 1,
             IDENTITY_JSON);
  size_t len;
  uint8_t *frame = s_put_frame(s, &len);
  Keten__Envelope *reply = s_raw_exchange(sock, frame, len);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_STORED);
  assert_int_equal(reply->stored->n_queued_for, 1);
  envelope_free(reply);
  s_expect_error(s_raw_exchange(sock, frame, len),
                 KETEN__ERROR_CODE__ERROR_REPLAYED);
  /* replayed on a second connection of the same sender, too */
  void *sock2 = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock2);
  s_expect_error(s_raw_exchange(sock2, frame, len),
                 KETEN__ERROR_CODE__ERROR_REPLAYED);
  free(frame);
  /* a new message id with the same version */
  s_expect_error(s_raw_put(sock, s), KETEN__ERROR_CODE__ERROR_CONFLICT);
  seal_section_free(s);
  zmq_close(sock2);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  /* exactly one delivery */
  s_inbox_t in = {0};
  s_poll_until(gem, &in, 1);
  assert_int_equal(s_poll_quiet(gem, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 1);
  assert_int_equal(in.got[0].version, 1);
  s_settle(gem);
  char *report = s_audit_subject(h, subject, 1);
  assert_int_equal(s_count_lines(report, "keten.section.put", "OK", COA, NULL),
                   1);
  free(report);
  s_close(&coa);
  s_close(&gem);
  s_stop_and_verify(h);
}


/* ---- the largest section ------------------------------------------------ */

/* A JSON object of exactly len bytes: {..., "text":"ccc...c"} (caller frees). */
static char *s_big_json(size_t len, char c) {
  char *j = malloc(len + 1);
  assert_non_null(j);
  /* the required fields of IDENTITY and of STORY, so that it conforms to
   * the schema of either kind (docs/sections.md 3) */
  static const char head[] = "{\"given_name\":\"g\",\"family_name\":\"f\","
                             "\"birth_date\":\"1991\",\"language\":\"ar\",\"text\":\"";
  memcpy(j, head, sizeof head - 1);
  memset(j + sizeof head - 1, c, len - (sizeof head - 1) - 2);
  memcpy(j + len - 2, "\"}", 2);
  j[len] = '\0';
  return j;
}

static void s_assert_got(const s_got_t *g, int kind, uint64_t version,
                         const char *json) {
  uint8_t hash[32];
  size_t len = strlen(json);
  crypto_generichash(hash, sizeof hash, (const uint8_t *)json, len, NULL, 0);
  assert_int_equal(g->status, KETEN_OK);
  assert_int_equal(g->kind, kind);
  assert_int_equal(g->version, version);
  assert_int_equal(g->json_len, len);
  assert_memory_equal(g->hash, hash, sizeof hash);
}

/* max_author_bytes: an author's stored sections (every version) stay
 * within the budget; the PUT beyond it stores nothing, gets ERROR_QUOTA,
 * and the refusals are one keten.budget.refused aggregate. Runs with
 * max_author_bytes = 1 MiB. */
static void test_author_bytes_budget(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int STORY = keten_section_kind_from_name("STORY"),
            IDENTITY = keten_section_kind_from_name("IDENTITY");
  keten_client_t *coa = s_client(h, COA);
  char *big = s_big_json(CANON_MAX_SECTION_PLAINTEXT, 's');
  keten_put_result_t r = s_put(coa, subject, STORY, big);
  assert_int_equal(r.version, 1);
  /* 786 448 bytes stored: a second of the same size would pass 1 MiB */
  for (int i = 0; i < 3; i++) {
    keten_put_result_t none;
    assert_int_equal(keten_client_put(coa, subject, STORY, big, strlen(big),
                                      &none),
                     KETEN_ERR_REMOTE);
    assert_int_equal(keten_client_remote_code(coa),
                     KETEN__ERROR_CODE__ERROR_QUOTA);
    assert_non_null(strstr(keten_client_error(coa), "max_author_bytes"));
  }
  /* what still fits is stored */
  r = s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  assert_int_equal(r.version, 1);
  free(big);
  s_close(&coa);
  assert_int_equal(harness_stop(h), 0);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(h->store, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "SELECT (SELECT count(*) FROM section WHERE kind = ?),"
                         " (SELECT count(*) || ':' || "
                         "  sum(CAST(detail AS INTEGER)) FROM audit WHERE "
                         "  name = 'keten.budget.refused' AND actor = ? AND "
                         "  detail LIKE '% refusals of max_author_bytes in % "
                         "s (limit 1048576)'),"
                         " (SELECT bytes FROM author_bytes WHERE author = ?)",
                         -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_int(st, 1, STORY);
  sqlite3_bind_text(st, 2, COA, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, COA, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1); /* only version 1 */
  /* the 3 refusals in aggregates, not an entry each: the first is
   * written at the next sweep, the others with it or at the stop */
  const char *agg = (const char *)sqlite3_column_text(st, 1);
  assert_non_null(agg);
  if (strcmp(agg, "1:3") != 0 && strcmp(agg, "2:3") != 0)
    fail_msg("budget aggregates (count:sum) %s, want 1:3 or 2:3", agg);
  long long bytes = sqlite3_column_int64(st, 2);
  assert_true(bytes > (long long)CANON_MAX_SECTION_PLAINTEXT &&
              bytes < 1048576);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* CANON_MAX_SECTION_PLAINTEXT (docs/protocol.md 12.1): sections of exactly
 * that size are stored, delivered (two of them and a small one waiting in
 * one mailbox) and fetched, and open on the recipient's side; one byte
 * more is refused by libketen before anything is sent, and a raw PUT of it,
 * validly signed and with 64 wraps, by the broker with ERROR_TOO_LARGE
 * (audited), storing nothing. */
static void test_max_section_size(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY"),
            STORY = keten_section_kind_from_name("STORY");
  keten_client_t *coa = s_client(h, COA), *gem = s_client(h, GEMEENTE);
  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY) | BIT(STORY),
          keten_purpose_from_name("INBURGERING"), NULL);
  const size_t MAX = CANON_MAX_SECTION_PLAINTEXT;
  char *big_story = s_big_json(MAX, 's'), *big_id = s_big_json(MAX, 'i');
  char *too_big = s_big_json(MAX + 1, 'x');

  /* the gemeente is offline: all three wait in its mailbox */
  s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  keten_put_result_t r = s_put(coa, subject, STORY, big_story);
  assert_int_equal(r.version, 1);
  s_assert_queued(&r, (const char *[]){GEMEENTE}, 1);
  r = s_put(coa, subject, IDENTITY, big_id);
  assert_int_equal(r.version, 2);
  s_assert_queued(&r, (const char *[]){GEMEENTE}, 1);

  /* one byte more: refused locally, nothing sent */
  keten_put_result_t none;
  assert_int_equal(
      keten_client_put(coa, subject, STORY, too_big, MAX + 1, &none),
      KETEN_ERR_INVALID);
  assert_non_null(strstr(keten_client_error(coa), "larger than the largest"));

  /* ... and by the broker, from a client that does not check: sealed at
   * the maximum, one byte appended to the ciphertext and signed again, and
   * wrapped for 64 (the frame still fits max_frame_bytes) */
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, COA)->keys);
  assert_non_null(sock);
  Keten__SealedSection *s = s_seal(h, subject, STORY, COA, 2, COA,
                                   (const char *[]){GEMEENTE}, 1, big_story);
  uint8_t *ct = realloc(s->ciphertext.data, s->ciphertext.len + 1);
  assert_non_null(ct);
  s->ciphertext.data = ct;
  ct[s->ciphertext.len++] = 0x5a;
  assert_int_equal(canon_sign_section(s, harness_partner(h, COA)->keys.signing_sk,
                                      s->signature.data),
                   0);
  assert_int_equal(canon_verify_section(s, harness_partner(h, COA)->keys.signing_pk),
                   0);
  Keten__KeyWrap extra[CANON_MAX_WRAPS];
  char extra_ids[CANON_MAX_WRAPS][16];
  uint8_t wrapbytes[CANON_WRAP_BYTES] = {0};
  Keten__KeyWrap *wraps[CANON_MAX_WRAPS];
  for (size_t i = 0; i < CANON_MAX_WRAPS; i++) {
    if (i < s->n_wraps) {
      wraps[i] = s->wraps[i];
      continue;
    }
    keten__key_wrap__init(&extra[i]);
    snprintf(extra_ids[i], sizeof extra_ids[i], "extra:%zu", i);
    extra[i].recipient = extra_ids[i];
    extra[i].wrap.data = wrapbytes;
    extra[i].wrap.len = sizeof wrapbytes;
    wraps[i] = &extra[i];
  }
  Keten__KeyWrap **own = s->wraps;
  size_t n_own = s->n_wraps;
  s->wraps = wraps;
  s->n_wraps = CANON_MAX_WRAPS;
  size_t len;
  uint8_t *frame = s_put_frame(s, &len);
  assert_true(len <= ENVELOPE_DEFAULT_MAX_FRAME);
  Keten__Envelope *reply = s_raw_exchange(sock, frame, len);
  free(frame);
  s->wraps = own;
  s->n_wraps = n_own;
  seal_section_free(s);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_ERROR);
  assert_int_equal(reply->error->code, KETEN__ERROR_CODE__ERROR_TOO_LARGE);
  assert_non_null(strstr(reply->error->reason, "ciphertext of 786449 bytes"));
  envelope_free(reply);
  zmq_close(sock);
  zmq_ctx_term(ctx);

  /* the gemeente subscribes: the three arrive, in order, and open */
  s_inbox_t in = {0};
  assert_int_equal(keten_client_subscribe(gem, 16), KETEN_OK);
  s_poll_until(gem, &in, 3);
  assert_int_equal(s_poll_quiet(gem, &in, QUIET_MS), 0);
  assert_int_equal(in.n, 3);
  s_assert_got(&in.got[0], IDENTITY, 1, IDENTITY_JSON);
  s_assert_got(&in.got[1], STORY, 1, big_story);
  s_assert_got(&in.got[2], IDENTITY, 2, big_id);
  s_settle(gem);

  /* FETCH: one reply with both largest sections (above max_frame_bytes,
   * within what libketen accepts) */
  s_want_t want[] = {{IDENTITY, COA, big_id}, {STORY, COA, big_story}};
  s_expect_fetch(gem, subject, want, 2);

  char *report = s_audit_subject(h, subject, 1);
  assert_int_equal(
      s_count_lines(report, "keten.section.put", "ERROR", COA, NULL), 1);
  assert_int_equal(s_count_lines(report, "keten.section.put", "OK", COA, NULL),
                   3);
  free(report);
  free(big_story);
  free(big_id);
  free(too_big);
  s_close(&coa);
  s_close(&gem);
  s_stop_and_verify(h);
}

/* ---- the audit chain
 * ------------------------------------------------------------ */

typedef struct {
  uint64_t seq;
  char name[48];
} s_entry_t;

static int s_find_deny(const audit_entry_t *e, void *arg) {
  s_entry_t *f = arg;
  if (strcmp(e->name, "keten.section.fetch.deny") != 0)
    return 0;
  f->seq = e->seq;
  snprintf(f->name, sizeof f->name, "%s", e->name);
  return 1;
}

/* Changes one byte of the detail column of audit entry seq (xor x), as
 * someone with write access to the database file might. */
static void s_flip_detail(const char *db, uint64_t seq, unsigned char x) {
  sqlite3 *conn = NULL;
  assert_int_equal(sqlite3_open(db, &conn), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn,
                                      "SELECT detail FROM audit WHERE seq = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char detail[256];
  snprintf(detail, sizeof detail, "%s",
           (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  size_t at = strlen(detail) / 2;
  assert_true(at > 0);
  detail[at] = (char)(detail[at] ^ x);
  assert_int_equal(
      sqlite3_prepare_v2(conn, "UPDATE audit SET detail = ? WHERE seq = ?", -1,
                         &st, NULL),
      SQLITE_OK);
  sqlite3_bind_text(st, 1, detail, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(conn), 1);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_close(conn), SQLITE_OK);
}

/* After consents, puts, deliveries, acks, fetches, refusals and a
 * revocation the chain verifies; one byte changed in one entry's detail
 * makes `keten audit verify` fail naming that entry; changed back, it
 * verifies again. */
static void test_audit_verify_and_tamper(void **state) {
  harness_t *h = *state;
  uint8_t subject[32];
  s_subject(V_AMIRA, subject);
  const int IDENTITY = keten_section_kind_from_name("IDENTITY"),
            HEALTH = keten_section_kind_from_name("HEALTH");
  keten_client_t *coa = s_client(h, COA), *gem = s_client(h, GEMEENTE),
                 *vwn = s_client(h, VWN), *ggz = s_client(h, GGZ);
  keten_consent_t to_ggz;
  s_grant(coa, subject, GEMEENTE, BIT(IDENTITY),
          keten_purpose_from_name("INBURGERING"), NULL);
  s_grant(coa, subject, GGZ, BIT(HEALTH), keten_purpose_from_name("ZORG"),
          &to_ggz);
  assert_int_equal(keten_client_subscribe(gem, 8), KETEN_OK);
  s_put(coa, subject, IDENTITY, IDENTITY_JSON);
  s_put(coa, subject, HEALTH, HEALTH_JSON);
  s_inbox_t in = {0};
  s_poll_until(gem, &in, 1);
  s_settle(gem);
  s_expect_fetch(ggz, subject, (s_want_t[]){{HEALTH, COA, HEALTH_JSON}}, 1);
  s_expect_fetch_refused(vwn, subject, KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  assert_int_equal(keten_client_consent_revoke(coa, to_ggz.consent_id, subject,
                                               "ingetrokken", NULL),
                   KETEN_OK);
  s_expect_fetch_refused(ggz, subject, KETEN__ERROR_CODE__ERROR_FORBIDDEN);
  s_close(&coa);
  s_close(&gem);
  s_close(&vwn);
  s_close(&ggz);

  s_stop_and_verify(h);

  /* the entry of the volunteer's refused fetch */
  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  assert_non_null(store);
  s_entry_t deny = {0};
  assert_int_equal(store_audit_each(store, s_find_deny, &deny), 0);
  uint64_t total = 0;
  uint8_t head[AUDIT_HASH_BYTES];
  assert_int_equal(store_audit_head(store, &total, head), 0);
  store_close(&store);
  assert_true(deny.seq > 1);
  assert_true(deny.seq < total);

  s_flip_detail(h->store, deny.seq, 0x01);
  char *out = NULL;
  assert_int_equal(s_audit_verify(h, &out), 1);
  char want[64];
  snprintf(want, sizeof want,
           "audit chain BROKEN at entry %llu:", (unsigned long long)deny.seq);
  if (!out || strncmp(out, want, strlen(want)) != 0)
    fail_msg("expected \"%s\", got \"%s\"", want, out ? out : "");
  free(out);

  s_flip_detail(h->store, deny.seq, 0x01); /* back as it was */
  assert_int_equal(s_audit_verify(h, &out), 0);
  assert_non_null(strstr(out, "audit chain OK"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate_setup_teardown(test_four_partners_exchange,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_no_consent_gets_nothing,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(
          test_offline_recipient_gets_it_later, s_setup, s_teardown,
          (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(
          test_unaccepted_delivery_comes_again, s_setup, s_teardown,
          (void *)&SHORT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_revocation_between_versions,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_revocation_drops_pending,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_forged_signature_refused,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(
          test_not_author_refused, s_setup, s_teardown, (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_replayed_message_refused,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_author_bytes_budget,
                                               s_setup, s_teardown,
                                               (void *)&SMALL_AUTHOR_BUDGET),
      cmocka_unit_test_prestate_setup_teardown(test_max_section_size, s_setup,
                                               s_teardown, (void *)&DEFAULT_ACK),
      cmocka_unit_test_prestate_setup_teardown(test_audit_verify_and_tamper,
                                               s_setup, s_teardown,
                                               (void *)&DEFAULT_ACK),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
