/* One partner cannot hurt the others, delivery side (issue 8, items 1, 3
 * and 5), with real ketend processes and raw CURVE DEALER sockets that see
 * every frame libketen would hide:
 *
 * - the window is in bytes: a subscriber with credit 1024 that never acks
 *   never has more than delivery_window_bytes unacked; after stall_timeouts
 *   ack timeouts without progress it gets SUBSCRIPTION_STALLED and nothing
 *   more, at most one resend of the window came meanwhile, and the audit has
 *   one deliver entry per seq and one keten.delivery.stalled entry;
 * - a second SUBSCRIBE of the same participant on another connection tells
 *   the first connection (SUBSCRIPTION_DISPLACED);
 * - removing a participant from the registry ends its open subscription at
 *   once (SUBSCRIPTION_REMOVED), with no more deliveries or deliver entries;
 * - a delivery frame the connection did not take (a reader that does not
 *   read, send_hwm 4) is withdrawn (keten.delivery.unsent) and audited as
 *   delivered again only when it is sent again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "envelope.h"
#include "harness.h"
#include "party.h"
#include "store.h"

#define COA "coa"
#define GEMEENTE "gemeente:0716"
#define GGZ "ggz:zeeland"
#define BIT(kind) (UINT64_C(1) << (kind))
#define MIB (1024 * 1024)
#define V_AMIRA "1234567890"

static uint8_t s_buf[4 * MIB];

/* ---- setup ----------------------------------------------------------------- */

static int s_setup(void **state) {
  harness_t *h = harness_new(1);
  if (!h)
    return -1;
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  party_cleanup();
  harness_destroy(&h);
  return 0;
}

/* Starts ketend with the settings in conf ("key = value" lines). */
static void s_start(harness_t *h, const char *conf) {
  assert_int_equal(harness_config(h, conf), 0);
  assert_int_equal(harness_start(h), 0);
}

static int s_kind(const char *name) {
  int k = keten_section_kind_from_name(name);
  assert_true(k > 0);
  return k;
}

/* A JSON object of exactly len bytes whose text is made of c (free()). */
static char *s_json(size_t len, char c) {
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

/* COA grants to (IDENTITY, purpose) about a subject and puts n versions
 * of IDENTITY of plaintext bytes each, all queued for to. */
static void s_fill(harness_t *h, const char *to, int purpose, int n,
                   size_t plaintext) {
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  party_grant(coa, subject, to, BIT(s_kind("IDENTITY")), purpose, NULL);
  for (int i = 0; i < n; i++) {
    char *json = s_json(plaintext, (char)('a' + i % 26));
    keten_put_result_t r = party_put(coa, subject, s_kind("IDENTITY"), json);
    free(json);
    party_assert_queued(&r, (const char *[]){to, NULL});
  }
  party_untrack_close(&coa);
}

/* A raw CURVE DEALER of participant id; rcvhwm and rcvbuf (0: ZeroMQ's
 * defaults) are set before it connects. */
static void *s_socket(harness_t *h, void *ctx, const char *id, int rcvhwm,
                      int rcvbuf) {
  const keten_keys_t *keys = &harness_partner(h, id)->keys;
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  assert_non_null(s);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  if (rcvhwm)
    zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
  if (rcvbuf)
    zmq_setsockopt(s, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
  zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, h->broker.transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys->transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys->transport_sk, 32);
  assert_int_equal(zmq_connect(s, h->endpoint), 0);
  return s;
}

/* SUBSCRIBE with credit on sock; the reply must be SUBSCRIBED. */
static void s_subscribe(void *sock, uint32_t credit) {
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  Keten__Subscribe sub = KETEN__SUBSCRIBE__INIT;
  sub.credit = credit;
  env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIBE;
  env.subscribe = &sub;
  Keten__Envelope *reply = party_raw(sock, &env);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_SUBSCRIBED);
  envelope_free(reply);
}

static void s_ack(void *sock, uint64_t seq) {
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  Keten__Ack ack = KETEN__ACK__INIT;
  envelope_ids_t ids;
  ack.seq = seq;
  env.body_case = KETEN__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  party_raw_send(sock, &env, &ids);
}

