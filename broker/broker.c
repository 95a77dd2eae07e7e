/* broker — ketend's event loop and request dispatch. */
#include "broker.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "envelope.h"
#include "keten.h"
#include "log.h"
#include "registry.h"
#include "roles.h"
#include "store.h"
#include "zap.h"

/* Requests handled before the loop looks at ZAP and timers again. */
#define BROKER_BATCH 256
/* Log lines about bad frames allowed per second before suppression. */
#define BROKER_BAD_LOG_PER_SEC 10

struct broker {
  config_t cfg;
  void *ctx;
  void *router;
  void *zap;
  store_t *store;
  registry_t *registry;
  keten_keys_t keys;
  int64_t data_version;
  int64_t next_poll_ms;
  zap_stats_t zap_stats;
  uint64_t requests, error_replies, dropped_replies;
  int64_t bad_log_second;
  unsigned bad_log_count, bad_log_suppressed;
};

static int64_t s_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t s_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int broker_reload_registry(broker_t *b) {
  char err[256];
  if (registry_load(b->registry, b->store, err, sizeof err) != 0) {
    log_msg(LOG_ERROR, "registry", "reload failed, keeping the old one: %s",
            err);
    return -1;
  }
  b->data_version = store_data_version(b->store);
  log_msg(registry_count(b->registry) ? LOG_INFO : LOG_WARN, "registry",
          "loaded %zu participants", registry_count(b->registry));
  return 0;
}

static int s_setopt_int(void *sock, int opt, int value) {
  return zmq_setsockopt(sock, opt, &value, sizeof value);
}

static int s_open_router(broker_t *b, char *err, size_t errlen) {
  int64_t hard_cap = 2 * (int64_t)b->cfg.max_frame_bytes + 65536;
  b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
  if (!b->router ||
      s_setopt_int(b->router, ZMQ_CURVE_SERVER, 1) ||
      zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, b->keys.transport_sk,
                     KETEN_KEY_BYTES) ||
      zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, "keten", 5) ||
      zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &hard_cap, sizeof hard_cap) ||
      s_setopt_int(b->router, ZMQ_ROUTER_MANDATORY, 1) ||
      s_setopt_int(b->router, ZMQ_SNDHWM, b->cfg.send_hwm) ||
      s_setopt_int(b->router, ZMQ_RCVHWM, b->cfg.send_hwm) ||
      s_setopt_int(b->router, ZMQ_LINGER, 0) ||
      s_setopt_int(b->router, ZMQ_HEARTBEAT_IVL, b->cfg.heartbeat_ivl_ms) ||
      s_setopt_int(b->router, ZMQ_HEARTBEAT_TIMEOUT,
                   b->cfg.heartbeat_timeout_ms) ||
      s_setopt_int(b->router, ZMQ_HEARTBEAT_TTL, b->cfg.heartbeat_timeout_ms)) {
    snprintf(err, errlen, "cannot configure the ROUTER socket: %s",
             zmq_strerror(zmq_errno()));
    return -1;
  }
  /* A CURVE server must refuse to run without its key being set. */
  int is_server = 0;
  size_t len = sizeof is_server;
  if (zmq_getsockopt(b->router, ZMQ_CURVE_SERVER, &is_server, &len) != 0 ||
      !is_server) {
    snprintf(err, errlen, "CURVE server mode could not be enabled");
    return -1;
  }
  for (int i = 0; i < b->cfg.n_endpoints; i++) {
    if (zmq_bind(b->router, b->cfg.endpoints[i]) != 0) {
      snprintf(err, errlen, "cannot bind %s: %s", b->cfg.endpoints[i],
               zmq_strerror(zmq_errno()));
      return -1;
    }
    log_msg(LOG_INFO, "broker", "listening on %s (CURVE)", b->cfg.endpoints[i]);
  }
  return 0;
}

broker_t *broker_new(const config_t *cfg, char *err, size_t errlen) {
  char reason[300];
  broker_t *b = calloc(1, sizeof *b);
  if (!b) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  b->cfg = *cfg;
  if (config_check(cfg, reason, sizeof reason) != 0) {
    snprintf(err, errlen, "configuration: %s", reason);
    goto fail;
  }
  keten_err_t krc = keten_keys_load(cfg->key_file, &b->keys);
  if (krc != KETEN_OK || !b->keys.has_secret) {
    snprintf(err, errlen, "cannot load the broker's secret key file %s: %s",
             cfg->key_file,
             krc != KETEN_OK ? keten_strerror(krc) : "it holds no secret keys");
    goto fail;
  }
  b->store = store_open(cfg->store, reason, sizeof reason);
  if (!b->store) {
    snprintf(err, errlen, "%s", reason);
    goto fail;
  }
  b->registry = registry_new();
  if (!b->registry ||
      registry_load(b->registry, b->store, reason, sizeof reason) != 0) {
    snprintf(err, errlen, "cannot load the registry: %s",
             b->registry ? reason : "out of memory");
    goto fail;
  }
  if (registry_count(b->registry) == 0) {
    snprintf(err, errlen,
             "the participant registry in %s is empty: register partners "
             "with `keten admin participant add` first",
             cfg->store);
    goto fail;
  }
  b->data_version = store_data_version(b->store);
  b->ctx = zmq_ctx_new();
  if (!b->ctx) {
    snprintf(err, errlen, "zmq_ctx_new failed");
    goto fail;
  }
  /* ZAP first: a CURVE socket bound without a handler would admit anyone. */
  b->zap = zap_open(b->ctx, err, errlen);
  if (!b->zap || s_open_router(b, err, errlen) != 0)
    goto fail;
  log_msg(LOG_INFO, "broker",
          "ketend %s serving %zu participants, store %s (schema %d)",
          KETEN_VERSION, registry_count(b->registry), cfg->store,
          store_schema_version(b->store));
  return b;
fail:
  broker_destroy(&b);
  return NULL;
}

