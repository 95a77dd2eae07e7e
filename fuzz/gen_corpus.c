/* gen_corpus — writes the fuzz targets' seed corpora (fuzz/README.md).
 *
 *   build/fuzz/fuzz_gen_corpus OUTDIR      (OUTDIR: fuzz/corpus)
 *
 * Starts a real ketend on a store of the fuzz world (fuzz_world.h: fixed
 * keys, so the seeds' signatures, seals and wraps stay valid for the
 * targets) and drives one journey with real libketen clients: HELLO,
 * PING, consents, PREPARE and PUT, deliveries and acks, FETCH, consent
 * lists, a KOPPELING with the rewraps it asks for, TVS lists and figures,
 * a revocation at the person's counter with its notices, an ONTKOPPELING,
 * and requests the broker refuses. Linked with --wrap=zmq_send and
 * --wrap=zmq_msg_recv, it records every frame a client socket sends
 * (whose CURVE public key says which participant) and receives:
 *   OUTDIR/fuzz_envelope/  every distinct frame, raw;
 *   OUTDIR/fuzz_broker/    each sent frame as "sender byte, frame", and
 *                          the journey so far as one multi-record input
 *                          at each step (state the later requests need);
 *   OUTDIR/fuzz_client/    each received frame as "client byte, frame",
 *                          plus SUBSCRIPTION_ENDED frames built here.
 * File names are a hash of the content: running it again adds what is
 * new (a journey's random ids differ between runs; delete the directories
 * first to replace the corpus). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "envelope.h"
#include "fuzz_world.h"
#include "harness.h"
#include "party.h"

#define COA "coa"
#define G1 "gemeente:0716"
#define G2 "gemeente:0678"
#define VWN "vwn:zeeland"
#define GGZ "ggz:zeeland"
#define TVS "tvs:coa"
#define FG "fg:keten"
#define BIT(kind) (UINT64_C(1) << (kind))
enum { K_IDENTITY = 1, K_LANGUAGE = 6, K_HEALTH = 10 };
enum { P_INBURGERING = 2, P_ZORG = 4, P_BEGELEIDING = 5 };

static const char *s_out;
static uint8_t s_transport[FUZZ_N_PARTICIPANTS][32];

/* the journey's sent frames, in order, as multi-records */
#define JOURNEY_MAX 256
static struct {
  uint8_t who;
  uint8_t *frame;
  size_t len;
} s_journey[JOURNEY_MAX];
static size_t s_n_journey;
static int s_recording = 1;

int __real_zmq_send(void *s, const void *buf, size_t len, int flags);
int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags);
int __real_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
int __wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);

static int s_who(void *sock) {
  uint8_t pk[32];
  size_t n = sizeof pk;
  if (zmq_getsockopt(sock, ZMQ_CURVE_PUBLICKEY, pk, &n) != 0 || n != 32)
    return -1;
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++)
    if (memcmp(pk, s_transport[i], 32) == 0)
      return i;
  return -1;
}

static const char *s_body_name(const uint8_t *frame, size_t len) {
  static char name[64];
  Keten__Envelope *env = envelope_decode(frame, len, SIZE_MAX, NULL);
  snprintf(name, sizeof name, "undecodable");
  if (env) {
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &keten__envelope__descriptor, (unsigned)env->body_case);
    snprintf(name, sizeof name, "%s", f ? f->name : "nobody");
    envelope_free(env);
  }
  return name;
}

/* Writes OUT/target/label-HASH (hash of the content). */
static void s_write(const char *target, const char *label, const uint8_t *a,
                    size_t alen, const uint8_t *b, size_t blen) {
  uint8_t h[8];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, sizeof h);
  crypto_generichash_update(&st, a, alen);
  if (blen)
    crypto_generichash_update(&st, b, blen);
  crypto_generichash_final(&st, h, sizeof h);
  char hex[17], dir[600], path[700];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  snprintf(dir, sizeof dir, "%s/%s", s_out, target);
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/%s-%s", dir, label, hex);
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "gen_corpus: cannot write %s: %s\n", path, strerror(errno));
    exit(1);
  }
  fwrite(a, 1, alen, f);
  if (blen)
    fwrite(b, 1, blen, f);
  fclose(f);
}

static void s_record(const char *target, int who, const uint8_t *frame,
                     size_t len) {
  uint8_t head = (uint8_t)who;
  const char *name = s_body_name(frame, len);
  s_write("fuzz_envelope", name, frame, len, NULL, 0);
  s_write(target, name, &head, 1, frame, len);
}

