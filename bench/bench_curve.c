/* bench_curve — the bare CURVE server and DEALER of the benchmarks; see
 * bench_curve.h. */
#include "bench_curve.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_proc.h"

int bench_setint(void *sock, int opt, int value) {
  return zmq_setsockopt(sock, opt, &value, sizeof value);
}

void *bench_curve_dealer(void *ctx, const char *endpoint,
                         const keten_keys_t *me,
                         const uint8_t server_pk[KETEN_KEY_BYTES],
                         int timeout_ms) {
  int64_t max_msg = 4 * (int64_t)BENCH_MAX_FRAME;
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  if (!s || bench_setint(s, ZMQ_LINGER, 0) ||
      zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) ||
      bench_setint(s, ZMQ_HEARTBEAT_IVL, BENCH_HEARTBEAT_IVL_MS) ||
      bench_setint(s, ZMQ_HEARTBEAT_TIMEOUT, 3 * BENCH_HEARTBEAT_IVL_MS) ||
      bench_setint(s, ZMQ_HEARTBEAT_TTL, 3 * BENCH_HEARTBEAT_IVL_MS) ||
      (timeout_ms > 0 && (bench_setint(s, ZMQ_RCVTIMEO, timeout_ms) ||
                          bench_setint(s, ZMQ_SNDTIMEO, timeout_ms))) ||
      zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pk, KETEN_KEY_BYTES) ||
      zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, me->transport_pk,
                     KETEN_KEY_BYTES) ||
      zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, me->transport_sk,
                     KETEN_KEY_BYTES) ||
      zmq_connect(s, endpoint)) {
    if (s) {
      int e = zmq_errno();
      zmq_close(s);
      errno = e;
    }
    return NULL;
  }
  return s;
}

/* ---- the server (forked child) ------------------------------------------- */

static volatile sig_atomic_t s_stop;

static void s_on_stop(int sig) {
  (void)sig;
  s_stop = 1;
}

/* Answers one ZAP request (RFC 27): admits CURVE clients whose key is one
 * of allowed[n_allowed], and no one else. */
static void s_zap(void *zap, const uint8_t (*allowed)[KETEN_KEY_BYTES],
                  int n_allowed) {
  uint8_t frame[7][256];
  size_t len[7] = {0};
  int n = 0, more = 1;
  while (more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, zap, 0) < 0) {
      zmq_msg_close(&m);
      return;
    }
    more = zmq_msg_more(&m);
    if (n < 7) {
      len[n] = zmq_msg_size(&m) < sizeof frame[n] ? zmq_msg_size(&m)
                                                  : sizeof frame[n];
      memcpy(frame[n], zmq_msg_data(&m), len[n]);
    }
    n++;
    zmq_msg_close(&m);
  }
  int ok = 0;
  if (n == 7 && len[5] == 5 && memcmp(frame[5], "CURVE", 5) == 0 &&
      len[6] == KETEN_KEY_BYTES)
    for (int i = 0; i < n_allowed && !ok; i++)
      ok = memcmp(frame[6], allowed[i], KETEN_KEY_BYTES) == 0;
  char user[2 * KETEN_KEY_BYTES + 1] = "";
  if (ok)
    sodium_bin2hex(user, sizeof user, frame[6], KETEN_KEY_BYTES);
  const char *status = ok ? "200" : "400", *text = ok ? "OK" : "not admitted";
  zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
  zmq_send(zap, frame[1], n > 1 ? len[1] : 0, ZMQ_SNDMORE);
  zmq_send(zap, status, 3, ZMQ_SNDMORE);
  zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
  zmq_send(zap, user, strlen(user), ZMQ_SNDMORE);
  zmq_send(zap, "", 0, 0);
}

/* The child's whole life. Reports "ok ENDPOINT" or "error REASON" on fd. */
static void s_server_main(int fd, void *arg) {
  const bench_curve_server_t *s = arg;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = s_on_stop; /* no SA_RESTART: zmq_poll sees EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_DFL;
  sigaction(SIGALRM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  alarm(0);

  char line[400];
  int64_t max_msg = 2 * (int64_t)BENCH_MAX_FRAME + 65536;
  const char *why = s->on_start ? s->on_start(s->arg) : NULL;
  void *ctx = zmq_ctx_new();
  void *zap = ctx ? zmq_socket(ctx, ZMQ_REP) : NULL;
  void *router = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
  /* ZAP first: a CURVE server without a handler would admit anyone. */
  if (why || !zap || !router ||
      bench_setint(zap, ZMQ_LINGER, 0) ||
      zmq_bind(zap, "inproc://zeromq.zap.01") ||
      bench_setint(router, ZMQ_CURVE_SERVER, 1) ||
      zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, s->server_sk,
                     KETEN_KEY_BYTES) ||
      zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, "bench", 5) ||
      zmq_setsockopt(router, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) ||
      bench_setint(router, ZMQ_ROUTER_MANDATORY, 1) ||
      bench_setint(router, ZMQ_SNDHWM, BENCH_HWM) ||
      bench_setint(router, ZMQ_RCVHWM, BENCH_HWM) ||
      bench_setint(router, ZMQ_LINGER, 0) ||
      bench_setint(router, ZMQ_HEARTBEAT_IVL, BENCH_HEARTBEAT_IVL_MS) ||
      bench_setint(router, ZMQ_HEARTBEAT_TIMEOUT,
                   BENCH_HEARTBEAT_TIMEOUT_MS) ||
      bench_setint(router, ZMQ_HEARTBEAT_TTL, BENCH_HEARTBEAT_TIMEOUT_MS) ||
      zmq_bind(router, s->bind_ep)) {
    snprintf(line, sizeof line, "error %s: %s\n", s->bind_ep,
             why ? why : zmq_strerror(zmq_errno()));
    ssize_t w = write(fd, line, strlen(line));
    (void)w;
    _exit(1);
  }
  char ep[300];
  size_t eplen = sizeof ep;
  zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &eplen);
  snprintf(line, sizeof line, "ok %s\n", ep);
  ssize_t w = write(fd, line, strlen(line));
  (void)w;
  close(fd);

  while (!s_stop) {
    zmq_pollitem_t items[] = {{zap, 0, ZMQ_POLLIN, 0},
                              {router, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, 2, 1000);
    if (rc < 0) {
      if (zmq_errno() == EINTR)
        continue;
      break;
    }
    if (items[0].revents & ZMQ_POLLIN)
      s_zap(zap, s->allowed, s->n_allowed);
    if (items[1].revents & ZMQ_POLLIN)
      s->on_batch(router, s->arg);
  }
  if (s->on_stop)
    s->on_stop(s->arg);
  zmq_close(router);
  zmq_close(zap);
  zmq_ctx_term(ctx);
  _exit(0);
}

int bench_curve_server_start(volatile sig_atomic_t *slot,
                             const bench_curve_server_t *s, int timeout_ms,
                             char *endpoint, size_t cap, char *err,
                             size_t errlen) {
  char line[400];
  int rc = bench_fork_reporting(slot, s_server_main, (void *)s, timeout_ms,
                                line, sizeof line, err, errlen);
  if (rc < 0)
    return -1;
  if (rc != 0 || strncmp(line, "ok ", 3) != 0) {
    snprintf(err, errlen, "%s did not start: %s", s->what,
             rc == 0 ? line : "no answer");
    bench_child_stop(slot, 1000);
    return -1;
  }
  snprintf(endpoint, cap, "%s", line + 3);
  return 0;
}
