/* client — one CURVE DEALER connection to ketend and the request/reply
 * exchange over it (Lazy Pirate: retry with the same message id on a fresh
 * socket after a timeout; ZeroMQ reconnects with exponential back-off). */
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "envelope.h"
#include "keten.h"

#define CLIENT_MAX_REPLY (4 * ENVELOPE_DEFAULT_MAX_FRAME)

struct keten_client {
  void *ctx;
  void *sock;                    /* DEALER, CURVE client */
  void *monitor;                 /* PAIR receiving sock's events */
  unsigned generation;           /* bumps with each new socket */
  char endpoint[256];
  keten_keys_t keys;
  uint8_t broker_key[KETEN_KEY_BYTES];
  int timeout_ms, retries, reconnect_ivl_ms, reconnect_ivl_max_ms,
      heartbeat_ivl_ms;
  char error[320];
  int remote_code;
};

static void s_error(keten_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_error(keten_client_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
}

static int64_t s_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_close_socket(keten_client_t *c) {
  if (c->sock)
    zmq_close(c->sock);
  if (c->monitor)
    zmq_close(c->monitor);
  c->sock = c->monitor = NULL;
}

static keten_err_t s_open_socket(keten_client_t *c) {
  int zero = 0;
  int64_t max_reply = CLIENT_MAX_REPLY;
  int hb_timeout = 3 * c->heartbeat_ivl_ms;
  char mon_ep[64];
  c->generation++;
  snprintf(mon_ep, sizeof mon_ep, "inproc://keten-monitor-%p-%u", (void *)c,
           c->generation);
  c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
  if (!c->sock ||
      zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max_reply, sizeof max_reply) ||
      zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &c->reconnect_ivl_ms,
                     sizeof(int)) ||
      zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL_MAX, &c->reconnect_ivl_max_ms,
                     sizeof(int)) ||
      zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_IVL, &c->heartbeat_ivl_ms,
                     sizeof(int)) ||
      zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout,
                     sizeof hb_timeout) ||
      zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TTL, &hb_timeout,
                     sizeof hb_timeout) ||
      zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->broker_key,
                     KETEN_KEY_BYTES) ||
      zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->keys.transport_pk,
                     KETEN_KEY_BYTES) ||
      zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->keys.transport_sk,
                     KETEN_KEY_BYTES) ||
      zmq_socket_monitor(c->sock, mon_ep,
                         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
    goto fail;
  c->monitor = zmq_socket(c->ctx, ZMQ_PAIR);
  if (!c->monitor ||
      zmq_setsockopt(c->monitor, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_connect(c->monitor, mon_ep) != 0 ||
      zmq_connect(c->sock, c->endpoint) != 0)
    goto fail;
  return KETEN_OK;
fail:
  s_error(c, "cannot open a socket to %s: %s", c->endpoint,
          zmq_strerror(zmq_errno()));
  s_close_socket(c);
  return KETEN_ERR_TRANSPORT;
}

keten_client_t *keten_client_new(const keten_client_config_t *cfg, char *err,
                                 size_t errlen) {
  const char *why = NULL;
  if (!cfg || !cfg->endpoint || !cfg->keys || !cfg->broker_key)
    why = "endpoint, keys and broker_key are required";
  else if (!cfg->keys->has_secret)
    why = "the client keys must include the secret keys";
  else if (strlen(cfg->endpoint) >= sizeof(((keten_client_t *)0)->endpoint))
    why = "endpoint too long";
  else if (sodium_init() < 0)
    why = "libsodium failed to initialise";
  if (why) {
    if (err && errlen)
      snprintf(err, errlen, "%s", why);
    return NULL;
  }
  keten_client_t *c = calloc(1, sizeof *c);
  if (!c) {
    if (err && errlen)
      snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(c->endpoint, sizeof c->endpoint, "%s", cfg->endpoint);
  c->keys = *cfg->keys;
  memcpy(c->broker_key, cfg->broker_key, KETEN_KEY_BYTES);
  c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  c->retries = cfg->retries < 0 ? 0 : cfg->retries == 0 ? 2 : cfg->retries;
  c->reconnect_ivl_ms = cfg->reconnect_ivl_ms > 0 ? cfg->reconnect_ivl_ms : 100;
  c->reconnect_ivl_max_ms =
      cfg->reconnect_ivl_max_ms > 0 ? cfg->reconnect_ivl_max_ms : 5000;
  c->heartbeat_ivl_ms = cfg->heartbeat_ivl_ms > 0 ? cfg->heartbeat_ivl_ms : 5000;
  c->ctx = zmq_ctx_new();
  if (!c->ctx || s_open_socket(c) != KETEN_OK) {
    if (err && errlen)
      snprintf(err, errlen, "%s", c->ctx ? c->error : "zmq_ctx_new failed");
    keten_client_destroy(&c);
    return NULL;
  }
  return c;
}

void keten_client_destroy(keten_client_t **client) {
  if (!client || !*client)
    return;
  keten_client_t *c = *client;
  s_close_socket(c);
  if (c->ctx)
    zmq_ctx_term(c->ctx);
  keten_keys_wipe(&c->keys);
  free(c);
  *client = NULL;
}

const char *keten_client_error(const keten_client_t *client) {
  return client ? client->error : "no client";
}

int keten_client_remote_code(const keten_client_t *client) {
  return client ? client->remote_code : 0;
}

/* Reads one monitor event; returns 1 if it says the broker refused us. */
static int s_monitor_refused(keten_client_t *c, uint32_t *status) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  int refused = 0;
  if (zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) >= 6) {
    const uint8_t *d = zmq_msg_data(&m);
    uint16_t event;
    memcpy(&event, d, sizeof event);
    memcpy(status, d + 2, sizeof *status);
    refused = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
              event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
  }
  /* Drain the rest of the event (its endpoint frame). */
  while (zmq_msg_more(&m) && zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) >= 0)
    ;
  zmq_msg_close(&m);
  return refused;
}

