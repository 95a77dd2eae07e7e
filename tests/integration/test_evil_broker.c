/* test_evil_broker — a test double of ketend that lies, and libketen
 * refusing every lie.
 *
 * The fake broker is a ZeroMQ ROUTER socket with a CURVE server key, bound
 * on ipc:// in a temp dir and run in its own thread. It speaks the keten
 * wire protocol (one Envelope per frame) and answers HELLO, PING, PREPARE,
 * PUT, FETCH, SUBSCRIBE and ACK with whatever the test told it to say. No
 * real ketend runs here: the point is what libketen does when the broker
 * itself is the attacker.
 *
 * The author's side (keten_client_put as "coa"): the broker's PREPARED
 * adds recipients, swaps sealing keys, forges consents, offers entries of
 * another root, of the wrong participant or out of their validity, or
 * asks for a disclosure the policy forbids. Each must end in an error
 * that names the lie, and no PUT may reach the broker (checked after a
 * PING, which the broker only answers once it has read everything sent
 * before it on the connection).
 *
 * The reader's side (keten_client_fetch and keten_client_poll as
 * "gemeente:0716"): sections whose author entry or signature is not what
 * the chain root vouches for must never be opened; a delivery that fails
 * reaches the callback with section NULL and a non-OK status (and is
 * acked, so one bad section cannot block the mailbox). Notices with a
 * forged revocation or a revoker of another root reach the notice
 * callback with notice NULL; so do delete notices whose broker signature
 * does not verify (or when no broker signing key is configured).
 *
 * Issue 7: consents naming "@gemeente" count only with a KOPPELING from a
 * root-signed TVS entry that links this subject to this gemeente; rewrap
 * requests are answered (a wrap, or a refusal the fake broker receives)
 * only for our own, untouched section and evidence that holds now; TVS
 * events in a gemeente's feed reach its handler only when their publisher
 * is a root-signed TVS entry and the signature verifies.
 *
 * Every case starts a fresh fake broker and client and stops them again;
 * the registry entries and keys are made once for the whole group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "canon.h"
#include "envelope.h"
#include "keten.h"
#include "participant.h"
#include "seal.h"
#include "tvs.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define TVS "tvs"
#define GEMEENTE2 "gemeente:0748"

#define HOUR_MS (UINT64_C(3600) * 1000)
#define DAY_MS (24 * HOUR_MS)
#define YEAR_MS (365 * DAY_MS)

#define ROLE_COA KETEN__ROLE__ROLE_COA
#define ROLE_GEMEENTE KETEN__ROLE__ROLE_GEMEENTE
#define ROLE_VOLUNTEER KETEN__ROLE__ROLE_VOLUNTEER
#define ROLE_CARE KETEN__ROLE__ROLE_CARE
#define ROLE_TVS KETEN__ROLE__ROLE_TVS

#define K_IDENTITY KETEN__SECTION_KIND__SECTION_IDENTITY
#define K_HOUSING KETEN__SECTION_KIND__SECTION_HOUSING
#define K_HEALTH KETEN__SECTION_KIND__SECTION_HEALTH

#define P_INBURGERING KETEN__PURPOSE__PURPOSE_INBURGERING
#define P_ZORG KETEN__PURPOSE__PURPOSE_ZORG

/* Per request attempt; no retries. Generous enough for valgrind, and the
 * fake broker answers at once anyway. */
#define CLIENT_TIMEOUT_MS 3000
/* The longest a test waits for a delivery or an ack to arrive. */
#define WAIT_MS 5000

static const char IDENTITY_JSON[] =
    "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", "
    "\"birth_date\": \"1991-03-14\", \"nationality\": \"SYR\"}";
static const char HEALTH_JSON[] =
    "{\"notes\": \"slaapproblemen sinds de vlucht\", \"referral\": \"GGZ\", "
    "\"urgent\": false}";

/* ---- time ------------------------------------------------------------------ */

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

static void s_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the world: keys and root-signed entries (made once) -------------------- */

/* A registry entry and the participant record its fields point into; never
 * copied by value (the entry would point into the original). */
typedef struct {
  participant_t p;
  Keten__RegistryEntry e;
} s_entry_t;

static struct {
  keten_root_key_t root;      /* the chain root the client pins */
  keten_root_key_t evil_root; /* the attacker's own "root" */
  keten_keys_t broker;        /* the fake broker's transport keys */
  keten_keys_t coa, gemeente, vwn, ggz, tvs;
  keten_keys_t evil;          /* keys the attacker holds */
  uint8_t subject[KETEN_SUBJECT_BYTES];
  uint8_t other_subject[KETEN_SUBJECT_BYTES];
  uint64_t now;
  /* genuine: signed by the chain root, valid from now-1h to now+1y */
  s_entry_t coa_e, gemeente_e, vwn_e, ggz_e, tvs_e;
} W;

/* Fills x with an entry for id (role, name) holding the public keys of
 * keys, valid in [from, until), signed with root_sk. */
static void s_entry_make(s_entry_t *x, const char *id, int role,
                         const char *name, const keten_keys_t *keys,
                         uint64_t from, uint64_t until,
                         const uint8_t root_sk[KETEN_ROOT_SECRET_BYTES]) {
  memset(x, 0, sizeof *x);
  snprintf(x->p.id, sizeof x->p.id, "%s", id);
  snprintf(x->p.display_name, sizeof x->p.display_name, "%s", name);
  x->p.role = role;
  memcpy(x->p.transport_pk, keys->transport_pk, 32);
  memcpy(x->p.signing_pk, keys->signing_pk, 32);
  memcpy(x->p.sealing_pk, keys->sealing_pk, 32);
  x->p.valid_from_ms = (int64_t)from;
  x->p.valid_until_ms = (int64_t)until;
  x->p.issued_at_ms = (int64_t)W.now;
  participant_to_entry(&x->p, &x->e);
  assert_int_equal(canon_sign_entry(&x->e, root_sk, x->p.root_signature), 0);
  x->p.signed_by_root = 1;
  participant_to_entry(&x->p, &x->e);
}

/* A root-signed entry valid now (from now-1h to now+1y). */
static void s_entry_now(s_entry_t *x, const char *id, int role,
                        const char *name, const keten_keys_t *keys,
                        const uint8_t root_sk[KETEN_ROOT_SECRET_BYTES]) {
  s_entry_make(x, id, role, name, keys, W.now - HOUR_MS, W.now + YEAR_MS,
               root_sk);
}

static int s_group_setup(void **state) {
  (void)state;
  if (sodium_init() < 0)
    return -1;
  memset(&W, 0, sizeof W);
  W.now = s_wall_ms();
  if (keten_root_key_generate(&W.root) != KETEN_OK ||
      keten_root_key_generate(&W.evil_root) != KETEN_OK ||
      keten_keys_generate(&W.broker, "broker") != KETEN_OK ||
      keten_keys_generate(&W.coa, COA) != KETEN_OK ||
      keten_keys_generate(&W.gemeente, GEMEENTE) != KETEN_OK ||
      keten_keys_generate(&W.vwn, VWN) != KETEN_OK ||
      keten_keys_generate(&W.ggz, GGZ) != KETEN_OK ||
      keten_keys_generate(&W.tvs, TVS) != KETEN_OK ||
      keten_keys_generate(&W.evil, "evil") != KETEN_OK)
    return -1;
  randombytes_buf(W.subject, sizeof W.subject);
  randombytes_buf(W.other_subject, sizeof W.other_subject);
  s_entry_now(&W.coa_e, COA, ROLE_COA, "Centraal Orgaan opvang asielzoekers",
              &W.coa, W.root.secret_key);
  s_entry_now(&W.gemeente_e, GEMEENTE, ROLE_GEMEENTE, "Gemeente Tholen",
              &W.gemeente, W.root.secret_key);
  s_entry_now(&W.vwn_e, VWN, ROLE_VOLUNTEER, "VluchtelingenWerk Zeeland",
              &W.vwn, W.root.secret_key);
  s_entry_now(&W.ggz_e, GGZ, ROLE_CARE, "GGZ Zeeland (fictief)", &W.ggz,
              W.root.secret_key);
  s_entry_now(&W.tvs_e, TVS, ROLE_TVS, "Taakstelling-volgsysteem (COA)",
              &W.tvs, W.root.secret_key);
  return 0;
}

static int s_group_teardown(void **state) {
  (void)state;
  keten_root_key_wipe(&W.root);
  keten_root_key_wipe(&W.evil_root);
  keten_keys_wipe(&W.broker);
  keten_keys_wipe(&W.coa);
  keten_keys_wipe(&W.gemeente);
  keten_keys_wipe(&W.vwn);
  keten_keys_wipe(&W.ggz);
  keten_keys_wipe(&W.tvs);
  keten_keys_wipe(&W.evil);
  return 0;
}

/* ---- consents, recipients, revocations ------------------------------------- */

typedef struct {
  uint8_t id[KETEN_CONSENT_ID_BYTES];
  uint8_t subject[KETEN_SUBJECT_BYTES];
  uint8_t sig[64];
  char by[KETEN_ID_MAX + 1], to[KETEN_ID_MAX + 1];
  Keten__SectionKind kinds[1];
  Keten__Consent k;
} s_consent_t;

/* A consent of subject recorded_by by for to over one kind, valid in
 * [from, until), signed with signing_sk (whoever that is). */
static Keten__Consent *s_consent_make(s_consent_t *c, const uint8_t *subject,
                                      const char *by, const char *to, int kind,
                                      int purpose, uint64_t from,
                                      uint64_t until,
                                      const uint8_t *signing_sk) {
  memset(c, 0, sizeof *c);
  randombytes_buf(c->id, sizeof c->id);
  memcpy(c->subject, subject, KETEN_SUBJECT_BYTES);
  snprintf(c->by, sizeof c->by, "%s", by);
  snprintf(c->to, sizeof c->to, "%s", to);
  c->kinds[0] = (Keten__SectionKind)kind;
  keten__consent__init(&c->k);
  c->k.consent_id.data = c->id;
  c->k.consent_id.len = sizeof c->id;
  c->k.subject.data = c->subject;
  c->k.subject.len = sizeof c->subject;
  c->k.recorded_by = c->by;
  c->k.recipient = c->to;
  c->k.sections = c->kinds;
  c->k.n_sections = 1;
  c->k.purpose = (Keten__Purpose)purpose;
  c->k.basis = KETEN__BASIS__BASIS_CONSENT;
  c->k.valid_from_ms = from;
  c->k.valid_until_ms = until;
  c->k.evidence_ref = "toestemmingsformulier 2026-0042";
  c->k.recorded_at_ms = W.now;
  assert_int_equal(canon_sign_consent(&c->k, signing_sk, c->sig), 0);
  c->k.signature.data = c->sig;
  c->k.signature.len = sizeof c->sig;
  return &c->k;
}

/* A genuine consent: recorded and signed by coa, for W.subject, valid now. */
static Keten__Consent *s_consent_ok(s_consent_t *c, const char *to, int kind,
                                    int purpose) {
  return s_consent_make(c, W.subject, COA, to, kind, purpose, W.now - HOUR_MS,
                        W.now + 30 * DAY_MS, W.coa.signing_sk);
}

static Keten__Recipient *s_recipient(Keten__Recipient *r,
                                     const Keten__RegistryEntry *e,
                                     Keten__Consent **consents, size_t n) {
  keten__recipient__init(r);
  r->participant_id = e ? e->participant_id : (char *)GEMEENTE;
  r->entry = (Keten__RegistryEntry *)e;
  r->consents = consents;
  r->n_consents = n;
  return r;
}

static void s_prepared(Keten__PrepareReply *pr, Keten__Recipient **rs,
                       size_t n) {
  keten__prepare_reply__init(pr);
  pr->recipients = rs;
  pr->n_recipients = n;
  pr->next_version = 1;
}

/* ---- things a test allocated (freed at teardown, also after a failure) ---- */

static Keten__SealedSection *s_sealed[8];
static size_t s_n_sealed;
static ProtobufCMessage *s_unpacked[8];
static size_t s_n_unpacked;

static void s_free_allocations(void) {
  for (size_t i = 0; i < s_n_sealed; i++)
    seal_section_free(s_sealed[i]);
  s_n_sealed = 0;
  for (size_t i = 0; i < s_n_unpacked; i++)
    protobuf_c_message_free_unpacked(s_unpacked[i], NULL);
  s_n_unpacked = 0;
}

/* m packed, with an unknown field (number 99, varint 1) appended, and
 * unpacked again: every known field as signed, plus one the signature does
 * not cover. */
static ProtobufCMessage *s_with_unknown_field(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n + 3);
  assert_non_null(buf);
  assert_int_equal(protobuf_c_message_pack(m, buf), n);
  buf[n] = 0x98; /* key: field 99, wire type 0 */
  buf[n + 1] = 0x06;
  buf[n + 2] = 0x01;
  ProtobufCMessage *u =
      protobuf_c_message_unpack(m->descriptor, NULL, n + 3, buf);
  free(buf);
  assert_non_null(u);
  assert_true(s_n_unpacked < sizeof s_unpacked / sizeof s_unpacked[0]);
  s_unpacked[s_n_unpacked++] = u;
  assert_int_equal(u->n_unknown_fields, 1);
  return u;
}

/* ---- the fake broker ---------------------------------------------------------- */

typedef struct {
  pthread_mutex_t mu;
  pthread_t thread;
  int running, stop;
  void *ctx, *sock;
  char dir[64], path[128], endpoint[160];
  /* what it says (set by the test; read by the broker thread under mu) */
  char welcome_id[KETEN_ID_MAX + 1];
  int welcome_role;
  const Keten__PrepareReply *prepared;
  const Keten__FetchReply *fetched;
  const Keten__Deliver *deliver; /* sent right after SUBSCRIBED */
  /* issue 8: FETCH k (from 0) is answered with pages[k] (the last one
   * again after that) when n_pages > 0; the cursor of each is recorded */
  const Keten__FetchReply *pages[8];
  int n_pages;
  uint32_t fetch_after_kind[8];
  char fetch_after_author[8][KETEN_ID_MAX + 1];
  /* the first subscribe_errors SUBSCRIBEs get ERROR subscribe_code[i]
   * (with retry_after_ms); the next sub_end_times successful ones are
   * followed by sub_end */
  int subscribe_errors;
  Keten__ErrorCode subscribe_code[4];
  uint32_t subscribe_retry_after_ms;
  const Keten__SubscriptionEnded *sub_end;
  int sub_end_times;
  int64_t subscribe_at_ms[16];
  /* what it saw */
  int n_hello, n_ping, n_prepare, n_put, n_fetch, n_subscribe, n_ack, n_other;
  uint64_t acked;
  char put_wraps[CANON_MAX_WRAPS][KETEN_ID_MAX + 1];
  size_t n_put_wraps;
  uint8_t *put_section; /* the last PUT's SealedSection, packed */
  size_t put_section_len;
  /* rewrap answers: the last one, and how many had come by the last ACK */
  int n_answer, answers_at_ack;
  uint64_t answer_request_id;
  uint8_t answer_wrap[CANON_WRAP_BYTES];
  size_t answer_wrap_len; /* as sent (only the first 80 bytes kept) */
  char answer_refusal[320];
  int answer_error;       /* the test says: refuse answers with an ERROR */
  /* the client's config (not the broker thread's) */
  int no_broker_key;
} s_fake_t;

static s_fake_t F;

static void s_fake_send(s_fake_t *f, zmq_msg_t *id, const Keten__Envelope *env) {
  size_t len;
  uint8_t *buf = envelope_pack(env, &len);
  if (!buf)
    return;
  zmq_send(f->sock, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE);
  zmq_send(f->sock, buf, len, 0);
  free(buf);
}

