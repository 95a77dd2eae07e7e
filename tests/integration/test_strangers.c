/* Strangers are cheap (issue 8, item 2): a flood of CURVE handshakes with a
 * key the registry does not hold is refused every time, but audited as
 * aggregates per source address ("N refusals from ADDR in T s") in the
 * regular batch transaction, its log lines suppressed with a count, while
 * registered partners go on being served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "store.h"

#define REFUSALS 200

static const int USE_TCP = 0, USE_IPC = 1;

static int s_setup(void **state) {
  harness_t *h = harness_new(*(const int *)*state);
  if (!h)
    return -1;
  /* The partner beside the flood PINGs as fast as it can: no request
   * budget of its own may stand in the way of the measurement. */
  if (harness_config(h, "requests_per_second = 1000000\n"
                        "requests_burst = 1000000\n") != 0 ||
      harness_start(h) != 0) {
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

/* One CURVE handshake with keys; returns 1 if the broker refused it
 * (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH seen within 3 s), else 0. */
static int s_refused_handshake(harness_t *h, void *ctx,
                               const keten_keys_t *keys, int i) {
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, h->broker.transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys->transport_pk, 32);
  zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys->transport_sk, 32);
  char mon_ep[64];
  snprintf(mon_ep, sizeof mon_ep, "inproc://stranger-mon-%d", i);
  int refused = 0;
  if (zmq_socket_monitor(s, mon_ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                        ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0) {
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(mon, mon_ep) == 0 && zmq_connect(s, h->endpoint) == 0) {
      uint8_t ev[6];
      int n = harness_recv(mon, ev, sizeof ev, 3000);
      if (n == 6) {
        uint16_t event;
        memcpy(&event, ev, 2);
        refused = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        uint8_t addr[256];
        zmq_recv(mon, addr, sizeof addr, ZMQ_DONTWAIT);
      }
    }
    zmq_close(mon);
  }
  zmq_close(s);
  return refused;
}

/* In a child process: n refused handshakes as fast as they go; the exit
 * status is how many were refused (of at most 250). */
static pid_t s_flood(harness_t *h, int n) {
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  void *ctx = zmq_ctx_new();
  keten_keys_t stranger;
  keten_keys_generate(&stranger, "stranger");
  int refused = 0;
  for (int i = 0; i < n; i++)
    refused += s_refused_handshake(h, ctx, &stranger, i);
  keten_keys_wipe(&stranger);
  zmq_ctx_term(ctx);
  _exit(refused > 250 ? 250 : refused);
}

static int64_t s_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int s_cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* PINGs c until pid exits (at least 20, at most 2000); their median in us. */
static int64_t s_ping_p50(keten_client_t *c, pid_t pid, int *status) {
  static int64_t us[2000];
  int n = 0, done = pid <= 0;
  while (n < 2000 && (!done || n < 20)) {
    int64_t t0 = s_now_us();
    assert_int_equal(keten_client_ping(c, "hi", 2, NULL), KETEN_OK);
    us[n++] = s_now_us() - t0;
    if (!done && waitpid(pid, status, WNOHANG) == pid)
      done = 1;
  }
  if (!done)
    waitpid(pid, status, 0);
  qsort(us, (size_t)n, sizeof us[0], s_cmp);
  return us[n / 2];
}

typedef struct {
  int entries;
  unsigned long long sum;
  int bad_detail;
} tally_t;

static int s_tally(const audit_entry_t *e, void *arg) {
  tally_t *t = arg;
  if (strcmp(e->name, "keten.auth.refused") != 0)
    return 0;
  unsigned long long n = 0;
  char addr[64];
  long long secs = -1;
  if (sscanf(e->detail, "%llu refusals from %63s in %lld s", &n, addr,
             &secs) != 3 || secs < 0 || strcmp(e->actor, "ketend") != 0)
    t->bad_detail++;
  t->entries++;
  t->sum += n;
  return 0;
}

/* The number in the broker's stop line "..., N refused". */
static long long s_refused_at_stop(harness_t *h) {
  FILE *f = fopen(h->log_file, "r");
  assert_non_null(f);
  char line[2048];
  long long n = -1;
  while (fgets(line, sizeof line, f)) {
    char *p = strstr(line, "connections admitted, ");
    if (p)
      n = atoll(p + strlen("connections admitted, "));
  }
  fclose(f);
  return n;
}