/* Waits for the reply whose correlation_id is msg_id until deadline.
 * Replies to earlier attempts are dropped. */
static keten_err_t s_await(keten_client_t *c, const uint8_t *msg_id,
                           int64_t deadline, Keten__Envelope **reply) {
  for (;;) {
    int64_t left = deadline - s_now_ms();
    if (left <= 0)
      return KETEN_ERR_TIMEOUT;
    zmq_pollitem_t items[] = {{c->sock, 0, ZMQ_POLLIN, 0},
                              {c->monitor, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, 2, (long)left);
    if (rc < 0) {
      if (zmq_errno() == EINTR)
        continue;
      s_error(c, "poll failed: %s", zmq_strerror(zmq_errno()));
      return KETEN_ERR_TRANSPORT;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      uint32_t status = 0;
      if (s_monitor_refused(c, &status)) {
        s_error(c,
                "the broker refused our transport key at the CURVE handshake "
                "(status %" PRIu32 "): is this participant registered?",
                status);
        return KETEN_ERR_AUTH;
      }
    }
    if (!(items[0].revents & ZMQ_POLLIN))
      continue;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      continue;
    }
    envelope_error_t e;
    Keten__Envelope *env = envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m),
                                           CLIENT_MAX_REPLY, &e);
    zmq_msg_close(&m);
    if (!env)
      continue; /* not ours to answer; a broken frame is ignored */
    if (env->correlation_id.len == ENVELOPE_MESSAGE_ID_BYTES &&
        memcmp(env->correlation_id.data, msg_id, ENVELOPE_MESSAGE_ID_BYTES) ==
            0) {
      if (envelope_validate(env, &e) != 0) {
        s_error(c, "invalid reply from broker: %s", e.reason);
        envelope_free(env);
        return KETEN_ERR_PROTOCOL;
      }
      *reply = env;
      return KETEN_OK;
    }
    envelope_free(env); /* a stale reply to an earlier attempt */
  }
}

/* Sends req and waits for its reply, retrying on a new socket after a
 * timeout. A reply of type Error becomes KETEN_ERR_REMOTE. */
