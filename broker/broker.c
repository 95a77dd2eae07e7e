/* broker — ketend's event loop: transport, dispatch, group commit, and
 * sending (or failing) the outbox after the commit. */
#include "broker.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "audit_log.h"
#include "broker_internal.h"
#include "clock.h"
#include "erase.h"
#include "rewrap.h"
#include "canon.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "roles.h"
#include "store_file.h"

/* Requests handled in one batch (one transaction, one fsync). */
#define BROKER_BATCH 256
/* ... and at most about this many bytes of replies in one batch. */
#define BROKER_BATCH_BYTES (8u * 1024u * 1024u)
/* How often timers (ack timeouts, expiry, checkpoints) run. */
#define BROKER_TICK_MS 100
/* How long a message id is remembered against replays. Past it, a replay
 * still fails on its content: a PUT's version is no longer newer, a
 * consent_id exists, a consent is already revoked. */
#define BROKER_REPLAY_WINDOW_MS (24LL * 3600 * 1000)
/* While the disk is full, sweeps and the delivery pump wait this long
 * after a failed commit, doubling up to the maximum (9.3.6). */
#define BROKER_FULL_BACKOFF_MS 1000
#define BROKER_FULL_BACKOFF_MAX_MS 30000
/* At most one "commit failed" line per this long; the others are counted. */
#define BROKER_COMMIT_LOG_MS 10000
/* Where the ROUTER's monitor reports closed connections (budget.h). */
#define BROKER_MONITOR_EP "inproc://ketend-router-monitor"

