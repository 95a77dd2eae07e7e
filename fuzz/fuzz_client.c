/* fuzz_client — libketen's handling of what a broker sends: one
 * keten_client_t per participant of the fuzz world (fuzz_world.h),
 * connected lazily to an ipc:// endpoint nobody listens on, fed with
 * frames through client_frame_in() as keten_client_poll() does with each
 * frame it receives: DELIVER frames (sections to open, delete and
 * revocation notices, TVS events, rewrap requests the library serves),
 * SUBSCRIPTION_ENDED, late replies and errors. The handlers read every
 * byte they are given, so a use after free or a read past a buffer shows.
 *
 * Input: records. A record's first byte:
 *   bits 0-2  which client receives it (fuzz_participants order, mod 7)
 *   bit 6     the application refuses what this frame delivers (its
 *             handlers return non-zero: nothing at or after it is acked)
 *   bit 7     another record follows: a 2-byte little-endian length, that
 *             many bytes of frame, then the next record; without bit 7
 *             the rest of the input is the frame.
 * Each input starts with the clients' delivery state cleared (what was
 * handed over, what is held, an ended subscription and its back-off), so
 * that a crash reproduces from its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h" /* client_frame_in */
#include "fuzz_world.h"
#include "keten.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_dir[256];
static keten_client_t *s_clients[FUZZ_N_PARTICIPANTS];
static int s_refuse;
static volatile uint64_t s_sink;

static void s_touch(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    s_sink += b[i];
}

static void s_touch_str(const char *s, size_t cap) {
  s_touch(s, strnlen(s, cap));
}

static int s_on_delivery(const keten_section_t *sec, uint64_t seq,
                         keten_err_t status, void *arg) {
  (void)arg;
  s_sink += seq + (uint64_t)status;
  if (sec) {
    s_touch(&sec->header, sizeof sec->header);
    if (sec->json) {
      s_touch(sec->json, sec->json_len);
      s_sink += (uint64_t)(sec->json[sec->json_len] == '\0');
    }
  }
  return s_refuse;
}

static int s_on_notice(const keten_notice_t *n, uint64_t seq,
                       keten_err_t status, void *arg) {
  (void)arg;
  s_sink += seq + (uint64_t)status;
  if (n) {
    s_touch(n->subject, sizeof n->subject);
    s_touch_str(n->revoked_by, sizeof n->revoked_by);
    s_touch_str(n->reason, sizeof n->reason);
    s_touch_str(n->evidence_ref, sizeof n->evidence_ref);
    for (size_t i = 0; i < n->n_items && i < KETEN_NOTICE_MAX_ITEMS; i++)
      s_touch_str(n->items[i].author, sizeof n->items[i].author);
    if (n->n_items > KETEN_NOTICE_MAX_ITEMS)
      abort(); /* more items than the struct holds */
  }
  return s_refuse;
}

static int s_on_tvs(const keten_tvs_event_t *ev, uint64_t seq,
                    keten_err_t status, void *arg) {
  (void)arg;
  s_sink += seq + (uint64_t)status;
  if (ev) {
    s_touch(ev, sizeof *ev);
    s_touch_str(ev->gemeente, sizeof ev->gemeente);
    s_touch_str(ev->from_gemeente, sizeof ev->from_gemeente);
    s_touch_str(ev->published_by, sizeof ev->published_by);
  }
  return s_refuse;
}

static void s_on_rewrap(const keten_rewrap_t *r, uint64_t seq, void *arg) {
  (void)arg;
  s_sink += seq;
  if (r) {
    s_touch(r->subject, sizeof r->subject);
    s_touch_str(r->recipient, sizeof r->recipient);
    s_touch_str(r->refusal, sizeof r->refusal);
  }
}

static void s_cleanup(void) {
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++)
    keten_client_destroy(&s_clients[i]);
  fuzz_rmtree(s_dir);
}

static char s_endpoint[320];

/* (Re)creates client i: what it learnt from earlier frames (deliveries
 * handed over, a held seq, an ended subscription) is gone. */
static void s_new_client(int i) {
  char err[256];
  keten_keys_t k, broker;
  keten_root_key_t root;
  fuzz_keys(fuzz_participants[i].id, &k);
  fuzz_keys("broker", &broker);
  fuzz_root(&root);
  keten_client_config_t cfg = {.endpoint = s_endpoint,
                               .keys = &k,
                               .broker_key = broker.transport_pk,
                               .root_key = root.public_key,
                               .broker_signing_key = broker.signing_pk,
                               .timeout_ms = 10,
                               .retries = -1};
  keten_client_destroy(&s_clients[i]);
  s_clients[i] = keten_client_new(&cfg, err, sizeof err);
  if (!s_clients[i]) {
    fprintf(stderr, "fuzz_client: keten_client_new: %s\n", err);
    abort();
  }
  keten_client_on_notice(s_clients[i], s_on_notice, NULL);
  keten_client_on_tvs_event(s_clients[i], s_on_tvs, NULL);
  keten_client_on_rewrap(s_clients[i], s_on_rewrap, NULL);
}

static void s_init(void) {
  static int done;
  if (done)
    return;
  done = 1;
  if (fuzz_tempdir(s_dir, sizeof s_dir) != 0)
    abort();
  atexit(s_cleanup);
  snprintf(s_endpoint, sizeof s_endpoint, "ipc://%s/nobody.sock", s_dir);
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++)
    s_new_client(i);
}

/* What a frame's handling left behind that the next input must not see:
 * what was handed over, what is held and an ended subscription (with its
 * back-off) are cleared here, so that a crash reproduces from its input
 * alone without a new client (and ZeroMQ context) per input. */
static void s_reset(int i) {
  keten_client_t *c = s_clients[i];
  c->hold_from = 0;
  c->n_seen = 0;
  c->seen_next = 0;
  memset(c->seen, 0, sizeof c->seen);
  c->error[0] = '\0';
  c->remote_code = 0;
  c->ended = 0;
  c->resubscribe = 0;
  c->resubscribe_at_ms = 0;
  c->backoff_ms = 0;
  c->stalls = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_init();
  for (int i = 0; i < FUZZ_N_PARTICIPANTS; i++)
    s_reset(i);
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
    int which = (head & 0x07) % FUZZ_N_PARTICIPANTS;
    keten_client_t *c = s_clients[which];
    s_refuse = (head & 0x40) != 0;
    uint8_t *frame = malloc(len ? len : 1); /* exact: overreads show */
    if (!frame)
      abort();
    memcpy(frame, data + off, len);
    off += len;
    size_t handled = 0;
    client_frame_in(c, frame, len, s_on_delivery, NULL, &handled);
    free(frame);
    s_touch_str(keten_client_error(c), 320);
    s_sink += handled;
  }
  return 0;
}