int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags) {
  int who = s_recording && !(flags & ZMQ_SNDMORE) ? s_who(s) : -1;
  if (who >= 0) {
    s_record("fuzz_broker", who, buf, len);
    if (s_n_journey < JOURNEY_MAX && len <= 0xffff) {
      s_journey[s_n_journey].who = (uint8_t)who;
      s_journey[s_n_journey].frame = malloc(len);
      memcpy(s_journey[s_n_journey].frame, buf, len);
      s_journey[s_n_journey].len = len;
      s_n_journey++;
    }
  }
  return __real_zmq_send(s, buf, len, flags);
}

int __wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags) {
  int rc = __real_zmq_msg_recv(msg, s, flags);
  if (rc >= 0 && s_recording) {
    int who = s_who(s);
    if (who >= 0)
      s_record("fuzz_client", who, zmq_msg_data(msg), zmq_msg_size(msg));
  }
  return rc;
}

/* The journey so far as one fuzz_broker input (multi-record). */
static void s_journey_mark(const char *label) {
  size_t total = 0;
  for (size_t i = 0; i < s_n_journey; i++)
    total += 3 + s_journey[i].len;
  uint8_t *buf = malloc(total ? total : 1), *p = buf;
  for (size_t i = 0; i < s_n_journey; i++) {
    *p++ = (uint8_t)(0x80 | s_journey[i].who);
    *p++ = (uint8_t)(s_journey[i].len & 0xff);
    *p++ = (uint8_t)(s_journey[i].len >> 8);
    memcpy(p, s_journey[i].frame, s_journey[i].len);
    p += s_journey[i].len;
  }
  char name[64];
  snprintf(name, sizeof name, "journey-%s", label);
  s_write("fuzz_broker", name, buf, total, NULL, 0);
  free(buf);
}

/* SUBSCRIPTION_ENDED frames, as a broker would send them. */
static void s_subscription_ended(void) {
  static const int reasons[] = {1, 2, 3, 0, 7};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
    Keten__Envelope env;
    envelope_ids_t ids;
    envelope_init(&env, &ids, NULL);
    Keten__SubscriptionEnded se = KETEN__SUBSCRIPTION_ENDED__INIT;
    se.reason = (Keten__SubscriptionEndReason)reasons[i];
    se.detail = "a newer SUBSCRIBE of the same participant took it over";
    env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED;
    env.subscription_ended = &se;
    size_t len = 0;
    uint8_t *frame = envelope_pack(&env, &len);
    s_record("fuzz_client", (int)i % FUZZ_N_PARTICIPANTS, frame, len);
    free(frame);
  }
}

static void s_world(harness_t *h) {
  char err[512], path[400];
  unlink(h->store);
  snprintf(path, sizeof path, "%s-wal", h->store);
  unlink(path);
  snprintf(path, sizeof path, "%s-shm", h->store);
  unlink(path);
  if (fuzz_world_create(h->dir, err, sizeof err) != 0)
    fail_msg("fuzz world: %s", err);
  fuzz_keys("broker", &h->broker);
  fuzz_root(&h->root);
  h->n_partners = FUZZ_N_PARTICIPANTS;
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++) {
    harness_partner_t *p = &h->partners[i];
    snprintf(p->id, sizeof p->id, "%s", fuzz_participants[i].id);
    p->role = keten_role_from_name(fuzz_participants[i].role);
    fuzz_keys(p->id, &p->keys);
    memcpy(s_transport[i], p->keys.transport_pk, 32);
  }
}

static const int64_t UNTIL = FUZZ_VALID_UNTIL_MS - 1000;