static int64_t s_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int broker_reload_registry(broker_t *b) {
  char err[256] = "";
  size_t refused = 0;
  /* Not strict: an entry that does not verify is left out (and so not
   * admitted), the others stay; keeping the old table would keep
   * admitting a participant the edit removed. */
  if (registry_load(b->registry, b->store, b->root_pk, 0, &refused, err,
                    sizeof err) != 0) {
    log_msg(LOG_ERROR, "registry", "reload failed, keeping the old one: %s",
            err);
    return -1;
  }
  b->data_version = store_data_version(b->store);
  if (refused)
    log_msg(LOG_ERROR, "registry",
            "%zu registry entries left out, not signed by the chain root "
            "(first: %s)",
            refused, err);
  log_msg(registry_count(b->registry) ? LOG_INFO : LOG_WARN, "registry",
          "loaded %zu entries, %zu valid now", registry_count(b->registry),
          registry_count_valid(b->registry, clock_wall_ms()));
  /* A removed participant's subscription ends now, not at its next
   * delivery (its SUBSCRIPTION_ENDED leaves with the next batch). */
  delivery_check_keys(b);
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

/* The wire form of h (pointing into h). */
static void s_head_wire(const keten_tree_head_t *h, Keten__TreeHead *w) {
  keten__tree_head__init(w);
  w->size = h->size;
  w->root.data = (uint8_t *)h->root;
  w->root.len = sizeof h->root;
  w->timestamp_ms = h->timestamp_ms;
  w->broker_key.data = (uint8_t *)h->broker_key;
  w->broker_key.len = sizeof h->broker_key;
  w->signature.data = (uint8_t *)h->signature;
  w->signature.len = sizeof h->signature;
}

/* At start (docs/protocol.md 10.6.4): the store's latest head and the
 * head file's must be heads of the log as it is (else ketend refuses to
 * start); then a fresh head of the log is signed, committed and written
 * to the head file, so that every WELCOME carries one. */
static int s_tree_head_start(broker_t *b, char *err, size_t errlen) {
  char reason[400];
  int missing = 0;
  if (b->cfg.tree_head_file[0])
    snprintf(b->head_file, sizeof b->head_file, "%s", b->cfg.tree_head_file);
  else
    snprintf(b->head_file, sizeof b->head_file, "%s.head", b->cfg.store);
  /* The current signing key and the earlier ones (key history): a head
   * signed before a rotation of the broker's key still checks. */
  uint8_t keys[32 * (1 + CONFIG_MAX_PREVIOUS_KEYS)];
  size_t n_keys = 1;
  memcpy(keys, b->keys.signing_pk, 32);
  for (int i = 0; i < b->cfg.n_previous_broker_keys; i++) {
    keten_keys_t old;
    keten_err_t krc = keten_keys_load(b->cfg.previous_broker_keys[i], &old);
    if (krc != KETEN_OK) {
      snprintf(err, errlen, "cannot load previous_broker_key %s: %s",
               b->cfg.previous_broker_keys[i], keten_strerror(krc));
      return -1;
    }
    memcpy(keys + 32 * n_keys++, old.signing_pk, 32);
    keten_keys_wipe(&old);
  }
  if (audit_log_start_check(b->store, b->head_file, keys, n_keys,
                            &missing, reason, sizeof reason) != 0) {
    snprintf(err, errlen,
             "the audit log in %s is not the log this broker signed: %s",
             b->cfg.store, reason);
    return -1;
  }
  if (missing)
    log_msg(LOG_WARN, "audit",
            "the tree head file %s is missing although the store holds "
            "signed tree heads: writing it now (expected once, on the first "
            "start after an upgrade; otherwise find out who removed it)",
            b->head_file);
  store_tree_head_t sh;
  if (store_begin(b->store) != 0 ||
      audit_log_sign_head(b->store, b->keys.signing_sk, b->keys.signing_pk,
                          clock_wall_ms(), &sh) != 0 ||
      store_commit(b->store) != 0) {
    snprintf(err, errlen, "cannot sign a tree head of the audit log: %s",
             store_error(b->store));
    store_rollback(b->store);
    return -1;
  }
  audit_log_head_to_keten(&sh, &b->head);
  b->has_head = 1;
  b->head_ms = clock_mono_ms();
  if (keten_tree_head_save(b->head_file, &b->head) != KETEN_OK) {
    snprintf(err, errlen, "cannot write the tree head file %s: %s",
             b->head_file, strerror(errno));
    return -1;
  }
  log_msg(LOG_INFO, "audit", "signed tree head of %llu entries, in %s",
          (unsigned long long)b->head.size, b->head_file);
  return 0;
}

/* After the batch that signed a head committed (or not): the head is the
 * latest, and is written to the head file (temp, fsync, rename). */
static void s_head_settle(broker_t *b, int committed) {
  if (!b->head_pending)
    return;
  b->head_pending = 0;
  if (!committed)
    return;
  b->head = b->head_new;
  b->has_head = 1;
  if (keten_tree_head_save(b->head_file, &b->head) != KETEN_OK)
    log_msg(LOG_ERROR, "audit", "cannot write the tree head file %s: %s",
            b->head_file, strerror(errno));
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
  keten_root_key_t root;
  krc = keten_root_key_load(cfg->root_key, &root);
  if (krc != KETEN_OK) {
    snprintf(err, errlen, "cannot load the chain root key file %s: %s",
             cfg->root_key, keten_strerror(krc));
    goto fail;
  }
  if (root.has_secret) {
    /* The root's secret belongs on the beheerder's offline machine. */
    keten_root_key_wipe(&root);
    snprintf(err, errlen,
             "%s holds the chain root's SECRET key: give ketend root.pub, "
             "and keep root.key offline",
             cfg->root_key);
    goto fail;
  }
  memcpy(b->root_pk, root.public_key, sizeof b->root_pk);
  if (store_file_check_private(cfg->store, err, errlen) != 0)
    goto fail; /* others may read the store: refuse (store_file.h) */
  b->store = store_open(cfg->store, reason, sizeof reason);
  if (!b->store) {
    snprintf(err, errlen, "%s", reason);
    goto fail;
  }
  b->registry = registry_new();
  if (!b->registry || registry_load(b->registry, b->store, b->root_pk, 1, NULL,
                                    reason, sizeof reason) != 0) {
    snprintf(err, errlen, "cannot load the registry: %s",
             b->registry ? reason : "out of memory");
    goto fail;
  }
  if (registry_count(b->registry) == 0) {
    snprintf(err, errlen,
             "the participant registry in %s is empty: install partners' "
             "root-signed entries with `keten admin participant add` first",
             cfg->store);
    goto fail;
  }
  if (s_tree_head_start(b, err, errlen) != 0)
    goto fail; /* the log is not what the broker signed (10.6.4) */
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
  /* Connections per participant: a closed descriptor stops counting. */
  b->monitor = zmq_socket(b->ctx, ZMQ_PAIR);
  if (!b->monitor ||
      zmq_socket_monitor(b->router, BROKER_MONITOR_EP,
                         ZMQ_EVENT_DISCONNECTED) != 0 ||
      zmq_connect(b->monitor, BROKER_MONITOR_EP) != 0) {
    snprintf(err, errlen, "cannot monitor the ROUTER socket: %s",
             zmq_strerror(zmq_errno()));
    goto fail;
  }
  if (cfg->metrics_endpoint[0]) {
    b->metrics_srv = metrics_server_start(cfg->metrics_endpoint, err, errlen);
    if (!b->metrics_srv)
      goto fail;
    log_msg(LOG_INFO, "metrics", "serving /metrics and /health on http://%s",
            cfg->metrics_endpoint);
  }
  log_msg(LOG_INFO, "broker",
          "ketend %s serving %zu registry entries (%zu valid now), store %s "
          "(schema %d)",
          KETEN_VERSION, registry_count(b->registry),
          registry_count_valid(b->registry, clock_wall_ms()), cfg->store,
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
  metrics_server_stop(&b->metrics_srv);
  metrics_free(&b->metrics);
  conn_log_free(&b->conns);
  if (b->monitor)
    zmq_close(b->monitor);
  if (b->router)
    zmq_close(b->router);
  if (b->zap)
    zmq_close(b->zap);
  if (b->ctx)
    zmq_ctx_term(b->ctx);
  for (size_t i = 0; i < b->n_out; i++)
    free(b->outbox[i].frame);
  free(b->outbox);
  free(b->sessions);
  delivery_free(b);
  ratelimit_clear(&b->prepare_limits);
  budget_clear(&b->budgets);
  registry_destroy(&b->registry);
  store_close(&b->store);
  keten_keys_wipe(&b->keys);
  free(b);
  *bp = NULL;
}


int broker_tx(broker_t *b) {
  if (b->tx_open)
    return 0;
  if (store_begin(b->store) != 0) {
    log_msg(LOG_ERROR, "store", "cannot begin a transaction: %s",
            store_error(b->store));
    return -1;
  }
  b->tx_open = 1;
  b->tx_changes = store_changes(b->store);
  return 0;
}

/* Sends the outbox. Never blocks: a peer whose queue is full loses that
 * frame (and is counted) rather than stalling everyone else; a lost
 * delivery is resent after the ack timeout. */
static void s_outbox_flush(broker_t *b) {
  /* The withdrawals of frames not taken that this batch audited are
   * committed now (after a failed commit none is marked written). */
  delivery_unsent_settle(b);
  for (size_t i = 0; i < b->n_out; i++) {
    outbox_item_t *o = &b->outbox[i];
    if (o->first_seq && !o->frame) {
      /* An earlier delivery frame of this subscription was not taken: a
       * later one must not go either, or a cumulative ACK of it would
       * acknowledge entries the recipient never got. */
      delivery_unsent(b, o, "an earlier frame of this subscription was not "
                            "taken");
      continue;
    }
    if (zmq_send(b->router, o->rid, o->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(b->router, o->frame, o->len, ZMQ_DONTWAIT) < 0) {
      int err = zmq_errno();
      b->dropped_replies++;
      log_msg(LOG_DEBUG, "request", "frame dropped: %s", zmq_strerror(err));
      if (o->first_seq) {
        /* A delivery the transport did not take is no disclosure. */
        delivery_unsent(b, o, err == EAGAIN ? "the connection's queue is full"
                              : err == EHOSTUNREACH ? "the connection is gone"
                                                    : zmq_strerror(err));
        for (size_t j = i + 1; j < b->n_out; j++) {
          outbox_item_t *later = &b->outbox[j];
          if (later->first_seq && later->rid_len == o->rid_len &&
              memcmp(later->rid, o->rid, o->rid_len) == 0 &&
              strcmp(later->participant, o->participant) == 0) {
            free(later->frame);
            later->frame = NULL;
          }
        }
      }
      if (err == EHOSTUNREACH)
        delivery_drop_rid(b, o->rid, o->rid_len);
    } else if (o->first_seq) {
      delivery_handed(b, o);
    }
    free(o->frame);
  }
  b->n_out = 0;
}

/* After a failed commit nothing in the batch happened: replies become
 * ERROR_INTERNAL (the request may be retried) and deliveries are dropped. */
static void s_outbox_fail(broker_t *b) {
  size_t kept = 0;
  for (size_t i = 0; i < b->n_out; i++) {
    outbox_item_t o = b->outbox[i];
    if ((o.is_reply && !o.needs_commit) || o.keep) {
      b->outbox[kept++] = o; /* its request wrote nothing: the reply stands */
      continue;             /* (or a SUBSCRIPTION_ENDED: the session is gone) */
    }
    free(o.frame);
    if (!o.is_reply)
      continue;
    Keten__Envelope reply, req;
    envelope_ids_t ids;
    Keten__Error error = KETEN__ERROR__INIT;
    keten__envelope__init(&req);
    if (o.has_request_ids) {
      req.message_id.data = o.message_id;
      req.message_id.len = ENVELOPE_MESSAGE_ID_BYTES;
      req.trace_id.data = o.trace_id;
      req.trace_id.len = ENVELOPE_TRACE_ID_BYTES;
    }
    envelope_init(&reply, &ids, o.has_request_ids ? &req : NULL);
    if (b->store_full) { /* 9.3.6 */
      error.code = KETEN__ERROR_CODE__ERROR_DISK_FULL;
      error.reason = "the broker's disk is full: nothing was stored; retry "
                     "later";
      error.retry_after_ms = (uint32_t)b->store_backoff_ms;
    } else {
      error.code = KETEN__ERROR_CODE__ERROR_INTERNAL;
      error.reason = "the broker could not make this durable; retry";
    }
    reply.body_case = KETEN__ENVELOPE__BODY_ERROR;
    reply.error = &error;
    o.frame = envelope_pack(&reply, &o.len);
    if (o.frame)
      b->outbox[kept++] = o;
  }
  b->n_out = kept;
  delivery_rewind_all(b);
}

/* Signs a tree head (audit_log.h) when the log grew by checkpoint_every
 * entries, when checkpoint_interval_ms passed since the last one (even if
 * it did not grow: a verifier's --max-age wants fresh heads), and at stop
 * (force) when it grew. It is committed with the batch and then written
 * to the head file (s_head_settle). */
static void s_tree_head(broker_t *b, int64_t mono_now, int force) {
  uint64_t size;
  uint8_t chain[AUDIT_HASH_BYTES];
  if (store_audit_head(b->store, &size, chain) != 0)
    return;
  uint64_t last = b->head_pending ? b->head_new.size : b->head.size;
  int grew = !b->has_head || size > last;
  if (!(grew && force) &&
      !(grew && size - last >= (uint64_t)b->cfg.checkpoint_every) &&
      mono_now - b->head_ms < b->cfg.checkpoint_interval_ms)
    return;
  store_tree_head_t sh;
  if (audit_log_sign_head(b->store, b->keys.signing_sk, b->keys.signing_pk,
                          clock_wall_ms(), &sh) != 0) {
    log_msg(LOG_ERROR, "audit", "cannot sign a tree head: %s",
            store_error(b->store));
    return;
  }
  audit_log_head_to_keten(&sh, &b->head_new);
  b->head_pending = 1;
  b->head_ms = mono_now;
}

/* Signs a checkpoint of the chain head when enough happened since the
 * last, and a tree head (s_tree_head). */
static void s_checkpoint(broker_t *b, int64_t mono_now, int force) {
  uint64_t seq;
  uint8_t head[AUDIT_HASH_BYTES];
  s_tree_head(b, mono_now, force);
  if (store_audit_head(b->store, &seq, head) != 0 || seq == b->checkpoint_seq)
    return;
  if (!force && seq - b->checkpoint_seq < (uint64_t)b->cfg.checkpoint_every &&
      mono_now - b->checkpoint_ms < b->cfg.checkpoint_interval_ms)
    return;
  uint8_t msg[128], sig[64];
  int64_t at = clock_wall_ms();
  size_t len = audit_checkpoint_bytes(seq, head, at, msg, sizeof msg);
  crypto_sign_detached(sig, NULL, msg, len, b->keys.signing_sk);
  if (store_audit_checkpoint_put(b->store, seq, head, at, sig) == 0) {
    b->checkpoint_seq = seq;
    b->checkpoint_ms = mono_now;
  }
}

/* ---- requests ----------------------------------------------------------------- */

static void s_handle_hello(request_t *r) {
  Keten__Welcome w = KETEN__WELCOME__INIT;
  w.broker_version = KETEN_VERSION;
  w.protocol_version = ENVELOPE_PROTOCOL_VERSION;
  w.participant_id = (char *)r->who->id;
  w.role = (Keten__Role)r->who->role;
  w.display_name = (char *)r->who->display_name;
  w.max_frame_bytes = r->b->cfg.max_frame_bytes;
  w.server_time_ms = (uint64_t)clock_wall_ms();
  Keten__TreeHead th;
  if (r->b->has_head) {
    s_head_wire(&r->b->head, &th);
    w.tree_head = &th; /* the latest committed signed head (10.6.5) */
  }
  log_msg(LOG_INFO, "request", "hello from %s (%s) running %s", r->who->id,
          roles_name(r->who->role),
          r->req->hello->software[0] ? r->req->hello->software : "-");
  request_reply(r, KETEN__ENVELOPE__BODY_WELCOME, &w);
}

static void s_handle_ping(request_t *r) {
  Keten__Pong pong = KETEN__PONG__INIT;
  pong.payload = r->req->ping->payload;
  pong.server_time_ms = (uint64_t)clock_wall_ms();
  request_reply(r, KETEN__ENVELOPE__BODY_PONG, &pong);
}

/* Runs a handler that touches the store inside its own savepoint, so a
 * failure undoes only this request's changes. */
static void s_run_stored(request_t *r, int (*handler)(request_t *)) {
  broker_t *b = r->b;
  size_t out_before = b->n_out;
  if (broker_tx(b) != 0 || store_savepoint(b->store) != 0) {
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INTERNAL,
                        "the store is unavailable; retry");
    return;
  }
  int64_t changes = store_changes(b->store);
  if (handler(r) == 0) {
    store_savepoint_release(b->store);
    /* A handler that changed nothing (a read that audits nothing, a
     * refusal not audited) needs no commit: its reply goes out even if
     * the batch's commit fails (9.3.4). */
    int wrote = store_changes(b->store) != changes;
    for (size_t i = out_before; i < b->n_out; i++)
      b->outbox[i].needs_commit = wrote || !b->outbox[i].is_reply;
    return;
  }
  int full = store_error_is_full(b->store);
  store_savepoint_rollback(b->store);
  for (size_t i = out_before; i < b->n_out; i++)
    free(b->outbox[i].frame);
  b->n_out = out_before;
  if (full)
    request_reply_error_retry(
        r, KETEN__ERROR_CODE__ERROR_DISK_FULL,
        (uint32_t)(b->store_backoff_ms ? b->store_backoff_ms
                                       : BROKER_FULL_BACKOFF_MS),
        "the broker's disk is full: nothing was stored; retry later");
  else
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_INTERNAL,
                        "the broker failed to handle this request; retry");
}

/* The budgets every request of an admitted participant passes first
 * (9.4): its connections, then its request rate (ACK exempt). Cheap: no
 * store access; the refusal is only counted here and audited by the
 * sweep. Returns 1 when the request may go on, 0 when it was answered. */
static int s_budgets(request_t *r, int fd, const Keten__Envelope *req) {
  broker_t *b = r->b;
  int64_t now = clock_mono_ms();
  int ok = budget_connection(&b->budgets, fd, r->who->id,
                             b->cfg.max_connections, now);
  if (ok == 0) {
    request_budget_refused(b, r->who->id, BUDGET_MAX_CONNECTIONS,
                           (uint64_t)b->cfg.max_connections);
    request_reply_error(r, KETEN__ERROR_CODE__ERROR_QUOTA,
                        "at most %d connections at once: close one first",
                        b->cfg.max_connections);
    return 0;
  }
  /* An ACK is never refused by the request budget: it only moves the
   * acknowledged seq (bounded by what the broker sent) or changes nothing
   * (in memory); refusing it would only cause redeliveries. */
  if (req && req->body_case == KETEN__ENVELOPE__BODY_ACK)
    return 1;
  int64_t retry = 0;
  ok = budget_request(&b->budgets, r->who->id, now,
                      b->cfg.requests_per_second, b->cfg.requests_burst,
                      &retry);
  if (ok == 0) {
    request_budget_refused(b, r->who->id, BUDGET_REQUESTS_PER_SECOND,
                           (uint64_t)b->cfg.requests_per_second);
    request_reply_rate_limited(r, retry,
                               "too many requests; retry after retry_after_ms");
    return 0;
  }
  return 1; /* ok < 0 (out of memory): not refused */
}

static void s_dispatch(broker_t *b, const uint8_t *rid, size_t rid_len,
                       const char *user_id, int fd, const char *peer,
                       const uint8_t *data, size_t len) {
  uint8_t key[PARTICIPANT_KEY_BYTES];
  request_t r = {.b = b, .rid = rid, .rid_len = rid_len,
                 .now_ms = clock_wall_ms()};
  if (zap_user_id_key(user_id, key) == 0)
    r.who = registry_find_transport(b->registry, key, r.now_ms);
  envelope_error_t e;
  Keten__Envelope *req =
      envelope_decode(data, len, b->cfg.max_frame_bytes, &e);
  b->requests++;
  metrics_request(&b->metrics, req ? (int)req->body_case : 0);
  if (r.who)
    conn_log_frame(&b->conns, fd, rid, rid_len, r.who->id, peer,
                   clock_mono_ms());
  if (req && envelope_has_message_id(req))
    r.req = req; /* so that even an error correlates */
  if (!r.who) {
    /* Admitted earlier, removed from the registry or expired since. */
    request_reply_error(&r, KETEN__ERROR_CODE__ERROR_UNAUTHENTICATED,
                        "your transport key is no longer in the registry or "
                        "its entry is not valid now");
  } else if (!s_budgets(&r, fd, req)) {
    /* answered: a budget of 9.4 */
  } else if (!req || envelope_validate(req, &e) != 0) {
    request_reply_error(&r, e.code, "%s", e.reason);
  } else {
    r.req = req;
    switch (req->body_case) {
    case KETEN__ENVELOPE__BODY_HELLO: s_handle_hello(&r); break;
    case KETEN__ENVELOPE__BODY_PING: s_handle_ping(&r); break;
    case KETEN__ENVELOPE__BODY_PREPARE: s_run_stored(&r, handle_prepare); break;
    case KETEN__ENVELOPE__BODY_PUT: s_run_stored(&r, handle_put); break;
    case KETEN__ENVELOPE__BODY_FETCH: s_run_stored(&r, handle_fetch); break;
    case KETEN__ENVELOPE__BODY_CONSENT_GRANT:
      s_run_stored(&r, handle_consent_grant);
      break;
    case KETEN__ENVELOPE__BODY_CONSENT_REVOKE:
      s_run_stored(&r, handle_consent_revoke);
      break;
    case KETEN__ENVELOPE__BODY_CONSENT_LIST:
      s_run_stored(&r, handle_consent_list);
      break;
    case KETEN__ENVELOPE__BODY_SUBSCRIBE:
      s_run_stored(&r, handle_subscribe);
      break;
    case KETEN__ENVELOPE__BODY_ACK: s_run_stored(&r, handle_ack); break;
    case KETEN__ENVELOPE__BODY_TVS_PUBLISH:
      s_run_stored(&r, handle_tvs_publish);
      break;
    case KETEN__ENVELOPE__BODY_TVS_LIST: s_run_stored(&r, handle_tvs_list); break;
    case KETEN__ENVELOPE__BODY_TVS_STATUS:
      s_run_stored(&r, handle_tvs_status);
      break;
    case KETEN__ENVELOPE__BODY_REWRAP_ANSWER:
      s_run_stored(&r, handle_rewrap_answer);
      break;
    case KETEN__ENVELOPE__BODY_AUDIT_PROOF: s_run_stored(&r, handle_audit_proof); break;
    case KETEN__ENVELOPE__BODY_ERASE: s_run_stored(&r, handle_erase); break;
    case KETEN__ENVELOPE__BODY__NOT_SET:
      request_reply_error(&r, KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY,
                          "the envelope has no body this broker knows");
      break;
    default:
      request_reply_error(&r, KETEN__ERROR_CODE__ERROR_UNKNOWN_BODY,
                          "this body is not a request the broker accepts");
      break;
    }
  }
  envelope_free(req);
}

void broker_dispatch(broker_t *b, const uint8_t *rid, size_t rid_len,
                     const char *user_id, const uint8_t *data, size_t len) {
  s_dispatch(b, rid, rid_len, user_id, -1, NULL, data, len);
}

/* Receives and handles one message from the ROUTER. Returns 0 when none
 * was waiting, 1 otherwise. */
static int s_handle_router(broker_t *b) {
  uint8_t rid[BROKER_RID_MAX];
  int rid_len = zmq_recv(b->router, rid, sizeof rid, ZMQ_DONTWAIT);
  if (rid_len < 0)
    return 0;
  int more = 0;
  size_t sz = sizeof more;
  zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &sz);
  if (!more || rid_len > (int)sizeof rid)
    return 1; /* cannot happen on ROUTER; be safe */
  zmq_msg_t frame;
  zmq_msg_init(&frame);
  zmq_msg_recv(&frame, b->router, 0);
  if (zmq_msg_more(&frame)) {
    /* keten is one frame per message: drain the rest and refuse. */
    int again = 1;
    while (again) {
      zmq_msg_t extra;
      zmq_msg_init(&extra);
      again = zmq_msg_recv(&extra, b->router, 0) >= 0 && zmq_msg_more(&extra);
      zmq_msg_close(&extra);
    }
    request_t r = {.b = b, .rid = rid, .rid_len = (size_t)rid_len};
    uint8_t key[PARTICIPANT_KEY_BYTES];
    if (zap_user_id_key(zmq_msg_gets(&frame, "User-Id"), key) == 0)
      r.who = registry_find_transport(b->registry, key, clock_wall_ms());
    if (!r.who)
      request_reply_error(&r, KETEN__ERROR_CODE__ERROR_UNAUTHENTICATED,
                          "your transport key is no longer in the registry");
    else
      request_reply_error(&r, KETEN__ERROR_CODE__ERROR_MALFORMED,
                          "a keten message is exactly one frame");
  } else {
    /* ZMQ_SRCFD: the descriptor the frame came on (libzmq keeps it in
     * the message's metadata), to count connections per participant. */
    s_dispatch(b, rid, (size_t)rid_len, zmq_msg_gets(&frame, "User-Id"),
               zmq_msg_get(&frame, ZMQ_SRCFD),
               zmq_msg_gets(&frame, "Peer-Address"), zmq_msg_data(&frame),
               zmq_msg_size(&frame));
  }
  zmq_msg_close(&frame);
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

/* One aggregate of refused handshakes (refusals.h): an audit entry in the
 * batch's transaction and a WARN line with the count of lines not logged. */
static int s_audit_refusals(const refusals_source_t *s, uint64_t count,
                            int64_t span_ms, uint64_t unlogged, void *arg) {
  broker_t *b = arg;
  long long secs = (long long)((span_ms + 999) / 1000);
  audit_entry_t e;
  request_audit_init(&e, NULL, "keten.auth.refused", AUDIT_STATUS_ERROR);
  snprintf(e.detail, sizeof e.detail,
           "%llu refusals from %s in %lld s (CURVE handshake refused)",
           (unsigned long long)count, s->addr, secs);
  if (request_audit(b, &e) != 0)
    return -1;
  log_msg(LOG_WARN, "auth",
          "%llu refused handshakes from %s in %lld s (%llu not logged)",
          (unsigned long long)count, s->addr, secs,
          (unsigned long long)unlogged);
  return 0;
}

/* Writes the due aggregates of refused handshakes (all with force) in the
 * current transaction. */
static int s_refusals_flush(broker_t *b, int force) {
  return refusals_flush(&b->zap_stats.sources, clock_wall_ms(),
                        b->cfg.refusal_audit_interval_ms, force,
                        s_audit_refusals, b);
}

/* One aggregate of budget refusals (budget.h): a `keten.budget.refused`
 * entry in the batch's transaction and a WARN line with the count. */
static int s_audit_budget(const char *id, budget_kind_t kind, uint64_t count,
                          int64_t span_ms, uint64_t limit, uint64_t unlogged,
                          void *arg) {
  broker_t *b = arg;
  long long secs = (long long)((span_ms + 999) / 1000);
  audit_entry_t e;
  request_audit_init(&e, NULL, "keten.budget.refused", AUDIT_STATUS_ERROR);
  snprintf(e.actor, sizeof e.actor, "%s", id);
  snprintf(e.detail, sizeof e.detail, "%llu refusals of %s in %lld s (limit %llu)",
           (unsigned long long)count, budget_name(kind), secs,
           (unsigned long long)limit);
  if (request_audit(b, &e) != 0)
    return -1;
  log_msg(LOG_WARN, "budget",
          "%s: %llu requests refused by the budget %s in %lld s (limit %llu; "
          "%llu not logged)",
          id, (unsigned long long)count, budget_name(kind), secs,
          (unsigned long long)limit, (unsigned long long)unlogged);
  return 0;
}

static int s_budget_flush(broker_t *b, int force) {
  return budget_flush(&b->budgets, clock_mono_ms(),
                      b->cfg.budget_audit_interval_ms, force, s_audit_budget,
                      b);
}

/* Reads the ROUTER monitor's events: a closed connection no longer counts
 * against its participant's max_connections. */
static void s_drain_monitor(broker_t *b) {
  for (;;) {
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, b->monitor, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&ev);
      return;
    }
    int more = zmq_msg_more(&ev);
    if (zmq_msg_size(&ev) == 6) {
      uint16_t event;
      uint32_t value;
      memcpy(&event, zmq_msg_data(&ev), 2);
      memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
      if (event == ZMQ_EVENT_DISCONNECTED) {
        budget_disconnected(&b->budgets, (int)value);
        conn_log_closed(&b->conns, (int)value, clock_mono_ms());
      }
    }
    zmq_msg_close(&ev);
    while (more) { /* the endpoint frame */
      zmq_msg_t part;
      zmq_msg_init(&part);
      more = zmq_msg_recv(&part, b->monitor, ZMQ_DONTWAIT) >= 0 &&
             zmq_msg_more(&part);
      zmq_msg_close(&part);
    }
  }
}