/* The next frame on sock within timeout_ms, decoded, or NULL. */
static Keten__Envelope *s_next(void *sock, int timeout_ms) {
  int n = harness_recv(sock, s_buf, sizeof s_buf, timeout_ms);
  if (n <= 0)
    return NULL;
  Keten__Envelope *env = envelope_decode(s_buf, (size_t)n, sizeof s_buf, NULL);
  assert_non_null(env);
  return env;
}

/* What a subscriber saw. */
typedef struct {
  uint64_t bytes[512];   /* ciphertext bytes of each seq seen (index seq) */
  int copies[512];       /* how many times each seq came */
  uint64_t distinct_bytes, all_bytes;
  uint64_t max_seq;
  int frames, distinct, ended, end_reason;
  char end_detail[256];
} s_seen_t;

/* Takes one frame into seen: 1 for a delivery, 2 for SUBSCRIPTION_ENDED. */
static int s_take(Keten__Envelope *env, s_seen_t *seen) {
  int what = 0;
  if (env->body_case == KETEN__ENVELOPE__BODY_DELIVER) {
    what = 1;
    seen->frames++;
    for (size_t i = 0; i < env->deliver->n_items; i++) {
      const Keten__Delivery *d = env->deliver->items[i];
      assert_non_null(d->section);
      assert_true(d->seq > 0 && d->seq < 512);
      uint64_t len = d->section->section->ciphertext.len;
      if (!seen->copies[d->seq]++) {
        seen->distinct++;
        seen->distinct_bytes += len;
        seen->bytes[d->seq] = len;
      }
      seen->all_bytes += len;
      if (d->seq > seen->max_seq)
        seen->max_seq = d->seq;
    }
  } else if (env->body_case == KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED) {
    what = 2;
    seen->ended++;
    seen->end_reason = (int)env->subscription_ended->reason;
    snprintf(seen->end_detail, sizeof seen->end_detail, "%s",
             env->subscription_ended->detail);
    /* unsolicited: no correlation id */
    assert_int_equal(env->correlation_id.len, 0);
  }
  envelope_free(env);
  return what;
}

/* Receives into seen until quiet_ms pass without a frame or total_ms. */
static void s_drain(void *sock, s_seen_t *seen, int quiet_ms, int total_ms) {
  int64_t until = party_mono_ms() + total_ms;
  Keten__Envelope *env;
  while (party_mono_ms() < until && (env = s_next(sock, quiet_ms)))
    s_take(env, seen);
}

/* Deliver entries (status 1 OK) about seq of recipient. */
static long long s_delivered(harness_t *h, const char *recipient,
                             uint64_t seq) {
  return party_sqlf(h,
                    "SELECT count(*) FROM audit WHERE name = "
                    "'keten.section.deliver' AND status = 1 AND counterparty "
                    "= '%s' AND detail LIKE 'delivered seq %llu, version %%'",
                    recipient, (unsigned long long)seq);
}

static long long s_named(harness_t *h, const char *name, const char *cp) {
  return party_sqlf(h,
                    "SELECT count(*) FROM audit WHERE name = '%s' AND "
                    "counterparty = '%s'",
                    name, cp);
}

/* ---- the window in bytes, no piling resends, stalled ---------------------- */

