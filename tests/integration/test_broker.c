/* Integration tests of ketend's transport, authentication and framing:
 * a real ketend process on tcp loopback and on ipc, real CURVE clients. */
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
#include "store.h"

static const int USE_TCP = 0, USE_IPC = 1;

static int s_setup(void **state) {
  int use_ipc = *(const int *)*state;
  harness_t *h = harness_new(use_ipc);
  if (!h)
    return -1;
  /* A small frame limit keeps the oversized-frame test cheap. */
  snprintf(h->extra_args[h->n_extra++], 64, "--max-frame-bytes");
  snprintf(h->extra_args[h->n_extra++], 64, "65536");
  if (harness_start(h) != 0) {
    harness_destroy(&h);
    return -1;
  }
  *state = h;
  return 0;
}

static int s_teardown(void **state) {
  harness_t *h = *state;
  harness_destroy(&h);
  return 0;
}

static void s_assert_ping(harness_t *h, const char *id) {
  keten_client_t *c =
      harness_client(h, &harness_partner(h, id)->keys, 3000, -1);
  assert_non_null(c);
  int64_t rtt = 0;
  assert_int_equal(keten_client_ping(c, "hi", 2, &rtt), KETEN_OK);
  keten_client_destroy(&c);
}

/* A registered partner gets WELCOME carrying its own id and role. */
static void test_welcome_names_the_caller(void **state) {
  harness_t *h = *state;
  const char *ids[] = {"coa", "gemeente:0716", "vwn:zeeland", "ggz:zeeland"};
  for (size_t i = 0; i < 4; i++) {
    harness_partner_t *p = harness_partner(h, ids[i]);
    keten_client_t *c = harness_client(h, &p->keys, 3000, -1);
    assert_non_null(c);
    keten_welcome_t w;
    assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
    assert_string_equal(w.participant_id, ids[i]);
    assert_int_equal(w.role, p->role);
    assert_int_equal(w.protocol_version, ENVELOPE_PROTOCOL_VERSION);
    assert_int_equal(w.max_frame_bytes, 65536);
    keten_client_destroy(&c);
  }
}

/* A key that is not in the registry is refused at the handshake, the
 * client is told so, and the broker logs the refusal. */
static void test_unregistered_key_refused(void **state) {
  harness_t *h = *state;
  keten_keys_t stranger;
  keten_keys_generate(&stranger, "stranger");
  keten_client_t *c = harness_client(h, &stranger, 3000, -1);
  assert_non_null(c);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  keten_client_destroy(&c);
  assert_int_equal(harness_wait_log(h, "is not in the registry", 1, 2000), 0);
  assert_true(harness_log_count(h, "auth: refused connection") >= 1);
  keten_keys_wipe(&stranger);
  s_assert_ping(h, "coa"); /* and the broker goes on serving */
}

/* Removing a partner and reloading: its open connection gets
 * ERROR_UNAUTHENTICATED, a new connection is refused at the handshake. */
static void test_removed_partner_refused_after_reload(void **state) {
  harness_t *h = *state;
  harness_partner_t *vwn = harness_partner(h, "vwn:zeeland");
  keten_client_t *c = harness_client(h, &vwn->keys, 3000, -1);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);

  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  assert_non_null(store);
  assert_int_equal(store_entry_remove(store, "vwn:zeeland", err,
                                            sizeof err), 1);
  store_close(&store);
  int loads = harness_log_count(h, "registry: loaded");
  kill(h->pid, SIGHUP);
  assert_int_equal(harness_wait_log(h, "registry: loaded", loads + 1, 3000), 0);

  assert_int_equal(keten_client_ping(c, NULL, 0, NULL), KETEN_ERR_REMOTE);
  assert_int_equal(keten_client_remote_code(c),
                   KETEN__ERROR_CODE__ERROR_UNAUTHENTICATED);
  keten_client_destroy(&c);

  c = harness_client(h, &vwn->keys, 3000, -1);
  assert_int_equal(keten_client_hello(c, &w), KETEN_ERR_AUTH);
  keten_client_destroy(&c);
  s_assert_ping(h, "coa");
}