/* Answers one request (called with f->mu held). */
static void s_fake_answer(s_fake_t *f, zmq_msg_t *id,
                          const Keten__Envelope *req) {
  Keten__Envelope rep;
  envelope_ids_t ids;
  envelope_init(&rep, &ids, req);
  switch (req->body_case) {
  case KETEN__ENVELOPE__BODY_HELLO: {
    f->n_hello++;
    Keten__Welcome w = KETEN__WELCOME__INIT;
    w.broker_version = "0.0.0-evil";
    w.protocol_version = ENVELOPE_PROTOCOL_VERSION;
    w.participant_id = f->welcome_id;
    w.role = (Keten__Role)f->welcome_role;
    w.display_name = "whoever you say";
    w.max_frame_bytes = ENVELOPE_DEFAULT_MAX_FRAME;
    w.server_time_ms = s_wall_ms();
    rep.body_case = KETEN__ENVELOPE__BODY_WELCOME;
    rep.welcome = &w;
    s_fake_send(f, id, &rep);
    break;
  }
  case KETEN__ENVELOPE__BODY_PING: {
    f->n_ping++;
    Keten__Pong p = KETEN__PONG__INIT;
    p.payload = req->ping->payload;
    p.server_time_ms = s_wall_ms();
    rep.body_case = KETEN__ENVELOPE__BODY_PONG;
    rep.pong = &p;
    s_fake_send(f, id, &rep);
    break;
  }
  case KETEN__ENVELOPE__BODY_PREPARE: {
    f->n_prepare++;
    Keten__PrepareReply empty = KETEN__PREPARE_REPLY__INIT;
    rep.body_case = KETEN__ENVELOPE__BODY_PREPARED;
    rep.prepared = f->prepared ? (Keten__PrepareReply *)f->prepared : &empty;
    s_fake_send(f, id, &rep);
    break;
  }
  case KETEN__ENVELOPE__BODY_PUT: {
    f->n_put++;
    const Keten__SealedSection *s = req->put->section;
    Keten__PutReply st = KETEN__PUT_REPLY__INIT;
    char *queued[CANON_MAX_WRAPS];
    size_t n_queued = 0;
    f->n_put_wraps = 0;
    free(f->put_section);
    f->put_section = NULL;
    f->put_section_len = 0;
    if (s) {
      for (size_t i = 0; i < s->n_wraps && i < CANON_MAX_WRAPS; i++) {
        const char *to = s->wraps[i]->recipient ? s->wraps[i]->recipient : "";
        snprintf(f->put_wraps[f->n_put_wraps++], KETEN_ID_MAX + 1, "%s", to);
        if (i > 0) /* the first wrap is the author's own */
          queued[n_queued++] = s->wraps[i]->recipient;
      }
      f->put_section_len = keten__sealed_section__get_packed_size(s);
      f->put_section = malloc(f->put_section_len ? f->put_section_len : 1);
      if (f->put_section)
        keten__sealed_section__pack(s, f->put_section);
      st.version = s->header ? s->header->version : 1;
    }
    st.queued_for = queued;
    st.n_queued_for = n_queued;
    rep.body_case = KETEN__ENVELOPE__BODY_STORED;
    rep.stored = &st;
    s_fake_send(f, id, &rep);
    break;
  }
  case KETEN__ENVELOPE__BODY_FETCH: {
    int k = f->n_fetch++;
    if (k < 8) {
      f->fetch_after_kind[k] = req->fetch->after_kind;
      snprintf(f->fetch_after_author[k], KETEN_ID_MAX + 1, "%s",
               req->fetch->after_author ? req->fetch->after_author : "");
    }
    Keten__FetchReply empty = KETEN__FETCH_REPLY__INIT;
    rep.body_case = KETEN__ENVELOPE__BODY_FETCHED;
    rep.fetched = f->fetched ? (Keten__FetchReply *)f->fetched : &empty;
    if (f->n_pages > 0)
      rep.fetched = (Keten__FetchReply *)
          f->pages[k < f->n_pages ? k : f->n_pages - 1];
    s_fake_send(f, id, &rep);
    break;
  }
  case KETEN__ENVELOPE__BODY_SUBSCRIBE: {
    int k = f->n_subscribe++;
    if (k < 16)
      f->subscribe_at_ms[k] = s_mono_ms();
    if (k < f->subscribe_errors && k < 4) {
      Keten__Error e = KETEN__ERROR__INIT;
      e.code = f->subscribe_code[k];
      e.reason = "the evil broker fails on purpose";
      e.retry_after_ms = f->subscribe_retry_after_ms;
      rep.body_case = KETEN__ENVELOPE__BODY_ERROR;
      rep.error = &e;
      s_fake_send(f, id, &rep);
      break;
    }
    Keten__Subscribed sub = KETEN__SUBSCRIBED__INIT;
    sub.acked_seq = f->acked;
    rep.body_case = KETEN__ENVELOPE__BODY_SUBSCRIBED;
    rep.subscribed = &sub;
    s_fake_send(f, id, &rep);
    if (f->deliver) {
      Keten__Envelope d;
      envelope_ids_t dids;
      envelope_init(&d, &dids, NULL); /* unsolicited: no correlation */
      d.body_case = KETEN__ENVELOPE__BODY_DELIVER;
      d.deliver = (Keten__Deliver *)f->deliver;
      s_fake_send(f, id, &d);
    }
    if (f->sub_end && f->sub_end_times > 0) {
      f->sub_end_times--;
      Keten__Envelope d;
      envelope_ids_t dids;
      envelope_init(&d, &dids, NULL); /* unsolicited: no correlation */
      d.body_case = KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED;
      d.subscription_ended = (Keten__SubscriptionEnded *)f->sub_end;
      s_fake_send(f, id, &d);
    }
    break;
  }
  case KETEN__ENVELOPE__BODY_ACK:
    f->n_ack++;
    f->acked = req->ack->seq;
    f->answers_at_ack = f->n_answer;
    break; /* not answered */
  case KETEN__ENVELOPE__BODY_REWRAP_ANSWER: {
    const Keten__RewrapAnswer *a = req->rewrap_answer;
    f->n_answer++;
    f->answer_request_id = a->request_id;
    f->answer_wrap_len = a->wrap.len;
    memset(f->answer_wrap, 0, sizeof f->answer_wrap);
    if (a->wrap.len)
      memcpy(f->answer_wrap, a->wrap.data,
             a->wrap.len < CANON_WRAP_BYTES ? a->wrap.len : CANON_WRAP_BYTES);
    snprintf(f->answer_refusal, sizeof f->answer_refusal, "%s",
             a->refusal ? a->refusal : "");
    if (f->answer_error) {
      Keten__Error e = KETEN__ERROR__INIT;
      e.code = KETEN__ERROR_CODE__ERROR_NOT_FOUND;
      e.reason = "no pending rewrap request 42";
      rep.body_case = KETEN__ENVELOPE__BODY_ERROR;
      rep.error = &e;
      s_fake_send(f, id, &rep);
    } else {
      Keten__Ok ok = KETEN__OK__INIT;
      ok.detail = "rewrap stored";
      rep.body_case = KETEN__ENVELOPE__BODY_OK;
      rep.ok = &ok;
      s_fake_send(f, id, &rep);
    }
    break;
  }
  default: {
    f->n_other++;
    Keten__Error e = KETEN__ERROR__INIT;
    e.code = KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY;
    e.reason = "the evil broker does not do that";
    rep.body_case = KETEN__ENVELOPE__BODY_ERROR;
    rep.error = &e;
    s_fake_send(f, id, &rep);
    break;
  }
  }
}

static void *s_fake_main(void *arg) {
  s_fake_t *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    int stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    if (stop)
      break;
    zmq_pollitem_t item = {f->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 20) <= 0)
      continue;
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, f->sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&id) &&
        zmq_msg_recv(&body, f->sock, 0) >= 0) {
      int more = zmq_msg_more(&body);
      while (more) { /* a client sends one frame; drop any others */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, f->sock, 0) < 0) {
          zmq_msg_close(&extra);
          break;
        }
        more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
      }
      Keten__Envelope *req =
          envelope_decode(zmq_msg_data(&body), zmq_msg_size(&body),
                          ENVELOPE_DEFAULT_MAX_FRAME, NULL);
      if (req) {
        pthread_mutex_lock(&f->mu);
        s_fake_answer(f, &id, req);
        pthread_mutex_unlock(&f->mu);
        envelope_free(req);
      }
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
  }
  return NULL;
}

/* The client under test (one per case). */
static keten_client_t *C;

static int s_setup(void **state) {
  (void)state;
  memset(&F, 0, sizeof F);
  C = NULL;
  if (pthread_mutex_init(&F.mu, NULL) != 0)
    return -1;
  snprintf(F.dir, sizeof F.dir, "/tmp/keten-evil-XXXXXX");
  if (!mkdtemp(F.dir)) {
    F.dir[0] = '\0';
    return -1;
  }
  snprintf(F.path, sizeof F.path, "%s/broker.sock", F.dir);
  snprintf(F.endpoint, sizeof F.endpoint, "ipc://%s", F.path);
  int zero = 0, one = 1;
  F.ctx = zmq_ctx_new();
  if (!F.ctx)
    return -1;
  F.sock = zmq_socket(F.ctx, ZMQ_ROUTER);
  if (!F.sock ||
      zmq_setsockopt(F.sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_setsockopt(F.sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
      zmq_setsockopt(F.sock, ZMQ_CURVE_SECRETKEY, W.broker.transport_sk,
                     KETEN_KEY_BYTES) != 0 ||
      zmq_bind(F.sock, F.endpoint) != 0) {
    fprintf(stderr, "fake broker: cannot bind %s: %s\n", F.endpoint,
            zmq_strerror(zmq_errno()));
    return -1;
  }
  /* The socket moves to the broker thread (pthread_create is the full
   * memory barrier ZeroMQ asks for) and comes back after pthread_join. */
  if (pthread_create(&F.thread, NULL, s_fake_main, &F) != 0)
    return -1;
  F.running = 1;
  return 0;
}

static int s_teardown(void **state) {
  (void)state;
  /* Nothing the broker could still send may point into a finished test. */
  pthread_mutex_lock(&F.mu);
  F.prepared = NULL;
  F.fetched = NULL;
  F.deliver = NULL;
  F.n_pages = 0;
  F.sub_end = NULL;
  pthread_mutex_unlock(&F.mu);
  keten_client_destroy(&C);
  if (F.running) {
    pthread_mutex_lock(&F.mu);
    F.stop = 1;
    pthread_mutex_unlock(&F.mu);
    pthread_join(F.thread, NULL);
    F.running = 0;
  }
  if (F.sock)
    zmq_close(F.sock);
  if (F.ctx)
    zmq_ctx_term(F.ctx);
  F.sock = F.ctx = NULL;
  free(F.put_section);
  F.put_section = NULL;
  if (F.dir[0]) {
    unlink(F.path); /* ZeroMQ removes it on close; make sure */
    rmdir(F.dir);
  }
  pthread_mutex_destroy(&F.mu);
  s_free_allocations();
  return 0;
}

/* Reads a counter of the fake broker. */
static int s_seen(const int *counter) {
  pthread_mutex_lock(&F.mu);
  int v = *counter;
  pthread_mutex_unlock(&F.mu);
  return v;
}

static void s_say_prepared(const Keten__PrepareReply *pr) {
  pthread_mutex_lock(&F.mu);
  F.prepared = pr;
  pthread_mutex_unlock(&F.mu);
}

static void s_say_fetched(const Keten__FetchReply *fr) {
  pthread_mutex_lock(&F.mu);
  F.fetched = fr;
  pthread_mutex_unlock(&F.mu);
}

static void s_say_deliver(const Keten__Deliver *d) {
  pthread_mutex_lock(&F.mu);
  F.deliver = d;
  pthread_mutex_unlock(&F.mu);
}

/* Waits until the broker holds seq as acked; returns 1 if it came. */
static int s_wait_acked(uint64_t seq) {
  int64_t end = s_mono_ms() + WAIT_MS;
  for (;;) {
    pthread_mutex_lock(&F.mu);
    uint64_t acked = F.acked;
    pthread_mutex_unlock(&F.mu);
    if (acked == seq)
      return 1;
    if (s_mono_ms() > end)
      return 0;
    s_sleep_ms(5);
  }
}

/* The client under test for keys; the broker's WELCOME names it id/role. */
static keten_client_t *s_client_as(const keten_keys_t *keys, const char *id,
                                   int role) {
  pthread_mutex_lock(&F.mu);
  snprintf(F.welcome_id, sizeof F.welcome_id, "%s", id);
  F.welcome_role = role;
  pthread_mutex_unlock(&F.mu);
  keten_client_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.endpoint = F.endpoint;
  cfg.keys = keys;
  cfg.broker_key = W.broker.transport_pk;
  cfg.root_key = W.root.public_key;
  cfg.broker_signing_key = F.no_broker_key ? NULL : W.broker.signing_pk;
  cfg.timeout_ms = CLIENT_TIMEOUT_MS;
  cfg.retries = -1;
  char err[256] = "";
  C = keten_client_new(&cfg, err, sizeof err);
  if (!C)
    print_error("keten_client_new: %s\n", err);
  assert_non_null(C);
  return C;
}

/* ---- the author's side -------------------------------------------------------- */

/* The broker answers PREPARE with pr; keten_client_put of kind by coa must
 * fail with want, the client's error must contain why, and no PUT may
 * reach the broker. */
static void s_put_refused(const Keten__PrepareReply *pr, int kind,
                          keten_err_t want, const char *why) {
  s_say_prepared(pr);
  keten_client_t *c = s_client_as(&W.coa, COA, ROLE_COA);
  const char *json = kind == K_HEALTH ? HEALTH_JSON : IDENTITY_JSON;
  keten_put_result_t res;
  keten_err_t rc = keten_client_put(c, W.subject, kind, json, strlen(json),
                                    &res);
  char err[320];
  snprintf(err, sizeof err, "%s", keten_client_error(c));
  if (rc != want || !strstr(err, why))
    print_error("put: %s (%d): \"%s\"; wanted %s with \"%s\"\n",
                keten_strerror(rc), (int)rc, err, keten_strerror(want), why);
  assert_int_equal(rc, want);
  assert_non_null(strstr(err, why));
  /* PONG comes only after the broker read all the client sent before. */
  assert_int_equal(keten_client_ping(c, "?", 1, NULL), KETEN_OK);
  assert_int_equal(s_seen(&F.n_prepare), 1); /* the lie was told */
  assert_int_equal(s_seen(&F.n_put), 0);     /* and not believed */
}

/* The broker offers recipients honestly; put succeeds and the PUT carries
 * wraps for exactly coa and `to`, and the one for `to` opens with to's keys. */
static void s_put_accepted(const Keten__PrepareReply *pr, int kind,
                           const char *to, const keten_keys_t *to_keys) {
  s_say_prepared(pr);
  keten_client_t *c = s_client_as(&W.coa, COA, ROLE_COA);
  const char *json = kind == K_HEALTH ? HEALTH_JSON : IDENTITY_JSON;
  keten_put_result_t res;
  keten_err_t rc = keten_client_put(c, W.subject, kind, json, strlen(json),
                                    &res);
  if (rc != KETEN_OK)
    print_error("put: %s: %s\n", keten_strerror(rc), keten_client_error(c));
  assert_int_equal(rc, KETEN_OK);
  assert_int_equal(res.version, 1);
  assert_int_equal(res.n_queued, 1);
  assert_string_equal(res.queued[0], to);
  pthread_mutex_lock(&F.mu);
  int n_put = F.n_put;
  size_t n_wraps = F.n_put_wraps;
  char wraps[2][KETEN_ID_MAX + 1] = {"", ""};
  for (size_t i = 0; i < n_wraps && i < 2; i++)
    snprintf(wraps[i], sizeof wraps[i], "%s", F.put_wraps[i]);
  Keten__SealedSection *got =
      F.put_section ? keten__sealed_section__unpack(NULL, F.put_section_len,
                                                    F.put_section)
                    : NULL;
  pthread_mutex_unlock(&F.mu);
  assert_non_null(got);
  s_unpacked[s_n_unpacked++] = &got->base;
  assert_int_equal(n_put, 1);
  assert_int_equal(n_wraps, 2);
  assert_string_equal(wraps[0], COA);
  assert_string_equal(wraps[1], to);
  /* What was stored is what the recipient can open, and nobody else. */
  keten_section_t out;
  char why[256];
  assert_int_equal(seal_open(got, W.coa.signing_pk, to, to_keys, &out, why,
                             sizeof why),
                   KETEN_OK);
  assert_int_equal(out.json_len, strlen(json));
  assert_memory_equal(out.json, json, out.json_len);
  assert_string_equal(out.header.author, COA);
  free(out.json);
  assert_int_equal(seal_open(got, W.coa.signing_pk, VWN, &W.vwn, &out, why,
                             sizeof why),
                   KETEN_ERR_CRYPTO);
}

static void test_put_honest_baseline(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.gemeente_e.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_accepted(&pr, K_IDENTITY, GEMEENTE, &W.gemeente);
}

/* The contrast to the R8 case: HEALTH to a CARE participant is allowed. */
static void test_put_honest_health_to_care(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GGZ, K_HEALTH, P_ZORG)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.ggz_e.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_accepted(&pr, K_HEALTH, GGZ, &W.ggz);
}

/* 1. The broker adds a recipient. */

static void test_lie_extra_recipient_without_consent(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r1, r2;
  Keten__Recipient *rs[] = {s_recipient(&r1, &W.gemeente_e.e, ks, 1),
                            s_recipient(&r2, &W.vwn_e.e, NULL, 0)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 2);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "recipient vwn:zeeland comes without a consent of ours");
}

