/* audit — canonical encoding and hash chain of audit entries. */
#include "audit.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canon.h"
#include "merkle.h"

static void s_canon(canon_t *c, const audit_entry_t *e) {
  canon_str(c, AUDIT_TAG);
  canon_u64(c, e->seq);
  canon_bytes(c, e->prev_hash, AUDIT_HASH_BYTES);
  canon_bytes(c, e->trace_id, sizeof e->trace_id);
  canon_bytes(c, e->operation_id, sizeof e->operation_id);
  canon_bytes(c, e->parent_operation_id, sizeof e->parent_operation_id);
  canon_str(c, e->name);
  canon_u64(c, (uint64_t)e->status);
  canon_u64(c, (uint64_t)e->start_ms);
  canon_u64(c, (uint64_t)e->end_ms);
  canon_str(c, e->actor);
  canon_str(c, e->counterparty);
  canon_bytes(c, e->subject, sizeof e->subject);
  canon_u64(c, (uint64_t)e->kind);
  canon_bytes(c, e->consent_id, sizeof e->consent_id);
  canon_u64(c, (uint64_t)e->purpose);
  canon_bytes(c, e->foreign_trace_id, sizeof e->foreign_trace_id);
  canon_bytes(c, e->foreign_operation_id, sizeof e->foreign_operation_id);
  canon_str(c, e->detail);
}

void audit_entry_local(audit_entry_t *e, const char *name, const char *actor,
                       const char *detail) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->status = AUDIT_STATUS_OK;
  randombytes_buf(e->trace_id, sizeof e->trace_id);
  randombytes_buf(e->operation_id, sizeof e->operation_id);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  e->start_ms = e->end_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  snprintf(e->actor, sizeof e->actor, "%s", actor);
  snprintf(e->detail, sizeof e->detail, "%s", detail);
}

void audit_entry_hash(const audit_entry_t *e, uint8_t out[AUDIT_HASH_BYTES]) {
  /* Entries have bounded fields: a stack buffer always suffices, but the
   * canon builder is shared code, so use it and fail loudly on OOM. */
  canon_t c;
  canon_init(&c);
  s_canon(&c, e);
  if (c.oom)
    memset(out, 0xff, AUDIT_HASH_BYTES); /* never matches a real chain */
  else
    crypto_generichash(out, AUDIT_HASH_BYTES, c.data, c.len, NULL, 0);
  canon_free(&c);
}

uint8_t *audit_entry_string(const audit_entry_t *e, size_t *len) {
  canon_t c;
  canon_init(&c);
  s_canon(&c, e);
  uint8_t *out = c.oom ? NULL : malloc(c.len ? c.len : 1);
  if (out) {
    memcpy(out, c.data, c.len);
    *len = c.len;
  }
  canon_free(&c);
  return out;
}

void audit_leaf_hash(const audit_entry_t *e, uint8_t out[32]) {
  canon_t c;
  canon_init(&c);
  s_canon(&c, e);
  if (c.oom)
    memset(out, 0xff, 32); /* never matches a real tree */
  else
    merkle_leaf_hash(c.data, c.len, out);
  canon_free(&c);
}

void audit_chain(audit_entry_t *e, const uint8_t prev[AUDIT_HASH_BYTES]) {
  memcpy(e->prev_hash, prev, AUDIT_HASH_BYTES);
  audit_entry_hash(e, e->hash);
}

int audit_check(const audit_entry_t *e, const uint8_t prev[AUDIT_HASH_BYTES]) {
  uint8_t h[AUDIT_HASH_BYTES];
  if (e->damaged || sodium_memcmp(e->prev_hash, prev, AUDIT_HASH_BYTES) != 0)
    return -1;
  audit_entry_hash(e, h);
  return sodium_memcmp(h, e->hash, AUDIT_HASH_BYTES) == 0 ? 0 : -1;
}

size_t audit_checkpoint_bytes(uint64_t seq, const uint8_t head[AUDIT_HASH_BYTES],
                              int64_t at_ms, uint8_t *out, size_t cap) {
  canon_t c;
  canon_init(&c);
  canon_str(&c, AUDIT_CHECKPOINT_TAG);
  canon_u64(&c, seq);
  canon_bytes(&c, head, AUDIT_HASH_BYTES);
  canon_u64(&c, (uint64_t)at_ms);
  size_t len = c.oom ? 0 : c.len;
  if (len && len <= cap)
    memcpy(out, c.data, len);
  canon_free(&c);
  return len;
}

const char *audit_purpose_activity(int purpose) {
  const char *name = canon_purpose_name(purpose);
  return name ? name : "";
}