/* Sends frame (len bytes) on a raw socket and returns the decoded reply. */
static Keten__Envelope *s_raw_exchange(void *sock, const void *frame,
                                       size_t len, int flags) {
  assert_true(zmq_send(sock, frame, len, flags) >= 0);
  static uint8_t buf[1 << 17];
  int n = harness_recv(sock, buf, sizeof buf, 3000);
  assert_true(n > 0);
  Keten__Envelope *env = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
  assert_non_null(env);
  return env;
}

static void s_expect_error(Keten__Envelope *reply, Keten__ErrorCode code) {
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_ERROR);
  assert_int_equal(reply->error->code, code);
  assert_true(strlen(reply->error->reason) > 0);
  envelope_free(reply);
}

/* Packs a valid PING envelope; ids owns the id bytes. */
static uint8_t *s_ping_frame(envelope_ids_t *ids, uint32_t version,
                             size_t *len, Keten__Envelope *env) {
  static Keten__Ping ping = KETEN__PING__INIT;
  ping.payload.data = (uint8_t *)"0123456789";
  ping.payload.len = 10;
  envelope_init(env, ids, NULL);
  env->version = version;
  env->body_case = KETEN__ENVELOPE__BODY_PING;
  env->ping = &ping;
  return envelope_pack(env, len);
}

/* Truncated, garbage, oversized, wrong-version, multi-frame, bodiless and
 * badly-sized frames each get their typed ERROR, and the broker keeps
 * answering the next valid client. */