/* One batch: requests, expiry, deliveries and checkpoints in one
 * transaction, opened only when something needs the store; the frames
 * leave only once it is durable (group commit). */
static void s_batch(broker_t *b, int router_ready, int64_t mono_now) {
  b->tx_open = 0;
  if (b->monitor)
    s_drain_monitor(b);
  /* Replies wait in the outbox until the commit: a batch also ends once
   * they reach BROKER_BATCH_BYTES, so requests that each want a large
   * reply (FETCH pages, PONGs) cannot pile up unbounded before the flush
   * (where each connection's queue takes at most send_hwm frames). */
  size_t batch_bytes = 0;
  unsigned handled = 0;
  for (int i = 0; router_ready && i < BROKER_BATCH &&
                  batch_bytes < BROKER_BATCH_BYTES;
       i++) {
    size_t before = b->n_out;
    if (!s_handle_router(b))
      break;
    handled++;
    for (size_t j = before; j < b->n_out; j++)
      batch_bytes += b->outbox[j].len;
  }
  metrics_batch(&b->metrics, handled);
  /* A full disk: no sweep and no delivery pump until the back-off ends
   * (requests still come, and a commit of theirs that succeeds ends it). */
  int backoff = b->store_full && mono_now < b->store_retry_ms;
  if (!backoff && mono_now >= b->next_sweep_ms && broker_tx(b) == 0) {
    b->next_sweep_ms = mono_now + 1000;
    if (store_savepoint(b->store) == 0) {
      int64_t wall = clock_wall_ms();
      if (consent_sweep_expired(b, wall) == 0 &&
          consent_sweep_started(b, wall) == 0 && erase_sweep(b, wall) == 0 &&
          prepare_limit_flush(b, clock_mono_ms(), 0) == 0 &&
          s_refusals_flush(b, 0) == 0 && s_budget_flush(b, 0) == 0 &&
          store_message_prune(b->store, wall - BROKER_REPLAY_WINDOW_MS) == 0) {
        store_savepoint_release(b->store);
      } else {
        store_savepoint_rollback(b->store);
        prepare_limit_settle(b, 0); /* its summaries were undone too */
        refusals_settle(&b->zap_stats.sources, 0);
        budget_settle(&b->budgets, 0);
      }
    }
    s_checkpoint(b, mono_now, 0);
  }
  if (!backoff && delivery_due(b, mono_now) && broker_tx(b) == 0 &&
      store_savepoint(b->store) == 0) {
    if (delivery_pump(b, mono_now) == 0) {
      store_savepoint_release(b->store);
    } else {
      store_savepoint_rollback(b->store);
      delivery_rewind_all(b);
    }
  }
  broker_batch_end(b, 1);
}

