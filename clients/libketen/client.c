/* client — one CURVE DEALER connection to ketend and the request/reply
 * exchange over it (Lazy Pirate: retry with the same message id on a fresh
 * socket after a timeout; ZeroMQ reconnects with exponential back-off). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "canon.h"
#include "client_int.h"
#include "envelope.h"
#include "evidence.h"
#include "keten.h"
#include "seal.h"

#define CLIENT_MAX_REPLY (64u * 1024u * 1024u + 65536u)
#define CLIENT_MAX_PENDING 4096
/* How often a rate-limited request is tried again, and the longest wait. */
#define CLIENT_RATE_RETRIES 20
#define CLIENT_RATE_WAIT_MAX_MS 2000
/* Back-off of a (re)SUBSCRIBE after a transient failure or a stall: the
 * first step, the ceiling, and the longest retry_after_ms honoured. */
#define CLIENT_BACKOFF_FIRST_MS 100u
#define CLIENT_BACKOFF_MAX_MS 30000u
#define CLIENT_RETRY_AFTER_MAX_MS 600000u

_Static_assert((int)KETEN_NOTICE_DELETE ==
                       (int)KETEN__NOTICE_KIND__NOTICE_DELETE &&
                   (int)KETEN_NOTICE_REASON_ERASED ==
                       (int)KETEN__NOTICE_REASON__NOTICE_REASON_ERASED,
               "notice kinds and reasons");
_Static_assert(KETEN_NOTICE_MAX_ITEMS == CANON_MAX_NOTICE_ITEMS,
               "notice items");

void client_error(keten_client_t *c, const char *fmt, ...) {
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

/* The event-loop descriptor (keten_client_fd): the ZMQ_FD of each
 * socket in the epoll set, so that the one descriptor stays the same for
 * the client's life while sockets come and go. */
static int s_zmq_fd(void *sock) {
  int fd = -1;
  size_t len = sizeof fd;
  if (!sock || zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
    return -1;
  return fd;
}

static void s_unwatch(keten_client_t *c) {
  if (c->efd < 0)
    return;
  if (c->watched_sock >= 0)
    epoll_ctl(c->efd, EPOLL_CTL_DEL, c->watched_sock, NULL);
  if (c->watched_monitor >= 0)
    epoll_ctl(c->efd, EPOLL_CTL_DEL, c->watched_monitor, NULL);
  c->watched_sock = c->watched_monitor = -1;
}

static int s_watch_one(keten_client_t *c, void *sock) {
  int fd = s_zmq_fd(sock);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (fd < 0 || epoll_ctl(c->efd, EPOLL_CTL_ADD, fd, &ev) != 0)
    return -1;
  return fd;
}

static void s_watch(keten_client_t *c) {
  if (c->efd < 0 || !c->sock)
    return;
  s_unwatch(c);
  c->watched_sock = s_watch_one(c, c->sock);
  c->watched_monitor = s_watch_one(c, c->monitor);
}

/* 1 when sock has a message to read now. Reading ZMQ_EVENTS also resets
 * its ZMQ_FD: that signals again only at the next change. */
static int s_readable(void *sock) {
  int events = 0;
  size_t len = sizeof events;
  if (!sock || zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) != 0)
    return 0;
  return (events & ZMQ_POLLIN) != 0;
}

/* 1 when keten_client_poll() has work now: deliveries taken in while
 * waiting for a reply (while subscribed: once the subscription ended they
 * wait for the next keten_client_subscribe()), or a frame or monitor
 * event waiting on a socket (poll takes those with or without a
 * subscription). */
static int s_work_now(keten_client_t *c) {
  return (c->n_pending && c->credit && !c->ended) || s_readable(c->sock) ||
         s_readable(c->monitor);
}

/* Makes the wake eventfd readable exactly while there is work now, so
 * that the event-loop descriptor is level-triggered for the application
 * although ZMQ_FD is edge-triggered: a frame already queued (after a
 * poll that stopped early, or one taken in by a request) keeps it
 * readable. Called at the end of every poll and request. */
static void s_rearm(keten_client_t *c) {
  if (c->wake < 0)
    return;
  uint64_t n;
  if (s_work_now(c)) {
    n = 1;
    if (write(c->wake, &n, sizeof n) < 0) {
      /* EAGAIN: the counter is full, so it is readable anyway */
    }
  } else {
    while (read(c->wake, &n, sizeof n) == (ssize_t)sizeof n)
      ;
  }
}

static void s_close_socket(keten_client_t *c) {
  s_unwatch(c);
  if (c->sock) {
    /* Stop the monitor before the socket goes: libzmq (4.3) sends a
     * monitor event from its I/O thread with a blocking send whose result
     * it ignores. An event of the closing socket (DISCONNECTED) sent after
     * our PAIR below is gone would block that thread (every socket of the
     * context: the next socket never connects) until zmq_ctx_term(), and
     * then leak the event's address frame. */
    zmq_socket_monitor(c->sock, NULL, 0);
    zmq_close(c->sock);
  }
  c->sock = NULL;
  if (c->monitor)
    zmq_close(c->monitor);
  c->sock = c->monitor = NULL;
  /* A connection we drop ourselves (a timeout: Lazy Pirate) is lost as
   * much as one the broker drops. */
  if (c->conn == KETEN_STATE_CONNECTED) {
    c->conn = KETEN_STATE_DISCONNECTED;
    client_state_update(c, "the connection was closed after a timeout");
  }
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
      /* Sends are bounded as well as waits: a send never blocks longer
       * than a request may take (docs/protocol.md 15.3.1). */
      zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &c->timeout_ms,
                     sizeof c->timeout_ms) ||
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
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                             ZMQ_EVENT_DISCONNECTED) != 0)
    goto fail;
  c->monitor = zmq_socket(c->ctx, ZMQ_PAIR);
  if (!c->monitor ||
      zmq_setsockopt(c->monitor, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_connect(c->monitor, mon_ep) != 0 ||
      zmq_connect(c->sock, c->endpoint) != 0)
    goto fail;
  s_watch(c);
  return KETEN_OK;
fail:
  client_error(c, "cannot open a socket to %s: %s", c->endpoint,
               zmq_strerror(zmq_errno()));
  s_close_socket(c);
  return KETEN_ERR_TRANSPORT;
}

keten_client_t *keten_client_new(const keten_client_config_t *cfg, char *err,
                                 size_t errlen) {
  const char *why = NULL;
  if (!cfg || !cfg->endpoint || !cfg->keys || !cfg->broker_key)
    why = "endpoint, keys and broker_key are required";
  else if (!cfg->root_key)
    why = "root_key is required: every registry entry the broker hands "
          "over is checked against the chain root";
  else if (!cfg->keys->has_secret)
    why = "the client keys must include the secret keys";
  else if (cfg->n_previous_keys > CLIENT_MAX_PREVIOUS_KEYS ||
           (cfg->n_previous_keys && !cfg->previous_keys))
    why = "at most 8 previous key sets";
  else if (strlen(cfg->endpoint) >= sizeof(((keten_client_t *)0)->endpoint))
    why = "endpoint too long";
  else if (cfg->n_broker_signing_keys > CLIENT_MAX_BROKER_KEYS - 1 ||
           (cfg->n_broker_signing_keys && !cfg->broker_signing_keys))
    why = "at most 8 earlier broker signing keys";
  else if (cfg->witness_file &&
           (!cfg->witness_file[0] || strlen(cfg->witness_file) >= CLIENT_PATH_MAX))
    why = "witness_file must be a path of at most 511 bytes";
  else if (cfg->witness_file && !cfg->broker_signing_key &&
           !cfg->n_broker_signing_keys)
    why = "witness_file needs the broker's signing key (broker_signing_key)";
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
  for (size_t i = 0; i < cfg->n_previous_keys; i++)
    if (cfg->previous_keys[i].has_secret)
      c->previous[c->n_previous++] = cfg->previous_keys[i];
  memcpy(c->broker_key, cfg->broker_key, KETEN_KEY_BYTES);
  memcpy(c->root_key, cfg->root_key, KETEN_KEY_BYTES);
  if (cfg->broker_signing_key) {
    memcpy(c->broker_signing_key, cfg->broker_signing_key, KETEN_KEY_BYTES);
    c->has_broker_signing_key = 1;
    memcpy(c->broker_keys[c->n_broker_keys++], cfg->broker_signing_key,
           KETEN_KEY_BYTES);
  }
  for (size_t i = 0; i < cfg->n_broker_signing_keys; i++)
    memcpy(c->broker_keys[c->n_broker_keys++],
           cfg->broker_signing_keys + KETEN_KEY_BYTES * i, KETEN_KEY_BYTES);
  if (cfg->witness_file)
    snprintf(c->witness_file, sizeof c->witness_file, "%s", cfg->witness_file);
  c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  c->retries = cfg->retries < 0 ? 0 : cfg->retries == 0 ? 2 : cfg->retries;
  c->reconnect_ivl_ms = cfg->reconnect_ivl_ms > 0 ? cfg->reconnect_ivl_ms : 100;
  c->reconnect_ivl_max_ms =
      cfg->reconnect_ivl_max_ms > 0 ? cfg->reconnect_ivl_max_ms : 5000;
  c->heartbeat_ivl_ms = cfg->heartbeat_ivl_ms > 0 ? cfg->heartbeat_ivl_ms : 5000;
  c->efd = c->wake = c->watched_sock = c->watched_monitor = -1;
  c->conn = c->state = KETEN_STATE_CONNECTING;
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
  if (c->sock) {
    /* Give a last one-way frame (an ack) a moment to leave. */
    int linger = 200;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
  }
  c->state_fn = NULL; /* nothing is reported while it goes */
  s_close_socket(c);
  if (c->efd >= 0)
    close(c->efd);
  if (c->wake >= 0)
    close(c->wake);
  if (c->ctx)
    zmq_ctx_term(c->ctx);
  for (size_t i = 0; i < c->n_pending; i++)
    envelope_free(c->pending[i]);
  free(c->pending);
  keten_keys_wipe(&c->keys);
  for (size_t i = 0; i < c->n_previous; i++)
    keten_keys_wipe(&c->previous[i]);
  free(c);
  *client = NULL;
}