void broker_destroy(broker_t **bp) {
  if (!bp || !*bp)
    return;
  broker_t *b = *bp;
  if (b->router)
    zmq_close(b->router);
  if (b->zap)
    zmq_close(b->zap);
  if (b->ctx)
    zmq_ctx_term(b->ctx);
  registry_destroy(&b->registry);
  store_close(&b->store);
  keten_keys_wipe(&b->keys);
  free(b);
  *bp = NULL;
}

/* Logs a rejected frame, at most BROKER_BAD_LOG_PER_SEC lines a second, so
 * a flood of garbage cannot flood the log. */
static void s_log_rejected(broker_t *b, const char *who, Keten__ErrorCode code,
                           const char *reason) {
  int64_t second = s_mono_ms() / 1000;
  if (second != b->bad_log_second) {
    if (b->bad_log_suppressed)
      log_msg(LOG_WARN, "request", "%u more rejected frames not logged",
              b->bad_log_suppressed);
    b->bad_log_second = second;
    b->bad_log_count = 0;
    b->bad_log_suppressed = 0;
  }
  if (b->bad_log_count++ < BROKER_BAD_LOG_PER_SEC)
    log_msg(LOG_INFO, "request", "rejected frame from %s: %s: %s", who,
            envelope_error_name(code), reason);
  else
    b->bad_log_suppressed++;
}

/* Sends reply to the peer with routing id rid. Never blocks: a peer whose
 * queue is full loses this reply (and is counted) rather than stalling
 * everyone else. */