/* A failed commit: classified (a full disk or another failure), logged
 * at most once per BROKER_COMMIT_LOG_MS with the count of the others, and
 * on a full disk the back-off of sweeps and pump doubles (9.3.6). */
static void s_commit_failed(broker_t *b, int full) {
  int64_t now = clock_mono_ms();
  if (full) {
    b->store_backoff_ms = !b->store_full ? BROKER_FULL_BACKOFF_MS
                          : 2 * b->store_backoff_ms > BROKER_FULL_BACKOFF_MAX_MS
                              ? BROKER_FULL_BACKOFF_MAX_MS
                              : 2 * b->store_backoff_ms;
    b->store_retry_ms = now + b->store_backoff_ms;
  }
  if (b->commit_log_ms && now - b->commit_log_ms < BROKER_COMMIT_LOG_MS &&
      b->store_full == full) {
    b->commit_unlogged++;
  } else {
    long long secs = b->commit_log_ms ? (now - b->commit_log_ms + 999) / 1000 : 0;
    if (full)
      log_msg(LOG_ERROR, "store",
              "commit failed: disk full (%llu more in %lld s); writes are "
              "refused with ERROR_DISK_FULL, sweeps and deliveries wait %lld "
              "ms: %s",
              (unsigned long long)b->commit_unlogged, secs,
              (long long)b->store_backoff_ms, store_error(b->store));
    else
      log_msg(LOG_ERROR, "store",
              "commit failed, batch undone (%llu more in %lld s): %s",
              (unsigned long long)b->commit_unlogged, secs,
              store_error(b->store));
    b->commit_log_ms = now;
    b->commit_unlogged = 0;
  }
  b->store_full = full;
}