static void test_bad_frames_get_typed_errors(void **state) {
  harness_t *h = *state;
  void *ctx = zmq_ctx_new();
  void *sock = harness_raw_socket(h, ctx, &harness_partner(h, "coa")->keys);
  assert_non_null(sock);
  envelope_ids_t ids;
  Keten__Envelope env;
  size_t len;

  /* truncated: a valid frame cut short */
  uint8_t *frame = s_ping_frame(&ids, ENVELOPE_PROTOCOL_VERSION, &len, &env);
  s_expect_error(s_raw_exchange(sock, frame, len - 3, 0),
                 KETEN__ERROR_CODE__ERROR_MALFORMED);
  free(frame);
  s_assert_ping(h, "gemeente:0716");

  /* garbage */
  uint8_t garbage[200];
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (uint8_t)(0xff - i);
  s_expect_error(s_raw_exchange(sock, garbage, sizeof garbage, 0),
                 KETEN__ERROR_CODE__ERROR_MALFORMED);
  s_assert_ping(h, "gemeente:0716");

  /* oversized: one byte over the configured 65536 */
  uint8_t *big = calloc(1, 65537);
  s_expect_error(s_raw_exchange(sock, big, 65537, 0),
                 KETEN__ERROR_CODE__ERROR_TOO_LARGE);
  free(big);
  s_assert_ping(h, "gemeente:0716");

  /* wrong version (keten 0.1's): the error still correlates */
  frame = s_ping_frame(&ids, 1, &len, &env);
  Keten__Envelope *reply = s_raw_exchange(sock, frame, len, 0);
  assert_int_equal(reply->correlation_id.len, 16);
  assert_memory_equal(reply->correlation_id.data, ids.message_id, 16);
  assert_memory_equal(reply->trace_id.data, ids.trace_id, 16);
  s_expect_error(reply, KETEN__ERROR_CODE__ERROR_UNSUPPORTED_VERSION);
  free(frame);

  /* two frames in one message */
  frame = s_ping_frame(&ids, ENVELOPE_PROTOCOL_VERSION, &len, &env);
  assert_true(zmq_send(sock, frame, len, ZMQ_SNDMORE) >= 0);
  s_expect_error(s_raw_exchange(sock, frame, len, 0),
                 KETEN__ERROR_CODE__ERROR_MALFORMED);
  free(frame);

  /* no body */
  envelope_init(&env, &ids, NULL);
  frame = envelope_pack(&env, &len);
  s_expect_error(s_raw_exchange(sock, frame, len, 0),
                 KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY);
  free(frame);

  /* a reply body sent as a request */
  Keten__Pong pong = KETEN__PONG__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_PONG;
  env.pong = &pong;
  frame = envelope_pack(&env, &len);
  s_expect_error(s_raw_exchange(sock, frame, len, 0),
                 KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY);
  free(frame);

  /* a message id of the wrong size */
  frame = s_ping_frame(&ids, ENVELOPE_PROTOCOL_VERSION, &len, &env);
  free(frame);
  env.message_id.len = 15;
  frame = envelope_pack(&env, &len);
  s_expect_error(s_raw_exchange(sock, frame, len, 0),
                 KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  free(frame);

  /* a valid ping on the same socket still works */
  frame = s_ping_frame(&ids, ENVELOPE_PROTOCOL_VERSION, &len, &env);
  reply = s_raw_exchange(sock, frame, len, 0);
  assert_int_equal(reply->body_case, KETEN__ENVELOPE__BODY_PONG);
  envelope_free(reply);
  free(frame);

  zmq_close(sock);
  zmq_ctx_term(ctx);
  s_assert_ping(h, "ggz:zeeland");
}

/* A client keeps working across a broker restart. */
static void test_client_survives_restart(void **state) {
  harness_t *h = *state;
  keten_client_t *c =
      harness_client(h, &harness_partner(h, "coa")->keys, 1000, 5);
  assert_int_equal(keten_client_ping(c, "a", 1, NULL), KETEN_OK);
  assert_int_equal(harness_stop(h), 0);
  assert_int_equal(harness_start(h), 0);
  assert_int_equal(keten_client_ping(c, "b", 1, NULL), KETEN_OK);
  keten_welcome_t w;
  assert_int_equal(keten_client_hello(c, &w), KETEN_OK);
  assert_string_equal(w.participant_id, "coa");
  keten_client_destroy(&c);
}

/* 10 000 garbage frames from one client do not stop another's pings. */
static void test_garbage_flood_does_not_starve_others(void **state) {
  harness_t *h = *state;
  void *ctx = zmq_ctx_new();
  void *flood = harness_raw_socket(h, ctx, &harness_partner(h, "vwn:zeeland")->keys);
  int hwm = 20000;
  zmq_setsockopt(flood, ZMQ_SNDHWM, &hwm, sizeof hwm);
  keten_client_t *c =
      harness_client(h, &harness_partner(h, "gemeente:0716")->keys, 3000, -1);
  assert_int_equal(keten_client_ping(c, NULL, 0, NULL), KETEN_OK);

  uint8_t junk[64];
  memset(junk, 0xA5, sizeof junk);
  int sent = 0, pongs = 0;
  for (int i = 0; i < 10000; i++) {
    if (zmq_send(flood, junk, sizeof junk, 0) == (int)sizeof junk)
      sent++;
    if (i % 500 == 0 && keten_client_ping(c, "x", 1, NULL) == KETEN_OK)
      pongs++;
  }
  assert_int_equal(sent, 10000);
  assert_int_equal(pongs, 20);
  /* The flooder gets its typed errors too. */
  uint8_t buf[512];
  int n = harness_recv(flood, buf, sizeof buf, 3000);
  assert_true(n > 0);
  Keten__Envelope *reply = envelope_decode(buf, (size_t)n, sizeof buf, NULL);
  assert_non_null(reply);
  s_expect_error(reply, KETEN__ERROR_CODE__ERROR_MALFORMED);
  assert_int_equal(keten_client_ping(c, NULL, 0, NULL), KETEN_OK);
  keten_client_destroy(&c);
  zmq_close(flood);
  zmq_ctx_term(ctx);
}

#define BOTH(f)                                                              \
  cmocka_unit_test_prestate_setup_teardown(f, s_setup, s_teardown,           \
                                           (void *)&USE_TCP),                \
      cmocka_unit_test_prestate_setup_teardown(f, s_setup, s_teardown,       \
                                               (void *)&USE_IPC)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_welcome_names_the_caller),
      BOTH(test_unregistered_key_refused),
      BOTH(test_removed_partner_refused_after_reload),
      BOTH(test_bad_frames_get_typed_errors),
      BOTH(test_client_survives_restart),
      BOTH(test_garbage_flood_does_not_starve_others),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