/* Two colluding partners: vwn:zeeland "records" its own consent. */
static void test_lie_extra_recipient_colluding_consent(void **state) {
  (void)state;
  s_consent_t k, kv;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Consent *kvs[] = {s_consent_make(
      &kv, W.subject, VWN, VWN, K_IDENTITY, P_INBURGERING, W.now - HOUR_MS,
      W.now + DAY_MS, W.vwn.signing_sk)};
  Keten__Recipient r1, r2;
  Keten__Recipient *rs[] = {s_recipient(&r1, &W.gemeente_e.e, ks, 1),
                            s_recipient(&r2, &W.vwn_e.e, kvs, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 2);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "vwn:zeeland (VOLUNTEER) refused: a consent was not recorded "
                "by us");
}

/* ... and a consent recorded by gemeente:0716 for vwn:zeeland. */
static void test_lie_extra_recipient_consent_of_partner(void **state) {
  (void)state;
  s_consent_t k, kv;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Consent *kvs[] = {s_consent_make(
      &kv, W.subject, GEMEENTE, VWN, K_IDENTITY, P_INBURGERING,
      W.now - HOUR_MS, W.now + DAY_MS, W.gemeente.signing_sk)};
  Keten__Recipient r1, r2;
  Keten__Recipient *rs[] = {s_recipient(&r1, &W.gemeente_e.e, ks, 1),
                            s_recipient(&r2, &W.vwn_e.e, kvs, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 2);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "a consent was not recorded by us");
}

/* 2. The broker swaps a sealing key. */

static void test_lie_swapped_sealing_key(void **state) {
  (void)state;
  /* Entries made in a test are static: the broker thread may still read
   * them until teardown clears what it says. */
  static s_entry_t swapped;
  swapped.p = W.gemeente_e.p;
  memcpy(swapped.p.sealing_pk, W.evil.sealing_pk, 32);
  participant_to_entry(&swapped.p, &swapped.e); /* root signature unchanged */
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &swapped.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "registry entry's signature does not verify with the chain "
                "root key: gemeente:0716");
}

/* A whole entry for gemeente:0716 (the attacker's keys) signed by the
 * attacker's own root. */
static void test_lie_entry_from_other_root(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, GEMEENTE, ROLE_GEMEENTE, "Gemeente Tholen", &W.evil,
              W.evil_root.secret_key);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &forged.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "recipient refused: registry entry's signature does not "
                "verify with the chain root key: gemeente:0716");
}

/* The recipient is called gemeente:0716 but comes with vwn:zeeland's
 * (genuine) entry, so its sealing key would be vwn's. */
static void test_lie_entry_of_another_participant(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.vwn_e.e, ks, 1)};
  r.participant_id = (char *)GEMEENTE;
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "recipient gemeente:0716 comes with the entry of vwn:zeeland");
}

/* A genuine entry with a field the root's signature does not cover. */
static void test_lie_entry_unknown_field(void **state) {
  (void)state;
  Keten__RegistryEntry *e =
      (Keten__RegistryEntry *)s_with_unknown_field(&W.gemeente_e.e.base);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "registry entry carries fields its signature does not cover");
}

static void test_lie_recipient_without_entry(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, NULL, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "a recipient comes without its registry entry");
}

/* 3. The broker forges a consent. */

static void s_put_with_consent(Keten__Consent *consent, int kind,
                               const char *why) {
  Keten__Consent *ks[] = {consent};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.gemeente_e.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, kind, KETEN_ERR_EVIDENCE, why);
}

static void test_lie_consent_signed_by_other_key(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_make(&k, W.subject, COA, GEMEENTE, K_IDENTITY,
                                    P_INBURGERING, W.now - HOUR_MS,
                                    W.now + DAY_MS, W.evil.signing_sk),
                     K_IDENTITY,
                     "recipient gemeente:0716 (GEMEENTE) refused: a consent "
                     "does not carry our signature");
}

static void test_lie_consent_other_subject(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_make(&k, W.other_subject, COA, GEMEENTE,
                                    K_IDENTITY, P_INBURGERING, W.now - HOUR_MS,
                                    W.now + DAY_MS, W.coa.signing_sk),
                     K_IDENTITY, "a consent is for another subject");
}

static void test_lie_consent_other_kind(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_ok(&k, GEMEENTE, K_HOUSING, P_INBURGERING),
                     K_IDENTITY, "a consent does not cover this section kind");
}

static void test_lie_consent_expired(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_make(&k, W.subject, COA, GEMEENTE, K_IDENTITY,
                                    P_INBURGERING, W.now - 30 * DAY_MS,
                                    W.now - DAY_MS, W.coa.signing_sk),
                     K_IDENTITY, "a consent is not valid now");
}

static void test_lie_consent_not_yet_valid(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_make(&k, W.subject, COA, GEMEENTE, K_IDENTITY,
                                    P_INBURGERING, W.now + DAY_MS,
                                    W.now + 30 * DAY_MS, W.coa.signing_sk),
                     K_IDENTITY, "a consent is not valid now");
}

/* Genuine, but for ggz:zeeland, offered with gemeente's entry. */
static void test_lie_consent_names_other_recipient(void **state) {
  (void)state;
  s_consent_t k;
  s_put_with_consent(s_consent_ok(&k, GGZ, K_IDENTITY, P_INBURGERING),
                     K_IDENTITY, "a consent names someone else");
}

/* Genuine, with an unknown protobuf field appended (canon_exact). */
static void test_lie_consent_unknown_field(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *genuine = s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING);
  Keten__Consent *padded =
      (Keten__Consent *)s_with_unknown_field(&genuine->base);
  /* The signature still verifies: only the unknown field is new. */
  assert_int_equal(canon_verify_consent(padded, W.coa.signing_pk), 0);
  s_put_with_consent(padded, K_IDENTITY,
                     "a consent carries fields its signature does not cover");
}

/* A genuine consent, padded with a forged one: not believed on the rest. */
static void test_lie_consent_padded_with_forgery(void **state) {
  (void)state;
  s_consent_t k1, k2;
  Keten__Consent *ks[] = {
      s_consent_ok(&k1, GEMEENTE, K_IDENTITY, P_INBURGERING),
      s_consent_make(&k2, W.subject, COA, GEMEENTE, K_IDENTITY, P_INBURGERING,
                     W.now - HOUR_MS, W.now + DAY_MS, W.evil.signing_sk)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.gemeente_e.e, ks, 2)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "a consent does not carry our signature");
}

/* 4. Policy: coa genuinely signed HEALTH for a VOLUNTEER (which the real
 * broker would never have recorded); libketen itself refuses by R8. */
static void test_lie_policy_health_to_volunteer(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, VWN, K_HEALTH, P_ZORG)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.vwn_e.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_HEALTH, KETEN_ERR_EVIDENCE,
                "recipient vwn:zeeland (VOLUNTEER) refused: R8: HEALTH and "
                "CARE never go to a VOLUNTEER");
}

/* 5. Entries out of their window, the author as its own recipient, the
 * same recipient twice. */

static void test_lie_entry_expired(void **state) {
  (void)state;
  static s_entry_t old;
  s_entry_make(&old, GEMEENTE, ROLE_GEMEENTE, "Gemeente Tholen", &W.gemeente,
               W.now - 2 * YEAR_MS, W.now - DAY_MS, W.root.secret_key);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &old.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "recipient gemeente:0716: its registry entry is not valid now");
}

static void test_lie_entry_not_yet_valid(void **state) {
  (void)state;
  static s_entry_t future;
  s_entry_make(&future, GEMEENTE, ROLE_GEMEENTE, "Gemeente Tholen",
               &W.gemeente, W.now + DAY_MS, W.now + YEAR_MS, W.root.secret_key);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &future.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "its registry entry is not valid now");
}

static void test_lie_self_as_recipient(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, COA, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.coa_e.e, ks, 1)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "we are offered as our own recipient");
}

static void test_lie_recipient_twice(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  Keten__Recipient *rs[] = {&r, &r};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 2);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "the broker offers gemeente:0716 twice");
}

/* ---- the reader's side -------------------------------------------------------- */

/* A section of subject and kind, with header author author_id, signed and
 * sealed by author_keys to gemeente:0716 (and to the author itself). */
static Keten__SealedSection *s_seal_to(const keten_keys_t *author_keys,
                                       const char *author_id, int kind,
                                       const uint8_t *subject,
                                       const char *json,
                                       const seal_recipient_t *to, size_t n) {
  keten_section_header_t h;
  memset(&h, 0, sizeof h);
  memcpy(h.subject, subject, KETEN_SUBJECT_BYTES);
  h.kind = kind;
  snprintf(h.author, sizeof h.author, "%s", author_id);
  h.version = 3;
  h.created_at_ms = W.now;
  keten_err_t err = KETEN_OK;
  Keten__SealedSection *s =
      seal_section(&h, json, strlen(json), author_keys, to, n, &err);
  assert_non_null(s);
  assert_true(s_n_sealed < sizeof s_sealed / sizeof s_sealed[0]);
  s_sealed[s_n_sealed++] = s;
  return s;
}

static Keten__SealedSection *s_seal(const keten_keys_t *author_keys,
                                    const char *author_id, int kind,
                                    const uint8_t *subject, const char *json) {
  seal_recipient_t to = {GEMEENTE, W.gemeente.sealing_pk};
  return s_seal_to(author_keys, author_id, kind, subject, json, &to, 1);
}

static Keten__SectionCopy *s_copy(Keten__SectionCopy *cp,
                                  Keten__SealedSection *s,
                                  const Keten__RegistryEntry *author_entry) {
  keten__section_copy__init(cp);
  cp->section = s;
  cp->author_entry = (Keten__RegistryEntry *)author_entry;
  return cp;
}

/* What the delivery callbacks saw. */
typedef struct {
  keten_client_t *c;
  int calls, opened;
  keten_err_t status;
  uint64_t seq;
  char error[320];
  char json[512];
  char author[KETEN_ID_MAX + 1];
  /* notices */
  int notices, notices_ok;
  keten_err_t notice_status;
  char revoked_by[KETEN_ID_MAX + 1];
  int revoked_by_role;
  int notice_kind, delete_reason, has_consent_id;
  uint8_t consent_id[KETEN_CONSENT_ID_BYTES];
  size_t n_items;
  keten_notice_item_t items[2];
  /* rewraps */
  int rewraps, rewraps_sealed;
  keten_rewrap_t rewrap;
  uint64_t rewrap_seq;
  /* TVS events */
  int tvs, tvs_ok;
  keten_err_t tvs_status;
  keten_tvs_event_t tvs_event;
} s_got_t;

static int s_on_delivery(const keten_section_t *s, uint64_t seq,
                         keten_err_t status, void *arg) {
  s_got_t *g = arg;
  g->calls++;
  g->status = status;
  g->seq = seq;
  snprintf(g->error, sizeof g->error, "%s", keten_client_error(g->c));
  if (s) {
    g->opened++;
    snprintf(g->json, sizeof g->json, "%s", s->json);
    snprintf(g->author, sizeof g->author, "%s", s->header.author);
  }
  return 0;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  s_got_t *g = arg;
  g->notices++;
  g->notice_status = status;
  g->seq = seq;
  snprintf(g->error, sizeof g->error, "%s", keten_client_error(g->c));
  if (n) {
    g->notices_ok++;
    snprintf(g->revoked_by, sizeof g->revoked_by, "%s", n->revoked_by);
    g->revoked_by_role = n->revoked_by_role;
    g->notice_kind = n->kind;
    g->delete_reason = n->delete_reason;
    g->has_consent_id = n->has_consent_id;
    memcpy(g->consent_id, n->consent_id, sizeof g->consent_id);
    g->n_items = n->n_items;
    for (size_t i = 0; i < n->n_items && i < 2; i++)
      g->items[i] = n->items[i];
  }
  return 0;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  s_got_t *g = arg;
  g->rewraps++;
  g->rewraps_sealed += r->sealed;
  g->rewrap = *r;
  g->rewrap_seq = seq;
  snprintf(g->error, sizeof g->error, "%s", keten_client_error(g->c));
}

static int s_on_tvs_event(const keten_tvs_event_t *ev, uint64_t seq,
                          keten_err_t status, void *arg) {
  s_got_t *g = arg;
  g->tvs++;
  g->tvs_status = status;
  g->seq = seq;
  snprintf(g->error, sizeof g->error, "%s", keten_client_error(g->c));
  if (ev) {
    g->tvs_ok++;
    g->tvs_event = *ev;
  }
  return 0;
}

/* Polls until *count reaches want or WAIT_MS passed. */
static void s_poll_until(keten_client_t *c, s_got_t *g, const int *count,
                         int want) {
  int64_t end = s_mono_ms() + WAIT_MS;
  while (*count < want && s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, g, NULL),
                     KETEN_OK);
}

#define SEQ 7

/* The broker hands copy to gemeente:0716 in FETCHED and as a delivery:
 * with want == KETEN_OK the section opens to json; otherwise fetch fails
 * with want and why, and the delivery reaches the callback with section
 * NULL, status want and why, and is acked. */
static void s_read(const Keten__SectionCopy *copy, keten_err_t want,
                   const char *why, const char *json) {
  Keten__SectionCopy *copies[] = {(Keten__SectionCopy *)copy};
  Keten__FetchReply fr = KETEN__FETCH_REPLY__INIT;
  fr.sections = copies;
  fr.n_sections = 1;
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.section = (Keten__SectionCopy *)copy;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_fetched(&fr);
  s_say_deliver(&d);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);

  keten_section_t *sections = NULL;
  size_t n = 99;
  keten_err_t rc = keten_client_fetch(c, W.subject, &sections, &n);
  const char *err = keten_client_error(c);
  if (rc != want || (want != KETEN_OK && !strstr(err, why)))
    print_error("fetch: %s (%d): \"%s\"; wanted %s with \"%s\"\n",
                keten_strerror(rc), (int)rc, err, keten_strerror(want),
                why ? why : "");
  assert_int_equal(s_seen(&F.n_fetch), 1);
  if (rc == KETEN_OK && want != KETEN_OK)
    keten_sections_free(sections, n); /* (the test fails below) */
  assert_int_equal(rc, want);
  if (want == KETEN_OK) {
    assert_int_equal(n, 1);
    assert_non_null(sections);
    assert_string_equal(sections[0].json, json);
    assert_string_equal(sections[0].header.author, COA);
    keten_sections_free(sections, n);
  } else {
    assert_non_null(strstr(err, why));
    assert_null(sections); /* no plaintext handed over */
    assert_int_equal(n, 0);
  }

  /* The same copy as a delivery. */
  s_got_t g;
  memset(&g, 0, sizeof g);
  g.c = c;
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, &g, &g.calls, 1);
  if (g.calls == 1 && (g.status != want ||
                       (want != KETEN_OK && !strstr(g.error, why))))
    print_error("delivery: %s (%d): \"%s\"; wanted %s with \"%s\"\n",
                keten_strerror(g.status), (int)g.status, g.error,
                keten_strerror(want), why ? why : "");
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.seq, SEQ);
  assert_int_equal(g.status, want);
  if (want == KETEN_OK) {
    assert_int_equal(g.opened, 1);
    assert_string_equal(g.json, json);
    assert_string_equal(g.author, COA);
  } else {
    assert_int_equal(g.opened, 0); /* section NULL: no plaintext */
    assert_non_null(strstr(g.error, why));
  }
  /* Opened or refused, it is acked: one bad section cannot block the
   * mailbox. */
  assert_true(s_wait_acked(SEQ));
  s_say_fetched(NULL);
  s_say_deliver(NULL);
}

static void test_read_honest_baseline(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  s_read(&cp, KETEN_OK, NULL, IDENTITY_JSON);
}

/* libketen remembers signatures it verified; that memory must never
 * vouch for a lie. One client opens an honest section (its author's entry
 * now verified once), then is handed the same entry with a changed
 * signature, and with a changed field under the remembered signature. */