void broker_batch_end(broker_t *b, int send) {
  int64_t commit_start = b->tx_open ? s_mono_us() : 0;
  int commit_rc = b->tx_open ? store_commit(b->store) : 0;
  if (b->tx_open)
    metrics_commit(&b->metrics, (double)(s_mono_us() - commit_start) / 1e6,
                   commit_rc == 0);
  if (b->tx_open && commit_rc != 0) {
    int full = store_error_is_full(b->store);
    s_commit_failed(b, full);
    store_rollback(b->store);
    s_head_settle(b, 0);
    s_outbox_fail(b);
    prepare_limit_settle(b, 0);
    refusals_settle(&b->zap_stats.sources, 0);
    budget_settle(&b->budgets, 0);
  } else {
    /* Only a commit that wrote proves there is room again (an empty
     * transaction commits without writing). */
    if (b->tx_open && b->store_full &&
        store_changes(b->store) != b->tx_changes) {
      log_msg(LOG_WARN, "store",
              "commit succeeded: the disk has room again (%llu failed "
              "commits not logged)",
              (unsigned long long)b->commit_unlogged);
      b->store_full = 0;
      b->store_backoff_ms = 0;
      b->commit_unlogged = 0;
      b->commit_log_ms = 0;
    }
    s_head_settle(b, 1);
    prepare_limit_settle(b, 1);
    refusals_settle(&b->zap_stats.sources, 1);
    budget_settle(&b->budgets, 1);
  }
  b->tx_open = 0;
  if (send) {
    s_outbox_flush(b);
  } else {
    for (size_t i = 0; i < b->n_out; i++)
      free(b->outbox[i].frame);
    b->n_out = 0;
  }
}