static keten_err_t s_request(keten_client_t *c, const Keten__Envelope *req,
                             Keten__Envelope **reply) {
  c->error[0] = '\0';
  c->remote_code = 0;
  size_t len;
  uint8_t *frame = envelope_pack(req, &len);
  if (!frame) {
    s_error(c, "out of memory");
    return KETEN_ERR_NOMEM;
  }
  keten_err_t rc = KETEN_ERR_TIMEOUT;
  for (int attempt = 0; attempt <= c->retries; attempt++) {
    if (!c->sock && (rc = s_open_socket(c)) != KETEN_OK)
      break;
    if (zmq_send(c->sock, frame, len, 0) < 0) {
      s_error(c, "send failed: %s", zmq_strerror(zmq_errno()));
      rc = KETEN_ERR_TRANSPORT;
      break;
    }
    rc = s_await(c, req->message_id.data, s_now_ms() + c->timeout_ms, reply);
    if (rc != KETEN_ERR_TIMEOUT)
      break;
    /* Lazy Pirate: the socket may hold a dead connection; start afresh. */
    s_close_socket(c);
  }
  free(frame);
  if (rc == KETEN_ERR_TIMEOUT)
    s_error(c, "no reply from %s within %d ms (%d attempts)", c->endpoint,
            c->timeout_ms, c->retries + 1);
  if (rc == KETEN_OK && (*reply)->body_case == KETEN__ENVELOPE__BODY_ERROR) {
    c->remote_code = (int)(*reply)->error->code;
    s_error(c, "%s: %s", envelope_error_name((*reply)->error->code),
            (*reply)->error->reason);
    envelope_free(*reply);
    *reply = NULL;
    rc = KETEN_ERR_REMOTE;
  }
  return rc;
}

static keten_err_t s_expect(keten_client_t *c, Keten__Envelope *reply,
                            Keten__Envelope__BodyCase want) {
  if (reply->body_case == want)
    return KETEN_OK;
  s_error(c, "unexpected reply body %d (wanted %d)", (int)reply->body_case,
          (int)want);
  envelope_free(reply);
  return KETEN_ERR_PROTOCOL;
}

keten_err_t keten_client_hello(keten_client_t *c, keten_welcome_t *w) {
  if (!c || !w)
    return KETEN_ERR_INVALID;
  Keten__Envelope req;
  envelope_ids_t ids;
  Keten__Hello hello = KETEN__HELLO__INIT;
  envelope_init(&req, &ids, NULL);
  hello.software = "libketen/" KETEN_VERSION;
  req.body_case = KETEN__ENVELOPE__BODY_HELLO;
  req.hello = &hello;
  Keten__Envelope *reply = NULL;
  keten_err_t rc = s_request(c, &req, &reply);
  if (rc != KETEN_OK ||
      (rc = s_expect(c, reply, KETEN__ENVELOPE__BODY_WELCOME)) != KETEN_OK)
    return rc;
  const Keten__Welcome *in = reply->welcome;
  memset(w, 0, sizeof *w);
  snprintf(w->broker_version, sizeof w->broker_version, "%s",
           in->broker_version);
  w->protocol_version = in->protocol_version;
  snprintf(w->participant_id, sizeof w->participant_id, "%s",
           in->participant_id);
  w->role = (int)in->role;
  snprintf(w->display_name, sizeof w->display_name, "%s", in->display_name);
  w->max_frame_bytes = in->max_frame_bytes;
  w->server_time_ms = in->server_time_ms;
  envelope_free(reply);
  return KETEN_OK;
}

keten_err_t keten_client_ping(keten_client_t *c, const void *payload,
                              size_t len, int64_t *rtt_us) {
  if (!c || (len && !payload))
    return KETEN_ERR_INVALID;
  Keten__Envelope req;
  envelope_ids_t ids;
  Keten__Ping ping = KETEN__PING__INIT;
  envelope_init(&req, &ids, NULL);
  ping.payload.data = (uint8_t *)payload;
  ping.payload.len = len;
  req.body_case = KETEN__ENVELOPE__BODY_PING;
  req.ping = &ping;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  Keten__Envelope *reply = NULL;
  keten_err_t rc = s_request(c, &req, &reply);
  if (rc != KETEN_OK ||
      (rc = s_expect(c, reply, KETEN__ENVELOPE__BODY_PONG)) != KETEN_OK)
    return rc;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (reply->pong->payload.len != len ||
      (len && memcmp(reply->pong->payload.data, payload, len) != 0)) {
    s_error(c, "pong payload differs from the ping's");
    rc = KETEN_ERR_PROTOCOL;
  }
  envelope_free(reply);
  if (rtt_us)
    *rtt_us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
              (t1.tv_nsec - t0.tv_nsec) / 1000;
  return rc;
}