static void test_read_cache_does_not_vouch(void **state) {
  (void)state;
  Keten__SectionCopy honest, lie1, lie2;
  s_copy(&honest, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  static Keten__RegistryEntry bad_sig, bad_name;
  static uint8_t sig[64];
  bad_sig = W.coa_e.e;
  memcpy(sig, W.coa_e.e.root_signature.data, 64);
  sig[17] ^= 0x01;
  bad_sig.root_signature.data = sig;
  bad_name = W.coa_e.e;
  bad_name.display_name = (char *)"COA (vervalst)";
  s_copy(&lie1, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &bad_sig);
  s_copy(&lie2, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &bad_name);
  Keten__SectionCopy *first[] = {&honest};
  Keten__FetchReply fr = KETEN__FETCH_REPLY__INIT;
  fr.sections = first;
  fr.n_sections = 1;
  s_say_fetched(&fr);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  keten_section_t *sections = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(c, W.subject, &sections, &n), KETEN_OK);
  assert_int_equal(n, 1);
  keten_sections_free(sections, n);
  /* now both lies, as deliveries to the same client */
  Keten__Delivery d1 = KETEN__DELIVERY__INIT, d2 = KETEN__DELIVERY__INIT;
  d1.seq = SEQ;
  d1.section = &lie1;
  d2.seq = SEQ + 1;
  d2.section = &lie2;
  Keten__Delivery *items[] = {&d1, &d2};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 2;
  s_say_deliver(&d);
  s_got_t g;
  memset(&g, 0, sizeof g);
  g.c = c;
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, &g, &g.calls, 2);
  assert_int_equal(g.calls, 2);
  assert_int_equal(g.opened, 0); /* neither handed over */
  assert_int_equal(g.status, KETEN_ERR_EVIDENCE);
  assert_non_null(strstr(g.error, "does not verify with the chain root key"));
  assert_true(s_wait_acked(SEQ + 1));
  s_say_fetched(NULL);
  s_say_deliver(NULL);
}

/* (a) coa's real keys, but the entry is signed by another root. */
static void test_read_author_entry_other_root(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, COA, ROLE_COA, "Centraal Orgaan opvang asielzoekers",
              &W.coa, W.evil_root.secret_key);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &forged.e);
  s_read(&cp, KETEN_ERR_EVIDENCE,
         "author refused: registry entry's signature does not verify with "
         "the chain root key: coa",
         NULL);
}

/* (b) a genuine entry, of vwn:zeeland, while the header says coa. */
static void test_read_author_entry_of_other_participant(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.vwn_e.e);
  s_read(&cp, KETEN_ERR_EVIDENCE,
         "a section of coa comes with the entry of vwn:zeeland", NULL);
}

/* (c) the attacker signs a section "by coa" and brings its own entry for
 * coa, signed by its own root: everything consistent but the root. */
static void test_read_attacker_section_and_entry(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, COA, ROLE_COA, "Centraal Orgaan opvang asielzoekers",
              &W.evil, W.evil_root.secret_key);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.evil, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &forged.e);
  s_read(&cp, KETEN_ERR_EVIDENCE,
         "registry entry's signature does not verify with the chain root key",
         NULL);
}

/* (d) a genuine VOLUNTEER entry authoring HEALTH: R1. */
static void test_read_volunteer_writes_health(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.vwn, VWN, K_HEALTH, W.subject, HEALTH_JSON),
         &W.vwn_e.e);
  s_read(&cp, KETEN_ERR_EVIDENCE,
         "a section of vwn:zeeland refused: R1: the author's role may not "
         "write this section kind",
         NULL);
}

/* (e) no author entry at all. */
static void test_read_without_author_entry(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         NULL);
  s_read(&cp, KETEN_ERR_EVIDENCE, "a section comes without its author's entry",
         NULL);
}

/* The genuine entry of coa, but the section is signed by the attacker.
 * The evidence (the entry) holds; it is the signature that does not
 * verify with the entry's key, so the honest answer is KETEN_ERR_CRYPTO. */
static void test_read_signature_not_the_authors(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.evil, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  s_read(&cp, KETEN_ERR_CRYPTO,
         "signature does not verify with the author's key", NULL);
}

/* A root-signed entry of coa with coa's keys, but expired before the
 * section was made (a key the chain no longer vouches for). */
static void test_read_author_entry_expired(void **state) {
  (void)state;
  static s_entry_t old;
  s_entry_make(&old, COA, ROLE_COA, "Centraal Orgaan opvang asielzoekers",
               &W.coa, W.now - 2 * YEAR_MS, W.now - DAY_MS, W.root.secret_key);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &old.e);
  s_read(&cp, KETEN_ERR_EVIDENCE,
         "a section of coa was made outside its signing key's validity", NULL);
}

/* FETCH of one subject answered with a genuine section of another. The
 * section itself is fine; the reply does not answer the request, so the
 * honest answer is KETEN_ERR_PROTOCOL (fetch only: a delivery answers no
 * request). */
static void test_fetch_other_subject(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp,
         s_seal(&W.coa, COA, K_IDENTITY, W.other_subject, IDENTITY_JSON),
         &W.coa_e.e);
  Keten__SectionCopy *copies[] = {&cp};
  Keten__FetchReply fr = KETEN__FETCH_REPLY__INIT;
  fr.sections = copies;
  fr.n_sections = 1;
  s_say_fetched(&fr);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  keten_section_t *sections = NULL;
  size_t n = 99;
  keten_err_t rc = keten_client_fetch(c, W.subject, &sections, &n);
  if (rc == KETEN_OK)
    keten_sections_free(sections, n);
  assert_int_equal(rc, KETEN_ERR_PROTOCOL);
  assert_non_null(strstr(keten_client_error(c),
                         "the broker returned a section of another subject"));
  assert_null(sections);
  assert_int_equal(n, 0);
  s_say_fetched(NULL);
}

/* ---- notices ---------------------------------------------------------------------- */

typedef struct {
  uint8_t cid[KETEN_CONSENT_ID_BYTES];
  uint8_t sig[64];
  Keten__Revocation v;
  Keten__Notice n;
} s_notice_t;

/* A notice to coa: by revoked a consent of coa's, signed with sk, and
 * the broker says revoker is its entry. */
static Keten__Notice *s_notice_make(s_notice_t *x, const char *by,
                                    const uint8_t *sk,
                                    const Keten__RegistryEntry *revoker) {
  memset(x, 0, sizeof *x);
  randombytes_buf(x->cid, sizeof x->cid);
  keten__revocation__init(&x->v);
  x->v.consent_id.data = x->cid;
  x->v.consent_id.len = sizeof x->cid;
  x->v.subject.data = W.subject;
  x->v.subject.len = KETEN_SUBJECT_BYTES;
  x->v.recorded_by = (char *)by;
  x->v.revoked_at_ms = W.now;
  x->v.reason = "de gemeente ziet af van de gegevens";
  assert_int_equal(canon_sign_revocation(&x->v, sk, x->sig), 0);
  x->v.signature.data = x->sig;
  x->v.signature.len = sizeof x->sig;
  keten__notice__init(&x->n);
  x->n.kind = KETEN__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
  x->n.subject = x->v.subject;
  x->n.consent_id = x->v.consent_id;
  x->n.revocation = &x->v;
  x->n.revoker_entry = (Keten__RegistryEntry *)revoker;
  x->n.created_at_ms = W.now;
  return &x->n;
}

/* The broker delivers notice n to the client keys/id; the notice
 * callback must see it verified (want KETEN_OK) or get notice NULL with
 * want and why; either way it is acked. What it saw is left in *g. */
static void s_notice_to(Keten__Notice *n, const keten_keys_t *keys,
                        const char *id, int role, keten_err_t want,
                        const char *why, s_got_t *g) {
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.notice = n;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  keten_client_t *c = s_client_as(keys, id, role);
  memset(g, 0, sizeof *g);
  g->c = c;
  keten_client_on_notice(c, s_on_notice, g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, g, &g->notices, 1);
  if (g->notices == 1 && (g->notice_status != want ||
                          (want != KETEN_OK && !strstr(g->error, why))))
    print_error("notice: %s (%d): \"%s\"; wanted %s with \"%s\"\n",
                keten_strerror(g->notice_status), (int)g->notice_status,
                g->error, keten_strerror(want), why ? why : "");
  assert_int_equal(g->notices, 1);
  assert_int_equal(g->calls, 0); /* not taken for a section */
  assert_int_equal(g->seq, SEQ);
  assert_int_equal(g->notice_status, want);
  if (want == KETEN_OK) {
    assert_int_equal(g->notices_ok, 1);
  } else {
    assert_int_equal(g->notices_ok, 0); /* notice NULL */
    assert_non_null(strstr(g->error, why));
  }
  assert_true(s_wait_acked(SEQ));
  s_say_deliver(NULL);
}

/* A revocation notice to coa. */
static void s_notice(Keten__Notice *n, keten_err_t want, const char *why) {
  s_got_t g;
  s_notice_to(n, &W.coa, COA, ROLE_COA, want, why, &g);
  if (want == KETEN_OK) {
    assert_int_equal(g.notice_kind, KETEN_NOTICE_CONSENT_REVOKED);
    assert_string_equal(g.revoked_by, GEMEENTE);
    assert_int_equal(g.revoked_by_role, ROLE_GEMEENTE);
  }
}

static void test_notice_honest_baseline(void **state) {
  (void)state;
  s_notice_t x;
  s_notice(s_notice_make(&x, GEMEENTE, W.gemeente.signing_sk, &W.gemeente_e.e),
           KETEN_OK, NULL);
}

/* The revocation "by gemeente:0716" is signed by the attacker. */
static void test_notice_forged_signature(void **state) {
  (void)state;
  s_notice_t x;
  s_notice(s_notice_make(&x, GEMEENTE, W.evil.signing_sk, &W.gemeente_e.e),
           KETEN_ERR_EVIDENCE,
           "a notice's revocation does not verify with its signer's key");
}

/* Signed consistently, but the revoker's entry comes from another root. */
static void test_notice_revoker_other_root(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, GEMEENTE, ROLE_GEMEENTE, "Gemeente Tholen", &W.evil,
              W.evil_root.secret_key);
  s_notice_t x;
  s_notice(s_notice_make(&x, GEMEENTE, W.evil.signing_sk, &forged.e),
           KETEN_ERR_EVIDENCE,
           "a notice's signer refused: registry entry's signature does not "
           "verify with the chain root key");
}

/* The revocation is by vwn:zeeland (signed with its key) but comes with
 * gemeente's entry. */
static void test_notice_signer_not_revoker(void **state) {
  (void)state;
  s_notice_t x;
  s_notice(s_notice_make(&x, VWN, W.vwn.signing_sk, &W.gemeente_e.e),
           KETEN_ERR_EVIDENCE,
           "a notice's revocation does not verify with its signer's key");
}

/* Genuinely signed by the gemeente, but dated after its entry ends: a key
 * that was rotated out (or stolen later) does not revoke. */
static void test_notice_outside_signer_window(void **state) {
  (void)state;
  s_notice_t x;
  Keten__Notice *n =
      s_notice_make(&x, GEMEENTE, W.gemeente.signing_sk, &W.gemeente_e.e);
  x.v.revoked_at_ms = W.gemeente_e.e.valid_until_ms + 1000;
  assert_int_equal(
      canon_sign_revocation(&x.v, W.gemeente.signing_sk, x.sig), 0);
  s_notice(n, KETEN_ERR_EVIDENCE, "no valid entry when it revoked");
}

/* ---- delete notices (signed by the broker) ------------------------------------------ */

typedef struct {
  uint8_t id[16], cid[KETEN_CONSENT_ID_BYTES], sig[64];
  Keten__NoticeItem item[2];
  Keten__NoticeItem *items[2];
  Keten__Notice n;
} s_delete_t;

/* A delete notice to gemeente:0716 after coa's consent was revoked:
 * IDENTITY up to v3 and HOUSING up to v1, both by coa; signed with sk
 * (the broker's signing key, or whoever's). */
static Keten__Notice *s_delete_make(s_delete_t *x, const uint8_t *sk) {
  memset(x, 0, sizeof *x);
  randombytes_buf(x->id, sizeof x->id);
  randombytes_buf(x->cid, sizeof x->cid);
  static const int kinds[2] = {K_IDENTITY, K_HOUSING};
  static const uint64_t versions[2] = {3, 1};
  for (size_t i = 0; i < 2; i++) {
    keten__notice_item__init(&x->item[i]);
    x->item[i].kind = (Keten__SectionKind)kinds[i];
    x->item[i].author = (char *)COA;
    x->item[i].up_to_version = versions[i];
    x->items[i] = &x->item[i];
  }
  keten__notice__init(&x->n);
  x->n.kind = KETEN__NOTICE_KIND__NOTICE_DELETE;
  x->n.reason = KETEN__NOTICE_REASON__NOTICE_REASON_REVOKED;
  x->n.notice_id.data = x->id;
  x->n.notice_id.len = sizeof x->id;
  x->n.subject.data = W.subject;
  x->n.subject.len = KETEN_SUBJECT_BYTES;
  x->n.consent_id.data = x->cid;
  x->n.consent_id.len = sizeof x->cid;
  x->n.created_at_ms = W.now;
  x->n.items = x->items;
  x->n.n_items = 2;
  assert_int_equal(canon_sign_notice(&x->n, sk, x->sig), 0);
  x->n.broker_signature.data = x->sig;
  x->n.broker_signature.len = sizeof x->sig;
  return &x->n;
}

static void test_delete_notice_honest_baseline(void **state) {
  (void)state;
  s_delete_t x;
  s_got_t g;
  s_notice_to(s_delete_make(&x, W.broker.signing_sk), &W.gemeente, GEMEENTE,
              ROLE_GEMEENTE, KETEN_OK, NULL, &g);
  assert_int_equal(g.notice_kind, KETEN_NOTICE_DELETE);
  assert_int_equal(g.delete_reason, KETEN_NOTICE_REASON_REVOKED);
  assert_int_equal(g.has_consent_id, 1);
  assert_memory_equal(g.consent_id, x.cid, sizeof x.cid);
  assert_int_equal(g.n_items, 2);
  assert_int_equal(g.items[0].kind, K_IDENTITY);
  assert_string_equal(g.items[0].author, COA);
  assert_int_equal(g.items[0].up_to_version, 3);
  assert_int_equal(g.items[1].kind, K_HOUSING);
  assert_int_equal(g.items[1].up_to_version, 1);
}

/* "Delete everything" in the broker's name, signed by someone else: a
 * taken-over broker without its signing key cannot make us delete. */
static void test_delete_notice_bad_signature(void **state) {
  (void)state;
  s_delete_t x;
  s_got_t g;
  s_notice_to(s_delete_make(&x, W.evil.signing_sk), &W.gemeente, GEMEENTE,
              ROLE_GEMEENTE, KETEN_ERR_EVIDENCE,
              "a delete notice does not verify with the broker's signing key",
              &g);
}

/* Genuinely signed, then an item changed. */
static void test_delete_notice_tampered_item(void **state) {
  (void)state;
  s_delete_t x;
  s_got_t g;
  Keten__Notice *n = s_delete_make(&x, W.broker.signing_sk);
  x.item[0].up_to_version = 99;
  s_notice_to(n, &W.gemeente, GEMEENTE, ROLE_GEMEENTE, KETEN_ERR_EVIDENCE,
              "a delete notice does not verify with the broker's signing key",
              &g);
}

/* A client that was given no broker signing key believes none. */
static void test_delete_notice_without_broker_key(void **state) {
  (void)state;
  F.no_broker_key = 1;
  s_delete_t x;
  s_got_t g;
  s_notice_to(s_delete_make(&x, W.broker.signing_sk), &W.gemeente, GEMEENTE,
              ROLE_GEMEENTE, KETEN_ERR_EVIDENCE,
              "no broker signing key is configured", &g);
}

/* ---- TVS events: koppelingen as evidence, and a gemeente's feed ------------------------ */

typedef struct {
  uint8_t id[16];
  uint8_t subject[KETEN_SUBJECT_BYTES];
  uint8_t sig[64];
  char gemeente[KETEN_ID_MAX + 1], by[KETEN_ID_MAX + 1];
  Keten__TvsEvent ev;
  Keten__TvsEventCopy copy;
} s_tvs_t;

/* A TVS event of kind (KOPPELING or ONTKOPPELING) of subject in gemeente,
 * published by `by` now and signed with sk, handed over with publisher
 * as the publisher's entry. */
