/* Unit tests of the envelope codec: decoding bounds, validation of every
 * header field, reply construction, and garbage in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

static Keten__Ping s_ping = KETEN__PING__INIT;

static void s_make_ping(Keten__Envelope *env, envelope_ids_t *ids) {
  envelope_init(env, ids, NULL);
  env->body_case = KETEN__ENVELOPE__BODY_PING;
  env->ping = &s_ping;
}

static Keten__ErrorCode s_validate_code(const Keten__Envelope *env) {
  envelope_error_t e = {0};
  return envelope_validate(env, &e) == 0 ? KETEN__ERROR_CODE__ERROR_UNSPECIFIED
                                         : e.code;
}

static void test_roundtrip(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  s_make_ping(&env, &ids);
  uint8_t payload[5] = {1, 2, 3, 4, 5};
  s_ping.payload.data = payload;
  s_ping.payload.len = sizeof payload;
  size_t len;
  uint8_t *buf = envelope_pack(&env, &len);
  envelope_error_t e;
  Keten__Envelope *back = envelope_decode(buf, len, 1024, &e);
  assert_non_null(back);
  assert_int_equal(envelope_validate(back, &e), 0);
  assert_int_equal(back->version, ENVELOPE_PROTOCOL_VERSION);
  assert_memory_equal(back->message_id.data, ids.message_id, 16);
  assert_memory_equal(back->trace_id.data, ids.trace_id, 16);
  assert_memory_equal(back->operation_id.data, ids.operation_id, 8);
  assert_int_equal(back->correlation_id.len, 0);
  assert_int_equal(back->body_case, KETEN__ENVELOPE__BODY_PING);
  assert_memory_equal(back->ping->payload.data, payload, 5);
  envelope_free(back);
  free(buf);
  s_ping.payload.len = 0;
}

static void test_decode_bounds(void **state) {
  (void)state;
  envelope_error_t e;
  uint8_t buf[64] = {0};
  assert_null(envelope_decode(buf, 0, 1024, &e));
  assert_int_equal(e.code, KETEN__ERROR_CODE__ERROR_MALFORMED);
  assert_null(envelope_decode(buf, 65, 64, &e));
  assert_int_equal(e.code, KETEN__ERROR_CODE__ERROR_TOO_LARGE);
  /* exactly at the limit is decoded, not refused for size */
  Keten__Envelope env;
  envelope_ids_t ids;
  s_make_ping(&env, &ids);
  size_t len;
  uint8_t *frame = envelope_pack(&env, &len);
  Keten__Envelope *ok = envelope_decode(frame, len, len, &e);
  assert_non_null(ok);
  envelope_free(ok);
  free(frame);
  /* Every truncation of a valid frame is refused, fails validation, or
   * (cut exactly before the body, which protobuf cannot tell) has no body,
   * which the broker answers with ERROR_UNKNOWN_BODY. */
  uint8_t payload[10] = "0123456789";
  s_ping.payload.data = payload;
  s_ping.payload.len = sizeof payload;
  frame = envelope_pack(&env, &len);
  s_ping.payload.len = 0;
  for (size_t cut = 1; cut < len; cut++) {
    Keten__Envelope *t = envelope_decode(frame, cut, len, &e);
    if (t) {
      if (envelope_validate(t, &e) == 0)
        assert_int_equal(t->body_case, KETEN__ENVELOPE__BODY__NOT_SET);
      envelope_free(t);
    } else {
      assert_int_equal(e.code, KETEN__ERROR_CODE__ERROR_MALFORMED);
    }
  }
  free(frame);
}