const char *keten_client_error(const keten_client_t *client) {
  return client ? client->error : "no client";
}

int keten_client_remote_code(const keten_client_t *client) {
  return client ? client->remote_code : 0;
}

/* Reads one monitor event and updates the connection state; returns 1
 * if it says the broker refused us. */
static int s_monitor_refused(keten_client_t *c, uint32_t *status) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  int refused = 0, event = -1;
  if (zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) >= 6) {
    const uint8_t *d = zmq_msg_data(&m);
    uint16_t e;
    memcpy(&e, d, sizeof e);
    memcpy(status, d + 2, sizeof *status);
    event = e;
    refused = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
              event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && c->credit && !c->ended)
      c->resubscribe = 1; /* a new connection has no subscription yet */
  }
  /* Drain the rest of the event (its endpoint frame). */
  while (zmq_msg_more(&m) && zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) >= 0)
    ;
  zmq_msg_close(&m);
  if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
    c->conn = KETEN_STATE_CONNECTED;
    client_state_update(c, "the CURVE handshake with the broker succeeded");
  } else if (refused) {
    c->conn = KETEN_STATE_REFUSED;
    client_state_update(c, "the broker refused our transport key at the "
                           "CURVE handshake");
  } else if (event == ZMQ_EVENT_DISCONNECTED &&
             c->conn == KETEN_STATE_CONNECTED) {
    /* (a refused handshake disconnects too: REFUSED stays) */
    c->conn = KETEN_STATE_DISCONNECTED;
    client_state_update(c, "the connection to the broker was lost; "
                           "reconnecting");
  }
  return refused;
}

/* After a refusal no new socket tries again for this long (the broker's
 * registry may change; the application decides): poll waits, requests
 * fail at once with KETEN_ERR_AUTH. */