static Keten__TvsEventCopy *s_tvs_make(s_tvs_t *x, int kind,
                                       const uint8_t *subject,
                                       const char *gemeente, const char *by,
                                       const uint8_t *sk,
                                       const Keten__RegistryEntry *publisher) {
  memset(x, 0, sizeof *x);
  randombytes_buf(x->id, sizeof x->id);
  memcpy(x->subject, subject, KETEN_SUBJECT_BYTES);
  snprintf(x->gemeente, sizeof x->gemeente, "%s", gemeente);
  snprintf(x->by, sizeof x->by, "%s", by);
  keten__tvs_event__init(&x->ev);
  x->ev.event_id.data = x->id;
  x->ev.event_id.len = sizeof x->id;
  x->ev.kind = (Keten__TvsEventKind)kind;
  x->ev.subject.data = x->subject;
  x->ev.subject.len = sizeof x->subject;
  x->ev.gemeente = x->gemeente;
  x->ev.date = "2026-01-15";
  if (kind == KETEN__TVS_EVENT_KIND__TVS_KOPPELING) {
    x->ev.period = "2026-1";
    x->ev.household_size = 3;
  } else {
    x->ev.reason = KETEN__ONTKOPPEL_REASON__ONTKOPPEL_HOUSING_ELSEWHERE;
  }
  x->ev.published_by = x->by;
  x->ev.published_at_ms = W.now;
  assert_int_equal(tvs_event_sign(&x->ev, sk, x->sig), 0);
  x->ev.signature.data = x->sig;
  x->ev.signature.len = sizeof x->sig;
  char why[200] = "";
  if (tvs_event_check_shape(&x->ev, why, sizeof why) != 0)
    print_error("test event has a bad shape: %s\n", why);
  assert_int_equal(tvs_event_check_shape(&x->ev, why, sizeof why), 0);
  keten__tvs_event_copy__init(&x->copy);
  x->copy.event = &x->ev;
  x->copy.publisher_entry = (Keten__RegistryEntry *)publisher;
  return &x->copy;
}

/* The genuine koppeling of W.subject to gemeente:0716 by tvs. */
static Keten__TvsEventCopy *s_koppeling_ok(s_tvs_t *x) {
  return s_tvs_make(x, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject,
                    GEMEENTE, TVS, W.tvs.signing_sk, &W.tvs_e.e);
}

/* A recipient `e` offered with coa's consent naming "@gemeente" (IDENTITY,
 * INBURGERING) and koppeling (may be NULL). */
static Keten__Recipient *s_recipient_linked(Keten__Recipient *r,
                                            s_consent_t *k,
                                            Keten__Consent **ks,
                                            const Keten__RegistryEntry *e,
                                            Keten__TvsEventCopy *koppeling) {
  ks[0] = s_consent_ok(k, KETEN_LINKED_GEMEENTE, K_IDENTITY, P_INBURGERING);
  s_recipient(r, e, ks, 1);
  r->koppeling = koppeling;
  return r;
}

/* PREPARE offers gemeente:0716 with a consent naming "@gemeente" and the
 * koppeling kc: refused with why, nothing sealed. */
static void s_put_linked_refused(const Keten__RegistryEntry *e,
                                 Keten__TvsEventCopy *kc, const char *why) {
  s_consent_t k;
  Keten__Consent *ks[1];
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient_linked(&r, &k, ks, e, kc)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE, why);
}

static void test_put_honest_linked_gemeente(void **state) {
  (void)state;
  s_tvs_t t;
  s_consent_t k;
  Keten__Consent *ks[1];
  Keten__Recipient r;
  Keten__Recipient *rs[] = {
      s_recipient_linked(&r, &k, ks, &W.gemeente_e.e, s_koppeling_ok(&t))};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_accepted(&pr, K_IDENTITY, GEMEENTE, &W.gemeente);
}

/* (a) "@gemeente", and the broker simply says it is gemeente:0716. */
static void test_lie_linked_without_koppeling(void **state) {
  (void)state;
  s_put_linked_refused(&W.gemeente_e.e, NULL,
                       "recipient gemeente:0716 (GEMEENTE) refused: a consent "
                       "names the linked gemeente, but no koppeling comes "
                       "with it");
}

/* (b) a koppeling published and signed by coa (a genuine entry, not TVS). */
static void test_lie_linked_koppeling_by_non_tvs(void **state) {
  (void)state;
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject, GEMEENTE,
                 COA, W.coa.signing_sk, &W.coa_e.e),
      "its koppeling refused: a TVS event of coa refused: its publisher is "
      "COA, not TVS");
}

/* (b') a TVS entry of the attacker's own root. */
static void test_lie_linked_koppeling_publisher_other_root(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, TVS, ROLE_TVS, "Taakstelling-volgsysteem (COA)",
              &W.evil, W.evil_root.secret_key);
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject, GEMEENTE,
                 TVS, W.evil.signing_sk, &forged.e),
      "its koppeling refused: a TVS event's publisher refused: registry "
      "entry's signature does not verify with the chain root key: tvs");
}

/* (b'') the genuine TVS key, but its entry had ended when it published. */
static void test_lie_linked_koppeling_publisher_expired(void **state) {
  (void)state;
  static s_entry_t old;
  s_entry_make(&old, TVS, ROLE_TVS, "Taakstelling-volgsysteem (COA)", &W.tvs,
               W.now - 2 * YEAR_MS, W.now - DAY_MS, W.root.secret_key);
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject, GEMEENTE,
                 TVS, W.tvs.signing_sk, &old.e),
      "a TVS event of tvs was published outside its signing key's validity");
}

/* (c) a genuine koppeling, of another person. */
static void test_lie_linked_koppeling_other_subject(void **state) {
  (void)state;
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.other_subject,
                 GEMEENTE, TVS, W.tvs.signing_sk, &W.tvs_e.e),
      "recipient gemeente:0716 (GEMEENTE) refused: its koppeling is for "
      "another subject");
}

/* (d) a genuine koppeling of this person, to another gemeente. */
static void test_lie_linked_koppeling_other_gemeente(void **state) {
  (void)state;
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject,
                 GEMEENTE2, TVS, W.tvs.signing_sk, &W.tvs_e.e),
      "its koppeling links the subject to another gemeente");
}

/* (e) the genuine koppeling with one bit of its signature flipped. */
static void test_lie_linked_koppeling_bad_signature(void **state) {
  (void)state;
  s_tvs_t t;
  Keten__TvsEventCopy *kc = s_koppeling_ok(&t);
  t.sig[5] ^= 0x40;
  s_put_linked_refused(&W.gemeente_e.e, kc,
                       "its koppeling refused: a TVS event of tvs does not "
                       "verify with its publisher's key");
}

/* ... and a koppeling whose field changed under its signature. */
static void test_lie_linked_koppeling_changed_field(void **state) {
  (void)state;
  s_tvs_t t;
  Keten__TvsEventCopy *kc = s_koppeling_ok(&t);
  t.ev.household_size = 4;
  s_put_linked_refused(&W.gemeente_e.e, kc,
                       "does not verify with its publisher's key");
}

/* A genuine ONTKOPPELING offered as if it were the koppeling. */
static void test_lie_linked_koppeling_is_ontkoppeling(void **state) {
  (void)state;
  s_tvs_t t;
  s_put_linked_refused(
      &W.gemeente_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING, W.subject,
                 GEMEENTE, TVS, W.tvs.signing_sk, &W.tvs_e.e),
      "its koppeling is not a KOPPELING");
}

/* "@gemeente" offered for a volunteer (the policy would allow IDENTITY
 * for INBURGERING to it; the linked gemeente is only ever a GEMEENTE). */
static void test_lie_linked_to_non_gemeente(void **state) {
  (void)state;
  s_tvs_t t;
  s_put_linked_refused(
      &W.vwn_e.e,
      s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject, VWN, TVS,
                 W.tvs.signing_sk, &W.tvs_e.e),
      "recipient vwn:zeeland (VOLUNTEER) refused: a consent names the linked "
      "gemeente, and this recipient is no GEMEENTE");
}

/* A direct consent, padded with a forged koppeling nobody needed. */
static void test_lie_direct_consent_with_forged_koppeling(void **state) {
  (void)state;
  s_tvs_t t;
  Keten__TvsEventCopy *kc = s_koppeling_ok(&t);
  t.sig[0] ^= 0x01;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  Keten__Recipient *rs[] = {s_recipient(&r, &W.gemeente_e.e, ks, 1)};
  r.koppeling = kc;
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_refused(&pr, K_IDENTITY, KETEN_ERR_EVIDENCE,
                "its koppeling refused");
}

/* The broker puts TVS event kc in gemeente:0716's feed (seq SEQ); the TVS
 * handler (if handler) must get it verified, or NULL with want and why;
 * either way it is acked. */
static void s_tvs_feed(Keten__TvsEventCopy *kc, int handler, keten_err_t want,
                       const char *why, s_got_t *g) {
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.tvs_event = kc;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  memset(g, 0, sizeof *g);
  g->c = c;
  if (handler)
    keten_client_on_tvs_event(c, s_on_tvs_event, g);
  keten_client_on_notice(c, s_on_notice, g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  if (handler) {
    s_poll_until(c, g, &g->tvs, 1);
    if (g->tvs == 1 && (g->tvs_status != want ||
                        (want != KETEN_OK && !strstr(g->error, why))))
      print_error("TVS event: %s (%d): \"%s\"; wanted %s with \"%s\"\n",
                  keten_strerror(g->tvs_status), (int)g->tvs_status, g->error,
                  keten_strerror(want), why ? why : "");
    assert_int_equal(g->tvs, 1);
    assert_int_equal(g->seq, SEQ);
    assert_int_equal(g->tvs_status, want);
    if (want == KETEN_OK) {
      assert_int_equal(g->tvs_ok, 1);
    } else {
      assert_int_equal(g->tvs_ok, 0); /* event NULL */
      assert_non_null(strstr(g->error, why));
    }
  } else {
    int64_t end = s_mono_ms() + WAIT_MS;
    while (s_seen(&F.n_ack) == 0 && s_mono_ms() < end)
      assert_int_equal(keten_client_poll(c, 50, s_on_delivery, g, NULL),
                       KETEN_OK);
  }
  assert_int_equal(g->calls, 0);   /* not taken for a section */
  assert_int_equal(g->notices, 0); /* nor for a notice */
  assert_true(s_wait_acked(SEQ));
  s_say_deliver(NULL);
}

static void test_tvs_event_honest_baseline(void **state) {
  (void)state;
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_koppeling_ok(&t), 1, KETEN_OK, NULL, &g);
  assert_int_equal(g.tvs_event.kind, KETEN_TVS_KOPPELING);
  assert_memory_equal(g.tvs_event.event_id, t.id, sizeof t.id);
  assert_memory_equal(g.tvs_event.subject, W.subject, KETEN_SUBJECT_BYTES);
  assert_string_equal(g.tvs_event.gemeente, GEMEENTE);
  assert_string_equal(g.tvs_event.period, "2026-1");
  assert_string_equal(g.tvs_event.date, "2026-01-15");
  assert_int_equal(g.tvs_event.household_size, 3);
  assert_string_equal(g.tvs_event.published_by, TVS);
  assert_int_equal(g.tvs_event.published_at_ms, W.now);
}

/* Without a handler, events are acked as they arrive. */
static void test_tvs_event_without_handler_acked(void **state) {
  (void)state;
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_koppeling_ok(&t), 0, KETEN_OK, NULL, &g);
}

static void test_tvs_event_from_non_tvs_entry(void **state) {
  (void)state;
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject,
                        GEMEENTE, COA, W.coa.signing_sk, &W.coa_e.e),
             1, KETEN_ERR_EVIDENCE,
             "a TVS event of coa refused: its publisher is COA, not TVS", &g);
}

static void test_tvs_event_publisher_other_root(void **state) {
  (void)state;
  static s_entry_t forged;
  s_entry_now(&forged, TVS, ROLE_TVS, "Taakstelling-volgsysteem (COA)",
              &W.evil, W.evil_root.secret_key);
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING, W.subject,
                        GEMEENTE, TVS, W.evil.signing_sk, &forged.e),
             1, KETEN_ERR_EVIDENCE,
             "a TVS event's publisher refused: registry entry's signature "
             "does not verify with the chain root key", &g);
}

/* The genuine TVS entry, but the event is signed by the attacker. */
static void test_tvs_event_bad_signature(void **state) {
  (void)state;
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_ONTKOPPELING, W.subject,
                        GEMEENTE, TVS, W.evil.signing_sk, &W.tvs_e.e),
             1, KETEN_ERR_CRYPTO,
             "a TVS event of tvs does not verify with its publisher's key",
             &g);
}

/* A genuine event of another gemeente's feed. */
static void test_tvs_event_for_other_gemeente(void **state) {
  (void)state;
  s_tvs_t t;
  s_got_t g;
  s_tvs_feed(s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING, W.subject,
                        GEMEENTE2, TVS, W.tvs.signing_sk, &W.tvs_e.e),
             1, KETEN_ERR_EVIDENCE, "a TVS event for gemeente:0748, not for us",
             &g);
}

/* ---- rewrap requests (coa serves them inside keten_client_poll) ----------------------- */

#define REQUEST_ID 42

/* A section of coa's, sealed to coa alone (as stored before the late
 * consent). */
static Keten__SealedSection *s_seal_own(int kind, const uint8_t *subject,
                                        const char *json) {
  return s_seal_to(&W.coa, COA, kind, subject, json, NULL, 0);
}

/* The broker asks coa (seq SEQ) to rewrap the section in copy for r. The
 * answer must reach the broker before the ack of SEQ, exactly once, for
 * REQUEST_ID, and the rewrap handler must have heard of it. */
static void s_rewrap_run(Keten__SectionCopy *copy, Keten__Recipient *r,
                         s_got_t *g) {
  Keten__RewrapRequest rq = KETEN__REWRAP_REQUEST__INIT;
  rq.request_id = REQUEST_ID;
  rq.section = copy;
  rq.recipient = r;
  rq.queued_at_ms = W.now;
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.rewrap = &rq;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  keten_client_t *c = s_client_as(&W.coa, COA, ROLE_COA);
  memset(g, 0, sizeof *g);
  g->c = c;
  keten_client_on_rewrap(c, s_on_rewrap, g);
  keten_client_on_notice(c, s_on_notice, g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, g, &g->rewraps, 1);
  assert_int_equal(g->rewraps, 1);
  assert_int_equal(g->rewrap_seq, SEQ);
  assert_int_equal(g->calls, 0);
  assert_int_equal(g->notices, 0);
  assert_true(s_wait_acked(SEQ));
  pthread_mutex_lock(&F.mu);
  int n_answer = F.n_answer, at_ack = F.answers_at_ack;
  uint64_t request_id = F.answer_request_id;
  pthread_mutex_unlock(&F.mu);
  assert_int_equal(n_answer, 1);
  assert_int_equal(at_ack, 1); /* answered before the ack */
  assert_int_equal(request_id, REQUEST_ID);
  /* The broker's OK to the answer does not disturb the next request. */
  assert_int_equal(keten_client_ping(c, "!", 1, NULL), KETEN_OK);
  s_say_deliver(NULL);
}

/* ... and coa refuses, with why in the refusal and no wrap. */
static void s_rewrap_refused(Keten__SectionCopy *copy, Keten__Recipient *r,
                             const char *why) {
  s_got_t g;
  s_rewrap_run(copy, r, &g);
  pthread_mutex_lock(&F.mu);
  size_t wrap_len = F.answer_wrap_len;
  char refusal[320];
  snprintf(refusal, sizeof refusal, "%s", F.answer_refusal);
  pthread_mutex_unlock(&F.mu);
  if (!strstr(refusal, why))
    print_error("refusal: \"%s\"; wanted \"%s\"\n", refusal, why);
  assert_int_equal(wrap_len, 0); /* nothing sealed */
  assert_non_null(strstr(refusal, why));
  assert_true(strlen(refusal) >= 1 && strlen(refusal) <= 256);
  assert_int_equal(g.rewraps_sealed, 0);
  assert_int_equal(g.rewrap.sealed, 0);
  assert_non_null(strstr(g.rewrap.refusal, why));
}

/* ... and coa seals: the wrap opens with to's sealing key to the data key
 * of coa's own wrap, and the section opens for `to` with it. */
