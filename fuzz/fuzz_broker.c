/* fuzz_broker — every request handler of ketend on a real SQLite store:
 * a real broker_t (broker_new, its ROUTER bound to an ipc:// path nobody
 * connects to) over a store with root-signed entries of a participant of
 * every role (fuzz_world.h), fed with frames through broker_dispatch()
 * as its event loop does, each batch ended with broker_batch_end(b, 0)
 * (committed, the outbox checked and discarded).
 *
 * Input: records. A record's first byte picks the sender and what runs
 * after its frame:
 *   bits 0-3  sender: 0..6 a registered participant (its transport key as
 *             the ZAP User-Id, fuzz_participants order), 7 no User-Id,
 *             8 a key not in the registry, 9+ a User-Id that is no key
 *   bits 4-5  the connection (routing id) it comes on, 0..3
 *   bit 6     after the frame, run the sweeps (expiry, consents that
 *             start, rate-limit summaries) as the loop does every second
 *   bit 7     another record follows: a 2-byte little-endian length, that
 *             many bytes of frame, then the next record; without bit 7 the
 *             rest of the input is the frame
 * So a single-frame input is "sender byte, frame"; the seed corpus holds
 * whole sessions (grant, prepare, put, subscribe, ack, fetch, ...).
 * After every frame the delivery pump runs if a session has work.
 *
 * Every input starts on a fresh copy of the same store and a new broker,
 * so that a crash reproduces from its input alone. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "broker.h"
#include "broker_internal.h"
#include "clock.h"
#include "config.h"
#include "fuzz_world.h"
#include "log.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_dir[256], s_pristine[320], s_store[320];
static config_t s_cfg;
static char s_user[FUZZ_N_PARTICIPANTS + 1][ZAP_USER_ID_HEX + 1];

static void s_cleanup(void) { fuzz_rmtree(s_dir); }

static void s_die(const char *what, const char *err) {
  fprintf(stderr, "fuzz_broker: %s: %s\n", what, err);
  abort();
}

static void s_init(void) {
  static int done;
  if (done)
    return;
  done = 1;
  char err[512];
  log_set_level(LOG_ERROR);
  if (fuzz_tempdir(s_dir, sizeof s_dir) != 0)
    s_die("temp dir", "cannot create");
  atexit(s_cleanup);
  if (fuzz_world_create(s_dir, err, sizeof err) != 0)
    s_die("world", err);
  snprintf(s_store, sizeof s_store, "%s/keten.db", s_dir);
  snprintf(s_pristine, sizeof s_pristine, "%s/pristine.db", s_dir);
  if (rename(s_store, s_pristine) != 0)
    s_die("pristine store", s_store);
  config_defaults(&s_cfg);
  snprintf(s_cfg.endpoints[0], sizeof s_cfg.endpoints[0], "ipc://%s/k.sock",
           s_dir);
  s_cfg.n_endpoints = 1;
  snprintf(s_cfg.key_file, sizeof s_cfg.key_file, "%s/broker.key", s_dir);
  snprintf(s_cfg.root_key, sizeof s_cfg.root_key, "%s/root.pub", s_dir);
  snprintf(s_cfg.store, sizeof s_cfg.store, "%s", s_store);
  s_cfg.log_level = LOG_ERROR;
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++) {
    keten_keys_t k;
    fuzz_keys(fuzz_participants[i].id, &k);
    sodium_bin2hex(s_user[i], sizeof s_user[i], k.transport_pk, 32);
  }
  keten_keys_t stranger;
  fuzz_keys("stranger", &stranger);
  sodium_bin2hex(s_user[FUZZ_N_PARTICIPANTS], sizeof s_user[0],
                 stranger.transport_pk, 32);
}

static broker_t *s_fresh_broker(void) {
  char err[512], path[400];
  snprintf(path, sizeof path, "%s-wal", s_store);
  unlink(path);
  snprintf(path, sizeof path, "%s-shm", s_store);
  unlink(path);
  if (fuzz_copy_file(s_pristine, s_store) != 0)
    s_die("copy store", s_store);
  broker_t *b = broker_new(&s_cfg, err, sizeof err);
  if (!b)
    s_die("broker_new", err);
  return b;
}

/* Every frame the broker queued must decode: it is what its peers get.
 * With KETEN_FUZZ_VERBOSE set, each is printed (body, error code and
 * reason): how far a seed gets. */