/* Two bursts of ~200 refused handshakes: every one refused, a registered
 * partner's PING answered throughout, a handful of aggregate audit entries
 * whose counts sum to the refusals, a handful of log lines, and the audit
 * chain verifies. */
static void test_refusal_flood_is_aggregated(void **state) {
  harness_t *h = *state;
  keten_client_t *coa =
      harness_client(h, &harness_partner(h, "coa")->keys, 3000, -1);
  assert_non_null(coa);
  int64_t base_us = s_ping_p50(coa, 0, NULL);

  int status = 0;
  int64_t t0 = s_now_us();
  pid_t pid = s_flood(h, REFUSALS);
  assert_true(pid > 0);
  int64_t flood_us = s_ping_p50(coa, pid, &status);
  int64_t flood_ms = (s_now_us() - t0) / 1000;
  assert_true(WIFEXITED(status));
  int refused = WEXITSTATUS(status);
  print_message("# %d refused handshakes in %lld ms; coa PING p50 %lld us "
                "(baseline %lld us)\n",
                refused, (long long)flood_ms, (long long)flood_us,
                (long long)base_us);
  assert_true(refused >= REFUSALS - 5);
  /* the broker still serves a partner after the flood */
  assert_int_equal(keten_client_ping(coa, "hi", 2, NULL), KETEN_OK);

  /* the first aggregate of an address is written at the next sweep (the
   * batch transaction of the next second), with a summary line */
  assert_int_equal(harness_wait_log(h, "refused handshakes from", 1, 3000), 0);
  /* a second flood inside the interval: counted, audited at stop */
  pid = s_flood(h, REFUSALS);
  assert_true(pid > 0);
  s_ping_p50(coa, pid, &status);
  assert_true(WIFEXITED(status));
  refused += WEXITSTATUS(status);
  flood_ms = (s_now_us() - t0) / 1000;
  assert_true(refused >= 2 * REFUSALS - 10);
  assert_int_equal(keten_client_ping(coa, "hi", 2, NULL), KETEN_OK);
  keten_client_destroy(&coa);

  /* a handful of WARN lines, the rest counted in summaries */
  int lines = harness_log_count(h, "auth: refused connection from");
  print_message("# %d refusal log lines, %d summary lines before stop\n",
                lines, harness_log_count(h, "refused handshakes from"));
  assert_true(lines >= 1);
  /* per source address (one on tcp; on ipc each flooding process is its
   * own): one line per interval, and one for the first refusal */
  const int addrs = 2;
  assert_true(lines <= addrs * (2 + flood_ms / 10000));

  assert_int_equal(harness_stop(h), 0);
  long long at_stop = s_refused_at_stop(h);
  assert_true(at_stop >= refused);
  assert_true(harness_log_count(h, "not logged)") >= 1);

  char err[256];
  store_t *store = store_open(h->store, err, sizeof err);
  assert_non_null(store);
  tally_t t = {0};
  assert_int_equal(store_audit_each(store, s_tally, &t), 0);
  store_close(&store);
  print_message("# %d keten.auth.refused entries summing %llu refusals\n",
                t.entries, t.sum);
  assert_int_equal(t.bad_detail, 0);
  assert_true(t.entries >= 2);
  /* at most one per address per 10 s interval, the first at once, and
   * the remainder at stop (400 refusals, a handful of entries) */
  assert_true(t.entries <= addrs * (2 + (int)(flood_ms / 10000)));
  assert_int_equal(t.sum, (unsigned long long)at_stop);

  char *out = NULL;
  assert_int_equal(harness_audit_verify(h, &out), 0);
  free(out);
}

#define BOTH(f)                                                              \
  cmocka_unit_test_prestate_setup_teardown(f, s_setup, s_teardown,           \
                                           (void *)&USE_TCP),                \
      cmocka_unit_test_prestate_setup_teardown(f, s_setup, s_teardown,       \
                                               (void *)&USE_IPC)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_refusal_flood_is_aggregated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