static void s_rewrap_sealed(Keten__SectionCopy *copy, Keten__Recipient *r,
                            const char *to, const keten_keys_t *to_keys,
                            const char *json) {
  s_got_t g;
  s_rewrap_run(copy, r, &g);
  pthread_mutex_lock(&F.mu);
  size_t wrap_len = F.answer_wrap_len;
  uint8_t wrap[CANON_WRAP_BYTES];
  memcpy(wrap, F.answer_wrap, sizeof wrap);
  char refusal[320];
  snprintf(refusal, sizeof refusal, "%s", F.answer_refusal);
  pthread_mutex_unlock(&F.mu);
  if (refusal[0])
    print_error("refused: \"%s\"\n", refusal);
  assert_string_equal(refusal, "");
  assert_int_equal(wrap_len, CANON_WRAP_BYTES);
  assert_int_equal(g.rewraps_sealed, 1);
  assert_string_equal(g.rewrap.recipient, to);
  assert_int_equal(g.rewrap.version, 3);

  Keten__SealedSection *s = copy->section;
  uint8_t theirs[SEAL_DATA_KEY_BYTES], ours[SEAL_DATA_KEY_BYTES];
  assert_int_equal(crypto_box_seal_open(theirs, wrap, sizeof wrap,
                                        to_keys->sealing_pk,
                                        to_keys->sealing_sk),
                   0);
  assert_string_equal(s->wraps[0]->recipient, COA);
  assert_int_equal(crypto_box_seal_open(ours, s->wraps[0]->wrap.data,
                                        CANON_WRAP_BYTES, W.coa.sealing_pk,
                                        W.coa.sealing_sk),
                   0);
  assert_memory_equal(theirs, ours, sizeof ours);
  /* The section with the new wrap opens for the recipient. */
  Keten__KeyWrap kw = KETEN__KEY_WRAP__INIT;
  kw.recipient = (char *)to;
  kw.wrap.data = wrap;
  kw.wrap.len = sizeof wrap;
  Keten__KeyWrap *wraps[] = {s->wraps[0], &kw};
  Keten__SealedSection with = *s;
  with.wraps = wraps;
  with.n_wraps = 2;
  keten_section_t out;
  char why[256];
  assert_int_equal(seal_open(&with, W.coa.signing_pk, to, to_keys, &out, why,
                             sizeof why),
                   KETEN_OK);
  assert_string_equal(out.json, json);
  sodium_memzero(out.json, out.json_len);
  free(out.json);
  sodium_memzero(theirs, sizeof theirs);
  sodium_memzero(ours, sizeof ours);
}

/* A later direct consent of coa for gemeente:0716. */
static void test_rewrap_honest_baseline(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_sealed(&cp, &r, GEMEENTE, &W.gemeente, IDENTITY_JSON);
}

/* A KOPPELING to gemeente:0716 and coa's consent naming "@gemeente". */
static void test_rewrap_honest_linked_gemeente(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_tvs_t t;
  s_consent_t k;
  Keten__Consent *ks[1];
  Keten__Recipient r;
  s_recipient_linked(&r, &k, ks, &W.gemeente_e.e, s_koppeling_ok(&t));
  s_rewrap_sealed(&cp, &r, GEMEENTE, &W.gemeente, IDENTITY_JSON);
}

/* The broker answers the answer with an ERROR: recorded, nothing else. */
static void test_rewrap_broker_error_recorded(void **state) {
  (void)state;
  pthread_mutex_lock(&F.mu);
  F.answer_error = 1;
  pthread_mutex_unlock(&F.mu);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  Keten__RewrapRequest rq = KETEN__REWRAP_REQUEST__INIT;
  rq.request_id = REQUEST_ID;
  rq.section = &cp;
  rq.recipient = &r;
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.rewrap = &rq;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  keten_client_t *c = s_client_as(&W.coa, COA, ROLE_COA);
  s_got_t g;
  memset(&g, 0, sizeof g);
  g.c = c;
  keten_client_on_rewrap(c, s_on_rewrap, &g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, &g, &g.rewraps, 1);
  assert_int_equal(g.rewraps_sealed, 1);
  int64_t end = s_mono_ms() + WAIT_MS;
  while (!strstr(keten_client_error(c), "refused our answer") &&
         s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_OK);
  assert_non_null(strstr(keten_client_error(c),
                         "the broker refused our answer to rewrap request 42: "
                         "ERROR_NOT_FOUND: no pending rewrap request 42"));
  assert_true(s_wait_acked(SEQ));
  assert_int_equal(keten_client_ping(c, "!", 1, NULL), KETEN_OK);
  assert_string_equal(keten_client_error(c), "");
  s_say_deliver(NULL);
}

/* The evidence the broker queued does not hold: a consent "of ours"
 * signed by the attacker. */
static void test_rewrap_evidence_forged_consent(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_make(&k, W.subject, COA, GEMEENTE,
                                         K_IDENTITY, P_INBURGERING,
                                         W.now - HOUR_MS, W.now + DAY_MS,
                                         W.evil.signing_sk)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r,
                   "the evidence does not hold: recipient gemeente:0716 "
                   "(GEMEENTE) refused: a consent does not carry our "
                   "signature");
}

/* Checked now, not when queued: the consent has expired meanwhile. */
static void test_rewrap_evidence_expired_consent(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_make(&k, W.subject, COA, GEMEENTE,
                                         K_IDENTITY, P_INBURGERING,
                                         W.now - 30 * DAY_MS, W.now - DAY_MS,
                                         W.coa.signing_sk)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r, "a consent is not valid now");
}

/* Evidence queued earlier holds two genuine consents of ours for the
 * recipient: one that has expired since, and one valid now. The expired
 * one allows nothing but is no lie: the valid one holds, coa seals. The
 * same evidence in a PREPARE seals too. With only consents out of their
 * window (one expired, one not begun) nothing holds: refused. */
static void test_rewrap_evidence_expired_beside_valid(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t old, cur;
  Keten__Consent *ks[] = {
      s_consent_make(&old, W.subject, COA, GEMEENTE, K_IDENTITY, P_INBURGERING,
                     W.now - 30 * DAY_MS, W.now - DAY_MS, W.coa.signing_sk),
      s_consent_ok(&cur, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 2);
  s_rewrap_sealed(&cp, &r, GEMEENTE, &W.gemeente, IDENTITY_JSON);
  keten_client_destroy(&C);

  /* PREPARE, the valid one first this time */
  s_consent_t old2, cur2;
  Keten__Consent *ks2[] = {
      s_consent_ok(&cur2, GEMEENTE, K_IDENTITY, P_INBURGERING),
      s_consent_make(&old2, W.subject, COA, GEMEENTE, K_IDENTITY,
                     P_INBURGERING, W.now - 30 * DAY_MS, W.now - DAY_MS,
                     W.coa.signing_sk)};
  Keten__Recipient r2;
  Keten__Recipient *rs[] = {s_recipient(&r2, &W.gemeente_e.e, ks2, 2)};
  Keten__PrepareReply pr;
  s_prepared(&pr, rs, 1);
  s_put_accepted(&pr, K_IDENTITY, GEMEENTE, &W.gemeente);
}

static void test_rewrap_evidence_none_valid_now(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t old, later;
  Keten__Consent *ks[] = {
      s_consent_make(&old, W.subject, COA, GEMEENTE, K_IDENTITY, P_INBURGERING,
                     W.now - 30 * DAY_MS, W.now - DAY_MS, W.coa.signing_sk),
      s_consent_make(&later, W.subject, COA, GEMEENTE, K_IDENTITY,
                     P_INBURGERING, W.now + DAY_MS, W.now + 30 * DAY_MS,
                     W.coa.signing_sk)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 2);
  s_rewrap_refused(&cp, &r,
                   "the evidence does not hold: recipient gemeente:0716 "
                   "(GEMEENTE) refused: a consent is not valid now");
}

/* The consent covers HOUSING; the section is IDENTITY. */
static void test_rewrap_evidence_other_kind(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_HOUSING, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r, "a consent does not cover this section kind");
}

/* "@gemeente" with a koppeling to another gemeente. */
static void test_rewrap_evidence_koppeling_other_gemeente(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_tvs_t t;
  s_consent_t k;
  Keten__Consent *ks[1];
  Keten__Recipient r;
  s_recipient_linked(&r, &k, ks, &W.gemeente_e.e,
                     s_tvs_make(&t, KETEN__TVS_EVENT_KIND__TVS_KOPPELING,
                                W.subject, GEMEENTE2, TVS, W.tvs.signing_sk,
                                &W.tvs_e.e));
  s_rewrap_refused(&cp, &r,
                   "its koppeling links the subject to another gemeente");
}

/* "@gemeente" and no koppeling at all. */
static void test_rewrap_evidence_without_koppeling(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[1];
  Keten__Recipient r;
  s_recipient_linked(&r, &k, ks, &W.gemeente_e.e, NULL);
  s_rewrap_refused(&cp, &r, "no koppeling comes with it");
}

/* The recipient's sealing key swapped for the attacker's. */
static void test_rewrap_evidence_swapped_sealing_key(void **state) {
  (void)state;
  static s_entry_t swapped;
  swapped.p = W.gemeente_e.p;
  memcpy(swapped.p.sealing_pk, W.evil.sealing_pk, 32);
  participant_to_entry(&swapped.p, &swapped.e);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON), &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &swapped.e, ks, 1);
  s_rewrap_refused(&cp, &r,
                   "registry entry's signature does not verify with the chain "
                   "root key: gemeente:0716");
}

/* gemeente:0716's own section, offered to coa for rewrapping. */
static void test_rewrap_someone_elses_section(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  seal_recipient_t to = {COA, W.coa.sealing_pk};
  s_copy(&cp,
         s_seal_to(&W.gemeente, GEMEENTE, K_HOUSING, W.subject,
                   "{\"address\": \"Hoogstraat 1\"}", &to, 1),
         &W.gemeente_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GGZ, K_HOUSING, P_ZORG)};
  Keten__Recipient r;
  s_recipient(&r, &W.ggz_e.e, ks, 1);
  s_rewrap_refused(&cp, &r,
                   "the section is not ours: its author is gemeente:0716");
}

/* The attacker's own section "by coa", its data key wrapped to coa's
 * (public) sealing key: coa's wrap opens, coa's signature is not there. */
static void test_rewrap_section_not_signed_by_us(void **state) {
  (void)state;
  keten_keys_t forger = W.evil;
  memcpy(forger.sealing_pk, W.coa.sealing_pk, 32); /* wraps to coa */
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal_to(&forger, COA, K_IDENTITY, W.subject, IDENTITY_JSON,
                        NULL, 0),
         &W.coa_e.e);
  keten_keys_wipe(&forger);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r,
                   "our own section does not open: signature does not verify "
                   "with the author's key");
}

/* coa's genuine section of W.subject with the header of another subject
 * (for which a genuine consent exists): the header is signed and is the
 * ciphertext's associated data, so the swap does not open. */
static void test_rewrap_header_swap(void **state) {
  (void)state;
  Keten__SealedSection *genuine =
      s_seal_own(K_IDENTITY, W.subject, IDENTITY_JSON);
  static keten_section_header_t h;
  static Keten__SectionHeader wire;
  static Keten__SealedSection swapped;
  assert_int_equal(seal_header_from_wire(genuine->header, &h), 0);
  memcpy(h.subject, W.other_subject, KETEN_SUBJECT_BYTES);
  seal_header_to_wire(&h, &wire);
  swapped = *genuine;
  swapped.header = &wire;
  Keten__SectionCopy cp;
  s_copy(&cp, &swapped, &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_make(&k, W.other_subject, COA, GEMEENTE,
                                         K_IDENTITY, P_INBURGERING,
                                         W.now - HOUR_MS, W.now + DAY_MS,
                                         W.coa.signing_sk)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r,
                   "our own section does not open: signature does not verify");
}

/* Our wrap removed: nothing of ours to open. */
static void test_rewrap_without_our_wrap(void **state) {
  (void)state;
  seal_recipient_t to = {GGZ, W.ggz.sealing_pk};
  Keten__SealedSection *genuine =
      s_seal_to(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON, &to, 1);
  static Keten__SealedSection stripped;
  static Keten__KeyWrap *only_ggz[1];
  only_ggz[0] = genuine->wraps[1];
  stripped = *genuine;
  stripped.wraps = only_ggz;
  stripped.n_wraps = 1;
  Keten__SectionCopy cp;
  s_copy(&cp, &stripped, &W.coa_e.e);
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(&cp, &r, "our own section does not open: no wrap for coa");
}

/* No section at all. */
static void test_rewrap_without_section(void **state) {
  (void)state;
  s_consent_t k;
  Keten__Consent *ks[] = {s_consent_ok(&k, GEMEENTE, K_IDENTITY, P_INBURGERING)};
  Keten__Recipient r;
  s_recipient(&r, &W.gemeente_e.e, ks, 1);
  s_rewrap_refused(NULL, &r, "the rewrap request carries no section");
}

/* ---- isolated failures (issue 8, item 3) ---------------------------------------- */

#define K_HOUSEHOLD KETEN__SECTION_KIND__SECTION_HOUSEHOLD
#define K_STORY KETEN__SECTION_KIND__SECTION_STORY
#define K_EDUCATION KETEN__SECTION_KIND__SECTION_EDUCATION
#define K_WORK KETEN__SECTION_KIND__SECTION_WORK
#define K_LANGUAGE KETEN__SECTION_KIND__SECTION_LANGUAGE

static void s_say_pages(const Keten__FetchReply *const *pages, int n) {
  pthread_mutex_lock(&F.mu);
  for (int i = 0; i < n; i++)
    F.pages[i] = pages[i];
  F.n_pages = n;
  pthread_mutex_unlock(&F.mu);
}

/* The sections of test_fetch_bad_sections_isolated, in (kind, author)
 * order: two genuine, and one of each way a section fails. */
typedef struct {
  keten_keys_t old;              /* gemeente's keys before a rotation */
  s_entry_t other_root;          /* coa's keys, signed by the attacker's root */
  Keten__SectionCopy cp[7];
  Keten__SectionCopy *first[4], *second[3];
  Keten__FetchReply page1, page2;
} s_bad_world_t;