static void test_validate_header_fields(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  s_make_ping(&env, &ids);
  assert_int_equal(s_validate_code(&env), 0);

  env.version = 3;
  assert_int_equal(s_validate_code(&env),
                   KETEN__ERROR_CODE__ERROR_UNSUPPORTED_VERSION);
  env.version = 1; /* keten 0.1's: incompatible */
  assert_int_equal(s_validate_code(&env),
                   KETEN__ERROR_CODE__ERROR_UNSUPPORTED_VERSION);
  env.version = 0;
  assert_int_equal(s_validate_code(&env),
                   KETEN__ERROR_CODE__ERROR_UNSUPPORTED_VERSION);
  env.version = 2;

  size_t bad[] = {0, 8, 15, 17, 32};
  for (size_t i = 0; i < 5; i++) {
    env.message_id.len = bad[i];
    assert_int_equal(s_validate_code(&env),
                     KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  }
  env.message_id.len = 16;
  env.trace_id.len = 8;
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  env.trace_id.len = 16;
  env.operation_id.len = 16;
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  env.operation_id.len = 8;
  env.correlation_id.data = ids.message_id;
  env.correlation_id.len = 4;
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  env.correlation_id.len = 16;
  assert_int_equal(s_validate_code(&env), 0);
  env.parent_operation_id.data = ids.operation_id;
  env.parent_operation_id.len = 7;
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  env.parent_operation_id.len = 8;
  assert_int_equal(s_validate_code(&env), 0);
}

static void test_validate_hello_software(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Hello hello = KETEN__HELLO__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_HELLO;
  env.hello = &hello;
  hello.software = "libketen/0.1.0";
  assert_int_equal(s_validate_code(&env), 0);
  char longname[80];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  hello.software = longname;
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  hello.software = "evil\nlog line";
  assert_int_equal(s_validate_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
}

static void test_reply_correlates(void **state) {
  (void)state;
  Keten__Envelope req, reply;
  envelope_ids_t rq, rp;
  s_make_ping(&req, &rq);
  envelope_init(&reply, &rp, &req);
  assert_int_equal(reply.correlation_id.len, 16);
  assert_memory_equal(reply.correlation_id.data, rq.message_id, 16);
  assert_memory_equal(reply.trace_id.data, rq.trace_id, 16);
  assert_memory_equal(reply.parent_operation_id.data, rq.operation_id, 8);
  assert_memory_not_equal(reply.message_id.data, rq.message_id, 16);
  assert_int_equal(s_validate_code(&reply), 0);
}

static void test_garbage_never_crashes(void **state) {
  (void)state;
  uint8_t buf[512];
  envelope_error_t e;
  randombytes_buf_deterministic(buf, sizeof buf,
                                (const unsigned char *)"keten-envelope-fuzz-seed-32bytes");
  for (int round = 0; round < 20000; round++) {
    size_t len = 1 + (size_t)(buf[round % 512] * 2 + round) % sizeof buf;
    /* mutate a few bytes deterministically each round */
    buf[(round * 7) % 512] ^= (uint8_t)(round * 31);
    buf[(round * 13) % 512] += (uint8_t)round;
    Keten__Envelope *env = envelope_decode(buf, len, sizeof buf, &e);
    if (env) {
      (void)envelope_validate(env, &e);
      envelope_free(env);
    } else {
      assert_int_equal(e.code, KETEN__ERROR_CODE__ERROR_MALFORMED);
    }
  }
}

/* Garbage in at the bounds the spec states (issue 8, item 8): each body is
 * packed, decoded and validated as a frame from the network would be. */
static Keten__ErrorCode s_wire_code(const Keten__Envelope *env) {
  size_t len = 0;
  uint8_t *buf = envelope_pack(env, &len);
  assert_non_null(buf);
  envelope_error_t e = {0};
  Keten__Envelope *back =
      envelope_decode(buf, len, ENVELOPE_DEFAULT_MAX_FRAME, &e);
  free(buf);
  assert_non_null(back);
  Keten__ErrorCode code = envelope_validate(back, &e) == 0
                              ? KETEN__ERROR_CODE__ERROR_UNSPECIFIED
                              : e.code;
  if (code != KETEN__ERROR_CODE__ERROR_UNSPECIFIED)
    assert_true(strlen(e.reason) <= ENVELOPE_MAX_REASON_LEN);
  envelope_free(back);
  return code;
}

static char *s_text(size_t n, char c) {
  char *t = malloc(n + 1);
  assert_non_null(t);
  memset(t, c, n);
  t[n] = '\0';
  return t;
}

/* Error.reason: 0-255 printable ASCII bytes (5.5); 256 is one too many. */
static void test_error_reason_is_0_to_255_printable(void **state) {
  (void)state;
  assert_int_equal(ENVELOPE_MAX_REASON_LEN, 255);
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Error error = KETEN__ERROR__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_ERROR;
  env.error = &error;
  error.code = KETEN__ERROR_CODE__ERROR_INTERNAL;
  char *r255 = s_text(255, 'r'), *r256 = s_text(256, 'r');
  error.reason = "";
  assert_int_equal(s_wire_code(&env), 0);
  error.reason = r255;
  assert_int_equal(s_wire_code(&env), 0);
  error.reason = r256;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  r255[100] = '\n';
  error.reason = r255;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  r255[100] = (char)0x7f;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  r255[100] = (char)0xc3; /* UTF-8 is not printable ASCII */
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  free(r255);
  free(r256);
}

/* SubscriptionEnded.detail: 0-255 printable ASCII bytes, like a reason. */
static void test_subscription_ended_detail_is_0_to_255(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__SubscriptionEnded ended = KETEN__SUBSCRIPTION_ENDED__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED;
  env.subscription_ended = &ended;
  ended.reason = KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED;
  char *d255 = s_text(255, 'd'), *d256 = s_text(256, 'd');
  ended.detail = "";
  assert_int_equal(s_wire_code(&env), 0);
  ended.detail = d255;
  assert_int_equal(s_wire_code(&env), 0);
  ended.detail = d256;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  ended.detail = "displaced\r\nby another";
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  free(d255);
  free(d256);
}

/* Welcome.display_name: 1-128 bytes of UTF-8 without control characters
 * (5.2). An empty one breaks the bound: ERROR_INVALID_FIELD (9.1 step 10),
 * not a valid envelope that the dispatcher then calls ERROR_UNKNOWN_BODY. */
static void test_welcome_display_name_is_1_to_128_utf8(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Welcome w = KETEN__WELCOME__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_WELCOME;
  env.welcome = &w;
  w.broker_version = "0.3.0";
  w.participant_id = "gemeente:0716";
  w.display_name = "Gemeente Tholen";
  assert_int_equal(s_wire_code(&env), 0);
  w.display_name = "Zo\xc3\xab en \xe2\x82\xac"; /* UTF-8 text is fine */
  assert_int_equal(s_wire_code(&env), 0);
  w.display_name = "";
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  char *n128 = s_text(128, 'n'), *n129 = s_text(129, 'n');
  w.display_name = n128;
  assert_int_equal(s_wire_code(&env), 0);
  w.display_name = n129;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  w.display_name = "tab\there";
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  w.display_name = "del\x7f";
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  w.display_name = "Gemeente Tholen";
  char *id65 = s_text(65, 'a'), *v33 = s_text(33, '1');
  w.participant_id = id65;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  w.participant_id = "gemeente:0716";
  w.broker_version = v33;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_INVALID_FIELD);
  free(n128);
  free(n129);
  free(id65);
  free(v33);
}

/* Ping.payload: at most 65536 bytes; above, ERROR_TOO_LARGE (5.3). */
static void test_ping_payload_is_at_most_65536(void **state) {
  (void)state;
  Keten__Envelope env;
  envelope_ids_t ids;
  Keten__Ping ping = KETEN__PING__INIT;
  envelope_init(&env, &ids, NULL);
  env.body_case = KETEN__ENVELOPE__BODY_PING;
  env.ping = &ping;
  uint8_t *payload = calloc(1, ENVELOPE_MAX_PING_PAYLOAD + 1);
  assert_non_null(payload);
  ping.payload.data = payload;
  ping.payload.len = ENVELOPE_MAX_PING_PAYLOAD;
  assert_int_equal(ENVELOPE_MAX_PING_PAYLOAD, 65536);
  assert_int_equal(s_wire_code(&env), 0);
  ping.payload.len = ENVELOPE_MAX_PING_PAYLOAD + 1;
  assert_int_equal(s_wire_code(&env), KETEN__ERROR_CODE__ERROR_TOO_LARGE);
  free(payload);
}

static void test_error_names(void **state) {
  (void)state;
  assert_string_equal(envelope_error_name(KETEN__ERROR_CODE__ERROR_MALFORMED),
                      "ERROR_MALFORMED");
  assert_string_equal(envelope_error_name((Keten__ErrorCode)999),
                      "ERROR_UNKNOWN");
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_decode_bounds),
      cmocka_unit_test(test_validate_header_fields),
      cmocka_unit_test(test_validate_hello_software),
      cmocka_unit_test(test_reply_correlates),
      cmocka_unit_test(test_garbage_never_crashes),
      cmocka_unit_test(test_error_names),
      cmocka_unit_test(test_error_reason_is_0_to_255_printable),
      cmocka_unit_test(test_subscription_ended_detail_is_0_to_255),
      cmocka_unit_test(test_welcome_display_name_is_1_to_128_utf8),
      cmocka_unit_test(test_ping_payload_is_at_most_65536),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