/* ---- observability ------------------------------------------------------- */

typedef struct {
  uint64_t depth;
  int64_t oldest_ms;
} s_mailbox_look_t;

static int s_first_item(const store_mailbox_item_t *item, void *arg) {
  s_mailbox_look_t *l = arg;
  l->oldest_ms = item->section ? item->section->created_at_ms
                 : item->notice ? item->notice->created_at_ms
                                : 0;
  return 1;
}

/* Mailbox depth and oldest-unacked age of every registered id, at most
 * once per metrics_interval_ms: 2 indexed queries an id. */
static void s_metrics_mailboxes(broker_t *b, int64_t mono_now) {
  metrics_t *m = &b->metrics;
  if (m->mailboxes_ms && mono_now - m->mailboxes_ms < b->cfg.metrics_interval_ms)
    return;
  m->mailboxes_ms = mono_now;
  size_t n = registry_count(b->registry);
  metrics_mailbox_t *list = calloc(n ? n : 1, sizeof *list);
  if (!list)
    return;
  size_t k = 0;
  int64_t wall = clock_wall_ms();
  for (size_t i = 0; i < n; i++) {
    const participant_t *p = registry_at(b->registry, i);
    if (!p || (k && strcmp(list[k - 1].id, p->id) == 0))
      continue; /* one row per id (entries of an id are adjacent) */
    uint64_t acked = 0, head = 0;
    if (store_mailbox_state(b->store, p->id, &acked, &head) != 0) {
      b->store_ok = 0;
      break;
    }
    snprintf(list[k].id, sizeof list[k].id, "%s", p->id);
    list[k].depth = head > acked ? head - acked : 0;
    if (head > acked) {
      s_mailbox_look_t look = {0, 0};
      if (store_mailbox_read(b->store, p->id, acked, 1, s_first_item, &look) ==
              0 &&
          look.oldest_ms > 0 && wall > look.oldest_ms)
        list[k].oldest_unacked_s = (double)(wall - look.oldest_ms) / 1000.0;
    }
    k++;
  }
  free(m->mailboxes);
  m->mailboxes = list;
  m->n_mailboxes = k;
}