static void s_bad_world(s_bad_world_t *b) {
  memset(b, 0, sizeof *b);
  assert_int_equal(keten_keys_generate(&b->old, GEMEENTE), KETEN_OK);
  s_entry_now(&b->other_root, COA, ROLE_COA, "coa, by another root", &W.coa,
              W.evil_root.secret_key);
  /* a: genuine */
  s_copy(&b->cp[0], s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  /* b: a junk wrap for the reader */
  Keten__SealedSection *junk =
      s_seal(&W.coa, COA, K_HOUSEHOLD, W.subject, "{\"size\": 3}");
  for (size_t i = 0; i < junk->n_wraps; i++)
    if (strcmp(junk->wraps[i]->recipient, GEMEENTE) == 0)
      randombytes_buf(junk->wraps[i]->wrap.data, junk->wraps[i]->wrap.len);
  s_copy(&b->cp[1], junk, &W.coa_e.e);
  /* c: sealed to the reader's key before a rotation */
  seal_recipient_t to_old = {GEMEENTE, b->old.sealing_pk};
  s_copy(&b->cp[2],
         s_seal_to(&W.coa, COA, K_STORY, W.subject, "{\"text\": \"old\", \"language\": \"ar\"}",
                   &to_old, 1),
         &W.coa_e.e);
  /* d: "by coa", signed by the attacker */
  s_copy(&b->cp[3],
         s_seal(&W.evil, COA, K_EDUCATION, W.subject, "{\"level\": 2}"),
         &W.coa_e.e);
  /* e: the author's entry is not the chain root's */
  s_copy(&b->cp[4], s_seal(&W.coa, COA, K_WORK, W.subject, "{\"job\": 1}"),
         &b->other_root.e);
  /* f: plaintext that is not UTF-8 */
  s_copy(&b->cp[5],
         s_seal(&W.coa, COA, K_LANGUAGE, W.subject, "{\"nl\": \"\xff\xfe\"}"),
         &W.coa_e.e);
  /* g: genuine */
  s_copy(&b->cp[6], s_seal(&W.coa, COA, K_HEALTH, W.subject, HEALTH_JSON),
         &W.coa_e.e);
  for (int i = 0; i < 4; i++)
    b->first[i] = &b->cp[i];
  for (int i = 0; i < 3; i++)
    b->second[i] = &b->cp[4 + i];
  keten__fetch_reply__init(&b->page1);
  b->page1.sections = b->first;
  b->page1.n_sections = 4;
  b->page1.more = 1;
  keten__fetch_reply__init(&b->page2);
  b->page2.sections = b->second;
  b->page2.n_sections = 3;
  const Keten__FetchReply *pages[] = {&b->page1, &b->page2};
  s_say_pages(pages, 2);
}

static void s_expect_failure(const keten_fetch_result_t *r, size_t i, int kind,
                             keten_err_t status, const char *why) {
  assert_true(i < r->n_failures);
  const keten_fetch_failure_t *f = &r->failures[i];
  if (f->kind != kind || f->status != status || !strstr(f->reason, why))
    print_error("failure %zu: %s by %s v%llu: %s (%s); wanted %s, %s, \"%s\"\n",
                i, keten_section_kind_name(f->kind), f->author,
                (unsigned long long)f->version, f->reason,
                keten_strerror(f->status), keten_section_kind_name(kind),
                keten_strerror(status), why);
  assert_int_equal(f->kind, kind);
  assert_string_equal(f->author, COA);
  assert_int_equal(f->version, 3);
  assert_int_equal(f->status, status);
  assert_non_null(strstr(f->reason, why));
}

/* One FETCH over two pages with two genuine sections and five that fail:
 * the genuine ones open, each other one is a failure naming its author,
 * kind, version and why; the second page asks after the first page's last
 * section. */
static void test_fetch_bad_sections_isolated(void **state) {
  (void)state;
  static s_bad_world_t b;
  s_bad_world(&b);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  keten_fetch_result_t r;
  keten_err_t rc = keten_client_fetch_all(c, W.subject, &r);
  if (rc != KETEN_OK)
    print_error("fetch_all: %s: %s\n", keten_strerror(rc),
                keten_client_error(c));
  assert_int_equal(rc, KETEN_OK);
  assert_int_equal(r.pages, 2);
  assert_int_equal(s_seen(&F.n_fetch), 2);
  pthread_mutex_lock(&F.mu);
  uint32_t k0 = F.fetch_after_kind[0], k1 = F.fetch_after_kind[1];
  char a0[KETEN_ID_MAX + 1], a1[KETEN_ID_MAX + 1];
  snprintf(a0, sizeof a0, "%s", F.fetch_after_author[0]);
  snprintf(a1, sizeof a1, "%s", F.fetch_after_author[1]);
  pthread_mutex_unlock(&F.mu);
  assert_int_equal(k0, 0);
  assert_string_equal(a0, "");
  assert_int_equal(k1, K_EDUCATION); /* the first page's last, failed or not */
  assert_string_equal(a1, COA);
  assert_int_equal(r.n_sections, 2);
  assert_int_equal(r.sections[0].header.kind, K_IDENTITY);
  assert_string_equal(r.sections[0].json, IDENTITY_JSON);
  assert_int_equal(r.sections[1].header.kind, K_HEALTH);
  assert_string_equal(r.sections[1].json, HEALTH_JSON);
  assert_int_equal(r.n_failures, 5);
  s_expect_failure(&r, 0, K_HOUSEHOLD, KETEN_ERR_CRYPTO, "does not open");
  s_expect_failure(&r, 1, K_STORY, KETEN_ERR_CRYPTO, "does not open");
  s_expect_failure(&r, 2, K_EDUCATION, KETEN_ERR_CRYPTO,
                   "signature does not verify");
  s_expect_failure(&r, 3, K_WORK, KETEN_ERR_EVIDENCE, "chain root");
  s_expect_failure(&r, 4, K_LANGUAGE, KETEN_ERR_PROTOCOL, "not UTF-8");
  keten_fetch_result_free(&r);
  assert_null(r.sections);
  assert_int_equal(r.n_failures, 0);

  /* The older call hands over what opened and says it is partial. */
  pthread_mutex_lock(&F.mu);
  F.n_fetch = 0; /* the fake pages again from its first */
  pthread_mutex_unlock(&F.mu);
  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(c, W.subject, &secs, &n),
                   KETEN_ERR_PARTIAL);
  assert_int_equal(n, 2);
  assert_non_null(strstr(keten_client_error(c), "5 of 7 could not be opened"));
  keten_sections_free(secs, n);

  /* With the key from before the rotation, the section sealed to it opens
   * too. */
  keten_client_destroy(&C);
  keten_client_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.endpoint = F.endpoint;
  cfg.keys = &W.gemeente;
  cfg.broker_key = W.broker.transport_pk;
  cfg.root_key = W.root.public_key;
  cfg.previous_keys = &b.old;
  cfg.n_previous_keys = 1;
  cfg.timeout_ms = CLIENT_TIMEOUT_MS;
  cfg.retries = -1;
  C = keten_client_new(&cfg, NULL, 0);
  assert_non_null(C);
  pthread_mutex_lock(&F.mu);
  F.n_fetch = 0;
  pthread_mutex_unlock(&F.mu);
  assert_int_equal(keten_client_fetch_all(C, W.subject, &r), KETEN_OK);
  assert_int_equal(r.n_sections, 3);
  assert_int_equal(r.sections[1].header.kind, K_STORY);
  assert_int_equal(r.n_failures, 4);
  keten_fetch_result_free(&r);
  keten_keys_wipe(&b.old);
}

/* A broker that pages backwards, or hands the same page again, cannot
 * make the client loop or take a section twice. */