static void s_refused_close(keten_client_t *c) {
  s_close_socket(c);
  c->reopen_at_ms = s_now_ms() + c->reconnect_ivl_max_ms;
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
      client_error(c, "poll failed: %s", zmq_strerror(zmq_errno()));
      return KETEN_ERR_TRANSPORT;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      uint32_t status = 0;
      if (s_monitor_refused(c, &status)) {
        client_error(
            c,
            "the broker refused our transport key at the CURVE handshake "
            "(status %" PRIu32 "): is this participant registered?",
            status);
        /* Stop ZeroMQ from retrying the handshake in the background (and
         * filling the broker's log); the next request starts afresh. */
        s_refused_close(c);
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
    /* Deliveries and the end of the subscription wait, in order, for the
     * next poll. */
    if ((env->body_case == KETEN__ENVELOPE__BODY_DELIVER ||
         env->body_case == KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED) &&
        env->correlation_id.len == 0) {
      if (c->n_pending < CLIENT_MAX_PENDING) {
        Keten__Envelope **grown =
            realloc(c->pending, (c->n_pending + 1) * sizeof *grown);
        if (grown) {
          c->pending = grown;
          c->pending[c->n_pending++] = env;
          continue;
        }
      }
      envelope_free(env); /* dropped: unacked, so the broker resends it */
      continue;
    }
    /* An ERROR without correlation answers a frame the broker could not
     * read (too large, undecodable): with one request in flight, ours. */
    int uncorrelated_error = env->body_case == KETEN__ENVELOPE__BODY_ERROR &&
                             env->correlation_id.len == 0;
    if (uncorrelated_error ||
        (env->correlation_id.len == ENVELOPE_MESSAGE_ID_BYTES &&
         memcmp(env->correlation_id.data, msg_id, ENVELOPE_MESSAGE_ID_BYTES) ==
             0)) {
      if (envelope_validate(env, &e) != 0) {
        client_error(c, "invalid reply from broker: %s", e.reason);
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
    client_error(c, "out of memory");
    return KETEN_ERR_NOMEM;
  }
  keten_err_t rc = KETEN_ERR_TIMEOUT;
  c->retried = 0;
  for (int attempt = 0; attempt <= c->retries; attempt++) {
    c->retried = attempt > 0;
    if (!c->sock && c->conn == KETEN_STATE_REFUSED &&
        s_now_ms() < c->reopen_at_ms) {
      /* Refused a moment ago: no new handshake before the back-off ends
       * (s_refused_close); until then every request is refused at once. */
      client_error(c,
                   "the broker refused our transport key at the CURVE "
                   "handshake: is this participant registered? (no new "
                   "handshake for another %lld ms)",
                   (long long)(c->reopen_at_ms - s_now_ms()));
      rc = KETEN_ERR_AUTH;
      break;
    }
    if (!c->sock && (rc = s_open_socket(c)) != KETEN_OK)
      break;
    if (zmq_send(c->sock, frame, len, 0) < 0) {
      if (zmq_errno() == EAGAIN) {
        /* ZMQ_SNDTIMEO: the queue towards the broker stayed full (a
         * connection that is not moving): like a lost reply, start afresh. */
        rc = KETEN_ERR_TIMEOUT;
        s_close_socket(c);
        continue;
      }
      client_error(c, "send failed: %s", zmq_strerror(zmq_errno()));
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
  s_rearm(c); /* deliveries may have come in while we waited */
  if (rc == KETEN_ERR_TIMEOUT)
    client_error(c, "no reply from %s within %d ms (%d attempts)", c->endpoint,
                 c->timeout_ms, c->retries + 1);
  if (rc == KETEN_OK && (*reply)->body_case == KETEN__ENVELOPE__BODY_ERROR) {
    c->remote_code = (int)(*reply)->error->code;
    c->retry_after_ms = (*reply)->error->retry_after_ms;
    client_error(c, "%s: %s", envelope_error_name((*reply)->error->code),
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
  client_error(c, "unexpected reply body %d (wanted %d)", (int)reply->body_case,
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
  /* The log's signed head (docs/protocol.md 10.6.5): checked whenever we
   * know a broker signing key, witnessed with a witness file. */
  if (c->n_broker_keys)
    rc = client_witnessed(c, client_witness_welcome(c, in->tree_head));
  envelope_free(reply);
  return rc;
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
    client_error(c, "pong payload differs from the ping's");
    rc = KETEN_ERR_PROTOCOL;
  }
  envelope_free(reply);
  if (rtt_us)
    *rtt_us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
              (t1.tv_nsec - t0.tv_nsec) / 1000;
  return rc;
}

/* ---- identity ----------------------------------------------------------- */

/* Learns (once) the participant id the broker knows us by. */
keten_err_t client_self(keten_client_t *c) {
  if (c->self_id[0])
    return KETEN_OK;
  keten_welcome_t w;
  keten_err_t rc = keten_client_hello(c, &w);
  if (rc == KETEN_OK)
    snprintf(c->self_id, sizeof c->self_id, "%s", w.participant_id);
  return rc;
}

uint64_t client_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A state-changing request that had to be resent and is then refused as
 * a replay was processed by an earlier attempt whose reply got lost. */
int client_recovered(keten_client_t *c, keten_err_t rc) {
  if (rc != KETEN_ERR_REMOTE || !c->retried ||
      c->remote_code != KETEN__ERROR_CODE__ERROR_REPLAYED)
    return 0;
  c->error[0] = '\0';
  c->remote_code = 0;
  return 1;
}

/* Sends a request with body set by the caller and returns the reply,
 * which must be of type want. */
static keten_err_t s_call(keten_client_t *c, Keten__Envelope *req,
                          Keten__Envelope__BodyCase want,
                          Keten__Envelope **reply) {
  keten_err_t rc = s_request(c, req, reply);
  /* Rate limited: wait as long as the broker says, then ask again (a new
   * message id: the refused one was not processed). */
  for (int i = 0; i < CLIENT_RATE_RETRIES && rc == KETEN_ERR_REMOTE &&
                  c->remote_code == KETEN__ERROR_CODE__ERROR_RATE_LIMITED;
       i++) {
    uint32_t wait = c->retry_after_ms ? c->retry_after_ms : 100;
    if (wait > CLIENT_RATE_WAIT_MAX_MS)
      wait = CLIENT_RATE_WAIT_MAX_MS;
    struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    randombytes_buf(req->message_id.data, ENVELOPE_MESSAGE_ID_BYTES);
    rc = s_request(c, req, reply);
  }
  if (rc == KETEN_OK)
    rc = s_expect(c, *reply, want);
  return rc;
}

/* Sends a new request whose body is `body` of type body_case and returns
 * the reply, which must be of type want. */
keten_err_t client_call_body(keten_client_t *c,
                             Keten__Envelope__BodyCase body_case, void *body,
                             Keten__Envelope__BodyCase want,
                             Keten__Envelope **reply) {
  Keten__Envelope req;
  envelope_ids_t ids;
  envelope_init(&req, &ids, NULL);
  req.body_case = body_case;
  switch (body_case) {
  case KETEN__ENVELOPE__BODY_PREPARE: req.prepare = body; break;
  case KETEN__ENVELOPE__BODY_PUT: req.put = body; break;
  case KETEN__ENVELOPE__BODY_FETCH: req.fetch = body; break;
  case KETEN__ENVELOPE__BODY_CONSENT_GRANT: req.consent_grant = body; break;
  case KETEN__ENVELOPE__BODY_CONSENT_REVOKE: req.consent_revoke = body; break;
  case KETEN__ENVELOPE__BODY_CONSENT_LIST: req.consent_list = body; break;
  case KETEN__ENVELOPE__BODY_SUBSCRIBE: req.subscribe = body; break;
  case KETEN__ENVELOPE__BODY_TVS_PUBLISH:
    req.tvs_publish = body;
    break;
  case KETEN__ENVELOPE__BODY_TVS_LIST:
    req.tvs_list = body;
    break;
  case KETEN__ENVELOPE__BODY_TVS_STATUS:
    req.tvs_status = body;
    break;
  case KETEN__ENVELOPE__BODY_AUDIT_PROOF: req.audit_proof = body; break;
  case KETEN__ENVELOPE__BODY_ERASE: req.erase = body; break;
  default: return KETEN_ERR_INVALID;
  }
  return s_call(c, &req, want, reply);
}

/* A state-changing request answered with OK (a replay of an earlier,
 * processed attempt counts as OK too). */
static keten_err_t s_call_ok(keten_client_t *c,
                             Keten__Envelope__BodyCase body_case, void *body) {
  Keten__Envelope *reply = NULL;
  keten_err_t rc =
      client_call_body(c, body_case, body, KETEN__ENVELOPE__BODY_OK, &reply);
  if (rc == KETEN_OK)
    envelope_free(reply);
  return client_recovered(c, rc) ? KETEN_OK : rc;
}

/* ---- sections ------------------------------------------------------------- */

/* Wipes and frees the plaintext of one section held by value. */
static void s_section_clear(keten_section_t *s) {
  if (s->json) {
    sodium_memzero(s->json, s->json_len + 1);
    free(s->json);
  }
  s->json = NULL;
  s->json_len = 0;
}

/* Our signing keys, the current one first: consents signed before a key
 * rotation are still ours. */
void client_own_signing_keys(const keten_client_t *c, evidence_author_t *ev) {
  ev->n_own = 0;
  ev->own_signing_keys[ev->n_own++] = c->keys.signing_pk;
  for (size_t i = 0; i < c->n_previous && ev->n_own < EVIDENCE_MAX_OWN_KEYS; i++)
    ev->own_signing_keys[ev->n_own++] = c->previous[i].signing_pk;
}

keten_err_t keten_client_put(keten_client_t *c,
                             const uint8_t subject[KETEN_SUBJECT_BYTES],
                             int kind, const char *json, size_t len,
                             keten_put_result_t *result) {
  return keten_client_put_retained(c, subject, kind, json, len, 0, result);
}

keten_err_t keten_client_put_retained(keten_client_t *c,
                                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                                      int kind, const char *json, size_t len,
                                      uint64_t retain_until_ms,
                                      keten_put_result_t *result) {
  if (!c || !subject || !json || !canon_kind_name(kind))
    return KETEN_ERR_INVALID;
  if (len > SEAL_MAX_PLAINTEXT) {
    client_error(c,
                 "section of %zu bytes is larger than the largest section, "
                 "%u bytes (docs/protocol.md 12.1); nothing was sent",
                 len, (unsigned)SEAL_MAX_PLAINTEXT);
    return KETEN_ERR_INVALID;
  }
  /* The kind's schema (docs/sections.md 3) before anything is sealed or
   * sent: a reader must refuse what does not conform, so it never leaves. */
  char schema_why[384];
  if (keten_section_validate(kind, json, len, schema_why, sizeof schema_why) !=
      KETEN_OK) {
    client_error(c, "the %s section does not conform to its schema: %s; "
                    "nothing was sent",
                 canon_kind_name(kind), schema_why);
    return KETEN_ERR_SCHEMA;
  }
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  /* PREPARE: who holds consent now, and which version is next. */
  Keten__PrepareRequest prep = KETEN__PREPARE_REQUEST__INIT;
  prep.subject.data = (uint8_t *)subject;
  prep.subject.len = KETEN_SUBJECT_BYTES;
  prep.kind = (Keten__SectionKind)kind;
  Keten__Envelope *reply = NULL;
  if ((rc = client_call_body(c, KETEN__ENVELOPE__BODY_PREPARE, &prep,
                             KETEN__ENVELOPE__BODY_PREPARED, &reply)) !=
      KETEN_OK)
    return rc;
  const Keten__PrepareReply *pr = reply->prepared;
  size_t n = pr->n_recipients;
  if (n > CANON_MAX_WRAPS - 1) {
    client_error(c, "the broker offers %zu recipients (at most %d)", n,
                 CANON_MAX_WRAPS - 1);
    envelope_free(reply);
    return KETEN_ERR_PROTOCOL;
  }
  seal_recipient_t *recips = calloc(n ? n : 1, sizeof *recips);
  if (!recips) {
    envelope_free(reply);
    return KETEN_ERR_NOMEM;
  }
  /* Seal to nobody the evidence does not allow (evidence.h). */
  evidence_author_t ev = {.root_pk = c->root_key,
                          .self_id = c->self_id,
                          .subject = subject,
                          .kind = kind,
                          .now_ms = client_wall_ms(),
                          .cache = &c->verified};
  client_own_signing_keys(c, &ev);
  char why[256];
  for (size_t i = 0; i < n; i++) {
    const Keten__Recipient *r = pr->recipients[i];
    if ((rc = evidence_check_recipient(&ev, r, why, sizeof why)) != KETEN_OK) {
      client_error(c, "not sealed: %s", why);
      free(recips);
      envelope_free(reply);
      return rc;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(recips[j].participant_id, r->entry->participant_id) == 0) {
        client_error(c, "not sealed: the broker offers %s twice",
                     r->entry->participant_id);
        free(recips);
        envelope_free(reply);
        return KETEN_ERR_EVIDENCE;
      }
    recips[i].participant_id = r->entry->participant_id;
    recips[i].sealing_key = r->entry->sealing_key.data;
  }
  size_t k = n;
  keten_section_header_t h;
  memset(&h, 0, sizeof h);
  memcpy(h.subject, subject, KETEN_SUBJECT_BYTES);
  h.kind = kind;
  snprintf(h.author, sizeof h.author, "%s", c->self_id);
  h.version = pr->next_version ? pr->next_version : 1;
  h.created_at_ms = client_wall_ms();
  Keten__SealedSection *sealed =
      seal_section(&h, json, len, &c->keys, recips, k, &rc);
  free(recips);
  envelope_free(reply);
  if (!sealed) {
    client_error(c, "cannot seal the section: %s", keten_strerror(rc));
    return rc;
  }
  /* PUT: stored and queued once the broker says so. */
  Keten__PutRequest put = KETEN__PUT_REQUEST__INIT;
  put.section = sealed;
  put.retain_until_ms = retain_until_ms;
  reply = NULL;
  rc = client_call_body(c, KETEN__ENVELOPE__BODY_PUT, &put,
                        KETEN__ENVELOPE__BODY_STORED, &reply);
  seal_section_free(sealed);
  if (client_recovered(c, rc)) {
    /* Stored by an earlier attempt; who it was queued for is unknown. */
    if (result) {
      memset(result, 0, sizeof *result);
      result->version = h.version;
    }
    return KETEN_OK;
  }
  if (rc != KETEN_OK)
    return rc;
  if (result) {
    memset(result, 0, sizeof *result);
    result->version = reply->stored->version;
    result->n_queued = reply->stored->n_queued_for;
    for (size_t i = 0; i < reply->stored->n_queued_for && i < 16; i++)
      snprintf(result->queued[i], sizeof result->queued[i], "%s",
               reply->stored->queued_for[i]);
  }
  envelope_free(reply);
  return KETEN_OK;
}

/* Opens one section copy for us: the author's entry must be signed by the
 * root we pin, and the wrap opens with our current or a previous key.
 * On failure why (whylen bytes) says why. */
static keten_err_t s_open_copy_why(keten_client_t *c,
                                   const Keten__SectionCopy *copy,
                                   keten_section_t *out, char *why,
                                   size_t whylen) {
  why[0] = '\0';
  memset(out, 0, sizeof *out);
  if (!copy || !copy->section || !canon_exact(&copy->base)) {
    snprintf(why, whylen, "the copy is malformed or has unknown fields");
    return KETEN_ERR_PROTOCOL;
  }
  keten_err_t rc = evidence_check_author(c->root_key, copy->author_entry,
                                         copy->section->header, &c->verified,
                                         why, whylen);
  if (rc != KETEN_OK)
    return rc;
  const uint8_t *author_key = copy->author_entry->signing_key.data;
  rc = seal_open(copy->section, author_key, c->self_id, &c->keys, out, why,
                 whylen);
  /* Sealed to us before a rotation: try the keys we had then. */
  for (size_t i = 0; rc == KETEN_ERR_CRYPTO && strstr(why, "does not open") &&
                     i < c->n_previous;
       i++)
    rc = seal_open(copy->section, author_key, c->self_id, &c->previous[i], out,
                   why, whylen);
  return rc;
}

static keten_err_t s_open_copy(keten_client_t *c, const Keten__SectionCopy *copy,
                               keten_section_t *out) {
  char why[256];
  keten_err_t rc = s_open_copy_why(c, copy, out, why, sizeof why);
  if (rc == KETEN_ERR_PROTOCOL)
    client_error(c, "a section arrived malformed or with unknown fields");
  else if (rc != KETEN_OK)
    client_error(c, "cannot open a section: %s", why);
  return rc;
}

/* Copies src into dst (n bytes), every byte that is not printable ASCII
 * as '?': what the broker sends may reach a terminal. */
static void s_printable(char *dst, size_t n, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < n; i++)
    dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
  if (n)
    dst[i] = '\0';
}

/* 1 if p[0..len) is UTF-8 text (shortest forms, no surrogates, no NUL). */
static int s_utf8_text(const unsigned char *p, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned char b = p[i];
    size_t n;
    uint32_t cp;
    if (b == 0)
      return 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      cp = b & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n)
      return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += n + 1;
  }
  return 1;
}

void keten_fetch_result_free(keten_fetch_result_t *r) {
  if (!r)
    return;
  keten_sections_free(r->sections, r->n_sections);
  for (size_t i = 0; r->failures && i < r->n_failures; i++)
    keten_sections_free(r->failures[i].section, r->failures[i].section ? 1 : 0);
  free(r->failures);
  memset(r, 0, sizeof *r);
}

/* 1 if (kind, author) comes after (after_kind, after) in the broker's
 * order (kind, then the author's bytes). */
static int s_after_cursor(uint32_t kind, const char *author,
                          uint32_t after_kind, const char *after) {
  return kind > after_kind || (kind == after_kind && strcmp(author, after) > 0);
}

/* Appends a failure for copy to r. 0, or -1 when out of memory. */
static int s_fetch_failure(keten_fetch_result_t *r, size_t *cap,
                           const Keten__SectionCopy *copy, keten_err_t status,
                           const char *why) {
  if (r->n_failures == *cap) {
    size_t n = *cap ? 2 * *cap : 8;
    keten_fetch_failure_t *grown = realloc(r->failures, n * sizeof *grown);
    if (!grown)
      return -1;
    r->failures = grown;
    *cap = n;
  }
  keten_fetch_failure_t *f = &r->failures[r->n_failures++];
  memset(f, 0, sizeof *f);
  const Keten__SectionHeader *h =
      copy && copy->section ? copy->section->header : NULL;
  if (h) {
    f->kind = (int)h->kind;
    s_printable(f->author, sizeof f->author, h->author);
    f->version = h->version;
  }
  f->status = status;
  s_printable(f->reason, sizeof f->reason, why);
  return 0;
}

keten_err_t keten_client_fetch_all(keten_client_t *c,
                                   const uint8_t subject[KETEN_SUBJECT_BYTES],
                                   keten_fetch_result_t *result) {
  if (result)
    memset(result, 0, sizeof *result);
  if (!c || !subject || !result)
    return KETEN_ERR_INVALID;
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  size_t cap_sections = 0, cap_failures = 0;
  uint32_t after_kind = 0;
  char after[KETEN_ID_MAX + 1] = "";
  for (;;) {
    Keten__FetchRequest f = KETEN__FETCH_REQUEST__INIT;
    f.subject.data = (uint8_t *)subject;
    f.subject.len = KETEN_SUBJECT_BYTES;
    f.after_kind = after_kind;
    f.after_author = after;
    Keten__Envelope *reply = NULL;
    if ((rc = client_call_body(c, KETEN__ENVELOPE__BODY_FETCH, &f,
                               KETEN__ENVELOPE__BODY_FETCHED, &reply)) !=
        KETEN_OK)
      goto fail;
    result->pages++;
    const Keten__FetchReply *fr = reply->fetched;
    size_t count = fr->n_sections;
    const char *broken = NULL;
    if (count > KETEN_FETCH_MAX_SECTIONS - result->n_sections -
                    result->n_failures)
      broken = "the broker offers more sections than a fetch accepts "
               "(KETEN_FETCH_MAX_SECTIONS)";
    else if (count == 0 && fr->more)
      broken = "a FETCH page is empty but says more follow";
    if (!broken && result->n_sections + count > cap_sections) {
      size_t n = result->n_sections + count;
      keten_section_t *grown = realloc(result->sections, n * sizeof *grown);
      if (!grown) {
        envelope_free(reply);
        rc = KETEN_ERR_NOMEM;
        goto fail;
      }
      result->sections = grown;
      cap_sections = n;
    }
    for (size_t i = 0; !broken && i < count; i++) {
      const Keten__SectionCopy *copy = fr->sections[i];
      const Keten__SectionHeader *h =
          copy && copy->section ? copy->section->header : NULL;
      /* The pages move forward in (kind, author) order, each section
       * once: a broker cannot make us loop or hand over one twice. */
      if (h && !s_after_cursor((uint32_t)h->kind, h->author, after_kind,
                               after)) {
        broken = "the broker's FETCH pages are not in (kind, author) order";
        break;
      }
      if (h) {
        if (strlen(h->author) > KETEN_ID_MAX) {
          if (i + 1 == count && fr->more) {
            broken = "a FETCH page ends on an author that is not an id";
            break;
          }
        } else {
          after_kind = (uint32_t)h->kind;
          snprintf(after, sizeof after, "%s", h->author);
        }
      } else if (i + 1 == count && fr->more) {
        broken = "a FETCH page ends on a section without a header";
        break;
      }
      char why[256];
      keten_section_t *out = &result->sections[result->n_sections];
      keten_err_t orc = s_open_copy_why(c, copy, out, why, sizeof why);
      if (orc == KETEN_OK &&
          memcmp(out->header.subject, subject, KETEN_SUBJECT_BYTES) != 0) {
        s_section_clear(out);
        orc = KETEN_ERR_PROTOCOL;
        snprintf(why, sizeof why, "the broker returned a section of another "
                                  "subject");
      } else if (orc == KETEN_OK &&
                 !s_utf8_text((const unsigned char *)out->json, out->json_len)) {
        s_section_clear(out);
        orc = KETEN_ERR_PROTOCOL;
        snprintf(why, sizeof why, "its plaintext is not UTF-8 text");
      }
      /* Opened and verified but not conforming to its kind's schema: a
       * failure with status KETEN_ERR_SCHEMA that hands the section over
       * (failure.section), never one of the sections. */
      keten_section_t *nonconforming = NULL;
      if (orc == KETEN_OK &&
          keten_section_validate(out->header.kind, out->json, out->json_len,
                                 why, sizeof why) != KETEN_OK) {
        orc = KETEN_ERR_SCHEMA;
        nonconforming = malloc(sizeof *nonconforming);
        if (nonconforming)
          *nonconforming = *out;
        else
          s_section_clear(out);
        memset(out, 0, sizeof *out);
      }
      if (orc == KETEN_OK) {
        result->n_sections++;
      } else if (orc == KETEN_ERR_NOMEM ||
                 (orc == KETEN_ERR_SCHEMA && !nonconforming) ||
                 s_fetch_failure(result, &cap_failures, copy, orc, why) != 0) {
        keten_sections_free(nonconforming, nonconforming ? 1 : 0);
        envelope_free(reply);
        rc = KETEN_ERR_NOMEM;
        goto fail;
      } else {
        result->failures[result->n_failures - 1].section = nonconforming;
      }
    }
    int more = fr->more;
    envelope_free(reply);
    if (broken) {
      client_error(c, "%s", broken);
      rc = KETEN_ERR_PROTOCOL;
      goto fail;
    }
    if (!more)
      break;
  }
  c->error[0] = '\0';
  return KETEN_OK;
fail:
  keten_fetch_result_free(result);
  return rc;
}

keten_err_t keten_client_fetch(keten_client_t *c,
                               const uint8_t subject[KETEN_SUBJECT_BYTES],
                               keten_section_t **sections, size_t *n) {
  if (!c || !subject || !sections || !n)
    return KETEN_ERR_INVALID;
  *sections = NULL;
  *n = 0;
  keten_fetch_result_t r;
  keten_err_t rc = keten_client_fetch_all(c, subject, &r);
  if (rc != KETEN_OK)
    return rc;
  if (r.n_failures > 0) {
    const keten_fetch_failure_t *f = &r.failures[0];
    const char *kind = keten_section_kind_name(f->kind);
    client_error(c, "cannot open a section (%s by %s v%llu): %s%s%zu of %zu "
                    "could not be opened",
                 kind ? kind : "?", f->author, (unsigned long long)f->version,
                 f->reason, "; ", r.n_failures, r.n_failures + r.n_sections);
    rc = r.n_sections ? KETEN_ERR_PARTIAL : f->status;
  }
  if (r.n_sections == 0) {
    keten_fetch_result_free(&r);
    return rc;
  }
  *sections = r.sections;
  *n = r.n_sections;
  for (size_t i = 0; i < r.n_failures; i++)
    keten_sections_free(r.failures[i].section, r.failures[i].section ? 1 : 0);
  free(r.failures);
  return rc;
}

/* ---- consent ---------------------------------------------------------------- */

keten_err_t keten_client_consent_grant(keten_client_t *c,
                                       keten_consent_t *consent) {
  if (!c || !consent)
    return KETEN_ERR_INVALID;
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  Keten__SectionKind kinds[64];
  size_t n_kinds = 0;
  for (int k = 1; k < 64; k++)
    if (consent->sections & (UINT64_C(1) << k))
      kinds[n_kinds++] = (Keten__SectionKind)k;
  randombytes_buf(consent->consent_id, sizeof consent->consent_id);
  snprintf(consent->recorded_by, sizeof consent->recorded_by, "%s", c->self_id);
  consent->recorded_at_ms = client_wall_ms();
  Keten__Consent k = KETEN__CONSENT__INIT;
  k.consent_id.data = consent->consent_id;
  k.consent_id.len = KETEN_CONSENT_ID_BYTES;
  k.subject.data = consent->subject;
  k.subject.len = KETEN_SUBJECT_BYTES;
  k.recorded_by = consent->recorded_by;
  k.recipient = consent->recipient;
  k.sections = kinds;
  k.n_sections = n_kinds;
  k.purpose = (Keten__Purpose)consent->purpose;
  k.basis = (Keten__Basis)consent->basis;
  k.legal_reference = consent->legal_reference;
  k.valid_from_ms = consent->valid_from_ms;
  k.valid_until_ms = consent->valid_until_ms;
  k.evidence_ref = consent->evidence_ref;
  k.recorded_at_ms = consent->recorded_at_ms;
  uint8_t sig[64];
  if (canon_sign_consent(&k, c->keys.signing_sk, sig) != 0)
    return KETEN_ERR_NOMEM;
  k.signature.data = sig;
  k.signature.len = sizeof sig;
  Keten__ConsentGrant grant = KETEN__CONSENT_GRANT__INIT;
  grant.consent = &k;
  return s_call_ok(c, KETEN__ENVELOPE__BODY_CONSENT_GRANT, &grant);
}

keten_err_t keten_client_consent_revoke(
    keten_client_t *c, const uint8_t consent_id[KETEN_CONSENT_ID_BYTES],
    const uint8_t subject[KETEN_SUBJECT_BYTES], const char *reason,
    const char *evidence_ref) {
  if (!c || !consent_id || !subject)
    return KETEN_ERR_INVALID;
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  Keten__Revocation v = KETEN__REVOCATION__INIT;
  v.consent_id.data = (uint8_t *)consent_id;
  v.consent_id.len = KETEN_CONSENT_ID_BYTES;
  v.subject.data = (uint8_t *)subject;
  v.subject.len = KETEN_SUBJECT_BYTES;
  v.recorded_by = c->self_id;
  v.revoked_at_ms = client_wall_ms();
  v.reason = (char *)(reason ? reason : "");
  v.evidence_ref = (char *)(evidence_ref ? evidence_ref : "");
  uint8_t sig[64];
  if (canon_sign_revocation(&v, c->keys.signing_sk, sig) != 0)
    return KETEN_ERR_NOMEM;
  v.signature.data = sig;
  v.signature.len = sizeof sig;
  Keten__ConsentRevoke rev = KETEN__CONSENT_REVOKE__INIT;
  rev.revocation = &v;
  return s_call_ok(c, KETEN__ENVELOPE__BODY_CONSENT_REVOKE, &rev);
}

keten_err_t keten_client_consent_list(keten_client_t *c,
                                      const uint8_t subject[KETEN_SUBJECT_BYTES],
                                      keten_consent_t **list, size_t *n) {
  if (!c || !subject || !list || !n)
    return KETEN_ERR_INVALID;
  *list = NULL;
  *n = 0;
  Keten__ConsentListRequest q = KETEN__CONSENT_LIST_REQUEST__INIT;
  q.subject.data = (uint8_t *)subject;
  q.subject.len = KETEN_SUBJECT_BYTES;
  Keten__Envelope *reply = NULL;
  keten_err_t rc = client_call_body(c, KETEN__ENVELOPE__BODY_CONSENT_LIST, &q,
                                    KETEN__ENVELOPE__BODY_CONSENTS, &reply);
  if (rc != KETEN_OK)
    return rc;
  size_t count = reply->consents->n_consents;
  keten_consent_t *out = calloc(count ? count : 1, sizeof *out);
  if (!out) {
    envelope_free(reply);
    return KETEN_ERR_NOMEM;
  }
  size_t kept = 0;
  for (size_t i = 0; i < count; i++) {
    const Keten__ConsentStatus *st = reply->consents->consents[i];
    const Keten__Consent *k = st->consent;
    if (!k || k->consent_id.len != KETEN_CONSENT_ID_BYTES ||
        k->subject.len != KETEN_SUBJECT_BYTES)
      continue;
    keten_consent_t *o = &out[kept++];
    memcpy(o->consent_id, k->consent_id.data, KETEN_CONSENT_ID_BYTES);
    memcpy(o->subject, k->subject.data, KETEN_SUBJECT_BYTES);
    snprintf(o->recorded_by, sizeof o->recorded_by, "%s", k->recorded_by);
    snprintf(o->recipient, sizeof o->recipient, "%s", k->recipient);
    o->sections = canon_section_bits(k->sections, k->n_sections);
    o->purpose = (int)k->purpose;
    o->basis = (int)k->basis;
    snprintf(o->legal_reference, sizeof o->legal_reference, "%s",
             k->legal_reference);
    snprintf(o->evidence_ref, sizeof o->evidence_ref, "%s", k->evidence_ref);
    o->valid_from_ms = k->valid_from_ms;
    o->valid_until_ms = k->valid_until_ms;
    o->recorded_at_ms = k->recorded_at_ms;
    o->revoked = st->revoked;
    o->revoked_at_ms = st->revoked_at_ms;
    snprintf(o->revoked_by, sizeof o->revoked_by, "%s", st->revoked_by);
  }
  envelope_free(reply);
  *list = out;
  *n = kept;
  return KETEN_OK;
}

/* ---- deliveries ------------------------------------------------------------- */

int keten_client_transient(const keten_client_t *c, keten_err_t err) {
  if (err == KETEN_ERR_TIMEOUT)
    return 1;
  if (!c || err != KETEN_ERR_REMOTE)
    return 0;
  /* An unknown code is taken as ERROR_INTERNAL (protocol 11.2). */
  return c->remote_code == KETEN__ERROR_CODE__ERROR_INTERNAL ||
         c->remote_code == KETEN__ERROR_CODE__ERROR_DISK_FULL ||
         c->remote_code > KETEN__ERROR_CODE__ERROR_DISK_FULL ||
         c->remote_code < 0;
}

void keten_client_on_subscription(keten_client_t *c, keten_subscription_fn fn,
                                  void *arg) {
  if (!c)
    return;
  c->sub_fn = fn;
  c->sub_arg = arg;
}

/* Tells the subscription handler, if any. */
static void s_sub_event(keten_client_t *c, int event, const char *detail,
                        keten_err_t status, uint32_t delay_ms) {
  if (!c->sub_fn)
    return;
  keten_subscription_event_t ev = {.event = event,
                                   .detail = detail ? detail : "",
                                   .status = status,
                                   .remote_code = status == KETEN_ERR_REMOTE
                                                      ? c->remote_code
                                                      : 0,
                                   .delay_ms = delay_ms};
  c->sub_fn(&ev, c->sub_arg);
}

/* base ms and up to a quarter more, at most the ceiling: clients that
 * failed together do not come back together. */
static uint32_t s_jitter(uint32_t base) {
  uint32_t d = base + (base >= 4 ? randombytes_uniform(base / 4 + 1) : 0);
  return d < CLIENT_BACKOFF_MAX_MS ? d : CLIENT_BACKOFF_MAX_MS;
}

/* Schedules the next SUBSCRIBE delay_ms from now. */
static void s_resubscribe_in(keten_client_t *c, uint32_t delay_ms) {
  c->resubscribe = 1;
  c->resubscribe_at_ms = s_now_ms() + delay_ms;
}

static keten_err_t s_send_subscribe(keten_client_t *c) {
  Keten__Subscribe sub = KETEN__SUBSCRIBE__INIT;
  sub.credit = c->credit;
  Keten__Envelope *reply = NULL;
  c->resubscribe = 0;
  keten_err_t rc = client_call_body(c, KETEN__ENVELOPE__BODY_SUBSCRIBE, &sub,
                                    KETEN__ENVELOPE__BODY_SUBSCRIBED, &reply);
  if (rc == KETEN_OK) {
    envelope_free(reply);
    c->backoff_ms = 0;
    return rc;
  }
  if (!keten_client_transient(c, rc))
    return rc;
  /* Transient (the broker failed, its disk is full, no answer): the
   * subscription stays wanted; try again later, further apart each time. */
  c->backoff_ms = c->backoff_ms == 0 ? CLIENT_BACKOFF_FIRST_MS
                  : c->backoff_ms >= CLIENT_BACKOFF_MAX_MS / 2
                      ? CLIENT_BACKOFF_MAX_MS
                      : 2 * c->backoff_ms;
  uint32_t delay = s_jitter(c->backoff_ms);
  if (rc == KETEN_ERR_REMOTE && c->retry_after_ms > delay)
    delay = c->retry_after_ms < CLIENT_RETRY_AFTER_MAX_MS
                ? c->retry_after_ms
                : CLIENT_RETRY_AFTER_MAX_MS;
  s_resubscribe_in(c, delay);
  s_sub_event(c, KETEN_SUBSCRIPTION_RETRY, c->error, rc, delay);
  return rc;
}

keten_err_t keten_client_subscribe(keten_client_t *c, uint32_t credit) {
  if (!c || credit < 1 || credit > 1024)
    return KETEN_ERR_INVALID;
  keten_err_t rc = client_self(c);
  if (rc != KETEN_OK)
    return rc;
  c->credit = credit;
  c->ended = 0;
  c->stalls = 0;
  c->backoff_ms = 0;
  rc = s_send_subscribe(c);
  client_state_update(c, "subscribed"); /* no longer DISPLACED or REMOVED */
  return rc;
}

/* What poll returns once the broker ended the subscription for good. */
static keten_err_t s_ended_rc(keten_client_t *c) {
  return c->ended == KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED
             ? KETEN_ERR_REMOVED
             : KETEN_ERR_DISPLACED;
}

/* The broker ended our subscription. DISPLACED and REMOVED end it here
 * too (no SUBSCRIBE by itself: two consumers of one key would take it from
 * each other for ever); STALLED, and a reason this library does not know,
 * subscribe again after a back-off. Returns 1 when poll must stop. */
static int s_subscription_ended(keten_client_t *c,
                                const Keten__SubscriptionEnded *e) {
  if (!e || !c->credit || c->ended)
    return 0; /* not subscribed, or already told */
  char detail[256];
  s_printable(detail, sizeof detail, e->detail);
  if (e->reason == KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED ||
      e->reason == KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_REMOVED) {
    int displaced =
        e->reason == KETEN__SUBSCRIPTION_END_REASON__SUBSCRIPTION_DISPLACED;
    c->ended = (int)e->reason;
    c->resubscribe = 0;
    /* What came before the end is unacked: the broker keeps it for the
     * subscription that took over, or for our next one. */
    for (size_t i = 0; i < c->n_pending; i++)
      envelope_free(c->pending[i]);
    c->n_pending = 0;
    client_error(c, "%s%s%s",
                 displaced ? "the subscription was taken over by a newer "
                             "SUBSCRIBE with our key (another listener)"
                           : "the subscription ended: our key left the "
                             "registry or its entry ended",
                 detail[0] ? ": " : "", detail);
    s_sub_event(c, displaced ? KETEN_SUBSCRIPTION_DISPLACED
                             : KETEN_SUBSCRIPTION_REMOVED,
                detail, displaced ? KETEN_ERR_DISPLACED : KETEN_ERR_REMOVED, 0);
    client_state_update(c, c->error);
    return 1;
  }
  uint32_t base = CLIENT_BACKOFF_FIRST_MS;
  for (unsigned i = 0; i < c->stalls && base < CLIENT_BACKOFF_MAX_MS; i++)
    base *= 2;
  c->stalls++;
  uint32_t delay = s_jitter(base);
  s_resubscribe_in(c, delay);
  s_sub_event(c, KETEN_SUBSCRIPTION_STALLED, detail, KETEN_OK, delay);
  return 0;
}

/* The dedup key of a section: BLAKE2b-128 of (subject, kind, author, version). */
static void s_dedup_key(const keten_section_header_t *h, uint8_t key[16]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 16);
  crypto_generichash_update(&st, h->subject, sizeof h->subject);
  uint64_t kv[2] = {(uint64_t)h->kind, h->version};
  crypto_generichash_update(&st, (const uint8_t *)kv, sizeof kv);
  crypto_generichash_update(&st, (const uint8_t *)h->author, strlen(h->author));
  crypto_generichash_final(&st, key, 16);
}

/* Returns 1 if a section with this key was handed over before. */
static int s_seen_before(const keten_client_t *c, const uint8_t key[16]) {
  for (size_t i = 0; i < c->n_seen; i++)
    if (memcmp(c->seen[i], key, 16) == 0)
      return 1;
  return 0;
}

/* Remembers that the application accepted the section with this key. */
static void s_remember(keten_client_t *c, const uint8_t key[16]) {
  memcpy(c->seen[c->seen_next], key, 16);
  c->seen_next = (c->seen_next + 1) % CLIENT_DEDUP;
  if (c->n_seen < CLIENT_DEDUP)
    c->n_seen++;
}

int client_send_oneway(keten_client_t *c, const Keten__Envelope *env) {
  if (!c->sock) {
    client_error(c, "not connected");
    return -1;
  }
  size_t len;
  uint8_t *frame = envelope_pack(env, &len);
  if (!frame) {
    client_error(c, "out of memory");
    return -1;
  }
  int rc = zmq_send(c->sock, frame, len, ZMQ_DONTWAIT);
  free(frame);
  if (rc < 0) {
    client_error(c, "send failed: %s", zmq_strerror(zmq_errno()));
    return -1;
  }
  return 0;
}

static void s_send_ack(keten_client_t *c, uint64_t seq) {
  Keten__Ack ack = KETEN__ACK__INIT;
  ack.seq = seq;
  Keten__Envelope req;
  envelope_ids_t ids;
  envelope_init(&req, &ids, NULL);
  req.body_case = KETEN__ENVELOPE__BODY_ACK;
  req.ack = &ack;
  if (c->sock) {
    /* An ack that does not leave is harmless: the broker resends. */
    char saved[sizeof c->error];
    memcpy(saved, c->error, sizeof saved);
    client_send_oneway(c, &req);
    memcpy(c->error, saved, sizeof saved);
  }
}

void keten_client_on_notice(keten_client_t *c, keten_notice_fn fn,
                            void *arg) {
  if (!c)
    return;
  c->notice_fn = fn;
  c->notice_arg = arg;
}

/* Fills n from a revocation notice that evidence_check_notice() passed. */
static void s_notice_revoked(const Keten__Notice *in, keten_notice_t *n) {
  const Keten__Revocation *v = in->revocation;
  n->kind = KETEN_NOTICE_CONSENT_REVOKED;
  memcpy(n->subject, in->subject.data, KETEN_SUBJECT_BYTES);
  memcpy(n->consent_id, in->consent_id.data, KETEN_CONSENT_ID_BYTES);
  n->has_consent_id = 1;
  snprintf(n->revoked_by, sizeof n->revoked_by, "%s", v->recorded_by);
  n->revoked_by_role = (int)in->revoker_entry->role;
  n->revoked_at_ms = v->revoked_at_ms;
  snprintf(n->reason, sizeof n->reason, "%s", v->reason);
  snprintf(n->evidence_ref, sizeof n->evidence_ref, "%s", v->evidence_ref);
  n->created_at_ms = in->created_at_ms;
}

/* Fills n from a delete notice that evidence_check_delete_notice() passed
 * (its shape is checked: every length below is known). */
static void s_notice_delete(keten_client_t *c, const Keten__Notice *in,
                            keten_notice_t *n) {
  /* What we must delete may come again (a new consent, a rewrap) and must
   * then reach the application again: forget what was handed over. The
   * ring keeps only hashes, so it forgets all of it; a duplicate is
   * allowed (at-least-once), a silently dropped copy is not. */
  c->n_seen = c->seen_next = 0;
  n->kind = KETEN_NOTICE_DELETE;
  memcpy(n->subject, in->subject.data, KETEN_SUBJECT_BYTES);
  if (in->consent_id.len == KETEN_CONSENT_ID_BYTES) {
    memcpy(n->consent_id, in->consent_id.data, KETEN_CONSENT_ID_BYTES);
    n->has_consent_id = 1;
  }
  if (in->tvs_event_id.len == sizeof n->tvs_event_id) {
    memcpy(n->tvs_event_id, in->tvs_event_id.data, sizeof n->tvs_event_id);
    n->has_tvs_event_id = 1;
  }
  n->delete_reason = (int)in->reason;
  memcpy(n->notice_id, in->notice_id.data, sizeof n->notice_id);
  n->created_at_ms = in->created_at_ms;
  for (size_t i = 0; i < in->n_items && i < KETEN_NOTICE_MAX_ITEMS; i++) {
    keten_notice_item_t *o = &n->items[n->n_items++];
    o->kind = (int)in->items[i]->kind;
    snprintf(o->author, sizeof o->author, "%s", in->items[i]->author);
    o->up_to_version = in->items[i]->up_to_version;
  }
}

/* Checks a notice (a revocation by its signer's root-signed entry, a
 * delete notice by the broker's signature) and hands it to the notice
 * handler. Returns 0 when it may be acked, non-zero when the handler
 * refused it. */
static int s_notice(keten_client_t *c, const Keten__Delivery *item,
                    size_t *handled) {
  char why[256] = "";
  const Keten__Notice *in = item->notice;
  int is_delete = in && in->kind == KETEN__NOTICE_KIND__NOTICE_DELETE;
  keten_err_t rc;
  if (!in)
    rc = KETEN_ERR_PROTOCOL;
  else if (is_delete)
    rc = evidence_check_delete_notice(
        c->has_broker_signing_key ? c->broker_signing_key : NULL, in, why,
        sizeof why);
  else
    rc = evidence_check_notice(c->root_key, in, &c->verified, why, sizeof why);
  if (rc != KETEN_OK)
    client_error(c, "a notice refused: %s", in ? why : "empty delivery");
  /* On the heap: 64 items make it a few KiB. */
  keten_notice_t *n = NULL;
  if (rc == KETEN_OK && !(n = calloc(1, sizeof *n))) {
    client_error(c, "out of memory");
    return 1; /* not acked: it comes again */
  }
  if (rc == KETEN_OK) {
    if (is_delete)
      s_notice_delete(c, in, n);
    else
      s_notice_revoked(in, n);
  }
  int refused = 0;
  if (c->notice_fn) { /* without a handler: acked once seen (documented) */
    refused = c->notice_fn(n, item->seq, rc, c->notice_arg) != 0;
    if (!refused && handled)
      (*handled)++;
  }
  free(n);
  return refused;
}

/* Hands the items of one DELIVER frame to fn and the handlers; acks what
 * they accepted. Returns 1 when one of them asked to stop. */
static int s_deliver(keten_client_t *c, const Keten__Deliver *d,
                     keten_delivery_fn fn, void *arg, size_t *handled) {
  uint64_t accepted = 0;
  int stop = 0;
  for (size_t i = 0; i < d->n_items && !stop; i++) {
    const Keten__Delivery *item = d->items[i];
    if (!item)
      continue;
    if (c->hold_from) {
      if (item->seq != c->hold_from)
        continue; /* after a refusal: wait until the refused one comes again */
      c->hold_from = 0;
    }
    int kinds =
        !!item->section + !!item->notice + !!item->tvs_event + !!item->rewrap;
    int r;
    if (kinds > 1) {
      /* exactly one: an item that is two is neither */
      client_error(c, "a delivery carries more than one of section, notice, "
                      "TVS event and rewrap request");
      r = fn(NULL, item->seq, KETEN_ERR_PROTOCOL, arg);
    } else if (item->rewrap) {
      r = client_serve_rewrap(c, item, handled) != 0;
    } else if (item->tvs_event) {
      r = client_tvs_event(c, item, handled);
    } else if (item->notice || !item->section) {
      r = s_notice(c, item, handled); /* nothing we know: a PROTOCOL notice */
    } else {
      keten_section_t sec;
      memset(&sec, 0, sizeof sec);
      keten_err_t rc = s_open_copy(c, item->section, &sec);
      int opened = rc == KETEN_OK;
      uint8_t key[16];
      if (opened)
        s_dedup_key(&sec.header, key);
      /* Opened and verified, but not what its kind's schema says: handed
       * over with KETEN_ERR_SCHEMA (section set) for the application to
       * quarantine and take up with the author (docs/sections.md). */
      char schema_why[384];
      if (opened && keten_section_validate(sec.header.kind, sec.json,
                                           sec.json_len, schema_why,
                                           sizeof schema_why) != KETEN_OK) {
        rc = KETEN_ERR_SCHEMA;
        client_error(c, "the %s section by %s v%llu does not conform to its "
                        "schema: %s",
                     canon_kind_name(sec.header.kind)
                         ? canon_kind_name(sec.header.kind)
                         : "?",
                     sec.header.author, (unsigned long long)sec.header.version,
                     schema_why);
      }
      if (opened && s_seen_before(c, key)) {
        r = 0; /* a redelivery we already handed over */
      } else if ((r = fn(opened ? &sec : NULL, item->seq, rc, arg)) == 0) {
        /* Only what the application accepted counts as handed over: a
         * refused delivery comes again and must reach it again. */
        if (opened)
          s_remember(c, key);
        if (handled)
          (*handled)++;
      }
      if (opened)
        s_section_clear(&sec);
    }
    if (r == 0) {
      accepted = item->seq;
    } else {
      /* Refused: neither it nor anything after it may be acked (acks are
       * cumulative) until the broker sends it again. */
      c->hold_from = item->seq;
      stop = 1;
    }
  }
  if (accepted) {
    s_send_ack(c, accepted);
    c->stalls = 0; /* progress: a later stall starts its back-off afresh */
  }
  return stop;
}

/* Handles one unsolicited envelope (a DELIVER or a SUBSCRIPTION_ENDED;
 * anything else is recorded or dropped). Returns 1 when poll must stop:
 * the application asked to, or the subscription ended (c->ended). */
static int s_unsolicited(keten_client_t *c, const Keten__Envelope *env,
                         keten_delivery_fn fn, void *arg, size_t *handled) {
  if (env->body_case == KETEN__ENVELOPE__BODY_DELIVER)
    return s_deliver(c, env->deliver, fn, arg, handled);
  if (env->body_case == KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED &&
      env->correlation_id.len == 0)
    return s_subscription_ended(c, env->subscription_ended);
  /* A reply nobody waits for: the broker's answer to one of our
   * rewrap answers is recorded; any other ERROR too. */
  if (!client_rewrap_reply(c, env) &&
      env->body_case == KETEN__ENVELOPE__BODY_ERROR)
    client_error(c, "%s: %s", envelope_error_name(env->error->code),
                 env->error->reason);
  return 0;
}

/* At most this many frames past the deadline in one poll (a poll with
 * timeout 0 takes what is there, but returns to the event loop at some
 * point; the descriptor stays readable for the rest). */
#define CLIENT_POLL_FRAMES_PAST_DEADLINE 256

/* A frame that came without a subscription in effect (never subscribed,
 * or the broker ended it): a late reply is recorded like any other; a
 * DELIVER (or a second SUBSCRIPTION_ENDED) is dropped: unacked, it comes
 * again after the next keten_client_subscribe(). */
static void s_frame_unsubscribed(keten_client_t *c, const uint8_t *data,
                                 size_t len) {
  Keten__Envelope *env = envelope_decode(data, len, CLIENT_MAX_REPLY, NULL);
  if (!env)
    return;
  if (env->body_case != KETEN__ENVELOPE__BODY_DELIVER &&
      env->body_case != KETEN__ENVELOPE__BODY_SUBSCRIPTION_ENDED)
    (void)s_unsolicited(c, env, NULL, NULL, NULL);
  envelope_free(env);
}

/* What poll returns when nothing went wrong. */
static keten_err_t s_poll_rc(keten_client_t *c) {
  return c->ended ? s_ended_rc(c) : KETEN_OK;
}

static keten_err_t s_poll(keten_client_t *c, int timeout_ms,
                          keten_delivery_fn fn, void *arg, size_t *handled) {
  int64_t deadline = s_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  unsigned past = 0;
  for (;;) {
    /* Without a subscription in effect poll only keeps the connection:
     * monitor events (the state), late replies, a new socket after a
     * refusal's back-off. */
    int subscribed = c->credit && !c->ended;
    if (subscribed && c->resubscribe && s_now_ms() >= c->resubscribe_at_ms) {
      keten_err_t rc = s_send_subscribe(c);
      if (rc != KETEN_OK && !keten_client_transient(c, rc))
        return rc;
      /* transient: s_send_subscribe scheduled the next attempt */
    }
    if (subscribed && c->n_pending) {
      Keten__Envelope *env = c->pending[0];
      memmove(c->pending, c->pending + 1, --c->n_pending * sizeof *c->pending);
      int stop = s_unsolicited(c, env, fn, arg, handled);
      envelope_free(env);
      if (stop)
        return s_poll_rc(c);
      continue;
    }
    int64_t now = s_now_ms();
    if (!c->sock && now >= c->reopen_at_ms) {
      if (s_open_socket(c) != KETEN_OK)
        c->reopen_at_ms = now + c->reconnect_ivl_ms;
      else if (subscribed && !c->resubscribe)
        s_resubscribe_in(c, 0); /* (a back-off already set is kept) */
    }
    int64_t left = deadline - now;
    if (!c->sock) {
      /* Refused a moment ago (or no socket could be made): wait, without
       * a socket, until the deadline or the next attempt. */
      if (left <= 0)
        return s_poll_rc(c);
      int64_t wait = c->reopen_at_ms - now;
      wait = wait < 1 ? 1 : wait < left ? wait : left;
      zmq_poll(NULL, 0, (long)wait);
      continue;
    }
    if (left < 0)
      left = 0;
    /* Wake up for a SUBSCRIBE that falls due before the deadline. */
    if (subscribed && c->resubscribe && c->resubscribe_at_ms - now < left)
      left = c->resubscribe_at_ms > now ? c->resubscribe_at_ms - now : 0;
    zmq_pollitem_t items[] = {{c->sock, 0, ZMQ_POLLIN, 0},
                              {c->monitor, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, 2, (long)left);
    if (rc < 0 && zmq_errno() != EINTR) {
      client_error(c, "poll failed: %s", zmq_strerror(zmq_errno()));
      return KETEN_ERR_TRANSPORT;
    }
    /* Past the deadline only what is ready now is taken: all of it (the
     * event-loop descriptor is edge-triggered underneath), up to a bound. */
    if (rc <= 0) {
      if (s_now_ms() >= deadline)
        return s_poll_rc(c);
      continue;
    }
    if (s_now_ms() >= deadline && ++past > CLIENT_POLL_FRAMES_PAST_DEADLINE)
      return s_poll_rc(c);
    if (items[1].revents & ZMQ_POLLIN) {
      uint32_t status = 0;
      if (s_monitor_refused(c, &status)) {
        client_error(c, "the broker refused our transport key");
        s_refused_close(c);
        return KETEN_ERR_AUTH;
      }
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      int stop = 0;
      if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0) {
        if (subscribed)
          stop = client_frame_in(c, zmq_msg_data(&m), zmq_msg_size(&m), fn,
                                 arg, handled);
        else
          s_frame_unsubscribed(c, zmq_msg_data(&m), zmq_msg_size(&m));
      }
      zmq_msg_close(&m);
      if (stop)
        return s_poll_rc(c);
    }
  }
}

keten_err_t keten_client_poll(keten_client_t *c, int timeout_ms,
                              keten_delivery_fn fn, void *arg,
                              size_t *handled) {
  /* fn may be NULL only while never subscribed (nothing to hand over) */
  if (!c || (!fn && c->credit))
    return KETEN_ERR_INVALID;
  if (handled)
    *handled = 0;
  /* Ended (DISPLACED, REMOVED): take what is ready now, wait for nothing,
   * and say so again. */
  keten_err_t rc = s_poll(c, c->ended ? 0 : timeout_ms, fn, arg, handled);
  s_rearm(c);
  return rc;
}

int keten_client_fd(keten_client_t *c) {
  if (!c)
    return -1;
  if (c->efd >= 0)
    return c->efd;
  c->efd = epoll_create1(EPOLL_CLOEXEC);
  c->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->wake};
  if (c->efd < 0 || c->wake < 0 ||
      epoll_ctl(c->efd, EPOLL_CTL_ADD, c->wake, &ev) != 0) {
    client_error(c, "cannot make the event-loop descriptor: %s",
                 strerror(errno));
    if (c->efd >= 0)
      close(c->efd);
    if (c->wake >= 0)
      close(c->wake);
    c->efd = c->wake = -1;
    return -1;
  }
  s_watch(c);
  s_rearm(c);
  return c->efd;
}

int keten_client_timeout_ms(keten_client_t *c) {
  if (!c)
    return -1;
  if (s_work_now(c))
    return 0;
  int64_t now = s_now_ms(), due = -1;
  /* a new socket after a refusal's back-off, subscribed or not */
  if (!c->sock)
    due = c->reopen_at_ms > now ? c->reopen_at_ms - now : 0;
  if (c->credit && !c->ended && c->resubscribe) {
    int64_t r = c->resubscribe_at_ms > now ? c->resubscribe_at_ms - now : 0;
    if (due < 0 || r < due)
      due = r;
  }
  return due > INT_MAX ? INT_MAX : (int)due;
}

int client_frame_in(keten_client_t *c, const uint8_t *data, size_t len,
                    keten_delivery_fn fn, void *arg, size_t *handled) {
  Keten__Envelope *env = envelope_decode(data, len, CLIENT_MAX_REPLY, NULL);
  if (!env)
    return 0; /* a broken frame is ignored */
  int stop = s_unsolicited(c, env, fn, arg, handled);
  envelope_free(env);
  return stop;
}
