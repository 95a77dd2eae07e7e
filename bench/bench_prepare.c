/* keten-bench-prepare: what one PREPARE costs at the bounds of issue 6.
 *
 * An author (COA) holds the most live consents it may on one subject: 63
 * recipients x 16 consents (max_consents_per_recipient) = 1008, and the
 * subject carries N more consents by another recorder (default 16 000:
 * the attack of issue 6, written straight into the store). It times 20
 * PREPAREs by COA over a real ketend (each answer carries 63 recipients
 * and 1008 signed consents as evidence), and a PING of another partner
 * after them. Before issue 6, 16 000 consents on one subject made each
 * PREPARE take 6 to 11 s and stalled every partner.
 *
 *   keten-bench-prepare [N]
 */
#define _XOPEN_SOURCE 700
#include "bench_measure.h"
#include "canon.h"
#include "envelope.h"
#include "harness.h"
#include "store.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static void put_consent(store_t *s, const char *by, const char *to,
                        const uint8_t subj[32], const uint8_t *sk) {
  uint8_t id[16];
  randombytes_buf(id, 16);
  Keten__SectionKind kinds[] = {KETEN__SECTION_KIND__SECTION_IDENTITY};
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = id;
  k.consent_id.len = 16;
  k.subject.data = (uint8_t *)subj;
  k.subject.len = 32;
  k.recorded_by = (char *)by;
  k.recipient = (char *)to;
  k.sections = kinds;
  k.n_sections = 1;
  k.purpose = KETEN__PURPOSE__PURPOSE_INBURGERING;
  k.basis = KETEN__BASIS__BASIS_CONSENT;
  k.legal_reference = "";
  k.evidence_ref = "form";
  k.valid_from_ms = bench_wall_ms() - 60000;
  k.valid_until_ms = bench_wall_ms() + 86400000LL * 300;
  uint8_t sig[64];
  canon_sign_consent(&k, sk, sig);
  k.signature.data = sig;
  k.signature.len = 64;
  uint8_t rec[512];
  size_t len = keten__consent__pack(&k, rec);
  consent_t c;
  memset(&c, 0, sizeof c);
  memcpy(c.consent_id, id, 16);
  memcpy(c.subject, subj, 32);
  snprintf(c.recorded_by, sizeof c.recorded_by, "%s", by);
  snprintf(c.recipient, sizeof c.recipient, "%s", to);
  c.sections = 1u << KETEN__SECTION_KIND__SECTION_IDENTITY;
  c.purpose = 2;
  c.basis = 1;
  c.valid_from_ms = (int64_t)k.valid_from_ms;
  c.valid_until_ms = (int64_t)k.valid_until_ms;
  if (store_consent_put(s, &c, rec, len) != 0)
    abort();
}

int main(int argc, char **argv) {
  int others = argc > 1 ? atoi(argv[1]) : 16000;
  harness_t *h = harness_new(1);
  uint8_t subj[32];
  randombytes_buf(subj, 32);
  char err[256];
  keten_keys_t keys[63];
  store_t *s = store_open(h->store, err, sizeof err);
  store_begin(s);
  const keten_keys_t *coa = &harness_partner(h, "coa")->keys;
  for (int i = 0; i < 63; i++) {
    char id[32];
    snprintf(id, sizeof id, "gemeente:%04d", 1000 + i);
    keten_keys_generate(&keys[i], id);
    participant_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.display_name, sizeof p.display_name, "%s", id);
    p.role = 1;
    memcpy(p.transport_pk, keys[i].transport_pk, 32);
    memcpy(p.signing_pk, keys[i].signing_pk, 32);
    memcpy(p.sealing_pk, keys[i].sealing_pk, 32);
    p.valid_from_ms = bench_wall_ms() - 60000;
    p.valid_until_ms = bench_wall_ms() + 86400000LL * 300;
    participant_sign(&p, h->root.secret_key);
    if (store_entry_add(s, &p, err, sizeof err) != 0) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    for (int j = 0; j < 16; j++)
      put_consent(s, "coa", id, subj, coa->signing_sk);
  }
  /* the old attack's 16 000: by other recorders (the gemeente here) */
  const keten_keys_t *gem = &harness_partner(h, "gemeente:0716")->keys;
  for (int i = 0; i < others; i++)
    put_consent(s, "gemeente:0716", "vwn:zeeland", subj, gem->signing_sk);
  store_commit(s);
  store_close(&s);
  if (harness_start(h) != 0)
    return 1;
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, coa);
  void *ping =
      harness_raw_socket(h, ctx, &harness_partner(h, "ggz:zeeland")->keys);
  int64_t t[20];
  size_t nrec = 0;
  static uint8_t buf[8 << 20];
  for (int i = 0; i < 20; i++) {
    Keten__PrepareRequest p = KETEN__PREPARE_REQUEST__INIT;
    p.subject.data = subj;
    p.subject.len = 32;
    p.kind = KETEN__SECTION_KIND__SECTION_IDENTITY;
    Keten__Envelope env;
    envelope_ids_t ids;
    envelope_init(&env, &ids, NULL);
    env.body_case = KETEN__ENVELOPE__BODY_PREPARE;
    env.prepare = &p;
    size_t len;
    uint8_t *f = envelope_pack(&env, &len);
    int64_t t0 = bench_now_us();
    zmq_send(sock, f, len, 0);
    free(f);
    int n = harness_recv(sock, buf, sizeof buf, 60000);
    t[i] = bench_now_us() - t0;
    Keten__Envelope *r = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
    if (!r || r->body_case != KETEN__ENVELOPE__BODY_PREPARED) {
      fprintf(stderr, "no PREPARED\n");
      return 1;
    }
    nrec = r->prepared->n_recipients;
    envelope_free(r);
  }
  /* a PING from another partner meanwhile */
  Keten__Ping pg = KETEN__PING__INIT;
  Keten__Envelope env;
  envelope_ids_t ids;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_PING;
  env.ping = &pg;
  size_t len;
  uint8_t *f = envelope_pack(&env, &len);
  int64_t t0 = bench_now_us();
  zmq_send(ping, f, len, 0);
  free(f);
  int pong = harness_recv(ping, buf, sizeof buf, 60000);
  int64_t tp = bench_now_us() - t0;
  if (pong <= 0 || nrec != 63) {
    fprintf(stderr, "%s\n", pong <= 0 ? "no answer to the PING"
                                      : "PREPARED did not offer 63 recipients");
    return 1;
  }
  for (int i = 1; i < 20; i++)
    for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
      int64_t x = t[j];
      t[j] = t[j - 1];
      t[j - 1] = x;
    }
  printf("others=%d: PREPARE over 1008 own consents (63 recipients x 16): %zu "
         "recipients, median %.2f ms, max %.2f ms; ping %.2f ms\n",
         others, nrec, t[10] / 1000.0, t[19] / 1000.0, tp / 1000.0);
  zmq_close(sock);
  zmq_close(ping);
  zmq_ctx_term(ctx);
  harness_destroy(&h);
  return 0;
}