/* Every loop turn: the watchdog, and for the metrics endpoint the loop's
 * liveness (each turn) and a new page (at most once a second). Outside
 * any batch's transaction. */
static void s_observe_tick(broker_t *b, int64_t mono_now) {
  notify_watchdog(mono_now);
  if (!b->metrics_srv)
    return;
  if (b->metrics_pub_ms && mono_now - b->metrics_pub_ms < 1000) {
    metrics_server_alive(b->metrics_srv, mono_now, b->store_ok);
    return;
  }
  b->metrics_pub_ms = mono_now;
  metrics_t *m = &b->metrics;
  uint64_t seq = 0;
  uint8_t chain[AUDIT_HASH_BYTES];
  b->store_ok = store_audit_head(b->store, &seq, chain) == 0;
  m->audit_known = b->store_ok;
  m->audit_entries = seq;
  if (b->store_ok)
    s_metrics_mailboxes(b, mono_now);
  m->connections_opened = b->conns.opened;
  m->connections_closed = b->conns.closed;
  m->connections_open = b->conns.open;
  m->handshakes_admitted = b->zap_stats.admitted;
  m->handshakes_refused = b->zap_stats.refused;
  m->dropped_frames = b->dropped_replies;
  m->deliveries = b->deliveries;
  size_t len = 0;
  char *text = metrics_render(m, &len);
  if (text)
    metrics_server_publish(b->metrics_srv, text, len, mono_now, b->store_ok);
  else
    metrics_server_alive(b->metrics_srv, mono_now, b->store_ok);
}

