/* Unit tests of the ZAP handler over inproc: admit, refuse, malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "zap.h"

typedef struct {
  char status[8];
  char user[80];
  int frames;
} s_reply_t;

/* Sends a ZAP request of n frames through req, lets zap handle it, and
 * reads the reply. */
#define NOW INT64_C(1780000000000)

static s_reply_t s_ask_at(void *req, void *zap, registry_t *reg,
                          zap_stats_t *st, const char *const *frames,
                          const size_t *lens, int n, int64_t now) {
  for (int i = 0; i < n; i++)
    zmq_send(req, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
  zap_handle(zap, reg, now, st);
  s_reply_t r;
  memset(&r, 0, sizeof r);
  int more = 1;
  while (more) {
    char buf[128];
    int len = zmq_recv(req, buf, sizeof buf - 1, 0);
    assert_true(len >= 0);
    buf[len] = '\0';
    if (r.frames == 2)
      snprintf(r.status, sizeof r.status, "%s", buf);
    if (r.frames == 4)
      snprintf(r.user, sizeof r.user, "%s", buf);
    r.frames++;
    size_t sz = sizeof more;
    zmq_getsockopt(req, ZMQ_RCVMORE, &more, &sz);
  }
  return r;
}

static s_reply_t s_ask(void *req, void *zap, registry_t *reg, zap_stats_t *st,
                       const char *const *frames, const size_t *lens, int n) {
  return s_ask_at(req, zap, reg, st, frames, lens, n, NOW);
}

static void test_zap_decisions(void **state) {
  (void)state;
  void *ctx = zmq_ctx_new();
  char err[128];
  void *zap = zap_open(ctx, err, sizeof err);
  assert_non_null(zap);
  void *req = zmq_socket(ctx, ZMQ_REQ);
  assert_int_equal(zmq_connect(req, "inproc://zeromq.zap.01"), 0);

  registry_t *reg = registry_new();
  participant_t p;
  memset(&p, 0, sizeof p);
  strcpy(p.id, "coa");
  strcpy(p.display_name, "COA");
  p.role = 2;
  p.valid_from_ms = NOW - 1000;
  p.valid_until_ms = NOW + 1000;
  randombytes_buf(p.transport_pk, 32);
  registry_set(reg, &p, 1);
  zap_stats_t st = {0};

  uint8_t stranger[32];
  randombytes_buf(stranger, 32);
  const char *frames[7] = {"1.0", "req-1", "keten", "127.0.0.1", "", "CURVE",
                           (const char *)p.transport_pk};
  size_t lens[7] = {3, 5, 5, 9, 0, 5, 32};

  s_reply_t r = s_ask(req, zap, reg, &st, frames, lens, 7);
  assert_int_equal(r.frames, 6);
  assert_string_equal(r.status, "200");
  uint8_t key[32];
  assert_int_equal(zap_user_id_key(r.user, key), 0);
  assert_memory_equal(key, p.transport_pk, 32);

  /* a registered key outside its entry's validity is not admitted */
  r = s_ask_at(req, zap, reg, &st, frames, lens, 7, NOW + 1000);
  assert_string_equal(r.status, "400");
  r = s_ask_at(req, zap, reg, &st, frames, lens, 7, NOW - 1001);
  assert_string_equal(r.status, "400");

  frames[6] = (const char *)stranger;
  r = s_ask(req, zap, reg, &st, frames, lens, 7);
  assert_string_equal(r.status, "400");
  assert_string_equal(r.user, "");

  frames[5] = "NULL";
  lens[5] = 4;
  r = s_ask(req, zap, reg, &st, frames, lens, 6);
  assert_string_equal(r.status, "400");

  frames[0] = "2.0";
  r = s_ask(req, zap, reg, &st, frames, lens, 6);
  assert_string_equal(r.status, "500");

  assert_int_equal(st.admitted, 1);
  assert_int_equal(st.refused, 4);
  assert_int_equal(st.malformed, 1);

  assert_int_equal(zap_user_id_key("abc", key), -1);
  assert_int_equal(zap_user_id_key(NULL, key), -1);
  char nothex[65];
  memset(nothex, 'z', 64);
  nothex[64] = '\0';
  assert_int_equal(zap_user_id_key(nothex, key), -1);

  registry_destroy(&reg);
  zmq_close(req);
  zmq_close(zap);
  zmq_ctx_term(ctx);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_zap_decisions)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