static void test_fetch_pages_must_advance(void **state) {
  (void)state;
  Keten__SectionCopy a, z;
  s_copy(&a, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  s_copy(&z, s_seal(&W.coa, COA, K_HEALTH, W.subject, HEALTH_JSON),
         &W.coa_e.e);
  Keten__SectionCopy *pz[] = {&z}, *pa[] = {&a};
  Keten__FetchReply again = KETEN__FETCH_REPLY__INIT, back = again,
                    empty = again;
  again.sections = pz;
  again.n_sections = 1;
  again.more = 1;
  back.sections = pa;
  back.n_sections = 1;
  empty.more = 1;
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  const Keten__FetchReply *loop[] = {&again}; /* the same page for ever */
  const Keten__FetchReply *backwards[] = {&again, &back};
  const Keten__FetchReply *stuck[] = {&empty};
  const struct {
    const Keten__FetchReply *const *pages;
    int n;
    const char *why;
  } cases[] = {{loop, 1, "not in (kind, author) order"},
               {backwards, 2, "not in (kind, author) order"},
               {stuck, 1, "empty but says more follow"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    s_say_pages(cases[i].pages, cases[i].n);
    pthread_mutex_lock(&F.mu);
    F.n_fetch = 0;
    pthread_mutex_unlock(&F.mu);
    keten_fetch_result_t r;
    assert_int_equal(keten_client_fetch_all(c, W.subject, &r),
                     KETEN_ERR_PROTOCOL);
    assert_non_null(strstr(keten_client_error(c), cases[i].why));
    assert_null(r.sections); /* nothing handed over */
    assert_int_equal(r.n_sections + r.n_failures, 0);
    assert_true(s_seen(&F.n_fetch) <= 2);
    keten_fetch_result_free(&r);
  }
}

/* What the subscription handler saw. */
typedef struct {
  int n, displaced, removed, stalled, retries;
  uint32_t delays[8];
  char detail[256];
} s_subs_t;

static void s_on_sub(const keten_subscription_event_t *ev, void *arg) {
  s_subs_t *s = arg;
  if (s->n < 8)
    s->delays[s->n] = ev->delay_ms;
  s->n++;
  snprintf(s->detail, sizeof s->detail, "%s", ev->detail);
  s->displaced += ev->event == KETEN_SUBSCRIPTION_DISPLACED;
  s->removed += ev->event == KETEN_SUBSCRIPTION_REMOVED;
  s->stalled += ev->event == KETEN_SUBSCRIPTION_STALLED;
  s->retries += ev->event == KETEN_SUBSCRIPTION_RETRY;
}

static void s_say_sub_end(Keten__SubscriptionEnded *e,
                          Keten__SubscriptionEndReason reason,
                          const char *detail, int times) {
  keten__subscription_ended__init(e);
  e->reason = reason;
  e->detail = (char *)detail;
  pthread_mutex_lock(&F.mu);
  F.sub_end = e;
  F.sub_end_times = times;
  pthread_mutex_unlock(&F.mu);
}

static int64_t s_subscribed_at(int k) {
  pthread_mutex_lock(&F.mu);
  int64_t t = F.subscribe_at_ms[k];
  pthread_mutex_unlock(&F.mu);
  return t;
}

/* DISPLACED reaches the application (poll's return code, the handler)
 * and no SUBSCRIBE follows by itself; the application may take it back. */
static void test_subscription_displaced(void **state) {
  (void)state;
  static Keten__SubscriptionEnded e;
  s_say_sub_end(&e, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED,
                "a newer SUBSCRIBE of gemeente:0716 took it\n", 1);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  s_subs_t subs;
  memset(&subs, 0, sizeof subs);
  keten_client_on_subscription(c, s_on_sub, &subs);
  s_got_t g;
  memset(&g, 0, sizeof g);
  g.c = c;
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  keten_err_t rc = KETEN_OK;
  int64_t end = s_mono_ms() + WAIT_MS;
  while (rc == KETEN_OK && s_mono_ms() < end)
    rc = keten_client_poll(c, 50, s_on_delivery, &g, NULL);
  assert_int_equal(rc, KETEN_ERR_DISPLACED);
  assert_non_null(strstr(keten_client_error(c), "taken over"));
  assert_int_equal(subs.displaced, 1);
  assert_string_equal(subs.detail, "a newer SUBSCRIBE of gemeente:0716 took it?");
  /* It stays ended: no SUBSCRIBE by itself, also not after a while. */
  end = s_mono_ms() + 800;
  while (s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_ERR_DISPLACED);
  assert_int_equal(s_seen(&F.n_subscribe), 1);
  assert_int_equal(subs.n, 1);
  /* The application decides to take it back. */
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 2);
  assert_int_equal(keten_client_poll(c, 100, s_on_delivery, &g, NULL),
                   KETEN_OK);
}

/* REMOVED: likewise reported, not retried. */
static void test_subscription_removed(void **state) {
  (void)state;
  static Keten__SubscriptionEnded e;
  s_say_sub_end(&e, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED,
                "the key left the registry", 1);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  s_got_t g;
  memset(&g, 0, sizeof g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  keten_err_t rc = KETEN_OK;
  int64_t end = s_mono_ms() + WAIT_MS;
  while (rc == KETEN_OK && s_mono_ms() < end)
    rc = keten_client_poll(c, 50, s_on_delivery, &g, NULL);
  assert_int_equal(rc, KETEN_ERR_REMOVED);
  assert_int_equal(keten_client_poll(c, 300, s_on_delivery, &g, NULL),
                   KETEN_ERR_REMOVED);
  assert_int_equal(s_seen(&F.n_subscribe), 1);
}

/* STALLED: libketen subscribes again after a back-off, and deliveries go
 * on. */
static void test_subscription_stalled_resubscribes(void **state) {
  (void)state;
  static Keten__SubscriptionEnded e;
  s_say_sub_end(&e, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_STALLED,
                "3 ack timeouts without progress", 1);
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  s_subs_t subs;
  memset(&subs, 0, sizeof subs);
  keten_client_on_subscription(c, s_on_sub, &subs);
  s_got_t g;
  memset(&g, 0, sizeof g);
  g.c = c;
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  int64_t end = s_mono_ms() + WAIT_MS;
  while (s_seen(&F.n_subscribe) < 2 && s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 2);
  assert_int_equal(subs.stalled, 1);
  assert_true(subs.delays[0] >= 100 && subs.delays[0] <= 125);
  assert_true(s_subscribed_at(1) - s_subscribed_at(0) >= 95);
  /* the new subscription delivers */
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.section = &cp;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_OK);
  s_poll_until(c, &g, &g.opened, 1);
  assert_int_equal(g.opened, 1);
  assert_true(s_wait_acked(SEQ));
  s_say_deliver(NULL);
}

/* SUBSCRIBE answered ERROR_INTERNAL, ERROR_DISK_FULL, ERROR_INTERNAL,
 * then SUBSCRIBED: libketen keeps the subscription wanted and tries again
 * 100, 200, 400 ms apart (plus jitter), telling the handler each time. */
static void test_subscribe_backs_off_on_internal(void **state) {
  (void)state;
  pthread_mutex_lock(&F.mu);
  F.subscribe_errors = 3;
  F.subscribe_code[0] = KETEN__ERROR_CODE__ERROR_INTERNAL;
  F.subscribe_code[1] = KETEN__ERROR_CODE__ERROR_DISK_FULL;
  F.subscribe_code[2] = KETEN__ERROR_CODE__ERROR_INTERNAL;
  pthread_mutex_unlock(&F.mu);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  s_subs_t subs;
  memset(&subs, 0, sizeof subs);
  keten_client_on_subscription(c, s_on_sub, &subs);
  s_got_t g;
  memset(&g, 0, sizeof g);
  keten_err_t rc = keten_client_subscribe(c, 16);
  assert_int_equal(rc, KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(c),
                   KETEN__ERROR_CODE__ERROR_INTERNAL);
  assert_int_equal(keten_client_transient(c, rc), 1);
  int64_t end = s_mono_ms() + WAIT_MS;
  while (s_seen(&F.n_subscribe) < 4 && s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 4);
  assert_int_equal(subs.retries, 3);
  const uint32_t base[] = {100, 200, 400};
  for (int i = 0; i < 3; i++) {
    int64_t gap = s_subscribed_at(i + 1) - s_subscribed_at(i);
    if (subs.delays[i] < base[i] || subs.delays[i] > base[i] + base[i] / 4 ||
        gap < (int64_t)base[i] - 5)
      print_error("retry %d: delay %u ms, gap %lld ms; wanted %u..%u\n", i,
                  (unsigned)subs.delays[i], (long long)gap, (unsigned)base[i],
                  (unsigned)(base[i] + base[i] / 4));
    assert_true(subs.delays[i] >= base[i] &&
                subs.delays[i] <= base[i] + base[i] / 4);
    assert_true(gap >= (int64_t)base[i] - 5);
  }
  /* Subscribed: no more SUBSCRIBE frames. */
  end = s_mono_ms() + 600;
  while (s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 4);
}

/* ERROR_DISK_FULL with retry_after_ms: not sooner than that. A code the
 * client does not treat as transient is not retried. */
static void test_subscribe_honours_retry_after(void **state) {
  (void)state;
  pthread_mutex_lock(&F.mu);
  F.subscribe_errors = 1;
  F.subscribe_code[0] = KETEN__ERROR_CODE__ERROR_DISK_FULL;
  F.subscribe_retry_after_ms = 700;
  pthread_mutex_unlock(&F.mu);
  keten_client_t *c = s_client_as(&W.gemeente, GEMEENTE, ROLE_GEMEENTE);
  s_got_t g;
  memset(&g, 0, sizeof g);
  assert_int_equal(keten_client_subscribe(c, 16), KETEN_ERR_REMOTE);
  int64_t end = s_mono_ms() + WAIT_MS;
  while (s_seen(&F.n_subscribe) < 2 && s_mono_ms() < end)
    assert_int_equal(keten_client_poll(c, 50, s_on_delivery, &g, NULL),
                     KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 2);
  assert_true(s_subscribed_at(1) - s_subscribed_at(0) >= 695);

  pthread_mutex_lock(&F.mu);
  F.n_subscribe = 0;
  F.subscribe_errors = 1;
  F.subscribe_code[0] = KETEN__ERROR_CODE__ERROR_FORBIDDEN;
  pthread_mutex_unlock(&F.mu);
  keten_err_t rc = keten_client_subscribe(c, 16);
  assert_int_equal(rc, KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_transient(c, rc), 0);
  assert_int_equal(keten_client_poll(c, 300, s_on_delivery, &g, NULL),
                   KETEN_OK);
  assert_int_equal(s_seen(&F.n_subscribe), 1);
}

/* ---- the keten CLI against the fake broker --------------------------------------- */

/* Runs `keten ARGS -e EP -k gemeente.key -b broker.pub -R root.pub` as
 * gemeente:0716 with stdout and stderr into files of F.dir, whose
 * contents (malloc'd) go to *out and *err. Returns the exit status. */
static int s_run_cli(const char *cmd, const char *const *args, char **out,
                     char **err) {
  char keys[192], bpub[192], rpub[192], opath[192], epath[192];
  snprintf(keys, sizeof keys, "%s/gemeente.key", F.dir);
  snprintf(bpub, sizeof bpub, "%s/broker.pub", F.dir);
  snprintf(rpub, sizeof rpub, "%s/root.pub", F.dir);
  snprintf(opath, sizeof opath, "%s/out.txt", F.dir);
  snprintf(epath, sizeof epath, "%s/err.txt", F.dir);
  assert_int_equal(keten_keys_save(&W.gemeente, keys, NULL, 1), KETEN_OK);
  assert_int_equal(keten_keys_save(&W.broker, NULL, bpub, 1), KETEN_OK);
  assert_int_equal(keten_root_key_save(&W.root, NULL, rpub, 1), KETEN_OK);
  pthread_mutex_lock(&F.mu);
  snprintf(F.welcome_id, sizeof F.welcome_id, "%s", GEMEENTE);
  F.welcome_role = ROLE_GEMEENTE;
  pthread_mutex_unlock(&F.mu);
  const char *argv[32];
  int n = 0;
  argv[n++] = KETEN_CLI_PATH;
  argv[n++] = cmd;
  for (int i = 0; args[i] && n < 20; i++)
    argv[n++] = args[i];
  const char *conn[] = {"-e", F.endpoint, "-k", keys, "-b", bpub, "-R", rpub,
                        "-T", "3000"};
  for (size_t i = 0; i < sizeof conn / sizeof conn[0]; i++)
    argv[n++] = conn[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    FILE *o = freopen(opath, "w", stdout);
    FILE *e = freopen(epath, "w", stderr);
    if (!o || !e)
      _exit(126);
    execv(KETEN_CLI_PATH, (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  const char *paths[2] = {opath, epath};
  char **dst[2] = {out, err};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(paths[i], "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t got = fread(buf, 1, 65535, f);
    buf[got] = '\0';
    fclose(f);
    unlink(paths[i]);
    *dst[i] = buf;
  }
  unlink(keys);
  unlink(bpub);
  unlink(rpub);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int s_count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* `keten fetch` prints what opened, one "skipped" line per section that
 * did not, and exits 6. */
static void test_cli_fetch_partial(void **state) {
  (void)state;
  static s_bad_world_t b;
  s_bad_world(&b);
  char hex[2 * KETEN_SUBJECT_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, W.subject, KETEN_SUBJECT_BYTES);
  const char *args[] = {hex, NULL};
  char *out = NULL, *err = NULL;
  int status = s_run_cli("fetch", args, &out, &err);
  if (status != 6)
    print_error("keten fetch exit %d\nstdout: %s\nstderr: %s\n", status, out,
                err);
  assert_int_equal(status, 6);
  assert_non_null(strstr(out, "\"kind\": \"IDENTITY\""));
  assert_non_null(strstr(out, "\"kind\": \"HEALTH\""));
  assert_int_equal(s_count(out, "\"author\": \"coa\""), 2);
  assert_int_equal(s_count(err, "skipped "), 5);
  assert_non_null(strstr(err, "skipped HOUSEHOLD by coa v3: wrap for "
                              "gemeente:0716 does not open"));
  assert_non_null(strstr(err, "skipped LANGUAGE by coa v3: its plaintext is "
                              "not UTF-8 text\n"));
  free(out);
  free(err);
  keten_keys_wipe(&b.old);
}

/* `keten listen`: SUBSCRIBE answered ERROR_INTERNAL, then ERROR_DISK_FULL:
 * it backs off, says so once per step, and goes on to receive. */
static void test_cli_listen_backs_off(void **state) {
  (void)state;
  Keten__SectionCopy cp;
  s_copy(&cp, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  Keten__Delivery item = KETEN__DELIVERY__INIT;
  item.seq = SEQ;
  item.section = &cp;
  Keten__Delivery *items[] = {&item};
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 1;
  s_say_deliver(&d);
  pthread_mutex_lock(&F.mu);
  F.subscribe_errors = 2;
  F.subscribe_code[0] = KETEN__ERROR_CODE__ERROR_INTERNAL;
  F.subscribe_code[1] = KETEN__ERROR_CODE__ERROR_DISK_FULL;
  pthread_mutex_unlock(&F.mu);
  const char *args[] = {"--idle", "1500", NULL};
  char *out = NULL, *err = NULL;
  int status = s_run_cli("listen", args, &out, &err);
  if (status != 0)
    print_error("keten listen exit %d\nstdout: %s\nstderr: %s\n", status, out,
                err);
  assert_int_equal(status, 0);
  assert_int_equal(s_seen(&F.n_subscribe), 3);
  assert_int_equal(s_count(err, "SUBSCRIBE failed"), 2);
  assert_non_null(strstr(err, "ERROR_DISK_FULL"));
  assert_non_null(strstr(err, "retrying in "));
  assert_non_null(strstr(out, "\"kind\":\"IDENTITY\""));
  assert_true(s_subscribed_at(2) - s_subscribed_at(1) >= 195);
  assert_true(s_wait_acked(SEQ));
  free(out);
  free(err);
  s_say_deliver(NULL);
}

/* `keten listen` displaced by another listener: says why, exits 7, and
 * does not subscribe again. */
static void test_cli_listen_displaced(void **state) {
  (void)state;
  static Keten__SubscriptionEnded e;
  s_say_sub_end(&e, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED,
                "a newer SUBSCRIBE took it", 1);
  const char *args[] = {"--idle", "3000", NULL};
  char *out = NULL, *err = NULL;
  int status = s_run_cli("listen", args, &out, &err);
  if (status != 7)
    print_error("keten listen exit %d\nstderr: %s\n", status, err);
  assert_int_equal(status, 7);
  assert_non_null(strstr(err, "keten listen: stopped: the subscription was "
                              "taken over by a newer SUBSCRIBE with our key"));
  assert_non_null(strstr(err, "a newer SUBSCRIBE took it"));
  assert_int_equal(s_seen(&F.n_subscribe), 1);
  free(out);
  free(err);
}

/* `keten listen` told STALLED subscribes again and goes on. */
static void test_cli_listen_stalled_goes_on(void **state) {
  (void)state;
  static Keten__SubscriptionEnded e;
  s_say_sub_end(&e, KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_STALLED,
                "3 ack timeouts without progress", 1);
  const char *args[] = {"--idle", "1000", NULL};
  char *out = NULL, *err = NULL;
  int status = s_run_cli("listen", args, &out, &err);
  assert_int_equal(status, 0);
  assert_int_equal(s_seen(&F.n_subscribe), 2);
  assert_non_null(strstr(err, "ended the subscription as stalled (3 ack "
                              "timeouts without progress); subscribing again"));
  free(out);
  free(err);
}

/* A file of dir (malloc'd, NUL-terminated), or NULL. */
static char *s_slurp(const char *dir, const char *name) {
  char path[320];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  if (buf)
    buf[fread(buf, 1, 65535, f)] = '\0';
  fclose(f);
  return buf;
}

/* Empties and removes dir; returns how many entries it held, their names
 * (joined by ' ') in names. */
static int s_clear_dir(const char *dir, char *names, size_t len) {
  int n = 0;
  names[0] = '\0';
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    size_t used = strlen(names);
    snprintf(names + used, len - used, "%s%s", used ? " " : "", e->d_name);
    char path[320];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
    n++;
  }
  closedir(d);
  rmdir(dir);
  return n;
}

/* `keten listen --dir` never holds the stream on what it cannot render
 * (issue 8, item 3): one DELIVER frame with (1) a genuine section whose
 * plaintext is not UTF-8, (2) one whose wrap for us is junk, (3) a genuine
 * section and (4) a TVS event whose signature does not verify. The genuine
 * one becomes its file; 1, 2 and 4 become quarantine files with the
 * reason (1 with its bytes in hex; 2 and 4 open to nothing, so the
 * reason and status); all four are acked; exit 0. */
static void test_cli_listen_quarantines(void **state) {
  (void)state;
  static const char not_utf8[] = "{\"nl\": \"\xff\xfe\"}";
  Keten__SectionCopy bad, junk, good;
  s_copy(&bad, s_seal(&W.coa, COA, K_LANGUAGE, W.subject, not_utf8),
         &W.coa_e.e);
  Keten__SealedSection *j =
      s_seal(&W.coa, COA, K_HOUSEHOLD, W.subject, "{\"size\": 3}");
  for (size_t i = 0; i < j->n_wraps; i++)
    if (strcmp(j->wraps[i]->recipient, GEMEENTE) == 0)
      randombytes_buf(j->wraps[i]->wrap.data, j->wraps[i]->wrap.len);
  s_copy(&junk, j, &W.coa_e.e);
  s_copy(&good, s_seal(&W.coa, COA, K_IDENTITY, W.subject, IDENTITY_JSON),
         &W.coa_e.e);
  static s_tvs_t t;
  Keten__TvsEventCopy *forged = s_koppeling_ok(&t);
  t.sig[0] ^= 0x01; /* signed, then changed: does not verify */
  Keten__Delivery it[4];
  Keten__Delivery *items[4];
  for (int i = 0; i < 4; i++) {
    keten__delivery__init(&it[i]);
    it[i].seq = (uint64_t)i + 1;
    items[i] = &it[i];
  }
  it[0].section = &bad;
  it[1].section = &junk;
  it[2].section = &good;
  it[3].tvs_event = forged;
  Keten__Deliver d = KETEN__DELIVER__INIT;
  d.items = items;
  d.n_items = 4;
  s_say_deliver(&d);

  char inbox[128];
  snprintf(inbox, sizeof inbox, "%s/inbox", F.dir);
  assert_int_equal(mkdir(inbox, 0700), 0);
  const char *args[] = {"--dir", inbox, "--idle", "1000", NULL};
  char *out = NULL, *err = NULL;
  int status = s_run_cli("listen", args, &out, &err);
  /* What listen left, read before anything is asserted (the inbox is
   * removed either way). */
  char hex16[17], genuine[96];
  sodium_bin2hex(hex16, sizeof hex16, W.subject, 8);
  snprintf(genuine, sizeof genuine, "%s-IDENTITY-coa-v3.json", hex16);
  char *f_good = s_slurp(inbox, genuine);
  char *f_bad = s_slurp(inbox, "quarantine-section-1.json");
  char *f_junk = s_slurp(inbox, "quarantine-section-2.json");
  char *f_tvs = s_slurp(inbox, "quarantine-tvs-4.json");
  char names[1024];
  int n_files = s_clear_dir(inbox, names, sizeof names);
  int acked = s_wait_acked(4);
  if (status != 0 || n_files != 4 || !f_good || !f_bad || !f_junk || !f_tvs ||
      !acked)
    print_error("keten listen exit %d, acked %d; files (%d): %s\n"
                "stdout: %s\nstderr: %s\n", status, acked, n_files, names,
                out, err);
  assert_int_equal(status, 0);
  assert_true(acked); /* nothing held: the ack covers all four */
  assert_int_equal(n_files, 4); /* and no temporary left */

  /* 3: the genuine section, as its file. */
  assert_non_null(f_good);
  assert_non_null(strstr(f_good, "\"data\":{\"birth_date\":\"1991-03-14\","
                                 "\"family_name\":\"Haddad\""));
  assert_non_null(strstr(f_good, "\"kind\":\"IDENTITY\""));
  assert_non_null(strstr(f_good, "\"seq\":3"));
  /* 1: opened and verified, but not UTF-8: its bytes in hex. */
  char hex[2 * sizeof not_utf8 + 1];
  sodium_bin2hex(hex, sizeof hex, (const unsigned char *)not_utf8,
                 strlen(not_utf8));
  char want[sizeof hex + 32];
  snprintf(want, sizeof want, "\"data_hex\":\"%s\"", hex);
  assert_non_null(f_bad);
  assert_non_null(strstr(f_bad, want));
  assert_non_null(strstr(f_bad, "\"quarantined\":\"section data is not UTF-8\""));
  assert_non_null(strstr(f_bad, "\"kind\":\"LANGUAGE\""));
  assert_non_null(strstr(f_bad, "\"author\":\"coa\""));
  assert_non_null(strstr(f_bad, "\"version\":3"));
  assert_non_null(strstr(f_bad, "\"seq\":1"));
  /* 2: does not open: the reason and the status, no data. */
  assert_non_null(f_junk);
  assert_non_null(strstr(f_junk, "\"quarantined\":\"cannot open a section: "
                                 "wrap for gemeente:0716 does not open"));
  assert_non_null(strstr(f_junk, "\"status\":\"cryptographic check "
                                 "failed\""));
  assert_non_null(strstr(f_junk, "\"seq\":2"));
  assert_null(strstr(f_junk, "\"data"));
  /* 4: a TVS event that does not verify. */
  assert_non_null(f_tvs);
  assert_non_null(strstr(f_tvs, "\"quarantined\":\"a TVS event refused: "));
  assert_non_null(strstr(f_tvs, "\"status\":\"cryptographic check "
                                "failed\""));
  assert_non_null(strstr(f_tvs, "\"seq\":4"));
  /* Each said on stderr, and counted. */
  assert_non_null(strstr(err, "keten listen: section 1 quarantined: section "
                              "data is not UTF-8\n"));
  assert_non_null(strstr(err, "keten listen: section 2 quarantined: cannot "
                              "open a section: "));
  assert_non_null(strstr(err, "keten listen: tvs 4 quarantined: "));
  assert_non_null(strstr(err, "keten listen: 1 section(s) and 0 notice(s) "
                              "received"));
  assert_non_null(strstr(err, "keten listen: 3 item(s) quarantined\n"));
  free(f_good);
  free(f_bad);
  free(f_junk);
  free(f_tvs);
  free(out);
  free(err);
  s_say_deliver(NULL);
}

/* ---- main -------------------------------------------------------------------------- */

#define CASE(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      CASE(test_put_honest_baseline),
      CASE(test_put_honest_health_to_care),
      CASE(test_lie_extra_recipient_without_consent),
      CASE(test_lie_extra_recipient_colluding_consent),
      CASE(test_lie_extra_recipient_consent_of_partner),
      CASE(test_lie_swapped_sealing_key),
      CASE(test_lie_entry_from_other_root),
      CASE(test_lie_entry_of_another_participant),
      CASE(test_lie_entry_unknown_field),
      CASE(test_lie_recipient_without_entry),
      CASE(test_lie_consent_signed_by_other_key),
      CASE(test_lie_consent_other_subject),
      CASE(test_lie_consent_other_kind),
      CASE(test_lie_consent_expired),
      CASE(test_lie_consent_not_yet_valid),
      CASE(test_lie_consent_names_other_recipient),
      CASE(test_lie_consent_unknown_field),
      CASE(test_lie_consent_padded_with_forgery),
      CASE(test_lie_policy_health_to_volunteer),
      CASE(test_lie_entry_expired),
      CASE(test_lie_entry_not_yet_valid),
      CASE(test_lie_self_as_recipient),
      CASE(test_lie_recipient_twice),
      CASE(test_read_honest_baseline),
      CASE(test_read_cache_does_not_vouch),
      CASE(test_read_author_entry_other_root),
      CASE(test_read_author_entry_of_other_participant),
      CASE(test_read_attacker_section_and_entry),
      CASE(test_read_volunteer_writes_health),
      CASE(test_read_without_author_entry),
      CASE(test_read_signature_not_the_authors),
      CASE(test_read_author_entry_expired),
      CASE(test_fetch_other_subject),
      CASE(test_notice_honest_baseline),
      CASE(test_notice_forged_signature),
      CASE(test_notice_outside_signer_window),
      CASE(test_notice_revoker_other_root),
      CASE(test_notice_signer_not_revoker),
      CASE(test_delete_notice_honest_baseline),
      CASE(test_delete_notice_bad_signature),
      CASE(test_delete_notice_tampered_item),
      CASE(test_delete_notice_without_broker_key),
      CASE(test_put_honest_linked_gemeente),
      CASE(test_lie_linked_without_koppeling),
      CASE(test_lie_linked_koppeling_by_non_tvs),
      CASE(test_lie_linked_koppeling_publisher_other_root),
      CASE(test_lie_linked_koppeling_publisher_expired),
      CASE(test_lie_linked_koppeling_other_subject),
      CASE(test_lie_linked_koppeling_other_gemeente),
      CASE(test_lie_linked_koppeling_bad_signature),
      CASE(test_lie_linked_koppeling_changed_field),
      CASE(test_lie_linked_koppeling_is_ontkoppeling),
      CASE(test_lie_linked_to_non_gemeente),
      CASE(test_lie_direct_consent_with_forged_koppeling),
      CASE(test_tvs_event_honest_baseline),
      CASE(test_tvs_event_without_handler_acked),
      CASE(test_tvs_event_from_non_tvs_entry),
      CASE(test_tvs_event_publisher_other_root),
      CASE(test_tvs_event_bad_signature),
      CASE(test_tvs_event_for_other_gemeente),
      CASE(test_rewrap_honest_baseline),
      CASE(test_rewrap_honest_linked_gemeente),
      CASE(test_rewrap_broker_error_recorded),
      CASE(test_rewrap_evidence_forged_consent),
      CASE(test_rewrap_evidence_expired_consent),
      CASE(test_rewrap_evidence_expired_beside_valid),
      CASE(test_rewrap_evidence_none_valid_now),
      CASE(test_rewrap_evidence_other_kind),
      CASE(test_rewrap_evidence_koppeling_other_gemeente),
      CASE(test_rewrap_evidence_without_koppeling),
      CASE(test_rewrap_evidence_swapped_sealing_key),
      CASE(test_rewrap_someone_elses_section),
      CASE(test_rewrap_section_not_signed_by_us),
      CASE(test_rewrap_header_swap),
      CASE(test_rewrap_without_our_wrap),
      CASE(test_rewrap_without_section),
      CASE(test_fetch_bad_sections_isolated),
      CASE(test_fetch_pages_must_advance),
      CASE(test_subscription_displaced),
      CASE(test_subscription_removed),
      CASE(test_subscription_stalled_resubscribes),
      CASE(test_subscribe_backs_off_on_internal),
      CASE(test_subscribe_honours_retry_after),
      CASE(test_cli_fetch_partial),
      CASE(test_cli_listen_backs_off),
      CASE(test_cli_listen_displaced),
      CASE(test_cli_listen_stalled_goes_on),
      CASE(test_cli_listen_quarantines),
  };
  return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