static void test_journey(void **state) {
  (void)state;
  harness_t *h = harness_new(1);
  assert_non_null(h);
  s_world(h);
  assert_int_equal(harness_start(h), 0);
  uint8_t a[32], b[32];
  party_subject("2931847560", a);
  party_subject("1234567890", b);
  keten_client_t *tvs = party_client(h, TVS), *g2 = party_client(h, G2),
                 *fg = party_client(h, FG);
  party_t *coa = party_new(h, COA, 1), *g1 = party_new(h, G1, 1),
          *vwn = party_new(h, VWN, 1), *ggz = party_new(h, GGZ, 1);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(coa->c, &w), KETEN_OK);
  assert_int_equal(keten_client_hello(fg, &w), KETEN_OK);
  assert_int_equal(keten_client_ping(g2, "ping", 4, NULL), KETEN_OK);
  s_journey_mark("hello");

  /* consents and sections */
  int64_t from = party_wall_ms() - 60000;
  keten_consent_t cv, cg;
  party_grant_window(coa->c, a, VWN, BIT(K_IDENTITY) | BIT(K_LANGUAGE),
                     P_BEGELEIDING, from, UNTIL, &cv);
  party_grant_window(coa->c, a, GGZ, BIT(K_IDENTITY) | BIT(K_HEALTH), P_ZORG,
                     from, UNTIL, &cg);
  s_journey_mark("granted");
  party_put(coa->c, a, K_IDENTITY,
            "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\"}");
  party_put(coa->c, a, K_LANGUAGE, "{\"nl\": {\"level\": \"A1\"}}");
  party_put(coa->c, a, K_HEALTH, "{\"notes\": \"slaapt slecht\"}");
  party_wait(PARTIES(coa, g1, vwn, ggz), vwn, 2, 0, 0);
  party_wait(PARTIES(coa, g1, vwn, ggz), ggz, 2, 0, 0);
  party_settle(vwn);
  party_settle(ggz);
  s_journey_mark("put");

  keten_section_t *secs = NULL;
  size_t n = 0;
  assert_int_equal(keten_client_fetch(vwn->c, a, &secs, &n), KETEN_OK);
  keten_sections_free(secs, n);
  keten_consent_t *list = NULL;
  assert_int_equal(keten_client_consent_list(coa->c, a, &list, &n), KETEN_OK);
  free(list);
  /* nothing stored for b */
  party_fetch_kinds(vwn->c, b);
  s_journey_mark("fetch");

  /* the linked gemeente: a KOPPELING asks coa for rewraps */
  party_grant_window(coa->c, a, KETEN_LINKED_GEMEENTE, BIT(K_IDENTITY),
                     P_INBURGERING, from, UNTIL, NULL);
  keten_tvs_event_t k = party_koppeling(a, G1, "2026-2", "2026-07-01", 3);
  party_publish(tvs, &k);
  party_wait(PARTIES(coa, g1, vwn, ggz), g1, 1, 1, 0);
  party_settle(coa);
  party_settle(g1);
  s_journey_mark("koppeling");
  keten_tvs_link_t *links = NULL;
  int truncated = 0;
  assert_int_equal(keten_client_tvs_list(g1->c, NULL, NULL, &links, &n,
                                         &truncated),
                   KETEN_OK);
  free(links);
  keten_tvs_event_t t = party_event(KETEN_TVS_TAAKSTELLING, NULL, G1);
  snprintf(t.period, sizeof t.period, "2026-2");
  t.target = 40;
  t.realised = 12;
  party_publish(tvs, &t);
  keten_tvs_status_t st;
  keten_client_tvs_status(g1->c, NULL, "2026-2", &st);
  s_journey_mark("tvs");

  /* revoked at the person's counter: notices to vwn and coa */
  assert_int_equal(keten_client_consent_revoke(g1->c, cv.consent_id, a,
                                               "op verzoek van betrokkene",
                                               "balie-tholen-2026-0612-3"),
                   KETEN_OK);
  party_wait(PARTIES(coa, g1, vwn, ggz), vwn, 2, 0, 1);
  party_wait(PARTIES(coa, g1, vwn, ggz), coa, 0, 0, 1);
  party_settle(vwn);
  party_settle(coa);
  s_journey_mark("revoked");

  /* a new version, then the link ends */
  party_put(coa->c, a, K_IDENTITY,
            "{\"given_name\": \"Amira\", \"family_name\": \"Haddad\", "
            "\"birth_date\": \"1991-03-14\"}");
  keten_tvs_event_t o = party_ontkoppeling(a, G1, KETEN_ONTKOPPEL_MOVED);
  party_publish(tvs, &o);
  party_pump(PARTIES(coa, g1, vwn, ggz), 600);
  party_settle(g1);
  party_settle(ggz);
  s_journey_mark("ontkoppeling");

  /* refused: a volunteer writing HEALTH, revoking what is not its own */
  keten_put_result_t res;
  keten_client_put(vwn->c, a, K_HEALTH, "{}", 2, &res);
  keten_client_consent_revoke(g2, cg.consent_id, a, "nee", NULL);
  uint8_t big[2048];
  memset(big, 'x', sizeof big);
  keten_client_ping(g2, big, sizeof big, NULL);
  s_journey_mark("refused");

  s_recording = 0;
  party_close(coa);
  party_close(g1);
  party_close(vwn);
  party_close(ggz);
  party_cleanup();
  harness_destroy(&h);
  for (size_t i = 0; i < s_n_journey; i++)
    free(s_journey[i].frame);
  s_subscription_ended();
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  s_out = argv[1];
  mkdir(s_out, 0755);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_journey)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