void broker_on_reload(broker_t *b, broker_config_fn fn, void *arg) {
  b->reload_fn = fn;
  b->reload_arg = arg;
}

int broker_apply_settings(broker_t *b, const config_t *new_cfg) {
  char changed[1024], restart[512];
  int n = config_diff(&b->cfg, new_cfg, changed, sizeof changed, restart,
                      sizeof restart);
  if (n) {
    config_apply_reloadable(&b->cfg, new_cfg);
    log_set_level(b->cfg.log_level);
    log_set_format(b->cfg.log_format);
    log_msg(LOG_INFO, "config", "reloaded: changed %s", changed);
  } else {
    log_msg(LOG_INFO, "config", "reloaded: no setting changed");
  }
  if (restart[0])
    log_msg(LOG_WARN, "config",
            "changed but not applied until a restart: %s (systemctl restart "
            "ketend)",
            restart);
  return n;
}

/* SIGHUP: the registry, then the settings. */
static void s_reload(broker_t *b) {
  log_msg(LOG_INFO, "registry", "reload requested");
  broker_reload_registry(b);
  if (!b->reload_fn)
    return;
  config_t fresh;
  char err[512];
  if (b->reload_fn(&fresh, err, sizeof err, b->reload_arg) != 0 ||
      config_check(&fresh, err, sizeof err) != 0) {
    log_msg(LOG_ERROR, "config", "reload failed, keeping the settings: %s",
            err);
    return;
  }
  broker_apply_settings(b, &fresh);
  notify_status("serving (settings reloaded)");
}

int broker_run(broker_t *b, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload) {
  int64_t now = clock_mono_ms();
  notify_init();
  b->store_ok = 1;
  b->next_poll_ms = now + b->cfg.registry_poll_ms;
  b->checkpoint_ms = now;
  int64_t next_tick = now;
  while (!*stop) {
    zmq_pollitem_t items[] = {{b->zap, 0, ZMQ_POLLIN, 0},
                              {b->router, 0, ZMQ_POLLIN, 0}};
    long wait = (long)(next_tick - clock_mono_ms());
    int rc = zmq_poll(items, 2, wait < 0 ? 0 : wait);
    if (rc < 0 && zmq_errno() != EINTR) {
      log_msg(LOG_ERROR, "broker", "poll failed: %s", zmq_strerror(zmq_errno()));
      return -1;
    }
    if (*reload) {
      *reload = 0;
      s_reload(b);
    }
    /* A refusal is only counted here (O(1)); the sweep of the next batch
     * audits it as part of an aggregate per source address. */
    if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
      zap_handle(b->zap, b->registry, clock_wall_ms(), &b->zap_stats);
    now = clock_mono_ms();
    int router_ready = rc > 0 && (items[1].revents & ZMQ_POLLIN);
    if (router_ready || now >= next_tick) {
      s_batch(b, router_ready, now);
      if (now >= next_tick)
        next_tick = now + BROKER_TICK_MS;
    }
    s_poll_registry(b, now);
    s_observe_tick(b, now);
  }
  notify_stopping("stopping: committing the last audit entries");
  if (store_begin(b->store) == 0) {
    if (prepare_limit_flush(b, clock_mono_ms(), 1) != 0)
      log_msg(LOG_ERROR, "audit", "cannot audit the last rate-limit refusals");
    if (s_refusals_flush(b, 1) != 0)
      log_msg(LOG_ERROR, "audit", "cannot audit the last refused handshakes");
    if (s_budget_flush(b, 1) != 0)
      log_msg(LOG_ERROR, "audit", "cannot audit the last budget refusals");
    s_checkpoint(b, clock_mono_ms(), 1);
    if (store_commit(b->store) != 0) {
      log_msg(LOG_ERROR, "audit", "cannot commit the last entries at stop");
      store_rollback(b->store);
      s_head_settle(b, 0);
    } else {
      s_head_settle(b, 1);
    }
  }
  if (b->bad_log_suppressed)
    log_msg(LOG_WARN, "request", "%u more rejected frames not logged",
            b->bad_log_suppressed);
  log_msg(LOG_INFO, "broker",
          "stopping: %llu requests, %llu error replies, %llu deliveries, "
          "%llu dropped frames, %llu connections admitted, %llu refused",
          (unsigned long long)b->requests, (unsigned long long)b->error_replies,
          (unsigned long long)b->deliveries,
          (unsigned long long)b->dropped_replies,
          (unsigned long long)b->zap_stats.admitted,
          (unsigned long long)b->zap_stats.refused);
  return 0;
}