static void test_window_bytes_and_stall(void **state) {
  harness_t *h = *state;
  s_start(h, "delivery_window_bytes = 1048576\n"
             "ack_timeout_ms = 300\n"
             "stall_timeouts = 2\n");
  enum { N = 24 };
  s_fill(h, GEMEENTE, keten_purpose_from_name("INBURGERING"), N, 64 * 1024);

  void *ctx = zmq_ctx_new();
  void *sock = s_socket(h, ctx, GEMEENTE, 0, 0);
  s_subscribe(sock, 1024); /* the credit would allow all 24 */
  static s_seen_t seen;
  memset(&seen, 0, sizeof seen);
  /* 2 ack timeouts of 300 ms: the end comes in well under 2 s */
  int64_t until = party_mono_ms() + 5000;
  while (!seen.ended && party_mono_ms() < until) {
    Keten__Envelope *env = s_next(sock, 200);
    if (env)
      s_take(env, &seen);
  }
  assert_int_equal(seen.ended, 1);
  assert_int_equal(seen.end_reason,
                   KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_STALLED);
  assert_non_null(strstr(seen.end_detail, "subscribe again"));
  /* the window: never more than 1 MiB of distinct unacked bytes, and as
   * many 64 KiB sections as fit in it */
  uint64_t one = seen.bytes[1];
  assert_true(one > 64 * 1024);
  assert_true(seen.distinct_bytes <= 1u * MIB);
  assert_int_equal(seen.distinct, (int)(MIB / one));
  assert_int_equal(seen.max_seq, (uint64_t)seen.distinct);
  /* one resend of the window at most: every seq came once or twice */
  for (int i = 1; i <= seen.distinct; i++)
    assert_in_range(seen.copies[i], 1, 2);
  assert_true(seen.all_bytes <= 2u * MIB);
  print_message("window: %d seqs of %llu bytes, %d frames, %llu bytes in all\n",
                seen.distinct, (unsigned long long)one, seen.frames,
                (unsigned long long)seen.all_bytes);
  /* and nothing after the end, for 3 more ack timeouts */
  s_seen_t after = {0};
  s_drain(sock, &after, 1000, 1000);
  assert_int_equal(after.frames + after.ended, 0);
  assert_int_equal(harness_log_count(h, "SUBSCRIPTION_STALLED"), 1);

  /* one deliver entry per seq handed over, one stalled entry */
  for (int i = 1; i <= seen.distinct; i++)
    assert_int_equal(s_delivered(h, GEMEENTE, (uint64_t)i), 1);
  assert_int_equal(s_delivered(h, GEMEENTE, (uint64_t)seen.distinct + 1), 0);
  assert_int_equal(s_named(h, "keten.delivery.stalled", GEMEENTE), 1);
  assert_int_equal(
      party_sqlf(h, "SELECT count(*) FROM audit WHERE name = "
                    "'keten.delivery.stalled' AND actor = 'ketend' AND status "
                    "= 2 AND detail LIKE 'acked seq 0,%%2 ack timeouts%%'"),
      1);

  /* the mailbox waited: a new SUBSCRIBE resumes after the acked seq and a
   * reader that acks gets everything, each seq audited once in all */
  s_subscribe(sock, 1024);
  static s_seen_t again;
  memset(&again, 0, sizeof again);
  until = party_mono_ms() + 10000;
  while (again.distinct < N && party_mono_ms() < until) {
    Keten__Envelope *env = s_next(sock, 200);
    if (env && s_take(env, &again) == 1)
      s_ack(sock, again.max_seq);
  }
  assert_int_equal(again.distinct, N);
  assert_int_equal(again.ended, 0);
  for (int i = 1; i <= N; i++)
    assert_int_equal(s_delivered(h, GEMEENTE, (uint64_t)i), 1);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

/* ---- displaced ------------------------------------------------------------ */

static void test_displaced_subscription_is_told(void **state) {
  harness_t *h = *state;
  s_start(h, "ack_timeout_ms = 30000\n");
  s_fill(h, GEMEENTE, keten_purpose_from_name("INBURGERING"), 1, 100);
  void *ctx = zmq_ctx_new();
  void *first = s_socket(h, ctx, GEMEENTE, 0, 0);
  void *second = s_socket(h, ctx, GEMEENTE, 0, 0);
  s_subscribe(first, 8);
  s_seen_t one = {0};
  s_drain(first, &one, 300, 2000);
  assert_int_equal(one.distinct, 1);
  assert_int_equal(one.ended, 0);

  s_subscribe(second, 8);
  s_seen_t old = {0}, now = {0};
  s_drain(first, &old, 300, 2000);
  assert_int_equal(old.ended, 1);
  assert_int_equal(old.frames, 0);
  assert_int_equal(old.end_reason,
                   KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED);
  assert_non_null(strstr(old.end_detail, "newer subscription"));
  /* the new one gets the unacked entry again */
  s_drain(second, &now, 300, 2000);
  assert_int_equal(now.distinct, 1);
  assert_int_equal(now.ended, 0);
  assert_int_equal(harness_log_count(h, "SUBSCRIPTION_DISPLACED"), 1);
  /* the same connection subscribing again displaces nothing */
  s_subscribe(second, 8);
  s_seen_t same = {0};
  s_drain(second, &same, 300, 2000);
  assert_int_equal(same.ended, 0);
  assert_int_equal(harness_log_count(h, "SUBSCRIPTION_DISPLACED"), 1);
  /* an ACK on the displaced connection is refused */
  Keten__Envelope env = KETEN__ENVELOPE__INIT;
  Keten__Ack ack = KETEN__ACK__INIT;
  ack.seq = 1;
  env.body_case = KETEN__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  assert_int_equal(party_error_code(party_raw(first, &env)),
                   KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  zmq_close(first);
  zmq_close(second);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

/* ---- removed ---------------------------------------------------------------- */

static void test_removed_participant_ends_at_once(void **state) {
  harness_t *h = *state;
  /* a long ack timeout: only the reload can end it within the test */
  s_start(h, "ack_timeout_ms = 60000\n");
  s_fill(h, GGZ, keten_purpose_from_name("ZORG"), 3, 100);
  void *ctx = zmq_ctx_new();
  void *sock = s_socket(h, ctx, GGZ, 0, 0);
  s_subscribe(sock, 1); /* one in flight, two waiting */
  s_seen_t seen = {0};
  s_drain(sock, &seen, 300, 2000);
  assert_int_equal(seen.distinct, 1);
  assert_int_equal(s_named(h, "keten.section.deliver", GGZ), 1);

  /* as `keten admin participant remove` does it, then a reload */
  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  assert_non_null(store);
  assert_int_equal(store_entry_remove(store, GGZ, err, sizeof err), 1);
  store_close(&store);
  int loads = harness_log_count(h, "registry: loaded");
  int64_t t0 = party_mono_ms();
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "registry: loaded", loads + 1, 3000), 0);

  s_seen_t end = {0};
  s_drain(sock, &end, 1000, 3000);
  assert_int_equal(end.ended, 1);
  assert_true(party_mono_ms() - t0 < 5000);
  assert_int_equal(end.end_reason,
                   KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED);
  assert_int_equal(end.frames, 0);
  assert_int_equal(harness_log_count(h, "SUBSCRIPTION_REMOVED"), 1);
  /* nothing more: no delivery, no deliver entry (COA's next PUT is not
   * even sealed to it) */
  uint8_t subject[32];
  party_subject(V_AMIRA, subject);
  keten_client_t *coa = party_client(h, COA);
  char *json = s_json(100, 'z');
  party_put(coa, subject, s_kind("IDENTITY"), json);
  free(json);
  party_untrack_close(&coa);
  s_seen_t after = {0};
  s_drain(sock, &after, 1000, 1000);
  assert_int_equal(after.frames + after.ended, 0);
  assert_int_equal(s_named(h, "keten.section.deliver", GGZ), 1);
  zmq_close(sock);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

/* ---- a frame the transport did not take -------------------------------------- */

/* The audit seq of the latest entry named name about seq of recipient. */
static long long s_last_deliver(harness_t *h, const char *recipient,
                                uint64_t seq) {
  return party_sqlf(h,
                    "SELECT coalesce(max(seq), 0) FROM audit WHERE name = "
                    "'keten.section.deliver' AND status = 1 AND counterparty "
                    "= '%s' AND detail LIKE 'delivered seq %llu, version %%'",
                    recipient, (unsigned long long)seq);
}

/* Withdrawals (keten.delivery.unsent) of recipient covering seq, and the
 * latest one's audit seq in *last. */
static long long s_unsent(harness_t *h, const char *recipient, uint64_t seq,
                          long long *last) {
  char range[512], q[1024];
  snprintf(range, sizeof range,
           "FROM audit WHERE name = 'keten.delivery.unsent' AND counterparty "
           "= '%s' AND CAST(substr(detail, 5, instr(detail, '..') - 5) AS "
           "INTEGER) <= %llu AND CAST(substr(detail, instr(detail, '..') + "
           "2, instr(detail, ' not') - instr(detail, '..') - 2) AS INTEGER) "
           ">= %llu",
           recipient, (unsigned long long)seq, (unsigned long long)seq);
  snprintf(q, sizeof q, "SELECT coalesce(max(seq), 0) %s", range);
  *last = party_sql(h, q);
  snprintf(q, sizeof q, "SELECT count(*) %s", range);
  return party_sql(h, q);
}

static void test_unsent_frame_is_withdrawn(void **state) {
  harness_t *h = *state;
  s_start(h, "send_hwm = 4\n"
             "delivery_window_bytes = 16777216\n"
             "ack_timeout_ms = 60000\n");
  enum { N = 48 };
  /* 2 sections a frame: 24 frames of 512 KiB towards a connection whose
   * queue holds 4 and whose peer does not read */
  s_fill(h, GEMEENTE, keten_purpose_from_name("INBURGERING"), N, 256 * 1024);
  void *ctx = zmq_ctx_new();
  void *sock = s_socket(h, ctx, GEMEENTE, 1, 4096);
  s_subscribe(sock, 1024);
  /* not reading: the broker finds the queue full */
  assert_int_equal(harness_wait_log(h, "not handed to the transport", 1, 5000),
                   0);
  party_sleep_ms(500);
  long long withdrawn = party_sqlf(
      h, "SELECT count(*) FROM audit WHERE name = 'keten.delivery.unsent' AND "
         "counterparty = '" GEMEENTE "' AND status = 2 AND detail LIKE "
         "'seq %%..%% not handed to the transport: the connection''s queue "
         "is full'");
  assert_int_equal(withdrawn, 1);
  uint64_t a = (uint64_t)party_sqlf(
      h, "SELECT CAST(substr(detail, 5, instr(detail, '..') - 5) AS INTEGER) "
         "FROM audit WHERE name = 'keten.delivery.unsent'");
  assert_true(a > 1 && a <= N);
  print_message("first withdrawal: seq %llu..%d\n", (unsigned long long)a, N);
  /* withdrawn, not delivered again while the queue stays full */
  long long last_unsent = 0;
  for (uint64_t seq = a; seq <= N; seq++) {
    assert_int_equal(s_delivered(h, GEMEENTE, seq), 1);
    assert_int_equal(s_unsent(h, GEMEENTE, seq, &last_unsent), 1);
    assert_true(last_unsent > s_last_deliver(h, GEMEENTE, seq));
  }
  for (uint64_t seq = 1; seq < a; seq++)
    assert_int_equal(s_unsent(h, GEMEENTE, seq, &last_unsent), 0);
  assert_int_equal(
      party_sqlf(h, "SELECT count(*) FROM mailbox WHERE recipient = '" GEMEENTE
                    "' AND seq >= %llu AND sent_at_ms IS NOT NULL",
                 (unsigned long long)a),
      0);

  /* now it reads and acks: everything arrives once, in order, no gap */
  static s_seen_t seen;
  memset(&seen, 0, sizeof seen);
  uint64_t next = 1;
  int64_t until = party_mono_ms() + 15000;
  while (seen.distinct < N && party_mono_ms() < until) {
    Keten__Envelope *env = s_next(sock, 200);
    if (!env)
      continue;
    if (env->body_case == KETEN__ENVELOPE__BODY_DELIVER)
      for (size_t i = 0; i < env->deliver->n_items; i++)
        assert_int_equal(env->deliver->items[i]->seq, next++);
    if (s_take(env, &seen) == 1)
      s_ack(sock, seen.max_seq);
  }
  assert_int_equal(seen.distinct, N);
  assert_int_equal(seen.ended, 0);
  for (int i = 1; i <= N; i++)
    assert_int_equal(seen.copies[i], 1);
  party_sleep_ms(300);
  print_message("withdrawals in all: %lld\n",
                party_sqlf(h, "SELECT count(*) FROM audit WHERE name = "
                              "'keten.delivery.unsent'"));
  /* each seq: delivered once net (deliver entries minus withdrawals), and
   * its last deliver entry comes after its last withdrawal */
  for (uint64_t seq = 1; seq <= N; seq++) {
    long long unsent = s_unsent(h, GEMEENTE, seq, &last_unsent);
    assert_int_equal(s_delivered(h, GEMEENTE, seq) - unsent, 1);
    if (unsent)
      assert_true(s_last_deliver(h, GEMEENTE, seq) > last_unsent);
  }
  zmq_close(sock);
  zmq_ctx_term(ctx);
  party_stop_and_verify(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_window_bytes_and_stall, s_setup,
                                      s_teardown),
      cmocka_unit_test_setup_teardown(test_displaced_subscription_is_told,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_removed_participant_ends_at_once,
                                      s_setup, s_teardown),
      cmocka_unit_test_setup_teardown(test_unsent_frame_is_withdrawn, s_setup,
                                      s_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