static void s_check_outbox(broker_t *b) {
  static int verbose = -1;
  if (verbose < 0)
    verbose = getenv("KETEN_FUZZ_VERBOSE") != NULL;
  for (size_t i = 0; i < b->n_out; i++) {
    Keten__Envelope *env = envelope_decode(b->outbox[i].frame,
                                           b->outbox[i].len, SIZE_MAX, NULL);
    if (!env) {
      fprintf(stderr, "fuzz_broker: the broker queued an undecodable frame "
                      "of %zu bytes\n", b->outbox[i].len);
      abort();
    }
    if (verbose) {
      const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
          &keten__envelope__descriptor, (unsigned)env->body_case);
      if (env->body_case == KETEN__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "fuzz_broker:   -> error %s: %s\n",
                envelope_error_name(env->error->code), env->error->reason);
      else
        fprintf(stderr, "fuzz_broker:   -> %s\n", f ? f->name : "?");
    }
    envelope_free(env);
  }
}

static void s_sweeps(broker_t *b) {
  if (broker_tx(b) != 0 || store_savepoint(b->store) != 0)
    return;
  int64_t wall = clock_wall_ms();
  if (consent_sweep_expired(b, wall) == 0 &&
      consent_sweep_started(b, wall) == 0 &&
      prepare_limit_flush(b, clock_mono_ms(), 1) == 0)
    store_savepoint_release(b->store);
  else
    store_savepoint_rollback(b->store);
}

static void s_pump(broker_t *b) {
  int64_t mono = clock_mono_ms();
  if (!delivery_due(b, mono) || broker_tx(b) != 0 ||
      store_savepoint(b->store) != 0)
    return;
  if (delivery_pump(b, mono) == 0) {
    store_savepoint_release(b->store);
  } else {
    store_savepoint_rollback(b->store);
    delivery_rewind_all(b);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_init();
  broker_t *b = s_fresh_broker();
  size_t off = 0;
  for (int records = 0; off < size && records < 256; records++) {
    uint8_t head = data[off++];
    size_t len;
    if (head & 0x80) {
      if (size - off < 2)
        break;
      size_t want = (size_t)data[off] | (size_t)data[off + 1] << 8;
      off += 2;
      len = size - off < want ? size - off : want;
    } else {
      len = size - off;
    }
    unsigned who = head & 0x0f;
    /* 0..6 participants, 7 none, 8 the stranger, 9+ garbage */
    const char *user = who < FUZZ_N_PARTICIPANTS        ? s_user[who]
                       : who == FUZZ_N_PARTICIPANTS     ? NULL
                       : who == FUZZ_N_PARTICIPANTS + 1 ? s_user[FUZZ_N_PARTICIPANTS]
                                                        : "not-a-user-id";
    uint8_t rid[5] = {0, 'f', 'z', (uint8_t)((head >> 4) & 3), (uint8_t)who};
    /* an exact copy: a read past the frame is caught */
    uint8_t *frame = malloc(len ? len : 1);
    if (!frame)
      abort();
    memcpy(frame, data + off, len);
    off += len;
    broker_dispatch(b, rid, sizeof rid, user, frame, len);
    free(frame);
    if (head & 0x40)
      s_sweeps(b);
    s_pump(b);
    s_check_outbox(b);
    broker_batch_end(b, 0);
  }
  broker_destroy(&b);
  return 0;
}