static void s_send(broker_t *b, zmq_msg_t *rid, const Keten__Envelope *reply) {
  zmq_msg_t out;
  size_t len = keten__envelope__get_packed_size(reply);
  if (zmq_msg_init_size(&out, len) != 0)
    return;
  keten__envelope__pack(reply, zmq_msg_data(&out));
  zmq_msg_t id;
  zmq_msg_init(&id);
  zmq_msg_copy(&id, rid);
  if (zmq_msg_send(&id, b->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    b->dropped_replies++;
    log_msg(LOG_DEBUG, "request", "reply dropped: %s",
            zmq_strerror(zmq_errno()));
    zmq_msg_close(&id);
    zmq_msg_close(&out);
    return;
  }
  if (zmq_msg_send(&out, b->router, ZMQ_DONTWAIT) < 0) {
    b->dropped_replies++;
    zmq_msg_close(&out);
  }
}

static void s_send_error(broker_t *b, zmq_msg_t *rid,
                         const Keten__Envelope *request, const char *who,
                         Keten__ErrorCode code, const char *reason) {
  Keten__Envelope reply;
  envelope_ids_t ids;
  Keten__Error error = KETEN__ERROR__INIT;
  envelope_init(&reply, &ids, request);
  error.code = code;
  error.reason = (char *)reason;
  reply.body_case = KETEN__ENVELOPE__BODY_ERROR;
  reply.error = &error;
  b->error_replies++;
  s_log_rejected(b, who, code, reason);
  s_send(b, rid, &reply);
}

static void s_handle_hello(broker_t *b, zmq_msg_t *rid,
                           const Keten__Envelope *req,
                           const participant_t *who) {
  Keten__Envelope reply;
  envelope_ids_t ids;
  Keten__Welcome w = KETEN__WELCOME__INIT;
  envelope_init(&reply, &ids, req);
  w.broker_version = KETEN_VERSION;
  w.protocol_version = ENVELOPE_PROTOCOL_VERSION;
  w.participant_id = (char *)who->id;
  w.role = (Keten__Role)who->role;
  w.display_name = (char *)who->display_name;
  w.max_frame_bytes = b->cfg.max_frame_bytes;
  w.server_time_ms = s_wall_ms();
  reply.body_case = KETEN__ENVELOPE__BODY_WELCOME;
  reply.welcome = &w;
  log_msg(LOG_INFO, "request", "hello from %s (%s) running %s", who->id,
          roles_name(who->role), req->hello->software[0] ? req->hello->software : "-");
  s_send(b, rid, &reply);
}

static void s_handle_ping(broker_t *b, zmq_msg_t *rid,
                          const Keten__Envelope *req) {
  Keten__Envelope reply;
  envelope_ids_t ids;
  Keten__Pong pong = KETEN__PONG__INIT;
  envelope_init(&reply, &ids, req);
  pong.payload = req->ping->payload;
  pong.server_time_ms = s_wall_ms();
  reply.body_case = KETEN__ENVELOPE__BODY_PONG;
  reply.pong = &pong;
  s_send(b, rid, &reply);
}

/* Handles one request frame from the participant behind User-Id. */
static void s_dispatch(broker_t *b, zmq_msg_t *rid, zmq_msg_t *frame) {
  const char *user_id = zmq_msg_gets(frame, "User-Id");
  uint8_t key[PARTICIPANT_KEY_BYTES];
  const participant_t *who = NULL;
  if (zap_user_id_key(user_id, key) == 0)
    who = registry_find_transport(b->registry, key);
  envelope_error_t e;
  Keten__Envelope *req = envelope_decode(zmq_msg_data(frame),
                                         zmq_msg_size(frame),
                                         b->cfg.max_frame_bytes, &e);
  b->requests++;
  if (!who) {
    /* Admitted earlier, removed from the registry since. */
    s_send_error(b, rid, req, "a removed participant",
                 KETEN__ERROR_CODE__ERROR_UNAUTHENTICATED,
                 "your transport key is no longer in the registry");
  } else if (!req) {
    s_send_error(b, rid, NULL, who->id, e.code, e.reason);
  } else if (envelope_validate(req, &e) != 0) {
    s_send_error(b, rid, envelope_has_message_id(req) ? req : NULL, who->id,
                 e.code, e.reason);
  } else {
    switch (req->body_case) {
    case KETEN__ENVELOPE__BODY_HELLO:
      s_handle_hello(b, rid, req, who);
      break;
    case KETEN__ENVELOPE__BODY_PING:
      s_handle_ping(b, rid, req);
      break;
    case KETEN__ENVELOPE__BODY__NOT_SET:
      s_send_error(b, rid, req, who->id, KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY,
                   "the envelope has no body this broker knows");
      break;
    default:
      s_send_error(b, rid, req, who->id, KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY,
                   "this body is not a request the broker accepts");
      break;
    }
  }
  envelope_free(req);
}

/* Receives and handles one message from the ROUTER. Returns 0 when none
 * was waiting, 1 otherwise. */
static int s_handle_router(broker_t *b) {
  zmq_msg_t rid, frame;
  zmq_msg_init(&rid);
  if (zmq_msg_recv(&rid, b->router, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&rid);
    return 0;
  }
  if (!zmq_msg_more(&rid)) { /* cannot happen on ROUTER; be safe */
    zmq_msg_close(&rid);
    return 1;
  }
  zmq_msg_init(&frame);
  zmq_msg_recv(&frame, b->router, 0);
  if (zmq_msg_more(&frame)) {
    /* keten is one frame per message: drain the rest and refuse. */
    int more = 1;
    while (more) {
      zmq_msg_t extra;
      zmq_msg_init(&extra);
      more = zmq_msg_recv(&extra, b->router, 0) >= 0 && zmq_msg_more(&extra);
      zmq_msg_close(&extra);
    }
    s_send_error(b, &rid, NULL, "a peer", KETEN__ERROR_CODE__ERROR_MALFORMED,
                 "a keten message is exactly one frame");
  } else {
    s_dispatch(b, &rid, &frame);
  }
  zmq_msg_close(&frame);
  zmq_msg_close(&rid);
  return 1;
}

static void s_poll_registry(broker_t *b, int64_t now) {
  if (b->cfg.registry_poll_ms <= 0 || now < b->next_poll_ms)
    return;
  b->next_poll_ms = now + b->cfg.registry_poll_ms;
  int64_t v = store_data_version(b->store);
  if (v >= 0 && v != b->data_version) {
    log_msg(LOG_INFO, "registry", "store changed, reloading");
    broker_reload_registry(b);
  }
}

int broker_run(broker_t *b, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload) {
  b->next_poll_ms = s_mono_ms() + b->cfg.registry_poll_ms;
  while (!*stop) {
    zmq_pollitem_t items[] = {{b->zap, 0, ZMQ_POLLIN, 0},
                              {b->router, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, 2, 1000);
    if (rc < 0 && zmq_errno() != EINTR) {
      log_msg(LOG_ERROR, "broker", "poll failed: %s", zmq_strerror(zmq_errno()));
      return -1;
    }
    if (*reload) {
      *reload = 0;
      log_msg(LOG_INFO, "registry", "reload requested");
      broker_reload_registry(b);
    }
    if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
      zap_handle(b->zap, b->registry, &b->zap_stats);
    if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
      for (int i = 0; i < BROKER_BATCH && s_handle_router(b); i++)
        ;
    s_poll_registry(b, s_mono_ms());
  }
  log_msg(LOG_INFO, "broker",
          "stopping: %llu requests, %llu error replies, %llu dropped replies, "
          "%llu connections admitted, %llu refused",
          (unsigned long long)b->requests, (unsigned long long)b->error_replies,
          (unsigned long long)b->dropped_replies,
          (unsigned long long)b->zap_stats.admitted,
          (unsigned long long)b->zap_stats.refused);
  return 0;
}
